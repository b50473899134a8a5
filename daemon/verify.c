/* verify.c - post-deploy windows and verdicts (rules in verify.h). */
#include "util.h"
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "log.h"
#include "sched.h"
#include "store.h"

/* A deploy's fields, owned: the window re-stores the deploy with its verdict. */
struct owned_deploy {
    struct deploy dep;
    char *s[12];
};

struct verify_window {
    struct daemon *d;
    struct owned_deploy od;
    uv_timer_t timer;
    int64_t results, failures;
    char *first_failing;        /* the first check with a result not up */
    struct verify_window *next;
};

/* The last healthy version of each app-env. */
struct healthy {
    char *app, *env, *version;
    int64_t id;
    struct healthy *next;
};

/* This module's state, one per daemon (d->verifier). */
struct verifier {
    struct verify_window *windows;  /* post-deploy verifications running */
    struct healthy *healthy;        /* last healthy version per app-env */
};

/* No windows, no healthy versions; NULL on ENOMEM. */
struct verifier *verifier_create(void)
{
    return calloc(1, sizeof(struct verifier));
}

/* Free the healthy versions and v; its windows were ended by verify_finish. */
void verifier_destroy(struct verifier *v)
{
    if (v == NULL) {
        return;
    }
    while (v->healthy != NULL) {
        struct healthy *h = v->healthy;
        v->healthy = h->next;
        free(h->app);
        free(h->env);
        free(h->version);
        free(h);
    }
    free(v);
}

static char *dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static bool eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void own(struct owned_deploy *o, const struct deploy *dep)
{
    o->dep = *dep;
    const char **f[] = {&o->dep.app, &o->dep.env, &o->dep.version, &o->dep.commit,
                        &o->dep.author, &o->dep.source, &o->dep.url, &o->dep.description,
                        &o->dep.status, &o->dep.ext_id, &o->dep.verdict, &o->dep.ref};
    for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
        o->s[i] = dup(*f[i]);
        *f[i] = o->s[i];
    }
    o->dep.verdict_reason = o->dep.failing_check = o->dep.rollback_version = NULL;
}

static void disown(struct owned_deploy *o)
{
    for (size_t i = 0; i < ARRAY_SIZE(o->s); i++) {
        free(o->s[i]);
    }
}

static bool of_app_env(const struct check *c, const char *app, const char *env)
{
    return !c->removed && c->conf != NULL && eq(c->conf->app, app) && eq(c->conf->env, env);
}

/* Set the app-env's checks to interval_ms (0: their own). */
static void set_cadence(struct daemon *d, const char *app, const char *env, int64_t interval_ms)
{
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *c = d->checks[i];
        if (of_app_env(c, app, env) && !c->paused) {
            sched_set_interval(d->sched, c, interval_ms);
        }
    }
}

/* The last healthy version of app/env as known, or NULL. */
const char *verify_last_healthy(const struct daemon *d, const char *app, const char *env)
{
    if (d->verifier == NULL) {
        return NULL;
    }
    for (const struct healthy *h = d->verifier->healthy; h != NULL; h = h->next) {
        if (eq(h->app, app) && eq(h->env, env)) {
            return h->version;
        }
    }
    return NULL;
}

/* Note dep as its app-env's last healthy version unless a newer one is. */
static void set_healthy(struct daemon *d, const struct deploy *dep)
{
    struct verifier *v = d->verifier;
    struct healthy *h = v->healthy;
    while (h != NULL && !(eq(h->app, dep->app) && eq(h->env, dep->env))) {
        h = h->next;
    }
    if (h == NULL) {
        if ((h = calloc(1, sizeof(*h))) == NULL) {
            return;
        }
        h->app = dup(dep->app);
        h->env = dup(dep->env);
        h->next = v->healthy;
        v->healthy = h;
    } else if (h->id > dep->id) {
        return;     /* a newer healthy one is known */
    }
    free(h->version);
    h->version = dup(dep->version);
    h->id = dep->id;
}

/* A stored deploy's verdict at start-up. */
void verify_note_stored(struct daemon *d, const struct deploy *dep)
{
    if (d->verifier != NULL && dep->verdict != NULL && strcmp(dep->verdict, "healthy") == 0) {
        set_healthy(d, dep);
    }
}

static void on_window_closed(uv_handle_t *h)
{
    struct verify_window *w = h->data;
    disown(&w->od);
    free(w->first_failing);
    free(w);
}

/* Judge w's deploy, store and announce the verdict, end the window;
 * cut_short says why it ends early (NULL: the window ran out). A verdict
 * needs evidence: a check down at the end is failed, no result at all is
 * unverified, never healthy. The write carries the verdict only: the
 * store keeps a status that moved on meanwhile. */
static void judge(struct verify_window *w, const char *cut_short)
{
    struct daemon *d = w->d;
    struct deploy *dep = &w->od.dep;
    const char *down = NULL;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        if (of_app_env(c, dep->app, dep->env) && c->state == STATE_DOWN) {
            down = c->conf->name;
            break;
        }
    }
    const char *verdict = down != NULL      ? "failed"
                          : w->results == 0 ? "unverified"
                          : w->failures > 0 ? "degraded"
                                            : "healthy";
    const char *rollback = down != NULL ? verify_last_healthy(d, dep->app, dep->env) : NULL;
    char cut[128] = "";
    if (cut_short != NULL) {
        snprintf(cut, sizeof(cut), " (window cut short: %s)", cut_short);
    }
    char reason[512];
    if (down != NULL) {
        snprintf(reason, sizeof(reason), "%s is down after the deploy%s", down, cut);
    } else if (w->results == 0) {
        snprintf(reason, sizeof(reason), "no result in the window%s", cut);
    } else {
        snprintf(reason, sizeof(reason), "%lld of %lld results in the window not up%s",
                 (long long)w->failures, (long long)w->results, cut);
    }
    char *failing = dup(down != NULL ? (w->first_failing ? w->first_failing : down) : NULL);
    char *rb = dup(rollback);
    dep->verdict = verdict;
    dep->verdict_reason = reason;
    dep->failing_check = failing;
    dep->rollback_version = rb;
    store_put_deploy(d->store, dep);
    if (strcmp(verdict, "healthy") == 0) {
        set_healthy(d, dep);
    }
    deploy_track(d, dep, true);

    char msg[1024], data[256];
    snprintf(msg, sizeof(msg), "deploy %s/%s %s verdict %s: %s%s%s", dep->app, dep->env,
             dep->version, verdict, reason, rb != NULL ? "; roll back to " : "",
             rb != NULL ? rb : "");
    snprintf(data, sizeof(data), "{\"deploy_id\":%lld,\"verdict\":\"%s\"}", (long long)dep->id,
             verdict);
    struct event ev = {.ts_ms = daemon_now_ms(),
                       .type = "deploy.verdict",
                       .check = failing,
                       .app = dep->app,
                       .env = dep->env,
                       .message = msg,
                       .data = data};
    daemon_emit_event(d, &ev);
    alert_on_deploy(d, dep);
    free(failing);
    free(rb);
    dep->verdict = dep->verdict_reason = dep->failing_check = dep->rollback_version = NULL;

    set_cadence(d, dep->app, dep->env, 0);
    for (struct verify_window **p = &d->verifier->windows; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&w->timer, on_window_closed);
}

static void on_window_end(uv_timer_t *t)
{
    judge(t->data, NULL);
}

/* A deploy was recorded: end its app-env's window, start one. */
void verify_on_deploy(struct daemon *d, const struct deploy *dep)
{
    struct verifier *v = d->verifier;
    if (v == NULL) {
        return;
    }
    /* A newer deploy of the app-env that succeeded ends the running
     * window (one merely started, as GitHub creates them before the job
     * runs, does not); so does the deploy's own failure. */
    bool succeeded = dep->status != NULL && strcmp(dep->status, "succeeded") == 0;
    bool failed = dep->status != NULL && strcmp(dep->status, "failed") == 0;
    for (struct verify_window *w = v->windows, *next; w != NULL; w = next) {
        next = w->next;
        if (!eq(w->od.dep.app, dep->app) || !eq(w->od.dep.env, dep->env)) {
            continue;
        }
        if (w->od.dep.id != dep->id && succeeded) {
            judge(w, "a newer deploy succeeded");
        } else if (w->od.dep.id == dep->id && failed) {
            w->od.dep.status = "failed";    /* a literal: own() keeps its copy in s[] */
            judge(w, "the deploy failed");
        }
    }
    if (dep->status == NULL || strcmp(dep->status, "succeeded") != 0 || d->draining) {
        return;
    }
    for (struct verify_window *w = v->windows; w != NULL; w = w->next) {
        if (w->od.dep.id == dep->id) {
            return;     /* already verifying this one */
        }
    }
    const struct conf_app *app = config_find_app(d->conf, dep->app);
    int64_t window = app != NULL ? app->verify_window_ms : CONFIG_DEFAULT_VERIFY_WINDOW_MS;
    int64_t interval = app != NULL ? app->verify_interval_ms : CONFIG_DEFAULT_VERIFY_INTERVAL_MS;
    struct verify_window *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        log_error(LOG_KV("app", dep->app), "out of memory: deploy not verified");
        return;
    }
    w->d = d;
    own(&w->od, dep);
    w->od.dep.verdict = "pending";
    store_put_deploy(d->store, &w->od.dep);
    w->od.dep.verdict = NULL;
    uv_timer_init(d->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_window_end, (uint64_t)window, 0);
    w->next = v->windows;
    v->windows = w;
    set_cadence(d, dep->app, dep->env, interval);
    char win[32];
    snprintf(win, sizeof(win), "%lld", (long long)window);
    log_info(LOG_KV("app", dep->app, "env", dep->env, "window_ms", win),
             "verifying deploy %s of %s/%s", dep->version, dep->app, dep->env);
}

/* Tally a result of c into its app-env's window, if one runs. */
void verify_on_result(struct daemon *d, const struct check *c, const struct result *r)
{
    if (d->verifier == NULL) {
        return;
    }
    for (struct verify_window *w = d->verifier->windows; w != NULL; w = w->next) {
        if (of_app_env(c, w->od.dep.app, w->od.dep.env)) {
            w->results++;
            if (r->outcome != STATE_UP) {
                w->failures++;
                if (w->first_failing == NULL) {
                    w->first_failing = dup(c->conf->name);
                }
            }
        }
    }
}

/* End every window without a verdict (shutdown). */
void verify_finish(struct daemon *d)
{
    struct verifier *v = d->verifier;
    while (v != NULL && v->windows != NULL) {
        struct verify_window *w = v->windows;
        v->windows = w->next;
        /* Left pending: the daemon stops before the window ends. */
        uv_close((uv_handle_t *)&w->timer, on_window_closed);
    }
}
