/* test_config_errors.c - the configuration's error classes: unknown keys,
 * wrong types, bad values, missing keys, duplicates, references and YAML
 * syntax, each with its exact message (helpers in test_config.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cond.h"
#include "config.h"
#include "test_config.h"

/* Unknown keys at every level, with their path and position. */
void test_unknown_keys(void **state)
{
    load_bad("daemon:\n"
             "  http: 127.0.0.1:1\n"
             "  sockt: /x\n"
             "storag: {}\n"
             "storage:\n"
             "  retention: {raw: 14d, rolups: 1d}\n"
             "checks:\n"
             "  - {name: a, type: tcp, host: h, port: 1, intervall: 5s}\n"
             "apps:\n"
             "  - {name: x, verify: {windw: 1m}}\n"
             "alerts:\n"
             "  - {notify: [], sevrity: info}\n",
             NAME ":3:3: daemon.sockt: unknown key", NAME ":4:1: storag: unknown key",
             NAME ":6:25: storage.retention.rolups: unknown key",
             NAME ":8:44: checks[0].intervall: unknown key",
             NAME ":10:24: apps[0].verify.windw: unknown key",
             NAME ":12:6: alerts[0].notify: needs at least one notifier",
             NAME ":12:18: alerts[0].sevrity: unknown key", NULL);
}

/* Duplicate keys, at the top and inside. */
void test_duplicate_keys(void **state)
{
    load_bad("checks: []\n"
             "checks: []\n"
             "daemon:\n"
             "  socket: /a\n"
             "  socket: /b\n",
             NAME ":2:1: checks: duplicate key (first at line 1)",
             NAME ":5:3: daemon.socket: duplicate key (first at line 4)", NULL);
}

/* Wrong YAML types name what was expected. */
void test_wrong_types(void **state)
{
    load_bad("daemon: [1]\n"
             "storage: x\n"
             "defaults:\n"
             "  interval: [30s]\n"
             "  failure-threshold: three\n"
             "apps: {name: a}\n"
             "checks:\n"
             "  - just-a-string\n"
             "  - name: [a]\n"
             "    type: tcp\n"
             "    host: h\n"
             "    port: 1\n"
             "    enabled: maybe\n"
             "  - {name: c, type: http, url: \"http://x\", headers: [a], conditions: {a: b}}\n"
             "notifiers: 3\n"
             "alerts:\n"
             "  - {notify: {a: b}}\n",
             NAME ":1:1: daemon: expected a mapping", NAME ":2:1: storage: expected a mapping",
             NAME ":4:3: defaults.interval: expected a duration (500ms, 30s, 5m, 24h, 14d)",
             NAME ":5:3: defaults.failure-threshold: expected an integer from 1 to 1000",
             NAME ":6:1: apps: expected a list", NAME ":8:5: checks[0]: expected a mapping",
             NAME ":9:5: checks[1].name: expected a string",
             NAME ":13:5: checks[1].enabled: expected a boolean",
             NAME ":14:44: checks[2].headers: expected a mapping",
             NAME ":14:58: checks[2].conditions: expected a list",
             NAME ":15:1: notifiers: expected a list",
             NAME ":17:6: alerts[0].notify: expected a list", NULL);
}

/* Values out of range or malformed. */
void test_bad_values(void **state)
{
    load_bad("daemon:\n"
             "  max-concurrency: 0\n"
             "  ipc-max-message: 1KiB\n"
             "  drain-timeout: -1s\n"
             "storage:\n"
             "  driver: mysql\n"
             "  retention: {raw: 30d, rollups: 7d}\n"
             "defaults:\n"
             "  interval: 50ms\n"
             "  timeout: 0\n"
             "checks:\n"
             "  - name: a\n"
             "    type: tcp\n"
             "    host: h\n"
             "    port: 65536\n"
             "  - {name: b, type: tcp, host: h, port: 0}\n"
             "  - {name: c, type: tcp, host: h, port: -1, success-threshold: 1001}\n"
             "  - {name: d, type: http, url: ftp://x, method: get, max-body: 1.5MiB}\n"
             "  - {name: e, type: heartbeat, token: \"a/b\", period: 500ms, grace: 1.5h}\n"
             "  - {name: f, type: htp}\n"
             "  - {name: g, type: tcp, host: h, port: 1, interval: 5x}\n",
             NAME ":2:3: daemon.max-concurrency: expected an integer from 1 to 100000",
             NAME ":3:3: daemon.ipc-max-message: expected a size from 4KiB to 64MiB bytes "
                  "(such as 65536, 64KiB or 1MiB)",
             NAME ":4:3: daemon.drain-timeout: bad duration \"-1s\" (use 500ms, 30s, 5m, 24h, "
                  "14d)",
             NAME ":6:3: storage.driver: unknown driver \"mysql\" (sqlite, postgres)",
             NAME ":7:3: storage.retention: rollups must be kept at least as long as raw",
             NAME ":9:3: defaults.interval: must be at least 100ms",
             NAME ":10:3: defaults.timeout: must be at least 1ms",
             NAME ":15:5: checks[0].port: expected an integer from 1 to 65535",
             NAME ":16:35: checks[1].port: expected an integer from 1 to 65535",
             NAME ":17:35: checks[2].port: expected an integer from 1 to 65535",
             NAME ":17:45: checks[2].success-threshold: expected an integer from 1 to 1000",
             NAME ":18:27: checks[3].url: expected an http:// or https:// URL",
             NAME ":18:41: checks[3].method: expected an HTTP method in capitals, such as GET, "
                  "HEAD or POST",
             NAME ":18:54: checks[3].max-body: expected a size from 1 to 16MiB bytes (such as "
                  "65536, 64KiB or 1MiB)",
             NAME ":19:32: checks[4].token: use only letters, digits and - _ . ~ (the token is "
                  "part of the /hb/ URL)",
             NAME ":19:46: checks[4].period: must be at least 1s",
             NAME ":19:61: checks[4].grace: bad duration \"1.5h\" (use 500ms, 30s, 5m, 24h, 14d)",
             NAME ":20:15: checks[5].type: unknown type \"htp\" (http, tcp, exec, heartbeat)",
             NAME ":21:44: checks[6].interval: bad duration \"5x\" (use 500ms, 30s, 5m, 24h, "
                  "14d)",
             NULL);
}

/* What each check type needs, and keys that belong to another type. */
void test_required_keys(void **state)
{
    load_bad("checks:\n"
             "  - {type: tcp, host: h, port: 1}\n"
             "  - {name: a}\n"
             "  - {name: b, type: http}\n"
             "  - {name: c, type: tcp}\n"
             "  - {name: d, type: exec}\n"
             "  - {name: e, type: heartbeat}\n"
             "  - {name: f, type: tcp, host: h, port: 1, url: \"http://x\", token: t}\n"
             "  - {name: g, type: heartbeat, token: t, period: 1m, timeout: 1s, conditions: []}\n"
             "  - {name: h, type: http, url: ~}\n",
             NAME ":2:5: checks[0]: check needs a name",
             NAME ":3:5: checks[1]: check needs a type (http, tcp, exec, heartbeat)",
             NAME ":4:5: checks[2]: http check needs url",
             NAME ":5:5: checks[3]: tcp check needs host",
             NAME ":5:5: checks[3]: tcp check needs port",
             NAME ":6:5: checks[4]: exec check needs command",
             NAME ":7:5: checks[5]: heartbeat check needs token",
             NAME ":7:5: checks[5]: heartbeat check needs period",
             NAME ":8:44: checks[6].url: not a key of tcp checks",
             NAME ":8:61: checks[6].token: not a key of tcp checks",
             NAME ":9:54: checks[7].timeout: not a key of heartbeat checks",
             NAME ":9:67: checks[7].conditions: not a key of heartbeat checks",
             NAME ":10:5: checks[8]: http check needs url", NULL);
}

/* Names are unique per list; the first occurrence is named. */
void test_duplicate_names(void **state)
{
    load_bad("apps:\n"
             "  - name: api\n"
             "  - name: api\n"
             "checks:\n"
             "  - {name: x, type: tcp, host: h, port: 1}\n"
             "  - {name: api, type: tcp, host: h, port: 1}\n"
             "  - {name: x, type: tcp, host: h, port: 2}\n"
             "  - {name: x, type: tcp, host: h, port: 3}\n"
             "  - {name: hb1, type: heartbeat, token: same, period: 1h}\n"
             "  - {name: hb2, type: heartbeat, token: same, period: 1h}\n"
             "notifiers:\n"
             "  - {name: n, type: slack, url: \"https://s\"}\n"
             "  - {name: n, type: discord, url: \"https://d\"}\n",
             NAME ":3:5: apps[1].name: duplicate app name \"api\" (first at line 2)",
             NAME ":7:6: checks[2].name: duplicate check name \"x\" (first at line 5)",
             NAME ":8:6: checks[3].name: duplicate check name \"x\" (first at line 5)",
             NAME ":10:34: checks[5].token: same token as the check at line 9",
             NAME ":13:6: notifiers[1].name: duplicate notifier name \"n\" (first at line 12)",
             NULL);
}

/* Conditions are parsed with cond_parse; its reason is in the message. */
void test_bad_condition(void **state)
{
    const char *badcond = "[STAUS] == 200";
    struct cond *cd = NULL;
    char reason[256] = "";
    assert_int_equal(cond_parse(badcond, &cd, reason, sizeof(reason)), -EINVAL);
    assert_true(reason[0] != '\0');
    char want[512];
    snprintf(want, sizeof(want), NAME ":7:9: checks[0].conditions[1]: bad condition: %s", reason);
    load_bad("checks:\n"
             "  - name: a\n"
             "    type: http\n"
             "    url: http://x\n"
             "    conditions:\n"
             "      - \"[STATUS] == 200\"\n"
             "      - \"[STAUS] == 200\"\n"
             "      - \"\"\n",
             want, NAME ":8:9: checks[0].conditions[2]: must not be empty", NULL);
}

/* Alerts name notifiers and checks that exist; apps need not be declared. */
void test_alert_references(void **state)
{
    load_bad(TCP_CHECK "  - {name: b, type: tcp, host: h, port: 1, app: undeclared}\n"
                       "notifiers:\n"
                       "  - {name: ops, type: webhook, url: \"https://x\"}\n"
                       "alerts:\n"
                       "  - notify: [ops, pager]\n"
                       "    check: nope\n"
                       "    app: whatever\n"
                       "  - notify: nobody\n",
             NAME ":10:19: alerts[0].notify[1]: unknown notifier \"pager\"",
             NAME ":11:5: alerts[0].check: unknown check \"nope\"",
             NAME ":13:5: alerts[1].notify: unknown notifier \"nobody\"", NULL);
}

/* Notifier types and what each needs. */
void test_notifiers(void **state)
{
    load_bad("notifiers:\n"
             "  - {name: a, type: webhook}\n"
             "  - {name: b, type: email, url: \"https://x\"}\n"
             "  - {name: c, type: exec, url: \"https://x\"}\n"
             "  - {name: d, type: pager, url: \"https://x\"}\n"
             "  - {name: e}\n"
             "  - {name: f, type: slack, url: \"hooks.slack.com/x\", from: a@b}\n",
             NAME ":2:5: notifiers[0]: webhook notifier needs url",
             NAME ":3:5: notifiers[1]: email notifier needs from",
             NAME ":3:5: notifiers[1]: email notifier needs to",
             NAME ":3:28: notifiers[1].url: expected an smtp:// or smtps:// URL",
             NAME ":4:5: notifiers[2]: exec notifier needs command",
             NAME ":4:27: notifiers[2].url: not a key of exec notifiers",
             NAME ":5:15: notifiers[3].type: unknown type \"pager\" (webhook, slack, discord, "
                  "email, exec, alertmanager, ntfy)",
             NAME ":6:5: notifiers[4]: notifier needs a type (webhook, slack, discord, email, "
                  "exec, alertmanager, ntfy)",
             NAME ":7:28: notifiers[5].url: expected an http:// or https:// URL",
             NAME ":7:54: notifiers[5].from: not a key of slack notifiers", NULL);
}

/* Alert rule keys, depends-on and maintenance windows: defaults, values. */
void test_alerting_keys(void **state)
{
    struct config *c = load_ok("checks:\n"
                               "  - {name: db, type: tcp, host: h, port: 1}\n"
                               "  - {name: web, type: tcp, host: h, port: 2, depends-on: db}\n"
                               "notifiers:\n"
                               "  - {name: ops, type: webhook, url: \"https://x\"}\n"
                               "  - name: mail\n"
                               "    type: email\n"
                               "    url: smtp://127.0.0.1:2525\n"
                               "    from: a@example.com\n"
                               "    to: [b@example.com, c@example.com]\n"
                               "    tls: none\n"
                               "    timeout: 2s\n"
                               "    retry-initial: 200ms\n"
                               "    retry-max: 1m\n"
                               "    max-age: 1h\n"
                               "alerts:\n"
                               "  - notify: ops\n"
                               "  - notify: [mail]\n"
                               "    on: [degraded, certificate]\n"
                               "    degraded-for: 30s\n"
                               "    certificate-days: 30\n"
                               "    flapping: {changes: 4, window: 1m}\n"
                               "maintenance:\n"
                               "  - {name: nightly, start: \"23:30\", duration: 2h, days: [sat, sun]}\n"
                               "  - {name: daily, app: api, start: \"00:00\", duration: 1h}\n"
                               "apps:\n"
                               "  - {name: api, verify: {start-timeout: 5m}}\n");
    assert_int_equal(c->checks[0].ndepends_on, 0);
    assert_int_equal(c->checks[1].ndepends_on, 1);
    assert_string_equal(c->checks[1].depends_on[0], "db");
    assert_int_equal(c->notifiers[0].timeout_ms, CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS);
    assert_int_equal(c->notifiers[0].retry_initial_ms, CONFIG_DEFAULT_RETRY_INITIAL_MS);
    assert_int_equal(c->notifiers[0].tls, CONF_TLS_AUTO);
    assert_int_equal(c->notifiers[1].tls, CONF_TLS_NONE);
    assert_int_equal(c->notifiers[1].timeout_ms, 2000);
    assert_int_equal(c->notifiers[1].retry_initial_ms, 200);
    assert_int_equal(c->notifiers[1].retry_max_ms, 60000);
    assert_int_equal(c->notifiers[1].max_age_ms, 3600000);
    assert_int_equal(c->alerts[0].on, ALERT_ON_DEFAULT);
    assert_int_equal(c->alerts[0].degraded_for_ms, CONFIG_DEFAULT_DEGRADED_FOR_MS);
    assert_int_equal(c->alerts[0].flap_changes, CONFIG_DEFAULT_FLAP_CHANGES);
    assert_int_equal(c->alerts[1].on, ALERT_ON_DEGRADED | ALERT_ON_CERTIFICATE);
    assert_int_equal(c->alerts[1].degraded_for_ms, 30000);
    assert_int_equal(c->alerts[1].cert_days, 30);
    assert_int_equal(c->alerts[1].flap_changes, 4);
    assert_int_equal(c->alerts[1].flap_window_ms, 60000);
    assert_int_equal(c->nmaintenance, 2);
    assert_int_equal(c->maintenance[0].start_min, 23 * 60 + 30);
    assert_int_equal(c->maintenance[0].duration_ms, 2 * 3600 * 1000);
    assert_int_equal(c->maintenance[0].days, (1u << 6) | 1u);
    assert_int_equal(c->maintenance[1].days, 0x7f);
    assert_string_equal(c->maintenance[1].app, "api");
    assert_int_equal(c->apps[0].verify_start_timeout_ms, 5 * 60 * 1000);
    config_destroy(c);
}

/* What is wrong with alerting keys is reported where it is written. */
void test_alerting_bad(void **state)
{
    load_bad("checks:\n"
             "  - {name: a, type: tcp, host: h, port: 1, depends-on: [a]}\n"
             "  - {name: b, type: tcp, host: h, port: 1, depends-on: [nope]}\n"
             "notifiers:\n"
             "  - {name: m, type: email, url: \"smtp://x\", from: a, to: b, tls: maybe}\n"
             "  - {name: w, type: webhook, url: \"https://x\", tls: none, retry-initial: 10m}\n"
             "alerts:\n"
             "  - {notify: w, on: [down, sideways], flapping: {changes: 1}}\n"
             "  - {notify: w, on: []}\n"
             "maintenance:\n"
             "  - {name: x, start: \"25:00\", duration: 1h, days: [someday]}\n"
             "  - {name: x, check: ghost, start: \"1:00\"}\n",
             NAME ":2:44: checks[0].depends-on[0]: a check cannot depend on itself",
             NAME ":3:44: checks[1].depends-on[0]: unknown check \"nope\"",
             NAME ":5:61: notifiers[0].tls: unknown tls \"maybe\" (auto, required, none)",
             NAME ":6:5: notifiers[1].retry-max: must be at least retry-initial",
             NAME ":6:48: notifiers[1].tls: not a key of webhook notifiers",
             NAME ":8:17: alerts[0].on: unknown on \"sideways\" (down, degraded, heartbeat, "
                  "certificate, deploy-failed, flapping)",
             NAME ":8:50: alerts[0].flapping.changes: expected an integer from 2 to 1000",
             NAME ":9:17: alerts[1].on: needs at least one item",
             NAME ":11:15: maintenance[0].start: bad time of day \"25:00\" (use HH:MM, 00:00 to "
                  "23:59)",
             NAME ":11:45: maintenance[0].days: unknown days \"someday\" (sun, mon, tue, wed, thu, "
                  "fri, sat)",
             NAME ":12:5: maintenance[1]: a maintenance window needs duration",
             NAME ":12:6: maintenance[1].name: duplicate maintenance window name \"x\" (first at "
                  "line 11)",
             NAME ":12:15: maintenance[1].check: unknown check \"ghost\"",
             NAME ":12:29: maintenance[1].start: bad time of day \"1:00\" (use HH:MM, 00:00 to "
                  "23:59)",
             NULL);
}

/* Storage tuning, Redis, cluster, node name, locations and quorum. */
void test_scaling_keys(void **state)
{
    (void)state;
    struct config *c = load_ok("storage:\n"
                               "  driver: postgres\n"
                               "  dsn: host=127.0.0.1 dbname=shipwatch\n"
                               "  pool: 4\n"
                               "  batch: 5000\n"
                               "  queue: 100000\n"
                               "  spool: /var/spool/shipwatch.spool\n"
                               "  spool-max: 64MiB\n"
                               "redis: {url: \"redis://:pw@127.0.0.1:6380/2\", prefix: sw}\n"
                               "cluster: eu\n"
                               "node-name: web-1\n"
                               "checks:\n"
                               "  - {name: a, type: tcp, host: h, port: 1, locations: all, "
                               "quorum: 2}\n"
                               "  - {name: b, type: tcp, host: h, port: 1, locations: one}\n");
    assert_int_equal(c->storage.pool, 4);
    assert_int_equal(c->storage.batch, 5000);
    assert_int_equal(c->storage.queue, 100000);
    assert_string_equal(c->storage.spool, "/var/spool/shipwatch.spool");
    assert_int_equal(c->storage.spool_max_bytes, 64 * 1024 * 1024);
    assert_string_equal(c->redis.url, "redis://:pw@127.0.0.1:6380/2");
    assert_string_equal(c->redis.prefix, "sw");
    assert_string_equal(c->cluster, "eu");
    assert_string_equal(c->node_name, "web-1");
    assert_true(c->checks[0].locations_all);
    assert_int_equal(c->checks[0].quorum, 2);
    assert_false(c->checks[1].locations_all);
    assert_int_equal(c->checks[1].quorum, 1);
    config_destroy(c);

    /* Defaults: no Redis, no cluster, the host name, a spool beside the file. */
    c = load_ok("storage: {path: /tmp/sw/history.db}\n" TCP_CHECK);
    assert_int_equal(c->storage.pool, CONFIG_DEFAULT_STORE_POOL);
    assert_int_equal(c->storage.batch, CONFIG_DEFAULT_STORE_BATCH);
    assert_int_equal(c->storage.queue, CONFIG_DEFAULT_STORE_QUEUE);
    assert_int_equal(c->storage.spool_max_bytes, CONFIG_DEFAULT_SPOOL_MAX_BYTES);
    assert_string_equal(c->storage.spool, "/tmp/sw/spool");
    assert_null(c->redis.url);
    assert_string_equal(c->redis.prefix, "shipwatch");
    assert_null(c->cluster);
    char host[256];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    assert_string_equal(c->node_name, host);
    config_destroy(c);

    load_bad("storage: {pool: 0, batch: 0, queue: 10}\n"
             "redis: {url: \"rediss://x\"}\n"
             "cluster: eu\n"
             "checks:\n"
             "  - {name: a, type: tcp, host: h, port: 1, quorum: 2}\n"
             "  - {name: b, type: tcp, host: h, port: 1, locations: some}\n",
             NAME ":1:11: storage.pool: expected an integer from 1 to 64",
             NAME ":1:20: storage.batch: expected an integer from 1 to 100000",
             NAME ":1:30: storage.queue: expected a size from 1000 to 10000000 bytes (such as "
                  "65536, 64KiB or 1MiB)",
             NAME ":2:9: redis.url: TLS to Redis (rediss://) is not supported; use a local "
                  "tunnel",
             NAME ":5:44: checks[0].quorum: needs \"locations: all\"",
             NAME ":6:44: checks[1].locations: unknown locations \"some\" (one, all)",
             NULL);
    load_bad("cluster: eu\n" TCP_CHECK, NAME ":1:1: cluster: sharing checks needs redis.url", NULL);
    load_bad("redis: {url: \"redis://h:99999/0\"}\n" TCP_CHECK,
             NAME ":1:9: redis.url: port must be 1-65535", NULL);
    load_bad("checks:\n  - {name: a, type: tcp, host: h, port: 1, locations: all}\n",
             NAME ":1:1: checks[0].locations: \"all\" needs a cluster (cluster and redis.url)",
             NULL);
}

/* A chain of depends-on that comes back to its start is refused. */
void test_dependency_cycle(void **state)
{
    load_bad("checks:\n"
             "  - {name: a, type: tcp, host: h, port: 1, depends-on: c}\n"
             "  - {name: b, type: tcp, host: h, port: 1, depends-on: a}\n"
             "  - {name: c, type: tcp, host: h, port: 1, depends-on: [b]}\n",
             NAME ":3:44: checks[1].depends-on: a cycle: \"b\" depends on \"a\", which leads back "
                  "to it",
             NULL);
}

/* postgres needs dsn; its value, like every secret, never shows. */
void test_secrets_not_shown(void **state)
{
    load_bad("storage:\n  driver: postgres\n" TCP_CHECK,
             NAME ":2:3: storage: the postgres driver needs dsn", NULL);
    setenv("SW_T_SECRET", "hunter2 with space", 1);
    struct config_errors e;
    load_fail("apps:\n"
              "  - name: a\n"
              "    deploy-token: ${SW_T_SECRET}\n"
              "    deploy-secret: \"hunter2\\there\"\n"
              "checks:\n"
              "  - {name: h, type: http, url: \"https://hunter2 x\"}\n"
              "  - {name: t, type: heartbeat, token: \"hunter2!\", period: 1h}\n"
              "notifiers:\n"
              "  - {name: n, type: slack, url: \"hunter2\"}\n",
              &e);
    assert_int_equal(e.n, 5);
    assert_false(any_contains(&e, "hunter2"));
    assert_true(any_contains(&e, "apps[0].deploy-token: must not contain spaces"));
    assert_true(any_contains(&e, "apps[0].deploy-secret: must not contain spaces"));
    assert_true(any_contains(&e, "checks[0].url: expected"));
    assert_true(any_contains(&e, "checks[1].token: use only"));
    assert_true(any_contains(&e, "notifiers[0].url: expected"));
    config_errors_finish(&e);
    unsetenv("SW_T_SECRET");
}

/* Headers: names are tokens, unique ignoring case; values single-line. */
void test_headers(void **state)
{
    load_bad("checks:\n"
             "  - name: a\n"
             "    type: http\n"
             "    url: http://x\n"
             "    headers:\n"
             "      X-A: 1\n"
             "      x-a: 2\n"
             "      \"Bad Name\": 3\n"
             "      X-B: \"a\\r\\nInjected: yes\"\n"
             "      [x]: 1\n",
             NAME ":7:7: checks[0].headers.x-a: duplicate header",
             NAME ":8:7: checks[0].headers: bad header name \"Bad Name\"",
             NAME ":9:7: checks[0].headers.X-B: control characters are not allowed",
             NAME ":10:7: checks[0].headers: header names must be strings", NULL);
}

/* Many errors in one file are all reported, in file order. */
void test_many_errors_sorted(void **state)
{
    load_bad("alerts:\n"
             "  - {notify: [ghost]}\n"
             "checks:\n"
             "  - {name: a, type: tcp, host: h, port: 1, interval: 1x}\n"
             "  - {name: a, type: udp}\n"
             "daemon: {sockt: /x}\n",
             NAME ":2:15: alerts[0].notify[0]: unknown notifier \"ghost\"",
             NAME ":4:44: checks[0].interval: bad duration \"1x\" (use 500ms, 30s, 5m, 24h, 14d)",
             NAME ":5:6: checks[1].name: duplicate check name \"a\" (first at line 4)",
             NAME ":5:15: checks[1].type: unknown type \"udp\" (http, tcp, exec, heartbeat)",
             NAME ":6:10: daemon.sockt: unknown key", NULL);

    /* A flood of errors stops at a limit, with a last line saying so. */
    size_t cap = 300 * 40 + 64, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n += (size_t)snprintf(buf + n, cap - n, "checks:\n");
    for (int i = 0; i < 300; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "  - {name: c%d, type: x}\n", i);
    }
    struct config_errors e;
    load_fail(buf, &e);
    assert_int_equal(e.n, 201);
    assert_string_equal(e.msgs[200], NAME ": too many errors (200 shown); fix these first");
    config_errors_finish(&e);
    free(buf);
}

/* YAML syntax errors carry libyaml's text and position. */
void test_yaml_syntax(void **state)
{
    load_bad("checks:\n  - name: a\n   type: tcp\n",
             NAME ":3:4: did not find expected '-' indicator (while parsing a block collection "
                  "at line 2)",
             NULL);
    load_bad("a: b: c\n", NAME ":1:5: mapping values are not allowed in this context", NULL);
    load_bad("daemon: {socket: /x\n",
             NAME ":2:1: did not find expected ',' or '}' (while parsing a flow mapping at line "
                  "1)",
             NULL);
    load_bad("a: \"unterminated\n",
             NAME ":2:1: found unexpected end of stream (while scanning a quoted scalar at line "
                  "1)",
             NULL);
    load_bad("a: 1\n---\nb: 2\n", NAME ":2:1: only one YAML document is allowed", NULL);
    load_bad("checks:\n\t- a\n",
             NAME ":2:1: found character that cannot start any token (while scanning for the "
                  "next token at line 2)",
             NULL);
}
