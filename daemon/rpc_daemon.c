/* rpc_daemon.c - daemon.hello, status.get, daemon.reload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "daemon.h"
#include "hostmon.h"
#include "ipc_server.h"
#include "rpc.h"
#include "store.h"
#include "util.h"

/* daemon.hello: check the protocol, say what this daemon offers. */
void rpc_hello(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_hello_params *p = params;
    const struct rpc_caller *who = ipc_conn_caller(c);
    /* The version first: a client of another protocol would misread
     * everything after this answer. It may try hello again. */
    if (ipc_conn_hello(c, p->protocol) < 0) {
        ipc_conn_error(c, msgid, IPC_E_PROTOCOL,
                       "this daemon speaks protocol %d, the client %lld%s", IPC_PROTOCOL,
                       (long long)p->protocol, p->protocol == 0 ? " (or did not say)" : "");
        return;
    }
    char *caps[IPC_M_COUNT + IPC_TOPIC_COUNT];
    char topics[IPC_TOPIC_COUNT][32];
    size_t n = 0;
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        caps[n++] = (char *)ipc_methods[i].name;
    }
    for (unsigned i = 0; i < IPC_TOPIC_COUNT; i++) {
        snprintf(topics[i], sizeof(topics[i]), "topic:%s", ipc_topic_name(1u << i));
        caps[n++] = topics[i];
    }
    if (p->client != NULL) {
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", (int)who->pid);
        log_debug(LOG_KV("client", p->client, "pid", pid), "client hello");
    }
    struct ipc_hello_result r = {
        .protocol = IPC_PROTOCOL,
        .version = SHIPWATCH_VERSION,
        .capabilities = caps,
        .ncapabilities = n,
        .pid = getpid(),
        .started_ms = ipc_conn_daemon(c)->started_ms,
        .uid = who->uid,
        .admin = who->admin,
    };
    ipc_conn_respond(c, msgid, &ipc_hello_result_type, &r);
}

/* Worse states sort higher: the state an app shows is its worst check's. */
static int severity(enum check_state st)
{
    switch (st) {
    case STATE_UP:
        return 0;
    case STATE_UNKNOWN:
        return 1;
    case STATE_DEGRADED:
        return 2;
    case STATE_DOWN:
        return 3;
    }
    return 1;
}

/* Count c in the counters of its state, and in paused when it is. */
static void count_state(const struct check *c, int64_t *up, int64_t *down, int64_t *degraded,
                        int64_t *unknown, int64_t *paused)
{
    *paused += c->paused;
    switch (c->state) {
    case STATE_UP: (*up)++; break;
    case STATE_DOWN: (*down)++; break;
    case STATE_DEGRADED: (*degraded)++; break;
    case STATE_UNKNOWN: (*unknown)++; break;
    }
}

/* The (app, env) of every check as a slot in s->apps, in order of first
 * appearance; rebuilt once per configuration, so status.get is linear in
 * the checks. 0 or -ENOMEM. */
static int index_apps(struct rpc_state *s, struct daemon *d)
{
    if (s->app_slot != NULL && s->apps_gen == d->reloads_total) {
        return 0;
    }
    free(s->app_slot);
    free(s->apps);
    s->napps = 0;
    s->app_slot = malloc((d->nchecks + 1) * sizeof(*s->app_slot));
    s->apps = calloc(d->nchecks + 1, sizeof(*s->apps));
    if (s->app_slot == NULL || s->apps == NULL) {
        free(s->app_slot);
        free(s->apps);
        s->app_slot = NULL;
        s->apps = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct conf_check *cc = d->checks[i]->conf;
        s->app_slot[i] = SIZE_MAX;
        if (cc->app == NULL) {
            continue;
        }
        size_t j = 0;
        while (j < s->napps &&
               !(rpc_same(s->apps[j].app, cc->app) && rpc_same(s->apps[j].env, cc->env))) {
            j++;
        }
        if (j == s->napps) {
            s->apps[j].app = cc->app;
            s->apps[j].env = cc->env;
            s->napps++;
        }
        s->app_slot[i] = j;
    }
    s->apps_gen = d->reloads_total;
    return 0;
}

/* status.get: counts of checks by state, per app, and the daemon's health. */
void rpc_status_get(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    struct rpc_state *s = ipc_conn_state(c);
    struct daemon *d = ipc_conn_daemon(c);
    struct ipc_server_stats ist;
    ipc_server_get_stats(ipc_conn_server(c), &ist);
    size_t qlen = 0;
    uint64_t werr = 0;
    store_stats(d->store, &qlen, &werr);
    struct ipc_app_status *apps = NULL;
    int *worst = NULL;
    if (index_apps(s, d) < 0 || (apps = calloc(s->napps + 1, sizeof(*apps))) == NULL ||
        (worst = calloc(s->napps + 1, sizeof(*worst))) == NULL) {
        free(apps);
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    for (size_t j = 0; j < s->napps; j++) {
        apps[j].app = s->apps[j].app;
        apps[j].env = s->apps[j].env;
        worst[j] = -1;
    }
    int64_t up = 0, down = 0, degraded = 0, unknown = 0, paused = 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *ck = d->checks[i];
        count_state(ck, &up, &down, &degraded, &unknown, &paused);
        size_t j = s->app_slot[i];
        if (j == SIZE_MAX) {
            continue;
        }
        struct ipc_app_status *a = &apps[j];
        count_state(ck, &a->up, &a->down, &a->degraded, &a->unknown, &a->paused);
        if (severity(ck->state) > worst[j]) {
            worst[j] = severity(ck->state);
            apps[j].state = check_state_name(ck->state);
        }
    }
    struct cluster_stats cst;
    cluster_get_stats(d->cluster, &cst);
    const char *peers[IPC_PEER_NAMES_MAX];
    size_t npeers = cluster_peer_names(d->cluster, peers, ARRAY_SIZE(peers));
    struct store_health sh;
    store_health(d->store, &sh);
    struct ipc_status r = {
        .version = SHIPWATCH_VERSION,
        .pid = getpid(),
        .started_ms = d->started_ms,
        .now_ms = daemon_now_ms(),
        .config = d->config_path,
        .store = d->conf->storage.driver,
        .store_queue = (int64_t)qlen,
        .store_write_errors = (int64_t)werr,
        .store_degraded = sh.degraded,
        .store_reason = sh.degraded && sh.reason[0] != '\0' ? sh.reason : NULL,
        .store_spooled_bytes = (int64_t)sh.spooled_bytes,
        .checks = (int64_t)d->nchecks,
        .up = up,
        .down = down,
        .degraded = degraded,
        .unknown = unknown,
        .paused = paused,
        .clients = (int64_t)ist.clients,
        .subscribers = (int64_t)ist.subscribers,
        .draining = d->draining,
        .node = d->cluster != NULL ? cluster_node(d->cluster) : NULL,
        .cluster = d->cluster != NULL ? d->conf->cluster : NULL,
        .cluster_connected = cst.connected,
        .cluster_peers = (int64_t)cst.peers,
        .cluster_peer_names = (char **)peers,
        .ncluster_peer_names = npeers < ARRAY_SIZE(peers) ? npeers : ARRAY_SIZE(peers),
        .checks_owned = (int64_t)cst.checks_owned,
        .host_sampling = hostmon_running(ipc_conn_daemon(c)->hostmon),
        .apps = apps,
        .napps = s->napps,
    };
    ipc_conn_respond(c, msgid, &ipc_status_type, &r);
    free(apps);
    free(worst);
}
/* The reload daemon.reload asked for is applied, or failed. */
static void on_reloaded(void *arg, int rc, const struct config_errors *errs,
                        const struct reload_counts *n)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    if (rc == -ESHUTDOWN) {
        ipc_conn_error(c, p->msgid, IPC_E_UNAVAILABLE, "the daemon is shutting down");
    } else if (rc < 0) {
        /* Every message, one a line, as --check-config prints them. */
        char text[2048];
        size_t pos = 0;
        text[0] = '\0';
        for (size_t i = 0; i < errs->n && pos + 1 < sizeof(text); i++) {
            int k = snprintf(text + pos, sizeof(text) - pos, "%s%s", i ? "\n" : "", errs->msgs[i]);
            pos = k < 0 ? sizeof(text) : pos + (size_t)k;
        }
        ipc_conn_error(c, p->msgid, IPC_E_INVALID_CONFIG, "%s",
                       errs->n > 0 ? text : strerror(-rc));
    } else {
        struct ipc_reload r = {.checks = (int64_t)n->checks,
                               .added = (int64_t)n->added,
                               .removed = (int64_t)n->removed,
                               .changed = (int64_t)n->changed,
                               .unchanged = (int64_t)n->unchanged};
        ipc_conn_respond(c, p->msgid, &ipc_reload_type, &r);
    }
    ipc_pending_done(p);
}

/* daemon.reload: read the configuration again; every error when it is
 * invalid. Answered once the new configuration runs. */
void rpc_reload(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    struct daemon *d = ipc_conn_daemon(c);
    (void)params;
    if (d->draining) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    struct ipc_pending *p = ipc_pending_create(c, msgid);
    int rc = p != NULL ? daemon_reload(d, on_reloaded, p) : -ENOMEM;
    if (rc < 0) {
        ipc_conn_error(c, msgid, rc == -ESHUTDOWN ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL, "%s",
                       rc == -ESHUTDOWN ? "the daemon is shutting down" : "out of memory");
        if (p != NULL) {
            ipc_pending_done(p);
        }
    }
}

/* --- alerts, silences, maintenance --- */
