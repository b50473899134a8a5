/* cond.c - conditions in Gatus's syntax: parse once, evaluate per run. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "duration.h"
#include "util.h"

#define COND_TEXT_MAX 1024
#define VALUE_MAX 256          /* rendered value kept for comparison */
#define WHY_VALUE_MAX 64       /* rendered value shown in why */
#define JSON_DEPTH_MAX 64

enum op {
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
};

static const char *const op_text[] = {"==", "!=", "<", "<=", ">", ">="};

enum operand_kind {
    K_STATUS,
    K_RESPONSE_TIME,
    K_BODY,
    K_CONNECTED,
    K_CERT,
    K_DEPLOY_VERSION,
    K_LITERAL,
    K_PATTERN,
    K_ANY,
};

struct operand {
    enum operand_kind kind;
    bool len;                  /* wrapped in len(...) */
    char *path;                /* [BODY] JSON path after the placeholder, or NULL */
    char *text;                /* literal / pattern text */
    bool numeric;              /* literal parses as a number or a duration */
    int64_t num;
    char **any;                /* any(...) items */
    size_t nany;
};

struct cond {
    char *text;
    struct operand left;
    struct operand right;
    enum op op;
};

/* A value computed during evaluation. */
struct value {
    bool known;
    bool numeric;
    int64_t num;
    char str[VALUE_MAX];
    bool duration;             /* num is in ms and reads best as a duration */
};

static const struct {
    const char *name;
    enum operand_kind kind;
} placeholders[] = {
    {"[BODY]", K_BODY},
    {"[CERTIFICATE_EXPIRATION]", K_CERT},
    {"[CONNECTED]", K_CONNECTED},
    {"[DEPLOY].version", K_DEPLOY_VERSION},
    {"[RESPONSE_TIME]", K_RESPONSE_TIME},
    {"[STATUS]", K_STATUS},
};

/* Initialise facts to unknown. */
void cond_facts_init(struct cond_facts *f)
{
    f->status = -1;
    f->response_time_ms = -1;
    f->body = NULL;
    f->body_len = 0;
    f->connected = -1;
    f->cert_expiry_ms = INT64_MIN;
    f->deploy_version = NULL;
}

/* Copy of s[0..n) with surrounding white space removed. */
static char *dup_trim(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Parse a whole decimal integer (optionally negative). */
static bool parse_int(const char *s, int64_t *out)
{
    if (*s == '\0') {
        return false;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || !(isdigit((unsigned char)*s) || *s == '-')) {
        return false;
    }
    *out = v;
    return true;
}

/* Check a JSON path suffix: (.key | [N])+ */
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

static void operand_free(struct operand *o)
{
    free(o->path);
    free(o->text);
    for (size_t i = 0; i < o->nany; i++) {
        free(o->any[i]);
    }
    free(o->any);
}

/* Parse a placeholder (optionally in len()) into o; false if s is none. */
static int parse_placeholder(const char *s, struct operand *o, char *err, size_t errlen)
{
    char *inner = NULL;
    size_t n = strlen(s);
    if (strncmp(s, "len(", 4) == 0) {
        if (n < 5 || s[n - 1] != ')') {
            snprintf(err, errlen, "unbalanced parentheses in \"%s\"", s);
            return -EINVAL;
        }
        inner = dup_trim(s + 4, n - 5);
        if (inner == NULL) {
            return -ENOMEM;
        }
        o->len = true;
        s = inner;
    }
    int rc = 1; /* not a placeholder */
    if (s[0] == '[') {
        rc = -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
            size_t pl = strlen(placeholders[i].name);
            if (strncmp(s, placeholders[i].name, pl) != 0) {
                continue;
            }
            const char *rest = s + pl;
            if (*rest == '\0') {
                o->kind = placeholders[i].kind;
                rc = 0;
                break;
            }
            if (placeholders[i].kind == K_BODY) {
                if (!valid_path(rest)) {
                    snprintf(err, errlen, "bad JSON path \"%s\"", s);
                    break;
                }
                o->kind = K_BODY;
                o->path = strdup(rest);
                rc = o->path != NULL ? 0 : -ENOMEM;
                break;
            }
        }
        if (rc == -EINVAL && err[0] == '\0') {
            size_t close = strcspn(s, "]");
            snprintf(err, errlen, "unknown placeholder %.*s", (int)(close + 1 < 64 ? close + 1 : 64),
                     s);
        }
    } else if (o->len) {
        snprintf(err, errlen, "len() takes a placeholder, not \"%s\"", s);
        rc = -EINVAL;
    }
    free(inner);
    return rc;
}

/* Parse the right side: pat(), any(), a placeholder, or a literal. */
static int parse_right(const char *s, struct operand *o, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (strncmp(s, "pat(", 4) == 0 || strncmp(s, "any(", 4) == 0) {
        if (s[n - 1] != ')') {
            snprintf(err, errlen, "unbalanced parentheses in \"%s\"", s);
            return -EINVAL;
        }
        char *inner = dup_trim(s + 4, n - 5);
        if (inner == NULL) {
            return -ENOMEM;
        }
        if (s[0] == 'p') {
            o->kind = K_PATTERN;
            o->text = inner;
            return 0;
        }
        o->kind = K_ANY;
        for (char *p = inner;;) {
            char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
            char **v = realloc(o->any, (o->nany + 1) * sizeof(*v));
            if (v == NULL) {
                free(inner);
                return -ENOMEM;
            }
            o->any = v;
            o->any[o->nany] = dup_trim(p, len);
            if (o->any[o->nany] == NULL) {
                free(inner);
                return -ENOMEM;
            }
            o->nany++;
            if (comma == NULL) {
                break;
            }
            p = comma + 1;
        }
        free(inner);
        return 0;
    }
    int rc = parse_placeholder(s, o, err, errlen);
    if (rc <= 0) {
        return rc;
    }
    o->kind = K_LITERAL;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        o->text = dup_trim(s + 1, n - 2);
        return o->text != NULL ? 0 : -ENOMEM;
    }
    o->text = strdup(s);
    if (o->text == NULL) {
        return -ENOMEM;
    }
    if (parse_int(s, &o->num)) {
        o->numeric = true;
    } else if (isdigit((unsigned char)s[0]) && duration_parse(s, &o->num) == 0) {
        o->numeric = true;
    }
    return 0;
}

/* Find the operator outside brackets, parentheses and quotes. */
static const char *find_op(const char *s, enum op *op)
{
    int depth = 0;
    bool quoted = false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (quoted) {
            continue;
        } else if (*p == '[' || *p == '(') {
            depth++;
        } else if (*p == ']' || *p == ')') {
            depth--;
        } else if (depth == 0) {
            if (p[0] == '=' && p[1] == '=') {
                *op = OP_EQ;
                return p;
            }
            if (p[0] == '!' && p[1] == '=') {
                *op = OP_NE;
                return p;
            }
            if (p[0] == '<') {
                *op = p[1] == '=' ? OP_LE : OP_LT;
                return p;
            }
            if (p[0] == '>') {
                *op = p[1] == '=' ? OP_GE : OP_GT;
                return p;
            }
        }
    }
    return NULL;
}

/* Brackets and parentheses balance, outside quotes. */
static bool balanced(const char *s)
{
    int sq = 0, par = 0;
    bool quoted = false;
    for (; *s != '\0'; s++) {
        if (*s == '"') {
            quoted = !quoted;
        } else if (!quoted) {
            sq += *s == '[' ? 1 : *s == ']' ? -1 : 0;
            par += *s == '(' ? 1 : *s == ')' ? -1 : 0;
            if (sq < 0 || par < 0) {
                return false;
            }
        }
    }
    return sq == 0 && par == 0 && !quoted;
}

/* Parse a condition. */
int cond_parse(const char *text, struct cond **out, char *err, size_t errlen)
{
    err[0] = '\0';
    *out = NULL;
    size_t tl = strlen(text);
    if (tl > COND_TEXT_MAX) {
        snprintf(err, errlen, "condition longer than %d bytes", COND_TEXT_MAX);
        return -EINVAL;
    }
    if (!balanced(text)) {
        snprintf(err, errlen, "unbalanced brackets, parentheses or quotes");
        return -EINVAL;
    }
    enum op op;
    const char *at = find_op(text, &op);
    if (at == NULL) {
        snprintf(err, errlen, "missing operator (==, !=, <, <=, >, >=)");
        return -EINVAL;
    }
    struct cond *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->op = op;
    c->text = strdup(text);
    char *lhs = dup_trim(text, (size_t)(at - text));
    const char *r = at + strlen(op_text[op]);
    char *rhs = dup_trim(r, strlen(r));
    int rc = -ENOMEM;
    if (c->text == NULL || lhs == NULL || rhs == NULL) {
        goto fail;
    }
    rc = -EINVAL;
    if (lhs[0] == '\0' || rhs[0] == '\0') {
        snprintf(err, errlen, "empty %s side", lhs[0] == '\0' ? "left" : "right");
        goto fail;
    }
    if (strncmp(lhs, "pat(", 4) == 0 || strncmp(lhs, "any(", 4) == 0) {
        snprintf(err, errlen, "%.4s) belongs on the right side", lhs);
        goto fail;
    }
    rc = parse_placeholder(lhs, &c->left, err, errlen);
    if (rc > 0) {
        snprintf(err, errlen, "left side must be a placeholder such as [STATUS], not \"%.64s\"",
                 lhs);
        rc = -EINVAL;
    }
    if (rc < 0) {
        goto fail;
    }
    rc = parse_right(rhs, &c->right, err, errlen);
    if (rc < 0) {
        goto fail;
    }
    if ((c->right.kind == K_PATTERN || c->right.kind == K_ANY) && op != OP_EQ && op != OP_NE) {
        snprintf(err, errlen, "%s() works with == and != only",
                 c->right.kind == K_PATTERN ? "pat" : "any");
        rc = -EINVAL;
        goto fail;
    }
    free(lhs);
    free(rhs);
    *out = c;
    return 0;
fail:
    if (err[0] == '\0' && rc == -ENOMEM) {
        snprintf(err, errlen, "out of memory");
    }
    free(lhs);
    free(rhs);
    cond_free(c);
    return rc;
}

/* Free a condition. */
void cond_free(struct cond *c)
{
    if (c == NULL) {
        return;
    }
    operand_free(&c->left);
    operand_free(&c->right);
    free(c->text);
    free(c);
}

/* The source text. */
const char *cond_text(const struct cond *c)
{
    return c->text;
}

/* Glob match with * and ?, on bytes. */
static bool glob_match(const char *pat, const char *s, size_t n)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    size_t pl = strlen(pat);
    while (si < n) {
        if (pi < pl && (pat[pi] == '?' || pat[pi] == s[si])) {
            pi++;
            si++;
        } else if (pi < pl && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pl && pat[pi] == '*') {
        pi++;
    }
    return pi == pl;
}

/* Set v to a string value (truncated to VALUE_MAX). */
static void set_str(struct value *v, const char *s, size_t n)
{
    v->known = true;
    if (n >= sizeof(v->str)) {
        n = sizeof(v->str) - 1;
    }
    memcpy(v->str, s, n);
    v->str[n] = '\0';
    int64_t num = 0;
    v->numeric = parse_int(v->str, &num);
    v->num = num;
}

static void set_num(struct value *v, int64_t n)
{
    v->known = true;
    v->numeric = true;
    v->num = n;
    snprintf(v->str, sizeof(v->str), "%" PRId64, n);
}

/* Deepest nesting of a body, scanning brackets outside strings. */
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

/* Resolve a JSON path in the body into v; unknown when it does not resolve. */
static void body_path(const struct cond_facts *f, const struct operand *o, struct value *v)
{
    if (f->body == NULL || too_deep(f->body, f->body_len)) {
        return;
    }
    json_t *root = json_loadb(f->body, f->body_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (root == NULL) {
        return;
    }
    json_t *cur = root;
    const char *p = o->path;
    while (cur != NULL && *p != '\0') {
        if (*p == '.') {
            p++;
            size_t n = strcspn(p, ".[");
            char key[256];
            if (n >= sizeof(key)) {
                cur = NULL;
                break;
            }
            memcpy(key, p, n);
            key[n] = '\0';
            cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
            p += n;
        } else {
            p++;
            size_t idx = strtoul(p, NULL, 10);
            p += strcspn(p, "]") + 1;
            cur = json_is_array(cur) ? json_array_get(cur, idx) : NULL;
        }
    }
    if (cur != NULL) {
        if (o->len) {
            if (json_is_array(cur)) {
                set_num(v, (int64_t)json_array_size(cur));
            } else if (json_is_object(cur)) {
                set_num(v, (int64_t)json_object_size(cur));
            } else if (json_is_string(cur)) {
                set_num(v, (int64_t)json_string_length(cur));
            }
        } else if (json_is_string(cur)) {
            set_str(v, json_string_value(cur), json_string_length(cur));
        } else if (json_is_integer(cur)) {
            set_num(v, (int64_t)json_integer_value(cur));
        } else {
            char *s = json_dumps(cur, JSON_ENCODE_ANY | JSON_COMPACT);
            if (s != NULL) {
                set_str(v, s, strlen(s));
                free(s);
            }
        }
    }
    json_decref(root);
}

/* The value of an operand against the facts. */
static void resolve(const struct operand *o, const struct cond_facts *f, struct value *v)
{
    memset(v, 0, sizeof(*v));
    switch (o->kind) {
    case K_STATUS:
        if (f->status >= 0) {
            set_num(v, f->status);
        }
        break;
    case K_RESPONSE_TIME:
        if (f->response_time_ms >= 0) {
            set_num(v, f->response_time_ms);
        }
        break;
    case K_CONNECTED:
        if (f->connected >= 0) {
            set_str(v, f->connected ? "true" : "false", f->connected ? 4 : 5);
        }
        break;
    case K_CERT:
        if (f->cert_expiry_ms != INT64_MIN) {
            set_num(v, f->cert_expiry_ms);
            v->duration = true;
            duration_format(f->cert_expiry_ms < 0 ? 0 : f->cert_expiry_ms, v->str,
                            sizeof(v->str));
        }
        break;
    case K_DEPLOY_VERSION:
        if (f->deploy_version != NULL) {
            set_str(v, f->deploy_version, strlen(f->deploy_version));
        }
        break;
    case K_BODY:
        if (o->path != NULL) {
            body_path(f, o, v);
        } else if (f->body != NULL) {
            if (o->len) {
                set_num(v, (int64_t)f->body_len);
            } else {
                set_str(v, f->body, f->body_len);
            }
        }
        break;
    case K_LITERAL:
        v->known = true;
        v->numeric = o->numeric;
        v->num = o->num;
        snprintf(v->str, sizeof(v->str), "%s", o->text);
        return;
    case K_PATTERN:
    case K_ANY:
        return;
    }
    if (o->len && v->known && !v->numeric && o->kind != K_BODY) {
        set_num(v, (int64_t)strlen(v->str));
    }
}

/* Compare two known values with op. */
static bool compare(const struct value *a, enum op op, const struct value *b)
{
    if (a->numeric && b->numeric) {
        switch (op) {
        case OP_EQ:
            return a->num == b->num;
        case OP_NE:
            return a->num != b->num;
        case OP_LT:
            return a->num < b->num;
        case OP_LE:
            return a->num <= b->num;
        case OP_GT:
            return a->num > b->num;
        case OP_GE:
            return a->num >= b->num;
        }
    }
    if (op == OP_EQ) {
        return strcmp(a->str, b->str) == 0;
    }
    if (op == OP_NE) {
        return strcmp(a->str, b->str) != 0;
    }
    return false;
}

/* Copy s into out for why, printable and truncated. */
static void render(char *out, size_t len, const char *s)
{
    size_t n = 0, i = 0;
    for (; s[i] != '\0' && n + 1 < len && i < WHY_VALUE_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (s[i] != '\0' && n + 4 < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* Evaluate; on failure write "LEFT (actual) OP RIGHT" into why. */
bool cond_eval(const struct cond *c, const struct cond_facts *f, char *why, size_t whylen)
{
    struct value l, r;
    bool ok = false;
    bool right_resolved = false;    /* r holds a placeholder's value */

    resolve(&c->left, f, &l);
    if (l.known) {
        if (c->right.kind == K_PATTERN) {
            bool m = glob_match(c->right.text, l.str, strlen(l.str));
            if (c->left.kind == K_BODY && c->left.path == NULL && !c->left.len) {
                m = glob_match(c->right.text, f->body, f->body_len);
            }
            ok = c->op == OP_EQ ? m : !m;
        } else if (c->right.kind == K_ANY) {
            bool m = false;
            for (size_t i = 0; i < c->right.nany && !m; i++) {
                struct operand lit = {.kind = K_LITERAL, .text = c->right.any[i]};
                lit.numeric = parse_int(lit.text, &lit.num);
                resolve(&lit, f, &r);
                m = compare(&l, OP_EQ, &r);
            }
            ok = c->op == OP_EQ ? m : !m;
        } else {
            resolve(&c->right, f, &r);
            right_resolved = c->right.kind != K_LITERAL;
            ok = r.known && compare(&l, c->op, &r);
        }
    }
    if (!ok && why != NULL && whylen > 0) {
        const char *sep = find_op(c->text, &(enum op){OP_EQ});
        size_t lhs_len = (size_t)(sep - c->text);
        while (lhs_len > 0 && isspace((unsigned char)c->text[lhs_len - 1])) {
            lhs_len--;
        }
        char actual[WHY_VALUE_MAX + 8];
        render(actual, sizeof(actual), l.known ? l.str : "n/a");
        const char *rest = sep;
        if (right_resolved) {
            /* Both sides were placeholders: show both values. */
            char other[WHY_VALUE_MAX + 8];
            render(other, sizeof(other), r.known ? r.str : "n/a");
            snprintf(why, whylen, "%.*s (%s) %s (%s)", (int)lhs_len, c->text, actual, rest, other);
        } else {
            snprintf(why, whylen, "%.*s (%s) %s", (int)lhs_len, c->text, actual, rest);
        }
    }
    return ok;
}
