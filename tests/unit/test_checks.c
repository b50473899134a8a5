/* test_checks.c - every checker on its own loop, without a daemon: HTTP
 * against a canned local server, TCP against a listening and a closed
 * port, exec with real /bin/sh plugins, heartbeats on a fake clock; and
 * what each type shows of its target. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <cmocka.h>

#include "check.h"
#include "child.h"
#include "config.h"
#include "harness.h"
#include "harness_checks.h"
#include "harness_httpd.h"
#include "util.h"

#define T0_MS 1700000000000LL       /* the fake clock's start */
#define DEADLINE_MS 5000            /* a run that takes longer fails the test */
#define YAML_MAX 4096

/* One test's world: the env, a configuration, its checks. */
struct fixture {
    struct harness_checks h;
    struct harness_check_set set;
};

/* Load the YAML of a printf format and create its checks. */
#define load(f, ...) assert_int_equal(harness_check_set_load(&(f)->set, __VA_ARGS__), 0)

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(harness_checks_init(&f->h, T0_MS), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(harness_checks_finish(&f->h), 0);
    harness_check_set_finish(&f->set);
    free(f);
    return 0;
}

/* The check named name. */
static struct check *check_named(struct fixture *f, const char *name)
{
    struct check *c = harness_check_set_find(&f->set, name);
    if (c == NULL) {
        fail_msg("no check %s", name);
    }
    return c;
}

/* Run the check named name once; its result. */
static const struct result *run(struct fixture *f, const char *name)
{
    const struct result *r = harness_checks_run(&f->h, check_named(f, name), DEADLINE_MS);
    assert_non_null(r);
    return r;
}

/* --- describe --- */

static void describe_leaves_secrets_out(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: web, type: http, url: 'https://bob:hunter2@example.com:8443/health?x=1'}\n"
            "  - {name: plain, type: http, url: 'http://example.com/a@b'}\n"
            "  - {name: db, type: tcp, host: 10.0.0.5, port: 5432}\n"
            "  - {name: disk, type: exec, command: [/usr/lib/check_disk, -w, '20%%']}\n"
            "  - {name: backup, type: heartbeat, token: s3cret-token, period: 24h, grace: 30m}\n");
    char out[256];
    check_describe(check_named(f, "web")->conf, out, sizeof(out));
    assert_string_equal(out, "https://***@example.com:8443/health?x=1");
    assert_null(strstr(out, "hunter2"));
    /* An @ in the path is not a password. */
    check_describe(check_named(f, "plain")->conf, out, sizeof(out));
    assert_string_equal(out, "http://example.com/a@b");
    check_describe(check_named(f, "db")->conf, out, sizeof(out));
    assert_string_equal(out, "10.0.0.5:5432");
    check_describe(check_named(f, "disk")->conf, out, sizeof(out));
    assert_string_equal(out, "/usr/lib/check_disk -w 20%");
    check_describe(check_named(f, "backup")->conf, out, sizeof(out));
    assert_string_equal(out, "every 86400s, 1800s grace");
    /* A short buffer truncates, always terminated. */
    char small[8];
    check_describe(check_named(f, "disk")->conf, small, sizeof(small));
    assert_string_equal(small, "/usr/li");
    /* Every type has a describe. */
    for (int k = 0; check_type_for((enum check_kind)k) != NULL; k++) {
        assert_non_null(check_type_for((enum check_kind)k)->describe);
    }
}

/* --- http --- */

static void http_up_when_conditions_hold(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "{\"status\": \"UP\"}");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - name: api\n"
         "    type: http\n"
         "    url: http://127.0.0.1:%d/health\n"
         "    conditions: ['[STATUS] == 200', '[BODY].status == UP', '[RESPONSE_TIME] < 5000']\n",
         harness_httpd_port(srv));
    const struct result *r = run(f, "api");
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->error, "");
    assert_string_equal(r->failed_condition, "");
    assert_int_equal(r->started_ms, T0_MS);
    assert_true(r->duration_us > 0);
    assert_int_equal(harness_httpd_requests(srv), 1);
    const char *req = harness_httpd_last_request(srv);
    assert_true(strncmp(req, "GET /health HTTP/1.1\r\n", 22) == 0);
    assert_non_null(strstr(req, "User-Agent: shipwatch/"));
    assert_int_equal(check_named(f, "api")->runs_total, 1);
    assert_null(check_named(f, "api")->run);
    harness_httpd_stop(srv);
}

static void http_down_on_error_status_or_failed_condition(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 503, "maintenance");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - {name: bare, type: http, url: 'http://127.0.0.1:%d/'}\n"
         "  - {name: cond, type: http, url: 'http://127.0.0.1:%d/',\n"
         "     conditions: ['[STATUS] == 200']}\n"
         "  - {name: body, type: http, url: 'http://127.0.0.1:%d/',\n"
         "     conditions: ['[BODY] == pat(*maint*)']}\n",
         harness_httpd_port(srv), harness_httpd_port(srv), harness_httpd_port(srv));
    /* No condition: a status of 400 or more is down. */
    const struct result *r = run(f, "bare");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->error, "HTTP 503");
    /* A condition that fails names itself with the actual value. */
    r = run(f, "cond");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->failed_condition, "[STATUS] (503) == 200");
    /* With conditions, they alone decide. */
    r = run(f, "body");
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->status, 503);
    harness_httpd_stop(srv);
}

static void http_sends_method_headers_and_body(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "ok");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - name: post\n"
         "    type: http\n"
         "    url: http://127.0.0.1:%d/probe\n"
         "    method: PUT\n"
         "    headers: {X-Probe: yes-it-is}\n"
         "    body: '{\"ping\": 1}'\n",
         harness_httpd_port(srv));
    const struct result *r = run(f, "post");
    assert_int_equal(r->outcome, STATE_UP);
    const char *req = harness_httpd_last_request(srv);
    assert_true(strncmp(req, "PUT /probe HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strstr(req, "X-Probe: yes-it-is\r\n"));
    assert_non_null(strstr(req, "\r\n\r\n{\"ping\": 1}"));
    harness_httpd_stop(srv);
}

static void http_deploy_version_comes_from_the_env(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "ok");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - {name: v, app: api, env: prod, type: http, url: 'http://127.0.0.1:%d/',\n"
         "     conditions: ['[DEPLOY].version == 1.4.2']}\n",
         harness_httpd_port(srv));
    f->h.deploy_version = "1.4.2";
    assert_int_equal(run(f, "v")->outcome, STATE_UP);
    f->h.deploy_version = "1.4.1";
    const struct result *r = run(f, "v");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_non_null(strstr(r->failed_condition, "1.4.1"));
    harness_httpd_stop(srv);
}

static void http_refused_is_down(void **state)
{
    struct fixture *f = *state;
    int port = harness_closed_port();
    assert_true(port > 0);
    load(f, "checks:\n  - {name: gone, type: http, url: 'http://127.0.0.1:%d/', timeout: 2s}\n",
         port);
    const struct result *r = run(f, "gone");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, -1);
    assert_true(r->error[0] != '\0');
}

/* --- tcp --- */

static void tcp_listening_port_is_up(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - {name: port, type: tcp, host: 127.0.0.1, port: %d,\n"
         "     conditions: ['[CONNECTED] == true', '[RESPONSE_TIME] < 5000']}\n",
         harness_httpd_port(srv));
    const struct result *r = run(f, "port");
    assert_int_equal(r->outcome, STATE_UP);
    assert_string_equal(r->error, "");
    assert_string_equal(r->failed_condition, "");
    harness_httpd_stop(srv);
}

static void tcp_closed_port_is_down(void **state)
{
    struct fixture *f = *state;
    int port = harness_closed_port();
    assert_true(port > 0);
    load(f, "checks:\n  - {name: port, type: tcp, host: 127.0.0.1, port: %d}\n", port);
    const struct result *r = run(f, "port");
    assert_int_equal(r->outcome, STATE_DOWN);
    char want[128];
    snprintf(want, sizeof(want), "connect 127.0.0.1:%d: connection refused", port);
    assert_string_equal(r->error, want);
}

static void conditions_run_after_a_failed_connection(void **state)
{
    struct fixture *f = *state;
    int port = harness_closed_port();
    assert_true(port > 0);
    load(f,
         "checks:\n"
         "  - {name: gone, type: tcp, host: 127.0.0.1, port: %d,\n"
         "     conditions: ['[CONNECTED] == false']}\n"
         "  - {name: web, type: http, url: 'http://127.0.0.1:%d/',\n"
         "     conditions: ['[CONNECTED] == true', '[STATUS] == 200', '[RESPONSE_TIME] < 60000']}\n",
         port, port);
    /* Gatus: a refused connection is what [CONNECTED] == false expects. */
    const struct result *r = run(f, "gone");
    assert_int_equal(r->outcome, STATE_UP);
    assert_string_equal(r->error, "");
    assert_int_equal(r->nconds, 1);
    assert_int_equal(r->conds_failed, 0);
    /* Every condition is evaluated and each verdict recorded. */
    r = run(f, "web");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->nconds, 3);
    assert_int_equal(r->conds_failed, 0x3);
    assert_string_equal(r->failed_condition, "[CONNECTED] (false) == true");
}

static void ip_is_the_address_connected_to(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "");
    assert_non_null(srv);
    load(f,
         "checks:\n"
         "  - {name: port, type: tcp, host: 127.0.0.1, port: %d,\n"
         "     conditions: ['[IP] == 127.0.0.1']}\n"
         "  - {name: web, type: http, url: 'http://127.0.0.1:%d/',\n"
         "     conditions: ['[IP] == 127.0.0.1']}\n",
         harness_httpd_port(srv), harness_httpd_port(srv));
    const struct result *r = run(f, "port");
    assert_string_equal(r->failed_condition, "");
    assert_int_equal(r->outcome, STATE_UP);
    r = run(f, "web");
    assert_string_equal(r->failed_condition, "");
    assert_int_equal(r->outcome, STATE_UP);
    harness_httpd_stop(srv);
}

static void result_stays_small(void **state)
{
    (void)state;
    /* Checks, locations and the store's queue embed results by value. */
    assert_true(sizeof(struct result) <= 1536);
}

/* --- exec --- */

static void exec_follows_nagios_exit_codes(void **state)
{
    struct fixture *f = *state;
    char *dir = harness_tmpdir("checks-exec");
    assert_non_null(dir);
    static const struct {
        const char *name;
        const char *script;
        enum check_state outcome;
        int status;
        const char *message;
    } plugins[] = {
        {"ok", "#!/bin/sh\necho 'OK - all good | load=0.1'\necho second line\nexit 0\n",
         STATE_UP, 0, "OK - all good"},
        {"warn", "#!/bin/sh\necho 'WARNING - slow'\nexit 1\n", STATE_DEGRADED, 1, "WARNING - slow"},
        {"crit", "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n", STATE_DOWN, 2,
         "CRITICAL - broken"},
        {"unknown", "#!/bin/sh\necho 'UNKNOWN - no idea'\nexit 3\n", STATE_UNKNOWN, 3,
         "UNKNOWN - no idea"},
    };
    char yaml[YAML_MAX] = "checks:\n";
    for (size_t i = 0; i < ARRAY_SIZE(plugins); i++) {
        char *path = harness_write_file(dir, plugins[i].name, plugins[i].script, 0755);
        assert_non_null(path);
        size_t used = strlen(yaml);
        snprintf(yaml + used, sizeof(yaml) - used,
                 "  - {name: %s, type: exec, command: ['%s']}\n", plugins[i].name, path);
        free(path);
    }
    load(f, "%s", yaml);
    for (size_t i = 0; i < ARRAY_SIZE(plugins); i++) {
        const struct result *r = run(f, plugins[i].name);
        assert_int_equal(r->outcome, plugins[i].outcome);
        assert_int_equal(r->status, plugins[i].status);
        assert_string_equal(r->message, plugins[i].message);
        /* The message is an error only when the plugin reports a problem. */
        assert_string_equal(r->error, plugins[i].outcome == STATE_UP ? "" : plugins[i].message);
    }
    assert_int_equal(harness_tmpdir_remove(dir), 0);
    free(dir);
}

static void exec_timeout_kills_the_plugin(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: hang, type: exec, command: [/bin/sh, -c, 'exec sleep 30'],\n"
            "     timeout: 200ms}\n"
            "  - {name: nothere, type: exec, command: [/nonexistent/plugin]}\n");
    const struct result *r = run(f, "hang");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, -1);
    assert_string_equal(r->error, "timed out after 200ms (killed)");
    /* The timer counts whole milliseconds of loop time. */
    assert_true(r->duration_us >= 199000);
    /* A plugin that cannot start is unknown, and says why. */
    r = run(f, "nothere");
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_non_null(strstr(r->error, "spawn /nonexistent/plugin"));
}

/* Whether process pid is gone (absent, or a zombie nobody reaped yet). */
static bool process_gone(long pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return true;
    }
    char line[512];
    bool gone = false;
    if (fgets(line, sizeof(line), fp) != NULL) {
        const char *paren = strrchr(line, ')');
        gone = paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
    }
    fclose(fp);
    return gone;
}

/* The pid a plugin wrote to dir/name, waited for until it is gone (1 s). */
static bool child_was_killed(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    long pid = 0;
    assert_int_equal(fscanf(fp, "%ld", &pid), 1);
    fclose(fp);
    assert_true(pid > 1);
    for (int i = 0; i < 100; i++) {
        if (process_gone(pid)) {
            return true;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    kill((pid_t)pid, SIGKILL);
    return false;
}

static void exec_background_child_does_not_hold_the_run(void **state)
{
    struct fixture *f = *state;
    char *dir = harness_tmpdir("checks-exec-bg");
    assert_non_null(dir);
    /* The plugin exits at once; its background child keeps stdout open. */
    load(f, "checks:\n"
            "  - {name: bg, type: exec, timeout: 4s, command: [/bin/sh, -c,\n"
            "     'sleep 60 & echo $! > %s/child.pid; echo CRITICAL - disk gone; exit 2']}\n",
         dir);
    const struct result *r = run(f, "bg");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, 2);
    assert_string_equal(r->message, "CRITICAL - disk gone");
    assert_string_equal(r->error, "CRITICAL - disk gone");
    /* The exit plus the output grace, not the child's 60 s. */
    assert_true(r->duration_us < 1000 * 1000);
    assert_true(child_was_killed(dir, "child.pid"));
    assert_int_equal(harness_tmpdir_remove(dir), 0);
    free(dir);
}

static void exec_timeout_kills_the_whole_group(void **state)
{
    struct fixture *f = *state;
    char *dir = harness_tmpdir("checks-exec-group");
    assert_non_null(dir);
    /* A wrapper waiting on its child: SIGTERM must reach the child too. */
    load(f, "checks:\n"
            "  - {name: wrap, type: exec, timeout: 300ms, command: [/bin/sh, -c,\n"
            "     'sleep 30 & echo $! > %s/wrap.pid; wait']}\n"
            "  - {name: stubborn, type: exec, timeout: 300ms, command: [/bin/sh, -c,\n"
            "     'trap \"\" TERM; sleep 30 & echo $! > %s/stubborn.pid; wait; wait']}\n",
         dir, dir);
    const struct result *r = run(f, "wrap");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->error, "timed out after 300ms (killed)");
    assert_true(r->duration_us < 1500 * 1000);
    assert_true(child_was_killed(dir, "wrap.pid"));
    /* SIGTERM ignored by the plugin and its child: SIGKILL after the grace. */
    r = run(f, "stubborn");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->error, "timed out after 300ms (killed)");
    assert_true(r->duration_us >= 2000 * 1000);
    assert_true(r->duration_us < 4000 * 1000);
    assert_true(child_was_killed(dir, "stubborn.pid"));
    assert_int_equal(harness_tmpdir_remove(dir), 0);
    free(dir);
}

static void exec_inherits_no_descriptor_and_a_minimal_env(void **state)
{
    struct fixture *f = *state;
    /* A descriptor of ours without close-on-exec, and a secret in our env. */
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 57), 57);
    close(fd);
    assert_int_equal(setenv("SHIPWATCH_TEST_SECRET", "hunter2", 1), 0);
    load(f, "checks:\n"
            "  - {name: fds, type: exec, command: [/bin/sh, -c,\n"
            "     'cd /proc/self/fd; for n in *; do\n"
            "      if [ $n -gt 2 ] && [ -e $n ]; then echo CRITICAL - fd $n; exit 2; fi; done;\n"
            "      echo OK - only stdio']}\n"
            "  - {name: env, type: exec, command: [/usr/bin/env]}\n");
    const struct result *r = run(f, "fds");
    close(57);
    assert_string_equal(r->message, "OK - only stdio");
    assert_int_equal(r->outcome, STATE_UP);
    r = run(f, "env");
    unsetenv("SHIPWATCH_TEST_SECRET");
    assert_int_equal(r->outcome, STATE_UP);
    /* Exactly the minimal environment, one variable a line. */
    char all[RESULT_MESSAGE_MAX + RESULT_LONG_OUTPUT_MAX + 2];
    const char *lo = check_named(f, "env")->long_output;
    snprintf(all, sizeof(all), "%s\n%s", r->message, lo != NULL ? lo : "");
    assert_string_equal(all, "PATH=/usr/local/bin:/usr/bin:/bin\nLANG=C");
}

static void exec_env_names_replace_the_defaults(void **state)
{
    (void)state;
    /* What a check's configuration names goes on top of the minimal set. */
    static const char *const extra[] = {"LANG=de_DE.UTF-8", "NOEQUALS", "=x", "TZ=UTC"};
    const char *env[CHILD_ENV_MAX];
    assert_int_equal(child_env(extra, 4, env, CHILD_ENV_MAX), 3);
    assert_string_equal(env[0], "PATH=/usr/local/bin:/usr/bin:/bin");
    assert_string_equal(env[1], "LANG=de_DE.UTF-8");
    assert_string_equal(env[2], "TZ=UTC");
    assert_null(env[3]);
    /* Never past max, always terminated. */
    assert_int_equal(child_env(extra, 4, env, 2), 1);
    assert_null(env[1]);
    assert_int_equal(child_env(NULL, 0, env, CHILD_ENV_MAX), 2);
}

static void exec_stderr_shown_when_stdout_is_empty(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: err, type: exec, command: [/bin/sh, -c,\n"
            "     'echo \"check_foo: cannot open /dev/foo\" >&2; echo second >&2; exit 3']}\n"
            "  - {name: both, type: exec, command: [/bin/sh, -c,\n"
            "     'echo noise >&2; echo WARNING - slow; exit 1']}\n"
            "  - {name: silent, type: exec, command: [/bin/sh, -c, 'exit 2']}\n");
    const struct result *r = run(f, "err");
    assert_int_equal(r->outcome, STATE_UNKNOWN);
    assert_string_equal(r->message,
                        "(No output on stdout) stderr: check_foo: cannot open /dev/foo");
    assert_string_equal(r->error, r->message);
    /* stdout wins when there is any. */
    r = run(f, "both");
    assert_int_equal(r->outcome, STATE_DEGRADED);
    assert_string_equal(r->message, "WARNING - slow");
    /* No output at all still says why it failed. */
    r = run(f, "silent");
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->message, "");
    assert_string_equal(r->error, "exit status 2, no output");
}

static void exec_keeps_perfdata_and_long_output(void **state)
{
    struct fixture *f = *state;
    char *dir = harness_tmpdir("checks-exec-perf");
    assert_non_null(dir);
    /* The plugin development guidelines' own example of long output. */
    static const char script[] =
        "#!/bin/sh\n"
        "cat <<'EOF'\n"
        "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
        "/ 15272 MB (77%);\n"
        "/boot 68 MB (69%);\n"
        "/home 69357 MB (27%);\n"
        "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
        "/home=69357MB;253404;253409;0;253414 \n"
        "/var/log=818MB;970;975;0;980\n"
        "EOF\n";
    char *path = harness_write_file(dir, "disk", script, 0755);
    assert_non_null(path);
    load(f, "checks:\n  - {name: disk, type: exec, command: ['%s']}\n", path);
    free(path);
    const struct result *r = run(f, "disk");
    assert_int_equal(r->outcome, STATE_UP);
    assert_string_equal(r->message, "DISK OK - free space: / 3326 MB (56%);");
    assert_string_equal(r->error, "");
    /* The long output stays on the check, not in the result. */
    assert_string_equal(check_named(f, "disk")->long_output,
                        "/ 15272 MB (77%);\n/boot 68 MB (69%);\n"
                        "/home 69357 MB (27%);\n/var/log 819 MB (84%);");
    /* The perfdata is kept as normalized text that parses back whole. */
    assert_string_equal(r->perfdata, "'/'=2643MB;5948;5958;0;5968 '/boot'=68MB;88;93;0;98 "
                                     "'/home'=69357MB;253404;253409;0;253414 "
                                     "'/var/log'=818MB;970;975;0;980");
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    perfdata_parse(&pd, r->perfdata, strlen(r->perfdata));
    assert_int_equal(pd.n, 4);
    static const char *const labels[] = {"/", "/boot", "/home", "/var/log"};
    static const double values[] = {2643, 68, 69357, 818};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(pd.items[i].label, labels[i]);
        assert_true(pd.items[i].value == values[i]);
        assert_string_equal(pd.items[i].uom, "MB");
    }
    assert_string_equal(pd.items[0].warn, "5948");
    assert_true(pd.items[3].max == 980);
    assert_int_equal(harness_tmpdir_remove(dir), 0);
    free(dir);
}

/* Loop condition: no run of the check in flight. */
static bool run_over(void *arg)
{
    const struct check *c = arg;
    return c->run == NULL;
}

static void cancelled_run_is_dropped(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n  - {name: hang, type: exec, command: [/bin/sh, -c, 'exec sleep 30']}\n");
    struct check *c = check_named(f, "hang");
    assert_int_equal(check_run_start(c, &f->h.env, NULL, NULL), 0);
    assert_non_null(c->run);
    c->run->cancelled = true;
    c->type->cancel(c->run);
    assert_true(harness_run_until(&f->h.loop, run_over, c, DEADLINE_MS));
    assert_int_equal(f->h.nresults, 0);
}

static void cancel_never_waits_on_the_plugins_children(void **state)
{
    struct fixture *f = *state;
    /* The shell waits on its child, which holds stdout: a drain's cancel
     * must end the run at once, child included. */
    load(f, "checks:\n  - {name: wrap, type: exec, command: [/bin/sh, -c, 'sleep 30; true']}\n");
    struct check *c = check_named(f, "wrap");
    assert_int_equal(check_run_start(c, &f->h.env, NULL, NULL), 0);
    /* Let the shell start its child first. */
    harness_run_until(&f->h.loop, run_over, c, 200);
    assert_non_null(c->run);
    uint64_t t0 = uv_hrtime();
    c->run->cancelled = true;
    c->type->cancel(c->run);
    assert_true(harness_run_until(&f->h.loop, run_over, c, DEADLINE_MS));
    assert_true(uv_hrtime() - t0 < 1000ULL * 1000 * 1000);
    assert_int_equal(f->h.nresults, 0);
}

/* --- heartbeat --- */

/* Ping c with url (the path after /hb/, then an optional ?query) and body. */
static int ping(struct fixture *f, struct check *c, const char *url, const char *body)
{
    char path[256], why[160];
    snprintf(path, sizeof(path), "%s", url);
    char *q = strchr(path, '?');
    if (q != NULL) {
        *q++ = '\0';
    }
    struct check_ping p;
    int rc = check_ping_parse(path, q != NULL ? q : "", &p, why, sizeof(why));
    if (rc < 0) {
        return rc;
    }
    p.body = body;
    p.body_len = p.body_total = body != NULL ? strlen(body) : 0;
    return check_heartbeat_ping(&f->h.env, c, &p);
}

static void heartbeat_lateness_is_a_verdict_not_a_result(void **state)
{
    struct fixture *f = *state;
    load(f,
         "checks:\n  - {name: cron, type: heartbeat, token: tok-1, period: 60s, grace: 30s}\n");
    struct check *c = check_named(f, "cron");
    /* The first run starts the watch: not late yet, and no result. */
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(c->heartbeat_since_ms, T0_MS);
    harness_clock_advance(&f->h.clock, 90 * 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 0);
    harness_clock_advance(&f->h.clock, 1000);
    /* Late: the check goes down by a verdict, with its reason; no result. */
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    const struct harness_verdict *v = harness_checks_last_verdict(&f->h);
    assert_non_null(v);
    assert_int_equal(v->state, STATE_DOWN);
    assert_string_equal(v->reason, "no ping for 1m31s (period 1m, grace 30s)");
    /* Still late: judged once, not again. */
    harness_clock_advance(&f->h.clock, 10 * 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 1);
    assert_int_equal(f->h.nresults, 0);
    /* A ping is an up result at once, and restarts the wait. */
    assert_int_equal(ping(f, c, "tok-1", NULL), 0);
    assert_int_equal(f->h.nresults, 1);
    const struct result *r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->started_ms, T0_MS + 101 * 1000);
    assert_int_equal(c->last_ping_ms, T0_MS + 101 * 1000);
    c->state = STATE_UP;
    harness_clock_advance(&f->h.clock, 90 * 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 1);
    harness_clock_advance(&f->h.clock, 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 2);
    assert_int_equal(f->h.nresults, 1);
}

static void heartbeat_ping_kinds(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n  - {name: job, type: heartbeat, token: tok-2, period: 1h, grace: 5m}\n");
    struct check *c = check_named(f, "job");
    /* "start" records no result; the next ping carries the job's duration. */
    assert_int_equal(ping(f, c, "tok-2/start", NULL), 0);
    assert_int_equal(f->h.nresults, 0);
    harness_clock_advance(&f->h.clock, 5000);
    assert_int_equal(ping(f, c, "tok-2", NULL), 0);
    const struct result *r = harness_checks_last(&f->h);
    assert_non_null(r);
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->duration_us, 5000 * 1000);
    assert_int_equal(r->status, -1);
    assert_int_equal(c->nhb_runs, 0);
    /* "fail" is a down result. */
    assert_int_equal(ping(f, c, "tok-2/fail", NULL), 0);
    r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_string_equal(r->error, "job reported failure");
    assert_int_equal(r->duration_us, 0);
    /* "log" records the ping and changes nothing. */
    size_t pings = f->h.npings;
    assert_int_equal(ping(f, c, "tok-2/log", "disk 91% full"), 0);
    assert_int_equal(f->h.nresults, 2);
    assert_int_equal(f->h.npings, pings + 1);
    assert_int_equal(f->h.last_ping.ping.kind, CHECK_PING_LOG);
    assert_string_equal(f->h.last_ping.body, "disk 91% full");
    /* Anything else is no ping URL and records nothing. */
    assert_int_equal(ping(f, c, "tok-2/bogus", NULL), -ENOENT);
    assert_int_equal(ping(f, c, "tok-2/-1", NULL), -ENOENT);
    assert_int_equal(ping(f, c, "tok-2/fail/x", NULL), -ENOENT);
    assert_int_equal(ping(f, c, "tok-2//", NULL), -ENOENT);
    assert_int_equal(ping(f, c, "/start", NULL), -ENOENT);
    assert_int_equal(f->h.nresults, 2);
}

static void heartbeat_exit_status_pings(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n  - {name: job, type: heartbeat, token: tok-3, period: 1h}\n");
    struct check *c = check_named(f, "job");
    /* 0 is a success, anything else a failure; the code is the status. */
    assert_int_equal(ping(f, c, "tok-3/0", NULL), 0);
    const struct result *r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->error, "");
    assert_int_equal(ping(f, c, "tok-3/1", NULL), 0);
    r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->error, "exit status 1");
    assert_int_equal(ping(f, c, "tok-3/255/", NULL), 0);
    r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_DOWN);
    assert_int_equal(r->status, 255);
    /* Past 255 the URL is refused (400), as Healthchecks.io does. */
    assert_int_equal(ping(f, c, "tok-3/256", NULL), -EINVAL);
    assert_int_equal(ping(f, c, "tok-3/99999999999999999999", NULL), -EINVAL);
    assert_int_equal(f->h.nresults, 3);
    /* A trailing slash is the same ping. */
    assert_int_equal(ping(f, c, "tok-3/", NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->outcome, STATE_UP);
    assert_int_equal(ping(f, c, "tok-3/fail/", NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->outcome, STATE_DOWN);
    /* The body is the result's message, on one line. */
    assert_int_equal(ping(f, c, "tok-3/2", "rsync: error\nconnection reset\n"), 0);
    assert_string_equal(harness_checks_last(&f->h)->error,
                        "exit status 2: rsync: error connection reset");
    assert_int_equal(ping(f, c, "tok-3", "copied 3 files"), 0);
    assert_string_equal(harness_checks_last(&f->h)->error, "copied 3 files");
}

#define RID_A "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
#define RID_B "11111111-2222-4333-8444-555555555555"

static void heartbeat_run_ids_pair_overlapping_runs(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n  - {name: job, type: heartbeat, token: tok-4, period: 1h, grace: 10m}\n");
    struct check *c = check_named(f, "job");
    /* A starts, B starts 2 s later, A ends after 10 s, B after 5 s. */
    assert_int_equal(ping(f, c, "tok-4/start?rid=" RID_A, NULL), 0);
    harness_clock_advance(&f->h.clock, 2000);
    assert_int_equal(ping(f, c, "tok-4/start?rid=" RID_B, NULL), 0);
    assert_int_equal(c->nhb_runs, 2);
    harness_clock_advance(&f->h.clock, 5000);
    /* The rid is a UUID in either case. */
    assert_int_equal(ping(f, c, "tok-4?x=1&rid=11111111-2222-4333-8444-555555555555", NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->duration_us, 5000 * 1000);
    harness_clock_advance(&f->h.clock, 3000);
    assert_int_equal(ping(f, c, "tok-4/0?rid=0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9", NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->duration_us, 10000 * 1000);
    assert_int_equal(c->nhb_runs, 0);
    /* A finish whose rid never started has no duration. */
    assert_int_equal(ping(f, c, "tok-4?rid=" RID_A, NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->duration_us, 0);
    /* A finish without a rid ends every open run. */
    assert_int_equal(ping(f, c, "tok-4/start?rid=" RID_A, NULL), 0);
    assert_int_equal(ping(f, c, "tok-4/start", NULL), 0);
    harness_clock_advance(&f->h.clock, 1000);
    assert_int_equal(ping(f, c, "tok-4", NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->duration_us, 1000 * 1000);
    assert_int_equal(c->nhb_runs, 0);
    /* An invalid rid is refused (400) and records nothing. */
    size_t n = f->h.nresults;
    assert_int_equal(ping(f, c, "tok-4?rid=123", NULL), -EINVAL);
    assert_int_equal(ping(f, c, "tok-4/start?rid=", NULL), -EINVAL);
    assert_int_equal(ping(f, c, "tok-4?rid=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fz", NULL), -EINVAL);
    assert_int_equal(ping(f, c, "tok-4?rid=0f1e2d3c4b5a497886950a4b3c2d1e0f9", NULL), -EINVAL);
    assert_int_equal(f->h.nresults, n);
    assert_int_equal(c->nhb_runs, 0);
}

static void heartbeat_started_run_goes_overdue(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: job, type: heartbeat, token: tok-5, period: 1h, grace: 5m}\n"
            "  - {name: nograce, type: heartbeat, token: tok-6, period: 2m}\n");
    struct check *c = check_named(f, "job");
    assert_int_equal(ping(f, c, "tok-5", NULL), 0);
    c->state = STATE_UP;
    assert_int_equal(ping(f, c, "tok-5/start?rid=" RID_A, NULL), 0);
    harness_clock_advance(&f->h.clock, 5 * 60 * 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 0);
    /* Past grace without its finish: down, though the ping is not late. */
    harness_clock_advance(&f->h.clock, 1000);
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    const struct harness_verdict *v = harness_checks_last_verdict(&f->h);
    assert_non_null(v);
    assert_int_equal(v->state, STATE_DOWN);
    assert_string_equal(v->reason,
                        "run " RID_A " started 5m1s ago has not finished (max-runtime 5m)");
    /* The late finish still gets its own duration, and brings it up. */
    harness_clock_advance(&f->h.clock, 9000);
    assert_int_equal(ping(f, c, "tok-5?rid=" RID_A, NULL), 0);
    assert_int_equal(harness_checks_last(&f->h)->duration_us, 310LL * 1000 * 1000);
    c->state = STATE_UP;
    assert_int_equal(harness_checks_judge(&f->h, c, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 1);
    /* Without grace, a run may take the period. */
    struct check *g = check_named(f, "nograce");
    assert_int_equal(ping(f, g, "tok-6/start", NULL), 0);
    g->state = STATE_UP;
    harness_clock_advance(&f->h.clock, 2 * 60 * 1000);
    assert_int_equal(harness_checks_judge(&f->h, g, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 1);
    harness_clock_advance(&f->h.clock, 1000);
    assert_int_equal(harness_checks_judge(&f->h, g, DEADLINE_MS), 0);
    assert_int_equal(f->h.nverdicts, 2);
    assert_string_equal(harness_checks_last_verdict(&f->h)->reason,
                        "run started 2m1s ago has not finished (max-runtime 2m)");
}

static void heartbeat_body_is_kept_cut(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n  - {name: job, type: heartbeat, token: tok-7, period: 1h}\n");
    struct check *c = check_named(f, "job");
    /* What the HTTP side kept of a 2 MiB body, as it hands it over. */
    static char body[CHECK_HB_BODY_MAX];
    memset(body, 'x', sizeof(body));
    memcpy(body, "backup done\n", 12);
    struct check_ping p;
    char why[160];
    assert_int_equal(check_ping_parse("tok-7", "", &p, why, sizeof(why)), 0);
    p.body = body;
    p.body_len = sizeof(body);
    p.body_total = 2 * 1024 * 1024;
    assert_int_equal(check_heartbeat_ping(&f->h.env, c, &p), 0);
    const struct result *r = harness_checks_last(&f->h);
    assert_int_equal(r->outcome, STATE_UP);
    assert_int_equal(strncmp(r->error, "backup done xxx", 15), 0);
    assert_int_equal(strlen(r->error), RESULT_ERROR_MAX - 1);
    /* The ping goes on with its body and its size. */
    assert_int_equal(f->h.npings, 1);
    assert_int_equal(f->h.last_ping.ping.body_len, CHECK_HB_BODY_MAX);
    assert_int_equal(f->h.last_ping.ping.body_total, 2 * 1024 * 1024);
    /* A character cut in the middle is not kept half. */
    assert_int_equal(ping(f, c, "tok-7", "caf\xc3"), 0);
    assert_string_equal(harness_checks_last(&f->h)->error, "caf?");
}

static void heartbeat_uuid_tokens_ignore_case(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: u, type: heartbeat, token: 5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278, "
            "period: 1h}\n"
            "  - {name: s, type: heartbeat, token: Secret-Token, period: 1h}\n");
    assert_ptr_equal(check_heartbeat_find(f->set.checks, f->set.n,
                                          "5BF66975-D4C7-4BF5-BCC8-B8D8A82EA278"),
                     check_named(f, "u"));
    assert_ptr_equal(check_heartbeat_find(f->set.checks, f->set.n,
                                          "5bf66975-d4c7-4bf5-bcc8-b8d8a82ea278"),
                     check_named(f, "u"));
    /* Other tokens are compared exactly. */
    assert_ptr_equal(check_heartbeat_find(f->set.checks, f->set.n, "Secret-Token"),
                     check_named(f, "s"));
    assert_null(check_heartbeat_find(f->set.checks, f->set.n, "secret-token"));
}

static void heartbeat_found_by_token(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: a, type: heartbeat, token: tok-a, period: 1h}\n"
            "  - {name: b, type: heartbeat, token: tok-b, period: 1h}\n"
            "  - {name: c, type: tcp, host: 127.0.0.1, port: 1}\n");
    assert_ptr_equal(check_heartbeat_find(f->set.checks, f->set.n, "tok-a"), check_named(f, "a"));
    assert_ptr_equal(check_heartbeat_find(f->set.checks, f->set.n, "tok-b"), check_named(f, "b"));
    assert_null(check_heartbeat_find(f->set.checks, f->set.n, "tok-"));
    assert_null(check_heartbeat_find(f->set.checks, f->set.n, "tok-bb"));
    assert_null(check_heartbeat_find(f->set.checks, f->set.n, ""));
    assert_null(check_heartbeat_find(f->set.checks, 0, "tok-a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(describe_leaves_secrets_out, setup, teardown),
        cmocka_unit_test_setup_teardown(http_up_when_conditions_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(http_down_on_error_status_or_failed_condition, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(http_sends_method_headers_and_body, setup, teardown),
        cmocka_unit_test_setup_teardown(http_deploy_version_comes_from_the_env, setup, teardown),
        cmocka_unit_test_setup_teardown(http_refused_is_down, setup, teardown),
        cmocka_unit_test_setup_teardown(tcp_listening_port_is_up, setup, teardown),
        cmocka_unit_test_setup_teardown(tcp_closed_port_is_down, setup, teardown),
        cmocka_unit_test_setup_teardown(conditions_run_after_a_failed_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ip_is_the_address_connected_to, setup, teardown),
        cmocka_unit_test(result_stays_small),
        cmocka_unit_test_setup_teardown(exec_follows_nagios_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_timeout_kills_the_plugin, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_background_child_does_not_hold_the_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(exec_timeout_kills_the_whole_group, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_inherits_no_descriptor_and_a_minimal_env, setup,
                                        teardown),
        cmocka_unit_test(exec_env_names_replace_the_defaults),
        cmocka_unit_test_setup_teardown(exec_stderr_shown_when_stdout_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_keeps_perfdata_and_long_output, setup, teardown),
        cmocka_unit_test_setup_teardown(cancelled_run_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_never_waits_on_the_plugins_children, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(heartbeat_lateness_is_a_verdict_not_a_result, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(heartbeat_ping_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_exit_status_pings, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_run_ids_pair_overlapping_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_started_run_goes_overdue, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_body_is_kept_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_uuid_tokens_ignore_case, setup, teardown),
        cmocka_unit_test_setup_teardown(heartbeat_found_by_token, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
