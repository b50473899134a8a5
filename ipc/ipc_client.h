/* ipc_client.h - a small blocking client for the daemon's socket.
 *
 * One connection, one call at a time. Notifications that arrive while a
 * call waits for its response are kept, in order, for ipc_client_notice.
 * It blocks in poll() instead of running a loop, but reads messages through
 * the same ipc_reader_next_envelope as every peer (peer.h). */
#ifndef SHIPWATCH_IPC_CLIENT_H
#define SHIPWATCH_IPC_CLIENT_H

#include <stdint.h>

#include "ipc_proto.h"
#include "ipc_wire.h"

struct ipc_notice_node;

struct ipc_client {
    int fd;
    struct ipc_reader rd;
    uint32_t next_msgid;
    struct ipc_notice_node *qhead, *qtail;
    enum ipc_errcode errcode;   /* after IPC_CALL_REMOTE */
    char errmsg[512];           /* after any failure: what went wrong */
};

/* ipc_client_call returns this when the daemon answered with an error. */
#define IPC_CALL_REMOTE 1

/* The socket a client uses when neither --socket nor SHIPWATCH_SOCKET says:
 * the daemon's own default (root: /run/shipwatch/shipwatch.sock; otherwise
 * $RUNTIME_DIRECTORY/shipwatch.sock under a systemd unit with
 * RuntimeDirectory=, $XDG_RUNTIME_DIR/shipwatch.sock, or
 * /tmp/shipwatch-UID/shipwatch.sock without either: a private directory,
 * never the shared /tmp itself). Allocated; NULL on ENOMEM. */
char *ipc_default_socket_path(void);

/* Whether the server on fd, connected to path, may be talked to: its uid
 * (SO_PEERCRED) is root or the owner of the socket's directory. Whoever
 * else listens there squatted the path. 0, or -EPERM (or another -errno)
 * with the reason in err. Call it before sending anything. */
int ipc_client_check_server(int fd, const char *path, char *err, size_t errlen);

/* Connect, and check who listens (ipc_client_check_server). 0, or -errno
 * with errmsg set (-EPERM: somebody else's listener). */
int ipc_client_open(struct ipc_client *c, const char *path);
void ipc_client_close(struct ipc_client *c);

/* Call method id and wait up to timeout_ms (-1: forever) for its response.
 * 0 and *result filled (zeroed by the caller, freed with ipc_type_finish on
 * ipc_methods[id].result); IPC_CALL_REMOTE with errcode and errmsg; or
 * -errno (-ETIMEDOUT, -EPIPE when the daemon went away, -EPROTO for an
 * answer that does not decode) with errmsg. */
int ipc_client_call(struct ipc_client *c, enum ipc_method_id id, const void *params,
                    void *result, int timeout_ms);

/* The next notification: 1 and *n filled (zeroed by the caller, freed with
 * ipc_type_finish(&ipc_notice_type, n)), 0 after timeout_ms (-1: forever), or
 * -errno with errmsg. */
int ipc_client_notice(struct ipc_client *c, struct ipc_notice *n, int timeout_ms);

#endif
