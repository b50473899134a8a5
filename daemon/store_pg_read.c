/* store_pg_read.c - the PostgreSQL store's queries.
 *
 * Queries run on storage.pool connections of their own, so a long write
 * never delays a read: a query waits in a bounded queue for an idle pool
 * connection, runs as one statement with parameters, and its rows are
 * copied into the record and handed to the callback on the loop thread.
 * Alerts queries first wait until the writes queued before them are
 * committed. The start-up loads run synchronously on the writer. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "store_pg_int.h"
#include "store_rec.h"
#include "store_spool.h"
#include "utf8.h"
#include "util.h"

/* --- queries on the pool --- */

static const char *col_text(const PGresult *r, int row, int col)
{
    if (col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return "";
    }
    return PQgetvalue(r, row, col);
}

/* A copy of a column, NULL for SQL NULL; *oom set when a copy failed. */
static const char *col_dup(const PGresult *r, int row, int col, bool *oom)
{
    if (col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return NULL;
    }
    char *v = strdup(PQgetvalue(r, row, col));
    if (v == NULL) {
        *oom = true;
    }
    return v;
}

static const char *col_str(const PGresult *r, int row, int col, bool *oom)
{
    char *v = strdup(col_text(r, row, col));
    if (v == NULL) {
        *oom = true;
    }
    return v;
}

#define ALERT_COLUMNS                                                                      \
    "id, kind, check_name, app, env, severity, status, summary, started, "                 \
    "COALESCE(resolved, 0), ack_by, COALESCE(ack_ts, 0), ack_comment, muted_by, "          \
    "COALESCE(deploy_id, 0), COALESCE(last_notified, 0), notifications, deploy_info"
#define ALERT_NCOLUMNS 18

static void alert_from_row(const PGresult *r, int row, struct alert *a, bool *oom)
{
    memset(a, 0, sizeof(*a));
    a->id = val_i64(r, row, 0);
    a->kind = col_dup(r, row, 1, oom);
    a->check = col_dup(r, row, 2, oom);
    a->app = col_dup(r, row, 3, oom);
    a->env = col_dup(r, row, 4, oom);
    a->severity = col_dup(r, row, 5, oom);
    a->status = col_dup(r, row, 6, oom);
    a->summary = col_dup(r, row, 7, oom);
    a->started_ms = val_i64(r, row, 8);
    a->resolved_ms = val_i64(r, row, 9);
    a->ack_by = col_dup(r, row, 10, oom);
    a->ack_ms = val_i64(r, row, 11);
    a->ack_comment = col_dup(r, row, 12, oom);
    a->muted_by = col_dup(r, row, 13, oom);
    a->deploy_id = val_i64(r, row, 14);
    a->last_notified_ms = val_i64(r, row, 15);
    a->notifications = val_i64(r, row, 16);
    a->deploy_info = col_dup(r, row, 17, oom);
}

/* A "{count,failures}" array of the stats query into v; false for NULL. */
static bool stats_pair(const PGresult *res, int row, int col, int64_t v[2])
{
    long long a, b;
    if (PQgetisnull(res, row, col) ||
        sscanf(PQgetvalue(res, row, col), "{%lld,%lld}", &a, &b) != 2) {
        return false;
    }
    v[0] = a;
    v[1] = b;
    return true;
}

/* Rows of the stats query into r, as the SQLite store reads them: pass 0
 * is a check's running totals at its last closed hour and before each
 * window (NULL: none), pass 1 a closed minute. Column 3 is the first hour
 * not rolled up. */
static void parse_stats(struct rec *r, const PGresult *res)
{
    struct rec_stats_index ix = {0};
    for (int row = 0; row < PQntuples(res) && r->err == 0; row++) {
        int pass = (int)val_i64(res, row, 0);
        int64_t hour_start = val_i64(res, row, 3), total[2];
        if (pass == 0 && !stats_pair(res, row, 4, total)) {
            continue;           /* no closed hour: its minutes may still count */
        }
        struct store_check_stats *st =
            rec_stats_row(r, &ix, val_i64(res, row, 1), col_text(res, row, 2));
        if (st == NULL) {
            r->err = -ENOMEM;
            break;
        }
        if (pass == 0) {
            int64_t before[STATS_WINDOWS][2];
            bool have[STATS_WINDOWS];
            for (int w = 0; w < STATS_WINDOWS; w++) {
                have[w] = stats_pair(res, row, 5 + w, before[w]);
            }
            rec_stats_hours(st, total[0], total[1], before, have);
        } else {
            rec_stats_minute(st, r->now_ms, hour_start, val_i64(res, row, 4),
                             val_i64(res, row, 5), val_i64(res, row, 6), val_i64(res, row, 7),
                             val_i64(res, row, 8));
        }
    }
    rec_stats_index_free(&ix);
}

/* Rows of a finished query into r. */
static void parse_rows(struct rec *r, const PGresult *res)
{
    int n = PQntuples(res);
    bool oom = false;
    switch (r->kind) {
    case REC_HISTORY:
        if (PQnfields(res) != 15) {
            r->err = -EPROTO;
            return;
        }
        r->hrows = calloc((size_t)n + 1, sizeof(*r->hrows));
        if (r->hrows == NULL) {
            r->err = -ENOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            struct store_history_row *h = &r->hrows[r->nh++];
            h->ts_ms = val_i64(res, i, 0);
            h->count = val_i64(res, i, 1);
            h->failures = val_i64(res, i, 2);
            h->latency_min_us = val_i64(res, i, 3);
            h->latency_avg_us = val_i64(res, i, 4);
            h->latency_p95_us = val_i64(res, i, 5);
            h->latency_max_us = val_i64(res, i, 6);
            h->outcome = (enum check_state)clamp(val_i64(res, i, 7), STATE_UNKNOWN, STATE_DOWN);
            h->status = (int)clamp(val_i64(res, i, 8), -1, INT_MAX);
            h->error = col_str(res, i, 9, &oom);
            h->failed_condition = col_str(res, i, 10, &oom);
            h->message = col_str(res, i, 11, &oom);
            h->perfdata = col_str(res, i, 12, &oom);
            h->conditions = (int)clamp(val_i64(res, i, 13), 0, RESULT_CONDS_MAX);
            h->conditions_failed = (int)clamp(val_i64(res, i, 14), 0, UINT16_MAX);
        }
        break;
    case REC_EVENTS:
        if (PQnfields(res) != 8) {
            r->err = -EPROTO;
            return;
        }
        r->erows = calloc((size_t)n + 1, sizeof(*r->erows));
        if (r->erows == NULL) {
            r->err = -ENOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            struct event *e = &r->erows[r->ne++];
            e->id = val_i64(res, i, 0);
            e->ts_ms = val_i64(res, i, 1);
            e->type = col_str(res, i, 2, &oom);
            e->check = col_dup(res, i, 3, &oom);
            e->app = col_dup(res, i, 4, &oom);
            e->env = col_dup(res, i, 5, &oom);
            e->message = col_str(res, i, 6, &oom);
            e->data = col_dup(res, i, 7, &oom);
        }
        break;
    case REC_DEPLOYS:
        if (PQnfields(res) != 18) {
            r->err = -EPROTO;
            return;
        }
        r->drows = calloc((size_t)n + 1, sizeof(*r->drows));
        if (r->drows == NULL) {
            r->err = -ENOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            struct deploy *d = &r->drows[r->nd++];
            d->id = val_i64(res, i, 0);
            const char **f[] = {&d->app, &d->env, &d->version, &d->commit, &d->author,
                                &d->source, &d->url, &d->description, &d->status};
            for (size_t k = 0; k < ARRAY_SIZE(f); k++) {
                *f[k] = col_dup(res, i, (int)k + 1, &oom);
            }
            d->started_ms = val_i64(res, i, 10);
            d->finished_ms = val_i64(res, i, 11);
            const char **g[] = {&d->verdict, &d->verdict_reason, &d->failing_check,
                                &d->rollback_version, &d->ext_id, &d->ref};
            for (size_t k = 0; k < ARRAY_SIZE(g); k++) {
                *g[k] = col_dup(res, i, (int)k + 12, &oom);
            }
        }
        break;
    case REC_STATS:
        if (PQnfields(res) != 9) {
            r->err = -EPROTO;
            return;
        }
        parse_stats(r, res);
        break;
    case REC_ALERTS:
        if (PQnfields(res) != ALERT_NCOLUMNS) {
            r->err = -EPROTO;
            return;
        }
        r->arows = calloc((size_t)n + 1, sizeof(*r->arows));
        if (r->arows == NULL) {
            r->err = -ENOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            alert_from_row(res, i, &r->arows[r->na++], &oom);
        }
        break;
    default:
        break;
    }
    if (oom) {
        r->err = -ENOMEM;
    }
}

void query_deliver(struct rec *r)
{
    switch (r->kind) {
    case REC_HISTORY:
        r->hfn(r->err, r->err ? NULL : r->hrows, r->err ? 0 : r->nh, r->arg);
        break;
    case REC_EVENTS:
        r->efn(r->err, r->err ? NULL : r->erows, r->err ? 0 : r->ne, r->arg);
        break;
    case REC_DEPLOYS:
        r->dfn(r->err, r->err ? NULL : r->drows, r->err ? 0 : r->nd, r->arg);
        break;
    case REC_STATS:
        r->sfn(r->err, r->err ? NULL : r->srows, r->err ? 0 : r->ns, r->arg);
        break;
    case REC_ALERTS:
        r->afn(r->err, r->err ? NULL : r->arows, r->err ? 0 : r->na, r->arg);
        break;
    default:
        break;
    }
}

static void on_query_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                          bool broken)
{
    struct rec *r = c->query;
    c->query = NULL;
    if (r == NULL) {
        return;
    }
    if (broken) {
        r->err = -EAGAIN;
    } else if (err != NULL || nres == 0 || PQresultStatus(res[nres - 1]) != PGRES_TUPLES_OK) {
        log_error(LOG_KV("store", "postgres"), "query failed: %s", err != NULL ? err : "?");
        r->err = -EIO;
    } else {
        parse_rows(r, res[nres - 1]);
    }
    query_deliver(r);
    rec_free(r);
    if (!broken) {
        pool_dispatch(c->s);
    }
}

/* Pieces of the stats query: the first hour not rolled up; a check's
 * totals (as an array: count, failures) at an hour row found by key, or
 * else its last closed hour's, or before its first hour in a window. */
/* The range of names asked for ($5 exclusive, $6 inclusive; NULL none), in
 * byte order as the daemon sorts them, whatever the database's collation. */
#define STATS_NAMES                                                                        \
    "($5::text IS NULL OR c.name > $5::text COLLATE \"C\") AND "                           \
    "($6::text IS NULL OR c.name <= $6::text COLLATE \"C\")"
#define STATS_NEXT_HOUR "COALESCE((SELECT next_hour FROM rollup_progress WHERE id = 1), 0)"
#define STATS_H "(SELECT " STATS_NEXT_HOUR " AS h) h"
#define STATS_AT(a) \
    "CASE WHEN " a ".check_id IS NOT NULL THEN ARRAY[" a ".total_count - " a ".count, " \
    a ".total_failures - " a ".failures] END AS " a
#define STATS_BEFORE(a, from) \
    "CASE WHEN t.bt IS NULL OR t.f IS NULL AND t." a " IS NULL THEN NULL " \
    "WHEN t." a " IS NOT NULL THEN t." a "::text " \
    "WHEN t.f[1] >= " from " THEN t.f[2:3]::text " \
    "ELSE (SELECT ARRAY[x.total_count - x.count, x.total_failures - x.failures]::text " \
    "FROM rollups_hour x WHERE x.check_id = t.id AND x.bucket_ts >= " from " " \
    "AND x.bucket_ts < t.h ORDER BY x.bucket_ts LIMIT 1) END"

/* Send a query record on c. */
static void query_send(struct pgconn *c, struct rec *r)
{
    const char *p[8];
    char b[8][24];
    int np = 0;
    char sql[1024];
    const char *text = sql;
#define PARAM_I64(v) (snprintf(b[np], sizeof(b[np]), "%" PRId64, (int64_t)(v)), p[np] = b[np], ++np)
#define PARAM_STR(v) (p[np] = (v), ++np)
    switch (r->kind) {
    case REC_HISTORY: {
        const struct store_history_query *hq = &r->hq;
        size_t limit = hq->limit == 0 ? HISTORY_DEFAULT : hq->limit;
        if (limit > HISTORY_MAX) {
            limit = HISTORY_MAX;
        }
        snprintf(sql, sizeof(sql),
                 "SELECT bucket_ts, count, failures, lat_min_us, lat_avg_us, lat_p95_us, "
                 "lat_max_us, 0, -1, NULL, NULL, NULL, NULL, 0, 0 FROM %s "
                 "WHERE check_id = (SELECT id FROM checks WHERE name = $1) "
                 "AND bucket_ts >= $2 AND bucket_ts < $3 ORDER BY bucket_ts DESC LIMIT $4",
                 rec_rollup_table(hq->granularity));
        if (hq->granularity == STORE_RAW) {
            text = "SELECT ts, 1, (outcome <> 1)::int, duration_us, duration_us, duration_us, "
                   "duration_us, outcome, COALESCE(status, -1), error, failed_condition, "
                   "message, perfdata, COALESCE(conditions, 0), COALESCE(conditions_failed, 0) "
                   "FROM results WHERE check_id = (SELECT id FROM checks WHERE name = $1) "
                   "AND ts >= $2 AND ts < $3 ORDER BY ts DESC LIMIT $4";
        }
        PARAM_STR(hq->check != NULL ? hq->check : "");
        PARAM_I64(hq->from_ms);
        PARAM_I64(hq->to_ms > 0 ? hq->to_ms : INT64_MAX);
        PARAM_I64(limit);
        break;
    }
    case REC_EVENTS: {
        size_t limit = r->eq.limit == 0 ? EVENTS_DEFAULT : r->eq.limit;
        if (limit > EVENTS_MAX) {
            limit = EVENTS_MAX;
        }
        text = "SELECT id, ts, type, check_name, app, env, message, data FROM events "
               "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR check_name = $2) "
               "AND ($3::text IS NULL OR type = $3) AND id < $4 ORDER BY id DESC LIMIT $5";
        PARAM_STR(r->eq.app);
        PARAM_STR(r->eq.check);
        PARAM_STR(r->eq.type);
        PARAM_I64(r->eq.before_id > 0 ? r->eq.before_id : INT64_MAX);
        PARAM_I64(limit);
        break;
    }
    case REC_DEPLOYS: {
        size_t limit = r->dq.limit == 0 ? DEPLOYS_DEFAULT : r->dq.limit;
        if (limit > DEPLOYS_MAX) {
            limit = DEPLOYS_MAX;
        }
        text = "SELECT id, app, env, version, commit_sha, author, source, url, description, "
               "status, started_ms, COALESCE(finished_ms, 0), verdict, verdict_reason, "
               "failing_check, rollback_version, ext_id, ref FROM deploys "
               "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR env = $2) "
               "AND ($5::text IS NULL OR ext_id = $5) AND id < $3 ORDER BY id DESC LIMIT $4";
        PARAM_STR(r->dq.app);
        PARAM_STR(r->dq.env);
        PARAM_I64(r->dq.before_id > 0 ? r->dq.before_id : INT64_MAX);
        PARAM_I64(limit);
        PARAM_STR(r->dq.ext_id);
        break;
    }
    case REC_STATS:
        /* A check that ran through a window has an hour row at both of its
         * ends, found by the joins (each an index scan of one hour, hashed);
         * one that started or stopped inside it is looked up by range, and
         * only then (a CASE runs its subquery only when reached), once for
         * all its windows unless it has a gap, and only when it has a
         * closed hour at all. */
        text = "SELECT 0, t.id, t.name, t.h::text, t.bt::text, "
               STATS_BEFORE("a0", "$1") ", " STATS_BEFORE("a1", "$2") ", "
               STATS_BEFORE("a2", "$3") ", NULL FROM "
               /* f: the first hour in the longest window, when a window has
                * no row at its start: the first in the others too, mostly. */
               "(SELECT s.*, CASE WHEN s.bt IS NOT NULL AND (s.a0 IS NULL OR s.a1 IS NULL "
               "OR s.a2 IS NULL) THEN (SELECT ARRAY[x.bucket_ts, x.total_count - x.count, "
               "x.total_failures - x.failures] FROM rollups_hour x WHERE x.check_id = s.id "
               "AND x.bucket_ts >= $3 AND x.bucket_ts < s.h ORDER BY x.bucket_ts LIMIT 1) "
               "END AS f FROM "
               "(SELECT c.id, c.name, h.h, "
               "CASE WHEN b.check_id IS NOT NULL THEN ARRAY[b.total_count, b.total_failures] "
               "ELSE (SELECT ARRAY[x.total_count, x.total_failures] FROM rollups_hour x "
               "WHERE x.check_id = c.id AND x.bucket_ts < h.h ORDER BY x.bucket_ts DESC LIMIT 1) "
               "END AS bt, " STATS_AT("a0") ", " STATS_AT("a1") ", " STATS_AT("a2") " "
               "FROM checks c CROSS JOIN " STATS_H " "
               "LEFT JOIN rollups_hour b ON b.check_id = c.id AND b.bucket_ts = "
               "(SELECT " STATS_NEXT_HOUR ") - 3600000 "
               "LEFT JOIN rollups_hour a0 ON a0.check_id = c.id AND a0.bucket_ts = $1 "
               "LEFT JOIN rollups_hour a1 ON a1.check_id = c.id AND a1.bucket_ts = $2 "
               "LEFT JOIN rollups_hour a2 ON a2.check_id = c.id AND a2.bucket_ts = $3 "
               "WHERE " STATS_NAMES " "
               "OFFSET 0) s OFFSET 0) t " /* fences: bt and f are computed once each */
               "UNION ALL "
               "SELECT 1, c.id, c.name, h.h::text, m.bucket_ts::text, m.count::text, "
               "m.failures::text, m.lat_avg_us::text, m.lat_p95_us::text FROM rollups_minute m "
               "JOIN checks c ON c.id = m.check_id CROSS JOIN " STATS_H " "
               "WHERE m.bucket_ts >= LEAST(h.h, $4) AND " STATS_NAMES " ORDER BY 1, 2";
        for (int w = 0; w < STATS_WINDOWS; w++) {
            PARAM_I64(rec_stats_window_start(r->now_ms, w));
        }
        PARAM_I64(r->now_ms - HOUR_MS);
        PARAM_STR(r->stats_from);
        PARAM_STR(r->stats_to);
        break;
    case REC_ALERTS: {
        const struct store_alert_query *aq = &r->aq;
        size_t limit = aq->limit == 0 ? ALERTS_DEFAULT : aq->limit;
        if (limit > ALERTS_MAX) {
            limit = ALERTS_MAX;
        }
        const char *status = aq->status;
        if (status != NULL && (status[0] == '\0' || strcmp(status, "all") == 0)) {
            status = NULL;
        }
        PARAM_I64(aq->before_id > 0 ? aq->before_id : INT64_MAX);
        PARAM_I64(limit);
        char f_status[64] = "", f_check[48] = "", f_app[48] = "";
        if (status != NULL) {
            snprintf(f_status, sizeof(f_status), "%s status = $%d",
                     strcmp(status, "resolved") == 0 ? " AND" : " AND status <> 'resolved' AND",
                     np + 1);
            if (strcmp(status, "open") == 0) {
                snprintf(f_status, sizeof(f_status), " AND status <> 'resolved'");
            } else {
                PARAM_STR(status);
            }
        }
        if (aq->check != NULL) {
            snprintf(f_check, sizeof(f_check), " AND check_name = $%d", np + 1);
            PARAM_STR(aq->check);
        }
        if (aq->app != NULL) {
            snprintf(f_app, sizeof(f_app), " AND app = $%d", np + 1);
            PARAM_STR(aq->app);
        }
        snprintf(sql, sizeof(sql),
                 "SELECT " ALERT_COLUMNS " FROM alerts WHERE id < $1%s%s%s ORDER BY id DESC "
                 "LIMIT $2",
                 f_status, f_check, f_app);
        break;
    }
    default:
        break;
    }
#undef PARAM_I64
#undef PARAM_STR
    c->query = r;
    conn_send(c, text, np, p, on_query_done);
}

/* Give waiting queries to idle pool connections. */
void pool_dispatch(struct store_pg *s)
{
    for (int i = 0; i < s->npool && s->qhead != NULL; i++) {
        struct pgconn *c = &s->pool[i];
        if (c->state != C_READY || c->query != NULL) {
            continue;
        }
        struct rec *r = s->qhead;
        s->qhead = r->next;
        if (s->qhead == NULL) {
            s->qtail = NULL;
        }
        s->nq--;
        r->next = NULL;
        query_send(c, r);
    }
}

/* Queries need the writer and one pool connection up; otherwise they fail
 * at once rather than wait for an outage to end. */
static bool queries_up(const struct store_pg *s)
{
    if (s->writer.state != C_READY && s->writer.state != C_BUSY) {
        return false;
    }
    for (int i = 0; i < s->npool; i++) {
        if (s->pool[i].state == C_READY || s->pool[i].state == C_BUSY) {
            return true;
        }
    }
    return false;
}

/* Queue a query record; it is sent from the next loop turn, so its
 * callback never runs inside the call. */
static int query_queue(struct store_pg *s, struct rec *r)
{
    if (!queries_up(s)) {
        rec_free(r);
        return -EAGAIN;
    }
    if (s->nq >= QUERY_PENDING_MAX) {
        rec_free(r);
        return -EBUSY;
    }
    /* Every query sees the writes queued before it (store.h promises it
     * for alerts; SQLite gives it to all, and callers expect it). */
    r->rn = s->last_queued_rn;
    list_append(&s->ahead, &s->atail, r);
    s->nq++;
    uv_timer_start(&s->kick, on_kick, 0, 0);
    return 0;
}

int pg_load_states(struct store *st, store_state_fn fn, void *arg)
{
    struct store_pg *s = (struct store_pg *)st;
    if (s->writer.state != C_READY && s->writer.state != C_BUSY) {
        log_warn(LOG_KV("store", "postgres"), "database unreachable: no check states loaded");
        return 0;
    }
    PGresult *r = sync_query(
        s,
        "SELECT c.name, s.state, s.fail_streak, s.ok_streak, s.state_since, s.last_ts, "
        "s.last_duration_us, s.last_outcome, COALESCE(s.last_status, -1), s.last_error, "
        "s.last_failed, COALESCE(s.last_cert_expiry, 0), s.last_message, s.last_perfdata, "
        "l.dev, l.ino, l.pos, l.head, l.skipping::int, "
        "t.n, t.ts, t.duration_us, t.outcome, COALESCE(t.status, -1), t.error, "
        "t.failed_condition, t.message, t.perfdata "
        "FROM check_state s JOIN checks c ON c.id = s.check_id "
        "LEFT JOIN log_positions l ON l.check_id = s.check_id "
        /* The routine results after the state row (state.h): their count
         * (the window runs before the LIMIT) and the newest. */
        "LEFT JOIN LATERAL (SELECT count(*) OVER () AS n, r.ts, r.duration_us, r.outcome, "
        "r.status, r.error, r.failed_condition, r.message, r.perfdata FROM results r "
        "WHERE r.check_id = s.check_id AND r.ts > s.last_ts ORDER BY r.ts DESC LIMIT 1) t "
        "ON true",
        0, NULL);
    if (r == NULL) {
        return s->writer.state == C_DOWN ? 0 : -EIO;
    }
    if (PQnfields(r) != 28) {
        PQclear(r);
        return -EPROTO;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_check_state cs = {0};
        cs.check = col_text(r, i, 0);
        cs.state = (enum check_state)clamp(val_i64(r, i, 1), STATE_UNKNOWN, STATE_DOWN);
        cs.fail_streak = (int)clamp(val_i64(r, i, 2), 0, INT_MAX);
        cs.ok_streak = (int)clamp(val_i64(r, i, 3), 0, INT_MAX);
        cs.state_since_ms = val_i64(r, i, 4);
        cs.last.started_ms = val_i64(r, i, 5);
        cs.last.duration_us = val_i64(r, i, 6);
        cs.last.outcome = (enum check_state)clamp(val_i64(r, i, 7), STATE_UNKNOWN, STATE_DOWN);
        cs.last.status = (int)clamp(val_i64(r, i, 8), -1, INT_MAX);
        snprintf(cs.last.error, sizeof(cs.last.error), "%s", col_text(r, i, 9));
        snprintf(cs.last.failed_condition, sizeof(cs.last.failed_condition), "%s",
                 col_text(r, i, 10));
        cs.last.cert_expiry_s = val_i64(r, i, 11);
        snprintf(cs.last.message, sizeof(cs.last.message), "%s", col_text(r, i, 12));
        snprintf(cs.last.perfdata, sizeof(cs.last.perfdata), "%s", col_text(r, i, 13));
        cs.has_log = !PQgetisnull(r, i, 14);
        cs.log.dev = (uint64_t)val_i64(r, i, 14);
        cs.log.ino = (uint64_t)val_i64(r, i, 15);
        cs.log.offset = val_i64(r, i, 16);
        cs.log.head = (uint64_t)val_i64(r, i, 17);
        cs.log.skipping = val_i64(r, i, 18) != 0;
        if (!PQgetisnull(r, i, 19)) {
            struct result newest = {0};
            newest.started_ms = val_i64(r, i, 20);
            newest.duration_us = val_i64(r, i, 21);
            newest.outcome = (enum check_state)clamp(val_i64(r, i, 22), STATE_UNKNOWN, STATE_DOWN);
            newest.status = (int)clamp(val_i64(r, i, 23), -1, INT_MAX);
            snprintf(newest.error, sizeof(newest.error), "%s", col_text(r, i, 24));
            snprintf(newest.failed_condition, sizeof(newest.failed_condition), "%s",
                     col_text(r, i, 25));
            snprintf(newest.message, sizeof(newest.message), "%s", col_text(r, i, 26));
            snprintf(newest.perfdata, sizeof(newest.perfdata), "%s", col_text(r, i, 27));
            store_state_catch_up(&cs, val_i64(r, i, 19), &newest);
        }
        fn(&cs, arg);
    }
    PQclear(r);
    return 0;
}

int pg_load_alerting(struct store *st, int64_t now_ms, const struct store_alerting_load *l)
{
    struct store_pg *s = (struct store_pg *)st;
    if (s->writer.state != C_READY && s->writer.state != C_BUSY) {
        log_warn(LOG_KV("store", "postgres"), "database unreachable: no alerts loaded");
        return 0;
    }
    flush_sync(s, clock_mono_ms() + 30000);
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    const char *p[1] = {now};
    static const char *const sql[] = {
        "SELECT " ALERT_COLUMNS " FROM alerts WHERE status <> 'resolved' ORDER BY id",
        "SELECT id, kind, check_name, app, env, severity, starts, ends, author, comment, "
        "created, COALESCE(alert_id, 0) FROM mutes WHERE ends > $1 ORDER BY ends, id",
        "SELECT id, alert_id, notifier, payload, created, attempts, next_ts FROM outbox "
        "ORDER BY id",
    };
    static const int nfields[] = {ALERT_NCOLUMNS, 12, 7};
    for (int pass = 0; pass < 3; pass++) {
        PGresult *r = sync_query(s, sql[pass], pass == 1 ? 1 : 0, pass == 1 ? p : NULL);
        if (r == NULL) {
            return s->writer.state == C_DOWN ? 0 : -EIO;
        }
        if (PQnfields(r) != nfields[pass]) {
            PQclear(r);
            return -EPROTO;
        }
        for (int i = 0; i < PQntuples(r); i++) {
            bool oom = false;
            if (pass == 0) {
                struct alert a;
                alert_from_row(r, i, &a, &oom);
                if (!oom && l->alert != NULL) {
                    l->alert(&a, l->arg);
                }
                rec_alert_finish(&a);
            } else if (pass == 1) {
                struct mute m = {0};
                m.id = val_i64(r, i, 0);
                m.kind = col_dup(r, i, 1, &oom);
                m.check = col_dup(r, i, 2, &oom);
                m.app = col_dup(r, i, 3, &oom);
                m.env = col_dup(r, i, 4, &oom);
                m.severity = col_dup(r, i, 5, &oom);
                m.starts_ms = val_i64(r, i, 6);
                m.ends_ms = val_i64(r, i, 7);
                m.author = col_dup(r, i, 8, &oom);
                m.comment = col_dup(r, i, 9, &oom);
                m.created_ms = val_i64(r, i, 10);
                m.alert_id = val_i64(r, i, 11);
                if (!oom && l->mute != NULL) {
                    l->mute(&m, l->arg);
                }
                rec_mute_finish(&m);
            } else {
                struct outbox_item o = {0};
                o.id = val_i64(r, i, 0);
                o.alert_id = val_i64(r, i, 1);
                o.notifier = col_dup(r, i, 2, &oom);
                o.payload = col_dup(r, i, 3, &oom);
                o.created_ms = val_i64(r, i, 4);
                o.attempts = val_i64(r, i, 5);
                o.next_ms = val_i64(r, i, 6);
                if (!oom && l->outbox != NULL) {
                    l->outbox(&o, l->arg);
                }
                rec_outbox_finish(&o);
            }
            if (oom) {
                PQclear(r);
                return -ENOMEM;
            }
        }
        PQclear(r);
    }
    return 0;
}

/* Queue a query record; NULL (out of memory) is -ENOMEM. */
static int query_put(struct store *st, struct rec *r)
{
    return r != NULL ? query_queue((struct store_pg *)st, r) : -ENOMEM;
}

int pg_history(struct store *st, const struct store_history_query *q, store_history_fn fn,
               void *arg)
{
    return query_put(st, rec_new_history(q, fn, arg));
}

int pg_events(struct store *st, const struct store_event_query *q, store_events_fn fn,
              void *arg)
{
    return query_put(st, rec_new_events(q, fn, arg));
}

int pg_deploys(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
               void *arg)
{
    return query_put(st, rec_new_deploys(q, fn, arg));
}

int pg_check_stats(struct store *st, const struct store_stats_query *q,
                   store_check_stats_fn fn, void *arg)
{
    return query_put(st, rec_new_check_stats(q, fn, arg));
}

int pg_alerts(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
              void *arg)
{
    return query_put(st, rec_new_alerts(q, fn, arg));
}

