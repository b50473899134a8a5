/* harness.c - temporary directories, the loop runner, configuration from a
 * string, the fake clock. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* A new empty directory under $TEST_TMPDIR. */
char *harness_tmpdir(const char *prefix)
{
    const char *base = getenv("TEST_TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t len = strlen(base) + strlen(prefix) + 16;
    char *path = malloc(len);
    if (path == NULL) {
        return NULL;
    }
    snprintf(path, len, "%s/%s-XXXXXX", base, prefix);
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

/* nftw: remove one entry, children first. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 ? -1 : 0;
}

/* Remove dir and everything in it. */
int harness_tmpdir_remove(const char *dir)
{
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        return -errno;
    }
    return 0;
}

/* Write text to dir/name with mode. */
char *harness_write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path == NULL) {
        return NULL;
    }
    snprintf(path, len, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            close(fd);
            free(path);
            return NULL;
        }
        off += (size_t)w;
    }
    /* open's mode went through the umask; the test asked for this one. */
    if (fchmod(fd, mode) < 0 || close(fd) < 0) {
        free(path);
        return NULL;
    }
    return path;
}

/* The keep-alive timer's callback: nothing, it only wakes the loop. */
static void on_tick(uv_timer_t *t)
{
}

/* The keep-alive timer is closed: its memory may go. */
static void on_tick_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

/* Run loop until done(arg) or the deadline. */
bool harness_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, int64_t deadline_ms)
{
    uv_timer_t tick;
    uv_update_time(loop);
    uint64_t until = uv_now(loop) + (uint64_t)(deadline_ms > 0 ? deadline_ms : 0);
    bool ok = done != NULL && done(arg);
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    while (!ok && uv_now(loop) < until) {
        uv_run(loop, UV_RUN_ONCE);
        uv_update_time(loop);
        ok = done != NULL && done(arg);
    }
    /* The timer lives on this stack: wait for its close callback. */
    bool closed = false;
    tick.data = &closed;
    uv_close((uv_handle_t *)&tick, on_tick_closed);
    while (!closed) {
        uv_run(loop, UV_RUN_NOWAIT);
    }
    return ok;
}

/* Run loop for ms of loop time. */
void harness_run_for(uv_loop_t *loop, int64_t ms)
{
    harness_run_until(loop, NULL, NULL, ms);
}

/* uv_walk: close a handle not closing yet. */
static void close_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Close every handle, drain the loop, close it. */
int harness_loop_finish(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_NOWAIT);
    uv_walk(loop, close_handle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop);
}

/* A configuration from yaml; errors printed. */
struct config *harness_config(const char *yaml)
{
    struct config *conf = NULL;
    struct config_errors errs = {0};
    if (config_load_buffer("test.yml", yaml, strlen(yaml), &conf, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(stderr, "%s\n", errs.msgs[i]);
        }
        config_errors_finish(&errs);
        return NULL;
    }
    config_errors_finish(&errs);
    return conf;
}

/* check_clock.now_ms of a fake clock. */
static int64_t fake_now_ms(const struct check_clock *c)
{
    const struct harness_clock *hc = c->ctx;
    return hc->now_ms;
}

/* Start a fake clock at now_ms. */
void harness_clock_init(struct harness_clock *hc, int64_t now_ms)
{
    hc->clock = (struct check_clock){.now_ms = fake_now_ms, .ctx = hc};
    hc->now_ms = now_ms;
}

/* Move a fake clock forward by ms. */
void harness_clock_advance(struct harness_clock *hc, int64_t ms)
{
    hc->now_ms += ms;
}
