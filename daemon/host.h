/* host.h - what the host check types share (check_disk.c, check_memory.c,
 * check_load.c, check_cpu.c, check_file.c, check_process.c, check_log.c).
 *
 * A host check's run is a job: the type's read() learns the placeholders
 * from files alone, then the job hands them to the run on the loop. Where
 * read() runs is the type's choice, by what its files can cost:
 *
 * - on the loop, for a few small /proc files (meminfo, loadavg, stat):
 *   procfs serves them from kernel memory in microseconds and never waits
 *   on a disk, so a thread hop would cost more than the read. The run still
 *   ends from a loop callback, never inside start();
 * - on libuv's thread pool (blocking), for what can wait or grow: statfs of
 *   a hung NFS mount, a file or a log on a slow disk, a walk of every
 *   process. The check's timeout ends the run (down, "timed out") even when
 *   the read never returns; the job is then freed when it does, its facts
 *   dropped. Until it does, the check starts no other read (each run is
 *   down, "the last read has not returned"), so a hung mount holds one
 *   thread of the pool per check, not one per run.
 *
 * Blocking reads started within HOST_GATHER_MS of each other go to the pool
 * together, as one batch read in turn by one thread: a thread hop (a wake-up
 * of a worker and one of the loop) costs more than most reads, and a
 * thousand checks a second would otherwise pay one each. A read that hangs
 * holds the reads behind it in its batch: each of those is given up when
 * its own timeout comes ("before its read began"), never read late, and
 * its check reads again at the next run, in another batch; a read done
 * before it is handed over at its timeout all the same.
 *
 * read() sees the job only: no check, no run, no loop, so it may run on any
 * thread. What a type keeps across runs (check->memory; a log check's
 * position in check->log, which the store keeps too) is copied into its
 * job in start() and back by keep() on the loop, after a read only.
 *
 * Ownership: the type allocates its job (struct host_job first) and hands
 * it to host_job_start, which owns it from then on, success or not, and
 * frees it (with its body) with free(). */
#ifndef SHIPWATCH_HOST_H
#define SHIPWATCH_HOST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "check.h"
#include "config_rows.h"

#define HOST_PATH_MAX 4096
#define HOST_GATHER_MS 20           /* how long a batch gathers reads */
#define HOST_BATCH_MAX 64           /* reads in a batch at most */

struct host_job;
struct host_batch;

/* Where blocking reads gather into batches: one per loop. */
struct hostpool;

/* A pool for loop; NULL when out of memory. */
struct hostpool *hostpool_create(uv_loop_t *loop);

/* Send the batch still gathering to the thread pool and close the pool
 * (freed once its timer is closed). Reads started afterwards go alone. */
void hostpool_close(struct hostpool *p);

/* How a host type reads. */
struct host_ops {
    /* Fill the job's vars, message, error and body from files. */
    void (*read)(struct host_job *j);
    /* On the loop, after a read whose facts reached the run: keep in
     * c->memory what the next run needs. NULL when nothing is kept. */
    void (*keep)(struct check *c, const struct host_job *j);
    bool blocking;                      /* read on the thread pool */
};

/* One run's read. The fields above the line are read()'s to use. */
struct host_job {
    const struct host_ops *ops;
    const char *proc;                   /* the /proc root: the env's, or "/proc" */
    bool real_proc;                     /* proc is the host's own /proc */
    int64_t now_ms;                     /* the env's clock at the start: unix ms */
    double vars[COND_VARS_MAX];         /* the type's placeholders; NAN unknown */
    char message[RESULT_MESSAGE_MAX];   /* the result's message; "" none */
    char error[RESULT_ERROR_MAX];       /* set: the run is unknown, with this error */
    char *body;                         /* [BODY]: malloc'd, handed to the run */
    size_t body_len;
    /* ---- host.c's */
    struct check_run *run;              /* NULL once the run ended without it */
    struct check *stuck_on;             /* the check it holds back (timed out in a
                                           thread), until it returns or the check
                                           is freed; else NULL */
    _Atomic int stage;                  /* a blocking read's: queued, then being
                                           read and done (the thread's moves),
                                           or dropped (the loop gave it up) */
    uv_timer_t timer;                   /* the deferred end, or the timeout */
    int pending;                        /* callbacks owed before the free */
    int64_t timeout_ms;
    bool working;                       /* in a batch, its facts not yet back */
    bool read;                          /* read() ran: keep() may keep its work */
    bool settled;
};

/* Begin the run with job j of ops (see Ownership above). 0, or a negative
 * errno when it could not start (j freed already). */
int host_job_start(struct check_run *run, struct host_job *j, const struct host_ops *ops);

/* host_job_start with a job of its own, for a type whose read needs
 * nothing but the /proc root. */
int host_start(struct check_run *run, const struct host_ops *ops);

/* struct check_type's cancel for host types. */
void host_job_cancel(struct check_run *run);

/* struct check_type's forget for the types whose reads are blocking. */
void host_job_forget(struct check *c);

/* For keep(): copy the n bytes at src into c->memory, made at the first
 * keep (n is the same every time for a type). On allocation failure
 * nothing is kept, and the next run starts as a first one. */
void host_keep_memory(struct check *c, const void *src, size_t n);

/* Set j's error (the run is then unknown). */
__attribute__((format(printf, 2, 3))) void host_fail(struct host_job *j, const char *fmt, ...);

/* host_fail with ": " and the text of errno err after it ("statvfs /srv:
 * No such file or directory"); safe in read()'s thread. */
__attribute__((format(printf, 3, 4))) void host_fail_errno(struct host_job *j, int err,
                                                           const char *fmt, ...);

/* Read the file root/name (name may be NULL: root is the path) into buf
 * (size > 1), NUL-terminated, at most size - 1 bytes. The bytes read, or a
 * negative errno. */
ssize_t host_read(const char *root, const char *name, char *buf, size_t size);

/* host_read of j's /proc/name for a whole-host file (stat, meminfo,
 * loadavg), on the loop: one read of the host's own /proc serves every
 * check that asks for the same file and size within HOST_SHARE_MS of the
 * env's clock, so a hundred cpu checks a second do not make the kernel
 * format /proc/stat a hundred times. A tree of the env's (tests) is read
 * each time. */
#define HOST_SHARE_MS 100
ssize_t host_read_shared(const struct host_job *j, const char *name, char *buf, size_t size);

/* Reads host_read_shared made (not served from an earlier one): tests. */
uint64_t host_shared_reads(void);

/* The number after "key" at a line's start in text ("MemTotal:", "cpu ");
 * false when no line has it. */
bool host_field(const char *text, const char *key, double *out);

/* The host's uptime in seconds from root/uptime: 0, or a negative errno. */
int host_uptime(const char *root, double *out);

/* CPUs the kernel lists in root/stat (its cpuN lines); 0 when unreadable. */
int host_cpus(const char *root);

/* struct check_type's describe for a type that watches its path. */
void host_describe_path(const struct conf_check *cc, char *out, size_t len);

/* A conf_field validator: an absolute path (conf_valid_path's rules). */
const char *host_valid_path(const char *s);

/* A conf_field validator: a POSIX extended regular expression of at most
 * HOST_REGEX_MAX - 1 bytes. */
#define HOST_REGEX_MAX 1024
const char *host_valid_regex(const char *s);

/* The path row of the types that watch a path (disk, file, log). */
#define HOST_ROW_PATH                                                                              \
    {                                                                                              \
        .key = "path", .type = CONF_STR, .off = offsetof(struct conf_check, path),                 \
        .valid = host_valid_path, .required = true                                                 \
    }

/* Bytes for people: "512 B", "3.2 KiB", "17.0 GiB". */
const char *host_bytes(double bytes, char *buf, size_t n);

#endif
