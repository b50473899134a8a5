/* dash.c - the dashboard: one libuv loop for the terminal and the socket.
 *
 * The state the views draw from (checks, deploys, alerts, events) is
 * fetched when the link comes up and then kept current from the daemon's
 * notifications; nothing is polled but the per-check statistics, once a
 * minute, and the open alerts every 30 seconds (a mute that runs out
 * changes them without an event). Drawing is
 * coalesced: a change marks the screen dirty and a short timer redraws, so
 * a burst of results costs one refresh, and ncurses writes only the cells
 * that changed. */
#include "dash.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

#include "duration.h"
#include "link.h"
#include "out.h"

#define REDRAW_MS 100            /* at most ten frames a second */
#define TICK_MS 1000             /* ages and the clock */
#define STATS_EVERY_MS 60000
#define SPARK_N 32
#define EVENTS_MAX 1000
#define FILTER_MAX 64
#define MSG_MAX 256
#define ALERTS_MAX 500           /* open alerts fetched */
#define ALERTS_EVERY_MS 30000    /* besides on every alert event */
#define INPUT_MAX 200            /* a prompt's answer */
#define SILENCE_DEFAULT "1h"

enum view {
    V_OVERVIEW,
    V_DEPLOYS,
    V_ALERTS,
    V_EVENTS,
    V_DETAIL,
    V_COUNT
};

static const char *const view_names[] = {"Overview", "Deploys", "Alerts", "Events", "Check"};

enum sort {
    S_CONFIG,                   /* grouped by app, as configured */
    S_NAME,
    S_STATE,                    /* worst first */
    S_LATENCY,                  /* slowest first */
    S_COUNT
};

static const char *const sort_names[] = {"app", "name", "state", "latency"};

/* A question on the status line. */
enum prompt {
    P_NONE,
    P_ACK,                      /* a comment for an acknowledgement */
    P_SILENCE,                  /* how long to silence */
};

/* What the dashboard knows of a check beyond ipc_check. */
struct row {
    uint32_t spark[SPARK_N];    /* recent latencies, microseconds, a ring */
    unsigned nspark, spark_at;
    bool spark_fail[SPARK_N];
    struct ipc_check_stats st;
    bool has_stats;
};

/* One line of the events view. */
struct evline {
    int64_t id;
    int64_t ts_ms;
    char *type, *check, *app, *text;
};

enum {
    C_UP = 1,
    C_DOWN,
    C_DEGRADED,
    C_UNKNOWN,
    C_BANNER,
    C_DIM,
    C_TITLE,
};

struct dash {
    uv_loop_t *loop;
    struct link link;
    uv_poll_t tty;
    uv_signal_t sig_winch, sig_term, sig_hup, sig_int;
    uv_timer_t redraw, tick, stats_timer;
    bool dirty;
    bool quitting;
    int exit_code;
    char fatal[512];
    bool utf8, color;

    enum view view, back;       /* back: where Esc from the detail goes */
    enum sort sort;
    int sel;                    /* selected line in the current list */
    int top;                    /* first line shown */
    bool help;
    bool editing;               /* typing a filter */
    char filter[FILTER_MAX];
    bool events_paused;
    unsigned events_missed;
    char msg[MSG_MAX];          /* the status line */
    enum prompt prompt;         /* P_NONE, or what the status line asks */
    char input[INPUT_MAX];      /* the answer typed so far */
    int64_t prompt_alert;       /* the alert it is about */
    char *prompt_check, *prompt_app, *prompt_env;  /* that alert's, for a silence */

    /* data */
    struct ipc_checks checks;   /* configuration order */
    struct row *rows;           /* parallel to checks */
    struct ipc_deploys deploys;
    struct evline events[EVENTS_MAX];   /* a ring, oldest at ev_head */
    size_t ev_head, nev;
    int64_t last_event_id;
    int64_t daemon_started_ms;
    struct ipc_alerts alerts;   /* the open ones, newest first */
    bool alerts_loaded;         /* alerts.list answered once */
    bool alerts_missing;        /* the daemon has no alerts.list */
    bool alerts_loading;        /* a call in flight */
    bool alerts_again;          /* and an alert event since it went out */
    uv_timer_t alerts_timer;

    /* the check detail */
    char *detail;               /* its name */
    int range;                  /* 0: 1h, 1: 24h, 2: 7d */
    struct ipc_history hist;
    struct ipc_events detail_states;
    bool hist_loading;

    /* the rows of the list on screen: check indexes, or -1 - group */
    int *list;
    int nlist;
};

static struct dash *the_dash;   /* for the terminal restore on fatal paths */

/* --- small helpers --- */

static void mark(struct dash *d)
{
    d->dirty = true;
}

static void status_msg(struct dash *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status_msg(struct dash *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    mark(d);
}

static int state_color(const char *state)
{
    if (state == NULL) {
        return C_UNKNOWN;
    }
    if (strcmp(state, "up") == 0) {
        return C_UP;
    }
    if (strcmp(state, "down") == 0) {
        return C_DOWN;
    }
    if (strcmp(state, "degraded") == 0) {
        return C_DEGRADED;
    }
    return C_UNKNOWN;
}

static int state_rank(const char *state)
{
    switch (state_color(state)) {
    case C_DOWN: return 0;
    case C_DEGRADED: return 1;
    case C_UNKNOWN: return 2;
    default: return 3;
    }
}

/* The word for a state: it reads without colour. */
static const char *state_word(const char *state)
{
    switch (state_color(state)) {
    case C_UP: return "UP";
    case C_DOWN: return "DOWN";
    case C_DEGRADED: return "DEGR";
    default: return "UNKN";
    }
}

static void style_on(struct dash *d, int pair, attr_t extra)
{
    attr_t a = extra;
    if (d->color && pair > 0) {
        a |= COLOR_PAIR(pair);
    }
    attron(a);
}

static void style_off(struct dash *d, int pair, attr_t extra)
{
    attr_t a = extra;
    if (d->color && pair > 0) {
        a |= COLOR_PAIR(pair);
    }
    attroff(a);
}

/* Print s at (y, x), at most w columns, control characters as '?'. */
static void put(int y, int x, int w, const char *s)
{
    if (w <= 0 || s == NULL) {
        return;
    }
    move(y, x);
    int used = 0;
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    while (*s != '\0' && used < w) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
        if (n == (size_t)-1 || n == (size_t)-2 || wc < 0x20 || wc == 0x7f) {
            memset(&st, 0, sizeof(st));
            addch('?');
            used++;
            s += (n == (size_t)-1 || n == (size_t)-2) ? 1 : n;
            continue;
        }
        int cw = wcwidth(wc);
        cw = cw < 0 ? 1 : cw;
        if (used + cw > w) {
            break;
        }
        addnstr(s, (int)n);
        used += cw;
        s += n;
    }
}

static void putf(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void putf(int y, int x, int w, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    put(y, x, w, buf);
}

static bool matches(const struct dash *d, const char *a, const char *b, const char *c)
{
    if (d->filter[0] == '\0') {
        return true;
    }
    return (a != NULL && strstr(a, d->filter) != NULL) ||
           (b != NULL && strstr(b, d->filter) != NULL) ||
           (c != NULL && strstr(c, d->filter) != NULL);
}

static int find_check(const struct dash *d, const char *name)
{
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < d->checks.nchecks; i++) {
        if (strcmp(d->checks.checks[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The newest deploy of app/env, or NULL. */
static const struct ipc_deploy *last_deploy(const struct dash *d, const char *app,
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

/* --- the events ring --- */

static void ev_clear(struct evline *e)
{
    free(e->type);
    free(e->check);
    free(e->app);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

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
    e->type = dup_or_null(type);
    e->check = dup_or_null(check);
    e->app = dup_or_null(app);
    e->text = dup_or_null(text);
    if (d->events_paused) {
        d->events_missed++;
    }
    mark(d);
}

static const struct evline *ev_at(const struct dash *d, size_t i)
{
    return &d->events[(d->ev_head + i) % EVENTS_MAX];
}

/* --- the daemon's answers --- */

static void take(void *dst, void *src, size_t size)
{
    memcpy(dst, src, size);
    memset(src, 0, size);       /* the link frees an empty struct */
}

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

static void on_checks(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "checks.list: %s", msg);
        return;
    }
    /* Keep the sparklines of checks that stay. */
    struct ipc_checks next;
    take(&next, result, sizeof(next));
    struct row *rows = calloc(next.nchecks + 1, sizeof(*rows));
    if (rows == NULL) {
        ipc_type_free(&ipc_checks_type, &next);
        return;
    }
    for (size_t i = 0; i < next.nchecks; i++) {
        int old = find_check(d, next.checks[i].name);
        if (old >= 0) {
            rows[i] = d->rows[old];
        }
    }
    ipc_type_free(&ipc_checks_type, &d->checks);
    free(d->rows);
    d->checks = next;
    d->rows = rows;
    fetch_stats(d);
    mark(d);
}

static void on_stats(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        return;     /* an older daemon, or the store is busy: no figures */
    }
    struct ipc_checks_stats *s = result;
    for (size_t i = 0; i < s->nstats; i++) {
        int k = find_check(d, s->stats[i].check);
        if (k < 0) {
            continue;
        }
        struct row *r = &d->rows[k];
        ipc_type_free(&ipc_check_stats_type, &r->st);
        take(&r->st, &s->stats[i], sizeof(r->st));
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
    mark(d);
}

static void fetch_stats(struct dash *d)
{
    link_call(&d->link, IPC_M_CHECKS_STATS, NULL, on_stats, d);
}

static void on_deploys(struct link *l, int err, enum ipc_errcode code, const char *msg,
                       void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "deploys.list: %s", msg);
        return;
    }
    ipc_type_free(&ipc_deploys_type, &d->deploys);
    take(&d->deploys, result, sizeof(d->deploys));
    mark(d);
}

static void fetch_deploys(struct dash *d)
{
    struct ipc_deploys_query q = {.limit = 500};
    link_call(&d->link, IPC_M_DEPLOYS_LIST, &q, on_deploys, d);
}

static void on_events(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "events.list: %s", msg);
        return;
    }
    struct ipc_events *ev = result;
    for (size_t i = ev->nevents; i-- > 0;) {
        const struct ipc_event *e = &ev->events[i];
        ev_push(d, e->id, e->ts_ms, e->type, e->check, e->app, e->message);
    }
    mark(d);
}

static void on_subscribed(struct link *l, int err, enum ipc_errcode code, const char *msg,
                          void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "events.subscribe: %s", msg);
        return;
    }
    /* Listed after subscribing: nothing falls between; repeats are dropped
     * by id. */
    struct ipc_events_query q = {.limit = 200};
    link_call(l, IPC_M_EVENTS_LIST, &q, on_events, d);
}

/* The alert on line i of the alerts view's list, or NULL. */
static const struct ipc_alert *alert_on_line(const struct dash *d, int i)
{
    if (d->list == NULL || i < 0 || i >= d->nlist || d->list[i] < 0 ||
        (size_t)d->list[i] >= d->alerts.nalerts) {
        return NULL;
    }
    return &d->alerts.alerts[d->list[i]];
}

/* Rebuild d->list for the alerts view: indexes of the alerts the filter
 * lets through. */
static void build_alerts_list(struct dash *d)
{
    free(d->list);
    d->list = malloc((d->alerts.nalerts + 1) * sizeof(int));
    d->nlist = 0;
    for (size_t i = 0; d->list != NULL && i < d->alerts.nalerts; i++) {
        const struct ipc_alert *a = &d->alerts.alerts[i];
        if (matches(d, a->check != NULL ? a->check : a->app, a->summary, a->kind)) {
            d->list[d->nlist++] = (int)i;
        }
    }
}

static void fetch_alerts(struct dash *d);

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
            status_msg(d, "alerts.list: %s", msg);
        }
        mark(d);
        return;
    }
    /* The selection stays on its alert when the list changes under it. */
    const struct ipc_alert *was = d->view == V_ALERTS ? alert_on_line(d, d->sel) : NULL;
    int64_t sel_id = was != NULL ? was->id : 0;
    ipc_type_free(&ipc_alerts_type, &d->alerts);
    take(&d->alerts, result, sizeof(d->alerts));
    d->alerts_loaded = true;
    d->alerts_missing = false;
    if (d->view == V_ALERTS) {
        build_alerts_list(d);
        for (int i = 0; sel_id != 0 && i < d->nlist; i++) {
            if (d->alerts.alerts[d->list[i]].id == sel_id) {
                d->sel = i;
                break;
            }
        }
    }
    if (d->alerts_again) {
        d->alerts_again = false;
        fetch_alerts(d);
    }
    mark(d);
}

/* Ask for the open alerts again: one call in flight at a time, and one
 * more after it when alert events came meanwhile. */
static void fetch_alerts(struct dash *d)
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

static void fetch_all(struct dash *d)
{
    link_call(&d->link, IPC_M_CHECKS_LIST, NULL, on_checks, d);
    fetch_deploys(d);
    fetch_alerts(d);
    char *topics[] = {"results", "states", "deploys", "alerts", "log"};
    struct ipc_topics t = {.topics = topics, .ntopics = 5};
    link_call(&d->link, IPC_M_EVENTS_SUBSCRIBE, &t, on_subscribed, d);
}

static void fetch_detail(struct dash *d);

static void on_link_state(struct link *l, void *arg)
{
    struct dash *d = arg;
    if (l->state == LINK_UP) {
        if (d->daemon_started_ms != 0 && d->daemon_started_ms != l->hello.started_ms) {
            status_msg(d, "reconnected: shipwatchd %s restarted", l->hello.version);
        } else if (d->daemon_started_ms != 0) {
            status_msg(d, "reconnected");
        }
        d->daemon_started_ms = l->hello.started_ms;
        fetch_all(d);
        if (d->detail != NULL) {
            fetch_detail(d);
        }
    } else if (l->state == LINK_FATAL) {
        snprintf(d->fatal, sizeof(d->fatal), "shipwatch: %s", l->error);
        d->exit_code = 1;
        d->quitting = true;
        uv_stop(d->loop);
    }
    mark(d);
}

static void on_notice(struct link *l, const struct ipc_notice *n, void *arg)
{
    struct dash *d = arg;
    const char *topic = n->topic != NULL ? n->topic : "";
    if (strcmp(topic, "results") == 0) {
        int k = find_check(d, n->check);
        if (k < 0) {
            return;
        }
        struct ipc_check *c = &d->checks.checks[k];
        c->last_ms = n->ts_ms;
        c->last_duration_us = n->duration_us;
        c->last_status = n->status;
        c->runs_total++;
        free(c->last_outcome);
        c->last_outcome = dup_or_null(n->outcome);
        free(c->state);
        c->state = dup_or_null(n->state);
        free(c->last_error);
        c->last_error = dup_or_null(n->error);
        free(c->last_condition);
        c->last_condition = dup_or_null(n->failed_condition);
        spark_add(&d->rows[k], n->duration_us,
                  n->outcome == NULL || strcmp(n->outcome, "up") != 0);
        mark(d);
        return;
    }
    if (strcmp(topic, "states") == 0) {
        int k = find_check(d, n->check);
        if (k >= 0) {
            d->checks.checks[k].state_since_ms = n->ts_ms;
        }
    }
    if (strcmp(topic, "deploys") == 0) {
        fetch_deploys(d);
    }
    if (strcmp(topic, "alerts") == 0 && n->type != NULL && strncmp(n->type, "alert", 5) == 0) {
        fetch_alerts(d);    /* alert, alert.mute; not notifier */
    }
    if (strcmp(topic, "log") == 0) {
        /* Reloads change the set of checks; pauses their flags. */
        if (n->message != NULL && (strncmp(n->message, "configuration reloaded", 22) == 0 ||
                                   strstr(n->message, " paused by ") != NULL ||
                                   strstr(n->message, " resumed by ") != NULL)) {
            link_call(l, IPC_M_CHECKS_LIST, NULL, on_checks, d);
        }
        /* Events reach the log as lines too; show the event, not the line. */
        if (n->level != NULL && strcmp(n->level, "info") == 0) {
            return;
        }
    }
    char text[600];
    if (strcmp(topic, "log") == 0) {
        snprintf(text, sizeof(text), "%s: %s", n->level ? n->level : "log",
                 n->message ? n->message : "");
    } else {
        snprintf(text, sizeof(text), "%s", n->message ? n->message : "");
    }
    ev_push(d, n->id, n->ts_ms, n->type, n->check, n->app, text);
}

/* --- the check detail --- */

static const int64_t range_ms[] = {3600LL * 1000, 86400LL * 1000, 7 * 86400LL * 1000};
static const char *const range_names[] = {"1h", "24h", "7d"};

static void on_history(struct link *l, int err, enum ipc_errcode code, const char *msg,
                       void *result, void *arg)
{
    struct dash *d = arg;
    d->hist_loading = false;
    if (err != 0) {
        status_msg(d, "checks.history: %s", msg);
        return;
    }
    ipc_type_free(&ipc_history_type, &d->hist);
    take(&d->hist, result, sizeof(d->hist));
    mark(d);
}

static void on_detail_states(struct link *l, int err, enum ipc_errcode code, const char *msg,
                             void *result, void *arg)
{
    struct dash *d = arg;
    if (err == 0) {
        ipc_type_free(&ipc_events_type, &d->detail_states);
        take(&d->detail_states, result, sizeof(d->detail_states));
        mark(d);
    }
}

static void fetch_detail(struct dash *d)
{
    int64_t now = out_now_ms();
    struct ipc_history_params p = {.check = d->detail,
                                   .from_ms = now - range_ms[d->range],
                                   .to_ms = now + 1,
                                   .limit = 10000};
    d->hist_loading = true;
    link_call(&d->link, IPC_M_CHECKS_HISTORY, &p, on_history, d);
    struct ipc_events_query q = {.check = d->detail, .type = "state", .limit = 20};
    link_call(&d->link, IPC_M_EVENTS_LIST, &q, on_detail_states, d);
}

static void open_detail(struct dash *d, int k)
{
    free(d->detail);
    d->detail = strdup(d->checks.checks[k].name);
    ipc_type_free(&ipc_history_type, &d->hist);
    memset(&d->hist, 0, sizeof(d->hist));
    ipc_type_free(&ipc_events_type, &d->detail_states);
    memset(&d->detail_states, 0, sizeof(d->detail_states));
    if (d->view != V_DETAIL) {
        d->back = d->view;
    }
    d->view = V_DETAIL;
    fetch_detail(d);
    mark(d);
}

/* --- drawing --- */

static const char *const spark_utf8[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
static const char spark_ascii[] = "_.-:=+*#";

/* A sparkline of r in w columns, scaled to its own maximum. */
static void draw_spark(struct dash *d, int y, int x, int w, const struct row *r)
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
            style_on(d, C_DOWN, 0);
        }
        if (d->utf8) {
            addstr(spark_utf8[lvl]);
        } else {
            addch((chtype)spark_ascii[lvl]);
        }
        if (r->spark_fail[at]) {
            style_off(d, C_DOWN, 0);
        }
    }
}

static void span_us(int64_t us, char *buf, size_t len)
{
    if (us <= 0) {
        snprintf(buf, len, "-");
    } else {
        out_span_us(us, buf, len);
    }
}

static void uptime_text(int64_t ppm, bool has, char *buf, size_t len)
{
    if (!has || ppm < 0) {
        snprintf(buf, len, "-");
    } else if (ppm >= 1000000) {
        snprintf(buf, len, "100%%");
    } else {
        snprintf(buf, len, "%.2f%%", (double)ppm / 10000.0);
    }
}

static int cmp_rows_by;
static const struct dash *cmp_dash;

static int cmp_rows(const void *a, const void *b)
{
    const struct ipc_check *x = &cmp_dash->checks.checks[*(const int *)a];
    const struct ipc_check *y = &cmp_dash->checks.checks[*(const int *)b];
    int r = 0;
    switch (cmp_rows_by) {
    case S_NAME:
        r = strcmp(x->name, y->name);
        break;
    case S_STATE:
        r = state_rank(x->state) - state_rank(y->state);
        break;
    case S_LATENCY:
        r = (y->last_duration_us > x->last_duration_us) - (y->last_duration_us < x->last_duration_us);
        break;
    }
    return r != 0 ? r : strcmp(x->name, y->name);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Rebuild d->list for the overview: check indexes, with group headers
 * (-1 - index of the group's first check) when sorted by app. */
static void build_overview_list(struct dash *d)
{
    size_t n = d->checks.nchecks;
    free(d->list);
    d->list = malloc((2 * n + 1) * sizeof(int));
    d->nlist = 0;
    if (d->list == NULL) {
        return;
    }
    int *idx = malloc((n + 1) * sizeof(int));
    if (idx == NULL) {
        return;
    }
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ipc_check *c = &d->checks.checks[i];
        if (matches(d, c->name, c->app, c->env)) {
            idx[m++] = (int)i;
        }
    }
    if (d->sort != S_CONFIG) {
        cmp_rows_by = d->sort;
        cmp_dash = d;
        qsort(idx, (size_t)m, sizeof(int), cmp_rows);
        memcpy(d->list, idx, (size_t)m * sizeof(int));
        d->nlist = m;
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
        d->list[d->nlist++] = -1 - idx[i];
        for (int j = i; j < m; j++) {
            const struct ipc_check *c = &d->checks.checks[idx[j]];
            if (!done[j] && same_str(c->app, g->app) && same_str(c->env, g->env)) {
                d->list[d->nlist++] = idx[j];
                done[j] = true;
            }
        }
    }
    free(done);
    free(idx);
}

/* The selection on a selectable line, scrolled into view in h lines. */
static void fix_selection(struct dash *d, int h, bool (*selectable)(const struct dash *, int))
{
    if (d->nlist == 0) {
        d->sel = 0;
        d->top = 0;
        return;
    }
    if (d->sel >= d->nlist) {
        d->sel = d->nlist - 1;
    }
    if (d->sel < 0) {
        d->sel = 0;
    }
    if (selectable != NULL) {
        int s = d->sel;
        while (s < d->nlist && !selectable(d, s)) {
            s++;
        }
        if (s == d->nlist) {
            s = d->sel;
            while (s > 0 && !selectable(d, s)) {
                s--;
            }
        }
        d->sel = s;
    }
    if (d->sel < d->top) {
        d->top = d->sel;
    }
    if (d->sel >= d->top + h) {
        d->top = d->sel - h + 1;
    }
    if (d->top > d->nlist - h) {
        d->top = d->nlist - h > 0 ? d->nlist - h : 0;
    }
    if (d->top < 0) {
        d->top = 0;
    }
}

static bool check_line(const struct dash *d, int i)
{
    return d->list[i] >= 0;
}

static void draw_header(struct dash *d, int w)
{
    int counts[4] = {0};    /* up, down, degraded, unknown */
    for (size_t i = 0; i < d->checks.nchecks; i++) {
        switch (state_color(d->checks.checks[i].state)) {
        case C_UP: counts[0]++; break;
        case C_DOWN: counts[1]++; break;
        case C_DEGRADED: counts[2]++; break;
        default: counts[3]++; break;
        }
    }
    /* Firing alerts once the daemon keeps them; else checks down. */
    int firing = counts[1];
    if (d->alerts_loaded && !d->alerts_missing) {
        firing = 0;
        for (size_t i = 0; i < d->alerts.nalerts; i++) {
            firing += d->alerts.alerts[i].status != NULL &&
                      strcmp(d->alerts.alerts[i].status, "firing") == 0;
        }
    }
    style_on(d, C_TITLE, A_BOLD);
    put(0, 0, w, "shipwatch");
    style_off(d, C_TITLE, A_BOLD);
    int x = 10;
    const int pairs[] = {C_UP, C_DOWN, C_DEGRADED, C_UNKNOWN};
    const char *words[] = {"up", "down", "degraded", "unknown"};
    for (int i = 0; i < 4 && x < w; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%d %s", counts[i], words[i]);
        style_on(d, pairs[i], counts[i] > 0 && i > 0 ? A_BOLD : 0);
        put(0, x, w - x, buf);
        style_off(d, pairs[i], counts[i] > 0 && i > 0 ? A_BOLD : 0);
        x += (int)strlen(buf) + 2;
    }
    char right[160];
    if (d->link.state == LINK_UP) {
        char up[32];
        out_span_us((out_now_ms() - d->link.hello.started_ms) * 1000, up, sizeof(up));
        snprintf(right, sizeof(right), "%d firing  shipwatchd %s up %s  connected", firing,
                 d->link.hello.version ? d->link.hello.version : "?", up);
    } else {
        snprintf(right, sizeof(right), "%d firing  disconnected", firing);
    }
    int rx = w - (int)strlen(right);
    if (rx > x) {
        put(0, rx, w - rx, right);
    }
    /* The tabs. */
    x = 0;
    for (int v = 0; v < V_DETAIL; v++) {
        char buf[32];
        snprintf(buf, sizeof(buf), " %d %s ", v + 1, view_names[v]);
        bool on = (int)d->view == v || (d->view == V_DETAIL && (int)d->back == v);
        if (on) {
            attron(A_REVERSE);
        }
        put(1, x, w - x, buf);
        if (on) {
            attroff(A_REVERSE);
        }
        x += (int)strlen(buf) + 1;
    }
    if (d->filter[0] != '\0' || d->editing) {
        putf(1, x + 1, w - x - 1, "filter: %s%s", d->filter, d->editing ? "_" : "");
    }
}

static void draw_banner(struct dash *d, int y, int w)
{
    style_on(d, C_BANNER, A_BOLD | A_REVERSE);
    move(y, 0);
    for (int i = 0; i < w; i++) {
        addch(' ');
    }
    putf(y, 1, w - 2, "daemon unreachable: %s - reconnecting", d->link.error);
    style_off(d, C_BANNER, A_BOLD | A_REVERSE);
}

static void draw_overview(struct dash *d, int y0, int h, int w)
{
    build_overview_list(d);
    fix_selection(d, h - 1, check_line);
    int64_t now = out_now_ms();
    /* Columns by width: at 80 the essentials, from 110 latency p95, the
     * 7-day uptime and a sparkline, from 150 a longer sparkline and names;
     * the problem takes what is left. */
    int name_w = w >= 150 ? 28 : w >= 110 ? 22 : 18;
    bool mid = w >= 110;
    int spark_w = w >= 150 ? SPARK_N : mid ? 16 : 0;
    char head[256];
    snprintf(head, sizeof(head), "  %-6s %-*s %-7s %7s%s %7s%s%-*s %5s  %s", "STATE", name_w,
             "NAME", "TYPE", "LAST", mid ? "     P95" : "", "UP 24H", mid ? "   UP 7D" : "",
             spark_w ? spark_w + 2 : 1, spark_w ? "  RECENT" : "", "AGE", "PROBLEM");
    attron(A_BOLD);
    put(y0, 0, w, head);
    attroff(A_BOLD);
    for (int i = 0; i < h - 1 && d->top + i < d->nlist; i++) {
        int line = d->top + i;
        int y = y0 + 1 + i;
        int k = d->list[line];
        if (k < 0) {
            const struct ipc_check *g = &d->checks.checks[-1 - k];
            const struct ipc_deploy *dp = last_deploy(d, g->app, g->env);
            attron(A_BOLD);
            putf(y, 0, w, "%s / %s", g->app ? g->app : "(no app)", g->env ? g->env : "-");
            attroff(A_BOLD);
            if (dp != NULL) {
                char age[32];
                out_ago(dp->started_ms, now, age, sizeof(age));
                int x = 4 + (int)strlen(g->app ? g->app : "(no app)") +
                        (int)strlen(g->env ? g->env : "-");
                style_on(d, C_DIM, 0);
                putf(y, x + 2, w - x - 2, "deploy %s %s%s%s", dp->version, age,
                     dp->verdict ? ", " : "", dp->verdict ? dp->verdict : "");
                style_off(d, C_DIM, 0);
            }
            continue;
        }
        const struct ipc_check *c = &d->checks.checks[k];
        const struct row *r = &d->rows[k];
        bool selected = line == d->sel;
        if (selected) {
            attron(A_REVERSE);
            move(y, 0);
            for (int x = 0; x < w; x++) {
                addch(' ');
            }
        }
        int pair = state_color(c->state);
        style_on(d, pair, A_BOLD);
        putf(y, 2, 6, "%s", state_word(c->state));
        style_off(d, pair, A_BOLD);
        char last[16], p95[16], u24[16], u7[16], age[24];
        span_us(c->last_ms ? c->last_duration_us : 0, last, sizeof(last));
        span_us(r->has_stats ? r->st.p95_1h_us : 0, p95, sizeof(p95));
        uptime_text(r->st.uptime_24h_ppm, r->has_stats && r->st.runs_24h > 0, u24, sizeof(u24));
        uptime_text(r->st.uptime_7d_ppm, r->has_stats && r->st.runs_7d > 0, u7, sizeof(u7));
        out_ago(c->last_ms, now, age, sizeof(age));
        char *sp = strstr(age, " ago");
        if (sp != NULL) {
            *sp = '\0';
        }
        char mid_cols[32] = "";
        if (mid) {
            snprintf(mid_cols, sizeof(mid_cols), " %7s", p95);
        }
        char cols[256];
        int x = 9;
        int n = snprintf(cols, sizeof(cols), "%-*.*s %-7.7s %7s%s %7s", name_w, name_w, c->name,
                         c->paused ? "paused" : c->type, last, mid_cols, u24);
        put(y, x, w - x, cols);
        x += n;
        if (mid) {
            putf(y, x, w - x, " %7s", u7);
            x += 8;
        }
        if (spark_w) {
            draw_spark(d, y, x + 2, spark_w < w - x - 2 ? spark_w : w - x - 2, r);
            x += 2 + spark_w;
        }
        putf(y, x, w - x, " %5s  %s", age,
             c->last_condition ? c->last_condition : c->last_error ? c->last_error : "");
        if (selected) {
            attroff(A_REVERSE);
        }
    }
    if (d->nlist == 0) {
        put(y0 + 2, 2, w - 2, d->checks.nchecks == 0 ? "no checks" : "nothing matches the filter");
    }
}

static void draw_deploys(struct dash *d, int y0, int h, int w)
{
    free(d->list);
    d->list = malloc((d->deploys.ndeploys + 1) * sizeof(int));
    d->nlist = 0;
    for (size_t i = 0; d->list != NULL && i < d->deploys.ndeploys; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[i];
        if (matches(d, dp->app, dp->env, dp->version)) {
            d->list[d->nlist++] = (int)i;
        }
    }
    fix_selection(d, h - 1, NULL);
    attron(A_BOLD);
    putf(y0, 0, w, "%-6s %-19s %-16s %-10s %-14s %-12s %-12s %8s  %s", "ID", "STARTED", "APP",
         "ENV", "VERSION", "COMMIT", "AUTHOR", "TOOK", "VERDICT");
    attroff(A_BOLD);
    for (int i = 0; i < h - 1 && d->top + i < d->nlist; i++) {
        const struct ipc_deploy *dp = &d->deploys.deploys[d->list[d->top + i]];
        char when[32], took[16], commit[13];
        out_time(dp->started_ms, when, sizeof(when));
        span_us(dp->finished_ms > dp->started_ms ? (dp->finished_ms - dp->started_ms) * 1000 : 0,
                took, sizeof(took));
        snprintf(commit, sizeof(commit), "%s", dp->commit ? dp->commit : "-");
        bool selected = d->top + i == d->sel;
        if (selected) {
            attron(A_REVERSE);
        }
        putf(y0 + 1 + i, 0, w, "%-6lld %-19s %-16.16s %-10.10s %-14.14s %-12s %-12.12s %8s  %s",
             (long long)dp->id, when, dp->app, dp->env, dp->version, commit,
             dp->author ? dp->author : "-", took,
             dp->verdict ? dp->verdict : dp->status ? dp->status : "-");
        if (selected) {
            attroff(A_REVERSE);
        }
    }
    if (d->nlist == 0) {
        put(y0 + 2, 2, w - 2, "no deploys recorded");
    }
}

/* The word for an alert's status: it reads without colour. */
static const char *alert_word(const char *status, int *pair)
{
    if (status != NULL && strcmp(status, "firing") == 0) {
        *pair = C_DOWN;
        return "FIRING";
    }
    if (status != NULL && strcmp(status, "acknowledged") == 0) {
        *pair = C_DEGRADED;
        return "ACKED";
    }
    *pair = C_UP;
    return status != NULL && strcmp(status, "resolved") == 0 ? "resolved" : "?";
}

/* The alerts view: the open alerts, newest first, from alerts.list. */
static void draw_alerts(struct dash *d, int y0, int h, int w)
{
    build_alerts_list(d);
    fix_selection(d, h - 1, NULL);
    int64_t now = out_now_ms();
    /* At 80 columns the essentials; from 100 the severity; wider, longer
     * names and mutes. The summary takes what is left. */
    bool wide = w >= 110;
    int sev_w = w >= 100 ? 9 : 0;
    int kind_w = wide ? 13 : 10;
    int subj_w = w >= 150 ? 28 : wide ? 22 : 14;
    int muted_w = wide ? 20 : 11;
    attron(A_BOLD);
    putf(y0, 0, w, "%-5s %-8s %-*.*s%-*s %-*s %5s  %-*s %s", "ID", "STATUS", sev_w, sev_w,
         "SEVERITY ", kind_w, "KIND", subj_w, "CHECK/APP-ENV", "AGE", muted_w, "MUTED",
         "SUMMARY");
    attroff(A_BOLD);
    for (int i = 0; i < h - 1 && d->top + i < d->nlist; i++) {
        const struct ipc_alert *a = alert_on_line(d, d->top + i);
        if (a == NULL) {
            continue;
        }
        int y = y0 + 1 + i;
        bool selected = d->top + i == d->sel;
        if (selected) {
            attron(A_REVERSE);
            move(y, 0);
            for (int x = 0; x < w; x++) {
                addch(' ');
            }
        }
        char subject[128], ago[32];
        if (a->check != NULL) {
            snprintf(subject, sizeof(subject), "%s", a->check);
        } else {
            snprintf(subject, sizeof(subject), "%s/%s", a->app ? a->app : "-",
                     a->env ? a->env : "-");
        }
        out_ago(a->started_ms, now, ago, sizeof(ago));
        char *sp = strstr(ago, " ago");
        if (sp != NULL) {
            *sp = '\0';
        }
        int pair = 0;
        const char *word = alert_word(a->status, &pair);
        putf(y, 0, w, "%-5lld ", (long long)a->id);
        style_on(d, pair, pair == C_DOWN ? A_BOLD : 0);
        putf(y, 6, w - 6, "%-8s", word);
        style_off(d, pair, pair == C_DOWN ? A_BOLD : 0);
        int x = 15;
        char sev[16];
        snprintf(sev, sizeof(sev), "%-8.8s ", a->severity ? a->severity : "-");
        putf(y, x, w - x, "%-*.*s%-*.*s %-*.*s %5s  %-*.*s %s", sev_w, sev_w, sev, kind_w, kind_w,
             a->kind ? a->kind : "-", subj_w, subj_w, subject, ago, muted_w, muted_w,
             a->muted_by ? a->muted_by : "-", a->summary ? a->summary : "");
        if (selected) {
            attroff(A_REVERSE);
        }
    }
    if (d->nlist == 0) {
        put(y0 + 2, 2, w - 2,
            d->alerts_missing     ? "this shipwatchd keeps no alerts (it predates them)"
            : !d->alerts_loaded   ? "loading..."
            : d->alerts.nalerts   ? "nothing matches the filter"
                                  : "no open alerts");
    }
}

/* The events view: a live tail of the event log. */
static void draw_events(struct dash *d, int y0, int h, int w)
{
    free(d->list);
    d->list = malloc((d->nev + 1) * sizeof(int));
    d->nlist = 0;
    for (size_t i = 0; d->list != NULL && i < d->nev; i++) {
        const struct evline *e = ev_at(d, i);
        if (matches(d, e->text, e->check, e->app)) {
            d->list[d->nlist++] = (int)i;
        }
    }
    /* A live tail: follow the newest unless the user scrolled or paused. */
    if (!d->events_paused && d->sel >= d->nlist - 2) {
        d->sel = d->nlist - 1;
    }
    fix_selection(d, h - 1, NULL);
    attron(A_BOLD);
    putf(y0, 0, w, "%-19s %-8s %-20s %-12s %s", "TIME", "TYPE", "CHECK", "APP", "MESSAGE");
    attroff(A_BOLD);
    if (d->events_paused) {
        style_on(d, C_BANNER, A_REVERSE);
        putf(y0, w - 30 > 0 ? w - 30 : 0, 30, " paused, %u new ", d->events_missed);
        style_off(d, C_BANNER, A_REVERSE);
    }
    for (int i = 0; i < h - 1 && d->top + i < d->nlist; i++) {
        const struct evline *e = ev_at(d, (size_t)d->list[d->top + i]);
        char when[32];
        out_time(e->ts_ms, when, sizeof(when));
        const char *kind = e->type ? e->type : "-";
        int pair = 0;
        if (strcmp(kind, "state") == 0 && e->text != NULL) {
            const char *to = strstr(e->text, "-> ");
            pair = to != NULL ? state_color(to[3] == 'u' && to[4] == 'p' ? "up"
                                            : to[3] == 'd' && to[4] == 'o' ? "down"
                                            : to[3] == 'd' ? "degraded"
                                                           : "unknown")
                              : 0;
        }
        bool selected = d->top + i == d->sel;
        if (selected) {
            attron(A_REVERSE);
        }
        putf(y0 + 1 + i, 0, w, "%-19s ", when);
        style_on(d, pair, 0);
        putf(y0 + 1 + i, 20, w - 20, "%-8.8s", kind);
        style_off(d, pair, 0);
        putf(y0 + 1 + i, 29, w - 29, "%-20.20s %-12.12s %s", e->check ? e->check : "-",
             e->app ? e->app : "-", e->text ? e->text : "");
        if (selected) {
            attroff(A_REVERSE);
        }
    }
    if (d->nlist == 0) {
        put(y0 + 2, 2, w - 2, "no events");
    }
}

/* The latency graph of the detail view: one column per time slot, the
 * slot's worst latency as a bar; failures marked under the axis, deploys
 * of the check's app on it. */
static void draw_graph(struct dash *d, const struct ipc_check *c, int y0, int gh, int w)
{
    int64_t now = out_now_ms();
    int64_t from = now - range_ms[d->range];
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
        int col = (int)((r->ts_ms - from) * cols / range_ms[d->range]);
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
    put(y0, 0, 9, scale);
    put(y0 + gh - 1, 0, 9, "0");
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
                style_on(d, C_DOWN, 0);
            }
            if (d->utf8) {
                addstr(spark_utf8[here >= 8 ? 7 : here - 1]);
            } else {
                addch(here >= 4 ? '#' : '.');
            }
            if (fail[col]) {
                style_off(d, C_DOWN, 0);
            }
        }
    }
    /* The axis: failures as x, deploys as ^ with their version below. */
    move(y0 + gh, 10);
    for (int col = 0; col < cols; col++) {
        if (fail[col]) {
            style_on(d, C_DOWN, A_BOLD);
            addch('x');
            style_off(d, C_DOWN, A_BOLD);
        } else {
            addstr(d->utf8 ? "─" : "-");
        }
    }
    int label_start = -1, label_end = 0;
    for (size_t i = d->deploys.ndeploys; i-- > 0;) {
        const struct ipc_deploy *dp = &d->deploys.deploys[i];
        if (!same_str(dp->app, c->app) || !same_str(dp->env, c->env) || dp->started_ms < from) {
            continue;
        }
        int col = (int)((dp->started_ms - from) * cols / range_ms[d->range]);
        if (col < 0 || col >= cols) {
            continue;
        }
        style_on(d, C_TITLE, A_BOLD);
        mvaddch(y0 + gh, 10 + col, '^');
        /* The label starts under its mark, or ends there near the edge. */
        char label[80];
        int len = snprintf(label, sizeof(label), "deploy %s", dp->version);
        int lx = 10 + col + len <= w ? 10 + col : w - len;
        /* Deploys come oldest first: a newer label that would overlap
         * replaces the older one. */
        if (lx < label_end && label_start >= 0) {
            move(y0 + gh + 1, label_start);
            for (int k = label_start; k < label_end && k < w; k++) {
                addch(' ');
            }
        }
        if (lx >= 0) {
            put(y0 + gh + 1, lx, w - lx, label);
            label_start = lx;
            label_end = lx + len + 1;
        }
        style_off(d, C_TITLE, A_BOLD);
    }
    char when[32];
    putf(y0 + gh + 2, 10, w - 10, "%s .. now (%s; r run, p pause, g range, Esc back)",
         out_time(from, when, sizeof(when)), range_names[d->range]);
    free(lat);
    free(fail);
}

static void draw_detail(struct dash *d, int y0, int h, int w)
{
    int k = find_check(d, d->detail);
    if (k < 0) {
        putf(y0 + 1, 2, w - 2, "%s is not configured any more (Esc to go back)", d->detail);
        return;
    }
    const struct ipc_check *c = &d->checks.checks[k];
    const struct row *r = &d->rows[k];
    int64_t now = out_now_ms();
    char since[32], u24[16], u7[16], p95[16];
    out_ago(c->state_since_ms, now, since, sizeof(since));
    uptime_text(r->st.uptime_24h_ppm, r->has_stats && r->st.runs_24h > 0, u24, sizeof(u24));
    uptime_text(r->st.uptime_7d_ppm, r->has_stats && r->st.runs_7d > 0, u7, sizeof(u7));
    span_us(r->has_stats ? r->st.p95_1h_us : 0, p95, sizeof(p95));
    style_on(d, state_color(c->state), A_BOLD);
    putf(y0, 0, 6, "%s", state_word(c->state));
    style_off(d, state_color(c->state), A_BOLD);
    putf(y0, 6, w - 6, "%s  %s/%s  %s %s%s  since %s", c->name, c->app ? c->app : "-",
         c->env ? c->env : "-", c->type, c->target ? c->target : "",
         c->paused ? "  PAUSED" : "", since);
    putf(y0 + 1, 6, w - 6, "uptime 24h %s, 7d %s; p95 1h %s; %lld runs, %lld skipped", u24, u7,
         p95, (long long)c->runs_total, (long long)c->skipped_total);
    int gh = h >= 30 ? 10 : h >= 20 ? 6 : 3;
    draw_graph(d, c, y0 + 3, gh, w);
    int y = y0 + 3 + gh + 4;
    if (d->hist_loading && d->hist.nrows == 0) {
        put(y0 + 3, 10, w - 10, "loading...");
    }
    /* Recent results (raw rows, newest first) and state changes side by side
     * when there is room, else one under the other. */
    int half = w >= 110 ? w / 2 : w;
    attron(A_BOLD);
    put(y, 0, half, "recent results");
    attroff(A_BOLD);
    int ry = y + 1;
    bool raw = d->hist.granularity != NULL && strcmp(d->hist.granularity, "raw") == 0;
    for (size_t i = 0; raw && i < d->hist.nrows && ry < y0 + h; i++, ry++) {
        const struct ipc_history_row *hr = &d->hist.rows[i];
        char when[32], took[16];
        out_time(hr->ts_ms, when, sizeof(when));
        out_span_us(hr->latency_max_us, took, sizeof(took));
        style_on(d, state_color(hr->outcome), 0);
        putf(ry, 0, 5, "%s", state_word(hr->outcome));
        style_off(d, state_color(hr->outcome), 0);
        putf(ry, 5, half - 6, "%s %7s %s", when + 11, took,
             hr->failed_condition ? hr->failed_condition : hr->error ? hr->error : "");
    }
    if (!raw) {
        put(ry, 0, half, "(rollups for this range; 1h shows every result)");
    }
    int sx = half < w ? half : 0;
    int sy = half < w ? y : ry + 1;
    attron(A_BOLD);
    put(sy, sx, w - sx, "state changes");
    attroff(A_BOLD);
    for (size_t i = 0; i < d->detail_states.nevents && sy + 1 + (int)i < y0 + h; i++) {
        const struct ipc_event *e = &d->detail_states.events[i];
        char when[32];
        out_time(e->ts_ms, when, sizeof(when));
        putf(sy + 1 + (int)i, sx, w - sx, "%s %s", when, e->message ? e->message : "");
    }
}

static void draw_help(struct dash *d, int h, int w)
{
    static const char *const lines[] = {
        "Keys",
        "",
        "  1-4, Tab      views: overview, deploys, alerts, events",
        "  Enter         open the selected check",
        "  Esc           back; close this help; cancel a filter",
        "  j k, arrows   move          PgUp PgDn Home End",
        "  /             filter rows (Enter applies, Esc clears)",
        "  s             sort: app, name, state, latency",
        "  a  s  u       alerts: acknowledge, silence, unsilence",
        "  r             run the selected check now",
        "  p             pause or resume the selected check",
        "  g             graph range in the check view: 1h, 24h, 7d",
        "  space         pause the events tail",
        "  mouse         click selects, double click opens",
        "  ?             this help      q  quit",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    int bw = 64 < w - 2 ? 64 : w - 2;
    int bh = n + 2 < h - 2 ? n + 2 : h - 2;
    int y0 = (h - bh) / 2, x0 = (w - bw) / 2;
    for (int y = 0; y < bh; y++) {
        move(y0 + y, x0);
        for (int x = 0; x < bw; x++) {
            bool edge = y == 0 || y == bh - 1 || x == 0 || x == bw - 1;
            addch(edge ? (y == 0 || y == bh - 1 ? (x == 0 || x == bw - 1 ? '+' : '-') : '|')
                       : ' ');
        }
    }
    for (int i = 0; i < n && i < bh - 2; i++) {
        if (i == 0) {
            attron(A_BOLD);
        }
        put(y0 + 1 + i, x0 + 2, bw - 4, lines[i]);
        if (i == 0) {
            attroff(A_BOLD);
        }
    }
}

/* The question of the status line and the answer typed so far. */
static void draw_prompt(struct dash *d, int y, int w)
{
    char q[300];
    if (d->prompt == P_ACK) {
        snprintf(q, sizeof(q), "acknowledge alert %lld, comment (optional): ",
                 (long long)d->prompt_alert);
    } else {
        snprintf(q, sizeof(q), "silence %s%s%s for: ",
                 d->prompt_check != NULL ? d->prompt_check : d->prompt_app ? d->prompt_app : "-",
                 d->prompt_check != NULL ? "" : "/",
                 d->prompt_check != NULL ? "" : d->prompt_env ? d->prompt_env : "-");
    }
    putf(y, 1, w - 2, "%s%s_   Enter sends, Esc cancels", q, d->input);
}

static void draw(struct dash *d)
{
    int h, w;
    getmaxyx(stdscr, h, w);
    erase();
    if (h < 8 || w < 40) {
        put(0, 0, w, "terminal too small");
        refresh();
        return;
    }
    draw_header(d, w);
    int y0 = 2;
    if (d->link.state != LINK_UP) {
        draw_banner(d, 2, w);
        y0 = 3;
    }
    int body = h - y0 - 1;
    switch (d->view) {
    case V_OVERVIEW: draw_overview(d, y0, body, w); break;
    case V_DEPLOYS: draw_deploys(d, y0, body, w); break;
    case V_ALERTS: draw_alerts(d, y0, body, w); break;
    case V_EVENTS: draw_events(d, y0, body, w); break;
    case V_DETAIL: draw_detail(d, y0, body, w); break;
    case V_COUNT: break;
    }
    attron(A_REVERSE);
    move(h - 1, 0);
    for (int x = 0; x < w; x++) {
        addch(' ');
    }
    const char *hint = d->view == V_ALERTS
                           ? "? help  q quit  / filter  a ack  s silence  u unsilence  Enter open"
                           : "? help  q quit  / filter  s sort  Enter open  r run  p pause";
    if (d->prompt != P_NONE) {
        draw_prompt(d, h - 1, w);
    } else if (d->msg[0] != '\0') {
        put(h - 1, 1, w - 2, d->msg);
    } else {
        put(h - 1, 1, w - 2, hint);
    }
    char sorted[32];
    snprintf(sorted, sizeof(sorted), "sort: %s", sort_names[d->sort]);
    if (w > 60 && d->view == V_OVERVIEW) {
        put(h - 1, w - (int)strlen(sorted) - 1, (int)strlen(sorted), sorted);
    }
    attroff(A_REVERSE);
    if (d->help) {
        draw_help(d, h, w);
    }
    refresh();
}

static void on_redraw(uv_timer_t *t)
{
    struct dash *d = t->data;
    if (d->dirty && !d->quitting) {
        d->dirty = false;
        draw(d);
    }
}

static void on_tick(uv_timer_t *t)
{
    mark(t->data);      /* ages and uptimes move */
}

static void on_alerts_timer(uv_timer_t *t)
{
    fetch_alerts(t->data);
}

static void on_stats_timer(uv_timer_t *t)
{
    struct dash *d = t->data;
    if (d->link.state == LINK_UP) {
        fetch_stats(d);
    }
}

/* --- input --- */

static int selected_check(const struct dash *d)
{
    if (d->view == V_DETAIL) {
        return find_check(d, d->detail);
    }
    if (d->view == V_OVERVIEW && d->sel >= 0 && d->sel < d->nlist && d->list[d->sel] >= 0) {
        return d->list[d->sel];
    }
    if (d->view == V_EVENTS && d->sel >= 0 && d->sel < d->nlist) {
        return find_check(d, ev_at(d, (size_t)d->list[d->sel])->check);
    }
    if (d->view == V_ALERTS) {
        const struct ipc_alert *a = alert_on_line(d, d->sel);
        return a != NULL ? find_check(d, a->check) : -1;
    }
    return -1;
}

static void on_run(struct link *l, int err, enum ipc_errcode code, const char *msg, void *result,
                   void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "run: %s", msg);
        return;
    }
    struct ipc_run *r = result;
    char took[16];
    out_span_us(r->duration_us, took, sizeof(took));
    status_msg(d, "%s: %s in %s%s%s", r->check, r->outcome ? r->outcome : "?", took,
               r->failed_condition || r->error ? ": " : "",
               r->failed_condition ? r->failed_condition : r->error ? r->error : "");
    if (d->detail != NULL && strcmp(d->detail, r->check) == 0) {
        fetch_detail(d);
    }
}

static void on_paused(struct link *l, int err, enum ipc_errcode code, const char *msg,
                      void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        status_msg(d, "%s", msg);
        return;
    }
    struct ipc_paused *p = result;
    int k = find_check(d, p->check);
    if (k >= 0) {
        d->checks.checks[k].paused = p->paused;
    }
    status_msg(d, "%s %s", p->check, p->paused ? "paused" : "resumed");
}

/* --- alert actions --- */

static const struct ipc_alert *selected_alert(const struct dash *d)
{
    return d->view == V_ALERTS ? alert_on_line(d, d->sel) : NULL;
}

/* Report a failed action on the status line; a denial in plain words. */
static void action_failed(struct dash *d, int err, enum ipc_errcode code, const char *what,
                          const char *msg)
{
    if (err > 0 && code == IPC_E_DENIED) {
        status_msg(d, "permission denied: %s needs an admin", what);
    } else {
        status_msg(d, "%s: %s", what, msg != NULL ? msg : "failed");
    }
}

static void on_acked(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        action_failed(d, err, code, "acknowledging", msg);
        return;
    }
    const struct ipc_alert *a = result;
    status_msg(d, "alert %lld acknowledged by %s", (long long)a->id, a->ack_by ? a->ack_by : "?");
    fetch_alerts(d);
}

static void on_silenced(struct link *l, int err, enum ipc_errcode code, const char *msg,
                        void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        action_failed(d, err, code, "silencing", msg);
        return;
    }
    const struct ipc_mute *m = result;
    char until[32];
    status_msg(d, "silence %lld until %s", (long long)m->id,
               out_time(m->ends_ms, until, sizeof(until)));
    fetch_alerts(d);
}

static void on_unsilenced(struct link *l, int err, enum ipc_errcode code, const char *msg,
                          void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        action_failed(d, err, code, "unsilencing", msg);
        return;
    }
    const struct ipc_mute *m = result;
    status_msg(d, "silence %lld removed", (long long)m->id);
    fetch_alerts(d);
}

static void prompt_close(struct dash *d)
{
    d->prompt = P_NONE;
    d->input[0] = '\0';
    free(d->prompt_check);
    free(d->prompt_app);
    free(d->prompt_env);
    d->prompt_check = d->prompt_app = d->prompt_env = NULL;
    mark(d);
}

/* Ask on the status line about the selected alert. */
static void prompt_open(struct dash *d, enum prompt p)
{
    const struct ipc_alert *a = selected_alert(d);
    if (a == NULL) {
        status_msg(d, "no alert selected");
        return;
    }
    prompt_close(d);
    d->prompt = p;
    d->prompt_alert = a->id;
    d->prompt_check = dup_or_null(a->check);
    d->prompt_app = dup_or_null(a->app);
    d->prompt_env = dup_or_null(a->env);
    if (p == P_SILENCE) {
        snprintf(d->input, sizeof(d->input), "%s", SILENCE_DEFAULT);
    }
    mark(d);
}

/* Enter on a prompt: send what it asked for. */
static void prompt_send(struct dash *d)
{
    if (d->prompt == P_ACK) {
        struct ipc_ack_params p = {.id = d->prompt_alert,
                                   .comment = d->input[0] != '\0' ? d->input : NULL};
        status_msg(d, "acknowledging alert %lld...", (long long)d->prompt_alert);
        link_call(&d->link, IPC_M_ALERTS_ACK, &p, on_acked, d);
    } else if (d->prompt == P_SILENCE) {
        int64_t ms = 0;
        if (duration_parse(d->input, &ms) < 0 || ms <= 0) {
            status_msg(d, "not a duration: '%s' (like 30m, 2h, 1d)", d->input);
            prompt_close(d);
            return;
        }
        char comment[64];
        snprintf(comment, sizeof(comment), "from the dashboard, alert %lld",
                 (long long)d->prompt_alert);
        /* The check; a deploy's alert has none: its app and env. */
        struct ipc_mute_params p = {
            .check = d->prompt_check,
            .app = d->prompt_check == NULL ? d->prompt_app : NULL,
            .env = d->prompt_check == NULL ? d->prompt_env : NULL,
            .duration_ms = ms,
            .comment = comment,
        };
        status_msg(d, "silencing...");
        link_call(&d->link, IPC_M_ALERTS_SILENCE, &p, on_silenced, d);
    }
    prompt_close(d);
}

/* A key while the status line asks. */
static void key_prompt(struct dash *d, int ch)
{
    size_t n = strlen(d->input);
    if (ch == 27) {
        prompt_close(d);
        status_msg(d, "cancelled");
    } else if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
        prompt_send(d);
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
    mark(d);
}

/* u: end the silence that mutes the selected alert. */
static void unsilence_selected(struct dash *d)
{
    const struct ipc_alert *a = selected_alert(d);
    if (a == NULL) {
        status_msg(d, "no alert selected");
        return;
    }
    char *end = NULL;
    long long id = 0;
    if (a->muted_by != NULL && strncmp(a->muted_by, "silence ", 8) == 0) {
        id = strtoll(a->muted_by + 8, &end, 10);
    }
    if (id < 1 || end == NULL || *end != '\0') {
        status_msg(d, a->muted_by != NULL ? "alert %lld is muted by %s, not by a silence"
                                          : "alert %lld is not silenced%s",
                   (long long)a->id, a->muted_by != NULL ? a->muted_by : "");
        return;
    }
    struct ipc_id_ref ref = {.id = id};
    status_msg(d, "removing silence %lld...", id);
    link_call(&d->link, IPC_M_ALERTS_UNSILENCE, &ref, on_unsilenced, d);
}

static void switch_view(struct dash *d, enum view v)
{
    if (d->view != v) {
        d->view = v;
        d->sel = v == V_EVENTS ? 1 << 30 : 0;
        d->top = 0;
    }
    mark(d);
}

static void move_sel(struct dash *d, int by)
{
    d->sel += by;
    if (d->sel < 0) {
        d->sel = 0;
    }
    /* Skip group headers in the direction of travel. */
    if (d->view == V_OVERVIEW && d->list != NULL) {
        while (d->sel > 0 && d->sel < d->nlist && d->list[d->sel] < 0 && by < 0) {
            d->sel--;
        }
        while (d->sel < d->nlist - 1 && d->list[d->sel] < 0 && by > 0) {
            d->sel++;
        }
    }
    mark(d);
}

static void quit(struct dash *d)
{
    d->quitting = true;
    uv_stop(d->loop);
}

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
    d->sel = 0;
    d->top = 0;
    mark(d);
}

static void key(struct dash *d, int ch)
{
    int h = LINES, page = h > 6 ? h - 6 : 1;
    if (d->editing) {
        key_filter(d, ch);
        return;
    }
    if (d->prompt != P_NONE) {
        key_prompt(d, ch);
        return;
    }
    if (d->help) {
        d->help = false;
        mark(d);
        if (ch == '?' || ch == 27 || ch == 'q') {
            return;
        }
    }
    d->msg[0] = '\0';
    int k;
    switch (ch) {
    case 'q':
        quit(d);
        return;
    case '?':
        d->help = true;
        break;
    case '1': case '2': case '3': case '4':
        switch_view(d, (enum view)(ch - '1'));
        break;
    case '5':
        if (d->detail != NULL) {
            d->view = V_DETAIL;
        }
        break;
    case '\t':
        switch_view(d, (enum view)(((d->view == V_DETAIL ? d->back : d->view) + 1) % V_DETAIL));
        break;
    case KEY_BTAB:
        switch_view(d, (enum view)(((d->view == V_DETAIL ? d->back : d->view) + V_DETAIL - 1) %
                                   V_DETAIL));
        break;
    case 'j': case KEY_DOWN: move_sel(d, 1); break;
    case 'k': case KEY_UP: move_sel(d, -1); break;
    case KEY_NPAGE: move_sel(d, page); break;
    case KEY_PPAGE: move_sel(d, -page); break;
    case KEY_HOME: case 'g' - 'a' + 1: d->sel = 0; d->top = 0; break;
    case KEY_END: case 'G': d->sel = 1 << 30; break;
    case 'h': case KEY_LEFT:
        if (d->view == V_DETAIL) {
            switch_view(d, d->back);
        }
        break;
    case '\n': case '\r': case KEY_ENTER: case 'l': case KEY_RIGHT:
        if ((k = selected_check(d)) >= 0 && d->view != V_DETAIL) {
            open_detail(d, k);
        }
        break;
    case 27:
        if (d->view == V_DETAIL) {
            switch_view(d, d->back);
        } else if (d->filter[0] != '\0') {
            d->filter[0] = '\0';
        }
        break;
    case '/':
        d->editing = true;
        break;
    case 's':
        if (d->view == V_ALERTS) {
            prompt_open(d, P_SILENCE);
        } else {
            d->sort = (enum sort)((d->sort + 1) % S_COUNT);
        }
        break;
    case 'a':
        if (d->view == V_ALERTS) {
            prompt_open(d, P_ACK);
        }
        break;
    case 'u':
        if (d->view == V_ALERTS) {
            unsilence_selected(d);
        }
        break;
    case 'g':
        if (d->view == V_DETAIL) {
            d->range = (d->range + 1) % 3;
            fetch_detail(d);
        }
        break;
    case ' ':
        if (d->view == V_EVENTS) {
            d->events_paused = !d->events_paused;
            d->events_missed = 0;
        }
        break;
    case 'r':
        if ((k = selected_check(d)) >= 0) {
            struct ipc_check_ref ref = {.check = d->checks.checks[k].name};
            status_msg(d, "running %s...", ref.check);
            link_call(&d->link, IPC_M_CHECKS_RUN, &ref, on_run, d);
        }
        break;
    case 'p':
        if ((k = selected_check(d)) >= 0) {
            struct ipc_check_ref ref = {.check = d->checks.checks[k].name};
            link_call(&d->link,
                      d->checks.checks[k].paused ? IPC_M_CHECKS_RESUME : IPC_M_CHECKS_PAUSE,
                      &ref, on_paused, d);
        }
        break;
    case KEY_MOUSE: {
        MEVENT ev;
        if (getmouse(&ev) == OK) {
            int y0 = d->link.state == LINK_UP ? 3 : 4;     /* first list line */
            int line = d->top + ev.y - y0;
            if (ev.y == 1) {
                /* The tabs: " 1 Overview " and so on. */
                int x = 0;
                for (int v = 0; v < V_DETAIL; v++) {
                    int len = (int)strlen(view_names[v]) + 4;
                    if (ev.x >= x && ev.x < x + len) {
                        switch_view(d, (enum view)v);
                    }
                    x += len + 1;
                }
            } else if (line >= 0 && line < d->nlist && d->view != V_DETAIL) {
                d->sel = line;
                if ((ev.bstate & BUTTON1_DOUBLE_CLICKED) && (k = selected_check(d)) >= 0) {
                    open_detail(d, k);
                }
            }
        }
        break;
    }
    case KEY_RESIZE:
        break;
    default:
        return;
    }
    mark(d);
}

static void on_tty(uv_poll_t *p, int status, int events)
{
    struct dash *d = p->data;
    if (status < 0 || (events & UV_DISCONNECT)) {
        quit(d);
        return;
    }
    int ch;
    while ((ch = getch()) != ERR) {
        key(d, ch);
        if (d->quitting) {
            return;
        }
    }
    /* The terminal went away (a read error, not "no input"): stop. */
    if (isatty(STDIN_FILENO) == 0) {
        quit(d);
    }
    on_redraw(&d->redraw);  /* typing answers at once */
}

static void on_winch(uv_signal_t *s, int sig)
{
    struct dash *d = s->data;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        resizeterm(ws.ws_row, ws.ws_col);
    }
    clearok(curscr, TRUE);
    d->dirty = true;
    on_redraw(&d->redraw);
}

static void on_quit_signal(uv_signal_t *s, int sig)
{
    struct dash *d = s->data;
    d->exit_code = sig == SIGINT ? 0 : 128 + sig;
    quit(d);
}

/* --- start and end --- */

static void restore_terminal(void)
{
    if (the_dash != NULL && !isendwin()) {
        endwin();
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static void init_colors(struct dash *d)
{
    const char *nc = getenv("NO_COLOR");
    d->color = has_colors() && (nc == NULL || nc[0] == '\0');
    if (!d->color) {
        return;
    }
    start_color();
    use_default_colors();
    init_pair(C_UP, COLOR_GREEN, -1);
    init_pair(C_DOWN, COLOR_RED, -1);
    init_pair(C_DEGRADED, COLOR_YELLOW, -1);
    init_pair(C_UNKNOWN, COLOR_MAGENTA, -1);
    init_pair(C_BANNER, COLOR_RED, -1);
    init_pair(C_DIM, COLOR_CYAN, -1);
    init_pair(C_TITLE, COLOR_CYAN, -1);
}

int dash_run(const char *socket)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "shipwatch: the dashboard needs a terminal; see shipwatch --help for "
                        "the scripting commands\n");
        return 2;
    }
    struct dash *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return 1;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        free(d);
        return 1;
    }
    d->loop = &loop;
    the_dash = d;
    const char *cs = nl_langinfo(CODESET);
    d->utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;

    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (scr == NULL) {
        fprintf(stderr, "shipwatch: cannot use the terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        uv_loop_close(&loop);
        free(d);
        return 1;
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
    init_colors(d);

    uv_poll_init(&loop, &d->tty, STDIN_FILENO);
    d->tty.data = d;
    uv_poll_start(&d->tty, UV_READABLE | UV_DISCONNECT, on_tty);
    uv_signal_init(&loop, &d->sig_winch);
    d->sig_winch.data = d;
    uv_signal_start(&d->sig_winch, on_winch, SIGWINCH);
    uv_signal_t *quits[] = {&d->sig_term, &d->sig_hup, &d->sig_int};
    int signums[] = {SIGTERM, SIGHUP, SIGINT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&loop, quits[i]);
        quits[i]->data = d;
        uv_signal_start(quits[i], on_quit_signal, signums[i]);
    }
    uv_timer_init(&loop, &d->redraw);
    d->redraw.data = d;
    uv_timer_start(&d->redraw, on_redraw, 0, REDRAW_MS);
    uv_timer_init(&loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_init(&loop, &d->stats_timer);
    d->stats_timer.data = d;
    uv_timer_start(&d->stats_timer, on_stats_timer, STATS_EVERY_MS, STATS_EVERY_MS);
    uv_timer_init(&loop, &d->alerts_timer);
    d->alerts_timer.data = d;
    uv_timer_start(&d->alerts_timer, on_alerts_timer, ALERTS_EVERY_MS, ALERTS_EVERY_MS);

    struct link_ops ops = {.state = on_link_state, .notice = on_notice};
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
    for (size_t i = 0; d->rows != NULL && i < d->checks.nchecks; i++) {
        ipc_type_free(&ipc_check_stats_type, &d->rows[i].st);
    }
    free(d->rows);
    ipc_type_free(&ipc_checks_type, &d->checks);
    ipc_type_free(&ipc_deploys_type, &d->deploys);
    ipc_type_free(&ipc_alerts_type, &d->alerts);
    prompt_close(d);
    ipc_type_free(&ipc_history_type, &d->hist);
    ipc_type_free(&ipc_events_type, &d->detail_states);
    for (size_t i = 0; i < EVENTS_MAX; i++) {
        ev_clear(&d->events[i]);
    }
    free(d->detail);
    free(d->list);
    free(d);
    return rc;
}
