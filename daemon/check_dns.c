/* check_dns.c - DNS checks: one query to one server, its rcode and answers.
 *
 * c-ares does the protocol (ids, retransmission over UDP, the retry over
 * TCP of a truncated reply) and the loop does the waiting: c-ares says
 * through its socket-state callback which sockets it wants watched, each
 * gets a uv_poll, and one uv_timer wakes it for its retransmissions
 * (ares_timeout) and ends the run at the check's timeout. Nothing here
 * blocks; creating the channel of a check that names no server reads
 * /etc/resolv.conf, a small local file, as host checks read /proc on the
 * loop.
 *
 * Servers are a channel's, and each check names its own: a check that
 * names its server keeps its channel across runs (check->memory, struct
 * dns_chan), since making one costs more than the query; a check that
 * names none makes one each run, which reads /etc/resolv.conf again and so
 * follows its changes. The query goes out as written (no search domains,
 * no /etc/hosts), and with ARES_FLAG_NOCHECKRESP, so a SERVFAIL or REFUSED
 * reply reaches [DNS_RCODE] instead of being retried away as an error.
 *
 * Teardown: the answer (or the deadline) settles the run; the timer is
 * closed first, and from its close callback, outside any c-ares call, a
 * query still out is cancelled. c-ares closes a channel's sockets once no
 * query is left, through the socket-state callback, whose polls are
 * closed there; a channel that still has a socket then, or that is the
 * run's own, is destroyed, which closes the rest. A kept channel is idle
 * between runs, with no socket, and is destroyed with its check (forget).
 * The run finishes once the last handle's close callback has come. */
#include <sys/select.h> /* fd_set, which ares.h uses unincluded */
#include <sys/time.h>
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "dnsmsg.h"
#include "duration.h"
#include "fdres.h"

#define DNS_BODY_MAX 4096       /* [BODY]: the answers as text, at most */
#define DNS_TRIES 3             /* UDP sends within the timeout */

/* One socket c-ares wants watched. */
struct dns_poll {
    uv_poll_t poll;
    ares_socket_t fd;
    struct dns_run *d;
    struct dns_poll *next;
};

/* A channel. A check's server and timeout are part of its fingerprint:
 * a reload that changes them makes a new check, so a kept channel always
 * fits its check. */
struct dns_chan {
    ares_channel channel;       /* NULL: none (yet, or destroyed) */
    struct dns_run *cur;        /* the run using it; NULL between runs */
    bool kept;                  /* the check's memory; else the run's own */
    char server[80];            /* its server, for messages */
};

struct dns_run {
    struct check_run *run;
    struct dns_chan *chan;      /* NULL once let go */
    uv_timer_t timer;           /* c-ares's next timeout, or the deadline */
    struct dns_poll *polls;     /* open, not closing */
    int handles;                /* handles whose close callback is owed */
    bool done;                  /* outcome settled */
    uint64_t deadline;          /* uv_now() at which the run times out */
    int qtype;
    int64_t timeout_ms;
    char what[320];             /* "www.example.com A at 127.0.0.1:53", for messages */
};

static bool ares_ready;         /* ares_library_init done, once a process */

static void arm(struct dns_run *d);

/* One owed close callback came; the run ends with the last one. */
static void release(struct dns_run *d)
{
    if (--d->handles > 0) {
        return;
    }
    struct check_run *run = d->run;
    free(d);
    run->priv = NULL;
    check_run_finish(run);
}

static void on_poll_closed(uv_handle_t *h)
{
    struct dns_poll *p = h->data;
    struct dns_run *d = p->d;
    free(p);
    release(d);
}

/* The timer is closed: destroy the channel (its sockets' polls close from
 * the socket-state callback), then the timer's own count goes. */
static void on_timer_closed(uv_handle_t *h)
{
    struct dns_run *d = h->data;
    struct dns_chan *ch = d->chan;
    if (ch != NULL) {
        ares_cancel(ch->channel);       /* its callback sees the run done */
        if (d->polls != NULL || !ch->kept) {
            ares_destroy(ch->channel);
            ch->channel = NULL;
        }
        ch->cur = NULL;
        if (!ch->kept) {
            free(ch);
        }
        d->chan = NULL;
    }
    while (d->polls != NULL) {  /* any c-ares did not report closed */
        struct dns_poll *p = d->polls;
        d->polls = p->next;
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    }
    release(d);
}

/* Settle the run once: down with why (printf-style) when fmt is not NULL,
 * else as the facts say; then tear down. */
__attribute__((format(printf, 3, 4))) static void settle(struct dns_run *d,
                                                         enum check_state outcome,
                                                         const char *fmt, ...)
{
    if (d->done) {
        return;
    }
    d->done = true;
    struct check_run *run = d->run;
    if (fmt != NULL) {
        run->result.outcome = outcome;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->result.error, sizeof(run->result.error), fmt, ap);
        va_end(ap);
    }
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

/* The reply came (or c-ares gave up): read it into the facts. */
static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct dns_run *d = arg;
    if (d->done) {
        return;                 /* the deadline, a cancel, or the channel's end */
    }
    struct check_run *run = d->run;
    if (status == ARES_ETIMEOUT) {
        char t[32];
        settle(d, STATE_DOWN, "query %s: timed out after %s", d->what,
               duration_format(d->timeout_ms, t, sizeof(t)));
        return;
    }
    if (status == ARES_ENOMEM) {
        settle(d, STATE_UNKNOWN, "%s", fdres_local_reason(-ENOMEM));
        return;
    }
    if (status != ARES_SUCCESS || abuf == NULL) {
        settle(d, STATE_DOWN, "query %s: %s", d->what,
               status == ARES_ECONNREFUSED ? "connection refused" : ares_strerror(status));
        return;
    }
    char text[DNS_BODY_MAX];
    struct dnsmsg_reply reply;
    if (dnsmsg_read(abuf, (size_t)alen, d->qtype, text, sizeof(text), &reply) < 0) {
        settle(d, STATE_DOWN, "query %s: malformed reply", d->what);
        return;
    }
    run->facts.connected = 1;
    run->facts.response_time_ms = (int64_t)((uv_hrtime() - run->started_ns) / 1000000);
    run->facts.dns_rcode = dnsmsg_rcode_name(reply.rcode);
    run->body = strdup(text);
    run->body_len = run->body != NULL ? reply.len : 0;
    snprintf(run->result.message, sizeof(run->result.message), "%s%s%s", run->facts.dns_rcode,
             reply.nanswers > 0 ? ": " : "", text);
    settle(d, STATE_UP, NULL);
}

/* A watched socket is ready (or failed: c-ares reads the error). */
static void on_poll(uv_poll_t *h, int status, int events)
{
    struct dns_poll *p = h->data;
    struct dns_run *d = p->d;
    if (d->done) {
        return;
    }
    ares_socket_t r = status < 0 || (events & UV_READABLE) ? p->fd : ARES_SOCKET_BAD;
    ares_socket_t w = status < 0 || (events & UV_WRITABLE) ? p->fd : ARES_SOCKET_BAD;
    ares_process_fd(d->chan->channel, r, w);
    if (!d->done) {
        arm(d);
    }
}

/* c-ares's socket-state callback: watch fd for what it asks, or stop. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_run *d = ((struct dns_chan *)data)->cur;
    if (d == NULL) {
        return;                 /* an idle channel has no socket to report */
    }
    struct dns_poll **pp = &d->polls;
    while (*pp != NULL && (*pp)->fd != fd) {
        pp = &(*pp)->next;
    }
    struct dns_poll *p = *pp;
    if (!readable && !writable) {
        /* c-ares closes fd right after this: stop watching it now. */
        if (p != NULL) {
            *pp = p->next;
            uv_close((uv_handle_t *)&p->poll, on_poll_closed);
        }
        return;
    }
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        int rc = p == NULL ? UV_ENOMEM : uv_poll_init_socket(d->run->env->loop, &p->poll, fd);
        if (rc < 0) {
            free(p);
            const char *local = fdres_local_reason(rc);
            if (local != NULL) {
                settle(d, STATE_UNKNOWN, "%s", local);
            } else {
                settle(d, STATE_DOWN, "query %s: %s", d->what, uv_strerror(rc));
            }
            return;
        }
        p->fd = fd;
        p->d = d;
        p->poll.data = p;
        p->next = d->polls;
        d->polls = p;
        d->handles++;
    }
    int rc = uv_poll_start(&p->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                           on_poll);
    if (rc < 0) {
        settle(d, STATE_DOWN, "query %s: %s", d->what, uv_strerror(rc));
    }
}

/* The timer: the deadline, or c-ares's retransmission is due. */
static void on_timer(uv_timer_t *h)
{
    struct dns_run *d = h->data;
    if (uv_now(d->run->env->loop) >= d->deadline) {
        char t[32];
        settle(d, STATE_DOWN, "query %s: timed out after %s", d->what,
               duration_format(d->timeout_ms, t, sizeof(t)));
        return;
    }
    ares_process_fd(d->chan->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    if (!d->done) {
        arm(d);
    }
}

/* Wake at c-ares's next timeout, or at the deadline if sooner. */
static void arm(struct dns_run *d)
{
    uint64_t now = uv_now(d->run->env->loop);
    uint64_t ms = d->deadline > now ? d->deadline - now : 0;
    struct timeval tv;
    if (ares_timeout(d->chan->channel, NULL, &tv) != NULL) {
        uint64_t next = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
        ms = next < ms ? next : ms;
    }
    uv_timer_start(&d->timer, on_timer, ms, 0);
}

/* "127.0.0.1:53" or "[::1]:53" of a server node. */
static void server_text(const struct ares_addr_port_node *s, char *out, size_t len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    inet_ntop(s->family, &s->addr, a, sizeof(a));
    int port = s->udp_port != 0 ? s->udp_port : 53;
    snprintf(out, len, s->family == AF_INET6 ? "[%s]:%d" : "%s:%d", a, port);
}

/* Point the channel at the check's server, or at the first of the system
 * resolver's; its text into out. An ARES_ status. */
static int use_server(ares_channel ch, const char *server, char *out, size_t len)
{
    int rc;
    if (server != NULL && (rc = ares_set_servers_ports_csv(ch, server)) != ARES_SUCCESS) {
        return rc;
    }
    struct ares_addr_port_node *list = NULL;
    if ((rc = ares_get_servers_ports(ch, &list)) != ARES_SUCCESS) {
        return rc;
    }
    if (list == NULL) {
        return ARES_ENOTFOUND;  /* no server listed */
    }
    server_text(list, out, len);
    if (server == NULL && list->next != NULL) {
        ares_free_data(list->next);     /* the first only, as the issue asks */
        list->next = NULL;
        rc = ares_set_servers_ports(ch, list);
    }
    ares_free_data(list);
    return rc;
}

/* Make ch's channel for check c: 0, or -ENOMEM, -EIO (no channel), -ENXIO
 * (no server to ask). */
static int chan_open(struct dns_chan *ch, const struct conf_check *c)
{
    /* What only c-ares's own lookups use (search domains, the order of
     * hosts file and DNS, the sorting of addresses) is set empty, so that
     * making the channel reads no file for it: /etc/nsswitch.conf,
     * /etc/host.conf and /etc/svc.conf were opened at every run. A check
     * that names its server needs nothing of /etc/resolv.conf either: no
     * servers here, its own set by use_server. */
    char lookups[] = "b";
    struct ares_options o = {
        .flags = ARES_FLAG_NOCHECKRESP,
        .timeout = (int)(c->timeout_ms / (DNS_TRIES + 1) > 0 ? c->timeout_ms / (DNS_TRIES + 1) : 1),
        .tries = DNS_TRIES,
        .ndots = 1,
        .sock_state_cb = on_sock_state,
        .sock_state_cb_data = ch,
        .lookups = lookups,
    };
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
               ARES_OPT_SOCK_STATE_CB | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SORTLIST;
    if (c->dns_server != NULL) {
        mask |= ARES_OPT_SERVERS;
    }
    int rc = ares_init_options(&ch->channel, &o, mask);
    if (rc != ARES_SUCCESS) {
        ch->channel = NULL;
        return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
    }
    rc = use_server(ch->channel, c->dns_server, ch->server, sizeof(ch->server));
    if (rc != ARES_SUCCESS) {
        ares_destroy(ch->channel);
        ch->channel = NULL;
        return rc == ARES_ENOMEM ? -ENOMEM : -ENXIO;
    }
    return 0;
}

/* The check is freed: its kept channel, idle, goes. */
static void dns_forget(struct check *c)
{
    struct dns_chan *ch = c->memory;
    if (ch != NULL) {
        if (ch->channel != NULL) {
            ares_destroy(ch->channel);
        }
        free(ch);
        c->memory = NULL;
    }
}

/* The channel for a run of check: the one it keeps (made again after a
 * run that had to destroy it), or one of the run's own. NULL and *err (a
 * negative errno, as chan_open's) when none could be made. */
static struct dns_chan *chan_get(struct check *check, int *err)
{
    const struct conf_check *c = check->conf;
    struct dns_chan *ch = check->memory;
    if (ch == NULL) {
        ch = calloc(1, sizeof(*ch));
        if (ch == NULL) {
            *err = -ENOMEM;
            return NULL;
        }
        ch->kept = c->dns_server != NULL;
        if (ch->kept) {
            check->memory = ch;
        }
    }
    if (ch->channel == NULL && (*err = chan_open(ch, c)) < 0) {
        if (!ch->kept) {
            free(ch);
        }
        return NULL;
    }
    return ch;
}

/* Begin a DNS run: its channel, the query, the timer. */
static int dns_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    if (!ares_ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
            return -ENOMEM;
        }
        ares_ready = true;
    }
    struct dns_run *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    d->run = run;
    d->qtype = dnsmsg_record_type(c->dns_record);
    d->timeout_ms = c->timeout_ms;
    int rc = 0;
    struct dns_chan *ch = chan_get(run->check, &rc);
    if (ch == NULL) {
        free(d);
        return rc;
    }
    ch->cur = d;
    d->chan = ch;
    snprintf(d->what, sizeof(d->what), "%s %s at %s", c->host,
             dnsmsg_record_names[c->dns_record], ch->server);
    run->priv = d;
    uv_loop_t *loop = run->env->loop;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->handles = 1;
    d->deadline = uv_now(loop) + (uint64_t)d->timeout_ms;

    unsigned char *q = NULL;
    int qlen = 0;
    rc = ares_create_query(c->host, 1 /* IN */, d->qtype, 0, 1, &q, &qlen, 0);
    if (rc != ARES_SUCCESS) {
        /* Ends from the timer's close callback, never inside start. */
        settle(d, STATE_UNKNOWN, "query %s: %s", d->what, ares_strerror(rc));
        return 0;
    }
    ares_send(ch->channel, q, qlen, on_answer, d);
    ares_free_string(q);
    if (!d->done) {
        arm(d);
    }
    return 0;
}

/* Abort: settle now; the run finishes from the close callbacks. */
static void dns_cancel(struct check_run *run)
{
    struct dns_run *d = run->priv;
    if (d != NULL) {
        settle(d, STATE_DOWN, "query %s: cancelled", d->what);
    }
}

/* "NAME RECORD @SERVER", for display. */
static void dns_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "%s %s%s%s", cc->host != NULL ? cc->host : "",
             dnsmsg_record_names[cc->dns_record], cc->dns_server != NULL ? " @" : "",
             cc->dns_server != NULL ? cc->dns_server : "");
}

/* A server: an IPv4 or IPv6 address, with a port as 1.2.3.4:53 or
 * [::1]:53; no name, as it would need a resolver to find the resolver. */
static const char *valid_server(const char *s)
{
    static const char *const bad =
        "must be an IP address, with its port as 192.0.2.1:53 or [2001:db8::1]:53";
    char a[INET6_ADDRSTRLEN + 8];
    unsigned char bin[16];
    const char *port = NULL;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || (size_t)(end - s - 1) >= sizeof(a) || end[1] != ':') {
            return bad;
        }
        snprintf(a, sizeof(a), "%.*s", (int)(end - s - 1), s + 1);
        port = end + 2;
        if (inet_pton(AF_INET6, a, bin) != 1) {
            return bad;
        }
    } else if (inet_pton(AF_INET6, s, bin) == 1) {
        return NULL;
    } else {
        const char *colon = strchr(s, ':');
        size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);
        if (n >= sizeof(a)) {
            return bad;
        }
        snprintf(a, sizeof(a), "%.*s", (int)n, s);
        port = colon != NULL ? colon + 1 : NULL;
        if (inet_pton(AF_INET, a, bin) != 1) {
            return bad;
        }
    }
    if (port != NULL) {
        char *end;
        long p = strtol(port, &end, 10);
        if (port[0] < '0' || port[0] > '9' || *end != '\0' || p < 1 || p > 65535) {
            return "port must be 1-65535";
        }
    }
    return NULL;
}

/* A name to query: no spaces or controls, at most 253 characters. */
static const char *valid_name(const char *s)
{
    if (strlen(s) > 254 || (strlen(s) == 254 && s[253] != '.')) {
        return "must be a DNS name of at most 253 characters";
    }
    return conf_valid_secret(s) == NULL ? NULL : "must be a DNS name, without spaces";
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only dns checks take. */
static const struct conf_field dns_rows[] = {
    {.key = "host", .type = CONF_STR, .off = KO(host), .valid = valid_name, .required = true},
    {.key = "server", .type = CONF_STR, .off = KO(dns_server), .valid = valid_server},
    {.key = "record", .type = CONF_INDEX, .off = KO(dns_record), .choices = dnsmsg_record_names},
};

static const struct conf_rows dns_conf_rows = CONF_ROWS(dns_rows);

const struct check_type check_dns_type = {
    .name = "dns",
    .kind = CHECK_DNS,
    .start = dns_start,
    .cancel = dns_cancel,
    .forget = dns_forget,
    .describe = dns_describe,
    .rows = &dns_conf_rows,
    .default_condition = "[DNS_RCODE] == NOERROR",
};
