/* maintenance.h - weekly maintenance windows: when one is open.
 *
 * A window (struct conf_maintenance, from the configuration) opens at
 * start_min minutes past midnight UTC on each of its days and lasts
 * duration_ms, possibly past midnight (up to seven days). Pure arithmetic
 * on unix milliseconds: nothing is allocated, nothing is kept. */
#ifndef SHIPWATCH_MAINTENANCE_H
#define SHIPWATCH_MAINTENANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Whether now_ms is inside one of m's windows. start_ms and end_ms get the
 * window that is open, else the next one; both 0 when m has no day. */
bool maintenance_window(const struct conf_maintenance *m, int64_t now_ms, int64_t *start_ms,
                        int64_t *end_ms);

#endif
