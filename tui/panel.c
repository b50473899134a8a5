/* panel.c - what the dashboard's panels share: printing, filtering and
 * keeping a table's selection in view. */
#include "panel.h"

#include <ctype.h>
#include <curses.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "out.h"
#include "theme.h"
#include "util.h"

const char *const sort_names[S_COUNT] = {"problems", "app", "name", "state", "latency"};

/* Walk s a column at a time, control characters as '?', at most w
 * columns; print at (y, x) when draw. The columns it takes. */
static int walk(int y, int x, int w, const char *s, bool draw)
{
    if (w <= 0 || s == NULL) {
        return 0;
    }
    if (draw) {
        move(y, x);
    }
    int used = 0;
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    while (*s != '\0' && used < w) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || wc < 0x20 || wc == 0x7f) {
            memset(&st, 0, sizeof(st));
            if (draw) {
                addch('?');
            }
            used++;
            s += (n == (size_t)-1 || n == (size_t)-2) ? 1 : n;
            continue;
        }
        int cw = wcwidth(wc);
        cw = cw < 0 ? 1 : cw;
        if (used + cw > w) {
            break;
        }
        if (draw) {
            addnstr(s, (int)n);
        }
        used += cw;
        s += n;
    }
    return used;
}

/* Print s, a column at a time, control characters as '?'. */
void panel_put(int y, int x, int w, const char *s)
{
    walk(y, x, w, s, true);
}

/* What panel_put would take, in columns. */
int panel_width(const char *s)
{
    return walk(0, 0, INT_MAX, s, false);
}

/* The bytes of s that fit in w columns, ended after the last space
 * that fits when the whole does not (a word longer than w is cut). */
static size_t fit(const char *s, int w)
{
    size_t at = 0, space = 0;
    int used = 0;
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    while (s[at] != '\0') {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s + at, MB_CUR_MAX, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
            memset(&st, 0, sizeof(st));
            n = 1;
            wc = '?';
        }
        int cw = wcwidth(wc);
        used += cw < 1 ? 1 : cw;
        if (used > w) {
            return space > 0 ? space : at;
        }
        at += n;
        if (wc == ' ') {
            space = at;
        }
    }
    return at;
}

/* Line by line; the last line allowed takes what is left, cut. */
int panel_wrap(int y, int x, int w, int lines, const char *s)
{
    int used = 0;
    while (s != NULL && *s != '\0' && used < lines && w > 0) {
        size_t n = used == lines - 1 ? strlen(s) : fit(s, w);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), s);
        panel_put(y + used, x, w, line);
        s += n > 0 ? n : 1;
        used++;
    }
    return used;
}

/* Format into a line-sized buffer, then panel_put. */
void panel_putf(int y, int x, int w, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    panel_put(y, x, w, buf);
}

/* Spaces across the row, in the attributes on. */
void panel_fill(int y, int w)
{
    move(y, 0);
    for (int x = 0; x < w; x++) {
        addch(' ');
    }
}

/* Whether s holds needle, ASCII letters in either case. */
static bool contains_nocase(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s != '\0'; s++) {
        size_t i = 0;
        while (i < n && s[i] != '\0' &&
               tolower((unsigned char)s[i]) == tolower((unsigned char)needle[i])) {
            i++;
        }
        if (i == n) {
            return true;
        }
    }
    return n == 0;
}

/* A substring match on any of the fields. */
bool panel_matches_any(const struct dash *d, const char *const *fields, size_t n)
{
    if (d->filter[0] == '\0') {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i] != NULL && contains_nocase(fields[i], d->filter)) {
            return true;
        }
    }
    return false;
}

/* By the index of names: 100,000 checks, and a result for each every
 * few seconds. */
int panel_find_check(const struct dash *d, const char *name)
{
    return strmap_get(&d->check_index, name);
}

/* Deploys come newest first: the first match. */
const struct ipc_deploy *panel_last_deploy(const struct dash *d, const char *app,
                                           const char *env)
{
    for (size_t i = 0; i < d->deploys.ndeploys; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[i];
        if (app != NULL && dp->app != NULL && strcmp(dp->app, app) == 0 &&
            (env == NULL || (dp->env != NULL && strcmp(dp->env, env) == 0))) {
            return dp;
        }
    }
    return NULL;
}

/* Event i counted from the ring's head. */
const struct evline *panel_event_at(const struct dash *d, size_t i)
{
    return &d->events[(d->ev_head + i) % EVENTS_MAX];
}

/* UP, DOWN, DEGR or UNKN. */
const char *panel_state_word(const char *state)
{
    switch (theme_state_role(state)) {
    case ROLE_UP: return "UP";
    case ROLE_DOWN: return "DOWN";
    case ROLE_DEGRADED: return "DEGR";
    default: return "UNKN";
    }
}

/* FAILED and DEGRADED loud, the others as the daemon says them. */
const char *panel_verdict_word(const char *verdict, enum role *role)
{
    static const struct {
        const char *verdict, *word;
        enum role role;
    } words[] = {
        {"failed", "FAILED", ROLE_DOWN},
        {"degraded", "DEGRADED", ROLE_DEGRADED},
        {"healthy", "healthy", ROLE_UP},
        {"pending", "verifying", ROLE_UNKNOWN},
    };
    for (size_t i = 0; verdict != NULL && i < ARRAY_SIZE(words); i++) {
        if (strcmp(verdict, words[i].verdict) == 0) {
            *role = words[i].role;
            return words[i].word;
        }
    }
    *role = ROLE_UNKNOWN;
    return verdict != NULL ? verdict : "-";
}

/* "↓ 12 more (2 down)   ↑ 3 above", dim, so it reads as no row. */
void panel_more(const struct dash *d, int y, int w, int above, int below, const char *note)
{
    if (above <= 0 && below <= 0) {
        return;
    }
    char down[96] = "", up[32] = "";
    if (below > 0) {
        snprintf(down, sizeof(down), "%s %d more%s%s%s", d->utf8 ? "↓" : "v", below,
                 note != NULL ? " (" : "", note != NULL ? note : "", note != NULL ? ")" : "");
    }
    if (above > 0) {
        snprintf(up, sizeof(up), "%s%s %d above", below > 0 ? "   " : "", d->utf8 ? "↑" : "^",
                 above);
    }
    theme_on(ROLE_DIM, A_BOLD);
    panel_putf(y, 2, w - 2, "%s%s", down, up);
    theme_off(ROLE_DIM, A_BOLD);
}

/* out_span_us, or "-" for nothing. */
void panel_span_us(int64_t us, char *buf, size_t len)
{
    if (us <= 0) {
        snprintf(buf, len, "-");
    } else {
        out_span_us(us, buf, len);
    }
}

/* "99.95%", "100%" or "-". */
void panel_uptime(int64_t ppm, bool has, char *buf, size_t len)
{
    if (!has || ppm < 0) {
        snprintf(buf, len, "-");
    } else if (ppm >= 1000000) {
        snprintf(buf, len, "100%%");
    } else {
        snprintf(buf, len, "%.2f%%", (double)ppm / 10000.0);
    }
}

/* An age for a column: "5s", "2m31s". */
void panel_age(int64_t ms, int64_t now_ms, char *buf, size_t len)
{
    out_ago(ms, now_ms, buf, len);
    char *sp = strstr(buf, " ago");
    if (sp != NULL) {
        *sp = '\0';
    }
}

/* Equal strings, or both absent. */
bool panel_same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The old rows go; n + 1 so that an empty table still allocates. */
bool panel_rows_alloc(struct panel *p, size_t n)
{
    free(p->rows);
    p->rows = malloc((n + 1) * sizeof(int));
    p->nrows = 0;
    return p->rows != NULL;
}

/* Clamp, skip unselectable rows (forward first), then scroll. */
void panel_fix_selection(const struct dash *d, struct panel *p, int h)
{
    if (p->nrows == 0) {
        p->sel = 0;
        p->top = 0;
        return;
    }
    if (p->sel >= p->nrows) {
        p->sel = p->nrows - 1;
    }
    if (p->sel < 0) {
        p->sel = 0;
    }
    if (p->cls->selectable != NULL) {
        int s = p->sel;
        while (s < p->nrows && !p->cls->selectable(d, p, s)) {
            s++;
        }
        if (s == p->nrows) {
            s = p->sel;
            while (s > 0 && !p->cls->selectable(d, p, s)) {
                s--;
            }
        }
        p->sel = s;
    }
    if (p->sel < p->top) {
        p->top = p->sel;
    }
    if (p->sel >= p->top + h) {
        p->top = p->sel - h + 1;
    }
    if (p->top > p->nrows - h) {
        p->top = p->nrows - h > 0 ? p->nrows - h : 0;
    }
    if (p->top < 0) {
        p->top = 0;
    }
}

/* "label" dim in the first 10 columns, text after it, wrapped. */
int panel_field(int y, int w, int lines, const char *label, const char *text)
{
    theme_on(ROLE_DIM, 0);
    panel_put(y, 0, 10, label);
    theme_off(ROLE_DIM, 0);
    return panel_wrap(y, 10, w - 10, lines, text != NULL ? text : "-");
}

/* What an answer needs to know whether it is still wanted. */
struct panel_ask {
    struct dash *d;
    const unsigned *gen_now;    /* the fetch counter it belongs to */
    unsigned gen;               /* its value when asked */
};

/* An ask of the fetch *gen_now counts; NULL when out of memory. */
struct panel_ask *panel_ask_new(struct dash *d, const unsigned *gen_now)
{
    struct panel_ask *ask = malloc(sizeof(*ask));
    if (ask != NULL) {
        *ask = (struct panel_ask){.d = d, .gen_now = gen_now, .gen = *gen_now};
    }
    return ask;
}

/* The dashboard when the ask is still current, else NULL; frees it. */
struct dash *panel_ask_done(struct panel_ask *ask)
{
    struct dash *d = ask->gen == *ask->gen_now ? ask->d : NULL;
    free(ask);
    return d;
}

/* A copy and a zeroing: the link frees an empty struct. */
void panel_take(void *dst, void *src, size_t size)
{
    memcpy(dst, src, size);
    memset(src, 0, size);
}

/* A copy, or NULL for NULL (and when out of memory). */
char *panel_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}
