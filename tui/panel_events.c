/* panel_events.c - a live tail of the event log. */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "out.h"
#include "panel.h"
#include "theme.h"

/* The role of a state event's new state, from its "a -> b" text. */
static enum role event_role(const struct evline *e)
{
    if (e->type == NULL || strcmp(e->type, "state") != 0 || e->text == NULL) {
        return ROLE_NORMAL;
    }
    const char *to = strstr(e->text, "-> ");
    if (to == NULL) {
        return ROLE_NORMAL;
    }
    return theme_state_role(to[3] == 'u' && to[4] == 'p'   ? "up"
                            : to[3] == 'd' && to[4] == 'o' ? "down"
                            : to[3] == 'd'                 ? "degraded"
                                                           : "unknown");
}

/* The events the filter lets through, oldest at the top. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    if (panel_rows_alloc(p, d->nev)) {
        for (size_t i = 0; i < d->nev; i++) {
            const struct evline *e = panel_event_at(d, i);
            if (panel_matches(d, e->text, e->check, e->app, e->type)) {
                p->rows[p->nrows++] = (int)i;
            }
        }
    }
    /* A live tail: follow the newest unless the user scrolled or paused. */
    if (!d->events_paused && p->sel >= p->nrows - 2) {
        p->sel = p->nrows - 1;
    }
    panel_fix_selection(d, p, h - 1);
    /* Below 120 columns the message has the room: it names the check and
     * the app itself, and the date loses its year. TYPE fits the longest
     * type, deploy.verdict. */
    bool wide = w >= 120;
    int time_w = wide ? 19 : 14, type_w = 14;
    int x_type = time_w + 1, x_rest = x_type + type_w + 1;
    theme_on(ROLE_HEADER, 0);
    panel_putf(y0, 0, w, "%-*s %-*s %s", time_w, "TIME", type_w, "TYPE",
               wide ? "CHECK                APP          MESSAGE" : "MESSAGE");
    theme_off(ROLE_HEADER, 0);
    if (d->events_paused) {
        theme_on(ROLE_BANNER, A_REVERSE);
        panel_putf(y0, w - 30 > 0 ? w - 30 : 0, 30, " held, %u new ", d->events_missed);
        theme_off(ROLE_BANNER, A_REVERSE);
    }
    for (int i = 0; i < h - 1 && p->top + i < p->nrows; i++) {
        const struct evline *e = panel_event_at(d, (size_t)p->rows[p->top + i]);
        char when[32];
        out_time(e->ts_ms, when, sizeof(when));
        enum role role = event_role(e);
        bool selected = p->top + i == p->sel;
        int y = y0 + 1 + i;
        if (selected) {
            theme_on(ROLE_SELECTED, 0);
            panel_fill(y, w);
        }
        panel_putf(y, 0, w, "%s", wide ? when : when + 5);
        theme_on(role, 0);
        panel_putf(y, x_type, w - x_type, "%-*s", type_w, e->type ? e->type : "-");
        theme_off(role, 0);
        if (wide) {
            panel_putf(y, x_rest, w - x_rest, "%-20.20s %-12.12s %s", e->check ? e->check : "-",
                       e->app ? e->app : "-", e->text ? e->text : "");
        } else {
            panel_put(y, x_rest, w - x_rest, e->text ? e->text : "");
        }
        if (selected) {
            theme_off(ROLE_SELECTED, 0);
        }
    }
    if (p->nrows == 0) {
        panel_put(y0 + 2, 2, w - 2, "no events");
    }
}

/* Space: pause or follow the tail. */
static int on_action(struct dash *d, struct panel *p, enum action a, const char *arg)
{
    if (a != A_TAIL) {
        return PANEL_IGNORED;
    }
    d->events_paused = !d->events_paused;
    d->events_missed = 0;
    return PANEL_HANDLED | PANEL_REDRAW;
}

/* The check of the selected event, if it names one. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    if (p->sel >= 0 && p->sel < p->nrows) {
        return panel_find_check(d, panel_event_at(d, (size_t)p->rows[p->sel])->check);
    }
    return -1;
}

const struct panel_class panel_events = {
    .name = "Events",
    .command = "events",
    .tab = true,
    .tail = true,
    .draw = draw,
    .on_action = on_action,
    .selected_check = selected_check,
};
