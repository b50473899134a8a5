/* config_load.c - loading a configuration: the top level, the defaults
 * that come from the environment, checks across sections, and freeing.
 *
 * The sections themselves (their rows and hooks) are config.c's, listed in
 * config_sections.h; the tree is config_yaml.c's. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "config_list.h"
#include "config_rows.h"
#include "config_sections.h"
#include "config_yaml.h"
#include "ipc_client.h"

/* A mapping section (daemon, storage, defaults) into the config. */
static void parse_section(struct conf_ctx *x, const struct ynode *v, struct conf_mark at,
                          const char *key, const struct conf_rows *rows, struct conf_state *st)
{
    if (conf_is_null(v)) {
        return;
    }
    if (v->type != YN_MAP) {
        conf_report(x, at, "%s: expected a mapping", key);
        return;
    }
    struct conf_item it = {.sets = rows, .nsets = 1, .accept = CONF_ACCEPT_ALL};
    conf_parse_fields(x, v, key, &it, x->c, st);
}

/* Duplicate an environment path with a suffix, if the variable holds an
 * absolute path; NULL otherwise (or on ENOMEM, flagged). */
static char *env_path(struct conf_ctx *x, const char *var, const char *suffix)
{
    const char *v = getenv(var);
    if (v == NULL || v[0] != '/') {
        return NULL;
    }
    size_t n = strlen(v) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s == NULL) {
        x->oom = true;
        return NULL;
    }
    snprintf(s, n, "%s%s", v, suffix);
    return s;
}

/* The home directory: $HOME, else the password database (read into buf:
 * a reload reads the configuration on a thread); NULL unknown. */
static const char *home_dir(char *buf, size_t len)
{
    const char *h = getenv("HOME");
    if (h != NULL && h[0] == '/') {
        return h;
    }
    struct passwd pw, *found = NULL;
    if (getpwuid_r(geteuid(), &pw, buf, len, &found) != 0 || found == NULL) {
        return NULL;
    }
    return pw.pw_dir != NULL && pw.pw_dir[0] == '/' ? pw.pw_dir : NULL;
}

/* The default path of a file in the daemon's state directory:
 * $STATE_DIRECTORY (systemd's, its first entry), else /var/lib/shipwatch as root, else $XDG_STATE_HOME/shipwatch or
 * ~/.local/state/shipwatch. NULL when no default exists (reported against
 * key) or on ENOMEM (flagged). */
static char *state_path(struct conf_ctx *x, const char *name, const char *key, struct conf_mark at)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/shipwatch/%s", name);
    char *p;
    const char *sd = getenv("STATE_DIRECTORY");
    if (sd != NULL && sd[0] == '/') {
        /* systemd's StateDirectory= already names shipwatch's own directory;
         * of several (colon-separated), the first is ours. */
        size_t len = strcspn(sd, ":");
        size_t n = len + 1 + strlen(name) + 1;
        if ((p = malloc(n)) != NULL) {
            snprintf(p, n, "%.*s/%s", (int)len, sd, name);
        }
    } else if (geteuid() == 0) {
        p = malloc(strlen("/var/lib") + strlen(suffix) + 1);
        if (p != NULL) {
            sprintf(p, "/var/lib%s", suffix);
        }
    } else if ((p = env_path(x, "XDG_STATE_HOME", suffix)) == NULL && !x->oom) {
        char buf[4096];
        const char *home = home_dir(buf, sizeof(buf));
        if (home == NULL) {
            conf_report(x, at, "%s: not set, and neither XDG_STATE_HOME nor HOME gives a default",
                        key);
            return NULL;
        }
        size_t n = strlen(home) + strlen("/.local/state") + strlen(suffix) + 1;
        if ((p = malloc(n)) != NULL) {
            snprintf(p, n, "%s/.local/state%s", home, suffix);
        }
    }
    if (p == NULL) {
        x->oom = true;
    }
    return p;
}

/* Fill defaults that depend on the environment and other keys, and check
 * what needs more than one key. */
static void finish_config(struct conf_ctx *x, const struct conf_state *storage_st,
                          struct conf_mark top_at)
{
    struct config *c = x->c;
    if (c->daemon.socket == NULL) {
        /* One default for the daemon and its clients. */
        if ((c->daemon.socket = ipc_default_socket_path()) == NULL) {
            x->oom = true;
        } else if (strlen(c->daemon.socket) > CONFIG_SUN_PATH_MAX) {
            conf_report(x, top_at,
                        "daemon.socket: the default %s/shipwatch.sock is too long for a Unix "
                        "socket; set daemon.socket",
                        "$XDG_RUNTIME_DIR");
        }
    }
    if (c->storage.driver == NULL) {
        return; /* out of memory: no default */
    }
    if (strcmp(c->storage.driver, "postgres") == 0) {
        if (c->storage.dsn == NULL && !storage_st[STORAGE_DSN].bad) {
            struct conf_mark at = storage_st[STORAGE_DSN].seen ? storage_st[STORAGE_DSN].at
                                  : storage_st[STORAGE_DRIVER].at.line
                                      ? storage_st[STORAGE_DRIVER].at
                                      : top_at;
            conf_report(x, at, "storage: the postgres driver needs dsn");
        }
    } else if (c->storage.path == NULL && !storage_st[STORAGE_PATH].bad) {
        if ((c->storage.path = state_path(x, "history.db", "storage.path", top_at)) == NULL) {
            return;
        }
    }
    if (c->storage.spool == NULL && !storage_st[STORAGE_SPOOL].bad) {
        const char *slash = c->storage.path != NULL ? strrchr(c->storage.path, '/') : NULL;
        if (slash != NULL) {
            size_t dir = (size_t)(slash - c->storage.path);
            size_t n = dir + sizeof("/spool");
            if ((c->storage.spool = malloc(n)) == NULL) {
                x->oom = true;
                return;
            }
            snprintf(c->storage.spool, n, "%.*s/spool", (int)dir, c->storage.path);
        } else if ((c->storage.spool = state_path(x, "spool", "storage.spool", top_at)) == NULL) {
            return;
        }
    }
    if (c->storage.retention_rollups_ms < c->storage.retention_raw_ms) {
        struct conf_mark at =
            storage_st[STORAGE_RETENTION].seen ? storage_st[STORAGE_RETENTION].at : top_at;
        conf_report(x, at, "storage.retention: rollups must be kept at least as long as raw");
    }
}

/* Defaults of the cluster keys: this node's name (the host name), and
 * what needs Redis. */
static void finish_cluster(struct conf_ctx *x, struct conf_mark cluster_at, bool url_bad)
{
    struct config *c = x->c;
    if (c->node_name == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') {
            snprintf(host, sizeof(host), "shipwatchd");
        }
        host[sizeof(host) - 1] = '\0';
        if ((c->node_name = strdup(host)) == NULL) {
            x->oom = true;
            return;
        }
    }
    if (c->cluster != NULL && c->redis.url == NULL && !url_bad) {
        conf_report(x, cluster_at, "cluster: sharing checks needs redis.url");
    }
    /* Whoever can write to the cluster's Redis decides which daemon runs
     * what and what the peers believe: insist on AUTH (a unix socket is
     * guarded by its file mode) and on signed messages. */
    struct cluster_url u;
    char why[200];
    if (c->cluster != NULL && c->redis.url != NULL && !url_bad && !c->redis.insecure) {
        if (cluster_url_parse(c->redis.url, &u, why, sizeof(why)) == 0 && !u.unix_socket &&
            u.password[0] == '\0') {
            conf_report(x, cluster_at,
                        "cluster: redis.url has no password; a cluster needs Redis AUTH "
                        "(redis://:PASSWORD@host, Redis's requirepass), or redis.insecure: true");
        }
        if (c->redis.key == NULL) {
            conf_report(x, cluster_at,
                        "cluster: needs redis.key, a secret of at least 16 characters shared by "
                        "the daemons to sign their messages, or redis.insecure: true");
        }
        memset(&u, 0, sizeof(u)); /* the password */
    }
    for (size_t i = 0; i < c->nchecks; i++) {
        if (c->checks[i].locations_all && c->cluster == NULL) {
            conf_report(x, cluster_at,
                        "checks[%zu].locations: \"all\" needs a cluster (cluster and redis.url)",
                        i);
            break;
        }
    }
}

/* Walk the root mapping into x->c. */
static void parse_root(struct conf_ctx *x, const struct ynode *root)
{
    struct config *c = x->c;
    if (root->type != YN_MAP) {
        conf_report(x, root->at,
                    "expected a mapping at the top level (daemon, storage, defaults, "
                    "apps, checks, notifiers, alerts)");
        return;
    }
    const struct ynode *val[NTOP] = {0};
    struct conf_mark at[NTOP] = {{0, 0}};
    for (size_t i = 0; i + 1 < root->n && !x->stop; i += 2) {
        const struct ynode *k = root->kids[i];
        if (!conf_visit(x, k->at)) {
            return;
        }
        if (k->type != YN_SCALAR) {
            conf_report(x, k->at, "top level: keys must be strings");
            continue;
        }
        if (k->len >= 2 && memcmp(k->text, "x-", 2) == 0) {
            continue; /* extension field: a place for anchors */
        }
        size_t t = 0;
        while (t < NTOP &&
               (strlen(conf_top_keys[t]) != k->len || strcmp(conf_top_keys[t], k->text) != 0)) {
            t++;
        }
        if (t == NTOP) {
            char kpath[PATH_BUF];
            conf_path_key(kpath, sizeof(kpath), "", k->text, k->len);
            conf_report(x, k->at, "%s: unknown key", kpath);
            continue;
        }
        if (at[t].line != 0) {
            conf_report(x, k->at, "%s: duplicate key (first at line %d)", conf_top_keys[t],
                        at[t].line);
            continue;
        }
        val[t] = root->kids[i + 1];
        at[t] = k->at;
    }

    /* Numbers before parsing, strings once parsed: an absent section still
     * gets its defaults. */
    struct conf_state st[NROOT][ROOT_MAX_ROWS];
    memset(st, 0, sizeof(st));
    for (size_t r = 0; r < NROOT; r++) {
        conf_rows_defaults(&conf_root_sections[r].rows, c);
    }
    for (size_t r = 0; r < NROOT; r++) {
        const struct conf_root_section *rs = &conf_root_sections[r];
        parse_section(x, val[rs->top], at[rs->top], conf_top_keys[rs->top], &rs->rows, st[r]);
    }
    for (size_t r = 0; r < NROOT && !x->oom; r++) {
        if (conf_rows_fill(&conf_root_sections[r].rows, c) < 0) {
            x->oom = true;
        }
    }
    for (size_t r = 0; r < NSCALARS; r++) {
        const struct conf_root_scalar *rs = &conf_root_scalars[r];
        if (val[rs->top] != NULL && !x->stop) {
            conf_parse_value(x, &rs->row, val[rs->top], at[rs->top], rs->row.key, c);
        }
    }
    for (size_t l = 0; l < NLISTS && !x->stop; l++) {
        conf_list_parse(x, conf_list_sections[l].sec, val[conf_list_sections[l].top],
                        at[conf_list_sections[l].top]);
    }
    if (c->defaults.timeout_ms == 0) {
        /* Absent: the checks took their type's default or this one. */
        c->defaults.timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS;
    }
    if (!x->stop) {
        finish_config(x, st[SEC_STORAGE], root->at);
    }
    if (!x->stop) {
        finish_cluster(x, at[TOP_CLUSTER].line ? at[TOP_CLUSTER] : root->at, st[SEC_REDIS][0].bad);
    }
}

/* ------------------------------------------------------------ public API */

/* Free a config and everything it owns. NULL is a no-op. */
void config_destroy(struct config *c)
{
    if (c == NULL) {
        return;
    }
    struct config_priv *pv = (struct config_priv *)c;
    free(c->path);
    for (size_t r = 0; r < NROOT; r++) {
        conf_rows_release(&conf_root_sections[r].rows, c);
    }
    for (size_t r = 0; r < NSCALARS; r++) {
        conf_rows_release(&(struct conf_rows){&conf_root_scalars[r].row, 1}, c);
    }
    for (size_t l = 0; l < NLISTS; l++) {
        const struct list_section *sec = conf_list_sections[l].sec;
        struct conf_rows sets[MAX_SETS] = {sec->rows};
        size_t nsets = sec->variant_sets != NULL ? sec->variant_sets(sets, MAX_SETS) : 1;
        char *items = *CONF_AT(c, sec->items_off, char *);
        size_t n = *CONF_AT(c, sec->count_off, size_t);
        /* Every set: an item of no known type may hold keys of any. */
        for (size_t i = 0; i < n; i++) {
            for (size_t s = 0; s < nsets; s++) {
                conf_rows_release(&sets[s], items + i * sec->item_size);
            }
        }
        free(items);
    }
    free(pv->check_order);
    free(pv->app_order);
    free(pv->notifier_order);
    free(pv);
}

/* Same as config_load, from a buffer; name is used in messages. */
int config_load_buffer(const char *name, const char *buf, size_t len, struct config **out,
                       struct config_errors *errs)
{
    *out = NULL;
    struct conf_ctx x = {.name = name, .buf = buf, .len = len};
    int rc = 0;
    if (len > CONFIG_MAX_FILE) {
        conf_report(&x, (struct conf_mark){0, 0}, "file too large (over %d MiB)",
                    CONFIG_MAX_FILE / (1024 * 1024));
        rc = -EINVAL;
        goto done;
    }
    struct ynode *root = NULL;
    rc = conf_tree_build(&x, &root);
    if (rc == 0 && conf_is_null(root)) {
        conf_report(&x, (struct conf_mark){1, 1},
                    "empty configuration: expected a mapping with checks");
        rc = -EINVAL;
    }
    if (rc == 0) {
        x.priv = calloc(1, sizeof(*x.priv));
        if (x.priv == NULL) {
            rc = -ENOMEM;
        } else {
            x.c = &x.priv->pub;
            x.c->path = strdup(name);
            if (x.c->path == NULL) {
                x.oom = true;
            }
            parse_root(&x, root);
        }
    }
    conf_tree_free(&x);
    if (rc == 0 && x.oom) {
        rc = -ENOMEM;
    }
    if (rc == 0 && x.nerrs > 0) {
        rc = -EINVAL;
    }
    if (rc < 0) {
        config_destroy(x.c);
        x.c = NULL;
    }
done:
    if (rc == -ENOMEM && x.nerrs == 0) {
        conf_report(&x, (struct conf_mark){0, 0}, "out of memory");
    }
    if (conf_errors_move(&x, errs) < 0 && rc == 0) {
        rc = -ENOMEM;
    }
    free(x.errs);
    if (rc == 0) {
        *out = x.c;
    }
    return rc;
}

/* Make *prog absolute when it names a path relative to dir ("plugins/x"):
 * a daemon's working directory is / under systemd, so the only directory
 * such a path can sensibly mean is the configuration file's. A bare name
 * is left to PATH. 0 or -ENOMEM. */
static int resolve_program(char **prog, const char *dir)
{
    if (*prog == NULL || (*prog)[0] == '/' || strchr(*prog, '/') == NULL) {
        return 0;
    }
    const char *p = *prog;
    while (strncmp(p, "./", 2) == 0) {
        p += 2;
    }
    size_t n = strlen(dir) + strlen(p) + 2;
    char *abs = malloc(n);
    if (abs == NULL) {
        return -ENOMEM;
    }
    snprintf(abs, n, "%s/%s", dir, p);
    free(*prog);
    *prog = abs;
    return 0;
}

/* Resolve the relative program paths of exec checks and notifiers against
 * the directory of the configuration file at path. 0 or -ENOMEM. */
static int resolve_programs(struct config *c, const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        return -ENOMEM;
    }
    char *slash = strrchr(copy, '/');
    if (slash == copy) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    } else {
        strcpy(copy, ".");
    }
    char *dir = realpath(copy, NULL);
    free(copy);
    if (dir == NULL) {
        return errno == ENOMEM ? -ENOMEM : 0; /* gone since it was read: leave them */
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nchecks; i++) {
        if (c->checks[i].argv != NULL) {
            rc = resolve_program(&c->checks[i].argv[0], strcmp(dir, "/") == 0 ? "" : dir);
        }
    }
    for (size_t i = 0; rc == 0 && i < c->nnotifiers; i++) {
        if (c->notifiers[i].argv != NULL) {
            rc = resolve_program(&c->notifiers[i].argv[0], strcmp(dir, "/") == 0 ? "" : dir);
        }
    }
    free(dir);
    return rc;
}

/* Load and validate path (see config.h). */
int config_load(const char *path, struct config **out, struct config_errors *errs)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = 0;
    char *buf = NULL;
    size_t len = 0;
    if (fd < 0) {
        err = errno;
    } else {
        size_t cap = 64 * 1024;
        buf = malloc(cap);
        if (buf == NULL) {
            err = ENOMEM;
        }
        /* Read at most one byte past the limit: enough to know it is over. */
        while (err == 0 && len <= CONFIG_MAX_FILE) {
            if (len == cap) {
                size_t ncap = cap * 2 > CONFIG_MAX_FILE + 1 ? CONFIG_MAX_FILE + 1 : cap * 2;
                char *nb = realloc(buf, ncap);
                if (nb == NULL) {
                    err = ENOMEM;
                    break;
                }
                buf = nb;
                cap = ncap;
            }
            ssize_t r = read(fd, buf + len, cap - len);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                err = errno;
            } else if (r == 0) {
                break;
            } else {
                len += (size_t)r;
            }
        }
        close(fd);
    }
    if (err != 0) {
        free(buf);
        char line[PATH_BUF + 128];
        snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(err));
        char *m = strdup(line);
        char **msgs = m ? realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs)) : NULL;
        if (msgs != NULL) {
            errs->msgs = msgs;
            errs->msgs[errs->n++] = m;
        } else {
            free(m);
        }
        return -err;
    }
    int rc = config_load_buffer(path, buf, len, out, errs);
    free(buf);
    if (rc == 0 && resolve_programs(*out, path) < 0) {
        config_destroy(*out);
        *out = NULL;
        rc = -ENOMEM;
    }
    return rc;
}
