/* alert.c - alerts, holds, mutes and the outbox (rules in alert.h).
 *
 * The engine is level-triggered: evaluate() looks at a check as it is now
 * and opens the alerts it calls for (unless held back) and resolves those
 * it no longer calls for. It runs on each result of a check that is bad or
 * has alerts open, when a hold ends, on the one-second tick (degraded-for,
 * repeats, mutes ending) and at start over the restored states. */
#include "alert.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "duration.h"
#include "log.h"
#include "maintenance.h"
#include "notify.h"
#include "store.h"
#include "storewatch.h"
#include "util.h"
#include "verify.h"

#define TICK_MS 1000
#define FAILING_EVENT_AFTER 3       /* failures in a row before a notifier event */
#define FLAP_RING 64                /* state changes remembered per check */

enum kind {
    K_DOWN,
    K_DEGRADED,
    K_HEARTBEAT,
    K_CERT,
    K_DEPLOY,
    K_FLAPPING,
    K_COUNT,
};

/* Same order as the bits of enum alert_on and the config's names. */
static const char *const kind_names[K_COUNT] = {
    "down", "degraded", "heartbeat", "certificate", "deploy-failed", "flapping",
};

static const char *const severity_names[ALERT_NSEVERITIES] = {"info", "warning", "critical"};

/* An open alert, its strings owned. */
struct open_alert {
    struct alert a;
    enum kind kind;
    enum alert_severity sev;
    bool owed_firing;           /* the firing notification waits for a mute to end */
    bool notified;              /* a firing notification was queued */
    struct open_alert *next;
};

/* Per check, hung on struct check. */
struct alert_check {
    struct open_alert *open[K_COUNT];
    bool parent;                /* some check depends on it */
    int64_t flaps[FLAP_RING];   /* wall clock of recent state changes, a ring */
    unsigned flap_head, flap_n;
};

/* A deploy in progress quiets its app-env. */
struct quiet {
    char *app, *env;
    int64_t deploy_id;
    int64_t until_ms;
    struct quiet *next;
};

/* A notification owed. */
struct pending {
    struct outbox_item o;       /* notifier and payload owned */
    char *body;                 /* payload with o.id as its delivery_id: what is sent */
    struct notify_send *send;   /* in flight, or NULL */
    struct alerting *al;
    struct pending *next;
};

struct notifier_count {
    char *name;
    uint64_t sent, failed;
    unsigned failing;           /* failures in a row */
};

struct alerting {
    struct daemon *d;
    struct open_alert *alerts;  /* every open alert, newest first */
    struct mute *mutes;         /* not yet over, strings owned */
    size_t nmutes;
    const struct mute **mute_view;
    struct quiet *quiet;
    struct pending *outbox;     /* in id order */
    struct notifier_count *counts;
    size_t ncounts;
    uv_timer_t tick;
    uv_timer_t send_timer;
    struct storewatch store_watch;  /* rides on the tick: the store's outages */
    char held[300];
    int open_handles;           /* timers not yet closed */
    bool closing;
};

/* ------------------------------------------------------------ helpers */

static char *dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static bool eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* A matcher: NULL matches anything. */
static bool matches(const char *want, const char *have)
{
    return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

const char *alert_severity_name(enum alert_severity s)
{
    return (unsigned)s < ALERT_NSEVERITIES ? severity_names[s] : "critical";
}

int alert_severity_parse(const char *s, enum alert_severity *out)
{
    for (int i = 0; i < ALERT_NSEVERITIES; i++) {
        if (s != NULL && strcmp(s, severity_names[i]) == 0) {
            *out = (enum alert_severity)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int kind_parse(const char *s)
{
    for (int i = 0; i < K_COUNT; i++) {
        if (s != NULL && strcmp(s, kind_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

#define MUTE_STRINGS(m)                                                                       \
    {&(m)->kind, &(m)->check, &(m)->app, &(m)->env, &(m)->severity, &(m)->author, &(m)->comment}

/* Deep copies: every string duplicated. false on ENOMEM (*out freed). */
static bool copy_strings(const char **f[], size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (*f[i] != NULL && (*f[i] = strdup(*f[i])) == NULL) {
            ok = false;
        }
    }
    return ok;
}

static void free_strings(const char **f[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)*f[i]);
        *f[i] = NULL;
    }
}

static bool alert_copy(struct alert *out, const struct alert *a)
{
    *out = *a;
    const char **f[] = STORE_ALERT_STRINGS(out);
    if (!copy_strings(f, ARRAY_SIZE(f))) {
        alert_copy_finish(out);
        return false;
    }
    return true;
}

void alert_copy_finish(struct alert *a)
{
    const char **f[] = STORE_ALERT_STRINGS(a);
    free_strings(f, ARRAY_SIZE(f));
}

static bool mute_copy(struct mute *out, const struct mute *m)
{
    *out = *m;
    const char **f[] = MUTE_STRINGS(out);
    if (!copy_strings(f, ARRAY_SIZE(f))) {
        mute_copy_finish(out);
        return false;
    }
    return true;
}

void mute_copy_finish(struct mute *m)
{
    const char **f[] = MUTE_STRINGS(m);
    free_strings(f, ARRAY_SIZE(f));
}

/* Replace an owned string field. */
static void set_str(const char **field, const char *v)
{
    char *n = dup(v);
    free((char *)*field);
    *field = n;
}

static void emit(struct daemon *d, const char *type, const struct alert *a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An "alert" (or "notifier") event about a. */
static void emit(struct daemon *d, const char *type, const struct alert *a, const char *fmt, ...)
{
    char msg[600], data[160] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (a != NULL) {
        snprintf(data, sizeof(data),
                 "{\"alert_id\":%" PRId64 ",\"status\":\"%s\",\"kind\":\"%s\",\"severity\":\"%s\"}",
                 a->id, a->status, a->kind, a->severity);
    }
    struct event ev = {.ts_ms = clock_now_ms(d->clock),
                       .type = type,
                       .check = a != NULL ? a->check : NULL,
                       .app = a != NULL ? a->app : NULL,
                       .env = a != NULL ? a->env : NULL,
                       .message = msg,
                       .data = data[0] ? data : NULL};
    daemon_emit_event(d, &ev);
}

/* ------------------------------------------------------------- rules */

/* What the rules matching one alert say. */
struct route {
    bool any;                   /* some rule matches */
    enum alert_severity sev;    /* the highest */
    int64_t repeat_ms;          /* the shortest non-zero; 0 never */
    int64_t degraded_for_ms;    /* the shortest */
    int cert_days;              /* the longest */
    int flap_changes;           /* the fewest */
    int64_t flap_window_ms;     /* the longest */
};

static bool rule_matches(const struct conf_alert *r, enum kind k, const char *check,
                         const char *app, const char *env)
{
    return (r->on & (1u << k)) != 0 && matches(r->check, check) && matches(r->app, app) &&
           matches(r->env, env);
}

static struct route route_for(const struct config *conf, enum kind k, const char *check,
                              const char *app, const char *env)
{
    struct route rt = {0};
    for (size_t i = 0; i < conf->nalerts; i++) {
        const struct conf_alert *r = &conf->alerts[i];
        if (!rule_matches(r, k, check, app, env)) {
            continue;
        }
        enum alert_severity sev = ALERT_CRITICAL;
        alert_severity_parse(r->severity, &sev);
        if (!rt.any) {
            rt = (struct route){.any = true,
                                .sev = sev,
                                .repeat_ms = r->repeat_interval_ms,
                                .degraded_for_ms = r->degraded_for_ms,
                                .cert_days = r->cert_days,
                                .flap_changes = r->flap_changes,
                                .flap_window_ms = r->flap_window_ms};
            continue;
        }
        if (sev > rt.sev) {
            rt.sev = sev;
        }
        if (r->repeat_interval_ms > 0 &&
            (rt.repeat_ms == 0 || r->repeat_interval_ms < rt.repeat_ms)) {
            rt.repeat_ms = r->repeat_interval_ms;
        }
        if (r->degraded_for_ms < rt.degraded_for_ms) {
            rt.degraded_for_ms = r->degraded_for_ms;
        }
        if (r->cert_days > rt.cert_days) {
            rt.cert_days = r->cert_days;
        }
        if (r->flap_changes < rt.flap_changes) {
            rt.flap_changes = r->flap_changes;
        }
        if (r->flap_window_ms > rt.flap_window_ms) {
            rt.flap_window_ms = r->flap_window_ms;
        }
    }
    return rt;
}

/* ------------------------------------------------------------- mutes */

static bool mute_matches(const struct mute *m, const struct alert *a, int64_t now)
{
    return now >= m->starts_ms && now < m->ends_ms && matches(m->check, a->check) &&
           matches(m->app, a->app) && matches(m->env, a->env) &&
           matches(m->severity, a->severity);
}

/* Why a's notifications are held now, in buf; NULL when they are not. */
static const char *muted_by(struct alerting *al, const struct alert *a, int64_t now, char *buf,
                            size_t len)
{
    for (size_t i = 0; i < al->nmutes; i++) {
        if (mute_matches(&al->mutes[i], a, now)) {
            snprintf(buf, len, "%s %" PRId64, al->mutes[i].kind, al->mutes[i].id);
            return buf;
        }
    }
    const struct config *conf = al->d->conf;
    for (size_t i = 0; i < conf->nmaintenance; i++) {
        const struct conf_maintenance *m = &conf->maintenance[i];
        int64_t s, e;
        if (matches(m->check, a->check) && matches(m->app, a->app) && matches(m->env, a->env) &&
            maintenance_window(m, now, &s, &e)) {
            snprintf(buf, len, "maintenance %s", m->name);
            return buf;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ outbox */

static struct notifier_count *count_for(struct alerting *al, const char *name)
{
    for (size_t i = 0; i < al->ncounts; i++) {
        if (strcmp(al->counts[i].name, name) == 0) {
            return &al->counts[i];
        }
    }
    struct notifier_count *v = realloc(al->counts, (al->ncounts + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    al->counts = v;
    char *n = strdup(name);
    if (n == NULL) {
        return NULL;
    }
    al->counts[al->ncounts] = (struct notifier_count){.name = n};
    return &al->counts[al->ncounts++];
}

static const struct conf_notifier *notifier_conf(const struct config *conf, const char *name)
{
    for (size_t i = 0; i < conf->nnotifiers; i++) {
        if (strcmp(conf->notifiers[i].name, name) == 0) {
            return &conf->notifiers[i];
        }
    }
    return NULL;
}

static void pending_free(struct pending *p)
{
    free((char *)p->o.notifier);
    free((char *)p->o.payload);
    free(p->body);
    free(p);
}

/* Append to the in-memory outbox (already stored). */
static struct pending *pending_add(struct alerting *al, const struct outbox_item *o)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->o = *o;
    p->o.notifier = dup(o->notifier);
    p->o.payload = dup(o->payload);
    p->body = notify_with_delivery_id(o->payload, o->id);
    p->al = al;
    if (p->o.notifier == NULL || p->o.payload == NULL || p->body == NULL) {
        pending_free(p);
        return NULL;
    }
    struct pending **tail = &al->outbox;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = p;
    return p;
}

static void pending_remove(struct alerting *al, struct pending *p)
{
    for (struct pending **q = &al->outbox; *q != NULL; q = &(*q)->next) {
        if (*q == p) {
            *q = p->next;
            break;
        }
    }
    pending_free(p);
}

static void schedule_sends(struct alerting *al);

/* Queue a notification of a (event: firing, resolved, repeat) to each of
 * the notifiers of the rules matching it; resolved ones only to rules that
 * send on resolved. */
static void queue_notifications(struct alerting *al, struct open_alert *oa, const char *event)
{
    struct daemon *d = al->d;
    const struct config *conf = d->conf;
    int64_t now = clock_now_ms(d->clock);
    bool resolved = strcmp(event, "resolved") == 0;
    /* A notifier named by several rules gets one copy. */
    const char **sent = calloc(conf->nnotifiers + 1, sizeof(*sent));
    size_t nsent = 0;
    char *payload = NULL;
    if (sent == NULL) {
        log_error(LOG_KV("alert", oa->a.kind), "out of memory queueing a notification");
        return;
    }
    for (size_t i = 0; i < conf->nalerts; i++) {
        const struct conf_alert *r = &conf->alerts[i];
        if (!rule_matches(r, oa->kind, oa->kind == K_DEPLOY ? NULL : oa->a.check, oa->a.app,
                          oa->a.env) ||
            (resolved && !r->send_on_resolved)) {
            continue;
        }
        for (size_t j = 0; j < r->nnotify; j++) {
            bool dup_name = false;
            for (size_t k = 0; k < nsent; k++) {
                dup_name = dup_name || strcmp(sent[k], r->notify[j]) == 0;
            }
            if (dup_name || nsent >= conf->nnotifiers) {
                continue;
            }
            sent[nsent++] = r->notify[j];
            /* Rendered once per event; the row's id becomes the
             * delivery_id when the body is made (pending_add). */
            if (payload == NULL && (payload = notify_payload(&oa->a, event, 0, now)) == NULL) {
                log_error(LOG_KV("alert", oa->a.kind), "out of memory rendering a notification");
                break;
            }
            struct outbox_item o = {.alert_id = oa->a.id,
                                    .notifier = r->notify[j],
                                    .payload = payload,
                                    .created_ms = now,
                                    .next_ms = now};
            o.id = store_put_outbox(d->store, &o);
            if (pending_add(al, &o) == NULL) {
                log_error(LOG_KV("notifier", o.notifier),
                          "out of memory: notification %" PRId64 " waits for a restart", o.id);
            }
        }
    }
    free(sent);
    free(payload);
    if (nsent > 0) {
        oa->a.last_notified_ms = now;
        oa->a.notifications += (int64_t)nsent;
        store_put_alert(d->store, &oa->a);
    }
    schedule_sends(al);
}

static void on_sent(bool ok, const char *reason, void *arg);
static void on_send_timer(uv_timer_t *t);

/* Whether an earlier row for the same alert and notifier is still owed:
 * notifications of one alert reach one receiver in order. */
static bool blocked(const struct alerting *al, const struct pending *p)
{
    for (const struct pending *q = al->outbox; q != NULL && q != p; q = q->next) {
        if (q->o.alert_id == p->o.alert_id && strcmp(q->o.notifier, p->o.notifier) == 0) {
            return true;
        }
    }
    return false;
}

/* Start every due delivery and arm the timer for the next. */
static void schedule_sends(struct alerting *al)
{
    if (al->closing) {
        return;
    }
    struct daemon *d = al->d;
    int64_t now = clock_now_ms(d->clock);
    int64_t next = INT64_MAX;
    struct pending *p = al->outbox;
    while (p != NULL) {
        struct pending *nx = p->next;
        if (p->send != NULL || blocked(al, p)) {
            p = nx;
            continue;
        }
        const struct conf_notifier *nc = notifier_conf(d->conf, p->o.notifier);
        if (nc == NULL || now - p->o.created_ms > nc->max_age_ms) {
            char msg[400];
            snprintf(msg, sizeof(msg),
                     nc == NULL ? "notification %" PRId64 " dropped: notifier %s is gone"
                                : "notification %" PRId64 " to %s dropped: not delivered in time",
                     p->o.id, p->o.notifier);
            struct event ev = {.ts_ms = now, .type = "notifier", .message = msg};
            daemon_emit_event(d, &ev);
            store_delete_outbox(d->store, p->o.id);
            pending_remove(al, p);
            p = nx;
            continue;
        }
        if (p->o.next_ms > now) {
            next = p->o.next_ms < next ? p->o.next_ms : next;
            p = nx;
            continue;
        }
        p->send = notify_start(d->loop, d->curlm, nc, p->body, on_sent, p);
        if (p->send == NULL) {
            /* Could not even start (out of memory): try again later. */
            p->o.next_ms = now + nc->retry_initial_ms;
            next = p->o.next_ms < next ? p->o.next_ms : next;
        }
        p = nx;
    }
    if (next != INT64_MAX) {
        uv_timer_start(&al->send_timer, on_send_timer, (uint64_t)(next - now), 0);
    }
}

static void on_send_timer(uv_timer_t *t)
{
    schedule_sends(t->data);
}

/* A cheap, non-cryptographic random number for jitter (xorshift64). */
static uint64_t jitter_rand(void)
{
    static uint64_t x;
    if (x == 0) {
        x = uv_hrtime() | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

/* Backoff before try n+1 after n failures: initial * 2^(n-1), at most max,
 * with +-20% jitter so receivers coming back are not hit all at once. */
static int64_t backoff_ms(const struct conf_notifier *nc, int64_t failures)
{
    int64_t b = nc->retry_initial_ms;
    for (int64_t i = 1; i < failures && b < nc->retry_max_ms; i++) {
        b *= 2;
    }
    if (b > nc->retry_max_ms) {
        b = nc->retry_max_ms;
    }
    int64_t span = b / 5;
    if (span > 0) {
        b += (int64_t)(jitter_rand() % (uint64_t)(2 * span + 1)) - span;
    }
    return b;
}

static void on_sent(bool ok, const char *reason, void *arg)
{
    struct pending *p = arg;
    struct alerting *al = p->al;
    p->send = NULL;
    if (al == NULL) {
        /* Cancelled at shutdown: the row stays in the stored outbox. */
        pending_free(p);
        return;
    }
    struct daemon *d = al->d;
    int64_t now = clock_now_ms(d->clock);
    struct notifier_count *nc = count_for(al, p->o.notifier);
    if (ok) {
        if (nc != NULL) {
            nc->sent++;
            if (nc->failing >= FAILING_EVENT_AFTER) {
                emit(d, "notifier", NULL, "notifier %s delivers again", p->o.notifier);
            }
            nc->failing = 0;
        }
        log_info(LOG_KV("notifier", p->o.notifier), "notification %" PRId64 " delivered",
                 p->o.id);
        store_delete_outbox(d->store, p->o.id);
        pending_remove(al, p);
    } else {
        p->o.attempts++;
        if (nc != NULL) {
            nc->failed++;
            nc->failing++;
        }
        const struct conf_notifier *conf = notifier_conf(d->conf, p->o.notifier);
        int64_t wait = conf != NULL ? backoff_ms(conf, p->o.attempts) : 1000;
        p->o.next_ms = now + wait;
        store_put_outbox(d->store, &p->o);
        log_warn(LOG_KV("notifier", p->o.notifier),
                 "notification %" PRId64 " failed (%s), try %" PRId64 " in %" PRId64 " ms",
                 p->o.id, reason, p->o.attempts + 1, wait);
        if (nc != NULL && nc->failing == FAILING_EVENT_AFTER) {
            emit(d, "notifier", NULL, "notifier %s keeps failing: %s", p->o.notifier, reason);
        }
    }
    schedule_sends(al);
}

/* -------------------------------------------------------- the alerts */

static struct alert_check *ac_of(struct check *c)
{
    if (c->alerting == NULL) {
        c->alerting = calloc(1, sizeof(*c->alerting));
    }
    return c->alerting;
}

/* The per-check state owns no pointers: check_destroy frees it with free. */
static void alert_check_free(struct check *c)
{
    free(c->alerting);
    c->alerting = NULL;
}

static void oa_free(struct open_alert *oa)
{
    alert_copy_finish(&oa->a);
    free(oa);
}

/* Point the check's slot at oa (or clear it). */
static void link_check(struct daemon *d, const struct open_alert *oa, struct open_alert *to)
{
    if (oa->kind == K_DEPLOY || oa->a.check == NULL) {
        return;
    }
    struct check *c = daemon_find_check(d, oa->a.check);
    if (c != NULL && ac_of(c) != NULL) {
        c->alerting->open[oa->kind] = to;
    }
}

/* Settle muted_by for now; queue what a mute held back once it is gone.
 * true when something changed. */
static bool refresh_mute(struct alerting *al, struct open_alert *oa, int64_t now)
{
    char buf[200];
    const char *why = muted_by(al, &oa->a, now, buf, sizeof(buf));
    bool changed = !eq(why, oa->a.muted_by) || (why == NULL) != (oa->a.muted_by == NULL);
    if (changed) {
        set_str(&oa->a.muted_by, why);
        store_put_alert(al->d->store, &oa->a);
    }
    if (why == NULL && oa->owed_firing) {
        oa->owed_firing = false;
        oa->notified = true;
        queue_notifications(al, oa, "firing");
    }
    return changed;
}

/* An "alert.mute" event about m: added, removed, ended. */
static void emit_mute(struct daemon *d, const struct mute *m, int64_t now, const char *msg)
{
    struct event ev = {.ts_ms = now,
                       .type = "alert.mute",
                       .check = m->check,
                       .app = m->app,
                       .env = m->env,
                       .message = msg};
    daemon_emit_event(d, &ev);
}

/* End mute i now, in the store and with an event saying why (after its
 * kind and id); it leaves al->mutes, the last one taking its place, and
 * the open alerts it held are looked at again. */
static void end_mute(struct alerting *al, size_t i, int64_t now, const char *why)
{
    struct daemon *d = al->d;
    struct mute *m = &al->mutes[i];
    m->ends_ms = now;
    store_put_mute(d->store, m);
    char msg[200];
    snprintf(msg, sizeof(msg), "%s %" PRId64 " %s", m->kind, m->id, why);
    emit_mute(d, m, now, msg);
    mute_copy_finish(m);
    al->mutes[i] = al->mutes[--al->nmutes];
    for (struct open_alert *oa = al->alerts; oa != NULL; oa = oa->next) {
        refresh_mute(al, oa, now);
    }
}

/* The open alert with this id, or NULL. */
static struct open_alert *open_by_id(const struct alerting *al, int64_t id)
{
    struct open_alert *oa = al != NULL ? al->alerts : NULL;
    while (oa != NULL && oa->a.id != id) {
        oa = oa->next;
    }
    return oa;
}

static void open_alert(struct alerting *al, enum kind k, const struct route *rt, const char *check,
                       const char *app, const char *env, const char *summary, int64_t deploy_id,
                       const char *deploy_info)
{
    struct daemon *d = al->d;
    int64_t now = clock_now_ms(d->clock);
    struct open_alert *oa = calloc(1, sizeof(*oa));
    if (oa == NULL) {
        log_error(LOG_KV("check", check), "out of memory opening an alert");
        return;
    }
    oa->kind = k;
    oa->sev = rt->sev;
    struct alert a = {.kind = kind_names[k],
                      .check = check,
                      .app = app,
                      .env = env,
                      .severity = alert_severity_name(rt->sev),
                      .status = "firing",
                      .summary = summary,
                      .started_ms = now,
                      .deploy_id = deploy_id,
                      .deploy_info = deploy_info};
    if (!alert_copy(&oa->a, &a)) {
        free(oa);
        return;
    }
    oa->a.id = store_put_alert(d->store, &oa->a);
    oa->next = al->alerts;
    al->alerts = oa;
    link_check(d, oa, oa);
    char buf[200];
    const char *why = muted_by(al, &oa->a, now, buf, sizeof(buf));
    if (why != NULL) {
        set_str(&oa->a.muted_by, why);
        store_put_alert(d->store, &oa->a);
        oa->owed_firing = true;
    }
    emit(d, "alert", &oa->a, "alert %" PRId64 " firing (%s%s%s): %s", oa->a.id, oa->a.severity,
         why ? ", muted by " : "", why ? why : "", summary);
    if (why == NULL) {
        oa->notified = true;
        queue_notifications(al, oa, "firing");
    }
}

static void resolve_alert(struct alerting *al, struct open_alert *oa, const char *why)
{
    struct daemon *d = al->d;
    int64_t now = clock_now_ms(d->clock);
    for (struct open_alert **p = &al->alerts; *p != NULL; p = &(*p)->next) {
        if (*p == oa) {
            *p = oa->next;
            break;
        }
    }
    link_check(d, oa, NULL);
    set_str(&oa->a.status, "resolved");
    oa->a.resolved_ms = now;
    store_put_alert(d->store, &oa->a);
    emit(d, "alert", &oa->a, "alert %" PRId64 " resolved: %s", oa->a.id, why);
    /* Only an alert someone heard of is announced as resolved, and every
     * one they heard of is, muted now or not: a mute holds back news, and
     * a FIRING left standing in a chat channel is news of the wrong kind. */
    if (oa->notified) {
        queue_notifications(al, oa, "resolved");
    }
    /* Silences made "until resolved" from this alert end with it: the
     * next incident pages again. */
    for (size_t i = al->nmutes; i-- > 0;) {
        if (al->mutes[i].alert_id == oa->a.id) {
            char ended[80];
            snprintf(ended, sizeof(ended), "ended: alert %" PRId64 " resolved", oa->a.id);
            end_mute(al, i, now, ended);
        }
    }
    oa_free(oa);
}

/* Why a new alert of c is held back now (in al->held), or NULL. */
static const char *held(struct alerting *al, const struct check *c, enum kind k)
{
    if (k == K_CERT) {
        return NULL;
    }
    const struct conf_check *cc = c->conf;
    for (size_t i = 0; i < cc->ndepends_on; i++) {
        const struct check *p = daemon_find_check(al->d, cc->depends_on[i]);
        if (p == NULL || p->paused) {
            continue;
        }
        if (p->state == STATE_DOWN || p->state == STATE_DEGRADED || p->fail_streak > 0) {
            snprintf(al->held, sizeof(al->held), "depends-on %s", p->conf->name);
            return al->held;
        }
        /* The parent has not run since the child turned bad: its next
         * result decides (evaluate_children runs then). */
        if (p->last.started_ms < c->state_since_ms) {
            snprintf(al->held, sizeof(al->held), "depends-on %s (waiting for its next run)",
                     p->conf->name);
            return al->held;
        }
    }
    for (const struct quiet *q = al->quiet; q != NULL; q = q->next) {
        if (eq(q->app, cc->app) && eq(q->env, cc->env)) {
            snprintf(al->held, sizeof(al->held), "deploy %" PRId64, q->deploy_id);
            return al->held;
        }
    }
    if (k != K_FLAPPING && c->alerting != NULL && c->alerting->open[K_FLAPPING] != NULL) {
        snprintf(al->held, sizeof(al->held), "flapping");
        return al->held;
    }
    return NULL;
}

const char *alert_held_by(const struct daemon *d, const struct check *c)
{
    if (d->alerting == NULL || c->conf == NULL) {
        return NULL;
    }
    return held(d->alerting, c, K_DOWN);
}

/* The one-line summary of a check's alert. */
static void summarize(const struct check *c, enum kind k, const struct route *rt, int64_t now,
                      char *buf, size_t len)
{
    const struct last_result *r = &c->last;
    const char *cond = last_result_text(r, RESULT_TEXT_CONDITION);
    const char *detail = c->verdict != NULL ? c->verdict
                         : cond[0]          ? cond
                                            : last_result_text(r, RESULT_TEXT_ERROR);
    switch (k) {
    case K_DOWN:
        snprintf(buf, len, "%s is down%s%s", c->conf->name, detail[0] ? ": " : "", detail);
        break;
    case K_HEARTBEAT:
        snprintf(buf, len, "%s missed its heartbeat%s%s", c->conf->name, detail[0] ? ": " : "",
                 detail);
        break;
    case K_DEGRADED:
        snprintf(buf, len, "%s is degraded for over %" PRId64 "s%s%s", c->conf->name,
                 rt->degraded_for_ms / 1000, detail[0] ? ": " : "", detail);
        break;
    case K_CERT:
        snprintf(buf, len, "%s: certificate expires in %" PRId64 " days", c->conf->name,
                 (r->cert_expiry_s - now / 1000) / 86400);
        break;
    case K_FLAPPING:
        snprintf(buf, len, "%s is flapping: %d state changes within %" PRId64 "s", c->conf->name,
                 rt->flap_changes, rt->flap_window_ms / 1000);
        break;
    default:
        snprintf(buf, len, "%s", c->conf->name);
    }
}

/* A page opened while a deploy was verified says so: the deploy, who made
 * it, how long ago, and what to roll back to, appended to the summary; the
 * same as the JSON object returned (alert.deploy in notifications; NULL
 * on ENOMEM). */
static char *blame(const struct verify_blame *vb, int64_t now, char *summary, size_t len)
{
    char ago[32];
    duration_format((now - vb->started_ms) / 1000 * 1000, ago, sizeof(ago));
    bool rollback = vb->last_healthy != NULL && !eq(vb->last_healthy, vb->version);
    size_t at = strlen(summary);
    snprintf(summary + at, len - at, " (during deploy %s%s%s, %s ago%s%s)", vb->version,
             vb->author != NULL ? " by " : "", vb->author != NULL ? vb->author : "", ago,
             rollback ? "; last healthy " : "", rollback ? vb->last_healthy : "");
    char at_rfc[CIVIL_RFC3339_LEN];
    json_t *o = json_pack("{s:I, s:s?, s:s?, s:s, s:s?}", "id", (json_int_t)vb->id, "version",
                          vb->version, "author", vb->author, "started_at",
                          civil_format_rfc3339(vb->started_ms, at_rfc, sizeof(at_rfc)),
                          "last_healthy_version", rollback ? vb->last_healthy : NULL);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* Changes of c's state within the window ending now. */
static int flap_count(const struct alert_check *ac, int64_t window_ms, int64_t now)
{
    int n = 0;
    for (unsigned i = 0; i < ac->flap_n; i++) {
        if (now - ac->flaps[(ac->flap_head + FLAP_RING - 1 - i) % FLAP_RING] <= window_ms) {
            n++;
        }
    }
    return n;
}

/* Open and resolve c's alerts as its state calls for now. */
static void evaluate(struct alerting *al, struct check *c)
{
    if (c->conf == NULL || c->removed) {
        return;
    }
    struct alert_check *ac = ac_of(c);
    if (ac == NULL) {
        return;
    }
    const struct conf_check *cc = c->conf;
    const struct config *conf = al->d->conf;
    int64_t now = clock_now_ms(al->d->clock);
    bool want[K_COUNT] = {false};
    struct route rt[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) {
        rt[k] = k == K_DEPLOY ? (struct route){0}
                              : route_for(conf, (enum kind)k, cc->name, cc->app, cc->env);
    }
    bool heartbeat = cc->kind == CHECK_HEARTBEAT;
    if (!c->paused) {
        want[K_DOWN] = c->state == STATE_DOWN && !heartbeat;
        want[K_HEARTBEAT] = c->state == STATE_DOWN && heartbeat;
        want[K_DEGRADED] =
            c->state == STATE_DEGRADED && now - c->state_since_ms >= rt[K_DEGRADED].degraded_for_ms;
        want[K_CERT] = rt[K_CERT].any && c->last.cert_expiry_s > 0 &&
                       c->last.cert_expiry_s * 1000 - now < (int64_t)rt[K_CERT].cert_days * 86400000;
        want[K_FLAPPING] = rt[K_FLAPPING].any &&
                           flap_count(ac, rt[K_FLAPPING].flap_window_ms, now) >=
                               rt[K_FLAPPING].flap_changes;
        /* Once flapping, it stays flapping until a whole window passes quietly. */
        if (ac->open[K_FLAPPING] != NULL && flap_count(ac, rt[K_FLAPPING].flap_window_ms, now) > 0) {
            want[K_FLAPPING] = true;
        }
    }
    /* Flapping first: it holds the others back. */
    static const enum kind order[] = {K_FLAPPING, K_DOWN, K_HEARTBEAT, K_DEGRADED, K_CERT};
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        enum kind k = order[i];
        struct open_alert *oa = ac->open[k];
        if (oa != NULL && !want[k]) {
            resolve_alert(al, oa,
                          k == K_FLAPPING ? "no longer flapping"
                          : c->paused     ? "check paused"
                                          : "check recovered");
        } else if (oa == NULL && want[k] && rt[k].any && held(al, c, k) == NULL) {
            char summary[800];
            summarize(c, k, &rt[k], now, summary, sizeof(summary));
            struct verify_blame vb;
            char *info = NULL;
            bool blamed = (k == K_DOWN || k == K_DEGRADED) && verify_blame(al->d, c, &vb);
            if (blamed) {
                info = blame(&vb, now, summary, sizeof(summary));
            }
            open_alert(al, k, &rt[k], cc->name, cc->app, cc->env, summary, blamed ? vb.id : 0,
                       info);
            free(info);
        }
    }
}

/* Evaluate every check that names parent among its depends-on. */
static void evaluate_children(struct alerting *al, const struct check *parent)
{
    struct daemon *d = al->d;
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *c = d->checks[i];
        for (size_t j = 0; j < c->conf->ndepends_on; j++) {
            if (strcmp(c->conf->depends_on[j], parent->conf->name) == 0) {
                evaluate(al, c);
                break;
            }
        }
    }
}

static void evaluate_app_env(struct alerting *al, const char *app, const char *env)
{
    struct daemon *d = al->d;
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *c = d->checks[i];
        if (eq(c->conf->app, app) && eq(c->conf->env, env)) {
            evaluate(al, c);
        }
    }
}

void alert_on_result(struct daemon *d, struct check *c, const struct result *r, bool changed,
                     enum check_state from)
{
    struct alerting *al = d->alerting;
    if (al == NULL || c->conf == NULL || c->removed) {
        return;
    }
    struct alert_check *ac = c->alerting;
    if (changed && from != STATE_UNKNOWN && c->state != STATE_UNKNOWN) {
        if ((ac = ac_of(c)) != NULL) {
            ac->flaps[ac->flap_head] = r->started_ms;
            ac->flap_head = (ac->flap_head + 1) % FLAP_RING;
            if (ac->flap_n < FLAP_RING) {
                ac->flap_n++;
            }
        }
    }
    bool any_open = false;
    for (int k = 0; ac != NULL && k < K_COUNT; k++) {
        any_open = any_open || ac->open[k] != NULL;
    }
    /* The common case, a healthy check with nothing open, costs nothing more
     * unless a certificate rule wants to look at it. */
    if (changed || any_open || c->state != STATE_UP || r->cert_expiry_s > 0) {
        evaluate(al, c);
    }
    /* Its children's holds may have started or ended. */
    if (ac != NULL && ac->parent && (changed || c->fail_streak <= 1)) {
        evaluate_children(al, c);
    }
}

/* Deploys: a started one quiets its app-env until its verdict (or a
 * failure, or the start timeout); a failed verdict opens an alert. */
void alert_on_deploy(struct daemon *d, const struct deploy *dep)
{
    struct alerting *al = d->alerting;
    if (al == NULL) {
        return;
    }
    int64_t now = clock_now_ms(d->clock);
    const struct conf_app *app = config_find_app(d->conf, dep->app);
    struct quiet **qp = &al->quiet;
    while (*qp != NULL && !(eq((*qp)->app, dep->app) && eq((*qp)->env, dep->env))) {
        qp = &(*qp)->next;
    }
    bool decided = dep->verdict != NULL && strcmp(dep->verdict, "pending") != 0;
    if (strcmp(dep->status, "started") == 0 && !decided) {
        int64_t until = now + (app != NULL ? app->verify_start_timeout_ms
                                           : CONFIG_DEFAULT_VERIFY_START_TIMEOUT_MS);
        if (*qp == NULL && (*qp = calloc(1, sizeof(**qp))) != NULL) {
            (*qp)->app = dup(dep->app);
            (*qp)->env = dup(dep->env);
        }
        if (*qp != NULL) {
            (*qp)->deploy_id = dep->id;
            (*qp)->until_ms = until;
        }
        return;
    }
    if (strcmp(dep->status, "succeeded") == 0 && !decided && *qp != NULL) {
        /* Verification runs now; its verdict ends the quiet. */
        int64_t window = app != NULL ? app->verify_window_ms : CONFIG_DEFAULT_VERIFY_WINDOW_MS;
        (*qp)->deploy_id = dep->id;
        (*qp)->until_ms = now + window + 10000;
        return;
    }
    if (*qp != NULL && (!decided || (*qp)->deploy_id <= dep->id)) {
        struct quiet *q = *qp;
        *qp = q->next;
        free(q->app);
        free(q->env);
        free(q);
    }
    if (decided) {
        struct open_alert *open = NULL;
        for (struct open_alert *oa = al->alerts; oa != NULL; oa = oa->next) {
            if (oa->kind == K_DEPLOY && eq(oa->a.app, dep->app) && eq(oa->a.env, dep->env)) {
                open = oa;
            }
        }
        bool failed = strcmp(dep->verdict, "failed") == 0;
        if (failed && open == NULL) {
            struct route rt = route_for(d->conf, K_DEPLOY, NULL, dep->app, dep->env);
            if (rt.any) {
                char summary[800];
                snprintf(summary, sizeof(summary), "deploy of %s to %s/%s failed: %s%s%s",
                         dep->version, dep->app, dep->env,
                         dep->verdict_reason ? dep->verdict_reason : "verdict failed",
                         dep->rollback_version ? "; roll back to " : "",
                         dep->rollback_version ? dep->rollback_version : "");
                open_alert(al, K_DEPLOY, &rt, NULL, dep->app, dep->env, summary, dep->id, NULL);
            }
        } else if (!failed && open != NULL) {
            resolve_alert(al, open, "a later deploy is not failed");
        }
    }
    evaluate_app_env(al, dep->app, dep->env);
}

/* ------------------------------------------------------------ the tick */

/* The one-second tick: quiet windows and mutes ending, degraded-for,
 * flapping calming down, repeats. */
void alert_tick(struct daemon *d)
{
    struct alerting *al = d->alerting;
    if (al == NULL) {
        return;
    }
    int64_t now = clock_now_ms(d->clock);
    storewatch_tick(d, &al->store_watch);
    /* Quiet windows that timed out. */
    for (struct quiet **qp = &al->quiet; *qp != NULL;) {
        struct quiet *q = *qp;
        if (q->until_ms > now) {
            qp = &q->next;
            continue;
        }
        *qp = q->next;
        evaluate_app_env(al, q->app, q->env);
        free(q->app);
        free(q->env);
        free(q);
    }
    /* Mutes that ended. */
    size_t keep = 0;
    for (size_t i = 0; i < al->nmutes; i++) {
        if (al->mutes[i].ends_ms > now) {
            al->mutes[keep++] = al->mutes[i];
        } else {
            mute_copy_finish(&al->mutes[i]);
        }
    }
    al->nmutes = keep;
    /* Degraded for long enough, flapping that calmed down. */
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *c = d->checks[i];
        if (c->state == STATE_DEGRADED ||
            (c->alerting != NULL && c->alerting->open[K_FLAPPING] != NULL)) {
            evaluate(al, c);
        }
    }
    /* Mutes starting or ending, repeats. */
    for (struct open_alert *oa = al->alerts, *nx; oa != NULL; oa = nx) {
        nx = oa->next;
        refresh_mute(al, oa, now);
        if (strcmp(oa->a.status, "firing") != 0 || oa->a.muted_by != NULL || !oa->notified) {
            continue;
        }
        struct route rt = route_for(d->conf, oa->kind, oa->kind == K_DEPLOY ? NULL : oa->a.check,
                                    oa->a.app, oa->a.env);
        if (rt.repeat_ms > 0 && now - oa->a.last_notified_ms >= rt.repeat_ms) {
            queue_notifications(al, oa, "repeat");
        }
    }
}

/* The tick's timer. */
static void on_tick(uv_timer_t *t)
{
    struct alerting *al = t->data;
    alert_tick(al->d);
}

/* ------------------------------------------------------------ socket */

int alert_ack(struct daemon *d, int64_t id, const char *by, const char *comment,
              struct alert *out, char *why, size_t whylen)
{
    struct alerting *al = d->alerting;
    struct open_alert *oa = open_by_id(al, id);
    if (oa == NULL) {
        snprintf(why, whylen, "no open alert %" PRId64, id);
        return -ENOENT;
    }
    if (comment != NULL && strlen(comment) > 1024) {
        snprintf(why, whylen, "comment: longer than 1024 bytes");
        return -EINVAL;
    }
    set_str(&oa->a.status, "acknowledged");
    set_str(&oa->a.ack_by, by);
    set_str(&oa->a.ack_comment, comment);
    oa->a.ack_ms = clock_now_ms(d->clock);
    store_put_alert(d->store, &oa->a);
    emit(d, "alert", &oa->a, "alert %" PRId64 " acknowledged by %s%s%s", id, by,
         comment ? ": " : "", comment ? comment : "");
    return alert_copy(out, &oa->a) ? 0 : -ENOMEM;
}

static const char *check_mute(struct daemon *d, const struct mute *m)
{
    static const char *const fields[] = {"check", "app", "env", "severity"};
    const char *vals[] = {m->check, m->app, m->env, m->severity};
    for (size_t i = 0; i < 4; i++) {
        if (vals[i] != NULL && (vals[i][0] == '\0' || strlen(vals[i]) > 128)) {
            return fields[i];
        }
    }
    return NULL;
}

int alert_mute_add(struct daemon *d, const struct mute *m, struct mute *out, char *why,
                   size_t whylen)
{
    struct alerting *al = d->alerting;
    int64_t now = clock_now_ms(d->clock);
    enum alert_severity sev;
    const char *bad = check_mute(d, m);
    if (al == NULL) {
        snprintf(why, whylen, "alerting is not running");
        return -EINVAL;
    }
    if (m->kind == NULL || (strcmp(m->kind, "silence") != 0 && strcmp(m->kind, "maintenance") != 0)) {
        snprintf(why, whylen, "kind: expected silence or maintenance");
        return -EINVAL;
    }
    if (bad != NULL) {
        snprintf(why, whylen, "%s: empty or longer than 128 bytes", bad);
        return -EINVAL;
    }
    if (m->check == NULL && m->app == NULL && m->env == NULL && m->severity == NULL &&
        strcmp(m->kind, "silence") == 0) {
        snprintf(why, whylen, "a silence needs a matcher: check, app, env or severity");
        return -EINVAL;
    }
    if (m->severity != NULL && alert_severity_parse(m->severity, &sev) < 0) {
        snprintf(why, whylen, "severity: expected critical, warning or info");
        return -EINVAL;
    }
    if (m->comment != NULL && strlen(m->comment) > 1024) {
        snprintf(why, whylen, "comment: longer than 1024 bytes");
        return -EINVAL;
    }
    if (m->alert_id != 0 && open_by_id(al, m->alert_id) == NULL) {
        snprintf(why, whylen, "alert_id: no open alert with id %" PRId64, m->alert_id);
        return -ENOENT;
    }
    struct mute n = *m;
    if (n.starts_ms == 0) {
        n.starts_ms = now;
    }
    if (n.starts_ms < 0 || n.ends_ms <= n.starts_ms || n.ends_ms <= now) {
        snprintf(why, whylen, "ends_ms: must be after the start and in the future");
        return -EINVAL;
    }
    n.created_ms = now;
    n.id = 0;
    struct mute *v = realloc(al->mutes, (al->nmutes + 1) * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    al->mutes = v;
    if (!mute_copy(&al->mutes[al->nmutes], &n)) {
        return -ENOMEM;
    }
    struct mute *stored = &al->mutes[al->nmutes++];
    stored->id = store_put_mute(d->store, stored);
    if (stored->id <= 0) {
        /* Not kept (the store's disk is full): refused, never acknowledged. */
        snprintf(why, whylen, "the store cannot keep the %s: %s", stored->kind,
                 d->store->errstr[0] != '\0' ? d->store->errstr : "write failed");
        mute_copy_finish(&al->mutes[--al->nmutes]);
        return -EIO;
    }
    /* The end as people read it: a wall-clock time and how long from the
     * start; the exact milliseconds are in the MUTE itself. */
    char msg[800], until[160], at[CIVIL_RFC3339_LEN], span[32], alert[64] = "";
    if (stored->alert_id != 0) {
        snprintf(alert, sizeof(alert), "alert %" PRId64 " resolves", stored->alert_id);
    }
    if (stored->ends_ms == MUTE_UNTIL_RESOLVED) {
        snprintf(until, sizeof(until), "%s", alert);
    } else {
        civil_format_rfc3339(stored->ends_ms, at, sizeof(at));
        duration_format(stored->ends_ms - stored->starts_ms, span, sizeof(span));
        snprintf(until, sizeof(until), "%s (for %s)%s%s", at, span, alert[0] ? " or " : "",
                 alert);
    }
    snprintf(msg, sizeof(msg), "%s %" PRId64 " added by %s until %s%s%s", stored->kind,
             stored->id, stored->author ? stored->author : "?", until,
             stored->comment ? ": " : "", stored->comment ? stored->comment : "");
    emit_mute(d, stored, now, msg);
    if (!mute_copy(out, stored)) {
        return -ENOMEM;
    }
    for (struct open_alert *oa = al->alerts; oa != NULL; oa = oa->next) {
        refresh_mute(al, oa, now);
    }
    return 0;
}

int alert_mute_remove(struct daemon *d, const char *kind, int64_t id, struct mute *out)
{
    struct alerting *al = d->alerting;
    int64_t now = clock_now_ms(d->clock);
    for (size_t i = 0; al != NULL && i < al->nmutes; i++) {
        struct mute *m = &al->mutes[i];
        if (m->id != id || !eq(m->kind, kind)) {
            continue;
        }
        m->ends_ms = now;
        bool ok = mute_copy(out, m);
        end_mute(al, i, now, "removed");
        return ok ? 0 : -ENOMEM;
    }
    return -ENOENT;
}

static int cmp_ends(const void *a, const void *b)
{
    const struct mute *x = *(const struct mute *const *)a, *y = *(const struct mute *const *)b;
    return x->ends_ms < y->ends_ms ? -1 : x->ends_ms > y->ends_ms;
}

size_t alert_mutes(struct daemon *d, const char *kind, const struct mute *const **out)
{
    struct alerting *al = d->alerting;
    *out = NULL;
    if (al == NULL) {
        return 0;
    }
    free(al->mute_view);
    al->mute_view = calloc(al->nmutes + 1, sizeof(*al->mute_view));
    if (al->mute_view == NULL) {
        return 0;
    }
    int64_t now = clock_now_ms(d->clock);
    size_t n = 0;
    for (size_t i = 0; i < al->nmutes; i++) {
        if (eq(al->mutes[i].kind, kind) && al->mutes[i].ends_ms > now) {
            al->mute_view[n++] = &al->mutes[i];
        }
    }
    qsort(al->mute_view, n, sizeof(*al->mute_view), cmp_ends);
    *out = al->mute_view;
    return n;
}

int alert_list(struct daemon *d, const struct store_alert_query *q, store_alerts_fn fn,
               void *arg)
{
    return store_alerts(d->store, q, fn, arg);
}

void alert_firing(const struct daemon *d, uint64_t counts[ALERT_NSEVERITIES])
{
    for (int i = 0; i < ALERT_NSEVERITIES; i++) {
        counts[i] = 0;
    }
    for (const struct open_alert *oa = d->alerting ? d->alerting->alerts : NULL; oa != NULL;
         oa = oa->next) {
        counts[oa->sev]++;
    }
}

void alert_notifier_counts(const struct daemon *d, alert_notifier_fn fn, void *arg)
{
    const struct alerting *al = d->alerting;
    for (size_t i = 0; i < d->conf->nnotifiers; i++) {
        const char *name = d->conf->notifiers[i].name;
        uint64_t sent = 0, failed = 0;
        for (size_t j = 0; al != NULL && j < al->ncounts; j++) {
            if (strcmp(al->counts[j].name, name) == 0) {
                sent = al->counts[j].sent;
                failed = al->counts[j].failed;
            }
        }
        fn(name, sent, failed, arg);
    }
}

/* ---------------------------------------------------- start and stop */

static void load_alert(const struct alert *a, void *arg)
{
    struct alerting *al = arg;
    int k = kind_parse(a->kind);
    struct open_alert *oa = calloc(1, sizeof(*oa));
    if (oa == NULL || k < 0 || !alert_copy(&oa->a, a)) {
        free(oa);
        return;
    }
    oa->kind = (enum kind)k;
    oa->sev = ALERT_CRITICAL;
    alert_severity_parse(a->severity, &oa->sev);
    /* Notified unless it was muted from the start: an owed firing
     * notification would still be in the outbox. */
    oa->notified = a->notifications > 0;
    oa->owed_firing = a->notifications == 0;
    oa->next = al->alerts;
    al->alerts = oa;
}

static void load_mute(const struct mute *m, void *arg)
{
    struct alerting *al = arg;
    struct mute *v = realloc(al->mutes, (al->nmutes + 1) * sizeof(*v));
    if (v == NULL) {
        return;
    }
    al->mutes = v;
    if (mute_copy(&al->mutes[al->nmutes], m)) {
        al->nmutes++;
    }
}

static void load_outbox(const struct outbox_item *o, void *arg)
{
    struct outbox_item copy = *o;
    copy.next_ms = 0;           /* due now: the restart is the retry */
    pending_add(arg, &copy);
}

/* Hang the open alerts on their checks again (start, reload). */
static void relink(struct alerting *al)
{
    struct daemon *d = al->d;
    for (size_t i = 0; i < d->nchecks; i++) {
        if (d->checks[i]->alerting != NULL) {
            memset(d->checks[i]->alerting->open, 0, sizeof(d->checks[i]->alerting->open));
            d->checks[i]->alerting->parent = false;
        }
    }
    for (struct open_alert *oa = al->alerts; oa != NULL; oa = oa->next) {
        link_check(d, oa, oa);
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct conf_check *cc = d->checks[i]->conf;
        for (size_t j = 0; j < cc->ndepends_on; j++) {
            struct check *p = daemon_find_check(d, cc->depends_on[j]);
            if (p != NULL && ac_of(p) != NULL) {
                p->alerting->parent = true;
            }
        }
    }
}

int alert_init(struct daemon *d)
{
    struct alerting *al = calloc(1, sizeof(*al));
    if (al == NULL) {
        return -ENOMEM;
    }
    al->d = d;
    struct store_alerting_load l = {
        .alert = load_alert, .mute = load_mute, .outbox = load_outbox, .arg = al};
    int rc = store_load_alerting(d->store, clock_now_ms(d->clock), &l);
    if (rc < 0) {
        log_error(LOG_NOKV, "cannot load alerts from the store: %s", strerror(-rc));
    }
    uv_timer_init(d->loop, &al->tick);
    uv_timer_init(d->loop, &al->send_timer);
    al->tick.data = al->send_timer.data = al;
    uv_unref((uv_handle_t *)&al->tick);
    d->alerting = al;
    relink(al);
    alert_on_reload(d);
    /* A silence whose alert resolved while the daemon was down ends now. */
    for (size_t i = al->nmutes; i-- > 0;) {
        if (al->mutes[i].alert_id != 0 && open_by_id(al, al->mutes[i].alert_id) == NULL) {
            end_mute(al, i, clock_now_ms(d->clock), "ended: its alert is no longer open");
        }
    }
    uv_timer_start(&al->tick, on_tick, TICK_MS, TICK_MS);
    schedule_sends(al);
    return 0;
}

void alert_on_reload(struct daemon *d)
{
    struct alerting *al = d->alerting;
    if (al == NULL) {
        return;
    }
    relink(al);
    /* Alerts of checks that are gone resolve. */
    for (struct open_alert *oa = al->alerts, *nx; oa != NULL; oa = nx) {
        nx = oa->next;
        if (oa->kind != K_DEPLOY && daemon_find_check(d, oa->a.check) == NULL) {
            resolve_alert(al, oa, "check removed from the configuration");
        }
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        evaluate(al, d->checks[i]);
    }
    int64_t now = clock_now_ms(d->clock);
    for (struct open_alert *oa = al->alerts; oa != NULL; oa = oa->next) {
        refresh_mute(al, oa, now);
    }
    schedule_sends(al);
}

/* Both timers closed (in whatever order libuv runs their callbacks): free. */
static void on_closed(uv_handle_t *h)
{
    struct alerting *al = h->data;
    if (--al->open_handles == 0) {
        free(al);
    }
}

void alert_finish(struct daemon *d)
{
    struct alerting *al = d->alerting;
    if (al == NULL) {
        return;
    }
    al->closing = true;
    for (struct pending *p = al->outbox; p != NULL; p = p->next) {
        if (p->send != NULL) {
            notify_cancel(p->send);
        }
    }
    while (al->outbox != NULL) {
        struct pending *p = al->outbox;
        al->outbox = p->next;
        /* A cancelled send still calls back, later: it frees p then. */
        if (p->send != NULL) {
            p->al = NULL;
        } else {
            pending_free(p);
        }
    }
    while (al->alerts != NULL) {
        struct open_alert *oa = al->alerts;
        al->alerts = oa->next;
        oa_free(oa);
    }
    for (size_t i = 0; i < al->nmutes; i++) {
        mute_copy_finish(&al->mutes[i]);
    }
    free(al->mutes);
    free(al->mute_view);
    while (al->quiet != NULL) {
        struct quiet *q = al->quiet;
        al->quiet = q->next;
        free(q->app);
        free(q->env);
        free(q);
    }
    for (size_t i = 0; i < al->ncounts; i++) {
        free(al->counts[i].name);
    }
    free(al->counts);
    for (size_t i = 0; i < d->nchecks; i++) {
        alert_check_free(d->checks[i]);
    }
    d->alerting = NULL;
    al->open_handles = 2;
    uv_close((uv_handle_t *)&al->tick, on_closed);
    uv_close((uv_handle_t *)&al->send_timer, on_closed);
}
