/* check_tls.c - TLS checks: a handshake, the certificate and the version.
 *
 * Through libcurl, on the daemon's curl engine (curlm.c), rather than
 * OpenSSL on the loop by hand: a connect-only transfer does the TCP
 * connect, the protocol's STARTTLS (SMTP, IMAP and POP3 are libcurl's own,
 * in its connect phase, which logs in only when given credentials) and the
 * handshake, with the verification, CA store and non-blocking engine http
 * checks use, and CURLINFO_CERTINFO gives the expiry as for https. What we would have
 * written instead is a second TLS state machine on uv_poll plus a
 * STARTTLS dialogue per protocol. The session cache is off for these
 * transfers: a resumed session sends no certificate to read.
 *
 * [TLS_VERSION] is a number (1.2, 1.3) so "[TLS_VERSION] >= 1.2" reads as
 * it should. OpenSSL says which version the handshake settled on, through
 * an info callback on the connection's SSL_CTX (libcurl makes one a
 * connection and hands it to CURLOPT_SSL_CTX_FUNCTION): a connect-only
 * transfer's connection is detached once it ends, so CURLINFO_TLS_SSL_PTR
 * has nothing to say by then. */
#include <errno.h>
#include <math.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "curlfacts.h"
#include "curlm.h"
#include "duration.h"
#include "host.h"

enum { TLS_VERSION };

static const struct cond_var tls_vars[] = {
    [TLS_VERSION] = {"[TLS_VERSION]", COND_VAR_NUMBER, ""},
};

/* starttls: values, and the URL scheme each is reached by. Not yet: ftp
 * (libcurl's connect phase logs in, as anonymous), postgres (libcurl does
 * not speak it). */
static const char *const protocols[] = {"none", "smtp", "imap", "pop3", NULL};
static const char *const schemes[] = {"https", "smtp", "imap", "pop3"};

struct tls_run {
    CURL *easy;
    struct curl_slist *connect_to;  /* server-name:port:host:port, or NULL */
    int version;                /* SSL_version() once the handshake is done; 0 not yet */
    char errbuf[CURL_ERROR_SIZE];
    char target[300];           /* host:port, for messages */
};

/* Where a connection's SSL_CTX keeps its run, for the info callback. */
static int ctx_index = -1;

/* OpenSSL's info callback: the handshake is done, note its version. */
static void on_ssl_info(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if ((where & SSL_CB_HANDSHAKE_DONE) == 0) {
        return;
    }
    struct tls_run *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
    if (t != NULL) {
        t->version = SSL_version(ssl);
    }
}

/* libcurl made the connection's SSL_CTX (one a connection): hook it. */
static CURLcode on_ssl_ctx(CURL *easy, void *ctx, void *arg)
{
    (void)easy;
    if (SSL_CTX_set_ex_data(ctx, ctx_index, arg) != 1) {
        return CURLE_OUT_OF_MEMORY;
    }
    SSL_CTX_set_info_callback(ctx, on_ssl_info);
    return CURLE_OK;
}

/* An SSL_version() as the number written in a condition (1.2, 1.3: the
 * literals, so == holds exactly); NAN unknown. */
static double version_number(int v)
{
    switch (v) {
    case SSL3_VERSION:
        return 0.3;
    case TLS1_VERSION:
        return 1.0;
    case TLS1_1_VERSION:
        return 1.1;
    case TLS1_2_VERSION:
        return 1.2;
    case TLS1_3_VERSION:
        return 1.3;
    default:
        return NAN;
    }
}

/* The handshake ended (or failed): the facts, then the run ends. */
static void on_done(CURL *easy, CURLcode rc, void *arg)
{
    struct check_run *run = arg;
    struct tls_run *t = run->priv;
    struct result *r = &run->result;
    curlfacts_ip(run, easy);
    if (rc == CURLE_OK) {
        curl_off_t us = 0;
        curl_easy_getinfo(easy, CURLINFO_APPCONNECT_TIME_T, &us);
        run->facts.connected = 1;
        run->facts.response_time_ms = (int64_t)(us / 1000);
        run->facts.vars[TLS_VERSION] = version_number(t->version);
        curlfacts_cert(run, easy);
        char left[32] = "?";
        if (r->cert_expiry_s > 0) {
            /* to the hour: the seconds would read as noise */
            duration_format(run->facts.cert_expiry_ms / 3600000 * 3600000, left, sizeof(left));
        }
        snprintf(r->message, sizeof(r->message), "TLS %.1f, certificate expires in %s",
                 run->facts.vars[TLS_VERSION], left);
    } else if (!run->cancelled) {
        run->facts.connected = 0;
        const char *local = curlm_local_reason(easy, rc);
        r->outcome = local != NULL ? STATE_UNKNOWN : STATE_DOWN;
        snprintf(r->error, sizeof(r->error), "tls %s: %s", t->target,
                 local != NULL ? local : t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc));
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(t->connect_to);
    free(t);
    run->priv = NULL;
    check_run_finish(run);
}

/* Begin a TLS run: a connect-only transfer on the curl engine. */
static int tls_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct curlm *m = run->env->curlm;
    if (m == NULL) {
        return -ENOTSUP;
    }
    if (ctx_index < 0 && (ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0) {
        return -ENOMEM;
    }
    struct tls_run *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->easy = curlm_easy(m);
    if (t->easy == NULL) {
        free(t);
        return -ENOMEM;
    }
    run->priv = t;
    char hb[300], nb[300], url[700];
    const char *name = c->server_name != NULL ? c->server_name : c->host;
    snprintf(t->target, sizeof(t->target), "%s:%d", curlm_url_host(c->host, hb, sizeof(hb)),
             c->port);
    snprintf(url, sizeof(url), "%s://%s:%d/", schemes[c->starttls],
             curlm_url_host(name, nb, sizeof(nb)), c->port);
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (c->server_name != NULL) {
        /* Ask for and verify server-name, connected to host. */
        t->connect_to = curlm_connect_to(e, name, c->host, c->port);
        if (t->connect_to == NULL) {
            curl_easy_cleanup(e);
            free(t);
            run->priv = NULL;
            return -ENOMEM;
        }
    }
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, t);
    curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    if (c->ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    }
    curlm_check_options(e, c->timeout_ms, c->verify_tls);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    int rc = curlm_add(m, e, on_done, run);
    if (rc < 0) {
        curl_easy_cleanup(e);
        curl_slist_free_all(t->connect_to);
        free(t);
        run->priv = NULL;
    }
    return rc;
}

/* Abort a run in flight. */
static void tls_cancel(struct check_run *run)
{
    struct tls_run *t = run->priv;
    if (t != NULL) {
        curlm_cancel(run->env->curlm, t->easy);
    }
}

/* host:port, with the STARTTLS protocol, for display. */
static void tls_describe(const struct conf_check *cc, char *out, size_t len)
{
    char hb[300];
    snprintf(out, len, "%s:%d%s%s",
             curlm_url_host(cc->host != NULL ? cc->host : "", hb, sizeof(hb)), cc->port,
             cc->starttls != 0 ? " starttls " : "",
             cc->starttls != 0 ? protocols[cc->starttls] : "");
}

#define KO(m) offsetof(struct conf_check, m)

/* Keys only tls checks take. */
static const struct conf_field tls_rows[] = {
    {.key = "host", .type = CONF_STR, .off = KO(host), .valid = conf_valid_secret, .required = true},
    {.key = "port", .type = CONF_INT, .off = KO(port), .min = 1, .max = 65535, .required = true},
    {.key = "server-name", .type = CONF_STR, .off = KO(server_name), .valid = conf_valid_secret},
    {.key = "ca-file", .type = CONF_STR, .off = KO(ca_file), .valid = host_valid_path},
    {.key = "verify-tls", .type = CONF_BOOL, .off = KO(verify_tls), .def = true},
    {.key = "starttls", .type = CONF_INDEX, .off = KO(starttls), .choices = protocols},
};

static const struct conf_rows tls_conf_rows = CONF_ROWS(tls_rows);

const struct check_type check_tls_type = {
    .name = "tls",
    .kind = CHECK_TLS,
    .start = tls_start,
    .cancel = tls_cancel,
    .describe = tls_describe,
    .rows = &tls_conf_rows,
    .vars = tls_vars,
    .nvars = ARRAY_SIZE(tls_vars),
    .default_condition = "[CONNECTED] == true",
};
