#!/usr/bin/env python3
"""grpc checks in the real daemon against grpcio's real HTTP/2 server on
127.0.0.1: grpc.health.v1.Health/Check served through grpcio's generic
handlers (Debian's python3-grpcio has no grpc_health module), the
protobuf bytes written here by hand; in clear text (h2c) and over TLS with
a certificate the test makes. Then what is not a gRPC server: a closed
port, a socket that never answers, a handler that never returns, an
HTTP/1.1 server in clear text and over TLS."""
import http.server
import os
import socket
import ssl
import threading
import time

from harness import DOWN, SLOW, UP, DaemonTest, closed_port, config_head, main
from test_net import make_cert

# Calls over TLS cost a handshake each run: under valgrind, more than 2 s.
HEAD = config_head(timeout='%dms' % (2000 * SLOW))

# grpcio's core logs the handshakes the tests fail on purpose to stderr.
os.environ.setdefault('GRPC_VERBOSITY', 'NONE')
try:
    import grpc
    from concurrent import futures
except ImportError:  # scripts/deps.sh installs python3-grpcio
    grpc = None

UNKNOWN, SERVING, NOT_SERVING = 0, 1, 2

# The services the test server knows, by name ('' is the server as a whole).
SERVICES = {'': SERVING, 'api.v1.Orders': SERVING, 'api.v1.Billing': NOT_SERVING,
            'api.v1.Starting': UNKNOWN}


def read_request(data):
    """The service of a HealthCheckRequest's bytes (field 1, a string)."""
    service, i = b'', 0
    while i < len(data):
        tag = data[i]
        i += 1
        assert tag == 0x0a, 'unexpected field %r' % tag  # field 1, length-delimited
        n, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7f) << shift
            shift += 7
            if b < 0x80:
                break
        service = data[i:i + n]
        i += n
    return service.decode()


def response(status):
    """A HealthCheckResponse's bytes: field 1, a varint; UNKNOWN (0) is the
    empty message, as proto3 writes a default."""
    return b'' if status == 0 else bytes([0x08, status])


class HealthServer:
    """grpcio's server with the Health service (or, without health, with
    no service at all); 'hang' is a service whose call never returns while
    the client waits."""

    def __init__(self, creds=None, health=True):
        self.released = threading.Event()
        self.seen = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        if health:
            handler = grpc.method_handlers_generic_handler('grpc.health.v1.Health', {
                'Check': grpc.unary_unary_rpc_method_handler(self.check)})
            self.server.add_generic_rpc_handlers((handler,))
        if creds is None:
            self.port = self.server.add_insecure_port('127.0.0.1:0')
        else:
            self.port = self.server.add_secure_port('127.0.0.1:0', creds)
        self.server.start()

    def check(self, request, context):
        service = read_request(request)
        self.seen.append(service)
        if service == 'hang':
            while context.is_active() and not self.released.wait(0.05):
                pass
            return response(SERVING)
        if service not in SERVICES:
            context.abort(grpc.StatusCode.NOT_FOUND, 'unknown service %s' % service)
        if service == 'api.v1.Billing':
            # Trailing metadata beside the message, as a busy server sends it.
            context.set_trailing_metadata((('x-reason', 'draining'),))
        return response(SERVICES[service])

    def stop(self):
        self.released.set()
        self.server.stop(0).wait()


class Http1:
    """http.server's HTTP/1.1 server, optionally over TLS: it answers every
    request with a page, whatever the protocol the client hoped for."""

    def __init__(self, cert=None, key=None):
        class Page(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_POST(self):
                body = b'not grpc\n'
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Page)
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            ctx.set_alpn_protocols(['http/1.1'])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class GrpcChecks(DaemonTest):

    def setUp(self):
        super().setUp()
        if grpc is None:
            self.skipTest('python3-grpcio is not installed (scripts/deps.sh installs it)')

    def health(self, creds=None, health=True):
        s = HealthServer(creds, health)
        self.addCleanup(s.stop)
        return s

    def tls_health(self, name):
        """A health server over TLS with a certificate made for it: the
        certificate's path (the CA to trust) and the server."""
        cert, key = make_cert(self.tmpdir(), name, 30)
        with open(cert, 'rb') as f:
            chain = f.read()
        with open(key, 'rb') as f:
            private = f.read()
        return cert, self.health(grpc.ssl_server_credentials([(private, chain)]))

    def http1(self, *args):
        s = Http1(*args)
        self.addCleanup(s.stop)
        return s

    def test_plaintext(self):
        s = self.health()
        d = self.daemon(HEAD + '''
  - {name: whole, type: grpc, url: "grpc://127.0.0.1:%(p)d"}
  - {name: orders, type: grpc, url: "grpc://127.0.0.1:%(p)d", service: api.v1.Orders,
     conditions: ["[STATUS] == SERVING", "[RESPONSE_TIME] < %(rt)d", "[CONNECTED] == true"]}
  - {name: billing, type: grpc, url: "grpc://127.0.0.1:%(p)d/", service: api.v1.Billing}
  - {name: billing-expected, type: grpc, url: "grpc://127.0.0.1:%(p)d",
     service: api.v1.Billing, conditions: ["[STATUS] == NOT_SERVING"]}
  - {name: starting, type: grpc, url: "grpc://localhost:%(p)d", service: api.v1.Starting}
  - {name: missing, type: grpc, url: "grpc://127.0.0.1:%(p)d", service: api.v1.Nothing}
  - {name: missing-expected, type: grpc, url: "grpc://127.0.0.1:%(p)d",
     service: api.v1.Nothing, conditions: ["[STATUS] == SERVICE_UNKNOWN"]}
''' % {'p': s.port, 'rt': 1000 * SLOW}).start()

        for name in ('whole', 'orders', 'billing-expected', 'missing-expected'):
            r = self.last(d, name)
            self.assertEqual(r['outcome'], UP, '%s: %r' % (name, r))
        self.assertEqual(self.last(d, 'whole')['message'], 'SERVING')
        self.assertEqual(self.last(d, 'billing-expected')['message'], 'NOT_SERVING')
        # The server saw the names asked for: '' for the server as a whole.
        self.assertIn('', s.seen)
        self.assertIn('api.v1.Orders', s.seen)

        r = self.last(d, 'billing')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['failed'], '[STATUS] (NOT_SERVING) == SERVING')
        self.assertFalse(r['error'], r)  # an answer, judged by the conditions

        r = self.last(d, 'starting')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['failed'], '[STATUS] (UNKNOWN) == SERVING')

        r = self.last(d, 'missing')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['failed'], '[STATUS] (SERVICE_UNKNOWN) == SERVING')
        self.assertEqual(r['message'],
                         'SERVICE_UNKNOWN: NOT_FOUND (5): unknown service api.v1.Nothing')

    def test_tls(self):
        cert, s = self.tls_health('grpc')
        d = self.daemon(HEAD + '''
  - {name: tls, type: grpc, url: "grpcs://127.0.0.1:%(p)d", service: api.v1.Orders,
     ca-file: "%(ca)s", conditions: ["[STATUS] == SERVING", "[CERTIFICATE_EXPIRATION] > 48h",
                                     "[CERTIFICATE_EXPIRATION] < 744h"]}
  - {name: tls-name, type: grpc, url: "grpcs://127.0.0.1:%(p)d", server-name: localhost,
     ca-file: "%(ca)s"}
  - {name: tls-noverify, type: grpc, url: "grpcs://127.0.0.1:%(p)d", verify-tls: false,
     service: api.v1.Billing, conditions: ["[STATUS] == NOT_SERVING"]}
  - {name: tls-untrusted, type: grpc, url: "grpcs://127.0.0.1:%(p)d"}
  - {name: tls-wrong-name, type: grpc, url: "grpcs://127.0.0.1:%(p)d",
     server-name: other.example, ca-file: "%(ca)s"}
  - {name: clear-to-tls, type: grpc, url: "grpc://127.0.0.1:%(p)d"}
''' % {'p': s.port, 'ca': cert}).start()

        for name in ('tls', 'tls-name', 'tls-noverify'):
            r = self.last(d, name)
            self.assertEqual(r['outcome'], UP, '%s: %r' % (name, r))

        r = self.last(d, 'tls-untrusted')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertIn('grpc 127.0.0.1:%d: ' % s.port, r['error'])
        self.assertIn('self-signed certificate', r['error'])
        r = self.last(d, 'tls-wrong-name')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertIn('other.example', r['error'])
        # Clear text to a TLS port: the server reads no HTTP/2 preface.
        r = self.last(d, 'clear-to-tls')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertIn('grpc 127.0.0.1:%d: no HTTP/2 reply, not a gRPC server?' % s.port,
                      r['error'])

    def test_not_grpc(self):
        tmp = self.tmpdir()
        cert, key = make_cert(tmp, 'h1', 30)
        closed = closed_port()
        # Listening, never accepting: the connect succeeds, nothing answers.
        mute = socket.socket()
        mute.bind(('127.0.0.1', 0))
        mute.listen(8)
        self.addCleanup(mute.close)
        s = self.health()
        bare = self.health(health=False)
        h1 = self.http1()
        h1s = self.http1(cert, key)
        d = self.daemon(HEAD + '''
  - {name: closed, type: grpc, url: "grpc://127.0.0.1:%(closed)d"}
  - {name: closed-expected, type: grpc, url: "grpc://127.0.0.1:%(closed)d",
     conditions: ["[CONNECTED] == false"]}
  - {name: mute, type: grpc, url: "grpc://127.0.0.1:%(mute)d", timeout: 700ms}
  - {name: hang, type: grpc, url: "grpc://127.0.0.1:%(hang)d", service: hang, timeout: 700ms}
  - {name: no-health, type: grpc, url: "grpc://127.0.0.1:%(bare)d"}
  - {name: http1, type: grpc, url: "grpc://127.0.0.1:%(h1)d"}
  - {name: http1-tls, type: grpc, url: "grpcs://127.0.0.1:%(h1s)d", ca-file: "%(ca)s"}
''' % {'closed': closed, 'mute': mute.getsockname()[1], 'hang': s.port, 'h1': h1.port,
       'h1s': h1s.port, 'ca': cert, 'bare': bare.port}).start()

        r = self.last(d, 'closed')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['error'], 'grpc 127.0.0.1:%d: connect: connection refused' % closed)
        self.assertEqual(r['failed'], '[STATUS] () == SERVING')
        r = self.last(d, 'closed-expected')
        self.assertEqual(r['outcome'], UP, r)

        r = self.last(d, 'mute')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['error'],
                         'grpc 127.0.0.1:%d: timed out after 700ms' % mute.getsockname()[1])

        # The server gives up at the deadline the check sends (grpc-timeout)
        # or the check does at its own timeout, whichever comes first.
        r = self.last(d, 'hang')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertRegex(r['error'], r'^grpc 127\.0\.0\.1:%d: (timed out after 700ms|'
                         r'DEADLINE_EXCEEDED \(4\))' % s.port)

        # A gRPC server without the health service: the call fails.
        r = self.last(d, 'no-health')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertRegex(r['error'], r'^grpc 127\.0\.0\.1:%d: UNIMPLEMENTED \(12\)' % bare.port)

        r = self.last(d, 'http1')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertIn('grpc 127.0.0.1:%d: no HTTP/2 reply, not a gRPC server?' % h1.port,
                      r['error'])

        r = self.last(d, 'http1-tls')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertEqual(r['error'], 'grpc 127.0.0.1:%d: the server answered in HTTP/1, '
                         'not a gRPC server (it needs HTTP/2)' % h1s.port)

    def test_answered_from_headers(self):
        """A server without the health service answers UNIMPLEMENTED from
        the request's headers and resets the stream before the request's
        body arrives (RFC 9113 8.1). libcurl before 8.1 loses that answer
        when it reads it before sending the body, which a busy loop (TLS
        handshakes beside, valgrind) makes happen to a few calls in a
        hundred: each such call is asked again, and every result must read
        UNIMPLEMENTED, never "not a gRPC server"."""
        cert, tls = self.tls_health('busy')
        bare = self.health(health=False)
        names = ['bare%d' % i for i in range(12)]
        d = self.daemon(HEAD + ''.join(
            '  - {name: %s, type: grpc, url: "grpc://127.0.0.1:%d"}\n' % (n, bare.port)
            for n in names) + ''.join(
            '  - {name: tls%d, type: grpc, url: "grpcs://127.0.0.1:%d", ca-file: "%s"}\n'
            % (i, tls.port, cert) for i in range(6))).start()

        want, deadline = 200, time.monotonic() + 30 * SLOW
        results = []
        while time.monotonic() < deadline:
            results = [r for n in names for r in d.results(n)]
            if len(results) >= want:
                break
            time.sleep(0.5)
        self.assertGreaterEqual(len(results), want)
        for r in results:
            self.assertEqual(r['outcome'], DOWN, r)
            self.assertRegex(r['error'], r'^grpc 127\.0\.0\.1:%d: UNIMPLEMENTED \(12\)'
                             % bare.port)


if __name__ == '__main__':
    main()
