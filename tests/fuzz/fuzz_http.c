/* fuzz_http.c - the daemon's HTTP side, end to end: a real shipwatchd
 * context on a libuv loop (SQLite store, socket, HTTP on 127.0.0.1:0),
 * and each input sent as the bytes of one TCP connection. The route code,
 * the parser callbacks and the deploy JSON all run as they do in the
 * daemon; a crash, a leak or a hang (the loop turns are bounded) is a
 * finding. The first byte of the input picks how it is split into writes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static uv_loop_t loop;
static struct daemon d;
static struct sockaddr_in addr;

static const char config_text[] =
    "daemon:\n"
    "  socket: %s/sw.sock\n"
    "  http: 127.0.0.1:0\n"
    "  github-secret: gh\n"
    "storage:\n"
    "  path: %s/history.db\n"
    "apps:\n"
    "  - name: shop\n"
    "    deploy-token: tok-123\n"
    "    deploy-secret: mac-456\n"
    "checks:\n"
    "  - name: beat\n"
    "    app: shop\n"
    "    type: heartbeat\n"
    "    token: hb-0123456789abcdef\n"
    "    period: 1h\n";

/* The port of the first IPv4 TCP handle on the loop: the HTTP listener. */
static void find_port(uv_handle_t *h, void *arg)
{
    int *port = arg;
    if (h->type == UV_TCP && *port == 0) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        if (uv_tcp_getsockname((uv_tcp_t *)h, (struct sockaddr *)&ss, &len) == 0 &&
            ss.ss_family == AF_INET) {
            *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/shipwatch-fuzz-http.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    char text[1024];
    snprintf(text, sizeof(text), config_text, dir, dir);
    struct config *conf = NULL;
    struct config_errors errs = {0};
    if (config_load_buffer("fuzz.yml", text, strlen(text), &conf, &errs) < 0) {
        fprintf(stderr, "fuzz_http: %s\n", errs.n ? errs.msgs[0] : "bad config");
        abort();
    }
    log_init(LOG_FORMAT_TEXT, LOG_ERROR);
    uv_loop_init(&loop);
    if (daemon_init(&d, &loop, conf, "fuzz.yml") < 0) {
        abort();
    }
    int port = 0;
    uv_walk(&loop, find_port, &port);
    if (port == 0) {
        abort();
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t chunk = (size_t)data[0] * 7 + 1;
    data++;
    size--;
    /* Tens of thousands of connections a minute: the client ends each with
     * an RST (SO_LINGER 0) so no TIME_WAIT piles up on loopback ports. A
     * daemon that stops accepting for good is a finding (the abort). */
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        if (attempt == 100) {
            abort();
        }
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            close(fd);
            fd = -1;
            uv_run(&loop, UV_RUN_NOWAIT);
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    /* Send in chunks, letting the daemon's loop run between them. */
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        ssize_t k = send(fd, data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno != EAGAIN) {
            break;      /* the daemon closed it: a limit, an error */
        }
        off += k > 0 ? (size_t)k : 0;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    shutdown(fd, SHUT_WR);
    /* Until the daemon closes its end (it must: the input ended), bounded. */
    char buf[65536];
    for (int turn = 0; turn < 2000; turn++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1) > 0) {
            ssize_t k = recv(fd, buf, sizeof(buf), 0);
            if (k <= 0) {
                break;
            }
        }
    }
    close(fd);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
