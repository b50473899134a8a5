/* test_common.c - the shared helpers: clock, sbuf, civil, hash, util, utf8. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "civil.h"
#include "clock.h"
#include "hash.h"
#include "sbuf.h"
#include "strmap.h"
#include "utf8.h"
#include "util.h"

/* --- util --- */

/* ARRAY_SIZE counts elements, whatever their size. */
static void test_array_size(void **state)
{
    int ints[7];
    const char *strs[] = {"a", "b", "c"};
    struct {
        char pad[13];
    } wide[5];
    (void)ints;
    (void)wide;
    assert_int_equal(ARRAY_SIZE(ints), 7);
    assert_int_equal(ARRAY_SIZE(strs), 3);
    assert_int_equal(ARRAY_SIZE(wide), 5);
}

/* --- clock --- */

/* The wall clock agrees with time(2); the monotonic clock does not go back. */
static void test_clock_real(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = clock_wall_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    assert_true(now >= before && now <= after);
    assert_true(clock_now_ms(&clock_system) >= now);
    assert_true(clock_now_ms(NULL) >= now);
    int64_t us = clock_wall_us();
    assert_true(us / 1000 >= now && us / 1000 <= after);

    int64_t ns = clock_mono_ns();
    int64_t ms = clock_mono_ms();
    assert_true(ms >= ns / 1000000);
    assert_true(clock_mono_ns() >= ns);
}

/* A fake clock reads the caller's counter, and follows it. */
static void test_clock_fake(void **state)
{
    int64_t t = 1700000000000;
    struct clock c;
    clock_fake_init(&c, &t);
    assert_int_equal(clock_now_ms(&c), 1700000000000);
    t += 90 * 1000;
    assert_int_equal(clock_now_ms(&c), 1700000090000);
}

/* --- sbuf --- */

/* Appends of every kind build the text; take hands it over. */
static void test_sbuf_append(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_null(b.data);
    sbuf_append(&b, "ab", 2);
    sbuf_append_str(&b, "cd");
    sbuf_appendf(&b, "-%d-%s", 42, "x");
    sbuf_append_i64(&b, 0);
    sbuf_append(&b, ",", 1);
    sbuf_append_i64(&b, -123);
    sbuf_append(&b, ",", 1);
    sbuf_append_i64(&b, INT64_MIN);
    sbuf_append(&b, ",", 1);
    sbuf_append_i64(&b, INT64_MAX);
    assert_false(b.failed);
    assert_string_equal(b.data, "abcd-42-x0,-123,-9223372036854775808,9223372036854775807");
    assert_int_equal(b.len, strlen(b.data));
    char *s = sbuf_take(&b);
    assert_string_equal(s, "abcd-42-x0,-123,-9223372036854775808,9223372036854775807");
    free(s);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    s = sbuf_take(&b);
    assert_string_equal(s, "");
    free(s);
}

/* appendf of more than the buffer holds, and than any fixed scratch would. */
static void test_sbuf_appendf_long(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    char big[5000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sbuf_append_str(&b, "<");
    sbuf_appendf(&b, "%s>%d", big, 7);
    assert_false(b.failed);
    assert_int_equal(b.len, 1 + 4999 + 2);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[5000], '>');
    assert_string_equal(b.data + 5001, "7");
    sbuf_finish(&b);
    assert_null(b.data);
}

/* The limit counts the NUL; the first failure sticks until reset. */
static void test_sbuf_limit(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 8);
    sbuf_append_str(&b, "1234567");
    assert_false(b.failed);
    assert_string_equal(b.data, "1234567");
    sbuf_append_str(&b, "8");
    assert_true(b.failed);
    sbuf_append_str(&b, "");
    assert_true(b.failed);
    assert_int_equal(b.len, 7);

    sbuf_reset(&b);
    assert_false(b.failed);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    sbuf_appendf(&b, "%s", "toolongtext");
    assert_true(b.failed);
    assert_string_equal(b.data, "");
    assert_null(sbuf_take(&b));
    assert_null(b.data);
    assert_false(b.failed);
    assert_int_equal(b.max, 8);

    assert_false(sbuf_reserve(&b, 100));
    sbuf_finish(&b);
}

/* Reset keeps the memory; adopt takes over a recycled block. */
static void test_sbuf_reuse(void **state)
{
    struct sbuf b;
    sbuf_init(&b, 0);
    assert_true(sbuf_reserve(&b, 1000));
    char *mem = b.data;
    size_t cap = b.cap;
    assert_true(cap >= 1001);
    sbuf_append_str(&b, "first");
    sbuf_reset(&b);
    sbuf_append_str(&b, "second");
    assert_ptr_equal(b.data, mem);
    assert_string_equal(b.data, "second");

    struct sbuf other;
    sbuf_init(&other, 0);
    sbuf_append_str(&other, "x");
    sbuf_adopt(&other, b.data, b.cap);
    b.data = NULL;
    sbuf_finish(&b);
    assert_ptr_equal(other.data, mem);
    assert_int_equal(other.len, 0);
    assert_int_equal(other.cap, cap);
    sbuf_append_str(&other, "third");
    assert_string_equal(other.data, "third");
    assert_ptr_equal(other.data, mem);
    sbuf_finish(&other);

    sbuf_adopt(&other, NULL, 0);
    sbuf_append_str(&other, "ok");
    assert_string_equal(other.data, "ok");
    sbuf_finish(&other);

    /* A block larger than the limit does not lift the limit. */
    struct sbuf small;
    sbuf_init(&small, 8);
    sbuf_adopt(&small, malloc(100), 100);
    sbuf_append_str(&small, "1234567");
    assert_false(small.failed);
    sbuf_append_str(&small, "8");
    assert_true(small.failed);
    assert_string_equal(small.data, "1234567");
    sbuf_finish(&small);
}

/* JSON strings: quotes, backslashes, controls, invalid UTF-8, NULL. */
static void test_sbuf_json(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"a\"b\\c", "\"a\\\"b\\\\c\""},
        {"l1\nl2\tt\r\b\f", "\"l1\\nl2\\tt\\r\\b\\f\""},
        {"\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""},
        {"caf\xc3\xa9 \xe2\x80\xa6", "\"caf\xc3\xa9 \xe2\x80\xa6\""},
        {"bad\xff" "end", "\"bad\xef\xbf\xbd" "end\""},
        {"cut\xe2\x80", "\"cut\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct sbuf b;
        sbuf_init(&b, 0);
        sbuf_append_json(&b, cases[i].in);
        char *got = sbuf_take(&b);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0) {
            fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
        }
        free(got);
    }
    struct sbuf b;
    sbuf_init(&b, 0);
    sbuf_append_json(&b, NULL);
    assert_string_equal(b.data, "null");
    sbuf_finish(&b);
}

/* --- civil --- */

/* Known dates, both ways, and every day of several centuries round trips. */
static void test_civil_days(void **state)
{
    assert_int_equal(civil_to_days(1970, 1, 1), 0);
    assert_int_equal(civil_to_days(1969, 12, 31), -1);
    assert_int_equal(civil_to_days(2000, 3, 1), 11017);
    assert_int_equal(civil_to_days(2026, 11, 23), 20780);
    assert_int_equal(civil_to_days(1600, 2, 29), -135081);
    for (int64_t days = -200000; days <= 200000; days++) {
        int64_t y;
        int m, d;
        civil_from_days(days, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        if (civil_to_days(y, m, d) != days) {
            fail_msg("day %lld: %lld-%d-%d", (long long)days, (long long)y, m, d);
        }
    }
    int64_t y;
    int m, d;
    civil_from_days(20780, &y, &m, &d);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 11);
    assert_int_equal(d, 23);
}

/* Weekdays agree with gmtime on both sides of the epoch. */
static void test_civil_weekday(void **state)
{
    assert_int_equal(civil_weekday(0), 4);
    for (int64_t days = -3000; days <= 3000; days += 1) {
        time_t t = (time_t)(days * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (civil_weekday(days) != tm.tm_wday) {
            fail_msg("day %lld: %d, gmtime says %d", (long long)days, civil_weekday(days),
                     tm.tm_wday);
        }
    }
}

/* Formatting agrees with gmtime and keeps milliseconds. */
static void test_civil_format(void **state)
{
    char buf[CIVIL_RFC3339_LEN];
    assert_string_equal(civil_format_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(civil_format_rfc3339(1795426200250, buf, sizeof(buf)),
                        "2026-11-23T09:30:00.250Z");
    assert_string_equal(civil_format_rfc3339(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    for (int64_t ms = -5000000000000; ms < 5000000000000; ms += 123456789013) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char want[64];
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(((ms % 1000) + 1000) % 1000));
        assert_string_equal(civil_format_rfc3339(ms, buf, sizeof(buf)), want);
    }
    char small[11];
    civil_format_rfc3339(0, small, sizeof(small));
    assert_string_equal(small, "1970-01-01");
}

/* RFC 3339 in, unix ms out; anything else is rejected untouched. */
static void test_civil_parse(void **state)
{
    int64_t ms = 0;
    assert_int_equal(civil_parse_rfc3339("2026-11-23T09:30:00Z", &ms), 0);
    assert_int_equal(ms, 1795426200000);
    assert_int_equal(civil_parse_rfc3339("2026-11-23T09:30:00.25z", &ms), 0);
    assert_int_equal(ms, 1795426200250);
    assert_int_equal(civil_parse_rfc3339("2026-11-23T10:30:00.2509+01:00", &ms), 0);
    assert_int_equal(ms, 1795426200250);
    assert_int_equal(civil_parse_rfc3339("2026-11-23T04:00:00-05:30", &ms), 0);
    assert_int_equal(ms, 1795426200000);

    char buf[CIVIL_RFC3339_LEN];
    civil_format_rfc3339(1795426200250, buf, sizeof(buf));
    assert_int_equal(civil_parse_rfc3339(buf, &ms), 0);
    assert_int_equal(ms, 1795426200250);

    static const char *const bad[] = {
        "", "2026-11-23", "2026-11-23 09:30:00Z", "2026-13-01T00:00:00Z", "2026-11-23T24:00:00Z",
        "2026-11-23T09:30:00", "2026-11-23T09:30:00.Z", "2026-11-23T09:30:00+0100",
        "2026-11-23T09:30:00Zjunk", "2026-11-23T09:30:00+01:00x",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        ms = -7;
        if (civil_parse_rfc3339(bad[i], &ms) != -EINVAL || ms != -7) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
}

/* --- hash --- */

/* FNV-1a's published test vectors; the string and byte forms agree. */
static void test_hash_fnv(void **state)
{
    assert_true(hash_fnv1a(HASH_FNV_INIT, "", 0) == 0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a(HASH_FNV_INIT, "a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a(HASH_FNV_INIT, "foobar", 6) == 0x85944171f73967e8ULL);
    assert_true(hash_fnv1a_str(HASH_FNV_INIT, "foobar") == 0x85944171f73967e8ULL);
    uint64_t h = hash_fnv1a(HASH_FNV_INIT, "foo", 3);
    assert_true(hash_fnv1a_str(h, "bar") == 0x85944171f73967e8ULL);
    assert_true(hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, "check-a") ==
                hash_fnv1a(HASH_FNV_INIT_SHIPWATCH, "check-a", 7));
    /* The basis the scheduler and the cluster have always used. */
    assert_true(hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, "") == 1469598103934665603ULL);
}

/* The finalizer spreads neighbours and is splitmix64's. */
static void test_hash_mix(void **state)
{
    assert_true(hash_mix(0) == 0xe220a8397b1dcdafULL);
    assert_true(hash_mix(1) != hash_mix(2));
    int diff = __builtin_popcountll(hash_mix(1) ^ hash_mix(2));
    assert_true(diff > 16 && diff < 48);
}

/* --- utf8 --- */

/* Sequence lengths, and the invalid forms. */
static void test_utf8(void **state)
{
    assert_int_equal(utf8_seq_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x80\xa6", 3), 3);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x80\xa6", 2), 0);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xc0\xaf", 2), 0);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\x80", 1), 0);
}

/* The string map: every key found with its value, a miss is -1, the
 * first of duplicates wins, it refuses keys past its size, and 100,000
 * keys that differ in their last characters all come back. */
static void test_strmap(void **state)
{
    (void)state;
    struct strmap m;
    assert_int_equal(strmap_init(&m, 3), 0);
    assert_int_equal(strmap_get(&m, "a"), -1);
    assert_int_equal(strmap_get(&m, NULL), -1);
    assert_int_equal(strmap_put(&m, "a", 0), 0);
    assert_int_equal(strmap_put(&m, "", 1), 0);
    assert_int_equal(strmap_put(&m, "a", 7), 0);     /* a duplicate: the first stays */
    assert_int_equal(strmap_put(&m, "b", 2), 0);
    assert_int_equal(strmap_get(&m, "a"), 0);
    assert_int_equal(strmap_get(&m, ""), 1);
    assert_int_equal(strmap_get(&m, "b"), 2);
    assert_int_equal(strmap_get(&m, "c"), -1);
    for (int i = 0; i < 100 && strmap_put(&m, "c", 3) == 0; i++) {
    }
    assert_int_equal(m.n, 4);
    char extra[32][8];
    int refused = 0;
    for (int i = 0; i < 32; i++) {
        snprintf(extra[i], sizeof(extra[i]), "x%d", i);
        refused += strmap_put(&m, extra[i], i) == -ENOSPC;
    }
    assert_true(refused > 0);           /* never more than half full */
    assert_true(2 * m.n <= m.cap);
    strmap_free(&m);
    assert_int_equal(strmap_get(&m, "a"), -1);

    enum { N = 100000 };
    char (*names)[16] = malloc(N * sizeof(*names));
    assert_non_null(names);
    assert_int_equal(strmap_init(&m, N), 0);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "check-%06d", i);
        assert_int_equal(strmap_put(&m, names[i], i), 0);
    }
    for (int i = 0; i < N; i++) {
        char probe[16];
        snprintf(probe, sizeof(probe), "check-%06d", i);
        assert_int_equal(strmap_get(&m, probe), i);
    }
    assert_int_equal(strmap_get(&m, "check-100000"), -1);
    strmap_free(&m);
    free(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_size),
        cmocka_unit_test(test_clock_real),
        cmocka_unit_test(test_clock_fake),
        cmocka_unit_test(test_sbuf_append),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_sbuf_appendf_long),
        cmocka_unit_test(test_sbuf_limit),
        cmocka_unit_test(test_sbuf_reuse),
        cmocka_unit_test(test_sbuf_json),
        cmocka_unit_test(test_civil_days),
        cmocka_unit_test(test_civil_weekday),
        cmocka_unit_test(test_civil_format),
        cmocka_unit_test(test_civil_parse),
        cmocka_unit_test(test_hash_fnv),
        cmocka_unit_test(test_hash_mix),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
