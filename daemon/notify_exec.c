/* notify_exec.c - the exec notifier: run argv with SHIPWATCH_ALERT_* in the
 * environment and the generic body on stdin; exit status 0 is delivered.
 *
 * Like an exec check's plugin (child.h), the command inherits no descriptor
 * but its stdio and none of the daemon's environment: the minimal one, what
 * the notifier's environment key names, then the alert's variables. It
 * leads a process group of its own, and the whole group is killed at the
 * deadline (conf->timeout_ms, on the attempt's timer) or on cancel. The
 * start of its stderr (else stdout) becomes the reason of a failure. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "config.h"
#include "config_rows.h"
#include "duration.h"
#include "log.h"
#include "notify_class.h"

#define READ_CHUNK 4096
#define OUTPUT_GRACE_MS 200          /* output still drained after the exit */
#define KILL_WAIT_MS 2000            /* wait for the exit after SIGKILL */
#define EXEC_ENV_EXTRA 10            /* SHIPWATCH_* variables set */
/* Variables the environment key names at most: with the minimal
 * environment's two and the alert's, they fill CHILD_ENV_MAX slots. */
#define EXEC_ENV_NAMED (CHILD_ENV_MAX - 3 - EXEC_ENV_EXTRA)

/* One command run, the attempt's s->state. Its handles' data is s. */
struct exec_run {
    bool pipes_init;            /* in, out, err and proc need closing */
    bool spawned;
    uv_process_t proc;
    int pid;
    uv_pipe_t in, out, err;
    uv_write_t write;
    bool exited, out_eof, err_eof, timed_out, killed;
    int64_t exit_status;
    int term_signal;
    char out_keep[NOTIFY_KEEP_MAX];  /* the start of stdout and stderr, for the reason */
    size_t out_len;
    char err_keep[NOTIFY_KEEP_MAX];
    size_t err_len;
    char rbuf[READ_CHUNK];
};

/* SIGKILL the command's process group (it leads one: detached). */
static void kill_group(struct notify_send *s)
{
    struct exec_run *x = s->state;
    x->killed = true;
    if (x->pid > 0 && kill(-x->pid, SIGKILL) == 0) {
        return;
    }
    int rc = uv_process_kill(&x->proc, SIGKILL);
    if (rc < 0 && rc != UV_ESRCH) {
        log_warn(LOG_KV("component", "notify"), "kill notifier command %d: %s", x->pid,
                 uv_strerror(rc));
    }
}

/* The process is gone and its output drained (or given up on): decide. */
static void exec_settle(struct notify_send *s)
{
    struct exec_run *x = s->state;
    if (!x->exited) {
        kill_group(s);
    }
    char d[32];
    char line[NOTIFY_KEEP_MAX];
    if (x->err_len > 0) {
        notify_first_line(x->err_keep, x->err_len, line, sizeof(line));
    } else {
        notify_first_line(x->out_keep, x->out_len, line, sizeof(line));
    }
    const char *sep = line[0] != '\0' ? ": " : "";
    if (s->cancelled) {
        notify_settle(s, false, "cancelled");
    } else if (x->timed_out) {
        notify_settle(s, false, "timed out after %s", duration_format(s->timeout_ms, d, sizeof(d)));
    } else if (x->term_signal != 0) {
        notify_settle(s, false, "killed by signal %d%s%s", x->term_signal, sep, line);
    } else if (x->exit_status != 0) {
        notify_settle(s, false, "exit status %lld%s%s", (long long)x->exit_status, sep, line);
    } else {
        notify_settle(s, true, NULL);
    }
}

/* The deadline, the wait after a kill, or the output grace after the exit. */
static void on_exec_timer(uv_timer_t *t)
{
    struct notify_send *s = t->data;
    struct exec_run *x = s->state;
    if (x->exited || x->killed) {
        exec_settle(s);
        return;
    }
    x->timed_out = true;
    kill_group(s);
    uv_timer_start(&s->timer, on_exec_timer, KILL_WAIT_MS, 0);
}

/* The command exited: decide now, or once its output is drained. */
static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct notify_send *s = p->data;
    struct exec_run *x = s->state;
    x->exited = true;
    x->exit_status = status;
    x->term_signal = term_signal;
    if (x->timed_out || s->cancelled || (x->out_eof && x->err_eof)) {
        exec_settle(s);
    } else {
        /* Read what is still in the pipes, but not for ever: a child it
         * left behind may hold them open. */
        uv_timer_start(&s->timer, on_exec_timer, OUTPUT_GRACE_MS, 0);
    }
}

/* Reads of stdout and stderr go to one buffer, copied from at once. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct notify_send *s = h->data;
    struct exec_run *x = s->state;
    *buf = uv_buf_init(x->rbuf, sizeof(x->rbuf));
}

/* stdout and stderr: keep the start, drop the rest. */
static void on_output(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct notify_send *s = st->data;
    struct exec_run *x = s->state;
    bool is_err = st == (uv_stream_t *)&x->err;
    char *keep = is_err ? x->err_keep : x->out_keep;
    size_t *len = is_err ? &x->err_len : &x->out_len;
    if (n > 0) {
        size_t room = NOTIFY_KEEP_MAX - *len;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(keep + *len, buf->base, k);
        *len += k;
        return;
    }
    if (n < 0) {
        uv_read_stop(st);
        if (is_err) {
            x->err_eof = true;
        } else {
            x->out_eof = true;
        }
        if (x->exited && x->out_eof && x->err_eof) {
            exec_settle(s);
        }
    }
}

/* The payload is written (or the command stopped reading): close stdin. */
static void on_written(uv_write_t *w, int status)
{
    struct notify_send *s = w->data;
    struct exec_run *x = s->state;
    notify_close_handle(s, (uv_handle_t *)&x->in);
}

/* One "NAME=value" string for the command's environment; NULL for an
 * absent value, or on allocation failure with *oom set. */
static char *env_var(const char *name, const char *value, bool *oom)
{
    if (value == NULL) {
        return NULL;
    }
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s == NULL) {
        *oom = true;
        return NULL;
    }
    snprintf(s, len, "%s=%s", name, value);
    return s;
}

/* Free the alert's variables. */
static void free_vars(char **extra)
{
    for (size_t i = 0; i < EXEC_ENV_EXTRA; i++) {
        free(extra[i]);
    }
}

/* Whether entry names one of the alert's own variables, which the
 * environment key may not set: absent from an alert, they stay unset. */
static bool alert_var(const char *entry)
{
    return strncmp(entry, "SHIPWATCH_ALERT_", 16) == 0 ||
           strncmp(entry, "SHIPWATCH_DELIVERY_ID=", 22) == 0;
}

/* Spawn the command with the payload on stdin; on failure settle. */
static void exec_start(struct notify_send *s, const struct conf_notifier *conf,
                       const struct notify_view *v)
{
    if (conf->argv == NULL || conf->argv[0] == NULL) {
        notify_settle(s, false, "no command configured");
        return;
    }
    struct exec_run *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        notify_settle(s, false, "out of memory");
        return;
    }
    s->state = x;
    char id[32], delivery[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    snprintf(delivery, sizeof(delivery), "%lld", (long long)v->delivery_id);
    bool oom = false;
    char *extra[EXEC_ENV_EXTRA] = {
        env_var("SHIPWATCH_ALERT_ID", id, &oom),
        env_var("SHIPWATCH_ALERT_EVENT", v->event, &oom),
        env_var("SHIPWATCH_ALERT_KIND", v->kind, &oom),
        env_var("SHIPWATCH_ALERT_STATUS", v->status, &oom),
        env_var("SHIPWATCH_ALERT_SEVERITY", v->severity, &oom),
        env_var("SHIPWATCH_ALERT_CHECK", v->check, &oom),
        env_var("SHIPWATCH_ALERT_APP", v->app, &oom),
        env_var("SHIPWATCH_ALERT_ENV", v->env, &oom),
        env_var("SHIPWATCH_ALERT_SUMMARY", v->summary, &oom),
        env_var("SHIPWATCH_DELIVERY_ID", delivery, &oom),
    };
    if (oom) {
        free_vars(extra);
        notify_settle(s, false, "out of memory");
        return;
    }
    /* What the key names, but never one of the alert's names, then the
     * alert's variables. */
    const char *vars[EXEC_ENV_NAMED + EXEC_ENV_EXTRA];
    size_t nvars = 0;
    for (size_t i = 0; i < conf->nenvironment && nvars < EXEC_ENV_NAMED; i++) {
        if (!alert_var(conf->environment[i])) {
            vars[nvars++] = conf->environment[i];
        }
    }
    for (size_t i = 0; i < EXEC_ENV_EXTRA; i++) {
        if (extra[i] != NULL) {
            vars[nvars++] = extra[i];
        }
    }
    const char *env[CHILD_ENV_MAX];
    child_env(vars, nvars, env, CHILD_ENV_MAX);
    /* No descriptor of the daemon's crosses the exec. */
    int rc = child_seal_fds();
    if (rc < 0) {
        free_vars(extra);
        notify_settle(s, false, "seal descriptors: %s", uv_strerror(rc));
        return;
    }

    /* uv_pipe_init cannot fail on Unix; uv_spawn initializes proc even
     * when it fails, so all four are closed from here on. */
    uv_pipe_init(s->loop, &x->in, 0);
    uv_pipe_init(s->loop, &x->out, 0);
    uv_pipe_init(s->loop, &x->err, 0);
    x->pipes_init = true;
    x->in.data = x->out.data = x->err.data = x->proc.data = s;
    x->write.data = s;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&x->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&x->err},
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = conf->argv[0],
        .args = conf->argv,
        .env = (char **)env,
        .stdio = stdio,
        .stdio_count = 3,
        .flags = UV_PROCESS_DETACHED,   /* its own process group, killed as one */
    };
    rc = uv_spawn(s->loop, &x->proc, &opts);
    free_vars(extra);
    if (rc < 0) {
        notify_settle(s, false, "spawn %s: %s", conf->argv[0], uv_strerror(rc));
        return;
    }
    x->spawned = true;
    x->pid = x->proc.pid;

    uv_buf_t buf = uv_buf_init(s->body, (unsigned)s->body_len);
    if (uv_write(&x->write, (uv_stream_t *)&x->in, &buf, 1, on_written) < 0) {
        notify_close_handle(s, (uv_handle_t *)&x->in);
    }
    if (uv_read_start((uv_stream_t *)&x->out, on_alloc, on_output) < 0) {
        x->out_eof = true;
    }
    if (uv_read_start((uv_stream_t *)&x->err, on_alloc, on_output) < 0) {
        x->err_eof = true;
    }
    uv_timer_start(&s->timer, on_exec_timer, (uint64_t)s->timeout_ms, 0);
}

/* Kill the command, or end at once when it has already exited. */
static void exec_cancel(struct notify_send *s)
{
    struct exec_run *x = s->state;
    if (x == NULL || !x->spawned) {
        return;
    }
    if (!x->exited) {
        kill_group(s);
        uv_timer_start(&s->timer, on_exec_timer, KILL_WAIT_MS, 0);
    } else {
        /* Exited, output still draining: end now. */
        exec_settle(s);
    }
}

/* On settle: close the process and its pipes. */
static void exec_close(struct notify_send *s)
{
    struct exec_run *x = s->state;
    if (x != NULL && x->pipes_init) {
        notify_close_handle(s, (uv_handle_t *)&x->proc);
        notify_close_handle(s, (uv_handle_t *)&x->in);
        notify_close_handle(s, (uv_handle_t *)&x->out);
        notify_close_handle(s, (uv_handle_t *)&x->err);
    }
}

/* Once every handle is closed: free the state. */
static void exec_release(struct notify_send *s)
{
    free(s->state);
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of exec notifiers. */
static const struct conf_field exec_rows[] = {
    {.key = "command",
     .type = CONF_ARGV,
     .off = NO(argv),
     .off2 = NO(argc),
     .max = 1024,
     .required = true},
    {.key = "environment",
     .type = CONF_ENV,
     .off = NO(environment),
     .off2 = NO(nenvironment),
     .max = EXEC_ENV_NAMED},
};

static const struct conf_rows exec_conf_rows = CONF_ROWS(exec_rows);

const struct notifier_class notify_exec_class = {
    .name = "exec",
    .needs_url = false,
    .rows = &exec_conf_rows,
    .render = notify_render_payload,
    .start = exec_start,
    .cancel = exec_cancel,
    .close = exec_close,
    .release = exec_release,
};
