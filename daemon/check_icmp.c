/* check_icmp.c - ICMP echo checks: count echoes to a host, the replies'
 * average round trip and the share lost.
 *
 * The echoes go out through the daemon's pinger (pinger.h), the ICMP
 * sockets every icmp check shares on the loop, spaced ICMP_SPACING_MS
 * apart, or closer when the timeout would leave the last one less than
 * half of it to come back. A host name is resolved with uv_getaddrinfo,
 * on the thread pool, as tcp checks do. The run ends once every echo is
 * answered (or could not be sent), or at the timeout: an echo not
 * answered by then is lost.
 *
 * A socket the host does not allow (neither the sysctl
 * net.ipv4.ping_group_range nor CAP_NET_RAW) is this host's problem, not
 * the target's: the run is unknown, with the pinger's reason.
 *
 * The handles (two timers, a resolve) live in the run's heap state; the
 * run finishes only after every one has called back. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "duration.h"
#include "fdres.h"
#include "icmpmsg.h"
#include "pinger.h"

#define ICMP_COUNT_MAX 100              /* echoes a run at most */
#define ICMP_SPACING_MS 200             /* between two echoes of a run, at most */

enum { PACKET_LOSS };

static const struct cond_var icmp_vars[] = {
    [PACKET_LOSS] = {"[PACKET_LOSS]", COND_VAR_NUMBER, "%"},
};

struct icmp_run {
    struct check_run *run;
    struct pinger *pinger;
    uv_getaddrinfo_t resolve;
    uv_timer_t deadline;                /* the check's timeout */
    uv_timer_t spacing;                 /* the next echo's send */
    bool resolving;
    bool done;                          /* outcome settled */
    int closing;                        /* callbacks owed before the run ends */
    struct sockaddr_storage addr;       /* the target, once resolved */
    int count;                          /* echoes to send */
    int sent;                           /* echoes tried (sent or failed) */
    int failed;                         /* sends that failed */
    int replies;
    int send_err;                       /* the last send's negative errno; 0 none */
    uint64_t rtt_sum_ns, rtt_min_ns, rtt_max_ns;
    int64_t timeout_ms;
    uint64_t spacing_ms;
    char host[256];
    uint8_t payload[ICMPMSG_PAYLOAD_MAX];
    size_t payload_len;
    struct pinger_echo echoes[ICMP_COUNT_MAX];
};

/* One owed callback arrived; with the last the run ends. */
static void release(struct icmp_run *t)
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

/* "1.234" milliseconds of ns, as ping prints a round trip. */
static double ms_of(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The facts, message and perfdata of the replies counted. */
static void note_replies(struct icmp_run *t)
{
    struct check_run *run = t->run;
    struct result *r = &run->result;
    double loss = 100.0 * (t->count - t->replies) / t->count;
    loss = round(loss * 10) / 10;       /* 66.7: one decimal is what reads */
    run->facts.vars[PACKET_LOSS] = loss;
    run->facts.connected = t->replies > 0;
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    if (t->replies > 0) {
        uint64_t avg_ns = t->rtt_sum_ns / (uint64_t)t->replies;
        run->facts.response_time_ms = (int64_t)((avg_ns + 500000) / 1000000);
        snprintf(r->message, sizeof(r->message),
                 "%d/%d replies, rtt min/avg/max %.3f/%.3f/%.3f ms, %g%% loss", t->replies,
                 t->count, ms_of(t->rtt_min_ns), ms_of(avg_ns), ms_of(t->rtt_max_ns), loss);
        struct perfdata_item *rta = &pd.items[pd.n++];
        snprintf(rta->label, sizeof(rta->label), "response_time");
        snprintf(rta->uom, sizeof(rta->uom), "ms");
        rta->value = round(ms_of(avg_ns) * 1000) / 1000;
        rta->min = 0;
        rta->flags = PERFDATA_HAS_MIN;
    }
    struct perfdata_item *pl = &pd.items[pd.n++];
    snprintf(pl->label, sizeof(pl->label), "packet_loss");
    snprintf(pl->uom, sizeof(pl->uom), "%%");
    pl->value = loss;
    pl->min = 0;
    pl->max = 100;
    pl->flags = PERFDATA_HAS_MIN | PERFDATA_HAS_MAX;
    perfdata_format(&pd, r->perfdata, sizeof(r->perfdata));
}

/* Settle the run once: as the replies say when fmt is NULL, else with
 * outcome and why (printf-style); then stop waiting and close. */
__attribute__((format(printf, 3, 4))) static void settle(struct icmp_run *t,
                                                         enum check_state outcome,
                                                         const char *fmt, ...)
{
    if (t->done) {
        return;
    }
    t->done = true;
    struct check_run *run = t->run;
    for (int i = 0; i < t->sent; i++) {
        pinger_cancel(t->pinger, &t->echoes[i]);
    }
    if (fmt != NULL) {
        run->result.outcome = outcome;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(run->result.error, sizeof(run->result.error), fmt, ap);
        va_end(ap);
    } else {
        note_replies(t);
        if (t->replies == 0) {
            run->result.outcome = STATE_DOWN;
            char d[32];
            if (t->send_err != 0) {
                snprintf(run->result.error, sizeof(run->result.error), "icmp %s: %s", t->host,
                         strerror(-t->send_err));
            } else {
                snprintf(run->result.error, sizeof(run->result.error),
                         "icmp %s: no reply to %d echo%s in %s", t->host, t->count,
                         t->count == 1 ? "" : "es", duration_format(t->timeout_ms, d, sizeof(d)));
            }
        }
    }
    /* A resolve in flight still calls back (ECANCELED at best): wait for it. */
    t->closing = 2 + (t->resolving ? 1 : 0);
    if (t->resolving) {
        uv_cancel((uv_req_t *)&t->resolve);
    }
    uv_close((uv_handle_t *)&t->deadline, on_closed);
    uv_close((uv_handle_t *)&t->spacing, on_closed);
}

/* Every echo answered or failed: nothing more can come. */
static void settle_if_complete(struct icmp_run *t)
{
    if (t->sent == t->count && t->replies + t->failed == t->count) {
        settle(t, STATE_UP, NULL);
    }
}

/* An echo's reply. */
static void on_reply(struct pinger_echo *e, uint64_t rtt_ns)
{
    struct icmp_run *t = e->arg;
    if (t->replies == 0 || rtt_ns < t->rtt_min_ns) {
        t->rtt_min_ns = rtt_ns;
    }
    if (rtt_ns > t->rtt_max_ns) {
        t->rtt_max_ns = rtt_ns;
    }
    t->rtt_sum_ns += rtt_ns;
    t->replies++;
    settle_if_complete(t);
}

/* Send the next echo; settle on a failure of this host's own. */
static void send_next(struct icmp_run *t)
{
    struct pinger_echo *e = &t->echoes[t->sent++];
    e->on_reply = on_reply;
    e->arg = t;
    int rc = pinger_send(t->pinger, e, (struct sockaddr *)&t->addr, t->payload, t->payload_len);
    if (t->sent == t->count) {
        uv_timer_stop(&t->spacing);
    }
    if (rc == 0) {
        return;
    }
    const char *local = fdres_local_reason(rc);
    if (rc == -EPERM || rc == -EAFNOSUPPORT || rc == -ESHUTDOWN || local != NULL) {
        const char *why = pinger_error(t->pinger, t->addr.ss_family);
        settle(t, STATE_UNKNOWN, "%s",
               local != NULL ? local : why[0] != '\0' ? why : strerror(-rc));
        return;
    }
    t->failed++;                        /* unreachable, refused: lost */
    t->send_err = rc;
    settle_if_complete(t);
}

static void on_spacing(uv_timer_t *h)
{
    struct icmp_run *t = h->data;
    if (!t->done && t->sent < t->count) {
        send_next(t);
    }
}

static void on_deadline(uv_timer_t *h)
{
    struct icmp_run *t = h->data;
    char d[32];
    if (t->resolving) {
        settle(t, STATE_DOWN, "resolve %s: timed out after %s", t->host,
               duration_format(t->timeout_ms, d, sizeof(d)));
    } else {
        settle(t, STATE_UP, NULL);
    }
}

/* The target is known: [IP], the first echo now, the others spaced. */
static void begin(struct icmp_run *t)
{
    struct check_run *run = t->run;
    if (uv_ip_name((struct sockaddr *)&t->addr, run->ip, sizeof(run->ip)) == 0) {
        run->facts.ip = run->ip;
    }
    if (t->count > 1) {
        uv_timer_start(&t->spacing, on_spacing, t->spacing_ms, t->spacing_ms);
    }
    send_next(t);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct icmp_run *t = req->data;
    t->resolving = false;
    if (t->done) {
        uv_freeaddrinfo(res);
        release(t);
        return;
    }
    const struct addrinfo *a = res;
    while (a != NULL && a->ai_family != AF_INET && a->ai_family != AF_INET6) {
        a = a->ai_next;
    }
    if (status < 0 || a == NULL) {
        settle(t, STATE_DOWN, "resolve %s: %s", t->host,
               uv_strerror(status < 0 ? status : UV_EAI_NONAME));
    } else {
        memcpy(&t->addr, a->ai_addr, a->ai_addrlen);
        begin(t);
    }
    uv_freeaddrinfo(res);
}

/* Begin an icmp run. */
static int icmp_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    if (run->env->pinger == NULL) {
        return -ENOTSUP;
    }
    struct icmp_run *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->run = run;
    t->pinger = run->env->pinger;
    t->count = c->icmp_count;
    t->timeout_ms = c->timeout_ms;
    /* The last echo leaves at half the timeout at the latest. */
    uint64_t room = (uint64_t)t->timeout_ms / (2 * (uint64_t)t->count);
    t->spacing_ms = room < ICMP_SPACING_MS ? (room > 0 ? room : 1) : ICMP_SPACING_MS;
    snprintf(t->host, sizeof(t->host), "%s", c->host);
    t->payload_len = strlen(c->icmp_payload);
    memcpy(t->payload, c->icmp_payload, t->payload_len);
    run->priv = t;
    uv_loop_t *loop = run->env->loop;
    uv_timer_init(loop, &t->deadline);
    uv_timer_init(loop, &t->spacing);
    t->deadline.data = t;
    t->spacing.data = t;
    uv_timer_start(&t->deadline, on_deadline, (uint64_t)t->timeout_ms, 0);

    if (uv_ip4_addr(t->host, 0, (struct sockaddr_in *)&t->addr) == 0 ||
        uv_ip6_addr(t->host, 0, (struct sockaddr_in6 *)&t->addr) == 0) {
        begin(t);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC};
    t->resolve.data = t;
    int rc = uv_getaddrinfo(loop, &t->resolve, on_resolved, t->host, NULL, &hints);
    if (rc < 0) {
        settle(t, STATE_DOWN, "resolve %s: %s", t->host, uv_strerror(rc));
    } else {
        t->resolving = true;
    }
    return 0;
}

/* Abort: settle now; the run finishes from the close callbacks. */
static void icmp_cancel(struct check_run *run)
{
    struct icmp_run *t = run->priv;
    if (t != NULL) {
        settle(t, STATE_DOWN, "icmp %s: cancelled", t->host);
    }
}

/* The host, for display. */
static void icmp_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "%s", cc->host != NULL ? cc->host : "");
}

/* An echo's payload: text on one line, at most ICMPMSG_PAYLOAD_MAX bytes. */
static const char *valid_payload(const char *s)
{
    if (strlen(s) > ICMPMSG_PAYLOAD_MAX) {
        return "must be at most 1024 bytes";
    }
    return conf_valid_text(s);
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only icmp checks take. */
static const struct conf_field icmp_rows[] = {
    {.key = "host", .type = CONF_STR, .off = KO(host), .valid = conf_valid_secret, .required = true},
    {.key = "count", .type = CONF_INT, .off = KO(icmp_count), .min = 1, .max = ICMP_COUNT_MAX,
     .def = 3},
    {.key = "payload", .type = CONF_STR, .off = KO(icmp_payload), .valid = valid_payload,
     .def_str = "shipwatch"},
};

static const struct conf_rows icmp_conf_rows = CONF_ROWS(icmp_rows);

const struct check_type check_icmp_type = {
    .name = "icmp",
    .kind = CHECK_ICMP,
    .start = icmp_start,
    .cancel = icmp_cancel,
    .describe = icmp_describe,
    .rows = &icmp_conf_rows,
    .vars = icmp_vars,
    .nvars = ARRAY_SIZE(icmp_vars),
    .default_condition = "[CONNECTED] == true",
};
