/* store_pg_int.h - what the files of the PostgreSQL store share.
 *
 * Private to daemon/store_pg*.c; nothing else includes it. The backend is
 * one struct store_pg, owned by store_pg.c (store_pg_open creates it, the
 * close op frees it) and used on the loop thread only:
 *
 *   store_pg.c       the ops table, open and close, the ordered write
 *                    stream (memory queue, spool, held writes), id blocks,
 *                    building batches and the writer that sends them
 *   store_pg_conn.c  libpq on the loop: connecting, reconnect with backoff,
 *                    deadlines, the writer's set-up after each connect
 *                    (migrations, progress, ids), synchronous use at open
 *                    and close, SQL text helpers, the DSN
 *   store_pg_read.c  queries on the pool connections, and the start-up
 *                    loads of check states and alerting
 *   store_spool.c    the spool file (any backend's; see store_spool.h)
 *
 * A struct pgconn belongs to its store_pg; its query in flight (done, res,
 * query, copy) belongs to the connection until the done callback, which
 * is called exactly once: with the results (freed after it returns) or
 * with broken set when the connection failed. conn_fail and the done
 * callbacks may run re-entrantly from any conn_* call: after one, check
 * c->pg (NULL when the connection is gone) before using it again. */
#ifndef SHIPWATCH_STORE_PG_INT_H
#define SHIPWATCH_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sbuf.h"
#include "store.h"
#include "store_rec.h"
#include "store_spool.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_S "5"
/* Every query of ours is short and planned with generous costs (the stats
 * query counts a lookup it rarely runs for every check): JIT compiling one
 * took 680 ms of a 900 ms answer. A DSN's own options come after it. */
#define JIT_OFF "-c jit=off"
#define CLOSE_FLUSH_MS 5000
#define QUERY_TIMEOUT_MS 30000   /* a batch or query not answered by then: connection broken */
#define CHORE_TIMEOUT_MS 300000  /* migrations, rollups, retention may take longer */
#define POLL_ERRORS_MAX 3        /* socket errors in a row libpq does not report */
#define ROLLUP_EVERY_MS 10000
#define PARTITION_EVERY_MS 3600000
#define PARTITION_DAYS_AHEAD 3
#define LATE_MARGIN_MS 60000     /* a result older than this may land in a rolled-up minute */
#define ID_BLOCK 1000            /* INCREMENT BY of the id sequences */
#define SQL_SOFT_MAX (8u << 20)  /* a batch stops growing past this many bytes */
#define QUERY_PENDING_MAX 1024   /* queries waiting for a pool connection */
#define RES_MAX 32               /* results of one simple-query string kept */
#define LOCK_MIGRATE "7403311001"
#define HISTORY_DEFAULT 1000
#define HISTORY_MAX 100000
#define EVENTS_DEFAULT 100
#define EVENTS_MAX 10000
#define DEPLOYS_DEFAULT 50
#define DEPLOYS_MAX 1000
#define ALERTS_DEFAULT 100
#define ALERTS_MAX 1000

struct store_pg;
struct pgconn;

/* Check name -> id, an open-addressing table. */
struct name_ent {
    char *name;             /* NULL = free slot */
    int32_t id;
    uint64_t mark;          /* batch number this check was last seen in */
    struct rec *last;       /* its last result in that batch */
    bool dirty;             /* a result of that batch was not routine */
};

struct name_map {
    struct name_ent *v;
    size_t cap, n;          /* cap is a power of two */
};

/* Called once per query: res are the results (owned by the caller of the
 * callback, freed after it), err the first error text or NULL, broken when
 * the connection was lost (the query may or may not have run). */
typedef void (*pg_done_fn)(struct pgconn *c, PGresult **res, int nres, const char *err,
                           bool broken);

enum conn_state {
    C_DOWN,         /* waiting for the retry timer */
    C_CONNECTING,   /* PQconnectPoll in progress */
    C_SETUP,        /* connected; the writer's set-up queries run */
    C_READY,        /* idle */
    C_BUSY,         /* one query in flight */
};

struct pollh {
    uv_poll_t h;
    struct pgconn *c;
};

struct pgconn {
    struct store_pg *s;
    int index;                  /* -1 the writer, else the pool slot */
    PGconn *pg;
    enum conn_state state;
    struct pollh *poll;         /* NULL when no socket is watched */
    int want;                   /* UV_READABLE | UV_WRITABLE wanted */
    int events;                 /* ... and armed on the poll handle (0: stopped) */
    int poll_errors;            /* error reports in a row from the poll handle */
    uv_timer_t retry;
    bool retry_init;
    uv_timer_t deadline;        /* the connect or the query in flight gives up */
    bool deadline_init;
    int64_t deadline_ms;
    int64_t backoff_ms;
    pg_done_fn done;            /* the query in flight */
    PGresult *res[RES_MAX];
    int nres;
    char err[256];              /* first error of the query in flight */
    struct rec *query;          /* pool: the query in flight */
    char *copy;                 /* COPY data the query in flight asks for, or NULL */
    size_t copy_len;
};

enum id_kind { ID_EVENT, ID_DEPLOY, ID_ALERT, ID_MUTE, ID_OUTBOX, ID_KINDS };
/* Ids handed out from blocks of ID_BLOCK reserved with one nextval. */
struct idblock {
    int64_t next, end;          /* current block [next, end) */
    int64_t spare;              /* start of a reserved block not yet used; 0 none */
    int64_t local_max;          /* largest id numbered without a block; 0 none */
    bool exhausted_logged;
};

struct store_pg {
    struct store base;
    char **keys, **vals;        /* connection parameters, NULL-terminated */
    char *node;                 /* writer_progress key */
    int64_t connect_ms;         /* bound of one connection attempt */
    int64_t query_ms;           /* bound of one batch or query */
    int batch;
    size_t queue_max;
    uint64_t spool_max;
    struct pgconn writer;
    struct pgconn *pool;
    int npool;
    bool closing;
    int fatal;                  /* open: set-up failed for good (-EPROTO, -EIO) */
    char fatal_msg[256];

    /* the write stream, in order: inflight, mem, spool, held */
    struct rec *inflight, *inflight_tail;
    size_t ninflight;
    uint64_t inflight_rn;       /* largest rn in flight */
    struct rec *head, *tail;    /* memory queue, not sent yet */
    size_t nmem;
    struct rec *held_head, *held_tail;  /* never-dropped writes the full spool refused */
    size_t nheld;
    struct store_spool sp;
    uint64_t next_rn;
    uint64_t last_queued_rn;    /* rn of the newest write kept (not dropped) */
    uint64_t done_rn;           /* every kept write up to here is committed */
    size_t solo;                /* records to send one per transaction (after an error) */
    uint64_t batch_no;

    struct idblock ids[ID_KINDS];
    bool ids_fetching;
    struct name_map names;
    bool names_resolving;

    /* queries */
    struct rec *qhead, *qtail;  /* waiting for a pool connection */
    size_t nq;
    struct rec *ahead, *atail;  /* alerts queries waiting for writes (rn in r->rn) */

    uv_timer_t kick;            /* writer: send the next batch on the next turn */
    uv_timer_t tick;            /* periodic: rollups, partitions */
    bool timers_init;
    bool retention_due;
    int64_t retention_now;
    int64_t last_rollup_ms;
    int64_t last_partition_ms;
    bool rollup_running;

    /* health and stats */
    bool degraded;
    char reason[160];
    int64_t since_ms;
    uint64_t reconnects;
    uint64_t dropped;
    uint64_t write_errors;
    uint64_t dropped_logged;
};

/* v limited to [lo, hi]. */
static inline int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* --- store_pg_conn.c --- */

/* Clocks in milliseconds: the wall clock and a monotonic one. */
/* strdup, NULL for NULL. */
char *xstrdup(const char *s);

/* Append to b: n bytes of s; a string; an integer; s as an SQL literal
 * (NULL as NULL, invalid UTF-8 as U+FFFD); s as a COPY text field (NULL or
 * "" as \N); an optional text (NULL or "" as NULL); an optional integer
 * (0 as NULL). */
void sql_lit(struct sbuf *b, const char *s);
void sql_copy(struct sbuf *b, const char *s);
void sql_opt(struct sbuf *b, const char *s);
void sql_i64_or_null(struct sbuf *b, int64_t v);

/* Mark the store degraded (since now, if it was not) for why's first line. */
void set_degraded(struct store_pg *s, const char *why);
/* Close h unless the daemon closed it already; then run cb now. */
void handle_close(uv_handle_t *h, uv_close_cb cb);
/* Stop watching c's socket (before the socket is closed). */
void poll_close(struct pgconn *c);
/* Start a connection attempt; failures schedule the next one. */
void conn_start(struct pgconn *c);
/* Drop the connection (its query told broken) and retry after backoff. */
void conn_fail(struct pgconn *c, const char *why);
/* Send a query (params NULL: a simple-query string, one transaction),
 * bounded by timeout_ms or the store's query bound; done is called once.
 * 0, or -EIO when the connection has failed (done was called). */
int conn_send_for(struct pgconn *c, const char *sql, int nparams, const char *const *params,
                  pg_done_fn done, int64_t timeout_ms);
int conn_send(struct pgconn *c, const char *sql, int nparams, const char *const *params,
              pg_done_fn done);
/* Send sql with a COPY ... FROM STDIN; copy (malloc'd, len bytes) is taken
 * over and sent when the server asks for it. */
int conn_send_copy(struct pgconn *c, const char *sql, char *copy, size_t len, pg_done_fn done);
/* Free the COPY data of the query in flight, if any. */
void copy_drop(struct pgconn *c);
/* Drive c with poll(2) until pred(c) or the monotonic deadline: at open
 * and close, when the loop does not run. */
void conn_drive(struct pgconn *c, bool (*pred)(struct pgconn *c), int64_t deadline);
/* No query in flight on c. */
bool conn_no_query(struct pgconn *c);
/* Run one query on the writer and wait (open and close only): its last
 * result (free with PQclear), or NULL (logged). */
PGresult *sync_query(struct store_pg *s, const char *sql, int np, const char *const *p);
/* The writer is down, or up with nothing left to write. */
bool stream_empty(struct pgconn *c);
/* Write what is queued, driving the writer by hand until deadline. */
void flush_sync(struct store_pg *s, int64_t deadline);
/* Connection parameters of s from the DSN. 0, or -errno with errbuf set. */
int parse_dsn(struct store_pg *s, const char *dsn, char *errbuf, size_t errlen);

/* --- store_pg.c --- */

/* SQL reserving an id block for every kind without a spare one; taking
 * the blocks it returned. */
void ids_sql(const struct store_pg *s, struct sbuf *b);
void ids_apply(struct store_pg *s, const PGresult *r);
/* A column as an integer; 0 when NULL, missing or not a number. */
int64_t val_i64(const PGresult *r, int row, int col);
/* Append r to the list head..tail. */
void list_append(struct rec **head, struct rec **tail, struct rec *r);
/* Drop queued writes the database already has (rn <= last_rn). */
void drop_committed(struct store_pg *s, uint64_t last_rn);
/* Deliver the alerts queries waiting for writes (err 0) or fail them. */
void alerts_release(struct store_pg *s, int err);
/* Send the writer's next batch or chore, if any and it is idle. */
void writer_next(struct store_pg *s);
/* The kick timer: run writer_next on the next loop turn. */
void on_kick(uv_timer_t *t);

/* --- store_pg_read.c --- */

/* Hand the rows (or the error) of a finished query to its callback; r is
 * freed. */
void query_deliver(struct rec *r);
/* Give waiting queries to idle pool connections. */
void pool_dispatch(struct store_pg *s);
/* The ops that read. */
int pg_load_states(struct store *st, store_state_fn fn, void *arg);
int pg_load_alerting(struct store *st, int64_t now_ms, const struct store_alerting_load *l);
int pg_history(struct store *st, const struct store_history_query *q, store_history_fn fn,
               void *arg);
int pg_events(struct store *st, const struct store_event_query *q, store_events_fn fn,
              void *arg);
int pg_deploys(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
               void *arg);
int pg_check_stats(struct store *st, const struct store_stats_query *q,
                   store_check_stats_fn fn, void *arg);
int pg_alerts(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
              void *arg);

#endif
