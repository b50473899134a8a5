/* safedir.c - directories the daemon trusts with its socket and its state. */
#include "safedir.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether dir is a real directory of ours (or root's) nobody else writes. */
int safedir_check(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, errlen, "%s is a symbolic link; not following it", dir);
        return -ELOOP;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", dir);
        return -ENOTDIR;
    }
    uid_t me = geteuid();
    if (st.st_uid != me && st.st_uid != 0) {
        snprintf(err, errlen,
                 "%s belongs to uid %u, not to the daemon's uid %u or root; not using it", dir,
                 (unsigned)st.st_uid, (unsigned)me);
        return -EPERM;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "%s is writable by %s (mode %04o); use a directory of the daemon's own", dir,
                 (st.st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

/* Create dir (and its parents) when missing, then check it. */
int safedir_make(const char *dir, mode_t mode, int parents, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
        snprintf(err, errlen, "directory name too long");
        return -ENAMETOOLONG;
    }
    for (char *p = parents ? buf + 1 : buf + strlen(buf);; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char c = *p;
        *p = '\0';
        if (buf[0] != '\0' && mkdir(buf, mode) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "cannot create %s: %s", buf, strerror(e));
            return -e;
        }
        *p = c;
        if (c == '\0') {
            break;
        }
    }
    return safedir_check(dir, err, errlen);
}

/* The directory part of path. */
int safedir_of(const char *path, char *buf, size_t buflen)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(buf, buflen, ".");
        return 0;
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= buflen) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, n);
    buf[n] = '\0';
    return 0;
}
