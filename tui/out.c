/* out.c - tables, JSON, times. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* wcwidth */
#endif
#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "clock.h"
#include "duration.h"

#define COL_GAP 2

void table_init(struct table *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

void table_row(struct table *t, ...)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **v = realloc(t->cells, cap * t->ncols * sizeof(*v));
        if (v == NULL) {
            return;
        }
        t->cells = v;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + i] = strdup(s != NULL && s[0] != '\0' ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

/* Columns a string takes on a terminal; control characters count as one
 * (they are printed as '?'). */
static size_t width(const char *s)
{
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t w = 0;
    while (*s != '\0') {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
        if (n == (size_t)-1 || n == (size_t)-2) {
            memset(&st, 0, sizeof(st));
            w++;
            s++;
            continue;
        }
        int cw = wcwidth(wc);
        w += cw > 0 ? (size_t)cw : 1;
        s += n;
    }
    return w;
}

/* Print s with control characters replaced, at most max columns (0: no
 * limit); returns the columns printed. */
static size_t put_cell(FILE *f, const char *s, size_t max)
{
    mbstate_t st;
    memset(&st, 0, sizeof(st));
    size_t w = 0;
    while (*s != '\0') {
        wchar_t wc;
        size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
        int cw;
        if (n == (size_t)-1 || n == (size_t)-2 || wc < 0x20 || wc == 0x7f) {
            memset(&st, 0, sizeof(st));
            n = 1;
            cw = 1;
            if (max && w + 1 > max) {
                break;
            }
            fputc('?', f);
        } else {
            cw = wcwidth(wc);
            cw = cw > 0 ? cw : 1;
            if (max && w + (size_t)cw > max) {
                break;
            }
            fwrite(s, 1, n, f);
        }
        w += (size_t)cw;
        s += n;
    }
    return w;
}

static size_t term_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return 0;
}

static bool table_wide;

void table_set_wide(bool wide)
{
    table_wide = wide;
}

/* Narrow the widest columns, one column of text at a time, until a row
 * fits in tw (a column keeps at least 2: one character and the mark). */
static void fit_columns(size_t *wd, size_t ncols, size_t tw)
{
    size_t total = 0;
    for (size_t c = 0; c < ncols; c++) {
        total += wd[c] + (c + 1 < ncols ? COL_GAP : 0);
    }
    while (total > tw) {
        size_t widest = 0;
        for (size_t c = 1; c < ncols; c++) {
            if (wd[c] > wd[widest]) {
                widest = c;
            }
        }
        if (wd[widest] <= 2) {
            return;
        }
        wd[widest]--;
        total--;
    }
}

void table_fprint(const struct table *t, FILE *f, size_t tw)
{
    size_t *wd = calloc(t->ncols, sizeof(*wd));
    if (wd == NULL) {
        return;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            size_t w = width(t->cells[r * t->ncols + c]);
            if (w > wd[c]) {
                wd[c] = w;
            }
        }
    }
    if (tw > 0) {
        fit_columns(wd, t->ncols, tw);
    }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t w;
            if (width(s) > wd[c]) {
                /* Cut, and say so: the mark takes the last column. */
                w = put_cell(f, s, wd[c] - 1);
                fputs("\u2026", f);
                w++;
            } else {
                w = put_cell(f, s, 0);
            }
            if (c + 1 < t->ncols) {
                for (size_t pad = wd[c] - w + COL_GAP; pad > 0; pad--) {
                    fputc(' ', f);
                }
            }
        }
        fputc('\n', f);
    }
    free(wd);
}

void table_print(const struct table *t)
{
    table_fprint(t, stdout, table_wide ? 0 : term_width());
}

void table_finish(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

json_t *out_json(const struct ipc_type *t, const void *v)
{
    json_t *o = json_object();
    const char *base = v;
    for (size_t i = 0; i < t->nfields; i++) {
        const struct ipc_field *f = &t->fields[i];
        const void *at = base + f->off;
        switch (f->type) {
        case IPC_F_STR: {
            const char *s = *(char *const *)at;
            if (s == NULL) {
                break;
            }
            json_t *j = NULL;
            if (strcmp(f->key, "data") == 0) {
                j = json_loads(s, JSON_DECODE_ANY, NULL);
            }
            json_object_set_new(o, f->key, j != NULL ? j : json_string(s));
            break;
        }
        case IPC_F_I64:
            json_object_set_new(o, f->key, json_integer(*(const int64_t *)at));
            break;
        case IPC_F_BOOL:
            json_object_set_new(o, f->key, json_boolean(*(const bool *)at));
            break;
        case IPC_F_STRV: {
            char *const *sv = *(char *const *const *)at;
            size_t n = *(const size_t *)(base + f->count_off);
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++) {
                json_array_append_new(a, json_string(sv[k]));
            }
            json_object_set_new(o, f->key, a);
            break;
        }
        case IPC_F_I64V: {
            const int64_t *iv = *(const int64_t *const *)at;
            size_t n = *(const size_t *)(base + f->count_off);
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++) {
                json_array_append_new(a, json_integer(iv[k]));
            }
            json_object_set_new(o, f->key, a);
            break;
        }
        case IPC_F_ARRAY: {
            const char *ev = *(const char *const *)at;
            size_t n = *(const size_t *)(base + f->count_off);
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++) {
                json_array_append_new(a, out_json(f->elem, ev + k * f->elem->size));
            }
            json_object_set_new(o, f->key, a);
            break;
        }
        }
    }
    return o;
}

void out_json_print(json_t *j, bool compact)
{
    size_t flags = JSON_PRESERVE_ORDER | (compact ? JSON_COMPACT : JSON_INDENT(2));
    json_dumpf(j, stdout, flags);
    putchar('\n');
    json_decref(j);
}

char *out_time(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

char *out_span_us(int64_t us, char *buf, size_t len)
{
    int64_t s = us / 1000000;
    if (us < 1000) {
        snprintf(buf, len, "%lldus", (long long)us);
    } else if (us < 1000000) {
        snprintf(buf, len, "%lldms", (long long)(us / 1000));
    } else if (s < 60) {
        snprintf(buf, len, "%.1fs", (double)us / 1e6);
    } else if (s < 3600) {
        snprintf(buf, len, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    } else if (s < 86400) {
        snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    } else {
        snprintf(buf, len, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    }
    return buf;
}

char *out_ago(int64_t ms, int64_t now_ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "never");
        return buf;
    }
    int64_t d = now_ms - ms;
    if (d < 1000) {
        snprintf(buf, len, "now");
        return buf;
    }
    char span[32];
    /* Whole seconds: "1.2s ago" is more precision than anyone reads. */
    out_span_us(d / 1000 * 1000000, span, sizeof(span));
    if (d < 60000) {
        snprintf(span, sizeof(span), "%llds", (long long)(d / 1000));
    }
    snprintf(buf, len, "%s ago", span);
    return buf;
}

static bool error_json;
static char *error_kept;

void out_error_json(bool json)
{
    error_json = json;
}

/* One message of an error: on stderr now, or kept for out_error_flush. */
void out_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!error_json) {
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        return;
    }
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg == NULL) {
        va_end(again);
        return;
    }
    vsnprintf(msg, (size_t)n + 1, fmt, again);
    va_end(again);
    /* The first says what went wrong; later lines are explanations. */
    if (error_kept != NULL) {
        free(msg);
        return;
    }
    while (n > 0 && msg[n - 1] == '\n') {
        msg[--n] = '\0';
    }
    error_kept = msg;
}

/* The kept message as a JSON error on stdout. */
void out_error_flush(const char *code)
{
    if (error_kept == NULL) {
        return;
    }
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", error_kept);
    out_json_print(e, true);
    fflush(stdout);
    free(error_kept);
    error_kept = NULL;
}

/* Print text under a label, its later lines indented to the label's width. */
static void indented(const char *label, const char *text)
{
    fputs(label, stdout);
    for (const char *p = text; *p != '\0'; p++) {
        putchar(*p);
        if (*p == '\n' && p[1] != '\0') {
            printf("%*s", (int)strlen(label), "");
        }
    }
    putchar('\n');
}

/* A check in detail, a label a line. */
void out_check_detail(const struct ipc_check *c)
{
    char t1[32], t2[32], span[32], iv[32], to[32];
    int64_t now = clock_wall_ms();
    printf("name:       %s\n", c->name);
    printf("app/env:    %s/%s\n", c->app ? c->app : "-", c->env ? c->env : "-");
    printf("type:       %s %s\n", c->type ? c->type : "?", c->target ? c->target : "");
    printf("state:      %s%s since %s (%s)\n", c->state ? c->state : "?",
           c->paused ? ", paused" : "", out_time(c->state_since_ms, t1, sizeof(t1)),
           out_ago(c->state_since_ms, now, t2, sizeof(t2)));
    printf("every:      %s, timeout %s%s\n", duration_format(c->interval_ms, iv, sizeof(iv)),
           duration_format(c->timeout_ms, to, sizeof(to)), c->running ? ", running now" : "");
    printf("streaks:    %lld failed, %lld ok; %lld runs, %lld skipped\n",
           (long long)c->fail_streak, (long long)c->ok_streak, (long long)c->runs_total,
           (long long)c->skipped_total);
    if (c->last_ms > 0) {
        printf("last:       %s at %s in %s", c->last_outcome ? c->last_outcome : "?",
               out_time(c->last_ms, t1, sizeof(t1)),
               out_span_us(c->last_duration_us, span, sizeof(span)));
        if (c->last_status >= 0) {
            printf(", status %lld", (long long)c->last_status);
        }
        putchar('\n');
    } else {
        printf("last:       never ran\n");
    }
    if (c->last_condition) {
        printf("failed:     %s\n", c->last_condition);
    }
    if (c->held_by) {
        printf("held by:    %s (its new alerts wait)\n", c->held_by);
    }
    if (c->last_error) {
        printf("error:      %s\n", c->last_error);
    }
    if (c->verdict) {
        printf("verdict:    %s\n", c->verdict);
    }
    if (c->last_message) {
        printf("message:    %s\n", c->last_message);
    }
    if (c->last_long_output) {
        indented("output:     ", c->last_long_output);
    }
    if (c->last_perfdata) {
        printf("perfdata:   %s\n", c->last_perfdata);
    }
}

/* The matchers of a mute, "check web, app shop", or "everything". */
char *out_mute_matchers(const struct ipc_mute *m, char *buf, size_t len)
{
    const char *keys[] = {"check", "app", "env", "severity"};
    const char *vals[] = {m->check, m->app, m->env, m->severity};
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < 4 && pos + 1 < len; i++) {
        if (vals[i] != NULL) {
            int n = snprintf(buf + pos, len - pos, "%s%s %s", pos ? ", " : "", keys[i], vals[i]);
            pos = n < 0 ? len : pos + (size_t)n;
        }
    }
    if (pos == 0) {
        snprintf(buf, len, "every alert");
    }
    return buf;
}
