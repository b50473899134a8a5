/* store_spool.h - a file of write records that wait for a store.
 *
 * A backend that cannot write now (the database is away, its queue is full)
 * appends its write records here and reads them back, in order, once it can
 * write again. The file is a list of records, each a 12-byte header (magic
 * "SWSP", the payload length, the payload's CRC-32) and the payload: the
 * record's kind, its record number (rn) and its fields, little-endian, a
 * string as a u32 length (0xffffffff for NULL) and its bytes. A spool is
 * outside input: reading checks every header, checksum and value, skips
 * (and logs) corrupt or truncated stretches and resynchronizes on the next
 * magic.
 *
 * Ownership: the backend embeds a struct store_spool and is its only user,
 * on one thread. The spool owns its path (taken over by store_spool_init)
 * and its descriptor; store_spool_finish releases both. Records passed to
 * store_spool_append stay the caller's; records read back are the caller's
 * to free with rec_free. All calls block on the file (pread/pwrite), which
 * is local and small per call. */
#ifndef SHIPWATCH_STORE_SPOOL_H
#define SHIPWATCH_STORE_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

struct rec;

struct store_spool {
    char *path;                 /* NULL: no spool configured */
    const char *backend;        /* the backend's name, for log lines (static) */
    int fd;                     /* -1 until first needed */
    uint64_t size;              /* bytes in the file */
    uint64_t rd;                /* next record to read */
    bool active;                /* the backend's: writes go to the spool until
                                   it is drained */
    uint64_t last_rn;           /* the backend's: largest rn read back from it */
    uint64_t bad;               /* corrupt or truncated stretches skipped */
};

/* Make sp an unopened spool at path (malloc'd, taken over; NULL for none),
 * logging as backend. Does not touch the file. */
void store_spool_init(struct store_spool *sp, char *path, const char *backend);

/* Close the file and free the path. The file itself is kept. */
void store_spool_finish(struct store_spool *sp);

/* Open (or create) the file when first needed and learn its size. 0,
 * -ENOENT without a path, or -errno (logged). */
int store_spool_open(struct store_spool *sp);

/* Append r at the end of the file. 0, or -errno with the file unchanged
 * (r stays the caller's in both cases). */
int store_spool_append(struct store_spool *sp, struct rec *r);

/* The next good record at the read offset, skipping (and reporting) bad
 * stretches; NULL at the end of the file or out of memory. The record is
 * the caller's. */
struct rec *store_spool_read(struct store_spool *sp);

/* Empty the file and rewind, once everything read from it is committed. */
void store_spool_reset(struct store_spool *sp);

#endif
