/* rpc_host.c - host.get: one sample of the daemon's host. */
#include <errno.h>
#include <string.h>

#include "rpc.h"

/* host.get: the host sampler's last sample, or its next. */
void rpc_host_get(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    (void)params;
    int rc = ipc_conn_host(c, msgid);
    if (rc == -ENODEV) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "this daemon has no host sampler");
    } else if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "host.get: %s", strerror(-rc));
    }
}
