/* store_rec.c - copy and free the records the backends queue. */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "store_rec.h"
#include "util.h"

void rec_deploy_finish(struct deploy *d)
{
    const char **f[] = {&d->app, &d->env, &d->version, &d->commit, &d->author, &d->source,
                        &d->url, &d->description, &d->status, &d->verdict, &d->verdict_reason,
                        &d->failing_check, &d->rollback_version, &d->ext_id, &d->ref};
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        free((char *)*f[i]);
        *f[i] = NULL;
    }
}

/* Copy dep's strings into out; false on ENOMEM (out is then freed). */
bool rec_deploy_copy(struct deploy *out, const struct deploy *dep)
{
    *out = *dep;
    const char **f[] = {&out->app, &out->env, &out->version, &out->commit, &out->author,
                        &out->source, &out->url, &out->description, &out->status,
                        &out->verdict, &out->verdict_reason, &out->failing_check,
                        &out->rollback_version, &out->ext_id, &out->ref};
    bool ok = true;
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        if (*f[i] != NULL && (*f[i] = strdup(*f[i])) == NULL) {
            ok = false;
        }
    }
    if (!ok) {
        rec_deploy_finish(out);
    }
    return ok;
}

/* Free n strings, setting them to NULL. */
static void strings_free(const char **const *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)*f[i]);
        *f[i] = NULL;
    }
}

/* Replace n borrowed strings by copies. false on ENOMEM, with every string
 * freed and NULL. */
static bool strings_dup(const char **const *f, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (*f[i] != NULL && (*f[i] = strdup(*f[i])) == NULL) {
            ok = false;
        }
    }
    if (!ok) {
        strings_free(f, n);
    }
    return ok;
}

#define MUTE_STRINGS(m)                                                                    \
    {&(m)->kind, &(m)->check, &(m)->app, &(m)->env, &(m)->severity, &(m)->author,          \
     &(m)->comment}
#define OUTBOX_STRINGS(o) {&(o)->notifier, &(o)->payload}

void rec_alert_finish(struct alert *a)
{
    const char **f[] = STORE_ALERT_STRINGS(a);
    strings_free(f, ARRAY_SIZE(f));
}

/* Copy a and its strings into out; false on ENOMEM (out is then freed). */
bool rec_alert_copy(struct alert *out, const struct alert *a)
{
    *out = *a;
    const char **f[] = STORE_ALERT_STRINGS(out);
    return strings_dup(f, ARRAY_SIZE(f));
}

void rec_mute_finish(struct mute *m)
{
    const char **f[] = MUTE_STRINGS(m);
    strings_free(f, ARRAY_SIZE(f));
}

/* Copy m and its strings into out; false on ENOMEM (out is then freed). */
bool rec_mute_copy(struct mute *out, const struct mute *m)
{
    *out = *m;
    const char **f[] = MUTE_STRINGS(out);
    return strings_dup(f, ARRAY_SIZE(f));
}

void rec_outbox_finish(struct outbox_item *o)
{
    const char **f[] = OUTBOX_STRINGS(o);
    strings_free(f, ARRAY_SIZE(f));
}

/* Copy o and its strings into out; false on ENOMEM (out is then freed). */
bool rec_outbox_copy(struct outbox_item *out, const struct outbox_item *o)
{
    *out = *o;
    const char **f[] = OUTBOX_STRINGS(out);
    return strings_dup(f, ARRAY_SIZE(f));
}

void rec_free(struct rec *r)
{
    if (r == NULL) {
        return;
    }
    free(r->check);
    free((char *)r->ev.type);
    free((char *)r->ev.check);
    free((char *)r->ev.app);
    free((char *)r->ev.env);
    free((char *)r->ev.message);
    free((char *)r->ev.data);
    free((char *)r->hq.check);
    free((char *)r->stats_from);
    free((char *)r->stats_to);
    free((char *)r->eq.app);
    free((char *)r->eq.check);
    free((char *)r->eq.type);
    for (size_t i = 0; i < r->nh; i++) {
        free((char *)r->hrows[i].error);
        free((char *)r->hrows[i].failed_condition);
        free((char *)r->hrows[i].message);
        free((char *)r->hrows[i].perfdata);
    }
    free(r->hrows);
    for (size_t i = 0; i < r->ne; i++) {
        free((char *)r->erows[i].type);
        free((char *)r->erows[i].check);
        free((char *)r->erows[i].app);
        free((char *)r->erows[i].env);
        free((char *)r->erows[i].message);
        free((char *)r->erows[i].data);
    }
    free(r->erows);
    rec_deploy_finish(&r->dep);
    free((char *)r->dq.app);
    free((char *)r->dq.env);
    free((char *)r->dq.ext_id);
    for (size_t i = 0; i < r->nd; i++) {
        rec_deploy_finish(&r->drows[i]);
    }
    free(r->drows);
    for (size_t i = 0; i < r->ns; i++) {
        free((char *)r->srows[i].check);
    }
    free(r->srows);
    rec_alert_finish(&r->alert);
    rec_mute_finish(&r->mute);
    rec_outbox_finish(&r->outbox);
    free((char *)r->aq.status);
    free((char *)r->aq.check);
    free((char *)r->aq.app);
    for (size_t i = 0; i < r->na; i++) {
        rec_alert_finish(&r->arows[i]);
    }
    free(r->arows);
    for (size_t i = 0; i < r->nm; i++) {
        rec_mute_finish(&r->mrows[i]);
    }
    free(r->mrows);
    for (size_t i = 0; i < r->no; i++) {
        rec_outbox_finish(&r->orows[i]);
    }
    free(r->orows);
    free(r);
}

struct rec *rec_new(enum rec_kind kind)
{
    struct rec *r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->kind = kind;
    }
    return r;
}

/* r, or NULL with r freed when its strings could not all be copied. */
static struct rec *rec_made(struct rec *r, bool copied)
{
    if (!copied) {
        rec_free(r);
        return NULL;
    }
    return r;
}

struct rec *rec_new_result(const struct store_check_state *cs)
{
    struct rec *r = rec_new(REC_RESULT);
    if (r == NULL) {
        return NULL;
    }
    r->st = *cs;
    r->st.check = NULL;
    r->check = strdup(cs->check != NULL ? cs->check : "");
    return rec_made(r, r->check != NULL);
}

struct rec *rec_new_event(const struct event *ev, int64_t id)
{
    struct rec *r = rec_new(REC_EVENT);
    if (r == NULL) {
        return NULL;
    }
    r->ev = *ev;
    r->ev.id = id;
    if (r->ev.type == NULL) {
        r->ev.type = "daemon";
    }
    if (r->ev.message == NULL) {
        r->ev.message = "";
    }
    const char **f[] = {&r->ev.type, &r->ev.check, &r->ev.app, &r->ev.env, &r->ev.message,
                        &r->ev.data};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

/* A record for one row write: the row copied, with its id set. */
static struct rec *row_rec(enum rec_kind kind, const void *row, int64_t id)
{
    struct rec *r = rec_new(kind);
    if (r == NULL) {
        return NULL;
    }
    bool ok = true;
    switch (kind) {
    case REC_DEPLOY:
        ok = rec_deploy_copy(&r->dep, row);
        r->dep.id = id;
        break;
    case REC_ALERT:
        ok = rec_alert_copy(&r->alert, row);
        r->alert.id = id;
        break;
    case REC_MUTE:
        ok = rec_mute_copy(&r->mute, row);
        r->mute.id = id;
        break;
    case REC_OUTBOX:
        ok = rec_outbox_copy(&r->outbox, row);
        r->outbox.id = id;
        break;
    default:
        r->outbox_id = id;
        break;
    }
    return rec_made(r, ok);
}

struct rec *rec_new_deploy(const struct deploy *dep, int64_t id)
{
    return row_rec(REC_DEPLOY, dep, id);
}

struct rec *rec_new_alert(const struct alert *a, int64_t id)
{
    return row_rec(REC_ALERT, a, id);
}

struct rec *rec_new_mute(const struct mute *m, int64_t id)
{
    return row_rec(REC_MUTE, m, id);
}

struct rec *rec_new_outbox(const struct outbox_item *o, int64_t id)
{
    return row_rec(REC_OUTBOX, o, id);
}

struct rec *rec_new_outbox_delete(int64_t id)
{
    return row_rec(REC_OUTBOX_DELETE, NULL, id);
}

/* A query record with its callback; the caller copies the parameters. */
static struct rec *query_rec(enum rec_kind kind, void *arg)
{
    struct rec *r = rec_new(kind);
    if (r != NULL) {
        r->arg = arg;
    }
    return r;
}

struct rec *rec_new_history(const struct store_history_query *q, store_history_fn fn, void *arg)
{
    struct rec *r = query_rec(REC_HISTORY, arg);
    if (r == NULL) {
        return NULL;
    }
    r->hq = *q;
    r->hfn = fn;
    const char **f[] = {&r->hq.check};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

struct rec *rec_new_events(const struct store_event_query *q, store_events_fn fn, void *arg)
{
    struct rec *r = query_rec(REC_EVENTS, arg);
    if (r == NULL) {
        return NULL;
    }
    r->eq = *q;
    r->efn = fn;
    const char **f[] = {&r->eq.app, &r->eq.check, &r->eq.type};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

struct rec *rec_new_deploys(const struct store_deploy_query *q, store_deploys_fn fn, void *arg)
{
    struct rec *r = query_rec(REC_DEPLOYS, arg);
    if (r == NULL) {
        return NULL;
    }
    r->dq = *q;
    r->dfn = fn;
    const char **f[] = {&r->dq.app, &r->dq.env, &r->dq.ext_id};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

struct rec *rec_new_check_stats(const struct store_stats_query *q, store_check_stats_fn fn,
                                void *arg)
{
    struct rec *r = query_rec(REC_STATS, arg);
    if (r == NULL) {
        return NULL;
    }
    r->now_ms = q->now_ms;
    r->sfn = fn;
    r->stats_from = q->from;
    r->stats_to = q->to;
    const char **f[] = {&r->stats_from, &r->stats_to};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

struct rec *rec_new_alerts(const struct store_alert_query *q, store_alerts_fn fn, void *arg)
{
    struct rec *r = query_rec(REC_ALERTS, arg);
    if (r == NULL) {
        return NULL;
    }
    r->aq = *q;
    r->afn = fn;
    const char **f[] = {&r->aq.status, &r->aq.check, &r->aq.app};
    return rec_made(r, strings_dup(f, ARRAY_SIZE(f)));
}

int64_t rec_stats_window_start(int64_t now_ms, int window)
{
    static const int64_t len[STATS_WINDOWS] = {
        [STATS_24H] = 24 * HOUR_MS,
        [STATS_7D] = 7 * DAY_MS,
        [STATS_30D] = 30 * DAY_MS,
    };
    int64_t t = now_ms - len[window];
    return t - t % HOUR_MS;
}

void rec_stats_index_free(struct rec_stats_index *ix)
{
    free(ix->ids);
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}

static size_t stats_slot(const struct rec_stats_index *ix, int64_t id)
{
    size_t i = (size_t)hash_mix((uint64_t)id) & (ix->nslots - 1);
    while (ix->slots[i] != 0 && ix->ids[ix->slots[i] - 1] != id) {
        i = (i + 1) & (ix->nslots - 1);
    }
    return i;
}

struct store_check_stats *rec_stats_row(struct rec *r, struct rec_stats_index *ix, int64_t id,
                                        const char *name)
{
    if (ix->last < r->ns && ix->ids[ix->last] == id) {
        return &r->srows[ix->last];
    }
    if (ix->nslots > 0) {
        uint32_t row = ix->slots[stats_slot(ix, id)];
        if (row != 0) {
            ix->last = row - 1;
            return &r->srows[ix->last];
        }
    }
    if (r->ns == ix->cap) {
        size_t nc = ix->cap ? ix->cap * 2 : 64;
        struct store_check_stats *v = realloc(r->srows, nc * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        r->srows = v;
        int64_t *w = realloc(ix->ids, nc * sizeof(*w));
        uint32_t *slots = calloc(nc * 4, sizeof(*slots));
        if (w == NULL || slots == NULL || nc > UINT32_MAX) {
            if (w != NULL) {
                ix->ids = w;
            }
            free(slots);
            return NULL;
        }
        ix->ids = w;
        ix->cap = nc;
        free(ix->slots);
        ix->slots = slots;
        ix->nslots = nc * 4;
        for (size_t i = 0; i < r->ns; i++) {
            ix->slots[stats_slot(ix, ix->ids[i])] = (uint32_t)i + 1;
        }
    }
    char *copy = strdup(name != NULL ? name : "");
    if (copy == NULL) {
        return NULL;
    }
    struct store_check_stats *st = &r->srows[r->ns];
    memset(st, 0, sizeof(*st));
    st->check = copy;
    for (size_t m = 0; m < STORE_SPARK_MINUTES; m++) {
        st->spark[m] = -1;
    }
    ix->ids[r->ns] = id;
    ix->slots[stats_slot(ix, id)] = (uint32_t)r->ns + 1;
    ix->last = r->ns++;
    return st;
}

/* Count n runs, f of them failed, in window w of st. */
static void stats_add(struct store_check_stats *st, int w, int64_t n, int64_t f)
{
    int64_t *runs[STATS_WINDOWS] = {&st->runs_24h, &st->runs_7d, &st->runs_30d};
    int64_t *fails[STATS_WINDOWS] = {&st->failures_24h, &st->failures_7d, &st->failures_30d};
    *runs[w] += n;
    *fails[w] += f;
}

void rec_stats_hours(struct store_check_stats *st, int64_t total, int64_t total_failures,
                     const int64_t before[STATS_WINDOWS][2], const bool have[STATS_WINDOWS])
{
    for (int w = 0; w < STATS_WINDOWS; w++) {
        if (have[w]) {
            stats_add(st, w, total - before[w][0], total_failures - before[w][1]);
        }
    }
}

void rec_stats_minute(struct store_check_stats *st, int64_t now_ms, int64_t hour_start,
                      int64_t ts, int64_t n, int64_t f, int64_t avg_us, int64_t p95_us)
{
    /* Minutes before the open hour were counted with their hour. */
    for (int w = 0; w < STATS_WINDOWS; w++) {
        if (ts >= hour_start && ts >= rec_stats_window_start(now_ms, w)) {
            stats_add(st, w, n, f);
        }
    }
    if (ts >= now_ms - HOUR_MS && p95_us > st->p95_1h_us) {
        st->p95_1h_us = p95_us;
    }
    int64_t spark_from = (now_ms / MINUTE_MS - STORE_SPARK_MINUTES) * MINUTE_MS;
    if (ts >= spark_from) {
        size_t m = (size_t)((ts - spark_from) / MINUTE_MS);
        if (m < STORE_SPARK_MINUTES) {
            st->spark[m] = avg_us;
        }
    }
}

const char *rec_rollup_table(enum store_granularity g)
{
    return g == STORE_MINUTE ? "rollups_minute" : g == STORE_HOUR ? "rollups_hour" : "rollups_day";
}
