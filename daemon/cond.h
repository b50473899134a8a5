/* cond.h - conditions in Gatus's syntax: "[STATUS] == 200".
 *
 * Left side is a placeholder: [STATUS], [RESPONSE_TIME] (ms), [BODY],
 * [BODY].a.b[0] (a JSON path into the body), [CONNECTED],
 * [CERTIFICATE_EXPIRATION] (a duration), [DEPLOY].version; optionally wrapped
 * in len(...). Operators == != < <= > >=. Right side is a literal (number,
 * duration such as 168h, true/false, bare word or string), pat(glob) for ==
 * and !=, or another placeholder. */
#ifndef SHIPWATCH_COND_H
#define SHIPWATCH_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cond;

/* What one check run learned, read by conditions. Fields that the check type
 * does not produce are left at their "unknown" value. */
struct cond_facts {
    int status;                  /* HTTP status; -1 unknown */
    int64_t response_time_ms;    /* -1 unknown */
    const char *body;            /* not NUL-terminated; NULL unknown */
    size_t body_len;
    int connected;               /* 1, 0, or -1 unknown */
    int64_t cert_expiry_ms;      /* time left until the certificate expires; INT64_MIN unknown */
    const char *deploy_version;  /* version of the app-env's last deploy; NULL unknown */
};

/* Initialise facts to "unknown" everywhere. */
void cond_facts_init(struct cond_facts *f);

/* Parse text. Returns 0 and *out (free with cond_free), or -EINVAL with a
 * one-line reason in err (e.g. "unknown placeholder [STAUS]"). */
int cond_parse(const char *text, struct cond **out, char *err, size_t errlen);

/* Evaluate. Returns true when the condition holds. When it does not, why gets
 * the condition with the actual value, e.g. "[STATUS] (503) == 200"; an
 * unknown fact fails the condition ("[STATUS] (n/a) == 200"). */
bool cond_eval(const struct cond *c, const struct cond_facts *f, char *why, size_t whylen);

/* The source text of a condition, as parsed. */
const char *cond_text(const struct cond *c);

/* Free; NULL is a no-op. */
void cond_free(struct cond *c);

#endif
