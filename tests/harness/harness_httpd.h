/* harness_httpd.h - a tiny HTTP server on the test's loop that answers
 * every request with one canned response, for checkers and notifiers to
 * talk to without leaving the process.
 *
 * It listens on 127.0.0.1 at a port the kernel picks, reads each request
 * up to the end of its body (Content-Length), answers, and closes the
 * connection. The server is owned by the test: harness_httpd_stop closes
 * it, and it is freed once the loop has run the close callbacks. */
#ifndef SHIPWATCH_HARNESS_HTTPD_H
#define SHIPWATCH_HARNESS_HTTPD_H

#include <stddef.h>
#include <uv.h>

#define HARNESS_HTTPD_REQUEST_MAX 8192

struct harness_httpd;

/* Listen on loop; every request gets status with body (text/plain). NULL
 * on failure. */
struct harness_httpd *harness_httpd_start(uv_loop_t *loop, int status, const char *body);

/* Answer later requests with status and body instead. */
void harness_httpd_set(struct harness_httpd *s, int status, const char *body);

/* The port it listens on. */
int harness_httpd_port(const struct harness_httpd *s);

/* Requests answered so far. */
size_t harness_httpd_requests(const struct harness_httpd *s);

/* The last request answered, head and body, its first
 * HARNESS_HTTPD_REQUEST_MAX - 1 bytes, NUL-terminated; "" before the first.
 * Valid until the next request or the stop. */
const char *harness_httpd_last_request(const struct harness_httpd *s);

/* Close the listener and every connection; freed from the loop. NULL is a
 * no-op. */
void harness_httpd_stop(struct harness_httpd *s);

/* A TCP port on 127.0.0.1 where nothing listens (bound, then released), or
 * 0 on failure. */
int harness_closed_port(void);

#endif
