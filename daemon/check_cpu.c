/* check_cpu.c - CPU checks: how busy this host's CPUs were over the last
 * interval.
 *
 * The first line of /proc/stat holds the time all CPUs spent in each state
 * since boot, in clock ticks; a run reads it on the loop (procfs, no disk:
 * host.h; shared with the checks of the same 100 ms, host_read_shared) and
 * compares it with the previous run's, kept on the check.
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
#include "hoststat.h"

#define STAT_LINE_MAX 512           /* the first line: "cpu  " and ten numbers */

enum { CPU_USED, CPU_IOWAIT, CPU_STEAL };

static const struct cond_var cpu_vars[] = {
    [CPU_USED] = {"[USED]", COND_VAR_NUMBER, "%"},
    [CPU_IOWAIT] = {"[IOWAIT]", COND_VAR_NUMBER, "%"},
    [CPU_STEAL] = {"[STEAL]", COND_VAR_NUMBER, "%"},
};

/* One reading of the cpu line (the check's memory between runs). */
struct cpu_sample {
    struct hoststat_cpu cpu;
};

struct cpu_job {
    struct host_job job;
    struct cpu_sample prev;             /* the last run's; set false: none */
    struct cpu_sample now;
};

/* Read /proc/stat's cpu line and share out the ticks since the last run:
 * on the loop. */
static void cpu_read(struct host_job *j)
{
    struct cpu_job *c = (struct cpu_job *)j;
    char text[STAT_LINE_MAX];
    ssize_t n = host_read_shared(j, "stat", text, sizeof(text));
    if (n < 0) {
        host_fail_errno(j, (int)-n, "%s/stat", j->proc);
        return;
    }
    int id;
    if (!hoststat_cpu_line(text, &id, &c->now.cpu) || id != -1) {
        host_fail(j, "%s/stat: no cpu line", j->proc);
        return;
    }
    struct hoststat_cpu_pct pct;
    bool delta = c->prev.cpu.set;
    bool counted = hoststat_cpu_share(&c->now.cpu, delta ? &c->prev.cpu : NULL, &pct);
    if (!counted && delta) {
        delta = false;          /* the same tick as the last run: since boot */
        counted = hoststat_cpu_share(&c->now.cpu, NULL, &pct);
        c->now = c->prev;       /* and the next run compares with the last one */
    }
    if (!counted) {
        host_fail(j, "%s/stat: no CPU time counted", j->proc);
        return;
    }
    j->vars[CPU_USED] = pct.used;
    j->vars[CPU_IOWAIT] = pct.iowait;
    j->vars[CPU_STEAL] = pct.steal;
    snprintf(j->message, sizeof(j->message), "%.1f%% used, %.1f%% iowait, %.1f%% steal%s",
             j->vars[CPU_USED], j->vars[CPU_IOWAIT], j->vars[CPU_STEAL],
             delta ? "" : " since boot");
}

/* Keep this run's reading for the next. */
static void cpu_keep(struct check *c, const struct host_job *j)
{
    host_keep_memory(c, &((const struct cpu_job *)j)->now, sizeof(struct cpu_sample));
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
