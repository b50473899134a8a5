/* ipc_client.c - a blocking msgpack-RPC client over a Unix socket. */
/* struct ucred (SO_PEERCRED) needs _GNU_SOURCE. */
#define _GNU_SOURCE
#include "ipc_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

struct ipc_notice_node {
    struct ipc_notice n;
    struct ipc_notice_node *next;
};

char *ipc_default_socket_path(void)
{
    char buf[128];
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    const char *rt = getenv("RUNTIME_DIRECTORY");
    if (geteuid() == 0) {
        return strdup("/run/shipwatch/shipwatch.sock");
    }
    /* systemd's RuntimeDirectory= (the shipped unit: /run/shipwatch). */
    if (rt != NULL && rt[0] == '/' && strchr(rt, ':') == NULL) {
        xdg = rt;
    }
    if (xdg != NULL && xdg[0] == '/') {
        size_t n = strlen(xdg) + sizeof("/shipwatch.sock");
        char *s = malloc(n);
        if (s != NULL) {
            snprintf(s, n, "%s/shipwatch.sock", xdg);
        }
        return s;
    }
    /* A private directory of the user's own under /tmp, never the shared
     * /tmp itself: the daemon creates it and refuses one somebody else
     * made, and the client checks it (ipc_client_check_server). */
    snprintf(buf, sizeof(buf), "/tmp/shipwatch-%u/shipwatch.sock", (unsigned)geteuid());
    return strdup(buf);
}

/* Whether the server on fd (connected to path) may be talked to. */
int ipc_client_check_server(int fd, const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof(dir)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -ENAMETOOLONG;
    }
    if (n == 0) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    struct stat st;
    if (stat(dir, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot tell who listens on %s: %s", path, strerror(e));
        return -e;
    }
    if (cred.uid != 0 && cred.uid != st.st_uid) {
        snprintf(err, errlen,
                 "%s is served by uid %u, neither root nor the owner of %s (uid %u): not "
                 "talking to it",
                 path, (unsigned)cred.uid, dir, (unsigned)st.st_uid);
        return -EPERM;
    }
    return 0;
}

static int fail(struct ipc_client *c, int err, const char *fmt, const char *arg)
{
    snprintf(c->errmsg, sizeof(c->errmsg), fmt, arg);
    return err;
}

int ipc_client_open(struct ipc_client *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->next_msgid = 1;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return fail(c, -ENAMETOOLONG, "socket path too long: %s", path);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (ipc_reader_init(&c->rd, &ipc_limits_client) < 0) {
        return fail(c, -ENOMEM, "%s", "out of memory");
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;
        snprintf(c->errmsg, sizeof(c->errmsg), "cannot connect to %s: %s", path, strerror(err));
        ipc_client_close(c);
        return -err;
    }
    int rc = ipc_client_check_server(c->fd, path, c->errmsg, sizeof(c->errmsg));
    if (rc < 0) {
        ipc_client_close(c);
        return rc == -EPERM ? -EPERM : rc;
    }
    return 0;
}

void ipc_client_close(struct ipc_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        ipc_reader_finish(&c->rd);
    } else if (c->rd.up.buffer != NULL) {
        ipc_reader_finish(&c->rd);
    }
    c->fd = -1;
    memset(&c->rd, 0, sizeof(c->rd));
    while (c->qhead != NULL) {
        struct ipc_notice_node *next = c->qhead->next;
        ipc_type_finish(&ipc_notice_type, &c->qhead->n);
        free(c->qhead);
        c->qhead = next;
    }
    c->qtail = NULL;
}

static int send_all(struct ipc_client *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            return fail(c, err == EPIPE || err == ECONNRESET ? -EPIPE : -err,
                        "cannot write to the daemon: %s", strerror(err));
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read what is there, waiting until deadline (-1: forever). 1 when bytes
 * came, 0 at the deadline, -errno. */
static int fill(struct ipc_client *c, int64_t deadline)
{
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - clock_mono_ms();
            wait = left > 0 ? (int)left : 0;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pfd, 1, wait);
        if (r < 0 && errno == EINTR) {
            return fail(c, -EINTR, "%s", "interrupted");
        }
        if (r == 0) {
            return 0;
        }
        size_t avail;
        char *buf = ipc_reader_buffer(&c->rd, 64 * 1024, &avail);
        if (buf == NULL) {
            return fail(c, -ENOMEM, "%s", "out of memory");
        }
        ssize_t k = read(c->fd, buf, avail);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0) {
            return fail(c, -errno, "cannot read from the daemon: %s", strerror(errno));
        }
        if (k == 0) {
            return fail(c, -EPIPE, "%s", "the daemon closed the connection");
        }
        ipc_reader_consumed(&c->rd, (size_t)k);
        return 1;
    }
}

/* The next envelope: 1, 0 at the deadline, -errno. */
static int next_envelope(struct ipc_client *c, int64_t deadline, struct ipc_envelope *env)
{
    for (;;) {
        char why[256];
        enum ipc_wire_err e = ipc_reader_next_envelope(&c->rd, env, why, sizeof(why));
        if (e == IPC_WIRE_OK) {
            return 1;
        }
        if (e != IPC_WIRE_MORE) {
            return fail(c, -EPROTO, "bad message from the daemon: %s", why);
        }
        int r = fill(c, deadline);
        if (r <= 0) {
            return r;
        }
    }
}

/* Keep a notification for ipc_client_notice. */
static void keep_notice(struct ipc_client *c, const struct ipc_envelope *env)
{
    char why[200];
    if (env->method_len != strlen(IPC_NOTICE_METHOD) ||
        memcmp(env->method, IPC_NOTICE_METHOD, env->method_len) != 0) {
        return;     /* a notification this client does not know */
    }
    struct ipc_notice_node *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return;
    }
    if (ipc_decode_params(env->params, &ipc_notice_type, &q->n, why, sizeof(why)) < 0) {
        ipc_type_finish(&ipc_notice_type, &q->n);
        free(q);
        return;
    }
    if (c->qtail != NULL) {
        c->qtail->next = q;
    } else {
        c->qhead = q;
    }
    c->qtail = q;
}

int ipc_client_call(struct ipc_client *c, enum ipc_method_id id, const void *params,
                    void *result, int timeout_ms)
{
    const struct ipc_method *m = &ipc_methods[id];
    uint32_t msgid = c->next_msgid++;
    int64_t deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_request(&sb, msgid, m, params);
    int r = send_all(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (r < 0) {
        return r;
    }
    for (;;) {
        struct ipc_envelope env;
        r = next_envelope(c, deadline, &env);
        if (r == 0) {
            return fail(c, -ETIMEDOUT, "no answer to %s in time", m->name);
        }
        if (r < 0) {
            return r;
        }
        if (env.kind == IPC_NOTIFY) {
            keep_notice(c, &env);
            continue;
        }
        if (env.kind != IPC_RESPONSE || env.msgid != msgid) {
            continue;
        }
        char why[256];
        if (env.error->type != MSGPACK_OBJECT_NIL) {
            struct ipc_error e = {0};
            if (ipc_type_unpack(env.error, &ipc_error_type, &e, why, sizeof(why)) < 0) {
                c->errcode = IPC_E_INTERNAL;
                snprintf(c->errmsg, sizeof(c->errmsg), "%s failed", m->name);
            } else {
                c->errcode = e.code != NULL ? ipc_errcode_parse(e.code, strlen(e.code))
                                            : IPC_E_INTERNAL;
                snprintf(c->errmsg, sizeof(c->errmsg), "%s",
                         e.message != NULL ? e.message : "error");
            }
            ipc_type_finish(&ipc_error_type, &e);
            return IPC_CALL_REMOTE;
        }
        if (ipc_type_unpack(env.result, m->result, result, why, sizeof(why)) < 0) {
            ipc_type_finish(m->result, result);
            return fail(c, -EPROTO, "bad answer from the daemon: %s", why);
        }
        return 0;
    }
}

int ipc_client_notice(struct ipc_client *c, struct ipc_notice *n, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    while (c->qhead == NULL) {
        struct ipc_envelope env;
        int r = next_envelope(c, deadline, &env);
        if (r <= 0) {
            return r;
        }
        if (env.kind == IPC_NOTIFY) {
            keep_notice(c, &env);
        }
    }
    struct ipc_notice_node *q = c->qhead;
    c->qhead = q->next;
    if (c->qhead == NULL) {
        c->qtail = NULL;
    }
    *n = q->n;
    free(q);
    return 1;
}
