/* notify_teams.c - the teams notifier: POST a message with one Adaptive
 * Card to a Microsoft Teams workflow webhook (the "Post to a channel when
 * a webhook request is received" flow), as its url. The card has the
 * headline in bold, coloured by the event, then one text block a detail
 * line of the chat message. */
#include <stdlib.h>
#include <string.h>

#include "notify_class.h"
#include "util.h"

#define TEAMS_TEXT_MAX 4000          /* characters of the card's text, all blocks */

/* The headline's colour by event; anything else is the default. */
static const struct {
    const char *event;
    const char *color;
} colors[] = {
    {"firing", "Attention"},
    {"repeat", "Attention"},
    {"resolved", "Good"},
    {"acknowledged", "Warning"},
};

/* A TextBlock of line, wrapping, bold when head. */
static json_t *text_block(const char *line, size_t len, bool head, const char *color)
{
    json_t *t = json_object();
    if (t == NULL) {
        return NULL;
    }
    int err = json_object_set_new(t, "type", json_string("TextBlock"));
    err |= json_object_set_new(t, "text", json_stringn(line, len));
    err |= json_object_set_new(t, "wrap", json_true());
    if (head) {
        err |= json_object_set_new(t, "weight", json_string("Bolder"));
        if (color != NULL) {
            err |= json_object_set_new(t, "color", json_string(color));
        }
    } else {
        err |= json_object_set_new(t, "spacing", json_string("None"));
    }
    if (err) {
        json_decref(t);
        return NULL;
    }
    return t;
}

/* The card's body: one TextBlock a line of text. */
static json_t *card_body(const char *text, const char *color)
{
    json_t *body = json_array();
    if (body == NULL) {
        return NULL;
    }
    int err = 0;
    bool head = true;
    for (const char *p = text; !err && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            err |= json_array_append_new(body, text_block(p, len, head, color)) < 0;
            head = false;
        }
        p += len + (nl != NULL);
    }
    if (err) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* teams: {"type": "message", "attachments": [{contentType, content: card}]}. */
static char *render_teams(const struct conf_notifier *conf, const struct notify_view *v,
                          const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, TEAMS_TEXT_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    const char *color = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(colors); i++) {
        if (strcmp(v->event, colors[i].event) == 0) {
            color = colors[i].color;
        }
    }
    json_t *body = card_body(text, color);
    free(text);
    json_t *card = json_object();
    json_t *att = json_object();
    json_t *atts = json_array();
    json_t *j = json_object();
    int err = body == NULL || card == NULL || att == NULL || atts == NULL || j == NULL;
    if (!err) {
        err |= json_object_set_new(card, "$schema",
                                   json_string("http://adaptivecards.io/schemas/adaptive-card.json"));
        err |= json_object_set_new(card, "type", json_string("AdaptiveCard"));
        err |= json_object_set_new(card, "version", json_string("1.4"));
        err |= json_object_set_new(card, "body", body);
        body = NULL;
        err |= json_object_set_new(att, "contentType",
                                   json_string("application/vnd.microsoft.card.adaptive"));
        err |= json_object_set_new(att, "contentUrl", json_null());
        err |= json_object_set_new(att, "content", card);
        card = NULL;
        err |= json_array_append_new(atts, att);
        att = NULL;
        err |= json_object_set_new(j, "type", json_string("message"));
        err |= json_object_set_new(j, "attachments", atts);
        atts = NULL;
    }
    json_decref(body);
    json_decref(card);
    json_decref(att);
    json_decref(atts);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

const struct notifier_class notify_teams_class = {
    .name = "teams",
    .needs_url = true,
    .render = render_teams,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
};
