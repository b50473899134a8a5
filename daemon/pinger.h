/* pinger.h - the ICMP sockets every icmp check shares, on the loop.
 *
 * One socket a family (IPv4, IPv6), opened at the first echo sent to that
 * family and kept for the daemon's life, watched by one uv_poll; every
 * icmp check's echoes go out through it and its replies come back to the
 * echo that asked, matched by identifier, sequence number and payload.
 *
 * Which socket: an unprivileged ICMP datagram ("ping") socket first, which
 * the kernel allows to the groups of the sysctl net.ipv4.ping_group_range
 * (it governs IPv6 too); then a raw socket, which needs CAP_NET_RAW. On a
 * datagram socket the kernel writes the socket's own identifier (its
 * "port", read with getsockname) into each echo and hands back only the
 * replies that carry it; a raw socket sees every ICMP message of the host,
 * so its replies are filtered by the identifier this module picked. When
 * neither may be opened, pinger_send fails with -EPERM and pinger_error
 * names the sysctl and the capability. A socket that could not be opened
 * is tried again at the next send: an operator may fix either meanwhile.
 *
 * Sequence numbers are the socket's, shared by every check: each echo
 * waiting for its reply holds one, and no two waiting echoes of a socket
 * hold the same.
 *
 * Ownership: the daemon creates the pinger and hands it to checkers in
 * struct check_env. A struct pinger_echo is the caller's (a run embeds
 * them); from a pinger_send that returned 0 until its reply callback or
 * pinger_cancel the pinger links it, and it and its data must stay put.
 * Nothing here blocks; everything runs on the loop. */
#ifndef SHIPWATCH_PINGER_H
#define SHIPWATCH_PINGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct pinger;
struct pinger_echo;

#define PINGER_WAITING_MAX 16384        /* echoes waiting a socket at most */

/* An echo's reply arrived, rtt_ns after it was sent; e is no longer
 * linked (the callback may free it). */
typedef void (*pinger_reply_fn)(struct pinger_echo *e, uint64_t rtt_ns);

/* One echo request and the wait for its reply. */
struct pinger_echo {
    pinger_reply_fn on_reply;           /* set by the caller */
    void *arg;                          /* the caller's */
    /* ---- pinger.c's */
    const uint8_t *data;                /* the payload sent: borrowed */
    size_t data_len;
    uint64_t sent_ns;                   /* uv_hrtime() at the send */
    uint16_t seq;
    int family;
    bool waiting;                       /* linked, its reply not arrived */
    struct pinger_echo *next;
};

/* A pinger on loop with no socket open yet; NULL on allocation failure. */
struct pinger *pinger_create(uv_loop_t *loop);

/* Close the sockets; the pinger is freed once their polls have closed (the
 * loop must run on). Echoes still waiting are dropped without a call.
 * NULL is a no-op. */
void pinger_destroy(struct pinger *p);

/* Send an echo request with data[0..len) (at most ICMPMSG_PAYLOAD_MAX) to
 * to (AF_INET or AF_INET6; its port is ignored), opening the family's
 * socket when none is. 0: e waits for its reply. Otherwise e is not
 * linked: -EPERM when no socket may be opened (pinger_error says why),
 * -ENOBUFS when PINGER_WAITING_MAX echoes wait already or the socket's
 * buffer is full, or sendto's
 * negative errno (-ENETUNREACH ...). */
int pinger_send(struct pinger *p, struct pinger_echo *e, const struct sockaddr *to,
                const uint8_t *data, size_t len);

/* Stop waiting for e's reply; a no-op when it is not waiting. */
void pinger_cancel(struct pinger *p, struct pinger_echo *e);

/* Why the family's socket could not be opened the last time it was tried,
 * with the sysctl and the capability when it was not allowed; "" when it
 * is open. Owned by the pinger. */
const char *pinger_error(const struct pinger *p, int family);

/* The family's socket: "datagram", "raw", or NULL when none is open. */
const char *pinger_mode(const struct pinger *p, int family);

#endif
