/* check_file.c - file checks: whether a file exists, how old and how big it
 * is, and its first bytes.
 *
 * stat(2) and the read run on the thread pool: the file may sit on a slow
 * or hung disk, and the check's timeout then ends the run (host.h). A file
 * that is not there is a fact ([EXISTS] false, [AGE] and [SIZE] unknown),
 * not a failed run; a file that cannot be looked at (permission denied on
 * its directory) is. The age is by the env's clock, from the last
 * modification; negative when the modification time is in the future. The
 * first max-body bytes are read only when a condition reads [BODY]. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config_rows.h"
#include "duration.h"
#include "host.h"

enum { FILE_EXISTS, FILE_AGE, FILE_SIZE };

static const struct cond_var file_vars[] = {
    [FILE_EXISTS] = {"[EXISTS]", COND_VAR_BOOL, ""},
    [FILE_AGE] = {"[AGE]", COND_VAR_MS, "ms"},
    [FILE_SIZE] = {"[SIZE]", COND_VAR_NUMBER, "B"},
};

struct file_job {
    struct host_job job;
    char path[HOST_PATH_MAX];
    size_t body_max;                    /* bytes of [BODY]; 0: not wanted */
};

/* Read the first bytes of a regular file into the job's body. */
static void read_body(struct file_job *fj)
{
    struct host_job *j = &fj->job;
    int fd = open(fj->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        host_fail_errno(j, errno, "open %s", fj->path);
        return;
    }
    j->body = malloc(fj->body_max);
    while (j->body != NULL && j->body_len < fj->body_max) {
        ssize_t n = read(fd, j->body + j->body_len, fj->body_max - j->body_len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            host_fail_errno(j, errno, "read %s", fj->path);
        }
        if (n <= 0) {
            break;
        }
        j->body_len += (size_t)n;
    }
    close(fd);
}

/* stat the file and read its start: in a thread. */
static void file_read(struct host_job *j)
{
    struct file_job *fj = (struct file_job *)j;
    struct stat st;
    if (stat(fj->path, &st) < 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            host_fail_errno(j, errno, "stat %s", fj->path);
            return;
        }
        j->vars[FILE_EXISTS] = 0;
        snprintf(j->message, sizeof(j->message), "%s: does not exist", fj->path);
        return;
    }
    int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    j->vars[FILE_EXISTS] = 1;
    j->vars[FILE_AGE] = (double)(j->now_ms - mtime_ms);
    j->vars[FILE_SIZE] = (double)st.st_size;
    char b[32], d[32];
    snprintf(j->message, sizeof(j->message), "%s: %s, modified %s ago", fj->path,
             host_bytes((double)st.st_size, b, sizeof(b)),
             duration_format(j->now_ms - mtime_ms, d, sizeof(d)));
    if (fj->body_max > 0 && S_ISREG(st.st_mode)) {
        read_body(fj);
    }
}

static const struct host_ops file_ops = {.read = file_read, .blocking = true};

/* Begin a file run. */
static int file_start(struct check_run *run)
{
    const struct conf_check *c = run->check->conf;
    struct file_job *fj = calloc(1, sizeof(*fj));
    if (fj == NULL) {
        return -ENOMEM;
    }
    snprintf(fj->path, sizeof(fj->path), "%s", c->path);
    fj->body_max = check_reads_body(c) ? c->max_body_bytes : 0;
    return host_job_start(run, &fj->job, &file_ops);
}

/* Keys only file checks take. */
static const struct conf_field file_rows[] = {
    HOST_ROW_PATH,
    CHECK_ROW_MAX_BODY,
};

static const struct conf_rows file_conf_rows = CONF_ROWS(file_rows);

const struct check_type check_file_type = {
    .name = "file",
    .kind = CHECK_FILE,
    .start = file_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .describe = host_describe_path,
    .rows = &file_conf_rows,
    .vars = file_vars,
    .nvars = ARRAY_SIZE(file_vars),
    .default_condition = "[EXISTS] == true",
};
