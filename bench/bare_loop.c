/* bare_loop.c - the ceiling: libcurl's multi-socket API on libuv (the same
 * engine and options as shipwatchd's HTTP checks) fetching URLs with a fixed
 * concurrency and doing nothing else: no scheduler, no conditions, no store.
 *
 *   bare_loop URLFILE REQUESTS CONCURRENCY [RATE]
 *
 * Flat out, or paced at RATE requests a second (a 1 ms timer starts what
 * the rate owes since the start, CONCURRENCY in flight at most): the
 * daemon's CPU per check is compared with the loop's at the same rate, not
 * with the loop saturated, where its fixed costs are spread thinner.
 *
 * Prints requests/s, CPU microseconds per request and peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "curlm.h"

struct bench {
    uv_loop_t *loop;
    struct curlm *m;
    uv_timer_t pace;
    char **urls;
    size_t nurls;
    long total, started, done, failed;
    long conc;                  /* in flight at most */
    double rate;                /* requests a second; 0 flat out */
    uint64_t t0;
};

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    return s * n;
}

static void start_one(struct bench *b);

static void on_done(CURL *e, CURLcode rc, void *arg)
{
    struct bench *b = arg;
    b->done++;
    b->failed += rc != CURLE_OK;
    curl_easy_cleanup(e);
    if (b->rate == 0 && b->started < b->total) {
        start_one(b);
    }
}

/* Paced: start what the rate owes by now, within the concurrency. */
static void on_pace(uv_timer_t *t)
{
    struct bench *b = t->data;
    double secs = (double)(uv_hrtime() - b->t0) / 1e9;
    long owed = (long)(secs * b->rate);
    if (owed > b->total) {
        owed = b->total;
    }
    while (b->started < owed && b->started - b->done < b->conc) {
        start_one(b);
    }
    if (b->started >= b->total) {
        uv_timer_stop(t);
        uv_close((uv_handle_t *)t, NULL);
    }
}

static void start_one(struct bench *b)
{
    CURL *e = curlm_easy(b->m);
    curl_easy_setopt(e, CURLOPT_URL, b->urls[b->started % b->nurls]);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    b->started++;
    if (curlm_add(b->m, e, on_done, b) < 0) {
        curl_easy_cleanup(e);
        b->done++;
        b->failed++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: bare_loop URLFILE REQUESTS CONCURRENCY [RATE]\n");
        return 2;
    }
    struct bench b = {.loop = uv_default_loop(), .total = atol(argv[2]), .conc = atol(argv[3]),
                      .rate = argc == 5 ? atof(argv[4]) : 0};
    if (b.total <= 0 || b.conc <= 0 || b.rate < 0) {
        fprintf(stderr, "bare_loop: REQUESTS and CONCURRENCY must be positive, RATE not negative\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (b.nurls == cap) {
            cap = cap ? cap * 2 : 256;
            b.urls = realloc(b.urls, cap * sizeof(*b.urls));
        }
        b.urls[b.nurls++] = strdup(line);
    }
    fclose(f);
    b.m = curlm_create(b.loop);
    b.t0 = uv_hrtime();
    if (b.rate > 0) {
        uv_timer_init(b.loop, &b.pace);
        b.pace.data = &b;
        uv_timer_start(&b.pace, on_pace, 1, 1);
    } else {
        for (long i = 0; i < b.conc && b.started < b.total; i++) {
            start_one(&b);
        }
    }
    uv_run(b.loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - b.t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("bare_loop%s requests=%ld failed=%ld seconds=%.2f rate=%.0f cpu_us_per_req=%.1f "
           "peak_rss_kib=%ld\n",
           b.rate > 0 ? "_paced" : "", b.done, b.failed, secs, (double)b.done / secs,
           cpu_us / (double)b.done, ru.ru_maxrss);
    curlm_destroy(b.m);
    uv_run(b.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < b.nurls; i++) {
        free(b.urls[i]);
    }
    free(b.urls);
    return 0;
}
