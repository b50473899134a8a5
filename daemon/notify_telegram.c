/* notify_telegram.c - the telegram notifier: the Bot API's sendMessage,
 * POST URL/botTOKEN/sendMessage with {"chat_id", "text"} as JSON. url is
 * https://api.telegram.org unless given (a local Bot API server, a
 * test); bot-token, a secret, goes only into the URL's path; the text is
 * plain (no parse_mode), so nothing in a summary is read as markup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"

#define TELEGRAM_TEXT_MAX 4096       /* characters of a message */
#define TELEGRAM_TOKEN_MAX 256

/* telegram: {"chat_id": ..., "text": ...}. */
static char *render_telegram(const struct conf_notifier *conf, const struct notify_view *v,
                             const char *payload, int64_t now_ms)
{
    if (conf->chat_id == NULL) {
        return NULL;
    }
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, TELEGRAM_TEXT_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    int err = j == NULL;
    if (!err) {
        err |= json_object_set_new(j, "chat_id", json_string(conf->chat_id));
        err |= json_object_set_new(j, "text", json_string(text));
    }
    free(text);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

/* A bot token as Telegram issues them, "123456:ABC-def_...": nothing that
 * would leave the URL's path segment. */
static bool token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TELEGRAM_TOKEN_MAX) {
        return false;
    }
    return strspn(t, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_-") == n;
}

/* URL/botTOKEN/sendMessage. */
static int request_telegram(const struct conf_notifier *conf, const struct notify_view *v,
                            struct notify_request *req)
{
    if (conf->bot_token == NULL || !token_ok(conf->bot_token)) {
        return -EINVAL;
    }
    size_t n = strlen(req->url);
    while (n > 0 && req->url[n - 1] == '/') {
        n--;
    }
    struct sbuf u;
    sbuf_init(&u, NOTIFY_RENDER_MAX);
    sbuf_appendf(&u, "%.*s/bot%s/sendMessage", (int)n, req->url, conf->bot_token);
    char *url = sbuf_take(&u);
    if (url == NULL) {
        return -ENOMEM;
    }
    free(req->url);
    req->url = url;
    return 0;
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of telegram notifiers. */
static const struct conf_field telegram_rows[] = {
    {.key = "bot-token",
     .type = CONF_STR,
     .off = NO(bot_token),
     .valid = conf_valid_secret,
     .required = true},
    {.key = "chat-id", .type = CONF_STR, .off = NO(chat_id), .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows telegram_conf_rows = CONF_ROWS(telegram_rows);

const struct notifier_class notify_telegram_class = {
    .name = "telegram",
    .needs_url = true,
    .rows = &telegram_conf_rows,
    .render = render_telegram,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .request = request_telegram,
    .default_url = "https://api.telegram.org",
};
