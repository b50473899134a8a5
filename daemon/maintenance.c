/* maintenance.c - the arithmetic of weekly maintenance windows (UTC). */
#include "civil.h"
#include "maintenance.h"

/* Day of the week (0 Sunday) and minute of the day of a UTC time. */
static void utc_parts(int64_t ms, int *wday, int64_t *day_start_ms)
{
    int64_t day_ms = ms % 86400000LL;
    *day_start_ms = ms - day_ms;
    *wday = civil_weekday(*day_start_ms / 86400000LL);
}

/* Whether now_ms is inside one of m's windows; start_ms and end_ms get
 * that window, or the next one (0 and 0 when m has no day). */
bool maintenance_window(const struct conf_maintenance *m, int64_t now_ms,
                              int64_t *start_ms, int64_t *end_ms)
{
    int wday;
    int64_t today;
    utc_parts(now_ms, &wday, &today);
    /* A window may run past midnight (up to 7 days): look back a week for
     * one still open, then forward for the next one. */
    bool found = false;
    for (int back = 7; back >= -7 && !found; back--) {
        int day = ((wday - back) % 7 + 7) % 7;
        if ((m->days & (1u << day)) == 0) {
            continue;
        }
        int64_t s = today - (int64_t)back * 86400000LL + (int64_t)m->start_min * 60000;
        int64_t e = s + m->duration_ms;
        if (e > now_ms) {
            *start_ms = s;
            *end_ms = e;
            found = true;
        }
    }
    if (!found) {
        *start_ms = *end_ms = 0;
    }
    return found && *start_ms <= now_ms;
}

