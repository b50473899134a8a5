/* rpc.h - the socket's methods: one handler a method, listed in one table.
 *
 * ipc_server.c owns the transport (the listener, one connection a client,
 * framing, output queues, delivering subscriptions). For a request it finds
 * the method in ipc_methods[], decodes the params into that method's params
 * struct, and calls rpc_handlers[id].fn. The table decides the policy:
 * .admin methods change state and need an admin caller; only .before_hello
 * methods may come before a successful daemon.hello. The handlers live in
 * rpc_<area>.c.
 *
 * A handler's params, and the connection's strings, are valid for the call
 * only: copy what an answer given later needs. A handler answers at once
 * (ipc_conn_respond, ipc_conn_error) or later through an ipc_pending, which
 * keeps the connection's memory alive (not the connection: an answer to a
 * closed one is dropped) until ipc_pending_done. */
#ifndef SHIPWATCH_RPC_H
#define SHIPWATCH_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc_proto.h"

struct daemon;
struct ipc_conn;
struct ipc_server;

/* A method's handler: params is the method's params struct (zeroed when it
 * takes none), valid during the call. */
typedef void rpc_fn(struct ipc_conn *c, uint32_t msgid, const void *params);

struct rpc_handler {
    rpc_fn *fn;
    bool admin;                 /* changes state: root, the daemon's uid or daemon.admins */
    bool before_hello;          /* may be called before daemon.hello succeeded */
};

/* Indexed by enum ipc_method_id; every method has a row. */
/* The params of any method fit in this many bytes (tests/unit/test_ipc_wire.c). */
#define RPC_PARAMS_MAX 512

extern const struct rpc_handler rpc_handlers[IPC_M_COUNT];

/* What the handlers keep between calls, one per server. */
struct rpc_state {
    size_t *app_slot;           /* per check: its slot in apps, SIZE_MAX none */
    struct {
        const char *app, *env;  /* point into the configuration */
    } *apps;
    size_t napps;
    uint64_t apps_gen;          /* d->reloads_total when built */
};

/* Free what s holds; s itself is embedded. */
void rpc_state_finish(struct rpc_state *s);

/* --- what ipc_server.c gives the handlers --- */

/* Who is calling, as SO_PEERCRED told at accept ((uid_t)-1 when unknown). */
struct rpc_caller {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool admin;                 /* may call .admin methods */
};

struct daemon *ipc_conn_daemon(const struct ipc_conn *c);
struct ipc_server *ipc_conn_server(const struct ipc_conn *c);
const struct rpc_caller *ipc_conn_caller(const struct ipc_conn *c);
struct rpc_state *ipc_conn_state(const struct ipc_conn *c);

/* The caller's user name, looked up once per connection, or "uid N". The
 * string lives as long as the connection. */
const char *ipc_conn_user(struct ipc_conn *c);

/* daemon.hello said protocol: 0 when it is ours, and every method may be
 * called from now on; -EPROTONOSUPPORT otherwise. */
int ipc_conn_hello(struct ipc_conn *c, int64_t protocol);

/* The topics (IPC_TOPIC_* bits) c is subscribed to; set replaces them. */
unsigned ipc_conn_topics(const struct ipc_conn *c);
void ipc_conn_set_topics(struct ipc_conn *c, unsigned topics);

/* Answer msgid with v of type t (nothing is kept after the call). */
void ipc_conn_respond(struct ipc_conn *c, uint32_t msgid, const struct ipc_type *t,
                      const void *v);
/* Answer msgid with an error: code and a printf-style message. */
void ipc_conn_error(struct ipc_conn *c, uint32_t msgid, enum ipc_errcode code, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* Answer msgid with the next result of the check named check (copied), or
 * an error after timeout_ms or when a reload removes the check. 0, or
 * -ENOMEM. */
int ipc_conn_wait_run(struct ipc_conn *c, uint32_t msgid, const char *check, int64_t timeout_ms);

/* Answer host.get on c: with the host sampler's last sample when it is
 * fresh, else with its next one (the sampler runs meanwhile), or an error
 * when none comes in time. node: NULL this daemon's host, else a live
 * peer's (cluster.h), whose next sample answers. 0, -ENOMEM, -ENOSPC
 * (too many nodes watched), or -ENODEV without a sampler. */
int ipc_conn_host(struct ipc_conn *c, uint32_t msgid, const char *node);

/* c's host topic sends node's samples (NULL: this daemon's), subscribed
 * now if it was not. 0, -ENOMEM, or -ENOSPC: too many nodes watched. */
int ipc_conn_watch_host(struct ipc_conn *c, const char *node);

/* node as host.get and the host topic name it, into *out: NULL for this
 * daemon (absent, or its own name), or a live peer's name. false, with
 * the error answered, for any other. */
bool rpc_host_node(struct ipc_conn *c, uint32_t msgid, const char *node, const char **out);

/* A request answered later (a store query). */
struct ipc_pending {
    struct ipc_conn *conn;
    uint32_t msgid;
    char *check;                /* allocated, freed with the pending */
    const char *granularity;    /* a literal */
    size_t limit;
    int64_t id;                 /* alerts.ack: the alert */
    struct ipc_pending *prev, *next;    /* the server's, for the store's close */
};

/* A pending answer to msgid on c; NULL on ENOMEM. */
struct ipc_pending *ipc_pending_create(struct ipc_conn *c, uint32_t msgid);
/* The answer was given (or dropped): p and its hold on the connection go. */
void ipc_pending_done(struct ipc_pending *p);

/* --- shared by the handlers (rpc.c) --- */

/* Whether a and b are both NULL or equal strings. */
bool rpc_same(const char *a, const char *b);

/* A limit parameter: 0 means the default; out of range answers an error
 * and returns false. */
bool rpc_limit_ok(struct ipc_conn *c, uint32_t msgid, int64_t limit, int64_t max);

/* An id parameter: positive, else invalid_params is answered. */
bool rpc_id_ok(struct ipc_conn *c, uint32_t msgid, int64_t id);

/* --- the handlers, by file --- */

/* rpc_daemon.c */
rpc_fn rpc_hello, rpc_status_get, rpc_reload;
/* rpc_checks.c */
rpc_fn rpc_checks_list, rpc_checks_get, rpc_checks_history, rpc_checks_run, rpc_checks_pause,
    rpc_checks_resume, rpc_checks_stats;
/* rpc_deploys.c */
rpc_fn rpc_deploys_list, rpc_deploys_record;
/* rpc_events.c */
rpc_fn rpc_events_list, rpc_events_subscribe, rpc_events_unsubscribe;
/* rpc_host.c */
rpc_fn rpc_host_get;
/* rpc_alerts.c */
rpc_fn rpc_alerts_list, rpc_alerts_ack, rpc_alerts_silence, rpc_alerts_unsilence,
    rpc_alerts_silences, rpc_maintenance_list, rpc_maintenance_add, rpc_maintenance_remove;

#endif
