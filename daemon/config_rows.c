/* config_rows.c - the field-row engine: one parser a row type, and the
 * walks over rows that parse a mapping, fill defaults, free and hash.
 *
 * See config_rows.h. Values of string keys are never quoted in messages,
 * so secrets (tokens, DSNs, URLs) cannot leak into logs; only durations,
 * enumerations and names are. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "cond.h"
#include "config_rows.h"
#include "duration.h"
#include "hash.h"

/* True when s holds a byte below 0x20 or 0x7f (tab allowed when tab_ok). */
static bool has_control(const char *s, bool tab_ok)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch < 0x20 && !(tab_ok && ch == '\t')) || ch == 0x7f) {
            return true;
        }
    }
    return false;
}

/* A size for messages: "64KiB", "1MiB", "100". */
static const char *size_text(char *buf, size_t n, int64_t v)
{
    if (v >= 1024 * 1024 && v % (1024 * 1024) == 0) {
        snprintf(buf, n, "%lldMiB", (long long)(v / (1024 * 1024)));
    } else if (v >= 1024 && v % 1024 == 0) {
        snprintf(buf, n, "%lldKiB", (long long)(v / 1024));
    } else {
        snprintf(buf, n, "%lld", (long long)v);
    }
    return buf;
}

/* Parse a decimal integer with an optional KiB/MiB/GiB suffix (sizes only);
 * 0 or -EINVAL / -ERANGE. */
static int parse_number(const char *s, bool suffixes, int64_t *out)
{
    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10) {
            return -ERANGE;
        }
        v = v * 10 + (*s - '0');
    }
    int64_t mul = 1;
    if (suffixes && strcmp(s, "KiB") == 0) {
        mul = 1024;
    } else if (suffixes && strcmp(s, "MiB") == 0) {
        mul = 1024 * 1024;
    } else if (suffixes && strcmp(s, "GiB") == 0) {
        mul = 1024LL * 1024 * 1024;
    } else if (*s != '\0') {
        return -EINVAL;
    }
    if (v > INT64_MAX / mul) {
        return -ERANGE;
    }
    *out = v * mul;
    return 0;
}

/* ------------------------------------------------------------ validators */

/* Each returns NULL when s is acceptable, else the reason. */

/* A name: check, app, env, notifier, admin. */
const char *conf_valid_name(const char *s)
{
    if (strlen(s) > CONFIG_MAX_NAME) {
        return "too long (at most 128 bytes)";
    }
    return has_control(s, false) ? "control characters are not allowed" : NULL;
}

/* Free text on one line. */
const char *conf_valid_text(const char *s)
{
    return has_control(s, false) ? "control characters are not allowed" : NULL;
}

/* A token or key: no spaces, no control characters. */
const char *conf_valid_secret(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            return "must not contain spaces or control characters";
        }
    }
    return NULL;
}

/* An http:// or https:// URL. */
const char *conf_valid_http_url(const char *s)
{
    size_t n = strncasecmp(s, "http://", 7) == 0 ? 7 : strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
    if (n == 0 || s[n] == '\0' || conf_valid_secret(s) != NULL) {
        return "expected an http:// or https:// URL";
    }
    return NULL;
}

/* An HTTP method. */
const char *conf_valid_method(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 16 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n) {
        return "expected an HTTP method in capitals, such as GET, HEAD or POST";
    }
    return NULL;
}

/* A heartbeat token: it becomes part of a URL path. */
const char *conf_valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n > 128) {
        return "too long (at most 128 bytes)";
    }
    if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") != n) {
        return "use only letters, digits and - _ . ~ (the token is part of the /hb/ URL)";
    }
    return NULL;
}

/* A listen address, HOST:PORT. */
const char *conf_valid_listen(const char *s)
{
    static const char *const bad = "expected HOST:PORT, such as 127.0.0.1:9321 or [::1]:9321";
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || has_control(s, false) || strchr(s, ' ') != NULL) {
        return bad;
    }
    if (s[0] == '[' && colon[-1] != ']') {
        return bad;
    }
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)) != NULL) {
        return bad; /* a bare IPv6 address needs brackets */
    }
    int64_t port;
    /* Port 0: a free port the kernel picks, logged at start (tests). */
    if (parse_number(colon + 1, false, &port) < 0 || port < 0 || port > 65535) {
        return bad;
    }
    return NULL;
}

/* A Unix socket path. */
const char *conf_valid_socket(const char *s)
{
    if (strlen(s) > CONFIG_SUN_PATH_MAX) {
        return "path too long for a Unix socket (at most 107 bytes)";
    }
    return conf_valid_text(s);
}

/* A file path. */
const char *conf_valid_path(const char *s)
{
    if (strlen(s) >= PATH_MAX) {
        return "path too long";
    }
    return conf_valid_text(s);
}

/* ---------------------------------------------------------------- fields */

#define CONF_AT(base, off, type) ((type *)((char *)(base) + (off)))

/* path + "." + key (or key alone at the top), key sanitized. */
void conf_path_key(char *dst, size_t n, const char *parent, const char *key, size_t klen)
{
    char k[300];
    conf_sanitize(k, sizeof(k), key, klen, 64);
    if (parent[0] == '\0') {
        snprintf(dst, n, "%s", k);
    } else {
        snprintf(dst, n, "%s.%s", parent, k);
    }
}

/* Format a path into dst (size n), truncating silently. */
__attribute__((format(printf, 3, 4))) void conf_pathf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* path + "[i]". */
void conf_path_index(char *dst, size_t n, const char *parent, size_t i)
{
    snprintf(dst, n, "%s[%zu]", parent, i);
}

/* A string: length and f->valid checked, empty is absent. */
static int p_str(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                 struct conf_mark at, const char *path, void *base)
{
    char *s;
    int rc = conf_scalar(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    const char *why = f->valid ? f->valid(s) : NULL;
    if (why != NULL) {
        conf_report(x, at, "%s: %s", path, why);
        free(s);
        return -1;
    }
    *CONF_AT(base, f->off, char *) = s;
    return 0;
}

/* One of f->choices, stored as a string. */
static int p_enum(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    char *s;
    int rc = conf_scalar(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        if (strcmp(s, f->choices[i]) == 0) {
            *CONF_AT(base, f->off, char *) = s;
            return 0;
        }
    }
    char list[256] = "", q[300];
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", f->choices[i]);
    }
    conf_report(x, at, "%s: unknown %s %s (%s)", path, f->key, conf_quote(q, sizeof(q), s), list);
    free(s);
    return -1;
}

/* A duration in [min, max] milliseconds. */
static int p_duration(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                      struct conf_mark at, const char *path, void *base)
{
    char *s;
    int rc = conf_scalar(x, v, at, path, "a duration (500ms, 30s, 5m, 24h, 14d)", true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t ms;
    char q[300], b[64];
    int prc = duration_parse(s, &ms);
    if (prc == -ERANGE) {
        conf_report(x, at, "%s: duration %s is too large", path, conf_quote(q, sizeof(q), s));
        rc = -1;
    } else if (prc < 0) {
        conf_report(x, at, "%s: bad duration %s (use 500ms, 30s, 5m, 24h, 14d)", path,
                    conf_quote(q, sizeof(q), s));
        rc = -1;
    } else if (ms < f->min) {
        conf_report(x, at, "%s: must be at least %s", path, duration_format(f->min, b, sizeof(b)));
        rc = -1;
    } else if (f->max > 0 && ms > f->max) {
        conf_report(x, at, "%s: must be at most %s", path, duration_format(f->max, b, sizeof(b)));
        rc = -1;
    } else {
        *CONF_AT(base, f->off, int64_t) = ms;
    }
    free(s);
    return rc;
}

/* An int in [min, max]. */
static int p_int(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                 struct conf_mark at, const char *path, void *base)
{
    char what[96];
    snprintf(what, sizeof(what), "an integer from %lld to %lld", (long long)f->min,
             (long long)f->max);
    char *s;
    int rc = conf_scalar(x, v, at, path, what, true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t n;
    if (parse_number(s, false, &n) < 0 || n < f->min || n > f->max) {
        conf_report(x, at, "%s: expected %s", path, what);
        free(s);
        return -1;
    }
    *CONF_AT(base, f->off, int) = (int)n;
    free(s);
    return 0;
}

/* A size in bytes in [min, max], KiB/MiB/GiB suffixes allowed. */
static int p_size(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    char what[128], lo[32], hi[32];
    snprintf(what, sizeof(what), "a size from %s to %s bytes (such as 65536, 64KiB or 1MiB)",
             size_text(lo, sizeof(lo), f->min), size_text(hi, sizeof(hi), f->max));
    char *s;
    int rc = conf_scalar(x, v, at, path, what, true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t n;
    if (parse_number(s, true, &n) < 0 || n < f->min || n > f->max) {
        conf_report(x, at, "%s: expected %s", path, what);
        free(s);
        return -1;
    }
    *CONF_AT(base, f->off, size_t) = (size_t)n;
    free(s);
    return 0;
}

/* Parse a boolean value; 0 and *b, 1 null, -1 reported. */
static int get_bool(struct conf_ctx *x, const struct ynode *v, struct conf_mark at,
                    const char *path, bool *b)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    char *s;
    int rc = conf_scalar(x, v, at, path, "a boolean", true, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *b = strcasecmp(s, yes[i]) == 0;
            free(s);
            return 0;
        }
    }
    conf_report(x, at, "%s: expected a boolean", path);
    free(s);
    return -1;
}

/* A boolean. */
static int p_bool(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    bool b;
    int rc = get_bool(x, v, at, path, &b);
    if (rc == 0) {
        *CONF_AT(base, f->off, bool) = b;
    }
    return rc;
}

/* A boolean stored negated ("enabled: false" sets paused). */
static int p_notbool(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                     struct conf_mark at, const char *path, void *base)
{
    bool b;
    int rc = get_bool(x, v, at, path, &b);
    if (rc == 0) {
        *CONF_AT(base, f->off, bool) = !b;
    }
    return rc;
}

/* Free a vector of n strings (NULL entries allowed) and the vector. */
void conf_strv_free(char **v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* A string or a list of strings into a vector of n (+1 NULL) entries.
 * Items are checked with f->valid; f->min set means items must not be
 * empty. Returns 0 and *out and *n, 1 null, -1 reported. */
static int get_strings(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                       struct conf_mark at, const char *path, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (conf_is_null(v)) {
        return conf_visit(x, at) ? 1 : -1;
    }
    const struct ynode *single = v->type == YN_SCALAR ? v : NULL;
    if (single == NULL && v->type != YN_SEQ) {
        conf_report(x, at, "%s: expected a list", path);
        return -1;
    }
    size_t count = single ? 1 : v->n;
    if (f->max > 0 && count > (size_t)f->max) {
        conf_report(x, at, "%s: too many items (limit %lld)", path, (long long)f->max);
        return -1;
    }
    char **vec = calloc(count + 1, sizeof(*vec));
    if (vec == NULL) {
        x->oom = true;
        x->stop = true;
        return -1;
    }
    bool bad = false;
    for (size_t i = 0; i < count && !x->stop; i++) {
        const struct ynode *item = single ? single : v->kids[i];
        char ipath[PATH_BUF];
        struct conf_mark iat = single ? at : v->kat[i];
        if (single) {
            snprintf(ipath, sizeof(ipath), "%s", path);
        } else {
            conf_path_index(ipath, sizeof(ipath), path, i);
        }
        if (item->type != YN_SCALAR) {
            conf_visit(x, iat);
            conf_report(x, iat, "%s: expected a string", ipath);
            bad = true;
            continue;
        }
        char *s;
        int rc = conf_scalar(x, item, iat, ipath, "a string", false, &s);
        if (rc < 0) {
            bad = true;
            continue;
        }
        if (rc == 1) {
            s = strdup("");
            if (s == NULL) {
                x->oom = true;
                x->stop = true;
                bad = true;
                continue;
            }
        }
        const char *why = NULL;
        if (f->min > 0 && *s == '\0') {
            why = "must not be empty";
        } else if (f->valid != NULL) {
            why = f->valid(s);
        }
        if (why != NULL) {
            conf_report(x, iat, "%s: %s", ipath, why);
            free(s);
            bad = true;
            continue;
        }
        vec[i] = s;
    }
    if (bad || x->stop) {
        conf_strv_free(vec, count);
        return -1;
    }
    *out = vec;
    *n = count;
    return 0;
}

/* A list of strings: char ** at off, size_t at off2. */
static int p_list(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    char **vec;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &vec, &n);
    if (rc == 0) {
        *CONF_AT(base, f->off, char **) = vec;
        *CONF_AT(base, f->off2, size_t) = n;
    }
    return rc;
}

/* Report s as not one of f->choices. */
static void report_choice(struct conf_ctx *x, const struct conf_field *f, struct conf_mark at,
                          const char *path, const char *s)
{
    char list[256] = "", q[300];
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", f->choices[i]);
    }
    conf_report(x, at, "%s: unknown %s %s (%s)", path, f->key, conf_quote(q, sizeof(q), s), list);
}

/* The index of s in f->choices, or -1. */
static ssize_t choice_find(const struct conf_field *f, const char *s)
{
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        if (strcmp(s, f->choices[i]) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* A set of f->choices, as a list (or one string): bit i for choice i,
 * stored as unsigned at off. */
static int p_flags(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                   struct conf_mark at, const char *path, void *base)
{
    char **vec;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &vec, &n);
    if (rc != 0) {
        return rc;
    }
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        ssize_t c = choice_find(f, vec[i]);
        if (c < 0) {
            report_choice(x, f, at, path, vec[i]);
            rc = -1;
        } else {
            bits |= 1u << c;
        }
    }
    conf_strv_free(vec, n);
    if (rc == 0 && bits == 0) {
        conf_report(x, at, "%s: needs at least one item", path);
        rc = -1;
    }
    if (rc == 0) {
        *CONF_AT(base, f->off, unsigned) = bits;
    }
    return rc;
}

/* One of f->choices, stored as its index (an int) at off. */
static int p_index(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                   struct conf_mark at, const char *path, void *base)
{
    char *s;
    int rc = conf_scalar(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    ssize_t c = choice_find(f, s);
    if (c < 0) {
        report_choice(x, f, at, path, s);
        rc = -1;
    } else {
        *CONF_AT(base, f->off, int) = (int)c;
    }
    free(s);
    return rc;
}

/* The start of a mapping row's parse: 1 when v is null, -1 after reporting
 * a value that is not a mapping (expected names what it should be) or that
 * has more than f->max pairs (items names them), else 0 with *count pairs. */
static int map_open(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                    struct conf_mark at, const char *path, const char *expected,
                    const char *items, size_t *count)
{
    if (conf_is_null(v)) {
        return conf_visit(x, at) ? 1 : -1;
    }
    if (v->type != YN_MAP) {
        conf_report(x, at, "%s: expected %s", path, expected);
        return -1;
    }
    *count = v->n / 2;
    if (*count > (size_t)f->max) {
        conf_report(x, at, "%s: too many %s (limit %lld)", path, items, (long long)f->max);
        return -1;
    }
    return 0;
}

/* Whether s[0..n) is a variable name: [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name_ok(const char *s, size_t n)
{
    static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
    if (n == 0 || strchr(first, s[0]) == NULL) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (strchr(first, s[i]) == NULL && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    return true;
}

/* A child's environment: a mapping NAME -> string, stored as "NAME=value"
 * entries, NULL-terminated, at off with the count at off2. Values come
 * through conf_scalar, ${VAR} expanded, and are secrets: no message quotes
 * one. */
static int p_env(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                 struct conf_mark at, const char *path, void *base)
{
    size_t count;
    int open = map_open(x, f, v, at, path, "a mapping of variable names to strings", "variables",
                        &count);
    if (open != 0) {
        return open;
    }
    char **vec = calloc(count + 1, sizeof(*vec));
    if (vec == NULL) {
        x->oom = true;
        x->stop = true;
        return -1;
    }
    size_t n = 0;
    bool bad = false;
    for (size_t i = 0; i < count && !x->stop; i++) {
        const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        char vpath[PATH_BUF], q[300];
        if (!conf_visit(x, k->at)) {
            bad = true;
            break;
        }
        if (k->type != YN_SCALAR) {
            conf_report(x, k->at, "%s: variable names must be strings", path);
            bad = true;
            continue;
        }
        if (!env_name_ok(k->text, k->len)) {
            conf_report(x, k->at, "%s: bad variable name %s (letters, digits, _; no digit first)",
                        path, conf_quote(q, sizeof(q), k->text));
            bad = true;
            continue;
        }
        conf_path_key(vpath, sizeof(vpath), path, k->text, k->len);
        bool dup = false;
        for (size_t j = 0; j < n; j++) {
            dup = dup || (strncmp(vec[j], k->text, k->len) == 0 && vec[j][k->len] == '=');
        }
        if (dup) {
            conf_report(x, k->at, "%s: duplicate variable", vpath);
            bad = true;
            continue;
        }
        char *s = NULL;
        int rc = conf_scalar(x, val, k->at, vpath, "a string", false, &s);
        if (rc < 0) {
            bad = true;
            continue;
        }
        const char *value = rc == 1 ? "" : s; /* null is the empty string */
        const char *why = conf_valid_text(value);
        if (why != NULL) {
            conf_report(x, k->at, "%s: %s", vpath, why);
            free(s);
            bad = true;
            continue;
        }
        size_t len = k->len + 1 + strlen(value) + 1;
        vec[n] = malloc(len);
        if (vec[n] == NULL) {
            free(s);
            x->oom = true;
            x->stop = true;
            bad = true;
            break;
        }
        snprintf(vec[n++], len, "%s=%s", k->text, value);
        free(s);
    }
    if (bad) {
        conf_strv_free(vec, n);
        return -1;
    }
    *CONF_AT(base, f->off, char **) = vec;
    *CONF_AT(base, f->off2, size_t) = n;
    return 0;
}

/* A time of day "HH:MM" (24 h), stored as minutes after midnight (int). */
static int p_clock(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                   struct conf_mark at, const char *path, void *base)
{
    char *s;
    int rc = conf_scalar(x, v, at, path, "a time of day (HH:MM)", true, &s);
    if (rc != 0) {
        return rc;
    }
    bool ok = strlen(s) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
              s[2] == ':' && isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]);
    int h = ok ? (s[0] - '0') * 10 + (s[1] - '0') : 0;
    int m = ok ? (s[3] - '0') * 10 + (s[4] - '0') : 0;
    if (!ok || h > 23 || m > 59) {
        char q[300];
        conf_report(x, at, "%s: bad time of day %s (use HH:MM, 00:00 to 23:59)", path,
                    conf_quote(q, sizeof(q), s));
        rc = -1;
    } else {
        *CONF_AT(base, f->off, int) = h * 60 + m;
    }
    free(s);
    return rc;
}

/* A command: argv, NULL-terminated, at least one word, argv[0] not empty. */
static int p_argv(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    char **vec;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &vec, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0 || vec[0][0] == '\0') {
        conf_report(x, at, "%s: needs a program to run", path);
        conf_strv_free(vec, n);
        return -1;
    }
    *CONF_AT(base, f->off, char **) = vec;
    *CONF_AT(base, f->off2, size_t) = n;
    return 0;
}

/* HTTP headers: a mapping of name to value, names unique ignoring case. */
static int p_headers(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                     struct conf_mark at, const char *path, void *base)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t count;
    int open = map_open(x, f, v, at, path, "a mapping", "headers", &count);
    if (open != 0) {
        return open;
    }
    struct conf_header *h = calloc(count + 1, sizeof(*h));
    if (h == NULL) {
        x->oom = true;
        x->stop = true;
        return -1;
    }
    size_t nh = 0;
    bool bad = false;
    for (size_t i = 0; i < count && !x->stop; i++) {
        const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        char hpath[PATH_BUF];
        if (!conf_visit(x, k->at)) {
            break;
        }
        if (k->type != YN_SCALAR) {
            conf_report(x, k->at, "%s: header names must be strings", path);
            bad = true;
            continue;
        }
        conf_path_key(hpath, sizeof(hpath), path, k->text, k->len);
        if (k->len == 0 || k->len > 256 || strspn(k->text, tchar) != k->len) {
            char q[300];
            conf_report(x, k->at, "%s: bad header name %s", path,
                        conf_quote(q, sizeof(q), k->text));
            bad = true;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < nh; j++) {
            if (strcasecmp(h[j].name, k->text) == 0) {
                dup = true;
            }
        }
        if (dup) {
            conf_report(x, k->at, "%s: duplicate header", hpath);
            bad = true;
            continue;
        }
        char *s;
        int rc = conf_scalar(x, val, k->at, hpath, "a string", false, &s);
        if (rc < 0) {
            bad = true;
            continue;
        }
        if (rc == 1 && (s = strdup("")) == NULL) {
            x->oom = true;
            x->stop = true;
            break;
        }
        if (has_control(s, true)) {
            conf_report(x, k->at, "%s: control characters are not allowed", hpath);
            free(s);
            bad = true;
            continue;
        }
        h[nh].name = strdup(k->text);
        h[nh].value = s;
        if (h[nh].name == NULL) {
            free(s);
            x->oom = true;
            x->stop = true;
            break;
        }
        nh++;
    }
    if (bad || x->stop) {
        for (size_t j = 0; j < nh; j++) {
            free(h[j].name);
            free(h[j].value);
        }
        free(h);
        return -1;
    }
    *CONF_AT(base, f->off, struct conf_header *) = h;
    *CONF_AT(base, f->off2, size_t) = nh;
    return 0;
}

/* Conditions: their texts (off, count at off2) and parsed form (off3).
 * The placeholders of a check's type are bound once the type is known
 * (config.c's check_item). */
static int p_conds(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                   struct conf_mark at, const char *path, void *base)
{
    char **texts;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &texts, &n);
    if (rc != 0) {
        return rc;
    }
    struct cond **conds = calloc(n + 1, sizeof(*conds));
    if (conds == NULL) {
        conf_strv_free(texts, n);
        x->oom = true;
        x->stop = true;
        return -1;
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        char ipath[PATH_BUF];
        struct conf_mark iat = at;
        if (v->type == YN_SEQ) {
            conf_path_index(ipath, sizeof(ipath), path, i);
            iat = v->kat[i];
        } else {
            conf_pathf(ipath, sizeof(ipath), "%s", path);
        }
        if (texts[i][0] == '\0') {
            conf_report(x, iat, "%s: must not be empty", ipath);
            bad = true;
        } else if (cond_parse_open(texts[i], &conds[i], err, sizeof(err)) < 0) {
            conf_report(x, iat, "%s: bad condition: %s", ipath, err[0] ? err : "cannot parse");
            conds[i] = NULL;
            bad = true;
        }
    }
    /* Stored even when one is bad (NULL in conds): binding the others to
     * the check's type reports their placeholders too. */
    *CONF_AT(base, f->off, char **) = texts;
    *CONF_AT(base, f->off2, size_t) = n;
    *CONF_AT(base, f->off3, struct cond **) = conds;
    return bad ? -1 : 0;
}

/* A nested mapping described by f->sub, into the same base. */
static int p_map(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                 struct conf_mark at, const char *path, void *base)
{
    if (conf_is_null(v)) {
        return conf_visit(x, at) ? 1 : -1;
    }
    if (v->type != YN_MAP) {
        conf_visit(x, at);
        conf_report(x, at, "%s: expected a mapping", path);
        return -1;
    }
    struct conf_state st[8] = {0};
    struct conf_rows sub = {.rows = f->sub, .n = f->nsub};
    struct conf_item it = {.sets = &sub, .nsets = 1, .accept = CONF_ACCEPT_ALL};
    conf_parse_fields(x, v, path, &it, base, st);
    return 0;
}

/* ------------------------------------------------------------ row types */

/* How a type's value sits in base. */
enum slot {
    SLOT_STR,      /* char * */
    SLOT_INT,      /* int */
    SLOT_UNSIGNED, /* unsigned */
    SLOT_INT64,    /* int64_t */
    SLOT_SIZE,     /* size_t */
    SLOT_BOOL,     /* bool */
    SLOT_STRV,     /* char ** and a size_t count */
    SLOT_HEADERS,  /* struct conf_header * and a size_t count */
    SLOT_CONDS,    /* char **, a size_t count, struct cond ** */
    SLOT_MAP,      /* nested rows */
};

/* One row type: its parser and where its value sits. */
struct conf_type_ops {
    conf_parse_fn parse;
    enum slot slot;
};

static const struct conf_type_ops types[] = {
    [CONF_STR] = {p_str, SLOT_STR},
    [CONF_ENUM] = {p_enum, SLOT_STR},
    [CONF_INDEX] = {p_index, SLOT_INT},
    [CONF_FLAGS] = {p_flags, SLOT_UNSIGNED},
    [CONF_INT] = {p_int, SLOT_INT},
    [CONF_DURATION] = {p_duration, SLOT_INT64},
    [CONF_SIZE] = {p_size, SLOT_SIZE},
    [CONF_BOOL] = {p_bool, SLOT_BOOL},
    [CONF_NOTBOOL] = {p_notbool, SLOT_BOOL},
    [CONF_CLOCK] = {p_clock, SLOT_INT},
    [CONF_LIST] = {p_list, SLOT_STRV},
    [CONF_ARGV] = {p_argv, SLOT_STRV},
    [CONF_ENV] = {p_env, SLOT_STRV},
    [CONF_HEADERS] = {p_headers, SLOT_HEADERS},
    [CONF_CONDS] = {p_conds, SLOT_CONDS},
    [CONF_MAP] = {p_map, SLOT_MAP},
};

/* Parse one value with its row's parser. */
int conf_parse_value(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                     struct conf_mark at, const char *path, void *base)
{
    conf_parse_fn parse = f->parse != NULL ? f->parse : types[f->type].parse;
    return parse(x, f, v, at, path, base);
}

/* True when the slot holds a number; then *v is read from base. */
static bool num_load(enum slot slot, const void *p, int64_t *v)
{
    switch (slot) {
    case SLOT_INT:
        *v = *(const int *)p;
        return true;
    case SLOT_UNSIGNED:
        *v = *(const unsigned *)p;
        return true;
    case SLOT_INT64:
        *v = *(const int64_t *)p;
        return true;
    case SLOT_SIZE:
        *v = (int64_t) * (const size_t *)p;
        return true;
    case SLOT_BOOL:
        *v = *(const bool *)p;
        return true;
    default:
        return false;
    }
}

/* Store v into a number slot; nothing for other slots. */
static void num_store(enum slot slot, void *p, int64_t v)
{
    switch (slot) {
    case SLOT_INT:
        *(int *)p = (int)v;
        break;
    case SLOT_UNSIGNED:
        *(unsigned *)p = (unsigned)v;
        break;
    case SLOT_INT64:
        *(int64_t *)p = v;
        break;
    case SLOT_SIZE:
        *(size_t *)p = (size_t)v;
        break;
    case SLOT_BOOL:
        *(bool *)p = v != 0;
        break;
    default:
        break;
    }
}

/* Store the numeric defaults of the rows (nested ones too) into base. */
void conf_rows_defaults(const struct conf_rows *r, void *base)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct conf_field *f = &r->rows[i];
        enum slot slot = types[f->type].slot;
        if (slot == SLOT_MAP) {
            conf_rows_defaults(&(struct conf_rows){f->sub, f->nsub}, base);
        } else if (f->def != 0) {
            num_store(slot, CONF_AT(base, f->off, char), f->def);
        }
    }
}

/* Fill the string defaults of rows left absent; 0 or -ENOMEM. */
int conf_rows_fill(const struct conf_rows *r, void *base)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct conf_field *f = &r->rows[i];
        enum slot slot = types[f->type].slot;
        if (slot == SLOT_MAP) {
            if (conf_rows_fill(&(struct conf_rows){f->sub, f->nsub}, base) < 0) {
                return -ENOMEM;
            }
        } else if (f->def_str != NULL && slot == SLOT_STR &&
                   *CONF_AT(base, f->off, char *) == NULL) {
            if ((*CONF_AT(base, f->off, char *) = strdup(f->def_str)) == NULL) {
                return -ENOMEM;
            }
        } else if (f->def_str != NULL && slot == SLOT_STRV &&
                   *CONF_AT(base, f->off, char **) == NULL &&
                   *CONF_AT(base, f->off2, size_t) == 0) {
            char **v = calloc(2, sizeof(*v));
            if (v == NULL || (v[0] = strdup(f->def_str)) == NULL) {
                free(v);
                return -ENOMEM;
            }
            *CONF_AT(base, f->off, char **) = v;
            *CONF_AT(base, f->off2, size_t) = 1;
        }
    }
    return 0;
}

/* Free what the rows own in base and zero those slots. */
void conf_rows_release(const struct conf_rows *r, void *base)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct conf_field *f = &r->rows[i];
        enum slot slot = types[f->type].slot;
        if (slot == SLOT_MAP) {
            conf_rows_release(&(struct conf_rows){f->sub, f->nsub}, base);
        } else if (slot == SLOT_STR) {
            free(*CONF_AT(base, f->off, char *));
            *CONF_AT(base, f->off, char *) = NULL;
        } else if (slot == SLOT_STRV || slot == SLOT_CONDS) {
            size_t n = *CONF_AT(base, f->off2, size_t);
            conf_strv_free(*CONF_AT(base, f->off, char **), n);
            *CONF_AT(base, f->off, char **) = NULL;
            if (slot == SLOT_CONDS) {
                struct cond **conds = *CONF_AT(base, f->off3, struct cond **);
                for (size_t j = 0; conds != NULL && j < n; j++) {
                    cond_destroy(conds[j]);
                }
                free(conds);
                *CONF_AT(base, f->off3, struct cond **) = NULL;
            }
            *CONF_AT(base, f->off2, size_t) = 0;
        } else if (slot == SLOT_HEADERS) {
            struct conf_header *h = *CONF_AT(base, f->off, struct conf_header *);
            for (size_t j = 0; j < *CONF_AT(base, f->off2, size_t); j++) {
                free(h[j].name);
                free(h[j].value);
            }
            free(h);
            *CONF_AT(base, f->off, struct conf_header *) = NULL;
            *CONF_AT(base, f->off2, size_t) = 0;
        }
    }
}

/* Hash a string (NULL distinct from "") into h. */
static uint64_t hash_str(uint64_t h, const char *s)
{
    uint64_t len = s ? strlen(s) : UINT64_MAX;
    h = hash_fnv1a(h, &len, sizeof(len));
    return s ? hash_fnv1a(h, s, (size_t)len) : h;
}

/* Hash an integer into h. */
static uint64_t hash_int(uint64_t h, int64_t v)
{
    return hash_fnv1a(h, &v, sizeof(v));
}

/* Hash every value of the rows in base into h. */
uint64_t conf_rows_hash(uint64_t h, const struct conf_rows *r, const void *base)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct conf_field *f = &r->rows[i];
        enum slot slot = types[f->type].slot;
        const char *p = (const char *)base + f->off;
        int64_t num;
        if (slot == SLOT_MAP) {
            h = conf_rows_hash(h, &(struct conf_rows){f->sub, f->nsub}, base);
        } else if (num_load(slot, p, &num)) {
            h = hash_int(h, num);
        } else if (slot == SLOT_STR) {
            h = hash_str(h, *(char *const *)p);
        } else if (slot == SLOT_STRV || slot == SLOT_CONDS) {
            size_t n = *(const size_t *)((const char *)base + f->off2);
            char *const *v = *(char **const *)p;
            h = hash_int(h, (int64_t)n);
            for (size_t j = 0; j < n; j++) {
                h = hash_str(h, v[j]);
            }
        } else if (slot == SLOT_HEADERS) {
            size_t n = *(const size_t *)((const char *)base + f->off2);
            const struct conf_header *hd = *(struct conf_header *const *)p;
            h = hash_int(h, (int64_t)n);
            for (size_t j = 0; j < n; j++) {
                h = hash_str(h, hd[j].name);
                h = hash_str(h, hd[j].value);
            }
        }
    }
    return h;
}

/* ------------------------------------------------------------ mappings */

/* Rows in all of an item's sets: the length of its state array. */
size_t conf_item_nrows(const struct conf_item *it)
{
    size_t n = 0;
    for (size_t s = 0; s < it->nsets; s++) {
        n += it->sets[s].n;
    }
    return n;
}

/* The index of the row named key (len bytes) in set s of it, or -1. */
static ssize_t row_find(const struct conf_rows *set, const char *key, size_t len)
{
    for (size_t i = 0; i < set->n; i++) {
        if (strlen(set->rows[i].key) == len && memcmp(set->rows[i].key, key, len) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* True when item it takes the keys of set s. */
static bool accepts(const struct conf_item *it, size_t s)
{
    return s == 0 || it->accept == CONF_ACCEPT_ALL || (s < 32 && (it->accept & (1u << s)) != 0);
}

/* Find key in the item's sets: its own sets first, then the others. Sets
 * *set and returns the row's index in st, or -1. */
static ssize_t item_find(const struct conf_item *it, const char *key, size_t len, size_t *set)
{
    for (int pass = 0; pass < 2; pass++) {
        size_t base = 0;
        for (size_t s = 0; s < it->nsets; base += it->sets[s].n, s++) {
            if (accepts(it, s) != (pass == 0)) {
                continue;
            }
            ssize_t i = row_find(&it->sets[s], key, len);
            if (i >= 0) {
                *set = s;
                return (ssize_t)base + i;
            }
        }
    }
    return -1;
}

/* The state of key in st; NULL when no set of it has the key. */
struct conf_state *conf_item_state(const struct conf_item *it, struct conf_state *st,
                                   const char *key)
{
    size_t set;
    ssize_t i = item_find(it, key, strlen(key), &set);
    return i < 0 ? NULL : &st[i];
}

/* The row at index i of the item's state array. */
static const struct conf_field *item_row(const struct conf_item *it, size_t i)
{
    size_t s = 0;
    while (i >= it->sets[s].n) {
        i -= it->sets[s++].n;
    }
    return &it->sets[s].rows[i];
}

/* Walk the pairs of mapping m, parse every key of the item into base,
 * report unknown, duplicate and other variants' keys. */
void conf_parse_fields(struct conf_ctx *x, const struct ynode *m, const char *path,
                       const struct conf_item *it, void *base, struct conf_state *st)
{
    for (size_t i = 0; i + 1 < m->n && !x->stop; i += 2) {
        const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
        if (!conf_visit(x, k->at)) {
            return;
        }
        if (k->type != YN_SCALAR) {
            conf_report(x, k->at, "%s: keys must be strings", path[0] ? path : "top level");
            continue;
        }
        char kpath[PATH_BUF];
        conf_path_key(kpath, sizeof(kpath), path, k->text, k->len);
        size_t set;
        ssize_t fi = item_find(it, k->text, k->len, &set);
        if (fi < 0) {
            conf_report(x, k->at, "%s: unknown key", kpath);
            continue;
        }
        const struct conf_field *f = item_row(it, (size_t)fi);
        struct conf_state *s = &st[fi];
        if (s->seen) {
            conf_report(x, k->at, "%s: duplicate key (first at line %d)", kpath, s->at.line);
            continue;
        }
        s->seen = true;
        s->at = k->at;
        if (!accepts(it, set)) {
            conf_report(x, k->at, "%s: not a key of %s %s", kpath, it->variant, it->noun);
            s->bad = true;
            continue;
        }
        int rc = conf_parse_value(x, f, v, k->at, kpath, base);
        s->set = rc == 0;
        s->bad = rc < 0;
    }
}
