/* notify_gotify.c - the gotify notifier: POST URL/message with the
 * application's token in X-Gotify-Key and {"title", "message",
 * "priority"} as JSON, as Gotify's REST API documents it. The token is a
 * secret: it goes into that header only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"
#include "util.h"

#define GOTIFY_TITLE_MAX 250         /* characters of the title */
#define GOTIFY_TOKEN_MAX 256

/* priority by severity: Gotify's Android app pops up from 8, sounds from 4. */
static const struct {
    const char *severity;
    int priority;
} priorities[] = {
    {"critical", 8},
    {"warning", 5},
    {"info", 2},
};

/* gotify: {"title": "[EVENT] summary", "message": ..., "priority": N}. */
static char *render_gotify(const struct conf_notifier *conf, const struct notify_view *v,
                           const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *message = sbuf_take(&b);
    struct sbuf t;
    sbuf_init(&t, NOTIFY_RENDER_MAX);
    sbuf_appendf(&t, "[%s] ", v->event_label);
    notify_append_text(&t, v->summary, NOTIFY_FIELD_MAX, true);
    char *tplain = sbuf_take(&t);
    char *title = tplain != NULL ? notify_cut_units(tplain, GOTIFY_TITLE_MAX) : NULL;
    free(tplain);
    int priority = 5;
    for (size_t i = 0; i < ARRAY_SIZE(priorities); i++) {
        if (strcmp(v->severity, priorities[i].severity) == 0) {
            priority = priorities[i].priority;
        }
    }
    json_t *j = json_object();
    int err = j == NULL || message == NULL || title == NULL;
    if (!err) {
        err |= json_object_set_new(j, "title", json_string(title));
        err |= json_object_set_new(j, "message", json_string(message));
        err |= json_object_set_new(j, "priority", json_integer(priority));
    }
    free(message);
    free(title);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

/* The X-Gotify-Key header. */
static int request_gotify(const struct conf_notifier *conf, const struct notify_view *v,
                          struct notify_request *req)
{
    if (conf->gotify_token == NULL || strlen(conf->gotify_token) > GOTIFY_TOKEN_MAX) {
        return -EINVAL;
    }
    char line[GOTIFY_TOKEN_MAX + 32];
    snprintf(line, sizeof(line), "X-Gotify-Key: %s", conf->gotify_token);
    struct curl_slist *h = curl_slist_append(req->headers, line);
    if (h == NULL) {
        return -ENOMEM;
    }
    req->headers = h;
    return 0;
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of gotify notifiers. */
static const struct conf_field gotify_rows[] = {
    {.key = "token",
     .type = CONF_STR,
     .off = NO(gotify_token),
     .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows gotify_conf_rows = CONF_ROWS(gotify_rows);

const struct notifier_class notify_gotify_class = {
    .name = "gotify",
    .needs_url = true,
    .rows = &gotify_conf_rows,
    .render = render_gotify,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .path = "/message",
    .request = request_gotify,
};
