/* cond.c - conditions in Gatus's syntax: parse once, evaluate per run, with
 * Gatus's verdict and Gatus's failure text. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cond.h"
#include "cond_json.h"
#include "util.h"

#define COND_SOURCE_MAX 1024   /* longest condition text accepted */
#define SHOW_VALUE_MAX 100     /* longest value shown in a result text */
#define PATTERN_SHOW_MAX 25    /* Gatus's cut for values compared with pat() */
#define INVALID_SUFFIX "(INVALID)"
#define UNKNOWN_SUFFIX "(n/a)"

enum op {
    OP_EQ,
    OP_NE,
    OP_LE,
    OP_GE,
    OP_GT,
    OP_LT,
};

/* Operators in the order Gatus looks for them, each with its spaces. */
static const struct {
    const char *sep;
    const char *text;
    bool numeric;
} ops[] = {
    [OP_EQ] = {.sep = " == ", .text = "==", .numeric = false},
    [OP_NE] = {.sep = " != ", .text = "!=", .numeric = false},
    [OP_LE] = {.sep = " <= ", .text = "<=", .numeric = true},
    [OP_GE] = {.sep = " >= ", .text = ">=", .numeric = true},
    [OP_GT] = {.sep = " > ", .text = ">", .numeric = true},
    [OP_LT] = {.sep = " < ", .text = "<", .numeric = true},
};

enum fn {
    FN_NONE,
    FN_LEN,
    FN_HAS,
};

enum ph {
    PH_LITERAL,
    PH_STATUS,
    PH_IP,
    PH_RESPONSE_TIME,
    PH_DNS_RCODE,
    PH_CONNECTED,
    PH_CERT,
    PH_BODY,
    PH_DEPLOY,
    PH_VAR,         /* a check type's own, bound by cond_bind */
};

/* The text of [STATUS]: its word when the check gives one; else the
 * number, Gatus's 0 when unknown. */
static const char *fact_status(const struct cond_facts *f, char *buf, size_t n)
{
    if (f->status_word != NULL) {
        return f->status_word;
    }
    snprintf(buf, n, "%d", f->status >= 0 ? f->status : 0);
    return buf;
}

/* The text of [RESPONSE_TIME] in ms. */
static const char *fact_response_time(const struct cond_facts *f, char *buf, size_t n)
{
    snprintf(buf, n, "%" PRId64, f->response_time_ms >= 0 ? f->response_time_ms : 0);
    return buf;
}

/* The text of [CERTIFICATE_EXPIRATION] in ms; 0 without TLS. */
static const char *fact_cert(const struct cond_facts *f, char *buf, size_t n)
{
    snprintf(buf, n, "%" PRId64, f->cert_expiry_ms != INT64_MIN ? f->cert_expiry_ms : 0);
    return buf;
}

/* The text of [CONNECTED]. */
static const char *fact_connected(const struct cond_facts *f, char *buf, size_t n)
{
    return f->connected == 1 ? "true" : "false";
}

/* The text of [IP]; empty when unknown. */
static const char *fact_ip(const struct cond_facts *f, char *buf, size_t n)
{
    return f->ip != NULL ? f->ip : "";
}

/* The text of [DNS_RCODE]; empty when unknown. */
static const char *fact_dns_rcode(const struct cond_facts *f, char *buf, size_t n)
{
    return f->dns_rcode != NULL ? f->dns_rcode : "";
}

/* The text of [DEPLOY].version; NULL when unknown, which fails. */
static const char *fact_deploy(const struct cond_facts *f, char *buf, size_t n)
{
    return f->deploy_version;
}

/* Placeholders by name (upper case; matched case-insensitively). fact gives
 * the value of all but [BODY]; refuse names the Gatus placeholders shipwatch
 * has no fact for. */
static const struct placeholder {
    const char *name;
    enum ph ph;
    const char *(*fact)(const struct cond_facts *f, char *buf, size_t n);
    const char *refuse;
} placeholders[] = {
    {.name = "[BODY]", .ph = PH_BODY},
    {.name = "[CERTIFICATE_EXPIRATION]", .ph = PH_CERT, .fact = fact_cert},
    {.name = "[CONNECTED]", .ph = PH_CONNECTED, .fact = fact_connected},
    {.name = "[CONTEXT]", .refuse = "[CONTEXT] belongs to Gatus's suites, which shipwatch has not"},
    {.name = "[DEPLOY]", .ph = PH_DEPLOY, .fact = fact_deploy},
    {.name = "[DNS_RCODE]", .ph = PH_DNS_RCODE, .fact = fact_dns_rcode},
    {.name = "[DOMAIN_EXPIRATION]",
     .refuse = "[DOMAIN_EXPIRATION] is not supported: shipwatch does no WHOIS lookups"},
    {.name = "[IP]", .ph = PH_IP, .fact = fact_ip},
    {.name = "[RESPONSE_TIME]", .ph = PH_RESPONSE_TIME, .fact = fact_response_time},
    {.name = "[STATUS]", .ph = PH_STATUS, .fact = fact_status},
};

/* One operand as written. */
struct side {
    char *text;       /* trimmed, as written */
    enum fn fn;
    enum ph ph;
    const struct placeholder *def;  /* NULL for a literal */
    char *path;       /* [BODY] path without "[BODY]" and its leading dot; "" the
                         body; PH_VAR: the name as written, until bound */
    const struct cond_var *var;     /* PH_VAR once bound */
    size_t var_index;               /* PH_VAR: index of var in its table */
};

struct cond {
    char *text;
    enum op op;
    struct side side[2];
};

/* An operand's value during one evaluation. */
struct value {
    const char *s;    /* not NUL-terminated in general */
    size_t n;
    char *own;        /* what s points into, when allocated */
    char small[32];
    bool invalid;     /* s is "<operand> (INVALID)" or "<operand> (n/a)" */
    bool unknown;     /* a shipwatch fact that is not known: fails the condition */
    bool real;        /* num holds a type's placeholder's value */
    double num;
};

/* Initialise facts to unknown. */
void cond_facts_init(struct cond_facts *f)
{
    *f = (struct cond_facts){
        .status = -1,
        .response_time_ms = -1,
        .connected = -1,
        .cert_expiry_ms = INT64_MIN,
    };
    for (size_t i = 0; i < COND_VARS_MAX; i++) {
        f->vars[i] = NAN;
    }
}

/* Go's strings.TrimSpace for ASCII: the bounds of s[0..n) without white space. */
static const char *trim(const char *s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)*s)) {
        s++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)s[*n - 1])) {
        (*n)--;
    }
    return s;
}

/* Copy of s[0..n) with a NUL. */
static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* s[0..n) starts with the NUL-terminated prefix. */
static bool has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && memcmp(s, prefix, pl) == 0;
}

/* s[0..n) is fn(...): "pat(", "any(", "len(", "has(" and a closing ")". */
static bool is_call(const char *s, size_t n, const char *fn)
{
    return has_prefix(s, n, fn) && n > 0 && s[n - 1] == ')';
}

/* A JSON path after [BODY]: (.key | [N])+ with keys free of '.' and '['. */
static bool valid_path(const char *p)
{
    if (*p == '\0') {
        return false;
    }
    while (*p != '\0') {
        if (*p == '.') {
            p++;
            size_t n = strcspn(p, ".[");
            if (n == 0) {
                return false;
            }
            p += n;
        } else if (*p == '[') {
            p++;
            if (!isdigit((unsigned char)*p)) {
                return false;
            }
            while (isdigit((unsigned char)*p)) {
                p++;
            }
            if (*p != ']') {
                return false;
            }
            p++;
        } else {
            return false;
        }
    }
    return true;
}

/* Recognise a placeholder at the start of s (its inner text); ph stays
 * PH_LITERAL when s is no placeholder. A name no table here has is kept
 * aside for cond_bind when open. Returns 0 or -EINVAL with err. */
static int parse_placeholder(const char *s, struct side *sd, bool open, char *err, size_t errlen)
{
    if (s[0] != '[') {
        return 0;
    }
    size_t n = 1;
    while (isalpha((unsigned char)s[n]) || s[n] == '_' || (n > 1 && isdigit((unsigned char)s[n]))) {
        n++;
    }
    if (n == 1) {
        return 0;  /* "[1,2]" and the like: a literal */
    }
    if (s[n] != ']') {
        snprintf(err, errlen, "unclosed placeholder \"%.40s\"", s);
        return -EINVAL;
    }
    n++;
    for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
        if (strlen(placeholders[i].name) != n || strncasecmp(s, placeholders[i].name, n) != 0) {
            continue;
        }
        if (placeholders[i].refuse != NULL) {
            snprintf(err, errlen, "%s", placeholders[i].refuse);
            return -EINVAL;
        }
        const char *rest = s + n;
        sd->ph = placeholders[i].ph;
        sd->def = &placeholders[i];
        if (sd->ph == PH_BODY) {
            if (*rest != '\0' && !valid_path(rest)) {
                snprintf(err, errlen, "bad JSON path \"%.64s\"", s);
                return -EINVAL;
            }
            sd->path = strdup(rest[0] == '.' ? rest + 1 : rest);
            return sd->path != NULL ? 0 : -ENOMEM;
        }
        if (sd->ph == PH_DEPLOY) {
            if (strcasecmp(rest, ".version") != 0) {
                snprintf(err, errlen, "unknown placeholder \"%.40s\" ([DEPLOY] has .version)", s);
                return -EINVAL;
            }
            return 0;
        }
        if (*rest != '\0') {
            snprintf(err, errlen, "%.*s takes no path: \"%.64s\"", (int)n, s, s);
            return -EINVAL;
        }
        return 0;
    }
    if (open && s[n] == '\0') {
        sd->ph = PH_VAR;
        sd->path = dup_n(s, n);
        return sd->path != NULL ? 0 : -ENOMEM;
    }
    snprintf(err, errlen, "unknown placeholder %.*s", (int)(n < 64 ? n : 64), s);
    return -EINVAL;
}

/* Parse one operand s[0..n) into sd. */
static int parse_side(const char *s, size_t n, struct side *sd, bool open, char *err,
                      size_t errlen)
{
    s = trim(s, &n);
    sd->text = dup_n(s, n);
    if (sd->text == NULL) {
        return -ENOMEM;
    }
    const char *inner = sd->text;
    char *tmp = NULL;
    if (is_call(s, n, "len(") || is_call(s, n, "has(")) {
        sd->fn = s[0] == 'l' ? FN_LEN : FN_HAS;
        tmp = dup_n(s + 4, n - 5);
        if (tmp == NULL) {
            return -ENOMEM;
        }
        inner = tmp;
    }
    int rc = parse_placeholder(inner, sd, open, err, errlen);
    if (rc == 0 && sd->fn != FN_NONE && sd->ph == PH_LITERAL) {
        snprintf(err, errlen, "%s() takes a placeholder, not \"%.64s\"",
                 sd->fn == FN_LEN ? "len" : "has", inner);
        rc = -EINVAL;
    }
    free(tmp);
    return rc;
}

/* Why a condition without a spaced operator is refused. */
static void missing_operator(const char *text, char *err, size_t errlen)
{
    static const char *const bare[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (size_t i = 0; i < ARRAY_SIZE(bare); i++) {
        if (strstr(text, bare[i]) != NULL) {
            snprintf(err, errlen,
                     "invalid condition: put a space on each side of %s, as Gatus requires "
                     "(\"[STATUS] == 200\")",
                     bare[i]);
            return;
        }
    }
    snprintf(err, errlen, "invalid condition: missing operator (==, !=, <, <=, >, >=)");
}

/* Parse a condition; open keeps unknown placeholders for cond_bind. */
static int parse(const char *text, bool open, struct cond **out, char *err, size_t errlen)
{
    err[0] = '\0';
    *out = NULL;
    size_t tl = strlen(text);
    if (tl > COND_SOURCE_MAX) {
        snprintf(err, errlen, "condition longer than %d bytes", COND_SOURCE_MAX);
        return -EINVAL;
    }
    const char *at = NULL;
    enum op op = OP_EQ;
    for (size_t i = 0; i < ARRAY_SIZE(ops) && at == NULL; i++) {
        at = strstr(text, ops[i].sep);
        op = (enum op)i;
    }
    if (at == NULL) {
        missing_operator(text, err, errlen);
        return -EINVAL;
    }
    struct cond *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->op = op;
    c->text = strdup(text);
    int rc = c->text != NULL ? 0 : -ENOMEM;
    /* As strings.Split does: the right side ends where the operator recurs. */
    const char *r = at + strlen(ops[op].sep);
    const char *again = strstr(r, ops[op].sep);
    size_t rn = again != NULL ? (size_t)(again - r) : strlen(r);
    if (rc == 0) {
        rc = parse_side(text, (size_t)(at - text), &c->side[0], open, err, errlen);
    }
    if (rc == 0) {
        rc = parse_side(r, rn, &c->side[1], open, err, errlen);
    }
    for (int i = 0; i < 2 && rc == 0 && ops[op].numeric; i++) {
        const struct side *sd = &c->side[i];
        size_t n = strlen(sd->text);
        if (sd->ph == PH_LITERAL && (is_call(sd->text, n, "pat(") || is_call(sd->text, n, "any("))) {
            snprintf(err, errlen, "%.3s() works with == and != only", sd->text);
            rc = -EINVAL;
        }
    }
    if (rc < 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "out of memory");
        }
        cond_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Parse a condition of the common placeholders. */
int cond_parse(const char *text, struct cond **out, char *err, size_t errlen)
{
    return parse(text, false, out, err, errlen);
}

/* Parse a condition, a type's placeholders left for cond_bind. */
int cond_parse_open(const char *text, struct cond **out, char *err, size_t errlen)
{
    return parse(text, true, out, err, errlen);
}

/* Bind a type's placeholders to its table. */
int cond_bind(struct cond *c, const struct cond_var *vars, size_t n, char *err, size_t errlen)
{
    for (int i = 0; i < 2; i++) {
        struct side *sd = &c->side[i];
        if (sd->ph != PH_VAR) {
            continue;
        }
        sd->var = NULL;
        for (size_t k = 0; k < n && k < COND_VARS_MAX; k++) {
            if (strcasecmp(sd->path, vars[k].name) == 0) {
                sd->var = &vars[k];
                sd->var_index = k;
            }
        }
        if (sd->var == NULL) {
            snprintf(err, errlen, "unknown placeholder %.64s", sd->path);
            return -EINVAL;
        }
    }
    return 0;
}

/* Free a condition. */
void cond_destroy(struct cond *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        free(c->side[i].text);
        free(c->side[i].path);
    }
    free(c->text);
    free(c);
}

/* The source text. */
const char *cond_text(const struct cond *c)
{
    return c->text;
}

/* Length of the UTF-8 sequence at s[0..n), 1 for a stray byte. */
static size_t rune_len(const char *s, size_t n)
{
    unsigned char ch = (unsigned char)s[0];
    size_t k = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
    if (k > n) {
        return 1;
    }
    for (size_t i = 1; i < k; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            return 1;
        }
    }
    return k;
}

/* The UTF-8 sequence at s[0..n) as a code point; 0xFFFD when invalid. */
static long rune_at(const char *s, size_t n, size_t *len)
{
    *len = rune_len(s, n);
    unsigned char ch = (unsigned char)s[0];
    if (*len == 1) {
        return ch < 0x80 ? ch : 0xfffd;
    }
    long r = ch & (0x7f >> *len);
    for (size_t i = 1; i < *len; i++) {
        r = (r << 6) | ((unsigned char)s[i] & 0x3f);
    }
    return r;
}

/* Read one character of a pattern class (Go's getEsc) at p[*i]; false on a
 * malformed class. */
static bool class_char(const char *p, size_t n, size_t *i, long *r)
{
    if (*i >= n || p[*i] == '-' || p[*i] == ']') {
        return false;
    }
    if (p[*i] == '\\') {
        (*i)++;
        if (*i >= n) {
            return false;
        }
    }
    size_t len;
    *r = rune_at(p + *i, n - *i, &len);
    *i += len;
    return *i < n;
}

/* Match the class at p[*i] ('[' already read) against rune r; false in
 * *ok when the class is malformed. Leaves *i after the ']'. */
static bool class_match(const char *p, size_t n, size_t *i, long r, bool *ok)
{
    bool negated = false, match = false;
    int nrange = 0;
    if (*i < n && p[*i] == '^') {
        negated = true;
        (*i)++;
    }
    for (;;) {
        if (*i < n && p[*i] == ']' && nrange > 0) {
            (*i)++;
            break;
        }
        long lo, hi;
        if (!class_char(p, n, i, &lo)) {
            *ok = false;
            return false;
        }
        hi = lo;
        if (p[*i] == '-') {
            (*i)++;
            if (!class_char(p, n, i, &hi)) {
                *ok = false;
                return false;
            }
        }
        match = match || (lo <= r && r <= hi);
        nrange++;
    }
    return match != negated;
}

/* The pattern p[0..n) is well formed for Go's filepath.Match. */
static bool pattern_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (p[i] == '\\') {
            if (i + 1 >= n) {
                return false;
            }
            i += 2;
        } else if (p[i] == '[') {
            bool ok = true;
            i++;
            class_match(p, n, &i, 0, &ok);
            if (!ok) {
                return false;
            }
        } else {
            i++;
        }
    }
    return true;
}

/* One pattern element at p[*pi] against s[*si]; advances both on a match. */
static bool match_one(const char *p, size_t pn, size_t *pi, const char *s, size_t sn, size_t *si)
{
    size_t len;
    if (p[*pi] == '?' || p[*pi] == '[') {
        long r = rune_at(s + *si, sn - *si, &len);
        bool ok = true;
        if (p[*pi] == '[') {
            size_t i = *pi + 1;
            if (!class_match(p, pn, &i, r, &ok)) {
                return false;
            }
            *pi = i;
        } else {
            (*pi)++;
        }
        *si += len;
        return true;
    }
    size_t at = *pi;
    if (p[at] == '\\') {
        at++;
    }
    if (p[at] != s[*si]) {
        return false;
    }
    *pi = at + 1;
    (*si)++;
    return true;
}

/* Gatus's pattern.Match: "*" matches all; otherwise Go's filepath.Match
 * with every '/' removed from both sides. */
static bool pattern_match(const char *pat, size_t pn, const char *str, size_t sn)
{
    if (pn == 1 && pat[0] == '*') {
        return true;
    }
    char *p = malloc(pn + 1), *s = malloc(sn + 1);
    bool m = false;
    if (p == NULL || s == NULL) {
        goto out;
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < pn; i++) {
        if (pat[i] != '/') {
            p[a++] = pat[i];
        }
    }
    for (size_t i = 0; i < sn; i++) {
        if (str[i] != '/') {
            s[b++] = str[i];
        }
    }
    pn = a;
    sn = b;
    if (!pattern_ok(p, pn)) {
        goto out;
    }
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    for (;;) {
        if (pi < pn && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
        } else if (si >= sn) {
            break;
        } else if (pi < pn && match_one(p, pn, &pi, s, sn, &si)) {
            continue;
        } else if (star_p != SIZE_MAX) {
            star_s += rune_len(s + star_s, sn - star_s);
            pi = star_p;
            si = star_s;
        } else {
            goto out;
        }
    }
    while (pi < pn && p[pi] == '*') {
        pi++;
    }
    m = pi == pn;
out:
    free(p);
    free(s);
    return m;
}

/* Go's strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b or a leading 0 for
 * octal, underscores between digits. */
static bool parse_int_go(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i++;
    }
    unsigned base = 10;
    bool prefixed = false;
    if (n - i >= 2 && s[i] == '0') {
        char b = (char)tolower((unsigned char)s[i + 1]);
        base = b == 'x' ? 16 : b == 'o' ? 8 : b == 'b' ? 2 : 8;
        if (b == 'x' || b == 'o' || b == 'b') {
            i += 2;
            prefixed = true;
        }
    }
    if (i >= n) {
        return false;
    }
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool digits = false;
    for (size_t k = i; k < n; k++) {
        char ch = s[k];
        if (ch == '_') {
            bool after = digits || (prefixed && k == i) || (base == 8 && !prefixed && k == i + 1);
            if (!after || k + 1 >= n || s[k + 1] == '_') {
                return false;
            }
            continue;
        }
        unsigned d = isdigit((unsigned char)ch) ? (unsigned)(ch - '0')
                   : isalpha((unsigned char)ch) ? (unsigned)(tolower((unsigned char)ch) - 'a' + 10)
                                                : 99;
        if (d >= base || v > (limit - d) / base) {
            return false;
        }
        v = v * base + d;
        digits = true;
    }
    if (!digits) {
        return false;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Go's strconv.ParseFloat(s, 64), near enough: the whole text is a number. */
static bool parse_float_go(const char *s, size_t n, double *out)
{
    char buf[128];
    if (n == 0 || n >= sizeof(buf) || isspace((unsigned char)s[0]) || memchr(s, '_', n) != NULL) {
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (*end != '\0' || (errno == ERANGE && fabs(d) > 1)) {
        return false;
    }
    bool hex = strchr(buf, 'x') != NULL || strchr(buf, 'X') != NULL;
    if (hex && strchr(buf, 'p') == NULL && strchr(buf, 'P') == NULL) {
        return false;
    }
    *out = d;
    return true;
}

/* Go's time.ParseDuration into milliseconds (truncated, as
 * Duration.Milliseconds does). */
static bool parse_duration_go(const char *s, size_t n, int64_t *ms)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {
        {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
        {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i++;
    }
    if (n - i == 1 && s[i] == '0') {
        *ms = 0;
        return true;
    }
    if (i >= n) {
        return false;
    }
    double total = 0;
    while (i < n) {
        size_t start = i;
        double v = 0, scale = 1;
        while (i < n && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i++] - '0');
        }
        bool pre = i > start;
        bool post = false;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && isdigit((unsigned char)s[i])) {
                scale /= 10;
                v += (s[i++] - '0') * scale;
                post = true;
            }
        }
        if (!pre && !post) {
            return false;
        }
        size_t u = i;
        while (i < n && s[i] != '.' && !isdigit((unsigned char)s[i])) {
            i++;
        }
        bool found = false;
        for (size_t k = 0; k < ARRAY_SIZE(units); k++) {
            if (strlen(units[k].unit) == i - u && memcmp(s + u, units[k].unit, i - u) == 0) {
                total += v * units[k].ns;
                found = true;
                break;
            }
        }
        if (!found || total > 9.223372036854775807e18) {
            return false;
        }
    }
    int64_t ns = (int64_t)total;
    *ms = (neg ? -ns : ns) / 1000000;
    return true;
}

/* A resolved value as Gatus's numeric comparisons read it: a non-zero
 * duration in ms, an integer (any base), a float truncated, else 0. */
static int64_t to_number(const struct value *v)
{
    int64_t n;
    double d;
    if (parse_duration_go(v->s, v->n, &n) && n != 0) {
        return n;
    }
    if (parse_int_go(v->s, v->n, &n)) {
        return n;
    }
    if (parse_float_go(v->s, v->n, &d) && !isnan(d)) {
        if (d >= 9.223372036854775807e18) {
            return INT64_MAX;
        }
        if (d <= -9.223372036854775808e18) {
            return INT64_MIN;
        }
        return (int64_t)d;
    }
    return 0;
}

/* A duration as Gatus prints it: whole seconds, Go's "1h2m3s" without the
 * zero units at its end ("336h", "1h30m", "1h0m15s", "30s"). */
static void format_duration(int64_t ms, char *buf, size_t n)
{
    int64_t secs = ms / 1000;
    const char *sign = secs < 0 ? "-" : "";
    uint64_t a = secs < 0 ? (uint64_t)0 - (uint64_t)secs : (uint64_t)secs;
    uint64_t h = a / 3600, m = a / 60 % 60, s = a % 60;
    if (a == 0) {
        snprintf(buf, n, "0s");
    } else if (h > 0 && m == 0 && s == 0) {
        snprintf(buf, n, "%s%" PRIu64 "h", sign, h);
    } else if (h > 0 && s == 0) {
        snprintf(buf, n, "%s%" PRIu64 "h%" PRIu64 "m", sign, h, m);
    } else if (h > 0) {
        snprintf(buf, n, "%s%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", sign, h, m, s);
    } else if (m > 0 && s == 0) {
        snprintf(buf, n, "%s%" PRIu64 "m", sign, m);
    } else if (m > 0) {
        snprintf(buf, n, "%s%" PRIu64 "m%" PRIu64 "s", sign, m, s);
    } else {
        snprintf(buf, n, "%s%" PRIu64 "s", sign, s);
    }
}

/* Point v at a copy of NUL-terminated s held in v->small. */
static void set_small(struct value *v, const char *s)
{
    snprintf(v->small, sizeof(v->small), "%s", s);
    v->s = v->small;
    v->n = strlen(v->small);
}

/* Point v at the number n. */
static void set_int(struct value *v, int64_t n)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, n);
    set_small(v, buf);
}

/* Make v "<operand> <suffix>", the text Gatus shows for what did not
 * resolve. */
static void set_invalid(struct value *v, const struct side *sd, const char *suffix)
{
    size_t n = strlen(sd->text) + 1 + strlen(suffix);
    free(v->own);
    v->own = malloc(n + 1);
    v->invalid = true;
    if (v->own == NULL) {
        set_small(v, suffix);
        return;
    }
    snprintf(v->own, n + 1, "%s %s", sd->text, suffix);
    v->s = v->own;
    v->n = n;
}

/* A plain fact through len() / has(). */
static void set_fact(struct value *v, enum fn fn, const char *s)
{
    if (fn == FN_HAS) {
        set_small(v, s[0] != '\0' ? "true" : "false");
    } else if (fn == FN_LEN) {
        set_int(v, (int64_t)strlen(s));
    } else if (strlen(s) < sizeof(v->small)) {
        set_small(v, s);  /* s may be the caller's stack buffer */
    } else {
        v->s = s;         /* a fact: outlives the evaluation */
        v->n = strlen(s);
    }
}

/* [BODY] and [BODY].path, with len() and has(), as Gatus resolves them. */
static void resolve_body(const struct side *sd, const struct cond_facts *f, struct value *v)
{
    const char *body = f->body != NULL ? f->body : "";
    size_t blen = f->body != NULL ? f->body_len : 0;
    size_t tn = blen;
    const char *t = trim(body, &tn);
    char *out;
    size_t outlen;
    int64_t count;
    if (sd->path[0] == '\0') {
        if (sd->fn == FN_HAS) {
            set_small(v, tn > 0 ? "true" : "false");
        } else if (sd->fn == FN_LEN) {
            int rc = cond_json_eval("", body, blen, &out, &outlen, &count);
            set_int(v, rc == 0 ? count : (int64_t)tn);
            if (rc == 0) {
                free(out);
            }
        } else {
            v->s = t;
            v->n = tn;
        }
        return;
    }
    int rc = cond_json_eval(sd->path, body, blen, &out, &outlen, &count);
    if (sd->fn == FN_HAS) {
        set_small(v, rc == 0 ? "true" : "false");
    } else if (rc < 0) {
        set_invalid(v, sd, INVALID_SUFFIX);
    } else if (sd->fn == FN_LEN) {
        set_int(v, count);
    } else {
        v->own = out;
        v->s = out;
        v->n = outlen;
        return;
    }
    if (rc == 0) {
        free(out);
    }
}

/* A number as text: whole numbers without a point, others with two
 * decimals ("42", "1.25"). */
static void format_real(double d, char *buf, size_t n)
{
    if (d == floor(d) && fabs(d) < 9e18) {
        snprintf(buf, n, "%.0f", d);
    } else {
        snprintf(buf, n, "%.2f", d);
    }
}

/* A type's placeholder: its number (an unbound one is unknown). Its text
 * only when text: a numeric comparison reads the number alone, and a host
 * check compares a few placeholders every second. */
static void resolve_var(const struct side *sd, const struct cond_facts *f, struct value *v,
                        bool text)
{
    double d = sd->var != NULL ? f->vars[sd->var_index] : NAN;
    if (isnan(d)) {
        if (sd->fn == FN_HAS) {
            set_small(v, "false");
            return;
        }
        set_invalid(v, sd, UNKNOWN_SUFFIX);
        v->unknown = true;
        return;
    }
    if (!text && sd->fn == FN_NONE) {
        v->s = "";
        v->n = 0;
        v->real = true;
        v->num = d;
        return;
    }
    char buf[32];
    if (sd->var->kind == COND_VAR_BOOL) {
        snprintf(buf, sizeof(buf), "%s", d != 0 ? "true" : "false");
    } else {
        format_real(d, buf, sizeof(buf));
    }
    set_fact(v, sd->fn, buf);
    v->real = sd->fn == FN_NONE;    /* len() and has() read the text */
    v->num = d;
}

/* A value as a floating-point number, for comparisons with a type's
 * placeholder: its own number, else as to_number reads it without
 * truncating. */
static double to_real(const struct value *v)
{
    int64_t n;
    double d;
    if (v->real) {
        return v->num;
    }
    if (parse_duration_go(v->s, v->n, &n) && n != 0) {
        return (double)n;
    }
    if (parse_int_go(v->s, v->n, &n)) {
        return (double)n;
    }
    if (parse_float_go(v->s, v->n, &d) && !isnan(d)) {
        return d;
    }
    return 0;
}

/* The value of one operand against the facts; text false when only its
 * number will be read (a numeric comparison). */
static void resolve(const struct side *sd, const struct cond_facts *f, struct value *v, bool text)
{
    *v = (struct value){.s = sd->text, .n = strlen(sd->text)};
    if (sd->ph == PH_BODY) {
        resolve_body(sd, f, v);
    } else if (sd->ph == PH_VAR) {
        resolve_var(sd, f, v, text);
    } else if (sd->def != NULL) {
        char buf[32];
        const char *fact = sd->def->fact(f, buf, sizeof(buf));
        if (fact == NULL && sd->fn != FN_HAS) {
            set_invalid(v, sd, UNKNOWN_SUFFIX);
            v->unknown = true;
        } else {
            set_fact(v, sd->fn, fact != NULL ? fact : "");
        }
    }
}

/* s[0..n) without its "fn(" and ")". */
static void strip_call(const char **s, size_t *n)
{
    *s += 4;
    *n -= 5;
}

/* any()'s options against other: one of them, trimmed, is other. */
static bool any_of(const char *list, size_t ln, const char *other, size_t on)
{
    for (;;) {
        const char *comma = memchr(list, ',', ln);
        size_t n = comma != NULL ? (size_t)(comma - list) : ln;
        size_t tn = n;
        const char *t = trim(list, &tn);
        if (tn == on && memcmp(t, other, on) == 0) {
            return true;
        }
        if (comma == NULL) {
            return false;
        }
        list = comma + 1;
        ln -= n + 1;
    }
}

/* Gatus's isEqual: pat() or any() on either side, else integers (any
 * base) compared as numbers, else the texts. */
static bool is_equal(const char *a, size_t an, const char *b, size_t bn)
{
    bool a_fn = an > 0 && a[an - 1] == ')';
    bool b_fn = bn > 0 && b[bn - 1] == ')';
    if (a_fn || b_fn) {
        bool a_pat = a_fn && has_prefix(a, an, "pat(");
        bool b_pat = b_fn && has_prefix(b, bn, "pat(");
        if (a_pat) {
            strip_call(&a, &an);
        }
        if (b_pat) {
            strip_call(&b, &bn);
        }
        if (a_pat != b_pat) {
            return a_pat ? pattern_match(a, an, b, bn) : pattern_match(b, bn, a, an);
        }
        bool a_any = a_fn && has_prefix(a, an, "any(") && an >= 5;
        bool b_any = b_fn && has_prefix(b, bn, "any(") && bn >= 5;
        if (a_any) {
            strip_call(&a, &an);
        }
        if (b_any) {
            strip_call(&b, &bn);
        }
        if (a_any != b_any) {
            return a_any ? any_of(a, an, b, bn) : any_of(b, bn, a, an);
        }
    }
    int64_t x, y;
    if (parse_int_go(a, an, &x) && parse_int_go(b, bn, &y)) {
        return x == y;
    }
    return an == bn && memcmp(a, b, an) == 0;
}

/* Appends to a bounded text, control characters shown as '?'. */
struct text {
    char *buf;
    size_t len;
    size_t at;
};

/* Append s[0..n) to t, as much as fits. */
static void put(struct text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n && t->at + 1 < t->len; i++) {
        unsigned char ch = (unsigned char)s[i];
        t->buf[t->at++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    t->buf[t->at] = '\0';
}

/* Append a resolved value, cut after max runes with Gatus's marker. */
static void put_cut(struct text *t, const char *s, size_t n, size_t max)
{
    size_t i = 0, runes = 0;
    while (i < n && runes < max) {
        i += rune_len(s + i, n - i);
        runes++;
    }
    put(t, s, i);
    if (i < n) {
        put(t, "...(truncated)", 14);
    }
}

/* One side of Gatus's prettify: "operand", "operand (value)" or the
 * already-suffixed invalid text. cut shortens values compared with pat(). */
static void put_side(struct text *t, const struct side *sd, const struct value *v, bool cut)
{
    size_t pn = strlen(sd->text);
    if (v->invalid) {
        put_cut(t, v->s, v->n, SHOW_VALUE_MAX + pn);
        return;
    }
    put(t, sd->text, pn);
    if (v->n == pn && memcmp(v->s, sd->text, pn) == 0) {
        return;
    }
    put(t, " (", 2);
    if (cut && v->n > PATTERN_SHOW_MAX) {
        /* Go's "%.25s...(truncated)": 25 characters, then the marker. */
        size_t i = 0;
        for (int runes = 0; i < v->n && runes < PATTERN_SHOW_MAX; runes++) {
            i += rune_len(v->s + i, v->n - i);
        }
        put(t, v->s, i);
        put(t, "...(truncated)", 14);
    } else {
        put_cut(t, v->s, v->n, SHOW_VALUE_MAX);
    }
    put(t, ")", 1);
}

/* An operand is pat(...) as written. */
static bool side_is_pattern(const struct side *sd)
{
    return sd->ph == PH_LITERAL && is_call(sd->text, strlen(sd->text), "pat(");
}

/* The text of a numeric operand's value: a duration for the certificate
 * placeholder or an operand written as a duration, else the integer. */
static void numeric_text(const struct side *sd, int64_t n, char *buf, size_t len)
{
    int64_t ignored;
    if (strcmp(sd->text, "[CERTIFICATE_EXPIRATION]") == 0 ||
        parse_duration_go(sd->text, strlen(sd->text), &ignored)) {
        format_duration(n, buf, len);
    } else {
        snprintf(buf, len, "%" PRId64, n);
    }
}

/* The text of a number compared as floating point: a duration for a
 * duration placeholder or an operand written as one. */
static void real_text(const struct side *sd, double d, char *buf, size_t len)
{
    int64_t ignored;
    if ((sd->var != NULL && sd->var->kind == COND_VAR_MS) ||
        (sd->ph == PH_LITERAL && parse_duration_go(sd->text, strlen(sd->text), &ignored) &&
         ignored != 0)) {
        /* Within int64_t before the conversion, which is undefined past it. */
        d = d > 9.2e18 ? 9.2e18 : d < -9.2e18 ? -9.2e18 : isnan(d) ? 0 : d;
        format_duration((int64_t)d, buf, len);
    } else {
        format_real(d, buf, len);
    }
}

/* A type's number against a number, for == and !=: equal as numbers, so
 * "[TLS_VERSION] == 1.3" holds for 1.3 whatever its text ("1.30"). False
 * when either is not such a pair (then the texts compare, as Gatus's). */
static bool real_equal(const struct value *a, const struct value *b, bool *eq)
{
    double d;
    if (a->real && !b->real && parse_float_go(b->s, b->n, &d)) {
        *eq = a->num == d;
        return true;
    }
    if (b->real && !a->real && parse_float_go(a->s, a->n, &d)) {
        *eq = b->num == d;
        return true;
    }
    return false;
}

/* Evaluate c into ok and, when wanted, the text Gatus shows. */
static bool evaluate(const struct cond *c, const struct cond_facts *f, struct text *t)
{
    struct value v[2];
    enum op op = c->op;
    resolve(&c->side[0], f, &v[0], !ops[op].numeric);
    resolve(&c->side[1], f, &v[1], !ops[op].numeric);
    bool ok;
    if (ops[op].numeric) {
        /* A type's placeholder on either side compares as floating point. */
        bool real = c->side[0].ph == PH_VAR || c->side[1].ph == PH_VAR;
        int64_t a = 0, b = 0;
        double ra = 0, rb = 0;
        if (real) {
            ra = to_real(&v[0]);
            rb = to_real(&v[1]);
            ok = op == OP_LE ? ra <= rb : op == OP_GE ? ra >= rb : op == OP_GT ? ra > rb : ra < rb;
        } else {
            a = to_number(&v[0]);
            b = to_number(&v[1]);
            ok = op == OP_LE ? a <= b : op == OP_GE ? a >= b : op == OP_GT ? a > b : a < b;
        }
        if (!ok && t != NULL) {
            /* Gatus shows the numbers it compared, not the texts. */
            struct value nv[2];
            for (int i = 0; i < 2; i++) {
                nv[i] = (struct value){0};
                char buf[32];
                if (real) {
                    real_text(&c->side[i], i == 0 ? ra : rb, buf, sizeof(buf));
                } else {
                    numeric_text(&c->side[i], i == 0 ? a : b, buf, sizeof(buf));
                }
                set_small(&nv[i], buf);
            }
            put_side(t, &c->side[0], &nv[0], false);
            put(t, " ", 1);
            put(t, ops[op].text, strlen(ops[op].text));
            put(t, " ", 1);
            put_side(t, &c->side[1], &nv[1], false);
        }
    } else {
        bool eq = real_equal(&v[0], &v[1], &ok) ? ok : is_equal(v[0].s, v[0].n, v[1].s, v[1].n);
        ok = op == OP_EQ ? eq : !eq;
        if (!ok && t != NULL) {
            put_side(t, &c->side[0], &v[0], side_is_pattern(&c->side[1]));
            put(t, " ", 1);
            put(t, ops[op].text, strlen(ops[op].text));
            put(t, " ", 1);
            put_side(t, &c->side[1], &v[1], side_is_pattern(&c->side[0]));
        }
    }
    if (v[0].unknown || v[1].unknown) {
        ok = false;
        if (t != NULL && t->at == 0) {
            put_side(t, &c->side[0], &v[0], false);
            put(t, " ", 1);
            put(t, ops[op].text, strlen(ops[op].text));
            put(t, " ", 1);
            put_side(t, &c->side[1], &v[1], false);
        }
    }
    free(v[0].own);
    free(v[1].own);
    return ok;
}

/* Evaluate; on failure write Gatus's text into why. */
bool cond_eval(const struct cond *c, const struct cond_facts *f, char *why, size_t whylen)
{
    if (why == NULL || whylen == 0) {
        return evaluate(c, f, NULL);
    }
    struct text t = {.buf = why, .len = whylen, .at = 0};
    why[0] = '\0';
    bool ok = evaluate(c, f, &t);
    if (ok) {
        why[0] = '\0';
    }
    return ok;
}

/* Evaluate every condition; see cond.h. */
size_t cond_eval_all(struct cond *const *conds, size_t n, const struct cond_facts *f,
                     struct cond_result *results)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct cond_result *r = &results[i];
        r->success = cond_eval(conds[i], f, r->text, sizeof(r->text));
        if (r->success) {
            struct text t = {.buf = r->text, .len = sizeof(r->text), .at = 0};
            put(&t, conds[i]->text, strlen(conds[i]->text));
        } else {
            failed++;
        }
    }
    return failed;
}
