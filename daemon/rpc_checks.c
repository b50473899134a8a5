/* rpc_checks.c - checks.list, .get, .history, .run, .pause, .resume, .stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check.h"
#include "config.h"
#include "daemon.h"
#include "rpc.h"
#include "sched.h"
#include "store.h"

#define HISTORY_DEFAULT_RANGE_MS (60LL * 60 * 1000)
#define HISTORY_DEFAULT_LIMIT 1000
#define HISTORY_MAX_LIMIT 10000
#define TARGET_MAX 512

/* One text of a kept result, NULL when it is empty (an absent field). */
static char *text_or_null(const struct last_result *l, enum result_text which)
{
    const char *t = last_result_text(l, which);
    return t[0] ? (char *)t : NULL;
}

/* Fill v from c; the strings point into c and buf (the target, then what
 * holds its alerts back), nothing is allocated. A client that is not an
 * admin sees the target masked (check_describe_masked). */
static void check_view(const struct check *c, struct ipc_check *v, char *buf, size_t len,
                       bool masked)
{
    const struct conf_check *cc = c->conf;
    if (masked) {
        check_describe_masked(cc, buf, len);
    } else {
        check_describe(cc, buf, len);
    }
    char *held = NULL;
    size_t used = strlen(buf) + 1;
    const char *why = c->state != STATE_UP ? alert_held_by(c->daemon, c) : NULL;
    if (why != NULL && used < len) {
        held = buf + used;
        snprintf(held, len - used, "%s", why);
    }
    *v = (struct ipc_check){
        .name = cc->name,
        .app = cc->app,
        .env = cc->env,
        .type = (char *)cc->type_name,
        .target = buf,
        .state = (char *)check_state_name(c->state),
        .paused = c->paused,
        .running = c->run != NULL,
        .interval_ms = c->interval_override_ms ? c->interval_override_ms : cc->interval_ms,
        .timeout_ms = cc->timeout_ms,
        .state_since_ms = c->state_since_ms,
        .fail_streak = c->fail_streak,
        .ok_streak = c->ok_streak,
        .runs_total = (int64_t)c->runs_total,
        .skipped_total = (int64_t)c->skipped_total,
        .last_ms = c->last.started_ms,
        .last_duration_us = c->last.duration_us,
        .last_outcome = c->last.started_ms ? (char *)check_state_name(c->last.outcome) : NULL,
        .last_status = c->last.started_ms ? c->last.status : -1,
        .last_error = text_or_null(&c->last, RESULT_TEXT_ERROR),
        .last_condition = text_or_null(&c->last, RESULT_TEXT_CONDITION),
        .last_message = text_or_null(&c->last, RESULT_TEXT_MESSAGE),
        .last_long_output = c->long_output,
        .last_perfdata = text_or_null(&c->last, RESULT_TEXT_PERFDATA),
        .verdict = c->verdict,
        .held_by = held,
        .runner = c->last_node != NULL && c->last_node[0] != '\0' ? (char *)c->last_node : NULL,
        .skipped_not_owner = (int64_t)c->skipped_not_owner_total,
    };
}

/* Whether ck passes checks.list's filter (state: want). */
static bool listed(const struct check *ck, const struct ipc_checks_filter *f, enum check_state want)
{
    return (f->app == NULL || rpc_same(f->app, ck->conf->app)) &&
           (f->env == NULL || rpc_same(f->env, ck->conf->env)) &&
           (f->state == NULL || ck->state == want);
}

/* checks.list: the checks, filtered by app, env or state, a page at a
 * time in configuration order (100,000 checks would not fit one answer). */
void rpc_checks_list(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_checks_filter *f = params;
    struct daemon *d = ipc_conn_daemon(c);
    enum check_state want = STATE_UNKNOWN;
    if (f->state != NULL && check_state_parse(f->state, &want) < 0) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       "state: %s is not a state (up, down, degraded, unknown)", f->state);
        return;
    }
    if (!rpc_limit_ok(c, msgid, f->limit, IPC_CHECKS_PAGE_MAX)) {
        return;
    }
    size_t limit = f->limit > 0 ? (size_t)f->limit : IPC_CHECKS_PAGE_DEFAULT;
    size_t from = 0;
    if (f->after != NULL) {
        /* By the check, then its place: a pointer scan, no name compared. */
        const struct check *a = daemon_find_check(d, f->after);
        while (a != NULL && from < d->nchecks && d->checks[from] != a) {
            from++;
        }
        if (a == NULL) {
            ipc_conn_error(c, msgid, IPC_E_NOT_FOUND,
                           "after: no check named %s (a reload removed it?): list again from "
                           "the start", f->after);
            return;
        }
        from = from < d->nchecks ? from + 1 : d->nchecks;
    }
    size_t room = d->nchecks - from < limit ? d->nchecks - from : limit;
    struct ipc_check *v = calloc(room + 1, sizeof(*v));
    char *targets = malloc((room + 1) * TARGET_MAX);
    if (v == NULL || targets == NULL) {
        free(v);
        free(targets);
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    size_t n = 0;
    const char *next = NULL;
    for (size_t i = from; i < d->nchecks; i++) {
        const struct check *ck = d->checks[i];
        if (!listed(ck, f, want)) {
            continue;
        }
        if (n == limit) {
            next = v[n - 1].name;       /* another one follows this page */
            break;
        }
        check_view(ck, &v[n], targets + n * TARGET_MAX, TARGET_MAX, !ipc_conn_caller(c)->admin);
        n++;
    }
    struct ipc_checks r = {.checks = v, .nchecks = n, .next = next};
    ipc_conn_respond(c, msgid, &ipc_checks_type, &r);
    free(v);
    free(targets);
}

/* The check a request names, or NULL after answering not_found. */
static struct check *named_check(struct ipc_conn *c, uint32_t msgid, const char *name)
{
    struct check *ck = daemon_find_check(ipc_conn_daemon(c), name);
    if (ck == NULL) {
        ipc_conn_error(c, msgid, IPC_E_NOT_FOUND, "no check named %s", name);
    }
    return ck;
}

/* checks.get: one check, with each location's view. */
void rpc_checks_get(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_check_ref *p = params;
    struct check *ck = named_check(c, msgid, p->check);
    if (ck != NULL) {
        char target[TARGET_MAX];
        struct ipc_check v;
        check_view(ck, &v, target, sizeof(target), !ipc_conn_caller(c)->admin);
        /* locations: all: each location's own view, this daemon's included. */
        struct ipc_location locs[CHECK_LOCATIONS_MAX];
        size_t n = 0;
        for (size_t i = 0; i < ck->nlocations && n < CHECK_LOCATIONS_MAX; i++) {
            const struct check_location *l = &ck->locations[i];
            locs[n++] = (struct ipc_location){
                .name = l->name,
                .state = check_state_name(l->state),
                .last_ms = l->last.started_ms,
                .last_outcome =
                    l->last.started_ms ? check_state_name(l->last.outcome) : NULL,
                .last_error = l->last.error[0] ? l->last.error : NULL,
            };
        }
        v.locations = locs;
        v.nlocations = n;
        ipc_conn_respond(c, msgid, &ipc_check_type, &v);
    }
}

/* The store answered checks.history: rows to the caller. */
static void on_history(int err, const struct store_history_row *rows, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    if (err < 0) {
        ipc_conn_error(c, p->msgid, IPC_E_UNAVAILABLE, "history query failed: %s", strerror(-err));
        ipc_pending_done(p);
        return;
    }
    struct ipc_history_row *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        ipc_conn_error(c, p->msgid, IPC_E_INTERNAL, "out of memory");
        ipc_pending_done(p);
        return;
    }
    bool raw = strcmp(p->granularity, "raw") == 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_history_row *r = &rows[i];
        v[i] = (struct ipc_history_row){
            .ts_ms = r->ts_ms,
            .count = r->count,
            .failures = r->failures,
            .latency_min_us = r->latency_min_us,
            .latency_avg_us = r->latency_avg_us,
            .latency_p95_us = r->latency_p95_us,
            .latency_max_us = r->latency_max_us,
            .outcome = raw ? check_state_name(r->outcome) : NULL,
            .status = raw ? r->status : -1,
            .error = raw && r->error != NULL && r->error[0] ? r->error : NULL,
            .failed_condition = raw && r->failed_condition != NULL && r->failed_condition[0]
                                    ? r->failed_condition
                                    : NULL,
            .message = raw && r->message != NULL && r->message[0] ? r->message : NULL,
            .perfdata = raw && r->perfdata != NULL && r->perfdata[0] ? r->perfdata : NULL,
            .conditions = raw ? r->conditions : 0,
            .conditions_failed = raw ? r->conditions_failed : 0,
        };
    }
    struct ipc_history h = {
        .check = p->check, .granularity = p->granularity, .rows = v, .nrows = n};
    ipc_conn_respond(c, p->msgid, &ipc_history_type, &h);
    free(v);
    ipc_pending_done(p);
}

/* checks.history: raw results or rollups of one check, from the store. */
void rpc_checks_history(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_history_params *p = params;
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    int64_t to = p->to_ms > 0 ? p->to_ms : daemon_now_ms() + 1;
    int64_t from = p->from_ms > 0 ? p->from_ms : to - HISTORY_DEFAULT_RANGE_MS;
    if (p->from_ms < 0 || p->to_ms < 0 || from >= to) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       "from_ms must be before to_ms, both unix milliseconds");
        return;
    }
    if (p->limit < 0 || p->limit > HISTORY_MAX_LIMIT) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "limit: between 1 and %d",
                       HISTORY_MAX_LIMIT);
        return;
    }
    struct store_history_query q = {.check = p->check, .from_ms = from, .to_ms = to,
                                    .limit = p->limit ? (size_t)p->limit : HISTORY_DEFAULT_LIMIT};
    const char *g = p->granularity != NULL ? p->granularity : "auto";
    if (strcmp(g, "auto") == 0) {
        /* Raw rows for a few hours, minute rollups up to two days, hours up
         * to 40 days (a default page of them), days beyond. */
        int64_t span = to - from;
        g = span <= 6 * HOUR_MS ? "raw" : span <= 48 * HOUR_MS ? "minute"
            : span <= 40 * DAY_MS ? "hour" : "day";
    }
    if (strcmp(g, "raw") == 0) {
        q.granularity = STORE_RAW;
        g = "raw";
    } else if (strcmp(g, "minute") == 0) {
        q.granularity = STORE_MINUTE;
        g = "minute";
    } else if (strcmp(g, "hour") == 0) {
        q.granularity = STORE_HOUR;
        g = "hour";
    } else if (strcmp(g, "day") == 0) {
        q.granularity = STORE_DAY;
        g = "day";
    } else {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       "granularity: %s is not one of raw, minute, hour, day, auto", g);
        return;
    }
    struct ipc_pending *pd = ipc_pending_create(c, msgid);
    if (pd == NULL || (pd->check = strdup(p->check)) == NULL) {
        if (pd != NULL) {
            ipc_pending_done(pd);
        }
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->granularity = g;
    int rc = store_history(ipc_conn_daemon(c)->store, &q, on_history, pd);
    if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "history query failed: %s", strerror(-rc));
        ipc_pending_done(pd);
    }
}

/* A heartbeat has nothing to run: its state and last result, at once;
 * the error is why a late ping judged it down when no result says. */
static void answer_heartbeat(struct ipc_conn *c, uint32_t msgid, const struct check *ck)
{
    const struct last_result *r = &ck->last;
    const char *error = text_or_null(r, RESULT_TEXT_ERROR);
    if (ck->verdict != NULL) {
        error = ck->verdict;
    }
    struct ipc_run v = {
        .check = ck->conf->name,
        .outcome = r->started_ms ? check_state_name(r->outcome) : NULL,
        .state = check_state_name(ck->state),
        .started_ms = r->started_ms,
        .duration_us = r->started_ms ? r->duration_us : 0,
        .status = r->started_ms ? r->status : -1,
        .error = error,
        .failed_condition = text_or_null(r, RESULT_TEXT_CONDITION),
    };
    ipc_conn_respond(c, msgid, &ipc_run_type, &v);
}

/* checks.run: run a check now and answer with its result. */
void rpc_checks_run(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_check_ref *p = params;
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    if (ck->conf->kind == CHECK_HEARTBEAT) {
        answer_heartbeat(c, msgid, ck);
        return;
    }
    /* A run already in flight is as good as a new one: wait for its result. */
    int rc = sched_run_now(ipc_conn_daemon(c)->sched, ck);
    if (rc == -ESHUTDOWN) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    if (rc < 0 && rc != -EBUSY) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "cannot run %s: %s", p->check, strerror(-rc));
        return;
    }
    if (ipc_conn_wait_run(c, msgid, p->check, ck->conf->timeout_ms) < 0) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
    }
}

/* checks.pause and checks.resume: set the flag, emit the event once. */
static void set_paused(struct ipc_conn *c, uint32_t msgid, const struct ipc_check_ref *p,
                       bool pause)
{
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    if (ck->paused != pause) {
        ck->paused = pause;
        char msg[300], uid[16];
        snprintf(msg, sizeof(msg), "%s %s by uid %u", ck->conf->name,
                 pause ? "paused" : "resumed", (unsigned)ipc_conn_caller(c)->uid);
        snprintf(uid, sizeof(uid), "%u", (unsigned)ipc_conn_caller(c)->uid);
        char data[64];
        snprintf(data, sizeof(data), "{\"uid\":%u}", (unsigned)ipc_conn_caller(c)->uid);
        struct event ev = {.ts_ms = daemon_now_ms(),
                           .type = pause ? "pause" : "resume",
                           .check = ck->conf->name,
                           .app = ck->conf->app,
                           .env = ck->conf->env,
                           .message = msg,
                           .data = data};
        daemon_emit_event(ipc_conn_daemon(c), &ev);
    }
    struct ipc_paused r = {.check = ck->conf->name, .paused = ck->paused};
    ipc_conn_respond(c, msgid, &ipc_paused_type, &r);
}

/* checks.pause: stop scheduling a check. */
void rpc_checks_pause(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    set_paused(c, msgid, params, true);
}

/* checks.resume: schedule a paused check again. */
void rpc_checks_resume(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    set_paused(c, msgid, params, false);
}

/* Parts per million of runs that did not fail; -1 without runs. */
static int64_t ppm(int64_t runs, int64_t failures)
{
    return runs > 0 ? (runs - failures) * 1000000 / runs : -1;
}

/* The store answered checks.stats: figures per check to the caller. */
static void on_check_stats(int err, const struct store_check_stats *rows, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    struct ipc_check_stats *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    int64_t *spark = err < 0 ? NULL : calloc(n * STORE_SPARK_MINUTES + 1, sizeof(*spark));
    if (v == NULL || spark == NULL) {
        ipc_conn_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                       "statistics query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        free(v);
        free(spark);
        ipc_pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_check_stats *r = &rows[i];
        memcpy(spark + i * STORE_SPARK_MINUTES, r->spark, sizeof(r->spark));
        v[i] = (struct ipc_check_stats){
            .check = r->check,
            .runs_24h = r->runs_24h,
            .failures_24h = r->failures_24h,
            .uptime_24h_ppm = ppm(r->runs_24h, r->failures_24h),
            .runs_7d = r->runs_7d,
            .failures_7d = r->failures_7d,
            .uptime_7d_ppm = ppm(r->runs_7d, r->failures_7d),
            .runs_30d = r->runs_30d,
            .failures_30d = r->failures_30d,
            .uptime_30d_ppm = ppm(r->runs_30d, r->failures_30d),
            .p95_1h_us = r->p95_1h_us,
            .spark = spark + i * STORE_SPARK_MINUTES,
            .nspark = STORE_SPARK_MINUTES,
        };
    }
    struct ipc_checks_stats res = {.stats = v, .nstats = n, .next = p->check};
    ipc_conn_respond(c, p->msgid, &ipc_checks_stats_type, &res);
    free(v);
    free(spark);
    ipc_pending_done(p);
}

/* checks.stats: uptime and latency of the checks, from the store, a page
 * at a time: the configured checks in byte order of their names, limit of
 * them after after, and whatever the store has between (a check a reload
 * removed); the first page reaches back to the first name, the last on to
 * the end. */
void rpc_checks_stats(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_stats_page *pg = params;
    struct daemon *d = ipc_conn_daemon(c);
    if (!rpc_limit_ok(c, msgid, pg->limit, IPC_CHECKS_PAGE_MAX)) {
        return;
    }
    size_t limit = pg->limit > 0 ? (size_t)pg->limit : IPC_CHECKS_PAGE_DEFAULT;
    size_t from = daemon_checks_after(d, pg->after);
    const char *to = d->nchecks - from > limit ? d->by_name[from + limit - 1]->conf->name : NULL;
    struct ipc_pending *pd = ipc_pending_create(c, msgid);
    if (pd == NULL || (to != NULL && (pd->check = strdup(to)) == NULL)) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        if (pd != NULL) {
            ipc_pending_done(pd);
        }
        return;
    }
    struct store_stats_query q = {.now_ms = daemon_now_ms(), .from = pg->after, .to = to};
    int rc = store_check_stats(d->store, &q, on_check_stats, pd);
    if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "statistics query failed: %s", strerror(-rc));
        ipc_pending_done(pd);
    }
}
