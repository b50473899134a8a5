/* check_tcp.c - TCP connect checks: resolve (async), connect, with a timeout.
 *
 * The handles live in the run's heap state; the run finishes only after
 * every handle's close callback, so no handle is freed while libuv holds it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "duration.h"
#include "fdres.h"

struct tcp_run {
    struct check_run *run;
    uv_getaddrinfo_t resolve;
    uv_connect_t connect;
    uv_tcp_t tcp;
    uv_timer_t timer;
    bool resolving;
    bool tcp_open;
    bool connecting;
    bool done;                  /* outcome settled */
    int closing;                /* handles whose close callback is owed */
    char target[300];           /* host:port, for messages */
    char host[256];
    int port;
    int64_t timeout_ms;
    const char *local_reason;   /* a local shortage failed it (fdres.h) */
};

/* One owed callback arrived; when none is owed any more, the run ends. */
static void release(struct tcp_run *t)
{
    if (--t->closing > 0) {
        return;
    }
    struct check_run *run = t->run;
    free(t);
    run->priv = NULL;
    check_run_finish(run);
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

/* Settle the result once and close everything. */
static void settle(struct tcp_run *t, bool connected, const char *fmt, const char *detail)
{
    if (t->done) {
        return;
    }
    t->done = true;
    struct check_run *run = t->run;
    run->facts.connected = connected ? 1 : 0;
    if (connected) {
        run->facts.response_time_ms = (int64_t)((uv_hrtime() - run->started_ns) / 1000000);
    } else {
        run->result.outcome = STATE_DOWN;
        snprintf(run->result.error, sizeof(run->result.error), fmt, t->target, detail);
    }
    if (!connected && t->local_reason != NULL) {
        /* Our own shortage, not the target's failure. */
        run->result.outcome = STATE_UNKNOWN;
        snprintf(run->result.error, sizeof(run->result.error), "%s", t->local_reason);
    }
    /* A resolve in flight still calls back (ECANCELED at best): wait for it. */
    t->closing = 1 + (t->tcp_open ? 1 : 0) + (t->resolving ? 1 : 0);
    if (t->resolving) {
        uv_cancel((uv_req_t *)&t->resolve);
    }
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_closed);
    if (t->tcp_open) {
        uv_close((uv_handle_t *)&t->tcp, on_closed);
    }
}

/* [IP]: the address the connection reached, as text. */
static void note_peer_ip(struct tcp_run *t)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    struct check_run *run = t->run;
    if (uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &len) == 0 &&
        uv_ip_name((struct sockaddr *)&ss, run->ip, sizeof(run->ip)) == 0) {
        run->facts.ip = run->ip;
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tcp_run *t = req->data;
    t->connecting = false;
    if (t->done) {
        return;
    }
    if (status == 0) {
        note_peer_ip(t);
        settle(t, true, NULL, NULL);
    } else {
        t->local_reason = fdres_local_reason(status);
        settle(t, false, "connect %s: %s", uv_strerror(status));
    }
}

static void on_timeout(uv_timer_t *h)
{
    struct tcp_run *t = h->data;
    char d[32];
    char detail[64];
    snprintf(detail, sizeof(detail), "timed out after %s",
             duration_format(t->timeout_ms, d, sizeof(d)));
    settle(t, false, "connect %s: %s", detail);
}

/* Connect to the first resolved address. */
static void connect_to(struct tcp_run *t, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(t->run->env->loop, &t->tcp);
    if (rc < 0) {
        t->local_reason = fdres_local_reason(rc);
        settle(t, false, "connect %s: %s", uv_strerror(rc));
        return;
    }
    t->tcp.data = t;
    t->tcp_open = true;
    t->connect.data = t;
    rc = uv_tcp_connect(&t->connect, &t->tcp, sa, on_connect);
    if (rc < 0) {
        t->local_reason = fdres_local_reason(rc);
        settle(t, false, "connect %s: %s", uv_strerror(rc));
        return;
    }
    t->connecting = true;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tcp_run *t = req->data;
    t->resolving = false;
    if (t->done) {
        uv_freeaddrinfo(res);
        release(t);
        return;
    }
    if (status < 0 || res == NULL) {
        settle(t, false, "resolve %s: %s", uv_strerror(status < 0 ? status : UV_EAI_NONAME));
    } else {
        connect_to(t, res->ai_addr);
    }
    uv_freeaddrinfo(res);
}

/* Begin a TCP run. */
static int tcp_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct tcp_run *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->run = run;
    t->port = c->port;
    t->timeout_ms = c->timeout_ms;
    snprintf(t->host, sizeof(t->host), "%s", c->host);
    snprintf(t->target, sizeof(t->target), strchr(c->host, ':') ? "[%s]:%d" : "%s:%d", c->host,
             c->port);
    run->priv = t;
    uv_loop_t *loop = run->env->loop;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timeout, (uint64_t)t->timeout_ms, 0);

    struct sockaddr_storage ss;
    if (uv_ip4_addr(t->host, t->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(t->host, t->port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_to(t, (struct sockaddr *)&ss);
        return 0;
    }
    char port[8];
    snprintf(port, sizeof(port), "%d", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    t->resolve.data = t;
    int rc = uv_getaddrinfo(loop, &t->resolve, on_resolved, t->host, port, &hints);
    if (rc < 0) {
        settle(t, false, "resolve %s: %s", uv_strerror(rc));
    } else {
        t->resolving = true;
    }
    return 0;
}

/* Abort: close everything now; the run finishes from the close callbacks. */
static void tcp_cancel(struct check_run *run)
{
    struct tcp_run *t = run->priv;
    if (t != NULL) {
        settle(t, false, "connect %s: %s", "cancelled");
    }
}

/* host:port, for display. */
static void tcp_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "%s:%d", cc->host != NULL ? cc->host : "", cc->port);
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only tcp checks take. */
static const struct conf_field tcp_rows[] = {
    {.key = "host",
     .type = CONF_STR,
     .off = KO(host),
     .valid = conf_valid_secret,
     .required = true},
    {.key = "port", .type = CONF_INT, .off = KO(port), .min = 1, .max = 65535, .required = true},
};

static const struct conf_rows tcp_conf_rows = CONF_ROWS(tcp_rows);

const struct check_type check_tcp_type = {
    .name = "tcp",
    .kind = CHECK_TCP,
    .start = tcp_start,
    .cancel = tcp_cancel,
    .describe = tcp_describe,
    .rows = &tcp_conf_rows,
};
