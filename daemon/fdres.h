/* fdres.h - the descriptor reserve kept for checks.
 *
 * Checks (tcp connects, http transfers, exec pipes) need descriptors of
 * their own; clients of the socket and of the HTTP server must not take the
 * last of them, or checks fail with EMFILE and a local shortage reads as an
 * outage. fdres_local_reason tells such a failure from the target's.
 * Whoever accepts a client asks fdres_low with the accepted
 * descriptor and closes the client when it says so. No state; any thread. */
#ifndef SHIPWATCH_FDRES_H
#define SHIPWATCH_FDRES_H

#include <stdbool.h>

/* Descriptors kept for checks: FDRES_RESERVE, or a quarter of a small
 * RLIMIT_NOFILE. */
#define FDRES_RESERVE 256

/* Whether fd, just accepted, leaves fewer than the reserve below
 * RLIMIT_NOFILE. Descriptors are allocated lowest first, so every number
 * below fd is in use. */
bool fdres_low(int fd);

/* When err (a negative errno, as libuv returns) is a shortage of this host's
 * own (EMFILE, ENFILE, ENOMEM, ENOBUFS), the reason to record with an
 * `unknown` outcome ("local: too many open files"); NULL when it is not:
 * a local shortage never reads as the target down. */
const char *fdres_local_reason(int err);

/* Whether a descriptor can be had right now: 0, or the negative errno of
 * the attempt (-EMFILE...). For a library that failed without saying why
 * (libcurl cannot always report the errno of a socket it could not open). */
int fdres_probe(void);

#endif
