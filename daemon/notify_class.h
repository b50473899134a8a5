/* notify_class.h - what one notifier type is, and what notify.c lends it.
 *
 * The contract. A notifier type is one file, daemon/notify_<name>.c, that
 * exports one const struct notifier_class (designated initializers), and
 * one row in notifier_classes[] in notify.c; the configuration accepts it
 * once its name is in config.c's notifier type names. A class provides:
 *
 *   name       the `type:` of the configuration
 *   needs_url  whether a notifier of this type cannot start without a url
 *              (without one, url is no key of the type)
 *   smtp_url   its url is smtp:// or smtps://, not http:// or https://
 *   rows       the configuration keys only this type takes (config_rows.h),
 *              NULL for none; config.c reads them through notify_class_find
 *   render     the bytes it sends, from the parsed generic body (a view):
 *              an HTTP body, a mail message, a command's stdin. Returns a
 *              malloc'd string the attempt then owns, NULL on failure.
 *              Pure: no I/O, time comes in as now_ms. Public through
 *              notify_render for the tests.
 *   start      begin delivering s->body. It either leaves work in flight
 *              that ends in notify_settle, or calls notify_settle itself;
 *              it never runs done. HTTP types use notify_http_start.
 *   cancel     abort the work start left in flight, so that it ends in
 *              notify_settle soon (from a later callback). Optional.
 *   close      on settle: close the class's own handles with
 *              notify_close_handle. Optional.
 *   release    free s->state once every handle is closed. Optional.
 *   HTTP only (read by notify_http_start): path, appended to the url;
 *   default_url, the url when the configuration gives none (url is then
 *   optional: PagerDuty's one endpoint); method, "POST" when NULL;
 *   content_type, "application/json" when NULL; request, to add headers
 *   or replace the URL.
 *
 * Who owns what. notify.c owns struct notify_send: its timer (whose close
 * runs done, so done never runs inside notify_start), the rendered body,
 * the HTTP transfer, and the order in which things end. A class may keep
 * its own state in s->state (it allocates it in start, frees it in
 * release); handles in it must have ->data set to s so that their close
 * callbacks count. The view's strings point into the parsed payload and
 * live only while render, start and request run: copy what is kept.
 *
 * The text helpers (UTF-8 cleaning, RFC 2047 words, the chat-style
 * message) live here once for every class; text is built in common/'s
 * struct sbuf. */
#ifndef SHIPWATCH_NOTIFY_CLASS_H
#define SHIPWATCH_NOTIFY_CLASS_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "notify.h"
#include "sbuf.h"

struct conf_notifier;
struct conf_rows;
struct curlm;

#define NOTIFY_FIELD_MAX 4096        /* bytes of one string of the payload */
#define NOTIFY_RENDER_MAX (1024 * 1024) /* bytes of any rendered body */
#define NOTIFY_KEEP_MAX 160          /* response or output bytes kept for a reason */
#define NOTIFY_HOST_MAX 256

/* A generic body, parsed and checked. Strings point into root. */
struct notify_view {
    json_t *root;
    int64_t delivery_id;
    const char *event;
    const char *event_label;    /* "FIRING", ... */
    int64_t id;
    const char *kind, *status, *severity, *summary;
    const char *check, *app, *env;              /* NULL none */
    const char *started_at, *resolved_at;       /* NULL none */
    const char *ack_by, *ack_at, *ack_comment;  /* NULL none */
    const char *muted_by;                       /* NULL none */
    int64_t deploy_id;                          /* 0 none */
    const char *host, *version, *created_at;    /* NULL none */
};

/* An HTTP request as a class may amend it before it is sent. */
struct notify_request {
    char *url;                  /* malloc'd; a class may free and replace it */
    struct curl_slist *headers; /* Content-Type and Expect are already in */
};

struct notify_send;

struct notifier_class {
    const char *name;           /* the configuration's type */
    bool needs_url;
    bool smtp_url;              /* url is smtp(s)://, not http(s):// */
    const struct conf_rows *rows;   /* keys only this type takes; NULL none */
    char *(*render)(const struct conf_notifier *conf, const struct notify_view *v,
                    const char *payload, int64_t now_ms);
    void (*start)(struct notify_send *s, const struct conf_notifier *conf,
                  const struct notify_view *v);
    void (*cancel)(struct notify_send *s);
    void (*close)(struct notify_send *s);
    void (*release)(struct notify_send *s);
    /* HTTP */
    const char *path;           /* appended to the url (its trailing slashes dropped) */
    const char *default_url;    /* the url when none is configured; NULL: required */
    const char *method;         /* NULL: POST; else sent with the body, e.g. "PUT" */
    const char *content_type;   /* NULL: application/json */
    int (*request)(const struct conf_notifier *conf, const struct notify_view *v,
                   struct notify_request *req);  /* 0, or -ENOMEM */
};

/* One delivery attempt, from notify_start until done has run. */
struct notify_send {
    const struct notifier_class *cls;  /* NULL for an unknown type */
    uv_loop_t *loop;
    struct curlm *curlm;
    notify_done_fn done;
    void *arg;
    bool settled;               /* outcome decided; handles closing */
    bool cancelled;
    bool ok;
    char reason[NOTIFY_REASON_MAX];
    int closing;                /* close callbacks owed before done runs */
    uv_timer_t timer;           /* every type has it, so that done always runs
                                   from a close callback; exec's deadline */
    char *body;                 /* request body, mail message, or stdin */
    size_t body_len;
    int64_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
    void *state;                /* the class's own, freed by its release */

    /* HTTP */
    CURL *easy;                 /* while the transfer runs */
    struct curl_slist *headers;
    size_t resp_seen;           /* response bytes received */
    bool resp_overflow;         /* cut at the response limit */
    char resp[NOTIFY_KEEP_MAX]; /* the response's start, for the reason */
    size_t resp_len;
};

/* The classes, one a file. */
/* Every notifier type, one row each, in the order messages list them: a
 * new type is its notify_<name>.c and one row here. X(name) expands to
 * whatever the includer needs: the class table in notify.c, the names
 * "type:" accepts in config.c. */
#define NOTIFIER_TYPES(X) \
    X(webhook)            \
    X(slack)              \
    X(discord)            \
    X(email)              \
    X(exec)               \
    X(alertmanager)       \
    X(ntfy)               \
    X(pagerduty)          \
    X(opsgenie)           \
    X(teams)              \
    X(telegram)           \
    X(mattermost)         \
    X(googlechat)         \
    X(pushover)           \
    X(gotify)             \
    X(matrix)

#define NOTIFIER_CLASS_DECLARE(name) extern const struct notifier_class notify_##name##_class;
NOTIFIER_TYPES(NOTIFIER_CLASS_DECLARE)
#undef NOTIFIER_CLASS_DECLARE

/* The class of a configured type name, NULL for none. */
const struct notifier_class *notify_class_find(const char *name);

/* --- the attempt's lifecycle (notify.c) --- */

/* Record the outcome (reason formatted as printf) and close every handle;
 * done follows from the last close callback. Only the first call counts. */
void notify_settle(struct notify_send *s, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Close h, one of s's handles (h->data is s), counting it towards done. */
void notify_close_handle(struct notify_send *s, uv_handle_t *h);

/* POST s->body to conf->url through curlm: the start of every HTTP class. */
void notify_http_start(struct notify_send *s, const struct conf_notifier *conf,
                       const struct notify_view *v);

/* Abort the HTTP transfer in flight: the cancel of every HTTP class. */
void notify_http_cancel(struct notify_send *s);

/* The text of a failed transfer: libcurl's message, else its code's. */
const char *notify_curl_reason(struct notify_send *s, CURLcode rc);

/* Up to n bytes of text as one printable line (cut at the first line end)
 * into out. */
void notify_first_line(const char *text, size_t n, char *out, size_t outlen);

/* --- text, shared by the classes (notify.c) --- */

/* Every builder of a rendered body is a struct sbuf limited to
 * NOTIFY_RENDER_MAX (sbuf_init(&b, NOTIFY_RENDER_MAX)); a failed one makes
 * the render fail. */

/* Append s (valid UTF-8 or not) as valid UTF-8: invalid bytes become
 * U+FFFD, and when clean is set control characters become spaces. At most
 * max bytes go in; a longer text is cut between characters and ends with
 * an ellipsis. */
void notify_append_text(struct sbuf *b, const char *s, size_t max, bool clean);

/* Append s, which has no control characters, as a header value: as it is
 * when ASCII, else as RFC 2047 encoded words of whole characters, joined
 * by sep ("\r\n " folds a mail header, " " keeps an HTTP header on one
 * line). */
void notify_append_header(struct sbuf *b, const char *s, const char *sep);

/* A malloc'd copy of s cut to max characters counted as UTF-16 units (how
 * chat services count), ending in an ellipsis when cut. s is valid UTF-8. */
char *notify_cut_units(const char *s, size_t max);

/* Append "[FIRING] critical api-health (api/production): summary (by x:
 * comment)" as one line: control characters become spaces. */
void notify_headline(struct sbuf *b, const struct notify_view *v, size_t summary_max);

/* Append the chat message: the headline, then one detail a line. */
void notify_chat_text(struct sbuf *b, const struct notify_view *v);

/* A JSON document's compact text, consuming j. NULL on failure. */
char *notify_json_take(json_t *j);

/* The payload itself, for the types that send the generic body. */
char *notify_render_payload(const struct conf_notifier *conf, const struct notify_view *v,
                            const char *payload, int64_t now_ms);

#endif
