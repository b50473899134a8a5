/* test_state.c - the state machine: thresholds, first result, streaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "state.h"

static struct conf_check conf = {.name = "c", .failure_threshold = 3, .success_threshold = 2};

static struct result res(enum check_state o, int64_t ts)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    r.outcome = o;
    r.started_ms = ts;
    r.status = -1;
    return r;
}

static struct check fresh(void)
{
    struct check c;
    memset(&c, 0, sizeof(c));
    c.conf = &conf;
    return c;
}

static void first_result_settles_at_once(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_DOWN, 100);
    assert_true(state_apply(&c, &r, &from));
    assert_int_equal(from, STATE_UNKNOWN);
    assert_int_equal(c.state, STATE_DOWN);
    assert_int_equal(c.state_since_ms, 100);
    assert_int_equal(c.fail_streak, 1);

    struct check u = fresh();
    r = res(STATE_UP, 5);
    assert_true(state_apply(&u, &r, &from));
    assert_int_equal(u.state, STATE_UP);
}

static void thresholds(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_UP, 1);
    state_apply(&c, &r, &from);
    /* Two failures: still up. The third turns it down. */
    r = res(STATE_DOWN, 2);
    assert_false(state_apply(&c, &r, &from));
    r = res(STATE_DOWN, 3);
    assert_false(state_apply(&c, &r, &from));
    assert_int_equal(c.state, STATE_UP);
    r = res(STATE_DOWN, 4);
    assert_true(state_apply(&c, &r, &from));
    assert_int_equal(from, STATE_UP);
    assert_int_equal(c.state, STATE_DOWN);
    assert_int_equal(c.state_since_ms, 4);
    /* One success does not bring it back; two do. */
    r = res(STATE_UP, 5);
    assert_false(state_apply(&c, &r, &from));
    assert_int_equal(c.fail_streak, 0);
    assert_int_equal(c.ok_streak, 1);
    r = res(STATE_UP, 6);
    assert_true(state_apply(&c, &r, &from));
    assert_int_equal(c.state, STATE_UP);
    assert_int_equal(c.state_since_ms, 6);
}

static void streak_resets(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_UP, 1);
    state_apply(&c, &r, &from);
    for (int i = 0; i < 10; i++) {
        /* fail, fail, ok: never three in a row */
        r = res(i % 3 == 2 ? STATE_UP : STATE_DOWN, 10 + i);
        assert_false(state_apply(&c, &r, &from));
    }
    assert_int_equal(c.state, STATE_UP);
}

static void bad_state_follows_latest_bad_outcome(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_DEGRADED, 1);
    state_apply(&c, &r, &from);
    assert_int_equal(c.state, STATE_DEGRADED);
    r = res(STATE_DOWN, 2);
    assert_false(state_apply(&c, &r, &from)); /* streak 2 < 3 */
    r = res(STATE_DOWN, 3);
    assert_true(state_apply(&c, &r, &from));
    assert_int_equal(from, STATE_DEGRADED);
    assert_int_equal(c.state, STATE_DOWN);
    r = res(STATE_UNKNOWN, 4);
    assert_true(state_apply(&c, &r, &from));
    assert_int_equal(c.state, STATE_UNKNOWN);
}

static void counters_and_last(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_UP, 1);
    strcpy(r.error, "hello");
    state_apply(&c, &r, &from);
    r = res(STATE_DOWN, 2);
    state_apply(&c, &r, &from);
    r = res(STATE_DEGRADED, 3);
    state_apply(&c, &r, &from);
    assert_int_equal(c.results_total[STATE_UP], 1);
    assert_int_equal(c.results_total[STATE_DOWN], 1);
    assert_int_equal(c.results_total[STATE_DEGRADED], 1);
    assert_int_equal(c.last.started_ms, 3);
    assert_int_equal(c.last.outcome, STATE_DEGRADED);
}

/* Which results are routine: only those that grow a streak already past its
 * threshold, change neither the state nor the certificate expiry, and are
 * not a STATE_WRITE_EVERY-th of their streak. Replaying the routine ones
 * after the last that was not (as a store does at load) gives the streaks
 * back. */
static void routine_results(void **state)
{
    struct check c = fresh();
    enum check_state from;
    struct result r = res(STATE_UP, 1);
    state_apply(&c, &r, &from);
    assert_false(c.routine);                    /* the first */
    r = res(STATE_UP, 2);
    state_apply(&c, &r, &from);
    assert_false(c.routine);                    /* ok_streak 2, the threshold */
    r = res(STATE_UP, 3);
    state_apply(&c, &r, &from);
    assert_true(c.routine);                     /* 3 > 2 */
    r = res(STATE_UP, 4);
    r.cert_expiry_s = 99;
    state_apply(&c, &r, &from);
    assert_false(c.routine);                    /* the certificate changed */
    int written = c.ok_streak;
    for (int64_t t = 5; c.ok_streak < STATE_WRITE_EVERY - 1; t++) {
        r = res(STATE_UP, t);
        r.cert_expiry_s = 99;
        state_apply(&c, &r, &from);
        assert_true(c.routine);
    }
    r = res(STATE_UP, 100);
    r.cert_expiry_s = 99;
    state_apply(&c, &r, &from);
    assert_int_equal(c.ok_streak, STATE_WRITE_EVERY);
    assert_false(c.routine);                    /* every 32nd is written */
    assert_true(c.ok_streak - written < STATE_WRITE_EVERY);

    /* A failure resets: the first three change something (streak 1..3, the
     * third the state), the fourth is routine. */
    for (int i = 1; i <= 4; i++) {
        r = res(STATE_DOWN, 100 + i);
        r.cert_expiry_s = 99;
        state_apply(&c, &r, &from);
        assert_int_equal(c.routine, i == 4);
    }
    assert_int_equal(c.state, STATE_DOWN);
    /* Down to degraded past the threshold: the state changes, not routine. */
    r = res(STATE_DEGRADED, 200);
    r.cert_expiry_s = 99;
    assert_true(state_apply(&c, &r, &from));
    assert_false(c.routine);
    assert_false(state_streak_routine(1, 1));
    assert_true(state_streak_routine(2, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_result_settles_at_once),
        cmocka_unit_test(thresholds),
        cmocka_unit_test(streak_resets),
        cmocka_unit_test(bad_state_follows_latest_bad_outcome),
        cmocka_unit_test(counters_and_last),
        cmocka_unit_test(routine_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
