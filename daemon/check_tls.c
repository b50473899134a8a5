/* check_tls.c - TLS checks: a handshake, the certificate and the version.
 *
 * Through libcurl, on the daemon's curl engine (curlm.c), rather than
 * OpenSSL on the loop by hand: a connect-only transfer does the TCP
 * connect, the protocol's STARTTLS (SMTP, IMAP and POP3 are libcurl's own,
 * in its connect phase, which logs in only when given credentials) and the
 * handshake, with the verification, CA store and non-blocking engine http
 * checks use, and CURLINFO_CERTINFO gives the expiry as for https. What we would have
 * written instead is a second TLS state machine on uv_poll plus a
 * STARTTLS dialogue per protocol. FTP and PostgreSQL, which libcurl does
 * not take to TLS without logging in, talk in starttls.c first and hand
 * the socket over (CURLOPT_OPENSOCKETFUNCTION). The session cache is off for these
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
#include <unistd.h>

#include "check.h"
#include "config_rows.h"
#include "curlfacts.h"
#include "curlm.h"
#include "duration.h"
#include "fdres.h"
#include "host.h"
#include "starttls.h"

enum { TLS_VERSION };

static const struct cond_var tls_vars[] = {
    [TLS_VERSION] = {"[TLS_VERSION]", COND_VAR_NUMBER, ""},
};

/* starttls: values, and the URL scheme each is reached by. FTP and
 * PostgreSQL talk their way to TLS in starttls.c first (libcurl's FTP
 * connect phase would log in; it does not speak PostgreSQL); the handshake
 * is then made on that socket as for a plain TLS port. */
enum { TLS_NONE, TLS_SMTP, TLS_IMAP, TLS_POP3, TLS_FTP, TLS_POSTGRES };
static const char *const protocols[] = {"none", "smtp", "imap", "pop3", "ftp", "postgres", NULL};
static const char *const schemes[] = {"https", "smtp", "imap", "pop3", "https", "https"};

struct tls_run {
    CURL *easy;
    struct curl_slist *connect_to;  /* server-name:port:host:port, or NULL */
    struct curl_slist *resolve;     /* name:port:peer, for a socket talked to TLS */
    struct starttls_conn *talk;     /* the dialogue before TLS, while it lasts */
    int fd;                         /* its socket, until libcurl takes it; or -1 */
    int64_t talk_ms;                /* how long the dialogue took */
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

/* Free a run's own state; the run is then finished by the caller. */
static void tls_free(struct check_run *run)
{
    struct tls_run *t = run->priv;
    curl_slist_free_all(t->connect_to);
    curl_slist_free_all(t->resolve);
    if (t->fd >= 0) {
        close(t->fd);
    }
    free(t);
    run->priv = NULL;
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
        run->facts.response_time_ms = t->talk_ms + (int64_t)(us / 1000);
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
    tls_free(run);
    check_run_finish(run);
}

/* libcurl opens its socket: the one the dialogue connected, once. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct tls_run *t = arg;
    (void)addr;
    if (purpose != CURLSOCKTYPE_IPCXN || t->fd < 0) {
        return CURL_SOCKET_BAD;
    }
    int fd = t->fd;
    t->fd = -1;
    return fd;
}

/* ... and does not connect it again. */
static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    (void)arg;
    (void)fd;
    (void)purpose;
    return CURL_SOCKOPT_ALREADY_CONNECTED;
}

/* The handshake: a connect-only transfer on the curl engine, on a socket
 * of its own or on the one the dialogue before TLS left (t->fd). */
static int tls_handshake(struct check_run *run, const char *peer)
{
    const struct conf_check *c = run->check->conf;
    struct tls_run *t = run->priv;
    struct curlm *m = run->env->curlm;
    t->easy = curlm_easy(m);
    if (t->easy == NULL) {
        return -ENOMEM;
    }
    char hb[300], nb[300], url[700], to[700];
    const char *name = c->server_name != NULL ? c->server_name : c->host;
    snprintf(url, sizeof(url), "%s://%s:%d/", schemes[c->starttls],
             curlm_url_host(name, nb, sizeof(nb)), c->port);
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (peer != NULL) {
        /* The name resolves to where the dialogue is connected: no lookup,
         * and the socket handed over is the connection. */
        snprintf(to, sizeof(to), "%s:%d:%s", name, c->port,
                 curlm_url_host(peer[0] != '\0' ? peer : c->host, hb, sizeof(hb)));
        t->resolve = curl_slist_append(NULL, to);
        curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    } else if (c->server_name != NULL) {
        /* Ask for and verify server-name, connected to host. */
        t->connect_to = curlm_connect_to(e, name, c->host, c->port);
        if (t->connect_to == NULL) {
            curl_easy_cleanup(e);
            t->easy = NULL;
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
    /* What the dialogue left of the timeout, a millisecond at least. */
    int64_t left = c->timeout_ms - t->talk_ms;
    curlm_check_options(e, left > 0 ? left : 1, c->verify_tls);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    int rc = curlm_add(m, e, on_done, run);
    if (rc < 0) {
        curl_easy_cleanup(e);
        t->easy = NULL;
    }
    return rc;
}

/* The dialogue before TLS ended: the handshake on its socket, or the run
 * ends with why. */
static void on_talked(void *arg, int fd, const char *peer, const char *why, const char *local)
{
    struct check_run *run = arg;
    struct tls_run *t = run->priv;
    t->talk = NULL;
    t->fd = fd;
    t->talk_ms = (int64_t)((uv_hrtime() - run->started_ns) / 1000000);
    if (peer != NULL && peer[0] != '\0') {
        snprintf(run->ip, sizeof(run->ip), "%s", peer);
        run->facts.ip = run->ip;
    }
    int rc = 0;
    if (fd >= 0 && !run->cancelled && (rc = tls_handshake(run, peer)) == 0) {
        return;
    }
    if (!run->cancelled) {
        run->facts.connected = 0;
        if (rc < 0) {
            local = fdres_local_reason(rc);
            why = local != NULL ? local : strerror(-rc);
        }
        run->result.outcome = local != NULL ? STATE_UNKNOWN : STATE_DOWN;
        snprintf(run->result.error, sizeof(run->result.error), "tls %s: %s", t->target,
                 local != NULL ? local : why);
    }
    tls_free(run);
    check_run_finish(run);
}

/* Begin a TLS run. */
static int tls_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    if (run->env->curlm == NULL) {
        return -ENOTSUP;
    }
    if (ctx_index < 0 && (ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0) {
        return -ENOMEM;
    }
    struct tls_run *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->fd = -1;
    run->priv = t;
    char hb[300];
    snprintf(t->target, sizeof(t->target), "%s:%d", curlm_url_host(c->host, hb, sizeof(hb)), c->port);
    int rc;
    if (c->starttls == TLS_FTP || c->starttls == TLS_POSTGRES) {
        rc = starttls_open(run->env->loop, c->host, c->port,
                           c->starttls == TLS_FTP ? STARTTLS_FTP : STARTTLS_POSTGRES,
                           c->timeout_ms, on_talked, run, &t->talk);
    } else {
        rc = tls_handshake(run, NULL);
    }
    if (rc < 0) {
        tls_free(run);
    }
    return rc;
}

/* Abort a run in flight. */
static void tls_cancel(struct check_run *run)
{
    struct tls_run *t = run->priv;
    if (t == NULL) {
        return;
    }
    if (t->talk != NULL) {
        starttls_cancel(t->talk);
    } else if (t->easy != NULL) {
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
