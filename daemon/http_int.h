/* http_int.h - what the HTTP server (http.c) shares with its deploy and
 * GitHub handlers (http_deploy.c); not for use outside those two files.
 *
 * A connection (struct hconn) belongs to http.c: it is freed when its
 * handles are closed and its last reference goes (http_conn_unref). A
 * handler answers the request once, through http_respond*; the body it
 * reads (c->body, c->body_len) is valid until that answer is written. A
 * deploy waiting for the store holds a reference to its connection and is
 * freed by http_deploy.c (http_deploy_reqs_free at the server's end); so
 * does a GET of a deploy, which while held for a verdict also owns the
 * connection's timer (c->timer) until it is answered. */
#ifndef SHIPWATCH_HTTP_INT_H
#define SHIPWATCH_HTTP_INT_H

#include <http_parser.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "http.h"
#include "metrics.h"

struct daemon;
struct recent;
struct metrics_cache;
struct route;

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
    H_TRANSFER_ENCODING,        /* framing: "chunked" alone, once */
    H_COUNT
};


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
    bool te_repeated;           /* Transfer-Encoding came more than once */
    char *body;
    size_t body_len, body_cap;
    size_t body_keep;           /* > 0: the route keeps this much, drops the rest */
    size_t body_seen;           /* bytes of body received, dropped ones too */
    bool sized;                 /* had a Content-Length or was chunked */
    bool too_big;               /* a limit was passed: answer then close */
    int too_big_status;
    const struct route *route;  /* of the request, once its headers are in */

    /* refused before its body was read (answered, then closed) */
    int refused_status;         /* 0: not refused */
    char refused_extra[96];     /* more header lines of that answer */
    char refused_why[256];

    /* who connected, and how */
    struct sockaddr_storage peer;
    bool reserved;              /* holds a reserved slot: one ping, scrape or
                                   health request, then closed */
};

struct deploy_req;
struct deploy_get;

/* GET /api/v1/deploys/ID?wait=SECONDS: the longest wait, how many requests
 * may be held waiting for a verdict at once (each also holds its
 * connection, within the connection limits), and how many verdicts landed
 * lately are remembered for a read of the store that may not show them. */
#define DEPLOY_WAIT_MAX_S 600
#define DEPLOY_WAITS_MAX 256
#define DEPLOY_VERDICTS_KEPT 64

/* Signed deploys: the timestamp signed with the body may be this far from
 * now, and the signatures seen within it are remembered (replays are
 * refused); GitHub deliveries handled are remembered (redeliveries are
 * answered without recording again). */
#define SIGNATURE_WINDOW_MS (300 * 1000)
#define SIGNATURES_KEPT 4096
#define DELIVERIES_KEPT 1024
#define DELIVERY_TTL_MS (7 * 24 * 3600 * 1000LL)

/* The server's descriptor and memory budget (see http.h for the limits). */
struct http_server {
    struct daemon *d;
    struct deploy_req *reqs;    /* deploys waiting for the store */
    struct deploy_get *gets;    /* GETs of a deploy: reading the store, or
                                   held until its verdict lands */
    size_t nwaits;              /* of gets, those held */
    int64_t verdict_ids[DEPLOY_VERDICTS_KEPT];  /* verdicts landed lately */
    json_t *verdicts[DEPLOY_VERDICTS_KEPT];     /* their fields, owned */
    size_t verdict_next;
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
    size_t nreserved;               /* open connections on reserved slots */
    size_t body_bytes;              /* request body buffers of every connection */
    char *scratch;                  /* READ_CHUNK bytes every read lands in
                                       first; only leftovers of a paused
                                       connection are copied to its c->in */
};

/* Answer the current request with body (len bytes, copied); extra is more
 * header lines ("Allow: GET\r\n") or NULL. */
void http_respond(struct hconn *c, int status, const char *type, const char *body, size_t len,
                  const char *extra);

/* Answer with j as JSON; j (a new reference, or NULL: a 500) passes to the call. */
void http_respond_json(struct hconn *c, int status, json_t *j, const char *extra);

/* Answer {"error": printf text}, cut at 511 bytes, its invalid UTF-8 written
 * as \xNN. */
void http_respond_error(struct hconn *c, int status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Drop one reference to c; the last frees it. */
void http_conn_unref(struct hconn *c);

/* Whether header ("sha256=HEX") is the HMAC-SHA256 of c's body (after
 * stamp and a dot, when stamp is not NULL) with secret; constant time. */
bool http_body_signed(const struct hconn *c, const char *header, const char *secret,
                      const char *stamp);

/* Whether the headers alone already refuse a deploy: no credential at all,
 * a bearer token no app (nor the daemon) has, or a signature whose
 * timestamp is out of the window. NULL, or the text of the 401. */
const char *http_deploy_refused_early(const struct hconn *c);

/* POST /api/v1/deploys and POST /webhooks/github. */
void http_route_deploys(struct hconn *c, const char *rest);
void http_route_github(struct hconn *c, const char *rest);

/* GET /api/v1/deploys/ID: a deploy's status and verdict, ?wait=SECONDS
 * holding the answer until the verdict is no longer pending. */
void http_route_deploy_get(struct hconn *c, const char *rest);

/* Answer every GET held for a verdict with the state it has (the server
 * is closing). */
void http_deploy_waits_end(struct http_server *s);

/* Free the deploys and GETs still waiting for the store (after the store
 * closed), and the verdicts remembered. */
void http_deploy_reqs_free(struct http_server *s);

#endif
