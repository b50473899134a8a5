/* http.c - HTTP/1.1 on the daemon's loop, parsed by http-parser. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <http_parser.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
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
#include "deploy.h"
#include "github.h"
#include "log.h"
#include "metrics.h"
#include "recent.h"
#include "store.h"
#include "util.h"

#define URL_MAX 2048
#define HEADER_VALUE_MAX 1024
#define READ_CHUNK 65536

/* Headers the routes look at. */
enum hdr {
    H_NONE = -1,
    H_AUTHORIZATION,
    H_CONTENT_TYPE,
    H_SIGNATURE,                /* X-Shipwatch-Signature-256 */
    H_HUB_SIGNATURE,            /* X-Hub-Signature-256 (GitHub) */
    H_GITHUB_EVENT,             /* X-GitHub-Event */
    H_GITHUB_DELIVERY,          /* X-GitHub-Delivery */
    H_TIMESTAMP,                /* X-Shipwatch-Timestamp (signed with the body) */
    H_COUNT
};

static const char *const hdr_names[] = {"authorization", "content-type",
                                        "x-shipwatch-signature-256", "x-hub-signature-256",
                                        "x-github-event", "x-github-delivery",
                                        "x-shipwatch-timestamp"};

struct hconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_server *srv;
    http_parser parser;
    struct hconn *prev, *next;
    bool open;
    bool keep_alive;
    bool paused;                /* the parser stopped after a whole request */
    bool lingering;             /* answered for the last time, draining input */
    unsigned refs;              /* the handles (2), plus one per pending query */

    char *in;                   /* bytes read, not yet parsed */
    size_t in_len, in_cap;

    /* the request being read */
    char url[URL_MAX + 1];
    size_t url_len;
    size_t header_bytes;
    enum hdr cur;               /* header whose value is being read */
    bool in_value;
    char field[64];
    size_t field_len;
    char hdr[H_COUNT][HEADER_VALUE_MAX + 1];
    bool hdr_set[H_COUNT];
    char *body;
    size_t body_len, body_cap;
    size_t body_keep;           /* > 0: the route keeps this much, drops the rest */
    size_t body_seen;           /* bytes of body received, dropped ones too */
    bool sized;                 /* had a Content-Length or was chunked */
    bool too_big;               /* a limit was passed: answer then close */
    int too_big_status;
};

struct deploy_req;

/* Signed deploys: the timestamp signed with the body may be this far from
 * now, and the signatures seen within it are remembered (replays are
 * refused); GitHub deliveries handled are remembered (redeliveries are
 * answered without recording again). */
#define SIGNATURE_WINDOW_MS (300 * 1000)
#define SIGNATURES_KEPT 4096
#define DELIVERIES_KEPT 1024
#define DELIVERY_TTL_MS (7 * 24 * 3600 * 1000LL)

struct http_server {
    struct daemon *d;
    struct deploy_req *reqs;    /* deploys waiting for the store */
    struct recent *signatures;  /* X-Shipwatch-Signature-256 values used */
    struct recent *deliveries;  /* X-GitHub-Delivery ids handled */
    uv_tcp_t *listeners;
    size_t nlisteners;
    struct hconn *conns;
    struct http_stats st;
    http_parser_settings settings;
    struct metrics_cache *metrics;  /* the last render, while fresh */
    struct metrics_buf spare;       /* a released render's buffer */
    uint64_t metrics_at;            /* loop time it was rendered */
};

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

static void hconn_unref(struct hconn *c)
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
    hconn_unref(h->data);
}

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
    c->body_len = 0;
    c->body_keep = 0;
    c->body_seen = 0;
    c->too_big = false;
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

static void respond(struct hconn *c, int status, const char *type, const char *body, size_t len,
                    const char *extra)
{
    send_response(c, status, type, body, len, extra, NULL);
}

static void respond_json(struct hconn *c, int status, json_t *j, const char *extra)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL) {
        respond(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25, NULL);
        return;
    }
    size_t len = strlen(s);
    s[len] = '\n';      /* json_dumps leaves room for the NUL we overwrite */
    respond(c, status, "application/json", s, len + 1, extra);
    free(s);
}

static void respond_error(struct hconn *c, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void respond_error(struct hconn *c, int status, const char *extra, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    respond_json(c, status, json_pack("{s:s}", "error", msg), extra);
}

/* --- routes --- */

/* GET /healthz: the daemon answers. */
static void route_healthz(struct hconn *c, const char *rest)
{
    (void)rest;
    respond_json(c, 200, json_pack("{s:s}", "status", "ok"), NULL);
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
        respond_json(c, 503,
                     json_pack("{s:s, s:s, s:I, s:I}", "status", "unavailable", "reason", why,
                               "store_queue", (json_int_t)queue, "store_spooled_bytes",
                               (json_int_t)h.spooled_bytes),
                     NULL);
        return;
    }
    respond_json(c, 200,
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
            respond_error(c, 500, NULL, "out of memory");
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
 * ?rid=UUID allowed. The body is kept cut to CHECK_HB_BODY_MAX (say so in
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
        respond_error(c, 400, NULL, "%s", why);
        return;
    }
    if (rc < 0) {
        respond_error(c, 404, NULL, "no such route: expected /hb/TOKEN, then nothing, /start, "
                                    "/fail, /log or an exit status 0-255");
        return;
    }
    p.body = c->body;
    p.body_len = c->body_len;
    p.body_total = c->body_seen;
    struct daemon *d = c->srv->d;
    struct check *hb = check_heartbeat_find(d->checks, d->nchecks, p.token);
    if (hb == NULL || check_heartbeat_ping(&d->check_env, hb, &p) < 0) {
        respond_error(c, 404, NULL, "no heartbeat check has that token");
        return;
    }
    char limit[64];
    snprintf(limit, sizeof(limit), "Ping-Body-Limit: %d\r\n", CHECK_HB_BODY_MAX);
    respond(c, 200, "text/plain; charset=utf-8", "OK\n", 3, limit);
}

/* Constant-time comparison of two strings. */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* Whether header ("sha256=HEX") is the HMAC-SHA256 of stamp, a dot and
 * the body with secret (stamp NULL: of the body alone, as GitHub signs);
 * compared in constant time, hex digits in either case. */
static bool body_signed(const struct hconn *c, const char *header, const char *secret,
                        const char *stamp)
{
    if (strncmp(header, "sha256=", 7) != 0) {
        return false;
    }
    size_t pre = stamp != NULL ? strlen(stamp) + 1 : 0;
    unsigned char *msg = malloc(pre + c->body_len + 1);
    if (msg == NULL) {
        return false;
    }
    if (stamp != NULL) {
        memcpy(msg, stamp, pre - 1);
        msg[pre - 1] = '.';
    }
    if (c->body_len > 0) {
        memcpy(msg + pre, c->body, c->body_len);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    bool made = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, pre + c->body_len, mac,
                     &maclen) != NULL;
    free(msg);
    if (!made) {
        return false;
    }
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < maclen; i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    char given[2 * EVP_MAX_MD_SIZE + 1];
    size_t n = strlen(header + 7);
    if (n != 2 * maclen) {
        return false;
    }
    for (size_t i = 0; i <= n; i++) {
        char ch = header[7 + i];
        given[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    return CRYPTO_memcmp(hex, given, n) == 0;
}

/* Whether the request carries token as a bearer token, or is signed with
 * secret together with its X-Shipwatch-Timestamp (either may be NULL). */
static bool credentials_match(const struct hconn *c, const char *token, const char *secret)
{
    if (c->hdr_set[H_AUTHORIZATION] && token != NULL &&
        strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
        secret_equal(c->hdr[H_AUTHORIZATION] + 7, token)) {
        return true;
    }
    return c->hdr_set[H_SIGNATURE] && c->hdr_set[H_TIMESTAMP] && secret != NULL &&
           body_signed(c, c->hdr[H_SIGNATURE], secret, c->hdr[H_TIMESTAMP]);
}

/* The signed timestamp (unix seconds) in ms when it is within the window
 * of now; -1 when it is missing, malformed or stale. */
static int64_t signed_stamp_ms(const struct hconn *c, int64_t now_ms)
{
    const char *t = c->hdr[H_TIMESTAMP];
    if (!c->hdr_set[H_TIMESTAMP] || t[0] < '0' || t[0] > '9' || strlen(t) > 12) {
        return -1;
    }
    char *end;
    int64_t ms = (int64_t)strtoll(t, &end, 10) * 1000;
    if (*end != '\0' || ms < now_ms - SIGNATURE_WINDOW_MS || ms > now_ms + SIGNATURE_WINDOW_MS) {
        return -1;
    }
    return ms;
}

/* Whether the request may record a deploy of app (NULL: an app not in the
 * configuration): the app's own credentials, or the daemon-wide ones. A
 * signature must come with a timestamp within the window and not have been
 * used before; why says what failed, the same whether app exists or not. */
static bool deploy_authorized(struct hconn *c, const struct conf_app *app, const char **why)
{
    const struct config *conf = c->srv->d->conf;
    *why = NULL;
    if (!(app != NULL && credentials_match(c, app->deploy_token, app->deploy_secret)) &&
        !credentials_match(c, conf->daemon.deploy_token, conf->daemon.deploy_secret)) {
        return false;
    }
    if (c->hdr_set[H_AUTHORIZATION] && strncasecmp(c->hdr[H_AUTHORIZATION], "Bearer ", 7) == 0 &&
        !c->hdr_set[H_SIGNATURE]) {
        return true;
    }
    int64_t now = daemon_now_ms();
    int64_t stamp = signed_stamp_ms(c, now);
    if (stamp < 0) {
        *why = "X-Shipwatch-Timestamp is not within 300 s of now";
        return false;
    }
    if (!recent_claim(c->srv->signatures, c->hdr[H_SIGNATURE], stamp, now)) {
        *why = "this signature was used already: sign each request anew";
        return false;
    }
    return true;
}

/* A string member of o into *out (NULL when absent). false after
 * answering 400 when it is there but not a string. */
static bool str_member(struct hconn *c, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (!json_is_string(v)) {
        respond_error(c, 400, NULL, "%s: expected a string", key);
        return false;
    }
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v)) {
        respond_error(c, 400, NULL, "%s: contains a NUL character", key);
        return false;
    }
    return true;
}

/* started_at / finished_at: RFC 3339 text or unix seconds. */
static bool time_member(struct hconn *c, json_t *o, const char *key, int64_t *ms)
{
    json_t *v = json_object_get(o, key);
    *ms = 0;
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = (int64_t)json_integer_value(v) * 1000;
        return true;
    }
    if (json_is_string(v) && civil_parse_rfc3339(json_string_value(v), ms) == 0 && *ms >= 0) {
        return true;
    }
    respond_error(c, 400, NULL, "%s: expected an RFC 3339 time or unix seconds", key);
    return false;
}

/* A deploy waiting for the lookup of its id among the stored ones. */
struct deploy_req {
    struct hconn *c;
    json_t *doc;                /* owns the strings dep points to */
    struct deploy dep;
    char delivery[RECENT_KEY_MAX + 1];  /* the GitHub delivery, forgotten on failure */
    struct deploy_req *prev, *next;
};

static void deploy_req_free(struct http_server *s, struct deploy_req *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        s->reqs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    json_decref(r->doc);
    hconn_unref(r->c);
    free(r);
}

static void deploy_answer(struct hconn *c, const struct deploy *dep, int status)
{
    respond_json(c, status,
                 json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)dep->id, "app",
                           dep->app, "env", dep->env, "version", dep->version, "status",
                           dep->status),
                 NULL);
}

/* The store's answer for r's id: record r's deploy, new or as an update
 * of the deploy found (the one this daemon recorded lately comes first). */
static void on_deploy_lookup(int err, const struct deploy *found, size_t n, void *arg)
{
    struct deploy_req *r = arg;
    struct hconn *c = r->c;
    int rc = -ECANCELED;        /* the client went away: nothing recorded */
    if (c->open) {
        char why[256];
        const struct deploy *stored = deploy_recent(c->srv->d, r->dep.ext_id);
        if (stored == NULL && err < 0) {
            rc = err;
            respond_error(c, 503, NULL, "the store cannot be read: %s", strerror(-err));
            goto done;
        }
        if (stored == NULL && n > 0) {
            stored = &found[0];
        }
        /* The same id again: update that deploy, forward only. */
        enum deploy_outcome outcome;
        rc = deploy_upsert(c->srv->d, &r->dep, stored, &outcome, why, sizeof(why));
        if (rc < 0) {
            respond_error(c, rc == -EINVAL ? 400 : rc == -EEXIST ? 409 : 503, NULL, "%s", why);
        } else {
            deploy_answer(c, &r->dep, outcome == DEPLOY_CREATED ? 201 : 200);
        }
    }
done:
    if (rc < 0 && r->delivery[0] != '\0') {
        recent_forget(c->srv->deliveries, r->delivery);
    }
    deploy_req_free(c->srv, r);
}

static void record_deploy(struct hconn *c, json_t *doc, const struct deploy *dep,
                          const char *delivery);

/* POST /api/v1/deploys: a deploy as JSON, authorized by its app's
 * deploy-token or deploy-secret once the body names the app. */
static void route_deploys(struct hconn *c, const char *rest)
{
    (void)rest;
    struct daemon *d = c->srv->d;
    if (!c->hdr_set[H_CONTENT_TYPE] ||
        strncasecmp(c->hdr[H_CONTENT_TYPE], "application/json", 16) != 0) {
        respond_error(c, 415, NULL, "expected Content-Type: application/json");
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(c->body != NULL ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES,
                             &jerr);
    if (doc == NULL) {
        respond_error(c, 400, NULL, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        respond_error(c, 400, NULL, "expected a JSON object");
        return;
    }
    struct deploy dep = {.source = "api"};
    const char *source = NULL;
    if (!str_member(c, doc, "app", &dep.app) || !str_member(c, doc, "env", &dep.env) ||
        !str_member(c, doc, "version", &dep.version) ||
        !str_member(c, doc, "commit", &dep.commit) ||
        !str_member(c, doc, "author", &dep.author) || !str_member(c, doc, "url", &dep.url) ||
        !str_member(c, doc, "status", &dep.status) ||
        !str_member(c, doc, "description", &dep.description) ||
        !str_member(c, doc, "id", &dep.ext_id) || !str_member(c, doc, "source", &source) ||
        !str_member(c, doc, "ref", &dep.ref) ||
        !time_member(c, doc, "started_at", &dep.started_ms) ||
        !time_member(c, doc, "finished_at", &dep.finished_ms)) {
        json_decref(doc);
        return;
    }
    if (source != NULL) {
        dep.source = source;
    }
    char why[256];
    if (deploy_validate(&dep, why, sizeof(why)) < 0) {
        respond_error(c, 400, NULL, "%s", why);
        json_decref(doc);
        return;
    }
    const struct conf_app *app = config_find_app(d->conf, dep.app);
    /* Credentials first: an app that does not exist and a wrong token get
     * the same answer, so app names cannot be probed. dep's strings live in
     * doc: answer before letting it go. */
    const char *refused;
    if (!deploy_authorized(c, app, &refused)) {
        respond_error(c, 401, "WWW-Authenticate: Bearer\r\n", "%s",
                      refused != NULL ? refused
                                      : "a deploy needs its app's deploy-token (or "
                                        "daemon.deploy-token) as a bearer token, or an "
                                        "X-Shipwatch-Signature-256 of X-Shipwatch-Timestamp "
                                        "and the body made with its deploy-secret (or "
                                        "daemon.deploy-secret)");
        json_decref(doc);
        return;
    }
    if (app == NULL && !d->conf->daemon.auto_register_apps) {
        respond_error(c, 404, NULL, "no app named %s in the configuration", dep.app);
        json_decref(doc);
        return;
    }
    record_deploy(c, doc, &dep, NULL);
}

/* Record dep (its strings in doc, which passes to this call): a new deploy,
 * or, when its ext_id is known already, an update of that one; delivery
 * (or NULL) is forgotten if it fails. */
static void record_deploy(struct hconn *c, json_t *doc, const struct deploy *depp,
                          const char *delivery)
{
    struct daemon *d = c->srv->d;
    struct deploy dep = *depp;
    struct deploy_req *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        json_decref(doc);
        respond_error(c, 500, NULL, "out of memory");
        return;
    }
    r->c = c;
    r->doc = doc;
    r->dep = dep;
    snprintf(r->delivery, sizeof(r->delivery), "%s", delivery != NULL ? delivery : "");
    c->refs++;
    r->next = c->srv->reqs;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    c->srv->reqs = r;
    if (dep.ext_id == NULL || deploy_recent(d, dep.ext_id) != NULL) {
        on_deploy_lookup(0, NULL, 0, r);
        return;
    }
    struct store_deploy_query q = {.ext_id = dep.ext_id, .limit = 1};
    int rc = store_deploys(d->store, &q, on_deploy_lookup, r);
    if (rc < 0) {
        on_deploy_lookup(rc, NULL, 0, r);
    }
}

/* The app of a repository: the one whose github-repo is its full name, else
 * the one named as the repository. */
static const struct conf_app *app_of_repo(const struct config *conf, const char *full,
                                          const char *name)
{
    for (size_t i = 0; full != NULL && i < conf->napps; i++) {
        if (conf->apps[i].github_repo != NULL && strcmp(conf->apps[i].github_repo, full) == 0) {
            return &conf->apps[i];
        }
    }
    return name != NULL ? config_find_app(conf, name) : NULL;
}

/* POST /webhooks/github: deployment and deployment_status events
 * (github.c reads them); a delivery handled already is answered again
 * without being recorded again. */
static void route_github(struct hconn *c, const char *rest)
{
    (void)rest;
    struct daemon *d = c->srv->d;
    if (!c->hdr_set[H_CONTENT_TYPE] ||
        strncasecmp(c->hdr[H_CONTENT_TYPE], "application/json", 16) != 0) {
        respond_error(c, 415, NULL, "set the webhook's content type to application/json");
        return;
    }
    const char *event = c->hdr_set[H_GITHUB_EVENT] ? c->hdr[H_GITHUB_EVENT] : "";
    const char *delivery = c->hdr_set[H_GITHUB_DELIVERY] ? c->hdr[H_GITHUB_DELIVERY] : "";
    if (!recent_claim(c->srv->deliveries, delivery, daemon_now_ms(), daemon_now_ms())) {
        respond_json(c, 200, json_pack("{s:s, s:s}", "ignored", "redelivery", "delivery",
                                       delivery), NULL);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(c->body != NULL ? c->body : "", c->body_len, 0, &jerr);
    struct github_event ev;
    char why[256];
    int rc = -EINVAL;
    if (doc == NULL) {
        snprintf(why, sizeof(why), "malformed JSON at byte %d: %s", jerr.position, jerr.text);
    } else if (!json_is_object(doc)) {
        snprintf(why, sizeof(why), "expected a JSON object");
    } else {
        rc = github_event_read(event, doc, &ev, why, sizeof(why));
    }
    const struct conf_app *app = NULL;
    if (rc == 0 && ev.action == GITHUB_DEPLOY) {
        app = app_of_repo(d->conf, ev.repo_full, ev.repo_name);
        if (app == NULL && (!d->conf->daemon.auto_register_apps || ev.repo_name == NULL)) {
            recent_forget(c->srv->deliveries, delivery);
            respond_error(c, 404, NULL, "no app for repository %s: name one with github-repo",
                          ev.repo_full != NULL ? ev.repo_full : "(unnamed)");
            json_decref(doc);
            return;
        }
        /* A copy in doc: a reload may free the configuration before the
         * store answers the lookup. An app of its own for the repository
         * when auto-register-apps is on. */
        json_object_set_new(doc, "shipwatch_app", json_string(app != NULL ? app->name
                                                                         : ev.repo_name));
        ev.dep.app = json_string_value(json_object_get(doc, "shipwatch_app"));
        rc = deploy_validate(&ev.dep, why, sizeof(why));
    }
    if (rc < 0) {
        recent_forget(c->srv->deliveries, delivery);
        respond_error(c, 400, NULL, "%s", why);
    } else if (ev.action == GITHUB_PING) {
        respond_json(c, 200, json_pack("{s:b}", "ok", 1), NULL);
    } else if (ev.action == GITHUB_IGNORE) {
        respond_json(c, 202, json_pack("{s:s}", "ignored", ev.ignored), NULL);
    } else {
        record_deploy(c, doc, &ev.dep, delivery);
        return;
    }
    json_decref(doc);
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
    void (*handler)(struct hconn *c, const char *rest);
};

/* Every route of the server, tried in order; docs/http.md describes them. */
static const struct route routes[] = {
    {.path = "/healthz",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/healthz takes GET",
     .handler = route_healthz},
    {.path = "/readyz",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/readyz takes GET",
     .handler = route_readyz},
    {.path = "/metrics",
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_HEAD),
     .allow = "GET, HEAD",
     .wrong_method = "/metrics takes GET",
     .handler = route_metrics},
    {.path = "/hb/",
     .prefix = true,
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_POST) | METHOD(HTTP_HEAD),
     .allow = "GET, POST, HEAD",
     .wrong_method = "heartbeats take GET or POST",
     .body_keep = CHECK_HB_BODY_MAX,
     .handler = route_heartbeat},
    {.path = "/ping/",          /* Healthchecks.io's own path */
     .prefix = true,
     .methods = METHOD(HTTP_GET) | METHOD(HTTP_POST) | METHOD(HTTP_HEAD),
     .allow = "GET, POST, HEAD",
     .wrong_method = "heartbeats take GET or POST",
     .body_keep = CHECK_HB_BODY_MAX,
     .handler = route_heartbeat},
    {.path = "/api/v1/deploys",
     .methods = METHOD(HTTP_POST),
     .allow = "POST",
     .wrong_method = "/api/v1/deploys takes POST",
     .body = "a deploy needs a Content-Length",
     .auth = AUTH_APP,
     .handler = route_deploys},
    {.path = "/webhooks/github",
     .methods = METHOD(HTTP_POST),
     .allow = "POST",
     .wrong_method = "/webhooks/github takes POST",
     .body = "a webhook needs a Content-Length",
     .auth = AUTH_GITHUB,
     .handler = route_github},
};

/* The route of path, or NULL. */
static const struct route *route_find(const char *path)
{
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        const struct route *r = &routes[i];
        if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0
                      : strcmp(path, r->path) == 0) {
            return r;
        }
    }
    return NULL;
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
    const struct route *r = route_find(path);
    if (r == NULL) {
        respond_error(c, 404, NULL, "no such route: %s", path);
        return;
    }
    unsigned m = c->parser.method;
    if (m >= 64 || (r->methods & METHOD(m)) == 0) {
        char allow[64];
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
        respond_error(c, 405, allow, "%s", r->wrong_method);
        return;
    }
    const char *github_secret =
        r->auth == AUTH_GITHUB ? s->d->conf->daemon.github_secret : NULL;
    if (r->auth == AUTH_GITHUB && github_secret == NULL) {
        respond_error(c, 404, NULL, "the GitHub webhook is off: set daemon.github-secret");
        return;
    }
    if (r->body != NULL && !c->sized) {
        c->keep_alive = false;  /* whatever follows cannot be told from a body */
        respond_error(c, 411, NULL, "%s", r->body);
        return;
    }
    if (r->auth == AUTH_GITHUB &&
        (!c->hdr_set[H_HUB_SIGNATURE] ||
         !body_signed(c, c->hdr[H_HUB_SIGNATURE], github_secret, NULL))) {
        respond_error(c, 401, NULL, "X-Hub-Signature-256 is missing or does not match the "
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
    arm(c, HTTP_HEADER_TIMEOUT_MS);
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
    const struct route *r = route_find(c->url);
    c->body_keep = r != NULL ? r->body_keep : 0;
    if (has_length && p->content_length > HTTP_MAX_BODY_BYTES && c->body_keep == 0) {
        c->too_big = true;
        c->too_big_status = 413;
        return -1;   /* 1 would mean "no body" to http-parser */
    }
    c->sized = chunked || has_length;
    return 0;
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
    if (c->body_len + n + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + n + 1) {
            cap *= 2;
        }
        char *b = realloc(c->body, cap);
        if (b == NULL) {
            c->too_big = true;
            c->too_big_status = 413;
            return 1;
        }
        c->body = b;
        c->body_cap = cap;
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
    c->keep_alive = http_should_keep_alive(p) != 0;
    /* One request at a time: the rest of the input waits for the answer. */
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = true;
    http_parser_pause(p, 1);
    route(c);
    return 0;
}

/* Parse what is buffered, up to the end of a request. */
static void parse_more(struct hconn *c)
{
    if (c->in_len == 0 || c->paused || !c->open) {
        return;
    }
    size_t n = http_parser_execute(&c->parser, &c->srv->settings, c->in, c->in_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (n < c->in_len) {
        memmove(c->in, c->in + n, c->in_len - n);
    }
    c->in_len -= n;
    if (e == HPE_OK || e == HPE_PAUSED) {
        return;
    }
    /* A parse error: answer what can be answered, then close. */
    c->keep_alive = false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = true;
    if (c->too_big) {
        const char *what = c->too_big_status == 431 ? "request headers over 16 KiB"
                                                    : "request body over 1 MiB";
        respond_error(c, c->too_big_status, NULL, "%s", what);
    } else {
        respond_error(c, 400, NULL, "malformed request: %s", http_errno_description(e));
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct hconn *c = h->data;
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
    c->in_len += (size_t)n;
    parse_more(c);
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
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 ||
        s->st.connections > HTTP_MAX_CONNECTIONS) {
        if (s->st.connections > HTTP_MAX_CONNECTIONS) {
            s->st.rejected_total++;
        }
        hconn_close(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    arm(c, HTTP_HEADER_TIMEOUT_MS);
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
    if (s->signatures == NULL || s->deliveries == NULL) {
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
    while (s->reqs != NULL) {
        deploy_req_free(s, s->reqs);
    }
    if (s->metrics != NULL) {
        s->metrics->spare = NULL;
    }
    metrics_unref(s->metrics);
    free(s->spare.data);
    free(s->listeners);
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
