/* test_store_sqlite.c - the SQLite store on real files and a real loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "store.h"

static char dir[512];
static int seq;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A config with a fresh database path. */
static struct config *make_conf(const char *path)
{
    struct config *c = calloc(1, sizeof(*c));
    c->storage.driver = strdup("sqlite");
    c->storage.path = strdup(path);
    c->storage.retention_raw_ms = CONFIG_DEFAULT_RETENTION_RAW_MS;
    c->storage.retention_rollups_ms = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS;
    return c;
}

static void free_conf(struct config *c)
{
    free(c->storage.driver);
    free(c->storage.path);
    free(c);
}

static void new_path(char *out, size_t len)
{
    snprintf(out, len, "%s/store-%d-%d/history.db", dir, (int)getpid(), ++seq);
}

static struct store *open_store(uv_loop_t *loop, const char *path)
{
    struct config *c = make_conf(path);
    struct store *st = NULL;
    char err[256];
    int rc = store_open(loop, c, &st, err, sizeof(err));
    free_conf(c);
    if (rc != 0) {
        fail_msg("store_open %s: %s", path, err);
    }
    return st;
}

/* Read one integer from the file with a separate connection. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) {
        v = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void put(struct store *st, const char *check, int64_t ts, int64_t lat_us,
                enum check_state outcome, int fail_streak)
{
    struct store_check_state s = {
        .check = check,
        .state = outcome,
        .fail_streak = fail_streak,
        .ok_streak = outcome == STATE_UP ? 1 : 0,
        .state_since_ms = ts,
    };
    s.last.started_ms = ts;
    s.last.duration_us = lat_us;
    s.last.outcome = outcome;
    s.last.status = outcome == STATE_UP ? 200 : 503;
    if (outcome != STATE_UP) {
        snprintf(s.last.error, sizeof(s.last.error), "HTTP 503");
        snprintf(s.last.failed_condition, sizeof(s.last.failed_condition),
                 "[STATUS] (503) == 200");
    }
    store_put_result(st, &s);
}

/* --- query plumbing --- */

struct got {
    bool done;
    int err;
    size_t n;
    struct store_history_row rows[64];
    int64_t event_ids[64];
    char event_types[64][16];
    struct {
        int64_t id;
        char app[16], version[16], verdict[16], commit[16];
    } deploys[64];
};

static void on_history(int err, const struct store_history_row *rows, size_t n, void *arg)
{
    struct got *g = arg;
    g->done = true;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < 64; i++) {
        g->rows[i] = rows[i];
        g->rows[i].error = NULL;
        g->rows[i].failed_condition = NULL;
    }
}

static void on_events(int err, const struct event *evs, size_t n, void *arg)
{
    struct got *g = arg;
    g->done = true;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < 64; i++) {
        g->event_ids[i] = evs[i].id;
        snprintf(g->event_types[i], sizeof(g->event_types[i]), "%s", evs[i].type);
    }
}

static void on_deploys(int err, const struct deploy *ds, size_t n, void *arg)
{
    struct got *g = arg;
    g->done = true;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < 64; i++) {
        g->deploys[i].id = ds[i].id;
        snprintf(g->deploys[i].app, sizeof(g->deploys[i].app), "%s", ds[i].app);
        snprintf(g->deploys[i].version, sizeof(g->deploys[i].version), "%s", ds[i].version);
        snprintf(g->deploys[i].verdict, sizeof(g->deploys[i].verdict), "%s",
                 ds[i].verdict ? ds[i].verdict : "(null)");
        snprintf(g->deploys[i].commit, sizeof(g->deploys[i].commit), "%s",
                 ds[i].commit ? ds[i].commit : "(null)");
    }
}

struct got_stats {
    bool done;
    int err;
    size_t n;
    struct store_check_stats web;
    bool has_web;
};

static void on_check_stats(int err, const struct store_check_stats *rows, size_t n, void *arg)
{
    struct got_stats *g = arg;
    g->done = true;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].check, "web") == 0) {
            g->web = rows[i];
            g->web.check = NULL;
            g->has_web = true;
        }
    }
}

static void wait_for(uv_loop_t *loop, struct got *g)
{
    for (int i = 0; i < 1000 && !g->done; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    assert_true(g->done);
}

/* --- tests --- */

static void migrates_and_reopens(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT MAX(version) FROM schema_version"), 1);
    st = open_store(&loop, path);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM schema_version"), 1);

    /* A database from a newer shipwatchd is refused, untouched. */
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 'future', 0)", NULL, NULL, NULL);
    sqlite3_close(db);
    struct config *c = make_conf(path);
    char err[256];
    assert_int_equal(store_open(&loop, c, &st, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "newer"));
    free_conf(c);
    uv_loop_close(&loop);
}

static void bad_paths_are_clean_errors(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    snprintf(path, sizeof(path), "%s/garbage-%d.db", dir, (int)getpid());
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 4096; i++) {
        fputc("not a database"[i % 14], f);
    }
    fclose(f);
    struct config *c = make_conf(path);
    struct store *st = NULL;
    char err[256] = "";
    assert_true(store_open(&loop, c, &st, err, sizeof(err)) < 0);
    assert_null(st);
    assert_true(strlen(err) > 0);
    free_conf(c);

    c = make_conf("/proc/shipwatch-cannot/history.db");
    assert_true(store_open(&loop, c, &st, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot create"));
    free_conf(c);
    uv_loop_close(&loop);
}

static void history_states_and_rollups(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);

    /* Two hours ago, aligned to a minute: 60 results in one minute for
     * "web", latencies 1..60 ms, every tenth a failure. */
    int64_t base = (now_ms() - 2 * 3600 * 1000) / 3600000 * 3600000;
    for (int i = 0; i < 60; i++) {
        put(st, "web", base + i * 1000, (i + 1) * 1000, i % 10 == 9 ? STATE_DOWN : STATE_UP,
            i % 10 == 9 ? 1 : 0);
    }
    for (int i = 0; i < 10000; i++) {
        put(st, "bulk", base + 60000 + i, 500, STATE_UP, 0);
    }
    put(st, "db", base + 5, 7000, STATE_DOWN, 4);

    struct got g = {0};
    struct store_history_query q = {.check = "web", .from_ms = 0, .to_ms = INT64_MAX,
                                    .limit = 5, .granularity = STORE_RAW};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 5);
    assert_int_equal(g.rows[0].ts_ms, base + 59000); /* newest first */
    assert_int_equal(g.rows[0].outcome, STATE_DOWN);
    assert_int_equal(g.rows[0].status, 503);
    assert_int_equal(g.rows[1].latency_max_us, 59000);

    memset(&g, 0, sizeof(g));
    q.from_ms = base + 10000;
    q.to_ms = base + 20000;
    q.limit = 100;
    store_history(st, &q, on_history, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 10);

    /* The close rolls up every closed minute and hour. */
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), 10061);
    st = open_store(&loop, path);

    memset(&g, 0, sizeof(g));
    q = (struct store_history_query){.check = "web", .to_ms = INT64_MAX,
                                     .granularity = STORE_MINUTE};
    store_history(st, &q, on_history, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.rows[0].ts_ms, base);
    assert_int_equal(g.rows[0].count, 60);
    assert_int_equal(g.rows[0].failures, 6);
    assert_int_equal(g.rows[0].latency_min_us, 1000);
    assert_int_equal(g.rows[0].latency_max_us, 60000);
    assert_int_equal(g.rows[0].latency_avg_us, 30500);
    assert_int_equal(g.rows[0].latency_p95_us, 57000);

    memset(&g, 0, sizeof(g));
    q.check = "bulk";
    q.granularity = STORE_HOUR;
    store_history(st, &q, on_history, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.rows[0].count, 10000);
    assert_int_equal(g.rows[0].failures, 0);

    /* Rollups are not doubled by a second pass after a restart. */
    store_close(st);
    st = open_store(&loop, path);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT SUM(count) FROM rollups_minute WHERE check_id = "
                                   "(SELECT id FROM checks WHERE name = 'web')"),
                     60);
    uv_loop_close(&loop);
}

struct states {
    int n;
    int db_fail_streak;
    enum check_state db_state;
    char db_error[RESULT_ERROR_MAX];
};

static void on_state(const struct store_check_state *s, void *arg)
{
    struct states *st = arg;
    st->n++;
    if (strcmp(s->check, "db") == 0) {
        st->db_fail_streak = s->fail_streak;
        st->db_state = s->state;
        snprintf(st->db_error, sizeof(st->db_error), "%s", s->last.error);
    }
}

static void states_survive_restart(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = now_ms();
    put(st, "web", t, 1000, STATE_UP, 0);
    put(st, "db", t, 1000, STATE_DOWN, 1);
    put(st, "db", t + 1, 1000, STATE_DOWN, 2);
    store_close(st);
    st = open_store(&loop, path);
    struct states s = {0};
    assert_int_equal(store_load_states(st, on_state, &s), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.db_fail_streak, 2);
    assert_int_equal(s.db_state, STATE_DOWN);
    assert_string_equal(s.db_error, "HTTP 503");
    store_close(st);
    uv_loop_close(&loop);
}

static void events_in_order_with_filters(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t first = 0;
    for (int i = 0; i < 30; i++) {
        struct event ev = {.ts_ms = now_ms(),
                           .type = i % 3 == 0 ? "state" : "deploy",
                           .check = i % 2 ? "web" : "db",
                           .app = "shop",
                           .message = "m"};
        int64_t id = store_put_event(st, &ev);
        if (i == 0) {
            first = id;
        } else {
            assert_int_equal(id, first + i);
        }
    }
    struct got g = {0};
    struct store_event_query q = {.type = "state", .limit = 100};
    store_events(st, &q, on_events, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 10);
    assert_true(g.event_ids[0] > g.event_ids[1]);
    assert_string_equal(g.event_types[0], "state");

    memset(&g, 0, sizeof(g));
    q = (struct store_event_query){.check = "web", .before_id = first + 10, .limit = 3};
    store_events(st, &q, on_events, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.event_ids[0], first + 9);
    store_close(st);

    /* Ids go on after a restart. */
    st = open_store(&loop, path);
    struct event ev = {.ts_ms = now_ms(), .type = "daemon", .message = "again"};
    assert_int_equal(store_put_event(st, &ev), first + 30);
    store_close(st);
    uv_loop_close(&loop);
}

/* Deploys get ids in order, list newest first with filters and paging, and
 * an update by id replaces the row (a verdict arriving later). */
static void deploys_record_list_update(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        char ver[16];
        snprintf(ver, sizeof(ver), "v%d", i);
        struct deploy d = {.app = i % 2 ? "shop" : "api", .env = "prod", .version = ver,
                           .status = "succeeded", .started_ms = now_ms(),
                           .commit = i == 0 ? NULL : "abc123", .verdict = "pending"};
        ids[i] = store_put_deploy(st, &d);
        assert_true(ids[i] > 0);
        if (i > 0) {
            assert_int_equal(ids[i], ids[i - 1] + 1);
        }
    }
    struct got g = {0};
    struct store_deploy_query q = {.app = "shop"};
    assert_int_equal(store_deploys(st, &q, on_deploys, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.deploys[0].id, ids[5]);
    assert_string_equal(g.deploys[0].version, "v5");
    assert_string_equal(g.deploys[2].app, "shop");

    memset(&g, 0, sizeof(g));
    q = (struct store_deploy_query){.before_id = ids[3], .limit = 2};
    store_deploys(st, &q, on_deploys, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.deploys[0].id, ids[2]);
    assert_int_equal(g.deploys[1].id, ids[1]);

    struct deploy upd = {.id = ids[0], .app = "api", .env = "prod", .version = "v0",
                         .status = "succeeded", .started_ms = now_ms(), .verdict = "healthy"};
    assert_int_equal(store_put_deploy(st, &upd), ids[0]);
    store_close(st);

    /* Survives a restart; ids go on. */
    st = open_store(&loop, path);
    memset(&g, 0, sizeof(g));
    q = (struct store_deploy_query){.app = "api", .env = "prod"};
    store_deploys(st, &q, on_deploys, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.deploys[2].id, ids[0]);
    assert_string_equal(g.deploys[2].verdict, "healthy");
    assert_string_equal(g.deploys[2].commit, "(null)");
    assert_string_equal(g.deploys[1].commit, "abc123");
    struct deploy more = {.app = "api", .env = "prod", .version = "v6", .status = "succeeded",
                          .started_ms = now_ms()};
    assert_int_equal(store_put_deploy(st, &more), ids[5] + 1);
    store_close(st);
    uv_loop_close(&loop);
}

/* Uptime over 24 hours and 7 days, the last hour's p95 and the minute
 * sparkline come from the rollups, each result counted once. */
static void check_stats_from_rollups(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t now = now_ms();
    int64_t two_hours = (now - 2 * 3600 * 1000) / 60000 * 60000;
    int64_t three_days = (now - 3 * 86400 * 1000LL) / 60000 * 60000;
    int64_t recent = (now - 3 * 60 * 1000) / 60000 * 60000;
    for (int i = 0; i < 60; i++) {
        put(st, "web", two_hours + i * 1000, 1000, i % 10 == 9 ? STATE_DOWN : STATE_UP, 200);
    }
    for (int i = 0; i < 100; i++) {
        put(st, "web", three_days + i * 100, 1000, i % 2 ? STATE_DOWN : STATE_UP, 200);
    }
    for (int i = 0; i < 20; i++) {
        put(st, "web", recent + i * 1000, (i + 1) * 1000, i < 19 ? STATE_UP : STATE_DOWN, 200);
    }
    put(st, "db", recent, 5000, STATE_UP, 0);
    store_close(st);    /* rolls up every closed minute and hour */

    st = open_store(&loop, path);
    struct got_stats g = {0};
    assert_int_equal(store_check_stats(st, now, on_check_stats, &g), 0);
    for (int i = 0; i < 1000 && !g.done; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    assert_true(g.done);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 2);
    assert_true(g.has_web);
    assert_int_equal(g.web.runs_24h, 80);
    assert_int_equal(g.web.failures_24h, 7);
    assert_int_equal(g.web.runs_7d, 180);
    assert_int_equal(g.web.failures_7d, 57);
    /* 20 latencies 1..20 ms in the recent minute: p95 19 ms, average 10.5. */
    assert_int_equal(g.web.p95_1h_us, 19000);
    int64_t spark_from = (now / 60000 - STORE_SPARK_MINUTES) * 60000;
    size_t m = (size_t)((recent - spark_from) / 60000);
    assert_true(m < STORE_SPARK_MINUTES);
    assert_int_equal(g.web.spark[m], 10500);
    assert_int_equal(g.web.spark[0], -1);
    store_close(st);
    uv_loop_close(&loop);
}

static void retention_trims_old_rows(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t now = now_ms();
    int64_t day = 86400000;
    for (int d = 0; d < 20; d++) {
        put(st, "web", now - d * day - 1000, 100, STATE_UP, 0);
    }
    struct event old = {.ts_ms = now - 500 * day, .type = "state", .message = "old"};
    struct event fresh = {.ts_ms = now, .type = "state", .message = "new"};
    store_put_event(st, &old);
    store_put_event(st, &fresh);
    store_retention(st, now);
    store_close(st);
    /* 14 days of raw rows stay (days 0..13), the rest go; the old event goes. */
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), 14);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM events WHERE message = 'old'"), 0);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM events WHERE message = 'new'"), 1);
    uv_loop_close(&loop);
}

static void insert_rate(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = now_ms();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int n = 0;
    for (int i = 0; i < 60000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i % 100);
        put(st, name, t + i, 1000, STATE_UP, 0);
        n++;
    }
    store_close(st);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    int64_t stored = sql_int(path, "SELECT COUNT(*) FROM results");
    /* Nothing is lost below the queue bound. */
    assert_int_equal(stored, n);
    printf("# %d results written in %.2f s (%.0f/s, including close)\n", n, s, n / s);
    uv_loop_close(&loop);
}

int main(void)
{
    const char *d = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s", d != NULL ? d : "/tmp");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrates_and_reopens),
        cmocka_unit_test(bad_paths_are_clean_errors),
        cmocka_unit_test(history_states_and_rollups),
        cmocka_unit_test(states_survive_restart),
        cmocka_unit_test(events_in_order_with_filters),
        cmocka_unit_test(deploys_record_list_update),
        cmocka_unit_test(check_stats_from_rollups),
        cmocka_unit_test(retention_trims_old_rows),
        cmocka_unit_test(insert_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
