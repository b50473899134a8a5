/* ipc_server.h - the daemon's end of the socket: connections, dispatch to
 * the method handlers of rpc.h, and the live event stream (docs/protocol.md).
 *
 * One listener on daemon.socket (mode 0660) and one struct per client, all
 * on the daemon's loop. Reads are open to whoever can connect; methods that
 * change state need the daemon's uid, root, or a user or group named in
 * daemon.admins (SO_PEERCRED), decided on every call against the current
 * configuration (a reload that revokes an admin applies to open
 * connections); a client that is not an admin sees targets masked. Every
 * client's output is bounded by daemon.ipc-max-queue: a subscriber that
 * stops reading is disconnected, a client that stops reading its responses
 * is not read from until it does. Clients are capped overall and per uid,
 * and refused while fewer than the descriptor reserve (fdres.h) remain.
 * The socket's directory must be the daemon's own (safedir.h). */
#ifndef SHIPWATCH_IPC_SERVER_H
#define SHIPWATCH_IPC_SERVER_H

#include <stdint.h>

#include "check.h"
#include "log.h"

struct daemon;
struct config;
struct event;
struct ipc_host;
struct ipc_server;

struct ipc_server_stats {
    uint64_t clients;                  /* connected now */
    uint64_t subscribers;              /* of those, subscribed to a topic */
    uint64_t slow_disconnects_total;   /* subscribers dropped for a full queue */
    uint64_t refused_total;            /* clients refused: caps, descriptor reserve */
};

/* Claim d->conf->daemon.socket and listen. A socket another daemon listens
 * on is refused; a stale one is replaced; anything but a socket is left
 * alone and refused. 0 and *out, or a negative errno with the reason in err. */
int ipc_server_start(struct daemon *d, struct ipc_server **out, char *err, size_t errlen);

/* Take up a new configuration (admins, limits) after a reload, and fail the
 * checks.run calls waiting on checks it removed. */
void ipc_server_reconfigure(struct ipc_server *s);

/* Close the listener and every client (their handles close on the next
 * loop turn) and remove the socket file. NULL is a no-op. */
void ipc_server_close(struct ipc_server *s);

/* Free what is left once the loop has run the close callbacks and the store
 * (whose pending queries may still reference clients) is closed. */
void ipc_server_destroy(struct ipc_server *s);

/* A result of c: to "results" subscribers and to checks.run callers. */
void ipc_server_on_result(struct ipc_server *s, const struct check *c, const struct result *r);

/* An event, with its id: to subscribers of its topic. */
void ipc_server_on_event(struct ipc_server *s, const struct event *ev);

/* A host sample (hostmon.h) of this daemon's host (peer NULL) or of a
 * peer's (its node name): to the host topic's subscribers watching that
 * node, and the answer of every host.get waiting for one. h is valid for
 * the call. */
void ipc_server_on_host(struct ipc_server *s, const char *peer, const struct ipc_host *h);

/* A log line: to "log" subscribers. Loop thread only. */
void ipc_server_on_log(struct ipc_server *s, enum log_level level, const char *msg,
                       const char *const *kv);

void ipc_server_get_stats(const struct ipc_server *s, struct ipc_server_stats *out);

#endif
