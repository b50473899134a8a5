/* config_yaml.h - the YAML side of loading a configuration (private to
 * config*.c).
 *
 * A load works in one struct conf_ctx: it owns the tree of nodes built
 * from libyaml's events, the anchors, and every error found so far. Nodes
 * belong to the context until conf_tree_free(); an alias is a second pointer
 * to an anchored node, registered only once that node is complete, so the
 * tree is a DAG without cycles. Walking it counts visits (conf_visit) so
 * that aliases cannot multiply the work without bound.
 *
 * Scalars are read through conf_scalar(), which expands ${VAR},
 * ${VAR:-default} and $$ from the environment and hands back a malloc'd
 * string the caller owns. Errors are "FILE:LINE:COL: message", recorded by
 * conf_report() and moved, sorted by position, into the caller's
 * struct config_errors by conf_errors_move(). */
#ifndef SHIPWATCH_CONFIG_YAML_H
#define SHIPWATCH_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CONFIG_MAX_FILE (32 * 1024 * 1024) /* bytes of YAML read at most */
#define CONFIG_MAX_ERRORS 200
#define CONFIG_MAX_NAME 128     /* check, app, notifier names */
#define PATH_BUF 512            /* "checks[12].headers.X-Key" */
#define CONFIG_SUN_PATH_MAX 107 /* sizeof(sun_path) - 1 on Linux */

/* A position in the file, 1-based; line 0 means "nowhere". */
struct conf_mark {
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
    struct ynode **kids;   /* seq: items; map: key, value, key, value... */
    struct conf_mark *kat; /* where each kid is written: an alias's own
                              position, not its anchor's */
    char *anchor;          /* collection: anchor to register at its end */
    uint32_t n;            /* kids */
    uint32_t cap;
    uint32_t len; /* scalar: bytes of text */
    struct conf_mark at;
    uint8_t type; /* enum ynode_type */
    bool plain;   /* scalar written without quotes */
    char text[];  /* scalar: NUL-terminated, no NUL inside */
};

struct conf_anchor;
struct conf_error;

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
struct conf_ctx {
    const char *name; /* file name used in messages */
    const char *buf;
    size_t len;

    struct conf_error *errs;
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
    struct conf_anchor *anchors;
    size_t nanchors;
    size_t visits;
    size_t scalar_bytes; /* text of the scalars walked, aliased copies too */

    struct config_priv *priv;
    struct config *c;
};

/* Record a message at a position, "FILE:LINE:COL: " prefixed. */
__attribute__((format(printf, 3, 4))) void conf_report(struct conf_ctx *x, struct conf_mark at,
                                                       const char *fmt, ...);

/* Sort the errors of x and move them into errs; x keeps no message (its
 * array stays for the caller to free). Returns 0 or -ENOMEM. */
int conf_errors_move(struct conf_ctx *x, struct config_errors *errs);

/* Write s into dst (size n) for a message: printable ASCII kept, anything
 * else escaped as \xNN, cut at max bytes with "...". */
void conf_sanitize(char *dst, size_t n, const char *s, size_t len, size_t max);

/* A value quoted for a message into dst: "5x". Not for secrets. */
const char *conf_quote(char *dst, size_t n, const char *s);

/* Parse x->buf into a tree. Returns the root (NULL for an empty stream) in
 * *root; 0, -EINVAL after reporting, or -ENOMEM. Nodes belong to x. */
int conf_tree_build(struct conf_ctx *x, struct ynode **root);

/* Free every node and anchor of x. */
void conf_tree_free(struct conf_ctx *x);

/* Count one node visit; false (after reporting once) when the walk has done
 * too much work, which only aliases can cause. */
bool conf_visit(struct conf_ctx *x, struct conf_mark at);

/* Expand ${VAR}, ${VAR:-default} and $$ in s. Returns 0 and *out (malloc'd,
 * caller frees), or -EINVAL with a reason in err, or -ENOMEM. */
int conf_expand(const char *s, size_t len, char **out, char *err, size_t errlen);

/* True when n is a YAML null: absent, or an empty, ~ or null plain scalar. */
bool conf_is_null(const struct ynode *n);

/* The expanded text of a scalar. Returns 0 and *out (caller frees), 1 when
 * the value is null, or -1 after reporting (wrong type: "PATH: expected
 * WHAT"). Empty after expansion counts as null when empty_is_null. */
int conf_scalar(struct conf_ctx *x, const struct ynode *v, struct conf_mark at, const char *path,
                const char *what, bool empty_is_null, char **out);

#endif
