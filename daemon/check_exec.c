/* check_exec.c - exec checks with Nagios plugin semantics.
 *
 * Exit 0 OK (up), 1 WARNING (degraded), 2 CRITICAL (down), anything else
 * UNKNOWN; the first line of output, without perfdata, is the message.
 * stdout is kept up to max-output bytes and drained past it so the plugin
 * never blocks; stdin and stderr are /dev/null. At the timeout the plugin gets SIGTERM,
 * then SIGKILL two seconds later. The run ends when the process has exited,
 * the pipe is closed and every handle's close callback has run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "duration.h"

#define KILL_GRACE_MS 2000
#define READ_CHUNK 4096

struct exec_run {
    struct check_run *run;
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    size_t cap;
    int64_t timeout_ms;
    bool exited;
    bool eof;
    bool timed_out;
    bool killed;
    int64_t exit_status;
    int term_signal;
    int closing;                /* close callbacks owed */
    char buf[READ_CHUNK];
};

static void finish_if_done(struct exec_run *x);

static void on_closed(uv_handle_t *h)
{
    struct exec_run *x = h->data;
    if (--x->closing > 0) {
        return;
    }
    struct check_run *run = x->run;
    free(x);
    run->priv = NULL;
    check_run_finish(run);
}

/* The first line of output without perfdata, into the result's error. */
static void first_line(struct check_run *run)
{
    const char *b = run->body != NULL ? run->body : "";
    size_t n = 0;
    while (n < run->body_len && b[n] != '\n' && b[n] != '|') {
        n++;
    }
    while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t' || b[n - 1] == '\r')) {
        n--;
    }
    if (n >= sizeof(run->result.error)) {
        n = sizeof(run->result.error) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)b[i];
        run->result.error[i] = ch < 0x20 ? ' ' : (char)ch;
    }
    run->result.error[n] = '\0';
}

/* Both the process and its output are done: settle and close. */
static void finish_if_done(struct exec_run *x)
{
    if (!x->exited || !x->eof || x->closing > 0) {
        return;
    }
    struct check_run *run = x->run;
    struct result *r = &run->result;
    first_line(run);
    if (x->timed_out) {
        char d[32];
        r->outcome = STATE_DOWN;
        r->status = -1;
        snprintf(r->error, sizeof(r->error), "timed out after %s (killed)",
                 duration_format(x->timeout_ms, d, sizeof(d)));
    } else if (x->term_signal != 0) {
        r->outcome = STATE_UNKNOWN;
        r->status = -1;
        snprintf(r->error, sizeof(r->error), "killed by signal %d", x->term_signal);
    } else {
        r->status = (int)x->exit_status;
        switch (x->exit_status) {
        case 0:
            r->outcome = STATE_UP; /* conditions, if any, still decide */
            break;
        case 1:
            r->outcome = STATE_DEGRADED;
            break;
        case 2:
            r->outcome = STATE_DOWN;
            break;
        default:
            r->outcome = STATE_UNKNOWN;
            break;
        }
    }
    x->closing = 3;
    uv_close((uv_handle_t *)&x->proc, on_closed);
    uv_close((uv_handle_t *)&x->out, on_closed);
    uv_close((uv_handle_t *)&x->timer, on_closed);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct exec_run *x = p->data;
    x->exited = true;
    x->exit_status = status;
    x->term_signal = x->timed_out ? 0 : term_signal;
    if (!x->timed_out) {
        uv_timer_stop(&x->timer);
    }
    finish_if_done(x);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct exec_run *x = h->data;
    *buf = uv_buf_init(x->buf, sizeof(x->buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct exec_run *x = s->data;
    struct check_run *run = x->run;
    if (n > 0) {
        size_t room = x->cap - run->body_len;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        if (keep > 0) {
            if (run->body == NULL) {
                run->body = malloc(x->cap);
            }
            if (run->body != NULL) {
                memcpy(run->body + run->body_len, buf->base, keep);
                run->body_len += keep;
            }
        }
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        x->eof = true;
        finish_if_done(x);
    }
}

/* Timeout: TERM now, KILL after a grace period. */
static void on_timer(uv_timer_t *t)
{
    struct exec_run *x = t->data;
    if (x->exited) {
        return;
    }
    if (!x->timed_out) {
        x->timed_out = true;
        uv_process_kill(&x->proc, SIGTERM);
        uv_timer_start(&x->timer, on_timer, KILL_GRACE_MS, 0);
    } else if (!x->killed) {
        x->killed = true;
        uv_process_kill(&x->proc, SIGKILL);
    }
}

/* Begin an exec run. */
static int exec_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    uv_loop_t *loop = run->env->loop;
    struct exec_run *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->run = run;
    x->cap = c->max_output_bytes > 0 ? c->max_output_bytes : 1;
    x->timeout_ms = c->timeout_ms;
    run->priv = x;
    uv_pipe_init(loop, &x->out, 0);
    x->out.data = x;
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    x->proc.data = x;

    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = c->argv[0],
        .args = c->argv,
        .stdio = stdio,
        .stdio_count = 3,
    };
    int rc = uv_spawn(loop, &x->proc, &opts);
    if (rc < 0) {
        /* Record why, then end the run from the close callbacks. */
        run->result.outcome = STATE_UNKNOWN;
        snprintf(run->result.error, sizeof(run->result.error), "spawn %s: %s", c->argv[0],
                 uv_strerror(rc));
        x->closing = 3;
        x->exited = x->eof = true;
        uv_close((uv_handle_t *)&x->proc, on_closed);
        uv_close((uv_handle_t *)&x->out, on_closed);
        uv_close((uv_handle_t *)&x->timer, on_closed);
        return 0;
    }
    uv_timer_start(&x->timer, on_timer, (uint64_t)x->timeout_ms, 0);
    rc = uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read);
    if (rc < 0) {
        x->eof = true;
    }
    return 0;
}

/* Abort: kill the plugin; the run ends through the usual callbacks. */
static void exec_cancel(struct check_run *run)
{
    struct exec_run *x = run->priv;
    if (x != NULL && !x->exited) {
        uv_process_kill(&x->proc, SIGKILL);
    }
}

/* The command line, its words joined by spaces, for display. */
static void exec_describe(const struct conf_check *cc, char *out, size_t len)
{
    size_t pos = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cc->argc && pos + 1 < len; i++) {
        int n = snprintf(out + pos, len - pos, "%s%s", i ? " " : "", cc->argv[i]);
        pos = n < 0 ? len : pos + (size_t)n;
    }
}

const struct check_type check_exec_type = {
    .name = "exec",
    .kind = CHECK_EXEC,
    .start = exec_start,
    .cancel = exec_cancel,
    .describe = exec_describe,
};
