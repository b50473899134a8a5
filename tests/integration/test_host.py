#!/usr/bin/env python3
"""The host check types in the real daemon against the real machine: a real
filesystem, this host's memory, load and CPU, files, processes and logs the
test makes and changes. The numbers a run reports are its perfdata in the
store, compared here with what Python reads of the same things."""
import os
import re
import shutil
import subprocess
import tempfile

from harness import DOWN, UNKNOWN, UP, DaemonTest, main, wait_until

HEAD = '''
daemon:
  socket: {socket}
storage:
  path: {db}
defaults:
  interval: 300ms
  timeout: 2s
  failure-threshold: 1
  success-threshold: 1
checks:
'''


def perfdata(text):
    """{label: value} of a normalized perfdata text."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"'?([a-z0-9_]+)'?=(-?[0-9.e+]+)", text or '')}


class HostChecks(DaemonTest):

    def rows(self, d, check):
        """Raw results of a check, oldest first: outcome, error, failed
        condition, message, perfdata as a dict."""
        rows = d.query(
            'SELECT r.outcome, r.error, r.failed_condition, r.message, r.perfdata '
            'FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = ? ORDER BY r.ts',
            (check,))
        return [{'outcome': o, 'error': e, 'failed': f, 'message': m, 'perf': perfdata(p)}
                for o, e, f, m, p in rows]

    def last(self, d, check, n=1):
        """The last of at least n results of check."""
        return self.until(d, check, lambda r: len(self.rows(d, check)) >= n,
                          '%d results of %s' % (n, check))

    def until(self, d, check, pred, what):
        """The first last result of check that pred holds for, waited for."""
        def seen():
            rows = self.rows(d, check)
            return rows and pred(rows[-1]) and rows[-1]
        return wait_until(seen, timeout=15, what=what)

    def tmpdir(self):
        tmp = tempfile.mkdtemp(prefix='shipwatch-host-')
        self.addCleanup(shutil.rmtree, tmp, True)
        return tmp

    def test_disk(self):
        tmp = self.tmpdir()
        d = self.daemon(HEAD + '''
  - name: disk-tmp
    type: disk
    path: %(tmp)s
    conditions: ["[USED] >= 0", "[USED] <= 100", "[FREE] > 0", "[INODES_USED] <= 100"]
  - name: disk-default
    type: disk
    path: /
  - name: disk-full
    type: disk
    path: %(tmp)s
    conditions: ["[FREE] < 1"]
  - name: disk-gone
    type: disk
    path: %(tmp)s/missing
''' % {'tmp': tmp}).start()
        r = self.last(d, 'disk-tmp')
        self.assertEqual(r['outcome'], UP, r)
        st = os.statvfs(tmp)
        free = st.f_bavail * st.f_frsize
        # Others on the machine write meanwhile: the same quantity, not the
        # same bytes.
        self.assertLess(abs(r['perf']['free'] - free), max(free * 0.1, 1 << 30), r)
        used = st.f_blocks - st.f_bfree
        self.assertAlmostEqual(r['perf']['used'], 100.0 * used / (used + st.f_bavail), delta=2)
        self.assertTrue(r['message'].startswith(tmp + ': '), r)
        self.assertIn(self.last(d, 'disk-default')['outcome'], (UP, DOWN))
        r = self.last(d, 'disk-full')
        self.assertEqual(r['outcome'], DOWN)
        self.assertRegex(r['failed'], r'^\[FREE\] \([0-9]+\) < 1$')
        r = self.last(d, 'disk-gone')
        self.assertEqual(r['outcome'], UNKNOWN)
        self.assertIn('No such file or directory', r['error'])

    def this_machine(self, type_, holds, never, failed):
        """Run three checks of a type without keys on this machine: one whose
        conditions hold must be up, a bare one must run (its default condition
        decides), one that can never hold must be down showing its value.
        The daemon, and the first check's last result."""
        d = self.daemon(HEAD + '''
  - {name: %(t)s, type: %(t)s, conditions: %(holds)s}
  - {name: %(t)s-default, type: %(t)s}
  - {name: %(t)s-never, type: %(t)s, conditions: ["%(never)s"]}
''' % {'t': type_, 'holds': holds, 'never': never}).start()
        r = self.last(d, type_ + '-never')
        self.assertEqual(r['outcome'], DOWN, r)
        self.assertRegex(r['failed'], failed)
        self.assertIn(self.last(d, type_ + '-default')['outcome'], (UP, DOWN))
        r = self.last(d, type_)
        self.assertEqual(r['outcome'], UP, r)
        return d, r

    def test_memory(self):
        d, r = self.this_machine(
            'memory', '["[USED] >= 0", "[USED] <= 100", "[AVAILABLE] > 0", "[SWAP_USED] <= 100"]',
            '[AVAILABLE] > 1000000000000000', r'^\[AVAILABLE\] \([0-9]+\) > 1000000000000000$')
        with open('/proc/meminfo', encoding='ascii') as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in
                    (line.split(':', 1) for line in f)}
        # Others on the machine allocate meanwhile: the same quantity, not
        # the same bytes.
        self.assertLess(abs(r['perf']['available'] - info['MemAvailable']),
                        info['MemTotal'] * 0.25, r)
        self.assertIn('available of', r['message'])

    def test_load(self):
        d, r = self.this_machine(
            'load', '["[LOAD1] >= 0", "[LOAD15] >= 0", "[LOAD5_PER_CPU] <= [LOAD5]"]',
            '[LOAD1] < 0', r'^\[LOAD1\] \([0-9.]+\) < 0$')
        with open('/proc/loadavg', encoding='ascii') as f:
            load5 = float(f.read().split()[1])
        self.assertAlmostEqual(r['perf']['load5'], load5, delta=max(1.0, load5 * 0.5))
        with open('/proc/stat', encoding='ascii') as f:
            cpus = len([line for line in f if re.match(r'cpu[0-9]', line)])
        self.assertAlmostEqual(r['perf']['load5_per_cpu'] * cpus, r['perf']['load5'], places=2)
        self.assertIn(' on %d CPU' % cpus, r['message'])

    def test_cpu(self):
        d, r = self.this_machine(
            'cpu', '["[USED] >= 0", "[USED] <= 100", "[IOWAIT] <= 100", "[STEAL] <= 100"]',
            '[USED] > 100', r'^\[USED\] \([0-9.]+\) > 100$')
        self.assertLessEqual(r['perf']['iowait'] + r['perf']['steal'], 100)
        # Later runs share out the interval, not the time since boot (a run
        # within one clock tick of the last may not: it says so).
        self.until(d, 'cpu', lambda r: 'since boot' not in r['message'],
                   'a run over an interval')


    def test_file(self):
        tmp = self.tmpdir()
        path = os.path.join(tmp, 'state')
        with open(path, 'w', encoding='ascii') as f:
            f.write('state: ready\n')
        old = os.stat(path).st_mtime - 3 * 3600
        os.utime(path, (old, old))
        d = self.daemon(HEAD + '''
  - name: file-old
    type: file
    path: %(p)s
    conditions: ["[AGE] > 2h", "[AGE] < 4h", "[SIZE] == 13", "[BODY] == pat(*ready*)"]
  - name: file-bare
    type: file
    path: %(p)s
''' % {'p': path}).start()
        r = self.last(d, 'file-old')
        self.assertEqual(r['outcome'], UP, r)
        self.assertAlmostEqual(r['perf']['age'] / 3600e3, 3, delta=0.1)
        self.assertEqual(r['perf']['size'], 13)
        self.assertEqual(self.last(d, 'file-bare')['outcome'], UP)
        # Gone: the bare check's default condition fails; back: up again.
        os.unlink(path)
        r = self.until(d, 'file-bare', lambda r: r['outcome'] == DOWN, 'file-bare down')
        self.assertEqual(r['failed'], '[EXISTS] (false) == true')
        self.assertEqual(r['message'], path + ': does not exist')
        with open(path, 'w', encoding='ascii') as f:
            f.write('x')
        self.until(d, 'file-bare', lambda r: r['outcome'] == UP, 'file-bare up again')


    def sleeper(self, seconds):
        """A sleep the test owns: killed at the end whatever happens."""
        p = subprocess.Popen(['sleep', str(seconds)])
        def stop():
            p.kill()
            p.wait()
        self.addCleanup(stop)
        return p

    def test_process(self):
        tmp = self.tmpdir()
        pidfile = os.path.join(tmp, 'sleep.pid')
        # A duration no other process on the machine sleeps for.
        secs = 900000 + os.getpid() % 90000
        first = self.sleeper(secs)
        with open(pidfile, 'w', encoding='ascii') as f:
            f.write('%d\n' % first.pid)
        d = self.daemon(HEAD + '''
  - name: sleep
    type: process
    match: "^sleep %(secs)d$"
    conditions: ["[COUNT] == 1", "[RSS] > 0", "[CPU] < 50", "[UPTIME] < 1h"]
  - name: sleep-pid
    type: process
    pidfile: %(pidfile)s
''' % {'secs': secs, 'pidfile': pidfile}).start()
        r = self.last(d, 'sleep')
        self.assertEqual(r['outcome'], UP, r)
        self.assertEqual(r['perf']['restarts'], 0)
        self.assertIn('1 matching ^sleep %d$' % secs, r['message'])
        self.assertEqual(self.last(d, 'sleep-pid')['outcome'], UP)
        # Killed and started again: a restart; the pidfile still names
        # the dead one.
        first.kill()
        first.wait()
        self.sleeper(secs)
        r = self.until(d, 'sleep', lambda r: r['perf'].get('restarts') == 1,
                       'a restart of the sleep')
        self.assertEqual(r['perf']['count'], 1)
        r = self.until(d, 'sleep-pid', lambda r: r['outcome'] == DOWN, 'the pidfile check down')
        self.assertEqual(r['failed'], '[COUNT] (0) > 0')


    def test_log(self):
        tmp = self.tmpdir()
        path = os.path.join(tmp, 'app.log')

        def write(text, mode='a'):
            with open(path, mode, encoding='ascii') as f:
                f.write(text)

        def counted():
            return sum(r['perf'].get('matches', 0) for r in self.rows(d, 'app-log'))

        def counts(n, what):
            wait_until(lambda: counted() >= n, timeout=15, what=what)
            # A few more runs: nothing is counted twice.
            runs = len(self.rows(d, 'app-log'))
            wait_until(lambda: len(self.rows(d, 'app-log')) >= runs + 3, timeout=15,
                       what='three more runs')
            self.assertEqual(counted(), n, what)

        write('ERROR from before the check\n' * 3, 'w')
        d = self.daemon(HEAD + '''
  - name: app-log
    type: log
    path: %s
    pattern: "ERROR|FATAL"
''' % path).start()
        # The first run: under a slow build a second may already be in.
        self.last(d, 'app-log')
        r = self.rows(d, 'app-log')[0]
        self.assertEqual(r['outcome'], UP, r)
        self.assertEqual(r['message'], path + ': followed from its end')
        write('ok\nERROR one\nFATAL two\n')
        counts(2, 'the two new lines')
        r = [r for r in self.rows(d, 'app-log') if r['perf'].get('matches')][-1]
        self.assertEqual(r['outcome'], DOWN)
        self.assertEqual(r['message'], 'FATAL two')
        self.assertEqual(r['failed'], '[MATCHES] (2) == 0')

        # Lines written while the daemon is down are counted once after.
        self.assertEqual(d.stop(), 0)
        write('ERROR while down 1\nERROR while down 2\nERROR while down 3\n')
        d.start()
        counts(5, 'the lines written while the daemon was down')

        # Rotated by rename: the old file's rest, then the new one.
        write('ERROR just before the rotation\n')
        os.rename(path, path + '.1')
        write('ERROR in the new file\nok\n', 'w')
        counts(7, 'the lines around a rotation')

        # Truncated in place (copytruncate), then written again.
        os.truncate(path, 0)
        write('ERROR after the truncation\n')
        counts(8, 'the line after a truncation')


if __name__ == '__main__':
    main()
