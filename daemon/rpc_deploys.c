/* rpc_deploys.c - deploys.list and deploys.record. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "rpc.h"
#include "store.h"

#define DEPLOYS_MAX_LIMIT 1000

/* Whether deploys of app are taken: configured, named by a check, or
 * registered on their first deploy. */
static bool app_known(const struct config *conf, const char *app)
{
    if (conf->daemon.auto_register_apps || config_find_app(conf, app) != NULL) {
        return true;
    }
    for (size_t i = 0; i < conf->nchecks; i++) {
        if (conf->checks[i].app != NULL && strcmp(conf->checks[i].app, app) == 0) {
            return true;
        }
    }
    return false;
}

/* The verify window app's deploys get, as configured now. */
static int64_t verify_window(const struct config *conf, const char *app)
{
    const struct conf_app *a = config_find_app(conf, app);
    return a != NULL ? a->verify_window_ms : CONFIG_DEFAULT_VERIFY_WINDOW_MS;
}

/* deploys.record: record a deploy as a CI job would. */
void rpc_deploys_record(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_deploy *p = params;
    char why[128];
    struct daemon *d = ipc_conn_daemon(c);
    struct deploy dep = {
        .app = p->app,
        .env = p->env,
        .version = p->version,
        .commit = p->commit,
        .author = p->author,
        .source = p->source,
        .url = p->url,
        .description = p->description,
        .status = p->status,
        .started_ms = p->started_ms,
        .finished_ms = p->finished_ms,
    };
    /* As the HTTP API answers: an unknown app is refused, not recorded;
     * invalid values are said first. */
    if (deploy_validate(&dep, why, sizeof(why)) == 0 && !app_known(d->conf, dep.app)) {
        ipc_conn_error(c, msgid, IPC_E_NOT_FOUND, "no app named %s in the configuration",
                       dep.app);
        return;
    }
    int rc = deploy_record(d, &dep, why, sizeof(why));
    if (rc < 0) {
        ipc_conn_error(c, msgid, rc == -EINVAL ? IPC_E_INVALID_PARAMS : IPC_E_UNAVAILABLE, "%s",
                       why);
        return;
    }
    struct ipc_deploy r = {
        .id = dep.id,
        .app = dep.app,
        .env = dep.env,
        .version = dep.version,
        .commit = dep.commit,
        .author = dep.author,
        .source = dep.source,
        .url = dep.url,
        .description = dep.description,
        .status = dep.status,
        .started_ms = dep.started_ms,
        .finished_ms = dep.finished_ms,
        .verify_window_ms = verify_window(d->conf, dep.app),
    };
    ipc_conn_respond(c, msgid, &ipc_deploy_type, &r);
}

/* The store answered deploys.list. */
static void on_deploys(int err, const struct deploy *ds, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    struct ipc_deploy *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        ipc_conn_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                       "deploys query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        ipc_pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct deploy *d = &ds[i];
        v[i] = (struct ipc_deploy){
            .id = d->id,
            .app = d->app,
            .env = d->env,
            .version = d->version,
            .commit = d->commit,
            .author = d->author,
            .source = d->source,
            .url = d->url,
            .description = d->description,
            .status = d->status,
            .started_ms = d->started_ms,
            .finished_ms = d->finished_ms,
            .verdict = d->verdict,
            .verdict_reason = d->verdict_reason,
            .failing_check = d->failing_check,
            .rollback_version = d->rollback_version,
            .ref = d->ref,
            .verify_window_ms = verify_window(ipc_conn_daemon(c)->conf, d->app),
        };
    }
    struct ipc_deploys r = {.deploys = v, .ndeploys = n};
    ipc_conn_respond(c, p->msgid, &ipc_deploys_type, &r);
    free(v);
    ipc_pending_done(p);
}

/* deploys.list: recent deploys, newest first, from the store. */
void rpc_deploys_list(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_deploys_query *p = params;
    if (!rpc_limit_ok(c, msgid, p->limit, DEPLOYS_MAX_LIMIT)) {
        return;
    }
    struct store_deploy_query q = {
        .app = p->app, .env = p->env, .before_id = p->before_id, .limit = (size_t)p->limit};
    struct ipc_pending *pd = ipc_pending_create(c, msgid);
    if (pd == NULL) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    int rc = store_deploys(ipc_conn_daemon(c)->store, &q, on_deploys, pd);
    if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "deploys query failed: %s", strerror(-rc));
        ipc_pending_done(pd);
    }
}
