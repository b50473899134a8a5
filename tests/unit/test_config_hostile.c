/* test_config_hostile.c - files no operator writes: empty or not a
 * mapping, nested too deep, huge, binary, alias bombs, too many nodes.
 * Each loads or fails cleanly, in bounded time and memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "config.h"
#include "config_fixtures.h"

/* Empty files, files of comments, and roots that are not mappings. */
static void test_empty_and_not_mapping(void **state)
{
    const char *empty_msg = NAME ":1:1: empty configuration: expected a mapping with checks";
    load_bad("", empty_msg, NULL);
    load_bad("# nothing\n\n", empty_msg, NULL);
    load_bad("---\n", empty_msg, NULL);
    load_bad("~\n", empty_msg, NULL);
    const char *top = ": expected a mapping at the top level (daemon, storage, defaults, apps, "
                      "checks, notifiers, alerts)";
    char want[256];
    snprintf(want, sizeof(want), NAME ":1:1%s", top);
    load_bad("- a\n- b\n", want, NULL);
    load_bad("hello\n", want, NULL);
    load_bad("\"x\"\n", want, NULL);
    snprintf(want, sizeof(want), NAME ":1:3%s", top);
    load_bad("  42\n", want, NULL);
    load_bad("? [a, b]\n: c\n", NAME ":1:3: top level: keys must be strings", NULL);
}

/* Deep nesting stops at a limit instead of recursing. */
static void test_deep_nesting(void **state)
{
    size_t depth = 100000;
    char *buf = malloc(2 * depth + 16);
    assert_non_null(buf);
    size_t n = 0;
    memcpy(buf, "a: ", 3);
    n = 3;
    for (size_t i = 0; i < depth; i++) {
        buf[n++] = '[';
    }
    for (size_t i = 0; i < depth; i++) {
        buf[n++] = ']';
    }
    buf[n++] = '\n';
    buf[n] = '\0';
    load_bad(buf, NAME ":1:67: nesting deeper than 64 levels", NULL);

    /* Block style, a mapping per line, does the same. */
    n = 0;
    for (size_t i = 0; i < 200 && n + 300 < 2 * depth; i++) {
        for (size_t j = 0; j < i; j++) {
            buf[n++] = ' ';
        }
        memcpy(buf + n, "k:\n", 3);
        n += 3;
    }
    buf[n] = '\0';
    struct config_errors e;
    load_fail(buf, &e);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], ": nesting deeper than 64 levels"));
    config_errors_finish(&e);
    free(buf);
}

/* A 1 MB value is fine where values may be long; 2 MB is refused. */
static void test_huge_scalar(void **state)
{
    size_t big = 1000 * 1000;
    char *buf = malloc(big * 2 + 256);
    assert_non_null(buf);
    int n = snprintf(buf, 256, "checks:\n  - {name: a, type: http, url: \"http://x\", body: \"");
    memset(buf + n, 'b', big);
    strcpy(buf + n + big, "\"}\n");
    struct config *c = load_ok(buf);
    assert_int_equal(strlen(c->checks[0].body), big);
    config_destroy(c);

    memset(buf + n, 'b', 2 * big);
    strcpy(buf + n + 2 * big, "\"}\n");
    load_bad(buf, NAME ":2:44: checks[0].body: value longer than 1048576 bytes", NULL);

    /* A 1 MB key is a YAML error (implicit keys stop at 1024 characters);
     * a long unknown key is cut short in the message. */
    struct config_errors e;
    size_t klens[] = {big, 1000};
    for (size_t i = 0; i < 2; i++) {
        memcpy(buf, "checks: []\n", 11);
        memset(buf + 11, 'k', klens[i]);
        strcpy(buf + 11 + klens[i], ": 1\n");
        load_fail(buf, &e);
        assert_int_equal(e.n, 1);
        assert_true(strlen(e.msgs[0]) < 200);
        if (i == 1) {
            assert_non_null(strstr(e.msgs[0], ":2:1: kkkk"));
            assert_non_null(strstr(e.msgs[0], "kkk...: unknown key"));
        }
        config_errors_finish(&e);
    }

    /* A huge check name is refused by length, not echoed. */
    n = snprintf(buf, 256, "checks:\n  - {type: tcp, host: h, port: 1, name: ");
    memset(buf + n, 'n', 200);
    strcpy(buf + n + 200, "}\n");
    load_bad(buf, NAME ":2:35: checks[0].name: too long (at most 128 bytes)", NULL);
    free(buf);
}

/* Random bytes, invalid UTF-8 and control characters fail cleanly. */
static void test_binary_garbage(void **state)
{
    load_bad("checks: \xff\xfe\n", NAME ":1:9: invalid leading UTF-8 octet (byte 0xff)", NULL);
    load_bad("a: b\x01\n", NAME ":1:5: control characters are not allowed (byte 0x01)", NULL);
    struct config *c = (struct config *)0x1;
    struct config_errors e = {0};
    /* A NUL byte inside the buffer. */
    assert_int_equal(config_load_buffer(NAME, "a: b\0c\n", 7, &c, &e), -EINVAL);
    assert_null(c);
    assert_true(e.n >= 1);
    config_errors_finish(&e);
    load_bad("checks: [\"a\\0b\"]\n", NAME ":1:10: NUL character in a value", NULL);

    /* A fixed-seed pseudo-random stream: never crashes, never leaks. */
    unsigned seed = 12345;
    char buf[4096];
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)(round * 13 % (int)sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Mix YAML punctuation with random bytes so the parser goes deep. */
            static const char punct[] = "-:[]{},&*!|>'\"%@` \n#?abc";
            buf[i] = (seed >> 16) % 3 == 0 ? (char)(seed >> 8)
                                           : punct[(seed >> 20) % (sizeof(punct) - 1)];
        }
        c = NULL;
        int rc = config_load_buffer(NAME, buf, len, &c, &e);
        if (rc == 0) {
            config_destroy(c);
        } else {
            assert_null(c);
            assert_true(e.n >= 1);
            for (size_t i = 0; i < e.n; i++) {
                assert_int_equal(strncmp(e.msgs[i], NAME ":", strlen(NAME ":")), 0);
            }
        }
        config_errors_finish(&e);
    }
}

/* Seconds since t0. */
static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* An alias bomb costs bounded time and memory. The time bounds are loose
 * (valgrind runs these too); an unbounded expansion would take hours. */
static void test_billion_laughs(void **state)
{
    const char *bomb = "x-a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "x-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "x-h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "x-i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
                       "checks: *i\n"
                       "daemon: {admins: *i}\n";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct config_errors e;
    load_fail(bomb, &e);
    assert_true(since(&t0) < 20.0);
    /* Items of an aliased list are reported where each alias is written. */
    assert_int_equal(e.n, 20);
    assert_string_equal(e.msgs[0], NAME ":9:10: daemon.admins[0]: expected a string");
    assert_string_equal(e.msgs[1], NAME ":9:10: checks[0]: expected a mapping");
    assert_string_equal(e.msgs[19], NAME ":9:37: checks[9]: expected a mapping");
    config_errors_finish(&e);

    /* One alias to a check with a 1000-word command, repeated 3,000 times:
     * three million strings if walked in full; the walk budget stops it. */
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf, cap, "x-m: &m {name: a, type: exec, command: [");
    for (int i = 0; i < 1000; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "w,");
    }
    n += (size_t)snprintf(buf + n, cap - n, "w]}\nchecks: [");
    for (int i = 0; i < 3000; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "*m,");
    }
    snprintf(buf + n, cap - n, "*m]\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    load_fail(buf, &e);
    assert_true(since(&t0) < 20.0);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], ": aliases expand to more than 2000000 nodes"));
    config_errors_finish(&e);

    /* 50,000 aliased copies of one small check: every name a duplicate;
     * the error limit ends the report. */
    free(buf);
    cap = 50000 * 3 + 256;
    buf = malloc(cap);
    assert_non_null(buf);
    n = (size_t)snprintf(buf, cap, "x-m: &m {name: a, type: tcp, host: h, port: 1}\nchecks: [");
    for (int i = 0; i < 49999; i++) {
        memcpy(buf + n, "*m,", 3);
        n += 3;
    }
    memcpy(buf + n, "*m]\n", 5);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    load_fail(buf, &e);
    assert_true(since(&t0) < 20.0);
    assert_int_equal(e.n, 201);
    /* Aliased items are reported where each alias is written. */
    assert_string_equal(e.msgs[0], NAME ":2:13: checks[1].name: duplicate check name \"a\" "
                                        "(first at line 2)");
    config_errors_finish(&e);
    free(buf);
}

/* More nodes than the limit is an error before the walk. */
static void test_node_limit(void **state)
{
    size_t count = 4010000, cap = count * 2 + 64, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf, cap, "x: [");
    for (size_t i = 0; i < count; i++) {
        buf[n++] = '1';
        buf[n++] = ',';
    }
    buf[n - 1] = ']';
    buf[n++] = '\n';
    buf[n] = '\0';
    struct config_errors e;
    load_fail(buf, &e);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], ": too many YAML nodes (limit 4000000)"));
    config_errors_finish(&e);
    free(buf);
}

/* Aliases of a long value: a 364 KB file once expanded to 1.27 GB of text.
 * The text aliases expand to is bounded, and the error names the alias. */
static void test_alias_bytes_bounded(void **state)
{
    (void)state;
    size_t cap = 70 * 1024 + 400 * 5 + 256, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf, cap, "x-big: &big \"");
    memset(buf + n, 'x', 60000);
    n += 60000;
    n += (size_t)snprintf(buf + n, cap - n, "\"\nchecks: [{name: a, type: exec, command: [");
    for (int i = 0; i < 400; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "*big,");
    }
    snprintf(buf + n, cap - n, "*big]}]\n");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct config_errors e;
    load_fail(buf, &e);
    assert_true(since(&t0) < 20.0);
    assert_true(any_contains(&e, NAME ":2:"));
    assert_true(any_contains(&e, ": aliases expand to more than 16 MiB of text"));
    config_errors_finish(&e);
    free(buf);
}

/* 100,000 checks is the most a file may hold: one more is an error at the
 * list, after a YAML tree of 1.7 M nodes and 7 MB that the reader takes
 * whole (the limits of nodes and bytes are far above it). */
static void test_check_limit(void **state)
{
    (void)state;
    size_t count = 100001, cap = count * 72 + 64, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf, cap, "checks:\n");
    for (size_t i = 0; i < count; i++) {
        n += (size_t)snprintf(buf + n, cap - n,
                              "- {name: c%zu, type: tcp, host: 127.0.0.1, port: 9, interval: 10s}\n",
                              i);
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct config_errors e;
    load_fail(buf, &e);
    assert_true(since(&t0) < 60.0);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], NAME ":1:1: checks: too many items (limit 100000)"));
    config_errors_finish(&e);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_not_mapping),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_scalar),
        cmocka_unit_test(test_binary_garbage),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_check_limit),
        cmocka_unit_test(test_alias_bytes_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
