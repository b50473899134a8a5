/* when.h - the points in time an operator writes on the command line.
 * Pure parsing: no state, the caller owns every buffer. */
#ifndef SHIPWATCH_WHEN_H
#define SHIPWATCH_WHEN_H

#include <stdint.h>

/* A point in time as an operator writes it, in unix ms: "+30m" (from now),
 * "14:30" (local, the next one), "2026-11-23 14:30[:00]" (local), or
 * "2026-11-23T14:30[:00][Z|+01:00]" (local without a zone). 0 or -1. */
int when_parse(const char *s, int64_t now_ms, int64_t *out);

#endif
