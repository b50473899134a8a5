/* peer.c - one msgpack-RPC connection on a libuv pipe. */
#include "peer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* One write: what was queued when peer_flush ran. */
struct wreq {
    uv_write_t req;
    char *data;
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

/* Set up p and its pipe. */
void peer_init(struct peer *p, uv_loop_t *loop, const struct peer_ops *ops, void *data)
{
    memset(p, 0, sizeof(*p));
    p->ops = ops;
    p->data = data;
    msgpack_sbuffer_init(&p->out);
    uv_pipe_init(loop, &p->pipe, 0);
    p->pipe.data = p;
}

/* Start reading with these limits. */
int peer_start(struct peer *p, const struct ipc_limits *lim, size_t max_queue)
{
    if (p->flags & PEER_CLOSED) {
        return -EPIPE;
    }
    if (ipc_reader_init(&p->rd, lim) < 0) {
        peer_close(p, "out of memory");
        return -ENOMEM;
    }
    p->flags |= PEER_STARTED;
    p->max_queue = max_queue;
    int rc = uv_read_start((uv_stream_t *)&p->pipe, on_alloc, on_read);
    if (rc < 0) {
        peer_close(p, uv_strerror(rc));
        return rc;
    }
    return 0;
}

/* A new output bound. */
void peer_set_max_queue(struct peer *p, size_t max_queue)
{
    p->max_queue = max_queue;
}

/* Bytes waiting for the other side. */
size_t peer_queued(const struct peer *p)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&p->pipe) + p->out.size;
}

/* Whether the other side's version is ours. */
int peer_check_version(struct peer *p, int64_t version)
{
    if (version != IPC_PROTOCOL) {
        return -EPROTONOSUPPORT;
    }
    p->flags |= PEER_VERSION_OK;
    return 0;
}

/* --- output --- */

/* A write finished: free it, and read again once the other side caught up. */
static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct peer *p = req->handle->data;
    free(w->data);
    free(w);
    if (peer_queued(p) == 0) {
        p->answered = 0;
    }
    if ((p->flags & (PEER_READ_PAUSED | PEER_CLOSED | PEER_CLOSING)) == PEER_READ_PAUSED &&
        peer_queued(p) <= p->max_queue / 2) {
        p->flags &= ~(unsigned)PEER_READ_PAUSED;
        uv_read_start((uv_stream_t *)&p->pipe, on_alloc, on_read);
    }
}

/* Queue a message; write it now unless the owner batches. */
void peer_send(struct peer *p, const void *data, size_t len)
{
    if (p->flags & PEER_CLOSED) {
        return;
    }
    bool was_empty = p->out.size == 0;
    /* msgpack_sbuffer_write aborts on ENOMEM, as every allocation in
     * msgpack-c's packer does. */
    msgpack_sbuffer_write(&p->out, data, len);
    if (!was_empty) {
        return;
    }
    if (p->ops->queued != NULL) {
        p->ops->queued(p);
    } else {
        peer_flush(p);
    }
}

void peer_send_answer(struct peer *p, const void *data, size_t len)
{
    if (!(p->flags & PEER_CLOSED)) {
        p->answered += len;
    }
    peer_send(p, data, len);
}

size_t peer_unasked(const struct peer *p)
{
    size_t q = peer_queued(p);
    return q > p->answered ? q - p->answered : 0;
}

/* Queue an error response. */
void peer_send_error(struct peer *p, uint32_t msgid, enum ipc_errcode code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A message may quote what the other side sent (a method or check
     * name): never echo invalid UTF-8, which a strict client cannot
     * decode; its bytes go out as \xNN. */
    char safe[sizeof(msg) * 4];
    utf8_escape(msg, safe, sizeof(safe));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_error(&sb, msgid, code, "%s", safe);
    peer_send_answer(p, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Hand the queued output to libuv in one write; stop reading while more
 * than max_queue waits, so a peer that never reads cannot grow it. */
void peer_flush(struct peer *p)
{
    if ((p->flags & PEER_CLOSED) || p->out.size == 0) {
        return;
    }
    struct wreq *w = malloc(sizeof(*w));
    if (w == NULL) {
        peer_close(p, "out of memory");
        return;
    }
    size_t len = p->out.size;
    w->data = msgpack_sbuffer_release(&p->out);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&p->pipe, &buf, 1, on_write);
    if (rc < 0) {
        free(w->data);
        free(w);
        peer_close(p, uv_strerror(rc));
        return;
    }
    if ((p->flags & (PEER_STARTED | PEER_READ_PAUSED | PEER_CLOSING)) == PEER_STARTED &&
        peer_queued(p) > p->max_queue) {
        p->flags |= PEER_READ_PAUSED;
        uv_read_stop((uv_stream_t *)&p->pipe);
    }
}

/* --- the end --- */

/* The handle is closed: free what the peer holds, then tell the owner. */
static void on_closed(uv_handle_t *h)
{
    struct peer *p = h->data;
    if (p->flags & PEER_STARTED) {
        ipc_reader_finish(&p->rd);
    }
    msgpack_sbuffer_destroy(&p->out);
    if (p->ops->closed != NULL) {
        p->ops->closed(p);
    }
}

/* Close now; the owner hears of it through dispatch(NULL). */
void peer_close(struct peer *p, const char *why)
{
    if (p->flags & PEER_CLOSED) {
        return;
    }
    char reason[sizeof(p->error)];
    snprintf(reason, sizeof(reason), "%s", why != NULL ? why : "");
    memcpy(p->error, reason, sizeof(p->error));
    p->flags |= PEER_CLOSED;
    msgpack_sbuffer_destroy(&p->out);
    msgpack_sbuffer_init(&p->out);
    if (!uv_is_closing((uv_handle_t *)&p->pipe)) {
        uv_close((uv_handle_t *)&p->pipe, on_closed);
    }
    p->ops->dispatch(p, NULL);
}

/* The queued output is written (or cannot be): close. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct peer *p = req->handle->data;
    free(req);
    char why[sizeof(p->error)];
    memcpy(why, p->error, sizeof(why));
    peer_close(p, why);
}

/* Close once the queued output is written. */
void peer_close_after_write(struct peer *p, const char *why)
{
    if (p->flags & (PEER_CLOSED | PEER_CLOSING)) {
        return;
    }
    peer_flush(p);
    if (p->flags & PEER_CLOSED) {
        return;
    }
    p->flags |= PEER_CLOSING;
    snprintf(p->error, sizeof(p->error), "%s", why != NULL ? why : "");
    uv_read_stop((uv_stream_t *)&p->pipe);
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&p->pipe, on_shutdown) < 0) {
        free(req);
        char reason[sizeof(p->error)];
        memcpy(reason, p->error, sizeof(reason));
        peer_close(p, reason);
    }
}

/* --- input --- */

/* Room in the reader for the next read. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer *p = h->data;
    size_t avail = 0;
    char *b = ipc_reader_buffer(&p->rd, p->ops->read_chunk, &avail);
    *buf = uv_buf_init(b, b != NULL ? (unsigned)avail : 0);
}

/* A protocol error: answer what can be answered, mark p bad, drop it. */
static void bad(struct peer *p, enum ipc_wire_err e, const struct ipc_envelope *env,
                const char *why)
{
    p->flags |= PEER_BAD;
    if (!env->has_msgid || env->kind != IPC_REQUEST) {
        peer_close(p, why);
        return;
    }
    peer_send_error(p, env->msgid, e == IPC_WIRE_INVALID ? IPC_E_MALFORMED : IPC_E_TOO_LARGE,
                    "%s; closing the connection", ipc_wire_strerror(e));
    peer_close_after_write(p, why);
}

/* Bytes came: dispatch every whole message. */
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct peer *p = st->data;
    if (n < 0) {
        if (n == UV_EOF) {
            p->flags |= PEER_EOF;
        }
        peer_close(p, n == UV_EOF ? "the other side closed the connection" : uv_strerror((int)n));
        return;
    }
    if (n == 0) {
        if (buf->base == NULL) {
            peer_close(p, "out of memory");
        }
        return;
    }
    ipc_reader_consumed(&p->rd, (size_t)n);
    while (!(p->flags & (PEER_CLOSED | PEER_CLOSING))) {
        struct ipc_envelope env;
        char why[256];
        enum ipc_wire_err e = ipc_reader_next_envelope(&p->rd, &env, why, sizeof(why));
        if (e == IPC_WIRE_MORE) {
            return;
        }
        if (e == IPC_WIRE_OK) {
            p->ops->dispatch(p, &env);
        } else if (e == IPC_WIRE_ENVELOPE && env.kind == IPC_REQUEST && env.has_msgid) {
            /* Whole and answerable: the stream is still in step. */
            peer_send_error(p, env.msgid, IPC_E_MALFORMED, "%s", why);
        } else if (e == IPC_WIRE_ENVELOPE) {
            p->flags |= PEER_BAD;
            peer_close(p, why);
        } else {
            bad(p, e, &env, why);
        }
    }
}
