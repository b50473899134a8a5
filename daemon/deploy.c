/* deploy.c - validating, storing and announcing a deploy. */
#include "deploy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "daemon.h"
#include "store.h"
#include "util.h"
#include "verify.h"

static bool one_of(const char *s, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(s, *set) == 0) {
            return true;
        }
    }
    return false;
}

int deploy_validate(const struct deploy *p, char *why, size_t len)
{
    static const char *const statuses[] = {"started", "succeeded", "failed", NULL};
    const struct {
        const char *key, *val;
        size_t max;
        bool required;
    } f[] = {
        {"app", p->app, DEPLOY_FIELD_MAX, true},
        {"env", p->env, DEPLOY_FIELD_MAX, true},
        {"version", p->version, DEPLOY_FIELD_MAX, true},
        {"commit", p->commit, DEPLOY_FIELD_MAX, false},
        {"author", p->author, DEPLOY_FIELD_MAX, false},
        {"source", p->source, DEPLOY_FIELD_MAX, false},
        {"url", p->url, DEPLOY_TEXT_MAX, false},
        {"description", p->description, DEPLOY_TEXT_MAX, false},
        {"id", p->ext_id, DEPLOY_FIELD_MAX, false},
        {"ref", p->ref, DEPLOY_FIELD_MAX, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        if (f[i].val == NULL && f[i].required) {
            snprintf(why, len, "%s: missing", f[i].key);
            return -EINVAL;
        }
        if (f[i].val == NULL) {
            continue;
        }
        if (f[i].val[0] == '\0' && f[i].required) {
            snprintf(why, len, "%s: must not be empty", f[i].key);
            return -EINVAL;
        }
        if (strlen(f[i].val) > f[i].max) {
            snprintf(why, len, "%s: longer than %zu bytes", f[i].key, f[i].max);
            return -EINVAL;
        }
    }
    if (p->status != NULL && !one_of(p->status, statuses)) {
        snprintf(why, len, "status: %s is not one of started, succeeded, failed", p->status);
        return -EINVAL;
    }
    if (p->started_ms < 0 || p->finished_ms < 0) {
        snprintf(why, len, "started and finished are times since 1970");
        return -EINVAL;
    }
    return 0;
}

/* A status's place in the order it may move in; -1 for none. */
static int status_rank(const char *status)
{
    static const char *const order[] = {"started", "succeeded", "failed"};
    for (int i = 0; status != NULL && i < (int)(ARRAY_SIZE(order)); i++) {
        if (strcmp(status, order[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static void note_recent(struct deploys *ds, const struct deploy *dep);

/* Record a new deploy (no sender's id to match). */
int deploy_record(struct daemon *d, struct deploy *dep, char *why, size_t whylen)
{
    enum deploy_outcome outcome;
    return deploy_upsert(d, dep, NULL, &outcome, why, whylen);
}

/* Record dep, new or as a forward update of stored. */
int deploy_upsert(struct daemon *d, struct deploy *dep, const struct deploy *stored,
                  enum deploy_outcome *outcome, char *why, size_t whylen)
{
    int rc = deploy_validate(dep, why, whylen);
    if (rc < 0) {
        return rc;
    }
    int64_t now = daemon_now_ms();
    if (dep->status == NULL) {
        dep->status = "succeeded";
    }
    if (dep->source == NULL) {
        dep->source = "cli";
    }
    bool was_started = true;    /* counted when it fails from here */
    *outcome = DEPLOY_CREATED;
    if (stored != NULL) {
        if (strcmp(stored->app, dep->app) != 0) {
            snprintf(why, whylen, "id %s is taken by another app's deploy", dep->ext_id);
            return -EEXIST;
        }
        dep->id = stored->id;
        if (status_rank(dep->status) <= status_rank(stored->status)) {
            /* Older or repeated: the stored deploy stands as it is. */
            *outcome = DEPLOY_UNCHANGED;
            dep->env = stored->env;
            dep->version = stored->version;
            dep->status = stored->status;
            return 0;
        }
        *outcome = DEPLOY_MOVED;
        was_started = strcmp(stored->status, "started") == 0;
        dep->started_ms = stored->started_ms;
        const char **mine[] = {&dep->commit, &dep->author, &dep->url, &dep->description,
                               &dep->ref};
        const char *const theirs[] = {stored->commit, stored->author, stored->url,
                                      stored->description, stored->ref};
        for (size_t i = 0; i < ARRAY_SIZE(mine); i++) {
            *mine[i] = *mine[i] != NULL ? *mine[i] : theirs[i];
        }
    }
    if (dep->started_ms <= 0) {
        dep->started_ms = now;
    }
    if (dep->finished_ms <= 0 && strcmp(dep->status, "started") != 0) {
        dep->finished_ms = now;
    }
    dep->id = store_put_deploy(d->store, dep);
    if (dep->id <= 0) {
        snprintf(why, whylen, "the store cannot keep the deploy: %s",
                 d->store->errstr[0] != '\0' ? d->store->errstr : "write failed");
        return -EIO;
    }
    if (dep->ext_id != NULL) {
        note_recent(d->deploys, dep);
    }

    /* Counted once it has a verdict (verify.c), or when it fails before
     * it succeeded (a succeeded one is counted by its verdict). */
    deploy_track(d, dep, was_started && strcmp(dep->status, "failed") == 0);

    char msg[DEPLOY_FIELD_MAX * 4 + 64];
    snprintf(msg, sizeof(msg), "deploy %s/%s %s%s%s (%s)", dep->app, dep->env, dep->version,
             dep->author ? " by " : "", dep->author ? dep->author : "", dep->status);
    char data[64];
    snprintf(data, sizeof(data), "{\"deploy_id\":%lld}", (long long)dep->id);
    struct event ev = {.ts_ms = now,
                       .type = "deploy",
                       .app = dep->app,
                       .env = dep->env,
                       .message = msg,
                       .data = data};
    daemon_emit_event(d, &ev);
    verify_on_deploy(d, dep);
    alert_on_deploy(d, dep);
    return 0;
}

static bool eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static char *dup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* A deploy recorded with a sender's id, its strings owned. */
struct deploy_seen {
    struct deploy dep;
    char *s[5];                 /* app, env, version, status, ext_id */
};

/* The deploy tables: counts since start and each app-env's last deploy;
 * the deploys recorded lately with a sender's id, a ring. */
struct deploys {
    struct deploy_count *counts;
    size_t ncounts;
    struct deploy_last *lasts;
    size_t nlasts;
    struct deploy_seen recent[DEPLOY_RECENT];
    size_t next_recent;
};

/* Free what a recent deploy owns. */
static void seen_free(struct deploy_seen *e)
{
    for (size_t i = 0; i < ARRAY_SIZE(e->s); i++) {
        free(e->s[i]);
        e->s[i] = NULL;
    }
    e->dep = (struct deploy){0};
}

/* Note dep as the deploy of its sender's id, replacing what was noted. */
static void note_recent(struct deploys *ds, const struct deploy *dep)
{
    if (ds == NULL) {
        return;
    }
    struct deploy_seen *e = NULL;
    for (size_t i = 0; i < DEPLOY_RECENT && e == NULL; i++) {
        if (ds->recent[i].dep.ext_id != NULL && strcmp(ds->recent[i].dep.ext_id, dep->ext_id) == 0) {
            e = &ds->recent[i];
        }
    }
    if (e == NULL) {
        e = &ds->recent[ds->next_recent];
        ds->next_recent = (ds->next_recent + 1) % DEPLOY_RECENT;
    }
    /* Copies first: dep's strings may be e's own. */
    const char *from[] = {dep->app, dep->env, dep->version, dep->status, dep->ext_id};
    char *s[ARRAY_SIZE(e->s)];
    bool ok = true;
    for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
        ok = (s[i] = strdup(from[i])) != NULL && ok;
    }
    int64_t id = dep->id;
    seen_free(e);
    for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
        e->s[i] = s[i];
    }
    if (!ok) {
        seen_free(e);
        return;
    }
    e->dep = (struct deploy){.id = id, .app = e->s[0], .env = e->s[1], .version = e->s[2],
                             .status = e->s[3], .ext_id = e->s[4]};
}

/* The deploy noted under ext_id, or NULL. */
const struct deploy *deploy_recent(const struct daemon *d, const char *ext_id)
{
    const struct deploys *ds = d->deploys;
    for (size_t i = 0; ds != NULL && ext_id != NULL && i < DEPLOY_RECENT; i++) {
        if (ds->recent[i].dep.ext_id != NULL && strcmp(ds->recent[i].dep.ext_id, ext_id) == 0) {
            return &ds->recent[i].dep;
        }
    }
    return NULL;
}

/* Empty tables; NULL on ENOMEM. */
struct deploys *deploys_create(void)
{
    return calloc(1, sizeof(struct deploys));
}

/* Free the tables and every string in them. */
void deploys_destroy(struct deploys *ds)
{
    if (ds == NULL) {
        return;
    }
    for (size_t i = 0; i < ds->ncounts; i++) {
        free(ds->counts[i].app);
        free(ds->counts[i].env);
        free(ds->counts[i].verdict);
    }
    free(ds->counts);
    for (size_t i = 0; i < ds->nlasts; i++) {
        free(ds->lasts[i].app);
        free(ds->lasts[i].env);
        free(ds->lasts[i].version);
        free(ds->lasts[i].succeeded_version);
    }
    free(ds->lasts);
    for (size_t i = 0; i < DEPLOY_RECENT; i++) {
        seen_free(&ds->recent[i]);
    }
    free(ds);
}

/* The deploys counted since start, *n of them. */
const struct deploy_count *deploys_counts(const struct deploys *ds, size_t *n)
{
    *n = ds != NULL ? ds->ncounts : 0;
    return ds != NULL ? ds->counts : NULL;
}

/* The last deploy of every app and env seen, *n of them. */
const struct deploy_last *deploys_lasts(const struct deploys *ds, size_t *n)
{
    *n = ds != NULL ? ds->nlasts : 0;
    return ds != NULL ? ds->lasts : NULL;
}

/* Count dep (when count is set) and note it as its app-env's last. */
void deploy_track(struct daemon *d, const struct deploy *dep, bool count)
{
    struct deploys *ds = d->deploys;
    if (ds == NULL) {
        return;
    }
    if (count) {
        const char *verdict = dep->verdict != NULL ? dep->verdict : "none";
        size_t i = 0;
        while (i < ds->ncounts &&
               !(eq(ds->counts[i].app, dep->app) && eq(ds->counts[i].env, dep->env) &&
                 eq(ds->counts[i].verdict, verdict))) {
            i++;
        }
        if (i == ds->ncounts) {
            struct deploy_count *v = realloc(ds->counts, (ds->ncounts + 1) * sizeof(*v));
            if (v == NULL) {
                return;
            }
            ds->counts = v;
            v[i] = (struct deploy_count){dup(dep->app), dup(dep->env), dup(verdict), 0};
            ds->ncounts++;
        }
        ds->counts[i].count++;
    }
    size_t i = 0;
    while (i < ds->nlasts &&
           !(eq(ds->lasts[i].app, dep->app) && eq(ds->lasts[i].env, dep->env))) {
        i++;
    }
    if (i == ds->nlasts) {
        struct deploy_last *v = realloc(ds->lasts, (ds->nlasts + 1) * sizeof(*v));
        if (v == NULL) {
            return;
        }
        ds->lasts = v;
        v[i] = (struct deploy_last){dup(dep->app), dup(dep->env), NULL, 0, NULL, 0};
        ds->nlasts++;
    }
    struct deploy_last *l = &ds->lasts[i];
    if (dep->started_ms >= l->started_ms) {
        free(l->version);
        l->version = dup(dep->version);
        l->started_ms = dep->started_ms;
    }
    if (dep->status != NULL && strcmp(dep->status, "succeeded") == 0 &&
        dep->started_ms >= l->succeeded_ms) {
        free(l->succeeded_version);
        l->succeeded_version = dup(dep->version);
        l->succeeded_ms = dep->started_ms;
    }
}

/* app/env's last succeeded version, or NULL. */
const char *deploy_succeeded_version(const struct daemon *d, const char *app, const char *env)
{
    size_t n;
    const struct deploy_last *lasts = deploys_lasts(d->deploys, &n);
    for (size_t i = 0; app != NULL && i < n; i++) {
        if (eq(lasts[i].app, app) && eq(lasts[i].env, env)) {
            return lasts[i].succeeded_version;
        }
    }
    return NULL;
}
