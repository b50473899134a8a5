/* check.c - check types, state names, and the start and end of every run. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "util.h"

static const char *const state_names[] = {
    [STATE_UNKNOWN] = "unknown",
    [STATE_UP] = "up",
    [STATE_DEGRADED] = "degraded",
    [STATE_DOWN] = "down",
};

/* The name of a state, as stored, exported and shown. */
const char *check_state_name(enum check_state s)
{
    if ((unsigned)s >= ARRAY_SIZE(state_names)) {
        return "unknown";
    }
    return state_names[s];
}

/* Parse a state name; 0 or -EINVAL. */
int check_state_parse(const char *s, enum check_state *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum check_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Every check type (CHECK_TYPES in config.h), indexed by kind. */
#define CHECK_TYPE_ROW(name, kind) [kind] = &check_##name##_type,
static const struct check_type *const check_types[] = {CHECK_TYPES(CHECK_TYPE_ROW)};
#undef CHECK_TYPE_ROW

/* The vtable for a kind. */
const struct check_type *check_type_for(enum check_kind kind)
{
    if ((unsigned)kind >= ARRAY_SIZE(check_types)) {
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

/* Whether a condition of cc reads the body. */
bool check_reads_body(const struct conf_check *cc)
{
    for (size_t i = 0; i < cc->nconditions; i++) {
        for (const char *p = cc->conditions[i]; *p != '\0'; p++) {
            if (strncasecmp(p, "[BODY]", 6) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* The env's clock, unix milliseconds. */
int64_t check_env_now_ms(const struct check_env *env)
{
    return env->clock->now_ms(env->clock);
}

void last_result_set(struct last_result *l, const struct result *r)
{
    const char *texts[4] = {r->error, r->failed_condition, r->message, r->perfdata};
    size_t lens[4] = {
        strnlen(r->error, sizeof(r->error) - 1),
        strnlen(r->failed_condition, sizeof(r->failed_condition) - 1),
        strnlen(r->message, sizeof(r->message) - 1),
        strnlen(r->perfdata, sizeof(r->perfdata) - 1),
    };
    size_t size = lens[0] + lens[1] + lens[2] + lens[3] + 4;

    l->started_ms = r->started_ms;
    l->duration_us = r->duration_us;
    l->outcome = r->outcome;
    l->status = r->status;
    l->cert_expiry_s = r->cert_expiry_s;
    l->nconds = r->nconds;
    l->conds_failed = r->conds_failed;
    if (size == 4) {
        last_result_free(l);
        return;
    }
    /* A check that keeps failing the same way fills the block it has. */
    if (size != l->size) {
        char *text = realloc(l->text, size);
        if (text == NULL) {
            last_result_free(l);
            return;
        }
        l->text = text;
        l->size = (uint16_t)size;
    }
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        l->at[i] = (uint16_t)at;
        memcpy(l->text + at, texts[i], lens[i]);
        l->text[at + lens[i]] = '\0';
        at += lens[i] + 1;
    }
}

const char *last_result_text(const struct last_result *l, enum result_text which)
{
    return l->text != NULL ? l->text + l->at[which] : "";
}

void last_result_move(struct last_result *dst, struct last_result *src)
{
    free(dst->text);
    *dst = *src;
    src->text = NULL;
    src->size = 0;
}

void last_result_free(struct last_result *l)
{
    free(l->text);
    l->text = NULL;
    l->size = 0;
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
    if (c != NULL && c->type != NULL && c->type->forget != NULL) {
        c->type->forget(c);
    }
    if (c != NULL) {
        free(c->alerting);      /* alert.c's; owns no pointers */
        free(c->long_output);
        free(c->locations);
        free(c->memory);
        free(c->hb_runs);
        free(c->verdict);
        last_result_free(&c->last);
    }
    free(c);
}

void check_set_verdict(struct check *c, const char *why)
{
    free(c->verdict);
    c->verdict = why != NULL ? strndup(why, RESULT_ERROR_MAX - 1) : NULL;
}

/* Record each condition's verdict on r: how many ran, a bit for each that
 * failed (the first RESULT_CONDS_MAX), the first failure's text. */
static void record_verdicts(struct result *r, const struct cond_result *res, size_t n)
{
    r->nconds = (uint8_t)(n < RESULT_CONDS_MAX ? n : RESULT_CONDS_MAX);
    r->conds_failed = 0;
    r->failed_condition[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (res[i].success) {
            continue;
        }
        if (i < RESULT_CONDS_MAX) {
            r->conds_failed |= (uint16_t)(1u << i);
        }
        if (r->failed_condition[0] == '\0') {
            snprintf(r->failed_condition, sizeof(r->failed_condition), "%s", res[i].text);
        }
    }
}

/* Evaluate every condition of the check against what the run learned, as
 * Gatus does: all of them, after a failed connection too. They decide the
 * outcome of a run that went well or could not connect ([CONNECTED] ==
 * false holds then); an outcome the checker judged otherwise (a plugin's
 * exit status, a local error) stands. A run without conditions keeps its
 * outcome. */
static void evaluate(struct check_run *run)
{
    const struct conf_check *conf = run->check->conf;
    struct result *r = &run->result;

    if (conf->nconditions == 0) {
        return;
    }
    if (run->facts.response_time_ms < 0) {
        run->facts.response_time_ms = r->duration_us / 1000;
    }
    if (run->facts.body == NULL && run->body != NULL) {
        run->facts.body = run->body;
        run->facts.body_len = run->body_len;
    }
    struct cond_result *res = calloc(conf->nconditions, sizeof(*res));
    if (res == NULL) {
        r->outcome = STATE_UNKNOWN;
        snprintf(r->error, sizeof(r->error), "conditions: %s", strerror(ENOMEM));
        return;
    }
    size_t failed = cond_eval_all(conf->conds, conf->nconditions, &run->facts, res);
    record_verdicts(r, res, conf->nconditions);
    free(res);
    if (r->outcome != STATE_UP && run->facts.connected != 0) {
        return;
    }
    if (failed > 0) {
        r->outcome = STATE_DOWN;
        return;
    }
    if (r->outcome != STATE_UP) {
        /* The connection failed as the conditions expect: what went wrong
         * is what the run says, no problem. */
        if (r->message[0] == '\0') {
            snprintf(r->message, sizeof(r->message), "%s", r->error);
        }
        r->error[0] = '\0';
        r->outcome = STATE_UP;
    }
}

/* A type's placeholders as the run's perfdata, when it has none of its
 * own: "used=42.5%;;; free=1024B;;;", known values only. */
static void vars_perfdata(struct check_run *run)
{
    const struct check_type *t = run->check->type;
    if (t->nvars == 0 || run->result.perfdata[0] != '\0') {
        return;
    }
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    for (size_t i = 0; i < t->nvars && i < COND_VARS_MAX; i++) {
        const struct cond_var *v = &t->vars[i];
        if (isnan(run->facts.vars[i])) {
            continue;
        }
        struct perfdata_item *it = &pd.items[pd.n++];
        size_t k = 0;
        for (const char *p = v->name + 1; *p != ']' && k + 1 < sizeof(it->label); p++) {
            it->label[k++] = (char)tolower((unsigned char)*p);
        }
        it->label[k] = '\0';
        snprintf(it->uom, sizeof(it->uom), "%s", v->unit);
        it->value = run->facts.vars[i];
    }
    perfdata_format(&pd, run->result.perfdata, sizeof(run->result.perfdata));
}

/* Replace c's long output with the run's; NULL when it has none. */
static void keep_long_output(struct check *c, const struct check_run *run)
{
    free(c->long_output);
    c->long_output = run->long_output[0] != '\0' ? strdup(run->long_output) : NULL;
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
    if (!cancelled && !no_result && !c->removed) {
        /* [DEPLOY].version: the app-env's last succeeded deploy. */
        if (env->deploy_version != NULL) {
            run->facts.deploy_version = env->deploy_version(env->arg, c->conf->app, c->conf->env);
        }
        evaluate(run);
        vars_perfdata(run);
        keep_long_output(c, run);
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
