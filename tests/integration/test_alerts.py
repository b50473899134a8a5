#!/usr/bin/env python3
"""Alerts and notifications: the real daemon against real receivers on
127.0.0.1 (an HTTP receiver, an SMTP sink, prometheus-alertmanager, an exec
script). One alert per incident, delivery with retries that survives
SIGKILL, flapping, silences and maintenance, who may acknowledge,
dependencies and deploys holding alerts back, failed deploys."""
import calendar
import datetime
import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import SHIPWATCH, SLOW, DaemonTest, RpcError, main, wait_until
from receivers import Alertmanager, HttpReceiver, SmtpSink, alertmanager_present

BASE = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 200ms
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
'''

RFC3339_MS = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
ME = pwd.getpwuid(os.getuid()).pw_name   # the author of what the tests do
DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')   # datetime.weekday() order


def rfc3339_ms(ms):
    """Unix milliseconds as the payload writes them."""
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


def parse_rfc3339(s):
    t = datetime.datetime.strptime(s, '%Y-%m-%dT%H:%M:%S.%fZ')
    return calendar.timegm(t.timetuple()) + t.microsecond / 1e6


def webhook(name, url, **opts):
    """A webhook notifier entry; short retries unless opts say otherwise."""
    conf = {'timeout': '2s', 'retry-initial': '200ms', 'retry-max': '2s'}
    conf.update(opts)
    lines = ['  - name: %s' % name, '    type: webhook', '    url: %s' % url]
    lines += ['    %s: %s' % (k, v) for k, v in conf.items()]
    return '\n'.join(lines) + '\n'


def http_check(name, url, app='shop', env='prod', **opts):
    lines = ['  - name: %s' % name, '    type: http', '    url: %s' % url]
    if app:
        lines.append('    app: %s' % app)
    if env:
        lines.append('    env: %s' % env)
    lines += ['    %s: %s' % (k, v) for k, v in opts.items()]
    return '\n'.join(lines) + '\n'


def config(notifiers, checks, rule='  - notify: [hook]\n', extra=''):
    return BASE + 'notifiers:\n' + notifiers + 'alerts:\n' + rule + extra + 'checks:\n' + checks


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} from Prometheus text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ''))
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
    return out


class AlertsTest(DaemonTest):

    # --- helpers ---

    def start(self, text, **kw):
        d = self.daemon(text, **kw)
        d.start()
        return d, self.connect(d)

    def connect(self, d):
        """A client once the daemon's socket answers (after a restart the
        old path may still be there)."""
        def attempt():
            import socket
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(d.socket)
            except OSError:
                return None
            return d.rpc()
        return wait_until(attempt, what='the daemon socket')

    def state(self, rpc, check):
        return rpc.call('checks.get', {'check': check})['state']

    def wait_state(self, rpc, check, state, timeout=10):
        wait_until(lambda: self.state(rpc, check) == state, timeout=timeout,
                   what='%s to be %s' % (check, state))

    def runs(self, rpc, check):
        return rpc.call('checks.get', {'check': check})['runs_total']

    def alerts(self, rpc, **params):
        return rpc.call('alerts.list', params)['alerts']

    def wait_alert(self, rpc, check=None, kind=None, pred=None, timeout=10, **params):
        """The newest alert of check (and kind) in alerts.list(params)."""
        def find():
            for a in self.alerts(rpc, **params):
                if ((check is None or a.get('check') == check) and
                        (kind is None or a['kind'] == kind) and (pred is None or pred(a))):
                    return a
            return None
        return wait_until(find, timeout=timeout,
                          what='an alert for %s (%s) %r' % (check, kind, params))

    def metrics(self, d):
        with urllib.request.urlopen(d.http_base() + '/metrics', timeout=10 * SLOW) as r:
            return parse_metrics(r.read().decode('utf-8'))

    def counter(self, d, name, **labels):
        return self.metrics(d).get((name, frozenset(labels.items())))

    def wait_counter(self, d, name, value, **labels):
        wait_until(lambda: self.counter(d, name, **labels) == value, timeout=10,
                   what='%s%r == %s (now %s)' % (name, labels, value,
                                                 self.counter(d, name, **labels)))

    def exec_script(self, body):
        """A private directory and an executable sh script in it, {work}
        in body naming the directory: (directory, script)."""
        work = tempfile.mkdtemp(prefix='shipwatch-exec-')
        self.addCleanup(shutil.rmtree, work, True)
        script = os.path.join(work, 'page.sh')
        with open(script, 'w', encoding='utf-8') as f:
            f.write('#!/bin/sh\n' + body.replace('{work}', work))
        os.chmod(script, 0o755)
        return work, script

    def quiet(self, seconds=1.5):
        """Let time pass to see that nothing more happens (bounded)."""
        time.sleep(seconds * SLOW)

    def cli(self, d, *args, user=None, cli=SHIPWATCH):
        cmd = [*(user or []), cli, '--socket', d.socket, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)

    def for_alert(self, receiver, alert_id, event=None, delivered=True):
        """Payloads received for one alert (and event), in arrival order."""
        reqs = receiver.delivered() if delivered else receiver.received()
        out = []
        for r in reqs:
            p = r.json()
            if p['alert']['id'] == alert_id and (event is None or p['event'] == event):
                out.append(p)
        return out

    def assert_payload(self, p, event, kind, check, app='shop', env='prod',
                       severity='critical', status=None):
        """The documented fields of the generic payload."""
        self.assertEqual(p['version'], 1, p)
        self.assertEqual(p['event'], event, p)
        self.assertIsInstance(p['delivery_id'], int, p)
        self.assertGreater(p['delivery_id'], 0, p)
        self.assertIsInstance(p['host'], str, p)
        self.assertTrue(p['host'], p)
        self.assertIsInstance(p['shipwatch_version'], str, p)
        self.assertRegex(p['created_at'], RFC3339_MS)
        a = p['alert']
        for key in ('id', 'kind', 'status', 'severity', 'check', 'app', 'env', 'summary',
                    'started_at', 'resolved_at', 'acknowledged_by', 'acknowledged_at',
                    'ack_comment', 'muted_by', 'deploy_id'):
            self.assertIn(key, a, 'payload alert lacks %s: %r' % (key, a))
        self.assertIsInstance(a['id'], int)
        self.assertEqual(a['kind'], kind, p)
        self.assertEqual(a['status'], status or ('resolved' if event == 'resolved' else 'firing'),
                         p)
        self.assertEqual(a['severity'], severity, p)
        self.assertEqual(a['check'], check, p)
        self.assertEqual(a['app'], app, p)
        self.assertEqual(a['env'], env, p)
        self.assertIsInstance(a['summary'], str)
        self.assertTrue(a['summary'])
        self.assertRegex(a['started_at'], RFC3339_MS)
        if event == 'resolved':
            self.assertRegex(a['resolved_at'], RFC3339_MS)
        else:
            self.assertIsNone(a['resolved_at'], p)
        return a

    # --- webhook: one notification per incident ---

    def test_webhook_one_alert_per_incident(self):
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url('/alerts')),
                                   http_check('web', t.url('/health')),
                                   rule='  - notify: [hook]\n    send-on-resolved: true\n'))
        self.wait_state(rpc, 'web', 'up')
        self.quiet(0.5)
        self.assertEqual(hook.received(), [], 'a notification while everything is up')
        self.assertEqual(self.alerts(rpc), [])

        wall0 = time.time()
        t.get('/toggle?state=down')
        first = hook.wait_requests(1, what='the firing notification')[0]
        self.assertEqual(first.method, 'POST')
        self.assertEqual(first.path, '/alerts')
        self.assertIn('json', first.header('Content-Type') or '', first.headers)
        p = first.json()
        a = self.assert_payload(p, 'firing', 'down', 'web')
        self.assertIn('web', a['summary'])
        self.assertIn('down', a['summary'])
        for key in ('acknowledged_by', 'acknowledged_at', 'ack_comment', 'muted_by', 'deploy_id'):
            self.assertIsNone(a[key], '%s in %r' % (key, p))
        started = parse_rfc3339(a['started_at'])
        self.assertGreaterEqual(started, wall0 - 1)
        self.assertLessEqual(started, first.wall + 1)
        created = parse_rfc3339(p['created_at'])
        self.assertGreaterEqual(created, started - 0.001)
        self.assertLessEqual(created, first.wall + 1)

        # The alert on the socket is the one in the payload.
        listed = self.alerts(rpc)
        self.assertEqual(len(listed), 1, listed)
        self.assertEqual(listed[0]['id'], a['id'])
        self.assertEqual(listed[0]['kind'], 'down')
        self.assertEqual(listed[0]['status'], 'firing')
        self.assertEqual(listed[0]['check'], 'web')
        self.assertEqual(listed[0]['severity'], 'critical')
        self.assertEqual(rfc3339_ms(listed[0]['started_ms']), a['started_at'])
        self.assertNotIn('muted_by', listed[0])
        self.assertEqual(listed[0]['resolved_ms'], 0)

        # Many failed runs while down: still one notification, one alert.
        runs = self.runs(rpc, 'web')
        wait_until(lambda: self.runs(rpc, 'web') >= runs + 10, timeout=15,
                   what='10 more runs while down')
        self.assertEqual(self.state(rpc, 'web'), 'down')
        self.assertEqual(len(hook.received()), 1, hook.received())
        listed = self.alerts(rpc)
        self.assertEqual([x['id'] for x in listed], [a['id']])
        self.assertEqual(listed[0]['notifications'], 1, listed)
        self.assertEqual(self.counter(d, 'shipwatch_alerts_firing', severity='critical'), 1)

        # It recovers: one resolved notification for the same alert.
        t.get('/toggle?state=up')
        reqs = hook.wait_requests(2, what='the resolved notification')
        r = reqs[1].json()
        ra = self.assert_payload(r, 'resolved', 'down', 'web')
        self.assertEqual(ra['id'], a['id'])
        self.assertEqual(ra['started_at'], a['started_at'])
        self.assertNotEqual(r['delivery_id'], p['delivery_id'])
        self.assertGreaterEqual(parse_rfc3339(ra['resolved_at']), started)
        self.assertEqual(self.alerts(rpc), [])
        resolved = self.alerts(rpc, status='resolved')
        self.assertEqual([x['id'] for x in resolved], [a['id']])
        self.assertEqual(resolved[0]['status'], 'resolved')
        self.assertGreater(resolved[0]['resolved_ms'], resolved[0]['started_ms'])
        self.quiet()
        self.assertEqual(len(hook.received()), 2, hook.received())
        self.assertEqual(self.counter(d, 'shipwatch_notifications_sent_total', notifier='hook'), 2)
        self.assertEqual(self.counter(d, 'shipwatch_notifications_failed_total', notifier='hook'),
                         0)
        self.assertEqual(self.counter(d, 'shipwatch_alerts_firing', severity='critical'), 0)

        # A second outage is a second incident: a new alert.
        t.get('/toggle?state=down')
        third = hook.wait_requests(3, what='the second incident')[2].json()
        self.assert_payload(third, 'firing', 'down', 'web')
        self.assertGreater(third['alert']['id'], a['id'])
        self.assertEqual(len(self.alerts(rpc, status='all')), 2)

    # --- retries ---

    def test_retry_until_delivered(self):
        hook = self.receiver()
        hook.fail_first(2)
        t = self.target()
        t.get('/toggle?state=down')
        # retry-initial 200 ms (longer when everything is slower, so that
        # the jitter, not the slowness, decides the gaps).
        initial = 0.2 * SLOW
        d, rpc = self.start(config(webhook('hook', hook.url(),
                                           **{'retry-initial': '%dms' % (initial * 1000),
                                              'retry-max': '30s'}),
                                   http_check('web', t.url('/health'))))
        reqs = hook.wait_requests(3, what='two failures and a success')
        self.assertEqual([r.status for r in reqs[:3]], [503, 503, 200])
        ids = [r.json()['delivery_id'] for r in reqs[:3]]
        self.assertEqual(len(set(ids)), 1, 'a retry carries the same delivery_id: %r' % ids)
        self.assertEqual(reqs[0].body, reqs[1].body, 'a retry sends the stored body')
        self.assertEqual(reqs[0].body, reqs[2].body, 'a retry sends the stored body')
        self.assert_payload(reqs[2].json(), 'firing', 'down', 'web')
        g1 = reqs[1].t - reqs[0].t
        g2 = reqs[2].t - reqs[1].t
        # +-20% jitter: the first gap 0.8-1.2 x initial, the second 1.6-2.4 x.
        self.assertGreaterEqual(g1, 0.75 * initial, 'first retry after %.3fs' % g1)
        self.assertGreaterEqual(g2, 1.55 * initial, 'second retry after %.3fs' % g2)
        self.assertGreater(g2, g1, 'the backoff grows: gaps %.3fs then %.3fs' % (g1, g2))
        self.assertLess(g1, 5 * initial, 'first retry after %.3fs' % g1)
        self.assertLess(g2, 10 * initial, 'second retry after %.3fs' % g2)

        self.wait_counter(d, 'shipwatch_notifications_failed_total', 2, notifier='hook')
        self.wait_counter(d, 'shipwatch_notifications_sent_total', 1, notifier='hook')
        self.quiet()
        self.assertEqual(len(hook.received()), 3, 'delivered once: %r' % hook.received())
        self.assertEqual(len(hook.delivered()), 1)
        self.assertEqual(self.counter(d, 'shipwatch_notifications_failed_total', notifier='hook'),
                         2)
        self.assertEqual(self.counter(d, 'shipwatch_notifications_sent_total', notifier='hook'), 1)

    def test_hanging_receiver_times_out(self):
        hook = self.receiver()
        hook.hang()
        t = self.target()
        t.get('/toggle?state=down')
        timeout = 0.5 * SLOW
        initial = 0.2 * SLOW
        d, rpc = self.start(config(webhook('hook', hook.url(), timeout='%dms' % (timeout * 1000),
                                           **{'retry-initial': '%dms' % (initial * 1000),
                                              'retry-max': '%dms' % (5 * initial * 1000)}),
                                   http_check('web', t.url('/health'))))
        first = hook.wait_requests(1, what='the first attempt')[0]
        self.wait_counter(d, 'shipwatch_notifications_failed_total', 1, notifier='hook')
        took = time.monotonic() - first.t
        self.assertGreaterEqual(took, 0.9 * timeout, 'the attempt gave up after %.3fs, before '
                                'its timeout of %.3fs' % (took, timeout))
        self.assertEqual(self.counter(d, 'shipwatch_notifications_sent_total', notifier='hook'), 0)

        hook.answer()
        hook.wait_requests(1, delivered=True, timeout=15, what='the notification after the hang')
        reqs = hook.received()
        self.assertEqual(reqs[-1].status, 200)
        hung = [r for r in reqs if r.status is None]
        self.assertEqual(len(hung), len(reqs) - 1)
        self.assertEqual(len({r.json()['delivery_id'] for r in reqs}), 1, reqs)
        for a, b in zip(reqs, reqs[1:]):
            # The next try comes after the timeout and at least the backoff.
            self.assertGreaterEqual(b.t - a.t, 0.9 * timeout + 0.75 * initial,
                                    'tries %.3fs apart' % (b.t - a.t))
        self.wait_counter(d, 'shipwatch_notifications_sent_total', 1, notifier='hook')
        self.wait_counter(d, 'shipwatch_notifications_failed_total', len(hung), notifier='hook')
        self.quiet()
        self.assertEqual(len(hook.delivered()), 1)
        self.assertEqual(len(hook.received()), len(reqs))

    # --- the other notifier types ---

    def test_email(self):
        sink = self.smtp_sink()
        t = self.target()
        mail = ('  - name: mail\n    type: email\n    url: %s\n'
                '    from: shipwatch@example.com\n    to: [a@example.com, b@example.com]\n'
                '    tls: none\n    retry-initial: 200ms\n' % sink.url)
        d, rpc = self.start(config(mail, http_check('web', t.url('/health')),
                                   rule='  - notify: [mail]\n'))
        self.wait_state(rpc, 'web', 'up')
        t.get('/toggle?state=down')
        m = sink.wait_messages(1)[0]
        self.assertEqual(m.mail_from, 'shipwatch@example.com')
        self.assertEqual(sorted(m.rcpt_tos), ['a@example.com', 'b@example.com'])
        msg = m.message()
        self.assertIn('FIRING', msg['Subject'])
        self.assertIn('web', msg['Subject'])
        self.assertIn('shipwatch@example.com', msg['From'])
        self.assertIn('a@example.com', msg['To'])
        self.assertIn('b@example.com', msg['To'])
        body = msg.get_body(('plain', 'html'))
        self.assertIsNotNone(body, m.data)
        self.assertIn('web', body.get_content())
        self.wait_counter(d, 'shipwatch_notifications_sent_total', 1, notifier='mail')
        self.quiet()
        self.assertEqual(len(sink.received()), 1, 'one message to both recipients')
        self.assertEqual(self.counter(d, 'shipwatch_notifications_failed_total', notifier='mail'),
                         0)

    def test_exec(self):
        t = self.target()
        work, script = self.exec_script(
            'run=$(mktemp "{work}/run.XXXXXX")\n'
            'env | grep "^SHIPWATCH_ALERT_" | sort > "$run.env"\n'
            'printf "%s\\n" "$@" > "$run.args"\n'
            'cat > "$run.stdin"\n'
            'touch "$run.done"\n')
        pager = ('  - name: pager\n    type: exec\n    command: [%s, --team, ops]\n'
                 '    retry-initial: 200ms\n' % script)
        d, rpc = self.start(config(pager, http_check('web', t.url('/health')),
                                   rule='  - notify: [pager]\n'))
        self.wait_state(rpc, 'web', 'up')
        t.get('/toggle?state=down')

        def done():
            return sorted(f[:-5] for f in os.listdir(work) if f.endswith('.done'))
        runs = wait_until(done, what='the exec notifier to run')
        alert = self.wait_alert(rpc, 'web', 'down')
        self.wait_counter(d, 'shipwatch_notifications_sent_total', 1, notifier='pager')
        self.quiet()
        self.assertEqual(len(done()), 1, 'the command ran once: %r' % done())
        run = os.path.join(work, runs[0])
        with open(run + '.args', encoding='utf-8') as f:
            self.assertEqual(f.read(), '--team\nops\n')
        with open(run + '.stdin', encoding='utf-8') as f:
            p = json.load(f)
        self.assert_payload(p, 'firing', 'down', 'web')
        self.assertEqual(p['alert']['id'], alert['id'])
        env = {}
        with open(run + '.env', encoding='utf-8') as f:
            for line in f:
                k, _, v = line.rstrip('\n').partition('=')
                env[k] = v
        self.assertTrue(env, 'no SHIPWATCH_ALERT_* in the environment')
        self.assertEqual(env.get('SHIPWATCH_ALERT_ID'), str(alert['id']), env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_EVENT'), 'firing', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_STATUS'), 'firing', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_KIND'), 'down', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_CHECK'), 'web', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_SEVERITY'), 'critical', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_APP'), 'shop', env)
        self.assertEqual(env.get('SHIPWATCH_ALERT_ENV'), 'prod', env)
        self.assertIn('web', env.get('SHIPWATCH_ALERT_SUMMARY', ''), env)

    def test_exec_starts_clean(self):
        """The command inherits no descriptor but stdio and none of the
        daemon's environment (the unit's EnvironmentFile holds secrets):
        the minimal one, what its environment key names, the alert's."""
        t = self.target()
        # ls opens one descriptor, the lowest free: 3 when none leaked.
        work, script = self.exec_script(
            '/usr/bin/env > "{work}/env.tmp"\n'
            'ls /proc/self/fd > "{work}/fds.tmp"\n'
            'mv "{work}/env.tmp" "{work}/env"; mv "{work}/fds.tmp" "{work}/fds"\n')
        pager = ('  - name: pager\n    type: exec\n    command: [%s]\n'
                 '    environment: {PAGER_TEAM: ops, LANG: C.UTF-8}\n'
                 '    retry-initial: 200ms\n' % script)
        d = self.daemon(config(pager, http_check('web', t.url('/health')),
                               rule='  - notify: [pager]\n'),
                        env={'SHIPWATCH_TEST_SECRET': 'hunter2', 'HOME': '/root'})
        d.start()
        rpc = self.connect(d)
        self.wait_state(rpc, 'web', 'up')
        t.get('/toggle?state=down')
        wait_until(lambda: os.path.exists(os.path.join(work, 'fds')),
                   what='the exec notifier to run')
        with open(os.path.join(work, 'fds'), encoding='utf-8') as f:
            self.assertEqual(f.read().split(), ['0', '1', '2', '3'])
        env = {}
        with open(os.path.join(work, 'env'), encoding='utf-8') as f:
            for line in f:
                k, _, v = line.rstrip('\n').partition('=')
                env[k] = v
        env.pop('PWD', None)   # sh's own
        self.assertNotIn('SHIPWATCH_TEST_SECRET', env)
        self.assertNotIn('hunter2', ''.join(env.values()))
        self.assertEqual(env.pop('PATH'), '/usr/local/bin:/usr/bin:/bin')
        self.assertEqual(env.pop('LANG'), 'C.UTF-8')
        self.assertEqual(env.pop('PAGER_TEAM'), 'ops')
        self.assertEqual(env.get('SHIPWATCH_ALERT_CHECK'), 'web', env)
        self.assertEqual(sorted(k for k in env if not k.startswith('SHIPWATCH_ALERT_')),
                         ['SHIPWATCH_DELIVERY_ID'])

    def test_alertmanager(self):
        am = self.alertmanager()
        t = self.target()
        notifier = ('  - name: am\n    type: alertmanager\n    url: %s\n'
                    '    retry-initial: 200ms\n' % am.base)
        d, rpc = self.start(config(notifier, http_check('web', t.url('/health')),
                                   rule='  - notify: [am]\n    send-on-resolved: true\n'))
        self.wait_state(rpc, 'web', 'up')
        t.get('/toggle?state=down')
        alert = self.wait_alert(rpc, 'web', 'down')

        def ours():
            got = [x for x in am.alerts() if x['labels'].get('check') == 'web']
            return got or None
        got = wait_until(ours, timeout=15, what='the alert in alertmanager')
        self.assertEqual(len(got), 1, got)
        labels = got[0]['labels']
        self.assertEqual(labels, {'alertname': 'shipwatch_down', 'check': 'web', 'app': 'shop',
                                  'env': 'prod', 'severity': 'critical', 'kind': 'down'})
        self.assertEqual(got[0]['annotations'].get('shipwatch_alert_id'), str(alert['id']))
        self.assertIn('web', got[0]['annotations'].get('summary', ''))
        self.assertLess(abs(parse_rfc3339(got[0]['startsAt']) - alert['started_ms'] / 1000), 1.0,
                        got[0])
        self.assertEqual(len(am.alerts()), 1, am.alerts())

        # Resolved: endsAt set, so alertmanager stops listing it as active.
        t.get('/toggle?state=up')
        wait_until(lambda: not am.alerts(), timeout=15, what='alertmanager to see it resolved')
        self.wait_counter(d, 'shipwatch_notifications_sent_total', 2, notifier='am')

    # --- a restart delivers what was owed, once ---

    def test_sigkill_while_owed(self):
        hook = self.receiver()
        hook.hang()
        t = self.target()
        t.get('/toggle?state=down')
        text = config(webhook('hook', hook.url(), timeout='1s',
                              **{'retry-initial': '200ms', 'retry-max': '1s'}),
                      http_check('web', t.url('/health')))
        d, rpc = self.start(text)
        hook.wait_requests(1, what='an attempt that hangs')
        alert = self.wait_alert(rpc, 'web', 'down')
        self.quiet(0.5)
        d.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        self.assertEqual(d.stop(), -signal.SIGKILL)
        self.assertEqual(hook.delivered(), [])

        hook.answer()
        before = len(hook.received())
        d2, rpc2 = self.start(text, workdir=d.dir)
        hook.wait_requests(1, delivered=True, timeout=15, what='the owed notification')
        # A few retry intervals more: no second delivery.
        self.quiet(3)
        delivered = hook.delivered()
        self.assertEqual(len(delivered), 1, delivered)
        p = delivered[0].json()
        self.assert_payload(p, 'firing', 'down', 'web')
        self.assertEqual(p['alert']['id'], alert['id'])
        self.assertEqual(len(self.for_alert(hook, alert['id'], 'firing')), 1)
        self.assertEqual(len(hook.received()) - before, 1, 'the new daemon needed one request')
        # Same delivery as before the kill: the stored row, not a new one.
        first = hook.received()[0].json()
        self.assertEqual(p['delivery_id'], first['delivery_id'])
        # The restart did not open another alert for the same incident.
        self.assertEqual([a['id'] for a in self.alerts(rpc2)], [alert['id']])
        self.assertEqual(self.counter(d2, 'shipwatch_notifications_sent_total', notifier='hook'), 1)

    # --- flapping ---

    def test_flapping(self):
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health')),
                                   rule='  - notify: [hook]\n'
                                        '    flapping: { changes: 4, window: 1m }\n'))
        self.wait_state(rpc, 'web', 'up')
        # 11 changes, each seen by the daemon: down, up, ... down.
        for i in range(11):
            want = 'down' if i % 2 == 0 else 'up'
            t.get('/toggle?state=%s' % want)
            self.wait_state(rpc, 'web', want)
        self.assertEqual(self.state(rpc, 'web'), 'down')
        flap = self.wait_alert(rpc, 'web', 'flapping', status='all')
        hook.wait_requests(1, delivered=True)
        wait_until(lambda: any(p['alert']['kind'] == 'flapping' for p in hook.payloads()),
                   what='the flapping notification')
        self.quiet()

        payloads = hook.payloads()
        kinds = [(p['alert']['kind'], p['event']) for p in payloads]
        flapping = [p for p in payloads if p['alert']['kind'] == 'flapping']
        self.assertEqual(len(flapping), 1, kinds)
        self.assert_payload(flapping[0], 'firing', 'flapping', 'web')
        self.assertEqual(flapping[0]['alert']['id'], flap['id'])
        # Before flapping was seen, at most the downs of changes 1 and 3;
        # after it, no down notification at all.
        downs = [p for p in payloads if p['alert']['kind'] == 'down' and p['event'] == 'firing']
        self.assertLessEqual(len(downs), 2, kinds)
        at = kinds.index(('flapping', 'firing'))
        self.assertNotIn(('down', 'firing'), kinds[at + 1:], kinds)
        self.assertEqual({k for k, _ in kinds} - {'down', 'flapping'}, set(), kinds)

        everything = self.alerts(rpc, status='all', check='web')
        self.assertEqual(len([a for a in everything if a['kind'] == 'flapping']), 1, everything)
        self.assertLessEqual(len([a for a in everything if a['kind'] == 'down']), 2, everything)
        for a in everything:
            if a['kind'] == 'down':
                self.assertLess(a['id'], flap['id'], 'a down alert after flapping: %r' % a)
        # Down now, and flapping: the one flapping alert stands for it.
        open_now = self.alerts(rpc, check='web')
        self.assertEqual([(a['kind'], a['id']) for a in open_now], [('flapping', flap['id'])])

    # --- silences and maintenance ---

    def muted_then_sent(self, hook, rpc, t, muted_by, unmute):
        """The check goes down while a mute matches: the alert is recorded
        with muted_by and nothing is sent; unmute() while still down lets
        the notification go."""
        t.get('/toggle?state=down')
        alert = self.wait_alert(rpc, 'web', 'down')
        self.assertEqual(alert.get('muted_by'), muted_by, alert)
        self.assertEqual(alert['status'], 'firing')
        self.quiet()
        self.assertEqual(hook.received(), [], 'a muted alert was notified')
        if unmute is None:
            return alert
        unmute()
        req = hook.wait_requests(1, what='the notification after the mute ended')[0]
        p = req.json()
        self.assert_payload(p, 'firing', 'down', 'web')
        self.assertEqual(p['alert']['id'], alert['id'])
        self.assertIsNone(p['alert']['muted_by'])
        wait_until(lambda: 'muted_by' not in self.wait_alert(rpc, 'web', 'down'),
                   what='muted_by cleared')
        self.quiet()
        self.assertEqual(len(hook.received()), 1, hook.received())
        return alert

    def silence_setup(self, extra=''):
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health')) +
                                   http_check('other', t.url('/ok'), app='blog'), extra=extra))
        self.wait_state(rpc, 'web', 'up')
        return hook, t, d, rpc

    def test_silence_cli(self):
        hook, t, d, rpc = self.silence_setup()
        out = self.cli(d, 'silence', '--check', 'web', '--for', '1h', '--comment', 'deploying')
        self.assertEqual(out.returncode, 0, out.stderr)
        mutes = rpc.call('alerts.silences')['mutes']
        self.assertEqual(len(mutes), 1, mutes)
        m = mutes[0]
        self.assertEqual(m['kind'], 'silence')
        self.assertEqual(m['check'], 'web')
        self.assertEqual(m['author'], ME)
        self.assertEqual(m['comment'], 'deploying')
        self.assertLessEqual(abs(m['ends_ms'] - m['starts_ms'] - 3600 * 1000), 1000, m)
        self.assertIn(str(m['id']), self.cli(d, 'silences').stdout)

        def unsilence():
            out = self.cli(d, 'unsilence', str(m['id']))
            self.assertEqual(out.returncode, 0, out.stderr)
        self.muted_then_sent(hook, rpc, t, 'silence %d' % m['id'], unsilence)
        self.assertEqual(rpc.call('alerts.silences')['mutes'], [])

    def test_silence_rpc(self):
        hook, t, d, rpc = self.silence_setup()
        m = rpc.call('alerts.silence', {'check': 'web', 'duration_ms': 3600 * 1000,
                                        'comment': 'known'})
        self.assertEqual(m['kind'], 'silence')
        self.assertEqual(m['author'], ME)
        self.assertEqual(m['ends_ms'] - m['starts_ms'], 3600 * 1000)
        # Its event says when it ends as people read time, not in raw ms.
        added = wait_until(lambda: [e[4] for e in d.events('alert.mute') if 'added' in e[4]],
                           what='the alert.mute event')[0]
        self.assertIn('until %s (for 1h): known' % rfc3339_ms(m['ends_ms']), added)
        self.assertNotIn(str(m['ends_ms']), added)
        # A silence of another check mutes nothing here.
        rpc.call('alerts.silence', {'check': 'other', 'duration_ms': 3600 * 1000})
        self.assertEqual(len(rpc.call('alerts.silences')['mutes']), 2)

        def unsilence():
            ended = rpc.call('alerts.unsilence', {'id': m['id']})
            self.assertEqual(ended['id'], m['id'])
            self.assertLessEqual(ended['ends_ms'], int(time.time() * 1000) + 1000)
        self.muted_then_sent(hook, rpc, t, 'silence %d' % m['id'], unsilence)
        with self.assertRaises(RpcError) as e:
            rpc.call('alerts.unsilence', {'id': 999999})
        self.assertEqual(e.exception.code, 'not_found')

    def paged(self):
        """web down and its FIRING delivered, under a send-on-resolved rule:
        the receiver, the target, the daemon, a client and the alert (as
        the payload has it)."""
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health')),
                                   rule='  - notify: [hook]\n    send-on-resolved: true\n'))
        self.wait_state(rpc, 'web', 'up')
        t.get('/toggle?state=down')
        firing = hook.wait_requests(1, what='the firing notification')[0].json()
        return hook, t, d, rpc, self.assert_payload(firing, 'firing', 'down', 'web')

    def test_resolved_while_muted_is_announced(self):
        """An alert whose FIRING went out and that resolves while a silence
        matches it still sends its RESOLVED: a chat channel is never left
        showing FIRING for an incident that is over."""
        hook, t, d, rpc, alert = self.paged()
        m = rpc.call('alerts.silence', {'check': 'web', 'duration_ms': 3600 * 1000})
        self.wait_alert(rpc, 'web', 'down', pred=lambda a: a.get('muted_by') ==
                        'silence %d' % m['id'])
        t.get('/toggle?state=up')
        reqs = hook.wait_requests(2, what='the resolved notification while muted')
        resolved = reqs[1].json()
        self.assert_payload(resolved, 'resolved', 'down', 'web')
        self.assertEqual(resolved['alert']['id'], alert['id'])
        # The silence still holds the next incident's FIRING back.
        t.get('/toggle?state=down')
        self.wait_alert(rpc, 'web', 'down', pred=lambda a: a['id'] != alert['id'])
        self.quiet()
        self.assertEqual(len(hook.received()), 2, hook.received())

    def test_silence_until_resolved(self):
        """A silence made from an alert, until it resolves: no time of its
        own, kept across a restart, ended by the recovery, so the next
        incident pages again."""
        hook, t, d, rpc, alert = self.paged()
        m = rpc.call('alerts.silence', {'check': 'web', 'alert_id': alert['id']})
        self.assertEqual((m['alert_id'], m['ends_ms'], m['check']), (alert['id'], 0, 'web'))
        self.assertEqual([x['id'] for x in rpc.call('alerts.silences')['mutes']], [m['id']])
        added = wait_until(lambda: [e[4] for e in d.events('alert.mute') if 'added' in e[4]],
                           what='the alert.mute event')[0]
        self.assertIn('until alert %d resolves' % alert['id'], added)
        # Kept across a restart.
        self.assertEqual(d.stop(), 0)
        d.start()
        rpc = self.connect(d)
        self.assertEqual([x['alert_id'] for x in rpc.call('alerts.silences')['mutes']],
                         [alert['id']])
        t.get('/toggle?state=up')
        hook.wait_requests(2, what='the resolved notification')
        wait_until(lambda: rpc.call('alerts.silences')['mutes'] == [], what='the silence ended')
        t.get('/toggle?state=down')
        third = hook.wait_requests(3, what='the next incident paging')[2].json()
        self.assert_payload(third, 'firing', 'down', 'web')
        # Only a silence ends with an alert, and only with an open one.
        for method, params, code in (
                ('maintenance.add', {'check': 'web', 'alert_id': alert['id']}, 'invalid_params'),
                ('alerts.silence', {'check': 'web', 'alert_id': alert['id']}, 'not_found'),
                ('alerts.silence', {'check': 'web'}, 'invalid_params')):
            with self.assertRaises(RpcError) as e:
                rpc.call(method, params)
            self.assertEqual(e.exception.code, code, (method, params))

    def test_maintenance_window_configured(self):
        # A recurring window that covers now: it began a few minutes ago.
        begin = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        window = ('maintenance:\n  - name: nightly\n    check: web\n    days: [%s]\n'
                  '    start: "%02d:%02d"\n    duration: 2h\n'
                  % (DAYS[begin.weekday()], begin.hour, begin.minute))
        hook, t, d, rpc = self.silence_setup(extra=window)
        ml = rpc.call('maintenance.list')
        self.assertEqual(len(ml['windows']), 1, ml)
        w = ml['windows'][0]
        self.assertEqual(w['name'], 'nightly')
        self.assertTrue(w['active'], w)
        self.assertEqual(w['duration_ms'], 2 * 3600 * 1000)
        self.assertLessEqual(w['next_start_ms'], time.time() * 1000)
        self.assertGreater(w['next_end_ms'], time.time() * 1000)
        self.muted_then_sent(hook, rpc, t, 'maintenance nightly', None)

    def test_maintenance_add_rpc(self):
        hook, t, d, rpc = self.silence_setup()
        m = rpc.call('maintenance.add', {'check': 'web', 'duration_ms': 3600 * 1000,
                                         'comment': 'db migration'})
        self.assertEqual(m['kind'], 'maintenance')
        self.assertEqual(m['author'], ME)
        ml = rpc.call('maintenance.list')
        self.assertEqual([x['id'] for x in ml['mutes']], [m['id']])
        self.assertEqual(rpc.call('alerts.silences')['mutes'], [])

        def remove():
            self.assertEqual(rpc.call('maintenance.remove', {'id': m['id']})['id'], m['id'])
        self.muted_then_sent(hook, rpc, t, 'maintenance %d' % m['id'], remove)
        self.assertEqual(rpc.call('maintenance.list')['mutes'], [])

    # --- who may acknowledge and silence ---

    def test_non_admin_denied(self):
        if os.getuid() != 0 or shutil.which('setpriv') is None:
            self.skipTest('needs root and setpriv to act as nobody')
        import grp
        nobody = pwd.getpwnam('nobody')
        group = grp.getgrgid(nobody.pw_gid).gr_name
        hook = self.receiver()
        t = self.target()
        t.get('/toggle?state=down')
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health'))))
        alert = self.wait_alert(rpc, 'web', 'down')
        # Let nobody reach the socket through its group; copy the client
        # where nobody can run it.
        os.chmod(d.dir, 0o755)
        os.chown(d.socket, 0, nobody.pw_gid)
        cli = os.path.join(d.dir, 'shipwatch')
        shutil.copy(SHIPWATCH, cli)
        os.chmod(cli, 0o755)
        as_nobody = ['setpriv', '--reuid=nobody', '--regid=%s' % group, '--clear-groups']

        out = self.cli(d, 'alerts', '--json', user=as_nobody, cli=cli)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"web"', out.stdout)
        out = self.cli(d, 'ack', str(alert['id']), user=as_nobody, cli=cli)
        self.assertEqual(out.returncode, 4, out.stderr)
        self.assertIn('alerts.ack', out.stderr)
        self.assertIn('uid %d' % nobody.pw_uid, out.stderr)
        for args in (['silence', '--check', 'web', '--for', '1h'],
                     ['maintenance', 'add', '--check', 'web', '--for', '1h']):
            out = self.cli(d, *args, user=as_nobody, cli=cli)
            self.assertEqual(out.returncode, 4, '%r: %s' % (args, out.stderr))
        a = self.wait_alert(rpc, 'web', 'down')
        self.assertEqual(a['status'], 'firing')
        self.assertNotIn('ack_by', a)
        self.assertEqual(a['ack_ms'], 0)
        self.assertEqual(rpc.call('alerts.silences')['mutes'], [])
        self.assertEqual(rpc.call('maintenance.list')['mutes'], [])

        # An admin (root) may.
        out = self.cli(d, 'ack', str(alert['id']), '--comment', 'on it')
        self.assertEqual(out.returncode, 0, out.stderr)
        a = self.wait_alert(rpc, 'web', 'down')
        self.assertEqual(a['status'], 'acknowledged')
        self.assertEqual(a['ack_by'], 'root')
        self.assertEqual(a['ack_comment'], 'on it')
        self.assertGreater(a['ack_ms'], 0)
        self.assertEqual([x['id'] for x in self.alerts(rpc, status='acknowledged')], [alert['id']])
        self.assertEqual(self.alerts(rpc, status='firing'), [])

    # --- dependencies hold alerts back ---

    def test_depends_on(self):
        hook = self.receiver()
        ta = self.target()
        tb = self.target()
        # The parent turns down at once and recovers after 3 good runs; its
        # children need 3 failures to turn down: the parent is always down
        # first and up last, as a real dependency would be.
        checks = (http_check('db', ta.url('/health'), **{'success-threshold': 3}) +
                  http_check('web1', tb.url('/health'), **{'depends-on': '[db]',
                                                           'failure-threshold': 3}) +
                  http_check('web2', ta.url('/health'), **{'depends-on': '[db]',
                                                           'failure-threshold': 3}))
        d, rpc = self.start(config(webhook('hook', hook.url()), checks))
        for c in ('db', 'web1', 'web2'):
            self.wait_state(rpc, c, 'up')

        ta.get('/toggle?state=down')
        self.wait_state(rpc, 'db', 'down')
        tb.get('/toggle?state=down')
        self.wait_state(rpc, 'web1', 'down')
        self.wait_state(rpc, 'web2', 'down')
        self.wait_alert(rpc, 'db', 'down')
        hook.wait_requests(1, delivered=True)
        self.quiet()
        open_now = self.alerts(rpc)
        self.assertEqual([a['check'] for a in open_now], ['db'], open_now)
        payloads = hook.payloads()
        self.assertEqual([p['alert']['check'] for p in payloads], ['db'], payloads)
        # The children say what holds them; the parent is held by nothing.
        for c in ('web1', 'web2'):
            self.assertEqual(rpc.call('checks.get', {'check': c}).get('held_by'), 'depends-on db')
        self.assertNotIn('held_by', rpc.call('checks.get', {'check': 'db'}))

        # The parent recovers; web1 is still down and gets its alert now,
        # web2 recovered with the parent and never gets one.
        ta.get('/toggle?state=up')
        self.wait_state(rpc, 'db', 'up')
        self.wait_state(rpc, 'web2', 'up')
        web1 = self.wait_alert(rpc, 'web1', 'down')
        self.assertEqual(web1['status'], 'firing')
        hook.wait_requests(2, delivered=True)
        self.quiet()
        self.assertEqual([a['check'] for a in self.alerts(rpc)], ['web1'])
        everything = self.alerts(rpc, status='all')
        self.assertEqual(sorted(a['check'] for a in everything), ['db', 'web1'], everything)
        payloads = hook.payloads()
        self.assertEqual([(p['alert']['check'], p['event']) for p in payloads],
                         [('db', 'firing'), ('web1', 'firing')])

    # --- deploys ---

    DEPLOY_APP = ('apps:\n  - name: shop\n    deploy-token: tok-123\n'
                  '    verify: { window: 2s, interval: 200ms }\n')

    def post_deploy(self, d, body):
        req = urllib.request.Request(d.http_base() + '/api/v1/deploys',
                                     data=json.dumps(body).encode(), method='POST',
                                     headers={'Content-Type': 'application/json',
                                              'Authorization': 'Bearer tok-123'})
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, json.loads(r.read().decode('utf-8'))

    def deploy(self, rpc, dep_id):
        for x in rpc.call('deploys.list', {'app': 'shop'})['deploys']:
            if x['id'] == dep_id:
                return x
        return None

    def test_deploy_quiet_window(self):
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health')),
                                   rule='  - notify: [hook]\n    send-on-resolved: true\n',
                                   extra=self.DEPLOY_APP))
        self.wait_state(rpc, 'web', 'up')
        status, dep = self.post_deploy(d, {'app': 'shop', 'env': 'prod', 'version': '2.0',
                                           'status': 'started', 'id': 'run-1'})
        self.assertEqual(status, 201, dep)

        # The deploy restarts the service: down for a while, then back.
        t.get('/toggle?state=down')
        self.wait_state(rpc, 'web', 'down')
        runs = self.runs(rpc, 'web')
        wait_until(lambda: self.runs(rpc, 'web') >= runs + 5, what='runs while down')
        self.assertEqual(self.alerts(rpc, status='all'), [], 'an alert during the deploy')
        t.get('/toggle?state=up')
        self.wait_state(rpc, 'web', 'up')
        status, upd = self.post_deploy(d, {'app': 'shop', 'env': 'prod', 'version': '2.0',
                                           'status': 'succeeded', 'id': 'run-1'})
        self.assertEqual(status, 200, upd)
        self.assertEqual(upd['id'], dep['id'])

        got = wait_until(lambda: self.deploy(rpc, dep['id']).get('verdict') not in
                         (None, 'pending') and self.deploy(rpc, dep['id']), timeout=15,
                         what='the verdict')
        self.assertEqual(got['verdict'], 'healthy', got)
        self.assertEqual(got['status'], 'succeeded')
        self.quiet()
        self.assertEqual(self.alerts(rpc, status='all'), [])
        self.assertEqual(hook.received(), [], 'a notification for a deploy restart')

    def test_deploy_failed(self):
        hook = self.receiver()
        t = self.target()
        d, rpc = self.start(config(webhook('hook', hook.url()),
                                   http_check('web', t.url('/health')),
                                   extra=self.DEPLOY_APP))
        self.wait_state(rpc, 'web', 'up')
        good = rpc.call('deploys.record', {'app': 'shop', 'env': 'prod', 'version': '2.9'})
        wait_until(lambda: self.deploy(rpc, good['id']).get('verdict') == 'healthy', timeout=15,
                   what='2.9 healthy')
        dep = rpc.call('deploys.record', {'app': 'shop', 'env': 'prod', 'version': '3.0',
                                          'author': 'alice'})
        # A run that started before the deploy and sees the outage (a slow
        # machine, valgrind) dates the outage before it: not blamed, as
        # the daemon should. The outage comes after a run of the deploy's.
        started = self.deploy(rpc, dep['id'])['started_ms']
        wait_until(lambda: rpc.call('checks.get', {'check': 'web'})['last_ms'] > started,
                   what='a run started after the deploy')
        t.get('/toggle?state=down')
        got = wait_until(lambda: self.deploy(rpc, dep['id']).get('verdict') not in
                         (None, 'pending') and self.deploy(rpc, dep['id']), timeout=15,
                         what='the verdict')
        self.assertEqual(got['verdict'], 'failed', got)
        self.assertEqual(got['failing_check'], 'web')

        failed = self.wait_alert(rpc, kind='deploy-failed')
        self.assertEqual(failed['deploy_id'], dep['id'])
        self.assertEqual(failed['app'], 'shop')
        self.assertEqual(failed['env'], 'prod')
        self.assertEqual(failed['status'], 'firing')
        self.assertIn('3.0', failed['summary'])

        def deploy_failed():
            return [p for p in hook.payloads() if p['alert']['kind'] == 'deploy-failed']
        wait_until(deploy_failed, what='the deploy-failed notification')
        self.quiet()
        notes = deploy_failed()
        self.assertEqual(len(notes), 1, notes)
        self.assertEqual(notes[0]['event'], 'firing')
        self.assertEqual(notes[0]['alert']['id'], failed['id'])
        self.assertEqual(notes[0]['alert']['deploy_id'], dep['id'])
        # The check's own outage is an alert of its own (the deploy had
        # succeeded: nothing holds it back).
        downs = [p for p in hook.payloads() if p['alert']['kind'] == 'down']
        self.assertEqual([(p['alert']['check'], p['event']) for p in downs], [('web', 'firing')])
        # Paged during the deploy's verification: the page says which
        # deploy, by whom, how long ago, and what to roll back to.
        down = downs[0]['alert']
        self.assertEqual(down['deploy_id'], dep['id'], down)
        self.assertEqual(down['deploy']['id'], dep['id'], down)
        self.assertEqual(down['deploy']['version'], '3.0', down)
        self.assertEqual(down['deploy']['author'], 'alice', down)
        self.assertEqual(down['deploy']['last_healthy_version'], '2.9', down)
        self.assertRegex(down['deploy']['started_at'], RFC3339_MS)
        self.assertRegex(down['summary'],
                         r'^web is down: .* \(during deploy 3\.0 by alice, \d+s ago; '
                         r'last healthy 2\.9\)$')
        kinds = sorted(a['kind'] for a in self.alerts(rpc))
        self.assertEqual(kinds, ['deploy-failed', 'down'])
        # An alert of the app-env, not of a check (store.h: check is NULL
        # for deploy-failed; absent strings are left out on the wire and
        # null in the payload).
        self.assertNotIn('check', failed)
        self.assert_payload(notes[0], 'firing', 'deploy-failed', None)


class ReceiversTest(unittest.TestCase):
    """The receivers themselves, against ordinary clients: what the tests
    above conclude from them holds."""

    def curl(self, *args):
        return subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', *args],
                              capture_output=True, text=True, timeout=30).stdout

    def test_http_receiver(self):
        if shutil.which('curl') is None:
            self.skipTest('curl is not installed')
        r = HttpReceiver()
        self.addCleanup(r.stop)
        self.assertEqual(self.curl('-H', 'Content-Type: application/json', '-H', 'X-A: 1',
                                   '--data-binary', '{"a": 1}\n', r.url('/x?y=1')), '200')
        q = r.received()[0]
        self.assertEqual((q.method, q.path, q.body, q.status), ('POST', '/x?y=1', b'{"a": 1}\n',
                                                                200))
        self.assertEqual(q.header('content-type'), 'application/json')
        self.assertEqual(q.header('X-A'), '1')
        r.fail_first(2)
        self.assertEqual([self.curl('-d', 'b', r.url()) for _ in range(3)], ['503', '503', '200'])
        r.hang()
        t0 = time.monotonic()
        self.assertEqual(self.curl('--max-time', '0.5', '-d', 'c', r.url()), '000')
        self.assertLess(time.monotonic() - t0, 5)
        r.answer()
        self.assertEqual(self.curl('-H', 'Transfer-Encoding: chunked', '-d', 'chunked', r.url()),
                         '200')
        self.assertEqual([x.status for x in r.received()], [200, 503, 503, 200, None, 200])
        self.assertEqual(r.received()[-1].body, b'chunked')
        self.assertEqual(len(r.delivered()), 3)
        ts = [x.t for x in r.received()]
        self.assertEqual(ts, sorted(ts))
        r.stop()
        r.stop()

    def test_smtp_sink(self):
        s = SmtpSink()
        self.addCleanup(s.stop)
        with smtplib.SMTP('127.0.0.1', s.port, timeout=10) as c:
            self.assertNotIn('starttls', c.ehlo()[1].decode().lower())
            c.sendmail('x@example.com', ['a@example.com', 'b@example.com'],
                       b'Subject: FIRING web\r\nFrom: x@example.com\r\n\r\nhello\r\n')
        m = s.wait_messages(1)[0]
        self.assertEqual(m.mail_from, 'x@example.com')
        self.assertEqual(m.rcpt_tos, ['a@example.com', 'b@example.com'])
        self.assertEqual(m.message()['Subject'], 'FIRING web')
        self.assertIn(b'hello', m.data)

    def test_alertmanager(self):
        if not alertmanager_present():
            if os.environ.get('CI'):
                self.fail('prometheus-alertmanager is missing in CI: scripts/deps.sh installs it')
            self.skipTest('prometheus-alertmanager is not installed')
        am = Alertmanager()
        self.addCleanup(am.stop)
        pid = am.proc.pid

        def post(alerts):
            req = urllib.request.Request(am.base + '/api/v2/alerts', method='POST',
                                         data=json.dumps(alerts).encode(),
                                         headers={'Content-Type': 'application/json'})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        now = datetime.datetime.now(datetime.timezone.utc)
        a = {'labels': {'alertname': 'shipwatch_down', 'check': 'web'},
             'startsAt': (now - datetime.timedelta(seconds=5)).isoformat()}
        self.assertEqual(post([a]), 200)
        self.assertEqual([x['labels'] for x in am.alerts()], [a['labels']])
        a['endsAt'] = now.isoformat()
        self.assertEqual(post([a]), 200)
        self.assertEqual(am.alerts(), [], 'a resolved alert is not listed')
        am.stop()
        self.assertFalse(os.path.exists('/proc/%d' % pid), 'alertmanager outlived stop()')


if __name__ == '__main__':
    main()
