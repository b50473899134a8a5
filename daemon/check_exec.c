/* check_exec.c - exec checks with Nagios plugin semantics.
 *
 * Exit 0 OK (up), 1 WARNING (degraded), 2 CRITICAL (down), anything else
 * UNKNOWN. The first line of output, without perfdata, is the message; the
 * lines after it are the long output; the perfdata of every line is parsed
 * (perfdata.h). When stdout is empty, stderr is shown instead, as Nagios
 * does. stdout is kept up to max-output bytes and stderr up to
 * EXEC_STDERR_MAX, both drained past that so the plugin never blocks;
 * stdin is /dev/null.
 *
 * Each plugin runs in its own process group (UV_PROCESS_DETACHED: setsid),
 * with no descriptor but its stdio (child_seal_fds) and a minimal
 * environment (child_env). At the timeout the whole group gets SIGTERM,
 * then SIGKILL EXEC_KILL_GRACE_MS later. The run ends when the plugin has
 * exited and its output is closed, or EXEC_OUTPUT_GRACE_MS after the exit
 * whatever still holds the pipes (a background child of the plugin); the
 * group is then killed so that no child outlives its run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "child.h"
#include "config_rows.h"
#include "duration.h"
#include "fdres.h"
#include "perfdata.h"

#define EXEC_KILL_GRACE_MS 2000     /* SIGTERM to SIGKILL at the timeout */
#define EXEC_OUTPUT_GRACE_MS 200    /* output still read after the plugin's exit */
#define EXEC_STDERR_MAX 4096        /* stderr bytes kept */
#define READ_CHUNK 4096

/* Nagios 4's words for a plugin that wrote only to stderr. */
static const char stderr_prefix[] = "(No output on stdout) stderr: ";

struct exec_run {
    struct check_run *run;
    uv_process_t proc;
    uv_pipe_t out;
    uv_pipe_t err;
    uv_timer_t timer;           /* the timeout, the kill grace, the output grace */
    size_t cap;                 /* stdout bytes kept */
    int64_t timeout_ms;
    int pid;                    /* also the process group's id; 0 not spawned */
    bool exited;
    bool out_eof;
    bool err_eof;
    bool timed_out;
    bool killed;
    bool cancelled;             /* end as soon as the plugin has exited */
    bool settled;               /* the result is set and the handles closing */
    int64_t exit_status;
    int term_signal;
    int closing;                /* close callbacks owed */
    size_t err_len;
    char err_text[EXEC_STDERR_MAX];
    char buf[READ_CHUNK];
};

/* The environment entries ("NAME=value") a check's configuration names
 * (its environment: key), which go on top of the minimal environment. */
static const char *const *conf_env(const struct conf_check *c, size_t *n)
{
    *n = c->nenvironment;
    return (const char *const *)c->environment;
}

/* A close callback: the last one ends the run. */
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

/* Close the four handles; the run ends in on_closed. */
static void close_all(struct exec_run *x)
{
    x->settled = true;
    x->closing = 4;
    uv_close((uv_handle_t *)&x->proc, on_closed);
    uv_close((uv_handle_t *)&x->out, on_closed);
    uv_close((uv_handle_t *)&x->err, on_closed);
    uv_close((uv_handle_t *)&x->timer, on_closed);
}

/* Signal the plugin's whole group. */
static void kill_group(struct exec_run *x, int sig)
{
    if (x->pid > 0 && child_kill_group(x->pid, sig) < 0 && !x->exited) {
        /* The group is gone but the plugin is not reaped yet: itself. */
        uv_process_kill(&x->proc, sig);
    }
}

/* Whether s[0..len) holds anything but blanks. */
static bool has_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            return true;
        }
    }
    return false;
}

/* The plugin's output into message, long output and perfdata; stderr's
 * text when stdout had none. */
static void take_output(struct exec_run *x, struct result *r)
{
    struct check_run *run = x->run;
    struct perfdata_output po = {
        .message = r->message,
        .message_size = sizeof(r->message),
        .long_output = run->long_output,
        .long_output_size = sizeof(run->long_output),
    };
    if (run->body != NULL && has_text(run->body, run->body_len)) {
        struct perfdata pd;
        memset(&pd, 0, sizeof(pd));
        perfdata_split_output(run->body, run->body_len, &po, &pd);
        perfdata_format(&pd, r->perfdata, sizeof(r->perfdata));
        return;
    }
    if (!has_text(x->err_text, x->err_len)) {
        return;
    }
    /* Nagios parses no perfdata from stderr: it goes to a scratch struct. */
    struct perfdata scratch;
    memset(&scratch, 0, sizeof(scratch));
    char first[RESULT_MESSAGE_MAX];
    po.message = first;
    po.message_size = sizeof(first);
    perfdata_split_output(x->err_text, x->err_len, &po, &scratch);
    snprintf(r->message, sizeof(r->message), "%s%s", stderr_prefix, first);
}

/* The plugin and its output are done (or given up on): set the result,
 * kill what is left of the group, close. */
static void settle(struct exec_run *x)
{
    if (x->settled) {
        return;
    }
    struct result *r = &x->run->result;
    uv_timer_stop(&x->timer);
    uv_read_stop((uv_stream_t *)&x->out);
    uv_read_stop((uv_stream_t *)&x->err);
    kill_group(x, SIGKILL);
    take_output(x, r);
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
        static const enum check_state by_exit[] = {STATE_UP, STATE_DEGRADED, STATE_DOWN};
        r->status = (int)x->exit_status;
        r->outcome = x->exit_status >= 0 && x->exit_status < 3 ? by_exit[x->exit_status]
                                                               : STATE_UNKNOWN;
        /* A failure says why; an OK message is not an error. */
        if (r->outcome != STATE_UP && r->message[0] != '\0') {
            snprintf(r->error, sizeof(r->error), "%s", r->message);
        } else if (r->outcome != STATE_UP) {
            snprintf(r->error, sizeof(r->error), "exit status %d, no output", r->status);
        }
    }
    close_all(x);
}

/* Settle once the plugin has exited and both pipes are closed. */
static void settle_if_done(struct exec_run *x)
{
    if (x->exited && x->out_eof && x->err_eof) {
        settle(x);
    }
}

/* The output grace after the exit ran out: whatever holds the pipes is
 * not waited for. */
static void on_output_grace(uv_timer_t *t)
{
    settle(t->data);
}

/* The plugin exited: its status is the outcome; its output gets a short grace. */
static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct exec_run *x = p->data;
    x->exited = true;
    x->exit_status = status;
    x->term_signal = x->timed_out ? 0 : term_signal;
    if (x->cancelled) {
        settle(x);
        return;
    }
    uv_timer_stop(&x->timer);
    uv_timer_start(&x->timer, on_output_grace, EXEC_OUTPUT_GRACE_MS, 0);
    settle_if_done(x);
}

/* Every read lands in the run's one chunk buffer. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct exec_run *x = h->data;
    (void)suggested;
    *buf = uv_buf_init(x->buf, sizeof(x->buf));
}

/* Keep n bytes of data within the run's stdout cap. */
static void keep_stdout(struct exec_run *x, const char *data, size_t n)
{
    struct check_run *run = x->run;
    size_t room = x->cap - run->body_len;
    size_t keep = n < room ? n : room;
    if (keep == 0) {
        return;
    }
    if (run->body == NULL) {
        run->body = malloc(x->cap);
    }
    if (run->body != NULL) {
        memcpy(run->body + run->body_len, data, keep);
        run->body_len += keep;
    }
}

/* Keep n bytes of data within the stderr cap. */
static void keep_stderr(struct exec_run *x, const char *data, size_t n)
{
    size_t room = sizeof(x->err_text) - x->err_len;
    size_t keep = n < room ? n : room;
    memcpy(x->err_text + x->err_len, data, keep);
    x->err_len += keep;
}

/* Output from stdout or stderr, kept within its cap; EOF marks it closed. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct exec_run *x = s->data;
    bool is_out = s == (uv_stream_t *)&x->out;
    if (n > 0) {
        if (is_out) {
            keep_stdout(x, buf->base, (size_t)n);
        } else {
            keep_stderr(x, buf->base, (size_t)n);
        }
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        if (is_out) {
            x->out_eof = true;
        } else {
            x->err_eof = true;
        }
        settle_if_done(x);
    }
}

/* SIGTERM did not end the plugin in time: SIGKILL its group. */
static void on_kill_grace(uv_timer_t *t)
{
    struct exec_run *x = t->data;
    x->killed = true;
    kill_group(x, SIGKILL);
}

/* The timeout: SIGTERM to the group, SIGKILL after a grace period. */
static void on_timeout(uv_timer_t *t)
{
    struct exec_run *x = t->data;
    x->timed_out = true;
    kill_group(x, SIGTERM);
    uv_timer_start(&x->timer, on_kill_grace, EXEC_KILL_GRACE_MS, 0);
}

/* Record a failed spawn (which still initialized proc); the run ends from
 * the close callbacks. */
static int fail_start(struct exec_run *x, int rc)
{
    struct result *r = &x->run->result;
    r->outcome = STATE_UNKNOWN;
    const char *local = fdres_local_reason(rc);
    if (local != NULL) {
        snprintf(r->error, sizeof(r->error), "%s (spawn %s)", local,
                 x->run->check->conf->argv[0]);
    } else {
        snprintf(r->error, sizeof(r->error), "spawn %s: %s", x->run->check->conf->argv[0],
                 uv_strerror(rc));
    }
    x->exited = x->out_eof = x->err_eof = true;
    close_all(x);
    return 0;
}

/* Begin an exec run. */
static int exec_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    uv_loop_t *loop = run->env->loop;
    /* No descriptor of the daemon's crosses the exec. */
    int rc = child_seal_fds();
    if (rc < 0) {
        return rc;
    }
    struct exec_run *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->run = run;
    x->cap = c->max_output_bytes > 0 ? c->max_output_bytes : 1;
    x->timeout_ms = c->timeout_ms;
    run->priv = x;
    uv_pipe_init(loop, &x->out, 0);
    uv_pipe_init(loop, &x->err, 0);
    uv_timer_init(loop, &x->timer);
    x->out.data = x->err.data = x->timer.data = x->proc.data = x;

    size_t nextra;
    const char *const *extra = conf_env(c, &nextra);
    const char *env[CHILD_ENV_MAX];
    child_env(extra, nextra, env, CHILD_ENV_MAX);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->err},
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = c->argv[0],
        .args = c->argv,
        .env = (char **)env,
        .stdio = stdio,
        .stdio_count = 3,
        .flags = UV_PROCESS_DETACHED,   /* setsid: its own group, killed as one */
    };
    rc = uv_spawn(loop, &x->proc, &opts);
    if (rc < 0) {
        return fail_start(x, rc);
    }
    x->pid = x->proc.pid;
    uv_timer_start(&x->timer, on_timeout, (uint64_t)x->timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&x->out, on_alloc, on_read) < 0) {
        x->out_eof = true;
    }
    if (uv_read_start((uv_stream_t *)&x->err, on_alloc, on_read) < 0) {
        x->err_eof = true;
    }
    return 0;
}

/* Abort: kill the plugin's group; the run ends once the plugin is reaped,
 * or now when it already was. */
static void exec_cancel(struct check_run *run)
{
    struct exec_run *x = run->priv;
    if (x == NULL || x->settled) {
        return;
    }
    x->cancelled = true;
    if (x->exited) {
        settle(x);
        return;
    }
    x->killed = true;
    kill_group(x, SIGKILL);
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

#define KO(m) offsetof(struct conf_check, m)

/* Variables an exec check's environment names at most: with the minimal
 * environment's, they fill child_env's CHILD_ENV_MAX slots. */
#define EXEC_ENV_MAX 61

/* Keys only exec checks take. */
static const struct conf_field exec_rows[] = {
    {.key = "command",
     .type = CONF_ARGV,
     .off = KO(argv),
     .off2 = KO(argc),
     .max = 1024,
     .required = true},
    {.key = "max-output",
     .type = CONF_SIZE,
     .off = KO(max_output_bytes),
     .min = 1,
     .max = CONF_MIB(16),
     .def = CONFIG_DEFAULT_MAX_OUTPUT_BYTES},
    {.key = "environment",
     .type = CONF_ENV,
     .off = KO(environment),
     .off2 = KO(nenvironment),
     .max = EXEC_ENV_MAX},
};

static const struct conf_rows exec_conf_rows = CONF_ROWS(exec_rows);

const struct check_type check_exec_type = {
    .name = "exec",
    .kind = CHECK_EXEC,
    .start = exec_start,
    .cancel = exec_cancel,
    .describe = exec_describe,
    .rows = &exec_conf_rows,
    .timeout_ms = CONFIG_DEFAULT_EXEC_TIMEOUT_MS,
};
