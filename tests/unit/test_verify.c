/* test_verify.c - verify.c through its public API on a fake clock: a
 * deploy's verification window, the cadence of its app-env's checks
 * meanwhile, and the verdict (healthy, degraded, failed, unverified) with
 * its failing check and rollback version.
 *
 * Each test runs in a harness_daemon: a real SQLite store in a private
 * directory and a fake clock. Deploys are recorded through deploy_record
 * and deploy_upsert, as the socket and the HTTP API record them; results go
 * through the state machine and into verify_on_result, as daemon.c sends
 * them; time moves only when the test moves it, and verify_tick stands for
 * the window's timer. Verdicts are read back from the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "deploy.h"
#include "harness.h"
#include "harness_daemon.h"
#include "state.h"
#include "store.h"
#include "verify.h"

#define T0_MS 1700000000000LL       /* 2023-11-14T22:13:20Z */
#define SEC_MS 1000LL
#define MIN_MS (60 * SEC_MS)
#define DEADLINE_MS 10000           /* a store query that takes longer fails the test */
#define YAML_MAX 4096
#define TEXT_MAX 512

/* Every check turns at its first bad or good result unless it says
 * otherwise; shop verifies for 5 minutes at 5 s. */
#define HEAD                                                                                       \
    "defaults: {interval: 1m, failure-threshold: 1, success-threshold: 1}\n"                      \
    "apps:\n  - {name: shop, verify: {window: 5m, interval: 5s}}\n"

struct fixture {
    struct harness_daemon h;
    struct daemon *d;           /* &h.d */
};

/* A deploy's verdict as the store holds it. */
struct verdict {
    bool found;
    char status[32];
    char verdict[32];           /* "" for none */
    char reason[TEXT_MAX];
    char failing[TEXT_MAX];     /* "" for none */
    char rollback[TEXT_MAX];    /* "" for none */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct verifier *v = f->d != NULL ? f->d->verifier : NULL;
    if (f->d != NULL) {
        verify_finish(f->d);
    }
    /* The loop runs the timer's close; then the verifier may go. */
    assert_int_equal(harness_daemon_finish(&f->h), 0);
    verifier_destroy(v);
    free(f);
    return 0;
}

/* Bring up the daemon context for yaml (after HEAD) and a verifier. */
static void start(struct fixture *f, const char *yaml)
{
    char conf[YAML_MAX];
    snprintf(conf, sizeof(conf), HEAD "%s", yaml);
    assert_int_equal(harness_daemon_init(&f->h, conf, T0_MS), 0);
    f->d = &f->h.d;
    f->d->verifier = verifier_create();
    assert_non_null(f->d->verifier);
}

/* Move the fake clock on by ms and run the tick. */
static void advance(struct fixture *f, int64_t ms)
{
    f->h.now_ms += ms;
    verify_tick(f->d);
}

/* Record a deploy of version to app/env with status, started now. Its id. */
static int64_t deploy(struct fixture *f, const char *app, const char *env, const char *version,
                      const char *status)
{
    struct deploy dep = {.app = app, .env = env, .version = version, .status = status,
                         .started_ms = f->h.now_ms};
    char why[256] = "";
    assert_int_equal(deploy_record(f->d, &dep, why, sizeof(why)), 0);
    assert_true(dep.id > 0);
    return dep.id;
}

/* Move deploy id (recorded by deploy()) on to status, as an update does. */
static void deploy_moves(struct fixture *f, int64_t id, const char *app, const char *env,
                         const char *version, const char *status)
{
    struct deploy stored = {.id = id, .app = app, .env = env, .version = version,
                            .status = "started", .started_ms = T0_MS};
    struct deploy dep = {.app = app, .env = env, .version = version, .status = status};
    enum deploy_outcome outcome;
    char why[256] = "";
    assert_int_equal(deploy_upsert(f->d, &dep, &stored, &outcome, why, sizeof(why)), 0);
    assert_int_equal(outcome, DEPLOY_MOVED);
}

/* A result of check name with outcome, now, through the state machine and
 * into verification, as daemon_on_result hands it over. */
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
    state_apply(c, &r, &from);
    verify_on_result(f->d, c, &r);
}

/* The interval check name runs at now, in ms. */
static int64_t interval_of(struct fixture *f, const char *name)
{
    const struct check *c = harness_daemon_check(&f->h, name);
    assert_non_null(c);
    return c->interval_override_ms > 0 ? c->interval_override_ms : c->conf->interval_ms;
}

struct deploys_seen {
    bool done;
    int64_t id;
    struct verdict v;
};

/* Copy s (or "" for NULL) into buf. */
static void copy(char *buf, size_t len, const char *s)
{
    snprintf(buf, len, "%s", s != NULL ? s : "");
}

/* store_deploys' callback: the row of the deploy asked for. */
static void on_deploys(int err, const struct deploy *deps, size_t n, void *arg)
{
    struct deploys_seen *s = arg;
    assert_int_equal(err, 0);
    for (size_t i = 0; i < n; i++) {
        if (deps[i].id != s->id) {
            continue;
        }
        s->v.found = true;
        copy(s->v.status, sizeof(s->v.status), deps[i].status);
        copy(s->v.verdict, sizeof(s->v.verdict), deps[i].verdict);
        copy(s->v.reason, sizeof(s->v.reason), deps[i].verdict_reason);
        copy(s->v.failing, sizeof(s->v.failing), deps[i].failing_check);
        copy(s->v.rollback, sizeof(s->v.rollback), deps[i].rollback_version);
    }
    s->done = true;
}

/* harness_run_until's test for a query that answered. */
static bool query_done(void *arg)
{
    return ((struct deploys_seen *)arg)->done;
}

/* Deploy id as stored (a query sees every write queued before it). */
static struct verdict verdict_of(struct fixture *f, int64_t id)
{
    struct deploys_seen s = {.id = id};
    struct store_deploy_query q = {.limit = 100};
    assert_int_equal(store_deploys(f->d->store, &q, on_deploys, &s), 0);
    assert_true(harness_run_until(&f->h.loop, query_done, &s, DEADLINE_MS));
    assert_true(s.v.found);
    return s.v;
}

/* Just the verdict of deploy id ("" for none). */
static const char *verdict(struct fixture *f, int64_t id)
{
    static struct verdict v;
    v = verdict_of(f, id);
    return v.verdict;
}

struct events_seen {
    bool done;
    int64_t ts_ms;              /* of the newest deploy.verdict event; 0 none */
    char message[TEXT_MAX];
};

/* store_events' callback: the newest deploy.verdict event. */
static void on_events(int err, const struct event *evs, size_t n, void *arg)
{
    struct events_seen *s = arg;
    assert_int_equal(err, 0);
    if (n > 0) {
        s->ts_ms = evs[0].ts_ms;
        copy(s->message, sizeof(s->message), evs[0].message);
    }
    s->done = true;
}

/* harness_run_until's test for the events query. */
static bool events_done(void *arg)
{
    return ((struct events_seen *)arg)->done;
}

/* The newest deploy.verdict event. */
static struct events_seen verdict_event(struct fixture *f)
{
    struct events_seen s = {0};
    struct store_event_query q = {.type = "deploy.verdict", .limit = 1};
    assert_int_equal(store_events(f->d->store, &q, on_events, &s), 0);
    assert_true(harness_run_until(&f->h.loop, events_done, &s, DEADLINE_MS));
    return s;
}

/* Assert that reason contains part. */
static void assert_contains(const char *reason, const char *part)
{
    if (strstr(reason, part) == NULL) {
        fail_msg("\"%s\" does not contain \"%s\"", reason, part);
    }
}

/* The checks most tests use: web and db of shop/prod, blog of another app. */
#define SHOP_CHECKS                                                                                \
    "checks:\n"                                                                                    \
    "  - {name: web, app: shop, env: prod, type: tcp, host: h, port: 1}\n"                         \
    "  - {name: db, app: shop, env: prod, type: tcp, host: h, port: 2}\n"                          \
    "  - {name: blog, app: blog, env: prod, type: tcp, host: h, port: 3}\n"

/* --- windows and cadence --- */

/* A deploy that succeeded starts a window: its app-env's checks run at
 * verify.interval, others keep theirs; the verdict is pending until
 * verify.window has passed by the clock, then healthy, and the cadence is
 * back. */
static void window_runs_at_verify_interval(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    assert_string_equal(verdict(f, id), "pending");
    assert_int_equal(interval_of(f, "web"), 5 * SEC_MS);
    assert_int_equal(interval_of(f, "db"), 5 * SEC_MS);
    assert_int_equal(interval_of(f, "blog"), MIN_MS);

    for (int i = 0; i < 59; i++) {
        advance(f, 5 * SEC_MS);
        result(f, "web", STATE_UP);
        result(f, "db", STATE_UP);
        result(f, "blog", STATE_DOWN);
    }
    advance(f, 5 * SEC_MS - 1);
    assert_string_equal(verdict(f, id), "pending");
    advance(f, 1);
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.verdict, "healthy");
    assert_string_equal(v.reason, "0 of 118 results in the window not up");
    assert_string_equal(v.failing, "");
    assert_string_equal(v.rollback, "");
    assert_int_equal(interval_of(f, "web"), MIN_MS);
    assert_int_equal(interval_of(f, "db"), MIN_MS);
    /* Announced at the window's end by the daemon's clock. */
    struct events_seen ev = verdict_event(f);
    assert_int_equal(ev.ts_ms, T0_MS + 5 * MIN_MS);
    assert_string_equal(ev.message, "deploy shop/prod 1.0 verdict healthy: 0 of 118 results in "
                                    "the window not up");

    /* After the window, results are nobody's evidence. */
    result(f, "web", STATE_DOWN);
    advance(f, 10 * MIN_MS);
    assert_string_equal(verdict(f, id), "healthy");
}

/* A check whose own interval is shorter than verify.interval keeps it
 * during the window: verification speeds checks up, never slows them. */
static void window_keeps_a_shorter_interval(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n"
             "  - {name: web, app: shop, env: prod, type: tcp, host: h, port: 1, interval: 100ms}\n"
             "  - {name: db, app: shop, env: prod, type: tcp, host: h, port: 2, interval: 5s}\n"
             "  - {name: slow, app: shop, env: prod, type: tcp, host: h, port: 3, interval: 10s}\n");
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    assert_int_equal(interval_of(f, "web"), 100);
    assert_int_equal(interval_of(f, "db"), 5 * SEC_MS);
    assert_int_equal(interval_of(f, "slow"), 5 * SEC_MS);
    advance(f, 5 * MIN_MS);
    assert_string_equal(verdict(f, id), "unverified");
    assert_int_equal(interval_of(f, "web"), 100);
    assert_int_equal(interval_of(f, "db"), 5 * SEC_MS);
    assert_int_equal(interval_of(f, "slow"), 10 * SEC_MS);
}

/* A deploy only started, or recorded failed, starts no window. */
static void no_window_before_success(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t started = deploy(f, "shop", "prod", "1.0", "started");
    int64_t failed = deploy(f, "shop", "prod", "0.9", "failed");
    assert_int_equal(interval_of(f, "web"), MIN_MS);
    advance(f, 10 * MIN_MS);
    assert_string_equal(verdict(f, started), "");
    assert_string_equal(verdict(f, failed), "");
}

/* --- verdicts --- */

/* A result not up in the window, with nothing down at the end: degraded,
 * no failing check, no rollback. */
static void verdict_degraded(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    advance(f, MIN_MS);
    result(f, "web", STATE_UP);
    result(f, "db", STATE_DEGRADED);
    advance(f, MIN_MS);
    result(f, "db", STATE_UP);
    advance(f, 3 * MIN_MS);
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.verdict, "degraded");
    assert_string_equal(v.reason, "1 of 3 results in the window not up");
    assert_string_equal(v.failing, "");
    assert_string_equal(v.rollback, "");
}

/* A check down at the end: failed, naming the first check that failed in
 * the window and the last version whose verdict was healthy. */
static void verdict_failed_names_check_and_rollback(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t v1 = deploy(f, "shop", "prod", "1.0", "succeeded");
    result(f, "web", STATE_UP);
    advance(f, 5 * MIN_MS);
    assert_string_equal(verdict(f, v1), "healthy");
    assert_string_equal(verify_last_healthy(f->d, "shop", "prod"), "1.0");

    int64_t v2 = deploy(f, "shop", "prod", "2.0", "succeeded");
    advance(f, MIN_MS);
    result(f, "db", STATE_DEGRADED);
    advance(f, MIN_MS);
    result(f, "db", STATE_UP);
    advance(f, MIN_MS);
    result(f, "web", STATE_DOWN);
    advance(f, 2 * MIN_MS);
    struct verdict v = verdict_of(f, v2);
    assert_string_equal(v.verdict, "failed");
    assert_contains(v.reason, "web is down after the deploy");
    assert_string_equal(v.failing, "db");
    assert_string_equal(v.rollback, "1.0");
    assert_string_equal(verify_last_healthy(f->d, "shop", "prod"), "1.0");
}

/* A window without a single result proves nothing: unverified. */
static void verdict_unverified_without_results(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    result(f, "blog", STATE_UP);
    advance(f, 5 * MIN_MS);
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.verdict, "unverified");
    assert_string_equal(v.reason, "no result in the window");
    assert_null(verify_last_healthy(f->d, "shop", "prod"));
}

/* A check that goes down in the window and stays down for its
 * failure-threshold fails the deploy at once, without waiting out the
 * window; bad results from before the window do not count towards it. */
static void verdict_fails_early(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n"
             "  - {name: web, app: shop, env: prod, type: tcp, host: h, port: 1,"
             " failure-threshold: 3}\n"
             "  - {name: db, app: shop, env: prod, type: tcp, host: h, port: 2,"
             " failure-threshold: 3}\n");
    int64_t v1 = deploy(f, "shop", "prod", "1.0", "succeeded");
    result(f, "web", STATE_UP);
    result(f, "db", STATE_UP);
    advance(f, 5 * MIN_MS);
    assert_string_equal(verdict(f, v1), "healthy");

    int64_t v2 = deploy(f, "shop", "prod", "2.0", "succeeded");
    advance(f, 5 * SEC_MS);
    result(f, "web", STATE_DOWN);
    advance(f, 5 * SEC_MS);
    result(f, "web", STATE_DOWN);
    assert_string_equal(verdict(f, v2), "pending");
    advance(f, 5 * SEC_MS);
    result(f, "web", STATE_DOWN);
    struct verdict v = verdict_of(f, v2);
    assert_string_equal(v.verdict, "failed");
    assert_string_equal(v.reason, "web is down after the deploy (3 bad results in a row in the "
                                  "window; judged before the window ended)");
    assert_string_equal(v.failing, "web");
    assert_string_equal(v.rollback, "1.0");
    assert_int_equal(interval_of(f, "web"), MIN_MS);
    struct events_seen ev = verdict_event(f);
    assert_int_equal(ev.ts_ms, T0_MS + 5 * MIN_MS + 15 * SEC_MS);

    /* Two bad results before the window and one in it turn db down, but
     * the window has seen one: judged at its end. */
    result(f, "web", STATE_UP);
    result(f, "web", STATE_UP);
    result(f, "web", STATE_UP);
    result(f, "db", STATE_DOWN);
    result(f, "db", STATE_DOWN);
    int64_t v3 = deploy(f, "shop", "prod", "3.0", "succeeded");
    advance(f, 5 * SEC_MS);
    result(f, "db", STATE_DOWN);
    assert_int_equal(harness_daemon_check(&f->h, "db")->state, STATE_DOWN);
    assert_string_equal(verdict(f, v3), "pending");
    advance(f, 5 * MIN_MS);
    v = verdict_of(f, v3);
    assert_string_equal(v.verdict, "failed");
    assert_string_equal(v.reason, "db is down after the deploy");
    assert_string_equal(v.failing, "db");
}

/* A check already down before the deploy started is not blamed for it:
 * its results are left out of the verdict until it recovers; one that
 * went down after the deploy started is blamed. */
static void verdict_ignores_checks_down_before(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n"
             "  - {name: web, app: shop, env: prod, type: tcp, host: h, port: 1}\n"
             "  - {name: cache, app: shop, env: prod, type: tcp, host: h, port: 2}\n");
    result(f, "web", STATE_UP);
    result(f, "cache", STATE_DOWN);
    advance(f, MIN_MS);

    /* cache stays down through the window: healthy on web's evidence. */
    int64_t v1 = deploy(f, "shop", "prod", "1.0", "succeeded");
    for (int i = 0; i < 3; i++) {
        advance(f, 5 * SEC_MS);
        result(f, "cache", STATE_DOWN);
        result(f, "web", STATE_UP);
    }
    assert_string_equal(verdict(f, v1), "pending");
    advance(f, 5 * MIN_MS);
    struct verdict v = verdict_of(f, v1);
    assert_string_equal(v.verdict, "healthy");
    assert_string_equal(v.reason, "0 of 3 results in the window not up (cache was down before "
                                  "the deploy)");
    assert_string_equal(v.failing, "");

    /* web goes down after cache failed again: web is the failing check. */
    int64_t v2 = deploy(f, "shop", "prod", "2.0", "succeeded");
    advance(f, 5 * SEC_MS);
    result(f, "cache", STATE_DOWN);
    result(f, "web", STATE_DOWN);
    v = verdict_of(f, v2);
    assert_string_equal(v.verdict, "failed");
    assert_string_equal(v.failing, "web");
    assert_string_equal(v.rollback, "1.0");
    assert_contains(v.reason, "web is down after the deploy");

    /* Only cache's results, still down: no evidence either way. */
    result(f, "web", STATE_UP);
    int64_t v3 = deploy(f, "shop", "prod", "3.0", "succeeded");
    advance(f, 5 * SEC_MS);
    result(f, "cache", STATE_DOWN);
    advance(f, 5 * MIN_MS);
    v = verdict_of(f, v3);
    assert_string_equal(v.verdict, "unverified");
    assert_string_equal(v.reason, "no result in the window (cache was down before the deploy)");

    /* cache recovers in the window and goes down again: now it is blamed. */
    int64_t v4 = deploy(f, "shop", "prod", "4.0", "succeeded");
    advance(f, 5 * SEC_MS);
    result(f, "cache", STATE_UP);
    result(f, "web", STATE_UP);
    advance(f, 5 * SEC_MS);
    result(f, "cache", STATE_DOWN);
    v = verdict_of(f, v4);
    assert_string_equal(v.verdict, "failed");
    assert_string_equal(v.failing, "cache");
}

/* A check that went down while the deploy ran (after it started, before
 * it succeeded) is the deploy's doing. */
static void verdict_blames_checks_down_since_the_start(void **state)
{
    struct fixture *f = *state;
    start(f, "checks:\n  - {name: web, app: shop, env: prod, type: tcp, host: h, port: 1}\n");
    result(f, "web", STATE_UP);
    advance(f, MIN_MS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "started");
    advance(f, 10 * SEC_MS);
    result(f, "web", STATE_DOWN);
    advance(f, 10 * SEC_MS);
    deploy_moves(f, id, "shop", "prod", "1.0", "succeeded");
    advance(f, 5 * MIN_MS);
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.verdict, "failed");
    assert_string_equal(v.reason, "web is down after the deploy");
    assert_string_equal(v.failing, "web");
}

/* A deploy of an app-env with no checks at all has nothing to verify it:
 * unverified at once, without a window. */
static void verdict_unverified_without_checks(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "staging", "1.0", "succeeded");
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.verdict, "unverified");
    assert_string_equal(v.reason, "no result: shop/staging has no checks");
    assert_string_equal(v.failing, "");
    assert_null(verify_last_healthy(f->d, "shop", "staging"));
    assert_int_equal(interval_of(f, "web"), MIN_MS);
}

/* --- windows that end early --- */

/* A newer deploy that has only started leaves the window running; once it
 * succeeded, it ends the window with the verdict so far and starts its own. */
static void newer_deploy_ends_window_once_it_succeeded(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t v1 = deploy(f, "shop", "prod", "1.0", "succeeded");
    advance(f, MIN_MS);
    result(f, "web", STATE_UP);
    int64_t v2 = deploy(f, "shop", "prod", "2.0", "started");
    advance(f, MIN_MS);
    result(f, "web", STATE_UP);
    assert_string_equal(verdict(f, v1), "pending");
    assert_string_equal(verdict(f, v2), "");

    deploy_moves(f, v2, "shop", "prod", "2.0", "succeeded");
    struct verdict v = verdict_of(f, v1);
    assert_string_equal(v.verdict, "healthy");
    assert_string_equal(v.reason,
                        "0 of 2 results in the window not up (window cut short: a newer deploy "
                        "succeeded)");
    assert_string_equal(verdict(f, v2), "pending");
    assert_int_equal(interval_of(f, "web"), 5 * SEC_MS);

    /* The new window runs its whole length from its own start. */
    result(f, "web", STATE_UP);
    advance(f, 5 * MIN_MS - 1);
    assert_string_equal(verdict(f, v2), "pending");
    advance(f, 1);
    assert_string_equal(verdict(f, v2), "healthy");
}

/* A deploy that fails while it is verified ends its window. */
static void failed_deploy_ends_its_window(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    advance(f, MIN_MS);
    deploy_moves(f, id, "shop", "prod", "1.0", "failed");
    struct verdict v = verdict_of(f, id);
    assert_string_equal(v.status, "failed");
    assert_string_equal(v.verdict, "unverified");
    assert_string_equal(v.reason, "no result in the window (window cut short: the deploy failed)");
    assert_int_equal(interval_of(f, "web"), MIN_MS);
}

/* Stopping leaves a window's deploy pending. */
static void finish_leaves_pending(void **state)
{
    struct fixture *f = *state;
    start(f, SHOP_CHECKS);
    int64_t id = deploy(f, "shop", "prod", "1.0", "succeeded");
    result(f, "web", STATE_UP);
    verify_finish(f->d);
    advance(f, 10 * MIN_MS);
    assert_string_equal(verdict(f, id), "pending");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(window_runs_at_verify_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(window_keeps_a_shorter_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(no_window_before_success, setup, teardown),
        cmocka_unit_test_setup_teardown(verdict_degraded, setup, teardown),
        cmocka_unit_test_setup_teardown(verdict_failed_names_check_and_rollback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(verdict_unverified_without_results, setup, teardown),
        cmocka_unit_test_setup_teardown(verdict_fails_early, setup, teardown),
        cmocka_unit_test_setup_teardown(verdict_ignores_checks_down_before, setup, teardown),
        cmocka_unit_test_setup_teardown(verdict_blames_checks_down_since_the_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(verdict_unverified_without_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_deploy_ends_window_once_it_succeeded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_deploy_ends_its_window, setup, teardown),
        cmocka_unit_test_setup_teardown(finish_leaves_pending, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
