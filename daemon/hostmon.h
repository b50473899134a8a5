/* hostmon.h - the host sampler: this host's CPU per core, memory and
 * swap, load, filesystems, network rates and top processes, one sample a
 * second while somebody wants them (the socket's host topic, host.get).
 *
 * Contract. A leaf module: it is handed the loop, the /proc root, the
 * process table cache (proctab.h) and a callback; it knows nothing of the
 * socket. hostmon_hold starts the sampling at the first holder and
 * hostmon_release stops it at the last, so an idle daemon reads nothing.
 * A tick reads on libuv's thread pool (a walk of /proc, statvfs of a
 * mount that may hang): at most one read is in flight, a tick that finds
 * the last one still out is skipped, so a hung NFS mount holds one thread
 * and delays samples, never the loop. Every figure is read by the shared
 * readers (hoststat.h, proctab.h); lists are cut at IPC_HOST_*_MAX.
 *
 * The first read after a start is the baseline: shares and rates need two
 * readings, so the first sample comes HOSTMON_FIRST_MS after the start,
 * then one every HOSTMON_INTERVAL_MS.
 *
 * Ownership: the sample handed to the callback, and what hostmon_latest
 * returns, belong to the sampler and stay valid until its next sample or
 * hostmon_destroy; copy what is kept. Call hostmon_close before the loop
 * closes its handles and hostmon_destroy once the thread pool has drained
 * (no read can be in flight). */
#ifndef SHIPWATCH_HOSTMON_H
#define SHIPWATCH_HOSTMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "ipc_proto.h"

#define HOSTMON_INTERVAL_MS 1000
#define HOSTMON_FIRST_MS 250

struct hostmon;
struct proctab;

/* A sample was read; h is valid for the call (and until the next). */
typedef void hostmon_fn(void *arg, const struct ipc_host *h);

/* A sampler on loop reading proc_root (NULL: "/proc"), sharing tab (may
 * be NULL) with the process checks; node names the daemon in its samples
 * (NULL: none; copied). NULL when out of memory. */
struct hostmon *hostmon_create(uv_loop_t *loop, const char *proc_root, struct proctab *tab,
                               const char *node, hostmon_fn *on_sample, void *arg);

/* One more holder wants samples: the first starts the sampling. */
void hostmon_hold(struct hostmon *m);

/* A holder is done: the last stops the sampling. */
void hostmon_release(struct hostmon *m);

/* The last sample when it is at most max_age_ms old (loop time), else
 * NULL. m may be NULL. */
const struct ipc_host *hostmon_latest(const struct hostmon *m, uint64_t max_age_ms);

/* Whether somebody holds the sampler (it samples). m may be NULL. */
bool hostmon_running(const struct hostmon *m);

/* Reads completed since the sampler was created (a baseline included). */
uint64_t hostmon_reads(const struct hostmon *m);

/* Stop for good and close the timer; a read in flight is left to finish
 * and its sample dropped. NULL is a no-op. */
void hostmon_close(struct hostmon *m);

/* Free the sampler, after hostmon_close and once no read is in flight.
 * NULL is a no-op. */
void hostmon_destroy(struct hostmon *m);

#endif
