/* cluster.h - several daemons on one Redis: fan-out, work sharing, locations.
 *
 * With redis.url set, every result a daemon runs and every event it emits
 * is published as JSON on <prefix>:<cluster or "default">:results and
 * :events; each daemon subscribes and applies its peers' messages, so a
 * client attached to any daemon sees the whole fleet. A peer's result
 * updates the check's state and last result and reaches the socket's
 * subscribers; it is never stored here (its runner stores it) and never
 * drives this daemon's alerts. Every daemon also says it is alive on
 * :nodes every CLUSTER_NODE_EVERY_MS (shipwatch_cluster_peers).
 *
 * With `cluster` set, checks are shared: one lease per check in Redis,
 * <prefix>:<cluster>:lease:<check> = node name, taken or renewed by a Lua
 * script each time the check is due; only its holder runs it. Why leases
 * rather than a stream with a consumer group and XAUTOCLAIM:
 *  - the scheduler already owns the timing (fixed rate, offsets, post-deploy
 *    cadence); a lease only answers "is it mine this tick", so nothing about
 *    timing moves into Redis and a daemon alone behaves exactly as without
 *    Redis;
 *  - a stream needs a producer that enqueues each tick once for the whole
 *    cluster, i.e. a leader (itself a lease) plus pending-entry bookkeeping;
 *    a crashed consumer's entries move only after XAUTOCLAIM's idle time and
 *    then run late, out of their grid, or twice;
 *  - a lease gives stickiness: the same daemon keeps a check while it lives
 *    (connection reuse, stable per-daemon metrics), and a dead daemon's
 *    checks move by expiry alone, with no one having to notice the death;
 *  - the cost is one small EVAL per check per interval, the same order as
 *    the result's PUBLISH.
 * Spreading: for each check, rendezvous hashing over this node and the
 * live peers with the same check names (a fingerprint in their "alive"
 * message) names a preferred node. A free lease is taken at once by its
 * preferred node; another node defers for the grace first and takes it
 * only if it is still free. A holder that is not the preferred node yields
 * the lease at its next tick (that tick is skipped; the preferred node
 * takes the check just after, one grace late), so daemons started one
 * after another still end up sharing the checks evenly.
 * The lease lives interval + min(interval / 4, 2 s). A daemon that does not
 * get it learns its PTTL and asks again just after it expires, so the
 * checks of a daemon that died move within two intervals. A graceful
 * shutdown deletes the leases this daemon holds.
 *
 * With `locations: all` every daemon runs the check and publishes each
 * result with its node name as the location; every daemon keeps each
 * location's latest state and derives the check's state from them (see
 * state_aggregate). The lease then only says which daemon alerts on, and
 * stores, the aggregated state.
 *
 * Redis unreachable: every daemon runs all of its checks alone, logs it and
 * emits a "cluster" event; it reconnects with backoff (100 ms doubling to
 * 10 s, +-20% jitter) and rejoins. Messages from Redis are hostile input:
 * capped at CLUSTER_MSG_MAX, typed field by field, unknown checks ignored.
 *
 * Trust: anyone who can write to Redis could otherwise stop a check (a
 * lease of their own) or page (forged results). So a cluster needs AUTH
 * and a shared key (config_load.c; redis.insecure waives both); messages
 * are signed with the key and must be recent; results and events count
 * only from a node that announced itself ("alive", signed like the rest)
 * within CLUSTER_PEER_TTL_MS; a lease held by any other name, or with a
 * TTL beyond interval plus grace, is taken over by the script that asks
 * for it. A check whose lease another node keeps but of which no result
 * arrives for two intervals is judged unknown, with the holder named, by
 * one daemon (the rendezvous winner among the others), never left up.
 *
 * Host views (the socket's host topic, host.get) may name another node:
 * the nodes a daemon's clients watch go out in its "alive" messages
 * (host_wants, at once when they change), and a daemon named there holds
 * its host sampler for CLUSTER_HOST_WANT_TTL_MS from each one and
 * publishes its samples on :nodes ("host", the sample as the socket's
 * msgpack in base64, decoded by ipc_host_decode on arrival). So a node
 * nobody watches reads nothing, and a watcher that dies stops the
 * sampling within the TTL.
 *
 * Everything runs on the daemon's loop (hiredis's libuv adapter); nothing
 * blocks but the name lookup hiredis 0.14 does in redisAsyncConnect. */
#ifndef SHIPWATCH_CLUSTER_H
#define SHIPWATCH_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "ipc_proto.h"

struct daemon;
struct event;
struct cluster;

#define CLUSTER_MSG_MAX (64 * 1024)  /* bytes of one message at most */
#define CLUSTER_NAME_MAX 256         /* a check or node name, with its NUL */
#define CLUSTER_EVENT_TEXT_MAX 4096  /* an event's message */
#define CLUSTER_EVENT_DATA_MAX 16384 /* an event's data, as JSON text */
#define CLUSTER_NODE_EVERY_MS 2000   /* "alive" messages */
#define CLUSTER_PEER_TTL_MS 10000    /* a peer not heard from for this long is gone */
#define CLUSTER_FP_MAX 24            /* a checks fingerprint (hex), with its NUL */
#define CLUSTER_HOST_WANTS_MAX 16     /* other nodes one daemon's clients watch at once */
#define CLUSTER_HOST_WANT_TTL_MS 6000 /* a watched node samples this long after a want */
#define CLUSTER_MSG_SKEW_MS 60000    /* a signed message's time may be this far
                                        from ours (clocks kept by NTP) */

/* Where Redis is, from redis.url. */
struct cluster_url {
    bool unix_socket;
    char host[256];     /* tcp: name or address (no brackets) */
    int port;           /* default 6379 */
    char path[108];     /* unix socket path */
    char user[128];     /* ACL user; "" none */
    char password[256]; /* "" none; secret, never logged */
    int db;             /* SELECT; default 0 */
};

/* Parse redis://[[user]:password@]host[:port][/db] (host may be [v6]) or
 * unix:///path[?db=N]; user and password are percent-decoded. 0, or
 * -EINVAL with the reason (never the password) in err. */
int cluster_url_parse(const char *url, struct cluster_url *out, char *err, size_t errlen);

enum cluster_msg_kind {
    CLUSTER_MSG_RESULT,
    CLUSTER_MSG_EVENT,
    CLUSTER_MSG_NODE,
    CLUSTER_MSG_HOST,
};

/* One message from a peer, parsed. The strings of an event are owned by
 * the message and freed by cluster_msg_finish. */
struct cluster_msg {
    enum cluster_msg_kind kind;
    char node[CLUSTER_NAME_MAX];    /* the sender, also the location */
    int64_t ts_ms;                  /* node: when sent; event: its time */
    char checks_fp[CLUSTER_FP_MAX]; /* node: its checks' fingerprint; "" none */
    /* result */
    char check[CLUSTER_NAME_MAX]; /* also an event's check ("" none) */
    struct result result;
    enum check_state state; /* the sender's state of the check after it
                               (for a location: that location's) */
    int64_t state_since_ms;
    int fail_streak;
    int ok_streak;
    bool location; /* a per-location result (locations: all) */
    /* event */
    char *type;      /* never NULL in an event */
    char *app, *env; /* NULL none */
    char *message;   /* never NULL in an event */
    char *data;      /* JSON object text, NULL none */
    /* node: the nodes whose host the sender's clients watch */
    char **host_wants;
    size_t nhost_wants;
    /* host: the sender's host sample (ts_ms is its time); its node is
     * the sender's */
    struct ipc_host host;
};

/* Signed messages. With a cluster key (redis.key) every message on the bus
 * is "sha256=<HMAC-SHA256 of the JSON, hex> <JSON>"; a daemon with the key
 * refuses any other, so a Redis user without the key can neither forge nor
 * alter one. The signature does not stop a replay; the time each message
 * carries does (cluster_msg_fresh). */

/* The text to publish for json (which is freed): json itself without a
 * key, else the signed form. NULL on allocation failure. */
char *cluster_msg_seal(const char *key, char *json);

/* Check one message's envelope: 0 with the JSON at buf + *json_at; without
 * a key a signed envelope is stripped unchecked. -EMSGSIZE beyond
 * CLUSTER_MSG_MAX, -EPERM when a key is set and the signature is missing
 * or wrong. */
int cluster_msg_open(const char *key, const char *buf, size_t len, size_t *json_at);

/* Whether a parsed message's time (when its result ended, an event or
 * "alive" was sent) is within CLUSTER_MSG_SKEW_MS of now_ms. */
bool cluster_msg_fresh(const struct cluster_msg *m, int64_t now_ms);

/* Parse one message of len bytes (not NUL-terminated). 0, -EMSGSIZE when
 * longer than CLUSTER_MSG_MAX, -EINVAL when not a well-formed message.
 * On failure *m holds nothing to free. */
int cluster_msg_parse(const char *buf, size_t len, struct cluster_msg *m);

/* Free what a parsed message owns; the struct itself is the caller's. */
void cluster_msg_finish(struct cluster_msg *m);

/* JSON texts of the messages this daemon sends; the caller frees them.
 * NULL on allocation failure. */
char *cluster_encode_result(const char *node, const char *check, const struct result *r,
                            enum check_state state, int64_t state_since_ms, int fail_streak,
                            int ok_streak, bool location);
char *cluster_encode_event(const char *node, const struct event *ev);
char *cluster_encode_node(const char *node, int64_t ts_ms, const char *checks_fp,
                          const char *const *host_wants, size_t nhost_wants);
char *cluster_encode_host(const char *node, const struct ipc_host *h);

/* Start connecting to d->conf->redis.url (asynchronously). *out is NULL and
 * 0 returned when no URL is configured. -EINVAL with err for a bad URL,
 * -ENOMEM. */
int cluster_create(struct daemon *d, struct cluster **out, char *err, size_t errlen);

/* At shutdown, once the scheduler stopped: delete the leases this daemon
 * holds and disconnect, waiting for the replies up to a bounded time
 * (cluster_closed turns true; the caller runs the loop meanwhile). */
void cluster_close(struct cluster *cl);
bool cluster_closed(const struct cluster *cl);

/* Free after the loop ran the handles' close callbacks. NULL is a no-op. */
void cluster_destroy(struct cluster *cl);

/* This daemon's node name (redis, cluster and node-name are read at start
 * only; a reload does not change them). */
const char *cluster_node(const struct cluster *cl);

/* Whether both connections are up (subscribed, authenticated). */
bool cluster_connected(const struct cluster *cl);

/* Whether this daemon alone decides about c: no cluster, Redis down, or
 * this daemon holds c's lease. It then stores and alerts on c's state. */
bool cluster_owns(const struct cluster *cl, const struct check *c);

/* What the scheduler does with a due check. */
enum cluster_gate {
    CLUSTER_RUN,   /* run it now */
    CLUSTER_ASKED, /* the lease was asked for: sched_lease_reply decides */
};

/* The lease gate, asked by the scheduler each time c is due at
 * interval_ms; the lease lives interval + grace. Never blocks: with no cluster, Redis
 * down, or a locations-all check (run everywhere; the lease only names the
 * alerting daemon) it answers CLUSTER_RUN at once. */
enum cluster_gate cluster_lease(struct cluster *cl, struct check *c, int64_t interval_ms);

/* The lease's grace beyond the interval: min(interval / 4, 2 s). */
int64_t cluster_lease_grace_ms(int64_t interval_ms);

/* Publish c's result r (c's state after it) and an event. Dropped while
 * Redis is unreachable (pub/sub is at most once anyway). */
void cluster_publish_result(struct cluster *cl, const struct check *c, const struct result *r);
void cluster_publish_event(struct cluster *cl, const struct event *ev);

/* A client of this daemon starts (delta 1) or stops (-1) watching node's
 * host. 0, or -ENOSPC when CLUSTER_HOST_WANTS_MAX other nodes are watched
 * already. */
int cluster_host_want(struct cluster *cl, const char *node, int delta);

/* Whether cluster_host_want(cl, node, 1) would succeed; no side effect. */
bool cluster_host_can_want(const struct cluster *cl, const char *node);

/* This host's sample h, published when a peer watches this node. */
void cluster_publish_host(struct cluster *cl, const struct ipc_host *h);

/* Whether node is another daemon heard from within CLUSTER_PEER_TTL_MS. */
bool cluster_peer_live(const struct cluster *cl, const char *node);

/* The names of the live peers, sorted, into names (at most max, pointing
 * into cl, valid until the next message); how many there are. */
size_t cluster_peer_names(const struct cluster *cl, const char **names, size_t max);

struct cluster_stats {
    bool connected;
    size_t checks_owned; /* leases held now */
    size_t peers;        /* other daemons heard from within CLUSTER_PEER_TTL_MS */
    uint64_t published_total;
    uint64_t received_total; /* peers' messages applied */
    uint64_t rejected_total; /* malformed, oversized, unsigned, forged or stale
                                messages, and results and events from nodes that
                                have not announced themselves */
    uint64_t leases_overridden_total; /* leases held by a node that never
                                announced itself, or for longer than interval
                                plus grace, taken over */
    uint64_t unrun_total;    /* checks found run by no node for two intervals */
    uint64_t dropped_total;  /* not published: Redis down or backlogged */
    uint64_t reconnects_total;
};
void cluster_get_stats(const struct cluster *cl, struct cluster_stats *out);

#endif
