/* test_config.c - loading, validating and freeing the YAML configuration. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cond.h"
#include "config.h"
#include "config_fixtures.h"

/* The example of DESIGN.md, "Configuration, by example", verbatim. */
static const char design_example[] =
    "daemon:\n"
    "  socket: /run/shipwatch/shipwatch.sock   # default: $XDG_RUNTIME_DIR/shipwatch.sock\n"
    "  http: 127.0.0.1:9321                    # /metrics, /healthz, webhooks, heartbeats\n"
    "  admins: [ops]                           # users or groups allowed to change state\n"
    "storage:\n"
    "  driver: sqlite                          # sqlite (default) | postgres\n"
    "  path: /var/lib/shipwatch/history.db\n"
    "  dsn: ${SHIPWATCH_PG_DSN:-}\n"
    "  retention: { raw: 14d, rollups: 400d }\n"
    "defaults:\n"
    "  interval: 30s\n"
    "  timeout: 5s\n"
    "  failure-threshold: 3\n"
    "  success-threshold: 2\n"
    "apps:\n"
    "  - name: api\n"
    "    deploy-token: ${API_DEPLOY_TOKEN}\n"
    "    verify: { window: 5m, interval: 5s }\n"
    "checks:\n"
    "  - name: api-health\n"
    "    app: api\n"
    "    env: production\n"
    "    type: http\n"
    "    url: https://api.example.com/healthz\n"
    "    interval: 15s\n"
    "    conditions:\n"
    "      - \"[STATUS] == 200\"\n"
    "      - \"[RESPONSE_TIME] < 500\"\n"
    "      - \"[BODY].status == UP\"\n"
    "      - \"[CERTIFICATE_EXPIRATION] > 336h\"\n"
    "  - name: api-db-port\n"
    "    app: api\n"
    "    env: production\n"
    "    type: tcp\n"
    "    host: 10.0.0.5\n"
    "    port: 5432\n"
    "  - name: nightly-backup\n"
    "    app: api\n"
    "    env: production\n"
    "    type: heartbeat\n"
    "    token: ${BACKUP_HB_TOKEN}\n"
    "    period: 24h\n"
    "    grace: 30m\n"
    "  - name: disk-root\n"
    "    app: host\n"
    "    type: exec\n"
    "    command: [\"/usr/lib/nagios/plugins/check_disk\", \"-w\", \"20%\", \"-c\", \"10%\", "
    "\"-p\", \"/\"]\n"
    "notifiers:\n"
    "  - name: ops\n"
    "    type: webhook                         # webhook | slack | discord | email | exec | "
    "alertmanager\n"
    "    url: ${OPS_WEBHOOK_URL}\n"
    "alerts:                                   # rules; each may match app, env, check; none = "
    "all checks\n"
    "  - notify: [ops]\n"
    "    severity: critical\n"
    "    send-on-resolved: true\n"
    "    repeat-interval: 1h\n";

/* The variables the example needs. */
static void set_example_env(void)
{
    setenv("API_DEPLOY_TOKEN", "tok-api-123", 1);
    setenv("BACKUP_HB_TOKEN", "hb-backup-456", 1);
    setenv("OPS_WEBHOOK_URL", "https://hooks.example.com/T0/secret", 1);
    unsetenv("SHIPWATCH_PG_DSN");
}

/* A check that is valid alone, for tests about something else. */
/* Every check type, as messages list them. */
#define TYPES "http, tcp, exec, heartbeat, disk, memory, load, cpu, file, process, log, dns, tls, icmp, grpc"

#define TCP_CHECK "checks:\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n"

/* ------------------------------------------------------------ valid files */

/* The DESIGN example loads, every value lands where it should. */
static void test_design_example(void **state)
{
    set_example_env();
    struct config *c = load_ok(design_example);
    assert_string_equal(c->path, NAME);
    assert_string_equal(c->daemon.socket, "/run/shipwatch/shipwatch.sock");
    assert_int_equal(c->daemon.nhttp, 1);
    assert_string_equal(c->daemon.http[0], "127.0.0.1:9321");
    assert_null(c->daemon.http[1]);
    assert_int_equal(c->daemon.nadmins, 1);
    assert_string_equal(c->daemon.admins[0], "ops");
    assert_int_equal(c->daemon.max_concurrency, CONFIG_DEFAULT_MAX_CONCURRENCY);
    assert_int_equal(c->daemon.drain_timeout_ms, CONFIG_DEFAULT_DRAIN_TIMEOUT_MS);
    assert_int_equal(c->daemon.ipc_max_message, CONFIG_DEFAULT_IPC_MAX_MESSAGE);

    assert_string_equal(c->storage.driver, "sqlite");
    assert_string_equal(c->storage.path, "/var/lib/shipwatch/history.db");
    assert_null(c->storage.dsn);
    assert_int_equal(c->storage.retention_raw_ms, 14LL * 86400000);
    assert_int_equal(c->storage.retention_rollups_ms, 400LL * 86400000);

    assert_int_equal(c->defaults.interval_ms, 30000);
    assert_int_equal(c->defaults.timeout_ms, 5000);
    assert_int_equal(c->defaults.failure_threshold, 3);
    assert_int_equal(c->defaults.success_threshold, 2);

    assert_int_equal(c->napps, 1);
    assert_string_equal(c->apps[0].name, "api");
    assert_string_equal(c->apps[0].deploy_token, "tok-api-123");
    assert_null(c->apps[0].deploy_secret);
    assert_int_equal(c->apps[0].verify_window_ms, 300000);
    assert_int_equal(c->apps[0].verify_interval_ms, 5000);
    assert_ptr_equal(config_find_app(c, "api"), &c->apps[0]);
    assert_null(config_find_app(c, "host"));

    assert_int_equal(c->nchecks, 4);
    const struct conf_check *h = config_find_check(c, "api-health");
    assert_ptr_equal(h, &c->checks[0]);
    assert_string_equal(h->app, "api");
    assert_string_equal(h->env, "production");
    assert_int_equal(h->kind, CHECK_HTTP);
    assert_string_equal(h->type_name, "http");
    assert_string_equal(h->url, "https://api.example.com/healthz");
    assert_string_equal(h->method, "GET");
    assert_int_equal(h->interval_ms, 15000);
    assert_int_equal(h->timeout_ms, 5000);
    assert_int_equal(h->failure_threshold, 3);
    assert_int_equal(h->success_threshold, 2);
    assert_false(h->paused);
    assert_false(h->follow_redirects);
    assert_true(h->verify_tls);
    assert_int_equal(h->max_body_bytes, CONFIG_DEFAULT_MAX_BODY_BYTES);
    assert_int_equal(h->nconditions, 4);
    assert_string_equal(h->conditions[0], "[STATUS] == 200");
    assert_string_equal(h->conditions[3], "[CERTIFICATE_EXPIRATION] > 336h");
    for (size_t i = 0; i < h->nconditions; i++) {
        assert_non_null(h->conds[i]);
    }
    assert_int_equal(h->line, 20);

    const struct conf_check *t = config_find_check(c, "api-db-port");
    assert_int_equal(t->kind, CHECK_TCP);
    assert_string_equal(t->host, "10.0.0.5");
    assert_int_equal(t->port, 5432);
    assert_int_equal(t->interval_ms, 30000);
    assert_int_equal(t->nconditions, 0);

    const struct conf_check *b = config_find_check(c, "nightly-backup");
    assert_int_equal(b->kind, CHECK_HEARTBEAT);
    assert_string_equal(b->token, "hb-backup-456");
    assert_int_equal(b->period_ms, 86400000);
    assert_int_equal(b->grace_ms, 1800000);
    assert_int_equal(b->failure_threshold, 1);
    assert_int_equal(b->success_threshold, 1);
    assert_int_equal(b->interval_ms, 10000);

    const struct conf_check *x = config_find_check(c, "disk-root");
    assert_int_equal(x->kind, CHECK_EXEC);
    assert_null(x->env);
    assert_int_equal(x->argc, 7);
    assert_string_equal(x->argv[0], "/usr/lib/nagios/plugins/check_disk");
    assert_string_equal(x->argv[6], "/");
    assert_null(x->argv[7]);
    assert_int_equal(x->max_output_bytes, CONFIG_DEFAULT_MAX_OUTPUT_BYTES);
    assert_null(config_find_check(c, "nope"));
    assert_null(config_find_check(c, ""));

    assert_int_equal(c->nnotifiers, 1);
    assert_string_equal(c->notifiers[0].name, "ops");
    assert_string_equal(c->notifiers[0].type, "webhook");
    assert_string_equal(c->notifiers[0].url, "https://hooks.example.com/T0/secret");

    assert_int_equal(c->nalerts, 1);
    assert_int_equal(c->alerts[0].nnotify, 1);
    assert_string_equal(c->alerts[0].notify[0], "ops");
    assert_string_equal(c->alerts[0].severity, "critical");
    assert_true(c->alerts[0].send_on_resolved);
    assert_int_equal(c->alerts[0].repeat_interval_ms, 3600000);
    assert_null(c->alerts[0].app);
    assert_null(c->alerts[0].check);
    config_destroy(c);
}

/* Find a file of the source tree from the build tree the test runs in:
 * path in buf (size n), or NULL. */
static const char *source_file(const char *rel, char *buf, size_t n)
{
    const char *ups[] = {"", "../", "../../", "../../../", "../../../../"};
    for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
        snprintf(buf, n, "%s%s", ups[i], rel);
        if (access(buf, R_OK) == 0) {
            return buf;
        }
    }
    return NULL;
}

/* Read a whole small file into a NUL-terminated malloc'd buffer. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The demo configuration shipped in examples/ loads. */
static void test_demo_file(void **state)
{
    char path[256];
    if (source_file("examples/demo.yml", path, sizeof(path)) == NULL) {
        skip();
    }
    setenv("SHIPWATCH_DEMO_DIR", "/tmp/sw-demo-test", 1);
    struct config *c = NULL;
    struct config_errors e = {0};
    int rc = config_load(path, &c, &e);
    for (size_t i = 0; i < e.n; i++) {
        print_error("  %s\n", e.msgs[i]);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(c->daemon.socket, "/tmp/sw-demo-test/shipwatch.sock");
    assert_true(c->nchecks >= 5);
    assert_int_equal(config_find_check(c, "shop-cache")->interval_ms, 10000);
    assert_int_equal(config_find_check(c, "shop-web")->interval_ms, 5000);
    /* The plugin's relative path is the file's directory's, whatever the
     * working directory: it names the script shipped beside it. */
    const char *plugin = config_find_check(c, "disk-tmp")->argv[0];
    assert_true(plugin[0] == '/');
    assert_non_null(strstr(plugin, "/examples/plugins/check_disk.sh"));
    assert_int_equal(access(plugin, X_OK), 0);
    assert_int_equal(c->nnotifiers, 1);
    assert_int_equal(c->nalerts, 1);
    config_destroy(c);
    unsetenv("SHIPWATCH_DEMO_DIR");
}

/* Program paths: relative ones are the configuration file's directory's,
 * bare names are left to PATH, absolute ones untouched. */
static void test_relative_programs(void **state)
{
    const char *tmp = getenv("TEST_TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/cfg-rel-%ld", tmp ? tmp : "/tmp", (long)getpid());
    assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof(path), "%s/s.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("checks:\n"
          "  - {name: a, type: exec, command: [plugins/check_a, -w, 1]}\n"
          "  - {name: b, type: exec, command: ./check_b}\n"
          "  - {name: c, type: exec, command: check_c}\n"
          "  - {name: d, type: exec, command: /usr/lib/check_d}\n"
          "notifiers:\n"
          "  - {name: n, type: exec, command: [bin/page, x]}\n",
          f);
    fclose(f);
    struct config *c = NULL;
    struct config_errors e = {0};
    assert_int_equal(config_load(path, &c, &e), 0);
    char *real = realpath(dir, NULL);
    assert_non_null(real);
    char want[4300];
    snprintf(want, sizeof(want), "%s/plugins/check_a", real);
    assert_string_equal(config_find_check(c, "a")->argv[0], want);
    assert_string_equal(config_find_check(c, "a")->argv[1], "-w");
    snprintf(want, sizeof(want), "%s/check_b", real);
    assert_string_equal(config_find_check(c, "b")->argv[0], want);
    assert_string_equal(config_find_check(c, "c")->argv[0], "check_c");
    assert_string_equal(config_find_check(c, "d")->argv[0], "/usr/lib/check_d");
    snprintf(want, sizeof(want), "%s/bin/page", real);
    assert_string_equal(c->notifiers[0].argv[0], want);
    config_destroy(c);
    free(real);
    unlink(path);
    rmdir(dir);
}

/* Every YAML block of docs/configuration.md that holds a whole file loads,
 * the full example with the values the text promises. */
static void test_docs_examples(void **state)
{
    char path[256];
    if (source_file("docs/configuration.md", path, sizeof(path)) == NULL) {
        skip();
    }
    char *doc = slurp(path);
    set_example_env();
    unsetenv("API_DEPLOY_SECRET");
    setenv("API_PROBE_TOKEN", "probe-1", 1);
    setenv("REDIS_PASSWORD", "pw", 1);
    setenv("SHIPWATCH_CLUSTER_KEY", "a-key-of-the-cluster-0123", 1);
    unsetenv("SMTP_URL");
    int blocks = 0;
    struct config *full = NULL;
    for (char *p = strstr(doc, "```yaml\n"); p != NULL; p = strstr(p, "```yaml\n")) {
        p += strlen("```yaml\n");
        char *end = strstr(p, "```\n");
        assert_non_null(end);
        *end = '\0';
        /* Fragments (a conditions: list alone) are not whole files. */
        if (strncmp(p, "conditions:", 11) != 0) {
            struct config *c = load_ok(p);
            blocks++;
            if (strstr(p, "nightly-backup") != NULL) {
                full = c;
            } else {
                config_destroy(c);
            }
        }
        p = end + 4;
    }
    assert_int_equal(blocks, 15);
    assert_non_null(full);
    assert_int_equal(full->nchecks, 6);
    assert_int_equal(full->nnotifiers, 3);
    assert_int_equal(full->nalerts, 3);
    const struct conf_check *login = config_find_check(full, "api-login");
    assert_int_equal(login->nconditions, 2);
    assert_true(login->follow_redirects);
    assert_string_equal(login->method, "POST");
    assert_true(config_find_check(full, "api-staging")->paused);
    assert_string_equal(config_find_check(full, "api-health")->headers[0].value, "Bearer probe-1");
    assert_null(full->apps[0].deploy_secret);
    assert_string_equal(full->notifiers[1].url, "smtp://localhost:25");
    assert_int_equal(full->notifiers[2].argc, 1);
    config_destroy(full);
    free(doc);
    unsetenv("API_PROBE_TOKEN");
    unsetenv("REDIS_PASSWORD");
    unsetenv("SHIPWATCH_CLUSTER_KEY");
}

/* A file with one check and nothing else gets every default. */
/* A value takes the memory of its own length, written plainly or through
 * ${VAR}: the daemon keeps every one for its lifetime, a few a check, so a
 * buffer of a string builder's first size each was 256 bytes a value. */
static void test_values_take_their_size(void **state)
{
    (void)state;
    setenv("SW_TEST_HOST", "db.internal", 1);
    struct config *c = load_ok("checks:\n  - name: a\n    type: tcp\n"
                               "    host: ${SW_TEST_HOST}\n    port: 1\n");
    const struct conf_check *k = &c->checks[0];
    assert_string_equal(k->name, "a");
    assert_string_equal(k->host, "db.internal");
    assert_true(malloc_usable_size((void *)k->name) < 64);
    assert_true(malloc_usable_size((void *)k->host) < 64);
    config_destroy(c);
    unsetenv("SW_TEST_HOST");
}

static void test_minimal(void **state)
{
    struct config *c = load_ok(TCP_CHECK);
    assert_int_equal(c->nchecks, 1);
    const struct conf_check *k = &c->checks[0];
    assert_int_equal(k->interval_ms, CONFIG_DEFAULT_INTERVAL_MS);
    assert_int_equal(k->timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
    assert_int_equal(k->failure_threshold, CONFIG_DEFAULT_FAILURE_THRESHOLD);
    assert_int_equal(k->success_threshold, CONFIG_DEFAULT_SUCCESS_THRESHOLD);
    assert_null(k->app);
    assert_int_equal(c->daemon.nhttp, 1);
    assert_string_equal(c->daemon.http[0], CONFIG_DEFAULT_HTTP);
    assert_string_equal(c->storage.driver, "sqlite");
    assert_non_null(c->storage.path);
    assert_non_null(c->daemon.socket);
    assert_int_equal(c->storage.retention_raw_ms, CONFIG_DEFAULT_RETENTION_RAW_MS);
    assert_int_equal(c->storage.retention_rollups_ms, CONFIG_DEFAULT_RETENTION_ROLLUPS_MS);
    assert_int_equal(c->napps + c->nnotifiers + c->nalerts, 0);
    config_destroy(c);

    /* An empty mapping is a configuration with nothing to check. */
    c = load_ok("{}\n");
    assert_int_equal(c->nchecks, 0);
    config_destroy(c);
}

/* defaults: apply to checks that do not set the key, wherever it sits. */
static void test_defaults_inherited(void **state)
{
    struct config *c = load_ok("checks:\n"
                               "  - {name: a, type: tcp, host: h, port: 1}\n"
                               "  - {name: b, type: tcp, host: h, port: 1, interval: 1m,"
                               " failure-threshold: 7, timeout: 20s}\n"
                               "  - {name: hb, type: heartbeat, token: t, period: 1h}\n"
                               "  - {name: hb2, type: heartbeat, token: t2, period: 1h,"
                               " interval: 1s, failure-threshold: 4}\n"
                               "defaults:\n"
                               "  interval: 100ms\n"
                               "  timeout: 20s\n"
                               "  failure-threshold: 5\n"
                               "  success-threshold: 6\n");
    assert_int_equal(c->checks[0].interval_ms, 100);
    assert_int_equal(c->checks[0].timeout_ms, 20000);
    assert_int_equal(c->checks[0].failure_threshold, 5);
    assert_int_equal(c->checks[0].success_threshold, 6);
    assert_int_equal(c->checks[1].interval_ms, 60000);
    assert_int_equal(c->checks[1].failure_threshold, 7);
    assert_int_equal(c->checks[1].success_threshold, 6);
    assert_int_equal(c->checks[2].interval_ms, 10000);
    assert_int_equal(c->checks[2].failure_threshold, 1);
    assert_int_equal(c->checks[2].success_threshold, 1);
    assert_int_equal(c->checks[2].grace_ms, 0);
    assert_int_equal(c->checks[3].interval_ms, 1000);
    assert_int_equal(c->checks[3].failure_threshold, 4);
    config_destroy(c);
}

/* daemon.http takes one string, or a list; an empty list turns HTTP off. */
static void test_http_forms(void **state)
{
    struct config *c = load_ok("daemon:\n  http: 0.0.0.0:80\n" TCP_CHECK);
    assert_int_equal(c->daemon.nhttp, 1);
    assert_string_equal(c->daemon.http[0], "0.0.0.0:80");
    config_destroy(c);

    c = load_ok("daemon:\n  http: [\"127.0.0.1:9321\", \"[::1]:9321\"]\n" TCP_CHECK);
    assert_int_equal(c->daemon.nhttp, 2);
    assert_string_equal(c->daemon.http[1], "[::1]:9321");
    assert_null(c->daemon.http[2]);
    config_destroy(c);

    c = load_ok("daemon:\n  http:\n    - localhost:1\n    - 10.1.2.3:65535\n" TCP_CHECK);
    assert_int_equal(c->daemon.nhttp, 2);
    config_destroy(c);

    c = load_ok("daemon:\n  http: []\n" TCP_CHECK);
    assert_int_equal(c->daemon.nhttp, 0);
    config_destroy(c);

    /* Port 0 asks for a free port (the daemon logs which). */
    c = load_ok("daemon:\n  http: 127.0.0.1:0\n" TCP_CHECK);
    assert_string_equal(c->daemon.http[0], "127.0.0.1:0");
    config_destroy(c);

    load_bad("daemon:\n  http: [localhost, \"::1:80\", \"h:-1\", \"h:70000\", {a: b}]\n",
             NAME ":2:10: daemon.http[0]: expected HOST:PORT, such as 127.0.0.1:9321 or "
                  "[::1]:9321",
             NAME ":2:21: daemon.http[1]: expected HOST:PORT, such as 127.0.0.1:9321 or "
                  "[::1]:9321",
             NAME ":2:31: daemon.http[2]: expected HOST:PORT, such as 127.0.0.1:9321 or "
                  "[::1]:9321",
             NAME ":2:39: daemon.http[3]: expected HOST:PORT, such as 127.0.0.1:9321 or "
                  "[::1]:9321",
             NAME ":2:50: daemon.http[4]: expected a string", NULL);
}

/* Every key of every section, set to a non-default value. */
static void test_all_keys(void **state)
{
    setenv("SW_T_DSN", "postgres://u:p@h/db", 1);
    struct config *c =
        load_ok("daemon:\n"
                "  socket: /tmp/x.sock\n"
                "  admins: [ops, \"deploy-bot\"]\n"
                "  max-concurrency: 100000\n"
                "  drain-timeout: 2s\n"
                "  ipc-max-message: 4MiB\n"
                "storage:\n"
                "  driver: postgres\n"
                "  dsn: ${SW_T_DSN}\n"
                "  retention:\n"
                "    raw: 1h\n"
                "    rollups: 1h\n"
                "apps:\n"
                "  - name: shop\n"
                "    deploy-token: abc\n"
                "    deploy-secret: \"s3cr3t!\"\n"
                "    verify: {window: 1s, interval: 100ms}\n"
                "checks:\n"
                "  - name: web\n"
                "    type: http\n"
                "    url: HTTP://h/\n"
                "    method: POST\n"
                "    headers:\n"
                "      Authorization: Bearer x\n"
                "      X-Empty: \"\"\n"
                "    body: '{\"a\": 1}'\n"
                "    follow-redirects: yes\n"
                "    verify-tls: off\n"
                "    max-body: 1MiB\n"
                "    enabled: false\n"
                "    timeout: 1ms\n"
                "    success-threshold: 1000\n"
                "  - name: cmd\n"
                "    type: exec\n"
                "    command: /bin/true\n"
                "    max-output: 100\n"
                "notifiers:\n"
                "  - {name: mail, type: email, url: \"smtps://u:p@mx:465\", from: a@b, to: c@d}\n"
                "  - {name: run, type: exec, command: [/bin/echo, hi]}\n"
                "  - {name: am, type: alertmanager, url: \"http://am:9093\"}\n"
                "alerts:\n"
                "  - {notify: mail, app: shop, env: prod, check: web, severity: info}\n"
                "  - {notify: [run, am], send-on-resolved: no}\n");
    unsetenv("SW_T_DSN");
    assert_string_equal(c->daemon.socket, "/tmp/x.sock");
    assert_int_equal(c->daemon.nadmins, 2);
    assert_int_equal(c->daemon.max_concurrency, 100000);
    assert_int_equal(c->daemon.drain_timeout_ms, 2000);
    assert_int_equal(c->daemon.ipc_max_message, 4 * 1024 * 1024);
    assert_string_equal(c->storage.driver, "postgres");
    assert_string_equal(c->storage.dsn, "postgres://u:p@h/db");
    assert_null(c->storage.path);
    assert_int_equal(c->storage.retention_raw_ms, 3600000);
    assert_string_equal(c->apps[0].deploy_secret, "s3cr3t!");
    assert_int_equal(c->apps[0].verify_window_ms, 1000);
    assert_int_equal(c->apps[0].verify_interval_ms, 100);
    const struct conf_check *w = &c->checks[0];
    assert_string_equal(w->url, "HTTP://h/");
    assert_string_equal(w->method, "POST");
    assert_int_equal(w->nheaders, 2);
    assert_string_equal(w->headers[0].name, "Authorization");
    assert_string_equal(w->headers[0].value, "Bearer x");
    assert_string_equal(w->headers[1].value, "");
    assert_string_equal(w->body, "{\"a\": 1}");
    assert_true(w->follow_redirects);
    assert_false(w->verify_tls);
    assert_int_equal(w->max_body_bytes, 1024 * 1024);
    assert_true(w->paused);
    assert_int_equal(w->timeout_ms, 1);
    assert_int_equal(w->success_threshold, 1000);
    const struct conf_check *x = &c->checks[1];
    assert_int_equal(x->argc, 1);
    assert_string_equal(x->argv[0], "/bin/true");
    assert_null(x->argv[1]);
    assert_int_equal(x->max_output_bytes, 100);
    assert_string_equal(c->notifiers[0].from, "a@b");
    assert_int_equal(c->notifiers[0].nto, 1);
    assert_string_equal(c->notifiers[0].to[0], "c@d");
    assert_int_equal(c->notifiers[1].argc, 2);
    assert_string_equal(c->notifiers[1].argv[1], "hi");
    assert_string_equal(c->alerts[0].check, "web");
    assert_string_equal(c->alerts[0].severity, "info");
    assert_false(c->alerts[1].send_on_resolved);
    assert_int_equal(c->alerts[1].nnotify, 2);
    config_destroy(c);
}

/* A command written as one string is one argv word: never split. */
static void test_command_string(void **state)
{
    struct config *c = load_ok("checks:\n  - name: a\n    type: exec\n"
                               "    command: /usr/bin/check thing --flag\n");
    assert_int_equal(c->checks[0].argc, 1);
    assert_string_equal(c->checks[0].argv[0], "/usr/bin/check thing --flag");
    config_destroy(c);

    /* Empty arguments after the program are kept. */
    c = load_ok("checks:\n  - {name: a, type: exec, command: [prog, \"\", x]}\n");
    assert_int_equal(c->checks[0].argc, 3);
    assert_string_equal(c->checks[0].argv[1], "");
    config_destroy(c);

    load_bad("checks:\n  - {name: a, type: exec, command: []}\n"
             "  - {name: b, type: exec, command: [\"\", x]}\n"
             "  - {name: c, type: exec, command: {a: b}}\n",
             NAME ":2:27: checks[0].command: needs a program to run",
             NAME ":3:27: checks[1].command: needs a program to run",
             NAME ":4:27: checks[2].command: expected a list", NULL);
}

/* ${VAR}, ${VAR:-default}, $$ and what is left alone. */
static void test_env_expansion(void **state)
{
    setenv("SW_T_HOST", "db.internal", 1);
    setenv("SW_T_PORT", "6543", 1);
    setenv("SW_T_EMPTY", "", 1);
    unsetenv("SW_T_UNSET");
    struct config *c = load_ok("checks:\n"
                               "  - name: a-${SW_T_HOST}\n"
                               "    type: tcp\n"
                               "    host: ${SW_T_HOST}\n"
                               "    port: ${SW_T_PORT}\n"
                               "    env: ${SW_T_UNSET:-staging}\n"
                               "    app: ${SW_T_EMPTY:-fallback}\n"
                               "  - name: \"cost$$5 $x $ ${SW_T_UNSET:-}end\"\n"
                               "    type: tcp\n"
                               "    host: h\n"
                               "    port: ${SW_T_UNSET:-22}\n"
                               "    env: ${SW_T_EMPTY}\n"
                               "    app: ${SW_T_UNSET:-a:b-}\n");
    assert_string_equal(c->checks[0].name, "a-db.internal");
    assert_string_equal(c->checks[0].host, "db.internal");
    assert_int_equal(c->checks[0].port, 6543);
    assert_string_equal(c->checks[0].env, "staging");
    assert_string_equal(c->checks[0].app, "fallback");
    assert_string_equal(c->checks[1].name, "cost$5 $x $ end");
    assert_int_equal(c->checks[1].port, 22);
    assert_null(c->checks[1].env); /* empty is the same as absent */
    assert_string_equal(c->checks[1].app, "a:b-");
    config_destroy(c);

    /* Keys are never expanded. */
    load_bad("${SW_T_HOST}: 1\n", NAME ":1:1: ${SW_T_HOST}: unknown key", NULL);

    load_bad("apps:\n  - name: api\n    deploy-token: ${SW_T_UNSET}\n",
             NAME ":3:5: apps[0].deploy-token: environment variable SW_T_UNSET is not set", NULL);
    load_bad("checks:\n  - {name: \"a${SW_T_HOST\", type: tcp, host: h, port: 1}\n",
             NAME ":2:6: checks[0].name: unterminated ${ (write $$ for a literal $)", NULL);
    load_bad("checks:\n  - {name: \"${SW_T_UNSET:-x\", type: tcp, host: h, port: 1}\n",
             NAME ":2:6: checks[0].name: unterminated ${ (write $$ for a literal $)", NULL);
    load_bad("checks:\n  - {name: \"${}\", type: tcp, host: h, port: 1}\n"
             "  - {name: \"${A-b}\", type: tcp, host: h, port: 1}\n"
             "  - {name: \"${9A}\", type: tcp, host: h, port: 1}\n",
             NAME ":2:6: checks[0].name: bad variable name in ${...}",
             NAME ":3:6: checks[1].name: bad ${...}: use ${NAME} or ${NAME:-default}",
             NAME ":4:6: checks[2].name: bad ${...}: use ${NAME} or ${NAME:-default}", NULL);
    /* Expansion comes before conversion: a bad port from the environment. */
    setenv("SW_T_PORT", "http", 1);
    load_bad("checks:\n  - {name: a, type: tcp, host: h, port: \"${SW_T_PORT}\"}\n",
             NAME ":2:35: checks[0].port: expected an integer from 1 to 65535", NULL);
    /* An unset variable in a list item names the item. */
    load_bad("checks:\n  - name: a\n    type: exec\n    command: [x, \"${SW_T_UNSET}\"]\n",
             NAME ":4:18: checks[0].command[1]: environment variable SW_T_UNSET is not set", NULL);
    unsetenv("SW_T_HOST");
    unsetenv("SW_T_PORT");
    unsetenv("SW_T_EMPTY");
}

/* Anchors and aliases work for values; merge keys do not exist. */
static void test_aliases(void **state)
{
    struct config *c =
        load_ok("x-common: &conds\n"
                "  - \"[CONNECTED] == true\"\n"
                "x-hosts: &host db.internal\n"
                "checks:\n"
                "  - {name: a, type: tcp, host: *host, port: 1, conditions: *conds}\n"
                "  - {name: b, type: tcp, host: *host, port: 2, conditions: *conds}\n");
    assert_string_equal(c->checks[1].host, "db.internal");
    assert_int_equal(c->checks[1].nconditions, 1);
    assert_string_equal(c->checks[1].conditions[0], "[CONNECTED] == true");
    assert_ptr_not_equal(c->checks[0].conds[0], c->checks[1].conds[0]);
    config_destroy(c);

    load_bad("checks:\n  - {name: a, type: tcp, host: *nope, port: 1}\n",
             NAME ":2:32: unknown alias *nope", NULL);
    /* An alias inside its own anchor is not yet defined: no cycles. */
    load_bad("a: &x [*x]\n", NAME ":1:8: unknown alias *x", NULL);
    load_bad("checks:\n  - <<: {name: a}\n", NAME ":2:5: checks[0].<<: unknown key",
             NAME ":2:5: checks[0]: check needs a name",
             NAME ":2:5: checks[0]: check needs a type (" TYPES ")", NULL);
}

/* config_load reads a file; errors name the path. */
static void test_load_file(void **state)
{
    const char *dir = getenv("TEST_TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/cfg-test-%ld.yml", dir ? dir : "/tmp", (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(TCP_CHECK "  - {name: a, type: tcp, host: h, port: 2}\n", f);
    fclose(f);

    struct config *c = (struct config *)0x1;
    struct config_errors e = {0};
    assert_int_equal(config_load(path, &c, &e), -EINVAL);
    assert_null(c);
    assert_int_equal(e.n, 1);
    char want[4200];
    snprintf(want, sizeof(want),
             "%s:6:6: checks[1].name: duplicate check name \"a\" (first at "
             "line 2)",
             path);
    assert_string_equal(e.msgs[0], want);
    config_errors_finish(&e);
    assert_int_equal(e.n, 0);
    assert_null(e.msgs);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs(TCP_CHECK, f);
    fclose(f);
    assert_int_equal(config_load(path, &c, &e), 0);
    assert_string_equal(c->path, path);
    config_destroy(c);
    unlink(path);

    c = (struct config *)0x1;
    assert_int_equal(config_load(path, &c, &e), -ENOENT);
    assert_null(c);
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0], want);
    config_errors_finish(&e);

    /* A directory opens but cannot be read. */
    assert_int_equal(config_load(dir ? dir : "/tmp", &c, &e), -EISDIR);
    assert_true(any_contains(&e, "cannot read"));
    config_errors_finish(&e);

    /* A file over 32 MiB is refused before parsing. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("checks: []\n", f);
    for (int i = 0; i < 32 * 1024; i++) {
        char line[1025];
        memset(line, '#', 1023);
        line[1023] = '\n';
        line[1024] = '\0';
        fputs(line, f);
    }
    fclose(f);
    assert_int_equal(config_load(path, &c, &e), -EINVAL);
    assert_null(c);
    snprintf(want, sizeof(want), "%s: file too large (over 32 MiB)", path);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msgs[0], want);
    config_errors_finish(&e);
    unlink(path);
}

/* -------------------------------------------------------- error classes */

/* Unknown keys at every level, with their path and position. */
static void test_unknown_keys(void **state)
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
static void test_duplicate_keys(void **state)
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
static void test_wrong_types(void **state)
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
static void test_bad_values(void **state)
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
             NAME ":20:15: checks[5].type: unknown type \"htp\" (" TYPES ")",
             NAME ":21:44: checks[6].interval: bad duration \"5x\" (use 500ms, 30s, 5m, 24h, "
                  "14d)",
             NULL);
}

/* What each check type needs, and keys that belong to another type. */
static void test_required_keys(void **state)
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
             NAME ":3:5: checks[1]: check needs a type (" TYPES ")",
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
static void test_duplicate_names(void **state)
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
static void test_bad_condition(void **state)
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
static void test_alert_references(void **state)
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
static void test_notifiers(void **state)
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
                  "email, exec, alertmanager, ntfy, pagerduty, opsgenie, teams, telegram, "
                  "mattermost, googlechat, pushover, gotify, matrix)",
             NAME ":6:5: notifiers[4]: notifier needs a type (webhook, slack, discord, email, "
                  "exec, alertmanager, ntfy, pagerduty, opsgenie, teams, telegram, mattermost, "
                  "googlechat, pushover, gotify, matrix)",
             NAME ":7:28: notifiers[5].url: expected an http:// or https:// URL",
             NAME ":7:54: notifiers[5].from: not a key of slack notifiers", NULL);
}

/* Alert rule keys, depends-on and maintenance windows: defaults, values. */
static void test_alerting_keys(void **state)
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
static void test_alerting_bad(void **state)
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
static void test_scaling_keys(void **state)
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
                               "redis: {url: \"redis://:pw@127.0.0.1:6380/2\", prefix: sw,\n"
                               "        key: 0123456789abcdef}\n"
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
    assert_string_equal(c->redis.key, "0123456789abcdef");
    assert_false(c->redis.insecure);
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

    /* A cluster trusts Redis with which daemon runs what: AUTH and a key
     * are required, unless insecure says otherwise in so many words. */
    load_bad("redis: {url: \"redis://127.0.0.1:6380/2\"}\ncluster: eu\n" TCP_CHECK,
             NAME ":2:1: cluster: redis.url has no password; a cluster needs Redis AUTH "
                  "(redis://:PASSWORD@host, Redis's requirepass), or redis.insecure: true",
             NAME ":2:1: cluster: needs redis.key, a secret of at least 16 characters shared by "
                  "the daemons to sign their messages, or redis.insecure: true",
             NULL);
    load_bad("redis: {url: \"redis://:@h\", key: 0123456789abcdef}\ncluster: eu\n" TCP_CHECK,
             NAME ":2:1: cluster: redis.url has no password; a cluster needs Redis AUTH "
                  "(redis://:PASSWORD@host, Redis's requirepass), or redis.insecure: true",
             NULL);
    load_bad("redis: {url: \"redis://:pw@h\", key: short-key}\ncluster: eu\n" TCP_CHECK,
             NAME ":1:31: redis.key: too short: at least 16 characters",
             NAME ":2:1: cluster: needs redis.key, a secret of at least 16 characters shared by "
                  "the daemons to sign their messages, or redis.insecure: true",
             NULL);
    c = load_ok("redis: {url: \"redis://h\", insecure: true}\ncluster: eu\n" TCP_CHECK);
    assert_true(c->redis.insecure);
    assert_null(c->redis.key);
    config_destroy(c);
    /* A unix socket is guarded by its file mode: the key alone will do. */
    c = load_ok("redis: {url: \"unix:///run/redis.sock\", key: 0123456789abcdef}\n"
                "cluster: eu\n" TCP_CHECK);
    config_destroy(c);
    /* Fan-out alone shares no checks: neither is required. */
    c = load_ok("redis: {url: \"redis://h\"}\n" TCP_CHECK);
    config_destroy(c);
}

/* A chain of depends-on that comes back to its start is refused. */
static void test_dependency_cycle(void **state)
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
static void test_secrets_not_shown(void **state)
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
static void test_headers(void **state)
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
static void test_many_errors_sorted(void **state)
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
             NAME ":5:15: checks[1].type: unknown type \"udp\" (" TYPES ")",
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
static void test_yaml_syntax(void **state)
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

/* Every prefix of a valid file loads or fails cleanly. */
static void test_truncated(void **state)
{
    set_example_env();
    size_t len = strlen(design_example);
    size_t valid = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct config *c = NULL;
        struct config_errors e = {0};
        int rc = config_load_buffer(NAME, design_example, cut, &c, &e);
        if (rc == 0) {
            assert_non_null(c);
            assert_int_equal(e.n, 0);
            valid++;
            config_destroy(c);
        } else {
            assert_int_equal(rc, -EINVAL);
            assert_null(c);
            assert_true(e.n >= 1);
        }
        config_errors_finish(&e);
    }
    /* Some prefixes end on a line and are valid, many are not. */
    assert_true(valid > 10);
    assert_true(valid < len / 2);
}

/* --------------------------------------------------------- environment */

/* Expected default paths for the current user; writes 0 on success. */
static int check_default_paths(void)
{
    unsetenv("STATE_DIRECTORY");
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    setenv("XDG_STATE_HOME", "/home/u/.st", 1);
    struct config_errors e = {0};
    struct config *c = NULL;
    if (config_load_buffer(NAME, TCP_CHECK, strlen(TCP_CHECK), &c, &e) != 0) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("  %s\n", e.msgs[i]);
        }
        config_errors_finish(&e);
        return 8;
    }
    int bad = 0;
    if (geteuid() == 0) {
        bad |= strcmp(c->daemon.socket, "/run/shipwatch/shipwatch.sock") != 0;
        bad |= strcmp(c->storage.path, "/var/lib/shipwatch/history.db") != 0;
    } else {
        bad |= strcmp(c->daemon.socket, "/run/user/4242/shipwatch.sock") != 0 ? 16 : 0;
        bad |= strcmp(c->storage.path, "/home/u/.st/shipwatch/history.db") != 0 ? 32 : 0;
        config_destroy(c);
        unsetenv("XDG_RUNTIME_DIR");
        unsetenv("XDG_STATE_HOME");
        setenv("HOME", "/home/zed", 1);
        if (config_load_buffer(NAME, TCP_CHECK, strlen(TCP_CHECK), &c, &e) != 0) {
            config_errors_finish(&e);
            return 8;
        }
        char want[64];
        snprintf(want, sizeof(want), "/tmp/shipwatch-%u/shipwatch.sock", (unsigned)geteuid());
        bad |= strcmp(c->daemon.socket, want) != 0;
        bad |= strcmp(c->storage.path, "/home/zed/.local/state/shipwatch/history.db") != 0 ? 2 : 0;
        /* A relative XDG path is ignored, as the spec says. */
        config_destroy(c);
        setenv("XDG_RUNTIME_DIR", "relative", 1);
        if (config_load_buffer(NAME, TCP_CHECK, strlen(TCP_CHECK), &c, &e) != 0) {
            config_errors_finish(&e);
            return 8;
        }
        bad |= strcmp(c->daemon.socket, want) != 0 ? 4 : 0;
    }
    config_destroy(c);
    return bad;
}

/* Default socket and database paths, as root and as another user. */
static void test_default_paths(void **state)
{
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    assert_int_equal(check_default_paths(), 0);
    if (geteuid() == 0) {
        /* Also check the unprivileged branch in a child that drops root. */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) {
                _exit(99);
            }
            _exit(check_default_paths());
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("XDG_STATE_HOME");
    if (saved_home != NULL) {
        setenv("HOME", saved_home, 1);
        free(saved_home);
    }

    /* Under systemd, $STATE_DIRECTORY (its first entry) is the directory. */
    setenv("STATE_DIRECTORY", "/x:/y", 1);
    struct config *sc = load_ok(TCP_CHECK);
    assert_string_equal(sc->storage.path, "/x/history.db");
    assert_string_equal(sc->storage.spool, "/x/spool");
    config_destroy(sc);
    unsetenv("STATE_DIRECTORY");

    /* A socket path longer than a sockaddr_un holds is refused. */
    char buf[512];
    snprintf(buf, sizeof(buf), "daemon:\n  socket: /%0120d.sock\n" TCP_CHECK, 0);
    load_bad(buf, NAME ":2:3: daemon.socket: path too long for a Unix socket (at most 107 bytes)",
             NULL);
}

/* NULL and empty values are no-ops where the header says so. */
static void test_free_null(void **state)
{
    config_destroy(NULL);
    struct config_errors e = {0};
    config_errors_finish(&e);
    config_errors_finish(NULL);
    assert_null(config_find_check(NULL, "a"));
    assert_null(config_find_app(NULL, "a"));
    struct config *c = load_ok(TCP_CHECK);
    assert_null(config_find_app(c, "a"));
    assert_null(config_find_check(c, NULL));
    config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_demo_file),
        cmocka_unit_test(test_relative_programs),
        cmocka_unit_test(test_docs_examples),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_values_take_their_size),
        cmocka_unit_test(test_defaults_inherited),
        cmocka_unit_test(test_http_forms),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_command_string),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_bad_condition),
        cmocka_unit_test(test_alert_references),
        cmocka_unit_test(test_notifiers),
        cmocka_unit_test(test_alerting_keys),
        cmocka_unit_test(test_alerting_bad),
        cmocka_unit_test(test_scaling_keys),
        cmocka_unit_test(test_dependency_cycle),
        cmocka_unit_test(test_secrets_not_shown),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_many_errors_sorted),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_default_paths),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
