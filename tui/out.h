/* out.h - what the CLI prints: aligned tables for people, JSON for scripts. */
#ifndef SHIPWATCH_OUT_H
#define SHIPWATCH_OUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ipc_proto.h"

/* A table: add a header row, then rows of the same width; table_print
 * pads every column but the last to its widest cell (display width, so
 * UTF-8 lines up) and, on a terminal, narrows the widest columns until a
 * row fits its width: a cell cut short ends in "\u2026", never silently. */
struct table {
    size_t ncols;
    size_t nrows;
    size_t cap;
    char **cells;               /* nrows * ncols, owned */
};

void table_init(struct table *t, size_t ncols);
/* Append a row of ncols cells (NULL prints as "-"). */
void table_row(struct table *t, ...);
/* On stdout, fitted to the terminal unless table_set_wide(true) (--wide). */
void table_print(const struct table *t);
/* On f, fitted to tw columns (0: every cell in full). */
void table_fprint(const struct table *t, FILE *f, size_t tw);
void table_set_wide(bool wide);
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

/* The detail of one check, as `checks CHECK` prints it. */
void out_check_detail(const struct ipc_check *c);

/* The matchers of a mute, "check web, app shop", or "every alert". */
char *out_mute_matchers(const struct ipc_mute *m, char *buf, size_t len);

/* Errors. With out_error_json(false) (the default) out_err prints its
 * line on stderr at once; with true it keeps the first message, and
 * out_error_flush prints {"error": {"code": CODE, "message": MESSAGE}}
 * as one line on stdout (nothing when no message was kept). */
void out_error_json(bool json);
void out_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_error_flush(const char *code);

#endif
