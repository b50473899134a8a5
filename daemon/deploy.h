/* deploy.h - recording a deploy: the one path the socket's deploys.record
 * and the HTTP API both take; and the deploy tables.
 *
 * struct deploys is owned by this module: the daemon creates it at start
 * (d->deploys) and destroys it at the end; deploy_track fills it, and
 * readers (metrics.c, the checks' [DEPLOY].version) see it through the
 * accessors below, whose rows stay valid until the next deploy_track. */
#ifndef SHIPWATCH_DEPLOY_H
#define SHIPWATCH_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct daemon;
struct deploy;

/* Deploys counted for /metrics: recorded since start, by app, env, verdict. */
struct deploy_count {
    char *app, *env, *verdict;
    uint64_t count;
};

/* The last deploy of an app and env (loaded from the store at start). */
struct deploy_last {
    char *app, *env, *version;
    int64_t started_ms;
    char *succeeded_version;    /* of the last deploy that succeeded */
    int64_t succeeded_ms;
};

struct deploys;

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

/* Empty deploy tables; NULL on ENOMEM. */
struct deploys *deploys_create(void);

/* Free the tables. NULL is a no-op. */
void deploys_destroy(struct deploys *ds);

/* The rows of the tables, *n of each (0 and NULL for a NULL ds). */
const struct deploy_count *deploys_counts(const struct deploys *ds, size_t *n);
const struct deploy_last *deploys_lasts(const struct deploys *ds, size_t *n);

/* Note dep in the daemon's tables for /metrics: counted when count is set,
 * and as its app and env's last deploy when it is the newest seen. */
void deploy_track(struct daemon *d, const struct deploy *dep, bool count);

/* The version of app/env's last succeeded deploy, or NULL: [DEPLOY].version. */
const char *deploy_succeeded_version(const struct daemon *d, const char *app, const char *env);

#endif
