/* main.c - shipwatch: the operator's client of shipwatchd. */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "out.h"
#ifdef SHIPWATCH_TUI
#include "dash.h"
#include "ipc_client.h"
#include <stdlib.h>
#include <unistd.h>
#endif

/* Global options, then the dashboard or a command. */
int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"wide", no_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *socket = NULL;
    bool json = false;
    int ch;

    setlocale(LC_ALL, "");
    opterr = 0;
    /* "+": stop at the command; its own options are parsed by it. */
    while ((ch = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            socket = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'W':
            table_set_wide(true);
            break;
        case 'h':
            cli_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("shipwatch %s\n", SHIPWATCH_VERSION);
            return CLI_EXIT_OK;
        default:
            /* --json anywhere makes this error JSON too. */
            for (int i = 1; i < argc; i++) {
                json = json || strcmp(argv[i], "--json") == 0;
            }
            out_error_json(json);
            out_err("shipwatch: %s %s\n", argv[optind - 1],
                    ch == ':' ? "needs a value" : "is not an option");
            out_error_flush("usage");
            if (!json) {
                cli_usage(stderr);
            }
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
#ifdef SHIPWATCH_TUI
        char *path = cli_socket_path(socket);
        if (path == NULL) {
            return CLI_EXIT_ERROR;
        }
        int rc = dash_run(path);
        free(path);
        return rc;
#else
        fprintf(stderr, "shipwatch: built without the dashboard (ncurses); see --help\n");
        return CLI_EXIT_USAGE;
#endif
    }
    return cli_run(socket, json, argc - optind, argv + optind);
}
