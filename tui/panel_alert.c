/* panel_alert.c - one alert: its whole text, who acknowledged it, what
 * mutes it, the notifications it queued, and its history from the event
 * log. */
#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "out.h"
#include "panel.h"
#include "theme.h"

#define HISTORY_MAX 200         /* alert events of its check or app asked */

/* The alert on screen as stored, or NULL until it is read. */
static const struct ipc_alert *shown(const struct dash *d)
{
    for (size_t i = 0; i < d->av.found.nalerts; i++) {
        if (d->av.found.alerts[i].id == d->av.id) {
            return &d->av.found.alerts[i];
        }
    }
    return NULL;
}

/* Free the alert and its history. */
void panel_alert_finish(struct dash *d)
{
    ipc_type_finish(&ipc_alerts_type, &d->av.found);
    memset(&d->av.found, 0, sizeof(d->av.found));
    ipc_type_finish(&ipc_events_type, &d->av.history);
    memset(&d->av.history, 0, sizeof(d->av.history));
}

/* events.list of its alert events answered. */
static void on_history(struct link *l, int err, enum ipc_errcode code, const char *msg,
                       void *result, void *arg)
{
    struct dash *d = panel_ask_done(arg);
    if (d == NULL || err != 0) {
        return;
    }
    ipc_type_finish(&ipc_events_type, &d->av.history);
    panel_take(&d->av.history, result, sizeof(d->av.history));
    dash_mark(d);
}

/* alerts.list of the alert answered: then its history, by its check or
 * its app. */
static void on_alert(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct panel_ask *ask = arg;
    struct dash *d = panel_ask_done(ask);
    if (d == NULL || err != 0) {
        return;
    }
    ipc_type_finish(&ipc_alerts_type, &d->av.found);
    panel_take(&d->av.found, result, sizeof(d->av.found));
    const struct ipc_alert *a = shown(d);
    ask = panel_ask_new(d, &d->av.gen);
    if (a == NULL || ask == NULL) {
        free(ask);
        dash_mark(d);
        return;
    }
    struct ipc_events_query q = {.check = a->check,
                                 .app = a->check == NULL ? a->app : NULL,
                                 .type = "alert",
                                 .limit = HISTORY_MAX};
    link_call(&d->link, IPC_M_EVENTS_LIST, &q, on_history, ask);
    dash_mark(d);
}

/* The alert as stored now (whatever its status), then its history. */
void panel_alert_fetch(struct dash *d)
{
    d->av.gen++;
    struct panel_ask *ask = panel_ask_new(d, &d->av.gen);
    if (ask == NULL) {
        return;
    }
    /* The newest alert older than id + 1 is the alert itself. */
    struct ipc_alerts_query q = {.status = "all", .before_id = d->av.id + 1, .limit = 1};
    link_call(&d->link, IPC_M_ALERTS_LIST, &q, on_alert, ask);
}

/* Show a; Esc comes back to the alerts. */
void panel_alert_open(struct dash *d, const struct ipc_alert *a)
{
    panel_alert_finish(d);
    d->av.id = a->id;
    d->cur = &d->panels[PANEL_ALERT];
    panel_alert_fetch(d);
    dash_mark(d);
}

/* A time and how long ago, "2026-11-23 10:00:02 (1m ago)"; "-" for 0. */
static const char *when(int64_t ms, int64_t now, char *buf, size_t len)
{
    if (ms == 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    char t[32], ago[32];
    snprintf(buf, len, "%s (%s)", out_time(ms, t, sizeof(t)), out_ago(ms, now, ago, sizeof(ago)));
    return buf;
}

/* Its events, newest first, those of other alerts of its check or app
 * left out. */
static void draw_history(const struct dash *d, int y, int bottom, int w)
{
    char tag[48];
    snprintf(tag, sizeof(tag), "\"alert_id\":%" PRId64 ",", d->av.id);
    theme_on(ROLE_HEADER, 0);
    panel_put(y++, 0, w, "history");
    theme_off(ROLE_HEADER, 0);
    for (size_t i = 0; i < d->av.history.nevents && y < bottom; i++) {
        const struct ipc_event *e = &d->av.history.events[i];
        if (e->data == NULL || strstr(e->data, tag) == NULL) {
            continue;
        }
        char t[32];
        out_time(e->ts_ms, t, sizeof(t));
        panel_putf(y++, 0, w, "%s  %s", t, e->message ? e->message : "");
    }
}

/* The alert in full, then its history. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y = rc->y, w = rc->w, bottom = rc->y + rc->h;
    const struct ipc_alert *a = shown(d);
    if (a == NULL) {
        panel_putf(y + 1, 2, w - 2, "alert %lld: loading... (Esc to go back)",
                   (long long)d->av.id);
        return;
    }
    int64_t now = clock_wall_ms();
    enum role role = panel_same_str(a->status, "firing")         ? ROLE_DOWN
                     : panel_same_str(a->status, "acknowledged") ? ROLE_DEGRADED
                                                                 : ROLE_UP;
    int n = panel_width(a->status ? a->status : "?");
    panel_putf(y, 0, w, "alert %lld  ", (long long)a->id);
    int x = 8 + snprintf(NULL, 0, "%lld", (long long)a->id);
    theme_on(role, A_BOLD);
    panel_put(y, x, w - x, panel_same_str(a->status, "firing") ? "FIRING"
                           : a->status                         ? a->status
                                                               : "?");
    theme_off(role, A_BOLD);
    x += n + 2;
    panel_putf(y++, x, w - x, "%s %s  %s%s%s/%s", a->severity ? a->severity : "-",
               a->kind ? a->kind : "-", a->check ? a->check : "", a->check ? "  " : "",
               a->app ? a->app : "-", a->env ? a->env : "-");
    y += panel_field(y, w, 4, "summary", a->summary);
    char t1[64], t2[64], line[512];
    snprintf(line, sizeof(line), "%s, resolved %s", when(a->started_ms, now, t1, sizeof(t1)),
             when(a->resolved_ms, now, t2, sizeof(t2)));
    y += panel_field(y, w, 1, "started", line);
    if (a->ack_by != NULL) {
        snprintf(line, sizeof(line), "by %s %s%s%s", a->ack_by, when(a->ack_ms, now, t1, sizeof(t1)),
                 a->ack_comment ? ": " : "", a->ack_comment ? a->ack_comment : "");
    } else {
        snprintf(line, sizeof(line), "not acknowledged");
    }
    y += panel_field(y, w, 2, "acked", line);
    y += panel_field(y, w, 1, "muted", a->muted_by ? a->muted_by : "no: its notifications go out");
    snprintf(line, sizeof(line), "%lld queued for its notifiers%s", (long long)a->notifications,
             a->notifications > 0 ? " (failures are on the events view)" : "");
    y += panel_field(y, w, 1, "notified", line);
    if (a->deploy_id != 0) {
        snprintf(line, sizeof(line), "%lld (2 lists the deploys)", (long long)a->deploy_id);
        y += panel_field(y, w, 1, "deploy", line);
    }
    draw_history(d, y + 1, bottom, w);
}

/* Its check: Enter opens it. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    const struct ipc_alert *a = shown(d);
    return a != NULL ? panel_find_check(d, a->check) : -1;
}

const struct panel_class panel_alert = {
    .name = "Alert",
    .command = "alert",
    .tab = false,
    .parent = &panel_alerts,
    .hint = "? help  Esc q back  Enter its check  3 alerts",
    .draw = draw,
    .selected_check = selected_check,
};
