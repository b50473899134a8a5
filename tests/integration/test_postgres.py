#!/usr/bin/env python3
"""The daemon on a real PostgreSQL through outages: the server stopped for
30 s under 200 checks a second, the daemon started while the server is
down, and the daemon killed with SIGKILL in the middle of its writes.

What must hold: checks never stop, /readyz and the metrics say the store is
degraded while it is, and afterwards the database has every result the
checks counted, none twice, with each check's stored state matching its
newest result."""
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

from harness import SHIPWATCH, DaemonTest, SLOW, main, outage, servers, wait_until

CHECKS = 200

CONFIG = '''
daemon:
  socket: {socket}
  http: 127.0.0.1:0
storage:
  driver: postgres
  dsn: "%(dsn)s"
  queue: 1000
  spool: %(spool)s
node-name: it-node
defaults:
  interval: %(interval)s
  timeout: 2s
checks:
%(checks)s
'''


def check_list(port, n=CHECKS):
    return '\n'.join('  - {name: c%03d, type: tcp, host: 127.0.0.1, port: %d}' % (i, port)
                     for i in range(n))


class PostgresTest(DaemonTest):

    def setUp(self):
        super().setUp()
        self.pg = servers.PgServer()
        self.pg.__enter__()
        self.addCleanup(self.pg.__exit__, None, None, None)

    def start_daemon(self, interval='1s', n=CHECKS):
        t = self.target()
        d = self.daemon('')
        d.write_config(CONFIG % {'dsn': self.pg.dsn, 'spool': os.path.join(d.dir, 'spool'),
                                 'interval': interval, 'checks': check_list(t.port, n)})
        d.start(wait_db=False)
        wait_until(lambda: os.path.exists(d.socket) or d.proc.poll() is not None,
                   what='the daemon socket')
        self.assertIsNone(d.proc.poll(), d.log())
        return d

    # --- what the daemon says about itself ---

    def http(self, d, path):
        try:
            with urllib.request.urlopen(d.http_base() + path, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def metric(self, d, name):
        _, text = self.http(d, '/metrics')
        m = re.search(r'^%s (\S+)$' % re.escape(name), text, re.M)
        return float(m.group(1)) if m else None

    def counted(self, d):
        """Results per check by the daemon's own counters."""
        _, text = self.http(d, '/metrics')
        out = {}
        for m in re.finditer(r'^shipwatch_check_results_total\{([^}]*)\} (\d+)$', text, re.M):
            name = re.search(r'check="([^"]*)"', m.group(1)).group(1)
            out[name] = out.get(name, 0) + int(m.group(2))
        return out

    def stored(self):
        """Results per check in the database."""
        rows = self.pg.psql('SELECT c.name, count(*) FROM results r JOIN checks c '
                            'ON c.id = r.check_id GROUP BY c.name')
        return {name: int(n) for name, n in (line.split('|') for line in rows.splitlines() if line)}

    def count(self):
        """Results in the database; 0 before the daemon created the table."""
        try:
            return int(self.pg.psql('SELECT count(*) FROM results', quiet=True) or 0)
        except Exception:  # noqa: BLE001 - psql failed: no table yet
            return 0

    def assert_consistent(self):
        dups = self.pg.psql('SELECT check_id, ts, count(*) FROM results '
                            'GROUP BY check_id, ts HAVING count(*) > 1 LIMIT 5')
        self.assertEqual(dups, '', 'results written twice')
        # The state is written in the transaction of the result that made
        # it, so its result is stored; the results after it are routine
        # (daemon/state.h): fewer than 32, each good or bad as the row's.
        bad = self.pg.psql('SELECT s.check_id, s.last_ts FROM check_state s WHERE NOT EXISTS '
                           '(SELECT 1 FROM results r WHERE r.check_id = s.check_id '
                           'AND r.ts = s.last_ts) LIMIT 5')
        self.assertEqual(bad, '', 'check_state names a result that is not stored')
        bad = self.pg.psql('SELECT s.check_id, s.last_ts, count(*) FROM check_state s '
                           'JOIN results r ON r.check_id = s.check_id AND r.ts > s.last_ts '
                           'GROUP BY s.check_id, s.last_ts, s.last_outcome '
                           'HAVING count(*) >= 32 OR bool_or((r.outcome = 1) <> (s.last_outcome = 1)) '
                           'LIMIT 5')
        self.assertEqual(bad, '', 'results after check_state that are not routine')

    def pause_all(self, d, n=CHECKS):
        rpc = d.rpc()
        for i in range(n):
            rpc.call('checks.pause', {'check': 'c%03d' % i})
        time.sleep(2.5 * SLOW)  # runs in flight (a connect to loopback) finish

    # --- the tests ---

    @outage
    def test_outage_loses_and_doubles_nothing(self):
        d = self.start_daemon()
        wait_until(lambda: self.count() >= 2 * CHECKS,
                   timeout=30, what='results in PostgreSQL')
        self.assertEqual(self.http(d, '/readyz')[0], 200)

        self.pg.stop()
        down_at = time.monotonic()
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            self.http(d, '/readyz')), timeout=15, what='/readyz to say 503')
        self.assertIn('store degraded', body)
        self.assertEqual(self.metric(d, 'shipwatch_store_up'), 0)
        wait_until(lambda: 'store degraded' in d.log(), what='the store event in the log')
        before = sum(self.counted(d).values())
        # 30 s of 200 results a second: far past storage.queue (1,000), so
        # the spool file takes the rest.
        time.sleep(max(0, 30 - (time.monotonic() - down_at)))
        # (Under valgrind the daemon runs fewer than 200 a second.)
        self.assertGreater(sum(self.counted(d).values()) - before, 25 * CHECKS / SLOW,
                           'checks kept running while the store was down')
        self.assertGreater(self.metric(d, 'shipwatch_store_spooled_bytes'), 0)

        self.pg.start()
        wait_until(lambda: self.http(d, '/readyz')[0] == 200, timeout=60,
                   what='/readyz to recover')
        wait_until(lambda: self.metric(d, 'shipwatch_store_spooled_bytes') == 0, timeout=60,
                   what='the spool to drain')
        self.assertIn('store recovered', d.log())
        self.pause_all(d)
        counted = self.counted(d)
        self.assertEqual(d.stop(), 0)
        self.assert_stored(counted)
        self.assert_consistent()

    def assert_stored(self, counted):
        stored = self.stored()
        missing = {k: (v, stored.get(k, 0)) for k, v in counted.items() if stored.get(k, 0) != v}
        if missing:
            self.fail('counted vs stored differ for %d checks, e.g. %s' %
                      (len(missing), list(missing.items())[:5]))
        return stored

    def test_starts_while_the_server_is_down(self):
        self.pg.stop()
        d = self.start_daemon(n=20)
        status, body = self.http(d, '/readyz')
        self.assertEqual(status, 503)
        self.assertIn('store degraded', body)
        # Checks run meanwhile, and the socket answers and says why.
        wait_until(lambda: sum(self.counted(d).values()) >= 40, what='checks running')
        st = d.rpc().call('status.get')
        self.assertEqual(st['checks'], 20)
        self.assertTrue(st['store_degraded'])
        self.assertIn('127.0.0.1', st['store_reason'])
        out = subprocess.run([SHIPWATCH, 'status'], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, SHIPWATCH_SOCKET=d.socket))
        self.assertEqual(out.returncode, 1, out.stderr)  # degraded, like a plugin's WARNING
        self.assertIn('store DEGRADED: ', out.stdout)
        self.pg.start()
        wait_until(lambda: self.http(d, '/readyz')[0] == 200, timeout=60,
                   what='/readyz once the server is up')
        st = d.rpc().call('status.get')
        self.assertFalse(st['store_degraded'])
        self.assertFalse(st.get('store_reason'))
        self.pause_all(d, 20)
        counted = self.counted(d)
        self.assertEqual(d.stop(), 0)
        self.assert_stored(counted)
        self.assert_consistent()

    @outage
    def test_sigkill_during_writes_leaves_a_consistent_history(self):
        # 1,000 results a second: a batch is nearly always in flight.
        d = self.start_daemon(interval='200ms')
        for _ in range(3):
            wait_until(lambda: self.count() > 0,
                       timeout=30, what='results in PostgreSQL')
            time.sleep(1.5 * SLOW)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            self.assert_consistent()
            d.start(wait_db=False)
            wait_until(lambda: self.http(d, '/readyz')[0] == 200, timeout=30,
                       what='the restarted daemon to be ready')
        n = self.count()
        wait_until(lambda: self.count() > n + CHECKS,
                   timeout=30, what='writes after the last restart')
        self.assertEqual(d.stop(), 0)
        self.assert_consistent()
        # The migrations ran once, whatever the restarts.
        self.assertEqual(self.pg.psql('SELECT count(*) FROM schema_version'),
                         self.pg.psql('SELECT max(version) FROM schema_version'))


if __name__ == '__main__':
    main()
