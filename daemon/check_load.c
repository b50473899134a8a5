/* check_load.c - load checks: the load averages, whole and per CPU.
 *
 * /proc/loadavg and the head of /proc/stat (its cpuN lines, for the CPU
 * count) are read on the loop: procfs makes both from kernel counters
 * without a disk (host.h). The count is of the CPUs the kernel lists, so
 * a per-CPU load compares hosts of any size; when /proc/stat cannot be
 * read, the CPUs online (sysconf) stand in. The count is the check's
 * memory, read again every LOAD_CPUS_MS: the head of /proc/stat is most of
 * a run's cost, and CPUs come and go seldom. In a container both files are
 * usually the host's: so is the load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config_rows.h"
#include "host.h"
#include "hoststat.h"

#define LOAD_CPUS_MS 60000   /* the CPU count is read again after this long */

enum { LOAD1, LOAD5, LOAD15, LOAD1_PER_CPU, LOAD5_PER_CPU, LOAD15_PER_CPU };

static const struct cond_var load_vars[] = {
    [LOAD1] = {"[LOAD1]", COND_VAR_NUMBER, ""},
    [LOAD5] = {"[LOAD5]", COND_VAR_NUMBER, ""},
    [LOAD15] = {"[LOAD15]", COND_VAR_NUMBER, ""},
    [LOAD1_PER_CPU] = {"[LOAD1_PER_CPU]", COND_VAR_NUMBER, ""},
    [LOAD5_PER_CPU] = {"[LOAD5_PER_CPU]", COND_VAR_NUMBER, ""},
    [LOAD15_PER_CPU] = {"[LOAD15_PER_CPU]", COND_VAR_NUMBER, ""},
};

/* The CPU count a check keeps between runs. */
struct load_cpus {
    int cpus;
    int64_t counted_ms;
};

struct load_job {
    struct host_job job;
    struct load_cpus cpus;              /* cpus 0: count them this run */
};

/* Read /proc/loadavg, and count the CPUs when the kept count is old: on
 * the loop. */
static void load_read(struct host_job *j)
{
    struct load_job *l = (struct load_job *)j;
    double avg[3];
    char text[HOSTSTAT_LOADAVG_MAX];
    ssize_t n = host_read_shared(j, "loadavg", text, sizeof(text));
    int rc = n < 0 ? (int)n : hoststat_loadavg_text(text, avg);
    if (rc == -EINVAL) {
        host_fail(j, "%s/loadavg: not three load averages", j->proc);
        return;
    }
    if (rc < 0) {
        host_fail_errno(j, -rc, "%s/loadavg", j->proc);
        return;
    }
    if (l->cpus.cpus <= 0) {
        l->cpus.cpus = host_cpus(j->proc);
        if (l->cpus.cpus <= 0) {
            long online = sysconf(_SC_NPROCESSORS_ONLN);
            l->cpus.cpus = online > 0 ? (int)online : 1;
        }
        l->cpus.counted_ms = j->now_ms;
    }
    int cpus = l->cpus.cpus;
    for (int i = 0; i < 3; i++) {
        j->vars[LOAD1 + i] = avg[i];
        j->vars[LOAD1_PER_CPU + i] = avg[i] / cpus;
    }
    snprintf(j->message, sizeof(j->message), "load %.2f %.2f %.2f on %d CPU%s", avg[0], avg[1],
             avg[2], cpus, cpus == 1 ? "" : "s");
}

/* Keep the CPU count for the next runs. */
static void load_keep(struct check *c, const struct host_job *j)
{
    host_keep_memory(c, &((const struct load_job *)j)->cpus, sizeof(struct load_cpus));
}

static const struct host_ops load_ops = {.read = load_read, .keep = load_keep};

/* Begin a load run with the CPU count kept, unless it is old. */
static int load_start(struct check_run *run)
{
    struct load_job *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    const struct load_cpus *kept = run->check->memory;
    if (kept != NULL && check_env_now_ms(run->env) - kept->counted_ms < LOAD_CPUS_MS) {
        l->cpus = *kept;
    }
    return host_job_start(run, &l->job, &load_ops);
}

/* What is read, for display. */
static void load_describe(const struct conf_check *cc, char *out, size_t len)
{
    (void)cc;
    snprintf(out, len, "/proc/loadavg");
}

const struct check_type check_load_type = {
    .name = "load",
    .kind = CHECK_LOAD,
    .start = load_start,
    .cancel = host_job_cancel,
    .describe = load_describe,
    .vars = load_vars,
    .nvars = ARRAY_SIZE(load_vars),
    .default_condition = "[LOAD5_PER_CPU] < 2",
};
