/* main.c - shipwatch: the operator's client of shipwatchd. */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
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
        case 'h':
            cli_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("shipwatch %s\n", SHIPWATCH_VERSION);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "shipwatch: %s %s\n", argv[optind - 1],
                    ch == ':' ? "needs a value" : "is not an option");
            cli_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        /* The dashboard will live here; until then, say what there is. */
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return cli_run(socket, json, argc - optind, argv + optind);
}
