/* clock.h - the wall clock, the monotonic clock, and a clock to pass in.
 *
 * clock_wall_ms() is unix time in milliseconds (CLOCK_REALTIME): what is
 * stored, shown and compared with other machines; it may jump. The
 * monotonic readings (CLOCK_MONOTONIC) only measure spans inside one process.
 *
 * Code that decides by time and wants a test to move time itself takes a
 * `const struct clock *` and reads it with clock_now_ms(); the daemon
 * passes &clock_system, a test passes a clock whose now_ms reads its ctx
 * (clock_fake_init() makes one over an int64_t the test owns). A clock
 * holds no resources: there is nothing to free, and the caller keeps ctx
 * alive as long as the clock is used. Every function here is thread-safe. */
#ifndef SHIPWATCH_CLOCK_H
#define SHIPWATCH_CLOCK_H

#include <stdint.h>

/* A source of unix milliseconds. */
struct clock {
    int64_t (*now_ms)(const struct clock *c); /* unix ms now, by this clock */
    void *ctx;                                /* the source's own data; not owned */
};

/* The real wall clock (now_ms is clock_wall_ms; ctx is NULL). */
extern const struct clock clock_system;

/* Unix time in milliseconds. */
int64_t clock_wall_ms(void);

/* Unix time in microseconds (for latencies measured across processes). */
int64_t clock_wall_us(void);

/* Monotonic time in nanoseconds, from an arbitrary origin. */
int64_t clock_mono_ns(void);

/* Monotonic time in milliseconds, from the same origin. */
int64_t clock_mono_ms(void);

/* Unix ms by c; by the system clock when c is NULL. */
int64_t clock_now_ms(const struct clock *c);

/* Make c a fake clock that reads *now_ms (owned by the caller, who moves
 * it); c must not outlive now_ms. */
void clock_fake_init(struct clock *c, int64_t *now_ms);

#endif
