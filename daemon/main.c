/* main.c - shipwatchd: flags, configuration, the loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "sdnotify.h"
#include "safedir.h"

#define DEFAULT_CONFIG "/etc/shipwatch/shipwatch.yml"

static const char usage_text[] =
    "usage: shipwatchd [--config FILE] [--check-config] [--log-format json|text]\n"
    "                  [--log-level debug|info|warn|error] [--version] [--help]\n"
    "\n"
    "Run scheduled health checks, record deploys and keep their history.\n"
    "\n"
    "  -c, --config FILE       configuration file (default " DEFAULT_CONFIG ")\n"
    "  -t, --check-config      validate the configuration, print every error, exit\n"
    "      --log-format FMT    json (default) or text\n"
    "      --log-level LEVEL   debug, info (default), warn or error\n"
    "  -V, --version           print the version and exit\n"
    "  -h, --help              print this help and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n"
    "See shipwatchd(8) and docs/configuration.md.\n";

/* Print a one-line summary of a valid configuration. */
static void print_summary(const struct config *c, const char *path)
{
    printf("%s: ok: %zu check%s, %zu app%s, %zu notifier%s, %zu alert rule%s, store %s\n", path,
           c->nchecks, c->nchecks == 1 ? "" : "s", c->napps, c->napps == 1 ? "" : "s",
           c->nnotifiers, c->nnotifiers == 1 ? "" : "s", c->nalerts, c->nalerts == 1 ? "" : "s",
           c->storage.driver);
}

/* Every check in flight and every client of the socket is a descriptor:
 * take the hard limit, not the soft default of 1024. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn(LOG_NOKV, "cannot raise the open-file limit: %s", strerror(errno));
        }
    }
}

/* The state directory (storage.path's) must be the daemon's own: another
 * user who owns or can write to it could read the history or swap the
 * database for a symbolic link. Created when missing. */
static int check_state_dir(const struct config *conf)
{
    if (conf->storage.path == NULL || conf->storage.driver == NULL ||
        strcmp(conf->storage.driver, "sqlite") != 0) {
        return 0;
    }
    char dir[4096], err[640];
    int rc = safedir_of(conf->storage.path, dir, sizeof(dir));
    if (rc == 0) {
        rc = safedir_make(dir, 0750, 1, err, sizeof(err));
    } else {
        snprintf(err, sizeof(err), "storage.path too long");
    }
    struct stat st;
    if (rc == 0 && lstat(conf->storage.path, &st) == 0 && S_ISLNK(st.st_mode)) {
        snprintf(err, sizeof(err), "%s is a symbolic link; not following it",
                 conf->storage.path);
        rc = -ELOOP;
    }
    if (rc < 0) {
        log_error(LOG_KV("path", conf->storage.path), "state directory refused: %s", err);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"log-format", required_argument, NULL, 'F'},
        {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_CONFIG;
    bool check_only = false;
    enum log_format format = LOG_FORMAT_JSON;
    enum log_level level = LOG_INFO;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'F':
            if (log_format_parse(optarg, &format) < 0) {
                fprintf(stderr, "shipwatchd: --log-format: expected json or text, got \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'L':
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr,
                        "shipwatchd: --log-level: expected debug, info, warn or error, got "
                        "\"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'V':
            printf("shipwatchd %s\n", SHIPWATCH_VERSION);
            return 0;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shipwatchd: unexpected argument \"%s\"\n", argv[optind]);
        fputs(usage_text, stderr);
        return 2;
    }
    /* Nothing the daemon creates (the database, its WAL and SHM, the
     * spool) is for other users to read. */
    umask(027);
    log_init(format, level);

    struct config *conf = NULL;
    struct config_errors errs = {0};
    if (config_load(path, &conf, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            if (check_only) {
                fprintf(stderr, "%s\n", errs.msgs[i]);
            } else {
                log_error(LOG_NOKV, "%s", errs.msgs[i]);
            }
        }
        if (!check_only) {
            log_error(LOG_KV("config", path), "invalid configuration: not starting");
        }
        config_errors_finish(&errs);
        return 1;
    }
    if (check_only) {
        print_summary(conf, path);
        config_destroy(conf);
        return 0;
    }

    raise_nofile();
    if (check_state_dir(conf) < 0) {
        config_destroy(conf);
        return 1;
    }

    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0) {
        log_error(LOG_NOKV, "cannot create the event loop: %s", uv_strerror(rc));
        config_destroy(conf);
        return 1;
    }
    struct daemon d;
    rc = daemon_init(&d, &loop, conf, path);
    struct sdnotify sdn;
    if (rc == 0) {
        sdnotify_start(&sdn, &loop); /* READY=1, WATCHDOG=1, STOPPING=1 */
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    daemon_finish(&d);
    if (uv_loop_close(&loop) == UV_EBUSY) {
        log_warn(LOG_NOKV, "event loop closed with handles still open");
    }
    return rc == 0 ? 0 : 1;
}
