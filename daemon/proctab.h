/* proctab.h - the process table: each process's pid, start, CPU ticks,
 * resident pages, state and command line, read from /proc in one walk and
 * shared by every process check that asks within PROCTAB_TTL_MS.
 *
 * A walk costs a read or two of procfs per process: a thousand process
 * checks a second each walking /proc themselves cost more than a core of
 * CPU. One table, read at most every PROCTAB_TTL_MS, serves them all.
 *
 * Tables are read on the thread pool (check_process.c's reads); struct
 * proctab is the cache they share, its mutex the only lock. A table never
 * changes once read, and is freed with its last reference. One walk runs
 * at a time: a read that finds the table stale while another walks waits
 * for that table.
 *
 * Ownership: the daemon creates the cache and hands it to checkers in
 * struct check_env (NULL there: nothing shared, each get reads a table of
 * its own). It must outlive every read that may use it. proctab_get hands
 * back a reference the caller drops with proctab_put. */
#ifndef SHIPWATCH_PROCTAB_H
#define SHIPWATCH_PROCTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCTAB_TTL_MS 1000             /* a table this old is read again */
#define PROCTAB_SCAN_MAX 32768          /* /proc entries a walk looks at */
#define PROCTAB_CMDLINE_MAX 4096        /* bytes of a command line kept */

struct proctab;

/* One running process. Zombies are left out. */
struct proctab_entry {
    int pid;
    char state;                         /* R, S, D, I, T ... */
    unsigned long long start;           /* clock ticks after boot: with pid, who it is */
    unsigned long long ticks;           /* user + system CPU ticks so far */
    long long rss_pages;
    char *cmdline;                      /* its arguments joined by spaces; a
                                           kernel thread's "[name]", as ps shows */
};

/* One walk of /proc. */
struct proctab_table {
    double uptime_s;                    /* the host's, when it was read */
    bool whole;                         /* false: cut at PROCTAB_SCAN_MAX */
    size_t n;
    struct proctab_entry *entries;
    /* ---- proctab.c's */
    char *root;
    int64_t read_ms;                    /* monotonic */
    int refs;
};

/* A cache with no table yet; NULL on allocation failure. */
struct proctab *proctab_create(void);

/* Free the cache and its table (references still held keep theirs).
 * NULL is a no-op. */
void proctab_destroy(struct proctab *t);

/* The table of the /proc at root, read now or at most PROCTAB_TTL_MS ago,
 * and read when the host's uptime was past after_s (the caller's last
 * table's: a check run again within PROCTAB_TTL_MS gets a newer one, so it
 * measures an interval); t may be NULL (read now, shared with nobody). 0
 * and *out, or a negative errno (root or its uptime cannot be read). May
 * block: call it off the loop. */
int proctab_get(struct proctab *t, const char *root, double after_s,
                const struct proctab_table **out);

/* Drop a reference proctab_get handed out (with the same t). */
void proctab_put(struct proctab *t, const struct proctab_table *table);

/* Read process pid of root into e (cmdline into buf of len bytes): 0, or
 * -ENOENT when it does not run (gone, or a zombie). */
int proctab_read_pid(const char *root, int pid, struct proctab_entry *e, char *buf, size_t len);

#endif
