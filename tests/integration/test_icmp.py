#!/usr/bin/env python3
"""icmp checks in the real daemon, in a network namespace of the test's own
(unshare -n), so nothing it sets reaches the host: its loopback answers
127.0.0.1 and ::1; a veth pair whose far end has no address, with a
permanent neighbour entry to a MAC address nobody holds, makes 192.0.2.1
and 2001:db8::1 targets that take every echo and never answer (nothing is
routed out, no error comes back); and the namespace's own sysctl
net.ipv4.ping_group_range picks the socket. Each kind of socket is
exercised: raw (root, the sysctl at its kernel default "1 0"), datagram
(CAP_NET_RAW dropped with setpriv, the sysctl "0 2147483647"), and neither
(CAP_NET_RAW dropped, "1 0"): unknown, with the reason."""
import os
import re
import shutil
import subprocess
import sys

from harness import DOWN, SLOW, UNKNOWN, UP, DaemonTest, config_head, main, wait_until

NETNS_MARK = 'SHIPWATCH_TEST_ICMP_NETNS'
RANGE = '/proc/sys/net/ipv4/ping_group_range'
NOBODY_MAC = '02:00:00:00:00:01'
DROP_RAW = ['setpriv', '--inh-caps=-net_raw', '--bounding-set=-net_raw']

HEAD = config_head(interval='1s', timeout='2s')


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def set_up_namespace():
    """Loopback up, and the silent targets behind a veth pair."""
    sh('ip', 'link', 'set', 'lo', 'up')
    sh('ip', 'link', 'add', 'sw0', 'type', 'veth', 'peer', 'name', 'sw1')
    sh('ip', 'link', 'set', 'sw1', 'up')
    sh('ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'sw0')
    sh('ip', '-6', 'addr', 'add', '2001:db8::2/64', 'dev', 'sw0', 'nodad')
    sh('ip', 'link', 'set', 'sw0', 'up')
    sh('ip', 'neigh', 'add', '192.0.2.1', 'lladdr', NOBODY_MAC, 'dev', 'sw0', 'nud', 'permanent')
    sh('ip', '-6', 'neigh', 'add', '2001:db8::1', 'lladdr', NOBODY_MAC, 'dev', 'sw0', 'nud',
       'permanent')


def reexec_in_namespace():
    """Run this file again in a network namespace of its own; the reason
    when that cannot be, None when this is already it."""
    if os.environ.get(NETNS_MARK):
        return None
    for tool in ('unshare', 'ip', 'setpriv'):
        if shutil.which(tool) is None:
            return '%s is not installed (util-linux, iproute2)' % tool
    if os.geteuid() != 0:
        return 'needs root: a network namespace, a veth pair and the sysctl'
    probe = subprocess.run(['unshare', '--net', 'true'], capture_output=True, text=True)
    if probe.returncode != 0:
        return 'unshare --net is refused here: %s' % probe.stderr.strip()
    env = dict(os.environ, **{NETNS_MARK: '1'})
    rc = subprocess.run(['unshare', '--net', sys.executable, os.path.abspath(__file__),
                         *sys.argv[1:]], env=env).returncode
    sys.exit(rc)


SKIP_REASON = None


class IcmpChecks(DaemonTest):

    def setUp(self):
        super().setUp()
        if SKIP_REASON:
            if os.environ.get('CI'):
                self.fail(SKIP_REASON)
            self.skipTest(SKIP_REASON)
        with open(RANGE) as f:
            saved = f.read().strip()
        self.addCleanup(self.set_range, saved)

    def set_range(self, value):
        with open(RANGE, 'w') as f:
            f.write(value)

    def rows(self, d, check):
        rows = d.query(
            'SELECT r.outcome, r.error, r.failed_condition, r.message, r.perfdata '
            'FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = ? ORDER BY r.ts',
            (check,))
        return [dict(zip(('outcome', 'error', 'failed', 'message', 'perfdata'), r)) for r in rows]

    def last(self, d, check, n=1):
        """The last of the check's first n results."""
        return wait_until(lambda: len(self.rows(d, check)) >= n and self.rows(d, check)[-1],
                          timeout=15, what='%d results of %s' % (n, check))

    def assert_up(self, d, name, count=3):
        r = self.last(d, name)
        self.assertEqual(r['outcome'], UP, '%s: %r' % (name, r))
        self.assertRegex(r['message'], r'^%d/%d replies, rtt min/avg/max [0-9.]+/[0-9.]+/[0-9.]+ '
                         r'ms, 0%% loss$' % (count, count))
        self.assertRegex(r['perfdata'], r"^'response_time'=[0-9.]+ms;;;0 "
                         r"'packet_loss'=0%;;;0;100$")

    def assert_silent(self, d, name, host, timeout):
        r = self.last(d, name)
        self.assertEqual(r['outcome'], DOWN, '%s: %r' % (name, r))
        self.assertEqual(r['error'], 'icmp %s: no reply to 3 echoes in %s' % (host, timeout))
        self.assertEqual(r['failed'], '[CONNECTED] (false) == true')
        self.assertEqual(r['perfdata'], "'packet_loss'=100%;;;0;100")

    CHECKS = '''
  - {name: v4, type: icmp, host: 127.0.0.1}
  - {name: v6, type: icmp, host: "::1", count: 5, payload: "hello, icmp"}
  - {name: by-name, type: icmp, host: localhost}
  - {name: loss-ok, type: icmp, host: 127.0.0.1, count: 4,
     conditions: ["[PACKET_LOSS] == 0", "[RESPONSE_TIME] < %(rt)d", "[CONNECTED] == true",
                  "[IP] == 127.0.0.1"]}
  - {name: silent, type: icmp, host: 192.0.2.1, timeout: 700ms}
  - {name: silent6, type: icmp, host: "2001:db8::1", timeout: 700ms}
  - {name: silent-expected, type: icmp, host: 192.0.2.1, timeout: 500ms,
     conditions: ["[PACKET_LOSS] == 100", "[CONNECTED] == false"]}
''' % {'rt': 200 * SLOW}

    def run_all(self, d):
        for name in ('v4', 'by-name'):
            self.assert_up(d, name)
        self.assert_up(d, 'loss-ok', count=4)
        self.assert_up(d, 'v6', count=5)
        self.assert_silent(d, 'silent', '192.0.2.1', '700ms')
        self.assert_silent(d, 'silent6', '2001:db8::1', '700ms')
        r = self.last(d, 'silent-expected')
        self.assertEqual(r['outcome'], UP, r)
        # Later runs of the same socket come back as well: sequence numbers
        # move on, the echoes of the first runs are forgotten.
        self.assert_up(d, 'v4')
        self.assertEqual(self.last(d, 'v4', n=3)['outcome'], UP)

    def test_raw_socket(self):
        """Root, no ping_group_range: the raw socket, which also hears a
        ping of another process's, whose replies are not ours."""
        self.set_range('1 0')
        other = subprocess.Popen(['ping', '-q', '-i', '0.2', '-c', '40', '-s', '9', '127.0.0.1'],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) \
            if shutil.which('ping') else None
        if other is not None:
            self.addCleanup(other.wait)
            self.addCleanup(other.kill)
        d = self.daemon(HEAD + self.CHECKS).start()
        self.run_all(d)
        log = d.log()
        self.assertIn('ICMP raw socket open', log)
        self.assertIn('ICMPv6 raw socket open', log)
        self.assertNotIn('datagram socket open', log)

    def test_datagram_socket(self):
        """Without CAP_NET_RAW, the group in ping_group_range: the
        unprivileged datagram socket, with the id the kernel gave it."""
        self.set_range('0 2147483647')
        d = self.daemon(HEAD + self.CHECKS, prefix=DROP_RAW).start()
        self.run_all(d)
        log = d.log()
        m = re.search(r'ICMP datagram socket open, echo id (\d+)', log)
        self.assertIsNotNone(m, log[-2000:])
        self.assertIn('ICMPv6 datagram socket open', log)
        self.assertNotIn('raw socket open', log)

    def test_neither_allowed(self):
        """Without CAP_NET_RAW and outside ping_group_range: unknown, a
        local reason naming the sysctl and the capability, logged once a
        family; the target is not said to be down."""
        self.set_range('1 0')
        d = self.daemon(HEAD + '''
  - {name: v4, type: icmp, host: 127.0.0.1}
  - {name: v6, type: icmp, host: "::1"}
''', prefix=DROP_RAW).start()
        for name, what in (('v4', 'ICMP'), ('v6', 'ICMPv6')):
            r = self.last(d, name, n=2)
            self.assertEqual(r['outcome'], UNKNOWN, r)
            self.assertEqual(r['error'], 'local: no %s socket allowed: group 0 is outside the '
                             'sysctl net.ipv4.ping_group_range (1 0), and raw sockets need '
                             'CAP_NET_RAW' % what)
            self.assertEqual(d.state(name)[0], UNKNOWN)
        log = d.log()
        self.assertEqual(log.count('no ICMP socket allowed'), 1, log[-3000:])
        self.assertEqual(log.count('no ICMPv6 socket allowed'), 1, log[-3000:])

        # Allowed again while the daemon runs: the next run opens a socket.
        self.set_range('0 2147483647')
        wait_until(lambda: self.rows(d, 'v4')[-1]['outcome'] == UP, timeout=10,
                   what='v4 up once the sysctl allows it')
        self.assertIn('ICMP datagram socket open', d.log())


if __name__ == '__main__':
    SKIP_REASON = reexec_in_namespace()
    if SKIP_REASON is None:
        set_up_namespace()
    main()
