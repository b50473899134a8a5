/* notify_discord.c - the discord notifier: POST {"content": ...} to a
 * webhook, the chat message within Discord's limit, mentions disabled. */
#include <stdlib.h>

#include "notify_class.h"

#define DISCORD_CONTENT_MAX 2000     /* Discord's limit on content, in characters */

/* discord: {"content": ...} within 2000 characters, mentions disabled so a
 * summary cannot ping @everyone. */
static char *render_discord(const struct conf_notifier *conf, const struct notify_view *v,
                            const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, DISCORD_CONTENT_MAX) : NULL;
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
    return notify_json_take(j);
}

const struct notifier_class notify_discord_class = {
    .name = "discord",
    .needs_url = true,
    .render = render_discord,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
};
