/* verify.c - post-deploy windows and verdicts (rules in verify.h). */
#include "util.h"
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "http.h"
#include "log.h"
#include "sched.h"
#include "store.h"

/* A deploy's fields, owned: the window re-stores the deploy with its verdict. */
struct owned_deploy {
    struct deploy dep;
    char *s[12];
};

/* A check of the app-env as the window sees it. */
struct watched {
    char *name;
    bool down_before;           /* down since before the deploy started: its
                                   results are not the deploy's doing until
                                   it leaves down */
    int bad_in_a_row;           /* results not up in a row, in the window */
};

struct verify_window {
    struct owned_deploy od;
    int64_t ends_ms;            /* the window's end, by d->clock */
    int64_t results, failures;  /* evidence: results of checks not down before */
    char *first_failing;        /* the first check with a result not up */
    struct watched *watched;    /* the app-env's checks, from the window's start */
    size_t nwatched;
    bool no_checks;             /* the app-env had none: judged at once */
    struct verify_window *next;
};

/* The last healthy version of each app-env. */
struct healthy {
    char *app, *env, *version;
    int64_t id;
    struct healthy *next;
};

/* The last deploy verified in each app-env, kept after its window: an
 * alert whose check went down while it was being verified names it. */
struct verified {
    char *app, *env, *version, *author;
    int64_t id;
    int64_t started_ms;         /* the deploy's start */
    int64_t ended_ms;           /* its window's end by d->clock; 0 while it runs */
    struct verified *next;
};

/* This module's state, one per daemon (d->verifier). */
struct verifier {
    struct daemon *d;
    struct verify_window *windows;  /* post-deploy verifications running */
    struct healthy *healthy;        /* last healthy version per app-env */
    struct verified *verified;      /* last deploy verified per app-env */
    uv_timer_t timer;               /* at the nearest window's end */
    bool timer_ready;               /* timer initialized (at the first window) */
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
    while (v->verified != NULL) {
        struct verified *x = v->verified;
        v->verified = x->next;
        free(x->app);
        free(x->env);
        free(x->version);
        free(x->author);
        free(x);
    }
    free(v);
}

/* A copy of s, or NULL for NULL (or on ENOMEM). */
static char *dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Equal strings, NULL being "". */
static bool eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* Copy dep into o with its strings; no verdict fields. */
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

/* Free the strings own() copied. */
static void disown(struct owned_deploy *o)
{
    for (size_t i = 0; i < ARRAY_SIZE(o->s); i++) {
        free(o->s[i]);
    }
}

/* Whether c is a live check of app/env. */
static bool of_app_env(const struct check *c, const char *app, const char *env)
{
    return !c->removed && c->conf != NULL && eq(c->conf->app, app) && eq(c->conf->env, env);
}

/* Run the app-env's checks at interval_ms, or at their own interval when
 * it is shorter (verification never slows a check down); 0 gives each its
 * own back. Only a check whose cadence changes is rescheduled. */
static void set_cadence(struct daemon *d, const char *app, const char *env, int64_t interval_ms)
{
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *c = d->checks[i];
        if (!of_app_env(c, app, env) || c->paused) {
            continue;
        }
        int64_t iv = interval_ms < c->conf->interval_ms ? interval_ms : 0;
        if (iv != c->interval_override_ms) {
            sched_set_interval(d->sched, c, iv);
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

/* Note dep as its app-env's deploy being verified (ended_ms 0), or whose
 * window ended at ended_ms; a newer deploy's record is kept. */
static void note_verified(struct verifier *v, const struct deploy *dep, int64_t ended_ms)
{
    struct verified *x = v->verified;
    while (x != NULL && !(eq(x->app, dep->app) && eq(x->env, dep->env))) {
        x = x->next;
    }
    if (x != NULL && x->id > dep->id) {
        return;
    }
    if (x != NULL && x->id == dep->id) {
        x->ended_ms = ended_ms;
        return;
    }
    if (x == NULL) {
        if ((x = calloc(1, sizeof(*x))) == NULL) {
            return;
        }
        x->app = dup(dep->app);
        x->env = dup(dep->env);
        x->next = v->verified;
        v->verified = x;
    }
    free(x->version);
    free(x->author);
    x->version = dup(dep->version);
    x->author = dup(dep->author);
    x->id = dep->id;
    x->started_ms = dep->started_ms;
    x->ended_ms = ended_ms;
}

/* The deploy c's present state is blamed on (see verify.h). */
bool verify_blame(const struct daemon *d, const struct check *c, struct verify_blame *out)
{
    if (d->verifier == NULL || c->conf == NULL) {
        return false;
    }
    for (const struct verified *x = d->verifier->verified; x != NULL; x = x->next) {
        if (!eq(x->app, c->conf->app) || !eq(x->env, c->conf->env)) {
            continue;
        }
        if (x->started_ms <= 0 || c->state_since_ms < x->started_ms ||
            (x->ended_ms != 0 && c->state_since_ms > x->ended_ms)) {
            return false;
        }
        *out = (struct verify_blame){.id = x->id,
                                     .started_ms = x->started_ms,
                                     .version = x->version,
                                     .author = x->author,
                                     .last_healthy = verify_last_healthy(d, x->app, x->env)};
        return true;
    }
    return false;
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

static void on_timer(uv_timer_t *t);

/* Free a window that is off the list. */
static void window_free(struct verify_window *w)
{
    disown(&w->od);
    free(w->first_failing);
    for (size_t i = 0; i < w->nwatched; i++) {
        free(w->watched[i].name);
    }
    free(w->watched);
    free(w);
}

/* w's view of check name, added when new (a reload added the check during
 * the window); NULL on ENOMEM. */
static struct watched *watch(struct verify_window *w, const char *name)
{
    for (size_t i = 0; i < w->nwatched; i++) {
        if (strcmp(w->watched[i].name, name) == 0) {
            return &w->watched[i];
        }
    }
    struct watched *v = realloc(w->watched, (w->nwatched + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    w->watched = v;
    struct watched *x = &v[w->nwatched];
    *x = (struct watched){.name = strdup(name)};
    if (x->name == NULL) {
        return NULL;
    }
    w->nwatched++;
    return x;
}

/* Whether w holds c down since before its deploy (not to be blamed). */
static bool excused(const struct verify_window *w, const struct check *c)
{
    for (size_t i = 0; i < w->nwatched; i++) {
        if (strcmp(w->watched[i].name, c->conf->name) == 0) {
            return w->watched[i].down_before;
        }
    }
    return false;
}

/* Note the app-env's checks at the window's start: which were down
 * before the deploy started. The number of checks. */
static size_t watch_checks(struct daemon *d, struct verify_window *w)
{
    const struct deploy *dep = &w->od.dep;
    int64_t started = dep->started_ms > 0 ? dep->started_ms : clock_now_ms(d->clock);
    size_t n = 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        if (!of_app_env(c, dep->app, dep->env)) {
            continue;
        }
        n++;
        struct watched *x = watch(w, c->conf->name);
        if (x != NULL) {
            x->down_before = c->state == STATE_DOWN && c->state_since_ms < started;
        }
    }
    return n;
}

/* Arm the timer for the nearest window's end by d->clock, or stop it. */
static void arm(struct verifier *v)
{
    if (!v->timer_ready) {
        return;
    }
    if (v->windows == NULL) {
        uv_timer_stop(&v->timer);
        return;
    }
    int64_t next = v->windows->ends_ms;
    for (const struct verify_window *w = v->windows->next; w != NULL; w = w->next) {
        if (w->ends_ms < next) {
            next = w->ends_ms;
        }
    }
    int64_t delay = next - clock_now_ms(v->d->clock);
    uv_timer_start(&v->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* ", name" of every check w holds down since before the deploy, after
 * the words that say so; "" when there is none. */
static void excuses(const struct verify_window *w, char *buf, size_t len)
{
    size_t n = 0, at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < w->nwatched; i++) {
        if (!w->watched[i].down_before) {
            continue;
        }
        int k = snprintf(buf + at, len - at, "%s%s", n > 0 ? ", " : " (", w->watched[i].name);
        if (k < 0 || (size_t)k >= len - at) {
            buf[0] = '\0';
            return;
        }
        at += (size_t)k;
        n++;
    }
    if (n > 0) {
        snprintf(buf + at, len - at, " %s down before the deploy)", n > 1 ? "were" : "was");
    }
}

/* Judge w's deploy, store and announce the verdict, end the window;
 * cut_short says why it ends early (NULL: the window ran out), and
 * went_down is the check that failed it early (NULL: none). A verdict
 * needs evidence: a check down at the end is failed, no result at all is
 * unverified, never healthy; a check down since before the deploy started
 * is not blamed. The write carries the verdict only: the store keeps a
 * status that moved on meanwhile. */
static void judge(struct daemon *d, struct verify_window *w, const char *cut_short,
                  const struct check *went_down)
{
    struct verifier *v = d->verifier;
    struct deploy *dep = &w->od.dep;
    const char *down = went_down != NULL ? went_down->conf->name : NULL;
    for (size_t i = 0; down == NULL && i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        if (of_app_env(c, dep->app, dep->env) && c->state == STATE_DOWN && !excused(w, c)) {
            down = c->conf->name;
        }
    }
    const char *verdict = down != NULL      ? "failed"
                          : w->results == 0 ? "unverified"
                          : w->failures > 0 ? "degraded"
                                            : "healthy";
    const char *rollback = down != NULL ? verify_last_healthy(d, dep->app, dep->env) : NULL;
    char cut[128] = "", early[128] = "", before[256];
    if (cut_short != NULL) {
        snprintf(cut, sizeof(cut), " (window cut short: %s)", cut_short);
    }
    if (went_down != NULL) {
        const struct watched *x = watch(w, went_down->conf->name);
        int n = x != NULL ? x->bad_in_a_row : went_down->conf->failure_threshold;
        if (n > 1) {
            snprintf(early, sizeof(early), " (%d bad results in a row in the window;", n);
        } else {
            snprintf(early, sizeof(early), " (a bad result in the window;");
        }
        snprintf(early + strlen(early), sizeof(early) - strlen(early),
                 " judged before the window ended)");
    }
    excuses(w, before, sizeof(before));
    char reason[512];
    if (down != NULL) {
        snprintf(reason, sizeof(reason), "%s is down after the deploy%s%s%s", down, early, cut,
                 before);
    } else if (w->no_checks) {
        snprintf(reason, sizeof(reason), "no result: %s/%s has no checks", dep->app, dep->env);
    } else if (w->results == 0) {
        snprintf(reason, sizeof(reason), "no result in the window%s%s", cut, before);
    } else {
        snprintf(reason, sizeof(reason), "%lld of %lld results in the window not up%s%s",
                 (long long)w->failures, (long long)w->results, cut, before);
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
    struct event ev = {.ts_ms = clock_now_ms(d->clock),
                       .type = "deploy.verdict",
                       .check = failing,
                       .app = dep->app,
                       .env = dep->env,
                       .message = msg,
                       .data = data};
    daemon_emit_event(d, &ev);
    http_deploy_verdict(d->http, dep);     /* GET ?wait= answered at once */
    alert_on_deploy(d, dep);
    free(failing);
    free(rb);
    dep->verdict = dep->verdict_reason = dep->failing_check = dep->rollback_version = NULL;

    set_cadence(d, dep->app, dep->env, 0);
    note_verified(v, dep, clock_now_ms(d->clock));
    for (struct verify_window **p = &v->windows; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    window_free(w);
    arm(v);
}

/* Judge the windows whose end has passed by d->clock. */
void verify_tick(struct daemon *d)
{
    struct verifier *v = d->verifier;
    if (v == NULL) {
        return;
    }
    int64_t now = clock_now_ms(d->clock);
    for (struct verify_window *w = v->windows, *next; w != NULL; w = next) {
        next = w->next;
        if (w->ends_ms <= now) {
            judge(d, w, NULL, NULL);
        }
    }
    arm(v);
}

/* The timer at the nearest window's end. */
static void on_timer(uv_timer_t *t)
{
    verify_tick(t->data);
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
            judge(d, w, "a newer deploy succeeded", NULL);
        } else if (w->od.dep.id == dep->id && failed) {
            w->od.dep.status = "failed";    /* a literal: own() keeps its copy in s[] */
            judge(d, w, "the deploy failed", NULL);
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
    if (!v->timer_ready) {
        if (uv_timer_init(d->loop, &v->timer) < 0) {
            free(w);
            log_error(LOG_KV("app", dep->app), "no timer: deploy not verified");
            return;
        }
        v->d = d;
        v->timer.data = d;
        v->timer_ready = true;
    }
    own(&w->od, dep);
    note_verified(v, dep, 0);
    w->ends_ms = clock_now_ms(d->clock) + window;
    w->next = v->windows;
    v->windows = w;
    if (watch_checks(d, w) == 0) {
        /* Nothing will ever report: no evidence, at once. */
        w->no_checks = true;
        judge(d, w, NULL, NULL);
        return;
    }
    w->od.dep.verdict = "pending";
    store_put_deploy(d->store, &w->od.dep);
    w->od.dep.verdict = NULL;
    arm(v);
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
    for (struct verify_window *w = d->verifier->windows, *next; w != NULL; w = next) {
        next = w->next;
        if (!of_app_env(c, w->od.dep.app, w->od.dep.env)) {
            continue;
        }
        struct watched *x = watch(w, c->conf->name);
        if (x != NULL && x->down_before) {
            if (c->state == STATE_DOWN) {
                continue;       /* still down since before: not evidence */
            }
            x->down_before = false;
        }
        w->results++;
        if (r->outcome == STATE_UP) {
            if (x != NULL) {
                x->bad_in_a_row = 0;
            }
            continue;
        }
        w->failures++;
        if (w->first_failing == NULL) {
            w->first_failing = dup(c->conf->name);
        }
        if (x == NULL) {
            continue;
        }
        x->bad_in_a_row++;
        /* Down, and for its failure-threshold within the window: failed
         * now, not at the window's end. */
        if (c->state == STATE_DOWN && x->bad_in_a_row >= c->conf->failure_threshold) {
            judge(d, w, NULL, c);
        }
    }
}

/* End every window without a verdict (shutdown). */
void verify_finish(struct daemon *d)
{
    struct verifier *v = d->verifier;
    if (v == NULL) {
        return;
    }
    while (v->windows != NULL) {
        struct verify_window *w = v->windows;
        v->windows = w->next;
        /* Left pending: the daemon stops before the window ends. */
        window_free(w);
    }
    if (v->timer_ready) {
        uv_close((uv_handle_t *)&v->timer, NULL);
        v->timer_ready = false;
    }
}
