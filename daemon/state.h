/* state.h - the per-check state machine.
 *
 * A result is good when its outcome is STATE_UP and bad otherwise. Good
 * results grow ok_streak and reset fail_streak; bad ones the reverse. The
 * state turns UP after success_threshold good results in a row, and turns to
 * the latest bad outcome (down, degraded or unknown) after failure_threshold
 * bad results in a row; while already bad it follows the latest bad outcome.
 * A check with no history (state UNKNOWN and no previous result) takes its
 * first result's outcome at once, so a fresh daemon shows real states on the
 * first round. */
#ifndef SHIPWATCH_STATE_H
#define SHIPWATCH_STATE_H

#include <stdbool.h>

#include "check.h"

/* Apply r to c's streaks, state and last result. Returns true when the state
 * changed, with the previous state in *from. Sets c->routine. */
bool state_apply(struct check *c, const struct result *r, enum check_state *from);

/* A result is routine when it changed neither the state nor the certificate
 * expiry, and only grew a streak already past its threshold: the store may
 * then skip the check's state row, and rebuild it at start from the results
 * after the row's last one (each of them grew the same streak by one). Every
 * STATE_WRITE_EVERY-th result of a streak is not routine, which bounds what
 * a start reads back. */
#define STATE_WRITE_EVERY 32
bool state_streak_routine(int streak, int threshold);

/* Count r in c's metrics (outcomes, duration histogram) alone. state_apply
 * does it itself; a locations-all check's own results use this with
 * state_location_apply. */
void state_count(struct check *c, const struct result *r);

/* Apply r to one location's state machine, with conf's thresholds, by the
 * same rules. Returns true when that location's state changed. */
bool state_location_apply(struct check_location *loc, const struct conf_check *conf,
                          const struct result *r);

/* The state of a "locations: all" check from its locations' views. Only
 * locations heard within max_age_ms before now count; the others are
 * removed from locs (*n shrinks). With q = min(quorum, locations left):
 * down when at least q say down; degraded when at least q say down or
 * degraded; up when any says up; else unknown. The min keeps a daemon that
 * lost its peers (Redis down) able to see an outage on its own. */
enum check_state state_aggregate(struct check_location *locs, size_t *n, int quorum,
                                 int64_t now_ms, int64_t max_age_ms);

#endif
