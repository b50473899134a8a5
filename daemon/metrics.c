/* metrics.c - Prometheus text format 0.0.4, written straight into a buffer:
 * 10,000 checks are about 150,000 series, so each line is a memcpy of its
 * check's escaped labels and a number formatted by hand. */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
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
#include "host.h"
#include "hoststat.h"
#include "http.h"
#include "ipc_server.h"
#include "perfdata.h"
#include "sbuf.h"
#include "sched.h"
#include "store.h"
#include "util.h"

/* Microseconds as seconds: "0.001234". */
static void put_seconds_us(struct sbuf *b, int64_t us)
{
    sbuf_append_i64(b, us / 1000000);
    char frac[8];
    snprintf(frac, sizeof(frac), ".%06lld", (long long)(us % 1000000 < 0 ? 0 : us % 1000000));
    sbuf_append_str(b, frac);
}

/* Microseconds as seconds the way Go's strconv.FormatFloat(f, 'f', -1, 64)
 * writes them, as Prometheus's own clients do: "0.005", "10", "2.5". A
 * decimal of at most six fraction digits is its own shortest form. */
static void format_seconds_us(char *out, size_t n, int64_t us)
{
    int len = snprintf(out, n, "%lld.%06lld", (long long)(us / 1000000),
                       (long long)(us % 1000000));
    while (len > 0 && out[len - 1] == '0') {
        out[--len] = '\0';
    }
    if (len > 0 && out[len - 1] == '.') {
        out[--len] = '\0';
    }
}

/* A double as the shortest text that reads back to it. */
static void put_double(struct sbuf *b, double d)
{
    char v[40];
    snprintf(v, sizeof(v), "%.15g", d);
    if (strtod(v, NULL) != d) {
        snprintf(v, sizeof(v), "%.17g", d);
    }
    sbuf_append_str(b, v);
}

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_append_str(b, "# HELP ");
    sbuf_append_str(b, name);
    sbuf_append_str(b, " ");
    sbuf_append_str(b, help);
    sbuf_append_str(b, "\n# TYPE ");
    sbuf_append_str(b, name);
    sbuf_append_str(b, " ");
    sbuf_append_str(b, type);
    sbuf_append_str(b, "\n");
}

/* A label value, escaped as the format wants: backslash, quote, newline. */
static void put_label(struct sbuf *b, const char *name, const char *v, bool comma)
{
    if (comma) {
        sbuf_append_str(b, ",");
    }
    sbuf_append_str(b, name);
    sbuf_append_str(b, "=\"");
    /* Runs without a special character are copied at once. */
    const char *p = v != NULL ? v : "";
    for (;;) {
        size_t run = strcspn(p, "\\\"\n");
        sbuf_append(b, p, run);
        p += run;
        if (*p == '\0') {
            break;
        }
        sbuf_append_str(b, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n");
        p++;
    }
    sbuf_append_str(b, "\"");
}

/* One sample: name{labels[,extra]} value */
static void sample(struct sbuf *b, const char *name, const char *labels, size_t llen,
                   const char *extra, int64_t v)
{
    sbuf_append_str(b, name);
    sbuf_append_str(b, "{");
    sbuf_append(b, labels, llen);
    if (extra != NULL) {
        sbuf_append_str(b, extra);
    }
    sbuf_append_str(b, "} ");
    sbuf_append_i64(b, v);
    sbuf_append_str(b, "\n");
}

/* The labels of every check, escaped once, back to back in one buffer:
 * "check=...,app=...,env=...,type=..."; offs[i] is where check i's start
 * (offs[nchecks] the end). */
static int check_labels(struct daemon *d, struct sbuf *lb, size_t **offs)
{
    *offs = calloc(d->nchecks + 1, sizeof(**offs));
    if (*offs == NULL || !sbuf_reserve(lb, d->nchecks * 96 + 1)) {
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
    return lb->failed ? -ENOMEM : 0;
}

static int checks(struct daemon *d, struct sbuf *b)
{
    struct sbuf lb;
    sbuf_init(&lb, 0);
    size_t *offs = NULL;
    if (check_labels(d, &lb, &offs) < 0) {
        sbuf_finish(&lb);
        free(offs);
        return -ENOMEM;
    }
    /* The i-th check's labels and their length. */
#define LBL(i) (lb.data + offs[i]), (offs[(i) + 1] - offs[i])
    family(b, "shipwatch_check_up", "gauge", "1 when the check's state is up, else 0.");
    for (size_t i = 0; i < d->nchecks; i++) {
        sample(b, "shipwatch_check_up", LBL(i), NULL,
               d->checks[i]->state == STATE_UP);
    }
    family(b, "shipwatch_check_state", "gauge",
           "1 for the check's current state, 0 for the other three (one series a state).");
    static const char *const states[] = {",state=\"unknown\"", ",state=\"up\"",
                                         ",state=\"degraded\"", ",state=\"down\""};
    for (size_t i = 0; i < d->nchecks; i++) {
        for (int k = 0; k < 4; k++) {
            sample(b, "shipwatch_check_state", LBL(i), states[k],
                   (int)d->checks[i]->state == k);
        }
    }
    family(b, "shipwatch_check_last_success", "gauge",
           "1 when the check's last result was up or degraded, 0 when down or unknown; "
           "absent before its first.");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct last_result *r = &d->checks[i]->last;
        if (r->started_ms > 0) {
            sample(b, "shipwatch_check_last_success", LBL(i), NULL,
                   r->outcome == STATE_UP || r->outcome == STATE_DEGRADED);
        }
    }
    family(b, "shipwatch_check_last_duration_seconds", "gauge",
           "How long the check's last run took; absent before its first.");
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct last_result *r = &d->checks[i]->last;
        if (r->started_ms > 0) {
            sbuf_append_str(b, "shipwatch_check_last_duration_seconds{");
            sbuf_append(b, LBL(i));
            sbuf_append_str(b, "} ");
            put_seconds_us(b, r->duration_us);
            sbuf_append_str(b, "\n");
        }
    }
    family(b, "shipwatch_check_duration_seconds", "histogram",
           "How long the check's runs took, since the daemon started.");
    char le[CHECK_DURATION_BUCKETS][40];
    for (int k = 0; k < CHECK_DURATION_BUCKETS; k++) {
        char secs[32];
        format_seconds_us(secs, sizeof(secs), check_duration_bounds_us[k]);
        snprintf(le[k], sizeof(le[k]), ",le=\"%s\"", secs);
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        for (int k = 0; k < CHECK_DURATION_BUCKETS; k++) {
            sample(b, "shipwatch_check_duration_seconds_bucket", LBL(i), le[k],
                   (int64_t)c->duration_buckets[k]);
        }
        sample(b, "shipwatch_check_duration_seconds_bucket", LBL(i),
               ",le=\"+Inf\"", (int64_t)c->duration_count);
        sbuf_append_str(b, "shipwatch_check_duration_seconds_sum{");
        sbuf_append(b, LBL(i));
        sbuf_append_str(b, "} ");
        put_seconds_us(b, c->duration_sum_us);
        sbuf_append_str(b, "\n");
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
    sbuf_finish(&lb);
    free(offs);
    return 0;
}

/* shipwatch_check_perfdata: each check's last perfdata, one series an
 * item (at most PERFDATA_MAX a check, as the result keeps them); items
 * whose value is unknown ("U") are left out. */
static void check_perfdata(struct daemon *d, struct sbuf *b)
{
    family(b, "shipwatch_check_perfdata", "gauge",
           "The perfdata of an exec or host check's last result, by label and unit of measure.");
    struct perfdata pd;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->checks[i];
        const char *text = last_result_text(&c->last, RESULT_TEXT_PERFDATA);
        if (text[0] == '\0') {
            continue;
        }
        memset(&pd, 0, sizeof(pd));
        perfdata_parse(&pd, text, strlen(text));
        for (size_t k = 0; k < pd.n && k < PERFDATA_MAX; k++) {
            const struct perfdata_item *it = &pd.items[k];
            if (it->flags & PERFDATA_VALUE_UNKNOWN) {
                continue;
            }
            sbuf_append_str(b, "shipwatch_check_perfdata{");
            put_label(b, "check", c->conf->name, false);
            put_label(b, "label", it->label, true);
            put_label(b, "uom", it->uom, true);
            sbuf_append_str(b, "} ");
            put_double(b, it->value);
            sbuf_append_str(b, "\n");
        }
    }
}

/* One notifier's sample of one of the two notification families. */
struct notifier_walk {
    struct sbuf *b;
    bool failed;                /* which family */
};

static void notifier_sample(const char *name, uint64_t sent, uint64_t failed, void *arg)
{
    struct notifier_walk *w = arg;
    sbuf_append_str(w->b, w->failed ? "shipwatch_notifications_failed_total{"
                          : "shipwatch_notifications_sent_total{");
    put_label(w->b, "notifier", name, false);
    sbuf_append_str(w->b, "} ");
    sbuf_append_i64(w->b, (int64_t)(w->failed ? failed : sent));
    sbuf_append_str(w->b, "\n");
}

static void alerts(struct daemon *d, struct sbuf *b)
{
    uint64_t firing[ALERT_NSEVERITIES];
    alert_firing(d, firing);
    family(b, "shipwatch_alerts_firing", "gauge",
           "Alerts open (firing or acknowledged), by severity.");
    for (int s = ALERT_NSEVERITIES - 1; s >= 0; s--) {
        sbuf_append_str(b, "shipwatch_alerts_firing{");
        put_label(b, "severity", alert_severity_name((enum alert_severity)s), false);
        sbuf_append_str(b, "} ");
        sbuf_append_i64(b, (int64_t)firing[s]);
        sbuf_append_str(b, "\n");
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

static void deploys(struct daemon *d, struct sbuf *b)
{
    family(b, "shipwatch_deploys_total", "counter",
           "Deploys recorded since the daemon started, by app, env and verdict.");
    size_t ncounts, nlasts;
    const struct deploy_count *counts = deploys_counts(d->deploys, &ncounts);
    const struct deploy_last *lasts = deploys_lasts(d->deploys, &nlasts);
    for (size_t i = 0; i < ncounts; i++) {
        const struct deploy_count *s = &counts[i];
        sbuf_append_str(b, "shipwatch_deploys_total{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        put_label(b, "verdict", s->verdict, true);
        sbuf_append_str(b, "} ");
        sbuf_append_i64(b, (int64_t)s->count);
        sbuf_append_str(b, "\n");
    }
    family(b, "shipwatch_deploy_last_timestamp_seconds", "gauge",
           "When the last deploy of the app and env started, in unix seconds.");
    for (size_t i = 0; i < nlasts; i++) {
        const struct deploy_last *s = &lasts[i];
        sbuf_append_str(b, "shipwatch_deploy_last_timestamp_seconds{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        sbuf_append_str(b, "} ");
        sbuf_append_i64(b, s->started_ms / 1000);
        sbuf_append_str(b, "\n");
    }
    family(b, "shipwatch_deploy_info", "gauge",
           "1 for the version last deployed to the app and env.");
    for (size_t i = 0; i < nlasts; i++) {
        const struct deploy_last *s = &lasts[i];
        sbuf_append_str(b, "shipwatch_deploy_info{");
        put_label(b, "app", s->app, false);
        put_label(b, "env", s->env, true);
        put_label(b, "version", s->version, true);
        sbuf_append_str(b, "} 1\n");
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

static void process(struct sbuf *b)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t cpu_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                     (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    family(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    sbuf_append_str(b, "process_cpu_seconds_total ");
    put_seconds_us(b, cpu_us);
    sbuf_append_str(b, "\n");

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
    sbuf_append_str(b, "process_resident_memory_bytes ");
    sbuf_append_i64(b, resident * page);
    sbuf_append_str(b, "\n");
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    sbuf_append_str(b, "process_virtual_memory_bytes ");
    sbuf_append_i64(b, size * page);
    sbuf_append_str(b, "\n");

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
    sbuf_append_str(b, "process_open_fds ");
    sbuf_append_i64(b, fds);
    sbuf_append_str(b, "\n");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sbuf_append_str(b, "process_max_fds ");
    sbuf_append_i64(b, rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur);
    sbuf_append_str(b, "\n");

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
        sbuf_append_str(b, "process_start_time_seconds ");
        sbuf_append_i64(b, btime + ticks / hz);
        sbuf_append_str(b, "\n");
    }
}

/* One unlabelled sample. */
static void plain(struct sbuf *b, const char *name, int64_t v)
{
    sbuf_append_str(b, name);
    sbuf_append_str(b, " ");
    sbuf_append_i64(b, v);
    sbuf_append_str(b, "\n");
}

/* The Redis fan-out and lease families; absent without redis.url. */
static void cluster_metrics(struct daemon *d, struct sbuf *b)
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
    sbuf_append_str(b, "shipwatch_cluster_messages_total{result=\"published\"} ");
    sbuf_append_i64(b, (int64_t)cs.published_total);
    sbuf_append_str(b, "\nshipwatch_cluster_messages_total{result=\"dropped\"} ");
    sbuf_append_i64(b, (int64_t)cs.dropped_total);
    sbuf_append_str(b, "\nshipwatch_cluster_messages_total{result=\"received\"} ");
    sbuf_append_i64(b, (int64_t)cs.received_total);
    sbuf_append_str(b, "\nshipwatch_cluster_messages_total{result=\"rejected\"} ");
    sbuf_append_i64(b, (int64_t)cs.rejected_total);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_cluster_reconnects_total", "counter",
           "Connections to Redis re-established after a failure.");
    plain(b, "shipwatch_cluster_reconnects_total", (int64_t)cs.reconnects_total);
    family(b, "shipwatch_cluster_skipped_not_owner_total", "counter",
           "Due ticks not run here because another daemon holds the check's lease.");
    plain(b, "shipwatch_cluster_skipped_not_owner_total", (int64_t)ss.skipped_not_owner_total);
    family(b, "shipwatch_cluster_leases_overridden_total", "counter",
           "Check leases taken over from a holder not to be believed: a node that never "
           "announced itself, or a lease set to outlive interval plus grace.");
    plain(b, "shipwatch_cluster_leases_overridden_total", (int64_t)cs.leases_overridden_total);
    family(b, "shipwatch_cluster_unrun_total", "counter",
           "Checks judged unknown here because no node ran them for two intervals while "
           "another kept their lease.");
    plain(b, "shipwatch_cluster_unrun_total", (int64_t)cs.unrun_total);
}

/* Filesystems and interfaces listed at most. */
#define HOST_FS_MAX 64
#define HOST_NET_MAX 64

/* One sample with at most one label: name{label="v"} d, or name d. */
static void host_sample(struct sbuf *b, const char *name, const char *label, const char *v,
                        double d)
{
    sbuf_append_str(b, name);
    if (label != NULL) {
        sbuf_append_str(b, "{");
        put_label(b, label, v, false);
        sbuf_append_str(b, "}");
    }
    sbuf_append_str(b, " ");
    put_double(b, d);
    sbuf_append_str(b, "\n");
}

/* The host's CPU time by mode, and its CPUs. */
static void host_cpu(struct sbuf *b)
{
    static const char *const modes[HOSTSTAT_NSTATES] = {
        [HOSTSTAT_USER] = "user",     [HOSTSTAT_NICE] = "nice",       [HOSTSTAT_SYSTEM] = "system",
        [HOSTSTAT_IDLE] = "idle",     [HOSTSTAT_IOWAIT] = "iowait",   [HOSTSTAT_IRQ] = "irq",
        [HOSTSTAT_SOFTIRQ] = "softirq", [HOSTSTAT_STEAL] = "steal",
    };
    char line[512];
    struct hoststat_cpu c;
    int id;
    long hz = sysconf(_SC_CLK_TCK);
    if (host_read("/proc", "stat", line, sizeof(line)) > 0 && hoststat_cpu_line(line, &id, &c) &&
        id < 0 && hz > 0) {
        family(b, "shipwatch_host_cpu_seconds_total", "counter",
               "Time all the host's CPUs spent in each mode since boot (/proc/stat).");
        for (int i = 0; i < HOSTSTAT_NSTATES; i++) {
            host_sample(b, "shipwatch_host_cpu_seconds_total", "mode", modes[i],
                        (double)c.ticks[i] / (double)hz);
        }
    }
    int cpus = host_cpus("/proc");
    if (cpus > 0) {
        family(b, "shipwatch_host_cpus", "gauge", "CPUs the host's kernel lists.");
        host_sample(b, "shipwatch_host_cpus", NULL, NULL, cpus);
    }
}

/* Memory, swap and load. */
static void host_memory_load(struct sbuf *b)
{
    struct hoststat_mem m;
    if (hoststat_meminfo("/proc", &m) == 0) {
        family(b, "shipwatch_host_memory_total_bytes", "gauge", "The host's memory (MemTotal).");
        host_sample(b, "shipwatch_host_memory_total_bytes", NULL, NULL, m.total);
        family(b, "shipwatch_host_memory_available_bytes", "gauge",
               "Memory available without swapping (MemAvailable, or its estimate).");
        host_sample(b, "shipwatch_host_memory_available_bytes", NULL, NULL, m.available);
        family(b, "shipwatch_host_swap_total_bytes", "gauge", "Swap space; 0 without swap.");
        host_sample(b, "shipwatch_host_swap_total_bytes", NULL, NULL, m.swap_total);
        family(b, "shipwatch_host_swap_free_bytes", "gauge", "Swap space unused.");
        host_sample(b, "shipwatch_host_swap_free_bytes", NULL, NULL, m.swap_free);
    }
    double avg[3];
    if (hoststat_loadavg("/proc", avg) == 0) {
        static const char *const names[3] = {"shipwatch_host_load1", "shipwatch_host_load5",
                                             "shipwatch_host_load15"};
        static const char *const helps[3] = {"The 1-minute load average.",
                                             "The 5-minute load average.",
                                             "The 15-minute load average."};
        for (int i = 0; i < 3; i++) {
            family(b, names[i], "gauge", helps[i]);
            host_sample(b, names[i], NULL, NULL, avg[i]);
        }
    }
}

/* Local filesystems: statvfs on the loop never waits on a network mount,
 * so those are left out (the dashboard's host view reads them in a thread). */
static void host_filesystems(struct sbuf *b)
{
    struct hoststat_mount *mounts = calloc(HOST_FS_MAX, sizeof(*mounts));
    struct hoststat_fs *fs = calloc(HOST_FS_MAX, sizeof(*fs));
    int n = mounts != NULL && fs != NULL ? hoststat_mounts("/proc", mounts, HOST_FS_MAX) : -1;
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (hoststat_fs_local(mounts[i].fstype) && hoststat_fs(mounts[i].dir, &fs[kept]) == 0 &&
            fs[kept].size > 0) {
            mounts[kept++] = mounts[i];
        }
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } families[] = {
        {"shipwatch_host_filesystem_size_bytes", "The filesystem's size.",
         offsetof(struct hoststat_fs, size)},
        {"shipwatch_host_filesystem_free_bytes", "Bytes free, root's reserve included.",
         offsetof(struct hoststat_fs, free)},
        {"shipwatch_host_filesystem_avail_bytes", "Bytes users may still write.",
         offsetof(struct hoststat_fs, avail)},
        {"shipwatch_host_filesystem_files", "Inodes; 0 when the filesystem counts none.",
         offsetof(struct hoststat_fs, files)},
        {"shipwatch_host_filesystem_files_free", "Inodes free.",
         offsetof(struct hoststat_fs, files_free)},
    };
    for (size_t k = 0; k < ARRAY_SIZE(families) && kept > 0; k++) {
        family(b, families[k].name, "gauge", families[k].help);
        for (int i = 0; i < kept; i++) {
            sbuf_append_str(b, families[k].name);
            sbuf_append_str(b, "{");
            put_label(b, "mountpoint", mounts[i].dir, false);
            put_label(b, "device", mounts[i].device, true);
            put_label(b, "fstype", mounts[i].fstype, true);
            sbuf_append_str(b, "} ");
            double v;
            memcpy(&v, (const char *)&fs[i] + families[k].off, sizeof(v));
            put_double(b, v);
            sbuf_append_str(b, "\n");
        }
    }
    free(mounts);
    free(fs);
}

/* Bytes in and out of each interface. */
static void host_network(struct sbuf *b)
{
    struct hoststat_net *nets = calloc(HOST_NET_MAX, sizeof(*nets));
    int n = nets != NULL ? hoststat_netdev("/proc", nets, HOST_NET_MAX) : -1;
    if (n > 0) {
        family(b, "shipwatch_host_network_receive_bytes_total", "counter",
               "Bytes the interface received (/proc/net/dev).");
        for (int i = 0; i < n; i++) {
            host_sample(b, "shipwatch_host_network_receive_bytes_total", "device", nets[i].name,
                        (double)nets[i].rx_bytes);
        }
        family(b, "shipwatch_host_network_transmit_bytes_total", "counter",
               "Bytes the interface sent (/proc/net/dev).");
        for (int i = 0; i < n; i++) {
            host_sample(b, "shipwatch_host_network_transmit_bytes_total", "device", nets[i].name,
                        (double)nets[i].tx_bytes);
        }
    }
    free(nets);
}

/* The host's basics, read now: a few small files of /proc and statvfs of
 * the local filesystems, well under a millisecond. */
static void host_metrics(struct sbuf *b)
{
    host_cpu(b);
    host_memory_load(b);
    host_filesystems(b);
    host_network(b);
}

/* Every family into b. */
static int render(struct daemon *d, struct sbuf *b)
{
    /* About 2 KiB a check: one allocation instead of a chain of copies. */
    if (!sbuf_reserve(b, 65536 + d->nchecks * 2304)) {
        return -ENOMEM;
    }
    family(b, "shipwatch_build_info", "gauge", "1, labelled with the daemon's version.");
    sbuf_append_str(b, "shipwatch_build_info{version=\"" SHIPWATCH_VERSION "\"} 1\n");
    int rc = checks(d, b);
    check_perfdata(d, b);
    deploys(d, b);
    alerts(d, b);

    struct ipc_server_stats ist;
    ipc_server_get_stats(d->ipc, &ist);
    family(b, "shipwatch_ipc_clients", "gauge", "Clients connected to the daemon's socket.");
    sbuf_append_str(b, "shipwatch_ipc_clients ");
    sbuf_append_i64(b, (int64_t)ist.clients);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_ipc_slow_disconnects_total", "counter",
           "Socket subscribers disconnected because they stopped reading.");
    sbuf_append_str(b, "shipwatch_ipc_slow_disconnects_total ");
    sbuf_append_i64(b, (int64_t)ist.slow_disconnects_total);
    sbuf_append_str(b, "\n");

    struct http_stats hst;
    http_server_get_stats(d->http, &hst);
    family(b, "shipwatch_http_connections", "gauge", "Connections open to the HTTP endpoint.");
    sbuf_append_str(b, "shipwatch_http_connections ");
    sbuf_append_i64(b, (int64_t)hst.connections);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_http_requests_total", "counter", "HTTP requests answered.");
    sbuf_append_str(b, "shipwatch_http_requests_total ");
    sbuf_append_i64(b, (int64_t)hst.requests_total);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_http_timeouts_total", "counter",
           "HTTP connections closed at a header, body or idle deadline.");
    sbuf_append_str(b, "shipwatch_http_timeouts_total ");
    sbuf_append_i64(b, (int64_t)hst.timeouts_total);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_http_rejected_total", "counter",
           "HTTP connections closed unanswered: over every connection limit, or evicted "
           "from a reserved slot.");
    sbuf_append_str(b, "shipwatch_http_rejected_total ");
    sbuf_append_i64(b, (int64_t)hst.rejected_total);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_http_shed_total", "counter",
           "HTTP requests answered 503: over a connection limit or the buffered-bytes budget.");
    sbuf_append_str(b, "shipwatch_http_shed_total ");
    sbuf_append_i64(b, (int64_t)hst.shed_total);
    sbuf_append_str(b, "\n");

    size_t queue = 0;
    uint64_t errors = 0;
    store_stats(d->store, &queue, &errors);
    family(b, "shipwatch_store_queue_length", "gauge", "Writes queued for the store, not yet committed.");
    sbuf_append_str(b, "shipwatch_store_queue_length ");
    sbuf_append_i64(b, (int64_t)queue);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_store_write_errors_total", "counter",
           "Writes the store failed or dropped since the daemon started.");
    sbuf_append_str(b, "shipwatch_store_write_errors_total ");
    sbuf_append_i64(b, (int64_t)errors);
    sbuf_append_str(b, "\n");
    struct store_health h;
    store_health(d->store, &h);
    family(b, "shipwatch_store_up", "gauge",
           "1 while the store takes writes, 0 while it is degraded (writes wait).");
    sbuf_append_str(b, h.degraded ? "shipwatch_store_up 0\n" : "shipwatch_store_up 1\n");
    family(b, "shipwatch_store_spooled_bytes", "gauge",
           "Writes waiting in the spool file for the store to come back.");
    sbuf_append_str(b, "shipwatch_store_spooled_bytes ");
    sbuf_append_i64(b, (int64_t)h.spooled_bytes);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_store_reconnects_total", "counter",
           "Connections to the store re-established after a failure.");
    sbuf_append_str(b, "shipwatch_store_reconnects_total ");
    sbuf_append_i64(b, (int64_t)h.reconnects);
    sbuf_append_str(b, "\n");
    family(b, "shipwatch_store_dropped_total", "counter",
           "Results dropped because the memory queue and the spool file were full.");
    sbuf_append_str(b, "shipwatch_store_dropped_total ");
    sbuf_append_i64(b, (int64_t)h.dropped);
    sbuf_append_str(b, "\n");
    cluster_metrics(d, b);
    host_metrics(b);
    process(b);
    return rc < 0 || b->failed ? -ENOMEM : 0;
}

/* The text is built in an sbuf over b's recycled block and handed back in
 * b, also on failure (the caller frees b->data either way). */
int metrics_render(struct daemon *d, struct metrics_buf *b)
{
    struct sbuf sb;
    sbuf_init(&sb, 0);
    sbuf_adopt(&sb, b->data, b->cap);
    int rc = render(d, &sb);
    b->data = sb.data;
    b->len = sb.len;
    b->cap = sb.cap;
    return rc;
}
