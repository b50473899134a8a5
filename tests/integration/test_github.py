#!/usr/bin/env python3
"""The GitHub webhook against GitHub's own published example payloads
(fixtures/github/, see its README), signed as GitHub signs them: every
deployment_status state, ping, an event not handled, redeliveries and
events out of order. A deploy's status only moves forward, a verdict is
never erased nor written over a later status, a redelivery records
nothing again."""
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import time
import uuid

from harness import SLOW, SOURCE_ROOT, DaemonTest, main, wait_until

FIXTURES = os.path.join(SOURCE_ROOT, 'tests', 'integration', 'fixtures', 'github')
SECRET = "It's a Secret to Everybody"       # GitHub's documented example secret

CONFIG = '''
daemon:
  socket: {socket}
  github-secret: "It's a Secret to Everybody"
storage:
  path: {db}
defaults:
  interval: 2s
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
apps:
  - name: hello
    github-repo: Codertocat/Hello-World
    verify: { window: %s, interval: 200ms }
checks:
  - name: web
    app: hello
    env: production
    type: http
    url: %s/ok
'''


def fixture(name):
    with open(os.path.join(FIXTURES, name + '.json'), 'rb') as f:
        return f.read()


class GithubTest(DaemonTest):

    def start(self, window='2s'):
        t = self.target()
        d = self.daemon(CONFIG % (window, t.base))
        d.start()
        self.base = d.http_base()
        self.d = d
        return d

    def send(self, event, body, delivery=None, secret=SECRET):
        """POST body as GitHub does; (status, parsed answer)."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        sig = 'sha256=' + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        host, port = self.base[len('http://'):].split(':')
        conn = http.client.HTTPConnection(host, int(port), timeout=10 * SLOW)
        conn.request('POST', '/webhooks/github', body=body, headers={
            'Content-Type': 'application/json',
            'User-Agent': 'GitHub-Hookshot/044aadd',
            'X-GitHub-Event': event,
            'X-GitHub-Delivery': delivery or str(uuid.uuid4()),
            'X-GitHub-Hook-ID': '292430182',
            'X-Hub-Signature-256': sig,
        })
        r = conn.getresponse()
        got = r.read()
        conn.close()
        return r.status, json.loads(got) if got else None

    def deployment(self, dep_id=None, **deployment):
        doc = json.loads(fixture('deployment'))
        if dep_id is not None:
            doc['deployment']['id'] = dep_id
        doc['deployment'].update(deployment)
        return doc

    def status(self, state, dep_id=None):
        doc = json.loads(fixture('deployment_status'))
        doc['deployment_status']['state'] = state
        if dep_id is not None:
            doc['deployment']['id'] = dep_id
        return doc

    def row(self, ext):
        rows = self.d.query('SELECT id, app, env, version, status, verdict, commit_sha, '
                            'verdict_reason FROM deploys WHERE ext_id = ?', ('github:%d' % ext,))
        keys = ('id', 'app', 'env', 'version', 'status', 'verdict', 'commit', 'verdict_reason')
        return dict(zip(keys, rows[0])) if rows else None

    def stored(self, ext, **want):
        """The row of ext once it has the values in want (written by then)."""
        return wait_until(lambda: (lambda r: r is not None and all(
            r[k] == v for k, v in want.items()) and r)(self.row(ext)),
            timeout=10 * SLOW, what='deploy %d with %r (last: %r)' % (ext, want, self.row(ext)))

    def deploy_events(self):
        return [m for _, _, _, _, m in self.d.events('deploy')]

    def verdict_events(self):
        return [m for _, _, _, _, m in self.d.events('deploy.verdict')]

    def metrics(self):
        host, port = self.base[len('http://'):].split(':')
        conn = http.client.HTTPConnection(host, int(port), timeout=10 * SLOW)
        conn.request('GET', '/metrics')
        text = conn.getresponse().read().decode()
        conn.close()
        return text

    def test_published_payloads_every_state(self):
        self.start()
        # The published deployment: recorded as started, the version is the
        # short sha (the payload names none), the ref kept apart.
        status, got = self.send('deployment', fixture('deployment'))
        self.assertEqual(status, 201, got)
        self.assertEqual((got['app'], got['env'], got['version'], got['status']),
                         ('hello', 'production', 'f95f852', 'started'))
        ext = json.loads(fixture('deployment'))['deployment']['id']
        wait_until(lambda: self.row(ext), what='the deploy stored')
        row = self.row(ext)
        self.assertEqual((row['version'], row['commit']),
                         ('f95f852', 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e'))
        self.assertEqual(self.d.query('SELECT ref FROM deploys WHERE id = ?', (row['id'],)),
                         [('master',)])
        # A version in the payload wins.
        status, got = self.send('deployment', self.deployment(1, payload={'version': '2.0.1'}))
        self.assertEqual((status, got['version']), (201, '2.0.1'))

        # Each state on a deployment of its own, its status event alone.
        want = {'pending': 'started', 'queued': 'started', 'in_progress': 'started',
                'success': 'succeeded', 'failure': 'failed', 'error': 'failed'}
        for i, (state, st) in enumerate(sorted(want.items())):
            status, got = self.send('deployment_status', self.status(state, 100 + i))
            self.assertEqual((status, got['status'], got['version']), (201, st, 'f95f852'),
                             state)
        status, got = self.send('deployment_status', self.status('inactive', 200))
        self.assertEqual((status, got), (202, {'ignored': 'inactive'}))
        self.assertIsNone(self.row(200))
        # The published success, on the published deployment: the same deploy.
        status, got = self.send('deployment_status', fixture('deployment_status'))
        self.assertEqual((status, got['status']), (200, 'succeeded'), got)
        # Through the whole life of one deployment, in order.
        seq = [('deployment', self.deployment(300), 201, 'started')]
        for state, st in (('queued', 'started'), ('pending', 'started'),
                          ('in_progress', 'started'), ('success', 'succeeded'),
                          ('inactive', None)):
            seq.append(('deployment_status', self.status(state, 300), 202 if st is None else 200,
                        st))
        for event, body, want_status, st in seq:
            status, got = self.send(event, body)
            self.assertEqual(status, want_status, (event, got))
            if st is not None:
                self.assertEqual(got['status'], st)
        self.stored(300, status='succeeded')

        # ping, and an event not handled (a push), published as they are.
        self.assertEqual(self.send('ping', fixture('ping')), (200, {'ok': True}))
        self.assertEqual(self.send('push', fixture('push')), (202, {'ignored': 'push'}))
        # Signed with another secret: refused, nothing stored.
        n = len(self.d.query('SELECT id FROM deploys'))
        status, _ = self.send('deployment', self.deployment(400), secret='another secret')
        self.assertEqual(status, 401)
        self.assertEqual(len(self.d.query('SELECT id FROM deploys')), n)

    def test_githubs_documented_signature(self):
        # GitHub's docs sign "Hello, World!" with the secret "It's a Secret
        # to Everybody" (spaces and all): the signature passes (the body is
        # then no JSON: 400, not 401).
        self.start()
        host, port = self.base[len('http://'):].split(':')
        conn = http.client.HTTPConnection(host, int(port), timeout=10 * SLOW)
        conn.request('POST', '/webhooks/github', body=b'Hello, World!', headers={
            'Content-Type': 'application/json', 'X-GitHub-Event': 'ping',
            'X-Hub-Signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d'
                                   '7586c22c46f4379c8b043e17'})
        r = conn.getresponse()
        self.assertEqual(r.status, 400, r.read())
        conn.close()

    def test_redelivery_and_late_events_never_go_back(self):
        self.start(window='1s')
        ext = 500
        first = str(uuid.uuid4())
        self.assertEqual(self.send('deployment', self.deployment(ext), delivery=first)[0], 201)
        ok = str(uuid.uuid4())
        status, got = self.send('deployment_status', self.status('success', ext), delivery=ok)
        self.assertEqual((status, got['status']), (200, 'succeeded'))
        wait_until(lambda: (self.row(ext) or {}).get('verdict') == 'healthy', timeout=10 * SLOW,
                   what='the healthy verdict')
        # The same deliveries again (GitHub redelivers on a timeout): answered,
        # nothing recorded again.
        for event, body, delivery in (('deployment', self.deployment(ext), first),
                                      ('deployment_status', self.status('success', ext), ok)):
            status, got = self.send(event, body, delivery=delivery)
            self.assertEqual((status, got), (200, {'ignored': 'redelivery',
                                                   'delivery': delivery}))
        # The same events under new delivery ids (late, or out of order):
        # the deploy stays succeeded with its verdict.
        status, got = self.send('deployment', self.deployment(ext))
        self.assertEqual((status, got['status']), (200, 'succeeded'), got)
        for state in ('pending', 'queued', 'in_progress', 'success'):
            status, got = self.send('deployment_status', self.status(state, ext))
            self.assertEqual((status, got['status']), (200, 'succeeded'), (state, got))
        time.sleep(1.5 * SLOW)      # a restarted verification would have ended by now
        row = self.row(ext)
        self.assertEqual((row['status'], row['verdict']), ('succeeded', 'healthy'), row)
        self.assertEqual(len(self.deploy_events()), 2, self.deploy_events())
        self.assertEqual(len(self.verdict_events()), 1, self.verdict_events())

    def test_out_of_order(self):
        self.start(window='2s')
        # The success before its deployment: the late deployment changes nothing.
        status, got = self.send('deployment_status', self.status('success', 600))
        self.assertEqual((status, got['status']), (201, 'succeeded'))
        status, got = self.send('deployment', self.deployment(600))
        self.assertEqual((status, got['status']), (200, 'succeeded'))
        # A failure, then an older success: failed stays.
        self.send('deployment', self.deployment(601))
        self.assertEqual(self.send('deployment_status', self.status('failure', 601))[1]['status'],
                         'failed')
        self.assertEqual(self.send('deployment_status', self.status('success', 601))[1]['status'],
                         'failed')
        self.stored(601, status='failed')
        # Success, then failure a second later: failed, and the end of the
        # window does not set it back to succeeded.
        self.send('deployment', self.deployment(602))
        self.assertEqual(self.send('deployment_status', self.status('success', 602))[0], 200)
        wait_until(lambda: (self.row(602) or {}).get('verdict') == 'pending', what='pending')
        time.sleep(0.5)
        self.assertEqual(self.send('deployment_status', self.status('failure', 602))[1]['status'],
                         'failed')
        wait_until(lambda: (self.row(602) or {}).get('verdict') not in (None, 'pending'),
                   timeout=10 * SLOW, what='the verdict of 602')
        time.sleep(2.5 * SLOW)
        row = self.row(602)
        self.assertEqual(row['status'], 'failed', row)
        self.assertNotEqual(row['verdict'], 'pending')

    def test_concurrent_deliveries_make_one_deploy(self):
        # GitHub sends a deployment and its first statuses within
        # milliseconds, on separate connections: one deploy, the latest
        # status, each event once.
        import threading
        self.start(window='5s')
        bodies = [('deployment', self.deployment(1000))] + [
            ('deployment_status', self.status(st, 1000))
            for st in ('queued', 'in_progress', 'pending', 'success')]
        answers = []
        threads = [threading.Thread(target=lambda e=e, b=b: answers.append(self.send(e, b)))
                   for e, b in bodies * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(answers), 10)
        self.assertTrue(all(status in (200, 201) for status, _ in answers), answers)
        self.assertEqual(len({got['id'] for _, got in answers}), 1, answers)
        self.stored(1000, status='succeeded')
        self.assertEqual(len(self.d.query('SELECT id FROM deploys')), 1)
        moves = [m for m in self.deploy_events()]
        self.assertLessEqual(len(moves), 2, moves)      # started (maybe), succeeded

    def test_late_events_after_a_restart(self):
        # The daemon forgets its deliveries when it restarts; the store's
        # forward-only rule still keeps a late event from going back.
        d = self.start(window='1s')
        self.send('deployment', self.deployment(1100))
        self.send('deployment_status', self.status('success', 1100))
        self.stored(1100, status='succeeded', verdict='healthy')
        d.stop()
        d.start()
        self.base = d.http_base()
        status, got = self.send('deployment', self.deployment(1100))
        self.assertEqual((status, got['status']), (200, 'succeeded'), got)
        status, got = self.send('deployment_status', self.status('in_progress', 1100))
        self.assertEqual((status, got['status']), (200, 'succeeded'), got)
        time.sleep(1.5 * SLOW)
        self.stored(1100, status='succeeded', verdict='healthy')
        self.assertEqual(len(self.verdict_events()), 1, self.verdict_events())

    def test_failed_deploys_are_counted(self):
        self.start()
        self.send('deployment', self.deployment(700))
        self.send('deployment_status', self.status('in_progress', 700))
        self.send('deployment_status', self.status('failure', 700))
        self.send('deployment_status', self.status('error', 700))
        line = 'shipwatch_deploys_total{app="hello",env="production",verdict="none"} 1\n'
        wait_until(lambda: line in self.metrics(), what='the failed deploy counted once')
        self.assertNotIn('shipwatch_deploys_total{app="hello",env="production",verdict="none"} 2',
                         self.metrics())

    def test_newer_deployment_does_not_cut_verification_short(self):
        self.start(window='2s')
        self.send('deployment', self.deployment(800))
        self.send('deployment_status', self.status('success', 800))
        # GitHub creates the next deployment before its job runs.
        time.sleep(0.2)
        self.assertEqual(self.send('deployment', self.deployment(801))[0], 201)
        row = wait_until(lambda: (self.row(800) or {}).get('verdict') not in (None, 'pending')
                         and self.row(800), timeout=10 * SLOW, what='the verdict of 800')
        self.assertEqual(row['verdict'], 'healthy', row)
        self.assertNotIn('cut short', row['verdict_reason'])
        m = re.match(r'0 of (\d+) results', row['verdict_reason'])
        self.assertTrue(m and int(m.group(1)) > 0, row['verdict_reason'])

    def test_same_id_another_repository_is_refused(self):
        # A deployment id is its app's: one of another repository (through
        # auto-registered apps) cannot take it over.
        t = self.target()
        d = self.daemon((CONFIG % ('2s', t.base)).replace(
            'daemon:\n', 'daemon:\n  auto-register-apps: true\n'))
        d.start()
        self.base = d.http_base()
        self.d = d
        self.assertEqual(self.send('deployment', self.deployment(900))[0], 201)
        other = self.deployment(900)
        other['repository'] = copy.deepcopy(other['repository'])
        other['repository'].update(full_name='evil/widgets', name='widgets')
        status, got = self.send('deployment_status', dict(self.status('failure', 900),
                                                          repository=other['repository']))
        self.assertEqual(status, 409, got)
        self.stored(900, app='hello', status='started')


if __name__ == '__main__':
    main()
