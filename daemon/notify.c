/* notify.c - rendering and delivering one notification through one notifier.
 *
 * A notification is the generic JSON body (notify_payload) kept in the
 * outbox; at send time it is parsed back into a view, validated, and the
 * notifier type's render function builds what goes on the wire. HTTP types
 * go through the daemon's curl multi engine, exec through uv_spawn with the
 * payload on stdin. Email runs libcurl on a thread of its own, one per
 * message: libcurl's SMTP code waits for the server's reply to the end of
 * the data, and for QUIT, with blocking calls even under the multi
 * interface, and a slow mail server must not stall the loop. The thread
 * reports back through a uv_async; cancelling it is a flag its progress
 * callback reads (libcurl calls that at least once a second).
 *
 * One attempt is a struct notify_send. It owns a uv_timer (exec's deadline,
 * and for every type a handle whose close callback runs done), the rendered
 * body, and the curl handle, the mail thread or the process and its pipes.
 * Every path ends in settle(): the outcome is recorded, every handle is
 * closed, and done runs from the last close callback, so it runs exactly
 * once and never from inside notify_start. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "curlm.h"
#include "daemon.h"
#include "duration.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "utf8.h"

extern char **environ;

#define PAYLOAD_MAX (256 * 1024)     /* a generic body longer than this is refused */
#define FIELD_MAX 4096               /* bytes of one string of the payload */
#define RENDER_MAX (1024 * 1024)     /* bytes of any rendered body */
#define SLACK_TEXT_MAX 3000          /* characters (UTF-16 units) of a Slack text */
#define DISCORD_CONTENT_MAX 2000     /* Discord's limit on content, in characters */
#define LINE_VALUE_MAX 900           /* bytes of one value in a mail line (lines < 998) */
#define SUBJECT_SUMMARY_MAX 160      /* bytes of the summary in a mail subject */
#define RESPONSE_MAX (64 * 1024)     /* response bytes read before the transfer is cut */
#define KEEP_MAX 160                 /* response or output bytes kept for the reason */
#define READ_CHUNK 4096
#define OUTPUT_GRACE_MS 200          /* exec: output still drained after the exit */
#define KILL_WAIT_MS 2000            /* exec: wait for the exit after SIGKILL */
#define HOST_MAX 256
#define EXEC_ENV_EXTRA 10            /* SHIPWATCH_* variables set for exec */

/* --- a bounded string builder --- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;                /* out of memory or over RENDER_MAX */
};

/* Append n bytes of s. */
static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > RENDER_MAX) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append printf-style text (one line's worth at most). */
static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    sb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The built string, which the caller frees; NULL (and b freed) on failure. */
static char *sb_take(struct sbuf *b)
{
    if (b->failed) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    if (b->p == NULL) {
        return strdup("");
    }
    return b->p;
}

/* --- UTF-8 --- */

/* The bytes that stand for the character at s (n bytes left) in sb_text's
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
static void sb_text(struct sbuf *b, const char *s, size_t max, bool clean)
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
        sb_add(b, out, outlen);
        used += outlen;
    }
    if (total > max && max >= 3) {
        sb_str(b, "\xE2\x80\xA6");      /* U+2026 */
    }
}

/* A malloc'd valid UTF-8 copy of s, at most max bytes (see sb_text). */
static char *utf8_copy(const char *s, size_t max)
{
    struct sbuf b = {0};
    sb_text(&b, s, max, false);
    return sb_take(&b);
}

/* A malloc'd copy of s cut to max characters counted as UTF-16 units (how
 * chat services count), ending in an ellipsis when cut. s is valid UTF-8. */
static char *cut_units(const char *s, size_t max)
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
    struct sbuf b = {0};
    sb_add(&b, s, fit);
    sb_str(&b, "\xE2\x80\xA6");
    return sb_take(&b);
}

/* --- the generic payload --- */

/* Unix ms as RFC 3339 UTC with milliseconds into buf (at least 32 bytes). */
static const char *format_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

/* A JSON string of s (cut to FIELD_MAX, made valid UTF-8), or null. */
static json_t *jstr(const char *s)
{
    if (s == NULL) {
        return json_null();
    }
    char *c = utf8_copy(s, FIELD_MAX);
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
    char buf[40];
    return json_string(format_time(ms, buf, sizeof(buf)));
}

/* Build the generic body. */
char *notify_payload(const struct alert *a, const char *event, int64_t delivery_id,
                     int64_t now_ms)
{
    char host[HOST_MAX];
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

/* A generic body, parsed and checked. Strings point into root. */
struct view {
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
static int view_parse(const char *payload, struct view *v)
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
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
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
static void headline(struct sbuf *b, const struct view *v, size_t summary_max)
{
    sb_fmt(b, "[%s] ", v->event_label);
    sb_text(b, v->severity, FIELD_MAX, true);
    sb_str(b, " ");
    sb_text(b, v->check != NULL ? v->check : v->kind, FIELD_MAX, true);
    if (v->app != NULL || v->env != NULL) {
        sb_str(b, " (");
        if (v->app != NULL) {
            sb_text(b, v->app, FIELD_MAX, true);
        }
        if (v->app != NULL && v->env != NULL) {
            sb_str(b, "/");
        }
        if (v->env != NULL) {
            sb_text(b, v->env, FIELD_MAX, true);
        }
        sb_str(b, ")");
    }
    sb_str(b, ": ");
    sb_text(b, v->summary, summary_max, true);
    if (strcmp(v->event, "acknowledged") == 0 && v->ack_by != NULL) {
        sb_str(b, " (by ");
        sb_text(b, v->ack_by, FIELD_MAX, true);
        if (v->ack_comment != NULL && v->ack_comment[0] != '\0') {
            sb_str(b, ": ");
            sb_text(b, v->ack_comment, FIELD_MAX, true);
        }
        sb_str(b, ")");
    }
}

/* The chat message: the headline, then one detail a line. */
static void chat_text(struct sbuf *b, const struct view *v)
{
    headline(b, v, FIELD_MAX);
    if (v->started_at != NULL) {
        sb_str(b, "\nStarted: ");
        sb_text(b, v->started_at, FIELD_MAX, true);
    }
    if (v->resolved_at != NULL) {
        sb_str(b, "\nResolved: ");
        sb_text(b, v->resolved_at, FIELD_MAX, true);
    }
    if (v->ack_by != NULL) {
        sb_str(b, "\nAcknowledged by ");
        sb_text(b, v->ack_by, FIELD_MAX, true);
        if (v->ack_at != NULL) {
            sb_str(b, " at ");
            sb_text(b, v->ack_at, FIELD_MAX, true);
        }
        if (v->ack_comment != NULL && v->ack_comment[0] != '\0') {
            sb_str(b, ": ");
            sb_text(b, v->ack_comment, FIELD_MAX, true);
        }
    }
    if (v->muted_by != NULL) {
        sb_str(b, "\nMuted by ");
        sb_text(b, v->muted_by, FIELD_MAX, true);
    }
    if (v->deploy_id != 0) {
        sb_fmt(b, "\nDeploy #%lld", (long long)v->deploy_id);
    }
    sb_fmt(b, "\nAlert #%lld (", (long long)v->id);
    sb_text(b, v->kind, FIELD_MAX, true);
    sb_str(b, ")");
    if (v->host != NULL) {
        sb_str(b, " on ");
        sb_text(b, v->host, FIELD_MAX, true);
    }
}

/* A JSON document's compact text, consuming j. NULL on failure. */
static char *dump(json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* --- renderers, one per type --- */

/* webhook and exec: the payload itself. */
static char *render_payload(const struct conf_notifier *conf, const struct view *v,
                            const char *payload, int64_t now_ms)
{
    return strdup(payload);
}

/* slack: {"text": ...}; &, < and > escaped as Slack asks. */
static char *render_slack(const struct conf_notifier *conf, const struct view *v,
                          const char *payload, int64_t now_ms)
{
    struct sbuf b = {0};
    chat_text(&b, v);
    char *plain = sb_take(&b);
    char *cut = plain != NULL ? cut_units(plain, SLACK_TEXT_MAX) : NULL;
    free(plain);
    if (cut == NULL) {
        return NULL;
    }
    struct sbuf e = {0};
    for (const char *p = cut; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            sb_str(&e, "&amp;");
            break;
        case '<':
            sb_str(&e, "&lt;");
            break;
        case '>':
            sb_str(&e, "&gt;");
            break;
        default:
            sb_add(&e, p, 1);
            break;
        }
    }
    free(cut);
    char *text = sb_take(&e);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    if (j != NULL && json_object_set_new(j, "text", json_string(text)) < 0) {
        json_decref(j);
        j = NULL;
    }
    free(text);
    return dump(j);
}

/* discord: {"content": ...} within 2000 characters, mentions disabled so a
 * summary cannot ping @everyone. */
static char *render_discord(const struct conf_notifier *conf, const struct view *v,
                            const char *payload, int64_t now_ms)
{
    struct sbuf b = {0};
    chat_text(&b, v);
    char *plain = sb_take(&b);
    char *text = plain != NULL ? cut_units(plain, DISCORD_CONTENT_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    json_t *mentions = json_object();
    int err = j == NULL || mentions == NULL;
    if (!err) {
        err |= json_object_set_new(j, "content", json_string(text));
        err |= json_object_set_new(mentions, "parse", json_array());
        err |= json_object_set_new(j, "allowed_mentions", mentions);
        mentions = NULL;
    }
    json_decref(mentions);
    free(text);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return dump(j);
}

/* alertmanager: [{labels, annotations, startsAt, endsAt}]. */
static char *render_alertmanager(const struct conf_notifier *conf, const struct view *v,
                                 const char *payload, int64_t now_ms)
{
    char name[160];
    snprintf(name, sizeof(name), "shipwatch_%s", v->kind);
    for (char *p = name; *p != '\0'; p++) {
        /* A Prometheus name: "deploy-failed" becomes deploy_failed. */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) {
            *p = '_';
        }
    }
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);

    json_t *labels = json_object();
    json_t *ann = json_object();
    json_t *al = json_object();
    json_t *arr = json_array();
    int err = labels == NULL || ann == NULL || al == NULL || arr == NULL;
    if (!err) {
        const struct {
            const char *key, *value;
        } ls[] = {
            {"alertname", name}, {"check", v->check},       {"app", v->app},
            {"env", v->env},     {"severity", v->severity}, {"kind", v->kind},
        };
        for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) {
            if (ls[i].value != NULL) {
                err |= json_object_set_new(labels, ls[i].key, json_string(ls[i].value));
            }
        }
        err |= json_object_set_new(ann, "summary", json_string(v->summary));
        err |= json_object_set_new(ann, "shipwatch_alert_id", json_string(id));
        err |= json_object_set_new(al, "labels", labels);
        err |= json_object_set_new(al, "annotations", ann);
        labels = ann = NULL;
        if (v->started_at != NULL) {
            err |= json_object_set_new(al, "startsAt", json_string(v->started_at));
        }
        if (strcmp(v->status, "resolved") == 0 && v->resolved_at != NULL) {
            err |= json_object_set_new(al, "endsAt", json_string(v->resolved_at));
        }
        err |= json_array_append_new(arr, al);
        al = NULL;
    }
    json_decref(labels);
    json_decref(ann);
    json_decref(al);
    if (err) {
        json_decref(arr);
        return NULL;
    }
    return dump(arr);
}

/* RFC 4648 base64 of n bytes of s. */
static void sb_base64(struct sbuf *b, const unsigned char *s, size_t n)
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
        sb_add(b, q, 4);
    }
}

/* A header value as-is when ASCII, else as RFC 2047 encoded words of whole
 * characters, one per folded line. s has no control characters. */
static void sb_header_text(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    bool ascii = true;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            ascii = false;
        }
    }
    if (ascii) {
        sb_add(b, s, n);
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
            sb_str(b, "\r\n ");
        }
        sb_str(b, "=?UTF-8?B?");
        sb_base64(b, (const unsigned char *)s + i, end - i);
        sb_str(b, "?=");
        i = end;
    }
}

/* A mail body line "Label:        value" for a present value. */
static void mail_line(struct sbuf *b, const char *label, const char *value)
{
    if (value == NULL) {
        return;
    }
    sb_fmt(b, "%-14s", label);
    sb_text(b, value, LINE_VALUE_MAX, true);
    sb_str(b, "\r\n");
}

/* email: the whole RFC 5322 message, CRLF line ends. Header values are
 * stripped of control characters, so nothing in the payload can add a
 * header. Lines starting with '.' need no care: libcurl dot-stuffs SMTP
 * uploads itself. */
static char *render_email(const struct conf_notifier *conf, const struct view *v,
                          const char *payload, int64_t now_ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct sbuf b = {0};
    time_t now_s = (time_t)(now_ms / 1000);
    struct tm tm;
    if (gmtime_r(&now_s, &tm) == NULL) {
        return NULL;
    }
    sb_fmt(&b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);

    sb_str(&b, "From: ");
    sb_text(&b, conf->from != NULL ? conf->from : "shipwatch@localhost", LINE_VALUE_MAX, true);
    sb_str(&b, "\r\n");
    if (conf->nto > 0) {
        sb_str(&b, "To: ");
        for (size_t i = 0; i < conf->nto; i++) {
            if (i > 0) {
                sb_str(&b, ",\r\n ");
            }
            sb_text(&b, conf->to[i], LINE_VALUE_MAX, true);
        }
        sb_str(&b, "\r\n");
    }

    struct sbuf subj = {0};
    sb_fmt(&subj, "[shipwatch] %s ", v->event_label);
    sb_text(&subj, v->severity, 32, true);
    sb_str(&subj, ": ");
    sb_text(&subj, v->summary, SUBJECT_SUMMARY_MAX, true);
    char *subject = sb_take(&subj);
    if (subject == NULL) {
        free(b.p);
        return NULL;
    }
    sb_str(&b, "Subject: ");
    sb_header_text(&b, subject);
    sb_str(&b, "\r\n");
    free(subject);

    /* The same notification retried keeps its Message-ID. */
    char host[HOST_MAX];
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
    sb_fmt(&b, "Message-ID: <shipwatch.alert-%lld.delivery-%lld@%s>\r\n", (long long)v->id,
           (long long)v->delivery_id, hn > 0 ? host : "localhost");
    sb_str(&b, "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n"
               "Auto-Submitted: auto-generated\r\n");
    sb_fmt(&b, "X-Shipwatch-Alert-Id: %lld\r\n", (long long)v->id);
    sb_fmt(&b, "X-Shipwatch-Event: %s\r\n", v->event);
    sb_str(&b, "\r\n");

    headline(&b, v, LINE_VALUE_MAX);
    sb_str(&b, "\r\n\r\n");
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
    sb_str(&b, "\r\n-- \r\nshipwatch ");
    sb_text(&b, v->version != NULL ? v->version : SHIPWATCH_VERSION, 64, true);
    sb_str(&b, "\r\n");
    return sb_take(&b);
}

/* --- sending --- */

enum send_via {
    VIA_HTTP,
    VIA_MAIL,
    VIA_EXEC,
};

struct notifier_type {
    const char *name;
    enum send_via via;
    const char *path;           /* HTTP: appended to the URL, or NULL */
    char *(*render)(const struct conf_notifier *conf, const struct view *v, const char *payload,
                    int64_t now_ms);
};

static const struct notifier_type notifier_types[] = {
    {.name = "alertmanager", .via = VIA_HTTP, .path = "/api/v2/alerts",
     .render = render_alertmanager},
    {.name = "discord", .via = VIA_HTTP, .render = render_discord},
    {.name = "email", .via = VIA_MAIL, .render = render_email},
    {.name = "exec", .via = VIA_EXEC, .render = render_payload},
    {.name = "slack", .via = VIA_HTTP, .render = render_slack},
    {.name = "webhook", .via = VIA_HTTP, .render = render_payload},
};

static const struct notifier_type *type_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(notifier_types) / sizeof(notifier_types[0]);
         i++) {
        if (strcmp(notifier_types[i].name, name) == 0) {
            return &notifier_types[i];
        }
    }
    return NULL;
}

/* Render for conf's type; NULL for an invalid payload or an unknown type. */
char *notify_render(const struct conf_notifier *conf, const char *payload, int64_t now_ms)
{
    const struct notifier_type *t = type_find(conf->type);
    struct view v;
    if (t == NULL || view_parse(payload, &v) < 0) {
        return NULL;
    }
    char *out = t->render(conf, &v, payload, now_ms);
    json_decref(v.root);
    return out;
}

/* One delivery attempt, from notify_start until done has run. */
struct notify_send {
    const struct notifier_type *type;
    struct curlm *curlm;
    notify_done_fn done;
    void *arg;
    bool settled;               /* outcome decided; handles closing */
    bool cancelled;
    bool ok;
    char reason[NOTIFY_REASON_MAX];
    int closing;                /* close callbacks owed before done runs */
    uv_timer_t timer;           /* exec's deadline; every type has it, so that done
                                   always runs from a close callback */
    char *body;                 /* request body, mail message, or stdin */
    size_t body_len;
    int64_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];

    /* HTTP */
    CURL *easy;                 /* while the transfer runs */
    struct curl_slist *headers;
    size_t resp_seen;           /* response bytes received */
    bool resp_overflow;         /* cut at RESPONSE_MAX */
    char resp[KEEP_MAX];        /* the response's start, for the reason */
    size_t resp_len;

    /* mail: one thread per message (libcurl waits for the server's reply to
     * the end of data, and for QUIT, blocking) */
    struct curl_slist *rcpt;
    bool async_init;
    uv_async_t async;           /* the thread has finished */
    uv_thread_t thread;
    bool thread_running;
    atomic_int mail_abort;      /* set by notify_cancel, read by the thread */
    CURLcode mail_rc;           /* written by the thread before async */
    size_t body_off;            /* bytes handed to libcurl, by the thread */

    /* exec */
    bool pipes_init;            /* in, out, err and proc need closing */
    bool spawned;
    uv_process_t proc;
    int pid;
    uv_pipe_t in, out, err;
    uv_write_t write;
    bool exited, out_eof, err_eof, timed_out, killed;
    int64_t exit_status;
    int term_signal;
    char out_keep[KEEP_MAX];    /* the start of stdout and stderr, for the reason */
    size_t out_len;
    char err_keep[KEEP_MAX];
    size_t err_len;
    char rbuf[READ_CHUNK];
};

static void free_send(struct notify_send *s)
{
    curl_slist_free_all(s->headers);
    curl_slist_free_all(s->rcpt);
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

static void close_handle(struct notify_send *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        s->closing++;
        uv_close(h, on_closed);
    }
}

static void settle(struct notify_send *s, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the outcome and close every handle; done follows from the last
 * close callback. */
static void settle(struct notify_send *s, bool ok, const char *fmt, ...)
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
    if (s->pipes_init) {
        close_handle(s, (uv_handle_t *)&s->proc);
        close_handle(s, (uv_handle_t *)&s->in);
        close_handle(s, (uv_handle_t *)&s->out);
        close_handle(s, (uv_handle_t *)&s->err);
    }
    if (s->async_init) {
        close_handle(s, (uv_handle_t *)&s->async);
    }
    close_handle(s, (uv_handle_t *)&s->timer);
}

/* Up to n bytes of text as one printable line (cut at the first line end). */
static void first_line(const char *text, size_t n, char *out, size_t outlen)
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
static const char *curl_reason(struct notify_send *s, CURLcode rc)
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
        settle(s, false, "cancelled");
    } else if (answered && code >= 200 && code < 300) {
        settle(s, true, NULL);
    } else if (answered && code > 0) {
        char line[KEEP_MAX];
        first_line(s->resp, s->resp_len, line, sizeof(line));
        settle(s, false, "HTTP %ld%s%s", code, line[0] != '\0' ? ": " : "", line);
    } else {
        settle(s, false, "%s", curl_reason(s, rc));
    }
}

/* The URL to POST to: conf's, with the type's path after it (trailing
 * slashes of the base dropped). A malloc'd string. */
static char *http_url(const struct notifier_type *t, const char *base)
{
    if (t->path == NULL) {
        return strdup(base);
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    size_t len = n + strlen(t->path) + 1;
    char *url = malloc(len);
    if (url != NULL) {
        snprintf(url, len, "%.*s%s", (int)n, base, t->path);
    }
    return url;
}

/* POST the body through curlm; on failure settle with the reason. */
static void http_begin(struct notify_send *s, const struct conf_notifier *conf)
{
    if (s->curlm == NULL) {
        settle(s, false, "no HTTP client");
        return;
    }
    char *url = http_url(s->type, conf->url);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h != NULL ? curl_slist_append(h, "Expect:") : NULL;
    CURL *e = curlm_easy(s->curlm);
    if (url == NULL || h2 == NULL || e == NULL) {
        free(url);
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        settle(s, false, "out of memory");
        return;
    }
    s->headers = h2;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url);     /* libcurl copies it */
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
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_response);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    free(url);
    if (bad != 0) {
        curl_easy_cleanup(e);
        settle(s, false, "could not set up the request");
        return;
    }
    s->easy = e;
    int rc = curlm_add(s->curlm, e, on_http_done, s);
    if (rc < 0) {
        s->easy = NULL;
        curl_easy_cleanup(e);
        settle(s, false, "could not start the request: %s", uv_strerror(rc));
    }
}

/* --- mail on its own thread --- */

/* CURLOPT_READFUNCTION (mail thread): the message. */
static size_t on_mail_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct notify_send *s = arg;
    size_t room = size * nmemb;
    size_t left = s->body_len - s->body_off;
    size_t n = left < room ? left : room;
    memcpy(buf, s->body + s->body_off, n);
    s->body_off += n;
    return n;
}

/* CURLOPT_XFERINFOFUNCTION (mail thread): abort once cancelled. libcurl
 * calls it at least once a second, also while it waits for a reply. */
static int on_mail_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    struct notify_send *s = arg;
    return atomic_load(&s->mail_abort) ? 1 : 0;
}

/* The mail thread: send, hang up, tell the loop. Touches only the easy
 * handle, mail_rc, errbuf, body_off (and reads body) until uv_async_send. */
static void mail_thread(void *arg)
{
    struct notify_send *s = arg;
    CURL *e = s->easy;
    s->mail_rc = curl_easy_perform(e);
    curl_easy_cleanup(e);       /* QUIT, bounded by the response timeout */
    uv_async_send(&s->async);
}

/* The mail thread finished: decide. */
static void on_mail_done(uv_async_t *a)
{
    struct notify_send *s = a->data;
    if (!s->thread_running) {
        return;
    }
    uv_thread_join(&s->thread);
    s->thread_running = false;
    s->easy = NULL;
    if (s->cancelled) {
        settle(s, false, "cancelled");
    } else if (s->mail_rc == CURLE_OK) {
        settle(s, true, NULL);
    } else {
        settle(s, false, "%s", curl_reason(s, s->mail_rc));
    }
}

/* Send the message over SMTP from a thread; on failure settle. */
static void mail_begin(struct notify_send *s, const struct conf_notifier *conf, uv_loop_t *loop)
{
    if (s->curlm == NULL) {
        /* curlm_create did curl_global_init; without it a thread must not. */
        settle(s, false, "no mail client");
        return;
    }
    for (size_t i = 0; i < conf->nto; i++) {
        struct curl_slist *n = curl_slist_append(s->rcpt, conf->to[i]);
        if (n == NULL) {
            settle(s, false, "out of memory");
            return;
        }
        s->rcpt = n;
    }
    if (s->rcpt == NULL) {
        settle(s, false, "no recipients configured");
        return;
    }
    /* Its own handle, no share: the share handle is the loop thread's. */
    CURL *e = curl_easy_init();
    if (e == NULL) {
        settle(s, false, "out of memory");
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
    bad |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, s->rcpt);
    bad |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, on_mail_read);
    bad |= curl_easy_setopt(e, CURLOPT_READDATA, s);
    bad |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
    bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_mail_progress);
    bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    if (bad != 0) {
        curl_easy_cleanup(e);
        settle(s, false, "could not set up the mail");
        return;
    }
    int rc = uv_async_init(loop, &s->async, on_mail_done);
    if (rc < 0) {
        curl_easy_cleanup(e);
        settle(s, false, "uv_async_init: %s", uv_strerror(rc));
        return;
    }
    s->async_init = true;
    s->async.data = s;
    s->easy = e;
    s->thread_running = true;
    rc = uv_thread_create(&s->thread, mail_thread, s);
    if (rc < 0) {
        s->thread_running = false;
        s->easy = NULL;
        curl_easy_cleanup(e);
        settle(s, false, "could not start the mail thread: %s", uv_strerror(rc));
    }
}

/* --- exec --- */

/* SIGKILL the command's process group (it leads one: detached). */
static void kill_group(struct notify_send *s)
{
    s->killed = true;
    if (s->pid > 0 && kill(-s->pid, SIGKILL) == 0) {
        return;
    }
    int rc = uv_process_kill(&s->proc, SIGKILL);
    if (rc < 0 && rc != UV_ESRCH) {
        log_warn(LOG_KV("component", "notify"), "kill notifier command %d: %s", s->pid,
                 uv_strerror(rc));
    }
}

/* The process is gone and its output drained (or given up on): decide. */
static void exec_settle(struct notify_send *s)
{
    if (!s->exited) {
        kill_group(s);
    }
    char d[32];
    char line[KEEP_MAX];
    if (s->err_len > 0) {
        first_line(s->err_keep, s->err_len, line, sizeof(line));
    } else {
        first_line(s->out_keep, s->out_len, line, sizeof(line));
    }
    const char *sep = line[0] != '\0' ? ": " : "";
    if (s->cancelled) {
        settle(s, false, "cancelled");
    } else if (s->timed_out) {
        settle(s, false, "timed out after %s", duration_format(s->timeout_ms, d, sizeof(d)));
    } else if (s->term_signal != 0) {
        settle(s, false, "killed by signal %d%s%s", s->term_signal, sep, line);
    } else if (s->exit_status != 0) {
        settle(s, false, "exit status %lld%s%s", (long long)s->exit_status, sep, line);
    } else {
        settle(s, true, NULL);
    }
}

/* The deadline, the wait after a kill, or the output grace after the exit. */
static void on_exec_timer(uv_timer_t *t)
{
    struct notify_send *s = t->data;
    if (s->exited || s->killed) {
        exec_settle(s);
        return;
    }
    s->timed_out = true;
    kill_group(s);
    uv_timer_start(&s->timer, on_exec_timer, KILL_WAIT_MS, 0);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct notify_send *s = p->data;
    s->exited = true;
    s->exit_status = status;
    s->term_signal = term_signal;
    if (s->timed_out || s->cancelled || (s->out_eof && s->err_eof)) {
        exec_settle(s);
    } else {
        /* Read what is still in the pipes, but not for ever: a child it
         * left behind may hold them open. */
        uv_timer_start(&s->timer, on_exec_timer, OUTPUT_GRACE_MS, 0);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct notify_send *s = h->data;
    *buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

/* stdout and stderr: keep the start, drop the rest. */
static void on_output(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct notify_send *s = st->data;
    bool is_err = st == (uv_stream_t *)&s->err;
    char *keep = is_err ? s->err_keep : s->out_keep;
    size_t *len = is_err ? &s->err_len : &s->out_len;
    if (n > 0) {
        size_t room = KEEP_MAX - *len;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(keep + *len, buf->base, k);
        *len += k;
        return;
    }
    if (n < 0) {
        uv_read_stop(st);
        if (is_err) {
            s->err_eof = true;
        } else {
            s->out_eof = true;
        }
        if (s->exited && s->out_eof && s->err_eof) {
            exec_settle(s);
        }
    }
}

/* The payload is written (or the command stopped reading): close stdin. */
static void on_written(uv_write_t *w, int status)
{
    struct notify_send *s = w->data;
    close_handle(s, (uv_handle_t *)&s->in);
}

/* One "NAME=value" string for the command's environment; NULL for an
 * absent value, or on allocation failure with *oom set. */
static char *env_var(const char *name, const char *value, bool *oom)
{
    if (value == NULL) {
        return NULL;
    }
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s == NULL) {
        *oom = true;
        return NULL;
    }
    snprintf(s, len, "%s=%s", name, value);
    return s;
}

/* Spawn the command with the payload on stdin; on failure settle. */
static void exec_begin(struct notify_send *s, const struct conf_notifier *conf,
                       const struct view *v, uv_loop_t *loop)
{
    if (conf->argv == NULL || conf->argv[0] == NULL) {
        settle(s, false, "no command configured");
        return;
    }
    char id[32], delivery[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    snprintf(delivery, sizeof(delivery), "%lld", (long long)v->delivery_id);
    bool oom = false;
    char *extra[EXEC_ENV_EXTRA] = {
        env_var("SHIPWATCH_ALERT_ID", id, &oom),
        env_var("SHIPWATCH_ALERT_EVENT", v->event, &oom),
        env_var("SHIPWATCH_ALERT_KIND", v->kind, &oom),
        env_var("SHIPWATCH_ALERT_STATUS", v->status, &oom),
        env_var("SHIPWATCH_ALERT_SEVERITY", v->severity, &oom),
        env_var("SHIPWATCH_ALERT_CHECK", v->check, &oom),
        env_var("SHIPWATCH_ALERT_APP", v->app, &oom),
        env_var("SHIPWATCH_ALERT_ENV", v->env, &oom),
        env_var("SHIPWATCH_ALERT_SUMMARY", v->summary, &oom),
        env_var("SHIPWATCH_DELIVERY_ID", delivery, &oom),
    };
    size_t nenv = 0;
    while (environ != NULL && environ[nenv] != NULL) {
        nenv++;
    }
    char **env = calloc(nenv + EXEC_ENV_EXTRA + 1, sizeof(*env));
    if (env != NULL) {
        /* The daemon's own SHIPWATCH_ALERT_* never leak in: absent stays unset. */
        size_t k = 0;
        for (size_t i = 0; i < nenv; i++) {
            if (strncmp(environ[i], "SHIPWATCH_ALERT_", 16) != 0 &&
                strncmp(environ[i], "SHIPWATCH_DELIVERY_ID=", 22) != 0) {
                env[k++] = environ[i];
            }
        }
        for (size_t i = 0; i < EXEC_ENV_EXTRA; i++) {
            if (extra[i] != NULL) {
                env[k++] = extra[i];
            }
        }
    }
    if (env == NULL || oom) {
        for (size_t i = 0; i < EXEC_ENV_EXTRA; i++) {
            free(extra[i]);
        }
        free(env);
        settle(s, false, "out of memory");
        return;
    }

    /* uv_pipe_init cannot fail on Unix; uv_spawn initializes proc even
     * when it fails, so all four are closed from here on. */
    uv_pipe_init(loop, &s->in, 0);
    uv_pipe_init(loop, &s->out, 0);
    uv_pipe_init(loop, &s->err, 0);
    s->pipes_init = true;
    s->in.data = s->out.data = s->err.data = s->proc.data = s;
    s->write.data = s;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&s->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->err},
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = conf->argv[0],
        .args = conf->argv,
        .env = env,
        .stdio = stdio,
        .stdio_count = 3,
        .flags = UV_PROCESS_DETACHED,   /* its own process group, killed as one */
    };
    int rc = uv_spawn(loop, &s->proc, &opts);
    for (size_t i = 0; i < EXEC_ENV_EXTRA; i++) {
        free(extra[i]);
    }
    free(env);
    if (rc < 0) {
        settle(s, false, "spawn %s: %s", conf->argv[0], uv_strerror(rc));
        return;
    }
    s->spawned = true;
    s->pid = s->proc.pid;

    uv_buf_t buf = uv_buf_init(s->body, (unsigned)s->body_len);
    if (uv_write(&s->write, (uv_stream_t *)&s->in, &buf, 1, on_written) < 0) {
        close_handle(s, (uv_handle_t *)&s->in);
    }
    if (uv_read_start((uv_stream_t *)&s->out, on_alloc, on_output) < 0) {
        s->out_eof = true;
    }
    if (uv_read_start((uv_stream_t *)&s->err, on_alloc, on_output) < 0) {
        s->err_eof = true;
    }
    uv_timer_start(&s->timer, on_exec_timer, (uint64_t)s->timeout_ms, 0);
}

/* Wall clock, unix ms. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start one attempt. The attempt is returned whenever done will run, also
 * when it failed at once (done then reports why, from a later callback);
 * NULL only when not even that could be set up (out of memory), and then
 * done never runs. */
struct notify_send *notify_start(struct daemon *d, const struct conf_notifier *conf,
                                 const char *payload, notify_done_fn done, void *arg)
{
    struct notify_send *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_error(LOG_KV("component", "notify", "notifier", conf->name),
                  "out of memory starting a notification");
        return NULL;
    }
    s->curlm = d->curlm;
    s->done = done;
    s->arg = arg;
    s->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS;
    atomic_init(&s->mail_abort, 0);
    int rc = uv_timer_init(d->loop, &s->timer);
    if (rc < 0) {
        log_error(LOG_KV("component", "notify", "notifier", conf->name), "uv_timer_init: %s",
                  uv_strerror(rc));
        free(s);
        return NULL;
    }
    s->timer.data = s;

    struct view v;
    s->type = type_find(conf->type);
    if (s->type == NULL) {
        settle(s, false, "unknown notifier type %s", conf->type != NULL ? conf->type : "(none)");
        return s;
    }
    if (s->type->via != VIA_EXEC && (conf->url == NULL || conf->url[0] == '\0')) {
        settle(s, false, "no url configured");
        return s;
    }
    if (view_parse(payload, &v) < 0) {
        settle(s, false, "invalid payload");
        return s;
    }
    s->body = s->type->render(conf, &v, payload, wall_ms());
    if (s->body == NULL) {
        json_decref(v.root);
        settle(s, false, "could not render the message");
        return s;
    }
    s->body_len = strlen(s->body);
    switch (s->type->via) {
    case VIA_HTTP:
        http_begin(s, conf);
        break;
    case VIA_MAIL:
        mail_begin(s, conf, d->loop);
        break;
    case VIA_EXEC:
        exec_begin(s, conf, &v, d->loop);
        break;
    }
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
    if (s->thread_running) {
        atomic_store(&s->mail_abort, 1);
    } else if (s->easy != NULL) {
        curlm_cancel(s->curlm, s->easy);
    } else if (s->spawned && !s->exited) {
        kill_group(s);
        uv_timer_start(&s->timer, on_exec_timer, KILL_WAIT_MS, 0);
    } else if (s->spawned) {
        /* Exited, output still draining: end now. */
        exec_settle(s);
    }
}
