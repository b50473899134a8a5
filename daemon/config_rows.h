/* config_rows.h - the field-row engine of the configuration.
 *
 * Every key the configuration knows is one const row, as tmux's
 * options-table.c has one row an option: its key, its type, where its
 * value goes, its limits, its default and whether it is required. The
 * engine walks a mapping of the YAML tree against rows, and the same rows
 * fill defaults, free what was parsed (conf_rows_release) and hash it for
 * the reload fingerprint (conf_rows_hash), so a new key is one row.
 *
 * Rows come in sets (struct conf_rows). An item with variants (a check of
 * one type, a notifier of one type) takes the rows of sets[0] plus those of
 * the sets its variant accepts; a key of another variant's set is reported
 * as "not a key of http checks". A variant's file owns its row array: a
 * check type's is struct check_type's rows (check_http.c), a notifier
 * type's struct notifier_class's rows (notify_email.c); config.c reads them
 * through those tables.
 *
 * Ownership: a row's parser stores into base at f->off (and f->off2, f->off3
 * for counts and parsed forms); what it stores (strings, vectors) belongs to
 * base and is freed by conf_rows_release(), which also zeroes the slots so
 * that rows sharing a slot are released once. Messages never quote the
 * value of a string key, so secrets cannot leak into logs. */
#ifndef SHIPWATCH_CONFIG_ROWS_H
#define SHIPWATCH_CONFIG_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_yaml.h"
#include "util.h"

struct conf_field;

/* Parse the value v of one key into base. at is the key's position, path
 * its name for messages. Returns 0 when set, 1 when null (absent), -1 after
 * reporting an error. */
typedef int (*conf_parse_fn)(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                             struct conf_mark at, const char *path, void *base);

/* What a row holds, and so how it is parsed, defaulted, freed and hashed. */
enum conf_type {
    CONF_STR,      /* char *; f->valid checked; empty is absent */
    CONF_ENUM,     /* char *; one of f->choices */
    CONF_INDEX,    /* int: the index of one of f->choices */
    CONF_FLAGS,    /* unsigned: bit i for choice i, from a list (or one string) */
    CONF_INT,      /* int in [min, max] */
    CONF_DURATION, /* int64_t milliseconds in [min, max]; max 0 is no limit */
    CONF_SIZE,     /* size_t bytes in [min, max]; KiB, MiB, GiB suffixes */
    CONF_BOOL,     /* bool */
    CONF_NOTBOOL,  /* bool stored negated ("enabled: false" sets paused) */
    CONF_CLOCK,    /* int: minutes after 00:00 UTC, written HH:MM */
    CONF_LIST,     /* char ** at off, size_t count at off2; min 1: no empty item */
    CONF_ARGV,     /* a command: as CONF_LIST, NULL-terminated, argv[0] set */
    CONF_ENV,      /* a child's variables: a mapping, stored as CONF_ARGV's
                      "NAME=value" vector; values are secrets */
    CONF_HEADERS,  /* struct conf_header * at off, size_t count at off2 */
    CONF_CONDS,    /* condition texts at off, count at off2, struct cond ** at off3 */
    CONF_MAP,      /* a nested mapping of the f->sub rows, into the same base */
};

/* One known key of a mapping. */
struct conf_field {
    const char *key;
    enum conf_type type;
    conf_parse_fn parse;                 /* NULL: the type's own parser */
    size_t off;                          /* where the value goes in base */
    size_t off2;                         /* the count, for lists */
    size_t off3;                         /* conditions: the parsed array */
    int64_t min, max;                    /* numbers, durations, sizes; max items for lists */
    const char *const *choices;          /* enumerations, NULL-terminated */
    const char *(*valid)(const char *s); /* extra check on strings and list items */
    int64_t def;                         /* numbers: stored before parsing */
    const char *def_str;                 /* strings (a list: its one item): when absent */
    bool required;                       /* absent is an error; the section words it */
    const struct conf_field *sub;        /* CONF_MAP: the nested rows */
    size_t nsub;
};

/* A set of rows. */
struct conf_rows {
    const struct conf_field *rows;
    size_t n;
};

/* The slot at byte offset off of base, as a type *. */
#define CONF_AT(base, off, type) ((type *)((char *)(base) + (off)))

/* Limits and defaults in rows: sizes in bytes, durations in milliseconds. */
#define CONF_KIB(n) ((int64_t)(n)*1024)
#define CONF_MIB(n) ((int64_t)(n)*1024 * 1024)
#define CONF_SEC(n) ((int64_t)(n)*1000)
#define CONF_HOUR(n) ((int64_t)(n)*3600 * 1000)

#define CONF_NROWS(a) ARRAY_SIZE(a)
#define CONF_ROWS(a)                                                                               \
    {                                                                                              \
        .rows = (a), .n = CONF_NROWS(a)                                                            \
    }

/* What conf_parse_fields learned about each key of a set of rows. */
struct conf_state {
    struct conf_mark at; /* the key's position */
    bool seen;           /* key present (even if null or bad) */
    bool set;            /* a value was stored */
    bool bad;            /* an error was reported for it */
};

#define CONF_ACCEPT_ALL (~0u)

/* The rows one mapping takes. */
struct conf_item {
    const struct conf_rows *sets; /* sets[0]: the rows every item takes */
    size_t nsets;
    unsigned accept;     /* bit i: the keys of sets[i] are this item's (bit 0
                            always); CONF_ACCEPT_ALL when its variant is
                            unknown, so that no key is refused twice */
    const char *variant; /* "http", in "not a key of http checks" */
    const char *noun;    /* "checks" */
};

/* Rows in all of an item's sets: the length of its state array. */
size_t conf_item_nrows(const struct conf_item *it);

/* The state of key in st (conf_item_nrows(it) long); NULL when no set of
 * it has the key. */
struct conf_state *conf_item_state(const struct conf_item *it, struct conf_state *st,
                                   const char *key);

/* Walk the pairs of mapping m, parse every key of the item's accepted sets
 * into base, report unknown, duplicate and other variants' keys. st, zeroed
 * by the caller, has conf_item_nrows(it) entries, set by set. */
void conf_parse_fields(struct conf_ctx *x, const struct ynode *m, const char *path,
                       const struct conf_item *it, void *base, struct conf_state *st);

/* Parse one value with its row's parser (see conf_parse_fn). */
int conf_parse_value(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                     struct conf_mark at, const char *path, void *base);

/* Store the numeric defaults of the rows (nested ones too) into base. */
void conf_rows_defaults(const struct conf_rows *r, void *base);

/* Fill the string defaults of rows left absent; 0 or -ENOMEM. */
int conf_rows_fill(const struct conf_rows *r, void *base);

/* Free what the rows own in base and zero those slots. */
void conf_rows_release(const struct conf_rows *r, void *base);

/* Hash every value of the rows in base into h. */
uint64_t conf_rows_hash(uint64_t h, const struct conf_rows *r, const void *base);

/* Free a vector of n strings (NULL entries allowed) and the vector. */
void conf_strv_free(char **v, size_t n);

/* Format "PATH[i]" into dst. */
void conf_path_index(char *dst, size_t n, const char *parent, size_t i);

/* Format "PATH.key" (or key alone when parent is empty) into dst, the key
 * (klen bytes) sanitized for a message. */
void conf_path_key(char *dst, size_t n, const char *parent, const char *key, size_t klen);

/* Format a path into dst (size n), truncating silently. */
__attribute__((format(printf, 3, 4))) void conf_pathf(char *dst, size_t n, const char *fmt, ...);

/* Validators of string values: each returns NULL when s is acceptable,
 * else the reason, for "PATH: reason". */
const char *conf_valid_name(const char *s);     /* a check, app, notifier name */
const char *conf_valid_text(const char *s);     /* free text on one line */
const char *conf_valid_secret(const char *s);   /* a token: no spaces or controls */
const char *conf_valid_http_url(const char *s); /* http:// or https:// */
const char *conf_valid_method(const char *s);   /* an HTTP method in capitals */
const char *conf_valid_token(const char *s);    /* a heartbeat token: part of a URL */
const char *conf_valid_listen(const char *s);   /* HOST:PORT */
const char *conf_valid_socket(const char *s);   /* a Unix socket path */
const char *conf_valid_path(const char *s);     /* a file path */

#endif
