/* check.c - check types, state names, and the start and end of every run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char *const state_names[] = {
    [STATE_UNKNOWN] = "unknown",
    [STATE_UP] = "up",
    [STATE_DEGRADED] = "degraded",
    [STATE_DOWN] = "down",
};

/* The name of a state, as stored, exported and shown. */
const char *check_state_name(enum check_state s)
{
    if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0])) {
        return "unknown";
    }
    return state_names[s];
}

/* Parse a state name; 0 or -EINVAL. */
int check_state_parse(const char *s, enum check_state *out)
{
    for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum check_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

static const struct check_type *const check_types[] = {
    [CHECK_HTTP] = &check_http_type,
    [CHECK_TCP] = &check_tcp_type,
    [CHECK_EXEC] = &check_exec_type,
    [CHECK_HEARTBEAT] = &check_heartbeat_type,
};

/* The vtable for a kind. */
const struct check_type *check_type_for(enum check_kind kind)
{
    if ((unsigned)kind >= sizeof(check_types) / sizeof(check_types[0])) {
        return NULL;
    }
    return check_types[kind];
}

/* What cc watches, for display, through its type's describe. */
void check_describe(const struct conf_check *cc, char *out, size_t len)
{
    const struct check_type *t = check_type_for(cc->kind);
    out[0] = '\0';
    if (t != NULL && t->describe != NULL) {
        t->describe(cc, out, len);
    }
}

/* What cc watches, with what may hold a secret masked. */
void check_describe_masked(const struct conf_check *cc, char *out, size_t len)
{
    if (cc->kind == CHECK_EXEC) {
        snprintf(out, len, "%s%s", cc->argc > 0 ? cc->argv[0] : "", cc->argc > 1 ? " ***" : "");
        return;
    }
    check_describe(cc, out, len);
    char *cut = out + strcspn(out, "?#");
    if (*cut != '\0' && (size_t)(cut - out) + 4 < len) {
        memcpy(cut + 1, "***", 4);
    } else if (*cut != '\0') {
        *cut = '\0';
    }
}

/* The env's clock, unix milliseconds. */
int64_t check_env_now_ms(const struct check_env *env)
{
    return env->clock->now_ms(env->clock);
}

/* Create a check for conf, state unknown. */
struct check *check_create(const struct conf_check *conf)
{
    struct check *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->conf = conf;
    c->type = check_type_for(conf->kind);
    c->state = STATE_UNKNOWN;
    c->paused = conf->paused;
    c->last.status = -1;
    return c;
}

/* Free a check with no run in flight. */
void check_destroy(struct check *c)
{
    if (c != NULL) {
        free(c->alerting);      /* alert.c's; owns no pointers */
        free(c->locations);
    }
    free(c);
}

/* Evaluate the check's conditions against what the run learned; the first
 * that fails marks the result down and is recorded with its actual value. */
static void evaluate(struct check_run *run)
{
    const struct conf_check *conf = run->check->conf;
    struct result *r = &run->result;

    if (run->facts.response_time_ms < 0) {
        run->facts.response_time_ms = r->duration_us / 1000;
    }
    if (run->facts.body == NULL && run->body != NULL) {
        run->facts.body = run->body;
        run->facts.body_len = run->body_len;
    }
    for (size_t i = 0; i < conf->nconditions; i++) {
        if (!cond_eval(conf->conds[i], &run->facts, r->failed_condition,
                       sizeof(r->failed_condition))) {
            r->outcome = STATE_DOWN;
            return;
        }
    }
    r->failed_condition[0] = '\0';
}

/* Start a run of c in env; a start that fails ends the run at once. */
int check_run_start(struct check *c, const struct check_env *env, check_run_end_fn on_end,
                    void *on_end_arg)
{
    struct check_run *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        return -ENOMEM;
    }
    run->check = c;
    run->env = env;
    run->on_end = on_end;
    run->on_end_arg = on_end_arg;
    run->started_ns = uv_hrtime();
    run->result.started_ms = check_env_now_ms(env);
    run->result.outcome = STATE_UP;
    run->result.status = -1;
    cond_facts_init(&run->facts);
    c->run = run;
    c->runs_total++;

    int rc = c->type->start(run);
    if (rc < 0) {
        run->result.outcome = STATE_UNKNOWN;
        snprintf(run->result.error, sizeof(run->result.error), "cannot start: %s",
                 strerror(-rc));
        check_run_finish(run);
    }
    return 0;
}

/* End a run: settle the outcome, hand the result on, free the run. */
void check_run_finish(struct check_run *run)
{
    struct check *c = run->check;
    const struct check_env *env = run->env;
    check_run_end_fn on_end = run->on_end;
    void *on_end_arg = run->on_end_arg;
    struct result r;
    bool cancelled = run->cancelled;
    bool no_result = run->no_result;

    run->result.duration_us = (int64_t)((uv_hrtime() - run->started_ns) / 1000);
    /* A removed check's conf belongs to a freed configuration: not read. */
    if (!cancelled && !no_result && !c->removed && run->result.outcome == STATE_UP) {
        /* [DEPLOY].version: the app-env's last succeeded deploy. */
        if (env->deploy_version != NULL) {
            run->facts.deploy_version = env->deploy_version(env->arg, c->conf->app, c->conf->env);
        }
        evaluate(run);
    }
    r = run->result;
    if (c->run == run) {
        c->run = NULL;
    }
    free(run->body);
    free(run);

    if (!cancelled && !no_result && !c->removed && env->on_result != NULL) {
        env->on_result(env->arg, c, &r);
    }
    /* The scheduler's on_end frees c when a reload removed it meanwhile. */
    if (on_end != NULL) {
        on_end(on_end_arg, c);
    }
}
