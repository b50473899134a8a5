/* cond.h - conditions in Gatus's syntax: "[STATUS] == 200".
 *
 * A condition is two operands around an operator written with a space on
 * each side: ==, !=, <, <=, >, >= (Gatus refuses "[STATUS]==200", and so do
 * we). Either operand may be a placeholder ([STATUS], [IP], [RESPONSE_TIME]
 * in ms, [CONNECTED], [CERTIFICATE_EXPIRATION] in ms, [DNS_RCODE], [BODY],
 * [BODY].a.b[0], and shipwatch's [DEPLOY].version), a placeholder in len()
 * or has(), pat(glob), any(a, b, c), or literal text; quotes are characters.
 * Placeholder names are case-insensitive. docs/conditions.md has the rules
 * and what Gatus does for each form.
 *
 * A check type may give placeholders of its own ([USED] of a disk, [COUNT]
 * of a process): numbers, durations or truths it lists in a const table of
 * struct cond_var. The configuration parses a check's conditions before it
 * need know its type (cond_parse_open keeps unknown names aside), then
 * binds them to the type's table (cond_bind), which refuses the names the
 * type does not give. A comparison with such a placeholder on either side
 * is done on floating-point numbers, so "[LOAD1] < 0.5" means what it says
 * (Gatus's placeholders keep Gatus's integer comparisons).
 *
 * Ownership: cond_parse allocates a struct cond that the caller frees with
 * cond_destroy. struct cond_facts only borrows its strings: they must outlive
 * the cond_eval / cond_eval_all call that reads them, nothing more.
 * Evaluation never keeps a pointer into the facts. */
#ifndef SHIPWATCH_COND_H
#define SHIPWATCH_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cond;

/* Room for one condition's result text ("[STATUS] (503) == 200"); the same
 * size as a result's failed_condition. */
#define COND_RESULT_TEXT_MAX 256

/* A placeholder a check type gives beyond the common ones. */
enum cond_var_kind {
    COND_VAR_NUMBER,             /* a count, bytes, a percentage */
    COND_VAR_MS,                 /* a duration in ms, shown as one: "[AGE] (25h) < 24h" */
    COND_VAR_BOOL,               /* 0 or 1, reads "false" or "true" */
};

struct cond_var {
    const char *name;            /* "[USED]": upper case, letters and _ */
    enum cond_var_kind kind;
    const char *unit;            /* its unit as perfdata writes it: "%", "B",
                                    "ms", "" for a count or a truth */
};

/* A type's placeholders at most. */
#define COND_VARS_MAX 8

/* What one check run learned, read by conditions. A fact the check type does
 * not produce keeps its "unknown" value and reads as Gatus's zero value:
 * [STATUS] 0 (or its word, empty), [CERTIFICATE_EXPIRATION] 0, [CONNECTED] false, [BODY] and
 * [IP] and [DNS_RCODE] empty. An unknown [DEPLOY].version fails the
 * condition and reads "(n/a)". */
struct cond_facts {
    int status;                  /* HTTP status; -1 unknown */
    const char *status_word;     /* [STATUS] as a word instead (a grpc check's
                                    "SERVING"); NULL: status, the number */
    int64_t response_time_ms;    /* -1 unknown */
    const char *body;            /* not NUL-terminated; NULL unknown */
    size_t body_len;
    int connected;               /* 1, 0, or -1 unknown */
    int64_t cert_expiry_ms;      /* time left until the certificate expires (negative once
                                    expired); INT64_MIN unknown or no TLS */
    const char *deploy_version;  /* version of the app-env's last deploy; NULL unknown */
    const char *ip;              /* address connected to, "127.0.0.1" or "::1"; NULL unknown */
    const char *dns_rcode;       /* "NOERROR", "NXDOMAIN", ...; NULL unknown */
    double vars[COND_VARS_MAX];  /* the type's own placeholders, by index in its
                                    table; NAN unknown: fails the condition
                                    and reads "(n/a)", as [DEPLOY].version */
};

/* One condition's verdict. text is the condition as written when it holds,
 * and the condition with the values it saw when it does not, as Gatus shows
 * it: "[STATUS] (503) == 200", "[BODY].a (INVALID) == 1". */
struct cond_result {
    bool success;
    char text[COND_RESULT_TEXT_MAX];
};

/* Initialise facts to "unknown" everywhere. */
void cond_facts_init(struct cond_facts *f);

/* Parse text. Returns 0 and *out (free with cond_destroy), or -EINVAL with a
 * one-line reason in err (e.g. "unknown placeholder [STAUS]"), or -ENOMEM. */
int cond_parse(const char *text, struct cond **out, char *err, size_t errlen);

/* cond_parse, but a placeholder it does not know ([USED]) is kept aside
 * for cond_bind rather than refused. A condition not bound yet cannot be
 * evaluated. */
int cond_parse_open(const char *text, struct cond **out, char *err, size_t errlen);

/* Bind the placeholders cond_parse_open kept aside to vars[0..n) (static:
 * must outlive c). 0, or -EINVAL with "unknown placeholder [X]" in err. A
 * condition without such placeholders binds to anything. */
int cond_bind(struct cond *c, const struct cond_var *vars, size_t n, char *err, size_t errlen);

/* Evaluate. Returns true when the condition holds. When it does not, why
 * (when not NULL) gets the condition with the values it saw, as
 * struct cond_result's text. */
bool cond_eval(const struct cond *c, const struct cond_facts *f, char *why, size_t whylen);

/* Evaluate every condition of conds[0..n) against f, whatever the earlier
 * ones gave, into results[0..n) (caller's array of n). Returns how many
 * failed. */
size_t cond_eval_all(struct cond *const *conds, size_t n, const struct cond_facts *f,
                     struct cond_result *results);

/* The source text of a condition, as parsed. */
const char *cond_text(const struct cond *c);

/* Free; NULL is a no-op. */
void cond_destroy(struct cond *c);

#endif
