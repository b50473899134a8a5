/* github.h - what a GitHub webhook event means for the deploys.
 *
 * Pure: no daemon state. github_event_read maps an event's name (the
 * X-GitHub-Event header) and its parsed JSON body to a deploy; the strings
 * of the deploy it fills live in the JSON document (some are added to it),
 * so they are the caller's as long as the document is. The router checks
 * the signature before; the HTTP server owns the delivery memory. */
#ifndef SHIPWATCH_GITHUB_H
#define SHIPWATCH_GITHUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* What the event asks. */
enum github_action {
    GITHUB_PING,        /* answer ok */
    GITHUB_IGNORE,      /* answer 202, record nothing (why says what) */
    GITHUB_DEPLOY,      /* record dep (new, or an update of the same id) */
};

/* An event read: the deploy without its app, and the repository that
 * names the app. */
struct github_event {
    enum github_action action;
    const char *ignored;            /* GITHUB_IGNORE: the event or state */
    struct deploy dep;              /* GITHUB_DEPLOY: app unset, ext_id "github:ID" */
    const char *repo_full, *repo_name;
};

/* The length of the short sha a version falls back to. */
#define GITHUB_SHORT_SHA 7

/* Read event (an X-GitHub-Event value) whose body is doc (NULL for an
 * event that needs none). 0 with *ev filled, or -EINVAL with why (a 400):
 * deployment.id, .environment and .sha (or payload.version) are
 * required, and a deployment_status needs a state; a state not known
 * (inactive, or one GitHub adds later) is ignored. */
int github_event_read(const char *event, json_t *doc, struct github_event *ev, char *why,
                      size_t whylen);

#endif
