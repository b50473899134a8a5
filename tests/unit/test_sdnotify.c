/* test_sdnotify.c - the notify protocol against a datagram socket the test
 * listens on: a path, an abstract name, the watchdog and STOPPING=1. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"
#include "sdnotify.h"

/* A bound datagram socket; name is a path or "@abstract". Returns the fd. */
static int listen_on(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t n = strlen(name);
    assert_true(n < sizeof(addr.sun_path));
    memcpy(addr.sun_path, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    if (name[0] == '@') {
        addr.sun_path[0] = '\0';
        len--;
    } else {
        unlink(name);
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, len), 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    return fd;
}

/* Receive one datagram into buf and return it. */
static const char *receive(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, 0);
    if (n < 0) {
        fail_msg("recv: %s", strerror(errno));
    }
    buf[n] = '\0';
    return buf;
}

/* A socket path under the build tree, unique to this process. */
static void socket_path(char *buf, size_t size)
{
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(buf, size, "%s/sdnotify-%ld.sock", dir != NULL ? dir : "/tmp", (long)getpid());
}

/* Without $NOTIFY_SOCKET nothing is sent and nothing fails. */
static void test_unset(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), 0);
}

/* A socket path: the message arrives whole. */
static void test_path(void **state)
{
    (void)state;
    char path[256], buf[256];
    socket_path(path, sizeof(path));
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        skip();
    }
    int fd = listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(sdnotify_send("READY=1\nSTATUS=running"), 0);
    assert_string_equal(receive(fd, buf, sizeof(buf)), "READY=1\nSTATUS=running");
    close(fd);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

/* An abstract name, written with '@'. */
static void test_abstract(void **state)
{
    (void)state;
    char name[64], buf[256];
    snprintf(name, sizeof(name), "@shipwatch-sdnotify-test-%ld", (long)getpid());
    int fd = listen_on(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(sdnotify_send("WATCHDOG=1"), 0);
    assert_string_equal(receive(fd, buf, sizeof(buf)), "WATCHDOG=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

/* Names that are neither a path nor '@name', and a socket nobody holds. */
static void test_bad(void **state)
{
    (void)state;
    setenv("NOTIFY_SOCKET", "relative.sock", 1);
    assert_int_equal(sdnotify_send("READY=1"), -EINVAL);
    setenv("NOTIFY_SOCKET", "@", 1);
    assert_int_equal(sdnotify_send("READY=1"), -EINVAL);
    setenv("NOTIFY_SOCKET", "/nonexistent/shipwatch/notify.sock", 1);
    assert_true(sdnotify_send("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

/* $WATCHDOG_USEC counts only when $WATCHDOG_PID is unset or ours. */
static void test_watchdog_usec(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 30000000);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_watchdog_usec(), 30000000);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "12x", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "-5", 1);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_USEC");
}

/* Stops the loop once the pings have had time to come. */
static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Raises SIGTERM from inside the loop, as systemd's stop would. */
static void on_raise(uv_timer_t *t)
{
    (void)t;
    raise(SIGTERM);
}

/* Close every handle left on the loop. */
static void close_all(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* On a loop: READY=1 at once, WATCHDOG=1 at half the interval, STOPPING=1
 * once on SIGTERM; the handles never keep the loop alive. */
static void test_loop(void **state)
{
    (void)state;
    char name[64], buf[256];
    snprintf(name, sizeof(name), "@shipwatch-sdnotify-loop-%ld", (long)getpid());
    int fd = listen_on(name);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "40000", 1);
    unsetenv("WATCHDOG_PID");

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct sdnotify n;
    sdnotify_start(&n, &loop);
    assert_string_equal(receive(fd, buf, sizeof(buf)), "READY=1\nSTATUS=running");
    /* Only unref'd handles: the loop returns at once. */
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);

    uv_timer_t raise_timer, deadline;
    uv_timer_init(&loop, &raise_timer);
    uv_timer_init(&loop, &deadline);
    uv_timer_start(&raise_timer, on_raise, 70, 0);
    uv_timer_start(&deadline, on_deadline, 150, 0);
    uv_run(&loop, UV_RUN_DEFAULT);

    int watchdogs = 0, stopping = 0;
    struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t got;
    while ((got = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
        buf[got] = '\0';
        if (strcmp(buf, "WATCHDOG=1") == 0) {
            watchdogs++;
        } else if (strcmp(buf, "STOPPING=1\nSTATUS=draining") == 0) {
            stopping++;
        } else {
            fail_msg("unexpected message \"%s\"", buf);
        }
    }
    /* 20 ms pings over 150 ms: about 7, at least 3 on a loaded machine. */
    if (watchdogs < 3) {
        fail_msg("%d WATCHDOG=1 in 150 ms at a 20 ms period", watchdogs);
    }
    assert_int_equal(stopping, 1);

    uv_walk(&loop, close_all, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(fd);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    log_init(LOG_FORMAT_TEXT, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unset),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_abstract),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_watchdog_usec),
        cmocka_unit_test(test_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
