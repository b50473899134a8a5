/* store_sqlite_keep.c - SQLite writes kept through failed commits.
 *
 * A write is freed only once its transaction committed. A commit that fails
 * for want of space or I/O (a full disk) keeps the transaction's writes, in
 * order, in the pending list, retried every RETRY_MS; while any wait the
 * store is degraded. Writes behind them wait in memory up to storage.queue,
 * then in the spool file, then (rows only) in memory again; a result or
 * event nothing can hold is dropped and counted. Runs on the writer thread
 * (see store_sqlite_int.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"
#include "store_rec.h"
#include "store_sqlite_int.h"
#include "util.h"

/* Append r to a list of records. */
void store_sqlite_list_add(struct rec **head, struct rec **tail, struct rec *r)
{
    r->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = r;
    } else {
        *head = r;
    }
    *tail = r;
}

/* Free a list of records. */
void store_sqlite_list_free(struct rec *r)
{
    for (struct rec *next; r != NULL; r = next) {
        next = r->next;
        rec_free(r);
    }
}

/* Errors a later try may not meet: space, I/O, locks. A transaction that
 * meets one is kept and retried; any other error skips its row. */
static bool retryable(int code)
{
    static const int codes[] = {SQLITE_FULL,  SQLITE_IOERR,    SQLITE_BUSY,     SQLITE_LOCKED,
                                SQLITE_NOMEM, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PROTOCOL};
    for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
        if ((code & 0xff) == codes[i]) {
            return true;
        }
    }
    return false;
}

/* The errno a retryable SQLite error stands for, named in logs. */
static const char *code_errno(int code)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {.code = SQLITE_FULL, .name = "ENOSPC"},    {.code = SQLITE_NOMEM, .name = "ENOMEM"},
        {.code = SQLITE_READONLY, .name = "EROFS"}, {.code = SQLITE_BUSY, .name = "EBUSY"},
        {.code = SQLITE_LOCKED, .name = "EBUSY"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if ((code & 0xff) == names[i].code) {
            return names[i].name;
        }
    }
    return "EIO";
}

/* Tell the loop thread waiting for r (store_put_deploy, store_put_mute)
 * whether it is kept. */
static void settle(struct store_sqlite *s, const struct rec *r, int rc)
{
    pthread_mutex_lock(&s->mu);
    if (s->sync_rec == r && s->sync_rc == 1) {
        s->sync_rc = rc;
        pthread_cond_broadcast(&s->loaded_cv);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Whether the loop thread waits for r. */
static bool awaited(struct store_sqlite *s, const struct rec *r)
{
    pthread_mutex_lock(&s->mu);
    bool yes = s->sync_rec == r && s->sync_rc == 1;
    pthread_mutex_unlock(&s->mu);
    return yes;
}

/* Copy what the loop reports (store_health) under mu. */
void store_sqlite_publish(struct store_sqlite *s)
{
    pthread_mutex_lock(&s->mu);
    s->waiting = s->npend + s->nheld;
    s->spooled = s->sp.size > s->sp.rd ? s->sp.size - s->sp.rd : 0;
    pthread_mutex_unlock(&s->mu);
}

/* Count a result or event that cannot be kept. */
static void drop(struct store_sqlite *s, struct rec *r)
{
    pthread_mutex_lock(&s->mu);
    s->dropped++;
    s->write_errors++;
    pthread_mutex_unlock(&s->mu);
    rec_free(r);
}

/* Keep r behind the writes waiting: in memory up to pend_max, then in the
 * spool (in order once it is in use), then rows in memory; a result or
 * event nothing can hold is dropped and counted. A write the loop waits
 * for is kept durably (the spool) or refused. */
void store_sqlite_keep(struct store_sqlite *s, struct rec *r)
{
    bool sync = awaited(s, r);
    if (!sync && !s->sp.active && s->npend < s->pend_max) {
        store_sqlite_list_add(&s->pend_head, &s->pend_tail, r);
        s->npend++;
        return;
    }
    r->rn = ++s->next_rn;
    if (s->sp.path != NULL && s->sp.size < s->spool_max && store_spool_append(&s->sp, r) == 0) {
        if (!s->sp.active) {
            log_warn(LOG_KV("store", "sqlite"), "writes wait in the spool %s", s->sp.path);
        }
        s->sp.active = true;
        /* The health a caller reads once told "kept" counts this record. */
        store_sqlite_publish(s);
        settle(s, r, 0);
        rec_free(r);
        return;
    }
    if (sync) {
        settle(s, r, -ENOSPC);
        rec_free(r);
    } else if (r->kind == REC_RESULT || r->kind == REC_EVENT) {
        drop(s, r);
    } else if (s->sp.active) {
        store_sqlite_list_add(&s->held_head, &s->held_tail, r);
        s->nheld++;
    } else {
        store_sqlite_list_add(&s->pend_head, &s->pend_tail, r);
        s->npend++;
    }
}

/* A statement of the open transaction failed: a retryable error fails the
 * whole transaction (kept and retried, logged once per outage); any other
 * is logged and counted and only its row is skipped, as before. */
void store_sqlite_count_error(struct store_sqlite *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    if (s->in_txn && retryable(code)) {
        if (!s->txn_failed) {
            s->txn_failed = true;
            s->txn_code = code;
            snprintf(s->txn_err, sizeof(s->txn_err), "%s: %s", what, sqlite3_errmsg(s->db));
        }
        return;
    }
    log_error(LOG_KV("store", "sqlite"), "%s: %s", what, sqlite3_errmsg(s->db));
    pthread_mutex_lock(&s->mu);
    s->write_errors++;
    pthread_mutex_unlock(&s->mu);
}

/* Open a transaction unless one is open. */
void store_sqlite_txn_begin(struct store_sqlite *s)
{
    if (!s->in_txn && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
        s->in_txn = true;
        s->txn_failed = false;
    }
}

/* The transaction committed: its writes are done; an outage is over. */
static void txn_done(struct store_sqlite *s)
{
    for (struct rec *r = s->txn_head; r != NULL; r = r->next) {
        settle(s, r, 0);
    }
    store_sqlite_list_free(s->txn_head);
    s->txn_head = s->txn_tail = NULL;
    if (s->pend_head != NULL) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    bool was = s->degraded;
    int64_t since = s->since_ms;
    s->degraded = false;
    s->reason[0] = '\0';
    s->base.errstr[0] = '\0';
    pthread_mutex_unlock(&s->mu);
    if (was) {
        char n[24];
        snprintf(n, sizeof(n), "%" PRId64, (clock_wall_ms() - since + 500) / 1000);
        log_info(LOG_KV("store", "sqlite", "seconds", n),
                 "store recovered after %s s: the writes kept were committed", n);
    }
}

/* The transaction failed: its writes go back in front of those waiting, a
 * write the loop waits for is spooled or refused, the store is degraded. */
static void txn_fail(struct store_sqlite *s)
{
    s->next_retry_ms = clock_wall_ms() + RETRY_MS;
    pthread_mutex_lock(&s->mu);
    bool was = s->degraded;
    if (!was) {
        s->degraded = true;
        s->since_ms = clock_wall_ms();
        snprintf(s->reason, sizeof(s->reason), "%s (%s)", s->txn_err, code_errno(s->txn_code));
        snprintf(s->base.errstr, sizeof(s->base.errstr), "%s", s->reason);
    }
    pthread_mutex_unlock(&s->mu);
    if (!was) {
        log_error(LOG_KV("store", "sqlite", "errno", code_errno(s->txn_code)),
                  "store degraded: %s (%s); writes are kept and retried every %d ms", s->txn_err,
                  code_errno(s->txn_code), RETRY_MS);
    }
    if (s->txn_tail != NULL) {
        s->txn_tail->next = s->pend_head;
        if (s->pend_head == NULL) {
            s->pend_tail = s->txn_tail;
        }
        s->pend_head = s->txn_head;
    }
    s->txn_head = s->txn_tail = NULL;
    s->npend = 0;
    for (struct rec **pp = &s->pend_head, *prev = NULL; *pp != NULL;) {
        struct rec *r = *pp;
        if (!awaited(s, r)) {
            s->npend++;
            prev = r;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (s->pend_tail == r) {
            s->pend_tail = prev;
        }
        store_sqlite_keep(s, r);     /* to the spool or refused: never in memory */
    }
}

/* Commit the open transaction; on failure roll back what SQLite has not
 * already rolled back, and keep its writes. */
void store_sqlite_txn_commit(struct store_sqlite *s)
{
    if (!s->in_txn) {
        return;
    }
    s->in_txn = false;
    if (!s->txn_failed && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        s->txn_failed = true;
        s->txn_code = sqlite3_extended_errcode(s->db);
        snprintf(s->txn_err, sizeof(s->txn_err), "commit: %s", sqlite3_errmsg(s->db));
    }
    if (s->txn_failed) {
        if (!sqlite3_get_autocommit(s->db)) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
        s->txn_failed = false;
        txn_fail(s);
    } else {
        txn_done(s);
    }
    store_sqlite_publish(s);
}

/* Retry the writes kept in memory: their transaction comes first. */
void store_sqlite_retry(struct store_sqlite *s)
{
    struct rec *r = s->pend_head;
    s->pend_head = s->pend_tail = NULL;
    s->npend = 0;
    for (struct rec *next; r != NULL; r = next) {
        next = r->next;
        store_sqlite_write_rec(s, r);
    }
}

/* Once the memory holds nothing back, commit the spool's records in order,
 * then the rows it refused; empty it once all of it is committed. */
void store_sqlite_drain_spool(struct store_sqlite *s)
{
    while (s->sp.active && s->pend_head == NULL) {
        size_t n = 0;
        struct rec *r;
        while (n < STORE_BATCH && (r = store_spool_read(&s->sp)) != NULL) {
            store_sqlite_write_rec(s, r);
            n++;
        }
        bool stuck = n == 0 && s->sp.rd < s->sp.size;
        if (s->sp.rd >= s->sp.size || stuck) {
            s->sp.active = false;
            struct rec *h = s->held_head;
            s->held_head = s->held_tail = NULL;
            s->nheld = 0;
            for (struct rec *next; h != NULL; h = next) {
                next = h->next;
                store_sqlite_write_rec(s, h);
            }
        }
        store_sqlite_txn_commit(s);
    }
    if (!s->sp.active && s->pend_head == NULL && s->sp.size > 0 && s->sp.rd >= s->sp.size) {
        store_spool_reset(&s->sp);
        log_info(LOG_KV("store", "sqlite"), "spool drained");
    }
}

/* At stop: a last try, then what still waits goes to the spool (replayed on
 * the next start) or is lost, and said so. */
void store_sqlite_flush(struct store_sqlite *s)
{
    if (s->pend_head != NULL) {
        store_sqlite_retry(s);
        store_sqlite_txn_commit(s);
    }
    store_sqlite_drain_spool(s);
    size_t spooled = 0, lost = 0;
    struct rec *lists[] = {s->pend_head, s->held_head};
    s->pend_head = s->pend_tail = s->held_head = s->held_tail = NULL;
    s->npend = s->nheld = 0;
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        for (struct rec *r = lists[i], *next; r != NULL; r = next) {
            next = r->next;
            r->rn = ++s->next_rn;
            if (s->sp.path != NULL && store_spool_append(&s->sp, r) == 0) {
                spooled++;
            } else {
                lost++;
            }
            rec_free(r);
        }
    }
    if (spooled > 0 || lost > 0) {
        char a[24], b[24];
        snprintf(a, sizeof(a), "%zu", spooled);
        snprintf(b, sizeof(b), "%zu", lost);
        log_warn(LOG_KV("store", "sqlite", "spooled", a, "lost", b),
                 "closing with unwritten writes: %s spooled, %s lost", a, b);
    }
    store_sqlite_publish(s);
}

/* Move a sequence past an id found in the spool. */
static void past(int64_t *next, int64_t id)
{
    if (id >= *next) {
        *next = id + 1;
    }
}

/* Writes a previous run left in the spool (it closed during an outage) are
 * the first the writer commits; the ids they hold are not handed out again. */
void store_sqlite_load_spool(struct store_sqlite *s)
{
    struct stat sb;
    if (s->sp.path == NULL || stat(s->sp.path, &sb) < 0 || sb.st_size == 0 ||
        store_spool_open(&s->sp) < 0) {
        return;
    }
    size_t n = 0;
    struct rec *r;
    while ((r = store_spool_read(&s->sp)) != NULL) {
        int64_t *const next[] = {
            [REC_EVENT] = &s->next_event_id, [REC_DEPLOY] = &s->next_deploy_id,
            [REC_ALERT] = &s->next_alert_id, [REC_MUTE] = &s->next_mute_id,
            [REC_OUTBOX] = &s->next_outbox_id,
        };
        const int64_t ids[] = {
            [REC_EVENT] = r->ev.id,     [REC_DEPLOY] = r->dep.id, [REC_ALERT] = r->alert.id,
            [REC_MUTE] = r->mute.id,    [REC_OUTBOX] = r->outbox.id,
        };
        if ((size_t)r->kind < ARRAY_SIZE(next) && next[r->kind] != NULL) {
            past(next[r->kind], ids[r->kind]);
        }
        store_sqlite_list_add(&s->pend_head, &s->pend_tail, r);
        s->npend++;
        n++;
    }
    char c[24];
    snprintf(c, sizeof(c), "%zu", n);
    log_info(LOG_KV("store", "sqlite", "writes", c), "replaying %s writes from the spool %s", c,
             s->sp.path);
    store_sqlite_publish(s);
}
