/* notify_email.c - the email notifier: the whole RFC 5322 message sent over
 * SMTP by libcurl, STARTTLS as conf->tls says, login from the URL's
 * credentials, every address in to.
 *
 * Each message is sent from a thread of its own: libcurl's SMTP code waits
 * for the server's reply to the end of the data, and for QUIT, with
 * blocking calls even under the multi interface, and a slow mail server
 * must not stall the loop. The thread reports back through a uv_async;
 * cancelling it is a flag its progress callback reads (libcurl calls that
 * at least once a second). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "config.h"
#include "config_rows.h"
#include "notify_class.h"

#define LINE_VALUE_MAX 900           /* bytes of one value in a mail line (lines < 998) */
#define SUBJECT_SUMMARY_MAX 160      /* bytes of the summary in a mail subject */
#define DAY_MS 86400000LL

/* One message on its way, the attempt's s->state. */
struct mail {
    struct curl_slist *rcpt;
    bool async_init;
    uv_async_t async;           /* the thread has finished */
    uv_thread_t thread;
    bool thread_running;
    atomic_int abort;           /* set by cancel, read by the thread */
    CURLcode rc;                /* written by the thread before async */
    size_t body_off;            /* bytes handed to libcurl, by the thread */
};

/* A mail body line "Label:        value" for a present value. */
static void mail_line(struct sbuf *b, const char *label, const char *value)
{
    if (value == NULL) {
        return;
    }
    sbuf_appendf(b, "%-14s", label);
    notify_append_text(b, value, LINE_VALUE_MAX, true);
    sbuf_append_str(b, "\r\n");
}

/* email: the whole RFC 5322 message, CRLF line ends. Header values are
 * stripped of control characters, so nothing in the payload can add a
 * header. Lines starting with '.' need no care: libcurl dot-stuffs SMTP
 * uploads itself. */
static char *render_email(const struct conf_notifier *conf, const struct notify_view *v,
                          const char *payload, int64_t now_ms)
{
    static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    int64_t day = now_ms / DAY_MS - (now_ms % DAY_MS < 0);
    int64_t in_day = now_ms - day * DAY_MS;
    int64_t year;
    int month, mday;
    civil_from_days(day, &year, &month, &mday);
    sbuf_appendf(&b, "Date: %s, %02d %s %04lld %02d:%02d:%02d +0000\r\n", wdays[civil_weekday(day)],
                 mday, months[month - 1], (long long)year, (int)(in_day / 3600000),
                 (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60));

    sbuf_append_str(&b, "From: ");
    notify_append_text(&b, conf->from != NULL ? conf->from : "shipwatch@localhost", LINE_VALUE_MAX,
                       true);
    sbuf_append_str(&b, "\r\n");
    if (conf->nto > 0) {
        sbuf_append_str(&b, "To: ");
        for (size_t i = 0; i < conf->nto; i++) {
            if (i > 0) {
                sbuf_append_str(&b, ",\r\n ");
            }
            notify_append_text(&b, conf->to[i], LINE_VALUE_MAX, true);
        }
        sbuf_append_str(&b, "\r\n");
    }

    struct sbuf subj;
    sbuf_init(&subj, NOTIFY_RENDER_MAX);
    sbuf_appendf(&subj, "[shipwatch] %s ", v->event_label);
    notify_append_text(&subj, v->severity, 32, true);
    sbuf_append_str(&subj, ": ");
    notify_append_text(&subj, v->summary, SUBJECT_SUMMARY_MAX, true);
    char *subject = sbuf_take(&subj);
    if (subject == NULL) {
        sbuf_finish(&b);
        return NULL;
    }
    sbuf_append_str(&b, "Subject: ");
    notify_append_header(&b, subject, "\r\n ");
    sbuf_append_str(&b, "\r\n");
    free(subject);

    /* The same notification retried keeps its Message-ID. */
    char host[NOTIFY_HOST_MAX];
    size_t hn = 0;
    for (const char *p = v->host != NULL ? v->host : ""; *p != '\0' && hn < sizeof(host) - 1;
         p++) {
        char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.') {
            host[hn++] = c;
        }
    }
    host[hn] = '\0';
    sbuf_appendf(&b, "Message-ID: <shipwatch.alert-%lld.delivery-%lld@%s>\r\n", (long long)v->id,
                 (long long)v->delivery_id, hn > 0 ? host : "localhost");
    sbuf_append_str(&b, "MIME-Version: 1.0\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n"
                        "Auto-Submitted: auto-generated\r\n");
    sbuf_appendf(&b, "X-Shipwatch-Alert-Id: %lld\r\n", (long long)v->id);
    sbuf_appendf(&b, "X-Shipwatch-Event: %s\r\n", v->event);
    sbuf_append_str(&b, "\r\n");

    notify_headline(&b, v, LINE_VALUE_MAX);
    sbuf_append_str(&b, "\r\n\r\n");
    char num[32];
    snprintf(num, sizeof(num), "#%lld", (long long)v->id);
    mail_line(&b, "Alert:", num);
    mail_line(&b, "Summary:", v->summary);
    mail_line(&b, "Kind:", v->kind);
    mail_line(&b, "Status:", v->status);
    mail_line(&b, "Severity:", v->severity);
    mail_line(&b, "Check:", v->check);
    mail_line(&b, "App:", v->app);
    mail_line(&b, "Env:", v->env);
    mail_line(&b, "Started:", v->started_at);
    mail_line(&b, "Resolved:", v->resolved_at);
    mail_line(&b, "Acknowledged:", v->ack_by);
    mail_line(&b, "Acked at:", v->ack_at);
    mail_line(&b, "Comment:", v->ack_comment);
    mail_line(&b, "Muted by:", v->muted_by);
    if (v->deploy_id != 0) {
        snprintf(num, sizeof(num), "#%lld", (long long)v->deploy_id);
        mail_line(&b, "Deploy:", num);
    }
    mail_line(&b, "Host:", v->host);
    snprintf(num, sizeof(num), "%lld", (long long)v->delivery_id);
    mail_line(&b, "Delivery:", num);
    sbuf_append_str(&b, "\r\n-- \r\nshipwatch ");
    notify_append_text(&b, v->version != NULL ? v->version : SHIPWATCH_VERSION, 64, true);
    sbuf_append_str(&b, "\r\n");
    return sbuf_take(&b);
}


/* CURLOPT_READFUNCTION (mail thread): the message. */
static size_t on_mail_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct notify_send *s = arg;
    struct mail *m = s->state;
    size_t room = size * nmemb;
    size_t left = s->body_len - m->body_off;
    size_t n = left < room ? left : room;
    memcpy(buf, s->body + m->body_off, n);
    m->body_off += n;
    return n;
}

/* CURLOPT_XFERINFOFUNCTION (mail thread): abort once cancelled. libcurl
 * calls it at least once a second, also while it waits for a reply. */
static int on_mail_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    struct notify_send *s = arg;
    struct mail *m = s->state;
    return atomic_load(&m->abort) ? 1 : 0;
}

/* The mail thread: send, hang up, tell the loop. Touches only the easy
 * handle, m->rc, errbuf, m->body_off (and reads body and m->abort) until
 * uv_async_send. */
static void mail_thread(void *arg)
{
    struct notify_send *s = arg;
    struct mail *m = s->state;
    CURL *e = s->easy;
    m->rc = curl_easy_perform(e);
    curl_easy_cleanup(e);       /* QUIT, bounded by the response timeout */
    uv_async_send(&m->async);
}

/* The mail thread finished: decide. */
static void on_mail_done(uv_async_t *a)
{
    struct notify_send *s = a->data;
    struct mail *m = s->state;
    if (!m->thread_running) {
        return;
    }
    uv_thread_join(&m->thread);
    m->thread_running = false;
    s->easy = NULL;
    if (s->cancelled) {
        notify_settle(s, false, "cancelled");
    } else if (m->rc == CURLE_OK) {
        notify_settle(s, true, NULL);
    } else {
        notify_settle(s, false, "%s", notify_curl_reason(s, m->rc));
    }
}

/* Send the message over SMTP from a thread; on failure settle. */
static void mail_start(struct notify_send *s, const struct conf_notifier *conf,
                       const struct notify_view *v)
{
    if (s->curlm == NULL) {
        /* curlm_create did curl_global_init; without it a thread must not. */
        notify_settle(s, false, "no mail client");
        return;
    }
    struct mail *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        notify_settle(s, false, "out of memory");
        return;
    }
    atomic_init(&m->abort, 0);
    s->state = m;
    for (size_t i = 0; i < conf->nto; i++) {
        struct curl_slist *n = curl_slist_append(m->rcpt, conf->to[i]);
        if (n == NULL) {
            notify_settle(s, false, "out of memory");
            return;
        }
        m->rcpt = n;
    }
    if (m->rcpt == NULL) {
        notify_settle(s, false, "no recipients configured");
        return;
    }
    /* Its own handle, no share: the share handle is the loop thread's. */
    CURL *e = curl_easy_init();
    if (e == NULL) {
        notify_settle(s, false, "out of memory");
        return;
    }
    long use_ssl = conf->tls == CONF_TLS_REQUIRED ? (long)CURLUSESSL_ALL
                   : conf->tls == CONF_TLS_NONE   ? (long)CURLUSESSL_NONE
                                                  : (long)CURLUSESSL_TRY;
    long response_s = (long)((s->timeout_ms + 999) / 1000);
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_URL, conf->url);       /* copied */
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    bad |= curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, response_s);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    if (conf->from != NULL) {
        bad |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, conf->from);   /* copied */
    }
    bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, m->rcpt);
    bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_mail_read);
    bad |= curl_easy_setopt(e, CURLOPT_READDATA, s);
    bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
    bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_mail_progress);
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    if (bad != 0) {
        curl_easy_cleanup(e);
        notify_settle(s, false, "could not set up the mail");
        return;
    }
    int rc = uv_async_init(s->loop, &m->async, on_mail_done);
    if (rc < 0) {
        curl_easy_cleanup(e);
        notify_settle(s, false, "uv_async_init: %s", uv_strerror(rc));
        return;
    }
    m->async_init = true;
    m->async.data = s;
    s->easy = e;
    m->thread_running = true;
    rc = uv_thread_create(&m->thread, mail_thread, s);
    if (rc < 0) {
        m->thread_running = false;
        s->easy = NULL;
        curl_easy_cleanup(e);
        notify_settle(s, false, "could not start the mail thread: %s", uv_strerror(rc));
    }
}

/* Stop the thread's transfer at its next progress call. */
static void mail_cancel(struct notify_send *s)
{
    struct mail *m = s->state;
    if (m != NULL && m->thread_running) {
        atomic_store(&m->abort, 1);
    }
}

/* On settle: close the async handle. */
static void mail_close(struct notify_send *s)
{
    struct mail *m = s->state;
    if (m != NULL && m->async_init) {
        notify_close_handle(s, (uv_handle_t *)&m->async);
    }
}

/* Once every handle is closed: free the state. */
static void mail_release(struct notify_send *s)
{
    struct mail *m = s->state;
    if (m != NULL) {
        curl_slist_free_all(m->rcpt);
        free(m);
    }
}

#define NO(m) offsetof(struct conf_notifier, m)

/* In the order of enum conf_tls. */
static const char *const tls_modes[] = {"auto", "required", "none", NULL};

/* Keys of email notifiers. */
static const struct conf_field email_rows[] = {
    {.key = "from", .type = CONF_STR, .off = NO(from), .valid = conf_valid_text, .required = true},
    {.key = "to",
     .type = CONF_LIST,
     .off = NO(to),
     .off2 = NO(nto),
     .min = 1,
     .max = 100,
     .valid = conf_valid_text,
     .required = true},
    {.key = "tls", .type = CONF_INDEX, .off = NO(tls), .choices = tls_modes},
};

static const struct conf_rows email_conf_rows = CONF_ROWS(email_rows);

const struct notifier_class notify_email_class = {
    .name = "email",
    .needs_url = true,
    .smtp_url = true,
    .rows = &email_conf_rows,
    .render = render_email,
    .start = mail_start,
    .cancel = mail_cancel,
    .close = mail_close,
    .release = mail_release,
};
