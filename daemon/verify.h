/* verify.h - post-deploy verification.
 *
 * When a deploy of an app and env succeeds, that app-env's checks run at
 * the app's verify.interval (or their own, when shorter) for
 * verify.window; then the deploy gets its verdict: failed when one of the
 * checks is down at the end, unverified when the window saw no result at
 * all, degraded when any result in the window was not up, healthy
 * otherwise. A check that goes down in the window for its
 * failure-threshold (bad results in a row counted in the window) fails the
 * deploy at once; an app-env with no checks is unverified at once. A check
 * down since before the deploy started is not blamed: its results are left
 * out until it leaves down. A failed verdict names the first check that
 * failed in the window and the last version whose verdict was healthy
 * (the rollback target). A newer deploy of the same app-env that
 * succeeded, or the deploy's own failure, ends the running window with its
 * verdict so far; a newer deploy that has only started does not. The
 * verdict is stored on the deploy (never over a status that moved on),
 * counted in shipwatch_deploys_total and sent as a "deploy.verdict" event.
 *
 * The windows running and the last healthy versions live in a struct
 * verifier owned by this module: the daemon creates it at start
 * (d->verifier), ends its windows with verify_finish while the loop still
 * runs, and destroys it at the end, after the loop has closed the timer.
 * A window's end is read on d->clock: one timer on d->loop, armed for the
 * nearest end, calls verify_tick, which a test calls itself after moving
 * a fake clock. */
#ifndef SHIPWATCH_VERIFY_H
#define SHIPWATCH_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct deploy;
struct check;
struct result;
struct verifier;

/* A verifier with no window running; NULL on ENOMEM. */
struct verifier *verifier_create(void);

/* Free v and what it knows; its windows must be ended (verify_finish).
 * NULL is a no-op. */
void verifier_destroy(struct verifier *v);

/* A deploy was recorded, new or with its status moved forward (never for
 * a repeated one): start a window when it succeeded, after ending the
 * window of its app-env's previous deploy. */
void verify_on_deploy(struct daemon *d, const struct deploy *dep);

/* Judge the windows whose end has passed by d->clock (the timer's
 * callback; a test's tick). */
void verify_tick(struct daemon *d);

/* A result of c: tallied into its app-env's window, if one runs. */
void verify_on_result(struct daemon *d, const struct check *c, const struct result *r);

/* The deploy a check's present state is blamed on: the last one verified
 * in its app-env, when the check's state began after that deploy started
 * and before its window ended (or while it runs). A check down since
 * before the deploy is not blamed. The strings are the verifier's, valid
 * until the next deploy or verdict. */
struct verify_blame {
    int64_t id;
    int64_t started_ms;         /* the deploy's start */
    const char *version;
    const char *author;         /* NULL none */
    const char *last_healthy;   /* the rollback target; NULL none */
};
bool verify_blame(const struct daemon *d, const struct check *c, struct verify_blame *out);

/* The last healthy version of app/env as known, or NULL. */
const char *verify_last_healthy(const struct daemon *d, const char *app, const char *env);

/* Note a stored deploy's verdict at start-up (the last healthy versions). */
void verify_note_stored(struct daemon *d, const struct deploy *dep);

/* End every window without a verdict and close the timer (shutdown,
 * while the loop runs); verifier_destroy frees the rest once the loop
 * has run the close. */
void verify_finish(struct daemon *d);

#endif
