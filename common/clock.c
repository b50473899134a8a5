/* clock.c - the wall clock, the monotonic clock, and a clock to pass in. */
#include <time.h>

#include "clock.h"

/* The system clock as a struct clock. */
static int64_t system_now_ms(const struct clock *c)
{
    (void)c;
    return clock_wall_ms();
}

const struct clock clock_system = {.now_ms = system_now_ms, .ctx = NULL};

/* A fake clock reads the int64_t its ctx points to. */
static int64_t fake_now_ms(const struct clock *c)
{
    return *(const int64_t *)c->ctx;
}

/* Unix time in milliseconds. */
int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix time in microseconds. */
int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic time in nanoseconds. */
int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Monotonic time in milliseconds. */
int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Unix ms by c, or by the system clock. */
int64_t clock_now_ms(const struct clock *c)
{
    if (c == NULL || c->now_ms == NULL) {
        return clock_wall_ms();
    }
    return c->now_ms(c);
}

/* A clock over a counter the caller moves. */
void clock_fake_init(struct clock *c, int64_t *now_ms)
{
    c->now_ms = fake_now_ms;
    c->ctx = now_ms;
}
