#!/usr/bin/env python3
"""The daemon's life: --check-config, restart restoring state, SIGHUP reload
with a valid and an invalid file, SIGTERM during a run."""
import signal
import subprocess
import time

from harness import (DOWN, PLUGINS, SHIPWATCHD, UP, DaemonTest, main, wait_until)

BASE = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 1s
  failure-threshold: 2
  success-threshold: 2
checks:
'''


class LifecycleTest(DaemonTest):

    def test_version_and_help(self):
        out = subprocess.run([SHIPWATCHD, '--version'], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        self.assertRegex(out.stdout, r'^shipwatchd \d+\.\d+\.\d+')
        out = subprocess.run([SHIPWATCHD, '--help'], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        self.assertIn('--check-config', out.stdout)
        out = subprocess.run([SHIPWATCHD, '--bogus'], capture_output=True, text=True)
        self.assertEqual(out.returncode, 2)
        out = subprocess.run([SHIPWATCHD, '--log-format', 'xml'], capture_output=True, text=True)
        self.assertEqual(out.returncode, 2)
        self.assertIn('--log-format', out.stderr)

    def test_check_config(self):
        t = self.target()
        d = self.daemon(BASE + '''
  - name: a
    type: http
    url: %s/ok
''' % t.base)
        out = d.check_config()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('ok: 1 check', out.stdout)

        d.write_config(BASE + '''
  - name: a
    type: http
    interval: 5x
  - name: a
    type: tcp
    host: 127.0.0.1
    port: 99999
''')
        out = d.check_config()
        self.assertEqual(out.returncode, 1)
        lines = out.stderr.strip().splitlines()
        self.assertGreaterEqual(len(lines), 3, out.stderr)
        for line in lines:
            self.assertRegex(line, r'^.*shipwatch\.yml:\d+:\d+: ')
        text = out.stderr
        self.assertIn('checks[0].interval: bad duration', text)
        self.assertIn('needs url', text)
        self.assertIn('duplicate check name "a"', text)
        self.assertIn('checks[1].port', text)
        # The daemon refuses to start on the same file, with the same messages.
        proc = subprocess.run([SHIPWATCHD, '--config', d.config_path], capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn('bad duration', proc.stderr)

    def test_restart_restores_state(self):
        t = self.target()
        cfg = BASE + '''
  - name: down-one
    type: http
    url: %s/status/503
''' % t.base
        d = self.daemon(cfg)
        d.start()
        wait_until(lambda: d.state('down-one') and d.state('down-one')[1] >= 3,
                   what='a fail streak of 3')
        self.assertEqual(d.stop(), 0)
        before = d.state('down-one')
        self.assertEqual(before[0], DOWN)
        nstate = len(d.events('state', 'down-one'))

        d2 = self.daemon(cfg, workdir=d.dir)
        d2.start()
        n = len(d2.results('down-one'))
        d2.wait_results('down-one', n + 2)
        rpc = d2.rpc()
        rpc.call('checks.pause', {'check': 'down-one'})

        def live():
            return [c for c in rpc.call('checks.list')['checks'] if c['name'] == 'down-one'][0]
        # Every result this store holds failed: the streak counts them all,
        # the routine ones the state row skipped (state.h) as well.
        wait_until(lambda: live()['fail_streak'] == len(d2.results('down-one')),
                   what='a fail streak of every stored result')
        after = live()
        self.assertEqual(after['state'], 'down')
        self.assertGreater(after['fail_streak'], before[1],
                           'the fail streak carries on across a restart')
        # No new state event: the state was restored, not rediscovered.
        self.assertEqual(len(d2.events('state', 'down-one')), nstate)
        self.assertEqual(d2.stop(), 0)

    def test_sighup_valid_and_invalid(self):
        t = self.target()
        d = self.daemon(BASE + '''
  - name: keep
    type: http
    url: %(b)s/ok
  - name: drop
    type: http
    url: %(b)s/ok
''' % {'b': t.base})
        d.start()
        d.wait_results('keep', 2)
        d.wait_results('drop', 1)
        d.write_config(BASE + '''
  - name: keep
    type: http
    url: %(b)s/ok
  - name: added
    type: http
    url: %(b)s/status/500
''' % {'b': t.base})
        d.send_signal(signal.SIGHUP)
        d.wait_results('added', 1)
        wait_until(lambda: d.events('reload'), what='a reload event')
        self.assertIn('1 unchanged', d.events('reload')[-1][4])
        self.assertIn('1 added', d.events('reload')[-1][4])
        self.assertIn('1 removed', d.events('reload')[-1][4])
        time.sleep(0.5)
        n_drop = len(d.results('drop'))
        n_keep = len(d.results('keep'))
        time.sleep(1.0)
        self.assertEqual(len(d.results('drop')), n_drop, 'a removed check stops')
        self.assertGreater(len(d.results('keep')), n_keep, 'an unchanged check goes on')

        # An invalid file keeps the running configuration and logs every error.
        d.write_config(BASE + '''
  - name: keep
    type: http
    interval: nope
''')
        d.send_signal(signal.SIGHUP)
        wait_until(lambda: 'reload failed' in (d.events('reload')[-1][4] if d.events('reload')
                                               else ''), what='a failed reload event')
        self.assertIn('bad duration', d.log())
        n_added = len(d.results('added'))
        d.wait_results('added', n_added + 2)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), 0)

    def test_reload_is_read_off_the_loop(self):
        """A reload reads the file on a thread: the socket answers meanwhile,
        and a reload asked while one is being read reads the file again, so
        a change made after the first read began is never missed."""
        many = ''.join('  - {name: c%d, type: tcp, host: 127.0.0.1, port: 9, interval: 60s}\n'
                       % i for i in range(20000))
        d = self.daemon(BASE + many)
        d.start()
        c = d.rpc(timeout=60)
        self.assertEqual(c.call('status.get')['checks'], 20000)
        d.write_config(BASE + many + '  - {name: extra, type: tcp, host: 127.0.0.1, port: 9}\n')
        d.send_signal(signal.SIGHUP)
        # Answered while the signal's read goes on (or after it: either way
        # the socket is served, and the count below says which read it was).
        t0 = time.monotonic()
        c.call('status.get')
        status_s = time.monotonic() - t0
        d.write_config(BASE + many + '  - {name: extra, type: tcp, host: 127.0.0.1, port: 9}\n'
                       + '  - {name: later, type: tcp, host: 127.0.0.1, port: 9}\n')
        r = c.call('daemon.reload')
        self.assertEqual(r['checks'], 20002, 'the reload asked second saw the second file')
        self.assertEqual(r['added'] + r['unchanged'], 20002)
        wait_until(lambda: len(d.events('reload')) >= 2, what='two reload events')
        self.assertEqual(c.call('checks.get', {'check': 'later'})['name'], 'later')
        self.assertRegex(d.log(), r'reload: configuration read in \d+ ms \(thread pool\), '
                                  r'applied in \d+ ms \(loop\)')
        print('status.get during a reload: %.1f ms' % (status_s * 1000))
        self.assertEqual(d.stop(), 0)

    def test_sigterm_during_run(self):
        d = self.daemon(BASE + '''
  - name: hang
    type: exec
    command: ["%s/hang.sh"]
    timeout: 30s
  - name: fine
    type: exec
    command: ["%s/exit0.sh"]
''' % (PLUGINS, PLUGINS))
        # A short drain deadline so the hanging plugin is cancelled.
        text = d.config_text().replace(
            'daemon:\n', 'daemon:\n  drain-timeout: 1s\n', 1)
        d.write_config(text)
        d.start()
        d.wait_results('fine', 2)
        time.sleep(0.3)
        started = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 10)
        integrity = d.query('PRAGMA integrity_check')
        self.assertEqual(integrity, [('ok',)])
        n = len(d.results('fine'))
        d2 = self.daemon(d.config_text(), workdir=d.dir)
        d2.start()
        d2.wait_results('fine', n + 1)
        self.assertEqual(d2.stop(signal.SIGINT), 0)


if __name__ == '__main__':
    main()
