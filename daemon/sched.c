/* sched.c - the fixed-rate scheduler: a min-heap of due times, one timer,
 * a concurrency cap with a FIFO of waiting checks. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hash.h"
#include "log.h"
#include "sched.h"

/* Due checks handled per timer callback before yielding to I/O. */
#define SCHED_BATCH 10000

/* A heap slot holds its check's due time: sifting compares keys in one
 * array, not in 10,000 checks scattered over the heap of malloc. */
struct slot {
    int64_t due_ms;               /* the check's next_due_ms */
    struct check *check;
};

struct sched {
    uv_loop_t *loop;              /* the grids' clock and the timer's loop */
    const struct check_env *env;  /* where runs are started */
    uv_timer_t timer;
    struct slot *heap;            /* min-heap on due_ms */
    size_t nheap;
    size_t capheap;
    struct check *wait_head;      /* FIFO of due checks waiting for a slot */
    struct check *wait_tail;
    struct check **running;       /* checks with a run in flight */
    size_t nrunning;
    size_t caprunning;
    int max_concurrency;
    sched_gate_fn gate;           /* the cluster's lease gate, or NULL */
    void *gate_arg;
    bool stopped;
    uint64_t epoch_ms;            /* loop time the grids are anchored to */
    uint64_t started_total;
    uint64_t skipped_total;
    uint64_t skipped_not_owner_total;
    uint64_t queued_total;
    size_t queue_length;
    uint32_t *lag_us;             /* ring of SCHED_LAG_SAMPLES */
    size_t lag_count;
};

/* 64-bit FNV-1a of a string from the basis offsets have always used,
 * finished with splitmix64 so that similar names land far apart. */
static uint64_t hash_name(const char *s)
{
    return hash_mix(hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, s));
}

/* The stable offset of a check within its interval. */
int64_t sched_offset(const char *name, int64_t interval_ms)
{
    if (interval_ms <= 0) {
        return 0;
    }
    return (int64_t)(hash_name(name) % (uint64_t)interval_ms);
}

/* The interval a check runs at now. */
static int64_t interval_of(const struct check *c)
{
    return c->interval_override_ms > 0 ? c->interval_override_ms : c->conf->interval_ms;
}

/* --- the heap --- */

static void heap_set(struct sched *s, size_t i, struct slot e)
{
    s->heap[i] = e;
    e.check->heap_index = i;
}

static void heap_up(struct sched *s, size_t i)
{
    struct slot e = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].due_ms <= e.due_ms) {
            break;
        }
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i)
{
    struct slot e = s->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t due = e.due_ms;
        if (l < s->nheap && s->heap[l].due_ms < due) {
            m = l;
            due = s->heap[l].due_ms;
        }
        if (r < s->nheap && s->heap[r].due_ms < due) {
            m = r;
        }
        if (m == i) {
            break;
        }
        heap_set(s, i, s->heap[m]);
        i = m;
    }
    heap_set(s, i, e);
}

/* Whether c is in the heap. */
static bool in_heap(const struct sched *s, const struct check *c)
{
    return c->heap_index < s->nheap && s->heap[c->heap_index].check == c;
}

static int heap_push(struct sched *s, struct check *c)
{
    if (s->nheap == s->capheap) {
        size_t cap = s->capheap ? s->capheap * 2 : 64;
        struct slot *v = realloc(s->heap, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        s->heap = v;
        s->capheap = cap;
    }
    heap_set(s, s->nheap++, (struct slot){c->next_due_ms, c});
    heap_up(s, s->nheap - 1);
    return 0;
}

static void heap_remove(struct sched *s, struct check *c)
{
    if (!in_heap(s, c)) {
        return;
    }
    size_t i = c->heap_index;
    struct slot last = s->heap[--s->nheap];
    c->heap_index = SIZE_MAX;
    if (last.check == c) {
        return;
    }
    heap_set(s, i, last);
    heap_up(s, i);
    heap_down(s, last.check->heap_index);
}

/* --- running set (for cancel_all) --- */

static int running_add(struct sched *s, struct check *c)
{
    if (s->nrunning == s->caprunning) {
        size_t cap = s->caprunning ? s->caprunning * 2 : 64;
        struct check **v = realloc(s->running, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        s->running = v;
        s->caprunning = cap;
    }
    c->running_index = s->nrunning;
    s->running[s->nrunning++] = c;
    return 0;
}

static void running_del(struct sched *s, struct check *c)
{
    size_t i = c->running_index;
    if (i >= s->nrunning || s->running[i] != c) {
        return;
    }
    s->running[i] = s->running[--s->nrunning];
    s->running[i]->running_index = i;
    c->running_index = SIZE_MAX;
}

/* --- the wait FIFO --- */

static void wait_push(struct sched *s, struct check *c)
{
    c->queued = true;
    c->queue_next = NULL;
    if (s->wait_tail != NULL) {
        s->wait_tail->queue_next = c;
    } else {
        s->wait_head = c;
    }
    s->wait_tail = c;
    s->queue_length++;
    s->queued_total++;
}

static struct check *wait_pop(struct sched *s)
{
    struct check *c = s->wait_head;
    if (c != NULL) {
        s->wait_head = c->queue_next;
        if (s->wait_head == NULL) {
            s->wait_tail = NULL;
        }
        c->queue_next = NULL;
        c->queued = false;
        s->queue_length--;
    }
    return c;
}

static void wait_del(struct sched *s, struct check *c)
{
    struct check **pp = &s->wait_head, *prev = NULL;
    while (*pp != NULL && *pp != c) {
        prev = *pp;
        pp = &(*pp)->queue_next;
    }
    if (*pp == NULL) {
        return;
    }
    *pp = c->queue_next;
    if (s->wait_tail == c) {
        s->wait_tail = prev;
    }
    c->queue_next = NULL;
    c->queued = false;
    s->queue_length--;
}

/* --- running checks --- */

static void record_lag(struct sched *s, uint64_t lag_ms_x1000)
{
    s->lag_us[s->lag_count % SCHED_LAG_SAMPLES] =
        lag_ms_x1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)lag_ms_x1000;
    s->lag_count++;
}

/* A run started here ended (check_run_finish's on_end). */
static void on_run_end(void *arg, struct check *c)
{
    sched_run_done(arg, c);
}

/* Start one run of c, due at due_ms (loop time). */
static void start_run(struct sched *s, struct check *c, int64_t due_ms)
{
    if (running_add(s, c) < 0) {
        log_error(LOG_KV("check", c->conf->name), "out of memory starting a run");
        return;
    }
    int64_t now = (int64_t)uv_now(s->loop);
    if (due_ms >= 0) {
        record_lag(s, (uint64_t)(now > due_ms ? now - due_ms : 0) * 1000);
    }
    s->started_total++;
    /* A start that fails ends the run, and calls on_run_end, at once. */
    if (check_run_start(c, s->env, on_run_end, s) < 0) {
        s->started_total--;
        running_del(s, c);
        log_error(LOG_KV("check", c->conf->name), "out of memory starting a run");
    }
}

static void arm(struct sched *s);

/* A tick that may run: start it, or queue it for a slot. */
static void go(struct sched *s, struct check *c, int64_t due_ms)
{
    if ((int)s->nrunning < s->max_concurrency) {
        start_run(s, c, due_ms);
    } else {
        c->queue_due_ms = due_ms;
        wait_push(s, c);
    }
}

/* A check is due: ask the cluster, start it, queue it, or skip the tick. */
static void due(struct sched *s, struct check *c, int64_t due_ms)
{
    if (c->paused) {
        return;
    }
    if (c->run != NULL || c->queued || c->lease_pending) {
        c->skipped_total++;
        s->skipped_total++;
        return;
    }
    /* The gate never blocks: its answer goes on with the tick later
     * (sched_lease_reply), or it says "run" at once. */
    if (s->gate != NULL && !s->gate(c, interval_of(c), s->gate_arg)) {
        c->lease_pending = true;
        c->lease_due_ms = due_ms;
        return;
    }
    go(s, c, due_ms);
}

/* The lease asked for by c's tick was answered. */
void sched_lease_reply(struct sched *s, struct check *c, bool granted, int64_t retry_in_ms)
{
    c->lease_pending = false;
    if (s->stopped || c->paused || c->removed) {
        return;
    }
    if (granted) {
        if (c->run != NULL || c->queued) {
            c->skipped_total++;
            s->skipped_total++;
            return;
        }
        go(s, c, c->lease_due_ms);
        return;
    }
    c->skipped_not_owner_total++;
    s->skipped_not_owner_total++;
    /* Ask again right after the holder's lease would end: if the holder
     * is alive it renews first and this tick is skipped again; if it
     * died, this daemon takes the check over then. Only ever earlier than
     * the grid's own next tick. */
    if (retry_in_ms >= 0 && in_heap(s, c)) {
        int64_t at = (int64_t)uv_now(s->loop) + retry_in_ms + 1;
        if (at < c->next_due_ms) {
            c->next_due_ms = at;
            s->heap[c->heap_index].due_ms = at;
            heap_up(s, c->heap_index);
            arm(s);
        }
    }
}

/* The timer: run everything that is due, advance each on its grid. */
static void on_timer(uv_timer_t *t)
{
    struct sched *s = t->data;
    int64_t now = (int64_t)uv_now(s->loop);
    size_t handled = 0;

    while (!s->stopped && s->nheap > 0 && s->heap[0].due_ms <= now && handled < SCHED_BATCH) {
        struct check *c = s->heap[0].check;
        int64_t due_ms = c->next_due_ms;
        int64_t iv = interval_of(c);
        /* Fixed rate: the next point of the grid after now. Missed ticks
         * (a stalled loop) are skipped and counted, never burst. */
        int64_t next = due_ms + iv;
        if (next <= now) {
            int64_t missed = (now - due_ms) / iv;
            c->skipped_total += (uint64_t)missed;
            s->skipped_total += (uint64_t)missed;
            next = due_ms + (missed + 1) * iv;
        }
        c->next_due_ms = next;
        s->heap[0].due_ms = next;
        heap_down(s, 0);
        due(s, c, due_ms);
        handled++;
    }
    arm(s);
}

/* Arm the timer for the earliest due check. */
static void arm(struct sched *s)
{
    if (s->stopped || s->nheap == 0) {
        uv_timer_stop(&s->timer);
        return;
    }
    int64_t now = (int64_t)uv_now(s->loop);
    int64_t at = s->heap[0].due_ms;
    /* Wake on the tick grid every check shares: due times a few ms apart
     * start in one wake-up instead of one each. */
    at += (SCHED_TICK_MS - at % SCHED_TICK_MS) % SCHED_TICK_MS;    /* loop times are >= 0 */
    int64_t wait = at - now;
    uv_timer_start(&s->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* --- public --- */

/* Create a scheduler on loop that starts runs in env. */
struct sched *sched_create(uv_loop_t *loop, const struct check_env *env, int max_concurrency)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->lag_us = calloc(SCHED_LAG_SAMPLES, sizeof(*s->lag_us));
    if (s->lag_us == NULL || uv_timer_init(loop, &s->timer) < 0) {
        free(s->lag_us);
        free(s);
        return NULL;
    }
    s->timer.data = s;
    s->loop = loop;
    s->env = env;
    s->max_concurrency = max_concurrency > 0 ? max_concurrency : 1;
    s->epoch_ms = uv_now(loop);
    return s;
}

/* Free the scheduler once libuv has closed its timer. */
static void on_timer_closed(uv_handle_t *h)
{
    struct sched *s = h->data;
    free(s->heap);
    free(s->running);
    free(s->lag_us);
    free(s);
}

/* Cancel runs in flight and free (after the loop runs the close callback). */
void sched_destroy(struct sched *s)
{
    if (s == NULL) {
        return;
    }
    s->stopped = true;
    sched_cancel_all(s);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

/* Schedule c on its grid: first run within one interval. */
int sched_add(struct sched *s, struct check *c)
{
    int64_t iv = interval_of(c);
    int64_t now = (int64_t)uv_now(s->loop);
    int64_t off = sched_offset(c->conf->name, iv);
    /* The grid point epoch + off + k*iv that is the first >= now. */
    int64_t base = (int64_t)s->epoch_ms + off;
    int64_t k = now > base ? (now - base + iv - 1) / iv : 0;
    c->offset_ms = off;
    c->next_due_ms = base + k * iv;
    c->heap_index = SIZE_MAX;
    int rc = heap_push(s, c);
    if (rc == 0) {
        arm(s);
    }
    return rc;
}

/* Stop scheduling c; true when c can be destroyed now. */
bool sched_remove(struct sched *s, struct check *c)
{
    heap_remove(s, c);
    if (c->queued) {
        wait_del(s, c);
    }
    arm(s);
    if (c->run == NULL) {
        return true;
    }
    c->removed = true;
    c->run->cancelled = true;
    if (c->type->cancel != NULL) {
        c->type->cancel(c->run);
    }
    return false;
}

/* Run c now, off its grid. */
int sched_run_now(struct sched *s, struct check *c)
{
    if (s->stopped) {
        return -ESHUTDOWN;
    }
    if (c->run != NULL) {
        return -EBUSY;
    }
    if (c->queued) {
        wait_del(s, c);
    }
    start_run(s, c, -1);
    return 0;
}

/* Change c's cadence; its grid restarts from now. */
void sched_set_interval(struct sched *s, struct check *c, int64_t interval_ms)
{
    c->interval_override_ms = interval_ms;
    if (s == NULL) {
        return;
    }
    heap_remove(s, c);
    int64_t iv = interval_of(c);
    c->next_due_ms = (int64_t)uv_now(s->loop) + iv;
    if (heap_push(s, c) < 0) {
        log_error(LOG_KV("check", c->conf->name), "out of memory rescheduling");
    }
    arm(s);
}

/* A run of c ended: free its slot, start waiting checks, free c if removed. */
void sched_run_done(struct sched *s, struct check *c)
{
    running_del(s, c);
    if (c->removed && c->run == NULL) {
        check_destroy(c);
    }
    while (!s->stopped && (int)s->nrunning < s->max_concurrency && s->wait_head != NULL) {
        struct check *w = wait_pop(s);
        start_run(s, w, w->queue_due_ms);
    }
}

/* Put a gate before every due tick. */
void sched_set_gate(struct sched *s, sched_gate_fn fn, void *arg)
{
    s->gate = fn;
    s->gate_arg = arg;
}

/* Stop starting runs. */
void sched_stop(struct sched *s)
{
    s->stopped = true;
    while (wait_pop(s) != NULL) {
    }
    uv_timer_stop(&s->timer);
}

/* Cancel every run in flight. */
void sched_cancel_all(struct sched *s)
{
    /* cancel may finish runs later, never re-entrantly, so the array is
     * stable while we walk it. */
    for (size_t i = 0; i < s->nrunning; i++) {
        struct check *c = s->running[i];
        if (c->run != NULL && !c->run->cancelled) {
            c->run->cancelled = true;
            if (c->type->cancel != NULL) {
                c->type->cancel(c->run);
            }
        }
    }
}

/* Current statistics. */
void sched_get_stats(const struct sched *s, struct sched_stats *out)
{
    out->started_total = s->started_total;
    out->skipped_total = s->skipped_total;
    out->skipped_not_owner_total = s->skipped_not_owner_total;
    out->queued_total = s->queued_total;
    out->in_flight = s->nrunning;
    out->queue_length = s->queue_length;
    out->lag_us = s->lag_us;
    out->lag_count = s->lag_count;
}
