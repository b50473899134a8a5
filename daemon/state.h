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
 * changed, with the previous state in *from. */
bool state_apply(struct check *c, const struct result *r, enum check_state *from);

#endif
