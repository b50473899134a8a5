/* test_notify_live.c - deliveries on a real loop: HTTP and SMTP against
 * small servers on 127.0.0.1 started here, exec through /bin/sh. Every
 * wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "curlm.h"
#include "notify.h"
#include "notify_fixtures.h"
#include "store.h"
#include "util.h"

#define WAIT_MS 5000                  /* the longest any live test waits */

static char tmpdir[512];

/* --- live: a loop, curl, small servers --- */

static uv_loop_t loop;
static struct curlm *curlm;     /* the HTTP types' engine, on loop */
static bool in_start;           /* set while notify_start runs */
static int dones;
static bool done_ok;
static char done_reason[NOTIFY_REASON_MAX];
static bool done_reentered;     /* done ran from inside notify_start */

static void on_done(bool ok, const char *reason, void *arg)
{
    dones++;
    done_ok = ok;
    if (in_start) {
        done_reentered = true;
    }
    snprintf(done_reason, sizeof(done_reason), "%s", reason != NULL ? reason : "");
    (*(int *)arg)++;
}

static void on_wake(uv_timer_t *t)
{
}

/* Run the loop until *count reaches want or ms pass; false on timeout. */
static bool run_until_count(const int *count, int want, uint64_t ms)
{
    uv_timer_t wake;
    uv_timer_init(&loop, &wake);
    uv_timer_start(&wake, on_wake, 10, 10);
    uv_update_time(&loop);
    uint64_t end = uv_now(&loop) + ms;
    while (*count < want && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return *count >= want;
}

static bool run_until(const int *flag, uint64_t ms)
{
    return run_until_count(flag, 1, ms);
}

/* Start, checking done does not run inside; wait for done. */
static struct notify_send *start(const struct conf_notifier *n, const char *payload, int *flag)
{
    in_start = true;
    struct notify_send *s = notify_start(&loop, curlm, n, payload, on_done, flag);
    in_start = false;
    assert_int_equal(*flag, 0);
    return s;
}

static void deliver(const struct conf_notifier *n, const char *payload)
{
    int flag = 0;
    struct notify_send *s = start(n, payload, &flag);
    assert_non_null(s);
    if (!run_until(&flag, WAIT_MS)) {
        fail_msg("no done within %d ms", WAIT_MS);
    }
    assert_int_equal(flag, 1);
    assert_false(done_reentered);
}

enum srv_mode {
    SRV_200,
    SRV_503,
    SRV_HANG,
    SRV_SMTP,
};

struct conn;

struct srv {
    uv_tcp_t tcp;
    enum srv_mode mode;
    int port;
    struct conn *conns;
    int requests;               /* complete requests (or mails) seen */
    char req[256 * 1024];       /* the last one: HTTP request, or SMTP data */
    size_t req_len;
    char smtp_log[4096];        /* SMTP commands seen, one a line */
};

struct conn {
    uv_tcp_t tcp;
    struct srv *srv;
    struct conn *next;
    char buf[256 * 1024];
    size_t len;
    bool in_data;               /* SMTP: reading the message */
    bool quit;
};

struct wreq {
    uv_write_t w;
    struct conn *c;
    bool close_after;
    char data[];
};

static struct srv srv;

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct conn **pp = &c->srv->conns;
    while (*pp != c) {
        pp = &(*pp)->next;
    }
    *pp = c->next;
    free(c);
}

static void conn_close(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    if (r->close_after) {
        conn_close(r->c);
    }
    free(r);
}

static void conn_send(struct conn *c, const char *text, bool close_after)
{
    size_t n = strlen(text);
    struct wreq *r = malloc(sizeof(*r) + n);
    r->c = c;
    r->close_after = close_after;
    memcpy(r->data, text, n);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(r);
        conn_close(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len - 1));
}

/* HTTP: answer once a whole request is in. */
static void http_input(struct conn *c)
{
    c->buf[c->len] = '\0';
    const char *end = strstr(c->buf, "\r\n\r\n");
    if (end == NULL) {
        return;
    }
    size_t head = (size_t)(end - c->buf) + 4;
    const char *cl = strstr(c->buf, "Content-Length: ");
    size_t body = cl != NULL && cl < end ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
    if (c->len < head + body) {
        return;
    }
    struct srv *s = c->srv;
    memcpy(s->req, c->buf, c->len + 1);
    s->req_len = c->len;
    s->requests++;
    c->len = 0;
    if (s->mode == SRV_200) {
        conn_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", true);
    } else if (s->mode == SRV_503) {
        conn_send(c,
                  "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 14\r\n"
                  "Connection: close\r\n\r\nback\r\nend soon",
                  true);
    }
}

/* SMTP: just enough of RFC 5321 for one mail, no extensions. */
static void smtp_input(struct conn *c)
{
    struct srv *s = c->srv;
    for (;;) {
        c->buf[c->len] = '\0';
        if (c->in_data) {
            /* The data ends at CRLF.CRLF (the message itself ends in CRLF). */
            const char *end = strstr(c->buf, "\r\n.\r\n");
            if (end == NULL) {
                return;
            }
            size_t n = (size_t)(end - c->buf) + 2;
            /* Undo the dot-stuffing. */
            s->req_len = 0;
            for (size_t i = 0; i < n; i++) {
                if (c->buf[i] == '.' && (i == 0 || c->buf[i - 1] == '\n')) {
                    i++;
                }
                s->req[s->req_len++] = c->buf[i];
            }
            s->req[s->req_len] = '\0';
            s->requests++;
            memmove(c->buf, end + 5, c->len - n - 3);
            c->len -= n + 3;
            c->in_data = false;
            conn_send(c, "250 queued\r\n", false);
            continue;
        }
        char *eol = strstr(c->buf, "\r\n");
        if (eol == NULL) {
            return;
        }
        *eol = '\0';
        char line[512];
        snprintf(line, sizeof(line), "%s", c->buf);
        size_t used = (size_t)(eol - c->buf) + 2;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        if (strlen(s->smtp_log) + strlen(line) + 2 < sizeof(s->smtp_log)) {
            strcat(s->smtp_log, line);
            strcat(s->smtp_log, "\n");
        }
        if (strncmp(line, "EHLO", 4) == 0 || strncmp(line, "HELO", 4) == 0) {
            conn_send(c, "250 test\r\n", false);
        } else if (strncmp(line, "MAIL FROM:", 10) == 0 || strncmp(line, "RCPT TO:", 8) == 0 ||
                   strncmp(line, "RSET", 4) == 0 || strncmp(line, "NOOP", 4) == 0) {
            conn_send(c, "250 OK\r\n", false);
        } else if (strcmp(line, "DATA") == 0) {
            c->in_data = true;
            conn_send(c, "354 go ahead\r\n", false);
        } else if (strcmp(line, "QUIT") == 0) {
            conn_send(c, "221 bye\r\n", true);
            return;
        } else if (strcmp(line, "STARTTLS") == 0) {
            conn_send(c, "454 TLS not available\r\n", false);
        } else {
            conn_send(c, "502 unknown\r\n", false);
        }
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    if (c->srv->mode == SRV_SMTP) {
        smtp_input(c);
    } else {
        http_input(c);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct srv *s = server->data;
    if (status < 0) {
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    s->conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    if (s->mode == SRV_SMTP) {
        conn_send(c, "220 test ESMTP\r\n", false);
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Listen on 127.0.0.1, a port the kernel picks. */
static void srv_start(enum srv_mode mode)
{
    memset(&srv, 0, sizeof(srv));
    srv.mode = mode;
    uv_tcp_init(&loop, &srv.tcp);
    srv.tcp.data = &srv;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&srv.tcp, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv.tcp, 16, on_connection), 0);
    struct sockaddr_storage name;
    int len = sizeof(name);
    assert_int_equal(uv_tcp_getsockname(&srv.tcp, (struct sockaddr *)&name, &len), 0);
    srv.port = ntohs(((struct sockaddr_in *)&name)->sin_port);
}

static void srv_stop(void)
{
    uv_close((uv_handle_t *)&srv.tcp, NULL);
    while (srv.conns != NULL) {
        struct conn *c = srv.conns;
        conn_close(c);
        uv_run(&loop, UV_RUN_NOWAIT);
        if (srv.conns == c) {
            uv_run(&loop, UV_RUN_ONCE);
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int live_setup(void **state)
{
    uv_loop_init(&loop);
    curlm = curlm_create(&loop);
    assert_non_null(curlm);
    dones = 0;
    done_reentered = false;
    done_reason[0] = '\0';
    return 0;
}

static void on_walk(uv_handle_t *h, void *arg)
{
    fprintf(stderr, "handle left open: %s\n", uv_handle_type_name(h->type));
    (*(int *)arg)++;
}

static int live_teardown(void **state)
{
    curlm_destroy(curlm);
    uv_run(&loop, UV_RUN_DEFAULT);
    int open = 0;
    uv_walk(&loop, on_walk, &open);
    assert_int_equal(open, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static char url_buf[256];

static const char *url(const char *path)
{
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", srv.port, path);
    return url_buf;
}

static void live_webhook_200(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("webhook");
    n.url = (char *)url("/hook?token=secret");
    deliver(&n, p);
    assert_true(done_ok);
    assert_int_equal(srv.requests, 1);
    assert_memory_equal(srv.req, "POST /hook?token=secret HTTP/1.1\r\n", 34);
    assert_non_null(strstr(srv.req, "\r\nContent-Type: application/json\r\n"));
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_string_equal(body, p);
    free(p);
    srv_stop();
}

static void live_slack_503(void **state)
{
    srv_start(SRV_503);
    char *p = firing_payload();
    struct conf_notifier n = notifier("slack");
    n.url = (char *)url("/services/T/B/X");
    deliver(&n, p);
    assert_false(done_ok);
    assert_string_equal(done_reason, "HTTP 503: back");
    json_t *j = parse(strstr(srv.req, "\r\n\r\n") + 4);
    assert_non_null(strstr(jget_str(j, "text"), "[FIRING] critical api-health"));
    json_decref(j);
    free(p);
    srv_stop();
}

static void live_alertmanager_path(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("alertmanager");
    n.url = (char *)url("/am//");
    deliver(&n, p);
    assert_true(done_ok);
    assert_memory_equal(srv.req, "POST /am/api/v2/alerts HTTP/1.1\r\n", 33);
    json_t *j = parse(strstr(srv.req, "\r\n\r\n") + 4);
    assert_true(json_is_array(j));
    json_decref(j);
    free(p);
    srv_stop();
}

static void live_http_timeout(void **state)
{
    srv_start(SRV_HANG);
    char *p = firing_payload();
    struct conf_notifier n = notifier("discord");
    n.url = (char *)url("/api/webhooks/1/x");
    n.timeout_ms = 300;
    int64_t t0 = clock_mono_ms();
    deliver(&n, p);
    int64_t took_ms = clock_mono_ms() - t0;
    assert_false(done_ok);
    assert_non_null(strstr(done_reason, "timed out"));
    assert_true(took_ms >= 250 && took_ms < 3000);
    free(p);
    srv_stop();
}

static void live_http_cancel(void **state)
{
    srv_start(SRV_HANG);
    char *p = firing_payload();
    struct conf_notifier n = notifier("webhook");
    n.url = (char *)url("/");
    n.timeout_ms = 30000;
    int flag = 0;
    struct notify_send *s = start(&n, p, &flag);
    assert_non_null(s);
    /* Let the request reach the server, then abort. */
    assert_true(run_until(&srv.requests, WAIT_MS));
    notify_cancel(s);
    assert_int_equal(flag, 0);
    assert_true(run_until(&flag, WAIT_MS));
    assert_false(done_ok);
    assert_string_equal(done_reason, "cancelled");
    free(p);
    srv_stop();
}

static void live_http_refused_and_bad(void **state)
{
    /* A port nobody listens on: the server's, once closed. */
    srv_start(SRV_200);
    int port = srv.port;
    srv_stop();
    char *p = firing_payload();
    struct conf_notifier n = notifier("webhook");
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
    n.url = u;
    deliver(&n, p);
    assert_false(done_ok);
    assert_true(done_reason[0] != '\0');

    /* Could not start: done still comes later, once, with the reason. */
    const struct {
        const char *type;
        char *url;
        const char *payload;
        const char *reason;
    } cases[] = {
        {"webhook", u, "{not json", "invalid payload"},
        {"email", u, "[]", "invalid payload"},
        {"exec", NULL, "{\"version\":1}", "invalid payload"},
        {"pigeon", u, p, "unknown notifier type pigeon"},
        {"webhook", NULL, p, "no url configured"},
        {"exec", NULL, p, "no command configured"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        n = notifier(cases[i].type);
        n.url = cases[i].url;
        int flag = 0;
        struct notify_send *s = start(&n, cases[i].payload, &flag);
        assert_non_null(s);
        notify_cancel(s);       /* too late to matter: the reason stays */
        assert_true(run_until(&flag, WAIT_MS));
        assert_false(done_ok);
        assert_string_equal(done_reason, cases[i].reason);
    }
    free(p);
}

static void live_email(void **state)
{
    srv_start(SRV_SMTP);
    struct alert a = firing_alert();
    char *p = notify_payload(&a, "firing", 17, T_CREATED);
    struct conf_notifier n = notifier("email");
    char u[64];
    snprintf(u, sizeof(u), "smtp://127.0.0.1:%d", srv.port);
    n.url = u;
    deliver(&n, p);
    if (!done_ok) {
        fail_msg("email failed: %s\n%s", done_reason, srv.smtp_log);
    }
    assert_int_equal(srv.requests, 1);
    assert_non_null(strstr(srv.smtp_log, "MAIL FROM:<shipwatch@example.com>"));
    assert_non_null(strstr(srv.smtp_log, "RCPT TO:<a@example.com>\n"));
    assert_non_null(strstr(srv.smtp_log, "RCPT TO:<b@example.com>\n"));
    /* What arrived is the message as rendered (but for the Date). */
    char *m = notify_render(&n, p, T_CREATED);
    const char *want = strstr(m, "\r\nFrom:");
    const char *got = strstr(srv.req, "\r\nFrom:");
    assert_non_null(got);
    assert_string_equal(got, want);
    free(m);

    /* tls: required, and the server offers no STARTTLS: fail. */
    n.tls = CONF_TLS_REQUIRED;
    deliver(&n, p);
    assert_false(done_ok);
    assert_true(done_reason[0] != '\0');
    assert_int_equal(srv.requests, 1);
    free(p);
    srv_stop();
}

static void live_email_timeout_and_cancel(void **state)
{
    /* A server that accepts and never greets. */
    srv_start(SRV_HANG);
    char *p = firing_payload();
    struct conf_notifier n = notifier("email");
    char u[64];
    snprintf(u, sizeof(u), "smtp://127.0.0.1:%d", srv.port);
    n.url = u;
    n.timeout_ms = 300;
    int64_t t0 = clock_mono_ms();
    deliver(&n, p);
    int64_t took_ms = clock_mono_ms() - t0;
    assert_false(done_ok);
    if (strstr(done_reason, "timed out") == NULL) {
        fail_msg("reason: %s", done_reason);
    }
    assert_true(took_ms >= 250 && took_ms < 3000);

    n.timeout_ms = 30000;
    int flag = 0;
    int conns = 0;
    struct notify_send *s = start(&n, p, &flag);
    assert_non_null(s);
    uv_update_time(&loop);
    for (uint64_t end = uv_now(&loop) + WAIT_MS; srv.conns == NULL && uv_now(&loop) < end;) {
        run_until(&conns, 20);  /* conns stays 0: a 20 ms turn of the loop */
    }
    assert_non_null(srv.conns);
    t0 = clock_mono_ms();
    notify_cancel(s);
    assert_int_equal(flag, 0);
    assert_true(run_until(&flag, WAIT_MS));
    took_ms = clock_mono_ms() - t0;
    assert_false(done_ok);
    assert_string_equal(done_reason, "cancelled");
    assert_true(took_ms < 2500);
    free(p);
    srv_stop();
}

/* --- live: exec --- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    char *buf = calloc(1, 256 * 1024);
    size_t n = fread(buf, 1, 256 * 1024 - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void live_exec_delivers(void **state)
{
    char out[600], env[600], script[2048];
    snprintf(out, sizeof(out), "%s/notify-%d-stdin", tmpdir, (int)getpid());
    snprintf(env, sizeof(env), "%s/notify-%d-env", tmpdir, (int)getpid());
    snprintf(script, sizeof(script),
             "cat > '%s'; printf '%%s|' \"$SHIPWATCH_ALERT_ID\" \"$SHIPWATCH_ALERT_EVENT\" "
             "\"$SHIPWATCH_ALERT_KIND\" \"$SHIPWATCH_ALERT_STATUS\" \"$SHIPWATCH_ALERT_SEVERITY\" "
             "\"$SHIPWATCH_ALERT_CHECK\" \"$SHIPWATCH_ALERT_APP\" \"$SHIPWATCH_ALERT_SUMMARY\" "
             "\"$SHIPWATCH_DELIVERY_ID\" \"${SHIPWATCH_ALERT_ENV-unset}\" > '%s'; exit 0",
             out, env);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    /* The daemon's own variable of that name does not leak through. */
    setenv("SHIPWATCH_ALERT_ENV", "inherited", 1);
    struct alert a = firing_alert();
    a.env = NULL;
    char *p = notify_payload(&a, "firing", 17, T_CREATED);
    struct conf_notifier n = notifier("exec");
    n.argv = argv;
    n.argc = 3;
    /* Nor one the notifier's environment key names. */
    char *named[] = {"SHIPWATCH_ALERT_ENV=named", NULL};
    n.environment = named;
    n.nenvironment = 1;
    deliver(&n, p);
    unsetenv("SHIPWATCH_ALERT_ENV");
    if (!done_ok) {
        fail_msg("exec failed: %s", done_reason);
    }
    char *got = read_file(out);
    assert_non_null(got);
    assert_string_equal(got, p);
    free(got);
    got = read_file(env);
    assert_non_null(got);
    assert_string_equal(got, "3|firing|down|firing|critical|api-health|api|" SUMMARY "|17|unset|");
    free(got);
    unlink(out);
    unlink(env);
    free(p);
}

static void live_exec_failures(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("exec");

    char *fail3[] = {"/bin/sh", "-c", "echo 'no route to pager' >&2; exit 3", NULL};
    n.argv = fail3;
    deliver(&n, p);
    assert_false(done_ok);
    assert_string_equal(done_reason, "exit status 3: no route to pager");

    char *quiet[] = {"/bin/sh", "-c", "exit 7", NULL};
    n.argv = quiet;
    deliver(&n, p);
    assert_false(done_ok);
    assert_string_equal(done_reason, "exit status 7");

    char *sig[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    n.argv = sig;
    deliver(&n, p);
    assert_false(done_ok);
    assert_string_equal(done_reason, "killed by signal 15");

    /* A command that never reads stdin still counts by its exit status. */
    char *noread[] = {"/bin/true", NULL};
    n.argv = noread;
    deliver(&n, p);
    assert_true(done_ok);

    char *missing[] = {"/nonexistent/pager", NULL};
    n.argv = missing;
    deliver(&n, p);
    assert_false(done_ok);
    assert_memory_equal(done_reason, "spawn /nonexistent/pager: ", 26);
    free(p);
}

/* A notifier command, like a plugin, starts clean: no descriptor of the
 * daemon's but stdio, and none of its environment (secrets from the unit's
 * EnvironmentFile) beyond the minimal one and the alert's variables. */
static void live_exec_inherits_no_descriptor_and_a_minimal_env(void **state)
{
    char out[600], fds[600], script[2048];
    snprintf(out, sizeof(out), "%s/notify-%d-cleanenv", tmpdir, (int)getpid());
    snprintf(fds, sizeof(fds), "%s/notify-%d-fds", tmpdir, (int)getpid());
    /* /usr/bin/env, not sh's set: only what was exported (sh exports PWD
     * itself). ls opens one descriptor of its own, the lowest free: 3 when
     * nothing leaked. */
    snprintf(script, sizeof(script), "/usr/bin/env | grep -v '^PWD=' | sort > '%s'; ls /proc/self/fd > '%s'",
             out, fds);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    int fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, 57), 57);
    close(fd);
    assert_int_equal(setenv("SHIPWATCH_TEST_SECRET", "hunter2", 1), 0);
    struct alert a = firing_alert();
    char *p = notify_payload(&a, "firing", 17, T_CREATED);
    struct conf_notifier n = notifier("exec");
    n.argv = argv;
    n.argc = 3;
    deliver(&n, p);
    close(57);
    unsetenv("SHIPWATCH_TEST_SECRET");
    if (!done_ok) {
        fail_msg("exec failed: %s", done_reason);
    }
    char *got = read_file(fds);
    assert_non_null(got);
    assert_string_equal(got, "0\n1\n2\n3\n");
    free(got);
    got = read_file(out);
    assert_non_null(got);
    assert_string_equal(got, "LANG=C\n"
                             "PATH=/usr/local/bin:/usr/bin:/bin\n"
                             "SHIPWATCH_ALERT_APP=api\n"
                             "SHIPWATCH_ALERT_CHECK=api-health\n"
                             "SHIPWATCH_ALERT_ENV=production\n"
                             "SHIPWATCH_ALERT_EVENT=firing\n"
                             "SHIPWATCH_ALERT_ID=3\n"
                             "SHIPWATCH_ALERT_KIND=down\n"
                             "SHIPWATCH_ALERT_SEVERITY=critical\n"
                             "SHIPWATCH_ALERT_STATUS=firing\n"
                             "SHIPWATCH_ALERT_SUMMARY=" SUMMARY "\n"
                             "SHIPWATCH_DELIVERY_ID=17\n");
    free(got);
    unlink(out);
    unlink(fds);
    free(p);
}

/* Whether pid is gone (or a zombie nobody reaped yet). */
static bool pid_gone(int pid)
{
    if (kill(pid, 0) != 0) {
        return true;
    }
    char path[64], stat[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return true;
    }
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    stat[n] = '\0';
    fclose(f);
    const char *paren = strrchr(stat, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static void live_exec_timeout_kills_group(void **state)
{
    char pidfile[600], script[1024];
    snprintf(pidfile, sizeof(pidfile), "%s/notify-%d-pid", tmpdir, (int)getpid());
    unlink(pidfile);
    snprintf(script, sizeof(script), "sleep 30 & echo $! > '%s'; sleep 30", pidfile);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    char *p = firing_payload();
    struct conf_notifier n = notifier("exec");
    n.argv = argv;
    n.timeout_ms = 300;
    int64_t t0 = clock_mono_ms();
    deliver(&n, p);
    int64_t took_ms = clock_mono_ms() - t0;
    assert_false(done_ok);
    assert_string_equal(done_reason, "timed out after 300ms");
    assert_true(took_ms >= 250 && took_ms < 3000);
    char *pid = read_file(pidfile);
    assert_non_null(pid);
    int bg = atoi(pid);
    free(pid);
    assert_true(bg > 0);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = pid_gone(bg);
        if (!gone) {
            nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
        }
    }
    assert_true(gone);
    unlink(pidfile);

    /* Cancel: same end, with its own reason. */
    char *sleeper[] = {"/bin/sh", "-c", "sleep 30", NULL};
    n.argv = sleeper;
    n.timeout_ms = 30000;
    int flag = 0;
    struct notify_send *s = start(&n, p, &flag);
    assert_non_null(s);
    uv_run(&loop, UV_RUN_NOWAIT);
    notify_cancel(s);
    assert_int_equal(flag, 0);
    assert_true(run_until(&flag, WAIT_MS));
    assert_false(done_ok);
    assert_string_equal(done_reason, "cancelled");
    free(p);
}

/* Every header line of an HTTP request is one of want (NULL-terminated),
 * and every one of want is there: the exact header set, in any order. */
static void assert_headers_exactly(const char *req, const char *const *want)
{
    char *h = headers_of(req);
    size_t nwant = 0;
    while (want[nwant] != NULL) {
        assert_header(h, want[nwant]);
        nwant++;
    }
    size_t lines = 0;
    for (const char *l = strstr(h, "\r\n") + 2; *l != '\0'; l = strstr(l, "\r\n") + 2) {
        lines++;
    }
    if (lines != nwant) {
        fail_msg("%zu header lines, expected %zu:\n%s", lines, nwant, h);
    }
    free(h);
}

/* ntfy: POST to the topic, the token from the URL as a bearer header, the
 * summary as the Title, Priority and Tags from severity, event, app, env. */
static void live_ntfy_firing(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("ntfy");
    char u[256];
    snprintf(u, sizeof(u), "http://:tk_AbC123@127.0.0.1:%d/shipwatch-alerts", srv.port);
    n.url = u;
    deliver(&n, p);
    assert_true(done_ok);
    assert_int_equal(srv.requests, 1);
    assert_memory_equal(srv.req, "POST /shipwatch-alerts HTTP/1.1\r\n", 33);
    char body[1024];
    firing_text(body, sizeof(body));
    char host[64], length[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d", srv.port);
    snprintf(length, sizeof(length), "Content-Length: %zu", strlen(body));
    const char *const want[] = {
        host,
        "User-Agent: shipwatch/" SHIPWATCH_VERSION,
        "Accept: */*",
        "Content-Type: text/plain; charset=utf-8",
        "Title: " SUMMARY,
        "Priority: 5",
        "Tags: rotating_light,api,production",
        "Authorization: Bearer tk_AbC123",
        length,
        NULL,
    };
    assert_headers_exactly(srv.req, want);
    assert_string_equal(strstr(srv.req, "\r\n\r\n") + 4, body);
    free(p);
    srv_stop();
}

/* Resolved, warning, text that is not ASCII: RFC 2047 words on one line,
 * Priority 4, the check mark; no token, no Authorization. */
static void live_ntfy_resolved(void **state)
{
    srv_start(SRV_200);
    struct alert a = firing_alert();
    a.status = "resolved";
    a.severity = "warning";
    a.resolved_ms = T_RESOLVED;
    a.env = "pr\xC3\xBC" "fung,eu";
    a.summary = "Überwachung wieder grün — Dienst erreichbar, alle Prüfungen bestanden";
    char *p = notify_payload(&a, "resolved", 8, T_CREATED);
    struct conf_notifier n = notifier("ntfy");
    n.url = (char *)url("/ops");
    deliver(&n, p);
    assert_true(done_ok);
    assert_memory_equal(srv.req, "POST /ops HTTP/1.1\r\n", 20);
    char *h = headers_of(srv.req);
    assert_header(h, "Priority: 4");
    assert_null(header_line(h, "Authorization: "));
    assert_null(strstr(h, "\r\n "));                /* nothing folded */
    const char *const labels[] = {"Title: ", "Tags: "};
    const char *const plain[] = {a.summary, "white_check_mark,api,pr\xC3\xBC" "fung_eu"};
    for (size_t k = 0; k < 2; k++) {
        const char *c = header_line(h, labels[k]);
        assert_non_null(c);
        char decoded[1024];
        assert_memory_equal(decode_words(c + strlen(labels[k]), " ", decoded), "\r\n", 2);
        assert_string_equal(decoded, plain[k]);
    }
    free(h);
    free(p);
    srv_stop();
}

/* Info is ntfy's default priority, acknowledged has its own tag; a user
 * and password stay Basic auth, sent by libcurl. */
static void live_ntfy_basic_auth(void **state)
{
    srv_start(SRV_200);
    struct alert a = firing_alert();
    a.severity = "info";
    a.status = "acknowledged";
    a.ack_by = "alice";
    a.ack_ms = T_ACK;
    a.app = NULL;
    a.env = NULL;
    char *p = notify_payload(&a, "acknowledged", 9, T_CREATED);
    struct conf_notifier n = notifier("ntfy");
    char u[256];
    snprintf(u, sizeof(u), "http://u:p@127.0.0.1:%d/t", srv.port);
    n.url = u;
    deliver(&n, p);
    assert_true(done_ok);
    char *h = headers_of(srv.req);
    assert_header(h, "Priority: 3");
    assert_header(h, "Tags: eyes");
    assert_header(h, "Authorization: Basic dTpw");
    free(h);
    free(p);
    srv_stop();
}

/* The exact header set of a JSON POST of body to the local receiver, with
 * extra (NULL or one more line). */
static void assert_json_post(const char *body, const char *extra)
{
    char host[64], length[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d", srv.port);
    snprintf(length, sizeof(length), "Content-Length: %zu", strlen(body));
    const char *const want[] = {
        host,
        "User-Agent: shipwatch/" SHIPWATCH_VERSION,
        "Accept: */*",
        "Content-Type: application/json",
        length,
        extra,
        NULL,
    };
    assert_headers_exactly(srv.req, want);
}

/* pagerduty: POST URL as given (Events API v2's /v2/enqueue), JSON, no
 * header carries the routing key; trigger then resolve under one
 * dedup_key. */
static void live_pagerduty_trigger_resolve(void **state)
{
    srv_start(SRV_200);
    struct conf_notifier n = notifier("pagerduty");
    n.url = (char *)url("/v2/enqueue");
    n.routing_key = "e93facc04764012d7bfb002500d5d1a6";
    const struct {
        const char *event, *status, *action;
    } steps[] = {
        {"firing", "firing", "trigger"},
        {"resolved", "resolved", "resolve"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct alert a = firing_alert();
        a.status = steps[i].status;
        if (i == 1) {
            a.resolved_ms = T_RESOLVED;
        }
        char *p = notify_payload(&a, steps[i].event, 20 + (int64_t)i, T_CREATED);
        deliver(&n, p);
        assert_true(done_ok);
        assert_int_equal(srv.requests, (int)i + 1);
        assert_memory_equal(srv.req, "POST /v2/enqueue HTTP/1.1\r\n", 27);
        const char *body = strstr(srv.req, "\r\n\r\n") + 4;
        assert_json_post(body, NULL);
        json_t *j = parse(body);
        assert_string_equal(jget_str(j, "routing_key"), n.routing_key);
        assert_string_equal(jget_str(j, "event_action"), steps[i].action);
        assert_string_equal(jget_str(j, "dedup_key"), "shipwatch-3");
        json_t *pl = json_object_get(j, "payload");
        assert_string_equal(jget_str(pl, "summary"), SUMMARY);
        assert_string_equal(jget_str(pl, "severity"), "critical");
        assert_non_null(jget_str(pl, "source"));
        assert_true(json_is_object(json_object_get(pl, "custom_details")));
        json_decref(j);
        free(p);
    }
    srv_stop();
}

/* opsgenie: create at /v2/alerts, acknowledge and close by alias, each
 * with "Authorization: GenieKey KEY". */
static void live_opsgenie_create_ack_close(void **state)
{
    srv_start(SRV_200);
    struct conf_notifier n = notifier("opsgenie");
    n.url = (char *)url("/");
    n.api_key = "eb243592-faa2-4ba2-a551q-1afdf565c889";
    const struct {
        const char *event, *status, *line;
    } steps[] = {
        {"firing", "firing", "POST /v2/alerts HTTP/1.1\r\n"},
        {"acknowledged", "acknowledged",
         "POST /v2/alerts/shipwatch-3/acknowledge?identifierType=alias HTTP/1.1\r\n"},
        {"resolved", "resolved", "POST /v2/alerts/shipwatch-3/close?identifierType=alias HTTP/1.1\r\n"},
    };
    for (size_t i = 0; i < 3; i++) {
        struct alert a = firing_alert();
        a.status = steps[i].status;
        if (i == 1) {
            a.ack_by = "alice";
            a.ack_ms = T_ACK;
        }
        if (i == 2) {
            a.resolved_ms = T_RESOLVED;
        }
        char *p = notify_payload(&a, steps[i].event, 30 + (int64_t)i, T_CREATED);
        deliver(&n, p);
        assert_true(done_ok);
        assert_int_equal(srv.requests, (int)i + 1);
        assert_memory_equal(srv.req, steps[i].line, strlen(steps[i].line));
        const char *body = strstr(srv.req, "\r\n\r\n") + 4;
        assert_json_post(body, "Authorization: GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889");
        json_t *j = parse(body);
        assert_string_equal(jget_str(j, "source"), "shipwatch");
        if (i == 0) {
            assert_string_equal(jget_str(j, "alias"), "shipwatch-3");
            assert_string_equal(jget_str(j, "message"), SUMMARY);
            assert_string_equal(jget_str(j, "priority"), "P1");
        } else {
            assert_non_null(jget_str(j, "note"));
        }
        json_decref(j);
        free(p);
    }
    srv_stop();
}

/* teams: POST the Adaptive Card message to the workflow URL as given. */
static void live_teams(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("teams");
    n.url = (char *)url("/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t");
    deliver(&n, p);
    assert_true(done_ok);
    const char *line =
        "POST /workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t HTTP/1.1\r\n";
    assert_memory_equal(srv.req, line, strlen(line));
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_json_post(body, NULL);
    json_t *j = parse(body);
    assert_string_equal(jget_str(j, "type"), "message");
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(jget_str(att, "contentType"), "application/vnd.microsoft.card.adaptive");
    assert_string_equal(jget_str(json_object_get(att, "content"), "type"), "AdaptiveCard");
    json_decref(j);
    free(p);
    srv_stop();
}

/* telegram: POST URL/botTOKEN/sendMessage, {"chat_id", "text"}; a token
 * that would leave the path is refused, without being named. */
static void live_telegram(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("telegram");
    n.url = (char *)url("/");
    n.bot_token = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
    n.chat_id = "@shipwatch_ops";
    deliver(&n, p);
    assert_true(done_ok);
    const char *line = "POST /bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage HTTP/1.1\r\n";
    assert_memory_equal(srv.req, line, strlen(line));
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_json_post(body, NULL);
    char want[1024];
    firing_text(want, sizeof(want));
    json_t *j = parse(body);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(jget_str(j, "chat_id"), "@shipwatch_ops");
    assert_string_equal(jget_str(j, "text"), want);
    json_decref(j);

    n.bot_token = "123/../x?y";
    deliver(&n, p);
    assert_false(done_ok);
    assert_int_equal(srv.requests, 1);
    assert_null(strstr(done_reason, "123/"));
    free(p);
    srv_stop();
}

/* mattermost and googlechat: JSON {text...} to the webhook URL as given. */
static void live_mattermost_googlechat(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    char want[1024];
    firing_text(want, sizeof(want));
    struct conf_notifier n = notifier("mattermost");
    n.url = (char *)url("/hooks/xxx-generatedkey-xxx");
    n.username = "shipwatch";
    n.channel = "ops";
    deliver(&n, p);
    assert_true(done_ok);
    assert_memory_equal(srv.req, "POST /hooks/xxx-generatedkey-xxx HTTP/1.1\r\n", 43);
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_json_post(body, NULL);
    json_t *j = parse(body);
    assert_string_equal(jget_str(j, "text"), want);
    assert_string_equal(jget_str(j, "username"), "shipwatch");
    assert_string_equal(jget_str(j, "channel"), "ops");
    json_decref(j);

    n = notifier("googlechat");
    n.url = (char *)url("/v1/spaces/AAA/messages?key=k&token=t");
    deliver(&n, p);
    assert_true(done_ok);
    const char *line = "POST /v1/spaces/AAA/messages?key=k&token=t HTTP/1.1\r\n";
    assert_memory_equal(srv.req, line, strlen(line));
    body = strstr(srv.req, "\r\n\r\n") + 4;
    char host[64], length[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d", srv.port);
    snprintf(length, sizeof(length), "Content-Length: %zu", strlen(body));
    const char *const want_h[] = {
        host,   "User-Agent: shipwatch/" SHIPWATCH_VERSION,
        "Accept: */*", "Content-Type: application/json; charset=UTF-8",
        length, NULL,
    };
    assert_headers_exactly(srv.req, want_h);
    j = parse(body);
    assert_int_equal(json_object_size(j), 1);
    assert_string_equal(jget_str(j, "text"), want);
    json_decref(j);
    free(p);
    srv_stop();
}

/* pushover: POST /1/messages.json under the url, form-encoded. */
static void live_pushover(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("pushover");
    n.url = (char *)url("");
    n.app_token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    n.user_key = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
    deliver(&n, p);
    assert_true(done_ok);
    assert_memory_equal(srv.req, "POST /1/messages.json HTTP/1.1\r\n", 32);
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    char host[64], length[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d", srv.port);
    snprintf(length, sizeof(length), "Content-Length: %zu", strlen(body));
    const char *const want[] = {
        host,   "User-Agent: shipwatch/" SHIPWATCH_VERSION,
        "Accept: */*", "Content-Type: application/x-www-form-urlencoded",
        length, NULL,
    };
    assert_headers_exactly(srv.req, want);
    char *r = notify_render(&n, p, T_CREATED);
    assert_string_equal(body, r);
    assert_memory_equal(body, "token=azGDORePK8gMaC0QOYAMyEEuzJnyUi&user=", 42);
    free(r);
    free(p);
    srv_stop();
}

/* gotify: POST URL/message with X-Gotify-Key, JSON. */
static void live_gotify(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("gotify");
    n.url = (char *)url("/gotify/");
    n.gotify_token = "AKsd8sdmc.Q6w";
    deliver(&n, p);
    assert_true(done_ok);
    assert_memory_equal(srv.req, "POST /gotify/message HTTP/1.1\r\n", 31);
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_json_post(body, "X-Gotify-Key: AKsd8sdmc.Q6w");
    json_t *j = parse(body);
    assert_string_equal(jget_str(j, "title"), "[FIRING] " SUMMARY);
    assert_int_equal(json_integer_value(json_object_get(j, "priority")), 8);
    json_decref(j);
    free(p);
    srv_stop();
}

/* matrix: PUT to the room's send URL, the room id encoded, a transaction
 * id the same for every try of one notification, the bearer token. */
static void live_matrix(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    struct conf_notifier n = notifier("matrix");
    n.url = (char *)url("/");
    n.access_token = "syt_c2hpcHdhdGNo_abcdef";
    n.room = "!ops:example.org";
    const char *line = "PUT /_matrix/client/v3/rooms/%21ops%3Aexample.org/send/m.room.message/"
                       "shipwatch-17-20261123100000120 HTTP/1.1\r\n";
    for (int i = 0; i < 2; i++) {
        deliver(&n, p);
        assert_true(done_ok);
        assert_int_equal(srv.requests, i + 1);
        assert_memory_equal(srv.req, line, strlen(line));
    }
    const char *body = strstr(srv.req, "\r\n\r\n") + 4;
    assert_json_post(body, "Authorization: Bearer syt_c2hpcHdhdGNo_abcdef");
    json_t *j = parse(body);
    assert_string_equal(jget_str(j, "msgtype"), "m.text");
    char want[1024];
    firing_text(want, sizeof(want));
    assert_string_equal(jget_str(j, "body"), want);
    json_decref(j);
    free(p);
    srv_stop();
}

/* Many at once, mixed, all end. */
static void live_many(void **state)
{
    srv_start(SRV_200);
    char *p = firing_payload();
    int flag = 0;
    struct conf_notifier h = notifier("webhook");
    h.url = (char *)url("/many");
    char *argv[] = {"/bin/sh", "-c", "cat > /dev/null", NULL};
    struct conf_notifier e = notifier("exec");
    e.argv = argv;
    for (int i = 0; i < 20; i++) {
        assert_non_null(start(i % 2 ? &h : &e, p, &flag));
    }
    assert_true(run_until_count(&flag, 20, WAIT_MS));
    assert_int_equal(flag, 20);
    assert_int_equal(srv.requests, 10);
    free(p);
    srv_stop();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *t = getenv("TEST_TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t != NULL ? t : "/tmp");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(live_webhook_200, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_slack_503, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_alertmanager_path, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_http_timeout, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_http_cancel, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_http_refused_and_bad, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_email, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_email_timeout_and_cancel, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_exec_delivers, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_exec_failures, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_exec_inherits_no_descriptor_and_a_minimal_env,
                                        live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_exec_timeout_kills_group, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_firing, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_resolved, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_basic_auth, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_pagerduty_trigger_resolve, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_opsgenie_create_ack_close, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_teams, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_telegram, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_mattermost_googlechat, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_pushover, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_gotify, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_matrix, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_many, live_setup, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
