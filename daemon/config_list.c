/* config_list.c - the list sections of the configuration (apps, checks,
 * notifiers, alerts, maintenance): one walk for all five, and the name
 * index that finds an item by name and reports duplicates.
 *
 * See config_list.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "config.h"
#include "config_list.h"
#include "config_rows.h"
#include "config_yaml.h"

/* Join the names given by name(0), name(1)... with ", " into dst. */
void conf_names_join(char *dst, size_t n, const char *(*name)(size_t i))
{
    dst[0] = '\0';
    for (size_t i = 0; name(i) != NULL; i++) {
        size_t l = strlen(dst);
        snprintf(dst + l, n - l, "%s%s", i ? ", " : "", name(i));
    }
}

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
size_t *conf_index_build(const void *items, size_t count, size_t item_size, size_t name_off,
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
ssize_t conf_index_find(const void *items, size_t item_size, size_t name_off, const size_t *idx,
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

/* Report every name that appears twice in a sorted index. at[i * stride]
 * is the position of item i's name. */
static void report_duplicates(struct conf_ctx *x, const void *items, size_t item_size,
                              size_t name_off, const size_t *idx, size_t n,
                              const struct conf_mark *at, size_t stride, const char *list,
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
        conf_report(x, at[idx[i] * stride], "%s[%zu].name: duplicate %s name %s (first at line %d)",
                    list, idx[i], what, conf_quote(q, sizeof(q), cur),
                    at[idx[first] * stride].line);
    }
}

/* --------------------------------------------------------- list sections */

/* Allocate an array of count items of size; NULL (reported) on failure. */
static void *items_new(struct conf_ctx *x, size_t count, size_t size)
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
static ssize_t list_count(struct conf_ctx *x, const struct ynode *v, struct conf_mark at,
                          const char *key, size_t max)
{
    if (conf_is_null(v)) {
        return 0;
    }
    if (v->type != YN_SEQ) {
        conf_report(x, at, "%s: expected a list", key);
        return -1;
    }
    if (v->n > max) {
        conf_report(x, at, "%s: too many items (limit %zu)", key, max);
        return -1;
    }
    return (ssize_t)v->n;
}

/* The mapping of list item i, or NULL after reporting; *iat is where the
 * item is written. */
static const struct ynode *item_map(struct conf_ctx *x, const struct ynode *list, size_t i,
                                    const char *key, char *ipath, size_t n, struct conf_mark *iat)
{
    const struct ynode *it = list->kids[i];
    *iat = list->kat[i];
    conf_path_index(ipath, n, key, i);
    if (!conf_visit(x, *iat)) {
        return NULL;
    }
    if (it->type != YN_MAP) {
        conf_report(x, *iat, "%s: expected a mapping", ipath);
        return NULL;
    }
    return it;
}

/* Where to report a key of an item: the key itself, or the alias when the
 * whole item is an alias (its keys are written at the anchor). */
static struct conf_mark written_at(struct conf_mark key_at, const struct ynode *m,
                                   struct conf_mark iat)
{
    bool aliased = m->at.line != iat.line || m->at.col != iat.col;
    return aliased ? iat : key_at;
}

/* The variant a mapping declares in its "type" key, read without
 * reporting anything: its index, or -1 when absent or unknown. */
static ssize_t peek_variant(const struct ynode *m, const char *(*name)(size_t i))
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
        if (k->type != YN_SCALAR || strcmp(k->text, "type") != 0 || v->type != YN_SCALAR) {
            continue;
        }
        char *s, err[64];
        if (conf_expand(v->text, v->len, &s, err, sizeof(err)) < 0) {
            return -1;
        }
        ssize_t found = -1;
        for (size_t t = 0; name(t) != NULL; t++) {
            if (strcmp(s, name(t)) == 0) {
                found = (ssize_t)t;
            }
        }
        free(s);
        return found;
    }
    return -1;
}

/* Report each required row of set s of the item that was not given:
 * "PATH: SUBJECT needs KEY", or "PATH: NAMED needs a name". */
void conf_list_require(struct conf_ctx *x, const struct list_item *li, size_t s, const char *named,
                       const char *subject)
{
    size_t base = 0;
    for (size_t i = 0; i < s; i++) {
        base += li->it->sets[i].n;
    }
    const struct conf_rows *set = &li->it->sets[s];
    for (size_t i = 0; i < set->n; i++) {
        const struct conf_state *st = &li->st[base + i];
        if (!set->rows[i].required || st->set || st->bad) {
            continue;
        }
        if (strcmp(set->rows[i].key, "name") == 0) {
            conf_report(x, li->iat, "%s: %s needs a name", li->ipath, named);
        } else {
            conf_report(x, li->iat, "%s: %s needs %s", li->ipath, subject, set->rows[i].key);
        }
    }
}

/* Parse one item of a list section into item; marks gets the positions of
 * sec->marks. */
static void parse_item(struct conf_ctx *x, const struct list_section *sec, struct conf_item *it,
                       const struct ynode *list, size_t i, void *item, struct conf_mark *marks)
{
    struct list_item li = {.it = it, .variant = -1};
    const struct ynode *m = item_map(x, list, i, sec->key, li.ipath, sizeof(li.ipath), &li.iat);
    if (m == NULL) {
        return;
    }
    li.m = m;
    it->accept = CONF_ACCEPT_ALL;
    it->variant = NULL;
    if (sec->variant_name != NULL) {
        li.variant = peek_variant(m, sec->variant_name);
        if (li.variant >= 0 && sec->variant_accept != NULL) {
            it->accept = sec->variant_accept((size_t)li.variant);
            it->variant = sec->variant_name((size_t)li.variant);
        }
    }
    size_t nrows = conf_item_nrows(it);
    struct conf_state *st = calloc(nrows, sizeof(*st));
    if (st == NULL) {
        x->oom = true;
        x->stop = true;
        return;
    }
    li.st = st;
    /* Numbers of every set: a check of no known type still holds them. */
    for (size_t s = 0; s < it->nsets; s++) {
        conf_rows_defaults(&it->sets[s], item);
    }
    conf_parse_fields(x, m, li.ipath, it, item, st);
    if (conf_rows_fill(&it->sets[0], item) < 0) {
        x->oom = true;
        x->stop = true;
    }
    for (size_t j = 0; j < sec->nmarks; j++) {
        const struct conf_state *ms = conf_item_state(it, st, sec->marks[j]);
        marks[j] = written_at(ms->at, m, li.iat);
    }
    if (sec->early != NULL) {
        sec->early(x, item, &li);
    }
    conf_list_require(x, &li, 0, sec->what, sec->needs);
    if (sec->item != NULL) {
        sec->item(x, item, &li);
    }
    const struct conf_state *type = conf_item_state(it, st, "type");
    if (sec->variant_name != NULL && !type->set) {
        if (!type->bad) {
            char list_names[256];
            conf_names_join(list_names, sizeof(list_names), sec->variant_name);
            conf_report(x, li.iat, "%s: %s needs a type (%s)", li.ipath, sec->what, list_names);
        }
    } else if (sec->variant != NULL && li.variant >= 0) {
        sec->variant(x, item, &li);
    } else if (sec->variant_name != NULL && li.variant >= 0) {
        char subject[128];
        snprintf(subject, sizeof(subject), "%s %s", it->variant, sec->what);
        for (size_t s = 1; s < it->nsets; s++) {
            if (it->accept & (1u << s)) {
                conf_list_require(x, &li, s, subject, subject);
                if (conf_rows_fill(&it->sets[s], item) < 0) {
                    x->oom = true;
                    x->stop = true;
                }
            }
        }
    }
    free(st);
}

/* Parse a list section: count, allocate, each item's mapping and rows, the
 * name index and duplicate names, then the section's own checks. */
void conf_list_parse(struct conf_ctx *x, const struct list_section *sec, const struct ynode *v,
                     struct conf_mark at)
{
    struct config *c = x->c;
    ssize_t n = list_count(x, v, at, sec->key, sec->max);
    if (n <= 0) {
        return;
    }
    char *items = items_new(x, (size_t)n, sec->item_size);
    struct conf_mark *marks =
        items_new(x, (size_t)n * (sec->nmarks ? sec->nmarks : 1), sizeof(*marks));
    if (items == NULL || marks == NULL) {
        free(items);
        free(marks);
        return;
    }
    *CONF_AT(c, sec->items_off, void *) = items;
    size_t *count = CONF_AT(c, sec->count_off, size_t);
    struct conf_rows sets[MAX_SETS] = {sec->rows};
    struct conf_item it = {.sets = sets, .nsets = 1, .noun = sec->key};
    if (sec->variant_sets != NULL) {
        it.nsets = sec->variant_sets(sets, MAX_SETS);
    }
    for (size_t i = 0; i < (size_t)n && !x->stop; i++) {
        /* Every item gets an entry, so indexes in messages match the file. */
        void *item = items + (*count)++ * sec->item_size;
        parse_item(x, sec, &it, v, i, item, &marks[i * sec->nmarks]);
    }
    if (sec->named) {
        size_t nidx;
        size_t *idx = conf_index_build(items, *count, sec->item_size, sec->name_off, &nidx);
        if (idx == NULL) {
            x->oom = true;
        } else {
            report_duplicates(x, items, sec->item_size, sec->name_off, idx, nidx, marks,
                              sec->nmarks, sec->key, sec->what);
            if (sec->order_off != 0) {
                *CONF_AT(x->priv, sec->order_off, size_t *) = idx;
                *CONF_AT(x->priv, sec->norder_off, size_t) = nidx;
            } else {
                free(idx);
            }
        }
    }
    if (sec->after != NULL) {
        sec->after(x, marks);
    }
    free(marks);
}

/* Look up a check by name; NULL when absent. */
const struct conf_check *config_find_check(const struct config *c, const char *name)
{
    const struct config_priv *pv = (const struct config_priv *)c;
    if (c == NULL || name == NULL || pv->check_order == NULL) {
        return NULL;
    }
    ssize_t i = conf_index_find(c->checks, sizeof(*c->checks), offsetof(struct conf_check, name),
                                pv->check_order, pv->ncheck_order, name);
    return i < 0 ? NULL : &c->checks[i];
}

/* Look up an app by name; NULL when absent. */
const struct conf_app *config_find_app(const struct config *c, const char *name)
{
    const struct config_priv *pv = (const struct config_priv *)c;
    if (c == NULL || name == NULL || pv->app_order == NULL) {
        return NULL;
    }
    ssize_t i = conf_index_find(c->apps, sizeof(*c->apps), offsetof(struct conf_app, name),
                                pv->app_order, pv->napp_order, name);
    return i < 0 ? NULL : &c->apps[i];
}
