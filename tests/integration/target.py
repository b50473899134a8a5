#!/usr/bin/env python3
"""A local HTTP target for tests and the demo, on 127.0.0.1 only.

  target.py --port 0 [--flip-period SECONDS]

Prints the port it listens on as its first line. Routes:
  /ok                 200 "ok"
  /status/NNN         that status
  /redirect[?to=URL]  301 to /ok, or to URL
  /slow?ms=N          sleeps N ms, then 200
  /close              promises 1000 bytes, sends 10, closes
  /big?bytes=N        streams N bytes (at most 100 MB)
  /json               {"status":"UP","version":"1.2.3","data":[{"id":1}]}
  /flip               200 or 503, flipping every --flip-period seconds
                      (or as set by /toggle)
  /toggle?state=up|down   force /flip and /health
  /health             200 or 503 per the toggle
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE = {'forced': None, 'start': time.monotonic(), 'period': 0.0}
JSON_BODY = json.dumps({'status': 'UP', 'version': '1.2.3', 'data': [{'id': 1}]}).encode()


def up_now():
    if STATE['forced'] is not None:
        return STATE['forced']
    if STATE['period'] <= 0:
        return True
    return int((time.monotonic() - STATE['start']) / STATE['period']) % 2 == 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body=b'', ctype='text/plain', extra=None):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        p = url.path
        try:
            if p == '/ok':
                self.send(200, b'ok')
            elif p.startswith('/status/'):
                code = int(p.split('/')[2])
                self.send(code, ('status %d' % code).encode())
            elif p == '/redirect':
                self.send(301, b'', extra={'Location': q.get('to', ['/ok'])[0]})
            elif p == '/slow':
                time.sleep(min(int(q.get('ms', ['1000'])[0]), 60000) / 1000.0)
                self.send(200, b'slow')
            elif p == '/close':
                self.send_response(200)
                self.send_header('Content-Length', '1000')
                self.end_headers()
                self.wfile.write(b'0123456789')
                self.wfile.flush()
                self.close_connection = True
            elif p == '/big':
                n = min(int(q.get('bytes', ['1000000'])[0]), 100 * 1000 * 1000)
                self.send_response(200)
                self.send_header('Content-Length', str(n))
                self.send_header('Connection', 'close')
                self.end_headers()
                chunk = b'x' * 65536
                left = n
                while left > 0:
                    self.wfile.write(chunk[:min(left, len(chunk))])
                    left -= min(left, len(chunk))
                self.close_connection = True
            elif p == '/json':
                self.send(200, JSON_BODY, 'application/json')
            elif p in ('/flip', '/health'):
                if up_now():
                    self.send(200, b'up')
                else:
                    self.send(503, b'down')
            elif p == '/toggle':
                s = q.get('state', [''])[0]
                STATE['forced'] = {'up': True, 'down': False}.get(s)
                self.send(200, ('forced %s' % s).encode())
            else:
                self.send(404, b'not found')
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get('Content-Length', '0') or 0)
        self.rfile.read(min(n, 1 << 20))
        self.do_GET()


def main():
    ap = argparse.ArgumentParser(description='local HTTP target for shipwatch tests')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--flip-period', type=float, default=0.0)
    args = ap.parse_args()
    STATE['period'] = args.flip_period
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    # A real server's backlog, not socketserver's 5: a daemon starting a
    # dozen checks at once on a loaded machine overflows 5, and the kernel
    # then drops SYNs the client resends only a second later.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(('127.0.0.1', args.port), Handler)
    print(srv.server_address[1], flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
