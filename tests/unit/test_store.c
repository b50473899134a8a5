/* test_store.c - the store suite, run against each backend on a real loop:
 * SHIPWATCH_TEST_STORE=sqlite (files under TEST_TMPDIR) or postgres (a
 * fresh database per test on the server SHIPWATCH_TEST_PG_DSN names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "schema.h"
#include "store.h"
#include "store_rec.h"
#include "store_spool.h"
#include "test_store.h"
#include "util.h"

static char dir[512];
static int seq;
static bool pg;                 /* the PostgreSQL backend */
static const char *admin_dsn;   /* postgres: the server's maintenance database */

/* A config with a fresh database path. */
static struct config *make_conf(const char *path)
{
    struct config *c = calloc(1, sizeof(*c));
    c->storage.driver = strdup(pg ? "postgres" : "sqlite");
    c->storage.path = strdup(pg ? "/nonexistent/unused.db" : path);
    if (pg) {
        /* path is the DSN of the test's database, dbname last. */
        char spool[700];
        const char *db = strrchr(path, '=');
        snprintf(spool, sizeof(spool), "%s/spool-%d-%s", dir, (int)getpid(),
                 db != NULL ? db + 1 : "x");
        c->storage.dsn = strdup(path);
        c->storage.spool = strdup(spool);
        c->node_name = strdup("test-node");
        c->storage.pool = 2;
    }
    c->storage.retention_raw_ms = CONFIG_DEFAULT_RETENTION_RAW_MS;
    c->storage.retention_rollups_ms = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS;
    return c;
}

static void free_conf(struct config *c)
{
    free(c->storage.driver);
    free(c->storage.path);
    free(c->storage.dsn);
    free(c->storage.spool);
    free(c->node_name);
    free(c);
}

/* Run SQL on the server's maintenance database; fails the test on error. */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(admin_dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
}

/* A fresh database: a file path, or the DSN of a new PostgreSQL database. */
void new_path(char *out, size_t len)
{
    if (!pg) {
        snprintf(out, len, "%s/store-%d-%d/history.db", dir, (int)getpid(), ++seq);
        return;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE DATABASE t%d_%d", (int)getpid(), ++seq);
    pg_admin(sql);
    snprintf(out, len, "%s dbname=t%d_%d", admin_dsn, (int)getpid(), seq);
}

struct store *open_store(uv_loop_t *loop, const char *path)
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
int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t v = -1;
    if (pg) {
        PGconn *c = PQconnectdb(path);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        }
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        }
        PQclear(r);
        PQfinish(c);
        return v;
    }
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) {
        v = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

void put(struct store *st, const char *check, int64_t ts, int64_t lat_us,
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

/* The id a store hands out after prev: the next one in SQLite; with
 * PostgreSQL ids come in blocks shared by several daemons, so after a
 * restart only "larger" holds. */
void assert_next_id(int64_t got, int64_t prev)
{
    if (pg) {
        assert_true(got > prev);
    } else {
        assert_int_equal(got, prev + 1);
    }
}

/* --- query plumbing --- */

struct got {
    bool done;
    int err;
    size_t n;
    struct store_history_row rows[64];
    char message[4][RESULT_MESSAGE_MAX];
    char perfdata[4][RESULT_PERFDATA_MAX];
    int64_t event_ids[64];
    char event_types[64][16];
    struct {
        int64_t id;
        char app[16], version[16], verdict[16], commit[16], status[16], ref[16];
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
        if (i < 4) {
            snprintf(g->message[i], sizeof(g->message[i]), "%s", rows[i].message);
            snprintf(g->perfdata[i], sizeof(g->perfdata[i]), "%s", rows[i].perfdata);
        }
        g->rows[i].message = NULL;
        g->rows[i].perfdata = NULL;
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
        snprintf(g->deploys[i].status, sizeof(g->deploys[i].status), "%s", ds[i].status);
        snprintf(g->deploys[i].ref, sizeof(g->deploys[i].ref), "%s",
                 ds[i].ref ? ds[i].ref : "(null)");
    }
}

struct got_stats {
    bool done;
    int err;
    size_t n;
    const char *want;           /* the check kept in web; NULL "web" */
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
        if (strcmp(rows[i].check, g->want != NULL ? g->want : "web") == 0) {
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

/* The migrations of the engine under test. */
static int migrations(void)
{
    return (int)(pg ? schema_postgres_count : schema_sqlite_count);
}

static void migrates_and_reopens(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT MAX(version) FROM schema_version"), migrations());
    st = open_store(&loop, path);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM schema_version"), migrations());

    /* A database from a newer shipwatchd is refused, untouched. */
    if (pg) {
        sql_int(path, "INSERT INTO schema_version VALUES (99, 'future', 0)");
    } else {
        sqlite3 *db;
        sqlite3_open(path, &db);
        sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 'future', 0)", NULL, NULL,
                     NULL);
        sqlite3_close(db);
    }
    struct config *c = make_conf(path);
    char err[256];
    assert_int_equal(store_open(&loop, c, &st, err, sizeof(err)), -EPROTO);
    assert_non_null(strstr(err, "newer"));
    free_conf(c);
    uv_loop_close(&loop);
}

static void bad_paths_are_clean_errors(void **state)
{
    if (pg) {
        skip();
    }
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
    int64_t base = (clock_wall_ms() - 2 * 3600 * 1000) / 3600000 * 3600000;
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

/* The last message and perfdata of the check "disk", as loaded. */
static void on_disk_state(const struct store_check_state *s, void *arg)
{
    struct result *last = arg;
    if (strcmp(s->check, "disk") == 0) {
        *last = s->last;
    }
}

static void results_keep_message_and_perfdata(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms() - 60000;
    put(st, "disk", t, 1000, STATE_UP, 0);
    struct store_check_state s = {.check = "disk", .state = STATE_UP, .ok_streak = 2,
                                  .state_since_ms = t};
    s.last.started_ms = t + 1000;
    s.last.duration_us = 2000;
    s.last.outcome = STATE_UP;
    s.last.status = 0;
    snprintf(s.last.message, sizeof(s.last.message), "DISK OK - free space: / 3326 MB (56%%);");
    snprintf(s.last.perfdata, sizeof(s.last.perfdata), "'/'=2643MB;5948;5958;0;5968");
    s.last.nconds = 3;
    s.last.conds_failed = 0x4;
    store_put_result(st, &s);

    struct got g = {0};
    struct store_history_query q = {.check = "disk", .to_ms = INT64_MAX};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.message[0], s.last.message);
    assert_string_equal(g.perfdata[0], s.last.perfdata);
    assert_string_equal(g.message[1], "");
    assert_string_equal(g.perfdata[1], "");
    assert_int_equal(g.rows[0].conditions, 3);
    assert_int_equal(g.rows[0].conditions_failed, 0x4);
    assert_int_equal(g.rows[1].conditions, 0);
    store_close(st);
    /* Raw rows stay lean: nothing said is NULL. */
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results WHERE message IS NULL AND "
                                   "perfdata IS NULL AND conditions IS NULL"),
                     1);
    /* The last one comes back with the check's state. */
    st = open_store(&loop, path);
    struct result last = {0};
    assert_int_equal(store_load_states(st, on_disk_state, &last), 0);
    assert_string_equal(last.message, s.last.message);
    assert_string_equal(last.perfdata, s.last.perfdata);
    store_close(st);
    uv_loop_close(&loop);
}

/* What a load saw of the log checks: their last positions. */
struct logs {
    int n;                              /* states with a position */
    struct check_log_position syslog;
};

static void on_log_state(const struct store_check_state *s, void *arg)
{
    struct logs *l = arg;
    if (s->has_log) {
        l->n++;
    }
    if (strcmp(s->check, "syslog") == 0) {
        l->syslog = s->log;
    }
}

/* A log check's position goes with its state, the last one written wins,
 * and 64-bit device and inode numbers come back bit for bit. */
static void log_positions_survive_restart(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms();
    put(st, "web", t, 1000, STATE_UP, 0);
    struct store_check_state s = {.check = "syslog", .state = STATE_UP, .state_since_ms = t};
    s.last.started_ms = t;
    s.last.outcome = STATE_UP;
    s.last.status = -1;
    s.has_log = true;
    s.log = (struct check_log_position){.dev = 2049, .ino = 17, .offset = 100};
    store_put_result(st, &s);
    s.last.started_ms = t + 1;
    s.log = (struct check_log_position){.dev = UINT64_MAX - 1,
                                        .ino = (uint64_t)1 << 63,
                                        .offset = 123456789012,
                                        .head = 0xcbf29ce484222325ULL,
                                        .skipping = true};
    store_put_result(st, &s);
    store_close(st);
    st = open_store(&loop, path);
    struct logs l = {0};
    assert_int_equal(store_load_states(st, on_log_state, &l), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.syslog.dev == UINT64_MAX - 1);
    assert_true(l.syslog.ino == (uint64_t)1 << 63);
    assert_true(l.syslog.offset == 123456789012);
    assert_true(l.syslog.head == 0xcbf29ce484222325ULL);
    assert_true(l.syslog.skipping);
    store_close(st);
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
    int64_t t = clock_wall_ms();
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

/* The states of "up" and "down" after a restart, as loaded. */
struct caught {
    struct store_check_state up, down, quiet;
    char up_message[64];
};

static void on_caught(const struct store_check_state *s, void *arg)
{
    struct caught *c = arg;
    if (strcmp(s->check, "up") == 0) {
        c->up = *s;
        snprintf(c->up_message, sizeof(c->up_message), "%s", s->last.message);
    } else if (strcmp(s->check, "down") == 0) {
        c->down = *s;
    } else if (strcmp(s->check, "quiet") == 0) {
        c->quiet = *s;
    }
    c->up.check = c->down.check = c->quiet.check = NULL;
}

/* A routine result (state.h) may leave the state row as it was; the load
 * at start applies the results after the row: streaks, the last result. */
static void routine_results_are_caught_up_at_load(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms() - 60000;
    struct store_check_state up = {
        .check = "up", .state = STATE_UP, .ok_streak = 3, .state_since_ms = t - 9000,
        .last = {.started_ms = t, .duration_us = 10, .outcome = STATE_UP, .status = 200,
                 .cert_expiry_s = 1893456000},
    };
    store_put_result(st, &up);
    struct store_check_state down = {
        .check = "down", .state = STATE_DOWN, .fail_streak = 4, .state_since_ms = t - 2000,
        .last = {.started_ms = t, .outcome = STATE_DOWN, .status = -1},
    };
    snprintf(down.last.error, sizeof(down.last.error), "connect: refused");
    store_put_result(st, &down);
    /* Committed before the routine ones: PostgreSQL writes the state row of
     * a batch's newest result when any of the batch's was not routine. */
    struct got g = {0};
    struct store_history_query q = {.check = "up", .to_ms = INT64_MAX, .limit = 1};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    for (int i = 1; i <= 5; i++) {
        up.ok_streak++;
        up.routine = true;
        up.last.started_ms = t + i * 1000;
        up.last.duration_us = 10 + i;
        snprintf(up.last.message, sizeof(up.last.message), "run %d", i);
        store_put_result(st, &up);
    }
    for (int i = 1; i <= 3; i++) {
        down.fail_streak++;
        down.routine = true;
        down.last.started_ms = t + i * 1000;
        snprintf(down.last.error, sizeof(down.last.error), "timeout %d", i);
        store_put_result(st, &down);
    }
    put(st, "quiet", t, 100, STATE_UP, 0);
    store_close(st);
    /* The rows stayed where the last result that was not routine left them. */
    assert_int_equal(sql_int(path, "SELECT s.ok_streak FROM check_state s JOIN checks c "
                                   "ON c.id = s.check_id WHERE c.name = 'up'"),
                     3);
    assert_int_equal(sql_int(path, "SELECT s.fail_streak FROM check_state s JOIN checks c "
                                   "ON c.id = s.check_id WHERE c.name = 'down'"),
                     4);

    st = open_store(&loop, path);
    struct caught c = {0};
    assert_int_equal(store_load_states(st, on_caught, &c), 0);
    assert_int_equal(c.up.state, STATE_UP);
    assert_int_equal(c.up.ok_streak, 8);
    assert_int_equal(c.up.fail_streak, 0);
    assert_int_equal(c.up.state_since_ms, t - 9000);
    assert_int_equal(c.up.last.started_ms, t + 5000);
    assert_int_equal(c.up.last.duration_us, 15);
    assert_int_equal(c.up.last.status, 200);
    assert_int_equal(c.up.last.cert_expiry_s, 1893456000);
    assert_string_equal(c.up_message, "run 5");
    assert_int_equal(c.down.state, STATE_DOWN);
    assert_int_equal(c.down.fail_streak, 7);
    assert_int_equal(c.down.ok_streak, 0);
    assert_int_equal(c.down.last.started_ms, t + 3000);
    assert_int_equal(c.down.last.status, -1);
    assert_string_equal(c.down.last.error, "timeout 3");
    assert_int_equal(c.quiet.ok_streak, 1);
    assert_int_equal(c.quiet.last.started_ms, t);
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
        struct event ev = {.ts_ms = clock_wall_ms(),
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
    struct event ev = {.ts_ms = clock_wall_ms(), .type = "daemon", .message = "again"};
    assert_next_id(store_put_event(st, &ev), first + 29);
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
                           .status = "succeeded", .started_ms = clock_wall_ms(),
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
                         .status = "succeeded", .started_ms = clock_wall_ms(), .verdict = "healthy"};
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
                          .started_ms = clock_wall_ms()};
    assert_next_id(store_put_deploy(st, &more), ids[5]);
    store_close(st);
    uv_loop_close(&loop);
}

/* A deploy's status only moves forward (started, succeeded, failed); a
 * verdict fills none or pending and is never erased; a verdict written
 * with an older status keeps the later one; an older write changes
 * nothing; a second row with a taken ext_id is not written. */
static void deploys_move_forward_only(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    struct deploy d = {.app = "shop", .env = "prod", .version = "1.0", .status = "started",
                       .started_ms = clock_wall_ms(), .ext_id = "github:1", .ref = "main"};
    int64_t id = store_put_deploy(st, &d);
    d.id = id;
    d.status = "succeeded";
    d.verdict = "pending";
    d.finished_ms = clock_wall_ms();
    d.commit = "abc";
    assert_int_equal(store_put_deploy(st, &d), id);
    struct deploy judged = d;
    judged.verdict = "healthy";
    d.status = "failed";
    d.verdict = NULL;
    store_put_deploy(st, &d);
    store_put_deploy(st, &judged);
    struct deploy old = {.id = id, .app = "evil", .env = "x", .version = "evil",
                         .status = "started", .started_ms = 1, .ext_id = "github:1"};
    store_put_deploy(st, &old);
    judged.verdict = "pending";
    store_put_deploy(st, &judged);
    struct deploy dup = {.app = "shop", .env = "prod", .version = "2.0", .status = "started",
                         .started_ms = clock_wall_ms(), .ext_id = "github:1"};
    assert_true(store_put_deploy(st, &dup) != id);
    store_close(st);

    st = open_store(&loop, path);
    struct got g = {0};
    struct store_deploy_query q = {.app = NULL};
    store_deploys(st, &q, on_deploys, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.deploys[0].id, id);
    assert_string_equal(g.deploys[0].app, "shop");
    assert_string_equal(g.deploys[0].version, "1.0");
    assert_string_equal(g.deploys[0].status, "failed");
    assert_string_equal(g.deploys[0].verdict, "healthy");
    assert_string_equal(g.deploys[0].commit, "abc");
    assert_string_equal(g.deploys[0].ref, "main");
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
    int64_t now = clock_wall_ms();
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
    /* A range of names, as checks.stats pages: (from, to], byte order. */
    static const struct {
        const char *from, *to;
        size_t n;
        bool web;
    } ranges[] = {{"db", NULL, 1, true}, {NULL, "db", 1, false}, {"da", "dc", 1, false},
                  {"db", "wea", 0, false}, {"web", NULL, 0, false}, {"D", "w", 1, false},
                  {NULL, NULL, 2, true}};
    for (size_t k = 0; k < ARRAY_SIZE(ranges); k++) {
        struct got_stats r = {0};
        struct store_stats_query rq = {.now_ms = now, .from = ranges[k].from, .to = ranges[k].to};
        assert_int_equal(store_check_stats(st, &rq, on_check_stats, &r), 0);
        for (int i = 0; i < 1000 && !r.done; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            nanosleep(&(struct timespec){0, 5000000}, NULL);
        }
        assert_true(r.done);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.n, ranges[k].n);
        assert_int_equal(r.has_web, ranges[k].web);
    }
    struct got_stats g = {0};
    struct store_stats_query q = {.now_ms = now};
    assert_int_equal(store_check_stats(st, &q, on_check_stats, &g), 0);
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

/* The stats of check name as of now. */
static struct store_check_stats stats_of(uv_loop_t *loop, struct store *st, int64_t now,
                                         const char *name)
{
    struct got_stats g = {.want = name};
    struct store_stats_query q = {.now_ms = now};
    assert_int_equal(store_check_stats(st, &q, on_check_stats, &g), 0);
    for (int i = 0; i < 1000 && !g.done; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    assert_true(g.done);
    assert_int_equal(g.err, 0);
    assert_true(g.has_web);
    return g.web;
}

/* Day rollups come from the hours (counts, minimum and maximum exact, the
 * average weighted, the p95 the worst hour's); every hour carries its
 * check's running totals, which give the windows of the stats whether a
 * check has a row at a window's edge or not; a result written after its
 * hour was rolled up is folded into the hour, the day and the totals of
 * every later hour. */
static void day_rollups_totals_and_late_rows(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    const int64_t H = 3600000, D = 86400000;
    int64_t now = clock_wall_ms();
    int64_t day0 = now - now % D - 3 * D;
    for (int i = 0; i < 10; i++) {
        put(st, "d", day0 + H + i * 1000, (i + 1) * 1000, i == 9 ? STATE_DOWN : STATE_UP, 0);
        put(st, "d", day0 + 5 * H + i * 1000, 100000, STATE_UP, 0);
    }
    for (int i = 0; i < 5; i++) {
        put(st, "d", day0 + D + 2 * H + i * 1000, 2000, i < 2 ? STATE_DOWN : STATE_UP, 0);
    }
    /* "e" has a row at the first hour of the 24-hour window and, most
     * likely, at the last closed hour: the stats read both by key. */
    int64_t t = now - 24 * H, s24 = t - t % H;
    int64_t last_closed = (now - 60000) - (now - 60000) % H - H;
    put(st, "e", s24 - H + 1000, 1000, STATE_DOWN, 0);
    put(st, "e", s24 + 1000, 1000, STATE_UP, 0);
    put(st, "e", s24 + 2 * H + 1000, 1000, STATE_DOWN, 0);
    put(st, "e", last_closed + 1000, 1000, STATE_UP, 0);
    /* "g" has a gap over the starts of the 24-hour and 7-day windows. */
    t = now - 7 * D;
    int64_t s7 = t - t % H;
    put(st, "g", s7 - 2 * H + 1000, 1000, STATE_DOWN, 0);
    put(st, "g", s24 + 3 * H + 1000, 1000, STATE_UP, 0);
    store_close(st);    /* rolls up every closed minute and hour */

    st = open_store(&loop, path);
    struct got g = {0};
    struct store_history_query q = {.check = "d", .to_ms = INT64_MAX, .granularity = STORE_DAY};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.rows[0].ts_ms, day0 + D);
    assert_int_equal(g.rows[0].count, 5);
    assert_int_equal(g.rows[0].failures, 2);
    assert_int_equal(g.rows[1].ts_ms, day0);
    assert_int_equal(g.rows[1].count, 20);
    assert_int_equal(g.rows[1].failures, 1);
    assert_int_equal(g.rows[1].latency_min_us, 1000);
    assert_int_equal(g.rows[1].latency_max_us, 100000);
    assert_int_equal(g.rows[1].latency_avg_us, (5500 * 10 + 100000 * 10) / 20);
    assert_int_equal(g.rows[1].latency_p95_us, 100000);
    const char *totals = "SELECT total_count * 1000 + total_failures FROM rollups_hour "
                         "WHERE check_id = (SELECT id FROM checks WHERE name = 'd') "
                         "AND bucket_ts = ";
    char sql[300];
    snprintf(sql, sizeof(sql), "%s%lld", totals, (long long)(day0 + 5 * H));
    assert_int_equal(sql_int(path, sql), 20 * 1000 + 1);
    snprintf(sql, sizeof(sql), "%s%lld", totals, (long long)(day0 + D + 2 * H));
    assert_int_equal(sql_int(path, sql), 25 * 1000 + 3);

    struct store_check_stats e = stats_of(&loop, st, now, "e");
    assert_int_equal(e.runs_24h, 3);
    assert_int_equal(e.failures_24h, 1);
    assert_int_equal(e.runs_7d, 4);
    assert_int_equal(e.failures_7d, 2);
    assert_int_equal(e.runs_30d, 4);
    struct store_check_stats gap = stats_of(&loop, st, now, "g");
    assert_int_equal(gap.runs_24h, 1);
    assert_int_equal(gap.failures_24h, 0);
    assert_int_equal(gap.runs_7d, 1);
    assert_int_equal(gap.runs_30d, 2);
    assert_int_equal(gap.failures_30d, 1);

    /* A late result in the first hour of day0, after it was rolled up. */
    put(st, "d", day0 + H + 30000, 1000, STATE_DOWN, 0);
    store_close(st);
    st = open_store(&loop, path);
    memset(&g, 0, sizeof(g));
    store_history(st, &q, on_history, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.rows[1].count, 21);
    assert_int_equal(g.rows[1].failures, 2);
    assert_int_equal(g.rows[0].count, 5);
    snprintf(sql, sizeof(sql), "%s%lld", totals, (long long)(day0 + 5 * H));
    assert_int_equal(sql_int(path, sql), 21 * 1000 + 2);
    snprintf(sql, sizeof(sql), "%s%lld", totals, (long long)(day0 + D + 2 * H));
    assert_int_equal(sql_int(path, sql), 26 * 1000 + 4);
    struct store_check_stats d = stats_of(&loop, st, now, "d");
    assert_int_equal(d.runs_24h, 0);
    assert_int_equal(d.runs_7d, 26);
    assert_int_equal(d.failures_7d, 4);
    assert_int_equal(d.runs_30d, 26);
    assert_int_equal(d.failures_30d, 4);
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
    int64_t now = clock_wall_ms();
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

/* Results of one check in the same millisecond (a heartbeat ping beside a
 * scheduled run) are all kept and all read back, before SQLite moves its
 * recent rows into the table ordered by check and time, and after. */
static void same_millisecond_results_are_kept(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t ts = clock_wall_ms() - 5000;
    for (int i = 0; i < 3; i++) {
        put(st, "hb", ts, 100 + i, STATE_UP, 0);
    }
    put(st, "hb", ts + 1, 200, STATE_UP, 0);
    struct got g = {0};
    struct store_history_query q = {.check = "hb", .to_ms = INT64_MAX, .limit = 10,
                                    .granularity = STORE_RAW};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 4);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), 4);
    if (!pg) {
        /* SQLite keys a check's rows by time: each later one moved by 1 ms. */
        assert_int_equal(sql_int(path, "SELECT COUNT(DISTINCT ts) FROM results"), 4);
        assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results_recent"), 0);
    }
    st = open_store(&loop, path);
    memset(&g, 0, sizeof(g));
    store_history(st, &q, on_history, &g);
    wait_for(&loop, &g);
    assert_int_equal(g.n, 4);
    store_close(st);
    uv_loop_close(&loop);
}

static void insert_rate(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms();
    int64_t t0_ns = clock_mono_ns();
    int n = 0;
    for (int i = 0; i < 60000; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i % 100);
        put(st, name, t + i, 1000, STATE_UP, 0);
        n++;
    }
    store_close(st);
    double s = (double)(clock_mono_ns() - t0_ns) / 1e9;
    int64_t stored = sql_int(path, "SELECT COUNT(*) FROM results");
    /* Nothing is lost below the queue bound. */
    assert_int_equal(stored, n);
    printf("# %d results written in %.2f s (%.0f/s, including close)\n", n, s, n / s);
    uv_loop_close(&loop);
}

/* --- PostgreSQL only --- */

/* A malformed DSN is an open error; a server that is not there is not. */
static void pg_bad_dsns(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store *st = NULL;
    char err[256] = "";
    struct config *c = make_conf("this is = not a dsn");
    assert_true(store_open(&loop, c, &st, err, sizeof(err)) < 0);
    assert_null(st);
    assert_true(strlen(err) > 0);
    free_conf(c);

    c = make_conf("host=127.0.0.1 port=1 dbname=nothing connect_timeout=1");
    assert_int_equal(store_open(&loop, c, &st, err, sizeof(err)), 0);
    free_conf(c);
    struct store_health h;
    store_health(st, &h);
    assert_true(h.degraded);
    assert_true(strlen(h.reason) > 0);
    put(st, "web", clock_wall_ms(), 1000, STATE_UP, 0);
    struct got g = {0};
    struct store_history_query q = {.check = "web", .to_ms = INT64_MAX};
    /* No waiting for an outage to end. */
    assert_int_equal(store_history(st, &q, on_history, &g), -EAGAIN);
    store_close(st);
    uv_loop_close(&loop);
}

/* Run the loop until pred holds or timeout_ms pass; the result of pred. */
static bool pump(uv_loop_t *loop, struct store *st, bool (*pred)(struct store *st),
                 int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 5; i++) {
        if (pred(st)) {
            return true;
        }
        uv_run(loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    return pred(st);
}

static bool all_written(struct store *st)
{
    struct store_health h;
    store_health(st, &h);
    return !h.degraded && h.queued == 0 && h.spooled_bytes == 0;
}

static bool is_degraded(struct store *st)
{
    struct store_health h;
    store_health(st, &h);
    return h.degraded;
}

static struct store *open_conf(uv_loop_t *loop, struct config *c)
{
    struct store *st = NULL;
    char err[256];
    int rc = store_open(loop, c, &st, err, sizeof(err));
    if (rc != 0) {
        fail_msg("store_open: %s", err);
    }
    return st;
}

static void pgctl(const char *verb)
{
    const char *ctl = getenv("SHIPWATCH_TEST_PGCTL");
    assert_non_null(ctl);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", ctl, verb);
    assert_int_equal(system(cmd), 0);
}

/* Quotes, backslashes, invalid UTF-8 and a 100 KB text are written, and
 * one of them never fails the others. */
static void pg_hostile_strings(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms();
    const char *errs[] = {"it's a 'quote' \\ and \\' back\\slash",
                          "bad utf8 \xff\xfe and cut \xe2\x82",
                          "'); DROP TABLE results; --",
                          "tab\there\nnew line\r\\N\\t"};
    for (int i = 0; i < 4; i++) {
        struct store_check_state cs = {.check = "h'ostile\\", .state = STATE_DOWN};
        cs.last.started_ms = t + i;
        cs.last.outcome = STATE_DOWN;
        cs.last.status = -1;
        snprintf(cs.last.error, sizeof(cs.last.error), "%s", errs[i]);
        store_put_result(st, &cs);
    }
    size_t big = 100 * 1024;
    char *msg = malloc(big + 1);
    for (size_t i = 0; i < big; i++) {
        msg[i] = "a'\\\xc3"[i % 4];
    }
    msg[big] = '\0';
    struct event ev = {.ts_ms = t, .type = "state", .message = msg, .data = "{\"x\": \"'\"}"};
    store_put_event(st, &ev);
    free(msg);
    struct got g = {0};
    struct store_history_query q = {.check = "h'ostile\\", .to_ms = INT64_MAX};
    assert_int_equal(store_history(st, &q, on_history, &g), 0);
    wait_for(&loop, &g);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.n, 4);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results WHERE error = "
                                   "'it''s a ''quote'' \\ and \\'' back\\slash'"),
                     1);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results WHERE error = "
                                   "'bad utf8 \xef\xbf\xbd\xef\xbf\xbd and cut \xef\xbf\xbd\xef\xbf\xbd'"),
                     1);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results WHERE error = "
                                   "E'tab\\there\\nnew line\\r\\\\N\\\\t'"),
                     1);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), 4);
    assert_int_equal(sql_int(path, "SELECT length(message) FROM events"), (int64_t)big);
    uv_loop_close(&loop);
}

/* Stop the server mid-stream, write past storage.queue so the spool is
 * used, start it again: every row arrives once. */
static void pg_outage_spools_and_catches_up(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct config *c = make_conf(path);
    c->storage.queue = 200;
    struct store *st = open_conf(&loop, c);
    int64_t t = clock_wall_ms() - 3600 * 1000;
    int n = 0;
    for (; n < 500; n++) {
        put(st, "web", t + n, 1000, STATE_UP, 0);
    }
    assert_true(pump(&loop, st, all_written, 10000));
    pgctl("stop");
    for (int i = 0; i < 100 && !is_degraded(st); i++) {
        put(st, "web", t + n++, 1000, STATE_UP, 0);
        pump(&loop, st, is_degraded, 50);
    }
    assert_true(is_degraded(st));
    for (int i = 0; i < 3000; i++) {
        put(st, "web", t + n++, 1000, STATE_UP, 0);
    }
    struct store_health h;
    store_health(st, &h);
    assert_true(h.spooled_bytes > 0);
    assert_true(h.queued <= 200 + 1000);
    struct got g = {0};
    struct store_history_query q = {.check = "web", .to_ms = INT64_MAX};
    assert_int_equal(store_history(st, &q, on_history, &g), -EAGAIN);
    pgctl("start");
    assert_true(pump(&loop, st, all_written, 30000));
    store_health(st, &h);
    assert_true(h.reconnects >= 1);
    assert_int_equal(h.dropped, 0);
    store_close(st);
    free_conf(c);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), n);
    assert_int_equal(sql_int(path, "SELECT COUNT(DISTINCT ts) FROM results"), n);
    uv_loop_close(&loop);
}

/* A store opened while the server is down has no id block: its ids must
 * not replace rows the database already has, and ids taken after it comes
 * back must still be larger. */
static void pg_start_degraded_keeps_ids(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct config *c = make_conf(path);
    struct event ev = {.ts_ms = clock_wall_ms(), .type = "daemon", .message = "before"};
    struct store *st = open_conf(&loop, c);
    int64_t before = store_put_event(st, &ev);
    assert_true(pump(&loop, st, all_written, 10000));
    store_close(st);

    pgctl("stop");
    st = open_conf(&loop, c);
    assert_true(is_degraded(st));
    ev.message = "while down";
    int64_t down1 = store_put_event(st, &ev);
    int64_t down2 = store_put_event(st, &ev);
    assert_true(down1 > before);
    assert_true(down2 > down1);
    pgctl("start");
    assert_true(pump(&loop, st, all_written, 30000));
    /* A block taken now lies past the ids numbered while down. */
    ev.message = "after";
    int64_t after = 0;
    for (int i = 0; i < 200 && after <= down2; i++) {
        after = store_put_event(st, &ev);
        pump(&loop, st, all_written, 50);
    }
    assert_true(after > down2);
    assert_true(pump(&loop, st, all_written, 10000));
    store_close(st);
    free_conf(c);
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE id IN (%" PRId64 ", %" PRId64
             ", %" PRId64 ")", before, down1, down2);
    assert_int_equal(sql_int(path, sql), 3);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM events WHERE message = 'before'"), 1);
    uv_loop_close(&loop);
}

/* Kill the writer's backend during batches: a batch whose COMMIT reply was
 * lost is not written twice, and none is lost. */
static void pg_lost_commit_not_doubled(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t t = clock_wall_ms() - 3600 * 1000;
    int n = 0;
    PGconn *killer = PQconnectdb(path);
    assert_int_equal(PQstatus(killer), CONNECTION_OK);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 5000; i++) {
            put(st, "web", t + n++, 1000, STATE_UP, 0);
        }
        for (int i = 0; i < 3; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
        }
        PGresult *r = PQexec(killer, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE application_name = 'shipwatchd' AND pid <> "
                                     "pg_backend_pid() AND state = 'active'");
        PQclear(r);
    }
    PQfinish(killer);
    assert_true(pump(&loop, st, all_written, 30000));
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), n);
    assert_int_equal(sql_int(path, "SELECT COUNT(DISTINCT ts) FROM results"), n);
    uv_loop_close(&loop);
}

/* A server that keeps the connection open but never answers (its backends
 * stopped with SIGSTOP): the writer gives up after the query timeout,
 * reconnects and writes; when the stopped backend wakes up and runs the
 * batch it was sent, the batch is refused, so nothing is written twice. */
static void pg_silent_server_times_out(void **state)
{
    if (geteuid() != 0) {
        skip();     /* stopping the server's backends needs root */
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    setenv("SHIPWATCH_PG_QUERY_TIMEOUT_MS", "1000", 1);
    struct store *st = open_store(&loop, path);
    unsetenv("SHIPWATCH_PG_QUERY_TIMEOUT_MS");
    int64_t t = clock_wall_ms() - 3600 * 1000;
    int n = 0;
    for (; n < 100; n++) {
        put(st, "web", t + n, 1000, STATE_UP, 0);
    }
    assert_true(pump(&loop, st, all_written, 10000));
    PGconn *admin = PQconnectdb(path);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PGresult *r = PQexec(admin, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                "'shipwatchd' AND datname = current_database()");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    int npid = PQntuples(r) < 8 ? PQntuples(r) : 8;
    pid_t pids[8];
    for (int i = 0; i < npid; i++) {
        pids[i] = (pid_t)strtol(PQgetvalue(r, i, 0), NULL, 10);
        kill(pids[i], SIGSTOP);
    }
    PQclear(r);
    for (int i = 0; i < 100; i++) {
        put(st, "web", t + n++, 1000, STATE_UP, 0);
    }
    bool written = pump(&loop, st, all_written, 15000);
    struct store_health h;
    store_health(st, &h);
    /* Wake the stopped backends: the one holding the batch runs it now. */
    for (int i = 0; i < npid; i++) {
        kill(pids[i], SIGCONT);
    }
    /* The writer's old backend ends once it has run the batch and found
     * its client gone; the idle pool backends stay. */
    char q[200];
    int left = npid;
    for (int i = 0; i < 500 && left >= npid; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        left = 0;
        for (int k = 0; k < npid; k++) {
            snprintf(q, sizeof(q), "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %d",
                     (int)pids[k]);
            r = PQexec(admin, q);
            left += PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                    strcmp(PQgetvalue(r, 0, 0), "0") != 0;
            PQclear(r);
        }
    }
    PQfinish(admin);
    assert_true(npid >= 2);
    assert_true(written);
    assert_true(h.reconnects >= 1);
    assert_true(left < npid);
    assert_true(pump(&loop, st, all_written, 10000));
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), n);
    assert_int_equal(sql_int(path, "SELECT COUNT(DISTINCT ts) FROM results"), n);
    uv_loop_close(&loop);
}

/* A spool with a corrupt record and a truncated tail: the rest is replayed,
 * the bad parts reported and skipped. */
static void pg_corrupt_spool_is_skipped(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct config *c = make_conf(path);
    /* Spool 30 results with nothing to write them to. */
    free(c->storage.dsn);
    c->storage.dsn = strdup("host=127.0.0.1 port=1 dbname=nothing connect_timeout=1");
    c->storage.queue = 10;
    unlink(c->storage.spool);
    struct store *st = open_conf(&loop, c);
    int64_t t = clock_wall_ms() - 3600 * 1000;
    for (int i = 0; i < 30; i++) {
        put(st, "web", t + i, 1000, STATE_UP, 0);
    }
    store_close(st);
    FILE *f = fopen(c->storage.spool, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    assert_true(size > 0);
    /* Flip a byte inside the fifth record's payload (records are the same
     * size here), then add a header promising more than is there. */
    long rec = size / 30;
    fseek(f, rec * 4 + 20, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, rec * 4 + 20, SEEK_SET);
    fputc(ch ^ 0x55, f);
    fseek(f, 0, SEEK_END);
    const unsigned char tail[] = {0x53, 0x57, 0x53, 0x50, 0x00, 0x10, 0x00, 0x00, 1, 2, 3, 4, 9};
    fwrite(tail, 1, sizeof(tail), f);
    fclose(f);
    free(c->storage.dsn);
    c->storage.dsn = strdup(path);
    st = open_conf(&loop, c);
    assert_true(pump(&loop, st, all_written, 10000));
    store_close(st);
    free_conf(c);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM results"), 29);
    uv_loop_close(&loop);
}

/* Two daemons starting at once on an empty database: one migrates, the
 * other waits for it and finds nothing to do. */
static void pg_concurrent_migration(void **state)
{
    char path[600];
    new_path(path, sizeof(path));
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            uv_loop_t loop;
            uv_loop_init(&loop);
            struct config *c = make_conf(path);
            struct store *st = NULL;
            char err[256];
            int rc = store_open(&loop, c, &st, err, sizeof(err));
            struct store_health h = {0};
            if (rc == 0) {
                store_health(st, &h);
                store_close(st);
            }
            _exit(rc == 0 && !h.degraded ? 0 : 1);
        }
    }
    for (int i = 0; i < 3; i++) {
        int status = 0;
        assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM schema_version"), migrations());
}

static const struct CMUnitTest pg_tests[] = {
    cmocka_unit_test(pg_bad_dsns),
    cmocka_unit_test(pg_hostile_strings),
    cmocka_unit_test(pg_concurrent_migration),
    cmocka_unit_test(pg_corrupt_spool_is_skipped),
    cmocka_unit_test(pg_lost_commit_not_doubled),
    cmocka_unit_test(pg_outage_spools_and_catches_up),
    cmocka_unit_test(pg_start_degraded_keeps_ids),
    cmocka_unit_test(pg_silent_server_times_out),
};

/* The spool on its own, as any backend uses it: records come back in
 * order with their fields, a damaged record is skipped and counted, and
 * reset empties the file. */
static void spool_round_trip_and_damage(void **state)
{
    (void)state;
    char path[700];
    snprintf(path, sizeof(path), "%s/spool-unit-%d", dir, (int)getpid());
    unlink(path);
    struct store_spool sp;
    store_spool_init(&sp, NULL, "test");
    assert_int_equal(store_spool_open(&sp), -ENOENT);
    store_spool_finish(&sp);
    store_spool_init(&sp, strdup(path), "test");

    struct store_check_state cs = {.check = "web", .state = STATE_DOWN, .fail_streak = 3,
                                   .state_since_ms = 1700000000000,
                                   .last = {.started_ms = 1700000000123, .duration_us = 4567,
                                            .outcome = STATE_DOWN, .status = 503}};
    snprintf(cs.last.error, sizeof(cs.last.error), "it's \"down\"\n\ttoo");
    snprintf(cs.last.message, sizeof(cs.last.message), "DISK CRITICAL - / 98%%");
    snprintf(cs.last.perfdata, sizeof(cs.last.perfdata), "'/'=98%%;80;90");
    cs.last.nconds = 3;
    cs.last.conds_failed = 0x5;
    struct event ev = {.type = "state", .check = "web", .message = "web is down",
                       .ts_ms = 1700000000999};
    struct deploy dep = {.app = "shop", .env = "prod", .version = "1.2.3",
                         .status = "succeeded", .started_ms = 1700000001000};
    struct rec *in[3] = {rec_new_result(&cs), rec_new_event(&ev, 41), rec_new_deploy(&dep, 7)};
    uint64_t ends[3];
    for (int i = 0; i < 3; i++) {
        assert_non_null(in[i]);
        in[i]->rn = 100 + (uint64_t)i;
        assert_int_equal(store_spool_append(&sp, in[i]), 0);
        ends[i] = sp.size;
        rec_free(in[i]);
    }

    struct rec *r = store_spool_read(&sp);
    assert_non_null(r);
    assert_int_equal(r->kind, REC_RESULT);
    assert_int_equal(r->rn, 100);
    assert_string_equal(r->check, "web");
    assert_int_equal(r->st.state, STATE_DOWN);
    assert_int_equal(r->st.fail_streak, 3);
    assert_int_equal(r->st.last.duration_us, 4567);
    assert_int_equal(r->st.last.status, 503);
    assert_string_equal(r->st.last.error, cs.last.error);
    assert_string_equal(r->st.last.message, cs.last.message);
    assert_string_equal(r->st.last.perfdata, cs.last.perfdata);
    assert_int_equal(r->st.last.nconds, 3);
    assert_int_equal(r->st.last.conds_failed, 0x5);
    rec_free(r);
    r = store_spool_read(&sp);
    assert_non_null(r);
    assert_int_equal(r->kind, REC_EVENT);
    assert_int_equal(r->ev.id, 41);
    assert_string_equal(r->ev.message, "web is down");
    assert_null(r->ev.app);
    rec_free(r);
    r = store_spool_read(&sp);
    assert_non_null(r);
    assert_int_equal(r->kind, REC_DEPLOY);
    assert_int_equal(r->dep.id, 7);
    assert_string_equal(r->dep.version, "1.2.3");
    assert_int_equal(r->rn, 102);
    rec_free(r);
    assert_null(store_spool_read(&sp));
    assert_int_equal(sp.bad, 0);

    /* One flipped byte in the second record's payload: its checksum fails,
     * the reader skips it and finds the third. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(ends[0] + 12 + 4), SEEK_SET), 0);
    int ch = fgetc(f);
    assert_int_equal(fseek(f, (long)(ends[0] + 12 + 4), SEEK_SET), 0);
    fputc(ch ^ 0xff, f);
    fclose(f);
    sp.rd = 0;
    r = store_spool_read(&sp);
    assert_non_null(r);
    assert_int_equal(r->rn, 100);
    rec_free(r);
    r = store_spool_read(&sp);
    assert_non_null(r);
    assert_int_equal(r->rn, 102);
    rec_free(r);
    assert_null(store_spool_read(&sp));
    assert_int_equal(sp.bad, 1);

    store_spool_reset(&sp);
    assert_int_equal(sp.size, 0);
    assert_null(store_spool_read(&sp));
    store_spool_finish(&sp);
    unlink(path);
}

int main(void)
{
    const char *d = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s", d != NULL ? d : "/tmp");
    const char *backend = getenv("SHIPWATCH_TEST_STORE");
    pg = backend != NULL && strcmp(backend, "postgres") == 0;
    if (pg) {
        admin_dsn = getenv("SHIPWATCH_TEST_PG_DSN");
        if (admin_dsn == NULL || admin_dsn[0] == '\0') {
            fprintf(stderr, "SHIPWATCH_TEST_PG_DSN is not set: run through tests/servers.py\n");
            return 77;
        }
    }
    /* SHIPWATCH_TEST_FILTER=pattern runs only the matching tests. */
    const char *filter = getenv("SHIPWATCH_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0') {
        cmocka_set_test_filter(filter);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrates_and_reopens),
        cmocka_unit_test(bad_paths_are_clean_errors),
        cmocka_unit_test(history_states_and_rollups),
        cmocka_unit_test(states_survive_restart),
        cmocka_unit_test(routine_results_are_caught_up_at_load),
        cmocka_unit_test(log_positions_survive_restart),
        cmocka_unit_test(results_keep_message_and_perfdata),
        cmocka_unit_test(events_in_order_with_filters),
        cmocka_unit_test(deploys_record_list_update),
        cmocka_unit_test(deploys_move_forward_only),
        cmocka_unit_test(check_stats_from_rollups),
        cmocka_unit_test(day_rollups_totals_and_late_rows),
        cmocka_unit_test(retention_trims_old_rows),
        cmocka_unit_test(same_millisecond_results_are_kept),
        cmocka_unit_test(alerting_round_trip),
        cmocka_unit_test(alerts_list_and_page),
        cmocka_unit_test(retention_trims_alerting),
        cmocka_unit_test(insert_rate),
        cmocka_unit_test(spool_round_trip_and_damage),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (pg) {
        failed += cmocka_run_group_tests_name("postgres", pg_tests, NULL, NULL);
    }
    return failed;
}
