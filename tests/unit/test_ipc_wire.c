/* test_ipc_wire.c - msgpack-RPC framing against hostile input: limits,
 * invalid bytes, msgids of broken requests, large messages, params and
 * results of the wrong shape, envelopes; the name tables and the daemon's
 * handler table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_proto.h"
#include "ipc_wire.h"
#include "rpc.h"
#include "util.h"

/* A msgpack-c call that must succeed: packing into an sbuffer fails only
 * without memory. */
#define P(call) assert_int_equal((call), 0)

/* --- building hostile messages by hand --- */

/* A buffer and a packer on it. */
struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

/* An empty buffer with its packer. */
static void mp_init(struct mp *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

/* Free the buffer. */
static void mp_finish(struct mp *b)
{
    msgpack_sbuffer_destroy(&b->sb);
}

/* Append raw bytes. */
static void mp_raw(struct mp *b, const char *p, size_t n)
{
    P(msgpack_sbuffer_write(&b->sb, p, n));
}

/* Append a str. */
static void mp_str(struct mp *b, const char *s)
{
    P(msgpack_pack_str_with_body(&b->pk, s, strlen(s)));
}

/* A str of n copies of c. */
static void mp_fill(struct mp *b, char c, size_t n)
{
    char *s = malloc(n ? n : 1);
    assert_non_null(s);
    memset(s, c, n);
    P(msgpack_pack_str_with_body(&b->pk, s, n));
    free(s);
}

/* [0, msgid, method, and the caller packs the params. */
static void mp_request(struct mp *b, uint32_t msgid, const char *method)
{
    P(msgpack_pack_array(&b->pk, 4));
    P(msgpack_pack_uint8(&b->pk, 0));
    P(msgpack_pack_uint32(&b->pk, msgid));
    mp_str(b, method);
}

/* What ipc_reader_next says about b's bytes with lim. */
struct verdict {
    enum ipc_wire_err e;
    bool has_msgid;
    uint32_t msgid;
};

/* Feed n bytes to a fresh reader and take its first answer. */
static struct verdict next_of(const void *p, size_t n, const struct ipc_limits *lim)
{
    struct ipc_reader rd;
    struct verdict v = {.msgid = 0xabababab};
    msgpack_object *o = NULL;
    assert_int_equal(ipc_reader_init(&rd, lim), 0);
    assert_int_equal(ipc_reader_feed(&rd, p, n), 0);
    v.e = ipc_reader_next(&rd, &o, &v.msgid, &v.has_msgid);
    /* After an error the stream stays broken: no resync. */
    if (v.e != IPC_WIRE_OK && v.e != IPC_WIRE_MORE) {
        bool again_has = false;
        uint32_t again_id = 0;
        assert_int_equal(ipc_reader_next(&rd, &o, &again_id, &again_has), v.e);
    }
    ipc_reader_finish(&rd);
    return v;
}

/* Assert b's bytes are refused with e and, when want_msgid is not -1, that
 * the msgid want_msgid is reported; -1: no msgid. */
static void refused(const struct mp *b, const struct ipc_limits *lim, enum ipc_wire_err e,
                    int64_t want_msgid)
{
    struct verdict v = next_of(b->sb.data, b->sb.size, lim);
    if (v.e != e) {
        fail_msg("got %s, want %s", ipc_wire_strerror(v.e), ipc_wire_strerror(e));
    }
    if (want_msgid < 0) {
        assert_false(v.has_msgid);
    } else {
        assert_true(v.has_msgid);
        assert_int_equal(v.msgid, want_msgid);
    }
}

/* Assert the scan accepts b's bytes as one message of exactly their size. */
static void accepted(const struct mp *b, const struct ipc_limits *lim)
{
    size_t len = 0;
    enum ipc_wire_err e = ipc_wire_scan((const unsigned char *)b->sb.data, b->sb.size, lim, &len);
    if (e != IPC_WIRE_OK) {
        fail_msg("scan: %s", ipc_wire_strerror(e));
    }
    assert_int_equal(len, b->sb.size);
    assert_int_equal(next_of(b->sb.data, b->sb.size, lim).e, IPC_WIRE_OK);
}

/* --- limits --- */

/* Over max_message: refused, with the request's msgid, before it has all
 * arrived. */
static void test_limit_message(void **state)
{
    const struct ipc_limits *lim = &ipc_limits_server;
    const uint32_t ids[] = {42, 200, 0xbeef, 0xdeadbeef};
    for (size_t k = 0; k < ARRAY_SIZE(ids); k++) {
        /* 20 strings of 60000 bytes, each under max_string: 1.2 MB. */
        struct mp b;
        mp_init(&b);
        mp_request(&b, ids[k], "deploys.record");
        P(msgpack_pack_array(&b.pk, 1));
        P(msgpack_pack_map(&b.pk, 20));
        for (int i = 0; i < 20; i++) {
            char key[16];
            snprintf(key, sizeof(key), "k%d", i);
            mp_str(&b, key);
            mp_fill(&b, 'x', 60000);
        }
        assert_true(b.sb.size > lim->max_message);
        refused(&b, lim, IPC_WIRE_TOO_BIG, ids[k]);
        /* The first max_message bytes are enough to know. */
        struct verdict v = next_of(b.sb.data, lim->max_message, lim);
        assert_int_equal(v.e, IPC_WIRE_TOO_BIG);
        assert_true(v.has_msgid);
        assert_int_equal(v.msgid, ids[k]);
        mp_finish(&b);
    }

    /* One 2 MiB str is over max_message and max_string: the string limit,
     * seen first in its header, is what is reported. */
    struct mp b;
    mp_init(&b);
    mp_request(&b, 77, "checks.get");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "check");
    mp_fill(&b, 'y', 2u << 20);
    refused(&b, lim, IPC_WIRE_STRING, 77);
    /* Its header alone (the body never sent) is enough. */
    struct verdict v = next_of(b.sb.data, b.sb.size - (2u << 20), lim);
    assert_int_equal(v.e, IPC_WIRE_STRING);
    assert_int_equal(v.msgid, 77);
    mp_finish(&b);

    /* The edge, with small limits: 64 bytes pass, 65 do not. */
    const struct ipc_limits small = {
        .max_message = 64, .max_depth = 4, .max_string = 64, .max_elements = 8};
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 3));
    mp_fill(&b, 'a', 30);
    mp_fill(&b, 'b', 30);
    mp_fill(&b, 'c', 0);
    assert_int_equal(b.sb.size, 64);
    accepted(&b, &small);
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 3));
    mp_fill(&b, 'a', 30);
    mp_fill(&b, 'b', 30);
    mp_fill(&b, 'c', 1);
    assert_int_equal(b.sb.size, 65);
    refused(&b, &small, IPC_WIRE_TOO_BIG, -1);
    mp_finish(&b);
    /* A one-byte item, and a str8 header, that cross the limit. */
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 4));
    mp_fill(&b, 'a', 30);
    mp_fill(&b, 'b', 30);
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_int(&b.pk, 1));
    assert_int_equal(b.sb.size, 65);
    refused(&b, &small, IPC_WIRE_TOO_BIG, -1);
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 3));
    mp_fill(&b, 'a', 30);
    mp_fill(&b, 'b', 30);
    mp_raw(&b, "\xd9\x00", 2);
    refused(&b, &small, IPC_WIRE_TOO_BIG, -1);
    mp_finish(&b);
}

/* Pack n nested one-element arrays around a 1. */
static void mp_nest(struct mp *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        P(msgpack_pack_array(&b->pk, 1));
    }
    P(msgpack_pack_int(&b->pk, 1));
}

/* Nesting: max_depth levels pass, one more is refused. */
static void test_limit_depth(void **state)
{
    const struct ipc_limits *lim = &ipc_limits_server;
    struct mp b;

    mp_init(&b);
    mp_nest(&b, lim->max_depth);
    accepted(&b, lim);
    mp_finish(&b);

    mp_init(&b);
    mp_nest(&b, lim->max_depth + 1);
    refused(&b, lim, IPC_WIRE_TOO_DEEP, -1);
    mp_finish(&b);

    /* An empty container is a level too: max_depth - 1 levels around an
     * empty array pass, max_depth around one are refused. */
    mp_init(&b);
    for (unsigned i = 0; i < lim->max_depth - 1; i++) {
        P(msgpack_pack_array(&b.pk, 1));
    }
    P(msgpack_pack_array(&b.pk, 0));
    accepted(&b, lim);
    mp_finish(&b);
    mp_init(&b);
    for (unsigned i = 0; i < lim->max_depth; i++) {
        P(msgpack_pack_array(&b.pk, 1));
    }
    P(msgpack_pack_map(&b.pk, 0));
    refused(&b, lim, IPC_WIRE_TOO_DEEP, -1);
    mp_finish(&b);

    /* Maps count as well as arrays. */
    mp_init(&b);
    for (unsigned i = 0; i <= lim->max_depth; i++) {
        P(msgpack_pack_map(&b.pk, 1));
        mp_str(&b, "k");
    }
    P(msgpack_pack_nil(&b.pk));
    refused(&b, lim, IPC_WIRE_TOO_DEEP, -1);
    mp_finish(&b);

    /* Inside a request, whose envelope is a level itself. */
    mp_init(&b);
    mp_request(&b, 99, "checks.get");
    mp_nest(&b, lim->max_depth);
    refused(&b, lim, IPC_WIRE_TOO_DEEP, 99);
    mp_finish(&b);

    /* A thousand levels: refused at the limit, not by running out of stack. */
    mp_init(&b);
    mp_request(&b, 100, "checks.get");
    mp_nest(&b, 1000);
    refused(&b, lim, IPC_WIRE_TOO_DEEP, 100);
    mp_finish(&b);
}

/* Strings, bins and exts over max_string. */
static void test_limit_string(void **state)
{
    const struct ipc_limits *lim = &ipc_limits_server;
    size_t max = lim->max_string;
    struct mp b;
    char *body = calloc(1, max + 1);
    assert_non_null(body);

    mp_init(&b);
    mp_fill(&b, 's', max);
    accepted(&b, lim);
    mp_finish(&b);

    mp_init(&b);
    mp_fill(&b, 's', max + 1);
    refused(&b, lim, IPC_WIRE_STRING, -1);
    mp_finish(&b);

    mp_init(&b);
    P(msgpack_pack_bin_with_body(&b.pk, body, max));
    accepted(&b, lim);
    mp_finish(&b);

    mp_init(&b);
    P(msgpack_pack_bin_with_body(&b.pk, body, max + 1));
    refused(&b, lim, IPC_WIRE_STRING, -1);
    mp_finish(&b);

    mp_init(&b);
    P(msgpack_pack_ext_with_body(&b.pk, body, max + 1, 5));
    refused(&b, lim, IPC_WIRE_STRING, -1);
    mp_finish(&b);

    /* In a request: the msgid comes back. */
    mp_init(&b);
    mp_request(&b, 5, "checks.get");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "check");
    mp_fill(&b, 's', max + 1);
    refused(&b, lim, IPC_WIRE_STRING, 5);
    mp_finish(&b);

    /* Headers declaring 4 GiB, with no body: refused from five bytes. */
    static const char str32[] = "\xdb\xff\xff\xff\xff", bin32[] = "\xc6\xff\xff\xff\xff",
                      ext32[] = "\xc9\xff\xff\xff\xff\x01";
    assert_int_equal(next_of(str32, 5, lim).e, IPC_WIRE_STRING);
    assert_int_equal(next_of(bin32, 5, lim).e, IPC_WIRE_STRING);
    assert_int_equal(next_of(ext32, 6, lim).e, IPC_WIRE_STRING);
    free(body);
}

/* Arrays and maps over max_elements, down to a header declaring four billion. */
static void test_limit_elements(void **state)
{
    const struct ipc_limits *lim = &ipc_limits_server;
    struct mp b;

    mp_init(&b);
    P(msgpack_pack_array(&b.pk, lim->max_elements));
    for (size_t i = 0; i < lim->max_elements; i++) {
        P(msgpack_pack_nil(&b.pk));
    }
    accepted(&b, lim);
    mp_finish(&b);

    mp_init(&b);
    P(msgpack_pack_array(&b.pk, lim->max_elements + 1));
    for (size_t i = 0; i <= lim->max_elements; i++) {
        P(msgpack_pack_nil(&b.pk));
    }
    refused(&b, lim, IPC_WIRE_ELEMENTS, -1);
    mp_finish(&b);

    mp_init(&b);
    P(msgpack_pack_map(&b.pk, lim->max_elements + 1));
    for (size_t i = 0; i <= lim->max_elements; i++) {
        P(msgpack_pack_int(&b.pk, (int)i));
        P(msgpack_pack_nil(&b.pk));
    }
    refused(&b, lim, IPC_WIRE_ELEMENTS, -1);
    mp_finish(&b);

    /* Five bytes declaring 2^32-1 elements. Had they reached msgpack-c's
     * unpacker it would have tried to allocate ~100 GB for the objects and
     * failed (TOO_BIG) or been stopped by ASan; ELEMENTS means the walk
     * refused them first. */
    static const char arr32[] = "\xdd\xff\xff\xff\xff", map32[] = "\xdf\xff\xff\xff\xff";
    struct verdict v = next_of(arr32, 5, lim);
    assert_int_equal(v.e, IPC_WIRE_ELEMENTS);
    assert_false(v.has_msgid);
    assert_int_equal(next_of(map32, 5, lim).e, IPC_WIRE_ELEMENTS);
    size_t len = 12345;
    assert_int_equal(ipc_wire_scan((const unsigned char *)arr32, 5, lim, &len), IPC_WIRE_ELEMENTS);
    assert_int_equal(len, 12345);

    /* The same as a request's params: the msgid comes back. */
    mp_init(&b);
    mp_request(&b, 0x1234, "checks.list");
    mp_raw(&b, arr32, 5);
    refused(&b, lim, IPC_WIRE_ELEMENTS, 0x1234);
    mp_finish(&b);
}

/* Bytes that are not msgpack. */
static void test_invalid(void **state)
{
    const struct ipc_limits *lim = &ipc_limits_server;
    struct mp b;

    mp_init(&b);
    mp_raw(&b, "\xc1", 1);
    refused(&b, lim, IPC_WIRE_INVALID, -1);
    mp_finish(&b);

    mp_init(&b);
    mp_request(&b, 7, "checks.get");
    mp_raw(&b, "\xc1", 1);
    refused(&b, lim, IPC_WIRE_INVALID, 7);
    mp_finish(&b);

    /* Deep in the params, after bytes that scanned fine. */
    mp_init(&b);
    mp_request(&b, 300, "checks.get");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "check");
    mp_str(&b, "web");
    mp_str(&b, "x");
    mp_raw(&b, "\xc1", 1);
    refused(&b, lim, IPC_WIRE_INVALID, 300);
    mp_finish(&b);

    /* Nothing buffered is not an error. */
    assert_int_equal(next_of("", 0, lim).e, IPC_WIRE_MORE);

    /* Every error has its own text. */
    for (int i = IPC_WIRE_OK; i <= IPC_WIRE_ELEMENTS; i++) {
        const char *s = ipc_wire_strerror((enum ipc_wire_err)i);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (int j = IPC_WIRE_OK; j < i; j++) {
            assert_string_not_equal(s, ipc_wire_strerror((enum ipc_wire_err)j));
        }
    }
}

/* The msgid of a request too broken to unpack, in each encoding. */
static void test_peek_msgid(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        bool ok;
        uint32_t msgid;
    } cases[] = {
        {"\x94\x00\x05", 3, true, 5},
        {"\x94\x00\x7f", 3, true, 127},
        {"\x94\x00\xcc\x80", 4, true, 128},
        {"\x94\x00\xcd\xbe\xef", 5, true, 0xbeef},
        {"\x94\x00\xce\xde\xad\xbe\xef", 7, true, 0xdeadbeef},
        {"\x94\x00\xce\xde\xad\xbe", 6, false, 0}, /* cut */
        {"\x94\x00", 2, false, 0},                 /* cut */
        {"\x94\x01\x05", 3, false, 0},             /* a response */
        {"\x93\x02\xa5", 3, false, 0},             /* a notification */
        {"\x94\x00\xff", 3, false, 0},             /* negative */
        {"\x94\x00\xa1", 3, false, 0},             /* a string */
        {"\xc1\x00\x05", 3, false, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint32_t msgid = 0xabababab;
        bool ok = ipc_wire_peek_msgid((const unsigned char *)cases[i].bytes, cases[i].n, &msgid);
        if (ok != cases[i].ok || (ok && msgid != cases[i].msgid)) {
            fail_msg("case %zu: %d %u", i, ok, msgid);
        }
    }
}

/* A message larger than the reader's first buffer, read in 4 KiB pieces
 * through ipc_reader_buffer, as the daemon reads. */
static void test_large_message(void **state)
{
    struct mp b;
    mp_init(&b);
    mp_request(&b, 8, "deploys.record");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 8));
    for (int i = 0; i < 8; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        mp_str(&b, key);
        mp_fill(&b, (char)('a' + i), 60000);
    }
    struct ipc_reader rd;
    msgpack_object *o = NULL;
    uint32_t msgid = 0;
    bool has_msgid = false;
    enum ipc_wire_err e = IPC_WIRE_MORE;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    for (size_t off = 0; off < b.sb.size; off += 4096) {
        size_t k = b.sb.size - off < 4096 ? b.sb.size - off : 4096;
        size_t avail = 0;
        char *buf = ipc_reader_buffer(&rd, 4096, &avail);
        assert_non_null(buf);
        assert_true(avail >= 4096);
        memcpy(buf, b.sb.data + off, k);
        ipc_reader_consumed(&rd, k);
        assert_int_equal(e, IPC_WIRE_MORE);
        e = ipc_reader_next(&rd, &o, &msgid, &has_msgid);
    }
    assert_int_equal(e, IPC_WIRE_OK);
    const msgpack_object *map = &o->via.array.ptr[3].via.array.ptr[0];
    assert_int_equal(map->via.map.size, 8);
    const msgpack_object *last = &map->via.map.ptr[7].val;
    assert_int_equal(last->via.str.size, 60000);
    assert_int_equal(last->via.str.ptr[59999], 'h');
    ipc_reader_finish(&rd);
    mp_finish(&b);
}

/* The walk agrees with msgpack-c on the size of every type of object: each
 * prefix is MORE, the whole is OK, and a message after it is found. */
static void test_every_type(void **state)
{
    static const char ext[16] = "0123456789abcdef";
    struct mp b;
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 15));
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_true(&b.pk));
    P(msgpack_pack_false(&b.pk));
    P(msgpack_pack_fix_uint8(&b.pk, 200));
    P(msgpack_pack_fix_uint16(&b.pk, 2));
    P(msgpack_pack_fix_uint32(&b.pk, 3));
    P(msgpack_pack_fix_uint64(&b.pk, 4));
    P(msgpack_pack_fix_int8(&b.pk, -5));
    P(msgpack_pack_fix_int16(&b.pk, -6));
    P(msgpack_pack_fix_int32(&b.pk, -7));
    P(msgpack_pack_fix_int64(&b.pk, -8));
    P(msgpack_pack_float(&b.pk, 1.5f));
    P(msgpack_pack_double(&b.pk, -2.25));
    P(msgpack_pack_int(&b.pk, -32)); /* negative fixint */
    P(msgpack_pack_map(&b.pk, 16));
    /* strs: fix, 8, 16 (canonical), 32 (by hand) */
    mp_str(&b, "a");
    mp_fill(&b, 's', 31);
    mp_str(&b, "b");
    mp_fill(&b, 's', 200);
    mp_str(&b, "c");
    mp_fill(&b, 's', 300);
    mp_str(&b, "d");
    mp_raw(&b, "\xdb\x00\x00\x00\x02hi", 7);
    /* bins: 8, 16, 32 */
    mp_str(&b, "e");
    P(msgpack_pack_bin_with_body(&b.pk, ext, 16));
    mp_str(&b, "f");
    mp_raw(&b, "\xc5\x00\x03xyz", 6);
    mp_str(&b, "g");
    mp_raw(&b, "\xc6\x00\x00\x00\x01z", 6);
    /* exts: fixext 1, 2, 4, 8, 16; ext 8, 16, 32 */
    mp_str(&b, "h");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 1, 1));
    mp_str(&b, "i");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 2, 2));
    mp_str(&b, "j");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 4, 3));
    mp_str(&b, "k");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 8, -1));
    mp_str(&b, "l");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 16, 4));
    mp_str(&b, "m");
    P(msgpack_pack_ext_with_body(&b.pk, ext, 3, 5));
    mp_str(&b, "n");
    mp_raw(&b,
           "\xc8\x00\x02\x06"
           "ab",
           6);
    mp_str(&b, "o");
    mp_raw(&b, "\xc9\x00\x00\x00\x01\x07q", 7);
    /* array 16 and 32, map 16 and 32, empty ones, by hand */
    mp_str(&b, "p");
    mp_raw(&b,
           "\x94\xdc\x00\x01\xc0\xdd\x00\x00\x00\x01\xc3\xde\x00\x01\x01\x02"
           "\xdf\x00\x00\x00\x00",
           21);
    size_t n1 = b.sb.size;
    /* and a second message after it */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_int(&b.pk, 9));

    const unsigned char *p = (const unsigned char *)b.sb.data;
    size_t len = 0;
    for (size_t k = 0; k < n1; k++) {
        enum ipc_wire_err e = ipc_wire_scan(p, k, &ipc_limits_server, &len);
        if (e != IPC_WIRE_MORE) {
            fail_msg("prefix %zu of %zu: %s", k, n1, ipc_wire_strerror(e));
        }
    }
    assert_int_equal(ipc_wire_scan(p, b.sb.size, &ipc_limits_server, &len), IPC_WIRE_OK);
    assert_int_equal(len, n1);

    struct ipc_reader rd;
    msgpack_object *o = NULL;
    uint32_t msgid = 0;
    bool has_msgid = false;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    assert_int_equal(ipc_reader_feed(&rd, b.sb.data, b.sb.size), 0);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_OK);
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 15);
    assert_int_equal(o->via.array.ptr[14].via.map.size, 16);
    assert_int_equal(ipc_reader_pending(&rd), b.sb.size - n1);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_OK);
    assert_int_equal(o->via.array.size, 1);
    assert_int_equal(o->via.array.ptr[0].via.u64, 9);
    assert_int_equal(ipc_reader_pending(&rd), 0);
    ipc_reader_finish(&rd);
    mp_finish(&b);
}

/* --- params of the wrong shape --- */

/* Unpack b's bytes (one object) into u. */
static const msgpack_object *unpack(msgpack_unpacked *u, const struct mp *b)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, b->sb.data, b->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, b->sb.size);
    return &u->data;
}

/* ipc_decode_params of the params packed in b as t into v (zeroed by the
 * caller, freed here); why gets the reason. */
static int decode(const struct mp *b, const struct ipc_type *t, void *v, char *why, size_t whylen)
{
    msgpack_unpacked u;
    why[0] = '\0';
    int rc = ipc_decode_params(unpack(&u, b), t, v, why, whylen);
    if (rc < 0 && why[0] == '\0') {
        fail_msg("-1 with no reason");
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Assert params packed by the caller into b fail to decode as t, with why
 * containing want. b is reset. */
static void rejects(struct mp *b, const struct ipc_type *t, const char *want)
{
    char why[256];
    void *v = calloc(1, t->size);
    assert_non_null(v);
    int rc = decode(b, t, v, why, sizeof(why));
    ipc_type_finish(t, v);
    free(v);
    if (rc != -1 || strstr(why, want) == NULL) {
        fail_msg("%s: got %d \"%s\", want -1 \"%s\"", t->name, rc, why, want);
    }
    msgpack_sbuffer_clear(&b->sb);
}

/* [{key: <caller packs the value>: one-key params. */
static void mp_params1(struct mp *b, const char *key)
{
    P(msgpack_pack_array(&b->pk, 1));
    P(msgpack_pack_map(&b->pk, 1));
    mp_str(b, key);
}

/* Values of the wrong type, NUL bytes, bad keys: -1 and why names the field. */
static void test_params_wrong_types(void **state)
{
    struct mp b;
    mp_init(&b);

    /* A string where an integer belongs. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "check");
    mp_str(&b, "web");
    mp_str(&b, "limit");
    mp_str(&b, "ten");
    rejects(&b, &ipc_history_params_type, "limit: expected an integer");

    /* Integers out of int64 range, floats, booleans. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "check");
    mp_str(&b, "web");
    mp_str(&b, "limit");
    P(msgpack_pack_uint64(&b.pk, (uint64_t)INT64_MAX + 1));
    rejects(&b, &ipc_history_params_type, "limit");
    mp_params1(&b, "limit");
    P(msgpack_pack_double(&b.pk, 10.0));
    rejects(&b, &ipc_deploys_query_type, "limit: expected an integer");
    mp_params1(&b, "before_id");
    P(msgpack_pack_true(&b.pk));
    rejects(&b, &ipc_deploys_query_type, "before_id: expected an integer");

    /* Not a string: an integer, a bin, an array. */
    mp_params1(&b, "check");
    P(msgpack_pack_int(&b.pk, 5));
    rejects(&b, &ipc_check_ref_type, "check: expected a string");
    mp_params1(&b, "check");
    P(msgpack_pack_bin_with_body(&b.pk, "web", 3));
    rejects(&b, &ipc_check_ref_type, "check: expected a string");
    mp_params1(&b, "app");
    P(msgpack_pack_array(&b.pk, 0));
    rejects(&b, &ipc_checks_filter_type, "app: expected a string");

    /* A NUL byte inside a string. */
    mp_params1(&b, "check");
    P(msgpack_pack_str_with_body(&b.pk, "we\0b", 4));
    rejects(&b, &ipc_check_ref_type, "check: contains a NUL byte");
    mp_params1(&b, "check");
    P(msgpack_pack_str_with_body(&b.pk, "web\0", 4));
    rejects(&b, &ipc_check_ref_type, "NUL");

    /* Arrays of strings: not an array, an element not a string or with a NUL,
     * given twice. */
    mp_params1(&b, "topics");
    mp_str(&b, "results");
    rejects(&b, &ipc_topics_type, "topics: expected an array of strings");
    mp_params1(&b, "topics");
    P(msgpack_pack_array(&b.pk, 2));
    mp_str(&b, "results");
    P(msgpack_pack_int(&b.pk, 1));
    rejects(&b, &ipc_topics_type, "topics[1]: expected a string");
    mp_params1(&b, "topics");
    P(msgpack_pack_array(&b.pk, 3));
    mp_str(&b, "results");
    mp_str(&b, "states");
    P(msgpack_pack_str_with_body(&b.pk, "lo\0g", 4));
    rejects(&b, &ipc_topics_type, "topics[2]: contains a NUL byte");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "topics");
    P(msgpack_pack_array(&b.pk, 1));
    mp_str(&b, "results");
    mp_str(&b, "topics");
    P(msgpack_pack_array(&b.pk, 0));
    rejects(&b, &ipc_topics_type, "topics: given twice");

    /* The alerts methods: ids and durations are integers, matchers strings. */
    mp_params1(&b, "id");
    mp_str(&b, "3");
    rejects(&b, &ipc_ack_params_type, "id: expected an integer");
    mp_params1(&b, "id");
    P(msgpack_pack_double(&b.pk, 3.0));
    rejects(&b, &ipc_id_ref_type, "id: expected an integer");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "id");
    P(msgpack_pack_int(&b.pk, 3));
    mp_str(&b, "comment");
    P(msgpack_pack_true(&b.pk));
    rejects(&b, &ipc_ack_params_type, "comment: expected a string");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "check");
    mp_str(&b, "web");
    mp_str(&b, "duration_ms");
    mp_str(&b, "1h");
    rejects(&b, &ipc_mute_params_type, "duration_ms: expected an integer");
    mp_params1(&b, "severity");
    P(msgpack_pack_int(&b.pk, 2));
    rejects(&b, &ipc_mute_params_type, "severity: expected a string");
    mp_params1(&b, "ends_ms");
    P(msgpack_pack_uint64(&b.pk, UINT64_MAX));
    rejects(&b, &ipc_mute_params_type, "ends_ms: expected an integer");
    mp_params1(&b, "status");
    P(msgpack_pack_array(&b.pk, 1));
    mp_str(&b, "open");
    rejects(&b, &ipc_alerts_query_type, "status: expected a string");
    mp_params1(&b, "limit");
    mp_str(&b, "all");
    rejects(&b, &ipc_alerts_query_type, "limit: expected an integer");

    /* A key that is not a string. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "check");
    mp_str(&b, "web");
    P(msgpack_pack_int(&b.pk, 1));
    mp_str(&b, "x");
    rejects(&b, &ipc_check_ref_type, "keys must be strings");

    mp_finish(&b);
}

/* Required fields missing; params not an array of at most one map. */
static void test_params_missing(void **state)
{
    struct mp b;
    mp_init(&b);

    /* checks.get without "check": an empty map, no map, nil, a nil value. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 0));
    rejects(&b, &ipc_check_ref_type, "check: missing");
    P(msgpack_pack_array(&b.pk, 0));
    rejects(&b, &ipc_check_ref_type, "check: missing");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_nil(&b.pk));
    rejects(&b, &ipc_check_ref_type, "check: missing");
    mp_params1(&b, "check");
    P(msgpack_pack_nil(&b.pk));
    rejects(&b, &ipc_check_ref_type, "check: missing");
    mp_params1(&b, "Check"); /* keys are case-sensitive */
    mp_str(&b, "web");
    rejects(&b, &ipc_check_ref_type, "check: missing");

    /* deploys.record needs app, env and version. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 3));
    mp_str(&b, "app");
    mp_str(&b, "shop");
    mp_str(&b, "env");
    mp_str(&b, "prod");
    mp_str(&b, "commit");
    mp_str(&b, "abc");
    rejects(&b, &ipc_deploy_type, "version: missing");

    /* alerts.ack, alerts.unsilence, maintenance.remove need an id; a
     * comment alone is not enough, nor is a nil id. */
    mp_params1(&b, "comment");
    mp_str(&b, "on it");
    rejects(&b, &ipc_ack_params_type, "id: missing");
    P(msgpack_pack_array(&b.pk, 0));
    rejects(&b, &ipc_ack_params_type, "id: missing");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 0));
    rejects(&b, &ipc_id_ref_type, "id: missing");
    mp_params1(&b, "id");
    P(msgpack_pack_nil(&b.pk));
    rejects(&b, &ipc_id_ref_type, "id: missing");
    mp_params1(&b, "ID");
    P(msgpack_pack_int(&b.pk, 4));
    rejects(&b, &ipc_id_ref_type, "id: missing");

    /* Every field of alerts.silence's params is optional to the codec (the
     * daemon wants duration_ms or ends_ms): an empty map decodes. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 0));
    struct ipc_mute_params mp = {0};
    char mwhy[128];
    assert_int_equal(decode(&b, &ipc_mute_params_type, &mp, mwhy, sizeof(mwhy)), 0);
    assert_null(mp.check);
    assert_int_equal(mp.duration_ms, 0);
    ipc_type_finish(&ipc_mute_params_type, &mp);
    msgpack_sbuffer_clear(&b.sb);

    /* params that are not an array of at most one map. */
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "check");
    mp_str(&b, "web");
    rejects(&b, &ipc_check_ref_type, "params must be an array");
    P(msgpack_pack_nil(&b.pk));
    rejects(&b, &ipc_check_ref_type, "params must be an array");
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "check");
    mp_str(&b, "web");
    P(msgpack_pack_map(&b.pk, 0));
    rejects(&b, &ipc_check_ref_type, "params must be an array");
    P(msgpack_pack_array(&b.pk, 1));
    mp_str(&b, "web");
    rejects(&b, &ipc_check_ref_type, "expected a map");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_array(&b.pk, 1));
    mp_str(&b, "web");
    rejects(&b, &ipc_check_ref_type, "expected a map");

    /* A method without params: at most one element still. */
    char why[128];
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_nil(&b.pk));
    assert_int_equal(decode(&b, NULL, NULL, why, sizeof(why)), -1);
    msgpack_sbuffer_clear(&b.sb);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 0));
    assert_int_equal(decode(&b, NULL, NULL, why, sizeof(why)), 0);
    msgpack_sbuffer_clear(&b.sb);

    mp_finish(&b);
}

/* Unknown keys are skipped, nil values are absent, a repeated string key
 * keeps the last value. */
static void test_params_lenient(void **state)
{
    struct mp b;
    char why[128];
    mp_init(&b);

    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 7));
    mp_str(&b, "zzz");
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_int(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 0));
    mp_str(&b, "check");
    mp_str(&b, "first");
    mp_str(&b, "limit");
    P(msgpack_pack_nil(&b.pk));
    mp_str(&b, "granularity");
    P(msgpack_pack_nil(&b.pk));
    mp_str(&b, "from_ms");
    P(msgpack_pack_int64(&b.pk, INT64_MIN));
    mp_str(&b, "check");
    mp_str(&b, "web");
    mp_str(&b, "future_field");
    mp_str(&b, "x");
    struct ipc_history_params h = {0};
    if (decode(&b, &ipc_history_params_type, &h, why, sizeof(why)) != 0) {
        fail_msg("%s", why);
    }
    assert_string_equal(h.check, "web");
    assert_int_equal(h.limit, 0);
    assert_null(h.granularity);
    assert_int_equal(h.from_ms, INT64_MIN);
    assert_int_equal(h.to_ms, 0);
    ipc_type_finish(&ipc_history_params_type, &h);
    assert_null(h.check);
    msgpack_sbuffer_clear(&b.sb);

    /* A nil STRV or ARRAY is absent too. */
    mp_params1(&b, "topics");
    P(msgpack_pack_nil(&b.pk));
    struct ipc_topics t = {0};
    assert_int_equal(decode(&b, &ipc_topics_type, &t, why, sizeof(why)), 0);
    assert_null(t.topics);
    assert_int_equal(t.ntopics, 0);
    msgpack_sbuffer_clear(&b.sb);

    /* Empty strings and an empty array are values, not absence. */
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "check");
    mp_str(&b, "");
    struct ipc_check_ref r = {0};
    assert_int_equal(decode(&b, &ipc_check_ref_type, &r, why, sizeof(why)), 0);
    assert_non_null(r.check);
    assert_string_equal(r.check, "");
    ipc_type_finish(&ipc_check_ref_type, &r);
    msgpack_sbuffer_clear(&b.sb);
    mp_params1(&b, "topics");
    P(msgpack_pack_array(&b.pk, 0));
    assert_int_equal(decode(&b, &ipc_topics_type, &t, why, sizeof(why)), 0);
    assert_non_null(t.topics);
    assert_int_equal(t.ntopics, 0);
    ipc_type_finish(&ipc_topics_type, &t);
    mp_finish(&b);
}

/* Results with a bad element deep inside: the path in why, nothing leaked. */
static void test_result_wrong_types(void **state)
{
    struct mp b;
    msgpack_unpacked u;
    char why[256];
    mp_init(&b);

    /* {"checks": [{"name": "a"}, {"name": 5}]} */
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "checks");
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "name");
    mp_str(&b, "a");
    mp_str(&b, "paused");
    P(msgpack_pack_true(&b.pk));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "name");
    P(msgpack_pack_int(&b.pk, 5));
    struct ipc_checks c = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_checks_type, &c, why, sizeof(why)), -1);
    assert_string_equal(why, "checks[1].name: expected a string");
    ipc_type_finish(&ipc_checks_type, &c);
    assert_null(c.checks);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    /* A nested required field: deploys[0] without a version. */
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "deploys");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "app");
    mp_str(&b, "shop");
    mp_str(&b, "env");
    mp_str(&b, "prod");
    struct ipc_deploys d = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_deploys_type, &d, why, sizeof(why)), -1);
    assert_string_equal(why, "deploys[0].version: missing");
    ipc_type_finish(&ipc_deploys_type, &d);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    /* An array given twice; an array that is not one; a bool that is 1. */
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "apps");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "app");
    mp_str(&b, "shop");
    mp_str(&b, "apps");
    P(msgpack_pack_array(&b.pk, 0));
    struct ipc_status s = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_status_type, &s, why, sizeof(why)), -1);
    assert_string_equal(why, "apps: given twice");
    ipc_type_finish(&ipc_status_type, &s);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "events");
    P(msgpack_pack_map(&b.pk, 0));
    struct ipc_events e = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_events_type, &e, why, sizeof(why)), -1);
    assert_string_equal(why, "events: expected an array");
    ipc_type_finish(&ipc_events_type, &e);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "paused");
    P(msgpack_pack_int(&b.pk, 1));
    struct ipc_paused pz = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_paused_type, &pz, why, sizeof(why)), -1);
    assert_string_equal(why, "paused: expected a boolean");
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    /* An alert deep in alerts.list's answer; a window's day not a string. */
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "alerts");
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "id");
    P(msgpack_pack_int(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "summary");
    mp_str(&b, "down");
    mp_str(&b, "id");
    mp_str(&b, "1");
    struct ipc_alerts al = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_alerts_type, &al, why, sizeof(why)), -1);
    assert_string_equal(why, "alerts[1].id: expected an integer");
    ipc_type_finish(&ipc_alerts_type, &al);
    assert_null(al.alerts);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "windows");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "name");
    mp_str(&b, "nightly");
    mp_str(&b, "days");
    P(msgpack_pack_array(&b.pk, 2));
    mp_str(&b, "sat");
    P(msgpack_pack_int(&b.pk, 0));
    struct ipc_maintenance mt = {0};
    assert_int_equal(
        ipc_type_unpack(unpack(&u, &b), &ipc_maintenance_type, &mt, why, sizeof(why)), -1);
    assert_string_equal(why, "windows[0].days[1]: expected a string");
    ipc_type_finish(&ipc_maintenance_type, &mt);
    assert_null(mt.windows);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&b.sb);

    /* A result that is not a map. */
    P(msgpack_pack_array(&b.pk, 0));
    struct ipc_reload rl = {0};
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_reload_type, &rl, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "expected a map"));
    msgpack_unpacked_destroy(&u);

    /* A short why buffer is cut, still terminated. */
    msgpack_sbuffer_clear(&b.sb);
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "checks");
    P(msgpack_pack_int(&b.pk, 1));
    memset(why, 'z', sizeof(why));
    assert_int_equal(ipc_type_unpack(unpack(&u, &b), &ipc_checks_type, &c, why, 8), -1);
    assert_int_equal(strlen(why), 7);
    assert_int_equal(why[8], 'z');
    msgpack_unpacked_destroy(&u);
    mp_finish(&b);
}

/* --- envelopes --- */

/* Parse the envelope packed in b; rc, and env's msgid fields. */
static int parse(const struct mp *b, struct ipc_envelope *env)
{
    msgpack_unpacked u;
    char why[128] = "";
    int rc = ipc_envelope_parse(unpack(&u, b), env, why, sizeof(why));
    if (rc < 0 && why[0] == '\0') {
        fail_msg("-1 with no reason");
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Assert the envelope packed in b is refused, with the msgid (or none: -1). */
static void bad_envelope(struct mp *b, int64_t want_msgid)
{
    struct ipc_envelope env;
    memset(&env, 0x5a, sizeof(env));
    assert_int_equal(parse(b, &env), -1);
    if (want_msgid < 0) {
        assert_false(env.has_msgid);
    } else {
        assert_true(env.has_msgid);
        assert_int_equal(env.msgid, want_msgid);
    }
    msgpack_sbuffer_clear(&b->sb);
}

/* Envelopes of the wrong shape are refused, with the msgid when it could be
 * read; good ones at the edges pass. */
static void test_envelopes(void **state)
{
    struct mp b;
    struct ipc_envelope env;
    mp_init(&b);

    /* Not an array, or of the wrong length. */
    P(msgpack_pack_map(&b.pk, 0));
    bad_envelope(&b, -1);
    P(msgpack_pack_int(&b.pk, 0));
    bad_envelope(&b, -1);
    P(msgpack_pack_array(&b.pk, 0));
    bad_envelope(&b, -1);
    /* A request of the wrong length still yields its msgid, so it can be
     * answered. */
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_int(&b.pk, 7));
    bad_envelope(&b, 7);
    P(msgpack_pack_array(&b.pk, 5));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_int(&b.pk, 7));
    mp_str(&b, "status.get");
    P(msgpack_pack_array(&b.pk, 0));
    P(msgpack_pack_nil(&b.pk));
    bad_envelope(&b, 7);
    P(msgpack_pack_array(&b.pk, 3));    /* [0, 7, "status.get"] */
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_int(&b.pk, 7));
    mp_str(&b, "status.get");
    bad_envelope(&b, 7);
    P(msgpack_pack_array(&b.pk, 1));    /* [0]: no msgid to read */
    P(msgpack_pack_int(&b.pk, 0));
    bad_envelope(&b, -1);
    P(msgpack_pack_array(&b.pk, 3)); /* a response of 3 */
    P(msgpack_pack_int(&b.pk, 1));
    P(msgpack_pack_int(&b.pk, 7));
    P(msgpack_pack_nil(&b.pk));
    assert_int_equal(parse(&b, &env), -1);
    msgpack_sbuffer_clear(&b.sb);
    P(msgpack_pack_array(&b.pk, 4)); /* a notification of 4 */
    P(msgpack_pack_int(&b.pk, 2));
    mp_str(&b, "event");
    P(msgpack_pack_array(&b.pk, 0));
    P(msgpack_pack_nil(&b.pk));
    bad_envelope(&b, -1);

    /* The first element: 3, -1, "0", nil, 0.0. */
    for (int i = 0; i < 5; i++) {
        P(msgpack_pack_array(&b.pk, 4));
        switch (i) {
        case 0:
            P(msgpack_pack_int(&b.pk, 3));
            break;
        case 1:
            P(msgpack_pack_int(&b.pk, -1));
            break;
        case 2:
            mp_str(&b, "0");
            break;
        case 3:
            P(msgpack_pack_nil(&b.pk));
            break;
        default:
            P(msgpack_pack_double(&b.pk, 0.0));
            break;
        }
        P(msgpack_pack_int(&b.pk, 7));
        mp_str(&b, "status.get");
        P(msgpack_pack_array(&b.pk, 0));
        bad_envelope(&b, -1);
    }

    /* The msgid: negative, over UINT32_MAX, a string, a float. */
    for (int i = 0; i < 4; i++) {
        P(msgpack_pack_array(&b.pk, 4));
        P(msgpack_pack_int(&b.pk, 0));
        switch (i) {
        case 0:
            P(msgpack_pack_int(&b.pk, -1));
            break;
        case 1:
            P(msgpack_pack_uint64(&b.pk, (uint64_t)UINT32_MAX + 1));
            break;
        case 2:
            mp_str(&b, "7");
            break;
        default:
            P(msgpack_pack_double(&b.pk, 7.0));
            break;
        }
        mp_str(&b, "status.get");
        P(msgpack_pack_array(&b.pk, 0));
        bad_envelope(&b, -1);
    }
    /* ... and in a response. */
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_int(&b.pk, 1));
    P(msgpack_pack_int(&b.pk, -7));
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_nil(&b.pk));
    bad_envelope(&b, -1);

    /* The method not a string, params not an array: the msgid is known. */
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_int(&b.pk, 7));
    P(msgpack_pack_int(&b.pk, 42));
    P(msgpack_pack_array(&b.pk, 0));
    bad_envelope(&b, 7);
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_uint32(&b.pk, UINT32_MAX));
    P(msgpack_pack_bin_with_body(&b.pk, "status.get", 10));
    P(msgpack_pack_array(&b.pk, 0));
    bad_envelope(&b, UINT32_MAX);
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_int(&b.pk, 8));
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_array(&b.pk, 0));
    bad_envelope(&b, 8);
    mp_request(&b, 9, "checks.get");
    P(msgpack_pack_map(&b.pk, 0));
    bad_envelope(&b, 9);
    mp_request(&b, 10, "checks.get");
    P(msgpack_pack_nil(&b.pk));
    bad_envelope(&b, 10);

    /* A notification's method and params. */
    P(msgpack_pack_array(&b.pk, 3));
    P(msgpack_pack_int(&b.pk, 2));
    P(msgpack_pack_int(&b.pk, 42));
    P(msgpack_pack_array(&b.pk, 0));
    bad_envelope(&b, -1);
    P(msgpack_pack_array(&b.pk, 3));
    P(msgpack_pack_int(&b.pk, 2));
    mp_str(&b, "event");
    P(msgpack_pack_map(&b.pk, 0));
    bad_envelope(&b, -1);

    /* Good ones at the edges: msgid UINT32_MAX, in a uint64 encoding, 0. */
    mp_request(&b, UINT32_MAX, "x");
    P(msgpack_pack_array(&b.pk, 0));
    assert_int_equal(parse(&b, &env), 0);
    assert_int_equal(env.msgid, UINT32_MAX);
    assert_true(env.has_msgid);
    msgpack_sbuffer_clear(&b.sb);
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_fix_uint64(&b.pk, 0));
    P(msgpack_pack_fix_uint64(&b.pk, 12));
    mp_str(&b, "status.get");
    P(msgpack_pack_array(&b.pk, 0));
    assert_int_equal(parse(&b, &env), 0);
    assert_int_equal(env.kind, IPC_REQUEST);
    assert_int_equal(env.msgid, 12);
    msgpack_sbuffer_clear(&b.sb);
    P(msgpack_pack_array(&b.pk, 4));
    P(msgpack_pack_int(&b.pk, 1));
    P(msgpack_pack_int(&b.pk, 0));
    P(msgpack_pack_nil(&b.pk));
    P(msgpack_pack_int(&b.pk, 5));
    assert_int_equal(parse(&b, &env), 0);
    assert_int_equal(env.kind, IPC_RESPONSE);
    assert_true(env.has_msgid);
    assert_int_equal(env.msgid, 0);
    msgpack_sbuffer_clear(&b.sb);

    /* why is bounded by whylen. */
    P(msgpack_pack_array(&b.pk, 0));
    msgpack_unpacked u;
    char why[16];
    memset(why, 'z', sizeof(why));
    assert_int_equal(ipc_envelope_parse(unpack(&u, &b), &env, why, 6), -1);
    assert_int_equal(strlen(why), 5);
    assert_int_equal(why[6], 'z');
    msgpack_unpacked_destroy(&u);
    mp_finish(&b);
}

/* --- name tables --- */

/* The method table: every name found, nothing else; the admin methods. */
static void test_methods(void **state)
{
    assert_null(ipc_method_find("no.such", 7));
    assert_null(ipc_method_find("", 0));
    assert_null(ipc_method_find("checks", 6));
    assert_null(ipc_method_find("checks.get.x", 12));
    assert_null(ipc_method_find("Checks.get", 10));
    assert_null(ipc_method_find("checks.ge", 9));
    /* The length counts, not a NUL. */
    assert_ptr_equal(ipc_method_find("checks.getX", 10), &ipc_methods[IPC_M_CHECKS_GET]);
    assert_null(ipc_method_find("checks.get\0", 11));

    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        const struct ipc_method *m = &ipc_methods[i];
        assert_non_null(m->name);
        assert_ptr_equal(ipc_method_find(m->name, strlen(m->name)), m);
        assert_int_equal(m->id, i);
        assert_non_null(m->result);
        assert_null(strchr(m->name, ' '));
    }

    /* The admin methods of docs/protocol.md, and no others. */
    static const char *const admin[] = {"checks.run",         "checks.pause",
                                        "checks.resume",      "deploys.record",
                                        "daemon.reload",      "alerts.ack",
                                        "alerts.silence",     "alerts.unsilence",
                                        "maintenance.add",    "maintenance.remove"};
    size_t nadmin = 0;
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        bool want = false;
        for (size_t j = 0; j < ARRAY_SIZE(admin); j++) {
            want = want || strcmp(ipc_methods[i].name, admin[j]) == 0;
        }
        if (ipc_methods[i].mutating != want) {
            fail_msg("%s: mutating %d", ipc_methods[i].name, ipc_methods[i].mutating);
        }
        nadmin += want;
    }
    assert_int_equal(nadmin, ARRAY_SIZE(admin));
}

/* The daemon's handler table: a row for every method, the same admin
 * methods as the protocol's table, only daemon.hello before hello, and
 * params that fit the dispatcher's buffer. */
static void test_rpc_handlers(void **state)
{
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        const struct rpc_handler *h = &rpc_handlers[i];
        const struct ipc_method *m = &ipc_methods[i];
        if (h->fn == NULL) {
            fail_msg("%s: no handler", m->name);
        }
        if (h->admin != m->mutating) {
            fail_msg("%s: admin %d, protocol says %d", m->name, h->admin, m->mutating);
        }
        assert_int_equal(h->before_hello, i == IPC_M_HELLO);
        if (m->params != NULL) {
            assert_true(m->params->size <= RPC_PARAMS_MAX);
        }
    }
}

/* Topic names and bits, both ways; unknown names are 0. */
static void test_topics(void **state)
{
    unsigned all = 0;
    for (unsigned bit = 1; bit < (unsigned)IPC_TOPIC_ALL; bit <<= 1) {
        const char *name = ipc_topic_name((enum ipc_topic)bit);
        assert_non_null(name);
        assert_string_not_equal(name, "?");
        assert_int_equal(ipc_topic_parse(name), bit);
        all |= bit;
    }
    assert_int_equal(all, IPC_TOPIC_ALL);
    assert_int_equal(ipc_topic_parse("results"), IPC_TOPIC_RESULTS);
    assert_int_equal(ipc_topic_parse("log"), IPC_TOPIC_LOG);
    assert_int_equal(ipc_topic_parse("nope"), 0);
    assert_int_equal(ipc_topic_parse(""), 0);
    assert_int_equal(ipc_topic_parse("Results"), 0);
    assert_int_equal(ipc_topic_parse("results "), 0);
    assert_int_equal(ipc_topic_parse("result"), 0);
    assert_string_equal(ipc_topic_name((enum ipc_topic)0), "?");
    assert_string_equal(ipc_topic_name(IPC_TOPIC_ALL), "?");
    /* The host topic is one, but not among those an empty list means. */
    assert_int_equal(ipc_topic_parse("host"), IPC_TOPIC_HOST);
    assert_string_equal(ipc_topic_name(IPC_TOPIC_HOST), "host");
    assert_int_equal(IPC_TOPIC_ALL & IPC_TOPIC_HOST, 0);
    assert_int_equal(1u << (IPC_TOPIC_COUNT - 1), IPC_TOPIC_HOST);
}

/* Error code names, both ways; unknown names are internal. */
static void test_errcodes(void **state)
{
    for (int c = IPC_OK; c <= IPC_E_INTERNAL; c++) {
        const char *name = ipc_errcode_name((enum ipc_errcode)c);
        assert_non_null(name);
        assert_int_equal(ipc_errcode_parse(name, strlen(name)), c);
        for (int d = IPC_OK; d < c; d++) {
            assert_string_not_equal(name, ipc_errcode_name((enum ipc_errcode)d));
        }
    }
    /* The names of docs/protocol.md. */
    assert_string_equal(ipc_errcode_name(IPC_E_MALFORMED), "malformed");
    assert_string_equal(ipc_errcode_name(IPC_E_TOO_LARGE), "too_large");
    assert_string_equal(ipc_errcode_name(IPC_E_NO_METHOD), "no_method");
    assert_string_equal(ipc_errcode_name(IPC_E_INVALID_PARAMS), "invalid_params");
    assert_string_equal(ipc_errcode_name(IPC_E_NOT_FOUND), "not_found");
    assert_string_equal(ipc_errcode_name(IPC_E_DENIED), "denied");
    assert_string_equal(ipc_errcode_name(IPC_E_PROTOCOL), "protocol");
    assert_string_equal(ipc_errcode_name((enum ipc_errcode)999), "internal");
    assert_int_equal(ipc_errcode_parse("nope", 4), IPC_E_INTERNAL);
    assert_int_equal(ipc_errcode_parse("malformed", 4), IPC_E_INTERNAL);
    assert_int_equal(ipc_errcode_parse("denied_x", 6), IPC_E_DENIED);
    assert_int_equal(ipc_errcode_parse("", 0), IPC_E_INTERNAL);
}

/* A host notification's params as a daemon that lies or breaks sends
 * them: each is refused with a reason, nothing leaks (ASan), and the
 * client goes on. */
static bool decode_host(const struct mp *b, char *why, size_t whylen)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, b->sb.data, b->sb.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    struct ipc_host h = {0};
    int rc = ipc_host_decode(&u.data, &h, why, whylen);
    ipc_type_finish(&ipc_host_type, &h);
    msgpack_unpacked_destroy(&u);
    return rc == 0;
}

/* [{key: an array of n maps of one int field}]. */
static void host_list(struct mp *b, const char *key, size_t n)
{
    P(msgpack_pack_array(&b->pk, 1));
    P(msgpack_pack_map(&b->pk, 1));
    mp_str(b, key);
    P(msgpack_pack_array(&b->pk, n));
    for (size_t i = 0; i < n; i++) {
        P(msgpack_pack_map(&b->pk, 1));
        mp_str(b, "pid");
        P(msgpack_pack_int64(&b->pk, (int64_t)i));
    }
}

static void test_host_hostile(void **state)
{
    char why[200];
    struct mp b;
    static const struct {
        const char *key;
        size_t max;
    } lists[] = {{"cpus", IPC_HOST_CPUS_MAX},   {"disks", IPC_HOST_DISKS_MAX},
                 {"nets", IPC_HOST_NETS_MAX},   {"top_cpu", IPC_HOST_PROCS_MAX},
                 {"top_rss", IPC_HOST_PROCS_MAX}};
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        mp_init(&b);
        host_list(&b, lists[i].key, lists[i].max);
        assert_true(decode_host(&b, why, sizeof(why)));
        mp_finish(&b);
        mp_init(&b);
        host_list(&b, lists[i].key, lists[i].max + 1);
        assert_false(decode_host(&b, why, sizeof(why)));
        assert_non_null(strstr(why, lists[i].key));
        assert_non_null(strstr(why, "at most"));
        mp_finish(&b);
    }
    /* Not an array of one map. */
    mp_init(&b);
    P(msgpack_pack_map(&b.pk, 0));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 0));
    P(msgpack_pack_map(&b.pk, 0));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    mp_str(&b, "cpus");
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    /* A number where a list goes, a string where a number goes, a list
     * element that is not a map, a name with a NUL, a count past int64. */
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "cpus");
    P(msgpack_pack_int(&b.pk, 4));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "mem_total_bytes");
    mp_str(&b, "8G");
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "nets");
    P(msgpack_pack_array(&b.pk, 2));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "name");
    mp_str(&b, "eth0");
    P(msgpack_pack_nil(&b.pk));
    assert_true(decode_host(&b, why, sizeof(why)));     /* nil: an empty entry */
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "disks");
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_true(&b.pk));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "hostname");
    P(msgpack_pack_str_with_body(&b.pk, "web\0-1", 6));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 1));
    mp_str(&b, "procs");
    P(msgpack_pack_uint64(&b.pk, UINT64_MAX));
    assert_false(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
    /* Unknown keys are fields of a newer daemon: ignored. */
    mp_init(&b);
    P(msgpack_pack_array(&b.pk, 1));
    P(msgpack_pack_map(&b.pk, 2));
    mp_str(&b, "gpus");
    P(msgpack_pack_array(&b.pk, 0));
    mp_str(&b, "cpu_count");
    P(msgpack_pack_int(&b.pk, -5));
    assert_true(decode_host(&b, why, sizeof(why)));
    mp_finish(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_message),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_string),
        cmocka_unit_test(test_limit_elements),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_peek_msgid),
        cmocka_unit_test(test_large_message),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_params_wrong_types),
        cmocka_unit_test(test_params_missing),
        cmocka_unit_test(test_params_lenient),
        cmocka_unit_test(test_result_wrong_types),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_rpc_handlers),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_errcodes),
        cmocka_unit_test(test_host_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
