/* ipc_wire.h - msgpack-RPC framing: limits, the streaming reader, envelopes.
 *
 * A peer's bytes go into an ipc_reader (msgpack-c's streaming unpacker).
 * Before the unpacker is allowed to build objects, the buffered bytes are
 * walked without allocating (ipc_wire_scan): the walk finds where the next
 * message ends and refuses one that breaks a limit, so a five-byte header
 * that declares a four-billion-element array costs nothing. Only a complete
 * message within limits is unpacked; its allocations are bounded by its size.
 *
 * Envelopes (the msgpack-RPC spec):
 *   request       [0, msgid, method, params]
 *   response      [1, msgid, error, result]
 *   notification  [2, method, params] */
#ifndef SHIPWATCH_IPC_WIRE_H
#define SHIPWATCH_IPC_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ipc_kind {
    IPC_REQUEST = 0,
    IPC_RESPONSE = 1,
    IPC_NOTIFY = 2,
};

struct ipc_limits {
    size_t max_message;         /* bytes in one message */
    unsigned max_depth;         /* nesting of arrays and maps */
    size_t max_string;          /* bytes in one str, bin or ext */
    size_t max_elements;        /* entries in one array or map */
    size_t max_objects;         /* objects in one message, all levels: what
                                   unpacking it allocates (24 bytes each) */
};

/* What the daemon accepts from a client (max_message from
 * daemon.ipc-max-message), and what a client accepts from the daemon. */
extern const struct ipc_limits ipc_limits_server;
extern const struct ipc_limits ipc_limits_client;

/* Why a peer's bytes were refused. */
enum ipc_wire_err {
    IPC_WIRE_OK = 0,
    IPC_WIRE_MORE,              /* not a whole message yet */
    IPC_WIRE_INVALID,           /* not msgpack (0xc1, ...) */
    IPC_WIRE_TOO_BIG,           /* over max_message */
    IPC_WIRE_TOO_DEEP,          /* over max_depth */
    IPC_WIRE_STRING,            /* a string over max_string */
    IPC_WIRE_ELEMENTS,          /* an array or map over max_elements */
    IPC_WIRE_OBJECTS,           /* a message over max_objects */
    IPC_WIRE_ENVELOPE,          /* msgpack, but not a msgpack-RPC message */
};

const char *ipc_wire_strerror(enum ipc_wire_err e);

/* Walk one msgpack object at p[0..n). IPC_WIRE_OK with *len its size, or
 * IPC_WIRE_MORE when the bytes end first (and nothing so far breaks a
 * limit), or the limit it breaks. Allocates nothing; O(n). */
enum ipc_wire_err ipc_wire_scan(const unsigned char *p, size_t n, const struct ipc_limits *lim,
                                size_t *len);

/* When p starts a request ([0, msgid, ...]), its msgid: what an error
 * response to a message too broken to unpack can still be addressed to. */
bool ipc_wire_peek_msgid(const unsigned char *p, size_t n, uint32_t *msgid);

/* Deeper than any message of ours; limits above it are clamped. */
#define IPC_SCAN_DEPTH 64

/* Where a walk of an unfinished message stopped. */
struct ipc_scan {
    size_t pos;                 /* first byte not yet walked */
    unsigned depth;             /* containers open at pos */
    uint64_t stack[IPC_SCAN_DEPTH];     /* items left in each */
    size_t objects;             /* objects walked so far */
};

/* A streaming reader for one connection. */
struct ipc_reader {
    msgpack_unpacker up;
    msgpack_unpacked msg;
    struct ipc_limits lim;
    struct ipc_scan scan;       /* the walk of the message at scan_off */
    size_t scan_off;
};

/* 0, or -ENOMEM. */
int ipc_reader_init(struct ipc_reader *r, const struct ipc_limits *lim);
void ipc_reader_finish(struct ipc_reader *r);

/* Room for at least want more bytes: a pointer and *avail; NULL on ENOMEM. */
char *ipc_reader_buffer(struct ipc_reader *r, size_t want, size_t *avail);
/* n bytes were written at the pointer ipc_reader_buffer returned. */
void ipc_reader_consumed(struct ipc_reader *r, size_t n);
/* Copy bytes in (for callers that do not read into the buffer). 0 or -ENOMEM. */
int ipc_reader_feed(struct ipc_reader *r, const void *p, size_t n);

/* The next whole message: IPC_WIRE_OK and *obj (valid until the next call),
 * IPC_WIRE_MORE, or an error; after an error the stream cannot be resynced
 * and the connection should be closed. On an error *msgid is set and
 * *has_msgid true when the broken message was a request whose id could be
 * read. */
enum ipc_wire_err ipc_reader_next(struct ipc_reader *r, msgpack_object **obj, uint32_t *msgid,
                                  bool *has_msgid);

/* Release what the last message returned holds (its objects, and a buffer
 * grown for a large message once nothing is buffered after it): an idle
 * connection keeps only the small first buffer. Called by
 * ipc_reader_next when it has no whole message to return. */
void ipc_reader_trim(struct ipc_reader *r);

/* Bytes the reader holds in its buffer, used or not. */
size_t ipc_reader_capacity(const struct ipc_reader *r);

/* Bytes buffered and not yet returned as messages. */
size_t ipc_reader_pending(const struct ipc_reader *r);

/* An unpacked envelope; the pointers point into the object. */
struct ipc_envelope {
    enum ipc_kind kind;
    uint32_t msgid;             /* request and response */
    bool has_msgid;
    const char *method;         /* request and notification; not NUL-terminated */
    size_t method_len;
    const msgpack_object *params;   /* request and notification: an array */
    const msgpack_object *error;    /* response: nil when none */
    const msgpack_object *result;   /* response */
};

/* Check the envelope's shape. 0, or -1 with the reason in why; msgid and
 * has_msgid are filled whenever they could be read. */
int ipc_envelope_parse(const msgpack_object *o, struct ipc_envelope *env, char *why,
                       size_t whylen);

/* The next whole message of r as an envelope: the one read path of every
 * peer (peer.c) and of the blocking client.
 *   IPC_WIRE_OK        *env filled, pointing into r (valid until the next call)
 *   IPC_WIRE_MORE      not a whole message yet
 *   IPC_WIRE_ENVELOPE  a whole msgpack message of the wrong shape, the reason
 *                      in why; env->kind, ->msgid and ->has_msgid as far as
 *                      they could be read. The stream goes on after it.
 *   anything else      a frame error (ipc_reader_next): the stream cannot be
 *                      resynced; env->has_msgid and ->msgid tell whether the
 *                      message started as a request that can be answered. */
enum ipc_wire_err ipc_reader_next_envelope(struct ipc_reader *r, struct ipc_envelope *env,
                                           char *why, size_t whylen);

/* Begin envelopes on pk; the caller then packs the params array (request,
 * notification) or error and result (response). */
void ipc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method);
void ipc_pack_response_head(msgpack_packer *pk, uint32_t msgid);
void ipc_pack_notify_head(msgpack_packer *pk, const char *method);

/* Pack a NUL-terminated string, or nil for NULL. */
void ipc_pack_cstr(msgpack_packer *pk, const char *s);

#endif
