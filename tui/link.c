/* link.c - non-blocking msgpack-RPC client on libuv, with reconnection. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ipc_client.h"
#include "out.h"

#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 5000
#define READ_CHUNK 65536
/* Requests waiting for the daemon: far more than a dashboard ever sends. */
#define MAX_QUEUE (16u << 20)

struct link_call {
    uint32_t msgid;
    enum ipc_method_id id;
    link_call_fn fn;
    void *arg;
    struct link_call *next;
};

/* A new peer, connecting. */
static void connect_now(struct link *l);
/* Time to try connecting again. */
static void on_retry(uv_timer_t *t);

/* Change state and tell the owner. */
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

/* The link is down: calls fail, a retry is scheduled unless fatal. The
 * peer is closed already. */
static void went_down(struct link *l, bool fatal, const char *fmt, const char *detail)
{
    snprintf(l->error, sizeof(l->error), fmt, detail);
    fail_calls(l, -EPIPE, true);
    ipc_type_finish(&ipc_hello_result_type, &l->hello);
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

/* Drop the connection ourselves: calls fail, a retry is scheduled unless
 * fatal. */
static void disconnect(struct link *l, bool fatal, const char *fmt, const char *detail)
{
    struct peer *p = l->peer;
    l->peer = NULL;     /* its dispatch(NULL) is ours to ignore */
    if (p != NULL) {
        peer_close(p, NULL);
    }
    went_down(l, fatal, fmt, detail);
}

/* Time to try connecting again. */
static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

/* Send a call; its callback runs when the answer comes or the link goes. */
static void send_call(struct link *l, enum ipc_method_id id, const void *params,
                      link_call_fn fn, void *arg)
{
    struct link_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (fn != NULL) {
            fn(l, -ENOMEM, IPC_OK, "out of memory", NULL, arg);
        }
        return;
    }
    c->msgid = l->next_msgid++;
    c->id = id;
    c->fn = fn;
    c->arg = arg;
    /* In the list first: a write that fails drops the peer, and that
     * fails the calls in flight, this one too. */
    c->next = l->calls;
    l->calls = c;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_request(&sb, c->msgid, &ipc_methods[id], params);
    peer_send(l->peer, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Call a method, or fail at once when the link is not up. */
void link_call(struct link *l, enum ipc_method_id id, const void *params, link_call_fn fn,
               void *arg)
{
    if (l->state != LINK_UP || l->peer == NULL) {
        if (fn != NULL) {
            fn(l, -ENOTCONN, IPC_OK, l->error, NULL, arg);
        }
        return;
    }
    send_call(l, id, params, fn, arg);
}

/* The call waiting for msgid, taken off the list; NULL if none. */
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

/* daemon.hello answered: up, or a fatal error on another protocol. */
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
    if (peer_check_version(l->peer, h->protocol) < 0) {
        char why[64];
        snprintf(why, sizeof(why), "%lld", (long long)h->protocol);
        disconnect(l, true, "the daemon speaks protocol %s, this client 1", why);
        return;
    }
    l->hello = *h;
    memset(h, 0, sizeof(*h));   /* ownership moves to l->hello */
    l->attempts = 0;
    l->up_since_ms = clock_wall_ms();
    l->error[0] = '\0';
    set_state(l, LINK_UP);
}

/* One message from the daemon. */
static void handle(struct link *l, const struct ipc_envelope *env)
{
    char why[256];
    if (env->kind == IPC_NOTIFY) {
        if (env->method_len == strlen(IPC_NOTICE_METHOD) &&
            memcmp(env->method, IPC_NOTICE_METHOD, env->method_len) == 0 &&
            l->ops.notice != NULL) {
            struct ipc_notice n = {0};
            if (ipc_decode_params(env->params, &ipc_notice_type, &n, why, sizeof(why)) == 0) {
                l->ops.notice(l, &n, l->arg);
            }
            ipc_type_finish(&ipc_notice_type, &n);
        } else if (env->method_len == strlen(IPC_HOST_METHOD) &&
                   memcmp(env->method, IPC_HOST_METHOD, env->method_len) == 0 &&
                   l->ops.host != NULL) {
            struct ipc_host h = {0};
            if (ipc_host_decode(env->params, &h, why, sizeof(why)) == 0) {
                l->ops.host(l, &h, l->arg);
            }
            ipc_type_finish(&ipc_host_type, &h);
        }
        return;
    }
    if (env->kind != IPC_RESPONSE) {
        return;
    }
    struct link_call *c = take_call(l, env->msgid);
    if (c == NULL) {
        return;
    }
    const struct ipc_type *t = ipc_methods[c->id].result;
    if (env->error->type != MSGPACK_OBJECT_NIL) {
        struct ipc_error e = {0};
        enum ipc_errcode code = IPC_E_INTERNAL;
        if (ipc_type_unpack(env->error, &ipc_error_type, &e, why, sizeof(why)) == 0 &&
            e.code != NULL) {
            code = ipc_errcode_parse(e.code, strlen(e.code));
        }
        if (c->fn != NULL) {
            c->fn(l, 1, code, e.message != NULL ? e.message : "error", NULL, c->arg);
        }
        ipc_type_finish(&ipc_error_type, &e);
        free(c);
        return;
    }
    void *res = calloc(1, t->size);
    if (res == NULL || ipc_type_unpack(env->result, t, res, why, sizeof(why)) < 0) {
        if (res != NULL) {
            ipc_type_finish(t, res);
        }
        free(res);
        free(c);
        disconnect(l, true, "the daemon sent a malformed answer: %s", why);
        return;
    }
    if (c->fn != NULL) {
        c->fn(l, 0, IPC_OK, NULL, res, c->arg);
    }
    ipc_type_finish(t, res);
    free(res);
    free(c);
}

/* A message from the daemon, or NULL when the connection ended. */
static void link_dispatch(struct peer *p, const struct ipc_envelope *env)
{
    struct link *l = p->data;
    if (p != l->peer) {
        return;     /* dropped by disconnect() or link_stop() */
    }
    if (env != NULL) {
        handle(l, env);
        return;
    }
    l->peer = NULL;
    if (p->flags & PEER_BAD) {
        went_down(l, true, "the daemon sent a malformed message: %s", p->error);
    } else if (p->flags & PEER_EOF) {
        went_down(l, false, "%s", "the daemon closed the connection");
    } else {
        went_down(l, false, "%s", p->error);
    }
}

/* The peer's handle is closed: its memory goes. */
static void link_closed(struct peer *p)
{
    free(p);
}

static const struct peer_ops link_peer_ops = {
    .dispatch = link_dispatch,
    .closed = link_closed,
    .read_chunk = READ_CHUNK,
};

/* Connected, or not: say hello, or try again later. */
static void on_connect(uv_connect_t *req, int status)
{
    struct link *l = req->data;
    struct peer *p = req->handle->data;
    free(req);
    if (p != l->peer) {
        return;     /* stopped meanwhile */
    }
    if (status < 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot connect to %s: %s", l->path, uv_strerror(status));
        disconnect(l, false, "%s", why);
        return;
    }
    /* Nothing is sent before we know who listens. */
    uv_os_fd_t fd;
    char why[512];
    snprintf(why, sizeof(why), "%s: no descriptor", l->path);
    if (uv_fileno((uv_handle_t *)&p->pipe, &fd) < 0 ||
        ipc_client_check_server(fd, l->path, why, sizeof(why)) < 0) {
        disconnect(l, true, "%s", why);
        return;
    }
    if (peer_start(p, &ipc_limits_client, MAX_QUEUE) < 0) {
        return;     /* dispatch(NULL) said why */
    }
    struct ipc_hello_params hp = {.client = "shipwatch " SHIPWATCH_VERSION,
                                  .protocol = IPC_PROTOCOL};
    send_call(l, IPC_M_HELLO, &hp, on_hello, NULL);
}

/* A new peer, connecting. */
static void connect_now(struct link *l)
{
    struct peer *p = calloc(1, sizeof(*p));
    uv_connect_t *req = calloc(1, sizeof(*req));
    if (p == NULL || req == NULL) {
        free(p);
        free(req);
        disconnect(l, false, "%s", "out of memory");
        return;
    }
    peer_init(p, l->loop, &link_peer_ops, l);
    l->peer = p;
    req->data = l;
    uv_pipe_connect(req, &p->pipe, l->path, on_connect);
}

/* Start connecting on the loop's first turn. */
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

/* Close everything; calls in flight are dropped silently. */
void link_stop(struct link *l)
{
    fail_calls(l, -ECANCELED, false);
    struct peer *p = l->peer;
    l->peer = NULL;
    if (p != NULL) {
        peer_close(p, NULL);
    }
    if (!uv_is_closing((uv_handle_t *)&l->retry)) {
        uv_close((uv_handle_t *)&l->retry, NULL);
    }
    ipc_type_finish(&ipc_hello_result_type, &l->hello);
    free(l->path);
    l->path = NULL;
}
