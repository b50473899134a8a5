#!/usr/bin/env python3
"""Heartbeats as cron jobs written for Healthchecks.io send them, with curl
against the running daemon: exit-status pings, /log, a trailing slash,
UUID tokens in either case, run ids, the /ping/ alias, a body over 1 MiB,
a start that never finishes, and lateness judged without fake results."""
import json
import re
import signal
import socket
import subprocess
import time

from harness import SLOW, DaemonTest, closed_port, main, wait_until

UUID = '5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278'
RID_A = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'
RID_B = '11111111-2222-4333-8444-555555555555'

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
checks:
  - name: backup
    app: shop
    env: prod
    type: heartbeat
    token: %s
    period: 1h
    grace: 1h
  - name: quick
    type: heartbeat
    token: quick-token
    interval: 100ms
    period: 1h
    grace: 1s
  - name: often
    type: heartbeat
    token: often-token
    interval: 100ms
    period: 1s
notifiers:
  - name: hook
    type: webhook
    url: http://127.0.0.1:%d/alerts
alerts:
  - notify: [hook]
    on: [heartbeat]
''' % (UUID, closed_port())


def curl(*args, data=None):
    """(status, headers text, body) of one curl call."""
    cmd = ['curl', '-sS', '-o', '-', '-D', '/dev/stderr', '--max-time', str(20 * SLOW), *args]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=40 * SLOW)
    head = out.stderr.decode('latin-1')
    status = int(head.split()[1]) if head.startswith('HTTP/') else 0
    return status, head, out.stdout.decode('utf-8', 'replace')


class HeartbeatTest(DaemonTest):

    def start(self):
        d = self.daemon(CONFIG)
        d.start()
        self.d = d
        self.base = d.http_base()
        self.rpc = d.rpc()
        return d

    def check(self, name='backup'):
        return self.rpc.call('checks.get', {'check': name})

    def ping(self, path, *args, data=None):
        return curl(*args, self.base + path, data=data)

    def wait_state(self, state, name='backup'):
        wait_until(lambda: self.check(name)['state'] == state, timeout=10 * SLOW,
                   what='%s %s' % (name, state))

    def metric(self, name, labels):
        _, _, text = curl(self.base + '/metrics')
        for line in text.splitlines():
            if line.startswith(name + '{') and all(l in line for l in labels):
                return float(line.rsplit(' ', 1)[1])
        return None

    def test_exit_status_pings(self):
        d = self.start()
        self.assertEqual(self.ping('/hb/%s/0' % UUID)[:3:2], (200, 'OK\n'))
        self.wait_state('up')
        self.assertEqual(self.check()['last_status'], 0)
        self.assertEqual(self.ping('/hb/%s/1' % UUID)[0], 200)
        self.wait_state('down')
        c = self.check()
        self.assertEqual((c['last_status'], c['last_error']), (1, 'exit status 1'))
        self.assertEqual(self.ping('/hb/%s/0' % UUID)[0], 200)
        self.wait_state('up')
        self.assertEqual(self.ping('/hb/%s/255' % UUID)[0], 200)
        self.wait_state('down')
        self.assertEqual(self.check()['last_status'], 255)
        # Past 255 the URL is wrong, as Healthchecks.io answers.
        status, _, body = self.ping('/hb/%s/256' % UUID)
        self.assertEqual(status, 400)
        self.assertIn('invalid url format', json.loads(body)['error'])
        self.assertEqual(self.ping('/hb/%s/x1' % UUID)[0], 404)
        # The documented cron line: `cmd; curl .../$?`.
        subprocess.run(['sh', '-c', 'false; curl -fsS -o /dev/null %s/hb/%s/$?' %
                        (self.base, UUID)], check=True, timeout=20 * SLOW)
        rows = d.wait_results('backup', 5)
        self.assertEqual([(r['outcome'], r['status']) for r in rows],
                         [(1, 0), (3, 1), (1, 0), (3, 255), (3, 1)])

    def test_log_slash_case_and_alias(self):
        d = self.start()
        self.assertEqual(self.ping('/hb/%s' % UUID)[0], 200)
        self.wait_state('up')
        # /log records the ping and its body, and changes nothing.
        status, _, _ = self.ping('/hb/%s/log' % UUID, '--data-binary', '@-',
                                 data=b'rotated 3 files')
        self.assertEqual(status, 200)
        wait_until(lambda: d.events('heartbeat', 'backup'), what='the log event')
        ev = d.query("SELECT message, data FROM events WHERE type = 'heartbeat'")[0]
        self.assertEqual(json.loads(ev[1])['kind'], 'log')
        self.assertEqual(json.loads(ev[1])['body'], 'rotated 3 files')
        self.assertEqual(len(d.results('backup')), 1)
        self.assertEqual(self.check()['state'], 'up')
        # A trailing slash, an upper-case UUID and Healthchecks.io's /ping/.
        self.assertEqual(self.ping('/hb/%s/' % UUID)[0], 200)
        self.assertEqual(self.ping('/hb/%s' % UUID.upper())[0], 200)
        self.assertEqual(self.ping('/ping/%s' % UUID)[0], 200)
        self.assertEqual(self.ping('/ping/%s/fail/' % UUID.upper())[0], 200)
        self.wait_state('down')
        self.assertEqual(self.ping('/ping/%s/0?rid=%s' % (UUID, RID_A))[0], 200)
        self.wait_state('up')
        self.assertEqual(len(d.wait_results('backup', 6)), 6)
        self.assertEqual(self.ping('/ping/no-such-token')[0], 404)
        status, head, _ = self.ping('/ping/%s' % UUID, '-X', 'PUT')
        self.assertEqual(status, 405)

    def test_run_ids_keep_their_own_durations(self):
        d = self.start()
        # Two overlapping runs: A for about 1.2 s, B for about 0.3 s.
        self.assertEqual(self.ping('/hb/%s/start?rid=%s' % (UUID, RID_A))[0], 200)
        time.sleep(0.5)
        self.assertEqual(self.ping('/hb/%s/start?rid=%s' % (UUID, RID_B))[0], 200)
        time.sleep(0.3)
        self.assertEqual(self.ping('/hb/%s?rid=%s' % (UUID, RID_B))[0], 200)
        time.sleep(0.4)
        self.assertEqual(self.ping('/hb/%s/0?rid=%s' % (UUID, RID_A.upper()))[0], 200)
        rows = d.wait_results('backup', 2)
        b, a = rows[0]['duration_us'] / 1e6, rows[1]['duration_us'] / 1e6
        self.assertTrue(0.25 <= b < 0.3 + 0.5 * SLOW, b)
        self.assertTrue(1.15 <= a < 1.2 + 0.5 * SLOW, a)
        # A rid that is no UUID is refused and records nothing.
        for bad in ('123', '', RID_A[:-1] + 'z', RID_A.replace('-', '')):
            status, _, body = self.ping('/hb/%s?rid=%s' % (UUID, bad))
            self.assertEqual(status, 400, bad)
            self.assertIn('invalid uuid format', json.loads(body)['error'])
        self.assertEqual(len(d.results('backup')), 2)

    def test_body_over_1mib_is_kept_cut(self):
        d = self.start()
        body = b'backup failed: disk full\n' + b'x' * (2 * 1024 * 1024)
        status, head, text = self.ping('/hb/%s/fail' % UUID, '-H',
                                       'Content-Type: text/plain', '--data-binary', '@-',
                                       data=body)
        self.assertEqual((status, text), (200, 'OK\n'))
        self.assertIn('Ping-Body-Limit: 10240', head)
        self.wait_state('down')
        # The result shows the start of the body ...
        c = self.check()
        self.assertTrue(c['last_error'].startswith('job reported failure: backup failed: '
                                                   'disk full xxx'), c['last_error'])
        rows = d.wait_results('backup', 1)
        self.assertTrue(rows[0]['error'].startswith('job reported failure: backup failed'))
        # ... and the first 10 KiB are kept with the ping.
        ev = wait_until(lambda: d.query("SELECT data FROM events WHERE type = 'heartbeat'"),
                        what='the ping event')
        data = json.loads(ev[0][0])
        self.assertEqual((data['kind'], data['body_bytes'], data['truncated']),
                         ('fail', len(body), True))
        self.assertEqual(data['body'].encode(), body[:10240])
        # The connection is still good for the next ping, chunked too.
        status, _, _ = self.ping('/hb/%s' % UUID, '-H', 'Transfer-Encoding: chunked',
                                 '--data-binary', '@-', data=b'y' * (1536 * 1024))
        self.assertEqual(status, 200)
        self.wait_state('up')

    def test_body_arriving_in_read_sized_pieces_is_kept_cut(self):
        # A read that fills the daemon's 64 KiB buffer is followed by one
        # that finds nothing yet; a slow sender (a loaded machine) makes
        # that happen mid-body, which must not read as the end of the
        # stream. Pieces of exactly 64 KiB, with pauses, make it happen
        # every time.
        self.start()
        host, port = self.base.split('//', 1)[1].rsplit(':', 1)
        piece = 64 * 1024
        body = b'backup failed\n' + b'x' * (4 * piece - 14)
        with socket.create_connection((host, int(port)), timeout=20 * SLOW) as s:
            s.sendall(b'POST /hb/%s/fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                      b'Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n'
                      % (UUID.encode(), len(body)))
            for i in range(0, len(body), piece):
                time.sleep(0.2)
                s.sendall(body[i:i + piece])
            answer = b''
            while True:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
        self.assertTrue(answer.startswith(b'HTTP/1.1 200 '), answer[:200])
        self.assertTrue(answer.endswith(b'\r\n\r\nOK\n'), answer[-200:])
        self.wait_state('down')

    def test_start_without_finish_goes_down(self):
        d = self.start()
        self.assertEqual(self.ping('/hb/quick-token')[0], 200)
        self.wait_state('up', 'quick')
        self.assertEqual(self.ping('/hb/quick-token/start?rid=%s' % RID_A)[0], 200)
        time.sleep(0.5)
        self.assertEqual(self.check('quick')['state'], 'up')
        self.wait_state('down', 'quick')
        ev = wait_until(lambda: [e for e in d.events('state', 'quick') if 'up -> down' in e[4]],
                        what='the state event')
        self.assertIn('run %s started' % RID_A, ev[0][4])
        self.assertIn('has not finished (max-runtime 1s)', ev[0][4])
        alerts = wait_until(lambda: self.rpc.call('alerts.list', {'check': 'quick'})['alerts'],
                            what='the heartbeat alert')
        self.assertIn('quick missed its heartbeat: run %s started' % RID_A,
                      alerts[0]['summary'])
        # It went down without a result; the late finish is one, and up.
        self.assertEqual(len(d.results('quick')), 1)
        self.assertEqual(self.ping('/hb/quick-token?rid=%s' % RID_A)[0], 200)
        self.wait_state('up', 'quick')
        rows = d.wait_results('quick', 2)
        self.assertGreater(rows[1]['duration_us'], 1000 * 1000)

    def test_reload_keeps_open_runs(self):
        d = self.start()
        self.assertEqual(self.ping('/hb/%s/start?rid=%s' % (UUID, RID_A))[0], 200)
        time.sleep(0.3)
        # A changed definition (a longer grace) keeps the run open.
        d.write_config(d.config_text().replace('grace: 1h', 'grace: 2h'))
        d.send_signal(signal.SIGHUP)
        wait_until(lambda: d.events('reload'), what='a reload event')
        self.assertIn('1 changed', d.events('reload')[-1][4])
        self.assertEqual(self.ping('/hb/%s?rid=%s' % (UUID, RID_A))[0], 200)
        rows = d.wait_results('backup', 1)
        self.assertGreaterEqual(rows[0]['duration_us'], 300 * 1000)

    def test_lateness_writes_no_results(self):
        d = self.start()
        # "often" is never pinged: late after 1 s, judged every 100 ms.
        self.wait_state('down', 'often')
        time.sleep(1.0)
        self.assertEqual(d.results('often'), [])
        self.assertEqual(d.results('backup'), [])
        for outcome in ('up', 'down', 'unknown'):
            self.assertEqual(self.metric('shipwatch_check_results_total',
                                         ['check="often"', 'result="%s"' % outcome]), 0)
        self.assertEqual(self.metric('shipwatch_check_duration_seconds_count',
                                     ['check="often"']), 0)
        self.assertEqual(self.metric('shipwatch_check_duration_seconds_count',
                                     ['check="backup"']), 0)
        state = [e[4] for e in d.events('state', 'often')]
        self.assertEqual(len(state), 1, state)
        self.assertTrue(re.search(r'no ping for \d+s \(period 1s, grace 0s\)', state[0]),
                        state[0])
        # checks.get says why it is down; checks.run answers at once with it.
        self.assertRegex(self.check('often')['verdict'], r'^no ping for \d+s \(period 1s')
        t0 = time.monotonic()
        run = self.rpc.call('checks.run', {'check': 'often'})
        self.assertLess(time.monotonic() - t0, 2 * SLOW)
        self.assertEqual(run['state'], 'down')
        self.assertRegex(run['error'], r'^no ping for \d+s \(period 1s')
        # The alert says why, not what the last ping said.
        alerts = wait_until(lambda: self.rpc.call('alerts.list', {'check': 'often'})['alerts'],
                            what='the heartbeat alert')
        self.assertEqual(alerts[0]['kind'], 'heartbeat')
        self.assertRegex(alerts[0]['summary'],
                         r'^often missed its heartbeat: no ping for \d+s \(period 1s')
        # A real ping is the one result.
        self.assertEqual(self.ping('/hb/often-token')[0], 200)
        self.wait_state('up', 'often')
        self.assertEqual(len(d.wait_results('often', 1)), 1)
        # /metrics is rendered at most once a second.
        wait_until(lambda: self.metric('shipwatch_check_results_total',
                                       ['check="often"', 'result="up"']) == 1,
                   timeout=5 * SLOW, what='one up result counted')


if __name__ == '__main__':
    main()
