/* store_bench.c - the store's own writer under load: sustained results/s,
 * CPU per 1,000 results, and CPU at a paced rate.
 *
 *   store_bench sqlite PATH     [--results N] [--checks K] [--rate R] [--seconds S]
 *                               [--batch B] [--routine 0|1]
 *   store_bench postgres DSN    [...]
 *   store_bench ENGINE TARGET --queries N [--history CHECK]
 *
 * Phase 1 puts N results of K checks through store_put_result as fast as the
 * store takes them (the producer keeps the queue between a quarter and a half
 * full, so nothing is dropped) and waits for a query queued behind the last
 * one: everything before it is committed. Phase 2 (with --rate) puts R
 * results a second for S seconds in 10 ms ticks and reports the process's
 * CPU over that span. The producer's own cost (a struct fill a result) is
 * included in the CPU figures.
 *
 * Each check gets one result a round, its streak growing by one, and says
 * which results are routine as the daemon would (state.h), so the state rows
 * are written when the daemon would write them; --routine 0 marks none
 * routine: a state row with every result, as before state.h had the rule.
 *
 * --queries N writes nothing: it times N runs of the daemon's checks.stats
 * query (24 hours, 7 and 30 days of every check) and of CHECK's daily
 * history over 365 days, each from the call to its callback, on whatever
 * the store holds, and prints the best and the median. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "state.h"
#include "store.h"

struct bench {
    uv_loop_t *loop;
    struct store *st;
    uv_timer_t tick;
    uint64_t total, put, checks;
    uint64_t seq;               /* results put so far, every phase */
    int64_t base_ms;
    size_t low_water, chunk;
    uint64_t rate;              /* paced: results a second; 0 = as fast as possible */
    uint64_t started_ns;
    bool barrier_sent, done;
    int barrier_err;
    char (*names)[24];
    bool routine;               /* mark routine results (state.h) */
};

static double now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Result i: check i % checks, one a second per check; 1% of the checks
 * down throughout. */
static void put_one(struct bench *b, uint64_t i)
{
    uint64_t c = i % b->checks, k = i / b->checks;
    bool down = c % 100 == 7;
    int streak = k < INT32_MAX ? (int)k + 1 : INT32_MAX;
    int threshold = down ? CONFIG_DEFAULT_FAILURE_THRESHOLD : CONFIG_DEFAULT_SUCCESS_THRESHOLD;
    struct store_check_state s = {
        .check = b->names[c],
        .state = down ? STATE_DOWN : STATE_UP,
        .fail_streak = down ? streak : 0,
        .ok_streak = down ? 0 : streak,
        .routine = b->routine && k > 0 && state_streak_routine(streak, threshold),
        .state_since_ms = b->base_ms,
        .last =
            {
                .started_ms = b->base_ms + (int64_t)k * 1000 + (int64_t)(c % 1000),
                .duration_us = 200 + (int64_t)(i % 5000),
                .outcome = down ? STATE_DOWN : STATE_UP,
                .status = down ? -1 : 200,
            },
    };
    if (down) {
        snprintf(s.last.error, sizeof(s.last.error), "connect: connection refused");
    }
    store_put_result(b->st, &s);
}

static void on_barrier(int err, const struct alert *a, size_t n, void *arg)
{
    (void)a;
    (void)n;
    struct bench *b = arg;
    b->barrier_err = err;
    b->done = true;
    uv_timer_stop(&b->tick);
    uv_stop(b->loop);   /* the store's own handles keep the loop alive */
}

static void send_barrier(struct bench *b)
{
    struct store_alert_query q = {.status = "open", .limit = 1};
    b->barrier_sent = true;
    int rc = store_alerts(b->st, &q, on_barrier, b);
    if (rc < 0) {
        /* The store is not taking queries (down): poll again. */
        b->barrier_sent = false;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct bench *b = t->data;
    if (b->put >= b->total) {
        if (!b->barrier_sent) {
            send_barrier(b);
        }
        return;
    }
    uint64_t n;
    if (b->rate > 0) {
        /* Paced: as many as are due by now. */
        uint64_t due = (uint64_t)((double)(uv_hrtime() - b->started_ns) / 1e9 * (double)b->rate);
        n = due > b->put ? due - b->put : 0;
    } else {
        size_t q;
        uint64_t errs;
        store_stats(b->st, &q, &errs);
        n = q < b->low_water ? b->chunk : 0;
    }
    if (n > b->total - b->put) {
        n = b->total - b->put;
    }
    for (uint64_t i = 0; i < n; i++) {
        put_one(b, b->seq++);
    }
    b->put += n;
}

/* Put total results (rate a second, or as fast as the store takes them) and
 * wait until they are committed. */
static int run_phase(struct bench *b, uint64_t total, uint64_t rate, double *secs, double *cpu)
{
    b->total = total;
    b->put = 0;
    b->rate = rate;
    b->barrier_sent = b->done = false;
    b->started_ns = uv_hrtime();
    double t0 = now_s(), c0 = cpu_s();
    uv_timer_start(&b->tick, on_tick, 0, rate > 0 ? 10 : 1);
    uv_run(b->loop, UV_RUN_DEFAULT);
    *secs = now_s() - t0;
    *cpu = cpu_s() - c0;
    return b->barrier_err;
}

/* --queries: one query in flight, timed from the call to its callback. */
struct timed {
    uv_loop_t *loop;
    bool done;
    int err;
    size_t rows;
};

static void on_stats(int err, const struct store_check_stats *rows, size_t n, void *arg)
{
    (void)rows;
    struct timed *t = arg;
    t->err = err;
    t->rows = n;
    t->done = true;
    uv_stop(t->loop);
}

static void on_history(int err, const struct store_history_row *rows, size_t n, void *arg)
{
    on_stats(err, NULL, n, arg);
    (void)rows;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Time n runs of the stats query and of check's daily history. */
static int run_queries(uv_loop_t *loop, struct store *st, const char *engine, int n,
                       const char *check)
{
    double ms[2][64];
    size_t rows[2] = {0, 0};
    if (n > 64) {
        n = 64;
    }
    for (int kind = 0; kind < 2; kind++) {
        for (int i = 0; i < n; i++) {
            struct timed t = {.loop = loop};
            int64_t now = clock_wall_ms();
            struct store_history_query hq = {.check = check, .from_ms = now - 365 * DAY_MS,
                                             .to_ms = now, .limit = 1000,
                                             .granularity = STORE_DAY};
            struct store_stats_query sq = {.now_ms = now};
            double t0 = now_s();
            int rc = kind == 0 ? store_check_stats(st, &sq, on_stats, &t)
                               : store_history(st, &hq, on_history, &t);
            while (rc == 0 && !t.done) {
                uv_run(loop, UV_RUN_DEFAULT);
            }
            ms[kind][i] = (now_s() - t0) * 1000.0;
            if (rc < 0 || t.err < 0) {
                fprintf(stderr, "store_bench: query failed: %s\n", strerror(-(rc < 0 ? rc : t.err)));
                return 1;
            }
            rows[kind] = t.rows;
        }
        qsort(ms[kind], (size_t)n, sizeof(double), cmp_double);
    }
    printf("%s checks.stats (24 h, 7 d and 30 d of every check): %zu rows, best of %d %.1f ms, "
           "median %.1f ms\n",
           engine, rows[0], n, ms[0][0], ms[0][n / 2]);
    printf("%s history of %s, day rollups over 365 days: %zu rows, best of %d %.2f ms, "
           "median %.2f ms\n",
           engine, check, rows[1], n, ms[1][0], ms[1][n / 2]);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: store_bench sqlite PATH | postgres DSN [--results N] [--checks K] "
                    "[--rate R] [--seconds S] [--batch B] [--routine 0|1] | "
                    "--queries N [--history CHECK]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        usage();
    }
    uint64_t results = 1000000, checks = 10000, rate = 0, seconds = 10;
    int batch = CONFIG_DEFAULT_STORE_BATCH;
    bool routine = true;
    int queries = 0;
    const char *history = "q-5000";
    for (int i = 3; i + 1 < argc; i += 2) {
        uint64_t v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--queries") == 0) {
            queries = (int)(v > 64 ? 64 : v);
        } else if (strcmp(argv[i], "--history") == 0) {
            history = argv[i + 1];
        } else if (strcmp(argv[i], "--results") == 0) {
            results = v;
        } else if (strcmp(argv[i], "--checks") == 0) {
            checks = v;
        } else if (strcmp(argv[i], "--rate") == 0) {
            rate = v;
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = v;
        } else if (strcmp(argv[i], "--batch") == 0) {
            batch = (int)v;
        } else if (strcmp(argv[i], "--routine") == 0) {
            routine = v != 0;
        } else {
            usage();
        }
    }
    if (checks == 0 || results == 0) {
        usage();
    }

    struct config conf = {0};
    char spool[512];
    snprintf(spool, sizeof(spool), "/tmp/shipwatch-store-bench-%d.spool", (int)getpid());
    conf.storage.driver = argv[1];
    if (strcmp(argv[1], "sqlite") == 0) {
        conf.storage.path = argv[2];
    } else if (strcmp(argv[1], "postgres") == 0) {
        conf.storage.dsn = argv[2];
    } else {
        usage();
    }
    conf.storage.pool = CONFIG_DEFAULT_STORE_POOL;
    conf.storage.batch = batch;
    conf.storage.queue = 1000000;
    conf.storage.spool = spool;
    conf.storage.spool_max_bytes = CONFIG_DEFAULT_SPOOL_MAX_BYTES;
    conf.storage.retention_raw_ms = CONFIG_DEFAULT_RETENTION_RAW_MS;
    conf.storage.retention_rollups_ms = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS;
    conf.node_name = "store-bench";

    struct bench *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->names = calloc(checks, sizeof(b->names[0]))) == NULL) {
        return 1;
    }
    b->checks = checks;
    b->routine = routine;
    for (uint64_t i = 0; i < checks; i++) {
        snprintf(b->names[i], sizeof(b->names[i]), "bench-%05" PRIu64, i);
    }
    b->low_water = 20000;
    b->chunk = 5000;
    /* Results end about now, so they fall in the current partitions. */
    b->base_ms = clock_wall_ms() / 1000 * 1000 - (int64_t)(results / checks + 2) * 1000;
    if (rate > 0) {
        b->base_ms -= (int64_t)(rate * seconds / checks + 1) * 1000;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    char err[256];
    int rc = store_open(&loop, &conf, &b->st, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    uv_timer_init(&loop, &b->tick);
    b->tick.data = b;
    if (queries > 0) {
        rc = run_queries(&loop, b->st, argv[1], queries, history);
        goto out;
    }

    double secs, cpu;
    rc = run_phase(b, results, 0, &secs, &cpu);
    size_t q;
    uint64_t errs;
    store_stats(b->st, &q, &errs);
    printf("%s write: %" PRIu64 " results of %" PRIu64 " checks in %.2f s = %.0f results/s, "
           "CPU %.2f s = %.1f ms per 1,000 results, write errors %" PRIu64 "%s\n",
           argv[1], results, checks, secs, (double)results / secs, cpu,
           cpu * 1000.0 / ((double)results / 1000.0), errs, rc < 0 ? " (query failed)" : "");
    if (rate > 0) {
        rc = run_phase(b, rate * seconds, rate, &secs, &cpu);
        printf("%s paced: %" PRIu64 " results/s for %.1f s, CPU %.1f%% of a core%s\n", argv[1],
               rate, secs, cpu / secs * 100.0, rc < 0 ? " (query failed)" : "");
    }
    rc = 0;
out:
    fflush(stdout);
    uv_close((uv_handle_t *)&b->tick, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    store_close(b->st);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(b->names);
    free(b);
    return rc != 0;
}
