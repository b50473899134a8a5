#!/usr/bin/env python3
"""Private PostgreSQL and Redis servers for tests, on 127.0.0.1.

Each server lives in its own temporary directory, listens on a port the
kernel picked, and is stopped and removed on exit. Tests stop and start them
to simulate outages, from Python (server.stop(), server.start()) or from any
process through a small control script (`$SHIPWATCH_TEST_PGCTL stop`).

    with PgServer() as pg:       pg.dsn, pg.psql(sql), pg.stop(), pg.start()
    with RedisServer() as r:     r.url, r.cli(*args), r.stop(), r.start()

As a command, it runs another command beside a fresh server:

    servers.py postgres -- CMD ARGS   # exports SHIPWATCH_TEST_PG_DSN and
                                      # SHIPWATCH_TEST_PGCTL
    servers.py redis -- CMD ARGS      # exports SHIPWATCH_TEST_REDIS_URL and
                                      # SHIPWATCH_TEST_REDISCTL
    servers.py postgres redis -- CMD  # both

With SHIPWATCH_PG_DURABLE=1 the server keeps fsync on (benchmarks).

PostgreSQL refuses to run as root: as root the server runs as the
`postgres` system user (Debian's package creates it).
"""
import glob
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout):
    """Wait until something accepts on 127.0.0.1:port; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def pg_bindir():
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                  key=lambda d: int(d.split('/')[-2]) if d.split('/')[-2].isdigit() else 0)
    if not dirs:
        raise RuntimeError('PostgreSQL server binaries not found (apt-get install postgresql)')
    return dirs[-1]


def write_script(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)


class PgServer:
    """A throwaway PostgreSQL cluster with database and superuser `shipwatch`.

    Durability settings are relaxed (fsync off) unless durable=True: tests
    are about behaviour, benchmarks pass durable=True."""

    def __init__(self, tmpdir=None, durable=False, settings=None):
        self.owned_tmp = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix='shipwatch-pg-')
        self.port = free_port()
        self.bindir = pg_bindir()
        self.data = os.path.join(self.dir, 'data')
        self.log = os.path.join(self.dir, 'postgres.log')
        self.ctl = os.path.join(self.dir, 'pgctl')
        self.as_root = os.geteuid() == 0
        opts = ['-c listen_addresses=127.0.0.1', '-p %d' % self.port,
                '-c unix_socket_directories=%s' % self.dir, '-c max_connections=200']
        if not durable:
            opts += ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']
        for k, v in (settings or {}).items():
            opts.append('-c %s=%s' % (k, v))
        self.opts = ' '.join(opts)
        self.dsn = 'host=127.0.0.1 port=%d dbname=shipwatch user=shipwatch' % self.port
        self.url = 'postgresql://shipwatch@127.0.0.1:%d/shipwatch' % self.port

    def _as_owner(self, argv):
        if self.as_root:
            return ['runuser', '-u', 'postgres', '--'] + argv
        return argv

    def __enter__(self):
        if self.as_root:
            shutil.chown(self.dir, 'postgres', 'postgres')
            os.chmod(self.dir, 0o755)
        subprocess.run(self._as_owner([
            os.path.join(self.bindir, 'initdb'), '-D', self.data, '-U', 'shipwatch',
            '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pg_ctl = os.path.join(self.bindir, 'pg_ctl')
        prefix = 'runuser -u postgres -- ' if self.as_root else ''
        write_script(self.ctl, '#!/bin/sh\n'
                     '# pgctl start|stop|kill: control the test PostgreSQL server.\n'
                     'case "$1" in\n'
                     'start) exec %s%s -D %s -l %s -o %s -w -t 60 start >/dev/null ;;\n'
                     'stop) exec %s%s -D %s -m fast -w -t 60 stop >/dev/null ;;\n'
                     'kill) exec %s%s -D %s -m immediate -w -t 60 stop >/dev/null ;;\n'
                     '*) echo "usage: $0 start|stop|kill" >&2; exit 2 ;;\n'
                     'esac\n' % (prefix, pg_ctl, self.data, self.log, shlex.quote(self.opts),
                                 prefix, pg_ctl, self.data,
                                 prefix, pg_ctl, self.data))
        self.start()
        subprocess.run([os.path.join(self.bindir, 'psql'), '-X', '-q', '-h', '127.0.0.1',
                        '-p', str(self.port), '-U', 'shipwatch', '-d', 'postgres',
                        '-c', 'CREATE DATABASE shipwatch'], check=True, stdout=subprocess.DEVNULL)
        return self

    def start(self):
        subprocess.run([self.ctl, 'start'], check=True)

    def stop(self, mode='stop'):
        subprocess.run([self.ctl, mode], check=False)

    def psql(self, sql, db='shipwatch', quiet=False):
        """Run sql; return psql's unaligned, tuples-only output."""
        r = subprocess.run([os.path.join(self.bindir, 'psql'), '-X', '-q', '-At', '-h',
                            '127.0.0.1', '-p', str(self.port), '-U', 'shipwatch', '-d', db,
                            '-v', 'ON_ERROR_STOP=1', '-c', sql],
                           check=True, stdout=subprocess.PIPE, text=True,
                           stderr=subprocess.DEVNULL if quiet else None)
        return r.stdout.strip()

    def __exit__(self, *exc):
        self.stop('kill')
        if self.owned_tmp:
            shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throwaway redis-server without persistence; with a password, it
    requires AUTH (requirepass) and url carries the password."""

    def __init__(self, tmpdir=None, password=None):
        self.owned_tmp = tmpdir is None
        self.dir = tmpdir or tempfile.mkdtemp(prefix='shipwatch-redis-')
        self.port = free_port()
        self.password = password
        auth = ':%s@' % password if password else ''
        self.url = 'redis://%s127.0.0.1:%d/0' % (auth, self.port)
        self.ctl = os.path.join(self.dir, 'redisctl')
        self.pidfile = os.path.join(self.dir, 'redis.pid')

    def __enter__(self):
        server = shutil.which('redis-server') or '/usr/bin/redis-server'
        cli = shutil.which('redis-cli') or '/usr/bin/redis-cli'
        # The password goes to redis-cli through REDISCLI_AUTH, never argv.
        auth = ' --requirepass %s' % self.password if self.password else ''
        env = 'REDISCLI_AUTH=%s ' % self.password if self.password else ''
        write_script(self.ctl, '#!/bin/sh\n'
                     '# redisctl start|stop: control the test Redis server.\n'
                     'case "$1" in\n'
                     'start) exec %s --bind 127.0.0.1 --port %d --save "" --appendonly no '
                     '--dir %s --daemonize yes --pidfile %s --logfile %s/redis.log%s ;;\n'
                     'stop) %sexec %s -h 127.0.0.1 -p %d shutdown nosave >/dev/null 2>&1 ;;\n'
                     '*) echo "usage: $0 start|stop" >&2; exit 2 ;;\n'
                     'esac\n' % (server, self.port, self.dir, self.pidfile, self.dir, auth,
                                 env, cli, self.port))
        self.start()
        return self

    def start(self):
        subprocess.run([self.ctl, 'start'], check=True, stdout=subprocess.DEVNULL)
        if not wait_port(self.port, 10):
            raise RuntimeError('redis-server did not listen on %d' % self.port)

    def stop(self):
        subprocess.run([self.ctl, 'stop'], check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and wait_port(self.port, 0.1):
            time.sleep(0.05)

    def cli(self, *args):
        env = dict(os.environ)
        if self.password:
            env['REDISCLI_AUTH'] = self.password
        r = subprocess.run(['redis-cli', '-h', '127.0.0.1', '-p', str(self.port), *args],
                           check=True, stdout=subprocess.PIPE, text=True, env=env)
        return r.stdout.strip()

    def __exit__(self, *exc):
        self.stop()
        if self.owned_tmp:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if '--' not in argv:
        print('usage: servers.py [postgres] [redis] -- CMD ARGS...', file=sys.stderr)
        return 2
    cut = argv.index('--')
    kinds, cmd = argv[:cut], argv[cut + 1:]
    if not cmd or not set(kinds) <= {'postgres', 'redis'}:
        print('usage: servers.py [postgres] [redis] -- CMD ARGS...', file=sys.stderr)
        return 2
    env = dict(os.environ)
    servers = []
    try:
        if 'postgres' in kinds:
            # Benchmarks want the server's real durability settings.
            pg = PgServer(durable=os.environ.get('SHIPWATCH_PG_DURABLE') == '1')
            servers.append(pg)
            pg.__enter__()
            env['SHIPWATCH_TEST_PG_DSN'] = pg.dsn
            env['SHIPWATCH_TEST_PGCTL'] = pg.ctl
        if 'redis' in kinds:
            r = RedisServer()
            servers.append(r)
            r.__enter__()
            env['SHIPWATCH_TEST_REDIS_URL'] = r.url
            env['SHIPWATCH_TEST_REDISCTL'] = r.ctl
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        for s in reversed(servers):
            s.__exit__(None, None, None)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
