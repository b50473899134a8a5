/* sdnotify.c - READY=1, WATCHDOG=1 and STOPPING=1 to $NOTIFY_SOCKET. */
#include "sdnotify.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Fill addr from $NOTIFY_SOCKET; its length, 0 when unset, or -EINVAL. */
static int notify_addr(struct sockaddr_un *addr, socklen_t *len)
{
    const char *s = getenv("NOTIFY_SOCKET");
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    size_t n = strlen(s);
    if ((s[0] != '/' && s[0] != '@') || n < 2 || n > sizeof(addr->sun_path)) {
        return -EINVAL;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, s, n);
    if (s[0] == '@') {
        /* An abstract name: a leading NUL, and no terminating one counted. */
        addr->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        if (n == sizeof(addr->sun_path)) {
            return -EINVAL;
        }
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 1;
}

/* Send msg to $NOTIFY_SOCKET, if set. */
int sdnotify_send(const char *msg)
{
    struct sockaddr_un addr;
    socklen_t len = 0;
    int rc = notify_addr(&addr, &len);
    if (rc <= 0) {
        return rc;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    ssize_t sent;
    do {
        sent = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&addr, len);
    } while (sent < 0 && errno == EINTR);
    rc = sent < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* $WATCHDOG_USEC if it is meant for this process, else 0. */
uint64_t sdnotify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (usec == NULL || usec[0] < '0' || usec[0] > '9') {
        return 0;
    }
    if (pid != NULL && pid[0] != '\0') {
        char *end;
        errno = 0;
        unsigned long long p = strtoull(pid, &end, 10);
        if (errno != 0 || *end != '\0' || p != (unsigned long long)getpid()) {
            return 0;
        }
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    return (uint64_t)v;
}

/* Send msg and log a failure once per kind of message. */
static void send_logged(const char *msg, const char *what)
{
    int rc = sdnotify_send(msg);
    if (rc < 0) {
        log_warn(LOG_KV("message", what), "cannot notify systemd: %s", strerror(-rc));
    }
}

/* The watchdog timer: the loop is alive. */
static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    send_logged("WATCHDOG=1", "WATCHDOG=1");
}

/* SIGTERM/SIGINT: the daemon starts draining (daemon.c handles the drain). */
static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct sdnotify *n = h->data;
    (void)signum;
    if (!n->stopping_sent) {
        n->stopping_sent = true;
        send_logged("STOPPING=1\nSTATUS=draining", "STOPPING=1");
    }
}

/* Start a signal watcher that never keeps the loop alive. */
static void watch_stop(struct sdnotify *n, uv_loop_t *loop, uv_signal_t *h, int signum)
{
    int rc = uv_signal_init(loop, h);
    if (rc == 0) {
        h->data = n;
        rc = uv_signal_start(h, on_stop_signal, signum);
        uv_unref((uv_handle_t *)h);
    }
    if (rc < 0) {
        log_warn(LOG_NOKV, "sdnotify: cannot watch signal %d: %s", signum,
                 uv_strerror(rc));
    }
}

/* READY=1, then the watchdog and the STOPPING=1 watchers. */
void sdnotify_start(struct sdnotify *n, uv_loop_t *loop)
{
    memset(n, 0, sizeof(*n));
    send_logged("READY=1\nSTATUS=running", "READY=1");
    watch_stop(n, loop, &n->sig_term, SIGTERM);
    watch_stop(n, loop, &n->sig_int, SIGINT);
    uv_timer_init(loop, &n->watchdog);
    n->watchdog.data = n;
    uint64_t usec = sdnotify_watchdog_usec();
    if (usec > 0) {
        /* Half the interval, as sd_watchdog_enabled(3) advises; 1 ms at least. */
        uint64_t ms = usec / 2000 > 0 ? usec / 2000 : 1;
        uv_timer_start(&n->watchdog, on_watchdog, ms, ms);
        log_info(LOG_NOKV, "systemd watchdog: pinging every %" PRIu64 " ms", ms);
    }
    uv_unref((uv_handle_t *)&n->watchdog);
}
