/* icmpmsg.c - ICMP and ICMPv6 echo messages (icmpmsg.h).
 *
 * An echo message (RFC 792 for IPv4, RFC 4443 section 4 for IPv6) is
 * type, code, checksum, identifier and sequence number, then the data.
 * The IPv4 header in front of what a raw socket delivers is RFC 791's:
 * version and header length in its first byte, total length in bytes 2-3,
 * flags and fragment offset in 6-7, protocol in 9. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "icmpmsg.h"

enum {
    ICMP4_ECHO_REPLY = 0,
    ICMP4_ECHO_REQUEST = 8,
    ICMP6_ECHO_REQUEST_TYPE = 128,
    ICMP6_ECHO_REPLY_TYPE = 129,
    IP4_HEADER_MIN = 20,
    IP4_PROTO_ICMP = 1,
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The Internet checksum of b[0..len), to store as it reads in memory. */
uint16_t icmpmsg_checksum(const uint8_t *b, size_t len)
{
    uint32_t sum = 0;
    size_t i = 0;
    for (; i + 1 < len; i += 2) {
        sum += get16(b + i);
    }
    if (i < len) {
        sum += (uint32_t)b[i] << 8;     /* the odd byte, padded with a zero */
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Write an echo request. */
size_t icmpmsg_echo_request(int family, uint16_t id, uint16_t seq, const void *data,
                            size_t data_len, uint8_t *out, size_t outlen)
{
    if ((family != AF_INET && family != AF_INET6) || data_len > ICMPMSG_PAYLOAD_MAX ||
        outlen < ICMPMSG_HEADER_LEN + data_len) {
        return 0;
    }
    out[0] = family == AF_INET ? ICMP4_ECHO_REQUEST : ICMP6_ECHO_REQUEST_TYPE;
    out[1] = 0;
    put16(out + 2, 0);
    put16(out + 4, id);
    put16(out + 6, seq);
    if (data_len > 0) {
        memcpy(out + ICMPMSG_HEADER_LEN, data, data_len);
    }
    size_t n = ICMPMSG_HEADER_LEN + data_len;
    if (family == AF_INET) {
        put16(out + 2, icmpmsg_checksum(out, n));
    }
    return n;
}

/* Skip the IPv4 header of what a raw socket delivered: *p and *len become
 * the ICMP message's. 0, -ENOMSG for another protocol, -EINVAL when the
 * header does not describe the bytes there are. */
static int skip_ip4(const uint8_t **p, size_t *len)
{
    const uint8_t *b = *p;
    if (*len < IP4_HEADER_MIN || b[0] >> 4 != 4) {
        return -EINVAL;
    }
    size_t hlen = (size_t)(b[0] & 0x0f) * 4;
    size_t total = get16(b + 2);
    if (hlen < IP4_HEADER_MIN || hlen > *len || total < hlen || total > *len) {
        return -EINVAL;
    }
    if ((get16(b + 6) & 0x3fff) != 0) {
        return -EINVAL;                 /* a fragment: the kernel delivers whole datagrams */
    }
    if (b[9] != IP4_PROTO_ICMP) {
        return -ENOMSG;
    }
    *p = b + hlen;
    *len = total - hlen;                /* bytes past the total are padding */
    return 0;
}

/* Read one packet. */
int icmpmsg_read(enum icmpmsg_source src, const uint8_t *p, size_t len, struct icmpmsg_echo *echo)
{
    if (p == NULL || len > ICMPMSG_PACKET_MAX) {
        return p == NULL ? -EINVAL : -EMSGSIZE;
    }
    bool v4 = src == ICMPMSG_DGRAM4 || src == ICMPMSG_RAW4;
    if (src == ICMPMSG_RAW4) {
        int rc = skip_ip4(&p, &len);
        if (rc < 0) {
            return rc;
        }
    }
    if (len < ICMPMSG_HEADER_LEN) {
        return -EINVAL;
    }
    if (src == ICMPMSG_RAW4 && icmpmsg_checksum(p, len) != 0) {
        return -EINVAL;
    }
    if (p[0] != (v4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY_TYPE) || p[1] != 0) {
        return -ENOMSG;
    }
    if (len - ICMPMSG_HEADER_LEN > ICMPMSG_PAYLOAD_MAX) {
        return -EMSGSIZE;
    }
    echo->id = get16(p + 4);
    echo->seq = get16(p + 6);
    echo->data = p + ICMPMSG_HEADER_LEN;
    echo->data_len = len - ICMPMSG_HEADER_LEN;
    return 0;
}

/* Whether r answers the echo id, seq, data. */
bool icmpmsg_answers(const struct icmpmsg_echo *r, uint16_t id, uint16_t seq, const uint8_t *data,
                     size_t len)
{
    return r->id == id && r->seq == seq && r->data_len == len &&
           (len == 0 || memcmp(r->data, data, len) == 0);
}
