/* panel_alerts.c - the open alerts, newest first, and what an operator
 * does to one: acknowledge, silence, unsilence. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "out.h"
#include "panel.h"
#include "theme.h"

/* The alert on row i, or NULL. */
const struct ipc_alert *panel_alerts_at(const struct dash *d, int i)
{
    const struct panel *p = &d->panels[PANEL_ALERTS];
    if (p->rows == NULL || i < 0 || i >= p->nrows || p->rows[i] < 0 ||
        (size_t)p->rows[i] >= d->alerts.nalerts) {
        return NULL;
    }
    return &d->alerts.alerts[p->rows[i]];
}

/* The rows: indexes of the alerts the filter lets through. */
static void build_rows(const struct dash *d, struct panel *p)
{
    if (!panel_rows_alloc(p, d->alerts.nalerts)) {
        return;
    }
    for (size_t i = 0; i < d->alerts.nalerts; i++) {
        const struct ipc_alert *a = &d->alerts.alerts[i];
        if (panel_matches(d, a->check != NULL ? a->check : a->app, a->summary, a->kind,
                          a->status, a->severity)) {
            p->rows[p->nrows++] = (int)i;
        }
    }
}

/* New rows; the selection stays on the alert sel_id when it is listed. */
void panel_alerts_refresh(struct dash *d, int64_t sel_id)
{
    struct panel *p = &d->panels[PANEL_ALERTS];
    build_rows(d, p);
    for (int i = 0; sel_id != 0 && i < p->nrows; i++) {
        if (d->alerts.alerts[p->rows[i]].id == sel_id) {
            p->sel = i;
            break;
        }
    }
}

/* The word for an alert's status: it reads without colour. */
static const char *alert_word(const char *status, enum role *role)
{
    if (status != NULL && strcmp(status, "firing") == 0) {
        *role = ROLE_DOWN;
        return "FIRING";
    }
    if (status != NULL && strcmp(status, "acknowledged") == 0) {
        *role = ROLE_DEGRADED;
        return "ACKED";
    }
    *role = ROLE_UP;
    return status != NULL && strcmp(status, "resolved") == 0 ? "resolved" : "?";
}

/* At 80 columns the essentials, the mutes only when one is muted; from
 * 100 the severity; wider, longer names and mutes. The summary takes what
 * is left. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y0 = rc->y, h = rc->h, w = rc->w;
    build_rows(d, p);
    panel_fix_selection(d, p, h - 1);
    int64_t now = clock_wall_ms();
    bool wide = w >= 110;
    int sev_w = w >= 100 ? 9 : 0;
    int kind_w = 13; /* "deploy-failed" whole */
    int subj_w = w >= 150 ? 28 : wide ? 22 : 14;
    bool muted = wide;
    for (int i = 0; !muted && i < p->nrows; i++) {
        const struct ipc_alert *a = panel_alerts_at(d, i);
        muted = a != NULL && a->muted_by != NULL;
    }
    int muted_w = wide ? 20 : muted ? 11 : 0;
    int muted_gap = muted ? 1 : 0;
    theme_on(ROLE_HEADER, 0);
    panel_putf(y0, 0, w, "%-5s %-8s %-*.*s%-*s %-*s %5s  %-*.*s%*s%s", "ID", "STATUS", sev_w,
               sev_w, "SEVERITY ", kind_w, "KIND", subj_w, "CHECK/APP-ENV", "AGE", muted_w,
               muted_w, "MUTED", muted_gap, "", "SUMMARY");
    theme_off(ROLE_HEADER, 0);
    for (int i = 0; i < h - 1 && p->top + i < p->nrows; i++) {
        const struct ipc_alert *a = panel_alerts_at(d, p->top + i);
        if (a == NULL) {
            continue;
        }
        int y = y0 + 1 + i;
        bool selected = p->top + i == p->sel;
        if (selected) {
            theme_on(ROLE_SELECTED, 0);
            panel_fill(y, w);
        }
        char subject[128], ago[32];
        if (a->check != NULL) {
            snprintf(subject, sizeof(subject), "%s", a->check);
        } else {
            snprintf(subject, sizeof(subject), "%s/%s", a->app ? a->app : "-",
                     a->env ? a->env : "-");
        }
        panel_age(a->started_ms, now, ago, sizeof(ago));
        enum role role = ROLE_NORMAL;
        const char *word = alert_word(a->status, &role);
        panel_putf(y, 0, w, "%-5lld ", (long long)a->id);
        theme_on(role, role == ROLE_DOWN ? A_BOLD : 0);
        panel_putf(y, 6, w - 6, "%-8s", word);
        theme_off(role, role == ROLE_DOWN ? A_BOLD : 0);
        int x = 15;
        char sev[16];
        snprintf(sev, sizeof(sev), "%-8.8s ", a->severity ? a->severity : "-");
        panel_putf(y, x, w - x, "%-*.*s%-*.*s %-*.*s %5s  %-*.*s%*s%s", sev_w, sev_w, sev, kind_w,
                   kind_w, a->kind ? a->kind : "-", subj_w, subj_w, subject, ago, muted_w,
                   muted_w, a->muted_by ? a->muted_by : "-", muted_gap, "",
                   a->summary ? a->summary : "");
        if (selected) {
            theme_off(ROLE_SELECTED, 0);
        }
    }
    if (p->nrows == 0) {
        panel_put(y0 + 2, 2, w - 2,
                  d->alerts_missing     ? "this shipwatchd keeps no alerts (it predates them)"
                  : !d->alerts_loaded   ? "loading..."
                  : d->alerts.nalerts   ? "nothing matches the filter"
                                        : "no open alerts");
    }
}

/* Report a failed action on the status line; a denial in plain words. */
static void action_failed(struct dash *d, int err, enum ipc_errcode code, const char *what,
                          const char *msg)
{
    if (err > 0 && code == IPC_E_DENIED) {
        dash_status(d, "permission denied: %s needs an admin", what);
    } else {
        dash_status(d, "%s: %s", what, msg != NULL ? msg : "failed");
    }
}

/* alerts.ack answered. */
static void on_acked(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        action_failed(d, err, code, "acknowledging", msg);
        return;
    }
    const struct ipc_alert *a = result;
    dash_status(d, "alert %lld acknowledged by %s", (long long)a->id, a->ack_by ? a->ack_by : "?");
    dash_fetch_alerts(d);
}

/* alerts.silence answered. */
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
    if (m->ends_ms == 0) {
        dash_status(d, "silence %lld until alert %lld resolves", (long long)m->id,
                    (long long)m->alert_id);
    } else {
        dash_status(d, "silence %lld until %s", (long long)m->id,
                    out_time(m->ends_ms, until, sizeof(until)));
    }
    dash_fetch_alerts(d);
}

/* alerts.unsilence answered. */
static void on_unsilenced(struct link *l, int err, enum ipc_errcode code, const char *msg,
                          void *result, void *arg)
{
    struct dash *d = arg;
    if (err != 0) {
        action_failed(d, err, code, "unsilencing", msg);
        return;
    }
    const struct ipc_mute *m = result;
    dash_status(d, "silence %lld removed", (long long)m->id);
    dash_fetch_alerts(d);
}

/* The acknowledge prompt's question. */
static void ack_question(const struct dash *d, char *buf, size_t len)
{
    snprintf(buf, len, "acknowledge alert %lld, comment (optional): ", (long long)d->prompt_alert);
}

/* Enter on the acknowledge prompt: the comment goes with it. */
static void ack_send(struct dash *d)
{
    struct ipc_ack_params p = {.id = d->prompt_alert,
                               .comment = d->input[0] != '\0' ? d->input : NULL};
    dash_status(d, "acknowledging alert %lld...", (long long)d->prompt_alert);
    link_call(&d->link, IPC_M_ALERTS_ACK, &p, on_acked, d);
}

/* What a silence from the prompt matches: the alert's check, or its app
 * and env (a deploy's alert has no check), as "web" or "shop/prod". */
static void silence_scope(const struct dash *d, bool app_env, char *buf, size_t len)
{
    if (!app_env && d->prompt_check != NULL) {
        snprintf(buf, len, "%s", d->prompt_check);
    } else {
        snprintf(buf, len, "%s/%s", d->prompt_app ? d->prompt_app : "-",
                 d->prompt_env ? d->prompt_env : "-");
    }
}

/* Whether the answer asks for "until resolved": nothing typed, or the
 * word (from `:silence resolved`). */
static bool until_resolved(const char *answer)
{
    return answer[0] == '\0' || strcmp(answer, "resolved") == 0;
}

/* The silence prompt's question: what it matches (Tab offers the other
 * scope when the alert has a check), and until when: resolved unless a
 * duration is typed. */
static void silence_question(const struct dash *d, char *buf, size_t len)
{
    char scope[160], other[170] = "";
    silence_scope(d, d->prompt_app_env, scope, sizeof(scope));
    if (d->prompt_check != NULL) {
        char o[160];
        silence_scope(d, !d->prompt_app_env, o, sizeof(o));
        snprintf(other, sizeof(other), " (Tab: %s)", o);
    }
    snprintf(buf, len, "silence %s%s %s: ", scope, other,
             until_resolved(d->input) ? "until resolved, or for" : "for");
}

/* Tab: the check or its app/env. */
static bool silence_key(struct dash *d, int ch)
{
    if (ch != '\t' || d->prompt_check == NULL) {
        return false;
    }
    d->prompt_app_env = !d->prompt_app_env;
    return true;
}

/* Enter on the silence prompt: until the alert resolves, or a duration;
 * anything else is refused and nothing is sent. */
static void silence_send(struct dash *d)
{
    int64_t ms = 0;
    bool resolved = until_resolved(d->input);
    if (!resolved && (duration_parse(d->input, &ms) < 0 || ms <= 0)) {
        dash_status(d, "not a duration: '%s' (like 30m, 2h, 1d; nothing: until resolved)",
                    d->input);
        return;
    }
    char comment[64];
    snprintf(comment, sizeof(comment), "from the dashboard, alert %lld",
             (long long)d->prompt_alert);
    bool check = !d->prompt_app_env && d->prompt_check != NULL;
    struct ipc_mute_params p = {
        .check = check ? d->prompt_check : NULL,
        .app = check ? NULL : d->prompt_app,
        .env = check ? NULL : d->prompt_env,
        .duration_ms = ms,
        .alert_id = resolved ? d->prompt_alert : 0,
        .comment = comment,
    };
    dash_status(d, "silencing...");
    link_call(&d->link, IPC_M_ALERTS_SILENCE, &p, on_silenced, d);
}

static const struct prompt_class ack_prompt = {
    .question = ack_question,
    .send = ack_send,
    .hint = "   Enter sends, Esc cancels",
};

static const struct prompt_class silence_prompt = {
    .question = silence_question,
    .send = silence_send,
    .hint = "  Enter, Esc",
    .key = silence_key,
};

/* Ask on the status line about the selected alert; with an answer given
 * (a `:` command's argument), send it at once. */
static void ask(struct dash *d, const struct panel *p, const struct prompt_class *pc,
                const char *initial, const char *answer)
{
    const struct ipc_alert *a = panel_alerts_at(d, p->sel);
    if (a == NULL) {
        dash_status(d, "no alert selected");
        return;
    }
    dash_prompt(d, pc, answer != NULL ? answer : initial);
    d->prompt_alert = a->id;
    d->prompt_check = panel_strdup(a->check);
    d->prompt_app = panel_strdup(a->app);
    d->prompt_env = panel_strdup(a->env);
    if (answer != NULL) {
        pc->send(d);
        dash_prompt_close(d);
    }
}

/* u: end the silence that mutes the selected alert. */
static void unsilence(struct dash *d, const struct panel *p)
{
    const struct ipc_alert *a = panel_alerts_at(d, p->sel);
    if (a == NULL) {
        dash_status(d, "no alert selected");
        return;
    }
    char *end = NULL;
    long long id = 0;
    if (a->muted_by != NULL && strncmp(a->muted_by, "silence ", 8) == 0) {
        id = strtoll(a->muted_by + 8, &end, 10);
    }
    if (id < 1 || end == NULL || *end != '\0') {
        dash_status(d, a->muted_by != NULL ? "alert %lld is muted by %s, not by a silence"
                                           : "alert %lld is not silenced%s",
                    (long long)a->id, a->muted_by != NULL ? a->muted_by : "");
        return;
    }
    struct ipc_id_ref ref = {.id = id};
    dash_status(d, "removing silence %lld...", id);
    link_call(&d->link, IPC_M_ALERTS_UNSILENCE, &ref, on_unsilenced, d);
}

/* a, s, u on the selected alert; Enter opens it. */
static int on_action(struct dash *d, struct panel *p, enum action a, const char *arg)
{
    switch (a) {
    case A_ACK:
        ask(d, p, &ack_prompt, NULL, arg);
        break;
    case A_SILENCE:
        ask(d, p, &silence_prompt, NULL, arg);
        break;
    case A_UNSILENCE:
        unsilence(d, p);
        break;
    case A_OPEN:
        if (panel_alerts_at(d, p->sel) == NULL) {
            return PANEL_IGNORED;
        }
        panel_alert_open(d, panel_alerts_at(d, p->sel));
        break;
    default:
        return PANEL_IGNORED;
    }
    return PANEL_HANDLED | PANEL_REDRAW;
}

/* The selected alert's check, if it has one. */
static int selected_check(const struct dash *d, const struct panel *p)
{
    const struct ipc_alert *a = panel_alerts_at(d, p->sel);
    return a != NULL ? panel_find_check(d, a->check) : -1;
}

const struct panel_class panel_alerts = {
    .name = "Alerts",
    .command = "alerts",
    .tab = true,
    .draw = draw,
    .on_action = on_action,
    .selected_check = selected_check,
};
