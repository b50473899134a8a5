#!/usr/bin/env python3
"""A hostile local user and a host short of descriptors: squatted and
symlinked directories, a listener that is not the daemon, rights revoked by
a reload, a message of a million nils, a flood of clients, masked targets,
invalid UTF-8. Another user is `nobody` through setpriv (root only)."""
import os
import resource
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import msgpack

from harness import (SHIPWATCH, SHIPWATCHD, SLOW, WRAPPER, DaemonTest, Rpc, RpcError, main,
                     wait_until)

PLAIN = SLOW == 1 and not WRAPPER
NOBODY = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']

BASE = '''
daemon:
  socket: {socket}
%s
storage:
  path: {db}
defaults:
  interval: 1s
  timeout: 2s
  failure-threshold: 1
  success-threshold: 1
checks:
  - name: web
    type: tcp
    host: 127.0.0.1
    port: %d
'''


def can_be_nobody():
    return os.getuid() == 0 and shutil.which('setpriv') is not None


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class SecurityTest(DaemonTest):

    def setUp(self):
        super().setUp()
        # A port that accepts: tcp checks are up unless something local fails.
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(512)
        self.port = self.listener.getsockname()[1]
        self._stoppers.append(lambda: self.listener.close())

    def config(self, daemon_extra='', checks=''):
        return BASE % (daemon_extra, self.port) + checks

    def shared_dir(self):
        """A world-writable sticky directory, as /tmp is."""
        d = tempfile.mkdtemp(prefix='shipwatch-sticky-')
        os.chmod(d, 0o1777)
        self._stoppers.append(lambda: shutil.rmtree(d, ignore_errors=True) and None)
        return d

    def as_nobody(self, args, **kw):
        return subprocess.run([*NOBODY, *args], capture_output=True, text=True, cwd='/',
                              timeout=30 * SLOW, **kw)

    def refused_start(self, d):
        """Run the daemon in the foreground: it must refuse to start."""
        out = subprocess.run([SHIPWATCHD, '--config', d.config_path], capture_output=True,
                             text=True, timeout=30 * SLOW)
        self.assertEqual(out.returncode, 1, out.stderr)
        return out.stderr

    def open_to_nobody(self, d):
        """Let nobody reach d's socket (through its group) and run the client."""
        os.chmod(d.dir, 0o755)
        os.chown(d.socket, 0, 65534)
        cli = os.path.join(d.dir, 'shipwatch')
        shutil.copy(SHIPWATCH, cli)
        os.chmod(cli, 0o755)
        return cli

    # --- 3: squatting and symlinks ---

    def test_squatted_socket_directory_is_refused(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        shared = self.shared_dir()
        squat = os.path.join(shared, 'run')
        self.assertEqual(self.as_nobody(['mkdir', '-m', '0755', squat]).returncode, 0)
        d = self.daemon(self.config())
        d.write_config(self.config().replace('{socket}', os.path.join(squat, 'shipwatch.sock')))
        err = self.refused_start(d)
        self.assertIn('socket directory refused', err)
        self.assertIn('belongs to uid 65534', err)
        self.assertFalse(os.path.exists(d.db), 'the store was opened before the refusal')

        # A directory of root's that others can write to: refused too.
        open_dir = os.path.join(shared, 'open')
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        d.write_config(self.config().replace('{socket}', os.path.join(open_dir, 'sw.sock')))
        self.assertIn('writable by others', self.refused_start(d))

        # A symbolic link to a directory of our own: not followed.
        link = os.path.join(shared, 'link')
        os.symlink(d.dir, link)
        d.write_config(self.config().replace('{socket}', os.path.join(link, 'sw.sock')))
        self.assertIn('symbolic link', self.refused_start(d))

        # Under the sticky directory, a private directory the daemon makes.
        mine = os.path.join(shared, 'mine')
        d.write_config(self.config().replace('{socket}', os.path.join(mine, 'sw.sock')))
        d.socket = os.path.join(mine, 'sw.sock')
        d.start()
        st = os.lstat(mine)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o022, 0)
        self.assertEqual(d.rpc().call('status.get')['checks'], 1)

    def test_state_directory_and_symlinked_database(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        shared = self.shared_dir()
        squat = os.path.join(shared, 'state')
        self.assertEqual(self.as_nobody(['mkdir', '-m', '0777', squat]).returncode, 0)
        d = self.daemon(self.config())
        d.write_config(self.config().replace('{db}', os.path.join(squat, 'history.db')))
        err = self.refused_start(d)
        self.assertIn('state directory refused', err)
        self.assertEqual(os.listdir(squat), [])

        # history.db a symbolic link planted to read or clobber another file.
        victim = os.path.join(d.dir, 'victim')
        with open(victim, 'w') as f:
            f.write('precious\n')
        os.symlink(victim, d.db)
        d.write_config(self.config())
        self.assertIn('symbolic link', self.refused_start(d))
        with open(victim) as f:
            self.assertEqual(f.read(), 'precious\n')

    def test_files_are_not_world_readable(self):
        d = self.daemon(self.config())
        d.start()
        d.rpc().call('checks.run', {'check': 'web'})
        for name in ('history.db', 'history.db-wal', 'history.db-shm'):
            path = os.path.join(d.dir, name)
            if os.path.exists(path):
                mode = stat.S_IMODE(os.stat(path).st_mode)
                self.assertEqual(mode & 0o027, 0, '%s is %o' % (name, mode))
        self.assertEqual(stat.S_IMODE(os.stat(d.socket).st_mode), 0o660)

    # --- 4: the client talks only to the daemon ---

    def test_client_refuses_a_squatter(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        shared = self.shared_dir()
        path = os.path.join(shared, 'shipwatch.sock')
        got = os.path.join(shared, 'got')
        squatter = textwrap.dedent('''
            import os, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sys.argv[1])
            os.chmod(sys.argv[1], 0o777)
            s.listen(4)
            s.settimeout(20)
            c, _ = s.accept()
            c.settimeout(3)
            data = b''
            try:
                while True:
                    b = c.recv(4096)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            with open(sys.argv[2], 'w') as f:
                f.write(str(len(data)))
        ''')
        proc = subprocess.Popen([*NOBODY, sys.executable, '-c', squatter, path, got], cwd='/')
        try:
            wait_until(lambda: os.path.exists(path), what='the squatter to listen')
            out = subprocess.run([SHIPWATCH, '--socket', path, 'deploy', 'record', '--app', 'a',
                                  '--env', 'e', '--version', '1'],
                                 capture_output=True, text=True, timeout=30 * SLOW)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn('served by uid 65534', out.stderr)
            proc.wait(30 * SLOW)
            with open(got) as f:
                self.assertEqual(f.read(), '0', 'the client sent its request to the squatter')
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_client_never_falls_back_into_a_squatted_tmp(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        if os.path.exists('/run/shipwatch/shipwatch.sock'):
            self.skipTest('a system daemon listens: the client would use it')
        # uid 1 squats every default nobody's client could fall back to:
        # the private directory and the old flat socket under /tmp.
        squat_dir = '/tmp/shipwatch-65534'
        paths = [os.path.join(squat_dir, 'shipwatch.sock'), '/tmp/shipwatch-65534.sock']
        for p in paths + [squat_dir]:
            if os.path.lexists(p):
                self.skipTest('%s exists already' % p)
        got = tempfile.mkdtemp(prefix='shipwatch-got-')
        os.chmod(got, 0o777)
        self._stoppers.append(lambda: shutil.rmtree(got, ignore_errors=True) and None)
        squatter = textwrap.dedent('''
            import os, select, socket, sys
            os.mkdir(sys.argv[1], 0o755)
            ls = []
            for p in sys.argv[2:]:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind(p)
                os.chmod(p, 0o777)
                s.listen(4)
                ls.append(s)
            open(os.path.join(os.environ['GOT'], 'ready'), 'w').close()
            r, _, _ = select.select(ls, [], [], 15)
            n = 0
            for s in r:
                c, _ = s.accept()
                c.settimeout(3)
                try:
                    n += len(c.recv(4096))
                except OSError:
                    pass
            with open(os.path.join(os.environ['GOT'], 'bytes'), 'w') as f:
                f.write(str(n))
        ''')
        env = {'PATH': '/usr/bin:/bin', 'GOT': got}
        proc = subprocess.Popen(['setpriv', '--reuid=1', '--regid=1', '--clear-groups',
                                 sys.executable, '-c', squatter, squat_dir, *paths],
                                cwd='/', env=env)
        try:
            wait_until(lambda: os.path.exists(os.path.join(got, 'ready')),
                       what='the squatter to listen')
            cli = os.path.join(got, 'shipwatch')
            shutil.copy(SHIPWATCH, cli)
            os.chmod(cli, 0o755)
            out = subprocess.run([*NOBODY, cli, 'status'], capture_output=True, text=True,
                                 cwd='/', env={'PATH': '/usr/bin:/bin'}, timeout=30 * SLOW)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn('not using the default socket', out.stderr)
            proc.wait(30 * SLOW)
            with open(os.path.join(got, 'bytes')) as f:
                self.assertEqual(f.read(), '0', 'the client talked to the squatter')
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for p in paths:
                if os.path.lexists(p):
                    os.unlink(p)
            if os.path.isdir(squat_dir):
                os.rmdir(squat_dir)

    # --- 5: rights are checked per call ---

    def test_revoked_admin_loses_rights_on_an_open_connection(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        d = self.daemon(self.config('  admins: [nogroup]'))
        d.start()
        self.open_to_nobody(d)
        client = textwrap.dedent('''
            import socket, sys, msgpack
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.settimeout(20)
            u = msgpack.Unpacker(raw=False)
            def call(i, method, params):
                s.sendall(msgpack.packb([0, i, method, [params]]))
                while True:
                    for m in u:
                        if m[0] == 1 and m[1] == i:
                            return m[2]['code'] if m[2] else 'ok'
                    u.feed(s.recv(65536))
            print(call(1, 'daemon.hello', {'client': 't', 'protocol': 1}), flush=True)
            print(call(2, 'checks.pause', {'check': 'web'}), flush=True)
            sys.stdin.readline()
            print(call(3, 'checks.resume', {'check': 'web'}), flush=True)
        ''')
        proc = subprocess.Popen([*NOBODY, sys.executable, '-c', client, d.socket], cwd='/',
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), 'ok')
            self.assertEqual(proc.stdout.readline().strip(), 'ok')
            self.assertTrue(d.rpc().call('checks.get', {'check': 'web'})['paused'])
            d.write_config(self.config())
            d.rpc().call('daemon.reload')
            proc.stdin.write('go\n')
            proc.stdin.flush()
            self.assertEqual(proc.stdout.readline().strip(), 'denied')
            self.assertTrue(d.rpc().call('checks.get', {'check': 'web'})['paused'])
        finally:
            proc.stdin.close()
            proc.wait(30 * SLOW)
            proc.stdout.close()

    # --- 6: memory and clients ---

    def test_a_million_nils_is_refused(self):
        d = self.daemon(self.config())
        d.start()
        probe = d.rpc()
        base = rss_kib(d.proc.pid)
        nils = msgpack.packb([0, 7, 'status.get', [[None] * 10000] * 100])
        self.assertLess(len(nils), 1 << 20)
        held = []
        for i in range(40):
            c = Rpc(d.socket)
            c.call('daemon.hello', {'client': 'nils', 'protocol': 1})
            try:
                c.send_raw(nils)
            except (BrokenPipeError, ConnectionResetError):
                pass    # refused before the whole message was sent
            if i == 0:
                with self.assertRaises(RpcError) as e:
                    c.response(7)
                self.assertEqual(e.exception.code, 'too_large')
                self.assertIn('too many objects', e.exception.message)
            held.append(c)
        self.assertEqual(probe.call('status.get')['checks'], 1)
        grown = rss_kib(d.proc.pid) - base
        print('RSS grew by %d KiB for 40 messages of a million nils' % grown)
        if PLAIN:
            self.assertLess(grown, 16 * 1024)
        for c in held:
            c.close()

    def test_clients_are_capped_per_uid(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 1200 and hard >= 1200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1200:
            self.skipTest('cannot open 1,100 descriptors')
        d = self.daemon(self.config())
        d.start()
        probe = d.rpc()
        socks = []
        refused = 0
        for _ in range(1030):
            c = Rpc(d.socket)
            try:
                c.call('daemon.hello', {'client': 'flood', 'protocol': 1})
                socks.append(c)
            except (ConnectionError, OSError):
                refused += 1
                c.close()
        self.assertEqual(len(socks) + 1, 1024)
        self.assertEqual(refused, 1030 - 1023)
        wait_until(lambda: 'too many clients of one uid' in d.log(), what='the refusal logged')
        self.assertEqual(probe.call('status.get')['clients'], 1024)
        if can_be_nobody():
            os.chmod(d.dir, 0o755)
            os.chown(d.socket, 0, 65534)
            cli = self.open_to_nobody(d)
            out = self.as_nobody([cli, '--socket', d.socket, 'status'])
            self.assertEqual(out.returncode, 0, out.stderr)
        for c in socks:
            c.close()

    # --- 7: descriptors kept for checks ---

    def test_descriptor_reserve_keeps_checks_honest(self):
        if WRAPPER or shutil.which('prlimit') is None:
            self.skipTest('needs prlimit, and no wrapper holding descriptors')
        d = self.daemon(self.config())
        d.proc = None
        # A daemon limited to 128 descriptors (soft and hard).
        d.log_mark = len(d.log())
        d.logf = open(d.log_path, 'a', encoding='utf-8')
        d.proc = subprocess.Popen(['prlimit', '--nofile=128:128', SHIPWATCHD, '--config',
                                   d.config_path, '--log-level', 'debug'],
                                  stdout=d.logf, stderr=d.logf)
        wait_until(lambda: d.proc.poll() is not None or d.table_exists('events'),
                   what='the daemon to create its database')
        probe = d.rpc()
        flood = []
        for _ in range(160):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(d.socket)
                flood.append(s)
            except OSError:
                break
        for _ in range(3):
            r = probe.call('checks.run', {'check': 'web'})
            self.assertEqual(r['outcome'], 'up', r)
        wait_until(lambda: 'too few descriptors left for checks' in d.log(),
                   what='clients refused for the reserve')
        for s in flood:
            s.close()

    # --- smaller: masked targets, invalid UTF-8 ---

    def test_targets_are_masked_for_non_admins(self):
        if not can_be_nobody():
            self.skipTest('needs root and setpriv to act as nobody')
        checks = '''
  - name: api
    type: http
    url: http://127.0.0.1:%d/health?api_key=s3cret#frag
  - name: plugin
    type: exec
    command: [/bin/true, --token, hunter2]
''' % self.port
        d = self.daemon(self.config(checks=checks))
        d.start()
        # The plugin prints nothing: what a plugin prints is its message,
        # shown to every reader; only the command line is masked.
        cli = self.open_to_nobody(d)
        out = self.as_nobody([cli, '--socket', d.socket, '--json', 'checks'])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn('s3cret', out.stdout)
        self.assertNotIn('frag', out.stdout)
        self.assertNotIn('hunter2', out.stdout)
        self.assertIn('/health?***', out.stdout)
        self.assertIn('/bin/true ***', out.stdout)
        out = self.as_nobody([cli, '--socket', d.socket, '--json', 'check', 'api'])
        self.assertNotIn('s3cret', out.stdout + out.stderr)
        targets = {c['name']: c['target'] for c in d.rpc().call('checks.list')['checks']}
        self.assertIn('api_key=s3cret', targets['api'])
        self.assertEqual(targets['plugin'], '/bin/true --token hunter2')

    def test_invalid_utf8_is_never_echoed(self):
        d = self.daemon(self.config())
        d.start()
        c = d.rpc()
        # [0, 9, "\xff\xfe", []]: a method name that is not UTF-8.
        c.send_raw(bytes([0x94, 0x00, 0x09, 0xa2, 0xff, 0xfe, 0x90]))
        with self.assertRaises(RpcError) as e:
            c.response(9)   # the strict unpacker fails on raw bytes
        self.assertEqual(e.exception.code, 'no_method')
        self.assertIn('\\xff\\xfe', e.exception.message)
        # [0, 10, "checks.get", [{"check": "\xff"}]]
        c.send_raw(bytes([0x94, 0x00, 0x0a, 0xaa]) + b'checks.get' +
                   bytes([0x91, 0x81, 0xa5]) + b'check' + bytes([0xa1, 0xff]))
        with self.assertRaises(RpcError) as e:
            c.response(10)
        self.assertEqual(e.exception.code, 'invalid_params')
        self.assertIn('not valid UTF-8', e.exception.message)
        self.assertEqual(c.call('status.get')['checks'], 1)


if __name__ == '__main__':
    main()
