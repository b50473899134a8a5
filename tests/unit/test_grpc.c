/* test_grpc.c - the grpc check type without a server: the health check's
 * request as written byte by byte, replies this test writes byte by byte
 * (grpcmsg.c: well formed, malformed, cut, oversized, hostile varints,
 * compressed, several messages), the trailers' code and message, and the
 * type's keys and messages at FILE:LINE:COL. The real server is
 * tests/integration/test_grpc.py's. */
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
#include "grpcmsg.h"

/* A reply body being written. */
struct msg {
    unsigned char b[GRPCMSG_REPLY_MAX + 64];
    size_t n;
};

static void bytes(struct msg *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void byte(struct msg *m, unsigned v)
{
    unsigned char c = (unsigned char)v;
    bytes(m, &c, 1);
}

static void varint(struct msg *m, uint64_t v)
{
    while (v >= 0x80) {
        byte(m, (unsigned)(v & 0x7f) | 0x80);
        v >>= 7;
    }
    byte(m, (unsigned)v);
}

/* The 5-byte message header: flag and length. */
static void header(struct msg *m, unsigned flag, uint32_t len)
{
    byte(m, flag);
    byte(m, len >> 24);
    byte(m, (len >> 16) & 0xff);
    byte(m, (len >> 8) & 0xff);
    byte(m, len & 0xff);
}

/* One uncompressed message around the protobuf p. */
static void message(struct msg *m, const struct msg *p)
{
    header(m, 0, (uint32_t)p->n);
    bytes(m, p->b, p->n);
}

/* Read a reply; returns the rc, the status in *status. */
static int read_body(const struct msg *m, int64_t *status)
{
    struct grpcmsg_reply r;
    int rc = grpcmsg_read_reply(m->b, m->n, &r);
    if (rc == 0) {
        assert_null(r.why);
    } else {
        assert_non_null(r.why);
    }
    *status = r.status;
    return rc;
}

/* A reply body holding one HealthCheckResponse of protobuf bytes p. */
static int read_protobuf(const struct msg *p, int64_t *status)
{
    struct msg m = {.n = 0};
    message(&m, p);
    return read_body(&m, status);
}

/* --------------------------------------------------------- the request */

/* Requests as gRPC's own clients write them, byte for byte. */
static void request_bytes(void **state)
{
    (void)state;
    unsigned char b[GRPCMSG_REQUEST_MAX];
    assert_int_equal(grpcmsg_request("", b, sizeof(b)), 5);
    assert_memory_equal(b, "\0\0\0\0\0", 5);    /* proto3 leaves "" out */
    assert_int_equal(grpcmsg_request("api.v1.Orders", b, sizeof(b)), 5 + 2 + 13);
    assert_memory_equal(b, "\0\0\0\0\x0f\x0a\x0d" "api.v1.Orders", 20);

    /* 200 bytes: the length is a two-byte varint (0xc8 0x01). */
    char name[GRPCMSG_SERVICE_MAX + 2];
    memset(name, 's', 200);
    name[200] = '\0';
    assert_int_equal(grpcmsg_request(name, b, sizeof(b)), 5 + 3 + 200);
    assert_memory_equal(b, "\0\0\0\0\xcb\x0a\xc8\x01", 8);

    /* The longest name fits the room the header promises. */
    memset(name, 's', GRPCMSG_SERVICE_MAX);
    name[GRPCMSG_SERVICE_MAX] = '\0';
    assert_int_equal(grpcmsg_request(name, b, sizeof(b)), GRPCMSG_REQUEST_MAX);
    name[GRPCMSG_SERVICE_MAX] = 's';
    name[GRPCMSG_SERVICE_MAX + 1] = '\0';
    assert_int_equal(grpcmsg_request(name, b, sizeof(b)), -ENAMETOOLONG);
    assert_int_equal(grpcmsg_request("api.v1.Orders", b, 19), -ENOSPC);
    assert_int_equal(grpcmsg_request("", b, 4), -ENOSPC);
}

/* Written and read back: the request's name decodes as a protobuf string
 * field, and every status written as a server writes it reads back. */
static void round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {"", "a", "grpc.health.v1.Health", "x.y.Z"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unsigned char b[GRPCMSG_REQUEST_MAX];
        int n = grpcmsg_request(names[i], b, sizeof(b));
        assert_true(n >= 5);
        uint32_t len = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
        assert_int_equal(len, (uint32_t)n - 5);
        if (len > 0) {
            assert_int_equal(b[5], 0x0a);
            assert_int_equal(b[6], strlen(names[i]));
            assert_memory_equal(b + 7, names[i], strlen(names[i]));
        }
    }
    static const int64_t statuses[] = {0, 1, 2, 3, 4, 127, 128, 300, INT32_MAX, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        struct msg p = {.n = 0};
        if (statuses[i] != 0) {
            byte(&p, 0x08);
            varint(&p, (uint64_t)statuses[i]);  /* negative: sign-extended, 10 bytes */
        }
        int64_t st = -99;
        assert_int_equal(read_protobuf(&p, &st), 0);
        assert_int_equal(st, statuses[i]);
    }
}

/* ----------------------------------------------------------- replies */

/* The statuses by name; values grpc.health.v1 does not define. */
static void serving_names(void **state)
{
    (void)state;
    assert_string_equal(grpcmsg_serving_name(0), "UNKNOWN");
    assert_string_equal(grpcmsg_serving_name(1), "SERVING");
    assert_string_equal(grpcmsg_serving_name(2), "NOT_SERVING");
    assert_string_equal(grpcmsg_serving_name(3), "SERVICE_UNKNOWN");
    assert_string_equal(grpcmsg_serving_name(4), "UNRECOGNIZED");
    assert_string_equal(grpcmsg_serving_name(-1), "UNRECOGNIZED");
    assert_string_equal(grpcmsg_serving_name(INT64_MAX), "UNRECOGNIZED");
}

/* Fields a newer server may add are skipped by their wire type, before
 * and after the status; the last status wins, as protobuf has it. */
static void unknown_fields(void **state)
{
    (void)state;
    struct msg p = {.n = 0};
    byte(&p, (2 << 3) | 0);     /* field 2, varint */
    varint(&p, UINT64_MAX);
    byte(&p, (3 << 3) | 1);     /* field 3, fixed64 */
    bytes(&p, "12345678", 8);
    byte(&p, 0x08);
    byte(&p, 2);                /* status NOT_SERVING */
    byte(&p, (4 << 3) | 2);     /* field 4, a length-delimited message */
    varint(&p, 3);
    bytes(&p, "\x08\x01\x00", 3);   /* its status-like bytes are not ours */
    byte(&p, (5 << 3) | 5);     /* field 5, fixed32 */
    bytes(&p, "1234", 4);
    varint(&p, ((uint64_t)0x1fffffff << 3) | 0);    /* the highest field number */
    byte(&p, 0);
    byte(&p, 0x08);
    byte(&p, 1);                /* status again: SERVING */
    int64_t st;
    assert_int_equal(read_protobuf(&p, &st), 0);
    assert_int_equal(st, 1);

    /* A tag written long (padded varint) is still the tag. */
    struct msg q = {.n = 0};
    bytes(&q, "\x88\x80\x80\x00\x03", 5);
    assert_int_equal(read_protobuf(&q, &st), 0);
    assert_int_equal(st, 3);
}

/* Varints: 10 bytes at most, the tenth holding bit 63 only; cut ones. */
static void hostile_varints(void **state)
{
    (void)state;
    int64_t st;
    struct msg p = {.n = 0};
    byte(&p, 0x08);             /* 2^63 + 5: bit 63 in the tenth byte */
    bytes(&p, "\x85\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10);
    assert_int_equal(read_protobuf(&p, &st), 0);
    assert_int_equal(st, 5);    /* an int32 keeps the low 32 bits */

    p.n = 0;
    byte(&p, 0x08);             /* the tenth byte past bit 63 */
    bytes(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;
    byte(&p, 0x08);             /* eleven bytes */
    bytes(&p, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11);
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;
    bytes(&p, "\x08\xff", 2);   /* the value cut by the message's end */
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;
    bytes(&p, "\x88", 1);       /* the tag cut */
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;                    /* a tag over 10 bytes */
    bytes(&p, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12);
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;                    /* a length of 2^63: no overflow past the end */
    byte(&p, (4 << 3) | 2);
    bytes(&p, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10);
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);

    p.n = 0;                    /* a length of 2^64 - 1 */
    byte(&p, (4 << 3) | 2);
    varint(&p, UINT64_MAX);
    assert_int_equal(read_protobuf(&p, &st), -EINVAL);
}

/* Protobuf that is not a HealthCheckResponse's shape. */
static void malformed_protobuf(void **state)
{
    (void)state;
    int64_t st;
    static const struct {
        const char *b;
        size_t n;
    } bad[] = {
        {"\x00\x01", 2},             /* field 0 */
        {"\x0a\x01\x01", 3},         /* status as a string */
        {"\x0d\x01\x00\x00\x00", 5}, /* status as fixed32 */
        {"\x13", 1},                 /* field 2, start group */
        {"\x14", 1},                 /* field 2, end group */
        {"\x16\x00", 2},             /* wire type 6 */
        {"\x17\x00", 2},             /* wire type 7 */
        {"\x12\x05\x01\x02", 4},     /* field 2 longer than what is left */
        {"\x19\x01\x02\x03", 4},     /* fixed64 cut */
        {"\x1d\x01\x02\x03", 4},     /* fixed32 cut */
        {"\x80\x80\x80\x80\x10\x00", 6}, /* field number 2^29: past the largest */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct msg p = {.n = 0};
        bytes(&p, bad[i].b, bad[i].n);
        if (read_protobuf(&p, &st) != -EINVAL) {
            fail_msg("case %zu read", i);
        }
    }
}

/* The gRPC framing around the message. */
static void framing(void **state)
{
    (void)state;
    int64_t st;
    struct msg m = {.n = 0};
    assert_int_equal(read_body(&m, &st), -ENODATA);     /* a trailers-only reply's body */

    bytes(&m, "\0\0\0\0", 4);
    assert_int_equal(read_body(&m, &st), -EINVAL);      /* header cut */

    m.n = 0;
    header(&m, 0, 0);
    assert_int_equal(read_body(&m, &st), 0);            /* empty: all defaults, UNKNOWN */
    assert_int_equal(st, 0);

    m.n = 0;
    header(&m, 1, 2);
    bytes(&m, "\x08\x01", 2);
    assert_int_equal(read_body(&m, &st), -ENOTSUP);     /* compressed */

    m.n = 0;
    header(&m, 2, 2);
    bytes(&m, "\x08\x01", 2);
    assert_int_equal(read_body(&m, &st), -EINVAL);      /* no such flag */

    m.n = 0;
    header(&m, 0, 3);
    bytes(&m, "\x08\x01", 2);
    assert_int_equal(read_body(&m, &st), -EINVAL);      /* length past the body */

    m.n = 0;
    header(&m, 0, 1);
    bytes(&m, "\x08\x01", 2);
    assert_int_equal(read_body(&m, &st), -EINVAL);      /* a byte after the message */

    m.n = 0;                                       /* two messages */
    header(&m, 0, 2);
    bytes(&m, "\x08\x01", 2);
    header(&m, 0, 2);
    bytes(&m, "\x08\x02", 2);
    assert_int_equal(read_body(&m, &st), -EINVAL);
    struct grpcmsg_reply r;
    grpcmsg_read_reply(m.b, m.n, &r);
    assert_string_equal(r.why, "malformed reply: more than one message");
}

/* The cap: on the body, and on a length that promises more. */
static void oversized(void **state)
{
    (void)state;
    int64_t st;
    struct msg m = {.n = 0};
    header(&m, 0, 0xffffffff);
    bytes(&m, "\x08\x01", 2);
    assert_int_equal(read_body(&m, &st), -EMSGSIZE);

    /* The largest message that fits: one long unknown field, then status. */
    m.n = 0;
    struct msg p = {.n = 0};
    size_t fill = GRPCMSG_REPLY_MAX - 5 - 5;   /* header; tag, 2-byte length, status */
    byte(&p, (9 << 3) | 2);
    varint(&p, fill);
    for (size_t i = 0; i < fill; i++) {
        byte(&p, 'x');
    }
    byte(&p, 0x08);
    byte(&p, 1);
    message(&m, &p);
    assert_int_equal(m.n, GRPCMSG_REPLY_MAX);
    assert_int_equal(read_body(&m, &st), 0);
    assert_int_equal(st, 1);
    byte(&m, 0);                /* one byte over */
    assert_int_equal(read_body(&m, &st), -EMSGSIZE);
}

/* ---------------------------------------------------------- trailers */

static void status_codes(void **state)
{
    (void)state;
    int code = -1;
    assert_int_equal(grpcmsg_parse_code("0", 1, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(grpcmsg_parse_code(" 14\r\n", 5, &code), 0);
    assert_int_equal(code, 14);
    assert_int_equal(grpcmsg_parse_code("999", 3, &code), 0);
    assert_int_equal(code, 999);
    assert_int_equal(grpcmsg_parse_code("", 0, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("  ", 2, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("-1", 2, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("+1", 2, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("1a", 2, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("1000", 4, &code), -EINVAL);
    assert_int_equal(grpcmsg_parse_code("5", 0, &code), -EINVAL);  /* n counts, not the NUL */

    assert_string_equal(grpcmsg_code_name(0), "OK");
    assert_string_equal(grpcmsg_code_name(GRPCMSG_CODE_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(grpcmsg_code_name(12), "UNIMPLEMENTED");
    assert_string_equal(grpcmsg_code_name(14), "UNAVAILABLE");
    assert_string_equal(grpcmsg_code_name(16), "UNAUTHENTICATED");
    assert_null(grpcmsg_code_name(17));
    assert_null(grpcmsg_code_name(-1));
}

/* grpc-message: percent-decoded, made fit for a result. */
static void messages(void **state)
{
    (void)state;
    char out[32];
    const char *s = "unknown%20service%3A x";
    assert_int_equal(grpcmsg_unescape(s, strlen(s), out, sizeof(out)), 18);
    assert_string_equal(out, "unknown service: x");
    s = "ok %E2%9C%93";             /* escapes spelling UTF-8 */
    grpcmsg_unescape(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "ok \xe2\x9c\x93");
    s = "a%0Ab%00c%7F";             /* controls, a NUL */
    grpcmsg_unescape(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "a?b?c?");
    s = "50%, %zz, %4";             /* not escapes: kept */
    grpcmsg_unescape(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "50%, %zz, %4");
    s = "%FF%C3x";                  /* invalid UTF-8 */
    grpcmsg_unescape(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "??x");
    char small[6];                  /* cut before a character, never inside */
    s = "abc%E2%9C%93";
    assert_int_equal(grpcmsg_unescape(s, strlen(s), small, sizeof(small)), 3);
    assert_string_equal(small, "abc");
    assert_int_equal(grpcmsg_unescape("abcdef", 6, small, 1), 0);
    assert_string_equal(small, "");
    /* A long message is cut, not overrun. */
    char big[2000];
    memset(big, 'm', sizeof(big));
    assert_int_equal(grpcmsg_unescape(big, sizeof(big), out, sizeof(out)), sizeof(out) - 1);
}

/* -------------------------------------------------------------- keys */

/* A bare grpc check asks for the whole server and wants SERVING. */
static void grpc_defaults(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: g, type: grpc, url: 'grpc://10.0.0.5:50051'}\n"
                               "  - {name: s, type: grpc, url: 'GRPCS://[::1]:443/',\n"
                               "     service: api.v1.Orders, server-name: api.example.com,\n"
                               "     ca-file: /etc/ca.pem, verify-tls: false,\n"
                               "     conditions: ['[STATUS] != NOT_SERVING']}\n");
    const struct conf_check *g = &c->checks[0], *s = &c->checks[1];
    assert_int_equal(g->kind, CHECK_GRPC);
    assert_int_equal(g->nconditions, 1);
    assert_string_equal(g->conditions[0], "[STATUS] == SERVING");
    assert_null(g->service);
    assert_true(g->verify_tls);
    assert_int_equal(g->timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    assert_string_equal(s->service, "api.v1.Orders");
    assert_string_equal(s->server_name, "api.example.com");
    assert_string_equal(s->ca_file, "/etc/ca.pem");
    assert_false(s->verify_tls);
    char d[128];
    check_describe(g, d, sizeof(d));
    assert_string_equal(d, "grpc://10.0.0.5:50051");
    check_describe(s, d, sizeof(d));
    assert_string_equal(d, "GRPCS://[::1]:443/ service api.v1.Orders");
    config_destroy(c);
}

/* The keys of grpc checks, refused where they are wrong, at their position. */
static void grpc_keys_bad(void **state)
{
    (void)state;
    load_bad("checks:\n  - {name: g, type: grpc}\n", "t.yml:2:5: checks[0]: grpc check needs url",
             NULL);
    const char *bad_url = "checks[0].url: expected grpc://HOST:PORT or grpcs://HOST:PORT";
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'http://h:1'}\n", bad_url);
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://:1'}\n", bad_url);
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://u@h:1'}\n", bad_url);
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://[::1]'}\n", bad_url);
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://::1:50051'}\n", bad_url);
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://h'}\n",
                  "checks[0].url: needs a port: grpc://HOST:PORT");
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://h:0'}\n",
                  "checks[0].url: port must be 1-65535");
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://h:65536'}\n",
                  "checks[0].url: port must be 1-65535");
    load_bad_text("checks:\n  - {name: g, type: grpc, url: 'grpc://h:1/grpc.health.v1.Health'}\n",
                  "checks[0].url: takes no path: the method is /grpc.health.v1.Health/Check");
    load_bad("checks:\n  - {name: g, type: grpc, url: 'grpc://h:1', service: 'a b'}\n",
             "t.yml:2:46: checks[0].service: must be a service name, without spaces", NULL);
    load_bad("checks:\n  - {name: g, type: grpc, url: 'grpc://h:1', ca-file: /ca.pem}\n",
             "t.yml:2:5: checks[0]: ca-file needs a grpcs:// url", NULL);
    load_bad("checks:\n  - {name: g, type: grpc, url: 'grpc://h:1', host: h}\n",
             "t.yml:2:46: checks[0].host: not a key of grpc checks", NULL);
    load_bad("checks:\n  - {name: t, type: tls, host: x, port: 1, service: s}\n",
             "t.yml:2:44: checks[0].service: not a key of tls checks", NULL);
    load_bad("checks:\n"
             "  - name: g\n"
             "    type: grpc\n"
             "    url: grpc://h:1\n"
             "    conditions: '[TLS_VERSION] == 1.3'\n",
             "t.yml:5:5: checks[0].conditions: bad condition: unknown placeholder [TLS_VERSION]",
             NULL);
    char text[2200];
    char name[GRPCMSG_SERVICE_MAX + 2];
    memset(name, 's', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text),
             "checks:\n  - {name: g, type: grpc, url: 'grpc://h:1', service: %s}\n", name);
    load_bad_text(text, "checks[0].service: too long (at most 1024 bytes)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_bytes),  cmocka_unit_test(round_trip),
        cmocka_unit_test(serving_names),  cmocka_unit_test(unknown_fields),
        cmocka_unit_test(hostile_varints), cmocka_unit_test(malformed_protobuf),
        cmocka_unit_test(framing),        cmocka_unit_test(oversized),
        cmocka_unit_test(status_codes),   cmocka_unit_test(messages),
        cmocka_unit_test(grpc_defaults),  cmocka_unit_test(grpc_keys_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
