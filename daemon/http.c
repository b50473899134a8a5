/* http.c - HTTP/1.1 on the daemon's loop, parsed by http-parser. */
#include "http.h"
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "check.h"
#include "civil.h"
#include "config.h"
#include "daemon.h"
#include "fdres.h"
#include "log.h"
#include "metrics.h"
#include "recent.h"
#include "store.h"
#include "utf8.h"
#include "util.h"

static const char *const hdr_names[] = {"authorization", "content-type",
                                        "x-shipwatch-signature-256", "x-hub-signature-256",
                                        "x-github-event", "x-github-delivery",
                                        "x-shipwatch-timestamp", "transfer-encoding"};

/* The rendered /metrics, shared by the scrapes of one second: a burst of
 * scrapes costs one render, and a write holds a reference while the bytes
 * go out. */
struct metrics_cache {
    size_t refs;
    struct metrics_buf buf;
    struct metrics_buf *spare;  /* where its buffer goes when the last
                                   reference goes, if that is empty */
};

#define METRICS_CACHE_MS 1000

struct wreq {
    uv_write_t req;
    char *head;
    char *body;                 /* owned copy, or NULL */
    struct metrics_cache *shared;   /* or a reference to this */
};

static void metrics_unref(struct metrics_cache *m)
{
    if (m != NULL && --m->refs == 0) {
        if (m->spare != NULL && m->spare->data == NULL) {
            *m->spare = m->buf;     /* mapped pages for the next render */
        } else {
            free(m->buf.data);
        }
        free(m);
    }
}

/* --- connection lifetime --- */

void http_conn_unref(struct hconn *c)
{
    if (--c->refs > 0) {
        return;
    }
    free(c->in);
    free(c->body);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    http_conn_unref(h->data);
}

/* Free c's body buffer and give its bytes back to the server's budget. */
static void body_release(struct hconn *c)
{
    c->srv->body_bytes -= c->body_cap;
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
    c->body_cap = 0;
}

/* Close c's handles; it is freed when they are closed and its last
 * reference goes. */
static void hconn_close(struct hconn *c)
{
    if (!c->open) {
        return;
    }
    c->open = false;
    struct http_server *s = c->srv;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->st.connections--;
    if (c->reserved) {
        s->nreserved--;
    }
    body_release(c);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void on_deadline(uv_timer_t *t)
{
    struct hconn *c = t->data;
    if (!c->lingering) {
        c->srv->st.timeouts_total++;
    }
    hconn_close(c);
}

static void arm(struct hconn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_deadline, ms, 0);
}

/* --- responses --- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

static void parse_more(struct hconn *c);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void reset_request(struct hconn *c)
{
    c->url_len = 0;
    c->url[0] = '\0';
    c->header_bytes = 0;
    c->cur = H_NONE;
    c->in_value = false;
    c->field_len = 0;
    memset(c->hdr_set, 0, sizeof(c->hdr_set));
    c->te_repeated = false;
    body_release(c);
    c->body_keep = 0;
    c->body_seen = 0;
    c->too_big = false;
    c->route = NULL;
    c->refused_status = 0;
}

/* After the last answer: read and drop what the client still sends, for
 * a moment, so closing with unread input (an RST) does not destroy the
 * answer before the client read it. */
#define LINGER_MS 2000

static void on_linger_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct hconn *c = st->data;
    c->in_len = 0;
    if (n < 0) {
        hconn_close(c);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct hconn *c = req->data;
    free(req);
    if (c->open && status < 0) {
        hconn_close(c);
    }
}

static void linger(struct hconn *c)
{
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL) {
        hconn_close(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        hconn_close(c);
        return;
    }
    c->lingering = true;
    arm(c, LINGER_MS);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read);
}

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct hconn *c = req->handle->data;
    free(w->head);
    free(w->body);
    metrics_unref(w->shared);
    free(w);
    if (!c->open) {
        return;
    }
    if (status < 0) {
        hconn_close(c);
        return;
    }
    if (!c->keep_alive) {
        linger(c);
        return;
    }
    /* Ready for the next request on this connection. */
    reset_request(c);
    arm(c, HTTP_IDLE_TIMEOUT_MS);
    if (c->paused) {
        c->paused = false;
        http_parser_pause(&c->parser, 0);
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    parse_more(c);
}

/* Answer the current request. extra is more header lines ("Allow: GET\r\n")
 * or NULL. */
/* Write the status line, headers and body: a copy of body, or (when
 * shared is set) a reference to the shared render it points into. */
static void send_response(struct hconn *c, int status, const char *type, const char *body,
                          size_t len, const char *extra, struct metrics_cache *shared)
{
    if (!c->open) {
        return;
    }
    struct wreq *w = calloc(1, sizeof(*w));
    char *head = malloc(512);
    if (w == NULL || head == NULL) {
        free(w);
        free(head);
        hconn_close(c);
        return;
    }
    int n = snprintf(head, 512,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, reason(status), type, len, extra != NULL ? extra : "",
                     c->keep_alive ? "" : "Connection: close\r\n");
    w->head = head;
    if (c->parser.method == HTTP_HEAD) {
        len = 0;    /* the headers say how long the body would be */
    }
    uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)n), uv_buf_init(NULL, 0)};
    if (len > 0 && shared != NULL) {
        w->shared = shared;
        shared->refs++;
        bufs[1] = uv_buf_init((char *)body, (unsigned)len);
    } else if (len > 0) {
        w->body = malloc(len);
        if (w->body == NULL) {
            free(head);
            free(w);
            hconn_close(c);
            return;
        }
        memcpy(w->body, body, len);
        bufs[1] = uv_buf_init(w->body, (unsigned)len);
    }
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, len > 0 ? 2 : 1, on_written) < 0) {
        free(w->head);
        free(w->body);
        metrics_unref(w->shared);
        free(w);
        hconn_close(c);
    }
}

void http_respond(struct hconn *c, int status, const char *type, const char *body, size_t len,
                    const char *extra)
{
    send_response(c, status, type, body, len, extra, NULL);
}

void http_respond_json(struct hconn *c, int status, json_t *j, const char *extra)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL) {
        http_respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, NULL);
        return;
    }
    size_t len = strlen(s);
    s[len] = '\n';      /* json_dumps leaves room for the NUL we overwrite */
    http_respond(c, status, "application/json", s, len + 1, extra);
    free(s);
}

void http_respond_error(struct hconn *c, int status, const char *extra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A message may quote the request (its path): jansson refuses invalid
     * UTF-8, and a strict client could not decode it, so its bytes go out
     * as \xNN, as on the socket. */
    char safe[sizeof(msg) * 4];
    utf8_escape(msg, safe, sizeof(safe));
    http_respond_json(c, status, json_pack("{s:s}", "error", safe), extra);
}

/* --- routes --- */

/* GET /healthz: the daemon answers. */
static void route_healthz(struct hconn *c, const char *rest)
{
    (void)rest;
    http_respond_json(c, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

/* GET /readyz: 200 while the daemon can take work, 503 with the reason. */
static void route_readyz(struct hconn *c, const char *rest)
{
    (void)rest;
    struct daemon *d = c->srv->d;
    size_t queue = 0;
    uint64_t errors = 0;
    store_stats(d->store, &queue, &errors);
    struct store_health h;
    store_health(d->store, &h);
    char why_store[200];
    snprintf(why_store, sizeof(why_store), "store degraded: %s",
             h.reason[0] != '\0' ? h.reason : "unavailable");
    const char *why = d->draining ? "shutting down"
                      : d->conf == NULL ? "no configuration"
                      : h.degraded ? why_store
                      : queue >= STORE_QUEUE_MAX ? "the store's write queue is full"
                                                 : NULL;
    if (why != NULL) {
        http_respond_json(c, 503,
                     json_pack("{s:s, s:s, s:I, s:I}", "status", "unavailable", "reason", why,
                               "store_queue", (json_int_t)queue, "store_spooled_bytes",
                               (json_int_t)h.spooled_bytes),
                     NULL);
        return;
    }
    http_respond_json(c, 200,
                 json_pack("{s:s, s:I, s:I, s:I}", "status", "ready", "checks",
                           (json_int_t)d->nchecks, "store_queue", (json_int_t)queue,
                           "store_write_errors", (json_int_t)errors),
                 NULL);
}

/* GET /metrics: the Prometheus text, rendered at most once a second. */
static void route_metrics(struct hconn *c, const char *rest)
{
    (void)rest;
    struct http_server *s = c->srv;
    uint64_t now = uv_now(s->d->loop);
    if (s->metrics == NULL || now - s->metrics_at >= METRICS_CACHE_MS) {
        uint64_t t0 = uv_hrtime();
        struct metrics_cache *m = s->metrics;
        if (m != NULL && m->refs == 1) {
            /* No write holds the last render: write over it. Its pages are
             * mapped already; a fresh 20 MB buffer costs more in page
             * faults than the rendering itself. */
            m->buf.len = 0;
            s->metrics = NULL;
        } else if ((m = calloc(1, sizeof(*m))) != NULL) {
            m->buf = s->spare;
            m->buf.len = 0;
            memset(&s->spare, 0, sizeof(s->spare));
        }
        if (m == NULL || metrics_render(s->d, &m->buf) < 0) {
            if (m != NULL) {
                free(m->buf.data);
            }
            free(m);
            http_respond_error(c, 500, NULL, "out of memory");
            return;
        }
        m->refs = 1;
        m->spare = &s->spare;
        char us[24], bytes[24];
        snprintf(us, sizeof(us), "%llu", (unsigned long long)((uv_hrtime() - t0) / 1000));
        snprintf(bytes, sizeof(bytes), "%zu", m->buf.len);
        log_debug(LOG_KV("render_us", us, "bytes", bytes), "metrics rendered in %s us", us);
        metrics_unref(s->metrics);
        s->metrics = m;
        s->metrics_at = now;
    }
    send_response(c, 200, "text/plain; version=0.0.4; charset=utf-8", s->metrics->buf.data,
                  s->metrics->buf.len, NULL, s->metrics);
}

/* A heartbeat, as Healthchecks.io's ping API has it: /hb/TOKEN (or
 * /ping/TOKEN), then /start, /fail, /log or /0../255, a trailing slash and
 * ?rid=UUID allowed. The body is kept cut to daemon.ping-body-max (say so in
 * Ping-Body-Limit); a longer one is read and dropped, never refused. */
static void route_heartbeat(struct hconn *c, const char *rest)
{
    /* route() ended the path at the '?': the query follows that NUL. */
    size_t plen = strlen(c->url);
    const char *query = plen < c->url_len ? c->url + plen + 1 : "";
    struct check_ping p;
    char why[160];
    int rc = check_ping_parse(rest, query, &p, why, sizeof(why));
    if (rc == -EINVAL) {
        http_respond_error(c, 400, NULL, "%s", why);
        return;
    }
    if (rc < 0) {
        http_respond_error(c, 404, NULL, "no such route: expected /hb/TOKEN, then nothing, /start, "
                                    "/fail, /log or an exit status 0-255");
        return;
    }
    p.body = c->body;
    p.body_len = c->body_len;
    p.body_total = c->body_seen;
    struct daemon *d = c->srv->d;
    struct check *hb = check_heartbeat_find(d->checks, d->nchecks, p.token);
    if (hb == NULL || check_heartbeat_ping(&d->check_env, hb, &p) < 0) {
        http_respond_error(c, 404, NULL, "no heartbeat check has that token");
        return;
    }
    char limit[64];
    snprintf(limit, sizeof(limit), "Ping-Body-Limit: %zu\r\n", c->body_keep);
    http_respond(c, 200, "text/plain; charset=utf-8", "OK\n", 3, limit);
}

/* Who may call a route, checked by the router unless said otherwise. */
enum route_auth {
    AUTH_NONE,
    AUTH_APP,       /* the app's deploy-token or deploy-secret (or the daemon's);
                       checked by the handler once the body names the app */
    AUTH_GITHUB,    /* X-Hub-Signature-256 with daemon.github-secret; the route
                       is off (404) while no secret is set */
};

#define METHOD(m) ((uint64_t)1 << (m))

/* One route: which requests it takes and what the router checks first. */
struct route {
    const char *path;           /* the whole path, or its start with prefix */
    bool prefix;                /* handler gets the rest of the path */
    uint64_t methods;           /* METHOD(HTTP_...) bits */
    const char *allow;          /* Allow header of the 405 */
    const char *wrong_method;   /* text of the 405 */
    const char *body;           /* takes a body: text of the 411 without a
                                   Content-Length (or chunks); NULL: no body */
    size_t body_keep;           /* > 0: a body is cut to this many bytes,
                                   never refused for its size */
    enum route_auth auth;
    bool reserve;               /* served on a reserved slot (pings, scrapes,
                                   health): cheap, and must not be starved */
    void (*handler)(struct hconn *c, const char *rest);
};

/* Every route of the server, tried in order; docs/http.md describes them. */
static const struct route routes[] = {
    {.path = "/healthz",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/healthz takes GET",
     .reserve = true,
     .handler = route_healthz},
    {.path = "/readyz",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/readyz takes GET",
     .reserve = true,
     .handler = route_readyz},
    {.path = "/metrics",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/metrics takes GET",
     .reserve = true,
     .handler = route_metrics},
    {.path = "/hb/",
     .prefix = true,
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_POST) | METHOD(HTTP_HEAD),
     .allow = "GET, POST, HEAD",
     .wrong_method = "heartbeats take GET or POST",
     .body_keep = CHECK_HB_BODY_MAX,
     .reserve = true,
     .handler = route_heartbeat},
    {.path = "/ping/",          /* Healthchecks.io's own path */
     .prefix = true,
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_POST) | METHOD(HTTP_HEAD),
     .allow = "GET, POST, HEAD",
     .wrong_method = "heartbeats take GET or POST",
     .body_keep = CHECK_HB_BODY_MAX,
     .reserve = true,
     .handler = route_heartbeat},
    {.path = "/api/v1/deploys",
     .methods = METHOD(HTTP_POST),
     .allow = "POST",
     .wrong_method = "/api/v1/deploys takes POST",
     .body = "a deploy needs a Content-Length",
     .auth = AUTH_APP,
     .handler = http_route_deploys},
    {.path = "/api/v1/deploys/",
     .prefix = true,
     .methods = METHOD(HTTP_GET),
     .allow = "GET",
     .wrong_method = "/api/v1/deploys/ID takes GET",
     .auth = AUTH_APP,
     .handler = http_route_deploy_get},
    {.path = "/webhooks/github",
     .methods = METHOD(HTTP_POST),
     .allow = "POST",
     .wrong_method = "/webhooks/github takes POST",
     .body = "a webhook needs a Content-Length",
     .auth = AUTH_GITHUB,
     .handler = http_route_github},
};

/* The route of the path's first len bytes, or NULL. */
static const struct route *route_find(const char *path, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        const struct route *r = &routes[i];
        size_t rl = strlen(r->path);
        if ((r->prefix ? len >= rl : len == rl) && strncmp(path, r->path, rl) == 0) {
            return r;
        }
    }
    return NULL;
}

/* Refuse the request in c before its body is read: the answer is given by
 * parse_more, then the connection closes. Always -1 (stop parsing). */
static int refuse(struct hconn *c, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(struct hconn *c, int status, const char *extra, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->refused_why, sizeof(c->refused_why), fmt, ap);
    va_end(ap);
    snprintf(c->refused_extra, sizeof(c->refused_extra), "%s", extra != NULL ? extra : "");
    c->refused_status = status;
    if (status == 503) {
        c->srv->st.shed_total++;
    }
    return -1;
}

/* c's body buffer grown to cap bytes within the server's budget for the
 * bodies of all connections. 0, or refuse()'s -1 (503 past the budget; 413
 * out of memory). */
static int body_grow(struct hconn *c, size_t cap)
{
    struct http_server *s = c->srv;
    if (s->body_bytes - c->body_cap + cap > HTTP_MAX_BUFFERED_BYTES) {
        return refuse(c, 503, "Retry-After: 1\r\n",
                      "the server holds too many request bodies at once: retry shortly");
    }
    char *b = realloc(c->body, cap);
    if (b == NULL) {
        c->too_big = true;
        c->too_big_status = 413;
        return -1;
    }
    s->body_bytes = s->body_bytes - c->body_cap + cap;
    c->body = b;
    c->body_cap = cap;
    return 0;
}

/* Room for a declared body of length bytes, exactly, taken at once. */
static int body_expect(struct hconn *c, size_t length)
{
    return length + 1 <= c->body_cap ? 0 : body_grow(c, length + 1);
}

/* What the headers alone decide, before any byte of the body is read: a
 * reserved slot serves only its routes; a body is refused where the route
 * takes none, where it is too long, and where the credentials the headers
 * carry are wrong already. 0 to go on, or refuse()'s -1. Requests without a
 * body are left to route(), which answers the same and keeps the
 * connection. */
static int check_head(struct hconn *c, bool has_body, uint64_t length, bool has_length)
{
    const struct route *r = c->route;
    if (c->reserved && (r == NULL || !r->reserve)) {
        return refuse(c, 503, "Retry-After: 1\r\n",
                      "too many connections: this one may only ping, scrape or check health");
    }
    if (!has_body) {
        return 0;
    }
    if (r == NULL) {
        return refuse(c, 404, NULL, "no such route");
    }
    unsigned m = c->parser.method;
    if (m >= 64 || (r->methods & METHOD(m)) == 0) {
        char allow[64];
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
        return refuse(c, 405, allow, "%s", r->wrong_method);
    }
    if (r->auth == AUTH_GITHUB && c->srv->d->conf->daemon.github_secret == NULL) {
        return refuse(c, 404, NULL, "the GitHub webhook is off: set daemon.github-secret");
    }
    if (r->body == NULL && r->body_keep == 0) {
        return refuse(c, 413, NULL, "%s takes no request body", r->path);
    }
    if (has_length && length > HTTP_MAX_BODY_BYTES && r->body_keep == 0) {
        return refuse(c, 413, NULL, "request body over 1 MiB");
    }
    const char *why = r->auth == AUTH_APP ? http_deploy_refused_early(c) : NULL;
    if (why != NULL) {
        return refuse(c, 401, "WWW-Authenticate: Bearer\r\n", "%s", why);
    }
    if (r->auth == AUTH_GITHUB && !c->hdr_set[H_HUB_SIGNATURE]) {
        return refuse(c, 401, NULL, "X-Hub-Signature-256 is missing or does not match the "
                                    "body and daemon.github-secret");
    }
    if (has_length && r->body_keep == 0) {
        /* A declared length takes its room in the budget now, whole: a
         * body either fits or is answered 503 before a byte of it is read,
         * and bodies arriving side by side never crowd each other out
         * halfway through. */
        return body_expect(c, (size_t)length);
    }
    return 0;
}

/* Answer the request in c: find its route, check the method, the body and
 * who asks, in that order, then run the handler. */
static void route(struct hconn *c)
{
    struct http_server *s = c->srv;
    s->st.requests_total++;
    char *path = c->url;
    char *q = strchr(path, '?');
    if (q != NULL) {
        *q = '\0';
    }
    const struct route *r = route_find(path, strlen(path));
    if (r == NULL) {
        http_respond_error(c, 404, NULL, "no such route: %s", path);
        return;
    }
    unsigned m = c->parser.method;
    if (m >= 64 || (r->methods & METHOD(m)) == 0) {
        char allow[64];
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
        http_respond_error(c, 405, allow, "%s", r->wrong_method);
        return;
    }
    const char *github_secret =
        r->auth == AUTH_GITHUB ? s->d->conf->daemon.github_secret : NULL;
    if (r->auth == AUTH_GITHUB && github_secret == NULL) {
        http_respond_error(c, 404, NULL, "the GitHub webhook is off: set daemon.github-secret");
        return;
    }
    if (r->body != NULL && !c->sized) {
        c->keep_alive = false;  /* whatever follows cannot be told from a body */
        http_respond_error(c, 411, NULL, "%s", r->body);
        return;
    }
    if (r->auth == AUTH_GITHUB &&
        (!c->hdr_set[H_HUB_SIGNATURE] ||
         !http_body_signed(c, c->hdr[H_HUB_SIGNATURE], github_secret, NULL))) {
        http_respond_error(c, 401, NULL, "X-Hub-Signature-256 is missing or does not match the "
                                    "body and daemon.github-secret");
        return;
    }
    r->handler(c, path + (r->prefix ? strlen(r->path) : strlen(path)));
}

/* --- parsing --- */

static struct hconn *of(http_parser *p)
{
    return p->data;
}

/* Count header bytes; false (and the request marked) past the limit. */
static bool count_header(struct hconn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > HTTP_MAX_HEADER_BYTES) {
        c->too_big = true;
        c->too_big_status = 431;
        return false;
    }
    return true;
}

static int on_message_begin(http_parser *p)
{
    struct hconn *c = of(p);
    reset_request(c);
    arm(c, c->reserved ? HTTP_RESERVED_HEADER_TIMEOUT_MS : HTTP_HEADER_TIMEOUT_MS);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct hconn *c = of(p);
    if (!count_header(c, n) || c->url_len + n > URL_MAX) {
        c->too_big = true;
        c->too_big_status = 431;
        return 1;
    }
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct hconn *c = of(p);
    if (!count_header(c, n)) {
        return 1;
    }
    if (c->in_value) {
        c->in_value = false;
        c->field_len = 0;
    }
    for (size_t i = 0; i < n && c->field_len + 1 < sizeof(c->field); i++) {
        char ch = at[i];
        c->field[c->field_len++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    c->field[c->field_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct hconn *c = of(p);
    if (!count_header(c, n)) {
        return 1;
    }
    if (!c->in_value) {
        c->in_value = true;
        c->cur = H_NONE;
        for (int i = 0; i < H_COUNT; i++) {
            if (strcmp(c->field, hdr_names[i]) == 0) {
                c->te_repeated = c->te_repeated || (i == H_TRANSFER_ENCODING && c->hdr_set[i]);
                c->cur = (enum hdr)i;
                c->hdr_set[i] = true;
                c->hdr[i][0] = '\0';
            }
        }
    }
    if (c->cur != H_NONE) {
        size_t have = strlen(c->hdr[c->cur]);
        size_t take = n < HEADER_VALUE_MAX - have ? n : HEADER_VALUE_MAX - have;
        memcpy(c->hdr[c->cur] + have, at, take);
        c->hdr[c->cur][have + take] = '\0';
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct hconn *c = of(p);
    arm(c, HTTP_BODY_TIMEOUT_MS);
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool has_length = (p->flags & F_CONTENTLENGTH) != 0;
    /* http-parser takes "gzip, chunked", "chunked " and a repeated header
     * as chunked; a proxy in front may not, and would read what follows
     * the body as a request of its own. Only the plain shape is framing
     * both sides agree on (Content-Length with it is refused already). */
    if (c->hdr_set[H_TRANSFER_ENCODING] &&
        (c->te_repeated || strcasecmp(c->hdr[H_TRANSFER_ENCODING], "chunked") != 0)) {
        return refuse(c, 400, NULL, "Transfer-Encoding must be chunked alone");
    }
    c->route = route_find(c->url, strcspn(c->url, "?"));
    c->body_keep = c->route != NULL ? c->route->body_keep : 0;
    if (c->route != NULL && c->route->handler == route_heartbeat && c->srv->d->conf != NULL &&
        c->srv->d->conf->daemon.ping_body_max > 0) {
        c->body_keep = c->srv->d->conf->daemon.ping_body_max;   /* daemon.ping-body-max */
    }
    c->sized = chunked || has_length;
    bool has_body = chunked || (has_length && p->content_length > 0);
    return check_head(c, has_body, p->content_length, has_length);  /* 1 would mean "no
                                                                        body" to http-parser */
}

/* Make room for n more body bytes in c, within the server's budget for
 * the bodies of all connections. 0, or refuse()'s -1. */
static int body_reserve(struct hconn *c, size_t n)
{
    if (c->body_len + n + 1 <= c->body_cap) {
        return 0;
    }
    size_t cap = c->body_cap ? c->body_cap : 4096;
    while (cap < c->body_len + n + 1) {
        cap *= 2;
    }
    return body_grow(c, cap);
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct hconn *c = of(p);
    c->body_seen += n;
    if (c->body_keep > 0 && c->body_len + n > c->body_keep) {
        n = c->body_keep - c->body_len;     /* the rest is read and dropped */
    }
    if (c->body_len + n > HTTP_MAX_BODY_BYTES) {
        c->too_big = true;
        c->too_big_status = 413;
        return 1;
    }
    if (body_reserve(c, n) < 0) {
        return 1;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct hconn *c = of(p);
    uv_timer_stop(&c->timer);
    /* A reserved slot serves one request. */
    c->keep_alive = http_should_keep_alive(p) != 0 && !c->reserved;
    /* One request at a time: the rest of the input waits for the answer. */
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = true;
    http_parser_pause(p, 1);
    route(c);
    return 0;
}

/* Parse n bytes at data, up to the end of a request; how many were used.
 * A parse error or a refusal is answered here, and the connection closes
 * after the answer. */
static size_t parse(struct hconn *c, const char *data, size_t n)
{
    size_t used = http_parser_execute(&c->parser, &c->srv->settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_OK || e == HPE_PAUSED) {
        return used;
    }
    c->keep_alive = false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = true;
    if (c->refused_status != 0) {
        http_respond_error(c, c->refused_status, c->refused_extra, "%s", c->refused_why);
    } else if (c->too_big) {
        const char *what = c->too_big_status == 431 ? "request headers over 16 KiB"
                                                    : "request body over 1 MiB";
        http_respond_error(c, c->too_big_status, NULL, "%s", what);
    } else {
        http_respond_error(c, 400, NULL, "malformed request: %s", http_errno_description(e));
    }
    return n;   /* nothing more of it is parsed */
}

/* Parse what is buffered in c->in, up to the end of a request. */
static void parse_more(struct hconn *c)
{
    if (c->in_len == 0 || c->paused || !c->open) {
        return;
    }
    size_t n = parse(c, c->in, c->in_len);
    if (n < c->in_len) {
        memmove(c->in, c->in + n, c->in_len - n);
    }
    c->in_len -= n;
    if (c->in_len == 0) {
        free(c->in);    /* reads land in the server's scratch buffer again */
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Reads land in the server's scratch buffer (consumed before the next
 * read); only a connection with unparsed input keeps a buffer of its own. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct hconn *c = h->data;
    if (c->in_len == 0) {
        *buf = uv_buf_init(c->srv->scratch, READ_CHUNK);
        return;
    }
    if (c->in_cap - c->in_len < READ_CHUNK) {
        size_t cap = c->in_len + READ_CHUNK;
        char *p = realloc(c->in, cap);
        if (p == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct hconn *c = st->data;
    if (n < 0) {
        hconn_close(c);
        return;
    }
    if (n == 0) {
        return;     /* nothing yet (EAGAIN): a length of 0 is EOF to http-parser */
    }
    if (buf->base != c->srv->scratch) {
        c->in_len += (size_t)n;
        parse_more(c);
        return;
    }
    size_t used = c->paused || !c->open ? 0 : parse(c, buf->base, (size_t)n);
    size_t left = (size_t)n - used;
    if (left > 0 && c->open && !c->lingering) {
        /* A pipelined request waits for the answer to this one. */
        char *p = malloc(left + READ_CHUNK);
        if (p == NULL) {
            hconn_close(c);
            return;
        }
        memcpy(p, buf->base + used, left);
        c->in = p;
        c->in_len = left;
        c->in_cap = left + READ_CHUNK;
    }
}

/* Whether a and b are the same client address. */
static bool same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    }
    return false;
}

/* Whether c may take a general slot: under the server's limit, and under
 * its client address's. */
static bool general_slot_free(const struct http_server *s, const struct hconn *c)
{
    if (s->st.connections - s->nreserved > HTTP_MAX_CONNECTIONS) {
        return false;
    }
    size_t mine = 0;
    for (const struct hconn *o = s->conns; o != NULL; o = o->next) {
        if (o != c && !o->reserved && same_client(&o->peer, &c->peer)) {
            mine++;
        }
    }
    return mine < HTTP_MAX_CLIENT_CONNECTIONS;
}

/* Free a reserved slot: close the oldest reserved connection that has not
 * sent a whole request yet. false when every one is busy answering. */
static bool evict_reserved(struct http_server *s, const struct hconn *except)
{
    struct hconn *victim = NULL;
    for (struct hconn *o = s->conns; o != NULL; o = o->next) {
        if (o != except && o->reserved && !o->paused && !o->lingering) {
            victim = o;     /* the list is newest first: the last is oldest */
        }
    }
    if (victim == NULL) {
        return false;
    }
    s->st.rejected_total++;
    hconn_close(victim);
    return true;
}

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *s = l->data;
    if (status < 0) {
        return;
    }
    struct hconn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error(LOG_NOKV, "http: out of memory accepting a connection");
        return;
    }
    c->srv = s;
    c->refs = 2;
    uv_tcp_init(s->d->loop, &c->tcp);
    uv_timer_init(s->d->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open = true;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->st.connections++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        hconn_close(c);
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && fdres_low(fd)) {
        /* The descriptors left are the checks': a client never takes them. */
        s->st.rejected_total++;
        hconn_close(c);
        return;
    }
    int plen = sizeof(c->peer);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &plen) < 0) {
        hconn_close(c);
        return;
    }
    uint64_t header_ms = HTTP_HEADER_TIMEOUT_MS;
    if (!general_slot_free(s, c)) {
        /* Over a limit: a reserved slot, for a ping, a scrape or a health
         * check, so one client cannot starve them. */
        if (s->nreserved >= HTTP_RESERVED_CONNECTIONS && !evict_reserved(s, c)) {
            s->st.rejected_total++;
            hconn_close(c);
            return;
        }
        c->reserved = true;
        s->nreserved++;
        header_ms = HTTP_RESERVED_HEADER_TIMEOUT_MS;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    arm(c, header_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* --- the server --- */

/* "host:port", "[v6]:port" or ":port" into sa. 0 or -EINVAL. */
static int parse_listen(const char *spec, struct sockaddr_storage *sa)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon[1] == '\0') {
        return -EINVAL;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        return -EINVAL;
    }
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host)) {
        return -EINVAL;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)sa) < 0 ? -EINVAL : 0;
    }
    if (uv_ip4_addr(hl == 0 ? "0.0.0.0" : host, (int)port, (struct sockaddr_in *)sa) == 0) {
        return 0;
    }
    /* A name ("localhost"): resolved once, at start, before the loop runs. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%ld", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL) {
        return -EINVAL;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int http_server_start(struct daemon *d, struct http_server **out, char *err, size_t errlen)
{
    const struct config *conf = d->conf;
    struct http_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = s;
    s->d = d;
    s->signatures = recent_create(SIGNATURES_KEPT, SIGNATURE_WINDOW_MS + 1000, true);
    s->deliveries = recent_create(DELIVERIES_KEPT, DELIVERY_TTL_MS, false);
    s->scratch = malloc(READ_CHUNK);
    if (s->signatures == NULL || s->deliveries == NULL || s->scratch == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_value = on_header_value;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    s->listeners = calloc(conf->daemon.nhttp + 1, sizeof(*s->listeners));
    if (s->listeners == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < conf->daemon.nhttp; i++) {
        const char *spec = conf->daemon.http[i];
        struct sockaddr_storage sa;
        if (parse_listen(spec, &sa) < 0) {
            snprintf(err, errlen, "daemon.http: cannot listen on %s", spec);
            return -EINVAL;
        }
        uv_tcp_t *l = &s->listeners[s->nlisteners++];
        uv_tcp_init(d->loop, l);
        l->data = s;
        int rc = uv_tcp_bind(l, (const struct sockaddr *)&sa,
                             sa.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
        if (rc == 0) {
            rc = uv_listen((uv_stream_t *)l, 128, on_connection);
        }
        if (rc < 0) {
            snprintf(err, errlen, "daemon.http: cannot listen on %s: %s", spec, uv_strerror(rc));
            return rc;
        }
        /* The address as bound: port 0 became a real one. */
        struct sockaddr_storage bound;
        int blen = sizeof(bound);
        char host[64] = "?", addr[96];
        int port = 0;
        if (uv_tcp_getsockname(l, (struct sockaddr *)&bound, &blen) == 0) {
            if (bound.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof(host));
                port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
                snprintf(addr, sizeof(addr), "[%s]:%d", host, port);
            } else {
                uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof(host));
                port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
                snprintf(addr, sizeof(addr), "%s:%d", host, port);
            }
        } else {
            snprintf(addr, sizeof(addr), "%s", spec);
        }
        log_info(LOG_KV("http", addr), "http listening on %s", addr);
    }
    return 0;
}

void http_server_close(struct http_server *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (!uv_is_closing((uv_handle_t *)&s->listeners[i])) {
            uv_close((uv_handle_t *)&s->listeners[i], NULL);
        }
    }
    http_deploy_waits_end(s);
    while (s->conns != NULL) {
        hconn_close(s->conns);
    }
}

void http_server_destroy(struct http_server *s)
{
    if (s == NULL) {
        return;
    }
    /* Lookups the store dropped at its close. */
    http_deploy_reqs_free(s);
    if (s->metrics != NULL) {
        s->metrics->spare = NULL;
    }
    metrics_unref(s->metrics);
    free(s->spare.data);
    free(s->listeners);
    free(s->scratch);
    recent_destroy(s->signatures);
    recent_destroy(s->deliveries);
    free(s);
}

void http_server_get_stats(const struct http_server *s, struct http_stats *out)
{
    if (s == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = s->st;
}
