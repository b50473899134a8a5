/* config.h - the YAML configuration: parsing, validation, defaults.
 *
 * config_load() reads the whole file, expands ${VAR} and ${VAR:-default}
 * from the environment, and fills a struct config. Every problem found is
 * appended to a struct config_errors as "FILE:LINE:COL: message" naming the
 * key, so --check-config can print them all at once. */
#ifndef SHIPWATCH_CONFIG_H
#define SHIPWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cond;

/* Defaults applied where a key is absent (documented in docs/configuration.md). */
#define CONFIG_DEFAULT_INTERVAL_MS 30000
#define CONFIG_DEFAULT_TIMEOUT_MS 5000     /* a type's own default comes first */
#define CONFIG_DEFAULT_EXEC_TIMEOUT_MS 10000 /* monitoring-plugins' own default */
#define CONFIG_DEFAULT_PING_BODY_MAX (10 * 1024)
#define CONFIG_DEFAULT_FAILURE_THRESHOLD 3
#define CONFIG_DEFAULT_SUCCESS_THRESHOLD 2
#define CONFIG_DEFAULT_MAX_CONCURRENCY 256
#define CONFIG_DEFAULT_HTTP "127.0.0.1:9321"
#define CONFIG_DEFAULT_MAX_BODY_BYTES (64 * 1024)
#define CONFIG_DEFAULT_MAX_OUTPUT_BYTES (16 * 1024)
#define CONFIG_DEFAULT_RETENTION_RAW_MS (14LL * 86400 * 1000)
#define CONFIG_DEFAULT_RETENTION_ROLLUPS_MS (400LL * 86400 * 1000)
#define CONFIG_DEFAULT_VERIFY_WINDOW_MS (5 * 60 * 1000)
#define CONFIG_DEFAULT_VERIFY_INTERVAL_MS 5000
#define CONFIG_DEFAULT_IPC_MAX_MESSAGE (1024 * 1024)
#define CONFIG_DEFAULT_IPC_MAX_QUEUE (1024 * 1024)
#define CONFIG_DEFAULT_DRAIN_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_VERIFY_START_TIMEOUT_MS (15 * 60 * 1000)
#define CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_RETRY_INITIAL_MS 1000
#define CONFIG_DEFAULT_RETRY_MAX_MS (5 * 60 * 1000)
#define CONFIG_DEFAULT_NOTIFY_MAX_AGE_MS (24LL * 3600 * 1000)
#define CONFIG_DEFAULT_DEGRADED_FOR_MS (5 * 60 * 1000)
#define CONFIG_DEFAULT_CERT_DAYS 14
#define CONFIG_DEFAULT_FLAP_CHANGES 6
#define CONFIG_DEFAULT_FLAP_WINDOW_MS (10 * 60 * 1000)
#define CONFIG_DEFAULT_STORE_POOL 2
#define CONFIG_DEFAULT_STORE_BATCH 1000
#define CONFIG_DEFAULT_STORE_QUEUE 65536
#define CONFIG_DEFAULT_SPOOL_MAX_BYTES (1024LL * 1024 * 1024)
#define CONFIG_DEFAULT_REDIS_PREFIX "shipwatch"
#define CONFIG_CLUSTER_KEY_MIN 16 /* characters of redis.key at least */

/* One key/value HTTP header. */
struct conf_header {
    char *name;
    char *value;
};

/* Every check type, one row each: X(name, KIND). A new type is its
 * check_<name>.c (a struct check_type with its config rows) and one row
 * here; the enum, check.h's declarations and check.c's table follow. */
#define CHECK_TYPES(X)                 \
    X(http, CHECK_HTTP)                \
    X(tcp, CHECK_TCP)                  \
    X(exec, CHECK_EXEC)                \
    X(heartbeat, CHECK_HEARTBEAT)      \
    X(disk, CHECK_DISK)                \
    X(memory, CHECK_MEMORY)            \
    X(load, CHECK_LOAD)                \
    X(cpu, CHECK_CPU)                  \
    X(file, CHECK_FILE)                \
    X(process, CHECK_PROCESS)          \
    X(log, CHECK_LOG)                  \
    X(dns, CHECK_DNS)                  \
    X(tls, CHECK_TLS)                  \
    X(icmp, CHECK_ICMP)                \
    X(grpc, CHECK_GRPC)

#define CHECK_KIND_ENUM(name, kind) kind,
enum check_kind { CHECK_TYPES(CHECK_KIND_ENUM) };
#undef CHECK_KIND_ENUM

struct conf_check {
    char *name;                /* unique across the file */
    char *app;                 /* may be NULL when the check names none */
    char *env;                 /* may be NULL */
    enum check_kind kind;
    const char *type_name;     /* "http", "tcp", ... (static string) */
    int64_t interval_ms;
    int64_t timeout_ms;
    int failure_threshold;
    int success_threshold;
    bool paused;               /* "enabled: false" */

    char **depends_on;         /* names of parent checks; their outage holds
                                  this check's alerts back */
    size_t ndepends_on;

    char **conditions;         /* source text, as written */
    struct cond **conds;       /* parsed, same order, nconditions long */
    size_t nconditions;

    /* http */
    char *url;
    char *method;              /* default "GET" */
    struct conf_header *headers;
    size_t nheaders;
    char *body;                /* request body, may be NULL */
    bool follow_redirects;     /* default false */
    bool verify_tls;           /* default true */
    size_t max_body_bytes;     /* default CONFIG_DEFAULT_MAX_BODY_BYTES */

    /* tcp */
    char *host;                /* also dns: the name queried */
    int port;

    /* dns */
    char *dns_server;          /* "IP[:port]"; NULL: the system resolver's first */
    int dns_record;            /* index into dnsmsg_record_names; 0 is A */

    /* tls (with host, port and verify_tls) */
    char *server_name;         /* SNI and the name verified; NULL: host */
    char *ca_file;             /* CA certificates in PEM; NULL: the system's */
    int starttls;              /* index into check_tls.c's protocols; 0 none */

    /* icmp (with host) */
    int icmp_count;            /* echoes a run; default 3 */
    char *icmp_payload;        /* each echo's data, text; default "shipwatch" */
    /* grpc (with url, and server_name, ca_file, verify_tls as tls) */
    char *service;             /* the service asked about; NULL: the server
                                  as a whole */

    /* exec */
    char **argv;               /* NULL-terminated */
    size_t argc;
    size_t max_output_bytes;   /* default CONFIG_DEFAULT_MAX_OUTPUT_BYTES */
    char **environment;        /* "NAME=value" on top of the minimal
                                  environment, NULL-terminated; secret:
                                  never logged nor shown */
    size_t nenvironment;

    /* heartbeat */
    char *token;               /* secret: never logged */
    int64_t period_ms;
    int64_t grace_ms;
    int64_t max_runtime_ms;    /* a started run's limit; 0: grace, else period */

    /* host checks */
    char *path;                /* disk: a path on the filesystem; file, log:
                                  the file watched (absolute). file's
                                  [BODY] is max_body_bytes long at most */
    char *match;               /* process: regex on the command line */
    char *pidfile;             /* process: or the pid in this file */
    char *pattern;             /* log: regex of the lines counted */

    /* cluster */
    bool locations_all;        /* "locations: all": run by every daemon of the
                                  cluster, each result reported per location */
    int quorum;                /* locations that must agree a check is down
                                  (or degraded); default 1, only with
                                  locations_all */

    int line;                  /* 1-based line of the list item, for messages */
    uint64_t fingerprint;      /* hash over every field above but line: equal
                                  fingerprints mean an unchanged check on reload */
};

struct conf_app {
    char *name;
    char *deploy_token;        /* secret */
    char *deploy_secret;       /* secret, HMAC key */
    char *github_repo;         /* "owner/name" whose GitHub deployments are this app's */
    int64_t verify_window_ms;
    int64_t verify_interval_ms;
    int64_t verify_start_timeout_ms;   /* a started deploy's quiet window at most */
};

/* email: how the SMTP connection is protected. */
enum conf_tls {
    CONF_TLS_AUTO,             /* smtps:// implicit TLS; smtp:// STARTTLS when offered */
    CONF_TLS_REQUIRED,         /* smtp:// STARTTLS or fail */
    CONF_TLS_NONE,             /* plain text (a local relay) */
};

struct conf_notifier {
    char *name;
    char *type;                /* a name of NOTIFIER_TYPES (notify_class.h) */
    char *url;                 /* secret: may embed a token; smtp(s):// for email */
    char **argv;               /* exec: the command, NULL-terminated */
    size_t argc;
    char **environment;        /* exec: "NAME=value" on top of the minimal
                                  environment, NULL-terminated; secret */
    size_t nenvironment;
    char *from;                /* email: sender address */
    char **to;                 /* email: recipient addresses */
    size_t nto;
    enum conf_tls tls;         /* email */
    char *routing_key;         /* pagerduty: secret, the integration's routing key */
    char *api_key;             /* opsgenie: secret, sent as "GenieKey KEY" */
    char *bot_token;           /* telegram: secret, in the URL's path only */
    char *chat_id;             /* telegram: the chat, "-100..." or "@channel" */
    char *username;            /* mattermost: the poster's name, NULL default */
    char *channel;             /* mattermost: the channel, NULL the webhook's */
    char *app_token;           /* pushover: secret, the application's token */
    char *user_key;            /* pushover: secret, the user or group key */
    char *gotify_token;        /* gotify: secret, the application's token */
    char *access_token;        /* matrix: secret, the bot user's access token */
    char *room;                /* matrix: the room id, "!abc:example.org" */
    int64_t timeout_ms;        /* one delivery attempt; default 10 s */
    int64_t retry_initial_ms;  /* first backoff; doubles each failure; default 1 s */
    int64_t retry_max_ms;      /* backoff ceiling; default 5 min */
    int64_t max_age_ms;        /* a notification not delivered by then is
                                  dropped with an event; default 24 h */
};

/* What an alert rule fires on (bits of conf_alert.on). */
enum alert_on {
    ALERT_ON_DOWN = 1 << 0,           /* a check turns down */
    ALERT_ON_DEGRADED = 1 << 1,       /* degraded for degraded_for_ms */
    ALERT_ON_HEARTBEAT = 1 << 2,      /* a heartbeat check misses its ping */
    ALERT_ON_CERTIFICATE = 1 << 3,    /* a certificate expires within cert_days */
    ALERT_ON_DEPLOY_FAILED = 1 << 4,  /* a deploy's verdict is failed */
    ALERT_ON_FLAPPING = 1 << 5,       /* flap_changes state changes in flap_window */
    ALERT_ON_DEFAULT = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5),
};

struct conf_alert {
    char **notify;             /* notifier names */
    size_t nnotify;
    char *severity;            /* critical | warning | info; default critical */
    bool send_on_resolved;
    int64_t repeat_interval_ms;
    char *app, *env, *check;   /* matchers, NULL = any */
    unsigned on;               /* enum alert_on bits; default ALERT_ON_DEFAULT */
    int64_t degraded_for_ms;   /* default 5 min */
    int cert_days;             /* default 14 */
    int flap_changes;          /* default 6 */
    int64_t flap_window_ms;    /* default 10 min */
};

/* A recurring maintenance window: on the given UTC weekdays, from start for
 * duration; notifications of matching alerts are held meanwhile. */
struct conf_maintenance {
    char *name;
    char *app, *env, *check;   /* matchers, NULL = any */
    unsigned days;             /* bit 0 Sunday .. bit 6 Saturday; default all */
    int start_min;             /* minutes after 00:00 UTC */
    int64_t duration_ms;
};

struct config {
    char *path;

    struct {
        char *socket;          /* default $XDG_RUNTIME_DIR/shipwatch.sock, or
                                  /run/shipwatch/shipwatch.sock as root */
        char **http;           /* listen addresses, default one: 127.0.0.1:9321 */
        size_t nhttp;
        char **admins;         /* user or group names */
        size_t nadmins;
        int max_concurrency;   /* checks in flight at once */
        int64_t drain_timeout_ms;
        size_t ipc_max_message;
        size_t ipc_max_queue;  /* bytes queued to one client */
        char *github_secret;   /* secret: the GitHub webhook's, for X-Hub-Signature-256 */
        char *deploy_token;    /* secret: a bearer token good for every app's deploys */
        char *deploy_secret;   /* secret: an HMAC key good for every app's deploys */
        bool auto_register_apps;   /* deploys of apps not in apps: accepted */
        size_t ping_body_max;  /* bytes of a heartbeat ping's body kept;
                                  default CONFIG_DEFAULT_PING_BODY_MAX */
    } daemon;

    struct {
        char *driver;          /* "sqlite" (default) or "postgres" */
        char *path;            /* sqlite file; default $XDG_STATE_HOME/shipwatch/history.db,
                                  or /var/lib/shipwatch/history.db as root */
        char *dsn;             /* postgres; secret */
        int pool;              /* postgres: query connections besides the
                                  writer's; default 2 */
        int batch;             /* rows a write transaction at most; default 1000 */
        size_t queue;          /* writes held in memory while the store is
                                  unreachable; beyond, spooled; default 65536 */
        char *spool;           /* the spool file; default beside path:
                                  <dir of path>/spool */
        size_t spool_max_bytes;    /* beyond, results are dropped and counted;
                                      default 1 GiB */
        int64_t retention_raw_ms;
        int64_t retention_rollups_ms;
    } storage;

    struct {
        char *url;             /* redis://[:password@]host[:port][/db] or
                                  unix:///path; NULL = no Redis; secret */
        char *prefix;          /* of every key and channel; default "shipwatch" */
        char *key;             /* the cluster key: HMAC-SHA256 of every bus
                                  message; NULL none; secret */
        bool insecure;         /* a cluster without AUTH or without a key */
    } redis;

    char *cluster;             /* daemons with the same name share the checks
                                  (needs redis.url); NULL = run every check here */
    char *node_name;           /* this daemon's name in the cluster and its
                                  location; default the host name */

    struct {
        int64_t interval_ms;
        int64_t timeout_ms;
        int failure_threshold;
        int success_threshold;
    } defaults;

    struct conf_app *apps;
    size_t napps;
    struct conf_check *checks;
    size_t nchecks;
    struct conf_notifier *notifiers;
    size_t nnotifiers;
    struct conf_alert *alerts;
    size_t nalerts;
    struct conf_maintenance *maintenance;
    size_t nmaintenance;
};

/* Every error found in one load, each "FILE:LINE:COL: message". */
struct config_errors {
    char **msgs;
    size_t n;
};

/* Load and validate path. On success returns 0 and *out owns a config that
 * the caller frees with config_destroy(); errs is left empty. On failure returns
 * -EINVAL (or -errno when the file cannot be read), *out is NULL and errs
 * holds at least one message; the caller frees it with config_errors_finish().
 * errs must be zeroed before the call. */
int config_load(const char *path, struct config **out, struct config_errors *errs);

/* Same as config_load, from a buffer; name is used in messages. */
int config_load_buffer(const char *name, const char *buf, size_t len, struct config **out,
                       struct config_errors *errs);

/* Free a config and everything it owns. NULL is a no-op. */
void config_destroy(struct config *c);

/* Free the messages in errs and zero it. */
void config_errors_finish(struct config_errors *errs);

/* Look up a check or app by name; NULL when absent. */
const struct conf_check *config_find_check(const struct config *c, const char *name);
const struct conf_app *config_find_app(const struct config *c, const char *name);

#endif
