/* store_pg.c - the PostgreSQL history store.
 *
 * Everything runs on the loop thread with libpq's non-blocking API: one
 * writer connection and storage.pool query connections, each a uv_poll on
 * its socket (re-created whenever PQconnectPoll may have changed it). The
 * only blocking phases are open (connect_timeout bounded: connect, migrate,
 * load) and close (flush for at most CLOSE_FLUSH_MS); both drive the same
 * state machines with poll(2) instead of the loop.
 *
 * Writes form one ordered stream: the memory queue, then the spool file,
 * then writes held back because the spool was full, then live writes. Each
 * write gets a record number (rn) when it is queued; the writer sends up to
 * storage.batch of them as one simple-query string, which PostgreSQL runs
 * as one transaction, and that transaction also records the last rn in
 * writer_progress for this node. After any reconnect the writer reads that
 * row back and drops what the database already has, so a batch whose COMMIT
 * reply was lost is not written twice.
 *
 * Several daemons may share one database: migrations, partition creation,
 * rollups and retention take advisory locks (and rollups keep their
 * progress in the database), and ids come from sequences in blocks.
 *
 * This file holds the ops table, open and close, the write stream and the
 * writer; the connections are in store_pg_conn.c, the queries in
 * store_pg_read.c, the spool file in store_spool.c (store_pg_int.h is the
 * contract between them). */
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
#include "hash.h"
#include "log.h"
#include "sbuf.h"
#include "schema.h"
#include "store.h"
#include "store_pg_int.h"
#include "store_rec.h"
#include "store_spool.h"
#include "utf8.h"
#include "util.h"

/* --- check name -> id --- */

static struct name_ent *map_find(struct name_map *m, const char *name)
{
    if (m->cap == 0) {
        return NULL;
    }
    for (size_t i = hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, name) & (m->cap - 1);;
         i = (i + 1) & (m->cap - 1)) {
        if (m->v[i].name == NULL) {
            return NULL;
        }
        if (strcmp(m->v[i].name, name) == 0) {
            return &m->v[i];
        }
    }
}

static int map_put(struct name_map *m, const char *name, int32_t id)
{
    struct name_ent *e = map_find(m, name);
    if (e != NULL) {
        e->id = id;
        return 0;
    }
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        struct name_ent *v = calloc(nc, sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->v[i].name != NULL) {
                size_t j = hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, m->v[i].name) & (nc - 1);
                while (v[j].name != NULL) {
                    j = (j + 1) & (nc - 1);
                }
                v[j] = m->v[i];
            }
        }
        free(m->v);
        m->v = v;
        m->cap = nc;
    }
    char *dup = strdup(name);
    if (dup == NULL) {
        return -ENOMEM;
    }
    size_t i = hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, name) & (m->cap - 1);
    while (m->v[i].name != NULL) {
        i = (i + 1) & (m->cap - 1);
    }
    m->v[i] = (struct name_ent){.name = dup, .id = id};
    m->n++;
    return 0;
}

static void map_free(struct name_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].name);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static void writer_kick(struct store_pg *s);

/* --- ids --- */

static const char *const id_seq[ID_KINDS] = {"events_id_seq", "deploys_id_seq", "alerts_id_seq",
                                             "mutes_id_seq", "outbox_id_seq"};

/* The next id of kind; the block is refilled in the background. When the
 * blocks run out during an outage, ids continue past the block in this
 * daemon: they are unique here but may meet ids another daemon reserved;
 * the writes replace by id (ON CONFLICT), so nothing fails, and a fresh
 * block is used as soon as the database answers again. */
static int64_t id_take(struct store_pg *s, enum id_kind k)
{
    struct idblock *b = &s->ids[k];
    if (b->next >= b->end && b->spare > 0) {
        b->next = b->spare;
        b->end = b->spare + ID_BLOCK;
        b->spare = 0;
    }
    if (b->next >= b->end && b->local_max == 0) {
        /* No block (the database was unreachable at start, or is gone
         * since the last block ran out): number from the clock in
         * microseconds, far above anything a sequence has handed out, so
         * these rows never replace existing ones; the next block is taken
         * past them (ids_sql), so ids keep increasing. */
        int64_t base = clock_wall_ms() * 1000;
        b->next = b->next > base ? b->next : base;
        if (!b->exhausted_logged) {
            b->exhausted_logged = true;
            log_warn(LOG_KV("store", "postgres", "sequence", id_seq[k]),
                     "no id block while the database is unreachable: numbering from the clock");
        }
    }
    int64_t id = b->next++;
    if (b->next >= b->end) {
        b->end = b->next;
        b->local_max = id;
    }
    if (b->spare == 0 && !s->ids_fetching) {
        writer_kick(s);
    }
    return id;
}

static bool ids_wanted(const struct store_pg *s)
{
    for (int k = 0; k < ID_KINDS; k++) {
        if (s->ids[k].spare == 0) {
            return true;
        }
    }
    return false;
}

/* SQL reserving one block for every kind without a spare one. */
void ids_sql(const struct store_pg *s, struct sbuf *b)
{
    sbuf_append_str(b, "SELECT ");
    bool first = true;
    for (int k = 0; k < ID_KINDS; k++) {
        sbuf_append_str(b, first ? "" : ", ");
        first = false;
        if (s->ids[k].spare == 0 && s->ids[k].local_max > 0) {
            /* Move the sequence past the ids numbered locally first: the
             * FROM subquery runs before the select list. */
            sbuf_append_str(b, "(SELECT nextval('");
            sbuf_append_str(b, id_seq[k]);
            sbuf_append_str(b, "') FROM (SELECT setval('");
            sbuf_append_str(b, id_seq[k]);
            sbuf_append_str(b, "', GREATEST(last_value, ");
            sbuf_append_i64(b, s->ids[k].local_max);
            sbuf_append_str(b, ")) FROM ");
            sbuf_append_str(b, id_seq[k]);
            sbuf_append_str(b, ") AS past)");
        } else if (s->ids[k].spare == 0) {
            sbuf_append_str(b, "nextval('");
            sbuf_append_str(b, id_seq[k]);
            sbuf_append_str(b, "')");
        } else {
            sbuf_append_str(b, "0");
        }
    }
}

int64_t val_i64(const PGresult *r, int row, int col)
{
    if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col)) {
        return 0;
    }
    errno = 0;
    char *end;
    long long v = strtoll(PQgetvalue(r, row, col), &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    return (int64_t)v;
}

/* Take the blocks ids_sql reserved. A fresh block also ends local numbering. */
void ids_apply(struct store_pg *s, const PGresult *r)
{
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        PQnfields(r) != ID_KINDS) {
        return;
    }
    for (int k = 0; k < ID_KINDS; k++) {
        int64_t v = val_i64(r, 0, k);
        struct idblock *b = &s->ids[k];
        if (v <= 0 || b->spare != 0) {
            continue;
        }
        if (b->next >= b->end) {
            b->next = v;
            b->end = v + ID_BLOCK;
            b->local_max = 0;
            b->exhausted_logged = false;
        } else {
            b->spare = v;
        }
    }
}

/* --- the write stream --- */

void list_append(struct rec **head, struct rec **tail, struct rec *r)
{
    r->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = r;
    } else {
        *head = r;
    }
    *tail = r;
}

static void note_drop(struct store_pg *s)
{
    if (s->dropped >= s->dropped_logged + 1000 || s->dropped_logged == 0) {
        s->dropped_logged = s->dropped;
        log_error(LOG_KV("store", "postgres"),
                  "write queue and spool full: dropping results (%" PRIu64 " so far)",
                  s->dropped);
    }
}

static void writer_kick(struct store_pg *s)
{
    if (s->timers_init && !s->closing && s->writer.state == C_READY) {
        uv_timer_start(&s->kick, on_kick, 0, 0);
    }
}

/* Put a write on the stream. droppable: a result or event, dropped and
 * counted when memory and spool are both full; the rest is kept in memory
 * whatever it costs. */
static void enqueue_write(struct store_pg *s, struct rec *r, bool droppable)
{
    uint64_t rn = r->rn = s->next_rn++;   /* r may be freed once spooled */
    if (!s->sp.active && s->nmem < s->queue_max) {
        list_append(&s->head, &s->tail, r);
        s->nmem++;
    } else if (s->sp.path != NULL && s->sp.size < s->spool_max &&
               store_spool_append(&s->sp, r) == 0) {
        if (!s->sp.active) {
            log_warn(LOG_KV("store", "postgres"),
                     "write queue full (%zu): spooling to %s", s->queue_max, s->sp.path);
        }
        s->sp.active = true;
        rec_free(r);
    } else if (!droppable) {
        if (s->sp.active) {
            list_append(&s->held_head, &s->held_tail, r);
            s->nheld++;
        } else {
            list_append(&s->head, &s->tail, r);
            s->nmem++;
        }
    } else {
        s->dropped++;
        s->write_errors++;
        note_drop(s);
        rec_free(r);
        return;
    }
    s->last_queued_rn = rn;
    writer_kick(s);
}

/* Drop queued writes the database already has (rn <= last_rn): after a
 * reconnect, the batch in flight when the connection broke may have
 * committed. */
void drop_committed(struct store_pg *s, uint64_t last_rn)
{
    size_t dropped = 0;
    while (s->head != NULL && s->head->rn <= last_rn) {
        struct rec *r = s->head;
        s->head = r->next;
        if (s->head == NULL) {
            s->tail = NULL;
        }
        s->nmem--;
        rec_free(r);
        dropped++;
    }
    if (last_rn > s->done_rn) {
        s->done_rn = last_rn;
    }
    if (dropped > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", dropped);
        log_info(LOG_KV("store", "postgres", "writes", n),
                 "%s writes were committed before the connection broke: not sent again", n);
    }
}

/* Move the batch in flight back to the head of the memory queue. */
static void requeue_inflight(struct store_pg *s)
{
    if (s->inflight == NULL) {
        return;
    }
    s->inflight_tail->next = s->head;
    if (s->head == NULL) {
        s->tail = s->inflight_tail;
    }
    s->head = s->inflight;
    s->nmem += s->ninflight;
    s->inflight = s->inflight_tail = NULL;
    s->ninflight = 0;
}

/* Refill the memory queue from the spool when it ran dry; once the spool
 * is drained, the writes held back follow, then live writes. */
static void spool_refill(struct store_pg *s)
{
    struct store_spool *sp = &s->sp;
    if (!sp->active || s->head != NULL) {
        return;
    }
    size_t n = 0;
    struct rec *r;
    while (n < (size_t)s->batch && (r = store_spool_read(sp)) != NULL) {
        if (r->rn > sp->last_rn) {
            sp->last_rn = r->rn;
        }
        if (r->rn <= s->done_rn) {
            rec_free(r);    /* committed before a crash or a lost reply */
            continue;
        }
        list_append(&s->head, &s->tail, r);
        s->nmem++;
        n++;
    }
    if (sp->rd >= sp->size) {
        sp->active = false;
        if (s->held_head != NULL) {
            if (s->tail != NULL) {
                s->tail->next = s->held_head;
            } else {
                s->head = s->held_head;
            }
            s->tail = s->held_tail;
            s->nmem += s->nheld;
            s->held_head = s->held_tail = NULL;
            s->nheld = 0;
        }
    }
}

/* The spool is truncated once nothing read from it waits any more. */
static void spool_maybe_reset(struct store_pg *s)
{
    struct store_spool *sp = &s->sp;
    if (!sp->active && sp->size > 0 && sp->rd >= sp->size && s->done_rn >= sp->last_rn) {
        store_spool_reset(sp);
        log_info(LOG_KV("store", "postgres"), "spool drained");
    }
}

/* --- building a batch --- */

static const char *ev_type(const char *t)
{
    return t != NULL ? t : "daemon";
}

/* A deploy's status and verdict as ranks, so that an update only moves
 * them forward (store.h): an older or repeated write keeps what is there. */
#define STATUS_RANK(x) "(CASE " x " WHEN 'started' THEN 0 WHEN 'succeeded' THEN 1 " \
                       "WHEN 'failed' THEN 2 ELSE -1 END)"
#define VERDICT_RANK(x) "(CASE WHEN " x " IS NULL THEN 0 WHEN " x " = 'pending' THEN 1 " \
                        "ELSE 2 END)"
#define MOVED STATUS_RANK("EXCLUDED.status") " > " STATUS_RANK("deploys.status")
#define JUDGED VERDICT_RANK("EXCLUDED.verdict") " > " VERDICT_RANK("deploys.verdict")
#define NEWER(col) col " = CASE WHEN " MOVED " THEN COALESCE(EXCLUDED." col ", deploys." col \
                   ") ELSE COALESCE(deploys." col ", EXCLUDED." col ") END"
#define VERDICT(col) col " = CASE WHEN " JUDGED " THEN EXCLUDED." col " ELSE deploys." col " END"

/* Insert a deploy, or merge it into its row forward only (store.h); a new
 * row whose ext_id another row holds is not written (never an error: one
 * failed statement would abort the whole batch). */
static void build_deploy(struct sbuf *b, const struct deploy *d)
{
    sbuf_append_str(b,
                    "INSERT INTO deploys (id, app, env, version, commit_sha, author, source, url, "
                    "description, status, started_ms, finished_ms, verdict, verdict_reason, "
                    "failing_check, rollback_version, ext_id, ref) SELECT ");
    sbuf_append_i64(b, d->id);
    const char *v1[] = {d->app, d->env, d->version};
    for (size_t i = 0; i < ARRAY_SIZE(v1); i++) {
        sbuf_append_str(b, ", ");
        sql_lit(b, v1[i] != NULL ? v1[i] : "");
    }
    const char *v2[] = {d->commit, d->author, d->source, d->url, d->description};
    for (size_t i = 0; i < ARRAY_SIZE(v2); i++) {
        sbuf_append_str(b, ", ");
        sql_opt(b, v2[i]);
        sbuf_append_str(b, "::text");
    }
    sbuf_append_str(b, ", ");
    sql_lit(b, d->status != NULL ? d->status : "");
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, d->started_ms);
    sbuf_append_str(b, "::bigint, ");
    sql_i64_or_null(b, d->finished_ms > 0 ? d->finished_ms : 0);
    sbuf_append_str(b, "::bigint");
    const char *v3[] = {d->verdict, d->verdict_reason, d->failing_check, d->rollback_version,
                        d->ext_id, d->ref};
    for (size_t i = 0; i < ARRAY_SIZE(v3); i++) {
        sbuf_append_str(b, ", ");
        sql_opt(b, v3[i]);
        sbuf_append_str(b, "::text");
    }
    if (d->ext_id != NULL) {
        sbuf_append_str(b, " WHERE NOT EXISTS (SELECT 1 FROM deploys WHERE ext_id = ");
        sql_lit(b, d->ext_id);
        sbuf_append_str(b, " AND id <> ");
        sbuf_append_i64(b, d->id);
        sbuf_append_str(b, ")");
    }
    sbuf_append_str(b,
                    " ON CONFLICT (id) DO UPDATE SET "
                    "version = CASE WHEN " MOVED " THEN EXCLUDED.version ELSE deploys.version END, "
                    NEWER("commit_sha") ", " NEWER("author") ", " NEWER("url") ", "
                    NEWER("description") ", " NEWER("ref") ", "
                    "finished_ms = CASE WHEN " MOVED " THEN COALESCE(EXCLUDED.finished_ms, "
                    "deploys.finished_ms) ELSE deploys.finished_ms END, "
                    "status = CASE WHEN " MOVED " THEN EXCLUDED.status ELSE deploys.status END, "
                    VERDICT("verdict_reason") ", " VERDICT("failing_check") ", "
                    VERDICT("rollback_version") ", " VERDICT("verdict") ";\n");
}

static void build_alert(struct sbuf *b, const struct alert *a)
{
    sbuf_append_str(b,
                    "INSERT INTO alerts (id, kind, check_name, app, env, severity, status, "
                    "summary, started, resolved, ack_by, ack_ts, ack_comment, muted_by, "
                    "deploy_id, last_notified, notifications, deploy_info) VALUES (");
    sbuf_append_i64(b, a->id);
    sbuf_append_str(b, ", ");
    sql_lit(b, a->kind != NULL ? a->kind : "");
    sbuf_append_str(b, ", ");
    sql_opt(b, a->check);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->app);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->env);
    sbuf_append_str(b, ", ");
    sql_lit(b, a->severity != NULL ? a->severity : "");
    sbuf_append_str(b, ", ");
    sql_lit(b, a->status != NULL ? a->status : "");
    sbuf_append_str(b, ", ");
    sql_lit(b, a->summary != NULL ? a->summary : "");
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, a->started_ms);
    sbuf_append_str(b, ", ");
    sql_i64_or_null(b, a->resolved_ms);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->ack_by);
    sbuf_append_str(b, ", ");
    sql_i64_or_null(b, a->ack_ms);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->ack_comment);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->muted_by);
    sbuf_append_str(b, ", ");
    sql_i64_or_null(b, a->deploy_id);
    sbuf_append_str(b, ", ");
    sql_i64_or_null(b, a->last_notified_ms);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, a->notifications);
    sbuf_append_str(b, ", ");
    sql_opt(b, a->deploy_info);
    sbuf_append_str(b, ") ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, "
                       "check_name = EXCLUDED.check_name, app = EXCLUDED.app, env = EXCLUDED.env, "
                       "severity = EXCLUDED.severity, status = EXCLUDED.status, "
                       "summary = EXCLUDED.summary, started = EXCLUDED.started, "
                       "resolved = EXCLUDED.resolved, ack_by = EXCLUDED.ack_by, "
                       "ack_ts = EXCLUDED.ack_ts, ack_comment = EXCLUDED.ack_comment, "
                       "muted_by = EXCLUDED.muted_by, deploy_id = EXCLUDED.deploy_id, "
                       "last_notified = EXCLUDED.last_notified, "
                       "notifications = EXCLUDED.notifications, "
                       "deploy_info = EXCLUDED.deploy_info;\n");
}

static void build_mute(struct sbuf *b, const struct mute *m)
{
    sbuf_append_str(b, "INSERT INTO mutes (id, kind, check_name, app, env, severity, starts, ends, "
                       "author, comment, created, alert_id) VALUES (");
    sbuf_append_i64(b, m->id);
    sbuf_append_str(b, ", ");
    sql_lit(b, m->kind != NULL ? m->kind : "");
    const char *v[] = {m->check, m->app, m->env, m->severity};
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        sbuf_append_str(b, ", ");
        sql_opt(b, v[i]);
    }
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, m->starts_ms);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, m->ends_ms);
    sbuf_append_str(b, ", ");
    sql_opt(b, m->author);
    sbuf_append_str(b, ", ");
    sql_opt(b, m->comment);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, m->created_ms);
    sbuf_append_str(b, ", ");
    if (m->alert_id > 0) {
        sbuf_append_i64(b, m->alert_id);
    } else {
        sbuf_append_str(b, "NULL");
    }
    sbuf_append_str(b,
                    ") ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, "
                    "check_name = EXCLUDED.check_name, app = EXCLUDED.app, env = EXCLUDED.env, "
                    "severity = EXCLUDED.severity, starts = EXCLUDED.starts, ends = EXCLUDED.ends, "
                    "author = EXCLUDED.author, comment = EXCLUDED.comment, "
                    "created = EXCLUDED.created, alert_id = EXCLUDED.alert_id;\n");
}

static void build_outbox(struct sbuf *b, const struct outbox_item *o)
{
    sbuf_append_str(b,
                    "INSERT INTO outbox (id, alert_id, notifier, payload, created, attempts, "
                    "next_ts) VALUES (");
    sbuf_append_i64(b, o->id);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, o->alert_id);
    sbuf_append_str(b, ", ");
    sql_lit(b, o->notifier != NULL ? o->notifier : "");
    sbuf_append_str(b, ", ");
    sql_lit(b, o->payload != NULL ? o->payload : "");
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, o->created_ms);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, o->attempts);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, o->next_ms);
    sbuf_append_str(b, ") ON CONFLICT (id) DO UPDATE SET alert_id = EXCLUDED.alert_id, "
                       "notifier = EXCLUDED.notifier, payload = EXCLUDED.payload, "
                       "created = EXCLUDED.created, attempts = EXCLUDED.attempts, "
                       "next_ts = EXCLUDED.next_ts;\n");
}

/* One row of log_positions: a log check's position after its result. */
static void build_log_position(struct sbuf *b, int32_t id, const struct check_log_position *lp)
{
    sbuf_append_str(b, "(");
    sbuf_append_i64(b, id);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, (int64_t)lp->dev);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, (int64_t)lp->ino);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, lp->offset);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, (int64_t)lp->head);
    sbuf_append_str(b, lp->skipping ? ", true)" : ", false)");
}

static void build_state(struct sbuf *b, int32_t id, const struct store_check_state *cs)
{
    const struct result *res = &cs->last;
    sbuf_append_str(b, "(");
    sbuf_append_i64(b, id);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, clamp(cs->state, STATE_UNKNOWN, STATE_DOWN));
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, clamp(cs->fail_streak, 0, INT32_MAX));
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, clamp(cs->ok_streak, 0, INT32_MAX));
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, cs->state_since_ms);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, res->started_ms);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, res->duration_us);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, clamp(res->outcome, STATE_UNKNOWN, STATE_DOWN));
    sbuf_append_str(b, ", ");
    if (res->status >= 0) {
        sbuf_append_i64(b, res->status);
    } else {
        sbuf_append_str(b, "NULL");
    }
    sbuf_append_str(b, ", ");
    sql_opt(b, res->error);
    sbuf_append_str(b, ", ");
    sql_opt(b, res->failed_condition);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, res->cert_expiry_s);
    sbuf_append_str(b, ", ");
    sql_opt(b, res->message);
    sbuf_append_str(b, ", ");
    sql_opt(b, res->perfdata);
    sbuf_append_str(b, ")");
}

/* Names of checks in the next batch that have no id yet, as an SQL array
 * body; 0 when none. */
static size_t unknown_names(struct store_pg *s, struct sbuf *b)
{
    size_t n = 0, seen = 0;
    for (struct rec *r = s->head; r != NULL && seen < (size_t)s->batch; r = r->next, seen++) {
        if (r->kind == REC_RESULT && map_find(&s->names, r->check) == NULL) {
            sbuf_append_str(b, n > 0 ? ", " : "");
            sql_lit(b, r->check);
            n++;
        }
    }
    return n;
}

/* Build the next batch from the head of the memory queue into b (SQL) and
 * res (the raw results, as COPY data: COPY parses far less than a VALUES
 * list, which made it the bottleneck) and move its records to inflight.
 * Returns the number taken (0: nothing ready). */
static size_t build_batch(struct store_pg *s, struct sbuf *b, struct sbuf *res, size_t max)
{
    struct sbuf evs = {0}, states = {0}, late = {0}, logs = {0};
    size_t n = 0, nres = 0, nev = 0, nlate = 0;
    uint64_t mark = ++s->batch_no;
    int64_t late_before = clock_wall_ms() - LATE_MARGIN_MS;
    if (s->head != NULL) {
        /* First: lock this node's progress and refuse records already
         * committed (by a transaction this writer gave up on). */
        sbuf_append_str(b, "SELECT shipwatch_claim(");
        sql_lit(b, s->node);
        sbuf_append_str(b, ", ");
        sbuf_append_i64(b, (int64_t)s->head->rn);
        sbuf_append_str(b, ");\n");
    }
    while (s->head != NULL && n < max && b->len + res->len + evs.len < SQL_SOFT_MAX) {
        struct rec *r = s->head;
        struct name_ent *e = NULL;
        if (r->kind == REC_RESULT) {
            e = map_find(&s->names, r->check);
            if (e == NULL) {
                break;  /* resolve its id first */
            }
        }
        s->head = r->next;
        if (s->head == NULL) {
            s->tail = NULL;
        }
        s->nmem--;
        list_append(&s->inflight, &s->inflight_tail, r);
        s->ninflight++;
        s->inflight_rn = r->rn;
        n++;
        switch (r->kind) {
        case REC_RESULT: {
            const struct result *x = &r->st.last;
            nres++;
            sbuf_append_i64(res, e->id);
            sbuf_append_str(res, "\t");
            sbuf_append_i64(res, x->started_ms);
            sbuf_append_str(res, "\t");
            sbuf_append_i64(res, clamp(x->duration_us, 0, INT32_MAX));
            sbuf_append_str(res, "\t");
            sbuf_append_i64(res, clamp(x->outcome, STATE_UNKNOWN, STATE_DOWN));
            sbuf_append_str(res, "\t");
            if (x->status >= 0) {
                sbuf_append_i64(res, clamp(x->status, 0, INT16_MAX));
            } else {
                sbuf_append_str(res, "\\N");
            }
            sbuf_append_str(res, "\t");
            sql_copy(res, x->error);
            sbuf_append_str(res, "\t");
            sql_copy(res, x->failed_condition);
            sbuf_append_str(res, "\t");
            sql_copy(res, x->message);
            sbuf_append_str(res, "\t");
            sql_copy(res, x->perfdata);
            sbuf_append_str(res, "\t");
            if (x->nconds > 0) {
                sbuf_append_i64(res, x->nconds);
                sbuf_append_str(res, "\t");
                sbuf_append_i64(res, x->conds_failed);
            } else {
                sbuf_append_str(res, "\\N\t\\N");
            }
            sbuf_append_str(res, "\n");
            if (e->mark != mark) {
                e->mark = mark;
                e->dirty = false;
            }
            e->last = r;
            e->dirty |= !r->st.routine;
            if (x->started_ms < late_before) {
                sbuf_append_str(&late, nlate++ > 0 ? ", (" : "(");
                sbuf_append_i64(&late, e->id);
                sbuf_append_str(&late, ", ");
                sbuf_append_i64(&late, x->started_ms - x->started_ms % MINUTE_MS);
                sbuf_append_str(&late, ")");
            }
            break;
        }
        case REC_EVENT:
            sbuf_append_str(&evs, nev++ > 0 ? ",\n(" : "(");
            sbuf_append_i64(&evs, r->ev.id);
            sbuf_append_str(&evs, ", ");
            sbuf_append_i64(&evs, r->ev.ts_ms);
            sbuf_append_str(&evs, ", ");
            sql_lit(&evs, ev_type(r->ev.type));
            sbuf_append_str(&evs, ", ");
            sql_opt(&evs, r->ev.check);
            sbuf_append_str(&evs, ", ");
            sql_opt(&evs, r->ev.app);
            sbuf_append_str(&evs, ", ");
            sql_opt(&evs, r->ev.env);
            sbuf_append_str(&evs, ", ");
            sql_lit(&evs, r->ev.message != NULL ? r->ev.message : "");
            sbuf_append_str(&evs, ", ");
            sql_opt(&evs, r->ev.data);
            sbuf_append_str(&evs, ")");
            break;
        case REC_DEPLOY:
            build_deploy(b, &r->dep);
            break;
        case REC_ALERT:
            build_alert(b, &r->alert);
            break;
        case REC_MUTE:
            build_mute(b, &r->mute);
            break;
        case REC_OUTBOX:
            build_outbox(b, &r->outbox);
            break;
        case REC_OUTBOX_DELETE:
            sbuf_append_str(b, "DELETE FROM outbox WHERE id = ");
            sbuf_append_i64(b, r->outbox_id);
            sbuf_append_str(b, ";\n");
            break;
        default:
            break;
        }
    }
    if (n == 0) {
        sbuf_finish(&evs);
        sbuf_finish(&states);
        sbuf_finish(&late);
        return 0;
    }
    if (nres > 0) {
        /* The server runs the rest of the string, in the same transaction,
         * once the data is in. */
        sbuf_append_str(b, "COPY results (check_id, ts, duration_us, outcome, status, error, "
                  "failed_condition, message, perfdata, conditions, conditions_failed) "
                  "FROM STDIN;\n");
        /* The check's state after its last result of the batch, when one
         * of them was not routine (state.h); one row a check, as one
         * upsert cannot touch a row twice. */
        size_t k = 0, nlogs = 0;
        for (struct rec *r = s->inflight; r != NULL; r = r->next) {
            if (r->kind != REC_RESULT) {
                continue;
            }
            struct name_ent *e = map_find(&s->names, r->check);
            if (e != NULL && e->mark == mark && e->last == r) {
                if (e->dirty) {
                    sbuf_append_str(&states, k++ > 0 ? ",\n" : "");
                    build_state(&states, e->id, &r->st);
                }
                if (r->st.has_log) {
                    sbuf_append_str(&logs, nlogs++ > 0 ? ",\n" : "");
                    build_log_position(&logs, e->id, &r->st.log);
                }
            }
        }
        if (k > 0) {
            sbuf_append_str(b, "INSERT INTO check_state VALUES\n");
            sbuf_append(b, states.data, states.len);
            sbuf_append_str(b, "\nON CONFLICT (check_id) DO UPDATE SET state = EXCLUDED.state, "
                      "fail_streak = EXCLUDED.fail_streak, ok_streak = EXCLUDED.ok_streak, "
                      "state_since = EXCLUDED.state_since, last_ts = EXCLUDED.last_ts, "
                      "last_duration_us = EXCLUDED.last_duration_us, "
                      "last_outcome = EXCLUDED.last_outcome, last_status = EXCLUDED.last_status, "
                      "last_error = EXCLUDED.last_error, last_failed = EXCLUDED.last_failed, "
                      "last_cert_expiry = EXCLUDED.last_cert_expiry, "
                      "last_message = EXCLUDED.last_message, "
                      "last_perfdata = EXCLUDED.last_perfdata;\n");
        }
        if (nlogs > 0) {
            sbuf_append_str(b, "INSERT INTO log_positions VALUES\n");
            sbuf_append(b, logs.data, logs.len);
            sbuf_append_str(b, "\nON CONFLICT (check_id) DO UPDATE SET dev = EXCLUDED.dev, "
                               "ino = EXCLUDED.ino, pos = EXCLUDED.pos, head = EXCLUDED.head, "
                               "skipping = EXCLUDED.skipping;\n");
        }
        if (nlate > 0) {
            sbuf_append_str(b, "INSERT INTO rollup_late VALUES ");
            sbuf_append(b, late.data, late.len);
            sbuf_append_str(b, " ON CONFLICT DO NOTHING;\n");
        }
    }
    if (nev > 0) {
        sbuf_append_str(b, "INSERT INTO events VALUES\n");
        sbuf_append(b, evs.data, evs.len);
        sbuf_append_str(b, "\nON CONFLICT (id) DO NOTHING;\n");
    }
    sbuf_append_str(b, "INSERT INTO writer_progress VALUES (");
    sql_lit(b, s->node);
    sbuf_append_str(b, ", ");
    sbuf_append_i64(b, (int64_t)s->inflight_rn);
    sbuf_append_str(b, ") ON CONFLICT (node) DO UPDATE SET last_rn = "
                       "GREATEST(writer_progress.last_rn, EXCLUDED.last_rn)");
    /* Read before sbuf_finish, which clears them. */
    bool failed = b->failed || states.failed || res->failed || logs.failed;
    sbuf_finish(&evs);
    sbuf_finish(&states);
    sbuf_finish(&late);
    sbuf_finish(&logs);
    b->failed = failed;
    return n;
}

/* --- the writer --- */

/* Release alerts queries whose writes are all committed (err 0), or all
 * of them with err. */
void alerts_release(struct store_pg *s, int err)
{
    bool empty = s->head == NULL && s->inflight == NULL && !s->sp.active && s->held_head == NULL;
    struct rec *keep = NULL, *keep_tail = NULL;
    struct rec *r = s->ahead;
    s->ahead = s->atail = NULL;
    while (r != NULL) {
        struct rec *next = r->next;
        if (err != 0) {
            s->nq--;
            r->err = err;
            query_deliver(r);
            rec_free(r);
        } else if (empty || r->rn <= s->done_rn) {
            list_append(&s->qhead, &s->qtail, r);
        } else {
            list_append(&keep, &keep_tail, r);
        }
        r = next;
    }
    s->ahead = keep;
    s->atail = keep_tail;
    if (err == 0) {
        pool_dispatch(s);
    }
}

static void on_progress_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                             bool broken)
{
    struct store_pg *s = c->s;
    if (broken) {
        return;
    }
    if (err != NULL || nres == 0 || PQresultStatus(res[nres - 1]) != PGRES_TUPLES_OK) {
        conn_fail(c, err != NULL ? err : "cannot read the write progress");
        return;
    }
    drop_committed(s, (uint64_t)val_i64(res[nres - 1], 0, 0));
    spool_maybe_reset(s);
    alerts_release(s, 0);
    writer_next(s);
}

/* True when a batch was refused because its records are committed. */
static bool batch_claimed(PGresult **res, int nres)
{
    for (int i = 0; i < nres; i++) {
        const char *code = PQresultErrorField(res[i], PG_DIAG_SQLSTATE);
        if (code != NULL && strcmp(code, "SW001") == 0) {
            return true;
        }
    }
    return false;
}

static void on_batch_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                          bool broken)
{
    struct store_pg *s = c->s;
    if (broken) {
        requeue_inflight(s);
        return;
    }
    if (err != NULL && batch_claimed(res, nres)) {
        /* A transaction given up on committed after all: read how far and
         * drop what it wrote, then go on. */
        log_info(LOG_KV("store", "postgres"), "%s", "a batch given up on committed late: "
                 "not sent again");
        requeue_inflight(s);
        struct sbuf b = {0};
        sbuf_append_str(&b, "SELECT COALESCE((SELECT last_rn FROM writer_progress WHERE node = ");
        sql_lit(&b, s->node);
        sbuf_append_str(&b, "), 0)");
        if (b.failed) {
            conn_fail(c, "out of memory");
        } else {
            conn_send(c, b.data, 0, NULL, on_progress_done);
        }
        sbuf_finish(&b);
        return;
    }
    if (err != NULL) {
        if (s->ninflight > 1) {
            /* One bad row must not hold back the others: send them one a
             * transaction and drop only the one that fails. */
            log_error(LOG_KV("store", "postgres"), "batch failed, retrying row by row: %s", err);
            s->solo = s->ninflight;
            requeue_inflight(s);
        } else {
            log_error(LOG_KV("store", "postgres"), "write failed, dropped: %s", err);
            s->write_errors++;
            s->done_rn = s->inflight_rn;
            for (struct rec *r = s->inflight, *next; r != NULL; r = next) {
                next = r->next;
                rec_free(r);
            }
            s->inflight = s->inflight_tail = NULL;
            s->ninflight = 0;
        }
    } else {
        s->done_rn = s->inflight_rn;
        for (struct rec *r = s->inflight, *next; r != NULL; r = next) {
            next = r->next;
            rec_free(r);
        }
        s->inflight = s->inflight_tail = NULL;
        s->ninflight = 0;
    }
    spool_maybe_reset(s);
    alerts_release(s, 0);
    writer_next(s);
}

static void on_names_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                          bool broken)
{
    struct store_pg *s = c->s;
    s->names_resolving = false;
    if (broken) {
        return;
    }
    if (err != NULL) {
        log_error(LOG_KV("store", "postgres"), "cannot register checks: %s", err);
        s->write_errors++;
    }
    for (int i = 0; i < nres; i++) {
        if (PQresultStatus(res[i]) != PGRES_TUPLES_OK || PQnfields(res[i]) != 2) {
            continue;
        }
        for (int row = 0; row < PQntuples(res[i]); row++) {
            int64_t id = val_i64(res[i], row, 0);
            if (id > 0 && id <= INT32_MAX && !PQgetisnull(res[i], row, 1)) {
                map_put(&s->names, PQgetvalue(res[i], row, 1), (int32_t)id);
            }
        }
    }
    if (err != NULL) {
        /* Do not spin on it: drop the results of checks still unknown. */
        while (s->head != NULL && s->head->kind == REC_RESULT &&
               map_find(&s->names, s->head->check) == NULL) {
            struct rec *r = s->head;
            s->head = r->next;
            if (s->head == NULL) {
                s->tail = NULL;
            }
            s->nmem--;
            s->done_rn = r->rn;
            rec_free(r);
        }
    }
    writer_next(s);
}

static void on_ids_done(struct pgconn *c, PGresult **res, int nres, const char *err, bool broken)
{
    struct store_pg *s = c->s;
    s->ids_fetching = false;
    if (!broken && err == NULL && nres > 0) {
        ids_apply(s, res[nres - 1]);
    }
    if (!broken) {
        writer_next(s);
    }
}

static void on_chore_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                          bool broken)
{
    struct store_pg *s = c->s;
    s->rollup_running = false;
    if (!broken && err != NULL) {
        log_error(LOG_KV("store", "postgres"), "rollup, partitions or retention: %s", err);
        s->write_errors++;
    }
    (void)res;
    (void)nres;
    if (!broken) {
        writer_next(s);
    }
}

/* Send the writer's next piece of work, if any and if it is idle. Order:
 * names of new checks, id blocks, the next batch, then chores (partitions,
 * rollups, retention) when nothing waits. */
void writer_next(struct store_pg *s)
{
    struct pgconn *c = &s->writer;
    if (c->state != C_READY) {
        return;
    }
    spool_refill(s);
    struct sbuf b = {0};
    if (s->head != NULL && s->head->kind == REC_RESULT && !s->names_resolving) {
        sbuf_append_str(&b, "INSERT INTO checks (name) SELECT unnest(ARRAY[");
        size_t mark = b.len;
        if (unknown_names(s, &b) > 0) {
            sbuf_append_str(&b, "]::text[]) ON CONFLICT (name) DO NOTHING;\n"
                                "SELECT id, name FROM checks WHERE name = ANY(ARRAY[");
            struct sbuf names = {0};
            unknown_names(s, &names);
            sbuf_append(&b, names.data, names.len);
            sbuf_finish(&names);
            sbuf_append_str(&b, "]::text[])");
            if (!b.failed) {
                s->names_resolving = true;
                conn_send(c, b.data, 0, NULL, on_names_done);
            }
            sbuf_finish(&b);
            return;
        }
        (void)mark;
        sbuf_reset(&b);
    }
    if (ids_wanted(s) && !s->ids_fetching) {
        ids_sql(s, &b);
        if (!b.failed) {
            s->ids_fetching = true;
            conn_send(c, b.data, 0, NULL, on_ids_done);
        }
        sbuf_finish(&b);
        return;
    }
    if (s->head != NULL) {
        size_t max = s->solo > 0 ? 1 : (size_t)s->batch;
        sbuf_reset(&b);
        struct sbuf copy = {0};
        size_t n = build_batch(s, &b, &copy, max);
        if (n > 0) {
            if (s->solo > 0) {
                s->solo--;
            }
            if (b.failed) {
                log_error(LOG_KV("store", "postgres"), "out of memory building a batch");
                requeue_inflight(s);
                sbuf_finish(&copy);
            } else {
                conn_send_copy(c, b.data, copy.data, copy.len, on_batch_done);
            }
            sbuf_finish(&b);
            return;
        }
        sbuf_finish(&copy);
    }
    sbuf_finish(&b);
    int64_t now = clock_wall_ms();
    if (now - s->last_partition_ms >= PARTITION_EVERY_MS) {
        s->last_partition_ms = now;
        sbuf_append_str(&b, "SELECT shipwatch_ensure_partitions(");
        sbuf_append_i64(&b, now - 86400000);
        sbuf_append_str(&b, ", ");
        sbuf_append_i64(&b, PARTITION_DAYS_AHEAD + 1);
        sbuf_append_str(&b, ")");
    } else if (s->retention_due) {
        s->retention_due = false;
        sbuf_append_str(&b, "SELECT shipwatch_retention(");
        sbuf_append_i64(&b, s->retention_now - s->base.retention_raw_ms);
        sbuf_append_str(&b, ", ");
        sbuf_append_i64(&b, s->retention_now - s->base.retention_rollups_ms);
        sbuf_append_str(&b, ")");
    } else if (now - s->last_rollup_ms >= ROLLUP_EVERY_MS) {
        s->last_rollup_ms = now;
        sbuf_append_str(&b, "SELECT shipwatch_rollup(");
        sbuf_append_i64(&b, now);
        sbuf_append_str(&b, ")");
    }
    if (b.len > 0 && !b.failed) {
        s->rollup_running = true;
        conn_send_for(c, b.data, 0, NULL, on_chore_done, CHORE_TIMEOUT_MS);
    }
    sbuf_finish(&b);
}

void on_kick(uv_timer_t *t)
{
    struct store_pg *s = t->data;
    alerts_release(s, 0);
    writer_next(s);
}

static void on_tick(uv_timer_t *t)
{
    writer_next(t->data);
}

/* --- ops --- */

static void pg_close(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    if (s->timers_init && !s->closing) {
        int64_t deadline = clock_mono_ms() + CLOSE_FLUSH_MS;
        flush_sync(s, deadline);
        /* Roll up (and run a pending retention) before leaving, as the
         * SQLite store does. */
        s->last_rollup_ms = 0;
        for (int i = 0; i < 3 && s->writer.state == C_READY && stream_empty(&s->writer); i++) {
            writer_next(s);
            if (s->writer.done == NULL) {
                break;
            }
            conn_drive(&s->writer, conn_no_query, deadline);
        }
    }
    s->closing = true;
    /* What could not be written goes to the spool for the next start. */
    requeue_inflight(s);
    if (s->held_head != NULL) {
        if (s->tail != NULL) {
            s->tail->next = s->held_head;
        } else {
            s->head = s->held_head;
        }
        s->tail = s->held_tail;
        s->nmem += s->nheld;
        s->held_head = s->held_tail = NULL;
        s->nheld = 0;
    }
    size_t spooled = 0, lost = 0;
    for (struct rec *r = s->head, *next; r != NULL; r = next) {
        next = r->next;
        if (s->sp.path != NULL && store_spool_append(&s->sp, r) == 0) {
            spooled++;
        } else {
            lost++;
        }
        rec_free(r);
    }
    s->head = s->tail = NULL;
    if (spooled > 0 || lost > 0) {
        char a[24], b[24];
        snprintf(a, sizeof(a), "%zu", spooled);
        snprintf(b, sizeof(b), "%zu", lost);
        log_warn(LOG_KV("store", "postgres", "spooled", a, "lost", b),
                 "closing with unwritten writes: %s spooled, %s lost", a, b);
    }
    struct pgconn *conns[1 + 64];
    int nc = 0;
    conns[nc++] = &s->writer;
    for (int i = 0; i < s->npool && nc < (int)ARRAY_SIZE(conns); i++) {
        conns[nc++] = &s->pool[i];
    }
    for (int i = 0; i < nc; i++) {
        struct pgconn *c = conns[i];
        if (c->query != NULL) {
            rec_free(c->query);     /* never delivered, as in the SQLite store */
            c->query = NULL;
        }
        c->done = NULL;
        for (int k = 0; k < c->nres; k++) {
            PQclear(c->res[k]);
        }
        c->nres = 0;
        copy_drop(c);
        poll_close(c);
        if (c->pg != NULL) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        if (c->retry_init) {
            handle_close((uv_handle_t *)&c->retry, NULL);
        }
        if (c->deadline_init) {
            handle_close((uv_handle_t *)&c->deadline, NULL);
        }
    }
    for (struct rec *r = s->qhead, *next; r != NULL; r = next) {
        next = r->next;
        rec_free(r);
    }
    for (struct rec *r = s->ahead, *next; r != NULL; r = next) {
        next = r->next;
        rec_free(r);
    }
    if (s->timers_init) {
        handle_close((uv_handle_t *)&s->kick, NULL);
        handle_close((uv_handle_t *)&s->tick, NULL);
    }
    uv_run(s->base.loop, UV_RUN_NOWAIT);
    store_spool_finish(&s->sp);
    map_free(&s->names);
    for (size_t i = 0; s->keys != NULL && s->keys[i] != NULL; i++) {
        free(s->keys[i]);
        free(s->vals[i]);
    }
    free(s->keys);
    free(s->vals);
    free(s->node);
    free(s->pool);
    free(s);
}

static void pg_put_result(struct store *st, const struct store_check_state *cs)
{
    struct store_pg *s = (struct store_pg *)st;
    struct rec *r = rec_new_result(cs);
    if (r == NULL) {
        s->write_errors++;
        return;
    }
    enqueue_write(s, r, true);
}

static int64_t pg_put_event(struct store *st, const struct event *ev)
{
    struct store_pg *s = (struct store_pg *)st;
    int64_t id = id_take(s, ID_EVENT);
    struct rec *r = rec_new_event(ev, id);
    if (r == NULL) {
        s->write_errors++;
        return id;
    }
    enqueue_write(s, r, true);
    return id;
}

/* Queue a row write that is never dropped; r NULL (out of memory) is
 * logged and counted. Returns id. */
static int64_t put_row(struct store_pg *s, struct rec *r, const char *what, int64_t id)
{
    if (r == NULL) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRId64, id);
        log_error(LOG_KV("store", "postgres", "id", n), "out of memory: %s %s not written", what,
                  n);
        s->write_errors++;
        return id;
    }
    enqueue_write(s, r, false);
    return id;
}

static int64_t pg_put_deploy(struct store *st, const struct deploy *dep)
{
    struct store_pg *s = (struct store_pg *)st;
    int64_t id = dep->id > 0 ? dep->id : id_take(s, ID_DEPLOY);
    return put_row(s, rec_new_deploy(dep, id), "deploy", id);
}

static int64_t pg_put_alert(struct store *st, const struct alert *a)
{
    struct store_pg *s = (struct store_pg *)st;
    int64_t id = a->id > 0 ? a->id : id_take(s, ID_ALERT);
    return put_row(s, rec_new_alert(a, id), "alert", id);
}

static int64_t pg_put_mute(struct store *st, const struct mute *m)
{
    struct store_pg *s = (struct store_pg *)st;
    int64_t id = m->id > 0 ? m->id : id_take(s, ID_MUTE);
    return put_row(s, rec_new_mute(m, id), "mute", id);
}

static int64_t pg_put_outbox(struct store *st, const struct outbox_item *o)
{
    struct store_pg *s = (struct store_pg *)st;
    int64_t id = o->id > 0 ? o->id : id_take(s, ID_OUTBOX);
    return put_row(s, rec_new_outbox(o, id), "outbox row", id);
}

static void pg_delete_outbox(struct store *st, int64_t id)
{
    put_row((struct store_pg *)st, rec_new_outbox_delete(id), "outbox removal", id);
}

static void pg_retention(struct store *st, int64_t now_ms)
{
    struct store_pg *s = (struct store_pg *)st;
    s->retention_due = true;
    s->retention_now = now_ms;
    writer_kick(s);
}

static void pg_stats(struct store *st, size_t *queue_length, uint64_t *write_errors)
{
    struct store_pg *s = (struct store_pg *)st;
    *queue_length = s->nmem + s->ninflight + s->nheld;
    *write_errors = s->write_errors;
}

static void pg_health(struct store *st, struct store_health *h)
{
    struct store_pg *s = (struct store_pg *)st;
    h->degraded = s->degraded;
    snprintf(h->reason, sizeof(h->reason), "%s", s->degraded ? s->reason : "");
    h->since_ms = s->degraded ? s->since_ms : 0;
    h->queued = s->nmem + s->ninflight + s->nheld;
    h->spooled_bytes = s->sp.size > s->sp.rd ? s->sp.size - s->sp.rd : 0;
    h->reconnects = s->reconnects;
    h->dropped = s->dropped;
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .load_states = pg_load_states,
    .put_result = pg_put_result,
    .put_event = pg_put_event,
    .history = pg_history,
    .events = pg_events,
    .put_deploy = pg_put_deploy,
    .deploys = pg_deploys,
    .check_stats = pg_check_stats,
    .retention = pg_retention,
    .load_alerting = pg_load_alerting,
    .put_alert = pg_put_alert,
    .alerts = pg_alerts,
    .put_mute = pg_put_mute,
    .put_outbox = pg_put_outbox,
    .delete_outbox = pg_delete_outbox,
    .stats = pg_stats,
    .health = pg_health,
};

static bool writer_settled(struct pgconn *c)
{
    return c->state == C_READY || c->state == C_DOWN;
}

/* Open the PostgreSQL store: parse the DSN, connect (briefly blocking),
 * migrate, start the pool. An unreachable server opens degraded. */
int store_pg_open(uv_loop_t *loop, const struct config *conf, struct store **out,
                  char *errbuf, size_t errlen)
{
    struct store_pg *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    s->base.ops = &pg_ops;
    s->base.loop = loop;
    s->base.retention_raw_ms = conf->storage.retention_raw_ms;
    s->base.retention_rollups_ms = conf->storage.retention_rollups_ms;
    store_spool_init(&s->sp, NULL, "postgres");
    /* SHIPWATCH_PG_QUERY_TIMEOUT_MS shortens (or lengthens) the bound of a
     * batch or query, for tests and for unusual networks. */
    s->query_ms = QUERY_TIMEOUT_MS;
    const char *qt = getenv("SHIPWATCH_PG_QUERY_TIMEOUT_MS");
    if (qt != NULL && qt[0] != '\0') {
        s->query_ms = clamp(strtoll(qt, NULL, 10), 100, 3600000);
    }
    s->writer.s = s;
    s->writer.index = -1;
    int rc;
    if (conf->storage.dsn == NULL || conf->storage.dsn[0] == '\0') {
        snprintf(errbuf, errlen, "storage.dsn is required with driver postgres");
        rc = -EINVAL;
        goto fail;
    }
    rc = parse_dsn(s, conf->storage.dsn, errbuf, errlen);
    if (rc < 0) {
        goto fail;
    }
    char host[256] = "shipwatchd";
    if (conf->node_name == NULL || conf->node_name[0] == '\0') {
        if (gethostname(host, sizeof(host) - 1) < 0) {
            snprintf(host, sizeof(host), "shipwatchd");
        }
        host[sizeof(host) - 1] = '\0';
    }
    s->node = strdup(conf->node_name != NULL && conf->node_name[0] ? conf->node_name : host);
    s->batch = conf->storage.batch > 0 ? conf->storage.batch : 1000;
    s->queue_max = conf->storage.queue > 0 ? conf->storage.queue : STORE_QUEUE_MAX;
    s->spool_max = conf->storage.spool_max_bytes > 0 ? (uint64_t)conf->storage.spool_max_bytes
                                                     : (uint64_t)1 << 30;
    s->sp.path = xstrdup(conf->storage.spool);     /* the spool frees it */
    s->npool = conf->storage.pool > 0 ? conf->storage.pool : 2;
    if (s->npool > 64) {
        s->npool = 64;
    }
    s->pool = calloc((size_t)s->npool, sizeof(*s->pool));
    if (s->node == NULL || s->pool == NULL || (conf->storage.spool != NULL && s->sp.path == NULL)) {
        snprintf(errbuf, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    /* Record numbers start at the clock in microseconds, so they grow
     * across restarts even when the database cannot be asked (a clock set
     * back while the database is down is the one case this misses). */
    s->next_rn = (uint64_t)clock_wall_us();
    /* done_rn stays 0 until the database says how far this node got: a
     * spool left by the previous run holds smaller numbers. */

    /* A spool left by a previous run is replayed first. */
    struct stat stt;
    if (s->sp.path != NULL && stat(s->sp.path, &stt) == 0 && stt.st_size > 0 &&
        store_spool_open(&s->sp) == 0) {
        s->sp.active = true;
        char n[24];
        snprintf(n, sizeof(n), "%" PRIu64, s->sp.size);
        log_info(LOG_KV("store", "postgres", "bytes", n), "replaying the spool %s", s->sp.path);
    }

    if ((rc = uv_timer_init(loop, &s->kick)) < 0 || (rc = uv_timer_init(loop, &s->tick)) < 0) {
        snprintf(errbuf, errlen, "uv_timer_init: %s", uv_strerror(rc));
        goto fail;
    }
    s->kick.data = s;
    s->tick.data = s;
    s->timers_init = true;
    for (int i = -1; i < s->npool; i++) {
        struct pgconn *c = i < 0 ? &s->writer : &s->pool[i];
        c->s = s;
        c->index = i;
        uv_timer_init(loop, &c->retry);
        c->retry.data = c;
        c->retry_init = true;
        uv_timer_init(loop, &c->deadline);
        c->deadline.data = c;
        c->deadline_init = true;
    }
    set_degraded(s, "connecting");
    conn_start(&s->writer);
    conn_drive(&s->writer, writer_settled, clock_mono_ms() + 15000);
    if (s->fatal != 0) {
        snprintf(errbuf, errlen, "%s", s->fatal_msg);
        rc = s->fatal;
        goto fail;
    }
    if (s->writer.state != C_READY) {
        log_warn(LOG_KV("store", "postgres"),
                 "database unreachable at start (%s): running degraded, writes are kept "
                 "and sent once it answers", s->reason);
    }
    for (int i = 0; i < s->npool; i++) {
        conn_start(&s->pool[i]);
        if (s->writer.state == C_READY) {
            conn_drive(&s->pool[i], writer_settled, clock_mono_ms() + 10000);
        }
    }
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&s->tick);
    *out = &s->base;
    return 0;
fail:
    /* closing: nothing to flush; the handles made so far are closed. */
    s->closing = true;
    pg_close(&s->base);
    return rc;
}
