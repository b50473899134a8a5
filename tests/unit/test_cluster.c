/* test_cluster.c - redis.url and bus message parsing (incl. hostile input),
 * per-location states and the quorum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cluster.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* --- redis.url --- */

static void url_tcp(void **state)
{
    struct cluster_url u;
    char err[200];
    assert_int_equal(cluster_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof(err)), 0);
    assert_false(u.unix_socket);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "");

    assert_int_equal(cluster_url_parse("redis://cache.internal", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "cache.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);

    assert_int_equal(cluster_url_parse("redis://host/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.db, 0);

    assert_int_equal(cluster_url_parse("redis://:s%40cr%3At@h:1/0", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s@cr:t");
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 1);

    assert_int_equal(cluster_url_parse("redis://ops:pw@h", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "ops");
    assert_string_equal(u.password, "pw");

    /* A raw '@' in the password: the last '@' ends the credentials. */
    assert_int_equal(cluster_url_parse("redis://:p@ss@h:7", &u, err, sizeof(err)), 0);
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "h");

    assert_int_equal(cluster_url_parse("redis://[::1]:6390/3", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 3);
}

static void url_unix(void **state)
{
    struct cluster_url u;
    char err[200];
    assert_int_equal(cluster_url_parse("unix:///run/redis/redis.sock", &u, err, sizeof(err)), 0);
    assert_true(u.unix_socket);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(cluster_url_parse("unix:///tmp/r.sock?db=4", &u, err, sizeof(err)), 0);
    assert_int_equal(u.db, 4);
}

static void url_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "http://h",
        "rediss://h",
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:99999999999999",
        "redis://h:-1",
        "redis://h:12ab",
        "redis://h/x",
        "redis://h/-1",
        "redis://h/1/2",
        "redis://password@h",
        "redis://:%zz@h",
        "redis://:%4@h",
        "redis://:%@h",
        "redis://:%00@h",
        "redis://[::1",
        "redis://[::1]x",
        "redis://h h",
        "unix://",
        "unix://relative.sock",
        "unix:///tmp/r.sock?db=x",
        "unix:///tmp/r.sock?x=1",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cluster_url u;
        char err[200] = "";
        if (cluster_url_parse(bad[i], &u, err, sizeof(err)) != -EINVAL) {
            fail_msg("accepted %s", bad[i]);
        }
        assert_true(err[0] != '\0');
        /* the password never appears in the reason */
        assert_null(strstr(err, "%zz"));
    }
    struct cluster_url u;
    char err[200];
    assert_int_equal(cluster_url_parse(NULL, &u, err, sizeof(err)), -EINVAL);

    /* Overlong parts are refused, not cut. */
    char url[2048];
    memset(url, 'a', sizeof(url));
    memcpy(url, "redis://", 8);
    url[sizeof(url) - 1] = '\0';
    assert_int_equal(cluster_url_parse(url, &u, err, sizeof(err)), -EINVAL);
    snprintf(url, sizeof(url), "redis://:%0600d@h", 0);
    assert_int_equal(cluster_url_parse(url, &u, err, sizeof(err)), -EINVAL);
    snprintf(url, sizeof(url), "unix:///%0300d", 0);
    assert_int_equal(cluster_url_parse(url, &u, err, sizeof(err)), -EINVAL);
}

/* --- messages --- */

static int parse_s(const char *s, struct cluster_msg *m)
{
    return cluster_msg_parse(s, strlen(s), m);
}

static void result_round_trip(void **state)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    r.started_ms = 1700000000123;
    r.duration_us = 4567;
    r.outcome = STATE_DOWN;
    r.status = 503;
    r.cert_expiry_s = 1800000000;
    snprintf(r.error, sizeof(r.error), "HTTP 503 \"quoted\" \\ and \xc3\xa9");
    snprintf(r.failed_condition, sizeof(r.failed_condition), "[STATUS] (503) == 200");
    char *text =
        cluster_encode_result("node-a", "api health", &r, STATE_DEGRADED, 1699, 2, 0, true);
    assert_non_null(text);

    struct cluster_msg m;
    assert_int_equal(parse_s(text, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_RESULT);
    assert_string_equal(m.node, "node-a");
    assert_string_equal(m.check, "api health");
    assert_int_equal(m.result.started_ms, r.started_ms);
    assert_int_equal(m.result.duration_us, r.duration_us);
    assert_int_equal(m.result.outcome, STATE_DOWN);
    assert_int_equal(m.result.status, 503);
    assert_int_equal(m.result.cert_expiry_s, r.cert_expiry_s);
    assert_string_equal(m.result.error, r.error);
    assert_string_equal(m.result.failed_condition, r.failed_condition);
    assert_int_equal(m.state, STATE_DEGRADED);
    assert_int_equal(m.state_since_ms, 1699);
    assert_int_equal(m.fail_streak, 2);
    assert_int_equal(m.ok_streak, 0);
    assert_true(m.location);
    cluster_msg_finish(&m);
    free(text);

    /* Invalid UTF-8 in the error text is dropped, not a broken message. */
    snprintf(r.error, sizeof(r.error), "bad \xff\xfe bytes");
    text = cluster_encode_result("n", "c", &r, STATE_UP, 0, 0, 1, false);
    assert_non_null(text);
    assert_int_equal(parse_s(text, &m), 0);
    assert_string_equal(m.result.error, "");
    assert_false(m.location);
    free(text);
}

static void event_round_trip(void **state)
{
    struct event ev = {
        .ts_ms = 42,
        .type = "state",
        .check = "db",
        .app = "shop",
        .env = "prod",
        .message = "db: up -> down",
        .data = "{\"from\":\"up\",\"to\":\"down\"}",
    };
    char *text = cluster_encode_event("b", &ev);
    assert_non_null(text);
    struct cluster_msg m;
    assert_int_equal(parse_s(text, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_EVENT);
    assert_string_equal(m.node, "b");
    assert_int_equal(m.ts_ms, 42);
    assert_string_equal(m.type, "state");
    assert_string_equal(m.check, "db");
    assert_string_equal(m.app, "shop");
    assert_string_equal(m.env, "prod");
    assert_string_equal(m.message, "db: up -> down");
    assert_string_equal(m.data, "{\"from\":\"up\",\"to\":\"down\"}");
    cluster_msg_finish(&m);
    free(text);

    /* Not about a check, no data, data not an object: omitted. */
    struct event ev2 = {.ts_ms = 1, .type = "daemon", .message = "started", .data = "[1]"};
    text = cluster_encode_event("b", &ev2);
    assert_int_equal(parse_s(text, &m), 0);
    assert_string_equal(m.check, "");
    assert_null(m.app);
    assert_null(m.data);
    cluster_msg_finish(&m);
    free(text);

    text = cluster_encode_node("c", 77, "00ff00ff00ff00ff", NULL, 0);
    assert_int_equal(parse_s(text, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_NODE);
    assert_string_equal(m.node, "c");
    assert_int_equal(m.ts_ms, 77);
    assert_string_equal(m.checks_fp, "00ff00ff00ff00ff");
    free(text);
    text = cluster_encode_node("c", 77, NULL, NULL, 0);
    assert_int_equal(parse_s(text, &m), 0);
    assert_string_equal(m.checks_fp, "");
    free(text);
    /* a fingerprint that is too long or not a string */
    assert_int_equal(parse_s("{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1,"
                             "\"checks\":\"0123456789abcdef0123456789\"}",
                             &m),
                     -EINVAL);
    assert_int_equal(parse_s("{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1,"
                             "\"checks\":5}",
                             &m),
                     -EINVAL);
}

#define RES                                                                                        \
    "\"v\":1,\"kind\":\"result\",\"node\":\"n\",\"ts_ms\":1,\"duration_us\":2,\"outcome\":\"up\"," \
    "\"state\":\"up\""

static void hostile_messages(void **state)
{
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "\"x\"",
        "{",
        "{}",
        "{\"v\":2,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1}",
        "{\"v\":\"1\",\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"\",\"ts_ms\":1}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"a\\u0000b\",\"ts_ms\":1}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"a\\nb\",\"ts_ms\":1}",
        "{\"v\":1,\"kind\":\"node\",\"node\":5,\"ts_ms\":1}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"n\"}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":-5}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1.5}",
        "{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1,\"ts_ms\":2}",
        "{\"v\":1,\"kind\":\"what\",\"node\":\"n\",\"ts_ms\":1}",
        "{\"v\":1,\"node\":\"n\",\"ts_ms\":1}",
        "{" RES "}", /* no check */
        "{" RES ",\"check\":\"\"}",
        "{" RES ",\"check\":[\"c\"]}",
        "{" RES ",\"check\":\"c\",\"outcome\":\"sideways\"}",
        "{" RES ",\"check\":\"c\",\"status\":-2}",
        "{" RES ",\"check\":\"c\",\"status\":99999999999}",
        "{" RES ",\"check\":\"c\",\"fail_streak\":-1}",
        "{" RES ",\"check\":\"c\",\"ok_streak\":\"1\"}",
        "{" RES ",\"check\":\"c\",\"error\":7}",
        "{" RES ",\"check\":\"c\",\"error\":\"a\\u0000b\"}",
        "{" RES ",\"check\":\"c\",\"location\":1}",
        "{\"v\":1,\"kind\":\"result\",\"node\":\"n\",\"check\":\"c\",\"ts_ms\":1,\"outcome\":"
        "\"up\","
        "\"state\":\"up\"}", /* no duration */
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"message\":\"m\"}",
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"type\":\"t\"}",
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"type\":\"t\",\"message\":\"m\","
        "\"data\":[1]}",
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"type\":\"t\",\"message\":\"m\","
        "\"data\":\"{}\"}",
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"type\":\"\",\"message\":\"m\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cluster_msg m;
        if (parse_s(bad[i], &m) != -EINVAL) {
            fail_msg("accepted %s", bad[i]);
        }
        /* nothing is left owned */
        assert_null(m.type);
        assert_null(m.message);
    }

    /* Oversized, before any parsing. */
    size_t big = CLUSTER_MSG_MAX + 1;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, ' ', big);
    struct cluster_msg m;
    assert_int_equal(cluster_msg_parse(buf, big, &m), -EMSGSIZE);

    /* Deep nesting within the cap: refused, no crash. */
    size_t depth = 20000;
    for (size_t i = 0; i < depth; i++) {
        buf[i] = '[';
    }
    assert_int_equal(cluster_msg_parse(buf, depth, &m), -EINVAL);

    /* A name one byte too long is refused; error text is cut on a
     * character boundary. */
    char name[CLUSTER_NAME_MAX + 1];
    memset(name, 'n', CLUSTER_NAME_MAX);
    name[CLUSTER_NAME_MAX] = '\0';
    snprintf(buf, big, "{\"v\":1,\"kind\":\"node\",\"node\":\"%s\",\"ts_ms\":1}", name);
    assert_int_equal(parse_s(buf, &m), -EINVAL);
    name[CLUSTER_NAME_MAX - 1] = '\0';
    snprintf(buf, big, "{\"v\":1,\"kind\":\"node\",\"node\":\"%s\",\"ts_ms\":1}", name);
    assert_int_equal(parse_s(buf, &m), 0);

    int n = snprintf(buf, big, "{" RES ",\"check\":\"c\",\"error\":\"");
    for (int i = 0; i < 400; i++) {
        n += snprintf(buf + n, big - (size_t)n, "\xc3\xa9");
    }
    snprintf(buf + n, big - (size_t)n, "\"}");
    assert_int_equal(parse_s(buf, &m), 0);
    size_t elen = strlen(m.result.error);
    assert_true(elen < RESULT_ERROR_MAX);
    assert_int_equal(elen % 2, 0); /* whole two-byte characters only */
    assert_true(m.result.status == -1);

    /* Event text over its cap is refused. */
    char *msg = malloc(CLUSTER_EVENT_TEXT_MAX + 10);
    assert_non_null(msg);
    memset(msg, 'x', CLUSTER_EVENT_TEXT_MAX + 9);
    msg[CLUSTER_EVENT_TEXT_MAX + 9] = '\0';
    snprintf(
        buf, big,
        "{\"v\":1,\"kind\":\"event\",\"node\":\"n\",\"ts_ms\":1,\"type\":\"t\",\"message\":\"%s\"}",
        msg);
    assert_int_equal(parse_s(buf, &m), -EINVAL);
    assert_null(m.message);
    free(msg);

    /* Unknown extra fields are ignored (newer peers). */
    assert_int_equal(parse_s("{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1,\"x\":{}}", &m),
                     0);

    /* Random bytes never crash the parser. */
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 200);
        for (size_t i = 0; i < len; i++) {
            static const char alphabet[] = "{}[]\":,01v\\ kindoderesultstatenull";
            buf[i] = (rand() % 4 == 0) ? (char)(rand() % 256)
                                       : alphabet[rand() % (sizeof(alphabet) - 1)];
        }
        if (cluster_msg_parse(buf, len, &m) == 0) {
            cluster_msg_finish(&m);
        }
    }
    free(buf);
}

/* --- locations and quorum --- */

static struct check_location loc(const char *name, enum check_state s, int64_t heard)
{
    struct check_location l;
    memset(&l, 0, sizeof(l));
    snprintf(l.name, sizeof(l.name), "%s", name);
    l.state = s;
    l.heard_ms = heard;
    return l;
}

static void quorum(void **state)
{
    struct check_location v[4];
    size_t n;

    /* Quorum 2 of 3: one location down is not enough. */
    v[0] = loc("a", STATE_UP, 100);
    v[1] = loc("b", STATE_UP, 100);
    v[2] = loc("c", STATE_DOWN, 100);
    n = 3;
    assert_int_equal(state_aggregate(v, &n, 2, 100, 1000), STATE_UP);
    v[1].state = STATE_DOWN;
    assert_int_equal(state_aggregate(v, &n, 2, 100, 1000), STATE_DOWN);
    v[1].state = STATE_DEGRADED;
    assert_int_equal(state_aggregate(v, &n, 2, 100, 1000), STATE_DEGRADED);

    /* Quorum 1: any location down. */
    v[1].state = STATE_UP;
    assert_int_equal(state_aggregate(v, &n, 1, 100, 1000), STATE_DOWN);

    /* Expired locations are dropped; the quorum shrinks to the live ones so
     * a daemon left alone still sees its own outage. */
    v[0] = loc("a", STATE_DOWN, 5000);
    v[1] = loc("b", STATE_DOWN, 100);
    v[2] = loc("c", STATE_UP, 100);
    n = 3;
    assert_int_equal(state_aggregate(v, &n, 2, 5000, 1000), STATE_DOWN);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "a");

    /* Nothing heard: unknown; only unknowns: unknown. */
    n = 0;
    assert_int_equal(state_aggregate(v, &n, 2, 0, 1000), STATE_UNKNOWN);
    v[0] = loc("a", STATE_UNKNOWN, 1);
    v[1] = loc("b", STATE_UNKNOWN, 1);
    n = 2;
    assert_int_equal(state_aggregate(v, &n, 1, 1, 1000), STATE_UNKNOWN);
}

static void location_machine(void **state)
{
    struct conf_check conf = {.name = "c", .failure_threshold = 2, .success_threshold = 2};
    struct check_location l = loc("a", STATE_UNKNOWN, 0);
    l.last.status = -1;
    struct result r;
    memset(&r, 0, sizeof(r));
    r.outcome = STATE_UP;
    r.started_ms = 10;
    assert_true(state_location_apply(&l, &conf, &r)); /* first result settles */
    assert_int_equal(l.state, STATE_UP);
    r.outcome = STATE_DOWN;
    r.started_ms = 20;
    assert_false(state_location_apply(&l, &conf, &r));
    r.started_ms = 30;
    assert_true(state_location_apply(&l, &conf, &r));
    assert_int_equal(l.state, STATE_DOWN);
    assert_int_equal(l.state_since_ms, 30);
    assert_int_equal(l.fail_streak, 2);
    assert_int_equal(l.last.started_ms, 30);
}

static void lease_grace(void **state)
{
    assert_int_equal(cluster_lease_grace_ms(1000), 250);
    assert_int_equal(cluster_lease_grace_ms(30000), 2000);
    assert_int_equal(cluster_lease_grace_ms(0), 0);
}

/* Sealed messages: a key's signature opens with that key only; a changed
 * byte, a missing or cut signature, another key: refused. */
static void sealed_messages(void **state)
{
    const char *key = "k3y-of-the-cluster-0123";
    char *json = cluster_encode_node("node-a", 1700000000000, "00ff", NULL, 0);
    assert_non_null(json);
    char *plain = strdup(json);
    char *text = cluster_msg_seal(key, json);
    assert_non_null(text);
    size_t len = strlen(text), at = 99;
    assert_int_equal(strncmp(text, "sha256=", 7), 0);
    assert_int_equal(cluster_msg_open(key, text, len, &at), 0);
    assert_string_equal(text + at, plain);
    struct cluster_msg m;
    assert_int_equal(cluster_msg_parse(text + at, len - at, &m), 0);
    assert_string_equal(m.node, "node-a");
    cluster_msg_finish(&m);

    /* Without a key the envelope is taken off, unchecked. */
    assert_int_equal(cluster_msg_open(NULL, text, len, &at), 0);
    assert_string_equal(text + at, plain);
    assert_int_equal(cluster_msg_open(NULL, plain, strlen(plain), &at), 0);
    assert_int_equal(at, 0);

    /* Another key, an unsigned message, every single byte changed. */
    assert_int_equal(cluster_msg_open("another-key-0123456", text, len, &at), -EPERM);
    assert_int_equal(cluster_msg_open(key, plain, strlen(plain), &at), -EPERM);
    for (size_t i = 0; i < len; i++) {
        text[i] ^= 0x01;
        assert_int_equal(cluster_msg_open(key, text, len, &at), -EPERM);
        text[i] ^= 0x01;
    }
    /* Cut anywhere: refused. */
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(cluster_msg_open(key, text, cut, &at), -EPERM);
    }
    /* Upper-case hex is the same signature. */
    for (size_t i = 7; i < 7 + 64; i++) {
        if (text[i] >= 'a' && text[i] <= 'f') {
            text[i] = (char)(text[i] - 'a' + 'A');
        }
    }
    assert_int_equal(cluster_msg_open(key, text, len, &at), 0);
    /* Oversized, with or without a key. */
    char *big = calloc(1, CLUSTER_MSG_MAX + 2);
    memset(big, 'x', CLUSTER_MSG_MAX + 1);
    assert_int_equal(cluster_msg_open(key, big, CLUSTER_MSG_MAX + 1, &at), -EMSGSIZE);
    assert_int_equal(cluster_msg_open(NULL, big, CLUSTER_MSG_MAX + 1, &at), -EMSGSIZE);
    free(big);
    free(text);
    free(plain);
}

/* A message's time: an event's and an "alive"'s as sent, a result's when
 * its run ended; a minute either way of now. */
static void fresh_messages(void **state)
{
    const int64_t now = 1700000600000;
    struct cluster_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = CLUSTER_MSG_NODE;
    m.ts_ms = now;
    assert_true(cluster_msg_fresh(&m, now));
    m.ts_ms = now - CLUSTER_MSG_SKEW_MS;
    assert_true(cluster_msg_fresh(&m, now));
    m.ts_ms = now - CLUSTER_MSG_SKEW_MS - 1;
    assert_false(cluster_msg_fresh(&m, now));
    m.ts_ms = now + CLUSTER_MSG_SKEW_MS + 1;
    assert_false(cluster_msg_fresh(&m, now));
    m.kind = CLUSTER_MSG_EVENT;
    m.ts_ms = now - 5 * 60 * 1000;
    assert_false(cluster_msg_fresh(&m, now));
    /* A result that ran 90 s ended just now: fresh. */
    m.kind = CLUSTER_MSG_RESULT;
    m.ts_ms = 0;
    m.result.started_ms = now - 90000;
    m.result.duration_us = 89000000;
    assert_true(cluster_msg_fresh(&m, now));
    m.result.duration_us = 1000;
    assert_false(cluster_msg_fresh(&m, now));
}

/* --- host views across the cluster --- */

/* "alive" with the nodes watched from its sender. */
static void node_host_wants(void **state)
{
    const char *wants[] = {"b", "node c"};
    char *text = cluster_encode_node("a", 5, "00ff", wants, 2);
    struct cluster_msg m;
    assert_int_equal(parse_s(text, &m), 0);
    assert_int_equal(m.nhost_wants, 2);
    assert_string_equal(m.host_wants[0], "b");
    assert_string_equal(m.host_wants[1], "node c");
    cluster_msg_finish(&m);
    assert_null(m.host_wants);
    free(text);

#define NODE "{\"v\":1,\"kind\":\"node\",\"node\":\"n\",\"ts_ms\":1,\"host_wants\":"
    const char *bad[] = {
        NODE "\"b\"}",              /* not an array */
        NODE "[\"b\",5]}",          /* a name not a string */
        NODE "[\"\"]}",             /* empty */
        NODE "[\"a\\u0001\"]}",     /* a control character */
        NODE "[\"a\\u0000b\"]}",    /* a NUL inside */
        NODE "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\","
             "\"13\",\"14\",\"15\",\"16\",\"17\"]}", /* more than CLUSTER_HOST_WANTS_MAX */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(parse_s(bad[i], &m), -EINVAL);
        assert_null(m.host_wants);
    }
    assert_int_equal(parse_s(NODE "[]}", &m), 0);
    assert_int_equal(m.nhost_wants, 0);
#undef NODE
}

static struct ipc_host_cpu sample_cpus[] = {{.name = "cpu0", .used_ppm = 250000}};
static struct ipc_host_proc sample_procs[] = {{.pid = 42, .command = "/usr/sbin/x", .cpu_ppm = 1}};

/* A sample as hostmon makes one, of node b. */
static struct ipc_host sample(void)
{
    return (struct ipc_host){
        .hostname = "web-2",
        .node = "b",
        .ts_ms = 1700000000123,
        .interval_ms = 1000,
        .cpu_count = 1,
        .cpu_used_ppm = 250000,
        .cpus = sample_cpus,
        .ncpus = 1,
        .mem_total_bytes = 1 << 30,
        .swap_total_bytes = -1,
        .top_cpu = sample_procs,
        .ntop_cpu = 1,
    };
}

static void host_round_trip(void **state)
{
    struct ipc_host h = sample();
    char *text = cluster_encode_host("b", &h);
    assert_non_null(text);
    struct cluster_msg m;
    assert_int_equal(parse_s(text, &m), 0);
    assert_int_equal(m.kind, CLUSTER_MSG_HOST);
    assert_string_equal(m.node, "b");
    assert_int_equal(m.ts_ms, 1700000000123);
    assert_string_equal(m.host.hostname, "web-2");
    assert_string_equal(m.host.node, "b");
    assert_int_equal(m.host.ncpus, 1);
    assert_string_equal(m.host.cpus[0].name, "cpu0");
    assert_int_equal(m.host.cpus[0].used_ppm, 250000);
    assert_int_equal(m.host.swap_total_bytes, -1);
    assert_int_equal(m.host.top_cpu[0].pid, 42);
    assert_string_equal(m.host.top_cpu[0].command, "/usr/sbin/x");
    assert_true(cluster_msg_fresh(&m, 1700000000123 + 1000));
    assert_false(cluster_msg_fresh(&m, 1700000000123 + 2 * CLUSTER_MSG_SKEW_MS));
    cluster_msg_finish(&m);
    free(text);
}

/* A host message around the msgpack given: base64 of it as the sample. */
static char *host_msg(const char *node, int64_t ts_ms, const void *mp, size_t n)
{
    char *b64 = malloc(n / 3 * 4 + 5), *out = malloc(n / 3 * 4 + 200);
    EVP_EncodeBlock((unsigned char *)b64, mp, (int)n);
    sprintf(out, "{\"v\":1,\"kind\":\"host\",\"node\":\"%s\",\"ts_ms\":%lld,\"sample\":\"%s\"}",
            node, (long long)ts_ms, b64);
    free(b64);
    return out;
}

/* The msgpack the bus carries for h: [h]. */
static void pack_host(const struct ipc_host *h, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    ipc_type_pack(&pk, &ipc_host_type, h);
}

/* Host samples from a hostile bus: refused whole, nothing left to free. */
static void host_hostile(void **state)
{
    struct cluster_msg m;
#define HOST "{\"v\":1,\"kind\":\"host\",\"node\":\"b\",\"ts_ms\":1,\"sample\":"
    const char *bad[] = {
        HOST "\"\"}",                 /* empty */
        HOST "5}",                    /* not a string */
        HOST "\"kQ\"}",               /* not a multiple of 4 */
        HOST "\"k Q=\"}",             /* a blank inside */
        HOST "\"kQ==kQ==\"}",         /* padding inside */
        HOST "\"k*==\"}",             /* not the alphabet */
        HOST "\"====\"}",             /* all padding */
        HOST "\"wQ==\"}",             /* 0xc1, never msgpack */
        HOST "\"kQ==\"}",             /* [] : an empty array, no sample */
        HOST "\"3f////8=\"}",         /* an array declaring 2^32 entries */
        "{\"v\":1,\"kind\":\"host\",\"node\":\"b\",\"sample\":\"kQ==\"}", /* no time */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(parse_s(bad[i], &m), -EINVAL);
    }
#undef HOST

    struct ipc_host h = sample();
    msgpack_sbuffer sb;
    pack_host(&h, &sb);
    char *text = host_msg("b", h.ts_ms, sb.data, sb.size);
    assert_int_equal(parse_s(text, &m), 0); /* the control */
    cluster_msg_finish(&m);
    free(text);
    /* Another node's sample, another time than the message's. */
    text = host_msg("c", h.ts_ms, sb.data, sb.size);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    text = host_msg("b", h.ts_ms + 1, sb.data, sb.size);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    /* Cut short, and with a byte after the sample. */
    text = host_msg("b", h.ts_ms, sb.data, sb.size - 1);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    char *more = malloc(sb.size + 1);
    memcpy(more, sb.data, sb.size);
    more[sb.size] = (char)0xc0;
    text = host_msg("b", h.ts_ms, more, sb.size + 1);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    free(more);
    msgpack_sbuffer_destroy(&sb);

    /* A string that is not UTF-8, and a list over its cap. */
    h.hostname = "web-\xff";
    pack_host(&h, &sb);
    text = host_msg("b", h.ts_ms, sb.data, sb.size);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    msgpack_sbuffer_destroy(&sb);
    h = sample();
    struct ipc_host_cpu *many = calloc(IPC_HOST_CPUS_MAX + 1, sizeof(*many));
    for (size_t i = 0; i <= IPC_HOST_CPUS_MAX; i++) {
        many[i].name = "cpu";
    }
    h.cpus = many;
    h.ncpus = IPC_HOST_CPUS_MAX + 1;
    pack_host(&h, &sb);
    text = host_msg("b", h.ts_ms, sb.data, sb.size);
    assert_int_equal(parse_s(text, &m), -EINVAL);
    free(text);
    msgpack_sbuffer_destroy(&sb);

    /* A sample too large for one message is not sent at all. */
    char *name = malloc(400);
    memset(name, 'c', 399);
    name[399] = '\0';
    for (size_t i = 0; i < IPC_HOST_CPUS_MAX; i++) {
        many[i].name = name;
    }
    h.ncpus = IPC_HOST_CPUS_MAX;
    assert_null(cluster_encode_host("b", &h));
    free(name);
    free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_tcp),          cmocka_unit_test(url_unix),
        cmocka_unit_test(url_bad),          cmocka_unit_test(result_round_trip),
        cmocka_unit_test(event_round_trip), cmocka_unit_test(hostile_messages),
        cmocka_unit_test(quorum),           cmocka_unit_test(location_machine),
        cmocka_unit_test(lease_grace),      cmocka_unit_test(sealed_messages),
        cmocka_unit_test(fresh_messages),   cmocka_unit_test(node_host_wants),
        cmocka_unit_test(host_round_trip),  cmocka_unit_test(host_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
