/* panel_deploys.c - every recorded deploy, newest first. */
#include <curses.h>
#include <stdio.h>

#include "out.h"
#include "panel.h"
#include "theme.h"

/* The deploys the filter lets through, one a row. */
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
    panel_fix_selection(d, p, h - 1);
    theme_on(ROLE_HEADER, 0);
    panel_putf(y0, 0, w, "%-6s %-19s %-16s %-10s %-14s %-12s %-12s %8s  %s", "ID", "STARTED",
               "APP", "ENV", "VERSION", "COMMIT", "AUTHOR", "TOOK", "VERDICT");
    theme_off(ROLE_HEADER, 0);
    for (int i = 0; i < h - 1 && p->top + i < p->nrows; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[p->rows[p->top + i]];
        char when[32], took[16], commit[13];
        out_time(dp->started_ms, when, sizeof(when));
        panel_span_us(dp->finished_ms > dp->started_ms
                          ? (dp->finished_ms - dp->started_ms) * 1000 : 0,
                      took, sizeof(took));
        snprintf(commit, sizeof(commit), "%s", dp->commit ? dp->commit : "-");
        bool selected = p->top + i == p->sel;
        if (selected) {
            theme_on(ROLE_SELECTED, 0);
        }
        panel_putf(y0 + 1 + i, 0, w,
                   "%-6lld %-19s %-16.16s %-10.10s %-14.14s %-12s %-12.12s %8s  %s",
                   (long long)dp->id, when, dp->app, dp->env, dp->version, commit,
                   dp->author ? dp->author : "-", took,
                   dp->verdict ? dp->verdict : dp->status ? dp->status : "-");
        if (selected) {
            theme_off(ROLE_SELECTED, 0);
        }
    }
    if (p->nrows == 0) {
        panel_put(y0 + 2, 2, w - 2, "no deploys recorded");
    }
}

const struct panel_class panel_deploys = {
    .name = "Deploys",
    .command = "deploys",
    .tab = true,
    .draw = draw,
};
