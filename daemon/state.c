/* state.c - the per-check state machine (rules in state.h). */
#include "state.h"

const int64_t check_duration_bounds_us[CHECK_DURATION_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

/* Apply r to c: streaks, state, last result, counters. */
bool state_apply(struct check *c, const struct result *r, enum check_state *from)
{
    enum check_state prev = c->state;
    bool fresh = prev == STATE_UNKNOWN && c->last.started_ms == 0;
    enum check_state next = prev;

    if ((unsigned)r->outcome < sizeof(c->results_total) / sizeof(c->results_total[0])) {
        c->results_total[r->outcome]++;
    }
    for (int i = 0; i < CHECK_DURATION_BUCKETS; i++) {
        if (r->duration_us <= check_duration_bounds_us[i]) {
            c->duration_buckets[i]++;
        }
    }
    c->duration_count++;
    c->duration_sum_us += r->duration_us;
    if (r->outcome == STATE_UP) {
        c->ok_streak++;
        c->fail_streak = 0;
        if (fresh || c->ok_streak >= c->conf->success_threshold) {
            next = STATE_UP;
        }
    } else {
        c->fail_streak++;
        c->ok_streak = 0;
        if (fresh || c->fail_streak >= c->conf->failure_threshold) {
            next = r->outcome;
        }
    }
    c->last = *r;
    *from = prev;
    if (next == prev) {
        return false;
    }
    c->state = next;
    c->state_since_ms = r->started_ms;
    return true;
}
