/* rpc_alerts.c - alerts.*, silences and maintenance windows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "maintenance.h"
#include "config.h"
#include "daemon.h"
#include "rpc.h"
#include "store.h"
#include "util.h"

#define ALERTS_DEFAULT_LIMIT 100
#define ALERTS_MAX_LIMIT 1000

/* Fill v from a; the strings point into a, nothing is allocated. */
static void alert_view(const struct alert *a, struct ipc_alert *v)
{
    *v = (struct ipc_alert){
        .id = a->id,
        .kind = a->kind,
        .check = a->check,
        .app = a->app,
        .env = a->env,
        .severity = a->severity,
        .status = a->status,
        .summary = a->summary,
        .started_ms = a->started_ms,
        .resolved_ms = a->resolved_ms,
        .ack_by = a->ack_by,
        .ack_ms = a->ack_ms,
        .ack_comment = a->ack_comment,
        .muted_by = a->muted_by,
        .deploy_id = a->deploy_id,
        .notifications = a->notifications,
    };
}

/* Fill v from m; the strings point into m, nothing is allocated. */
static void mute_view(const struct mute *m, struct ipc_mute *v)
{
    *v = (struct ipc_mute){
        .id = m->id,
        .kind = m->kind,
        .check = m->check,
        .app = m->app,
        .env = m->env,
        .severity = m->severity,
        .starts_ms = m->starts_ms,
        .ends_ms = m->ends_ms == MUTE_UNTIL_RESOLVED ? 0 : m->ends_ms,
        .author = m->author,
        .comment = m->comment,
        .created_ms = m->created_ms,
        .alert_id = m->alert_id,
    };
}

/* Answer an engine's error: -ENOENT not_found (what names the object),
 * -EINVAL invalid_params with why, -EALREADY invalid_params. */
static void respond_alert_error(struct ipc_conn *c, uint32_t msgid, int rc, const char *what,
                                int64_t id, const char *why)
{
    switch (rc) {
    case -ENOENT:
        if (why[0] != '\0') {
            ipc_conn_error(c, msgid, IPC_E_NOT_FOUND, "%s", why);
        } else {
            ipc_conn_error(c, msgid, IPC_E_NOT_FOUND, "no %s with id %lld", what, (long long)id);
        }
        break;
    case -EINVAL:
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "%s", why[0] ? why : "invalid params");
        break;
    case -EALREADY:
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "%s %lld is resolved", what,
                       (long long)id);
        break;
    case -ENOMEM:
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        break;
    default:
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "%s", why[0] ? why : strerror(-rc));
        break;
    }
}

/* An id parameter: positive, else invalid_params is answered. */
static void on_alerts(int err, const struct alert *as, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    struct ipc_alert *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        ipc_conn_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                       "alerts query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        ipc_pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        alert_view(&as[i], &v[i]);
    }
    struct ipc_alerts r = {
        .alerts = v, .nalerts = n, .next_before_id = n > 0 && n == p->limit ? v[n - 1].id : 0};
    ipc_conn_respond(c, p->msgid, &ipc_alerts_type, &r);
    free(v);
    ipc_pending_done(p);
}

/* alerts.list: alerts by status, newest first. */
void rpc_alerts_list(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_alerts_query *p = params;
    static const char *const statuses[] = {"open", "firing", "acknowledged", "resolved", "all"};
    const char *status = p->status != NULL ? p->status : "open";
    size_t k = 0;
    while (k < ARRAY_SIZE(statuses) && strcmp(status, statuses[k]) != 0) {
        k++;
    }
    if (k == ARRAY_SIZE(statuses)) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       "status: %s is not one of open, firing, acknowledged, resolved, all",
                       status);
        return;
    }
    if (!rpc_limit_ok(c, msgid, p->limit, ALERTS_MAX_LIMIT)) {
        return;
    }
    if (p->before_id < 0) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "before_id: must not be negative");
        return;
    }
    struct store_alert_query q = {
        .status = strcmp(status, "all") == 0 ? NULL : status,
        .check = p->check,
        .app = p->app,
        .before_id = p->before_id,
        .limit = p->limit ? (size_t)p->limit : ALERTS_DEFAULT_LIMIT,
    };
    struct ipc_pending *pd = ipc_pending_create(c, msgid);
    if (pd == NULL) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->limit = q.limit;
    int rc = alert_list(ipc_conn_daemon(c), &q, on_alerts, pd);
    if (rc < 0) {
        ipc_conn_error(c, msgid, rc == -EINVAL ? IPC_E_INVALID_PARAMS : IPC_E_UNAVAILABLE,
                       "alerts query failed: %s", strerror(-rc));
        ipc_pending_done(pd);
    }
}

/* alerts.ack of an alert the engine does not hold open: the store says
 * whether it is resolved (invalid_params) or was never there (not_found). */
static void on_ack_lookup(int err, const struct alert *as, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    if (err == 0 && n > 0 && as[0].id == p->id && as[0].status != NULL &&
        strcmp(as[0].status, "resolved") == 0) {
        ipc_conn_error(p->conn, p->msgid, IPC_E_INVALID_PARAMS, "alert %lld is resolved",
                       (long long)p->id);
    } else {
        ipc_conn_error(p->conn, p->msgid, IPC_E_NOT_FOUND, "no open alert with id %lld",
                       (long long)p->id);
    }
    ipc_pending_done(p);
}

/* alerts.ack: acknowledge an open alert. */
void rpc_alerts_ack(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_ack_params *p = params;
    if (!rpc_id_ok(c, msgid, p->id)) {
        return;
    }
    char why[256] = "";
    struct alert a;
    memset(&a, 0, sizeof(a));
    int rc = alert_ack(ipc_conn_daemon(c), p->id, ipc_conn_user(c), p->comment, &a, why,
                       sizeof(why));
    if (rc == -ENOENT) {
        /* Only open alerts are in memory: ask the store about this one. */
        struct store_alert_query q = {.before_id = p->id + (p->id < INT64_MAX), .limit = 1};
        struct ipc_pending *pd = ipc_pending_create(c, msgid);
        if (pd != NULL) {
            pd->id = p->id;
            if (alert_list(ipc_conn_daemon(c), &q, on_ack_lookup, pd) == 0) {
                return;
            }
            ipc_pending_done(pd);
        }
    }
    if (rc < 0) {
        respond_alert_error(c, msgid, rc, "alert", p->id, why);
        return;
    }
    struct ipc_alert v;
    alert_view(&a, &v);
    ipc_conn_respond(c, msgid, &ipc_alert_type, &v);
    alert_copy_finish(&a);
}

/* alerts.silence, maintenance.add: a mute of kind from now (or starts_ms)
 * for duration_ms, or until ends_ms; a silence with an alert_id ends when
 * that alert resolves too, and needs no time of its own. */
static void mute_add(struct ipc_conn *c, uint32_t msgid, const struct ipc_mute_params *p,
                     const char *kind)
{
    int64_t now = daemon_now_ms();
    int64_t starts = p->starts_ms > 0 ? p->starts_ms : now;
    int64_t ends;
    if (p->starts_ms < 0) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "starts_ms: must not be negative");
        return;
    }
    if (p->alert_id < 0 || (p->alert_id > 0 && strcmp(kind, "silence") != 0)) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       p->alert_id < 0 ? "alert_id: must be positive"
                                       : "alert_id: only a silence ends with an alert");
        return;
    }
    bool timed = p->duration_ms != 0 || p->ends_ms != 0;
    if ((p->duration_ms != 0 && p->ends_ms != 0) || (!timed && p->alert_id == 0)) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       p->alert_id == 0 ? "give one of duration_ms and ends_ms"
                                        : "give at most one of duration_ms and ends_ms");
        return;
    }
    if (!timed) {
        ends = MUTE_UNTIL_RESOLVED;
    } else if (p->duration_ms != 0) {
        if (p->duration_ms < 0 || p->duration_ms > INT64_MAX - starts) {
            ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                           "duration_ms: must be a positive number of milliseconds");
            return;
        }
        ends = starts + p->duration_ms;
    } else {
        ends = p->ends_ms;
    }
    if (ends <= starts || ends <= now) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                       ends <= starts ? "ends_ms: must be after starts_ms"
                                      : "ends_ms: already in the past");
        return;
    }
    /* A typo would otherwise mute nothing, silently. */
    if (p->check != NULL && config_find_check(ipc_conn_daemon(c)->conf, p->check) == NULL) {
        ipc_conn_error(c, msgid, IPC_E_NOT_FOUND, "no check named %s in the configuration",
                       p->check);
        return;
    }
    struct mute m = {
        .kind = kind,
        .check = p->check,
        .app = p->app,
        .env = p->env,
        .severity = p->severity,
        .starts_ms = starts,
        .ends_ms = ends,
        .author = ipc_conn_user(c),
        .comment = p->comment,
        .created_ms = now,
        .alert_id = p->alert_id,
    };
    char why[256] = "";
    struct mute out;
    memset(&out, 0, sizeof(out));
    int rc = alert_mute_add(ipc_conn_daemon(c), &m, &out, why, sizeof(why));
    if (rc < 0) {
        respond_alert_error(c, msgid, rc, kind, 0, why);
        return;
    }
    struct ipc_mute v;
    mute_view(&out, &v);
    ipc_conn_respond(c, msgid, &ipc_mute_type, &v);
    mute_copy_finish(&out);
}

/* alerts.unsilence, maintenance.remove: end the mute of kind now. */
static void mute_remove(struct ipc_conn *c, uint32_t msgid, const struct ipc_id_ref *p,
                        const char *kind)
{
    if (!rpc_id_ok(c, msgid, p->id)) {
        return;
    }
    struct mute out;
    memset(&out, 0, sizeof(out));
    int rc = alert_mute_remove(ipc_conn_daemon(c), kind, p->id, &out);
    if (rc < 0) {
        respond_alert_error(c, msgid, rc,
                            strcmp(kind, "silence") == 0 ? "silence" : "maintenance window",
                            p->id, "");
        return;
    }
    struct ipc_mute v;
    mute_view(&out, &v);
    ipc_conn_respond(c, msgid, &ipc_mute_type, &v);
    mute_copy_finish(&out);
}

/* The mutes of kind not yet over as an allocated array (*n of them), the
 * strings pointing into the engine's; NULL only without memory. */
static struct ipc_mute *mutes_view(struct daemon *d, const char *kind, size_t *n)
{
    const struct mute *const *ms = NULL;
    *n = alert_mutes(d, kind, &ms);
    struct ipc_mute *v = calloc(*n + 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < *n; i++) {
        mute_view(ms[i], &v[i]);
    }
    return v;
}

/* alerts.silences: the silences not yet over. */
void rpc_alerts_silences(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    size_t n = 0;
    struct ipc_mute *v = mutes_view(ipc_conn_daemon(c), "silence", &n);
    if (v == NULL) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    struct ipc_mutes r = {.mutes = v, .nmutes = n};
    ipc_conn_respond(c, msgid, &ipc_mutes_type, &r);
    free(v);
}

#define WEEKDAYS 7

static const char *const day_names[WEEKDAYS] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* Text of one configured window: its days and start; the caller's arrays. */
struct window_text {
    char *days[WEEKDAYS];
    char start[8];
};

/* maintenance.list: maintenance mutes and the configured windows. */
void rpc_maintenance_list(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    struct daemon *d = ipc_conn_daemon(c);
    const struct config *conf = d->conf;
    size_t nm = 0;
    struct ipc_mute *mutes = mutes_view(d, "maintenance", &nm);
    struct ipc_maint_window *w = calloc(conf->nmaintenance + 1, sizeof(*w));
    struct window_text *t = calloc(conf->nmaintenance + 1, sizeof(*t));
    if (mutes == NULL || w == NULL || t == NULL) {
        free(mutes);
        free(w);
        free(t);
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    int64_t now = daemon_now_ms();
    for (size_t i = 0; i < conf->nmaintenance; i++) {
        const struct conf_maintenance *m = &conf->maintenance[i];
        size_t nd = 0;
        for (unsigned k = 0; k < WEEKDAYS; k++) {
            if (m->days & (1u << k)) {
                t[i].days[nd++] = (char *)day_names[k];
            }
        }
        snprintf(t[i].start, sizeof(t[i].start), "%02d:%02d", m->start_min / 60 % 24,
                 m->start_min % 60);
        int64_t next_start = 0, next_end = 0;
        bool active = maintenance_window(m, now, &next_start, &next_end);
        w[i] = (struct ipc_maint_window){
            .name = m->name,
            .app = m->app,
            .env = m->env,
            .check = m->check,
            .days = t[i].days,
            .ndays = nd,
            .start = t[i].start,
            .duration_ms = m->duration_ms,
            .next_start_ms = next_start,
            .next_end_ms = next_end,
            .active = active,
        };
    }
    struct ipc_maintenance r = {
        .mutes = mutes, .nmutes = nm, .windows = w, .nwindows = conf->nmaintenance};
    ipc_conn_respond(c, msgid, &ipc_maintenance_type, &r);
    free(mutes);
    free(w);
    free(t);
}

/* alerts.silence: mute matching alerts for a while. */
void rpc_alerts_silence(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    mute_add(c, msgid, params, "silence");
}

/* alerts.unsilence: end a silence now. */
void rpc_alerts_unsilence(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    mute_remove(c, msgid, params, "silence");
}

/* maintenance.add: an ad-hoc maintenance window. */
void rpc_maintenance_add(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    mute_add(c, msgid, params, "maintenance");
}

/* maintenance.remove: end an ad-hoc maintenance window now. */
void rpc_maintenance_remove(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    mute_remove(c, msgid, params, "maintenance");
}
