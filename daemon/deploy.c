/* deploy.c - validating, storing and announcing a deploy. */
#include "deploy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "store.h"

static bool one_of(const char *s, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(s, *set) == 0) {
            return true;
        }
    }
    return false;
}

int deploy_validate(const struct deploy *p, char *why, size_t len)
{
    static const char *const statuses[] = {"started", "succeeded", "failed", NULL};
    const struct {
        const char *key, *val;
        size_t max;
        bool required;
    } f[] = {
        {"app", p->app, DEPLOY_FIELD_MAX, true},
        {"env", p->env, DEPLOY_FIELD_MAX, true},
        {"version", p->version, DEPLOY_FIELD_MAX, true},
        {"commit", p->commit, DEPLOY_FIELD_MAX, false},
        {"author", p->author, DEPLOY_FIELD_MAX, false},
        {"source", p->source, DEPLOY_FIELD_MAX, false},
        {"url", p->url, DEPLOY_TEXT_MAX, false},
        {"description", p->description, DEPLOY_TEXT_MAX, false},
        {"id", p->ext_id, DEPLOY_FIELD_MAX, false},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (f[i].val == NULL && f[i].required) {
            snprintf(why, len, "%s: missing", f[i].key);
            return -EINVAL;
        }
        if (f[i].val == NULL) {
            continue;
        }
        if (f[i].val[0] == '\0' && f[i].required) {
            snprintf(why, len, "%s: must not be empty", f[i].key);
            return -EINVAL;
        }
        if (strlen(f[i].val) > f[i].max) {
            snprintf(why, len, "%s: longer than %zu bytes", f[i].key, f[i].max);
            return -EINVAL;
        }
    }
    if (p->status != NULL && !one_of(p->status, statuses)) {
        snprintf(why, len, "status: %s is not one of started, succeeded, failed", p->status);
        return -EINVAL;
    }
    if (p->started_ms < 0 || p->finished_ms < 0) {
        snprintf(why, len, "started and finished are times since 1970");
        return -EINVAL;
    }
    return 0;
}

int deploy_record(struct daemon *d, struct deploy *dep, char *why, size_t whylen)
{
    int rc = deploy_validate(dep, why, whylen);
    if (rc < 0) {
        return rc;
    }
    int64_t now = daemon_now_ms();
    if (dep->status == NULL) {
        dep->status = "succeeded";
    }
    if (dep->source == NULL) {
        dep->source = "cli";
    }
    if (dep->started_ms <= 0) {
        dep->started_ms = now;
    }
    if (dep->finished_ms <= 0 && strcmp(dep->status, "started") != 0) {
        dep->finished_ms = now;
    }
    dep->id = store_put_deploy(d->store, dep);
    if (dep->id <= 0) {
        snprintf(why, whylen, "the store did not accept the deploy");
        return -EIO;
    }

    char msg[DEPLOY_FIELD_MAX * 4 + 64];
    snprintf(msg, sizeof(msg), "deploy %s/%s %s%s%s (%s)", dep->app, dep->env, dep->version,
             dep->author ? " by " : "", dep->author ? dep->author : "", dep->status);
    char data[64];
    snprintf(data, sizeof(data), "{\"deploy_id\":%lld}", (long long)dep->id);
    struct event ev = {.ts_ms = now,
                       .type = "deploy",
                       .app = dep->app,
                       .env = dep->env,
                       .message = msg,
                       .data = data};
    daemon_emit_event(d, &ev);
    return 0;
}
