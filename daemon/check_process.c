/* check_process.c - process checks: whether a program runs, how many of
 * it, what it costs, and how often it was restarted.
 *
 * A run reads the process table (proctab.h: one walk of /proc on the
 * thread pool, shared by the process checks that ask within a second, at
 * most 32768 processes) and matches an extended regular expression
 * against each command line (its arguments joined by spaces; a kernel
 * thread's is its name in brackets, as ps shows it); or it reads the one
 * process a pidfile names. Zombies do not count; a process that exits
 * while the table is read is not in it.
 *
 * The check keeps what it saw of each match (pid, start time, CPU ticks)
 * for the next run, so [CPU] is the CPU time the matches used over the
 * last interval, in percent of one core, and [RESTARTS] counts the
 * matches that appeared after the first run: a new pid, or a pid reused
 * by a new process. The first run has no earlier reading: its [CPU] is
 * each match's average over its life, as ps shows %CPU. At most
 * PROCESS_TRACK_MAX matches are kept; others count in [COUNT], [RSS] and
 * [CPU] (by their life's average) but not in [RESTARTS]. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config_rows.h"
#include "duration.h"
#include "host.h"
#include "proctab.h"

#define PROCESS_TRACK_MAX 256           /* matches remembered across runs */
#define PIDFILE_MAX 128                 /* bytes of a pidfile read */

enum { PROCESS_COUNT, PROCESS_CPU, PROCESS_RSS, PROCESS_UPTIME, PROCESS_RESTARTS };

static const struct cond_var process_vars[] = {
    [PROCESS_COUNT] = {"[COUNT]", COND_VAR_NUMBER, ""},
    [PROCESS_CPU] = {"[CPU]", COND_VAR_NUMBER, "%"},
    [PROCESS_RSS] = {"[RSS]", COND_VAR_NUMBER, "B"},
    [PROCESS_UPTIME] = {"[UPTIME]", COND_VAR_MS, "ms"},
    [PROCESS_RESTARTS] = {"[RESTARTS]", COND_VAR_NUMBER, ""},
};

/* One match as a run saw it. */
struct seen {
    int pid;
    unsigned long long start;           /* ticks after boot: with pid, who it is */
    unsigned long long ticks;           /* user + system CPU ticks so far */
};

/* What the check keeps between runs (check->memory). */
struct process_memory {
    bool set;                           /* a run has been kept */
    double uptime_s;                    /* the host's uptime at that run */
    unsigned long long restarts;
    size_t n;
    struct seen seen[PROCESS_TRACK_MAX];
};

struct process_job {
    struct host_job job;
    char match[HOST_REGEX_MAX];         /* the regex; "" with a pidfile */
    char pidfile[HOST_PATH_MAX];        /* "" with a match */
    struct process_memory mem;          /* the last run's in, this run's out */
    struct proctab *tab;                /* the shared table; NULL: its own */
};

/* What a run adds up. */
struct tally {
    double count, cpu_s, rss, oldest_s;
    long hz;
    long page;
};

/* The last run's record of pid with start, or NULL. */
static const struct seen *seen_before(const struct process_memory *m, int pid,
                                      unsigned long long start)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->seen[i].pid == pid && m->seen[i].start == start) {
            return &m->seen[i];
        }
    }
    return NULL;
}

/* Count process ps as a match: its share of the interval's CPU, its
 * memory, its age; remember it in now. */
static void add_match(struct process_job *p, struct tally *t, const struct proctab_entry *ps,
                      double uptime_s, struct process_memory *now)
{
    int pid = ps->pid;
    const struct process_memory *prev = &p->mem;
    double age_s = uptime_s - (double)ps->start / (double)t->hz;
    const struct seen *was = prev->set ? seen_before(prev, pid, ps->start) : NULL;
    if (was != NULL && uptime_s > prev->uptime_s) {
        unsigned long long d = ps->ticks >= was->ticks ? ps->ticks - was->ticks : 0;
        t->cpu_s += (double)d / (double)t->hz / (uptime_s - prev->uptime_s);
    } else if (prev->set && uptime_s > prev->uptime_s && age_s < uptime_s - prev->uptime_s) {
        /* Started within the interval: all its time is the interval's. */
        t->cpu_s += (double)ps->ticks / (double)t->hz / (uptime_s - prev->uptime_s);
    } else if (age_s > 0) {
        t->cpu_s += (double)ps->ticks / (double)t->hz / age_s;  /* its life's average */
    }
    /* New since the last run; unless that run could not remember them all. */
    if (was == NULL && prev->set && prev->n < PROCESS_TRACK_MAX) {
        now->restarts++;
    }
    t->count++;
    t->rss += (double)(ps->rss_pages > 0 ? ps->rss_pages : 0) * (double)t->page;
    if (age_s > t->oldest_s) {
        t->oldest_s = age_s;
    }
    if (now->n < PROCESS_TRACK_MAX) {
        now->seen[now->n++] = (struct seen){.pid = pid, .start = ps->start, .ticks = ps->ticks};
    }
}

/* Count the processes of the table whose command line re matches. */
static void match_table(struct process_job *p, struct tally *t, const regex_t *re,
                        const struct proctab_table *tb, struct process_memory *now)
{
    for (size_t i = 0; i < tb->n; i++) {
        if (regexec(re, tb->entries[i].cmdline, 0, NULL, 0) == 0) {
            add_match(p, t, &tb->entries[i], tb->uptime_s, now);
        }
    }
}

/* The pid a pidfile names; 0 when it names none, -1 when it is not there. */
static int read_pidfile(struct process_job *p)
{
    char text[PIDFILE_MAX];
    ssize_t n = host_read(p->pidfile, NULL, text, sizeof(text));
    if (n < 0) {
        return -1;
    }
    char *end;
    long pid = strtol(text, &end, 10);
    return pid > 0 && pid < 1L << 22 && (*end == '\0' || isspace((unsigned char)*end)) ? (int)pid
                                                                                       : 0;
}

/* The process a pidfile names, when it runs: into t. */
static void read_by_pidfile(struct process_job *p, struct tally *t, struct process_memory *now)
{
    struct host_job *j = &p->job;
    char cmd[PROCTAB_CMDLINE_MAX];
    struct proctab_entry e;
    int rc = host_uptime(j->proc, &now->uptime_s);
    int pid = rc == 0 ? read_pidfile(p) : -1;
    if (rc < 0) {
        host_fail_errno(j, -rc, "%s/uptime", j->proc);
    } else if (pid == 0) {
        host_fail(j, "pidfile %s: no pid in it", p->pidfile);
    } else if (pid > 0 && proctab_read_pid(j->proc, pid, &e, cmd, sizeof(cmd)) == 0) {
        add_match(p, t, &e, now->uptime_s, now);
    }
}

/* The processes whose command line matches: into t; false when the table
 * was cut at PROCTAB_SCAN_MAX. */
static bool read_by_match(struct process_job *p, struct tally *t, struct process_memory *now)
{
    struct host_job *j = &p->job;
    regex_t re;
    const struct proctab_table *tb;
    if (regcomp(&re, p->match, REG_EXTENDED | REG_NOSUB) != 0) {
        host_fail(j, "match: not a valid extended regular expression");
        return true;
    }
    int rc = proctab_get(p->tab, j->proc, p->mem.set ? p->mem.uptime_s : 0, &tb);
    if (rc < 0) {
        host_fail_errno(j, -rc, "%s", j->proc);
        regfree(&re);
        return true;
    }
    now->uptime_s = tb->uptime_s;
    match_table(p, t, &re, tb, now);
    bool whole = tb->whole;
    proctab_put(p->tab, tb);
    regfree(&re);
    return whole;
}

/* Find the matches and add them up: in a thread. */
static void process_read(struct host_job *j)
{
    struct process_job *p = (struct process_job *)j;
    struct tally t = {.hz = sysconf(_SC_CLK_TCK), .page = sysconf(_SC_PAGESIZE)};
    t.hz = t.hz > 0 ? t.hz : 100;
    t.page = t.page > 0 ? t.page : 4096;
    /* now is this run's record: it starts from the kept restarts. */
    struct process_memory *now = calloc(1, sizeof(*now));
    if (now == NULL) {
        host_fail_errno(j, ENOMEM, "processes");
        return;
    }
    now->set = true;
    now->restarts = p->mem.restarts;
    bool pidfile = p->pidfile[0] != '\0';
    const char *what = pidfile ? p->pidfile : p->match;
    bool whole = true;
    if (pidfile) {
        read_by_pidfile(p, &t, now);
    } else {
        whole = read_by_match(p, &t, now);
    }
    if (j->error[0] == '\0') {
        j->vars[PROCESS_COUNT] = t.count;
        j->vars[PROCESS_CPU] = 100.0 * t.cpu_s;
        j->vars[PROCESS_RSS] = t.rss;
        j->vars[PROCESS_UPTIME] = t.count > 0 ? t.oldest_s * 1000 : NAN;
        j->vars[PROCESS_RESTARTS] = (double)now->restarts;
        char b[32], d[32], cut[48] = "";
        if (!whole) {
            snprintf(cut, sizeof(cut), " (first %d processes)", PROCTAB_SCAN_MAX);
        }
        if (t.count == 0) {
            snprintf(j->message, sizeof(j->message), "no process matching %s%s", what, cut);
        } else {
            snprintf(j->message, sizeof(j->message),
                     "%.0f matching %s: %.1f%% CPU, %s RSS, up %s%s", t.count, what,
                     j->vars[PROCESS_CPU], host_bytes(t.rss, b, sizeof(b)),
                     duration_format((int64_t)(t.oldest_s * 1000), d, sizeof(d)), cut);
        }
        p->mem = *now;
    }
    free(now);
}

/* Keep this run's record for the next. */
static void process_keep(struct check *c, const struct host_job *j)
{
    host_keep_memory(c, &((const struct process_job *)j)->mem, sizeof(struct process_memory));
}

static const struct host_ops process_ops = {
    .read = process_read, .keep = process_keep, .blocking = true};

/* Begin a process run with the last run's record. */
static int process_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct process_job *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    snprintf(p->match, sizeof(p->match), "%s", c->match != NULL ? c->match : "");
    snprintf(p->pidfile, sizeof(p->pidfile), "%s", c->pidfile != NULL ? c->pidfile : "");
    p->tab = run->env->proctab;
    if (run->check->memory != NULL) {
        memcpy(&p->mem, run->check->memory, sizeof(p->mem));
    }
    return host_job_start(run, &p->job, &process_ops);
}

/* The pattern or the pidfile, for display. */
static void process_describe(const struct conf_check *cc, char *out, size_t len)
{
    const char *what = cc->pidfile != NULL ? cc->pidfile : cc->match;
    snprintf(out, len, "%s", what != NULL ? what : "");
}

/* One of match and pidfile, not both. */
static const char *process_invalid(const struct conf_check *cc)
{
    if ((cc->match == NULL) == (cc->pidfile == NULL)) {
        return "a process check needs match or pidfile, one of them";
    }
    return NULL;
}

/* Keys only process checks take. */
static const struct conf_field process_rows[] = {
    {.key = "match", .type = CONF_STR, .off = offsetof(struct conf_check, match),
     .valid = host_valid_regex},
    {.key = "pidfile", .type = CONF_STR, .off = offsetof(struct conf_check, pidfile),
     .valid = host_valid_path},
};

static const struct conf_rows process_conf_rows = CONF_ROWS(process_rows);

const struct check_type check_process_type = {
    .name = "process",
    .kind = CHECK_PROCESS,
    .start = process_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .describe = process_describe,
    .invalid = process_invalid,
    .rows = &process_conf_rows,
    .vars = process_vars,
    .nvars = ARRAY_SIZE(process_vars),
    .default_condition = "[COUNT] > 0",
};
