#!/usr/bin/python3
"""The dashboard's cost: CPU and bytes written to its terminal.

  tui_bench.py SHIPWATCH SOCKET SECONDS [COLS ROWS [FILTER]]

Runs the dashboard on a pseudo-terminal of COLSxROWS (default 200x50), reads
everything it writes for SECONDS after a settling second, and prints one
line: bytes a second written, CPU a core, and its peak RSS. With FILTER,
then types '/' and FILTER a key at a time and reports how long each key
took to reach the screen: from the key written to the last byte of the
output it caused (its burst ends at 30 ms without a byte; a timer redraw
caught in it counts against the key, never for it)."""
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def hwm_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def main():
    shipwatch, sock, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    cols, rows = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (200, 50)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM='xterm-256color', LANG='C.UTF-8')
        os.execv(shipwatch, [shipwatch, '--socket', sock])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)

    def drain(until):
        n = 0
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return n
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    n += len(os.read(fd, 65536))
                except OSError:
                    return n

    drain(time.monotonic() + 2)          # connect, first frames
    c0 = cpu_seconds(pid)
    t0 = time.monotonic()
    written = drain(t0 + secs)
    elapsed = time.monotonic() - t0
    c1 = cpu_seconds(pid)
    rss = hwm_kib(pid)
    keys_ms = []
    if len(sys.argv) > 6:
        for ch in '/' + sys.argv[6]:
            drain(time.monotonic() + 0.3)
            k0 = time.monotonic()
            os.write(fd, ch.encode())
            last = None
            while True:
                r, _, _ = select.select([fd], [], [], 0.03 if last else 5)
                if not r:
                    break
                os.read(fd, 65536)
                last = time.monotonic()
            keys_ms.append((last - k0) * 1000 if last else float('inf'))
        os.write(fd, b'\x1b')
    os.write(fd, b'q')
    drain(time.monotonic() + 2)
    _, status = os.waitpid(pid, 0)
    print('seconds=%.0f bytes=%d bytes_per_s=%.0f cpu=%.2f%% hwm_kib=%d exit=%d' %
          (elapsed, written, written / elapsed, (c1 - c0) / elapsed * 100, rss,
           os.waitstatus_to_exitcode(status)))
    if keys_ms:
        print('filter keys: %s ms; max %.1f ms' %
              (' '.join('%.1f' % k for k in keys_ms), max(keys_ms)))


if __name__ == '__main__':
    main()
