/* panel_host.c - the daemon's host, live: CPU per core, memory and swap,
 * load, disks, network rates and the top processes, from the host topic.
 *
 * Everything is ASCII ('|' bars, no line drawing), so it reads the same in
 * any locale; colour only adds to the bars what their numbers say. At
 * 80x24 the cores take up to four rows (then "+N CPUs"), and below them
 * disks and network share the left half with the top processes on the
 * right. A figure the daemon could not read (-1) shows as "-". */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "panel.h"
#include "theme.h"

#define CELL_W 26               /* one core: "cpu12 [||||      ] 100%" */
#define CORE_ROWS_MAX 4         /* at 80x24; more when the screen is taller */
#define STALE_MS 3000           /* a sample older than this is said to be */

/* Bytes for a narrow column: "512B", "3.2K", "17.0G". */
static void human(int64_t bytes, char *buf, size_t len)
{
    static const char units[] = "BKMGTP";
    if (bytes < 0) {
        snprintf(buf, len, "-");
        return;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) - 1) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f%c" : "%.1f%c", v, units[u]);
}

/* The role of a share in ppm: a full bar is loud. */
static enum role share_role(int64_t ppm)
{
    return ppm >= 900000 ? ROLE_DOWN : ppm >= 700000 ? ROLE_DEGRADED : ROLE_UP;
}

/* "[|||||     ]" of width w (brackets included) at (y, x) for a share in
 * ppm (clamped to 0..100%); "[ - ]"-like blanks when unknown (< 0). */
static void bar(int y, int x, int w, int64_t ppm)
{
    int inner = w - 2;
    if (inner < 1) {
        return;
    }
    int64_t p = ppm < 0 ? 0 : ppm > 1000000 ? 1000000 : ppm;
    int fill = (int)((p * inner + 500000) / 1000000);
    mvaddch(y, x, '[');
    theme_on(share_role(p), A_BOLD);
    for (int i = 0; i < inner; i++) {
        mvaddch(y, x + 1 + i, i < fill ? '|' : ' ');
    }
    theme_off(share_role(p), A_BOLD);
    mvaddch(y, x + 1 + inner, ']');
}

/* A share in ppm as "12.3%", "-" when unknown. */
static void pct(int64_t ppm, char *buf, size_t len)
{
    if (ppm < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.1f%%", (double)ppm / 10000.0);
    }
}

/* A load average in thousandths, "-" when unknown. */
static void load(int64_t milli, char *buf, size_t len)
{
    if (milli < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.2f", (double)milli / 1000.0);
    }
}

/* The first line: host, uptime, load, CPUs, processes, the sample's cost
 * and age. */
static void draw_title(const struct dash *d, int y, int w)
{
    const struct ipc_host *h = &d->host;
    char l1[16], l5[16], l15[16], up[32];
    load(h->load1_milli, l1, sizeof(l1));
    load(h->load5_milli, l5, sizeof(l5));
    load(h->load15_milli, l15, sizeof(l15));
    if (h->uptime_s >= 0) {
        panel_age(clock_wall_ms() - h->uptime_s * 1000, clock_wall_ms(), up, sizeof(up));
    } else {
        snprintf(up, sizeof(up), "-");
    }
    int64_t age = clock_wall_ms() - d->host_at_ms;
    char stale[40] = "";
    if (age > STALE_MS) {
        snprintf(stale, sizeof(stale), "  STALE %llds", (long long)(age / 1000));
    }
    char name[300];
    snprintf(name, sizeof(name), "%s%s%s%s", h->hostname != NULL ? h->hostname : "?",
             h->node != NULL ? " (node " : "", h->node != NULL ? h->node : "",
             h->node != NULL ? ")" : "");
    theme_on(ROLE_TITLE, A_BOLD);
    panel_put(y, 0, w, name);
    theme_off(ROLE_TITLE, A_BOLD);
    int x = panel_width(name) + 1;
    panel_putf(y, x, w - x, " up %s  load %s %s %s  %lld CPUs  %lld procs%s", up, l1, l5, l15,
               (long long)h->cpu_count, (long long)h->procs, stale);
}

/* CPU: the whole, then a cell a core, as many to a row as fit; rows past
 * max_rows are counted instead. The rows taken. */
static int draw_cpus(const struct dash *d, int y, int w, int max_rows)
{
    const struct ipc_host *h = &d->host;
    char a[16], b[16], c[16];
    pct(h->cpu_used_ppm, a, sizeof(a));
    pct(h->cpu_iowait_ppm, b, sizeof(b));
    pct(h->cpu_steal_ppm, c, sizeof(c));
    panel_put(y, 0, 4, "CPU");
    int bw = w - 40 > 10 ? w - 40 : 10;
    bar(y, 4, bw, h->cpu_used_ppm);
    panel_putf(y, 4 + bw + 1, w - bw - 5, "%6s  iowait %s  steal %s", a, b, c);
    int per_row = w / CELL_W > 0 ? w / CELL_W : 1;
    int rows = 1, shown = 0;
    for (size_t i = 0; i < h->ncpus; i++) {
        int row = (int)i / per_row, col = (int)i % per_row;
        if (row >= max_rows) {
            break;
        }
        const struct ipc_host_cpu *cpu = &h->cpus[i];
        int x = col * CELL_W;
        panel_put(y + 1 + row, x, 6, cpu->name != NULL ? cpu->name : "?");
        bar(y + 1 + row, x + 6, CELL_W - 12, cpu->used_ppm);
        panel_putf(y + 1 + row, x + CELL_W - 6, 5, "%4.0f%%",
                   cpu->used_ppm < 0 ? 0.0 : (double)cpu->used_ppm / 10000.0);
        rows = row + 2;
        shown++;
    }
    if ((int64_t)shown < h->cpu_count) {
        panel_putf(y + rows, 0, w, "+%lld CPUs not shown", (long long)(h->cpu_count - shown));
        rows++;
    }
    return rows;
}

/* Memory and swap: bars, used of total. */
static void draw_memory(const struct dash *d, int y, int w)
{
    const struct ipc_host *h = &d->host;
    int half = w / 2;
    int bw = half - 24 > 6 ? half - 24 : 6;
    char used[16], total[16];
    int64_t mem_ppm = h->mem_total_bytes > 0 && h->mem_used_bytes >= 0
                          ? h->mem_used_bytes * 1000000 / h->mem_total_bytes
                          : -1;
    human(h->mem_used_bytes, used, sizeof(used));
    human(h->mem_total_bytes, total, sizeof(total));
    panel_put(y, 0, 4, "Mem");
    bar(y, 4, bw, mem_ppm);
    panel_putf(y, 4 + bw + 1, half - bw - 5, "%s of %s", used, total);
    int64_t swap_ppm = h->swap_total_bytes > 0 && h->swap_used_bytes >= 0
                           ? h->swap_used_bytes * 1000000 / h->swap_total_bytes
                           : h->swap_total_bytes == 0 ? 0 : -1;
    human(h->swap_used_bytes, used, sizeof(used));
    human(h->swap_total_bytes, total, sizeof(total));
    panel_put(y, half, 4, "Swp");
    bar(y, half + 4, bw, swap_ppm);
    panel_putf(y, half + 4 + bw + 1, w - half - bw - 5, "%s of %s", used, total);
}

/* Disks, then interfaces, in w columns from (y, 0); at most h rows. */
static void draw_left(const struct dash *d, int y, int w, int h)
{
    const struct ipc_host *hs = &d->host;
    int mount_w = w - 25 > 6 ? w - 25 : 6;
    int row = 0;
    theme_on(ROLE_HEADER, 0);
    panel_putf(y + row++, 0, w, "%-*s %6s %5s %6s %4s", mount_w, "MOUNT", "SIZE", "USE%", "AVAIL",
               "INO%");
    theme_off(ROLE_HEADER, 0);
    /* The interfaces keep at least their header and two rows. */
    int disk_rows = h - 4 - (int)(hs->nnets < 2 ? hs->nnets : 2);
    size_t i = 0;
    for (; i < hs->ndisks && row - 1 < disk_rows; i++) {
        const struct ipc_host_disk *k = &hs->disks[i];
        char size[16], avail[16];
        human(k->size_bytes, size, sizeof(size));
        human(k->avail_bytes, avail, sizeof(avail));
        panel_put(y + row, 0, mount_w, k->mount != NULL ? k->mount : "?");
        theme_on(share_role(k->used_ppm), 0);
        panel_putf(y + row, mount_w + 1, w - mount_w - 1, "%6s %4.0f%% %6s %3.0f%%", size,
                   (double)k->used_ppm / 10000.0, avail, (double)k->inodes_used_ppm / 10000.0);
        theme_off(share_role(k->used_ppm), 0);
        row++;
    }
    if (i < hs->ndisks) {
        panel_putf(y + row++, 0, w, "+%zu more", hs->ndisks - i);
    }
    if (hs->ndisks == 0) {
        panel_put(y + row++, 0, w, "no filesystems");
    }
    row++;
    int name_w = w - 22 > 6 ? w - 22 : 6;
    theme_on(ROLE_HEADER, 0);
    panel_putf(y + row++, 0, w, "%-*s %10s %10s", name_w, "IFACE", "RX/s", "TX/s");
    theme_off(ROLE_HEADER, 0);
    for (i = 0; i < hs->nnets && row < h; i++) {
        const struct ipc_host_net *n = &hs->nets[i];
        char rx[16], tx[16];
        human(n->rx_bytes_per_s, rx, sizeof(rx));
        human(n->tx_bytes_per_s, tx, sizeof(tx));
        panel_put(y + row, 0, name_w, n->name != NULL ? n->name : "?");
        panel_putf(y + row, name_w + 1, w - name_w - 1, "%10s %10s", rx, tx);
        row++;
    }
}

/* One top list under its title; the rows taken. */
static int draw_top(int y, int x, int w, int h, const char *title,
                    const struct ipc_host_proc *procs, size_t n)
{
    int row = 0;
    theme_on(ROLE_HEADER, 0);
    panel_putf(y + row++, x, w, "%7s %6s %6s %s", "PID", "CPU%", "RSS", title);
    theme_off(ROLE_HEADER, 0);
    for (size_t i = 0; i < n && row < h; i++) {
        const struct ipc_host_proc *p = &procs[i];
        char rss[16];
        human(p->rss_bytes, rss, sizeof(rss));
        panel_putf(y + row, x, w, "%7lld %6.1f %6s ", (long long)p->pid,
                   p->cpu_ppm < 0 ? 0.0 : (double)p->cpu_ppm / 10000.0, rss);
        panel_put(y + row, x + 22, w - 22, p->command != NULL ? p->command : "?");
        row++;
    }
    return row;
}

/* The view; nothing to select. */
static void draw(struct dash *d, struct panel *p, const struct rect *rc)
{
    int y = rc->y, h = rc->h, w = rc->w;
    p->nrows = 0;
    if (d->host_missing) {
        panel_put(y + 1, 2, w - 2, "this shipwatchd has no host topic: it is older than the view");
        return;
    }
    if (!d->has_host && d->host_node != NULL) {
        panel_putf(y + 1, 2, w - 2, "waiting for the first sample of node %s's host...",
                   d->host_node);
        return;
    }
    if (!d->has_host) {
        panel_put(y + 1, 2, w - 2, "waiting for the first sample of the daemon's host...");
        return;
    }
    const struct ipc_host *hs = &d->host;
    draw_title(d, y, w);
    int core_rows = h > 30 ? (h - 20) : CORE_ROWS_MAX;
    int used = 1 + draw_cpus(d, y + 1, w, core_rows);
    draw_memory(d, y + used, w);
    used += 2;
    if (hs->nunavailable > 0) {
        char list[128] = "";
        for (size_t i = 0; i < hs->nunavailable; i++) {
            size_t at = strlen(list);
            snprintf(list + at, sizeof(list) - at, "%s%s", i ? ", " : "", hs->unavailable[i]);
        }
        theme_on(ROLE_DIM, 0);
        panel_putf(y + used - 1, 0, w, "not readable here: %s", list);
        theme_off(ROLE_DIM, 0);
    }
    int rest = h - used;
    if (rest < 4) {
        return;
    }
    int left_w = w * 9 / 20;
    draw_left(d, y + used, left_w, rest);
    int rx = left_w + 1, rw = w - rx;
    int half = rest / 2;
    draw_top(y + used, rx, rw, half, "TOP CPU", hs->top_cpu, hs->ntop_cpu);
    draw_top(y + used + half, rx, rw, rest - half, "TOP MEMORY", hs->top_rss, hs->ntop_rss);
}

void panel_host_show(struct dash *d, const char *node)
{
    char *dup = node != NULL ? strdup(node) : NULL;
    if (node != NULL && dup == NULL) {
        return;
    }
    free(d->host_node);
    d->host_node = dup;
    ipc_type_finish(&ipc_host_type, &d->host);
    memset(&d->host, 0, sizeof(d->host));
    d->has_host = false;
    dash_mark(d);
}

/* A node switch asked for: by steps through the nodes, or to a name. */
struct node_ask {
    int by;
    char name[];
};

/* status.get answered with the cluster's nodes: the switch goes ahead. */
static void on_nodes(struct link *l, int err, enum ipc_errcode code, const char *msg,
                     void *result, void *arg)
{
    struct node_ask *ask = arg;
    struct dash *d = l->arg;
    const struct ipc_status *st = result;
    if (err != 0) {
        dash_status(d, "node: %s", msg);
    } else if (st->node == NULL) {
        dash_status(d, "this shipwatchd is in no cluster: its host is the only one");
    } else if (ask->name[0] != '\0') {
        bool found = strcmp(ask->name, st->node) == 0;
        for (size_t i = 0; !found && i < st->ncluster_peer_names; i++) {
            found = strcmp(ask->name, st->cluster_peer_names[i]) == 0;
        }
        if (!found) {
            dash_status(d, "node: no daemon named '%s' in the cluster", ask->name);
        } else {
            panel_host_show(d, strcmp(ask->name, st->node) == 0 ? NULL : ask->name);
            dash_status(d, "host of node %s", ask->name);
        }
    } else {
        /* The daemon's own node first, then its peers by name. */
        size_t n = 1 + st->ncluster_peer_names, at = 0;
        for (size_t i = 0; d->host_node != NULL && i < st->ncluster_peer_names; i++) {
            at = strcmp(d->host_node, st->cluster_peer_names[i]) == 0 ? i + 1 : at;
        }
        at = (at + (ask->by > 0 ? 1 : n - 1)) % n;
        const char *to = at == 0 ? st->node : st->cluster_peer_names[at - 1];
        panel_host_show(d, at == 0 ? NULL : to);
        dash_status(d, "host of node %s (%zu of %zu)", to, at + 1, n);
    }
    free(ask);
}

/* n, N, `:node NAME`: another node's host. */
static int on_action(struct dash *d, struct panel *p, enum action a, const char *arg)
{
    if (a != A_NODE && a != A_PREV_NODE) {
        return PANEL_IGNORED;
    }
    size_t len = arg != NULL ? strlen(arg) : 0;
    struct node_ask *ask = malloc(sizeof(*ask) + len + 1);
    if (ask == NULL) {
        return PANEL_HANDLED;
    }
    ask->by = a == A_NODE ? 1 : -1;
    memcpy(ask->name, arg != NULL ? arg : "", len + 1);
    link_call(&d->link, IPC_M_STATUS_GET, NULL, on_nodes, ask);
    return PANEL_HANDLED | PANEL_REDRAW;
}

const struct panel_class panel_host = {
    .name = "Host",
    .command = "host",
    .tab = true,
    .hint = "? help  q quit  1-5 views  n/N other node  refreshed every second",
    .draw = draw,
    .on_action = on_action,
};
