#!/usr/bin/env python3
"""Debian's monitoring-plugins run by the real daemon against local targets:
Nagios exit codes, stderr-only output, children that outlive the plugin or
its timeout, and what a plugin inherits (descriptors, environment)."""
import os
import shutil
import signal
import subprocess
import time
import urllib.request

from harness import (DOWN, DEGRADED, PLUGINS, SHIPWATCH, SLOW, UNKNOWN, UP, DaemonTest,
                     closed_port, main, wait_until)

NAGIOS = '/usr/lib/nagios/plugins'

HEAD = '''
daemon:
  socket: {socket}
  drain-timeout: 1s
storage:
  path: {db}
defaults:
  interval: 1s
  timeout: 5s
checks:'''

# Debian's plugins against the local target and this host.
NAGIOS_CONFIG = HEAD + '''
  - name: http-ok
    type: exec
    command: ["%(nagios)s/check_http", "-H", "127.0.0.1", "-p", "%(port)d", "-u", "/ok"]
  - name: http-500
    type: exec
    command: ["%(nagios)s/check_http", "-H", "127.0.0.1", "-p", "%(port)d", "-u", "/status/500"]
  - name: http-refused
    type: exec
    command: ["%(nagios)s/check_http", "-H", "127.0.0.1", "-p", "%(closed)d"]
  - name: curl-ok
    type: exec
    command: ["%(nagios)s/check_curl", "-H", "127.0.0.1", "-p", "%(port)d", "-u", "/ok"]
  - name: tcp-ok
    type: exec
    command: ["%(nagios)s/check_tcp", "-H", "127.0.0.1", "-p", "%(port)d"]
  - name: tcp-refused
    type: exec
    command: ["%(nagios)s/check_tcp", "-H", "127.0.0.1", "-p", "%(closed)d"]
  - name: disk
    type: exec
    command: ["%(nagios)s/check_disk", "-w", "0%%", "-c", "0%%", "-p", "/"]
  - name: load
    type: exec
    command: ["%(nagios)s/check_load", "-w", "1000,1000,1000", "-c", "2000,2000,2000"]
  - name: procs
    type: exec
    command: ["%(nagios)s/check_procs", "-w", "100000", "-c", "200000"]
  - name: dummy-0
    type: exec
    command: ["%(nagios)s/check_dummy", "0", "all good"]
  - name: dummy-1
    type: exec
    command: ["%(nagios)s/check_dummy", "1", "getting slow"]
  - name: dummy-2
    type: exec
    command: ["%(nagios)s/check_dummy", "2", "it broke"]
  - name: dummy-3
    type: exec
    command: ["%(nagios)s/check_dummy", "3", "cannot tell"]
'''

# Plugins that leave children behind.
CHILDREN_CONFIG = HEAD + '''
  - name: outlive
    type: exec
    command: ["%(plugins)s/outlive_timeout.sh", "%(dir)s/outlive.pid"]
    timeout: 1s
  - name: background
    type: exec
    command: ["%(plugins)s/background_child.sh", "%(dir)s/background.pid"]
'''

# What a plugin gets: its stderr read, nothing inherited.
LOCAL_CONFIG = HEAD + '''
  - name: stderr-only
    type: exec
    command: ["%(plugins)s/stderr_only.sh"]
  - name: fds
    type: exec
    command: ["%(plugins)s/list_fds.sh"]
  - name: env
    type: exec
    command: ["%(plugins)s/list_env.sh"]
'''

# A daemon whose only check is a wrapper waiting on a long child, for the drain.
DRAIN_CONFIG = '''
daemon:
  socket: {socket}
  drain-timeout: 1s
storage:
  path: {db}
checks:
  - name: outlive
    type: exec
    command: ["%(plugins)s/outlive_timeout.sh", "%(dir)s/drain.pid"]
    interval: 1s
    timeout: 30s
'''


# A plugin with perfdata on its first line and in its long output (the
# plugin development guidelines' example), and a heartbeat never pinged.
PERF_SCRIPT = '''#!/bin/sh
echo "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968 'free space'=56%;;;0;100 gone=U"
echo "/ 15272 MB (77%);"
echo "/boot 68 MB (69%); | /boot=68MB;88;93;0;98"
'''

PERF_CONFIG = HEAD + '''
  - name: perf
    type: exec
    command: ["%(dir)s/perf.sh"]
  - name: beat
    type: heartbeat
    token: hb-perf-0123456789abcdef
    period: 1h
'''


def pid_gone(path):
    """Whether the process whose pid is in path is gone (or a zombie)."""
    with open(path, encoding='ascii') as f:
        pid = int(f.read().strip())
    try:
        with open('/proc/%d/stat' % pid, encoding='ascii') as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except FileNotFoundError:
        return True


class PluginsTest(DaemonTest):

    def setUp(self):
        super().setUp()
        if not os.path.exists(os.path.join(NAGIOS, 'check_dummy')):
            if os.environ.get('CI'):
                self.fail('monitoring-plugins are missing in CI: scripts/deps.sh installs them')
            self.skipTest('monitoring-plugins are not installed (scripts/deps.sh installs them)')
        self.t = self.target()

    def start(self, config):
        # A secret in the daemon's environment must not reach a plugin.
        d = self.daemon(config, env={'SHIPWATCH_TEST_SECRET': 'hunter2'})
        d.write_config(config % {'nagios': NAGIOS, 'plugins': PLUGINS, 'port': self.t.port,
                                 'closed': closed_port(), 'dir': d.dir})
        return d.start()

    def last(self, d, name):
        return d.results(name)[-1]

    def test_monitoring_plugins(self):
        d = self.start(NAGIOS_CONFIG)
        expect = {
            'http-ok': UP, 'http-500': DOWN, 'http-refused': DOWN, 'curl-ok': UP, 'tcp-ok': UP,
            'tcp-refused': DOWN, 'disk': UP, 'load': UP, 'procs': UP,
            'dummy-0': UP, 'dummy-1': DEGRADED, 'dummy-2': DOWN, 'dummy-3': UNKNOWN,
        }
        for name in expect:
            d.wait_results(name, 1, timeout=15)
        for name, outcome in expect.items():
            r = self.last(d, name)
            self.assertEqual(r['outcome'], outcome, '%s: %r' % (name, r))
        # The exit code is the status; an OK message is not an error.
        self.assertEqual(self.last(d, 'dummy-0')['status'], 0)
        self.assertFalse(self.last(d, 'dummy-0')['error'])
        self.assertFalse(self.last(d, 'load')['error'])
        self.assertEqual(self.last(d, 'dummy-1')['error'], 'WARNING: getting slow')
        self.assertEqual(self.last(d, 'dummy-2')['error'], 'CRITICAL: it broke')
        self.assertEqual(self.last(d, 'dummy-3')['status'], 3)
        self.assertIn('HTTP CRITICAL', self.last(d, 'http-500')['error'])
        # check_tcp writes a refused connection to stderr only.
        self.assertIn('Connection refused', self.last(d, 'tcp-refused')['error'])

    def test_children_are_killed(self):
        d = self.start(CHILDREN_CONFIG)
        # Exit 2 at once with a child holding stdout: CRITICAL right away.
        bg = d.wait_results('background', 1, timeout=10)[-1]
        self.assertEqual(bg['outcome'], DOWN)
        self.assertEqual(bg['error'], 'CRITICAL - left a child behind')
        self.assertLess(bg['duration_us'], 1_000_000)
        wait_until(lambda: pid_gone(os.path.join(d.dir, 'background.pid')),
                   what='the background child to be killed')
        # A child outliving the timeout is killed with its wrapper.
        out = d.wait_results('outlive', 1, timeout=10)[-1]
        self.assertEqual(out['outcome'], DOWN)
        self.assertIn('timed out after 1s', out['error'])
        self.assertLess(out['duration_us'], 2_000_000)
        wait_until(lambda: pid_gone(os.path.join(d.dir, 'outlive.pid')),
                   what='the child of the timed-out plugin to be killed')

    def test_stderr_and_inheritance(self):
        d = self.start(LOCAL_CONFIG)
        # stderr shown when stdout is empty, as Nagios does.
        err = d.wait_results('stderr-only', 1)[-1]
        self.assertEqual(err['outcome'], DOWN)
        self.assertEqual(err['error'], '(No output on stdout) stderr: '
                                       'stderr_only: cannot open /dev/nothing')
        # Nothing of the daemon's reaches a plugin: descriptors, environment.
        fds = d.wait_results('fds', 1)[-1]
        self.assertEqual(fds['outcome'], UP, fds['error'])
        env = d.wait_results('env', 1)[-1]
        self.assertEqual(env['outcome'], UP, env['error'])

    def test_perfdata_message_and_long_output(self):
        d = self.daemon(PERF_CONFIG)
        script = os.path.join(d.dir, 'perf.sh')
        with open(script, 'w', encoding='ascii') as f:
            f.write(PERF_SCRIPT)
        os.chmod(script, 0o755)
        d.write_config(PERF_CONFIG % {'dir': d.dir})
        d.start()
        r = d.wait_results('perf', 1)[-1]
        self.assertEqual(r['outcome'], UP)
        # An OK plugin's message is no error; it is stored as the message.
        self.assertIsNone(r['error'])
        stored = d.query("SELECT r.message, r.perfdata FROM results r JOIN checks c "
                         "ON c.id = r.check_id WHERE c.name = 'perf'")[0]
        self.assertEqual(stored[0], 'DISK OK - free space: / 3326 MB (56%);')
        perf = ("'/'=2643MB;5948;5958;0;5968 'free space'=56%;;;0;100 'gone'=U "
                "'/boot'=68MB;88;93;0;98")
        self.assertEqual(stored[1], perf)

        c = d.rpc()
        v = c.call('checks.get', {'check': 'perf'})
        self.assertEqual(v['last_message'], 'DISK OK - free space: / 3326 MB (56%);')
        self.assertEqual(v['last_long_output'], '/ 15272 MB (77%);\n/boot 68 MB (69%);')
        self.assertEqual(v['last_perfdata'], perf)
        self.assertNotIn('last_error', v)
        h = c.call('checks.history', {'check': 'perf', 'granularity': 'raw'})
        self.assertEqual(h['rows'][0]['message'], 'DISK OK - free space: / 3326 MB (56%);')
        self.assertEqual(h['rows'][0]['perfdata'], perf)

        # A heartbeat has nothing to run: checks.run answers at once.
        t0 = time.monotonic()
        run = c.call('checks.run', {'check': 'beat'})
        self.assertLess(time.monotonic() - t0, 2 * SLOW)
        self.assertEqual(run['state'], 'unknown')
        self.assertEqual(run['started_ms'], 0)

        # The CLI shows them, the PROBLEM column only errors.
        out = subprocess.run([SHIPWATCH, '--socket', d.socket, 'checks', 'perf'],
                             capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('message:    DISK OK - free space: / 3326 MB (56%);\n', out.stdout)
        self.assertIn('output:     / 15272 MB (77%);\n            /boot 68 MB (69%);\n',
                      out.stdout)
        self.assertIn('perfdata:   ' + perf, out.stdout)
        out = subprocess.run([SHIPWATCH, '--socket', d.socket, 'checks'],
                             capture_output=True, text=True, timeout=60 * SLOW)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith('perf ')][0]
        self.assertNotIn('DISK OK', line)
        out = subprocess.run([SHIPWATCH, '--socket', d.socket, 'history', 'perf'],
                             capture_output=True, text=True, timeout=60 * SLOW)
        self.assertIn('MESSAGE', out.stdout)
        self.assertIn('DISK OK - free space', out.stdout)

        # /metrics: one gauge an item, the unknown value left out.
        base = d.http_base()
        body = urllib.request.urlopen(base + '/metrics', timeout=10 * SLOW).read().decode()
        self.assertIn('shipwatch_check_perfdata{check="perf",label="/",uom="MB"} 2643\n', body)
        self.assertIn('shipwatch_check_perfdata{check="perf",label="free space",uom="%"} 56\n',
                      body)
        self.assertIn('shipwatch_check_perfdata{check="perf",label="/boot",uom="MB"} 68\n', body)
        self.assertNotIn('label="gone"', body)
        promtool = shutil.which('promtool')
        if promtool is not None:
            out = subprocess.run([promtool, 'check', 'metrics'], input=body.encode(),
                                 capture_output=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout.decode() + out.stderr.decode())

    def test_drain_never_waits_on_a_plugins_child(self):
        d = self.start(DRAIN_CONFIG)
        pidfile = os.path.join(d.dir, 'drain.pid')
        wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0,
                   what='the plugin to start its child')
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=10), 0)
        # drain-timeout 1s, then the group is killed: not the child's 20 s.
        self.assertLess(time.monotonic() - t0, 5)
        wait_until(lambda: pid_gone(pidfile), what='the child to be killed at the drain')


if __name__ == '__main__':
    main()
