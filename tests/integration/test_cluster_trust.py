"""A cluster against whoever else can write to its Redis: a lease set by a
stranger, forged and replayed results, a lease kept by a node that never
runs the check, and a cluster configured without AUTH or a key.

One real Redis with a password for the file; each test starts its own
daemon (its own prefix, so leases never cross between tests).
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, DaemonTest, wait_until  # noqa: E402
import servers  # noqa: E402  (harness put tests/ on the path)

PASSWORD = 'trust-redis-pass-0123'
KEY = 'trust-cluster-key-0123456789'
CLUSTER = 'trust'


def now_ms():
    return int(time.time() * 1000)


class TrustTest(DaemonTest):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='shipwatch-trust-')
        cls.redis = servers.RedisServer(os.path.join(cls.tmp, 'redis'), password=PASSWORD)
        os.makedirs(cls.redis.dir, exist_ok=True)
        cls.redis.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.redis.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.prefix = 'sw' + re.sub(r'[^a-z0-9]', '', self.id().rsplit('.', 1)[-1][5:])[:16]

    # --- helpers ---

    def config(self, checks, key=KEY, insecure=False, node='node-a', url=None):
        redis = '  url: %s\n  prefix: %s\n' % (url or self.redis.url, self.prefix)
        if key:
            redis += '  key: %s\n' % key
        if insecure:
            redis += '  insecure: true\n'
        return ('daemon:\n  socket: {socket}\nstorage:\n  path: {db}\nredis:\n%s'
                'cluster: %s\nnode-name: %s\nchecks:\n%s' % (redis, CLUSTER, node, checks))

    def start(self, checks, **kw):
        d = self.daemon(self.config(checks, **kw))
        d.start()
        wait_until(lambda: 'cluster: connected to Redis' in d.log(), timeout=10,
                   what='the daemon to join the cluster')
        return d

    def chan(self, what):
        return '%s:%s:%s' % (self.prefix, CLUSTER, what)

    def lease(self, check):
        return self.redis.cli('GET', self.chan('lease:' + check)) or None

    def publish(self, what, msg, key=None):
        text = json.dumps(msg, separators=(',', ':'))
        if key is not None:
            sig = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
            text = 'sha256=%s %s' % (sig, text)
        self.redis.cli('PUBLISH', self.chan(what), text)

    def alive(self, node, key=None, ts=None):
        self.publish('nodes', {'v': 1, 'kind': 'node', 'node': node,
                               'ts_ms': ts if ts is not None else now_ms()}, key)

    def down_result(self, node, check, key=None, ts=None):
        t = ts if ts is not None else now_ms()
        self.publish('results', {
            'v': 1, 'kind': 'result', 'node': node, 'check': check, 'ts_ms': t - 5,
            'duration_us': 1000, 'outcome': 'down', 'status': 503, 'state': 'down',
            'state_since_ms': t - 60000, 'fail_streak': 5, 'ok_streak': 0, 'location': True,
            'error': 'forged'}, key)

    def metric(self, d, name, labels=''):
        with urllib.request.urlopen(d.http_base() + '/metrics', timeout=5) as r:
            text = r.read().decode()
        m = re.search(r'^%s%s (\d+)$' % (re.escape(name), re.escape(labels)), text, re.M)
        return int(m.group(1)) if m else None

    def rejected(self, d):
        return self.metric(d, 'shipwatch_cluster_messages_total', '{result="rejected"}')

    def state(self, d, check):
        return d.rpc().call('checks.get', {'check': check})

    # --- the tests ---

    def test_needs_auth_and_key(self):
        """A cluster on a Redis without a password, or without a key, does
        not start unless insecure says so."""
        check = '  - {name: api, type: tcp, host: 127.0.0.1, port: 1, interval: 1s}\n'
        bare = 'redis://127.0.0.1:%d/0' % self.redis.port
        for kw, want in (({'url': bare}, 'cluster: redis.url has no password'),
                         ({'key': None}, 'cluster: needs redis.key')):
            d = self.daemon(self.config(check, **kw))
            out = d.check_config()
            self.assertNotEqual(out.returncode, 0, out)
            self.assertIn(want, out.stderr + out.stdout)
            d.start(wait_db=False)
            self.assertNotEqual(d.proc.wait(20 * SLOW), 0)
            d.logf.close()
            self.assertIn(want, d.log())
        d = self.daemon(self.config(check, key=None, insecure=True))
        self.assertEqual(d.check_config().returncode, 0)

    def test_lease_of_a_stranger_is_taken_over(self):
        """SET lease evil-node PX 3600000 no longer stops the only daemon
        from running the check: it takes the lease back and sees the
        outage."""
        t = self.target()
        d = self.start('  - {name: api, type: http, url: "%s", interval: 1s, '
                       'failure-threshold: 1}\n' % t.url('/health'))
        joined = time.monotonic()
        wait_until(lambda: self.state(d, 'api')['state'] == 'up', what='api up')
        self.assertEqual(self.lease('api'), 'node-a')

        self.redis.cli('SET', self.chan('lease:api'), 'evil-node', 'PX', '3600000')
        t.get('/toggle?state=down')
        # Both: a run that began before the forged lease (its tick asked
        # Redis first) may see the outage while evil-node still holds it.
        wait_until(lambda: self.state(d, 'api')['state'] == 'down' and
                   self.lease('api') == 'node-a', timeout=6,
                   what='api down and its lease back despite the forged lease')
        self.assertRegex(d.log(), r'took over the lease of api from evil-node: it was set to '
                                  r'last \d+ ms, beyond interval plus grace \(1250 ms\)')
        wait_until(lambda: self.metric(d, 'shipwatch_cluster_leases_overridden_total') >= 1,
                   timeout=2, what='the takeover counted')
        wait_until(lambda: [e for e in d.events('state', 'api') if 'down' in e[4]],
                   what='the state event')

        # A lease with a plausible TTL but a holder nobody heard of: taken
        # too (the daemon has been up long enough to know its peers).
        t.get('/toggle?state=up')
        wait_until(lambda: self.state(d, 'api')['state'] == 'up', what='api up again')
        # Names are judged once every live peer had 3 s to announce itself.
        time.sleep(max(0.0, joined + 4 * SLOW - time.monotonic()))
        before = self.metric(d, 'shipwatch_cluster_leases_overridden_total')
        self.redis.cli('SET', self.chan('lease:api'), 'ghost', 'PX', '1200')
        wait_until(lambda: self.lease('api') == 'node-a', timeout=5,
                   what='the lease back from ghost')
        # Redis answers GET as soon as the script ran; the daemon counts on
        # reading its reply.
        wait_until(lambda: self.metric(d, 'shipwatch_cluster_leases_overridden_total') > before,
                   timeout=2, what='the takeover counted')
        # A key of another type does not break the script either.
        self.redis.cli('DEL', self.chan('lease:api'))
        self.redis.cli('HSET', self.chan('lease:api'), 'x', 'y')
        wait_until(lambda: self.redis.cli('TYPE', self.chan('lease:api')) == 'string' and
                   self.lease('api') == 'node-a', timeout=5, what='the lease back from a hash')

    def test_forged_results_are_refused(self):
        """Made-up locations cannot make a quorum: unsigned, wrongly signed,
        replayed and unannounced results are refused; signed ones from
        announced peers count (so the refusals are not of everything)."""
        t = self.target()
        d = self.start('  - {name: everywhere, type: http, url: "%s", interval: 1s, '
                       'locations: all, quorum: 2}\n' % t.url('/ok'))
        wait_until(lambda: self.state(d, 'everywhere')['state'] == 'up', what='up')
        base = self.rejected(d)

        def forge(key, ts=None, announce=True):
            for _ in range(3):
                for node in ('evil-1', 'evil-2'):
                    if announce:
                        self.alive(node, key, ts)
                    self.down_result(node, 'everywhere', key, ts)
                time.sleep(0.3)

        forge(None)                           # no signature at all
        forge('not-the-cluster-key-000')      # someone else's key
        forge(KEY, ts=now_ms() - 5 * 60000)   # captured five minutes ago
        forge(KEY, announce=False)            # signed, from nobody announced
        time.sleep(1.5)
        c = self.state(d, 'everywhere')
        self.assertEqual(c['state'], 'up', c)
        self.assertEqual({l['name'] for l in c.get('locations', [])}, {'node-a'}, c)
        # 6 alive + 6 results for each of the first three, 6 results last.
        self.assertGreaterEqual(self.rejected(d) - base, 42)
        log = d.log()
        self.assertIn('refused a message not signed with this daemon\'s redis.key', log)

        # The same daemon warned once a minute at most; the kinds it saw
        # are in the counter, not the log. The positive control: signed
        # and announced, the two forged locations do make a quorum.
        forge(KEY)
        wait_until(lambda: self.state(d, 'everywhere')['state'] == 'down', timeout=5,
                   what='the signed, announced locations to count')

    def test_warnings_name_the_refusal(self):
        """Each kind of refusal says what it was, once per minute."""
        t = self.target()
        d = self.start('  - {name: api, type: http, url: "%s", interval: 1s}\n' % t.url('/ok'))
        self.down_result('evil-9', 'api', KEY)
        wait_until(lambda: 'ignored a result from evil-9, a node that has not announced itself'
                   in d.log(), timeout=5, what='the unannounced warning')
        # The next warning waits a minute; the refusals are counted meanwhile.
        before = self.rejected(d)
        self.alive('evil-9', KEY, ts=now_ms() - 10 * 60000)
        wait_until(lambda: self.rejected(d) > before, timeout=5, what='the stale alive refused')
        self.assertNotIn('dated over a minute', d.log())
        wait_until(lambda: [e for e in d.events('cluster') if 'not announced itself' in e[4]],
                   what='the cluster event')

    def test_a_check_nobody_runs_is_unknown(self):
        """insecure: anyone can announce a node. One that keeps a lease and
        never runs the check cannot keep it up: after two intervals it is
        unknown, saying who holds it; when the stranger goes, it runs here
        again."""
        t = self.target()
        d = self.start('  - {name: api, type: http, url: "%s", interval: 1s}\n' % t.url('/ok'),
                       key=None, insecure=True)
        wait_until(lambda: self.state(d, 'api')['state'] == 'up', what='api up')
        stop = threading.Event()

        def squat():
            end = time.monotonic() + 30 * SLOW
            while not stop.is_set() and time.monotonic() < end:
                self.alive('evil-node')
                self.redis.cli('SET', self.chan('lease:api'), 'evil-node', 'PX', '1200')
                stop.wait(0.3)

        th = threading.Thread(target=squat, daemon=True)
        th.start()
        try:
            c = wait_until(lambda: (lambda c: c['state'] == 'unknown' and c)(
                self.state(d, 'api')), timeout=8, what='api unknown while nobody runs it')
            self.assertIn('no node ran it for two intervals; its lease is held by evil-node',
                          c.get('verdict') or '', c)
            self.assertGreaterEqual(self.metric(d, 'shipwatch_cluster_unrun_total'), 1)
            wait_until(lambda: [e for e in d.events('state', 'api') if 'unknown' in e[4]],
                       what='the state event')
            self.assertGreater(self.metric(d, 'shipwatch_cluster_skipped_not_owner_total'), 0)
        finally:
            stop.set()
            th.join(10)
        wait_until(lambda: self.state(d, 'api')['state'] == 'up', timeout=10,
                   what='api run here again once the stranger left')
        self.assertEqual(self.lease('api'), 'node-a')


if __name__ == '__main__':
    unittest.main(verbosity=2)
