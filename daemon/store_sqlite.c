/* store_sqlite.c - the embedded history store.
 *
 * One writer thread owns the write connection. The loop thread puts owned
 * records on a bounded queue and never waits; the writer commits them up to
 * STORE_BATCH a transaction (WAL, synchronous=NORMAL). Queries travel the
 * same queue, so a query sees every write queued before it; their rows come
 * back to the loop through a uv_async. Rollups are computed by the writer
 * from raw rows, per check, as minutes and hours close; progress is stored,
 * so a restart neither loses nor doubles a bucket.
 *
 * Alerts, mutes and the outbox are written like deploys (ids assigned on the
 * loop thread, the row replaced by id), but are never dropped when the queue
 * is full: losing one would lose or repeat a notification.
 *
 * A write is freed only once its transaction committed. A commit that fails
 * for want of space or I/O (a full disk) keeps the transaction's writes, in
 * order, in a pending list the writer retries every RETRY_MS; meanwhile the
 * store is degraded (store_health) and new writes queue behind the pending
 * ones: in memory up to storage.queue, then in the spool file, then (rows,
 * never results or events) in memory again. Deploys and mutes wait for the
 * writer: they are acknowledged only once committed or spooled. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "store_rec.h"
#include "store_spool.h"
#include "store_sqlite_int.h"
#include "store_sqlite_read.h"
#include "util.h"

#define ROLLUP_EVERY_MS 10000
#define GATHER_MS 100         /* a batch waits this long to fill before commit */
#define ROLLUP_MARGIN_MS 60000 /* a minute is rolled up once it closed a minute ago */
#define RETENTION_CHUNK 10000
#define RECENT_MAX 50000       /* results_recent is moved sooner once this long */

/* Execute SQL without results; logs and returns -EIO on failure. */
static int exec_sql(sqlite3 *db, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error(LOG_KV("store", "sqlite"), "%s: %s", what, msg != NULL ? msg : "?");
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

/* mkdir -p of the directory part of path. */
static int make_parent(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL) {
        return -ENOMEM;
    }
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            if (*p == '/' || *p == '\0') {
                char c = *p;
                *p = '\0';
                if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
                    rc = -errno;
                }
                *p = c;
                if (c == '\0') {
                    break;
                }
            }
        }
    }
    free(dir);
    return rc;
}

/* Apply pending migrations; refuse a newer schema. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                     "name TEXT NOT NULL, applied_ms INTEGER NOT NULL)",
                 "create schema_version") < 0) {
        snprintf(err, errlen, "cannot create schema_version: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    sqlite3_stmt *q;
    int current = 0;
    if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &q,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read schema version: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    if (sqlite3_step(q) == SQLITE_ROW) {
        current = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    if ((size_t)current > schema_sqlite_count) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this shipwatchd knows (%zu): "
                 "refusing to touch it",
                 current, schema_sqlite_count);
        return -EPROTO;
    }
    for (size_t i = (size_t)current; i < schema_sqlite_count; i++) {
        const struct schema_migration *m = &schema_sqlite[i];
        char *msg = NULL;
        char record[256];
        snprintf(record, sizeof(record),
                 "INSERT INTO schema_version VALUES (%d, '%s', %" PRId64 ")", m->version, m->name,
                 clock_wall_ms());
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, record, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "migration %04d_%s failed: %s", m->version, m->name,
                     msg != NULL ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -EIO;
        }
        log_info(LOG_KV("store", "sqlite"), "applied migration %04d_%s", m->version, m->name);
    }
    return 0;
}

/* Queue r for the writer. Queries and control records are never dropped;
 * writes are dropped (and counted) when the queue is full. */
static int enqueue(struct store_sqlite *s, struct rec *r, bool droppable)
{
    pthread_mutex_lock(&s->mu);
    if (droppable && s->queued >= STORE_QUEUE_MAX) {
        s->write_errors++;
        s->dropped++;
        pthread_mutex_unlock(&s->mu);
        rec_free(r);
        return -ENOBUFS;
    }
    r->next = NULL;
    if (s->tail != NULL) {
        s->tail->next = r;
    } else {
        s->head = r;
    }
    s->tail = r;
    s->queued++;
    /* Wake the writer for the first record, a full batch, or a query;
     * otherwise let the batch fill (fewer, larger transactions). */
    if (!droppable) {
        s->urgent = true;
    }
    if (s->queued == 1 || s->queued >= STORE_BATCH || !droppable) {
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* --- writer thread --- */

/* For NOT NULL columns: NULL is written as "". */
static void bind_text_or_empty(sqlite3_stmt *q, int i, const char *s)
{
    sqlite3_bind_text(q, i, s != NULL ? s : "", -1, SQLITE_TRANSIENT);
}

/* For optional times and ids: 0 is written as NULL. */
static void bind_int_or_null(sqlite3_stmt *q, int i, int64_t v)
{
    if (v != 0) {
        sqlite3_bind_int64(q, i, v);
    } else {
        sqlite3_bind_null(q, i);
    }
}

/* The id of a check name, creating it. -1 on error. */
static int64_t check_id(struct store_sqlite *s, const char *name)
{
    int64_t id = -1;
    sqlite3_reset(s->get_check);
    sqlite3_bind_text(s->get_check, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s->get_check) == SQLITE_ROW) {
        return sqlite3_column_int64(s->get_check, 0);
    }
    sqlite3_reset(s->ins_check);
    sqlite3_bind_text(s->ins_check, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s->ins_check) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(s->db);
    }
    return id;
}

/* Write a check's state row after its result. */
static void write_state(struct store_sqlite *s, int64_t id, const struct store_check_state *cs)
{
    sqlite3_stmt *q = s->up_state;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int(q, 2, (int)cs->state);
    sqlite3_bind_int(q, 3, cs->fail_streak);
    sqlite3_bind_int(q, 4, cs->ok_streak);
    sqlite3_bind_int64(q, 5, cs->state_since_ms);
    sqlite3_bind_int64(q, 6, cs->last.started_ms);
    sqlite3_bind_int64(q, 7, cs->last.duration_us);
    sqlite3_bind_int(q, 8, (int)cs->last.outcome);
    if (cs->last.status >= 0) {
        sqlite3_bind_int(q, 9, cs->last.status);
    } else {
        sqlite3_bind_null(q, 9);
    }
    bind_text_or_null(q, 10, cs->last.error);
    bind_text_or_null(q, 11, cs->last.failed_condition);
    sqlite3_bind_int64(q, 12, cs->last.cert_expiry_s);
    bind_text_or_null(q, 13, cs->last.message);
    bind_text_or_null(q, 14, cs->last.perfdata);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot update check state");
    }
}

/* Write one result and, unless it is routine, the check's state after it. */
static void write_result(struct store_sqlite *s, struct rec *r)
{
    int64_t id = check_id(s, r->check);
    if (id < 0) {
        store_sqlite_count_error(s, "cannot register check");
        return;
    }
    const struct result *res = &r->st.last;
    sqlite3_stmt *q = s->ins_result;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, res->started_ms);
    sqlite3_bind_int64(q, 3, res->duration_us);
    sqlite3_bind_int(q, 4, (int)res->outcome);
    if (res->status >= 0) {
        sqlite3_bind_int(q, 5, res->status);
    } else {
        sqlite3_bind_null(q, 5);
    }
    bind_text_or_null(q, 6, res->error);
    bind_text_or_null(q, 7, res->failed_condition);
    bind_text_or_null(q, 8, res->message);
    bind_text_or_null(q, 9, res->perfdata);
    if (res->nconds > 0) {
        sqlite3_bind_int(q, 10, res->nconds);
        sqlite3_bind_int(q, 11, res->conds_failed);
    } else {
        sqlite3_bind_null(q, 10);
        sqlite3_bind_null(q, 11);
    }
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot insert result");
        return;
    }
    s->recent_rows++;
    if (res->started_ms < s->next_minute) {
        /* Its minute is rolled up already: the next pass does it again. */
        s->late_pending = true;
        sqlite3_reset(s->ins_late);
        sqlite3_bind_int64(s->ins_late, 1, id);
        sqlite3_bind_int64(s->ins_late, 2, res->started_ms - res->started_ms % MINUTE_MS);
        if (sqlite3_step(s->ins_late) != SQLITE_DONE) {
            store_sqlite_count_error(s, "cannot mark a late result");
        }
    }
    if (!r->st.routine) {
        write_state(s, id, &r->st);
    }
    if (r->st.has_log) {
        const struct check_log_position *lp = &r->st.log;
        q = s->up_log;
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, (int64_t)lp->dev);
        sqlite3_bind_int64(q, 3, (int64_t)lp->ino);
        sqlite3_bind_int64(q, 4, lp->offset);
        sqlite3_bind_int64(q, 5, (int64_t)lp->head);
        sqlite3_bind_int(q, 6, lp->skipping);
        if (sqlite3_step(q) != SQLITE_DONE) {
            store_sqlite_count_error(s, "cannot update log position");
        }
    }
}

static void write_event(struct store_sqlite *s, struct rec *r)
{
    sqlite3_stmt *q = s->ins_event;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, r->ev.id);
    sqlite3_bind_int64(q, 2, r->ev.ts_ms);
    sqlite3_bind_text(q, 3, r->ev.type, -1, SQLITE_TRANSIENT);
    bind_text_or_null(q, 4, r->ev.check);
    bind_text_or_null(q, 5, r->ev.app);
    bind_text_or_null(q, 6, r->ev.env);
    sqlite3_bind_text(q, 7, r->ev.message != NULL ? r->ev.message : "", -1, SQLITE_TRANSIENT);
    bind_text_or_null(q, 8, r->ev.data);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot insert event");
    }
}

/* A deploy's status and verdict as ranks, so that an update only moves
 * them forward (store.h): an older or repeated write keeps what is there. */
#define STATUS_RANK(x) "(CASE " x " WHEN 'started' THEN 0 WHEN 'succeeded' THEN 1 " \
                       "WHEN 'failed' THEN 2 ELSE -1 END)"
#define VERDICT_RANK(x) "(CASE WHEN " x " IS NULL THEN 0 WHEN " x " = 'pending' THEN 1 " \
                        "ELSE 2 END)"
#define MOVED STATUS_RANK("excluded.status") " > " STATUS_RANK("deploys.status")
#define JUDGED VERDICT_RANK("excluded.verdict") " > " VERDICT_RANK("deploys.verdict")
#define NEWER(col) col " = CASE WHEN " MOVED " THEN COALESCE(excluded." col ", deploys." col \
                   ") ELSE COALESCE(deploys." col ", excluded." col ") END"
#define VERDICT(col) col " = CASE WHEN " JUDGED " THEN excluded." col " ELSE deploys." col " END"

/* Insert a deploy, or merge it into its row forward only; a new row whose
 * ext_id another row holds is not written. */
static const char put_deploy_sql[] =
    "INSERT INTO deploys (id, app, env, version, commit_sha, author, source, url, description, "
    "status, started_ms, finished_ms, verdict, verdict_reason, failing_check, rollback_version, "
    "ext_id, ref) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
    "?17, ?18 WHERE NOT EXISTS (SELECT 1 FROM deploys WHERE ext_id = ?17 AND id <> ?1) "
    "ON CONFLICT (id) DO UPDATE SET "
    "version = CASE WHEN " MOVED " THEN excluded.version ELSE deploys.version END, "
    NEWER("commit_sha") ", " NEWER("author") ", " NEWER("url") ", " NEWER("description") ", "
    NEWER("ref") ", "
    "finished_ms = CASE WHEN " MOVED " THEN COALESCE(excluded.finished_ms, deploys.finished_ms) "
    "ELSE deploys.finished_ms END, "
    "status = CASE WHEN " MOVED " THEN excluded.status ELSE deploys.status END, "
    VERDICT("verdict_reason") ", " VERDICT("failing_check") ", " VERDICT("rollback_version") ", "
    VERDICT("verdict");

/* Write a deploy (store.h: new, or merged forward only). */
static void write_deploy(struct store_sqlite *s, struct rec *r)
{
    const struct deploy *d = &r->dep;
    sqlite3_stmt *q = s->put_deploy;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, d->id);
    bind_text_or_null(q, 2, d->app);
    bind_text_or_null(q, 3, d->env);
    bind_text_or_null(q, 4, d->version);
    bind_text_or_null(q, 5, d->commit);
    bind_text_or_null(q, 6, d->author);
    bind_text_or_null(q, 7, d->source);
    bind_text_or_null(q, 8, d->url);
    bind_text_or_null(q, 9, d->description);
    bind_text_or_null(q, 10, d->status);
    sqlite3_bind_int64(q, 11, d->started_ms);
    if (d->finished_ms > 0) {
        sqlite3_bind_int64(q, 12, d->finished_ms);
    } else {
        sqlite3_bind_null(q, 12);
    }
    bind_text_or_null(q, 13, d->verdict);
    bind_text_or_null(q, 14, d->verdict_reason);
    bind_text_or_null(q, 15, d->failing_check);
    bind_text_or_null(q, 16, d->rollback_version);
    bind_text_or_null(q, 17, d->ext_id);
    bind_text_or_null(q, 18, d->ref);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot write deploy");
    }
}

/* Insert or replace an alert by id. */
static void write_alert(struct store_sqlite *s, struct rec *r)
{
    const struct alert *a = &r->alert;
    sqlite3_stmt *q = s->put_alert;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, a->id);
    bind_text_or_empty(q, 2, a->kind);
    bind_text_or_null(q, 3, a->check);
    bind_text_or_null(q, 4, a->app);
    bind_text_or_null(q, 5, a->env);
    bind_text_or_empty(q, 6, a->severity);
    bind_text_or_empty(q, 7, a->status);
    bind_text_or_empty(q, 8, a->summary);
    sqlite3_bind_int64(q, 9, a->started_ms);
    bind_int_or_null(q, 10, a->resolved_ms);
    bind_text_or_null(q, 11, a->ack_by);
    bind_int_or_null(q, 12, a->ack_ms);
    bind_text_or_null(q, 13, a->ack_comment);
    bind_text_or_null(q, 14, a->muted_by);
    bind_int_or_null(q, 15, a->deploy_id);
    bind_int_or_null(q, 16, a->last_notified_ms);
    sqlite3_bind_int64(q, 17, a->notifications);
    bind_text_or_null(q, 18, a->deploy_info);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot write alert");
    }
}

/* Insert or replace a mute by id. */
static void write_mute(struct store_sqlite *s, struct rec *r)
{
    const struct mute *m = &r->mute;
    sqlite3_stmt *q = s->put_mute;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, m->id);
    bind_text_or_empty(q, 2, m->kind);
    bind_text_or_null(q, 3, m->check);
    bind_text_or_null(q, 4, m->app);
    bind_text_or_null(q, 5, m->env);
    bind_text_or_null(q, 6, m->severity);
    sqlite3_bind_int64(q, 7, m->starts_ms);
    sqlite3_bind_int64(q, 8, m->ends_ms);
    bind_text_or_null(q, 9, m->author);
    bind_text_or_null(q, 10, m->comment);
    sqlite3_bind_int64(q, 11, m->created_ms);
    if (m->alert_id > 0) {
        sqlite3_bind_int64(q, 12, m->alert_id);
    } else {
        sqlite3_bind_null(q, 12);
    }
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot write mute");
    }
}

/* Insert or replace an outbox row by id. */
static void write_outbox(struct store_sqlite *s, struct rec *r)
{
    const struct outbox_item *o = &r->outbox;
    sqlite3_stmt *q = s->put_outbox;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, o->id);
    sqlite3_bind_int64(q, 2, o->alert_id);
    bind_text_or_empty(q, 3, o->notifier);
    bind_text_or_empty(q, 4, o->payload);
    sqlite3_bind_int64(q, 5, o->created_ms);
    sqlite3_bind_int64(q, 6, o->attempts);
    sqlite3_bind_int64(q, 7, o->next_ms);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot write outbox row");
    }
}

static void delete_outbox(struct store_sqlite *s, struct rec *r)
{
    sqlite3_stmt *q = s->del_outbox;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, r->outbox_id);
    if (sqlite3_step(q) != SQLITE_DONE) {
        store_sqlite_count_error(s, "cannot delete outbox row");
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Two integers of one hour row of check id, by sql (bound to id and ts),
 * into v; 0 and 0 when there is none. Returns 0 or -EIO. */
static int hour_pair(struct store_sqlite *s, const char *sql, int64_t id, int64_t ts,
                     int64_t v[2])
{
    sqlite3_stmt *q;
    v[0] = v[1] = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, ts);
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        v[0] = sqlite3_column_int64(q, 0);
        v[1] = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* The running totals of a check through its last hour before ts. */
#define HOUR_TOTALS_BEFORE                                                                         \
    "SELECT total_count, total_failures FROM rollups_hour WHERE check_id = ?1 "                    \
    "AND bucket_ts < ?2 ORDER BY bucket_ts DESC LIMIT 1"
/* The count and failures of a check's hour. */
#define HOUR_COUNTS "SELECT count, failures FROM rollups_hour WHERE check_id = ?1 AND bucket_ts = ?2"

/* Aggregate raw rows of one check in [from, to) into buckets of width
 * bucket_ms, written to table; hours carry the check's running totals.
 * Returns 0 or -EIO. */
static int rollup_check(struct store_sqlite *s, int64_t id, int64_t from, int64_t to,
                        int64_t bucket_ms, const char *table, int64_t **buf, size_t *cap)
{
    sqlite3_stmt *q = NULL, *ins = NULL;
    const bool hourly = bucket_ms == HOUR_MS;
    int64_t totals[2] = {0, 0};
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO %s VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8%s)", table,
             hourly ? ", ?9, ?10" : "");
    if (sqlite3_prepare_v2(s->db,
                           "SELECT ts, duration_us, outcome FROM results_by_check WHERE check_id = ?1 "
                           "AND ts >= ?2 AND ts < ?3 ORDER BY ts",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, sql, -1, &ins, NULL) != SQLITE_OK ||
        (hourly && hour_pair(s, HOUR_TOTALS_BEFORE, id, from, totals) < 0)) {
        sqlite3_finalize(q);
        sqlite3_finalize(ins);
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, from);
    sqlite3_bind_int64(q, 3, to);
    int64_t bucket = INT64_MIN, failures = 0, sum = 0;
    size_t n = 0;
    int rc = 0;
    for (;;) {
        int step = sqlite3_step(q);
        int64_t ts = 0, lat = 0;
        if (step == SQLITE_ROW) {
            ts = sqlite3_column_int64(q, 0);
            lat = sqlite3_column_int64(q, 1);
        } else if (step != SQLITE_DONE) {
            rc = -EIO;
            break;
        }
        int64_t b = step == SQLITE_ROW ? ts - ts % bucket_ms : INT64_MAX;
        if (b != bucket && n > 0) {
            qsort(*buf, n, sizeof(**buf), cmp_i64);
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, id);
            sqlite3_bind_int64(ins, 2, bucket);
            sqlite3_bind_int64(ins, 3, (int64_t)n);
            sqlite3_bind_int64(ins, 4, failures);
            sqlite3_bind_int64(ins, 5, (*buf)[0]);
            sqlite3_bind_int64(ins, 6, sum / (int64_t)n);
            sqlite3_bind_int64(ins, 7, (*buf)[(n * 95 + 99) / 100 - 1]);
            sqlite3_bind_int64(ins, 8, (*buf)[n - 1]);
            totals[0] += (int64_t)n;
            totals[1] += failures;
            if (hourly) {
                sqlite3_bind_int64(ins, 9, totals[0]);
                sqlite3_bind_int64(ins, 10, totals[1]);
            }
            if (sqlite3_step(ins) != SQLITE_DONE) {
                rc = -EIO;
                break;
            }
            n = 0;
            failures = 0;
            sum = 0;
        }
        if (step != SQLITE_ROW) {
            break;
        }
        bucket = b;
        if (n == *cap) {
            size_t nc = *cap ? *cap * 2 : 1024;
            int64_t *v = realloc(*buf, nc * sizeof(*v));
            if (v == NULL) {
                rc = -ENOMEM;
                break;
            }
            *buf = v;
            *cap = nc;
        }
        (*buf)[n++] = lat;
        sum += lat;
        failures += sqlite3_column_int(q, 2) != STATE_UP;
    }
    sqlite3_finalize(q);
    sqlite3_finalize(ins);
    return rc;
}

/* Roll up [from, to) for every check into table. */
static int rollup_range(struct store_sqlite *s, int64_t from, int64_t to, int64_t bucket_ms,
                        const char *table)
{
    sqlite3_stmt *ids;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM checks", -1, &ids, NULL) != SQLITE_OK) {
        return -EIO;
    }
    int64_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && sqlite3_step(ids) == SQLITE_ROW) {
        rc = rollup_check(s, sqlite3_column_int64(ids, 0), from, to, bucket_ms, table, &buf,
                          &cap);
    }
    sqlite3_finalize(ids);
    free(buf);
    return rc;
}

/* Recompute the day rows of every day that has an hour in [from, to), of
 * one check (or every one: check 0), from all the hours of those days:
 * idempotent, so a pass that failed half way is simply done again.
 * Returns 0 or -EIO. */
static int rollup_days(struct store_sqlite *s, int64_t check, int64_t from, int64_t to)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO rollups_day "
                           "SELECT h.check_id, h.bucket_ts - h.bucket_ts % 86400000, sum(h.count), "
                           "sum(h.failures), min(h.lat_min_us), "
                           "sum(h.lat_avg_us * h.count) / sum(h.count), max(h.lat_p95_us), "
                           "max(h.lat_max_us) FROM checks c JOIN rollups_hour h "
                           "ON h.check_id = c.id AND h.bucket_ts >= ?1 AND h.bucket_ts < ?2 "
                           "WHERE ?3 = 0 OR c.id = ?3 GROUP BY 1, 2",
                           -1, &q, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, from - from % DAY_MS);
    sqlite3_bind_int64(q, 2, to);
    sqlite3_bind_int64(q, 3, check);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(q);
    return rc;
}

/* Recompute check id's closed hour h from its raw rows, move the running
 * totals of its later hours by what h gained, and recompute h's day. */
static int rollup_late_hour(struct store_sqlite *s, int64_t id, int64_t h, int64_t **buf,
                            size_t *cap)
{
    int64_t old[2], now[2];
    sqlite3_stmt *q;
    if (hour_pair(s, HOUR_COUNTS, id, h, old) < 0 ||
        rollup_check(s, id, h, h + HOUR_MS, HOUR_MS, "rollups_hour", buf, cap) < 0 ||
        hour_pair(s, HOUR_COUNTS, id, h, now) < 0 ||
        sqlite3_prepare_v2(s->db,
                           "UPDATE rollups_hour SET total_count = total_count + ?3, "
                           "total_failures = total_failures + ?4 "
                           "WHERE check_id = ?1 AND bucket_ts > ?2",
                           -1, &q, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, h);
    sqlite3_bind_int64(q, 3, now[0] - old[0]);
    sqlite3_bind_int64(q, 4, now[1] - old[1]);
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(q);
    return rc == 0 ? rollup_days(s, id, h, h - h % DAY_MS + DAY_MS) : rc;
}

/* Fold in the results written after their minute was rolled up: each such
 * minute again, and its hour and day when closed. Minutes of hours not yet
 * closed are left for their hour's own pass. Returns 0 or -EIO. */
static int rollup_late(struct store_sqlite *s, int64_t minute_end, int64_t hour_end)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT check_id, bucket_ts FROM rollup_late WHERE bucket_ts < ?1 "
                           "ORDER BY 1, 2",
                           -1, &q, NULL) != SQLITE_OK) {
        return -EIO;
    }
    sqlite3_bind_int64(q, 1, minute_end);
    int64_t *buf = NULL, last_id = -1, last_hour = -1;
    size_t cap = 0;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0), m = sqlite3_column_int64(q, 1);
        int64_t h = m - m % HOUR_MS;
        rc = rollup_check(s, id, m, m + MINUTE_MS, MINUTE_MS, "rollups_minute", &buf, &cap);
        if (rc == 0 && h < hour_end && (id != last_id || h != last_hour)) {
            rc = rollup_late_hour(s, id, h, &buf, &cap);
        }
        last_id = id;
        last_hour = h;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = -EIO;
    }
    sqlite3_finalize(q);
    free(buf);
    if (rc == 0) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM rollup_late WHERE bucket_ts < %" PRId64,
                 minute_end);
        rc = exec_sql(s->db, sql, "late rollups");
    }
    return rc;
}

/* Move one recent row (the current row of s->sel_recent) into
 * results_by_check. Two results of one check in the same millisecond (a
 * heartbeat ping beside a scheduled run): the later one moves by a
 * millisecond. A row that cannot go in after that is dropped and counted;
 * 0, or -EIO when the database failed. */
static int move_row(struct store_sqlite *s)
{
    sqlite3_stmt *from = s->sel_recent, *to = s->ins_sorted;
    int rc = SQLITE_CONSTRAINT;
    for (int64_t bump = 0; bump < 8 && rc == SQLITE_CONSTRAINT; bump++) {
        sqlite3_reset(to);
        for (int i = 0; i < 11; i++) {
            sqlite3_bind_value(to, i + 1, sqlite3_column_value(from, i));
        }
        sqlite3_bind_int64(to, 2, sqlite3_column_int64(from, 1) + bump);
        rc = sqlite3_step(to);
    }
    if (rc == SQLITE_CONSTRAINT) {
        store_sqlite_count_error(s, "cannot insert result");
        return 0;
    }
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Move results_recent into results_by_check, a check's rows together, in
 * one transaction: each check's page is written once for all its rows of
 * the last seconds. 0, or -EIO with nothing moved. */
static int move_recent(struct store_sqlite *s)
{
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        store_sqlite_count_error(s, "cannot move recent results");
        return -EIO;
    }
    sqlite3_stmt *q = s->sel_recent;
    sqlite3_reset(q);
    int rc = 0, step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        rc = move_row(s);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = -EIO;
    }
    sqlite3_reset(q);
    if (rc == 0 && (exec_sql(s->db, "DELETE FROM results_recent", "move recent results") < 0 ||
                    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)) {
        rc = -EIO;
    }
    if (rc < 0) {
        if (!sqlite3_get_autocommit(s->db)) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
        store_sqlite_count_error(s, "cannot move recent results");
    }
    s->recent_rows = 0;         /* a failed move is tried again by the next rollup */
    return rc;
}

/* Roll up every minute and hour that has closed since the last pass. */
static void rollup(struct store_sqlite *s, int64_t now_ms)
{
    /* Rollups read the clustered table only: what is recent goes there
     * first, or nothing is rolled up this pass. */
    if (move_recent(s) < 0) {
        return;
    }
    int64_t minute_end = (now_ms - ROLLUP_MARGIN_MS) / MINUTE_MS * MINUTE_MS;
    int64_t hour_end = (now_ms - ROLLUP_MARGIN_MS) / HOUR_MS * HOUR_MS;
    if (s->next_minute == 0) {
        /* First pass on an empty store: start from the oldest raw row. */
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(s->db, "SELECT MIN(ts) FROM results_by_check", -1, &q, NULL) == SQLITE_OK) {
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
                int64_t t = sqlite3_column_int64(q, 0);
                s->next_minute = t - t % MINUTE_MS;
                s->next_hour = t - t % HOUR_MS;
            }
            sqlite3_finalize(q);
        }
        if (s->next_minute == 0) {
            return;
        }
    }
    if (minute_end <= s->next_minute && hour_end <= s->next_hour && !s->late_pending) {
        return;
    }
    store_sqlite_txn_begin(s);
    int rc = 0;
    if (minute_end > s->next_minute) {
        rc = rollup_range(s, s->next_minute, minute_end, MINUTE_MS, "rollups_minute");
    }
    if (rc == 0 && hour_end > s->next_hour) {
        rc = rollup_range(s, s->next_hour, hour_end, HOUR_MS, "rollups_hour");
        if (rc == 0) {
            rc = rollup_days(s, 0, s->next_hour, hour_end);
        }
    }
    int64_t nm = minute_end > s->next_minute ? minute_end : s->next_minute;
    int64_t nh = hour_end > s->next_hour ? hour_end : s->next_hour;
    if (rc == 0 && s->late_pending) {
        rc = rollup_late(s, nm, nh);
        s->late_pending = rc < 0;
    }
    if (rc == 0) {
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "INSERT OR REPLACE INTO rollup_progress VALUES (1, %" PRId64 ", %" PRId64 ")",
                 nm, nh);
        if (exec_sql(s->db, sql, "rollup progress") == 0) {
            s->next_minute = nm;
            s->next_hour = nh;
        }
    } else {
        store_sqlite_count_error(s, "rollup failed");
    }
    store_sqlite_txn_commit(s);
}

/* Delete rows older than the retention, in chunks. */
static void retention(struct store_sqlite *s, int64_t now_ms)
{
    int64_t raw_before = now_ms - s->base.retention_raw_ms;
    int64_t roll_before = now_ms - s->base.retention_rollups_ms;
    static const char *const per_check[] = {
        "DELETE FROM results_by_check WHERE check_id = ?1 AND ts < ?2",
        "DELETE FROM rollups_minute WHERE check_id = ?1 AND bucket_ts < ?3",
        "DELETE FROM rollups_hour WHERE check_id = ?1 AND bucket_ts < ?3",
        "DELETE FROM rollups_day WHERE check_id = ?1 AND bucket_ts < ?3",
    };
    move_recent(s);             /* recent rows are judged like the rest */
    sqlite3_stmt *ids;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM checks", -1, &ids, NULL) != SQLITE_OK) {
        store_sqlite_count_error(s, "retention");
        return;
    }
    int64_t deleted = 0;
    while (sqlite3_step(ids) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(ids, 0);
        store_sqlite_txn_begin(s);
        for (size_t i = 0; i < ARRAY_SIZE(per_check); i++) {
            sqlite3_stmt *q;
            if (sqlite3_prepare_v2(s->db, per_check[i], -1, &q, NULL) != SQLITE_OK) {
                store_sqlite_count_error(s, "retention");
                continue;
            }
            sqlite3_bind_int64(q, 1, id);
            sqlite3_bind_int64(q, 2, raw_before);
            sqlite3_bind_int64(q, 3, roll_before);
            if (sqlite3_step(q) == SQLITE_DONE) {
                deleted += sqlite3_changes(s->db);
            }
            sqlite3_finalize(q);
        }
        store_sqlite_txn_commit(s);
    }
    sqlite3_finalize(ids);
    /* Events go with the rollups, a chunk a transaction. */
    for (int changes = RETENTION_CHUNK; changes >= RETENTION_CHUNK;) {
        sqlite3_stmt *q;
        changes = 0;
        if (sqlite3_prepare_v2(s->db,
                               "DELETE FROM events WHERE id IN (SELECT id FROM events "
                               "WHERE ts < ?1 LIMIT 10000)",
                               -1, &q, NULL) != SQLITE_OK) {
            break;
        }
        sqlite3_bind_int64(q, 1, roll_before);
        if (sqlite3_step(q) == SQLITE_DONE) {
            changes = sqlite3_changes(s->db);
            deleted += changes;
        }
        sqlite3_finalize(q);
    }
    /* Resolved alerts and mutes over go with the rollups too; an open alert
     * stays however old it is. */
    static const char *const alerting[] = {
        "DELETE FROM alerts WHERE status = 'resolved' AND resolved < ?1",
        "DELETE FROM mutes WHERE ends < ?1",
    };
    store_sqlite_txn_begin(s);
    for (size_t i = 0; i < ARRAY_SIZE(alerting); i++) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(s->db, alerting[i], -1, &q, NULL) != SQLITE_OK) {
            store_sqlite_count_error(s, "retention");
            continue;
        }
        sqlite3_bind_int64(q, 1, roll_before);
        if (sqlite3_step(q) == SQLITE_DONE) {
            deleted += sqlite3_changes(s->db);
        } else {
            store_sqlite_count_error(s, "retention");
        }
        sqlite3_finalize(q);
    }
    store_sqlite_txn_commit(s);
    char n[24];
    snprintf(n, sizeof(n), "%" PRId64, deleted);
    log_info(LOG_KV("store", "sqlite", "deleted", n), "retention: %s old rows deleted", n);
}

/* Hand a finished query back to the loop. */
static void complete(struct store_sqlite *s, struct rec *r)
{
    pthread_mutex_lock(&s->mu);
    r->next = s->done_head;
    s->done_head = r;
    pthread_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
}

/* The writer of each kind of write record; NULL for queries and control. */
static void (*const writers[])(struct store_sqlite *s, struct rec *r) = {
    [REC_RESULT] = write_result, [REC_EVENT] = write_event,   [REC_DEPLOY] = write_deploy,
    [REC_ALERT] = write_alert,   [REC_MUTE] = write_mute,     [REC_OUTBOX] = write_outbox,
    [REC_OUTBOX_DELETE] = delete_outbox,
};

/* Whether r is a write (kept until committed) rather than a query. */
static bool is_write(const struct rec *r)
{
    return (size_t)r->kind < ARRAY_SIZE(writers) && writers[r->kind] != NULL;
}

/* Write r in the open transaction and keep it until the commit; once a
 * statement failed, the rest of the transaction is only kept. */
void store_sqlite_write_rec(struct store_sqlite *s, struct rec *r)
{
    store_sqlite_txn_begin(s);
    if (!s->in_txn) {
        store_sqlite_keep(s, r);
        return;
    }
    if (!s->txn_failed) {
        writers[r->kind](s, r);
    }
    store_sqlite_list_add(&s->txn_head, &s->txn_tail, r);
}

/* The writer: batches of writes in one transaction; queries in order;
 * writes kept after a failed commit are retried first. */
static void *writer_main(void *arg)
{
    struct store_sqlite *s = arg;
    bool stop = false;
    while (!stop) {
        pthread_mutex_lock(&s->mu);
        if (s->head == NULL) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
        }
        if (s->head != NULL && s->queued < STORE_BATCH && !s->urgent) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += GATHER_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (s->queued < STORE_BATCH && !s->urgent &&
                   pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
            }
        }
        s->urgent = false;
        bool waited_for = s->sync_rec != NULL && s->sync_rc == 1;
        struct rec *batch = s->head;
        size_t n = 0;
        struct rec *last = NULL;
        for (struct rec *r = batch; r != NULL && n < STORE_BATCH; r = r->next) {
            last = r;
            n++;
        }
        if (last != NULL) {
            s->head = last->next;
            if (s->head == NULL) {
                s->tail = NULL;
            }
            last->next = NULL;
            s->queued -= n;
        }
        pthread_mutex_unlock(&s->mu);

        if (s->pend_head != NULL && (waited_for || clock_wall_ms() >= s->next_retry_ms)) {
            store_sqlite_retry(s);
        }
        for (struct rec *r = batch, *next; r != NULL; r = next) {
            next = r->next;
            if (is_write(r)) {
                if (s->pend_head != NULL || s->sp.active) {
                    store_sqlite_keep(s, r);
                } else {
                    store_sqlite_write_rec(s, r);
                }
                continue;
            }
            switch (r->kind) {
            case REC_HISTORY:
                store_sqlite_txn_commit(s);
                store_sqlite_read_history(s->db, r);
                complete(s, r);
                break;
            case REC_EVENTS:
                store_sqlite_txn_commit(s);
                store_sqlite_read_events(s->db, r);
                complete(s, r);
                break;
            case REC_DEPLOYS:
                store_sqlite_txn_commit(s);
                store_sqlite_read_deploys(s->db, r);
                complete(s, r);
                break;
            case REC_STATS:
                store_sqlite_txn_commit(s);
                store_sqlite_read_stats(s->db, s->next_hour, r);
                complete(s, r);
                break;
            case REC_RETENTION:
                store_sqlite_txn_commit(s);
                if (s->pend_head == NULL) {
                    retention(s, r->now_ms);
                }
                rec_free(r);
                break;
            case REC_ALERTS:
                store_sqlite_txn_commit(s);
                store_sqlite_read_alerts(s->db, r);
                complete(s, r);
                break;
            case REC_LOAD_ALERTING:
                /* The caller waits for it and frees it. */
                store_sqlite_txn_commit(s);
                store_sqlite_read_load_alerting(s->db, r);
                pthread_mutex_lock(&s->mu);
                r->loaded = true;
                pthread_cond_broadcast(&s->loaded_cv);
                pthread_mutex_unlock(&s->mu);
                break;
            case REC_STOP:
                stop = true;
                rec_free(r);
                break;
            default:
                rec_free(r);
                break;
            }
        }
        store_sqlite_txn_commit(s);
        if (!s->degraded || clock_wall_ms() >= s->next_retry_ms) {
            store_sqlite_drain_spool(s);
        }
        int64_t now = clock_wall_ms();
        if (s->pend_head == NULL && (stop || now - s->last_rollup_ms >= ROLLUP_EVERY_MS)) {
            s->last_rollup_ms = now;
            rollup(s, now);
        } else if (s->pend_head == NULL && s->recent_rows >= RECENT_MAX) {
            /* A burst (a spool replayed, a fast rate) is moved before it
             * makes every history read sort it. */
            move_recent(s);
        }
        store_sqlite_publish(s);
    }
    store_sqlite_flush(s);
    return NULL;
}

/* On the loop: run the callbacks of finished queries. */
static void on_async(uv_async_t *h)
{
    struct store_sqlite *s = h->data;
    pthread_mutex_lock(&s->mu);
    struct rec *r = s->done_head;
    s->done_head = NULL;
    pthread_mutex_unlock(&s->mu);
    while (r != NULL) {
        struct rec *next = r->next;
        if (r->kind == REC_HISTORY) {
            r->hfn(r->err, r->hrows, r->nh, r->arg);
        } else if (r->kind == REC_DEPLOYS) {
            r->dfn(r->err, r->drows, r->nd, r->arg);
        } else if (r->kind == REC_STATS) {
            r->sfn(r->err, r->srows, r->ns, r->arg);
        } else if (r->kind == REC_ALERTS) {
            r->afn(r->err, r->arows, r->na, r->arg);
        } else {
            r->efn(r->err, r->erows, r->ne, r->arg);
        }
        rec_free(r);
        r = next;
    }
}

/* --- ops --- */

static void sqlite_close(struct store *st)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    if (s->thread_started) {
        struct rec *r = rec_new(REC_STOP);
        if (r != NULL) {
            enqueue(s, r, false);
        }
        pthread_join(s->thread, NULL);
    }
    /* Queries that finished but were never delivered are dropped. */
    for (struct rec *r = s->done_head, *next; r != NULL; r = next) {
        next = r->next;
        rec_free(r);
    }
    store_sqlite_list_free(s->head);
    store_sqlite_list_free(s->txn_head);
    store_sqlite_list_free(s->pend_head);
    store_sqlite_list_free(s->held_head);
    store_spool_finish(&s->sp);
    sqlite3_finalize(s->ins_result);
    sqlite3_finalize(s->sel_recent);
    sqlite3_finalize(s->ins_sorted);
    sqlite3_finalize(s->up_state);
    sqlite3_finalize(s->ins_event);
    sqlite3_finalize(s->get_check);
    sqlite3_finalize(s->ins_check);
    sqlite3_finalize(s->put_deploy);
    sqlite3_finalize(s->put_alert);
    sqlite3_finalize(s->put_mute);
    sqlite3_finalize(s->put_outbox);
    sqlite3_finalize(s->up_log);
    sqlite3_finalize(s->del_outbox);
    sqlite3_finalize(s->ins_late);
    if (s->db != NULL) {
        if (s->thread_started) {
            exec_sql(s->db, "PRAGMA optimize", "optimize");
        }
        if (sqlite3_close(s->db) != SQLITE_OK) {
            log_error(LOG_KV("store", "sqlite"), "close: %s", sqlite3_errmsg(s->db));
        }
    }
    if (s->async_started && !uv_is_closing((uv_handle_t *)&s->async)) {
        uv_close((uv_handle_t *)&s->async, NULL);
        uv_run(s->base.loop, UV_RUN_NOWAIT);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->loaded_cv);
    free(s->path);
    free(s);
}

static int sqlite_load_states(struct store *st, store_state_fn fn, void *arg)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    /* At start-up, before anything is queued; the connection is serialized
     * (SQLITE_OPEN_FULLMUTEX) in any case. */
    return store_sqlite_read_states(s->db, fn, arg);
}

/* Log dropped writes, at most once per thousand. */
static void note_drop(struct store_sqlite *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->write_errors;
    pthread_mutex_unlock(&s->mu);
    if (n >= s->dropped_logged + 1000 || s->dropped_logged == 0) {
        s->dropped_logged = n;
        log_error(LOG_KV("store", "sqlite"), "write queue full (%d): dropping writes",
                  STORE_QUEUE_MAX);
    }
}

/* Queue a write that a full queue may drop; r NULL (out of memory) is
 * dropped too. */
static void put_droppable(struct store_sqlite *s, struct rec *r)
{
    if (r != NULL && enqueue(s, r, true) < 0) {
        note_drop(s);
    }
}

/* Queue a query record; NULL (out of memory) is -ENOMEM. */
static int query_put(struct store *st, struct rec *r)
{
    return r != NULL ? enqueue((struct store_sqlite *)st, r, false) : -ENOMEM;
}

static void sqlite_put_result(struct store *st, const struct store_check_state *cs)
{
    put_droppable((struct store_sqlite *)st, rec_new_result(cs));
}

static int64_t sqlite_put_event(struct store *st, const struct event *ev)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int64_t id = s->next_event_id++;
    put_droppable(s, rec_new_event(ev, id));
    return id;
}

static int sqlite_history(struct store *st, const struct store_history_query *q,
                          store_history_fn fn, void *arg)
{
    return query_put(st, rec_new_history(q, fn, arg));
}

static int sqlite_events(struct store *st, const struct store_event_query *q,
                         store_events_fn fn, void *arg)
{
    return query_put(st, rec_new_events(q, fn, arg));
}

static int64_t put_row(struct store_sqlite *s, struct rec *r, const char *what, int64_t id);

/* Queue r and wait until the writer committed or spooled it: 0, or
 * -ENOSPC (or -ENOMEM) when it cannot be kept. */
static int put_sync(struct store_sqlite *s, struct rec *r)
{
    if (r == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    while (s->sync_rec != NULL) {
        pthread_cond_wait(&s->loaded_cv, &s->mu);
    }
    s->sync_rec = r;
    s->sync_rc = 1;
    pthread_mutex_unlock(&s->mu);
    enqueue(s, r, false);
    pthread_mutex_lock(&s->mu);
    while (s->sync_rc == 1) {
        pthread_cond_wait(&s->loaded_cv, &s->mu);
    }
    int rc = s->sync_rc;
    s->sync_rec = NULL;
    s->sync_rc = 0;
    pthread_cond_broadcast(&s->loaded_cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A new deploy is someone's record of what shipped: acknowledged only
 * once kept (committed or spooled); 0 when it cannot be, the reason in
 * errstr, so the sender tries again. An update of a stored one (a verdict,
 * a later status; merged forward only) is queued and kept like an alert. */
static int64_t sqlite_put_deploy(struct store *st, const struct deploy *dep)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    if (dep->id > 0) {
        return put_row(s, rec_new_deploy(dep, dep->id), "deploy", dep->id);
    }
    int64_t id = s->next_deploy_id++;
    return put_sync(s, rec_new_deploy(dep, id)) == 0 ? id : 0;
}

static int sqlite_deploys(struct store *st, const struct store_deploy_query *q,
                          store_deploys_fn fn, void *arg)
{
    return query_put(st, rec_new_deploys(q, fn, arg));
}

static int sqlite_check_stats(struct store *st, const struct store_stats_query *q,
                              store_check_stats_fn fn, void *arg)
{
    return query_put(st, rec_new_check_stats(q, fn, arg));
}

static void sqlite_retention(struct store *st, int64_t now_ms)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct rec *r = rec_new(REC_RETENTION);
    if (r != NULL) {
        r->now_ms = now_ms;
        enqueue(s, r, false);
    }
}

/* The next id of a sequence for a new row (id 0), or the row's own id for a
 * replacement, moving the sequence past it. */
static int64_t take_id(int64_t *next, int64_t id)
{
    if (id <= 0) {
        return (*next)++;
    }
    if (id >= *next) {
        *next = id + 1;
    }
    return id;
}

/* Queue a row write; r NULL (out of memory) is logged and counted.
 * Returns id. */
static int64_t put_row(struct store_sqlite *s, struct rec *r, const char *what, int64_t id)
{
    if (r == NULL) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRId64, id);
        log_error(LOG_KV("store", "sqlite", "id", n), "out of memory: %s %s not written", what,
                  n);
        pthread_mutex_lock(&s->mu);
        s->write_errors++;
        pthread_mutex_unlock(&s->mu);
        return id;
    }
    enqueue(s, r, false);
    return id;
}

/* Synchronous: the writer reads the rows (after every write queued before)
 * while the loop thread waits; the callbacks then run here, on the loop
 * thread, with rows owned by the record and freed after them. */
static int sqlite_load_alerting(struct store *st, int64_t now_ms,
                                const struct store_alerting_load *l)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    struct rec *r = rec_new(REC_LOAD_ALERTING);
    if (r == NULL) {
        return -ENOMEM;
    }
    r->now_ms = now_ms;
    int rc = enqueue(s, r, false);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    while (!r->loaded) {
        pthread_cond_wait(&s->loaded_cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    rc = r->err;
    if (rc == 0) {
        for (size_t i = 0; i < r->na && l->alert != NULL; i++) {
            l->alert(&r->arows[i], l->arg);
        }
        for (size_t i = 0; i < r->nm && l->mute != NULL; i++) {
            l->mute(&r->mrows[i], l->arg);
        }
        for (size_t i = 0; i < r->no && l->outbox != NULL; i++) {
            l->outbox(&r->orows[i], l->arg);
        }
    }
    rec_free(r);
    return rc;
}

/* Alerts, mutes, outbox rows and their removal are never dropped: a full
 * queue grows past STORE_QUEUE_MAX for them, as for queries. */
static int64_t sqlite_put_alert(struct store *st, const struct alert *a)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int64_t id = take_id(&s->next_alert_id, a->id);
    return put_row(s, rec_new_alert(a, id), "alert", id);
}

/* A new mute, like a new deploy, is acknowledged only once kept (0
 * otherwise); its end (an update) is kept like an alert. */
static int64_t sqlite_put_mute(struct store *st, const struct mute *m)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int64_t id = take_id(&s->next_mute_id, m->id);
    if (m->id > 0) {
        return put_row(s, rec_new_mute(m, id), "mute", id);
    }
    return put_sync(s, rec_new_mute(m, id)) == 0 ? id : 0;
}

static int64_t sqlite_put_outbox(struct store *st, const struct outbox_item *o)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    int64_t id = take_id(&s->next_outbox_id, o->id);
    return put_row(s, rec_new_outbox(o, id), "outbox row", id);
}

static void sqlite_delete_outbox(struct store *st, int64_t id)
{
    put_row((struct store_sqlite *)st, rec_new_outbox_delete(id), "outbox removal", id);
}

static int sqlite_alerts(struct store *st, const struct store_alert_query *q,
                         store_alerts_fn fn, void *arg)
{
    return query_put(st, rec_new_alerts(q, fn, arg));
}

static void sqlite_stats(struct store *st, size_t *queue_length, uint64_t *write_errors)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    pthread_mutex_lock(&s->mu);
    *queue_length = s->queued + s->waiting;
    *write_errors = s->write_errors;
    pthread_mutex_unlock(&s->mu);
}

/* Degraded while commits fail (a full disk), with what waits. */
static void sqlite_health(struct store *st, struct store_health *h)
{
    struct store_sqlite *s = (struct store_sqlite *)st;
    pthread_mutex_lock(&s->mu);
    h->degraded = s->degraded;
    snprintf(h->reason, sizeof(h->reason), "%s", s->degraded ? s->reason : "");
    h->since_ms = s->degraded ? s->since_ms : 0;
    h->queued = s->queued + s->waiting;
    h->spooled_bytes = s->spooled;
    h->dropped = s->dropped;
    pthread_mutex_unlock(&s->mu);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .load_states = sqlite_load_states,
    .put_result = sqlite_put_result,
    .put_event = sqlite_put_event,
    .history = sqlite_history,
    .events = sqlite_events,
    .put_deploy = sqlite_put_deploy,
    .deploys = sqlite_deploys,
    .check_stats = sqlite_check_stats,
    .retention = sqlite_retention,
    .load_alerting = sqlite_load_alerting,
    .put_alert = sqlite_put_alert,
    .alerts = sqlite_alerts,
    .put_mute = sqlite_put_mute,
    .put_outbox = sqlite_put_outbox,
    .delete_outbox = sqlite_delete_outbox,
    .stats = sqlite_stats,
    .health = sqlite_health,
};

/* Read one integer with a query; def when there is no row. */
static int64_t query_int(sqlite3 *db, const char *sql, int64_t def)
{
    sqlite3_stmt *q;
    int64_t v = def;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
            v = sqlite3_column_int64(q, 0);
        }
        sqlite3_finalize(q);
    }
    return v;
}

/* The id after the largest an AUTOINCREMENT table ever held: sqlite_sequence
 * remembers it after the row is deleted, so an id is never handed out twice. */
static int64_t next_autoincrement_id(sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT MAX(COALESCE((SELECT MAX(id) FROM %s), 0), COALESCE((SELECT seq FROM "
             "sqlite_sequence WHERE name = '%s'), 0))",
             table, table);
    return query_int(db, sql, 0) + 1;
}

/* Open the SQLite store: file, pragmas, migrations, statements, writer. */
int store_sqlite_open(uv_loop_t *loop, const struct config *conf, struct store **out,
                      char *errbuf, size_t errlen)
{
    struct store_sqlite *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    s->base.ops = &sqlite_ops;
    s->base.loop = loop;
    s->base.retention_raw_ms = conf->storage.retention_raw_ms;
    s->base.retention_rollups_ms = conf->storage.retention_rollups_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->loaded_cv, NULL);
    store_spool_init(&s->sp, conf->storage.spool != NULL ? strdup(conf->storage.spool) : NULL,
                     "sqlite");
    s->pend_max = conf->storage.queue > 0 ? (size_t)conf->storage.queue : STORE_QUEUE_MAX;
    s->spool_max = conf->storage.spool_max_bytes > 0 ? (uint64_t)conf->storage.spool_max_bytes
                                                     : SPOOL_MAX_DEFAULT;
    s->path = strdup(conf->storage.path);
    int rc = -EIO;
    if (s->path == NULL) {
        rc = -ENOMEM;
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    rc = make_parent(s->path);
    if (rc < 0) {
        snprintf(errbuf, errlen, "%s: cannot create its directory: %s", s->path, strerror(-rc));
        goto fail;
    }
    rc = -EIO;
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
                            SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", s->path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                     "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", s->path, msg != NULL ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    rc = migrate(s->db, errbuf, errlen);
    if (rc < 0) {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", errbuf);
        snprintf(errbuf, errlen, "%s: %s", s->path, tmp);
        goto fail;
    }
    rc = -EIO;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO results_recent VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                           "?10, ?11)",
                           -1, &s->ins_result, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT * FROM results_recent ORDER BY check_id, ts, rowid",
                           -1, &s->sel_recent, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO results_by_check VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                           "?9, ?10, ?11)",
                           -1, &s->ins_sorted, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO check_state VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                           "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                           -1, &s->up_state, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &s->ins_event, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT id FROM checks WHERE name = ?1", -1, &s->get_check,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO checks (name) VALUES (?1)", -1, &s->ins_check,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, put_deploy_sql, -1, &s->put_deploy, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO alerts (id, kind, check_name, app, env, "
                           "severity, status, summary, started, resolved, ack_by, ack_ts, "
                           "ack_comment, muted_by, deploy_id, last_notified, notifications, "
                           "deploy_info) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                           "?15, ?16, ?17, ?18)",
                           -1, &s->put_alert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO mutes (id, kind, check_name, app, env, "
                           "severity, starts, ends, author, comment, created, alert_id) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                           -1, &s->put_mute, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO outbox (id, alert_id, notifier, payload, "
                           "created, attempts, next_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &s->put_outbox, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM outbox WHERE id = ?1", -1, &s->del_outbox,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO log_positions VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &s->up_log, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO rollup_late VALUES (?1, ?2)", -1,
                           &s->ins_late, NULL) != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s: %s", s->path, sqlite3_errmsg(s->db));
        goto fail;
    }
    s->next_event_id = query_int(s->db, "SELECT MAX(id) FROM events", 0) + 1;
    s->next_deploy_id = query_int(s->db, "SELECT MAX(id) FROM deploys", 0) + 1;
    s->next_alert_id = next_autoincrement_id(s->db, "alerts");
    s->next_mute_id = next_autoincrement_id(s->db, "mutes");
    s->next_outbox_id = next_autoincrement_id(s->db, "outbox");
    s->next_minute = query_int(s->db, "SELECT next_minute FROM rollup_progress", 0);
    s->next_hour = query_int(s->db, "SELECT next_hour FROM rollup_progress", 0);
    s->late_pending = true;     /* whatever the last run left in rollup_late */
    s->last_rollup_ms = clock_wall_ms();
    /* What a crash left in results_recent: the states loaded next count
     * the results after their row in results_by_check. */
    move_recent(s);
    store_sqlite_load_spool(s);

    rc = uv_async_init(loop, &s->async, on_async);
    if (rc < 0) {
        snprintf(errbuf, errlen, "uv_async_init: %s", uv_strerror(rc));
        goto fail;
    }
    s->async.data = s;
    s->async_started = true;
    rc = pthread_create(&s->thread, NULL, writer_main, s);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot start the writer thread: %s", strerror(rc));
        rc = -rc;
        goto fail;
    }
    s->thread_started = true;
    *out = &s->base;
    return 0;
fail:
    sqlite_close(&s->base);
    return rc;
}
