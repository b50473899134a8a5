/* config.c - the YAML configuration: parsing, validation, defaults.
 *
 * The file is read whole (at most CONFIG_MAX_FILE bytes), turned into a
 * small tree of nodes by libyaml's event parser, then walked by tables of
 * known keys. Building our own tree instead of using yaml_document_t lets us
 * bound nesting depth and node count while parsing, and register an anchor
 * only once its node is complete, so an alias can never form a cycle.
 *
 * Every problem is recorded with its position and reported as
 * "FILE:LINE:COL: path.to.key: message", sorted by position. Values of
 * string keys are never quoted in messages, so secrets (tokens, DSNs, URLs)
 * cannot leak into logs; only durations, enumerations and names are. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <yaml.h>

#include "cluster.h"
#include "cond.h"
#include "config.h"
#include "duration.h"
#include "ipc_client.h"

#define CONFIG_MAX_FILE (4 * 1024 * 1024) /* bytes of YAML read at most */
#define CONFIG_MAX_NODES 500000           /* scalars, collections and aliases */
#define CONFIG_MAX_DEPTH 64               /* nesting of collections */
#define CONFIG_MAX_ANCHORS 1000
#define CONFIG_MAX_VISITS 2000000 /* node visits while walking (aliases) */
#define CONFIG_MAX_ERRORS 200
#define CONFIG_MAX_VALUE (1024 * 1024) /* bytes of one value after expansion */
#define CONFIG_MAX_NAME 128            /* check, app, notifier names */
#define CONFIG_MAX_CHECKS 50000
#define CONFIG_MAX_ITEMS 10000             /* apps, notifiers, alerts */
#define CONFIG_HEARTBEAT_INTERVAL_MS 10000 /* how often lateness is evaluated */
#define CONFIG_SUN_PATH_MAX 107            /* sizeof(sun_path) - 1 on Linux */
#define PATH_BUF 512                       /* "checks[12].headers.X-Key" */
#define MSG_BUF 1024

/* A position in the file, 1-based; line 0 means "nowhere". */
struct mark {
    int line;
    int col;
};

enum ynode_type {
    YN_SCALAR,
    YN_SEQ,
    YN_MAP,
};

/* One YAML node. Collections point at their children; an alias is just a
 * second pointer to an anchored node, so nodes form a DAG owned by ctx.
 * Kept small: a file may hold CONFIG_MAX_NODES of them. */
struct ynode {
    struct ynode **kids; /* seq: items; map: key, value, key, value... */
    struct mark *kat;    /* where each kid is written: an alias's own
                            position, not its anchor's */
    char *anchor;        /* collection: anchor to register at its end */
    uint32_t n;          /* kids */
    uint32_t cap;
    uint32_t len; /* scalar: bytes of text */
    struct mark at;
    uint8_t type; /* enum ynode_type */
    bool plain;   /* scalar written without quotes */
    char text[];  /* scalar: NUL-terminated, no NUL inside */
};

struct anchor {
    char *name;
    uint64_t hash;
    struct ynode *node;
};

struct error_entry {
    struct mark at;
    size_t seq;
    char *msg;
};

/* The private part of a loaded configuration: indexes by name. */
struct config_priv {
    struct config pub;   /* first: a struct config * is a config_priv * */
    size_t *check_order; /* indexes of named checks sorted by name */
    size_t ncheck_order;
    size_t *app_order;
    size_t napp_order;
    size_t *notifier_order;
    size_t nnotifier_order;
};

/* Everything one load works with. */
struct ctx {
    const char *name; /* file name used in messages */
    const char *buf;
    size_t len;

    struct error_entry *errs;
    size_t nerrs;
    size_t caperrs;
    size_t seq;
    bool stop;      /* too many errors or too much work */
    bool truncated; /* an error was dropped: CONFIG_MAX_ERRORS reached */
    bool oom;

    struct ynode **nodes; /* every node, for freeing */
    size_t nnodes;
    size_t capnodes;
    size_t entries; /* nodes plus aliases, against CONFIG_MAX_NODES */
    struct anchor *anchors;
    size_t nanchors;
    size_t visits;

    struct config_priv *priv;
    struct config *c;
};

/* ---------------------------------------------------------------- errors */

/* Record a message at a position, "FILE:LINE:COL: " prefixed. */
__attribute__((format(printf, 3, 4))) static void report(struct ctx *x, struct mark at,
                                                         const char *fmt, ...)
{
    if (x->nerrs >= CONFIG_MAX_ERRORS) {
        x->truncated = true;
        x->stop = true;
        return;
    }
    if (x->nerrs == x->caperrs) {
        size_t cap = x->caperrs ? x->caperrs * 2 : 16;
        struct error_entry *n = realloc(x->errs, cap * sizeof(*n));
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
    x->errs[x->nerrs++] = (struct error_entry){.at = at, .seq = x->seq++, .msg = msg};
}

/* Order errors by position, then by the order they were found. */
static int error_cmp(const void *a, const void *b)
{
    const struct error_entry *ea = a, *eb = b;
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
static int errors_move(struct ctx *x, struct config_errors *errs)
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

/* Free the messages in errs and zero it. */
void config_errors_finish(struct config_errors *errs)
{
    if (errs == NULL) {
        return;
    }
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->msgs[i]);
    }
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}

/* Write s into dst (size n) for a message: printable ASCII kept, anything
 * else escaped as \xNN, cut at max bytes with "...". */
static void sanitize(char *dst, size_t n, const char *s, size_t len, size_t max)
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
static const char *quote(char *dst, size_t n, const char *s)
{
    char inner[256];
    sanitize(inner, sizeof(inner), s, strlen(s), 64);
    snprintf(dst, n, "\"%s\"", inner);
    return dst;
}

/* ------------------------------------------------------------------ tree */

/* Create a node with room for a text of text_len bytes (plus NUL) and
 * remember it for freeing; NULL on ENOMEM. */
static struct ynode *node_new(struct ctx *x, enum ynode_type type, const yaml_mark_t *m,
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
    n->at = (struct mark){(int)m->line + 1, (int)m->column + 1};
    x->nodes[x->nnodes++] = n;
    return n;
}

/* Append kid, written at at, to a collection; 0 or -ENOMEM. */
static int node_append(struct ynode *parent, struct ynode *kid, struct mark at)
{
    if (parent->n == parent->cap) {
        uint32_t cap = parent->cap ? parent->cap * 2 : 4;
        struct ynode **v = realloc(parent->kids, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        parent->kids = v;
        struct mark *m = realloc(parent->kat, cap * sizeof(*m));
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

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* Register a completed node under an anchor name; 0, -ENOMEM, or -E2BIG. */
static int anchor_add(struct ctx *x, const char *name, struct ynode *node)
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
    x->anchors[x->nanchors++] =
        (struct anchor){.name = copy, .hash = fnv(FNV_INIT, name, strlen(name)), .node = node};
    return 0;
}

/* The node an alias refers to (the latest anchor of that name), or NULL. */
static struct ynode *anchor_find(struct ctx *x, const char *name)
{
    uint64_t h = fnv(FNV_INIT, name, strlen(name));
    for (size_t i = x->nanchors; i-- > 0;) {
        if (x->anchors[i].hash == h && strcmp(x->anchors[i].name, name) == 0) {
            return x->anchors[i].node;
        }
    }
    return NULL;
}

/* Report a libyaml error with its problem text and position. */
static void report_yaml(struct ctx *x, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        x->oom = true;
        return;
    }
    const char *problem = p->problem ? p->problem : "YAML syntax error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark. */
        struct mark at = {1, 1};
        for (size_t i = 0; i < p->problem_offset && i < x->len; i++) {
            if (x->buf[i] == '\n') {
                at.line++;
                at.col = 1;
            } else {
                at.col++;
            }
        }
        if (p->problem_value >= 0) {
            report(x, at, "%s (byte 0x%02x)", problem, (unsigned)p->problem_value & 0xff);
        } else {
            report(x, at, "%s", problem);
        }
        return;
    }
    struct mark at = {(int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1};
    if (p->context != NULL) {
        report(x, at, "%s (%s at line %d)", problem, p->context, (int)p->context_mark.line + 1);
    } else {
        report(x, at, "%s", problem);
    }
}

/* Parse buf into a tree. Returns the root (NULL for an empty stream) in
 * *root; 0, -EINVAL after reporting, or -ENOMEM. Nodes belong to x. */
static int tree_build(struct ctx *x, struct ynode **root)
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
        struct mark at = {(int)m->line + 1, (int)m->column + 1};
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                report(x, at, "only one YAML document is allowed");
                rc = -EINVAL;
                done = true;
            }
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (++x->entries > CONFIG_MAX_NODES) {
                report(x, at, "too many YAML nodes (limit %d)", CONFIG_MAX_NODES);
                rc = -EINVAL;
                done = true;
                break;
            }
            if (ev.type == YAML_ALIAS_EVENT) {
                n = anchor_find(x, (const char *)ev.data.alias.anchor);
                if (n == NULL) {
                    char name[160];
                    const char *a = (const char *)ev.data.alias.anchor;
                    sanitize(name, sizeof(name), a, strlen(a), 64);
                    report(x, at, "unknown alias *%s", name);
                    rc = -EINVAL;
                    done = true;
                    break;
                }
            } else if (ev.type == YAML_SCALAR_EVENT) {
                size_t len = ev.data.scalar.length;
                if (memchr(ev.data.scalar.value, '\0', len) != NULL) {
                    report(x, at, "NUL character in a value");
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
                    report(x, at, "nesting deeper than %d levels", CONFIG_MAX_DEPTH);
                    rc = -EINVAL;
                    done = true;
                    break;
                }
                stack[depth++] = n;
            } else if (anchor != NULL) {
                int arc = anchor_add(x, anchor, n);
                if (arc == -E2BIG) {
                    report(x, at, "too many anchors (limit %d)", CONFIG_MAX_ANCHORS);
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
                        report(x, n->at, "too many anchors (limit %d)", CONFIG_MAX_ANCHORS);
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
static void tree_free(struct ctx *x)
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
static bool visit(struct ctx *x, struct mark at)
{
    if (x->stop) {
        return false;
    }
    if (++x->visits > CONFIG_MAX_VISITS) {
        report(x, at, "aliases expand to more than %d nodes", CONFIG_MAX_VISITS);
        x->stop = true;
        return false;
    }
    return true;
}

/* ------------------------------------------------------- env expansion */

/* Expand ${VAR}, ${VAR:-default} and $$ in s. Returns 0 and *out (malloc'd,
 * caller frees), or -EINVAL with a reason in err, or -ENOMEM. A '$' followed
 * by anything else is kept as is. */
static int expand(const char *s, size_t len, char **out, char *err, size_t errlen)
{
    size_t cap = len + 1, o = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
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
                    free(buf);
                    return -EINVAL;
                }
                def_len = (size_t)(close - def);
                j = (size_t)(close - s);
            } else if (j >= len || memchr(s + i, '}', len - i) == NULL) {
                snprintf(err, errlen, "unterminated ${ (write $$ for a literal $)");
                free(buf);
                return -EINVAL;
            } else if (s[j] != '}') {
                snprintf(err, errlen, "bad ${...}: use ${NAME} or ${NAME:-default}");
                free(buf);
                return -EINVAL;
            }
            if (name_len == 0 || name_len > 255) {
                snprintf(err, errlen, "bad variable name in ${...}");
                free(buf);
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
                free(buf);
                return -EINVAL;
            } else {
                piece = v;
                plen = strlen(v);
            }
            i = j + 1;
        } else {
            i++;
        }
        if (o + plen > CONFIG_MAX_VALUE) {
            snprintf(err, errlen, "value longer than %d bytes", CONFIG_MAX_VALUE);
            free(buf);
            return -EINVAL;
        }
        if (o + plen + 1 > cap) {
            size_t ncap = cap * 2 > o + plen + 1 ? cap * 2 : o + plen + 1;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + o, piece, plen);
        o += plen;
    }
    buf[o] = '\0';
    *out = buf;
    return 0;
}

/* ------------------------------------------------------- scalar values */

/* True when n is a YAML null: an empty, ~ or null plain scalar. */
static bool is_null(const struct ynode *n)
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
static int scalar_get(struct ctx *x, const struct ynode *v, struct mark at, const char *path,
                      const char *what, bool empty_is_null, char **out)
{
    *out = NULL;
    if (!visit(x, at)) {
        return -1;
    }
    if (is_null(v)) {
        return 1;
    }
    if (v->type != YN_SCALAR) {
        report(x, at, "%s: expected %s", path, what);
        return -1;
    }
    char err[300];
    int rc = expand(v->text, v->len, out, err, sizeof(err));
    if (rc == -ENOMEM) {
        x->oom = true;
        x->stop = true;
        return -1;
    }
    if (rc < 0) {
        report(x, at, "%s: %s", path, err);
        return -1;
    }
    if (empty_is_null && **out == '\0') {
        free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

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
static const char *v_name(const char *s)
{
    if (strlen(s) > CONFIG_MAX_NAME) {
        return "too long (at most 128 bytes)";
    }
    return has_control(s, false) ? "control characters are not allowed" : NULL;
}

/* Free text on one line. */
static const char *v_text(const char *s)
{
    return has_control(s, false) ? "control characters are not allowed" : NULL;
}

/* A token or key: no spaces, no control characters. */
static const char *v_secret(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            return "must not contain spaces or control characters";
        }
    }
    return NULL;
}

/* Where Redis listens: redis://[:password@]host[:port][/db] or unix:///path. */
static const char *v_redis_url(const char *s)
{
    if (strncmp(s, "rediss://", 9) == 0) {
        return "TLS to Redis (rediss://) is not supported; use a local tunnel";
    }
    if (strncmp(s, "redis://", 8) != 0 && strncmp(s, "unix:///", 8) != 0) {
        return "expected redis://[:password@]host[:port][/db] or unix:///path";
    }
    const char *why = v_secret(s);
    if (why != NULL) {
        return why;
    }
    /* The daemon's own parser, so --check-config refuses what start would
     * (a bad port or db). The reason never holds the password. */
    static char reason[200];
    struct cluster_url u;
    return cluster_url_parse(s, &u, reason, sizeof(reason)) < 0 ? reason : NULL;
}

/* An http:// or https:// URL. */
static const char *v_http_url(const char *s)
{
    size_t n = strncasecmp(s, "http://", 7) == 0 ? 7 : strncasecmp(s, "https://", 8) == 0 ? 8 : 0;
    if (n == 0 || s[n] == '\0' || v_secret(s) != NULL) {
        return "expected an http:// or https:// URL";
    }
    return NULL;
}

/* An HTTP method. */
static const char *v_method(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 16 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n) {
        return "expected an HTTP method in capitals, such as GET, HEAD or POST";
    }
    return NULL;
}

/* A heartbeat token: it becomes part of a URL path. */
static const char *v_token(const char *s)
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
static const char *v_listen(const char *s)
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
static const char *v_socket(const char *s)
{
    if (strlen(s) > CONFIG_SUN_PATH_MAX) {
        return "path too long for a Unix socket (at most 107 bytes)";
    }
    return v_text(s);
}

/* A file path. */
static const char *v_path(const char *s)
{
    if (strlen(s) >= PATH_MAX) {
        return "path too long";
    }
    return v_text(s);
}

/* ---------------------------------------------------------------- fields */

struct field;

/* Parse the value of one key into base. at is the key's position. Returns
 * 0 when set, 1 when null (absent), -1 after reporting an error. */
typedef int (*field_fn)(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                        const char *path, void *base);

/* One known key of a mapping. */
struct field {
    const char *key;
    field_fn parse;
    size_t off;                          /* where the value goes in base */
    size_t off2;                         /* the count, for lists */
    int64_t min, max;                    /* numbers, durations, sizes; max items for lists */
    const char *const *choices;          /* enumerations, NULL-terminated */
    const char *(*valid)(const char *s); /* extra check on strings and list items */
    unsigned kinds;                      /* check kinds the key applies to; 0 = all */
    const struct field *sub;             /* nested mapping */
    size_t nsub;
};

/* What parse_fields learned about each key of a table. */
struct fstate {
    struct mark at; /* the key's position */
    bool seen;      /* key present (even if null or bad) */
    bool set;       /* a value was stored */
    bool bad;       /* an error was reported for it */
};

#define AT(base, off, type) ((type *)((char *)(base) + (off)))

/* path + "." + key (or key alone at the top), key sanitized. */
static void path_key(char *dst, size_t n, const char *parent, const char *key, size_t klen)
{
    char k[300];
    sanitize(k, sizeof(k), key, klen, 64);
    if (parent[0] == '\0') {
        snprintf(dst, n, "%s", k);
    } else {
        snprintf(dst, n, "%s.%s", parent, k);
    }
}

/* Format a path into dst (size n), truncating silently. */
__attribute__((format(printf, 3, 4))) static void pathf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* path + "[i]". */
static void path_index(char *dst, size_t n, const char *parent, size_t i)
{
    snprintf(dst, n, "%s[%zu]", parent, i);
}

/* A string: length and f->valid checked, empty is absent. */
static int p_str(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                 const char *path, void *base)
{
    char *s;
    int rc = scalar_get(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    const char *why = f->valid ? f->valid(s) : NULL;
    if (why != NULL) {
        report(x, at, "%s: %s", path, why);
        free(s);
        return -1;
    }
    *AT(base, f->off, char *) = s;
    return 0;
}

/* One of f->choices, stored as a string. */
static int p_enum(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    char *s;
    int rc = scalar_get(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        if (strcmp(s, f->choices[i]) == 0) {
            *AT(base, f->off, char *) = s;
            return 0;
        }
    }
    char list[256] = "", q[300];
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", f->choices[i]);
    }
    report(x, at, "%s: unknown %s %s (%s)", path, f->key, quote(q, sizeof(q), s), list);
    free(s);
    return -1;
}

/* A check's locations: "one" (default) or "all". */
static int p_locations(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                       const char *path, void *base)
{
    struct field e = *f;
    char *choice = NULL;
    e.off = 0;
    int rc = p_enum(x, &e, v, at, path, &choice);
    if (rc == 0) {
        ((struct conf_check *)base)->locations_all = strcmp(choice, "all") == 0;
    }
    free(choice);
    return rc;
}

/* A duration in [min, max] milliseconds. */
static int p_duration(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                      const char *path, void *base)
{
    char *s;
    int rc = scalar_get(x, v, at, path, "a duration (500ms, 30s, 5m, 24h, 14d)", true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t ms;
    char q[300], b[64];
    int prc = duration_parse(s, &ms);
    if (prc == -ERANGE) {
        report(x, at, "%s: duration %s is too large", path, quote(q, sizeof(q), s));
        rc = -1;
    } else if (prc < 0) {
        report(x, at, "%s: bad duration %s (use 500ms, 30s, 5m, 24h, 14d)", path,
               quote(q, sizeof(q), s));
        rc = -1;
    } else if (ms < f->min) {
        report(x, at, "%s: must be at least %s", path, duration_format(f->min, b, sizeof(b)));
        rc = -1;
    } else if (f->max > 0 && ms > f->max) {
        report(x, at, "%s: must be at most %s", path, duration_format(f->max, b, sizeof(b)));
        rc = -1;
    } else {
        *AT(base, f->off, int64_t) = ms;
    }
    free(s);
    return rc;
}

/* An int in [min, max]. */
static int p_int(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                 const char *path, void *base)
{
    char what[96];
    snprintf(what, sizeof(what), "an integer from %lld to %lld", (long long)f->min,
             (long long)f->max);
    char *s;
    int rc = scalar_get(x, v, at, path, what, true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t n;
    if (parse_number(s, false, &n) < 0 || n < f->min || n > f->max) {
        report(x, at, "%s: expected %s", path, what);
        free(s);
        return -1;
    }
    *AT(base, f->off, int) = (int)n;
    free(s);
    return 0;
}

/* A size in bytes in [min, max], KiB/MiB/GiB suffixes allowed. */
static int p_size(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    char what[128], lo[32], hi[32];
    snprintf(what, sizeof(what), "a size from %s to %s bytes (such as 65536, 64KiB or 1MiB)",
             size_text(lo, sizeof(lo), f->min), size_text(hi, sizeof(hi), f->max));
    char *s;
    int rc = scalar_get(x, v, at, path, what, true, &s);
    if (rc != 0) {
        return rc;
    }
    int64_t n;
    if (parse_number(s, true, &n) < 0 || n < f->min || n > f->max) {
        report(x, at, "%s: expected %s", path, what);
        free(s);
        return -1;
    }
    *AT(base, f->off, size_t) = (size_t)n;
    free(s);
    return 0;
}

/* Parse a boolean value; 0 and *b, 1 null, -1 reported. */
static int get_bool(struct ctx *x, const struct ynode *v, struct mark at, const char *path, bool *b)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    char *s;
    int rc = scalar_get(x, v, at, path, "a boolean", true, &s);
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
    report(x, at, "%s: expected a boolean", path);
    free(s);
    return -1;
}

/* A boolean. */
static int p_bool(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    bool b;
    int rc = get_bool(x, v, at, path, &b);
    if (rc == 0) {
        *AT(base, f->off, bool) = b;
    }
    return rc;
}

/* A boolean stored negated ("enabled: false" sets paused). */
static int p_notbool(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                     const char *path, void *base)
{
    bool b;
    int rc = get_bool(x, v, at, path, &b);
    if (rc == 0) {
        *AT(base, f->off, bool) = !b;
    }
    return rc;
}

/* Free a vector of n strings (NULL entries allowed) and the vector. */
static void strv_free(char **v, size_t n)
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
static int get_strings(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                       const char *path, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (is_null(v)) {
        return visit(x, at) ? 1 : -1;
    }
    const struct ynode *single = v->type == YN_SCALAR ? v : NULL;
    if (single == NULL && v->type != YN_SEQ) {
        report(x, at, "%s: expected a list", path);
        return -1;
    }
    size_t count = single ? 1 : v->n;
    if (f->max > 0 && count > (size_t)f->max) {
        report(x, at, "%s: too many items (limit %lld)", path, (long long)f->max);
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
        struct mark iat = single ? at : v->kat[i];
        if (single) {
            snprintf(ipath, sizeof(ipath), "%s", path);
        } else {
            path_index(ipath, sizeof(ipath), path, i);
        }
        if (item->type != YN_SCALAR) {
            visit(x, iat);
            report(x, iat, "%s: expected a string", ipath);
            bad = true;
            continue;
        }
        char *s;
        int rc = scalar_get(x, item, iat, ipath, "a string", false, &s);
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
            report(x, iat, "%s: %s", ipath, why);
            free(s);
            bad = true;
            continue;
        }
        vec[i] = s;
    }
    if (bad || x->stop) {
        strv_free(vec, count);
        return -1;
    }
    *out = vec;
    *n = count;
    return 0;
}

/* A list of strings: char ** at off, size_t at off2. */
static int p_list(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    char **vec;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &vec, &n);
    if (rc == 0) {
        *AT(base, f->off, char **) = vec;
        *AT(base, f->off2, size_t) = n;
    }
    return rc;
}

/* Report s as not one of f->choices. */
static void report_choice(struct ctx *x, const struct field *f, struct mark at, const char *path,
                          const char *s)
{
    char list[256] = "", q[300];
    for (size_t i = 0; f->choices[i] != NULL; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", f->choices[i]);
    }
    report(x, at, "%s: unknown %s %s (%s)", path, f->key, quote(q, sizeof(q), s), list);
}

static ssize_t choice_find(const struct field *f, const char *s)
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
static int p_flags(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                   const char *path, void *base)
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
    strv_free(vec, n);
    if (rc == 0 && bits == 0) {
        report(x, at, "%s: needs at least one item", path);
        rc = -1;
    }
    if (rc == 0) {
        *AT(base, f->off, unsigned) = bits;
    }
    return rc;
}

/* One of f->choices, stored as its index (an int) at off. */
static int p_index(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                   const char *path, void *base)
{
    char *s;
    int rc = scalar_get(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    ssize_t c = choice_find(f, s);
    if (c < 0) {
        report_choice(x, f, at, path, s);
        rc = -1;
    } else {
        *AT(base, f->off, int) = (int)c;
    }
    free(s);
    return rc;
}

/* A time of day "HH:MM" (24 h), stored as minutes after midnight (int). */
static int p_clock(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                   const char *path, void *base)
{
    char *s;
    int rc = scalar_get(x, v, at, path, "a time of day (HH:MM)", true, &s);
    if (rc != 0) {
        return rc;
    }
    bool ok = strlen(s) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
              s[2] == ':' && isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4]);
    int h = ok ? (s[0] - '0') * 10 + (s[1] - '0') : 0;
    int m = ok ? (s[3] - '0') * 10 + (s[4] - '0') : 0;
    if (!ok || h > 23 || m > 59) {
        char q[300];
        report(x, at, "%s: bad time of day %s (use HH:MM, 00:00 to 23:59)", path,
               quote(q, sizeof(q), s));
        rc = -1;
    } else {
        *AT(base, f->off, int) = h * 60 + m;
    }
    free(s);
    return rc;
}

/* A command: argv, NULL-terminated, at least one word, argv[0] not empty. */
static int p_argv(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    char **vec;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &vec, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0 || vec[0][0] == '\0') {
        report(x, at, "%s: needs a program to run", path);
        strv_free(vec, n);
        return -1;
    }
    *AT(base, f->off, char **) = vec;
    *AT(base, f->off2, size_t) = n;
    return 0;
}

/* HTTP headers: a mapping of name to value, names unique ignoring case. */
static int p_headers(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                     const char *path, void *base)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (is_null(v)) {
        return visit(x, at) ? 1 : -1;
    }
    if (v->type != YN_MAP) {
        report(x, at, "%s: expected a mapping", path);
        return -1;
    }
    size_t count = v->n / 2;
    if (count > (size_t)f->max) {
        report(x, at, "%s: too many headers (limit %lld)", path, (long long)f->max);
        return -1;
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
        if (!visit(x, k->at)) {
            break;
        }
        if (k->type != YN_SCALAR) {
            report(x, k->at, "%s: header names must be strings", path);
            bad = true;
            continue;
        }
        path_key(hpath, sizeof(hpath), path, k->text, k->len);
        if (k->len == 0 || k->len > 256 || strspn(k->text, tchar) != k->len) {
            char q[300];
            report(x, k->at, "%s: bad header name %s", path, quote(q, sizeof(q), k->text));
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
            report(x, k->at, "%s: duplicate header", hpath);
            bad = true;
            continue;
        }
        char *s;
        int rc = scalar_get(x, val, k->at, hpath, "a string", false, &s);
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
            report(x, k->at, "%s: control characters are not allowed", hpath);
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
    *AT(base, f->off, struct conf_header *) = h;
    *AT(base, f->off2, size_t) = nh;
    return 0;
}

/* Conditions of a check: texts and their parsed form. */
static int p_conds(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                   const char *path, void *base)
{
    struct conf_check *k = base;
    char **texts;
    size_t n;
    int rc = get_strings(x, f, v, at, path, &texts, &n);
    if (rc != 0) {
        return rc;
    }
    struct cond **conds = calloc(n + 1, sizeof(*conds));
    if (conds == NULL) {
        strv_free(texts, n);
        x->oom = true;
        x->stop = true;
        return -1;
    }
    bool bad = false;
    for (size_t i = 0; i < n; i++) {
        char err[256] = "";
        char ipath[PATH_BUF];
        struct mark iat = at;
        if (v->type == YN_SEQ) {
            path_index(ipath, sizeof(ipath), path, i);
            iat = v->kat[i];
        } else {
            pathf(ipath, sizeof(ipath), "%s", path);
        }
        if (texts[i][0] == '\0') {
            report(x, iat, "%s: must not be empty", ipath);
            bad = true;
        } else if (cond_parse(texts[i], &conds[i], err, sizeof(err)) < 0) {
            report(x, iat, "%s: bad condition: %s", ipath, err[0] ? err : "cannot parse");
            conds[i] = NULL;
            bad = true;
        }
    }
    if (bad) {
        for (size_t i = 0; i < n; i++) {
            cond_free(conds[i]);
        }
        free(conds);
        strv_free(texts, n);
        return -1;
    }
    k->conditions = texts;
    k->conds = conds;
    k->nconditions = n;
    return 0;
}

static void parse_fields(struct ctx *x, const struct ynode *m, const char *path,
                         const struct field *fields, size_t nfields, void *base, struct fstate *st,
                         unsigned kind_bit, const char *kind_name);

/* A nested mapping described by f->sub, into the same base. */
static int p_map(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                 const char *path, void *base)
{
    if (is_null(v)) {
        return visit(x, at) ? 1 : -1;
    }
    if (v->type != YN_MAP) {
        visit(x, at);
        report(x, at, "%s: expected a mapping", path);
        return -1;
    }
    struct fstate st[8] = {0};
    parse_fields(x, v, path, f->sub, f->nsub, base, st, 0, NULL);
    return 0;
}

/* Find a key in a table; its index or -1. */
static ssize_t field_find(const struct field *fields, size_t n, const struct ynode *k)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(fields[i].key) == k->len && memcmp(fields[i].key, k->text, k->len) == 0) {
            return (ssize_t)i;
        }
    }
    return -1;
}

/* Walk the pairs of mapping m, parse every known key into base, report
 * unknown and duplicate keys. kind_bit restricts keys that carry kinds (a
 * check's type); 0 accepts them all. st has one entry per field. */
static void parse_fields(struct ctx *x, const struct ynode *m, const char *path,
                         const struct field *fields, size_t nfields, void *base, struct fstate *st,
                         unsigned kind_bit, const char *kind_name)
{
    for (size_t i = 0; i + 1 < m->n && !x->stop; i += 2) {
        const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
        if (!visit(x, k->at)) {
            return;
        }
        if (k->type != YN_SCALAR) {
            report(x, k->at, "%s: keys must be strings", path[0] ? path : "top level");
            continue;
        }
        char kpath[PATH_BUF];
        path_key(kpath, sizeof(kpath), path, k->text, k->len);
        ssize_t fi = field_find(fields, nfields, k);
        if (fi < 0) {
            report(x, k->at, "%s: unknown key", kpath);
            continue;
        }
        const struct field *f = &fields[fi];
        struct fstate *s = &st[fi];
        if (s->seen) {
            report(x, k->at, "%s: duplicate key (first at line %d)", kpath, s->at.line);
            continue;
        }
        s->seen = true;
        s->at = k->at;
        if (f->kinds != 0 && kind_bit != 0 && (f->kinds & kind_bit) == 0) {
            report(x, k->at, "%s: not a key of %s checks", kpath, kind_name);
            s->bad = true;
            continue;
        }
        int rc = f->parse(x, f, v, k->at, kpath, base);
        s->set = rc == 0;
        s->bad = rc < 0;
    }
}

/* ------------------------------------------------------------- sections */

#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))
#define KB(n) ((int64_t)(n)*1024)
#define MB(n) ((int64_t)(n)*1024 * 1024)
#define SEC(n) ((int64_t)(n)*1000)
#define HOUR(n) ((int64_t)(n)*3600 * 1000)

#define CO(m) offsetof(struct config, m)

static const struct field daemon_fields[] = {
    {.key = "socket", .parse = p_str, .off = CO(daemon.socket), .valid = v_socket},
    {.key = "http",
     .parse = p_list,
     .off = CO(daemon.http),
     .off2 = CO(daemon.nhttp),
     .min = 1,
     .max = 16,
     .valid = v_listen},
    {.key = "admins",
     .parse = p_list,
     .off = CO(daemon.admins),
     .off2 = CO(daemon.nadmins),
     .min = 1,
     .max = 1000,
     .valid = v_name},
    {.key = "max-concurrency",
     .parse = p_int,
     .off = CO(daemon.max_concurrency),
     .min = 1,
     .max = 100000},
    {.key = "drain-timeout",
     .parse = p_duration,
     .off = CO(daemon.drain_timeout_ms),
     .max = SEC(3600)},
    {.key = "ipc-max-message",
     .parse = p_size,
     .off = CO(daemon.ipc_max_message),
     .min = KB(4),
     .max = MB(64)},
    {.key = "github-secret",
     .parse = p_str,
     .off = CO(daemon.github_secret),
     .valid = v_text},
    {.key = "deploy-token", .parse = p_str, .off = CO(daemon.deploy_token), .valid = v_secret},
    {.key = "deploy-secret", .parse = p_str, .off = CO(daemon.deploy_secret), .valid = v_secret},
    {.key = "auto-register-apps", .parse = p_bool, .off = CO(daemon.auto_register_apps)},
    {.key = "ipc-max-queue",
     .parse = p_size,
     .off = CO(daemon.ipc_max_queue),
     .min = KB(64),
     .max = MB(256)},
};

static const char *const drivers[] = {"sqlite", "postgres", NULL};

static const struct field retention_fields[] = {
    {.key = "raw", .parse = p_duration, .off = CO(storage.retention_raw_ms), .min = SEC(3600)},
    {.key = "rollups",
     .parse = p_duration,
     .off = CO(storage.retention_rollups_ms),
     .min = SEC(3600)},
};

enum { STORAGE_DRIVER, STORAGE_PATH, STORAGE_DSN, STORAGE_RETENTION, STORAGE_SPOOL };

static const struct field storage_fields[] = {
    [STORAGE_DRIVER] = {.key = "driver",
                        .parse = p_enum,
                        .off = CO(storage.driver),
                        .choices = drivers},
    [STORAGE_PATH] = {.key = "path", .parse = p_str, .off = CO(storage.path), .valid = v_path},
    [STORAGE_DSN] = {.key = "dsn", .parse = p_str, .off = CO(storage.dsn), .valid = v_text},
    [STORAGE_RETENTION] = {.key = "retention",
                           .parse = p_map,
                           .sub = retention_fields,
                           .nsub = NFIELDS(retention_fields)},
    [STORAGE_SPOOL] = {.key = "spool", .parse = p_str, .off = CO(storage.spool), .valid = v_path},
    {.key = "pool", .parse = p_int, .off = CO(storage.pool), .min = 1, .max = 64},
    {.key = "batch", .parse = p_int, .off = CO(storage.batch), .min = 1, .max = 100000},
    {.key = "queue",
     .parse = p_size,
     .off = CO(storage.queue),
     .min = 1000,
     .max = 10000000},
    {.key = "spool-max",
     .parse = p_size,
     .off = CO(storage.spool_max_bytes),
     .min = MB(1),
     .max = MB(1024) * 1024},
};

static const struct field redis_fields[] = {
    /* first: finish_cluster reads its state */
    {.key = "url", .parse = p_str, .off = CO(redis.url), .valid = v_redis_url},
    {.key = "prefix", .parse = p_str, .off = CO(redis.prefix), .valid = v_name},
};

/* Top-level scalars. */
enum { ROOT_CLUSTER, ROOT_NODE_NAME };
static const struct field root_fields[] = {
    [ROOT_CLUSTER] = {.key = "cluster", .parse = p_str, .off = CO(cluster), .valid = v_name},
    [ROOT_NODE_NAME] = {.key = "node-name",
                        .parse = p_str,
                        .off = CO(node_name),
                        .valid = v_name},
};

static const struct field defaults_fields[] = {
    {.key = "interval", .parse = p_duration, .off = CO(defaults.interval_ms), .min = 100},
    {.key = "timeout", .parse = p_duration, .off = CO(defaults.timeout_ms), .min = 1},
    {.key = "failure-threshold",
     .parse = p_int,
     .off = CO(defaults.failure_threshold),
     .min = 1,
     .max = 1000},
    {.key = "success-threshold",
     .parse = p_int,
     .off = CO(defaults.success_threshold),
     .min = 1,
     .max = 1000},
};

#define AO(m) offsetof(struct conf_app, m)

static const struct field verify_fields[] = {
    {.key = "window", .parse = p_duration, .off = AO(verify_window_ms), .min = SEC(1)},
    {.key = "interval", .parse = p_duration, .off = AO(verify_interval_ms), .min = 100},
    {.key = "start-timeout",
     .parse = p_duration,
     .off = AO(verify_start_timeout_ms),
     .min = SEC(1)},
};

enum { APP_NAME };

static const struct field app_fields[] = {
    [APP_NAME] = {.key = "name", .parse = p_str, .off = AO(name), .valid = v_name},
    {.key = "deploy-token", .parse = p_str, .off = AO(deploy_token), .valid = v_secret},
    {.key = "deploy-secret", .parse = p_str, .off = AO(deploy_secret), .valid = v_secret},
    {.key = "github-repo", .parse = p_str, .off = AO(github_repo), .valid = v_secret},
    {.key = "verify", .parse = p_map, .sub = verify_fields, .nsub = NFIELDS(verify_fields)},
};

#define KO(m) offsetof(struct conf_check, m)
#define HTTP (1u << CHECK_HTTP)
#define TCP (1u << CHECK_TCP)
#define EXEC (1u << CHECK_EXEC)
#define HEARTBEAT (1u << CHECK_HEARTBEAT)

static const char *const check_type_names[] = {
    [CHECK_HTTP] = "http",
    [CHECK_TCP] = "tcp",
    [CHECK_EXEC] = "exec",
    [CHECK_HEARTBEAT] = "heartbeat",
    NULL,
};

/* A check's type: sets kind and type_name. */
static int p_type(struct ctx *x, const struct field *f, const struct ynode *v, struct mark at,
                  const char *path, void *base)
{
    struct conf_check *k = base;
    char *s = NULL;
    int rc = scalar_get(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; check_type_names[i] != NULL; i++) {
        if (strcmp(s, check_type_names[i]) == 0) {
            k->kind = (enum check_kind)i;
            k->type_name = check_type_names[i];
            free(s);
            return 0;
        }
    }
    char q[300];
    report(x, at, "%s: unknown type %s (http, tcp, exec, heartbeat)", path, quote(q, sizeof(q), s));
    free(s);
    return -1;
}

enum {
    CK_NAME,
    CK_TYPE,
    CK_INTERVAL,
    CK_TIMEOUT,
    CK_FAILURE,
    CK_SUCCESS,
    CK_URL,
    CK_HOST,
    CK_PORT,
    CK_COMMAND,
    CK_TOKEN,
    CK_PERIOD,
    CK_DEPENDS,
    CK_LOCATIONS,
    CK_QUORUM,
};

static const char *const check_locations[] = {"one", "all", NULL};

static const struct field check_fields[] = {
    [CK_NAME] = {.key = "name", .parse = p_str, .off = KO(name), .valid = v_name},
    [CK_TYPE] = {.key = "type", .parse = p_type},
    [CK_INTERVAL] = {.key = "interval", .parse = p_duration, .off = KO(interval_ms), .min = 100},
    [CK_TIMEOUT] = {.key = "timeout",
                    .parse = p_duration,
                    .off = KO(timeout_ms),
                    .min = 1,
                    .kinds = HTTP | TCP | EXEC},
    [CK_FAILURE] = {.key = "failure-threshold",
                    .parse = p_int,
                    .off = KO(failure_threshold),
                    .min = 1,
                    .max = 1000},
    [CK_SUCCESS] = {.key = "success-threshold",
                    .parse = p_int,
                    .off = KO(success_threshold),
                    .min = 1,
                    .max = 1000},
    [CK_URL] = {.key = "url", .parse = p_str, .off = KO(url), .valid = v_http_url, .kinds = HTTP},
    [CK_HOST] = {.key = "host", .parse = p_str, .off = KO(host), .valid = v_secret, .kinds = TCP},
    [CK_PORT] =
        {.key = "port", .parse = p_int, .off = KO(port), .min = 1, .max = 65535, .kinds = TCP},
    [CK_COMMAND] = {.key = "command",
                    .parse = p_argv,
                    .off = KO(argv),
                    .off2 = KO(argc),
                    .max = 1024,
                    .kinds = EXEC},
    [CK_TOKEN] =
        {.key = "token", .parse = p_str, .off = KO(token), .valid = v_token, .kinds = HEARTBEAT},
    [CK_PERIOD] = {.key = "period",
                   .parse = p_duration,
                   .off = KO(period_ms),
                   .min = SEC(1),
                   .kinds = HEARTBEAT},
    [CK_DEPENDS] = {.key = "depends-on",
                    .parse = p_list,
                    .off = KO(depends_on),
                    .off2 = KO(ndepends_on),
                    .max = 100,
                    .valid = v_name},
    [CK_LOCATIONS] = {.key = "locations", .parse = p_locations, .choices = check_locations},
    [CK_QUORUM] = {.key = "quorum", .parse = p_int, .off = KO(quorum), .min = 1, .max = 64},
    {.key = "app", .parse = p_str, .off = KO(app), .valid = v_name},
    {.key = "env", .parse = p_str, .off = KO(env), .valid = v_name},
    {.key = "enabled", .parse = p_notbool, .off = KO(paused)},
    {.key = "conditions", .parse = p_conds, .max = 100, .kinds = HTTP | TCP | EXEC},
    {.key = "method", .parse = p_str, .off = KO(method), .valid = v_method, .kinds = HTTP},
    {.key = "headers",
     .parse = p_headers,
     .off = KO(headers),
     .off2 = KO(nheaders),
     .max = 100,
     .kinds = HTTP},
    {.key = "body", .parse = p_str, .off = KO(body), .kinds = HTTP},
    {.key = "follow-redirects", .parse = p_bool, .off = KO(follow_redirects), .kinds = HTTP},
    {.key = "verify-tls", .parse = p_bool, .off = KO(verify_tls), .kinds = HTTP},
    {.key = "max-body",
     .parse = p_size,
     .off = KO(max_body_bytes),
     .min = 1,
     .max = MB(16),
     .kinds = HTTP},
    {.key = "max-output",
     .parse = p_size,
     .off = KO(max_output_bytes),
     .min = 1,
     .max = MB(16),
     .kinds = EXEC},
    {.key = "grace", .parse = p_duration, .off = KO(grace_ms), .kinds = HEARTBEAT},
};

#define NO(m) offsetof(struct conf_notifier, m)

static const char *const notifier_types[] = {
    "webhook", "slack", "discord", "email", "exec", "alertmanager", "ntfy", NULL,
};

enum { NT_NAME, NT_TYPE, NT_URL, NT_COMMAND, NT_FROM, NT_TO, NT_TLS };

/* In the order of enum conf_tls. */
static const char *const tls_modes[] = {"auto", "required", "none", NULL};

static const struct field notifier_fields[] = {
    [NT_NAME] = {.key = "name", .parse = p_str, .off = NO(name), .valid = v_name},
    [NT_TYPE] = {.key = "type", .parse = p_enum, .off = NO(type), .choices = notifier_types},
    [NT_URL] = {.key = "url", .parse = p_str, .off = NO(url), .valid = v_secret},
    [NT_COMMAND] =
        {.key = "command", .parse = p_argv, .off = NO(argv), .off2 = NO(argc), .max = 1024},
    [NT_FROM] = {.key = "from", .parse = p_str, .off = NO(from), .valid = v_text},
    [NT_TO] = {.key = "to",
               .parse = p_list,
               .off = NO(to),
               .off2 = NO(nto),
               .min = 1,
               .max = 100,
               .valid = v_text},
    [NT_TLS] = {.key = "tls", .parse = p_index, .off = NO(tls), .choices = tls_modes},
    {.key = "timeout", .parse = p_duration, .off = NO(timeout_ms), .min = 100, .max = HOUR(1)},
    {.key = "retry-initial", .parse = p_duration, .off = NO(retry_initial_ms), .min = 10},
    {.key = "retry-max", .parse = p_duration, .off = NO(retry_max_ms), .min = 10},
    {.key = "max-age", .parse = p_duration, .off = NO(max_age_ms), .min = SEC(1)},
};

#define LO(m) offsetof(struct conf_alert, m)

static const char *const severities[] = {"critical", "warning", "info", NULL};

enum { AL_NOTIFY, AL_CHECK };

/* In the order of the bits of enum alert_on. */
static const char *const alert_kinds[] = {
    "down", "degraded", "heartbeat", "certificate", "deploy-failed", "flapping", NULL,
};

static const struct field flapping_fields[] = {
    {.key = "changes", .parse = p_int, .off = LO(flap_changes), .min = 2, .max = 1000},
    {.key = "window", .parse = p_duration, .off = LO(flap_window_ms), .min = SEC(1)},
};

static const struct field alert_fields[] = {
    [AL_NOTIFY] = {.key = "notify",
                   .parse = p_list,
                   .off = LO(notify),
                   .off2 = LO(nnotify),
                   .min = 1,
                   .max = 100,
                   .valid = v_name},
    [AL_CHECK] = {.key = "check", .parse = p_str, .off = LO(check), .valid = v_name},
    {.key = "severity", .parse = p_enum, .off = LO(severity), .choices = severities},
    {.key = "send-on-resolved", .parse = p_bool, .off = LO(send_on_resolved)},
    {.key = "repeat-interval", .parse = p_duration, .off = LO(repeat_interval_ms)},
    {.key = "app", .parse = p_str, .off = LO(app), .valid = v_name},
    {.key = "env", .parse = p_str, .off = LO(env), .valid = v_name},
    {.key = "on", .parse = p_flags, .off = LO(on), .choices = alert_kinds, .max = 16},
    {.key = "degraded-for", .parse = p_duration, .off = LO(degraded_for_ms)},
    {.key = "certificate-days", .parse = p_int, .off = LO(cert_days), .min = 1, .max = 3650},
    {.key = "flapping", .parse = p_map, .sub = flapping_fields, .nsub = NFIELDS(flapping_fields)},
};

#define MO(m) offsetof(struct conf_maintenance, m)

static const char *const weekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { MT_NAME, MT_CHECK, MT_START, MT_DURATION };

static const struct field maintenance_fields[] = {
    [MT_NAME] = {.key = "name", .parse = p_str, .off = MO(name), .valid = v_name},
    [MT_CHECK] = {.key = "check", .parse = p_str, .off = MO(check), .valid = v_name},
    [MT_START] = {.key = "start", .parse = p_clock, .off = MO(start_min)},
    [MT_DURATION] = {.key = "duration",
                     .parse = p_duration,
                     .off = MO(duration_ms),
                     .min = SEC(60),
                     .max = 7 * 24 * HOUR(1)},
    {.key = "app", .parse = p_str, .off = MO(app), .valid = v_name},
    {.key = "env", .parse = p_str, .off = MO(env), .valid = v_name},
    {.key = "days", .parse = p_flags, .off = MO(days), .choices = weekdays, .max = 7},
};

/* ---------------------------------------------------------- name index */

/* Sort names, then positions, so the first of duplicates comes first. */
static int index_cmp_names(const char *a, const char *b, size_t ia, size_t ib)
{
    int r = strcmp(a, b);
    if (r != 0) {
        return r;
    }
    return ia < ib ? -1 : ia > ib;
}

/* Build a sorted index of the named entries of an array: names are read at
 * name_off in items of size item_size. Returns NULL on ENOMEM (n = 0). */
static size_t *index_build(const void *items, size_t count, size_t item_size, size_t name_off,
                           size_t *n)
{
    *n = 0;
    size_t *idx = malloc((count ? count : 1) * sizeof(*idx));
    if (idx == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (*(char *const *)((const char *)items + i * item_size + name_off) != NULL) {
            idx[(*n)++] = i;
        }
    }
    /* Insertion-free sort: a merge sort keeps it O(n log n) without qsort
     * context pointers. */
    size_t *tmp = malloc((*n ? *n : 1) * sizeof(*tmp));
    if (tmp == NULL) {
        free(idx);
        *n = 0;
        return NULL;
    }
    for (size_t width = 1; width < *n; width *= 2) {
        for (size_t lo = 0; lo < *n; lo += 2 * width) {
            size_t mid = lo + width < *n ? lo + width : *n;
            size_t hi = lo + 2 * width < *n ? lo + 2 * width : *n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid || b < hi) {
                bool take_a;
                if (a >= mid) {
                    take_a = false;
                } else if (b >= hi) {
                    take_a = true;
                } else {
                    const char *na =
                        *(char *const *)((const char *)items + idx[a] * item_size + name_off);
                    const char *nb =
                        *(char *const *)((const char *)items + idx[b] * item_size + name_off);
                    take_a = index_cmp_names(na, nb, idx[a], idx[b]) <= 0;
                }
                tmp[o++] = take_a ? idx[a++] : idx[b++];
            }
        }
        memcpy(idx, tmp, *n * sizeof(*idx));
    }
    free(tmp);
    return idx;
}

/* Binary search a sorted index for name; the item index or -1. */
static ssize_t index_find(const void *items, size_t item_size, size_t name_off, const size_t *idx,
                          size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = *(char *const *)((const char *)items + idx[mid] * item_size + name_off);
        int r = strcmp(m, name);
        if (r == 0) {
            return (ssize_t)idx[mid];
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

/* Report every name that appears twice in a sorted index. at[i] is the
 * position of item i's name. */
static void report_duplicates(struct ctx *x, const void *items, size_t item_size, size_t name_off,
                              const size_t *idx, size_t n, const struct mark *at, const char *list,
                              const char *what)
{
    size_t first = 0; /* start of the current run of equal names: the earliest */
    for (size_t i = 1; i < n && !x->stop; i++) {
        const char *prev =
            *(char *const *)((const char *)items + idx[i - 1] * item_size + name_off);
        const char *cur = *(char *const *)((const char *)items + idx[i] * item_size + name_off);
        if (strcmp(prev, cur) != 0) {
            first = i;
            continue;
        }
        char q[300];
        report(x, at[idx[i]], "%s[%zu].name: duplicate %s name %s (first at line %d)", list, idx[i],
               what, quote(q, sizeof(q), cur), at[idx[first]].line);
    }
}

/* --------------------------------------------------------- list sections */

/* Allocate an array of count items of size; NULL (reported) on failure. */
static void *items_new(struct ctx *x, size_t count, size_t size)
{
    void *v = calloc(count ? count : 1, size);
    if (v == NULL) {
        x->oom = true;
        x->stop = true;
    }
    return v;
}

/* Check that a list section's value is a list of at most max items; the
 * item count or -1 (reported); 0 for null. */
static ssize_t list_count(struct ctx *x, const struct ynode *v, struct mark at, const char *key,
                          size_t max)
{
    if (is_null(v)) {
        return 0;
    }
    if (v->type != YN_SEQ) {
        report(x, at, "%s: expected a list", key);
        return -1;
    }
    if (v->n > max) {
        report(x, at, "%s: too many items (limit %zu)", key, max);
        return -1;
    }
    return (ssize_t)v->n;
}

/* The mapping of list item i, or NULL after reporting; *iat is where the
 * item is written. */
static const struct ynode *item_map(struct ctx *x, const struct ynode *list, size_t i,
                                    const char *key, char *ipath, size_t n, struct mark *iat)
{
    const struct ynode *it = list->kids[i];
    *iat = list->kat[i];
    path_index(ipath, n, key, i);
    if (!visit(x, *iat)) {
        return NULL;
    }
    if (it->type != YN_MAP) {
        report(x, *iat, "%s: expected a mapping", ipath);
        return NULL;
    }
    return it;
}

/* Where to report a key of an item: the key itself, or the alias when the
 * whole item is an alias (its keys are written at the anchor). */
static struct mark written_at(struct mark key_at, const struct ynode *m, struct mark iat)
{
    bool aliased = m->at.line != iat.line || m->at.col != iat.col;
    return aliased ? iat : key_at;
}

/* apps: */
static void parse_apps(struct ctx *x, const struct ynode *v, struct mark at)
{
    struct config *c = x->c;
    ssize_t n = list_count(x, v, at, "apps", CONFIG_MAX_ITEMS);
    if (n <= 0) {
        return;
    }
    c->apps = items_new(x, (size_t)n, sizeof(*c->apps));
    struct mark *name_at = items_new(x, (size_t)n, sizeof(*name_at));
    if (c->apps == NULL || name_at == NULL) {
        free(name_at);
        return;
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        char ipath[PATH_BUF];
        struct mark iat;
        /* Every item gets an entry, so indexes in messages match the file. */
        struct conf_app *a = &c->apps[c->napps++];
        const struct ynode *m = item_map(x, v, i, "apps", ipath, sizeof(ipath), &iat);
        if (m == NULL) {
            continue;
        }
        a->verify_window_ms = CONFIG_DEFAULT_VERIFY_WINDOW_MS;
        a->verify_interval_ms = CONFIG_DEFAULT_VERIFY_INTERVAL_MS;
        a->verify_start_timeout_ms = CONFIG_DEFAULT_VERIFY_START_TIMEOUT_MS;
        struct fstate st[NFIELDS(app_fields)] = {0};
        parse_fields(x, m, ipath, app_fields, NFIELDS(app_fields), a, st, 0, NULL);
        name_at[c->napps - 1] = written_at(st[APP_NAME].at, m, iat);
        if (!st[APP_NAME].set && !st[APP_NAME].bad) {
            report(x, iat, "%s: app needs a name", ipath);
        }
    }
    x->priv->app_order =
        index_build(c->apps, c->napps, sizeof(*c->apps), AO(name), &x->priv->napp_order);
    if (x->priv->app_order == NULL) {
        x->oom = true;
    } else {
        report_duplicates(x, c->apps, sizeof(*c->apps), AO(name), x->priv->app_order,
                          x->priv->napp_order, name_at, "apps", "app");
    }
    free(name_at);
}

/* Hash a string (NULL distinct from "") into a fingerprint. */
static uint64_t fp_str(uint64_t h, const char *s)
{
    uint64_t len = s ? strlen(s) : UINT64_MAX;
    h = fnv(h, &len, sizeof(len));
    return s ? fnv(h, s, (size_t)len) : h;
}

/* Hash an integer into a fingerprint. */
static uint64_t fp_int(uint64_t h, int64_t v)
{
    return fnv(h, &v, sizeof(v));
}

/* The fingerprint of a check: every semantic field, not its position. */
static uint64_t check_fingerprint(const struct conf_check *k)
{
    uint64_t h = FNV_INIT;
    h = fp_str(h, k->name);
    h = fp_str(h, k->app);
    h = fp_str(h, k->env);
    h = fp_int(h, k->kind);
    h = fp_str(h, k->type_name);
    h = fp_int(h, k->interval_ms);
    h = fp_int(h, k->timeout_ms);
    h = fp_int(h, k->failure_threshold);
    h = fp_int(h, k->success_threshold);
    h = fp_int(h, k->paused);
    h = fp_int(h, (int64_t)k->nconditions);
    for (size_t i = 0; i < k->nconditions; i++) {
        h = fp_str(h, k->conditions[i]);
    }
    h = fp_str(h, k->url);
    h = fp_str(h, k->method);
    h = fp_int(h, (int64_t)k->nheaders);
    for (size_t i = 0; i < k->nheaders; i++) {
        h = fp_str(h, k->headers[i].name);
        h = fp_str(h, k->headers[i].value);
    }
    h = fp_str(h, k->body);
    h = fp_int(h, k->follow_redirects);
    h = fp_int(h, k->verify_tls);
    h = fp_int(h, (int64_t)k->max_body_bytes);
    h = fp_str(h, k->host);
    h = fp_int(h, k->port);
    h = fp_int(h, (int64_t)k->argc);
    for (size_t i = 0; i < k->argc; i++) {
        h = fp_str(h, k->argv[i]);
    }
    h = fp_int(h, (int64_t)k->max_output_bytes);
    h = fp_str(h, k->token);
    h = fp_int(h, k->period_ms);
    h = fp_int(h, k->grace_ms);
    h = fp_int(h, k->locations_all);
    h = fp_int(h, k->quorum);
    return h;
}

/* Find the kind a check's mapping declares without reporting anything: the
 * kind's bit, or 0 when absent or unknown (then every key is accepted). */
static unsigned peek_kind(const struct ynode *m, const char **name)
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
        if (k->type != YN_SCALAR || strcmp(k->text, "type") != 0 || v->type != YN_SCALAR) {
            continue;
        }
        char *s, err[64];
        if (expand(v->text, v->len, &s, err, sizeof(err)) < 0) {
            return 0;
        }
        unsigned bit = 0;
        for (size_t t = 0; check_type_names[t] != NULL; t++) {
            if (strcmp(s, check_type_names[t]) == 0) {
                bit = 1u << t;
                *name = check_type_names[t];
            }
        }
        free(s);
        return bit;
    }
    return 0;
}

/* Report a missing key that a check or notifier (what) of this type needs. */
static void need(struct ctx *x, const struct fstate *st, int field, struct mark at,
                 const char *ipath, const char *type, const char *what, const char *key)
{
    if (!st[field].set && !st[field].bad) {
        report(x, at, "%s: %s %s needs %s", ipath, type, what, key);
    }
}

/* depends-on: every parent exists and is not the check itself, and no
 * chain comes back to where it started (two checks holding each other's
 * alerts back would both stay silent). */
static void check_dependencies(struct ctx *x, const struct mark *dep_at)
{
    struct config *c = x->c;
    struct config_priv *pv = x->priv;
    bool any = false;
    for (size_t i = 0; i < c->nchecks; i++) {
        const struct conf_check *k = &c->checks[i];
        for (size_t j = 0; j < k->ndepends_on; j++) {
            char q[300];
            any = true;
            if (k->name != NULL && strcmp(k->depends_on[j], k->name) == 0) {
                report(x, dep_at[i], "checks[%zu].depends-on[%zu]: a check cannot depend on itself",
                       i, j);
            } else if (index_find(c->checks, sizeof(*c->checks), KO(name), pv->check_order,
                                  pv->ncheck_order, k->depends_on[j]) < 0) {
                report(x, dep_at[i], "checks[%zu].depends-on[%zu]: unknown check %s", i, j,
                       quote(q, sizeof(q), k->depends_on[j]));
            }
        }
    }
    if (!any || x->nerrs > 0) {
        return;
    }
    /* Depth-first walk with colours: 1 on the path, 2 done. */
    unsigned char *colour = calloc(c->nchecks, 1);
    size_t *stack = malloc(c->nchecks * sizeof(*stack));
    size_t *edge = malloc(c->nchecks * sizeof(*edge));
    if (colour == NULL || stack == NULL || edge == NULL) {
        x->oom = true;
        goto out;
    }
    for (size_t root = 0; root < c->nchecks; root++) {
        if (colour[root] != 0) {
            continue;
        }
        size_t sp = 0;
        stack[sp] = root;
        edge[sp++] = 0;
        colour[root] = 1;
        while (sp > 0) {
            size_t v = stack[sp - 1];
            const struct conf_check *k = &c->checks[v];
            if (edge[sp - 1] == k->ndepends_on) {
                colour[v] = 2;
                sp--;
                continue;
            }
            ssize_t w = index_find(c->checks, sizeof(*c->checks), KO(name), pv->check_order,
                                   pv->ncheck_order, k->depends_on[edge[sp - 1]++]);
            if (w < 0 || colour[w] == 2) {
                continue;
            }
            if (colour[w] == 1) {
                char q[300];
                char q2[300];
                report(x, dep_at[v],
                       "checks[%zu].depends-on: a cycle: %s depends on %s, which leads back to it",
                       v, quote(q, sizeof(q), k->name), quote(q2, sizeof(q2), c->checks[w].name));
                goto out;
            }
            colour[w] = 1;
            stack[sp] = (size_t)w;
            edge[sp++] = 0;
        }
    }
out:
    free(colour);
    free(stack);
    free(edge);
}

/* checks: */
static void parse_checks(struct ctx *x, const struct ynode *v, struct mark at)
{
    struct config *c = x->c;
    ssize_t n = list_count(x, v, at, "checks", CONFIG_MAX_CHECKS);
    if (n <= 0) {
        return;
    }
    c->checks = items_new(x, (size_t)n, sizeof(*c->checks));
    struct mark *name_at = items_new(x, (size_t)n, sizeof(*name_at));
    struct mark *token_at = items_new(x, (size_t)n, sizeof(*token_at));
    struct mark *dep_at = items_new(x, (size_t)n, sizeof(*dep_at));
    if (c->checks == NULL || name_at == NULL || token_at == NULL || dep_at == NULL) {
        free(name_at);
        free(token_at);
        free(dep_at);
        return;
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        char ipath[PATH_BUF];
        struct mark iat;
        struct conf_check *k = &c->checks[c->nchecks++];
        const struct ynode *m = item_map(x, v, i, "checks", ipath, sizeof(ipath), &iat);
        if (m == NULL) {
            continue;
        }
        k->line = iat.line;
        k->kind = CHECK_HTTP;
        k->type_name = NULL;
        k->verify_tls = true;
        k->max_body_bytes = CONFIG_DEFAULT_MAX_BODY_BYTES;
        k->max_output_bytes = CONFIG_DEFAULT_MAX_OUTPUT_BYTES;
        const char *kind_name = NULL;
        unsigned bit = peek_kind(m, &kind_name);
        struct fstate st[NFIELDS(check_fields)] = {0};
        parse_fields(x, m, ipath, check_fields, NFIELDS(check_fields), k, st, bit, kind_name);
        name_at[c->nchecks - 1] = written_at(st[CK_NAME].at, m, iat);
        token_at[c->nchecks - 1] = written_at(st[CK_TOKEN].at, m, iat);
        dep_at[c->nchecks - 1] = written_at(st[CK_DEPENDS].at, m, iat);
        if (!st[CK_NAME].set && !st[CK_NAME].bad) {
            report(x, iat, "%s: check needs a name", ipath);
        }
        bool heartbeat = st[CK_TYPE].set && k->kind == CHECK_HEARTBEAT;
        if (!st[CK_INTERVAL].set) {
            k->interval_ms = heartbeat ? CONFIG_HEARTBEAT_INTERVAL_MS : c->defaults.interval_ms;
        }
        if (!st[CK_TIMEOUT].set) {
            k->timeout_ms = c->defaults.timeout_ms;
        }
        if (!st[CK_FAILURE].set) {
            k->failure_threshold = heartbeat ? 1 : c->defaults.failure_threshold;
        }
        if (!st[CK_SUCCESS].set) {
            k->success_threshold = heartbeat ? 1 : c->defaults.success_threshold;
        }
        if (!st[CK_QUORUM].set) {
            k->quorum = 1;
        } else if (!k->locations_all) {
            report(x, st[CK_QUORUM].at, "%s.quorum: needs \"locations: all\"", ipath);
        }
        if (k->locations_all && heartbeat) {
            report(x, st[CK_LOCATIONS].at,
                   "%s.locations: a heartbeat is pinged, not run: it has one location", ipath);
        }
        if (!st[CK_TYPE].set) {
            if (!st[CK_TYPE].bad) {
                report(x, iat, "%s: check needs a type (http, tcp, exec, heartbeat)", ipath);
            }
            continue;
        }
        switch (k->kind) {
        case CHECK_HTTP:
            need(x, st, CK_URL, iat, ipath, "http", "check", "url");
            if (k->method == NULL && (k->method = strdup("GET")) == NULL) {
                x->oom = true;
                x->stop = true;
            }
            break;
        case CHECK_TCP:
            need(x, st, CK_HOST, iat, ipath, "tcp", "check", "host");
            need(x, st, CK_PORT, iat, ipath, "tcp", "check", "port");
            break;
        case CHECK_EXEC:
            need(x, st, CK_COMMAND, iat, ipath, "exec", "check", "command");
            break;
        case CHECK_HEARTBEAT:
            need(x, st, CK_TOKEN, iat, ipath, "heartbeat", "check", "token");
            need(x, st, CK_PERIOD, iat, ipath, "heartbeat", "check", "period");
            break;
        }
    }
    for (size_t i = 0; i < c->nchecks; i++) {
        c->checks[i].fingerprint = check_fingerprint(&c->checks[i]);
    }
    x->priv->check_order =
        index_build(c->checks, c->nchecks, sizeof(*c->checks), KO(name), &x->priv->ncheck_order);
    if (x->priv->check_order == NULL) {
        x->oom = true;
    } else {
        report_duplicates(x, c->checks, sizeof(*c->checks), KO(name), x->priv->check_order,
                          x->priv->ncheck_order, name_at, "checks", "check");
    }
    /* Heartbeat tokens name the URL a job pings: they must be unique. The
     * token itself is a secret and is not shown. */
    size_t ntok;
    size_t *tok = index_build(c->checks, c->nchecks, sizeof(*c->checks), KO(token), &ntok);
    if (tok == NULL) {
        x->oom = true;
    } else {
        for (size_t i = 1; i < ntok && !x->stop; i++) {
            if (strcmp(c->checks[tok[i - 1]].token, c->checks[tok[i]].token) == 0) {
                report(x, token_at[tok[i]], "checks[%zu].token: same token as the check at line %d",
                       tok[i], c->checks[tok[i - 1]].line);
            }
        }
        free(tok);
    }
    if (x->priv->check_order != NULL) {
        check_dependencies(x, dep_at);
    }
    free(name_at);
    free(token_at);
    free(dep_at);
}

/* notifiers: */
static void parse_notifiers(struct ctx *x, const struct ynode *v, struct mark at)
{
    struct config *c = x->c;
    ssize_t n = list_count(x, v, at, "notifiers", CONFIG_MAX_ITEMS);
    if (n <= 0) {
        return;
    }
    c->notifiers = items_new(x, (size_t)n, sizeof(*c->notifiers));
    struct mark *name_at = items_new(x, (size_t)n, sizeof(*name_at));
    if (c->notifiers == NULL || name_at == NULL) {
        free(name_at);
        return;
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        char ipath[PATH_BUF];
        struct mark iat;
        struct conf_notifier *nt = &c->notifiers[c->nnotifiers++];
        const struct ynode *m = item_map(x, v, i, "notifiers", ipath, sizeof(ipath), &iat);
        if (m == NULL) {
            continue;
        }
        nt->timeout_ms = CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS;
        nt->retry_initial_ms = CONFIG_DEFAULT_RETRY_INITIAL_MS;
        nt->retry_max_ms = CONFIG_DEFAULT_RETRY_MAX_MS;
        nt->max_age_ms = CONFIG_DEFAULT_NOTIFY_MAX_AGE_MS;
        struct fstate st[NFIELDS(notifier_fields)] = {0};
        parse_fields(x, m, ipath, notifier_fields, NFIELDS(notifier_fields), nt, st, 0, NULL);
        if (nt->retry_max_ms < nt->retry_initial_ms) {
            report(x, iat, "%s.retry-max: must be at least retry-initial", ipath);
        }
        name_at[c->nnotifiers - 1] = written_at(st[NT_NAME].at, m, iat);
        if (!st[NT_NAME].set && !st[NT_NAME].bad) {
            report(x, iat, "%s: notifier needs a name", ipath);
        }
        if (!st[NT_TYPE].set) {
            if (!st[NT_TYPE].bad) {
                report(x, iat,
                       "%s: notifier needs a type (webhook, slack, discord, email, exec, "
                       "alertmanager, ntfy)",
                       ipath);
            }
            continue;
        }
        bool is_exec = strcmp(nt->type, "exec") == 0;
        bool is_email = strcmp(nt->type, "email") == 0;
        if (is_exec) {
            need(x, st, NT_COMMAND, iat, ipath, "exec", "notifier", "command");
            if (st[NT_URL].seen) {
                report(x, st[NT_URL].at, "%s.url: not a key of exec notifiers", ipath);
            }
        } else {
            if (!st[NT_URL].set && !st[NT_URL].bad) {
                report(x, iat, "%s: %s notifier needs url", ipath, nt->type);
            }
            if (st[NT_COMMAND].seen) {
                report(x, st[NT_COMMAND].at, "%s.command: not a key of %s notifiers", ipath,
                       nt->type);
            }
        }
        if (nt->url != NULL) {
            /* Checked here because the scheme depends on the type. */
            bool smtp =
                strncasecmp(nt->url, "smtp://", 7) == 0 || strncasecmp(nt->url, "smtps://", 8) == 0;
            if (is_email && !smtp) {
                report(x, st[NT_URL].at, "%s.url: expected an smtp:// or smtps:// URL", ipath);
            } else if (!is_email && v_http_url(nt->url) != NULL) {
                report(x, st[NT_URL].at, "%s.url: %s", ipath, v_http_url(nt->url));
            }
        }
        if (is_email) {
            need(x, st, NT_FROM, iat, ipath, "email", "notifier", "from");
            need(x, st, NT_TO, iat, ipath, "email", "notifier", "to");
        } else {
            for (int f = NT_FROM; f <= NT_TLS; f++) {
                if (st[f].seen) {
                    report(x, st[f].at, "%s.%s: not a key of %s notifiers", ipath,
                           notifier_fields[f].key, nt->type);
                }
            }
        }
    }
    x->priv->notifier_order = index_build(c->notifiers, c->nnotifiers, sizeof(*c->notifiers),
                                          NO(name), &x->priv->nnotifier_order);
    if (x->priv->notifier_order == NULL) {
        x->oom = true;
    } else {
        report_duplicates(x, c->notifiers, sizeof(*c->notifiers), NO(name), x->priv->notifier_order,
                          x->priv->nnotifier_order, name_at, "notifiers", "notifier");
    }
    free(name_at);
}

/* alerts: (after notifiers and checks, which they name) */
static void parse_alerts(struct ctx *x, const struct ynode *v, struct mark at)
{
    struct config *c = x->c;
    struct config_priv *pv = x->priv;
    ssize_t n = list_count(x, v, at, "alerts", CONFIG_MAX_ITEMS);
    if (n <= 0) {
        return;
    }
    c->alerts = items_new(x, (size_t)n, sizeof(*c->alerts));
    if (c->alerts == NULL) {
        return;
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        char ipath[PATH_BUF];
        struct mark iat;
        struct conf_alert *a = &c->alerts[c->nalerts++];
        const struct ynode *m = item_map(x, v, i, "alerts", ipath, sizeof(ipath), &iat);
        if (m == NULL) {
            continue;
        }
        struct fstate st[NFIELDS(alert_fields)] = {0};
        a->on = ALERT_ON_DEFAULT;
        a->degraded_for_ms = CONFIG_DEFAULT_DEGRADED_FOR_MS;
        a->cert_days = CONFIG_DEFAULT_CERT_DAYS;
        a->flap_changes = CONFIG_DEFAULT_FLAP_CHANGES;
        a->flap_window_ms = CONFIG_DEFAULT_FLAP_WINDOW_MS;
        parse_fields(x, m, ipath, alert_fields, NFIELDS(alert_fields), a, st, 0, NULL);
        if (a->severity == NULL && (a->severity = strdup("critical")) == NULL) {
            x->oom = true;
            x->stop = true;
        }
        if (!st[AL_NOTIFY].set) {
            if (!st[AL_NOTIFY].bad) {
                report(x, iat, "%s: alert rule needs notify", ipath);
            }
        } else if (a->nnotify == 0) {
            report(x, st[AL_NOTIFY].at, "%s.notify: needs at least one notifier", ipath);
        } else {
            /* Find the value node again for the positions of its items. */
            const struct ynode *nv = NULL;
            for (size_t p = 0; p + 1 < m->n; p += 2) {
                const struct ynode *k = m->kids[p];
                if (k->type == YN_SCALAR && strcmp(k->text, "notify") == 0) {
                    nv = m->kids[p + 1];
                    break;
                }
            }
            for (size_t j = 0; j < a->nnotify; j++) {
                if (pv->notifier_order != NULL &&
                    index_find(c->notifiers, sizeof(*c->notifiers), NO(name), pv->notifier_order,
                               pv->nnotifier_order, a->notify[j]) >= 0) {
                    continue;
                }
                char q[300], jpath[PATH_BUF];
                struct mark jat = st[AL_NOTIFY].at;
                if (nv != NULL && nv->type == YN_SEQ && j < nv->n) {
                    jat = nv->kat[j];
                    pathf(jpath, sizeof(jpath), "%s.notify[%zu]", ipath, j);
                } else {
                    pathf(jpath, sizeof(jpath), "%s.notify", ipath);
                }
                report(x, jat, "%s: unknown notifier %s", jpath, quote(q, sizeof(q), a->notify[j]));
            }
        }
        if (a->check != NULL && (pv->check_order == NULL ||
                                 index_find(c->checks, sizeof(*c->checks), KO(name),
                                            pv->check_order, pv->ncheck_order, a->check) < 0)) {
            char q[300];
            report(x, st[AL_CHECK].at, "%s.check: unknown check %s", ipath,
                   quote(q, sizeof(q), a->check));
        }
    }
}

/* maintenance: recurring windows (after checks, which they may name) */
static void parse_maintenance(struct ctx *x, const struct ynode *v, struct mark at)
{
    struct config *c = x->c;
    struct config_priv *pv = x->priv;
    ssize_t n = list_count(x, v, at, "maintenance", CONFIG_MAX_ITEMS);
    if (n <= 0) {
        return;
    }
    c->maintenance = items_new(x, (size_t)n, sizeof(*c->maintenance));
    struct mark *name_at = items_new(x, (size_t)n, sizeof(*name_at));
    if (c->maintenance == NULL || name_at == NULL) {
        free(name_at);
        return;
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        char ipath[PATH_BUF];
        struct mark iat;
        struct conf_maintenance *mt = &c->maintenance[c->nmaintenance++];
        const struct ynode *m = item_map(x, v, i, "maintenance", ipath, sizeof(ipath), &iat);
        if (m == NULL) {
            continue;
        }
        mt->days = 0x7f;
        struct fstate st[NFIELDS(maintenance_fields)] = {0};
        parse_fields(x, m, ipath, maintenance_fields, NFIELDS(maintenance_fields), mt, st, 0, NULL);
        name_at[c->nmaintenance - 1] = written_at(st[MT_NAME].at, m, iat);
        if (!st[MT_NAME].set && !st[MT_NAME].bad) {
            report(x, iat, "%s: maintenance window needs a name", ipath);
        }
        need(x, st, MT_START, iat, ipath, "a", "maintenance window", "start");
        need(x, st, MT_DURATION, iat, ipath, "a", "maintenance window", "duration");
        if (mt->check != NULL && (pv->check_order == NULL ||
                                  index_find(c->checks, sizeof(*c->checks), KO(name),
                                             pv->check_order, pv->ncheck_order, mt->check) < 0)) {
            char q[300];
            report(x, st[MT_CHECK].at, "%s.check: unknown check %s", ipath,
                   quote(q, sizeof(q), mt->check));
        }
    }
    size_t nidx;
    size_t *idx = index_build(c->maintenance, c->nmaintenance, sizeof(*c->maintenance), MO(name),
                              &nidx);
    if (idx == NULL) {
        x->oom = true;
    } else {
        report_duplicates(x, c->maintenance, sizeof(*c->maintenance), MO(name), idx, nidx, name_at,
                          "maintenance", "maintenance window");
        free(idx);
    }
    free(name_at);
}

/* --------------------------------------------------------------- top level */

enum {
    TOP_DAEMON,
    TOP_STORAGE,
    TOP_DEFAULTS,
    TOP_APPS,
    TOP_CHECKS,
    TOP_NOTIFIERS,
    TOP_ALERTS,
    TOP_MAINTENANCE,
    TOP_REDIS,
    TOP_CLUSTER,
    TOP_NODE_NAME,
};

static const char *const top_keys[] = {
    [TOP_DAEMON] = "daemon",         [TOP_STORAGE] = "storage", [TOP_DEFAULTS] = "defaults",
    [TOP_APPS] = "apps",             [TOP_CHECKS] = "checks",   [TOP_NOTIFIERS] = "notifiers",
    [TOP_ALERTS] = "alerts",         [TOP_MAINTENANCE] = "maintenance",
    [TOP_REDIS] = "redis",           [TOP_CLUSTER] = "cluster", [TOP_NODE_NAME] = "node-name",
};

#define NTOP (sizeof(top_keys) / sizeof(top_keys[0]))

/* A mapping section (daemon, storage, defaults) into the config. */
static void parse_section(struct ctx *x, const struct ynode *v, struct mark at, const char *key,
                          const struct field *fields, size_t n, struct fstate *st)
{
    if (is_null(v)) {
        return;
    }
    if (v->type != YN_MAP) {
        report(x, at, "%s: expected a mapping", key);
        return;
    }
    parse_fields(x, v, key, fields, n, x->c, st, 0, NULL);
}

/* Duplicate an environment path with a suffix, if the variable holds an
 * absolute path; NULL otherwise (or on ENOMEM, flagged). */
static char *env_path(struct ctx *x, const char *var, const char *suffix)
{
    const char *v = getenv(var);
    if (v == NULL || v[0] != '/') {
        return NULL;
    }
    size_t n = strlen(v) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s == NULL) {
        x->oom = true;
        return NULL;
    }
    snprintf(s, n, "%s%s", v, suffix);
    return s;
}

/* The home directory: $HOME, else the password database; NULL unknown. */
static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h != NULL && h[0] == '/') {
        return h;
    }
    struct passwd *pw = getpwuid(geteuid());
    return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

/* The default path of a file in the daemon's state directory:
 * /var/lib/shipwatch as root, else $XDG_STATE_HOME/shipwatch or
 * ~/.local/state/shipwatch. NULL when no default exists (reported against
 * key) or on ENOMEM (flagged). */
static char *state_path(struct ctx *x, const char *name, const char *key, struct mark at)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/shipwatch/%s", name);
    char *p;
    if (geteuid() == 0) {
        p = malloc(strlen("/var/lib") + strlen(suffix) + 1);
        if (p != NULL) {
            sprintf(p, "/var/lib%s", suffix);
        }
    } else if ((p = env_path(x, "XDG_STATE_HOME", suffix)) == NULL && !x->oom) {
        const char *home = home_dir();
        if (home == NULL) {
            report(x, at, "%s: not set, and neither XDG_STATE_HOME nor HOME gives a default",
                   key);
            return NULL;
        }
        size_t n = strlen(home) + strlen("/.local/state") + strlen(suffix) + 1;
        if ((p = malloc(n)) != NULL) {
            snprintf(p, n, "%s/.local/state%s", home, suffix);
        }
    }
    if (p == NULL) {
        x->oom = true;
    }
    return p;
}

/* Fill defaults that depend on the environment and other keys, and check
 * what needs more than one key. */
static void finish_config(struct ctx *x, const struct fstate *storage_st, struct mark top_at)
{
    struct config *c = x->c;
    if (c->daemon.socket == NULL) {
        /* One default for the daemon and its clients. */
        if ((c->daemon.socket = ipc_default_socket_path()) == NULL) {
            x->oom = true;
        } else if (strlen(c->daemon.socket) > CONFIG_SUN_PATH_MAX) {
            report(x, top_at,
                   "daemon.socket: the default %s/shipwatch.sock is too long for a Unix "
                   "socket; set daemon.socket",
                   "$XDG_RUNTIME_DIR");
        }
    }
    if (c->daemon.http == NULL && c->daemon.nhttp == 0) {
        c->daemon.http = calloc(2, sizeof(char *));
        if (c->daemon.http == NULL || (c->daemon.http[0] = strdup(CONFIG_DEFAULT_HTTP)) == NULL) {
            x->oom = true;
        } else {
            c->daemon.nhttp = 1;
        }
    }
    if (c->storage.driver == NULL && (c->storage.driver = strdup("sqlite")) == NULL) {
        x->oom = true;
        return;
    }
    if (strcmp(c->storage.driver, "postgres") == 0) {
        if (c->storage.dsn == NULL && !storage_st[STORAGE_DSN].bad) {
            struct mark at = storage_st[STORAGE_DSN].seen         ? storage_st[STORAGE_DSN].at
                             : storage_st[STORAGE_DRIVER].at.line ? storage_st[STORAGE_DRIVER].at
                                                                  : top_at;
            report(x, at, "storage: the postgres driver needs dsn");
        }
    } else if (c->storage.path == NULL && !storage_st[STORAGE_PATH].bad) {
        if ((c->storage.path = state_path(x, "history.db", "storage.path", top_at)) == NULL) {
            return;
        }
    }
    if (c->storage.spool == NULL && !storage_st[STORAGE_SPOOL].bad) {
        const char *slash = c->storage.path != NULL ? strrchr(c->storage.path, '/') : NULL;
        if (slash != NULL) {
            size_t dir = (size_t)(slash - c->storage.path);
            size_t n = dir + sizeof("/spool");
            if ((c->storage.spool = malloc(n)) == NULL) {
                x->oom = true;
                return;
            }
            snprintf(c->storage.spool, n, "%.*s/spool", (int)dir, c->storage.path);
        } else if ((c->storage.spool = state_path(x, "spool", "storage.spool", top_at)) == NULL) {
            return;
        }
    }
    if (c->storage.retention_rollups_ms < c->storage.retention_raw_ms) {
        struct mark at =
            storage_st[STORAGE_RETENTION].seen ? storage_st[STORAGE_RETENTION].at : top_at;
        report(x, at, "storage.retention: rollups must be kept at least as long as raw");
    }
}

/* Defaults of the Redis and cluster keys: the prefix, this node's name
 * (the host name), and what needs Redis. */
static void finish_cluster(struct ctx *x, struct mark cluster_at, bool url_bad)
{
    struct config *c = x->c;
    if (c->redis.prefix == NULL && (c->redis.prefix = strdup(CONFIG_DEFAULT_REDIS_PREFIX)) == NULL) {
        x->oom = true;
        return;
    }
    if (c->node_name == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') {
            snprintf(host, sizeof(host), "shipwatchd");
        }
        host[sizeof(host) - 1] = '\0';
        if ((c->node_name = strdup(host)) == NULL) {
            x->oom = true;
            return;
        }
    }
    if (c->cluster != NULL && c->redis.url == NULL && !url_bad) {
        report(x, cluster_at, "cluster: sharing checks needs redis.url");
    }
    for (size_t i = 0; i < c->nchecks; i++) {
        if (c->checks[i].locations_all && c->cluster == NULL) {
            report(x, cluster_at,
                   "checks[%zu].locations: \"all\" needs a cluster (cluster and redis.url)", i);
            break;
        }
    }
}

/* Walk the root mapping into x->c. */
static void parse_root(struct ctx *x, const struct ynode *root)
{
    struct config *c = x->c;
    if (root->type != YN_MAP) {
        report(x, root->at,
               "expected a mapping at the top level (daemon, storage, defaults, "
               "apps, checks, notifiers, alerts)");
        return;
    }
    const struct ynode *val[NTOP] = {0};
    struct mark at[NTOP] = {{0, 0}};
    for (size_t i = 0; i + 1 < root->n && !x->stop; i += 2) {
        const struct ynode *k = root->kids[i];
        if (!visit(x, k->at)) {
            return;
        }
        if (k->type != YN_SCALAR) {
            report(x, k->at, "top level: keys must be strings");
            continue;
        }
        if (k->len >= 2 && memcmp(k->text, "x-", 2) == 0) {
            continue; /* extension field: a place for anchors */
        }
        size_t t = 0;
        while (t < NTOP && (strlen(top_keys[t]) != k->len || strcmp(top_keys[t], k->text) != 0)) {
            t++;
        }
        if (t == NTOP) {
            char kpath[PATH_BUF];
            path_key(kpath, sizeof(kpath), "", k->text, k->len);
            report(x, k->at, "%s: unknown key", kpath);
            continue;
        }
        if (at[t].line != 0) {
            report(x, k->at, "%s: duplicate key (first at line %d)", top_keys[t], at[t].line);
            continue;
        }
        val[t] = root->kids[i + 1];
        at[t] = k->at;
    }

    c->daemon.max_concurrency = CONFIG_DEFAULT_MAX_CONCURRENCY;
    c->daemon.drain_timeout_ms = CONFIG_DEFAULT_DRAIN_TIMEOUT_MS;
    c->daemon.ipc_max_message = CONFIG_DEFAULT_IPC_MAX_MESSAGE;
    c->daemon.ipc_max_queue = CONFIG_DEFAULT_IPC_MAX_QUEUE;
    c->storage.retention_raw_ms = CONFIG_DEFAULT_RETENTION_RAW_MS;
    c->storage.retention_rollups_ms = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS;
    c->storage.pool = CONFIG_DEFAULT_STORE_POOL;
    c->storage.batch = CONFIG_DEFAULT_STORE_BATCH;
    c->storage.queue = CONFIG_DEFAULT_STORE_QUEUE;
    c->storage.spool_max_bytes = CONFIG_DEFAULT_SPOOL_MAX_BYTES;
    c->defaults.interval_ms = CONFIG_DEFAULT_INTERVAL_MS;
    c->defaults.timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS;
    c->defaults.failure_threshold = CONFIG_DEFAULT_FAILURE_THRESHOLD;
    c->defaults.success_threshold = CONFIG_DEFAULT_SUCCESS_THRESHOLD;

    struct fstate dst[NFIELDS(daemon_fields)] = {0};
    struct fstate sst[NFIELDS(storage_fields)] = {0};
    struct fstate fst[NFIELDS(defaults_fields)] = {0};
    parse_section(x, val[TOP_DAEMON], at[TOP_DAEMON], "daemon", daemon_fields,
                  NFIELDS(daemon_fields), dst);
    parse_section(x, val[TOP_STORAGE], at[TOP_STORAGE], "storage", storage_fields,
                  NFIELDS(storage_fields), sst);
    parse_section(x, val[TOP_DEFAULTS], at[TOP_DEFAULTS], "defaults", defaults_fields,
                  NFIELDS(defaults_fields), fst);
    struct fstate rst[NFIELDS(redis_fields)] = {0};
    parse_section(x, val[TOP_REDIS], at[TOP_REDIS], "redis", redis_fields, NFIELDS(redis_fields),
                  rst);
    if (val[TOP_CLUSTER] != NULL && !x->stop) {
        const struct field *f = &root_fields[ROOT_CLUSTER];
        f->parse(x, f, val[TOP_CLUSTER], at[TOP_CLUSTER], f->key, c);
    }
    if (val[TOP_NODE_NAME] != NULL && !x->stop) {
        const struct field *f = &root_fields[ROOT_NODE_NAME];
        f->parse(x, f, val[TOP_NODE_NAME], at[TOP_NODE_NAME], f->key, c);
    }
    if (!x->stop) {
        parse_apps(x, val[TOP_APPS], at[TOP_APPS]);
    }
    if (!x->stop) {
        parse_checks(x, val[TOP_CHECKS], at[TOP_CHECKS]);
    }
    if (!x->stop) {
        parse_notifiers(x, val[TOP_NOTIFIERS], at[TOP_NOTIFIERS]);
    }
    if (!x->stop) {
        parse_alerts(x, val[TOP_ALERTS], at[TOP_ALERTS]);
    }
    if (!x->stop) {
        parse_maintenance(x, val[TOP_MAINTENANCE], at[TOP_MAINTENANCE]);
    }
    if (!x->stop) {
        finish_config(x, sst, root->at);
    }
    if (!x->stop) {
        finish_cluster(x, at[TOP_CLUSTER].line ? at[TOP_CLUSTER] : root->at, rst[0].bad);
    }
}

/* ------------------------------------------------------------ public API */

/* Free a config and everything it owns. NULL is a no-op. */
void config_free(struct config *c)
{
    if (c == NULL) {
        return;
    }
    struct config_priv *pv = (struct config_priv *)c;
    free(c->path);
    free(c->daemon.socket);
    strv_free(c->daemon.http, c->daemon.nhttp);
    strv_free(c->daemon.admins, c->daemon.nadmins);
    free(c->daemon.github_secret);
    free(c->daemon.deploy_token);
    free(c->daemon.deploy_secret);
    free(c->storage.driver);
    free(c->storage.path);
    free(c->storage.dsn);
    free(c->storage.spool);
    free(c->redis.url);
    free(c->redis.prefix);
    free(c->cluster);
    free(c->node_name);
    for (size_t i = 0; i < c->napps; i++) {
        struct conf_app *a = &c->apps[i];
        free(a->name);
        free(a->deploy_token);
        free(a->deploy_secret);
        free(a->github_repo);
    }
    free(c->apps);
    for (size_t i = 0; i < c->nchecks; i++) {
        struct conf_check *k = &c->checks[i];
        free(k->name);
        free(k->app);
        free(k->env);
        strv_free(k->conditions, k->nconditions);
        for (size_t j = 0; k->conds != NULL && j < k->nconditions; j++) {
            cond_free(k->conds[j]);
        }
        free(k->conds);
        free(k->url);
        free(k->method);
        for (size_t j = 0; j < k->nheaders; j++) {
            free(k->headers[j].name);
            free(k->headers[j].value);
        }
        free(k->headers);
        free(k->body);
        free(k->host);
        strv_free(k->argv, k->argc);
        free(k->token);
        strv_free(k->depends_on, k->ndepends_on);
    }
    free(c->checks);
    for (size_t i = 0; i < c->nnotifiers; i++) {
        struct conf_notifier *nt = &c->notifiers[i];
        free(nt->name);
        free(nt->type);
        free(nt->url);
        strv_free(nt->argv, nt->argc);
        free(nt->from);
        strv_free(nt->to, nt->nto);
    }
    free(c->notifiers);
    for (size_t i = 0; i < c->nalerts; i++) {
        struct conf_alert *a = &c->alerts[i];
        strv_free(a->notify, a->nnotify);
        free(a->severity);
        free(a->app);
        free(a->env);
        free(a->check);
    }
    free(c->alerts);
    for (size_t i = 0; i < c->nmaintenance; i++) {
        struct conf_maintenance *mt = &c->maintenance[i];
        free(mt->name);
        free(mt->app);
        free(mt->env);
        free(mt->check);
    }
    free(c->maintenance);
    free(pv->check_order);
    free(pv->app_order);
    free(pv->notifier_order);
    free(pv);
}

/* Same as config_load, from a buffer; name is used in messages. */
int config_load_buffer(const char *name, const char *buf, size_t len, struct config **out,
                       struct config_errors *errs)
{
    *out = NULL;
    struct ctx x = {.name = name, .buf = buf, .len = len};
    int rc = 0;
    if (len > CONFIG_MAX_FILE) {
        report(&x, (struct mark){0, 0}, "file too large (over 4 MiB)");
        rc = -EINVAL;
        goto done;
    }
    struct ynode *root = NULL;
    rc = tree_build(&x, &root);
    if (rc == 0 && is_null(root)) {
        report(&x, (struct mark){1, 1}, "empty configuration: expected a mapping with checks");
        rc = -EINVAL;
    }
    if (rc == 0) {
        x.priv = calloc(1, sizeof(*x.priv));
        if (x.priv == NULL) {
            rc = -ENOMEM;
        } else {
            x.c = &x.priv->pub;
            x.c->path = strdup(name);
            if (x.c->path == NULL) {
                x.oom = true;
            }
            parse_root(&x, root);
        }
    }
    tree_free(&x);
    if (rc == 0 && x.oom) {
        rc = -ENOMEM;
    }
    if (rc == 0 && x.nerrs > 0) {
        rc = -EINVAL;
    }
    if (rc < 0) {
        config_free(x.c);
        x.c = NULL;
    }
done:
    if (rc == -ENOMEM && x.nerrs == 0) {
        report(&x, (struct mark){0, 0}, "out of memory");
    }
    if (errors_move(&x, errs) < 0 && rc == 0) {
        rc = -ENOMEM;
    }
    free(x.errs);
    if (rc == 0) {
        *out = x.c;
    }
    return rc;
}

/* Load and validate path (see config.h). */
int config_load(const char *path, struct config **out, struct config_errors *errs)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = 0;
    char *buf = NULL;
    size_t len = 0;
    if (fd < 0) {
        err = errno;
    } else {
        size_t cap = 64 * 1024;
        buf = malloc(cap);
        if (buf == NULL) {
            err = ENOMEM;
        }
        /* Read at most one byte past the limit: enough to know it is over. */
        while (err == 0 && len <= CONFIG_MAX_FILE) {
            if (len == cap) {
                size_t ncap = cap * 2 > CONFIG_MAX_FILE + 1 ? CONFIG_MAX_FILE + 1 : cap * 2;
                char *nb = realloc(buf, ncap);
                if (nb == NULL) {
                    err = ENOMEM;
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            ssize_t r = read(fd, buf + len, cap - len);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                err = errno;
            } else if (r == 0) {
                break;
            } else {
                len += (size_t)r;
            }
        }
        close(fd);
    }
    if (err != 0) {
        free(buf);
        char line[PATH_BUF + 128];
        snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(err));
        char *m = strdup(line);
        char **msgs = m ? realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs)) : NULL;
        if (msgs != NULL) {
            errs->msgs = msgs;
            errs->msgs[errs->n++] = m;
        } else {
            free(m);
        }
        return -err;
    }
    int rc = config_load_buffer(path, buf, len, out, errs);
    free(buf);
    return rc;
}

/* Look up a check by name; NULL when absent. */
const struct conf_check *config_find_check(const struct config *c, const char *name)
{
    const struct config_priv *pv = (const struct config_priv *)c;
    if (c == NULL || name == NULL || pv->check_order == NULL) {
        return NULL;
    }
    ssize_t i = index_find(c->checks, sizeof(*c->checks), KO(name), pv->check_order,
                           pv->ncheck_order, name);
    return i < 0 ? NULL : &c->checks[i];
}

/* Look up an app by name; NULL when absent. */
const struct conf_app *config_find_app(const struct config *c, const char *name)
{
    const struct config_priv *pv = (const struct config_priv *)c;
    if (c == NULL || name == NULL || pv->app_order == NULL) {
        return NULL;
    }
    ssize_t i =
        index_find(c->apps, sizeof(*c->apps), AO(name), pv->app_order, pv->napp_order, name);
    return i < 0 ? NULL : &c->apps[i];
}
