/* test_sched.c - the fixed-rate scheduler on a real loop, with a test check
 * type whose runs take a set time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness.h"
#include "sched.h"
#include "util.h"

/* --- what the runs report to --- */

#define MAX_STARTS 4096

static int64_t run_ms;             /* how long each test run takes */
static int in_flight, max_in_flight;
static uint64_t starts[64][MAX_STARTS];
static int64_t dues[64][MAX_STARTS];    /* the tick each start was for, or -1 */
static size_t nstarts[64];
static struct sched *test_sched;        /* whose lag samples give dues[] */
static size_t lags_seen;
static int results;

static struct result last_result;

/* The env's on_result: count, keep the last. */
static void count_result(void *arg, struct check *c, const struct result *r)
{
    results++;
    last_result = *r;
}

/* --- the test check type --- */

struct trun {
    uv_timer_t timer;
    struct check_run *run;
};

static void on_closed(uv_handle_t *h)
{
    struct trun *t = h->data;
    struct check_run *run = t->run;
    free(t);
    in_flight--;
    check_run_finish(run);
}

static void on_timer(uv_timer_t *h)
{
    uv_close((uv_handle_t *)h, on_closed);
}

static int test_start(struct check_run *run)
{
    struct trun *t = calloc(1, sizeof(*t));
    t->run = run;
    run->priv = t;
    uv_timer_init(run->env->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, (uint64_t)run_ms, 0);
    int id = atoi(run->check->conf->name + 1);
    /* The scheduler records a start's lag (start less due) just before
     * starting it; a start outside the grid (run now) records none. */
    int64_t due = -1;
    if (test_sched != NULL) {
        struct sched_stats st;
        sched_get_stats(test_sched, &st);
        if (st.lag_count > lags_seen) {
            lags_seen = st.lag_count;
            uint32_t lag = st.lag_us[(st.lag_count - 1) % SCHED_LAG_SAMPLES];
            due = (int64_t)uv_now(run->env->loop) - (int64_t)(lag / 1000);
        }
    }
    if (id >= 0 && id < 64 && nstarts[id] < MAX_STARTS) {
        dues[id][nstarts[id]] = due;
        starts[id][nstarts[id]++] = uv_now(run->env->loop);
    }
    if (++in_flight > max_in_flight) {
        max_in_flight = in_flight;
    }
    return 0;
}

static void test_cancel(struct check_run *run)
{
    struct trun *t = run->priv;
    if (!uv_is_closing((uv_handle_t *)&t->timer)) {
        uv_timer_stop(&t->timer);
        uv_close((uv_handle_t *)&t->timer, on_closed);
    }
}

static const struct check_type test_type = {
    .name = "test", .start = test_start, .cancel = test_cancel};

/* A type whose runs cannot start. */
static int failing_start(struct check_run *run)
{
    return -EIO;
}

static const struct check_type failing_type = {.name = "failing", .start = failing_start};

/* --- fixture --- */

struct fixture {
    uv_loop_t loop;
    struct harness_clock clock;
    struct check_env env;
    struct sched *sched;
    struct conf_check confs[64];
    struct check *checks[64];
    char names[64][8];
    int n;
};

static struct fixture *setup(int n, int64_t interval_ms, int64_t run_for_ms, int concurrency)
{
    struct fixture *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    harness_clock_init(&f->clock, 1700000000000);
    f->env = (struct check_env){
        .loop = &f->loop, .clock = &f->clock.clock, .on_result = count_result};
    f->sched = sched_create(&f->loop, &f->env, concurrency);
    test_sched = f->sched;
    lags_seen = 0;
    f->n = n;
    run_ms = run_for_ms;
    in_flight = max_in_flight = 0;
    results = 0;
    memset(nstarts, 0, sizeof(nstarts));
    for (int i = 0; i < n; i++) {
        snprintf(f->names[i], sizeof(f->names[i]), "c%d", i);
        f->confs[i].name = f->names[i];
        f->confs[i].interval_ms = interval_ms;
        f->confs[i].failure_threshold = 1;
        f->confs[i].success_threshold = 1;
        f->checks[i] = check_create(&f->confs[i]);
        f->checks[i]->type = &test_type;
        assert_int_equal(sched_add(f->sched, f->checks[i]), 0);
    }
    return f;
}

/* Run the loop for ms milliseconds; the loop time its last turn began at
 * (every timer due by then has fired). */
static uint64_t run_for(struct fixture *f, int64_t ms)
{
    uint64_t until = uv_now(&f->loop) + (uint64_t)ms;
    uint64_t last = uv_now(&f->loop);
    while (uv_now(&f->loop) < until) {
        last = uv_now(&f->loop);
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_update_time(&f->loop);
    }
    return last;
}

static void teardown_fixture(struct fixture *f)
{
    sched_stop(f->sched);
    sched_cancel_all(f->sched);
    for (int i = 0; i < 100 && in_flight > 0; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    sched_destroy(f->sched);
    test_sched = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < f->n; i++) {
        check_destroy(f->checks[i]);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
}

/* A keep-alive timer so UV_RUN_ONCE never blocks forever. */
static void tick(uv_timer_t *t)
{
}

static void with_ticker(struct fixture *f, uv_timer_t *t)
{
    uv_timer_init(&f->loop, t);
    uv_timer_start(t, tick, 5, 5);
}

/* --- tests --- */

static void offsets_are_spread_and_stable(void **state)
{
    int64_t interval = 30000;
    int buckets[300] = {0};
    for (int i = 0; i < 10000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "api-%d-health", i);
        int64_t off = sched_offset(name, interval);
        assert_true(off >= 0 && off < interval);
        assert_int_equal(off, sched_offset(name, interval));
        buckets[off / 100]++;
    }
    /* 10,000 over 300 buckets of 100 ms: about 33 each; none over 3x. */
    for (int i = 0; i < 300; i++) {
        assert_true(buckets[i] < 100);
    }
}

/* The offsets earlier versions gave (their own FNV-1a and splitmix64):
 * a check keeps its place on the grid across an upgrade, and the daemons
 * of a mixed-version cluster agree on it. */
static void offsets_match_earlier_versions(void **state)
{
    static const struct {
        const char *name;
        int64_t interval_ms, offset_ms;
    } pinned[] = {
        {"api-health", 60000, 28421},
        {"web", 30000, 19413},
        {"db-tcp", 10000, 5183},
        {"", 3600000, 1305579},
        {"\xc3\xbc" "n\xc3\xaf" "code-check", 86400000, 29809041},
    };
    for (size_t i = 0; i < ARRAY_SIZE(pinned); i++) {
        assert_int_equal(sched_offset(pinned[i].name, pinned[i].interval_ms), pinned[i].offset_ms);
    }
    uint64_t sum = 0;
    for (int i = 0; i < 10000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "api-%d-health", i);
        sum = sum * 31 + (uint64_t)sched_offset(name, 30000);
    }
    assert_true(sum == 1670532319040006823ULL);
}

static void fixed_rate_without_drift(void **state)
{
    /* Interval 100 ms, runs take 70 ms: starts stay on the grid. Judged
     * on the due time the scheduler planned for each start (the start
     * less its recorded lag), not on the gaps between starts: a loaded
     * machine delays starts, and may make a run overlap its next tick,
     * but must never move the grid. */
    struct fixture *f = setup(1, 100, 70, 8);
    uint64_t t0 = uv_now(&f->loop);
    uv_timer_t t;
    with_ticker(f, &t);
    uint64_t last_turn = run_for(f, 1250);
    uint64_t t1 = uv_now(&f->loop);
    size_t n = nstarts[0];
    struct sched_stats st;
    sched_get_stats(f->sched, &st);
    assert_true(n >= 1);
    assert_true(st.lag_count == n);
    /* The first point of the grid at or after the start, from the next. */
    int64_t next_due = f->checks[0]->next_due_ms;
    int64_t grid0 = next_due - (next_due - (int64_t)t0) / 100 * 100;
    int64_t first_due = (int64_t)starts[0][0] - (int64_t)(st.lag_us[0] / 1000);
    assert_true(first_due >= grid0 && (first_due - grid0) % 100 == 0);
    int64_t prev_due = first_due - 100;
    for (size_t i = 0; i < n; i++) {
        assert_true(st.lag_us[i] % 1000 == 0);
        int64_t due = (int64_t)starts[0][i] - (int64_t)(st.lag_us[i] / 1000);
        assert_true((due - first_due) % 100 == 0);  /* on the grid: no drift */
        assert_true(due > prev_due);                /* one start a tick at most */
        prev_due = due;
    }
    /* Every point of the grid the loop reached was started or skipped,
     * none twice, none lost. */
    assert_true(next_due > (int64_t)last_turn && next_due <= (int64_t)t1 + 100);
    assert_true((uint64_t)n + f->checks[0]->skipped_total == (uint64_t)(next_due - grid0) / 100);
    assert_int_equal(max_in_flight, 1);
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

static void slow_runs_skip_never_overlap(void **state)
{
    /* Runs take 250 ms at a 100 ms interval: ticks are skipped, never doubled. */
    struct fixture *f = setup(1, 100, 250, 8);
    uv_timer_t t;
    with_ticker(f, &t);
    run_for(f, 1100);
    assert_int_equal(max_in_flight, 1);
    assert_true(f->checks[0]->skipped_total >= 5);
    assert_true(nstarts[0] >= 3 && nstarts[0] <= 5);
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

static void concurrency_cap_queues(void **state)
{
    /* 10 checks wanting 5x what one slot gives: they queue, none is
     * dropped, and every one runs. */
    struct fixture *f = setup(10, 200, 50, 1);
    uv_timer_t t;
    with_ticker(f, &t);
    run_for(f, 1000);
    assert_int_equal(max_in_flight, 1);
    for (int i = 0; i < 10; i++) {
        assert_true(nstarts[i] >= 1);
    }
    struct sched_stats st;
    sched_get_stats(f->sched, &st);
    assert_true(st.queued_total >= 1);
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

/* Run the loop until every one of f's checks has started once, or for ms
 * milliseconds at most. */
static void run_until_all_started(struct fixture *f, int64_t ms)
{
    uint64_t until = uv_now(&f->loop) + (uint64_t)ms;
    for (;;) {
        int i = 0;
        while (i < f->n && nstarts[i] > 0) {
            i++;
        }
        if (i == f->n || uv_now(&f->loop) >= until) {
            return;
        }
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_update_time(&f->loop);
    }
}

static void first_run_within_one_interval(void **state)
{
    /* Each check is first due within one interval of its adding, and
     * its first run is that tick: judged on the scheduler's plan, not on
     * when a loaded machine let the loop start it. */
    struct fixture *f = setup(40, 400, 5, 64);
    uint64_t t0 = uv_now(&f->loop);
    int64_t planned[40];
    for (int i = 0; i < 40; i++) {
        planned[i] = f->checks[i]->next_due_ms;
        assert_true(planned[i] >= (int64_t)t0 && planned[i] < (int64_t)t0 + 400);
    }
    uv_timer_t t;
    with_ticker(f, &t);
    run_until_all_started(f, 10000);
    for (int i = 0; i < 40; i++) {
        assert_true(nstarts[i] >= 1);
        assert_true(starts[i][0] >= (uint64_t)planned[i]);
        /* The first run is for the first tick, or, if a stalled loop
         * missed ticks (skipped and counted), for the next one due. */
        int64_t late = dues[i][0] - planned[i];
        assert_true(late >= 0 && late % 400 == 0);
        assert_true(late / 400 <= (int64_t)f->checks[i]->skipped_total);
    }
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

static void remove_running_and_run_now(void **state)
{
    struct fixture *f = setup(2, 10000, 200, 8);
    uv_timer_t t;
    with_ticker(f, &t);
    /* run_now starts at once, and refuses a second run. */
    assert_int_equal(sched_run_now(f->sched, f->checks[0]), 0);
    assert_int_equal(sched_run_now(f->sched, f->checks[0]), -EBUSY);
    assert_int_equal(nstarts[0], 1);
    /* Removing the running check cancels it; it is freed when it ends. */
    struct check *c = f->checks[0];
    assert_false(sched_remove(f->sched, c));
    assert_true(c->removed);
    run_for(f, 50);
    assert_int_equal(in_flight, 0);
    assert_int_equal(results, 0); /* a cancelled result is dropped */
    f->checks[0] = check_create(&f->confs[0]); /* the old one was freed */
    /* Removing an idle check is immediate. */
    assert_true(sched_remove(f->sched, f->checks[1]));
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

static void set_interval_and_stop(void **state)
{
    struct fixture *f = setup(1, 10000, 5, 8);
    uv_timer_t t;
    with_ticker(f, &t);
    sched_set_interval(f->sched, f->checks[0], 50);
    run_for(f, 330);
    assert_true(nstarts[0] >= 5);
    sched_stop(f->sched);
    size_t before = nstarts[0];
    run_for(f, 200);
    assert_int_equal(nstarts[0], before);
    assert_int_equal(sched_run_now(f->sched, f->checks[0]), -ESHUTDOWN);
    uv_close((uv_handle_t *)&t, NULL);
    teardown_fixture(f);
}

static void failed_start_is_an_unknown_result(void **state)
{
    /* A start that fails ends the run at once: an unknown result, stamped
     * by the env's clock, and the slot is free again. */
    struct fixture *f = setup(1, 10000, 5, 1);
    f->checks[0]->type = &failing_type;
    assert_int_equal(sched_run_now(f->sched, f->checks[0]), 0);
    assert_int_equal(results, 1);
    assert_int_equal(last_result.outcome, STATE_UNKNOWN);
    assert_int_equal(last_result.started_ms, f->clock.now_ms);
    assert_string_equal(last_result.error, "cannot start: Input/output error");
    assert_null(f->checks[0]->run);
    struct sched_stats st;
    sched_get_stats(f->sched, &st);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.started_total, 1);
    assert_int_equal(f->checks[0]->runs_total, 1);
    assert_int_equal(sched_run_now(f->sched, f->checks[0]), 0);
    assert_int_equal(results, 2);
    teardown_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offsets_are_spread_and_stable),
        cmocka_unit_test(offsets_match_earlier_versions),
        cmocka_unit_test(fixed_rate_without_drift),
        cmocka_unit_test(slow_runs_skip_never_overlap),
        cmocka_unit_test(concurrency_cap_queues),
        cmocka_unit_test(first_run_within_one_interval),
        cmocka_unit_test(remove_running_and_run_now),
        cmocka_unit_test(set_interval_and_stop),
        cmocka_unit_test(failed_start_is_an_unknown_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
