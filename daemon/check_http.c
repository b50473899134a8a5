/* check_http.c - HTTP checks through the shared curl multi engine.
 *
 * Every run is a fresh connection (a pooled one could hide a dead backend).
 * The body is kept up to max-body bytes for conditions. Without a [BODY]
 * condition the transfer stops at the cap and the result stands; with one,
 * the rest is read and dropped, and a body over 16 times the cap aborts the
 * transfer, so a runaway response costs neither memory nor the check's
 * whole timeout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "check.h"
#include "config_rows.h"
#include "curlfacts.h"
#include "curlm.h"

#define REDIRECTS_MAX 10
#define BODY_ABORT_FACTOR 16

struct http_run {
    CURL *easy;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    size_t cap;                 /* body bytes kept */
    size_t seen;                /* body bytes received */
    bool overflow;              /* aborted: body over the abort limit */
    bool body_needed;           /* a condition reads [BODY] */
    bool stopped;               /* no [BODY] condition: stopped at the cap */
};

/* CURLOPT_WRITEFUNCTION: keep up to the cap, count the rest. Without a
 * [BODY] condition nothing past the cap is wanted: stop there and keep the
 * result; with one, read and drop up to the abort limit. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct check_run *run = arg;
    struct http_run *h = run->priv;
    size_t n = size * nmemb;
    h->seen += n;
    if (run->body_len < h->cap) {
        size_t keep = h->cap - run->body_len < n ? h->cap - run->body_len : n;
        if (run->body == NULL) {
            run->body = malloc(h->cap > 0 ? h->cap : 1);
            if (run->body == NULL) {
                return 0;
            }
        }
        memcpy(run->body + run->body_len, data, keep);
        run->body_len += keep;
    }
    if (!h->body_needed && h->seen > h->cap) {
        h->stopped = true;
        return 0;
    }
    if (h->seen > h->cap * BODY_ABORT_FACTOR && h->cap > 0) {
        h->overflow = true;
        return 0;
    }
    return n;
}

/* The transfer ended: fill the result and finish the run. */
static void on_done(CURL *easy, CURLcode rc, void *arg)
{
    struct check_run *run = arg;
    struct http_run *h = run->priv;
    struct result *r = &run->result;
    long code = curlfacts_request(run, easy);
    if (code > 0) {
        r->status = (int)code;
        run->facts.status = (int)code;
    }

    if (run->cancelled) {
        /* dropped by check_run_finish */
    } else if (h->overflow) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "response body over %zu bytes: transfer aborted",
                 h->cap * BODY_ABORT_FACTOR);
    } else if (rc != CURLE_OK && !(h->stopped && rc == CURLE_WRITE_ERROR) &&
               curlm_local_reason(easy, rc) != NULL) {
        /* Our own shortage (descriptors, memory), not the target down. */
        r->outcome = STATE_UNKNOWN;
        snprintf(r->error, sizeof(r->error), "%s", curlm_local_reason(easy, rc));
    } else if (rc != CURLE_OK && !(h->stopped && rc == CURLE_WRITE_ERROR)) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "%s",
                 h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc));
    } else if (run->check->conf->nconditions == 0 && code >= 400) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "HTTP %ld", code);
    }

    curl_slist_free_all(h->headers);
    curl_easy_cleanup(easy);
    free(h);
    run->priv = NULL;
    check_run_finish(run);
}

/* Begin an HTTP run. */
static int http_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct curlm *m = run->env->curlm;
    if (m == NULL) {
        return -ENOTSUP;
    }
    struct http_run *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    h->easy = curlm_easy(m);
    if (h->easy == NULL) {
        free(h);
        return -ENOMEM;
    }
    h->cap = c->max_body_bytes;
    h->body_needed = check_reads_body(c);
    run->priv = h;
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curlm_check_options(e, c->timeout_ms, c->verify_tls);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "shipwatch/" SHIPWATCH_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, run);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, c->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)REDIRECTS_MAX);
    if (strncmp(c->url, "https:", 6) == 0) {
        curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    }
    if (c->method != NULL && strcmp(c->method, "GET") != 0) {
        if (strcmp(c->method, "HEAD") == 0) {
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        } else {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
        }
    }
    if (c->body != NULL) {
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, c->body);
        if (c->method == NULL || strcmp(c->method, "GET") == 0) {
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
        }
    }
    for (size_t i = 0; i < c->nheaders; i++) {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", c->headers[i].name, c->headers[i].value);
        struct curl_slist *n = curl_slist_append(h->headers, line);
        if (n == NULL) {
            curl_slist_free_all(h->headers);
            curl_easy_cleanup(e);
            free(h);
            run->priv = NULL;
            return -ENOMEM;
        }
        h->headers = n;
    }
    if (h->headers != NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    }
    int rc = curlm_add(m, e, on_done, run);
    if (rc < 0) {
        curl_slist_free_all(h->headers);
        curl_easy_cleanup(e);
        free(h);
        run->priv = NULL;
    }
    return rc;
}

/* Abort a run in flight. */
static void http_cancel(struct check_run *run)
{
    struct http_run *h = run->priv;
    if (h != NULL) {
        curlm_cancel(run->env->curlm, h->easy);
    }
}

/* The url with any user:password@ replaced by ***@, for display. */
static void http_describe(const struct conf_check *cc, char *out, size_t len)
{
    const char *url = cc->url != NULL ? cc->url : "";
    const char *scheme = strstr(url, "://");
    const char *host = scheme != NULL ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(end - host));
    if (at == NULL) {
        snprintf(out, len, "%s", url);
    } else {
        snprintf(out, len, "%.*s***@%s", (int)(host - url), url, at + 1);
    }
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only http checks take. */
static const struct conf_field http_rows[] = {
    {.key = "url",
     .type = CONF_STR,
     .off = KO(url),
     .valid = conf_valid_http_url,
     .required = true},
    {.key = "method",
     .type = CONF_STR,
     .off = KO(method),
     .valid = conf_valid_method,
     .def_str = "GET"},
    {.key = "headers", .type = CONF_HEADERS, .off = KO(headers), .off2 = KO(nheaders), .max = 100},
    {.key = "body", .type = CONF_STR, .off = KO(body)},
    {.key = "follow-redirects", .type = CONF_BOOL, .off = KO(follow_redirects)},
    {.key = "verify-tls", .type = CONF_BOOL, .off = KO(verify_tls), .def = true},
    CHECK_ROW_MAX_BODY,
};

static const struct conf_rows http_conf_rows = CONF_ROWS(http_rows);

const struct check_type check_http_type = {
    .name = "http",
    .kind = CHECK_HTTP,
    .start = http_start,
    .cancel = http_cancel,
    .describe = http_describe,
    .rows = &http_conf_rows,
};
