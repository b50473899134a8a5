/* http.h - the daemon's HTTP/1.1 side: /metrics, /healthz, /readyz,
 * /api/v1/deploys and heartbeats (docs/http.md).
 *
 * One server on the daemon's loop, listening on every daemon.http address,
 * parsing with http-parser. Keep-alive; limits on header bytes, body bytes
 * and connections; a deadline for the headers, for the body, and for an
 * idle keep-alive connection, so a slow client cannot hold one. */
#ifndef SHIPWATCH_HTTP_H
#define SHIPWATCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct daemon;
struct http_server;

#define HTTP_MAX_HEADER_BYTES (16 * 1024)
#define HTTP_MAX_BODY_BYTES (1024 * 1024)
#define HTTP_MAX_CONNECTIONS 512
#define HTTP_HEADER_TIMEOUT_MS 10000
#define HTTP_BODY_TIMEOUT_MS 30000
#define HTTP_IDLE_TIMEOUT_MS 30000

struct http_stats {
    uint64_t connections;            /* open now */
    uint64_t requests_total;
    uint64_t timeouts_total;         /* connections dropped at a deadline */
    uint64_t rejected_total;         /* refused: over the connection limit */
};

/* Listen on every d->conf->daemon.http address. 0 and *out, or a negative
 * errno with the reason in err. */
int http_server_start(struct daemon *d, struct http_server **out, char *err, size_t errlen);

/* Close the listeners and every connection. NULL is a no-op. */
void http_server_close(struct http_server *s);

/* Free what is left after the loop ran the close callbacks and the store is
 * closed. */
void http_server_destroy(struct http_server *s);

void http_server_get_stats(const struct http_server *s, struct http_stats *out);

#endif
