/* cli.c - the scripting subcommands: one call (or a subscription) each,
 * a table for people or JSON for scripts. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "duration.h"
#include "ipc_client.h"
#include "out.h"
#include "topics.h"
#include "when.h"
#include "util.h"

#define CALL_TIMEOUT_MS 30000
#define HISTORY_DEFAULT_SINCE_MS (60LL * 60 * 1000)
#define EVENTS_PAGE 1000
#define FOLLOW_TOPICS "states,deploys,alerts"
#define RECONNECT_FIRST_MS 250
#define RECONNECT_MAX_MS 5000

enum {
    O_JSON = 1 << 0,
    O_APP = 1 << 1,
    O_ENV = 1 << 2,
    O_STATE = 1 << 3,
    O_LIMIT = 1 << 4,
    O_SINCE = 1 << 5,
    O_GRANULARITY = 1 << 6,
    O_FOLLOW = 1 << 7,
    O_TOPICS = 1 << 8,
    O_CHECK = 1 << 9,
    O_TYPE = 1 << 10,
    O_VERSION = 1 << 11,
    O_COMMIT = 1 << 12,
    O_AUTHOR = 1 << 13,
    O_STATUS = 1 << 14,
    O_URL = 1 << 15,
    O_DESCRIPTION = 1 << 16,
    O_BEFORE = 1 << 17,
    O_SOCKET = 1 << 18,
    O_HELP = 1 << 19,
    O_ALL = 1 << 20,
    O_COMMENT = 1 << 21,
    O_SEVERITY = 1 << 22,
    O_FOR = 1 << 23,
    O_UNTIL = 1 << 24,
    O_START = 1 << 25,
    O_WIDE = 1 << 26,
    O_WAIT = 1 << 27,
    O_TIMEOUT = 1 << 28,
    O_AFTER = 1 << 29,
};

struct opts {
    unsigned set;
    bool json;
    bool follow;
    bool all;
    bool wait;
    const char *app, *env, *state, *check, *type, *granularity, *topics;
    const char *version, *commit, *author, *status, *url, *description;
    const char *comment, *severity, *until, *start;
    const char *socket;
    int64_t limit, since_ms, before, after, for_ms, timeout_ms;
};

struct ctx {
    struct ipc_client cl;
    const char *socket;
    struct opts o;
    unsigned topics;            /* events: the topics --topics names; 0 all */
};

struct cmd {
    const char *name;
    const char *usage;          /* after "shipwatch NAME " */
    unsigned opts;              /* what it accepts besides --json, --socket, --help */
    int min_args, max_args;
    int (*run)(struct ctx *x, char **args);
    const char *help;           /* one line */
};

/* --- calls --- */

/* The code of the last error the daemon answered, for --json errors. */
static const char *remote_code;

/* Report a failed call and return the exit code: a value the daemon
 * finds invalid is a usage error, as one the CLI finds invalid is. */
static int call_failed(struct ctx *x, const char *what, int rc)
{
    out_err("shipwatch: %s: %s\n", what, x->cl.errmsg);
    if (rc != IPC_CALL_REMOTE) {
        return CLI_EXIT_ERROR;
    }
    remote_code = ipc_errcode_name(x->cl.errcode);
    return x->cl.errcode == IPC_E_DENIED           ? CLI_EXIT_DENIED
           : x->cl.errcode == IPC_E_INVALID_PARAMS ? CLI_EXIT_USAGE
                                                   : CLI_EXIT_ERROR;
}

static int call(struct ctx *x, enum ipc_method_id id, const void *params, void *result,
                int timeout_ms)
{
    int rc = ipc_client_call(&x->cl, id, params, result, timeout_ms);
    if (rc != 0) {
        return call_failed(x, ipc_methods[id].name, rc);
    }
    return 0;
}

/* --- status --- */

/* A monitoring plugin's answer: 2 when a check is down, 1 when one is
 * degraded or the store is, 0 otherwise. */
static int status_exit(const struct ipc_status *s)
{
    if (s->down > 0) {
        return CLI_STATUS_DOWN;
    }
    return s->degraded > 0 || s->store_degraded ? CLI_STATUS_DEGRADED : CLI_EXIT_OK;
}

static int cmd_status(struct ctx *x, char **args)
{
    struct ipc_status s = {0};
    int rc = call(x, IPC_M_STATUS_GET, NULL, &s, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_status_type, &s), false);
        int health = status_exit(&s);
        ipc_type_finish(&ipc_status_type, &s);
        return health;
    }
    char up[32];
    out_span_us((s.now_ms - s.started_ms) * 1000, up, sizeof(up));
    printf("shipwatchd %s, pid %lld, up %s%s\n", s.version ? s.version : "?", (long long)s.pid,
           up, s.draining ? ", shutting down" : "");
    printf("store %s, %lld writes queued, %lld write errors\n", s.store ? s.store : "?",
           (long long)s.store_queue, (long long)s.store_write_errors);
    if (s.store_degraded) {
        printf("store DEGRADED: %s; %lld bytes spooled, checks go on\n",
               s.store_reason ? s.store_reason : "unavailable", (long long)s.store_spooled_bytes);
    }
    if (s.node != NULL) {
        printf("node %s%s%s, Redis %s, %lld peers, %lld check leases held\n", s.node,
               s.cluster ? " in cluster " : "", s.cluster ? s.cluster : "",
               s.cluster_connected ? "connected" : "UNREACHABLE (running every check alone)",
               (long long)s.cluster_peers, (long long)s.checks_owned);
        for (size_t i = 0; i < s.ncluster_peer_names; i++) {
            printf("%s%s", i == 0 ? "peers: " : ", ", s.cluster_peer_names[i]);
        }
        if (s.ncluster_peer_names > 0) {
            printf("\n");
        }
    }
    printf("%lld checks: %lld up, %lld down, %lld degraded, %lld unknown, %lld paused\n",
           (long long)s.checks, (long long)s.up, (long long)s.down, (long long)s.degraded,
           (long long)s.unknown, (long long)s.paused);
    printf("%lld clients, %lld subscribed\n", (long long)s.clients, (long long)s.subscribers);
    if (s.napps > 0) {
        struct table t;
        table_init(&t, 8);
        table_row(&t, "APP", "ENV", "STATE", "UP", "DOWN", "DEGRADED", "UNKNOWN", "PAUSED");
        for (size_t i = 0; i < s.napps; i++) {
            const struct ipc_app_status *a = &s.apps[i];
            char n[5][24];
            snprintf(n[0], sizeof(n[0]), "%lld", (long long)a->up);
            snprintf(n[1], sizeof(n[1]), "%lld", (long long)a->down);
            snprintf(n[2], sizeof(n[2]), "%lld", (long long)a->degraded);
            snprintf(n[3], sizeof(n[3]), "%lld", (long long)a->unknown);
            snprintf(n[4], sizeof(n[4]), "%lld", (long long)a->paused);
            table_row(&t, a->app, a->env, a->state, n[0], n[1], n[2], n[3], n[4]);
        }
        putchar('\n');
        table_print(&t);
        table_finish(&t);
    }
    int health = status_exit(&s);
    ipc_type_finish(&ipc_status_type, &s);
    return health;
}

/* --- checks --- */

static int cmd_checks(struct ctx *x, char **args)
{
    int rc;
    if (args[0] != NULL) {
        struct ipc_check_ref ref = {.check = args[0]};
        struct ipc_check c = {0};
        if ((rc = call(x, IPC_M_CHECKS_GET, &ref, &c, CALL_TIMEOUT_MS)) != 0) {
            return rc;
        }
        if (x->o.json) {
            out_json_print(out_json(&ipc_check_type, &c), false);
        } else {
            out_check_detail(&c);
        }
        ipc_type_finish(&ipc_check_type, &c);
        return 0;
    }
    struct ipc_checks_filter f = {
        .app = (char *)x->o.app, .env = (char *)x->o.env, .state = (char *)x->o.state};
    struct ipc_checks r = {0};
    /* Every page: after the last check of the one before. */
    do {
        struct ipc_checks page = {0};
        f.after = r.next;
        if ((rc = call(x, IPC_M_CHECKS_LIST, &f, &page, CALL_TIMEOUT_MS)) != 0 ||
            (rc = ipc_checks_append(&r, &page)) != 0) {
            if (rc == -ENOMEM) {
                out_err("shipwatch: out of memory\n");
                rc = CLI_EXIT_ERROR;
            }
            ipc_type_finish(&ipc_checks_type, &page);
            ipc_type_finish(&ipc_checks_type, &r);
            return rc;
        }
    } while (r.next != NULL);
    if (x->o.json) {
        out_json_print(out_json(&ipc_checks_type, &r), false);
        ipc_type_finish(&ipc_checks_type, &r);
        return 0;
    }
    struct table t;
    table_init(&t, 8);
    table_row(&t, "NAME", "APP", "ENV", "TYPE", "STATE", "LAST", "TOOK", "PROBLEM");
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < r.nchecks; i++) {
        const struct ipc_check *c = &r.checks[i];
        char state[32], last[32], took[32];
        snprintf(state, sizeof(state), "%s%s", c->state ? c->state : "?",
                 c->paused ? " (paused)" : "");
        out_ago(c->last_ms, now, last, sizeof(last));
        if (c->last_ms > 0) {
            out_span_us(c->last_duration_us, took, sizeof(took));
        } else {
            took[0] = '\0';
        }
        table_row(&t, c->name, c->app, c->env, c->type, state, last, took,
                  c->last_condition ? c->last_condition : c->last_error);
    }
    table_print(&t);
    table_finish(&t);
    ipc_type_finish(&ipc_checks_type, &r);
    return 0;
}

/* --- history --- */

static int cmd_history(struct ctx *x, char **args)
{
    int64_t now = clock_wall_ms();
    struct ipc_history_params p = {
        .check = args[0],
        .from_ms = now - ((x->o.set & O_SINCE) ? x->o.since_ms : HISTORY_DEFAULT_SINCE_MS),
        .to_ms = now + 1,
        .limit = x->o.limit,
        .granularity = (char *)x->o.granularity,
    };
    struct ipc_history h = {0};
    int rc = call(x, IPC_M_CHECKS_HISTORY, &p, &h, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_history_type, &h), false);
        ipc_type_finish(&ipc_history_type, &h);
        return 0;
    }
    bool raw = h.granularity != NULL && strcmp(h.granularity, "raw") == 0;
    /* What the runs said, in columns of their own only when any said something. */
    bool said = false;
    for (size_t i = 0; raw && i < h.nrows; i++) {
        said = said || h.rows[i].message != NULL || h.rows[i].perfdata != NULL;
    }
    struct table t;
    if (raw && said) {
        table_init(&t, 7);
        table_row(&t, "TIME", "OUTCOME", "STATUS", "TOOK", "PROBLEM", "MESSAGE", "PERFDATA");
    } else if (raw) {
        table_init(&t, 5);
        table_row(&t, "TIME", "OUTCOME", "STATUS", "TOOK", "PROBLEM");
    } else {
        table_init(&t, 7);
        table_row(&t, "TIME", "RUNS", "FAILED", "MIN", "AVG", "P95", "MAX");
    }
    for (size_t i = 0; i < h.nrows; i++) {
        const struct ipc_history_row *r = &h.rows[i];
        char when[32], a[32], b[32], c[32], d[32], n1[24], n2[24];
        out_time(r->ts_ms, when, sizeof(when));
        if (raw) {
            snprintf(n1, sizeof(n1), "%lld", (long long)r->status);
            table_row(&t, when, r->outcome, r->status >= 0 ? n1 : NULL,
                      out_span_us(r->latency_max_us, a, sizeof(a)),
                      r->failed_condition ? r->failed_condition : r->error, r->message,
                      r->perfdata);
        } else {
            snprintf(n1, sizeof(n1), "%lld", (long long)r->count);
            snprintf(n2, sizeof(n2), "%lld", (long long)r->failures);
            table_row(&t, when, n1, n2, out_span_us(r->latency_min_us, a, sizeof(a)),
                      out_span_us(r->latency_avg_us, b, sizeof(b)),
                      out_span_us(r->latency_p95_us, c, sizeof(c)),
                      out_span_us(r->latency_max_us, d, sizeof(d)));
        }
    }
    if (h.nrows == 0) {
        printf("no %s history for %s in that range\n", h.granularity ? h.granularity : "",
               args[0]);
    } else {
        table_print(&t);
    }
    table_finish(&t);
    ipc_type_finish(&ipc_history_type, &h);
    return 0;
}

/* --- run, pause, resume --- */

static int cmd_run(struct ctx *x, char **args)
{
    struct ipc_check_ref ref = {.check = args[0]};
    struct ipc_run r = {0};
    /* The daemon bounds the wait by the check's own timeout. */
    int rc = call(x, IPC_M_CHECKS_RUN, &ref, &r, -1);
    if (rc != 0) {
        return rc;
    }
    bool up = r.outcome != NULL && strcmp(r.outcome, "up") == 0;
    if (x->o.json) {
        out_json_print(out_json(&ipc_run_type, &r), false);
    } else {
        char took[32];
        printf("%s: %s in %s", r.check, r.outcome ? r.outcome : "?",
               out_span_us(r.duration_us, took, sizeof(took)));
        if (r.status >= 0) {
            printf(", status %lld", (long long)r.status);
        }
        if (r.failed_condition != NULL) {
            printf(", failed %s", r.failed_condition);
        }
        if (r.error != NULL) {
            printf(" (%s)", r.error);
        }
        printf("; state %s\n", r.state ? r.state : "?");
    }
    ipc_type_finish(&ipc_run_type, &r);
    return up ? CLI_EXIT_OK : CLI_EXIT_UNHEALTHY;
}

static int pause_resume(struct ctx *x, char **args, enum ipc_method_id id)
{
    struct ipc_check_ref ref = {.check = args[0]};
    struct ipc_paused r = {0};
    int rc = call(x, id, &ref, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_paused_type, &r), false);
    } else {
        printf("%s %s\n", r.check, r.paused ? "paused" : "resumed");
    }
    ipc_type_finish(&ipc_paused_type, &r);
    return 0;
}

static int cmd_pause(struct ctx *x, char **args)
{
    return pause_resume(x, args, IPC_M_CHECKS_PAUSE);
}

static int cmd_resume(struct ctx *x, char **args)
{
    return pause_resume(x, args, IPC_M_CHECKS_RESUME);
}

/* --- deploys --- */

static int cmd_deploys(struct ctx *x, char **args)
{
    struct ipc_deploys_query q = {.app = (char *)x->o.app,
                                  .env = (char *)x->o.env,
                                  .before_id = x->o.before,
                                  .limit = x->o.limit};
    struct ipc_deploys r = {0};
    int rc = call(x, IPC_M_DEPLOYS_LIST, &q, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_deploys_type, &r), false);
        ipc_type_finish(&ipc_deploys_type, &r);
        return 0;
    }
    struct table t;
    table_init(&t, 9);
    table_row(&t, "ID", "STARTED", "APP", "ENV", "VERSION", "COMMIT", "AUTHOR", "STATUS",
              "VERDICT");
    for (size_t i = 0; i < r.ndeploys; i++) {
        const struct ipc_deploy *d = &r.deploys[i];
        char id[24], when[32], commit[13];
        snprintf(id, sizeof(id), "%lld", (long long)d->id);
        snprintf(commit, sizeof(commit), "%s", d->commit ? d->commit : "");
        table_row(&t, id, out_time(d->started_ms, when, sizeof(when)), d->app, d->env,
                  d->version, commit, d->author, d->status, d->verdict);
    }
    if (r.ndeploys == 0) {
        printf("no deploys recorded\n");
    } else {
        table_print(&t);
    }
    table_finish(&t);
    ipc_type_finish(&ipc_deploys_type, &r);
    return 0;
}

/* The caller's login name, the default author of a deploy. */
static const char *login_name(void)
{
    const char *u = getenv("USER");
    if (u != NULL && u[0] != '\0') {
        return u;
    }
    const struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_name : NULL;
}

#define WAIT_POLL_MS 500

/* The verdict of deploy d and its exit status; *d is replaced by the
 * deploy as last read. */
static int wait_verdict(struct ctx *x, struct ipc_deploy *d)
{
    int64_t deadline = x->o.timeout_ms > 0 ? clock_wall_ms() + x->o.timeout_ms : 0;
    if (!x->o.json) {
        printf("deploy %lld recorded: %s/%s %s; waiting for its verdict\n", (long long)d->id,
               d->app, d->env, d->version);
        fflush(stdout);
    }
    for (;;) {
        /* The deploy itself: the newest with an id below its own + 1. */
        struct ipc_deploys_query q = {
            .app = (char *)d->app, .env = (char *)d->env, .before_id = d->id + 1, .limit = 1};
        struct ipc_deploys r = {0};
        int rc = call(x, IPC_M_DEPLOYS_LIST, &q, &r, CALL_TIMEOUT_MS);
        if (rc != 0) {
            return rc;
        }
        const char *v = r.ndeploys == 1 && r.deploys[0].id == d->id ? r.deploys[0].verdict : NULL;
        if (v != NULL && strcmp(v, "pending") != 0) {
            struct ipc_deploy *got = &r.deploys[0];
            rc = strcmp(v, "healthy") == 0  ? CLI_EXIT_OK
                 : strcmp(v, "failed") == 0 ? CLI_WAIT_FAILED
                                            : CLI_WAIT_UNVERIFIED;
            if (x->o.json) {
                out_json_print(out_json(&ipc_deploy_type, got), false);
            } else {
                printf("verdict: %s", v);
                if (got->verdict_reason != NULL) {
                    printf(": %s", got->verdict_reason);
                }
                if (got->failing_check != NULL) {
                    printf(" (check %s)", got->failing_check);
                }
                putchar('\n');
                if (rc == CLI_WAIT_FAILED) {
                    printf("roll back to: %s\n", got->rollback_version != NULL
                                                      ? got->rollback_version
                                                      : "no earlier healthy version");
                }
            }
            ipc_type_finish(&ipc_deploys_type, &r);
            return rc;
        }
        ipc_type_finish(&ipc_deploys_type, &r);
        if (deadline > 0 && clock_wall_ms() >= deadline) {
            out_err("shipwatch deploy record: no verdict for deploy %lld within --timeout\n",
                    (long long)d->id);
            remote_code = "timeout";
            return CLI_WAIT_TIMEOUT;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = WAIT_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int cmd_deploy_record(struct ctx *x, char **args)
{
    const char *missing = x->o.app == NULL       ? "--app"
                          : x->o.env == NULL     ? "--env"
                          : x->o.version == NULL ? "--version"
                                                 : NULL;
    if (missing != NULL) {
        out_err("shipwatch deploy record: %s is required\n", missing);
        return CLI_EXIT_USAGE;
    }
    struct ipc_deploy p = {
        .app = (char *)x->o.app,
        .env = (char *)x->o.env,
        .version = (char *)x->o.version,
        .commit = (char *)x->o.commit,
        .author = (char *)(x->o.author != NULL ? x->o.author : login_name()),
        .source = "cli",
        .url = (char *)x->o.url,
        .description = (char *)x->o.description,
        .status = (char *)x->o.status,
    };
    if (x->o.wait && x->o.status != NULL && strcmp(x->o.status, "succeeded") != 0) {
        out_err("shipwatch deploy record: --wait needs a deploy that succeeded: only those "
                "are verified\n");
        return CLI_EXIT_USAGE;
    }
    struct ipc_deploy r = {0};
    int rc = call(x, IPC_M_DEPLOYS_RECORD, &p, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.wait) {
        rc = wait_verdict(x, &r);
        ipc_type_finish(&ipc_deploy_type, &r);
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_deploy_type, &r), false);
    } else {
        printf("deploy %lld recorded: %s/%s %s (%s)\n", (long long)r.id, r.app, r.env, r.version,
               r.status ? r.status : "?");
    }
    ipc_type_finish(&ipc_deploy_type, &r);
    return 0;
}

/* --- events --- */

static void event_row(struct table *t, int64_t id, int64_t ts, const char *type,
                      const char *check, const char *app, const char *message)
{
    char sid[24], when[32];
    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    table_row(t, id > 0 ? sid : NULL, out_time(ts, when, sizeof(when)), type, check, app,
              message);
}

/* One line for a notice, the way `events --follow` prints it. */
static void print_notice(const struct ipc_notice *n, bool json)
{
    if (json) {
        out_json_print(out_json(&ipc_notice_type, n), true);
        fflush(stdout);
        return;
    }
    char when[32], took[32], msg[1024];
    out_time(n->ts_ms, when, sizeof(when));
    const char *text = n->message;
    if (n->topic != NULL && strcmp(n->topic, "results") == 0) {
        snprintf(msg, sizeof(msg), "%s %s in %s%s%s", n->check ? n->check : "?",
                 n->outcome ? n->outcome : "?", out_span_us(n->duration_us, took, sizeof(took)),
                 n->failed_condition || n->error ? ": " : "",
                 n->failed_condition ? n->failed_condition : n->error ? n->error : "");
        text = msg;
    } else if (n->topic != NULL && strcmp(n->topic, "log") == 0) {
        snprintf(msg, sizeof(msg), "%s: %s", n->level ? n->level : "?",
                 n->message ? n->message : "");
        text = msg;
    }
    /* One row a line: no alignment across lines that have not come yet. */
    struct table t;
    table_init(&t, 4);
    table_row(&t, when, n->topic, n->app, text);
    table_print(&t);
    table_finish(&t);
    fflush(stdout);
}

static volatile sig_atomic_t stop_following;

static void on_stop(int sig)
{
    stop_following = 1;
}

/* Topics from "a,b,c"; allocated vector in *out. */
static int parse_topics(const char *list, struct ipc_topics *out)
{
    char *copy = strdup(list);
    size_t cap = 1;
    for (const char *p = list; *p; p++) {
        cap += *p == ',';
    }
    out->topics = calloc(cap, sizeof(char *));
    out->ntopics = 0;
    if (copy == NULL || out->topics == NULL) {
        free(copy);
        return -ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        /* The host topic carries samples, not events: nothing to print. */
        if ((ipc_topic_parse(tok) & IPC_TOPIC_ALL) == 0) {
            out_err(
                    "shipwatch events: %s is not a topic (results, states, deploys, alerts, "
                    "log)\n",
                    tok);
            free(copy);
            ipc_type_finish(&ipc_topics_type, out);
            return -EINVAL;
        }
        out->topics[out->ntopics++] = strdup(tok);
    }
    free(copy);
    return 0;
}

static int subscribe(struct ctx *x)
{
    struct ipc_topics want = {0};
    if (parse_topics(x->o.topics != NULL ? x->o.topics : FOLLOW_TOPICS, &want) < 0) {
        return CLI_EXIT_USAGE;
    }
    struct ipc_topics got = {0};
    int rc = call(x, IPC_M_EVENTS_SUBSCRIBE, &want, &got, CALL_TIMEOUT_MS);
    ipc_type_finish(&ipc_topics_type, &want);
    ipc_type_finish(&ipc_topics_type, &got);
    return rc;
}

/* One event of the log as follow prints it: a line each. */
static void print_event(const struct ipc_event *e, bool json)
{
    if (json) {
        out_json_print(out_json(&ipc_event_type, e), true);
        return;
    }
    struct table t;
    table_init(&t, 6);
    event_row(&t, e->id, e->ts_ms, e->type, e->check, e->app, e->message);
    table_print(&t);
    table_finish(&t);
}

/* Whether --topics lets event e through: what is replayed before the
 * stream is what the stream would have brought. */
static bool event_wanted(const struct ctx *x, const struct ipc_event *e)
{
    return x->topics == 0 || topics_want(x->topics, e->type);
}

/* Print the events after after_id, oldest first, paging back from before
 * (0: the newest): the highest id printed (after_id when none), -1 after
 * a failed call. */
static int64_t catch_up(struct ctx *x, int64_t after_id, int64_t before)
{
    struct ipc_events_query q = {.app = (char *)x->o.app,
                                 .check = (char *)x->o.check,
                                 .type = (char *)x->o.type,
                                 .before_id = before,
                                 .limit = EVENTS_PAGE};
    struct ipc_events r = {0};
    if (ipc_client_call(&x->cl, IPC_M_EVENTS_LIST, &q, &r, CALL_TIMEOUT_MS) != 0) {
        return -1;
    }
    int64_t last = after_id;
    size_t n = r.nevents;
    /* A full page that does not reach after_id: the older ones first. */
    if (n == EVENTS_PAGE && r.events[n - 1].id > after_id + 1) {
        last = catch_up(x, after_id, r.events[n - 1].id);
    }
    for (size_t i = n; last >= 0 && i-- > 0;) {
        if (r.events[i].id > after_id) {
            if (event_wanted(x, &r.events[i])) {
                print_event(&r.events[i], x->o.json);
            }
            last = r.events[i].id > last ? r.events[i].id : last;
        }
    }
    ipc_type_finish(&ipc_events_type, &r);
    fflush(stdout);
    return last;
}

/* Connect again, say hello, subscribe, and print what was missed after
 * after_id; quietly: 0, or -1 to try again later. */
static int reconnect(struct ctx *x, int64_t *after_id)
{
    ipc_client_close(&x->cl);
    if (ipc_client_open(&x->cl, x->socket) < 0) {
        return -1;
    }
    struct ipc_hello_params hp = {.client = "shipwatch " SHIPWATCH_VERSION,
                                  .protocol = IPC_PROTOCOL};
    struct ipc_hello_result hr = {0};
    struct ipc_topics want = {0}, got = {0};
    int rc = ipc_client_call(&x->cl, IPC_M_HELLO, &hp, &hr, CALL_TIMEOUT_MS);
    ipc_type_finish(&ipc_hello_result_type, &hr);
    if (rc == 0 && parse_topics(x->o.topics != NULL ? x->o.topics : FOLLOW_TOPICS, &want) == 0) {
        rc = ipc_client_call(&x->cl, IPC_M_EVENTS_SUBSCRIBE, &want, &got, CALL_TIMEOUT_MS);
        ipc_type_finish(&ipc_topics_type, &want);
        ipc_type_finish(&ipc_topics_type, &got);
    }
    int64_t last = rc == 0 ? catch_up(x, *after_id, 0) : -1;
    if (last < 0) {
        return -1;
    }
    *after_id = last;
    return 0;
}

/* Print notifications until interrupted; events up to after_id were
 * listed. A daemon that goes away is waited for, with backoff, and what
 * its log got meanwhile printed before the stream goes on. */
static int follow(struct ctx *x, int64_t after_id)
{
    int rc;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_following) {
        struct ipc_notice n = {0};
        rc = ipc_client_notice(&x->cl, &n, -1);
        if (rc < 0) {
            if (stop_following) {
                break;
            }
            fprintf(stderr, "shipwatch: lost the daemon (%s); reconnecting\n", x->cl.errmsg);
            int64_t wait_ms = RECONNECT_FIRST_MS;
            while (!stop_following && reconnect(x, &after_id) < 0) {
                struct timespec ts = {.tv_sec = wait_ms / 1000,
                                      .tv_nsec = wait_ms % 1000 * 1000000L};
                nanosleep(&ts, NULL);
                wait_ms = wait_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : wait_ms * 2;
            }
            if (!stop_following) {
                fprintf(stderr, "shipwatch: reconnected\n");
            }
            continue;
        }
        bool matches = (x->o.app == NULL || (n.app && strcmp(n.app, x->o.app) == 0)) &&
                       (x->o.check == NULL || (n.check && strcmp(n.check, x->o.check) == 0)) &&
                       (x->o.type == NULL || (n.type && strcmp(n.type, x->o.type) == 0));
        /* Events the listing printed already may come again: the
         * subscription started before the listing was taken. */
        if (matches && (n.id == 0 || n.id > after_id)) {
            print_notice(&n, x->o.json);
            after_id = n.id > after_id ? n.id : after_id;
        }
        ipc_type_finish(&ipc_notice_type, &n);
    }
    return CLI_EXIT_OK;
}

static int cmd_events(struct ctx *x, char **args)
{
    int rc;
    char bad[64];
    if (x->o.topics != NULL && (x->topics = topics_mask(x->o.topics, bad, sizeof(bad))) == 0) {
        out_err("shipwatch events: %s is not a topic (results, states, deploys, alerts, log)\n",
                bad);
        return CLI_EXIT_USAGE;
    }
    /* Subscribe before listing, so nothing falls between the two; what
     * comes twice is dropped by id. */
    if (x->o.follow && (rc = subscribe(x)) != 0) {
        return rc;
    }
    if (x->o.set & O_AFTER) {
        /* Every event after the one given, then (--follow) the stream. */
        int64_t last = catch_up(x, x->o.after, 0);
        if (last < 0) {
            return call_failed(x, "events.list", IPC_CALL_REMOTE);
        }
        return x->o.follow ? follow(x, last) : CLI_EXIT_OK;
    }
    struct ipc_events_query q = {.app = (char *)x->o.app,
                                 .check = (char *)x->o.check,
                                 .type = (char *)x->o.type,
                                 .before_id = x->o.before,
                                 .limit = x->o.follow && !(x->o.set & O_LIMIT) ? 10 : x->o.limit};
    struct ipc_events r = {0};
    if ((rc = call(x, IPC_M_EVENTS_LIST, &q, &r, CALL_TIMEOUT_MS)) != 0) {
        return rc;
    }
    int64_t last_id = r.nevents > 0 ? r.events[0].id : 0;
    size_t kept = 0;
    for (size_t i = 0; i < r.nevents; i++) {
        if (event_wanted(x, &r.events[i])) {
            r.events[kept++] = r.events[i];
        } else {
            ipc_type_finish(&ipc_event_type, &r.events[i]);
        }
    }
    r.nevents = kept;
    if (x->o.json && x->o.follow) {
        /* One object a line, oldest first, then the stream in the same form. */
        for (size_t i = r.nevents; i-- > 0;) {
            print_event(&r.events[i], true);
        }
    } else if (x->o.json) {
        out_json_print(out_json(&ipc_events_type, &r), false);
    } else {
        struct table t;
        table_init(&t, 6);
        table_row(&t, "ID", "TIME", "TYPE", "CHECK", "APP", "MESSAGE");
        /* Oldest first, like a log. */
        for (size_t i = r.nevents; i-- > 0;) {
            const struct ipc_event *e = &r.events[i];
            event_row(&t, e->id, e->ts_ms, e->type, e->check, e->app, e->message);
        }
        if (r.nevents > 0 || !x->o.follow) {
            table_print(&t);
        }
        table_finish(&t);
    }
    ipc_type_finish(&ipc_events_type, &r);
    fflush(stdout);
    return x->o.follow ? follow(x, last_id) : CLI_EXIT_OK;
}

/* --- alerts --- */

/* A positive integer operand, the id of an alert, silence or window. */
static int parse_id(const char *cmd, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1) {
        out_err("shipwatch %s: expected an id (a positive integer), got '%s'\n", cmd, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "5m", "2h3m": how long ago ms was, without " ago". */
static char *age(int64_t ms, int64_t now, char *buf, size_t len)
{
    out_ago(ms, now, buf, len);
    char *sp = strstr(buf, " ago");
    if (sp != NULL) {
        *sp = '\0';
    }
    return buf;
}

/* What an alert is about: its check, or app/env for a deploy's. */
static char *alert_subject(const struct ipc_alert *a, char *buf, size_t len)
{
    if (a->check != NULL) {
        snprintf(buf, len, "%s", a->check);
    } else {
        snprintf(buf, len, "%s/%s", a->app ? a->app : "-", a->env ? a->env : "-");
    }
    return buf;
}

static int cmd_alerts(struct ctx *x, char **args)
{
    if ((x->o.set & O_ALL) && (x->o.set & O_STATUS)) {
        out_err("shipwatch alerts: --all and --status exclude each other\n");
        return CLI_EXIT_USAGE;
    }
    struct ipc_alerts_query q = {
        .status = (char *)(x->o.all ? "all" : x->o.status),
        .check = (char *)x->o.check,
        .app = (char *)x->o.app,
        .before_id = x->o.before,
        .limit = x->o.limit,
    };
    struct ipc_alerts r = {0};
    int rc = call(x, IPC_M_ALERTS_LIST, &q, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_alerts_type, &r), false);
        ipc_type_finish(&ipc_alerts_type, &r);
        return 0;
    }
    struct table t;
    table_init(&t, 8);
    table_row(&t, "ID", "STATUS", "SEVERITY", "KIND", "CHECK/APP-ENV", "AGE", "MUTED",
              "SUMMARY");
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < r.nalerts; i++) {
        const struct ipc_alert *a = &r.alerts[i];
        char id[24], subject[300], ago[32];
        snprintf(id, sizeof(id), "%lld", (long long)a->id);
        table_row(&t, id, a->status, a->severity, a->kind,
                  alert_subject(a, subject, sizeof(subject)),
                  age(a->started_ms, now, ago, sizeof(ago)), a->muted_by, a->summary);
    }
    if (r.nalerts == 0 && x->o.all) {
        printf("no alerts\n");
    } else if (r.nalerts == 0) {
        printf("no %s alerts\n", q.status != NULL ? q.status : "open");
    } else {
        table_print(&t);
    }
    table_finish(&t);
    ipc_type_finish(&ipc_alerts_type, &r);
    return 0;
}

static int cmd_ack(struct ctx *x, char **args)
{
    struct ipc_ack_params p = {.comment = (char *)x->o.comment};
    if (parse_id("ack", args[0], &p.id) < 0) {
        return CLI_EXIT_USAGE;
    }
    struct ipc_alert a = {0};
    int rc = call(x, IPC_M_ALERTS_ACK, &p, &a, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_alert_type, &a), false);
    } else {
        char subject[300];
        printf("alert %lld (%s %s) acknowledged by %s\n", (long long)a.id, a.kind ? a.kind : "?",
               alert_subject(&a, subject, sizeof(subject)), a.ack_by ? a.ack_by : "?");
    }
    ipc_type_finish(&ipc_alert_type, &a);
    return 0;
}

/* When a mute ends: its time, or (a silence made from an alert) when
 * that alert resolves, whichever comes first. */
static const char *mute_until(const struct ipc_mute *m, char *buf, size_t len)
{
    char at[32];
    if (m->ends_ms == 0) {
        snprintf(buf, len, "alert %lld resolves", (long long)m->alert_id);
    } else if (m->alert_id != 0) {
        snprintf(buf, len, "%s or alert %lld resolves", out_time(m->ends_ms, at, sizeof(at)),
                 (long long)m->alert_id);
    } else {
        out_time(m->ends_ms, buf, len);
    }
    return buf;
}

/* silence, maintenance add: the mute the options describe. */
static int mute_add(struct ctx *x, enum ipc_method_id id, const char *what)
{
    const char *cmd = id == IPC_M_ALERTS_SILENCE ? "silence" : "maintenance add";
    if (id == IPC_M_ALERTS_SILENCE) {
        if (x->o.check == NULL && x->o.app == NULL && x->o.env == NULL && x->o.severity == NULL) {
            out_err("shipwatch silence: give at least one of --check, --app, --env, "
                            "--severity\n");
            return CLI_EXIT_USAGE;
        }
        if (!(x->o.set & O_FOR)) {
            out_err("shipwatch silence: --for is required\n");
            return CLI_EXIT_USAGE;
        }
    } else if (!!(x->o.set & O_FOR) == !!(x->o.set & O_UNTIL)) {
        out_err("shipwatch maintenance add: give one of --for and --until\n");
        return CLI_EXIT_USAGE;
    }
    int64_t now = clock_wall_ms();
    struct ipc_mute_params p = {
        .check = (char *)x->o.check,
        .app = (char *)x->o.app,
        .env = (char *)x->o.env,
        .severity = (char *)x->o.severity,
        .comment = (char *)x->o.comment,
        .duration_ms = x->o.for_ms,
    };
    if (x->o.start != NULL && when_parse(x->o.start, now, &p.starts_ms) < 0) {
        out_err("shipwatch %s: --start: expected a time like 14:30, 2026-11-23 14:30, "
                        "2026-11-23T14:30Z or +30m, got '%s'\n",
                cmd, x->o.start);
        return CLI_EXIT_USAGE;
    }
    if (x->o.until != NULL && when_parse(x->o.until, now, &p.ends_ms) < 0) {
        out_err("shipwatch %s: --until: expected a time like 14:30, 2026-11-23 14:30, "
                        "2026-11-23T14:30Z or +2h, got '%s'\n",
                cmd, x->o.until);
        return CLI_EXIT_USAGE;
    }
    struct ipc_mute m = {0};
    int rc = call(x, id, &p, &m, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_mute_type, &m), false);
    } else {
        char from[32], until[64], match[1200];
        out_time(m.starts_ms, from, sizeof(from));
        mute_until(&m, until, sizeof(until));
        printf("%s %lld: %s, from %s until %s\n", what, (long long)m.id,
               out_mute_matchers(&m, match, sizeof(match)), from, until);
    }
    ipc_type_finish(&ipc_mute_type, &m);
    return 0;
}

static int cmd_silence(struct ctx *x, char **args)
{
    return mute_add(x, IPC_M_ALERTS_SILENCE, "silence");
}

static int cmd_maintenance_add(struct ctx *x, char **args)
{
    return mute_add(x, IPC_M_MAINTENANCE_ADD, "maintenance window");
}

/* unsilence, maintenance remove. */
static int mute_remove(struct ctx *x, char **args, enum ipc_method_id id, const char *what)
{
    struct ipc_id_ref ref;
    if (parse_id(id == IPC_M_ALERTS_UNSILENCE ? "unsilence" : "maintenance remove", args[0],
                 &ref.id) < 0) {
        return CLI_EXIT_USAGE;
    }
    struct ipc_mute m = {0};
    int rc = call(x, id, &ref, &m, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_mute_type, &m), false);
    } else {
        char match[1200];
        printf("%s %lld (%s) removed\n", what, (long long)m.id,
               out_mute_matchers(&m, match, sizeof(match)));
    }
    ipc_type_finish(&ipc_mute_type, &m);
    return 0;
}

static int cmd_unsilence(struct ctx *x, char **args)
{
    return mute_remove(x, args, IPC_M_ALERTS_UNSILENCE, "silence");
}

static int cmd_maintenance_remove(struct ctx *x, char **args)
{
    return mute_remove(x, args, IPC_M_MAINTENANCE_REMOVE, "maintenance window");
}

/* A table of silences or ad-hoc windows. */
static void print_mutes(const struct ipc_mute *ms, size_t n)
{
    struct table t;
    table_init(&t, 9);
    table_row(&t, "ID", "CHECK", "APP", "ENV", "SEVERITY", "FROM", "UNTIL", "AUTHOR", "COMMENT");
    for (size_t i = 0; i < n; i++) {
        const struct ipc_mute *m = &ms[i];
        char id[24], from[32], until[64];
        snprintf(id, sizeof(id), "%lld", (long long)m->id);
        table_row(&t, id, m->check, m->app, m->env, m->severity,
                  out_time(m->starts_ms, from, sizeof(from)), mute_until(m, until, sizeof(until)),
                  m->author, m->comment);
    }
    table_print(&t);
    table_finish(&t);
}

static int cmd_silences(struct ctx *x, char **args)
{
    struct ipc_mutes r = {0};
    int rc = call(x, IPC_M_ALERTS_SILENCES, NULL, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_mutes_type, &r), false);
    } else if (r.nmutes == 0) {
        printf("no silences\n");
    } else {
        print_mutes(r.mutes, r.nmutes);
    }
    ipc_type_finish(&ipc_mutes_type, &r);
    return 0;
}

static int cmd_maintenance(struct ctx *x, char **args)
{
    struct ipc_maintenance r = {0};
    int rc = call(x, IPC_M_MAINTENANCE_LIST, NULL, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_maintenance_type, &r), false);
        ipc_type_finish(&ipc_maintenance_type, &r);
        return 0;
    }
    if (r.nwindows > 0) {
        struct table t;
        table_init(&t, 9);
        table_row(&t, "NAME", "CHECK", "APP", "ENV", "DAYS", "START", "DURATION", "NEXT", "ACTIVE");
        for (size_t i = 0; i < r.nwindows; i++) {
            const struct ipc_maint_window *w = &r.windows[i];
            char days[64] = "", start[16], dur[32], next[32];
            size_t pos = 0;
            for (size_t k = 0; k < w->ndays && pos + 1 < sizeof(days); k++) {
                int n = snprintf(days + pos, sizeof(days) - pos, "%s%s", k ? "," : "", w->days[k]);
                pos = n < 0 ? sizeof(days) : pos + (size_t)n;
            }
            snprintf(start, sizeof(start), "%s UTC", w->start ? w->start : "?");
            table_row(&t, w->name, w->check, w->app, w->env, w->ndays == 7 ? "every day" : days,
                      start, duration_format(w->duration_ms, dur, sizeof(dur)),
                      out_time(w->next_start_ms, next, sizeof(next)), w->active ? "yes" : "no");
        }
        printf("configured windows:\n");
        table_print(&t);
        table_finish(&t);
    }
    if (r.nmutes > 0) {
        printf("%sad-hoc windows:\n", r.nwindows > 0 ? "\n" : "");
        print_mutes(r.mutes, r.nmutes);
    }
    if (r.nwindows == 0 && r.nmutes == 0) {
        printf("no maintenance windows\n");
    }
    ipc_type_finish(&ipc_maintenance_type, &r);
    return 0;
}

/* --- reload --- */

static int cmd_reload(struct ctx *x, char **args)
{
    struct ipc_reload r = {0};
    int rc = ipc_client_call(&x->cl, IPC_M_RELOAD, NULL, &r, CALL_TIMEOUT_MS);
    if (rc == IPC_CALL_REMOTE && x->cl.errcode == IPC_E_INVALID_CONFIG) {
        remote_code = ipc_errcode_name(x->cl.errcode);
        out_err("shipwatch: the configuration on disk is invalid; the daemon keeps "
                        "running the old one:\n%s\n",
                x->cl.errmsg);
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        return call_failed(x, "daemon.reload", rc);
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_reload_type, &r), false);
    } else {
        printf("configuration reloaded: %lld checks (%lld unchanged, %lld changed, %lld added, "
               "%lld removed)\n",
               (long long)r.checks, (long long)r.unchanged, (long long)r.changed,
               (long long)r.added, (long long)r.removed);
    }
    return 0;
}

/* --- the table of commands --- */

static const struct cmd cmds[] = {
    {"status", "", 0, 0, 0, cmd_status, "the daemon and every app at a glance"},
    {"checks", "[CHECK] [--app A] [--env E] [--state S]", O_APP | O_ENV | O_STATE, 0, 1,
     cmd_checks, "every check and its state, or one check in detail"},
    {"history", "CHECK [--since DURATION] [--limit N] [--granularity raw|minute|hour|day|auto]",
     O_SINCE | O_LIMIT | O_GRANULARITY, 1, 1, cmd_history, "a check's past results"},
    {"run", "CHECK", 0, 1, 1, cmd_run, "run a check now and wait for its result"},
    {"pause", "CHECK", 0, 1, 1, cmd_pause, "stop running a check until resumed"},
    {"resume", "CHECK", 0, 1, 1, cmd_resume, "run a paused check again"},
    {"deploys", "[--app A] [--env E] [--limit N] [--before ID]",
     O_APP | O_ENV | O_LIMIT | O_BEFORE, 0, 0, cmd_deploys, "recorded deploys, newest first"},
    {"deploy record",
     "--app A --env E --version V [--commit C] [--author U] [--status S] [--url U] "
     "[--description D] [--wait [--timeout D]]",
     O_APP | O_ENV | O_VERSION | O_COMMIT | O_AUTHOR | O_STATUS | O_URL | O_DESCRIPTION |
         O_WAIT | O_TIMEOUT,
     0, 0,
     cmd_deploy_record, "record a deploy"},
    {"events",
     "[--app A] [--check C] [--type T] [--limit N] [--before ID | --after ID] "
     "[--follow [--topics LIST]]",
     O_APP | O_CHECK | O_TYPE | O_LIMIT | O_BEFORE | O_AFTER | O_FOLLOW | O_TOPICS, 0, 0,
     cmd_events,
     "the event log; --follow streams it"},
    {"reload", "", 0, 0, 0, cmd_reload, "reload the daemon's configuration"},
    {"alerts", "[--all | --status S] [--app A] [--check C] [--limit N] [--before ID]",
     O_ALL | O_STATUS | O_APP | O_CHECK | O_LIMIT | O_BEFORE, 0, 0, cmd_alerts,
     "alerts, newest first: the open ones, or --all"},
    {"ack", "ID [--comment TEXT]", O_COMMENT, 1, 1, cmd_ack,
     "acknowledge an alert: no more repeats"},
    {"silence",
     "[--check C] [--app A] [--env E] [--severity S] --for DURATION [--comment TEXT]",
     O_CHECK | O_APP | O_ENV | O_SEVERITY | O_FOR | O_COMMENT, 0, 0, cmd_silence,
     "hold the notifications of matching alerts for a while"},
    {"silences", "", 0, 0, 0, cmd_silences, "the silences not over yet"},
    {"unsilence", "ID", 0, 1, 1, cmd_unsilence, "end a silence now"},
    {"maintenance list", "", 0, 0, 0, cmd_maintenance,
     "maintenance windows: configured and ad-hoc"},
    {"maintenance add",
     "[--check C] [--app A] [--env E] [--severity S] (--for DURATION | --until TIME) "
     "[--start TIME] [--comment TEXT]",
     O_CHECK | O_APP | O_ENV | O_SEVERITY | O_FOR | O_UNTIL | O_START | O_COMMENT, 0, 0,
     cmd_maintenance_add, "add an ad-hoc maintenance window"},
    {"maintenance remove", "ID", 0, 1, 1, cmd_maintenance_remove,
     "end an ad-hoc maintenance window now"},
    /* Plain "maintenance" lists; after the two-word forms, which match first. */
    {"maintenance", "[list | add ... | remove ID]", 0, 0, 0, cmd_maintenance,
     "the same as maintenance list"},
};

void cli_usage(FILE *f)
{
    fprintf(f, "usage: shipwatch [--socket PATH] [--json] COMMAND [ARGS]\n"
               "       shipwatch --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        fprintf(f, "  %-19s %s\n", cmds[i].name, cmds[i].help);
    }
    fprintf(f, "\nEvery command takes --json (one JSON document; one object a line with\n"
               "events --follow) and --socket PATH (default: $SHIPWATCH_SOCKET, or the\n"
               "daemon's default socket). `shipwatch COMMAND --help` shows its options.\n"
               "--wide prints tables in full; on a terminal, a cell cut to fit ends in '\u2026'.\n"
               "Exit status: 0 ok, 1 error, 2 usage, 3 `run` found the check not up,\n"
               "4 not allowed (not an admin); `status` and `deploy record --wait` have\n"
               "their own (see shipwatch(1)). With --json, an error is one line on stdout:\n"
               "{\"error\": {\"code\": ..., \"message\": ...}}.\n");
}

static void cmd_usage(FILE *f, const struct cmd *c)
{
    fprintf(f, "usage: shipwatch %s %s%s[--json] [--wide] [--socket PATH]\n%s\n", c->name, c->usage,
            c->usage[0] ? " " : "", c->help);
}

static const struct option longopts[] = {
    {"json", no_argument, NULL, 'j'},
    {"socket", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {"app", required_argument, NULL, 'a'},
    {"env", required_argument, NULL, 'e'},
    {"state", required_argument, NULL, 'S'},
    {"limit", required_argument, NULL, 'n'},
    {"since", required_argument, NULL, 'w'},
    {"granularity", required_argument, NULL, 'g'},
    {"follow", no_argument, NULL, 'f'},
    {"topics", required_argument, NULL, 'T'},
    {"check", required_argument, NULL, 'c'},
    {"type", required_argument, NULL, 't'},
    {"version", required_argument, NULL, 'V'},
    {"commit", required_argument, NULL, 'C'},
    {"author", required_argument, NULL, 'u'},
    {"status", required_argument, NULL, 'x'},
    {"url", required_argument, NULL, 'U'},
    {"description", required_argument, NULL, 'd'},
    {"before", required_argument, NULL, 'b'},
    {"all", no_argument, NULL, 'A'},
    {"comment", required_argument, NULL, 'm'},
    {"severity", required_argument, NULL, 'v'},
    {"for", required_argument, NULL, 'F'},
    {"until", required_argument, NULL, 'N'},
    {"start", required_argument, NULL, 'B'},
    {"wide", no_argument, NULL, 'W'},
    {"wait", no_argument, NULL, 'y'},
    {"timeout", required_argument, NULL, 'o'},
    {"after", required_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
};

static unsigned opt_bit(int ch)
{
    switch (ch) {
    case 'j': return O_JSON;
    case 's': return O_SOCKET;
    case 'h': return O_HELP;
    case 'a': return O_APP;
    case 'e': return O_ENV;
    case 'S': return O_STATE;
    case 'n': return O_LIMIT;
    case 'w': return O_SINCE;
    case 'g': return O_GRANULARITY;
    case 'f': return O_FOLLOW;
    case 'T': return O_TOPICS;
    case 'c': return O_CHECK;
    case 't': return O_TYPE;
    case 'V': return O_VERSION;
    case 'C': return O_COMMIT;
    case 'u': return O_AUTHOR;
    case 'x': return O_STATUS;
    case 'U': return O_URL;
    case 'd': return O_DESCRIPTION;
    case 'b': return O_BEFORE;
    case 'A': return O_ALL;
    case 'm': return O_COMMENT;
    case 'v': return O_SEVERITY;
    case 'F': return O_FOR;
    case 'N': return O_UNTIL;
    case 'B': return O_START;
    case 'W': return O_WIDE;
    case 'y': return O_WAIT;
    case 'o': return O_TIMEOUT;
    case 'r': return O_AFTER;
    }
    return 0;
}

/* A positive integer option. */
static int parse_count(const char *name, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1) {
        out_err("shipwatch: --%s: expected a positive integer, got '%s'\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(const struct cmd *c, int argc, char **argv, struct opts *o)
{
    unsigned allowed = c->opts | O_JSON | O_SOCKET | O_HELP | O_WIDE;
    /* 0, not 1: glibc then forgets the "+" mode main's scan used. */
    optind = 0;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            const char *bad = argv[optind - 1];
            out_err("shipwatch %s: %s %s\n", c->name, bad,
                    ch == ':' ? "needs a value" : "is not an option");
            return -1;
        }
        unsigned bit = opt_bit(ch);
        if (!(allowed & bit)) {
            out_err("shipwatch %s: %s is not an option of this command\n", c->name,
                    argv[optind - 1]);
            return -1;
        }
        o->set |= bit;
        switch (ch) {
        case 'j': o->json = true; break;
        case 's': o->socket = optarg; break;
        case 'h': break;
        case 'a': o->app = optarg; break;
        case 'e': o->env = optarg; break;
        case 'S': o->state = optarg; break;
        case 'n':
            if (parse_count("limit", optarg, &o->limit) < 0) {
                return -1;
            }
            break;
        case 'b':
            if (parse_count("before", optarg, &o->before) < 0) {
                return -1;
            }
            break;
        case 'r':
            if (parse_count("after", optarg, &o->after) < 0) {
                return -1;
            }
            break;
        case 'w':
            if (duration_parse(optarg, &o->since_ms) < 0 || o->since_ms <= 0) {
                out_err("shipwatch: --since: expected a duration like 30m, 6h or 7d, "
                                "got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'g': o->granularity = optarg; break;
        case 'f': o->follow = true; break;
        case 'T': o->topics = optarg; break;
        case 'c': o->check = optarg; break;
        case 't': o->type = optarg; break;
        case 'V': o->version = optarg; break;
        case 'C': o->commit = optarg; break;
        case 'u': o->author = optarg; break;
        case 'x': o->status = optarg; break;
        case 'U': o->url = optarg; break;
        case 'd': o->description = optarg; break;
        case 'A': o->all = true; break;
        case 'm': o->comment = optarg; break;
        case 'v': o->severity = optarg; break;
        case 'F':
            if (duration_parse(optarg, &o->for_ms) < 0 || o->for_ms <= 0) {
                out_err("shipwatch: --for: expected a duration like 30m, 2h or 1d, "
                                "got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'N': o->until = optarg; break;
        case 'W': table_set_wide(true); break;
        case 'y': o->wait = true; break;
        case 'o':
            if (duration_parse(optarg, &o->timeout_ms) < 0 || o->timeout_ms <= 0) {
                out_err("shipwatch: --timeout: expected a duration like 90s or 10m, got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'B': o->start = optarg; break;
        }
    }
    if ((o->set & O_AFTER) && (o->set & (O_BEFORE | O_LIMIT))) {
        out_err("shipwatch %s: --after goes without --before and --limit\n", c->name);
        return -1;
    }
    if ((o->set & O_TIMEOUT) && !o->wait) {
        out_err("shipwatch %s: --timeout goes with --wait\n", c->name);
        return -1;
    }
    if ((o->set & O_TOPICS) && !o->follow) {
        out_err("shipwatch %s: --topics goes with --follow\n", c->name);
        return -1;
    }
    return 0;
}

/* The command argv names: "deploy" takes a second word. *used is how many
 * words it took. */
static const struct cmd *find_cmd(int argc, char **argv, int *used)
{
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        const char *name = cmds[i].name;
        const char *sp = strchr(name, ' ');
        if (sp == NULL) {
            if (strcmp(argv[0], name) == 0) {
                *used = 1;
                return &cmds[i];
            }
        } else if (strncmp(argv[0], name, (size_t)(sp - name)) == 0 &&
                   argv[0][sp - name] == '\0' && argc > 1 && strcmp(argv[1], sp + 1) == 0) {
            *used = 2;
            return &cmds[i];
        }
    }
    return NULL;
}

/* The code of a --json error: the daemon's answer, else the exit status's. */
static const char *error_code(int rc)
{
    static const char *const by_exit[] = {
        [CLI_EXIT_ERROR] = "error",
        [CLI_EXIT_USAGE] = "usage",
        [CLI_EXIT_UNHEALTHY] = "unhealthy",
        [CLI_EXIT_DENIED] = "denied",
    };
    if (remote_code != NULL) {
        return remote_code;
    }
    return rc > 0 && (size_t)rc < ARRAY_SIZE(by_exit) && by_exit[rc] ? by_exit[rc] : "error";
}

static int run_cmd(const char *socket, bool json, int argc, char **argv);

int cli_run(const char *socket, bool json, int argc, char **argv)
{
    /* --json anywhere: an error in the options that come before it is
     * JSON too. */
    for (int i = 0; i < argc && !json; i++) {
        json = strcmp(argv[i], "--json") == 0;
    }
    out_error_json(json);
    int rc = run_cmd(socket, json, argc, argv);
    out_error_flush(error_code(rc));
    return rc;
}

/* Find, parse and run the command. */
static int run_cmd(const char *socket, bool json, int argc, char **argv)
{
    int used = 0;
    const struct cmd *c = find_cmd(argc, argv, &used);
    if (c == NULL) {
        if (strcmp(argv[0], "deploy") == 0) {
            out_err("shipwatch: deploy: expected 'deploy record'\n");

        } else {
            out_err("shipwatch: %s is not a command (see shipwatch --help)\n", argv[0]);
        }
        return CLI_EXIT_USAGE;
    }
    /* getopt wants argv[0] to be the program: the command's last word is. */
    int sargc = argc - used + 1;
    char **sargv = argv + used - 1;
    struct ctx x;
    memset(&x, 0, sizeof(x));
    x.o.json = json;
    x.cl.fd = -1;
    if (parse_opts(c, sargc, sargv, &x.o) < 0) {
        if (!x.o.json) {
            cmd_usage(stderr, c);
        }
        return CLI_EXIT_USAGE;
    }
    if (x.o.set & O_HELP) {
        cmd_usage(stdout, c);
        return CLI_EXIT_OK;
    }
    /* getopt_long put the operands last. */
    int nargs = sargc - optind;
    if (nargs < c->min_args || nargs > c->max_args) {
        out_err("shipwatch %s: %s\n", c->name,
                nargs < c->min_args ? "missing argument" : "too many arguments");
        if (!x.o.json) {
            cmd_usage(stderr, c);
        }
        return CLI_EXIT_USAGE;
    }
    char *args[2] = {NULL, NULL};
    for (int i = 0; i < nargs; i++) {
        args[i] = sargv[optind + i];
    }
    /* --socket after the command overrides the one before it. */
    if (x.o.socket != NULL) {
        socket = x.o.socket;
    }

    char *path = cli_socket_path(socket);
    if (path == NULL) {
        return CLI_EXIT_ERROR;
    }
    x.socket = path;
    int rc = cli_connect(&x.cl, path);
    if (rc == 0) {
        rc = c->run(&x, args);
        ipc_client_close(&x.cl);
    }
    free(path);
    return rc;
}
