/* test_store.h - the store suite's shared fixtures (test_store.c) and the
 * tests kept in test_store_alerts.c, which test_store.c's main runs.
 *
 * Paths are buffers the caller owns; a store from open_store belongs to
 * the test, which closes it with store_close. */
#ifndef SHIPWATCH_TEST_STORE_H
#define SHIPWATCH_TEST_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"

/* A fresh database into out: a file path, or the DSN of a new PostgreSQL
 * database. */
void new_path(char *out, size_t len);

/* The store at path on loop, for the backend under test; fails the test
 * when it does not open. */
struct store *open_store(uv_loop_t *loop, const char *path);

/* One integer read by a separate connection (-1 when there is no row). */
int64_t sql_int(const char *path, const char *sql);

/* Record one result of check at ts. */
void put(struct store *st, const char *check, int64_t ts, int64_t lat_us,
         enum check_state outcome, int fail_streak);

/* The id a store hands out after prev (the next one, or larger with
 * PostgreSQL's shared blocks). */
void assert_next_id(int64_t got, int64_t prev);

/* test_store_alerts.c */
void alerting_round_trip(void **state);
void alerts_list_and_page(void **state);
void retention_trims_alerting(void **state);

#endif
