/* icmpmsg.h - ICMP and ICMPv6 echo messages: the request an icmp check
 * sends, and what it reads of a packet a socket hands back.
 *
 * What a socket delivers depends on its kind (RFC 792, RFC 4443, and
 * Linux's raw(7), icmp(7) and ipv6(7)):
 *   - a datagram ("ping") socket, IPv4 or IPv6: the ICMP message alone; the
 *     kernel has written the socket's id into the echo it sent and passes
 *     on only the replies that carry it;
 *   - a raw IPv4 socket: the whole IP datagram, its header first, and every
 *     ICMP message the host receives (other processes' replies, our own
 *     requests to a local address, errors);
 *   - a raw ICMPv6 socket: the ICMPv6 message alone, its checksum already
 *     verified by the kernel.
 * The kernel computes the checksum of what a datagram socket or an ICMPv6
 * raw socket sends; for a raw IPv4 socket the sender computes it, and the
 * receiver verifies it (raw delivery comes before the kernel's ICMP
 * checks).
 *
 * Input is never trusted: any byte sequence of any length is safe to
 * read. Nothing here allocates, keeps state or blocks. */
#ifndef SHIPWATCH_ICMPMSG_H
#define SHIPWATCH_ICMPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ICMPMSG_HEADER_LEN 8            /* type, code, checksum, id, sequence */
#define ICMPMSG_PAYLOAD_MAX 1024        /* bytes of an echo's data at most */
#define ICMPMSG_PACKET_MAX 65535        /* an IPv4 datagram at most: longer is hostile */

/* The kind of socket a packet came from, which says what it starts with. */
enum icmpmsg_source {
    ICMPMSG_DGRAM4,                     /* IPv4 datagram socket: ICMP message */
    ICMPMSG_RAW4,                       /* raw IPv4 socket: IP header, then ICMP */
    ICMPMSG_DGRAM6,                     /* IPv6 datagram socket: ICMPv6 message */
    ICMPMSG_RAW6,                       /* raw ICMPv6 socket: ICMPv6 message */
};

/* One echo reply as read. data points into the packet read. */
struct icmpmsg_echo {
    uint16_t id;                        /* as on the wire, in host order */
    uint16_t seq;
    const uint8_t *data;                /* the echoed payload */
    size_t data_len;
};

/* The Internet checksum (RFC 1071) of b[0..len): the one's complement of
 * the one's complement sum of its 16-bit words, in network order. */
uint16_t icmpmsg_checksum(const uint8_t *b, size_t len);

/* Write an echo request of the family (AF_INET or AF_INET6) with id, seq
 * and data[0..data_len) into out[0..outlen); with the checksum computed
 * for ICMPv4 (the kernel overwrites it on a datagram socket; ICMPv6 leaves
 * it 0 for the kernel). The length written, or 0 when data_len is over
 * ICMPMSG_PAYLOAD_MAX, outlen is too small, or the family is neither. */
size_t icmpmsg_echo_request(int family, uint16_t id, uint16_t seq, const void *data,
                            size_t data_len, uint8_t *out, size_t outlen);

/* Read the packet p[0..len) a socket of kind src delivered. 0 and *echo
 * when it is an echo reply (id and seq as written; the caller matches
 * them); -ENOMSG when it is a well-formed packet of something else (an
 * echo request looped back, an error, another protocol); -EINVAL when it
 * is malformed (truncated, an IP header that lies, a wrong checksum on a
 * raw IPv4 socket); -EMSGSIZE when it is over ICMPMSG_PACKET_MAX or its
 * data over ICMPMSG_PAYLOAD_MAX (nobody answers our echoes with more). */
int icmpmsg_read(enum icmpmsg_source src, const uint8_t *p, size_t len, struct icmpmsg_echo *echo);

/* Whether the reply r answers the echo sent with id, seq and
 * data[0..len): the same three, byte for byte. */
bool icmpmsg_answers(const struct icmpmsg_echo *r, uint16_t id, uint16_t seq, const uint8_t *data,
                     size_t len);

#endif
