#!/usr/bin/env python3
"""The host view (key 5) as an operator sees it at 80x24, without colour
and in ASCII: real numbers of this machine on screen, refreshed."""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dashboard import Pane  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))
from harness import SHIPWATCH, DaemonTest, busy_child, main, wait_until  # noqa: E402

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
checks: []
'''


def human(n):
    """Bytes as the view writes them: 512B, 3.2K, 17.0G."""
    units = 'BKMGTP'
    u = 0
    while n >= 1024 and u + 1 < len(units):
        n /= 1024
        u += 1
    return '%.0f%s' % (n, units[u]) if u == 0 else '%.1f%s' % (n, units[u])


class HostView(DaemonTest):

    def setUp(self):
        super().setUp()
        if shutil.which('tmux') is None:
            self.skipTest('tmux is not installed')

    def test_host_view_at_80x24_plain(self):
        d = self.daemon(CONFIG)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        # A busy child of this test's python: it heads the CPU list.
        pid = busy_child(self)
        p = Pane('%s --socket %s' % (SHIPWATCH, d.socket), 80, 24,
                 {'LANG': 'C', 'LC_ALL': 'C', 'NO_COLOR': '1', 'TERM': 'screen'})
        self._stoppers.append(lambda: p.kill() and None)
        p.wait(lambda s: '1 Overview' in s, 'the dashboard')
        p.keys('5')
        def top(s):
            """The busy child's row of the right half, or None."""
            for line in s.splitlines():
                m = re.match(r'\s*%d\s+([0-9.]+)\s' % pid, line[36:])
                if m:
                    return m
            return None
        s = p.wait(lambda s: 'TOP CPU' in s and top(s), 'the host view with the busy child',
                   timeout=15)
        lines = s.splitlines()
        self.assertEqual(len(lines), 24, s)
        self.assertTrue(all(len(line) <= 80 for line in lines), s)
        self.assertTrue(all(ord(ch) < 128 for ch in s), s)
        self.assertIn('5 Host', lines[1])
        # One cell a core: as many as this machine has (up to four rows).
        cores = re.findall(r'\bcpu(\d+)\s+\[', s)
        self.assertEqual(len(cores), min(os.cpu_count(), 12), s)
        self.assertIn('%d CPUs' % os.cpu_count(), s)
        # Memory: used of total, total as /proc/meminfo says it.
        with open('/proc/meminfo') as f:
            total = next(int(line.split()[1]) * 1024 for line in f
                         if line.startswith('MemTotal:'))
        m = re.search(r'^Mem \[[ |]+\] (\S+) of (\S+)', s, re.M)
        self.assertIsNotNone(m, s)
        self.assertEqual(m.group(2), human(total))
        self.assertIn('MOUNT', s)
        self.assertIn('IFACE', s)
        self.assertRegex(s, r'(?m)^lo\s')
        self.assertIn('TOP MEMORY', s)
        self.assertGreater(float(top(s).group(1)), 0, s)
        # Refreshed: the load line moves on within seconds (the sample's
        # time is not on screen, but the busy child's figures change).
        first = s
        p.wait(lambda s: s != first, 'a new sample', timeout=5)
        # Away from the view the samples stop; back, they come again.
        p.keys('1')
        p.wait(lambda s: 'TOP CPU' not in s, 'the overview')
        p.keys('5')
        p.wait(lambda s: 'TOP CPU' in s, 'the host view again')
        p.keys('q')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')
        self.assertEqual(p.exit_code(), 0)

    def test_samples_stop_with_the_view(self):
        """The daemon samples its host only while the view is on screen."""
        d = self.daemon(CONFIG)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = Pane('%s --socket %s' % (SHIPWATCH, d.socket), 80, 24,
                 {'LANG': 'C.UTF-8', 'TERM': 'screen'})
        self._stoppers.append(lambda: p.kill() and None)
        p.wait(lambda s: '1 Overview' in s, 'the dashboard')
        rpc = d.rpc()
        self.assertFalse(rpc.call('status.get')['host_sampling'])
        p.keys('5')
        p.wait(lambda s: 'TOP CPU' in s, 'the host view')
        self.assertTrue(rpc.call('status.get')['host_sampling'])
        p.keys('4')
        p.wait(lambda s: 'TOP CPU' not in s, 'the events view')
        wait_until(lambda: not rpc.call('status.get')['host_sampling'],
                   what='the sampler to stop')
        # A dashboard that goes away stops it too.
        p.keys('5')
        wait_until(lambda: rpc.call('status.get')['host_sampling'], what='sampling again')
        p.keys('q')
        wait_until(lambda: not rpc.call('status.get')['host_sampling'],
                   what='the sampler to stop with the dashboard')

if __name__ == '__main__':
    main()
