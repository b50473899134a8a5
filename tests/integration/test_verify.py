#!/usr/bin/env python3
"""Post-deploy verification: a deploy speeds up its app-env's checks for the
window, then gets a verdict; a target that goes down after a deploy fails
it, naming the check and the last healthy version."""
import json
import time

from harness import SLOW, DaemonTest, main, wait_until

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 2s
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
apps:
  - name: shop
    verify: { window: 3s, interval: 200ms }
checks:
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/health
  - name: cache
    app: shop
    env: prod
    type: http
    url: http://127.0.0.1:1/
  - name: other
    app: blog
    env: prod
    type: http
    url: %s/ok
  - name: drift
    app: api
    env: prod
    type: http
    url: %s/json
    conditions:
      - "[STATUS] == 200"
      - "[BODY].version == [DEPLOY].version"
'''


class VerifyTest(DaemonTest):

    def test_verdicts(self):
        t = self.target()
        d = self.daemon(CONFIG % (t.base, t.base, t.base))
        d.start()
        rpc = d.rpc()
        wait_until(lambda: rpc.call('checks.get', {'check': 'web'})['state'] == 'up',
                   what='web up')
        # cache is down before any deploy: never blamed for one.
        wait_until(lambda: rpc.call('checks.get', {'check': 'cache'})['state'] == 'down',
                   what='cache down')

        def deploy(version, **kw):
            return rpc.call('deploys.record', dict({'app': 'shop', 'env': 'prod',
                                                    'version': version}, **kw))['id']

        def verdict(dep_id):
            for x in rpc.call('deploys.list', {'app': 'shop'})['deploys']:
                if x['id'] == dep_id:
                    return x
            return None

        # A healthy deploy: pending, checks at 200 ms, then healthy.
        runs = rpc.call('checks.get', {'check': 'web'})['runs_total']
        other_runs = rpc.call('checks.get', {'check': 'other'})['runs_total']
        t0 = time.monotonic()
        v1 = deploy('1.0')
        wait_until(lambda: verdict(v1)['verdict'] == 'pending', what='a pending verdict')
        self.assertEqual(rpc.call('checks.get', {'check': 'web'})['interval_ms'], 200)
        self.assertEqual(rpc.call('checks.get', {'check': 'other'})['interval_ms'], 2000)
        got = wait_until(lambda: verdict(v1)['verdict'] in ('healthy', 'degraded', 'failed')
                         and verdict(v1), timeout=15, what='the verdict of 1.0')
        self.assertEqual(got['verdict'], 'healthy', got)
        self.assertIn('0 of', got['verdict_reason'])
        self.assertIn('(cache was down before the deploy)', got['verdict_reason'])
        self.assertGreaterEqual(rpc.call('checks.get', {'check': 'web'})['runs_total'] - runs,
                                8 // SLOW)
        # Another app's check kept its own 2 s cadence meanwhile.
        self.assertLessEqual(rpc.call('checks.get', {'check': 'other'})['runs_total'] -
                             other_runs, int((time.monotonic() - t0) / 2) + 2)
        wait_until(lambda: rpc.call('checks.get', {'check': 'web'})['interval_ms'] == 2000,
                   what='the cadence back to normal')

        # A deploy, then the target goes down: failed as soon as web is down
        # (before the window ends), naming web, not cache, and the last
        # healthy version as the rollback target.
        sub = d.rpc()
        sub.call('events.subscribe', {'topics': ['deploys']})
        v2 = deploy('2.0')
        t.get('/toggle?state=down')
        got = wait_until(lambda: verdict(v2)['verdict'] in ('healthy', 'degraded', 'failed')
                         and verdict(v2), timeout=15, what='the verdict of 2.0')
        self.assertEqual(got['verdict'], 'failed', got)
        self.assertEqual(got['failing_check'], 'web')
        self.assertEqual(got['rollback_version'], '1.0')
        self.assertIn('web is down', got['verdict_reason'])
        self.assertIn('judged before the window ended', got['verdict_reason'])
        while True:
            n = sub.notice()
            if n['type'] == 'deploy.verdict':
                break
        self.assertIn('verdict failed', n['message'])
        self.assertIn('roll back to 1.0', n['message'])
        self.assertEqual(json.loads(n['data'])['verdict'], 'failed')

        # A newer deploy cuts the window of the one before it.
        t.get('/toggle?state=up')
        wait_until(lambda: rpc.call('checks.get', {'check': 'web'})['state'] == 'up',
                   what='web up again')
        v3 = deploy('3.0')
        v4 = deploy('3.1')
        got = wait_until(lambda: verdict(v3)['verdict'] not in (None, 'pending') and verdict(v3),
                         what='the cut-short verdict')
        self.assertIn('cut short', got['verdict_reason'])
        wait_until(lambda: verdict(v4)['verdict'] == 'healthy', timeout=15,
                   what='the verdict of 3.1')

        # [DEPLOY].version: the target serves version 1.2.3; a deploy of
        # another version is drift, of the same version is not.
        def drift():
            return rpc.call('checks.run', {'check': 'drift'})
        r = drift()
        self.assertEqual(r['outcome'], 'down')
        self.assertIn('[DEPLOY].version (n/a)', r['failed_condition'])
        rpc.call('deploys.record', {'app': 'api', 'env': 'prod', 'version': '1.2.2'})
        r = drift()
        self.assertEqual(r['outcome'], 'down')
        self.assertIn('1.2.2', r['failed_condition'])
        rpc.call('deploys.record', {'app': 'api', 'env': 'prod', 'version': '1.2.3'})
        self.assertEqual(drift()['outcome'], 'up')
        rpc.call('deploys.record', {'app': 'api', 'env': 'prod', 'version': '1.2.4',
                                    'status': 'failed'})
        self.assertEqual(drift()['outcome'], 'up', 'a failed deploy is not the version')

        # A deploy that failed is not verified.
        v5 = deploy('4.0', status='failed')
        self.assertIsNone(verdict(v5).get('verdict'))

        # The CLI shows verdicts.
        import subprocess
        from harness import SHIPWATCH
        out = subprocess.run([SHIPWATCH, '--socket', d.socket, 'deploys'], capture_output=True,
                             text=True, check=True).stdout
        self.assertRegex(out, r'\n\d+ .* 2\.0 .* failed *\n')
        self.assertRegex(out, r'\n\d+ .* 1\.0 .* healthy *\n')


    def test_no_result_is_no_verdict_of_health(self):
        # An env with no checks proves nothing: unverified at once (no
        # window to wait out), never healthy.
        t = self.target()
        d = self.daemon(CONFIG % (t.base, t.base, t.base))
        d.start()
        rpc = d.rpc()
        dep_id = rpc.call('deploys.record', {'app': 'shop', 'env': 'staging',
                                             'version': '1.0'})['id']

        def verdict():
            for x in rpc.call('deploys.list', {'app': 'shop'})['deploys']:
                if x['id'] == dep_id and x.get('verdict') not in (None, 'pending'):
                    return x
            return None
        got = verdict()
        self.assertIsNotNone(got, 'judged when recorded, not after the 3 s window')
        self.assertEqual(got['verdict'], 'unverified', got)
        self.assertEqual(got['verdict_reason'], 'no result: shop/staging has no checks')
        # Counted as such, not as healthy.
        line = 'shipwatch_deploys_total{app="shop",env="staging",verdict="unverified"} 1'
        import re
        port = re.search(r'http listening on [0-9.]+:(\d+)', d.log()).group(1)
        import urllib.request
        text = urllib.request.urlopen('http://127.0.0.1:%s/metrics' % port).read().decode()
        self.assertIn(line, text)

if __name__ == '__main__':
    main()
