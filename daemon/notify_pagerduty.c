/* notify_pagerduty.c - the pagerduty notifier: an Events API v2 event,
 * POSTed to https://events.pagerduty.com/v2/enqueue (or the url given).
 *
 * One alert is one PagerDuty incident: its dedup_key is "shipwatch-ID",
 * the same for every event of the alert, so a firing alert triggers the
 * incident, a repeat adds to it, an acknowledgement acknowledges it and
 * the resolve resolves it. The routing key is the configuration's
 * routing-key, a secret: it goes in the body and nowhere else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_rows.h"
#include "notify_class.h"
#include "util.h"

#define PAGERDUTY_SUMMARY_MAX 1024   /* characters of payload.summary */
#define PAGERDUTY_SOURCE_MAX 255

/* The event_action by event. */
static const struct {
    const char *event;
    const char *action;
} actions[] = {
    {"firing", "trigger"},
    {"repeat", "trigger"},
    {"acknowledged", "acknowledge"},
    {"resolved", "resolve"},
};

/* payload.severity by the alert's severity; anything else is "error". */
static const struct {
    const char *severity;
    const char *pd;
} severities[] = {
    {"critical", "critical"},
    {"warning", "warning"},
    {"info", "info"},
};

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

/* custom_details: what the alert is, one member a known field. */
static json_t *details(const struct notify_view *v)
{
    json_t *d = json_object();
    if (d == NULL) {
        return NULL;
    }
    const struct {
        const char *key, *value;
    } fields[] = {
        {"kind", v->kind},
        {"status", v->status},
        {"severity", v->severity},
        {"check", v->check},
        {"app", v->app},
        {"env", v->env},
        {"started_at", v->started_at},
        {"resolved_at", v->resolved_at},
        {"acknowledged_by", v->ack_by},
        {"ack_comment", v->ack_comment},
    };
    int err = json_object_set_new(d, "alert_id", json_integer(v->id));
    if (v->deploy_id != 0) {
        err |= json_object_set_new(d, "deploy_id", json_integer(v->deploy_id));
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        err |= set_cut(d, fields[i].key, fields[i].value, NOTIFY_FIELD_MAX);
    }
    if (err) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* The event's payload: summary, source, severity, timestamp, component,
 * group, class, custom_details. */
static json_t *event_payload(const struct notify_view *v)
{
    json_t *p = json_object();
    json_t *d = details(v);
    if (p == NULL || d == NULL) {
        json_decref(p);
        json_decref(d);
        return NULL;
    }
    const char *pd = "error";
    for (size_t i = 0; i < ARRAY_SIZE(severities); i++) {
        if (strcmp(v->severity, severities[i].severity) == 0) {
            pd = severities[i].pd;
        }
    }
    char group[2 * NOTIFY_FIELD_MAX + 2];
    group[0] = '\0';
    if (v->app != NULL && v->env != NULL) {
        snprintf(group, sizeof(group), "%s/%s", v->app, v->env);
    } else if (v->app != NULL) {
        snprintf(group, sizeof(group), "%s", v->app);
    }
    int err = set_cut(p, "summary", v->summary, PAGERDUTY_SUMMARY_MAX);
    err |= set_cut(p, "source", v->host != NULL ? v->host : "shipwatch", PAGERDUTY_SOURCE_MAX);
    err |= json_object_set_new(p, "severity", json_string(pd));
    err |= set_cut(p, "timestamp", v->started_at, NOTIFY_FIELD_MAX);
    err |= set_cut(p, "component", v->check, NOTIFY_FIELD_MAX);
    err |= set_cut(p, "group", group[0] != '\0' ? group : NULL, NOTIFY_FIELD_MAX);
    err |= set_cut(p, "class", v->kind, NOTIFY_FIELD_MAX);
    err |= json_object_set_new(p, "custom_details", d);
    if (err) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* pagerduty: {routing_key, event_action, dedup_key, payload, client}. */
static char *render_pagerduty(const struct conf_notifier *conf, const struct notify_view *v,
                              const char *payload, int64_t now_ms)
{
    const char *action = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
        if (strcmp(v->event, actions[i].event) == 0) {
            action = actions[i].action;
        }
    }
    if (action == NULL || conf->routing_key == NULL) {
        return NULL;
    }
    char dedup[64];
    snprintf(dedup, sizeof(dedup), "shipwatch-%lld", (long long)v->id);
    json_t *j = json_object();
    json_t *p = event_payload(v);
    int err = j == NULL || p == NULL;
    if (!err) {
        err |= json_object_set_new(j, "routing_key", json_string(conf->routing_key));
        err |= json_object_set_new(j, "event_action", json_string(action));
        err |= json_object_set_new(j, "dedup_key", json_string(dedup));
        err |= json_object_set_new(j, "payload", p);
        p = NULL;
        err |= json_object_set_new(j, "client", json_string("shipwatch"));
    }
    json_decref(p);
    if (err) {
        json_decref(j);
        return NULL;
    }
    return notify_json_take(j);
}

#define NO(m) offsetof(struct conf_notifier, m)

/* Keys of pagerduty notifiers. */
static const struct conf_field pagerduty_rows[] = {
    {.key = "routing-key",
     .type = CONF_STR,
     .off = NO(routing_key),
     .valid = conf_valid_secret,
     .required = true},
};

static const struct conf_rows pagerduty_conf_rows = CONF_ROWS(pagerduty_rows);

const struct notifier_class notify_pagerduty_class = {
    .name = "pagerduty",
    .needs_url = true,
    .rows = &pagerduty_conf_rows,
    .render = render_pagerduty,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .default_url = "https://events.pagerduty.com/v2/enqueue",
};
