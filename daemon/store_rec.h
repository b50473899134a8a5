/* store_rec.h - a queued store record, shared by the backends.
 *
 * The loop thread turns every store_* call into one owned record (strings
 * copied, so the caller's memory may go away) and queues it for the
 * backend's writer. Writes carry their row; queries carry their parameters,
 * the callback, and later the rows read for it. */
#ifndef SHIPWATCH_STORE_REC_H
#define SHIPWATCH_STORE_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum rec_kind {
    REC_RESULT,
    REC_EVENT,
    REC_HISTORY,
    REC_EVENTS,
    REC_DEPLOY,
    REC_DEPLOYS,
    REC_STATS,
    REC_RETENTION,
    REC_ALERT,
    REC_MUTE,
    REC_OUTBOX,
    REC_OUTBOX_DELETE,
    REC_ALERTS,
    REC_LOAD_ALERTING,
    REC_STOP,
};

/* One queued record; owns its strings. */
struct rec {
    enum rec_kind kind;
    struct rec *next;
    int err;                        /* query: 0 or -errno */
    /* REC_RESULT */
    char *check;
    struct store_check_state st;
    /* REC_EVENT */
    struct event ev;
    /* REC_HISTORY */
    struct store_history_query hq;
    store_history_fn hfn;
    struct store_history_row *hrows;
    size_t nh;
    /* REC_EVENTS */
    struct store_event_query eq;
    store_events_fn efn;
    struct event *erows;
    size_t ne;
    void *arg;
    /* REC_DEPLOY */
    struct deploy dep;
    /* REC_DEPLOYS */
    struct store_deploy_query dq;
    store_deploys_fn dfn;
    struct deploy *drows;
    size_t nd;
    /* REC_RETENTION, REC_STATS */
    int64_t now_ms;
    /* REC_STATS */
    const char *stats_from, *stats_to;  /* the range of names (store_stats_query) */
    store_check_stats_fn sfn;
    struct store_check_stats *srows;
    size_t ns;
    /* REC_ALERT, REC_MUTE, REC_OUTBOX */
    struct alert alert;
    struct mute mute;
    struct outbox_item outbox;
    /* REC_OUTBOX_DELETE */
    int64_t outbox_id;
    /* REC_ALERTS */
    struct store_alert_query aq;
    store_alerts_fn afn;
    /* REC_ALERTS, REC_LOAD_ALERTING (with now_ms) */
    struct alert *arows;
    size_t na;
    /* REC_LOAD_ALERTING */
    struct mute *mrows;
    size_t nm;
    struct outbox_item *orows;
    size_t no;
    bool loaded;                    /* SQLite, under mu: the writer is done with it */
    uint64_t rn;                    /* PostgreSQL writes: the record number, in
                                       queue order; 0 for queries */
};

/* Free every string of d and set it to NULL; d itself is not freed. */
void rec_deploy_finish(struct deploy *d);

/* Copy dep and its strings into out; false on ENOMEM (out is then freed). */
bool rec_deploy_copy(struct deploy *out, const struct deploy *dep);

void rec_alert_finish(struct alert *a);
bool rec_alert_copy(struct alert *out, const struct alert *a);
void rec_mute_finish(struct mute *m);
bool rec_mute_copy(struct mute *out, const struct mute *m);
void rec_outbox_finish(struct outbox_item *o);
bool rec_outbox_copy(struct outbox_item *out, const struct outbox_item *o);

/* Free r with every string and row it owns. NULL is a no-op. */
void rec_free(struct rec *r);

/* New records, zeroed but for their kind and what they are given; every
 * string is copied. NULL on ENOMEM, with nothing left allocated. */
struct rec *rec_new(enum rec_kind kind);

/* Writes. A NULL check name is written as "", a NULL event type as
 * "daemon" and a NULL message as "". id is the row's id as the backend
 * assigned it. */
struct rec *rec_new_result(const struct store_check_state *cs);
struct rec *rec_new_event(const struct event *ev, int64_t id);
struct rec *rec_new_deploy(const struct deploy *dep, int64_t id);
struct rec *rec_new_alert(const struct alert *a, int64_t id);
struct rec *rec_new_mute(const struct mute *m, int64_t id);
struct rec *rec_new_outbox(const struct outbox_item *o, int64_t id);
struct rec *rec_new_outbox_delete(int64_t id);

/* Queries: the parameters, the callback and its argument. */
struct rec *rec_new_history(const struct store_history_query *q, store_history_fn fn, void *arg);
struct rec *rec_new_events(const struct store_event_query *q, store_events_fn fn, void *arg);
struct rec *rec_new_deploys(const struct store_deploy_query *q, store_deploys_fn fn, void *arg);
struct rec *rec_new_check_stats(const struct store_stats_query *q, store_check_stats_fn fn,
                                void *arg);
struct rec *rec_new_alerts(const struct store_alert_query *q, store_alerts_fn fn, void *arg);

/* The rollup table of a granularity other than STORE_RAW. */
const char *rec_rollup_table(enum store_granularity g);

/* Assembling check stats, the same on every backend. The windows are
 * whole hours: STATS_24H, STATS_7D and STATS_30D start at the hour that
 * holds now less their length. */
enum { STATS_24H, STATS_7D, STATS_30D, STATS_WINDOWS };
int64_t rec_stats_window_start(int64_t now_ms, int window);

/* The caller's index of r->srows by check id: zeroed to start, freed with
 * rec_stats_index_free. */
struct rec_stats_index {
    int64_t *ids;               /* the check id of each row of r->srows */
    size_t cap;                 /* rows allocated */
    uint32_t *slots;            /* open addressing: row + 1, 0 empty */
    size_t nslots;              /* a power of two, over twice cap */
    size_t last;                /* the row found last: rows come a check at a time */
};
void rec_stats_index_free(struct rec_stats_index *ix);

/* The stats row of check id in r, added (named name) when missing. NULL on
 * ENOMEM. */
struct store_check_stats *rec_stats_row(struct rec *r, struct rec_stats_index *ix, int64_t id,
                                        const char *name);

/* The closed hours of one check: total and total_failures are its running
 * totals through its last closed hour; before[w] its totals before its
 * first hour in window w (have[w] false when it has none there). */
void rec_stats_hours(struct store_check_stats *st, int64_t total, int64_t total_failures,
                     const int64_t before[STATS_WINDOWS][2], const bool have[STATS_WINDOWS]);

/* One closed minute of a check (bucket ts, n runs, f failures, average and
 * p95 latency): counted in each window it falls in when the hour it is in
 * is not rolled up yet (ts >= hour_start), and in the last hour's p95 and
 * the sparkline. */
void rec_stats_minute(struct store_check_stats *st, int64_t now_ms, int64_t hour_start,
                      int64_t ts, int64_t n, int64_t f, int64_t avg_us, int64_t p95_us);

#endif
