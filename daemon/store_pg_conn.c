/* store_pg_conn.c - the PostgreSQL store's connections on the loop.
 *
 * Each connection (the writer and every pool slot) is a libpq connection
 * in non-blocking mode with a uv_poll on its socket, re-created whenever
 * PQconnectPoll may have changed it. A failed connection is retried after
 * a backoff (100 ms doubling to 30 s, +-20% jitter); a connect or a query
 * not answered within its deadline counts as failed. After the writer
 * connects it runs its set-up (migrations, its progress, id blocks) before
 * it writes. At open and close, when the loop does not run, the same state
 * machines are driven with poll(2). */
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
#include "sbuf.h"
#include "schema.h"
#include "store.h"
#include "store_pg_int.h"
#include "store_rec.h"
#include "store_spool.h"
#include "utf8.h"
#include "util.h"

/* --- small helpers --- */

char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Append s as an SQL literal (standard_conforming_strings on: only the
 * quote is special), NULL as NULL. Invalid UTF-8 becomes U+FFFD, so one
 * hostile error text never fails a whole batch. */
void sql_lit(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        sbuf_append_str(b, "NULL");
        return;
    }
    size_t n = strlen(s);
    sbuf_reserve(b, n + n / 8 + 8);
    sbuf_append(b, "'", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;     /* bytes copied as they are, pending */
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(u + i, n - i);
        if (l == 0 || u[i] == '\'') {
            sbuf_append(b, s + i - run, run);
            run = 0;
            sbuf_append_str(b, l == 0 ? "\xef\xbf\xbd" : "''");
            i += l == 0 ? 1 : 1;
            continue;
        }
        run += l;
        i += l;
    }
    sbuf_append(b, s + n - run, run);
    sbuf_append(b, "'", 1);
}

/* Append s as a field of COPY's text format: backslash, tab, newline and
 * carriage return escaped, invalid UTF-8 as U+FFFD; NULL or "" as \N. */
void sql_copy(struct sbuf *b, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        sbuf_append_str(b, "\\N");
        return;
    }
    size_t n = strlen(s);
    sbuf_reserve(b, n + n / 8 + 8);
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
            sbuf_append(b, s + i - run, run);
            run = 0;
            sbuf_append_str(b, esc);
            i++;
            continue;
        }
        run += l;
        i += l;
    }
    sbuf_append(b, s + n - run, run);
}

/* Literal for an optional text column: NULL or "" is NULL. */
void sql_opt(struct sbuf *b, const char *s)
{
    sql_lit(b, s != NULL && s[0] != '\0' ? s : NULL);
}

/* Optional times and ids: 0 is NULL. */
void sql_i64_or_null(struct sbuf *b, int64_t v)
{
    if (v != 0) {
        sbuf_append_i64(b, v);
    } else {
        sbuf_append_str(b, "NULL");
    }
}


static const char *conn_name(const struct pgconn *c)
{
    return c->index < 0 ? "writer" : "pool";
}

void set_degraded(struct store_pg *s, const char *why)
{
    if (!s->degraded) {
        s->degraded = true;
        s->since_ms = clock_wall_ms();
    }
    snprintf(s->reason, sizeof(s->reason), "%s", why);
    /* One line: libpq's messages end with a newline. */
    char *nl = strchr(s->reason, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
}

/* --- connections --- */

static void conn_connect_step(struct pgconn *c);
static void writer_connected(struct pgconn *c);

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Close h unless the daemon closed it already (daemon_finish closes every
 * handle on the loop and runs it before store_close): then run cb now. */
void handle_close(uv_handle_t *h, uv_close_cb cb)
{
    if (!uv_is_closing(h)) {
        uv_close(h, cb);
    } else if (cb != NULL) {
        cb(h);
    }
}

void poll_close(struct pgconn *c)
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
void conn_start(struct pgconn *c)
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
void conn_fail(struct pgconn *c, const char *why)
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
int conn_send_for(struct pgconn *c, const char *sql, int nparams,
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

int conn_send(struct pgconn *c, const char *sql, int nparams, const char *const *params,
              pg_done_fn done)
{
    return conn_send_for(c, sql, nparams, params, done, c->s->query_ms);
}

/* Send a simple-query string with a COPY ... FROM STDIN in it; copy (taken
 * over, freed by the connection) is its data, sent when the server asks. */
int conn_send_copy(struct pgconn *c, const char *sql, char *copy, size_t len,
                   pg_done_fn done)
{
    free(c->copy);
    c->copy = copy;
    c->copy_len = len;
    return conn_send(c, sql, 0, NULL, done);
}

void copy_drop(struct pgconn *c)
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
void conn_drive(struct pgconn *c, bool (*pred)(struct pgconn *c), int64_t deadline)
{
    while (c->pg != NULL && !pred(c)) {
        int64_t left = deadline - clock_mono_ms();
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
    s->last_partition_ms = clock_wall_ms();
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
    sbuf_append_str(&b, "SELECT COALESCE((SELECT last_rn FROM writer_progress WHERE node = ");
    sql_lit(&b, s->node);
    sbuf_append_str(&b, "), 0);\nSELECT shipwatch_ensure_partitions(");
    int64_t now = clock_wall_ms();
    sbuf_append_i64(&b, now - 86400000);
    sbuf_append_str(&b, ", ");
    sbuf_append_i64(&b, PARTITION_DAYS_AHEAD + 1);
    sbuf_append_str(&b, ");\n");
    /* Both blocks anew after a reconnect would waste ids: only missing ones. */
    ids_sql(s, &b);
    if (b.failed) {
        setup_fail(c, 0, "out of memory");
    } else {
        conn_send_for(c, b.data, 0, NULL, on_setup3, CHORE_TIMEOUT_MS);
    }
    sbuf_finish(&b);
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
        sbuf_append_str(&b, m->sql);
        sbuf_append_str(&b, ";\nINSERT INTO schema_version VALUES (");
        sbuf_append_i64(&b, m->version);
        sbuf_append_str(&b, ", ");
        sql_lit(&b, m->name);
        sbuf_append_str(&b, ", ");
        sbuf_append_i64(&b, clock_wall_ms());
        sbuf_append_str(&b, ");\n");
        log_info(LOG_KV("store", "postgres"), "applying migration %04d_%s", m->version, m->name);
    }
    sbuf_append_str(&b, "COMMIT");
    if (b.failed) {
        setup_fail(c, 0, "out of memory");
    } else {
        conn_send_for(c, b.data, 0, NULL, on_setup2, CHORE_TIMEOUT_MS);
    }
    sbuf_finish(&b);
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

/* --- synchronous use at open and close --- */

bool conn_no_query(struct pgconn *c)
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

PGresult *sync_query(struct store_pg *s, const char *sql, int np, const char *const *p)
{
    struct pgconn *c = &s->writer;
    int64_t deadline = clock_mono_ms() + 30000;
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

bool stream_empty(struct pgconn *c)
{
    struct store_pg *s = c->s;
    return c->state != C_READY ? c->state == C_DOWN
                               : s->head == NULL && s->inflight == NULL && !s->sp.active &&
                                     s->held_head == NULL;
}

/* Write what is queued, driving the writer by hand until deadline. */
void flush_sync(struct store_pg *s, int64_t deadline)
{
    struct pgconn *c = &s->writer;
    while (clock_mono_ms() < deadline && (c->state == C_READY || c->state == C_BUSY)) {
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

/* Connection parameters from the DSN, with defaults added: a connect
 * timeout, the application name, UTF-8. 0, or -EINVAL with the reason. */
int parse_dsn(struct store_pg *s, const char *dsn, char *errbuf, size_t errlen)
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
    s->keys = calloc(n + 5, sizeof(char *));
    s->vals = calloc(n + 5, sizeof(char *));
    if (s->keys == NULL || s->vals == NULL) {
        PQconninfoFree(opts);
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    size_t k = 0;
    bool timeout = false, app = false, options = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "client_encoding") == 0) {
            continue;
        }
        timeout |= strcmp(o->keyword, "connect_timeout") == 0;
        app |= strcmp(o->keyword, "application_name") == 0;
        s->keys[k] = strdup(o->keyword);
        if (strcmp(o->keyword, "options") == 0) {
            options = true;
            size_t len = strlen(JIT_OFF " ") + strlen(o->val) + 1;
            char *v = malloc(len);
            if (v != NULL) {
                snprintf(v, len, JIT_OFF " %s", o->val); /* theirs come last: they win */
            }
            s->vals[k++] = v;
        } else {
            s->vals[k++] = strdup(o->val);
        }
    }
    PQconninfoFree(opts);
    const char *extra[][2] = {{"connect_timeout", CONNECT_TIMEOUT_S},
                              {"application_name", "shipwatchd"},
                              {"options", JIT_OFF},
                              {"client_encoding", "UTF8"}};
    for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
        if ((i == 0 && timeout) || (i == 1 && app) || (i == 2 && options)) {
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

