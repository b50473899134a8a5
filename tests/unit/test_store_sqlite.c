/* test_store_sqlite.c - the SQLite store when its files cannot grow.
 *
 * RLIMIT_FSIZE stands in for a full disk: the database and its WAL may not
 * grow past their size, so a large commit fails as it would on a full disk,
 * while the spool (a new, small file) still takes a few records. Writes
 * must be kept and retried, the store degraded meanwhile, a deploy or mute
 * acknowledged only when kept, and everything written once files may grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "store.h"

static char dir[512];
static int seq;

/* Sleep ten milliseconds. */
static void nap(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10000000L};
    nanosleep(&ts, NULL);
}

/* A store on a fresh file; spool NULL for none. */
static struct store *open_store(uv_loop_t *loop, const char *path, const char *spool)
{
    struct config c;
    memset(&c, 0, sizeof(c));
    c.storage.driver = "sqlite";
    c.storage.path = (char *)path;
    c.storage.spool = (char *)spool;
    c.storage.retention_raw_ms = CONFIG_DEFAULT_RETENTION_RAW_MS;
    c.storage.retention_rollups_ms = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS;
    struct store *st = NULL;
    char err[256];
    if (store_open(loop, &c, &st, err, sizeof(err)) != 0) {
        fail_msg("store_open %s: %s", path, err);
    }
    return st;
}

/* One integer read from the file with a connection of its own. */
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

/* The size of a file, 0 when it does not exist. */
static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Set the soft limit of file sizes (RLIM_INFINITY lifts it). */
static void limit_files(rlim_t bytes)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    if (rl.rlim_max != RLIM_INFINITY && bytes > rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Wait up to 10 s for the store's health to say degraded (or not). */
static void wait_degraded(struct store *st, bool want, struct store_health *h)
{
    for (int i = 0; i < 1000; i++) {
        store_health(st, h);
        if (h->degraded == want) {
            return;
        }
        nap();
    }
    fail_msg("the store did not become %s", want ? "degraded" : "healthy");
}

/* Queue n results with long error texts: a commit the files cannot hold. */
static void put_results(struct store *st, int n, int64_t t0)
{
    for (int i = 0; i < n; i++) {
        struct store_check_state s = {.check = "web", .state = STATE_DOWN, .fail_streak = i};
        s.last.started_ms = t0 + i;
        s.last.duration_us = 1000 + i;
        s.last.outcome = STATE_DOWN;
        s.last.status = 503;
        memset(s.last.error, 'x', sizeof(s.last.error) - 1);
        s.last.error[sizeof(s.last.error) - 1] = '\0';
        store_put_result(st, &s);
    }
}

/* A fresh database path and spool path. */
static void paths(char *db, size_t dblen, char *spool, size_t splen)
{
    seq++;
    snprintf(db, dblen, "%s/sqlfull-%d-%d/history.db", dir, (int)getpid(), seq);
    snprintf(spool, splen, "%s/sqlfull-%d-%d/spool", dir, (int)getpid(), seq);
}

/* A failed commit keeps its writes; a deploy is spooled and acknowledged;
 * once files may grow every write is committed and the spool emptied. */
static void failed_commits_keep_and_retry(void **state)
{
    (void)state;
    char db[700], spool[700], wal[720];
    paths(db, sizeof(db), spool, sizeof(spool));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store *st = open_store(&loop, db, spool);
    int64_t t0 = clock_wall_ms() - 600000;
    struct deploy first = {.app = "shop", .env = "prod", .version = "v1", .status = "started",
                           .started_ms = t0};
    assert_true(store_put_deploy(st, &first) > 0);     /* committed: a barrier */
    off_t cap = file_size(db) > file_size(wal) ? file_size(db) : file_size(wal);
    limit_files((rlim_t)cap);

    put_results(st, 1500, t0);
    struct event ev = {.ts_ms = t0, .type = "daemon", .message = "kept"};
    int64_t ev_id = store_put_event(st, &ev);
    struct store_health h;
    wait_degraded(st, true, &h);
    assert_true(h.reason[0] != '\0');
    assert_true(h.queued > 0);

    /* Waiting writes are not committed, and the store says so. */
    struct deploy second = {.app = "shop", .env = "prod", .version = "v2", .status = "started",
                            .started_ms = t0 + 1};
    int64_t id2 = store_put_deploy(st, &second);
    assert_true(id2 > 0);                              /* spooled */
    store_health(st, &h);
    assert_true(h.degraded);
    assert_true(h.spooled_bytes > 0);
    assert_int_equal(h.dropped, 0);

    limit_files(RLIM_INFINITY);
    wait_degraded(st, false, &h);
    for (int i = 0; i < 500 && (h.queued > 0 || h.spooled_bytes > 0); i++) {
        nap();
        store_health(st, &h);
    }
    assert_int_equal(h.queued, 0);
    assert_int_equal(h.spooled_bytes, 0);
    assert_int_equal(h.dropped, 0);
    store_close(st);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);

    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM results"), 1500);
    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM deploys"), 2);
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE id = %lld", (long long)ev_id);
    assert_int_equal(sql_int(db, sql), 1);
    assert_int_equal(file_size(spool), 0);
}

/* Without a spool a deploy or mute the store cannot keep is refused with
 * the reason; what was kept is written after. */
static void unkept_rows_are_refused(void **state)
{
    (void)state;
    char db[700], spool[700], wal[720];
    paths(db, sizeof(db), spool, sizeof(spool));
    snprintf(wal, sizeof(wal), "%s-wal", db);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store *st = open_store(&loop, db, NULL);
    int64_t t0 = clock_wall_ms() - 600000;
    struct mute m = {.kind = "silence", .check = "web", .starts_ms = t0, .ends_ms = t0 + 3600000,
                     .author = "ops", .created_ms = t0};
    assert_true(store_put_mute(st, &m) > 0);
    off_t cap = file_size(db) > file_size(wal) ? file_size(db) : file_size(wal);
    limit_files((rlim_t)cap);

    put_results(st, 1500, t0);
    struct store_health h;
    wait_degraded(st, true, &h);
    struct deploy dep = {.app = "shop", .env = "prod", .version = "v9", .status = "started",
                         .started_ms = t0};
    assert_int_equal(store_put_deploy(st, &dep), 0);
    assert_true(st->errstr[0] != '\0');
    struct mute m2 = m;
    m2.comment = "refused";
    assert_int_equal(store_put_mute(st, &m2), 0);

    limit_files(RLIM_INFINITY);
    wait_degraded(st, false, &h);
    store_close(st);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM results"), 1500);
    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM deploys"), 0);
    assert_int_equal(sql_int(db, "SELECT COUNT(*) FROM mutes"), 1);
}

int main(void)
{
    const char *d = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s", d != NULL ? d : "/tmp");
    signal(SIGXFSZ, SIG_IGN);    /* a write past the limit fails with EFBIG instead */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_commits_keep_and_retry),
        cmocka_unit_test(unkept_rows_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
