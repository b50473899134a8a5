/* test_alert.c - alert.c through its public API on a fake clock: which
 * rules match, holds (depends-on, deploys in progress), mutes (silences,
 * maintenance windows), flapping, repeats and resolved notifications.
 *
 * Each test runs in a harness_daemon: a real SQLite store in a private
 * directory and a fake clock. Results go through the state machine and
 * alert_on_result as daemon.c sends them; time moves only when the test
 * moves it, and alert_tick stands for the one-second timer. Notifiers are
 * exec notifiers running a small script that appends each payload it gets
 * to a file of its own, so what was delivered is read back in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "maintenance.h"
#include "check.h"
#include "config.h"
#include "harness.h"
#include "harness_daemon.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define T0_MS 1700000000000LL       /* 2023-11-14T22:13:20Z, a Tuesday */
#define MIN_MS (60 * 1000LL)
#define DEADLINE_MS 10000           /* a delivery that takes longer fails the test */
#define YAML_MAX 8192
#define SENT_MAX 256

/* Appends the payload on stdin, as one line, to the file named by $1. */
static const char record_sh[] = "#!/bin/sh\n"
                                "line=$(cat)\n"
                                "printf '%s\\n' \"$line\" >> \"$1\"\n";

/* The notifiers every test configures: ops and pager, each its own file. */
#define NOTIFIERS                                                                                  \
    "notifiers:\n"                                                                                 \
    "  - {name: ops, type: exec, command: [%s/record.sh, %s/ops.out]}\n"                           \
    "  - {name: pager, type: exec, command: [%s/record.sh, %s/pager.out]}\n"

/* Every check turns at its first bad or good result. */
#define DEFAULTS "defaults: {failure-threshold: 1, success-threshold: 1}\n"

struct fixture {
    struct harness_daemon h;
    struct daemon *d;           /* &h.d */
    char *dir;                  /* the script and the notifiers' files */
    size_t read[2];             /* lines of ops.out and pager.out read so far */
    int64_t queued_before;      /* notifications queued before alerting
                                   restarted (its delivery counts start at 0) */
    bool alerting;              /* alert_init ran */
};

static const char *const notifier_names[] = {"ops", "pager"};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->dir = harness_tmpdir("alert");
    assert_non_null(f->dir);
    char *script = harness_write_file(f->dir, "record.sh", record_sh, 0755);
    assert_non_null(script);
    free(script);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->alerting) {
        alert_finish(f->d);
    }
    assert_int_equal(harness_daemon_finish(&f->h), 0);
    harness_tmpdir_remove(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Bring up the daemon context for rules (YAML after the checks, a printf
 * format) and start alerting. checks is the checks: section. */
static void start(struct fixture *f, const char *checks, const char *rules, ...)
{
    char tail[YAML_MAX / 2], yaml[YAML_MAX];
    va_list ap;
    va_start(ap, rules);
    vsnprintf(tail, sizeof(tail), rules, ap);
    va_end(ap);
    snprintf(yaml, sizeof(yaml), DEFAULTS NOTIFIERS "%s%s", f->dir, f->dir, f->dir, f->dir, checks,
             tail);
    assert_int_equal(harness_daemon_init(&f->h, yaml, T0_MS), 0);
    f->d = &f->h.d;
    assert_int_equal(alert_init(f->d), 0);
    f->alerting = true;
}

/* Move the fake clock on by ms and run the tick. */
static void advance(struct fixture *f, int64_t ms)
{
    f->h.now_ms += ms;
    alert_tick(f->d);
}

/* A result of check name with outcome, now, through the state machine and
 * into alerting, as daemon_on_result hands it over. */
static void result(struct fixture *f, const char *name, enum check_state outcome)
{
    struct check *c = harness_daemon_check(&f->h, name);
    assert_non_null(c);
    struct result r = {.started_ms = f->h.now_ms, .duration_us = 1000, .outcome = outcome};
    r.status = -1;
    if (outcome != STATE_UP) {
        snprintf(r.error, sizeof(r.error), "connection refused");
    }
    enum check_state from;
    bool changed = state_apply(c, &r, &from);
    alert_on_result(f->d, c, &r, changed, from);
}

/* --- what the store and the notifiers saw --- */

struct alerts_seen {
    bool done;
    int64_t queued;             /* notifications queued, over every alert */
    int64_t last_id;            /* the newest alert's id */
    char open[1024];            /* "kind check status[ muted_by]; ..." of open alerts */
};

/* store_alerts' callback: sum and describe. */
static void on_alerts(int err, const struct alert *as, size_t n, void *arg)
{
    struct alerts_seen *s = arg;
    assert_int_equal(err, 0);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const struct alert *a = &as[i];
        s->queued += a->notifications;
        if (a->id > s->last_id) {
            s->last_id = a->id;
        }
        if (strcmp(a->status, "resolved") == 0) {
            continue;
        }
        int w = snprintf(s->open + len, sizeof(s->open) - len, "%s%s %s %s%s%s",
                         len > 0 ? "; " : "", a->kind, a->check != NULL ? a->check : a->app,
                         a->status, a->muted_by != NULL ? " " : "",
                         a->muted_by != NULL ? a->muted_by : "");
        if (w > 0 && (size_t)w < sizeof(s->open) - len) {
            len += (size_t)w;
        }
    }
    s->done = true;
}

/* harness_run_until's test for a query that answered. */
static bool alerts_done(void *arg)
{
    return ((struct alerts_seen *)arg)->done;
}

/* Every alert in the store (newest first), summed and described. */
static struct alerts_seen alerts(struct fixture *f)
{
    struct alerts_seen s = {0};
    struct store_alert_query q = {.limit = 100};
    assert_int_equal(alert_list(f->d, &q, on_alerts, &s), 0);
    assert_true(harness_run_until(&f->h.loop, alerts_done, &s, DEADLINE_MS));
    return s;
}

/* The open alerts, described ("down web firing; ..."). */
static const char *open_alerts(struct fixture *f)
{
    static struct alerts_seen s;
    s = alerts(f);
    return s.open;
}

/* alert_notifier_counts' callback: deliveries that ended. */
static void count_ended(const char *name, uint64_t sent, uint64_t failed, void *arg)
{
    *(uint64_t *)arg += sent + failed;
}

struct settle {
    struct fixture *f;
    uint64_t want;
};

/* harness_run_until's test: every queued notification ended. */
static bool all_ended(void *arg)
{
    struct settle *s = arg;
    uint64_t ended = 0;
    alert_notifier_counts(s->f->d, count_ended, &ended);
    return ended >= s->want;
}

/* Wait until every notification queued so far has been delivered. */
static void settle(struct fixture *f)
{
    struct settle s = {.f = f, .want = (uint64_t)(alerts(f).queued - f->queued_before)};
    assert_true(harness_run_until(&f->h.loop, all_ended, &s, DEADLINE_MS));
    uint64_t ended = 0;
    alert_notifier_counts(f->d, count_ended, &ended);
    assert_int_equal(ended, s.want);
}

/* Line n (from 0) of the notifier's file into buf; false past the end. */
static bool file_line(struct fixture *f, const char *notifier, size_t n, char *buf, size_t len)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.out", f->dir, notifier);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    for (size_t i = 0; getline(&line, &cap, fp) >= 0; i++) {
        if (i == n) {
            snprintf(buf, len, "%s", line);
            found = true;
            break;
        }
    }
    free(line);
    fclose(fp);
    return found;
}

/* The next notification the notifier received, as "event kind check"
 * (app/env for a deploy), or "" when there is none. Settles first. */
static const char *next_sent(struct fixture *f, const char *notifier)
{
    static char out[SENT_MAX];
    char line[8192];
    settle(f);
    size_t which = strcmp(notifier, notifier_names[0]) == 0 ? 0 : 1;
    if (!file_line(f, notifier, f->read[which], line, sizeof(line))) {
        return "";
    }
    f->read[which]++;
    json_t *root = json_loads(line, 0, NULL);
    assert_non_null(root);
    json_t *a = json_object_get(root, "alert");
    const char *check = json_string_value(json_object_get(a, "check"));
    snprintf(out, sizeof(out), "%s %s %s", json_string_value(json_object_get(root, "event")),
             json_string_value(json_object_get(a, "kind")),
             check != NULL ? check : json_string_value(json_object_get(a, "app")));
    json_decref(root);
    return out;
}

/* The severities of the open alerts, as "critical warning info" counts. */
static void assert_firing(struct fixture *f, uint64_t info, uint64_t warning, uint64_t critical)
{
    uint64_t counts[ALERT_NSEVERITIES];
    alert_firing(f->d, counts);
    assert_int_equal(counts[ALERT_INFO], info);
    assert_int_equal(counts[ALERT_WARNING], warning);
    assert_int_equal(counts[ALERT_CRITICAL], critical);
}

/* --- rules --- */

/* A rule matches by app, env and check; a check no rule matches gets no
 * alert at all. */
static void rules_match_app_env_check(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, app: shop, env: production, type: tcp, host: h, port: 1}\n"
          "  - {name: db, app: shop, env: staging, type: tcp, host: h, port: 2}\n"
          "  - {name: blog, app: blog, env: production, type: tcp, host: h, port: 3}\n",
          "alerts:\n"
          "  - {notify: ops, app: shop, env: production, severity: warning}\n"
          "  - {notify: pager, check: db, severity: info}\n");
    result(f, "web", STATE_DOWN);
    result(f, "db", STATE_DOWN);
    result(f, "blog", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(next_sent(f, "pager"), "firing down db");
    assert_string_equal(next_sent(f, "pager"), "");
    assert_string_equal(open_alerts(f), "down db firing; down web firing");
    assert_firing(f, 1, 1, 0);
}

/* Several rules matching one alert: the highest severity, the union of
 * their notifiers, a notifier named twice notified once. */
static void rules_combine(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, app: shop, env: production, type: tcp, host: h, port: 1}\n",
          "alerts:\n"
          "  - {notify: ops, severity: info}\n"
          "  - {notify: [ops, pager], app: shop, severity: critical}\n"
          "  - {notify: pager, check: web, severity: warning}\n");
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(next_sent(f, "pager"), "firing down web");
    assert_string_equal(next_sent(f, "pager"), "");
    assert_firing(f, 0, 0, 1);
}

/* --- holds --- */

/* A child whose parent is failing gets no alert; once the parent
 * recovers and the child is still down, the child's alert opens. */
static void holds_depends_on(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: db, type: tcp, host: h, port: 1}\n"
          "  - {name: web, type: tcp, host: h, port: 2, depends-on: db}\n",
          "alerts:\n  - {notify: ops}\n");
    result(f, "db", STATE_UP);
    result(f, "web", STATE_UP);
    advance(f, MIN_MS);
    result(f, "db", STATE_DOWN);
    result(f, "web", STATE_DOWN);
    assert_string_equal(alert_held_by(f->d, harness_daemon_check(&f->h, "web")), "depends-on db");
    assert_string_equal(next_sent(f, "ops"), "firing down db");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(open_alerts(f), "down db firing");

    advance(f, MIN_MS);
    result(f, "web", STATE_DOWN);
    assert_string_equal(open_alerts(f), "down db firing");
    result(f, "db", STATE_UP);
    assert_null(alert_held_by(f->d, harness_daemon_check(&f->h, "web")));
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(open_alerts(f), "down web firing");
}

/* A parent that has not run since the child turned bad holds the child
 * until its next result. */
static void holds_until_the_parent_runs(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: db, type: tcp, host: h, port: 1}\n"
          "  - {name: web, type: tcp, host: h, port: 2, depends-on: db}\n",
          "alerts:\n  - {notify: ops}\n");
    result(f, "db", STATE_UP);
    advance(f, MIN_MS);
    result(f, "web", STATE_DOWN);
    assert_string_equal(alert_held_by(f->d, harness_daemon_check(&f->h, "web")),
                        "depends-on db (waiting for its next run)");
    assert_string_equal(open_alerts(f), "");
    result(f, "db", STATE_UP);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
}

/* A deploy in progress holds its app-env's new alerts until its verdict;
 * another app-env is not held. */
static void holds_deploy_until_verdict(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, app: shop, env: production, type: tcp, host: h, port: 1}\n"
          "  - {name: other, app: blog, env: production, type: tcp, host: h, port: 2}\n",
          "alerts:\n  - {notify: ops}\n");
    struct deploy dep = {.id = 7,
                         .app = "shop",
                         .env = "production",
                         .version = "1.2.3",
                         .status = "started",
                         .started_ms = T0_MS,
                         .verdict = "pending"};
    alert_on_deploy(f->d, &dep);
    result(f, "web", STATE_DOWN);
    result(f, "other", STATE_DOWN);
    assert_string_equal(alert_held_by(f->d, harness_daemon_check(&f->h, "web")), "deploy 7");
    assert_string_equal(next_sent(f, "ops"), "firing down other");
    assert_string_equal(next_sent(f, "ops"), "");

    /* Verification runs once the deploy succeeded: still held. */
    advance(f, MIN_MS);
    dep.status = "succeeded";
    alert_on_deploy(f->d, &dep);
    assert_string_equal(alert_held_by(f->d, harness_daemon_check(&f->h, "web")), "deploy 7");
    assert_string_equal(next_sent(f, "ops"), "");

    /* A verdict ends the hold: the check still down gets its alert. */
    dep.verdict = "degraded";
    alert_on_deploy(f->d, &dep);
    assert_null(alert_held_by(f->d, harness_daemon_check(&f->h, "web")));
    assert_string_equal(next_sent(f, "ops"), "firing down web");
}

/* A started deploy that never reports again holds only until the app's
 * verify.start-timeout; a failed verdict opens a deploy-failed alert, and
 * a later deploy that is not failed resolves it. */
static void holds_deploy_timeout_and_failed_verdict(void **state)
{
    struct fixture *f = *state;
    start(f,
          "apps:\n  - {name: shop, verify: {start-timeout: 5m}}\n"
          "checks:\n  - {name: web, app: shop, env: production, type: tcp, host: h, port: 1}\n",
          "alerts:\n  - {notify: ops, send-on-resolved: true}\n");
    struct deploy dep = {
        .id = 1, .app = "shop", .env = "production", .version = "1", .status = "started"};
    alert_on_deploy(f->d, &dep);
    result(f, "web", STATE_DOWN);
    advance(f, 4 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    advance(f, MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    result(f, "web", STATE_UP);
    assert_string_equal(next_sent(f, "ops"), "resolved down web");

    dep = (struct deploy){.id = 2,
                          .app = "shop",
                          .env = "production",
                          .version = "2",
                          .status = "succeeded",
                          .verdict = "failed",
                          .verdict_reason = "web failed",
                          .rollback_version = "1"};
    alert_on_deploy(f->d, &dep);
    assert_string_equal(next_sent(f, "ops"), "firing deploy-failed shop");
    assert_string_equal(open_alerts(f), "deploy-failed shop firing");
    dep = (struct deploy){.id = 3,
                          .app = "shop",
                          .env = "production",
                          .version = "3",
                          .status = "succeeded",
                          .verdict = "healthy"};
    alert_on_deploy(f->d, &dep);
    assert_string_equal(next_sent(f, "ops"), "resolved deploy-failed shop");
    assert_string_equal(open_alerts(f), "");
}

/* --- mutes --- */

/* A silence records the alert, muted, and holds its notification; ending
 * the silence lets it go. */
static void mutes_silence(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, type: tcp, host: h, port: 1}\n"
          "  - {name: db, type: tcp, host: h, port: 2}\n",
          "alerts:\n  - {notify: ops}\n");
    struct mute m = {.kind = "silence", .check = "web", .ends_ms = T0_MS + 30 * MIN_MS,
                     .author = "alice"};
    struct mute out;
    char why[200] = "";
    assert_int_equal(alert_mute_add(f->d, &m, &out, why, sizeof(why)), 0);
    char muted[64];
    snprintf(muted, sizeof(muted), "down web firing silence %lld", (long long)out.id);
    mute_copy_finish(&out);

    result(f, "web", STATE_DOWN);
    result(f, "db", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down db");
    assert_string_equal(next_sent(f, "ops"), "");
    char want[128];
    snprintf(want, sizeof(want), "down db firing; %s", muted);
    assert_string_equal(open_alerts(f), want);

    /* Time passes inside the silence: nothing. */
    advance(f, 10 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    /* It ends on its own: the held notification goes. */
    advance(f, 21 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(open_alerts(f), "down db firing; down web firing");
}

/* Removing a silence lets the held notification go at once; a muted
 * alert that resolves before anyone heard of it announces nothing. */
static void mutes_remove_and_unheard_resolve(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, type: tcp, host: h, port: 1}\n"
          "  - {name: db, type: tcp, host: h, port: 2}\n",
          "alerts:\n  - {notify: ops, send-on-resolved: true}\n");
    struct mute m = {.kind = "silence", .app = NULL, .severity = "critical",
                     .ends_ms = T0_MS + 60 * MIN_MS};
    struct mute out;
    char why[200] = "";
    assert_int_equal(alert_mute_add(f->d, &m, &out, why, sizeof(why)), 0);
    int64_t id = out.id;
    mute_copy_finish(&out);
    const struct mute *const *list;
    assert_int_equal(alert_mutes(f->d, "silence", &list), 1);
    assert_int_equal(list[0]->id, id);

    result(f, "db", STATE_DOWN);
    result(f, "db", STATE_UP);
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "");

    assert_int_equal(alert_mute_remove(f->d, "silence", id, &out), 0);
    mute_copy_finish(&out);
    assert_int_equal(alert_mutes(f->d, "silence", &list), 0);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_int_equal(alert_mute_remove(f->d, "silence", id, &out), -ENOENT);

    /* Bad requests change nothing. */
    struct mute bad = {.kind = "silence", .ends_ms = T0_MS + MIN_MS};
    assert_int_equal(alert_mute_add(f->d, &bad, &out, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "a silence needs a matcher: check, app, env or severity");
    bad = (struct mute){.kind = "silence", .check = "web", .ends_ms = T0_MS - 1};
    assert_int_equal(alert_mute_add(f->d, &bad, &out, why, sizeof(why)), -EINVAL);
}

/* A silence made "until resolved" from an alert holds that alert's
 * repeats, ends when it resolves (whose RESOLVED still goes: its FIRING
 * did), and lets the next incident page. */
static void mutes_until_resolved(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, type: tcp, host: h, port: 1}\n",
          "alerts:\n  - {notify: ops, send-on-resolved: true, repeat-interval: 1m}\n");
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    int64_t alert_id = alerts(f).last_id;
    struct mute m = {.kind = "silence", .check = "web", .alert_id = alert_id,
                     .ends_ms = MUTE_UNTIL_RESOLVED};
    struct mute out;
    char why[200] = "";
    assert_int_equal(alert_mute_add(f->d, &m, &out, why, sizeof(why)), 0);
    int64_t id = out.id;
    mute_copy_finish(&out);
    char muted[32];
    snprintf(muted, sizeof(muted), "down web firing silence %lld", (long long)id);
    assert_string_equal(open_alerts(f), muted);
    /* No repeat however long it lasts. */
    advance(f, 90 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    result(f, "web", STATE_UP);
    assert_string_equal(next_sent(f, "ops"), "resolved down web");
    const struct mute *const *list;
    assert_int_equal(alert_mutes(f->d, "silence", &list), 0);
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    /* Only an open alert can end a silence. */
    m.alert_id = alert_id;
    assert_int_equal(alert_mute_add(f->d, &m, &out, why, sizeof(why)), -ENOENT);
}

/* A configured maintenance window mutes the alerts it matches while it is
 * open; when it closes, the held notification goes. */
static void mutes_maintenance_window(void **state)
{
    struct fixture *f = *state;
    start(f,
          "checks:\n"
          "  - {name: web, app: shop, env: production, type: tcp, host: h, port: 1}\n"
          "  - {name: other, app: blog, env: production, type: tcp, host: h, port: 2}\n",
          "alerts:\n  - {notify: ops}\n"
          "maintenance:\n"
          "  - {name: nightly, app: shop, start: \"22:00\", duration: 1h, days: [tue]}\n");
    result(f, "web", STATE_DOWN);
    result(f, "other", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down other");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(open_alerts(f),
                        "down other firing; down web firing maintenance nightly");
    /* 22:13:20 + 46 min: still inside. */
    advance(f, 46 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    /* 23:00:20: closed. */
    advance(f, MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(open_alerts(f), "down other firing; down web firing");
}

/* The window arithmetic: inside, before, across midnight, other days. */
static void maintenance_window_times(void **state)
{
    struct conf_maintenance m = {.name = "w", .days = 1u << 2, .start_min = 22 * 60,
                                 .duration_ms = 3 * 60 * MIN_MS};
    const int64_t tue = T0_MS - (22 * 60 + 13) * MIN_MS - 20000; /* Tuesday 00:00 */
    int64_t s, e;
    assert_true(maintenance_window(&m, T0_MS, &s, &e));
    assert_int_equal(s, tue + 22 * 60 * MIN_MS);
    assert_int_equal(e, tue + 25 * 60 * MIN_MS);
    /* Wednesday 00:30: the Tuesday window still runs. */
    assert_true(maintenance_window(&m, tue + 24 * 60 * MIN_MS + 30 * MIN_MS, &s, &e));
    /* Wednesday 01:00: over; the next is next Tuesday. */
    assert_false(maintenance_window(&m, tue + 25 * 60 * MIN_MS, &s, &e));
    assert_int_equal(s, tue + 7 * 24 * 60 * MIN_MS + 22 * 60 * MIN_MS);
    /* Tuesday noon: not yet; the next is tonight. */
    assert_false(maintenance_window(&m, tue + 12 * 60 * MIN_MS, &s, &e));
    assert_int_equal(s, tue + 22 * 60 * MIN_MS);
}

/* --- flapping --- */

/* Enough state changes within the window open a flapping alert, which
 * holds the check's other alerts back; a quiet window resolves it, and a
 * check still down then gets its down alert. */
static void flapping(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, type: tcp, host: h, port: 1}\n",
          "alerts:\n  - {notify: ops, on: [down, flapping], flapping: {changes: 4, window: 10m}}\n");
    static const enum check_state seq[] = {STATE_UP, STATE_DOWN, STATE_UP, STATE_DOWN, STATE_UP};
    for (size_t i = 0; i < ARRAY_SIZE(seq); i++) {
        result(f, "web", seq[i]);
        /* Deliveries of separate alerts may finish in any order: let each
         * step's finish before the next, so the file's order is theirs. */
        settle(f);
        advance(f, MIN_MS);
    }
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "firing flapping web");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(open_alerts(f), "flapping web firing");

    /* Down again while flapping: held. */
    result(f, "web", STATE_DOWN);
    assert_string_equal(alert_held_by(f->d, harness_daemon_check(&f->h, "web")), "flapping");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(open_alerts(f), "flapping web firing");

    /* Ten quiet minutes: no longer flapping, and the down alert opens. */
    advance(f, 9 * MIN_MS);
    assert_string_equal(open_alerts(f), "flapping web firing");
    advance(f, MIN_MS + 1000);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(open_alerts(f), "down web firing");
}

/* --- repeats and resolved --- */

/* A firing alert is notified again every repeat-interval until it is
 * acknowledged. */
static void repeat_interval(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, type: tcp, host: h, port: 1}\n",
          "alerts:\n"
          "  - {notify: ops, repeat-interval: 1h}\n"
          "  - {notify: pager}\n");
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "pager"), "firing down web");
    advance(f, 59 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    advance(f, MIN_MS);
    /* The alert's rules repeat it, to each of its notifiers. */
    assert_string_equal(next_sent(f, "ops"), "repeat down web");
    assert_string_equal(next_sent(f, "pager"), "repeat down web");
    advance(f, 30 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    advance(f, 30 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "repeat down web");
    assert_string_equal(next_sent(f, "pager"), "repeat down web");

    struct alert a;
    char why[200] = "";
    int64_t id = alerts(f).last_id;
    assert_int_equal(alert_ack(f->d, id, "alice", "on it", &a, why, sizeof(why)), 0);
    assert_string_equal(a.status, "acknowledged");
    assert_string_equal(a.ack_by, "alice");
    alert_copy_finish(&a);
    advance(f, 3 * 60 * MIN_MS);
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(open_alerts(f), "down web acknowledged");
    assert_int_equal(alert_ack(f->d, id + 100, "alice", NULL, &a, why, sizeof(why)), -ENOENT);
}

/* Recovery is announced only through the rules that send on resolved. */
static void send_on_resolved(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, type: tcp, host: h, port: 1}\n",
          "alerts:\n"
          "  - {notify: ops, send-on-resolved: true}\n"
          "  - {notify: pager}\n");
    result(f, "web", STATE_DOWN);
    advance(f, MIN_MS);
    result(f, "web", STATE_UP);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    assert_string_equal(next_sent(f, "ops"), "resolved down web");
    assert_string_equal(next_sent(f, "ops"), "");
    assert_string_equal(next_sent(f, "pager"), "firing down web");
    assert_string_equal(next_sent(f, "pager"), "");
    assert_string_equal(open_alerts(f), "");
    assert_firing(f, 0, 0, 0);
}

/* Alerts open at shutdown are open again after a restart on the same
 * store, and are not notified a second time. */
static void restart_keeps_open_alerts(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, type: tcp, host: h, port: 1}\n",
          "alerts:\n  - {notify: ops}\n");
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "firing down web");
    alert_finish(f->d);
    f->alerting = false;
    harness_run_for(&f->h.loop, 10);
    /* The store has what was written (a query sees every write queued
     * before it); the check keeps its state, as the daemon restores it. */
    f->queued_before = alerts(f).queued;
    assert_int_equal(alert_init(f->d), 0);
    f->alerting = true;
    assert_string_equal(open_alerts(f), "down web firing");
    assert_firing(f, 0, 0, 1);
    result(f, "web", STATE_DOWN);
    assert_string_equal(next_sent(f, "ops"), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rules_match_app_env_check, setup, teardown),
        cmocka_unit_test_setup_teardown(rules_combine, setup, teardown),
        cmocka_unit_test_setup_teardown(holds_depends_on, setup, teardown),
        cmocka_unit_test_setup_teardown(holds_until_the_parent_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(holds_deploy_until_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(holds_deploy_timeout_and_failed_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(mutes_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(mutes_remove_and_unheard_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(mutes_maintenance_window, setup, teardown),
        cmocka_unit_test(maintenance_window_times),
        cmocka_unit_test_setup_teardown(flapping, setup, teardown),
        cmocka_unit_test_setup_teardown(repeat_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(send_on_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(mutes_until_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_keeps_open_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
