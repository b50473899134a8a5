/* panel_overview.c - every check, grouped by app and env or sorted. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "out.h"
#include "panel.h"
#include "theme.h"

static const char *const spark_utf8[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char spark_ascii[] = "_.-:=+*#";

/* A sparkline of r in w columns, scaled to its own maximum; a failed run
 * is an x, not only a colour, so it shows without colours too. */
static void draw_spark(const struct dash *d, int y, int x, int w, const struct row *r)
{
    if (r->nspark == 0 || w <= 0) {
        return;
    }
    unsigned n = r->nspark < (unsigned)w ? r->nspark : (unsigned)w;
    uint32_t max = 1;
    for (unsigned i = 0; i < n; i++) {
        unsigned at = (r->spark_at + SPARK_N - n + i) % SPARK_N;
        if (r->spark[at] > max) {
            max = r->spark[at];
        }
    }
    move(y, x);
    for (unsigned i = 0; i < n; i++) {
        unsigned at = (r->spark_at + SPARK_N - n + i) % SPARK_N;
        unsigned lvl = (unsigned)((uint64_t)r->spark[at] * 7 / max);
        if (r->spark_fail[at]) {
            theme_on(ROLE_DOWN, 0);
        }
        if (r->spark_fail[at]) {
            addch('x');
        } else if (d->utf8) {
            addstr(spark_utf8[lvl]);
        } else {
            addch((chtype)spark_ascii[lvl]);
        }
        if (r->spark_fail[at]) {
            theme_off(ROLE_DOWN, 0);
        }
    }
}

/* Worst first: down, degraded, unknown, up. */
static int state_rank(const char *state)
{
    switch (theme_state_role(state)) {
    case ROLE_DOWN: return 0;
    case ROLE_DEGRADED: return 1;
    case ROLE_UNKNOWN: return 2;
    default: return 3;
    }
}

/* qsort has no argument for its comparison: the order and the data. */
static enum sort cmp_by;
static const struct dash *cmp_dash;

/* Two checks in the order cmp_by, by name when equal. */
static int cmp_checks(const void *a, const void *b)
{
    const struct ipc_check *x = &cmp_dash->checks.checks[*(const int *)a];
    const struct ipc_check *y = &cmp_dash->checks.checks[*(const int *)b];
    int r = 0;
    switch (cmp_by) {
    case S_NAME:
        r = strcmp(x->name, y->name);
        break;
    case S_STATE:
        r = state_rank(x->state) - state_rank(y->state);
        break;
    case S_LATENCY:
        r = (y->last_duration_us > x->last_duration_us) - (y->last_duration_us < x->last_duration_us);
        break;
    default:
        break;
    }
    return r != 0 ? r : strcmp(x->name, y->name);
}

/* The rows: check indexes, with group headers (-1 - index of the group's
 * first check) when sorted by app. */
static void build_rows(const struct dash *d, struct panel *p)
{
    size_t n = d->checks.nchecks;
    if (!panel_rows_alloc(p, 2 * n)) {
        return;
    }
    int *idx = malloc((n + 1) * sizeof(int));
    if (idx == NULL) {
        return;
    }
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ipc_check *c = &d->checks.checks[i];
        if (panel_matches(d, c->name, c->app, c->env, c->state, c->type,
                          c->paused ? "paused" : NULL)) {
            idx[m++] = (int)i;
        }
    }
    if (d->sort != S_CONFIG) {
        cmp_by = d->sort;
        cmp_dash = d;
        qsort(idx, (size_t)m, sizeof(int), cmp_checks);
        memcpy(p->rows, idx, (size_t)m * sizeof(int));
        p->nrows = m;
        free(idx);
        return;
    }
    /* Grouped: every (app, env) in order of first appearance. */
    bool *done = calloc((size_t)m + 1, sizeof(bool));
    if (done == NULL) {
        free(idx);
        return;
    }
    for (int i = 0; i < m; i++) {
        if (done[i]) {
            continue;
        }
        const struct ipc_check *g = &d->checks.checks[idx[i]];
        p->rows[p->nrows++] = -1 - idx[i];
        for (int j = i; j < m; j++) {
            const struct ipc_check *c = &d->checks.checks[idx[j]];
            if (!done[j] && panel_same_str(c->app, g->app) && panel_same_str(c->env, g->env)) {
                p->rows[p->nrows++] = idx[j];
                done[j] = true;
            }
        }
    }
    free(done);
    free(idx);
}

/* A group header (app / env and its last deploy) on row y. */
static void draw_group(const struct dash *d, const struct ipc_check *g, int y, int w, int64_t now)
{
    const struct ipc_deploy *dp = panel_last_deploy(d, g->app, g->env);
    attron(A_BOLD);
    panel_putf(y, 0, w, "%s / %s", g->app ? g->app : "(no app)", g->env ? g->env : "-");
    attroff(A_BOLD);
    if (dp == NULL) {
        return;
    }
    char age[32];
    out_ago(dp->started_ms, now, age, sizeof(age));
    int x = 4 + (int)strlen(g->app ? g->app : "(no app)") + (int)strlen(g->env ? g->env : "-");
    theme_on(ROLE_DIM, 0);
    panel_putf(y, x + 2, w - x - 2, "deploy %s %s%s%s", dp->version, age, dp->verdict ? ", " : "",
               dp->verdict ? dp->verdict : "");
    theme_off(ROLE_DIM, 0);
}

/* Columns by width: at 80 the essentials, from 110 latency p95, the
 * 7-day uptime and a sparkline, from 150 a longer sparkline and names;
 * the problem takes what is left. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    build_rows(d, p);
    panel_fix_selection(d, p, h - 1);
    int64_t now = clock_wall_ms();
    int name_w = w >= 150 ? 28 : w >= 110 ? 22 : 18;
    bool mid = w >= 110;
    int spark_w = w >= 150 ? SPARK_N : mid ? 16 : 0;
    char head[256];
    snprintf(head, sizeof(head), "  %-6s %-*s %-7s %7s%s %7s%s%-*s %5s  %s", "STATE", name_w,
             "NAME", "TYPE", "LAST", mid ? "     P95" : "", "UP 24H", mid ? "   UP 7D" : "",
             spark_w ? spark_w + 2 : 1, spark_w ? "  RECENT" : "", "AGE", "PROBLEM");
    theme_on(ROLE_HEADER, 0);
    panel_put(y0, 0, w, head);
    theme_off(ROLE_HEADER, 0);
    for (int i = 0; i < h - 1 && p->top + i < p->nrows; i++) {
        int line = p->top + i;
        int y = y0 + 1 + i;
        int k = p->rows[line];
        if (k < 0) {
            draw_group(d, &d->checks.checks[-1 - k], y, w, now);
            continue;
        }
        const struct ipc_check *c = &d->checks.checks[k];
        const struct row *r = &d->rows[k];
        bool selected = line == p->sel;
        if (selected) {
            theme_on(ROLE_SELECTED, 0);
            panel_fill(y, w);
        }
        enum role role = theme_state_role(c->state);
        theme_on(role, A_BOLD);
        panel_putf(y, 2, 6, "%s", panel_state_word(c->state));
        theme_off(role, A_BOLD);
        char last[16], p95[16], u24[16], u7[16], age[24];
        panel_span_us(c->last_ms ? c->last_duration_us : 0, last, sizeof(last));
        panel_span_us(r->has_stats ? r->st.p95_1h_us : 0, p95, sizeof(p95));
        panel_uptime(r->st.uptime_24h_ppm, r->has_stats && r->st.runs_24h > 0, u24, sizeof(u24));
        panel_uptime(r->st.uptime_7d_ppm, r->has_stats && r->st.runs_7d > 0, u7, sizeof(u7));
        panel_age(c->last_ms, now, age, sizeof(age));
        char mid_cols[32] = "";
        if (mid) {
            snprintf(mid_cols, sizeof(mid_cols), " %7s", p95);
        }
        char cols[256];
        int x = 9;
        int n = snprintf(cols, sizeof(cols), "%-*.*s %-7.7s %7s%s %7s", name_w, name_w, c->name,
                         c->paused ? "paused" : c->type, last, mid_cols, u24);
        panel_put(y, x, w - x, cols);
        x += n;
        if (mid) {
            panel_putf(y, x, w - x, " %7s", u7);
            x += 8;
        }
        if (spark_w) {
            draw_spark(d, y, x + 2, spark_w < w - x - 2 ? spark_w : w - x - 2, r);
            x += 2 + spark_w;
        }
        panel_putf(y, x, w - x, " %5s  %s", age,
                   c->last_condition ? c->last_condition : c->last_error ? c->last_error : "");
        if (selected) {
            theme_off(ROLE_SELECTED, 0);
        }
    }
    if (p->nrows == 0) {
        panel_put(y0 + 2, 2, w - 2,
                  d->checks.nchecks == 0 ? "no checks" : "nothing matches the filter");
    }
}

/* The check on the selected row. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    if (p->sel >= 0 && p->sel < p->nrows && p->rows[p->sel] >= 0) {
        return p->rows[p->sel];
    }
    return -1;
}

/* Group headers cannot be selected. */
static bool selectable(const struct dash *d, const struct panel *p, int i)
{
    return p->rows[i] >= 0;
}

const struct panel_class panel_overview = {
    .name = "Overview",
    .command = "overview",
    .tab = true,
    .sorted = true,
    .draw = draw,
    .selected_check = selected_check,
    .selectable = selectable,
};
