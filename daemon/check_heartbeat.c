/* check_heartbeat.c - passive checks fed by pings from cron jobs.
 *
 * The ping URLs are Healthchecks.io's: /hb/TOKEN (success), /start, /fail,
 * /log, /0../255 (the job's exit status), an optional trailing slash and
 * ?rid=UUID to pair each start with its own finish. Pings are the only
 * results: a success or a failure records one at once, a start opens a
 * run, a log records an event and changes nothing.
 *
 * A scheduled run records nothing. It only judges: the check goes down
 * (through env->on_verdict, a state change without a result) when no ping
 * came within period + grace of the last one (or of the time the daemon
 * began watching), or when a started run has not finished within its
 * max-runtime. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "duration.h"
#include "utf8.h"
#include "util.h"

struct hb_run {
    uv_timer_t timer;           /* defers the finish out of start() */
    struct check_run *run;
};

/* How long a started run may take: max-runtime when set, else grace, or
 * the period when there is no grace. */
static int64_t max_runtime_ms(const struct conf_check *conf)
{
    if (conf->max_runtime_ms > 0) {
        return conf->max_runtime_ms;
    }
    return conf->grace_ms > 0 ? conf->grace_ms : conf->period_ms;
}

/* The judging timer is closed: end the run. */
static void on_closed(uv_handle_t *h)
{
    struct hb_run *hb = h->data;
    struct check_run *run = hb->run;
    free(hb);
    run->priv = NULL;
    check_run_finish(run);
}

/* Hand the check down with reason, unless it is down already. */
static void judge_down(const struct check_env *env, struct check *c, const char *reason)
{
    if (c->state != STATE_DOWN && env->on_verdict != NULL) {
        env->on_verdict(env->arg, c, STATE_DOWN, reason);
    }
}

/* The first started run past max-runtime not reported yet, or NULL. */
static struct check_hb_run *overdue_run(struct check *c, int64_t now, int64_t max_ms)
{
    for (size_t i = 0; i < c->nhb_runs; i++) {
        struct check_hb_run *hr = &c->hb_runs[i];
        if (!hr->overdue && now - hr->started_ms > max_ms) {
            return hr;
        }
    }
    return NULL;
}

/* Judge lateness and overdue runs: a verdict at most, never a result. */
static void on_judge(uv_timer_t *t)
{
    struct hb_run *hb = t->data;
    struct check_run *run = hb->run;
    struct check *c = run->check;
    run->no_result = true;
    if (!run->cancelled && !c->removed) {
        const struct conf_check *conf = c->conf;
        const struct check_env *env = run->env;
        int64_t now = check_env_now_ms(env);
        if (c->heartbeat_since_ms == 0) {
            c->heartbeat_since_ms = now;
        }
        int64_t last = c->last_ping_ms > 0 ? c->last_ping_ms : c->heartbeat_since_ms;
        int64_t late = now - last;
        int64_t max_ms = max_runtime_ms(conf);
        struct check_hb_run *hr = overdue_run(c, now, max_ms);
        char why[RESULT_ERROR_MAX], a[32], p[32], g[32];
        if (late > conf->period_ms + conf->grace_ms) {
            snprintf(why, sizeof(why), "no ping for %s (period %s, grace %s)",
                     duration_format(late / 1000 * 1000, a, sizeof(a)),
                     duration_format(conf->period_ms, p, sizeof(p)),
                     duration_format(conf->grace_ms, g, sizeof(g)));
            judge_down(env, c, why);
        } else if (hr != NULL) {
            hr->overdue = true;
            snprintf(why, sizeof(why), "run%s%s started %s ago has not finished (max-runtime %s)",
                     hr->rid[0] ? " " : "", hr->rid,
                     duration_format((now - hr->started_ms) / 1000 * 1000, a, sizeof(a)),
                     duration_format(max_ms, p, sizeof(p)));
            judge_down(env, c, why);
        }
    }
    uv_close((uv_handle_t *)&hb->timer, on_closed);
}

/* A scheduled run: judge lateness on the next loop tick. */
static int heartbeat_start(struct check_run *run)
{
    struct hb_run *hb = calloc(1, sizeof(*hb));
    if (hb == NULL) {
        return -ENOMEM;
    }
    hb->run = run;
    run->priv = hb;
    uv_timer_init(run->env->loop, &hb->timer);
    hb->timer.data = hb;
    uv_timer_start(&hb->timer, on_judge, 0, 0);
    return 0;
}

/* The period and grace, for display (the token is a secret). */
static void heartbeat_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "every %llds, %llds grace", (long long)(cc->period_ms / 1000),
             (long long)(cc->grace_ms / 1000));
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only heartbeat checks take. */
static const struct conf_field heartbeat_rows[] = {
    {.key = "token",
     .type = CONF_STR,
     .off = KO(token),
     .valid = conf_valid_token,
     .required = true},
    {.key = "period",
     .type = CONF_DURATION,
     .off = KO(period_ms),
     .min = CONF_SEC(1),
     .required = true},
    {.key = "grace", .type = CONF_DURATION, .off = KO(grace_ms)},
    {.key = "max-runtime", .type = CONF_DURATION, .off = KO(max_runtime_ms)},
};

static const struct conf_rows heartbeat_conf_rows = CONF_ROWS(heartbeat_rows);

/* How often a heartbeat's lateness is evaluated: its default interval. */
#define HEARTBEAT_INTERVAL_MS 10000

const struct check_type check_heartbeat_type = {
    .name = "heartbeat",
    .kind = CHECK_HEARTBEAT,
    .start = heartbeat_start,
    .cancel = NULL,
    .describe = heartbeat_describe,
    .rows = &heartbeat_conf_rows,
    .passive = true,
    .interval_ms = HEARTBEAT_INTERVAL_MS,
};

/* --- tokens and ping URLs --- */

/* Whether s[0..n) is a UUID in its canonical text, hex digits in either case. */
static bool is_uuid(const char *s, size_t n)
{
    if (n != CHECK_HB_RID_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr("0123456789abcdefABCDEF", s[i]) == NULL || s[i] == '\0') {
            return false;
        }
    }
    return true;
}

/* s with A-F in lower case, into out (at least n + 1 bytes). */
static void lower_copy(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    }
    out[n] = '\0';
}

/* Constant-time token equality; two UUIDs are compared without case. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) {
        return false;
    }
    if (is_uuid(a, la) && is_uuid(b, lb)) {
        char x[CHECK_HB_RID_LEN + 1], y[CHECK_HB_RID_LEN + 1];
        lower_copy(x, a, la);
        lower_copy(y, b, lb);
        return CRYPTO_memcmp(x, y, la) == 0;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}

/* The heartbeat check with this token; every check is compared. */
struct check *check_heartbeat_find(struct check *const *checks, size_t n, const char *token)
{
    struct check *c = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct conf_check *conf = checks[i]->conf;
        if (conf->kind == CHECK_HEARTBEAT && conf->token != NULL &&
            token_equal(conf->token, token)) {
            c = checks[i];
        }
    }
    return c;
}

/* The words after TOKEN/, one row each. */
static const struct {
    const char *word;
    enum check_ping_kind kind;
} ping_words[] = {
    {"start", CHECK_PING_START},
    {"fail", CHECK_PING_FAIL},
    {"log", CHECK_PING_LOG},
};

/* The value of rid in query ("a=b&rid=X&..."), or NULL; *n its length. */
static const char *query_rid(const char *query, size_t *n)
{
    for (const char *p = query; p != NULL && *p != '\0';) {
        size_t k = strcspn(p, "&");
        if (strncmp(p, "rid=", 4) == 0) {
            *n = k - 4;
            return p + 4;
        }
        p = p[k] == '&' ? p + k + 1 : NULL;
    }
    return NULL;
}

/* Parse the path after /hb/ and the query of a ping. */
int check_ping_parse(const char *path, const char *query, struct check_ping *out, char *why,
                     size_t len)
{
    memset(out, 0, sizeof(*out));
    out->exit_status = -1;
    out->duration_us = -1;
    why[0] = '\0';
    size_t n = strcspn(path, "/");
    if (n == 0 || n > CHECK_HB_TOKEN_MAX) {
        return -ENOENT;
    }
    memcpy(out->token, path, n);
    out->token[n] = '\0';
    const char *word = path[n] == '/' ? path + n + 1 : path + n;
    size_t wn = strcspn(word, "/");
    /* One trailing slash is allowed, after the token or after the word. */
    if (word[wn] == '/' && (wn == 0 || word[wn + 1] != '\0')) {
        return -ENOENT;
    }
    out->kind = CHECK_PING_SUCCESS;
    bool known = wn == 0;
    for (size_t i = 0; !known && i < ARRAY_SIZE(ping_words); i++) {
        if (strlen(ping_words[i].word) == wn && strncmp(word, ping_words[i].word, wn) == 0) {
            out->kind = ping_words[i].kind;
            known = true;
        }
    }
    if (!known && strspn(word, "0123456789") == wn) {
        /* Healthchecks.io: any number of digits is the exit-status route,
         * past 255 it is a 400. */
        long v = 0;
        for (size_t i = 0; i < wn && v <= 255; i++) {
            v = v * 10 + (word[i] - '0');
        }
        if (v > 255) {
            snprintf(why, len, "invalid url format: an exit status is 0 to 255");
            return -EINVAL;
        }
        out->exit_status = (int)v;
        out->kind = v == 0 ? CHECK_PING_SUCCESS : CHECK_PING_FAIL;
        known = true;
    }
    if (!known) {
        return -ENOENT;
    }
    size_t rn = 0;
    const char *rid = query_rid(query, &rn);
    if (rid != NULL) {
        if (!is_uuid(rid, rn)) {
            snprintf(why, len, "invalid uuid format: rid must be a UUID such as "
                               "123e4567-e89b-12d3-a456-426614174000");
            return -EINVAL;
        }
        lower_copy(out->rid, rid, rn);
    }
    return 0;
}

/* --- pings --- */

/* Open a run for rid at now; a repeated rid starts over, the oldest run
 * gives way when the table is full. */
static void run_open(struct check *c, const char *rid, int64_t now)
{
    if (c->hb_runs == NULL) {
        c->hb_runs = calloc(CHECK_HB_RUNS_MAX, sizeof(*c->hb_runs));
        if (c->hb_runs == NULL) {
            return;             /* not timed: its finish has no duration */
        }
    }
    size_t i = 0;
    while (i < c->nhb_runs && strcmp(c->hb_runs[i].rid, rid) != 0) {
        i++;
    }
    if (i == c->nhb_runs && c->nhb_runs == CHECK_HB_RUNS_MAX) {
        i = 0;
    }
    if (i < c->nhb_runs) {
        memmove(&c->hb_runs[i], &c->hb_runs[i + 1], (c->nhb_runs - i - 1) * sizeof(c->hb_runs[0]));
        c->nhb_runs--;
    }
    struct check_hb_run *hr = &c->hb_runs[c->nhb_runs++];
    memset(hr, 0, sizeof(*hr));
    snprintf(hr->rid, sizeof(hr->rid), "%s", rid);
    hr->started_ms = now;
}

/* Close the run of rid: its duration in us, or -1 when none was open (or
 * it began too long ago to belong to this finish). A finish without a rid
 * ends every open run, as Healthchecks.io leaves its running state. */
static int64_t run_close(struct check *c, const char *rid, int64_t now)
{
    int64_t us = -1;
    for (size_t i = 0; i < c->nhb_runs; i++) {
        struct check_hb_run *hr = &c->hb_runs[i];
        if (strcmp(hr->rid, rid) == 0) {
            if (now - hr->started_ms <= CHECK_HB_PAIR_MAX_MS && now >= hr->started_ms) {
                us = (now - hr->started_ms) * 1000;
            }
            memmove(hr, hr + 1, (c->nhb_runs - i - 1) * sizeof(*hr));
            c->nhb_runs--;
            break;
        }
    }
    if (rid[0] == '\0') {
        c->nhb_runs = 0;
    }
    return us;
}

/* Append body[0..n) to out (len bytes, holding a string) as one line of
 * text: control characters become spaces, invalid UTF-8 '?', cut on a
 * character boundary, trailing spaces dropped. */
static void append_text(char *out, size_t len, const char *body, size_t n)
{
    size_t o = strlen(out);
    const unsigned char *s = (const unsigned char *)body;
    for (size_t i = 0; i < n && o + 1 < len;) {
        size_t k = utf8_seq_len(s + i, n - i);
        if (k == 0) {
            out[o++] = '?';
            i++;
        } else if (k == 1) {
            out[o++] = s[i] < 0x20 || s[i] == 0x7f ? ' ' : (char)s[i];
            i++;
        } else if (o + k < len) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            break;
        }
    }
    while (o > 0 && out[o - 1] == ' ') {
        o--;
    }
    out[o] = '\0';
}

/* Record ping p on heartbeat check c. */
int check_heartbeat_ping(const struct check_env *env, struct check *c, struct check_ping *p)
{
    int64_t now = check_env_now_ms(env);
    p->duration_us = -1;
    switch (p->kind) {
    case CHECK_PING_START:
        run_open(c, p->rid, now);
        break;
    case CHECK_PING_LOG:
        break;
    case CHECK_PING_SUCCESS:
    case CHECK_PING_FAIL: {
        struct result r = {.started_ms = now, .status = p->exit_status};
        p->duration_us = run_close(c, p->rid, now);
        r.duration_us = p->duration_us > 0 ? p->duration_us : 0;
        c->last_ping_ms = now;
        r.outcome = p->kind == CHECK_PING_SUCCESS ? STATE_UP : STATE_DOWN;
        if (p->kind == CHECK_PING_FAIL && p->exit_status > 0) {
            snprintf(r.error, sizeof(r.error), "exit status %d", p->exit_status);
        } else if (p->kind == CHECK_PING_FAIL) {
            snprintf(r.error, sizeof(r.error), "job reported failure");
        }
        if (p->body_len > 0) {
            if (r.error[0] != '\0') {
                snprintf(r.error + strlen(r.error), sizeof(r.error) - strlen(r.error), ": ");
            }
            append_text(r.error, sizeof(r.error), p->body, p->body_len);
        }
        if (env->on_result != NULL) {
            env->on_result(env->arg, c, &r);
        }
        break;
    }
    default:
        return -EINVAL;
    }
    if ((p->kind == CHECK_PING_LOG || p->body_total > 0) && env->on_ping != NULL) {
        env->on_ping(env->arg, c, p);
    }
    return 0;
}
