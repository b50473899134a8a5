/* notify_matrix.c - the matrix notifier: the Client-Server API's
 * PUT URL/_matrix/client/v3/rooms/ROOM/send/m.room.message/TXNID with
 * "Authorization: Bearer TOKEN" and {"msgtype": "m.text", "body": ...}.
 *
 * The transaction id is built from the outbox row's delivery id and the
 * notification's creation time, both the same on every try of one
 * notification, so the homeserver drops a retry of a message it already
 * stored. The access-token is a secret, sent in that header only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"

#define MATRIX_BODY_MAX 32768        /* characters of a message, well inside 64 KiB events */
#define MATRIX_TOKEN_MAX 1024

/* matrix: {"msgtype": "m.text", "body": the chat message}. */
static char *render_matrix(const struct conf_notifier *conf, const struct notify_view *v,
                           const char *payload, int64_t now_ms)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *plain = sbuf_take(&b);
    char *text = plain != NULL ? notify_cut_units(plain, MATRIX_BODY_MAX) : NULL;
    free(plain);
    if (text == NULL) {
        return NULL;
    }
    json_t *j = json_object();
    int err = j == NULL;
    if (!err) {
        err |= json_object_set_new(j, "msgtype", json_string("m.text"));
        err |= json_object_set_new(j, "body", json_string(text));
    }
    free(text);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

/* Append s percent-encoded as one path segment. */
static void add_segment(struct sbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            sbuf_append(b, (const char *)p, 1);
        } else {
            sbuf_appendf(b, "%%%02X", *p);
        }
    }
}

/* The send URL with the room and transaction id, and the bearer token. */
static int request_matrix(const struct conf_notifier *conf, const struct notify_view *v,
                          struct notify_request *req)
{
    if (conf->access_token == NULL || conf->room == NULL ||
        strlen(conf->access_token) > MATRIX_TOKEN_MAX) {
        return -EINVAL;
    }
    size_t n = strlen(req->url);
    while (n > 0 && req->url[n - 1] == '/') {
        n--;
    }
    struct sbuf u;
    sbuf_init(&u, NOTIFY_RENDER_MAX);
    sbuf_appendf(&u, "%.*s/_matrix/client/v3/rooms/", (int)n, req->url);
    add_segment(&u, conf->room);
    sbuf_appendf(&u, "/send/m.room.message/shipwatch-%lld-", (long long)v->delivery_id);
    for (const char *p = v->created_at != NULL ? v->created_at : ""; *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9') {
            sbuf_append(&u, p, 1);
        }
    }
    char *url = sbuf_take(&u);
    char auth[MATRIX_TOKEN_MAX + 32];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", conf->access_token);
    struct curl_slist *h = url != NULL ? curl_slist_append(req->headers, auth) : NULL;
    if (h == NULL) {
        free(url);
        return -ENOMEM;
    }
    req->headers = h;
    free(req->url);
    req->url = url;
    return 0;
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of matrix notifiers. */
static const struct conf_field matrix_rows[] = {
    {.key = "access-token",
     .type = CONF_STR,
     .off = NO(access_token),
     .valid = conf_valid_secret,
     .required = true},
    {.key = "room", .type = CONF_STR, .off = NO(room), .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows matrix_conf_rows = CONF_ROWS(matrix_rows);

const struct notifier_class notify_matrix_class = {
    .name = "matrix",
    .needs_url = true,
    .rows = &matrix_conf_rows,
    .render = render_matrix,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .method = "PUT",
    .request = request_matrix,
};
