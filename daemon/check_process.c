/* check_process.c - process checks: whether a program runs, how many of
 * it, what it costs, and how often it was restarted.
 *
 * A run walks /proc on the thread pool (many processes make many reads;
 * none should hold the loop), at most PROCESS_SCAN_MAX entries of it. A
 * process is found by an extended regular expression on its command line
 * (its arguments joined by spaces; a kernel thread's is its name in
 * brackets, as ps shows it), or by the pid in a pidfile. Zombies do not
 * count. A process that exits between the walk and the read of its files
 * is skipped: it is no longer there.
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
#include <dirent.h>
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

#define PROCESS_SCAN_MAX 32768          /* /proc entries looked at, a run */
#define PROCESS_TRACK_MAX 256           /* matches remembered across runs */
#define CMDLINE_MAX 4096                /* bytes of a command line matched */
#define PROC_STAT_MAX 1024              /* /proc/PID/stat, and a pidfile */

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
};

/* What a run adds up. */
struct tally {
    double count, cpu_s, rss, oldest_s;
    long hz;
    long page;
};

/* The fields of /proc/PID/stat a run reads. */
struct pstat {
    char state;
    unsigned long long ticks, start;
    long long rss_pages;
};

/* Parse /proc/PID/stat: the name in parentheses may hold anything, so
 * the fields are counted from its last ')'. */
static bool parse_stat(const char *text, struct pstat *ps, char *comm, size_t commlen)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    if (open == NULL || close == NULL || close < open) {
        return false;
    }
    snprintf(comm, commlen, "[%.*s]", (int)(close - open - 1), open + 1);
    unsigned long long utime, stime;
    /* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
    int n = sscanf(close + 1,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d"
                   " %*d %llu %*u %lld",
                   &ps->state, &utime, &stime, &ps->start, &ps->rss_pages);
    ps->ticks = utime + stime;
    return n == 5;
}

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

/* Count process pid (its stat read into ps) as a match: its share of the
 * interval's CPU, its memory, its age; remember it in now. */
static void add_match(struct process_job *p, struct tally *t, int pid, const struct pstat *ps,
                      double uptime_s, struct process_memory *now)
{
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
    if (was == NULL && prev->set) {
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

/* Read root/PID/name into buf; false when the process is gone. */
static bool read_pid_file(const char *root, int pid, const char *name, char *buf, size_t size,
                          ssize_t *len)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "%d/%s", pid, name);
    *len = host_read(root, rel, buf, size);
    return *len >= 0;
}

/* Look at process pid: (with a regex) its command line first, so most
 * processes cost one read; then its stat. */
static void look_at(struct process_job *p, struct tally *t, int pid, const regex_t *re,
                    double uptime_s, struct process_memory *now)
{
    char cmd[CMDLINE_MAX], stat[PROC_STAT_MAX], comm[64];
    ssize_t n = 0, ns;
    struct pstat ps;
    if (re != NULL && !read_pid_file(p->job.proc, pid, "cmdline", cmd, sizeof(cmd), &n)) {
        return;                 /* gone since the walk */
    }
    for (ssize_t i = 0; i < n; i++) {
        cmd[i] = cmd[i] == '\0' ? ' ' : cmd[i];
    }
    while (n > 0 && cmd[n - 1] == ' ') {
        cmd[--n] = '\0';
    }
    if (re != NULL && n > 0 && regexec(re, cmd, 0, NULL, 0) != 0) {
        return;
    }
    if (!read_pid_file(p->job.proc, pid, "stat", stat, sizeof(stat), &ns) ||
        !parse_stat(stat, &ps, comm, sizeof(comm)) || ps.state == 'Z') {
        return;                 /* gone meanwhile, unreadable, or a zombie */
    }
    /* No command line: a kernel thread (or a zombie), known by its name. */
    if (re != NULL && n == 0 && regexec(re, comm, 0, NULL, 0) != 0) {
        return;
    }
    add_match(p, t, pid, &ps, uptime_s, now);
}

/* Walk /proc for the processes the regex matches; false when the walk
 * stopped at PROCESS_SCAN_MAX. */
static bool walk(struct process_job *p, struct tally *t, const regex_t *re, double uptime_s,
                 struct process_memory *now)
{
    DIR *dir = opendir(p->job.proc);
    if (dir == NULL) {
        host_fail_errno(&p->job, errno, "%s", p->job.proc);
        return true;
    }
    size_t looked = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0])) {
            continue;
        }
        if (++looked > PROCESS_SCAN_MAX) {
            closedir(dir);
            return false;
        }
        look_at(p, t, atoi(de->d_name), re, uptime_s, now);
    }
    closedir(dir);
    return true;
}

/* The pid a pidfile names; 0 when it names none, -1 when it is not there. */
static int read_pidfile(struct process_job *p)
{
    char text[PROC_STAT_MAX];
    ssize_t n = host_read(p->pidfile, NULL, text, sizeof(text));
    if (n < 0) {
        return -1;
    }
    char *end;
    long pid = strtol(text, &end, 10);
    return pid > 0 && pid < 1L << 22 && (*end == '\0' || isspace((unsigned char)*end)) ? (int)pid
                                                                                       : 0;
}

/* Find the matches and add them up: in a thread. */
static void process_read(struct host_job *j)
{
    struct process_job *p = (struct process_job *)j;
    char text[128];
    double uptime_s;
    ssize_t n = host_read(j->proc, "uptime", text, sizeof(text));
    if (n < 0 || sscanf(text, "%lf", &uptime_s) != 1) {
        host_fail_errno(j, n < 0 ? (int)-n : EINVAL, "%s/uptime", j->proc);
        return;
    }
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
    now->uptime_s = uptime_s;
    now->restarts = p->mem.restarts;
    bool whole = true;
    const char *what = p->match;
    if (p->pidfile[0] != '\0') {
        int pid = read_pidfile(p);
        what = p->pidfile;
        if (pid > 0) {
            look_at(p, &t, pid, NULL, uptime_s, now);
        } else if (pid == 0) {
            host_fail(j, "pidfile %s: no pid in it", p->pidfile);
        }
    } else {
        regex_t re;
        if (regcomp(&re, p->match, REG_EXTENDED | REG_NOSUB) != 0) {
            host_fail(j, "match: not a valid extended regular expression");
        } else {
            whole = walk(p, &t, &re, uptime_s, now);
            regfree(&re);
        }
    }
    if (j->error[0] == '\0') {
        j->vars[PROCESS_COUNT] = t.count;
        j->vars[PROCESS_CPU] = 100.0 * t.cpu_s;
        j->vars[PROCESS_RSS] = t.rss;
        j->vars[PROCESS_UPTIME] = t.count > 0 ? t.oldest_s * 1000 : NAN;
        j->vars[PROCESS_RESTARTS] = (double)now->restarts;
        char b[32], d[32], cut[48] = "";
        if (!whole) {
            snprintf(cut, sizeof(cut), " (first %d processes)", PROCESS_SCAN_MAX);
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
    if (c->memory == NULL) {
        c->memory = malloc(sizeof(struct process_memory));
    }
    if (c->memory != NULL) {
        memcpy(c->memory, &((const struct process_job *)j)->mem, sizeof(struct process_memory));
    }
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
