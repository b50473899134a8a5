/* panel.h - the dashboard's views as panels, and the state they draw from.
 *
 * Contract. The screen manager (dash.c) owns one struct dash: the link to
 * the daemon, the data kept current from it (checks, deploys, alerts,
 * events) and the screen state (the current panel, the filter, the status
 * line). A view is one panel class, a const struct in its own
 * panel_<view>.c; the manager draws the current panel into the body of
 * the screen and hands it every action first. A panel reads struct dash
 * freely but changes only its own struct panel (selection, scroll, rows)
 * and what its actions are about; anything it keeps past a call (a check's
 * name) it copies. Nothing here blocks: a panel that needs the daemon
 * calls link_call and redraws from the callback.
 *
 * Adding a view: a panel_<view>.c with one `const struct panel_class`,
 * its row in panel_classes[] (dash.c), and, if it has keys of its own,
 * rows scoped to its name in keys.c. */
#ifndef SHIPWATCH_PANEL_H
#define SHIPWATCH_PANEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_proto.h"
#include "keys.h"
#include "link.h"
#include "strmap.h"
#include "theme.h"

#define SPARK_N 32
#define EVENTS_MAX 1000
#define FILTER_MAX 64
#define MSG_MAX 256
#define INPUT_MAX 200            /* a prompt's answer */

/* What an action did, as bits for the screen manager (htop's
 * HandlerResult): 0 is "not mine", the manager then tries its own. */
enum panel_result {
    PANEL_IGNORED = 0,
    PANEL_HANDLED = 1 << 0,     /* the action was this panel's */
    PANEL_REDRAW = 1 << 1,      /* draw again */
    PANEL_BACK = 1 << 2,        /* return to the panel we came from */
    PANEL_QUIT = 1 << 3,        /* end the dashboard */
    PANEL_RESIZE = 1 << 4,      /* recompute the geometry from LINES/COLS */
};

/* The part of the screen a panel draws in. */
struct rect {
    int y, x, h, w;
};

struct dash;
struct panel;

/* A view: a const struct in its own file (htop's PanelClass). */
struct panel_class {
    const char *name;           /* the tab title, "Overview"; also the key scope */
    const char *command;        /* its `:` command, "overview" */
    bool tab;                   /* listed among the numbered tabs */
    bool tail;                  /* opens on its last row (a live tail) */
    bool sorted;                /* follows d->sort: the status line says it */
    const struct panel_class *parent;   /* a detail's list: its tab, where Esc
                                           goes back to; NULL none */
    const char *hint;           /* the status line's key hint; NULL: from the key table */
    /* Draw into r; rebuilds p->rows and keeps p->sel on a selectable row. */
    void (*draw)(struct dash *d, struct panel *p, const struct rect *r);
    /* One action (with the `:` command's argument or NULL); PANEL_IGNORED
     * when it is not this panel's. May be NULL. */
    int (*on_action)(struct dash *d, struct panel *p, enum action a, const char *arg);
    /* The check the selection is about, an index into d->checks, or -1.
     * May be NULL: never a check. */
    int (*selected_check)(const struct dash *d, const struct panel *p);
    /* Whether row i may hold the selection; NULL: every row. */
    bool (*selectable)(const struct dash *d, const struct panel *p, int i);
};

/* A panel on screen: its class and its table. */
struct panel {
    const struct panel_class *cls;
    int sel;                    /* selected row */
    int top;                    /* first row shown */
    int *rows;                  /* what each row shows, the panel's own indexes */
    int nrows;
    unsigned built;             /* the overview: dash.order_gen its rows were
                                   built at */
};

/* What the dashboard knows of a check beyond ipc_check. */
struct row {
    uint32_t spark[SPARK_N];    /* recent latencies, microseconds, a ring */
    unsigned nspark, spark_at;
    bool spark_fail[SPARK_N];
    struct ipc_check_stats st;
    bool has_stats;
    int group;                  /* the first check (index) of its app and env */
};

/* One line of the events view. */
struct evline {
    int64_t id;
    int64_t ts_ms;
    char *type, *check, *app, *text;
};

enum sort {
    S_PROBLEMS,                 /* grouped, the worst groups and checks first */
    S_CONFIG,                   /* grouped by app, as configured */
    S_NAME,
    S_STATE,                    /* worst first */
    S_LATENCY,                  /* slowest first */
    S_COUNT
};

extern const char *const sort_names[S_COUNT];

/* One check's results in a deploy's verify window. */
struct window_check {
    char *check;
    int64_t runs, failures;
    int64_t first_failure_ms;   /* 0: none */
    char *problem;              /* the newest failure's condition or error */
    bool loaded;                /* its checks.history answered */
};

/* What the deploy view shows beside the deploy in d->deploys. */
struct deploy_view {
    int64_t id;                 /* the deploy on screen */
    unsigned gen;               /* bumped by every fetch: older answers are dropped */
    int64_t from_ms, to_ms;     /* the window asked */
    struct window_check *checks;    /* its app-env's checks */
    size_t nchecks;
};

/* What the alert view shows: the alert as stored, and its history. */
struct alert_view {
    int64_t id;                 /* the alert on screen */
    unsigned gen;
    struct ipc_alerts found;    /* the alerts.list page that holds it */
    struct ipc_events history;  /* its app's or check's alert events */
};

/* A question on the status line: its text and what Enter does. */
struct prompt_class {
    void (*question)(const struct dash *d, char *buf, size_t len);
    void (*send)(struct dash *d);
    const char *hint;           /* after the answer, or NULL */
    /* A key before line editing (a y/N answer, Tab for a choice): true
     * when it took it. May be NULL. */
    bool (*key)(struct dash *d, int ch);
};

/* The panels, in the order of their tabs. */
enum panel_id {
    PANEL_OVERVIEW,
    PANEL_DEPLOYS,
    PANEL_ALERTS,
    PANEL_EVENTS,
    PANEL_HOST,
    PANEL_CHECK,
    PANEL_DEPLOY,
    PANEL_ALERT,
    PANEL_COUNT
};

extern const struct panel_class panel_overview;
extern const struct panel_class panel_deploys;
extern const struct panel_class panel_alerts;
extern const struct panel_class panel_events;
extern const struct panel_class panel_host;
extern const struct panel_class panel_check;
extern const struct panel_class panel_deploy;
extern const struct panel_class panel_alert;
extern const struct panel_class panel_help;     /* drawn over the others */

struct dash {
    uv_loop_t *loop;
    struct link link;
    bool dirty;
    bool quitting;
    int exit_code;
    char fatal[512];
    bool utf8;

    struct panel panels[PANEL_COUNT];
    struct panel *cur;          /* on screen */
    struct panel *back;         /* where Esc from the check view goes */
    enum sort sort;
    bool help;                  /* the help is over the panel */
    struct panel help_panel;
    bool editing;               /* typing a filter */
    char filter[FILTER_MAX];
    bool events_paused;
    unsigned events_missed;
    char msg[MSG_MAX];          /* the status line */
    const struct prompt_class *prompt;  /* NULL, or what the status line asks */
    char input[INPUT_MAX];      /* the answer typed so far */
    int64_t prompt_alert;       /* the alert it is about */
    char *prompt_check, *prompt_app, *prompt_env;  /* that alert's, for a silence */
    bool prompt_app_env;        /* a silence of the alert's app/env, not its check */

    /* data */
    struct ipc_checks checks;   /* configuration order */
    struct row *rows;           /* parallel to checks */
    struct strmap check_index;  /* a check's name -> its index in checks */
    unsigned order_gen;         /* bumped by whatever may change the overview's
                                   rows: the set of checks, a state, a key, a
                                   deploy (with 100,000 checks, building them
                                   is most of a frame) */
    int counts[4];              /* checks up, down, degraded, unknown ... */
    unsigned counts_gen;        /* ... as of this order_gen */
    struct ipc_checks loading;  /* the pages of checks.list so far */
    bool checks_loading;        /* a checks.list in flight */
    bool checks_again;          /* and a reload or pause since it went out */
    bool stats_loading;         /* a checks.stats (of its pages) in flight */
    bool stats_again;           /* and another asked for since */
    struct ipc_deploys deploys;
    struct evline events[EVENTS_MAX];   /* a ring, oldest at ev_head */
    size_t ev_head, nev;
    int64_t last_event_id;
    int64_t daemon_started_ms;
    struct ipc_alerts alerts;   /* the open ones, newest first */
    bool alerts_loaded;         /* alerts.list answered once */
    bool store_degraded;        /* status.get: the daemon's store writes wait */
    bool alerts_missing;        /* the daemon has no alerts.list */
    bool alerts_loading;        /* a call in flight */
    bool alerts_again;          /* and an alert event since it went out */

    /* the check view */
    char *detail;               /* its check's name */
    int range;                  /* 0: 1h, 1: 24h, 2: 7d */
    struct ipc_history hist;
    struct ipc_events detail_states;
    bool hist_loading;

    /* the host view */
    struct ipc_host host;       /* the last sample; has_host: one came */
    bool has_host;
    bool host_subscribed;       /* the host topic is asked for on this link */
    bool host_missing;          /* the daemon has no host topic */
    int64_t host_at_ms;         /* when the last sample arrived */
    char *host_node;            /* the node whose host is shown; NULL the
                                   daemon's own */
    char *host_sub_node;        /* the node the link's subscription names */
    char *self_node;            /* the daemon's node name (status.get); NULL
                                   outside a cluster */

    struct deploy_view dv;      /* the deploy view */
    struct alert_view av;       /* the alert view */
};

/* --- the screen manager's services (dash.c) --- */

/* Draw again soon. */
void dash_mark(struct dash *d);
/* Put a message on the status line. */
void dash_status(struct dash *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make p's class the panel on screen, its selection reset. */
void dash_switch(struct dash *d, enum panel_id id);
/* Ask the open alerts again (one call in flight at a time). */
void dash_fetch_alerts(struct dash *d);
/* Ask on the status line; the answer starts as initial (may be NULL). */
void dash_prompt(struct dash *d, const struct prompt_class *pc, const char *initial);
/* Close the status line's question and free what it held. */
void dash_prompt_close(struct dash *d);

/* --- helpers the panels share (panel.c) --- */

/* Print s at (y, x), at most w columns, control characters as '?'. */
void panel_put(int y, int x, int w, const char *s);
/* The columns panel_put(s) takes, whole. */
int panel_width(const char *s);
/* s over at most lines rows from (y, x), w columns each, broken at
 * spaces; the rows it took. */
int panel_wrap(int y, int x, int w, int lines, const char *s);
/* panel_put of a formatted string. */
void panel_putf(int y, int x, int w, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Fill row y with spaces across w columns (a selected row's bar). */
void panel_fill(int y, int w);
/* Whether one of the n fields holds the filter, ignoring case (any field
 * may be NULL): `/down` finds a check by its state, `/TCP` by its type. */
bool panel_matches_any(const struct dash *d, const char *const *fields, size_t n);
/* panel_matches(d, name, app, ...): panel_matches_any over its arguments. */
#define panel_matches(d, ...)                                                                  \
    panel_matches_any((d), (const char *const[]){__VA_ARGS__},                                 \
                      sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
/* The index of the check called name in d->checks, or -1. */
int panel_find_check(const struct dash *d, const char *name);
/* The newest deploy of app/env (env NULL: any), or NULL. */
const struct ipc_deploy *panel_last_deploy(const struct dash *d, const char *app,
                                           const char *env);
/* Event i of the ring, oldest first. */
const struct evline *panel_event_at(const struct dash *d, size_t i);
/* The word for a state: it reads without colour. */
const char *panel_state_word(const char *state);
/* The word for a deploy's verdict and its role: FAILED reads without colour. */
const char *panel_verdict_word(const char *verdict, enum role *role);
/* On row y, what a table hides: rows below (with a note on them, or
 * NULL) and above. Nothing when nothing is hidden. */
void panel_more(const struct dash *d, int y, int w, int above, int below, const char *note);
/* A duration in microseconds, "-" when none. */
void panel_span_us(int64_t us, char *buf, size_t len);
/* An uptime in parts per million as a percentage, "-" when none. */
void panel_uptime(int64_t ppm, bool has, char *buf, size_t len);
/* out_ago without its " ago". */
void panel_age(int64_t ms, int64_t now_ms, char *buf, size_t len);
/* Whether a and b are the same string (both NULL included). */
bool panel_same_str(const char *a, const char *b);
/* Make room for n rows in p->rows; false when out of memory (no rows). */
bool panel_rows_alloc(struct panel *p, size_t n);
/* Keep the selection on a selectable row, scrolled into view in h rows. */
void panel_fix_selection(const struct dash *d, struct panel *p, int h);
/* Move a decoded result (size bytes) from src, which the link frees
 * after the callback, to dst; src is left empty. */
void panel_take(void *dst, void *src, size_t size);
/* A detail's line: a dim label, then text wrapped over at most lines
 * rows; the rows it took. */
int panel_field(int y, int w, int lines, const char *label, const char *text);
/* A call's argument for an answer that a newer fetch makes stale: the
 * fetch counter *gen_now as it is now. Owned by the callback, which
 * gives it to panel_ask_done: the dashboard while the counter has not
 * moved, else NULL. NULL when out of memory. */
struct panel_ask;
struct panel_ask *panel_ask_new(struct dash *d, const unsigned *gen_now);
struct dash *panel_ask_done(struct panel_ask *ask);
/* strdup that passes NULL through. */
char *panel_strdup(const char *s);

/* --- what panels export to the manager --- */

/* The check view of check k; opened from the panel on screen. */
void panel_check_open(struct dash *d, int k);
/* Ask the check view's history and state changes again. */
void panel_check_fetch(struct dash *d);

/* The host view shows node's host from now on (NULL: the daemon's own);
 * the sample on screen is dropped until one of it comes. */
void panel_host_show(struct dash *d, const char *node);
/* The alert on row i of the alerts panel, or NULL. */
const struct ipc_alert *panel_alerts_at(const struct dash *d, int i);
/* Rebuild the alerts panel's rows; its selection follows the alert with
 * id sel_id when it is still listed. */
void panel_alerts_refresh(struct dash *d, int64_t sel_id);
/* The deploy view of deploy dp (in d->deploys). */
void panel_deploy_open(struct dash *d, const struct ipc_deploy *dp);
/* Ask the deploy view's window results again. */
void panel_deploy_fetch(struct dash *d);
/* The alert view of alert a. */
void panel_alert_open(struct dash *d, const struct ipc_alert *a);
/* Ask the alert view's alert and history again. */
void panel_alert_fetch(struct dash *d);
/* Free what the deploy view holds. */
void panel_deploy_finish(struct dash *d);
/* Free what the alert view holds. */
void panel_alert_finish(struct dash *d);

#endif
