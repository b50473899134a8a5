/* notify_slack.c - the slack notifier: POST {"text": ...} to an incoming
 * webhook, the chat message cut to Slack's limit, with &, < and > escaped
 * as Slack asks. */
#include <stdlib.h>

#include "notify_class.h"

#define SLACK_TEXT_MAX 3000          /* characters (UTF-16 units) of a Slack text */

/* slack: {"text": ...}; &, < and > escaped as Slack asks. */
static char *render_slack(const struct conf_notifier *conf, const struct notify_view *v,
                          const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *cut = plain != NULL ? notify_cut_units(plain, SLACK_TEXT_MAX) : NULL;
    free(plain);
    if (cut == NULL) {
        return NULL;
    }
    struct sbuf e;
    sbuf_init(&e, NOTIFY_RENDER_MAX);
    for (const char *p = cut; *p != '\0'; p++) {
        switch (*p) {
        case '&':
            sbuf_append_str(&e, "&amp;");
            break;
        case '<':
            sbuf_append_str(&e, "&lt;");
            break;
        case '>':
            sbuf_append_str(&e, "&gt;");
            break;
        default:
            sbuf_append(&e, p, 1);
            break;
        }
    }
    free(cut);
    char *text = sbuf_take(&e);
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

const struct notifier_class notify_slack_class = {
    .name = "slack",
    .needs_url = true,
    .render = render_slack,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
};
