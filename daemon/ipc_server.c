/* ipc_server.c - msgpack-RPC on the daemon's Unix socket. */
#include "ipc_server.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "fdres.h"
#include "cluster.h"
#include "hostmon.h"
#include "ipc_proto.h"
#include "ipc_wire.h"
#include "peer.h"
#include "peercred.h"
#include "rpc.h"
#include "safedir.h"
#include "store.h"
#include "utf8.h"

#define READ_CHUNK 4096
#define RUN_SWEEP_MS 1000
#define RUN_GRACE_MS 10000       /* beyond the check's timeout */
#define HOST_WAIT_MS 5000        /* host.get without a sample this long: unavailable */
#define HOST_FRESH_MS 1500       /* host.get answers with a sample this recent at once */
#define MAX_PEER_GROUPS 256
/* Clients at once, and of one uid: a local user cannot take every slot or
 * hold unbounded memory with idle connections (docs/operations.md). */
#define IPC_MAX_CLIENTS 2048
#define IPC_MAX_CLIENTS_PER_UID 1024

/* One client: a peer, who it is, what it subscribed to. */
struct ipc_conn {
    struct peer peer;            /* the connection; peer.data is this */
    struct ipc_server *srv;
    struct ipc_conn *prev, *next;    /* the server's open clients */
    struct rpc_caller who;       /* uid, gid, pid, admin */
    char user[64];               /* the uid's user name once looked up, or "uid N" */
    bool open;                   /* in the list, peer not closed */
    bool dirty;                  /* in the server's flush list */
    unsigned topics;
    char *host_node;             /* whose host the host topic sends: NULL this
                                    daemon's, else a peer's (cluster.h) */
    unsigned refs;               /* the handle, plus one per pending query */
    struct ipc_conn *dirty_next;     /* the server's flush list */
    struct ipc_conn *zombie_next;    /* closed, waiting for its last reference */
};

/* A checks.run call waiting for its check's next result, or a host.get
 * call waiting for the next host sample (check NULL). */
struct run_wait {
    struct ipc_conn *conn;
    uint32_t msgid;
    char *check;                 /* NULL: host.get */
    char *host_node;             /* host.get: a peer's name, NULL this daemon */
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
    struct ipc_conn *conns;
    struct ipc_conn *zombies;        /* closed with queries still pending */
    struct ipc_pending *pendings;    /* store queries not answered yet */
    struct ipc_conn *dirty;          /* clients with output to write this turn */
    uv_check_t flush;            /* writes it after the loop's I/O phase */
    uv_prepare_t flush_pre;      /* and before the loop blocks for I/O */
    struct run_wait *waits;
    uv_timer_t run_timer;
    size_t topic_subs[IPC_TOPIC_COUNT];  /* subscribers per topic bit */
    struct rpc_state rpc;        /* the handlers' own */
    bool in_publish;             /* a notification is being sent: log lines
                                    it causes are not sent on */
    struct ipc_server_stats st;
};

/* --- output --- */

static void conn_close(struct ipc_conn *c, const char *why);

/* c has output for this loop turn: everything a client is sent in one
 * turn (a burst of results, the answers to pipelined requests) leaves in
 * one write, one system call for it and one for its reader. */
static void on_queued(struct peer *p)
{
    struct ipc_conn *c = p->data;
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->srv->dirty;
        c->srv->dirty = c;
    }
}

/* Write what each client got: after the I/O callbacks of a loop turn, and
 * before the loop blocks (so output from timers does not wait for it). */
static void flush_all(struct ipc_server *s)
{
    struct ipc_conn *c = s->dirty;
    s->dirty = NULL;
    while (c != NULL) {
        struct ipc_conn *next = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        peer_flush(&c->peer);
        c = next;
    }
}

/* After the I/O callbacks of a loop turn. */
static void on_flush(uv_check_t *h)
{
    flush_all(h->data);
}

/* Before the loop blocks for I/O. */
static void on_flush_pre(uv_prepare_t *h)
{
    flush_all(h->data);
}

/* Answer msgid with v of type t. */
void ipc_conn_respond(struct ipc_conn *c, uint32_t msgid, const struct ipc_type *t,
                      const void *v)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_result(&sb, msgid, t, v);
    peer_send_answer(&c->peer, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Answer msgid with an error. */
void ipc_conn_error(struct ipc_conn *c, uint32_t msgid, enum ipc_errcode code, const char *fmt,
                    ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    peer_send_error(&c->peer, msgid, code, "%s", msg);
}

/* --- connection lifetime --- */

/* Drop a reference; the last one frees c. */
static void conn_unref(struct ipc_conn *c)
{
    if (--c->refs > 0) {
        return;
    }
    struct ipc_server *s = c->srv;
    for (struct ipc_conn **p = &s->zombies; *p != NULL; p = &(*p)->zombie_next) {
        if (*p == c) {
            *p = c->zombie_next;
            break;
        }
    }
    /* A client that got output after the last flush of its turn. */
    for (struct ipc_conn **p = &s->dirty; c->dirty && *p != NULL; p = &(*p)->dirty_next) {
        if (*p == c) {
            *p = c->dirty_next;
            break;
        }
    }
    free(c);
}

/* The peer's handle is closed. */
static void on_conn_closed(struct peer *p)
{
    conn_unref(p->data);
}

/* Hold (delta 1) or let go of (-1) the samples of node's host: this
 * daemon's sampler (node NULL), or a peer's through the cluster. */
static void host_hold(struct ipc_server *s, const char *node, int delta)
{
    if (node != NULL) {
        cluster_host_want(s->d->cluster, node, delta);
    } else if (delta > 0) {
        hostmon_hold(s->d->hostmon);
    } else {
        hostmon_release(s->d->hostmon);
    }
}

/* Whether two host nodes (NULL: this daemon) are the same. */
static bool same_node(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Count c's subscriptions in the server's. */
static void set_topics(struct ipc_conn *c, unsigned topics)
{
    struct ipc_server *s = c->srv;
    bool was = c->topics != 0;
    for (unsigned i = 0; i < IPC_TOPIC_COUNT; i++) {
        unsigned bit = 1u << i;
        if ((c->topics & bit) && !(topics & bit)) {
            s->topic_subs[i]--;
        } else if (!(c->topics & bit) && (topics & bit)) {
            s->topic_subs[i]++;
        }
    }
    /* The host sampler reads while a client listens to its topic. */
    if ((c->topics & IPC_TOPIC_HOST) && !(topics & IPC_TOPIC_HOST)) {
        host_hold(s, c->host_node, -1);
        free(c->host_node);
        c->host_node = NULL;
    } else if (!(c->topics & IPC_TOPIC_HOST) && (topics & IPC_TOPIC_HOST)) {
        host_hold(s, c->host_node, 1);
    }
    c->topics = topics;
    if (was && topics == 0) {
        s->st.subscribers--;
    } else if (!was && topics != 0) {
        s->st.subscribers++;
    }
}

/* c's peer ended (dispatch NULL): take c off the server's lists; pending
 * queries keep its memory until they complete. */
static void conn_gone(struct ipc_conn *c)
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
    if (c->peer.error[0] != '\0' && !(c->peer.flags & PEER_EOF)) {
        char pid[16], uid[16];
        snprintf(pid, sizeof(pid), "%d", (int)c->who.pid);
        snprintf(uid, sizeof(uid), "%u", (unsigned)c->who.uid);
        log_debug(LOG_KV("pid", pid, "uid", uid), "client disconnected: %s", c->peer.error);
    }
    if (c->refs > 1) {
        c->zombie_next = s->zombies;
        s->zombies = c;
    }
}

/* Close c now (why NULL: quietly); its pending writes are cancelled. */
static void conn_close(struct ipc_conn *c, const char *why)
{
    peer_close(&c->peer, why);
}

/* --- authorization --- */

/* Whether u is one of daemon.admins' users. */
static bool has_uid(const struct ipc_server *s, uid_t u)
{
    for (size_t i = 0; i < s->nadmin_uids; i++) {
        if (s->admin_uids[i] == u) {
            return true;
        }
    }
    return false;
}

/* Whether g is one of daemon.admins' groups. */
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

/* --- what the handlers get (rpc.h) --- */

/* A pending answer to msgid on c. */
struct ipc_pending *ipc_pending_create(struct ipc_conn *c, uint32_t msgid)
{
    struct ipc_pending *p = calloc(1, sizeof(*p));
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

/* Unlink and free p; its connection is released by the caller. */
static void pending_free(struct ipc_server *s, struct ipc_pending *p)
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

/* The pending answer was given or dropped. */
void ipc_pending_done(struct ipc_pending *p)
{
    struct ipc_server *s = p->conn->srv;
    conn_unref(p->conn);
    pending_free(s, p);
}

/* The user name of c's uid, looked up once per connection; "uid N" when
 * the uid has no name. The string lives as long as c. */
const char *ipc_conn_user(struct ipc_conn *c)
{
    if (c->user[0] != '\0') {
        return c->user;
    }
    struct passwd pw, *found = NULL;
    char buf[4096];
    int rc = c->who.uid == (uid_t)-1 ? ENOENT
                                     : getpwuid_r(c->who.uid, &pw, buf, sizeof(buf), &found);
    if (rc == 0 && found != NULL && found->pw_name[0] != '\0' &&
        strlen(found->pw_name) < sizeof(c->user)) {
        snprintf(c->user, sizeof(c->user), "%s", found->pw_name);
    } else {
        snprintf(c->user, sizeof(c->user), "uid %u", (unsigned)c->who.uid);
    }
    return c->user;
}

/* The daemon c is a client of. */
struct daemon *ipc_conn_daemon(const struct ipc_conn *c)
{
    return c->srv->d;
}

/* The server c belongs to. */
struct ipc_server *ipc_conn_server(const struct ipc_conn *c)
{
    return c->srv;
}

/* Who is on the other end of c. */
const struct rpc_caller *ipc_conn_caller(const struct ipc_conn *c)
{
    return &c->who;
}

/* The handlers' state, one per server. */
struct rpc_state *ipc_conn_state(const struct ipc_conn *c)
{
    return &c->srv->rpc;
}

/* daemon.hello on c said protocol. */
int ipc_conn_hello(struct ipc_conn *c, int64_t protocol)
{
    return peer_check_version(&c->peer, protocol);
}

/* c's topics. */
unsigned ipc_conn_topics(const struct ipc_conn *c)
{
    return c->topics;
}

/* Replace c's topics. */
void ipc_conn_set_topics(struct ipc_conn *c, unsigned topics)
{
    set_topics(c, topics);
}

/* Whether one more node's host may be watched from here. */
static bool can_watch(const struct ipc_server *s, const char *node)
{
    return node == NULL || cluster_host_can_want(s->d->cluster, node);
}

int ipc_conn_watch_host(struct ipc_conn *c, const char *node)
{
    struct ipc_server *s = c->srv;
    bool on = c->topics & IPC_TOPIC_HOST;
    if (on && same_node(c->host_node, node)) {
        return 0;
    }
    char *dup = NULL;
    if (node != NULL && (dup = strdup(node)) == NULL) {
        return -ENOMEM;
    }
    if (!can_watch(s, dup)) {
        free(dup);
        return -ENOSPC;
    }
    if (on) {
        /* Hold the new node before letting go of the old: a peer watched
         * by this connection alone is not told to stop and start again. */
        host_hold(s, dup, 1);
        host_hold(s, c->host_node, -1);
    }
    free(c->host_node);
    c->host_node = dup;
    if (!on) {
        set_topics(c, c->topics | IPC_TOPIC_HOST);
    }
    return 0;
}

static void on_run_timer(uv_timer_t *t);

/* Queue a waiter for check's next result (check NULL: the next host
 * sample of node, NULL this daemon's) until timeout_ms. */
static int wait_add(struct ipc_conn *c, uint32_t msgid, const char *check, const char *node,
                    int64_t timeout_ms)
{
    struct ipc_server *s = c->srv;
    struct run_wait *w = calloc(1, sizeof(*w));
    if (w == NULL || (check != NULL && (w->check = strdup(check)) == NULL) ||
        (node != NULL && (w->host_node = strdup(node)) == NULL)) {
        if (w != NULL) {
            free(w->check);
        }
        free(w);
        return -ENOMEM;
    }
    w->conn = c;
    c->refs++;
    w->msgid = msgid;
    w->deadline = uv_now(s->d->loop) + (uint64_t)timeout_ms;
    w->next = s->waits;
    s->waits = w;
    if (!uv_is_active((uv_handle_t *)&s->run_timer)) {
        uv_timer_start(&s->run_timer, on_run_timer, RUN_SWEEP_MS, RUN_SWEEP_MS);
    }
    if (check == NULL) {
        host_hold(s, node, 1);
    }
    return 0;
}

/* Wait for the next result of check for c. */
int ipc_conn_wait_run(struct ipc_conn *c, uint32_t msgid, const char *check, int64_t timeout_ms)
{
    return wait_add(c, msgid, check, NULL, timeout_ms + RUN_GRACE_MS);
}

/* host.get: a sample of this host at most HOST_FRESH_MS old now, else
 * the next; a peer's next. */
int ipc_conn_host(struct ipc_conn *c, uint32_t msgid, const char *node)
{
    if (node != NULL) {
        return can_watch(c->srv, node) ? wait_add(c, msgid, NULL, node, HOST_WAIT_MS) : -ENOSPC;
    }
    const struct ipc_host *h = hostmon_latest(c->srv->d->hostmon, HOST_FRESH_MS);
    if (h != NULL) {
        ipc_conn_respond(c, msgid, &ipc_host_type, h);
        return 0;
    }
    if (c->srv->d->hostmon == NULL) {
        return -ENODEV;
    }
    return wait_add(c, msgid, NULL, NULL, HOST_WAIT_MS);
}

/* --- dispatch --- */

/* A request: find the method, apply the table's policy, decode, call. */
static void handle_request(struct ipc_conn *c, const struct ipc_envelope *env)
{
    const struct ipc_method *m = ipc_method_find(env->method, env->method_len);
    if (m == NULL) {
        ipc_conn_error(c, env->msgid, IPC_E_NO_METHOD, "no method named %.*s",
                       (int)(env->method_len > 64 ? 64 : env->method_len), env->method);
        return;
    }
    const struct rpc_handler *h = &rpc_handlers[m->id];
    if (!(c->peer.flags & PEER_VERSION_OK) && !h->before_hello) {
        ipc_conn_error(c, env->msgid, IPC_E_PROTOCOL,
                       "call daemon.hello with the protocol version (%d) before %s",
                       IPC_PROTOCOL, m->name);
        return;
    }
    /* Rights are the current configuration's: a reload that removed the
     * caller from daemon.admins applies to connections already open. */
    uv_os_fd_t fd;
    if (c->who.uid != (uid_t)-1 && uv_fileno((uv_handle_t *)&c->peer.pipe, &fd) == 0) {
        c->who.admin = peer_is_admin(c->srv, fd, c->who.uid, c->who.gid);
    } else {
        c->who.admin = false;
    }
    if (h->admin && !c->who.admin) {
        ipc_conn_error(c, env->msgid, IPC_E_DENIED,
                       "%s needs an admin: uid %u is not root, the daemon's user or in "
                       "daemon.admins",
                       m->name, (unsigned)c->who.uid);
        return;
    }
    /* Strings are UTF-8 (docs/protocol.md): one that is not is refused
     * before any handler can store it or quote it back. */
    const msgpack_object *bad = ipc_bad_utf8(env->params);
    if (bad != NULL) {
        size_t at = utf8_valid_prefix(bad->via.str.ptr, bad->via.str.size);
        ipc_conn_error(c, env->msgid, IPC_E_INVALID_PARAMS,
                       "%s: a string is not valid UTF-8 (byte %zu, 0x%02x)", m->name, at,
                       (unsigned)(unsigned char)bad->via.str.ptr[at]);
        return;
    }
    _Alignas(max_align_t) unsigned char p[RPC_PARAMS_MAX];
    memset(p, 0, sizeof(p));
    if (m->params != NULL && m->params->size > sizeof(p)) {
        ipc_conn_error(c, env->msgid, IPC_E_INTERNAL, "%s: params too large", m->name);
        return;
    }
    char why[256];
    if (ipc_decode_params(env->params, m->params, p, why, sizeof(why)) < 0) {
        ipc_conn_error(c, env->msgid, IPC_E_INVALID_PARAMS, "%s: %s", m->name, why);
        if (m->params != NULL) {
            ipc_type_finish(m->params, p);
        }
        return;
    }
    h->fn(c, env->msgid, p);
    if (m->params != NULL) {
        ipc_type_finish(m->params, p);
    }
}

/* A message from c, or NULL when c's peer ended. */
static void conn_dispatch(struct peer *p, const struct ipc_envelope *env)
{
    struct ipc_conn *c = p->data;
    if (env == NULL) {
        conn_gone(c);
        return;
    }
    if (env->kind == IPC_REQUEST) {
        handle_request(c, env);
    }
    /* Responses and notifications from a client mean nothing here. */
}

static const struct peer_ops conn_peer_ops = {
    .dispatch = conn_dispatch,
    .closed = on_conn_closed,
    .queued = on_queued,
    .read_chunk = READ_CHUNK,
};

/* Why a client just accepted on fd is refused, or NULL: the descriptor
 * reserve kept for checks, the cap on clients, the cap per uid. */
static const char *refusal(const struct ipc_server *s, int fd, uid_t uid)
{
    if (fdres_low(fd)) {
        return "too few descriptors left for checks";
    }
    if (s->st.clients >= IPC_MAX_CLIENTS) {
        return "too many clients";
    }
    size_t mine = 0;
    for (const struct ipc_conn *c = s->conns; c != NULL; c = c->next) {
        mine += c->who.uid == uid;
    }
    if (mine >= IPC_MAX_CLIENTS_PER_UID) {
        return "too many clients of one uid";
    }
    return NULL;
}

/* A client connected: who is it, then read it. */
static void on_connection(uv_stream_t *listener, int status)
{
    struct ipc_server *s = listener->data;
    if (status < 0) {
        log_warn(LOG_NOKV, "socket accept: %s", uv_strerror(status));
        return;
    }
    struct ipc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        /* libuv holds the connection until it is accepted; nothing can be
         * done for it without memory. */
        log_error(LOG_NOKV, "out of memory accepting a client");
        return;
    }
    c->srv = s;
    c->refs = 1;
    peer_init(&c->peer, s->d->loop, &conn_peer_ops, c);
    int rc = uv_accept(listener, (uv_stream_t *)&c->peer.pipe);
    if (rc < 0) {
        log_warn(LOG_NOKV, "cannot accept a client: %s", uv_strerror(rc));
        peer_close(&c->peer, NULL);
        return;
    }
    uv_os_fd_t fd = -1;
    c->who.uid = (uid_t)-1;
    c->who.gid = (gid_t)-1;
    if (uv_fileno((uv_handle_t *)&c->peer.pipe, &fd) == 0 &&
        peercred_get(fd, &c->who.uid, &c->who.gid, &c->who.pid) == 0) {
        c->who.admin = peer_is_admin(s, fd, c->who.uid, c->who.gid);
    }
    const char *refuse = refusal(s, fd, c->who.uid);
    if (refuse != NULL) {
        char uid[16];
        snprintf(uid, sizeof(uid), "%u", (unsigned)c->who.uid);
        s->st.refused_total++;
        if (s->st.refused_total == 1 || s->st.refused_total % 1000 == 0) {
            log_warn(LOG_KV("uid", uid), "refusing socket clients: %s (%llu refused so far)",
                     refuse, (unsigned long long)s->st.refused_total);
        }
        peer_close(&c->peer, NULL);
        return;
    }
    c->open = true;
    c->next = s->conns;
    if (s->conns != NULL) {
        s->conns->prev = c;
    }
    s->conns = c;
    s->st.clients++;
    rc = peer_start(&c->peer, &s->lim, s->max_queue);
    if (rc < 0) {
        log_warn(LOG_NOKV, "cannot accept a client: %s", uv_strerror(rc));
    }
}

/* --- checks.run waiters --- */

/* Answer a checks.run waiter with the result r of ck. */
static void answer_run(struct ipc_server *s, struct run_wait *w, const struct check *ck,
                       const struct result *r)
{
    struct ipc_run v = {
        .check = w->check,
        .outcome = check_state_name(r->outcome),
        .state = check_state_name(ck->state),
        .started_ms = r->started_ms,
        .duration_us = r->duration_us,
        .status = r->status,
        .error = r->error[0] ? r->error : NULL,
        .failed_condition = r->failed_condition[0] ? r->failed_condition : NULL,
    };
    ipc_conn_respond(w->conn, w->msgid, &ipc_run_type, &v);
}

/* Free a waiter and its holds on the connection and the sampler. */
static void wait_free(struct run_wait *w)
{
    if (w->check == NULL) {
        host_hold(w->conn->srv, w->host_node, -1);
    }
    conn_unref(w->conn);
    free(w->check);
    free(w->host_node);
    free(w);
}

/* Fail the waiters that match: timed out (now past deadline), or whose
 * check is gone. */
static void sweep_waits(struct ipc_server *s, bool timeouts)
{
    uint64_t now = uv_now(s->d->loop);
    for (struct run_wait **p = &s->waits; *p != NULL;) {
        struct run_wait *w = *p;
        bool gone = w->check != NULL && daemon_find_check(s->d, w->check) == NULL;
        if (gone || (timeouts && now >= w->deadline)) {
            if (w->check == NULL && w->host_node != NULL) {
                ipc_conn_error(w->conn, w->msgid, IPC_E_UNAVAILABLE,
                               "no host sample from node %s in time", w->host_node);
            } else if (w->check == NULL) {
                ipc_conn_error(w->conn, w->msgid, IPC_E_UNAVAILABLE,
                               "no host sample in time: a read of /proc or a mount hangs?");
            } else if (gone) {
                ipc_conn_error(w->conn, w->msgid, IPC_E_NOT_FOUND,
                               "check %s was removed by a reload", w->check);
            } else {
                ipc_conn_error(w->conn, w->msgid, IPC_E_UNAVAILABLE,
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

/* Once a second while checks.run calls wait: fail the late ones. */
static void on_run_timer(uv_timer_t *t)
{
    sweep_waits(t->data, true);
}

/* --- publishing --- */

/* Send a notification (method, v of type t) to every subscriber of
 * topic; encoded once, only when somebody listens. A subscriber whose
 * queue would pass the limit is disconnected: it stopped reading. */
static void publish_as(struct ipc_server *s, unsigned topic, const char *host_node,
                       const char *method, const struct ipc_type *t, const void *v)
{
    unsigned idx = (unsigned)__builtin_ctz(topic);
    if (s->topic_subs[idx] == 0 || s->in_publish) {
        return;
    }
    s->in_publish = true;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ipc_encode_notify_method(&sb, method, t, v);
    for (struct ipc_conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        if (!(c->topics & topic) ||
            (topic == IPC_TOPIC_HOST && !same_node(c->host_node, host_node))) {
            continue;
        }
        /* An answer it asked for (a page of checks) may be larger than
         * the bound: only what it did not ask for counts. */
        size_t q = peer_unasked(&c->peer);
        if (q + sb.size > s->max_queue) {
            char pid[16], uid[16], qs[24];
            snprintf(pid, sizeof(pid), "%d", (int)c->who.pid);
            snprintf(uid, sizeof(uid), "%u", (unsigned)c->who.uid);
            snprintf(qs, sizeof(qs), "%zu", q);
            log_warn(LOG_KV("pid", pid, "uid", uid, "queued", qs),
                     "disconnecting a subscriber that stopped reading: %zu bytes queued "
                     "(daemon.ipc-max-queue)",
                     q);
            s->st.slow_disconnects_total++;
            conn_close(c, NULL);
            continue;
        }
        peer_send(&c->peer, sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    s->in_publish = false;
}

/* A notice of the event log to the subscribers of its topic. */
static void publish(struct ipc_server *s, unsigned topic, const struct ipc_notice *n)
{
    publish_as(s, topic, NULL, IPC_NOTICE_METHOD, &ipc_notice_type, n);
}

/* A host sample: host.get waiters, then the host topic. */
void ipc_server_on_host(struct ipc_server *s, const char *peer, const struct ipc_host *h)
{
    if (s == NULL) {
        return;
    }
    for (struct run_wait **p = &s->waits; *p != NULL;) {
        struct run_wait *w = *p;
        if (w->check == NULL && same_node(w->host_node, peer)) {
            ipc_conn_respond(w->conn, w->msgid, &ipc_host_type, h);
            *p = w->next;
            wait_free(w);
        } else {
            p = &w->next;
        }
    }
    publish_as(s, IPC_TOPIC_HOST, peer, IPC_HOST_METHOD, &ipc_host_type, h);
}

/* A result: answer checks.run waiters, publish to "results". */
void ipc_server_on_result(struct ipc_server *s, const struct check *c, const struct result *r)
{
    if (s == NULL) {
        return;
    }
    for (struct run_wait **p = &s->waits; *p != NULL;) {
        struct run_wait *w = *p;
        if (w->check != NULL && strcmp(w->check, c->conf->name) == 0) {
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
        .outcome = check_state_name(r->outcome),
        .state = check_state_name(c->state),
        .duration_us = r->duration_us,
        .status = r->status,
        .error = r->error[0] ? r->error : NULL,
        .failed_condition = r->failed_condition[0] ? r->failed_condition : NULL,
        .message = r->message[0] ? r->message : NULL,
        .perfdata = r->perfdata[0] ? r->perfdata : NULL,
    };
    publish(s, IPC_TOPIC_RESULTS, &n);
}

/* An event: publish to its topic. */
void ipc_server_on_event(struct ipc_server *s, const struct event *ev)
{
    if (s == NULL) {
        return;
    }
    enum ipc_topic topic = ipc_event_topic(ev->type);
    /* Pauses, reloads and the daemon's own events have no topic of their
     * own: they go to "log" as the event they are (type, id), at the level
     * of the log line they replace (see ipc_server_on_log). */
    struct ipc_notice n = {
        .topic = ipc_topic_name(topic),
        .id = ev->id,
        .ts_ms = ev->ts_ms,
        .type = ev->type,
        .check = ev->check,
        .app = ev->app,
        .env = ev->env,
        .message = ev->message,
        .data = ev->data,
        .level = topic == IPC_TOPIC_LOG ? "info" : NULL,
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

/* A log line at info or above: publish to "log". */
void ipc_server_on_log(struct ipc_server *s, enum log_level level, const char *msg,
                       const char *const *kv)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *event = kv_get(kv, "event");
    if (s == NULL || level < LOG_INFO ||
        (event != NULL && ipc_event_topic(event) == IPC_TOPIC_LOG)) {
        return;     /* an event's line: ipc_server_on_event publishes the event */
    }
    struct ipc_notice n = {
        .topic = "log",
        .ts_ms = daemon_now_ms(),
        .type = "log",
        .check = kv_get(kv, "check"),
        .app = kv_get(kv, "app"),
        .env = kv_get(kv, "env"),
        .message = msg,
        .level = names[level],
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
    /* The directory first: one another user owns or can write to would let
     * them replace the socket with a listener of their own. Missing, it is
     * created (not its parents: a typo should not build a tree) and then
     * checked, so one somebody else made first is refused. */
    char dir[sizeof(sa.sun_path)];
    safedir_of(path, dir, sizeof(dir));
    int rc = safedir_make(dir, 0755, 0, err, errlen);
    if (rc < 0) {
        char why[512];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "socket directory refused: %s", why);
        return rc;
    }
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT) {
            snprintf(err, errlen, "cannot use socket %s: %s", path, strerror(errno));
            return -errno;
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
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
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

/* Claim the socket path and listen. */
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

/* Take up a reloaded configuration. */
void ipc_server_reconfigure(struct ipc_server *s)
{
    const struct config *conf = s->d->conf;
    s->lim = ipc_limits_server;
    s->lim.max_message = conf->daemon.ipc_max_message;
    s->max_queue = conf->daemon.ipc_max_queue;
    for (struct ipc_conn *c = s->conns; c != NULL; c = c->next) {
        peer_set_max_queue(&c->peer, s->max_queue);
    }
    resolve_admins(s, conf);
    if (s->waits != NULL) {
        sweep_waits(s, false);
    }
}

/* Close the listener and every client. */
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

/* Free what is left after the loop closed the handles. */
void ipc_server_destroy(struct ipc_server *s)
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
        struct ipc_conn *c = s->zombies;
        s->zombies = c->zombie_next;
        free(c);
    }
    free(s->admin_uids);
    free(s->admin_gids);
    rpc_state_finish(&s->rpc);
    free(s->path);
    free(s);
}

/* Clients, subscribers, slow disconnects. */
void ipc_server_get_stats(const struct ipc_server *s, struct ipc_server_stats *out)
{
    if (s == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = s->st;
}
