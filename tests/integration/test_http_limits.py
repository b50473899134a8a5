#!/usr/bin/env python3
"""The HTTP side under a flood, every load bounded and on loopback: one
client holding hundreds of connections, bodies nobody asked for, the bytes
buffered across connections, and an HTTP check against a large response."""
import json
import socket
import time

from harness import DOWN, SLOW, UP, DaemonTest, main, wait_until
from test_http import CONFIG, curl

TOKEN = 'hb-0123456789abcdef'


def connect(base, timeout=5):
    host, port = base[len('http://'):].split(':')
    return socket.create_connection((host, int(port)), timeout=timeout * SLOW)


def answer(s, timeout=3):
    """The first bytes the server answers on s ('' when it says nothing)."""
    s.settimeout(timeout * SLOW)
    got = b''
    try:
        while b'\r\n\r\n' not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return got.decode('latin-1')


def rss_kib(pid):
    with open('/proc/%d/status' % pid, encoding='ascii') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class HttpLimitsTest(DaemonTest):

    def start(self, config=None):
        t = self.target()
        d = self.daemon(config or CONFIG % t.base)
        d.start()
        self.base = d.http_base()
        return d

    def test_bodies_refused_from_the_headers(self):
        # Each of these is answered before a byte of its body is sent: a
        # route that takes no body, a deploy without a credential or with a
        # token nobody has, a stale signature, a webhook without a signature.
        self.start()
        cases = [
            (b'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n',
             '413', 'takes no request body'),
            (b'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n',
             '405', 'takes GET'),
            (b'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n',
             '413', 'takes no request body'),
            (b'POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n',
             '404', 'no such route'),
            (b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
             b'Content-Length: 500000\r\n\r\n', '401', 'deploy-token'),
            (b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
             b'Authorization: Bearer guess\r\nContent-Length: 500000\r\n\r\n', '401',
             'deploy-token'),
            (b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
             b'Transfer-Encoding: chunked\r\n\r\n', '401', 'deploy-token'),
            (b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
             b'X-Shipwatch-Timestamp: 0\r\nX-Shipwatch-Signature-256: sha256=00\r\n'
             b'Content-Length: 500000\r\n\r\n', '401', 'X-Shipwatch-Timestamp'),
            (b'POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
             b'Content-Length: 500000\r\n\r\n', '401', 'X-Hub-Signature-256'),
        ]
        for req, status, text in cases:
            s = connect(self.base)
            s.sendall(req)
            got = answer(s)
            s.close()
            self.assertTrue(got.startswith('HTTP/1.1 ' + status), (req, got))
            self.assertIn(text, got, req)
            self.assertIn('Connection: close', got, req)
        # A valid token's body is read as before.
        status, _, body = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                               '-H', 'Authorization: Bearer tok-123', '--data-binary',
                               '{"app":"shop","env":"prod","version":"7"}',
                               self.base + '/api/v1/deploys')
        self.assertEqual(status, 201, body)
        # Without a body, a request keeps its connection.
        s = connect(self.base)
        s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
                  b'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        got = b''
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertEqual(got.count(b'HTTP/1.1 200 OK'), 2, got)

    def test_unwanted_bodies_are_not_buffered(self):
        # 500 connections (5 waves of 100) each sending 1 MiB to /healthz:
        # the memory of the daemon barely moves.
        d = self.start()
        body = b'x' * (1 << 20)
        head = b'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % len(body)
        before = rss_kib(d.proc.pid)
        peak = before
        answered = 0
        for _ in range(5):
            socks = [connect(self.base) for _ in range(100)]
            for s in socks:
                s.sendall(head)
            for s in socks:
                s.settimeout(0.5 * SLOW)
                try:
                    s.sendall(body)
                except (OSError, socket.timeout):
                    pass    # refused already: the server stopped reading
            peak = max(peak, rss_kib(d.proc.pid))
            for s in socks:
                if answer(s, timeout=2).startswith('HTTP/1.1 413'):
                    answered += 1
                s.close()
            peak = max(peak, rss_kib(d.proc.pid))
            wait_until(lambda: 'shipwatch_http_connections 1\n' in curl(self.base + '/metrics')[2],
                       what='the wave closed')
        after = rss_kib(d.proc.pid)
        print('RSS: before %d KiB, peak %d KiB, after %d KiB (500 x 1 MiB to /healthz)'
              % (before, peak, after))
        self.assertEqual(answered, 500)
        self.assertLess(peak - before, 40 * 1024, 'the daemon buffered the unwanted bodies')
        self.assertEqual(curl(self.base + '/healthz')[0], 200)

    def test_buffered_bodies_are_bounded(self):
        # Authorized deploys that send most of a 1 MiB body and stall: past
        # 32 MiB across connections the next ones get 503, not memory.
        d = self.start()
        head = (b'POST /api/v1/deploys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                b'Authorization: Bearer tok-123\r\nContent-Length: 1000000\r\n\r\n')
        socks = []
        for _ in range(48):
            s = connect(self.base)
            s.sendall(head + b' ' * 600000)
            socks.append(s)
        shed = 0
        for s in socks:
            got = answer(s, timeout=0.3)
            if got.startswith('HTTP/1.1 503'):
                self.assertIn('Retry-After: 1', got)
                shed += 1
        for s in socks:
            s.close()
        self.assertGreaterEqual(shed, 10)
        self.assertLessEqual(shed, 48 - 28)
        self.assertIn('shipwatch_http_shed_total %d\n' % shed, curl(self.base + '/metrics')[2])
        self.assertEqual(curl(self.base + '/healthz')[0], 200)
        self.assertIsNone(d.proc.poll())

    def test_one_client_cannot_starve_pings(self):
        # One address holds 512 connections and sends nothing: cron pings
        # and scrapes from the same address still get through, and what
        # cannot be served is answered 503, never dropped silently.
        d = self.start()
        rpc = d.rpc()
        hog = [connect(self.base) for _ in range(512)]
        try:
            time.sleep(0.3)
            for i in range(24):
                status, _, body = curl(self.base + '/hb/' + TOKEN)
                self.assertEqual((status, body), (200, 'OK\n'), 'ping %d' % i)
            status, _, body = curl(self.base + '/metrics')
            self.assertEqual(status, 200)
            self.assertIn('shipwatch_http_rejected_total', body)
            status, head, body = curl('-X', 'POST', '-H', 'Content-Type: application/json',
                                      '-H', 'Authorization: Bearer tok-123', '--data-binary',
                                      '{"app":"shop","env":"prod","version":"8"}',
                                      self.base + '/api/v1/deploys')
            self.assertEqual(status, 503, body)
            self.assertIn('Retry-After: 1', head)
            self.assertIn('too many connections', json.loads(body)['error'])
        finally:
            for s in hog:
                s.close()
        wait_until(lambda: rpc.call('checks.get', {'check': 'backup'})['state'] == 'up',
                   what='the heartbeat check up')
        # Once the hog is gone, deploys go through again.
        wait_until(lambda: curl('-X', 'POST', '-H', 'Content-Type: application/json',
                                '-H', 'Authorization: Bearer tok-123', '--data-binary',
                                '{"app":"shop","env":"prod","version":"8"}',
                                self.base + '/api/v1/deploys')[0] == 201,
                   what='a deploy accepted after the flood')

    def test_smuggling_shapes_are_refused(self):
        # Every framing two readers could disagree on is 400 and the end of
        # the connection, so nothing after it is read as a request of its
        # own: the /healthz smuggled behind it is never answered.
        d = self.start()
        rpc = d.rpc()
        smuggled = b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
        shapes = {
            'Content-Length and Transfer-Encoding':
                b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
            'Transfer-Encoding and Content-Length':
                b'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n',
            'two Content-Lengths': b'Content-Length: 1\r\nContent-Length: 5\r\n',
            'two equal Content-Lengths': b'Content-Length: 5\r\nContent-Length: 5\r\n',
            'a list of Content-Lengths': b'Content-Length: 5, 5\r\n',
            'gzip, chunked': b'Transfer-Encoding: gzip, chunked\r\n',
            'chunked, gzip': b'Transfer-Encoding: chunked, gzip\r\n',
            'chunked and a space': b'Transfer-Encoding: chunked \r\n',
            'xchunked': b'Transfer-Encoding: xchunked\r\n',
            'two Transfer-Encodings':
                b'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
        }
        for what, headers in shapes.items():
            for path in (b'/hb/' + TOKEN.encode(), b'/api/v1/deploys'):
                s = connect(self.base)
                try:
                    s.sendall(b'POST ' + path + b' HTTP/1.1\r\nHost: x\r\n' + headers +
                              b'\r\n0\r\n\r\n' + smuggled)
                    s.settimeout(3 * SLOW)
                    got = b''
                    for _ in range(64):     # until the server closes
                        try:
                            chunk = s.recv(65536)
                        except (socket.timeout, ConnectionResetError):
                            break
                        if not chunk:
                            break
                        got += chunk
                finally:
                    s.close()
                got = got.decode('latin-1')
                self.assertTrue(got.startswith('HTTP/1.1 400 '), '%s %s: %r' % (what, path, got))
                self.assertIn('Connection: close', got, what)
                self.assertEqual(got.count('HTTP/1.1 '), 1, '%s: %r' % (what, got))
        self.assertEqual(rpc.call('checks.get', {'check': 'backup'})['runs_total'], 0)
        self.assertEqual(rpc.call('deploys.list', {})['deploys'], [])
        self.assertIsNone(d.proc.poll())

    def test_heartbeat_paths_never_leave_their_route(self):
        # /hb/ takes a token and a suffix, nothing else: dots and encoded
        # slashes are neither decoded nor followed into another route or a
        # file, and no such path counts as a ping.
        d = self.start()
        rpc = d.rpc()
        for path in ('/hb/../metrics', '/hb/%2e%2e/metrics', '/hb/a%2fb', '/hb/..%2fmetrics',
                     '/hb/' + TOKEN + '/../metrics', '/hb/' + TOKEN + '%2fstart',
                     '/hb/' + TOKEN + '/%2e%2e/%2e%2e/etc/passwd',
                     '/hb/../../../../etc/passwd', '/hb/%2e%2e%2f%2e%2e%2fetc%2fpasswd'):
            for method in ('GET', 'POST'):
                s = connect(self.base)
                try:
                    s.sendall(('%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                               'Content-Length: 0\r\n\r\n' % (method, path)).encode())
                    got = answer(s)
                    s.settimeout(3 * SLOW)
                    for _ in range(64):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk.decode('latin-1')
                finally:
                    s.close()
                head, _, body = got.partition('\r\n\r\n')
                self.assertTrue(head.startswith('HTTP/1.1 404 '), '%s %s: %r' % (method, path, got))
                self.assertIn('application/json', head)
                self.assertIn('error', json.loads(body), path)
                self.assertNotIn('# TYPE', body)
                self.assertNotIn('root:', body)
        self.assertEqual(rpc.call('checks.get', {'check': 'backup'})['runs_total'], 0)
        self.assertEqual(rpc.call('checks.get', {'check': 'backup'})['state'], 'unknown')
        self.assertIsNone(d.proc.poll())

    def test_large_healthy_response_stays_up(self):
        # A 200 whose body is 16x max-body and more: without a [BODY]
        # condition the check stops reading at the cap and is up; with one
        # the runaway body is still cut and the check down.
        t = self.target()
        d = self.daemon('''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 5s
  failure-threshold: 1
  success-threshold: 1
checks:
  - name: big
    app: shop
    env: prod
    type: http
    url: %s/big?bytes=3000000
    conditions: ["[STATUS] == 200"]
  - name: bigbody
    app: shop
    env: prod
    type: http
    url: %s/big?bytes=3000000
    conditions: ["[BODY] == pat(x*)"]
''' % (t.base, t.base))
        d.start()
        rows = d.wait_results('big', 2)
        self.assertTrue(all(r['outcome'] == UP for r in rows), rows)
        self.assertTrue(all(r['status'] == 200 for r in rows), rows)
        rows = d.wait_results('bigbody', 1)
        self.assertEqual(rows[0]['outcome'], DOWN, rows)
        self.assertIn('transfer aborted', rows[0]['error'])


if __name__ == '__main__':
    main()
