/* store_sqlite_read.h - the SQLite backend's queries.
 *
 * Called by store_sqlite.c on its writer thread with the writer's
 * connection (or, for store_sqlite_read_states, at start-up before the
 * writer runs), never from the loop: they block on SQLite. A query record
 * r is read from (its query and now_ms) and filled in (its rows, owned by
 * r and freed with it; r->err is 0 or -errno). Nothing here keeps state.
 * Only the two halves of the backend include this header. */
#ifndef SHIPWATCH_STORE_SQLITE_READ_H
#define SHIPWATCH_STORE_SQLITE_READ_H

#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

struct rec;

/* Bind s to parameter i, NULL or "" as SQL NULL (optional text columns and
 * filters, on both the writer's and the readers' side). */
static inline void bind_text_or_null(sqlite3_stmt *q, int i, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        sqlite3_bind_null(q, i);
    } else {
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    }
}

/* A history query (REC_HISTORY) into r->hrows. */
void store_sqlite_read_history(sqlite3 *db, struct rec *r);

/* An events query (REC_EVENTS) into r->erows. */
void store_sqlite_read_events(sqlite3 *db, struct rec *r);

/* A deploys query (REC_DEPLOYS) into r->drows. */
void store_sqlite_read_deploys(sqlite3 *db, struct rec *r);

/* Uptime and latency aggregates (REC_STATS) into r->srows; hours_done_ms is
 * the first hour not yet in rollups_hour, read from the minutes instead. */
void store_sqlite_read_stats(sqlite3 *db, int64_t hours_done_ms, struct rec *r);

/* An alerts query (REC_ALERTS) into r->arows. */
void store_sqlite_read_alerts(sqlite3 *db, struct rec *r);

/* Open alerts, current mutes and the outbox (REC_LOAD_ALERTING) into r. */
void store_sqlite_read_load_alerting(sqlite3 *db, struct rec *r);

/* Every stored check state, to fn (its strings valid for the call).
 * 0, or -EIO. */
int store_sqlite_read_states(sqlite3 *db, store_state_fn fn, void *arg);

#endif
