#!/usr/bin/env python3
"""The socket: every method and CLI subcommand, concurrency, slow and hostile
clients, authorization by uid, and claiming the socket path."""
import calendar
import json
import os
import random
import re
import select
import resource
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

import msgpack

from harness import (SHIPWATCH, SHIPWATCHD, SLOW, SOURCE_ROOT, WRAPPER, DaemonTest, Rpc, RpcError,
                     closed_port, main, wait_until)

# RSS bounds only mean something without valgrind or sanitizers.
PLAIN = SLOW == 1 and not WRAPPER

BASE = '''
daemon:
  socket: {socket}
  %s
storage:
  path: {db}
defaults:
  interval: %s
  timeout: 2s
  failure-threshold: 1
  success-threshold: 1
checks:
'''

# Appended after the checks: a notifier nobody listens on, a rule for every
# check, a recurring maintenance window. The window opens twelve hours from
# now, so the alerts of app shop are not muted by it whenever the tests run.
NIGHTLY = time.strftime('%H:00', time.gmtime(time.time() + 12 * 3600))
ALERTING = '''
notifiers:
  - name: hook
    type: webhook
    url: http://127.0.0.1:%d/alerts
    retry-initial: 1s
    retry-max: 5s
alerts:
  - notify: [hook]
maintenance:
  - name: nightly
    app: shop
    days: [sat, sun]
    start: "%s"
    duration: 2h
'''


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class SocketTest(DaemonTest):

    def start(self, checks, daemon_extra='', interval='1s', **kw):
        d = self.daemon(BASE % (daemon_extra, interval) + checks, **kw)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        return d

    def cli(self, d, *args, check=True, user=None):
        cmd = [SHIPWATCH, '--socket', d.socket, *args]
        if user is not None:
            cmd = user + cmd
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)
        if check and out.returncode != 0:
            self.fail('%s exited %d: %s' % (' '.join(args), out.returncode, out.stderr))
        return out

    def cli_json(self, d, *args):
        return json.loads(self.cli(d, *args, '--json').stdout)

    def web_and_db(self):
        t = self.target()
        return '''
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/ok
  - name: db
    app: shop
    env: prod
    type: tcp
    host: 127.0.0.1
    port: %d
  - name: api
    app: api
    env: staging
    type: http
    url: %s/ok
''' % (t.base, closed_port(), t.base)

    # --- every method ---

    def test_methods(self):
        d = self.start(self.web_and_db())
        c = d.rpc()
        wait_until(lambda: c.call('checks.get', {'check': 'db'})['runs_total'] >= 1,
                   what='a first run')

        hello = c.call('daemon.hello', {'client': 'again', 'protocol': 1})
        self.assertEqual(hello['protocol'], 1)
        self.assertRegex(hello['version'], r'^\d+\.\d+\.\d+')
        self.assertIn('checks.run', hello['capabilities'])
        self.assertIn('topic:results', hello['capabilities'])
        self.assertEqual(hello['pid'], d.proc.pid)
        self.assertEqual(hello['uid'], os.getuid())
        self.assertTrue(hello['admin'])

        wait_until(lambda: c.call('checks.get', {'check': 'web'})['state'] == 'up',
                   what='web up')
        st = c.call('status.get')
        self.assertEqual(st['checks'], 3)
        self.assertEqual(st['down'], 1)
        self.assertEqual(st['store'], 'sqlite')
        self.assertGreaterEqual(st['clients'], 1)
        apps = {(a['app'], a['env']): a for a in st['apps']}
        self.assertEqual(apps[('shop', 'prod')]['state'], 'down')
        self.assertEqual(apps[('shop', 'prod')]['down'], 1)
        self.assertEqual(apps[('api', 'staging')]['up'], 1)

        names = [x['name'] for x in c.call('checks.list')['checks']]
        self.assertEqual(sorted(names), ['api', 'db', 'web'])
        self.assertEqual([x['name'] for x in c.call('checks.list', {'app': 'api'})['checks']],
                         ['api'])
        self.assertEqual([x['name'] for x in c.call('checks.list', {'state': 'down'})['checks']],
                         ['db'])
        with self.assertRaises(RpcError) as e:
            c.call('checks.list', {'state': 'sideways'})
        self.assertEqual(e.exception.code, 'invalid_params')

        db = c.call('checks.get', {'check': 'db'})
        self.assertEqual(db['type'], 'tcp')
        self.assertRegex(db['target'], r'^127\.0\.0\.1:\d+$')
        self.assertIn('refused', db['last_error'])
        with self.assertRaises(RpcError) as e:
            c.call('checks.get', {'check': 'nope'})
        self.assertEqual(e.exception.code, 'not_found')
        self.assertIn('nope', e.exception.message)
        with self.assertRaises(RpcError) as e:
            c.call('checks.get', {})
        self.assertEqual(e.exception.code, 'invalid_params')
        self.assertIn('check: missing', e.exception.message)
        with self.assertRaises(RpcError) as e:
            c.call('checks.get', {'check': 5})
        self.assertIn('check: expected a string', e.exception.message)

        # run: answers with the run's own result
        before = c.call('checks.get', {'check': 'web'})['runs_total']
        r = c.call('checks.run', {'check': 'web'})
        self.assertEqual(r['check'], 'web')
        self.assertEqual(r['outcome'], 'up')
        self.assertEqual(r['status'], 200)
        self.assertGreater(c.call('checks.get', {'check': 'web'})['runs_total'], before)
        r = c.call('checks.run', {'check': 'db'})
        self.assertEqual(r['outcome'], 'down')
        self.assertIn('refused', r['error'])

        # pause and resume
        self.assertEqual(c.call('checks.pause', {'check': 'db'}), {'check': 'db', 'paused': True})
        self.assertTrue(c.call('checks.get', {'check': 'db'})['paused'])
        runs = c.call('checks.get', {'check': 'db'})['runs_total']
        time.sleep(2.5)
        self.assertEqual(c.call('checks.get', {'check': 'db'})['runs_total'], runs,
                         'a paused check ran')
        self.assertEqual(c.call('status.get')['paused'], 1)
        self.assertEqual(c.call('checks.resume', {'check': 'db'})['paused'], False)
        wait_until(lambda: c.call('checks.get', {'check': 'db'})['runs_total'] > runs,
                   what='the resumed check to run')

        # history
        h = c.call('checks.history', {'check': 'web', 'limit': 2})
        self.assertEqual(h['granularity'], 'raw')
        self.assertEqual(len(h['rows']), 2)
        self.assertGreaterEqual(h['rows'][0]['ts_ms'], h['rows'][1]['ts_ms'])
        self.assertEqual(h['rows'][0]['outcome'], 'up')
        self.assertEqual(h['rows'][0]['status'], 200)
        now = int(time.time() * 1000)
        h = c.call('checks.history', {'check': 'web', 'from_ms': now - 7 * 86400000,
                                      'to_ms': now})
        self.assertEqual(h['granularity'], 'hour')
        h = c.call('checks.history', {'check': 'web', 'from_ms': now - 90 * 86400000,
                                      'to_ms': now})
        self.assertEqual(h['granularity'], 'day')
        h = c.call('checks.history', {'check': 'web', 'granularity': 'day'})
        self.assertEqual(h['granularity'], 'day')
        for bad in ({'check': 'web', 'granularity': 'weekly'}, {'check': 'web', 'limit': -1},
                    {'check': 'web', 'limit': 10001}, {'check': 'web', 'from_ms': now,
                                                       'to_ms': now - 1}):
            with self.assertRaises(RpcError) as e:
                c.call('checks.history', bad)
            self.assertEqual(e.exception.code, 'invalid_params', bad)
        with self.assertRaises(RpcError) as e:
            c.call('checks.history', {'check': 'nope'})
        self.assertEqual(e.exception.code, 'not_found')

        # deploys
        sub = d.rpc()
        self.assertEqual(sub.call('events.subscribe', {'topics': ['deploys']}),
                         {'topics': ['deploys']})
        dep = c.call('deploys.record', {'app': 'shop', 'env': 'prod', 'version': '1.4.2',
                                        'commit': 'a1b2c3d', 'author': 'ana'})
        self.assertGreater(dep['id'], 0)
        self.assertEqual(dep['source'], 'cli')
        self.assertEqual(dep['status'], 'succeeded')
        self.assertGreater(dep['started_ms'], 0)
        n = sub.notice()
        self.assertEqual(n['topic'], 'deploys')
        self.assertEqual(n['type'], 'deploy')
        self.assertEqual(n['app'], 'shop')
        self.assertIn('1.4.2', n['message'])
        self.assertEqual(json.loads(n['data'])['deploy_id'], dep['id'])
        dep2 = c.call('deploys.record', {'app': 'api', 'env': 'staging', 'version': '9',
                                         'status': 'started'})
        self.assertEqual(dep2['id'], dep['id'] + 1)
        self.assertEqual(dep2['finished_ms'], 0)
        for bad in ({'app': 'shop', 'env': 'prod'}, {'app': '', 'env': 'p', 'version': '1'},
                    {'app': 'a', 'env': 'p', 'version': '1', 'status': 'maybe'},
                    {'app': 'a' * 300, 'env': 'p', 'version': '1'}):
            with self.assertRaises(RpcError) as e:
                c.call('deploys.record', bad)
            self.assertEqual(e.exception.code, 'invalid_params', bad)
        ds = c.call('deploys.list')['deploys']
        self.assertEqual([x['id'] for x in ds], [dep2['id'], dep['id']])
        self.assertEqual(ds[1]['commit'], 'a1b2c3d')
        self.assertEqual([x['version'] for x in c.call('deploys.list', {'app': 'shop'})['deploys']],
                         ['1.4.2'])
        self.assertEqual(c.call('deploys.list', {'before_id': dep2['id']})['deploys'][0]['id'],
                         dep['id'])

        # events: filters and paging
        ev = c.call('events.list', {'type': 'deploy'})
        self.assertEqual([e['type'] for e in ev['events']], ['deploy', 'deploy'])
        self.assertEqual(ev['next_before_id'], 0)
        page = c.call('events.list', {'limit': 2})
        self.assertEqual(len(page['events']), 2)
        self.assertEqual(page['next_before_id'], page['events'][-1]['id'])
        more = c.call('events.list', {'limit': 2, 'before_id': page['next_before_id']})
        self.assertLess(more['events'][0]['id'], page['events'][-1]['id'])
        self.assertTrue(all(e['check'] == 'db' for e in
                            c.call('events.list', {'check': 'db'})['events']))

        # subscribe and unsubscribe
        self.assertEqual(sub.call('events.subscribe', {'topics': ['results', 'log']})['topics'],
                         ['results', 'deploys', 'log'])
        n = sub.notice()
        while n['topic'] != 'results':
            n = sub.notice()
        self.assertIn(n['check'], ('web', 'db', 'api'))
        self.assertIn(n['outcome'], ('up', 'down'))
        self.assertGreater(n['duration_us'], 0)
        self.assertEqual(sub.call('events.unsubscribe', {'topics': ['results']})['topics'],
                         ['deploys', 'log'])
        self.assertEqual(sub.call('events.unsubscribe')['topics'], [])
        self.assertEqual(sub.call('events.subscribe')['topics'],
                         ['results', 'states', 'deploys', 'alerts', 'log'])
        with self.assertRaises(RpcError) as e:
            sub.call('events.subscribe', {'topics': ['gossip']})
        self.assertEqual(e.exception.code, 'invalid_params')

        # reload: counts, then an invalid file is refused with its messages
        text = d.config_text()
        d.write_config(text.replace('  - name: api', '  - name: api2'))
        r = c.call('daemon.reload')
        self.assertEqual(r, {'checks': 3, 'added': 1, 'removed': 1, 'changed': 0,
                             'unchanged': 2})
        d.write_config(text + '    bogus-key: 1\n')
        with self.assertRaises(RpcError) as e:
            c.call('daemon.reload')
        self.assertEqual(e.exception.code, 'invalid_config')
        self.assertRegex(e.exception.message, r'shipwatch\.yml:\d+:\d+: .*bogus-key')
        self.assertEqual(c.call('status.get')['checks'], 3)

        # checks.stats: one row per check with history (figures are in the
        # store's unit tests; here the shape through the socket).
        stats = c.call('checks.stats')['stats']
        for row in stats:
            self.assertIn(row['check'], ('web', 'db', 'api'))
            self.assertEqual(len(row['spark']), 30)
            self.assertGreaterEqual(row['runs_7d'], row['runs_24h'])
            self.assertGreaterEqual(row['runs_30d'], row['runs_7d'])
            self.assertIn('uptime_30d_ppm', row)

        with self.assertRaises(RpcError) as e:
            c.call('no.such.method')
        self.assertEqual(e.exception.code, 'no_method')
        with self.assertRaises(RpcError) as e:
            c.call('checks.list', [1])
        self.assertEqual(e.exception.code, 'invalid_params')

    def test_checks_list_pages(self):
        """checks.list answers a page at a time, in configuration order:
        next names the last check of a page while more follow; filters hold
        across pages; a bad page is refused; the client reads every page."""
        n = 12005               # over two default pages (5,000)
        checks = ''.join('  - {name: c%05d, app: %s, type: tcp, host: 127.0.0.1, port: 9, '
                         'interval: 60s}\n' % (i, 'odd' if i % 2 else 'even') for i in range(n))
        d = self.start(checks)
        c = d.rpc(timeout=30 * SLOW)
        first = c.call('checks.list')
        self.assertEqual(len(first['checks']), 5000)
        self.assertEqual(first['next'], 'c04999')
        self.assertEqual(first['checks'][-1]['name'], 'c04999')

        names, after, pages = [], None, 0
        while True:
            page = c.call('checks.list', {'limit': 3000, **({'after': after} if after else {})})
            names += [x['name'] for x in page['checks']]
            pages += 1
            after = page.get('next')
            if after is None:
                break
            self.assertEqual(after, page['checks'][-1]['name'])
        self.assertEqual(pages, 5)
        self.assertEqual(names, ['c%05d' % i for i in range(n)])

        # A filter pages over the checks it passes: next is the last shown.
        odd = c.call('checks.list', {'app': 'odd', 'limit': 2})
        self.assertEqual([x['name'] for x in odd['checks']], ['c00001', 'c00003'])
        self.assertEqual(odd['next'], 'c00003')
        odd = c.call('checks.list', {'app': 'odd', 'limit': 2, 'after': 'c11999'})
        self.assertEqual([x['name'] for x in odd['checks']], ['c12001', 'c12003'])
        self.assertNotIn('next', odd)
        # The last check, exactly a page: no next.
        last = c.call('checks.list', {'limit': 1, 'after': 'c12003'})
        self.assertEqual([x['name'] for x in last['checks']], ['c12004'])
        self.assertNotIn('next', last)
        self.assertEqual(c.call('checks.list', {'after': 'c12004'})['checks'], [])

        for bad, code in (({'limit': -1}, 'invalid_params'), ({'limit': 10001}, 'invalid_params'),
                          ({'after': 'nope'}, 'not_found'), ({'after': 'x' * 60000}, 'not_found'),
                          ({'after': 7}, 'invalid_params'), ({'limit': 'ten'}, 'invalid_params')):
            with self.assertRaises(RpcError) as e:
                c.call('checks.list', bad)
            self.assertEqual(e.exception.code, code, bad)

        # checks.stats pages by name in byte order, over the configured
        # checks; the last page runs on to the end.
        st = c.call('checks.stats')
        self.assertEqual(st['next'], 'c04999')
        st = c.call('checks.stats', {'after': st['next'], 'limit': 7000})
        self.assertEqual(st['next'], 'c11999')
        st = c.call('checks.stats', {'after': st['next']})
        self.assertNotIn('next', st)
        self.assertNotIn('next', c.call('checks.stats', {'after': 'c12004'}))
        self.assertNotIn('next', c.call('checks.stats', {'after': 'zzz'}))
        self.assertEqual(c.call('checks.stats', {'after': '', 'limit': 1})['next'], 'c00000')
        for bad in ({'limit': 0.5}, {'limit': -3}, {'limit': 10001}, {'after': 3}):
            with self.assertRaises(RpcError) as e:
                c.call('checks.stats', bad)
            self.assertEqual(e.exception.code, 'invalid_params', bad)

        listed = self.cli_json(d, 'checks')['checks']
        self.assertEqual([x['name'] for x in listed], ['c%05d' % i for i in range(n)])
        self.assertEqual(len(self.cli_json(d, 'checks', '--app', 'odd')['checks']), n // 2)
        self.assertEqual(d.stop(), 0)

    def test_run_waits_for_a_slow_check_and_reload_removal(self):
        t = self.target()
        d = self.start('''
  - name: slow
    type: http
    url: %s/slow?ms=1500
    interval: 1h
''' % t.base)
        c = d.rpc(timeout=30)
        t0 = time.monotonic()
        r = c.call('checks.run', {'check': 'slow'})
        self.assertEqual(r['outcome'], 'up')
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        # A check removed while a caller waits for it: not_found, not a hang.
        c.request('checks.run', {'check': 'slow'}, msgid=77)
        time.sleep(0.3)
        d.write_config(d.config_text().replace('name: slow', 'name: other'))
        self.assertEqual(d.rpc().call('daemon.reload')['removed'], 1)
        with self.assertRaises(RpcError) as e:
            c.response(77)
        self.assertEqual(e.exception.code, 'not_found')
        self.assertIn('removed', e.exception.message)

    # --- the CLI ---

    def test_cli(self):
        d = self.start(self.web_and_db())
        c = d.rpc()
        wait_until(lambda: c.call('checks.get', {'check': 'web'})['runs_total'] >= 3 and
                   c.call('checks.get', {'check': 'db'})['state'] == 'down', timeout=20,
                   what='three runs')

        # A check down: status exits 2, like a monitoring plugin.
        status = self.cli(d, 'status', check=False)
        self.assertEqual(status.returncode, 2, status.stderr)
        out = status.stdout
        self.assertIn('3 checks: 2 up, 1 down, 0 degraded, 0 unknown, 0 paused', out)
        self.assertRegex(out, r'APP +ENV +STATE +UP +DOWN')
        self.assertRegex(out, r'\nshop +prod +down +1 +1 ')
        st = json.loads(self.cli(d, 'status', '--json', check=False).stdout)
        self.assertEqual((st['checks'], st['up'], st['down']), (3, 2, 1))
        st = json.loads(self.cli(d, '--json', 'status', check=False).stdout)
        self.assertEqual(st['pid'], d.proc.pid)

        out = self.cli(d, 'checks').stdout
        lines = out.splitlines()
        self.assertRegex(lines[0], r'^NAME +APP +ENV +TYPE +STATE +LAST +TOOK +PROBLEM$')
        row = [ln for ln in lines if ln.startswith('db ')][0]
        self.assertRegex(row, r'^db +shop +prod +tcp +down +.*refused')
        # columns line up: every row's STATE starts where the header's does
        col = lines[0].index('STATE')
        self.assertTrue(all(ln[col - 2:col] == '  ' for ln in lines[1:]), out)
        js = self.cli_json(d, 'checks', '--app', 'api')
        self.assertEqual([x['name'] for x in js['checks']], ['api'])
        out = self.cli(d, 'checks', 'db').stdout
        self.assertIn('name:       db', out)
        self.assertIn('state:      down', out)
        self.assertEqual(self.cli_json(d, 'checks', 'db')['name'], 'db')
        out = self.cli(d, 'checks', 'nope', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr, 'shipwatch: checks.get: no check named nope\n')

        out = self.cli(d, 'history', 'web', '--limit', '3').stdout.splitlines()
        self.assertRegex(out[0], r'^TIME +OUTCOME +STATUS +TOOK +PROBLEM$')
        self.assertEqual(len(out), 4)
        self.assertRegex(out[1], r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +up +200 ')
        h = self.cli_json(d, 'history', 'web', '--since', '7d')
        self.assertEqual(h['granularity'], 'hour')
        out = self.cli(d, 'history', 'web', '--granularity', 'minute').stdout
        self.assertTrue(out.startswith('TIME  ') or out.startswith('no minute history'), out)

        out = self.cli(d, 'run', 'web')
        self.assertRegex(out.stdout, r'^web: up in \S+, status 200; state up\n$')
        out = self.cli(d, 'run', 'db', check=False)
        self.assertEqual(out.returncode, 3)
        self.assertIn('db: down', out.stdout)
        self.assertEqual(self.cli_json(d, 'run', 'web')['outcome'], 'up')

        self.assertEqual(self.cli(d, 'pause', 'db').stdout, 'db paused\n')
        self.assertIn('down (paused)', self.cli(d, 'checks').stdout)
        self.assertEqual(self.cli_json(d, 'resume', 'db'), {'check': 'db', 'paused': False})

        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', '--version',
                       '2.0.1', '--commit', '0123456789abcdef', '--author', 'ana')
        self.assertRegex(out.stdout, r'^deploy \d+ recorded: shop/prod 2\.0\.1 \(succeeded\)\n$')
        js = self.cli_json(d, 'deploy', 'record', '--app', 'api', '--env', 'staging',
                           '--version', '7', '--status', 'failed')
        self.assertEqual(js['status'], 'failed')
        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', check=False)
        self.assertEqual(out.returncode, 2)
        self.assertIn('--version is required', out.stderr)
        out = self.cli(d, 'deploy', 'record', '--app', 'a', '--env', 'e', '--version', '1',
                       '--status', 'maybe', check=False)
        self.assertEqual(out.returncode, 2)
        self.assertIn('status', out.stderr)
        out = self.cli(d, 'deploys').stdout.splitlines()
        self.assertRegex(out[0], r'^ID +STARTED +APP +ENV +VERSION +COMMIT +AUTHOR +STATUS +VERDICT$')
        self.assertRegex(out[2], r'^\d+ +\S+ \S+ +shop +prod +2\.0\.1 +0123456789ab +ana +succeeded')
        self.assertEqual([x['version'] for x in self.cli_json(d, 'deploys', '--app', 'api')['deploys']],
                         ['7'])

        out = self.cli(d, 'events', '--type', 'deploy').stdout.splitlines()
        self.assertRegex(out[0], r'^ID +TIME +TYPE +CHECK +APP +MESSAGE$')
        self.assertIn('deploy shop/prod 2.0.1 by ana (succeeded)', out[1])
        js = self.cli_json(d, 'events', '--limit', '1')
        self.assertEqual(len(js['events']), 1)
        self.assertIn('next_before_id', js)

        out = self.cli(d, 'reload').stdout
        self.assertEqual(out, 'configuration reloaded: 3 checks (3 unchanged, 0 changed, '
                              '0 added, 0 removed)\n')
        text = d.config_text()
        d.write_config(text.replace('interval: 1s', 'interval: 1parsec'))
        out = self.cli(d, 'reload', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertRegex(out.stderr, r'shipwatch\.yml:\d+:\d+: .*interval')
        d.write_config(text)

        # events --follow: the recent ones, then live ones, one JSON object a line
        p = subprocess.Popen([SHIPWATCH, '--socket', d.socket, 'events', '--follow', '--json',
                              '--topics', 'deploys,results'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = []
            deadline = time.monotonic() + 20 * SLOW
            recorded = False
            while time.monotonic() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                obj = json.loads(line)
                seen.append(obj)
                if not recorded and obj.get('topic') == 'results':
                    self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                             '--version', 'live-1')
                    recorded = True
                if obj.get('topic') == 'deploys' and 'live-1' in obj['message']:
                    break
            self.assertTrue(any('live-1' in o.get('message', '') for o in seen), seen[-5:])
            self.assertTrue(any(o.get('type') == 'deploy' and 'topic' not in o for o in seen),
                            'the listing comes first')
        finally:
            p.terminate()
            p.wait(10)
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, 0)

        # usage errors: 2; --help: 0
        for args in (['nope'], ['checks', '--bogus'], ['history'], ['run', 'a', 'b'],
                     ['events', '--topics', 'results'], ['history', 'web', '--since', '1x'],
                     ['deploy'], ['deploys', '--limit', '0']):
            out = self.cli(d, *args, check=False)
            self.assertEqual(out.returncode, 2, args)
            self.assertTrue(out.stderr.startswith('shipwatch'), out.stderr)
        out = subprocess.run([SHIPWATCH, '--help'], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        for cmd in ('status', 'checks', 'history', 'run', 'pause', 'resume', 'deploys',
                    'deploy record', 'events', 'reload'):
            self.assertIn('  ' + cmd + ' ', out.stdout)
        self.assertIn('--since', self.cli(d, 'history', '--help').stdout)
        out = subprocess.run([SHIPWATCH, '--version'], capture_output=True, text=True)
        self.assertRegex(out.stdout, r'^shipwatch \d+\.\d+\.\d+\n$')

    # --- alerts, silences, maintenance ---

    def alerting(self):
        """Checks as web_and_db (db is down), a rule that alerts on every
        check through a notifier nobody listens to, a recurring window."""
        return self.web_and_db() + ALERTING % (closed_port(), NIGHTLY)

    def assert_invalid(self, c, method, params, why=None):
        with self.assertRaises(RpcError) as e:
            c.call(method, params)
        self.assertEqual(e.exception.code, 'invalid_params', (method, params))
        if why is not None:
            self.assertIn(why, e.exception.message, (method, params))

    def assert_not_found(self, c, method, params):
        with self.assertRaises(RpcError) as e:
            c.call(method, params)
        self.assertEqual(e.exception.code, 'not_found', (method, params))

    def test_alert_methods(self):
        import pwd
        me = pwd.getpwuid(os.getuid()).pw_name
        d = self.start(self.alerting())
        c = d.rpc()
        caps = c.call('daemon.hello', {'client': 'alerts', 'protocol': 1})['capabilities']
        for m in ('alerts.list', 'alerts.ack', 'alerts.silence', 'alerts.unsilence',
                  'alerts.silences', 'maintenance.list', 'maintenance.add',
                  'maintenance.remove'):
            self.assertIn(m, caps)

        # alerts.list: db's alert, open by default, filters and paging
        a = wait_until(lambda: (c.call('alerts.list', {'check': 'db'})['alerts'] or [None])[0],
                       what='an alert for db')
        self.assertEqual((a['kind'], a['status'], a['severity'], a['app'], a['env']),
                         ('down', 'firing', 'critical', 'shop', 'prod'))
        self.assertIn('db', a['summary'])
        self.assertGreater(a['started_ms'], 0)
        self.assertEqual((a['resolved_ms'], a['ack_ms']), (0, 0))
        self.assertNotIn('ack_by', a)
        wait_until(lambda: c.call('checks.get', {'check': 'web'})['state'] == 'up',
                   what='web up')
        page = c.call('alerts.list')
        self.assertEqual([x['id'] for x in page['alerts']], [a['id']])
        self.assertEqual(page['next_before_id'], 0)
        self.assertEqual(c.call('alerts.list', {'limit': 1})['next_before_id'], a['id'])
        self.assertEqual(c.call('alerts.list', {'before_id': a['id']})['alerts'], [])
        self.assertEqual(c.call('alerts.list', {'status': 'resolved'})['alerts'], [])
        self.assertEqual(len(c.call('alerts.list', {'status': 'all'})['alerts']), 1)
        self.assertEqual(c.call('alerts.list', {'app': 'api'})['alerts'], [])
        for bad in ({'status': 'sideways'}, {'status': 5}, {'limit': -1}, {'limit': 1001},
                    {'limit': 'ten'}, {'check': ['db']}, {'before_id': -1}):
            self.assert_invalid(c, 'alerts.list', bad)

        # alerts.ack: the id is required, an integer, and must exist
        for bad, why in (({}, 'id: missing'), ({'comment': 'x'}, 'id: missing'),
                         ({'id': 'x'}, 'id: expected an integer'),
                         ({'id': 1.5}, 'id: expected an integer'), ({'id': 0}, 'id'),
                         ({'id': a['id'], 'comment': 5}, 'comment: expected a string'),
                         ({'id': a['id'], 'comment': 'x' * 5000}, 'comment')):
            self.assert_invalid(c, 'alerts.ack', bad, why)
        self.assert_not_found(c, 'alerts.ack', {'id': a['id'] + 1000})
        r = c.call('alerts.ack', {'id': a['id'], 'comment': 'on it'})
        self.assertEqual((r['id'], r['status'], r['ack_by'], r['ack_comment']),
                         (a['id'], 'acknowledged', me, 'on it'))
        self.assertGreaterEqual(r['ack_ms'], a['started_ms'])
        self.assertEqual([x['id'] for x in c.call('alerts.list',
                                                  {'status': 'acknowledged'})['alerts']],
                         [a['id']])
        self.assertEqual(c.call('alerts.list', {'status': 'firing'})['alerts'], [])
        self.assertEqual(len(c.call('alerts.list')['alerts']), 1, 'acknowledged is open')

        # alerts.silence: a duration or an end, sane matchers
        now = int(time.time() * 1000)
        for bad, why in (({'check': 'db'}, 'duration_ms'),
                         ({'check': 'db', 'duration_ms': 1000, 'ends_ms': now + 10000},
                          'duration_ms'),
                         ({'check': 'db', 'duration_ms': -5}, 'duration_ms'),
                         ({'check': 'db', 'duration_ms': '1h'}, 'duration_ms: expected an integer'),
                         ({'check': 'db', 'ends_ms': now - 1000}, 'ends_ms'),
                         ({'check': 'db', 'ends_ms': now + 1000, 'starts_ms': now + 2000},
                          'ends_ms'),
                         ({'check': 'db', 'duration_ms': 2 ** 62, 'starts_ms': 2 ** 62},
                          'duration_ms'),
                         ({'check': 'db', 'duration_ms': 1000, 'severity': 'loud'}, 'severity'),
                         ({'check': 5, 'duration_ms': 1000}, 'check: expected a string'),
                         ({'check': 'db', 'duration_ms': 1000, 'comment': 'x' * 5000},
                          'comment')):
            self.assert_invalid(c, 'alerts.silence', bad, why)
        self.assertEqual(c.call('alerts.silences')['mutes'], [])
        s = c.call('alerts.silence', {'check': 'db', 'duration_ms': 3600000, 'comment': 'flaky'})
        self.assertGreater(s['id'], 0)
        self.assertEqual((s['kind'], s['check'], s['author'], s['comment']),
                         ('silence', 'db', me, 'flaky'))
        self.assertNotIn('app', s)
        self.assertEqual(s['ends_ms'] - s['starts_ms'], 3600000)
        self.assertGreaterEqual(s['starts_ms'], now - 1000)
        self.assertEqual([x['id'] for x in c.call('alerts.silences')['mutes']], [s['id']])
        self.assertEqual(c.call('maintenance.list')['mutes'], [])
        wait_until(lambda: c.call('alerts.list', {'check': 'db'})['alerts'][0].get('muted_by')
                   == 'silence %d' % s['id'], what='the alert muted by the silence')

        # alerts.unsilence: by id, of a silence
        for bad, why in (({}, 'id: missing'), ({'id': 'x'}, 'id: expected an integer'),
                         ({'id': -1}, 'id')):
            self.assert_invalid(c, 'alerts.unsilence', bad, why)
        self.assert_not_found(c, 'alerts.unsilence', {'id': s['id'] + 1000})
        self.assert_not_found(c, 'maintenance.remove', {'id': s['id']})
        r = c.call('alerts.unsilence', {'id': s['id']})
        self.assertEqual((r['id'], r['kind'], r['check']), (s['id'], 'silence', 'db'))
        self.assertEqual(c.call('alerts.silences')['mutes'], [])
        wait_until(lambda: 'muted_by' not in c.call('alerts.list', {'check': 'db'})['alerts'][0],
                   what='the alert no longer muted')

        # maintenance.list: the configured window, and ad-hoc ones
        ml = c.call('maintenance.list')
        self.assertEqual(ml['mutes'], [])
        self.assertEqual(len(ml['windows']), 1)
        w = ml['windows'][0]
        self.assertEqual((w['name'], w['app'], w['start'], w['duration_ms']),
                         ('nightly', 'shop', NIGHTLY, 7200000))
        self.assertEqual(sorted(w['days']), ['sat', 'sun'])
        self.assertNotIn('check', w)
        self.assertEqual(w['next_end_ms'] - w['next_start_ms'], 7200000)
        now = int(time.time() * 1000)
        self.assertEqual(w['active'], w['next_start_ms'] <= now < w['next_end_ms'])
        self.assertGreater(w['next_end_ms'], now)

        for bad, why in (({'app': 'shop'}, 'duration_ms'),
                         ({'app': 'shop', 'ends_ms': 'later'}, 'ends_ms: expected an integer'),
                         ({'app': 'shop', 'duration_ms': 0}, 'duration_ms'),
                         ({'app': 'shop', 'duration_ms': 1000, 'starts_ms': -1}, 'starts_ms')):
            self.assert_invalid(c, 'maintenance.add', bad, why)
        m = c.call('maintenance.add', {'app': 'shop', 'env': 'prod', 'ends_ms': now + 600000,
                                       'comment': 'migration'})
        self.assertEqual((m['kind'], m['app'], m['env'], m['author'], m['ends_ms']),
                         ('maintenance', 'shop', 'prod', me, now + 600000))
        self.assertEqual([x['id'] for x in c.call('maintenance.list')['mutes']], [m['id']])
        self.assertEqual(c.call('alerts.silences')['mutes'], [])
        self.assert_not_found(c, 'alerts.unsilence', {'id': m['id']})
        for bad in ({}, {'id': 'x'}, {'id': 0}):
            self.assert_invalid(c, 'maintenance.remove', bad)
        self.assert_not_found(c, 'maintenance.remove', {'id': m['id'] + 1000})
        self.assertEqual(c.call('maintenance.remove', {'id': m['id']})['id'], m['id'])
        self.assertEqual(c.call('maintenance.list')['mutes'], [])

        # A resolved alert cannot be acknowledged: db leaves the configuration.
        d.write_config(d.config_text().replace('  - name: db\n', '  - name: db2\n'))
        c.call('daemon.reload')
        r = wait_until(lambda: c.call('alerts.list', {'check': 'db', 'status': 'resolved'})
                       ['alerts'], what='the alert resolved')[0]
        self.assertGreater(r['resolved_ms'], 0)
        with self.assertRaises(RpcError) as e:
            c.call('alerts.ack', {'id': a['id']})
        self.assertEqual(e.exception.code, 'invalid_params')
        self.assertIn('alert %d is resolved' % a['id'], e.exception.message)

    def test_alert_cli(self):
        import pwd
        me = pwd.getpwuid(os.getuid()).pw_name
        d = self.start(self.alerting())
        c = d.rpc()
        a = wait_until(lambda: (c.call('alerts.list', {'check': 'db'})['alerts'] or [None])[0],
                       what='an alert for db')

        out = self.cli(d, 'alerts').stdout.splitlines()
        self.assertRegex(out[0],
                         r'^ID +STATUS +SEVERITY +KIND +CHECK/APP-ENV +AGE +MUTED +SUMMARY$')
        self.assertRegex(out[1], r'^%d +firing +critical +down +db +\S+ +- +db is down' % a['id'])
        self.assertEqual([x['id'] for x in self.cli_json(d, 'alerts', '--all')['alerts']],
                         [a['id']])
        self.assertEqual(self.cli_json(d, 'alerts', '--status', 'resolved')['alerts'], [])
        self.assertEqual(self.cli(d, 'alerts', '--status', 'resolved').stdout,
                         'no resolved alerts\n')
        self.assertEqual(self.cli_json(d, 'alerts', '--app', 'api')['alerts'], [])
        self.assertEqual(len(self.cli_json(d, 'alerts', '--check', 'db')['alerts']), 1)
        out = self.cli(d, 'alerts', '--status', 'sideways', check=False)
        self.assertEqual(out.returncode, 2)
        self.assertIn('status', out.stderr)

        out = self.cli(d, 'ack', str(a['id']), '--comment', 'on it').stdout
        self.assertEqual(out, 'alert %d (down db) acknowledged by %s\n' % (a['id'], me))
        self.assertEqual(self.cli_json(d, 'alerts')['alerts'][0]['ack_comment'], 'on it')
        out = self.cli(d, 'ack', '999999', check=False)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr, 'shipwatch: alerts.ack: no open alert with id 999999\n')

        out = self.cli(d, 'silence', '--check', 'db', '--for', '90m', '--comment', 'flaky')
        m = re.match(r'^silence (\d+): check db, from (.+) until (.+)\n$', out.stdout)
        self.assertIsNotNone(m, out.stdout)
        sid = int(m.group(1))
        js = self.cli_json(d, 'silences')['mutes']
        self.assertEqual([(x['id'], x['check'], x['author'], x['ends_ms'] - x['starts_ms'])
                          for x in js], [(sid, 'db', me, 90 * 60000)])
        out = self.cli(d, 'silences').stdout.splitlines()
        self.assertRegex(out[0], r'^ID +CHECK +APP +ENV +SEVERITY +FROM +UNTIL +AUTHOR +COMMENT$')
        self.assertRegex(out[1], r'^%d +db +- +- +- +.* %s +flaky$' % (sid, re.escape(me)))
        js = self.cli_json(d, 'silence', '--app', 'shop', '--severity', 'critical', '--for', '1h')
        self.assertEqual((js['app'], js['severity'], js['kind']), ('shop', 'critical', 'silence'))
        self.assertEqual(self.cli(d, 'unsilence', str(sid)).stdout,
                         'silence %d (check db) removed\n' % sid)
        self.assertEqual(self.cli_json(d, 'unsilence', str(js['id']))['id'], js['id'])
        self.assertEqual(self.cli(d, 'silences').stdout, 'no silences\n')
        out = self.cli(d, 'unsilence', str(sid), check=False)
        self.assertEqual(out.returncode, 1)
        self.assertIn('no silence with id %d' % sid, out.stderr)

        out = self.cli(d, 'maintenance').stdout
        self.assertIn('configured windows:', out)
        self.assertRegex(out, r'\nnightly +- +shop +- +sun,sat +%s UTC +2h +\S+ \S+ +no\n' % NIGHTLY)
        self.assertEqual(self.cli(d, 'maintenance', 'list').stdout, out)
        out = self.cli(d, 'maintenance', 'add', '--app', 'shop', '--start', '+1h', '--for', '30m',
                       '--comment', 'migration').stdout
        m = re.match(r'^maintenance window (\d+): app shop, from .+ until .+\n$', out)
        self.assertIsNotNone(m, out)
        mid = int(m.group(1))
        js = self.cli_json(d, 'maintenance')
        self.assertEqual([(x['id'], x['ends_ms'] - x['starts_ms'], x['comment'])
                          for x in js['mutes']], [(mid, 30 * 60000, 'migration')])
        self.assertGreater(js['mutes'][0]['starts_ms'], int(time.time() * 1000) + 3500 * 1000)
        self.assertEqual(js['windows'][0]['name'], 'nightly')
        self.assertIn('ad-hoc windows:', self.cli(d, 'maintenance').stdout)
        until = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 7200))
        js = self.cli_json(d, 'maintenance', 'add', '--check', 'web', '--until', until)
        self.assertEqual(js['ends_ms'],
                         calendar.timegm(time.strptime(until, '%Y-%m-%dT%H:%M:%SZ')) * 1000)
        self.assertEqual(self.cli(d, 'maintenance', 'remove', str(mid)).stdout,
                         'maintenance window %d (app shop) removed\n' % mid)
        self.cli(d, 'maintenance', 'remove', str(js['id']))
        out = self.cli(d, 'maintenance', 'remove', str(mid), check=False)
        self.assertEqual(out.returncode, 1)

        # usage errors: 2, before anything is sent
        for args in (['ack'], ['ack', 'x'], ['ack', '1', '2'], ['silence', '--for', '1h'],
                     ['silence', '--check', 'db'], ['silence', '--check', 'db', '--for', 'soon'],
                     ['silence', '--check', 'db', '--until', '+1h'],
                     ['maintenance', 'add', '--app', 'shop'],
                     ['maintenance', 'add', '--for', '1h', '--until', '+2h'],
                     ['maintenance', 'add', '--for', '1h', '--start', 'noon'],
                     ['maintenance', 'add', '--until', '2026-13-01 10:00'],
                     ['maintenance', 'remove'], ['maintenance', 'bogus'],
                     ['alerts', '--all', '--status', 'firing'], ['unsilence'],
                     ['unsilence', '0'], ['silences', 'x']):
            out = self.cli(d, *args, check=False)
            self.assertEqual(out.returncode, 2, (args, out.stderr))
            self.assertTrue(out.stderr.startswith('shipwatch'), out.stderr)
        self.assertEqual(self.cli_json(d, 'silences')['mutes'], [])
        self.assertEqual(self.cli_json(d, 'maintenance')['mutes'], [])
        out = subprocess.run([SHIPWATCH, '--help'], capture_output=True, text=True).stdout
        for cmd in ('alerts', 'ack', 'silence', 'silences', 'unsilence', 'maintenance list',
                    'maintenance add', 'maintenance remove'):
            self.assertIn('  ' + cmd + ' ', out)
        self.assertIn('--for DURATION', self.cli(d, 'silence', '--help').stdout)
        self.assertIn('--until TIME', self.cli(d, 'maintenance', 'add', '--help').stdout)

    def test_cli_without_daemon(self):
        path = os.path.join(tempfile.mkdtemp(prefix='shipwatch-it-'), 'none.sock')
        out = subprocess.run([SHIPWATCH, '--socket', path, 'status'], capture_output=True,
                             text=True)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr, 'shipwatch: cannot connect to %s: is shipwatchd running?\n'
                         % path)
        env = dict(os.environ, SHIPWATCH_SOCKET=path)
        out = subprocess.run([SHIPWATCH, 'checks'], capture_output=True, text=True, env=env)
        self.assertEqual(out.returncode, 1)
        self.assertIn(path, out.stderr)

    # --- many clients ---

    def test_fifty_concurrent_clients(self):
        d = self.start(self.web_and_db())
        clients = [Rpc(d.socket) for _ in range(50)]
        errors = []
        counts = []

        def work(c, i):
            try:
                c.call('daemon.hello', {'client': 'c%d' % i, 'protocol': 1})
                n = 0
                for k in range(40):
                    if k % 2:
                        assert c.call('status.get')['checks'] == 3
                    else:
                        assert len(c.call('checks.list')['checks']) == 3
                    n += 1
                c.call('events.list', {'limit': 5})
                counts.append(n)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(c, i)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120 * SLOW)
        self.assertEqual(errors, [])
        self.assertEqual(counts, [40] * 50)
        self.assertGreaterEqual(clients[0].call('status.get')['clients'], 50)
        for c in clients:
            c.close()
        probe = d.rpc()
        wait_until(lambda: probe.call('status.get')['clients'] == 1, what='clients to go')

    def test_thousand_idle_clients(self):
        if raise_nofile() < 1100:
            self.skipTest('cannot open 1,000 descriptors')
        d = self.start(self.web_and_db())
        probe = d.rpc()
        base = rss_kib(d.proc.pid)
        socks = []
        for _ in range(1000):
            s = Rpc(d.socket)
            s.call('daemon.hello', {'client': 'idle', 'protocol': 1})
            socks.append(s)
        st = probe.call('status.get')
        self.assertEqual(st['clients'], 1001)
        self.assertEqual(probe.call('checks.run', {'check': 'web'})['outcome'], 'up')
        grown = rss_kib(d.proc.pid) - base
        print('RSS grew by %d KiB for 1,000 idle clients' % grown)
        if PLAIN:
            self.assertLess(grown, 32 * 1024)
        for s in socks:
            s.close()
        wait_until(lambda: probe.call('status.get')['clients'] == 1, what='clients to go')

    def test_slow_subscriber_is_disconnected(self):
        port = closed_port()
        checks = ''.join('''
  - name: c%02d
    type: tcp
    host: 127.0.0.1
    port: %d
''' % (i, port) for i in range(50))
        d = self.start(checks, daemon_extra='ipc-max-queue: 64KiB', interval='100ms')
        # One that subscribes and never reads again.
        stuck = Rpc(d.socket)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.call('daemon.hello', {'client': 'stuck', 'protocol': 1})
        stuck.call('events.subscribe')
        # One that reads everything, in a thread.
        reader = d.rpc()
        reader.call('events.subscribe', {'topics': ['results']})
        got = [0]
        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    reader.notice()
                    got[0] += 1
                except (OSError, ConnectionError):
                    return

        th = threading.Thread(target=read)
        th.start()
        try:
            base = rss_kib(d.proc.pid)
            wait_until(lambda: 'disconnecting a subscriber that stopped reading' in d.log(),
                       timeout=60, what='the slow subscriber to be dropped')
            # Its socket now ends: what was buffered, then EOF.
            stuck.sock.settimeout(10 * SLOW)
            total = 0
            while True:
                data = stuck.sock.recv(1 << 16)
                if not data:
                    break
                total += len(data)
            self.assertGreater(total, 0)
            stuck.close()
            before = got[0]
            probe = d.rpc()
            self.assertEqual(probe.call('status.get')['subscribers'], 1)
            wait_until(lambda: got[0] > before + 50, what='the good reader to keep receiving')
            grown = rss_kib(d.proc.pid) - base
            print('RSS grew by %d KiB while a subscriber stalled' % grown)
            if PLAIN:
                self.assertLess(grown, 16 * 1024)
        finally:
            stop.set()
            reader.sock.shutdown(socket.SHUT_RDWR)
            th.join(10)
            stuck.close()

    def test_large_answer_is_not_a_stalled_subscriber(self):
        """A subscriber that asks for a page of checks far over the output
        bound, and reads it late, is not taken for one that stopped
        reading: only output it did not ask for counts against the bound.
        One that asks and then reads nothing is still cut, by its
        notifications."""
        port = closed_port()
        idle = ''.join('  - {name: idle%05d, type: tcp, host: 127.0.0.1, port: %d, '
                       'interval: 60s}\n' % (i, port) for i in range(5000))
        busy = ''.join('  - {name: busy%d, type: tcp, host: 127.0.0.1, port: %d}\n'
                       % (i, port) for i in range(5))
        d = self.start(idle + busy, daemon_extra='ipc-max-queue: 64KiB', interval='100ms')
        c = d.rpc(timeout=30)
        c.call('events.subscribe', {'topics': ['results']})
        c.notice()                          # results are flowing
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        msgid = c.request('checks.list')    # about 2 MB, over 64 KiB
        time.sleep(1.5 * SLOW)              # results queue behind it meanwhile
        page = c.response(msgid)
        self.assertEqual(len(page['checks']), 5000)
        for _ in range(3):      # and the results go on arriving
            self.assertEqual(c.notice()['topic'], 'results')
        self.assertNotIn('disconnecting a subscriber', d.log())
        self.assertEqual(d.rpc().call('status.get')['subscribers'], 1)

        # Asked, then never read again: cut once its notifications pass it.
        stuck = Rpc(d.socket)
        stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.call('daemon.hello', {'client': 'stuck', 'protocol': 1})
        stuck.call('events.subscribe', {'topics': ['results']})
        stuck.request('checks.list')
        wait_until(lambda: 'disconnecting a subscriber that stopped reading' in d.log(),
                   timeout=60, what='the stalled subscriber to be cut')
        stuck.close()
        self.assertEqual(d.stop(), 0)

    # --- hostile input ---

    def test_hostile_frames(self):
        d = self.start(self.web_and_db())
        good = d.rpc()
        valid = [msgpack.packb(m) for m in (
            [0, 1, 'status.get', []],
            [0, 2, 'checks.get', [{'check': 'web'}]],
            [0, 3, 'checks.history', [{'check': 'web', 'limit': 5}]],
            [0, 4, 'events.list', [{'limit': 3, 'type': 'state'}]],
            [0, 5, 'deploys.list', [{'app': 'shop'}]],
            [0, 6, 'events.subscribe', [{'topics': ['results']}]],
            [2, 'event', [{'topic': 'log'}]],
            [1, 9, None, {'x': 1}],
        )]
        rng = random.Random(1234)

        def mutate():
            kind = rng.randrange(7)
            b = bytearray(rng.choice(valid))
            if kind == 0:
                return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            if kind == 1:
                for _ in range(rng.randrange(1, 4)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                return bytes(b)
            if kind == 2:
                return bytes(b[:rng.randrange(1, len(b))])
            if kind == 3:   # huge declared lengths
                return bytes(b[:3]) + rng.choice([b'\xdd\xff\xff\xff\xff', b'\xdb\x7f\xff\xff\xff',
                                                  b'\xdf\x00\x10\x00\x00', b'\xc1'])
            if kind == 4:   # deep nesting
                depth = rng.randrange(10, 200)
                return b'\x94\x00\x07\xa4ping' + b'\x91' * depth + b'\xc0'
            if kind == 5:   # wrong types in params
                return msgpack.packb([0, 8, rng.choice(['checks.get', 'checks.history',
                                                        'deploys.list', 'events.list']),
                                      [rng.choice([{'check': 1}, {'limit': 'x'}, [1, 2], 'str',
                                                   {'check': 'web', 'limit': -5},
                                                   {'check': 'a\x00b'}, None])]])
            return bytes(b) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))

        hostile = None
        reconnects = 0
        for i in range(10000):
            if hostile is None:
                hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                hostile.settimeout(5 * SLOW)
                hostile.connect(d.socket)
                reconnects += 1
            try:
                hostile.sendall(mutate())
                # Read whatever came back, without waiting for it.
                while select.select([hostile], [], [], 0)[0]:
                    if not hostile.recv(1 << 16):
                        raise ConnectionError
            except OSError:     # closed by the daemon, as it should for most frames
                hostile.close()
                hostile = None
            if i % 100 == 99:
                # A fresh connection each time: what was sent could not be a
                # whole message yet, and another client must not care.
                hostile and hostile.close()
                hostile = None
            if i % 1000 == 999:
                self.assertEqual(good.call('status.get')['checks'], 3)
        hostile and hostile.close()
        self.assertIsNone(d.proc.poll(), 'the daemon died')
        self.assertEqual(good.call('checks.run', {'check': 'web'})['outcome'], 'up')
        self.assertGreater(reconnects, 100)

    def test_hello_comes_first(self):
        d = self.start(self.web_and_db())
        c = Rpc(d.socket)
        # Before hello: every method but daemon.hello is refused, and says why.
        for method in ('status.get', 'checks.list', 'checks.pause'):
            with self.assertRaises(RpcError) as e:
                c.call(method, {'check': 'web'} if method == 'checks.pause' else None)
            self.assertEqual(e.exception.code, 'protocol')
            self.assertIn('daemon.hello', e.exception.message)
            self.assertIn(method, e.exception.message)
        # Unknown methods are still no_method, and the connection lives.
        with self.assertRaises(RpcError) as e:
            c.call('no.such')
        self.assertEqual(e.exception.code, 'no_method')
        # Another protocol, or none: refused, still not past hello.
        for params in ({'client': 'future', 'protocol': 2}, {'client': 'vague'}):
            with self.assertRaises(RpcError) as e:
                c.call('daemon.hello', params)
            self.assertEqual(e.exception.code, 'protocol')
            self.assertIn('speaks protocol 1', e.exception.message)
        with self.assertRaises(RpcError) as e:
            c.call('status.get')
        self.assertEqual(e.exception.code, 'protocol')
        # The right one: everything opens up.
        self.assertEqual(c.call('daemon.hello', {'client': 't', 'protocol': 1})['protocol'], 1)
        self.assertEqual(c.call('status.get')['checks'], 3)
        c.close()

    def test_malformed_answers(self):
        d = self.start(self.web_and_db())
        c = Rpc(d.socket)
        c.call('daemon.hello', {'client': 'tests', 'protocol': 1})
        # A bad envelope with a readable msgid: an error, and the connection lives.
        c.send_raw(msgpack.packb([0, 41, 7, []]))
        msg = c.recv()
        self.assertEqual(msg[:2], [1, 41])
        self.assertEqual(msg[2]['code'], 'malformed')
        c.send_raw(msgpack.packb([0, 42, 'status.get', 'not-an-array']))
        self.assertEqual(c.recv()[2]['code'], 'malformed')
        self.assertEqual(c.call('status.get')['checks'], 3)
        # Unknown method: no_method, connection lives.
        c.send_raw(msgpack.packb([0, 43, 'x' * 5000, []]))
        self.assertEqual(c.recv()[2]['code'], 'no_method')
        # Oversized with a msgid: too_large, then closed.
        c.send_raw(b'\x94\x00\xcd\x01\x00\xa4ping\x91\xdb\x00\x20\x00\x00')
        msg = c.recv()
        self.assertEqual(msg[:2], [1, 256])
        self.assertEqual(msg[2]['code'], 'too_large')
        with self.assertRaises(ConnectionError):
            c.recv()
        c.close()
        # Too deep: too_large, then closed.
        c = Rpc(d.socket)
        c.send_raw(b'\x94\x00\x05\xa4ping' + b'\x91' * 40 + b'\xc0')
        self.assertEqual(c.recv()[2]['code'], 'too_large')
        c.close()
        # Not msgpack at all and no msgid: closed without an answer.
        c = Rpc(d.socket)
        c.send_raw(b'\xc1\xc1\xc1')
        with self.assertRaises(ConnectionError):
            c.recv()
        c.close()
        # A client that never reads its answers stops being read, but the
        # daemon goes on for everyone else.
        flood = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        flood.connect(d.socket)
        flood.sendall(msgpack.packb([0, 0, 'daemon.hello', [{'client': 'flood', 'protocol': 1}]]))
        flood.setblocking(False)
        req = msgpack.packb([0, 1, 'checks.list', []]) * 200
        sent = 0
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline and sent < 50 * 1024 * 1024:
            try:
                sent += flood.send(req)
            except BlockingIOError:
                break
        self.assertLess(sent, 50 * 1024 * 1024, 'the daemon kept reading a client that '
                        'does not read')
        self.assertEqual(d.rpc().call('status.get')['checks'], 3)
        flood.close()

    # --- who may do what ---

    def test_other_uid(self):
        if os.getuid() != 0 or shutil.which('setpriv') is None:
            self.skipTest('needs root and setpriv to act as nobody')
        import grp
        import pwd
        nobody = pwd.getpwnam('nobody')
        group = grp.getgrgid(nobody.pw_gid).gr_name
        d = self.start(self.web_and_db())
        st = os.stat(d.socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        # Let nobody reach the socket through its group; copy the client
        # where nobody can run it.
        os.chmod(d.dir, 0o755)
        os.chown(d.socket, 0, nobody.pw_gid)
        cli = os.path.join(d.dir, 'shipwatch')
        shutil.copy(SHIPWATCH, cli)
        os.chmod(cli, 0o755)
        as_nobody = ['setpriv', '--reuid=nobody', '--regid=%s' % group, '--clear-groups']

        def run(*args):
            return subprocess.run([*as_nobody, cli, '--socket', d.socket, *args],
                                  capture_output=True, text=True, timeout=60 * SLOW)

        out = run('checks')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('web', out.stdout)
        out = run('pause', 'web')
        self.assertEqual(out.returncode, 4)
        self.assertIn('checks.pause', out.stderr)
        self.assertIn('uid %d' % nobody.pw_uid, out.stderr)
        for args in (['run', 'web'], ['reload'],
                     ['deploy', 'record', '--app', 'a', '--env', 'e', '--version', '1']):
            self.assertEqual(run(*args).returncode, 4, args)
        self.assertFalse(d.rpc().call('checks.get', {'check': 'web'})['paused'])

        # Alerts: anyone reads them; acting on them needs an admin.
        for args in (['alerts'], ['silences'], ['maintenance']):
            out = run(*args)
            self.assertEqual(out.returncode, 0, (args, out.stderr))
        for method, args in (('alerts.ack', ['ack', '1', '--comment', 'mine']),
                             ('alerts.silence', ['silence', '--check', 'web', '--for', '1h']),
                             ('alerts.unsilence', ['unsilence', '1']),
                             ('maintenance.add', ['maintenance', 'add', '--app', 'shop',
                                                  '--for', '1h']),
                             ('maintenance.remove', ['maintenance', 'remove', '1'])):
            out = run(*args)
            self.assertEqual(out.returncode, 4, (args, out.stderr))
            self.assertIn(method + ' needs an admin', out.stderr)
            self.assertIn('uid %d' % nobody.pw_uid, out.stderr)
        self.assertEqual(d.rpc().call('alerts.silences')['mutes'], [])
        self.assertEqual(d.rpc().call('maintenance.list')['mutes'], [])

        # Named in daemon.admins (by group here): allowed after a reload.
        d.write_config(d.config_text().replace('daemon:\n', 'daemon:\n  admins: [%s]\n' % group))
        d.rpc().call('daemon.reload')
        out = run('pause', 'web')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(d.rpc().call('checks.get', {'check': 'web'})['paused'])

    # --- the socket path ---

    def test_claiming_the_socket(self):
        d = self.start(self.web_and_db())
        # A second daemon on the same socket is refused before it touches the store.
        other = self.daemon(d.config_text().replace(d.db, d.db + '.2'), workdir=tempfile.mkdtemp())
        other.socket = d.socket
        other.write_config(d.config_text().replace(d.db, d.db + '.2'))
        out = subprocess.run([SHIPWATCHD, '--config', other.config_path], capture_output=True,
                             text=True, timeout=30 * SLOW)
        self.assertEqual(out.returncode, 1)
        self.assertIn('another shipwatchd is listening on %s' % d.socket, out.stderr)
        self.assertFalse(os.path.exists(d.db + '.2'))
        self.assertEqual(d.rpc().call('status.get')['checks'], 3)
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(d.socket), 'the socket outlived the daemon')

        # A stale socket (nobody listening) is replaced.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.socket)
        s.close()
        d2 = self.daemon(d.config_text(), workdir=d.dir)
        d2.start()
        # The path is briefly absent between the unlink and the bind: wait
        # for the listen that follows the replacement, not the replacement.
        wait_until(lambda: re.search(r'replaced a stale socket.*\n.*listening on ',
                                     d2.log()[d2.log_mark:]),
                   what='the stale socket replaced and listened on')
        self.assertEqual(d2.rpc().call('status.get')['checks'], 3)
        self.assertEqual(d2.stop(), 0)

        # Anything else at the path is left alone.
        with open(d.socket, 'w') as f:
            f.write('precious')
        out = subprocess.run([SHIPWATCHD, '--config', d.config_path], capture_output=True,
                             text=True, timeout=30 * SLOW)
        self.assertEqual(out.returncode, 1)
        self.assertIn('exists and is not a socket', out.stderr)
        with open(d.socket) as f:
            self.assertEqual(f.read(), 'precious')

    # --- the example in docs/protocol.md ---

    def test_protocol_doc_example(self):
        doc = os.path.join(SOURCE_ROOT, 'docs', 'protocol.md')
        with open(doc, encoding='utf-8') as f:
            blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
        self.assertTrue(blocks, 'docs/protocol.md has no python example')
        script = os.path.join(tempfile.mkdtemp(prefix='shipwatch-it-'), 'example.py')
        with open(script, 'w', encoding='utf-8') as f:
            f.write(blocks[-1])
        d = self.start(self.web_and_db())
        c = d.rpc()
        wait_until(lambda: c.call('checks.get', {'check': 'web'})['state'] == 'up' and
                   c.call('checks.get', {'check': 'db'})['state'] == 'down', what='states')
        env = dict(os.environ, SHIPWATCH_SOCKET=d.socket)
        out = subprocess.run(['/usr/bin/python3', script, '--count', '3'], capture_output=True,
                             text=True, timeout=60 * SLOW, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(any(ln.startswith('web') and 'up' in ln for ln in lines), out.stdout)
        self.assertTrue(any(ln.startswith('db') and 'down' in ln for ln in lines), out.stdout)
        self.assertEqual(sum(1 for ln in lines if ln.startswith('event ')), 3, out.stdout)


if __name__ == '__main__':
    main()
