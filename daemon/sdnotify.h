/* sdnotify.h - systemd's notify protocol, without libsystemd.
 *
 * A message is one datagram of NAME=VALUE lines to the Unix socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * Without $NOTIFY_SOCKET every call does nothing and succeeds, so the daemon
 * runs the same under systemd, in a container or by hand.
 *
 * struct sdnotify is embedded by its caller (main.c) and lives as long as
 * the loop: sdnotify_start sends READY=1, arms a watchdog timer at half of
 * $WATCHDOG_USEC that sends WATCHDOG=1 from the loop (so a stuck loop stops
 * the pings and systemd restarts the daemon), and watches SIGTERM/SIGINT to
 * send STOPPING=1 when the daemon starts to drain. Its handles are unref'd:
 * they never keep the loop alive, and the daemon's teardown (which closes
 * every handle of the loop) closes them. */
#ifndef SHIPWATCH_SDNOTIFY_H
#define SHIPWATCH_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct sdnotify {
    uv_timer_t watchdog;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    bool stopping_sent;
};

/* Send msg (e.g. "READY=1\nSTATUS=running") to $NOTIFY_SOCKET. 0 when sent
 * or when the variable is unset; a negative errno when it names no usable
 * socket or the send fails. msg is not kept. */
int sdnotify_send(const char *msg);

/* The watchdog interval systemd asks for, in microseconds: $WATCHDOG_USEC
 * when set, positive and meant for this process ($WATCHDOG_PID unset or
 * ours); 0 otherwise. */
uint64_t sdnotify_watchdog_usec(void);

/* Tell systemd the daemon is up (READY=1), start the watchdog pings and the
 * STOPPING=1 signal watchers on loop. Failures are logged, never fatal. */
void sdnotify_start(struct sdnotify *n, uv_loop_t *loop);

#endif
