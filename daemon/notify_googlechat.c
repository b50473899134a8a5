/* notify_googlechat.c - the googlechat notifier: POST {"text": ...} to a
 * Google Chat space's incoming webhook URL (key and token in its query). */
#include <stdlib.h>

#include "notify_class.h"

#define GOOGLECHAT_TEXT_MAX 4096     /* characters of a message's text */

/* googlechat: {"text": ...}, the chat message within Google Chat's limit. */
static char *render_googlechat(const struct conf_notifier *conf, const struct notify_view *v,
                               const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, GOOGLECHAT_TEXT_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    if (j != NULL && json_object_set_new(j, "text", json_string(text)) < 0) {
        json_decref(j);
        j = NULL;
    }
    free(text);
    return notify_json_take(j);
}

const struct notifier_class notify_googlechat_class = {
    .name = "googlechat",
    .needs_url = true,
    .render = render_googlechat,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .content_type = "application/json; charset=UTF-8",
};
