"""Receivers for notifications, started by the tests on 127.0.0.1 only.

  HttpReceiver    a threaded HTTP server that records every request exactly
                  and answers 200, fails the first N with 503, or hangs
  SmtpSink        an SMTP server (Debian's python3-aiosmtpd) that records
                  every message: envelope sender, recipients, bytes
  Alertmanager    Debian's prometheus-alertmanager with a private config,
                  storage and port, clustering off

Each has stop(), safe to call twice; DaemonTest's receiver(), smtp_sink()
and alertmanager() (harness.py) stop them after the test, pass or fail.
Every wait is bounded.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import SLOW, closed_port, wait_until

ALERTMANAGER = os.environ.get('SHIPWATCH_ALERTMANAGER', '/usr/bin/prometheus-alertmanager')


class Request:
    """One request as it arrived: nothing normalized but the header lookup."""

    def __init__(self, method, path, headers, body, t, wall):
        self.method = method
        self.path = path
        self.headers = headers        # [(name, value), ...] in arrival order
        self.body = body              # bytes, exactly as sent
        self.t = t                    # time.monotonic() when the body was read
        self.wall = wall              # time.time() then
        self.status = None            # the status answered; None: never answered

    def header(self, name):
        """The first header of that name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        return '<%s %s -> %s at %.3f: %r>' % (self.method, self.path, self.status, self.t,
                                              self.body[:300])


class HttpReceiver:
    """An HTTP receiver on 127.0.0.1:PORT (kernel-chosen).

    Modes, switched at any time by the test:
      answer(status=200)      every request gets that status
      fail_first(n, 503)      the next n requests get 503, then 200
      hang()                  requests get no answer; their connections stay
                              open until stop() (a client's timeout ends them)
    A hung request stays unanswered for good: switching back to answer()
    only concerns requests that arrive afterwards, so a request is either
    answered once with a status or never.
    """

    def __init__(self):
        self.requests = []
        self.lock = threading.Condition()
        self.mode = 'answer'
        self.status = 200
        self.fail_left = 0
        self.fail_status = 503
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, fmt, *args):
                pass

            def handle_one(self):
                body = self.read_body()
                req = Request(self.command, self.path, list(self.headers.items()), body,
                              time.monotonic(), time.time())
                status = receiver.decide(req)
                if status is None:
                    # Hang: no answer until the receiver stops.
                    receiver.stopping.wait(3600)
                    self.close_connection = True
                    return
                out = b'{"ok":true}' if 200 <= status < 300 else b'{"error":"try later"}'
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(out)))
                    self.send_header('Connection', 'close')
                    self.end_headers()
                    self.wfile.write(out)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def read_body(self):
                if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
                        if size == 0:
                            while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                                pass
                            return b''.join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                n = int(self.headers.get('Content-Length') or 0)
                return self.rfile.read(n) if n > 0 else b''

            do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = handle_one

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.base = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.1}, daemon=True)
        self.thread.start()

    def url(self, path='/alerts'):
        return self.base + path

    # --- modes ---

    def answer(self, status=200):
        with self.lock:
            self.mode, self.status, self.fail_left = 'answer', status, 0

    def fail_first(self, n, status=503):
        with self.lock:
            self.mode, self.status, self.fail_left, self.fail_status = 'answer', 200, n, status

    def hang(self):
        with self.lock:
            self.mode = 'hang'

    def decide(self, req):
        """Record req and pick its answer (None: hang)."""
        with self.lock:
            if self.mode == 'hang' or self.stopping.is_set():
                status = None
            elif self.fail_left > 0:
                self.fail_left -= 1
                status = self.fail_status
            else:
                status = self.status
            req.status = status
            self.requests.append(req)
            self.lock.notify_all()
            return status

    # --- what arrived ---

    def received(self):
        with self.lock:
            return list(self.requests)

    def delivered(self):
        """The requests answered 2xx."""
        return [r for r in self.received() if r.status is not None and 200 <= r.status < 300]

    def payloads(self, delivered_only=True):
        """Parsed JSON bodies, in arrival order."""
        return [r.json() for r in (self.delivered() if delivered_only else self.received())]

    def wait_requests(self, n, timeout=10.0, delivered=False, what=None):
        """Wait until at least n requests (n answered 2xx with delivered)
        arrived; returns them."""
        def enough():
            got = self.delivered() if delivered else self.received()
            return got if len(got) >= n else None
        return wait_until(enough, timeout=timeout,
                          what=what or '%d %srequests at the receiver' %
                          (n, 'delivered ' if delivered else ''))

    def stop(self):
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class SmtpMessage:
    def __init__(self, mail_from, rcpt_tos, data, t):
        self.mail_from = mail_from    # the envelope sender (MAIL FROM)
        self.rcpt_tos = rcpt_tos      # the envelope recipients (RCPT TO), in order
        self.data = data              # the message bytes as received (DATA)
        self.t = t

    def message(self):
        import email
        import email.policy
        return email.message_from_bytes(self.data, policy=email.policy.default)


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts and records every message.
    Without a TLS context it offers no STARTTLS (a plain local relay); with
    one (an ssl.SSLContext for the server side) it offers STARTTLS."""

    def __init__(self, port=None, tls_context=None):
        from aiosmtpd.controller import Controller
        self.messages = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                data = envelope.original_content or envelope.content
                if isinstance(data, str):
                    data = data.encode('utf-8')
                with sink.lock:
                    sink.messages.append(SmtpMessage(envelope.mail_from,
                                                     list(envelope.rcpt_tos), data,
                                                     time.monotonic()))
                return '250 OK'

        # The controller connects to its own port to see that it is up, so
        # it needs a real port number: a free one, retried if taken meanwhile.
        last = None
        for _ in range(5):
            self.port = port or closed_port()
            self.controller = Controller(Handler(), hostname='127.0.0.1', port=self.port,
                                         ready_timeout=10 * SLOW, tls_context=tls_context)
            try:
                self.controller.start()
                break
            except Exception as e:  # noqa: BLE001 - port taken between probe and bind
                last = e
                self.controller = None
                if port:
                    break
        if self.controller is None:
            raise RuntimeError('the SMTP sink did not start: %r' % last)
        self.url = 'smtp://127.0.0.1:%d' % self.port

    def received(self):
        with self.lock:
            return list(self.messages)

    def wait_messages(self, n, timeout=10.0):
        return wait_until(lambda: len(self.received()) >= n and self.received(), timeout=timeout,
                          what='%d messages at the SMTP sink' % n)

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


ALERTMANAGER_CONFIG = '''\
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
'''


def alertmanager_present():
    return os.access(ALERTMANAGER, os.X_OK)


class Alertmanager:
    """A private prometheus-alertmanager on 127.0.0.1:PORT: its own config
    (one route to a receiver that sends nowhere), storage and log in a temp
    dir, clustering off. Ready when /-/ready answers 200."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='shipwatch-am-')
        self.config = os.path.join(self.dir, 'alertmanager.yml')
        with open(self.config, 'w', encoding='utf-8') as f:
            f.write(ALERTMANAGER_CONFIG)
        self.log_path = os.path.join(self.dir, 'alertmanager.log')
        self.proc = None
        last = ''
        for _ in range(3):
            self.port = closed_port()
            self.base = 'http://127.0.0.1:%d' % self.port
            self.logf = open(self.log_path, 'a', encoding='utf-8')
            self.proc = subprocess.Popen(
                [ALERTMANAGER, '--config.file=' + self.config,
                 '--storage.path=' + os.path.join(self.dir, 'data'),
                 '--web.listen-address=127.0.0.1:%d' % self.port,
                 '--cluster.listen-address=', '--log.level=debug'],
                stdout=self.logf, stderr=self.logf, stdin=subprocess.DEVNULL)
            try:
                wait_until(lambda: self.proc.poll() is not None or self.ready(), timeout=30,
                           interval=0.1, what='alertmanager to be ready')
            except AssertionError:
                log = self.log()[-3000:]
                self.stop()
                raise AssertionError('alertmanager not ready within 30s:\n' + log)
            if self.proc.poll() is None:
                return
            # Exited: most likely the port was taken meanwhile; try another.
            last = self.log()[-3000:]
            self.logf.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        raise RuntimeError('alertmanager did not start:\n' + last)

    def ready(self):
        try:
            with urllib.request.urlopen(self.base + '/-/ready', timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def alerts(self):
        """GET /api/v2/alerts: the alerts Alertmanager holds (active ones)."""
        with urllib.request.urlopen(self.base + '/api/v2/alerts', timeout=5 * SLOW) as r:
            return json.loads(r.read().decode('utf-8'))

    def log(self):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.logf.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def port_open(port):
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()
