/* test_host.c - the host check types on their own loop: their keys and
 * messages at FILE:LINE:COL, and their readers against real files and
 * fake /proc trees this test writes (env.proc_root), where the edges
 * (old kernels, containers, vanishing processes) are reachable. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "check.h"
#include "clock.h"
#include "config.h"
#include "config_fixtures.h"
#include "harness.h"
#include "harness_checks.h"
#include "host.h"
#include "hostmon.h"
#include "hoststat.h"
#include "perfdata.h"
#include "proctab.h"
#include "util.h"

#define T0_MS 1700000000000LL
#define DEADLINE_MS 5000

/* One test's world: a loop, a directory, a configuration and its checks. */
struct fixture {
    struct harness_checks h;
    char *dir;                          /* private: files, fake /proc trees */
    struct harness_check_set set;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(harness_checks_init(&f->h, T0_MS), 0);
    f->dir = harness_tmpdir("host");
    assert_non_null(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(harness_checks_finish(&f->h), 0);
    harness_check_set_finish(&f->set);
    harness_tmpdir_remove(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Load the YAML of a printf format and create its checks. */
#define setup_checks(f, ...) assert_int_equal(harness_check_set_load(&(f)->set, __VA_ARGS__), 0)

/* Run the i-th check once; its result. */
static const struct result *run(struct fixture *f, size_t i)
{
    const struct result *r = harness_checks_run(&f->h, f->set.checks[i], DEADLINE_MS);
    assert_non_null(r);
    return r;
}

/* The value of the perfdata item label in r; fails when absent. */
static double perf(const struct result *r, const char *label)
{
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    perfdata_parse(&pd, r->perfdata, strlen(r->perfdata));
    const struct perfdata_item *it = perfdata_find(&pd, label);
    if (it == NULL) {
        fail_msg("no %s in perfdata \"%s\"", label, r->perfdata);
    }
    return it->value;
}

/* Whether r's perfdata has label. */
static bool has_perf(const struct result *r, const char *label)
{
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    perfdata_parse(&pd, r->perfdata, strlen(r->perfdata));
    return perfdata_find(&pd, label) != NULL;
}

/* Write text to the fake tree's dir/name, making its directories. */
static void put(struct fixture *f, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    for (char *p = path + strlen(f->dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
        *p = '/';
    }
    char *done = harness_write_file(f->dir, name, text, 0644);
    assert_non_null(done);
    free(done);
}

/* Remove the fake tree's dir/name. */
static void drop(struct fixture *f, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_int_equal(unlink(path), 0);
}

/* Point the env's /proc at the fixture's directory. */
static void fake_proc(struct fixture *f)
{
    f->h.env.proc_root = f->dir;
}

/* ------------------------------------------------------------------ disk */

/* A real directory: numbers within their ranges, all three in perfdata,
 * the message naming the path. */
static void disk_reads_a_real_filesystem(void **state)
{
    struct fixture *f = *state;
    setup_checks(f,
                 "checks:\n"
                 "  - name: d\n"
                 "    type: disk\n"
                 "    path: %s\n"
                 "    conditions: ['[USED] >= 0', '[USED] <= 100', '[FREE] > 0',\n"
                 "                 '[INODES_USED] <= 100']\n",
                 f->dir);
    const struct result *r = run(f, 0);
    assert_string_equal(r->error, "");
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->nconds, 4);
    assert_true(perf(r, "used") >= 0 && perf(r, "used") <= 100);
    assert_true(perf(r, "free") > 0);
    assert_true(has_perf(r, "inodes_used"));
    assert_true(strncmp(r->message, f->dir, strlen(f->dir)) == 0);
    assert_non_null(strstr(r->message, "% used"));
}

/* A failing condition shows the value it saw; a missing path is unknown
 * with the reason. */
static void disk_failures(void **state)
{
    struct fixture *f = *state;
    setup_checks(f,
                 "checks:\n"
                 "  - {name: full, type: disk, path: %s, conditions: ['[FREE] < 1']}\n"
                 "  - {name: gone, type: disk, path: %s/nothing/here}\n",
                 f->dir, f->dir);
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_true(strncmp(r->failed_condition, "[FREE] (", 8) == 0);
    assert_non_null(strstr(r->failed_condition, ") < 1"));
    r = run(f, 1);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "statvfs"));
    assert_non_null(strstr(r->error, "No such file or directory"));
}

/* ---------------------------------------------------------------- memory */

/* A kernel of today: used is what MemAvailable leaves; swap in percent. */
static void memory_meminfo(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    put(f, "meminfo",
        "MemTotal:        8000000 kB\n"
        "MemFree:          500000 kB\n"
        "MemAvailable:    2000000 kB\n"
        "Buffers:          100000 kB\n"
        "Cached:          1000000 kB\n"
        "SwapTotal:       1000000 kB\n"
        "SwapFree:         750000 kB\n");
    setup_checks(f, "checks:\n"
                    "  - {name: m, type: memory}\n"
                    "  - {name: tight, type: memory, conditions: ['[USED] < 70']}\n");
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(fabs(perf(r, "used") - 75.0) < 0.01);
    assert_true(fabs(perf(r, "available") - 2000000.0 * 1024) < 1);
    assert_true(fabs(perf(r, "swap_used") - 25.0) < 0.01);
    assert_string_equal(r->message, "75.0% used, 1.9 GiB available of 7.6 GiB, swap 25.0% used");
    r = run(f, 1);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[USED] (75) < 70");
}

/* Before Linux 3.14 there is no MemAvailable: free + buffers + cached +
 * reclaimable slab stand in. A container without swap lines has 0 % swap
 * used; a file without MemTotal is no reading at all. */
static void memory_old_kernels_and_containers(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    put(f, "meminfo",
        "MemTotal:        1000 kB\n"
        "MemFree:          100 kB\n"
        "Buffers:          100 kB\n"
        "Cached:           200 kB\n"
        "SReclaimable:     100 kB\n");
    setup_checks(f, "checks:\n  - {name: m, type: memory}\n");
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(fabs(perf(r, "used") - 50.0) < 0.01);
    assert_true(perf(r, "swap_used") == 0);
    put(f, "meminfo", "MemFree: 100 kB\n");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "/meminfo: no MemTotal"));
    assert_string_equal(r->perfdata, "");
    drop(f, "meminfo");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "/meminfo: No such file or directory"));
}

/* The host's own /proc/meminfo, stat and loadavg: one read serves every
 * check that runs within HOST_SHARE_MS of the env's clock, and the next
 * one after that reads again. */
static void whole_host_files_are_shared(void **state)
{
    struct fixture *f = *state;
    setup_checks(f, "checks:\n"
                    "  - {name: m1, type: memory}\n"
                    "  - {name: m2, type: memory}\n"
                    "  - {name: m3, type: memory}\n"
                    "  - {name: c1, type: cpu}\n"
                    "  - {name: c2, type: cpu}\n"
                    "  - {name: l1, type: load}\n");
    /* A time no other test reads at: the reads kept are the loop's. */
    f->h.clock.now_ms += 7 * 86400000LL + 123;
    uint64_t before = host_shared_reads();
    double avail = perf(run(f, 0), "available");
    assert_int_equal(host_shared_reads(), before + 1);
    assert_true(perf(run(f, 1), "available") == avail);
    assert_true(perf(run(f, 2), "available") == avail);
    assert_int_equal(host_shared_reads(), before + 1);
    assert_int_equal(run(f, 3)->outcome, STATE_UP);
    assert_int_equal(run(f, 4)->outcome, STATE_UP);
    assert_int_equal(run(f, 5)->outcome, STATE_UP);
    assert_int_equal(host_shared_reads(), before + 3);
    f->h.clock.now_ms += HOST_SHARE_MS - 1;
    run(f, 0);
    assert_int_equal(host_shared_reads(), before + 3);
    f->h.clock.now_ms += 1;
    run(f, 1);
    assert_int_equal(host_shared_reads(), before + 4);
    /* A tree of the env's is read each time, never kept. */
    fake_proc(f);
    put(f, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
    assert_true(fabs(perf(run(f, 0), "used") - 75.0) < 0.01);
    put(f, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 500 kB\n");
    assert_true(fabs(perf(run(f, 1), "used") - 50.0) < 0.01);
    assert_int_equal(host_shared_reads(), before + 4);
}

/* ------------------------------------------------------------------ load */

/* The three averages, and the same over the cpuN lines of /proc/stat. */
static void load_per_cpu(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    put(f, "loadavg", "3.00 6.50 1.25 2/345 6789\n");
    put(f, "stat", "cpu  1 2 3 4 5 6 7 8 0 0\n"
                   "cpu0 1 2 3 4 5 6 7 8 0 0\n"
                   "cpu1 1 2 3 4 5 6 7 8 0 0\n"
                   "cpu2 1 2 3 4 5 6 7 8 0 0\n"
                   "cpu3 1 2 3 4 5 6 7 8 0 0\n"
                   "intr 12345 0 0\n");
    setup_checks(f, "checks:\n"
                    "  - {name: l, type: load, conditions: ['[LOAD1_PER_CPU] < 0.8']}\n"
                    "  - {name: bare, type: load}\n");
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(fabs(perf(r, "load1") - 3.0) < 1e-9);
    assert_true(fabs(perf(r, "load5") - 6.5) < 1e-9);
    assert_true(fabs(perf(r, "load15") - 1.25) < 1e-9);
    assert_true(fabs(perf(r, "load1_per_cpu") - 0.75) < 1e-9);
    assert_true(fabs(perf(r, "load5_per_cpu") - 1.625) < 1e-9);
    assert_string_equal(r->message, "load 3.00 6.50 1.25 on 4 CPUs");
    /* The default: [LOAD5_PER_CPU] < 2 holds at 1.625. */
    assert_int_equal(run(f, 1)->outcome, STATE_UP);
    put(f, "loadavg", "9.00 9.00 9.00 2/345 6789\n");
    r = run(f, 1);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[LOAD5_PER_CPU] (2.25) < 2");
    /* The count is kept for a minute of the env's clock, then read again. */
    put(f, "stat", "cpu  1 2 3 4 5 6 7 8 0 0\n"
                   "cpu0 1 2 3 4 5 6 7 8 0 0\n"
                   "cpu1 1 2 3 4 5 6 7 8 0 0\n");
    f->h.clock.now_ms += 59000;
    assert_string_equal(run(f, 1)->message, "load 9.00 9.00 9.00 on 4 CPUs");
    f->h.clock.now_ms += 1000;
    r = run(f, 1);
    assert_string_equal(r->message, "load 9.00 9.00 9.00 on 2 CPUs");
    assert_true(fabs(perf(r, "load5_per_cpu") - 4.5) < 1e-9);
}

/* Without /proc/stat the CPUs online count; a loadavg that is not three
 * numbers is no reading. */
static void load_edges(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    put(f, "loadavg", "1.00 1.00 1.00 1/1 1\n");
    setup_checks(f, "checks:\n  - {name: l, type: load}\n");
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    double cpus = 1.0 / perf(r, "load1_per_cpu");
    assert_true(cpus >= 1 && fabs(cpus - sysconf(_SC_NPROCESSORS_ONLN)) < 0.01);
    put(f, "loadavg", "garbage\n");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "/loadavg: not three load averages"));
}

/* ------------------------------------------------------------------- cpu */

/* The first run shares out the ticks since boot; the next ones the ticks
 * since the run before. */
static void cpu_deltas(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    /* user nice system idle iowait irq softirq steal guest guest_nice */
    put(f, "stat", "cpu  100 0 100 700 50 0 0 50 10 0\ncpu0 1 1 1 1\n");
    setup_checks(f, "checks:\n  - {name: c, type: cpu}\n");
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(fabs(perf(r, "used") - 25.0) < 1e-9);
    assert_true(fabs(perf(r, "iowait") - 5.0) < 1e-9);
    assert_true(fabs(perf(r, "steal") - 5.0) < 1e-9);
    assert_string_equal(r->message, "25.0% used, 5.0% iowait, 5.0% steal since boot");
    /* 100 ticks later: 97 busy, 3 idle. */
    put(f, "stat", "cpu  190 0 107 703 50 0 0 50 10 0\n");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[USED] (97) < 95");
    assert_string_equal(r->message, "97.0% used, 0.0% iowait, 0.0% steal");
    /* Within the same tick: nothing to share, since boot again; the next
     * run compares with the last reading that had time behind it. */
    r = run(f, 0);
    assert_non_null(strstr(r->message, "since boot"));
    put(f, "stat", "cpu  240 0 107 753 50 0 0 50 10 0\n");
    r = run(f, 0);
    assert_string_equal(r->message, "50.0% used, 0.0% iowait, 0.0% steal");
}

/* An old kernel's shorter line counts the missing states as 0; a file
 * without a cpu line is no reading. */
static void cpu_old_kernels(void **state)
{
    struct fixture *f = *state;
    fake_proc(f);
    put(f, "stat", "cpu  300 0 100 600\n");
    setup_checks(f, "checks:\n  - {name: c, type: cpu}\n");
    const struct result *r = run(f, 0);
    assert_true(fabs(perf(r, "used") - 40.0) < 1e-9);
    assert_true(perf(r, "iowait") == 0 && perf(r, "steal") == 0);
    put(f, "stat", "intr 1 2 3\n");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "/stat: no cpu line"));
}

/* ------------------------------------------------------------------ file */

/* Set path's modification time to ms, unix milliseconds. */
static void set_mtime(const char *path, int64_t ms)
{
    struct timespec t[2] = {{.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000},
                            {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Age by the env's clock, size, the body for pat() and JSON paths. */
static void file_age_size_body(void **state)
{
    struct fixture *f = *state;
    char *path = harness_write_file(f->dir, "status.json", "{\"status\": \"ok\", \"n\": 3}\n", 0644);
    assert_non_null(path);
    set_mtime(path, T0_MS - 2 * 3600 * 1000);
    setup_checks(f,
                 "checks:\n"
                 "  - name: fresh\n"
                 "    type: file\n"
                 "    path: %s\n"
                 "    conditions: ['[AGE] < 1h', '[SIZE] == 25', '[BODY].status == ok',\n"
                 "                 '[BODY] == pat(*\"n\": 3*)']\n"
                 "  - {name: bare, type: file, path: %s}\n",
                 path, path);
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->conds_failed, 1);
    assert_string_equal(r->failed_condition, "[AGE] (2h) < 1h");
    assert_true(perf(r, "age") == 2 * 3600 * 1000);
    assert_true(perf(r, "exists") == 1);
    assert_non_null(strstr(r->message, "status.json: 25 B, modified 2h ago"));
    assert_int_equal(run(f, 1)->outcome, STATE_UP);
    free(path);
}

/* A missing file is a fact: [EXISTS] false, [AGE] and [SIZE] unknown. */
static void file_missing(void **state)
{
    struct fixture *f = *state;
    setup_checks(f,
                 "checks:\n"
                 "  - {name: bare, type: file, path: %s/none}\n"
                 "  - {name: absent, type: file, path: %s/none,\n"
                 "     conditions: ['[EXISTS] == false']}\n"
                 "  - {name: age, type: file, path: %s/none/deeper, conditions: ['[AGE] < 1h']}\n",
                 f->dir, f->dir, f->dir);
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[EXISTS] (false) == true");
    assert_string_equal(r->error, "");
    assert_false(has_perf(r, "age"));
    assert_int_equal(run(f, 1)->outcome, STATE_UP);
    r = run(f, 2);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[AGE] (n/a) < 1h");
}

/* --------------------------------------------------------------- process */

/* A fake process: /proc/PID/stat with the fields a run reads (ticks after
 * boot), and its command line (NULs between words; NULL: none written, as
 * a process that exited between the two reads). */
static void fake_process(struct fixture *f, int pid, const char *comm, char state,
                         unsigned long long utime, unsigned long long stime,
                         unsigned long long start, long long rss_pages, const char *cmdline,
                         size_t cmdlen)
{
    char name[64], text[512];
    snprintf(name, sizeof(name), "%d/stat", pid);
    snprintf(text, sizeof(text),
             "%d (%s) %c 1 %d %d 0 -1 4194560 10 0 0 0 %llu %llu 0 0 20 0 1 0 %llu 1000000 %lld"
             " 18446744073709551615 1 1 0 0 0\n",
             pid, comm, state, pid, pid, utime, stime, start, rss_pages);
    put(f, name, text);
    if (cmdline != NULL) {
        char path[1024];        /* the tree's own path is as long as the build dir's */
        snprintf(path, sizeof(path), "%s/%d/cmdline", f->dir, pid);
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fwrite(cmdline, 1, cmdlen, fp), cmdlen);
        fclose(fp);
    }
}

#define CMD(s) s, sizeof(s) - 1

/* Matches by command line, zombies and vanished processes left out, CPU
 * over the interval (over each life on the first run), restarts. */
static void process_walk(void **state)
{
    struct fixture *f = *state;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    fake_proc(f);
    put(f, "uptime", "1000.00 1800.00\n");
    put(f, "loadavg", "0 0 0 1/1 1\n");  /* not a process: skipped */
    /* master: 100 s of CPU over 900 s of life; worker: none. */
    fake_process(f, 100, "nginx", 'S', 60 * hz, 40 * hz, 100 * hz, 1000, CMD("nginx: master\0"));
    fake_process(f, 101, "nginx (w) x)", 'S', 0, 0, 500 * hz, 500, CMD("nginx: worker\0-q\0"));
    fake_process(f, 102, "nginx", 'Z', 0, 0, 500 * hz, 0, CMD(""));
    fake_process(f, 103, "nginx", 'S', 0, 0, 500 * hz, 0, NULL, 0);    /* exited */
    put(f, "104/status", "gone before its command line was read\n");
    put(f, "109/cmdline", "nginx: exited before its stat was read");
    fake_process(f, 105, "kworker/0:1", 'I', 0, 0, 1, 0, CMD(""));
    fake_process(f, 106, "sshd", 'S', 0, 0, 1, 10, CMD("/usr/sbin/sshd\0-D\0"));
    setup_checks(f, "checks:\n"
                    "  - {name: web, type: process, match: '^nginx: '}\n"
                    "  - {name: kthread, type: process, match: '^\\[kworker'}\n"
                    "  - {name: none, type: process, match: postgres}\n");
    const struct result *r = run(f, 0);
    assert_string_equal(r->error, "");
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(perf(r, "count") == 2);
    assert_true(fabs(perf(r, "cpu") - 100.0 * 100 / 900) < 0.01);
    assert_true(perf(r, "rss") == 1500.0 * page);
    assert_true(perf(r, "uptime") == 900000);
    assert_true(perf(r, "restarts") == 0);
    assert_non_null(strstr(r->message, "2 matching ^nginx: : 11.1% CPU"));
    assert_true(perf(run(f, 1), "count") == 1);
    r = run(f, 2);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[COUNT] (0) > 0");
    assert_string_equal(r->message, "no process matching postgres");
    assert_false(has_perf(r, "uptime"));

    /* 10 s on: the master used 5 s of CPU; the worker was replaced by one
     * started 4 s ago that used 2 s. */
    put(f, "uptime", "1010.00 1800.00\n");
    fake_process(f, 100, "nginx", 'S', 65 * hz, 40 * hz, 100 * hz, 1000, CMD("nginx: master\0"));
    put(f, "101/stat", "");
    fake_process(f, 107, "nginx", 'S', 2 * hz, 0, 1006 * hz, 500, CMD("nginx: worker\0"));
    r = run(f, 0);
    assert_true(perf(r, "count") == 2);
    assert_true(fabs(perf(r, "cpu") - 70.0) < 0.01);
    assert_true(perf(r, "restarts") == 1);
    /* Restarts add up across runs. */
    put(f, "107/stat", "");
    fake_process(f, 108, "nginx", 'S', 0, 0, 1009 * hz, 500, CMD("nginx: worker\0"));
    assert_true(perf(run(f, 0), "restarts") == 2);
}

/* More matches than a check remembers: all counted, none of those it could
 * not remember taken for a restart. */
static void process_many(void **state)
{
    struct fixture *f = *state;
    long hz = sysconf(_SC_CLK_TCK);
    fake_proc(f);
    put(f, "uptime", "100.00 100.00\n");
    for (int pid = 1000; pid < 1300; pid++) {
        fake_process(f, pid, "worker", 'S', 0, 0, hz, 1, CMD("worker\0"));
    }
    setup_checks(f, "checks:\n  - {name: w, type: process, match: '^worker$'}\n");
    assert_true(perf(run(f, 0), "count") == 300);
    const struct result *r = run(f, 0);
    assert_true(perf(r, "count") == 300);
    assert_true(perf(r, "restarts") == 0);
}

/* One table serves every process check that asks within its time to
 * live: the same walk, whatever their patterns; a table of another root,
 * or an older one, is read again; a table outlives the cache while a
 * reference to it is held. */
static void process_table_shared(void **state)
{
    struct fixture *f = *state;
    long hz = sysconf(_SC_CLK_TCK);
    fake_proc(f);
    put(f, "uptime", "100.00 100.00\n");
    fake_process(f, 10, "nginx", 'S', hz, 0, hz, 10, CMD("nginx: master\0"));
    struct proctab *tab = proctab_create();
    assert_non_null(tab);
    const struct proctab_table *a, *b, *c;
    assert_int_equal(proctab_get(tab, f->dir, 0, &a), 0);
    assert_int_equal(a->n, 1);
    assert_string_equal(a->entries[0].cmdline, "nginx: master");
    fake_process(f, 11, "nginx", 'S', hz, 0, hz, 10, CMD("nginx: worker\0"));
    assert_int_equal(proctab_get(tab, f->dir, 0, &b), 0);
    assert_ptr_equal(a, b);              /* within the time to live */
    proctab_put(tab, b);
    /* A caller that used this table asks for one read after it. */
    put(f, "uptime", "100.50 100.00\n");
    assert_int_equal(proctab_get(tab, f->dir, a->uptime_s, &b), 0);
    assert_ptr_not_equal(a, b);
    assert_int_equal(b->n, 2);
    proctab_put(tab, b);
    assert_int_equal(proctab_get(tab, f->dir, 0, &b), 0);
    assert_int_equal(proctab_get(tab, "/proc", 0, &c), 0);
    assert_ptr_not_equal(a, c);          /* another root */
    proctab_put(tab, c);
    proctab_put(tab, b);
    harness_run_for(&f->h.loop, PROCTAB_TTL_MS + 50);
    assert_int_equal(proctab_get(tab, f->dir, 0, &b), 0);
    assert_ptr_not_equal(a, b);
    assert_int_equal(b->n, 2);
    proctab_destroy(tab);
    assert_int_equal(a->n, 1);           /* still held */
    proctab_put(NULL, a);
    proctab_put(NULL, b);
    assert_int_equal(proctab_get(NULL, "/nonexistent", 0, &a), -ENOENT);

    /* Process checks through the daemon's cache count as without it. */
    f->h.env.proctab = proctab_create();
    setup_checks(f, "checks:\n"
                    "  - {name: m, type: process, match: 'nginx: m'}\n"
                    "  - {name: all, type: process, match: '^nginx'}\n");
    assert_true(perf(run(f, 0), "count") == 1);
    assert_true(perf(run(f, 1), "count") == 2);
    proctab_destroy(f->h.env.proctab);
}

/* A pidfile names the process; one that is not there is none running;
 * one without a pid is no reading. */
static void process_pidfile(void **state)
{
    struct fixture *f = *state;
    long hz = sysconf(_SC_CLK_TCK);
    fake_proc(f);
    put(f, "uptime", "100.00 100.00\n");
    fake_process(f, 42, "redis-server", 'S', hz, 0, 50 * hz, 100, CMD("redis-server\0"));
    put(f, "run/redis.pid", "42\n");
    put(f, "run/bad.pid", "forty-two\n");
    setup_checks(f,
                 "checks:\n"
                 "  - {name: redis, type: process, pidfile: %s/run/redis.pid}\n"
                 "  - {name: bad, type: process, pidfile: %s/run/bad.pid}\n"
                 "  - {name: gone, type: process, pidfile: %s/run/gone.pid}\n",
                 f->dir, f->dir, f->dir);
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(perf(r, "count") == 1 && perf(r, "uptime") == 50000);
    r = run(f, 1);
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "bad.pid: no pid in it"));
    r = run(f, 2);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[COUNT] (0) > 0");
    /* The pid's process exited: none running. */
    drop(f, "42/stat");
    drop(f, "42/cmdline");
    assert_int_equal(run(f, 0)->outcome, STATE_DOWN);
}

/* ------------------------------------------------------------------- log */

/* Append text to the fixture's file name. */
static void append(struct fixture *f, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    fclose(fp);
}

/* The number of new matching lines a run of check i counted. */
static double matches(struct fixture *f, size_t i)
{
    return perf(run(f, i), "matches");
}

/* From the end at first, then new lines only; a line being written waits
 * for its newline; the last match is the message. */
static void log_follows(void **state)
{
    struct fixture *f = *state;
    put(f, "app.log", "ERROR old, before the check\n");
    setup_checks(f, "checks:\n  - {name: l, type: log, path: %s/app.log, pattern: ERROR}\n",
                 f->dir);
    const struct result *r = run(f, 0);
    assert_int_equal(r->outcome, STATE_UP);
    assert_true(perf(r, "matches") == 0);
    assert_non_null(strstr(r->message, "app.log: followed from its end"));
    append(f, "app.log", "ok 1\nERROR one\nok 2\nERROR two\r\n");
    r = run(f, 0);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[MATCHES] (2) == 0");
    assert_string_equal(r->message, "ERROR two");
    assert_true(matches(f, 0) == 0);
    append(f, "app.log", "ERROR \tbad \xff\xfe bytes\n");
    r = run(f, 0);
    assert_string_equal(r->message, "ERROR  bad \\xff\\xfe bytes");
    append(f, "app.log", "ERROR half");
    assert_true(matches(f, 0) == 0);
    append(f, "app.log", " written\n");
    r = run(f, 0);
    assert_true(perf(r, "matches") == 1);
    assert_string_equal(r->message, "ERROR half written");
}

/* Rotation: the rest of the old file at PATH.1, then the new file from
 * its start; truncation: from the start; a file not there yet: read whole
 * once it comes. */
static void log_rotation_and_truncation(void **state)
{
    struct fixture *f = *state;
    setup_checks(f, "checks:\n  - {name: l, type: log, path: %s/app.log, pattern: ERROR}\n",
                 f->dir);
    const struct result *r = run(f, 0);
    assert_non_null(strstr(r->message, "app.log: not there"));
    put(f, "app.log", "ERROR first\n");
    assert_true(matches(f, 0) == 1);
    append(f, "app.log", "ERROR before the rotation\n");
    char from[1024], to[1024];
    snprintf(from, sizeof(from), "%s/app.log", f->dir);
    snprintf(to, sizeof(to), "%s/app.log.1", f->dir);
    assert_int_equal(rename(from, to), 0);
    put(f, "app.log", "ERROR after the rotation\nok\n");
    r = run(f, 0);
    assert_true(perf(r, "matches") == 2);
    assert_string_equal(r->message, "ERROR after the rotation");
    /* Rotated elsewhere: the old file's rest is gone, the new one is read. */
    assert_int_equal(rename(from, to), 0);
    put(f, "app.log", "ERROR new\n");
    assert_true(matches(f, 0) == 1);
    /* copytruncate: the same file, shorter than the offset. */
    assert_int_equal(truncate(from, 0), 0);
    append(f, "app.log", "ERROR t\n");
    assert_true(matches(f, 0) == 1);
    assert_true(matches(f, 0) == 0);
    /* Truncated and written past the offset between two runs: its first
     * bytes tell. */
    assert_int_equal(truncate(from, 0), 0);
    append(f, "app.log", "ok, a longer line than before\nERROR u\n");
    assert_true(matches(f, 0) == 1);
}

/* A line over the cap is cut: its start is matched, its rest skipped
 * without being kept, across runs too; nothing of it counts twice. */
static void log_long_lines(void **state)
{
    struct fixture *f = *state;
    put(f, "app.log", "");
    setup_checks(f, "checks:\n  - {name: l, type: log, path: %s/app.log, pattern: ERROR}\n",
                 f->dir);
    assert_true(matches(f, 0) == 0);
    static char big[20001];
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big, "ERROR at the start", 18);
    append(f, "app.log", big);
    const struct result *r = run(f, 0);
    assert_true(perf(r, "matches") == 1);    /* cut at the cap, the rest skipped */
    assert_true(strncmp(r->message, "ERROR at the start", 18) == 0);
    append(f, "app.log", "xxxx ERROR in the cut part\nERROR next\n");
    r = run(f, 0);
    assert_true(perf(r, "matches") == 1);
    assert_string_equal(r->message, "ERROR next");
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big + 10000, "ERROR past the cap", 18);
    append(f, "app.log", big);
    append(f, "app.log", "\n");
    assert_true(matches(f, 0) == 0);
}

/* The position a check had (as the store hands it back) is where a new
 * check of the same configuration goes on: no line twice, none skipped. */
static void log_position_restored(void **state)
{
    struct fixture *f = *state;
    put(f, "app.log", "ERROR old\n");
    setup_checks(f, "checks:\n  - {name: l, type: log, path: %s/app.log, pattern: ERROR}\n",
                 f->dir);
    assert_true(matches(f, 0) == 0);
    append(f, "app.log", "ERROR 1\n");
    assert_true(matches(f, 0) == 1);
    struct check_log_position kept = f->set.checks[0]->log;
    assert_true(f->set.checks[0]->log_known);
    append(f, "app.log", "ERROR 2\nERROR 3\n");
    struct check *again = check_create(f->set.checks[0]->conf);
    assert_non_null(again);
    again->log = kept;
    again->log_known = true;
    const struct result *r = harness_checks_run(&f->h, again, DEADLINE_MS);
    assert_non_null(r);
    assert_true(perf(r, "matches") == 2);
    check_destroy(again);
}

/* ------------------------------------------------------- a hung read */

/* A read that waits on a pipe the test writes to: a hung filesystem. */
static int hang_fd = -1;

static void hang_read(struct host_job *j)
{
    char ch;
    while (read(hang_fd, &ch, 1) < 0 && errno == EINTR) {
    }
    j->vars[0] = 1;
}

/* Keeps what a log check would: a run without a read must not. */
static void hang_keep(struct check *c, const struct host_job *j)
{
    (void)j;
    c->log_known = true;
}

static const struct host_ops hang_ops = {.read = hang_read, .keep = hang_keep, .blocking = true};

static int hang_start(struct check_run *run)
{
    return host_start(run, &hang_ops);
}

static const struct cond_var hang_vars[] = {{"[DONE]", COND_VAR_BOOL, ""}};

static const struct check_type hang_type = {
    .name = "hang",
    .start = hang_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .vars = hang_vars,
    .nvars = 1,
};

/* Run the check whose read hangs once; its result. */
static const struct result *run_hung(struct fixture *f, struct check *c)
{
    const struct result *r = harness_checks_run(&f->h, c, DEADLINE_MS);
    assert_non_null(r);
    return r;
}

/* Whether the check may read again (its stuck read returned). */
static bool unstuck(void *arg)
{
    return ((struct check *)arg)->stuck == NULL;
}

/* A read that outlives its timeout ends the run (down); until it returns
 * the check starts no other, so a hung mount holds one thread, not one a
 * run; once it returns the check reads again; a check freed meanwhile is
 * not reached by it. */
static void host_hung_read(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    hang_fd = p[0];
    setup_checks(f, "checks:\n"
                    "  - {name: a, type: disk, path: /, timeout: 50ms}\n"
                    "  - {name: b, type: disk, path: /, timeout: 50ms}\n");
    struct check *c = f->set.checks[0];
    c->type = &hang_type;
    const struct result *r = run_hung(f, c);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->error, "timed out after 50ms");
    assert_non_null(c->stuck);
    r = run_hung(f, c);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_non_null(strstr(r->error, "the last read has not returned"));
    assert_false(c->log_known);         /* a run without a read keeps nothing */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(harness_run_until(&f->h.loop, unstuck, c, DEADLINE_MS));
    /* The next read hangs no more (a byte waits for it): it is handed on. */
    assert_int_equal(write(p[1], "x", 1), 1);
    r = run_hung(f, c);
    assert_string_equal(r->error, "");
    assert_true(perf(r, "done") == 1);
    /* A check freed while its read hangs: the read returns to nobody. */
    struct check *b = f->set.checks[1];
    b->type = &hang_type;
    assert_int_equal(run_hung(f, b)->outcome, STATE_DOWN);
    assert_non_null(b->stuck);
    struct host_job *left = b->stuck;
    check_destroy(b);
    f->set.checks[1] = NULL;
    assert_null(left->stuck_on);
    assert_int_equal(write(p[1], "x", 1), 1);
    harness_run_for(&f->h.loop, 100);
    close(p[0]);
    close(p[1]);
}

/* ------------------------------------------------- reads in batches */

/* A read that notes the thread it ran on and when, then takes 5 ms. */
#define QUICK_MAX 8
static pthread_t quick_thread[QUICK_MAX];
static _Atomic int quick_reads;

static void quick_read(struct host_job *j)
{
    int i = atomic_fetch_add(&quick_reads, 1);
    if (i < QUICK_MAX) {
        quick_thread[i] = pthread_self();
    }
    nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    j->vars[0] = 1;
}

static const struct host_ops quick_ops = {.read = quick_read, .blocking = true};

static int quick_start(struct check_run *run)
{
    return host_start(run, &quick_ops);
}

static const struct check_type quick_type = {
    .name = "quick",
    .start = quick_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .vars = hang_vars,
    .nvars = 1,
};

/* Runs started together, and whether all have ended. */
struct together {
    size_t started;
    size_t ended;
};

static void together_end(void *arg, struct check *c)
{
    (void)c;
    ((struct together *)arg)->ended++;
}

static bool together_done(void *arg)
{
    const struct together *t = arg;
    return t->ended == t->started;
}

/* Start a run of each of the first n checks in one loop turn; wait for all. */
static void run_together(struct fixture *f, size_t n)
{
    struct together t = {.started = n};
    uv_update_time(&f->h.loop);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(check_run_start(f->set.checks[i], &f->h.env, together_end, &t), 0);
    }
    assert_true(harness_run_until(&f->h.loop, together_done, &t, DEADLINE_MS));
}

/* The last result of check c. */
static const struct result *result_of(struct fixture *f, const struct check *c)
{
    for (size_t i = f->h.nresults; i > 0; i--) {
        if (f->h.results[i - 1].check == c) {
            return &f->h.results[i - 1].result;
        }
    }
    fail_msg("no result of %s", c->conf->name);
    return NULL;
}

/* Blocking reads started together go to the thread pool as one batch:
 * one thread reads them in turn (five reads of 5 ms on a pool of four
 * threads would otherwise spread over several). */
static void host_reads_batched(void **state)
{
    struct fixture *f = *state;
    setup_checks(f, "checks:\n"
                    "  - {name: a, type: disk, path: /}\n"
                    "  - {name: b, type: disk, path: /}\n"
                    "  - {name: c, type: disk, path: /}\n"
                    "  - {name: d, type: disk, path: /}\n"
                    "  - {name: e, type: disk, path: /}\n");
    for (size_t i = 0; i < 5; i++) {
        f->set.checks[i]->type = &quick_type;
    }
    atomic_store(&quick_reads, 0);
    run_together(f, 5);
    assert_int_equal(atomic_load(&quick_reads), 5);
    for (size_t i = 0; i < 5; i++) {
        const struct result *r = result_of(f, f->set.checks[i]);
        assert_string_equal(r->error, "");
        assert_true(perf(r, "done") == 1);
        assert_true(pthread_equal(quick_thread[i], quick_thread[0]));
    }
}

/* A read that hangs holds the reads behind it in its batch: each is given
 * up at its timeout, said so, never read late, and its check reads again
 * at the next run; a read done before the hanging one is handed over at
 * its timeout, its check not held back. */
static void host_batch_behind_a_hang(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    hang_fd = p[0];
    setup_checks(f, "checks:\n"
                    "  - {name: before, type: disk, path: /, timeout: 300ms}\n"
                    "  - {name: hangs, type: disk, path: /, timeout: 300ms}\n"
                    "  - {name: behind, type: disk, path: /, timeout: 300ms}\n");
    struct check *before = f->set.checks[0], *hangs = f->set.checks[1];
    struct check *behind = f->set.checks[2];
    before->type = &quick_type;
    hangs->type = &hang_type;
    behind->type = &quick_type;
    atomic_store(&quick_reads, 0);
    run_together(f, 3);
    const struct result *r = result_of(f, before);
    assert_string_equal(r->error, "");
    assert_true(perf(r, "done") == 1);
    assert_null(before->stuck);
    r = result_of(f, hangs);
    assert_string_equal(r->error, "timed out after 300ms");
    assert_non_null(hangs->stuck);
    r = result_of(f, behind);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_non_null(strstr(r->error, "timed out after 300ms before its read began"));
    assert_null(behind->stuck);
    /* The hang ends: the read behind it was given up, so it never runs. */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(harness_run_until(&f->h.loop, unstuck, hangs, DEADLINE_MS));
    harness_run_for(&f->h.loop, 50);
    assert_int_equal(atomic_load(&quick_reads), 1);
    /* Its next run reads, in a batch of its own. */
    r = harness_checks_run(&f->h, behind, DEADLINE_MS);
    assert_non_null(r);
    assert_string_equal(r->error, "");
    assert_int_equal(atomic_load(&quick_reads), 2);
    close(p[0]);
    close(p[1]);
}

/* ---------------------------------------------------------- the config */

/* A bare host check gets its type's default condition; conditions
 * written replace it, even an empty list. */
static void default_conditions(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: d, type: disk, path: /}\n"
                               "  - {name: e, type: disk, path: /, conditions: '[FREE] > 1'}\n");
    assert_int_equal(c->checks[0].nconditions, 1);
    assert_string_equal(c->checks[0].conditions[0], "[USED] < 90");
    assert_int_equal(c->checks[1].nconditions, 1);
    assert_string_equal(c->checks[1].conditions[0], "[FREE] > 1");
    config_destroy(c);
}

/* A reload keeps a host check (its CPU reading, its log position) when
 * nothing of it changed, writing its default condition out included, and
 * starts it over when a key of its type did. */
static void host_fingerprints(void **state)
{
    (void)state;
    static const char *const same[][2] = {
        {"{name: a, type: disk, path: /}",
         "{name: a, type: disk, path: /, conditions: '[USED] < 90'}"},
        {"{name: a, type: cpu}", "{name: a, type: cpu, conditions: ['[USED] < 95']}"},
    };
    static const char *const differ[][2] = {
        {"{name: a, type: disk, path: /}", "{name: a, type: disk, path: /srv}"},
        {"{name: a, type: file, path: /x}", "{name: a, type: file, path: /x, max-body: 1KiB}"},
        {"{name: a, type: process, match: x}", "{name: a, type: process, match: y}"},
        {"{name: a, type: process, match: x}", "{name: a, type: process, pidfile: /x}"},
        {"{name: a, type: log, path: /x, pattern: a}",
         "{name: a, type: log, path: /x, pattern: b}"},
        {"{name: a, type: memory}", "{name: a, type: load}"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(same) + ARRAY_SIZE(differ); i++) {
        bool eq = i < ARRAY_SIZE(same);
        const char *const *pair = eq ? same[i] : differ[i - ARRAY_SIZE(same)];
        char y1[256], y2[256];
        snprintf(y1, sizeof(y1), "checks:\n  - %s\n", pair[0]);
        snprintf(y2, sizeof(y2), "checks:\n  - %s\n", pair[1]);
        struct config *c1 = load_ok(y1), *c2 = load_ok(y2);
        if ((c1->checks[0].fingerprint == c2->checks[0].fingerprint) != eq) {
            fail_msg("%s and %s: fingerprints %s", pair[0], pair[1], eq ? "differ" : "equal");
        }
        config_destroy(c1);
        config_destroy(c2);
    }
}

/* What each host check watches, for display. */
static void host_describe(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: d, type: disk, path: /srv}\n"
                               "  - {name: m, type: memory}\n"
                               "  - {name: l, type: load}\n"
                               "  - {name: c, type: cpu}\n"
                               "  - {name: f, type: file, path: /etc/motd}\n"
                               "  - {name: p, type: process, match: '^nginx: master'}\n"
                               "  - {name: q, type: process, pidfile: /run/redis.pid}\n"
                               "  - {name: g, type: log, path: /var/log/syslog, pattern: 'ERR'}\n");
    static const char *const want[] = {
        "/srv", "/proc/meminfo", "/proc/loadavg", "/proc/stat", "/etc/motd",
        "^nginx: master", "/run/redis.pid", "/var/log/syslog ~ ERR",
    };
    assert_int_equal(c->nchecks, ARRAY_SIZE(want));
    for (size_t i = 0; i < c->nchecks; i++) {
        char out[256];
        check_describe(&c->checks[i], out, sizeof(out));
        assert_string_equal(out, want[i]);
    }
    config_destroy(c);
}

/* The keys of host checks and their placeholders, refused where they
 * do not belong, at their position. */
static void host_keys_bad(void **state)
{
    (void)state;
    load_bad("checks:\n  - {name: d, type: disk}\n",
             "t.yml:2:5: checks[0]: disk check needs path", NULL);
    load_bad("checks:\n  - {name: d, type: disk, path: var/lib}\n",
             "t.yml:2:27: checks[0].path: must be an absolute path", NULL);
    load_bad("checks:\n"
             "  - name: d\n"
             "    type: disk\n"
             "    path: /\n"
             "    conditions:\n"
             "      - '[USED] < 90'\n"
             "      - '[USD] < 90'\n",
             "t.yml:7:9: checks[0].conditions[1]: bad condition: unknown placeholder [USD]",
             NULL);
    load_bad("checks:\n"
             "  - name: h\n"
             "    conditions: '[USED] < 90'\n"
             "    type: http\n"
             "    url: http://127.0.0.1/\n",
             "t.yml:3:5: checks[0].conditions: bad condition: unknown placeholder [USED]",
             NULL);
    load_bad("checks:\n  - {name: p, type: process}\n",
             "t.yml:2:5: checks[0]: a process check needs match or pidfile, one of them", NULL);
    load_bad("checks:\n  - {name: p, type: process, match: x, pidfile: /run/x.pid}\n",
             "t.yml:2:5: checks[0]: a process check needs match or pidfile, one of them", NULL);
    load_bad("checks:\n  - {name: p, type: process, match: '(x'}\n",
             "t.yml:2:30: checks[0].match: not a valid extended regular expression", NULL);
    load_bad("checks:\n  - {name: l, type: log, path: /var/log/syslog}\n",
             "t.yml:2:5: checks[0]: log check needs pattern", NULL);
    load_bad("checks:\n  - {name: d, type: tcp, host: x, port: 1, path: /}\n",
             "t.yml:2:44: checks[0].path: not a key of tcp checks", NULL);
}

/* -------------------------------------------------- the shared readers */

/* Odd /proc content: garbage lines, pseudo filesystems, escapes, bind
 * mounts, names too long, short cpu lines. Each reader keeps what parses. */
static void hoststat_odd_files(void **state)
{
    struct fixture *f = *state;
    char text[2048];
    snprintf(text, sizeof(text),
             "proc /proc proc rw 0 0\n"
             "/dev/vda1 / ext4 rw 0 0\n"
             "garbage\n"
             "\n"
             "sysfs /sys sysfs rw 0 0\n"
             "tmpfs /dev/shm tmpfs rw 0 0\n"
             "/dev/vda1 /var/lib/docker/x ext4 rw 0 0\n"
             "/dev/vda1 /etc/hosts ext4 rw 0 0\n"
             "/dev/vdb /srv\\040data xfs rw 0 0\n"
             "overlay /merged overlay rw 0 0\n"
             "server:/x %s nfs4 rw 0 0\n"
             "relative dir ext4 rw 0 0\n"
             "/dev/vdc /a\\\\b ext4\n",
             f->dir);
    put(f, "self/mounts", text);
    struct hoststat_mount m[8];
    int n = hoststat_mounts(f->dir, m, ARRAY_SIZE(m));
    assert_int_equal(n, 4);
    assert_string_equal(m[0].dir, "/");
    assert_string_equal(m[0].device, "/dev/vda1");
    assert_string_equal(m[1].dir, "/srv data");
    assert_string_equal(m[1].fstype, "xfs");
    assert_string_equal(m[2].dir, f->dir);
    assert_string_equal(m[2].fstype, "nfs4");
    assert_false(hoststat_fs_local(m[2].fstype));
    assert_true(hoststat_fs_local("ext4"));
    assert_false(hoststat_fs_local("fuse.sshfs"));
    assert_string_equal(m[3].dir, "/a\\\\b");
    assert_int_equal(hoststat_mounts(f->dir, m, 1), 1);     /* cut at cap */
    drop(f, "self/mounts");
    assert_int_equal(hoststat_mounts(f->dir, m, ARRAY_SIZE(m)), -ENOENT);

    put(f, "net/dev",
        "Inter-|   Receive                            |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes\n"
        "    lo: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
        "  eth0: 18446744073709551615 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
        "  bad0: 12 x\n"
        "  averyveryveryveryverylonginterfacename0: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n"
        "nocolon 1 2 3\n"
        "  wg0:7 0 0 0 0 0 0 0 8 0 0 0 0 0 0 0");
    struct hoststat_net nets[4];
    n = hoststat_netdev(f->dir, nets, ARRAY_SIZE(nets));
    assert_int_equal(n, 3);
    assert_string_equal(nets[0].name, "lo");
    assert_true(nets[0].rx_bytes == 1000 && nets[0].tx_bytes == 2000);
    assert_true(nets[1].rx_bytes == 18446744073709551615ULL);
    assert_string_equal(nets[2].name, "wg0");
    assert_true(nets[2].rx_bytes == 7 && nets[2].tx_bytes == 8);

    struct hoststat_cpu c;
    int id;
    assert_true(hoststat_cpu_line("cpu  1 2 3 4\n", &id, &c));
    assert_int_equal(id, -1);
    assert_true(c.ticks[HOSTSTAT_IDLE] == 4 && c.ticks[HOSTSTAT_STEAL] == 0);
    assert_true(hoststat_cpu_line("cpu12 5 0 0 5 1 0 0 2 0 0", &id, &c));
    assert_int_equal(id, 12);
    assert_false(hoststat_cpu_line("cpux 1 2", &id, &c));
    assert_false(hoststat_cpu_line("cpu99999999 1 2", &id, &c));
    assert_false(hoststat_cpu_line("intr 1 2", &id, &c));
    struct hoststat_cpu_pct pct;
    assert_false(hoststat_cpu_share(&c, &c, &pct));     /* no tick between them */

    double avg[3];
    put(f, "loadavg", "1.5 nope\n");
    assert_int_equal(hoststat_loadavg(f->dir, avg), -EINVAL);
    struct hoststat_mem mem;
    put(f, "meminfo", "MemTotal: -5 kB\n");
    assert_int_equal(hoststat_meminfo(f->dir, &mem), -EINVAL);
    put(f, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 5000 kB\nSwapTotal: 10 kB\n"
                      "SwapFree: 20 kB\n");
    assert_int_equal(hoststat_meminfo(f->dir, &mem), 0);
    assert_true(mem.available == mem.total && mem.swap_free == mem.swap_total);
}

/* ------------------------------------------------------ the host sampler */

struct samples {
    struct fixture *f;
    int n;
    struct ipc_host last;               /* a copy, through the codec */
};

/* Keep a copy of each sample; after the first, time moves on in the tree. */
static void on_sample(void *arg, const struct ipc_host *h)
{
    struct samples *s = arg;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_notify_method(&sb, IPC_HOST_METHOD, &ipc_host_type, h);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    ipc_type_finish(&ipc_host_type, &s->last);
    memset(&s->last, 0, sizeof(s->last));
    char why[128];
    assert_int_equal(ipc_host_decode(&u.data.via.array.ptr[2], &s->last, why, sizeof(why)), 0);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    s->n++;
}

/* Run the loop until n samples came. */
static void wait_samples(struct fixture *f, struct samples *s, int n)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (s->n < n && clock_mono_ms() < end) {
        uv_run(&f->h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(s->n, n);
}

/* A fake host of two CPUs, watched for two samples: shares and rates
 * over the interval, the tree's disk, its processes; then a container
 * that hides memory and network. */
static void hostmon_fake_host(void **state)
{
    struct fixture *f = *state;
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char mounts[512];
    snprintf(mounts, sizeof(mounts), "/dev/fake %s ext4 rw 0 0\nproc /proc proc rw 0 0\n",
             f->dir);
    put(f, "self/mounts", mounts);
    put(f, "uptime", "1000.00 1800.00\n");
    put(f, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n"
                   "cpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n");
    put(f, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n");
    put(f, "loadavg", "1.25 0.50 0.05 1/80 99\n");
    put(f, "net/dev", "h\nh\n  eth0: 1000 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    fake_process(f, 10, "busy", 'R', 0, 0, 10 * hz, 100, CMD("busy --loop\0"));
    fake_process(f, 11, "big", 'S', 0, 0, 10 * hz, 5000, CMD("big\0"));
    struct samples s = {.f = f};
    struct hostmon *m = hostmon_create(&f->h.loop, f->dir, NULL, "eu-1", on_sample, &s);
    assert_non_null(m);
    assert_null(hostmon_latest(m, 1000000));
    hostmon_hold(m);
    /* Once the baseline is read, 10 s of host time pass before the next. */
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (hostmon_reads(m) == 0 && clock_mono_ms() < end) {
        uv_run(&f->h.loop, UV_RUN_ONCE);
    }
    assert_int_equal(hostmon_reads(m), 1);
    assert_int_equal(s.n, 0);
    put(f, "uptime", "1010.00 1800.00\n");
    put(f, "stat", "cpu  200 0 100 900 100 0 0 0 0 0\ncpu0 150 0 50 400 0 0 0 0 0 0\n"
                   "cpu1 50 0 50 500 100 0 0 0 0 0\n");
    put(f, "net/dev", "h\nh\n  eth0: 5000 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
    fake_process(f, 10, "busy", 'R', 5 * hz, 0, 10 * hz, 100, CMD("busy --loop\0"));
    wait_samples(f, &s, 1);
    const struct ipc_host *h = &s.last;
    assert_string_equal(h->node, "eu-1");
    assert_int_equal(h->cpu_count, 2);
    assert_int_equal(h->ncpus, 2);
    assert_int_equal(h->cpu_used_ppm, 333333);          /* 100 of 300 ticks */
    assert_int_equal(h->cpu_iowait_ppm, 333333);
    assert_string_equal(h->cpus[0].name, "cpu0");
    assert_int_equal(h->cpus[0].used_ppm, 1000000);
    assert_int_equal(h->cpus[1].used_ppm, 0);
    assert_int_equal(h->cpus[1].iowait_ppm, 500000);
    assert_int_equal(h->mem_total_bytes, 1024000);
    assert_int_equal(h->mem_used_bytes, 768000);
    assert_int_equal(h->swap_total_bytes, 0);
    assert_int_equal(h->load1_milli, 1250);
    assert_int_equal(h->load15_milli, 50);
    assert_int_equal(h->ndisks, 1);
    assert_string_equal(h->disks[0].mount, f->dir);
    assert_true(h->disks[0].size_bytes > 0);
    assert_int_equal(h->nnets, 1);
    assert_true(h->nets[0].rx_bytes_per_s > 0 && h->nets[0].rx_bytes == 5000);
    assert_int_equal(h->procs, 2);
    assert_int_equal(h->top_cpu[0].pid, 10);
    assert_int_equal(h->top_cpu[0].cpu_ppm, 500000);    /* 5 s of CPU in 10 s */
    assert_string_equal(h->top_cpu[0].command, "busy --loop");
    assert_int_equal(h->top_rss[0].pid, 11);
    assert_int_equal(h->top_rss[0].rss_bytes, 5000LL * page);
    assert_int_equal(h->nunavailable, 0);
    assert_non_null(hostmon_latest(m, 1000000));

    /* A container: no meminfo, no net/dev, an empty stat. */
    drop(f, "meminfo");
    drop(f, "net/dev");
    put(f, "stat", "nothing here\n");
    wait_samples(f, &s, 2);
    h = &s.last;
    assert_int_equal(h->mem_total_bytes, -1);
    assert_int_equal(h->cpu_used_ppm, -1);
    assert_int_equal(h->ncpus, 0);
    assert_int_equal(h->nnets, 0);
    assert_int_equal(h->nunavailable, 3);
    assert_string_equal(h->unavailable[0], "cpu");
    assert_string_equal(h->unavailable[1], "memory");
    assert_string_equal(h->unavailable[2], "net");

    hostmon_release(m);
    hostmon_close(m);
    while (uv_run(&f->h.loop, UV_RUN_NOWAIT) != 0) {
        struct timespec ts = {.tv_nsec = 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    hostmon_destroy(m);
    ipc_type_finish(&ipc_host_type, &s.last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(disk_reads_a_real_filesystem, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_meminfo, setup, teardown),
        cmocka_unit_test_setup_teardown(whole_host_files_are_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_old_kernels_and_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(load_per_cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(load_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(cpu_deltas, setup, teardown),
        cmocka_unit_test_setup_teardown(cpu_old_kernels, setup, teardown),
        cmocka_unit_test_setup_teardown(file_age_size_body, setup, teardown),
        cmocka_unit_test_setup_teardown(file_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(process_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(process_pidfile, setup, teardown),
        cmocka_unit_test_setup_teardown(process_table_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(process_many, setup, teardown),
        cmocka_unit_test_setup_teardown(log_follows, setup, teardown),
        cmocka_unit_test_setup_teardown(log_rotation_and_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(log_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(log_position_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(host_hung_read, setup, teardown),
        cmocka_unit_test_setup_teardown(host_reads_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(host_batch_behind_a_hang, setup, teardown),
        cmocka_unit_test_setup_teardown(hoststat_odd_files, setup, teardown),
        cmocka_unit_test_setup_teardown(hostmon_fake_host, setup, teardown),
        cmocka_unit_test(default_conditions),
        cmocka_unit_test(host_describe),
        cmocka_unit_test(host_fingerprints),
        cmocka_unit_test(host_keys_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
