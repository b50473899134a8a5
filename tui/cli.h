/* cli.h - the scripting subcommands of shipwatch. */
#ifndef SHIPWATCH_CLI_H
#define SHIPWATCH_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ipc_client.h"

/* Exit statuses, documented in shipwatch(1). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,         /* no daemon, an error answer, a broken connection */
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_UNHEALTHY = 3,     /* run: the result was not up */
    CLI_EXIT_DENIED = 4,        /* the daemon refused: not an admin */
};

/* status: like a monitoring plugin's. */
enum {
    CLI_STATUS_DEGRADED = 1,    /* a check or the store degraded, none down */
    CLI_STATUS_DOWN = 2,        /* a check down */
};

/* deploy record --wait: the verdict. */
enum {
    CLI_WAIT_FAILED = 1,
    CLI_WAIT_UNVERIFIED = 3,    /* unverified or degraded: not shown healthy */
    CLI_WAIT_TIMEOUT = 4,       /* --timeout passed before a verdict */
};

/* Run the command in argv[0..argc) (argc >= 1). socket is --socket given
 * before the command, or NULL; json is --json given before it. Returns the
 * exit status. */
int cli_run(const char *socket, bool json, int argc, char **argv);

/* Connect to socket and say hello; on failure prints the one-line message
 * and returns CLI_EXIT_ERROR. */
int cli_connect(struct ipc_client *cl, const char *socket);

void cli_usage(FILE *f);

/* The socket to use: given (--socket), else $SHIPWATCH_SOCKET, else the
 * default (see ipc_default_socket_path), else the system socket when only
 * that exists. Allocated; NULL after printing why. */
char *cli_socket_path(const char *given);

#endif
