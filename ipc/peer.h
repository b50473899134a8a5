/* peer.h - one msgpack-RPC connection on a libuv pipe, for either end.
 *
 * The daemon's server (a peer per client) and the dashboard's link (a peer
 * to the daemon) are both peers; the blocking client (ipc_client.c) reads
 * through the same ipc_reader_next_envelope. tmux's proc.c is the model:
 *
 * - Bytes in go through an ipc_reader with the peer's limits. Every whole,
 *   well-formed message goes to ops->dispatch as an envelope, valid for the
 *   call only; its memory is released once no whole message is left, so
 *   an idle peer holds only a small buffer. Dispatch validates the
 *   contents before use. Error messages are sent as valid UTF-8 (invalid
 *   bytes escaped \xNN) whatever they quote.
 * - Output is queued with peer_send and written by peer_flush: at once, or
 *   when the owner says (ops->queued set: the daemon writes what each client
 *   got once per loop turn). A write is in flight only while there is
 *   output; a peer with nothing to send costs no write request.
 * - Output is bounded: while more than max_queue bytes wait for the other
 *   side, the peer is not read from (it sends requests and does not read the
 *   answers), until half of it has been written. An owner that must not
 *   wait (a subscription) checks peer_queued and closes the peer instead.
 * - A peer that breaks the protocol is marked PEER_BAD and dropped: bytes
 *   that are not msgpack or break a limit (answered with malformed or
 *   too_large first when they started as a request whose msgid can be
 *   read), and a message of the wrong shape that is not an answerable
 *   request. A request of the wrong shape with a readable msgid is answered
 *   with malformed and the stream goes on.
 * - The protocol version: peer_check_version records that the other side
 *   said a version this build speaks (daemon.hello); PEER_VERSION_OK.
 * - However the connection ends (end of stream, a read or write error, a
 *   bad peer, peer_close), ops->dispatch is called once with env NULL;
 *   p->error says why ("" when the owner closed it quietly) and p->flags
 *   has PEER_EOF or PEER_BAD. After it nothing is read, sent or dispatched.
 *   ops->closed runs once libuv has closed the handle: only then may the
 *   owner free the memory the peer lives in.
 *
 * Loop thread only. A struct peer does not move once peer_init ran. */
#ifndef SHIPWATCH_PEER_H
#define SHIPWATCH_PEER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ipc_proto.h"
#include "ipc_wire.h"

struct peer;

struct peer_ops {
    /* A message, or NULL once when the connection ended (see above). */
    void (*dispatch)(struct peer *p, const struct ipc_envelope *env);
    /* The handle is closed; p's memory may go. */
    void (*closed)(struct peer *p);
    /* Output went from empty to waiting: the owner calls peer_flush soon.
     * NULL: peer_send writes at once. */
    void (*queued)(struct peer *p);
    size_t read_chunk;          /* bytes to read at a time */
};

enum peer_flag {
    PEER_STARTED = 1 << 0,      /* peer_start ran: reading */
    PEER_READ_PAUSED = 1 << 1,  /* too much output waits: not reading */
    PEER_CLOSING = 1 << 2,      /* closing after what is queued is written */
    PEER_CLOSED = 1 << 3,       /* dispatched NULL; the handle is closing */
    PEER_BAD = 1 << 4,          /* broke the protocol */
    PEER_EOF = 1 << 5,          /* the other side ended the stream */
    PEER_VERSION_OK = 1 << 6,   /* the other side speaks IPC_PROTOCOL */
};

struct peer {
    uv_pipe_t pipe;             /* pipe.data is the peer */
    void *data;                 /* the owner's */
    unsigned flags;             /* enum peer_flag */
    char error[256];            /* why it ended, once PEER_CLOSED */

    /* private */
    const struct peer_ops *ops;
    struct ipc_reader rd;
    size_t max_queue;
    msgpack_sbuffer out;        /* queued, not yet handed to libuv */
    size_t answered;            /* bytes of answers queued since the output
                                   was last empty (peer_send_answer) */
};

/* Set up p (and its pipe, for uv_accept or uv_pipe_connect) on loop. From
 * here on p ends with peer_close and lives until ops->closed. */
void peer_init(struct peer *p, uv_loop_t *loop, const struct peer_ops *ops, void *data);

/* Start reading the connected pipe with these limits (copied) and output
 * bound. 0, or a negative errno: the peer is closed (dispatch NULL). */
int peer_start(struct peer *p, const struct ipc_limits *lim, size_t max_queue);

/* Take up a new output bound (a reload). */
void peer_set_max_queue(struct peer *p, size_t max_queue);

/* Queue one whole message (copied). Nothing happens on a closed peer. */
void peer_send(struct peer *p, const void *data, size_t len);

/* peer_send of an answer to the other side's call, counted apart: a large
 * answer in the queue (a page of checks) is output the other side asked
 * for, not output it failed to read (peer_unasked). */
void peer_send_answer(struct peer *p, const void *data, size_t len);

/* Bytes queued beyond the answers queued since the output was last empty:
 * at most what the other side did not ask for and has not read. */
size_t peer_unasked(const struct peer *p);

/* Queue an error response to msgid. */
void peer_send_error(struct peer *p, uint32_t msgid, enum ipc_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hand the queued output to libuv; a write error closes p. */
void peer_flush(struct peer *p);

/* Bytes waiting for the other side: queued here or in libuv. */
size_t peer_queued(const struct peer *p);

/* Whether version is IPC_PROTOCOL; 0 and PEER_VERSION_OK set, or
 * -EPROTONOSUPPORT. */
int peer_check_version(struct peer *p, int64_t version);

/* End the connection now: queued output is dropped, dispatch gets NULL
 * with why (NULL: "") unless it already did. No-op on a closed peer. */
void peer_close(struct peer *p, const char *why);

/* End the connection once the queued output is written (an answer that
 * explains why), as peer_close(p, why) does then. */
void peer_close_after_write(struct peer *p, const char *why);

#endif
