/* curlm.h - libcurl's multi-socket API on the daemon's libuv loop.
 *
 * One CURLM per daemon, shared by HTTP checks and notifiers, driven by a
 * uv_poll per socket (CURLMOPT_SOCKETFUNCTION) and one uv_timer
 * (CURLMOPT_TIMERFUNCTION). A CURLSH shares DNS, SSL sessions and the CA
 * store across transfers. */
#ifndef SHIPWATCH_CURLM_H
#define SHIPWATCH_CURLM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct curlm;

/* Called once when a transfer ends, with curl's result code. The easy handle
 * has already been removed from the multi handle; the callee owns it again
 * (typically curl_easy_cleanup). */
typedef void (*curlm_done_fn)(CURL *easy, CURLcode rc, void *arg);

/* Create on loop. Calls curl_global_init once per process. NULL on failure. */
struct curlm *curlm_create(uv_loop_t *loop);

/* Abort every transfer (their callbacks run with CURLE_ABORTED_BY_CALLBACK),
 * close every handle; frees asynchronously once libuv has closed them. NULL
 * is a no-op. */
void curlm_destroy(struct curlm *m);

/* Prepare an easy handle with the shared options (CURLOPT_NOSIGNAL, the
 * share handle). The caller sets the rest. NULL on failure. */
CURL *curlm_easy(struct curlm *m);

/* Start a transfer. On 0 the multi owns easy until done runs. */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *arg);

/* Abort one transfer: done runs with CURLE_ABORTED_BY_CALLBACK from a later
 * loop callback. */
void curlm_cancel(struct curlm *m, CURL *easy);

/* What an ended transfer learned, for the checks that use curl (http,
 * tls). */

/* The options a check's transfer takes (http, tls): a fresh connection
 * each run, since a pooled one could hide a dead backend; the check's
 * timeout for the connect and the whole; verification as configured. */
void curlm_check_options(CURL *easy, int64_t timeout_ms, bool verify_tls);

/* The peer certificate's expiry from CURLINFO_CERTINFO (the transfer had
 * CURLOPT_CERTINFO set), in unix seconds; 0 when unknown. */
int64_t curlm_cert_expiry_s(CURL *easy);

/* When a failed transfer failed for want of our own descriptors or memory:
 * the reason to record (fdres.h), or NULL when the target failed it. */
const char *curlm_local_reason(CURL *easy, CURLcode rc);

/* host as a URL's authority writes it: "[::1]" (in buf) for an IPv6
 * address, host itself otherwise. */
const char *curlm_url_host(const char *host, char *buf, size_t len);

/* Have easy, whose URL names name:port, connect to host:port instead
 * (CURLOPT_CONNECT_TO): name is then what is sent as SNI and Host and
 * verified against the certificate. Returns the list CURLOPT_CONNECT_TO
 * points at, which the caller frees (curl_slist_free_all) after
 * curl_easy_cleanup; NULL when out of memory. */
struct curl_slist *curlm_connect_to(CURL *easy, const char *name, const char *host, int port);

/* Transfers in flight. */
unsigned curlm_running(const struct curlm *m);

#endif
