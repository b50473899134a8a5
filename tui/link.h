/* link.h - the dashboard's connection to shipwatchd, on a libuv loop.
 *
 * Non-blocking msgpack-RPC over the daemon's socket, one peer (peer.h) a
 * connection: calls complete through callbacks, notifications arrive
 * through one. When the daemon goes away
 * the link says so, fails the calls in flight, and reconnects by itself
 * (every second, then every few). A daemon that speaks another protocol or
 * sends bytes that are not our protocol is a fatal error: the link stops
 * and reports it once. */
#ifndef SHIPWATCH_LINK_H
#define SHIPWATCH_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "ipc_proto.h"
#include "ipc_wire.h"
#include "peer.h"

enum link_state {
    LINK_CONNECTING,            /* not connected yet, or trying again */
    LINK_UP,                    /* hello said; calls may go */
    LINK_FATAL,                 /* stopped for good: see error */
};

struct link;

/* A call's end: err 0 and result (a struct of the method's result type,
 * valid during the call), or err < 0 (-EPIPE: the connection went) or
 * IPC_CALL_REMOTE-like code > 0 with the daemon's error code and message. */
typedef void (*link_call_fn)(struct link *l, int err, enum ipc_errcode code, const char *msg,
                             void *result, void *arg);

struct link_ops {
    void (*state)(struct link *l, void *arg);   /* l->state changed */
    void (*notice)(struct link *l, const struct ipc_notice *n, void *arg);
    /* A host sample (the host topic), the link's: the callback may take
     * what it holds (leaving h zeroed), the rest is freed after it. NULL:
     * ignored. One that does not decode (ipc_host_decode) is dropped. */
    void (*host)(struct link *l, struct ipc_host *h, void *arg);
};

struct link_call;

struct link {
    uv_loop_t *loop;
    char *path;
    enum link_state state;
    char error[256];            /* why it is not up */
    struct ipc_hello_result hello;
    int64_t up_since_ms;

    /* private */
    struct link_ops ops;
    void *arg;
    struct peer *peer;          /* NULL between connections; freed when closed */
    uv_timer_t retry;
    uint32_t next_msgid;
    struct link_call *calls;
    unsigned attempts;
};

/* Start connecting to path. 0 or -ENOMEM. */
int link_start(struct link *l, uv_loop_t *loop, const char *path, const struct link_ops *ops,
               void *arg);

/* Close the connection and every handle; calls in flight are dropped
 * without their callbacks. Run the loop once more to finish closing. */
void link_stop(struct link *l);

/* Call a method. params is NULL or a struct of its params type. When the
 * link is not up the callback runs at once with -ENOTCONN. */
void link_call(struct link *l, enum ipc_method_id id, const void *params, link_call_fn fn,
               void *arg);

#endif
