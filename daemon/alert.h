/* alert.h - alerts: rules, incidents, holds, silences, maintenance, outbox.
 *
 * One alert per incident: a check that turns bad opens one alert of its kind
 * (down, degraded, heartbeat, certificate, flapping), kept until the check
 * recovers; a failed deploy verdict opens a deploy-failed alert for its
 * app-env, kept until a later deploy there is not failed. The rules of the
 * configuration that match a check decide whether an alert is opened, its
 * severity (the highest), its notifiers (the union), send-on-resolved (any)
 * and repeat-interval (the shortest).
 *
 * Opening is held back, never resolving: while a check's parent
 * (depends-on) is failing, or while a deploy of its app-env is in progress
 * (started, up to verify.start-timeout), no alert is opened; once the hold
 * ends a check still bad gets its alert then. Silences and maintenance
 * windows do not hold alerts back: the alert is recorded and shown, muted,
 * and only its notifications are held; a mute that ends while the alert
 * still fires lets the notification go. An alert whose firing notification
 * went out is announced resolved even while a mute matches it.
 *
 * Every notification is a row of the outbox in the store before it is sent;
 * a row leaves the outbox when its receiver answered 2xx, so a restart
 * delivers what was owed. Failed attempts are retried with exponential
 * backoff and jitter; a notifier failing FAILING_EVENT_AFTER (3) times in a
 * row raises a "notifier" event.
 *
 * Time is the daemon's clock (clock_now_ms(d->clock)) wherever alerting
 * decides by it, and the one-second timer runs alert_tick: a test puts a
 * fake clock in the context, moves it, and ticks. Deliveries run on
 * d->loop through d->curlm (notify_start). */
#ifndef SHIPWATCH_ALERT_H
#define SHIPWATCH_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "store.h"

struct daemon;
struct deploy;

/* Severities, in rising order; the metric's label values. */
enum alert_severity {
    ALERT_INFO,
    ALERT_WARNING,
    ALERT_CRITICAL,
    ALERT_NSEVERITIES,
};
const char *alert_severity_name(enum alert_severity s);
int alert_severity_parse(const char *s, enum alert_severity *out);

/* Bring alerting up after the check states were restored: load the open
 * alerts, mutes and outbox from the store, open or resolve alerts the
 * stored states call for, start delivering. 0 or -errno (logged). */
int alert_init(struct daemon *d);

/* At shutdown: cancel deliveries in flight (they stay in the outbox) and
 * free everything. */
void alert_finish(struct daemon *d);

/* A check's result was applied (changed: its state moved from from). */
void alert_on_result(struct daemon *d, struct check *c, const struct result *r, bool changed,
                     enum check_state from);

/* A deploy was recorded or updated (status, verdict). */
void alert_on_deploy(struct daemon *d, const struct deploy *dep);

/* What the one-second timer runs, reading d->clock: quiet windows and
 * mutes that ended, degraded-for, flapping that calmed down, repeats.
 * Public so that a test on a fake clock ticks when it moved the clock. */
void alert_tick(struct daemon *d);

/* The configuration was swapped (after the checks were rebuilt): rules,
 * notifiers and maintenance windows are re-read; alerts of removed checks
 * are resolved. */
void alert_on_reload(struct daemon *d);

/* The socket's methods. Each returns 0, or -ENOENT (no open alert or live
 * mute with that id), -EINVAL (why says which field), -ENOMEM. */

/* Acknowledge alert id: no more repeats; by is the caller's user name. The
 * alert as it is now is copied into *out (free with alert_copy_finish). */
int alert_ack(struct daemon *d, int64_t id, const char *by, const char *comment,
              struct alert *out, char *why, size_t whylen);

/* Add a silence or an ad-hoc maintenance window (m->kind). starts_ms 0 is
 * now; ends_ms must be after it. A silence with an alert_id (an open
 * alert's, else -ENOENT) ends when that alert resolves too; with ends_ms
 * MUTE_UNTIL_RESOLVED, only then. The stored mute, with its id, is copied
 * into *out. */
int alert_mute_add(struct daemon *d, const struct mute *m, struct mute *out, char *why,
                   size_t whylen);

/* End a mute of that kind now; the ended mute is copied into *out. */
int alert_mute_remove(struct daemon *d, const char *kind, int64_t id, struct mute *out);

/* The mutes of that kind not yet over, soonest ending first. Valid until
 * the next call into alert.c. */
size_t alert_mutes(struct daemon *d, const char *kind, const struct mute *const **out);

/* Alerts from the store; see store_alerts. */
int alert_list(struct daemon *d, const struct store_alert_query *q, store_alerts_fn fn,
               void *arg);

/* Open alerts (firing or acknowledged) by severity, for /metrics. */
void alert_firing(const struct daemon *d, uint64_t counts[ALERT_NSEVERITIES]);

/* The parent failing that holds c's alerts back, or NULL. */
const char *alert_held_by(const struct daemon *d, const struct check *c);

/* Per notifier, for /metrics: calls fn once per configured notifier. */
typedef void (*alert_notifier_fn)(const char *name, uint64_t sent, uint64_t failed, void *arg);
void alert_notifier_counts(const struct daemon *d, alert_notifier_fn fn, void *arg);

/* Copies with owned strings, for handing to the socket; free with these. */
void alert_copy_finish(struct alert *a);
void mute_copy_finish(struct mute *m);

#endif
