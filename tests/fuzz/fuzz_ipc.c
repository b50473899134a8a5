/* fuzz_ipc.c - libFuzzer: a peer's bytes on the socket.
 * Input: one byte giving the size of each read (0: all at once), then the
 * stream. The stream goes through an ipc_reader with the daemon's limits as
 * the daemon reads it; every whole message is parsed as an envelope, a
 * request's params decoded as its method's type (and as a notice), a
 * response's error and result as every result type. The same stream also
 * goes through a second reader read the way every peer reads
 * (ipc_reader_next_envelope). Aborts when the walk and msgpack-c disagree
 * on a message, when decoded params do not encode and decode back to the
 * same bytes, or when the peers' read path sees other messages, envelopes
 * or errors than the first reader. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_proto.h"
#include "ipc_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode o as t into a zeroed value and free it; 0 or -1 as ipc_type_unpack. */
static int unpack_as(const msgpack_object *o, const struct ipc_type *t)
{
    char why[256] = "";
    void *v = calloc(1, t->size);
    if (v == NULL) {
        return 0;
    }
    int rc = ipc_type_unpack(o, t, v, why, sizeof(why));
    if (rc < 0 && why[0] == '\0') {
        abort();
    }
    ipc_type_finish(t, v);
    free(v);
    return rc;
}

/* Encode params v of m, decode that, encode again: the decode must succeed
 * and both encodings be the same bytes. */
static void reencode(const struct ipc_method *m, const void *v)
{
    msgpack_sbuffer a, b;
    msgpack_unpacked u;
    struct ipc_envelope env;
    char why[256];
    size_t off = 0;

    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    msgpack_unpacked_init(&u);
    void *w = calloc(1, m->params->size);
    if (w == NULL) {
        goto out;
    }
    ipc_encode_request(&a, 1, m, v);
    if (msgpack_unpack_next(&u, a.data, a.size, &off) != MSGPACK_UNPACK_SUCCESS || off != a.size) {
        abort();
    }
    if (ipc_envelope_parse(&u.data, &env, why, sizeof(why)) != 0) {
        abort();
    }
    if (ipc_decode_params(env.params, m->params, w, why, sizeof(why)) != 0) {
        abort();
    }
    ipc_encode_request(&b, 1, m, w);
    if (a.size != b.size || memcmp(a.data, b.data, a.size) != 0) {
        abort();
    }
out:
    if (w != NULL) {
        ipc_type_finish(m->params, w);
        free(w);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&b);
    msgpack_sbuffer_destroy(&a);
}

/* What the daemon (requests) and the client (responses, notifications) do
 * with one message; counts the well-formed envelopes in *envelopes. */
static void handle(const msgpack_object *o, size_t *envelopes)
{
    struct ipc_envelope env;
    char why[256] = "";

    if (ipc_envelope_parse(o, &env, why, sizeof(why)) != 0) {
        if (why[0] == '\0') {
            abort();
        }
        return;
    }
    (*envelopes)++;
    if (env.kind == IPC_RESPONSE) {
        unpack_as(env.error, &ipc_error_type);
        for (size_t i = 0; i < IPC_M_COUNT; i++) {
            unpack_as(env.result, ipc_methods[i].result);
        }
        return;
    }
    if (env.params->via.array.size > 0) {
        unpack_as(&env.params->via.array.ptr[0], &ipc_notice_type);
    }
    if (env.kind != IPC_REQUEST) {
        return;
    }
    const struct ipc_method *m = ipc_method_find(env.method, env.method_len);
    if (m == NULL) {
        return;
    }
    if (m->params == NULL) {
        ipc_decode_params(env.params, NULL, NULL, why, sizeof(why));
        return;
    }
    void *v = calloc(1, m->params->size);
    if (v == NULL) {
        return;
    }
    if (ipc_decode_params(env.params, m->params, v, why, sizeof(why)) == 0) {
        reencode(m, v);
    }
    ipc_type_finish(m->params, v);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t chunk = data[0] != 0 ? data[0] : size;
    data++;
    size--;

    struct ipc_reader rd, peer_rd;
    if (ipc_reader_init(&rd, &ipc_limits_server) != 0) {
        return 0;
    }
    if (ipc_reader_init(&peer_rd, &ipc_limits_server) != 0) {
        ipc_reader_finish(&rd);
        return 0;
    }
    /* Whole messages and well-formed envelopes, by each reader. */
    size_t messages = 0, envelopes = 0, peer_messages = 0, peer_envelopes = 0;
    bool peer_dead = false;
    bool dead = false;
    bool oom = false;           /* a reader ran out of memory: no verdict */
    unsigned reads = 0;
    for (size_t off = 0; off < size && !dead; reads++) {
        size_t k = size - off < chunk ? size - off : chunk;
        /* Both ways bytes come in: copied, or read into the buffer. */
        if (reads % 2 == 0) {
            if (ipc_reader_feed(&rd, data + off, k) != 0) {
                oom = true;
                break;
            }
        } else {
            size_t avail = 0;
            char *buf = ipc_reader_buffer(&rd, k, &avail);
            if (buf == NULL) {
                oom = true;
                break;
            }
            if (avail < k) {
                abort();
            }
            memcpy(buf, data + off, k);
            ipc_reader_consumed(&rd, k);
        }
        if (!peer_dead && ipc_reader_feed(&peer_rd, data + off, k) != 0) {
            oom = true;
            break;
        }
        off += k;
        while (!peer_dead) {
            struct ipc_envelope env;
            char why[256] = "";
            enum ipc_wire_err e = ipc_reader_next_envelope(&peer_rd, &env, why, sizeof(why));
            if (e == IPC_WIRE_MORE) {
                break;
            }
            if (e != IPC_WIRE_OK && why[0] == '\0') {
                abort(); /* every refusal says why */
            }
            if (e == IPC_WIRE_OK || e == IPC_WIRE_ENVELOPE) {
                peer_messages++;
                peer_envelopes += e == IPC_WIRE_OK;
            } else {
                peer_dead = true;
            }
        }
        for (;;) {
            /* The walk's verdict on what is buffered, to hold msgpack-c to. */
            size_t before = ipc_reader_pending(&rd);
            size_t len = 0;
            enum ipc_wire_err scan = ipc_wire_scan((const unsigned char *)rd.up.buffer + rd.up.off,
                                                   before, &rd.lim, &len);
            msgpack_object *o = NULL;
            uint32_t msgid = 0;
            bool has_msgid = false;
            enum ipc_wire_err e = ipc_reader_next(&rd, &o, &msgid, &has_msgid);
            if (e == IPC_WIRE_MORE) {
                /* An unfinished message never holds more than the limit. */
                if (ipc_reader_pending(&rd) > rd.lim.max_message) {
                    abort();
                }
                break;
            }
            if (e != IPC_WIRE_OK) {
                if (scan == IPC_WIRE_OK) {
                    abort(); /* the walk passed what msgpack-c refused */
                }
                dead = true;
                break;
            }
            if (scan != IPC_WIRE_OK || before - ipc_reader_pending(&rd) != len) {
                abort(); /* msgpack-c took a message of another size */
            }
            messages++;
            handle(o, &envelopes);
        }
    }
    /* Both readers saw the same bytes: the same messages, envelopes and end. */
    if (!oom && (messages != peer_messages || envelopes != peer_envelopes || dead != peer_dead)) {
        abort();
    }
    ipc_reader_finish(&peer_rd);
    ipc_reader_finish(&rd);
    return 0;
}
