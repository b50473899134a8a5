/* github.c - GitHub deployment events as deploys (rules in github.h). */
#include "github.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A deployment_status state and the deploy status it means; NULL: ignored. */
struct github_state {
    const char *state, *status;
};

/* Every state GitHub sends ("queued" and "in_progress" come with Actions). */
static const struct github_state states[] = {
    {.state = "pending", .status = "started"},
    {.state = "queued", .status = "started"},
    {.state = "in_progress", .status = "started"},
    {.state = "success", .status = "succeeded"},
    {.state = "failure", .status = "failed"},
    {.state = "error", .status = "failed"},
    {.state = "inactive", .status = NULL},
};

/* The events read, and whether they carry a deployment. */
struct github_kind {
    const char *event;
    enum github_action action;
};

static const struct github_kind kinds[] = {
    {.event = "ping", .action = GITHUB_PING},
    {.event = "deployment", .action = GITHUB_DEPLOY},
    {.event = "deployment_status", .action = GITHUB_DEPLOY},
};

/* The row of event, or NULL for an event not read. */
static const struct github_kind *kind_of(const char *event)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (strcmp(kinds[i].event, event) == 0) {
            return &kinds[i];
        }
    }
    return NULL;
}

/* A string by a path of object keys; NULL when a step is missing, or the
 * end is not a string or is empty. */
static const char *jstr(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b != NULL) {
        v = json_object_get(v, b);
    }
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* Set key in doc to s; the copy's text, owned by doc (NULL on ENOMEM). */
static const char *keep(json_t *doc, const char *key, const char *s)
{
    if (json_object_set_new(doc, key, json_string(s)) < 0) {
        return NULL;
    }
    return json_string_value(json_object_get(doc, key));
}

/* Read a deployment or deployment_status event into ev. */
int github_event_read(const char *event, json_t *doc, struct github_event *ev, char *why,
                      size_t whylen)
{
    *ev = (struct github_event){.action = GITHUB_IGNORE, .ignored = event};
    const struct github_kind *k = kind_of(event);
    if (k == NULL) {
        return 0;
    }
    ev->action = k->action;
    if (k->action != GITHUB_DEPLOY) {
        return 0;
    }
    json_t *dp = json_object_get(doc, "deployment");
    json_t *gid = json_object_get(dp, "id");
    const char *sha = jstr(dp, "sha", NULL);
    ev->repo_full = jstr(doc, "repository", "full_name");
    ev->repo_name = jstr(doc, "repository", "name");
    ev->dep = (struct deploy){
        .env = jstr(dp, "environment", NULL),
        .commit = sha,
        .ref = jstr(dp, "ref", NULL),
        .author = jstr(dp, "creator", "login"),
        .description = jstr(dp, "description", NULL),
        .source = "github",
        .status = "started",
    };
    /* The version: the payload's "version", else the short sha (never the
     * ref: every deploy of a branch would read "main"). */
    ev->dep.version = jstr(dp, "payload", "version");
    if (!json_is_integer(gid) || ev->dep.env == NULL || (sha == NULL && ev->dep.version == NULL)) {
        snprintf(why, whylen, "a %s event needs deployment.id, .environment and .sha", event);
        return -EINVAL;
    }
    if (ev->dep.version == NULL) {
        char short_sha[GITHUB_SHORT_SHA + 1];
        snprintf(short_sha, sizeof(short_sha), "%s", sha);
        ev->dep.version = keep(doc, "shipwatch_version", short_sha);
    }
    char ext[64];
    snprintf(ext, sizeof(ext), "github:%lld", (long long)json_integer_value(gid));
    ev->dep.ext_id = keep(doc, "shipwatch_ext_id", ext);
    if (ev->dep.version == NULL || ev->dep.ext_id == NULL) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    if (strcmp(event, "deployment_status") != 0) {
        return 0;
    }
    const char *state = jstr(doc, "deployment_status", "state");
    const struct github_state *st = NULL;
    for (size_t i = 0; state != NULL && i < ARRAY_SIZE(states); i++) {
        if (strcmp(states[i].state, state) == 0) {
            st = &states[i];
        }
    }
    if (state == NULL) {
        snprintf(why, whylen, "deployment_status.state: missing");
        return -EINVAL;
    }
    if (st == NULL || st->status == NULL) {
        ev->action = GITHUB_IGNORE;   /* inactive, or a state GitHub adds later */
        ev->ignored = state;
        return 0;
    }
    ev->dep.status = st->status;
    const char *url = jstr(doc, "deployment_status", "target_url");
    ev->dep.url = url != NULL ? url : jstr(doc, "deployment_status", "log_url");
    return 0;
}
