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
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
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

int deploy_record(struct daemon *d, struct deploy *dep, char *why, size_t whylen)
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
    if (dep->started_ms <= 0) {
        dep->started_ms = now;
    }
    if (dep->finished_ms <= 0 && strcmp(dep->status, "started") != 0) {
        dep->finished_ms = now;
    }
    bool is_new = dep->id == 0;
    dep->id = store_put_deploy(d->store, dep);
    if (dep->id <= 0) {
        snprintf(why, whylen, "the store did not accept the deploy");
        return -EIO;
    }

    /* Counted once it has a verdict (verify.c), or now when it failed. */
    if (is_new && strcmp(dep->status, "failed") == 0) {
        deploy_track(d, dep, true);
    } else {
        deploy_track(d, dep, false);
    }

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

void deploy_track(struct daemon *d, const struct deploy *dep, bool count)
{
    if (count) {
        const char *verdict = dep->verdict != NULL ? dep->verdict : "none";
        size_t i = 0;
        while (i < d->ndeploy_counts &&
               !(eq(d->deploy_counts[i].app, dep->app) && eq(d->deploy_counts[i].env, dep->env) &&
                 eq(d->deploy_counts[i].verdict, verdict))) {
            i++;
        }
        if (i == d->ndeploy_counts) {
            struct deploy_count *v =
                realloc(d->deploy_counts, (d->ndeploy_counts + 1) * sizeof(*v));
            if (v == NULL) {
                return;
            }
            d->deploy_counts = v;
            v[i] = (struct deploy_count){dup(dep->app), dup(dep->env), dup(verdict), 0};
            d->ndeploy_counts++;
        }
        d->deploy_counts[i].count++;
    }
    size_t i = 0;
    while (i < d->ndeploy_lasts &&
           !(eq(d->deploy_lasts[i].app, dep->app) && eq(d->deploy_lasts[i].env, dep->env))) {
        i++;
    }
    if (i == d->ndeploy_lasts) {
        struct deploy_last *v = realloc(d->deploy_lasts, (d->ndeploy_lasts + 1) * sizeof(*v));
        if (v == NULL) {
            return;
        }
        d->deploy_lasts = v;
        v[i] = (struct deploy_last){dup(dep->app), dup(dep->env), NULL, 0, NULL, 0};
        d->ndeploy_lasts++;
    }
    struct deploy_last *l = &d->deploy_lasts[i];
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

const char *deploy_succeeded_version(const struct daemon *d, const char *app, const char *env)
{
    for (size_t i = 0; app != NULL && i < d->ndeploy_lasts; i++) {
        if (eq(d->deploy_lasts[i].app, app) && eq(d->deploy_lasts[i].env, env)) {
            return d->deploy_lasts[i].succeeded_version;
        }
    }
    return NULL;
}

void deploy_track_free(struct daemon *d)
{
    for (size_t i = 0; i < d->ndeploy_counts; i++) {
        free(d->deploy_counts[i].app);
        free(d->deploy_counts[i].env);
        free(d->deploy_counts[i].verdict);
    }
    free(d->deploy_counts);
    d->deploy_counts = NULL;
    d->ndeploy_counts = 0;
    for (size_t i = 0; i < d->ndeploy_lasts; i++) {
        free(d->deploy_lasts[i].app);
        free(d->deploy_lasts[i].env);
        free(d->deploy_lasts[i].version);
        free(d->deploy_lasts[i].succeeded_version);
    }
    free(d->deploy_lasts);
    d->deploy_lasts = NULL;
    d->ndeploy_lasts = 0;
}
