#!/usr/bin/env python3
"""The dashboard as an operator sees it: shipwatch in a tmux pane of fixed
size, driven with send-keys and read with capture-pane."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))
from harness import SHIPWATCH, SLOW, DaemonTest, closed_port, main, wait_until  # noqa: E402

# Fast checks and one webhook, on a closed port, for every alert.
COMMON = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 5s
  failure-threshold: 1
  success-threshold: 1
notifiers:
  - name: hook
    type: webhook
    url: http://127.0.0.1:%d/alerts
    retry-initial: 1s
    retry-max: 5s
alerts:
  - notify: [hook]
'''

BASE = COMMON + '''
checks:
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/health
  - name: api
    app: shop
    env: prod
    type: http
    url: %s/ok
  - name: nightly
    app: batch
    env: prod
    type: exec
    command: [/bin/true]
'''


# One exec check whose plugin prints a message, perfdata and long output.
PLUGIN_CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 1s
checks:
  - name: batch
    type: exec
    command: [/bin/sh, -c, 'echo "OK - 42 rows | rows=42;100;200"; echo loaded table one;
              echo loaded table two']
'''


# The night page of issue 19: shop/prod with four checks; 1.4.0 judged
# healthy, then 1.5.0 and its checkout failing right after.
INCIDENT = COMMON + '''
apps:
  - name: shop
    verify: { window: 1s, interval: 200ms }
checks:
  - name: home
    app: shop
    env: prod
    type: http
    url: %s/ok
  - name: search
    app: shop
    env: prod
    type: http
    url: %s/ok
  - name: checkout
    app: shop
    env: prod
    type: http
    url: %s/health
  - name: catalog
    app: shop
    env: prod
    type: http
    url: %s/json
'''


class Pane:
    """A tmux server of our own with one pane running the dashboard."""

    def __init__(self, cmd, width=100, height=30, env=None):
        self.sock = os.path.join(tempfile.mkdtemp(prefix='shipwatch-tmux-'), 'tmux')
        self.done = os.path.join(os.path.dirname(self.sock), 'exit')
        env_prefix = ' '.join('%s=%s' % kv for kv in (env or {}).items())
        shell = "%s %s; echo EXIT=$? > %s; echo EXIT=$(cat %s); sleep 600" % (
            env_prefix, cmd, self.done, self.done)
        self.tmux('new-session', '-d', '-s', 't', '-x', str(width), '-y', str(height),
                  'sh', '-c', shell)

    def tmux(self, *args):
        return subprocess.run(['tmux', '-S', self.sock, *args], capture_output=True, text=True,
                              timeout=10)

    def screen(self):
        return self.tmux('capture-pane', '-p', '-t', 't').stdout

    def keys(self, *keys):
        self.tmux('send-keys', '-t', 't', *keys)

    def resize(self, w, h):
        self.tmux('resize-window', '-t', 't', '-x', str(w), '-y', str(h))

    def wait(self, pred, what, timeout=10):
        """The screen, once pred(screen) holds."""
        def check():
            s = self.screen()
            return s if pred(s) else None
        try:
            return wait_until(check, timeout=timeout, what=what + ' on screen')
        except AssertionError as e:
            raise AssertionError('%s\n--- screen ---\n%s' % (e, self.screen())) from None

    def exit_code(self):
        try:
            with open(self.done) as f:
                return int(f.read().split('=')[1])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def kill(self):
        self.tmux('kill-server')


def alert_row(screen, check):
    """The alerts view's line of a check's alert."""
    for line in screen.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0].isdigit() and parts[4] == check:
            return line
    return ''


def row(screen, name):
    """The overview line of a check: its alerts' mark (! a m) or nothing,
    then its state and its name."""
    for line in screen.splitlines():
        parts = line.split()
        if parts and parts[0] in ('!', 'a', 'm'):
            parts = parts[1:]
        if len(parts) >= 2 and parts[1] == name:
            return line
    return ''


class DashboardTest(DaemonTest):

    def setUp(self):
        super().setUp()
        if shutil.which('tmux') is None:
            self.skipTest('tmux is not installed')

    def pane(self, d, width=100, height=30, env=None):
        p = Pane('%s --socket %s' % (SHIPWATCH, d.socket), width, height,
                 dict({'LANG': 'C.UTF-8', 'TERM': 'screen'}, **(env or {})))
        self._stoppers.append(lambda: p.kill() and None)
        return p

    def incident(self):
        """The daemon of INCIDENT once 1.4.0 is judged healthy and 1.5.0,
        recorded after it, failed on checkout."""
        t = self.target()
        d = self.daemon(INCIDENT % (closed_port(), t.base, t.base, t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        rpc = d.rpc()

        def record(version, **extra):
            subprocess.run([SHIPWATCH, '--socket', d.socket, 'deploy', 'record', '--app', 'shop',
                            '--env', 'prod', '--version', version,
                            *sum((['--' + k, v] for k, v in extra.items()), [])],
                           check=True, capture_output=True)

        def verdict(version):
            for dp in rpc.call('deploys.list', {'app': 'shop'})['deploys']:
                if dp['version'] == version:
                    return dp.get('verdict')
            return None

        wait_until(lambda: all(c['state'] == 'up' for c in rpc.call('checks.list')['checks']),
                   what='every check up')
        record('1.4.0')
        wait_until(lambda: verdict('1.4.0') == 'healthy', what='1.4.0 judged healthy')
        record('1.5.0', commit='9f3c2ab', author='ana', url='https://ci.example.com/runs/77')
        t.get('/toggle?state=down')
        wait_until(lambda: verdict('1.5.0') == 'failed', what='1.5.0 judged failed')
        return d, t, rpc

    def test_incident_first_screen(self):
        """Paged at night: at 80x24, with no key pressed, within 5 seconds
        the first screen says which check broke, since which deploy, and
        what to roll back to."""
        d, t, rpc = self.incident()
        p = self.pane(d, 80, 24)
        s = p.wait(lambda s: 'DOWN' in row(s, 'checkout') and 'roll back to 1.4.0' in s,
                   'the three answers', timeout=5)
        head = [line for line in s.splitlines() if line.startswith('shop / prod')]
        self.assertEqual(len(head), 1, s)
        self.assertRegex(head[0], r'deploy 1\.5\.0 .*FAILED → roll back to 1\.4\.0$')
        self.assertIn('503', row(s, 'checkout'))
        self.assertLessEqual(max(len(x) for x in s.splitlines()), 80)
        # Its alert is firing: the mark on its row, the count in the header.
        s = p.wait(lambda s: row(s, 'checkout').startswith('!'), "checkout's firing mark")
        self.assertRegex(s.splitlines()[0], r'\b2 firing\s+connected$')

    def test_incident_deploys_and_details(self):
        """At 80 columns the deploys say how each went before who shipped
        it; Enter opens a deploy and an alert in full, q and Esc go back."""
        d, t, rpc = self.incident()
        p = self.pane(d, 80, 24)
        p.wait(lambda s: 'roll back to 1.4.0' in s, 'the overview')
        p.keys('2')
        s = p.wait(lambda s: 'VERDICT' in s and '1.5.0' in s, 'the deploys view')
        head = [line for line in s.splitlines() if line.startswith('ID ')][0]
        order = [head.index(c) for c in ('VERSION', 'STATUS', 'VERDICT', 'ROLLBACK', 'COMMIT')]
        self.assertEqual(order, sorted(order), head)
        failed = [line for line in s.splitlines() if ' 1.5.0 ' in line][0]
        self.assertRegex(failed, r'1\.5\.0\s+succeeded\s+FAILED\s+1\.4\.0\s+9f3c2ab')
        self.assertLessEqual(max(len(x) for x in s.splitlines()), 80)

        # Enter: the deploy in full, its checks' results in its window.
        p.keys('Enter')
        s = p.wait(lambda s: 'checks in the window' in s and 'loading' not in s,
                   'the deploy view')
        self.assertRegex(s, r'deploy \d+\s+1\.5\.0\s+shop/prod\s+FAILED → roll back to 1\.4\.0')
        self.assertIn('reason    checkout is down after the deploy', s)
        self.assertRegex(s, r'commit\s+9f3c2ab\s+author ana')
        self.assertIn('https://ci.example.com/runs/77', s)
        window = {line.split()[1]: line.split() for line in s.splitlines()
                  if line.split()[:1] in (['UP'], ['DOWN'])}
        self.assertEqual(sorted(window), ['catalog', 'checkout', 'home', 'search'])
        self.assertGreater(int(window['checkout'][3]), 0)
        self.assertEqual(window['home'][3], '0')
        self.assertIn('503', ' '.join(window['checkout']))
        # q goes back to the list, not out of the dashboard.
        p.keys('q')
        p.wait(lambda s: 'VERDICT' in s and 'checks in the window' not in s, 'the deploys again')
        self.assertIsNone(p.exit_code())

        # Enter on an alert: its whole text, who acknowledged it, history.
        p.keys('3')
        s = p.wait(lambda s: re.search(r'^\d+\s+FIRING\s+down\s+checkout ', s, re.M),
                   "checkout's alert")
        rows = [line for line in s.splitlines() if re.match(r'\d+\s', line)]
        at = [i for i, line in enumerate(rows) if ' checkout ' in line][0]
        p.keys('Home', *['j'] * at, 'Enter')
        s = p.wait(lambda s: 'history' in s and 'not acknowledged' in s, 'the alert view')
        alert_id = int(re.search(r'^alert (\d+)\s+FIRING\s+critical down\s+checkout', s,
                                 re.M).group(1))
        self.assertIn('summary   checkout is down: HTTP 503', s)
        self.assertRegex(s, r'alert %d firing' % alert_id)
        self.assertRegex(s, r'notified\s+1 queued')
        rpc.call('alerts.ack', {'id': alert_id, 'comment': 'rolling back to 1.4.0'})
        s = p.wait(lambda s: 'rolling back to 1.4.0' in s and 'acknowledged by' in s,
                   'the acknowledgement in the alert view')
        self.assertRegex(s, r'acked\s+by \S+ .*: rolling back to 1\.4\.0')
        p.keys('Escape')
        p.wait(lambda s: re.search(r'^\d+\s+ACKED\s+down\s+checkout ', s, re.M),
               'the alerts again')
        self.assertIsNone(p.exit_code())

    def test_problems_first(self):
        """Forty checks at 80x24: the one down is on the first screen,
        under its group; what the screen hides is counted."""
        checks = ''.join('''
  - name: svc%02d
    app: shop
    env: prod
    type: tcp
    host: 127.0.0.1
    port: %d
    interval: 5s
''' % (i, port) for i, port in enumerate([self.listener()] * 39 + [closed_port()]))
        d = self.daemon('''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  failure-threshold: 1
checks:''' + checks)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, 80, 24)
        s = p.wait(lambda s: 'DOWN' in row(s, 'svc39') and '22 more' in s, 'svc39 on top')
        lines = s.splitlines()
        self.assertTrue(lines[3].startswith('shop / prod'), s)
        self.assertEqual(row(s, 'svc39'), lines[4].rstrip())
        self.assertIn('↓ 22 more', lines[-2])
        self.assertNotIn('not up', lines[-2])
        # In the configuration's order it would be below the fold: the
        # marker names it.
        p.keys(':', 'sort app', 'Enter')
        s = p.wait(lambda s: 'sort: app' in s and row(s, 'svc39') == '', 'sorted by app')
        self.assertIn('↓ 22 more (1 not up)', s.splitlines()[-2])
        p.keys('End')
        s = p.wait(lambda s: row(s, 'svc39') != '', 'the last row')
        self.assertIn('↑ 21 above', s.splitlines()[-2])

    def test_many_checks(self):
        """12,005 checks, over two pages of checks.list: every one is there,
        grouped by app, and the filter finds one from the last page."""
        n = 12005
        checks = ''.join('  - {name: c%05d, app: app%d, type: tcp, host: 127.0.0.1, port: 9, '
                         'interval: 60s}\n' % (i, i // 1000) for i in range(n))
        d = self.daemon('''
daemon:
  socket: {socket}
storage:
  path: {db}
checks:
''' + checks)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, 80, 24)
        s = p.wait(lambda s: re.search(r'more', s) and 'c00000' in s, 'the first screen',
                   timeout=30)
        # Every check is either on the screen or counted below it.
        self.assertRegex(s.splitlines()[-2], r'↓ (\d+) more')
        more = int(re.search(r'↓ (\d+) more', s).group(1))
        shown = len(re.findall(r' c\d{5} ', s))
        self.assertGreater(shown, 10, s)
        self.assertEqual(more + shown, n, s)
        p.keys('/', 'c12004', 'Enter')
        s = p.wait(lambda s: row(s, 'c12004') != '', 'the filter finding c12004')
        self.assertIn('app12', s)
        self.assertEqual(row(s, 'c12003'), '')
        self.assertIsNone(p.exit_code())

    def test_check_view_shows_locations(self):
        """A "locations: all" check: each location's own state on the
        check view at 80x24."""
        if shutil.which('redis-server') is None:
            self.skipTest('redis-server is not installed')
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
        import servers
        # A cluster needs Redis AUTH and a key of its own (docs/scaling.md).
        redis = servers.RedisServer(password='tui-redis-pass-0123').__enter__()
        self._stoppers.append(lambda: redis.__exit__(None, None, None) and None)
        t = self.target()
        t.get('/toggle?state=down')
        d = self.daemon('''
daemon:
  socket: {socket}
storage:
  path: {db}
redis:
  url: %s
  key: tui-cluster-key-0123456789
cluster: night
node-name: eu-1
checks:
  - name: everywhere
    type: http
    url: %s/health
    interval: 300ms
    failure-threshold: 1
    locations: all
''' % (redis.url, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, 80, 24)
        p.wait(lambda s: 'DOWN' in row(s, 'everywhere'), 'everywhere down')
        p.keys('Home', 'Enter')
        s = p.wait(lambda s: re.search(r'^locations eu-1 DOWN \S+ \(HTTP 503\)', s, re.M),
                   "the location's state")
        self.assertIn('recent results', s)

    def listener(self):
        """A TCP port on 127.0.0.1 that accepts, until the test ends."""
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(('127.0.0.1', 0))
        srv.listen(64)
        self._stoppers.append(lambda: srv.close())
        return srv.getsockname()[1]

    def test_dashboard(self):
        t = self.target()
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d)
        s = p.wait(lambda s: 'UP' in row(s, 'web') and 'UP' in row(s, 'api'), 'web and api up')
        self.assertIn('shop / prod', s)
        self.assertIn('batch / prod', s)
        self.assertIn('connected', s.splitlines()[0])
        self.assertRegex(s.splitlines()[0], r'3 up\s+0 down')

        # The target goes down: DOWN on its row within its interval, then back.
        t.get('/toggle?state=down')
        s = p.wait(lambda s: 'DOWN' in row(s, 'web') and '503' in row(s, 'web'), 'web down',
                   timeout=5)
        t.get('/toggle?state=up')
        p.wait(lambda s: 'UP' in row(s, 'web'), 'web up again', timeout=5)

        # Filtering narrows the rows.
        p.keys('/', 'a', 'p', 'i', 'Enter')
        s = p.wait(lambda s: row(s, 'web') == '' and row(s, 'api') != '', 'the filter')
        self.assertIn('filter: api', s)
        p.keys('Escape')
        p.wait(lambda s: row(s, 'web') != '', 'the filter cleared')

        # A recorded deploy shows on the detail view's time axis.
        subprocess.run([SHIPWATCH, '--socket', d.socket, 'deploy', 'record', '--app', 'shop',
                        '--env', 'prod', '--version', '4.2.0'], check=True, capture_output=True)
        p.wait(lambda s: 'deploy 4.2.0' in s, 'the deploy on the app row')
        # In one write, as a loaded machine delivers them: Enter is read
        # before any redraw, so Home itself must land on a check.
        p.keys('Home', 'Enter')
        s = p.wait(lambda s: 'recent results' in s and '^' in s, 'the detail view')
        self.assertIn('deploy 4.2.0', s)
        self.assertRegex(s, r'UP\s+web\s+shop/prod')
        # Uptime figures (none yet: nothing is rolled up in the first
        # minute) and the run counts fit the line at 80 columns.
        self.assertRegex(s, r'up 24h \S+ 7d \S+ 30d \S+; p95 1h \S+; \d+ runs, \d+ skipped')
        p.keys('Escape')
        p.wait(lambda s: 'STATE' in s and row(s, 'nightly') != '', 'back to the overview')

        # Other views.
        p.keys('2')
        p.wait(lambda s: 'VERSION' in s and '4.2.0' in s, 'the deploys view')
        p.keys('4')
        p.wait(lambda s: 'MESSAGE' in s and 'deploy shop/prod 4.2.0' in s, 'the events view')
        # Alerts: web's first outage is over, so none is open; a second one is.
        p.keys('3')
        p.wait(lambda s: 'CHECK/APP-ENV' in s and 'no open alerts' in s, 'the alerts view')
        t.get('/toggle?state=down')
        # web down in the window of the deploy recorded above also fails
        # that deploy at once: its alert fires beside web's.
        s = p.wait(lambda s: 'FIRING' in alert_row(s, 'web') and 'deploy of 4.2.0' in s,
                   "web's alert and the deploy's firing")
        self.assertRegex(s.splitlines()[0], r'\b2 firing')
        self.assertIn('down', alert_row(s, 'web'))
        # a: acknowledge, with a comment typed on the status line.
        p.keys('a')
        p.wait(lambda s: 'comment (optional)' in s, 'the acknowledge prompt')
        p.keys('looking', 'Enter')
        p.wait(lambda s: 'ACKED' in alert_row(s, 'web'), 'the alert acknowledged')
        rpc = d.rpc()
        a = rpc.call('alerts.list', {'check': 'web'})['alerts'][0]
        self.assertEqual((a['status'], a['ack_comment']), ('acknowledged', 'looking'))
        # Esc cancels a prompt.
        p.keys('a')
        p.wait(lambda s: 'comment (optional)' in s, 'the prompt again')
        p.keys('Escape')
        p.wait(lambda s: 'cancelled' in s, 'the prompt cancelled')
        # s: silence the alert's check until the alert resolves, unless
        # told otherwise.
        p.keys('s')
        p.wait(lambda s: 'silence web (Tab: shop/prod) until resolved, or for: _' in s,
               'the silence prompt')
        p.keys('Enter')
        s = p.wait(lambda s: re.search(r'silence \d+', alert_row(s, 'web')), 'the alert muted')
        mutes = rpc.call('alerts.silences')['mutes']
        self.assertEqual([(m['check'], m.get('app'), m['ends_ms'], m['alert_id']) for m in mutes],
                         [('web', None, 0, a['id'])])
        # u: the silence goes.
        p.keys('u')
        p.wait(lambda s: alert_row(s, 'web') != '' and 'silence' not in alert_row(s, 'web'),
               'the alert unmuted')
        self.assertEqual(rpc.call('alerts.silences')['mutes'], [])
        t.get('/toggle?state=up')
        # web's alert resolves; the deploy's verdict stays.
        s = p.wait(lambda s: alert_row(s, 'web') == '' and 'deploy of 4.2.0' in s,
                   'the alert resolved')
        self.assertRegex(s.splitlines()[0], r'\b1 firing')
        p.keys('?')
        p.wait(lambda s: 'Keys' in s and 'pause (asks)' in s and 'unsilence' in s, 'the help')
        p.keys('Escape', '1')

        # Resizing keeps a sane layout.
        for w, h in ((60, 20), (200, 60), (100, 30)):
            p.resize(w, h)
            s = p.wait(lambda s, w=w: row(s, 'web') != '' and
                       max(len(x) for x in s.splitlines()) <= w, 'a %dx%d layout' % (w, h))
            self.assertLessEqual(len(s.splitlines()), h)
            self.assertIn('Overview', s)

        # The daemon restarts: a banner, then live data again.
        self.assertEqual(d.stop(), 0)
        p.wait(lambda s: 'daemon unreachable' in s, 'the banner')
        d.start()
        s = p.wait(lambda s: 'daemon unreachable' not in s and 'reconnected' in s,
                   'the reconnection', timeout=20)
        p.wait(lambda s: 'UP' in row(s, 'web'), 'live data again')

        # q quits and gives the terminal back.
        p.keys('q')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')
        self.assertEqual(p.exit_code(), 0)
        s = p.wait(lambda s: 'EXIT=0' in s, 'the shell again')
        self.assertNotIn('Overview', s)

    def test_command_line(self):
        """`:` as in k9s: views, checks and quitting by name."""
        t = self.target()
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d)
        p.wait(lambda s: 'UP' in row(s, 'web') and 'UP' in row(s, 'api'), 'web and api up')
        # The help lists the keys and the commands, both from the table.
        p.keys('?')
        s = p.wait(lambda s: 'Keys' in s and 'Commands' in s, 'the help')
        self.assertIn(':quit (:q)', s)
        self.assertIn('pause (asks)', s)
        p.keys('Escape')
        p.wait(lambda s: 'Commands' not in s, 'the help closed')

        def command(text):
            p.keys(':')
            p.wait(lambda s: s.splitlines()[-1].strip().startswith(':_'), 'the command line')
            p.keys(text, 'Enter')

        command('alerts')
        p.wait(lambda s: 'CHECK/APP-ENV' in s, 'the alerts view')
        command('events')
        p.wait(lambda s: 'MESSAGE' in s, 'the events view')
        command('d')
        p.wait(lambda s: 'VERSION' in s, 'the deploys view by alias')
        command('alert')
        p.wait(lambda s: 'CHECK/APP-ENV' in s, 'the alerts view in the singular')
        command('deploy')
        p.wait(lambda s: 'VERSION' in s, 'the deploys view in the singular, as k9s')
        command('check api')
        p.wait(lambda s: 'recent results' in s and re.search(r'UP\s+api\s+shop/prod', s),
               "api's check view")
        command('o')
        p.wait(lambda s: 'STATE' in s and row(s, 'web') != '', 'the overview')
        command('bogus')
        p.wait(lambda s: 'unknown command: bogus' in s, 'an unknown command')
        # Esc leaves the command line and runs nothing.
        p.keys(':', 'q', 'Escape')
        p.wait(lambda s: 'cancelled' in s, 'the command line cancelled')
        self.assertIsNone(p.exit_code())
        # Checks by name: pause, resume, run.
        command('pause api')
        p.wait(lambda s: 'api paused' in s and 'paused' in row(s, 'api'), 'api paused')
        rpc = d.rpc()
        self.assertTrue([c for c in rpc.call('checks.list')['checks']
                         if c['name'] == 'api'][0]['paused'])
        command('resume api')
        p.wait(lambda s: 'api resumed' in s and 'http' in row(s, 'api'), 'api resumed')
        command('run web')
        p.wait(lambda s: re.search(r'web: up in', s), 'the run')
        command('run nosuch')
        p.wait(lambda s: 'no check called nosuch' in s, 'an unknown check')
        command('filter api')
        s = p.wait(lambda s: row(s, 'web') == '' and row(s, 'api') != '', 'the filter')
        self.assertIn('filter: api', s)
        command('sort name')
        p.wait(lambda s: 'sort: name' in s, 'sorted by name')
        # :q quits and gives the terminal back.
        command('q')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')
        self.assertEqual(p.exit_code(), 0)

    def start_base(self, width=80, height=24, env=None):
        """The three checks of BASE up, on an 80x24 dashboard."""
        t = self.target()
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, width, height, env)
        p.wait(lambda s: all('UP' in row(s, c) for c in ('web', 'api', 'nightly')), 'all up')
        return t, d, p

    def paused(self, d, check):
        return [c for c in d.rpc().call('checks.list')['checks'] if c['name'] == check][0][
            'paused']

    def walk(self, p, steps):
        """For each (keys, check): after the keys, Enter opens check's view
        (so the selection is on it); then back."""
        for keys, check in steps:
            p.keys(*keys)
            p.keys('Enter')
            p.wait(lambda s, c=check: 'recent results' in s and
                   re.search(r'\b%s\s+\S+/prod' % c, s), "%s's check view after %s" % (check, keys))
            p.keys('Escape')
            p.wait(lambda s: 'STATE' in s, 'the overview again')

    def test_pause_asks_first(self):
        """One stray p must not stop monitoring: it asks, and only y pauses."""
        t, d, p = self.start_base()
        p.keys('Home', 'p')
        s = p.wait(lambda s: 'pause web until resumed?' in s, 'the question')
        self.assertIn('[y/N]', s.splitlines()[-1])
        p.keys('n')
        p.wait(lambda s: 'web not paused' in s, 'the answer no')
        self.assertFalse(self.paused(d, 'web'))
        # Any key but y is a no, Enter included.
        p.keys('p')
        p.wait(lambda s: 'pause web until resumed?' in s, 'the question again')
        p.keys('Enter')
        p.wait(lambda s: 'web not paused' in s, 'Enter is a no')
        self.assertFalse(self.paused(d, 'web'))
        p.keys('p')
        p.wait(lambda s: 'pause web until resumed?' in s, 'the question once more')
        p.keys('y')
        p.wait(lambda s: 'web paused' in s and 'paused' in row(s, 'web'), 'web paused')
        self.assertTrue(self.paused(d, 'web'))
        # Resuming is safe: no question.
        p.keys('p')
        p.wait(lambda s: 'web resumed' in s and 'http' in row(s, 'web'), 'web resumed')
        self.assertFalse(self.paused(d, 'web'))

    def test_pause_only_where_a_check_is_selected(self):
        """The events and alerts views select an event or an alert: p is not
        theirs, and their footers do not offer it."""
        t, d, p = self.start_base()
        s = p.screen()
        self.assertIn('p pause', s.splitlines()[-1])
        self.assertIn('o sort', s.splitlines()[-1])
        self.assertNotIn('s sort', s)
        for view, title in (('4', 'MESSAGE'), ('3', 'CHECK/APP-ENV'), ('2', 'VERSION')):
            p.keys(view)
            s = p.wait(lambda s, title=title: title in s, 'view ' + view)
            self.assertNotIn('p pause', s.splitlines()[-1])
            p.keys('Home', 'p')
            time.sleep(0.5 * SLOW)
            self.assertNotIn('pause', p.screen().splitlines()[-1])
        self.assertFalse(self.paused(d, 'web'))
        p.keys('3')
        s = p.wait(lambda s: 'CHECK/APP-ENV' in s, 'the alerts view')
        self.assertIn('s silence', s.splitlines()[-1])
        self.assertNotIn('o sort', s.splitlines()[-1])

    def test_sort_is_o_silence_is_s(self):
        """o orders the overview; s never sorts (it silences, on an alert)."""
        t, d, p = self.start_base()
        self.assertIn('sort: problems', p.screen())
        p.keys('o')
        p.wait(lambda s: 'sort: app' in s, 'the next order')
        p.keys('s')
        p.wait(lambda s: 'no alert selected' in s, 's is not sort')
        self.assertIn('sort: app', p.screen())

    def test_q_goes_back_from_the_check_view(self):
        t, d, p = self.start_base()
        p.keys('2', 'Tab', 'Tab')
        p.wait(lambda s: 'MESSAGE' in s, 'the events view')
        p.keys('1', 'Home', 'Enter')
        p.wait(lambda s: 'recent results' in s, 'the check view')
        self.assertIn('q back', p.screen().splitlines()[-1])
        p.keys('q')
        p.wait(lambda s: 'STATE' in s and row(s, 'web') != '', 'back to the overview')
        self.assertIsNone(p.exit_code())
        p.keys('F10')
        wait_until(lambda: p.exit_code() is not None, what='F10 to quit')
        self.assertEqual(p.exit_code(), 0)

    def test_vim_moves(self):
        """gg, G, Ctrl-f/b/d/u move the selection as in vim and less."""
        t, d, p = self.start_base()
        self.walk(p, [(['G'], 'nightly'), (['g', 'g'], 'web'), (['C-f'], 'nightly'),
                      (['C-b'], 'web'), (['C-d'], 'nightly'), (['C-u'], 'web'),
                      # A g then another key: that key, not gg.
                      (['G', 'g', 'k'], 'api')])

    def test_filter_state_type_and_n(self):
        """/ matches state and type too, in any case; n and N walk the matches."""
        t, d, p = self.start_base()
        p.keys('/', 'E', 'X', 'E', 'C', 'Enter')
        p.wait(lambda s: row(s, 'nightly') != '' and row(s, 'web') == '' and
               row(s, 'api') == '', 'the filter by type')
        p.keys('Escape')
        t.get('/toggle?state=down')
        p.wait(lambda s: 'DOWN' in row(s, 'web'), 'web down')
        p.keys('/', 'D', 'o', 'w', 'n', 'Enter')
        p.wait(lambda s: row(s, 'web') != '' and row(s, 'api') == '', 'the filter by state')
        p.keys('Escape')
        t.get('/toggle?state=up')
        p.wait(lambda s: 'UP' in row(s, 'web'), 'web up again')
        p.keys('/', 'h', 't', 't', 'p', 'Enter')
        p.wait(lambda s: row(s, 'web') != '' and row(s, 'api') != '' and
               row(s, 'nightly') == '', 'the http checks')
        self.walk(p, [(['Home', 'n'], 'api'), (['n'], 'web'), (['N'], 'api')])

    def record(self, d, version):
        subprocess.run([SHIPWATCH, '--socket', d.socket, 'deploy', 'record', '--app', 'shop',
                        '--env', 'prod', '--version', version], check=True, capture_output=True)

    def test_check_view_at_80x24(self):
        """Results and state changes both show; minutes of history fill the
        graph's width; every deploy on it is labelled."""
        t, d, p = self.start_base()
        self.record(d, '4.1.0')
        t.get('/toggle?state=down')
        p.wait(lambda s: 'DOWN' in row(s, 'web'), 'web down')
        t.get('/toggle?state=up')
        p.wait(lambda s: 'UP' in row(s, 'web'), 'web up')
        self.record(d, '4.2.0')
        p.keys('Home', 'Enter')
        s = p.wait(lambda s: 'web: down -> up' in s and '4.2.0' in s, 'the check view')
        lines = s.splitlines()
        heading = [i for i, x in enumerate(lines) if x.startswith('state changes')]
        self.assertEqual(len(heading), 1, s)
        # Under the heading, before the footer: the changes, newest first.
        self.assertIn('web: down -> up', lines[heading[0] + 1])
        self.assertIn('web: up -> down', lines[heading[0] + 2])
        results = [x for x in lines[:heading[0]] if re.match(r'(UP|DOWN) +\d\d:\d\d:\d\d', x)]
        self.assertGreaterEqual(len(results), 3, s)
        # Both deploys labelled (a second apart, on one mark), and the graph
        # spans the history it has, a minute at the least.
        self.assertIn('4.1.0 4.2.0', s)
        self.assertRegex(s, r'\.\. now \(1m of 1h\)')

    def test_events_at_80_columns(self):
        """A pause reaches the tail as it happens, its TYPE whole; the
        message has the room CHECK and APP took."""
        t, d, p = self.start_base()
        p.keys('4')
        p.wait(lambda s: 'MESSAGE' in s, 'the events view')
        self.assertNotIn('CHECK', p.screen().splitlines()[2])
        self.record(d, '4.1.0')
        t.get('/toggle?state=down')
        d.rpc().call('checks.pause', {'check': 'api'})
        s = p.wait(lambda s: re.search(r' pause +api paused by uid \d+', s) and
                   re.search(r' deploy\.verdict +deploy shop/prod 4\.1\.0 verdict failed', s),
                   'the pause and the verdict in the tail')
        d.rpc().call('checks.resume', {'check': 'api'})
        p.wait(lambda s: re.search(r' resume +api resumed by uid', s), 'the resume')

    def test_sparkline_marks_failures_without_colour(self):
        t, d, p = self.start_base(120, 24, {'NO_COLOR': '1'})
        p.wait(lambda s: 'RECENT' in s, 'the sparkline column')
        t.get('/toggle?state=down')
        s = p.wait(lambda s: 'xxx' in row(s, 'web'), 'failures marked x')
        self.assertNotIn('x', row(s, 'api'))

    def test_banner_at_80_columns(self):
        t, d, p = self.start_base()
        self.assertEqual(d.stop(), 0)
        s = p.wait(lambda s: 'daemon unreachable, reconnecting' in s, 'the banner')
        self.assertTrue(all(len(x) <= 80 for x in s.splitlines()))

    def test_silence_choices(self):
        """s on an alert offers its check or its app/env, until resolved or
        for a time; a deploy's alert, which has no check, its app/env until
        resolved: never all of shop/prod for an hour unasked."""
        t, d, p = self.start_base()
        self.record(d, '4.1.0')
        t.get('/toggle?state=down')
        p.keys('3')
        s = p.wait(lambda s: re.search(r'FIRING +down +web ', s) and
                   re.search(r'FIRING +deploy-failed +shop/prod', s),
                   "web's alert and the deploy's")
        # At 80 columns nothing muted leaves MUTED out: the summary keeps its room.
        self.assertRegex(s, r'(?m)^ID +STATUS +KIND +CHECK/APP-ENV +AGE +SUMMARY$')
        rpc = d.rpc()
        alerts = {a.get('check') or a['kind']: a for a in rpc.call('alerts.list')['alerts']}
        # Newest first: which of the two rows is the deploy's.
        deploy_row, web_row = (('Home', 'End') if alerts['deploy-failed']['id'] > alerts['web']['id']
                               else ('End', 'Home'))
        p.keys(deploy_row, 's')
        p.wait(lambda s: 'silence shop/prod until resolved, or for: _' in s, 'its prompt')
        self.assertNotIn('Tab:', p.screen().splitlines()[-1])
        p.keys('Tab', 'Enter')
        p.wait(lambda s: 'until alert %d resolves' % alerts['deploy-failed']['id'] in s,
               'the deploy silenced until resolved')
        # web's alert: Tab to its app/env, and a time instead.
        p.keys(web_row, 's')
        p.wait(lambda s: 'silence web (Tab: shop/prod) until resolved' in s, "web's prompt")
        p.keys('Tab')
        p.wait(lambda s: 'silence shop/prod (Tab: web) until resolved' in s, 'the app/env')
        p.keys('3', '0', 'm')
        p.wait(lambda s: 'silence shop/prod (Tab: web) for: 30m_' in s, 'a duration typed')
        p.keys('Enter')
        p.wait(lambda s: re.search(r'silence \d+ until \d{4}-', s), 'silenced for 30 minutes')
        mutes = sorted((m.get('check'), m.get('app'), m.get('env'), m['alert_id'],
                        m['ends_ms'] and m['ends_ms'] - m['starts_ms'])
                       for m in rpc.call('alerts.silences')['mutes'])
        self.assertEqual(mutes, sorted([(None, 'shop', 'prod', alerts['deploy-failed']['id'], 0),
                                        (None, 'shop', 'prod', 0, 30 * 60 * 1000)]))

    def test_alert_actions_denied(self):
        """Someone who may read but not act: "permission denied", no crash."""
        if os.getuid() != 0 or shutil.which('setpriv') is None:
            self.skipTest('needs root and setpriv to act as nobody')
        import grp
        import pwd
        nobody = pwd.getpwnam('nobody')
        group = grp.getgrgid(nobody.pw_gid).gr_name
        t = self.target()
        t.get('/toggle?state=down')
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        os.chmod(d.dir, 0o755)
        os.chown(d.socket, 0, nobody.pw_gid)
        cli = os.path.join(d.dir, 'shipwatch')
        shutil.copy(SHIPWATCH, cli)
        os.chmod(cli, 0o755)
        p = Pane('setpriv --reuid=nobody --regid=%s --clear-groups %s --socket %s' %
                 (group, cli, d.socket), 100, 30, {'LANG': 'C.UTF-8', 'TERM': 'screen'})
        self._stoppers.append(lambda: p.kill() and None)
        p.wait(lambda s: 'Overview' in s, 'the dashboard')
        p.keys('3')
        p.wait(lambda s: 'FIRING' in alert_row(s, 'web'), "web's alert")
        p.keys('a')
        p.wait(lambda s: 'comment (optional)' in s, 'the acknowledge prompt')
        p.keys('Enter')
        p.wait(lambda s: 'permission denied' in s, 'the denial')
        p.keys('s')
        p.wait(lambda s: 'silence web (Tab: shop/prod) until resolved' in s, 'the silence prompt')
        p.keys('Enter')
        s = p.wait(lambda s: 'permission denied: silencing' in s, 'the second denial')
        self.assertIn('FIRING', alert_row(s, 'web'))
        self.assertIsNone(p.exit_code())
        rpc = d.rpc()
        self.assertEqual(rpc.call('alerts.list', {'check': 'web'})['alerts'][0]['status'],
                         'firing')
        self.assertEqual(rpc.call('alerts.silences')['mutes'], [])
        p.keys('q')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')
        self.assertEqual(p.exit_code(), 0)

    def test_signals_restore_the_terminal(self):
        t = self.target()
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        for sig, code in (('TERM', 143), ('HUP', 129)):
            p = self.pane(d, 80, 24)
            p.wait(lambda s: 'Overview' in s, 'the dashboard')
            subprocess.run(['pkill', '-%s' % sig, '-f', '^%s --socket %s$' % (SHIPWATCH, d.socket)])
            wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit on ' + sig)
            self.assertEqual(p.exit_code(), code)
            s = p.wait(lambda s: 'EXIT=%d' % code in s, 'the shell again')
            self.assertNotIn('Overview', s)
            p.kill()

    def test_plain_terminal(self):
        """Not UTF-8 and NO_COLOR: ASCII drawing, states still read."""
        t = self.target()
        d = self.daemon(BASE % (closed_port(), t.base, t.base))
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, 80, 24, {'LANG': 'C', 'LC_ALL': 'C', 'NO_COLOR': '1'})
        s = p.wait(lambda s: 'UP' in row(s, 'web'), 'web up')
        self.assertTrue(all(ord(ch) < 128 for ch in s), s)
        p.keys('Enter')
        s = p.wait(lambda s: 'recent results' in s, 'the detail view')
        self.assertTrue(all(ord(ch) < 128 for ch in s), s)
        # q in the check view goes back; q on a tab quits.
        p.keys('q')
        p.wait(lambda s: 'STATE' in s and row(s, 'nightly') != '', 'back to the overview')
        self.assertIsNone(p.exit_code())
        p.keys('q')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')

    def test_check_view_shows_plugin_output(self):
        """The check view shows what a plugin said: message, perfdata, long output."""
        d = self.daemon(PLUGIN_CONFIG)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        p = self.pane(d, 100, 40)
        p.wait(lambda s: 'UP' in row(s, 'batch'), 'batch up')
        p.keys('Home')
        p.keys('Enter')
        # The message comes with the results; the long output with the
        # check view's own checks.get, a moment later.
        s = p.wait(lambda s: 'recent results' in s and "OK - 42 rows | 'rows'=42;100;200" in s
                   and 'loaded table two' in s, 'the plugin output in the check view')
        self.assertIn('loaded table one', s)
        # F10 quits from a sub-view too.
        p.keys('F10')
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to exit')
        self.assertEqual(p.exit_code(), 0)

    def fake_daemon(self, answer):
        """A socket that answers the first request with answer(msgid)."""
        import msgpack
        path = os.path.join(tempfile.mkdtemp(prefix='shipwatch-it-'), 'fake.sock')
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(4)
        self._stoppers.append(lambda: srv.close())

        def serve():
            try:
                c, _ = srv.accept()
                unpacker = msgpack.Unpacker(raw=False)
                unpacker.feed(c.recv(4096))
                c.sendall(answer(next(unpacker)[1]))
                time.sleep(5)
                c.close()
            except (OSError, StopIteration):
                pass

        threading.Thread(target=serve, daemon=True).start()
        return path

    def dashboard_gives_up(self, path, message):
        p = Pane('%s --socket %s' % (SHIPWATCH, path), 80, 24, {'LANG': 'C.UTF-8'})
        self._stoppers.append(lambda: p.kill() and None)
        wait_until(lambda: p.exit_code() is not None, what='the dashboard to give up')
        self.assertEqual(p.exit_code(), 1)
        s = p.wait(lambda s: 'EXIT=1' in s, 'the shell again')
        self.assertIn(message, s)
        self.assertNotIn('Overview', s)

    def test_garbage_from_the_daemon(self):
        path = self.fake_daemon(lambda msgid: b'\xc1\xc1 this is not msgpack-rpc')
        self.dashboard_gives_up(path, 'shipwatch: the daemon sent a malformed message')

    def test_another_protocol(self):
        import msgpack
        path = self.fake_daemon(lambda msgid: msgpack.packb(
            [1, msgid, None, {'protocol': 99, 'version': '9.0.0'}]))
        self.dashboard_gives_up(path, 'shipwatch: the daemon speaks protocol 99, this client 1')

    def test_without_a_terminal(self):
        out = subprocess.run([SHIPWATCH, '--socket', '/nonexistent'], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL)
        self.assertEqual(out.returncode, 2)
        self.assertIn('needs a terminal', out.stderr)


if __name__ == '__main__':
    main()
