/* daemon.h - the one context every callback reaches through handle->data.
 *
 * One libuv loop owns all of this; threads (the SQLite writer) never touch
 * it. */
#ifndef SHIPWATCH_DAEMON_H
#define SHIPWATCH_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "config.h"

struct sched;
struct store;
struct curlm;
struct event;

struct daemon {
    uv_loop_t *loop;
    struct config *conf;          /* current configuration, owned */
    const char *config_path;

    struct check **checks;        /* one per conf->checks entry, same order */
    size_t nchecks;

    struct sched *sched;
    struct store *store;
    struct curlm *curlm;

    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    uv_signal_t sig_pipe;
    uv_timer_t drain_timer;       /* cancels in-flight runs at the deadline */
    uv_timer_t retention_timer;

    bool draining;
    int64_t started_ms;           /* wall clock at start */
    uint64_t reloads_total;
    uint64_t reload_failures_total;
};

/* Called by check_run_finish with a finished result: applies the state
 * machine, stores the result, emits a state event on change. */
void daemon_on_result(struct daemon *d, struct check *c, const struct result *r);

/* Emit an event: stored and, once the socket lands, sent to subscribers. */
void daemon_emit_event(struct daemon *d, const struct event *ev);

/* Find a check by name; NULL when absent. */
struct check *daemon_find_check(struct daemon *d, const char *name);

/* Wall clock in unix milliseconds. */
int64_t daemon_now_ms(void);

#endif
