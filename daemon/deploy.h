/* deploy.h - recording a deploy: the one path the socket's deploys.record
 * and the HTTP API both take. */
#ifndef SHIPWATCH_DEPLOY_H
#define SHIPWATCH_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;
struct deploy;

#define DEPLOY_FIELD_MAX 256     /* app, env, version, commit, author, source */
#define DEPLOY_TEXT_MAX 4096     /* url, description */

/* Check dep: app, env and version present and non-empty, lengths, status
 * one of started, succeeded, failed, times not negative. 0, or -EINVAL
 * with why naming the field. */
int deploy_validate(const struct deploy *dep, char *why, size_t whylen);

/* Validate, fill the defaults (status succeeded, started now, finished now
 * unless started, source "cli"), store it and emit its "deploy" event.
 * 0 with dep->id set, -EINVAL with why, or -EIO when the store refused. */
int deploy_record(struct daemon *d, struct deploy *dep, char *why, size_t whylen);

/* Note dep in the daemon's tables for /metrics: counted when count is set,
 * and as its app and env's last deploy when it is the newest seen. */
void deploy_track(struct daemon *d, const struct deploy *dep, bool count);

/* The version of app/env's last succeeded deploy, or NULL: [DEPLOY].version. */
const char *deploy_succeeded_version(const struct daemon *d, const char *app, const char *env);

/* Free those tables. */
void deploy_track_free(struct daemon *d);

#endif
