/* panel_check.c - one check: its latency graph with failures and deploys,
 * its recent results and its state changes. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "out.h"
#include "panel.h"
#include "theme.h"
#include "util.h"

static const int64_t range_ms[] = {3600LL * 1000, 86400LL * 1000, 7 * 86400LL * 1000};
static const char *const range_names[] = {"1h", "24h", "7d"};
#define NRANGES ((int)ARRAY_SIZE(range_ms))
#define GRAPH_MIN_MS (60 * 1000)        /* the shortest span a graph shows */

static const char *const bar_utf8[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

/* checks.history answered. */
static void on_history(struct link *l, int err, enum ipc_errcode code, const char *msg,
                       void *result, void *arg)
{
    struct dash *d = arg;
    d->hist_loading = false;
    if (err != 0) {
        dash_status(d, "checks.history: %s", msg);
        return;
    }
    ipc_type_finish(&ipc_history_type, &d->hist);
    panel_take(&d->hist, result, sizeof(d->hist));
    dash_mark(d);
}

/* events.list of the check's state changes answered. */
static void on_states(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err == 0) {
        ipc_type_finish(&ipc_events_type, &d->detail_states);
        panel_take(&d->detail_states, result, sizeof(d->detail_states));
        dash_mark(d);
    }
}

/* checks.get answered: the check's long output and, for a "locations:
 * all" check, each location's view, which results do not carry, as of
 * now. */
static void on_check(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        return;
    }
    struct ipc_check *got = result;
    int k = panel_find_check(d, got->name);
    if (k >= 0) {
        struct ipc_check *c = &d->checks.checks[k];
        free(c->last_long_output);
        c->last_long_output = got->last_long_output;
        got->last_long_output = NULL;    /* taken; the link frees the rest */
        /* Swapped: the link frees the old locations with the answer. */
        struct ipc_location *old = c->locations;
        size_t nold = c->nlocations;
        c->locations = got->locations;
        c->nlocations = got->nlocations;
        got->locations = old;
        got->nlocations = nold;
        dash_mark(d);
    }
}

/* The history of the range, the last state changes and the check itself. */
void panel_check_fetch(struct dash *d)
{
    int64_t now = clock_wall_ms();
    struct ipc_history_params p = {.check = d->detail,
                                   .from_ms = now - range_ms[d->range],
                                   .to_ms = now + 1,
                                   .limit = 10000};
    d->hist_loading = true;
    link_call(&d->link, IPC_M_CHECKS_HISTORY, &p, on_history, d);
    struct ipc_events_query q = {.check = d->detail, .type = "state", .limit = 20};
    link_call(&d->link, IPC_M_EVENTS_LIST, &q, on_states, d);
    struct ipc_check_ref ref = {.check = d->detail};
    link_call(&d->link, IPC_M_CHECKS_GET, &ref, on_check, d);
}

/* Forget the last check's figures, remember where we came from. */
void panel_check_open(struct dash *d, int k)
{
    free(d->detail);
    d->detail = strdup(d->checks.checks[k].name);
    ipc_type_finish(&ipc_history_type, &d->hist);
    memset(&d->hist, 0, sizeof(d->hist));
    ipc_type_finish(&ipc_events_type, &d->detail_states);
    memset(&d->detail_states, 0, sizeof(d->detail_states));
    if (d->cur != &d->panels[PANEL_CHECK]) {
        d->back = d->cur;
    }
    d->cur = &d->panels[PANEL_CHECK];
    panel_check_fetch(d);
    dash_mark(d);
}

/* The bars: one column per time slot, the slot's worst latency. */
static void draw_bars(const struct dash *d, int y0, int gh, int cols, const int64_t *lat,
                      const bool *fail, int64_t max)
{
    for (int col = 0; col < cols; col++) {
        /* Height in eighths of a row. */
        int64_t eighths = lat[col] * gh * 8 / max;
        for (int row = 0; row < gh; row++) {
            int64_t here = eighths - (int64_t)(gh - 1 - row) * 8;
            if (here <= 0) {
                continue;
            }
            move(y0 + row, 10 + col);
            if (fail[col]) {
                theme_on(ROLE_DOWN, 0);
            }
            if (d->utf8) {
                addstr(bar_utf8[here >= 8 ? 7 : here - 1]);
            } else {
                addch(here >= 4 ? '#' : '.');
            }
            if (fail[col]) {
                theme_off(ROLE_DOWN, 0);
            }
        }
    }
}

/* Whether deploy dp is of check c's app and env. */
static bool deploy_of(const struct ipc_deploy *dp, const struct ipc_check *c)
{
    return panel_same_str(dp->app, c->app) && panel_same_str(dp->env, c->env);
}

/* The deploys of the check's app and env in [from, from + span) as ^ on
 * the axis, their versions under it. Newest first, each label left of the
 * newer one so that none hides another; the newest always shows, and the
 * ones with no room left are counted at the line's start. */
static void draw_deploys(const struct dash *d, const struct ipc_check *c, int y, int cols, int w,
                         int64_t from, int64_t span)
{
    int n = 0;
    for (size_t i = 0; i < d->deploys.ndeploys; i++) {
        n += deploy_of(&d->deploys.deploys[i], c) && d->deploys.deploys[i].started_ms >= from;
    }
    int start = w + 1, dropped = 0;     /* the left edge of the last label put */
    theme_on(ROLE_TITLE, A_BOLD);
    for (size_t i = 0; i < d->deploys.ndeploys; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[i];
        if (!deploy_of(dp, c) || dp->started_ms < from) {
            continue;
        }
        int col = (int)((dp->started_ms - from) * cols / span);
        if (col < 0 || col >= cols) {
            continue;
        }
        mvaddch(y, 10 + col, '^');
        char label[80];
        int len = snprintf(label, sizeof(label), "%s%s", n == 1 ? "deploy " : "", dp->version);
        int lx = 10 + col + len < start ? 10 + col : start - 1 - len;
        if (lx < 10) {
            dropped++;
            continue;
        }
        panel_put(y + 1, lx, w - lx, label);
        start = lx;
    }
    if (dropped > 0) {
        panel_putf(y + 1, 0, 9, "+%d", dropped);
    }
    theme_off(ROLE_TITLE, A_BOLD);
}

/* Where the graph starts: the range back from now, or later when the
 * history (and the deploys around it) begins later, so that minutes of
 * data fill the width instead of a few columns of an hour. */
static int64_t graph_from(const struct dash *d, const struct ipc_check *c, int64_t now)
{
    int64_t from = now - range_ms[d->range];
    int64_t first = now;
    for (size_t i = 0; i < d->hist.nrows; i++) {
        first = d->hist.rows[i].ts_ms < first ? d->hist.rows[i].ts_ms : first;
    }
    for (size_t i = 0; i < d->deploys.ndeploys; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[i];
        if (deploy_of(dp, c) && dp->started_ms >= from && dp->started_ms < first) {
            first = dp->started_ms;
        }
    }
    if (first <= from) {
        return from;
    }
    return now - first < GRAPH_MIN_MS ? now - GRAPH_MIN_MS : first;
}

/* The latency graph: one column per time slot, the slot's worst latency
 * as a bar; failures marked under the axis, deploys of the check's app on
 * it. */
static void draw_graph(const struct dash *d, const struct ipc_check *c, int y0, int gh, int w)
{
    int64_t now = clock_wall_ms();
    int64_t from = graph_from(d, c, now);
    int64_t span = now - from;
    int cols = w - 10;
    if (cols < 10 || gh < 2) {
        return;
    }
    int64_t *lat = calloc((size_t)cols, sizeof(int64_t));
    bool *fail = calloc((size_t)cols, sizeof(bool));
    if (lat == NULL || fail == NULL) {
        free(lat);
        free(fail);
        return;
    }
    int64_t max = 1;
    for (size_t i = 0; i < d->hist.nrows; i++) {
        const struct ipc_history_row *r = &d->hist.rows[i];
        int col = (int)((r->ts_ms - from) * cols / span);
        if (col < 0 || col >= cols) {
            continue;
        }
        if (r->latency_max_us > lat[col]) {
            lat[col] = r->latency_max_us;
        }
        if (r->failures > 0) {
            fail[col] = true;
        }
        if (lat[col] > max) {
            max = lat[col];
        }
    }
    char scale[16];
    out_span_us(max, scale, sizeof(scale));
    panel_put(y0, 0, 9, scale);
    panel_put(y0 + gh - 1, 0, 9, "0");
    draw_bars(d, y0, gh, cols, lat, fail, max);
    /* The axis: failures as x. */
    move(y0 + gh, 10);
    for (int col = 0; col < cols; col++) {
        if (fail[col]) {
            theme_on(ROLE_DOWN, A_BOLD);
            addch('x');
            theme_off(ROLE_DOWN, A_BOLD);
        } else {
            addstr(d->utf8 ? "─" : "-");
        }
    }
    draw_deploys(d, c, y0 + gh, cols, w, from, span);
    char when[32], shown[32];
    duration_format(span / 1000 * 1000, shown, sizeof(shown));
    panel_putf(y0 + gh + 2, 10, w - 10, "%s .. now (%s of %s)", out_time(from, when, sizeof(when)),
               shown, range_names[d->range]);
    free(lat);
    free(fail);
}

/* Recent results (raw rows, newest first) and state changes side by side
 * when there is room, else one under the other, the rows shared so that
 * both show: the state changes get what they need up to half. */
static void draw_lists(const struct dash *d, int y, int bottom, int w)
{
    int half = w >= 110 ? w / 2 : w;
    bool stacked = half == w;
    int nstates = (int)d->detail_states.nevents;
    int states_rows = (bottom - y - 2) / 2;
    states_rows = nstates < states_rows ? (nstates > 0 ? nstates : 1) : states_rows;
    int results_end = stacked ? bottom - 1 - states_rows : bottom;
    theme_on(ROLE_HEADER, 0);
    panel_put(y, 0, half, "recent results");
    theme_off(ROLE_HEADER, 0);
    int ry = y + 1;
    bool raw = d->hist.granularity != NULL && strcmp(d->hist.granularity, "raw") == 0;
    for (size_t i = 0; raw && i < d->hist.nrows && ry < results_end; i++, ry++) {
        const struct ipc_history_row *hr = &d->hist.rows[i];
        char when[32], took[16];
        out_time(hr->ts_ms, when, sizeof(when));
        out_span_us(hr->latency_max_us, took, sizeof(took));
        enum role role = theme_state_role(hr->outcome);
        theme_on(role, 0);
        panel_putf(ry, 0, 5, "%s", panel_state_word(hr->outcome));
        theme_off(role, 0);
        panel_putf(ry, 5, half - 6, "%s %7s %s", when + 11, took,
                   hr->failed_condition ? hr->failed_condition : hr->error ? hr->error : "");
    }
    if (!raw) {
        panel_put(ry++, 0, half, "(rollups for this range; 1h shows every result)");
    }
    int sx = stacked ? 0 : half;
    int sy = stacked ? ry : y;
    theme_on(ROLE_HEADER, 0);
    panel_put(sy, sx, w - sx, "state changes");
    theme_off(ROLE_HEADER, 0);
    for (int i = 0; i < nstates && sy + 1 + i < bottom; i++) {
        const struct ipc_event *e = &d->detail_states.events[i];
        char when[32];
        out_time(e->ts_ms, when, sizeof(when));
        panel_putf(sy + 1 + i, sx, w - sx, "%s %s", when + 5, e->message ? e->message : "");
    }
    if (nstates == 0) {
        panel_put(sy + 1, sx, w - sx, "none recorded");
    }
}

#define LONG_OUTPUT_LINES 4         /* of a plugin's long output, on screen */

/* The first lines of a plugin's long output from row y, at most max;
 * the rows used. */
static int draw_long_output(const char *text, int y, int max, int w)
{
    int n = 0;
    for (const char *p = text; p != NULL && *p != '\0' && n < max; n++) {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        panel_putf(y + n, 6, w - 6, "%.*s", len, p);
        p = nl != NULL ? nl + 1 : NULL;
    }
    return n;
}

/* A "locations: all" check: each location's own state, the age of its
 * last run and its error, on one row (two at most); the rows taken. */
static int draw_locations(const struct dash *d, const struct ipc_check *c, int y, int w)
{
    if (c->nlocations == 0) {
        return 0;
    }
    char line[1024] = "";
    size_t at = 0;
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < c->nlocations && at < sizeof(line); i++) {
        const struct ipc_location *l = &c->locations[i];
        char age[32];
        panel_age(l->last_ms, now, age, sizeof(age));
        int n = snprintf(line + at, sizeof(line) - at, "%s%s %s %s%s%s%s", i > 0 ? "   " : "",
                         l->name ? l->name : "?", panel_state_word(l->state), age,
                         l->last_error ? " (" : "", l->last_error ? l->last_error : "",
                         l->last_error ? ")" : "");
        at += n > 0 ? (size_t)n : 0;
    }
    return panel_field(y, w, 2, "locations", line);
}

/* The check's line, its figures, the graph and the lists. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    int k = panel_find_check(d, d->detail);
    if (k < 0) {
        panel_putf(y0 + 1, 2, w - 2, "%s is not configured any more (Esc to go back)",
                   d->detail);
        return;
    }
    const struct ipc_check *c = &d->checks.checks[k];
    const struct row *r = &d->rows[k];
    int64_t now = clock_wall_ms();
    char since[32], u24[16], u7[16], u30[16], p95[16];
    out_ago(c->state_since_ms, now, since, sizeof(since));
    panel_uptime(r->st.uptime_24h_ppm, r->has_stats && r->st.runs_24h > 0, u24, sizeof(u24));
    panel_uptime(r->st.uptime_7d_ppm, r->has_stats && r->st.runs_7d > 0, u7, sizeof(u7));
    panel_uptime(r->st.uptime_30d_ppm, r->has_stats && r->st.runs_30d > 0, u30, sizeof(u30));
    panel_span_us(r->has_stats ? r->st.p95_1h_us : 0, p95, sizeof(p95));
    enum role role = theme_state_role(c->state);
    theme_on(role, A_BOLD);
    panel_putf(y0, 0, 6, "%s", panel_state_word(c->state));
    theme_off(role, A_BOLD);
    panel_putf(y0, 6, w - 6, "%s  %s/%s  %s %s%s  since %s", c->name, c->app ? c->app : "-",
               c->env ? c->env : "-", c->type, c->target ? c->target : "",
               c->paused ? "  PAUSED" : "", since);
    panel_putf(y0 + 1, 6, w - 6, "up 24h %s 7d %s 30d %s; p95 1h %s; %lld runs, %lld skipped",
               u24, u7, u30, p95, (long long)c->runs_total, (long long)c->skipped_total);
    /* What the last run said: the message and perfdata (the error is on
     * the lists' rows), then the start of a plugin's long output. */
    if (c->last_message != NULL || c->last_perfdata != NULL) {
        panel_putf(y0 + 2, 6, w - 6, "%s%s%s", c->last_message ? c->last_message : "",
                   c->last_message && c->last_perfdata ? " | " : "",
                   c->last_perfdata ? c->last_perfdata : "");
    }
    int gy = y0 + 3;
    gy += draw_locations(d, c, gy, w);
    if (h >= 30) {
        gy += draw_long_output(c->last_long_output, gy, LONG_OUTPUT_LINES, w);
    }
    int gh = h >= 30 ? 10 : h >= 20 ? 6 : 3;
    draw_graph(d, c, gy, gh, w);
    if (d->hist_loading && d->hist.nrows == 0) {
        panel_put(gy, 10, w - 10, "loading...");
    }
    draw_lists(d, gy + gh + 3, y0 + h, w);
}

/* t (or `:range 24h`): the graph's range; Esc, h: back. */
static int on_action(struct dash *d, struct panel *p, enum action a, const char *arg)
{
    if (a == A_BACK) {
        return PANEL_HANDLED | PANEL_BACK;
    }
    if (a != A_RANGE) {
        return PANEL_IGNORED;
    }
    int next = (d->range + 1) % NRANGES;
    for (int i = 0; arg != NULL && i < NRANGES; i++) {
        next = strcmp(arg, range_names[i]) == 0 ? i : next;
    }
    if (arg != NULL && strcmp(arg, range_names[next]) != 0) {
        dash_status(d, "range: 1h, 24h or 7d, not '%s'", arg);
        return PANEL_HANDLED | PANEL_REDRAW;
    }
    d->range = next;
    panel_check_fetch(d);
    return PANEL_HANDLED | PANEL_REDRAW;
}

/* The check on screen. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    return panel_find_check(d, d->detail);
}

const struct panel_class panel_check = {
    .name = "Check",
    .command = "check",
    .tab = false,
    .draw = draw,
    .on_action = on_action,
    .selected_check = selected_check,
};
