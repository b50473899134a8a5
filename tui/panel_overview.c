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

/* Where a check goes in a grouped order: its group's rank and number,
 * then its own rank and index. */
struct place {
    int group_rank, group, rank, k;
};

/* Every field in turn: qsort is not stable, the indexes make it so. */
static int cmp_places(const void *a, const void *b)
{
    const struct place *x = a, *y = b;
    return x->group_rank != y->group_rank ? x->group_rank - y->group_rank
           : x->group != y->group         ? x->group - y->group
           : x->rank != y->rank           ? x->rank - y->rank
                                          : x->k - y->k;
}

/* Grouped by (app, env), the groups in order of first appearance; by
 * problems, the groups with something wrong (a check not up, a failed
 * last deploy) first and each group's worst checks first, so a check
 * down is on the first screen whatever the number of checks. A group
 * header is the row -1 - (a check of the group). */
static void build_groups(const struct dash *d, struct panel *p, const int *idx, int m,
                         bool problems)
{
    size_t n = d->checks.nchecks;
    struct place *pl = calloc((size_t)m + 1, sizeof(*pl));
    int *lead = calloc((size_t)m + 1, sizeof(int));     /* a group's first check */
    int *rank = calloc((size_t)m + 1, sizeof(int));     /* a group's rank */
    int *number = malloc((n + 1) * sizeof(int));        /* by its app and env's first
                                                           check: its group; -1 none yet */
    if (pl == NULL || lead == NULL || rank == NULL || number == NULL) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        number[i] = -1;
    }
    int ngroups = 0;
    for (int i = 0; i < m; i++) {
        const struct ipc_check *c = &d->checks.checks[idx[i]];
        int first = d->rows[idx[i]].group;
        if (number[first] < 0) {
            number[first] = ngroups;
            lead[ngroups] = idx[i];
            rank[ngroups++] = 3;
        }
        int g = number[first];
        pl[i] = (struct place){.group = g, .rank = problems ? state_rank(c->state) : 0,
                               .k = idx[i]};
        rank[g] = pl[i].rank < rank[g] ? pl[i].rank : rank[g];
    }
    for (int g = 0; problems && g < ngroups; g++) {
        const struct ipc_check *c = &d->checks.checks[lead[g]];
        const struct ipc_deploy *dp = panel_last_deploy(d, c->app, c->env);
        if (dp != NULL && panel_same_str(dp->verdict, "failed")) {
            rank[g] = 0;
        }
    }
    for (int i = 0; i < m; i++) {
        pl[i].group_rank = problems ? rank[pl[i].group] : 0;
    }
    qsort(pl, (size_t)m, sizeof(*pl), cmp_places);
    for (int i = 0; i < m; i++) {
        if (i == 0 || pl[i].group != pl[i - 1].group) {
            p->rows[p->nrows++] = -1 - pl[i].k;
        }
        p->rows[p->nrows++] = pl[i].k;
    }
done:
    free(pl);
    free(lead);
    free(rank);
    free(number);
}

/* The rows: check indexes, with group headers when grouped. */
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
    if (d->sort == S_PROBLEMS || d->sort == S_CONFIG) {
        build_groups(d, p, idx, m, d->sort == S_PROBLEMS);
    } else {
        cmp_by = d->sort;
        cmp_dash = d;
        qsort(idx, (size_t)m, sizeof(int), cmp_checks);
        memcpy(p->rows, idx, (size_t)m * sizeof(int));
        p->nrows = m;
    }
    free(idx);
}

/* A group header: app / env, and its last deploy with its verdict; a
 * failed one with the version to roll back to. When the line is too
 * narrow the deploy's age goes first, then the word "deploy", then the
 * app and env are cut: the rollback target stays. */
static void draw_group(const struct dash *d, const struct ipc_check *g, int y, int w, int64_t now)
{
    char name[160];
    snprintf(name, sizeof(name), "%s / %s", g->app ? g->app : "(no app)", g->env ? g->env : "-");
    const struct ipc_deploy *dp = panel_last_deploy(d, g->app, g->env);
    if (dp == NULL) {
        attron(A_BOLD);
        panel_put(y, 0, w, name);
        attroff(A_BOLD);
        return;
    }
    char age[32], rollback[128] = "";
    out_ago(dp->started_ms, now, age, sizeof(age));
    enum role role;
    const char *verdict = dp->verdict != NULL ? panel_verdict_word(dp->verdict, &role) : "";
    if (panel_same_str(dp->verdict, "failed")) {
        const char *arrow = d->utf8 ? "→" : "->";
        if (dp->rollback_version != NULL) {
            snprintf(rollback, sizeof(rollback), " %s roll back to %s", arrow, dp->rollback_version);
        } else {
            snprintf(rollback, sizeof(rollback), " %s no healthy version to roll back to", arrow);
        }
    }
    /* The deploy's part, from the most to the least said. */
    char lead[3][192];
    snprintf(lead[0], sizeof(lead[0]), "deploy %s %s ", dp->version, age);
    snprintf(lead[1], sizeof(lead[1]), "deploy %s ", dp->version);
    snprintf(lead[2], sizeof(lead[2]), "%s ", dp->version);
    int tail = panel_width(verdict) + panel_width(rollback);
    int nw = panel_width(name);
    int pick = 0;
    while (pick < 2 && nw + 2 + panel_width(lead[pick]) + tail > w) {
        pick++;
    }
    int x = nw + 2 + panel_width(lead[pick]) + tail > w ? w - panel_width(lead[pick]) - tail
                                                        : nw + 2;
    x = x < 0 ? 0 : x;
    attron(A_BOLD);
    panel_put(y, 0, x > 2 ? x - 2 : x, name);
    attroff(A_BOLD);
    theme_on(ROLE_DIM, 0);
    panel_put(y, x, w - x, lead[pick]);
    theme_off(ROLE_DIM, 0);
    x += panel_width(lead[pick]);
    if (dp->verdict != NULL) {
        theme_on(role, role == ROLE_DOWN ? A_BOLD : 0);
        panel_put(y, x, w - x, verdict);
        theme_off(role, role == ROLE_DOWN ? A_BOLD : 0);
        x += panel_width(verdict);
    }
    attron(A_BOLD);
    panel_put(y, x, w - x, rollback);
    attroff(A_BOLD);
}

/* The mark of a check's open alerts, the loudest of them: '!' one
 * firing, 'a' acknowledged, 'm' muted (its notifications held); ' '
 * none. */
static char alert_mark(const struct dash *d, const char *check, enum role *role)
{
    char mark = ' ';
    *role = ROLE_NORMAL;
    for (size_t i = 0; i < d->alerts.nalerts && mark != '!'; i++) {
        const struct ipc_alert *a = &d->alerts.alerts[i];
        if (a->check == NULL || strcmp(a->check, check) != 0) {
            continue;
        }
        if (a->muted_by != NULL) {
            mark = mark == ' ' ? 'm' : mark;
        } else if (panel_same_str(a->status, "acknowledged")) {
            mark = 'a';
            *role = ROLE_DEGRADED;
        } else if (panel_same_str(a->status, "firing")) {
            mark = '!';
            *role = ROLE_DOWN;
        }
    }
    return mark;
}

/* The checks the screen hides, above and below, on row y; those below
 * that are not up are named, in case an order put them there. */
static void draw_hidden(const struct dash *d, const struct panel *p, int y, int w, int rows_h)
{
    int above = 0, below = 0, bad = 0;
    for (int i = 0; i < p->nrows; i++) {
        int k = p->rows[i];
        if (k < 0) {
            continue;
        }
        if (i < p->top) {
            above++;
        } else if (i >= p->top + rows_h) {
            below++;
            bad += state_rank(d->checks.checks[k].state) < 2;
        }
    }
    char note[32];
    snprintf(note, sizeof(note), "%d not up", bad);
    panel_more(d, y, w, above, below, bad > 0 ? note : NULL);
}

/* Columns by width: at 80 the essentials, from 110 latency p95, the
 * 7-day uptime and a sparkline, from 150 a longer sparkline and names;
 * the problem takes what is left. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    if (p->rows == NULL || p->built != d->order_gen) {
        build_rows(d, p);
        p->built = d->order_gen;
    }
    /* A table longer than the screen keeps its last line to say so. */
    int rows_h = p->nrows > h - 1 ? h - 2 : h - 1;
    panel_fix_selection(d, p, rows_h);
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
    for (int i = 0; i < rows_h && p->top + i < p->nrows; i++) {
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
        enum role mark_role;
        char mark = alert_mark(d, c->name, &mark_role);
        theme_on(mark_role, A_BOLD);
        panel_putf(y, 0, 1, "%c", mark);
        theme_off(mark_role, A_BOLD);
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
    draw_hidden(d, p, y0 + 1 + rows_h, w, rows_h);
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
