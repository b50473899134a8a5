/* panel_deploys.c - every recorded deploy, newest first. */
#include <curses.h>
#include <stdio.h>

#include "clock.h"
#include "out.h"
#include "panel.h"
#include "theme.h"
#include "util.h"

/* The columns, in the order an operator reads them during an incident:
 * what, where, how it went and what to roll back to before who and which
 * commit. The last column takes what is left. */
enum column {
    C_ID,
    C_STARTED,
    C_APP,
    C_ENV,
    C_VERSION,
    C_STATUS,
    C_VERDICT,
    C_ROLLBACK,
    C_COMMIT,
    C_AUTHOR,
    C_TOOK,
    C_COUNT
};

/* A column's title and widths: at 80 columns, and from 110; its title
 * at 80 when it shows something shorter there. */
static const struct {
    const char *title;
    int narrow, wide;
    const char *narrow_title;
} columns[C_COUNT] = {
    [C_ID] = {"ID", 5, 6, NULL},
    [C_STARTED] = {"STARTED", 6, 19, "AGE"},
    [C_APP] = {"APP", 10, 16, NULL},
    [C_ENV] = {"ENV", 6, 10, NULL},
    [C_VERSION] = {"VERSION", 10, 14, NULL},
    [C_STATUS] = {"STATUS", 9, 9, NULL},
    [C_VERDICT] = {"VERDICT", 10, 10, NULL},
    [C_ROLLBACK] = {"ROLLBACK", 9, 12, NULL},
    [C_COMMIT] = {"COMMIT", 8, 12, NULL},
    [C_AUTHOR] = {"AUTHOR", 8, 12, NULL},
    [C_TOOK] = {"TOOK", 6, 8, NULL},
};

/* The text of column col of dp; wide: the full start time. */
static void cell(const struct ipc_deploy *dp, enum column col, bool wide, int64_t now,
                 char *buf, size_t len)
{
    enum role role;
    switch (col) {
    case C_ID:
        snprintf(buf, len, "%lld", (long long)dp->id);
        break;
    case C_STARTED:
        if (wide) {
            out_time(dp->started_ms, buf, len);
        } else {
            panel_age(dp->started_ms, now, buf, len);
        }
        break;
    case C_APP: snprintf(buf, len, "%s", dp->app); break;
    case C_ENV: snprintf(buf, len, "%s", dp->env); break;
    case C_VERSION: snprintf(buf, len, "%s", dp->version); break;
    case C_STATUS: snprintf(buf, len, "%s", dp->status ? dp->status : "-"); break;
    case C_VERDICT: snprintf(buf, len, "%s", panel_verdict_word(dp->verdict, &role)); break;
    case C_ROLLBACK:
        snprintf(buf, len, "%s", dp->rollback_version ? dp->rollback_version : "-");
        break;
    case C_COMMIT: snprintf(buf, len, "%s", dp->commit ? dp->commit : "-"); break;
    case C_AUTHOR: snprintf(buf, len, "%s", dp->author ? dp->author : "-"); break;
    case C_TOOK:
        panel_span_us(dp->finished_ms > dp->started_ms ? (dp->finished_ms - dp->started_ms) * 1000
                                                       : 0,
                      buf, len);
        break;
    default: buf[0] = '\0'; break;
    }
}

/* One line: a cell a column, each cut to its width; the verdict in its
 * colour. */
static void draw_line(const struct ipc_deploy *dp, int y, int w, bool wide, int64_t now)
{
    int x = 0;
    for (int col = 0; col < C_COUNT && x < w; col++) {
        int cw = wide ? columns[col].wide : columns[col].narrow;
        char text[128];
        if (dp == NULL) {
            snprintf(text, sizeof(text), "%s",
                     !wide && columns[col].narrow_title ? columns[col].narrow_title
                                                        : columns[col].title);
        } else {
            cell(dp, (enum column)col, wide, now, text, sizeof(text));
        }
        enum role role = ROLE_NORMAL;
        if (dp != NULL && col == C_VERDICT) {
            panel_verdict_word(dp->verdict, &role);
        }
        bool loud = role == ROLE_DOWN || role == ROLE_DEGRADED;
        if (loud) {
            theme_on(role, A_BOLD);
        }
        panel_put(y, x, col == C_COUNT - 1 ? w - x : cw < w - x ? cw : w - x, text);
        if (loud) {
            theme_off(role, A_BOLD);
        }
        x += cw + 1;
    }
}

/* The deploys the filter lets through, one a row; the last line counts
 * those the screen hides. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    if (panel_rows_alloc(p, d->deploys.ndeploys)) {
        for (size_t i = 0; i < d->deploys.ndeploys; i++) {
            const struct ipc_deploy *dp = &d->deploys.deploys[i];
            if (panel_matches(d, dp->app, dp->env, dp->version)) {
                p->rows[p->nrows++] = (int)i;
            }
        }
    }
    int rows_h = p->nrows > h - 1 ? h - 2 : h - 1;
    panel_fix_selection(d, p, rows_h);
    bool wide = w >= 110;
    int64_t now = clock_wall_ms();
    theme_on(ROLE_HEADER, 0);
    draw_line(NULL, y0, w, wide, now);
    theme_off(ROLE_HEADER, 0);
    for (int i = 0; i < rows_h && p->top + i < p->nrows; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[p->rows[p->top + i]];
        bool selected = p->top + i == p->sel;
        if (selected) {
            theme_on(ROLE_SELECTED, 0);
            panel_fill(y0 + 1 + i, w);
        }
        draw_line(dp, y0 + 1 + i, w, wide, now);
        if (selected) {
            theme_off(ROLE_SELECTED, 0);
        }
    }
    int below = p->nrows - p->top - rows_h;
    panel_more(d, y0 + 1 + rows_h, w, p->top, below, NULL);
    if (p->nrows == 0) {
        panel_put(y0 + 2, 2, w - 2, "no deploys recorded");
    }
}

/* Enter: the selected deploy's view. */
static int on_action(struct dash *d, struct panel *p, enum action a, const char *arg)
{
    if (a != A_OPEN || p->sel < 0 || p->sel >= p->nrows) {
        return PANEL_IGNORED;
    }
    panel_deploy_open(d, &d->deploys.deploys[p->rows[p->sel]]);
    return PANEL_HANDLED | PANEL_REDRAW;
}

const struct panel_class panel_deploys = {
    .name = "Deploys",
    .command = "deploys",
    .tab = true,
    .hint = "? help  q quit  / filter  Enter open the deploy",
    .draw = draw,
    .on_action = on_action,
};
