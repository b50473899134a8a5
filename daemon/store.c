/* store.c - pick a backend, dispatch through its ops. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "store.h"
#include "util.h"

/* One row per backend; the first is the default when no driver is named. */
struct store_backend {
    const char *name;           /* storage.driver */
    int (*open)(uv_loop_t *loop, const struct config *conf, struct store **out, char *errbuf,
                size_t errlen);
};

static const struct store_backend backends[] = {
    {.name = "sqlite", .open = store_sqlite_open},
    {.name = "postgres", .open = store_pg_open},
};

/* Open the backend named by conf->storage.driver. */
int store_open(uv_loop_t *loop, const struct config *conf, struct store **out, char *errbuf,
               size_t errlen)
{
    *out = NULL;
    const char *driver = conf->storage.driver != NULL ? conf->storage.driver : backends[0].name;
    for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
        if (strcmp(driver, backends[i].name) == 0) {
            return backends[i].open(loop, conf, out, errbuf, errlen);
        }
    }
    snprintf(errbuf, errlen, "storage driver \"%s\" is not available in this build",
             conf->storage.driver);
    return -ENOTSUP;
}

void store_close(struct store *st)
{
    if (st != NULL) {
        st->ops->close(st);
    }
}

int store_load_states(struct store *st, store_state_fn fn, void *arg)
{
    return st->ops->load_states(st, fn, arg);
}

void store_state_catch_up(struct store_check_state *cs, int64_t n, const struct result *newest)
{
    if (n <= 0) {
        return;
    }
    int *grown = newest->outcome == STATE_UP ? &cs->ok_streak : &cs->fail_streak;
    int64_t v = (int64_t)*grown + n;
    *grown = v > INT_MAX ? INT_MAX : (int)v;
    if (newest->outcome == STATE_UP) {
        cs->fail_streak = 0;
    } else {
        cs->ok_streak = 0;
    }
    int64_t cert = cs->last.cert_expiry_s;
    cs->last = *newest;
    cs->last.cert_expiry_s = cert;
}

void store_put_result(struct store *st, const struct store_check_state *s)
{
    st->ops->put_result(st, s);
}

int64_t store_put_event(struct store *st, const struct event *ev)
{
    return st->ops->put_event(st, ev);
}

int store_history(struct store *st, const struct store_history_query *q, store_history_fn fn,
                  void *arg)
{
    return st->ops->history(st, q, fn, arg);
}

int store_events(struct store *st, const struct store_event_query *q, store_events_fn fn,
                 void *arg)
{
    return st->ops->events(st, q, fn, arg);
}

int64_t store_put_deploy(struct store *st, const struct deploy *dep)
{
    return st->ops->put_deploy(st, dep);
}

int store_deploys(struct store *st, const struct store_deploy_query *q, store_deploys_fn fn,
                  void *arg)
{
    return st->ops->deploys(st, q, fn, arg);
}

int store_check_stats(struct store *st, const struct store_stats_query *q,
                      store_check_stats_fn fn, void *arg)
{
    return st->ops->check_stats(st, q, fn, arg);
}

void store_retention(struct store *st, int64_t now_ms)
{
    st->ops->retention(st, now_ms);
}

void store_stats(struct store *st, size_t *queue_length, uint64_t *write_errors)
{
    st->ops->stats(st, queue_length, write_errors);
}

void store_health(struct store *st, struct store_health *h)
{
    memset(h, 0, sizeof(*h));
    st->ops->health(st, h);
}

int store_load_alerting(struct store *st, int64_t now_ms, const struct store_alerting_load *l)
{
    return st->ops->load_alerting(st, now_ms, l);
}

int64_t store_put_alert(struct store *st, const struct alert *a)
{
    return st->ops->put_alert(st, a);
}

int64_t store_put_mute(struct store *st, const struct mute *m)
{
    return st->ops->put_mute(st, m);
}

int64_t store_put_outbox(struct store *st, const struct outbox_item *o)
{
    return st->ops->put_outbox(st, o);
}

void store_delete_outbox(struct store *st, int64_t id)
{
    st->ops->delete_outbox(st, id);
}

int store_alerts(struct store *st, const struct store_alert_query *q, store_alerts_fn fn,
                 void *arg)
{
    return st->ops->alerts(st, q, fn, arg);
}
