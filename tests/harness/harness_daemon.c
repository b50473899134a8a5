/* harness_daemon.c - a daemon context for the domain modules' tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlm.h"
#include "harness.h"
#include "harness_daemon.h"
#include "store.h"

/* Order checks by name, as daemon_find_check expects its index. */
static int cmp_name(const void *a, const void *b)
{
    const struct check *x = *(const struct check *const *)a;
    const struct check *y = *(const struct check *const *)b;
    return strcmp(x->conf->name, y->conf->name);
}

/* Point the configuration's store at a SQLite file in dir. */
static int use_private_store(struct config *conf, const char *dir)
{
    size_t len = strlen(dir) + sizeof("/history.db");
    char *path = malloc(len);
    char *driver = strdup("sqlite");
    if (path == NULL || driver == NULL) {
        free(path);
        free(driver);
        return -ENOMEM;
    }
    snprintf(path, len, "%s/history.db", dir);
    free(conf->storage.driver);
    free(conf->storage.path);
    conf->storage.driver = driver;
    conf->storage.path = path;
    return 0;
}

/* Create one check per configured check, and the index by name. */
static int create_checks(struct daemon *d)
{
    size_t n = d->conf->nchecks;
    d->checks = calloc(n + 1, sizeof(*d->checks));
    d->by_name = calloc(n + 1, sizeof(*d->by_name));
    if (d->checks == NULL || d->by_name == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        d->checks[i] = check_create(&d->conf->checks[i]);
        if (d->checks[i] == NULL) {
            return -ENOMEM;
        }
        d->checks[i]->daemon = d;
        d->nchecks++;
    }
    memcpy(d->by_name, d->checks, n * sizeof(*d->by_name));
    qsort(d->by_name, n, sizeof(*d->by_name), cmp_name);
    return 0;
}

/* Everything up, in the order daemon_init brings it up. */
int harness_daemon_init(struct harness_daemon *h, const char *yaml, int64_t now_ms)
{
    memset(h, 0, sizeof(*h));
    h->now_ms = now_ms;
    clock_fake_init(&h->clock, &h->now_ms);
    int rc = uv_loop_init(&h->loop);
    if (rc < 0) {
        return rc;
    }
    h->loop_started = true;
    h->d.loop = &h->loop;
    h->d.clock = &h->clock;
    h->dir = harness_tmpdir("daemon");
    h->d.conf = harness_config(yaml);
    if (h->dir == NULL || h->d.conf == NULL) {
        return h->dir == NULL ? -ENOMEM : -EINVAL;
    }
    rc = use_private_store(h->d.conf, h->dir);
    if (rc == 0) {
        rc = create_checks(&h->d);
    }
    if (rc < 0) {
        return rc;
    }
    char err[256];
    rc = store_open(&h->loop, h->d.conf, &h->d.store, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "harness_daemon: cannot open the store: %s\n", err);
        return rc;
    }
    h->d.curlm = curlm_create(&h->loop);
    return h->d.curlm != NULL ? 0 : -ENOMEM;
}

/* The check named name. */
struct check *harness_daemon_check(struct harness_daemon *h, const char *name)
{
    return daemon_find_check(&h->d, name);
}

/* Tear down in the reverse order. */
int harness_daemon_finish(struct harness_daemon *h)
{
    struct daemon *d = &h->d;
    store_close(d->store);
    d->store = NULL;
    curlm_destroy(d->curlm);
    d->curlm = NULL;
    int rc = h->loop_started ? harness_loop_finish(&h->loop) : 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        check_destroy(d->checks[i]);
    }
    free(d->checks);
    free(d->by_name);
    config_destroy(d->conf);
    if (h->dir != NULL) {
        harness_tmpdir_remove(h->dir);
        free(h->dir);
    }
    memset(d, 0, sizeof(*d));
    h->dir = NULL;
    h->loop_started = false;
    return rc;
}
