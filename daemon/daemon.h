/* daemon.h - the one context every callback reaches through handle->data.
 *
 * One libuv loop owns all of this; threads (the SQLite writer) never touch
 * it. */
#ifndef SHIPWATCH_DAEMON_H
#define SHIPWATCH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "clock.h"
#include "config.h"

struct sched;
struct store;
struct curlm;
struct proctab;
struct pinger;
struct hostmon;
struct event;
struct ipc_server;
struct http_server;
struct deploys;
struct verifier;
struct alerting;
struct cluster;
struct cluster_msg;
struct ipc_host;
struct reload;

struct daemon {
    uv_loop_t *loop;
    const struct clock *clock;    /* wall time for the domain modules:
                                     &clock_system; a test's fake clock */
    struct config *conf;          /* current configuration, owned */
    const char *config_path;

    struct check **checks;        /* one per conf->checks entry, same order */
    struct check **by_name;       /* the same checks sorted by name */
    size_t nchecks;

    struct check_env check_env;   /* what the checks run in: loop, curl, the
                                     wall clock, daemon_on_result */
    struct sched *sched;
    struct store *store;
    struct curlm *curlm;
    struct proctab *proctab;           /* the process table process checks share */
    struct pinger *pinger;             /* the ICMP sockets icmp checks share */
    struct hostpool *hostpool;         /* where host checks' reads gather */
    struct hostmon *hostmon;           /* the host sampler: host topic, host.get */
    struct ipc_server *ipc;
    struct http_server *http;
    struct cluster *cluster;      /* Redis fan-out and leases; NULL without redis.url */

    struct deploys *deploys;         /* deploy.c's tables, owned */
    struct verifier *verifier;       /* verify.c's windows and verdicts, owned */
    struct alerting *alerting;       /* alert.c's state */

    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    uv_signal_t sig_pipe;
    uv_timer_t drain_timer;       /* cancels in-flight runs at the deadline */
    uv_timer_t retention_timer;

    bool draining;
    bool drain_cancelled;         /* runs in flight were cancelled at the deadline */
    uint64_t drain_started;       /* loop time when draining began */
    int64_t started_ms;           /* wall clock at start */
    uint64_t reloads_total;
    uint64_t reload_failures_total;
    struct reload *reloading;     /* the read on the thread pool; NULL none */
    struct reload *reload_next;   /* callers waiting for the read after it */

    char **node_names;            /* the runners checks name (check.last_node),
                                     each once; owned */
    size_t nnode_names;
};

/* Bring the daemon up on loop: open the store, restore states, schedule
 * every check, watch signals. conf passes to d, which frees it. 0 or a
 * negative errno (already logged); call daemon_finish either way. */
int daemon_init(struct daemon *d, uv_loop_t *loop, struct config *conf, const char *config_path);

/* After the loop stopped: close every handle, flush and close the store,
 * free everything. */
void daemon_finish(struct daemon *d);

/* name as one of d's node names, kept until daemon_finish: a check points
 * at it instead of holding a copy. NULL past DAEMON_NODE_NAMES_MAX names
 * (a cluster has a handful) or out of memory: the runner is then unknown. */
#define DAEMON_NODE_NAMES_MAX 256
const char *daemon_node_name(struct daemon *d, const char *name);

/* What a reload did to the checks. */
struct reload_counts {
    size_t checks, unchanged, changed, added, removed;
};

/* A reload's outcome, on the loop: 0 with what changed (counts); -EINVAL
 * for an invalid file, which changed nothing, with its messages (errs);
 * -ESHUTDOWN when the daemon began to stop first; -ENOMEM. errs and counts
 * are valid for the call only. */
typedef void (*daemon_reload_cb)(void *arg, int rc, const struct config_errors *errs,
                                 const struct reload_counts *counts);

/* Reload config_path: read and checked on the thread pool (100,000 checks
 * take a second to read), then applied on the loop. A reload asked while
 * one is being read is done by the next read, which starts when that one
 * is applied: a file changed meanwhile is not missed. cb (may be NULL) is
 * called once, on the loop, never from within this call. 0; -ESHUTDOWN
 * when the daemon is stopping, or -ENOMEM, and then cb is not called. */
int daemon_reload(struct daemon *d, daemon_reload_cb cb, void *arg);

/* Called by check_run_finish with a finished result: applies the state
 * machine, stores the result, emits a state event on change. */
void daemon_on_result(struct daemon *d, struct check *c, const struct result *r);

/* A peer daemon's result for c (cluster.c, after parsing): for a shared
 * check this daemon does not run, takes the peer's state and last result;
 * for a "locations: all" check, updates that location and the aggregated
 * state. Sent to the socket's subscribers, never stored; alerts only where
 * this daemon holds the lease of a locations-all check. */
void daemon_on_peer_result(struct daemon *d, struct check *c, const struct cluster_msg *m);

/* No node ran c for two intervals while another keeps its lease: c is
 * unknown with reason. loud: this daemon speaks for the cluster (a state
 * event and alerts); otherwise only its own view changes. */
void daemon_on_unrun(struct daemon *d, struct check *c, const char *reason, bool loud);

/* A peer's event: to the socket's subscribers only (the peer stored it). */
void daemon_on_peer_event(struct daemon *d, const char *node, const struct event *ev);

/* A peer's host sample (a client here watches that node): to the socket's
 * clients watching it. */
void daemon_on_peer_host(struct daemon *d, const char *node, const struct ipc_host *h);

/* Emit an event: stored and, once the socket lands, sent to subscribers. */
void daemon_emit_event(struct daemon *d, const struct event *ev);

/* Find a check by name; NULL when absent. */
struct check *daemon_find_check(struct daemon *d, const char *name);

/* The position in d->by_name (names in byte order) of the first check
 * named after name; d->nchecks when none is. NULL name: 0. */
size_t daemon_checks_after(const struct daemon *d, const char *name);

/* Wall clock in unix milliseconds, the system's (clock_wall_ms). Code
 * that holds the daemon reads clock_now_ms(d->clock) instead. */
int64_t daemon_now_ms(void);

#endif
