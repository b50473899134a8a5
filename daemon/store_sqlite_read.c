/* store_sqlite_read.c - the SQLite backend's queries: history, events,
 * deploys, check statistics, alerts, and the loads at start-up. Each reads
 * with the writer's connection on the writer thread, in queue order, so a
 * query sees every write queued before it. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_rec.h"
#include "store_sqlite_read.h"

#define HISTORY_DEFAULT 1000
#define HISTORY_MAX 100000
#define EVENTS_DEFAULT 100
#define EVENTS_MAX 10000
#define DEPLOYS_DEFAULT 50
#define DEPLOYS_MAX 1000
#define ALERTS_DEFAULT 100
#define ALERTS_MAX 1000

/* Column i as text; "" for SQL NULL. Valid until the next step. */
static const char *col_text(sqlite3_stmt *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    return t != NULL ? (const char *)t : "";
}

/* A copy of column i, or NULL for SQL NULL. */
static const char *col_or_null(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NULL : strdup(col_text(q, i));
}

/* Room for one more row in *rows (n used of *cap, each size bytes). 0, or
 * -ENOMEM with *rows unchanged. */
static int grow_rows(void *rows, size_t n, size_t *cap, size_t size)
{
    if (n < *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 16;
    void *v = realloc(*(void **)rows, ncap * size);
    if (v == NULL) {
        return -ENOMEM;
    }
    *(void **)rows = v;
    *cap = ncap;
    return 0;
}

/* Run a history query into r->hrows. */
void store_sqlite_read_history(sqlite3 *db, struct rec *r)
{
    const struct store_history_query *hq = &r->hq;
    size_t limit = hq->limit == 0 ? HISTORY_DEFAULT : hq->limit;
    if (limit > HISTORY_MAX) {
        limit = HISTORY_MAX;
    }
    char rollup[320];
    snprintf(rollup, sizeof(rollup),
             "SELECT bucket_ts, count, failures, lat_min_us, lat_avg_us, lat_p95_us, lat_max_us, "
             "0, -1, NULL, NULL, NULL, NULL, 0, 0 FROM %s "
             "WHERE check_id = (SELECT id FROM checks WHERE name = ?1) AND bucket_ts >= ?2 "
             "AND bucket_ts < ?3 ORDER BY bucket_ts DESC LIMIT ?4",
             rec_rollup_table(hq->granularity));
    const char *sql =
        hq->granularity == STORE_RAW
            ? "SELECT ts, 1, outcome != 1, duration_us, duration_us, duration_us, duration_us, "
              "outcome, COALESCE(status, -1), error, failed_condition, message, perfdata, "
              "COALESCE(conditions, 0), COALESCE(conditions_failed, 0) FROM results "
              "WHERE check_id = (SELECT id FROM checks WHERE name = ?1) AND ts >= ?2 AND ts < ?3 "
              "ORDER BY ts DESC LIMIT ?4"
            : rollup;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        r->err = -EIO;
        return;
    }
    sqlite3_bind_text(q, 1, hq->check != NULL ? hq->check : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, hq->from_ms);
    sqlite3_bind_int64(q, 3, hq->to_ms > 0 ? hq->to_ms : INT64_MAX);
    sqlite3_bind_int64(q, 4, (int64_t)limit);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow_rows(&r->hrows, r->nh, &cap, sizeof(*r->hrows)) < 0) {
            r->err = -ENOMEM;
            break;
        }
        struct store_history_row *row = &r->hrows[r->nh++];
        row->ts_ms = sqlite3_column_int64(q, 0);
        row->count = sqlite3_column_int64(q, 1);
        row->failures = sqlite3_column_int64(q, 2);
        row->latency_min_us = sqlite3_column_int64(q, 3);
        row->latency_avg_us = sqlite3_column_int64(q, 4);
        row->latency_p95_us = sqlite3_column_int64(q, 5);
        row->latency_max_us = sqlite3_column_int64(q, 6);
        row->outcome = (enum check_state)sqlite3_column_int(q, 7);
        row->status = sqlite3_column_int(q, 8);
        row->error = strdup(col_text(q, 9));
        row->failed_condition = strdup(col_text(q, 10));
        row->message = strdup(col_text(q, 11));
        row->perfdata = strdup(col_text(q, 12));
        row->conditions = sqlite3_column_int(q, 13);
        row->conditions_failed = sqlite3_column_int(q, 14);
    }
    if (step != SQLITE_DONE && r->err == 0) {
        r->err = -EIO;
    }
    sqlite3_finalize(q);
}

/* Run an events query into r->erows. */
void store_sqlite_read_events(sqlite3 *db, struct rec *r)
{
    const struct store_event_query *eq = &r->eq;
    size_t limit = eq->limit == 0 ? EVENTS_DEFAULT : eq->limit;
    if (limit > EVENTS_MAX) {
        limit = EVENTS_MAX;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, ts, type, check_name, app, env, message, data FROM events "
                           "WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR check_name = ?2) "
                           "AND (?3 IS NULL OR type = ?3) AND id < ?4 ORDER BY id DESC LIMIT ?5",
                           -1, &q, NULL) != SQLITE_OK) {
        r->err = -EIO;
        return;
    }
    bind_text_or_null(q, 1, eq->app);
    bind_text_or_null(q, 2, eq->check);
    bind_text_or_null(q, 3, eq->type);
    sqlite3_bind_int64(q, 4, eq->before_id > 0 ? eq->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 5, (int64_t)limit);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow_rows(&r->erows, r->ne, &cap, sizeof(*r->erows)) < 0) {
            r->err = -ENOMEM;
            break;
        }
        struct event *ev = &r->erows[r->ne++];
        ev->id = sqlite3_column_int64(q, 0);
        ev->ts_ms = sqlite3_column_int64(q, 1);
        ev->type = strdup(col_text(q, 2));
        ev->check = col_or_null(q, 3);
        ev->app = col_or_null(q, 4);
        ev->env = col_or_null(q, 5);
        ev->message = strdup(col_text(q, 6));
        ev->data = col_or_null(q, 7);
    }
    if (step != SQLITE_DONE && r->err == 0) {
        r->err = -EIO;
    }
    sqlite3_finalize(q);
}

/* Step q, bound to check id and the bounds lo and hi, for one row of
 * integers (as many as q has columns, at most 3). true with them in v,
 * false when there is none or on error (*err set). */
static bool totals_row(sqlite3_stmt *q, int64_t id, int64_t lo, int64_t hi, int64_t v[3],
                       int *err)
{
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, lo);
    sqlite3_bind_int64(q, 3, hi);
    int step = sqlite3_step(q);
    if (step == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(q) && i < 3; i++) {
            v[i] = sqlite3_column_int64(q, i);
        }
        return true;
    }
    if (step != SQLITE_DONE) {
        *err = -EIO;
    }
    return false;
}

/* The closed hours of every check into r: its running totals at the last
 * closed hour, less those before each window. A check that ran through the
 * window has a row at both ends, read by the join; one that started or
 * stopped inside it is looked up by range. */
static void read_stats_hours(sqlite3 *db, int64_t hour_start, struct rec *r,
                             struct rec_stats_index *ix)
{
    sqlite3_stmt *q = NULL, *last = NULL, *first = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT c.id, c.name, b.total_count, b.total_failures, "
                           "a0.total_count - a0.count, a0.total_failures - a0.failures, "
                           "a1.total_count - a1.count, a1.total_failures - a1.failures, "
                           "a2.total_count - a2.count, a2.total_failures - a2.failures "
                           "FROM checks c "
                           "LEFT JOIN rollups_hour b ON b.check_id = c.id AND b.bucket_ts = ?1 "
                           "LEFT JOIN rollups_hour a0 ON a0.check_id = c.id AND a0.bucket_ts = ?2 "
                           "LEFT JOIN rollups_hour a1 ON a1.check_id = c.id AND a1.bucket_ts = ?3 "
                           "LEFT JOIN rollups_hour a2 ON a2.check_id = c.id AND a2.bucket_ts = ?4 "
                           "WHERE (?5 IS NULL OR c.name > ?5) AND (?6 IS NULL OR c.name <= ?6)",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT total_count, total_failures FROM rollups_hour "
                           "WHERE check_id = ?1 AND bucket_ts >= ?2 AND bucket_ts < ?3 "
                           "ORDER BY bucket_ts DESC LIMIT 1",
                           -1, &last, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT total_count - count, total_failures - failures, bucket_ts "
                           "FROM rollups_hour WHERE check_id = ?1 AND bucket_ts >= ?2 "
                           "AND bucket_ts < ?3 ORDER BY bucket_ts LIMIT 1",
                           -1, &first, NULL) != SQLITE_OK) {
        r->err = -EIO;
        goto out;
    }
    int64_t start[STATS_WINDOWS];
    sqlite3_bind_int64(q, 1, hour_start - HOUR_MS);
    bind_text_or_null(q, 5, r->stats_from);
    bind_text_or_null(q, 6, r->stats_to);
    for (int w = 0; w < STATS_WINDOWS; w++) {
        start[w] = rec_stats_window_start(r->now_ms, w);
        sqlite3_bind_int64(q, 2 + w, start[w]);
    }
    int step;
    while (r->err == 0 && (step = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0), total[3], before[STATS_WINDOWS][2], f[3] = {0};
        bool have[STATS_WINDOWS], f_read = false, f_found = false;
        if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
            total[0] = sqlite3_column_int64(q, 2);
            total[1] = sqlite3_column_int64(q, 3);
        } else if (!totals_row(last, id, INT64_MIN, hour_start, total, &r->err)) {
            continue;           /* no closed hour: its minutes may still count */
        }
        /* Longest window first: its first hour is, mostly, the first of
         * the shorter ones that have no row at their start either. */
        for (int w = STATS_WINDOWS - 1; w >= 0; w--) {
            have[w] = sqlite3_column_type(q, 4 + 2 * w) != SQLITE_NULL;
            if (have[w]) {
                before[w][0] = sqlite3_column_int64(q, 4 + 2 * w);
                before[w][1] = sqlite3_column_int64(q, 5 + 2 * w);
                continue;
            }
            if (!f_read) {
                f_read = true;
                f_found = totals_row(first, id, start[STATS_WINDOWS - 1], hour_start, f, &r->err);
            }
            if (!f_found || f[2] >= start[w]) {
                have[w] = f_found;
                before[w][0] = f[0];
                before[w][1] = f[1];
            } else {
                int64_t v[3] = {0};
                have[w] = totals_row(first, id, start[w], hour_start, v, &r->err);
                before[w][0] = v[0];
                before[w][1] = v[1];
            }
        }
        struct store_check_stats *st = rec_stats_row(r, ix, id, col_text(q, 1));
        if (st == NULL) {
            r->err = -ENOMEM;
            break;
        }
        rec_stats_hours(st, total[0], total[1], before, have);
    }
    if (r->err == 0 && step != SQLITE_DONE) {
        r->err = -EIO;
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(last);
    sqlite3_finalize(first);
}

/* Uptime and latency aggregates of every check into r->srows: closed hours
 * from the running totals of rollups_hour, the open hour's closed minutes
 * (and the last hour's, for p95 and the sparkline) from rollups_minute. */
void store_sqlite_read_stats(sqlite3 *db, int64_t hours_done_ms, struct rec *r)
{
    const int64_t hour_start = hours_done_ms; /* first hour not rolled up */
    const int64_t minute_from = hour_start < r->now_ms - HOUR_MS ? hour_start : r->now_ms - HOUR_MS;
    struct rec_stats_index ix = {0};
    read_stats_hours(db, hour_start, r, &ix);
    sqlite3_stmt *q;
    if (r->err == 0 &&
        sqlite3_prepare_v2(db,
                           "SELECT c.id, c.name, m.bucket_ts, m.count, m.failures, m.lat_avg_us, "
                           "m.lat_p95_us FROM checks c JOIN rollups_minute m "
                           "ON m.check_id = c.id AND m.bucket_ts >= ?1 "
                           "WHERE (?2 IS NULL OR c.name > ?2) AND (?3 IS NULL OR c.name <= ?3)",
                           -1, &q, NULL) != SQLITE_OK) {
        r->err = -EIO;
    }
    if (r->err == 0) {
        sqlite3_bind_int64(q, 1, minute_from);
        bind_text_or_null(q, 2, r->stats_from);
        bind_text_or_null(q, 3, r->stats_to);
        int step;
        while ((step = sqlite3_step(q)) == SQLITE_ROW) {
            struct store_check_stats *st =
                rec_stats_row(r, &ix, sqlite3_column_int64(q, 0), col_text(q, 1));
            if (st == NULL) {
                r->err = -ENOMEM;
                break;
            }
            rec_stats_minute(st, r->now_ms, hour_start, sqlite3_column_int64(q, 2),
                             sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4),
                             sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6));
        }
        if (step != SQLITE_DONE && r->err == 0) {
            r->err = -EIO;
        }
        sqlite3_finalize(q);
    }
    rec_stats_index_free(&ix);
}

/* Run a deploys query into r->drows. */
void store_sqlite_read_deploys(sqlite3 *db, struct rec *r)
{
    const struct store_deploy_query *dq = &r->dq;
    size_t limit = dq->limit == 0 ? DEPLOYS_DEFAULT : dq->limit;
    if (limit > DEPLOYS_MAX) {
        limit = DEPLOYS_MAX;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, app, env, version, commit_sha, author, source, url, "
                           "description, status, started_ms, COALESCE(finished_ms, 0), verdict, "
                           "verdict_reason, failing_check, rollback_version, ext_id, ref FROM deploys "
                           "WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR env = ?2) "
                           "AND (?5 IS NULL OR ext_id = ?5) AND id < ?3 ORDER BY id DESC "
                           "LIMIT ?4",
                           -1, &q, NULL) != SQLITE_OK) {
        r->err = -EIO;
        return;
    }
    bind_text_or_null(q, 1, dq->app);
    bind_text_or_null(q, 2, dq->env);
    sqlite3_bind_int64(q, 3, dq->before_id > 0 ? dq->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 4, (int64_t)limit);
    bind_text_or_null(q, 5, dq->ext_id);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow_rows(&r->drows, r->nd, &cap, sizeof(*r->drows)) < 0) {
            r->err = -ENOMEM;
            break;
        }
        struct deploy *d = &r->drows[r->nd++];
        d->id = sqlite3_column_int64(q, 0);
        d->app = col_or_null(q, 1);
        d->env = col_or_null(q, 2);
        d->version = col_or_null(q, 3);
        d->commit = col_or_null(q, 4);
        d->author = col_or_null(q, 5);
        d->source = col_or_null(q, 6);
        d->url = col_or_null(q, 7);
        d->description = col_or_null(q, 8);
        d->status = col_or_null(q, 9);
        d->started_ms = sqlite3_column_int64(q, 10);
        d->finished_ms = sqlite3_column_int64(q, 11);
        d->verdict = col_or_null(q, 12);
        d->verdict_reason = col_or_null(q, 13);
        d->failing_check = col_or_null(q, 14);
        d->rollback_version = col_or_null(q, 15);
        d->ext_id = col_or_null(q, 16);
        d->ref = col_or_null(q, 17);
    }
    if (step != SQLITE_DONE && r->err == 0) {
        r->err = -EIO;
    }
    sqlite3_finalize(q);
}

/* A copy of column i, NULL for SQL NULL; *oom is set when a copy failed. */
static const char *col_copy(sqlite3_stmt *q, int i, bool *oom)
{
    if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        return NULL;
    }
    char *v = strdup(col_text(q, i));
    if (v == NULL) {
        *oom = true;
    }
    return v;
}

#define ALERT_COLUMNS                                                                      \
    "id, kind, check_name, app, env, severity, status, summary, started, "                 \
    "COALESCE(resolved, 0), ack_by, COALESCE(ack_ts, 0), ack_comment, muted_by, "          \
    "COALESCE(deploy_id, 0), COALESCE(last_notified, 0), notifications, deploy_info"

/* Fill a from a row of ALERT_COLUMNS; false on ENOMEM (a is then freed). */
static bool alert_from_row(sqlite3_stmt *q, struct alert *a)
{
    bool oom = false;
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(q, 0);
    a->kind = col_copy(q, 1, &oom);
    a->check = col_copy(q, 2, &oom);
    a->app = col_copy(q, 3, &oom);
    a->env = col_copy(q, 4, &oom);
    a->severity = col_copy(q, 5, &oom);
    a->status = col_copy(q, 6, &oom);
    a->summary = col_copy(q, 7, &oom);
    a->started_ms = sqlite3_column_int64(q, 8);
    a->resolved_ms = sqlite3_column_int64(q, 9);
    a->ack_by = col_copy(q, 10, &oom);
    a->ack_ms = sqlite3_column_int64(q, 11);
    a->ack_comment = col_copy(q, 12, &oom);
    a->muted_by = col_copy(q, 13, &oom);
    a->deploy_id = sqlite3_column_int64(q, 14);
    a->last_notified_ms = sqlite3_column_int64(q, 15);
    a->notifications = sqlite3_column_int64(q, 16);
    a->deploy_info = col_copy(q, 17, &oom);
    if (oom) {
        rec_alert_finish(a);
    }
    return !oom;
}

/* Run an alerts query into r->arows. The SQL is put together per query so
 * that each filter can use its index: "open" and one open status say
 * status != 'resolved', which the partial index alerts_open needs. */
void store_sqlite_read_alerts(sqlite3 *db, struct rec *r)
{
    const struct store_alert_query *aq = &r->aq;
    size_t limit = aq->limit == 0 ? ALERTS_DEFAULT : aq->limit;
    if (limit > ALERTS_MAX) {
        limit = ALERTS_MAX;
    }
    const char *status = aq->status;
    if (status != NULL && (status[0] == '\0' || strcmp(status, "all") == 0)) {
        status = NULL;
    }
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT " ALERT_COLUMNS " FROM alerts WHERE id < ?1%s%s%s ORDER BY id DESC "
             "LIMIT ?2",
             status == NULL                    ? ""
             : strcmp(status, "open") == 0     ? " AND status != 'resolved'"
             : strcmp(status, "resolved") == 0 ? " AND status = ?3"
                                               : " AND status != 'resolved' AND status = ?3",
             aq->check != NULL ? " AND check_name = ?4" : "",
             aq->app != NULL ? " AND app = ?5" : "");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        log_error(LOG_KV("store", "sqlite"), "alerts query: %s", sqlite3_errmsg(db));
        r->err = -EIO;
        return;
    }
    sqlite3_bind_int64(q, 1, aq->before_id > 0 ? aq->before_id : INT64_MAX);
    sqlite3_bind_int64(q, 2, (int64_t)limit);
    if (status != NULL) {
        sqlite3_bind_text(q, 3, status, -1, SQLITE_TRANSIENT);
    }
    if (aq->check != NULL) {
        sqlite3_bind_text(q, 4, aq->check, -1, SQLITE_TRANSIENT);
    }
    if (aq->app != NULL) {
        sqlite3_bind_text(q, 5, aq->app, -1, SQLITE_TRANSIENT);
    }
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(q)) == SQLITE_ROW) {
        if (grow_rows(&r->arows, r->na, &cap, sizeof(*r->arows)) < 0 ||
            !alert_from_row(q, &r->arows[r->na])) {
            r->err = -ENOMEM;
            break;
        }
        r->na++;
    }
    if (step != SQLITE_DONE && r->err == 0) {
        r->err = -EIO;
    }
    sqlite3_finalize(q);
}

/* Read every open alert, every mute not over at r->now_ms (soonest ending
 * first) and every outbox row (in id order) into r. */
void store_sqlite_read_load_alerting(sqlite3 *db, struct rec *r)
{
    static const char *const sql[] = {
        "SELECT " ALERT_COLUMNS " FROM alerts WHERE status != 'resolved' ORDER BY id",
        "SELECT id, kind, check_name, app, env, severity, starts, ends, author, comment, "
        "created, COALESCE(alert_id, 0) FROM mutes WHERE ends > ?1 ORDER BY ends, id",
        "SELECT id, alert_id, notifier, payload, created, attempts, next_ts FROM outbox "
        "ORDER BY id",
    };
    size_t cap[3] = {0, 0, 0};
    for (size_t pass = 0; pass < 3 && r->err == 0; pass++) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db, sql[pass], -1, &q, NULL) != SQLITE_OK) {
            log_error(LOG_KV("store", "sqlite"), "load alerting: %s", sqlite3_errmsg(db));
            r->err = -EIO;
            break;
        }
        if (pass == 1) {
            sqlite3_bind_int64(q, 1, r->now_ms);
        }
        int step;
        while ((step = sqlite3_step(q)) == SQLITE_ROW) {
            bool oom = false;
            if (pass == 0) {
                if (grow_rows(&r->arows, r->na, &cap[0], sizeof(*r->arows)) < 0 ||
                    !alert_from_row(q, &r->arows[r->na])) {
                    oom = true;
                } else {
                    r->na++;
                }
            } else if (pass == 1) {
                if (grow_rows(&r->mrows, r->nm, &cap[1], sizeof(*r->mrows)) < 0) {
                    oom = true;
                } else {
                    struct mute *m = &r->mrows[r->nm];
                    memset(m, 0, sizeof(*m));
                    m->id = sqlite3_column_int64(q, 0);
                    m->kind = col_copy(q, 1, &oom);
                    m->check = col_copy(q, 2, &oom);
                    m->app = col_copy(q, 3, &oom);
                    m->env = col_copy(q, 4, &oom);
                    m->severity = col_copy(q, 5, &oom);
                    m->starts_ms = sqlite3_column_int64(q, 6);
                    m->ends_ms = sqlite3_column_int64(q, 7);
                    m->author = col_copy(q, 8, &oom);
                    m->comment = col_copy(q, 9, &oom);
                    m->created_ms = sqlite3_column_int64(q, 10);
                    m->alert_id = sqlite3_column_int64(q, 11);
                    r->nm++;    /* freed with r, copied or not */
                }
            } else {
                if (grow_rows(&r->orows, r->no, &cap[2], sizeof(*r->orows)) < 0) {
                    oom = true;
                } else {
                    struct outbox_item *o = &r->orows[r->no];
                    memset(o, 0, sizeof(*o));
                    o->id = sqlite3_column_int64(q, 0);
                    o->alert_id = sqlite3_column_int64(q, 1);
                    o->notifier = col_copy(q, 2, &oom);
                    o->payload = col_copy(q, 3, &oom);
                    o->created_ms = sqlite3_column_int64(q, 4);
                    o->attempts = sqlite3_column_int64(q, 5);
                    o->next_ms = sqlite3_column_int64(q, 6);
                    r->no++;
                }
            }
            if (oom) {
                r->err = -ENOMEM;
                break;
            }
        }
        if (step != SQLITE_DONE && r->err == 0) {
            log_error(LOG_KV("store", "sqlite"), "load alerting: %s", sqlite3_errmsg(db));
            r->err = -EIO;
        }
        sqlite3_finalize(q);
    }
}

/* Every stored check state, to fn. */
int store_sqlite_read_states(sqlite3 *db, store_state_fn fn, void *arg)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT c.name, s.state, s.fail_streak, s.ok_streak, s.state_since, s.last_ts, "
        "s.last_duration_us, s.last_outcome, COALESCE(s.last_status, -1), s.last_error, "
        "s.last_failed, COALESCE(s.last_cert_expiry, 0), s.last_message, s.last_perfdata, "
        "l.dev, l.ino, l.pos, l.head, l.skipping, "
        "t.n, t.ts, t.duration_us, t.outcome, t.status, t.error, t.failed_condition, "
        "t.message, t.perfdata "
        "FROM check_state s JOIN checks c ON c.id = s.check_id "
        "LEFT JOIN log_positions l ON l.check_id = s.check_id "
        /* The routine results after the state row (state.h); the bare
         * columns beside max() are the newest row's. The store moved
         * results_recent before this. CROSS JOIN keeps check_state outside:
         * a range of the key a check, not a scan of all history. One case
         * counts a result twice: when the row's own result shared its
         * millisecond with an earlier one, the move put it 1 ms later
         * than last_ts says (a streak one too long, nothing else). */
        "LEFT JOIN (SELECT r.check_id AS cid, count(*) AS n, max(r.ts) AS ts, r.duration_us, "
        "r.outcome, COALESCE(r.status, -1) AS status, r.error, r.failed_condition, r.message, "
        "r.perfdata FROM check_state s2 CROSS JOIN results_by_check r "
        "ON r.check_id = s2.check_id AND r.ts > s2.last_ts GROUP BY r.check_id) t "
        "ON t.cid = s.check_id",
        -1, &q, NULL);
    if (rc != SQLITE_OK) {
        return -EIO;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_check_state cs = {0};
        cs.check = col_text(q, 0);
        cs.state = (enum check_state)sqlite3_column_int(q, 1);
        cs.fail_streak = sqlite3_column_int(q, 2);
        cs.ok_streak = sqlite3_column_int(q, 3);
        cs.state_since_ms = sqlite3_column_int64(q, 4);
        cs.last.started_ms = sqlite3_column_int64(q, 5);
        cs.last.duration_us = sqlite3_column_int64(q, 6);
        cs.last.outcome = (enum check_state)sqlite3_column_int(q, 7);
        cs.last.status = sqlite3_column_int(q, 8);
        snprintf(cs.last.error, sizeof(cs.last.error), "%s", col_text(q, 9));
        snprintf(cs.last.failed_condition, sizeof(cs.last.failed_condition), "%s",
                 col_text(q, 10));
        cs.last.cert_expiry_s = sqlite3_column_int64(q, 11);
        snprintf(cs.last.message, sizeof(cs.last.message), "%s", col_text(q, 12));
        snprintf(cs.last.perfdata, sizeof(cs.last.perfdata), "%s", col_text(q, 13));
        cs.has_log = sqlite3_column_type(q, 14) != SQLITE_NULL;
        cs.log.dev = (uint64_t)sqlite3_column_int64(q, 14);
        cs.log.ino = (uint64_t)sqlite3_column_int64(q, 15);
        cs.log.offset = sqlite3_column_int64(q, 16);
        cs.log.head = (uint64_t)sqlite3_column_int64(q, 17);
        cs.log.skipping = sqlite3_column_int(q, 18) != 0;
        if (sqlite3_column_type(q, 19) != SQLITE_NULL) {
            struct result newest = {0};
            newest.started_ms = sqlite3_column_int64(q, 20);
            newest.duration_us = sqlite3_column_int64(q, 21);
            newest.outcome = (enum check_state)sqlite3_column_int(q, 22);
            newest.status = sqlite3_column_int(q, 23);
            snprintf(newest.error, sizeof(newest.error), "%s", col_text(q, 24));
            snprintf(newest.failed_condition, sizeof(newest.failed_condition), "%s",
                     col_text(q, 25));
            snprintf(newest.message, sizeof(newest.message), "%s", col_text(q, 26));
            snprintf(newest.perfdata, sizeof(newest.perfdata), "%s", col_text(q, 27));
            store_state_catch_up(&cs, sqlite3_column_int64(q, 19), &newest);
        }
        fn(&cs, arg);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : -EIO;
}
