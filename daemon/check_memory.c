/* check_memory.c - memory checks: how much of this host's memory is in use.
 *
 * /proc/meminfo is read on the loop: a page of text procfs makes from
 * kernel counters, no disk behind it (host.h). Used memory is what is not
 * available (MemAvailable: free memory plus what the kernel can reclaim
 * without swapping), as free(1) shows it. Kernels before 3.14 have no
 * MemAvailable: it is then estimated as MemFree + Buffers + Cached +
 * SReclaimable (what procps did then). Without swap, or without its lines
 * (some containers), [SWAP_USED] is 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "host.h"
#include "hoststat.h"

enum { MEMORY_USED, MEMORY_AVAILABLE, MEMORY_SWAP_USED };

static const struct cond_var memory_vars[] = {
    [MEMORY_USED] = {"[USED]", COND_VAR_NUMBER, "%"},
    [MEMORY_AVAILABLE] = {"[AVAILABLE]", COND_VAR_NUMBER, "B"},
    [MEMORY_SWAP_USED] = {"[SWAP_USED]", COND_VAR_NUMBER, "%"},
};

/* Read /proc/meminfo: on the loop. */
static void memory_read(struct host_job *j)
{
    struct hoststat_mem m;
    char text[HOSTSTAT_MEMINFO_MAX];
    ssize_t n = host_read_shared(j, "meminfo", text, sizeof(text));
    int rc = n < 0 ? (int)n : hoststat_meminfo_text(text, &m);
    if (rc == -EINVAL) {
        host_fail(j, "%s/meminfo: no MemTotal", j->proc);
        return;
    }
    if (rc < 0) {
        host_fail_errno(j, -rc, "%s/meminfo", j->proc);
        return;
    }
    j->vars[MEMORY_USED] = 100.0 * (m.total - m.available) / m.total;
    j->vars[MEMORY_AVAILABLE] = m.available;
    j->vars[MEMORY_SWAP_USED] =
        m.swap_total > 0 ? 100.0 * (m.swap_total - m.swap_free) / m.swap_total : 0;
    char a[32], t[32];
    snprintf(j->message, sizeof(j->message), "%.1f%% used, %s available of %s, swap %.1f%% used",
             j->vars[MEMORY_USED], host_bytes(m.available, a, sizeof(a)),
             host_bytes(m.total, t, sizeof(t)), j->vars[MEMORY_SWAP_USED]);
}

static const struct host_ops memory_ops = {.read = memory_read};

/* Begin a memory run. */
static int memory_start(struct check_run *run)
{
    return host_start(run, &memory_ops);
}

/* What is read, for display. */
static void memory_describe(const struct conf_check *cc, char *out, size_t len)
{
    (void)cc;
    snprintf(out, len, "/proc/meminfo");
}

const struct check_type check_memory_type = {
    .name = "memory",
    .kind = CHECK_MEMORY,
    .start = memory_start,
    .cancel = host_job_cancel,
    .describe = memory_describe,
    .vars = memory_vars,
    .nvars = ARRAY_SIZE(memory_vars),
    .default_condition = "[USED] < 90",
};
