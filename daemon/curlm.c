/* curlm.c - libcurl's multi-socket API on the daemon's libuv loop.
 *
 * The pattern of curl's multi-uv example without its globals: the multi
 * handle's socket callback keeps one uv_poll per socket (its context set
 * with curl_multi_assign), its timer callback arms one uv_timer, and every
 * readiness calls curl_multi_socket_action and drains curl_multi_info_read.
 * Cancellations are deferred to a zero timer so a done callback never runs
 * inside the caller of curlm_cancel. */
#define _DEFAULT_SOURCE /* timegm */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "curlm.h"
#include "fdres.h"
#include "log.h"

/* One transfer: what to call back when it ends. */
struct xfer {
    struct curlm *m;
    CURL *easy;
    curlm_done_fn done;
    void *arg;
    bool cancelled;
    struct xfer *next_cancel;
    struct xfer *prev, *next;     /* every transfer in flight */
};

/* One watched socket. */
struct sock {
    uv_poll_t poll;
    struct curlm *m;
    curl_socket_t fd;
};

struct curlm {
    uv_loop_t *loop;
    CURLM *multi;
    CURLSH *share;
    uv_timer_t timer;
    uv_timer_t cancel_timer;
    struct xfer *cancels;         /* transfers to end on the next tick */
    struct xfer *all;             /* every transfer in flight */
    unsigned running;
    bool closing;
    int open_handles;             /* uv handles still to close before free */
};

static void check_done(struct curlm *m);

/* End a transfer: remove it, call its owner. */
static void finish(struct curlm *m, struct xfer *x, CURLcode rc)
{
    CURLMcode mc = curl_multi_remove_handle(m->multi, x->easy);
    if (mc != CURLM_OK) {
        log_error(LOG_KV("component", "curl"), "curl_multi_remove_handle: %s",
                  curl_multi_strerror(mc));
    }
    m->running--;
    if (x->prev != NULL) {
        x->prev->next = x->next;
    } else {
        m->all = x->next;
    }
    if (x->next != NULL) {
        x->next->prev = x->prev;
    }
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
    x->done(x->easy, rc, x->arg);
    free(x);
}

/* Drain finished transfers. */
static void check_done(struct curlm *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        struct xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x != NULL) {
            finish(m, x, msg->data.result);
        }
    }
}

/* Tell curl what happened on fd (or that its timer fired). */
static void action(struct curlm *m, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(m->multi, fd, flags, &running);
    if (mc != CURLM_OK) {
        log_error(LOG_KV("component", "curl"), "curl_multi_socket_action: %s",
                  curl_multi_strerror(mc));
    }
    check_done(m);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *s = h->data;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    action(s->m, s->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
    action(t->data, CURL_SOCKET_TIMEOUT, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    free(h->data);
}

/* CURLMOPT_SOCKETFUNCTION: keep one uv_poll per socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct curlm *m = userp;
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL && !uv_is_closing((uv_handle_t *)&s->poll)) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_handle_closed);
            curl_multi_assign(m->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return -1;
        }
        s->m = m;
        s->fd = fd;
        int rc = uv_poll_init_socket(m->loop, &s->poll, fd);
        if (rc < 0) {
            log_error(LOG_KV("component", "curl"), "uv_poll_init_socket: %s", uv_strerror(rc));
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(m->multi, fd, s);
    }
    int events = 0;
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    int rc = uv_poll_start(&s->poll, events, on_poll);
    if (rc < 0) {
        log_error(LOG_KV("component", "curl"), "uv_poll_start: %s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; never call curl from here. */
static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    struct curlm *m = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&m->timer);
    } else {
        uv_timer_start(&m->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* Deferred cancellations: end each with CURLE_ABORTED_BY_CALLBACK. */
static void on_cancel_timer(uv_timer_t *t)
{
    struct curlm *m = t->data;
    struct xfer *x = m->cancels;
    m->cancels = NULL;
    while (x != NULL) {
        struct xfer *next = x->next_cancel;
        finish(m, x, CURLE_ABORTED_BY_CALLBACK);
        x = next;
    }
}

static int global_init_done;

/* Create the engine on loop. */
struct curlm *curlm_create(uv_loop_t *loop)
{
    if (!global_init_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return NULL;
        }
        global_init_done = 1;
    }
    struct curlm *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->loop = loop;
    m->multi = curl_multi_init();
    m->share = curl_share_init();
    if (m->multi == NULL || m->share == NULL) {
        curl_multi_cleanup(m->multi);
        curl_share_cleanup(m->share);
        free(m);
        return NULL;
    }
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    uv_timer_init(loop, &m->cancel_timer);
    m->cancel_timer.data = m;
    return m;
}

/* Free once both timers are closed. */
static void on_timer_closed(uv_handle_t *h)
{
    struct curlm *m = h->data;
    if (--m->open_handles == 0) {
        curl_multi_cleanup(m->multi);
        curl_share_cleanup(m->share);
        free(m);
    }
}

/* Abort everything and free. */
void curlm_destroy(struct curlm *m)
{
    if (m == NULL) {
        return;
    }
    m->closing = true;
    on_cancel_timer(&m->cancel_timer);
    /* Whatever is still in flight ends now, aborted. */
    while (m->all != NULL) {
        struct xfer *x = m->all;
        if (x->cancelled) {
            /* Already on the (now empty) cancel list: finish it here. */
            x->cancelled = false;
        }
        finish(m, x, CURLE_ABORTED_BY_CALLBACK);
    }
    m->open_handles = 2;
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    uv_close((uv_handle_t *)&m->cancel_timer, on_timer_closed);
}

/* A fresh easy handle with the shared options. */
CURL *curlm_easy(struct curlm *m)
{
    CURL *e = curl_easy_init();
    if (e != NULL) {
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_SHARE, m->share);
    }
    return e;
}

/* Start a transfer. */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn done, void *arg)
{
    if (m->closing) {
        return -ESHUTDOWN;
    }
    struct xfer *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->m = m;
    x->easy = easy;
    x->done = done;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    CURLMcode mc = curl_multi_add_handle(m->multi, easy);
    if (mc != CURLM_OK) {
        log_error(LOG_KV("component", "curl"), "curl_multi_add_handle: %s",
                  curl_multi_strerror(mc));
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -EIO;
    }
    m->running++;
    x->next = m->all;
    if (m->all != NULL) {
        m->all->prev = x;
    }
    m->all = x;
    return 0;
}

/* Abort one transfer; its callback runs from a later loop tick. */
void curlm_cancel(struct curlm *m, CURL *easy)
{
    struct xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x == NULL || x->cancelled) {
        return;
    }
    x->cancelled = true;
    x->next_cancel = m->cancels;
    m->cancels = x;
    uv_timer_start(&m->cancel_timer, on_cancel_timer, 0, 0);
}

/* Transfers in flight. */
unsigned curlm_running(const struct curlm *m)
{
    return m->running;
}

/* Parse certinfo's "Expire date" (e.g. "Jan  1 00:00:00 2030 GMT") into unix s. */
static int64_t parse_expiry(const char *v)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(v, "%b %d %H:%M:%S %Y", &tm);
    if (end == NULL) {
        end = strptime(v, "%Y-%m-%d %H:%M:%S", &tm);
    }
    return end != NULL ? (int64_t)timegm(&tm) : 0;
}

int64_t curlm_cert_expiry_s(CURL *easy)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || ci == NULL ||
        ci->num_of_certs < 1) {
        return 0;
    }
    for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
        if (strncmp(s->data, "Expire date:", 12) == 0) {
            return parse_expiry(s->data + 12);
        }
    }
    return 0;
}

const char *curlm_local_reason(CURL *easy, CURLcode rc)
{
    if (rc == CURLE_OUT_OF_MEMORY) {
        return fdres_local_reason(-ENOMEM);
    }
    long oserr = 0;
    if (curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr > 0) {
        return fdres_local_reason(-(int)oserr);
    }
    /* A socket libcurl could not open leaves no errno: ask. */
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        return fdres_local_reason(fdres_probe());
    }
    return NULL;
}

void curlm_check_options(CURL *easy, int64_t timeout_ms, bool verify_tls)
{
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, verify_tls ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, verify_tls ? 2L : 0L);
}

const char *curlm_url_host(const char *host, char *buf, size_t len)
{
    if (strchr(host, ':') == NULL) {
        return host;
    }
    snprintf(buf, len, "[%s]", host);
    return buf;
}

struct curl_slist *curlm_connect_to(CURL *easy, const char *name, const char *host, int port)
{
    char nb[300], hb[300], to[700];
    snprintf(to, sizeof(to), "%s:%d:%s:%d", curlm_url_host(name, nb, sizeof(nb)), port,
             curlm_url_host(host, hb, sizeof(hb)), port);
    struct curl_slist *list = curl_slist_append(NULL, to);
    if (list != NULL) {
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, list);
    }
    return list;
}
