/* pinger.c - the ICMP sockets every icmp check shares (pinger.h).
 *
 * Each socket keeps the echoes waiting for a reply in a small hash by
 * sequence number; a reply is read in one buffer of the largest datagram,
 * parsed by icmpmsg.c and handed to the echo it answers. The descriptor is
 * closed only from its poll's close callback, never while polled. */
#include <errno.h>
#include <stdarg.h>
#include <linux/icmp.h> /* ICMP_FILTER */
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "icmpmsg.h"
#include "log.h"
#include "pinger.h"

#define BUCKETS 256                     /* waiting echoes' hash, by sequence */
#define READS_MAX 64                    /* packets read a wakeup at most */
#define PING_GROUP_RANGE "/proc/sys/net/ipv4/ping_group_range"

/* One family's socket. */
struct sock {
    struct pinger *p;
    int family;
    int fd;                             /* -1: not open */
    bool polled;                        /* fd watched: echoes may go out */
    bool raw;                           /* raw, else datagram */
    uint16_t id;                        /* the identifier its echoes carry */
    uint16_t next_seq;
    size_t nwaiting;
    uv_poll_t poll;
    char error[256];                    /* why its last open failed; "" none */
    struct pinger_echo *waiting[BUCKETS];
};

struct pinger {
    uv_loop_t *loop;
    struct sock socks[2];               /* [0] IPv4, [1] IPv6 */
    int closing;                        /* polls whose close callback is owed */
    bool destroyed;                     /* free once nothing is closing */
    uint8_t buf[ICMPMSG_PACKET_MAX + 1];    /* one packet read; +1 tells a longer one */
};

struct pinger *pinger_create(uv_loop_t *loop)
{
    struct pinger *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->loop = loop;
    for (int i = 0; i < 2; i++) {
        p->socks[i].p = p;
        p->socks[i].family = i == 0 ? AF_INET : AF_INET6;
        p->socks[i].fd = -1;
    }
    return p;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct sock *s = h->data;
    struct pinger *p = s->p;
    close(s->fd);
    s->fd = -1;
    if (--p->closing == 0 && p->destroyed) {
        free(p);
    }
}

void pinger_destroy(struct pinger *p)
{
    if (p == NULL) {
        return;
    }
    p->destroyed = true;
    for (int i = 0; i < 2; i++) {
        struct sock *s = &p->socks[i];
        memset(s->waiting, 0, sizeof(s->waiting));
        s->nwaiting = 0;
        if (s->polled) {
            s->polled = false;
            p->closing++;
            uv_close((uv_handle_t *)&s->poll, on_poll_closed);
        }
    }
    if (p->closing == 0) {
        free(p);
    }
}

static struct sock *sock_for(struct pinger *p, int family)
{
    return family == AF_INET ? &p->socks[0] : family == AF_INET6 ? &p->socks[1] : NULL;
}

const char *pinger_error(const struct pinger *p, int family)
{
    const struct sock *s = sock_for((struct pinger *)p, family);
    return s == NULL ? "" : s->error;
}

const char *pinger_mode(const struct pinger *p, int family)
{
    const struct sock *s = sock_for((struct pinger *)p, family);
    return s == NULL || !s->polled ? NULL : s->raw ? "raw" : "datagram";
}

/* The waiting echo of s with sequence seq, or NULL; *link points at it. */
static struct pinger_echo *find(struct sock *s, uint16_t seq, struct pinger_echo ***link)
{
    struct pinger_echo **pp = &s->waiting[seq % BUCKETS];
    while (*pp != NULL && (*pp)->seq != seq) {
        pp = &(*pp)->next;
    }
    if (link != NULL) {
        *link = pp;
    }
    return *pp;
}

/* Unlink e from s. */
static void unlink_echo(struct sock *s, struct pinger_echo *e)
{
    struct pinger_echo **pp;
    if (find(s, e->seq, &pp) == e) {
        *pp = e->next;
        s->nwaiting--;
    }
    e->waiting = false;
    e->next = NULL;
}

/* A packet the socket delivered: the echo it answers gets it. */
static void dispatch(struct sock *s, const uint8_t *pkt, size_t len)
{
    enum icmpmsg_source src = s->family == AF_INET ? (s->raw ? ICMPMSG_RAW4 : ICMPMSG_DGRAM4)
                                                   : (s->raw ? ICMPMSG_RAW6 : ICMPMSG_DGRAM6);
    struct icmpmsg_echo r;
    if (icmpmsg_read(src, pkt, len, &r) < 0) {
        return;                         /* not an echo reply */
    }
    struct pinger_echo *e = find(s, r.seq, NULL);
    if (e == NULL || !icmpmsg_answers(&r, s->id, e->seq, e->data, e->data_len)) {
        return;                         /* another process's, late (its run ended), a duplicate */
    }
    uint64_t rtt_ns = uv_hrtime() - e->sent_ns;
    unlink_echo(s, e);
    e->on_reply(e, rtt_ns);
}

/* The socket is readable: read what it holds, a bounded number. */
static void on_readable(uv_poll_t *h, int status, int events)
{
    struct sock *s = h->data;
    struct pinger *p = s->p;
    if (status < 0) {
        log_warn(LOG_KV("component", "icmp"), "poll on the ICMP socket: %s", uv_strerror(status));
        return;
    }
    if ((events & UV_READABLE) == 0) {
        return;
    }
    for (int i = 0; i < READS_MAX && s->polled; i++) {
        ssize_t n = recv(s->fd, p->buf, sizeof(p->buf), MSG_TRUNC);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log_debug(LOG_KV("component", "icmp"), "recv: %s", strerror(errno));
            }
            if (errno != EINTR) {
                break;
            }
            continue;
        }
        if ((size_t)n >= sizeof(p->buf)) {
            continue;                   /* longer than any datagram of ours: dropped */
        }
        dispatch(s, p->buf, (size_t)n);
    }
}

/* Keep why an open failed; logged when the reason is new, not at every
 * run of every check. */
__attribute__((format(printf, 2, 3))) static void set_error(struct sock *s, const char *fmt, ...)
{
    char why[sizeof(s->error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (strcmp(why, s->error) != 0) {
        log_warn(LOG_KV("component", "icmp"), "%s", why);
        memcpy(s->error, why, sizeof(why));
    }
}

/* Why neither socket was allowed, naming the sysctl and the capability. */
static void explain_denied(struct sock *s)
{
    char range[64] = "?";
    FILE *f = fopen(PING_GROUP_RANGE, "re");
    if (f != NULL) {
        if (fgets(range, sizeof(range), f) == NULL) {
            snprintf(range, sizeof(range), "?");
        }
        fclose(f);
        range[strcspn(range, "\n")] = '\0';
        for (char *c = range; *c != '\0'; c++) {
            *c = *c == '\t' ? ' ' : *c;
        }
    }
    set_error(s,
              "local: no %s socket allowed: group %u is outside the sysctl "
              "net.ipv4.ping_group_range (%s), and raw sockets need CAP_NET_RAW",
              s->family == AF_INET ? "ICMP" : "ICMPv6", (unsigned)getgid(), range);
}

/* The identifier a datagram socket's echoes carry: its "port". */
static int bind_dgram(struct sock *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)s->family;
    socklen_t len = s->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(s->fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0) {
        return -errno;
    }
    s->id = ntohs(s->family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* A raw socket hears every ICMP message: let only echo replies through
 * (fewer wakeups; dispatch filters all the same). */
static void filter_raw(struct sock *s)
{
    if (s->family == AF_INET) {
        struct icmp_filter f = {.data = ~(1u << ICMP_ECHOREPLY)};
        (void)setsockopt(s->fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f));
    } else {
        struct icmp6_filter f;
        ICMP6_FILTER_SETBLOCKALL(&f);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
        (void)setsockopt(s->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
    }
}

/* Open s: a datagram socket, else a raw one; watched on the loop. */
static int open_sock(struct pinger *p, struct sock *s)
{
    int proto = s->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const char *what = s->family == AF_INET ? "ICMP" : "ICMPv6";
    int fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    int dgram_err = fd < 0 ? errno : 0;
    bool raw = false;
    if (fd < 0) {
        fd = socket(s->family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        raw = true;
    }
    if (fd < 0) {
        int err = errno;
        if ((dgram_err == EACCES || dgram_err == EPERM) && (err == EACCES || err == EPERM)) {
            explain_denied(s);
            return -EPERM;
        }
        set_error(s, "local: cannot open an %s socket: %s", what, strerror(err));
        return -err;
    }
    s->fd = fd;
    s->raw = raw;
    int rc = 0;
    if (raw) {
        /* Ours among the host's: this process's, mixed so that two
         * daemons in two pid namespaces differ too. */
        s->id = (uint16_t)((unsigned)getpid() ^ (unsigned)(uv_hrtime() >> 10));
        filter_raw(s);
    } else {
        rc = bind_dgram(s);
    }
    if (rc == 0) {
        rc = uv_poll_init_socket(p->loop, &s->poll, fd);
    }
    if (rc < 0) {
        set_error(s, "local: cannot use an %s socket: %s", what, strerror(-rc));
        close(fd);
        s->fd = -1;
        return rc;
    }
    s->poll.data = s;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc < 0) {
        /* The poll is a handle now: it closes, and the descriptor with it. */
        set_error(s, "local: cannot watch an %s socket: %s", what, uv_strerror(rc));
        p->closing++;
        uv_close((uv_handle_t *)&s->poll, on_poll_closed);
        return rc;
    }
    s->polled = true;
    s->error[0] = '\0';
    log_info(LOG_KV("component", "icmp"), "%s %s socket open, echo id %u", what,
             raw ? "raw" : "datagram", (unsigned)s->id);
    return 0;
}

int pinger_send(struct pinger *p, struct pinger_echo *e, const struct sockaddr *to,
                const uint8_t *data, size_t len)
{
    struct sock *s = sock_for(p, to->sa_family);
    if (s == NULL) {
        return -EAFNOSUPPORT;
    }
    if (p->destroyed) {
        return -ESHUTDOWN;
    }
    if (!s->polled) {
        if (s->fd >= 0) {
            return -EAGAIN;             /* a failed open still closing */
        }
        int rc = open_sock(p, s);
        if (rc < 0) {
            return rc;
        }
    }
    if (s->nwaiting >= PINGER_WAITING_MAX) {
        return -ENOBUFS;
    }
    uint16_t seq = s->next_seq;
    while (find(s, seq, NULL) != NULL) {
        seq++;                          /* fewer waiting than numbers: ends */
    }
    s->next_seq = (uint16_t)(seq + 1);

    uint8_t pkt[ICMPMSG_HEADER_LEN + ICMPMSG_PAYLOAD_MAX];
    size_t n = icmpmsg_echo_request(s->family, s->id, seq, data, len, pkt, sizeof(pkt));
    if (n == 0) {
        return -EMSGSIZE;
    }
    struct sockaddr_storage dst;
    socklen_t dlen = s->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memcpy(&dst, to, dlen);
    if (s->family == AF_INET) {
        ((struct sockaddr_in *)&dst)->sin_port = 0;
    } else {
        ((struct sockaddr_in6 *)&dst)->sin6_port = 0;   /* a raw socket takes 0 or its protocol */
    }
    e->sent_ns = uv_hrtime();
    ssize_t sent;
    do {
        sent = sendto(s->fd, pkt, n, 0, (struct sockaddr *)&dst, dlen);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? -ENOBUFS : -errno;
    }
    e->data = data;
    e->data_len = len;
    e->seq = seq;
    e->family = s->family;
    e->waiting = true;
    e->next = s->waiting[seq % BUCKETS];
    s->waiting[seq % BUCKETS] = e;
    s->nwaiting++;
    return 0;
}

void pinger_cancel(struct pinger *p, struct pinger_echo *e)
{
    if (!e->waiting) {
        return;
    }
    struct sock *s = sock_for(p, e->family);
    if (s != NULL) {
        unlink_echo(s, e);
    }
    e->waiting = false;
}
