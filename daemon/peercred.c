/* peercred.c - SO_PEERCRED in a file of its own: struct ucred needs
 * _GNU_SOURCE, which the rest of the daemon does not want. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>

#include "peercred.h"

int peercred_get(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        *uid = (uid_t)-1;
        *gid = (gid_t)-1;
        *pid = -1;
        return -errno;
    }
    *uid = cred.uid;
    *gid = cred.gid;
    *pid = cred.pid;
    return 0;
}

int peercred_groups(int fd, gid_t *groups, size_t max)
{
#ifdef SO_PEERGROUPS
    socklen_t len = (socklen_t)(max * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
        return -errno;
    }
    return (int)(len / sizeof(gid_t));
#else
    (void)fd;
    (void)groups;
    (void)max;
    return -ENOSYS;
#endif
}
