/* check_memory.c - memory checks: how much of this host's memory is in use.
 *
 * /proc/meminfo is read on the loop: a page of text procfs makes from
 * kernel counters, no disk behind it (host.h). Used memory is what is not
 * available (MemAvailable: free memory plus what the kernel can reclaim
 * without swapping), as free(1) shows it. Kernels before 3.14 have no
 * MemAvailable: it is then estimated as MemFree + Buffers + Cached +
 * SReclaimable (what procps did then). Without swap, or without its lines
 * (some containers), [SWAP_USED] is 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "host.h"

#define MEMINFO_MAX 8192            /* bytes of /proc/meminfo read (about 1.5 KiB today) */

enum { MEMORY_USED, MEMORY_AVAILABLE, MEMORY_SWAP_USED };

static const struct cond_var memory_vars[] = {
    [MEMORY_USED] = {"[USED]", COND_VAR_NUMBER, "%"},
    [MEMORY_AVAILABLE] = {"[AVAILABLE]", COND_VAR_NUMBER, "B"},
    [MEMORY_SWAP_USED] = {"[SWAP_USED]", COND_VAR_NUMBER, "%"},
};

/* A meminfo field in bytes (the file says kB); 0 when absent. */
static double kib(const char *text, const char *key, bool *found)
{
    double v = 0;
    bool ok = host_field(text, key, &v);
    if (found != NULL) {
        *found = ok;
    }
    return ok ? v * 1024 : 0;
}

/* Read /proc/meminfo: on the loop. */
static void memory_read(struct host_job *j)
{
    char text[MEMINFO_MAX];
    ssize_t n = host_read(j->proc, "meminfo", text, sizeof(text));
    if (n < 0) {
        host_fail_errno(j, (int)-n, "%s/meminfo", j->proc);
        return;
    }
    bool has_total, has_available;
    double total = kib(text, "MemTotal:", &has_total);
    double available = kib(text, "MemAvailable:", &has_available);
    if (!has_total || total <= 0) {
        host_fail(j, "%s/meminfo: no MemTotal", j->proc);
        return;
    }
    if (!has_available) {
        available = kib(text, "MemFree:", NULL) + kib(text, "Buffers:", NULL) +
                    kib(text, "Cached:", NULL) + kib(text, "SReclaimable:", NULL);
    }
    if (available > total) {
        available = total;
    }
    double swap_total = kib(text, "SwapTotal:", NULL);
    double swap_free = kib(text, "SwapFree:", NULL);
    j->vars[MEMORY_USED] = 100.0 * (total - available) / total;
    j->vars[MEMORY_AVAILABLE] = available;
    j->vars[MEMORY_SWAP_USED] =
        swap_total > 0 && swap_free <= swap_total ? 100.0 * (swap_total - swap_free) / swap_total
                                                  : 0;
    char a[32], t[32];
    snprintf(j->message, sizeof(j->message), "%.1f%% used, %s available of %s, swap %.1f%% used",
             j->vars[MEMORY_USED], host_bytes(available, a, sizeof(a)),
             host_bytes(total, t, sizeof(t)), j->vars[MEMORY_SWAP_USED]);
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
