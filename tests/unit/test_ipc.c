/* test_ipc.c - the msgpack-RPC message types: fixtures with every field
 * set, every message round trip, absent fields, truncation. Limits and
 * hostile input are in test_ipc_wire.c, the peer in test_peer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_proto.h"
#include "ipc_wire.h"
#include "util.h"

/* A msgpack-c call that must succeed: packing into an sbuffer fails only
 * without memory. */
#define P(call) assert_int_equal((call), 0)

/* --- field comparison --- */

/* While not NULL, comparisons count mismatches here instead of failing:
 * test_fixtures uses it to see that each eq_ function checks every field. */
static size_t *mismatches;

/* Fail unless two integers (or booleans) of one field are equal. */
static void eq_i(const char *field, int64_t a, int64_t b)
{
    if (a != b && mismatches != NULL) {
        (*mismatches)++;
    } else if (a != b) {
        fail_msg("%s: %lld != %lld", field, (long long)a, (long long)b);
    }
}

/* Fail unless two strings of one field are both absent or equal. */
static void eq_s(const char *field, const char *a, const char *b)
{
    if (a == NULL && b == NULL) {
        return;
    }
    if ((a == NULL || b == NULL || strcmp(a, b) != 0) && mismatches != NULL) {
        (*mismatches)++;
    } else if (a == NULL || b == NULL || strcmp(a, b) != 0) {
        fail_msg("%s: \"%s\" != \"%s\"", field, a != NULL ? a : "(null)", b != NULL ? b : "(null)");
    }
}

#define EQ_I(f) eq_i(#f, a->f, b->f)
#define EQ_B(f) eq_i(#f, a->f, b->f)
#define EQ_S(f) eq_s(#f, a->f, b->f)

/* --- fixtures: every field set, each to a value no other field of the
 * struct has, so a dropped or swapped field shows --- */

/* A str16 (over 255 bytes) for the encoder's longer string form. */
#define S50 "https://deploys.example.com/shop/prod/1.4.2/logs/0"
#define LONG_URL S50 S50 S50 S50 S50 S50 "?page=1"

static const struct ipc_hello_params hello_params = {
    .client = "shipwatch 0.1.0",
    .protocol = IPC_PROTOCOL,
};

static const struct ipc_checks_filter checks_filter = {
    .app = "shop",
    .env = "prod",
    .state = "down",
    .after = "shop-api",
    .limit = 500,
};

static const struct ipc_check_ref check_ref = {.check = "shop-web"};

static const struct ipc_history_params history_params = {
    .check = "shop-web",
    .from_ms = 1700000000000,
    .to_ms = 1700003600000,
    .limit = 10000,
    .granularity = "minute",
};

static const struct ipc_deploys_query deploys_query = {
    .app = "shop",
    .env = "staging",
    .before_id = 4294967296, /* 2^32: the uint64 form */
    .limit = 50,
};

static const struct ipc_events_query events_query = {
    .app = "shop",
    .check = "shop-db",
    .type = "state_change",
    .before_id = 77,
    .limit = 1000,
};

static char *topic_list[] = {"results", "states", "deploys", "alerts", "log"};
static const struct ipc_topics topics = {
    .topics = topic_list, .ntopics = ARRAY_SIZE(topic_list), .node = "fra-2"};
static const struct ipc_host_query host_query = {.node = "fra-3"};
static char *peer_list[] = {"fra-2", "fra-3"};

static const struct ipc_deploy deploy_rows[] = {
    {
        .id = 9007199254740993, /* 2^53 + 1: no double holds it */
        .app = "shop",
        .env = "prod",
        .version = "1.4.2",
        .commit = "0123456789abcdef0123456789abcdef01234567",
        .author = "Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m",
        .source = "github",
        .url = LONG_URL,
        .description = "", /* empty, which is not absent */
        .status = "succeeded",
        .started_ms = 1700000000001,
        .finished_ms = 1700000000999,
        .verdict = "healthy",
        .verdict_reason = "all checks up for 5m",
        .failing_check = "shop-db",
        .rollback_version = "1.4.1",
        .ref = "main",
        .verify_window_ms = 300000,
    },
    {
        .id = 1,
        .app = "blog",
        .env = "staging",
        .version = "2024.01.05-rc1",
        .commit = "deadbeef",
        .author = "ci",
        .source = "cli",
        .url = "https://ci.example.com/b/12",
        .description = "rollback after \"500\" storm\n",
        .status = "failed",
        .started_ms = -5,        /* negative fixint */
        .finished_ms = -1000000, /* int32 */
        .verdict = "failed",
        .verdict_reason = "blog-web down 3 times",
        .failing_check = "blog-web",
        .rollback_version = "2024.01.04",
        .ref = "refs/tags/2024.01.05-rc1",
        .verify_window_ms = 1000,
    },
};

static const struct ipc_hello_result hello_result = {
    .protocol = IPC_PROTOCOL,
    .version = "0.1.0",
    .capabilities = (char *[]){"daemon.hello", "events.subscribe", "topic:log"},
    .ncapabilities = 3,
    .pid = 4242,
    .started_ms = 1700000000000,
    .uid = 1000,
    .admin = true,
};

static const struct ipc_location location_rows[] = {
    {.name = "fra-1", .state = "down", .last_ms = 1700000031000, .last_outcome = "degraded",
     .last_error = "HTTP 503"},
    {.name = "nyc-2", .state = "up", .last_ms = 1700000032000, .last_outcome = "up",
     .last_error = "slow"},
    {.name = "sfo-3", .state = "degraded", .last_ms = 1700000033000, .last_outcome = "down",
     .last_error = "timeout"},
    {.name = "sin-4", .state = "unknown", .last_ms = 1700000034000, .last_outcome = "unknown",
     .last_error = "refused"},
};

static const struct ipc_check check_rows[] = {
    {
        .name = "shop-web",
        .app = "shop",
        .env = "prod",
        .type = "http",
        .target = "https://shop.example.com/health",
        .state = "degraded",
        .paused = true,
        .running = true,
        .interval_ms = 30000,
        .timeout_ms = 5000,
        .state_since_ms = 1700000000000,
        .fail_streak = 2,
        .ok_streak = 3,
        .runs_total = 123456789012,
        .skipped_total = 4,
        .last_ms = 1700000030000,
        .last_duration_us = 250123,
        .last_outcome = "degraded",
        .last_status = 503,
        .last_error = "HTTP 503",
        .last_condition = "[STATUS] == 200",
        .last_message = "HTTP WARNING - 503",
        .last_long_output = "line one\nline two",
        .last_perfdata = "'time'=0.25s;1;2;0 'size'=512B",
        .verdict = "no ping for 90s (period 60s, grace 0s)",
        .held_by = "depends-on db",
        .runner = "fra-1",
        .skipped_not_owner = 17,
        .locations = (struct ipc_location *)location_rows,
        .nlocations = 2,
    },
    {
        .name = "shop-db",
        .app = "shop",
        .env = "prod",
        .type = "tcp",
        .target = "db.internal:5432",
        .state = "up",
        .paused = true,
        .running = true,
        .interval_ms = 60000,
        .timeout_ms = 2000,
        .state_since_ms = 1600000000000,
        .fail_streak = 5,
        .ok_streak = 6,
        .runs_total = 7,
        .skipped_total = 8,
        .last_ms = 1700000060000,
        .last_duration_us = 900,
        .last_outcome = "up",
        .last_status = -1,
        .last_error = "connect: refused",
        .last_condition = "[CONNECTED] == true",
        .last_message = "TCP OK - 0.001 second response time",
        .last_long_output = "\u00e9t\u00e9",
        .last_perfdata = "'time'=0.001s",
        .verdict = "run started 2m ago has not finished",
        .held_by = "deploy 12",
        .runner = "nyc-2",
        .skipped_not_owner = 18,
        .locations = (struct ipc_location *)location_rows + 2,
        .nlocations = 2,
    },
};

static const struct ipc_app_status app_rows[] = {
    {.app = "shop",
     .env = "prod",
     .state = "down",
     .up = 3,
     .down = 1,
     .degraded = 2,
     .unknown = 4,
     .paused = 5},
    {.app = "blog",
     .env = "staging",
     .state = "up",
     .up = 6,
     .down = 7,
     .degraded = 8,
     .unknown = 9,
     .paused = 10},
};

static const struct ipc_status status = {
    .version = "0.1.0",
    .pid = 31337,
    .started_ms = 1699999999000,
    .now_ms = 1700000123456,
    .config = "/etc/shipwatch/shipwatch.yaml",
    .store = "sqlite",
    .store_queue = 3,
    .store_write_errors = INT64_MAX,
    .store_degraded = true,
    .store_reason = "connection refused",
    .store_spooled_bytes = 4096,
    .checks = 12,
    .up = 7,
    .down = 2,
    .degraded = 1,
    .unknown = 13,
    .paused = 14,
    .clients = 15,
    .subscribers = 16,
    .draining = true,
    .node = "fra-1",
    .cluster = "edge",
    .cluster_connected = true,
    .cluster_peers = 19,
    .cluster_peer_names = peer_list,
    .ncluster_peer_names = ARRAY_SIZE(peer_list),
    .checks_owned = 20,
    .host_sampling = true,
    .apps = (struct ipc_app_status *)app_rows,
    .napps = ARRAY_SIZE(app_rows),
};

static const struct ipc_checks checks = {
    .checks = (struct ipc_check *)check_rows,
    .nchecks = ARRAY_SIZE(check_rows),
    .next = "shop-db",
};

static const struct ipc_history_row history_rows[] = {
    {.ts_ms = 1700000060000,
     .count = 1,
     .failures = 2,
     .latency_min_us = 3,
     .latency_avg_us = 4,
     .latency_p95_us = 5,
     .latency_max_us = 6,
     .outcome = "down",
     .status = 500,
     .error = "HTTP 500",
     .failed_condition = "[STATUS] == 200",
     .message = "CRITICAL - 500",
     .perfdata = "'time'=1s",
     .conditions = 3,
     .conditions_failed = 5},
    {.ts_ms = 1700000000000,
     .count = 60,
     .failures = 7,
     .latency_min_us = 100,
     .latency_avg_us = 2000,
     .latency_p95_us = 30000,
     .latency_max_us = 4000000,
     .outcome = "up",
     .status = 200,
     .error = "-",
     .failed_condition = "[BODY].ok == true",
     .message = "OK",
     .perfdata = "'a b'=1;2;3",
     .conditions = 16,
     .conditions_failed = 0xffff},
    {.ts_ms = 1,
     .count = 2,
     .failures = 3,
     .latency_min_us = 4,
     .latency_avg_us = 5,
     .latency_p95_us = 6,
     .latency_max_us = INT64_MAX,
     .outcome = "timeout",
     .status = -1,
     .error = "timed out after 5s",
     .failed_condition = "[RESPONSE_TIME] < 500",
     .message = "-",
     .perfdata = "-",
     .conditions = 1,
     .conditions_failed = 1},
};

static const struct ipc_history history = {
    .check = "shop-web",
    .granularity = "raw",
    .rows = (struct ipc_history_row *)history_rows,
    .nrows = ARRAY_SIZE(history_rows),
};

static const struct ipc_run run = {
    .check = "shop-web",
    .outcome = "down",
    .state = "degraded",
    .started_ms = 1700000000500,
    .duration_us = 1234567,
    .status = INT64_MIN,
    .error = "connection reset",
    .failed_condition = "[STATUS] < 400",
};

static const struct ipc_paused paused = {.check = "shop-web", .paused = true};

static const struct ipc_deploys deploys = {
    .deploys = (struct ipc_deploy *)deploy_rows,
    .ndeploys = ARRAY_SIZE(deploy_rows),
};

static const struct ipc_event event_rows[] = {
    {.id = 42,
     .ts_ms = 1700000000000,
     .type = "state_change",
     .check = "shop-web",
     .app = "shop",
     .env = "prod",
     .message = "shop-web: up -> down",
     .data = "{\"from\":\"up\",\"to\":\"down\"}"},
    {.id = 41,
     .ts_ms = 1699999999999,
     .type = "deploy",
     .check = "shop-db",
     .app = "blog",
     .env = "staging",
     .message = "deploy 1.4.2",
     .data = "{}"},
};

static const struct ipc_events events = {
    .events = (struct ipc_event *)event_rows,
    .nevents = ARRAY_SIZE(event_rows),
    .next_before_id = 40,
};

static int64_t spark_a[] = {-1, 1200, 3400, -5600000000LL};
static int64_t spark_b[] = {7};
static struct ipc_check_stats stats_rows[] = {
    {.check = "web",
     .runs_24h = 1440,
     .failures_24h = 3,
     .uptime_24h_ppm = 997916,
     .runs_7d = 10080,
     .failures_7d = 17,
     .uptime_7d_ppm = 998313,
     .runs_30d = 43200,
     .failures_30d = 40,
     .uptime_30d_ppm = 999074,
     .p95_1h_us = 81234,
     .spark = spark_a,
     .nspark = 4},
    {.check = "db",
     .runs_24h = 11,
     .failures_24h = 12,
     .uptime_24h_ppm = 13,
     .runs_7d = 14,
     .failures_7d = 15,
     .uptime_7d_ppm = -1,
     .runs_30d = 17,
     .failures_30d = 18,
     .uptime_30d_ppm = 19,
     .p95_1h_us = 16,
     .spark = spark_b,
     .nspark = 1},
};

static const struct ipc_checks_stats checks_stats = {.stats = stats_rows, .nstats = 2,
                                                     .next = "web"};
static const struct ipc_stats_page stats_page = {.after = "db", .limit = 2000};

static const struct ipc_reload reload = {
    .checks = 12,
    .added = 3,
    .removed = 1,
    .changed = 2,
    .unchanged = 6,
};

static struct ipc_host_cpu host_cpus[] = {
    {.name = "cpu0", .used_ppm = 125000, .iowait_ppm = 2000, .steal_ppm = 300},
    {.name = "cpu1", .used_ppm = 1000000, .iowait_ppm = 1, .steal_ppm = 2},
};
static struct ipc_host_disk host_disks[] = {
    {.mount = "/", .device = "/dev/vda1", .fstype = "ext4", .size_bytes = 40LL << 30,
     .avail_bytes = 12LL << 30, .used_ppm = 700000, .inodes = 2621440, .inodes_free = 2000000,
     .inodes_used_ppm = 237060},
    {.mount = "/srv data", .device = "/dev/vdb", .fstype = "xfs", .size_bytes = 1,
     .avail_bytes = 2, .used_ppm = 3, .inodes = 4, .inodes_free = 5, .inodes_used_ppm = 6},
};
static struct ipc_host_net host_nets[] = {
    {.name = "lo", .rx_bytes = 1234567, .tx_bytes = 1234567, .rx_bytes_per_s = 2048,
     .tx_bytes_per_s = 2048},
    {.name = "eth0", .rx_bytes = 9, .tx_bytes = 8, .rx_bytes_per_s = 7, .tx_bytes_per_s = 6},
};
static struct ipc_host_proc host_procs[] = {
    {.pid = 4242, .command = "/usr/sbin/shipwatchd --config /etc/shipwatch.yml",
     .cpu_ppm = 1500000, .rss_bytes = 12 << 20},
    {.pid = 2, .command = "[kthreadd]", .cpu_ppm = 1, .rss_bytes = 4096},
};
static char *host_unavailable[] = {"swap"};
static const struct ipc_host host = {
    .hostname = "web-1",
    .node = "eu-1",
    .ts_ms = 1790000000000,
    .interval_ms = 1001,
    .uptime_s = 86400,
    .cpu_count = 2,
    .cpu_used_ppm = 562500,
    .cpu_iowait_ppm = 1000,
    .cpu_steal_ppm = 150,
    .cpus = host_cpus,
    .ncpus = 2,
    .mem_total_bytes = 8LL << 30,
    .mem_available_bytes = 5LL << 30,
    .mem_used_bytes = 3LL << 30,
    .swap_total_bytes = 1LL << 30,
    .swap_used_bytes = 1 << 20,
    .load1_milli = 1250,
    .load5_milli = 800,
    .load15_milli = 500,
    .disks = host_disks,
    .ndisks = 2,
    .nets = host_nets,
    .nnets = 2,
    .procs = 183,
    .top_cpu = host_procs,
    .ntop_cpu = 2,
    .top_rss = host_procs,
    .ntop_rss = 2,
    .sample_cpu_us = 2500,
    .unavailable = host_unavailable,
    .nunavailable = 1,
};

static const struct ipc_alert alert_rows[] = {
    {.id = 3,
     .kind = "down",
     .check = "shop-web",
     .app = "shop",
     .env = "prod",
     .severity = "critical",
     .status = "acknowledged",
     .summary = "shop-web is down: [STATUS] (503) == 200",
     .started_ms = 1700000000000,
     .resolved_ms = 1700000900000,
     .ack_by = "Zo\xc3\xab",
     .ack_ms = 1700000100000,
     .ack_comment = "looking into it",
     .muted_by = "silence 4",
     .deploy_id = 9007199254740993,
     .notifications = 2},
    {.id = 4294967296,
     .kind = "deploy-failed",
     .check = "-",
     .app = "blog",
     .env = "staging",
     .severity = "info",
     .status = "resolved",
     .summary = "deploy 2024.01.05-rc1 failed",
     .started_ms = -5,
     .resolved_ms = 1,
     .ack_by = "ci",
     .ack_ms = 2,
     .ack_comment = "",
     .muted_by = "maintenance nightly",
     .deploy_id = 12,
     .notifications = INT64_MAX},
};

static const struct ipc_alerts alerts = {
    .alerts = (struct ipc_alert *)alert_rows,
    .nalerts = ARRAY_SIZE(alert_rows),
    .next_before_id = 3,
};

static const struct ipc_alerts_query alerts_query = {
    .status = "acknowledged",
    .check = "shop-web",
    .app = "shop",
    .before_id = 77,
    .limit = 1000,
};

static const struct ipc_ack_params ack_params = {.id = 4294967297, .comment = "on it"};

static const struct ipc_mute_params mute_params = {
    .check = "shop-web",
    .app = "shop",
    .env = "prod",
    .severity = "warning",
    .starts_ms = 1700000000000,
    .duration_ms = 7200000,
    .ends_ms = 1700007200001,
    .comment = "migration, ticket 42",
    .alert_id = 4294967299,
};

static const struct ipc_mute mute_rows[] = {
    {.id = 4,
     .kind = "silence",
     .check = "shop-web",
     .app = "shop",
     .env = "prod",
     .severity = "critical",
     .starts_ms = 1700000000000,
     .ends_ms = 1700003600000,
     .author = "ana",
     .comment = "flaky upstream",
     .created_ms = 1699999999999,
     .alert_id = 17},
    {.id = 5,
     .kind = "maintenance",
     .check = "blog-db",
     .app = "blog",
     .env = "staging",
     .severity = "info",
     .starts_ms = -1,
     .ends_ms = INT64_MAX,
     .author = "uid 65534",
     .comment = "",
     .created_ms = 1,
     .alert_id = INT64_MAX},
};

static const struct ipc_mutes mutes = {.mutes = (struct ipc_mute *)mute_rows,
                                       .nmutes = ARRAY_SIZE(mute_rows)};

static char *weekend[] = {"sat", "sun"};
static char *weekdays[] = {"mon", "tue", "wed", "thu", "fri"};
static const struct ipc_maint_window window_rows[] = {
    {.name = "nightly",
     .app = "shop",
     .env = "prod",
     .check = "shop-web",
     .days = weekend,
     .ndays = ARRAY_SIZE(weekend),
     .start = "02:00",
     .duration_ms = 7200000,
     .next_start_ms = 1700006400000,
     .next_end_ms = 1700013600000,
     .active = true},
    {.name = "backup",
     .app = "blog",
     .env = "staging",
     .check = "blog-db",
     .days = weekdays,
     .ndays = ARRAY_SIZE(weekdays),
     .start = "23:30",
     .duration_ms = 60000,
     .next_start_ms = 1,
     .next_end_ms = 60001,
     .active = true},
};

static const struct ipc_maintenance maintenance = {
    .mutes = (struct ipc_mute *)mute_rows,
    .nmutes = ARRAY_SIZE(mute_rows),
    .windows = (struct ipc_maint_window *)window_rows,
    .nwindows = ARRAY_SIZE(window_rows),
};

static const struct ipc_id_ref id_ref = {.id = 4};

static const struct ipc_notice notice = {
    .topic = "results",
    .id = 99,
    .ts_ms = 1700000000123,
    .type = "result",
    .check = "shop-web",
    .app = "shop",
    .env = "prod",
    .message = "shop-web down",
    .data = "{\"status\":503}",
    .outcome = "down",
    .state = "degraded",
    .duration_us = 5000001,
    .status = 503,
    .error = "HTTP 503",
    .failed_condition = "[STATUS] == 200",
    .perfdata = "'time'=5.0s;1;2",
    .level = "warn",
};

/* --- comparisons, one per struct, field by field --- */

static void eq_hello_params(const void *x, const void *y)
{
    const struct ipc_hello_params *a = x, *b = y;
    EQ_S(client);
    EQ_I(protocol);
}

static void eq_checks_filter(const void *x, const void *y)
{
    const struct ipc_checks_filter *a = x, *b = y;
    EQ_S(app);
    EQ_S(env);
    EQ_S(state);
    EQ_S(after);
    EQ_I(limit);
}

static void eq_check_ref(const void *x, const void *y)
{
    const struct ipc_check_ref *a = x, *b = y;
    EQ_S(check);
}

static void eq_history_params(const void *x, const void *y)
{
    const struct ipc_history_params *a = x, *b = y;
    EQ_S(check);
    EQ_I(from_ms);
    EQ_I(to_ms);
    EQ_I(limit);
    EQ_S(granularity);
}

static void eq_deploys_query(const void *x, const void *y)
{
    const struct ipc_deploys_query *a = x, *b = y;
    EQ_S(app);
    EQ_S(env);
    EQ_I(before_id);
    EQ_I(limit);
}

static void eq_events_query(const void *x, const void *y)
{
    const struct ipc_events_query *a = x, *b = y;
    EQ_S(app);
    EQ_S(check);
    EQ_S(type);
    EQ_I(before_id);
    EQ_I(limit);
}

static void eq_topics(const void *x, const void *y)
{
    const struct ipc_topics *a = x, *b = y;
    EQ_I(ntopics);
    for (size_t i = 0; i < a->ntopics && i < b->ntopics; i++) {
        eq_s("topics[]", a->topics[i], b->topics[i]);
    }
    EQ_S(node);
}

static void eq_host_query(const void *x, const void *y)
{
    const struct ipc_host_query *a = x, *b = y;
    EQ_S(node);
}

static void eq_deploy(const void *x, const void *y)
{
    const struct ipc_deploy *a = x, *b = y;
    EQ_I(id);
    EQ_S(app);
    EQ_S(env);
    EQ_S(version);
    EQ_S(commit);
    EQ_S(author);
    EQ_S(source);
    EQ_S(url);
    EQ_S(description);
    EQ_S(status);
    EQ_I(started_ms);
    EQ_I(finished_ms);
    EQ_S(verdict);
    EQ_S(verdict_reason);
    EQ_S(failing_check);
    EQ_S(rollback_version);
    EQ_S(ref);
    EQ_I(verify_window_ms);
}

static void eq_hello_result(const void *x, const void *y)
{
    const struct ipc_hello_result *a = x, *b = y;
    EQ_I(protocol);
    EQ_S(version);
    EQ_I(ncapabilities);
    for (size_t i = 0; i < a->ncapabilities && i < b->ncapabilities; i++) {
        eq_s("capabilities[]", a->capabilities[i], b->capabilities[i]);
    }
    EQ_I(pid);
    EQ_I(started_ms);
    EQ_I(uid);
    EQ_B(admin);
}

static void eq_check(const void *x, const void *y)
{
    const struct ipc_check *a = x, *b = y;
    EQ_S(name);
    EQ_S(app);
    EQ_S(env);
    EQ_S(type);
    EQ_S(target);
    EQ_S(state);
    EQ_B(paused);
    EQ_B(running);
    EQ_I(interval_ms);
    EQ_I(timeout_ms);
    EQ_I(state_since_ms);
    EQ_I(fail_streak);
    EQ_I(ok_streak);
    EQ_I(runs_total);
    EQ_I(skipped_total);
    EQ_I(last_ms);
    EQ_I(last_duration_us);
    EQ_S(last_outcome);
    EQ_I(last_status);
    EQ_S(last_error);
    EQ_S(last_condition);
    EQ_S(last_message);
    EQ_S(last_long_output);
    EQ_S(last_perfdata);
    EQ_S(verdict);
    EQ_S(held_by);
    EQ_S(runner);
    EQ_I(skipped_not_owner);
    EQ_I(nlocations);
    for (size_t i = 0; i < a->nlocations && i < b->nlocations; i++) {
        const struct ipc_location *la = &a->locations[i], *lb = &b->locations[i];
        eq_s("locations[].name", la->name, lb->name);
        eq_s("locations[].state", la->state, lb->state);
        eq_i("locations[].last_ms", la->last_ms, lb->last_ms);
        eq_s("locations[].last_outcome", la->last_outcome, lb->last_outcome);
        eq_s("locations[].last_error", la->last_error, lb->last_error);
    }
}

static void eq_app_status(const void *x, const void *y)
{
    const struct ipc_app_status *a = x, *b = y;
    EQ_S(app);
    EQ_S(env);
    EQ_S(state);
    EQ_I(up);
    EQ_I(down);
    EQ_I(degraded);
    EQ_I(unknown);
    EQ_I(paused);
}

static void eq_status(const void *x, const void *y)
{
    const struct ipc_status *a = x, *b = y;
    EQ_S(version);
    EQ_I(pid);
    EQ_I(started_ms);
    EQ_I(now_ms);
    EQ_S(config);
    EQ_S(store);
    EQ_I(store_queue);
    EQ_I(store_write_errors);
    EQ_B(store_degraded);
    EQ_S(store_reason);
    EQ_I(store_spooled_bytes);
    EQ_I(checks);
    EQ_I(up);
    EQ_I(down);
    EQ_I(degraded);
    EQ_I(unknown);
    EQ_I(paused);
    EQ_I(clients);
    EQ_I(subscribers);
    EQ_B(draining);
    EQ_S(node);
    EQ_S(cluster);
    EQ_B(cluster_connected);
    EQ_I(cluster_peers);
    EQ_I(ncluster_peer_names);
    for (size_t i = 0; i < a->ncluster_peer_names && i < b->ncluster_peer_names; i++) {
        eq_s("cluster_peer_names[]", a->cluster_peer_names[i], b->cluster_peer_names[i]);
    }
    EQ_I(checks_owned);
    EQ_B(host_sampling);
    EQ_I(napps);
    for (size_t i = 0; i < a->napps && i < b->napps; i++) {
        eq_app_status(&a->apps[i], &b->apps[i]);
    }
}

static void eq_checks(const void *x, const void *y)
{
    const struct ipc_checks *a = x, *b = y;
    EQ_I(nchecks);
    EQ_S(next);
    for (size_t i = 0; i < a->nchecks && i < b->nchecks; i++) {
        eq_check(&a->checks[i], &b->checks[i]);
    }
}

static void eq_history_row(const void *x, const void *y)
{
    const struct ipc_history_row *a = x, *b = y;
    EQ_I(ts_ms);
    EQ_I(count);
    EQ_I(failures);
    EQ_I(latency_min_us);
    EQ_I(latency_avg_us);
    EQ_I(latency_p95_us);
    EQ_I(latency_max_us);
    EQ_S(outcome);
    EQ_I(status);
    EQ_S(error);
    EQ_S(failed_condition);
    EQ_S(message);
    EQ_S(perfdata);
    EQ_I(conditions);
    EQ_I(conditions_failed);
}

static void eq_history(const void *x, const void *y)
{
    const struct ipc_history *a = x, *b = y;
    EQ_S(check);
    EQ_S(granularity);
    EQ_I(nrows);
    for (size_t i = 0; i < a->nrows && i < b->nrows; i++) {
        eq_history_row(&a->rows[i], &b->rows[i]);
    }
}

static void eq_run(const void *x, const void *y)
{
    const struct ipc_run *a = x, *b = y;
    EQ_S(check);
    EQ_S(outcome);
    EQ_S(state);
    EQ_I(started_ms);
    EQ_I(duration_us);
    EQ_I(status);
    EQ_S(error);
    EQ_S(failed_condition);
}

static void eq_paused(const void *x, const void *y)
{
    const struct ipc_paused *a = x, *b = y;
    EQ_S(check);
    EQ_B(paused);
}

static void eq_deploys(const void *x, const void *y)
{
    const struct ipc_deploys *a = x, *b = y;
    EQ_I(ndeploys);
    for (size_t i = 0; i < a->ndeploys && i < b->ndeploys; i++) {
        eq_deploy(&a->deploys[i], &b->deploys[i]);
    }
}

static void eq_event(const void *x, const void *y)
{
    const struct ipc_event *a = x, *b = y;
    EQ_I(id);
    EQ_I(ts_ms);
    EQ_S(type);
    EQ_S(check);
    EQ_S(app);
    EQ_S(env);
    EQ_S(message);
    EQ_S(data);
}

static void eq_events(const void *x, const void *y)
{
    const struct ipc_events *a = x, *b = y;
    EQ_I(nevents);
    for (size_t i = 0; i < a->nevents && i < b->nevents; i++) {
        eq_event(&a->events[i], &b->events[i]);
    }
    EQ_I(next_before_id);
}

static void eq_check_stats(const void *x, const void *y)
{
    const struct ipc_check_stats *a = x, *b = y;
    EQ_S(check);
    EQ_I(runs_24h);
    EQ_I(failures_24h);
    EQ_I(uptime_24h_ppm);
    EQ_I(runs_7d);
    EQ_I(failures_7d);
    EQ_I(uptime_7d_ppm);
    EQ_I(runs_30d);
    EQ_I(failures_30d);
    EQ_I(uptime_30d_ppm);
    EQ_I(p95_1h_us);
    EQ_I(nspark);
    for (size_t i = 0; i < a->nspark && i < b->nspark; i++) {
        eq_i("spark[]", a->spark[i], b->spark[i]);
    }
}

static void eq_checks_stats(const void *x, const void *y)
{
    const struct ipc_checks_stats *a = x, *b = y;
    EQ_I(nstats);
    EQ_S(next);
    for (size_t i = 0; i < a->nstats && i < b->nstats; i++) {
        eq_check_stats(&a->stats[i], &b->stats[i]);
    }
}

static void eq_reload(const void *x, const void *y)
{
    const struct ipc_reload *a = x, *b = y;
    EQ_I(checks);
    EQ_I(added);
    EQ_I(removed);
    EQ_I(changed);
    EQ_I(unchanged);
}

static void eq_notice(const void *x, const void *y)
{
    const struct ipc_notice *a = x, *b = y;
    EQ_S(topic);
    EQ_I(id);
    EQ_I(ts_ms);
    EQ_S(type);
    EQ_S(check);
    EQ_S(app);
    EQ_S(env);
    EQ_S(message);
    EQ_S(data);
    EQ_S(outcome);
    EQ_S(state);
    EQ_I(duration_us);
    EQ_I(status);
    EQ_S(error);
    EQ_S(failed_condition);
    EQ_S(perfdata);
    EQ_S(level);
}

static void eq_host_cpu(const void *x, const void *y)
{
    const struct ipc_host_cpu *a = x, *b = y;
    EQ_S(name);
    EQ_I(used_ppm);
    EQ_I(iowait_ppm);
    EQ_I(steal_ppm);
}

static void eq_host_disk(const void *x, const void *y)
{
    const struct ipc_host_disk *a = x, *b = y;
    EQ_S(mount);
    EQ_S(device);
    EQ_S(fstype);
    EQ_I(size_bytes);
    EQ_I(avail_bytes);
    EQ_I(used_ppm);
    EQ_I(inodes);
    EQ_I(inodes_free);
    EQ_I(inodes_used_ppm);
}

static void eq_host_net(const void *x, const void *y)
{
    const struct ipc_host_net *a = x, *b = y;
    EQ_S(name);
    EQ_I(rx_bytes);
    EQ_I(tx_bytes);
    EQ_I(rx_bytes_per_s);
    EQ_I(tx_bytes_per_s);
}

static void eq_host_proc(const void *x, const void *y)
{
    const struct ipc_host_proc *a = x, *b = y;
    EQ_I(pid);
    EQ_S(command);
    EQ_I(cpu_ppm);
    EQ_I(rss_bytes);
}

static void eq_host(const void *x, const void *y)
{
    const struct ipc_host *a = x, *b = y;
    EQ_S(hostname);
    EQ_S(node);
    EQ_I(ts_ms);
    EQ_I(interval_ms);
    EQ_I(uptime_s);
    EQ_I(cpu_count);
    EQ_I(cpu_used_ppm);
    EQ_I(cpu_iowait_ppm);
    EQ_I(cpu_steal_ppm);
    EQ_I(ncpus);
    for (size_t i = 0; i < a->ncpus && i < b->ncpus; i++) {
        eq_host_cpu(&a->cpus[i], &b->cpus[i]);
    }
    EQ_I(mem_total_bytes);
    EQ_I(mem_available_bytes);
    EQ_I(mem_used_bytes);
    EQ_I(swap_total_bytes);
    EQ_I(swap_used_bytes);
    EQ_I(load1_milli);
    EQ_I(load5_milli);
    EQ_I(load15_milli);
    EQ_I(ndisks);
    for (size_t i = 0; i < a->ndisks && i < b->ndisks; i++) {
        eq_host_disk(&a->disks[i], &b->disks[i]);
    }
    EQ_I(nnets);
    for (size_t i = 0; i < a->nnets && i < b->nnets; i++) {
        eq_host_net(&a->nets[i], &b->nets[i]);
    }
    EQ_I(procs);
    EQ_I(ntop_cpu);
    for (size_t i = 0; i < a->ntop_cpu && i < b->ntop_cpu; i++) {
        eq_host_proc(&a->top_cpu[i], &b->top_cpu[i]);
    }
    EQ_I(ntop_rss);
    for (size_t i = 0; i < a->ntop_rss && i < b->ntop_rss; i++) {
        eq_host_proc(&a->top_rss[i], &b->top_rss[i]);
    }
    EQ_I(sample_cpu_us);
    EQ_I(nunavailable);
    for (size_t i = 0; i < a->nunavailable && i < b->nunavailable; i++) {
        eq_s("unavailable[]", a->unavailable[i], b->unavailable[i]);
    }
}

static void eq_alert(const void *x, const void *y)
{
    const struct ipc_alert *a = x, *b = y;
    EQ_I(id);
    EQ_S(kind);
    EQ_S(check);
    EQ_S(app);
    EQ_S(env);
    EQ_S(severity);
    EQ_S(status);
    EQ_S(summary);
    EQ_I(started_ms);
    EQ_I(resolved_ms);
    EQ_S(ack_by);
    EQ_I(ack_ms);
    EQ_S(ack_comment);
    EQ_S(muted_by);
    EQ_I(deploy_id);
    EQ_I(notifications);
}

static void eq_alerts(const void *x, const void *y)
{
    const struct ipc_alerts *a = x, *b = y;
    EQ_I(nalerts);
    for (size_t i = 0; i < a->nalerts && i < b->nalerts; i++) {
        eq_alert(&a->alerts[i], &b->alerts[i]);
    }
    EQ_I(next_before_id);
}

static void eq_alerts_query(const void *x, const void *y)
{
    const struct ipc_alerts_query *a = x, *b = y;
    EQ_S(status);
    EQ_S(check);
    EQ_S(app);
    EQ_I(before_id);
    EQ_I(limit);
}

static void eq_ack_params(const void *x, const void *y)
{
    const struct ipc_ack_params *a = x, *b = y;
    EQ_I(id);
    EQ_S(comment);
}

static void eq_mute_params(const void *x, const void *y)
{
    const struct ipc_mute_params *a = x, *b = y;
    EQ_S(check);
    EQ_S(app);
    EQ_S(env);
    EQ_S(severity);
    EQ_I(starts_ms);
    EQ_I(duration_ms);
    EQ_I(ends_ms);
    EQ_S(comment);
    EQ_I(alert_id);
}

static void eq_mute(const void *x, const void *y)
{
    const struct ipc_mute *a = x, *b = y;
    EQ_I(id);
    EQ_S(kind);
    EQ_S(check);
    EQ_S(app);
    EQ_S(env);
    EQ_S(severity);
    EQ_I(starts_ms);
    EQ_I(ends_ms);
    EQ_S(author);
    EQ_S(comment);
    EQ_I(created_ms);
    EQ_I(alert_id);
}

static void eq_mutes(const void *x, const void *y)
{
    const struct ipc_mutes *a = x, *b = y;
    EQ_I(nmutes);
    for (size_t i = 0; i < a->nmutes && i < b->nmutes; i++) {
        eq_mute(&a->mutes[i], &b->mutes[i]);
    }
}

static void eq_maint_window(const void *x, const void *y)
{
    const struct ipc_maint_window *a = x, *b = y;
    EQ_S(name);
    EQ_S(app);
    EQ_S(env);
    EQ_S(check);
    EQ_I(ndays);
    for (size_t i = 0; i < a->ndays && i < b->ndays; i++) {
        eq_s("days[]", a->days[i], b->days[i]);
    }
    EQ_S(start);
    EQ_I(duration_ms);
    EQ_I(next_start_ms);
    EQ_I(next_end_ms);
    EQ_B(active);
}

static void eq_maintenance(const void *x, const void *y)
{
    const struct ipc_maintenance *a = x, *b = y;
    EQ_I(nmutes);
    for (size_t i = 0; i < a->nmutes && i < b->nmutes; i++) {
        eq_mute(&a->mutes[i], &b->mutes[i]);
    }
    EQ_I(nwindows);
    for (size_t i = 0; i < a->nwindows && i < b->nwindows; i++) {
        eq_maint_window(&a->windows[i], &b->windows[i]);
    }
}

static void eq_stats_page(const void *x, const void *y)
{
    const struct ipc_stats_page *a = x, *b = y;
    EQ_S(after);
    EQ_I(limit);
}

static void eq_id_ref(const void *x, const void *y)
{
    const struct ipc_id_ref *a = x, *b = y;
    EQ_I(id);
}

/* A filled value of a type and how to compare two. */
struct fixture {
    const struct ipc_type *t;
    const void *v;
    void (*eq)(const void *a, const void *b);
};

static const struct fixture fixtures[] = {
    {&ipc_hello_params_type, &hello_params, eq_hello_params},
    {&ipc_checks_filter_type, &checks_filter, eq_checks_filter},
    {&ipc_check_ref_type, &check_ref, eq_check_ref},
    {&ipc_history_params_type, &history_params, eq_history_params},
    {&ipc_deploys_query_type, &deploys_query, eq_deploys_query},
    {&ipc_events_query_type, &events_query, eq_events_query},
    {&ipc_topics_type, &topics, eq_topics},
    {&ipc_deploy_type, &deploy_rows[0], eq_deploy},
    {&ipc_hello_result_type, &hello_result, eq_hello_result},
    {&ipc_check_type, &check_rows[0], eq_check},
    {&ipc_app_status_type, &app_rows[0], eq_app_status},
    {&ipc_status_type, &status, eq_status},
    {&ipc_checks_type, &checks, eq_checks},
    {&ipc_history_row_type, &history_rows[0], eq_history_row},
    {&ipc_history_type, &history, eq_history},
    {&ipc_run_type, &run, eq_run},
    {&ipc_paused_type, &paused, eq_paused},
    {&ipc_deploys_type, &deploys, eq_deploys},
    {&ipc_event_type, &event_rows[0], eq_event},
    {&ipc_events_type, &events, eq_events},
    {&ipc_reload_type, &reload, eq_reload},
    {&ipc_check_stats_type, &stats_rows[0], eq_check_stats},
    {&ipc_checks_stats_type, &checks_stats, eq_checks_stats},
    {&ipc_stats_page_type, &stats_page, eq_stats_page},
    {&ipc_notice_type, &notice, eq_notice},
    {&ipc_alert_type, &alert_rows[0], eq_alert},
    {&ipc_alerts_type, &alerts, eq_alerts},
    {&ipc_alerts_query_type, &alerts_query, eq_alerts_query},
    {&ipc_ack_params_type, &ack_params, eq_ack_params},
    {&ipc_mute_params_type, &mute_params, eq_mute_params},
    {&ipc_mute_type, &mute_rows[0], eq_mute},
    {&ipc_mutes_type, &mutes, eq_mutes},
    {&ipc_maint_window_type, &window_rows[0], eq_maint_window},
    {&ipc_maintenance_type, &maintenance, eq_maintenance},
    {&ipc_id_ref_type, &id_ref, eq_id_ref},
    {&ipc_host_cpu_type, &host_cpus[0], eq_host_cpu},
    {&ipc_host_disk_type, &host_disks[0], eq_host_disk},
    {&ipc_host_net_type, &host_nets[0], eq_host_net},
    {&ipc_host_proc_type, &host_procs[0], eq_host_proc},
    {&ipc_host_type, &host, eq_host},
    {&ipc_host_query_type, &host_query, eq_host_query},
};

/* The fixture of type t; fails the test when there is none. */
static const struct fixture *fixture_for(const struct ipc_type *t)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
        if (fixtures[i].t == t) {
            return &fixtures[i];
        }
    }
    fail_msg("no fixture for %s", t->name);
    return NULL;
}

/* Fail unless every field of v, by t's table, holds a non-default value
 * (and, for arrays, every element does), so a round trip that loses a field
 * cannot compare zero with zero. */
static void assert_filled(const struct ipc_type *t, const void *v)
{
    const char *base = v;
    for (size_t i = 0; i < t->nfields; i++) {
        const struct ipc_field *f = &t->fields[i];
        const void *p = base + f->off;
        bool set = false;
        switch (f->type) {
        case IPC_F_STR:
            set = *(char *const *)p != NULL;
            break;
        case IPC_F_I64:
            set = *(const int64_t *)p != 0;
            break;
        case IPC_F_BOOL:
            set = *(const bool *)p;
            break;
        case IPC_F_STRV:
        case IPC_F_I64V:
            set = *(const size_t *)(base + f->count_off) > 0;
            break;
        case IPC_F_ARRAY: {
            size_t n = *(const size_t *)(base + f->count_off);
            const char *elems = *(const char *const *)p;
            for (size_t j = 0; j < n; j++) {
                assert_filled(f->elem, elems + j * f->elem->size);
            }
            set = n >= 2;
            break;
        }
        }
        if (!set) {
            fail_msg("fixture %s.%s is not filled", t->name, f->key);
        }
    }
}

/* Every fixture is complete and its comparison covers its type's table. */
static void test_fixtures(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
        const struct fixture *fx = &fixtures[i];
        assert_filled(fx->t, fx->v);
        /* Against a zeroed struct every field differs: eq must see each
         * field of the table once, or a round trip could lose one unseen. */
        void *zero = calloc(1, fx->t->size);
        assert_non_null(zero);
        size_t n = 0;
        mismatches = &n;
        fx->eq(fx->v, zero);
        fx->eq(fx->v, fx->v);
        mismatches = NULL;
        free(zero);
        if (n != fx->t->nfields) {
            fail_msg("%s: eq_ sees %zu of %zu fields", fx->t->name, n, fx->t->nfields);
        }
    }
}

/* --- reading messages --- */

/* Feed sb to rd (initialised here with lim) and parse the one message in it
 * into env. env points into rd's message: the caller finishes rd after use. */
static void read_one(struct ipc_reader *rd, const struct ipc_limits *lim, const msgpack_sbuffer *sb,
                     struct ipc_envelope *env)
{
    msgpack_object *o = NULL;
    uint32_t msgid = 0;
    bool has_msgid = false;
    char why[128] = "";

    assert_int_equal(ipc_reader_init(rd, lim), 0);
    assert_int_equal(ipc_reader_feed(rd, sb->data, sb->size), 0);
    enum ipc_wire_err e = ipc_reader_next(rd, &o, &msgid, &has_msgid);
    if (e != IPC_WIRE_OK) {
        fail_msg("ipc_reader_next: %s", ipc_wire_strerror(e));
    }
    assert_int_equal(ipc_reader_pending(rd), 0);
    if (ipc_envelope_parse(o, env, why, sizeof(why)) != 0) {
        fail_msg("ipc_envelope_parse: %s", why);
    }
}

/* A msgid of each encoding: fixint, uint8, uint16, uint32 and the edges. */
static const uint32_t msgids[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 0x7fffffff, UINT32_MAX};

/* A request for every method, its params filled, decodes to what was sent. */
static void test_request_round_trip(void **state)
{
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        const struct ipc_method *m = &ipc_methods[i];
        const struct fixture *fx = m->params != NULL ? fixture_for(m->params) : NULL;
        uint32_t msgid = msgids[i % ARRAY_SIZE(msgids)];
        msgpack_sbuffer sb;
        struct ipc_reader rd;
        struct ipc_envelope env;
        char why[128] = "";

        assert_int_equal(m->id, i);
        msgpack_sbuffer_init(&sb);
        ipc_encode_request(&sb, msgid, m, fx != NULL ? fx->v : NULL);
        read_one(&rd, &ipc_limits_server, &sb, &env);
        assert_int_equal(env.kind, IPC_REQUEST);
        assert_true(env.has_msgid);
        assert_int_equal(env.msgid, msgid);
        assert_int_equal(env.method_len, strlen(m->name));
        assert_memory_equal(env.method, m->name, env.method_len);
        assert_ptr_equal(ipc_method_find(env.method, env.method_len), m);
        assert_int_equal(env.params->type, MSGPACK_OBJECT_ARRAY);
        if (m->params == NULL) {
            assert_int_equal(env.params->via.array.size, 0);
            assert_int_equal(ipc_decode_params(env.params, NULL, NULL, why, sizeof(why)), 0);
        } else {
            assert_int_equal(env.params->via.array.size, 1);
            void *v = calloc(1, m->params->size);
            assert_non_null(v);
            if (ipc_decode_params(env.params, m->params, v, why, sizeof(why)) != 0) {
                fail_msg("%s: %s", m->name, why);
            }
            fx->eq(fx->v, v);
            ipc_type_finish(m->params, v);
            free(v);
        }
        ipc_reader_finish(&rd);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Every method's result type, filled, decodes to what was sent. */
static void test_result_round_trip(void **state)
{
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        const struct ipc_method *m = &ipc_methods[i];
        assert_non_null(m->result);
        const struct fixture *fx = fixture_for(m->result);
        uint32_t msgid = msgids[(i + 3) % ARRAY_SIZE(msgids)];
        msgpack_sbuffer sb;
        struct ipc_reader rd;
        struct ipc_envelope env;
        char why[128] = "";

        msgpack_sbuffer_init(&sb);
        ipc_encode_result(&sb, msgid, m->result, fx->v);
        read_one(&rd, &ipc_limits_client, &sb, &env);
        assert_int_equal(env.kind, IPC_RESPONSE);
        assert_true(env.has_msgid);
        assert_int_equal(env.msgid, msgid);
        assert_null(env.method);
        assert_int_equal(env.error->type, MSGPACK_OBJECT_NIL);
        assert_int_equal(env.result->type, MSGPACK_OBJECT_MAP);
        void *v = calloc(1, m->result->size);
        assert_non_null(v);
        if (ipc_type_unpack(env.result, m->result, v, why, sizeof(why)) != 0) {
            fail_msg("%s result: %s", m->name, why);
        }
        fx->eq(fx->v, v);
        ipc_type_finish(m->result, v);
        free(v);
        ipc_reader_finish(&rd);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* NULL strings are left out of the map; integers and booleans are always
 * there; absent strings decode as NULL. */
static void test_absent_fields(void **state)
{
    struct ipc_run sparse = {.check = "shop-web"};
    struct ipc_run back = {.status = 7};
    msgpack_sbuffer sb;
    struct ipc_reader rd;
    struct ipc_envelope env;
    char why[128];

    msgpack_sbuffer_init(&sb);
    ipc_encode_result(&sb, 5, &ipc_run_type, &sparse);
    read_one(&rd, &ipc_limits_client, &sb, &env);
    /* check + started_ms, duration_us, status */
    assert_int_equal(env.result->via.map.size, 4);
    assert_int_equal(ipc_type_unpack(env.result, &ipc_run_type, &back, why, sizeof(why)), 0);
    eq_run(&sparse, &back);
    assert_null(back.outcome);
    assert_int_equal(back.status, 0);
    ipc_type_finish(&ipc_run_type, &back);
    assert_null(back.check);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);

    /* A zeroed struct: only the integers and booleans. */
    struct ipc_paused none = {0};
    msgpack_sbuffer_init(&sb);
    ipc_encode_result(&sb, 6, &ipc_paused_type, &none);
    read_one(&rd, &ipc_limits_client, &sb, &env);
    assert_int_equal(env.result->via.map.size, 1);
    assert_int_equal(env.result->via.map.ptr[0].val.type, MSGPACK_OBJECT_BOOLEAN);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);

    /* Empty arrays are sent as empty arrays. */
    struct ipc_checks empty = {0};
    msgpack_sbuffer_init(&sb);
    ipc_encode_result(&sb, 7, &ipc_checks_type, &empty);
    read_one(&rd, &ipc_limits_client, &sb, &env);
    assert_int_equal(env.result->via.map.size, 1);
    assert_int_equal(env.result->via.map.ptr[0].val.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(env.result->via.map.ptr[0].val.via.array.size, 0);
    struct ipc_checks eback = {0};
    assert_int_equal(ipc_type_unpack(env.result, &ipc_checks_type, &eback, why, sizeof(why)), 0);
    assert_int_equal(eback.nchecks, 0);
    ipc_type_finish(&ipc_checks_type, &eback);
    assert_null(eback.checks);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);

    /* Freeing NULL or a zeroed struct does nothing. */
    ipc_type_finish(&ipc_status_type, NULL);
    struct ipc_status zero = {0};
    ipc_type_finish(&ipc_status_type, &zero);
    assert_null(zero.apps);
}

/* An error response for every code carries its name and the message. */
static void test_error_round_trip(void **state)
{
    for (int c = IPC_OK; c <= IPC_E_INTERNAL; c++) {
        msgpack_sbuffer sb;
        struct ipc_reader rd;
        struct ipc_envelope env;
        struct ipc_error err = {0};
        char why[128];
        char want[64];

        msgpack_sbuffer_init(&sb);
        ipc_encode_error(&sb, 1000u + (unsigned)c, (enum ipc_errcode)c, "check %s: %d", "web", c);
        read_one(&rd, &ipc_limits_client, &sb, &env);
        assert_int_equal(env.kind, IPC_RESPONSE);
        assert_int_equal(env.msgid, 1000 + c);
        assert_int_equal(env.result->type, MSGPACK_OBJECT_NIL);
        assert_int_equal(env.error->type, MSGPACK_OBJECT_MAP);
        assert_int_equal(ipc_type_unpack(env.error, &ipc_error_type, &err, why, sizeof(why)), 0);
        assert_string_equal(err.code, ipc_errcode_name((enum ipc_errcode)c));
        assert_int_equal(ipc_errcode_parse(err.code, strlen(err.code)), c);
        snprintf(want, sizeof(want), "check web: %d", c);
        assert_string_equal(err.message, want);
        ipc_type_finish(&ipc_error_type, &err);
        ipc_reader_finish(&rd);
        msgpack_sbuffer_destroy(&sb);
    }

    /* A long message is cut, not overflowed. */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    msgpack_sbuffer sb;
    struct ipc_reader rd;
    struct ipc_envelope env;
    struct ipc_error err = {0};
    char why[128];
    msgpack_sbuffer_init(&sb);
    ipc_encode_error(&sb, 3, IPC_E_INTERNAL, "%s", big);
    read_one(&rd, &ipc_limits_client, &sb, &env);
    assert_int_equal(ipc_type_unpack(env.error, &ipc_error_type, &err, why, sizeof(why)), 0);
    assert_string_equal(err.code, "internal");
    assert_true(strlen(err.message) > 100);
    assert_true(strlen(err.message) < sizeof(big) - 1);
    assert_int_equal(strspn(err.message, "x"), strlen(err.message));
    ipc_type_finish(&ipc_error_type, &err);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);
}

/* A notification: [2, "event", [notice]], full and sparse. */
static void test_notify_round_trip(void **state)
{
    const struct ipc_notice sparse = {
        .topic = "log", .level = "warn", .message = "store slow", .ts_ms = 1};
    const struct ipc_notice *cases[] = {&notice, &sparse};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        msgpack_sbuffer sb;
        struct ipc_reader rd;
        struct ipc_envelope env;
        struct ipc_notice back = {0};
        char why[128];

        msgpack_sbuffer_init(&sb);
        ipc_encode_notify(&sb, &ipc_notice_type, cases[i]);
        read_one(&rd, &ipc_limits_client, &sb, &env);
        assert_int_equal(env.kind, IPC_NOTIFY);
        assert_false(env.has_msgid);
        assert_int_equal(env.method_len, strlen(IPC_NOTICE_METHOD));
        assert_memory_equal(env.method, IPC_NOTICE_METHOD, env.method_len);
        assert_null(ipc_method_find(env.method, env.method_len));
        assert_int_equal(env.params->type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(env.params->via.array.size, 1);
        if (ipc_decode_params(env.params, &ipc_notice_type, &back, why, sizeof(why)) != 0) {
            fail_msg("notice: %s", why);
        }
        eq_notice(cases[i], &back);
        ipc_type_finish(&ipc_notice_type, &back);
        ipc_reader_finish(&rd);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* A host sample goes out as [2, "host", [sample]] and ipc_host_decode
 * gives it back whole. */
static void test_host_round_trip(void **state)
{
    msgpack_sbuffer sb;
    struct ipc_reader rd;
    struct ipc_envelope env;
    struct ipc_host back = {0};
    char why[128];

    msgpack_sbuffer_init(&sb);
    ipc_encode_notify_method(&sb, IPC_HOST_METHOD, &ipc_host_type, &host);
    read_one(&rd, &ipc_limits_client, &sb, &env);
    assert_int_equal(env.kind, IPC_NOTIFY);
    assert_int_equal(env.method_len, strlen(IPC_HOST_METHOD));
    assert_memory_equal(env.method, IPC_HOST_METHOD, env.method_len);
    if (ipc_host_decode(env.params, &back, why, sizeof(why)) != 0) {
        fail_msg("host: %s", why);
    }
    eq_host(&host, &back);
    ipc_type_finish(&ipc_host_type, &back);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);
}

/* --- truncation and framing --- */

/* A cut message is never a message; byte-at-a-time reads give one message
 * at the last byte; back-to-back messages come out one by one. */
static void test_truncation(void **state)
{
    msgpack_sbuffer sb;
    const struct ipc_method *m = ipc_method_find("deploys.record", strlen("deploys.record"));
    assert_non_null(m);
    msgpack_sbuffer_init(&sb);
    ipc_encode_request(&sb, 0xfeedf00d, m, &deploy_rows[0]);
    const unsigned char *p = (const unsigned char *)sb.data;
    size_t n = sb.size;
    size_t len;

    for (size_t k = 0; k < n; k++) {
        len = 0;
        enum ipc_wire_err e = ipc_wire_scan(p, k, &ipc_limits_server, &len);
        if (e != IPC_WIRE_MORE) {
            fail_msg("prefix %zu of %zu: %s", k, n, ipc_wire_strerror(e));
        }
    }
    assert_int_equal(ipc_wire_scan(p, n, &ipc_limits_server, &len), IPC_WIRE_OK);
    assert_int_equal(len, n);

    /* One byte at a time, alternating the two ways bytes come in. */
    struct ipc_reader rd;
    msgpack_object *o = NULL;
    uint32_t msgid = 0;
    bool has_msgid = false;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    for (size_t k = 0; k < n; k++) {
        if (k % 2 == 0) {
            assert_int_equal(ipc_reader_feed(&rd, p + k, 1), 0);
        } else {
            size_t avail = 0;
            char *buf = ipc_reader_buffer(&rd, 1, &avail);
            assert_non_null(buf);
            assert_true(avail >= 1);
            buf[0] = (char)p[k];
            ipc_reader_consumed(&rd, 1);
        }
        enum ipc_wire_err e = ipc_reader_next(&rd, &o, &msgid, &has_msgid);
        if (e != (k + 1 < n ? IPC_WIRE_MORE : IPC_WIRE_OK)) {
            fail_msg("byte %zu of %zu: %s", k, n, ipc_wire_strerror(e));
        }
        assert_int_equal(ipc_reader_pending(&rd), k + 1 < n ? k + 1 : 0);
    }
    struct ipc_envelope env;
    struct ipc_deploy d = {0};
    char why[128];
    assert_int_equal(ipc_envelope_parse(o, &env, why, sizeof(why)), 0);
    assert_int_equal(env.msgid, 0xfeedf00d);
    assert_int_equal(ipc_decode_params(env.params, m->params, &d, why, sizeof(why)), 0);
    eq_deploy(&deploy_rows[0], &d);
    ipc_type_finish(m->params, &d);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_MORE);
    ipc_reader_finish(&rd);

    /* Two whole messages and the start of a third in one read. */
    const struct ipc_method *hello = &ipc_methods[IPC_M_HELLO];
    msgpack_sbuffer two;
    msgpack_sbuffer_init(&two);
    ipc_encode_request(&two, 1, hello, &hello_params);
    size_t first = two.size;
    ipc_encode_notify(&two, &ipc_notice_type, &notice);
    size_t cut = 10;
    P(msgpack_sbuffer_write(&two, sb.data, cut));
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    assert_int_equal(ipc_reader_feed(&rd, two.data, two.size), 0);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_OK);
    assert_int_equal(ipc_envelope_parse(o, &env, why, sizeof(why)), 0);
    assert_int_equal(env.kind, IPC_REQUEST);
    assert_int_equal(env.msgid, 1);
    assert_ptr_equal(ipc_method_find(env.method, env.method_len), hello);
    assert_int_equal(ipc_reader_pending(&rd), two.size - first);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_OK);
    assert_int_equal(ipc_envelope_parse(o, &env, why, sizeof(why)), 0);
    assert_int_equal(env.kind, IPC_NOTIFY);
    struct ipc_notice nb = {0};
    assert_int_equal(ipc_decode_params(env.params, &ipc_notice_type, &nb, why, sizeof(why)), 0);
    eq_notice(&notice, &nb);
    ipc_type_finish(&ipc_notice_type, &nb);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_MORE);
    assert_int_equal(ipc_reader_pending(&rd), cut);
    /* The rest of the third. */
    assert_int_equal(ipc_reader_feed(&rd, sb.data + cut, sb.size - cut), 0);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has_msgid), IPC_WIRE_OK);
    assert_int_equal(ipc_envelope_parse(o, &env, why, sizeof(why)), 0);
    assert_int_equal(env.msgid, 0xfeedf00d);
    assert_int_equal(ipc_reader_pending(&rd), 0);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&two);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_result_round_trip),
        cmocka_unit_test(test_absent_fields),
        cmocka_unit_test(test_error_round_trip),
        cmocka_unit_test(test_notify_round_trip),
        cmocka_unit_test(test_host_round_trip),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
