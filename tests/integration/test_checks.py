#!/usr/bin/env python3
"""The real daemon runs every check type against real local targets and the
store holds what happened: outcomes, latencies, failed conditions, states."""
import os

from harness import (DOWN, DEGRADED, PLUGINS, SLOW, UNKNOWN, UP, DaemonTest, closed_port, main,
                     wait_until)

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 500ms
  timeout: %(timeout)dms
  failure-threshold: 2
  success-threshold: 2
checks:
  - name: ok
    app: web
    env: test
    type: http
    url: %(base)s/ok
    conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 2000", "[BODY] == ok"]
  - name: five-hundred
    app: web
    env: test
    type: http
    url: %(base)s/status/500
    conditions: ["[STATUS] == 200"]
  - name: redirect-followed
    type: http
    url: %(base)s/redirect
    follow-redirects: true
    conditions: ["[STATUS] == 200"]
  - name: redirect-kept
    type: http
    url: %(base)s/redirect
    conditions: ["[STATUS] == 301"]
  - name: slow
    type: http
    url: %(base)s/slow?ms=3000
    timeout: 300ms
  - name: cut
    type: http
    url: %(base)s/close
  - name: big
    type: http
    url: %(base)s/big?bytes=10000000
    timeout: 5s
  - name: json
    type: http
    url: %(base)s/json
    conditions: ["[BODY].status == UP", "[BODY].data[0].id == 1"]
  - name: json-wrong
    type: http
    url: %(base)s/json
    conditions: ["[BODY].version == 9.9.9"]
  - name: tcp-closed
    type: tcp
    host: 127.0.0.1
    port: %(closed)d
    conditions: ["[CONNECTED] == true"]
  - name: tcp-gone
    type: tcp
    host: 127.0.0.1
    port: %(closed)d
    conditions: ["[CONNECTED] == false"]
  - name: tcp-verdicts
    type: tcp
    host: 127.0.0.1
    port: %(closed)d
    conditions: ["[CONNECTED] == true", "[RESPONSE_TIME] < 60000", "[IP] == 127.0.0.1"]
  - name: tcp-ip
    type: tcp
    host: 127.0.0.1
    port: %(port)d
    conditions: ["[IP] == 127.0.0.1"]
  - name: tcp-open
    type: tcp
    host: 127.0.0.1
    port: %(port)d
  - name: plugin-ok
    type: exec
    command: ["%(plugins)s/exit0.sh"]
  - name: plugin-warning
    type: exec
    command: ["%(plugins)s/exit1.sh"]
  - name: plugin-critical
    type: exec
    command: ["%(plugins)s/exit2.sh"]
  - name: plugin-unknown
    type: exec
    command: ["%(plugins)s/exit3.sh"]
  - name: plugin-hang
    type: exec
    command: ["%(plugins)s/hang.sh"]
    timeout: 300ms
'''


class ChecksTest(DaemonTest):

    def setUp(self):
        super().setUp()
        self.t = self.target()
        self.d = self.daemon(CONFIG % {'base': self.t.base, 'closed': closed_port(),
                                       'port': self.t.port, 'plugins': PLUGINS,
                                       # a first run under valgrind takes over 1 s
                                       'timeout': 1000 * SLOW})
        self.d.start()
        # Two rounds of everything (interval 500 ms, thresholds 2).
        for name in ('ok', 'five-hundred', 'slow', 'plugin-hang', 'big', 'tcp-closed'):
            self.d.wait_results(name, 2, timeout=15)

    def last(self, name):
        return self.d.results(name)[-1]

    def test_http_outcomes(self):
        ok = self.last('ok')
        self.assertEqual(ok['outcome'], UP)
        self.assertEqual(ok['status'], 200)
        self.assertGreater(ok['duration_us'], 0)
        self.assertLess(ok['duration_us'], 2_000_000)

        bad = self.last('five-hundred')
        self.assertEqual(bad['outcome'], DOWN)
        self.assertEqual(bad['status'], 500)
        self.assertEqual(bad['failed_condition'], '[STATUS] (500) == 200')

        self.assertEqual(self.last('redirect-followed')['outcome'], UP)
        self.assertEqual(self.last('redirect-kept')['outcome'], UP)
        self.assertEqual(self.last('redirect-kept')['status'], 301)

        slow = self.last('slow')
        self.assertEqual(slow['outcome'], DOWN)
        self.assertIn('timed out', (slow['error'] or '').lower())
        self.assertLess(slow['duration_us'], 1_500_000)

        self.assertEqual(self.last('cut')['outcome'], DOWN)
        self.assertTrue(self.last('cut')['error'])

        big = self.last('big')
        self.assertEqual(big['status'], 200)
        self.assertLess(big['duration_us'], 5_000_000)

        self.assertEqual(self.last('json')['outcome'], UP)
        wrong = self.last('json-wrong')
        self.assertEqual(wrong['outcome'], DOWN)
        self.assertEqual(wrong['failed_condition'], '[BODY].version (1.2.3) == 9.9.9')

    def test_tcp_outcomes(self):
        closed = self.last('tcp-closed')
        self.assertEqual(closed['outcome'], DOWN)
        self.assertIn('refused', closed['error'].lower())
        self.assertEqual(self.last('tcp-open')['outcome'], UP)

    def test_conditions_after_a_failed_connection(self):
        for name in ('tcp-gone', 'tcp-verdicts', 'tcp-ip'):
            self.d.wait_results(name, 1)
        # As Gatus: a refused connection is what [CONNECTED] == false expects.
        gone = self.last('tcp-gone')
        self.assertEqual(gone['outcome'], UP)
        self.assertFalse(gone['error'])
        # Every condition is evaluated and its verdict stored.
        verdicts = self.last('tcp-verdicts')
        self.assertEqual(verdicts['outcome'], DOWN)
        self.assertEqual(verdicts['failed_condition'], '[CONNECTED] (false) == true')
        rows = self.d.query("SELECT r.conditions, r.conditions_failed FROM results r JOIN checks c "
                            "ON c.id = r.check_id WHERE c.name = 'tcp-verdicts'")
        self.assertEqual(rows[-1], (3, 0b101))
        # [IP] is the address connected to.
        self.assertEqual(self.last('tcp-ip')['outcome'], UP, self.last('tcp-ip'))
        self.assertEqual(self.d.query("SELECT count(*) FROM results r JOIN checks c ON "
                                      "c.id = r.check_id WHERE c.name = 'tcp-open' AND "
                                      "r.conditions IS NOT NULL")[0][0], 0)

    def test_exec_nagios_semantics(self):
        wait_until(lambda: all(self.d.results(n) for n in
                               ('plugin-ok', 'plugin-warning', 'plugin-critical',
                                'plugin-unknown')), what='plugin results')
        self.assertEqual(self.last('plugin-ok')['outcome'], UP)
        # An OK message is not an error: nothing lands in the PROBLEM column.
        self.assertFalse(self.last('plugin-ok')['error'])
        self.assertEqual(self.last('plugin-warning')['outcome'], DEGRADED)
        self.assertEqual(self.last('plugin-warning')['status'], 1)
        self.assertEqual(self.last('plugin-critical')['outcome'], DOWN)
        self.assertEqual(self.last('plugin-critical')['status'], 2)
        self.assertEqual(self.last('plugin-unknown')['outcome'], UNKNOWN)
        hang = self.last('plugin-hang')
        self.assertEqual(hang['outcome'], DOWN)
        self.assertIn('timed out', hang['error'])
        self.assertLess(hang['duration_us'], 4_000_000)

    def test_states_and_events(self):
        wait_until(lambda: self.d.state('five-hundred') and self.d.state('five-hundred')[0] == DOWN,
                   what='five-hundred to be down')
        wait_until(lambda: self.d.state('ok') and self.d.state('ok')[0] == UP, what='ok up')
        ev = self.d.events('state', 'five-hundred')
        self.assertTrue(ev, 'a state event for five-hundred')
        self.assertIn('-> down', ev[-1][4])
        self.assertIn('[STATUS] (500) == 200', ev[-1][4])


if __name__ == '__main__':
    main()
