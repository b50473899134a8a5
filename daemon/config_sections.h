/* config_sections.h - the sections of the configuration file, as
 * config.c defines them (private to config*.c).
 *
 * config.c owns the rows of every section and the hooks of the list
 * sections; config_load.c walks the top level in the order given here and
 * frees a configuration with the same tables. Everything here is const and
 * static storage: nothing to free. */
#ifndef SHIPWATCH_CONFIG_SECTIONS_H
#define SHIPWATCH_CONFIG_SECTIONS_H

#include <stddef.h>

#include "config_list.h"
#include "config_rows.h"

/* The keys of the top level. */
enum conf_top {
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
    NTOP,
};

extern const char *const conf_top_keys[NTOP];

/* A mapping section of the top level, into struct config. */
struct conf_root_section {
    enum conf_top top;
    struct conf_rows rows;
};

/* In the order they are read: defaults before the checks that use them. */
enum { SEC_DAEMON, SEC_STORAGE, SEC_DEFAULTS, SEC_REDIS, NROOT };

#define ROOT_MAX_ROWS 16 /* rows of the largest root section, at most */

extern const struct conf_root_section conf_root_sections[NROOT];

/* Rows of storage_fields that the loader checks across keys. */
enum { STORAGE_DRIVER, STORAGE_PATH, STORAGE_DSN, STORAGE_RETENTION, STORAGE_SPOOL };

/* A scalar of the top level (cluster, node-name), into struct config. */
struct conf_root_scalar {
    enum conf_top top;
    struct conf_field row;
};

#define NSCALARS 2

extern const struct conf_root_scalar conf_root_scalars[NSCALARS];

/* A list section of the top level. */
struct conf_list_entry {
    enum conf_top top;
    const struct list_section *sec;
};

/* In the order they are read: later ones name earlier ones (alerts name
 * notifiers and checks). */
#define NLISTS 5

extern const struct conf_list_entry conf_list_sections[NLISTS];

#endif
