/* civil.c - civil dates and unix time, by Howard Hinnant's algorithms
 * (http://howardhinnant.github.io/date_algorithms.html). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "civil.h"

#define DAY_MS 86400000LL

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
int64_t civil_to_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil date of a day number. */
void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 1970-01-01 was a Thursday. */
int civil_weekday(int64_t days)
{
    return (int)(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

/* Unix ms as RFC 3339 UTC with milliseconds. */
char *civil_format_rfc3339(int64_t ms, char *buf, size_t len)
{
    int64_t days = ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
    int64_t in_day = ms - days * DAY_MS;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(in_day / 3600000), (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
             (int)(in_day % 1000));
    return buf;
}

/* RFC 3339 text to unix ms. */
int civil_parse_rfc3339(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return -EINVAL;
    }
    const char *p = s + n;
    int frac = 0, digits = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (digits++ < 3) {
                frac = frac * 10 + (*p - '0');
            }
        }
        if (digits == 0) {
            return -EINVAL;
        }
        for (; digits < 3; digits++) {
            frac *= 10;
        }
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) {
            return -EINVAL;
        }
        off = (*p == '-' ? -1 : 1) * (oh * 60 + om);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p != '\0') {
        return -EINVAL;
    }
    int64_t secs = civil_to_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
