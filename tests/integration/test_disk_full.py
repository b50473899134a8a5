#!/usr/bin/env python3
"""The SQLite store on a full disk: nothing acknowledged is lost.

The store's directory is a 2 MiB tmpfs, filled up while the daemon runs.
While commits fail the store is degraded (/readyz 503, shipwatch_store_up 0,
a `store` event), writes are kept and retried, and a deploy or a silence is
either kept or refused with a clear error, never acknowledged and lost. Once
space returns everything kept is written, and survives a restart.
"""
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request

from harness import SHIPWATCH, SLOW, DaemonTest, closed_port, main, wait_until

CONFIG = '''
daemon:
  socket: {socket}
storage:
  path: %s
  spool: %s
defaults:
  interval: 200ms
  timeout: 1s
  failure-threshold: 1
  success-threshold: 1
checks:
  - name: nightly
    app: shop
    env: prod
    type: heartbeat
    token: nightly-token
    interval: 100ms
    period: 4s
notifiers:
  - name: hook
    type: webhook
    url: http://127.0.0.1:%d/alerts
    retry-initial: 200ms
    retry-max: 1s
alerts:
  - notify: [hook]
    on: [heartbeat]
'''


def get(url):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10 * SLOW) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(base, name):
    text = get(base + '/metrics')[1]
    m = re.search(r'^%s (\S+)$' % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class DiskFull(DaemonTest):
    def setUp(self):
        super().setUp()
        self.work = tempfile.mkdtemp(prefix='shipwatch-full-')
        self.addCleanup(shutil.rmtree, self.work, True)
        self.store = os.path.join(self.work, 'store')
        os.mkdir(self.store)
        out = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', self.store],
                             capture_output=True, text=True)
        if out.returncode != 0:
            self.skipTest('cannot mount a tmpfs for the full disk (needs root and '
                          'CAP_SYS_ADMIN): %s' % out.stderr.strip())
        self.addCleanup(subprocess.run, ['umount', '-l', self.store], capture_output=True)

    def cli(self, d, *args):
        return subprocess.run([SHIPWATCH, '--socket', d.socket, *args], capture_output=True,
                              text=True, timeout=60 * SLOW)

    def fill(self):
        """Fill the tmpfs to the last byte."""
        fd = os.open(os.path.join(self.store, 'filler'), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b'\0' * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)

    def test_full_disk_refuses_what_it_cannot_keep(self):
        """The spool is on the full disk too: a deploy or silence is refused."""
        self.full_disk(os.path.join(self.store, 'spool'))

    def test_full_disk_spools_what_it_acknowledges(self):
        """The spool is on another disk: a deploy or silence is kept there."""
        self.full_disk(os.path.join(self.work, 'spool'), kept=True)

    def full_disk(self, spool, kept=False):
        db = os.path.join(self.store, 'history.db')
        d = self.daemon(CONFIG % (db, spool, closed_port()), workdir=self.work)
        d.db = db
        d.start()
        base = d.http_base()
        self.assertEqual(get(base + '/readyz')[0], 200)
        self.fill()

        # A deploy and a silence: kept, or refused with the reason.
        dep = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', '--version',
                       'v-full')
        sil = self.cli(d, 'silence', '--app', 'other', '--for', '1h', '--comment', 'full')
        for out in (dep, sil):
            if kept:
                self.assertEqual(out.returncode, 0, out.stderr)
            if out.returncode != 0:
                self.assertIn('store cannot keep', out.stderr)
                self.assertIn('ENOSPC', out.stderr)

        # The heartbeat misses its period: an alert, its outbox row, events,
        # all waiting in memory (queries read the database: they see them
        # once written).
        wait_until(lambda: re.search(r'nightly\s+shop\s+prod\s+heartbeat\s+down',
                                     self.cli(d, 'checks').stdout),
                   timeout=20 * SLOW, what='the heartbeat to go down')
        wait_until(lambda: get(base + '/readyz')[0] == 503, timeout=20 * SLOW,
                   what='/readyz 503')
        status, body = get(base + '/readyz')
        self.assertIn('store degraded', body)
        self.assertIn('ENOSPC', body)
        wait_until(lambda: metric(base, 'shipwatch_store_up') == 0, timeout=5 * SLOW,
                   what='shipwatch_store_up 0')
        st = d.rpc().call('status.get')
        self.assertTrue(st.get('store_degraded'), st)

        # Space returns: everything kept is written.
        os.unlink(os.path.join(self.store, 'filler'))
        wait_until(lambda: get(base + '/readyz')[0] == 200, timeout=20 * SLOW,
                   what='/readyz 200 again')
        # Metrics are rendered at most once a second.
        wait_until(lambda: metric(base, 'shipwatch_store_up') == 1, timeout=5 * SLOW,
                   what='shipwatch_store_up 1')
        self.assertEqual(metric(base, 'shipwatch_store_dropped_total'), 0)
        again = self.cli(d, 'deploy', 'record', '--app', 'shop', '--env', 'prod', '--version',
                         'v-after')
        self.assertEqual(again.returncode, 0, again.stderr)

        def written():
            ok = bool(d.query("SELECT 1 FROM alerts WHERE check_name = 'nightly' "
                              "AND kind = 'heartbeat'"))
            ok = ok and bool(d.query("SELECT 1 FROM outbox"))
            ok = ok and any('recovered' in e[4] for e in d.events('store'))
            return ok
        wait_until(written, timeout=20 * SLOW, what='the kept writes in the database')
        self.check_rows(d, dep, sil)

        log = d.log()
        self.assertNotIn('cannot rollback', log)
        full = [line for line in log.splitlines()
                if 'disk is full' in line and 'event' not in line]
        self.assertLessEqual(len(full), 1, full)
        self.assertTrue(any('ENOSPC' in line for line in full), full)

        # And it all survives a restart.
        self.assertEqual(d.stop(), 0)
        d.start()
        base = d.http_base()
        self.assertEqual(get(base + '/readyz')[0], 200)
        self.check_rows(d, dep, sil)

    def check_rows(self, d, dep, sil):
        """What the store acknowledged is in the database."""
        versions = [r[0] for r in d.query('SELECT version FROM deploys')]
        self.assertIn('v-after', versions)
        self.assertEqual('v-full' in versions, dep.returncode == 0, (versions, dep.stderr))
        mutes = d.query("SELECT comment FROM mutes WHERE comment = 'full'")
        self.assertEqual(bool(mutes), sil.returncode == 0, (mutes, sil.stderr))
        self.assertTrue(d.query("SELECT 1 FROM alerts WHERE kind = 'heartbeat'"))
        types = [e[4] for e in d.events('store')]
        self.assertTrue(any(m.startswith('store degraded') for m in types), types)
        self.assertTrue(any(m.startswith('store recovered') for m in types), types)
        self.assertTrue(d.events('state', 'nightly'))


if __name__ == '__main__':
    main()
