/* test_config_keys.c - the keys a check type or the daemon section owns:
 * an exec check's environment and default timeout, a heartbeat's
 * max-runtime, daemon.ping-body-max; and the reload fingerprint over every
 * key of a check. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "check.h"
#include "config.h"
#include "config_fixtures.h"
#include "harness.h"
#include "harness_checks.h"

/* ---------------------------------------------------------- environment */

/* An exec check's environment: NAME=value entries, ${VAR} expanded,
 * NULL-terminated; none by default. */
static void test_exec_environment(void **state)
{
    (void)state;
    setenv("SHIPWATCH_TEST_PGPASS", "s3cret", 1);
    struct config *c = load_ok("checks:\n"
                               "  - name: pg\n"
                               "    type: exec\n"
                               "    command: [/usr/lib/nagios/plugins/check_pgsql]\n"
                               "    environment:\n"
                               "      PGPASSWORD: ${SHIPWATCH_TEST_PGPASS}\n"
                               "      LANG: de_DE.UTF-8\n"
                               "      _EMPTY: \"\"\n"
                               "  - {name: bare, type: exec, command: [/bin/true]}\n");
    const struct conf_check *k = config_find_check(c, "pg");
    assert_non_null(k);
    assert_int_equal(k->nenvironment, 3);
    assert_string_equal(k->environment[0], "PGPASSWORD=s3cret");
    assert_string_equal(k->environment[1], "LANG=de_DE.UTF-8");
    assert_string_equal(k->environment[2], "_EMPTY=");
    assert_null(k->environment[3]);
    k = config_find_check(c, "bare");
    assert_int_equal(k->nenvironment, 0);
    assert_null(k->environment);
    config_destroy(c);
    unsetenv("SHIPWATCH_TEST_PGPASS");
}

/* Bad names, duplicates, too many, other types: each refused; a value is
 * never quoted. */
static void test_exec_environment_bad(void **state)
{
    (void)state;
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x], environment: {1X: v}}\n",
             "checks[0].environment: bad variable name \"1X\" (letters, digits, _; "
                  "no digit first)");
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x], environment: {A-B: v}}\n",
             "checks[0].environment: bad variable name \"A-B\" (letters, digits, _; "
                  "no digit first)");
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x], environment: [A]}\n",
             "checks[0].environment: expected a mapping of variable names to "
                  "strings");
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x], environment: {A: v, A: w}}\n",
             "checks[0].environment.A: duplicate variable");
    load_bad_text("checks:\n  - {name: a, type: http, url: 'http://x/', environment: {A: v}}\n",
             "checks[0].environment: not a key of http checks");
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x], environment: {A: [v]}}\n",
             "checks[0].environment.A: expected a string");

    /* 61 variables fit beside the minimal environment; 62 do not. */
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text),
                                "checks:\n  - name: a\n    type: exec\n    command: [x]\n"
                                "    environment:\n");
    for (int i = 0; i < 61; i++) {
        n += (size_t)snprintf(text + n, sizeof(text) - n, "      V%d: x\n", i);
    }
    struct config *c = load_ok(text);
    assert_int_equal(c->checks[0].nenvironment, 61);
    config_destroy(c);
    snprintf(text + n, sizeof(text) - n, "      V61: x\n");
    load_bad_text(text, "checks[0].environment: too many variables (limit 61)");

    /* A value with a control character: the message names the key only. */
    load_bad_text("checks:\n  - {name: a, type: exec, command: [x],\n"
             "     environment: {A: \"hunter2\\x01\"}}\n",
             "checks[0].environment.A: control characters are not allowed");
}

/* The plugin sees what the environment names, on top of the minimal set. */
static void test_exec_environment_reaches_the_plugin(void **state)
{
    (void)state;
    struct harness_checks h;
    assert_int_equal(harness_checks_init(&h, 1700000000000LL), 0);
    struct config *c = load_ok("checks:\n"
                               "  - name: env\n"
                               "    type: exec\n"
                               "    command: [/usr/bin/env]\n"
                               "    environment: {LANG: de_DE.UTF-8, TZ: UTC}\n");
    struct check *k = check_create(&c->checks[0]);
    assert_non_null(k);
    const struct result *r = harness_checks_run(&h, k, 10000);
    assert_non_null(r);
    assert_int_equal(r->outcome, STATE_UP);
    char all[RESULT_MESSAGE_MAX + RESULT_LONG_OUTPUT_MAX + 2];
    snprintf(all, sizeof(all), "%s\n%s", r->message, k->long_output != NULL ? k->long_output : "");
    assert_string_equal(all, "PATH=/usr/local/bin:/usr/bin:/bin\nLANG=de_DE.UTF-8\nTZ=UTC");
    check_destroy(k);
    config_destroy(c);
    assert_int_equal(harness_checks_finish(&h), 0);
}

/* ------------------------------------------------------------- timeouts */

/* Exec checks that set no timeout take 10 s, the plugins' own default;
 * other types keep 5 s; a written defaults.timeout and a check's own
 * timeout come first. */
static void test_exec_default_timeout(void **state)
{
    (void)state;
    const char *checks = "checks:\n"
                         "  - {name: e, type: exec, command: [x]}\n"
                         "  - {name: e2, type: exec, command: [x], timeout: 2s}\n"
                         "  - {name: t, type: tcp, host: h, port: 1}\n"
                         "  - {name: w, type: http, url: 'http://x/'}\n";
    struct config *c = load_ok(checks);
    assert_int_equal(config_find_check(c, "e")->timeout_ms, CONFIG_DEFAULT_EXEC_TIMEOUT_MS);
    assert_int_equal(config_find_check(c, "e")->timeout_ms, 10000);
    assert_int_equal(config_find_check(c, "e2")->timeout_ms, 2000);
    assert_int_equal(config_find_check(c, "t")->timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    assert_int_equal(config_find_check(c, "w")->timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    assert_int_equal(c->defaults.timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    config_destroy(c);

    char text[1024];
    snprintf(text, sizeof(text), "defaults: {timeout: 3s}\n%s", checks);
    c = load_ok(text);
    assert_int_equal(config_find_check(c, "e")->timeout_ms, 3000);
    assert_int_equal(config_find_check(c, "e2")->timeout_ms, 2000);
    assert_int_equal(config_find_check(c, "t")->timeout_ms, 3000);
    assert_int_equal(c->defaults.timeout_ms, 3000);
    config_destroy(c);

    /* No checks at all: the default is still filled. */
    c = load_ok("daemon: {max-concurrency: 4}\n");
    assert_int_equal(c->defaults.timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    config_destroy(c);
}

/* ------------------------------------------------------------ heartbeat */

/* max-runtime: a duration, 0 (use grace) when absent, a heartbeat's only. */
static void test_heartbeat_max_runtime(void **state)
{
    (void)state;
    struct config *c = load_ok("checks:\n"
                               "  - {name: a, type: heartbeat, token: t1, period: 1h,"
                               " grace: 5m, max-runtime: 20m}\n"
                               "  - {name: b, type: heartbeat, token: t2, period: 1h}\n");
    assert_int_equal(config_find_check(c, "a")->max_runtime_ms, 20 * 60 * 1000);
    assert_int_equal(config_find_check(c, "b")->max_runtime_ms, 0);
    config_destroy(c);
    load_bad_text("checks:\n  - {name: a, type: tcp, host: h, port: 1, max-runtime: 1m}\n",
             "checks[0].max-runtime: not a key of tcp checks");
    load_bad_text("checks:\n  - {name: a, type: heartbeat, token: t, period: 1h, max-runtime: soon}\n",
             "checks[0].max-runtime: bad duration \"soon\" (use 500ms, 30s, 5m, 24h, 14d)");
}

/* A started run goes overdue after max-runtime, before grace would say. */
static void test_heartbeat_max_runtime_judges(void **state)
{
    (void)state;
    const int64_t t0 = 1700000000000LL;
    struct harness_checks h;
    assert_int_equal(harness_checks_init(&h, t0), 0);
    struct config *c = load_ok("checks:\n"
                               "  - {name: job, type: heartbeat, token: tok-job, period: 1h,"
                               " grace: 30m, max-runtime: 1m}\n");
    struct check *k = check_create(&c->checks[0]);
    assert_non_null(k);
    struct check_ping p;
    char why[160];
    assert_int_equal(check_ping_parse("tok-job/start", "", &p, why, sizeof(why)), 0);
    assert_int_equal(check_heartbeat_ping(&h.env, k, &p), 0);
    /* 2 minutes on: past max-runtime (1m), well within grace (30m). */
    harness_clock_advance(&h.clock, 2 * 60 * 1000);
    assert_true(harness_checks_judge(&h, k, 10000) >= 0);
    const struct harness_verdict *v = harness_checks_last_verdict(&h);
    assert_non_null(v);
    assert_int_equal(v->state, STATE_DOWN);
    check_destroy(k);
    config_destroy(c);
    assert_int_equal(harness_checks_finish(&h), 0);
}

/* --------------------------------------------------------------- daemon */

/* daemon.ping-body-max: a size from 1 B to 1 MiB, 10 KiB by default. */
static void test_ping_body_max(void **state)
{
    (void)state;
    struct config *c = load_ok("daemon: {max-concurrency: 4}\n");
    assert_int_equal(c->daemon.ping_body_max, CONFIG_DEFAULT_PING_BODY_MAX);
    assert_int_equal(c->daemon.ping_body_max, CHECK_HB_BODY_MAX);
    config_destroy(c);
    c = load_ok("daemon: {ping-body-max: 1MiB}\n");
    assert_int_equal(c->daemon.ping_body_max, 1024 * 1024);
    config_destroy(c);
    c = load_ok("daemon: {ping-body-max: 1}\n");
    assert_int_equal(c->daemon.ping_body_max, 1);
    config_destroy(c);
    struct config_errors e;
    c = NULL;
    assert_int_equal(load("daemon: {ping-body-max: 2MiB}\n", &c, &e), -EINVAL);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], "daemon.ping-body-max"));
    config_errors_finish(&e);
    assert_int_equal(load("daemon: {ping-body-max: 0}\n", &c, &e), -EINVAL);
    assert_int_equal(e.n, 1);
    assert_non_null(strstr(e.msgs[0], "daemon.ping-body-max"));
    config_errors_finish(&e);
}

/* ------------------------------------------------------------- reload */

/* Fingerprints: equal when only the position changed, different when any
 * semantic field changed. */
static void test_fingerprint(void **state)
{
    const char *base = "checks:\n"
                       "  - name: a\n"
                       "    type: http\n"
                       "    url: http://x/\n"
                       "    conditions: [\"[STATUS] == 200\"]\n"
                       "    headers: {A: b}\n";
    struct config *c1 = load_ok(base);
    struct config *c2 = load_ok("# moved down\n\n"
                                "checks:\n"
                                "  - {type: http, name: a, headers: {A: b},\n"
                                "     conditions: [\"[STATUS] == 200\"], url: \"http://x/\"}\n");
    assert_int_not_equal(c1->checks[0].line, c2->checks[0].line);
    assert_true(c1->checks[0].fingerprint == c2->checks[0].fingerprint);
    config_destroy(c2);

    const char *variants[] = {
        "    interval: 31s\n",
        "    timeout: 4s\n",
        "    failure-threshold: 4\n",
        "    success-threshold: 1\n",
        "    enabled: false\n",
        "    app: x\n",
        "    env: y\n",
        "    method: HEAD\n",
        "    body: b\n",
        "    follow-redirects: true\n",
        "    verify-tls: false\n",
        "    max-body: 1KiB\n",
    };
    uint64_t seen[sizeof(variants) / sizeof(variants[0])];
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s", base, variants[i]);
        c2 = load_ok(buf);
        seen[i] = c2->checks[0].fingerprint;
        assert_true(seen[i] != c1->checks[0].fingerprint);
        for (size_t j = 0; j < i; j++) {
            assert_true(seen[j] != seen[i]);
        }
        config_destroy(c2);
    }
    /* Condition text, header value, url, each matters. */
    const char *changed[] = {
        "checks:\n  - {name: a, type: http, url: \"http://x/\", headers: {A: c},"
        " conditions: [\"[STATUS] == 200\"]}\n",
        "checks:\n  - {name: a, type: http, url: \"http://x/\", headers: {A: b},"
        " conditions: [\"[STATUS] == 201\"]}\n",
        "checks:\n  - {name: a, type: http, url: \"http://y/\", headers: {A: b},"
        " conditions: [\"[STATUS] == 200\"]}\n",
        "checks:\n  - {name: b, type: http, url: \"http://x/\", headers: {A: b},"
        " conditions: [\"[STATUS] == 200\"]}\n",
    };
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        c2 = load_ok(changed[i]);
        assert_true(c2->checks[0].fingerprint != c1->checks[0].fingerprint);
        config_destroy(c2);
    }
    config_destroy(c1);

    /* Other types: host, port, argv, token, period, grace, count, payload. */
    const char *pairs[][2] = {
        {"checks:\n  - {name: a, type: tcp, host: h, port: 1}\n",
         "checks:\n  - {name: a, type: tcp, host: h, port: 2}\n"},
        {"checks:\n  - {name: a, type: tcp, host: h, port: 1}\n",
         "checks:\n  - {name: a, type: tcp, host: i, port: 1}\n"},
        {"checks:\n  - {name: a, type: exec, command: [a, b]}\n",
         "checks:\n  - {name: a, type: exec, command: [ab]}\n"},
        {"checks:\n  - {name: a, type: exec, command: [a]}\n",
         "checks:\n  - {name: a, type: exec, command: [a], max-output: 1KiB}\n"},
        {"checks:\n  - {name: a, type: heartbeat, token: t, period: 1h}\n",
         "checks:\n  - {name: a, type: heartbeat, token: u, period: 1h}\n"},
        {"checks:\n  - {name: a, type: heartbeat, token: t, period: 1h}\n",
         "checks:\n  - {name: a, type: heartbeat, token: t, period: 2h}\n"},
        {"checks:\n  - {name: a, type: heartbeat, token: t, period: 1h}\n",
         "checks:\n  - {name: a, type: heartbeat, token: t, period: 1h, grace: 1m}\n"},
        {"checks:\n  - {name: a, type: tcp, host: h, port: 1}\n",
         "defaults: {interval: 1m}\nchecks:\n  - {name: a, type: tcp, host: h, port: 1}\n"},
        {"checks:\n  - {name: a, type: icmp, host: h}\n",
         "checks:\n  - {name: a, type: icmp, host: h, count: 4}\n"},
        {"checks:\n  - {name: a, type: icmp, host: h}\n",
         "checks:\n  - {name: a, type: icmp, host: h, payload: x}\n"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        c1 = load_ok(pairs[i][0]);
        c2 = load_ok(pairs[i][1]);
        assert_true(c1->checks[0].fingerprint != c2->checks[0].fingerprint);
        config_destroy(c1);
        config_destroy(c2);
        /* And the same text twice gives the same fingerprint. */
        c1 = load_ok(pairs[i][0]);
        c2 = load_ok(pairs[i][0]);
        assert_true(c1->checks[0].fingerprint == c2->checks[0].fingerprint);
        config_destroy(c1);
        config_destroy(c2);
    }
}

/* The fingerprint of the check named name in c. */
static uint64_t fingerprint_of(const struct config *c, const char *name)
{
    const struct conf_check *k = config_find_check(c, name);
    assert_non_null(k);
    return k->fingerprint;
}

/* depends-on is part of a check's definition: a reload that changes only
 * the parents of a check counts it as changed (the daemon compares these
 * fingerprints), and the parents themselves stay unchanged. */
static void test_fingerprint_depends_on(void **state)
{
    static const char head[] = "checks:\n"
                               "  - {name: db, type: tcp, host: h, port: 1}\n"
                               "  - {name: cache, type: tcp, host: h, port: 2}\n"
                               "  - name: web\n"
                               "    type: http\n"
                               "    url: http://x/\n";
    const char *tails[] = {
        "",
        "    depends-on: db\n",
        "    depends-on: [cache]\n",
        "    depends-on: [db, cache]\n",
        "    depends-on: [cache, db]\n",
    };
    size_t n = sizeof(tails) / sizeof(tails[0]);
    uint64_t web[sizeof(tails) / sizeof(tails[0])];
    uint64_t db = 0, cache = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s", head, tails[i]);
        struct config *c = load_ok(buf);
        web[i] = fingerprint_of(c, "web");
        if (i == 0) {
            db = fingerprint_of(c, "db");
            cache = fingerprint_of(c, "cache");
        }
        assert_true(fingerprint_of(c, "db") == db);
        assert_true(fingerprint_of(c, "cache") == cache);
        for (size_t j = 0; j < i; j++) {
            assert_true(web[j] != web[i]);
        }
        config_destroy(c);
        /* The same text twice: the same fingerprint. */
        c = load_ok(buf);
        assert_true(fingerprint_of(c, "web") == web[i]);
        config_destroy(c);
    }
}

/* github-secret is free text (GitHub takes spaces); the tokens are not. */
static void test_github_secret_is_text(void **state)
{
    (void)state;
    struct config *c = load_ok("daemon: {github-secret: \"two words and more\"}\n");
    assert_string_equal(c->daemon.github_secret, "two words and more");
    config_destroy(c);
    load_bad_text("daemon: {deploy-token: \"two words\"}\n",
                  "daemon.deploy-token: must not contain spaces or control characters");
}

/* ---------------------------------------------------------- fingerprint */

/* The new keys are part of a check's definition. */
static void test_fingerprint_new_keys(void **state)
{
    (void)state;
    const char *pairs[][2] = {
        {"checks:\n  - {name: a, type: exec, command: [a]}\n",
         "checks:\n  - {name: a, type: exec, command: [a], environment: {A: b}}\n"},
        {"checks:\n  - {name: a, type: exec, command: [a], environment: {A: b}}\n",
         "checks:\n  - {name: a, type: exec, command: [a], environment: {A: c}}\n"},
        {"checks:\n  - {name: a, type: exec, command: [a], environment: {A: b}}\n",
         "checks:\n  - {name: a, type: exec, command: [a], environment: {B: b}}\n"},
        {"checks:\n  - {name: a, type: exec, command: [a]}\n",
         "checks:\n  - {name: a, type: exec, command: [a], timeout: 5s}\n"},
        {"checks:\n  - {name: a, type: heartbeat, token: t, period: 1h}\n",
         "checks:\n  - {name: a, type: heartbeat, token: t, period: 1h, max-runtime: 1m}\n"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct config *c1 = load_ok(pairs[i][0]);
        struct config *c2 = load_ok(pairs[i][1]);
        assert_true(c1->checks[0].fingerprint != c2->checks[0].fingerprint);
        config_destroy(c2);
        c2 = load_ok(pairs[i][0]);
        assert_true(c1->checks[0].fingerprint == c2->checks[0].fingerprint);
        config_destroy(c1);
        config_destroy(c2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_environment),
        cmocka_unit_test(test_exec_environment_bad),
        cmocka_unit_test(test_exec_environment_reaches_the_plugin),
        cmocka_unit_test(test_exec_default_timeout),
        cmocka_unit_test(test_heartbeat_max_runtime),
        cmocka_unit_test(test_heartbeat_max_runtime_judges),
        cmocka_unit_test(test_ping_body_max),
        cmocka_unit_test(test_github_secret_is_text),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_fingerprint_depends_on),
        cmocka_unit_test(test_fingerprint_new_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
