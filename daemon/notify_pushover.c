/* notify_pushover.c - the pushover notifier: POST
 * https://api.pushover.net/1/messages.json (or URL/1/messages.json),
 * form-encoded token, user, title, message and priority, as Pushover's
 * Message API documents it. app-token and user-key are secrets: they go
 * into the body only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"
#include "util.h"

#define PUSHOVER_MESSAGE_MAX 1024    /* characters of message */
#define PUSHOVER_TITLE_MAX 250       /* characters of title */

/* priority by severity (-1 quiet, 0 normal, 1 high); news that the alert
 * ended or is being seen to is never above normal. 2, emergency, is not
 * used: it repeats until acknowledged in Pushover, outside shipwatch. */
static const struct {
    const char *severity;
    int priority;
} priorities[] = {
    {"critical", 1},
    {"warning", 0},
    {"info", -1},
};

/* Append key=value, value percent-encoded as a form field. */
static void add_field(struct sbuf *b, const char *key, const char *value)
{
    if (b->len > 0) {
        sbuf_append_str(b, "&");
    }
    sbuf_appendf(b, "%s=", key);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            sbuf_append(b, (const char *)p, 1);
        } else {
            sbuf_appendf(b, "%%%02X", *p);
        }
    }
}

/* pushover: token=...&user=...&title=...&message=...&priority=N. */
static char *render_pushover(const struct conf_notifier *conf, const struct notify_view *v,
                             const char *payload, int64_t now_ms)
{
    if (conf->app_token == NULL || conf->user_key == NULL) {
        return NULL;
    }
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *message = plain != NULL ? notify_cut_units(plain, PUSHOVER_MESSAGE_MAX) : NULL;
    free(plain);
    struct sbuf t;
    sbuf_init(&t, NOTIFY_RENDER_MAX);
    sbuf_appendf(&t, "[%s] ", v->event_label);
    notify_append_text(&t, v->summary, NOTIFY_FIELD_MAX, true);
    char *tplain = sbuf_take(&t);
    char *title = tplain != NULL ? notify_cut_units(tplain, PUSHOVER_TITLE_MAX) : NULL;
    free(tplain);
    int priority = 0;
    for (size_t i = 0; i < ARRAY_SIZE(priorities); i++) {
        if (strcmp(v->severity, priorities[i].severity) == 0) {
            priority = priorities[i].priority;
        }
    }
    if ((strcmp(v->event, "resolved") == 0 || strcmp(v->event, "acknowledged") == 0) &&
        priority > 0) {
        priority = 0;
    }
    char prio[8];
    snprintf(prio, sizeof(prio), "%d", priority);
    char *out = NULL;
    if (message != NULL && title != NULL) {
        struct sbuf f;
        sbuf_init(&f, NOTIFY_RENDER_MAX);
        add_field(&f, "token", conf->app_token);
        add_field(&f, "user", conf->user_key);
        add_field(&f, "title", title);
        add_field(&f, "message", message);
        add_field(&f, "priority", prio);
        out = sbuf_take(&f);
    }
    free(message);
    free(title);
    return out;
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of pushover notifiers. */
static const struct conf_field pushover_rows[] = {
    {.key = "app-token",
     .type = CONF_STR,
     .off = NO(app_token),
     .valid = conf_valid_secret,
     .required = true},
    {.key = "user-key",
     .type = CONF_STR,
     .off = NO(user_key),
     .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows pushover_conf_rows = CONF_ROWS(pushover_rows);

const struct notifier_class notify_pushover_class = {
    .name = "pushover",
    .needs_url = true,
    .rows = &pushover_conf_rows,
    .render = render_pushover,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .path = "/1/messages.json",
    .content_type = "application/x-www-form-urlencoded",
    .default_url = "https://api.pushover.net",
};
