/* check.h - a check at run time, one run of it, and the check-type vtable.
 *
 * The daemon owns struct check objects; the scheduler runs them. A run is
 * started with check_run_start() in a struct check_env: the loop, the curl
 * engine, the clock and the callback that receives results, all handed in,
 * so a checker never reaches the daemon and a test can run one on its own
 * loop with a fake clock. The checker does its work on env->loop and calls
 * check_run_finish() exactly once, always from a loop callback (never from
 * inside start). check_run_finish() evaluates the conditions, settles the
 * outcome, hands the result to env->on_result (unless the run set
 * no_result: a judgement, not a run) and then tells whoever
 * started the run (on_end) that it is over.
 *
 * A checker copies what it needs from check->conf in start(): a reload may
 * swap the conf pointer (same fingerprint) or free it (removed check) while
 * the run is in flight.
 *
 * Ownership: the env and the clock belong to their creator and must outlive
 * every run and scheduler pointing at them; a run belongs to the checker
 * until check_run_finish() frees it. */
#ifndef SHIPWATCH_CHECK_H
#define SHIPWATCH_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cond.h"
#include "config.h"
#include "perfdata.h"

struct daemon;
struct check;
struct alert_check;
struct curlm;
struct check_ping;
struct conf_rows;
struct proctab;
struct pinger;

/* A check's state, and also a single result's outcome. The numeric values
 * are stored in the database and exported as shipwatch_check_state. */
enum check_state {
    STATE_UNKNOWN = 0,
    STATE_UP = 1,
    STATE_DEGRADED = 2,
    STATE_DOWN = 3,
};

const char *check_state_name(enum check_state s);   /* "up", "down", ... */
int check_state_parse(const char *s, enum check_state *out);

/* Bounds of the duration histogram exported as
 * shipwatch_check_duration_seconds (microseconds, ascending). */
#define CHECK_DURATION_BUCKETS 10
extern const int64_t check_duration_bounds_us[CHECK_DURATION_BUCKETS];

#define RESULT_ERROR_MAX 256
#define RESULT_CONDITION_MAX 256
#define RESULT_MESSAGE_MAX 256
#define RESULT_LONG_OUTPUT_MAX 1024
#define RESULT_PERFDATA_MAX 512         /* normalized perfdata text, with the NUL */
#define RESULT_CONDS_MAX 16             /* conditions whose verdicts are recorded */
#define RESULT_IP_MAX 64                /* an address as text, with the NUL */

/* One run of a check: a small value type, copied freely (no pointers;
 * about 1.3 KB: locations and the store's queue embed it, a check keeps a
 * struct last_result instead). The long output is not part of it: the
 * check keeps its last one. */
struct result {
    int64_t started_ms;                 /* wall clock, unix ms */
    int64_t duration_us;
    enum check_state outcome;
    int status;                         /* HTTP status or exec exit code; -1 none */
    int64_t cert_expiry_s;              /* unix seconds of the peer certificate's
                                           expiry; 0 unknown */
    char error[RESULT_ERROR_MAX];       /* why the run failed: a non-OK plugin's
                                           message, a timeout, a local error;
                                           "" for a good run */
    char failed_condition[RESULT_CONDITION_MAX]; /* "[STATUS] (503) == 200"; "" none */
    char message[RESULT_MESSAGE_MAX];   /* exec: the plugin's first line without
                                           its perfdata, whatever the outcome
                                           (stderr's when stdout was empty); "" none */
    char perfdata[RESULT_PERFDATA_MAX]; /* exec: the plugin's perfdata, valid
                                           items only, normalized by
                                           perfdata_format (whole items, at most
                                           PERFDATA_MAX); "" none */
    uint8_t nconds;                     /* conditions evaluated, at most
                                           RESULT_CONDS_MAX recorded */
    uint16_t conds_failed;              /* bit i: condition i failed */
};

/* A check's last result as it keeps it until the next: the numbers
 * inline, the four texts in one block sized to what the run said (most
 * runs say nothing: no block). A zeroed one is valid and empty. */
struct last_result {
    int64_t started_ms;                 /* 0 when none */
    int64_t duration_us;
    enum check_state outcome;
    int status;
    int64_t cert_expiry_s;
    uint8_t nconds;
    uint16_t conds_failed;
    uint16_t at[4];                     /* where each text starts in text */
    uint16_t size;                      /* bytes text holds */
    char *text;                         /* owned; NULL: every text "" */
};

enum result_text {
    RESULT_TEXT_ERROR,
    RESULT_TEXT_CONDITION,
    RESULT_TEXT_MESSAGE,
    RESULT_TEXT_PERFDATA,
};

/* Keep r in l. Without memory for its texts the numbers are kept and the
 * texts read "". */
void last_result_set(struct last_result *l, const struct result *r);
const char *last_result_text(const struct last_result *l, enum result_text which);
/* Hand src's result to dst (whose own is freed); src is left empty. */
void last_result_move(struct last_result *dst, struct last_result *src);
void last_result_free(struct last_result *l);

/* A wall clock handed in: the daemon's reads the real time, a test's is
 * moved by hand. The same shape as common/'s struct clock. */
struct check_clock {
    int64_t (*now_ms)(const struct check_clock *c);  /* unix ms now, by this clock */
    void *ctx;                          /* the source's own data; not owned */
};

/* Everything a run needs from outside, handed in by its creator. */
struct check_env {
    uv_loop_t *loop;                    /* where checkers do their work */
    struct curlm *curlm;                /* the HTTP engine; NULL when no http
                                           check runs in this env */
    const struct check_clock *clock;    /* results' and pings' timestamps */
    /* A finished run's result; not called for a cancelled run or a check a
     * reload removed. r is valid for the call only. */
    void (*on_result)(void *arg, struct check *c, const struct result *r);
    /* A state a checker judged without a run of its own (a heartbeat whose
     * ping is late or whose started run is overdue): a state change with
     * its reason, never a result, so nothing is counted or stored as one.
     * reason is valid for the call only. May be NULL. */
    void (*on_verdict)(void *arg, struct check *c, enum check_state state, const char *reason);
    /* A heartbeat ping worth keeping beyond its result: a log ping, or one
     * with a body (already cut to the check's body limit). p is valid for
     * the call only. May be NULL. */
    void (*on_ping)(void *arg, struct check *c, const struct check_ping *p);
    /* [DEPLOY].version: the version last deployed with success to app/env
     * (either may be NULL), or NULL. The callback may be NULL. */
    const char *(*deploy_version)(void *arg, const char *app, const char *env);
    void *arg;                          /* passed to the callbacks */
    const char *proc_root;              /* where host checks read /proc; NULL
                                           "/proc" (tests hand in a fake tree,
                                           which must outlive every read, one
                                           stuck in a thread too) */
    struct proctab *proctab;            /* the process table process checks
                                           share (proctab.h); NULL: each
                                           reads its own */
    struct pinger *pinger;              /* the ICMP sockets icmp checks share
                                           (pinger.h); NULL: icmp checks
                                           cannot start */
    struct hostpool *hostpool;          /* where host checks' blocking reads
                                           gather (host.h); NULL: each read
                                           goes to the thread pool alone */
};

/* The max-body row of the types that keep a body for [BODY] (http, file),
 * for their conf_field tables (config_rows.h). */
#define CHECK_ROW_MAX_BODY                                                                         \
    {                                                                                              \
        .key = "max-body", .type = CONF_SIZE, .off = offsetof(struct conf_check, max_body_bytes),  \
        .min = 1, .max = CONF_MIB(16), .def = CONFIG_DEFAULT_MAX_BODY_BYTES                        \
    }

/* Whether any of cc's conditions reads [BODY] (in any case): a checker
 * that need not keep a body when none does. */
bool check_reads_body(const struct conf_check *cc);

/* The env's clock, unix milliseconds. */
int64_t check_env_now_ms(const struct check_env *env);

/* Called once a run of c has ended (after env->on_result, if that was
 * called); c->run is NULL again. A check whose removed flag is set may be
 * destroyed here. */
typedef void (*check_run_end_fn)(void *arg, struct check *c);

/* One run in flight. The checker reads the check's config, fills facts and
 * result.{status,error,cert_expiry_s}, and sets outcome when it decides it
 * itself (exec plugins, timeouts, connection errors); otherwise leaves it
 * STATE_UP and the conditions decide. */
struct check_run {
    struct check *check;
    const struct check_env *env;        /* the loop, curl, clock, result sink */
    check_run_end_fn on_end;            /* the starter's, may be NULL */
    void *on_end_arg;
    uint64_t started_ns;                /* uv_hrtime() at start */
    struct result result;
    struct cond_facts facts;
    char ip[RESULT_IP_MAX];             /* the address connected to; facts.ip
                                           points here once a checker sets it */
    char long_output[RESULT_LONG_OUTPUT_MAX]; /* exec: the lines after the first,
                                           perfdata cut, capped; "" none. Moved
                                           to the check's long_output at the end */
    char *body;                         /* captured body/output, owned by the run */
    size_t body_len;
    void *priv;                         /* the checker's own state */
    bool cancelled;                     /* set by the scheduler before it calls
                                           type->cancel; the result is dropped */
    bool no_result;                     /* the run judged without a result (a
                                           heartbeat's lateness): on_result is
                                           not called */
};

struct check_type {
    const char *name;
    enum check_kind kind;
    /* Begin the run. 0, or a negative errno when it could not start (the
     * caller then records an unknown result with that error). */
    int (*start)(struct check_run *run);
    /* Abort a run in flight; the checker must still call check_run_finish()
     * from a later loop callback. May be NULL for types that cannot hang. */
    void (*cancel)(struct check_run *run);
    /* What a check of this type watches, for display, secrets left out;
     * always NUL-terminates out (len > 0). */
    void (*describe)(const struct conf_check *cc, char *out, size_t len);
    /* The configuration (config.c reads it through check_type_for, so a
     * new type is its file and its row in check.c's table): */
    const struct conf_rows *rows;       /* the keys only this type takes */
    /* What is wrong with cc beyond what its rows check (keys that exclude
     * each other), reported at the check; NULL when nothing. May be NULL. */
    const char *(*invalid)(const struct conf_check *cc);
    bool passive;                       /* pinged, not run: no timeout or
                                           conditions, one location,
                                           thresholds of 1 */
    int64_t interval_ms;                /* default interval; 0: defaults.interval */
    int64_t timeout_ms;                 /* default timeout; 0: defaults.timeout */
    /* The placeholders this type gives besides the common ones, in the
     * order of facts.vars; a run sets their values, and those of a run
     * with no perfdata of its own become its perfdata (labels in lower
     * case), so they reach history and /metrics. At most COND_VARS_MAX. */
    const struct cond_var *vars;
    size_t nvars;
    const char *default_condition;      /* a check without conditions gets
                                           this one; NULL none */
    /* Called by check_destroy before c is freed: drop what points at it
     * (a read still in a thread). May be NULL. */
    void (*forget)(struct check *c);
};

#define CHECK_TYPE_DECLARE(name, kind) extern const struct check_type check_##name##_type;
CHECK_TYPES(CHECK_TYPE_DECLARE)
#undef CHECK_TYPE_DECLARE

/* The type for a kind. */
const struct check_type *check_type_for(enum check_kind kind);

/* What cc watches, for display (a URL without its user:password@, host:port,
 * the command line, a heartbeat's period); "" for an unknown kind. len > 0. */
void check_describe(const struct conf_check *cc, char *out, size_t len);

/* check_describe for a client that is not an admin: a query string or a
 * fragment (?api_key=...) shows as ?*** or #***, an exec command as its
 * argv[0] followed by *** when it has arguments. len > 0. */
void check_describe_masked(const struct conf_check *cc, char *out, size_t len);

/* One location's view of a "locations: all" check: that daemon's own
 * state machine over its own results. */
#define CHECK_LOCATIONS_MAX 64
#define CHECK_LOCATION_NAME_MAX 256
struct check_location {
    char name[CHECK_LOCATION_NAME_MAX]; /* the daemon's node name */
    enum check_state state;             /* that location's settled state */
    int fail_streak;
    int ok_streak;
    int64_t state_since_ms;
    struct result last;                 /* its last result */
    int64_t heard_ms;                   /* loop time (uv_now) it was last heard */
};

/* Heartbeats, as Healthchecks.io's ping API has them: a run id is a UUID
 * in its canonical text (36 characters); the first bytes of a ping's body
 * are kept; a start and its finish more than 72 hours apart are not paired;
 * a started run goes overdue after max-runtime (when not set: grace, or the
 * period when there is no grace). */
#define CHECK_HB_RID_LEN 36
#define CHECK_HB_RUNS_MAX 16
#define CHECK_HB_BODY_MAX (10 * 1024)   /* default of the body kept
                                           (daemon.ping-body-max) */
#define CHECK_HB_PAIR_MAX_MS (72LL * 3600 * 1000)
#define CHECK_HB_TOKEN_MAX 128

/* One started heartbeat run, waiting for its finish. */
struct check_hb_run {
    char rid[CHECK_HB_RID_LEN + 1];     /* lower case; "" for a start without one */
    int64_t started_ms;                 /* by the env's clock */
    bool overdue;                       /* reported overdue already */
};

/* What a heartbeat ping says: GET|POST /hb/TOKEN[/KIND][?rid=UUID]. */
enum check_ping_kind {
    CHECK_PING_SUCCESS,                 /* /hb/TOKEN, or exit status 0 */
    CHECK_PING_START,                   /* /hb/TOKEN/start */
    CHECK_PING_FAIL,                    /* /hb/TOKEN/fail, or exit status 1-255 */
    CHECK_PING_LOG,                     /* /hb/TOKEN/log: recorded, changes nothing */
};

/* One ping, as the HTTP side read it. */
struct check_ping {
    char token[CHECK_HB_TOKEN_MAX + 1];
    enum check_ping_kind kind;
    int exit_status;                    /* 0-255 from /hb/TOKEN/N; -1 none */
    char rid[CHECK_HB_RID_LEN + 1];     /* run id, lower case; "" none */
    const char *body;                   /* not owned; NULL or body_len bytes */
    size_t body_len;                    /* bytes kept of the body */
    size_t body_total;                  /* bytes the client sent */
    int64_t duration_us;                /* set by check_heartbeat_ping: the run's
                                           duration when paired; -1 none */
};

/* Where a log check has read its file to (check_log.c). It is stored with
 * the check's state, in the transaction of the result that reached it, so
 * a restart neither reads a line again nor skips one. */
struct check_log_position {
    uint64_t dev;                       /* the file read, by device and inode; */
    uint64_t ino;                       /* both 0: it was not there */
    int64_t offset;                     /* bytes of it read: the next line starts here */
    uint64_t head;                      /* FNV-1a of its first bytes (up to 64 and
                                           the offset): a file rewritten from its
                                           start no longer has them */
    bool skipping;                      /* inside a line longer than the cap: the
                                           rest of it is not a line of its own */
};

/* A configured check and its live state. */
struct check {
    const struct conf_check *conf;      /* owned by the daemon's config */
    const struct check_type *type;
    struct daemon *daemon;              /* the owner, set by the daemon for the
                                           domain modules; checkers, check.c and
                                           the scheduler never read it */

    enum check_state state;             /* settled state */
    int fail_streak;                    /* consecutive failed results */
    int ok_streak;                      /* consecutive good results */
    bool routine;                       /* the last result changed nothing the
                                           store cannot rebuild from results
                                           (state_apply) */
    struct last_result last;            /* last result; started_ms 0 when none */
    char *long_output;                  /* the last run's long output (owned, at
                                           most RESULT_LONG_OUTPUT_MAX bytes with
                                           the NUL), replaced by each run that
                                           hands a result on; NULL none */
    int64_t state_since_ms;             /* when state last changed */
    char *verdict;                      /* why the state was last judged without
                                           a result (a heartbeat's late ping or
                                           overdue run); NULL once a result came
                                           (check_set_verdict) */
    int64_t last_ping_ms;               /* heartbeat: last success or failure
                                           ping; 0 never */
    int64_t heartbeat_since_ms;         /* heartbeat: when watching began */
    struct check_hb_run *hb_runs;       /* heartbeat: runs started and not
                                           finished yet, oldest first, in
                                           CHECK_HB_RUNS_MAX slots made at the
                                           first start ping; NULL before (most
                                           checks never get one) */
    size_t nhb_runs;

    bool paused;
    bool removed;                       /* dropped by a reload while its run was
                                           in flight: freed when the run ends;
                                           conf must not be read any more */
    struct check_run *run;              /* run in flight, or NULL */
    struct check_log_position log;      /* log: where it has read to */
    bool log_known;                     /* log: set by a run or restored from the
                                           store; until then a run starts at
                                           the end of the file */
    void *stuck;                        /* host types: the read of a run that timed
                                           out, still in a thread; no other starts
                                           until it returns (host.c) */
    void *memory;                       /* what the type keeps across runs (a
                                           CPU sample, a log's position): one
                                           block, freed by check_destroy after
                                           the type's forget, which frees what
                                           it points to (a dns channel); NULL
                                           none yet */
    struct alert_check *alerting;       /* alert.c's per-check state, or NULL */

    /* counters, exported as metrics */
    uint64_t runs_total;
    uint64_t skipped_total;             /* ticks skipped: still running */
    uint64_t results_total[4];          /* by outcome */
    uint64_t duration_buckets[CHECK_DURATION_BUCKETS];  /* results at or under each
                                           bound of check_duration_bounds_us */
    uint64_t duration_count;
    int64_t duration_sum_us;

    /* scheduler bookkeeping, owned by sched.c */
    int64_t next_due_ms;                /* loop time (uv_now) of the next run */
    int64_t offset_ms;                  /* stable offset within the interval */
    int64_t interval_override_ms;       /* post-deploy cadence; 0 none */
    size_t heap_index;
    bool queued;                        /* waiting for a concurrency slot */
    int64_t queue_due_ms;               /* due time of the queued tick */
    struct check *queue_next;
    size_t running_index;               /* position in the running set */

    /* cluster bookkeeping (cluster.c, sched.c, daemon.c) */
    bool lease_pending;                 /* this tick's lease was asked for */
    bool lease_held;                    /* this daemon holds the check's lease */
    bool lease_defer;                   /* last ask deferred to the preferred node:
                                           the next one takes a free lease */
    int64_t lease_keep_until_ms;        /* loop time before which a lease taken
                                           over from a silent preferred node is
                                           not yielded back */
    uint64_t lease_seq;                 /* pairs a lease reply with its request */
    int64_t lease_due_ms;               /* due time of the tick that asked */
    int64_t lease_until_ms;             /* loop time the held lease ends */
    uint64_t skipped_not_owner_total;   /* ticks skipped: another daemon holds it */
    int64_t peer_ms;                    /* loop time of the last peer result applied */
    int64_t unrun_since_ms;             /* loop time of the first tick left to
                                           another daemon since the last result
                                           seen; 0 none */
    const char *last_node;              /* who ran `last` (with Redis), one of
                                           the daemon's node names
                                           (daemon_node_name); NULL unknown */
    struct check_location *locations;   /* locations: all: each one's latest view,
                                           this daemon's own included; owned */
    size_t nlocations;
};

/* Create a check for conf (which the caller keeps owning), state unknown.
 * NULL on allocation failure. */
struct check *check_create(const struct conf_check *conf);

/* Free a check that has no run in flight. NULL is a no-op. */
void check_destroy(struct check *c);

/* Set c->verdict to a copy of why (at most RESULT_ERROR_MAX - 1 bytes), or
 * clear it with NULL. Out of memory leaves none. */
void check_set_verdict(struct check *c, const char *why);

/* Start a run of c (which has none in flight) in env: c->run is set and
 * type->start called. When start fails the run ends at once with an unknown
 * result, on_result and on_end included, before this returns. on_end (may
 * be NULL) is called with on_end_arg once the run has ended. 0 when a run
 * was made; -ENOMEM when not (then nothing was called). */
int check_run_start(struct check *c, const struct check_env *env, check_run_end_fn on_end,
                    void *on_end_arg);

/* Called by a checker exactly once per run, from a loop callback. Computes
 * duration, evaluates every condition and records each verdict (they
 * decide the outcome of a run left STATE_UP or whose connection failed;
 * another outcome the checker set stands), keeps the run's long output on
 * the check, passes the result to env->on_result, then calls on_end. The
 * run is freed. */
void check_run_finish(struct check_run *run);

/* The heartbeat check among checks[0..n) whose token is token, or NULL.
 * The comparison takes the same time for every check. */
struct check *check_heartbeat_find(struct check *const *checks, size_t n, const char *token);

/* Parse a ping's path after /hb/ ("TOKEN", "TOKEN/start", "TOKEN/fail",
 * "TOKEN/log", "TOKEN/0".."TOKEN/255", each with an optional trailing
 * slash) and its query string (rid=UUID; other parameters are ignored)
 * into *out, body unset. 0; -ENOENT when the path is no ping URL (404);
 * -EINVAL for an exit status over 255 or a rid that is no UUID (400), with
 * the reason in why (len > 0). */
int check_ping_parse(const char *path, const char *query, struct check_ping *out, char *why,
                     size_t len);

/* Record ping p on heartbeat check c (the /hb route and tests call it),
 * stamped with env's clock: a success or a failure is a result handed to
 * env->on_result at once, with its run's duration when a start is paired
 * with it (by rid); a start opens a run; a log changes nothing. A log ping,
 * or one with a body, goes to env->on_ping as well. p->duration_us is set.
 * 0, or -EINVAL for an unknown kind. */
int check_heartbeat_ping(const struct check_env *env, struct check *c, struct check_ping *p);

#endif
