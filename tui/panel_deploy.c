/* panel_deploy.c - one deploy: its verdict and why, what to roll back
 * to, where it came from, and how each check of its app-env did in its
 * verify window. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "out.h"
#include "panel.h"
#include "theme.h"

#define WINDOW_ROWS_MAX 10000    /* checks.history's limit */

/* The deploy on screen, or NULL when the list no longer holds it. */
static const struct ipc_deploy *shown(const struct dash *d)
{
    for (size_t i = 0; i < d->deploys.ndeploys; i++) {
        if (d->deploys.deploys[i].id == d->dv.id) {
            return &d->deploys.deploys[i];
        }
    }
    return NULL;
}

/* Free the window's checks. */
void panel_deploy_finish(struct dash *d)
{
    for (size_t i = 0; i < d->dv.nchecks; i++) {
        free(d->dv.checks[i].check);
        free(d->dv.checks[i].problem);
    }
    free(d->dv.checks);
    d->dv.checks = NULL;
    d->dv.nchecks = 0;
}

/* checks.history of one check in the window answered: its tally. Rows
 * come newest first. */
static void on_window(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = panel_ask_done(arg);
    if (d == NULL || err != 0) {
        return;
    }
    const struct ipc_history *h = result;
    for (size_t i = 0; i < d->dv.nchecks; i++) {
        struct window_check *wc = &d->dv.checks[i];
        if (h->check == NULL || strcmp(wc->check, h->check) != 0) {
            continue;
        }
        for (size_t j = 0; j < h->nrows; j++) {
            const struct ipc_history_row *r = &h->rows[j];
            wc->runs += r->count;
            wc->failures += r->failures;
            if (r->failures == 0) {
                continue;
            }
            wc->first_failure_ms = r->ts_ms;
            if (wc->problem == NULL) {
                wc->problem = panel_strdup(r->failed_condition ? r->failed_condition : r->error);
            }
        }
        wc->loaded = true;
    }
    dash_mark(d);
}

/* The window of dp: from when it was recorded as succeeded for its
 * app's verify window, not past now. */
static void window_of(const struct ipc_deploy *dp, int64_t now, int64_t *from, int64_t *to)
{
    *from = dp->finished_ms > 0 ? dp->finished_ms : dp->started_ms;
    *to = *from + dp->verify_window_ms;
    if (*to > now) {
        *to = now;
    }
}

/* Ask every check of the deploy's app-env for its results in the window. */
void panel_deploy_fetch(struct dash *d)
{
    panel_deploy_finish(d);
    d->dv.gen++;
    const struct ipc_deploy *dp = shown(d);
    if (dp == NULL) {
        return;
    }
    window_of(dp, clock_wall_ms(), &d->dv.from_ms, &d->dv.to_ms);
    d->dv.checks = calloc(d->checks.nchecks + 1, sizeof(*d->dv.checks));
    if (d->dv.checks == NULL) {
        return;
    }
    for (size_t i = 0; i < d->checks.nchecks; i++) {
        const struct ipc_check *c = &d->checks.checks[i];
        if (!panel_same_str(c->app, dp->app) || !panel_same_str(c->env, dp->env)) {
            continue;
        }
        struct panel_ask *ask = panel_ask_new(d, &d->dv.gen);
        char *name = strdup(c->name);
        if (ask == NULL || name == NULL) {
            free(ask);
            free(name);
            return;
        }
        d->dv.checks[d->dv.nchecks++] = (struct window_check){.check = name};
        struct ipc_history_params q = {.check = c->name,
                                       .from_ms = d->dv.from_ms,
                                       .to_ms = d->dv.to_ms + 1,
                                       .limit = WINDOW_ROWS_MAX,
                                       .granularity = "raw"};
        link_call(&d->link, IPC_M_CHECKS_HISTORY, &q, on_window, ask);
    }
}

/* Show dp; Esc comes back to the deploys. */
void panel_deploy_open(struct dash *d, const struct ipc_deploy *dp)
{
    d->dv.id = dp->id;
    d->cur = &d->panels[PANEL_DEPLOY];
    d->cur->sel = d->cur->top = 0;
    panel_deploy_fetch(d);
    dash_mark(d);
}

/* The first line: which deploy, its verdict, and what to roll back to. */
static void draw_title(const struct dash *d, const struct ipc_deploy *dp, int y, int w)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "deploy %lld  %s  %s/%s  ", (long long)dp->id,
                     dp->version, dp->app, dp->env);
    attron(A_BOLD);
    panel_put(y, 0, w, head);
    attroff(A_BOLD);
    enum role role;
    const char *word = panel_verdict_word(dp->verdict, &role);
    int x = n < w ? n : w;
    theme_on(role, A_BOLD);
    panel_put(y, x, w - x, word);
    theme_off(role, A_BOLD);
    x += panel_width(word);
    if (dp->rollback_version != NULL) {
        attron(A_BOLD);
        panel_putf(y, x, w - x, " %s roll back to %s", d->utf8 ? "→" : "->",
                   dp->rollback_version);
        attroff(A_BOLD);
    }
}

/* The window's table: each check's runs, failures, first failure and
 * last problem, the failing check first as the verdict names it. */
static void draw_window(const struct dash *d, const struct ipc_deploy *dp, int y, int bottom,
                        int w)
{
    char from[32], to[32], span[16];
    out_time(d->dv.from_ms, from, sizeof(from));
    out_time(d->dv.to_ms, to, sizeof(to));
    out_span_us((d->dv.to_ms - d->dv.from_ms) * 1000, span, sizeof(span));
    theme_on(ROLE_HEADER, 0);
    panel_putf(y, 0, w, "checks in the window, %s .. %s (%s)", from, to + 11, span);
    panel_putf(y + 1, 0, w, "%-5s %-20s %6s %6s  %-8s  %s", "NOW", "CHECK", "RUNS", "FAILED",
               "FIRST", "PROBLEM");
    theme_off(ROLE_HEADER, 0);
    int ry = y + 2;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->dv.nchecks && ry < bottom; i++) {
            const struct window_check *wc = &d->dv.checks[i];
            bool failing = panel_same_str(wc->check, dp->failing_check);
            if (failing != (pass == 0)) {
                continue;
            }
            int k = panel_find_check(d, wc->check);
            const char *state = k >= 0 ? d->checks.checks[k].state : NULL;
            enum role role = theme_state_role(state);
            theme_on(role, A_BOLD);
            panel_put(ry, 0, 5, panel_state_word(state));
            theme_off(role, A_BOLD);
            char first[32] = "-";
            if (wc->first_failure_ms != 0) {
                out_time(wc->first_failure_ms, first, sizeof(first));
                memmove(first, first + 11, strlen(first + 11) + 1);
            }
            if (!wc->loaded) {
                panel_putf(ry, 6, w - 6, "%-20.20s loading...", wc->check);
            } else {
                panel_putf(ry, 6, w - 6, "%-20.20s %6lld %6lld  %-8s  %s", wc->check,
                           (long long)wc->runs, (long long)wc->failures, first,
                           wc->problem ? wc->problem : "");
            }
            ry++;
        }
    }
    if (d->dv.nchecks == 0) {
        panel_putf(ry, 0, w, "%s/%s has no checks", dp->app, dp->env);
    }
}

/* The deploy, its verdict's reason, where it came from, then its window. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y = rc->y, w = rc->w, bottom = rc->y + rc->h;
    const struct ipc_deploy *dp = shown(d);
    if (dp == NULL) {
        panel_putf(y + 1, 2, w - 2, "deploy %lld is not listed any more (Esc to go back)",
                   (long long)d->dv.id);
        return;
    }
    int64_t now = clock_wall_ms();
    draw_title(d, dp, y++, w);
    y += panel_field(y, w, 3, "reason", dp->verdict_reason ? dp->verdict_reason
                                  : dp->verdict      ? "-"
                                                     : "no verdict yet");
    char line[512], when[32], ago[32], took[16];
    snprintf(line, sizeof(line), "%s   author %s   source %s", dp->commit ? dp->commit : "-",
             dp->author ? dp->author : "-", dp->source ? dp->source : "-");
    y += panel_field(y, w, 1, "commit", line);
    y += panel_field(y, w, 2, "url", dp->url);
    out_time(dp->started_ms, when, sizeof(when));
    out_ago(dp->started_ms, now, ago, sizeof(ago));
    panel_span_us(dp->finished_ms > dp->started_ms ? (dp->finished_ms - dp->started_ms) * 1000
                                                   : 0,
                  took, sizeof(took));
    snprintf(line, sizeof(line), "%s, started %s (%s), took %s%s%s",
             dp->status ? dp->status : "-", when, ago, took, dp->ref ? ", ref " : "",
             dp->ref ? dp->ref : "");
    y += panel_field(y, w, 1, "status", line);
    if (dp->description != NULL && dp->description[0] != '\0') {
        y += panel_field(y, w, 2, "about", dp->description);
    }
    draw_window(d, dp, y + 1, bottom, w);
}

/* The check the verdict blames: Enter opens it. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    const struct ipc_deploy *dp = shown(d);
    return dp != NULL ? panel_find_check(d, dp->failing_check) : -1;
}

const struct panel_class panel_deploy = {
    .name = "Deploy",
    .command = "deploy",
    .tab = false,
    .parent = &panel_deploys,
    .hint = "? help  Esc q back  Enter the failing check  2 deploys",
    .draw = draw,
    .selected_check = selected_check,
};
