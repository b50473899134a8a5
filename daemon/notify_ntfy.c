/* notify_ntfy.c - the ntfy notifier: POST the message to an ntfy topic URL
 * (https://ntfy.sh/TOPIC or a server of one's own) with the summary as its
 * Title, a Priority from the severity and Tags (an emoji for the event, the
 * app and the env). ntfy decodes RFC 2047 words in these headers, so text
 * that is not ASCII goes in as such words.
 *
 * An access token is given in the URL as https://:TOKEN@host/topic (an
 * empty user name, as for Redis URLs) and is sent as
 * "Authorization: Bearer TOKEN", the URL without it; a user name and
 * password stay in the URL, and libcurl sends them as Basic auth, which
 * ntfy accepts too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "notify_class.h"
#include "util.h"

#define NTFY_MESSAGE_MAX 4096        /* bytes of a message before ntfy makes it a file */
#define NTFY_TITLE_MAX 250           /* bytes of the summary in the Title */
#define NTFY_TAG_MAX 64              /* bytes of one app or env tag */
#define NTFY_TOKEN_MAX 512

/* Priority by severity; anything else is ntfy's default, 3. */
static const struct {
    const char *severity;
    const char *priority;
} priorities[] = {
    {"critical", "5"},              /* urgent */
    {"warning", "4"},               /* high */
    {"info", "3"},                  /* default */
};

/* The first tag by event: ntfy shows a tag that names an emoji as the emoji. */
static const struct {
    const char *event;
    const char *tag;
} event_tags[] = {
    {"firing", "rotating_light"},
    {"repeat", "rotating_light"},
    {"resolved", "white_check_mark"},
    {"acknowledged", "eyes"},
};

/* The body: the chat message, within ntfy's message size. */
static char *render_ntfy(const struct conf_notifier *conf, const struct notify_view *v,
                         const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *text = sbuf_take(&b);
    if (text == NULL) {
        return NULL;
    }
    struct sbuf cut;
    sbuf_init(&cut, NOTIFY_RENDER_MAX);
    notify_append_text(&cut, text, NTFY_MESSAGE_MAX, false);
    free(text);
    return sbuf_take(&cut);
}

/* Append one tag: a comma would split it and becomes '_'. */
static void add_tag(struct sbuf *b, const char *tag)
{
    struct sbuf t;
    sbuf_init(&t, NOTIFY_RENDER_MAX);
    notify_append_text(&t, tag, NTFY_TAG_MAX, true);
    char *s = sbuf_take(&t);
    if (s == NULL) {
        b->failed = true;
        return;
    }
    for (char *p = s; *p != '\0'; p++) {
        if (*p == ',') {
            *p = '_';
        }
    }
    if (b->len > 0) {
        sbuf_append_str(b, ",");
    }
    sbuf_append_str(b, s);
    free(s);
}

/* Append the header "name: value" to req, value encoded as a header. */
static int add_header(struct notify_request *req, const char *name, const char *value)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    sbuf_appendf(&b, "%s: ", name);
    notify_append_header(&b, value, " ");
    char *line = sbuf_take(&b);
    struct curl_slist *h = line != NULL ? curl_slist_append(req->headers, line) : NULL;
    free(line);
    if (h == NULL) {
        return -ENOMEM;
    }
    req->headers = h;
    return 0;
}

/* A token given as the URL's password with an empty user: move it from the
 * URL to an Authorization header. Any other URL is left as it is. */
static int take_token(struct notify_request *req)
{
    CURLU *u = curl_url();
    if (u == NULL) {
        return -ENOMEM;
    }
    char *user = NULL, *password = NULL, *bare = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) != CURLUE_OK ||
        user[0] != '\0' ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, CURLU_URLDECODE) != CURLUE_OK ||
        password[0] == '\0') {
        goto out;               /* no token: nothing to move */
    }
    for (const char *p = password; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            rc = -EINVAL;       /* it would break the header */
            goto out;
        }
    }
    if (strlen(password) > NTFY_TOKEN_MAX) {
        rc = -EINVAL;
        goto out;
    }
    if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &bare, 0) != CURLUE_OK) {
        rc = -ENOMEM;
        goto out;
    }
    char *url = strdup(bare);
    char auth[NTFY_TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", password);
    struct curl_slist *h = url != NULL ? curl_slist_append(req->headers, auth) : NULL;
    if (h == NULL) {
        free(url);
        rc = -ENOMEM;
        goto out;
    }
    req->headers = h;
    free(req->url);
    req->url = url;
out:
    curl_free(bare);
    curl_free(password);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* Title, Priority, Tags, and the token. */
static int request_ntfy(const struct conf_notifier *conf, const struct notify_view *v,
                        struct notify_request *req)
{
    struct sbuf title;
    sbuf_init(&title, NOTIFY_RENDER_MAX);
    notify_append_text(&title, v->summary, NTFY_TITLE_MAX, true);
    char *t = sbuf_take(&title);
    if (t == NULL) {
        return -ENOMEM;
    }
    int rc = add_header(req, "Title", t);
    free(t);

    const char *priority = "3";
    for (size_t i = 0; i < ARRAY_SIZE(priorities); i++) {
        if (strcmp(v->severity, priorities[i].severity) == 0) {
            priority = priorities[i].priority;
        }
    }
    if (rc == 0) {
        rc = add_header(req, "Priority", priority);
    }

    struct sbuf tags;
    sbuf_init(&tags, NOTIFY_RENDER_MAX);
    for (size_t i = 0; i < ARRAY_SIZE(event_tags); i++) {
        if (strcmp(v->event, event_tags[i].event) == 0) {
            add_tag(&tags, event_tags[i].tag);
        }
    }
    if (v->app != NULL) {
        add_tag(&tags, v->app);
    }
    if (v->env != NULL) {
        add_tag(&tags, v->env);
    }
    char *tg = sbuf_take(&tags);
    if (tg == NULL) {
        return -ENOMEM;
    }
    if (rc == 0 && tg[0] != '\0') {
        rc = add_header(req, "Tags", tg);
    }
    free(tg);
    return rc == 0 ? take_token(req) : rc;
}

const struct notifier_class notify_ntfy_class = {
    .name = "ntfy",
    .needs_url = true,
    .render = render_ntfy,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .content_type = "text/plain; charset=utf-8",
    .request = request_ntfy,
};
