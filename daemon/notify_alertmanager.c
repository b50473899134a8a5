/* notify_alertmanager.c - the alertmanager notifier: POST
 * [{labels, annotations, startsAt, endsAt}] to URL/api/v2/alerts, so
 * Prometheus Alertmanager routes, groups and silences shipwatch's alerts
 * with the rest. */
#include <stdio.h>
#include <string.h>

#include "notify_class.h"
#include "util.h"

/* alertmanager: [{labels, annotations, startsAt, endsAt}]. */
static char *render_alertmanager(const struct conf_notifier *conf, const struct notify_view *v,
                                 const char *payload, int64_t now_ms)
{
    char name[160];
    snprintf(name, sizeof(name), "shipwatch_%s", v->kind);
    for (char *p = name; *p != '\0'; p++) {
        /* A Prometheus name: "deploy-failed" becomes deploy_failed. */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) {
            *p = '_';
        }
    }
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);

    json_t *labels = json_object();
    json_t *ann = json_object();
    json_t *al = json_object();
    json_t *arr = json_array();
    int err = labels == NULL || ann == NULL || al == NULL || arr == NULL;
    if (!err) {
        const struct {
            const char *key, *value;
        } ls[] = {
            {"alertname", name}, {"check", v->check},       {"app", v->app},
            {"env", v->env},     {"severity", v->severity}, {"kind", v->kind},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ls); i++) {
            if (ls[i].value != NULL) {
                err |= json_object_set_new(labels, ls[i].key, json_string(ls[i].value));
            }
        }
        err |= json_object_set_new(ann, "summary", json_string(v->summary));
        err |= json_object_set_new(ann, "shipwatch_alert_id", json_string(id));
        err |= json_object_set_new(al, "labels", labels);
        err |= json_object_set_new(al, "annotations", ann);
        labels = ann = NULL;
        if (v->started_at != NULL) {
            err |= json_object_set_new(al, "startsAt", json_string(v->started_at));
        }
        if (strcmp(v->status, "resolved") == 0 && v->resolved_at != NULL) {
            err |= json_object_set_new(al, "endsAt", json_string(v->resolved_at));
        }
        err |= json_array_append_new(arr, al);
        al = NULL;
    }
    json_decref(labels);
    json_decref(ann);
    json_decref(al);
    if (err) {
        json_decref(arr);
        return NULL;
    }
    return notify_json_take(arr);
}

const struct notifier_class notify_alertmanager_class = {
    .name = "alertmanager",
    .needs_url = true,
    .render = render_alertmanager,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
    .path = "/api/v2/alerts",
};
