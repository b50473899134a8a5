/* check_grpc.c - gRPC checks: grpc.health.v1.Health/Check, the standard
 * health service, over HTTP/2 on the daemon's curl engine.
 *
 * gRPC is HTTP/2 with a framed body and its status in trailers, all of
 * which libcurl speaks: grpc:// is HTTP/2 in clear text with prior
 * knowledge (h2c, no upgrade dance, as gRPC clients do), grpcs:// is
 * HTTP/2 over TLS by ALPN, with the verification, CA store and
 * certificate facts of https checks. The request is a POST of one
 * length-prefixed HealthCheckRequest; the reply's grpc-status and
 * grpc-message come in its trailers (libcurl hands HTTP/2 trailers to the
 * header callback), or in its headers for a trailers-only reply. The
 * messages are written and read by hand (grpcmsg.c), strictly, and the
 * body is kept to GRPCMSG_REPLY_MAX bytes.
 *
 * [STATUS] is the serving status as a word (SERVING, NOT_SERVING, UNKNOWN,
 * SERVICE_UNKNOWN), so "[STATUS] == SERVING" reads as it says. A server
 * that does not know the service answers NOT_FOUND, as grpc-health's own
 * servers do: that is SERVICE_UNKNOWN, for the conditions to judge. Any
 * other non-zero grpc-status is a failed call: down, with the code's name
 * and the server's message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "config_rows.h"
#include "curlfacts.h"
#include "curlm.h"
#include "duration.h"
#include "grpcmsg.h"
#include "host.h"

#define TARGET_MAX 300          /* "host:port" for messages, with the NUL */
#define GRPC_MESSAGE_MAX 160    /* the server's grpc-message kept, decoded */
#define GRPC_ATTEMPTS 4         /* calls per run when the answer is dropped */

struct grpc_run {
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to;  /* server-name:port:host:port, or NULL */
    unsigned char body[GRPCMSG_REPLY_MAX];
    size_t body_len;
    bool overflow;              /* the reply body was over GRPCMSG_REPLY_MAX */
    int code;                   /* grpc-status; -1 none seen */
    char message[GRPC_MESSAGE_MAX];  /* grpc-message, decoded */
    char content_type[64];      /* the reply's, cut */
    int64_t timeout_ms;
    int attempts;               /* calls made this run */
    char errbuf[CURL_ERROR_SIZE];
    char target[TARGET_MAX];    /* host:port, for messages */
};

/* What a grpc:// or grpcs:// URL names. */
struct grpc_url {
    bool tls;                   /* grpcs:// */
    char host[256];             /* without brackets */
    int port;
};

/* Split url ("grpc://host:port" or "grpcs://[::1]:port", a trailing '/'
 * allowed) into *u. NULL, or why it is no such URL. */
static const char *parse_url(const char *url, struct grpc_url *u)
{
    static const char *const bad = "expected grpc://HOST:PORT or grpcs://HOST:PORT";
    size_t skip = strncasecmp(url, "grpc://", 7) == 0    ? 7
                : strncasecmp(url, "grpcs://", 8) == 0 ? 8
                                                        : 0;
    if (skip == 0 || conf_valid_secret(url) != NULL) {
        return bad;
    }
    u->tls = skip == 8;
    const char *h = url + skip, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL || end[1] != ':') {
            return bad;
        }
        h++;
    } else {
        end = strrchr(h, ':');
        if (end == NULL) {
            return "needs a port: grpc://HOST:PORT";
        }
    }
    size_t hn = (size_t)(end - h);
    if (hn == 0 || hn >= sizeof(u->host) || strcspn(h, "/?#@[]") < hn ||
        (url[skip] != '[' && memchr(h, ':', hn) != NULL)) {
        return bad;
    }
    memcpy(u->host, h, hn);
    u->host[hn] = '\0';
    const char *p = end + (*end == ']' ? 2 : 1);
    char *rest;
    long port = strtol(p, &rest, 10);
    if (*p < '0' || *p > '9' || port < 1 || port > 65535) {
        return "port must be 1-65535";
    }
    if (*rest == '/' && rest[1] == '\0') {
        rest++;
    }
    if (*rest != '\0') {
        return "takes no path: the method is " GRPCMSG_HEALTH_PATH;
    }
    u->port = (int)port;
    return NULL;
}

/* The url key's validator. */
static const char *valid_url(const char *s)
{
    struct grpc_url u;
    return parse_url(s, &u);
}

/* The service key's validator: a name without spaces, not too long. */
static const char *valid_service(const char *s)
{
    if (strlen(s) > GRPCMSG_SERVICE_MAX) {
        return "too long (at most 1024 bytes)";
    }
    return conf_valid_secret(s) == NULL ? NULL : "must be a service name, without spaces";
}

/* Keys that need grpcs://. */
static const char *grpc_invalid(const struct conf_check *cc)
{
    struct grpc_url u;
    if (cc->url != NULL && parse_url(cc->url, &u) == NULL && !u.tls && cc->ca_file != NULL) {
        return "ca-file needs a grpcs:// url";
    }
    return NULL;
}

/* CURLOPT_WRITEFUNCTION: keep the reply body, refuse it past the cap. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct grpc_run *g = arg;
    size_t n = size * nmemb;
    if (n > sizeof(g->body) - g->body_len) {
        g->overflow = true;
        return 0;
    }
    memcpy(g->body + g->body_len, data, n);
    g->body_len += n;
    return n;
}

/* The value of header line h[0..n) when it is "name: value", else NULL;
 * its length (without the line end) in *vn. */
static const char *header_value(const char *h, size_t n, const char *name, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(h, name, k) != 0 || h[k] != ':') {
        return NULL;
    }
    const char *v = h + k + 1;
    size_t len = n - k - 1;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) {
        len--;
    }
    *vn = len;
    return v;
}

/* CURLOPT_HEADERFUNCTION: headers, then (HTTP/2) trailers, a line each. */
static size_t on_header(char *h, size_t size, size_t nmemb, void *arg)
{
    struct grpc_run *g = arg;
    size_t n = size * nmemb, vn;
    const char *v;
    if ((v = header_value(h, n, "grpc-status", &vn)) != NULL) {
        if (grpcmsg_parse_code(v, vn, &g->code) < 0) {
            g->code = -2;       /* there, and not a code */
        }
    } else if ((v = header_value(h, n, "grpc-message", &vn)) != NULL) {
        grpcmsg_unescape(v, vn, g->message, sizeof(g->message));
    } else if ((v = header_value(h, n, "content-type", &vn)) != NULL) {
        snprintf(g->content_type, sizeof(g->content_type), "%.*s", (int)vn, v);
        for (char *p = g->content_type; *p != '\0'; p++) {
            *p = (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? '?' : *p;
        }
    }
    return n;
}

/* Why a transfer that failed failed, in words, into out; answered: an
 * HTTP/2 response began. */
static void transfer_error(struct check_run *run, CURL *easy, CURLcode rc, bool connected,
                           bool answered, char *out, size_t len)
{
    struct grpc_run *g = run->priv;
    long oserr = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr);
    char t[32];
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out, len, "grpc %s: timed out after %s", g->target,
                 duration_format(g->timeout_ms, t, sizeof(t)));
    } else if (rc == CURLE_COULDNT_CONNECT && oserr > 0) {
        snprintf(out, len, "grpc %s: connect: %s", g->target, uv_strerror(-(int)oserr));
    } else if (g->attempts >= GRPC_ATTEMPTS) {
        snprintf(out, len, "grpc %s: the server ended each of %d calls before the request "
                 "went out, its answer lost (%s)", g->target, GRPC_ATTEMPTS,
                 curl_easy_strerror(rc));
    } else if (connected && !answered &&
               (rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM || rc == CURLE_PARTIAL_FILE ||
                rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
                rc == CURLE_WEIRD_SERVER_REPLY)) {
        /* An HTTP/1 server reads the HTTP/2 preface as a bad request and
         * hangs up, a TLS one as a bad handshake: the send, the framing or
         * the stream fails before any response. */
        snprintf(out, len, "grpc %s: no HTTP/2 reply, not a gRPC server? (%s)", g->target,
                 g->errbuf[0] != '\0' ? g->errbuf : curl_easy_strerror(rc));
    } else {
        snprintf(out, len, "grpc %s: %s", g->target,
                 g->errbuf[0] != '\0' ? g->errbuf : curl_easy_strerror(rc));
    }
}

/* A reply came: what it says, into the run's facts and result. */
static void read_reply(struct check_run *run, long http_code, long version)
{
    struct grpc_run *g = run->priv;
    struct result *r = &run->result;
    if (version != CURL_HTTP_VERSION_2_0) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error),
                 "grpc %s: the server answered in HTTP/1, not a gRPC server (it needs HTTP/2)",
                 g->target);
        return;
    }
    if (g->code == -1 && strncasecmp(g->content_type, "application/grpc", 16) != 0) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "grpc %s: HTTP %ld, content-type \"%s\": not gRPC",
                 g->target, http_code, g->content_type);
        return;
    }
    if (g->code < 0) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "grpc %s: HTTP %ld, %s", g->target, http_code,
                 g->code == -1 ? "no grpc-status in the reply" : "a grpc-status that is no code");
        return;
    }
    r->status = g->code;
    const char *name = grpcmsg_code_name(g->code);
    char code[48];
    snprintf(code, sizeof(code), "%s (%d)", name != NULL ? name : "grpc-status", g->code);
    if (g->code == GRPCMSG_CODE_NOT_FOUND) {
        run->facts.status_word = grpcmsg_serving_name(GRPCMSG_SERVICE_UNKNOWN);
        snprintf(r->message, sizeof(r->message), "%s: %s%s%s", run->facts.status_word, code,
                 g->message[0] != '\0' ? ": " : "", g->message);
        return;
    }
    if (g->code != 0) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "grpc %s: %s%s%s", g->target, code,
                 g->message[0] != '\0' ? ": " : "", g->message);
        return;
    }
    struct grpcmsg_reply reply;
    if (grpcmsg_read_reply(g->body, g->body_len, &reply) < 0) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "grpc %s: %s", g->target, reply.why);
        return;
    }
    run->facts.status_word = grpcmsg_serving_name(reply.status);
    if (reply.status < GRPCMSG_UNKNOWN || reply.status > GRPCMSG_SERVICE_UNKNOWN) {
        snprintf(r->message, sizeof(r->message), "%s (%lld)", run->facts.status_word,
                 (long long)reply.status);
    } else {
        snprintf(r->message, sizeof(r->message), "%s", run->facts.status_word);
    }
}

static void on_done(CURL *easy, CURLcode rc, void *arg);

/* libcurl before 8.1 fails a call whose server, its answer complete,
 * closed the stream before curl sent the request body: RFC 9113 8.1 lets
 * a server answer from the headers alone and reset the rest with
 * NO_ERROR, as gRPC servers do for a method they lack (UNIMPLEMENTED).
 * curl says CURLE_HTTP2_STREAM with no response and nothing in the error
 * buffer, and the answer is lost. It is a race with the server, which a
 * busy loop loses now and then: ask again, on a fresh connection, in the
 * time left. True when the call is under way again. */
static bool dropped(const struct check_run *run, CURLcode rc, long code)
{
    const struct grpc_run *g = run->priv;
    return rc == CURLE_HTTP2_STREAM && code == 0 && g->errbuf[0] == '\0' &&
           run->facts.connected == 1 && !g->overflow;
}

static bool retry_dropped(struct check_run *run, CURL *easy, CURLcode rc, long code)
{
    struct grpc_run *g = run->priv;
    if (!dropped(run, rc, code) || ++g->attempts >= GRPC_ATTEMPTS) {
        return false;
    }
    int64_t left = g->timeout_ms - (int64_t)((uv_hrtime() - run->started_ns) / 1000000);
    if (left < 1) {
        return false;
    }
    g->body_len = 0;
    g->code = -1;
    g->message[0] = g->content_type[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
    return curlm_add(run->env->curlm, easy, on_done, run) == 0;
}

/* The transfer ended: fill the result and finish the run. */
static void on_done(CURL *easy, CURLcode rc, void *arg)
{
    struct check_run *run = arg;
    struct grpc_run *g = run->priv;
    struct result *r = &run->result;
    long code = curlfacts_request(run, easy), version = 0;
    curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
    bool connected = run->facts.connected == 1;

    if (!run->cancelled && retry_dropped(run, easy, rc, code)) {
        return;
    }
    if (run->cancelled) {
        /* dropped by check_run_finish */
    } else if (g->overflow) {
        r->outcome = STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "grpc %s: reply body over %d bytes", g->target,
                 GRPCMSG_REPLY_MAX);
    } else if (rc != CURLE_OK && curlm_local_reason(easy, rc) != NULL) {
        /* Our own shortage (descriptors, memory), not the target down. */
        r->outcome = STATE_UNKNOWN;
        snprintf(r->error, sizeof(r->error), "%s", curlm_local_reason(easy, rc));
    } else if (rc != CURLE_OK) {
        r->outcome = STATE_DOWN;
        transfer_error(run, easy, rc, connected, code > 0, r->error, sizeof(r->error));
    } else {
        read_reply(run, code, version);
    }

    curl_slist_free_all(g->headers);
    curl_easy_cleanup(easy);
    curl_slist_free_all(g->connect_to);
    free(g);
    run->priv = NULL;
    check_run_finish(run);
}

/* Free a run's state before its transfer was added; an errno. */
static int fail_start(struct check_run *run, int rc)
{
    struct grpc_run *g = run->priv;
    curl_slist_free_all(g->headers);
    curl_easy_cleanup(g->easy);
    curl_slist_free_all(g->connect_to);
    free(g);
    run->priv = NULL;
    return rc;
}

/* Begin a gRPC run: one POST of the health check request. */
static int grpc_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct curlm *m = run->env->curlm;
    if (m == NULL) {
        return -ENOTSUP;
    }
    struct grpc_url u;
    if (c->url == NULL || parse_url(c->url, &u) != NULL) {
        return -EINVAL;         /* the configuration let it through: a bug */
    }
    unsigned char req[GRPCMSG_REQUEST_MAX];
    int reqlen = grpcmsg_request(c->service != NULL ? c->service : "", req, sizeof(req));
    if (reqlen < 0) {
        return reqlen;
    }
    struct grpc_run *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return -ENOMEM;
    }
    g->easy = curlm_easy(m);
    if (g->easy == NULL) {
        free(g);
        return -ENOMEM;
    }
    run->priv = g;
    g->code = -1;
    g->timeout_ms = c->timeout_ms;
    /* [STATUS] reads empty, not 0, until a reply says otherwise. */
    run->facts.status_word = "";

    char hb[300], nb[300], url[700], line[64];
    const char *name = c->server_name != NULL ? c->server_name : u.host;
    snprintf(g->target, sizeof(g->target), "%s:%d", curlm_url_host(u.host, hb, sizeof(hb)),
             u.port);
    snprintf(url, sizeof(url), "%s://%s:%d" GRPCMSG_HEALTH_PATH, u.tls ? "https" : "http",
             curlm_url_host(name, nb, sizeof(nb)), u.port);
    CURL *e = g->easy;
    if (c->server_name != NULL) {
        /* Ask for (SNI, :authority) and verify server-name, connected to host. */
        g->connect_to = curlm_connect_to(e, name, u.host, u.port);
        if (g->connect_to == NULL) {
            return fail_start(run, -ENOMEM);
        }
    }
    /* gRPC's deadline, so the server gives up when we do: at most 8 digits. */
    snprintf(line, sizeof(line), "grpc-timeout: %lldm",
             (long long)(c->timeout_ms < 99999999 ? c->timeout_ms : 99999999));
    const char *headers[] = {"content-type: application/grpc", "te: trailers", line,
                             "Accept:", "Expect:"};
    for (size_t i = 0; i < ARRAY_SIZE(headers); i++) {
        struct curl_slist *n = curl_slist_append(g->headers, headers[i]);
        if (n == NULL) {
            return fail_start(run, -ENOMEM);
        }
        g->headers = n;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* h2c straight away, as gRPC clients do; over TLS, HTTP/2 by ALPN. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, u.tls ? (long)CURL_HTTP_VERSION_2TLS
                                                    : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curlm_check_options(e, c->timeout_ms, c->verify_tls);
    if (u.tls) {
        curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
        if (c->ca_file != NULL) {
            curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        }
    }
    curl_easy_setopt(e, CURLOPT_USERAGENT, "shipwatch/" SHIPWATCH_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, g->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)reqlen);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, (const char *)req);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, g);
    int rc = curlm_add(m, e, on_done, run);
    if (rc < 0) {
        return fail_start(run, rc);
    }
    return 0;
}

/* Abort a run in flight. */
static void grpc_cancel(struct check_run *run)
{
    struct grpc_run *g = run->priv;
    if (g != NULL) {
        curlm_cancel(run->env->curlm, g->easy);
    }
}

/* The url, with the service asked about, for display. */
static void grpc_describe(const struct conf_check *cc, char *out, size_t len)
{
    const char *svc = cc->service != NULL ? cc->service : "";
    snprintf(out, len, "%s%s%s", cc->url != NULL ? cc->url : "",
             svc[0] != '\0' ? " service " : "", svc);
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only grpc checks take. */
static const struct conf_field grpc_rows[] = {
    {.key = "url", .type = CONF_STR, .off = KO(url), .valid = valid_url, .required = true},
    {.key = "service", .type = CONF_STR, .off = KO(service), .valid = valid_service},
    {.key = "server-name", .type = CONF_STR, .off = KO(server_name), .valid = conf_valid_secret},
    {.key = "ca-file", .type = CONF_STR, .off = KO(ca_file), .valid = host_valid_path},
    {.key = "verify-tls", .type = CONF_BOOL, .off = KO(verify_tls), .def = true},
};

static const struct conf_rows grpc_conf_rows = CONF_ROWS(grpc_rows);

const struct check_type check_grpc_type = {
    .name = "grpc",
    .kind = CHECK_GRPC,
    .start = grpc_start,
    .cancel = grpc_cancel,
    .describe = grpc_describe,
    .rows = &grpc_conf_rows,
    .invalid = grpc_invalid,
    .default_condition = "[STATUS] == SERVING",
};
