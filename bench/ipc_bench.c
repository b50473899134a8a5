/* ipc_bench.c - the socket under load, measured from the client side.
 *
 *   ipc_bench rtt SOCKET SECONDS CLIENTS
 *       CLIENTS threads, each calling status.get back to back on its own
 *       connection: round trips per second, and p50/p99 of one call.
 *   ipc_bench fanout SOCKET SECONDS SUBSCRIBERS
 *       SUBSCRIBERS threads, each subscribed to "results": notices per
 *       second delivered in total, and the latency from a result's creation
 *       (its start plus its duration, both as the daemon recorded them) to
 *       its decoding here.
 *
 * Prints one line of key=value pairs; bench/ipc.sh reads it. Bounded by
 * SECONDS in every mode. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ipc_client.h"

#define MAX_THREADS 1000
#define MAX_SAMPLES (1 << 20)

struct worker {
    pthread_t th;
    const char *socket;
    int64_t start_us;
    int64_t deadline_us;
    uint64_t count;
    uint32_t *samples;          /* microseconds */
    size_t nsamples;
    size_t cap;                 /* its share of MAX_SAMPLES */
    int failed;
    char err[256];
};

/* Monotonic microseconds, for pacing and round trips. */
static int64_t mono_us(void)
{
    return clock_mono_ns() / 1000;
}

static void sample(struct worker *w, int64_t us)
{
    if (w->nsamples < w->cap) {
        w->samples[w->nsamples++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
}

static int connect_hello(struct worker *w, struct ipc_client *c)
{
    if (ipc_client_open(c, w->socket) < 0) {
        snprintf(w->err, sizeof(w->err), "%s", c->errmsg);
        return -1;
    }
    struct ipc_hello_params hp = {.client = "ipc_bench", .protocol = IPC_PROTOCOL};
    struct ipc_hello_result hr = {0};
    if (ipc_client_call(c, IPC_M_HELLO, &hp, &hr, 10000) != 0) {
        snprintf(w->err, sizeof(w->err), "hello: %s", c->errmsg);
        ipc_client_close(c);
        return -1;
    }
    ipc_type_finish(&ipc_hello_result_type, &hr);
    return 0;
}

static void *rtt_worker(void *arg)
{
    struct worker *w = arg;
    struct ipc_client c;
    if (connect_hello(w, &c) < 0) {
        w->failed = 1;
        return NULL;
    }
    while (mono_us() < w->start_us) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    while (mono_us() < w->deadline_us) {
        struct ipc_status s = {0};
        int64_t t0 = mono_us();
        if (ipc_client_call(&c, IPC_M_STATUS_GET, NULL, &s, 10000) != 0) {
            snprintf(w->err, sizeof(w->err), "status.get: %s", c.errmsg);
            w->failed = 1;
            break;
        }
        sample(w, mono_us() - t0);
        ipc_type_finish(&ipc_status_type, &s);
        w->count++;
    }
    ipc_client_close(&c);
    return NULL;
}

static void *fanout_worker(void *arg)
{
    struct worker *w = arg;
    struct ipc_client c;
    if (connect_hello(w, &c) < 0) {
        w->failed = 1;
        return NULL;
    }
    char *topics[] = {"results"};
    struct ipc_topics want = {.topics = topics, .ntopics = 1}, got = {0};
    if (ipc_client_call(&c, IPC_M_EVENTS_SUBSCRIBE, &want, &got, 10000) != 0) {
        snprintf(w->err, sizeof(w->err), "subscribe: %s", c.errmsg);
        w->failed = 1;
        ipc_client_close(&c);
        return NULL;
    }
    ipc_type_finish(&ipc_topics_type, &got);
    for (;;) {
        int64_t left = (w->deadline_us - mono_us()) / 1000;
        if (left <= 0) {
            break;
        }
        struct ipc_notice n = {0};
        int rc = ipc_client_notice(&c, &n, (int)left);
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            snprintf(w->err, sizeof(w->err), "notice: %s", c.errmsg);
            w->failed = 1;
            break;
        }
        int64_t created = n.ts_ms * 1000 + n.duration_us;
        /* Counted from the common start, when every subscriber is in. */
        if (mono_us() >= w->start_us) {
            sample(w, clock_wall_us() - created);
            w->count++;
        }
        ipc_type_finish(&ipc_notice_type, &n);
    }
    ipc_client_close(&c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "rtt") != 0 && strcmp(argv[1], "fanout") != 0)) {
        fprintf(stderr, "usage: ipc_bench rtt|fanout SOCKET SECONDS THREADS\n");
        return 2;
    }
    bool rtt = strcmp(argv[1], "rtt") == 0;
    int secs = atoi(argv[3]);
    int n = atoi(argv[4]);
    if (secs < 1 || secs > 3600 || n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "ipc_bench: SECONDS 1-3600, THREADS 1-%d\n", MAX_THREADS);
        return 2;
    }
    struct worker *ws = calloc((size_t)n, sizeof(*ws));
    if (ws == NULL) {
        return 1;
    }
    /* Connections first, then the clock: time to subscribe is not counted.
     * Every worker measures until the same deadline. */
    int64_t start = mono_us() + 1000000;
    for (int i = 0; i < n; i++) {
        ws[i].socket = argv[2];
        ws[i].start_us = start;
        ws[i].deadline_us = start + (int64_t)secs * 1000000;
        ws[i].cap = MAX_SAMPLES / (size_t)n;
        ws[i].samples = malloc(ws[i].cap * sizeof(uint32_t) + sizeof(uint32_t));
        if (ws[i].samples == NULL) {
            return 1;
        }
        pthread_create(&ws[i].th, NULL, rtt ? rtt_worker : fanout_worker, &ws[i]);
    }
    uint64_t total = 0;
    size_t nall = 0;
    uint32_t *all = malloc(MAX_SAMPLES * sizeof(uint32_t) + sizeof(uint32_t));
    if (all == NULL) {
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].th, NULL);
        if (ws[i].failed) {
            fprintf(stderr, "ipc_bench: worker %d: %s\n", i, ws[i].err);
            failed = 1;
        }
        total += ws[i].count;
        memcpy(all + nall, ws[i].samples, ws[i].nsamples * sizeof(uint32_t));
        nall += ws[i].nsamples;
        free(ws[i].samples);
    }
    qsort(all, nall, sizeof(uint32_t), cmp_u32);
    uint32_t p50 = nall ? all[nall / 2] : 0, p99 = nall ? all[nall * 99 / 100] : 0;
    uint32_t max = nall ? all[nall - 1] : 0;
    printf("mode=%s threads=%d seconds=%d total=%llu per_s=%.0f p50_us=%u p99_us=%u max_us=%u\n",
           argv[1], n, secs, (unsigned long long)total, (double)total / secs, p50, p99, max);
    free(all);
    free(ws);
    return failed;
}
