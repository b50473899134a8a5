/* test_peer.c - the peer (ipc/peer.c) on one end of a socketpair: dispatch,
 * answers to broken requests, output, the version, every way it ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc_proto.h"
#include "ipc_wire.h"
#include "peer.h"

/* What a test peer saw. */
struct tpeer {
    struct peer p;
    int messages;               /* envelopes dispatched */
    enum ipc_kind kind;         /* of the last */
    uint32_t msgid;
    int gone;                   /* dispatch(NULL) calls */
    unsigned flags_gone;        /* p.flags then */
    int closed;                 /* ops.closed calls */
};

/* Count what came. */
static void tpeer_dispatch(struct peer *p, const struct ipc_envelope *env)
{
    struct tpeer *t = p->data;
    if (env == NULL) {
        t->gone++;
        t->flags_gone = p->flags;
        return;
    }
    t->messages++;
    t->kind = env->kind;
    t->msgid = env->msgid;
}

/* Count the close. */
static void tpeer_closed(struct peer *p)
{
    ((struct tpeer *)p->data)->closed++;
}

static const struct peer_ops tpeer_ops = {
    .dispatch = tpeer_dispatch,
    .closed = tpeer_closed,
    .read_chunk = 4096,
};

/* A started peer on one end of a socketpair; *raw is the other end. */
static void tpeer_open(uv_loop_t *loop, struct tpeer *t, int *raw)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    memset(t, 0, sizeof(*t));
    peer_init(&t->p, loop, &tpeer_ops, t);
    assert_int_equal(uv_pipe_open(&t->p.pipe, fds[0]), 0);
    assert_int_equal(peer_start(&t->p, &ipc_limits_server, 1 << 20), 0);
    *raw = fds[1];
}

/* Run the loop until *done or a second passes. */
static void spin(uv_loop_t *loop, const int *done)
{
    for (int i = 0; i < 1000 && !*done; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (!*done) {
            poll(NULL, 0, 1);
        }
    }
}

/* The next message the peer wrote to raw, as an envelope in rd; the loop
 * runs meanwhile. */
static void raw_next(uv_loop_t *loop, int raw, struct ipc_reader *rd, struct ipc_envelope *env)
{
    char why[256];
    for (int i = 0;; i++) {
        enum ipc_wire_err e = ipc_reader_next_envelope(rd, env, why, sizeof(why));
        if (e == IPC_WIRE_OK) {
            return;
        }
        assert_int_equal(e, IPC_WIRE_MORE);
        assert_true(i < 2000);
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd pfd = {.fd = raw, .events = POLLIN};
        if (poll(&pfd, 1, 1) != 1) {
            continue;
        }
        char buf[4096];
        ssize_t n = read(raw, buf, sizeof(buf));
        assert_true(n > 0);
        assert_int_equal(ipc_reader_feed(rd, buf, (size_t)n), 0);
    }
}

/* The code of an error response. */
static enum ipc_errcode error_code(const struct ipc_envelope *env)
{
    struct ipc_error e = {0};
    char why[256];
    assert_int_equal(env->kind, IPC_RESPONSE);
    assert_int_equal(ipc_type_unpack(env->error, &ipc_error_type, &e, why, sizeof(why)), 0);
    enum ipc_errcode c = ipc_errcode_parse(e.code, strlen(e.code));
    ipc_type_finish(&ipc_error_type, &e);
    return c;
}

/* Messages are dispatched; a broken request is answered and the stream
 * goes on; output arrives whole; the version check; bytes that are not
 * msgpack mark the peer bad and drop it, dispatch NULL then closed. */
static void test_peer(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct tpeer t;
    int raw;
    tpeer_open(&loop, &t, &raw);
    struct ipc_reader rd;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_client), 0);
    struct ipc_envelope env;

    /* Two requests in one write, one split over two. */
    static const unsigned char two[] = "\x94\x00\x05\xaastatus.get\x90"
                                       "\x94\x00\x06\xaastatus.get\x90";
    assert_int_equal(write(raw, two, sizeof(two) - 1), (ssize_t)sizeof(two) - 1);
    assert_int_equal(write(raw, two, 5), 5);
    for (int i = 0; i < 1000 && t.messages < 2; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(t.messages, 2);
    assert_int_equal(t.msgid, 6);
    assert_int_equal(write(raw, two + 5, 10), 10);
    for (int i = 0; i < 1000 && t.messages < 3; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(t.messages, 3);
    assert_int_equal(t.kind, IPC_REQUEST);
    assert_int_equal(t.msgid, 5);

    /* A request of the wrong shape with a msgid: malformed, still open. */
    static const unsigned char shape[] = "\x94\x00\x07\x2a\x90";
    assert_int_equal(write(raw, shape, sizeof(shape) - 1), (ssize_t)sizeof(shape) - 1);
    raw_next(&loop, raw, &rd, &env);
    assert_int_equal(env.msgid, 7);
    assert_int_equal(error_code(&env), IPC_E_MALFORMED);
    assert_int_equal(t.gone, 0);

    /* What the peer sends arrives whole. */
    peer_send_error(&t.p, 9, IPC_E_NOT_FOUND, "no check named %s", "x");
    raw_next(&loop, raw, &rd, &env);
    assert_int_equal(env.msgid, 9);
    assert_int_equal(error_code(&env), IPC_E_NOT_FOUND);
    assert_int_equal(peer_queued(&t.p), 0);

    /* The version. */
    assert_int_equal(peer_check_version(&t.p, IPC_PROTOCOL + 1), -EPROTONOSUPPORT);
    assert_false(t.p.flags & PEER_VERSION_OK);
    assert_int_equal(peer_check_version(&t.p, IPC_PROTOCOL), 0);
    assert_true(t.p.flags & PEER_VERSION_OK);

    /* Not msgpack: bad, dropped without an answer. */
    assert_int_equal(write(raw, "\xc1", 1), 1);
    spin(&loop, &t.closed);
    assert_int_equal(t.gone, 1);
    assert_true(t.flags_gone & PEER_BAD);
    assert_int_equal(t.closed, 1);
    char c;
    assert_int_equal(read(raw, &c, 1), 0);  /* closed, nothing written */
    close(raw);
    ipc_reader_finish(&rd);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* An oversized request is answered too_large, then the peer is dropped;
 * the other side closing is PEER_EOF, not bad; peer_close by the owner
 * dispatches NULL once. */
static void test_peer_ends(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct tpeer t;
    int raw;
    struct ipc_reader rd;
    struct ipc_envelope env;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_client), 0);

    tpeer_open(&loop, &t, &raw);
    /* A 2 MiB string declared in a request with msgid 256. */
    static const unsigned char big[] = "\x94\x00\xcd\x01\x00\xa4ping\x91\xdb\x00\x20\x00\x00";
    assert_int_equal(write(raw, big, sizeof(big) - 1), (ssize_t)sizeof(big) - 1);
    raw_next(&loop, raw, &rd, &env);
    assert_int_equal(env.msgid, 256);
    assert_int_equal(error_code(&env), IPC_E_TOO_LARGE);
    spin(&loop, &t.closed);
    assert_int_equal(t.gone, 1);
    assert_true(t.flags_gone & PEER_BAD);
    close(raw);

    tpeer_open(&loop, &t, &raw);
    close(raw);
    spin(&loop, &t.closed);
    assert_int_equal(t.gone, 1);
    assert_true(t.flags_gone & PEER_EOF);
    assert_false(t.flags_gone & PEER_BAD);

    tpeer_open(&loop, &t, &raw);
    peer_close(&t.p, NULL);
    peer_close(&t.p, "twice");
    peer_send(&t.p, "\xc0", 1);     /* nothing happens */
    spin(&loop, &t.closed);
    assert_int_equal(t.gone, 1);
    assert_string_equal(t.p.error, "");
    assert_int_equal(t.closed, 1);
    close(raw);

    ipc_reader_finish(&rd);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer),
        cmocka_unit_test(test_peer_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
