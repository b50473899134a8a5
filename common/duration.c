/* duration.c - durations as operators write them: 500ms, 30s, 5m, 24h, 14d.
 *
 * A duration is one or more groups of digits followed by a unit, units in
 * decreasing order and each at most once ("1d12h", "1h30m", "2s500ms"). A
 * bare "0" is zero. No sign, no spaces, no fractions ("1.5h" is written
 * "1h30m" or "90m"). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "util.h"

/* Units from the largest to the smallest; "ms" is tried before "m". */
static const struct {
    const char *name;
    int64_t ms;
} units[] = {
    {"d", 86400LL * 1000}, {"h", 3600LL * 1000}, {"ms", 1}, {"m", 60LL * 1000}, {"s", 1000},
};

/* The rank of a unit by size, larger first, so the order can be enforced. */
static int unit_rank(int64_t ms)
{
    switch (ms) {
    case 86400LL * 1000:
        return 0;
    case 3600LL * 1000:
        return 1;
    case 60LL * 1000:
        return 2;
    case 1000:
        return 3;
    default:
        return 4;
    }
}

/* Parse a duration into milliseconds: 0, -EINVAL, or -ERANGE on overflow. */
int duration_parse(const char *s, int64_t *ms)
{
    if (s == NULL || *s == '\0') {
        return -EINVAL;
    }
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    int last_rank = -1;
    bool overflow = false;
    const char *p = s;
    while (*p != '\0') {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            int digit = *p - '0';
            if (n > (INT64_MAX - digit) / 10) {
                overflow = true;
            } else {
                n = n * 10 + digit;
            }
            p++;
        }
        int64_t unit = 0;
        size_t unit_len = 0;
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
            size_t l = strlen(units[i].name);
            if (strncmp(p, units[i].name, l) == 0) {
                unit = units[i].ms;
                unit_len = l;
                break;
            }
        }
        if (unit == 0) {
            return -EINVAL;
        }
        int rank = unit_rank(unit);
        if (rank <= last_rank) {
            return -EINVAL;
        }
        last_rank = rank;
        p += unit_len;
        if (overflow || n > INT64_MAX / unit || total > INT64_MAX - n * unit) {
            overflow = true;
            continue; /* keep going: garbage later still makes it -EINVAL */
        }
        total += n * unit;
    }
    if (overflow) {
        return -ERANGE;
    }
    *ms = total;
    return 0;
}

/* Format ms as duration_parse reads it into buf of size len; returns buf.
 * Negative values get a leading '-' (for display only: parse rejects it). */
char *duration_format(int64_t ms, char *buf, size_t len)
{
    if (buf == NULL || len == 0) {
        return buf;
    }
    buf[0] = '\0';
    uint64_t v;
    size_t at = 0;
    if (ms < 0) {
        v = (uint64_t)(-(ms + 1)) + 1; /* INT64_MIN safe */
        if (len > 1) {
            buf[at++] = '-';
            buf[at] = '\0';
        }
    } else {
        v = (uint64_t)ms;
    }
    if (v == 0) {
        snprintf(buf + at, len - at, "0s");
        return buf;
    }
    static const struct {
        const char *name;
        uint64_t ms;
    } parts[] = {
        {"d", 86400ULL * 1000}, {"h", 3600ULL * 1000}, {"m", 60ULL * 1000}, {"s", 1000}, {"ms", 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(parts) && at < len - 1; i++) {
        uint64_t n = v / parts[i].ms;
        v %= parts[i].ms;
        if (n == 0) {
            continue;
        }
        int w = snprintf(buf + at, len - at, "%llu%s", (unsigned long long)n, parts[i].name);
        if (w < 0 || (size_t)w >= len - at) {
            break; /* truncated: snprintf already terminated it */
        }
        at += (size_t)w;
    }
    return buf;
}
