#!/usr/bin/env python3
"""The CLI as a script sees it: exit codes (status like a monitoring plugin,
deploy record --wait like a CI gate), errors as JSON under --json, unknown
names refused, tables that never cut a cell silently."""
import json
import os
import subprocess

from harness import SHIPWATCH, SLOW, SOURCE_ROOT, DaemonTest, main, wait_until

PLUGINS = os.path.join(SOURCE_ROOT, 'tests', 'integration', 'plugins')

BASE = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
apps:
  - name: shop
    verify: { window: 2s, interval: 200ms }
checks:
  - name: web
    app: shop
    env: prod
    type: http
    url: %s/health
'''

WARN = '''
  - name: warn
    app: tools
    env: prod
    type: exec
    command: ["%s/exit1.sh"]
''' % PLUGINS


class CliTest(DaemonTest):

    def start(self, extra=''):
        self.t = self.target()
        d = self.daemon(BASE % self.t.base + extra)
        d.start()
        wait_until(lambda: os.path.exists(d.socket), what='the socket')
        self.wait_state(d, 'web', 'up')
        return d

    def cli(self, d, *args):
        return subprocess.run([SHIPWATCH, '--socket', d.socket, *args], capture_output=True,
                              text=True, timeout=60 * SLOW)

    def wait_state(self, d, check, state):
        rpc = d.rpc()
        wait_until(lambda: rpc.call('checks.get', {'check': check})['state'] == state,
                   what='%s %s' % (check, state))
        rpc.close()

    def test_status_exit(self):
        d = self.start()
        out = self.cli(d, 'status')
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('checks:', out.stdout)
        d.write_config(BASE % self.t.base + WARN)
        self.assertEqual(self.cli(d, 'reload').returncode, 0)
        self.wait_state(d, 'warn', 'degraded')
        out = self.cli(d, 'status')
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn('1 degraded', out.stdout)
        self.t.get('/toggle?state=down')
        self.wait_state(d, 'web', 'down')
        self.assertEqual(self.cli(d, 'status').returncode, 2)
        out = self.cli(d, 'status', '--json')
        self.assertEqual(out.returncode, 2)
        self.assertEqual(json.loads(out.stdout)['down'], 1)

    def test_json_errors(self):
        d = self.start()
        out = self.cli(d, 'checks', '--state', 'bogus')
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn('bogus', out.stderr)
        out = self.cli(d, 'checks', '--state', 'bogus', '--json')
        self.assertEqual(out.returncode, 2)
        err = json.loads(out.stdout)['error']
        self.assertEqual(err['code'], 'invalid_params')
        self.assertIn('bogus', err['message'])
        self.assertEqual(out.stderr, '')
        # A usage error found before the daemon is asked, --json after it.
        out = self.cli(d, 'checks', '--limit', 'x', '--json')
        self.assertEqual(out.returncode, 2)
        self.assertEqual(json.loads(out.stdout)['error']['code'], 'usage')
        out = self.cli(d, '--json', 'nosuchcommand')
        self.assertEqual(out.returncode, 2)
        self.assertEqual(json.loads(out.stdout)['error']['code'], 'usage')
        out = self.cli(d, '--json', 'checks', 'nosuch')
        self.assertEqual(out.returncode, 1)
        self.assertEqual(json.loads(out.stdout)['error']['code'], 'not_found')
        out = subprocess.run([SHIPWATCH, '--socket', d.socket + '.none', '--json', 'status'],
                             capture_output=True, text=True, timeout=60 * SLOW)
        self.assertEqual(out.returncode, 1)
        self.assertIn('running', json.loads(out.stdout)['error']['message'])

    def test_unknown_names(self):
        d = self.start()
        out = self.cli(d, 'silence', '--check', 'nosuch', '--for', '1h')
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr.count('\n'), 1, out.stderr)
        self.assertIn('no check named nosuch', out.stderr)
        self.assertEqual(self.cli(d, 'silence', '--check', 'web', '--for', '1h').returncode, 0)
        out = self.cli(d, 'deploy', 'record', '--app', 'nosuchapp', '--env', 'prod',
                       '--version', '1')
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr.count('\n'), 1, out.stderr)
        self.assertIn('no app named nosuchapp', out.stderr)
        out = self.cli(d, 'deploys', '--json')
        self.assertEqual(json.loads(out.stdout)['deploys'], [])

    def test_deploy_wait(self):
        d = self.start()
        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                       '--version', '1.0', '--wait', '--timeout', '30s')
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn('verdict: healthy', out.stdout)
        self.t.get('/toggle?state=down')
        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                       '--version', '1.1', '--wait', '--json')
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        dep = json.loads(out.stdout)
        self.assertEqual(dep['verdict'], 'failed')
        self.assertEqual(dep['rollback_version'], '1.0')
        self.t.get('/toggle?state=up')
        self.wait_state(d, 'web', 'up')
        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                       '--version', '1.2', '--wait', '--timeout', '300ms')
        self.assertEqual(out.returncode, 4, out.stdout + out.stderr)
        self.assertIn('--timeout', out.stderr)
        out = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                       '--version', '1.3', '--timeout', '1s')
        self.assertEqual(out.returncode, 2)

    def test_follow_survives_restart(self):
        d = self.start()
        first = json.loads(self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod',
                                    '--version', '1.0', '--json').stdout)['id']
        p = subprocess.Popen([SHIPWATCH, '--socket', d.socket, 'events', '--follow', '--json',
                              '--type', 'deploy'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertIn('1.0', p.stdout.readline())
            self.assertEqual(d.stop(), 0)
            d.start()
            wait_until(lambda: os.path.exists(d.socket), what='the socket again')
            # Recorded while the follower may not be back yet: caught up by id.
            self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', '--version', '2.0')
            self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', '--version', '3.0')
            seen = [json.loads(p.stdout.readline())['message'] for _ in range(2)]
            self.assertIn('2.0', seen[0])
            self.assertIn('3.0', seen[1])
        finally:
            p.terminate()
            _, err = p.communicate(timeout=10 * SLOW)
        self.assertEqual(err.count('reconnecting'), 1, err)
        # --after: every event after an id, oldest first, no gap.
        listed = json.loads(self.cli(d, 'events', '--type', 'deploy', '--json').stdout)
        ids = sorted(e['id'] for e in listed['events'])
        self.assertEqual(len(ids), 3)
        out = self.cli(d, 'events', '--type', 'deploy', '--after', str(ids[0]), '--json')
        msgs = [json.loads(ln)['message'] for ln in out.stdout.splitlines()]
        self.assertEqual(len(msgs), 2, out.stdout)
        self.assertIn('2.0', msgs[0])
        self.assertIn('3.0', msgs[1])
        self.assertGreater(first, 0)


if __name__ == '__main__':
    main()
