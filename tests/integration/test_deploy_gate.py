#!/usr/bin/env python3
"""The CI/CD rollback gate: GET /api/v1/deploys/ID answers a deploy's
status and verdict to its own app's credentials only, and ?wait=SECONDS
holds the answer until the verdict lands or the wait ends."""
import hashlib
import hmac
import json
import subprocess
import threading
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
    deploy-token: tok-123
    deploy-secret: mac-456
    verify: { window: 60s, interval: 200ms }
  - name: other
    deploy-token: tok-other
checks:
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/health
'''


def curl(*args):
    """(status, body as JSON, seconds taken) of one curl call."""
    cmd = ['curl', '-sS', '-o', '-', '-w', '\n%{http_code}', '--max-time', str(60 * SLOW), *args]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, timeout=90 * SLOW)
    took = time.monotonic() - t0
    body, _, status = out.stdout.decode().rpartition('\n')
    return int(status), json.loads(body) if body else None, took


class DeployGateTest(DaemonTest):

    def get(self, dep_id, query='', token='tok-123', *extra):
        args = list(extra)
        if token is not None:
            args += ['-H', 'Authorization: Bearer ' + token]
        return curl(*args, '%s/api/v1/deploys/%s%s' % (self.base, dep_id, query))

    def test_gate(self):
        t = self.target()
        d = self.daemon(CONFIG % t.base)
        d.start()
        self.base = d.http_base()
        rpc = d.rpc()
        wait_until(lambda: rpc.call('checks.get', {'check': 'web'})['state'] == 'up',
                   what='web up')
        status, posted, _ = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                                 '-H', 'Authorization: Bearer tok-123', '--data-binary',
                                 '{"app":"shop","env":"prod","version":"1.0","id":"ci-1"}',
                                 self.base + '/api/v1/deploys')
        self.assertEqual(status, 201, posted)
        dep_id = posted['id']

        # At once: the deploy, its verdict pending while the window runs.
        status, got, _ = self.get(dep_id)
        self.assertEqual(status, 200, got)
        self.assertEqual((got['id'], got['app'], got['env'], got['version'], got['status'],
                          got['verdict']), (dep_id, 'shop', 'prod', '1.0', 'succeeded', 'pending'))
        for key in ('verdict_reason', 'failing_check', 'rollback_version', 'started_at',
                    'finished_at'):
            self.assertIn(key, got)
        # By the sender's id too, and signed over the empty body.
        self.assertEqual(self.get('ci-1')[1]['id'], dep_id)
        stamp = str(int(time.time()))
        mac = hmac.new(b'mac-456', stamp.encode() + b'.', hashlib.sha256).hexdigest()
        status, got, _ = self.get(dep_id, '', None, '-H', 'X-Shipwatch-Timestamp: ' + stamp,
                                  '-H', 'X-Shipwatch-Signature-256: sha256=' + mac)
        self.assertEqual((status, got['id']), (200, dep_id))

        # No credential: 401. Another app's token, or an unknown id: the
        # same 404, so another app's deploys cannot be found out.
        status, got, _ = self.get(dep_id, '', None)
        self.assertEqual(status, 401, got)
        self.assertEqual(self.get(dep_id, '', 'nobody-has-this')[0], 401)
        other = self.get(dep_id, '', 'tok-other')
        unknown = self.get(dep_id + 1000)
        self.assertEqual((other[0], other[1]), (404, unknown[1]))
        self.assertEqual(unknown[0], 404)
        self.assertEqual(self.get(dep_id, '?wait=300', 'tok-other')[0], 404)

        # Bad waits: 400.
        for q in ('?wait=', '?wait=abc', '?wait=-1', '?wait=601', '?wait=1.5', '?wait'):
            status, got, _ = self.get(dep_id, q)
            self.assertEqual(status, 400, (q, got))

        # A wait that ends first: 200 with the pending state.
        status, got, took = self.get(dep_id, '?wait=1')
        self.assertEqual((status, got['verdict']), (200, 'pending'))
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 5 * SLOW)

        # A wait answered as soon as the verdict lands: web goes down, the
        # deploy fails early, long before the 60 s wait.
        answer = {}
        waiter = threading.Thread(target=lambda: answer.update(r=self.get(dep_id, '?wait=60')))
        waiter.start()
        time.sleep(0.5)
        # The held request blocks nothing: other requests are answered.
        self.assertEqual(self.get(dep_id)[1]['verdict'], 'pending')
        t.get('/toggle?state=down')
        downed = time.monotonic()
        waiter.join(90 * SLOW)
        status, got, took = answer['r']
        self.assertEqual(status, 200, got)
        self.assertEqual((got['verdict'], got['failing_check']), ('failed', 'web'), got)
        self.assertIn('web is down', got['verdict_reason'])
        self.assertLess(took, 20 * SLOW)
        self.assertLess(time.monotonic() - downed, 15 * SLOW)
        # Judged: a wait answers at once.
        status, got, took = self.get(dep_id, '?wait=60')
        self.assertEqual((status, got['verdict']), (200, 'failed'))
        self.assertLess(took, 5 * SLOW)

        # A held request is answered when the daemon stops.
        status, posted, _ = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                                 '-H', 'Authorization: Bearer tok-123', '--data-binary',
                                 '{"app":"shop","env":"prod","version":"1.1"}',
                                 self.base + '/api/v1/deploys')
        self.assertEqual(status, 201, posted)
        answer.clear()
        waiter = threading.Thread(
            target=lambda: answer.update(r=self.get(posted['id'], '?wait=60')))
        waiter.start()
        time.sleep(1)
        d.stop()
        waiter.join(90 * SLOW)
        self.assertEqual(answer['r'][0], 200)
        self.assertLess(answer['r'][2], 30 * SLOW)


if __name__ == '__main__':
    main()
