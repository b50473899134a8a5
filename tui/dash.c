/* dash.c - the dashboard's screen manager: one libuv loop for the terminal
 * and the socket, the layout, and the dispatch of keys to panels.
 *
 * The state the panels draw from (checks, deploys, alerts, events) is
 * fetched when the link comes up and then kept current from the daemon's
 * notifications; nothing is polled but the per-check statistics, once a
 * minute, and the open alerts every 30 seconds (a mute that runs out
 * changes them without an event). Drawing is coalesced: a change marks
 * the screen dirty and a short timer redraws, so a burst of results costs
 * one refresh, and ncurses writes only the cells that changed.
 *
 * A key becomes an action through the bindings table (keys.c); the panel
 * on screen gets it first (panel.h), then the manager's own table of
 * actions below. The views themselves live in panel_<view>.c. */
#include "dash.h"

#include <curses.h>
#include <langinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "keys.h"
#include "link.h"
#include "out.h"
#include "panel.h"
#include "theme.h"
#include "util.h"

#define REDRAW_MS 100            /* at most ten frames a second */
#define TICK_MS 1000             /* ages and the clock */
#define STATS_EVERY_MS 60000
#define ALERTS_MAX 500           /* open alerts fetched */
#define ALERTS_EVERY_MS 30000    /* besides on every alert event */
#define HEADER_H 2               /* the title line and the tabs */

/* The panels, by enum panel_id: the tabs' order. */
static const struct panel_class *const panel_classes[PANEL_COUNT] = {
    [PANEL_OVERVIEW] = &panel_overview,
    [PANEL_DEPLOYS] = &panel_deploys,
    [PANEL_ALERTS] = &panel_alerts,
    [PANEL_EVENTS] = &panel_events,
    [PANEL_HOST] = &panel_host,
    [PANEL_CHECK] = &panel_check,
    [PANEL_DEPLOY] = &panel_deploy,
    [PANEL_ALERT] = &panel_alert,
};

/* The loop's handles, beside the state the panels see. */
struct screen {
    struct dash d;              /* first: a struct dash * is a struct screen * */
    uv_poll_t tty;
    uv_signal_t sig_winch, sig_term, sig_hup, sig_int;
    uv_timer_t redraw, tick, stats_timer, alerts_timer;
    bool g_pending;             /* a g was typed: a second makes gg */
};

static struct dash *the_dash;   /* for the terminal restore on fatal paths */

/* --- small helpers --- */

/* Draw again at the next redraw tick. */
void dash_mark(struct dash *d)
{
    d->dirty = true;
}

/* The status line says fmt until the next key. */
void dash_status(struct dash *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    dash_mark(d);
}

/* The id of panel p. */
static enum panel_id panel_id_of(const struct dash *d, const struct panel *p)
{
    return (enum panel_id)(p - d->panels);
}

/* The tab the screen belongs to: the check view's origin's, a detail's
 * list. */
static const struct panel *tab_on(const struct dash *d)
{
    const struct panel *p = d->cur == &d->panels[PANEL_CHECK] ? d->back : d->cur;
    for (int v = 0; p->cls->parent != NULL && v < PANEL_COUNT; v++) {
        if (panel_classes[v] == p->cls->parent) {
            return &d->panels[v];
        }
    }
    return p;
}

/* --- the events ring --- */

/* Free an event line and zero it. */
static void ev_clear(struct evline *e)
{
    free(e->type);
    free(e->check);
    free(e->app);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

/* Append an event to the ring, dropping the oldest when full and
 * repeats by id. */
static void ev_push(struct dash *d, int64_t id, int64_t ts, const char *type, const char *check,
                    const char *app, const char *text)
{
    if (id > 0 && id <= d->last_event_id) {
        return;     /* listed already */
    }
    if (id > 0) {
        d->last_event_id = id;
    }
    struct evline *e;
    if (d->nev < EVENTS_MAX) {
        e = &d->events[(d->ev_head + d->nev++) % EVENTS_MAX];
    } else {
        e = &d->events[d->ev_head];
        ev_clear(e);
        d->ev_head = (d->ev_head + 1) % EVENTS_MAX;
    }
    e->id = id;
    e->ts_ms = ts;
    e->type = panel_strdup(type);
    e->check = panel_strdup(check);
    e->app = panel_strdup(app);
    e->text = panel_strdup(text);
    if (d->events_paused) {
        d->events_missed++;
    }
    dash_mark(d);
}

/* --- the daemon's answers --- */

/* One latency into a check's sparkline ring. */
static void spark_add(struct row *r, int64_t us, bool failed)
{
    r->spark[r->spark_at] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    r->spark_fail[r->spark_at] = failed;
    r->spark_at = (r->spark_at + 1) % SPARK_N;
    if (r->nspark < SPARK_N) {
        r->nspark++;
    }
}

static void fetch_stats(struct dash *d);
static void fetch_stats_page(struct dash *d, const char *after);
static void fetch_checks(struct dash *d);

/* Each check's index by name, and the first check of its app and env
 * (the overview's groups). False when out of memory. */
static bool index_checks(const struct ipc_checks *cs, struct row *rows, struct strmap *names)
{
    size_t n = cs->nchecks;
    struct strmap groups = {0};
    char *keys = NULL;
    *names = (struct strmap){0};    /* freed below whatever failed first */
    size_t *at = calloc(n + 1, sizeof(*at));
    size_t len = 0;
    for (size_t i = 0; at != NULL && i < n; i++) {
        at[i] = len;
        len += strlen(cs->checks[i].app ? cs->checks[i].app : "") +
               strlen(cs->checks[i].env ? cs->checks[i].env : "") + 4;  /* "+app\x1f+env" */
    }
    if (at == NULL || (keys = malloc(len + 1)) == NULL || strmap_init(names, n) < 0 ||
        strmap_init(&groups, n) < 0) {
        free(at);
        free(keys);
        strmap_free(names);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ipc_check *c = &cs->checks[i];
        strmap_put(names, c->name, (int32_t)i);
        /* app and env apart: absent differs from "" (the "-" marks none). */
        snprintf(keys + at[i], len + 1 - at[i], "%s%s\x1f%s%s", c->app ? "+" : "-",
                 c->app ? c->app : "", c->env ? "+" : "-", c->env ? c->env : "");
        strmap_put(&groups, keys + at[i], (int32_t)i);
        rows[i].group = strmap_get(&groups, keys + at[i]);
    }
    strmap_free(&groups);
    free(keys);
    free(at);
    return true;
}

/* checks.list answered a page: the next one asked for, or, with the last,
 * the new set, sparklines kept by name. */
static void on_checks(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    struct ipc_checks page = {0};
    if (err == 0) {
        panel_take(&page, result, sizeof(page));
    }
    if (err != 0 || ipc_checks_append(&d->loading, &page) < 0) {
        ipc_type_finish(&ipc_checks_type, &page);
        ipc_type_finish(&ipc_checks_type, &d->loading);
        d->checks_loading = d->checks_again = false;
        dash_status(d, "checks.list: %s", err != 0 ? msg : "out of memory");
        return;
    }
    if (d->loading.next != NULL) {
        struct ipc_checks_filter f = {.after = (char *)d->loading.next};
        link_call(l, IPC_M_CHECKS_LIST, &f, on_checks, d);
        return;
    }
    struct ipc_checks next = d->loading;
    memset(&d->loading, 0, sizeof(d->loading));
    d->checks_loading = false;
    /* Keep the sparklines of checks that stay. */
    struct row *rows = calloc(next.nchecks + 1, sizeof(*rows));
    struct strmap index;
    if (rows == NULL || !index_checks(&next, rows, &index)) {
        free(rows);
        ipc_type_finish(&ipc_checks_type, &next);
        dash_status(d, "checks.list: out of memory");
        return;
    }
    for (size_t i = 0; i < next.nchecks; i++) {
        int old = panel_find_check(d, next.checks[i].name);
        if (old >= 0) {
            int group = rows[i].group;
            rows[i] = d->rows[old];
            rows[i].group = group;
            memset(&d->rows[old].st, 0, sizeof(d->rows[old].st));   /* moved */
        }
    }
    for (size_t i = 0; d->rows != NULL && i < d->checks.nchecks; i++) {
        ipc_type_finish(&ipc_check_stats_type, &d->rows[i].st);
    }
    ipc_type_finish(&ipc_checks_type, &d->checks);
    free(d->rows);
    strmap_free(&d->check_index);
    d->checks = next;
    d->rows = rows;
    d->check_index = index;
    d->order_gen++;
    fetch_stats(d);
    dash_mark(d);
    if (d->checks_again) {
        d->checks_again = false;
        fetch_checks(d);
    }
}

/* Ask for the checks again: one listing (of as many pages as it takes)
 * at a time, and one more after it when the set changed meanwhile. */
static void fetch_checks(struct dash *d)
{
    if (d->checks_loading) {
        d->checks_again = true;
        return;
    }
    d->checks_loading = true;
    link_call(&d->link, IPC_M_CHECKS_LIST, NULL, on_checks, d);
}

/* checks.stats answered: the figures of each check. */
static void on_stats(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        d->stats_loading = d->stats_again = false;
        return;     /* an older daemon, or the store is busy: no figures */
    }
    struct ipc_checks_stats *s = result;
    for (size_t i = 0; i < s->nstats; i++) {
        int k = panel_find_check(d, s->stats[i].check);
        if (k < 0) {
            continue;
        }
        struct row *r = &d->rows[k];
        ipc_type_finish(&ipc_check_stats_type, &r->st);
        panel_take(&r->st, &s->stats[i], sizeof(r->st));
        r->has_stats = true;
        /* Seed the sparkline from the minute averages when it is empty. */
        if (r->nspark == 0) {
            for (size_t j = 0; j < r->st.nspark; j++) {
                if (r->st.spark[j] >= 0) {
                    spark_add(r, r->st.spark[j], false);
                }
            }
        }
    }
    dash_mark(d);
    if (s->next != NULL) {
        fetch_stats_page(d, s->next);
        return;
    }
    d->stats_loading = false;
    if (d->stats_again) {
        d->stats_again = false;
        fetch_stats(d);
    }
}

/* Ask one page of the per-check statistics: the checks named after after. */
static void fetch_stats_page(struct dash *d, const char *after)
{
    struct ipc_stats_page pg = {.after = after};
    link_call(&d->link, IPC_M_CHECKS_STATS, &pg, on_stats, d);
}

/* Ask the per-check statistics, every page: one round at a time, and one
 * more after it when asked meanwhile. */
static void fetch_stats(struct dash *d)
{
    if (d->stats_loading) {
        d->stats_again = true;
        return;
    }
    d->stats_loading = true;
    fetch_stats_page(d, NULL);
}

/* deploys.list answered. */
static void on_deploys(struct link *l, int err, enum ipc_errcode code, const char *msg,
                       void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        dash_status(d, "deploys.list: %s", msg);
        return;
    }
    ipc_type_finish(&ipc_deploys_type, &d->deploys);
    panel_take(&d->deploys, result, sizeof(d->deploys));
    d->order_gen++;             /* a failed deploy puts its group first */
    if (d->cur == &d->panels[PANEL_DEPLOY]) {
        panel_deploy_fetch(d);      /* a verdict may have come */
    }
    dash_mark(d);
}

/* Ask the recent deploys. */
static void fetch_deploys(struct dash *d)
{
    struct ipc_deploys_query q = {.limit = 500};
    link_call(&d->link, IPC_M_DEPLOYS_LIST, &q, on_deploys, d);
}

/* events.list answered: the backlog into the ring, oldest first. */
static void on_events(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        dash_status(d, "events.list: %s", msg);
        return;
    }
    struct ipc_events *ev = result;
    for (size_t i = ev->nevents; i-- > 0;) {
        const struct ipc_event *e = &ev->events[i];
        ev_push(d, e->id, e->ts_ms, e->type, e->check, e->app, e->message);
    }
    dash_mark(d);
}

/* events.subscribe answered: now the backlog. */
static void on_subscribed(struct link *l, int err, enum ipc_errcode code, const char *msg,
                          void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        dash_status(d, "events.subscribe: %s", msg);
        return;
    }
    /* Listed after subscribing: nothing falls between; repeats are dropped
     * by id. */
    struct ipc_events_query q = {.limit = 200};
    link_call(l, IPC_M_EVENTS_LIST, &q, on_events, d);
}


/* alerts.list answered: the open alerts. */
static void on_alerts(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    d->alerts_loading = false;
    if (err != 0) {
        d->alerts_again = false;
        if (err > 0 && code == IPC_E_NO_METHOD) {
            d->alerts_missing = true;      /* a daemon from before alerts */
        } else if (err > 0) {
            dash_status(d, "alerts.list: %s", msg);
        }
        dash_mark(d);
        return;
    }
    /* The selection stays on its alert when the list changes under it. */
    bool shown = d->cur == &d->panels[PANEL_ALERTS];
    const struct ipc_alert *was = shown ? panel_alerts_at(d, d->cur->sel) : NULL;
    int64_t sel_id = was != NULL ? was->id : 0;
    ipc_type_finish(&ipc_alerts_type, &d->alerts);
    panel_take(&d->alerts, result, sizeof(d->alerts));
    d->alerts_loaded = true;
    d->alerts_missing = false;
    if (shown) {
        panel_alerts_refresh(d, sel_id);
    }
    if (d->cur == &d->panels[PANEL_ALERT]) {
        panel_alert_fetch(d);       /* acknowledged, resolved, notified */
    }
    if (d->alerts_again) {
        d->alerts_again = false;
        dash_fetch_alerts(d);
    }
    dash_mark(d);
}

/* Ask for the open alerts again: one call in flight at a time, and one
 * more after it when alert events came meanwhile. */
void dash_fetch_alerts(struct dash *d)
{
    if (d->alerts_loading) {
        d->alerts_again = true;
        return;
    }
    if (d->link.state != LINK_UP) {
        return;
    }
    struct ipc_alerts_query q = {.status = "open", .limit = ALERTS_MAX};
    d->alerts_loading = true;
    link_call(&d->link, IPC_M_ALERTS_LIST, &q, on_alerts, d);
}

/* status.get answered: whether the store is degraded, for the header. */
static void on_status(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err == 0) {
        const struct ipc_status *st = result;
        d->store_degraded = st->store_degraded;
        free(d->self_node);
        d->self_node = st->node != NULL ? strdup(st->node) : NULL;
        dash_mark(d);
    }
}

/* Everything, when the link comes up. */
static void fetch_all(struct dash *d)
{
    link_call(&d->link, IPC_M_STATUS_GET, NULL, on_status, d);
    fetch_checks(d);
    fetch_deploys(d);
    dash_fetch_alerts(d);
    char *topics[] = {"results", "states", "deploys", "alerts", "log"};
    struct ipc_topics t = {.topics = topics, .ntopics = 5};
    link_call(&d->link, IPC_M_EVENTS_SUBSCRIBE, &t, on_subscribed, d);
}

/* The link came up (fetch), or failed for good (quit). */
static void on_link_state(struct link *l, void *arg)
{
    struct dash *d = arg;
    /* A new connection has no subscription; its daemon may have the topic. */
    d->host_subscribed = false;
    free(d->host_sub_node);
    d->host_sub_node = NULL;
    d->host_missing = false;
    if (l->state == LINK_UP) {
        if (d->daemon_started_ms != 0 && d->daemon_started_ms != l->hello.started_ms) {
            dash_status(d, "reconnected: shipwatchd %s restarted", l->hello.version);
        } else if (d->daemon_started_ms != 0) {
            dash_status(d, "reconnected");
        }
        d->daemon_started_ms = l->hello.started_ms;
        fetch_all(d);
        if (d->detail != NULL) {
            panel_check_fetch(d);
        }
    } else if (l->state == LINK_FATAL) {
        snprintf(d->fatal, sizeof(d->fatal), "shipwatch: %s", l->error);
        d->exit_code = 1;
        d->quitting = true;
        uv_stop(d->loop);
    }
    dash_mark(d);
}

/* A notification: keep the picture current, and log it as an event. */
static void on_notice(struct link *l, const struct ipc_notice *n, void *arg)
{
    struct dash *d = arg;
    const char *topic = n->topic != NULL ? n->topic : "";
    if (strcmp(topic, "results") == 0) {
        int k = panel_find_check(d, n->check);
        if (k < 0) {
            return;
        }
        struct ipc_check *c = &d->checks.checks[k];
        if (d->sort == S_LATENCY || !panel_same_str(c->state, n->state)) {
            d->order_gen++;
        }
        c->last_ms = n->ts_ms;
        c->last_duration_us = n->duration_us;
        c->last_status = n->status;
        c->runs_total++;
        free(c->last_outcome);
        c->last_outcome = panel_strdup(n->outcome);
        free(c->state);
        c->state = panel_strdup(n->state);
        free(c->last_error);
        c->last_error = panel_strdup(n->error);
        free(c->last_condition);
        c->last_condition = panel_strdup(n->failed_condition);
        free(c->last_message);
        c->last_message = panel_strdup(n->message);
        free(c->last_perfdata);
        c->last_perfdata = panel_strdup(n->perfdata);
        spark_add(&d->rows[k], n->duration_us,
                  n->outcome == NULL || strcmp(n->outcome, "up") != 0);
        dash_mark(d);
        return;
    }
    if (strcmp(topic, "states") == 0) {
        int k = panel_find_check(d, n->check);
        if (k >= 0) {
            d->checks.checks[k].state_since_ms = n->ts_ms;
        }
    }
    if (strcmp(topic, "deploys") == 0) {
        fetch_deploys(d);
    }
    if (strcmp(topic, "alerts") == 0 && n->type != NULL && strncmp(n->type, "alert", 5) == 0) {
        dash_fetch_alerts(d);    /* alert, alert.mute; not notifier */
    }
    /* Pauses, reloads and the like come on "log" as events of their own
     * type; plain log lines have type "log". */
    const char *type = n->type != NULL ? n->type : "log";
    bool line = strcmp(topic, "log") == 0 && strcmp(type, "log") == 0;
    /* Reloads change the set of checks; pauses their flags. */
    if (strcmp(type, "reload") == 0 || strcmp(type, "pause") == 0 ||
        strcmp(type, "resume") == 0) {
        fetch_checks(d);
    }
    /* The store's outages and recoveries: the header says so. */
    if (strcmp(type, "store") == 0) {
        link_call(l, IPC_M_STATUS_GET, NULL, on_status, d);
    }
    /* A line at info repeats an event the tail has from its topic. */
    if (line && n->level != NULL && strcmp(n->level, "info") == 0) {
        return;
    }
    char text[600];
    if (line) {
        snprintf(text, sizeof(text), "%s: %s", n->level ? n->level : "log",
                 n->message ? n->message : "");
    } else {
        snprintf(text, sizeof(text), "%s", n->message ? n->message : "");
    }
    ev_push(d, n->id, n->ts_ms, n->type, n->check, n->app, text);
}


/* --- drawing --- */

/* The checks' counts, "3 up  1 down  0 degraded  0 unknown"; brief:
 * only those not zero (up always). Drawn at x when draw; the width. */
/* The checks in each state (up, down, degraded, unknown), counted again
 * only when a state may have changed (order_gen). */
static const int *state_counts(struct dash *d)
{
    if (d->counts_gen != d->order_gen) {   /* equal at first: no checks, all 0 */
        memset(d->counts, 0, sizeof(d->counts));
        for (size_t i = 0; i < d->checks.nchecks; i++) {
            enum role r = theme_state_role(d->checks.checks[i].state);
            d->counts[r == ROLE_UP ? 0 : r == ROLE_DOWN ? 1 : r == ROLE_DEGRADED ? 2 : 3]++;
        }
        d->counts_gen = d->order_gen;
    }
    return d->counts;
}

static int draw_counts(const int counts[4], int x, int w, bool brief, bool draw)
{
    static const enum role roles[] = {ROLE_UP, ROLE_DOWN, ROLE_DEGRADED, ROLE_UNKNOWN};
    static const char *const words[] = {"up", "down", "degraded", "unknown"};
    int at = x;
    for (int i = 0; i < 4; i++) {
        if (brief && i > 0 && counts[i] == 0) {
            continue;
        }
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d %s", counts[i], words[i]);
        if (draw) {
            theme_on(roles[i], counts[i] > 0 && i > 0 ? A_BOLD : 0);
            panel_put(0, at, w - at, buf);
            theme_off(roles[i], counts[i] > 0 && i > 0 ? A_BOLD : 0);
        }
        at += n + 2;
    }
    return at - x - 2;
}

/* Firing alerts once the daemon keeps them; else checks down. */
static int firing_count(struct dash *d)
{
    int n = 0;
    bool alerts = d->alerts_loaded && !d->alerts_missing;
    if (!alerts) {
        return state_counts(d)[1];
    }
    for (size_t i = 0; i < d->alerts.nalerts; i++) {
        n += panel_same_str(d->alerts.alerts[i].status, "firing");
    }
    return n;
}

/* The title line and the tabs. What a paged operator needs stays at 80
 * columns: the firing count, the store's trouble and the connection
 * always; the daemon's version and uptime go first, then the counts
 * that are zero. */
static void draw_header(struct dash *d, int w)
{
    char firing[32], store[64] = "", daemon[96] = "";
    snprintf(firing, sizeof(firing), "%d firing  ", firing_count(d));
    if (d->link.state == LINK_UP && d->store_degraded) {
        snprintf(store, sizeof(store), "STORE DEGRADED  ");
    }
    if (d->link.state == LINK_UP) {
        char up[32];
        out_span_us((clock_wall_ms() - d->link.hello.started_ms) * 1000, up, sizeof(up));
        snprintf(daemon, sizeof(daemon), "shipwatchd %s up %s  ",
                 d->link.hello.version ? d->link.hello.version : "?", up);
    }
    const char *conn = d->link.state == LINK_UP ? "connected" : "disconnected";
    int need = (int)(strlen(firing) + strlen(store) + strlen(conn));
    const int *counts = state_counts(d);
    int full = draw_counts(counts, 10, w, false, false);
    bool brief = 10 + full + 2 + need > w;
    int counts_w = brief ? draw_counts(counts, 10, w, true, false) : full;
    if (10 + counts_w + 2 + need + (int)strlen(daemon) > w) {
        daemon[0] = '\0';
    }
    theme_on(ROLE_TITLE, A_BOLD);
    panel_put(0, 0, w, "shipwatch");
    theme_off(ROLE_TITLE, A_BOLD);
    int rx = w - need - (int)strlen(daemon);
    draw_counts(counts, 10, rx - 2, brief, true);
    rx = rx < 0 ? 0 : rx;
    bool hot = strncmp(firing, "0 ", 2) != 0;
    theme_on(hot ? ROLE_DOWN : ROLE_NORMAL, hot ? A_BOLD : 0);
    panel_put(0, rx, w - rx, firing);
    theme_off(hot ? ROLE_DOWN : ROLE_NORMAL, hot ? A_BOLD : 0);
    rx += (int)strlen(firing);
    theme_on(ROLE_DOWN, A_BOLD);
    panel_put(0, rx, w - rx, store);
    theme_off(ROLE_DOWN, A_BOLD);
    rx += (int)strlen(store);
    panel_putf(0, rx, w - rx, "%s%s", daemon, conn);
    /* The tabs: " 1 Overview " and so on. */
    int x = 0;
    const struct panel *on = tab_on(d);
    for (int v = 0; v < PANEL_COUNT; v++) {
        if (!panel_classes[v]->tab) {
            continue;
        }
        char buf[32];
        snprintf(buf, sizeof(buf), " %d %s ", v + 1, panel_classes[v]->name);
        if (on == &d->panels[v]) {
            theme_on(ROLE_SELECTED, 0);
        }
        panel_put(1, x, w - x, buf);
        if (on == &d->panels[v]) {
            theme_off(ROLE_SELECTED, 0);
        }
        x += (int)strlen(buf) + 1;
    }
    if (d->filter[0] != '\0' || d->editing) {
        panel_putf(1, x + 1, w - x - 1, "filter: %s%s", d->filter, d->editing ? "_" : "");
    }
}

/* The daemon is away: one line across the screen, what it means first:
 * at 80 columns a socket path in the reason cuts the rest. */
static void draw_banner(struct dash *d, int y, int w)
{
    theme_on(ROLE_BANNER, A_BOLD | A_REVERSE);
    panel_fill(y, w);
    panel_putf(y, 1, w - 2, "daemon unreachable, reconnecting: %s", d->link.error);
    theme_off(ROLE_BANNER, A_BOLD | A_REVERSE);
}

/* The status line: a question, a message, or the keys of the panel. */
static void draw_status(struct dash *d, int h, int w)
{
    theme_on(ROLE_STATUS, 0);
    panel_fill(h - 1, w);
    if (d->prompt != NULL) {
        char q[300];
        d->prompt->question(d, q, sizeof(q));
        panel_putf(h - 1, 1, w - 2, "%s%s_%s", q, d->input,
                   d->prompt->hint != NULL ? d->prompt->hint : "");
    } else if (d->msg[0] != '\0') {
        panel_put(h - 1, 1, w - 2, d->msg);
    } else if (d->cur->cls->hint != NULL) {
        panel_put(h - 1, 1, w - 2, d->cur->cls->hint);
    } else {
        char hint[160];
        keys_footer(d->cur->cls->name, !d->cur->cls->tab, hint, sizeof(hint));
        panel_put(h - 1, 1, w - 2, hint);
    }
    char sorted[32];
    snprintf(sorted, sizeof(sorted), "sort: %s", sort_names[d->sort]);
    if (w > 60 && d->cur->cls->sorted) {
        panel_put(h - 1, w - (int)strlen(sorted) - 1, (int)strlen(sorted), sorted);
    }
    theme_off(ROLE_STATUS, 0);
}

/* The host topic answered: subscribed, or a daemon without it. */
static void on_host_topic(struct link *l, int err, enum ipc_errcode code, const char *msg,
                          void *result, void *arg)
{
    struct dash *d = arg;
    if (err > 0 && code == IPC_E_INVALID_PARAMS) {
        d->host_missing = true;     /* a daemon from before the host topic */
        dash_mark(d);
    } else if (err > 0 && code == IPC_E_NOT_FOUND && d->host_node != NULL) {
        /* The node left the cluster: back to the daemon's own host. */
        dash_status(d, "host: %s", msg);
        panel_host_show(d, NULL);
        d->host_subscribed = false;
        free(d->host_sub_node);
        d->host_sub_node = NULL;
    } else if (err > 0) {
        dash_status(d, "host: %s", msg);
    }
}

/* Whether two node names (NULL: the daemon's own host) are the same. */
static bool same_node(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The host samples flow while the host view is on screen, and only then:
 * the daemon reads /proc for them. Followed at every draw, so every way
 * onto or off the view (keys, commands, clicks, a reconnect) counts. */
static void sync_host(struct dash *d)
{
    bool want = d->cur == &d->panels[PANEL_HOST] && d->link.state == LINK_UP &&
                !d->host_missing;
    if (d->link.state != LINK_UP ||
        (want == d->host_subscribed && (!want || same_node(d->host_sub_node, d->host_node)))) {
        return;
    }
    /* Subscribing again with another node moves the subscription there. */
    char *sub = want && d->host_node != NULL ? strdup(d->host_node) : NULL;
    if (want && d->host_node != NULL && sub == NULL) {
        return;
    }
    char *topics[] = {"host"};
    struct ipc_topics t = {.topics = topics, .ntopics = 1, .node = sub};
    d->host_subscribed = want;
    free(d->host_sub_node);
    d->host_sub_node = sub;
    link_call(&d->link, want ? IPC_M_EVENTS_SUBSCRIBE : IPC_M_EVENTS_UNSUBSCRIBE, &t,
              want ? on_host_topic : NULL, d);
}

/* A host sample: kept for the host view. */
static void on_host(struct link *l, struct ipc_host *h, void *arg)
{
    struct dash *d = arg;
    /* Right after a switch, a sample of the node left may still come. */
    const char *want = d->host_node != NULL ? d->host_node : d->self_node;
    if (want != NULL && h->node != NULL && strcmp(h->node, want) != 0) {
        return;         /* the link frees it */
    }
    ipc_type_finish(&ipc_host_type, &d->host);
    panel_take(&d->host, h, sizeof(d->host));
    d->has_host = true;
    d->host_at_ms = clock_wall_ms();
    if (d->cur == &d->panels[PANEL_HOST]) {
        dash_mark(d);
    }
}

/* The whole screen: header, banner, the panel's body, the status line. */
static void draw(struct dash *d)
{
    int h, w;
    getmaxyx(stdscr, h, w);
    erase();
    if (h < 8 || w < 40) {
        panel_put(0, 0, w, "terminal too small");
        refresh();
        return;
    }
    draw_header(d, w);
    int y0 = HEADER_H;
    if (d->link.state != LINK_UP) {
        draw_banner(d, y0, w);
        y0++;
    }
    sync_host(d);
    struct rect body = {.y = y0, .x = 0, .h = h - y0 - 1, .w = w};
    d->cur->cls->draw(d, d->cur, &body);
    draw_status(d, h, w);
    if (d->help) {
        struct rect all = {.y = 0, .x = 0, .h = h, .w = w};
        panel_help.draw(d, &d->help_panel, &all);
    }
    refresh();
}

/* The redraw timer: draw when something changed. */
static void on_redraw(uv_timer_t *t)
{
    struct dash *d = t->data;
    if (d->dirty && !d->quitting) {
        d->dirty = false;
        draw(d);
    }
}

/* Every second: ages and uptimes move. */
static void on_tick(uv_timer_t *t)
{
    dash_mark(t->data);
}

/* Every 30 seconds: a mute that ran out changes the alerts silently. */
static void on_alerts_timer(uv_timer_t *t)
{
    dash_fetch_alerts(t->data);
}

/* Every minute: the per-check statistics. */
static void on_stats_timer(uv_timer_t *t)
{
    struct dash *d = t->data;
    if (d->link.state == LINK_UP) {
        fetch_stats(d);
    }
}

/* --- the panels and the status line's questions --- */

/* Show panel id; a panel newly shown starts at its top (or a tail at its
 * bottom). */
void dash_switch(struct dash *d, enum panel_id id)
{
    struct panel *p = &d->panels[id];
    if (d->cur != p) {
        d->cur = p;
        p->sel = p->cls->tail ? 1 << 30 : 0;
        p->top = 0;
    }
    dash_mark(d);
}

/* Show panel id with its selection and scroll as they were (a detail
 * going back to its list). */
static void return_to(struct dash *d, enum panel_id id)
{
    d->cur = &d->panels[id];
    dash_mark(d);
}

/* Free what the question held; the status line shows messages again. */
void dash_prompt_close(struct dash *d)
{
    d->prompt = NULL;
    d->input[0] = '\0';
    free(d->prompt_check);
    free(d->prompt_app);
    free(d->prompt_env);
    d->prompt_check = d->prompt_app = d->prompt_env = NULL;
    d->prompt_app_env = false;
    dash_mark(d);
}

/* A new question replaces any other. */
void dash_prompt(struct dash *d, const struct prompt_class *pc, const char *initial)
{
    dash_prompt_close(d);
    d->prompt = pc;
    snprintf(d->input, sizeof(d->input), "%s", initial != NULL ? initial : "");
    dash_mark(d);
}

static int run_action(struct dash *d, enum action a, const char *arg, bool typed);

/* The command line's prompt. */
static void command_question(const struct dash *d, char *buf, size_t len)
{
    snprintf(buf, len, ":");
}

/* Enter on the command line: the word's action with the rest as its
 * argument. The line is closed first: the action may ask a question. */
static void command_send(struct dash *d)
{
    char line[INPUT_MAX];
    snprintf(line, sizeof(line), "%s", d->input);
    dash_prompt_close(d);
    char *arg = NULL;
    enum action a = keys_command(line, &arg);
    if (a == A_NONE) {
        if (line[0] != '\0') {
            dash_status(d, "unknown command: %s (? lists them)", line);
        }
        return;
    }
    run_action(d, a, arg, true);
}

static const struct prompt_class command_prompt = {
    .question = command_question,
    .send = command_send,
};

/* A key while the status line asks: line editing, Enter, Esc. */
static void key_prompt(struct dash *d, int ch)
{
    size_t n = strlen(d->input);
    if (d->prompt->key != NULL && d->prompt->key(d, ch)) {
        dash_mark(d);
        return;
    }
    if (ch == 27) {
        dash_prompt_close(d);
        dash_status(d, "cancelled");
    } else if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
        const struct prompt_class *pc = d->prompt;
        pc->send(d);
        if (d->prompt == pc) {
            dash_prompt_close(d);
        }
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        /* A whole UTF-8 character: its continuation bytes, then its lead. */
        while (n > 0 && ((unsigned char)d->input[n - 1] & 0xc0) == 0x80) {
            n--;
        }
        d->input[n > 0 ? n - 1 : 0] = '\0';
    } else if (ch >= 0x20 && ch < 0x100 && ch != 0x7f && n + 1 < sizeof(d->input)) {
        d->input[n] = (char)ch;
        d->input[n + 1] = '\0';
    }
    dash_mark(d);
}

/* A key while typing the filter: it applies as it is typed. */
static void key_filter(struct dash *d, int ch)
{
    size_t n = strlen(d->filter);
    if (ch == 27) {
        d->filter[0] = '\0';
        d->editing = false;
    } else if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
        d->editing = false;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        if (n > 0) {
            d->filter[n - 1] = '\0';
        }
    } else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof(d->filter)) {
        d->filter[n] = (char)ch;
        d->filter[n + 1] = '\0';
    }
    d->cur->sel = 0;
    d->cur->top = 0;
    dash_mark(d);
}

/* --- the screen manager's actions --- */

/* A row of the manager's action table. */
struct manager_action {
    /* Do it: PANEL_* bits. typed: from the command line (arg may be set). */
    int (*fn)(struct dash *d, const struct manager_action *self, const char *arg, bool typed);
    enum panel_id panel;        /* for view switches */
    int by;                     /* for moves: rows, or pages when page */
    bool page;
    bool half;                  /* with page: half pages */
};

/* The check named arg, or the selected one; -1 with a message if none. */
static int target_check(struct dash *d, const char *arg)
{
    if (arg != NULL) {
        int k = panel_find_check(d, arg);
        if (k < 0) {
            dash_status(d, "no check called %s", arg);
        }
        return k;
    }
    const struct panel_class *c = d->cur->cls;
    return c->selected_check != NULL ? c->selected_check(d, d->cur) : -1;
}

static int act_back(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed);

/* q: in a sub-view (a check, a deploy, an alert) what Esc does: an
 * operator who presses q there means "out of here", not "out of the
 * program"; on a tab, quit. :q and F10 quit from anywhere. */
static int act_quit(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    if (typed || d->cur->cls->tab) {
        return PANEL_QUIT;
    }
    struct panel *p = d->cur;
    int flags = p->cls->on_action != NULL ? p->cls->on_action(d, p, A_BACK, NULL) : 0;
    return flags & PANEL_HANDLED ? flags : act_back(d, self, NULL, false);
}

/* F10 (htop's): quit, whatever is on screen. */
static int act_exit(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    return PANEL_QUIT;
}

/* ? */
static int act_help(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    d->help = true;
    return PANEL_REDRAW;
}

/* : */
static int act_command(struct dash *d, const struct manager_action *self, const char *arg,
                       bool typed)
{
    dash_prompt(d, &command_prompt, NULL);
    return PANEL_REDRAW;
}

/* 1-4: a tab. */
static int act_view(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    dash_switch(d, self->panel);
    return PANEL_REDRAW;
}

/* 6: back to the check last opened; `:check NAME` opens one. */
static int act_check(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    if (arg != NULL) {
        int k = target_check(d, arg);
        if (k >= 0) {
            panel_check_open(d, k);
        }
    } else if (d->detail != NULL) {
        d->cur = &d->panels[PANEL_CHECK];
    }
    return PANEL_REDRAW;
}

/* The number of tabs: the first panels of enum panel_id. */
static int ntabs(void)
{
    int n = 0;
    while (n < PANEL_COUNT && panel_classes[n]->tab) {
        n++;
    }
    return n;
}

/* Tab and Shift-Tab: the next tab (by) from the one on screen. */
static int act_cycle(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    int n = ntabs();
    const struct panel *from = tab_on(d);
    dash_switch(d, (enum panel_id)(((int)panel_id_of(d, from) + n + self->by) % n));
    return PANEL_REDRAW;
}

/* j k PgDn PgUp: the selection moves over selectable rows. */
static int act_move(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    struct panel *p = d->cur;
    int page = LINES > 6 ? LINES - 6 : 1;
    page = self->half && page > 1 ? page / 2 : page;
    int by = self->page ? self->by * page : self->by;
    p->sel += by;
    if (p->sel < 0) {
        p->sel = 0;
    }
    /* Skip what cannot be selected (group headers) in the direction of
     * travel. */
    if (p->cls->selectable != NULL && p->rows != NULL) {
        while (p->sel > 0 && p->sel < p->nrows && !p->cls->selectable(d, p, p->sel) && by < 0) {
            p->sel--;
        }
        while (p->sel < p->nrows - 1 && !p->cls->selectable(d, p, p->sel) && by > 0) {
            p->sel++;
        }
    }
    return PANEL_REDRAW;
}

/* Home: the first selectable row, at once: a key read in the same batch
 * (Enter) acts on it before any redraw. */
static int act_first(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    d->cur->sel = 0;
    d->cur->top = 0;
    panel_fix_selection(d, d->cur, LINES > 6 ? LINES - 6 : 1);
    return PANEL_REDRAW;
}

/* End: the last selectable row, at once, as Home. */
static int act_last(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    d->cur->sel = 1 << 30;
    panel_fix_selection(d, d->cur, LINES > 6 ? LINES - 6 : 1);
    return PANEL_REDRAW;
}

/* n, N: the next (previous) row the filter lets through, wrapping, as
 * vim's n after a search; the filter hides the rest. */
static int act_match(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    struct panel *p = d->cur;
    if (d->filter[0] == '\0') {
        dash_status(d, "no filter to match (/ sets one)");
        return PANEL_REDRAW;
    }
    for (int i = 1; i <= p->nrows; i++) {
        int s = ((p->sel + self->by * i) % p->nrows + p->nrows) % p->nrows;
        if (p->cls->selectable == NULL || p->cls->selectable(d, p, s)) {
            p->sel = s;
            panel_fix_selection(d, p, LINES > 6 ? LINES - 6 : 1);
            return PANEL_REDRAW;
        }
    }
    dash_status(d, "nothing matches '%s'", d->filter);
    return PANEL_REDRAW;
}

/* Enter: the selected check's view. */
static int act_open(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    int k = target_check(d, NULL);
    if (k >= 0 && d->cur != &d->panels[PANEL_CHECK]) {
        panel_check_open(d, k);
    }
    return PANEL_REDRAW;
}

/* Esc where no panel takes it: a detail goes back to its list as it
 * was left; elsewhere the filter goes. */
static int act_back(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    if (d->cur->cls->parent != NULL) {
        return_to(d, panel_id_of(d, tab_on(d)));
        return PANEL_REDRAW;
    }
    d->filter[0] = '\0';
    return PANEL_REDRAW;
}

/* /: type a filter; `:filter TEXT` sets it. */
static int act_filter(struct dash *d, const struct manager_action *self, const char *arg,
                      bool typed)
{
    if (arg == NULL) {
        d->editing = true;
    } else {
        snprintf(d->filter, sizeof(d->filter), "%s", arg);
        d->cur->sel = 0;
        d->cur->top = 0;
    }
    return PANEL_REDRAW;
}

/* s: the next order; `:sort BY` names it. */
static int act_sort(struct dash *d, const struct manager_action *self, const char *arg,
                    bool typed)
{
    if (arg == NULL) {
        d->sort = (enum sort)((d->sort + 1) % S_COUNT);
        return PANEL_REDRAW;
    }
    for (int s = 0; s < S_COUNT; s++) {
        if (strcmp(arg, sort_names[s]) == 0) {
            d->sort = (enum sort)s;
            return PANEL_REDRAW;
        }
    }
    dash_status(d, "sort by problems, app, name, state or latency, not '%s'", arg);
    return PANEL_REDRAW;
}

/* An alert's action typed away from the alerts panel. */
static int act_no_alert(struct dash *d, const struct manager_action *self, const char *arg,
                        bool typed)
{
    dash_status(d, "no alert selected (3 lists the alerts)");
    return PANEL_REDRAW;
}

/* A panel's action typed on another panel. */
static int act_elsewhere(struct dash *d, const struct manager_action *self, const char *arg,
                         bool typed)
{
    dash_status(d, "not on this view");
    return PANEL_REDRAW;
}

/* checks.run answered: the result on the status line. */
static void on_run(struct link *l, int err, enum ipc_errcode code, const char *msg, void *result,
                   void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        dash_status(d, "run: %s", msg);
        return;
    }
    struct ipc_run *r = result;
    char took[16];
    out_span_us(r->duration_us, took, sizeof(took));
    dash_status(d, "%s: %s in %s%s%s", r->check, r->outcome ? r->outcome : "?", took,
                r->failed_condition || r->error ? ": " : "",
                r->failed_condition ? r->failed_condition : r->error ? r->error : "");
    if (d->detail != NULL && strcmp(d->detail, r->check) == 0) {
        panel_check_fetch(d);
    }
}

/* checks.pause or checks.resume answered. */
static void on_paused(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        dash_status(d, "%s", msg);
        return;
    }
    struct ipc_paused *p = result;
    int k = panel_find_check(d, p->check);
    if (k >= 0) {
        d->checks.checks[k].paused = p->paused;
    }
    dash_status(d, "%s %s", p->check, p->paused ? "paused" : "resumed");
}

/* r: run the check now. */
static int act_run(struct dash *d, const struct manager_action *self, const char *arg,
                   bool typed)
{
    int k = target_check(d, arg);
    if (k >= 0) {
        struct ipc_check_ref ref = {.check = d->checks.checks[k].name};
        dash_status(d, "running %s...", ref.check);
        link_call(&d->link, IPC_M_CHECKS_RUN, &ref, on_run, d);
    }
    return PANEL_REDRAW;
}

/* Pause or resume the check called name. */
static void send_pause(struct dash *d, const char *name, bool pause)
{
    struct ipc_check_ref ref = {.check = (char *)name};
    link_call(&d->link, pause ? IPC_M_CHECKS_PAUSE : IPC_M_CHECKS_RESUME, &ref, on_paused, d);
}

/* The pause question. checks.pause takes no duration: a paused check
 * stays paused until someone resumes it, and its alerts resolve. */
static void pause_question(const struct dash *d, char *buf, size_t len)
{
    snprintf(buf, len, "pause %s until resumed? its alerts resolve. [y/N] ", d->prompt_check);
}

/* y pauses; any other key is a no: one stray key must not stop monitoring. */
static bool pause_key(struct dash *d, int ch)
{
    if (ch == 'y' || ch == 'Y') {
        send_pause(d, d->prompt_check, true);
        dash_prompt_close(d);
    } else {
        dash_status(d, "%s not paused", d->prompt_check);
        dash_prompt_close(d);
    }
    return true;
}

static const struct prompt_class pause_prompt = {
    .question = pause_question,
    .key = pause_key,
};

/* p resumes a paused check, and asks before pausing one; `:pause CHECK`,
 * typed out, pauses at once, `:resume` resumes (self->by: 1, 0). */
static int act_pause(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    int k = target_check(d, arg);
    if (k < 0) {
        return PANEL_REDRAW;
    }
    const struct ipc_check *c = &d->checks.checks[k];
    if (typed || c->paused) {
        send_pause(d, c->name, typed ? self->by != 0 : false);
        return PANEL_REDRAW;
    }
    dash_prompt(d, &pause_prompt, NULL);
    d->prompt_check = panel_strdup(c->name);
    return PANEL_REDRAW;
}

/* A click selects a row or a tab; a double click opens the check. */
static int act_mouse(struct dash *d, const struct manager_action *self, const char *arg,
                     bool typed)
{
    MEVENT ev;
    if (getmouse(&ev) != OK) {
        return PANEL_REDRAW;
    }
    struct panel *p = d->cur;
    int y0 = HEADER_H + (d->link.state == LINK_UP ? 1 : 2);     /* first row */
    int line = p->top + ev.y - y0;
    if (ev.y == 1) {
        /* The tabs: " 1 Overview " and so on. */
        int x = 0;
        for (int v = 0; v < PANEL_COUNT; v++) {
            if (!panel_classes[v]->tab) {
                continue;
            }
            int len = (int)strlen(panel_classes[v]->name) + 4;
            if (ev.x >= x && ev.x < x + len) {
                dash_switch(d, (enum panel_id)v);
            }
            x += len + 1;
        }
    } else if (line >= 0 && line < p->nrows && p != &d->panels[PANEL_CHECK]) {
        p->sel = line;
        int k = -1;
        if ((ev.bstate & BUTTON1_DOUBLE_CLICKED) && (k = target_check(d, NULL)) >= 0) {
            panel_check_open(d, k);
        }
    }
    return PANEL_REDRAW;
}

/* The terminal changed size: everything is laid out again from LINES and
 * COLS at the next draw. */
static int act_resize(struct dash *d, const struct manager_action *self, const char *arg,
                      bool typed)
{
    return PANEL_RESIZE | PANEL_REDRAW;
}

/* What the manager does with an action no panel took. */
static const struct manager_action manager_actions[A_COUNT] = {
    [A_QUIT] = {.fn = act_quit},
    [A_EXIT] = {.fn = act_exit},
    [A_HELP] = {.fn = act_help},
    [A_COMMAND] = {.fn = act_command},
    [A_OVERVIEW] = {.fn = act_view, .panel = PANEL_OVERVIEW},
    [A_DEPLOYS] = {.fn = act_view, .panel = PANEL_DEPLOYS},
    [A_ALERTS] = {.fn = act_view, .panel = PANEL_ALERTS},
    [A_EVENTS] = {.fn = act_view, .panel = PANEL_EVENTS},
    [A_HOST] = {.fn = act_view, .panel = PANEL_HOST},
    [A_CHECK] = {.fn = act_check},
    [A_NEXT_VIEW] = {.fn = act_cycle, .by = 1},
    [A_PREV_VIEW] = {.fn = act_cycle, .by = -1},
    [A_DOWN] = {.fn = act_move, .by = 1},
    [A_UP] = {.fn = act_move, .by = -1},
    [A_PAGE_DOWN] = {.fn = act_move, .by = 1, .page = true},
    [A_PAGE_UP] = {.fn = act_move, .by = -1, .page = true},
    [A_HALF_DOWN] = {.fn = act_move, .by = 1, .page = true, .half = true},
    [A_HALF_UP] = {.fn = act_move, .by = -1, .page = true, .half = true},
    [A_FIRST] = {.fn = act_first},
    [A_LAST] = {.fn = act_last},
    [A_OPEN] = {.fn = act_open},
    [A_BACK] = {.fn = act_back},
    [A_FILTER] = {.fn = act_filter},
    [A_NEXT_MATCH] = {.fn = act_match, .by = 1},
    [A_PREV_MATCH] = {.fn = act_match, .by = -1},
    [A_SORT] = {.fn = act_sort},
    [A_ACK] = {.fn = act_no_alert},
    [A_SILENCE] = {.fn = act_no_alert},
    [A_UNSILENCE] = {.fn = act_no_alert},
    [A_RUN] = {.fn = act_run},
    [A_PAUSE] = {.fn = act_pause, .by = 1},
    [A_RESUME] = {.fn = act_pause, .by = 0},
    [A_RANGE] = {.fn = act_elsewhere},
    [A_TAIL] = {.fn = act_elsewhere},
    [A_NODE] = {.fn = act_elsewhere},
    [A_PREV_NODE] = {.fn = act_elsewhere},
    [A_MOUSE] = {.fn = act_mouse},
    [A_RESIZE] = {.fn = act_resize},
};

/* End the loop; the terminal is restored after it. */
static void quit(struct dash *d)
{
    d->quitting = true;
    uv_stop(d->loop);
}

/* The panel on screen first, then the manager; then what the bits ask. */
static int run_action(struct dash *d, enum action a, const char *arg, bool typed)
{
    struct panel *p = d->cur;
    int flags = PANEL_IGNORED;
    if (p->cls->on_action != NULL) {
        flags = p->cls->on_action(d, p, a, arg);
    }
    if (!(flags & PANEL_HANDLED) && a > A_NONE && a < A_COUNT && manager_actions[a].fn != NULL) {
        flags = manager_actions[a].fn(d, &manager_actions[a], arg, typed);
    }
    /* Back is where we were: the selection there stays. */
    if (flags & PANEL_BACK) {
        d->cur = d->back;
    }
    if (flags & PANEL_QUIT) {
        quit(d);
        return flags;
    }
    dash_mark(d);
    return flags;
}

/* One key: the line being typed takes it, else it is an action. */
static void key(struct dash *d, int ch)
{
    if (d->editing) {
        key_filter(d, ch);
        return;
    }
    if (d->prompt != NULL) {
        key_prompt(d, ch);
        return;
    }
    if (d->help) {
        d->help = false;
        dash_mark(d);
        if (ch == '?' || ch == 27 || ch == 'q') {
            return;
        }
    }
    d->msg[0] = '\0';
    /* gg, as in vim and less: a g waits for the next key. */
    struct screen *s = (struct screen *)d;
    if (s->g_pending) {
        s->g_pending = false;
        ch = ch == 'g' ? KEYS_GG : ch;
    } else if (ch == 'g' && keys_lookup(d->cur->cls->name, 'g') == A_NONE) {
        s->g_pending = true;
        return;
    }
    enum action a = keys_lookup(d->cur->cls->name, ch);
    if (a != A_NONE) {
        run_action(d, a, NULL, false);
    }
}

/* stdin is readable: every key waiting, then an immediate redraw. */
static void on_tty(uv_poll_t *p, int status, int events)
{
    struct dash *d = p->data;
    if (status < 0 || (events & UV_DISCONNECT)) {
        quit(d);
        return;
    }
    int ch;
    while ((ch = getch()) != ERR) {
        d->order_gen++;         /* a filter, a sort, a pause: built anew */
        key(d, ch);
        if (d->quitting) {
            return;
        }
    }
    /* The terminal went away (a read error, not "no input"): stop. */
    if (isatty(STDIN_FILENO) == 0) {
        quit(d);
    }
    on_redraw(&((struct screen *)d)->redraw);  /* typing answers at once */
}

/* SIGWINCH: the new size, everything drawn afresh. */
static void on_winch(uv_signal_t *s, int sig)
{
    struct dash *d = s->data;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        resizeterm(ws.ws_row, ws.ws_col);
    }
    clearok(curscr, TRUE);
    d->dirty = true;
    on_redraw(&((struct screen *)d)->redraw);
}

/* SIGTERM, SIGHUP, SIGINT: leave, with 128 + the signal but for ^C. */
static void on_quit_signal(uv_signal_t *s, int sig)
{
    struct dash *d = s->data;
    d->exit_code = sig == SIGINT ? 0 : 128 + sig;
    quit(d);
}

/* --- start and end --- */

/* atexit: the terminal back, whatever path left. */
static void restore_terminal(void)
{
    if (the_dash != NULL && !isendwin()) {
        endwin();
    }
}

/* uv_walk: close every handle still open. */
static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Start the timers, the signals and the terminal's poll. */
static void start_handles(struct screen *s, uv_loop_t *loop)
{
    struct dash *d = &s->d;
    uv_poll_init(loop, &s->tty, STDIN_FILENO);
    s->tty.data = d;
    uv_poll_start(&s->tty, UV_READABLE | UV_DISCONNECT, on_tty);
    uv_signal_init(loop, &s->sig_winch);
    s->sig_winch.data = d;
    uv_signal_start(&s->sig_winch, on_winch, SIGWINCH);
    uv_signal_t *quits[] = {&s->sig_term, &s->sig_hup, &s->sig_int};
    int signums[] = {SIGTERM, SIGHUP, SIGINT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(loop, quits[i]);
        quits[i]->data = d;
        uv_signal_start(quits[i], on_quit_signal, signums[i]);
    }
    struct {
        uv_timer_t *t;
        uv_timer_cb cb;
        uint64_t first_ms, every_ms;
    } timers[] = {
        {&s->redraw, on_redraw, 0, REDRAW_MS},
        {&s->tick, on_tick, TICK_MS, TICK_MS},
        {&s->stats_timer, on_stats_timer, STATS_EVERY_MS, STATS_EVERY_MS},
        {&s->alerts_timer, on_alerts_timer, ALERTS_EVERY_MS, ALERTS_EVERY_MS},
    };
    for (size_t i = 0; i < ARRAY_SIZE(timers); i++) {
        uv_timer_init(loop, timers[i].t);
        timers[i].t->data = d;
        uv_timer_start(timers[i].t, timers[i].cb, timers[i].first_ms, timers[i].every_ms);
    }
}

/* Everything the dashboard held. */
static void free_state(struct dash *d)
{
    for (size_t i = 0; d->rows != NULL && i < d->checks.nchecks; i++) {
        ipc_type_finish(&ipc_check_stats_type, &d->rows[i].st);
    }
    free(d->rows);
    ipc_type_finish(&ipc_checks_type, &d->checks);
    ipc_type_finish(&ipc_checks_type, &d->loading);
    strmap_free(&d->check_index);
    ipc_type_finish(&ipc_deploys_type, &d->deploys);
    ipc_type_finish(&ipc_alerts_type, &d->alerts);
    ipc_type_finish(&ipc_host_type, &d->host);
    dash_prompt_close(d);
    ipc_type_finish(&ipc_history_type, &d->hist);
    ipc_type_finish(&ipc_events_type, &d->detail_states);
    for (size_t i = 0; i < EVENTS_MAX; i++) {
        ev_clear(&d->events[i]);
    }
    free(d->detail);
    free(d->host_node);
    free(d->host_sub_node);
    free(d->self_node);
    panel_deploy_finish(d);
    panel_alert_finish(d);
    for (int i = 0; i < PANEL_COUNT; i++) {
        free(d->panels[i].rows);
    }
}

/* The terminal in the dashboard's modes; NULL if it cannot be used. */
static SCREEN *start_terminal(void)
{
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (scr == NULL) {
        fprintf(stderr, "shipwatch: cannot use the terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return NULL;
    }
    atexit(restore_terminal);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_DOUBLE_CLICKED, NULL);
    mouseinterval(200);
    theme_init();
    return scr;
}

/* Set up, run the loop until quit, tear down: see dash.h. */
int dash_run(const char *socket)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "shipwatch: the dashboard needs a terminal; see shipwatch --help for "
                        "the scripting commands\n");
        return 2;
    }
    struct screen *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return 1;
    }
    struct dash *d = &s->d;
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        free(s);
        return 1;
    }
    d->loop = &loop;
    for (int i = 0; i < PANEL_COUNT; i++) {
        d->panels[i].cls = panel_classes[i];
    }
    d->help_panel.cls = &panel_help;
    d->cur = d->back = &d->panels[PANEL_OVERVIEW];
    the_dash = d;
    const char *cs = nl_langinfo(CODESET);
    d->utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;

    SCREEN *scr = start_terminal();
    if (scr == NULL) {
        uv_loop_close(&loop);
        free(s);
        return 1;
    }
    start_handles(s, &loop);
    struct link_ops ops = {.state = on_link_state, .notice = on_notice, .host = on_host};
    d->dirty = true;
    if (link_start(&d->link, &loop, socket, &ops, d) < 0) {
        quit(d);
    }
    uv_run(&loop, UV_RUN_DEFAULT);

    /* Restore the terminal first: whatever happens next, the user gets
     * their shell back. */
    endwin();
    delscreen(scr);
    the_dash = NULL;
    link_stop(&d->link);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    int rc = d->exit_code;
    if (d->fatal[0] != '\0') {
        fprintf(stderr, "%s\n", d->fatal);
    }
    free_state(d);
    free(s);
    return rc;
}
