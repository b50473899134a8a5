/* notify_opsgenie.c - the opsgenie notifier: Opsgenie's Alert API v2 at
 * https://api.opsgenie.com (or the url given, e.g. api.eu.opsgenie.com).
 *
 * One shipwatch alert is one Opsgenie alert under the alias
 * "shipwatch-ID": firing (and repeat, which Opsgenie counts against the
 * open alert of that alias) POST /v2/alerts to create it; acknowledged
 * POSTs /v2/alerts/ALIAS/acknowledge?identifierType=alias, resolved
 * /v2/alerts/ALIAS/close?identifierType=alias. The api-key, a secret, is
 * sent as "Authorization: GenieKey KEY". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"
#include "util.h"

#define OPSGENIE_MESSAGE_MAX 130     /* characters of message */
#define OPSGENIE_DESCRIPTION_MAX 15000
#define OPSGENIE_NOTE_MAX 25000
#define OPSGENIE_USER_MAX 100
#define OPSGENIE_TAG_MAX 50

/* What each event does: the path after /v2/alerts (NULL: create). */
static const struct {
    const char *event;
    const char *action;
} actions[] = {
    {"firing", NULL},
    {"repeat", NULL},
    {"acknowledged", "acknowledge"},
    {"resolved", "close"},
};

/* priority by severity; anything else is Opsgenie's default, P3. */
static const struct {
    const char *severity;
    const char *priority;
} priorities[] = {
    {"critical", "P1"},
    {"warning", "P3"},
    {"info", "P5"},
};

/* The index of v's event in actions[], -1 for none. */
static int action_of(const struct notify_view *v)
{
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
        if (strcmp(v->event, actions[i].event) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A string member cut to max characters, or nothing when s is NULL. */
static int set_cut(json_t *obj, const char *key, const char *s, size_t max)
{
    if (s == NULL) {
        return 0;
    }
    char *cut = notify_cut_units(s, max);
    int err = cut == NULL || json_object_set_new(obj, key, json_string(cut)) < 0;
    free(cut);
    return err;
}

/* The create request: message, alias, description, tags, details, entity,
 * source, priority. */
static int create_body(json_t *j, const struct notify_view *v, const char *alias)
{
    struct sbuf b;
    sbuf_init(&b, NOTIFY_RENDER_MAX);
    notify_chat_text(&b, v);
    char *text = sbuf_take(&b);
    if (text == NULL) {
        return -1;
    }
    const char *priority = "P3";
    for (size_t i = 0; i < ARRAY_SIZE(priorities); i++) {
        if (strcmp(v->severity, priorities[i].severity) == 0) {
            priority = priorities[i].priority;
        }
    }
    json_t *tags = json_array();
    json_t *det = json_object();
    int err = tags == NULL || det == NULL;
    const char *const tag_values[] = {"shipwatch", v->kind, v->app, v->env};
    for (size_t i = 0; !err && i < ARRAY_SIZE(tag_values); i++) {
        if (tag_values[i] != NULL) {
            char *t = notify_cut_units(tag_values[i], OPSGENIE_TAG_MAX);
            err |= t == NULL || json_array_append_new(tags, json_string(t)) < 0;
            free(t);
        }
    }
    const struct {
        const char *key, *value;
    } fields[] = {
        {"kind", v->kind},     {"severity", v->severity},     {"check", v->check},
        {"app", v->app},       {"env", v->env},               {"started_at", v->started_at},
    };
    for (size_t i = 0; !err && i < ARRAY_SIZE(fields); i++) {
        err |= set_cut(det, fields[i].key, fields[i].value, NOTIFY_FIELD_MAX);
    }
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    if (!err) {
        err |= json_object_set_new(det, "alert_id", json_string(id));
        err |= set_cut(j, "message", v->summary, OPSGENIE_MESSAGE_MAX);
        err |= json_object_set_new(j, "alias", json_string(alias));
        err |= set_cut(j, "description", text, OPSGENIE_DESCRIPTION_MAX);
        err |= json_object_set_new(j, "tags", tags);
        err |= json_object_set_new(j, "details", det);
        tags = det = NULL;
        err |= set_cut(j, "entity", v->check, NOTIFY_FIELD_MAX);
        err |= json_object_set_new(j, "source", json_string("shipwatch"));
        err |= json_object_set_new(j, "priority", json_string(priority));
    }
    json_decref(tags);
    json_decref(det);
    free(text);
    return err ? -1 : 0;
}

/* opsgenie: the create request, or {user, source, note} to acknowledge or
 * close. */
static char *render_opsgenie(const struct conf_notifier *conf, const struct notify_view *v,
                             const char *payload, int64_t now_ms)
{
    int a = action_of(v);
    if (a < 0) {
        return NULL;
    }
    char alias[64];
    snprintf(alias, sizeof(alias), "shipwatch-%lld", (long long)v->id);
    json_t *j = json_object();
    int err = j == NULL;
    if (!err && actions[a].action == NULL) {
        err = create_body(j, v, alias) < 0;
    } else if (!err) {
        struct sbuf b;
        sbuf_init(&b, NOTIFY_RENDER_MAX);
        notify_headline(&b, v, NOTIFY_FIELD_MAX);
        char *note = sbuf_take(&b);
        err |= note == NULL;
        err |= set_cut(j, "user", v->ack_by, OPSGENIE_USER_MAX);
        err |= json_object_set_new(j, "source", json_string("shipwatch"));
        err |= set_cut(j, "note", note, OPSGENIE_NOTE_MAX);
        free(note);
    }
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

/* The URL of the event's action, and the GenieKey header. */
static int request_opsgenie(const struct conf_notifier *conf, const struct notify_view *v,
                            struct notify_request *req)
{
    int a = action_of(v);
    if (a < 0 || conf->api_key == NULL) {
        return -EINVAL;
    }
    size_t n = strlen(req->url);
    while (n > 0 && req->url[n - 1] == '/') {
        n--;
    }
    struct sbuf u;
    sbuf_init(&u, NOTIFY_RENDER_MAX);
    sbuf_appendf(&u, "%.*s/v2/alerts", (int)n, req->url);
    if (actions[a].action != NULL) {
        sbuf_appendf(&u, "/shipwatch-%lld/%s?identifierType=alias", (long long)v->id,
                     actions[a].action);
    }
    char *url = sbuf_take(&u);
    struct sbuf h;
    sbuf_init(&h, NOTIFY_RENDER_MAX);
    sbuf_appendf(&h, "Authorization: GenieKey %s", conf->api_key);
    char *auth = sbuf_take(&h);
    struct curl_slist *l = url != NULL && auth != NULL ? curl_slist_append(req->headers, auth)
                                                       : NULL;
    free(auth);
    if (l == NULL) {
        free(url);
        return -ENOMEM;
    }
    req->headers = l;
    free(req->url);
    req->url = url;
    return 0;
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of opsgenie notifiers. */
static const struct conf_field opsgenie_rows[] = {
    {.key = "api-key",
     .type = CONF_STR,
     .off = NO(api_key),
     .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows opsgenie_conf_rows = CONF_ROWS(opsgenie_rows);

const struct notifier_class notify_opsgenie_class = {
    .name = "opsgenie",
    .needs_url = true,
    .rows = &opsgenie_conf_rows,
    .render = render_opsgenie,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .request = request_opsgenie,
    .default_url = "https://api.opsgenie.com",
};
