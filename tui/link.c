/* link.c - non-blocking msgpack-RPC client on libuv, with reconnection. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "out.h"

#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 5000
#define READ_CHUNK 65536

struct link_call {
    uint32_t msgid;
    enum ipc_method_id id;
    link_call_fn fn;
    void *arg;
    struct link_call *next;
};

struct wbuf {
    uv_write_t req;
    char *data;
};

static void connect_now(struct link *l);
static void on_retry(uv_timer_t *t);

static void set_state(struct link *l, enum link_state st)
{
    l->state = st;
    if (l->ops.state != NULL) {
        l->ops.state(l, l->arg);
    }
}

/* Fail every call in flight with err, in the order they were made. */
static void fail_calls(struct link *l, int err, bool notify)
{
    struct link_call *c = l->calls, *rev = NULL;
    l->calls = NULL;
    while (c != NULL) {         /* the list is newest first */
        struct link_call *next = c->next;
        c->next = rev;
        rev = c;
        c = next;
    }
    while (rev != NULL) {
        struct link_call *next = rev->next;
        if (notify && rev->fn != NULL) {
            rev->fn(l, err, IPC_OK, l->error, NULL, rev->arg);
        }
        free(rev);
        rev = next;
    }
}

static void on_pipe_closed(uv_handle_t *h)
{
    free(h);
}

/* Drop the connection: calls fail, a retry is scheduled unless fatal. */
static void disconnect(struct link *l, bool fatal, const char *fmt, const char *detail)
{
    if (l->pipe != NULL) {
        uv_close((uv_handle_t *)l->pipe, on_pipe_closed);
        l->pipe = NULL;
    }
    if (l->rd_init) {
        ipc_reader_finish(&l->rd);
        l->rd_init = false;
    }
    snprintf(l->error, sizeof(l->error), fmt, detail);
    fail_calls(l, -EPIPE, true);
    ipc_type_free(&ipc_hello_result_type, &l->hello);
    memset(&l->hello, 0, sizeof(l->hello));
    if (fatal) {
        set_state(l, LINK_FATAL);
        return;
    }
    unsigned ms = RETRY_FIRST_MS << (l->attempts < 4 ? l->attempts : 4);
    uv_timer_start(&l->retry, on_retry, ms > RETRY_MAX_MS ? RETRY_MAX_MS : ms, 0);
    l->attempts++;
    set_state(l, LINK_CONNECTING);
}

static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static void on_write(uv_write_t *req, int status)
{
    struct wbuf *w = (struct wbuf *)req;
    free(w->data);
    free(w);
}

static void send_call(struct link *l, enum ipc_method_id id, const void *params,
                      link_call_fn fn, void *arg)
{
    struct link_call *c = calloc(1, sizeof(*c));
    struct wbuf *w = calloc(1, sizeof(*w));
    if (c == NULL || w == NULL) {
        free(c);
        free(w);
        if (fn != NULL) {
            fn(l, -ENOMEM, IPC_OK, "out of memory", NULL, arg);
        }
        return;
    }
    c->msgid = l->next_msgid++;
    c->id = id;
    c->fn = fn;
    c->arg = arg;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_request(&sb, c->msgid, &ipc_methods[id], params);
    size_t len = sb.size;
    w->data = msgpack_sbuffer_release(&sb);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)l->pipe, &buf, 1, on_write) < 0) {
        free(w->data);
        free(w);
        free(c);
        if (fn != NULL) {
            fn(l, -EPIPE, IPC_OK, "cannot write to the daemon", NULL, arg);
        }
        return;
    }
    c->next = l->calls;
    l->calls = c;
}

void link_call(struct link *l, enum ipc_method_id id, const void *params, link_call_fn fn,
               void *arg)
{
    if (l->state != LINK_UP) {
        if (fn != NULL) {
            fn(l, -ENOTCONN, IPC_OK, l->error, NULL, arg);
        }
        return;
    }
    send_call(l, id, params, fn, arg);
}

static struct link_call *take_call(struct link *l, uint32_t msgid)
{
    for (struct link_call **p = &l->calls; *p != NULL; p = &(*p)->next) {
        if ((*p)->msgid == msgid) {
            struct link_call *c = *p;
            *p = c->next;
            return c;
        }
    }
    return NULL;
}

static void on_hello(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    if (err != 0) {
        if (err > 0) {
            disconnect(l, true, "daemon.hello: %s", msg);
        }
        return;     /* the connection went: disconnect() already ran */
    }
    struct ipc_hello_result *h = result;
    if (h->protocol != IPC_PROTOCOL) {
        char why[64];
        snprintf(why, sizeof(why), "%lld", (long long)h->protocol);
        disconnect(l, true, "the daemon speaks protocol %s, this client 1", why);
        return;
    }
    l->hello = *h;
    memset(h, 0, sizeof(*h));   /* ownership moves to l->hello */
    l->attempts = 0;
    l->up_since_ms = out_now_ms();
    l->error[0] = '\0';
    set_state(l, LINK_UP);
}

/* One message from the daemon. Returns false when the link went down. */
static bool handle(struct link *l, const msgpack_object *o)
{
    struct ipc_envelope env;
    char why[256];
    if (ipc_envelope_parse(o, &env, why, sizeof(why)) < 0) {
        disconnect(l, true, "the daemon sent a malformed message: %s", why);
        return false;
    }
    if (env.kind == IPC_NOTIFY) {
        if (env.method_len == strlen(IPC_NOTICE_METHOD) &&
            memcmp(env.method, IPC_NOTICE_METHOD, env.method_len) == 0 && l->ops.notice != NULL) {
            struct ipc_notice n = {0};
            if (ipc_decode_params(env.params, &ipc_notice_type, &n, why, sizeof(why)) == 0) {
                l->ops.notice(l, &n, l->arg);
            }
            ipc_type_free(&ipc_notice_type, &n);
        }
        return l->state != LINK_FATAL && l->pipe != NULL;
    }
    if (env.kind != IPC_RESPONSE) {
        return true;
    }
    struct link_call *c = take_call(l, env.msgid);
    if (c == NULL) {
        return true;
    }
    const struct ipc_type *t = ipc_methods[c->id].result;
    if (env.error->type != MSGPACK_OBJECT_NIL) {
        struct ipc_error e = {0};
        enum ipc_errcode code = IPC_E_INTERNAL;
        if (ipc_type_unpack(env.error, &ipc_error_type, &e, why, sizeof(why)) == 0 &&
            e.code != NULL) {
            code = ipc_errcode_parse(e.code, strlen(e.code));
        }
        if (c->fn != NULL) {
            c->fn(l, 1, code, e.message != NULL ? e.message : "error", NULL, c->arg);
        }
        ipc_type_free(&ipc_error_type, &e);
        free(c);
        return l->pipe != NULL;
    }
    void *res = calloc(1, t->size);
    if (res == NULL || ipc_type_unpack(env.result, t, res, why, sizeof(why)) < 0) {
        if (res != NULL) {
            ipc_type_free(t, res);
        }
        free(res);
        free(c);
        disconnect(l, true, "the daemon sent a malformed answer: %s", why);
        return false;
    }
    if (c->fn != NULL) {
        c->fn(l, 0, IPC_OK, NULL, res, c->arg);
    }
    ipc_type_free(t, res);
    free(res);
    free(c);
    return l->pipe != NULL;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct link *l = h->data;
    size_t avail = 0;
    char *p = ipc_reader_buffer(&l->rd, READ_CHUNK, &avail);
    *buf = uv_buf_init(p, p != NULL ? (unsigned)avail : 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct link *l = st->data;
    if (n < 0) {
        disconnect(l, false, "%s", n == UV_EOF ? "the daemon closed the connection"
                                                : uv_strerror((int)n));
        return;
    }
    if (n == 0) {
        return;
    }
    ipc_reader_consumed(&l->rd, (size_t)n);
    for (;;) {
        msgpack_object *o;
        uint32_t id;
        bool has_id;
        enum ipc_wire_err e = ipc_reader_next(&l->rd, &o, &id, &has_id);
        if (e == IPC_WIRE_MORE) {
            return;
        }
        if (e != IPC_WIRE_OK) {
            disconnect(l, true, "the daemon sent a malformed message: %s", ipc_wire_strerror(e));
            return;
        }
        if (!handle(l, o)) {
            return;
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct link *l = req->data;
    uv_pipe_t *pipe = (uv_pipe_t *)req->handle;
    free(req);
    if (pipe != l->pipe) {
        return;     /* stopped meanwhile */
    }
    if (status < 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot connect to %s: %s", l->path, uv_strerror(status));
        disconnect(l, false, "%s", why);
        return;
    }
    if (ipc_reader_init(&l->rd, &ipc_limits_client) < 0) {
        disconnect(l, false, "%s", "out of memory");
        return;
    }
    l->rd_init = true;
    uv_read_start((uv_stream_t *)l->pipe, on_alloc, on_read);
    struct ipc_hello_params hp = {.client = "shipwatch " SHIPWATCH_VERSION,
                                  .protocol = IPC_PROTOCOL};
    send_call(l, IPC_M_HELLO, &hp, on_hello, NULL);
}

static void connect_now(struct link *l)
{
    l->pipe = calloc(1, sizeof(*l->pipe));
    uv_connect_t *req = calloc(1, sizeof(*req));
    if (l->pipe == NULL || req == NULL) {
        free(l->pipe);
        free(req);
        l->pipe = NULL;
        disconnect(l, false, "%s", "out of memory");
        return;
    }
    uv_pipe_init(l->loop, l->pipe, 0);
    l->pipe->data = l;
    req->data = l;
    uv_pipe_connect(req, l->pipe, l->path, on_connect);
}

int link_start(struct link *l, uv_loop_t *loop, const char *path, const struct link_ops *ops,
               void *arg)
{
    memset(l, 0, sizeof(*l));
    l->loop = loop;
    l->ops = *ops;
    l->arg = arg;
    l->next_msgid = 1;
    l->state = LINK_CONNECTING;
    snprintf(l->error, sizeof(l->error), "connecting to %s", path);
    if ((l->path = strdup(path)) == NULL) {
        return -ENOMEM;
    }
    uv_timer_init(loop, &l->retry);
    l->retry.data = l;
    uv_timer_start(&l->retry, on_retry, 0, 0);    /* on the loop's first turn */
    return 0;
}

void link_stop(struct link *l)
{
    fail_calls(l, -ECANCELED, false);
    if (l->pipe != NULL) {
        uv_close((uv_handle_t *)l->pipe, on_pipe_closed);
        l->pipe = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&l->retry)) {
        uv_close((uv_handle_t *)&l->retry, NULL);
    }
    if (l->rd_init) {
        ipc_reader_finish(&l->rd);
        l->rd_init = false;
    }
    ipc_type_free(&ipc_hello_result_type, &l->hello);
    free(l->path);
    l->path = NULL;
}
