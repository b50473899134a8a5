/* harness_httpd.c - the canned HTTP server: one libuv TCP listener, a list
 * of connections, one response for all. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_httpd.h"
#include "util.h"

struct conn {
    uv_tcp_t tcp;
    struct harness_httpd *srv;
    uv_write_t write;
    uv_shutdown_t shutdown;
    char req[HARNESS_HTTPD_REQUEST_MAX];
    size_t kept;                /* bytes of req used */
    size_t received;            /* bytes received in all */
    bool answered;
    char *response;             /* this connection's copy, owned */
    struct conn *prev, *next;
};

struct harness_httpd {
    uv_tcp_t listener;
    char *response;             /* the whole canned response, owned */
    int port;
    size_t requests;
    char last[HARNESS_HTTPD_REQUEST_MAX];
    struct conn *conns;         /* open connections */
    bool stopping;
    int open;                   /* handles whose close callback is owed */
};

/* Free the server once its last handle is closed. */
static void release(struct harness_httpd *s)
{
    if (--s->open == 0 && s->stopping) {
        free(s->response);
        free(s);
    }
}

/* A connection is closed: unlink and free it. */
static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct harness_httpd *s = c->srv;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    free(c->response);
    free(c);
    release(s);
}

/* Close a connection unless it is closing already. */
static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    conn_close(req->data);
}

static void on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->shutdown.data = c;
    if (status < 0 || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
    }
}

/* True when req holds a whole request: its head and Content-Length bytes. */
static bool complete(const struct conn *c)
{
    static const char key[] = "\r\ncontent-length:";
    const char *end = strstr(c->req, "\r\n\r\n");
    if (end == NULL) {
        return false;
    }
    size_t head = (size_t)(end - c->req) + 4;
    size_t body = 0;
    for (const char *p = c->req; p < end; p++) {
        if (strncasecmp(p, key, sizeof(key) - 1) == 0) {
            body = (size_t)strtoul(p + sizeof(key) - 1, NULL, 10);
            break;
        }
    }
    return c->received >= head + body;
}

/* Answer a complete request with the canned response. */
static void answer(struct conn *c)
{
    struct harness_httpd *s = c->srv;
    c->answered = true;
    s->requests++;
    memcpy(s->last, c->req, c->kept + 1);
    c->response = strdup(s->response);
    if (c->response == NULL) {
        conn_close(c);
        return;
    }
    uv_buf_t buf = uv_buf_init(c->response, (unsigned)strlen(c->response));
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
        conn_close(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char scratch[4096];
    struct conn *c = h->data;
    size_t room = sizeof(c->req) - 1 - c->kept;
    /* Past the buffer's end the bytes are counted and dropped. */
    *buf = room > 0 ? uv_buf_init(c->req + c->kept, (unsigned)room)
                    : uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (n < 0) {
        uv_read_stop(stream);
        if (!c->answered) {
            conn_close(c);
        }
        return;
    }
    if (buf->base == c->req + c->kept) {
        c->kept += (size_t)n;
        c->req[c->kept] = '\0';
    }
    c->received += (size_t)n;
    if (!c->answered && complete(c)) {
        answer(c);
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct harness_httpd *s = listener->data;
    if (status < 0 || s->stopping) {
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->srv = s;
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    s->open++;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        conn_close(c);
    }
}

/* Reason phrases of the statuses tests use; others get "Status". */
static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {200, "OK"},
    {404, "Not Found"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
};

/* The reason phrase of status. */
static const char *reason(int status)
{
    for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
        if (reasons[i].status == status) {
            return reasons[i].reason;
        }
    }
    return "Status";
}

/* Answer later requests with status and body. */
void harness_httpd_set(struct harness_httpd *s, int status, const char *body)
{
    size_t blen = strlen(body);
    size_t len = blen + 160;
    char *r = malloc(len);
    if (r == NULL) {
        return;
    }
    snprintf(r, len,
             "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             status, reason(status), blen, body);
    free(s->response);
    s->response = r;
}

/* Listen on 127.0.0.1, a port the kernel picks. */
struct harness_httpd *harness_httpd_start(uv_loop_t *loop, int status, const char *body)
{
    struct harness_httpd *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    harness_httpd_set(s, status, body);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open = 1;
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (s->response == NULL || uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)&s->listener, 64, on_connection) < 0 ||
        uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) < 0) {
        harness_httpd_stop(s);
        return NULL;
    }
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return s;
}

/* The port it listens on. */
int harness_httpd_port(const struct harness_httpd *s)
{
    return s->port;
}

/* Requests answered so far. */
size_t harness_httpd_requests(const struct harness_httpd *s)
{
    return s->requests;
}

/* The last request answered. */
const char *harness_httpd_last_request(const struct harness_httpd *s)
{
    return s->last;
}

/* The listener is closed. */
static void on_listener_closed(uv_handle_t *h)
{
    release(h->data);
}

/* Close everything; freed from the loop. */
void harness_httpd_stop(struct harness_httpd *s)
{
    if (s == NULL) {
        return;
    }
    s->stopping = true;
    for (struct conn *c = s->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

/* A port where nothing listens. */
int harness_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    int port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    close(fd);
    return port;
}
