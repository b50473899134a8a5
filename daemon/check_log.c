/* check_log.c - log checks: new lines of a file that match a pattern.
 *
 * The file is followed as tail -F follows it. The first run ever starts at
 * its end (old lines are history, not news); each run then reads the lines
 * added since, on the thread pool (a log may sit on a slow disk, and a
 * burst may be megabytes), at most LOG_READ_MAX bytes a run, the rest left
 * for the next. A file with another inode at the path was rotated: the
 * rest of the old one is read first when it lies beside it as PATH.1
 * (logrotate's and savelog's name), then the new one from its start. A
 * file shorter than the offset was truncated (copytruncate): it is read
 * from its start. A file that is not there is no error: there are no new
 * lines, and the one that appears is read from its start. A file whose
 * first bytes changed (truncated, then written past the offset between two
 * runs) was rewritten: it is read from its start too.
 *
 * A line is counted once it ends with a newline: a line being written is
 * left for the next run. A line longer than LOG_LINE_MAX is cut: its
 * first LOG_LINE_MAX bytes are matched as the line, the rest is skipped
 * without being kept. Where a run got to is check->log, stored with the
 * check's state in the transaction of the result that counted the lines
 * (daemon.c), so a restart neither counts a line again nor skips one. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config_rows.h"
#include "hash.h"
#include "host.h"
#include "utf8.h"

#define LOG_LINE_MAX 8192               /* bytes of a line matched; the rest is cut */
#define LOG_READ_MAX (8 * 1024 * 1024)  /* bytes read a run, at most */
#define LOG_CHUNK (64 * 1024)
#define LOG_HEAD_MAX 64                 /* bytes of a file's start its head hash covers */

enum { LOG_MATCHES };

static const struct cond_var log_vars[] = {
    [LOG_MATCHES] = {"[MATCHES]", COND_VAR_NUMBER, ""},
};

struct log_job {
    struct host_job job;
    char path[HOST_PATH_MAX];
    char pattern[HOST_REGEX_MAX];
    struct check_log_position pos;      /* the last run's in, this run's out */
    bool known;                         /* pos is a run's (else: start at the end) */
    regex_t re;
    size_t budget;                      /* bytes this run may still read */
    unsigned long long matches;
    char last[RESULT_MESSAGE_MAX];      /* the last matching line */
    char *line;                         /* the line being read: LOG_LINE_MAX + 1 */
    size_t len;
    char *chunk;                        /* what a read() gets: chunk_size bytes */
    size_t chunk_size;
};

/* One whole (or cut) line: count it when it matches. */
static void on_line(struct log_job *l)
{
    if (l->len > 0 && l->line[l->len - 1] == '\r') {
        l->len--;
    }
    l->line[l->len] = '\0';
    if (regexec(&l->re, l->line, 0, NULL, 0) == 0) {
        /* The result's message: one line of valid UTF-8, whatever the log
         * holds. */
        for (size_t i = 0; i < l->len; i++) {
            unsigned char ch = (unsigned char)l->line[i];
            l->line[i] = ch < 0x20 || ch == 0x7f ? ' ' : l->line[i];
        }
        l->matches++;
        utf8_escape(l->line, l->last, sizeof(l->last));
    }
    l->len = 0;
}

/* Read fd from pos->offset to its end (or the budget), line by line;
 * pos->offset ends after the last line taken. false after a read error
 * (the job's error is set). */
static bool read_lines(struct log_job *l, int fd, struct check_log_position *pos)
{
    l->len = 0;
    int64_t at = pos->offset;           /* bytes consumed: whole lines only */
    while (l->budget > 0) {
        size_t want = l->budget < l->chunk_size ? l->budget : l->chunk_size;
        ssize_t n = pread(fd, l->chunk, want, (off_t)(at + (int64_t)l->len));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            host_fail_errno(&l->job, errno, "read %s", l->path);
            return false;
        }
        if (n == 0) {
            break;
        }
        l->budget -= (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            char ch = l->chunk[i];
            if (pos->skipping) {
                /* The rest of a cut line: consumed, not kept. */
                at++;
                pos->skipping = ch != '\n';
            } else if (ch == '\n') {
                at += (int64_t)l->len + 1;
                on_line(l);
            } else if (l->len == LOG_LINE_MAX) {
                at += (int64_t)l->len + 1;
                on_line(l);
                pos->skipping = true;
            } else {
                l->line[l->len++] = ch;
            }
        }
    }
    pos->offset = at;                   /* a line not ended yet is read again */
    l->len = 0;
    return true;
}

/* The hash of fd's first bytes, up to LOG_HEAD_MAX and offset; false when
 * there are fewer. */
static bool head_of(int fd, int64_t offset, uint64_t *out)
{
    char buf[LOG_HEAD_MAX];
    size_t want = offset < LOG_HEAD_MAX ? (size_t)offset : LOG_HEAD_MAX;
    ssize_t n;
    do {
        n = pread(fd, buf, want, 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)want) {
        return false;
    }
    *out = hash_fnv1a(HASH_FNV_INIT, buf, want);
    return true;
}

/* The rest of the rotated file, when it lies at PATH.1 with the inode
 * last read. */
static void finish_rotated(struct log_job *l)
{
    char old[HOST_PATH_MAX + 2];
    snprintf(old, sizeof(old), "%s.1", l->path);
    int fd = open(old, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_dev == l->pos.dev &&
        (uint64_t)st.st_ino == l->pos.ino && st.st_size >= l->pos.offset) {
        struct check_log_position pos = l->pos;
        read_lines(l, fd, &pos);
    }
    close(fd);
}

/* Follow the file from where the last run got to. */
static void follow(struct log_job *l)
{
    struct host_job *j = &l->job;
    l->budget = LOG_READ_MAX;
    int fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR) {
        host_fail_errno(j, errno, "open %s", l->path);
        return;
    }
    j->vars[LOG_MATCHES] = 0;
    if (fd < 0) {
        if (!l->known) {
            l->pos = (struct check_log_position){0};   /* the file to come: from its start */
        }
        snprintf(j->message, sizeof(j->message), "%s: not there", l->path);
        return;
    }
    if (fstat(fd, &st) < 0) {
        host_fail_errno(j, errno, "stat %s", l->path);
        close(fd);
        return;
    }
    struct check_log_position now = {.dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino};
    uint64_t head;
    if (!l->known) {
        now.offset = st.st_size;        /* old lines are history, not news */
        head_of(fd, now.offset, &now.head);
        l->pos = now;
        close(fd);
        snprintf(j->message, sizeof(j->message), "%s: followed from its end", l->path);
        return;
    }
    if (now.dev != l->pos.dev || now.ino != l->pos.ino) {
        if (l->pos.ino != 0) {
            finish_rotated(l);
        }
        l->pos = now;                   /* a new file: from its start */
    } else if (st.st_size < l->pos.offset || !head_of(fd, l->pos.offset, &head) ||
               head != l->pos.head) {
        l->pos = now;                   /* truncated or rewritten: from its start */
    }
    bool ok = read_lines(l, fd, &l->pos);
    if (ok && !head_of(fd, l->pos.offset, &l->pos.head)) {
        l->pos.head = 0;                /* cut meanwhile: the next run sees it shorter */
    }
    close(fd);
    if (!ok) {
        return;
    }
    j->vars[LOG_MATCHES] = (double)l->matches;
    if (l->matches > 0) {
        snprintf(j->message, sizeof(j->message), "%s", l->last);
    } else {
        snprintf(j->message, sizeof(j->message), "%s: no new line matches", l->path);
    }
    if (l->budget == 0) {
        size_t n = strlen(j->message);
        snprintf(j->message + n, sizeof(j->message) - n, " (more to read)");
    }
}

/* Compile the pattern, follow the file: in a thread. The buffers are the
 * thread's, not the job's: most runs find a line or none, and a job of
 * 80 KiB cleared at every start cost more than the read. */
static void log_read(struct host_job *j)
{
    struct log_job *l = (struct log_job *)j;
    if (regcomp(&l->re, l->pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        host_fail(j, "pattern: not a valid extended regular expression");
        return;
    }
    l->chunk_size = LOG_CHUNK;
    l->chunk = malloc(LOG_CHUNK + LOG_LINE_MAX + 1);
    if (l->chunk == NULL) {
        host_fail_errno(j, ENOMEM, "%s", l->path);
    } else {
        l->line = l->chunk + LOG_CHUNK;
        follow(l);
    }
    free(l->chunk);
    l->chunk = l->line = NULL;
    regfree(&l->re);
}

/* Keep where the run got to. */
static void log_keep(struct check *c, const struct host_job *j)
{
    c->log = ((const struct log_job *)j)->pos;
    c->log_known = true;
}

static const struct host_ops log_ops = {.read = log_read, .keep = log_keep, .blocking = true};

/* Begin a log run from where the last one got to. */
static int log_start(struct check_run *run)
{
    const struct check *c = run->check;
    struct log_job *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    snprintf(l->path, sizeof(l->path), "%s", c->conf->path);
    snprintf(l->pattern, sizeof(l->pattern), "%s", c->conf->pattern);
    l->pos = c->log;
    l->known = c->log_known;
    return host_job_start(run, &l->job, &log_ops);
}

/* The file and the pattern, for display. */
static void log_describe(const struct conf_check *cc, char *out, size_t len)
{
    snprintf(out, len, "%s ~ %s", cc->path != NULL ? cc->path : "",
             cc->pattern != NULL ? cc->pattern : "");
}

/* Keys only log checks take. */
static const struct conf_field log_rows[] = {
    HOST_ROW_PATH,
    {.key = "pattern",
     .type = CONF_STR,
     .off = offsetof(struct conf_check, pattern),
     .valid = host_valid_regex,
     .required = true},
};

static const struct conf_rows log_conf_rows = CONF_ROWS(log_rows);

const struct check_type check_log_type = {
    .name = "log",
    .kind = CHECK_LOG,
    .start = log_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .describe = log_describe,
    .rows = &log_conf_rows,
    .vars = log_vars,
    .nvars = ARRAY_SIZE(log_vars),
    .default_condition = "[MATCHES] == 0",
};
