/* store_sqlite_int.h - the SQLite backend's insides, shared by its halves.
 *
 *   store_sqlite.c        the writer thread, the statements, the ops
 *   store_sqlite_keep.c   transactions, and writes kept through failed
 *                         commits (memory, the spool, retries, health)
 *   store_sqlite_read.c   the queries
 *
 * Ownership: struct store_sqlite belongs to the backend; fields marked
 * "under mu" are shared by the loop and the writer, the writer's own
 * (statements, transaction, pending and held lists, the spool) are touched
 * by the writer thread only, or before it starts and after it stopped.
 * Records on every list are owned by that list. Only the backend's own
 * files include this header. */
#ifndef SHIPWATCH_STORE_SQLITE_INT_H
#define SHIPWATCH_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store.h"
#include "store_spool.h"

struct rec;

#define STORE_BATCH 1000
#define RETRY_MS 1000          /* a failed commit is tried again this often */
#define SPOOL_MAX_DEFAULT (256ULL << 20)

struct store_sqlite {
    struct store base;
    char *path;
    sqlite3 *db;                    /* the writer's connection */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rec *head, *tail;        /* queue to the writer, under mu */
    size_t queued;
    bool urgent;                    /* a query or stop waits: commit now */
    struct rec *done_head;          /* finished queries, under mu */
    pthread_cond_t loaded_cv;       /* a synchronous load finished, under mu */
    uv_async_t async;
    bool async_started;
    int64_t next_event_id;          /* loop thread only */
    int64_t next_deploy_id;         /* loop thread only */
    int64_t next_alert_id;          /* loop thread only */
    int64_t next_mute_id;           /* loop thread only */
    int64_t next_outbox_id;         /* loop thread only */
    uint64_t write_errors;          /* under mu */
    uint64_t dropped;               /* under mu: results and events dropped */
    bool degraded;                  /* under mu: commits fail, writes wait */
    char reason[160];               /* under mu: why, for people */
    int64_t since_ms;               /* under mu: when it became degraded */
    size_t waiting;                 /* under mu: pending + held */
    uint64_t spooled;               /* under mu: bytes waiting in the spool */
    struct rec *sync_rec;           /* under mu: a write the loop waits for */
    int sync_rc;                    /* under mu: 1 waiting, 0 kept, -errno refused */
    uint64_t dropped_logged;        /* loop thread: last count logged */
    /* writer-thread only */
    sqlite3_stmt *ins_result, *up_state, *ins_event, *get_check, *ins_check, *put_deploy;
    sqlite3_stmt *put_alert, *put_mute, *put_outbox, *del_outbox, *up_log, *ins_late;
    sqlite3_stmt *sel_recent, *ins_sorted;  /* results_recent -> results_by_check */
    uint64_t recent_rows;           /* written to results_recent since the last move */
    bool in_txn;
    bool txn_failed;                /* a statement of the open transaction failed */
    int txn_code;                   /* its SQLite error code */
    char txn_err[160];              /* and its text */
    struct rec *txn_head, *txn_tail;    /* written in the open transaction */
    struct rec *pend_head, *pend_tail;  /* failed commits and writes behind them */
    size_t npend, pend_max;
    struct rec *held_head, *held_tail;  /* rows the spool refused */
    size_t nheld;
    int64_t next_retry_ms;
    uint64_t next_rn;                   /* record numbers the spool asks for */
    struct store_spool sp;
    uint64_t spool_max;
    int64_t next_minute, next_hour; /* rollup progress */
    bool late_pending;              /* rollup_late may have rows */
    int64_t last_rollup_ms;
};

/* Append r to a list; free a whole list. */
void store_sqlite_list_add(struct rec **head, struct rec **tail, struct rec *r);
void store_sqlite_list_free(struct rec *r);

/* Copy what store_health reports under mu. */
void store_sqlite_publish(struct store_sqlite *s);

/* Keep r behind the writes waiting (memory, spool, held rows) or drop and
 * count a result or event nothing can hold; a write the loop waits for is
 * spooled or refused. */
void store_sqlite_keep(struct store_sqlite *s, struct rec *r);

/* A statement of the open transaction failed: a retryable error fails the
 * transaction; any other is logged and counted, its row skipped. */
void store_sqlite_count_error(struct store_sqlite *s, const char *what);

/* Open a transaction unless one is; commit it, keeping its writes (and
 * degrading the store) when that fails, or freeing them (and recovering). */
void store_sqlite_txn_begin(struct store_sqlite *s);
void store_sqlite_txn_commit(struct store_sqlite *s);

/* Write r in the open transaction, kept until the commit (store_sqlite.c). */
void store_sqlite_write_rec(struct store_sqlite *s, struct rec *r);

/* Put the writes kept in memory in the open transaction, first. */
void store_sqlite_retry(struct store_sqlite *s);

/* Commit the spool's records, then the rows it refused; empty it. */
void store_sqlite_drain_spool(struct store_sqlite *s);

/* At stop: a last try, then spool what still waits or say it is lost. */
void store_sqlite_flush(struct store_sqlite *s);

/* Before the writer starts: writes a previous run spooled wait first. */
void store_sqlite_load_spool(struct store_sqlite *s);

#endif
