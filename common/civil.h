/* civil.h - civil (proleptic Gregorian, UTC) dates and unix time.
 *
 * Pure arithmetic on integers (Howard Hinnant's algorithms): no time zone,
 * no locale, no libc state, so it is thread-safe and gives the same answer
 * on every machine. Local time stays with localtime_r/mktime at the edges
 * (the CLI's input and the dashboard's output). Text goes into buffers the
 * caller owns. */
#ifndef SHIPWATCH_CIVIL_H
#define SHIPWATCH_CIVIL_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest civil_format_rfc3339 output and its NUL. */
#define CIVIL_RFC3339_LEN 32

/* Days from 1970-01-01 to y-m-d (m 1..12, d 1..31; not range-checked). */
int64_t civil_to_days(int64_t y, int m, int d);

/* The date of a day counted from 1970-01-01 (negative before it). */
void civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Day of the week of a day counted from 1970-01-01: 0 Sunday .. 6 Saturday. */
int civil_weekday(int64_t days);

/* Unix ms as RFC 3339 UTC with milliseconds ("2026-11-23T09:30:00.250Z")
 * into buf of size len (CIVIL_RFC3339_LEN is always enough); returns buf. */
char *civil_format_rfc3339(int64_t ms, char *buf, size_t len);

/* RFC 3339 ("2026-11-23T09:30:00Z", "...T09:30:00.250+01:00") to unix ms,
 * fractions past milliseconds ignored. 0, or -EINVAL (*ms untouched). */
int civil_parse_rfc3339(const char *s, int64_t *ms);

#endif
