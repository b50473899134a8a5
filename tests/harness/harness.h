/* harness.h - what every unit test stands on: private temporary
 * directories, a loop runner with a deadline, a configuration from a
 * string, and a fake clock.
 *
 * Nothing here asserts: functions return an error or NULL and the test
 * decides. Strings returned are malloc'ed and the caller frees them; a
 * harness_clock belongs to the test that embeds it. */
#ifndef SHIPWATCH_HARNESS_H
#define SHIPWATCH_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "check.h"
#include "config.h"

/* A new empty directory under $TEST_TMPDIR (or /tmp), its name starting
 * with prefix. The caller frees the path and removes the directory with
 * harness_tmpdir_remove. NULL on failure. */
char *harness_tmpdir(const char *prefix);

/* Remove dir and everything in it. 0 or a negative errno. */
int harness_tmpdir_remove(const char *dir);

/* Write text to dir/name with mode (e.g. 0755 for a plugin). The full path,
 * which the caller frees, or NULL on failure. */
char *harness_write_file(const char *dir, const char *name, const char *text, mode_t mode);

/* Run loop until done(arg) is true or deadline_ms of loop time has passed;
 * a keep-alive timer keeps it turning when nothing else is active. True
 * when done(arg) became true. */
bool harness_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, int64_t deadline_ms);

/* Run loop for ms of loop time. */
void harness_run_for(uv_loop_t *loop, int64_t ms);

/* Close every handle still open on loop, run it until they are closed, and
 * close it. uv_loop_close's result: 0 when nothing leaked. */
int harness_loop_finish(uv_loop_t *loop);

/* A configuration loaded from yaml (config_load_buffer). NULL when it is
 * invalid; the messages are printed on stderr. Free with config_destroy. */
struct config *harness_config(const char *yaml);

/* A clock that moves only when told. clock is what a check_env points at. */
struct harness_clock {
    struct check_clock clock;
    int64_t now_ms;             /* unix milliseconds */
};

/* Start a fake clock at now_ms. */
void harness_clock_init(struct harness_clock *hc, int64_t now_ms);

/* Move a fake clock forward by ms. */
void harness_clock_advance(struct harness_clock *hc, int64_t ms);

#endif
