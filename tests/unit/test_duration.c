/* test_duration.c - duration_parse and duration_format. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "duration.h"
#include "util.h"

/* Parse s and assert it gives want milliseconds. */
static void ok(const char *s, int64_t want)
{
    int64_t ms = -12345;
    int rc = duration_parse(s, &ms);
    if (rc != 0 || ms != want) {
        fail_msg("duration_parse(\"%s\") = %d, %lld; want 0, %lld", s, rc, (long long)ms,
                 (long long)want);
    }
}

/* Parse s and assert it fails with want_rc, leaving *ms untouched. */
static void bad(const char *s, int want_rc)
{
    int64_t ms = -12345;
    int rc = duration_parse(s, &ms);
    if (rc != want_rc || ms != -12345) {
        fail_msg("duration_parse(\"%s\") = %d, %lld; want %d, untouched", s ? s : "(null)", rc,
                 (long long)ms, want_rc);
    }
}

/* Every unit alone. */
static void test_units(void **state)
{
    ok("500ms", 500);
    ok("1ms", 1);
    ok("30s", 30000);
    ok("5m", 300000);
    ok("24h", 86400000);
    ok("14d", 14LL * 86400000);
    ok("0", 0);
    ok("0s", 0);
    ok("0ms", 0);
    ok("00010s", 10000);
    ok("336h", 336LL * 3600000);
}

/* Compound durations, in decreasing unit order. */
static void test_compound(void **state)
{
    ok("1h30m", 5400000);
    ok("1d12h", 36LL * 3600000);
    ok("2s500ms", 2500);
    ok("1d1h1m1s1ms", 86400000LL + 3600000 + 60000 + 1000 + 1);
    ok("1m1ms", 60001);
    ok("90m", 5400000);
}

/* Everything that is not a duration. */
static void test_rejects(void **state)
{
    bad("", -EINVAL);
    bad(NULL, -EINVAL);
    bad("5", -EINVAL);  /* unit missing */
    bad("00", -EINVAL); /* only a bare "0" goes without a unit */
    bad("5 s", -EINVAL);
    bad(" 5s", -EINVAL);
    bad("5s ", -EINVAL);
    bad("1.5h", -EINVAL); /* fractions: write 1h30m or 90m */
    bad(".5s", -EINVAL);
    bad("-5s", -EINVAL);
    bad("+5s", -EINVAL);
    bad("5x", -EINVAL);
    bad("5S", -EINVAL); /* units are lower case */
    bad("5M", -EINVAL);
    bad("1w", -EINVAL);
    bad("5us", -EINVAL);
    bad("s", -EINVAL);
    bad("ms", -EINVAL);
    bad("h1", -EINVAL);
    bad("30m1h", -EINVAL); /* units in decreasing order */
    bad("1h1h", -EINVAL);  /* each unit once */
    bad("1s1s", -EINVAL);
    bad("500ms1s", -EINVAL);
    bad("5msx", -EINVAL);
    bad("5s\n", -EINVAL);
    bad("1h30", -EINVAL);
    bad("0x10s", -EINVAL);
    bad("1e3ms", -EINVAL);
}

/* Overflow is -ERANGE, never a wrapped value; garbage after it is still
 * -EINVAL. */
static void test_overflow(void **state)
{
    ok("9223372036854775807ms", INT64_MAX);
    bad("9223372036854775808ms", -ERANGE);
    bad("99999999999999999999999999999999s", -ERANGE);
    bad("106751991167301d", -ERANGE);
    ok("106751991167d7h12m55s807ms", INT64_MAX);
    bad("106751991167d7h12m55s808ms", -ERANGE);
    bad("9223372036854776s", -ERANGE);
    bad("99999999999999999999999s5x", -EINVAL);
}

/* Format one value and compare. */
static void fmt(int64_t ms, const char *want)
{
    char buf[64];
    memset(buf, 'z', sizeof(buf));
    char *r = duration_format(ms, buf, sizeof(buf));
    assert_ptr_equal(r, buf);
    assert_string_equal(buf, want);
}

/* Formatting: the largest units first, zero parts left out. */
static void test_format(void **state)
{
    fmt(0, "0s");
    fmt(1, "1ms");
    fmt(500, "500ms");
    fmt(1000, "1s");
    fmt(2500, "2s500ms");
    fmt(5400000, "1h30m");
    fmt(86400000, "1d");
    fmt(14LL * 86400000, "14d");
    fmt(86400000LL + 1, "1d1ms");
    fmt(INT64_MAX, "106751991167d7h12m55s807ms");
    fmt(-1500, "-1s500ms");
    fmt(INT64_MIN, "-106751991167d7h12m55s808ms");
}

/* Small buffers truncate, always terminated; a zero-size buffer is left alone. */
static void test_format_small(void **state)
{
    char buf[8];
    duration_format(5400000, buf, 4);
    assert_true(strlen(buf) < 4);
    assert_int_equal(strncmp(buf, "1h30m", strlen(buf)), 0);
    duration_format(0, buf, 2);
    assert_string_equal(buf, "0");
    buf[0] = 'q';
    assert_ptr_equal(duration_format(1000, buf, 0), buf);
    assert_int_equal(buf[0], 'q');
    duration_format(INT64_MAX, buf, sizeof(buf));
    assert_true(strlen(buf) < sizeof(buf));
    assert_int_equal(strncmp(buf, "106751991167d", strlen(buf)), 0);
    assert_null(duration_format(1, NULL, 10));
}

/* format then parse gives the value back, across the range. */
static void test_round_trip(void **state)
{
    int64_t v = 1;
    for (int i = 0; i < 200; i++) {
        int64_t samples[] = {v, v - 1, v + 7, v / 3};
        for (size_t j = 0; j < ARRAY_SIZE(samples); j++) {
            int64_t ms = samples[j];
            if (ms < 0) {
                continue;
            }
            char buf[64];
            int64_t back = -1;
            duration_format(ms, buf, sizeof(buf));
            assert_int_equal(duration_parse(buf, &back), 0);
            assert_int_equal(back, ms);
        }
        if (v > INT64_MAX / 3) {
            break;
        }
        v = v * 3 + (int64_t)i;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),      cmocka_unit_test(test_compound),
        cmocka_unit_test(test_rejects),    cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_format),     cmocka_unit_test(test_format_small),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
