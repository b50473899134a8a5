/* child.c - descriptors sealed, a minimal environment, group kill. */
#define _GNU_SOURCE     /* syscall(SYS_close_range) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The environment every child gets before the caller's own entries. */
static const char *const env_defaults[] = {
    "PATH=" CHILD_PATH,
    "LANG=C",
};

/* Mark fd close-on-exec; 0 or a negative errno. */
static int seal_one(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) {
        return errno == EBADF ? 0 : -errno;
    }
    if ((flags & FD_CLOEXEC) == 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
        return -errno;
    }
    return 0;
}

/* Without close_range: every descriptor listed in /proc/self/fd. */
static int seal_listed(void)
{
    DIR *d = opendir("/proc/self/fd");
    int rc = 0;
    if (d == NULL) {
        /* No /proc: every possible descriptor number. */
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536) {
            max = 65536;
        }
        for (int fd = 3; fd < max; fd++) {
            int r = seal_one(fd);
            rc = rc < 0 ? rc : r;
        }
        return rc;
    }
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd < 3 || fd == self) {
            continue;
        }
        int r = seal_one((int)fd);
        rc = rc < 0 ? rc : r;
    }
    closedir(d);
    return rc;
}

/* Mark every descriptor from 3 up close-on-exec. */
int child_seal_fds(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return 0;
    }
#endif
    return seal_listed();
}

/* The length of the NAME in a "NAME=value" entry, or 0 when it has no '='. */
static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq != NULL && eq != entry ? (size_t)(eq - entry) : 0;
}

/* The minimal environment plus the caller's entries. */
size_t child_env(const char *const *extra, size_t nextra, const char **envp, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(env_defaults) && n + 1 < max; i++) {
        envp[n++] = env_defaults[i];
    }
    for (size_t i = 0; extra != NULL && i < nextra; i++) {
        size_t len = name_len(extra[i]);
        if (len == 0) {
            continue;
        }
        size_t at = n;
        for (size_t j = 0; j < n; j++) {
            if (name_len(envp[j]) == len && strncmp(envp[j], extra[i], len) == 0) {
                at = j;
                break;
            }
        }
        if (at == n && n + 1 >= max) {
            continue;
        }
        envp[at] = extra[i];
        n = at == n ? n + 1 : n;
    }
    envp[n] = NULL;
    return n;
}

/* Signal the whole process group pgid. */
int child_kill_group(int pgid, int sig)
{
    if (pgid <= 1) {
        return -EINVAL;
    }
    return kill(-(pid_t)pgid, sig) == 0 ? 0 : -errno;
}
