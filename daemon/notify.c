/* notify.c - rendering and delivering one notification through one notifier.
 *
 * A notification is the generic JSON body (notify_payload) kept in the
 * outbox (alert.c); at send time it is parsed back into a view, validated,
 * and the notifier's class (notify_class.h, one file a type, one row in
 * notifier_classes[] below) renders what goes on the wire and delivers it.
 * This file holds what every class shares: the payload and its view, the
 * text helpers, the attempt's lifecycle, and HTTP delivery through the
 * curl multi engine handed to notify_start, which every HTTP type uses.
 *
 * One attempt is a struct notify_send. It owns a uv_timer (exec's deadline,
 * and for every type a handle whose close callback runs done), the rendered
 * body, the curl handle of an HTTP transfer, and through s->state whatever
 * its class keeps (the mail thread, the process and its pipes). Every path
 * ends in notify_settle(): the outcome is recorded, every handle is closed,
 * and done runs from the last close callback, so it runs exactly once and
 * never from inside notify_start. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "civil.h"
#include "clock.h"
#include "config.h"
#include "curlm.h"
#include "log.h"
#include "notify.h"
#include "notify_class.h"
#include "sbuf.h"
#include "store.h"
#include "utf8.h"
#include "util.h"

#define PAYLOAD_MAX (256 * 1024)     /* a generic body longer than this is refused */
#define RESPONSE_MAX (64 * 1024)     /* response bytes read before the transfer is cut */

/* Every notifier type (NOTIFIER_TYPES in notify_class.h). */
#define NOTIFIER_CLASS_PTR(name) &notify_##name##_class,
static const struct notifier_class *const notifier_classes[] = {NOTIFIER_TYPES(NOTIFIER_CLASS_PTR)};
#undef NOTIFIER_CLASS_PTR

/* --- UTF-8 --- */

/* The bytes that stand for the character at s (n bytes left) in notify_append_text's
 * output, and in *len how many input bytes it takes. */
static const char *text_char(const char *s, size_t n, bool clean, size_t *len, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    *len = utf8_seq_len(u, n);
    *outlen = *len;
    if (*len == 0) {
        *len = 1;
        *outlen = 3;
        return "\xEF\xBF\xBD";       /* U+FFFD */
    }
    if (clean && *len == 1 && (u[0] < 0x20 || u[0] == 0x7F)) {
        return " ";
    }
    return s;
}

/* Append s (valid UTF-8 or not) to b as valid UTF-8: invalid bytes become
 * U+FFFD, and when clean is set control characters (CR, LF, tab, ...)
 * become spaces. At most max bytes go in; a longer text is cut between
 * characters and ends with an ellipsis. */
void notify_append_text(struct sbuf *b, const char *s, size_t max, bool clean)
{
    size_t n = strlen(s);
    size_t total = 0, len, outlen;
    for (size_t i = 0; i < n; i += len) {
        text_char(s + i, n - i, clean, &len, &outlen);
        total += outlen;
    }
    size_t budget = total <= max ? max : (max >= 3 ? max - 3 : 0);
    size_t used = 0;
    for (size_t i = 0; i < n; i += len) {
        const char *out = text_char(s + i, n - i, clean, &len, &outlen);
        if (used + outlen > budget) {
            break;
        }
        sbuf_append(b, out, outlen);
        used += outlen;
    }
    if (total > max && max >= 3) {
        sbuf_append_str(b, "\xE2\x80\xA6"); /* U+2026 */
    }
}

/* A malloc'd valid UTF-8 copy of s, at most max bytes (see notify_append_text). */
static char *utf8_copy(const char *s, size_t max)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_append_text(&b, s, max, false);
    return sbuf_take(&b);
}

/* A malloc'd copy of s cut to max characters counted as UTF-16 units (how
 * chat services count), ending in an ellipsis when cut. s is valid UTF-8. */
char *notify_cut_units(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t units = 0, i = 0, fit = 0;   /* fit: bytes that leave room for the ellipsis */
    while (i < n) {
        size_t len = utf8_seq_len(u + i, n - i);
        if (len == 0) {
            len = 1;
        }
        size_t w = len == 4 ? 2 : 1;
        if (units + w + 1 <= max) {
            fit = i + len;
        }
        units += w;
        i += len;
    }
    if (units <= max) {
        return strdup(s);
    }
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    sbuf_append(&b, s, fit);
    sbuf_append_str(&b, "\xE2\x80\xA6");
    return sbuf_take(&b);
}

/* --- the generic payload --- */

/* A JSON string of s (cut to NOTIFY_FIELD_MAX, made valid UTF-8), or null. */
static json_t *jstr(const char *s)
{
    if (s == NULL) {
        return json_null();
    }
    char *c = utf8_copy(s, NOTIFY_FIELD_MAX);
    if (c == NULL) {
        return NULL;
    }
    json_t *j = json_string(c);
    free(c);
    return j;
}

/* A JSON time, null for 0 (and for anything before 1970). */
static json_t *jtime(int64_t ms)
{
    if (ms <= 0) {
        return json_null();
    }
    char buf[CIVIL_RFC3339_LEN];
    return json_string(civil_format_rfc3339(ms, buf, sizeof(buf)));
}

/* Build the generic body. */
char *notify_payload(const struct alert *a, const char *event, int64_t delivery_id,
                     int64_t now_ms)
{
    char host[NOTIFY_HOST_MAX];
    bool have_host = gethostname(host, sizeof(host)) == 0;
    host[sizeof(host) - 1] = '\0';

    json_t *al = json_object();
    json_t *root = json_object();
    if (al == NULL || root == NULL) {
        json_decref(al);
        json_decref(root);
        return NULL;
    }
    int err = 0;
    err |= json_object_set_new(al, "id", json_integer(a->id));
    err |= json_object_set_new(al, "kind", jstr(a->kind));
    err |= json_object_set_new(al, "status", jstr(a->status));
    err |= json_object_set_new(al, "severity", jstr(a->severity));
    err |= json_object_set_new(al, "check", jstr(a->check));
    err |= json_object_set_new(al, "app", jstr(a->app));
    err |= json_object_set_new(al, "env", jstr(a->env));
    err |= json_object_set_new(al, "summary", jstr(a->summary));
    err |= json_object_set_new(al, "started_at", jtime(a->started_ms));
    err |= json_object_set_new(al, "resolved_at", jtime(a->resolved_ms));
    err |= json_object_set_new(al, "acknowledged_by", jstr(a->ack_by));
    err |= json_object_set_new(al, "acknowledged_at", jtime(a->ack_ms));
    err |= json_object_set_new(al, "ack_comment", jstr(a->ack_comment));
    err |= json_object_set_new(al, "muted_by", jstr(a->muted_by));
    err |= json_object_set_new(al, "deploy_id",
                               a->deploy_id != 0 ? json_integer(a->deploy_id) : json_null());
    /* The deploy a down or degraded alert opened under, as stored. */
    json_t *dep = a->deploy_info != NULL ? json_loads(a->deploy_info, 0, NULL) : NULL;
    if (json_is_object(dep)) {
        err |= json_object_set_new(al, "deploy", dep);
    } else {
        json_decref(dep);
    }

    err |= json_object_set_new(root, "version", json_integer(1));
    err |= json_object_set_new(root, "delivery_id", json_integer(delivery_id));
    err |= json_object_set_new(root, "event", jstr(event));
    err |= json_object_set_new(root, "alert", al);
    err |= json_object_set_new(root, "host", jstr(have_host ? host : NULL));
    err |= json_object_set_new(root, "shipwatch_version", json_string(SHIPWATCH_VERSION));
    err |= json_object_set_new(root, "created_at", jtime(now_ms));
    char *out = err == 0 ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return out;
}

/* payload with its delivery_id replaced; key order is kept. */
char *notify_with_delivery_id(const char *payload, int64_t delivery_id)
{
    json_t *root = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
    char *out = NULL;
    if (json_is_object(root) &&
        json_object_set_new(root, "delivery_id", json_integer(delivery_id)) == 0) {
        out = json_dumps(root, JSON_COMPACT);
    }
    json_decref(root);
    return out;
}

/* --- the payload read back --- */

static const struct {
    const char *event;
    const char *label;
} events[] = {
    {"firing", "FIRING"},
    {"resolved", "RESOLVED"},
    {"repeat", "REPEAT"},
    {"acknowledged", "ACKNOWLEDGED"},
};

/* A string member that may be null or absent: 0, or -1 for another type. */
static int opt_str(json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* A string member that must be there. */
static int req_str(json_t *obj, const char *key, const char **out)
{
    return opt_str(obj, key, out) == 0 && *out != NULL ? 0 : -1;
}

/* An integer member that must be there. */
static int req_int(json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        return -1;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* Parse and check a generic body. 0 with v->root to json_decref, or -1. */
static int view_parse(const char *payload, struct notify_view *v)
{
    memset(v, 0, sizeof(*v));
    if (payload == NULL) {
        return -1;
    }
    size_t len = strnlen(payload, PAYLOAD_MAX + 1);
    if (len > PAYLOAD_MAX) {
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return -1;
    }
    v->root = root;
    int64_t version = 0;
    json_t *al = json_object_get(root, "alert");
    if (!json_is_object(root) || req_int(root, "version", &version) < 0 || version != 1 ||
        req_int(root, "delivery_id", &v->delivery_id) < 0 ||
        req_str(root, "event", &v->event) < 0 || !json_is_object(al) ||
        req_int(al, "id", &v->id) < 0 || req_str(al, "kind", &v->kind) < 0 ||
        req_str(al, "status", &v->status) < 0 || req_str(al, "severity", &v->severity) < 0 ||
        req_str(al, "summary", &v->summary) < 0 || opt_str(al, "check", &v->check) < 0 ||
        opt_str(al, "app", &v->app) < 0 || opt_str(al, "env", &v->env) < 0 ||
        opt_str(al, "started_at", &v->started_at) < 0 ||
        opt_str(al, "resolved_at", &v->resolved_at) < 0 ||
        opt_str(al, "acknowledged_by", &v->ack_by) < 0 ||
        opt_str(al, "acknowledged_at", &v->ack_at) < 0 ||
        opt_str(al, "ack_comment", &v->ack_comment) < 0 ||
        opt_str(al, "muted_by", &v->muted_by) < 0 || opt_str(root, "host", &v->host) < 0 ||
        opt_str(root, "shipwatch_version", &v->version) < 0 ||
        opt_str(root, "created_at", &v->created_at) < 0) {
        goto bad;
    }
    json_t *dep = json_object_get(al, "deploy_id");
    if (dep != NULL && !json_is_null(dep)) {
        if (!json_is_integer(dep)) {
            goto bad;
        }
        v->deploy_id = (int64_t)json_integer_value(dep);
    }
    for (size_t i = 0; i < ARRAY_SIZE(events); i++) {
        if (strcmp(v->event, events[i].event) == 0) {
            v->event_label = events[i].label;
        }
    }
    if (v->event_label == NULL) {
        goto bad;
    }
    return 0;
bad:
    json_decref(root);
    memset(v, 0, sizeof(*v));
    return -1;
}

/* --- text for people --- */

/* "[FIRING] critical api-health (api/production): summary (by x: comment)",
 * one line: control characters become spaces. */
void notify_headline(struct sbuf *b, const struct notify_view *v, size_t summary_max)
{
    sbuf_appendf(b, "[%s] ", v->event_label);
    notify_append_text(b, v->severity, NOTIFY_FIELD_MAX, true);
    sbuf_append_str(b, " ");
    notify_append_text(b, v->check != NULL ? v->check : v->kind, NOTIFY_FIELD_MAX, true);
    if (v->app != NULL || v->env != NULL) {
        sbuf_append_str(b, " (");
        if (v->app != NULL) {
            notify_append_text(b, v->app, NOTIFY_FIELD_MAX, true);
        }
        if (v->app != NULL && v->env != NULL) {
            sbuf_append_str(b, "/");
        }
        if (v->env != NULL) {
            notify_append_text(b, v->env, NOTIFY_FIELD_MAX, true);
        }
        sbuf_append_str(b, ")");
    }
    sbuf_append_str(b, ": ");
    notify_append_text(b, v->summary, summary_max, true);
    if (strcmp(v->event, "acknowledged") == 0 && v->ack_by != NULL) {
        sbuf_append_str(b, " (by ");
        notify_append_text(b, v->ack_by, NOTIFY_FIELD_MAX, true);
        if (v->ack_comment != NULL && v->ack_comment[0] != '\0') {
            sbuf_append_str(b, ": ");
            notify_append_text(b, v->ack_comment, NOTIFY_FIELD_MAX, true);
        }
        sbuf_append_str(b, ")");
    }
}

/* The chat message: the headline, then one detail a line. */
void notify_chat_text(struct sbuf *b, const struct notify_view *v)
{
    notify_headline(b, v, NOTIFY_FIELD_MAX);
    if (v->started_at != NULL) {
        sbuf_append_str(b, "\nStarted: ");
        notify_append_text(b, v->started_at, NOTIFY_FIELD_MAX, true);
    }
    if (v->resolved_at != NULL) {
        sbuf_append_str(b, "\nResolved: ");
        notify_append_text(b, v->resolved_at, NOTIFY_FIELD_MAX, true);
    }
    if (v->ack_by != NULL) {
        sbuf_append_str(b, "\nAcknowledged by ");
        notify_append_text(b, v->ack_by, NOTIFY_FIELD_MAX, true);
        if (v->ack_at != NULL) {
            sbuf_append_str(b, " at ");
            notify_append_text(b, v->ack_at, NOTIFY_FIELD_MAX, true);
        }
        if (v->ack_comment != NULL && v->ack_comment[0] != '\0') {
            sbuf_append_str(b, ": ");
            notify_append_text(b, v->ack_comment, NOTIFY_FIELD_MAX, true);
        }
    }
    if (v->muted_by != NULL) {
        sbuf_append_str(b, "\nMuted by ");
        notify_append_text(b, v->muted_by, NOTIFY_FIELD_MAX, true);
    }
    if (v->deploy_id != 0) {
        sbuf_appendf(b, "\nDeploy #%lld", (long long)v->deploy_id);
    }
    sbuf_appendf(b, "\nAlert #%lld (", (long long)v->id);
    notify_append_text(b, v->kind, NOTIFY_FIELD_MAX, true);
    sbuf_append_str(b, ")");
    if (v->host != NULL) {
        sbuf_append_str(b, " on ");
        notify_append_text(b, v->host, NOTIFY_FIELD_MAX, true);
    }
}

/* A JSON document's compact text, consuming j. NULL on failure. */
char *notify_json_take(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* webhook and exec: the payload itself. */
char *notify_render_payload(const struct conf_notifier *conf, const struct notify_view *v,
                            const char *payload, int64_t now_ms)
{
    return strdup(payload);
}

/* RFC 4648 base64 of n bytes of s. */
static void base64(struct sbuf *b, const unsigned char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)s[i] << 16;
        if (i + 1 < n) {
            w |= (uint32_t)s[i + 1] << 8;
        }
        if (i + 2 < n) {
            w |= s[i + 2];
        }
        char q[4] = {tab[(w >> 18) & 63], tab[(w >> 12) & 63], i + 1 < n ? tab[(w >> 6) & 63] : '=',
                     i + 2 < n ? tab[w & 63] : '='};
        sbuf_append(b, q, 4);
    }
}

/* A header value as-is when ASCII, else as RFC 2047 encoded words of whole
 * characters, sep between them. s has no control characters. */
void notify_append_header(struct sbuf *b, const char *s, const char *sep)
{
    size_t n = strlen(s);
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            ascii = false;
        }
    }
    if (ascii) {
        sbuf_append(b, s, n);
        return;
    }
    /* 45 bytes make 60 base64 characters: a word of 72, within 75. */
    size_t i = 0;
    while (i < n) {
        size_t end = i + 45 < n ? i + 45 : n;
        while (end < n && end > i + 1 && ((unsigned char)s[end] & 0xC0) == 0x80) {
            end--;
        }
        if (i > 0) {
            sbuf_append_str(b, sep);
        }
        sbuf_append_str(b, "=?UTF-8?B?");
        base64(b, (const unsigned char *)s + i, end - i);
        sbuf_append_str(b, "?=");
        i = end;
    }
}

/* --- the classes --- */

/* The class of a type name. */
const struct notifier_class *notify_class_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ARRAY_SIZE(notifier_classes); i++) {
        if (strcmp(notifier_classes[i]->name, name) == 0) {
            return notifier_classes[i];
        }
    }
    return NULL;
}

/* Render for conf's type; NULL for an invalid payload or an unknown type. */
char *notify_render(const struct conf_notifier *conf, const char *payload, int64_t now_ms)
{
    const struct notifier_class *cls = notify_class_find(conf->type);
    struct notify_view v;
    if (cls == NULL || view_parse(payload, &v) < 0) {
        return NULL;
    }
    char *out = cls->render(conf, &v, payload, now_ms);
    json_decref(v.root);
    return out;
}

/* --- one attempt's lifecycle --- */

/* Free the attempt and what it owns (its handles are closed). */
static void free_send(struct notify_send *s)
{
    if (s->cls != NULL && s->cls->release != NULL) {
        s->cls->release(s);
    }
    curl_slist_free_all(s->headers);
    free(s->body);
    free(s);
}

/* A handle closed: once the last one is, free and run done. */
static void on_closed(uv_handle_t *h)
{
    struct notify_send *s = h->data;
    if (--s->closing > 0 || !s->settled) {
        return;
    }
    notify_done_fn done = s->done;
    void *arg = s->arg;
    bool ok = s->ok;
    char reason[NOTIFY_REASON_MAX];
    memcpy(reason, s->reason, sizeof(reason));
    free_send(s);
    done(ok, ok ? NULL : reason, arg);
}

/* Close one of the attempt's handles, counting it towards done. */
void notify_close_handle(struct notify_send *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        s->closing++;
        uv_close(h, on_closed);
    }
}

/* Record the outcome and close every handle; done follows from the last
 * close callback. */
void notify_settle(struct notify_send *s, bool ok, const char *fmt, ...)
{
    if (s->settled) {
        return;
    }
    s->settled = true;
    s->ok = ok;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
        va_end(ap);
    }
    if (s->cls != NULL && s->cls->close != NULL) {
        s->cls->close(s);
    }
    notify_close_handle(s, (uv_handle_t *)&s->timer);
}

/* Up to n bytes of text as one printable line (cut at the first line end). */
void notify_first_line(const char *text, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    while (k < n && text[k] != '\n' && text[k] != '\r') {
        k++;
    }
    while (k > 0 && (text[k - 1] == ' ' || text[k - 1] == '\t')) {
        k--;
    }
    if (k >= outlen) {
        k = outlen - 1;
    }
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
    }
    out[k] = '\0';
}

/* The text of a failed transfer: libcurl's message, else its code's. */
const char *notify_curl_reason(struct notify_send *s, CURLcode rc)
{
    return s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc);
}

/* --- HTTP through the multi engine --- */

/* CURLOPT_WRITEFUNCTION: discard the response, keep its start, cut it off
 * past RESPONSE_MAX. */
static size_t on_response(char *data, size_t size, size_t nmemb, void *arg)
{
    struct notify_send *s = arg;
    size_t n = size * nmemb;
    if (s->resp_len < sizeof(s->resp)) {
        size_t keep = sizeof(s->resp) - s->resp_len < n ? sizeof(s->resp) - s->resp_len : n;
        memcpy(s->resp + s->resp_len, data, keep);
        s->resp_len += keep;
    }
    s->resp_seen += n;
    if (s->resp_seen > RESPONSE_MAX) {
        s->resp_overflow = true;
        return 0;
    }
    return n;
}

/* The transfer ended (or was aborted): 2xx is delivered. */
static void on_http_done(CURL *easy, CURLcode rc, void *arg)
{
    struct notify_send *s = arg;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(easy);
    s->easy = NULL;
    /* A runaway body was cut by us: the status line still counts. */
    bool answered = rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && s->resp_overflow);

    if (s->cancelled) {
        notify_settle(s, false, "cancelled");
    } else if (answered && code >= 200 && code < 300) {
        notify_settle(s, true, NULL);
    } else if (answered && code > 0) {
        char line[NOTIFY_KEEP_MAX];
        notify_first_line(s->resp, s->resp_len, line, sizeof(line));
        notify_settle(s, false, "HTTP %ld%s%s", code, line[0] != '\0' ? ": " : "", line);
    } else {
        notify_settle(s, false, "%s", notify_curl_reason(s, rc));
    }
}

/* The URL to POST to: conf's, with the type's path after it (trailing
 * slashes of the base dropped). A malloc'd string. */
static char *http_url(const char *path, const char *base)
{
    if (path == NULL) {
        return strdup(base);
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    size_t len = n + strlen(path) + 1;
    char *url = malloc(len);
    if (url != NULL) {
        snprintf(url, len, "%.*s%s", (int)n, base, path);
    }
    return url;
}

/* POST (or the class's method) the body through curlm; on failure settle
 * with the reason. */
void notify_http_start(struct notify_send *s, const struct conf_notifier *conf,
                       const struct notify_view *v)
{
    if (s->curlm == NULL) {
        notify_settle(s, false, "no HTTP client");
        return;
    }
    const char *type = s->cls->content_type != NULL ? s->cls->content_type : "application/json";
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "Content-Type: %s", type);
    const char *base = conf->url != NULL && conf->url[0] != '\0' ? conf->url : s->cls->default_url;
    struct notify_request req = {.url = http_url(s->cls->path, base)};
    struct curl_slist *h = curl_slist_append(NULL, ctype);
    req.headers = h != NULL ? curl_slist_append(h, "Expect:") : NULL;
    if (req.headers == NULL) {
        curl_slist_free_all(h);
    }
    CURL *e = curlm_easy(s->curlm);
    if (req.url == NULL || req.headers == NULL || e == NULL) {
        free(req.url);
        curl_slist_free_all(req.headers);
        curl_easy_cleanup(e);
        notify_settle(s, false, "out of memory");
        return;
    }
    int rc = s->cls->request != NULL ? s->cls->request(conf, v, &req) : 0;
    if (rc < 0) {
        free(req.url);
        curl_slist_free_all(req.headers);
        curl_easy_cleanup(e);
        notify_settle(s, false, "could not build the request: %s", uv_strerror(rc));
        return;
    }
    s->headers = req.headers;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, req.url);     /* libcurl copies it */
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "shipwatch/" SHIPWATCH_VERSION);
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    bad |= curl_easy_setopt(e, CURLOPT_POST, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->body);
    bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->body_len);
    if (s->cls->method != NULL) {
        bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, s->cls->method);
    }
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    free(req.url);
    if (bad != 0) {
        curl_easy_cleanup(e);
        notify_settle(s, false, "could not set up the request");
        return;
    }
    s->easy = e;
    rc = curlm_add(s->curlm, e, on_http_done, s);
    if (rc < 0) {
        s->easy = NULL;
        curl_easy_cleanup(e);
        notify_settle(s, false, "could not start the request: %s", uv_strerror(rc));
    }
}

/* Abort the transfer in flight: on_http_done follows. */
void notify_http_cancel(struct notify_send *s)
{
    if (s->easy != NULL) {
        curlm_cancel(s->curlm, s->easy);
    }
}

/* --- the attempt --- */

/* Start one attempt. The attempt is returned whenever done will run, also
 * when it failed at once (done then reports why, from a later callback);
 * NULL only when not even that could be set up (out of memory), and then
 * done never runs. */
struct notify_send *notify_start(uv_loop_t *loop, struct curlm *curlm,
                                 const struct conf_notifier *conf, const char *payload,
                                 notify_done_fn done, void *arg)
{
    struct notify_send *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_error(LOG_KV("component", "notify", "notifier", conf->name),
                  "out of memory starting a notification");
        return NULL;
    }
    s->loop = loop;
    s->curlm = curlm;
    s->done = done;
    s->arg = arg;
    s->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS;
    int rc = uv_timer_init(loop, &s->timer);
    if (rc < 0) {
        log_error(LOG_KV("component", "notify", "notifier", conf->name), "uv_timer_init: %s",
                  uv_strerror(rc));
        free(s);
        return NULL;
    }
    s->timer.data = s;

    struct notify_view v;
    s->cls = notify_class_find(conf->type);
    if (s->cls == NULL) {
        notify_settle(s, false, "unknown notifier type %s",
                      conf->type != NULL ? conf->type : "(none)");
        return s;
    }
    if (s->cls->needs_url && s->cls->default_url == NULL &&
        (conf->url == NULL || conf->url[0] == '\0')) {
        notify_settle(s, false, "no url configured");
        return s;
    }
    if (view_parse(payload, &v) < 0) {
        notify_settle(s, false, "invalid payload");
        return s;
    }
    s->body = s->cls->render(conf, &v, payload, clock_wall_ms());
    if (s->body == NULL) {
        json_decref(v.root);
        notify_settle(s, false, "could not render the message");
        return s;
    }
    s->body_len = strlen(s->body);
    s->cls->start(s, conf, &v);
    json_decref(v.root);
    return s;
}

/* Abort an attempt in flight. */
void notify_cancel(struct notify_send *s)
{
    if (s == NULL || s->settled || s->cancelled) {
        return;
    }
    s->cancelled = true;
    if (s->cls != NULL && s->cls->cancel != NULL) {
        s->cls->cancel(s);
    }
}
