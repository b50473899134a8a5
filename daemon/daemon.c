/* daemon.c - the daemon's context: start-up, results, events, reload, drain. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "clock.h"
#include "cluster.h"
#include "curlm.h"
#include "daemon.h"
#include "deploy.h"
#include "duration.h"
#include "host.h"
#include "hostmon.h"
#include "http.h"
#include "ipc_server.h"
#include "log.h"
#include "pinger.h"
#include "proctab.h"
#include "sched.h"
#include "state.h"
#include "store.h"
#include "verify.h"

#define RETENTION_FIRST_MS (60 * 1000)
#define RETENTION_EVERY_MS (60 * 60 * 1000)
#define DRAIN_POLL_MS 20

/* Wall clock in unix milliseconds (clock_wall_ms, for the modules that
 * still read the time through the daemon). */
int64_t daemon_now_ms(void)
{
    return clock_wall_ms();
}

/* The wall clock, as handed to the checks. */
static int64_t wall_now_ms(const struct check_clock *c)
{
    return daemon_now_ms();
}

static const struct check_clock wall_clock = {.now_ms = wall_now_ms};

/* Order checks by name, for the index. */
static int cmp_check_name(const void *a, const void *b)
{
    const struct check *x = *(const struct check *const *)a;
    const struct check *y = *(const struct check *const *)b;
    return strcmp(x->conf->name, y->conf->name);
}

/* Sorted copy of checks, for bsearch by name. NULL on allocation failure. */
static struct check **index_by_name(struct check **checks, size_t n)
{
    struct check **v = malloc((n ? n : 1) * sizeof(*v));
    if (v != NULL) {
        memcpy(v, checks, n * sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_check_name);
    }
    return v;
}

size_t daemon_checks_after(const struct daemon *d, const char *name)
{
    size_t lo = 0, hi = d->nchecks;
    while (name != NULL && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->by_name[mid]->conf->name, name) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* name's position in d->by_name, or -1. */
static ssize_t index_find(const struct daemon *d, const char *name)
{
    size_t i = daemon_checks_after(d, name);
    return i > 0 && strcmp(d->by_name[i - 1]->conf->name, name) == 0 ? (ssize_t)(i - 1) : -1;
}

/* Find a check by name; NULL when absent. */
struct check *daemon_find_check(struct daemon *d, const char *name)
{
    ssize_t i = index_find(d, name);
    return i < 0 ? NULL : d->by_name[i];
}

/* Store an event, log it, and send it to the socket's subscribers. */
void daemon_emit_event(struct daemon *d, const struct event *ev)
{
    struct event stored = *ev;
    stored.id = store_put_event(d->store, ev);
    log_info(LOG_KV("event", ev->type, "check", ev->check, "app", ev->app, "env", ev->env), "%s",
             ev->message);
    ipc_server_on_event(d->ipc, &stored);
    cluster_publish_event(d->cluster, &stored);
}

/* The JSON text of a result, for event data. Caller frees. */
static char *result_json(const struct result *r)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:i}", "ts_ms", (json_int_t)r->started_ms,
                          "duration_us", (json_int_t)r->duration_us, "outcome",
                          check_state_name(r->outcome), "status", r->status);
    if (o == NULL) {
        return NULL;
    }
    if (r->error[0] != '\0') {
        json_object_set_new(o, "error", json_string(r->error));
    }
    if (r->failed_condition[0] != '\0') {
        json_object_set_new(o, "failed_condition", json_string(r->failed_condition));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Emit the event for a state change of c caused by r. */
static void emit_state_change(struct daemon *d, struct check *c, enum check_state from,
                              const struct result *r)
{
    char msg[512];
    const char *why = r->failed_condition[0] != '\0' ? r->failed_condition : r->error;
    if (why[0] != '\0') {
        snprintf(msg, sizeof(msg), "%s: %s -> %s (%s)", c->conf->name, check_state_name(from),
                 check_state_name(c->state), why);
    } else {
        snprintf(msg, sizeof(msg), "%s: %s -> %s", c->conf->name, check_state_name(from),
                 check_state_name(c->state));
    }
    char *res = result_json(r);
    json_t *o = json_pack("{s:s, s:s}", "from", check_state_name(from), "to",
                          check_state_name(c->state));
    char *data = NULL;
    if (o != NULL) {
        json_t *rj = res != NULL ? json_loads(res, 0, NULL) : NULL;
        if (rj != NULL) {
            json_object_set_new(o, "result", rj);
        }
        data = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    free(res);
    struct event ev = {
        .ts_ms = r->started_ms,
        .type = "state",
        .check = c->conf->name,
        .app = c->conf->app,
        .env = c->conf->env,
        .message = msg,
        .data = data,
    };
    daemon_emit_event(d, &ev);
    free(data);
}

/* The interval c runs at now. */
static int64_t interval_now(const struct check *c)
{
    return c->interval_override_ms > 0 ? c->interval_override_ms : c->conf->interval_ms;
}

/* This daemon's location name. */
static const char *own_location(const struct daemon *d)
{
    return d->cluster != NULL ? cluster_node(d->cluster) : d->conf->node_name;
}

/* c's view of location name, added when new and create is set; NULL when
 * absent or when CHECK_LOCATIONS_MAX are known already. */
static struct check_location *location_of(struct check *c, const char *name, bool create)
{
    for (size_t i = 0; i < c->nlocations; i++) {
        if (strcmp(c->locations[i].name, name) == 0) {
            return &c->locations[i];
        }
    }
    if (!create || c->nlocations >= CHECK_LOCATIONS_MAX || name == NULL ||
        strlen(name) >= CHECK_LOCATION_NAME_MAX) {
        return NULL;
    }
    struct check_location *v = realloc(c->locations, (c->nlocations + 1) * sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    c->locations = v;
    struct check_location *loc = &v[c->nlocations++];
    memset(loc, 0, sizeof(*loc));
    snprintf(loc->name, sizeof(loc->name), "%s", name);
    loc->state = STATE_UNKNOWN;
    loc->last.status = -1;
    return loc;
}

/* Recompute a locations-all check's state from its live locations (a
 * location unheard for three intervals no longer counts). True when it
 * changed (then since ts_ms). */
static bool aggregate(struct daemon *d, struct check *c, int64_t ts_ms)
{
    int64_t iv = interval_now(c) > c->conf->interval_ms ? interval_now(c) : c->conf->interval_ms;
    enum check_state next = state_aggregate(c->locations, &c->nlocations, c->conf->quorum,
                                            (int64_t)uv_now(d->loop), 3 * iv);
    if (next == c->state) {
        return false;
    }
    c->state = next;
    c->state_since_ms = ts_ms;
    return true;
}

/* A result this daemon ran, with c's state after it: stored, sent to the
 * socket's subscribers, to a running verification and to the peers.
 * routine: the store may skip the state row (state.h). */
static void record_result(struct daemon *d, struct check *c, const struct result *r,
                          bool routine)
{
    struct store_check_state s = {
        .check = c->conf->name,
        .state = c->state,
        .fail_streak = c->fail_streak,
        .ok_streak = c->ok_streak,
        .state_since_ms = c->state_since_ms,
        .last = *r,
        .routine = routine,
        .has_log = c->log_known,
        .log = c->log,
    };
    store_put_result(d->store, &s);
    ipc_server_on_result(d->ipc, c, r);
    verify_on_result(d, c, r);
    cluster_publish_result(d->cluster, c, r);
}
/* This daemon's own result of a locations-all check: its location's state
 * machine, then the aggregate; stored here; alerted on by the lease holder. */
static void on_location_result(struct daemon *d, struct check *c, const struct result *r)
{
    struct check_location *own = location_of(c, own_location(d), true);
    state_count(c, r);
    if (own != NULL) {
        state_location_apply(own, c->conf, r);
        own->heard_ms = (int64_t)uv_now(d->loop);
        c->fail_streak = own->fail_streak;
        c->ok_streak = own->ok_streak;
    }
    last_result_set(&c->last, r);
    if (d->cluster != NULL) {
        c->last_node = daemon_node_name(d, own_location(d));
    }
    enum check_state from = c->state;
    bool changed = aggregate(d, c, r->started_ms);
    /* Every location writes the one state row: never skipped. */
    record_result(d, c, r, false);
    if (cluster_owns(d->cluster, c)) {
        if (changed) {
            emit_state_change(d, c, from, r);
        }
        alert_on_result(d, c, r, changed, from);
    }
}

/* A peer's result (see daemon.h). */
void daemon_on_peer_result(struct daemon *d, struct check *c, const struct cluster_msg *m)
{
    const struct result *r = &m->result;
    int64_t now = (int64_t)uv_now(d->loop);
    if (c->removed) {
        return;
    }
    if (c->conf->locations_all) {
        struct check_location *loc = location_of(c, m->node, true);
        if (loc == NULL) {
            return;
        }
        loc->state = m->state;
        loc->fail_streak = m->fail_streak;
        loc->ok_streak = m->ok_streak;
        loc->state_since_ms = m->state_since_ms;
        loc->last = *r;
        loc->heard_ms = now;
        c->peer_ms = now;
        enum check_state from = c->state;
        bool changed = aggregate(d, c, r->started_ms);
        ipc_server_on_result(d->ipc, c, r);
        verify_on_result(d, c, r);
        if (cluster_owns(d->cluster, c)) {
            if (changed) {
                emit_state_change(d, c, from, r);
            }
            alert_on_result(d, c, r, changed, from);
        }
        return;
    }
    /* A shared check: its runner's view, unless this daemon runs it (a
     * late result from the previous holder, or Redis was down). */
    if (cluster_owns(d->cluster, c)) {
        return;
    }
    enum check_state from = c->state;
    c->unrun_since_ms = 0;
    check_set_verdict(c, NULL);
    c->state = m->state;
    c->state_since_ms = m->state_since_ms;
    c->fail_streak = m->fail_streak;
    c->ok_streak = m->ok_streak;
    last_result_set(&c->last, r);
    c->peer_ms = now;
    c->last_node = daemon_node_name(d, m->node);
    ipc_server_on_result(d->ipc, c, r);
    verify_on_result(d, c, r);
    /* An alert this daemon opened while it ran the check (before the lease
     * moved) resolves when the new runner reports it up; nothing new opens
     * here (no certificate date: the runner alerts on that). */
    if (c->state == STATE_UP && c->alerting != NULL) {
        struct result quiet = *r;
        quiet.cert_expiry_s = 0;
        alert_on_result(d, c, &quiet, from != c->state, from);
    }
}

/* A peer's event: shown, not stored, not published again. */
void daemon_on_peer_event(struct daemon *d, const char *node, const struct event *ev)
{
    ipc_server_on_event(d->ipc, ev);
}

void daemon_on_peer_host(struct daemon *d, const char *node, const struct ipc_host *h)
{
    ipc_server_on_host(d->ipc, node, h);
}

/* A finished result: state machine, store, event on change. */
void daemon_on_result(struct daemon *d, struct check *c, const struct result *r)
{
    check_set_verdict(c, NULL);
    c->unrun_since_ms = 0;
    if (c->conf->locations_all) {
        on_location_result(d, c, r);
        return;
    }
    enum check_state from;
    bool changed = state_apply(c, r, &from);
    if (d->cluster != NULL) {
        c->last_node = daemon_node_name(d, own_location(d));
    }
    record_result(d, c, r, c->routine);
    if (changed) {
        emit_state_change(d, c, from, r);
    }
    alert_on_result(d, c, r, changed, from);
}

/* A state judged without a run (check_env.on_verdict: a heartbeat's late
 * ping or overdue run): the state changes, the event says why and alerts
 * follow, but no result is counted or stored, so history, results_total
 * and the duration histogram hold only real runs and pings. */
static void on_check_verdict(void *arg, struct check *c, enum check_state state,
                             const char *reason)
{
    struct daemon *d = arg;
    if (c->removed || c->state == state) {
        return;
    }
    enum check_state from = c->state;
    struct result why = {.started_ms = check_env_now_ms(&d->check_env),
                         .outcome = state,
                         .status = -1};
    snprintf(why.error, sizeof(why.error), "%s", reason);
    check_set_verdict(c, reason);
    c->state = state;
    c->state_since_ms = why.started_ms;
    c->ok_streak = 0;
    emit_state_change(d, c, from, &why);
    alert_on_result(d, c, &why, true, from);
}

/* No node ran c for two intervals (see daemon.h). */
void daemon_on_unrun(struct daemon *d, struct check *c, const char *reason, bool loud)
{
    if (loud) {
        on_check_verdict(d, c, STATE_UNKNOWN, reason);
        return;
    }
    if (c->removed || c->state == STATE_UNKNOWN) {
        return;
    }
    c->state = STATE_UNKNOWN;
    c->state_since_ms = check_env_now_ms(&d->check_env);
    c->ok_streak = 0;
    check_set_verdict(c, reason);
}

/* A heartbeat ping kept as a "heartbeat" event (check_env.on_ping): a log
 * ping, or the first bytes of the body a job sent, with its run id. */
static void on_check_ping(void *arg, struct check *c, const struct check_ping *p)
{
    static const char *const kinds[] = {
        [CHECK_PING_SUCCESS] = "success",
        [CHECK_PING_START] = "start",
        [CHECK_PING_FAIL] = "fail",
        [CHECK_PING_LOG] = "log",
    };
    struct daemon *d = arg;
    const char *kind = kinds[p->kind];
    json_t *o = json_pack("{s:s, s:I, s:b}", "kind", kind, "body_bytes",
                          (json_int_t)p->body_total, "truncated", p->body_len < p->body_total);
    if (o == NULL) {
        return;
    }
    if (p->exit_status >= 0) {
        json_object_set_new(o, "exit_status", json_integer(p->exit_status));
    }
    if (p->rid[0] != '\0') {
        json_object_set_new(o, "rid", json_string(p->rid));
    }
    if (p->duration_us >= 0) {
        json_object_set_new(o, "duration_us", json_integer(p->duration_us));
    }
    /* Text only, as Healthchecks.io keeps it; the cut may have split the
     * last character. */
    json_t *body = NULL;
    for (size_t cut = 0; body == NULL && cut < 4 && cut <= p->body_len && p->body_len > 0; cut++) {
        body = json_stringn(p->body, p->body_len - cut);
    }
    if (body != NULL) {
        json_object_set_new(o, "body", body);
    }
    char *data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s ping, %zu bytes of body%s", c->conf->name, kind,
             p->body_total, p->body_len < p->body_total ? " (cut)" : "");
    struct event ev = {
        .ts_ms = check_env_now_ms(&d->check_env),
        .type = "heartbeat",
        .check = c->conf->name,
        .app = c->conf->app,
        .env = c->conf->env,
        .message = msg,
        .data = data,
    };
    daemon_emit_event(d, &ev);
    free(data);
}

/* Restore one stored state onto the check of that name, if it still exists. */
static void restore_state(const struct store_check_state *s, void *arg)
{
    struct daemon *d = arg;
    struct check *c = daemon_find_check(d, s->check);
    if (c == NULL) {
        return;
    }
    c->state = s->state;
    c->fail_streak = s->fail_streak;
    c->ok_streak = s->ok_streak;
    c->state_since_ms = s->state_since_ms;
    last_result_set(&c->last, &s->last);
    if (s->has_log) {
        c->log = s->log;
        c->log_known = true;
    }
}

/* Create the checks of conf; on failure nothing is left allocated. */
static int build_checks(struct daemon *d, const struct config *conf, struct check ***out)
{
    struct check **v = calloc(conf->nchecks ? conf->nchecks : 1, sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < conf->nchecks; i++) {
        v[i] = check_create(&conf->checks[i]);
        if (v[i] == NULL) {
            while (i-- > 0) {
                check_destroy(v[i]);
            }
            free(v);
            return -ENOMEM;
        }
        v[i]->daemon = d;
    }
    *out = v;
    return 0;
}

/* The stored deploys at start-up: each app and env's last one. */
static void on_loaded_deploys(int err, const struct deploy *deps, size_t n, void *arg)
{
    struct daemon *d = arg;
    for (size_t i = 0; err == 0 && i < n; i++) {
        deploy_track(d, &deps[i], false);
        verify_note_stored(d, &deps[i]);
    }
}

/* Log lines of the loop thread, to "log" subscribers. */
static void log_to_ipc(enum log_level level, const char *msg, const char *const *kv, void *arg)
{
    struct daemon *d = arg;
    ipc_server_on_log(d->ipc, level, msg, kv);
}

/* Run the retention job in the store's writer. */
static void on_retention(uv_timer_t *t)
{
    struct daemon *d = t->data;
    store_retention(d->store, daemon_now_ms());
}

/* Log every message of a failed load. */
static void log_config_errors(const struct config_errors *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        log_error(LOG_NOKV, "%s", errs->msgs[i]);
    }
}

/* One caller of a reload. */
struct reload_waiter {
    daemon_reload_cb cb;
    void *arg;
    struct reload_waiter *next;
};

/* A read of the configuration on the thread pool, and who waits for it. */
struct reload {
    uv_work_t work;
    struct daemon *d;
    const char *path;
    struct config *conf;        /* what the read made; NULL when it failed */
    struct config_errors errs;
    int rc;
    uint64_t read_ns;
    struct reload_waiter *waiters;
};

/* Apply a configuration read and checked: unchanged checks keep their
 * state and schedule, changed ones restart with their state carried over,
 * removed ones stop. Takes conf (freed on failure, when nothing changed).
 * New check objects are made first, for the changed and added checks
 * only, so running out of memory leaves the running configuration as it
 * was. */
static int reload_apply(struct daemon *d, struct config *conf, struct reload_counts *counts)
{
    size_t n = conf->nchecks;
    struct check **next = calloc(n + 1, sizeof(*next));
    ssize_t *from = calloc(n + 1, sizeof(*from));  /* the old position of each; -1 new */
    bool *carried = calloc(d->nchecks + 1, sizeof(*carried)); /* by old index position */
    bool ok = next != NULL && from != NULL && carried != NULL;
    size_t made = 0;
    for (size_t i = 0; ok && i < n; i++, made++) {
        from[i] = index_find(d, conf->checks[i].name);
        if (from[i] >= 0 && d->by_name[from[i]]->conf->fingerprint == conf->checks[i].fingerprint) {
            continue;           /* the running object stays */
        }
        if ((next[i] = check_create(&conf->checks[i])) == NULL) {
            ok = false;
            break;
        }
        next[i]->daemon = d;
    }
    if (!ok) {
        for (size_t i = 0; next != NULL && i < made; i++) {
            check_destroy(next[i]);
        }
        free(next);
        free(from);
        free(carried);
        config_destroy(conf);
        return -ENOMEM;
    }

    size_t kept = 0, changed = 0, added = 0, removed = 0;
    for (size_t i = 0; i < n; i++) {
        if (from[i] < 0) {
            added++;
            continue;
        }
        struct check *old = d->by_name[from[i]];
        if (next[i] == NULL) {
            /* Same definition: keep the running object, point it at the new
             * (identical) configuration entry. */
            next[i] = old;
            old->conf = &conf->checks[i];
            carried[from[i]] = true;
            kept++;
        } else {
            next[i]->state = old->state;
            next[i]->fail_streak = old->fail_streak;
            next[i]->ok_streak = old->ok_streak;
            next[i]->state_since_ms = old->state_since_ms;
            last_result_move(&next[i]->last, &old->last);
            next[i]->last_ping_ms = old->last_ping_ms;
            /* A heartbeat's open runs still end with their finishes. */
            next[i]->hb_runs = old->hb_runs;
            next[i]->nhb_runs = old->nhb_runs;
            old->hb_runs = NULL;
            old->nhb_runs = 0;
            next[i]->verdict = old->verdict;
            old->verdict = NULL;
            changed++;
        }
    }
    /* Everything old that is not carried over stops now. */
    for (size_t i = 0; i < d->nchecks; i++) {
        struct check *old = d->by_name[i];
        if (carried[i]) {
            continue;
        }
        if (config_find_check(conf, old->conf->name) == NULL) {
            removed++;
        }
        if (sched_remove(d->sched, old)) {
            check_destroy(old);
        } else {
            old->conf = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bool reused = from[i] >= 0 && carried[from[i]] && next[i] == d->by_name[from[i]];
        if (!reused && sched_add(d->sched, next[i]) < 0) {
            log_error(LOG_KV("check", conf->checks[i].name), "cannot schedule check");
        }
    }
    free(from);
    free(carried);
    struct check **by_name = index_by_name(next, n);
    free(d->by_name);
    d->by_name = by_name;
    free(d->checks);
    config_destroy(d->conf);
    d->checks = next;
    d->nchecks = n;
    d->conf = conf;
    d->reloads_total++;
    alert_on_reload(d);
    ipc_server_reconfigure(d->ipc);
    *counts = (struct reload_counts){
        .checks = n, .unchanged = kept, .changed = changed, .added = added, .removed = removed};
    return 0;
}

/* On the thread pool: read and check the file. Nothing of the daemon is
 * touched here. */
static void reload_read(uv_work_t *w)
{
    struct reload *r = w->data;
    uint64_t t0 = uv_hrtime();
    r->rc = config_load(r->path, &r->conf, &r->errs);
    r->read_ns = uv_hrtime() - t0;
}

static int reload_start(struct daemon *d, struct reload *r);

/* Back on the loop: apply what was read, answer its callers, start the
 * read the callers that came meanwhile wait for. */
static void reload_read_done(uv_work_t *w, int status)
{
    struct reload *r = w->data;
    struct daemon *d = r->d;
    struct reload_counts counts = {0};
    int rc = status < 0 ? -ESHUTDOWN : r->rc;   /* cancelled, or never sent */
    d->reloading = NULL;

    if (rc == 0 && (d->draining || d->sched == NULL)) {
        rc = -ESHUTDOWN;
        config_destroy(r->conf);
    } else if (rc == 0) {
        uint64_t t0 = uv_hrtime();
        rc = reload_apply(d, r->conf, &counts);
        if (rc == 0) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "configuration reloaded: %zu checks (%zu unchanged, %zu changed, %zu "
                     "added, %zu removed)",
                     counts.checks, counts.unchanged, counts.changed, counts.added,
                     counts.removed);
            struct event ev = {.ts_ms = daemon_now_ms(), .type = "reload", .message = msg};
            daemon_emit_event(d, &ev);
            log_info(LOG_NOKV,
                     "reload: configuration read in %" PRIu64 " ms (thread pool), applied in %" PRIu64
                     " ms (loop)",
                     r->read_ns / 1000000, (uv_hrtime() - t0) / 1000000);
        }
    } else if (rc != -ESHUTDOWN) {
        d->reload_failures_total++;
        log_config_errors(&r->errs);
        struct event ev = {.ts_ms = daemon_now_ms(),
                           .type = "reload",
                           .message = "configuration reload failed; keeping the running one"};
        daemon_emit_event(d, &ev);
    }
    r->conf = NULL;
    while (r->waiters != NULL) {
        struct reload_waiter *x = r->waiters;
        r->waiters = x->next;
        if (x->cb != NULL) {
            x->cb(x->arg, rc, &r->errs, &counts);
        }
        free(x);
    }
    config_errors_finish(&r->errs);
    free(r);

    struct reload *again = d->reload_next;
    d->reload_next = NULL;
    if (again != NULL && reload_start(d, again) < 0) {
        reload_read_done(&again->work, -ESHUTDOWN);
    }
}

/* Send r's read to the thread pool, unless the daemon stops. */
static int reload_start(struct daemon *d, struct reload *r)
{
    if (d->draining || d->sched == NULL) {
        return -ESHUTDOWN;
    }
    r->work.data = r;
    r->path = d->config_path;
    int rc = uv_queue_work(d->loop, &r->work, reload_read, reload_read_done);
    if (rc == 0) {
        d->reloading = r;
    }
    return rc;
}

int daemon_reload(struct daemon *d, daemon_reload_cb cb, void *arg)
{
    struct reload_waiter *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->cb = cb;
    x->arg = arg;
    struct reload *r = d->reloading == NULL ? NULL : d->reload_next;
    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL) {
            free(x);
            return -ENOMEM;
        }
        r->d = d;
    }
    x->next = r->waiters;
    r->waiters = x;
    if (d->reloading != NULL) {
        d->reload_next = r;     /* read when the one in flight is applied */
        return 0;
    }
    int rc = reload_start(d, r);
    if (rc < 0) {
        free(x);
        free(r);
    }
    return rc;
}

/* SIGHUP: reload. */
static void on_sighup(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    (void)signum;
    if (!d->draining && daemon_reload(d, NULL, NULL) < 0) {
        log_error(LOG_NOKV, "reload: out of memory");
    }
}

/* Close every handle still open on the loop. */
static void close_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Drain: poll until no run is in flight, then tear down and stop the loop. */
static void on_drain_poll(uv_timer_t *t)
{
    struct daemon *d = t->data;
    struct sched_stats st;
    sched_get_stats(d->sched, &st);
    if (st.in_flight > 0) {
        int64_t waited = (int64_t)(uv_now(d->loop) - d->drain_started);
        if (!d->drain_cancelled && waited >= d->conf->daemon.drain_timeout_ms) {
            log_warn(LOG_NOKV, "drain deadline reached: cancelling %zu checks in flight",
                     st.in_flight);
            d->drain_cancelled = true;
            sched_cancel_all(d->sched);
        }
        return;
    }
    uv_timer_stop(t);
    uv_stop(d->loop);
}

/* SIGTERM / SIGINT: stop scheduling and drain. */
static void on_sigterm(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (d->draining) {
        return;
    }
    log_info(LOG_NOKV, "received %s: draining", signum == SIGINT ? "SIGINT" : "SIGTERM");
    d->draining = true;
    d->drain_started = uv_now(d->loop);
    sched_stop(d->sched);
    uv_timer_start(&d->drain_timer, on_drain_poll, 0, DRAIN_POLL_MS);
}

/* Start a signal watcher; logs and returns the libuv error. */
static int watch_signal(struct daemon *d, uv_signal_t *h, uv_signal_cb cb, int signum)
{
    int rc = uv_signal_init(d->loop, h);
    if (rc == 0) {
        h->data = d;
        rc = uv_signal_start(h, cb, signum);
    }
    if (rc < 0) {
        log_error(LOG_NOKV, "cannot watch signal %d: %s", signum, uv_strerror(rc));
    }
    return rc;
}

/* A run's result (check_env.on_result). */
static void on_check_result(void *arg, struct check *c, const struct result *r)
{
    daemon_on_result(arg, c, r);
}

/* [DEPLOY].version for a run (check_env.deploy_version). */
static const char *last_deploy_version(void *arg, const char *app, const char *env)
{
    return deploy_succeeded_version(arg, app, env);
}

/* The scheduler's gate: the check's lease. */
static bool lease_gate(struct check *c, int64_t interval_ms, void *arg)
{
    return cluster_lease(arg, c, interval_ms) == CLUSTER_RUN;
}

/* Bring the daemon up on loop with conf (whose ownership passes to d). */
/* A host sample: to the socket's host subscribers and host.get callers,
 * and to the cluster when a peer watches this host. */
static void on_host_sample(void *arg, const struct ipc_host *h)
{
    struct daemon *d = arg;
    ipc_server_on_host(d->ipc, NULL, h);
    cluster_publish_host(d->cluster, h);
}

int daemon_init(struct daemon *d, uv_loop_t *loop, struct config *conf, const char *config_path)
{
    char err[256];
    int rc;

    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->clock = &clock_system;
    d->conf = conf;
    d->config_path = config_path;
    d->started_ms = daemon_now_ms();
    d->deploys = deploys_create();
    d->verifier = verifier_create();
    if (d->deploys == NULL || d->verifier == NULL) {
        log_error(LOG_NOKV, "out of memory");
        return -ENOMEM;
    }

    /* curl runs with CURLOPT_NOSIGNAL; a closed peer must not kill us. */
    signal(SIGPIPE, SIG_IGN);

    /* The socket first: a second daemon is refused before it touches the
     * store, and the umask trick that creates it 0660 needs one thread. */
    rc = ipc_server_start(d, &d->ipc, err, sizeof(err));
    if (rc < 0) {
        log_error(LOG_KV("socket", conf->daemon.socket), "%s", err);
        return rc;
    }
    log_set_hook(log_to_ipc, d);

    rc = store_open(loop, conf, &d->store, err, sizeof(err));
    if (rc < 0) {
        log_error(LOG_KV("driver", conf->storage.driver), "cannot open store: %s", err);
        return rc;
    }
    rc = http_server_start(d, &d->http, err, sizeof(err));
    if (rc < 0) {
        log_error(LOG_NOKV, "%s", err);
        return rc;
    }
    /* The last deploys, for /metrics; asynchronous like every query. */
    struct store_deploy_query dq = {.limit = 1000};
    store_deploys(d->store, &dq, on_loaded_deploys, d);
    d->curlm = curlm_create(loop);
    d->proctab = proctab_create();
    d->pinger = pinger_create(loop);
    d->hostpool = hostpool_create(loop);
    d->check_env = (struct check_env){.loop = loop,
                                      .curlm = d->curlm,
                                      .proctab = d->proctab,
                                      .pinger = d->pinger,
                                      .hostpool = d->hostpool,
                                      .clock = &wall_clock,
                                      .on_result = on_check_result,
                                      .on_verdict = on_check_verdict,
                                      .on_ping = on_check_ping,
                                      .deploy_version = last_deploy_version,
                                      .arg = d};
    d->sched = sched_create(loop, &d->check_env, conf->daemon.max_concurrency);
    if (d->curlm == NULL || d->proctab == NULL || d->pinger == NULL || d->hostpool == NULL ||
        d->sched == NULL) {
        log_error(LOG_NOKV, "out of memory at start-up");
        return -ENOMEM;
    }
    /* Before the checks are scheduled: their first ticks ask for leases. */
    rc = cluster_create(d, &d->cluster, err, sizeof(err));
    if (rc < 0) {
        log_error(LOG_NOKV, "redis.url: %s", err);
        return rc;
    }
    if (d->cluster != NULL) {
        sched_set_gate(d->sched, lease_gate, d->cluster);
    }
    d->hostmon = hostmon_create(loop, d->check_env.proc_root, d->proctab,
                                d->cluster != NULL ? cluster_node(d->cluster) : NULL,
                                on_host_sample, d);
    if (d->hostmon == NULL) {
        log_error(LOG_NOKV, "out of memory at start-up");
        return -ENOMEM;
    }
    rc = build_checks(d, conf, &d->checks);
    if (rc < 0) {
        return rc;
    }
    d->nchecks = conf->nchecks;
    d->by_name = index_by_name(d->checks, d->nchecks);
    if (d->by_name == NULL) {
        return -ENOMEM;
    }
    rc = store_load_states(d->store, restore_state, d);
    if (rc < 0) {
        log_error(LOG_NOKV, "cannot restore check states: %s", strerror(-rc));
        return rc;
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        rc = sched_add(d->sched, d->checks[i]);
        if (rc < 0) {
            return rc;
        }
    }
    rc = alert_init(d);
    if (rc < 0) {
        return rc;
    }

    if ((rc = watch_signal(d, &d->sig_term, on_sigterm, SIGTERM)) < 0 ||
        (rc = watch_signal(d, &d->sig_int, on_sigterm, SIGINT)) < 0 ||
        (rc = watch_signal(d, &d->sig_hup, on_sighup, SIGHUP)) < 0) {
        return rc;
    }
    uv_timer_init(loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_init(loop, &d->retention_timer);
    d->retention_timer.data = d;
    uv_timer_start(&d->retention_timer, on_retention, RETENTION_FIRST_MS, RETENTION_EVERY_MS);

    char msg[160];
    snprintf(msg, sizeof(msg), "shipwatchd %s started: %zu checks, store %s", SHIPWATCH_VERSION,
             d->nchecks, conf->storage.driver);
    struct event ev = {.ts_ms = d->started_ms, .type = "daemon", .message = msg};
    daemon_emit_event(d, &ev);
    return 0;
}

/* Order lag samples. */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Log the scheduler's totals and start-lag percentiles (benchmarks read it). */
static void log_sched_stats(struct daemon *d)
{
    struct sched_stats st;
    sched_get_stats(d->sched, &st);
    size_t n = st.lag_count < SCHED_LAG_SAMPLES ? st.lag_count : SCHED_LAG_SAMPLES;
    uint32_t p50 = 0, p99 = 0;
    uint32_t *v = n > 0 ? malloc(n * sizeof(*v)) : NULL;
    if (v != NULL) {
        memcpy(v, st.lag_us, n * sizeof(*v));
        qsort(v, n, sizeof(*v), cmp_u32);
        p50 = v[n / 2];
        p99 = v[(n * 99) / 100];
        free(v);
    }
    char started[24], skipped[24], queued[24], s50[16], s99[16];
    snprintf(started, sizeof(started), "%" PRIu64, st.started_total);
    snprintf(skipped, sizeof(skipped), "%" PRIu64, st.skipped_total);
    snprintf(queued, sizeof(queued), "%" PRIu64, st.queued_total);
    snprintf(s50, sizeof(s50), "%" PRIu32, p50);
    snprintf(s99, sizeof(s99), "%" PRIu32, p99);
    log_info(LOG_KV("started", started, "skipped", skipped, "queued", queued, "lag_p50_us", s50,
                    "lag_p99_us", s99),
             "scheduler: %s runs started, %s skipped, start lag p50 %s us, p99 %s us", started,
             skipped, s50, s99);
}

/* Run the loop until its handles are closed and the thread pool's work is
 * back. A host check's read hung on a dead mount may never come back: the
 * wait ends at the drain timeout and leaves it behind (the process exits
 * under it). Whether everything came back. */
static bool run_to_empty(struct daemon *d)
{
    int64_t limit_ms = d->conf != NULL ? d->conf->daemon.drain_timeout_ms
                                       : CONFIG_DEFAULT_DRAIN_TIMEOUT_MS;
    int64_t until_ms = clock_mono_ms() + limit_ms;
    while (uv_run(d->loop, UV_RUN_NOWAIT) != 0) {
        if (clock_mono_ms() >= until_ms) {
            log_warn(LOG_NOKV, "a read on the thread pool has not returned in %lld ms: left "
                               "behind at exit", (long long)limit_ms);
            return false;
        }
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
    }
    return true;
}

/* Tear everything down after the loop stopped; flushes the store. */
void daemon_finish(struct daemon *d)
{
    if (d->sched != NULL) {
        log_sched_stats(d);
    }
    if (d->store != NULL) {
        struct event ev = {.ts_ms = daemon_now_ms(), .type = "daemon", .message = "shipwatchd stopped"};
        daemon_emit_event(d, &ev);
    }
    if (d->cluster != NULL) {
        /* Give this daemon's leases back so peers take its checks at their
         * next tick, waiting for Redis a bounded time. */
        if (d->sched != NULL) {
            sched_stop(d->sched);
        }
        cluster_close(d->cluster);
        while (!cluster_closed(d->cluster)) {
            uv_run(d->loop, UV_RUN_ONCE);
        }
    }
    log_set_hook(NULL, NULL);
    verify_finish(d);
    alert_finish(d);
    ipc_server_close(d->ipc);
    hostmon_close(d->hostmon);
    http_server_close(d->http);
    sched_destroy(d->sched);
    d->sched = NULL;
    curlm_destroy(d->curlm);
    d->curlm = NULL;
    pinger_destroy(d->pinger);
    d->pinger = NULL;
    /* The runs are cancelled: what still gathers goes to the threads, to
     * come back and be freed before the loop empties. */
    hostpool_close(d->hostpool);
    d->hostpool = NULL;
    d->check_env.hostpool = NULL;
    uv_walk(d->loop, close_handle, NULL);
    if (run_to_empty(d)) {
        /* No read on the thread pool is left to use it. */
        proctab_destroy(d->proctab);
        hostmon_destroy(d->hostmon);
    }
    d->proctab = NULL;
    d->hostmon = NULL;
    for (size_t i = 0; i < d->nchecks; i++) {
        check_destroy(d->checks[i]);
    }
    free(d->checks);
    d->checks = NULL;
    free(d->by_name);
    d->by_name = NULL;
    cluster_destroy(d->cluster);
    d->cluster = NULL;
    store_close(d->store);
    d->store = NULL;
    ipc_server_destroy(d->ipc);
    d->ipc = NULL;
    http_server_destroy(d->http);
    d->http = NULL;
    deploys_destroy(d->deploys);
    d->deploys = NULL;
    verifier_destroy(d->verifier);
    d->verifier = NULL;
    config_destroy(d->conf);
    d->conf = NULL;
    for (size_t i = 0; i < d->nnode_names; i++) {
        free(d->node_names[i]);
    }
    free(d->node_names);
    d->node_names = NULL;
    d->nnode_names = 0;
}

const char *daemon_node_name(struct daemon *d, const char *name)
{
    for (size_t i = 0; i < d->nnode_names; i++) {
        if (strcmp(d->node_names[i], name) == 0) {
            return d->node_names[i];
        }
    }
    if (d->nnode_names == DAEMON_NODE_NAMES_MAX) {
        return NULL;
    }
    if (d->nnode_names % 8 == 0) {
        char **v = realloc(d->node_names, (d->nnode_names + 8) * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        d->node_names = v;
    }
    char *copy = strdup(name);
    if (copy != NULL) {
        d->node_names[d->nnode_names++] = copy;
    }
    return copy;
}
