/* harness_daemon.h - the smallest daemon context a domain module (alert.c,
 * verify.c, deploy.c) runs in, without a socket, an HTTP server, a
 * scheduler or a cluster: a private loop, a configuration from a YAML
 * string with its checks indexed by name, a real SQLite store in a private
 * directory, a curl engine, and a fake clock as d.clock.
 *
 * The test owns the struct (embedded in its fixture; it must not move
 * once initialized) and drives the module's public API on &h->d, moving
 * h->now_ms itself. It starts and finishes the module it tests; then
 * harness_daemon_finish closes the store (flushing it), the curl engine
 * and the loop, frees the checks and the configuration, and removes the
 * directory. The configuration's storage section is replaced: the store
 * is always SQLite in the private directory. */
#ifndef SHIPWATCH_HARNESS_DAEMON_H
#define SHIPWATCH_HARNESS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "clock.h"
#include "daemon.h"

struct harness_daemon {
    uv_loop_t loop;
    struct daemon d;            /* loop, conf, checks, by_name, store,
                                   curlm and clock filled; the rest zero */
    struct clock clock;         /* d.clock: reads now_ms */
    int64_t now_ms;             /* unix ms by the fake clock; the test moves it */
    char *dir;                  /* the private directory; malloc'd */
    bool loop_started;          /* uv_loop_init succeeded */
};

/* Load yaml, create its checks, open the store, start the loop and the
 * curl engine, set the clock to now_ms. 0, or a negative errno (an invalid
 * configuration's messages are printed); call harness_daemon_finish
 * either way. */
int harness_daemon_init(struct harness_daemon *h, const char *yaml, int64_t now_ms);

/* The check named name, or NULL. */
struct check *harness_daemon_check(struct harness_daemon *h, const char *name);

/* Tear everything down (see above). uv_loop_close's result: 0 when no
 * handle was left open. */
int harness_daemon_finish(struct harness_daemon *h);

#endif
