/* sched.h - the fixed-rate scheduler.
 *
 * Each check runs at offset + k * interval on the loop clock, where offset is
 * a stable hash of the check's name spread over the interval: a slow run never
 * pushes the next one later (no drift), and 10,000 checks never fire in one
 * burst. At most max_concurrency runs are in flight; due checks beyond that
 * wait in a FIFO, never dropped. A check still running when it is due again is
 * skipped and counted (check.skipped_total), never run twice at once.
 * Timers: one uv_timer for the whole heap.
 *
 * The scheduler knows no daemon: it is handed the loop its grids and timer
 * live on, and the check_env its runs start in (check_run_start), which
 * delivers their results. It does not own the checks, the loop or the env;
 * both must outlive it. */
#ifndef SHIPWATCH_SCHED_H
#define SHIPWATCH_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libuv's uv_loop_t, by its struct name: pthread.h includes <sched.h>, which
 * the daemon's include path resolves to this file, so it cannot include
 * uv.h itself. */
struct uv_loop_s;
struct check;
struct check_env;
struct sched;

struct sched_stats {
    uint64_t started_total;      /* runs started */
    uint64_t skipped_total;      /* ticks skipped because the check was still running */
    uint64_t skipped_not_owner_total;  /* ticks another daemon of the cluster ran */
    uint64_t queued_total;       /* runs that waited for a concurrency slot */
    size_t in_flight;
    size_t queue_length;
    /* start lag (actual start - due time) in microseconds, for the last
       SCHED_LAG_SAMPLES runs, a ring; benchmarks read p50/p99 from it */
    uint32_t *lag_us;
    size_t lag_count;
};
#define SCHED_LAG_SAMPLES 65536

/* The scheduler wakes on a grid of this many ms: a check starts up to
   SCHED_TICK_MS - 1 ms after its due time, and the loop wakes at most
   1000 / SCHED_TICK_MS times a second for 1,000 checks or 100,000. */
#define SCHED_TICK_MS 10

/* Create a scheduler on loop whose runs start in env (normally env->loop
 * is loop). NULL on allocation failure. */
struct sched *sched_create(struct uv_loop_s *loop, const struct check_env *env,
                           int max_concurrency);

/* Cancel every run in flight and free. NULL is a no-op. The checks are not
 * freed: the daemon owns them. */
void sched_destroy(struct sched *s);

/* The stable offset of a check within its interval, in [0, interval_ms). */
int64_t sched_offset(const char *name, int64_t interval_ms);

/* Start scheduling c: its first run is due at the next point of its own grid
 * (start + offset), so within one interval of the call. 0 or -ENOMEM. */
int sched_add(struct sched *s, struct check *c);

/* Stop scheduling c. Returns true when c is free to destroy now; false when
 * a run was in flight: it is cancelled, its result dropped, c is marked
 * removed, and sched_run_done destroys c when that run ends. */
bool sched_remove(struct sched *s, struct check *c);

/* Run c now, outside its grid (the grid is unchanged). -EBUSY when a run is
 * already in flight, -ESHUTDOWN when draining. */
int sched_run_now(struct sched *s, struct check *c);

/* Use interval_ms instead of the configured interval (post-deploy cadence);
 * 0 restores the configured one. The grid restarts from now. With s NULL
 * (no scheduler, as in a test's daemon context) only c records it. */
void sched_set_interval(struct sched *s, struct check *c, int64_t interval_ms);

/* Called (through the run's on_end) when c's run has ended: frees the slot,
 * starts the next queued check, and destroys c if it was removed meanwhile. */
void sched_run_done(struct sched *s, struct check *c);

/* Asked each time c is due, with the interval it runs at now: true when
 * the tick may go on now; false when the answer comes later through
 * sched_lease_reply (the cluster's lease gate). Must not block. */
typedef bool (*sched_gate_fn)(struct check *c, int64_t interval_ms, void *arg);
void sched_set_gate(struct sched *s, sched_gate_fn fn, void *arg);

/* The answer to a lease asked for by c's due tick (cluster_lease): when
 * granted the tick goes on (starts or waits for a slot); when not, it is
 * counted in skipped_not_owner_total, and retry_in_ms >= 0 (the holder's
 * lease life left) brings c's next tick forward to just after that lease
 * ends, so a dead holder's check moves without waiting a whole interval. */
void sched_lease_reply(struct sched *s, struct check *c, bool granted, int64_t retry_in_ms);

/* Stop starting runs (drain). Runs in flight go on. */
void sched_stop(struct sched *s);

/* Cancel every run in flight (their checkers still call finish). */
void sched_cancel_all(struct sched *s);

/* Current statistics. */
void sched_get_stats(const struct sched *s, struct sched_stats *out);

#endif
