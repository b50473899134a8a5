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
#include <unistd.h>

#include "duration.h"
#include "ipc_client.h"
#include "out.h"

#define CALL_TIMEOUT_MS 30000
#define CLI_SYSTEM_SOCKET "/run/shipwatch/shipwatch.sock"
#define HISTORY_DEFAULT_SINCE_MS (60LL * 60 * 1000)

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
};

struct opts {
    unsigned set;
    bool json;
    bool follow;
    const char *app, *env, *state, *check, *type, *granularity, *topics;
    const char *version, *commit, *author, *status, *url, *description;
    const char *socket;
    int64_t limit, since_ms, before;
};

struct ctx {
    struct ipc_client cl;
    const char *socket;
    struct opts o;
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

/* Report a failed call and return the exit code. */
static int call_failed(struct ctx *x, const char *what, int rc)
{
    fprintf(stderr, "shipwatch: %s: %s\n", what, x->cl.errmsg);
    return rc == IPC_CALL_REMOTE && x->cl.errcode == IPC_E_DENIED ? CLI_EXIT_DENIED
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

static int cmd_status(struct ctx *x, char **args)
{
    struct ipc_status s = {0};
    int rc = call(x, IPC_M_STATUS_GET, NULL, &s, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_status_type, &s), false);
        ipc_type_free(&ipc_status_type, &s);
        return 0;
    }
    char up[32];
    out_span_us((s.now_ms - s.started_ms) * 1000, up, sizeof(up));
    printf("shipwatchd %s, pid %lld, up %s%s\n", s.version ? s.version : "?", (long long)s.pid,
           up, s.draining ? ", shutting down" : "");
    printf("store %s, %lld writes queued, %lld write errors\n", s.store ? s.store : "?",
           (long long)s.store_queue, (long long)s.store_write_errors);
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
        table_free(&t);
    }
    ipc_type_free(&ipc_status_type, &s);
    return 0;
}

/* --- checks --- */

static void print_check_detail(const struct ipc_check *c)
{
    char t1[32], t2[32], span[32], iv[32], to[32];
    int64_t now = out_now_ms();
    printf("name:       %s\n", c->name);
    printf("app/env:    %s/%s\n", c->app ? c->app : "-", c->env ? c->env : "-");
    printf("type:       %s %s\n", c->type ? c->type : "?", c->target ? c->target : "");
    printf("state:      %s%s since %s (%s)\n", c->state ? c->state : "?",
           c->paused ? ", paused" : "", out_time(c->state_since_ms, t1, sizeof(t1)),
           out_ago(c->state_since_ms, now, t2, sizeof(t2)));
    printf("every:      %s, timeout %s%s\n", duration_format(c->interval_ms, iv, sizeof(iv)),
           duration_format(c->timeout_ms, to, sizeof(to)), c->running ? ", running now" : "");
    printf("streaks:    %lld failed, %lld ok; %lld runs, %lld skipped\n",
           (long long)c->fail_streak, (long long)c->ok_streak, (long long)c->runs_total,
           (long long)c->skipped_total);
    if (c->last_ms > 0) {
        printf("last:       %s at %s in %s", c->last_outcome ? c->last_outcome : "?",
               out_time(c->last_ms, t1, sizeof(t1)),
               out_span_us(c->last_duration_us, span, sizeof(span)));
        if (c->last_status >= 0) {
            printf(", status %lld", (long long)c->last_status);
        }
        putchar('\n');
    } else {
        printf("last:       never ran\n");
    }
    if (c->last_condition) {
        printf("failed:     %s\n", c->last_condition);
    }
    if (c->last_error) {
        printf("error:      %s\n", c->last_error);
    }
}

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
            print_check_detail(&c);
        }
        ipc_type_free(&ipc_check_type, &c);
        return 0;
    }
    struct ipc_checks_filter f = {
        .app = (char *)x->o.app, .env = (char *)x->o.env, .state = (char *)x->o.state};
    struct ipc_checks r = {0};
    if ((rc = call(x, IPC_M_CHECKS_LIST, &f, &r, CALL_TIMEOUT_MS)) != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_checks_type, &r), false);
        ipc_type_free(&ipc_checks_type, &r);
        return 0;
    }
    struct table t;
    table_init(&t, 8);
    table_row(&t, "NAME", "APP", "ENV", "TYPE", "STATE", "LAST", "TOOK", "PROBLEM");
    int64_t now = out_now_ms();
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
    table_free(&t);
    ipc_type_free(&ipc_checks_type, &r);
    return 0;
}

/* --- history --- */

static int cmd_history(struct ctx *x, char **args)
{
    int64_t now = out_now_ms();
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
        ipc_type_free(&ipc_history_type, &h);
        return 0;
    }
    bool raw = h.granularity != NULL && strcmp(h.granularity, "raw") == 0;
    struct table t;
    if (raw) {
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
                      r->failed_condition ? r->failed_condition : r->error);
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
    table_free(&t);
    ipc_type_free(&ipc_history_type, &h);
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
    ipc_type_free(&ipc_run_type, &r);
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
    ipc_type_free(&ipc_paused_type, &r);
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
        ipc_type_free(&ipc_deploys_type, &r);
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
    table_free(&t);
    ipc_type_free(&ipc_deploys_type, &r);
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

static int cmd_deploy_record(struct ctx *x, char **args)
{
    const char *missing = x->o.app == NULL       ? "--app"
                          : x->o.env == NULL     ? "--env"
                          : x->o.version == NULL ? "--version"
                                                 : NULL;
    if (missing != NULL) {
        fprintf(stderr, "shipwatch deploy record: %s is required\n", missing);
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
    struct ipc_deploy r = {0};
    int rc = call(x, IPC_M_DEPLOYS_RECORD, &p, &r, CALL_TIMEOUT_MS);
    if (rc != 0) {
        return rc;
    }
    if (x->o.json) {
        out_json_print(out_json(&ipc_deploy_type, &r), false);
    } else {
        printf("deploy %lld recorded: %s/%s %s (%s)\n", (long long)r.id, r.app, r.env, r.version,
               r.status ? r.status : "?");
    }
    ipc_type_free(&ipc_deploy_type, &r);
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
    table_free(&t);
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
        if (ipc_topic_parse(tok) == 0) {
            fprintf(stderr,
                    "shipwatch events: %s is not a topic (results, states, deploys, alerts, "
                    "log)\n",
                    tok);
            free(copy);
            ipc_type_free(&ipc_topics_type, out);
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
    if (parse_topics(x->o.topics != NULL ? x->o.topics : "states,deploys,alerts", &want) < 0) {
        return CLI_EXIT_USAGE;
    }
    struct ipc_topics got = {0};
    int rc = call(x, IPC_M_EVENTS_SUBSCRIBE, &want, &got, CALL_TIMEOUT_MS);
    ipc_type_free(&ipc_topics_type, &want);
    ipc_type_free(&ipc_topics_type, &got);
    return rc;
}

/* Print notifications until interrupted; events up to after_id were listed. */
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
            fprintf(stderr, "shipwatch: %s\n", x->cl.errmsg);
            return CLI_EXIT_ERROR;
        }
        bool matches = (x->o.app == NULL || (n.app && strcmp(n.app, x->o.app) == 0)) &&
                       (x->o.check == NULL || (n.check && strcmp(n.check, x->o.check) == 0)) &&
                       (x->o.type == NULL || (n.type && strcmp(n.type, x->o.type) == 0));
        /* Events the listing printed already may come again: the
         * subscription started before the listing was taken. */
        if (matches && (n.id == 0 || n.id > after_id)) {
            print_notice(&n, x->o.json);
        }
        ipc_type_free(&ipc_notice_type, &n);
    }
    return CLI_EXIT_OK;
}

static int cmd_events(struct ctx *x, char **args)
{
    int rc;
    /* Subscribe before listing, so nothing falls between the two; what
     * comes twice is dropped by id. */
    if (x->o.follow && (rc = subscribe(x)) != 0) {
        return rc;
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
    if (x->o.json && x->o.follow) {
        /* One object a line, oldest first, then the stream in the same form. */
        for (size_t i = r.nevents; i-- > 0;) {
            out_json_print(out_json(&ipc_event_type, &r.events[i]), true);
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
        table_free(&t);
    }
    ipc_type_free(&ipc_events_type, &r);
    fflush(stdout);
    return x->o.follow ? follow(x, last_id) : CLI_EXIT_OK;
}

/* --- reload --- */

static int cmd_reload(struct ctx *x, char **args)
{
    struct ipc_reload r = {0};
    int rc = ipc_client_call(&x->cl, IPC_M_RELOAD, NULL, &r, CALL_TIMEOUT_MS);
    if (rc == IPC_CALL_REMOTE && x->cl.errcode == IPC_E_INVALID_CONFIG) {
        fprintf(stderr, "shipwatch: the configuration on disk is invalid; the daemon keeps "
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
    {"history", "CHECK [--since DURATION] [--limit N] [--granularity raw|minute|hour|auto]",
     O_SINCE | O_LIMIT | O_GRANULARITY, 1, 1, cmd_history, "a check's past results"},
    {"run", "CHECK", 0, 1, 1, cmd_run, "run a check now and wait for its result"},
    {"pause", "CHECK", 0, 1, 1, cmd_pause, "stop running a check until resumed"},
    {"resume", "CHECK", 0, 1, 1, cmd_resume, "run a paused check again"},
    {"deploys", "[--app A] [--env E] [--limit N] [--before ID]",
     O_APP | O_ENV | O_LIMIT | O_BEFORE, 0, 0, cmd_deploys, "recorded deploys, newest first"},
    {"deploy record",
     "--app A --env E --version V [--commit C] [--author U] [--status S] [--url U] "
     "[--description D]",
     O_APP | O_ENV | O_VERSION | O_COMMIT | O_AUTHOR | O_STATUS | O_URL | O_DESCRIPTION, 0, 0,
     cmd_deploy_record, "record a deploy"},
    {"events",
     "[--app A] [--check C] [--type T] [--limit N] [--before ID] [--follow [--topics LIST]]",
     O_APP | O_CHECK | O_TYPE | O_LIMIT | O_BEFORE | O_FOLLOW | O_TOPICS, 0, 0, cmd_events,
     "the event log; --follow streams it"},
    {"reload", "", 0, 0, 0, cmd_reload, "reload the daemon's configuration"},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

void cli_usage(FILE *f)
{
    fprintf(f, "usage: shipwatch [--socket PATH] [--json] COMMAND [ARGS]\n"
               "       shipwatch --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < NCMDS; i++) {
        fprintf(f, "  %-15s %s\n", cmds[i].name, cmds[i].help);
    }
    fprintf(f, "\nEvery command takes --json (one JSON document; one object a line with\n"
               "events --follow) and --socket PATH (default: $SHIPWATCH_SOCKET, or the\n"
               "daemon's default socket). `shipwatch COMMAND --help` shows its options.\n"
               "Exit status: 0 ok, 1 error, 2 usage, 3 `run` found the check not up,\n"
               "4 not allowed (not an admin).\n");
}

static void cmd_usage(FILE *f, const struct cmd *c)
{
    fprintf(f, "usage: shipwatch %s %s%s[--json] [--socket PATH]\n%s\n", c->name, c->usage,
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
        fprintf(stderr, "shipwatch: --%s: expected a positive integer, got '%s'\n", name, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_opts(const struct cmd *c, int argc, char **argv, struct opts *o)
{
    unsigned allowed = c->opts | O_JSON | O_SOCKET | O_HELP;
    /* 0, not 1: glibc then forgets the "+" mode main's scan used. */
    optind = 0;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch == '?' || ch == ':') {
            const char *bad = argv[optind - 1];
            fprintf(stderr, "shipwatch %s: %s %s\n", c->name, bad,
                    ch == ':' ? "needs a value" : "is not an option");
            return -1;
        }
        unsigned bit = opt_bit(ch);
        if (!(allowed & bit)) {
            fprintf(stderr, "shipwatch %s: %s is not an option of this command\n", c->name,
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
        case 'w':
            if (duration_parse(optarg, &o->since_ms) < 0 || o->since_ms <= 0) {
                fprintf(stderr, "shipwatch: --since: expected a duration like 30m, 6h or 7d, "
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
        }
    }
    if ((o->set & O_TOPICS) && !o->follow) {
        fprintf(stderr, "shipwatch %s: --topics goes with --follow\n", c->name);
        return -1;
    }
    return 0;
}

/* The command argv names: "deploy" takes a second word. *used is how many
 * words it took. */
static const struct cmd *find_cmd(int argc, char **argv, int *used)
{
    for (size_t i = 0; i < NCMDS; i++) {
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

int cli_run(const char *socket, bool json, int argc, char **argv)
{
    int used = 0;
    const struct cmd *c = find_cmd(argc, argv, &used);
    if (c == NULL) {
        if (strcmp(argv[0], "deploy") == 0) {
            fprintf(stderr, "shipwatch: deploy: expected 'deploy record'\n");
        } else {
            fprintf(stderr, "shipwatch: %s is not a command (see shipwatch --help)\n", argv[0]);
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
        cmd_usage(stderr, c);
        return CLI_EXIT_USAGE;
    }
    if (x.o.set & O_HELP) {
        cmd_usage(stdout, c);
        return CLI_EXIT_OK;
    }
    /* getopt_long put the operands last. */
    int nargs = sargc - optind;
    if (nargs < c->min_args || nargs > c->max_args) {
        fprintf(stderr, "shipwatch %s: %s\n", c->name,
                nargs < c->min_args ? "missing argument" : "too many arguments");
        cmd_usage(stderr, c);
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
    int rc = cli_connect(&x.cl, path);
    if (rc == 0) {
        rc = c->run(&x, args);
        ipc_client_close(&x.cl);
    }
    free(path);
    return rc;
}

char *cli_socket_path(const char *given)
{
    if (given == NULL || given[0] == '\0') {
        given = getenv("SHIPWATCH_SOCKET");
    }
    char *path = given != NULL && given[0] != '\0' ? strdup(given) : ipc_default_socket_path();
    if (path == NULL) {
        fprintf(stderr, "shipwatch: out of memory\n");
        return NULL;
    }
    /* A user on a server whose daemon runs as a system service. */
    if ((given == NULL || given[0] == '\0') && access(path, F_OK) < 0 &&
        access(CLI_SYSTEM_SOCKET, F_OK) == 0) {
        free(path);
        path = strdup(CLI_SYSTEM_SOCKET);
    }
    return path;
}

int cli_connect(struct ipc_client *cl, const char *socket)
{
    int rc = ipc_client_open(cl, socket);
    if (rc == -EACCES) {
        fprintf(stderr, "shipwatch: cannot connect to %s: permission denied (the socket is for "
                        "the daemon's user and group)\n",
                socket);
        return CLI_EXIT_ERROR;
    }
    if (rc < 0) {
        fprintf(stderr, "shipwatch: cannot connect to %s: is shipwatchd running?\n", socket);
        return CLI_EXIT_ERROR;
    }
    struct ipc_hello_params hp = {.client = "shipwatch " SHIPWATCH_VERSION,
                                  .protocol = IPC_PROTOCOL};
    struct ipc_hello_result hr = {0};
    rc = ipc_client_call(cl, IPC_M_HELLO, &hp, &hr, CALL_TIMEOUT_MS);
    if (rc != 0) {
        fprintf(stderr, "shipwatch: %s: %s\n", socket, cl->errmsg);
        ipc_client_close(cl);
        return CLI_EXIT_ERROR;
    }
    if (hr.protocol != IPC_PROTOCOL) {
        fprintf(stderr, "shipwatch: the daemon speaks protocol %lld, this client %d\n",
                (long long)hr.protocol, IPC_PROTOCOL);
        ipc_type_free(&ipc_hello_result_type, &hr);
        ipc_client_close(cl);
        return CLI_EXIT_ERROR;
    }
    ipc_type_free(&ipc_hello_result_type, &hr);
    return 0;
}
