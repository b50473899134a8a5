/* starttls.c - the plaintext dialogue before a TLS handshake (FTP's AUTH
 * TLS, PostgreSQL's SSLRequest), then the socket handed over.
 *
 * The driver owns a non-blocking socket watched by a uv_poll, a timer and,
 * for a name, a resolve in flight; it ends only after every one of them
 * called back, so nothing is freed while libuv still holds it. */
#include "starttls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "duration.h"
#include "fdres.h"

/* PostgreSQL's SSLRequest: length 8, the code 1234.5679. */
static const char pg_sslrequest[8] = {0, 0, 0, 8, 0x04, (char)0xd2, 0x16, 0x2f};
static const char ftp_auth_tls[] = "AUTH TLS\r\n";

static enum starttls_step fail(struct starttls_talk *t, const char *what, const char *said)
{
    if (said == NULL) {
        snprintf(t->why, sizeof(t->why), "%s", what);
        return STARTTLS_FAIL;
    }
    /* The server's words, printable and short. */
    char clean[96];
    size_t i = 0;
    for (; said[i] != '\0' && said[i] != '\r' && said[i] != '\n' && i < sizeof(clean) - 1; i++) {
        unsigned char ch = (unsigned char)said[i];
        clean[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    clean[i] = '\0';
    snprintf(t->why, sizeof(t->why), "%s: %s", what, clean);
    return STARTTLS_FAIL;
}

/* A complete FTP reply at the start of buf: its length (past the last
 * line's end), 0 when more is needed, -1 when these are not FTP replies.
 * A reply is "ddd text" or "ddd-text" ... "ddd text" (RFC 959 4.2). */
static long ftp_reply(const char *buf, size_t len, int *code)
{
    size_t pos = 0;
    bool multi = false;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (nl == NULL) {
            return 0;
        }
        size_t line = (size_t)(nl - (buf + pos));
        const char *l = buf + pos;
        bool coded = line >= 3 && l[0] >= '1' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
                     l[2] >= '0' && l[2] <= '9' &&
                     (line == 3 || l[3] == ' ' || l[3] == '-' || l[3] == '\r');
        if (pos == 0) {
            if (!coded) {
                return -1;
            }
            *code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
            multi = line > 3 && l[3] == '-';
        }
        pos += line + 1;
        if (!multi) {
            return (long)pos;
        }
        /* The last line of a multi-line reply repeats the code, then a space. */
        if (pos > line + 1 && coded && memcmp(l, buf, 3) == 0 && (line == 3 || l[3] != '-')) {
            return (long)pos;
        }
    }
    return 0;
}

static enum starttls_step ftp_feed(struct starttls_talk *t)
{
    for (;;) {
        int code = 0;
        long n = ftp_reply(t->buf, t->len, &code);
        if (n < 0) {
            return fail(t, "not an FTP server, it said", t->buf);
        }
        if (n == 0) {
            if (t->len == sizeof(t->buf)) {
                return fail(t, "a reply longer than 4096 bytes", NULL);
            }
            return STARTTLS_MORE;
        }
        bool rest = (size_t)n < t->len;
        if (t->phase == 0 && code == 120) {
            /* Ready in a while: the 220 follows. */
            memmove(t->buf, t->buf + n, t->len - (size_t)n);
            t->len -= (size_t)n;
            continue;
        }
        if (rest) {
            return fail(t, "the server sent more than its reply before TLS", NULL);
        }
        if (t->phase == 0) {
            if (code != 220) {
                return fail(t, "the server is not ready", t->buf);
            }
            t->phase = 1;
            t->len = 0;
            t->send = ftp_auth_tls;
            t->send_len = sizeof(ftp_auth_tls) - 1;
            return STARTTLS_SEND;
        }
        if (code != 234) {
            return fail(t, "the server refuses AUTH TLS", t->buf);
        }
        return STARTTLS_READY;
    }
}

static enum starttls_step pg_feed(struct starttls_talk *t)
{
    switch (t->buf[0]) {
    case 'S':
        return t->len == 1 ? STARTTLS_READY
                           : fail(t, "the server sent more than its answer before TLS", NULL);
    case 'N':
        return fail(t, "the server does not accept TLS (ssl is off)", NULL);
    case 'E':
        return fail(t, "the server answered the SSL request with an error", NULL);
    default: {
        char what[64];
        snprintf(what, sizeof(what), "not a PostgreSQL server (it answered 0x%02x)",
                 (unsigned char)t->buf[0]);
        return fail(t, what, NULL);
    }
    }
}

enum starttls_step starttls_talk_begin(struct starttls_talk *t, enum starttls_proto proto)
{
    memset(t, 0, sizeof(*t));
    t->proto = proto;
    if (proto == STARTTLS_POSTGRES) {
        t->send = pg_sslrequest;
        t->send_len = sizeof(pg_sslrequest);
        return STARTTLS_SEND;
    }
    return STARTTLS_MORE;
}

enum starttls_step starttls_talk_feed(struct starttls_talk *t, const char *data, size_t n)
{
    size_t room = sizeof(t->buf) - t->len;
    if (n > room) {
        return fail(t, t->proto == STARTTLS_FTP ? "a reply longer than 4096 bytes"
                                                : "the server sent more than its answer before TLS",
                    NULL);
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    if (t->len == 0) {
        return STARTTLS_MORE;
    }
    return t->proto == STARTTLS_FTP ? ftp_feed(t) : pg_feed(t);
}

/* --- the driver ---------------------------------------------------------- */

enum conn_state { RESOLVING, CONNECTING, WRITING, READING };

struct starttls_conn {
    uv_loop_t *loop;
    uv_getaddrinfo_t resolve;
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    enum conn_state state;
    bool resolving;             /* its callback is owed */
    bool polling;               /* the poll handle was made */
    bool settled;
    int closing;                /* callbacks owed before the end */
    int port;
    int64_t timeout_ms;
    size_t sent;
    starttls_done_fn done;
    void *arg;
    const char *local;
    char peer[64];
    char why[240];
    struct starttls_talk talk;
};

static const char *proto_name(enum starttls_proto p)
{
    return p == STARTTLS_FTP ? "ftp" : "postgres";
}

/* Every owed callback came: tell the caller, then free. */
static void release(struct starttls_conn *c)
{
    if (--c->closing > 0) {
        return;
    }
    c->done(c->arg, c->fd, c->peer, c->fd >= 0 ? NULL : c->why, c->local);
    free(c);
}

static void on_closed(uv_handle_t *h)
{
    release(h->data);
}

/* Settle once: keep fd (handed over) or close it, and close the handles. */
static void settle(struct starttls_conn *c, bool ready, const char *local, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void settle(struct starttls_conn *c, bool ready, const char *local, const char *fmt, ...)
{
    if (c->settled) {
        return;
    }
    c->settled = true;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
    }
    c->local = local;
    c->closing = 1 + (c->polling ? 1 : 0) + (c->resolving ? 1 : 0);
    if (c->resolving) {
        uv_cancel((uv_req_t *)&c->resolve);
    }
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_closed);
    if (c->polling) {
        uv_poll_stop(&c->poll);
        uv_close((uv_handle_t *)&c->poll, on_closed);
    }
    if (!ready && c->fd >= 0) {
        /* The poll handle is stopped: the descriptor may go now. */
        close(c->fd);
        c->fd = -1;
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

static void step(struct starttls_conn *c, enum starttls_step s)
{
    const char *p = proto_name(c->talk.proto);
    switch (s) {
    case STARTTLS_SEND:
        c->state = WRITING;
        c->sent = 0;
        uv_poll_start(&c->poll, UV_WRITABLE, on_poll);
        break;
    case STARTTLS_MORE:
        c->state = READING;
        uv_poll_start(&c->poll, UV_READABLE, on_poll);
        break;
    case STARTTLS_READY:
        settle(c, true, NULL, NULL);
        return;
    case STARTTLS_FAIL:
        settle(c, false, NULL, "starttls %s: %s", p, c->talk.why);
        return;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct starttls_conn *c = h->data;
    (void)events;
    if (c->settled) {
        return;
    }
    if (status < 0) {
        settle(c, false, fdres_local_reason(status), "poll: %s", uv_strerror(status));
        return;
    }
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err == EINPROGRESS) {
            return;
        }
        if (err != 0) {
            settle(c, false, fdres_local_reason(-err), "connect: %s", strerror(err));
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
            uv_ip_name((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
        }
        step(c, starttls_talk_begin(&c->talk, c->talk.proto));
        return;
    }
    if (c->state == WRITING) {
        ssize_t n = send(c->fd, c->talk.send + c->sent, c->talk.send_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n < 0) {
            settle(c, false, fdres_local_reason(-errno), "send: %s", strerror(errno));
            return;
        }
        c->sent += (size_t)n;
        if (c->sent == c->talk.send_len) {
            c->state = READING;
            uv_poll_start(&c->poll, UV_READABLE, on_poll);
        }
        return;
    }
    char buf[1024];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        settle(c, false, fdres_local_reason(-errno), "recv: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        settle(c, false, NULL, "starttls %s: the server closed the connection",
               proto_name(c->talk.proto));
        return;
    }
    step(c, starttls_talk_feed(&c->talk, buf, (size_t)n));
}

static void on_timeout(uv_timer_t *h)
{
    struct starttls_conn *c = h->data;
    char d[32];
    const char *when = c->state == RESOLVING    ? "resolve"
                       : c->state == CONNECTING ? "connect"
                                                : "starttls";
    settle(c, false, NULL, "%s: timed out after %s", when,
           duration_format(c->timeout_ms, d, sizeof(d)));
}

static void connect_to(struct starttls_conn *c, const struct sockaddr *sa)
{
    c->state = CONNECTING;
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        settle(c, false, fdres_local_reason(-errno), "socket: %s", strerror(errno));
        return;
    }
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (connect(c->fd, sa, len) < 0 && errno != EINPROGRESS) {
        settle(c, false, fdres_local_reason(-errno), "connect: %s", strerror(errno));
        return;
    }
    int rc = uv_poll_init_socket(c->loop, &c->poll, c->fd);
    if (rc < 0) {
        settle(c, false, fdres_local_reason(rc), "poll: %s", uv_strerror(rc));
        return;
    }
    c->poll.data = c;
    c->polling = true;
    uv_poll_start(&c->poll, UV_WRITABLE, on_poll);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct starttls_conn *c = req->data;
    c->resolving = false;
    if (c->settled) {
        uv_freeaddrinfo(res);
        release(c);
        return;
    }
    if (status < 0 || res == NULL) {
        settle(c, false, fdres_local_reason(status), "resolve: %s",
               uv_strerror(status < 0 ? status : UV_EAI_NONAME));
    } else {
        connect_to(c, res->ai_addr);
    }
    uv_freeaddrinfo(res);
}

int starttls_open(uv_loop_t *loop, const char *host, int port, enum starttls_proto proto,
                  int64_t timeout_ms, starttls_done_fn done, void *arg,
                  struct starttls_conn **out)
{
    struct starttls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->loop = loop;
    c->fd = -1;
    c->port = port;
    c->timeout_ms = timeout_ms;
    c->done = done;
    c->arg = arg;
    c->talk.proto = proto;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    *out = c;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_to(c, (struct sockaddr *)&ss);
        return 0;
    }
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    c->resolve.data = c;
    c->state = RESOLVING;
    int rc = uv_getaddrinfo(loop, &c->resolve, on_resolved, host, ps, &hints);
    if (rc < 0) {
        settle(c, false, fdres_local_reason(rc), "resolve: %s", uv_strerror(rc));
    } else {
        c->resolving = true;
    }
    return 0;
}

void starttls_cancel(struct starttls_conn *c)
{
    settle(c, false, NULL, "cancelled");
}
