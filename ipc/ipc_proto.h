/* ipc_proto.h - the methods of the socket and their typed params and results.
 *
 * Every method's params and result is a C struct here, described once by a
 * table of fields (struct ipc_type). ipc_encode_* and ipc_decode turn them
 * into msgpack and back; nothing outside ipc/ builds or reads maps by hand.
 *
 * On the wire a struct is a map keyed by the field names; strings that are
 * NULL are left out, integers and booleans are always present. A request's
 * params are an array holding one such map (or empty when the method takes
 * none); unknown keys are ignored, so fields can be added. docs/protocol.md
 * documents every field.
 *
 * Strings are const char *. A struct to encode points at the sender's
 * strings, which need only be valid for the call (as a redisReply's are
 * for its callback): the encoder copies them. A struct filled by
 * ipc_type_unpack owns its strings, and ipc_type_finish frees them. Two
 * exceptions: struct ipc_check holds char *, because the dashboard updates
 * its copy in place as results arrive; and string vectors are char **,
 * because C converts no char ** to const char *const *. */
#ifndef SHIPWATCH_IPC_PROTO_H
#define SHIPWATCH_IPC_PROTO_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bumped when a message changes shape. New methods and new fields do not
 * bump it: unknown keys are ignored and daemon.hello lists the methods. */
#define IPC_PROTOCOL 1

/* --- field tables --- */

enum ipc_ftype {
    IPC_F_STR,                  /* const char *, NULL = absent */
    IPC_F_I64,                  /* int64_t */
    IPC_F_BOOL,                 /* bool */
    IPC_F_STRV,                 /* char **, count at count_off */
    IPC_F_I64V,                 /* int64_t *, count at count_off */
    IPC_F_ARRAY,                /* elem *, count at count_off */
};

struct ipc_type;

struct ipc_field {
    const char *key;
    enum ipc_ftype type;
    size_t off;
    size_t count_off;           /* STRV, ARRAY */
    const struct ipc_type *elem;    /* ARRAY */
    bool required;              /* decoding fails without it */
};

struct ipc_type {
    const char *name;
    size_t size;
    const struct ipc_field *fields;
    size_t nfields;
};

/* Pack v as a map. */
void ipc_type_pack(msgpack_packer *pk, const struct ipc_type *t, const void *v);

/* Fill v (zeroed by the caller) from a map. 0, or -1 with why naming the
 * field ("check: expected a string"). Whatever was filled is freed with
 * ipc_type_finish either way. */
int ipc_type_unpack(const msgpack_object *o, const struct ipc_type *t, void *v, char *why,
                    size_t whylen);

/* Free what ipc_type_unpack (or a caller following the same ownership)
 * allocated inside v; v itself is not freed. */
void ipc_type_finish(const struct ipc_type *t, void *v);

/* --- errors --- */

enum ipc_errcode {
    IPC_OK = 0,
    IPC_E_MALFORMED,            /* not a valid msgpack-RPC message */
    IPC_E_TOO_LARGE,            /* over a limit */
    IPC_E_NO_METHOD,            /* unknown method */
    IPC_E_INVALID_PARAMS,       /* params missing or of the wrong type */
    IPC_E_NOT_FOUND,            /* no such check, ... */
    IPC_E_DENIED,               /* the caller may not do this */
    IPC_E_UNAVAILABLE,          /* the daemon cannot do it now (draining, store down) */
    IPC_E_INVALID_CONFIG,       /* daemon.reload: the file on disk is invalid */
    IPC_E_PROTOCOL,             /* no daemon.hello yet, or another protocol version */
    IPC_E_INTERNAL,
};

/* "malformed", "too_large", ... and back; unknown names parse as internal. */
const char *ipc_errcode_name(enum ipc_errcode c);
enum ipc_errcode ipc_errcode_parse(const char *name, size_t len);

/* The error element of a response: {code, message}. */
struct ipc_error {
    const char *code;
    const char *message;
};
extern const struct ipc_type ipc_error_type;

/* --- methods --- */

enum ipc_method_id {
    IPC_M_HELLO,
    IPC_M_STATUS_GET,
    IPC_M_CHECKS_LIST,
    IPC_M_CHECKS_GET,
    IPC_M_CHECKS_HISTORY,
    IPC_M_CHECKS_RUN,
    IPC_M_CHECKS_PAUSE,
    IPC_M_CHECKS_RESUME,
    IPC_M_DEPLOYS_LIST,
    IPC_M_DEPLOYS_RECORD,
    IPC_M_EVENTS_LIST,
    IPC_M_EVENTS_SUBSCRIBE,
    IPC_M_EVENTS_UNSUBSCRIBE,
    IPC_M_RELOAD,
    IPC_M_CHECKS_STATS,
    IPC_M_ALERTS_LIST,
    IPC_M_ALERTS_ACK,
    IPC_M_ALERTS_SILENCE,
    IPC_M_ALERTS_UNSILENCE,
    IPC_M_ALERTS_SILENCES,
    IPC_M_MAINTENANCE_LIST,
    IPC_M_MAINTENANCE_ADD,
    IPC_M_MAINTENANCE_REMOVE,
    IPC_M_HOST_GET,
    IPC_M_COUNT
};

struct ipc_method {
    enum ipc_method_id id;
    const char *name;
    const struct ipc_type *params;  /* NULL: takes none */
    const struct ipc_type *result;
    bool mutating;              /* needs an admin */
};

extern const struct ipc_method ipc_methods[IPC_M_COUNT];

/* The method with this name; NULL when there is none. */
const struct ipc_method *ipc_method_find(const char *name, size_t len);

/* Notifications of a subscription: [2, "event", [notice]]. */
#define IPC_NOTICE_METHOD "event"

/* Notifications of the host topic: [2, "host", [host]], one a second. */
#define IPC_HOST_METHOD "host"

/* Topics of events.subscribe. IPC_TOPIC_ALL is every topic of the event
 * log, what an empty list subscribes to; the host topic is not one: it is
 * a stream of samples that costs the daemon a read of /proc a second, so
 * only a client that names it gets it (and makes the daemon sample). */
enum ipc_topic {
    IPC_TOPIC_RESULTS = 1 << 0,
    IPC_TOPIC_STATES = 1 << 1,
    IPC_TOPIC_DEPLOYS = 1 << 2,
    IPC_TOPIC_ALERTS = 1 << 3,
    IPC_TOPIC_LOG = 1 << 4,
    IPC_TOPIC_ALL = (1 << 5) - 1,
    IPC_TOPIC_HOST = 1 << 5,
};
#define IPC_TOPIC_COUNT 6               /* bits, the host topic's included */
const char *ipc_topic_name(enum ipc_topic t);
/* A topic's bit, or 0 when the name is not a topic. */
unsigned ipc_topic_parse(const char *name);
/* The topic an event of this type reaches subscribers on: states, deploys,
 * alerts, or log for every other type (pause, resume, reload, daemon...). */
enum ipc_topic ipc_event_topic(const char *type);

/* Encode a whole message into sb (appended). */
void ipc_encode_request(msgpack_sbuffer *sb, uint32_t msgid, const struct ipc_method *m,
                        const void *params);
void ipc_encode_result(msgpack_sbuffer *sb, uint32_t msgid, const struct ipc_type *t,
                       const void *result);
void ipc_encode_error(msgpack_sbuffer *sb, uint32_t msgid, enum ipc_errcode code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ipc_encode_notify(msgpack_sbuffer *sb, const struct ipc_type *t, const void *params);
/* A notification of another method than IPC_NOTICE_METHOD (IPC_HOST_METHOD). */
void ipc_encode_notify_method(msgpack_sbuffer *sb, const char *method, const struct ipc_type *t,
                              const void *params);

/* Decode a request's params (an array of zero or one map) into v, zeroed by
 * the caller and freed with ipc_type_finish. 0, or -1 with why. */
int ipc_decode_params(const msgpack_object *params, const struct ipc_type *t, void *v, char *why,
                      size_t whylen);

/* --- the structs (strings: see the top of this file) --- */

/* daemon.hello */
struct ipc_hello_params {
    const char *client;         /* "shipwatch 0.1.0", for the log */
    int64_t protocol;           /* the client's IPC_PROTOCOL */
};
struct ipc_hello_result {
    int64_t protocol;
    const char *version;
    char **capabilities;
    size_t ncapabilities;
    int64_t pid;
    int64_t started_ms;
    int64_t uid;                /* the caller's uid, as the daemon saw it */
    bool admin;                 /* whether the caller may call mutating methods */
};
extern const struct ipc_type ipc_hello_params_type, ipc_hello_result_type;

/* One location's view of a "locations: all" check (checks.get). */
struct ipc_location {
    const char *name;           /* the daemon's node name */
    const char *state;          /* that location's own state */
    int64_t last_ms;            /* start of its last run */
    const char *last_outcome;
    const char *last_error;
};
extern const struct ipc_type ipc_location_type;

/* A check as status.get, checks.list and checks.get show it. */
struct ipc_check {
    char *name;
    char *app;
    char *env;
    char *type;                 /* http | tcp | exec | heartbeat | a host type */
    char *target;               /* url, host:port, command, heartbeat token hint,
                                   or what a host check reads */
    char *state;                /* up | down | degraded | unknown */
    bool paused;
    bool running;
    int64_t interval_ms;
    int64_t timeout_ms;
    int64_t state_since_ms;
    int64_t fail_streak;
    int64_t ok_streak;
    int64_t runs_total;
    int64_t skipped_total;
    int64_t last_ms;            /* start of the last run; 0 never */
    int64_t last_duration_us;
    char *last_outcome;
    int64_t last_status;        /* HTTP status or exit code; -1 none */
    char *last_error;
    char *last_condition;       /* the failed condition */
    char *last_message;         /* what the last run said (a plugin's first
                                   line, OK or not); absent none */
    char *last_long_output;     /* a plugin's lines after the first, capped;
                                   absent none */
    char *last_perfdata;        /* its perfdata, normalized; absent none */
    char *verdict;              /* why the state was judged without a result
                                   (a heartbeat's late ping); absent none */
    char *held_by;              /* what holds its new alerts back ("depends-on db",
                                   "deploy 12", "flapping"); absent when nothing */
    char *runner;               /* node name of the daemon that ran the last result
                                   (cluster); absent without Redis */
    int64_t skipped_not_owner;  /* ticks another daemon of the cluster ran */
    struct ipc_location *locations;   /* locations: all: each location heard from */
    size_t nlocations;
};
extern const struct ipc_type ipc_check_type;

struct ipc_app_status {
    const char *app;
    const char *env;
    const char *state;          /* the worst state of its checks */
    int64_t up, down, degraded, unknown, paused;
};
extern const struct ipc_type ipc_app_status_type;

/* status.get */
struct ipc_status {
    const char *version;
    int64_t pid;
    int64_t started_ms;
    int64_t now_ms;
    const char *config;         /* the configuration file */
    const char *store;          /* sqlite | postgres */
    int64_t store_queue;
    int64_t store_write_errors;
    bool store_degraded;        /* writes wait: the store is unreachable */
    const char *store_reason;   /* why, while degraded; absent otherwise */
    int64_t store_spooled_bytes;    /* writes waiting in the spool file */
    int64_t checks, up, down, degraded, unknown, paused;
    int64_t clients;            /* connected to the socket */
    int64_t subscribers;
    bool draining;
    const char *node;           /* this daemon's node name (redis.url set) */
    const char *cluster;        /* the cluster it shares checks in; absent none */
    bool cluster_connected;     /* Redis reachable */
    int64_t cluster_peers;      /* other daemons heard from lately */
    char **cluster_peer_names;  /* their node names, sorted, at most
                                   IPC_PEER_NAMES_MAX; absent none */
    size_t ncluster_peer_names;
    int64_t checks_owned;       /* check leases this daemon holds */
    bool host_sampling;         /* the host sampler runs: a client asks for it */
    struct ipc_app_status *apps;
    size_t napps;
};
extern const struct ipc_type ipc_status_type;

/* checks.list */
struct ipc_checks_filter {
    const char *app;
    const char *env;
    const char *state;
    const char *after;          /* paging: the checks after this one */
    int64_t limit;              /* checks a page; 0 the default */
};
#define IPC_CHECKS_PAGE_DEFAULT 5000
#define IPC_CHECKS_PAGE_MAX 10000
struct ipc_checks {
    struct ipc_check *checks;
    size_t nchecks;
    const char *next;           /* pass as after for the next page; NULL: the last */
};
extern const struct ipc_type ipc_checks_filter_type, ipc_checks_type;
/* Move page's checks to the end of all's and its next to all's (the
 * page is left empty). 0, or -ENOMEM with both untouched. */
int ipc_checks_append(struct ipc_checks *all, struct ipc_checks *page);

/* checks.get, checks.run, checks.pause, checks.resume */
struct ipc_check_ref {
    const char *check;
};
extern const struct ipc_type ipc_check_ref_type;

/* checks.history */
struct ipc_history_params {
    const char *check;
    int64_t from_ms;            /* default: to - 1 h */
    int64_t to_ms;              /* default: now */
    int64_t limit;              /* default 1000, at most 10000 */
    const char *granularity;    /* raw | minute | hour | auto (default) */
};
struct ipc_history_row {
    int64_t ts_ms;
    int64_t count;
    int64_t failures;
    int64_t latency_min_us;
    int64_t latency_avg_us;
    int64_t latency_p95_us;
    int64_t latency_max_us;
    const char *outcome;        /* raw rows only */
    int64_t status;             /* raw rows only; -1 none */
    const char *error;
    const char *failed_condition;
    const char *message;        /* raw rows only: what the run said */
    const char *perfdata;       /* raw rows only: normalized perfdata */
    int64_t conditions;         /* raw rows only: conditions evaluated; 0 none */
    int64_t conditions_failed;  /* raw rows only: bit i set when the i-th failed */
};
struct ipc_history {
    const char *check;
    const char *granularity;    /* what was used: raw | minute | hour */
    struct ipc_history_row *rows;   /* newest first */
    size_t nrows;
};
extern const struct ipc_type ipc_history_params_type, ipc_history_row_type, ipc_history_type;

/* checks.run: the run's result, once it finished. */
struct ipc_run {
    const char *check;
    const char *outcome;
    const char *state;          /* the check's state after it */
    int64_t started_ms;
    int64_t duration_us;
    int64_t status;
    const char *error;
    const char *failed_condition;
};
extern const struct ipc_type ipc_run_type;

/* checks.pause, checks.resume */
struct ipc_paused {
    const char *check;
    bool paused;
};
extern const struct ipc_type ipc_paused_type;

/* deploys.record params and result; deploys.list rows. */
struct ipc_deploy {
    int64_t id;                 /* assigned by the daemon */
    const char *app;
    const char *env;
    const char *version;
    const char *commit;
    const char *author;
    const char *source;         /* cli | api | github | ...; default "cli" */
    const char *url;
    const char *description;
    const char *status;         /* started | succeeded | failed; default succeeded */
    int64_t started_ms;         /* default now */
    int64_t finished_ms;
    const char *verdict;        /* pending | healthy | degraded | failed */
    const char *verdict_reason;
    const char *failing_check;
    const char *rollback_version;
    const char *ref;            /* the git ref deployed, when known */
    int64_t verify_window_ms;   /* results: its app's verify window as
                                   configured now; 0 in params */
};
extern const struct ipc_type ipc_deploy_type;

struct ipc_deploys_query {
    const char *app;
    const char *env;
    int64_t before_id;          /* paging: deploys with a smaller id */
    int64_t limit;              /* default 50 */
};
struct ipc_deploys {
    struct ipc_deploy *deploys; /* newest first */
    size_t ndeploys;
};
extern const struct ipc_type ipc_deploys_query_type, ipc_deploys_type;

/* events.list */
struct ipc_events_query {
    const char *app;
    const char *check;
    const char *type;
    int64_t before_id;
    int64_t limit;              /* default 100, at most 1000 */
};
struct ipc_event {
    int64_t id;
    int64_t ts_ms;
    const char *type;
    const char *check;
    const char *app;
    const char *env;
    const char *message;
    const char *data;           /* JSON text */
};
struct ipc_events {
    struct ipc_event *events;   /* newest first */
    size_t nevents;
    int64_t next_before_id;     /* pass as before_id for the next page; 0 at the end */
};
extern const struct ipc_type ipc_events_query_type, ipc_event_type, ipc_events_type;

/* events.subscribe, events.unsubscribe */
struct ipc_topics {
    char **topics;
    size_t ntopics;
    char *node;                 /* the host topic's node (cluster); absent: this daemon */
};
extern const struct ipc_type ipc_topics_type;

/* A notification: what happened, on which topic. Fields that do not apply
 * to the topic are absent (NULL) or zero. */
struct ipc_notice {
    const char *topic;          /* results | states | deploys | alerts | log */
    int64_t id;                 /* event id; 0 for results and log */
    int64_t ts_ms;
    const char *type;           /* event type */
    const char *check;
    const char *app;
    const char *env;
    const char *message;
    const char *data;           /* JSON text */
    /* results */
    const char *outcome;
    const char *state;
    int64_t duration_us;
    int64_t status;
    const char *error;
    const char *failed_condition;
    const char *perfdata;       /* results: the run's perfdata; message is its message */
    /* log */
    const char *level;
};
extern const struct ipc_type ipc_notice_type;

/* checks.stats: uptime and latency aggregates, one per check with history. */
struct ipc_check_stats {
    const char *check;
    int64_t runs_24h, failures_24h;
    int64_t uptime_24h_ppm;     /* good runs per million; -1 without runs */
    int64_t runs_7d, failures_7d;
    int64_t uptime_7d_ppm;
    int64_t runs_30d, failures_30d;
    int64_t uptime_30d_ppm;
    int64_t p95_1h_us;          /* the worst minute p95 of the last hour; 0 none */
    int64_t *spark;             /* average latency a minute, last 30 minutes,
                                   oldest first; -1 for a minute without runs */
    size_t nspark;
};
struct ipc_checks_stats {
    struct ipc_check_stats *stats;
    size_t nstats;
    const char *next;           /* pass as after for the next page; NULL: the last */
};
/* checks.stats: a page of the checks, by name */
struct ipc_stats_page {
    const char *after;          /* the checks named after this, in byte order */
    int64_t limit;              /* configured checks a page; 0 the default */
};
extern const struct ipc_type ipc_stats_page_type;
extern const struct ipc_type ipc_check_stats_type, ipc_checks_stats_type;

/* An alert as alerts.list and alerts.ack show it: one incident of a check,
 * or of an app-env's deploys (deploy-failed). */
struct ipc_alert {
    int64_t id;
    const char *kind;           /* down | degraded | heartbeat | certificate |
                                   flapping | deploy-failed */
    const char *check;          /* absent for deploy-failed */
    const char *app;
    const char *env;
    const char *severity;       /* critical | warning | info */
    const char *status;         /* firing | acknowledged | resolved */
    const char *summary;        /* one line for people */
    int64_t started_ms;
    int64_t resolved_ms;        /* 0 while open */
    const char *ack_by;         /* who acknowledged it; absent until then */
    int64_t ack_ms;             /* 0 until acknowledged */
    const char *ack_comment;
    const char *muted_by;       /* "silence 4", "maintenance nightly"; absent
                                   while its notifications go out */
    int64_t deploy_id;          /* deploy-failed: the deploy; 0 none */
    int64_t notifications;      /* notifications queued for it so far */
};
extern const struct ipc_type ipc_alert_type;

/* alerts.list */
struct ipc_alerts_query {
    const char *status;         /* open (default) | firing | acknowledged |
                                   resolved | all */
    const char *check;
    const char *app;
    int64_t before_id;          /* paging: alerts with a smaller id */
    int64_t limit;              /* default 100, at most 1000 */
};
struct ipc_alerts {
    struct ipc_alert *alerts;   /* newest first */
    size_t nalerts;
    int64_t next_before_id;     /* pass as before_id for the next page; 0 at the end */
};
extern const struct ipc_type ipc_alerts_query_type, ipc_alerts_type;

/* alerts.ack */
struct ipc_ack_params {
    int64_t id;                 /* required */
    const char *comment;
};
extern const struct ipc_type ipc_ack_params_type;

/* alerts.silence and maintenance.add: what to mute and for how long. Give
 * duration_ms or ends_ms. */
struct ipc_mute_params {
    const char *check;          /* matchers; absent = any */
    const char *app;
    const char *env;
    const char *severity;
    int64_t starts_ms;          /* default now */
    int64_t duration_ms;        /* from starts_ms */
    int64_t ends_ms;
    const char *comment;
    int64_t alert_id;           /* a silence: it ends when this alert resolves */
};
extern const struct ipc_type ipc_mute_params_type;

/* A silence or an ad-hoc maintenance window, as stored. */
struct ipc_mute {
    int64_t id;
    const char *kind;           /* silence | maintenance */
    const char *check;          /* matchers; absent = any */
    const char *app;
    const char *env;
    const char *severity;
    int64_t starts_ms;
    int64_t ends_ms;            /* 0: none of its own, it ends with its alert */
    const char *author;         /* the user name of who added it */
    const char *comment;
    int64_t created_ms;
    int64_t alert_id;           /* it ends when this alert resolves; 0 none */
};
extern const struct ipc_type ipc_mute_type;

/* alerts.silences */
struct ipc_mutes {
    struct ipc_mute *mutes;     /* soonest ending first */
    size_t nmutes;
};
extern const struct ipc_type ipc_mutes_type;

/* A recurring maintenance window of the configuration. */
struct ipc_maint_window {
    const char *name;
    const char *app;            /* matchers; absent = any */
    const char *env;
    const char *check;
    char **days;                /* "sun" .. "sat", UTC */
    size_t ndays;
    const char *start;          /* "02:00", UTC */
    int64_t duration_ms;
    int64_t next_start_ms;      /* the current window's when active */
    int64_t next_end_ms;
    bool active;
};
extern const struct ipc_type ipc_maint_window_type;

/* maintenance.list */
struct ipc_maintenance {
    struct ipc_mute *mutes;     /* ad-hoc windows not over yet */
    size_t nmutes;
    struct ipc_maint_window *windows;   /* configured, in configuration order */
    size_t nwindows;
};
extern const struct ipc_type ipc_maintenance_type;

/* alerts.unsilence, maintenance.remove */
struct ipc_id_ref {
    int64_t id;                 /* required */
};
extern const struct ipc_type ipc_id_ref_type;

/* daemon.reload */
struct ipc_reload {
    int64_t checks;
    int64_t added;
    int64_t removed;
    int64_t changed;
    int64_t unchanged;
};
extern const struct ipc_type ipc_reload_type;

#define IPC_PEER_NAMES_MAX 256     /* status.get's cluster_peer_names */

/* --- host.get and the host topic --- */

/* What one sample may hold: a larger host is cut (cpu_count still says
 * how many CPUs it has), and a decoder refuses more (ipc_host_decode). */
#define IPC_HOST_CPUS_MAX 256
#define IPC_HOST_DISKS_MAX 32
#define IPC_HOST_NETS_MAX 32
#define IPC_HOST_PROCS_MAX 10           /* in each of the two top lists */

/* One CPU's busy shares over the sample's interval, in parts per million
 * of its time (500000 = 50%). */
struct ipc_host_cpu {
    const char *name;           /* "cpu0" */
    int64_t used_ppm;           /* neither idle nor iowait (steal included) */
    int64_t iowait_ppm;
    int64_t steal_ppm;
};
extern const struct ipc_type ipc_host_cpu_type;

/* A mounted filesystem (pseudo filesystems and bind mounts left out). */
struct ipc_host_disk {
    const char *mount;          /* the mount point */
    const char *device;
    const char *fstype;
    int64_t size_bytes;
    int64_t avail_bytes;        /* what users may still write */
    int64_t used_ppm;           /* df's Use%: used over used + avail */
    int64_t inodes;             /* 0: the filesystem counts none (btrfs) */
    int64_t inodes_free;
    int64_t inodes_used_ppm;
};
extern const struct ipc_type ipc_host_disk_type;

/* A network interface: its counters and their rates over the interval. */
struct ipc_host_net {
    const char *name;
    int64_t rx_bytes;           /* since boot (as the kernel counts them) */
    int64_t tx_bytes;
    int64_t rx_bytes_per_s;
    int64_t tx_bytes_per_s;
};
extern const struct ipc_type ipc_host_net_type;

/* A process of the top lists. */
struct ipc_host_proc {
    int64_t pid;
    const char *command;        /* its command line, cut at 128 bytes; a kernel
                                   thread's "[name]" */
    int64_t cpu_ppm;            /* of one CPU over the interval: 2 busy
                                   cores are 2000000 */
    int64_t rss_bytes;
};
extern const struct ipc_type ipc_host_proc_type;

/* host.get's result and the host topic's notification: one sample of the
 * daemon's host. A figure the host does not give (a container's missing
 * swap lines, an unreadable /proc/net/dev) is -1 and its part is named in
 * unavailable. */
struct ipc_host {
    const char *hostname;
    const char *node;           /* the daemon's node name (cluster); absent none */
    int64_t ts_ms;              /* when it was read, unix ms */
    int64_t interval_ms;        /* what the shares and rates cover */
    int64_t uptime_s;
    int64_t cpu_count;          /* CPUs the kernel lists; cpus may hold fewer */
    int64_t cpu_used_ppm;       /* of all CPUs */
    int64_t cpu_iowait_ppm;
    int64_t cpu_steal_ppm;
    struct ipc_host_cpu *cpus;
    size_t ncpus;
    int64_t mem_total_bytes;
    int64_t mem_available_bytes;
    int64_t mem_used_bytes;     /* total - available, as free(1) shows it */
    int64_t swap_total_bytes;   /* 0 without swap */
    int64_t swap_used_bytes;
    int64_t load1_milli;        /* load averages in thousandths: 1250 = 1.25 */
    int64_t load5_milli;
    int64_t load15_milli;
    struct ipc_host_disk *disks;
    size_t ndisks;
    struct ipc_host_net *nets;
    size_t nnets;
    int64_t procs;              /* processes running (zombies left out) */
    struct ipc_host_proc *top_cpu;  /* the busiest first */
    size_t ntop_cpu;
    struct ipc_host_proc *top_rss;  /* the largest first */
    size_t ntop_rss;
    int64_t sample_cpu_us;      /* CPU time the daemon spent reading this sample */
    char **unavailable;         /* "swap", "net", "disks", "processes"... */
    size_t nunavailable;
};
extern const struct ipc_type ipc_host_type;

/* host.get's params: whose host. */
struct ipc_host_query {
    char *node;                 /* a node of the cluster; absent: this daemon */
};
extern const struct ipc_type ipc_host_query_type;

/* The first string in o (keys included) that is not valid UTF-8, or NULL.
 * Recursive: o comes from an unpacker whose depth is bounded. */
const msgpack_object *ipc_bad_utf8(const msgpack_object *o);

/* Decode a host notification's params (an array of one map) into h,
 * zeroed by the caller and freed with ipc_type_finish either way; a list
 * longer than its IPC_HOST_*_MAX is refused. 0, or -1 with why. */
int ipc_host_decode(const msgpack_object *params, struct ipc_host *h, char *why, size_t whylen);

#endif
