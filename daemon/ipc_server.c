/* ipc_server.c - msgpack-RPC on the daemon's Unix socket. */
#include "ipc_server.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "alert.h"
#include "cluster.h"
#include "config.h"
#include "daemon.h"
#include "deploy.h"
#include "ipc_proto.h"
#include "ipc_wire.h"
#include "peercred.h"
#include "sched.h"
#include "store.h"

#define READ_CHUNK 4096
#define RUN_SWEEP_MS 1000
#define RUN_GRACE_MS 10000       /* beyond the check's timeout */
#define HISTORY_DEFAULT_RANGE_MS (60LL * 60 * 1000)
#define HISTORY_DEFAULT_LIMIT 1000
#define HISTORY_MAX_LIMIT 10000
#define DEPLOYS_MAX_LIMIT 1000
#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000
#define ALERTS_DEFAULT_LIMIT 100
#define ALERTS_MAX_LIMIT 1000
#define MAX_PEER_GROUPS 256

/* One write: what a client was sent in one loop turn. */
struct wreq {
    uv_write_t req;
    char *data;
};

struct conn {
    uv_pipe_t pipe;
    struct ipc_server *srv;
    struct ipc_reader rd;
    struct conn *prev, *next;    /* the server's open clients */
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool admin;
    char user[64];               /* the uid's user name once looked up, or "uid N" */
    bool open;                   /* in the list, handle not closing */
    bool read_paused;            /* its responses queued beyond the limit */
    unsigned topics;
    unsigned refs;               /* the handle, plus one per pending query */
    msgpack_sbuffer out;         /* messages of this loop turn, not yet written */
    struct conn *dirty_next;     /* in the server's flush list when out has bytes */
    struct conn *zombie_next;    /* closed, waiting for its last reference */
};

/* A checks.run call waiting for its check's next result. */
struct run_wait {
    struct conn *conn;
    uint32_t msgid;
    char *check;
    uint64_t deadline;           /* loop time */
    struct run_wait *next;
};

struct ipc_server {
    struct daemon *d;
    uv_pipe_t listener;
    bool listening;
    char *path;
    dev_t dev;
    ino_t ino;
    struct ipc_limits lim;
    size_t max_queue;
    uid_t euid;
    uid_t *admin_uids;
    size_t nadmin_uids;
    gid_t *admin_gids;
    size_t nadmin_gids;
    struct conn *conns;
    struct conn *zombies;        /* closed with queries still pending */
    struct pending *pendings;    /* store queries not answered yet */
    struct conn *dirty;          /* clients with output to write this turn */
    uv_check_t flush;            /* writes it after the loop's I/O phase */
    uv_prepare_t flush_pre;      /* and before the loop blocks for I/O */
    struct run_wait *waits;
    uv_timer_t run_timer;
    size_t topic_subs[5];        /* subscribers per topic bit */
    size_t *app_slot;            /* per check: its slot in apps, SIZE_MAX none */
    struct {
        const char *app, *env;   /* point into the configuration */
    } *apps;
    size_t napps;
    uint64_t apps_gen;           /* d->reloads_total when built */
    bool in_publish;             /* a notification is being sent: log lines
                                    it causes are not sent on */
    struct ipc_server_stats st;
};

/* --- output --- */

/* Bytes waiting for c in the daemon: handed to libuv, or not yet. */
static size_t queued(const struct conn *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe) + c->out.size;
}

static void conn_close(struct conn *c, const char *why);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = req->handle->data;
    free(w->data);
    free(w);
    if (c->open && c->read_paused && queued(c) <= c->srv->max_queue / 2) {
        c->read_paused = false;
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    }
}

/* Add a whole message to c's output of this loop turn. Everything a client
 * is sent in one turn (a burst of results, the answers to pipelined
 * requests) leaves in one write: one system call for it, one for its
 * reader. */
static void conn_queue(struct conn *c, const char *data, size_t len)
{
    if (!c->open) {
        return;
    }
    if (c->out.size == 0) {
        c->dirty_next = c->srv->dirty;
        c->srv->dirty = c;
    }
    /* msgpack_sbuffer_write aborts on ENOMEM, as every allocation in
     * msgpack-c's packer does. */
    msgpack_sbuffer_write(&c->out, data, len);
}

/* Hand c's output to libuv; stop reading c while its queue is over the
 * limit, so a client that never reads its answers cannot grow it. */
static void conn_flush(struct conn *c)
{
    if (!c->open || c->out.size == 0) {
        return;
    }
    struct wreq *w = malloc(sizeof(*w));
    if (w == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    size_t len = c->out.size;
    w->data = msgpack_sbuffer_release(&c->out);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (rc < 0) {
        free(w->data);
        free(w);
        conn_close(c, uv_strerror(rc));
        return;
    }
    if (!c->read_paused && queued(c) > c->srv->max_queue) {
        c->read_paused = true;
        uv_read_stop((uv_stream_t *)&c->pipe);
    }
}

/* Write what each client got: after the I/O callbacks of a loop turn, and
 * before the loop blocks (so output from timers does not wait for it). */
static void flush_all(struct ipc_server *s)
{
    struct conn *c = s->dirty;
    s->dirty = NULL;
    while (c != NULL) {
        struct conn *next = c->dirty_next;
        c->dirty_next = NULL;
        conn_flush(c);
        c = next;
    }
}

static void on_flush(uv_check_t *h)
{
    flush_all(h->data);
}

static void on_flush_pre(uv_prepare_t *h)
{
    flush_all(h->data);
}

static void conn_respond(struct conn *c, const msgpack_sbuffer *sb)
{
    conn_queue(c, sb->data, sb->size);
}

static void respond_result(struct conn *c, uint32_t msgid, const struct ipc_type *t,
                           const void *v)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_result(&sb, msgid, t, v);
    conn_respond(c, &sb);
    msgpack_sbuffer_destroy(&sb);
}

#define respond_error(c, msgid, code, ...)                              \
    do {                                                                \
        msgpack_sbuffer sb_;                                            \
        msgpack_sbuffer_init(&sb_);                                     \
        ipc_encode_error(&sb_, (msgid), (code), __VA_ARGS__);           \
        conn_respond((c), &sb_);                                        \
        msgpack_sbuffer_destroy(&sb_);                                  \
    } while (0)

/* --- connection lifetime --- */

static void conn_unref(struct conn *c)
{
    if (--c->refs > 0) {
        return;
    }
    struct ipc_server *s = c->srv;
    for (struct conn **p = &s->zombies; *p != NULL; p = &(*p)->zombie_next) {
        if (*p == c) {
            *p = c->zombie_next;
            break;
        }
    }
    ipc_reader_finish(&c->rd);
    free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void set_topics(struct conn *c, unsigned topics)
{
    struct ipc_server *s = c->srv;
    bool was = c->topics != 0;
    for (unsigned i = 0; i < 5; i++) {
        unsigned bit = 1u << i;
        if ((c->topics & bit) && !(topics & bit)) {
            s->topic_subs[i]--;
        } else if (!(c->topics & bit) && (topics & bit)) {
            s->topic_subs[i]++;
        }
    }
    c->topics = topics;
    if (was && topics == 0) {
        s->st.subscribers--;
    } else if (!was && topics != 0) {
        s->st.subscribers++;
    }
}

/* Close c now: its pending writes are cancelled; pending queries keep its
 * memory until they complete. */
static void conn_close(struct conn *c, const char *why)
{
    if (!c->open) {
        return;
    }
    struct ipc_server *s = c->srv;
    c->open = false;
    set_topics(c, 0);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        s->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    s->st.clients--;
    /* Still in the flush list, maybe: conn_flush skips it (not open), and
     * its memory lives until the close callback, after the flush. */
    msgpack_sbuffer_destroy(&c->out);
    msgpack_sbuffer_init(&c->out);
    if (why != NULL) {
        char pid[16], uid[16];
        snprintf(pid, sizeof(pid), "%d", (int)c->pid);
        snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
        log_debug(LOG_KV("pid", pid, "uid", uid), "client disconnected: %s", why);
    }
    if (c->refs > 1) {
        c->zombie_next = s->zombies;
        s->zombies = c;
    }
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Close after what is queued has been written (a wire error's answer). */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->handle->data;
    free(req);
    conn_close(c, "protocol error");
}

static void conn_close_after_write(struct conn *c)
{
    conn_flush(c);
    if (!c->open) {
        return;
    }
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) < 0) {
        free(req);
        conn_close(c, "protocol error");
    }
}

/* --- authorization --- */

static bool has_uid(const struct ipc_server *s, uid_t u)
{
    for (size_t i = 0; i < s->nadmin_uids; i++) {
        if (s->admin_uids[i] == u) {
            return true;
        }
    }
    return false;
}

static bool has_gid(const struct ipc_server *s, gid_t g)
{
    for (size_t i = 0; i < s->nadmin_gids; i++) {
        if (s->admin_gids[i] == g) {
            return true;
        }
    }
    return false;
}

/* Whether the peer on fd (uid, gid from SO_PEERCRED) may change state. */
static bool peer_is_admin(const struct ipc_server *s, int fd, uid_t uid, gid_t gid)
{
    if (uid == 0 || uid == s->euid || has_uid(s, uid) || has_gid(s, gid)) {
        return true;
    }
    if (s->nadmin_gids == 0) {
        return false;
    }
    gid_t groups[MAX_PEER_GROUPS];
    int n = peercred_groups(fd, groups, MAX_PEER_GROUPS);
    for (int i = 0; i < n; i++) {
        if (has_gid(s, groups[i])) {
            return true;
        }
    }
    return false;
}

/* Resolve daemon.admins to uids and gids; names that are neither are
 * logged and ignored. */
static void resolve_admins(struct ipc_server *s, const struct config *conf)
{
    free(s->admin_uids);
    free(s->admin_gids);
    s->admin_uids = calloc(conf->daemon.nadmins + 1, sizeof(uid_t));
    s->admin_gids = calloc(conf->daemon.nadmins + 1, sizeof(gid_t));
    s->nadmin_uids = s->nadmin_gids = 0;
    if (s->admin_uids == NULL || s->admin_gids == NULL) {
        log_error(LOG_NOKV, "out of memory resolving daemon.admins: only root and the daemon's "
                            "own user are admins");
        return;
    }
    for (size_t i = 0; i < conf->daemon.nadmins; i++) {
        const char *name = conf->daemon.admins[i];
        const struct passwd *pw = getpwnam(name);
        const struct group *gr = getgrnam(name);
        if (pw != NULL) {
            s->admin_uids[s->nadmin_uids++] = pw->pw_uid;
        }
        if (gr != NULL) {
            s->admin_gids[s->nadmin_gids++] = gr->gr_gid;
        }
        if (pw == NULL && gr == NULL) {
            log_warn(LOG_KV("admin", name), "daemon.admins: no user or group named %s", name);
        }
    }
}

/* --- the methods --- */

union params {
    struct ipc_hello_params hello;
    struct ipc_checks_filter filter;
    struct ipc_check_ref ref;
    struct ipc_history_params history;
    struct ipc_deploy deploy;
    struct ipc_deploys_query deploys;
    struct ipc_events_query events;
    struct ipc_topics topics;
    struct ipc_alerts_query alerts;
    struct ipc_ack_params ack;
    struct ipc_mute_params mute;
    struct ipc_id_ref id;
};

/* A pending store query: the client and the request it answers. */
struct pending {
    struct conn *conn;
    uint32_t msgid;
    char *check;
    const char *granularity;
    size_t limit;
    int64_t id;                     /* alerts.ack: the alert */
    struct pending *prev, *next;    /* the server's, for the store's close */
};

static struct pending *pending_new(struct conn *c, uint32_t msgid)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->conn = c;
        p->msgid = msgid;
        c->refs++;
        p->next = c->srv->pendings;
        if (p->next != NULL) {
            p->next->prev = p;
        }
        c->srv->pendings = p;
    }
    return p;
}

static void pending_free(struct ipc_server *s, struct pending *p)
{
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        s->pendings = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    }
    free(p->check);
    free(p);
}

static void pending_done(struct pending *p)
{
    struct ipc_server *s = p->conn->srv;
    conn_unref(p->conn);
    pending_free(s, p);
}

/* The url with any user:password@ replaced, for display. */
static void redact_url(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme != NULL ? scheme + 3 : url;
    const char *end = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(end - host));
    if (at == NULL) {
        snprintf(out, len, "%s", url);
    } else {
        snprintf(out, len, "%.*s***@%s", (int)(host - url), url, at + 1);
    }
}

/* What a check watches, for display; secrets left out. */
static void check_target(const struct conf_check *cc, char *out, size_t len)
{
    size_t pos = 0;
    switch (cc->kind) {
    case CHECK_HTTP:
        redact_url(cc->url, out, len);
        break;
    case CHECK_TCP:
        snprintf(out, len, "%s:%d", cc->host, cc->port);
        break;
    case CHECK_EXEC:
        out[0] = '\0';
        for (size_t i = 0; i < cc->argc && pos + 1 < len; i++) {
            int n = snprintf(out + pos, len - pos, "%s%s", i ? " " : "", cc->argv[i]);
            pos = n < 0 ? len : pos + (size_t)n;
        }
        break;
    case CHECK_HEARTBEAT:
        snprintf(out, len, "every %llds, %llds grace", (long long)(cc->period_ms / 1000),
                 (long long)(cc->grace_ms / 1000));
        break;
    }
}

/* Fill v from c; the strings point into c and buf (the target, then what
 * holds its alerts back), nothing is allocated. */
static void check_view(const struct check *c, struct ipc_check *v, char *buf, size_t len)
{
    const struct conf_check *cc = c->conf;
    check_target(cc, buf, len);
    char *held = NULL;
    size_t used = strlen(buf) + 1;
    const char *why = c->state != STATE_UP ? alert_held_by(c->daemon, c) : NULL;
    if (why != NULL && used < len) {
        held = buf + used;
        snprintf(held, len - used, "%s", why);
    }
    *v = (struct ipc_check){
        .name = cc->name,
        .app = cc->app,
        .env = cc->env,
        .type = (char *)cc->type_name,
        .target = buf,
        .state = (char *)check_state_name(c->state),
        .paused = c->paused,
        .running = c->run != NULL,
        .interval_ms = c->interval_override_ms ? c->interval_override_ms : cc->interval_ms,
        .timeout_ms = cc->timeout_ms,
        .state_since_ms = c->state_since_ms,
        .fail_streak = c->fail_streak,
        .ok_streak = c->ok_streak,
        .runs_total = (int64_t)c->runs_total,
        .skipped_total = (int64_t)c->skipped_total,
        .last_ms = c->last.started_ms,
        .last_duration_us = c->last.duration_us,
        .last_outcome = c->last.started_ms ? (char *)check_state_name(c->last.outcome) : NULL,
        .last_status = c->last.started_ms ? c->last.status : -1,
        .last_error = c->last.error[0] ? (char *)c->last.error : NULL,
        .last_condition = c->last.failed_condition[0] ? (char *)c->last.failed_condition : NULL,
        .held_by = held,
        .runner = c->last_node[0] != '\0' ? (char *)c->last_node : NULL,
        .skipped_not_owner = (int64_t)c->skipped_not_owner_total,
    };
}

#define TARGET_MAX 512

static void m_hello(struct conn *c, uint32_t msgid, const struct ipc_hello_params *p)
{
    struct ipc_server *s = c->srv;
    char *caps[IPC_M_COUNT + 5];
    size_t n = 0;
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        caps[n++] = (char *)ipc_methods[i].name;
    }
    static const char *const topics[] = {"topic:results", "topic:states", "topic:deploys",
                                         "topic:alerts", "topic:log"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        caps[n++] = (char *)topics[i];
    }
    if (p->client != NULL) {
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", (int)c->pid);
        log_debug(LOG_KV("client", p->client, "pid", pid), "client hello");
    }
    struct ipc_hello_result r = {
        .protocol = IPC_PROTOCOL,
        .version = SHIPWATCH_VERSION,
        .capabilities = caps,
        .ncapabilities = n,
        .pid = getpid(),
        .started_ms = s->d->started_ms,
        .uid = c->uid,
        .admin = c->admin,
    };
    respond_result(c, msgid, &ipc_hello_result_type, &r);
}

/* Worse states sort higher: the state an app shows is its worst check's. */
static int severity(enum check_state st)
{
    switch (st) {
    case STATE_UP:
        return 0;
    case STATE_UNKNOWN:
        return 1;
    case STATE_DEGRADED:
        return 2;
    case STATE_DOWN:
        return 3;
    }
    return 1;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Count c in the counters of its state, and in paused when it is. */
static void count_state(const struct check *c, int64_t *up, int64_t *down, int64_t *degraded,
                        int64_t *unknown, int64_t *paused)
{
    *paused += c->paused;
    switch (c->state) {
    case STATE_UP: (*up)++; break;
    case STATE_DOWN: (*down)++; break;
    case STATE_DEGRADED: (*degraded)++; break;
    case STATE_UNKNOWN: (*unknown)++; break;
    }
}

/* The (app, env) of every check as a slot in s->apps, in order of first
 * appearance; rebuilt once per configuration, so status.get is linear in
 * the checks. 0 or -ENOMEM. */
static int index_apps(struct ipc_server *s)
{
    struct daemon *d = s->d;
    if (s->app_slot != NULL && s->apps_gen == d->reloads_total) {
        return 0;
    }
    free(s->app_slot);
    free(s->apps);
    s->napps = 0;
    s->app_slot = malloc((d->nchecks + 1) * sizeof(*s->app_slot));
    s->apps = calloc(d->nchecks + 1, sizeof(*s->apps));
    if (s->app_slot == NULL || s->apps == NULL) {
        free(s->app_slot);
        free(s->apps);
        s->app_slot = NULL;
        s->apps = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct conf_check *cc = d->checks[i]->conf;
        s->app_slot[i] = SIZE_MAX;
        if (cc->app == NULL) {
            continue;
        }
        size_t j = 0;
        while (j < s->napps && !(same(s->apps[j].app, cc->app) && same(s->apps[j].env, cc->env))) {
            j++;
        }
        if (j == s->napps) {
            s->apps[j].app = cc->app;
            s->apps[j].env = cc->env;
            s->napps++;
        }
        s->app_slot[i] = j;
    }
    s->apps_gen = d->reloads_total;
    return 0;
}

static void m_status(struct conn *c, uint32_t msgid)
{
    struct ipc_server *s = c->srv;
    struct daemon *d = s->d;
    size_t qlen = 0;
    uint64_t werr = 0;
    store_stats(d->store, &qlen, &werr);
    struct ipc_app_status *apps = NULL;
    int *worst = NULL;
    if (index_apps(s) < 0 || (apps = calloc(s->napps + 1, sizeof(*apps))) == NULL ||
        (worst = calloc(s->napps + 1, sizeof(*worst))) == NULL) {
        free(apps);
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    for (size_t j = 0; j < s->napps; j++) {
        apps[j].app = (char *)s->apps[j].app;
        apps[j].env = (char *)s->apps[j].env;
        worst[j] = -1;
    }
    int64_t up = 0, down = 0, degraded = 0, unknown = 0, paused = 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *ck = d->checks[i];
        count_state(ck, &up, &down, &degraded, &unknown, &paused);
        size_t j = s->app_slot[i];
        if (j == SIZE_MAX) {
            continue;
        }
        struct ipc_app_status *a = &apps[j];
        count_state(ck, &a->up, &a->down, &a->degraded, &a->unknown, &a->paused);
        if (severity(ck->state) > worst[j]) {
            worst[j] = severity(ck->state);
            apps[j].state = (char *)check_state_name(ck->state);
        }
    }
    struct cluster_stats cst;
    cluster_get_stats(d->cluster, &cst);
    struct store_health sh;
    store_health(d->store, &sh);
    struct ipc_status r = {
        .version = SHIPWATCH_VERSION,
        .pid = getpid(),
        .started_ms = d->started_ms,
        .now_ms = daemon_now_ms(),
        .config = (char *)d->config_path,
        .store = d->conf->storage.driver,
        .store_queue = (int64_t)qlen,
        .store_write_errors = (int64_t)werr,
        .store_degraded = sh.degraded,
        .store_reason = sh.degraded && sh.reason[0] != '\0' ? sh.reason : NULL,
        .store_spooled_bytes = (int64_t)sh.spooled_bytes,
        .checks = (int64_t)d->nchecks,
        .up = up,
        .down = down,
        .degraded = degraded,
        .unknown = unknown,
        .paused = paused,
        .clients = (int64_t)s->st.clients,
        .subscribers = (int64_t)s->st.subscribers,
        .draining = d->draining,
        .node = d->cluster != NULL ? (char *)cluster_node(d->cluster) : NULL,
        .cluster = d->cluster != NULL ? d->conf->cluster : NULL,
        .cluster_connected = cst.connected,
        .cluster_peers = (int64_t)cst.peers,
        .checks_owned = (int64_t)cst.checks_owned,
        .apps = apps,
        .napps = s->napps,
    };
    respond_result(c, msgid, &ipc_status_type, &r);
    free(apps);
    free(worst);
}

static void m_checks_list(struct conn *c, uint32_t msgid, const struct ipc_checks_filter *f)
{
    struct daemon *d = c->srv->d;
    enum check_state want = STATE_UNKNOWN;
    if (f->state != NULL && check_state_parse(f->state, &want) < 0) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                      "state: %s is not a state (up, down, degraded, unknown)", f->state);
        return;
    }
    struct ipc_check *v = calloc(d->nchecks + 1, sizeof(*v));
    char *targets = malloc((d->nchecks + 1) * TARGET_MAX);
    if (v == NULL || targets == NULL) {
        free(v);
        free(targets);
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *ck = d->checks[i];
        if ((f->app != NULL && !same(f->app, ck->conf->app)) ||
            (f->env != NULL && !same(f->env, ck->conf->env)) ||
            (f->state != NULL && ck->state != want)) {
            continue;
        }
        check_view(ck, &v[n], targets + n * TARGET_MAX, TARGET_MAX);
        n++;
    }
    struct ipc_checks r = {.checks = v, .nchecks = n};
    respond_result(c, msgid, &ipc_checks_type, &r);
    free(v);
    free(targets);
}

/* The check a request names, or NULL after answering not_found. */
static struct check *named_check(struct conn *c, uint32_t msgid, const char *name)
{
    struct check *ck = daemon_find_check(c->srv->d, name);
    if (ck == NULL) {
        respond_error(c, msgid, IPC_E_NOT_FOUND, "no check named %s", name);
    }
    return ck;
}

static void m_checks_get(struct conn *c, uint32_t msgid, const struct ipc_check_ref *p)
{
    struct check *ck = named_check(c, msgid, p->check);
    if (ck != NULL) {
        char target[TARGET_MAX];
        struct ipc_check v;
        check_view(ck, &v, target, sizeof(target));
        /* locations: all: each location's own view, this daemon's included. */
        struct ipc_location locs[CHECK_LOCATIONS_MAX];
        size_t n = 0;
        for (size_t i = 0; i < ck->nlocations && n < CHECK_LOCATIONS_MAX; i++) {
            const struct check_location *l = &ck->locations[i];
            locs[n++] = (struct ipc_location){
                .name = (char *)l->name,
                .state = (char *)check_state_name(l->state),
                .last_ms = l->last.started_ms,
                .last_outcome =
                    l->last.started_ms ? (char *)check_state_name(l->last.outcome) : NULL,
                .last_error = l->last.error[0] ? (char *)l->last.error : NULL,
            };
        }
        v.locations = locs;
        v.nlocations = n;
        respond_result(c, msgid, &ipc_check_type, &v);
    }
}

static void on_history(int err, const struct store_history_row *rows, size_t n, void *arg)
{
    struct pending *p = arg;
    struct conn *c = p->conn;
    if (err < 0) {
        respond_error(c, p->msgid, IPC_E_UNAVAILABLE, "history query failed: %s", strerror(-err));
        pending_done(p);
        return;
    }
    struct ipc_history_row *v = calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        respond_error(c, p->msgid, IPC_E_INTERNAL, "out of memory");
        pending_done(p);
        return;
    }
    bool raw = strcmp(p->granularity, "raw") == 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_history_row *r = &rows[i];
        v[i] = (struct ipc_history_row){
            .ts_ms = r->ts_ms,
            .count = r->count,
            .failures = r->failures,
            .latency_min_us = r->latency_min_us,
            .latency_avg_us = r->latency_avg_us,
            .latency_p95_us = r->latency_p95_us,
            .latency_max_us = r->latency_max_us,
            .outcome = raw ? (char *)check_state_name(r->outcome) : NULL,
            .status = raw ? r->status : -1,
            .error = raw && r->error != NULL && r->error[0] ? (char *)r->error : NULL,
            .failed_condition = raw && r->failed_condition != NULL && r->failed_condition[0]
                                    ? (char *)r->failed_condition
                                    : NULL,
        };
    }
    struct ipc_history h = {
        .check = p->check, .granularity = (char *)p->granularity, .rows = v, .nrows = n};
    respond_result(c, p->msgid, &ipc_history_type, &h);
    free(v);
    pending_done(p);
}

static void m_checks_history(struct conn *c, uint32_t msgid, const struct ipc_history_params *p)
{
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    int64_t to = p->to_ms > 0 ? p->to_ms : daemon_now_ms() + 1;
    int64_t from = p->from_ms > 0 ? p->from_ms : to - HISTORY_DEFAULT_RANGE_MS;
    if (p->from_ms < 0 || p->to_ms < 0 || from >= to) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                      "from_ms must be before to_ms, both unix milliseconds");
        return;
    }
    if (p->limit < 0 || p->limit > HISTORY_MAX_LIMIT) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "limit: between 1 and %d",
                      HISTORY_MAX_LIMIT);
        return;
    }
    struct store_history_query q = {.check = p->check, .from_ms = from, .to_ms = to,
                                    .limit = p->limit ? (size_t)p->limit : HISTORY_DEFAULT_LIMIT};
    const char *g = p->granularity != NULL ? p->granularity : "auto";
    if (strcmp(g, "auto") == 0) {
        /* Raw rows for a few hours, minute rollups up to two days, hours beyond. */
        int64_t span = to - from;
        g = span <= 6LL * 3600 * 1000 ? "raw" : span <= 48LL * 3600 * 1000 ? "minute" : "hour";
    }
    if (strcmp(g, "raw") == 0) {
        q.granularity = STORE_RAW;
        g = "raw";
    } else if (strcmp(g, "minute") == 0) {
        q.granularity = STORE_MINUTE;
        g = "minute";
    } else if (strcmp(g, "hour") == 0) {
        q.granularity = STORE_HOUR;
        g = "hour";
    } else {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                      "granularity: %s is not one of raw, minute, hour, auto", g);
        return;
    }
    struct pending *pd = pending_new(c, msgid);
    if (pd == NULL || (pd->check = strdup(p->check)) == NULL) {
        if (pd != NULL) {
            pending_done(pd);
        }
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->granularity = g;
    int rc = store_history(c->srv->d->store, &q, on_history, pd);
    if (rc < 0) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "history query failed: %s", strerror(-rc));
        pending_done(pd);
    }
}


static void on_run_timer(uv_timer_t *t);

static void m_checks_run(struct conn *c, uint32_t msgid, const struct ipc_check_ref *p)
{
    struct ipc_server *s = c->srv;
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    /* A run already in flight is as good as a new one: wait for its result. */
    int rc = sched_run_now(s->d->sched, ck);
    if (rc == -ESHUTDOWN) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    if (rc < 0 && rc != -EBUSY) {
        respond_error(c, msgid, IPC_E_INTERNAL, "cannot run %s: %s", p->check, strerror(-rc));
        return;
    }
    struct run_wait *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->check = strdup(p->check)) == NULL) {
        free(w);
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    w->conn = c;
    c->refs++;
    w->msgid = msgid;
    w->deadline = uv_now(s->d->loop) + (uint64_t)ck->conf->timeout_ms + RUN_GRACE_MS;
    w->next = s->waits;
    s->waits = w;
    if (!uv_is_active((uv_handle_t *)&s->run_timer)) {
        uv_timer_start(&s->run_timer, on_run_timer, RUN_SWEEP_MS, RUN_SWEEP_MS);
    }
}

static void m_checks_pause(struct conn *c, uint32_t msgid, const struct ipc_check_ref *p,
                           bool pause)
{
    struct ipc_server *s = c->srv;
    struct check *ck = named_check(c, msgid, p->check);
    if (ck == NULL) {
        return;
    }
    if (ck->paused != pause) {
        ck->paused = pause;
        char msg[300], uid[16];
        snprintf(msg, sizeof(msg), "%s %s by uid %u", ck->conf->name,
                 pause ? "paused" : "resumed", (unsigned)c->uid);
        snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
        char data[64];
        snprintf(data, sizeof(data), "{\"uid\":%u}", (unsigned)c->uid);
        struct event ev = {.ts_ms = daemon_now_ms(),
                           .type = pause ? "pause" : "resume",
                           .check = ck->conf->name,
                           .app = ck->conf->app,
                           .env = ck->conf->env,
                           .message = msg,
                           .data = data};
        daemon_emit_event(s->d, &ev);
    }
    struct ipc_paused r = {.check = ck->conf->name, .paused = ck->paused};
    respond_result(c, msgid, &ipc_paused_type, &r);
}

static void m_deploys_record(struct conn *c, uint32_t msgid, const struct ipc_deploy *p)
{
    char why[128];
    struct deploy dep = {
        .app = p->app,
        .env = p->env,
        .version = p->version,
        .commit = p->commit,
        .author = p->author,
        .source = p->source,
        .url = p->url,
        .description = p->description,
        .status = p->status,
        .started_ms = p->started_ms,
        .finished_ms = p->finished_ms,
    };
    int rc = deploy_record(c->srv->d, &dep, why, sizeof(why));
    if (rc < 0) {
        respond_error(c, msgid, rc == -EINVAL ? IPC_E_INVALID_PARAMS : IPC_E_UNAVAILABLE, "%s",
                      why);
        return;
    }
    struct ipc_deploy r = {
        .id = dep.id,
        .app = (char *)dep.app,
        .env = (char *)dep.env,
        .version = (char *)dep.version,
        .commit = (char *)dep.commit,
        .author = (char *)dep.author,
        .source = (char *)dep.source,
        .url = (char *)dep.url,
        .description = (char *)dep.description,
        .status = (char *)dep.status,
        .started_ms = dep.started_ms,
        .finished_ms = dep.finished_ms,
    };
    respond_result(c, msgid, &ipc_deploy_type, &r);
}

static void on_deploys(int err, const struct deploy *ds, size_t n, void *arg)
{
    struct pending *p = arg;
    struct conn *c = p->conn;
    struct ipc_deploy *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        respond_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                      "deploys query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct deploy *d = &ds[i];
        v[i] = (struct ipc_deploy){
            .id = d->id,
            .app = (char *)d->app,
            .env = (char *)d->env,
            .version = (char *)d->version,
            .commit = (char *)d->commit,
            .author = (char *)d->author,
            .source = (char *)d->source,
            .url = (char *)d->url,
            .description = (char *)d->description,
            .status = (char *)d->status,
            .started_ms = d->started_ms,
            .finished_ms = d->finished_ms,
            .verdict = (char *)d->verdict,
            .verdict_reason = (char *)d->verdict_reason,
            .failing_check = (char *)d->failing_check,
            .rollback_version = (char *)d->rollback_version,
        };
    }
    struct ipc_deploys r = {.deploys = v, .ndeploys = n};
    respond_result(c, p->msgid, &ipc_deploys_type, &r);
    free(v);
    pending_done(p);
}

/* A limit parameter: 0 means the default; out of range answers an error. */
static bool limit_ok(struct conn *c, uint32_t msgid, int64_t limit, int64_t max)
{
    if (limit < 0 || limit > max) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "limit: between 1 and %lld",
                      (long long)max);
        return false;
    }
    return true;
}

static void m_deploys_list(struct conn *c, uint32_t msgid, const struct ipc_deploys_query *p)
{
    if (!limit_ok(c, msgid, p->limit, DEPLOYS_MAX_LIMIT)) {
        return;
    }
    struct store_deploy_query q = {
        .app = p->app, .env = p->env, .before_id = p->before_id, .limit = (size_t)p->limit};
    struct pending *pd = pending_new(c, msgid);
    if (pd == NULL) {
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    int rc = store_deploys(c->srv->d->store, &q, on_deploys, pd);
    if (rc < 0) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "deploys query failed: %s", strerror(-rc));
        pending_done(pd);
    }
}

static void on_events(int err, const struct event *evs, size_t n, void *arg)
{
    struct pending *p = arg;
    struct conn *c = p->conn;
    struct ipc_event *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        respond_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                      "events query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct event *e = &evs[i];
        v[i] = (struct ipc_event){
            .id = e->id,
            .ts_ms = e->ts_ms,
            .type = (char *)e->type,
            .check = (char *)e->check,
            .app = (char *)e->app,
            .env = (char *)e->env,
            .message = (char *)e->message,
            .data = (char *)e->data,
        };
    }
    struct ipc_events r = {
        .events = v, .nevents = n, .next_before_id = n > 0 && n == p->limit ? v[n - 1].id : 0};
    respond_result(c, p->msgid, &ipc_events_type, &r);
    free(v);
    pending_done(p);
}

static void m_events_list(struct conn *c, uint32_t msgid, const struct ipc_events_query *p)
{
    if (!limit_ok(c, msgid, p->limit, EVENTS_MAX_LIMIT)) {
        return;
    }
    struct store_event_query q = {.app = p->app,
                                  .check = p->check,
                                  .type = p->type,
                                  .before_id = p->before_id,
                                  .limit = p->limit ? (size_t)p->limit : EVENTS_DEFAULT_LIMIT};
    struct pending *pd = pending_new(c, msgid);
    if (pd == NULL) {
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->limit = q.limit;
    int rc = store_events(c->srv->d->store, &q, on_events, pd);
    if (rc < 0) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "events query failed: %s", strerror(-rc));
        pending_done(pd);
    }
}

static int64_t ppm(int64_t runs, int64_t failures)
{
    return runs > 0 ? (runs - failures) * 1000000 / runs : -1;
}

static void on_check_stats(int err, const struct store_check_stats *rows, size_t n, void *arg)
{
    struct pending *p = arg;
    struct conn *c = p->conn;
    struct ipc_check_stats *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    int64_t *spark = err < 0 ? NULL : calloc(n * STORE_SPARK_MINUTES + 1, sizeof(*spark));
    if (v == NULL || spark == NULL) {
        respond_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                      "statistics query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        free(v);
        free(spark);
        pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct store_check_stats *r = &rows[i];
        memcpy(spark + i * STORE_SPARK_MINUTES, r->spark, sizeof(r->spark));
        v[i] = (struct ipc_check_stats){
            .check = (char *)r->check,
            .runs_24h = r->runs_24h,
            .failures_24h = r->failures_24h,
            .uptime_24h_ppm = ppm(r->runs_24h, r->failures_24h),
            .runs_7d = r->runs_7d,
            .failures_7d = r->failures_7d,
            .uptime_7d_ppm = ppm(r->runs_7d, r->failures_7d),
            .p95_1h_us = r->p95_1h_us,
            .spark = spark + i * STORE_SPARK_MINUTES,
            .nspark = STORE_SPARK_MINUTES,
        };
    }
    struct ipc_checks_stats res = {.stats = v, .nstats = n};
    respond_result(c, p->msgid, &ipc_checks_stats_type, &res);
    free(v);
    free(spark);
    pending_done(p);
}

static void m_checks_stats(struct conn *c, uint32_t msgid)
{
    struct pending *pd = pending_new(c, msgid);
    if (pd == NULL) {
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    int rc = store_check_stats(c->srv->d->store, daemon_now_ms(), on_check_stats, pd);
    if (rc < 0) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "statistics query failed: %s", strerror(-rc));
        pending_done(pd);
    }
}

static void m_events_subscribe(struct conn *c, uint32_t msgid, const struct ipc_topics *p,
                               bool subscribe)
{
    unsigned bits = p->ntopics == 0 ? IPC_TOPIC_ALL : 0;
    for (size_t i = 0; i < p->ntopics; i++) {
        unsigned b = ipc_topic_parse(p->topics[i]);
        if (b == 0) {
            respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                          "topics: %s is not a topic (results, states, deploys, alerts, log)",
                          p->topics[i]);
            return;
        }
        bits |= b;
    }
    set_topics(c, subscribe ? c->topics | bits : c->topics & ~bits);
    char *names[5];
    size_t n = 0;
    for (unsigned i = 0; i < 5; i++) {
        if (c->topics & (1u << i)) {
            names[n++] = (char *)ipc_topic_name(1u << i);
        }
    }
    struct ipc_topics r = {.topics = names, .ntopics = n};
    respond_result(c, msgid, &ipc_topics_type, &r);
}

static void m_reload(struct conn *c, uint32_t msgid)
{
    struct daemon *d = c->srv->d;
    if (d->draining) {
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    struct config_errors errs = {0};
    struct reload_counts n = {0};
    int rc = daemon_reload(d, &errs, &n);
    if (rc < 0) {
        /* Every message, one a line, as --check-config prints them. */
        char text[2048];
        size_t pos = 0;
        text[0] = '\0';
        for (size_t i = 0; i < errs.n && pos + 1 < sizeof(text); i++) {
            int k = snprintf(text + pos, sizeof(text) - pos, "%s%s", i ? "\n" : "", errs.msgs[i]);
            pos = k < 0 ? sizeof(text) : pos + (size_t)k;
        }
        respond_error(c, msgid, IPC_E_INVALID_CONFIG, "%s",
                      errs.n > 0 ? text : strerror(-rc));
        config_errors_finish(&errs);
        return;
    }
    config_errors_finish(&errs);
    struct ipc_reload r = {.checks = (int64_t)n.checks,
                           .added = (int64_t)n.added,
                           .removed = (int64_t)n.removed,
                           .changed = (int64_t)n.changed,
                           .unchanged = (int64_t)n.unchanged};
    respond_result(c, msgid, &ipc_reload_type, &r);
}

/* --- alerts, silences, maintenance --- */

/* The user name of c's uid, looked up once per connection; "uid N" when
 * the uid has no name. The string lives as long as c. */
static const char *caller_name(struct conn *c)
{
    if (c->user[0] != '\0') {
        return c->user;
    }
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = c->uid == (uid_t)-1 ? ENOENT : getpwuid_r(c->uid, &pw, buf, sizeof(buf), &found);
    if (rc == 0 && found != NULL && found->pw_name[0] != '\0' &&
        strlen(found->pw_name) < sizeof(c->user)) {
        snprintf(c->user, sizeof(c->user), "%s", found->pw_name);
    } else {
        snprintf(c->user, sizeof(c->user), "uid %u", (unsigned)c->uid);
    }
    return c->user;
}

/* Fill v from a; the strings point into a, nothing is allocated. */
static void alert_view(const struct alert *a, struct ipc_alert *v)
{
    *v = (struct ipc_alert){
        .id = a->id,
        .kind = (char *)a->kind,
        .check = (char *)a->check,
        .app = (char *)a->app,
        .env = (char *)a->env,
        .severity = (char *)a->severity,
        .status = (char *)a->status,
        .summary = (char *)a->summary,
        .started_ms = a->started_ms,
        .resolved_ms = a->resolved_ms,
        .ack_by = (char *)a->ack_by,
        .ack_ms = a->ack_ms,
        .ack_comment = (char *)a->ack_comment,
        .muted_by = (char *)a->muted_by,
        .deploy_id = a->deploy_id,
        .notifications = a->notifications,
    };
}

/* Fill v from m; the strings point into m, nothing is allocated. */
static void mute_view(const struct mute *m, struct ipc_mute *v)
{
    *v = (struct ipc_mute){
        .id = m->id,
        .kind = (char *)m->kind,
        .check = (char *)m->check,
        .app = (char *)m->app,
        .env = (char *)m->env,
        .severity = (char *)m->severity,
        .starts_ms = m->starts_ms,
        .ends_ms = m->ends_ms,
        .author = (char *)m->author,
        .comment = (char *)m->comment,
        .created_ms = m->created_ms,
    };
}

/* Answer an engine's error: -ENOENT not_found (what names the object),
 * -EINVAL invalid_params with why, -EALREADY invalid_params. */
static void respond_alert_error(struct conn *c, uint32_t msgid, int rc, const char *what,
                                int64_t id, const char *why)
{
    switch (rc) {
    case -ENOENT:
        if (why[0] != '\0') {
            respond_error(c, msgid, IPC_E_NOT_FOUND, "%s", why);
        } else {
            respond_error(c, msgid, IPC_E_NOT_FOUND, "no %s with id %lld", what, (long long)id);
        }
        break;
    case -EINVAL:
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "%s", why[0] ? why : "invalid params");
        break;
    case -EALREADY:
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "%s %lld is resolved", what,
                      (long long)id);
        break;
    case -ENOMEM:
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        break;
    default:
        respond_error(c, msgid, IPC_E_UNAVAILABLE, "%s", why[0] ? why : strerror(-rc));
        break;
    }
}

/* An id parameter: positive, else invalid_params is answered. */
static bool id_ok(struct conn *c, uint32_t msgid, int64_t id)
{
    if (id < 1) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "id: must be a positive integer");
        return false;
    }
    return true;
}

static void on_alerts(int err, const struct alert *as, size_t n, void *arg)
{
    struct pending *p = arg;
    struct conn *c = p->conn;
    struct ipc_alert *v = err < 0 ? NULL : calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        respond_error(c, p->msgid, err < 0 ? IPC_E_UNAVAILABLE : IPC_E_INTERNAL,
                      "alerts query failed: %s", strerror(err < 0 ? -err : ENOMEM));
        pending_done(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        alert_view(&as[i], &v[i]);
    }
    struct ipc_alerts r = {
        .alerts = v, .nalerts = n, .next_before_id = n > 0 && n == p->limit ? v[n - 1].id : 0};
    respond_result(c, p->msgid, &ipc_alerts_type, &r);
    free(v);
    pending_done(p);
}

static void m_alerts_list(struct conn *c, uint32_t msgid, const struct ipc_alerts_query *p)
{
    static const char *const statuses[] = {"open", "firing", "acknowledged", "resolved", "all"};
    const char *status = p->status != NULL ? p->status : "open";
    size_t k = 0;
    while (k < sizeof(statuses) / sizeof(statuses[0]) && strcmp(status, statuses[k]) != 0) {
        k++;
    }
    if (k == sizeof(statuses) / sizeof(statuses[0])) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                      "status: %s is not one of open, firing, acknowledged, resolved, all",
                      status);
        return;
    }
    if (!limit_ok(c, msgid, p->limit, ALERTS_MAX_LIMIT)) {
        return;
    }
    if (p->before_id < 0) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "before_id: must not be negative");
        return;
    }
    struct store_alert_query q = {
        .status = strcmp(status, "all") == 0 ? NULL : status,
        .check = p->check,
        .app = p->app,
        .before_id = p->before_id,
        .limit = p->limit ? (size_t)p->limit : ALERTS_DEFAULT_LIMIT,
    };
    struct pending *pd = pending_new(c, msgid);
    if (pd == NULL) {
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    pd->limit = q.limit;
    int rc = alert_list(c->srv->d, &q, on_alerts, pd);
    if (rc < 0) {
        respond_error(c, msgid, rc == -EINVAL ? IPC_E_INVALID_PARAMS : IPC_E_UNAVAILABLE,
                      "alerts query failed: %s", strerror(-rc));
        pending_done(pd);
    }
}

/* alerts.ack of an alert the engine does not hold open: the store says
 * whether it is resolved (invalid_params) or was never there (not_found). */
static void on_ack_lookup(int err, const struct alert *as, size_t n, void *arg)
{
    struct pending *p = arg;
    if (err == 0 && n > 0 && as[0].id == p->id && as[0].status != NULL &&
        strcmp(as[0].status, "resolved") == 0) {
        respond_error(p->conn, p->msgid, IPC_E_INVALID_PARAMS, "alert %lld is resolved",
                      (long long)p->id);
    } else {
        respond_error(p->conn, p->msgid, IPC_E_NOT_FOUND, "no open alert with id %lld",
                      (long long)p->id);
    }
    pending_done(p);
}

static void m_alerts_ack(struct conn *c, uint32_t msgid, const struct ipc_ack_params *p)
{
    if (!id_ok(c, msgid, p->id)) {
        return;
    }
    char why[256] = "";
    struct alert a;
    memset(&a, 0, sizeof(a));
    int rc = alert_ack(c->srv->d, p->id, caller_name(c), p->comment, &a, why, sizeof(why));
    if (rc == -ENOENT) {
        /* Only open alerts are in memory: ask the store about this one. */
        struct store_alert_query q = {.before_id = p->id + (p->id < INT64_MAX), .limit = 1};
        struct pending *pd = pending_new(c, msgid);
        if (pd != NULL) {
            pd->id = p->id;
            if (alert_list(c->srv->d, &q, on_ack_lookup, pd) == 0) {
                return;
            }
            pending_done(pd);
        }
    }
    if (rc < 0) {
        respond_alert_error(c, msgid, rc, "alert", p->id, why);
        return;
    }
    struct ipc_alert v;
    alert_view(&a, &v);
    respond_result(c, msgid, &ipc_alert_type, &v);
    alert_copy_free(&a);
}

/* alerts.silence, maintenance.add: a mute of kind from now (or starts_ms)
 * for duration_ms, or until ends_ms. */
static void m_mute_add(struct conn *c, uint32_t msgid, const struct ipc_mute_params *p,
                       const char *kind)
{
    int64_t now = daemon_now_ms();
    int64_t starts = p->starts_ms > 0 ? p->starts_ms : now;
    int64_t ends;
    if (p->starts_ms < 0) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "starts_ms: must not be negative");
        return;
    }
    if ((p->duration_ms != 0) == (p->ends_ms != 0)) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS, "give one of duration_ms and ends_ms");
        return;
    }
    if (p->duration_ms != 0) {
        if (p->duration_ms < 0 || p->duration_ms > INT64_MAX - starts) {
            respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                          "duration_ms: must be a positive number of milliseconds");
            return;
        }
        ends = starts + p->duration_ms;
    } else {
        ends = p->ends_ms;
    }
    if (ends <= starts || ends <= now) {
        respond_error(c, msgid, IPC_E_INVALID_PARAMS,
                      ends <= starts ? "ends_ms: must be after starts_ms"
                                     : "ends_ms: already in the past");
        return;
    }
    struct mute m = {
        .kind = kind,
        .check = p->check,
        .app = p->app,
        .env = p->env,
        .severity = p->severity,
        .starts_ms = starts,
        .ends_ms = ends,
        .author = caller_name(c),
        .comment = p->comment,
        .created_ms = now,
    };
    char why[256] = "";
    struct mute out;
    memset(&out, 0, sizeof(out));
    int rc = alert_mute_add(c->srv->d, &m, &out, why, sizeof(why));
    if (rc < 0) {
        respond_alert_error(c, msgid, rc, kind, 0, why);
        return;
    }
    struct ipc_mute v;
    mute_view(&out, &v);
    respond_result(c, msgid, &ipc_mute_type, &v);
    mute_copy_free(&out);
}

/* alerts.unsilence, maintenance.remove: end the mute of kind now. */
static void m_mute_remove(struct conn *c, uint32_t msgid, const struct ipc_id_ref *p,
                          const char *kind)
{
    if (!id_ok(c, msgid, p->id)) {
        return;
    }
    struct mute out;
    memset(&out, 0, sizeof(out));
    int rc = alert_mute_remove(c->srv->d, kind, p->id, &out);
    if (rc < 0) {
        respond_alert_error(c, msgid, rc,
                            strcmp(kind, "silence") == 0 ? "silence" : "maintenance window",
                            p->id, "");
        return;
    }
    struct ipc_mute v;
    mute_view(&out, &v);
    respond_result(c, msgid, &ipc_mute_type, &v);
    mute_copy_free(&out);
}

/* The mutes of kind not yet over as an allocated array (*n of them), the
 * strings pointing into the engine's; NULL only without memory. */
static struct ipc_mute *mutes_view(struct daemon *d, const char *kind, size_t *n)
{
    const struct mute *const *ms = NULL;
    *n = alert_mutes(d, kind, &ms);
    struct ipc_mute *v = calloc(*n + 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < *n; i++) {
        mute_view(ms[i], &v[i]);
    }
    return v;
}

static void m_alerts_silences(struct conn *c, uint32_t msgid)
{
    size_t n = 0;
    struct ipc_mute *v = mutes_view(c->srv->d, "silence", &n);
    if (v == NULL) {
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    struct ipc_mutes r = {.mutes = v, .nmutes = n};
    respond_result(c, msgid, &ipc_mutes_type, &r);
    free(v);
}

#define WEEKDAYS 7

static const char *const day_names[WEEKDAYS] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* Text of one configured window: its days and start; the caller's arrays. */
struct window_text {
    char *days[WEEKDAYS];
    char start[8];
};

static void m_maintenance_list(struct conn *c, uint32_t msgid)
{
    struct daemon *d = c->srv->d;
    const struct config *conf = d->conf;
    size_t nm = 0;
    struct ipc_mute *mutes = mutes_view(d, "maintenance", &nm);
    struct ipc_maint_window *w = calloc(conf->nmaintenance + 1, sizeof(*w));
    struct window_text *t = calloc(conf->nmaintenance + 1, sizeof(*t));
    if (mutes == NULL || w == NULL || t == NULL) {
        free(mutes);
        free(w);
        free(t);
        respond_error(c, msgid, IPC_E_INTERNAL, "out of memory");
        return;
    }
    int64_t now = daemon_now_ms();
    for (size_t i = 0; i < conf->nmaintenance; i++) {
        const struct conf_maintenance *m = &conf->maintenance[i];
        size_t nd = 0;
        for (unsigned k = 0; k < WEEKDAYS; k++) {
            if (m->days & (1u << k)) {
                t[i].days[nd++] = (char *)day_names[k];
            }
        }
        snprintf(t[i].start, sizeof(t[i].start), "%02d:%02d", m->start_min / 60 % 24,
                 m->start_min % 60);
        int64_t next_start = 0, next_end = 0;
        bool active = alert_maintenance_window(m, now, &next_start, &next_end);
        w[i] = (struct ipc_maint_window){
            .name = m->name,
            .app = m->app,
            .env = m->env,
            .check = m->check,
            .days = t[i].days,
            .ndays = nd,
            .start = t[i].start,
            .duration_ms = m->duration_ms,
            .next_start_ms = next_start,
            .next_end_ms = next_end,
            .active = active,
        };
    }
    struct ipc_maintenance r = {
        .mutes = mutes, .nmutes = nm, .windows = w, .nwindows = conf->nmaintenance};
    respond_result(c, msgid, &ipc_maintenance_type, &r);
    free(mutes);
    free(w);
    free(t);
}

/* --- dispatch --- */

static void handle_request(struct conn *c, const struct ipc_envelope *env)
{
    const struct ipc_method *m = ipc_method_find(env->method, env->method_len);
    if (m == NULL) {
        respond_error(c, env->msgid, IPC_E_NO_METHOD, "no method named %.*s",
                      (int)(env->method_len > 64 ? 64 : env->method_len), env->method);
        return;
    }
    if (m->mutating && !c->admin) {
        respond_error(c, env->msgid, IPC_E_DENIED,
                      "%s needs an admin: uid %u is not root, the daemon's user or in "
                      "daemon.admins",
                      m->name, (unsigned)c->uid);
        return;
    }
    union params p;
    memset(&p, 0, sizeof(p));
    char why[256];
    if (ipc_decode_params(env->params, m->params, &p, why, sizeof(why)) < 0) {
        respond_error(c, env->msgid, IPC_E_INVALID_PARAMS, "%s: %s", m->name, why);
        if (m->params != NULL) {
            ipc_type_free(m->params, &p);
        }
        return;
    }
    uint32_t id = env->msgid;
    switch (m->id) {
    case IPC_M_HELLO: m_hello(c, id, &p.hello); break;
    case IPC_M_STATUS_GET: m_status(c, id); break;
    case IPC_M_CHECKS_LIST: m_checks_list(c, id, &p.filter); break;
    case IPC_M_CHECKS_GET: m_checks_get(c, id, &p.ref); break;
    case IPC_M_CHECKS_HISTORY: m_checks_history(c, id, &p.history); break;
    case IPC_M_CHECKS_RUN: m_checks_run(c, id, &p.ref); break;
    case IPC_M_CHECKS_PAUSE: m_checks_pause(c, id, &p.ref, true); break;
    case IPC_M_CHECKS_RESUME: m_checks_pause(c, id, &p.ref, false); break;
    case IPC_M_DEPLOYS_LIST: m_deploys_list(c, id, &p.deploys); break;
    case IPC_M_DEPLOYS_RECORD: m_deploys_record(c, id, &p.deploy); break;
    case IPC_M_EVENTS_LIST: m_events_list(c, id, &p.events); break;
    case IPC_M_EVENTS_SUBSCRIBE: m_events_subscribe(c, id, &p.topics, true); break;
    case IPC_M_EVENTS_UNSUBSCRIBE: m_events_subscribe(c, id, &p.topics, false); break;
    case IPC_M_RELOAD: m_reload(c, id); break;
    case IPC_M_CHECKS_STATS: m_checks_stats(c, id); break;
    case IPC_M_ALERTS_LIST: m_alerts_list(c, id, &p.alerts); break;
    case IPC_M_ALERTS_ACK: m_alerts_ack(c, id, &p.ack); break;
    case IPC_M_ALERTS_SILENCE: m_mute_add(c, id, &p.mute, "silence"); break;
    case IPC_M_ALERTS_UNSILENCE: m_mute_remove(c, id, &p.id, "silence"); break;
    case IPC_M_ALERTS_SILENCES: m_alerts_silences(c, id); break;
    case IPC_M_MAINTENANCE_LIST: m_maintenance_list(c, id); break;
    case IPC_M_MAINTENANCE_ADD: m_mute_add(c, id, &p.mute, "maintenance"); break;
    case IPC_M_MAINTENANCE_REMOVE: m_mute_remove(c, id, &p.id, "maintenance"); break;
    case IPC_M_COUNT: break;
    }
    if (m->params != NULL) {
        ipc_type_free(m->params, &p);
    }
}

/* Handle every whole message buffered for c. */
static void drain_messages(struct conn *c)
{
    while (c->open) {
        msgpack_object *o;
        uint32_t msgid = 0;
        bool has_msgid = false;
        enum ipc_wire_err e = ipc_reader_next(&c->rd, &o, &msgid, &has_msgid);
        if (e == IPC_WIRE_MORE) {
            return;
        }
        if (e != IPC_WIRE_OK) {
            /* The stream cannot be resynced: answer if we can, then close. */
            if (has_msgid) {
                respond_error(c, msgid,
                              e == IPC_WIRE_INVALID ? IPC_E_MALFORMED : IPC_E_TOO_LARGE,
                              "%s; closing the connection", ipc_wire_strerror(e));
                conn_close_after_write(c);
            } else {
                conn_close(c, ipc_wire_strerror(e));
            }
            return;
        }
        struct ipc_envelope env;
        char why[128];
        if (ipc_envelope_parse(o, &env, why, sizeof(why)) < 0) {
            if (env.has_msgid) {
                respond_error(c, env.msgid, IPC_E_MALFORMED, "%s", why);
                continue;
            }
            conn_close(c, why);
            return;
        }
        if (env.kind == IPC_REQUEST) {
            handle_request(c, &env);
        }
        /* Responses and notifications from a client mean nothing here. */
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    size_t avail = 0;
    char *p = ipc_reader_buffer(&c->rd, READ_CHUNK, &avail);
    *buf = uv_buf_init(p, p != NULL ? (unsigned)avail : 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? NULL : uv_strerror((int)n));
        return;
    }
    if (n == 0) {
        if (buf->base == NULL) {
            conn_close(c, "out of memory");
        }
        return;
    }
    ipc_reader_consumed(&c->rd, (size_t)n);
    drain_messages(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct ipc_server *s = listener->data;
    if (status < 0) {
        log_warn(LOG_NOKV, "socket accept: %s", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        /* libuv holds the connection until it is accepted; nothing can be
         * done for it without memory. */
        log_error(LOG_NOKV, "out of memory accepting a client");
        return;
    }
    c->srv = s;
    c->refs = 1;
    uv_pipe_init(s->d->loop, &c->pipe, 0);
    c->pipe.data = c;
    int rc = uv_accept(listener, (uv_stream_t *)&c->pipe);
    if (rc == 0 && ipc_reader_init(&c->rd, &s->lim) < 0) {
        rc = UV_ENOMEM;
    }
    if (rc < 0) {
        log_warn(LOG_NOKV, "cannot accept a client: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
        return;
    }
    uv_os_fd_t fd;
    c->uid = (uid_t)-1;
    c->gid = (gid_t)-1;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
        peercred_get(fd, &c->uid, &c->gid, &c->pid) == 0) {
        c->admin = peer_is_admin(s, fd, c->uid, c->gid);
    }
    c->open = true;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->st.clients++;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* --- checks.run waiters --- */

static void answer_run(struct ipc_server *s, struct run_wait *w, const struct check *ck,
                       const struct result *r)
{
    struct ipc_run v = {
        .check = w->check,
        .outcome = (char *)check_state_name(r->outcome),
        .state = (char *)check_state_name(ck->state),
        .started_ms = r->started_ms,
        .duration_us = r->duration_us,
        .status = r->status,
        .error = r->error[0] ? (char *)r->error : NULL,
        .failed_condition = r->failed_condition[0] ? (char *)r->failed_condition : NULL,
    };
    respond_result(w->conn, w->msgid, &ipc_run_type, &v);
}

static void wait_free(struct run_wait *w)
{
    conn_unref(w->conn);
    free(w->check);
    free(w);
}

/* Fail the waiters that match: timed out (now past deadline), or whose
 * check is gone. */
static void sweep_waits(struct ipc_server *s, bool timeouts)
{
    uint64_t now = uv_now(s->d->loop);
    for (struct run_wait **p = &s->waits; *p != NULL;) {
        struct run_wait *w = *p;
        bool gone = daemon_find_check(s->d, w->check) == NULL;
        if (gone || (timeouts && now >= w->deadline)) {
            if (gone) {
                respond_error(w->conn, w->msgid, IPC_E_NOT_FOUND,
                              "check %s was removed by a reload", w->check);
            } else {
                respond_error(w->conn, w->msgid, IPC_E_UNAVAILABLE,
                              "no result from %s in time", w->check);
            }
            *p = w->next;
            wait_free(w);
        } else {
            p = &w->next;
        }
    }
    if (s->waits == NULL) {
        uv_timer_stop(&s->run_timer);
    }
}

static void on_run_timer(uv_timer_t *t)
{
    sweep_waits(t->data, true);
}

/* --- publishing --- */

/* Send a notice to every subscriber of topic; encoded once, only when
 * somebody listens. A subscriber whose queue would pass the limit is
 * disconnected: it stopped reading. */
static void publish(struct ipc_server *s, unsigned topic, const struct ipc_notice *n)
{
    unsigned idx = (unsigned)__builtin_ctz(topic);
    if (s->topic_subs[idx] == 0 || s->in_publish) {
        return;
    }
    s->in_publish = true;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_notify(&sb, &ipc_notice_type, n);
    for (struct conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (!(c->topics & topic)) {
            continue;
        }
        size_t q = queued(c);
        if (q + sb.size > s->max_queue) {
            char pid[16], uid[16], qs[24];
            snprintf(pid, sizeof(pid), "%d", (int)c->pid);
            snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
            snprintf(qs, sizeof(qs), "%zu", q);
            log_warn(LOG_KV("pid", pid, "uid", uid, "queued", qs),
                     "disconnecting a subscriber that stopped reading: %zu bytes queued "
                     "(daemon.ipc-max-queue)",
                     q);
            s->st.slow_disconnects_total++;
            conn_close(c, NULL);
            continue;
        }
        conn_queue(c, sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    s->in_publish = false;
}

void ipc_server_on_result(struct ipc_server *s, const struct check *c, const struct result *r)
{
    if (s == NULL) {
        return;
    }
    for (struct run_wait **p = &s->waits; *p != NULL;) {
        struct run_wait *w = *p;
        if (strcmp(w->check, c->conf->name) == 0) {
            answer_run(s, w, c, r);
            *p = w->next;
            wait_free(w);
        } else {
            p = &w->next;
        }
    }
    struct ipc_notice n = {
        .topic = "results",
        .ts_ms = r->started_ms,
        .type = "result",
        .check = c->conf->name,
        .app = c->conf->app,
        .env = c->conf->env,
        .outcome = (char *)check_state_name(r->outcome),
        .state = (char *)check_state_name(c->state),
        .duration_us = r->duration_us,
        .status = r->status,
        .error = r->error[0] ? (char *)r->error : NULL,
        .failed_condition = r->failed_condition[0] ? (char *)r->failed_condition : NULL,
    };
    publish(s, IPC_TOPIC_RESULTS, &n);
}

/* The topic of an event type; 0 for types only the log carries. */
static unsigned event_topic(const char *type)
{
    if (strcmp(type, "state") == 0) {
        return IPC_TOPIC_STATES;
    }
    if (strncmp(type, "deploy", 6) == 0) {
        return IPC_TOPIC_DEPLOYS;
    }
    if (strncmp(type, "alert", 5) == 0 || strncmp(type, "notifier", 8) == 0 ||
        strncmp(type, "silence", 7) == 0 || strncmp(type, "maintenance", 11) == 0) {
        return IPC_TOPIC_ALERTS;
    }
    return 0;
}

void ipc_server_on_event(struct ipc_server *s, const struct event *ev)
{
    unsigned topic = s != NULL ? event_topic(ev->type) : 0;
    if (topic == 0) {
        return;
    }
    struct ipc_notice n = {
        .topic = (char *)ipc_topic_name(topic),
        .id = ev->id,
        .ts_ms = ev->ts_ms,
        .type = (char *)ev->type,
        .check = (char *)ev->check,
        .app = (char *)ev->app,
        .env = (char *)ev->env,
        .message = (char *)ev->message,
        .data = (char *)ev->data,
    };
    publish(s, topic, &n);
}

static const char *kv_get(const char *const *kv, const char *key)
{
    for (size_t i = 0; kv != NULL && kv[i] != log_kv_end && kv[i + 1] != log_kv_end; i += 2) {
        if (strcmp(kv[i], key) == 0) {
            return kv[i + 1];
        }
    }
    return NULL;
}

void ipc_server_on_log(struct ipc_server *s, enum log_level level, const char *msg,
                       const char *const *kv)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (s == NULL || level < LOG_INFO) {
        return;
    }
    struct ipc_notice n = {
        .topic = "log",
        .ts_ms = daemon_now_ms(),
        .type = "log",
        .check = (char *)kv_get(kv, "check"),
        .app = (char *)kv_get(kv, "app"),
        .env = (char *)kv_get(kv, "env"),
        .message = (char *)msg,
        .level = (char *)names[level],
    };
    publish(s, IPC_TOPIC_LOG, &n);
}

/* --- the listener --- */

/* Make room for a socket at path: refuse when a live daemon listens there
 * or the path is something else; remove a stale socket. */
static int claim_path(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long (at most %zu bytes): %s",
                 sizeof(sa.sun_path) - 1, path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "cannot use socket %s: %s", path, strerror(errno));
            return -errno;
        }
        /* Create the directory it lives in when that is missing (but not
         * its parents: a typo should not build a tree). */
        char dir[sizeof(sa.sun_path)];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s for the socket: %s", dir,
                         strerror(errno));
                return -errno;
            }
        }
        return 0;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int cerr = errno;
    close(fd);
    if (rc == 0) {
        snprintf(err, errlen, "another shipwatchd is listening on %s", path);
        return -EADDRINUSE;
    }
    if (cerr != ECONNREFUSED) {
        snprintf(err, errlen, "cannot probe socket %s: %s", path, strerror(cerr));
        return -cerr;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -errno;
    }
    log_info(LOG_KV("socket", path), "replaced a stale socket");
    return 0;
}

int ipc_server_start(struct daemon *d, struct ipc_server **out, char *err, size_t errlen)
{
    const struct config *conf = d->conf;
    struct ipc_server *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->path = strdup(conf->daemon.socket)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->d = d;
    s->euid = geteuid();
    *out = s;
    uv_check_init(d->loop, &s->flush);
    s->flush.data = s;
    uv_check_start(&s->flush, on_flush);
    uv_unref((uv_handle_t *)&s->flush);
    uv_prepare_init(d->loop, &s->flush_pre);
    s->flush_pre.data = s;
    uv_prepare_start(&s->flush_pre, on_flush_pre);
    uv_unref((uv_handle_t *)&s->flush_pre);
    ipc_server_reconfigure(s);
    uv_timer_init(d->loop, &s->run_timer);
    s->run_timer.data = s;

    int rc = claim_path(s->path, err, errlen);
    if (rc < 0) {
        return rc;
    }
    uv_pipe_init(d->loop, &s->listener, 0);
    s->listener.data = s;
    s->listening = true;
    /* Created 0660 from the start: no moment when others could connect. The
     * store's thread is not running yet, so the process umask is ours. */
    mode_t old = umask(0117);
    rc = uv_pipe_bind(&s->listener, s->path);
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", s->path, uv_strerror(rc));
        return rc;
    }
    struct stat st;
    if (lstat(s->path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", s->path, uv_strerror(rc));
        return rc;
    }
    log_info(LOG_KV("socket", s->path), "listening on %s", s->path);
    return 0;
}

void ipc_server_reconfigure(struct ipc_server *s)
{
    const struct config *conf = s->d->conf;
    s->lim = ipc_limits_server;
    s->lim.max_message = conf->daemon.ipc_max_message;
    s->max_queue = conf->daemon.ipc_max_queue;
    resolve_admins(s, conf);
    if (s->waits != NULL) {
        sweep_waits(s, false);
    }
}

void ipc_server_close(struct ipc_server *s)
{
    if (s == NULL) {
        return;
    }
    while (s->waits != NULL) {
        struct run_wait *w = s->waits;
        s->waits = w->next;
        wait_free(w);
    }
    while (s->conns != NULL) {
        conn_close(s->conns, NULL);
    }
    if (!uv_is_closing((uv_handle_t *)&s->run_timer)) {
        uv_close((uv_handle_t *)&s->run_timer, NULL);
    }
    if (!uv_is_closing((uv_handle_t *)&s->flush)) {
        uv_close((uv_handle_t *)&s->flush, NULL);
        uv_close((uv_handle_t *)&s->flush_pre, NULL);
    }
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
        /* Only our own socket: another daemon may have taken the path since. */
        struct stat st;
        if (s->ino != 0 && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
            st.st_ino == s->ino) {
            unlink(s->path);
        }
    }
}

void ipc_server_free(struct ipc_server *s)
{
    if (s == NULL) {
        return;
    }
    /* Queries the store dropped at its close, and the clients they held:
     * nothing will release them now. */
    while (s->pendings != NULL) {
        pending_free(s, s->pendings);
    }
    while (s->zombies != NULL) {
        struct conn *c = s->zombies;
        s->zombies = c->zombie_next;
        ipc_reader_finish(&c->rd);
        free(c);
    }
    free(s->admin_uids);
    free(s->admin_gids);
    free(s->app_slot);
    free(s->apps);
    free(s->path);
    free(s);
}

void ipc_server_get_stats(const struct ipc_server *s, struct ipc_server_stats *out)
{
    if (s == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = s->st;
}
