/* duration.h - durations as operators write them: 500ms, 30s, 5m, 24h, 14d. */
#ifndef SHIPWATCH_DURATION_H
#define SHIPWATCH_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parse a duration into milliseconds. Accepts a sequence of number+unit
 * groups ("1h30m"), units ms, s, m, h, d; a bare "0" is zero. Rejects
 * negatives, missing units, overflow and trailing garbage: 0 or -EINVAL
 * (-ERANGE on overflow). */
int duration_parse(const char *s, int64_t *ms);

/* Format ms the way duration_parse reads it ("1h30m", "500ms", "0s") into
 * buf of size len; returns buf. */
char *duration_format(int64_t ms, char *buf, size_t len);

#endif
