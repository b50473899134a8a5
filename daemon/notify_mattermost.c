/* notify_mattermost.c - the mattermost notifier: POST {"text", and
 * "username" and "channel" when configured} to an incoming webhook. The
 * webhook must allow overriding them for those two to take effect. */
#include <stdlib.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"

#define MATTERMOST_TEXT_MAX 16383    /* characters of a post's message */

/* mattermost: {"text": ..., "username": ..., "channel": ...}. */
static char *render_mattermost(const struct conf_notifier *conf, const struct notify_view *v,
                               const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, MATTERMOST_TEXT_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    int err = j == NULL;
    if (!err) {
        err |= json_object_set_new(j, "text", json_string(text));
        if (conf->username != NULL) {
            err |= json_object_set_new(j, "username", json_string(conf->username));
        }
        if (conf->channel != NULL) {
            err |= json_object_set_new(j, "channel", json_string(conf->channel));
        }
    }
    free(text);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of mattermost notifiers, both optional. */
static const struct conf_field mattermost_rows[] = {
    {.key = "username", .type = CONF_STR, .off = NO(username), .valid = conf_valid_text},
    {.key = "channel", .type = CONF_STR, .off = NO(channel), .valid = conf_valid_text},
};

static const struct conf_rows mattermost_conf_rows = CONF_ROWS(mattermost_rows);

const struct notifier_class notify_mattermost_class = {
    .name = "mattermost",
    .needs_url = true,
    .rows = &mattermost_conf_rows,
    .render = render_mattermost,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
};
