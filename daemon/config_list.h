/* config_list.h - the list sections of the configuration (private to
 * config*.c).
 *
 * apps, checks, notifiers, alerts and maintenance are all lists of
 * mappings, so one walk reads them: conf_list_parse() counts the items,
 * allocates the array into struct config (which owns it from then on, even
 * on error: config_destroy() releases every item), parses each item against
 * its rows, reports missing required keys, builds the name index into
 * struct config_priv and reports duplicate names. A section says what is
 * special about it in a const struct list_section: its rows, its variants
 * (a check's type picks the rows of that type) and a few hooks.
 *
 * Messages are "PATH: NOUN needs KEY", "PATH.name: duplicate NOUN name",
 * as they were when each section had its own copy of this walk. */
#ifndef SHIPWATCH_CONFIG_LIST_H
#define SHIPWATCH_CONFIG_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config_rows.h"
#include "config_yaml.h"

/* One item of a list section while it is parsed. */
struct list_item {
    const struct conf_item *it; /* its sets of rows */
    struct conf_state *st;      /* per row of it */
    const struct ynode *m;      /* its mapping */
    struct conf_mark iat;       /* where the item is written */
    char ipath[PATH_BUF];       /* "checks[3]" */
    ssize_t variant;            /* index of its type, -1 unknown */
};

/* One list section (apps, checks, notifiers, alerts, maintenance): where
 * its items go, the rows they take, and what is checked beyond the rows. */
struct list_section {
    const char *key;   /* "checks" */
    const char *what;  /* "check": "check needs a name", "duplicate check name" */
    const char *needs; /* the subject of other required keys: "alert rule" */
    size_t max;        /* items at most */
    size_t item_size;
    size_t items_off;      /* the array in struct config */
    size_t count_off;      /* its length */
    struct conf_rows rows; /* the keys every item takes */
    bool named;            /* items have a unique "name" */
    size_t name_off;       /* where an item's name is */
    size_t order_off;      /* the name index in struct config_priv; 0: none kept */
    size_t norder_off;
    const char *const *marks; /* keys whose positions are kept for after;
                                 "name" first when named */
    size_t nmarks;

    /* Variants ("type:"), or NULL: the name of the i-th (NULL past the
     * last), the sets of rows (sets[0] is rows; returns how many), and the
     * sets the i-th variant takes (NULL: every key is parsed, and the
     * variant hook says which are not its own). */
    const char *(*variant_name)(size_t i);
    size_t (*variant_sets)(struct conf_rows *sets, size_t max);
    unsigned (*variant_accept)(size_t i);

    /* Checks of one item beyond its rows: before its required keys are
     * reported, after them, and once its variant is known (then in place
     * of the required keys of the variant's sets). */
    void (*early)(struct conf_ctx *x, void *item, const struct list_item *li);
    void (*item)(struct conf_ctx *x, void *item, const struct list_item *li);
    void (*variant)(struct conf_ctx *x, void *item, const struct list_item *li);
    /* Checks across items; marks[i * nmarks + j] is item i's marks[j]. */
    void (*after)(struct conf_ctx *x, const struct conf_mark *marks);
};

#define MAX_SETS 32 /* sets of rows of one list section, at most (bits of conf_item.accept) */

/* Parse the list section sec, whose value v is written at at, into x->c. */
void conf_list_parse(struct conf_ctx *x, const struct list_section *sec, const struct ynode *v,
                     struct conf_mark at);

/* Report each required row of set s of the item that was not given:
 * "PATH: SUBJECT needs KEY", or "PATH: NAMED needs a name" for a name. */
void conf_list_require(struct conf_ctx *x, const struct list_item *li, size_t s, const char *named,
                       const char *subject);

/* Build a sorted index of the named entries of an array: names are read at
 * name_off in items of size item_size, and equal names keep their order.
 * Returns the index (caller frees; *n entries) or NULL on ENOMEM. */
size_t *conf_index_build(const void *items, size_t count, size_t item_size, size_t name_off,
                         size_t *n);

/* Binary search a sorted index for name; the item index or -1. */
ssize_t conf_index_find(const void *items, size_t item_size, size_t name_off, const size_t *idx,
                        size_t n, const char *name);

/* Join the names given by name(0), name(1)... (until NULL) with ", " into
 * dst. */
void conf_names_join(char *dst, size_t n, const char *(*name)(size_t i));

#endif
