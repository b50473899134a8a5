/* hostmon.c - one sample of the host a second, read on the thread pool.
 *
 * Two readings alternate: the newest complete one, which the sample's
 * strings point into, and the one being read (written by the thread only
 * while a read is in flight). What the thread keeps across reads (each
 * process's CPU ticks, for its share of the interval) is the thread's
 * while a read is out and the loop's otherwise. */
#include "hostmon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "host.h"
#include "hoststat.h"
#include "log.h"
#include "proctab.h"
#include "util.h"

#define STAT_MAX (128 * 1024)   /* bytes of /proc/stat read: 256 cpu lines fit */
#define CMD_MAX 128             /* bytes of a command line in a sample */

/* A process of a top list, as read. */
struct top {
    int pid;
    char cmd[CMD_MAX];
    double cores;               /* CPU over the interval, in CPUs */
    double rss;                 /* bytes */
};

/* A process as the last read saw it, for its share of the next interval. */
struct seen {
    int pid;
    unsigned long long start;
    unsigned long long ticks;
};

/* What one read found. */
struct reading {
    int64_t mono_ms;
    int64_t wall_ms;
    double uptime_s;            /* < 0 unknown */
    bool has_cpu;
    struct hoststat_cpu total;
    int cpu_ids[IPC_HOST_CPUS_MAX];
    struct hoststat_cpu cpus[IPC_HOST_CPUS_MAX];
    size_t ncpus;
    int cpu_count;
    bool has_mem;
    struct hoststat_mem mem;
    bool has_load;
    double load[3];
    int nnets;                  /* < 0 unreadable */
    struct hoststat_net nets[IPC_HOST_NETS_MAX];
    int ndisks;                 /* < 0 unreadable */
    struct hoststat_mount mounts[IPC_HOST_DISKS_MAX];
    struct hoststat_fs fs[IPC_HOST_DISKS_MAX];
    long procs;                 /* < 0 unreadable */
    struct top top_cpu[IPC_HOST_PROCS_MAX];
    size_t ntop_cpu;
    struct top top_rss[IPC_HOST_PROCS_MAX];
    size_t ntop_rss;
    int64_t cpu_us;             /* what the read cost the thread */
};

struct hostmon {
    uv_loop_t *loop;
    char *root;
    char *node;
    struct proctab *tab;
    hostmon_fn *on_sample;
    void *arg;
    char hostname[256];
    long hz, page;

    uv_timer_t timer;
    uv_work_t work;
    unsigned holders;
    bool working;               /* a read is on the thread pool */
    bool closing;
    bool have_prev;             /* r[cur] is a baseline for the next read */
    uint64_t tick_at;           /* loop time the read in flight started */
    uint64_t reads;             /* completed */
    struct reading r[2];
    int cur;                    /* r[cur]: the newest complete reading */

    /* the thread's while working */
    char *stat_buf;
    struct seen *seen;          /* sorted by pid */
    size_t nseen;
    double seen_uptime_s;

    /* the sample, pointing into r[cur] and the arrays below */
    bool has_sample;
    uint64_t sample_at;         /* loop time */
    struct ipc_host host;
    char cpu_names[IPC_HOST_CPUS_MAX][16];
    struct ipc_host_cpu cpus[IPC_HOST_CPUS_MAX];
    struct ipc_host_disk disks[IPC_HOST_DISKS_MAX];
    struct ipc_host_net nets[IPC_HOST_NETS_MAX];
    struct ipc_host_proc top_cpu[IPC_HOST_PROCS_MAX];
    struct ipc_host_proc top_rss[IPC_HOST_PROCS_MAX];
    char *unavailable[8];
};

/* --- the read, on the thread pool --- */

/* CPU time of the calling thread, in microseconds. */
static int64_t thread_cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0) {
        return 0;
    }
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The cpu lines of /proc/stat. */
static void read_cpus(struct hostmon *m, struct reading *r)
{
    r->has_cpu = false;
    r->ncpus = 0;
    r->cpu_count = 0;
    if (host_read(m->root, "stat", m->stat_buf, STAT_MAX) <= 0) {
        return;
    }
    for (const char *p = m->stat_buf; p != NULL && strncmp(p, "cpu", 3) == 0;) {
        int id;
        struct hoststat_cpu s;
        if (hoststat_cpu_line(p, &id, &s)) {
            if (id < 0) {
                r->total = s;
                r->has_cpu = true;
            } else {
                r->cpu_count++;
                if (r->ncpus < IPC_HOST_CPUS_MAX) {
                    r->cpu_ids[r->ncpus] = id;
                    r->cpus[r->ncpus++] = s;
                }
            }
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
}

/* The mounts and their statvfs. A mount statvfs refuses is left out. */
static void read_disks(struct hostmon *m, struct reading *r)
{
    int n = hoststat_mounts(m->root, r->mounts, IPC_HOST_DISKS_MAX);
    r->ndisks = n;
    if (n < 0) {
        return;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        struct hoststat_fs fs;
        if (hoststat_fs(r->mounts[i].dir, &fs) < 0 || fs.size <= 0) {
            continue;
        }
        r->mounts[kept] = r->mounts[i];
        r->fs[kept++] = fs;
    }
    r->ndisks = kept;
}

static int by_pid(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Put t into list (n of at most IPC_HOST_PROCS_MAX, largest key first). */
static void top_add(struct top *list, size_t *n, const struct top *t, bool by_cpu)
{
    double key = by_cpu ? t->cores : t->rss;
    size_t at = *n;
    while (at > 0 && (by_cpu ? list[at - 1].cores : list[at - 1].rss) < key) {
        at--;
    }
    if (at >= IPC_HOST_PROCS_MAX) {
        return;
    }
    size_t last = *n < IPC_HOST_PROCS_MAX ? *n : IPC_HOST_PROCS_MAX - 1;
    memmove(&list[at + 1], &list[at], (last - at) * sizeof(*list));
    list[at] = *t;
    if (*n < IPC_HOST_PROCS_MAX) {
        (*n)++;
    }
}

/* The process table, each process's CPU over the interval since the last
 * read (its life's average when it is new to the sampler), the top lists. */
static void read_procs(struct hostmon *m, struct reading *r)
{
    const struct proctab_table *tb;
    r->ntop_cpu = r->ntop_rss = 0;
    r->procs = -1;
    if (proctab_get(m->tab, m->root, m->seen_uptime_s, &tb) < 0) {
        return;
    }
    struct seen *now = malloc((tb->n ? tb->n : 1) * sizeof(*now));
    if (now == NULL) {
        proctab_put(m->tab, tb);
        return;
    }
    double dt = m->nseen > 0 ? tb->uptime_s - m->seen_uptime_s : 0;
    for (size_t i = 0; i < tb->n; i++) {
        const struct proctab_entry *e = &tb->entries[i];
        struct seen key = {.pid = e->pid};
        const struct seen *was =
            m->nseen > 0 ? bsearch(&key, m->seen, m->nseen, sizeof(key), by_pid) : NULL;
        double age_s = tb->uptime_s - (double)e->start / (double)m->hz;
        double cores = 0;
        if (was != NULL && was->start == e->start && dt > 0) {
            cores = (double)(e->ticks >= was->ticks ? e->ticks - was->ticks : 0) / (double)m->hz / dt;
        } else if (age_s > 0) {
            double span = dt > 0 && age_s > dt ? dt : age_s;
            cores = (double)e->ticks / (double)m->hz / (age_s > span ? age_s : span);
        }
        struct top t = {.pid = e->pid,
                        .cores = cores,
                        .rss = (double)(e->rss_pages > 0 ? e->rss_pages : 0) * (double)m->page};
        snprintf(t.cmd, sizeof(t.cmd), "%s", e->cmdline != NULL ? e->cmdline : "?");
        top_add(r->top_cpu, &r->ntop_cpu, &t, true);
        top_add(r->top_rss, &r->ntop_rss, &t, false);
        now[i] = (struct seen){.pid = e->pid, .start = e->start, .ticks = e->ticks};
    }
    qsort(now, tb->n, sizeof(*now), by_pid);
    free(m->seen);
    m->seen = now;
    m->nseen = tb->n;
    m->seen_uptime_s = tb->uptime_s;
    r->procs = (long)tb->n;
    proctab_put(m->tab, tb);
}

/* One whole reading into the reading not in use. */
static void on_work(uv_work_t *w)
{
    struct hostmon *m = w->data;
    struct reading *r = &m->r[!m->cur];
    int64_t t0 = thread_cpu_us();
    r->mono_ms = clock_mono_ms();
    r->wall_ms = clock_wall_ms();
    if (host_uptime(m->root, &r->uptime_s) < 0) {
        r->uptime_s = -1;
    }
    read_cpus(m, r);
    r->has_mem = hoststat_meminfo(m->root, &r->mem) == 0;
    r->has_load = hoststat_loadavg(m->root, r->load) == 0;
    r->nnets = hoststat_netdev(m->root, r->nets, IPC_HOST_NETS_MAX);
    read_disks(m, r);
    read_procs(m, r);
    r->cpu_us = thread_cpu_us() - t0;
}

/* --- the sample, on the loop --- */

/* A share in percent as parts per million. */
static int64_t ppm(double pct)
{
    return (int64_t)(pct * 10000.0 + 0.5);
}

/* A rate per second of a counter from a to b over ms; 0 when it went back. */
static int64_t rate(unsigned long long a, unsigned long long b, int64_t ms)
{
    return b >= a && ms > 0 ? (int64_t)((double)(b - a) * 1000.0 / (double)ms) : 0;
}

/* The net interface called name in r, or NULL. */
static const struct hoststat_net *net_named(const struct reading *r, const char *name)
{
    for (int i = 0; i < r->nnets; i++) {
        if (strcmp(r->nets[i].name, name) == 0) {
            return &r->nets[i];
        }
    }
    return NULL;
}

/* The cpu with id in r, or NULL; i is where it is likely to be. */
static const struct hoststat_cpu *cpu_with(const struct reading *r, int id, size_t i)
{
    if (i < r->ncpus && r->cpu_ids[i] == id) {
        return &r->cpus[i];
    }
    for (size_t k = 0; k < r->ncpus; k++) {
        if (r->cpu_ids[k] == id) {
            return &r->cpus[k];
        }
    }
    return NULL;
}

/* Fill a sample's process list from a top list. */
static size_t fill_top(struct ipc_host_proc *out, const struct top *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = (struct ipc_host_proc){.pid = in[i].pid,
                                        .command = in[i].cmd,
                                        .cpu_ppm = (int64_t)(in[i].cores * 1e6 + 0.5),
                                        .rss_bytes = (int64_t)in[i].rss};
    }
    return n;
}

/* The sample from prev to now. */
static void build(struct hostmon *m, const struct reading *prev, const struct reading *now)
{
    struct ipc_host *h = &m->host;
    size_t nu = 0;
    int64_t ms = now->mono_ms - prev->mono_ms;
    *h = (struct ipc_host){
        .hostname = m->hostname,
        .node = m->node,
        .ts_ms = now->wall_ms,
        .interval_ms = ms,
        .uptime_s = now->uptime_s >= 0 ? (int64_t)now->uptime_s : -1,
        .cpu_count = now->cpu_count,
        .cpu_used_ppm = -1,
        .cpu_iowait_ppm = -1,
        .cpu_steal_ppm = -1,
        .cpus = m->cpus,
        .mem_total_bytes = -1,
        .mem_available_bytes = -1,
        .mem_used_bytes = -1,
        .swap_total_bytes = -1,
        .swap_used_bytes = -1,
        .load1_milli = -1,
        .load5_milli = -1,
        .load15_milli = -1,
        .disks = m->disks,
        .nets = m->nets,
        .procs = now->procs,
        .top_cpu = m->top_cpu,
        .top_rss = m->top_rss,
        .sample_cpu_us = now->cpu_us,
        .unavailable = m->unavailable,
    };
    struct hoststat_cpu_pct pct = {0};
    if (now->has_cpu && prev->has_cpu) {
        hoststat_cpu_share(&now->total, &prev->total, &pct);
        h->cpu_used_ppm = ppm(pct.used);
        h->cpu_iowait_ppm = ppm(pct.iowait);
        h->cpu_steal_ppm = ppm(pct.steal);
    } else {
        m->unavailable[nu++] = "cpu";
    }
    for (size_t i = 0; i < now->ncpus; i++) {
        const struct hoststat_cpu *was = cpu_with(prev, now->cpu_ids[i], i);
        struct hoststat_cpu_pct c = {0};
        if (was != NULL) {
            hoststat_cpu_share(&now->cpus[i], was, &c);
        }
        snprintf(m->cpu_names[i], sizeof(m->cpu_names[i]), "cpu%d", now->cpu_ids[i]);
        m->cpus[h->ncpus++] = (struct ipc_host_cpu){.name = m->cpu_names[i],
                                                    .used_ppm = ppm(c.used),
                                                    .iowait_ppm = ppm(c.iowait),
                                                    .steal_ppm = ppm(c.steal)};
    }
    if (now->has_mem) {
        h->mem_total_bytes = (int64_t)now->mem.total;
        h->mem_available_bytes = (int64_t)now->mem.available;
        h->mem_used_bytes = (int64_t)(now->mem.total - now->mem.available);
        h->swap_total_bytes = (int64_t)now->mem.swap_total;
        h->swap_used_bytes = (int64_t)(now->mem.swap_total - now->mem.swap_free);
    } else {
        m->unavailable[nu++] = "memory";
    }
    if (now->has_load) {
        h->load1_milli = (int64_t)(now->load[0] * 1000 + 0.5);
        h->load5_milli = (int64_t)(now->load[1] * 1000 + 0.5);
        h->load15_milli = (int64_t)(now->load[2] * 1000 + 0.5);
    } else {
        m->unavailable[nu++] = "load";
    }
    for (int i = 0; i < now->ndisks; i++) {
        const struct hoststat_fs *fs = &now->fs[i];
        m->disks[h->ndisks++] = (struct ipc_host_disk){
            .mount = now->mounts[i].dir,
            .device = now->mounts[i].device,
            .fstype = now->mounts[i].fstype,
            .size_bytes = (int64_t)fs->size,
            .avail_bytes = (int64_t)fs->avail,
            .used_ppm = ppm(fs->used_pct),
            .inodes = (int64_t)fs->files,
            .inodes_free = (int64_t)fs->files_free,
            .inodes_used_ppm = ppm(fs->files_used_pct),
        };
    }
    if (now->ndisks < 0) {
        m->unavailable[nu++] = "disks";
    }
    for (int i = 0; i < now->nnets; i++) {
        const struct hoststat_net *n = &now->nets[i], *was = net_named(prev, n->name);
        m->nets[h->nnets++] = (struct ipc_host_net){
            .name = n->name,
            .rx_bytes = (int64_t)(n->rx_bytes & INT64_MAX),
            .tx_bytes = (int64_t)(n->tx_bytes & INT64_MAX),
            .rx_bytes_per_s = was != NULL ? rate(was->rx_bytes, n->rx_bytes, ms) : 0,
            .tx_bytes_per_s = was != NULL ? rate(was->tx_bytes, n->tx_bytes, ms) : 0,
        };
    }
    if (now->nnets < 0) {
        m->unavailable[nu++] = "net";
    }
    if (now->procs < 0) {
        m->unavailable[nu++] = "processes";
    }
    h->ntop_cpu = fill_top(m->top_cpu, now->top_cpu, now->ntop_cpu);
    h->ntop_rss = fill_top(m->top_rss, now->top_rss, now->ntop_rss);
    h->nunavailable = nu;
}

static void on_tick(uv_timer_t *t);

/* The read is back: make the sample, hand it on, plan the next tick. */
static void on_worked(uv_work_t *w, int status)
{
    struct hostmon *m = w->data;
    m->working = false;
    if (m->closing || status < 0) {
        return;
    }
    m->reads++;
    bool had_prev = m->have_prev;
    if (m->holders == 0) {
        m->have_prev = false;       /* stopped meanwhile: the next start starts over */
        return;
    }
    const struct reading *prev = &m->r[m->cur], *now = &m->r[!m->cur];
    if (had_prev) {
        build(m, prev, now);
    }
    m->cur = !m->cur;
    m->have_prev = true;
    uint64_t took = uv_now(m->loop) - m->tick_at;
    uint64_t next = had_prev ? (took < HOSTMON_INTERVAL_MS ? HOSTMON_INTERVAL_MS - took : 0)
                             : HOSTMON_FIRST_MS;
    uv_timer_start(&m->timer, on_tick, next, 0);
    if (had_prev) {
        m->has_sample = true;
        m->sample_at = uv_now(m->loop);
        m->on_sample(m->arg, &m->host);
    }
}

/* Time to read, unless the last read is still out. */
static void on_tick(uv_timer_t *t)
{
    struct hostmon *m = t->data;
    if (m->working || m->closing || m->holders == 0) {
        return;
    }
    m->tick_at = uv_now(m->loop);
    int rc = uv_queue_work(m->loop, &m->work, on_work, on_worked);
    if (rc < 0) {
        log_warn(LOG_NOKV, "host sampler: thread pool: %s", uv_strerror(rc));
        uv_timer_start(&m->timer, on_tick, HOSTMON_INTERVAL_MS, 0);
        return;
    }
    m->working = true;
}

/* --- lifetime --- */

struct hostmon *hostmon_create(uv_loop_t *loop, const char *proc_root, struct proctab *tab,
                               const char *node, hostmon_fn *on_sample, void *arg)
{
    struct hostmon *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->loop = loop;
    m->tab = tab;
    m->on_sample = on_sample;
    m->arg = arg;
    m->root = strdup(proc_root != NULL ? proc_root : "/proc");
    m->node = node != NULL ? strdup(node) : NULL;
    m->stat_buf = malloc(STAT_MAX);
    if (m->root == NULL || (node != NULL && m->node == NULL) || m->stat_buf == NULL ||
        uv_timer_init(loop, &m->timer) < 0) {
        free(m->root);
        free(m->node);
        free(m->stat_buf);
        free(m);
        return NULL;
    }
    m->timer.data = m;
    m->work.data = m;
    if (gethostname(m->hostname, sizeof(m->hostname) - 1) < 0) {
        snprintf(m->hostname, sizeof(m->hostname), "localhost");
    }
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    m->hz = hz > 0 ? hz : 100;
    m->page = page > 0 ? page : 4096;
    return m;
}

/* The first holder starts from a fresh baseline. */
void hostmon_hold(struct hostmon *m)
{
    if (m == NULL || m->closing || m->holders++ > 0 || m->working) {
        return;
    }
    m->have_prev = false;
    free(m->seen);
    m->seen = NULL;
    m->nseen = 0;
    m->seen_uptime_s = 0;
    uv_timer_start(&m->timer, on_tick, 0, 0);
}

/* The last holder stops the ticks; a read in flight finishes unheard. */
void hostmon_release(struct hostmon *m)
{
    if (m == NULL || m->holders == 0 || --m->holders > 0 || m->closing) {
        return;
    }
    uv_timer_stop(&m->timer);
    if (!m->working) {
        m->have_prev = false;
    }
}

const struct ipc_host *hostmon_latest(const struct hostmon *m, uint64_t max_age_ms)
{
    if (m == NULL || !m->has_sample || uv_now(m->loop) - m->sample_at > max_age_ms) {
        return NULL;
    }
    return &m->host;
}

bool hostmon_running(const struct hostmon *m)
{
    return m != NULL && m->holders > 0 && !m->closing;
}

uint64_t hostmon_reads(const struct hostmon *m)
{
    return m->reads;
}

void hostmon_close(struct hostmon *m)
{
    if (m == NULL || m->closing) {
        return;
    }
    m->closing = true;
    if (!uv_is_closing((uv_handle_t *)&m->timer)) {
        uv_close((uv_handle_t *)&m->timer, NULL);
    }
}

void hostmon_destroy(struct hostmon *m)
{
    if (m == NULL) {
        return;
    }
    free(m->seen);
    free(m->stat_buf);
    free(m->root);
    free(m->node);
    free(m);
}
