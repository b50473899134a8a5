/* rpc_host.c - host.get: one sample of the daemon's host, or of another
 * node's in a cluster. */
#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "daemon.h"
#include "rpc.h"

bool rpc_host_node(struct ipc_conn *c, uint32_t msgid, const char *node, const char **out)
{
    struct cluster *cl = ipc_conn_daemon(c)->cluster;
    *out = NULL;
    if (node == NULL || (cl != NULL && strcmp(node, cluster_node(cl)) == 0)) {
        return true;
    }
    if (cl == NULL) {
        ipc_conn_error(c, msgid, IPC_E_NOT_FOUND,
                       "node %s: this daemon is in no cluster (redis.url is not set)", node);
        return false;
    }
    if (!cluster_peer_live(cl, node)) {
        ipc_conn_error(c, msgid, IPC_E_NOT_FOUND,
                       "node %s: no such daemon heard from in the cluster (status.get "
                       "lists them in cluster_peer_names)",
                       node);
        return false;
    }
    *out = node;
    return true;
}

/* host.get: the host sampler's last sample, or its next; a peer's next. */
void rpc_host_get(struct ipc_conn *c, uint32_t msgid, const void *params)
{
    const struct ipc_host_query *q = params;
    const char *node;
    if (!rpc_host_node(c, msgid, q->node, &node)) {
        return;
    }
    int rc = ipc_conn_host(c, msgid, node);
    if (rc == -ENODEV) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE, "this daemon has no host sampler");
    } else if (rc == -ENOSPC) {
        ipc_conn_error(c, msgid, IPC_E_UNAVAILABLE,
                       "node %s: this daemon's clients watch %d other nodes already", node,
                       CLUSTER_HOST_WANTS_MAX);
    } else if (rc < 0) {
        ipc_conn_error(c, msgid, IPC_E_INTERNAL, "host.get: %s", strerror(-rc));
    }
}
