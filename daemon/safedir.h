/* safedir.h - directories the daemon trusts with its socket and its state.
 *
 * A directory another user can write to (or owns) lets that user replace
 * the socket with a listener of their own or the database with a symbolic
 * link. The daemon uses a directory only when it is a real directory (not
 * a symbolic link), owned by the daemon's effective uid or root, and not
 * writable by group or others. A world-writable sticky parent such as /tmp
 * is fine as long as the directory itself is the daemon's own: safedir_make
 * creates it and then checks it, so one another user made first is
 * refused. No state; the caller's thread. */
#ifndef SHIPWATCH_SAFEDIR_H
#define SHIPWATCH_SAFEDIR_H

#include <stddef.h>
#include <sys/types.h>

/* 0 when dir is safe as above, or a negative errno with the reason in err
 * (-ENOTDIR, -ELOOP for a symbolic link, -EPERM for the owner or mode). */
int safedir_check(const char *dir, char *err, size_t errlen);

/* Create dir with mode (under the process umask) when it is missing, its
 * parents too when parents is set, then safedir_check it. */
int safedir_make(const char *dir, mode_t mode, int parents, char *err, size_t errlen);

/* The directory part of path in buf ("." when it has none). 0, or
 * -ENAMETOOLONG. */
int safedir_of(const char *path, char *buf, size_t buflen);

#endif
