/* child.h - a clean start for the daemon's child processes.
 *
 * A plugin or a notifier command must inherit nothing of the daemon but its
 * stdio: no descriptor (a socket, the database, a client connection) and no
 * environment variable (secrets from the unit's EnvironmentFile). The
 * caller marks every descriptor close-on-exec just before it spawns, passes
 * an environment built here, and spawns the child in its own process group
 * (UV_PROCESS_DETACHED) so that child_kill_group reaches whatever it forked.
 *
 * Ownership: child_env fills a caller-owned array with pointers to static
 * strings or to the caller's own extra strings; nothing is allocated.
 * Nothing here blocks; everything runs on the loop's thread. */
#ifndef SHIPWATCH_CHILD_H
#define SHIPWATCH_CHILD_H

#include <stddef.h>

#define CHILD_ENV_MAX 64            /* entries child_env writes at most, NULL included */
#define CHILD_PATH "/usr/local/bin:/usr/bin:/bin"

/* Mark every descriptor of this process from 3 up close-on-exec, so the
 * next child spawned inherits only the stdio it is given. 0, or a negative
 * errno when some descriptor could not be marked. */
int child_seal_fds(void);

/* Fill envp[0..max) (max > 0) with the minimal environment, PATH=CHILD_PATH
 * and LANG=C, then the caller's extra "NAME=value" strings (nextra of them,
 * extra may be NULL), each replacing a default of the same NAME; entries
 * without '=' are skipped, and what does not fit in max - 1 is left out.
 * NULL-terminated; the count of entries before the NULL. */
size_t child_env(const char *const *extra, size_t nextra, const char **envp, size_t max);

/* Send sig to every process of the group pgid (> 1). 0, -ESRCH when the
 * group is empty, or another negative errno. */
int child_kill_group(int pgid, int sig);

#endif
