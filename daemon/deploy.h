/* deploy.h - recording a deploy: the one path the socket's deploys.record
 * and the HTTP API both take; and the deploy tables.
 *
 * struct deploys is owned by this module: the daemon creates it at start
 * (d->deploys) and destroys it at the end; deploy_track fills it, and
 * readers (metrics.c, the checks' [DEPLOY].version) see it through the
 * accessors below, whose rows stay valid until the next deploy_track. It
 * also remembers the last DEPLOY_RECENT deploys recorded with a sender's
 * id, so that an update finds its deploy before the store shows it. */
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

#define DEPLOY_FIELD_MAX 256     /* app, env, version, commit, author, source, ref */
#define DEPLOY_RECENT 256        /* deploys by sender's id that deploy_recent knows */
#define DEPLOY_TEXT_MAX 4096     /* url, description */

/* Check dep: app, env and version present and non-empty, lengths, status
 * one of started, succeeded, failed, times not negative. 0, or -EINVAL
 * with why naming the field. */
int deploy_validate(const struct deploy *dep, char *why, size_t whylen);

/* Validate, fill the defaults (status succeeded, started now, finished now
 * unless started, source "cli"), store it and emit its "deploy" event.
 * 0 with dep->id set, -EINVAL with why, or -EIO when the store refused. */
int deploy_record(struct daemon *d, struct deploy *dep, char *why, size_t whylen);

/* What deploy_upsert did. */
enum deploy_outcome {
    DEPLOY_CREATED,     /* a new deploy */
    DEPLOY_MOVED,       /* an update whose status moved forward */
    DEPLOY_UNCHANGED,   /* an older or repeated status: nothing written */
};

/* Record dep as deploy_record does, as an update of stored when that is
 * the deploy of the same sender's id (NULL: none; from deploy_recent or
 * the store). A status only moves forward (started, then succeeded, then
 * failed): an update that does not move it changes nothing, emits nothing
 * and leaves dep's id, app, env, version and status those of stored
 * (DEPLOY_UNCHANGED). -EEXIST with why when stored is another app's: an id
 * is its app's. */
int deploy_upsert(struct daemon *d, struct deploy *dep, const struct deploy *stored,
                  enum deploy_outcome *outcome, char *why, size_t whylen);

/* The deploy recorded under the sender's id ext_id lately (id, app, env,
 * version, status), or NULL: what a read of the store may not show yet.
 * Valid until the next deploy_upsert. */
const struct deploy *deploy_recent(const struct daemon *d, const char *ext_id);

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
