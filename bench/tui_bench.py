#!/usr/bin/python3
"""The dashboard's cost: CPU and bytes written to its terminal.

  tui_bench.py SHIPWATCH SOCKET SECONDS [COLS ROWS]

Runs the dashboard on a pseudo-terminal of COLSxROWS (default 200x50), reads
everything it writes for SECONDS after a settling second, and prints one
line: bytes a second written, CPU a core, and its peak RSS."""
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
    os.write(fd, b'q')
    drain(time.monotonic() + 2)
    _, status = os.waitpid(pid, 0)
    print('seconds=%.0f bytes=%d bytes_per_s=%.0f cpu=%.2f%% hwm_kib=%d exit=%d' %
          (elapsed, written, written / elapsed, (c1 - c0) / elapsed * 100, rss,
           os.waitstatus_to_exitcode(status)))


if __name__ == '__main__':
    main()
