/* check_heartbeat.c - passive checks fed by pings from cron jobs.
 *
 * A scheduled run only judges lateness: down when no ping came within
 * period + grace of the last one (or of the time the daemon began watching).
 * Pings record results at once: "ping" up, "fail" down, "start" only notes
 * when the job began so the next ping carries its duration. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "duration.h"

struct hb_run {
    uv_timer_t timer;           /* defers the finish out of start() */
    struct check_run *run;
};

static void on_closed(uv_handle_t *h)
{
    struct hb_run *hb = h->data;
    struct check_run *run = hb->run;
    free(hb);
    run->priv = NULL;
    check_run_finish(run);
}

static void on_judge(uv_timer_t *t)
{
    struct hb_run *hb = t->data;
    struct check_run *run = hb->run;
    struct check *c = run->check;
    if (!run->cancelled && !c->removed) {
        const struct conf_check *conf = c->conf;
        int64_t now = check_env_now_ms(run->env);
        if (c->heartbeat_since_ms == 0) {
            c->heartbeat_since_ms = now;
        }
        int64_t last = c->last_ping_ms > 0 ? c->last_ping_ms : c->heartbeat_since_ms;
        int64_t late = now - last;
        if (late > conf->period_ms + conf->grace_ms) {
            char a[32], p[32], g[32];
            run->result.outcome = STATE_DOWN;
            snprintf(run->result.error, sizeof(run->result.error),
                     "no ping for %s (period %s, grace %s)",
                     duration_format(late / 1000 * 1000, a, sizeof(a)),
                     duration_format(conf->period_ms, p, sizeof(p)),
                     duration_format(conf->grace_ms, g, sizeof(g)));
        }
    }
    uv_close((uv_handle_t *)&hb->timer, on_closed);
}

/* A scheduled run: judge lateness on the next loop tick. */
static int heartbeat_start(struct check_run *run)
{
    struct hb_run *hb = calloc(1, sizeof(*hb));
    if (hb == NULL) {
        return -ENOMEM;
    }
    hb->run = run;
    run->priv = hb;
    uv_timer_init(run->env->loop, &hb->timer);
    hb->timer.data = hb;
    uv_timer_start(&hb->timer, on_judge, 0, 0);
    return 0;
}

/* The period and grace, for display (the token is a secret). */
static void heartbeat_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "every %llds, %llds grace", (long long)(cc->period_ms / 1000),
             (long long)(cc->grace_ms / 1000));
}

const struct check_type check_heartbeat_type = {
    .name = "heartbeat",
    .kind = CHECK_HEARTBEAT,
    .start = heartbeat_start,
    .cancel = NULL,
    .describe = heartbeat_describe,
};

/* Constant-time string equality, for tokens. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) {
        return false;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* The heartbeat check with this token; every check is compared. */
struct check *check_heartbeat_find(struct check *const *checks, size_t n, const char *token)
{
    struct check *c = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct conf_check *conf = checks[i]->conf;
        if (conf->kind == CHECK_HEARTBEAT && conf->token != NULL &&
            token_equal(conf->token, token)) {
            c = checks[i];
        }
    }
    return c;
}

/* Record a ping on heartbeat check c; a ping or a fail is a result. */
int check_heartbeat_ping(const struct check_env *env, struct check *c, const char *kind)
{
    bool ping = strcmp(kind, "ping") == 0;
    bool fail = strcmp(kind, "fail") == 0;
    bool start = strcmp(kind, "start") == 0;
    if (!ping && !fail && !start) {
        return -EINVAL;
    }
    int64_t now = check_env_now_ms(env);
    if (start) {
        c->heartbeat_started_ms = now;
        return 0;
    }
    struct result r = {.started_ms = now, .status = -1};
    if (c->heartbeat_started_ms > 0) {
        r.duration_us = (now - c->heartbeat_started_ms) * 1000;
        c->heartbeat_started_ms = 0;
    }
    if (ping) {
        c->last_ping_ms = now;
        r.outcome = STATE_UP;
    } else {
        r.outcome = STATE_DOWN;
        snprintf(r.error, sizeof(r.error), "job reported failure");
    }
    if (env->on_result != NULL) {
        env->on_result(env->arg, c, &r);
    }
    return 0;
}
