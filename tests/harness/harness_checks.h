/* harness_checks.h - a checker's world without a daemon: a private loop, a
 * curl engine on it, a fake clock, and a check_env whose results are
 * collected for the test to read.
 *
 * The test owns the struct (usually on its stack or in a fixture) and the
 * checks it runs; harness_checks_finish closes the loop and everything on
 * it. Collected results are copies, valid until the struct is finished. */
#ifndef SHIPWATCH_HARNESS_CHECKS_H
#define SHIPWATCH_HARNESS_CHECKS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "harness.h"

#define HARNESS_RESULTS_MAX 64

/* One result handed to the env's on_result. */
struct harness_result {
    struct check *check;
    struct result result;
};

/* A state a checker judged without a result (env's on_verdict). */
struct harness_verdict {
    struct check *check;
    enum check_state state;
    char reason[RESULT_ERROR_MAX];
};

#define HARNESS_PING_BODY_MAX 256

/* A ping handed to env's on_ping: a copy, body cut to what fits. */
struct harness_ping {
    struct check *check;
    struct check_ping ping;             /* ping.body points at body below */
    char body[HARNESS_PING_BODY_MAX + 1];
};

struct harness_checks {
    uv_loop_t loop;
    struct curlm *curlm;
    struct hostpool *hostpool;          /* host checks' batches, as the daemon's */
    struct harness_clock clock;         /* the env's clock, a fake one */
    struct check_env env;               /* points at loop, curlm, clock */
    struct harness_result results[HARNESS_RESULTS_MAX];
    size_t nresults;                    /* results received (beyond the
                                           array's end: counted, not kept) */
    size_t ended;                       /* runs ended (their on_end) */
    const char *deploy_version;         /* the answer to [DEPLOY].version,
                                           NULL unknown */
    struct harness_verdict verdicts[HARNESS_RESULTS_MAX];
    size_t nverdicts;                   /* verdicts received; each also sets
                                           the check's state, as the daemon does */
    struct harness_ping last_ping;      /* the last ping on_ping saw */
    size_t npings;                      /* pings on_ping saw */
};

/* Start the loop, the curl engine and the clock (at now_ms) and fill env.
 * 0 or a negative errno. */
int harness_checks_init(struct harness_checks *h, int64_t now_ms);

/* Close the curl engine and the loop. uv_loop_close's result: 0 when no
 * handle leaked. */
int harness_checks_finish(struct harness_checks *h);

/* Run c once in env and wait at most deadline_ms for the run to end. Its
 * result (inside h->results), or NULL when the run did not end in time or
 * its result was dropped (a cancelled run). */
const struct result *harness_checks_run(struct harness_checks *h, struct check *c,
                                        int64_t deadline_ms);

/* Run c once for a judgement only (a heartbeat's scheduled run) and wait
 * at most deadline_ms for it to end: the number of results the run handed
 * on (0 for a judgement), or -1 when it did not end in time. */
int harness_checks_judge(struct harness_checks *h, struct check *c, int64_t deadline_ms);

/* The last verdict collected, or NULL. */
const struct harness_verdict *harness_checks_last_verdict(const struct harness_checks *h);

/* The last result collected, or NULL. */
const struct result *harness_checks_last(const struct harness_checks *h);

#define HARNESS_CHECKS_MAX 16

/* The checks of a configuration written in a test, created to be run. */
struct harness_check_set {
    struct config *conf;                /* owned */
    struct check *checks[HARNESS_CHECKS_MAX];   /* owned, conf's order */
    size_t n;
};

/* Load the YAML that the printf format fmt makes (at most 8 KiB) into s
 * (zeroed by the caller) and create its checks. 0, or -1 when it does not
 * load (the messages on stderr) or has more than HARNESS_CHECKS_MAX checks. */
__attribute__((format(printf, 2, 3))) int harness_check_set_load(struct harness_check_set *s,
                                                                 const char *fmt, ...);

/* Destroy the checks, then the configuration; s is zeroed. */
void harness_check_set_finish(struct harness_check_set *s);

/* The check named name in s, or NULL. */
struct check *harness_check_set_find(const struct harness_check_set *s, const char *name);

#endif
