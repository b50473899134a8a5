/* when.c - the points in time an operator writes on the command line. */
#include "when.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "duration.h"

/* Exactly n digits at *p as an int; *p moves past them. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9') {
            return false;
        }
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* A point in time as an operator writes it, in unix ms: "+30m" (from now),
 * "14:30" (local, the next one), "2026-11-23 14:30[:00]" (local), or
 * "2026-11-23T14:30[:00][Z|+01:00]" (local without a zone). 0 or -1. */
int when_parse(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t span;
    if (s[0] == '+') {
        if (duration_parse(s + 1, &span) < 0 || span <= 0) {
            return -1;
        }
        *out = now_ms + span;
        return 0;
    }
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    bool date = false;
    const char *p = s;
    if (strlen(s) > 4 && s[4] == '-') {
        if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
            !digits(&p, 2, &d) || (*p != ' ' && *p != 'T')) {
            return -1;
        }
        p++;
        date = true;
    }
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi)) {
        return -1;
    }
    if (*p == ':') {
        p++;
        if (!digits(&p, 2, &sec)) {
            return -1;
        }
    }
    if ((date && (mo < 1 || mo > 12 || d < 1 || d > 31)) || h > 23 || mi > 59 || sec > 59) {
        return -1;
    }
    const char *zone = p;
    if (date && (zone[0] == 'Z' || zone[0] == '+' || zone[0] == '-')) {
        int zh = 0, zm = 0;
        int sign = zone[0] == '-' ? -1 : 1;
        const char *q = zone + 1;
        if (zone[0] != 'Z' && (!digits(&q, 2, &zh) || *q++ != ':' || !digits(&q, 2, &zm))) {
            return -1;
        }
        if (*q != '\0' || zh > 23 || zm > 59) {
            return -1;
        }
        int64_t t = civil_to_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
                    sign * (zh * 3600 + zm * 60);
        *out = t * 1000;
        return 0;
    }
    if (*zone != '\0') {
        return -1;
    }
    time_t now_s = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&now_s, &tm);
    if (date) {
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
    }
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    if (!date && (int64_t)t * 1000 <= now_ms) {
        tm.tm_mday++;       /* that time today is over: tomorrow's */
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    *out = (int64_t)t * 1000;
    return 0;
}
