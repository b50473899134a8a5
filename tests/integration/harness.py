"""Integration harness: the real shipwatchd against real local servers.

Every server binds 127.0.0.1 on a port the kernel picks; every wait is
bounded. Paths come from the environment meson sets (SHIPWATCHD, SOURCE_ROOT).
"""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

SOURCE_ROOT = os.environ.get(
    'SOURCE_ROOT', os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
SHIPWATCHD = os.environ.get('SHIPWATCHD', os.path.join(SOURCE_ROOT, 'build', 'daemon', 'shipwatchd'))
SHIPWATCH = os.environ.get('SHIPWATCH', os.path.join(SOURCE_ROOT, 'build', 'tui', 'shipwatch'))
TARGET = os.path.join(SOURCE_ROOT, 'tests', 'integration', 'target.py')
PLUGINS = os.path.join(SOURCE_ROOT, 'tests', 'integration', 'plugins')

# Under valgrind or sanitizers everything is slower; waits scale with this.
SLOW = float(os.environ.get('SHIPWATCH_TEST_SLOW', '1'))
# A command the daemon runs under, e.g. valgrind (meson test --setup valgrind).
WRAPPER = os.environ.get('SHIPWATCHD_WRAPPER', '').split()


def outage(test):
    """A long outage test (a server stopped, killed or hung for many
    seconds) runs in the plain build and under ASan+UBSan, whose
    LeakSanitizer checks the same recovery paths, and not a third time under
    valgrind, where it costs five times the minutes for no other finding.
    SHIPWATCH_TEST_OUTAGES=1 runs it there too."""
    under_valgrind = any('valgrind' in w for w in WRAPPER)
    return unittest.skipIf(under_valgrind and not os.environ.get('SHIPWATCH_TEST_OUTAGES'),
                           'an outage test: run in the plain and ASan builds')(test)

sys.path.insert(0, os.path.join(SOURCE_ROOT, 'tests'))
import servers  # noqa: E402  (PostgreSQL and Redis for the tests)


def busy_child(test, seconds=30):
    """The pid of a child of this python that spins on a CPU for seconds,
    killed and reaped when test ends: a process a host sample must show."""
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        os._exit(0)
    test.addCleanup(lambda: (os.kill(pid, signal.SIGKILL), os.waitpid(pid, 0)))
    return pid


def assert_promtool_clean(test, body):
    """The /metrics text body passes promtool check metrics; test is
    skipped without promtool (Debian's prometheus package has it)."""
    import shutil
    promtool = shutil.which('promtool')
    if promtool is None:
        test.skipTest('promtool is not installed')
    out = subprocess.run([promtool, 'check', 'metrics'], input=body.encode(),
                         capture_output=True, timeout=60)
    test.assertEqual(out.returncode, 0, out.stdout.decode() + out.stderr.decode())


def wait_until(pred, timeout=10.0, interval=0.05, what='condition'):
    """Poll pred() until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError('timed out after %.1fs waiting for %s (last: %r)' %
                         (timeout * SLOW, what, last))


def config_head(interval='300ms', timeout='2s', failure=1, success=1):
    """The start of a test's configuration, up to its checks: the daemon's
    socket and database left as {socket} and {db} for Daemon to fill, fast
    defaults, thresholds of 1 so one result moves the state."""
    return textwrap.dedent('''
        daemon:
          socket: {socket}
        storage:
          path: {db}
        defaults:
          interval: %s
          timeout: %s
          failure-threshold: %d
          success-threshold: %d
        checks:
        ''') % (interval, timeout, failure, success)


def closed_port():
    """A TCP port on 127.0.0.1 with nothing listening on it."""
    return servers.free_port()


class Target:
    """The local HTTP target (tests/integration/target.py) on 127.0.0.1."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, TARGET, '--port', '0', *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError('target.py did not print its port: %r' % line)
        self.port = int(line)
        self.base = 'http://127.0.0.1:%d' % self.port

    def url(self, path):
        return self.base + path

    def get(self, path):
        import urllib.request
        with urllib.request.urlopen(self.url(path), timeout=5) as r:
            return r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class Daemon:
    """One shipwatchd with a private directory, config and database."""

    def __init__(self, config, workdir=None, env=None, prefix=None):
        self.dir = workdir or tempfile.mkdtemp(prefix='shipwatch-it-')
        # A command the daemon runs under before WRAPPER, e.g. setpriv
        # dropping a capability.
        self.prefix = list(prefix or [])
        self.db = os.path.join(self.dir, 'history.db')
        self.socket = os.path.join(self.dir, 'shipwatch.sock')
        self.config_path = os.path.join(self.dir, 'shipwatch.yml')
        self.log_path = os.path.join(self.dir, 'daemon.log')
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.clients = []
        self.log_mark = 0              # where this start's lines begin in the log
        self.write_config(config)

    def config_text(self):
        with open(self.config_path, encoding='utf-8') as f:
            return f.read()

    def write_config(self, body):
        """Write the config; {db} and {socket} are filled in."""
        text = textwrap.dedent(body).replace('{db}', self.db).replace('{socket}', self.socket)
        # A free HTTP port unless the test names one: daemons never collide
        # on the default 127.0.0.1:9321.
        if 'daemon:\n' in text and '\n  http:' not in text:
            text = text.replace('daemon:\n', 'daemon:\n  http: 127.0.0.1:0\n', 1)
        with open(self.config_path, 'w', encoding='utf-8') as f:
            f.write(text)

    def check_config(self):
        return subprocess.run([SHIPWATCHD, '--check-config', '--config', self.config_path],
                              capture_output=True, text=True, timeout=30 * SLOW, env=self.env)

    def start(self, wait_db=True):
        # The log is appended to across restarts on one directory.
        self.log_mark = len(self.log())
        self.logf = open(self.log_path, 'a', encoding='utf-8')
        argv = [*self.prefix, *WRAPPER, SHIPWATCHD, '--config', self.config_path,
                '--log-level', 'debug']
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=self.logf, env=self.env)
        if wait_db:
            wait_until(lambda: self.proc.poll() is not None or self.table_exists('events'),
                       what='the daemon to create its database')
            if self.proc.poll() is not None:
                raise AssertionError('shipwatchd exited %d:\n%s' % (self.proc.returncode, self.log()))
        return self

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stop the daemon; returns its exit code."""
        if self.proc is None:
            return None
        for c in self.clients:
            c.close()
        self.clients = []
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('shipwatchd did not exit within %ss of %s:\n%s' %
                                     (timeout, sig, self.log()))
        self.logf.close()
        return self.proc.returncode

    def rpc(self, timeout=10.0):
        """A client on this daemon's socket, hello already said."""
        c = Rpc(self.socket, timeout)
        self.clients.append(c)
        c.call('daemon.hello', {'client': 'tests', 'protocol': 1})
        return c

    def http_base(self):
        """http://127.0.0.1:PORT of the daemon's (first) HTTP listener."""
        import re
        m = wait_until(lambda: re.search(r'http listening on ([0-9.]+:\d+)',
                                         self.log()[self.log_mark:]),
                       what='the HTTP listener')
        return 'http://' + m.group(1)

    def log(self):
        try:
            with open(self.log_path, encoding='utf-8', errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    # --- the store, read the way an operator would with sqlite3 ---

    def query(self, sql, args=()):
        if not os.path.exists(self.db):
            return []
        con = sqlite3.connect('file:%s?mode=ro' % self.db, uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            con.close()

    def table_exists(self, name):
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (name,)))

    def results(self, check):
        """Raw results of a check, oldest first, as dicts."""
        rows = self.query(
            'SELECT r.ts, r.duration_us, r.outcome, r.status, r.error, r.failed_condition '
            'FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = ? ORDER BY r.ts',
            (check,))
        keys = ('ts', 'duration_us', 'outcome', 'status', 'error', 'failed_condition')
        return [dict(zip(keys, r)) for r in rows]

    def state(self, check):
        rows = self.query(
            'SELECT s.state, s.fail_streak, s.ok_streak FROM check_state s '
            'JOIN checks c ON c.id = s.check_id WHERE c.name = ?', (check,))
        return rows[0] if rows else None

    def events(self, type_=None, check=None):
        sql = 'SELECT id, ts, type, check_name, message FROM events WHERE 1=1'
        args = []
        if type_:
            sql += ' AND type = ?'
            args.append(type_)
        if check:
            sql += ' AND check_name = ?'
            args.append(check)
        return self.query(sql + ' ORDER BY id', args)

    def wait_results(self, check, n, timeout=10):
        return wait_until(lambda: len(self.results(check)) >= n and self.results(check),
                          timeout=timeout, what='%d results of %s' % (n, check))


class RpcError(Exception):
    """An error response: code ("not_found", "denied", ...) and message."""

    def __init__(self, code, message):
        super().__init__('%s: %s' % (code, message))
        self.code = code
        self.message = message


class Rpc:
    """A msgpack-RPC client on the daemon's socket, written from
    docs/protocol.md with Debian's python3-msgpack: the same view of the
    protocol a third-party client has."""

    def __init__(self, path, timeout=10.0):
        import msgpack
        self.msgpack = msgpack
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout * SLOW)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.msgid = 0
        self.notices = []

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, params=None, msgid=None):
        """Send a request without waiting; returns its msgid."""
        if msgid is None:
            self.msgid += 1
            msgid = self.msgid
        args = [] if params is None else [params]
        self.send_raw(self.msgpack.packb([0, msgid, method, args], use_bin_type=True))
        return msgid

    def recv(self):
        """The next message; raises ConnectionError when the daemon closed."""
        while True:
            for msg in self.unpacker:
                return msg
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError('the daemon closed the connection')
            self.unpacker.feed(data)

    def response(self, msgid):
        """Wait for the response to msgid (keeping notifications)."""
        while True:
            msg = self.recv()
            if msg[0] == 2:
                self.notices.append(msg[2][0])
            elif msg[0] == 1 and msg[1] == msgid:
                if msg[2] is not None:
                    raise RpcError(msg[2].get('code'), msg[2].get('message'))
                return msg[3]

    def call(self, method, params=None):
        return self.response(self.request(method, params))

    def notice(self):
        """The next notification's params[0]."""
        if self.notices:
            return self.notices.pop(0)
        while True:
            msg = self.recv()
            if msg[0] == 2:
                return msg[2][0]


# Outcome numbers as the store keeps them (enum check_state).
UNKNOWN, UP, DEGRADED, DOWN = 0, 1, 2, 3


class DaemonTest(unittest.TestCase):
    """Base class: tracks daemons and targets and stops them after each test."""

    def setUp(self):
        self._stoppers = []

    def tearDown(self):
        # Every daemon still running is stopped the way an operator stops it,
        # and must exit 0: under --setup valgrind a leak turns into exit 99
        # and fails the test that leaked.
        problems = []
        for stop in reversed(self._stoppers):
            try:
                problem = stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                problem = str(e)
            if problem:
                problems.append(problem)
        if problems:
            self.fail('\n'.join(problems))

    def rows(self, d, check):
        """Raw results of a check, oldest first: outcome, error, failed
        condition and message."""
        rows = d.query(
            'SELECT r.outcome, r.error, r.failed_condition, r.message '
            'FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = ? ORDER BY r.ts',
            (check,))
        return [{'outcome': o, 'error': e, 'failed': f, 'message': m} for o, e, f, m in rows]

    def last(self, d, check, timeout=15):
        """The latest of rows(), once there is one."""
        return wait_until(lambda: self.rows(d, check) and self.rows(d, check)[-1],
                          timeout=timeout, what='a result of %s' % check)

    def tmpdir(self):
        """A private directory, removed after the test."""
        tmp = tempfile.mkdtemp(prefix='shipwatch-test-')
        self.addCleanup(shutil.rmtree, tmp, True)
        return tmp

    def target(self, *args):
        t = Target(*args)
        self._stoppers.append(lambda: t.stop() and None)
        return t

    # --- receivers of notifications (receivers.py), stopped after the test ---

    def receiver(self):
        """An HTTP receiver on 127.0.0.1 that records every request."""
        from receivers import HttpReceiver
        r = HttpReceiver()
        self._stoppers.append(lambda: r.stop() and None)
        return r

    def smtp_sink(self, port=None, tls_context=None):
        """An SMTP server on 127.0.0.1 that records every message; with
        tls_context, one that offers STARTTLS."""
        from receivers import SmtpSink
        s = SmtpSink(port, tls_context)
        self._stoppers.append(lambda: s.stop() and None)
        return s

    def alertmanager(self):
        """A private prometheus-alertmanager; skips the test without the binary."""
        from receivers import Alertmanager, alertmanager_present
        if not alertmanager_present():
            if os.environ.get('CI'):
                self.fail('prometheus-alertmanager is missing in CI: scripts/deps.sh installs it')
            self.skipTest('prometheus-alertmanager is not installed (scripts/deps.sh installs it)')
        am = Alertmanager()
        self._stoppers.append(lambda: am.stop() and None)
        return am

    def daemon(self, config, **kw):
        d = Daemon(config, **kw)
        def stop():
            if d.proc is None or d.proc.poll() is not None:
                return None  # never started, or the test already saw it exit
            rc = d.stop()
            return None if rc == 0 else 'shipwatchd exited %d at teardown:\n%s' % (rc, d.log()[-4000:])
        self._stoppers.append(stop)
        return d


class _TimedResult(unittest.TextTestResult):
    """Notes each test's wall time: main() prints the slowest, so where a
    suite's minutes go is in its log."""

    durations = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._started, test.id()))


def main():
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_TimedResult)
    prog = unittest.main(verbosity=2, testRunner=runner, exit=False)
    slowest = sorted(_TimedResult.durations, reverse=True)[:5]
    if slowest:
        sys.stderr.write('slowest: %s\n' % ', '.join(
            '%s %.1fs' % (name.rsplit('.', 1)[-1], secs) for secs, name in slowest))
    sys.exit(0 if prog.result.wasSuccessful() else 1)
