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
 * progress in the database), and ids come from sequences in blocks. */
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

#include "config.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "store_rec.h"
#include "utf8.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_S "5"
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
#define SPOOL_MAGIC 0x50535753u  /* "SWSP" little-endian */
#define SPOOL_REC_MAX (1u << 20)
#define SPOOL_HDR 12
#define LOCK_MIGRATE "7403311001"
#define HISTORY_DEFAULT 1000
#define HISTORY_MAX 100000
#define EVENTS_DEFAULT 100
#define EVENTS_MAX 10000
#define DEPLOYS_DEFAULT 50
#define DEPLOYS_MAX 1000
#define ALERTS_DEFAULT 100
#define ALERTS_MAX 1000
#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL

/* --- small helpers --- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* A growable text buffer; fails (and stays failed) past its limit. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap) {
        return;
    }
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + more + 1) {
        nc *= 2;
    }
    char *v = realloc(b->p, nc);
    if (v == NULL) {
        b->oom = true;
        return;
    }
    b->p = v;
    b->cap = nc;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (!b->oom) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    }
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_i64(struct sbuf *b, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    sb_add(b, t, (size_t)n);
}

/* Append s as an SQL literal (standard_conforming_strings on: only the
 * quote is special), NULL as NULL. Invalid UTF-8 becomes U+FFFD, so one
 * hostile error text never fails a whole batch. */
static void sb_lit(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        sb_str(b, "NULL");
        return;
    }
    size_t n = strlen(s);
    sb_reserve(b, n + n / 8 + 8);
    sb_add(b, "'", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;     /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(u + i, n - i);
        if (l == 0 || u[i] == '\'') {
            sb_add(b, s + i - run, run);
            run = 0;
            sb_str(b, l == 0 ? "\xef\xbf\xbd" : "''");
            i += l == 0 ? 1 : 1;
            continue;
        }
        run += l;
        i += l;
    }
    sb_add(b, s + n - run, run);
    sb_add(b, "'", 1);
}

/* Append s as a field of COPY's text format: backslash, tab, newline and
 * carriage return escaped, invalid UTF-8 as U+FFFD; NULL or "" as \N. */
static void sb_copy(struct sbuf *b, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        sb_str(b, "\\N");
        return;
    }
    size_t n = strlen(s);
    sb_reserve(b, n + n / 8 + 8);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(u + i, n - i);
        const char *esc = l == 0        ? "\xef\xbf\xbd"
                          : u[i] == '\\' ? "\\\\"
                          : u[i] == '\t'  ? "\\t"
                          : u[i] == '\n'  ? "\\n"
                          : u[i] == '\r'  ? "\\r"
                                          : NULL;
        if (esc != NULL) {
            sb_add(b, s + i - run, run);
            run = 0;
            sb_str(b, esc);
            i++;
            continue;
        }
        run += l;
        i += l;
    }
    sb_add(b, s + n - run, run);
}

/* Literal for an optional text column: NULL or "" is NULL. */
static void sb_opt(struct sbuf *b, const char *s)
{
    sb_lit(b, s != NULL && s[0] != '\0' ? s : NULL);
}

/* Optional times and ids: 0 is NULL. */
static void sb_i64_or_null(struct sbuf *b, int64_t v)
{
    if (v != 0) {
        sb_i64(b, v);
    } else {
        sb_str(b, "NULL");
    }
}

/* --- CRC-32 (IEEE) for spool records --- */

static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) {
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        ready = true;
    }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xffffffffu;
}

/* --- check name -> id --- */

struct name_ent {
    char *name;             /* NULL = free slot */
    int32_t id;
    uint64_t mark;          /* batch number this check was last seen in */
    struct rec *last;       /* its last result in that batch */
};

struct name_map {
    struct name_ent *v;
    size_t cap, n;          /* cap is a power of two */
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    }
    return h;
}

static struct name_ent *map_find(struct name_map *m, const char *name)
{
    if (m->cap == 0) {
        return NULL;
    }
    for (size_t i = fnv1a(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
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
                size_t j = fnv1a(m->v[i].name) & (nc - 1);
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
    size_t i = fnv1a(name) & (m->cap - 1);
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

/* --- the store --- */

struct store_pg;
struct pgconn;

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
static const char *const id_seq[ID_KINDS] = {"events_id_seq", "deploys_id_seq", "alerts_id_seq",
                                             "mutes_id_seq", "outbox_id_seq"};

/* Ids handed out from blocks of ID_BLOCK reserved with one nextval. */
struct idblock {
    int64_t next, end;          /* current block [next, end) */
    int64_t spare;              /* start of a reserved block not yet used; 0 none */
    int64_t local_max;          /* largest id numbered without a block; 0 none */
    bool exhausted_logged;
};

struct spool {
    char *path;                 /* NULL: no spool configured */
    int fd;                     /* -1 until first needed */
    uint64_t size;              /* bytes in the file */
    uint64_t rd;                /* next record to read */
    bool active;                /* writes go to the spool until it is drained */
    uint64_t last_rn;           /* largest rn read back from it */
    uint64_t bad;               /* corrupt or truncated stretches skipped */
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
    struct spool sp;
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

static void writer_next(struct store_pg *s);
static void conn_fail(struct pgconn *c, const char *why);
static void conn_connect_step(struct pgconn *c);
static void writer_connected(struct pgconn *c);
static void pool_dispatch(struct store_pg *s);
static void alerts_release(struct store_pg *s, int err);
static void query_deliver(struct rec *r);
static void writer_kick(struct store_pg *s);
static void on_kick(uv_timer_t *t);

static const char *conn_name(const struct pgconn *c)
{
    return c->index < 0 ? "writer" : "pool";
}

static void set_degraded(struct store_pg *s, const char *why)
{
    if (!s->degraded) {
        s->degraded = true;
        s->since_ms = wall_ms();
    }
    snprintf(s->reason, sizeof(s->reason), "%s", why);
    /* One line: libpq's messages end with a newline. */
    char *nl = strchr(s->reason, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
}

/* --- connections --- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Close h unless the daemon closed it already (daemon_finish closes every
 * handle on the loop and runs it before store_close): then run cb now. */
static void handle_close(uv_handle_t *h, uv_close_cb cb)
{
    if (!uv_is_closing(h)) {
        uv_close(h, cb);
    } else if (cb != NULL) {
        cb(h);
    }
}

static void poll_close(struct pgconn *c)
{
    if (c->poll != NULL) {
        handle_close((uv_handle_t *)&c->poll->h, on_poll_closed);
        c->poll = NULL;
        c->events = 0;
        c->want = 0;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);
static void conn_flush(struct pgconn *c);
static void copy_drop(struct pgconn *c);
static int conn_copy_in(struct pgconn *c);

/* Watch the connection's socket for events. fresh re-creates the watcher:
 * during connect libpq may have closed the socket and opened another one,
 * possibly under the same number. */
static int poll_set(struct pgconn *c, int events, bool fresh)
{
    int fd = PQsocket(c->pg);
    if (fd < 0) {
        return -EBADF;
    }
    if (c->s->closing) {
        /* close drives the connection with poll(2) on want; the loop's
         * handles may be closed already. */
        c->want = events;
        return 0;
    }
    if (fresh) {
        poll_close(c);
    }
    if (c->poll == NULL) {
        struct pollh *p = calloc(1, sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        int rc = uv_poll_init(c->s->base.loop, &p->h, fd);
        if (rc < 0) {
            free(p);
            return rc;
        }
        p->h.data = p;
        p->c = c;
        c->poll = p;
        c->events = 0;
    }
    c->want = events;
    if (events != c->events) {
        int rc = uv_poll_start(&c->poll->h, events, on_poll);
        if (rc < 0) {
            return rc;
        }
        c->events = events;
    }
    return 0;
}

static void on_retry(uv_timer_t *t);

static void on_deadline(uv_timer_t *t)
{
    struct pgconn *c = t->data;
    if (c->pg == NULL) {
        return;
    }
    char msg[96];
    snprintf(msg, sizeof(msg), "%s: no answer for %" PRId64 " ms",
             c->state == C_CONNECTING ? "connect timed out" : "query timed out",
             c->deadline_ms);
    conn_fail(c, msg);
}

/* Bound what is in flight: a server that accepted the connection and then
 * went silent (a frozen host, a dropped route) sends neither data nor an
 * error, so the socket alone would wait forever. After ms the connection
 * counts as broken; the writer's exactly-once check (writer_progress,
 * re-read after the reconnect and locked by every batch) keeps a batch that
 * still commits late from being written twice. */
static void deadline_start(struct pgconn *c, int64_t ms)
{
    if (c->deadline_init && !c->s->closing) {
        c->deadline_ms = ms;
        uv_timer_start(&c->deadline, on_deadline, (uint64_t)ms, 0);
    }
}

static void deadline_stop(struct pgconn *c)
{
    if (c->deadline_init) {
        uv_timer_stop(&c->deadline);
    }
}

/* Start a connection attempt. Failures schedule the next one. */
static void conn_start(struct pgconn *c)
{
    struct store_pg *s = c->s;
    if (s->closing) {
        return;
    }
    c->pg = PQconnectStartParams((const char *const *)s->keys, (const char *const *)s->vals, 0);
    if (c->pg == NULL) {
        conn_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = C_CONNECTING;
    deadline_start(c, s->connect_ms);
    int rc = poll_set(c, UV_WRITABLE, true);
    if (rc == -EBADF) {
        /* No socket yet: the connect failed at once (refused). Let
         * PQconnectPoll say so in libpq's words. */
        conn_connect_step(c);
    } else if (rc < 0) {
        conn_fail(c, uv_strerror(rc));
    }
}

/* Drop the connection (and the query in flight, told broken), and try
 * again after the backoff: 100 ms doubling to 30 s, +-20% jitter. */
static void conn_fail(struct pgconn *c, const char *why)
{
    struct store_pg *s = c->s;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", why != NULL && why[0] ? why : "connection lost");
    char *nl = strchr(msg, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    bool was_up = c->state == C_READY || c->state == C_BUSY || c->state == C_SETUP;
    if (was_up || c->backoff_ms == 0) {
        log_warn(LOG_KV("store", "postgres", "conn", conn_name(c)), "%s", msg);
    }
    /* The watcher goes before the socket: libuv must never poll a closed
     * descriptor (its number may be reused at once). */
    poll_close(c);
    deadline_stop(c);
    copy_drop(c);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = C_DOWN;
    pg_done_fn done = c->done;
    c->done = NULL;
    PGresult *res[RES_MAX];
    int nres = c->nres;
    memcpy(res, c->res, sizeof(res));
    c->nres = 0;
    if (c->index < 0) {
        set_degraded(s, msg);
    }
    if (done != NULL) {
        done(c, res, nres, msg, true);
    }
    for (int i = 0; i < nres; i++) {
        PQclear(res[i]);
    }
    if (c->index < 0) {
        alerts_release(s, -EAGAIN);
    }
    if (s->closing || !c->retry_init) {
        return;
    }
    c->backoff_ms = c->backoff_ms == 0 ? BACKOFF_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > BACKOFF_MAX_MS) {
        c->backoff_ms = BACKOFF_MAX_MS;
    }
    int64_t jitter = c->backoff_ms / 5;
    int64_t delay = c->backoff_ms - jitter + (jitter > 0 ? rand() % (2 * jitter + 1) : 0);
    uv_timer_start(&c->retry, on_retry, (uint64_t)delay, 0);
}

static void on_retry(uv_timer_t *t)
{
    struct pgconn *c = t->data;
    if (c->state == C_DOWN) {
        if (c->index < 0) {
            c->s->reconnects++;
        }
        conn_start(c);
    }
}

/* The query in flight finished: hand its results to its callback. */
static void conn_complete(struct pgconn *c)
{
    pg_done_fn done = c->done;
    PGresult *res[RES_MAX];
    int nres = c->nres;
    memcpy(res, c->res, sizeof(res));
    char err[sizeof(c->err)];
    memcpy(err, c->err, sizeof(err));
    c->nres = 0;
    c->done = NULL;
    c->err[0] = '\0';
    deadline_stop(c);
    copy_drop(c);
    if (c->state == C_BUSY) {
        c->state = C_READY;
    }
    if (done != NULL) {
        done(c, res, nres, err[0] ? err : NULL, false);
    }
    for (int i = 0; i < nres; i++) {
        PQclear(res[i]);
    }
}

/* Read what the server sent; finish the query when libpq has it all. */
static void conn_read(struct pgconn *c)
{
    if (PQconsumeInput(c->pg) == 0) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    /* libpq: after reading, flush again; part of a large query may still
     * wait to be sent. */
    if (c->done != NULL) {
        conn_flush(c);
        if (c->pg == NULL) {
            return;
        }
    }
    while (c->done != NULL && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            conn_complete(c);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN) {
            PQclear(r);
            if (conn_copy_in(c) < 0) {
                conn_fail(c, PQerrorMessage(c->pg));
                return;
            }
            conn_flush(c);
            if (c->pg == NULL) {
                return;
            }
            continue;
        }
        if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && c->err[0] == '\0') {
            snprintf(c->err, sizeof(c->err), "%s", PQresultErrorMessage(r));
        }
        if (c->nres < RES_MAX) {
            c->res[c->nres++] = r;
        } else {
            /* Only the first results are looked at; keep the last. */
            PQclear(c->res[RES_MAX - 1]);
            c->res[RES_MAX - 1] = r;
        }
    }
    if (c->done == NULL && c->pg != NULL && PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, PQerrorMessage(c->pg));
    }
}

/* Send what libpq buffered; watch for writability while some is left. */
static void conn_flush(struct pgconn *c)
{
    int rc = PQflush(c->pg);
    if (rc < 0) {
        conn_fail(c, PQerrorMessage(c->pg));
        return;
    }
    int prc = poll_set(c, rc == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE, false);
    if (prc < 0) {
        conn_fail(c, uv_strerror(prc));
    }
}

/* One step of PQconnectPoll. */
static void conn_connect_step(struct pgconn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (poll_set(c, UV_READABLE, true) < 0) {
            conn_fail(c, "cannot watch the socket");
        }
        break;
    case PGRES_POLLING_WRITING:
        if (poll_set(c, UV_WRITABLE, true) < 0) {
            conn_fail(c, "cannot watch the socket");
        }
        break;
    case PGRES_POLLING_FAILED:
        conn_fail(c, PQerrorMessage(c->pg));
        break;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0 || poll_set(c, UV_READABLE, true) < 0) {
            conn_fail(c, "cannot make the connection non-blocking");
            break;
        }
        if (c->index < 0) {
            c->state = C_SETUP;
            writer_connected(c);
        } else {
            deadline_stop(c);
            c->state = C_READY;
            c->backoff_ms = 0;
            pool_dispatch(c->s);
        }
        break;
    default:
        break;
    }
}

/* Readiness of a connection's socket, from the loop or the sync driver. */
static void conn_io(struct pgconn *c, int events)
{
    if (c->pg == NULL) {
        return;
    }
    if (c->state == C_CONNECTING) {
        conn_connect_step(c);
        return;
    }
    if (events & UV_WRITABLE) {
        conn_flush(c);
        if (c->pg == NULL) {
            return;
        }
    }
    if (events & UV_READABLE) {
        conn_read(c);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pollh *p = h->data;
    struct pgconn *c = p->c;
    if (status >= 0) {
        c->poll_errors = 0;
        conn_io(c, events);
        return;
    }
    /* An error on the socket (EPOLLERR: e.g. a reset after writing to a
     * server that went away). libuv has stopped this handle before telling
     * us: mark it unarmed, or the poll_set calls that follow would see the
     * events unchanged, never start it again, and the connection would wait
     * forever with its error unread. Let libpq read the error and report. */
    c->events = 0;
    if (++c->poll_errors > POLL_ERRORS_MAX) {
        /* libpq's own words when it has any (a refused connect), else the
         * socket's. */
        const char *why = c->pg != NULL ? PQerrorMessage(c->pg) : "";
        conn_fail(c, why[0] != '\0' ? why : uv_strerror(status));
        return;
    }
    conn_io(c, UV_READABLE | (c->want & UV_WRITABLE));
    if (c->pg != NULL && c->poll == p && c->events == 0 && c->want != 0) {
        int rc = poll_set(c, c->want, false);
        if (rc < 0) {
            conn_fail(c, uv_strerror(rc));
        }
    }
}

/* Send a query: params NULL for a simple-query string (several statements
 * run as one transaction). 0, or the connection has failed. */
static int conn_send_for(struct pgconn *c, const char *sql, int nparams,
                         const char *const *params, pg_done_fn done, int64_t timeout_ms)
{
    int ok = nparams > 0 ? PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0)
                         : PQsendQuery(c->pg, sql);
    if (!ok) {
        conn_fail(c, PQerrorMessage(c->pg));
        return -EIO;
    }
    c->done = done;
    c->nres = 0;
    c->err[0] = '\0';
    if (c->state == C_READY) {
        c->state = C_BUSY;
    }
    deadline_start(c, timeout_ms);
    conn_flush(c);
    return c->pg != NULL ? 0 : -EIO;
}

static int conn_send(struct pgconn *c, const char *sql, int nparams, const char *const *params,
                     pg_done_fn done)
{
    return conn_send_for(c, sql, nparams, params, done, c->s->query_ms);
}

/* Send a simple-query string with a COPY ... FROM STDIN in it; copy (taken
 * over, freed by the connection) is its data, sent when the server asks. */
static int conn_send_copy(struct pgconn *c, const char *sql, char *copy, size_t len,
                          pg_done_fn done)
{
    free(c->copy);
    c->copy = copy;
    c->copy_len = len;
    return conn_send(c, sql, 0, NULL, done);
}

static void copy_drop(struct pgconn *c)
{
    free(c->copy);
    c->copy = NULL;
    c->copy_len = 0;
}

/* The server waits for COPY data: queue it all (libpq's buffer grows in
 * non-blocking mode too), end it; conn_flush sends it as the socket
 * allows. Without data (none was given) the COPY is failed. */
static int conn_copy_in(struct pgconn *c)
{
    int rc = 1;
    size_t off = 0;
    while (c->copy != NULL && off < c->copy_len && rc == 1) {
        size_t chunk = c->copy_len - off < 65536 ? c->copy_len - off : 65536;
        rc = PQputCopyData(c->pg, c->copy + off, (int)chunk);
        off += chunk;
    }
    if (rc == 1) {
        rc = PQputCopyEnd(c->pg, c->copy != NULL ? NULL : "no COPY data");
    }
    copy_drop(c);
    return rc == 1 ? 0 : -EIO;
}

/* Drive c with poll(2) until pred(c) or the deadline: at open and close,
 * when the loop does not run. */
static void conn_drive(struct pgconn *c, bool (*pred)(struct pgconn *c), int64_t deadline)
{
    while (c->pg != NULL && !pred(c)) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            break;
        }
        struct pollfd p = {.fd = PQsocket(c->pg)};
        if (p.fd < 0) {
            break;
        }
        if (c->want & UV_READABLE) {
            p.events |= POLLIN;
        }
        if (c->want & UV_WRITABLE) {
            p.events |= POLLOUT;
        }
        int n = poll(&p, 1, (int)(left < 100 ? left : 100));
        if (n > 0) {
            int ev = 0;
            if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
                ev |= UV_READABLE;
            }
            if (p.revents & POLLOUT) {
                ev |= UV_WRITABLE;
            }
            conn_io(c, ev);
        }
    }
}

/* --- ids --- */

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
        int64_t base = wall_ms() * 1000;
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
static void ids_sql(const struct store_pg *s, struct sbuf *b)
{
    sb_str(b, "SELECT ");
    bool first = true;
    for (int k = 0; k < ID_KINDS; k++) {
        sb_str(b, first ? "" : ", ");
        first = false;
        if (s->ids[k].spare == 0 && s->ids[k].local_max > 0) {
            /* Move the sequence past the ids numbered locally first: the
             * FROM subquery runs before the select list. */
            sb_str(b, "(SELECT nextval('");
            sb_str(b, id_seq[k]);
            sb_str(b, "') FROM (SELECT setval('");
            sb_str(b, id_seq[k]);
            sb_str(b, "', GREATEST(last_value, ");
            sb_i64(b, s->ids[k].local_max);
            sb_str(b, ")) FROM ");
            sb_str(b, id_seq[k]);
            sb_str(b, ") AS past)");
        } else if (s->ids[k].spare == 0) {
            sb_str(b, "nextval('");
            sb_str(b, id_seq[k]);
            sb_str(b, "')");
        } else {
            sb_str(b, "0");
        }
    }
}

static int64_t val_i64(const PGresult *r, int row, int col)
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
static void ids_apply(struct store_pg *s, const PGresult *r)
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

/* --- the spool --- */

/* Encoding: little-endian integers; a string is a u32 length (0xffffffff
 * for NULL) and its bytes. */
static void put_u32(struct sbuf *b, uint32_t v)
{
    unsigned char t[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff};
    sb_add(b, (const char *)t, 4);
}

static void put_i64(struct sbuf *b, int64_t v)
{
    uint64_t u = (uint64_t)v;
    put_u32(b, (uint32_t)(u & 0xffffffffu));
    put_u32(b, (uint32_t)(u >> 32));
}

static void put_str(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        put_u32(b, 0xffffffffu);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    sb_add(b, s, n);
}

struct cur {
    const unsigned char *p;
    size_t n;
    bool bad;
};

static uint32_t get_u32(struct cur *c)
{
    if (c->n < 4) {
        c->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 |
                 (uint32_t)c->p[3] << 24;
    c->p += 4;
    c->n -= 4;
    return v;
}

static int64_t get_i64(struct cur *c)
{
    uint64_t lo = get_u32(c), hi = get_u32(c);
    return (int64_t)(lo | hi << 32);
}

/* A copy of the next string; NULL for NULL or when bad (c->bad set). */
static char *get_str(struct cur *c)
{
    uint32_t n = get_u32(c);
    if (c->bad || n == 0xffffffffu) {
        return NULL;
    }
    if (n > c->n || memchr(c->p, '\0', n) != NULL) {
        c->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        c->bad = true;
        return NULL;
    }
    memcpy(s, c->p, n);
    s[n] = '\0';
    c->p += n;
    c->n -= n;
    return s;
}

/* The next string into a fixed buffer, truncated to fit. */
static void get_buf(struct cur *c, char *out, size_t len)
{
    char *s = get_str(c);
    snprintf(out, len, "%s", s != NULL ? s : "");
    free(s);
}

#define DEPLOY_STRS(d)                                                                     \
    {&(d)->app, &(d)->env, &(d)->version, &(d)->commit, &(d)->author, &(d)->source,        \
     &(d)->url, &(d)->description, &(d)->status, &(d)->verdict, &(d)->verdict_reason,      \
     &(d)->failing_check, &(d)->rollback_version, &(d)->ext_id}
#define ALERT_STRS(a)                                                                      \
    {&(a)->kind, &(a)->check, &(a)->app, &(a)->env, &(a)->severity, &(a)->status,          \
     &(a)->summary, &(a)->ack_by, &(a)->ack_comment, &(a)->muted_by}
#define MUTE_STRS(m)                                                                       \
    {&(m)->kind, &(m)->check, &(m)->app, &(m)->env, &(m)->severity, &(m)->author,          \
     &(m)->comment}
#define EVENT_STRS(e) {&(e)->type, &(e)->check, &(e)->app, &(e)->env, &(e)->message, &(e)->data}
#define OUTBOX_STRS(o) {&(o)->notifier, &(o)->payload}
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The integers and strings of a write record, for the spool. */
static void rec_fields(struct rec *r, int64_t **ints, size_t *ni, const char ***strs[16],
                       size_t *ns)
{
    *ni = 0;
    *ns = 0;
    switch (r->kind) {
    case REC_EVENT: {
        const char **f[] = EVENT_STRS(&r->ev);
        memcpy(strs, f, sizeof(f));
        *ns = NELEM(f);
        ints[0] = &r->ev.id;
        ints[1] = &r->ev.ts_ms;
        *ni = 2;
        break;
    }
    case REC_DEPLOY: {
        const char **f[] = DEPLOY_STRS(&r->dep);
        memcpy(strs, f, sizeof(f));
        *ns = NELEM(f);
        ints[0] = &r->dep.id;
        ints[1] = &r->dep.started_ms;
        ints[2] = &r->dep.finished_ms;
        *ni = 3;
        break;
    }
    case REC_ALERT: {
        const char **f[] = ALERT_STRS(&r->alert);
        memcpy(strs, f, sizeof(f));
        *ns = NELEM(f);
        int64_t *v[] = {&r->alert.id,      &r->alert.started_ms,       &r->alert.resolved_ms,
                        &r->alert.ack_ms,  &r->alert.deploy_id,        &r->alert.last_notified_ms,
                        &r->alert.notifications};
        memcpy(ints, v, sizeof(v));
        *ni = NELEM(v);
        break;
    }
    case REC_MUTE: {
        const char **f[] = MUTE_STRS(&r->mute);
        memcpy(strs, f, sizeof(f));
        *ns = NELEM(f);
        int64_t *v[] = {&r->mute.id, &r->mute.starts_ms, &r->mute.ends_ms, &r->mute.created_ms};
        memcpy(ints, v, sizeof(v));
        *ni = NELEM(v);
        break;
    }
    case REC_OUTBOX: {
        const char **f[] = OUTBOX_STRS(&r->outbox);
        memcpy(strs, f, sizeof(f));
        *ns = NELEM(f);
        int64_t *v[] = {&r->outbox.id, &r->outbox.alert_id, &r->outbox.created_ms,
                        &r->outbox.attempts, &r->outbox.next_ms};
        memcpy(ints, v, sizeof(v));
        *ni = NELEM(v);
        break;
    }
    case REC_OUTBOX_DELETE:
        ints[0] = &r->outbox_id;
        *ni = 1;
        break;
    default:
        break;
    }
}

/* Serialize a write record: kind, rn, then its fields. */
static void rec_encode(struct rec *r, struct sbuf *b)
{
    put_u32(b, (uint32_t)r->kind);
    put_i64(b, (int64_t)r->rn);
    if (r->kind == REC_RESULT) {
        const struct store_check_state *cs = &r->st;
        put_str(b, r->check);
        put_i64(b, cs->state);
        put_i64(b, cs->fail_streak);
        put_i64(b, cs->ok_streak);
        put_i64(b, cs->state_since_ms);
        put_i64(b, cs->last.started_ms);
        put_i64(b, cs->last.duration_us);
        put_i64(b, cs->last.outcome);
        put_i64(b, cs->last.status);
        put_i64(b, cs->last.cert_expiry_s);
        put_str(b, cs->last.error);
        put_str(b, cs->last.failed_condition);
        return;
    }
    int64_t *ints[16];
    const char **strs[16];
    size_t ni, ns;
    rec_fields(r, ints, &ni, (const char ***(*))strs, &ns);
    for (size_t i = 0; i < ni; i++) {
        put_i64(b, *ints[i]);
    }
    for (size_t i = 0; i < ns; i++) {
        put_str(b, *strs[i]);
    }
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A record from spool bytes; NULL when they do not make one. Every value
 * is checked: a spool is outside input. */
static struct rec *rec_decode(const unsigned char *p, size_t n)
{
    struct cur c = {p, n, false};
    uint32_t kind = get_u32(&c);
    if (kind != REC_RESULT && kind != REC_EVENT && kind != REC_DEPLOY && kind != REC_ALERT &&
        kind != REC_MUTE && kind != REC_OUTBOX && kind != REC_OUTBOX_DELETE) {
        return NULL;
    }
    struct rec *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->kind = (enum rec_kind)kind;
    r->rn = (uint64_t)get_i64(&c);
    if (r->kind == REC_RESULT) {
        struct store_check_state *cs = &r->st;
        r->check = get_str(&c);
        cs->state = (enum check_state)clamp(get_i64(&c), STATE_UNKNOWN, STATE_DOWN);
        cs->fail_streak = (int)clamp(get_i64(&c), 0, INT_MAX);
        cs->ok_streak = (int)clamp(get_i64(&c), 0, INT_MAX);
        cs->state_since_ms = get_i64(&c);
        cs->last.started_ms = get_i64(&c);
        cs->last.duration_us = get_i64(&c);
        cs->last.outcome = (enum check_state)clamp(get_i64(&c), STATE_UNKNOWN, STATE_DOWN);
        cs->last.status = (int)clamp(get_i64(&c), -1, INT_MAX);
        cs->last.cert_expiry_s = get_i64(&c);
        get_buf(&c, cs->last.error, sizeof(cs->last.error));
        get_buf(&c, cs->last.failed_condition, sizeof(cs->last.failed_condition));
        if (r->check == NULL) {
            c.bad = true;
        }
    } else {
        int64_t *ints[16];
        const char **strs[16];
        size_t ni, ns;
        rec_fields(r, ints, &ni, (const char ***(*))strs, &ns);
        for (size_t i = 0; i < ni; i++) {
            *ints[i] = get_i64(&c);
        }
        for (size_t i = 0; i < ns; i++) {
            *strs[i] = get_str(&c);
        }
    }
    if (c.bad || c.n != 0 || r->rn == 0) {
        rec_free(r);
        return NULL;
    }
    return r;
}

/* Open the spool file when first needed. */
static int spool_open(struct spool *sp)
{
    if (sp->fd >= 0) {
        return 0;
    }
    if (sp->path == NULL) {
        return -ENOENT;
    }
    sp->fd = open(sp->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        int rc = -errno;
        log_error(LOG_KV("store", "postgres", "spool", sp->path), "cannot open the spool: %s",
                  strerror(-rc));
        return rc;
    }
    struct stat stt;
    if (fstat(sp->fd, &stt) == 0) {
        sp->size = (uint64_t)stt.st_size;
    }
    return 0;
}

/* Append r to the spool. 0, or -errno (r is kept by the caller). */
static int spool_append(struct store_pg *s, struct rec *r)
{
    struct spool *sp = &s->sp;
    int rc = spool_open(sp);
    if (rc < 0) {
        return rc;
    }
    struct sbuf b = {0};
    put_u32(&b, SPOOL_MAGIC);
    put_u32(&b, 0);
    put_u32(&b, 0);
    rec_encode(r, &b);
    if (b.oom || b.len - SPOOL_HDR > SPOOL_REC_MAX) {
        free(b.p);
        return -ENOMEM;
    }
    uint32_t len = (uint32_t)(b.len - SPOOL_HDR);
    uint32_t crc = crc32_ieee((const unsigned char *)b.p + SPOOL_HDR, len);
    struct sbuf h = {0};
    put_u32(&h, len);
    put_u32(&h, crc);
    if (h.oom) {
        free(b.p);
        return -ENOMEM;
    }
    memcpy(b.p + 4, h.p, 8);
    free(h.p);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = pwrite(sp->fd, b.p + off, b.len - off, (off_t)(sp->size + off));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            /* Cut what was half written so the file stays a list of records. */
            if (ftruncate(sp->fd, (off_t)sp->size) < 0) {
                log_error(LOG_KV("store", "postgres"), "spool: cannot truncate a partial write");
            }
            free(b.p);
            return rc;
        }
        off += (size_t)w;
    }
    sp->size += b.len;
    free(b.p);
    return 0;
}

static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r < 0 ? -1 : (ssize_t)got;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read the next good record at sp->rd, skipping (and reporting) corrupt or
 * truncated stretches. NULL at the end. */
static struct rec *spool_read(struct spool *sp)
{
    unsigned char *buf = NULL;
    while (sp->fd >= 0 && sp->rd < sp->size) {
        unsigned char h[SPOOL_HDR];
        uint64_t at = sp->rd;
        const char *bad = NULL;
        if (sp->size - at < SPOOL_HDR) {
            bad = "truncated record header";
        } else if (pread_full(sp->fd, h, SPOOL_HDR, at) != SPOOL_HDR) {
            bad = "unreadable record";
        } else {
            struct cur c = {h, SPOOL_HDR, false};
            uint32_t magic = get_u32(&c), len = get_u32(&c), crc = get_u32(&c);
            if (magic != SPOOL_MAGIC) {
                bad = "bad record magic";
            } else if (len > SPOOL_REC_MAX) {
                bad = "record too large";
            } else if (sp->size - at - SPOOL_HDR < len) {
                bad = "truncated record";
            } else {
                free(buf);
                buf = malloc(len > 0 ? len : 1);
                if (buf == NULL) {
                    return NULL;
                }
                if (pread_full(sp->fd, buf, len, at + SPOOL_HDR) != (ssize_t)len) {
                    bad = "unreadable record";
                } else if (crc32_ieee(buf, len) != crc) {
                    bad = "checksum mismatch";
                } else {
                    struct rec *r = rec_decode(buf, len);
                    if (r == NULL) {
                        bad = "malformed record";
                    } else {
                        sp->rd = at + SPOOL_HDR + len;
                        free(buf);
                        return r;
                    }
                }
            }
        }
        /* Resynchronize on the next magic after the bad spot; a bad tail
         * is skipped whole. */
        char off[24];
        snprintf(off, sizeof(off), "%" PRIu64, at);
        log_error(LOG_KV("store", "postgres", "spool", sp->path, "offset", off),
                  "spool: %s: skipped", bad);
        sp->bad++;
        uint64_t next = sp->size;
        unsigned char blk[4096];
        for (uint64_t pos = at + 1; pos < sp->size && next == sp->size;) {
            ssize_t n = pread_full(sp->fd, blk, sizeof(blk), pos);
            if (n < 4) {
                break;
            }
            for (ssize_t i = 0; i + 4 <= n; i++) {
                if (blk[i] == 0x53 && blk[i + 1] == 0x57 && blk[i + 2] == 0x53 &&
                    blk[i + 3] == 0x50) {
                    next = pos + (uint64_t)i;
                    break;
                }
            }
            pos += (uint64_t)n - 3;
        }
        sp->rd = next;
    }
    free(buf);
    return NULL;
}

/* Empty the spool once everything read from it is committed. */
static void spool_reset(struct spool *sp)
{
    if (sp->fd >= 0 && ftruncate(sp->fd, 0) < 0) {
        log_error(LOG_KV("store", "postgres", "spool", sp->path), "cannot truncate: %s",
                  strerror(errno));
        return;
    }
    sp->size = 0;
    sp->rd = 0;
}

/* --- the write stream --- */

static void list_append(struct rec **head, struct rec **tail, struct rec *r)
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
    } else if (s->sp.path != NULL && s->sp.size < s->spool_max && spool_append(s, r) == 0) {
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
static void drop_committed(struct store_pg *s, uint64_t last_rn)
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
    struct spool *sp = &s->sp;
    if (!sp->active || s->head != NULL) {
        return;
    }
    size_t n = 0;
    struct rec *r;
    while (n < (size_t)s->batch && (r = spool_read(sp)) != NULL) {
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
    struct spool *sp = &s->sp;
    if (!sp->active && sp->size > 0 && sp->rd >= sp->size && s->done_rn >= sp->last_rn) {
        spool_reset(sp);
        log_info(LOG_KV("store", "postgres"), "spool drained");
    }
}

/* --- building a batch --- */

static const char *ev_type(const char *t)
{
    return t != NULL ? t : "daemon";
}

static void build_deploy(struct sbuf *b, const struct deploy *d)
{
    /* ext_id is unique: a row with the same ext_id under another id is
     * replaced, as SQLite's INSERT OR REPLACE does. */
    if (d->ext_id != NULL && d->ext_id[0] != '\0') {
        sb_str(b, "DELETE FROM deploys WHERE ext_id = ");
        sb_lit(b, d->ext_id);
        sb_str(b, " AND id <> ");
        sb_i64(b, d->id);
        sb_str(b, ";\n");
    }
    sb_str(b, "INSERT INTO deploys (id, app, env, version, commit_sha, author, source, url, "
              "description, status, started_ms, finished_ms, verdict, verdict_reason, "
              "failing_check, rollback_version, ext_id) VALUES (");
    sb_i64(b, d->id);
    const char *v1[] = {d->app, d->env, d->version};
    for (size_t i = 0; i < NELEM(v1); i++) {
        sb_str(b, ", ");
        sb_lit(b, v1[i] != NULL ? v1[i] : "");
    }
    const char *v2[] = {d->commit, d->author, d->source, d->url, d->description};
    for (size_t i = 0; i < NELEM(v2); i++) {
        sb_str(b, ", ");
        sb_opt(b, v2[i]);
    }
    sb_str(b, ", ");
    sb_lit(b, d->status != NULL ? d->status : "");
    sb_str(b, ", ");
    sb_i64(b, d->started_ms);
    sb_str(b, ", ");
    sb_i64_or_null(b, d->finished_ms > 0 ? d->finished_ms : 0);
    const char *v3[] = {d->verdict, d->verdict_reason, d->failing_check, d->rollback_version,
                        d->ext_id};
    for (size_t i = 0; i < NELEM(v3); i++) {
        sb_str(b, ", ");
        sb_opt(b, v3[i]);
    }
    sb_str(b, ") ON CONFLICT (id) DO UPDATE SET app = EXCLUDED.app, env = EXCLUDED.env, "
              "version = EXCLUDED.version, commit_sha = EXCLUDED.commit_sha, "
              "author = EXCLUDED.author, source = EXCLUDED.source, url = EXCLUDED.url, "
              "description = EXCLUDED.description, status = EXCLUDED.status, "
              "started_ms = EXCLUDED.started_ms, finished_ms = EXCLUDED.finished_ms, "
              "verdict = EXCLUDED.verdict, verdict_reason = EXCLUDED.verdict_reason, "
              "failing_check = EXCLUDED.failing_check, "
              "rollback_version = EXCLUDED.rollback_version, ext_id = EXCLUDED.ext_id;\n");
}

static void build_alert(struct sbuf *b, const struct alert *a)
{
    sb_str(b, "INSERT INTO alerts (id, kind, check_name, app, env, severity, status, summary, "
              "started, resolved, ack_by, ack_ts, ack_comment, muted_by, deploy_id, "
              "last_notified, notifications) VALUES (");
    sb_i64(b, a->id);
    sb_str(b, ", ");
    sb_lit(b, a->kind != NULL ? a->kind : "");
    sb_str(b, ", ");
    sb_opt(b, a->check);
    sb_str(b, ", ");
    sb_opt(b, a->app);
    sb_str(b, ", ");
    sb_opt(b, a->env);
    sb_str(b, ", ");
    sb_lit(b, a->severity != NULL ? a->severity : "");
    sb_str(b, ", ");
    sb_lit(b, a->status != NULL ? a->status : "");
    sb_str(b, ", ");
    sb_lit(b, a->summary != NULL ? a->summary : "");
    sb_str(b, ", ");
    sb_i64(b, a->started_ms);
    sb_str(b, ", ");
    sb_i64_or_null(b, a->resolved_ms);
    sb_str(b, ", ");
    sb_opt(b, a->ack_by);
    sb_str(b, ", ");
    sb_i64_or_null(b, a->ack_ms);
    sb_str(b, ", ");
    sb_opt(b, a->ack_comment);
    sb_str(b, ", ");
    sb_opt(b, a->muted_by);
    sb_str(b, ", ");
    sb_i64_or_null(b, a->deploy_id);
    sb_str(b, ", ");
    sb_i64_or_null(b, a->last_notified_ms);
    sb_str(b, ", ");
    sb_i64(b, a->notifications);
    sb_str(b, ") ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, "
              "check_name = EXCLUDED.check_name, app = EXCLUDED.app, env = EXCLUDED.env, "
              "severity = EXCLUDED.severity, status = EXCLUDED.status, "
              "summary = EXCLUDED.summary, started = EXCLUDED.started, "
              "resolved = EXCLUDED.resolved, ack_by = EXCLUDED.ack_by, "
              "ack_ts = EXCLUDED.ack_ts, ack_comment = EXCLUDED.ack_comment, "
              "muted_by = EXCLUDED.muted_by, deploy_id = EXCLUDED.deploy_id, "
              "last_notified = EXCLUDED.last_notified, "
              "notifications = EXCLUDED.notifications;\n");
}

static void build_mute(struct sbuf *b, const struct mute *m)
{
    sb_str(b, "INSERT INTO mutes (id, kind, check_name, app, env, severity, starts, ends, "
              "author, comment, created) VALUES (");
    sb_i64(b, m->id);
    sb_str(b, ", ");
    sb_lit(b, m->kind != NULL ? m->kind : "");
    const char *v[] = {m->check, m->app, m->env, m->severity};
    for (size_t i = 0; i < NELEM(v); i++) {
        sb_str(b, ", ");
        sb_opt(b, v[i]);
    }
    sb_str(b, ", ");
    sb_i64(b, m->starts_ms);
    sb_str(b, ", ");
    sb_i64(b, m->ends_ms);
    sb_str(b, ", ");
    sb_opt(b, m->author);
    sb_str(b, ", ");
    sb_opt(b, m->comment);
    sb_str(b, ", ");
    sb_i64(b, m->created_ms);
    sb_str(b, ") ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, "
              "check_name = EXCLUDED.check_name, app = EXCLUDED.app, env = EXCLUDED.env, "
              "severity = EXCLUDED.severity, starts = EXCLUDED.starts, ends = EXCLUDED.ends, "
              "author = EXCLUDED.author, comment = EXCLUDED.comment, "
              "created = EXCLUDED.created;\n");
}

static void build_outbox(struct sbuf *b, const struct outbox_item *o)
{
    sb_str(b, "INSERT INTO outbox (id, alert_id, notifier, payload, created, attempts, next_ts) "
              "VALUES (");
    sb_i64(b, o->id);
    sb_str(b, ", ");
    sb_i64(b, o->alert_id);
    sb_str(b, ", ");
    sb_lit(b, o->notifier != NULL ? o->notifier : "");
    sb_str(b, ", ");
    sb_lit(b, o->payload != NULL ? o->payload : "");
    sb_str(b, ", ");
    sb_i64(b, o->created_ms);
    sb_str(b, ", ");
    sb_i64(b, o->attempts);
    sb_str(b, ", ");
    sb_i64(b, o->next_ms);
    sb_str(b, ") ON CONFLICT (id) DO UPDATE SET alert_id = EXCLUDED.alert_id, "
              "notifier = EXCLUDED.notifier, payload = EXCLUDED.payload, "
              "created = EXCLUDED.created, attempts = EXCLUDED.attempts, "
              "next_ts = EXCLUDED.next_ts;\n");
}

static void build_state(struct sbuf *b, int32_t id, const struct store_check_state *cs)
{
    const struct result *res = &cs->last;
    sb_str(b, "(");
    sb_i64(b, id);
    sb_str(b, ", ");
    sb_i64(b, clamp(cs->state, STATE_UNKNOWN, STATE_DOWN));
    sb_str(b, ", ");
    sb_i64(b, clamp(cs->fail_streak, 0, INT32_MAX));
    sb_str(b, ", ");
    sb_i64(b, clamp(cs->ok_streak, 0, INT32_MAX));
    sb_str(b, ", ");
    sb_i64(b, cs->state_since_ms);
    sb_str(b, ", ");
    sb_i64(b, res->started_ms);
    sb_str(b, ", ");
    sb_i64(b, res->duration_us);
    sb_str(b, ", ");
    sb_i64(b, clamp(res->outcome, STATE_UNKNOWN, STATE_DOWN));
    sb_str(b, ", ");
    if (res->status >= 0) {
        sb_i64(b, res->status);
    } else {
        sb_str(b, "NULL");
    }
    sb_str(b, ", ");
    sb_opt(b, res->error);
    sb_str(b, ", ");
    sb_opt(b, res->failed_condition);
    sb_str(b, ", ");
    sb_i64(b, res->cert_expiry_s);
    sb_str(b, ")");
}

/* Names of checks in the next batch that have no id yet, as an SQL array
 * body; 0 when none. */
static size_t unknown_names(struct store_pg *s, struct sbuf *b)
{
    size_t n = 0, seen = 0;
    for (struct rec *r = s->head; r != NULL && seen < (size_t)s->batch; r = r->next, seen++) {
        if (r->kind == REC_RESULT && map_find(&s->names, r->check) == NULL) {
            sb_str(b, n > 0 ? ", " : "");
            sb_lit(b, r->check);
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
    struct sbuf evs = {0}, states = {0}, late = {0};
    size_t n = 0, nres = 0, nev = 0, nstates = 0, nlate = 0;
    uint64_t mark = ++s->batch_no;
    int64_t late_before = wall_ms() - LATE_MARGIN_MS;
    if (s->head != NULL) {
        /* First: lock this node's progress and refuse records already
         * committed (by a transaction this writer gave up on). */
        sb_str(b, "SELECT shipwatch_claim(");
        sb_lit(b, s->node);
        sb_str(b, ", ");
        sb_i64(b, (int64_t)s->head->rn);
        sb_str(b, ");\n");
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
            sb_i64(res, e->id);
            sb_str(res, "\t");
            sb_i64(res, x->started_ms);
            sb_str(res, "\t");
            sb_i64(res, clamp(x->duration_us, 0, INT32_MAX));
            sb_str(res, "\t");
            sb_i64(res, clamp(x->outcome, STATE_UNKNOWN, STATE_DOWN));
            sb_str(res, "\t");
            if (x->status >= 0) {
                sb_i64(res, clamp(x->status, 0, INT16_MAX));
            } else {
                sb_str(res, "\\N");
            }
            sb_str(res, "\t");
            sb_copy(res, x->error);
            sb_str(res, "\t");
            sb_copy(res, x->failed_condition);
            sb_str(res, "\n");
            if (e->mark != mark) {
                e->mark = mark;
                nstates++;
            }
            e->last = r;
            if (x->started_ms < late_before) {
                sb_str(&late, nlate++ > 0 ? ", (" : "(");
                sb_i64(&late, e->id);
                sb_str(&late, ", ");
                sb_i64(&late, x->started_ms - x->started_ms % MINUTE_MS);
                sb_str(&late, ")");
            }
            break;
        }
        case REC_EVENT:
            sb_str(&evs, nev++ > 0 ? ",\n(" : "(");
            sb_i64(&evs, r->ev.id);
            sb_str(&evs, ", ");
            sb_i64(&evs, r->ev.ts_ms);
            sb_str(&evs, ", ");
            sb_lit(&evs, ev_type(r->ev.type));
            sb_str(&evs, ", ");
            sb_opt(&evs, r->ev.check);
            sb_str(&evs, ", ");
            sb_opt(&evs, r->ev.app);
            sb_str(&evs, ", ");
            sb_opt(&evs, r->ev.env);
            sb_str(&evs, ", ");
            sb_lit(&evs, r->ev.message != NULL ? r->ev.message : "");
            sb_str(&evs, ", ");
            sb_opt(&evs, r->ev.data);
            sb_str(&evs, ")");
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
            sb_str(b, "DELETE FROM outbox WHERE id = ");
            sb_i64(b, r->outbox_id);
            sb_str(b, ";\n");
            break;
        default:
            break;
        }
    }
    if (n == 0) {
        free(evs.p);
        free(states.p);
        free(late.p);
        return 0;
    }
    if (nres > 0) {
        /* The server runs the rest of the string, in the same transaction,
         * once the data is in. */
        sb_str(b, "COPY results (check_id, ts, duration_us, outcome, status, error, "
                  "failed_condition) FROM STDIN;\n");
        /* The check's state after its last result of the batch; one row a
         * check, as one upsert cannot touch a row twice. */
        size_t k = 0;
        for (struct rec *r = s->inflight; r != NULL; r = r->next) {
            if (r->kind != REC_RESULT) {
                continue;
            }
            struct name_ent *e = map_find(&s->names, r->check);
            if (e != NULL && e->mark == mark && e->last == r) {
                sb_str(&states, k++ > 0 ? ",\n" : "");
                build_state(&states, e->id, &r->st);
            }
        }
        sb_str(b, "INSERT INTO check_state VALUES\n");
        sb_add(b, states.p, states.len);
        sb_str(b, "\nON CONFLICT (check_id) DO UPDATE SET state = EXCLUDED.state, "
                  "fail_streak = EXCLUDED.fail_streak, ok_streak = EXCLUDED.ok_streak, "
                  "state_since = EXCLUDED.state_since, last_ts = EXCLUDED.last_ts, "
                  "last_duration_us = EXCLUDED.last_duration_us, "
                  "last_outcome = EXCLUDED.last_outcome, last_status = EXCLUDED.last_status, "
                  "last_error = EXCLUDED.last_error, last_failed = EXCLUDED.last_failed, "
                  "last_cert_expiry = EXCLUDED.last_cert_expiry;\n");
        if (nlate > 0) {
            sb_str(b, "INSERT INTO rollup_late VALUES ");
            sb_add(b, late.p, late.len);
            sb_str(b, " ON CONFLICT DO NOTHING;\n");
        }
    }
    if (nev > 0) {
        sb_str(b, "INSERT INTO events VALUES\n");
        sb_add(b, evs.p, evs.len);
        sb_str(b, "\nON CONFLICT (id) DO NOTHING;\n");
    }
    sb_str(b, "INSERT INTO writer_progress VALUES (");
    sb_lit(b, s->node);
    sb_str(b, ", ");
    sb_i64(b, (int64_t)s->inflight_rn);
    sb_str(b, ") ON CONFLICT (node) DO UPDATE SET last_rn = "
              "GREATEST(writer_progress.last_rn, EXCLUDED.last_rn)");
    free(evs.p);
    free(states.p);
    free(late.p);
    if (b->oom || states.oom || res->oom) {
        b->oom = true;
    }
    (void)nstates;
    return n;
}

/* --- the writer --- */

/* Release alerts queries whose writes are all committed (err 0), or all
 * of them with err. */
static void alerts_release(struct store_pg *s, int err)
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
        sb_str(&b, "SELECT COALESCE((SELECT last_rn FROM writer_progress WHERE node = ");
        sb_lit(&b, s->node);
        sb_str(&b, "), 0)");
        if (b.oom) {
            conn_fail(c, "out of memory");
        } else {
            conn_send(c, b.p, 0, NULL, on_progress_done);
        }
        free(b.p);
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
static void writer_next(struct store_pg *s)
{
    struct pgconn *c = &s->writer;
    if (c->state != C_READY) {
        return;
    }
    spool_refill(s);
    struct sbuf b = {0};
    if (s->head != NULL && s->head->kind == REC_RESULT && !s->names_resolving) {
        sb_str(&b, "INSERT INTO checks (name) SELECT unnest(ARRAY[");
        size_t mark = b.len;
        if (unknown_names(s, &b) > 0) {
            sb_str(&b, "]::text[]) ON CONFLICT (name) DO NOTHING;\n"
                       "SELECT id, name FROM checks WHERE name = ANY(ARRAY[");
            struct sbuf names = {0};
            unknown_names(s, &names);
            sb_add(&b, names.p, names.len);
            free(names.p);
            sb_str(&b, "]::text[])");
            if (!b.oom) {
                s->names_resolving = true;
                conn_send(c, b.p, 0, NULL, on_names_done);
            }
            free(b.p);
            return;
        }
        (void)mark;
        b.len = 0;
    }
    if (ids_wanted(s) && !s->ids_fetching) {
        ids_sql(s, &b);
        if (!b.oom) {
            s->ids_fetching = true;
            conn_send(c, b.p, 0, NULL, on_ids_done);
        }
        free(b.p);
        return;
    }
    if (s->head != NULL) {
        size_t max = s->solo > 0 ? 1 : (size_t)s->batch;
        b.len = 0;
        struct sbuf copy = {0};
        size_t n = build_batch(s, &b, &copy, max);
        if (n > 0) {
            if (s->solo > 0) {
                s->solo--;
            }
            if (b.oom) {
                log_error(LOG_KV("store", "postgres"), "out of memory building a batch");
                requeue_inflight(s);
                free(copy.p);
            } else {
                conn_send_copy(c, b.p, copy.p, copy.len, on_batch_done);
            }
            free(b.p);
            return;
        }
        free(copy.p);
    }
    free(b.p);
    b = (struct sbuf){0};
    int64_t now = wall_ms();
    if (now - s->last_partition_ms >= PARTITION_EVERY_MS) {
        s->last_partition_ms = now;
        sb_str(&b, "SELECT shipwatch_ensure_partitions(");
        sb_i64(&b, now - 86400000);
        sb_str(&b, ", ");
        sb_i64(&b, PARTITION_DAYS_AHEAD + 1);
        sb_str(&b, ")");
    } else if (s->retention_due) {
        s->retention_due = false;
        sb_str(&b, "SELECT shipwatch_retention(");
        sb_i64(&b, s->retention_now - s->base.retention_raw_ms);
        sb_str(&b, ", ");
        sb_i64(&b, s->retention_now - s->base.retention_rollups_ms);
        sb_str(&b, ")");
    } else if (now - s->last_rollup_ms >= ROLLUP_EVERY_MS) {
        s->last_rollup_ms = now;
        sb_str(&b, "SELECT shipwatch_rollup(");
        sb_i64(&b, now);
        sb_str(&b, ")");
    }
    if (b.len > 0 && !b.oom) {
        s->rollup_running = true;
        conn_send_for(c, b.p, 0, NULL, on_chore_done, CHORE_TIMEOUT_MS);
    }
    free(b.p);
}

static void on_kick(uv_timer_t *t)
{
    struct store_pg *s = t->data;
    alerts_release(s, 0);
    writer_next(s);
}

static void on_tick(uv_timer_t *t)
{
    writer_next(t->data);
}

/* --- the writer's set-up after each connect --- */

static void setup_fail(struct pgconn *c, int fatal, const char *msg)
{
    struct store_pg *s = c->s;
    if (fatal != 0) {
        s->fatal = fatal;
        snprintf(s->fatal_msg, sizeof(s->fatal_msg), "%s", msg);
        char *nl = strchr(s->fatal_msg, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
    }
    conn_fail(c, msg);
}

static void on_setup3(struct pgconn *c, PGresult **res, int nres, const char *err, bool broken)
{
    struct store_pg *s = c->s;
    if (broken) {
        return;
    }
    if (err != NULL || nres < 3) {
        setup_fail(c, 0, err != NULL ? err : "set-up query gave too few results");
        return;
    }
    uint64_t last_rn = (uint64_t)val_i64(res[0], 0, 0);
    if (last_rn >= s->next_rn) {
        /* Numbers must only grow: this node wrote further before. */
        s->next_rn = last_rn + 1;
    }
    drop_committed(s, last_rn);
    ids_apply(s, res[2]);
    s->last_partition_ms = wall_ms();
    c->state = C_READY;
    c->backoff_ms = 0;
    uv_timer_stop(&c->retry);
    if (s->degraded) {
        log_info(LOG_KV("store", "postgres"), "connected");
    }
    s->degraded = false;
    s->reason[0] = '\0';
    s->since_ms = 0;
    s->fatal = 0;
    alerts_release(s, 0);
    writer_next(s);
}

static void setup3(struct pgconn *c)
{
    struct store_pg *s = c->s;
    struct sbuf b = {0};
    sb_str(&b, "SELECT COALESCE((SELECT last_rn FROM writer_progress WHERE node = ");
    sb_lit(&b, s->node);
    sb_str(&b, "), 0);\nSELECT shipwatch_ensure_partitions(");
    int64_t now = wall_ms();
    sb_i64(&b, now - 86400000);
    sb_str(&b, ", ");
    sb_i64(&b, PARTITION_DAYS_AHEAD + 1);
    sb_str(&b, ");\n");
    /* Both blocks anew after a reconnect would waste ids: only missing ones. */
    ids_sql(s, &b);
    if (b.oom) {
        setup_fail(c, 0, "out of memory");
    } else {
        conn_send_for(c, b.p, 0, NULL, on_setup3, CHORE_TIMEOUT_MS);
    }
    free(b.p);
}

static void on_setup2(struct pgconn *c, PGresult **res, int nres, const char *err, bool broken)
{
    (void)res;
    (void)nres;
    if (broken) {
        return;
    }
    if (err != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "migration failed: %s", err);
        setup_fail(c, -EIO, msg);
        return;
    }
    setup3(c);
}

static void on_setup1(struct pgconn *c, PGresult **res, int nres, const char *err, bool broken)
{
    if (broken) {
        return;
    }
    if (err != NULL || nres == 0) {
        setup_fail(c, -EIO, err != NULL ? err : "no schema version");
        return;
    }
    int64_t current = val_i64(res[nres - 1], 0, 0);
    if (current < 0 || (size_t)current > schema_postgres_count) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "database schema version %" PRId64 " is newer than this shipwatchd knows "
                 "(%zu): refusing to touch it",
                 current, schema_postgres_count);
        setup_fail(c, -EPROTO, msg);
        return;
    }
    struct sbuf b = {0};
    for (size_t i = (size_t)current; i < schema_postgres_count; i++) {
        const struct schema_migration *m = &schema_postgres[i];
        sb_str(&b, m->sql);
        sb_str(&b, ";\nINSERT INTO schema_version VALUES (");
        sb_i64(&b, m->version);
        sb_str(&b, ", ");
        sb_lit(&b, m->name);
        sb_str(&b, ", ");
        sb_i64(&b, wall_ms());
        sb_str(&b, ");\n");
        log_info(LOG_KV("store", "postgres"), "applying migration %04d_%s", m->version, m->name);
    }
    sb_str(&b, "COMMIT");
    if (b.oom) {
        setup_fail(c, 0, "out of memory");
    } else {
        conn_send_for(c, b.p, 0, NULL, on_setup2, CHORE_TIMEOUT_MS);
    }
    free(b.p);
}

/* Connected: migrate under an advisory lock (several daemons may start at
 * once; the second waits and then finds nothing to do), then read this
 * node's progress and reserve id blocks. */
static void writer_connected(struct pgconn *c)
{
    conn_send_for(c,
              "SET standard_conforming_strings = on; SET client_min_messages = warning; "
              "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_MIGRATE "); "
              "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL, "
              "name text NOT NULL, applied_ms bigint NOT NULL); "
              "SELECT COALESCE(MAX(version), 0) FROM schema_version",
              0, NULL, on_setup1, CHORE_TIMEOUT_MS);
}

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
    "COALESCE(deploy_id, 0), COALESCE(last_notified, 0), notifications"

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
}

/* The stats row of check id in r, added when missing. NULL on ENOMEM. */
static struct store_check_stats *stats_row(struct rec *r, size_t *cap, int64_t id,
                                           int64_t **ids, const char *name)
{
    for (size_t i = r->ns; i-- > 0;) {
        if ((*ids)[i] == id) {
            return &r->srows[i];
        }
    }
    if (r->ns == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct store_check_stats *v = realloc(r->srows, nc * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        r->srows = v;
        int64_t *w = realloc(*ids, nc * sizeof(*w));
        if (w == NULL) {
            return NULL;
        }
        *ids = w;
        *cap = nc;
    }
    struct store_check_stats *st = &r->srows[r->ns];
    memset(st, 0, sizeof(*st));
    st->check = strdup(name);
    for (size_t m = 0; m < STORE_SPARK_MINUTES; m++) {
        st->spark[m] = -1;
    }
    (*ids)[r->ns++] = id;
    return st->check != NULL ? st : NULL;
}

/* Aggregate rows of the stats query like the SQLite store does: closed
 * hours from rollups_hour, the open hour's closed minutes from
 * rollups_minute. */
static void parse_stats(struct rec *r, const PGresult *res)
{
    const int64_t now = r->now_ms;
    const int64_t day = now - 24 * HOUR_MS;
    const int64_t spark_from = (now / MINUTE_MS - STORE_SPARK_MINUTES) * MINUTE_MS;
    int64_t *ids = NULL;
    size_t cap = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        int pass = (int)val_i64(res, row, 0);
        int64_t hour_start = val_i64(res, row, 8);
        struct store_check_stats *st =
            stats_row(r, &cap, val_i64(res, row, 1), &ids, col_text(res, row, 2));
        if (st == NULL) {
            r->err = -ENOMEM;
            break;
        }
        int64_t ts = val_i64(res, row, 3);
        int64_t n = val_i64(res, row, 4), f = val_i64(res, row, 5);
        if (pass == 0 || ts >= hour_start) {
            st->runs_7d += n;
            st->failures_7d += f;
            if (ts >= day - day % (pass == 0 ? HOUR_MS : MINUTE_MS)) {
                st->runs_24h += n;
                st->failures_24h += f;
            }
        }
        if (pass == 1) {
            int64_t p95 = val_i64(res, row, 7);
            if (ts >= now - HOUR_MS && p95 > st->p95_1h_us) {
                st->p95_1h_us = p95;
            }
            if (ts >= spark_from) {
                size_t m = (size_t)((ts - spark_from) / MINUTE_MS);
                if (m < STORE_SPARK_MINUTES) {
                    st->spark[m] = val_i64(res, row, 6);
                }
            }
        }
    }
    free(ids);
}

/* Rows of a finished query into r. */
static void parse_rows(struct rec *r, const PGresult *res)
{
    int n = PQntuples(res);
    bool oom = false;
    switch (r->kind) {
    case REC_HISTORY:
        if (PQnfields(res) != 11) {
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
        if (PQnfields(res) != 17) {
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
            for (size_t k = 0; k < NELEM(f); k++) {
                *f[k] = col_dup(res, i, (int)k + 1, &oom);
            }
            d->started_ms = val_i64(res, i, 10);
            d->finished_ms = val_i64(res, i, 11);
            const char **g[] = {&d->verdict, &d->verdict_reason, &d->failing_check,
                                &d->rollback_version, &d->ext_id};
            for (size_t k = 0; k < NELEM(g); k++) {
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
        if (PQnfields(res) != 17) {
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

static void query_deliver(struct rec *r)
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
        text = hq->granularity == STORE_RAW
                   ? "SELECT ts, 1, (outcome <> 1)::int, duration_us, duration_us, duration_us, "
                     "duration_us, outcome, COALESCE(status, -1), error, failed_condition "
                     "FROM results WHERE check_id = (SELECT id FROM checks WHERE name = $1) "
                     "AND ts >= $2 AND ts < $3 ORDER BY ts DESC LIMIT $4"
               : hq->granularity == STORE_MINUTE
                   ? "SELECT bucket_ts, count, failures, lat_min_us, lat_avg_us, lat_p95_us, "
                     "lat_max_us, 0, -1, NULL, NULL FROM rollups_minute WHERE check_id = "
                     "(SELECT id FROM checks WHERE name = $1) AND bucket_ts >= $2 AND "
                     "bucket_ts < $3 ORDER BY bucket_ts DESC LIMIT $4"
                   : "SELECT bucket_ts, count, failures, lat_min_us, lat_avg_us, lat_p95_us, "
                     "lat_max_us, 0, -1, NULL, NULL FROM rollups_hour WHERE check_id = "
                     "(SELECT id FROM checks WHERE name = $1) AND bucket_ts >= $2 AND "
                     "bucket_ts < $3 ORDER BY bucket_ts DESC LIMIT $4";
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
               "failing_check, rollback_version, ext_id FROM deploys "
               "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR env = $2) "
               "AND ($5::text IS NULL OR ext_id = $5) AND id < $3 ORDER BY id DESC LIMIT $4";
        PARAM_STR(r->dq.app);
        PARAM_STR(r->dq.env);
        PARAM_I64(r->dq.before_id > 0 ? r->dq.before_id : INT64_MAX);
        PARAM_I64(limit);
        PARAM_STR(r->dq.ext_id);
        break;
    }
    case REC_STATS: {
        int64_t week = r->now_ms - 7 * 24 * HOUR_MS;
        text = "WITH p AS (SELECT COALESCE((SELECT next_hour FROM rollup_progress WHERE id = 1), "
               "0) AS h) "
               "SELECT 0, r.check_id, c.name, r.bucket_ts, r.count, r.failures, 0, 0, p.h "
               "FROM rollups_hour r JOIN checks c ON c.id = r.check_id, p "
               "WHERE r.bucket_ts >= $1 AND r.bucket_ts < p.h "
               "UNION ALL "
               "SELECT 1, r.check_id, c.name, r.bucket_ts, r.count, r.failures, r.lat_avg_us, "
               "r.lat_p95_us, p.h FROM rollups_minute r JOIN checks c ON c.id = r.check_id, p "
               "WHERE r.bucket_ts >= LEAST(p.h, $2) ORDER BY 1, 2, 4";
        PARAM_I64(week - week % HOUR_MS);
        PARAM_I64(r->now_ms - HOUR_MS);
        break;
    }
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
static void pool_dispatch(struct store_pg *s)
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

/* --- synchronous use at open and close --- */

static bool conn_no_query(struct pgconn *c)
{
    return c->done == NULL;
}

/* Run one query on the writer and wait for it (open and close only). The
 * last result is returned (free with PQclear), or NULL with err set. */
static PGresult *sync_result;
static char sync_err[256];

static void on_sync_done(struct pgconn *c, PGresult **res, int nres, const char *err,
                         bool broken)
{
    (void)c;
    if (broken || err != NULL || nres == 0) {
        snprintf(sync_err, sizeof(sync_err), "%s", err != NULL ? err : "connection lost");
        return;
    }
    sync_result = res[nres - 1];
    res[nres - 1] = NULL;
}

static PGresult *sync_query(struct store_pg *s, const char *sql, int np, const char *const *p)
{
    struct pgconn *c = &s->writer;
    int64_t deadline = mono_ms() + 30000;
    conn_drive(c, conn_no_query, deadline);
    if (c->state != C_READY) {
        return NULL;
    }
    sync_result = NULL;
    sync_err[0] = '\0';
    if (conn_send(c, sql, np, p, on_sync_done) < 0) {
        return NULL;
    }
    conn_drive(c, conn_no_query, deadline);
    if (c->done != NULL) {
        conn_fail(c, "query timed out");
    }
    if (sync_result == NULL && sync_err[0]) {
        log_error(LOG_KV("store", "postgres"), "%s", sync_err);
    }
    PGresult *r = sync_result;
    sync_result = NULL;
    return r;
}

static bool stream_empty(struct pgconn *c)
{
    struct store_pg *s = c->s;
    return c->state != C_READY ? c->state == C_DOWN
                               : s->head == NULL && s->inflight == NULL && !s->sp.active &&
                                     s->held_head == NULL;
}

/* Write what is queued, driving the writer by hand until deadline. */
static void flush_sync(struct store_pg *s, int64_t deadline)
{
    struct pgconn *c = &s->writer;
    while (mono_ms() < deadline && (c->state == C_READY || c->state == C_BUSY)) {
        conn_drive(c, conn_no_query, deadline);
        if (c->state != C_READY || stream_empty(c)) {
            break;
        }
        writer_next(s);
        if (c->done == NULL) {
            break;  /* nothing could be sent */
        }
    }
}

/* --- ops --- */

static void pg_close(struct store *st)
{
    struct store_pg *s = (struct store_pg *)st;
    if (s->timers_init && !s->closing) {
        int64_t deadline = mono_ms() + CLOSE_FLUSH_MS;
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
        if (s->sp.path != NULL && spool_append(s, r) == 0) {
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
    for (int i = 0; i < s->npool && nc < (int)NELEM(conns); i++) {
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
    if (s->sp.fd >= 0) {
        close(s->sp.fd);
    }
    free(s->sp.path);
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

static int pg_load_states(struct store *st, store_state_fn fn, void *arg)
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
        "s.last_failed, COALESCE(s.last_cert_expiry, 0) FROM check_state s JOIN checks c ON "
        "c.id = s.check_id",
        0, NULL);
    if (r == NULL) {
        return s->writer.state == C_DOWN ? 0 : -EIO;
    }
    if (PQnfields(r) != 12) {
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
        fn(&cs, arg);
    }
    PQclear(r);
    return 0;
}

static int pg_load_alerting(struct store *st, int64_t now_ms, const struct store_alerting_load *l)
{
    struct store_pg *s = (struct store_pg *)st;
    if (s->writer.state != C_READY && s->writer.state != C_BUSY) {
        log_warn(LOG_KV("store", "postgres"), "database unreachable: no alerts loaded");
        return 0;
    }
    flush_sync(s, mono_ms() + 30000);
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    const char *p[1] = {now};
    static const char *const sql[] = {
        "SELECT " ALERT_COLUMNS " FROM alerts WHERE status <> 'resolved' ORDER BY id",
        "SELECT id, kind, check_name, app, env, severity, starts, ends, author, comment, "
        "created FROM mutes WHERE ends > $1 ORDER BY ends, id",
        "SELECT id, alert_id, notifier, payload, created, attempts, next_ts FROM outbox "
        "ORDER BY id",
    };
    static const int nfields[] = {17, 11, 7};
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
                rec_alert_free(&a);
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
                if (!oom && l->mute != NULL) {
                    l->mute(&m, l->arg);
                }
                rec_mute_free(&m);
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
                rec_outbox_free(&o);
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

/* Queue a query record; NULL (out of memory) is -ENOMEM. */
static int query_put(struct store *st, struct rec *r)
{
    return r != NULL ? query_queue((struct store_pg *)st, r) : -ENOMEM;
}

static int pg_history(struct store *st, const struct store_history_query *q, store_history_fn fn,
                      void *arg)
{
    return query_put(st, rec_new_history(q, fn, arg));
}

static int pg_events(struct store *st, const struct store_event_query *q, store_events_fn fn,
                     void *arg)
{
    return query_put(st, rec_new_events(q, fn, arg));
}

static int pg_deploys(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
                      void *arg)
{
    return query_put(st, rec_new_deploys(q, fn, arg));
}

static int pg_check_stats(struct store *st, int64_t now_ms, store_check_stats_fn fn, void *arg)
{
    return query_put(st, rec_new_check_stats(now_ms, fn, arg));
}

static int pg_alerts(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
                     void *arg)
{
    return query_put(st, rec_new_alerts(q, fn, arg));
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

/* Connection parameters from the DSN, with defaults added: a connect
 * timeout, the application name, UTF-8. 0, or -EINVAL with the reason. */
static int parse_dsn(struct store_pg *s, const char *dsn, char *errbuf, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &perr);
    if (opts == NULL) {
        snprintf(errbuf, errlen, "storage.dsn: %s", perr != NULL ? perr : "out of memory");
        char *nl = strchr(errbuf, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        PQfreemem(perr);
        return -EINVAL;
    }
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        n++;
    }
    s->keys = calloc(n + 4, sizeof(char *));
    s->vals = calloc(n + 4, sizeof(char *));
    if (s->keys == NULL || s->vals == NULL) {
        PQconninfoFree(opts);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t k = 0;
    bool timeout = false, app = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "client_encoding") == 0) {
            continue;
        }
        timeout |= strcmp(o->keyword, "connect_timeout") == 0;
        app |= strcmp(o->keyword, "application_name") == 0;
        s->keys[k] = strdup(o->keyword);
        s->vals[k++] = strdup(o->val);
    }
    PQconninfoFree(opts);
    const char *extra[][2] = {{"connect_timeout", CONNECT_TIMEOUT_S},
                              {"application_name", "shipwatchd"},
                              {"client_encoding", "UTF8"}};
    for (size_t i = 0; i < NELEM(extra); i++) {
        if ((i == 0 && timeout) || (i == 1 && app)) {
            continue;
        }
        s->keys[k] = strdup(extra[i][0]);
        s->vals[k++] = strdup(extra[i][1]);
    }
    for (size_t i = 0; i < k; i++) {
        if (s->keys[i] == NULL || s->vals[i] == NULL) {
            snprintf(errbuf, errlen, "out of memory");
            return -ENOMEM;
        }
    }
    /* libpq leaves connect_timeout to the caller of PQconnectPoll: bound
     * each attempt with it ourselves (libpq's rule: below 2 s is 2 s; 0,
     * "forever", is bounded too). */
    s->connect_ms = 30000;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(s->keys[i], "connect_timeout") == 0) {
            long v = strtol(s->vals[i], NULL, 10);
            if (v > 0) {
                s->connect_ms = (v < 2 ? 2 : v > 3600 ? 3600 : v) * 1000;
            }
        }
    }
    return 0;
}

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
    s->sp.fd = -1;
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
    s->sp.path = xstrdup(conf->storage.spool);
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->next_rn = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    /* done_rn stays 0 until the database says how far this node got: a
     * spool left by the previous run holds smaller numbers. */

    /* A spool left by a previous run is replayed first. */
    struct stat stt;
    if (s->sp.path != NULL && stat(s->sp.path, &stt) == 0 && stt.st_size > 0 &&
        spool_open(&s->sp) == 0) {
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
    conn_drive(&s->writer, writer_settled, mono_ms() + 15000);
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
            conn_drive(&s->pool[i], writer_settled, mono_ms() + 10000);
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
