/* metrics.c - Prometheus text format 0.0.4, written straight into a buffer:
 * 10,000 checks are about 150,000 series, so each line is a memcpy of its
 * check's escaped labels and a number formatted by hand. */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "alert.h"
#include "check.h"
#include "cluster.h"
#include "daemon.h"
#include "deploy.h"
#include "http.h"
#include "ipc_server.h"
#include "sched.h"
#include "store.h"

static bool grow(struct metrics_buf *b, size_t n)
{
    if (b->len + n <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n) {
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

/* Failure to grow is remembered and reported at the end. */
static bool oom;

static void put(struct metrics_buf *b, const char *s, size_t n)
{
    if (!grow(b, n)) {
        oom = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void puts_(struct metrics_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_i64(struct metrics_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0) {
        tmp[n++] = '-';
    }
    if (!grow(b, n)) {
        oom = true;
        return;
    }
    while (n > 0) {
        b->data[b->len++] = tmp[--n];
    }
}

/* Microseconds as seconds: "0.001234". */
static void put_seconds_us(struct metrics_buf *b, int64_t us)
{
    put_i64(b, us / 1000000);
    char frac[8];
    snprintf(frac, sizeof(frac), ".%06lld", (long long)(us % 1000000 < 0 ? 0 : us % 1000000));
    puts_(b, frac);
}

static void family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    puts_(b, "# HELP ");
    puts_(b, name);
    puts_(b, " ");
    puts_(b, help);
    puts_(b, "\n# TYPE ");
    puts_(b, name);
    puts_(b, " ");
    puts_(b, type);
    puts_(b, "\n");
}

/* A label value, escaped as the format wants: backslash, quote, newline. */
static void put_label(struct metrics_buf *b, const char *name, const char *v, bool comma)
{
    if (comma) {
        puts_(b, ",");
    }
    puts_(b, name);
    puts_(b, "=\"");
    for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
        if (*p == '\\') {
            puts_(b, "\\\\");
        } else if (*p == '"') {
            puts_(b, "\\\"");
        } else if (*p == '\n') {
            puts_(b, "\\n");
        } else {
            put(b, p, 1);
        }
    }
    puts_(b, "\"");
}

/* One sample: name{labels[,extra]} value */
static void sample(struct metrics_buf *b, const char *name, const char *labels, size_t llen,
                   const char *extra, int64_t v)
{
    puts_(b, name);
    puts_(b, "{");
    put(b, labels, llen);
    if (extra != NULL) {
        puts_(b, extra);
    }
    puts_(b, "} ");
    put_i64(b, v);
    puts_(b, "\n");
}

/* The labels of every check, escaped once, back to back in one buffer:
 * "check=...,app=...,env=...,type=..."; offs[i] is where check i's start
 * (offs[nchecks] the end). */
static int check_labels(struct daemon *d, struct metrics_buf *lb, size_t **offs)
{
    *offs = calloc(d->nchecks + 1, sizeof(**offs));
    if (*offs == NULL || !grow(lb, d->nchecks * 96 + 1)) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct conf_check *cc = d->checks[i]->conf;
        (*offs)[i] = lb->len;
        put_label(lb, "check", cc->name, false);
        put_label(lb, "app", cc->app, true);
        put_label(lb, "env", cc->env, true);
        put_label(lb, "type", cc->type_name, true);
    }
    (*offs)[d->nchecks] = lb->len;
    return oom ? -ENOMEM : 0;
}

static void checks(struct daemon *d, struct metrics_buf *b)
{
    struct metrics_buf lb = {0};
    size_t *offs = NULL;
    if (check_labels(d, &lb, &offs) < 0) {
        oom = true;
        free(lb.data);
        free(offs);
        return;
    }
    /* The i-th check's labels and their length. */
#define LBL(i) (lb.data + offs[i]), (offs[(i) + 1] - offs[i])
    family(b, "shipwatch_check_up", "gauge", "1 when the check's state is up, else 0.");
    for (size_t i = 0; i < d->nchecks; i++) {
        sample(b, "shipwatch_check_up", LBL(i), NULL,
               d->checks[i]->state == STATE_UP);
    }
    family(b, "shipwatch_check_state", "gauge",
           "The check's state: 0 unknown, 1 up, 2 degraded, 3 down.");
    for (size_t i = 0; i < d->nchecks; i++) {
        sample(b, "shipwatch_check_state", LBL(i), NULL, d->checks[i]->state);
    }
    family(b, "shipwatch_check_duration_seconds", "histogram",
           "How long the check's runs took, since the daemon started.");
    char le[CHECK_DURATION_BUCKETS][32];
    for (int k = 0; k < CHECK_DURATION_BUCKETS; k++) {
        int64_t us = check_duration_bounds_us[k];
        snprintf(le[k], sizeof(le[k]), ",le=\"%lld.%06lld\"", (long long)(us / 1000000),
                 (long long)(us % 1000000));
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        for (int k = 0; k < CHECK_DURATION_BUCKETS; k++) {
            sample(b, "shipwatch_check_duration_seconds_bucket", LBL(i), le[k],
                   (int64_t)c->duration_buckets[k]);
        }
        sample(b, "shipwatch_check_duration_seconds_bucket", LBL(i),
               ",le=\"+Inf\"", (int64_t)c->duration_count);
        puts_(b, "shipwatch_check_duration_seconds_sum{");
        put(b, LBL(i));
        puts_(b, "} ");
        put_seconds_us(b, c->duration_sum_us);
        puts_(b, "\n");
        sample(b, "shipwatch_check_duration_seconds_count", LBL(i), NULL,
               (int64_t)c->duration_count);
    }
    family(b, "shipwatch_check_results_total", "counter",
           "Results of the check by outcome, since the daemon started.");
    static const char *const outcomes[] = {",result=\"unknown\"", ",result=\"up\"",
                                           ",result=\"degraded\"", ",result=\"down\""};
    for (size_t i = 0; i < d->nchecks; i++) {
        for (int k = 0; k < 4; k++) {
            sample(b, "shipwatch_check_results_total", LBL(i), outcomes[k],
                   (int64_t)d->checks[i]->results_total[k]);
        }
    }
    family(b, "shipwatch_check_last_run_timestamp_seconds", "gauge",
           "When the check's last run started, in unix seconds; absent before its first.");
    for (size_t i = 0; i < d->nchecks; i++) {
        if (d->checks[i]->last.started_ms > 0) {
            sample(b, "shipwatch_check_last_run_timestamp_seconds", LBL(i), NULL,
                   d->checks[i]->last.started_ms / 1000);
        }
    }
    family(b, "shipwatch_check_http_status_code", "gauge",
           "The HTTP status of an http check's last response; absent without one.");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        if (c->conf->kind == CHECK_HTTP && c->last.started_ms > 0 && c->last.status >= 0) {
            sample(b, "shipwatch_check_http_status_code", LBL(i), NULL,
                   c->last.status);
        }
    }
    family(b, "shipwatch_check_tls_expiry_timestamp_seconds", "gauge",
           "When the peer certificate seen by an https check expires, in unix seconds.");
    for (size_t i = 0; i < d->nchecks; i++) {
        if (d->checks[i]->last.cert_expiry_s > 0) {
            sample(b, "shipwatch_check_tls_expiry_timestamp_seconds", LBL(i), NULL,
                   d->checks[i]->last.cert_expiry_s);
        }
    }
#undef LBL
    free(lb.data);
    free(offs);
}

/* One notifier's sample of one of the two notification families. */
struct notifier_walk {
    struct metrics_buf *b;
    bool failed;                /* which family */
};

static void notifier_sample(const char *name, uint64_t sent, uint64_t failed, void *arg)
{
    struct notifier_walk *w = arg;
    puts_(w->b, w->failed ? "shipwatch_notifications_failed_total{"
                          : "shipwatch_notifications_sent_total{");
    put_label(w->b, "notifier", name, false);
    puts_(w->b, "} ");
    put_i64(w->b, (int64_t)(w->failed ? failed : sent));
    puts_(w->b, "\n");
}

static void alerts(struct daemon *d, struct metrics_buf *b)
{
    uint64_t firing[ALERT_NSEVERITIES];
    alert_firing(d, firing);
    family(b, "shipwatch_alerts_firing", "gauge",
           "Alerts open (firing or acknowledged), by severity.");
    for (int s = ALERT_NSEVERITIES - 1; s >= 0; s--) {
        puts_(b, "shipwatch_alerts_firing{");
        put_label(b, "severity", alert_severity_name((enum alert_severity)s), false);
        puts_(b, "} ");
        put_i64(b, (int64_t)firing[s]);
        puts_(b, "\n");
    }
    family(b, "shipwatch_notifications_sent_total", "counter",
           "Notifications delivered (answered 2xx, or exit 0), by notifier.");
    struct notifier_walk w = {.b = b, .failed = false};
    alert_notifier_counts(d, notifier_sample, &w);
    family(b, "shipwatch_notifications_failed_total", "counter",
           "Delivery attempts that failed (each retry counts), by notifier.");
    w.failed = true;
    alert_notifier_counts(d, notifier_sample, &w);
}

static void deploys(struct daemon *d, struct metrics_buf *b)
{
    family(b, "shipwatch_deploys_total", "counter",
           "Deploys recorded since the daemon started, by app, env and verdict.");
    size_t ncounts, nlasts;
    const struct deploy_count *counts = deploys_counts(d->deploys, &ncounts);
    const struct deploy_last *lasts = deploys_lasts(d->deploys, &nlasts);
    for (size_t i = 0; i < ncounts; i++) {
        const struct deploy_count *s = &counts[i];
        puts_(b, "shipwatch_deploys_total{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        put_label(b, "verdict", s->verdict, true);
        puts_(b, "} ");
        put_i64(b, (int64_t)s->count);
        puts_(b, "\n");
    }
    family(b, "shipwatch_deploy_last_timestamp_seconds", "gauge",
           "When the last deploy of the app and env started, in unix seconds.");
    for (size_t i = 0; i < nlasts; i++) {
        const struct deploy_last *s = &lasts[i];
        puts_(b, "shipwatch_deploy_last_timestamp_seconds{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        puts_(b, "} ");
        put_i64(b, s->started_ms / 1000);
        puts_(b, "\n");
    }
    family(b, "shipwatch_deploy_info", "gauge",
           "1 for the version last deployed to the app and env.");
    for (size_t i = 0; i < nlasts; i++) {
        const struct deploy_last *s = &lasts[i];
        puts_(b, "shipwatch_deploy_info{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        put_label(b, "version", s->version, true);
        puts_(b, "} 1\n");
    }
}

/* Seconds since boot of the process start, from /proc/self/stat. */
static int64_t start_ticks(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* Field 22 is starttime; after ')' come fields 3 onwards. */
    long long v = -1;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
        if (++field == 22) {
            v = atoll(tok);
            break;
        }
    }
    return v;
}

static void process(struct metrics_buf *b)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t cpu_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                     (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    puts_(b, "process_cpu_seconds_total ");
    put_seconds_us(b, cpu_us);
    puts_(b, "\n");

    long page = sysconf(_SC_PAGESIZE);
    long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%lld %lld", &size, &resident) != 2) {
            size = resident = 0;
        }
        fclose(f);
    }
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    puts_(b, "process_resident_memory_bytes ");
    put_i64(b, resident * page);
    puts_(b, "\n");
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    puts_(b, "process_virtual_memory_bytes ");
    put_i64(b, size * page);
    puts_(b, "\n");

    int64_t fds = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            fds += e->d_name[0] != '.';
        }
        closedir(dir);
        fds--;  /* the directory's own descriptor */
    }
    family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
    puts_(b, "process_open_fds ");
    put_i64(b, fds);
    puts_(b, "\n");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    puts_(b, "process_max_fds ");
    put_i64(b, rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur);
    puts_(b, "\n");

    /* Boot time from /proc/stat's btime, plus the start in clock ticks. */
    int64_t btime = 0;
    f = fopen("/proc/stat", "r");
    if (f != NULL) {
        char line[256];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "btime ", 6) == 0) {
                btime = atoll(line + 6);
                break;
            }
        }
        fclose(f);
    }
    int64_t ticks = start_ticks();
    long hz = sysconf(_SC_CLK_TCK);
    if (btime > 0 && ticks >= 0 && hz > 0) {
        family(b, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
        puts_(b, "process_start_time_seconds ");
        put_i64(b, btime + ticks / hz);
        puts_(b, "\n");
    }
}

/* One unlabelled sample. */
static void plain(struct metrics_buf *b, const char *name, int64_t v)
{
    puts_(b, name);
    puts_(b, " ");
    put_i64(b, v);
    puts_(b, "\n");
}

/* The Redis fan-out and lease families; absent without redis.url. */
static void cluster_metrics(struct daemon *d, struct metrics_buf *b)
{
    if (d->cluster == NULL) {
        return;
    }
    struct cluster_stats cs;
    cluster_get_stats(d->cluster, &cs);
    struct sched_stats ss;
    sched_get_stats(d->sched, &ss);
    family(b, "shipwatch_cluster_connected", "gauge",
           "1 while Redis is reachable; 0 while every check runs here alone.");
    plain(b, "shipwatch_cluster_connected", cs.connected);
    family(b, "shipwatch_cluster_checks_owned", "gauge", "Check leases this daemon holds.");
    plain(b, "shipwatch_cluster_checks_owned", (int64_t)cs.checks_owned);
    family(b, "shipwatch_cluster_peers", "gauge",
           "Other daemons heard from on Redis within the last 10 seconds.");
    plain(b, "shipwatch_cluster_peers", (int64_t)cs.peers);
    family(b, "shipwatch_cluster_messages_total", "counter",
           "Messages on the Redis bus, by what became of them.");
    puts_(b, "shipwatch_cluster_messages_total{result=\"published\"} ");
    put_i64(b, (int64_t)cs.published_total);
    puts_(b, "\nshipwatch_cluster_messages_total{result=\"dropped\"} ");
    put_i64(b, (int64_t)cs.dropped_total);
    puts_(b, "\nshipwatch_cluster_messages_total{result=\"received\"} ");
    put_i64(b, (int64_t)cs.received_total);
    puts_(b, "\nshipwatch_cluster_messages_total{result=\"rejected\"} ");
    put_i64(b, (int64_t)cs.rejected_total);
    puts_(b, "\n");
    family(b, "shipwatch_cluster_reconnects_total", "counter",
           "Connections to Redis re-established after a failure.");
    plain(b, "shipwatch_cluster_reconnects_total", (int64_t)cs.reconnects_total);
    family(b, "shipwatch_cluster_skipped_not_owner_total", "counter",
           "Due ticks not run here because another daemon holds the check's lease.");
    plain(b, "shipwatch_cluster_skipped_not_owner_total", (int64_t)ss.skipped_not_owner_total);
}

int metrics_render(struct daemon *d, struct metrics_buf *b)
{
    oom = false;
    /* About 2 KiB a check: one allocation instead of a chain of copies. */
    if (!grow(b, 65536 + d->nchecks * 2304)) {
        return -ENOMEM;
    }
    family(b, "shipwatch_build_info", "gauge", "1, labelled with the daemon's version.");
    puts_(b, "shipwatch_build_info{version=\"" SHIPWATCH_VERSION "\"} 1\n");
    checks(d, b);
    deploys(d, b);
    alerts(d, b);

    struct ipc_server_stats ist;
    ipc_server_get_stats(d->ipc, &ist);
    family(b, "shipwatch_ipc_clients", "gauge", "Clients connected to the daemon's socket.");
    puts_(b, "shipwatch_ipc_clients ");
    put_i64(b, (int64_t)ist.clients);
    puts_(b, "\n");
    family(b, "shipwatch_ipc_slow_disconnects_total", "counter",
           "Socket subscribers disconnected because they stopped reading.");
    puts_(b, "shipwatch_ipc_slow_disconnects_total ");
    put_i64(b, (int64_t)ist.slow_disconnects_total);
    puts_(b, "\n");

    struct http_stats hst;
    http_server_get_stats(d->http, &hst);
    family(b, "shipwatch_http_connections", "gauge", "Connections open to the HTTP endpoint.");
    puts_(b, "shipwatch_http_connections ");
    put_i64(b, (int64_t)hst.connections);
    puts_(b, "\n");
    family(b, "shipwatch_http_requests_total", "counter", "HTTP requests answered.");
    puts_(b, "shipwatch_http_requests_total ");
    put_i64(b, (int64_t)hst.requests_total);
    puts_(b, "\n");
    family(b, "shipwatch_http_timeouts_total", "counter",
           "HTTP connections closed at a header, body or idle deadline.");
    puts_(b, "shipwatch_http_timeouts_total ");
    put_i64(b, (int64_t)hst.timeouts_total);
    puts_(b, "\n");
    family(b, "shipwatch_http_rejected_total", "counter",
           "HTTP connections refused over the connection limit.");
    puts_(b, "shipwatch_http_rejected_total ");
    put_i64(b, (int64_t)hst.rejected_total);
    puts_(b, "\n");

    size_t queue = 0;
    uint64_t errors = 0;
    store_stats(d->store, &queue, &errors);
    family(b, "shipwatch_store_queue_length", "gauge", "Writes queued for the store, not yet committed.");
    puts_(b, "shipwatch_store_queue_length ");
    put_i64(b, (int64_t)queue);
    puts_(b, "\n");
    family(b, "shipwatch_store_write_errors_total", "counter",
           "Writes the store failed or dropped since the daemon started.");
    puts_(b, "shipwatch_store_write_errors_total ");
    put_i64(b, (int64_t)errors);
    puts_(b, "\n");
    struct store_health h;
    store_health(d->store, &h);
    family(b, "shipwatch_store_up", "gauge",
           "1 while the store takes writes, 0 while it is degraded (writes wait).");
    puts_(b, h.degraded ? "shipwatch_store_up 0\n" : "shipwatch_store_up 1\n");
    family(b, "shipwatch_store_spooled_bytes", "gauge",
           "Writes waiting in the spool file for the store to come back.");
    puts_(b, "shipwatch_store_spooled_bytes ");
    put_i64(b, (int64_t)h.spooled_bytes);
    puts_(b, "\n");
    family(b, "shipwatch_store_reconnects_total", "counter",
           "Connections to the store re-established after a failure.");
    puts_(b, "shipwatch_store_reconnects_total ");
    put_i64(b, (int64_t)h.reconnects);
    puts_(b, "\n");
    family(b, "shipwatch_store_dropped_total", "counter",
           "Results dropped because the memory queue and the spool file were full.");
    puts_(b, "shipwatch_store_dropped_total ");
    put_i64(b, (int64_t)h.dropped);
    puts_(b, "\n");
    cluster_metrics(d, b);
    process(b);
    return oom ? -ENOMEM : 0;
}
