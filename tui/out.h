/* out.h - what the CLI prints: aligned tables for people, JSON for scripts. */
#ifndef SHIPWATCH_OUT_H
#define SHIPWATCH_OUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_proto.h"

/* A table: add a header row, then rows of the same width; out_table_print
 * pads every column but the last to its widest cell (display width, so
 * UTF-8 lines up) and, on a terminal, clips lines to its width. */
struct table {
    size_t ncols;
    size_t nrows;
    size_t cap;
    char **cells;               /* nrows * ncols, owned */
};

void table_init(struct table *t, size_t ncols);
/* Append a row of ncols cells (NULL prints as "-"). */
void table_row(struct table *t, ...);
void table_print(const struct table *t);
void table_finish(struct table *t);

/* The JSON form of a struct: the same field names as on the wire; NULL
 * strings left out; a field named "data" holding JSON text is embedded as
 * JSON. New reference. */
json_t *out_json(const struct ipc_type *t, const void *v);

/* Print one JSON document (pretty, or one line when compact) and free it. */
void out_json_print(json_t *j, bool compact);

/* Local time "2026-11-23 08:38:35" of unix ms; "-" for 0. */
char *out_time(int64_t ms, char *buf, size_t len);

/* A short span: "850us", "12ms", "1.2s", "3m", "2h5m", "3d4h". */
char *out_span_us(int64_t us, char *buf, size_t len);

/* "5s ago", "3m ago", ... relative to now_ms; "never" for 0. */
char *out_ago(int64_t ms, int64_t now_ms, char *buf, size_t len);

#endif
