/* fdres.c - the descriptor reserve kept for checks. */
#include "fdres.h"

#include <errno.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Whether fd leaves fewer than the reserve. */
bool fdres_low(int fd)
{
    struct rlimit rl;
    if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        return false;
    }
    rlim_t reserve = rl.rlim_cur / 4 < FDRES_RESERVE ? rl.rlim_cur / 4 : FDRES_RESERVE;
    return (rlim_t)fd + reserve >= rl.rlim_cur;
}

/* The local reason for err, or NULL. */
const char *fdres_local_reason(int err)
{
    static const struct {
        int err;
        const char *reason;
    } local[] = {
        {-EMFILE, "local: too many open files"},
        {-ENFILE, "local: too many open files in the system"},
        {-ENOMEM, "local: out of memory"},
        {-ENOBUFS, "local: no buffer space"},
    };
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        if (local[i].err == err) {
            return local[i].reason;
        }
    }
    return NULL;
}

/* Try for a descriptor, and give it back. */
int fdres_probe(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    close(fd);
    return 0;
}
