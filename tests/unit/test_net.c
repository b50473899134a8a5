/* test_net.c - the network check types without the network: their keys and
 * messages at FILE:LINE:COL (dns, tls, icmp), what a dns check reads of a
 * reply (dnsmsg.c) and what an icmp check reads of a packet (icmpmsg.c),
 * on packets this test writes byte by byte, where the edges (compression,
 * several strings, a record running past the end, an IP header that lies)
 * are reachable. The real servers are tests/integration/test_net.py's, the
 * real ICMP sockets tests/integration/test_icmp.py's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "check.h"
#include "config.h"
#include "config_fixtures.h"
#include "dnsmsg.h"
#include "starttls.h"
#include "icmpmsg.h"
#include <sys/socket.h>

/* ------------------------------------------------------- dns replies */

enum { A = 1, NS = 2, CNAME = 5, SOA = 6, MX = 15, TXT = 16, AAAA = 28, SRV = 33 };

/* A reply being written. */
struct msg {
    unsigned char b[1024];
    size_t n;
};

static void bytes(struct msg *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void u16(struct msg *m, unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    bytes(m, b, 2);
}

static void u32(struct msg *m, uint32_t v)
{
    u16(m, v >> 16);
    u16(m, v & 0xffff);
}

/* A name as labels: "www.example.com" (no pointer). */
static void name(struct msg *m, const char *s)
{
    while (*s != '\0') {
        const char *dot = strchr(s, '.');
        size_t l = dot != NULL ? (size_t)(dot - s) : strlen(s);
        unsigned char len = (unsigned char)l;
        bytes(m, &len, 1);
        bytes(m, s, l);
        s += l + (dot != NULL ? 1 : 0);
    }
    bytes(m, "", 1);
}

/* A pointer to offset off (compression, RFC 1035 4.1.4). */
static void pointer(struct msg *m, unsigned off)
{
    u16(m, 0xc000 | off);
}

/* Header with rcode and ancount, and the question for qname/qtype. */
static void head(struct msg *m, int rcode, unsigned ancount, const char *qname, int qtype)
{
    m->n = 0;
    u16(m, 0x1234);
    u16(m, 0x8180 | (unsigned)rcode);
    u16(m, 1);
    u16(m, ancount);
    u16(m, 0);
    u16(m, 0);
    name(m, qname);
    u16(m, (unsigned)qtype);
    u16(m, 1);
}

/* An answer's fixed part for the question's name (a pointer to 12);
 * rdlength as given. */
static void rr(struct msg *m, int type, unsigned rdlength)
{
    pointer(m, 12);
    u16(m, (unsigned)type);
    u16(m, 1);
    u32(m, 300);
    u16(m, rdlength);
}

static void read_ok(const struct msg *m, int qtype, const char *want, size_t nanswers)
{
    char out[256];
    struct dnsmsg_reply r;
    assert_int_equal(dnsmsg_read(m->b, m->n, qtype, out, sizeof(out), &r), 0);
    assert_string_equal(out, want);
    assert_int_equal(r.len, strlen(want));
    assert_int_equal(r.nanswers, nanswers);
}

/* Response codes by Gatus's (miekg/dns's) names. */
static void rcode_names(void **state)
{
    (void)state;
    assert_string_equal(dnsmsg_rcode_name(0), "NOERROR");
    assert_string_equal(dnsmsg_rcode_name(1), "FORMERR");
    assert_string_equal(dnsmsg_rcode_name(2), "SERVFAIL");
    assert_string_equal(dnsmsg_rcode_name(3), "NXDOMAIN");
    assert_string_equal(dnsmsg_rcode_name(4), "NOTIMP");
    assert_string_equal(dnsmsg_rcode_name(5), "REFUSED");
    assert_string_equal(dnsmsg_rcode_name(9), "NOTAUTH");
    assert_string_equal(dnsmsg_rcode_name(12), "RCODE12");

    struct msg m;
    head(&m, 3, 0, "nothing.example", A);
    read_ok(&m, A, "", 0);
    struct dnsmsg_reply r;
    char out[16];
    assert_int_equal(dnsmsg_read(m.b, m.n, A, out, sizeof(out), &r), 0);
    assert_int_equal(r.rcode, 3);
}

/* A and AAAA: addresses, sorted; the CNAME in front left out. */
static void addresses(void **state)
{
    (void)state;
    struct msg m;
    head(&m, 0, 3, "www.example", A);
    rr(&m, CNAME, 5);
    name(&m, "cdn");
    rr(&m, A, 4);
    bytes(&m, "\x0a\x00\x00\x08", 4);
    rr(&m, A, 4);
    bytes(&m, "\x0a\x00\x00\x07", 4);
    read_ok(&m, A, "10.0.0.7, 10.0.0.8", 2);
    read_ok(&m, CNAME, "cdn.", 1);

    head(&m, 0, 1, "v6.example", AAAA);
    rr(&m, AAAA, 16);
    bytes(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
    read_ok(&m, AAAA, "2001:db8::7", 1);
}

/* Names in data, compressed or not, with their trailing dot; MX as the
 * exchange only (as Gatus), SRV and SOA as dig prints them. */
static void names_in_data(void **state)
{
    (void)state;
    struct msg m;
    head(&m, 0, 2, "example", MX);     /* "example" is at offset 12 */
    rr(&m, MX, 2 + 7);
    u16(&m, 10);
    bytes(&m, "\x04mail", 5);
    pointer(&m, 12);                   /* mail.example */
    rr(&m, MX, 2 + 2);
    u16(&m, 20);
    pointer(&m, 12);                   /* example itself */
    read_ok(&m, MX, "example., mail.example.", 2);

    head(&m, 0, 1, "_smtp._tcp.example", SRV);
    rr(&m, SRV, 6 + 14);
    u16(&m, 0);
    u16(&m, 5);
    u16(&m, 25);
    name(&m, "mail.example.");
    read_ok(&m, SRV, "0 5 25 mail.example.", 1);

    head(&m, 0, 1, "example", SOA);
    rr(&m, SOA, 12 + 12 + 20);          /* two names of 12 bytes, five numbers */
    name(&m, "ns.example");
    name(&m, "hm.example");
    u32(&m, 2024010101);
    u32(&m, 3600);
    u32(&m, 600);
    u32(&m, 86400);
    u32(&m, 300);
    read_ok(&m, SOA, "ns.example. hm.example. 2024010101 3600 600 86400 300", 1);

    head(&m, 0, 1, "example", NS);
    rr(&m, NS, 1);
    bytes(&m, "", 1);                  /* the root */
    read_ok(&m, NS, ".", 1);
}

/* TXT: a record's strings joined as one; control bytes shown as '?'. */
static void txt(void **state)
{
    (void)state;
    struct msg m;
    head(&m, 0, 2, "example", TXT);
    rr(&m, TXT, 1 + 7 + 1 + 4);
    bytes(&m, "\x07v=spf1 \x04-all", 13);
    rr(&m, TXT, 4);
    bytes(&m, "\x03" "a\x01z", 4);
    read_ok(&m, TXT, "a?z, v=spf1 -all", 2);
}

/* Malformed replies are refused, never read past their end; answers that
 * do not fit the room are left out whole. */
static void malformed_and_cut(void **state)
{
    (void)state;
    char out[64];
    struct dnsmsg_reply r;
    struct msg m;
    head(&m, 0, 1, "example", A);
    assert_int_equal(dnsmsg_read(m.b, 11, A, out, sizeof(out), &r), -EINVAL);
    rr(&m, A, 4);
    bytes(&m, "\x0a\x00", 2);          /* two of its four bytes */
    assert_int_equal(dnsmsg_read(m.b, m.n, A, out, sizeof(out), &r), -EINVAL);

    head(&m, 0, 1, "example", CNAME);
    rr(&m, CNAME, 2);
    pointer(&m, (unsigned)m.n);        /* points at itself */
    assert_int_equal(dnsmsg_read(m.b, m.n, CNAME, out, sizeof(out), &r), -EINVAL);

    head(&m, 0, 1, "example", TXT);
    rr(&m, TXT, 3);
    bytes(&m, "\x09" "ab", 3);         /* says nine, has two */
    assert_int_equal(dnsmsg_read(m.b, m.n, TXT, out, sizeof(out), &r), -EINVAL);

    head(&m, 0, 3, "example", A);
    for (int i = 0; i < 3; i++) {
        rr(&m, A, 4);
        bytes(&m, "\xc0\xa8\x64", 3);
        unsigned char last = (unsigned char)(100 + i);
        bytes(&m, &last, 1);
    }
    char small[36];                    /* room for two of three */
    assert_int_equal(dnsmsg_read(m.b, m.n, A, small, sizeof(small), &r), 0);
    assert_string_equal(small, "192.168.100.100, 192.168.100.101");
    assert_int_equal(r.nanswers, 2);
    assert_true(r.truncated);
}

/* ------------------------------------------------------ icmp packets */

/* RFC 1071's example, an odd length, and a message whose checksum is in
 * place summing to zero. */
static void icmp_checksum(void **state)
{
    (void)state;
    const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    assert_int_equal(icmpmsg_checksum(rfc, sizeof(rfc)), 0x220d);
    const uint8_t odd[] = {0x01};
    assert_int_equal(icmpmsg_checksum(odd, 1), 0xfeff);
    assert_int_equal(icmpmsg_checksum(odd, 0), 0xffff);
    uint8_t m[8 + 5];
    size_t n = icmpmsg_echo_request(AF_INET, 0x1234, 7, "hello", 5, m, sizeof(m));
    assert_int_equal(n, 13);
    assert_int_equal(icmpmsg_checksum(m, n), 0);
}

/* Requests: type 8 with the checksum for IPv4, type 128 with 0 (the
 * kernel's) for IPv6; refused when the data or the room is wrong. */
static void icmp_requests(void **state)
{
    (void)state;
    uint8_t m[8 + ICMPMSG_PAYLOAD_MAX + 1];
    assert_int_equal(icmpmsg_echo_request(AF_INET, 0xabcd, 0x0102, "xy", 2, m, sizeof(m)), 10);
    const uint8_t want4[] = {8, 0, 0, 0, 0xab, 0xcd, 0x01, 0x02, 'x', 'y'};
    assert_memory_equal(m + 4, want4 + 4, 6);
    assert_int_equal(m[0], 8);
    assert_int_not_equal(m[2] | m[3], 0);
    assert_int_equal(icmpmsg_echo_request(AF_INET6, 1, 2, "", 0, m, sizeof(m)), 8);
    const uint8_t want6[] = {128, 0, 0, 0, 0, 1, 0, 2};
    assert_memory_equal(m, want6, 8);
    uint8_t big[ICMPMSG_PAYLOAD_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(icmpmsg_echo_request(AF_INET, 1, 1, big, ICMPMSG_PAYLOAD_MAX, m, sizeof(m)),
                     8 + ICMPMSG_PAYLOAD_MAX);
    assert_int_equal(icmpmsg_echo_request(AF_INET, 1, 1, big, sizeof(big), m, sizeof(m)), 0);
    assert_int_equal(icmpmsg_echo_request(AF_INET, 1, 1, "abc", 3, m, 10), 0);
    assert_int_equal(icmpmsg_echo_request(AF_UNIX, 1, 1, "abc", 3, m, sizeof(m)), 0);
}

/* A reply: what a datagram socket hands over, its request turned into a
 * reply (type 0 or 129) the way a host answers. */
static size_t reply(int family, uint16_t id, uint16_t seq, const char *data, uint8_t *out,
                    size_t outlen)
{
    size_t n = icmpmsg_echo_request(family, id, seq, data, strlen(data), out, outlen);
    out[0] = family == AF_INET ? 0 : 129;
    if (family == AF_INET) {
        out[2] = out[3] = 0;
        uint16_t c = icmpmsg_checksum(out, n);
        out[2] = (uint8_t)(c >> 8);
        out[3] = (uint8_t)c;
    }
    return n;
}

/* The reply behind an IPv4 header of hlen bytes (options zeroed), as a
 * raw socket delivers it; total is its total length field. */
static size_t ip4(const uint8_t *icmp, size_t n, size_t hlen, size_t total, uint8_t proto,
                  uint8_t *out)
{
    memset(out, 0, hlen);
    out[0] = (uint8_t)(0x40 | hlen / 4);
    out[2] = (uint8_t)(total >> 8);
    out[3] = (uint8_t)total;
    out[6] = 0x40;                      /* don't fragment: no fragment */
    out[8] = 64;
    out[9] = proto;
    out[12] = out[16] = 127;
    out[15] = out[19] = 1;
    memcpy(out + hlen, icmp, n);
    return hlen + n;
}

/* Echo replies decoded from each kind of socket, matched by identifier,
 * sequence and payload. */
static void icmp_replies(void **state)
{
    (void)state;
    uint8_t m[2048], pkt[2048];
    struct icmpmsg_echo r;
    size_t n = reply(AF_INET, 0x4242, 9, "shipwatch", m, sizeof(m));
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM4, m, n, &r), 0);
    assert_int_equal(r.id, 0x4242);
    assert_int_equal(r.seq, 9);
    assert_int_equal(r.data_len, 9);
    assert_memory_equal(r.data, "shipwatch", 9);
    assert_true(icmpmsg_answers(&r, 0x4242, 9, (const uint8_t *)"shipwatch", 9));
    assert_false(icmpmsg_answers(&r, 0x4243, 9, (const uint8_t *)"shipwatch", 9));
    assert_false(icmpmsg_answers(&r, 0x4242, 10, (const uint8_t *)"shipwatch", 9));
    assert_false(icmpmsg_answers(&r, 0x4242, 9, (const uint8_t *)"shipwatcH", 9));
    assert_false(icmpmsg_answers(&r, 0x4242, 9, (const uint8_t *)"shipwatch!", 10));

    /* Raw IPv4: the header skipped, options and all; bytes past the total
     * length are padding. */
    size_t k = ip4(m, n, 20, 20 + n, 1, pkt);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k, &r), 0);
    assert_int_equal(r.seq, 9);
    assert_memory_equal(r.data, "shipwatch", 9);
    k = ip4(m, n, 24, 24 + n, 1, pkt);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k, &r), 0);
    assert_int_equal(r.data_len, 9);
    k = ip4(m, n, 20, 20 + n, 1, pkt);
    memset(pkt + k, 0xee, 6);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k + 6, &r), 0);
    assert_int_equal(r.data_len, 9);

    /* IPv6, either socket: the ICMPv6 message alone. */
    n = reply(AF_INET6, 7, 65535, "", m, sizeof(m));
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM6, m, n, &r), 0);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW6, m, n, &r), 0);
    assert_int_equal(r.id, 7);
    assert_int_equal(r.seq, 65535);
    assert_int_equal(r.data_len, 0);
    assert_true(icmpmsg_answers(&r, 7, 65535, NULL, 0));
}

/* What is not an echo reply is told apart from what is broken. */
static void icmp_not_replies(void **state)
{
    (void)state;
    uint8_t m[64], pkt[128];
    struct icmpmsg_echo r;
    /* Our own request looped back to a raw socket, and an unreachable. */
    size_t n = icmpmsg_echo_request(AF_INET, 1, 1, "x", 1, m, sizeof(m));
    size_t k = ip4(m, n, 20, 20 + n, 1, pkt);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k, &r), -ENOMSG);
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM4, m, n, &r), -ENOMSG);
    n = reply(AF_INET, 1, 1, "x", m, sizeof(m));
    m[0] = 3;                           /* destination unreachable */
    m[2] = m[3] = 0;
    uint16_t c = icmpmsg_checksum(m, n);
    m[2] = (uint8_t)(c >> 8);
    m[3] = (uint8_t)c;
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM4, m, n, &r), -ENOMSG);
    /* An IPv4 reply type read as ICMPv6, a request of v6. */
    n = reply(AF_INET, 1, 1, "x", m, sizeof(m));
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW6, m, n, &r), -ENOMSG);
    n = icmpmsg_echo_request(AF_INET6, 1, 1, "x", 1, m, sizeof(m));
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM6, m, n, &r), -ENOMSG);
    /* Another protocol in the IP header (TCP). */
    n = reply(AF_INET, 1, 1, "x", m, sizeof(m));
    k = ip4(m, n, 20, 20 + n, 6, pkt);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k, &r), -ENOMSG);
    /* A reply with a code other than 0. */
    m[1] = 1;
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM4, m, n, &r), -ENOMSG);
}

/* Truncated, lying, oversized and hostile packets: refused, never read
 * past their end (ASan watches). */
static void icmp_malformed(void **state)
{
    (void)state;
    uint8_t m[64], pkt[128];
    struct icmpmsg_echo r;
    size_t n = reply(AF_INET, 1, 1, "abcd", m, sizeof(m));
    /* Every cut of a good packet. */
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *exact = malloc(cut > 0 ? cut : 1);
        memcpy(exact, m, cut);
        int rc = icmpmsg_read(ICMPMSG_DGRAM4, exact, cut, &r);
        assert_true(cut < 8 ? rc == -EINVAL : rc == 0);
        free(exact);
    }
    size_t k = ip4(m, n, 20, 20 + n, 1, pkt);
    for (size_t cut = 0; cut < k; cut++) {
        uint8_t *exact = malloc(cut > 0 ? cut : 1);
        memcpy(exact, pkt, cut);
        assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, exact, cut, &r), -EINVAL);
        free(exact);
    }
    /* A wrong checksum behind a raw IPv4 socket. */
    pkt[20 + 9] ^= 0x01;
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, pkt, k, &r), -EINVAL);
    /* Headers that lie: a length under 20, over the packet, a total under
     * the header or over the bytes there are, another version, a fragment. */
    k = ip4(m, n, 20, 20 + n, 1, pkt);
    uint8_t bad[128];
    memcpy(bad, pkt, k);
    bad[0] = 0x44;
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    bad[0] = 0x4f;                      /* 60 bytes of header: more than there is */
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    memcpy(bad, pkt, k);
    bad[2] = 0;
    bad[3] = 10;
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    bad[3] = (uint8_t)(k + 1);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    memcpy(bad, pkt, k);
    bad[0] = 0x65;
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    memcpy(bad, pkt, k);
    bad[6] = 0x20;                      /* more fragments */
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    memcpy(bad, pkt, k);
    bad[7] = 0x01;                      /* an offset */
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    /* A total length of exactly the header: no ICMP message at all. */
    memcpy(bad, pkt, k);
    bad[2] = 0;
    bad[3] = 20;
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, bad, k, &r), -EINVAL);
    assert_int_equal(icmpmsg_read(ICMPMSG_RAW4, NULL, 0, &r), -EINVAL);

    /* Oversized: a packet over any datagram, a payload over our echoes'. */
    uint8_t *huge = calloc(1, ICMPMSG_PACKET_MAX + 1);
    huge[0] = 0;                        /* an echo reply, were it believed */
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM4, huge, ICMPMSG_PACKET_MAX + 1, &r), -EMSGSIZE);
    huge[0] = 129;
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM6, huge, 8 + ICMPMSG_PAYLOAD_MAX + 1, &r),
                     -EMSGSIZE);
    assert_int_equal(icmpmsg_read(ICMPMSG_DGRAM6, huge, 8 + ICMPMSG_PAYLOAD_MAX, &r), 0);
    free(huge);
}

/* ---------------------------------------------------------- the config */

/* A bare dns check asks for A records of the system resolver's first
 * server and wants NOERROR. */
static void dns_defaults(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: d, type: dns, host: example.com}\n"
                               "  - {name: e, type: dns, host: example.com, record: MX,\n"
                               "     server: '[::1]:5353', conditions: ['[BODY] == x.']}\n");
    assert_int_equal(c->checks[0].dns_record, 0);
    assert_null(c->checks[0].dns_server);
    assert_int_equal(c->checks[0].nconditions, 1);
    assert_string_equal(c->checks[0].conditions[0], "[DNS_RCODE] == NOERROR");
    assert_string_equal(dnsmsg_record_names[c->checks[1].dns_record], "MX");
    assert_int_equal(dnsmsg_record_type(c->checks[1].dns_record), MX);
    assert_string_equal(c->checks[1].dns_server, "[::1]:5353");
    char d[128];
    check_describe(&c->checks[1], d, sizeof(d));
    assert_string_equal(d, "example.com MX @[::1]:5353");
    config_destroy(c);
    c = load_ok("checks:\n"
                "  - {name: a, type: dns, host: x, server: 192.0.2.1}\n"
                "  - {name: b, type: dns, host: x, server: '192.0.2.1:53'}\n"
                "  - {name: c, type: dns, host: x, server: '2001:db8::1'}\n");
    config_destroy(c);
}

/* The keys of dns checks, refused where they are wrong, at their position. */
static void dns_keys_bad(void **state)
{
    (void)state;
    load_bad("checks:\n  - {name: d, type: dns}\n", "t.yml:2:5: checks[0]: dns check needs host",
             NULL);
    load_bad("checks:\n  - {name: d, type: dns, host: x, record: a}\n",
             "t.yml:2:35: checks[0].record: unknown record \"a\" "
             "(A, AAAA, CNAME, MX, TXT, NS, SOA, PTR, SRV)",
             NULL);
    const char *bad_server =
        "checks[0].server: must be an IP address, with its port as 192.0.2.1:53 or "
        "[2001:db8::1]:53";
    load_bad_text("checks:\n  - {name: d, type: dns, host: x, server: dns.example}\n", bad_server);
    load_bad_text("checks:\n  - {name: d, type: dns, host: x, server: '[::1]'}\n", bad_server);
    load_bad_text("checks:\n  - {name: d, type: dns, host: x, server: '1.2.3.4:'}\n",
                  "checks[0].server: port must be 1-65535");
    load_bad_text("checks:\n  - {name: d, type: dns, host: x, server: '1.2.3.4:70000'}\n",
                  "checks[0].server: port must be 1-65535");
    load_bad_text("checks:\n  - {name: d, type: dns, host: 'a b'}\n",
                  "checks[0].host: must be a DNS name, without spaces");
    load_bad("checks:\n  - {name: d, type: tcp, host: x, port: 1, server: 1.2.3.4}\n",
             "t.yml:2:44: checks[0].server: not a key of tcp checks", NULL);
    load_bad("checks:\n"
             "  - name: d\n"
             "    type: dns\n"
             "    host: x\n"
             "    conditions: ['[USED] < 1']\n",
             "t.yml:5:18: checks[0].conditions[0]: bad condition: unknown placeholder [USED]",
             NULL);
}

/* A bare tls check wants a handshake, verified; its keys as written. */
static void tls_defaults(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: t, type: tls, host: mail.example.com, port: 443}\n"
                               "  - {name: s, type: tls, host: '::1', port: 587, starttls: smtp,\n"
                               "     server-name: mail.example.com, ca-file: /etc/ca.pem,\n"
                               "     verify-tls: false, conditions: '[TLS_VERSION] >= 1.2'}\n");
    const struct conf_check *t = &c->checks[0], *s = &c->checks[1];
    assert_int_equal(t->nconditions, 1);
    assert_string_equal(t->conditions[0], "[CONNECTED] == true");
    assert_true(t->verify_tls);
    assert_int_equal(t->starttls, 0);
    assert_null(t->server_name);
    assert_false(s->verify_tls);
    assert_string_equal(s->server_name, "mail.example.com");
    assert_string_equal(s->ca_file, "/etc/ca.pem");
    char d[128];
    check_describe(t, d, sizeof(d));
    assert_string_equal(d, "mail.example.com:443");
    check_describe(s, d, sizeof(d));
    assert_string_equal(d, "[::1]:587 starttls smtp");
    config_destroy(c);
}

/* The keys of tls checks, refused where they are wrong, at their position. */
static void tls_keys_bad(void **state)
{
    (void)state;
    load_bad("checks:\n  - {name: t, type: tls, host: x}\n",
             "t.yml:2:5: checks[0]: tls check needs port", NULL);
    load_bad("checks:\n  - {name: t, type: tls, host: x, port: 389, starttls: ldap}\n",
             "t.yml:2:46: checks[0].starttls: unknown starttls \"ldap\" "
             "(none, smtp, imap, pop3, ftp, postgres)",
             NULL);
    load_bad_text("checks:\n  - {name: t, type: tls, host: x, port: 1, ca-file: ca.pem}\n",
                  "checks[0].ca-file: must be an absolute path");
    load_bad("checks:\n  - {name: t, type: dns, host: x, starttls: smtp}\n",
             "t.yml:2:35: checks[0].starttls: not a key of dns checks", NULL);
    load_bad("checks:\n"
             "  - name: d\n"
             "    type: dns\n"
             "    host: x\n"
             "    conditions: '[TLS_VERSION] == 1.3'\n",
             "t.yml:5:5: checks[0].conditions: bad condition: unknown placeholder [TLS_VERSION]",
             NULL);
}

/* ------------------------------------------------ STARTTLS dialogues */

/* Feed text to a talk, in one piece. */
static enum starttls_step feed(struct starttls_talk *t, const char *text)
{
    return starttls_talk_feed(t, text, strlen(text));
}

/* FTP: the greeting (one line, several, in pieces, after a 120), AUTH TLS
 * sent, 234 is ready. */
static void ftp_dialogue(void **state)
{
    (void)state;
    struct starttls_talk t;
    assert_int_equal(starttls_talk_begin(&t, STARTTLS_FTP), STARTTLS_MORE);
    assert_int_equal(feed(&t, "220 Service ready\r\n"), STARTTLS_SEND);
    assert_int_equal(t.send_len, 10);
    assert_memory_equal(t.send, "AUTH TLS\r\n", 10);
    assert_int_equal(feed(&t, "234 AUTH TLS OK.\r\n"), STARTTLS_READY);

    /* A multi-line greeting, a byte at a time; lines between that look like
     * codes but are not the closing one. */
    const char *greet = "220-Welcome\r\n220-to the\r\n 220 indented\r\n220 end\r\n";
    starttls_talk_begin(&t, STARTTLS_FTP);
    for (size_t i = 0; greet[i + 1] != '\0'; i++) {
        assert_int_equal(starttls_talk_feed(&t, greet + i, 1), STARTTLS_MORE);
    }
    assert_int_equal(feed(&t, "\n"), STARTTLS_SEND);
    assert_int_equal(feed(&t, "234-AUTH\n234 ok\n"), STARTTLS_READY);

    /* Ready in a while, then ready; a bare code; LF line ends. */
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "120 wait\r\n"), STARTTLS_MORE);
    assert_int_equal(feed(&t, "220\n"), STARTTLS_SEND);
}

/* FTP servers that say no, or are not FTP servers, or say too much. */
static void ftp_refusals(void **state)
{
    (void)state;
    struct starttls_talk t;
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "220 ok\r\n"), STARTTLS_SEND);
    assert_int_equal(feed(&t, "502 Command not implemented\r\n"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server refuses AUTH TLS: 502 Command not implemented");

    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "421 Too many users\r\n"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server is not ready: 421 Too many users");

    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "SSH-2.0-OpenSSH_9.2\r\n"), STARTTLS_FAIL);
    assert_string_equal(t.why, "not an FTP server, it said: SSH-2.0-OpenSSH_9.2");

    /* Control bytes from the server never reach a message as they are. */
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "220 ok\r\n"), STARTTLS_SEND);
    assert_int_equal(feed(&t, "530 \x1b[31mno\x07\r\n"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server refuses AUTH TLS: 530 ?[31mno?");

    /* Bytes after the 234 would be read as if TLS had carried them. */
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "220 ok\r\n"), STARTTLS_SEND);
    assert_int_equal(feed(&t, "234 go\r\n230 logged in\r\n"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server sent more than its reply before TLS");
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "220 ok\r\n234 early\r\n"), STARTTLS_FAIL);

    /* A reply that never ends is cut at 4096 bytes, whether it comes in
     * one piece or many; a line with no code is refused at once. */
    char big[5000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "220-", 4);
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(starttls_talk_feed(&t, big, sizeof(big)), STARTTLS_FAIL);
    assert_string_equal(t.why, "a reply longer than 4096 bytes");
    starttls_talk_begin(&t, STARTTLS_FTP);
    enum starttls_step s = STARTTLS_MORE;
    for (size_t i = 0; i < sizeof(big) && s == STARTTLS_MORE; i += 100) {
        s = starttls_talk_feed(&t, big + i, 100);
    }
    assert_int_equal(s, STARTTLS_FAIL);
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "22 short\n"), STARTTLS_FAIL);
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "2200 long\n"), STARTTLS_FAIL);
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(feed(&t, "\n"), STARTTLS_FAIL);
    /* NUL bytes in a line are bytes like others, and never end it early. */
    starttls_talk_begin(&t, STARTTLS_FTP);
    assert_int_equal(starttls_talk_feed(&t, "220 a\0b\r\n", 9), STARTTLS_SEND);
    assert_int_equal(starttls_talk_feed(&t, "", 0), STARTTLS_MORE);
}

/* PostgreSQL: the SSLRequest first; 'S' alone is ready. */
static void postgres_dialogue(void **state)
{
    (void)state;
    struct starttls_talk t;
    assert_int_equal(starttls_talk_begin(&t, STARTTLS_POSTGRES), STARTTLS_SEND);
    assert_int_equal(t.send_len, 8);
    assert_memory_equal(t.send, "\0\0\0\x08\x04\xd2\x16\x2f", 8);
    assert_int_equal(starttls_talk_feed(&t, "", 0), STARTTLS_MORE);
    assert_int_equal(feed(&t, "S"), STARTTLS_READY);

    starttls_talk_begin(&t, STARTTLS_POSTGRES);
    assert_int_equal(feed(&t, "N"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server does not accept TLS (ssl is off)");
    starttls_talk_begin(&t, STARTTLS_POSTGRES);
    assert_int_equal(feed(&t, "E\0\0\0\x50SFATAL"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server answered the SSL request with an error");
    starttls_talk_begin(&t, STARTTLS_POSTGRES);
    assert_int_equal(feed(&t, "HTTP/1.1 400"), STARTTLS_FAIL);
    assert_string_equal(t.why, "not a PostgreSQL server (it answered 0x48)");
    /* 'S' and more: what follows would pass for the TLS stream's. */
    starttls_talk_begin(&t, STARTTLS_POSTGRES);
    assert_int_equal(feed(&t, "S\x16\x03"), STARTTLS_FAIL);
    assert_string_equal(t.why, "the server sent more than its answer before TLS");
}

/* A bare icmp check sends three echoes of "shipwatch" and wants a reply. */
static void icmp_defaults(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: i, type: icmp, host: 127.0.0.1}\n"
                               "  - {name: j, type: icmp, host: '::1', count: 10,\n"
                               "     payload: 'hello there', conditions: '[PACKET_LOSS] < 50'}\n");
    const struct conf_check *i = &c->checks[0], *j = &c->checks[1];
    assert_int_equal(i->icmp_count, 3);
    assert_string_equal(i->icmp_payload, "shipwatch");
    assert_int_equal(i->nconditions, 1);
    assert_string_equal(i->conditions[0], "[CONNECTED] == true");
    assert_int_equal(j->icmp_count, 10);
    assert_string_equal(j->icmp_payload, "hello there");
    char d[128];
    check_describe(j, d, sizeof(d));
    assert_string_equal(d, "::1");
    config_destroy(c);
}

/* The keys of icmp checks, refused where they are wrong, at their position. */
static void icmp_keys_bad(void **state)
{
    (void)state;
    load_bad("checks:\n  - {name: i, type: icmp}\n", "t.yml:2:5: checks[0]: icmp check needs host",
             NULL);
    load_bad("checks:\n  - {name: i, type: icmp, host: x, count: 0}\n",
             "t.yml:2:36: checks[0].count: expected an integer from 1 to 100", NULL);
    load_bad("checks:\n  - {name: i, type: icmp, host: x, count: 101}\n",
             "t.yml:2:36: checks[0].count: expected an integer from 1 to 100", NULL);
    char big[1200];
    snprintf(big, sizeof(big), "checks:\n  - {name: i, type: icmp, host: x, payload: %01025d}\n",
             0);
    load_bad(big, "t.yml:2:36: checks[0].payload: must be at most 1024 bytes", NULL);
    load_bad("checks:\n  - {name: i, type: icmp, host: x, payload: \"a\\tb\"}\n",
             "t.yml:2:36: checks[0].payload: control characters are not allowed", NULL);
    load_bad("checks:\n  - {name: i, type: icmp, host: x, port: 1}\n",
             "t.yml:2:36: checks[0].port: not a key of icmp checks", NULL);
    load_bad("checks:\n  - {name: i, type: tcp, host: x, port: 1, count: 1}\n",
             "t.yml:2:44: checks[0].count: not a key of tcp checks", NULL);
    load_bad("checks:\n"
             "  - name: d\n"
             "    type: dns\n"
             "    host: x\n"
             "    conditions: '[PACKET_LOSS] == 0'\n",
             "t.yml:5:5: checks[0].conditions: bad condition: unknown placeholder [PACKET_LOSS]",
             NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rcode_names),
        cmocka_unit_test(addresses),
        cmocka_unit_test(names_in_data),
        cmocka_unit_test(txt),
        cmocka_unit_test(malformed_and_cut),
        cmocka_unit_test(dns_defaults),
        cmocka_unit_test(dns_keys_bad),
        cmocka_unit_test(tls_defaults),
        cmocka_unit_test(tls_keys_bad),
        cmocka_unit_test(ftp_dialogue),
        cmocka_unit_test(ftp_refusals),
        cmocka_unit_test(postgres_dialogue),
        cmocka_unit_test(icmp_checksum),
        cmocka_unit_test(icmp_requests),
        cmocka_unit_test(icmp_replies),
        cmocka_unit_test(icmp_not_replies),
        cmocka_unit_test(icmp_malformed),
        cmocka_unit_test(icmp_defaults),
        cmocka_unit_test(icmp_keys_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
