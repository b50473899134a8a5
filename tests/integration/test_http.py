#!/usr/bin/env python3
"""The HTTP side, with curl and raw sockets against the running daemon:
health, /metrics (promtool and a real Prometheus), heartbeats, the deploy
API and every error status, keep-alive, and the limits and deadlines."""
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import urllib.request
import uuid

from harness import (DOWN, SHIPWATCH, SLOW, SOURCE_ROOT, UP, DaemonTest, Rpc,
                     assert_promtool_clean, main, wait_until)

CONFIG = '''
daemon:
  socket: {socket}
  github-secret: gh-hook-secret
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
apps:
  - name: shop
    deploy-token: tok-123
    deploy-secret: mac-456
    github-repo: acme/storefront
  - name: quiet
  - name: other
    deploy-token: tok-other
checks:
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/ok
  - name: backup
    app: shop
    env: prod
    type: heartbeat
    token: hb-0123456789abcdef
    period: 1h
    grace: 1m
'''

# A daemon of its own checks, each deciding its state at once.
QUICK = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  failure-threshold: 1
  success-threshold: 1
'''


def curl(*args, data=None):
    """(status, headers text, body) of one curl call."""
    cmd = ['curl', '-sS', '-o', '-', '-D', '/dev/stderr', '--max-time', str(10 * SLOW), *args]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=30 * SLOW)
    head = out.stderr.decode('latin-1')
    status = int(head.split()[1]) if head.startswith('HTTP/') else 0
    return status, head, out.stdout.decode('utf-8', 'replace')


def signed(body, secret=b'mac-456', stamp=None, upper=False):
    """The headers of a signed deploy: the HMAC of "TIMESTAMP.BODY"."""
    stamp = stamp or str(int(time.time()))
    mac = hmac.new(secret, stamp.encode() + b'.' + body, hashlib.sha256).hexdigest()
    return ['X-Shipwatch-Timestamp: ' + stamp,
            'X-Shipwatch-Signature-256: sha256=' + (mac.upper() if upper else mac)]


def raw(base, data, read=True, timeout=5):
    """Send bytes on a fresh connection; what came back until it closed."""
    host, port = base[len('http://'):].split(':')
    s = socket.create_connection((host, int(port)), timeout=timeout * SLOW)
    s.sendall(data)
    got = b''
    if read:
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
    s.close()
    return got.decode('latin-1')


class HttpTest(DaemonTest):

    def start(self):
        t = self.target()
        d = self.daemon(CONFIG % t.base)
        d.start()
        self.base = d.http_base()
        return d

    def assert_promtool_clean(self, body):
        """The /metrics text body passes promtool check metrics."""
        assert_promtool_clean(self, body)

    def post_deploy(self, body, *headers, ctype='application/json'):
        args = ['-X', 'POST', '-H', 'Content-Type: ' + ctype]
        for h in headers:
            args += ['-H', h]
        return curl(*args, '--data-binary', '@-', self.base + '/api/v1/deploys',
                    data=body.encode() if isinstance(body, str) else body)

    def test_health_and_routes(self):
        d = self.start()
        status, head, body = curl(self.base + '/healthz')
        self.assertEqual((status, json.loads(body)), (200, {'status': 'ok'}))
        self.assertIn('application/json', head)
        status, _, body = curl(self.base + '/readyz')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)['status'], 'ready')
        self.assertEqual(json.loads(body)['checks'], 2)
        status, _, body = curl(self.base + '/nope')
        self.assertEqual(status, 404)
        self.assertIn('no such route', json.loads(body)['error'])
        status, head, _ = curl('-X', 'POST', '-d', 'x', self.base + '/metrics')
        self.assertEqual(status, 405)
        self.assertIn('Allow: GET, HEAD', head)
        got = raw(self.base, b'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 200 OK'), got)
        self.assertIn('Content-Length: 16\r\n', got)
        self.assertTrue(got.endswith('\r\n\r\n'), 'HEAD answered with a body: %r' % got)
        # Keep-alive: two requests, one connection.
        got = raw(self.base, b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
                             b'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertEqual(got.count('HTTP/1.1 200 OK'), 2)
        self.assertIn('"ready"', got)
        # Garbage is a 400 and a closed connection.
        got = raw(self.base, b'\x16\x03\x01 not http at all\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 400'), got)
        self.assertIn('malformed request', got)
        self.assertIsNone(d.proc.poll())

    def test_invalid_utf8_is_never_echoed(self):
        """An error that quotes the request's bytes stays UTF-8 a strict
        client can decode: invalid bytes escaped, a message cut short
        never cut into a character."""
        d = self.start()
        paths = (b'/nope\xff\xfe/x',                # invalid bytes
                 b'/' + '\u00e9'.encode() * 300,     # cut at the message limit
                 b'/hb/\xff\xfe')                    # a route that names no token
        for path in paths:
            got = raw(self.base, b'GET ' + path + b' HTTP/1.1\r\nHost: x\r\n'
                      b'Connection: close\r\n\r\n').encode('latin-1')
            head, _, body = got.partition(b'\r\n\r\n')
            self.assertTrue(head.startswith(b'HTTP/1.1 404 '), got)
            self.assertNotIn(b'\xff', got)
            self.assertNotIn(b'\xfe', got)
            error = json.loads(body.decode('utf-8'))['error']
            self.assertTrue(error.startswith('no such route') or 'token' in error, error)
        error = json.loads(raw(self.base, b'GET /nope\xff\xfe/x HTTP/1.1\r\nHost: x\r\n'
                               b'Connection: close\r\n\r\n').partition('\r\n\r\n')[2])
        self.assertEqual(error['error'], 'no such route: /nope\\xff\\xfe/x')
        # A GitHub redelivery is answered with its delivery header quoted.
        body = b'{"zen":"x"}'
        sig = hmac.new(b'gh-hook-secret', body, hashlib.sha256).hexdigest().encode()
        ping = (b'POST /webhooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                b'Content-Type: application/json\r\nX-GitHub-Event: ping\r\n'
                b'X-GitHub-Delivery: d-\xff\xfe\r\nX-Hub-Signature-256: sha256=' + sig +
                b'\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
        self.assertTrue(raw(self.base, ping).startswith('HTTP/1.1 200 '))
        got = raw(self.base, ping).encode('latin-1')
        self.assertTrue(got.startswith(b'HTTP/1.1 200 '), got)
        self.assertEqual(json.loads(got.partition(b'\r\n\r\n')[2].decode('utf-8')),
                         {'ignored': 'redelivery', 'delivery': 'd-\\xff\\xfe'})
        self.assertIsNone(d.proc.poll())

    def test_labels_are_escaped(self):
        """Names, apps, environments and deploy versions holding quotes,
        backslashes and a would-be label stay inside their label value:
        /metrics is still valid and adds no label."""
        t = self.target()
        hostile = 'we"b\\x",evil="1'
        d = self.daemon(QUICK + textwrap.dedent("""
            apps:
              - name: 'sh"op\\'
                deploy-token: tok-123
            checks:
              - name: '%s'
                app: 'sh"op\\'
                env: 'pr\\od"} 1'
                type: http
                url: %s/ok
            """) % (hostile.replace("'", "''"), t.base))
        d.start()
        self.base = d.http_base()
        status, _, body = self.post_deploy(json.dumps({'app': 'sh"op\\', 'env': 'pr\\od"} 1',
                                                       'version': 'v"1\\2",x="y'}),
                                           'Authorization: Bearer tok-123')
        self.assertEqual(status, 201, body)
        check = 'check="we\\"b\\\\x\\",evil=\\"1"'
        app_env = 'app="sh\\"op\\\\",env="pr\\\\od\\"} 1"'
        body = wait_until(lambda: (lambda b: b if ('shipwatch_check_up{%s,%s' % (check, app_env)) in b
                                   and 'version="v\\"1\\\\2\\",x=\\"y"' in b else None)(
                              curl(self.base + '/metrics')[2]),
                          what='the hostile names in /metrics')
        # No line gained a label of its own: every label set parses whole,
        # and only known names are in it.
        label = r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\\n]|\\[\\"n])*"'
        series = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{%s(?:,%s)*\})? \S+$' % (label, label))
        for line in body.splitlines():
            if line and not line.startswith('#'):
                self.assertRegex(line, series)
                names = re.findall(label, line.partition('{')[2].rpartition('}')[0])
                self.assertFalse({'evil', 'x'} & set(names), line)
        self.assert_promtool_clean(body)

    def test_redirect_to_a_file_is_refused(self):
        """With follow-redirects, a target that redirects to file:// gets
        a down check; the file is never read."""
        t = self.target()
        d = self.daemon(QUICK + textwrap.dedent("""
            checks:
              - name: leak
                type: http
                url: %s/redirect?to=file:///etc/passwd
                follow-redirects: true
                conditions: ["[BODY] == pat(*root:*)"]
              - name: followed
                type: http
                url: %s/redirect
                follow-redirects: true
            """) % (t.base, t.base))
        d.start()
        self.assertEqual(d.wait_results('followed', 1)[0]['outcome'], UP)
        rows = d.wait_results('leak', 2)
        for r in rows:
            self.assertEqual(r['outcome'], DOWN, r)
            self.assertNotEqual(r['status'], 200, r)
            self.assertIn('protocol', (r['error'] or '').lower(), r)
        with open('/etc/passwd', encoding='utf-8') as f:
            first = f.readline().strip()
        self.assertNotIn(first, d.log())

    def test_tls_is_verified_by_default(self):
        """An https target with a self-signed certificate is down with a
        certificate error, and up only with verify-tls: false."""
        work = tempfile.mkdtemp(prefix='shipwatch-tls-')
        self.addCleanup(shutil.rmtree, work, True)
        cert, key = os.path.join(work, 'cert.pem'), os.path.join(work, 'key.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                        '-keyout', key, '-out', cert], check=True, capture_output=True,
                       timeout=60)
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(['openssl', 's_server', '-accept', '127.0.0.1:%d' % port,
                                   '-cert', cert, '-key', key, '-www', '-quiet'],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        def stop():
            server.kill()
            server.wait(10)
        self.addCleanup(stop)

        def listening():
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                return True
            except OSError:
                return server.poll() is not None and 'exited'
        self.assertEqual(wait_until(listening, what='openssl s_server'), True)
        d = self.daemon(QUICK + textwrap.dedent("""
            checks:
              - name: verified
                type: http
                url: https://127.0.0.1:%d/
              - name: unverified
                type: http
                url: https://127.0.0.1:%d/
                verify-tls: false
            """) % (port, port))
        d.start()
        self.assertEqual(d.wait_results('unverified', 1)[0]['outcome'], UP)
        rows = d.wait_results('verified', 2)
        for r in rows:
            self.assertEqual(r['outcome'], DOWN, r)
            self.assertIn('certificate', (r['error'] or '').lower(), r)

    def test_secrets_stay_out_of_the_db_the_log_and_metrics(self):
        """Every credential the configuration holds is used (a deploy by
        token and one signed, a GitHub delivery, a notifier that fails, a
        Redis that refuses, a heartbeat ping), and none of them shows in
        history.db (and its journal), the log or /metrics."""
        import servers
        t = self.target()
        with socket.socket() as probe:      # a port nothing listens on
            probe.bind(('127.0.0.1', 0))
            closed = probe.getsockname()[1]
        secrets = {'deploy-token': 'tok-S3cretDeployToken', 'deploy-secret': 'mac-S3cretKey',
                   'daemon deploy-token': 'tok-S3cretDaemonToken',
                   'github-secret': 'gh-S3cretHook', 'notifier token': 'S3cretHookToken',
                   'notifier password': 'S3cretHookPass', 'redis password': 'S3cretRedisPass',
                   'heartbeat token': 'hb-S3cretPingToken0123'}
        redis = servers.RedisServer(password=secrets['redis password']).__enter__()
        self.addCleanup(redis.__exit__, None, None, None)
        d = self.daemon(textwrap.dedent("""
            daemon:
              socket: {socket}
              deploy-token: %(daemon deploy-token)s
              github-secret: %(github-secret)s
            storage:
              path: {db}
            redis:
              url: %(redis)s
            defaults:
              interval: 300ms
              timeout: 1s
              failure-threshold: 1
              success-threshold: 1
            apps:
              - name: shop
                deploy-token: %(deploy-token)s
                deploy-secret: %(deploy-secret)s
            notifiers:
              - name: hook
                type: webhook
                url: http://ops:%(notifier password)s@127.0.0.1:%(port)d/hook?token=%(notifier token)s
                timeout: 1s
                retry-initial: 100ms
                retry-max: 200ms
            alerts:
              - notify: [hook]
            checks:
              - name: web
                app: shop
                env: prod
                type: http
                url: %(target)s/status/503
              - name: backup
                app: shop
                env: prod
                type: heartbeat
                token: %(heartbeat token)s
                period: 1h
            """) % dict(secrets, port=closed, target=t.base, redis=redis.url))
        d.start()
        self.base = d.http_base()
        self.assertEqual(self.post_deploy('{"app":"shop","env":"prod","version":"1"}',
                                          'Authorization: Bearer ' + secrets['deploy-token'])[0],
                         201)
        body = b'{"app":"shop","env":"prod","version":"2"}'
        self.assertEqual(self.post_deploy(body, *signed(body, secrets['deploy-secret'].encode()))[0],
                         201)
        self.assertEqual(self.post_deploy('{"app":"shop","env":"prod","version":"3"}',
                                          'Authorization: Bearer ' +
                                          secrets['daemon deploy-token'])[0], 201)
        self.assertEqual(self.github('ping', {'zen': 'z'},
                                     secret=secrets['github-secret'].encode())[0], 200)
        self.assertEqual(curl(self.base + '/hb/' + secrets['heartbeat token'])[0], 200)
        failed = re.compile(r'^shipwatch_notifications_failed_total\{notifier="hook"\} ([0-9]+)$',
                            re.M)
        wait_until(lambda: int((failed.search(curl(self.base + '/metrics')[2]) or [0, 0])[1]) >= 2,
                   what='the notifier to fail twice')
        metrics = curl(self.base + '/metrics')[2]
        d.stop()
        stored = b''
        for suffix in ('', '-wal', '-shm', '-journal'):
            if os.path.exists(d.db + suffix):
                with open(d.db + suffix, 'rb') as f:
                    stored += f.read()
        log = d.log()
        self.assertIn('redis', log.lower())     # the connection was made and logged
        for what, secret in secrets.items():
            self.assertNotIn(secret.encode(), stored, what + ' in history.db')
            self.assertNotIn(secret, log, what + ' in the log')
            self.assertNotIn(secret, metrics, what + ' in /metrics')

    def test_several_addresses_and_ipv6(self):
        probe = socket.socket(socket.AF_INET6)
        try:
            probe.bind(('::1', 0))
        except OSError:
            self.skipTest('no IPv6 loopback')
        finally:
            probe.close()
        t = self.target()
        d = self.daemon((CONFIG % t.base).replace(
            'daemon:\n', 'daemon:\n  http: ["127.0.0.1:0", "[::1]:0"]\n'))
        d.start()
        import re
        addrs = wait_until(lambda: (lambda m: m if len(m) == 2 else None)(
            re.findall(r'http listening on (\S+?)[" ]', d.log())), what='two listeners')
        self.assertRegex(addrs[0], r'^127\.0\.0\.1:\d+$')
        self.assertRegex(addrs[1], r'^\[::1\]:\d+$')
        for a in addrs:
            status, _, body = curl('-g', 'http://%s/healthz' % a)
            self.assertEqual((status, json.loads(body)['status']), (200, 'ok'), a)

    def test_metrics(self):
        d = self.start()
        wait_until(lambda: 'shipwatch_check_up{check="web"' in curl(self.base + '/metrics')[2]
                   and 'check="web",app="shop",env="prod",type="http"} 1' in
                   curl(self.base + '/metrics')[2], what='web up in /metrics')
        status, head, body = curl(self.base + '/metrics')
        self.assertEqual(status, 200)
        self.assertIn('text/plain; version=0.0.4', head)
        for family in ('shipwatch_check_up', 'shipwatch_check_state',
                       'shipwatch_check_duration_seconds', 'shipwatch_check_results_total',
                       'shipwatch_check_last_run_timestamp_seconds',
                       'shipwatch_check_http_status_code', 'shipwatch_deploys_total',
                       'shipwatch_deploy_last_timestamp_seconds', 'shipwatch_deploy_info',
                       'shipwatch_ipc_clients', 'shipwatch_store_queue_length',
                       'shipwatch_store_write_errors_total', 'shipwatch_build_info',
                       'shipwatch_http_requests_total', 'shipwatch_http_timeouts_total',
                       'shipwatch_http_connections', 'shipwatch_http_rejected_total',
                       'shipwatch_http_shed_total', 'shipwatch_check_last_success',
                       'shipwatch_check_last_duration_seconds',
                       'process_cpu_seconds_total', 'process_resident_memory_bytes',
                       'process_open_fds', 'process_max_fds', 'process_start_time_seconds'):
            self.assertIn('# TYPE %s ' % family, body)
            self.assertIn('# HELP %s ' % family, body)
        self.assertIn('shipwatch_check_http_status_code{check="web",app="shop",env="prod",'
                      'type="http"} 200', body)
        self.assertRegex(body, r'shipwatch_check_duration_seconds_bucket\{check="web",.*'
                               r'le="\+Inf"\} [1-9]')
        self.assertRegex(body, r'process_start_time_seconds 1\d{9}\n')
        # Bucket bounds as Go's FormatFloat(f, 'f', -1, 64) writes them.
        les = re.findall(r'shipwatch_check_duration_seconds_bucket\{check="web",[^}]*le="([^"]+)"',
                         body)
        self.assertEqual(les, ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1',
                               '2.5', '10', '+Inf'])
        # One state series a state, 1 for the current; the last result.
        web = 'check="web",app="shop",env="prod",type="http"'
        for state, v in (('unknown', 0), ('up', 1), ('degraded', 0), ('down', 0)):
            self.assertIn('shipwatch_check_state{%s,state="%s"} %d\n' % (web, state, v), body)
        self.assertIn('shipwatch_check_last_success{%s} 1\n' % web, body)
        self.assertRegex(body, r'shipwatch_check_last_duration_seconds\{%s\} \d+\.\d{6}\n'
                         % re.escape(web))
        # A deploy shows in the deploy families.
        self.assertEqual(self.post_deploy('{"app":"shop","env":"prod","version":"7.1"}',
                                          'Authorization: Bearer tok-123')[0], 201)
        # A render serves the scrapes of one second: wait for the next.
        body = wait_until(lambda: (lambda b: b if 'shipwatch_deploy_info{app="shop",env="prod",'
                                   'version="7.1"} 1' in b else None)(curl(self.base + '/metrics')[2]),
                          what='the deploy in /metrics')
        # Counted by verdict once judged; a failed deploy at once, as none.
        self.assertNotIn('shipwatch_deploys_total{app="shop"', body)
        self.assertEqual(self.post_deploy('{"app":"shop","env":"prod","version":"7.2",'
                                          '"status":"failed"}', 'Authorization: Bearer tok-123')[0],
                         201)
        wait_until(lambda: 'shipwatch_deploys_total{app="shop",env="prod",verdict="none"} 1'
                   in curl(self.base + '/metrics')[2], what='the failed deploy counted')
        rpc = d.rpc()
        wait_until(lambda: 'shipwatch_ipc_clients 1\n' in curl(self.base + '/metrics')[2],
                   what='the socket client in /metrics')
        rpc.close()

        self.assert_promtool_clean(body)

    def test_prometheus_scrapes(self):
        prometheus = shutil.which('prometheus')
        if prometheus is None:
            self.skipTest('prometheus is not installed')
        d = self.start()
        work = tempfile.mkdtemp(prefix='shipwatch-prom-')
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        with open(os.path.join(work, 'prometheus.yml'), 'w') as f:
            f.write(textwrap.dedent('''
                global:
                  scrape_interval: 1s
                scrape_configs:
                  - job_name: shipwatch
                    static_configs:
                      - targets: ['%s']
            ''' % self.base[len('http://'):]))
        p = subprocess.Popen([prometheus, '--config.file', os.path.join(work, 'prometheus.yml'),
                              '--storage.tsdb.path', os.path.join(work, 'data'),
                              '--web.listen-address', '127.0.0.1:%d' % port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop():
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._stoppers.append(stop)

        def up_series():
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/query?query='
                                            'shipwatch_check_up' % port, timeout=5) as r:
                    res = json.load(r)['data']['result']
            except OSError:
                return None
            names = sorted(x['metric']['check'] for x in res)
            return names if names == ['backup', 'web'] else None

        self.assertEqual(wait_until(up_series, timeout=60, what='Prometheus to scrape'),
                         ['backup', 'web'])

    def test_heartbeats(self):
        d = self.start()
        rpc = d.rpc()
        token = 'hb-0123456789abcdef'
        status, _, body = curl(self.base + '/hb/' + token)
        self.assertEqual((status, body), (200, 'OK\n'))
        wait_until(lambda: rpc.call('checks.get', {'check': 'backup'})['state'] == 'up',
                   what='the heartbeat check up')
        self.assertEqual(curl('-X', 'POST', self.base + '/hb/%s/start' % token)[0], 200)
        self.assertEqual(curl(self.base + '/hb/%s/fail' % token)[0], 200)
        wait_until(lambda: rpc.call('checks.get', {'check': 'backup'})['state'] == 'down',
                   what='the heartbeat check down after /fail')
        self.assertEqual(curl(self.base + '/hb/%s' % token)[0], 200)
        status, _, body = curl(self.base + '/hb/not-a-token')
        self.assertEqual(status, 404)
        self.assertEqual(curl(self.base + '/hb/%s/other' % token)[0], 404)
        status, head, _ = curl('-X', 'PUT', self.base + '/hb/' + token)
        self.assertEqual(status, 405)
        self.assertIn('Allow: GET, POST, HEAD', head)

    def test_deploys(self):
        d = self.start()
        rpc = d.rpc()
        bearer = 'Authorization: Bearer tok-123'
        status, _, body = self.post_deploy(json.dumps({
            'app': 'shop', 'env': 'prod', 'version': '3.0.0', 'commit': 'abc1234',
            'author': 'ci', 'status': 'started', 'id': 'gh-run-42',
            'started_at': '2026-11-23T09:00:00Z', 'url': 'https://ci.example/42'}), bearer)
        self.assertEqual(status, 201, body)
        first = json.loads(body)
        self.assertEqual(first['status'], 'started')
        # The same id again: the same deploy, updated, what it leaves out kept.
        status, _, body = self.post_deploy(json.dumps({
            'app': 'shop', 'env': 'prod', 'version': '3.0.0', 'status': 'succeeded',
            'id': 'gh-run-42', 'finished_at': '2026-11-23T09:04:30.500+01:00'}), bearer)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['id'], first['id'])
        deps = rpc.call('deploys.list')['deploys']
        self.assertEqual(len(deps), 1)
        self.assertEqual(deps[0]['status'], 'succeeded')
        self.assertEqual(deps[0]['commit'], 'abc1234')
        self.assertEqual(deps[0]['source'], 'api')
        self.assertEqual(deps[0]['started_ms'], 1795424400000)
        self.assertEqual(deps[0]['finished_ms'], 1795420800000 + 270500)

        # A signature of the timestamp and the body with the app's secret,
        # upper- or lower-case hex.
        body = json.dumps({'app': 'shop', 'env': 'prod', 'version': '3.0.1'}).encode()
        self.assertEqual(self.post_deploy(body, *signed(body))[0], 201)
        stamp = str(int(time.time()) - 1)
        self.assertEqual(self.post_deploy(body, *signed(body, stamp=stamp, upper=True))[0], 201)
        sig = signed(body)[1].split('=', 1)[1]
        # The CLI's record lands in the same place.
        subprocess.run([SHIPWATCH, '--socket', d.socket, 'deploy', 'record', '--app', 'shop',
                        '--env', 'prod', '--version', '3.0.2'], check=True, capture_output=True)
        self.assertEqual([x['version'] for x in rpc.call('deploys.list')['deploys']],
                         ['3.0.2', '3.0.1', '3.0.1', '3.0.0'])

        # Every refusal stores nothing.
        before = len(rpc.call('deploys.list')['deploys'])
        good = '{"app":"shop","env":"prod","version":"9"}'
        cases = [
            (good, [], 401, 'deploy-token'),
            (good, ['Authorization: Bearer wrong'], 401, 'deploy-token'),
            (good, ['Authorization: Basic dG9rLTEyMw=='], 401, None),
            (good, ['X-Shipwatch-Signature-256: sha256=' + '0' * 64], 401, None),
            (good, ['X-Shipwatch-Signature-256: sha256=' + sig], 401, None),   # other body
            (good, ['X-Shipwatch-Signature-256: ' + sig], 401, None),
            (good, signed(good.encode())[1:], 401, None),     # no timestamp
            (good, signed(good.encode(), stamp='0'), 401, 'X-Shipwatch-Timestamp'),
            ('{"app":"shop","env":"prod"', [bearer], 400, 'malformed JSON at byte'),
            ('[1, 2]', [bearer], 400, 'expected a JSON object'),
            ('{"app":"shop","env":"prod","version":9}', [bearer], 400, 'version: expected a string'),
            ('{"app":"shop","env":"prod"}', [bearer], 400, 'version: missing'),
            ('{"app":"shop","env":"prod","version":"9","status":"maybe"}', [bearer], 400,
             'status'),
            ('{"app":"shop","env":"prod","version":"9","started_at":"yesterday"}', [bearer],
             400, 'started_at'),
            ('{"app":"shop","env":"prod","version":"9","app":"x"}', [bearer], 400, 'duplicate'),
            ('{"app":"nope","env":"prod","version":"9"}', [bearer], 401, 'deploy-token'),
            ('{"app":"quiet","env":"prod","version":"9"}', [bearer], 401, None),
        ]
        for body, headers, want, text in cases:
            status, head, got = self.post_deploy(body, *headers)
            self.assertEqual(status, want, (body, headers, got))
            if text is not None:
                self.assertIn(text, json.loads(got)['error'], (body, headers))
            if want == 401:
                self.assertIn('WWW-Authenticate: Bearer', head)
        status, _, got = self.post_deploy(good, bearer, ctype='text/plain')
        self.assertEqual(status, 415)
        status, head, _ = curl(self.base + '/api/v1/deploys')
        self.assertEqual(status, 405)
        self.assertIn('Allow: POST', head)
        got = raw(self.base, b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\n'
                             b'Content-Type: application/json\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 411'), got)
        got = raw(self.base, b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\n'
                             b'Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 413'), got)
        got = raw(self.base, b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: '
                             b'chunked\r\nContent-Type: application/json\r\n'
                             b'Authorization: Bearer tok-123\r\n\r\n' +
                             (b'10000\r\n' + b' ' * 0x10000 + b'\r\n') * 17)
        self.assertTrue(got.startswith('HTTP/1.1 413'), got[:100])
        got = raw(self.base, b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 20000 +
                  b'\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 431'), got[:100])
        self.assertEqual(len(rpc.call('deploys.list')['deploys']), before)

    def test_deploy_ids_are_scoped_and_move_forward(self):
        d = self.start()
        shop, other = 'Authorization: Bearer tok-123', 'Authorization: Bearer tok-other'

        def post(doc, auth=shop):
            status, _, body = self.post_deploy(json.dumps(dict(
                {'app': 'shop', 'env': 'prod', 'version': '3.0', 'id': 'run-1'}, **doc)), auth)
            return status, json.loads(body)

        def row():
            return wait_until(lambda: d.query(
                'SELECT app, version, status, verdict FROM deploys WHERE ext_id = ?',
                ('run-1',)), what='the row')[0]

        status, first = post({'status': 'started'})
        self.assertEqual(status, 201, first)
        # Another app's credential can neither take it over nor touch it.
        status, got = post({'app': 'other', 'version': 'evil', 'status': 'succeeded'}, other)
        self.assertEqual(status, 409, got)
        self.assertNotIn('shop', got['error'])
        self.assertEqual(post({'status': 'failed'}, other)[0], 401)
        self.assertEqual(row()[:3], ('shop', '3.0', 'started'))
        # Forward only: succeeded, then an older started changes nothing.
        self.assertEqual(post({'status': 'succeeded'})[1]['status'], 'succeeded')
        status, got = post({'status': 'started'})
        self.assertEqual((status, got['status'], got['id']), (200, 'succeeded', first['id']))
        wait_until(lambda: row()[2:] == ('succeeded', 'pending'), what='verifying')
        # A later failure stands; an older success does not undo it.
        self.assertEqual(post({'status': 'failed'})[1]['status'], 'failed')
        self.assertEqual(post({'status': 'succeeded'})[1]['status'], 'failed')
        wait_until(lambda: row()[2] == 'failed', what='failed stored')
        # Its verification ends with the failure; the verdict written then
        # leaves the status failed.
        wait_until(lambda: row()[3] not in (None, 'pending'), what='the verdict')
        time.sleep(0.3)
        self.assertEqual(row()[2], 'failed')
        self.assertEqual(len(d.query('SELECT id FROM deploys')), 1)
        events = [m for _, _, _, _, m in d.events('deploy')]
        self.assertEqual(len(events), 3, events)    # started, succeeded, failed

    def test_signed_deploys_cannot_be_replayed(self):
        d = self.start()
        body = b'{"app":"shop","env":"prod","version":"7.0","status":"started"}'
        headers = signed(body)
        status, _, got = self.post_deploy(body, *headers)
        self.assertEqual(status, 201, got)
        # The captured request again, as it was: refused.
        status, _, got = self.post_deploy(body, *headers)
        self.assertEqual(status, 401, got)
        self.assertIn('used already', json.loads(got)['error'])
        # Or with a timestamp out of the window (it is signed: it cannot be
        # changed without the secret).
        now = int(time.time())
        for stamp in (now - 310, now + 310, 'yesterday'):
            status, _, got = self.post_deploy(body, *signed(body, stamp=str(stamp)))
            self.assertEqual(status, 401, (stamp, got))
        forged = [headers[0].replace(headers[0].split(': ')[1], str(now + 1)), headers[1]]
        self.assertEqual(self.post_deploy(body, *forged)[0], 401)
        time.sleep(0.3)
        self.assertEqual(len(d.query('SELECT id FROM deploys')), 1)
        # The client example of docs/http.md, as written, works once.
        with open(os.path.join(SOURCE_ROOT, 'docs', 'http.md'), encoding='utf-8') as f:
            doc = f.read()
        script = doc.split('Signed instead of a bearer token')[1].split('```sh\n')[1]
        script = script.split('```')[0].replace('http://127.0.0.1:9321', self.base)
        env = dict(os.environ, SHIPWATCH_DEPLOY_SECRET='mac-456')
        run = subprocess.run(['sh', '-ec', script], env=env, capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(json.loads(run.stdout)['version'], '2.14.1')

    def test_app_names_cannot_be_probed(self):
        self.start()
        answers = set()
        for app in ('shop', 'nope', 'quiet', 'other'):
            for auth in ([], ['Authorization: Bearer wrong'], signed(b'x')):
                status, _, body = self.post_deploy(json.dumps(
                    {'app': app, 'env': 'prod', 'version': '1'}), *auth)
                answers.add((status, body.replace('"' + app + '"', '')))
        self.assertEqual(len(answers), 1, answers)
        self.assertEqual(answers.pop()[0], 401)

    def test_chunked_bodies_are_accepted(self):
        d = self.start()
        body = b'{"app":"shop","env":"prod","version":"8.0"}'
        chunks = b'%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n' % (10, body[:10], len(body) - 10,
                                                               body[10:])
        got = raw(self.base, b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nConnection: close'
                             b'\r\nAuthorization: Bearer tok-123\r\nTransfer-Encoding: chunked'
                             b'\r\nContent-Type: application/json\r\n\r\n' + chunks)
        self.assertTrue(got.startswith('HTTP/1.1 201'), got)
        # Signed over the body as received, whatever its framing.
        headers = signed(body)
        got = raw(self.base, b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nConnection: close'
                             b'\r\n' + '\r\n'.join(headers).encode() +
                  b'\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n'
                  + chunks)
        self.assertTrue(got.startswith('HTTP/1.1 201'), got)
        wait_until(lambda: len(d.query('SELECT id FROM deploys')) == 2, what='both stored')

    def github(self, event, payload, secret=b'gh-hook-secret', signature=None):
        body = json.dumps(payload).encode()
        sig = signature if signature is not None else \
            'sha256=' + hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = ['-X', 'POST', '-H', 'Content-Type: application/json',
                   '-H', 'X-GitHub-Event: ' + event,
                   '-H', 'X-GitHub-Delivery: ' + str(uuid.uuid4())]
        if sig:
            headers += ['-H', 'X-Hub-Signature-256: ' + sig]
        return curl(*headers, '--data-binary', '@-', self.base + '/webhooks/github', data=body)

    def test_github_webhook(self):
        d = self.start()
        rpc = d.rpc()
        deployment = {'id': 9001, 'sha': 'f00dfeed' * 5, 'ref': 'v5.2.0', 'environment': 'prod',
                      'creator': {'login': 'octocat'}, 'payload': {}}
        repo = {'full_name': 'acme/storefront', 'name': 'storefront'}
        status, _, body = self.github('ping', {'zen': 'Keep it logically awesome.'})
        self.assertEqual((status, json.loads(body)), (200, {'ok': True}))
        status, _, body = self.github('deployment', {'deployment': deployment,
                                                     'repository': repo})
        self.assertEqual(status, 201, body)
        dep_id = json.loads(body)['id']
        deps = rpc.call('deploys.list')['deploys']
        self.assertEqual(len(deps), 1)
        self.assertEqual((deps[0]['app'], deps[0]['env'], deps[0]['version'], deps[0]['status'],
                          deps[0]['source'], deps[0]['author'], deps[0]['commit']),
                         ('shop', 'prod', 'f00dfee', 'started', 'github', 'octocat',
                          'f00dfeed' * 5))
        # Without a version in the payload: the short sha; the ref kept apart.
        self.assertEqual(wait_until(lambda: d.query('SELECT ref FROM deploys')),
                         [('v5.2.0',)])
        # Its status, later: the same deploy.
        status, _, body = self.github('deployment_status', {
            'deployment': deployment, 'repository': repo,
            'deployment_status': {'state': 'success', 'target_url': 'https://shop.example'}})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)['id'], dep_id)
        deps = rpc.call('deploys.list')['deploys']
        self.assertEqual(len(deps), 1)
        self.assertEqual(deps[0]['status'], 'succeeded')
        self.assertEqual(deps[0]['url'], 'https://shop.example')
        # A failure of another deployment; the payload's version wins over the ref.
        other = dict(deployment, id=9002, payload={'version': '5.2.1'})
        status, _, body = self.github('deployment_status', {
            'deployment': other, 'repository': repo, 'deployment_status': {'state': 'failure'}})
        self.assertEqual(status, 201, body)
        deps = rpc.call('deploys.list')['deploys']
        self.assertEqual((deps[0]['version'], deps[0]['status']), ('5.2.1', 'failed'))
        # Other events are accepted and ignored; so is an inactive status.
        self.assertEqual(self.github('push', {'ref': 'refs/heads/main'})[0], 202)
        self.assertEqual(self.github('deployment_status', {
            'deployment': other, 'repository': repo,
            'deployment_status': {'state': 'inactive'}})[0], 202)
        # Signatures: wrong secret, missing, malformed.
        n = len(rpc.call('deploys.list')['deploys'])
        payload = {'deployment': dict(deployment, id=9003), 'repository': repo}
        for kw in ({'secret': b'wrong'}, {'signature': ''}, {'signature': 'sha1=abc'},
                   {'signature': 'sha256=' + '0' * 64}):
            self.assertEqual(self.github('deployment', payload, **kw)[0], 401, kw)
        # A repository no app claims; a payload without an environment.
        status, _, body = self.github('deployment', {'deployment': dict(deployment, id=9004),
                                                     'repository': {'full_name': 'acme/x',
                                                                    'name': 'x'}})
        self.assertEqual(status, 404)
        self.assertIn('acme/x', json.loads(body)['error'])
        bad = dict(deployment, id=9005)
        del bad['environment']
        self.assertEqual(self.github('deployment', {'deployment': bad, 'repository': repo})[0],
                         400)
        # Signed, but truncated or not an object.
        for raw_body, text in ((b'{"deployment": {"id": 1', 'malformed JSON at byte'),
                               (b'[1, 2]', 'expected a JSON object')):
            sig = 'sha256=' + hmac.new(b'gh-hook-secret', raw_body, hashlib.sha256).hexdigest()
            status, _, got = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                                  '-H', 'X-GitHub-Event: deployment',
                                  '-H', 'X-Hub-Signature-256: ' + sig, '--data-binary', '@-',
                                  self.base + '/webhooks/github', data=raw_body)
            self.assertEqual(status, 400, got)
            self.assertIn(text, json.loads(got)['error'])
        self.assertEqual(len(rpc.call('deploys.list')['deploys']), n)
        status, head, _ = curl(self.base + '/webhooks/github')
        self.assertEqual(status, 405)

    def test_route_checks_in_order(self):
        # The router checks the method, whether the route is on, the body's
        # length and the signature, in that order, before any handler runs.
        self.start()
        status, head, body = curl(self.base + '/webhooks/github')
        self.assertEqual(status, 405)
        self.assertIn('Allow: POST', head)
        self.assertEqual(json.loads(body)['error'], '/webhooks/github takes POST')
        status, _, body = curl('-X', 'DELETE', self.base + '/healthz?x=1')
        self.assertEqual((status, json.loads(body)['error']), (405, '/healthz takes GET'))
        self.assertEqual(curl(self.base + '/healthz?x=1')[0], 200)
        self.assertEqual(curl(self.base + '/hb')[0], 404)
        self.assertEqual(curl(self.base + '/healthz/')[0], 404)
        got = raw(self.base, b'POST /webhooks/github HTTP/1.1\r\nHost: x\r\n'
                             b'Content-Type: application/json\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 411'), got)
        self.assertIn('a webhook needs a Content-Length', got)
        status, _, body = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                               '--data-binary', '{}', self.base + '/webhooks/github')
        self.assertEqual(status, 401)
        self.assertIn('X-Hub-Signature-256', json.loads(body)['error'])

    def test_github_webhook_off_without_secret(self):
        t = self.target()
        d = self.daemon((CONFIG % t.base).replace('  github-secret: gh-hook-secret\n', ''))
        d.start()
        self.base = d.http_base()
        # Off comes before the length check: no secret, no webhook at all.
        got = raw(self.base, b'POST /webhooks/github HTTP/1.1\r\nHost: x\r\n'
                             b'Content-Type: application/json\r\n\r\n')
        self.assertTrue(got.startswith('HTTP/1.1 404'), got)
        self.assertIn('the GitHub webhook is off', got)
        self.assertEqual(curl(self.base + '/webhooks/github')[0], 405)

    def test_auto_register_and_daemon_credentials(self):
        t = self.target()
        d = self.daemon((CONFIG % t.base).replace(
            'daemon:\n', 'daemon:\n  deploy-token: all-apps\n  auto-register-apps: true\n'))
        d.start()
        self.base = d.http_base()
        rpc = d.rpc()
        new = '{"app":"newapp","env":"prod","version":"1"}'
        self.assertEqual(self.post_deploy(new, 'Authorization: Bearer all-apps')[0], 201)
        # Another app's own token is not good for it; the daemon's is good for all.
        self.assertEqual(self.post_deploy(new, 'Authorization: Bearer tok-123')[0], 401)
        self.assertEqual(self.post_deploy('{"app":"shop","env":"prod","version":"2"}',
                                          'Authorization: Bearer all-apps')[0], 201)
        self.assertEqual(self.post_deploy(new)[0], 401)
        # A repository no app claims becomes an app of its name.
        status, _, body = self.github('deployment', {
            'deployment': {'id': 77, 'ref': 'main', 'environment': 'staging', 'sha': 'abc'},
            'repository': {'full_name': 'acme/widgets', 'name': 'widgets'}})
        self.assertEqual(status, 201, body)
        apps = sorted({x['app'] for x in rpc.call('deploys.list')['deploys']})
        self.assertEqual(apps, ['newapp', 'shop', 'widgets'])

    def test_slow_clients_are_dropped(self):
        d = self.start()
        # A slowloris: a header line every second, never the end. The
        # header deadline (10 s) closes it while others are served.
        host, port = self.base[len('http://'):].split(':')
        slow = socket.create_connection((host, int(port)), timeout=30)
        slow.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n')
        t0 = time.monotonic()
        closed = False
        served = 0
        while time.monotonic() - t0 < 20:
            try:
                slow.sendall(b'X-Drip: 1\r\n')
            except OSError:
                closed = True
                break
            slow.settimeout(0.01)
            try:
                if slow.recv(1) == b'':
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
            self.assertEqual(curl(self.base + '/healthz')[0], 200)
            served += 1
            time.sleep(0.5)
        took = time.monotonic() - t0
        slow.close()
        self.assertTrue(closed, 'the slow client was never dropped')
        wait_until(lambda: 'shipwatch_http_timeouts_total 1\n' in curl(self.base + '/metrics')[2],
                   what='the drop counted in /metrics')
        self.assertGreaterEqual(took, 9)
        self.assertLess(took, 15)
        self.assertGreater(served, 10)
        # An idle connection that never sends a byte goes too.
        idle = socket.create_connection((host, int(port)), timeout=30)
        t0 = time.monotonic()
        self.assertEqual(idle.recv(1), b'')
        self.assertLess(time.monotonic() - t0, 15)
        idle.close()
        self.assertIsNone(d.proc.poll())


if __name__ == '__main__':
    main()
