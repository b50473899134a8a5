/* host.c - the run of a host check's job, on the loop or the thread pool,
 * and the small readers the host types share. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"
#include "host.h"

#define STAT_HEAD_MAX (64 * 1024)   /* bytes of /proc/stat read for its cpu lines */

enum { HOST_QUEUED, HOST_READING, HOST_DONE, HOST_DROPPED };

/* Reads sent to the thread pool as one work item. */
struct host_batch {
    uv_work_t work;
    size_t n;
    struct host_job *jobs[HOST_BATCH_MAX];
};

struct hostpool {
    uv_timer_t gather;                  /* sends the gathering batch */
    struct host_batch *open;            /* gathering; NULL none */
    bool closed;
};

/* The job is done with: free it once no callback is owed. */
static void release(struct host_job *j)
{
    if (--j->pending > 0) {
        return;
    }
    free(j->body);
    free(j);
}

/* The timer is closed: the run ends (when still the job's). */
static void on_closed(uv_handle_t *h)
{
    struct host_job *j = h->data;
    struct check_run *run = j->run;
    j->run = NULL;
    if (run != NULL) {
        run->priv = NULL;
        check_run_finish(run);
    }
    release(j);
}

/* Give up j's read unless its thread took it already: true when given up
 * (the read will never run). */
static bool drop_read(struct host_job *j)
{
    int queued = HOST_QUEUED;
    return j->working && atomic_compare_exchange_strong(&j->stage, &queued, HOST_DROPPED);
}

/* End the run once: no more callbacks of the timer, the work's facts (if
 * any come later) dropped. */
static void settle(struct host_job *j)
{
    if (j->settled) {
        return;
    }
    j->settled = true;
    drop_read(j);               /* not begun yet: it never will be */
    uv_timer_stop(&j->timer);
    uv_close((uv_handle_t *)&j->timer, on_closed);
}

/* The read is over: hand its facts to the run and end it. */
static void hand_over(struct host_job *j)
{
    struct check_run *run = j->run;
    if (run == NULL || j->settled) {
        return;
    }
    memcpy(run->facts.vars, j->vars, sizeof(run->facts.vars));
    snprintf(run->result.message, sizeof(run->result.message), "%s", j->message);
    if (j->error[0] != '\0') {
        run->result.outcome = STATE_UNKNOWN;
        snprintf(run->result.error, sizeof(run->result.error), "%s", j->error);
    } else if (j->read && j->ops->keep != NULL) {
        j->ops->keep(run->check, j);
    }
    run->body = j->body;
    run->body_len = j->body_len;
    j->body = NULL;
    settle(j);
}

static void on_ready(uv_timer_t *t)
{
    hand_over(t->data);
}

/* A thread reads the batch's jobs in turn, but for those given up. */
static void on_batch_work(uv_work_t *w)
{
    struct host_batch *b = w->data;
    for (size_t i = 0; i < b->n; i++) {
        struct host_job *j = b->jobs[i];
        int queued = HOST_QUEUED;
        if (atomic_compare_exchange_strong(&j->stage, &queued, HOST_READING)) {
            j->ops->read(j);
            j->read = true;
            atomic_store(&j->stage, HOST_DONE);   /* its facts are whole */
        }
    }
}

/* A job's batch came back (read, given up, or never sent). */
static void job_back(struct host_job *j)
{
    j->working = false;
    if (j->stuck_on != NULL) {
        j->stuck_on->stuck = NULL;      /* its check may read again */
        j->stuck_on = NULL;
    }
    hand_over(j);
    release(j);
}

static void on_batch_done(uv_work_t *w, int status)
{
    struct host_batch *b = w->data;
    (void)status;
    for (size_t i = 0; i < b->n; i++) {
        job_back(b->jobs[i]);
    }
    free(b);
}

/* Send b to the thread pool; when it cannot go, its reads fail. */
static void send_batch(uv_loop_t *loop, struct host_batch *b)
{
    b->work.data = b;
    int rc = uv_queue_work(loop, &b->work, on_batch_work, on_batch_done);
    if (rc < 0) {
        for (size_t i = 0; i < b->n; i++) {
            host_fail(b->jobs[i], "thread pool: %s", uv_strerror(rc));
        }
        on_batch_done(&b->work, rc);
    }
}

/* The gathering is over: send the batch. */
static void on_gathered(uv_timer_t *t)
{
    struct hostpool *p = t->data;
    struct host_batch *b = p->open;
    p->open = NULL;
    if (b != NULL) {
        send_batch(t->loop, b);
    }
}

/* Put j in the pool's gathering batch (a new one when none is), or in a
 * batch of its own without a pool. -ENOMEM when no batch can be had. */
static int gather(struct hostpool *p, uv_loop_t *loop, struct host_job *j)
{
    if (p == NULL || p->closed) {
        struct host_batch *b = malloc(sizeof(*b));
        if (b == NULL) {
            return -ENOMEM;
        }
        b->n = 1;
        b->jobs[0] = j;
        send_batch(loop, b);
        return 0;
    }
    if (p->open == NULL) {
        p->open = malloc(sizeof(*p->open));
        if (p->open == NULL) {
            return -ENOMEM;
        }
        p->open->n = 0;
        uv_timer_start(&p->gather, on_gathered, HOST_GATHER_MS, 0);
    }
    p->open->jobs[p->open->n++] = j;
    if (p->open->n == HOST_BATCH_MAX) {
        uv_timer_stop(&p->gather);
        on_gathered(&p->gather);
    }
    return 0;
}

/* Create a pool. */
struct hostpool *hostpool_create(uv_loop_t *loop)
{
    struct hostpool *p = calloc(1, sizeof(*p));
    if (p == NULL || uv_timer_init(loop, &p->gather) < 0) {
        free(p);
        return NULL;
    }
    p->gather.data = p;
    return p;
}

static void on_pool_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Send what gathers and close. */
void hostpool_close(struct hostpool *p)
{
    if (p == NULL || p->closed) {
        return;
    }
    p->closed = true;
    uv_timer_stop(&p->gather);
    on_gathered(&p->gather);
    if (!uv_is_closing((uv_handle_t *)&p->gather)) {
        uv_close((uv_handle_t *)&p->gather, on_pool_closed);
    }
}

/* The check's whole timeout passed without the batch coming back. A read
 * that is done (a read after it in the batch hangs) is handed over as it
 * is; otherwise the run is down without it. A read a thread is in holds
 * the check back until it returns; one given up before it began does not. */
static void on_timeout(uv_timer_t *t)
{
    struct host_job *j = t->data;
    struct check_run *run = j->run;
    char d[32];
    if (atomic_load(&j->stage) == HOST_DONE) {
        hand_over(j);
        return;
    }
    run->result.outcome = STATE_DOWN;
    duration_format(j->timeout_ms, d, sizeof(d));
    if (drop_read(j)) {
        snprintf(run->result.error, sizeof(run->result.error),
                 "timed out after %s before its read began: the reads ahead of it in "
                 "the thread pool are slow (a hung filesystem?)", d);
    } else {
        snprintf(run->result.error, sizeof(run->result.error), "timed out after %s", d);
        if (j->working) {
            j->stuck_on = run->check;
            run->check->stuck = j;
        }
    }
    settle(j);
}

/* A run while the last read is still in its thread: down at once, without
 * a read of its own. */
static void refuse(struct host_job *j, const struct host_job *last)
{
    struct check_run *run = j->run;
    char d[32];
    run->result.outcome = STATE_DOWN;
    snprintf(run->result.error, sizeof(run->result.error),
             "the last read has not returned (started %s ago): a hung filesystem?",
             duration_format(j->now_ms - last->now_ms, d, sizeof(d)));
    uv_timer_start(&j->timer, on_ready, 0, 0);
}

void host_keep_memory(struct check *c, const void *src, size_t n)
{
    if (c->memory == NULL) {
        c->memory = malloc(n);
    }
    if (c->memory != NULL) {
        memcpy(c->memory, src, n);
    }
}

/* The check goes away: the read it waits for must not reach it. */
void host_job_forget(struct check *c)
{
    struct host_job *j = c->stuck;
    if (j != NULL) {
        j->stuck_on = NULL;
        c->stuck = NULL;
    }
}

/* Begin a host run. */
int host_job_start(struct check_run *run, struct host_job *j, const struct host_ops *ops)
{
    const struct check_env *env = run->env;
    j->ops = ops;
    j->run = run;
    j->timeout_ms = run->check->conf->timeout_ms;
    j->now_ms = check_env_now_ms(env);
    j->proc = env->proc_root != NULL ? env->proc_root : "/proc";
    j->real_proc = env->proc_root == NULL;
    for (size_t i = 0; i < COND_VARS_MAX; i++) {
        j->vars[i] = NAN;
    }
    int rc = uv_timer_init(env->loop, &j->timer);
    if (rc < 0) {
        free(j);
        return rc;
    }
    j->timer.data = j;
    j->pending = 1;
    run->priv = j;
    if (!ops->blocking) {
        ops->read(j);
        j->read = true;
        uv_timer_start(&j->timer, on_ready, 0, 0);
        return 0;
    }
    if (run->check->stuck != NULL) {
        refuse(j, run->check->stuck);
        return 0;
    }
    atomic_init(&j->stage, HOST_QUEUED);
    j->pending = 2;
    j->working = true;
    if (gather(env->hostpool, env->loop, j) < 0) {
        j->pending = 1;
        j->working = false;
        host_fail(j, "out of memory for a read");
        uv_timer_start(&j->timer, on_ready, 0, 0);
        return 0;
    }
    /* A batch that could not be sent handed its reads back already. */
    if (!j->settled && j->working) {
        uv_timer_start(&j->timer, on_timeout, (uint64_t)j->timeout_ms, 0);
    }
    return 0;
}

/* Begin a host run with a bare job. */
int host_start(struct check_run *run, const struct host_ops *ops)
{
    struct host_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return -ENOMEM;
    }
    return host_job_start(run, j, ops);
}

/* Abort: the run ends from the timer's close; a read in a thread is left
 * to finish and be freed. */
void host_job_cancel(struct check_run *run)
{
    struct host_job *j = run->priv;
    if (j != NULL) {
        settle(j);
    }
}

/* Set the job's error. */
void host_fail(struct host_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof(j->error), fmt, ap);
    va_end(ap);
}

/* Set the job's error, errno's text after it. strerror_r, not strerror:
 * reads run on the thread pool too. */
void host_fail_errno(struct host_job *j, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(j->error, sizeof(j->error), fmt, ap);
    va_end(ap);
    size_t at = n < 0 ? 0 : (size_t)n < sizeof(j->error) ? (size_t)n : sizeof(j->error) - 1;
    char text[128];
    if (strerror_r(err, text, sizeof(text)) != 0) {
        snprintf(text, sizeof(text), "error %d", err);
    }
    snprintf(j->error + at, sizeof(j->error) - at, ": %s", text);
}

/* Read root/name into buf. */
ssize_t host_read(const char *root, const char *name, char *buf, size_t size)
{
    char path[HOST_PATH_MAX];
    if (name != NULL) {
        snprintf(path, sizeof(path), "%s/%s", root, name);
    } else {
        snprintf(path, sizeof(path), "%s", root);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return -errno;
    }
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The last read of each whole-host file: the loop's alone (host.h). */
#define SHARED_FILES 4
#define SHARED_MAX 8192
static struct {
    const char *name;           /* a literal of the callers; NULL unused */
    size_t size;                /* the size asked for */
    int64_t at_ms;              /* the env's clock when read */
    ssize_t len;                /* host_read's answer */
    char text[SHARED_MAX];
} shared[SHARED_FILES];
static uint64_t shared_reads;

ssize_t host_read_shared(const struct host_job *j, const char *name, char *buf, size_t size)
{
    if (!j->real_proc || size > SHARED_MAX) {
        return host_read(j->proc, name, buf, size);
    }
    size_t i = 0;
    while (i < SHARED_FILES && shared[i].name != NULL &&
           (strcmp(shared[i].name, name) != 0 || shared[i].size != size)) {
        i++;
    }
    if (i == SHARED_FILES) {
        return host_read(j->proc, name, buf, size);
    }
    int64_t age = j->now_ms - shared[i].at_ms;
    if (shared[i].name == NULL || age < 0 || age >= HOST_SHARE_MS) {
        shared[i].name = name;
        shared[i].size = size;
        shared[i].at_ms = j->now_ms;
        shared[i].len = host_read(j->proc, name, shared[i].text, size);
        shared_reads++;
    }
    if (shared[i].len >= 0) {
        memcpy(buf, shared[i].text, (size_t)shared[i].len + 1);
    }
    return shared[i].len;
}

uint64_t host_shared_reads(void)
{
    return shared_reads;
}

/* The start of the line after p's, or NULL at the end. */
static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl != NULL && nl[1] != '\0' ? nl + 1 : NULL;
}

/* The number after key at a line's start. */
bool host_field(const char *text, const char *key, double *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p != NULL; p = next_line(p)) {
        if (strncmp(p, key, kl) == 0) {
            char *end;
            double d = strtod(p + kl, &end);
            if (end == p + kl) {
                return false;
            }
            *out = d;
            return true;
        }
    }
    return false;
}

/* The host's uptime. */
int host_uptime(const char *root, double *out)
{
    char text[128];
    ssize_t n = host_read(root, "uptime", text, sizeof(text));
    if (n < 0) {
        return (int)n;
    }
    return sscanf(text, "%lf", out) == 1 ? 0 : -EINVAL;
}

/* The cpuN lines of root/stat. */
int host_cpus(const char *root)
{
    char *buf = malloc(STAT_HEAD_MAX);
    if (buf == NULL) {
        return 0;
    }
    int n = 0;
    if (host_read(root, "stat", buf, STAT_HEAD_MAX) > 0) {
        for (const char *p = buf; p != NULL && strncmp(p, "cpu", 3) == 0; p = next_line(p)) {
            n += p[3] >= '0' && p[3] <= '9';
        }
    }
    free(buf);
    return n;
}

/* An extended regular expression. */
const char *host_valid_regex(const char *s)
{
    regex_t re;
    if (strlen(s) >= HOST_REGEX_MAX) {
        return "regular expression too long";
    }
    if (regcomp(&re, s, REG_EXTENDED | REG_NOSUB) != 0) {
        return "not a valid extended regular expression";
    }
    regfree(&re);
    return NULL;
}

/* Bytes for people. */
const char *host_bytes(double bytes, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

/* The path, for display. */
void host_describe_path(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "%s", cc->path != NULL ? cc->path : "");
}

/* An absolute path. */
const char *host_valid_path(const char *s)
{
    if (s[0] != '/') {
        return "must be an absolute path";
    }
    return conf_valid_path(s);
}
