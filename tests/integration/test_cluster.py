"""Three daemons on one real Redis: fan-out, shared checks, takeover after a
kill -9, a Redis outage, and a `locations: all` check with a quorum.

Every check hits its own path on a counting HTTP target, so how often each
check ran, and how close two runs came, is read at the target itself.
"""
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SHIPWATCH, SLOW, Daemon, RpcError, outage, wait_until  # noqa: E402
import servers  # noqa: E402  (harness put tests/ on the path)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tui'))
from test_dashboard import Pane  # noqa: E402

INTERVAL = 1.0                      # seconds, every check
GRACE = min(INTERVAL / 4, 2.0)      # the lease's grace (cluster.h)
PEER_TTL = 10.0                     # CLUSTER_PEER_TTL_MS (cluster.h)
NODES = ('node-a', 'node-b', 'node-c')
SHARED = ['c%02d' % i for i in range(1, 13)]
PREFIX = 'swtest'
CLUSTER = 'it'
PASSWORD = 'it-redis-pass-0123'
KEY = 'it-cluster-key-0123456789'


class Counter:
    """An HTTP target on 127.0.0.1 recording (path, time) of every hit.
    /loc/NODE answers the status set for NODE by /set?node=NODE&code=N."""

    def __init__(self):
        self.hits = []
        self.codes = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                code = 200
                if url.path == '/set':
                    q = parse_qs(url.query)
                    with outer.lock:
                        outer.codes[q['node'][0]] = int(q['code'][0])
                else:
                    with outer.lock:
                        outer.hits.append((url.path, time.monotonic()))
                        if url.path.startswith('/loc/'):
                            code = outer.codes.get(url.path[5:], 200)
                body = b'ok'
                self.send_response(code)
                self.send_header('Content-Length', str(len(body)))
                self.send_header('Connection', 'close')
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 128  # not 5: see target.py
        self.srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={'poll_interval': 0.1},
                                       daemon=True)
        self.thread.start()

    def set_code(self, node, code):
        with self.lock:
            self.codes[node] = code

    def times(self, path, since, until=None):
        with self.lock:
            return sorted(t for p, t in self.hits
                          if p == path and t >= since and (until is None or t < until))

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def config(node, redis_url, port):
    checks = ''.join(
        '  - name: %s\n    type: http\n    url: http://127.0.0.1:%d/c/%s\n    interval: 1s\n'
        % (name, port, name) for name in SHARED)
    # The locations-all check: each node asks its own path, so the test can
    # make one location fail. Definitions differ per node; names do not.
    checks += ('  - name: everywhere\n    type: http\n    url: http://127.0.0.1:%d/loc/%s\n'
               '    interval: 1s\n    failure-threshold: 2\n    locations: all\n    quorum: 2\n'
               % (port, node))
    return ('daemon:\n  socket: {socket}\nstorage:\n  path: {db}\n'
            'redis:\n  url: %s\n  prefix: %s\n  key: %s\ncluster: %s\nnode-name: %s\n'
            'checks:\n%s' % (redis_url, PREFIX, KEY, CLUSTER, node, checks))


class ClusterTest(unittest.TestCase):
    """One fleet for the whole file (tests run in name order)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='shipwatch-cluster-')
        cls.redis = servers.RedisServer(os.path.join(cls.tmp, 'redis'), password=PASSWORD)
        os.makedirs(cls.redis.dir, exist_ok=True)
        cls.redis.__enter__()
        cls.target = Counter()
        cls.daemons = {}
        for node in NODES:
            os.makedirs(os.path.join(cls.tmp, node))
            d = Daemon(config(node, cls.redis.url, cls.target.port),
                       workdir=os.path.join(cls.tmp, node))
            cls.daemons[node] = d
        for node in NODES:
            cls.daemons[node].start()
        for d in cls.daemons.values():
            wait_until(lambda d=d: 'cluster: connected to Redis' in d.log(), timeout=10,
                       what='the daemon to join the cluster')
        # Peers announce themselves every 2 s; leases then settle on their
        # preferred nodes within an interval or two.
        cls.settle()

    @classmethod
    def tearDownClass(cls):
        problems = []
        for node, d in cls.daemons.items():
            if d.proc is not None and d.proc.poll() is None:
                rc = d.stop()
                if rc != 0:
                    problems.append('%s exited %d:\n%s' % (node, rc, d.log()[-3000:]))
        cls.target.stop()
        cls.redis.__exit__(None, None, None)
        if not problems:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise AssertionError('\n'.join(problems))

    @classmethod
    def settle(cls, timeout=20):
        """Wait until every shared check has a holder and no lease moved
        for the peer TTL and two intervals: a node that took a check its
        preferred node left free (a node slow to start, or back after an
        outage) keeps it for the peer TTL, then hands it back, and a lease
        still to move would fail the tests that follow."""
        last, stable_since = None, time.monotonic()
        deadline = time.monotonic() + timeout * SLOW + PEER_TTL
        while time.monotonic() < deadline:
            now = cls.owners(everywhere=True)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif all(now.values()) and time.monotonic() - stable_since >= PEER_TTL + 2 * INTERVAL:
                now.pop('everywhere')
                return now
            time.sleep(0.1)
        raise AssertionError('leases did not settle: %r' % last)

    @classmethod
    def owners(cls, everywhere=False):
        names = SHARED + (['everywhere'] if everywhere else [])
        return {name: cls.redis.cli('GET', '%s:%s:lease:%s' % (PREFIX, CLUSTER, name)) or None
                for name in names}

    def rpc(self, node):
        return self.daemons[node].rpc()

    def assert_once_per_interval(self, since, until, checks=SHARED):
        """Each check ran about once per interval between since and until,
        and never twice within half an interval."""
        span = until - since
        for name in checks:
            times = self.target.times('/c/' + name, since, until)
            self.assertGreaterEqual(len(times), int(span / INTERVAL) - 1,
                                    '%s ran %d times in %.1fs' % (name, len(times), span))
            self.assertLessEqual(len(times), int(span / INTERVAL) + 1,
                                 '%s ran %d times in %.1fs' % (name, len(times), span))
            gaps = [b - a for a, b in zip(times, times[1:])]
            if gaps:
                self.assertGreater(min(gaps), INTERVAL / 2,
                                   '%s ran twice within %.2fs' % (name, min(gaps)))

    # --- the tests, in order ---

    def test_1_each_check_runs_once_per_interval(self):
        owners = self.owners()
        counts = collections.Counter(owners.values())
        # 12 checks over 3 nodes by rendezvous hashing: everyone has some.
        self.assertEqual(set(counts), set(NODES), owners)
        since = time.monotonic()
        time.sleep(8 * INTERVAL)
        self.assert_once_per_interval(since, time.monotonic())
        # The runners' stores hold their own checks' results only.
        for node, d in self.daemons.items():
            mine = {n for n, o in owners.items() if o == node}
            rows = d.query('SELECT DISTINCT c.name FROM results r JOIN checks c ON c.id = r.check_id '
                           'WHERE r.ts > ?', (int(time.time() * 1000) - 4000,))
            ran = {r[0] for r in rows} - {'everywhere'}
            self.assertEqual(ran, mine, node)

    def test_2_any_daemon_shows_the_whole_fleet(self):
        owners = self.owners()
        a = self.daemons['node-a']
        out = subprocess.run([SHIPWATCH, '--socket', a.socket, 'checks', '--json'],
                             capture_output=True, text=True, timeout=10 * SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = json.loads(out.stdout)
        checks = rows['checks'] if isinstance(rows, dict) else rows
        by_name = {c['name']: c for c in checks}
        now_ms = time.time() * 1000
        foreign = [n for n, o in owners.items() if o != 'node-a']
        self.assertTrue(foreign)
        for name in foreign:
            c = by_name[name]
            self.assertEqual(c['state'], 'up', c)
            self.assertGreater(c['last_ms'], now_ms - 3000 * SLOW, c)
            self.assertEqual(c.get('runner'), owners[name], c)
        status = subprocess.run([SHIPWATCH, '--socket', a.socket, 'status', '--json'],
                                capture_output=True, text=True, timeout=10 * SLOW)
        self.assertEqual(status.returncode, 0, status.stderr)
        st = json.loads(status.stdout)
        self.assertEqual(st['up'], len(SHARED) + 1, st)
        # Live: a "results" subscriber on node-a sees node-b's runs.
        rpc = self.rpc('node-a')
        rpc.call('events.subscribe', {'topics': ['results']})
        b_checks = {n for n, o in owners.items() if o == 'node-b'}
        seen = set()
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline and not b_checks <= seen:
            seen.add(rpc.notice().get('check'))
        self.assertLessEqual(b_checks, seen)

    def test_3a_host_of_another_node(self):
        """The host topic and host.get of node-a name node-b or node-c: the
        node watched samples (and only while watched), its samples come
        through Redis, and a name no daemon has is refused."""
        def sampling(node):
            return self.rpc(node).call('status.get').get('host_sampling')

        def host_sample(rpc, node, timeout=5):
            end = time.monotonic() + timeout * SLOW
            while time.monotonic() < end:
                msg = rpc.recv()
                if msg[0] == 2 and msg[1] == 'host' and msg[2][0].get('node') == node:
                    return msg[2][0]
            raise AssertionError('no host sample of %s within %ss' % (node, timeout * SLOW))

        st = self.rpc('node-a').call('status.get')
        self.assertEqual(st['node'], 'node-a')
        self.assertEqual(st['cluster_peer_names'], ['node-b', 'node-c'])
        out = subprocess.run([SHIPWATCH, '--socket', self.daemons['node-a'].socket, 'status'],
                             capture_output=True, text=True, timeout=10 * SLOW)
        self.assertIn('\npeers: node-b, node-c\n', out.stdout)
        for node in NODES:
            self.assertFalse(sampling(node), node)

        rpc = self.rpc('node-a')
        rpc.call('events.subscribe', {'topics': ['host'], 'node': 'node-b'})
        h = host_sample(rpc, 'node-b')
        self.assertEqual(h['hostname'], socket.gethostname())
        self.assertGreater(h['ts_ms'], time.time() * 1000 - 5000 * SLOW)
        self.assertGreater(h['cpu_count'], 0)
        self.assertTrue(h['cpus'] and h['top_cpu'], h)
        self.assertTrue(sampling('node-b'))
        self.assertFalse(sampling('node-a'))  # its own sampler: nobody asked
        self.assertFalse(sampling('node-c'))

        # Subscribing again moves the subscription: node-c's samples come,
        # node-b stops reading once its want expires (6 s).
        rpc.call('events.subscribe', {'topics': ['host'], 'node': 'node-c'})
        host_sample(rpc, 'node-c')
        wait_until(lambda: not sampling('node-b'), timeout=10,
                   what='node-b to stop sampling once nobody watches it')
        self.assertTrue(sampling('node-c'))
        # Back to node-a's own host, by its name.
        rpc.call('events.subscribe', {'topics': ['host'], 'node': 'node-a'})
        host_sample(rpc, 'node-a')

        # host.get of another node: its next sample.
        other = self.rpc('node-c')
        h = other.call('host.get', {'node': 'node-b'})
        self.assertEqual(h['node'], 'node-b')
        for method, params in (('host.get', {'node': 'node-z'}),
                               ('events.subscribe', {'topics': ['host'], 'node': 'node-z'})):
            with self.assertRaises(RpcError) as e:
                other.call(method, params)
            self.assertEqual(e.exception.code, 'not_found')
            self.assertIn('node-z', e.exception.message)
        other.close()

        # The watcher hangs up: node-c stops reading within the want's life.
        rpc.close()
        wait_until(lambda: not any(sampling(n) for n in NODES), timeout=10,
                   what='every node to stop sampling')

    def test_3b_dashboard_switches_nodes(self):
        """The host view on node-a at 80x24: n goes to node-b's host, then
        node-c's, then back; :node picks one by name."""
        if shutil.which('tmux') is None:
            self.skipTest('tmux is not installed')
        p = Pane('%s --socket %s' % (SHIPWATCH, self.daemons['node-a'].socket), 80, 24,
                 {'LANG': 'C', 'LC_ALL': 'C', 'NO_COLOR': '1', 'TERM': 'screen'})
        try:
            p.wait(lambda s: '1 Overview' in s, 'the dashboard')
            p.keys('5')
            title = '%s (node %%s)' % socket.gethostname()
            p.wait(lambda s: title % 'node-a' in s and 'TOP CPU' in s, 'node-a\'s host',
                   timeout=15)
            for node, n in (('node-b', 2), ('node-c', 3), ('node-a', 1)):
                p.keys('n')
                s = p.wait(lambda s, node=node: title % node in s and 'TOP CPU' in s,
                           '%s\'s host' % node, timeout=15)
                self.assertIn('host of node %s (%d of 3)' % (node, n), s)
            p.keys('N')
            p.wait(lambda s: title % 'node-c' in s, 'N: the previous node', timeout=15)
            p.keys(':node node-b', 'Enter')
            p.wait(lambda s: title % 'node-b' in s, ':node node-b', timeout=15)
            p.keys(':node nowhere', 'Enter')
            p.wait(lambda s: "no daemon named 'nowhere'" in s, 'an unknown node refused')
            s = p.screen()
            self.assertIn(title % 'node-b', s)
            self.assertTrue(all(len(line) <= 80 for line in s.splitlines()), s)
        finally:
            p.kill()

    def test_3_locations_and_quorum(self):
        # node-a's location fails; quorum 2 keeps the check up everywhere.
        self.target.set_code('node-a', 503)
        time.sleep(4 * INTERVAL)
        for node in NODES:
            c = self.rpc(node).call('checks.get', {'check': 'everywhere'})
            self.assertEqual(c['state'], 'up', (node, c))
            locs = {l['name']: l['state'] for l in c.get('locations', [])}
            self.assertEqual(locs, {'node-a': 'down', 'node-b': 'up', 'node-c': 'up'}, (node, c))
        # A second location fails: the quorum is met, the check is down.
        self.target.set_code('node-b', 503)
        wait_until(lambda: all(self.rpc(n).call('checks.get', {'check': 'everywhere'})['state']
                               == 'down' for n in NODES),
                   timeout=6, what='everywhere to be down on every daemon')
        # One daemon, the lease holder, emitted the state change.
        holder = self.redis.cli('GET', '%s:%s:lease:everywhere' % (PREFIX, CLUSTER))
        self.assertIn(holder, NODES)
        emitted = {node: [e for e in d.events('state', 'everywhere') if '-> down' in e[4]]
                   for node, d in self.daemons.items()}
        wait_until(lambda: emitted[holder] or emitted.update(
            {holder: [e for e in self.daemons[holder].events('state', 'everywhere')
                      if '-> down' in e[4]]}), timeout=3, what='the holder\'s state event')
        self.assertEqual(sum(len(v) for v in emitted.values()), 1, emitted)
        self.target.set_code('node-a', 200)
        self.target.set_code('node-b', 200)
        wait_until(lambda: all(self.rpc(n).call('checks.get', {'check': 'everywhere'})['state']
                               == 'up' for n in NODES),
                   timeout=8, what='everywhere to recover')

    @outage
    def test_4_kill_9_moves_the_checks(self):
        owners = self.settle()
        victim = 'node-b'
        moved = [n for n, o in owners.items() if o == victim]
        self.assertTrue(moved)
        d = self.daemons[victim]
        killed = time.monotonic()
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        d.logf.close()
        time.sleep(5 * INTERVAL)
        for name in moved:
            before = self.target.times('/c/' + name, killed - 2 * INTERVAL, killed)
            after = self.target.times('/c/' + name, killed)
            self.assertTrue(before and after, name)
            # The first run elsewhere within two intervals of the last one.
            self.assertLessEqual(after[0] - before[-1], 2 * INTERVAL, name)
        owners = self.owners()
        self.assertNotIn(victim, owners.values())
        since = time.monotonic()
        time.sleep(4 * INTERVAL)
        self.assert_once_per_interval(since, time.monotonic())

    @outage
    def test_5_redis_outage(self):
        live = [n for n in NODES if self.daemons[n].proc.poll() is None]
        self.redis.stop()
        down_at = time.monotonic()
        for n in live:
            wait_until(lambda n=n: 'cluster: lost Redis' in self.daemons[n].log(),
                       timeout=5, what='%s to notice Redis is gone' % n)
        time.sleep(30)
        up_at = time.monotonic()
        # Every check kept running meanwhile, on every live daemon (twice
        # a tick is expected: each runs it alone).
        for name in SHARED:
            times = self.target.times('/c/' + name, down_at + 2, up_at)
            self.assertGreaterEqual(len(times), len(live) * (up_at - down_at - 3) / INTERVAL - 3,
                                    name)
        self.redis.start()
        for n in live:
            wait_until(lambda n=n: 'cluster: back on Redis' in self.daemons[n].log(),
                       timeout=15, what='%s to rejoin' % n)
        self.settle()
        since = time.monotonic()
        time.sleep(5 * INTERVAL)
        self.assert_once_per_interval(since, time.monotonic())

    @outage
    def test_6_redis_hangs(self):
        # A Redis that keeps its connections but answers nothing (stopped,
        # or a partition without a reset): the daemons give up on it after
        # the reply timeout and run every check alone, then rejoin.
        live = [n for n in NODES if self.daemons[n].proc.poll() is None]
        with open(os.path.join(self.redis.dir, 'redis.pid'), encoding='utf-8') as f:
            pid = int(f.read().strip())
        marks = {n: len(self.daemons[n].log()) for n in live}
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped_at = time.monotonic()
            for n in live:
                wait_until(lambda n=n: 'Redis stopped answering' in self.daemons[n].log()[marks[n]:],
                           timeout=8, what='%s to give up on a hung Redis' % n)
            detected = time.monotonic() - stopped_at
            self.assertLess(detected, 6 * SLOW)
            since = time.monotonic()
            time.sleep(4 * INTERVAL)
            for name in SHARED:
                times = self.target.times('/c/' + name, since, time.monotonic())
                self.assertGreaterEqual(len(times), len(live) * 4 - 2, name)
        finally:
            os.kill(pid, signal.SIGCONT)
        for n in live:
            wait_until(lambda n=n: 'cluster: back on Redis' in self.daemons[n].log()[marks[n]:],
                       timeout=20, what='%s to rejoin' % n)
        self.settle()
        since = time.monotonic()
        time.sleep(4 * INTERVAL)
        self.assert_once_per_interval(since, time.monotonic())


if __name__ == '__main__':
    unittest.main(verbosity=2)
