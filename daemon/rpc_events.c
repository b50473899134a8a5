/* rpc_events.c - events.list, events.subscribe, events.unsubscribe. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "rpc.h"
#include "store.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000

/* The store answered events.list. */
static void on_events(int err, const struct event *evs, size_t n, void *arg)
{
    struct ipc_pending *p = arg;
    struct ipc_conn *c = p->conn;
    struct ipc_event *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        ipc_conn_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                       "events query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        ipc_pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct event *e = &evs[i];
        v[i] = (struct ipc_event){
            .id = e->id,
            .ts_ms = e->ts_ms,
            .type = e->type,
            .check = e->check,
            .app = e->app,
            .env = e->env,
            .message = e->message,
            .data = e->data,
        };
    }
    struct ipc_events r = {
        .events = v, .nevents = n, .next_before_id = n > 0 && n == p->limit ? v[n - 1].id : 0};
    ipc_conn_respond(c, p->msgid, &ipc_events_type, &r);
    free(v);
    ipc_pending_done(p);
}

/* events.list: stored events, newest first. */
void rpc_events_list(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_events_query *p = params;
    if (!rpc_limit_ok(c, msgid, p->limit, EVENTS_MAX_LIMIT)) {
        return;
    }
    struct store_event_query q = {.app = p->app,
                                  .check = p->check,
                                  .type = p->type,
                                  .before_id = p->before_id,
                                  .limit = p->limit ? (size_t)p->limit : EVENTS_DEFAULT_LIMIT};
    struct ipc_pending *pd = ipc_pending_create(c, msgid);
    if (pd == NULL) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->limit = q.limit;
    int rc = store_events(ipc_conn_daemon(c)->store, &q, on_events, pd);
    if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "events query failed: %s", strerror(-rc));
        ipc_pending_done(pd);
    }
}

/* events.subscribe and .unsubscribe: change the topics; answer them all. */
static void subscribe(struct ipc_conn *c, uint32_t msgid, const struct ipc_topics *p, bool on)
{
    /* No topics: every topic of the event log to subscribe (not the host
     * samples, which only a client that names them gets), everything to
     * unsubscribe. */
    unsigned bits = p->ntopics > 0 ? 0 : on ? IPC_TOPIC_ALL : IPC_TOPIC_ALL | IPC_TOPIC_HOST;
    for (size_t i = 0; i < p->ntopics; i++) {
        unsigned b = ipc_topic_parse(p->topics[i]);
        if (b == 0) {
            ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS,
                           "topics: %s is not a topic (results, states, deploys, alerts, log, host)",
                           p->topics[i]);
            return;
        }
        bits |= b;
    }
    if (on && (bits & IPC_TOPIC_HOST)) {
        /* Whose host: this daemon's, or a node's of the cluster. */
        const char *node;
        if (!rpc_host_node(c, msgid, p->node, &node)) {
            return;
        }
        int rc = ipc_conn_watch_host(c, node);
        if (rc < 0) {
            ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "host of node %s: %s", node,
                           rc == -ENOSPC ? "this daemon's clients watch too many nodes already"
                                         : strerror(-rc));
            return;
        }
    }
    unsigned topics = ipc_conn_topics(c);
    ipc_conn_set_topics(c, on ? topics | bits : topics & ~bits);
    topics = ipc_conn_topics(c);
    char *names[IPC_TOPIC_COUNT];
    size_t n = 0;
    for (unsigned i = 0; i < IPC_TOPIC_COUNT; i++) {
        if (topics & (1u << i)) {
            names[n++] = (char *)ipc_topic_name(1u << i);
        }
    }
    struct ipc_topics r = {.topics = names, .ntopics = n};
    ipc_conn_respond(c, msgid, &ipc_topics_type, &r);
}

/* events.subscribe: add topics to this connection's stream. */
void rpc_events_subscribe(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    subscribe(c, msgid, params, true);
}

/* events.unsubscribe: remove topics from this connection's stream. */
void rpc_events_unsubscribe(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    subscribe(c, msgid, params, false);
}
