/* config_yaml.c - the YAML tree of a configuration: libyaml events to
 * nodes, anchors and aliases, ${VAR} expansion, and the error list.
 *
 * The file is read whole (at most CONFIG_MAX_FILE bytes), then turned into
 * a small tree of nodes by libyaml's event parser. Building our own tree
 * instead of using yaml_document_t lets us bound nesting depth and node
 * count while parsing, and register an anchor only once its node is
 * complete, so an alias can never form a cycle.
 *
 * Every problem is recorded with its position and reported as
 * "FILE:LINE:COL: path.to.key: message", sorted by position. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_yaml.h"
#include "hash.h"
#include "sbuf.h"

#define CONFIG_MAX_NODES 4000000 /* scalars, collections and aliases */
#define CONFIG_MAX_DEPTH 64      /* nesting of collections */
#define CONFIG_MAX_ANCHORS 1000
/* What aliases may add to a walk, beyond the file's own nodes and text: a
 * file without aliases walks each node once (100,000 checks are about
 * 1.7 M nodes and 10 MB), and its own size is bounded by the limits above;
 * aliases of one long value could otherwise turn a few hundred KB into
 * gigabytes, or a few thousand aliases of a big list into millions of
 * strings. */
#define CONFIG_MAX_ALIAS_VISITS 2000000
#define CONFIG_MAX_ALIAS_BYTES (16 * 1024 * 1024)
#define CONFIG_MAX_VALUE (1024 * 1024) /* bytes of one value after expansion */
#define MSG_BUF 1024

struct conf_anchor {
    char *name;
    uint64_t hash;
    struct ynode *node;
};

struct conf_error {
    struct conf_mark at;
    size_t seq;
    char *msg;
};

/* ---------------------------------------------------------------- errors */

/* Record a message at a position, "FILE:LINE:COL: " prefixed. */
__attribute__((format(printf, 3, 4))) void conf_report(struct conf_ctx *x, struct conf_mark at,
                                                       const char *fmt, ...)
{
    if (x->nerrs >= CONFIG_MAX_ERRORS) {
        x->truncated = true;
        x->stop = true;
        return;
    }
    if (x->nerrs == x->caperrs) {
        size_t cap = x->caperrs ? x->caperrs * 2 : 16;
        struct conf_error *n = realloc(x->errs, cap * sizeof(*n));
        if (n == NULL) {
            x->oom = true;
            x->stop = true;
            return;
        }
        x->errs = n;
        x->caperrs = cap;
    }
    char body[MSG_BUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    char line[MSG_BUF + 256];
    if (at.line > 0) {
        snprintf(line, sizeof(line), "%s:%d:%d: %s", x->name, at.line, at.col, body);
    } else {
        snprintf(line, sizeof(line), "%s: %s", x->name, body);
    }
    char *msg = strdup(line);
    if (msg == NULL) {
        x->oom = true;
        x->stop = true;
        return;
    }
    x->errs[x->nerrs++] = (struct conf_error){.at = at, .seq = x->seq++, .msg = msg};
}

/* Order errors by position, then by the order they were found. */
static int error_cmp(const void *a, const void *b)
{
    const struct conf_error *ea = a, *eb = b;
    if (ea->at.line != eb->at.line) {
        return ea->at.line < eb->at.line ? -1 : 1;
    }
    if (ea->at.col != eb->at.col) {
        return ea->at.col < eb->at.col ? -1 : 1;
    }
    return ea->seq < eb->seq ? -1 : ea->seq > eb->seq;
}

/* Sort the errors and move them into errs; ctx keeps none. Returns 0 or
 * -ENOMEM. */
int conf_errors_move(struct conf_ctx *x, struct config_errors *errs)
{
    if (x->nerrs == 0) {
        return 0;
    }
    qsort(x->errs, x->nerrs, sizeof(*x->errs), error_cmp);
    size_t extra = x->truncated ? 1 : 0;
    char **msgs = realloc(errs->msgs, (errs->n + x->nerrs + extra) * sizeof(*msgs));
    if (msgs == NULL) {
        for (size_t i = 0; i < x->nerrs; i++) {
            free(x->errs[i].msg);
        }
        x->nerrs = 0;
        return -ENOMEM;
    }
    errs->msgs = msgs;
    for (size_t i = 0; i < x->nerrs; i++) {
        errs->msgs[errs->n++] = x->errs[i].msg;
    }
    if (extra) {
        char line[256];
        snprintf(line, sizeof(line), "%s: too many errors (%d shown); fix these first", x->name,
                 CONFIG_MAX_ERRORS);
        char *m = strdup(line);
        if (m != NULL) {
            errs->msgs[errs->n++] = m;
        }
    }
    x->nerrs = 0;
    return 0;
}

/* Write s into dst (size n) for a message: printable ASCII kept, anything
 * else escaped as \xNN, cut at max bytes with "...". */
void conf_sanitize(char *dst, size_t n, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < n; i++) {
        if (i >= max) {
            if (o + 4 < n) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            dst[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(dst + o, n - o, "\\x%02x", ch);
        }
    }
    dst[o] = '\0';
}

/* A value quoted for a message: "5x". Not for secrets. */
const char *conf_quote(char *dst, size_t n, const char *s)
{
    char inner[256];
    conf_sanitize(inner, sizeof(inner), s, strlen(s), 64);
    snprintf(dst, n, "\"%s\"", inner);
    return dst;
}

/* ------------------------------------------------------------------ tree */

/* Create a node with room for a text of text_len bytes (plus NUL) and
 * remember it for freeing; NULL on ENOMEM. */
static struct ynode *node_new(struct conf_ctx *x, enum ynode_type type, const yaml_mark_t *m,
                              size_t text_len)
{
    if (x->nnodes == x->capnodes) {
        size_t cap = x->capnodes ? x->capnodes * 2 : 64;
        struct ynode **v = realloc(x->nodes, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        x->nodes = v;
        x->capnodes = cap;
    }
    /* Never smaller than the struct itself, however short the text. */
    size_t size = offsetof(struct ynode, text) + text_len + 1;
    struct ynode *n = calloc(1, size > sizeof(struct ynode) ? size : sizeof(struct ynode));
    if (n == NULL) {
        return NULL;
    }
    n->type = (uint8_t)type;
    n->at = (struct conf_mark){(int)m->line + 1, (int)m->column + 1};
    x->nodes[x->nnodes++] = n;
    return n;
}

/* Append kid, written at at, to a collection; 0 or -ENOMEM. */
static int node_append(struct ynode *parent, struct ynode *kid, struct conf_mark at)
{
    if (parent->n == parent->cap) {
        uint32_t cap = parent->cap ? parent->cap * 2 : 4;
        struct ynode **v = realloc(parent->kids, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        parent->kids = v;
        struct conf_mark *m = realloc(parent->kat, cap * sizeof(*m));
        if (m == NULL) {
            return -ENOMEM;
        }
        parent->kat = m;
        parent->cap = cap;
    }
    parent->kids[parent->n] = kid;
    parent->kat[parent->n++] = at;
    return 0;
}

/* Register a completed node under an anchor name; 0, -ENOMEM, or -E2BIG. */
static int anchor_add(struct conf_ctx *x, const char *name, struct ynode *node)
{
    if (x->nanchors >= CONFIG_MAX_ANCHORS) {
        return -E2BIG;
    }
    if (x->anchors == NULL) {
        x->anchors = calloc(CONFIG_MAX_ANCHORS, sizeof(*x->anchors));
        if (x->anchors == NULL) {
            return -ENOMEM;
        }
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        return -ENOMEM;
    }
    x->anchors[x->nanchors++] = (struct conf_anchor){
        .name = copy, .hash = hash_fnv1a(HASH_FNV_INIT, name, strlen(name)), .node = node};
    return 0;
}

/* The node an alias refers to (the latest anchor of that name), or NULL. */
static struct ynode *anchor_find(struct conf_ctx *x, const char *name)
{
    uint64_t h = hash_fnv1a(HASH_FNV_INIT, name, strlen(name));
    for (size_t i = x->nanchors; i-- > 0;) {
        if (x->anchors[i].hash == h && strcmp(x->anchors[i].name, name) == 0) {
            return x->anchors[i].node;
        }
    }
    return NULL;
}

/* Report a libyaml error with its problem text and position. */
static void report_yaml(struct conf_ctx *x, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        x->oom = true;
        return;
    }
    const char *problem = p->problem ? p->problem : "YAML syntax error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark. */
        struct conf_mark at = {1, 1};
        for (size_t i = 0; i < p->problem_offset && i < x->len; i++) {
            if (x->buf[i] == '\n') {
                at.line++;
                at.col = 1;
            } else {
                at.col++;
            }
        }
        if (p->problem_value >= 0) {
            conf_report(x, at, "%s (byte 0x%02x)", problem, (unsigned)p->problem_value & 0xff);
        } else {
            conf_report(x, at, "%s", problem);
        }
        return;
    }
    struct conf_mark at = {(int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1};
    if (p->context != NULL) {
        conf_report(x, at, "%s (%s at line %d)", problem, p->context,
                    (int)p->context_mark.line + 1);
    } else {
        conf_report(x, at, "%s", problem);
    }
}

/* Parse buf into a tree. Returns the root (NULL for an empty stream) in
 * *root; 0, -EINVAL after reporting, or -ENOMEM. Nodes belong to x. */
int conf_tree_build(struct conf_ctx *x, struct ynode **root)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)x->buf, x->len);
    struct ynode *stack[CONFIG_MAX_DEPTH];
    int depth = 0;
    int docs = 0;
    int rc = 0;
    *root = NULL;
    for (bool done = false; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            report_yaml(x, &p);
            rc = x->oom ? -ENOMEM : -EINVAL;
            break;
        }
        struct ynode *n = NULL;
        const char *anchor = NULL;
        yaml_mark_t *m = &ev.start_mark;
        struct conf_mark at = {(int)m->line + 1, (int)m->column + 1};
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                conf_report(x, at, "only one YAML document is allowed");
                rc = -EINVAL;
                done = true;
            }
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (++x->entries > CONFIG_MAX_NODES) {
                conf_report(x, at, "too many YAML nodes (limit %d)", CONFIG_MAX_NODES);
                rc = -EINVAL;
                done = true;
                break;
            }
            if (ev.type == YAML_ALIAS_EVENT) {
                n = anchor_find(x, (const char *)ev.data.alias.anchor);
                if (n == NULL) {
                    char name[160];
                    const char *a = (const char *)ev.data.alias.anchor;
                    conf_sanitize(name, sizeof(name), a, strlen(a), 64);
                    conf_report(x, at, "unknown alias *%s", name);
                    rc = -EINVAL;
                    done = true;
                    break;
                }
            } else if (ev.type == YAML_SCALAR_EVENT) {
                size_t len = ev.data.scalar.length;
                if (memchr(ev.data.scalar.value, '\0', len) != NULL) {
                    conf_report(x, at, "NUL character in a value");
                    rc = -EINVAL;
                    done = true;
                    break;
                }
                n = node_new(x, YN_SCALAR, m, len);
                if (n == NULL) {
                    rc = -ENOMEM;
                    done = true;
                    break;
                }
                memcpy(n->text, ev.data.scalar.value, len);
                n->text[len] = '\0';
                n->len = (uint32_t)len;
                n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                anchor = (const char *)ev.data.scalar.anchor;
            } else {
                bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
                n = node_new(x, seq ? YN_SEQ : YN_MAP, m, 0);
                if (n == NULL) {
                    rc = -ENOMEM;
                    done = true;
                    break;
                }
                const char *a = seq ? (const char *)ev.data.sequence_start.anchor
                                    : (const char *)ev.data.mapping_start.anchor;
                if (a != NULL && (n->anchor = strdup(a)) == NULL) {
                    rc = -ENOMEM;
                    done = true;
                    break;
                }
            }
            if (depth > 0) {
                if (node_append(stack[depth - 1], n, at) < 0) {
                    rc = -ENOMEM;
                    done = true;
                    break;
                }
            } else {
                *root = n;
            }
            if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
                if (depth == CONFIG_MAX_DEPTH) {
                    conf_report(x, at, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
                    rc = -EINVAL;
                    done = true;
                    break;
                }
                stack[depth++] = n;
            } else if (anchor != NULL) {
                int arc = anchor_add(x, anchor, n);
                if (arc == -E2BIG) {
                    conf_report(x, at, "too many anchors (limit %d)", CONFIG_MAX_ANCHORS);
                    rc = -EINVAL;
                    done = true;
                } else if (arc < 0) {
                    rc = arc;
                    done = true;
                }
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) {
                n = stack[--depth];
                if (n->anchor != NULL) {
                    int arc = anchor_add(x, n->anchor, n);
                    if (arc == -E2BIG) {
                        conf_report(x, n->at, "too many anchors (limit %d)", CONFIG_MAX_ANCHORS);
                        rc = -EINVAL;
                        done = true;
                    } else if (arc < 0) {
                        rc = arc;
                        done = true;
                    }
                }
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* Free every node and anchor of x. */
void conf_tree_free(struct conf_ctx *x)
{
    for (size_t i = 0; i < x->nnodes; i++) {
        free(x->nodes[i]->kids);
        free(x->nodes[i]->kat);
        free(x->nodes[i]->anchor);
        free(x->nodes[i]);
    }
    free(x->nodes);
    for (size_t i = 0; i < x->nanchors; i++) {
        free(x->anchors[i].name);
    }
    free(x->anchors);
}

/* Count one node visit; false (after reporting once) when the walk has done
 * too much work, which only aliases can cause. */
bool conf_visit(struct conf_ctx *x, struct conf_mark at)
{
    if (x->stop) {
        return false;
    }
    if (++x->visits > x->entries + CONFIG_MAX_ALIAS_VISITS) {
        conf_report(x, at, "aliases expand to more than %d nodes beyond the file's own",
                    CONFIG_MAX_ALIAS_VISITS);
        x->stop = true;
        return false;
    }
    return true;
}

/* ------------------------------------------------------- env expansion */

/* Expand ${VAR}, ${VAR:-default} and $$ in s. Returns 0 and *out (malloc'd,
 * caller frees), or -EINVAL with a reason in err, or -ENOMEM. A '$' followed
 * by anything else is kept as is. */
int conf_expand(const char *s, size_t len, char **out, char *err, size_t errlen)
{
    /* Most values name no variable: a copy of their own size. The daemon
     * keeps every one for its lifetime, a few a check. */
    if (memchr(s, '$', len) == NULL) {
        if (len > CONFIG_MAX_VALUE) {
            snprintf(err, errlen, "value longer than %d bytes", CONFIG_MAX_VALUE);
            return -EINVAL;
        }
        *out = strndup(s, len);
        return *out != NULL ? 0 : -ENOMEM;
    }
    struct sbuf buf;
    sbuf_init(&buf, 0);
    for (size_t i = 0; i < len;) {
        const char *piece = s + i;
        size_t plen = 1;
        if (s[i] == '$' && i + 1 < len && s[i + 1] == '$') {
            i += 2;
        } else if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            size_t start = i + 2, j = start;
            while (j < len &&
                   (s[j] == '_' || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z') ||
                    (j > start && s[j] >= '0' && s[j] <= '9'))) {
                j++;
            }
            size_t name_len = j - start;
            const char *def = NULL;
            size_t def_len = 0;
            if (j < len && s[j] == ':' && j + 1 < len && s[j + 1] == '-') {
                def = s + j + 2;
                const char *close = memchr(def, '}', len - (j + 2));
                if (close == NULL) {
                    snprintf(err, errlen, "unterminated ${ (write $$ for a literal $)");
                    sbuf_finish(&buf);
                    return -EINVAL;
                }
                def_len = (size_t)(close - def);
                j = (size_t)(close - s);
            } else if (j >= len || memchr(s + i, '}', len - i) == NULL) {
                snprintf(err, errlen, "unterminated ${ (write $$ for a literal $)");
                sbuf_finish(&buf);
                return -EINVAL;
            } else if (s[j] != '}') {
                snprintf(err, errlen, "bad ${...}: use ${NAME} or ${NAME:-default}");
                sbuf_finish(&buf);
                return -EINVAL;
            }
            if (name_len == 0 || name_len > 255) {
                snprintf(err, errlen, "bad variable name in ${...}");
                sbuf_finish(&buf);
                return -EINVAL;
            }
            char name[256];
            memcpy(name, s + start, name_len);
            name[name_len] = '\0';
            const char *v = getenv(name);
            if (def != NULL && (v == NULL || *v == '\0')) {
                piece = def;
                plen = def_len;
            } else if (v == NULL) {
                snprintf(err, errlen, "environment variable %s is not set", name);
                sbuf_finish(&buf);
                return -EINVAL;
            } else {
                piece = v;
                plen = strlen(v);
            }
            i = j + 1;
        } else {
            i++;
        }
        if (buf.len + plen > CONFIG_MAX_VALUE) {
            snprintf(err, errlen, "value longer than %d bytes", CONFIG_MAX_VALUE);
            sbuf_finish(&buf);
            return -EINVAL;
        }
        sbuf_append(&buf, piece, plen);
    }
    size_t n = buf.len;
    *out = sbuf_take(&buf);
    if (*out == NULL) {
        return -ENOMEM;
    }
    char *fit = realloc(*out, n + 1);   /* sbuf grows from 256 bytes */
    if (fit != NULL) {
        *out = fit;
    }
    return 0;
}

/* ------------------------------------------------------- scalar values */

/* True when n is a YAML null: an empty, ~ or null plain scalar. */
bool conf_is_null(const struct ynode *n)
{
    if (n == NULL) {
        return true;
    }
    if (n->type != YN_SCALAR || !n->plain) {
        return false;
    }
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

/* The expanded text of a scalar. Returns 0 and *out (caller frees), 1 when
 * the value is null, or -1 after reporting (wrong type: "PATH: expected
 * WHAT"). Empty after expansion counts as null when empty_is_null. */
int conf_scalar(struct conf_ctx *x, const struct ynode *v, struct conf_mark at, const char *path,
                const char *what, bool empty_is_null, char **out)
{
    *out = NULL;
    if (!conf_visit(x, at)) {
        return -1;
    }
    if (conf_is_null(v)) {
        return 1;
    }
    if (v->type != YN_SCALAR) {
        conf_report(x, at, "%s: expected %s", path, what);
        return -1;
    }
    x->scalar_bytes += v->len;
    /* A scalar's text is never longer than where it is written: without
     * aliases the walk reads at most the file's length. */
    if (x->scalar_bytes > x->len + CONFIG_MAX_ALIAS_BYTES) {
        conf_report(x, at, "%s: aliases expand to more than %d MiB of text", path,
                    CONFIG_MAX_ALIAS_BYTES / (1024 * 1024));
        x->stop = true;
        return -1;
    }
    char err[300];
    int rc = conf_expand(v->text, v->len, out, err, sizeof(err));
    if (rc == -ENOMEM) {
        x->oom = true;
        x->stop = true;
        return -1;
    }
    if (rc < 0) {
        conf_report(x, at, "%s: %s", path, err);
        return -1;
    }
    if (empty_is_null && **out == '\0') {
        free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}
