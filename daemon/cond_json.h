/* cond_json.h - the JSON side of conditions: [BODY].a.b[0] resolved the way
 * Gatus's jsonpath package resolves it, and values printed the way Go prints
 * them. Used by cond.c only.
 *
 * Ownership: every function that hands back text allocates it; the caller
 * frees it with free(). Nothing here keeps a pointer into the body. */
#ifndef SHIPWATCH_COND_JSON_H
#define SHIPWATCH_COND_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Resolve path (what follows "[BODY]", without its leading dot; "" for the
 * body itself) in body[0..len). On success returns 0, *out gets the value as
 * text (malloc'd, NUL-terminated; *outlen its length, the text may contain
 * NUL bytes) and *count the length len() reports: elements of an array,
 * bytes of the text otherwise. Returns -EINVAL when the body is not JSON or
 * the path does not lead to a value, -ENOMEM when out of memory. With an
 * empty path a body that is not a JSON array is returned as it is, as
 * Gatus does. */
int cond_json_eval(const char *path, const char *body, size_t len, char **out, size_t *outlen,
                   int64_t *count);

/* Format d as Go's fmt %v formats a float64 ("1e+06", "0.5", "12") into buf
 * of size n (at least 32); returns buf. */
char *cond_json_format_float(double d, char *buf, size_t n);

#endif
