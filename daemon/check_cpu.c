/* check_cpu.c - CPU checks: how busy this host's CPUs were over the last
 * interval.
 *
 * The first line of /proc/stat holds the time all CPUs spent in each state
 * since boot, in clock ticks; a run reads it on the loop (procfs, no disk:
 * host.h) and compares it with the previous run's, kept on the check.
 * [USED] is the time neither idle nor waiting for I/O, so it includes time
 * stolen by a hypervisor (htop's bar does the same), which [STEAL] shows on
 * its own. The first run has no previous reading: it reports the shares
 * since boot, as vmstat's first line does. So does a run within the same
 * clock tick as the last, which keeps the last one's reading for the next
 * run to compare with. Kernels older than 2.6.11 list fewer states:
 * a state the line lacks counts as 0 ([STEAL] 0 before 2.6.11, [IOWAIT] 0
 * before 2.5.41). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "host.h"

#define STAT_LINE_MAX 512           /* the first line: "cpu  " and ten numbers */

enum { CPU_USED, CPU_IOWAIT, CPU_STEAL };

static const struct cond_var cpu_vars[] = {
    [CPU_USED] = {"[USED]", COND_VAR_NUMBER, "%"},
    [CPU_IOWAIT] = {"[IOWAIT]", COND_VAR_NUMBER, "%"},
    [CPU_STEAL] = {"[STEAL]", COND_VAR_NUMBER, "%"},
};

/* The states of /proc/stat's cpu line, in its order; guest time is part of
 * user and nice already, so it is not read. */
enum { ST_USER, ST_NICE, ST_SYSTEM, ST_IDLE, ST_IOWAIT, ST_IRQ, ST_SOFTIRQ, ST_STEAL, ST_N };

/* One reading of the cpu line (the check's memory between runs). */
struct cpu_sample {
    unsigned long long ticks[ST_N];
    bool set;
};

struct cpu_job {
    struct host_job job;
    struct cpu_sample prev;             /* the last run's; set false: none */
    struct cpu_sample now;
};

/* Read the cpu line into s; false when it is not there. */
static bool parse_cpu_line(const char *text, struct cpu_sample *s)
{
    if (strncmp(text, "cpu ", 4) != 0) {
        return false;
    }
    memset(s, 0, sizeof(*s));
    const char *p = text + 4;
    for (int i = 0; i < ST_N; i++) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\n' && *end != '\0')) {
            break;              /* an older kernel's shorter line: the rest is 0 */
        }
        s->ticks[i] = v;
        p = end;
    }
    s->set = true;
    return true;
}

/* The ticks of each state from before (NULL: boot) to now into d; their
 * sum. A counter that went back counts 0. */
static double share_out(const struct cpu_sample *now, const struct cpu_sample *before,
                        double d[ST_N])
{
    double total = 0;
    for (int i = 0; i < ST_N; i++) {
        unsigned long long b = before != NULL ? before->ticks[i] : 0;
        d[i] = now->ticks[i] >= b ? (double)(now->ticks[i] - b) : 0;
        total += d[i];
    }
    return total;
}

/* Read /proc/stat's cpu line and share out the ticks since the last run:
 * on the loop. */
static void cpu_read(struct host_job *j)
{
    struct cpu_job *c = (struct cpu_job *)j;
    char text[STAT_LINE_MAX];
    ssize_t n = host_read(j->proc, "stat", text, sizeof(text));
    if (n < 0) {
        host_fail_errno(j, (int)-n, "%s/stat", j->proc);
        return;
    }
    if (!parse_cpu_line(text, &c->now)) {
        host_fail(j, "%s/stat: no cpu line", j->proc);
        return;
    }
    double d[ST_N];
    bool delta = c->prev.set;
    double total = share_out(&c->now, delta ? &c->prev : NULL, d);
    if (total <= 0 && delta) {
        delta = false;          /* the same tick as the last run: since boot */
        total = share_out(&c->now, NULL, d);
        c->now = c->prev;       /* and the next run compares with the last one */
    }
    if (total <= 0) {
        host_fail(j, "%s/stat: no CPU time counted", j->proc);
        return;
    }
    j->vars[CPU_USED] = 100.0 * (total - d[ST_IDLE] - d[ST_IOWAIT]) / total;
    j->vars[CPU_IOWAIT] = 100.0 * d[ST_IOWAIT] / total;
    j->vars[CPU_STEAL] = 100.0 * d[ST_STEAL] / total;
    snprintf(j->message, sizeof(j->message), "%.1f%% used, %.1f%% iowait, %.1f%% steal%s",
             j->vars[CPU_USED], j->vars[CPU_IOWAIT], j->vars[CPU_STEAL],
             delta ? "" : " since boot");
}

/* Keep this run's reading for the next. */
static void cpu_keep(struct check *c, const struct host_job *j)
{
    if (c->memory == NULL) {
        c->memory = calloc(1, sizeof(struct cpu_sample));
    }
    if (c->memory != NULL) {
        memcpy(c->memory, &((const struct cpu_job *)j)->now, sizeof(struct cpu_sample));
    }
}

static const struct host_ops cpu_ops = {.read = cpu_read, .keep = cpu_keep};

/* Begin a CPU run with the last run's reading. */
static int cpu_start(struct check_run *run)
{
    struct cpu_job *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    if (run->check->memory != NULL) {
        memcpy(&c->prev, run->check->memory, sizeof(c->prev));
    }
    return host_job_start(run, &c->job, &cpu_ops);
}

/* What is read, for display. */
static void cpu_describe(const struct conf_check *cc, char *out, size_t len)
{
    (void)cc;
    snprintf(out, len, "/proc/stat");
}

const struct check_type check_cpu_type = {
    .name = "cpu",
    .kind = CHECK_CPU,
    .start = cpu_start,
    .cancel = host_job_cancel,
    .describe = cpu_describe,
    .vars = cpu_vars,
    .nvars = ARRAY_SIZE(cpu_vars),
    .default_condition = "[USED] < 95",
};
