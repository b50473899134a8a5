/* store.h - the history store: one interface, one backend per engine.
 *
 * The loop thread never blocks on the store after open: writes are queued
 * and committed in batches by the backend (SQLite: a writer thread fed by a
 * bounded queue, results back by uv_async; PostgreSQL: libpq's non-blocking
 * API on uv_poll). Queries complete through a callback on the loop thread.
 * Backends implement struct store_ops; callers use the store_* functions.
 *
 * Ownership: every pointer passed to a store_* function is copied before the
 * call returns; rows handed to a callback are valid only during the call. */
#ifndef SHIPWATCH_STORE_H
#define SHIPWATCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"

/* Bucket widths of the rollups (UTC; a day starts at 00:00 UTC). */
#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

struct config;

/* An event: state change, deploy, reload, notifier failure, ... */
struct event {
    int64_t id;                 /* assigned by the store on write; 0 before */
    int64_t ts_ms;
    const char *type;           /* "state", "deploy", "reload", "daemon", "alert", ... */
    const char *check;          /* NULL when not about one check */
    const char *app;
    const char *env;
    const char *message;        /* one line for people */
    const char *data;           /* JSON object text, or NULL */
};

/* A deploy: what was shipped where, and (later) its verdict. */
struct deploy {
    int64_t id;                 /* assigned by the store on write; 0 before */
    const char *app, *env, *version;
    const char *commit, *author, *source, *url, *description;   /* NULL = none */
    const char *status;         /* started | succeeded | failed */
    int64_t started_ms;
    int64_t finished_ms;        /* 0 = not finished */
    const char *verdict;        /* pending | healthy | degraded | failed | unverified; NULL none */
    const char *verdict_reason, *failing_check, *rollback_version;
    const char *ext_id;         /* the sender's id (webhooks), unique; NULL none */
    const char *ref;            /* the git ref deployed (a branch, a tag); NULL none */
};

/* An alert: one incident of a check (or of an app-env's deploys). */
struct alert {
    int64_t id;                 /* assigned by the store on write; 0 before */
    const char *kind;           /* down | degraded | heartbeat | certificate |
                                   flapping | deploy-failed */
    const char *check;          /* NULL for deploy-failed */
    const char *app, *env;      /* NULL none */
    const char *severity;       /* critical | warning | info */
    const char *status;         /* firing | acknowledged | resolved */
    const char *summary;        /* one line for people */
    int64_t started_ms;
    int64_t resolved_ms;        /* 0 while open */
    const char *ack_by;         /* NULL unless acknowledged */
    int64_t ack_ms;
    const char *ack_comment;
    const char *muted_by;       /* why notifications are held ("silence 3",
                                   "maintenance nightly"); NULL none */
    int64_t deploy_id;          /* deploy-failed: the deploy; a down or
                                   degraded alert: the deploy being verified
                                   when it opened; 0 none */
    const char *deploy_info;    /* with the latter: a JSON object of that
                                   deploy (version, author, started_at,
                                   last_healthy_version); NULL none */
    int64_t last_notified_ms;   /* 0 never */
    int64_t notifications;      /* notifications queued for it */
};

/* The string fields of an alert, for copying and freeing together. */
#define STORE_ALERT_STRINGS(a)                                                                \
    {&(a)->kind,    &(a)->check,  &(a)->app,         &(a)->env,                            \
     &(a)->severity, &(a)->status, &(a)->summary,    &(a)->ack_by,                         \
     &(a)->ack_comment, &(a)->muted_by, &(a)->deploy_info}

/* A silence or an ad-hoc maintenance window: notifications of the alerts
 * it matches are held while now is in [starts_ms, ends_ms). */
struct mute {
    int64_t id;                 /* assigned by the store on write; 0 before */
    const char *kind;           /* silence | maintenance */
    const char *check, *app, *env, *severity;   /* matchers; NULL = any */
    int64_t starts_ms, ends_ms; /* ends_ms MUTE_UNTIL_RESOLVED: no time of its own */
    const char *author, *comment;
    int64_t created_ms;
    int64_t alert_id;           /* it ends when this alert resolves; 0 none */
};

/* The end of a mute that lasts until its alert resolves. */
#define MUTE_UNTIL_RESOLVED INT64_MAX

/* A notification owed: the body is rendered (the generic webhook JSON) when
 * it is queued, so a restart delivers exactly what was decided. */
struct outbox_item {
    int64_t id;                 /* assigned by the store on write; 0 before */
    int64_t alert_id;
    const char *notifier;       /* its name in the configuration */
    const char *payload;        /* JSON object text */
    int64_t created_ms;
    int64_t attempts;           /* deliveries tried so far */
    int64_t next_ms;            /* wall clock of the next try */
};

struct store_alert_query {
    const char *status;         /* open | firing | acknowledged | resolved; NULL = any */
    const char *check, *app;    /* NULL = any */
    int64_t before_id;          /* page: alerts with id < before_id; 0 = newest */
    size_t limit;               /* 0 = default 100 */
};

/* Writes queued beyond this are dropped and counted (every backend). */
#define STORE_QUEUE_MAX 65536

struct store_deploy_query {
    const char *app, *env;      /* NULL = any */
    const char *ext_id;         /* the sender's id; NULL = any */
    int64_t before_id;          /* page: deploys with id < before_id; 0 = newest */
    size_t limit;               /* 0 = default 50 */
};

/* What the store keeps of a check between restarts. */
struct store_check_state {
    const char *check;
    enum check_state state;
    int fail_streak;
    int ok_streak;
    int64_t state_since_ms;
    struct result last;         /* last.started_ms 0 when none */
    bool routine;               /* may skip the state row (state.h); the
                                   store rebuilds it at load from results */
    bool has_log;               /* a log check: log is where it read to */
    struct check_log_position log;
};

enum store_granularity {
    STORE_RAW,
    STORE_MINUTE,
    STORE_HOUR,
    STORE_DAY,
};

/* One row of history: a raw result (count 1) or a rollup. */
struct store_history_row {
    int64_t ts_ms;              /* result start, or bucket start */
    int64_t count;              /* results in the bucket (1 for raw) */
    int64_t failures;           /* non-up results */
    int64_t latency_min_us;
    int64_t latency_avg_us;
    int64_t latency_p95_us;
    int64_t latency_max_us;
    enum check_state outcome;   /* raw only */
    int status;                 /* raw only */
    const char *error;          /* raw only; "" none */
    const char *failed_condition; /* raw only; "" none */
    const char *message;        /* raw only: what the run said; "" none */
    const char *perfdata;       /* raw only: normalized perfdata text; "" none */
    int conditions;             /* raw only: conditions evaluated; 0 none */
    int conditions_failed;      /* raw only: bit i set when the i-th failed */
};

struct store_history_query {
    const char *check;
    int64_t from_ms;            /* inclusive */
    int64_t to_ms;              /* exclusive */
    size_t limit;               /* newest first; 0 = default 1000 */
    enum store_granularity granularity;
};

struct store_event_query {
    const char *app, *check, *type;  /* NULL = any */
    int64_t before_id;          /* page: events with id < before_id; 0 = newest */
    size_t limit;               /* 0 = default 100 */
};

/* Aggregates of one check for the dashboard. Counts come from the hour
 * rollups' running totals (two rows a check and window, however long the
 * window) plus the minute rollups of the hour not closed yet, so they run
 * to the last closed minute. */
#define STORE_SPARK_MINUTES 30
struct store_check_stats {
    const char *check;
    int64_t runs_24h, failures_24h;
    int64_t runs_7d, failures_7d;
    int64_t runs_30d, failures_30d;
    int64_t p95_1h_us;          /* the worst minute p95 of the last hour; 0 none */
    int64_t spark[STORE_SPARK_MINUTES];     /* average latency a minute, oldest
                                               first; -1 for a minute without runs */
};

/* Which checks' aggregates, as of now_ms: those whose names are after
 * from and up to to, in byte order (NULL: no bound), so a caller can page
 * through many checks by the names it knows. */
struct store_stats_query {
    int64_t now_ms;
    const char *from;           /* exclusive */
    const char *to;             /* inclusive */
};

/* err is 0 or a negative errno; rows valid only during the call. */
typedef void (*store_history_fn)(int err, const struct store_history_row *rows, size_t n,
                                 void *arg);
typedef void (*store_events_fn)(int err, const struct event *events, size_t n, void *arg);
typedef void (*store_deploys_fn)(int err, const struct deploy *deploys, size_t n, void *arg);
typedef void (*store_check_stats_fn)(int err, const struct store_check_stats *rows, size_t n,
                                     void *arg);
typedef void (*store_alerts_fn)(int err, const struct alert *alerts, size_t n, void *arg);
/* Called once per stored check state by store_load_states. */
typedef void (*store_state_fn)(const struct store_check_state *s, void *arg);

/* What store_load_alerting hands back at start-up, one call per row. */
struct store_alerting_load {
    void (*alert)(const struct alert *a, void *arg);          /* every open alert */
    void (*mute)(const struct mute *m, void *arg);            /* ends_ms > now */
    void (*outbox)(const struct outbox_item *o, void *arg);   /* every row */
    void *arg;
};

/* Whether the store can write now, for /readyz, metrics and events. */
struct store_health {
    bool degraded;              /* writes wait (in memory or spooled) */
    char reason[160];           /* why, for people; "" when not degraded */
    int64_t since_ms;           /* wall clock when it became degraded; 0 */
    size_t queued;              /* writes held in memory */
    uint64_t spooled_bytes;     /* writes waiting in the spool file */
    uint64_t reconnects;        /* connections re-established since open */
    uint64_t dropped;           /* results dropped: queue and spool full */
};

struct store;

struct store_ops {
    const char *name;
    void (*close)(struct store *st);
    int (*load_states)(struct store *st, store_state_fn fn, void *arg);
    void (*put_result)(struct store *st, const struct store_check_state *s);
    int64_t (*put_event)(struct store *st, const struct event *ev);
    int (*history)(struct store *st, const struct store_history_query *q, store_history_fn fn,
                   void *arg);
    int (*events)(struct store *st, const struct store_event_query *q, store_events_fn fn,
                  void *arg);
    int64_t (*put_deploy)(struct store *st, const struct deploy *dep);
    int (*deploys)(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
                   void *arg);
    int (*check_stats)(struct store *st, const struct store_stats_query *q,
                       store_check_stats_fn fn, void *arg);
    void (*retention)(struct store *st, int64_t now_ms);
    int (*load_alerting)(struct store *st, int64_t now_ms, const struct store_alerting_load *l);
    int64_t (*put_alert)(struct store *st, const struct alert *a);
    int (*alerts)(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
                  void *arg);
    int64_t (*put_mute)(struct store *st, const struct mute *m);
    int64_t (*put_outbox)(struct store *st, const struct outbox_item *o);
    void (*delete_outbox)(struct store *st, int64_t id);
    void (*stats)(struct store *st, size_t *queue_length, uint64_t *write_errors);
    void (*health)(struct store *st, struct store_health *h);
};

/* Common part of every backend; a backend's own struct embeds it first. */
struct store {
    const struct store_ops *ops;
    uv_loop_t *loop;
    int64_t retention_raw_ms;
    int64_t retention_rollups_ms;
    char errstr[256];           /* last error text, for logs */
};

/* The SQLite backend's constructor; store_open calls it. */
int store_sqlite_open(uv_loop_t *loop, const struct config *conf, struct store **out,
                      char *errbuf, size_t errlen);

/* The PostgreSQL backend's constructor; store_open calls it. The server
 * being unreachable is not an error: the store opens degraded and connects
 * later. A malformed DSN or a database newer than this binary is. */
int store_pg_open(uv_loop_t *loop, const struct config *conf, struct store **out,
                  char *errbuf, size_t errlen);

/* Open the backend named by conf->storage.driver on loop: create the file or
 * connect, apply pending migrations, start the writer. Synchronous; called
 * before the loop runs. 0 and *out, or a negative errno with the reason in
 * errbuf. */
int store_open(uv_loop_t *loop, const struct config *conf, struct store **out, char *errbuf,
               size_t errlen);

/* Flush every queued write, stop the writer and free. Blocks until the data
 * is committed: call at shutdown only. NULL is a no-op. */
void store_close(struct store *st);

/* Synchronous read of every stored check state, at start-up, with the
 * routine results after each state row applied to it. */
int store_load_states(struct store *st, store_state_fn fn, void *arg);

/* For the backends' load_states: apply to cs the n results stored after its
 * state row (all routine, so all good or all bad), newest the last of them.
 * The certificate expiry stays the row's: no routine result changed it. */
void store_state_catch_up(struct store_check_state *cs, int64_t n, const struct result *newest);

/* Queue a result together with the check's state after it. Never blocks:
 * when the queue is full the oldest queued write is kept and this one is
 * counted as a write error and logged. */
void store_put_result(struct store *st, const struct store_check_state *s);

/* Queue an event; the store assigns ev->id, so events are numbered in order
 * of this call. Returns the id. */
int64_t store_put_event(struct store *st, const struct event *ev);

/* Queue a deploy: a new one (dep->id 0) gets the next id, returned; one
 * with an id is merged into the stored row, forward only: its status
 * replaces the stored one only when it is later (started, then succeeded,
 * then failed), and with it the end time and what the update carries; a
 * verdict replaces only none or pending; app, env, source, started and the
 * sender's id stay as first stored. A new row whose ext_id another row
 * holds is not written. */
int64_t store_put_deploy(struct store *st, const struct deploy *dep);

/* Asynchronous queries; fn runs later on the loop thread. 0 or -errno (fn is
 * then not called). */
int store_history(struct store *st, const struct store_history_query *q, store_history_fn fn,
                  void *arg);
int store_events(struct store *st, const struct store_event_query *q, store_events_fn fn,
                 void *arg);
int store_deploys(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
                  void *arg);

/* Uptime and latency aggregates of every check with history in q's range.
 * Asynchronous like the queries above. */
int store_check_stats(struct store *st, const struct store_stats_query *q,
                      store_check_stats_fn fn, void *arg);

/* Trim raw results older than retention.raw and rollups older than
 * retention.rollups, in the writer, without blocking the loop. */
void store_retention(struct store *st, int64_t now_ms);

/* Synchronous read at start-up of the open alerts, the silences and
 * maintenance windows not yet over at now_ms, and the outbox. 0 or -errno. */
int store_load_alerting(struct store *st, int64_t now_ms, const struct store_alerting_load *l);

/* Queue an alert, a mute or an outbox row: a new one (id 0) gets the next
 * id, returned; one with an id replaces the stored row. */
int64_t store_put_alert(struct store *st, const struct alert *a);
int64_t store_put_mute(struct store *st, const struct mute *m);
int64_t store_put_outbox(struct store *st, const struct outbox_item *o);

/* Queue the removal of a delivered (or abandoned) outbox row. */
void store_delete_outbox(struct store *st, int64_t id);

/* Alerts, newest first; asynchronous like the queries above. Writes queued
 * before the call are seen. */
int store_alerts(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
                 void *arg);

/* Writes queued but not committed, and the count of failed writes. */
void store_stats(struct store *st, size_t *queue_length, uint64_t *write_errors);

/* Fill h with the store's health now; never blocks. */
void store_health(struct store *st, struct store_health *h);

#endif
