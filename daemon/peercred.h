/* peercred.h - who is on the other end of a Unix socket (SO_PEERCRED). */
#ifndef SHIPWATCH_PEERCRED_H
#define SHIPWATCH_PEERCRED_H

#include <stddef.h>
#include <sys/types.h>

/* The peer's uid, gid and pid as the kernel recorded them at connect. 0, or
 * -errno with the outputs set to -1. */
int peercred_get(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

/* The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13): how many
 * were stored in groups (at most max), or -errno. */
int peercred_groups(int fd, gid_t *groups, size_t max);

#endif
