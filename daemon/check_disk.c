/* check_disk.c - disk checks: how full the filesystem holding a path is.
 *
 * statvfs(3) on the thread pool: on a hung NFS mount it never returns,
 * and the check's timeout then ends the run (down). Percentages are df's:
 * used blocks over the blocks an unprivileged user could hold (used plus
 * available), so the root-reserved blocks count as neither. A filesystem
 * that counts no inodes (btrfs) reports [INODES_USED] 0, as df shows "-". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config_rows.h"
#include "host.h"
#include "hoststat.h"

enum { DISK_USED, DISK_FREE, DISK_INODES_USED };

static const struct cond_var disk_vars[] = {
    [DISK_USED] = {"[USED]", COND_VAR_NUMBER, "%"},
    [DISK_FREE] = {"[FREE]", COND_VAR_NUMBER, "B"},
    [DISK_INODES_USED] = {"[INODES_USED]", COND_VAR_NUMBER, "%"},
};

struct disk_job {
    struct host_job job;
    char path[HOST_PATH_MAX];
};

/* statvfs the path: in a thread. */
static void disk_read(struct host_job *j)
{
    struct disk_job *d = (struct disk_job *)j;
    struct hoststat_fs fs;
    int rc = hoststat_fs(d->path, &fs);
    if (rc < 0) {
        host_fail_errno(j, -rc, "statvfs %s", d->path);
        return;
    }
    j->vars[DISK_USED] = fs.used_pct;
    j->vars[DISK_FREE] = fs.avail;
    j->vars[DISK_INODES_USED] = fs.files_used_pct;
    char b[32];
    snprintf(j->message, sizeof(j->message), "%s: %.1f%% used, %s free, %.1f%% inodes used",
             d->path, j->vars[DISK_USED], host_bytes(j->vars[DISK_FREE], b, sizeof(b)),
             j->vars[DISK_INODES_USED]);
}

static const struct host_ops disk_ops = {.read = disk_read, .blocking = true};

/* Begin a disk run. */
static int disk_start(struct check_run *run)
{
    struct disk_job *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    snprintf(d->path, sizeof(d->path), "%s", run->check->conf->path);
    return host_job_start(run, &d->job, &disk_ops);
}

/* Keys only disk checks take. */
static const struct conf_field disk_rows[] = {
    HOST_ROW_PATH,
};

static const struct conf_rows disk_conf_rows = CONF_ROWS(disk_rows);

const struct check_type check_disk_type = {
    .name = "disk",
    .kind = CHECK_DISK,
    .start = disk_start,
    .cancel = host_job_cancel,
    .forget = host_job_forget,
    .describe = host_describe_path,
    .rows = &disk_conf_rows,
    .vars = disk_vars,
    .nvars = ARRAY_SIZE(disk_vars),
    .default_condition = "[USED] < 90",
};
