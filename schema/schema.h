/* schema.h - SQL migrations embedded at build time from schema/<engine>/. */
#ifndef SHIPWATCH_SCHEMA_H
#define SHIPWATCH_SCHEMA_H

#include <stddef.h>

struct schema_migration {
    int version;        /* NNNN from the file name, 1..N without gaps */
    const char *name;   /* the rest of the file name */
    const char *sql;    /* the file's text */
};

extern const struct schema_migration schema_sqlite[];
extern const size_t schema_sqlite_count;
extern const struct schema_migration schema_postgres[];
extern const size_t schema_postgres_count;

#endif
