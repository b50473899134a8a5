/* http.h - the daemon's HTTP/1.1 side: /metrics, /healthz, /readyz,
 * /api/v1/deploys and heartbeats (docs/http.md).
 *
 * One server on the daemon's loop, listening on every daemon.http address,
 * parsing with http-parser. Keep-alive; limits on header bytes, body bytes
 * and connections; a deadline for the headers, for the body, and for an
 * idle keep-alive connection, so a slow client cannot hold one.
 *
 * Flood limits: a client address holds at most HTTP_MAX_CLIENT_CONNECTIONS
 * of the HTTP_MAX_CONNECTIONS; past either, a connection takes one of
 * HTTP_RESERVED_CONNECTIONS slots that serve one ping, scrape or health
 * request each (anything else gets 503), evicting the oldest reserved
 * connection that has not sent its request when they are all taken. A body
 * is refused as soon as the headers show it is not wanted (a route that
 * takes none, a deploy without a valid credential), and the request bodies
 * buffered by all connections together stay under HTTP_MAX_BUFFERED_BYTES
 * (503 past it). */
#ifndef SHIPWATCH_HTTP_H
#define SHIPWATCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct http_server;
struct deploy;

#define HTTP_MAX_HEADER_BYTES (16 * 1024)
#define HTTP_MAX_BODY_BYTES (1024 * 1024)
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_MAX_CLIENT_CONNECTIONS 128
#define HTTP_RESERVED_CONNECTIONS 64
#define HTTP_RESERVED_HEADER_TIMEOUT_MS 2000
#define HTTP_MAX_BUFFERED_BYTES (32 * 1024 * 1024)
#define HTTP_HEADER_TIMEOUT_MS 10000
#define HTTP_BODY_TIMEOUT_MS 30000
#define HTTP_IDLE_TIMEOUT_MS 30000

struct http_stats {
    uint64_t connections;            /* open now */
    uint64_t requests_total;
    uint64_t timeouts_total;         /* connections dropped at a deadline */
    uint64_t rejected_total;         /* closed unanswered: over every connection
                                        limit, or evicted from a reserved slot */
    uint64_t shed_total;             /* answered 503: over a connection limit
                                        or the buffered-bytes budget */
};

/* Listen on every d->conf->daemon.http address. 0 and *out, or a negative
 * errno with the reason in err. */
int http_server_start(struct daemon *d, struct http_server **out, char *err, size_t errlen);

/* Close the listeners and every connection. NULL is a no-op. */
void http_server_close(struct http_server *s);

/* Free what is left after the loop ran the close callbacks and the store is
 * closed. */
void http_server_destroy(struct http_server *s);

/* A deploy's verdict landed (verify.c): answer the GETs held for it. NULL
 * s is a no-op. */
void http_deploy_verdict(struct http_server *s, const struct deploy *dep);

void http_server_get_stats(const struct http_server *s, struct http_stats *out);

#endif
