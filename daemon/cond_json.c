/* cond_json.c - [BODY] paths resolved as Gatus's jsonpath package does, and
 * JSON values printed as Go prints them (fmt's %v, encoding/json's Marshal). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cond_json.h"

#define JSON_DEPTH_MAX 64

/* A growing text; oom once any append failed. */
struct sbuf {
    char *p;
    size_t n;
    size_t cap;
    bool oom;
};

/* Append s[0..n) to b. */
static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 64;
        while (cap < b->n + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Append a NUL-terminated string to b. */
static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* The shortest decimal digits that read back as d (> 0): digits without a
 * point, and the position of the point (dp) as strconv counts it. */
static void shortest(double d, char *digits, size_t n, int *dp)
{
    char tmp[48];
    for (int p = 0; p < 17; p++) {
        snprintf(tmp, sizeof(tmp), "%.*e", p, d);
        if (strtod(tmp, NULL) == d) {
            break;
        }
    }
    size_t k = 0;
    const char *s = tmp;
    for (; *s != 'e' && *s != '\0' && k + 1 < n; s++) {
        if (*s != '.') {
            digits[k++] = *s;
        }
    }
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    digits[k] = '\0';
    *dp = (*s == 'e' ? atoi(s + 1) : 0) + 1;
}

/* Write digits in %e form: d.ddde±XX (at least two exponent digits unless
 * json_style, which drops a leading zero from a negative exponent as
 * encoding/json does). */
static void put_exp(char *buf, size_t n, bool neg, const char *digits, int dp, bool json_style)
{
    int exp = dp - 1;
    char mant[40];
    if (digits[1] != '\0') {
        snprintf(mant, sizeof(mant), "%c.%s", digits[0], digits + 1);
    } else {
        snprintf(mant, sizeof(mant), "%c", digits[0]);
    }
    int aexp = exp < 0 ? -exp : exp;
    if (json_style && exp < 0 && aexp < 10) {
        snprintf(buf, n, "%s%se-%d", neg ? "-" : "", mant, aexp);
    } else {
        snprintf(buf, n, "%s%se%c%02d", neg ? "-" : "", mant, exp < 0 ? '-' : '+', aexp);
    }
}

/* Write digits in %f form with as many decimals as they need. */
static void put_fixed(char *buf, size_t n, bool neg, const char *digits, int dp)
{
    int nd = (int)strlen(digits);
    const char *sign = neg ? "-" : "";
    if (dp <= 0) {
        snprintf(buf, n, "%s0.%0*d%s", sign, -dp, 0, digits);
        if (dp == 0) {
            snprintf(buf, n, "%s0.%s", sign, digits);
        }
    } else if (dp >= nd) {
        snprintf(buf, n, "%s%s%0*d", sign, digits, dp - nd, 0);
        if (dp == nd) {
            snprintf(buf, n, "%s%s", sign, digits);
        }
    } else {
        snprintf(buf, n, "%s%.*s.%s", sign, dp, digits, digits + dp);
    }
}

/* Go's fmt %v of a float64: strconv 'g' with the shortest digits, %e when
 * the exponent is below -4 or at least 6. */
char *cond_json_format_float(double d, char *buf, size_t n)
{
    bool neg = signbit(d) != 0;
    if (d == 0) {
        snprintf(buf, n, "%s0", neg ? "-" : "");
        return buf;
    }
    if (isnan(d) || isinf(d)) {
        snprintf(buf, n, "%s", isnan(d) ? "NaN" : neg ? "-Inf" : "+Inf");
        return buf;
    }
    char digits[32];
    int dp;
    shortest(fabs(d), digits, sizeof(digits), &dp);
    int exp = dp - 1;
    if (exp < -4 || exp >= 6) {
        put_exp(buf, n, neg, digits, dp, false);
    } else {
        put_fixed(buf, n, neg, digits, dp);
    }
    return buf;
}

/* encoding/json's float64: %f unless below 1e-6 or from 1e21 on. */
static void json_float(double d, char *buf, size_t n)
{
    bool neg = signbit(d) != 0;
    if (d == 0) {
        snprintf(buf, n, "%s0", neg ? "-" : "");
        return;
    }
    char digits[32];
    int dp;
    double a = fabs(d);
    shortest(a, digits, sizeof(digits), &dp);
    if (a < 1e-6 || a >= 1e21) {
        put_exp(buf, n, neg, digits, dp, true);
    } else {
        put_fixed(buf, n, neg, digits, dp);
    }
}

/* Decode one UTF-8 sequence at s (n bytes left); -1 when invalid. */
static long utf8_rune(const unsigned char *s, size_t n, size_t *len)
{
    *len = 1;
    if (s[0] < 0x80) {
        return s[0];
    }
    int k = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
          : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
    if (k == 0 || (size_t)k > n) {
        return -1;
    }
    long r = s[0] & (0x7f >> k);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return -1;
        }
        r = (r << 6) | (s[i] & 0x3f);
    }
    static const long min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (r < min[k] || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) {
        return -1;
    }
    *len = (size_t)k;
    return r;
}

/* A string as encoding/json writes it, HTML-safe. */
static void put_json_string(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t len;
        long r = utf8_rune((const unsigned char *)s + i, n - i, &len);
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            sb_add(b, esc, 2);
        } else if (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') {
            esc[0] = '\\';
            esc[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : ch == '\b' ? 'b' : 'f';
            sb_add(b, esc, 2);
        } else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&') {
            snprintf(esc, sizeof(esc), "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
            sb_add(b, esc, 6);
        } else if (r < 0) {
            sb_str(b, "\\ufffd");
        } else if (r == 0x2028 || r == 0x2029) {
            sb_str(b, r == 0x2028 ? "\\u2028" : "\\u2029");
        } else {
            sb_add(b, s + i, len);
        }
        i += len;
    }
    sb_add(b, "\"", 1);
}

/* Compare two object keys for qsort. */
static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of an object in byte order (malloc'd; NULL when empty or OOM). */
static const char **sorted_keys(json_t *obj, size_t *n)
{
    *n = json_object_size(obj);
    if (*n == 0) {
        return NULL;
    }
    const char **keys = malloc(*n * sizeof(*keys));
    if (keys == NULL) {
        *n = 0;
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        keys[i++] = k;
    }
    qsort(keys, *n, sizeof(*keys), key_cmp);
    return keys;
}

/* v as encoding/json's Marshal writes it: minified, keys sorted. */
static void marshal(struct sbuf *b, json_t *v)
{
    char num[48];
    if (json_is_object(v)) {
        size_t n;
        const char **keys = sorted_keys(v, &n);
        if (n > 0 && keys == NULL) {
            b->oom = true;
            return;
        }
        sb_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                sb_add(b, ",", 1);
            }
            put_json_string(b, keys[i], strlen(keys[i]));
            sb_add(b, ":", 1);
            marshal(b, json_object_get(v, keys[i]));
        }
        sb_add(b, "}", 1);
        free(keys);
    } else if (json_is_array(v)) {
        sb_add(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) {
                sb_add(b, ",", 1);
            }
            marshal(b, json_array_get(v, i));
        }
        sb_add(b, "]", 1);
    } else if (json_is_string(v)) {
        put_json_string(b, json_string_value(v), json_string_length(v));
    } else if (json_is_number(v)) {
        json_float(json_number_value(v), num, sizeof(num));
        sb_str(b, num);
    } else {
        sb_str(b, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
    }
}

/* v as Go's fmt %v prints the interface{} that encoding/json decodes:
 * "[a b]", "map[k:v]", "<nil>", floats in %g. */
static void print_v(struct sbuf *b, json_t *v)
{
    char num[48];
    if (json_is_object(v)) {
        size_t n;
        const char **keys = sorted_keys(v, &n);
        if (n > 0 && keys == NULL) {
            b->oom = true;
            return;
        }
        sb_str(b, "map[");
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                sb_add(b, " ", 1);
            }
            sb_str(b, keys[i]);
            sb_add(b, ":", 1);
            print_v(b, json_object_get(v, keys[i]));
        }
        sb_add(b, "]", 1);
        free(keys);
    } else if (json_is_array(v)) {
        sb_add(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) {
                sb_add(b, " ", 1);
            }
            print_v(b, json_array_get(v, i));
        }
        sb_add(b, "]", 1);
    } else if (json_is_string(v)) {
        sb_add(b, json_string_value(v), json_string_length(v));
    } else if (json_is_number(v)) {
        sb_str(b, cond_json_format_float(json_number_value(v), num, sizeof(num)));
    } else {
        sb_str(b, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "<nil>");
    }
}

/* JSON null reads as Go's nil. */
static json_t *nn(json_t *v)
{
    return v != NULL && json_is_null(v) ? NULL : v;
}

/* Go's strconv.Atoi on s[0..n): optional sign, decimal digits. */
static bool atoi_go(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i++;
    }
    if (i == n) {
        return false;
    }
    long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

/* One key of a path applied to value, as jsonpath's extractValue does:
 * "name", "name[2]", "[2]", "[2][0]". */
static json_t *extract(const char *key, size_t klen, json_t *value)
{
    if (klen > 0 && key[klen - 1] == ']' && memchr(key, '[', klen) != NULL) {
        size_t start = 0, end = 0, depth = 0;
        bool found = false, nested = false;
        for (size_t i = 0; i < klen; i++) {
            if (key[i] == '[') {
                start = i;
                depth++;
            } else if (key[i] == ']' && depth == 1) {
                end = i;
                found = true;
                nested = i + 1 < klen && key[i + 1] == '[';
                break;
            }
        }
        long long idx;
        if (!found || !atoi_go(key + start + 1, end - start - 1, &idx) || idx < 0) {
            return NULL;
        }
        json_t *array = value;
        if (start > 0) {
            if (value == NULL || !json_is_object(value)) {
                return NULL;
            }
            char name[256];
            if (start >= sizeof(name)) {
                return NULL;
            }
            memcpy(name, key, start);
            name[start] = '\0';
            array = nn(json_object_get(value, name));
            if (array == NULL) {
                return NULL;
            }
        }
        if (!json_is_array(array) || (size_t)idx >= json_array_size(array)) {
            return NULL;
        }
        json_t *elem = nn(json_array_get(array, (size_t)idx));
        return nested ? extract(key + end + 1, klen - end - 1, elem) : elem;
    }
    if (value != NULL && json_is_array(value)) {
        return value;
    }
    if (value != NULL && json_is_object(value)) {
        char name[256];
        if (klen >= sizeof(name)) {
            return NULL;
        }
        memcpy(name, key, klen);
        name[klen] = '\0';
        return nn(json_object_get(value, name));
    }
    return value;
}

/* jsonpath's walk: the first key of path applied to object, then the rest. */
static int walk(const char *path, json_t *object, struct sbuf *out, int64_t *count)
{
    size_t plen = strlen(path), klen = plen, nkeys = 1;
    int depth = 0;
    for (size_t i = 0; i < plen; i++) {
        depth += path[i] == '[' ? 1 : path[i] == ']' ? -1 : 0;
        if (path[i] == '.' && depth == 0) {
            if (nkeys == 1) {
                klen = i;
            }
            nkeys++;
        }
    }
    json_t *v = extract(path, klen, object);
    if (v == NULL) {
        return -EINVAL;
    }
    if (json_is_object(v)) {
        /* Gatus drops the first "key." found in the path. */
        char *needle = malloc(klen + 2);
        if (needle == NULL) {
            return -ENOMEM;
        }
        memcpy(needle, path, klen);
        needle[klen] = '.';
        needle[klen + 1] = '\0';
        const char *at = strstr(path, needle);
        free(needle);
        if (at == NULL) {
            marshal(out, v);
            *count = (int64_t)out->n;
            return out->oom ? -ENOMEM : 0;
        }
        char *rest = malloc(plen + 1);
        if (rest == NULL) {
            return -ENOMEM;
        }
        size_t before = (size_t)(at - path);
        memcpy(rest, path, before);
        strcpy(rest + before, at + klen + 1);
        int rc = walk(rest, v, out, count);
        free(rest);
        return rc;
    }
    if (json_is_string(v)) {
        if (nkeys > 1) {
            return -EINVAL;
        }
        sb_add(out, json_string_value(v), json_string_length(v));
        *count = (int64_t)json_string_length(v);
    } else if (json_is_array(v)) {
        print_v(out, v);
        *count = (int64_t)json_array_size(v);
    } else {
        print_v(out, v);
        *count = (int64_t)out->n;
    }
    return out->oom ? -ENOMEM : 0;
}

/* Deeper than JSON_DEPTH_MAX, scanning brackets outside strings. */
static bool too_deep(const char *s, size_t n)
{
    int depth = 0;
    bool str = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (str) {
            if (ch == '\\') {
                i++;
            } else if (ch == '"') {
                str = false;
            }
        } else if (ch == '"') {
            str = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > JSON_DEPTH_MAX) {
                return true;
            }
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return false;
}

/* Resolve path in body as jsonpath.Eval does; see cond_json.h. */
int cond_json_eval(const char *path, const char *body, size_t len, char **out, size_t *outlen,
                   int64_t *count)
{
    struct sbuf b = {0};
    int rc;
    *out = NULL;
    *outlen = 0;
    *count = 0;
    if (body == NULL) {
        body = "";
    }
    if (path[0] == '\0' && !(len > 0 && body[0] == '[' && body[len - 1] == ']')) {
        sb_add(&b, body, len);
        if (b.oom || b.p == NULL) {
            free(b.p);
            b.p = strdup("");
            if (b.p == NULL) {
                return -ENOMEM;
            }
        }
        *out = b.p;
        *outlen = len;
        *count = (int64_t)len;
        return 0;
    }
    if (too_deep(body, len)) {
        return -EINVAL;
    }
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                              NULL);
    if (root == NULL) {
        return -EINVAL;
    }
    rc = walk(path, nn(root), &b, count);
    json_decref(root);
    if (rc == 0 && b.p == NULL) {
        b.p = strdup("");
        if (b.p == NULL) {
            rc = -ENOMEM;
        }
    }
    if (rc < 0) {
        free(b.p);
        *count = 0;
        return rc;
    }
    *out = b.p;
    *outlen = b.n;
    return 0;
}
