/* state.c - the per-check state machine (rules in state.h). */
#include <string.h>

#include "state.h"
#include "util.h"

const int64_t check_duration_bounds_us[CHECK_DURATION_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

/* One step of the machine: streaks and the next state after outcome. */
static enum check_state step(enum check_state prev, bool fresh, int *fail_streak, int *ok_streak,
                             const struct conf_check *conf, enum check_state outcome)
{
    if (outcome == STATE_UP) {
        (*ok_streak)++;
        *fail_streak = 0;
        if (fresh || *ok_streak >= conf->success_threshold) {
            return STATE_UP;
        }
    } else {
        (*fail_streak)++;
        *ok_streak = 0;
        if (fresh || *fail_streak >= conf->failure_threshold) {
            return outcome;
        }
    }
    return prev;
}

/* Count r in c's metrics. */
void state_count(struct check *c, const struct result *r)
{
    if ((unsigned)r->outcome < ARRAY_SIZE(c->results_total)) {
        c->results_total[r->outcome]++;
    }
    for (int i = 0; i < CHECK_DURATION_BUCKETS; i++) {
        if (r->duration_us <= check_duration_bounds_us[i]) {
            c->duration_buckets[i]++;
        }
    }
    c->duration_count++;
    c->duration_sum_us += r->duration_us;
}

bool state_streak_routine(int streak, int threshold)
{
    return streak > threshold && streak % STATE_WRITE_EVERY != 0;
}

/* Apply r to c: streaks, state, last result, counters. */
bool state_apply(struct check *c, const struct result *r, enum check_state *from)
{
    enum check_state prev = c->state;
    bool fresh = prev == STATE_UNKNOWN && c->last.started_ms == 0;

    state_count(c, r);
    enum check_state next =
        step(prev, fresh, &c->fail_streak, &c->ok_streak, c->conf, r->outcome);
    bool up = r->outcome == STATE_UP;
    c->routine = next == prev && !fresh && r->cert_expiry_s == c->last.cert_expiry_s &&
                 state_streak_routine(up ? c->ok_streak : c->fail_streak,
                                      up ? c->conf->success_threshold
                                         : c->conf->failure_threshold);
    last_result_set(&c->last, r);
    *from = prev;
    if (next == prev) {
        return false;
    }
    c->state = next;
    c->state_since_ms = r->started_ms;
    return true;
}

/* Apply r to one location's machine. */
bool state_location_apply(struct check_location *loc, const struct conf_check *conf,
                          const struct result *r)
{
    enum check_state prev = loc->state;
    bool fresh = prev == STATE_UNKNOWN && loc->last.started_ms == 0;
    enum check_state next = step(prev, fresh, &loc->fail_streak, &loc->ok_streak, conf, r->outcome);
    loc->last = *r;
    if (next == prev) {
        return false;
    }
    loc->state = next;
    loc->state_since_ms = r->started_ms;
    return true;
}

/* The aggregated state of a locations-all check; drops expired locations. */
enum check_state state_aggregate(struct check_location *locs, size_t *n, int quorum,
                                 int64_t now_ms, int64_t max_age_ms)
{
    size_t live = 0, up = 0, down = 0, degraded = 0;
    for (size_t i = 0; i < *n; i++) {
        if (now_ms - locs[i].heard_ms > max_age_ms) {
            continue;
        }
        if (live != i) {
            locs[live] = locs[i];
        }
        switch (locs[live].state) {
        case STATE_UP:
            up++;
            break;
        case STATE_DOWN:
            down++;
            break;
        case STATE_DEGRADED:
            degraded++;
            break;
        case STATE_UNKNOWN:
            break;
        }
        live++;
    }
    *n = live;
    size_t q = quorum > 0 ? (size_t)quorum : 1;
    if (q > live) {
        q = live;
    }
    if (live == 0) {
        return STATE_UNKNOWN;
    }
    if (down >= q) {
        return STATE_DOWN;
    }
    if (down + degraded >= q) {
        return STATE_DEGRADED;
    }
    return up > 0 ? STATE_UP : STATE_UNKNOWN;
}
