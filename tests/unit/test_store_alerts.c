/* test_store_alerts.c - the store suite's alerts, mutes and outbox, run
 * against each backend by test_store.c's main (fixtures in test_store.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "store.h"
#include "store_rec.h"
#include "store_spool.h"
#include "test_store.h"
#include "util.h"

#define TEXT_MAX 64

/* A string field as text: "(null)" for NULL. */
static void text(char *out, const char *s)
{
    snprintf(out, TEXT_MAX, "%s", s != NULL ? s : "(null)");
}

/* An alert copied out of a callback. */
struct alert_copy {
    struct alert a;             /* strings point into the buffers below */
    char kind[TEXT_MAX], check[TEXT_MAX], app[TEXT_MAX], env[TEXT_MAX], severity[TEXT_MAX];
    char status[TEXT_MAX], summary[TEXT_MAX], ack_by[TEXT_MAX], ack_comment[TEXT_MAX];
    char muted_by[TEXT_MAX], deploy_info[TEXT_MAX];
};

static void copy_alert(struct alert_copy *c, const struct alert *a)
{
    c->a = *a;
    text(c->kind, a->kind);
    text(c->check, a->check);
    text(c->app, a->app);
    text(c->env, a->env);
    text(c->severity, a->severity);
    text(c->status, a->status);
    text(c->summary, a->summary);
    text(c->ack_by, a->ack_by);
    text(c->ack_comment, a->ack_comment);
    text(c->muted_by, a->muted_by);
    text(c->deploy_info, a->deploy_info);
    c->a.deploy_info = NULL;
    c->a.kind = c->a.check = c->a.app = c->a.env = c->a.severity = NULL;
    c->a.status = c->a.summary = c->a.ack_by = c->a.ack_comment = c->a.muted_by = NULL;
}

#define GOT_ALERTS_MAX 1100
struct got_alerts {
    bool done;
    int err;
    size_t n;
    int64_t ids[GOT_ALERTS_MAX];
    struct alert_copy first[4];
};

static void on_alerts(int err, const struct alert *as, size_t n, void *arg)
{
    struct got_alerts *g = arg;
    g->done = true;
    g->err = err;
    g->n = n;
    for (size_t i = 0; i < n && i < GOT_ALERTS_MAX; i++) {
        g->ids[i] = as[i].id;
        if (i < 4) {
            copy_alert(&g->first[i], &as[i]);
        }
    }
}

/* Run an alerts query to its callback. */
static void list_alerts(uv_loop_t *loop, struct store *st, const struct store_alert_query *q,
                        struct got_alerts *g)
{
    memset(g, 0, sizeof(*g));
    assert_int_equal(store_alerts(st, q, on_alerts, g), 0);
    for (int i = 0; i < 1000 && !g->done; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    assert_true(g->done);
    assert_int_equal(g->err, 0);
}

struct mute_copy {
    struct mute m;              /* strings NULL; see the buffers */
    char kind[TEXT_MAX], check[TEXT_MAX], app[TEXT_MAX], env[TEXT_MAX];
    char severity[TEXT_MAX], author[TEXT_MAX], comment[TEXT_MAX];
};

struct outbox_copy {
    struct outbox_item o;       /* strings NULL; see the buffers */
    char notifier[TEXT_MAX], payload[TEXT_MAX];
};

/* What store_load_alerting handed over. */
struct loaded {
    size_t nalerts, nmutes, noutbox;
    struct alert_copy alerts[8];
    struct mute_copy mutes[8];
    struct outbox_copy outbox[8];
};

static void load_alert(const struct alert *a, void *arg)
{
    struct loaded *l = arg;
    assert_true(l->nalerts < 8);
    copy_alert(&l->alerts[l->nalerts++], a);
}

static void load_mute(const struct mute *m, void *arg)
{
    struct loaded *l = arg;
    assert_true(l->nmutes < 8);
    struct mute_copy *c = &l->mutes[l->nmutes++];
    c->m = *m;
    c->m.kind = c->m.check = c->m.app = c->m.env = c->m.severity = NULL;
    c->m.author = c->m.comment = NULL;
    text(c->kind, m->kind);
    text(c->check, m->check);
    text(c->app, m->app);
    text(c->env, m->env);
    text(c->severity, m->severity);
    text(c->author, m->author);
    text(c->comment, m->comment);
}

static void load_outbox(const struct outbox_item *o, void *arg)
{
    struct loaded *l = arg;
    assert_true(l->noutbox < 8);
    struct outbox_copy *c = &l->outbox[l->noutbox++];
    c->o = *o;
    c->o.notifier = c->o.payload = NULL;
    text(c->notifier, o->notifier);
    text(c->payload, o->payload);
}

/* Load alerting as of now into l. */
static void load_all(struct store *st, int64_t now, struct loaded *l)
{
    memset(l, 0, sizeof(*l));
    struct store_alerting_load cb = {.alert = load_alert, .mute = load_mute,
                                     .outbox = load_outbox, .arg = l};
    assert_int_equal(store_load_alerting(st, now, &cb), 0);
}

/* Alerts, mutes and outbox rows survive a restart with every field; a row
 * put again with its id is replaced; resolved alerts, mutes over and
 * delivered rows are not loaded; ids go on after a restart, even past
 * deleted rows. */
void alerting_round_trip(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t now = clock_wall_ms();

    struct alert down = {.kind = "down", .check = "api-health", .app = "api",
                         .env = "production", .severity = "critical", .status = "firing",
                         .summary = "api-health is down: [STATUS] (503) == 200",
                         .started_ms = now - 60000,
                         .deploy_id = 6,
                         .deploy_info = "{\"id\":6,\"version\":\"1.5.0\"}"};
    int64_t a1 = store_put_alert(st, &down);
    assert_true(a1 > 0);
    struct alert failed = {.kind = "deploy-failed", .app = "shop", .env = "staging",
                           .severity = "warning", .status = "acknowledged",
                           .summary = "deploy 7 of shop failed", .started_ms = now - 50000,
                           .ack_by = "alice", .ack_ms = now - 40000, .ack_comment = "on it",
                           .deploy_id = 7};
    int64_t a2 = store_put_alert(st, &failed);
    assert_int_equal(a2, a1 + 1);
    struct alert gone = {.kind = "degraded", .check = "db", .severity = "info",
                         .status = "firing", .summary = "db is slow",
                         .started_ms = now - 30000};
    int64_t a3 = store_put_alert(st, &gone);
    assert_int_equal(a3, a2 + 1);

    /* Updates by id: the first gets muted and notified, the third resolves. */
    down.id = a1;
    down.muted_by = "silence 1";
    down.last_notified_ms = now - 1000;
    down.notifications = 2;
    assert_int_equal(store_put_alert(st, &down), a1);
    gone.id = a3;
    gone.status = "resolved";
    gone.resolved_ms = now - 1000;
    assert_int_equal(store_put_alert(st, &gone), a3);

    struct mute live = {.kind = "silence", .check = "api-health", .severity = "critical",
                        .starts_ms = now - 1000, .ends_ms = now + 3600000, .author = "bob",
                        .comment = "planned", .created_ms = now - 1000};
    int64_t m1 = store_put_mute(st, &live);
    assert_true(m1 > 0);
    struct mute over = {.kind = "maintenance", .app = "shop", .env = "staging",
                        .starts_ms = now - 7200000, .ends_ms = now - 3600000,
                        .created_ms = now - 7200000};
    int64_t m2 = store_put_mute(st, &over);
    assert_int_equal(m2, m1 + 1);
    /* Ended early: put again with its id and an earlier end. */
    struct mute ended = {.kind = "maintenance", .app = "web", .starts_ms = now - 1000,
                         .ends_ms = now + 3600000, .created_ms = now - 1000};
    int64_t m3 = store_put_mute(st, &ended);
    ended.id = m3;
    ended.ends_ms = now - 500;
    assert_int_equal(store_put_mute(st, &ended), m3);

    int64_t o[4];
    for (int i = 0; i < 4; i++) {
        char payload[32];
        snprintf(payload, sizeof(payload), "{\"n\":%d}", i);
        struct outbox_item it = {.alert_id = a1, .notifier = i % 2 ? "mail" : "hook",
                                 .payload = payload, .created_ms = now + i,
                                 .next_ms = now + 1000 * i};
        o[i] = store_put_outbox(st, &it);
        if (i > 0) {
            assert_int_equal(o[i], o[i - 1] + 1);
        }
    }
    /* A failed attempt is recorded by id; two rows are delivered, among
     * them the newest. */
    struct outbox_item retry = {.id = o[2], .alert_id = a2, .notifier = "hook",
                                .payload = "{\"n\":2}", .created_ms = now + 2,
                                .attempts = 3, .next_ms = now + 8000};
    assert_int_equal(store_put_outbox(st, &retry), o[2]);
    store_delete_outbox(st, o[1]);
    store_delete_outbox(st, o[3]);
    store_close(st);

    st = open_store(&loop, path);
    struct loaded l;
    load_all(st, now, &l);

    assert_int_equal(l.nalerts, 2);
    const struct alert_copy *x = &l.alerts[0];
    assert_int_equal(x->a.id, a1);
    assert_string_equal(x->kind, "down");
    assert_string_equal(x->check, "api-health");
    assert_string_equal(x->app, "api");
    assert_string_equal(x->env, "production");
    assert_string_equal(x->severity, "critical");
    assert_string_equal(x->status, "firing");
    assert_string_equal(x->summary, "api-health is down: [STATUS] (503) == 200");
    assert_int_equal(x->a.started_ms, now - 60000);
    assert_int_equal(x->a.resolved_ms, 0);
    assert_string_equal(x->ack_by, "(null)");
    assert_int_equal(x->a.ack_ms, 0);
    assert_string_equal(x->ack_comment, "(null)");
    assert_string_equal(x->muted_by, "silence 1");
    assert_int_equal(x->a.deploy_id, 6);
    assert_string_equal(x->deploy_info, "{\"id\":6,\"version\":\"1.5.0\"}");
    assert_int_equal(x->a.last_notified_ms, now - 1000);
    assert_int_equal(x->a.notifications, 2);
    x = &l.alerts[1];
    assert_int_equal(x->a.id, a2);
    assert_string_equal(x->kind, "deploy-failed");
    assert_string_equal(x->check, "(null)");
    assert_string_equal(x->status, "acknowledged");
    assert_string_equal(x->severity, "warning");
    assert_string_equal(x->ack_by, "alice");
    assert_int_equal(x->a.ack_ms, now - 40000);
    assert_string_equal(x->ack_comment, "on it");
    assert_string_equal(x->muted_by, "(null)");
    assert_int_equal(x->a.deploy_id, 7);
    assert_string_equal(x->deploy_info, "(null)");
    assert_int_equal(x->a.last_notified_ms, 0);
    assert_int_equal(x->a.notifications, 0);

    assert_int_equal(l.nmutes, 1);
    assert_int_equal(l.mutes[0].m.id, m1);
    assert_string_equal(l.mutes[0].kind, "silence");
    assert_string_equal(l.mutes[0].check, "api-health");
    assert_string_equal(l.mutes[0].app, "(null)");
    assert_string_equal(l.mutes[0].env, "(null)");
    assert_string_equal(l.mutes[0].severity, "critical");
    assert_int_equal(l.mutes[0].m.starts_ms, now - 1000);
    assert_int_equal(l.mutes[0].m.ends_ms, now + 3600000);
    assert_string_equal(l.mutes[0].author, "bob");
    assert_string_equal(l.mutes[0].comment, "planned");
    assert_int_equal(l.mutes[0].m.created_ms, now - 1000);

    assert_int_equal(l.noutbox, 2);
    assert_int_equal(l.outbox[0].o.id, o[0]);
    assert_int_equal(l.outbox[0].o.alert_id, a1);
    assert_string_equal(l.outbox[0].notifier, "hook");
    assert_string_equal(l.outbox[0].payload, "{\"n\":0}");
    assert_int_equal(l.outbox[0].o.created_ms, now);
    assert_int_equal(l.outbox[0].o.attempts, 0);
    assert_int_equal(l.outbox[0].o.next_ms, now);
    assert_int_equal(l.outbox[1].o.id, o[2]);
    assert_int_equal(l.outbox[1].o.alert_id, a2);
    assert_int_equal(l.outbox[1].o.attempts, 3);
    assert_int_equal(l.outbox[1].o.next_ms, now + 8000);

    /* The mute over an hour ago is loaded when asked as of two hours ago. */
    load_all(st, now - 7200000, &l);
    assert_int_equal(l.nmutes, 3);
    assert_int_equal(l.mutes[0].m.id, m2);      /* soonest ending first */
    assert_int_equal(l.mutes[1].m.id, m3);
    assert_int_equal(l.mutes[2].m.id, m1);

    /* The resolved alert is listed, not loaded. */
    struct got_alerts *g = malloc(sizeof(*g));
    list_alerts(&loop, st, &(struct store_alert_query){.status = NULL}, g);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->ids[0], a3);
    assert_string_equal(g->first[0].status, "resolved");
    assert_int_equal(g->first[0].a.resolved_ms, now - 1000);
    assert_string_equal(g->first[0].check, "db");
    assert_string_equal(g->first[0].app, "(null)");
    list_alerts(&loop, st, &(struct store_alert_query){.status = "resolved"}, g);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], a3);
    list_alerts(&loop, st, &(struct store_alert_query){.status = "open"}, g);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->ids[0], a2);
    assert_int_equal(g->ids[1], a1);
    list_alerts(&loop, st, &(struct store_alert_query){.status = "firing"}, g);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], a1);
    list_alerts(&loop, st, &(struct store_alert_query){.status = "acknowledged"}, g);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], a2);
    free(g);

    /* Ids go on, the outbox's past the delivered newest row. */
    struct alert next = {.kind = "down", .check = "db", .severity = "critical",
                         .status = "firing", .summary = "db is down", .started_ms = now};
    assert_next_id(store_put_alert(st, &next), a3);
    struct mute m = {.kind = "silence", .starts_ms = now, .ends_ms = now + 1, .created_ms = now};
    assert_next_id(store_put_mute(st, &m), m3);
    struct outbox_item it = {.alert_id = a3 + 1, .notifier = "hook", .payload = "{}",
                             .created_ms = now, .next_ms = now};
    assert_next_id(store_put_outbox(st, &it), o[3]);
    store_close(st);
    uv_loop_close(&loop);
}

/* alerts(): a query right after a put sees it; filters by check and app;
 * pages newest first with before_id; limit defaults to 100, at most 1000. */
void alerts_list_and_page(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t now = clock_wall_ms();
    enum { N = 1005 };
    int64_t *ids = malloc(N * sizeof(*ids));
    for (int i = 0; i < N; i++) {
        char summary[32];
        snprintf(summary, sizeof(summary), "alert %d", i);
        struct alert a = {.kind = "down", .check = i % 5 == 0 ? "web" : "db",
                          .app = i % 2 ? "shop" : "api", .severity = "critical",
                          .status = i % 3 == 0 ? "resolved" : "firing", .summary = summary,
                          .started_ms = now + i, .resolved_ms = i % 3 == 0 ? now + i + 1 : 0};
        ids[i] = store_put_alert(st, &a);
    }
    struct got_alerts *g = malloc(sizeof(*g));

    /* No wait between the last put and the query. */
    list_alerts(&loop, st, &(struct store_alert_query){.limit = 1}, g);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], ids[N - 1]);
    assert_string_equal(g->first[0].summary, "alert 1004");

    list_alerts(&loop, st, &(struct store_alert_query){0}, g);
    assert_int_equal(g->n, 100);
    list_alerts(&loop, st, &(struct store_alert_query){.limit = 5000}, g);
    assert_int_equal(g->n, 1000);
    assert_int_equal(g->ids[0], ids[N - 1]);
    assert_int_equal(g->ids[999], ids[5]);

    /* Pages of 7 of the open alerts of web in shop, back to the first. */
    size_t expected = 0;
    for (int i = 0; i < N; i++) {
        expected += i % 5 == 0 && i % 2 == 1 && i % 3 != 0;
    }
    size_t seen = 0;
    int64_t before = 0, last = INT64_MAX;
    for (int page = 0; page < 100; page++) {
        struct store_alert_query q = {.status = "open", .check = "web", .app = "shop",
                                      .before_id = before, .limit = 7};
        list_alerts(&loop, st, &q, g);
        for (size_t i = 0; i < g->n; i++) {
            assert_true(g->ids[i] < last);
            last = g->ids[i];
            int k = (int)(g->ids[i] - ids[0]);
            assert_true(k % 5 == 0 && k % 2 == 1 && k % 3 != 0);
        }
        seen += g->n;
        if (g->n < 7) {
            break;
        }
        before = g->ids[g->n - 1];
    }
    assert_int_equal(seen, expected);

    /* An update right before the query is seen too. */
    struct alert ack = {.id = ids[N - 1], .kind = "down", .check = "db", .app = "api",
                        .severity = "critical", .status = "acknowledged", .summary = "alert 1004",
                        .started_ms = now + N - 1, .ack_by = "carol", .ack_ms = now};
    store_put_alert(st, &ack);
    list_alerts(&loop, st, &(struct store_alert_query){.status = "acknowledged"}, g);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->ids[0], ids[N - 1]);
    assert_string_equal(g->first[0].ack_by, "carol");
    list_alerts(&loop, st, &(struct store_alert_query){.status = "firing", .limit = 1000}, g);
    assert_int_equal(g->n, N - N / 3 - 1);   /* less resolved (0, 3, ...) and the ack */

    free(g);
    free(ids);
    store_close(st);
    uv_loop_close(&loop);
}

/* The retention pass deletes alerts resolved and mutes over before the
 * rollups retention; open alerts stay however old. */
void retention_trims_alerting(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char path[600];
    new_path(path, sizeof(path));
    struct store *st = open_store(&loop, path);
    int64_t now = clock_wall_ms();
    int64_t day = 86400000;
    struct {
        const char *summary, *status;
        int64_t started_ms, resolved_ms;
    } alerts[] = {
        {"old resolved", "resolved", now - 500 * day, now - 499 * day},
        {"recent resolved", "resolved", now - 500 * day, now - day},
        {"old firing", "firing", now - 500 * day, 0},
        {"old acknowledged", "acknowledged", now - 450 * day, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(alerts); i++) {
        struct alert a = {.kind = "down", .check = "web", .severity = "critical",
                          .status = alerts[i].status, .summary = alerts[i].summary,
                          .started_ms = alerts[i].started_ms,
                          .resolved_ms = alerts[i].resolved_ms};
        store_put_alert(st, &a);
    }
    struct mute old = {.kind = "silence", .comment = "old", .starts_ms = now - 500 * day,
                       .ends_ms = now - 499 * day, .created_ms = now - 500 * day};
    struct mute recent = {.kind = "silence", .comment = "recent", .starts_ms = now - 2 * day,
                          .ends_ms = now - day, .created_ms = now - 2 * day};
    struct mute live = {.kind = "maintenance", .comment = "live", .starts_ms = now - 500 * day,
                        .ends_ms = now + day, .created_ms = now - 500 * day};
    store_put_mute(st, &old);
    store_put_mute(st, &recent);
    store_put_mute(st, &live);
    store_retention(st, now);
    store_close(st);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM alerts"), 3);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM alerts WHERE summary = 'old resolved'"),
                     0);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM alerts WHERE status != 'resolved'"), 2);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM mutes"), 2);
    assert_int_equal(sql_int(path, "SELECT COUNT(*) FROM mutes WHERE comment = 'old'"), 0);
    uv_loop_close(&loop);
}
