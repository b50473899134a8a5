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
    assert_string_equal(last_result_text(&c.last, RESULT_TEXT_ERROR), "");
    last_result_free(&c.last);
}

/* A kept result holds what the run said and no more: the texts come back
 * whole, at their full lengths too; a run that said nothing keeps no
 * block; a move leaves the source empty; a zeroed one reads "". */
static void last_result_texts(void **state)
{
    struct last_result l;
    memset(&l, 0, sizeof(l));
    assert_string_equal(last_result_text(&l, RESULT_TEXT_PERFDATA), "");

    struct result r = res(STATE_DOWN, 7);
    r.status = 503;
    r.cert_expiry_s = 99;
    r.nconds = 2;
    r.conds_failed = 2;
    strcpy(r.error, "connection refused");
    strcpy(r.message, "CRITICAL - down");
    last_result_set(&l, &r);
    assert_int_equal(l.started_ms, 7);
    assert_int_equal(l.status, 503);
    assert_int_equal(l.cert_expiry_s, 99);
    assert_int_equal(l.nconds, 2);
    assert_int_equal(l.conds_failed, 2);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_ERROR), "connection refused");
    assert_string_equal(last_result_text(&l, RESULT_TEXT_CONDITION), "");
    assert_string_equal(last_result_text(&l, RESULT_TEXT_MESSAGE), "CRITICAL - down");
    assert_string_equal(last_result_text(&l, RESULT_TEXT_PERFDATA), "");
    assert_int_equal(l.size, strlen("connection refused") + strlen("CRITICAL - down") + 4);

    /* Every text at its longest: a full result fits. */
    memset(r.error, 'e', sizeof(r.error) - 1);
    r.error[sizeof(r.error) - 1] = '\0';
    memset(r.failed_condition, 'c', sizeof(r.failed_condition) - 1);
    r.failed_condition[sizeof(r.failed_condition) - 1] = '\0';
    memset(r.message, 'm', sizeof(r.message) - 1);
    r.message[sizeof(r.message) - 1] = '\0';
    memset(r.perfdata, 'p', sizeof(r.perfdata) - 1);
    r.perfdata[sizeof(r.perfdata) - 1] = '\0';
    last_result_set(&l, &r);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_ERROR), r.error);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_CONDITION), r.failed_condition);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_MESSAGE), r.message);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_PERFDATA), r.perfdata);

    struct last_result to;
    memset(&to, 0, sizeof(to));
    last_result_move(&to, &l);
    assert_null(l.text);
    assert_string_equal(last_result_text(&l, RESULT_TEXT_ERROR), "");
    assert_string_equal(last_result_text(&to, RESULT_TEXT_PERFDATA), r.perfdata);

    r = res(STATE_UP, 8);
    last_result_set(&to, &r);
    assert_null(to.text);
    assert_int_equal(to.started_ms, 8);
    assert_string_equal(last_result_text(&to, RESULT_TEXT_MESSAGE), "");
    last_result_free(&to);
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
        cmocka_unit_test(last_result_texts),
        cmocka_unit_test(thresholds),
        cmocka_unit_test(streak_resets),
        cmocka_unit_test(bad_state_follows_latest_bad_outcome),
        cmocka_unit_test(counters_and_last),
        cmocka_unit_test(routine_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
