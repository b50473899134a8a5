/* harness_checks.c - a check_env on a private loop that collects results. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlm.h"
#include "harness_checks.h"
#include "host.h"

/* check_env.on_result: keep a copy. */
static void collect(void *arg, struct check *c, const struct result *r)
{
    struct harness_checks *h = arg;
    if (h->nresults < HARNESS_RESULTS_MAX) {
        h->results[h->nresults] = (struct harness_result){.check = c, .result = *r};
    }
    h->nresults++;
}

/* check_env.on_verdict: keep it and move the state, as the daemon does. */
static void collect_verdict(void *arg, struct check *c, enum check_state state,
                            const char *reason)
{
    struct harness_checks *h = arg;
    if (h->nverdicts < HARNESS_RESULTS_MAX) {
        struct harness_verdict *v = &h->verdicts[h->nverdicts];
        v->check = c;
        v->state = state;
        snprintf(v->reason, sizeof(v->reason), "%s", reason);
    }
    h->nverdicts++;
    c->state = state;
}

/* check_env.on_ping: keep a copy of the last. */
static void collect_ping(void *arg, struct check *c, const struct check_ping *p)
{
    struct harness_checks *h = arg;
    struct harness_ping *hp = &h->last_ping;
    hp->check = c;
    hp->ping = *p;
    size_t n = p->body_len < HARNESS_PING_BODY_MAX ? p->body_len : HARNESS_PING_BODY_MAX;
    if (n > 0) {
        memcpy(hp->body, p->body, n);
    }
    hp->body[n] = '\0';
    hp->ping.body = hp->body;
    h->npings++;
}

/* check_env.deploy_version: the test's answer. */
static const char *deploy_version(void *arg, const char *app, const char *env)
{
    const struct harness_checks *h = arg;
    return h->deploy_version;
}

/* check_run_start's on_end: count ended runs. */
static void on_end(void *arg, struct check *c)
{
    struct harness_checks *h = arg;
    h->ended++;
}

/* Start the loop, curl and the fake clock; fill env. */
int harness_checks_init(struct harness_checks *h, int64_t now_ms)
{
    memset(h, 0, sizeof(*h));
    int rc = uv_loop_init(&h->loop);
    if (rc < 0) {
        return rc;
    }
    h->curlm = curlm_create(&h->loop);
    if (h->curlm == NULL) {
        uv_loop_close(&h->loop);
        return -ENOMEM;
    }
    h->hostpool = hostpool_create(&h->loop);
    if (h->hostpool == NULL) {
        curlm_destroy(h->curlm);
        uv_loop_close(&h->loop);
        return -ENOMEM;
    }
    harness_clock_init(&h->clock, now_ms);
    h->env = (struct check_env){
        .loop = &h->loop,
        .curlm = h->curlm,
        .hostpool = h->hostpool,
        .clock = &h->clock.clock,
        .on_result = collect,
        .on_verdict = collect_verdict,
        .on_ping = collect_ping,
        .deploy_version = deploy_version,
        .arg = h,
    };
    return 0;
}

/* Close curl and the loop. */
int harness_checks_finish(struct harness_checks *h)
{
    curlm_destroy(h->curlm);
    h->curlm = NULL;
    hostpool_close(h->hostpool);
    h->hostpool = NULL;
    return harness_loop_finish(&h->loop);
}

/* What run_ended waits for. */
struct wait_end {
    const struct harness_checks *h;
    size_t ended;               /* h->ended to reach */
};

/* Loop condition: the run started has ended. */
static bool run_ended(void *arg)
{
    const struct wait_end *w = arg;
    return w->h->ended >= w->ended;
}

/* Run c once and wait for it. */
const struct result *harness_checks_run(struct harness_checks *h, struct check *c,
                                        int64_t deadline_ms)
{
    size_t results_before = h->nresults;
    struct wait_end w = {.h = h, .ended = h->ended + 1};
    /* Checkers' timers count from the loop's time: make it now. */
    uv_update_time(&h->loop);
    if (check_run_start(c, &h->env, on_end, h) < 0) {
        return NULL;
    }
    if (!harness_run_until(&h->loop, run_ended, &w, deadline_ms)) {
        return NULL;
    }
    if (h->nresults == results_before || h->nresults > HARNESS_RESULTS_MAX) {
        return NULL;
    }
    return &h->results[h->nresults - 1].result;
}

/* Run c once for a judgement and wait for it. */
int harness_checks_judge(struct harness_checks *h, struct check *c, int64_t deadline_ms)
{
    size_t results_before = h->nresults;
    struct wait_end w = {.h = h, .ended = h->ended + 1};
    uv_update_time(&h->loop);
    if (check_run_start(c, &h->env, on_end, h) < 0) {
        return -1;
    }
    if (!harness_run_until(&h->loop, run_ended, &w, deadline_ms)) {
        return -1;
    }
    return (int)(h->nresults - results_before);
}

/* The last verdict collected. */
const struct harness_verdict *harness_checks_last_verdict(const struct harness_checks *h)
{
    if (h->nverdicts == 0 || h->nverdicts > HARNESS_RESULTS_MAX) {
        return NULL;
    }
    return &h->verdicts[h->nverdicts - 1];
}

/* The last result collected. */
const struct result *harness_checks_last(const struct harness_checks *h)
{
    if (h->nresults == 0 || h->nresults > HARNESS_RESULTS_MAX) {
        return NULL;
    }
    return &h->results[h->nresults - 1].result;
}

/* Load the YAML fmt makes and create its checks. */
int harness_check_set_load(struct harness_check_set *s, const char *fmt, ...)
{
    char yaml[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(yaml, sizeof(yaml), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(yaml)) {
        return -1;
    }
    s->conf = harness_config(yaml);
    if (s->conf == NULL || s->conf->nchecks > HARNESS_CHECKS_MAX) {
        return -1;
    }
    for (size_t i = 0; i < s->conf->nchecks; i++) {
        s->checks[i] = check_create(&s->conf->checks[i]);
        if (s->checks[i] == NULL) {
            return -1;
        }
        s->n = i + 1;
    }
    return 0;
}

/* Destroy the checks and the configuration. */
void harness_check_set_finish(struct harness_check_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        check_destroy(s->checks[i]);
    }
    config_destroy(s->conf);
    memset(s, 0, sizeof(*s));
}

/* The check named name. */
struct check *harness_check_set_find(const struct harness_check_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->checks[i]->conf->name, name) == 0) {
            return s->checks[i];
        }
    }
    return NULL;
}
