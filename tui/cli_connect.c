/* cli_connect.c - finding the daemon's socket and saying hello to it. */
#include "cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc_client.h"
#include "out.h"

#define CALL_TIMEOUT_MS 30000
#define CLI_SYSTEM_SOCKET "/run/shipwatch/shipwatch.sock"

/* Whether the directory of a default socket path is fit to look in: its
 * own user's or root's and writable by nobody else. A default under /tmp
 * is only as good as that: another user could have made it first. */
static bool default_dir_ours(const char *path)
{
    char dir[256];
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof(dir)) {
        return true;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    struct stat st;
    if (lstat(dir, &st) < 0) {
        return true;    /* nothing there: connecting will say so */
    }
    if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
        (st.st_mode & (S_IWGRP | S_IWOTH))) {
        out_err(
                "shipwatch: not using the default socket %s: %s belongs to uid %u or others "
                "can write to it (pass --socket to choose)\n",
                path, dir, (unsigned)st.st_uid);
        return false;
    }
    return true;
}

char *cli_socket_path(const char *given)
{
    if (given == NULL || given[0] == '\0') {
        given = getenv("SHIPWATCH_SOCKET");
    }
    char *path = given != NULL && given[0] != '\0' ? strdup(given) : ipc_default_socket_path();
    if (path == NULL) {
        out_err("shipwatch: out of memory\n");
        return NULL;
    }
    /* A user on a server whose daemon runs as a system service: the system
     * socket comes before a personal one under /tmp, and before a default
     * that does not exist. */
    if ((given == NULL || given[0] == '\0') &&
        (access(path, F_OK) < 0 || strncmp(path, "/tmp/", 5) == 0) &&
        access(CLI_SYSTEM_SOCKET, F_OK) == 0) {
        free(path);
        path = strdup(CLI_SYSTEM_SOCKET);
    }
    /* The system socket's directory is the service user's, under root's
     * /run; any other default must be this user's own. */
    if ((given == NULL || given[0] == '\0') && path != NULL &&
        strcmp(path, CLI_SYSTEM_SOCKET) != 0 && !default_dir_ours(path)) {
        free(path);
        return NULL;
    }
    return path;
}

int cli_connect(struct ipc_client *cl, const char *socket)
{
    int rc = ipc_client_open(cl, socket);
    if (rc == -EACCES) {
        out_err("shipwatch: cannot connect to %s: permission denied (the socket is for "
                        "the daemon's user and group)\n",
                socket);
        return CLI_EXIT_ERROR;
    }
    if (rc == -EPERM) {
        out_err("shipwatch: %s\n", cl->errmsg);
        return CLI_EXIT_ERROR;
    }
    if (rc < 0) {
        out_err("shipwatch: cannot connect to %s: is shipwatchd running?\n", socket);
        return CLI_EXIT_ERROR;
    }
    struct ipc_hello_params hp = {.client = "shipwatch " SHIPWATCH_VERSION,
                                  .protocol = IPC_PROTOCOL};
    struct ipc_hello_result hr = {0};
    rc = ipc_client_call(cl, IPC_M_HELLO, &hp, &hr, CALL_TIMEOUT_MS);
    if (rc != 0) {
        out_err("shipwatch: %s: %s\n", socket, cl->errmsg);
        ipc_client_close(cl);
        return CLI_EXIT_ERROR;
    }
    if (hr.protocol != IPC_PROTOCOL) {
        out_err("shipwatch: the daemon speaks protocol %lld, this client %d\n",
                (long long)hr.protocol, IPC_PROTOCOL);
        ipc_type_finish(&ipc_hello_result_type, &hr);
        ipc_client_close(cl);
        return CLI_EXIT_ERROR;
    }
    ipc_type_finish(&ipc_hello_result_type, &hr);
    return 0;
}
