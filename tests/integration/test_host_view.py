#!/usr/bin/env python3
"""The host topic and host.get against the real machine: what the daemon
samples of this host (CPUs, memory, disks, network, processes) compared
with what Python reads of the same things, and who gets the samples."""
import os
import re
import socket
import threading
import time
import urllib.request

from harness import DaemonTest, assert_promtool_clean, busy_child, main, wait_until

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
checks: []
'''

WITH_HTTP = CONFIG.replace('daemon:\n', 'daemon:\n  http: 127.0.0.1:0\n')


def meminfo(key):
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
    return None


def host_notice(rpc, timeout=5):
    """The next host sample pushed on rpc's connection (other notifications
    are dropped)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = rpc.recv()
        if msg[0] == 2 and msg[1] == 'host':
            return msg[2][0]
    raise AssertionError('no host sample within %ss' % timeout)


class HostView(DaemonTest):

    def start(self):
        d = self.daemon(CONFIG)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        return d

    def test_sample_matches_the_host(self):
        d = self.start()
        rpc = d.rpc()
        h = rpc.call('host.get')
        with open('/proc/stat') as f:
            cpus = sum(1 for line in f if line[:3] == 'cpu' and line[3].isdigit())
        self.assertEqual(h['cpu_count'], cpus)
        self.assertEqual(len(h['cpus']), min(cpus, 256))
        self.assertEqual(h['cpus'][0]['name'], 'cpu0')
        for c in h['cpus']:
            self.assertTrue(0 <= c['used_ppm'] <= 1000000, c)
        self.assertTrue(0 <= h['cpu_used_ppm'] <= 1000000, h)
        self.assertGreater(h['interval_ms'], 0)
        self.assertAlmostEqual(h['mem_total_bytes'], meminfo('MemTotal'), delta=4096)
        self.assertEqual(h['mem_used_bytes'], h['mem_total_bytes'] - h['mem_available_bytes'])
        self.assertAlmostEqual(h['swap_total_bytes'], meminfo('SwapTotal') or 0, delta=4096)
        load = os.getloadavg()
        self.assertAlmostEqual(h['load15_milli'] / 1000, load[2], delta=0.5)
        self.assertIn('lo', [n['name'] for n in h['nets']])
        st = os.statvfs('/')
        root = [x for x in h['disks'] if x['mount'] == '/']
        if root:
            self.assertAlmostEqual(root[0]['size_bytes'], st.f_blocks * st.f_frsize,
                                   delta=st.f_frsize)
        for x in h['disks']:
            self.assertNotIn(x['fstype'], ('proc', 'sysfs', 'cgroup2', 'devpts'))
        self.assertGreater(h['procs'], 1)
        pids = [p['pid'] for p in h['top_rss']]
        self.assertLessEqual(len(pids), 10)
        rss = [p['rss_bytes'] for p in h['top_rss']]
        self.assertEqual(rss, sorted(rss, reverse=True))
        self.assertGreater(h['sample_cpu_us'], 0)
        self.assertEqual(h.get('unavailable', []), [])
        self.assertEqual(h['hostname'], socket.gethostname())

    def test_a_busy_process_tops_the_cpu_list(self):
        d = self.start()
        pid = busy_child(self)
        rpc = d.rpc()
        rpc.call('events.subscribe', {'topics': ['host']})

        def busy():
            h = host_notice(rpc)
            top = [p for p in h['top_cpu'] if p['pid'] == pid]
            # A busy loop on a shared machine: a fifth of a core at least.
            return top and top[0]['cpu_ppm'] > 200000 and top[0]
        p = wait_until(busy, timeout=10, what='the busy child in top_cpu')
        self.assertIn('python', p['command'])

    def test_network_rates(self):
        d = self.start()
        rpc = d.rpc()
        rpc.call('events.subscribe', {'topics': ['host']})
        srv = socket.socket()
        srv.bind(('127.0.0.1', 0))
        srv.listen()
        self.addCleanup(srv.close)
        done = threading.Event()

        def sink():
            c, _ = srv.accept()
            with c:
                while c.recv(1 << 20):
                    pass
        threading.Thread(target=sink, daemon=True).start()
        cl = socket.create_connection(srv.getsockname())

        def blast():
            chunk = b'x' * (1 << 16)
            end = time.monotonic() + 6
            while time.monotonic() < end and not done.is_set():
                cl.sendall(chunk)
                time.sleep(0.001)
        threading.Thread(target=blast, daemon=True).start()

        def fast():
            h = host_notice(rpc)
            lo = [n for n in h['nets'] if n['name'] == 'lo']
            return lo and lo[0]['rx_bytes_per_s'] > 1000000
        wait_until(fast, timeout=8, what='lo over 1 MB/s')
        done.set()
        cl.close()

    def test_only_who_asks_gets_samples(self):
        d = self.start()
        everything = d.rpc()
        # No topics is every topic of the event log, as before: not host.
        got = everything.call('events.subscribe', {'topics': []})
        self.assertNotIn('host', got['topics'])
        host = d.rpc()
        got = host.call('events.subscribe', {'topics': ['host']})
        self.assertEqual(got['topics'], ['host'])
        a = host_notice(host)
        b = host_notice(host)
        self.assertGreater(b['ts_ms'], a['ts_ms'])
        self.assertAlmostEqual(b['interval_ms'], 1000, delta=400)
        everything.sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            while True:
                msg = everything.recv()
                self.assertNotEqual(msg[1], 'host')
        # Unsubscribed, the samples stop.
        host.call('events.unsubscribe', {'topics': ['host']})
        host.sock.settimeout(2.5)
        with self.assertRaises(socket.timeout):
            while True:
                msg = host.recv()
                self.assertNotEqual(msg[1], 'host')

    def test_host_get_while_subscribed_and_after(self):
        d = self.start()
        sub = d.rpc()
        sub.call('events.subscribe', {'topics': ['host']})
        host_notice(sub)
        t0 = time.monotonic()
        h = d.rpc().call('host.get')
        self.assertLess(time.monotonic() - t0, 0.5)     # the last sample, at once
        self.assertGreater(h['cpu_count'], 0)
        sub.close()
        time.sleep(2)
        h = d.rpc().call('host.get')
        self.assertGreater(h['mem_total_bytes'], 0)


    def test_host_metrics(self):
        """The shipwatch_host_* families on /metrics, against what Python
        reads, and promtool clean."""
        d = self.daemon(WITH_HTTP)
        d.start()
        with urllib.request.urlopen(d.http_base() + '/metrics', timeout=10) as r:
            body = r.read().decode()

        def value(name, labels=''):
            m = re.search(r'^%s%s ([0-9.e+]+)$' % (re.escape(name), re.escape(labels)), body,
                          re.M)
            self.assertIsNotNone(m, '%s%s not in /metrics' % (name, labels))
            return float(m.group(1))
        self.assertEqual(value('shipwatch_host_cpus'), os.cpu_count())
        self.assertAlmostEqual(value('shipwatch_host_memory_total_bytes'), meminfo('MemTotal'),
                               delta=4096)
        self.assertAlmostEqual(value('shipwatch_host_swap_total_bytes'),
                               meminfo('SwapTotal') or 0, delta=4096)
        self.assertAlmostEqual(value('shipwatch_host_load15'), os.getloadavg()[2], delta=0.5)
        idle = value('shipwatch_host_cpu_seconds_total', '{mode="idle"}')
        with open('/proc/stat') as f:
            ticks = int(f.readline().split()[4])
        self.assertAlmostEqual(idle, ticks / os.sysconf('SC_CLK_TCK'), delta=5 * os.cpu_count())
        self.assertGreater(value('shipwatch_host_network_receive_bytes_total',
                                 '{device="lo"}'), 0)
        st = os.statvfs('/')
        if 'mountpoint="/"' in body:
            size = re.search(r'^shipwatch_host_filesystem_size_bytes\{mountpoint="/",[^}]*\} '
                             r'([0-9.e+]+)$', body, re.M)
            self.assertAlmostEqual(float(size.group(1)), st.f_blocks * st.f_frsize,
                                   delta=st.f_frsize)
        self.assertNotIn('fstype="proc"', body)
        assert_promtool_clean(self, body)


if __name__ == '__main__':
    main()
