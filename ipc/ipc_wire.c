/* ipc_wire.c - msgpack-RPC framing with limits. */
#include "ipc_wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


const struct ipc_limits ipc_limits_server = {
    .max_message = 1u << 20,
    .max_depth = 16,
    .max_string = 64u << 10,
    .max_elements = 10000,
    .max_objects = 20000,
};

const struct ipc_limits ipc_limits_client = {
    .max_message = 64u << 20,
    .max_depth = 32,
    .max_string = 1u << 20,
    .max_elements = 1000000,
    .max_objects = 4000000,
};

const char *ipc_wire_strerror(enum ipc_wire_err e)
{
    switch (e) {
    case IPC_WIRE_OK:
        return "ok";
    case IPC_WIRE_MORE:
        return "truncated message";
    case IPC_WIRE_INVALID:
        return "not msgpack";
    case IPC_WIRE_TOO_BIG:
        return "message too large";
    case IPC_WIRE_TOO_DEEP:
        return "message nested too deeply";
    case IPC_WIRE_STRING:
        return "string too long";
    case IPC_WIRE_ELEMENTS:
        return "array or map too long";
    case IPC_WIRE_OBJECTS:
        return "too many objects in one message";
    case IPC_WIRE_ENVELOPE:
        return "not a msgpack-RPC message";
    }
    return "unknown error";
}

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Walk from where st left off. On IPC_WIRE_MORE, st records the start of
 * the first item not yet whole and the containers open around it, so the
 * next call goes on from there: a message trickled in a byte at a time is
 * walked once, not once per byte. */
static enum ipc_wire_err scan(struct ipc_scan *st, const unsigned char *p, size_t n,
                              const struct ipc_limits *lim, size_t *len)
{
    uint64_t *stack = st->stack;    /* items left in each open container */
    unsigned max_depth = lim->max_depth < IPC_SCAN_DEPTH ? lim->max_depth : IPC_SCAN_DEPTH;
    size_t max = lim->max_message;
    size_t i = st->pos;

    for (;;) {
        /* Everything before i is whole: resume here next time. */
        st->pos = i;
        if (i >= n) {
            return IPC_WIRE_MORE;
        }
        unsigned char b = p[i];
        size_t hdr = 1;             /* type byte and length field */
        size_t lenbytes = 0;        /* size of the length field */
        uint64_t payload = 0;       /* bytes after the header */
        uint64_t entries = 0;       /* container: entries (pairs for a map) */
        unsigned items_per = 0;     /* container: 1 array, 2 map; 0 scalar */
        bool sized = false;         /* a str, bin or ext */
        uint64_t declared = 0;      /* its declared length */

        if (b <= 0x7f || b >= 0xe0) {
            /* fixint */
        } else if (b <= 0x8f) {
            entries = b & 0x0f;
            items_per = 2;
        } else if (b <= 0x9f) {
            entries = b & 0x0f;
            items_per = 1;
        } else if (b <= 0xbf) {
            payload = declared = b & 0x1f;
            sized = true;
        } else {
            switch (b) {
            case 0xc0: case 0xc2: case 0xc3:
                break;
            case 0xc1:
                return IPC_WIRE_INVALID;
            case 0xc4: case 0xd9: lenbytes = 1; sized = true; break;
            case 0xc5: case 0xda: lenbytes = 2; sized = true; break;
            case 0xc6: case 0xdb: lenbytes = 4; sized = true; break;
            case 0xc7: lenbytes = 1; sized = true; payload = 1; break;  /* + ext type */
            case 0xc8: lenbytes = 2; sized = true; payload = 1; break;
            case 0xc9: lenbytes = 4; sized = true; payload = 1; break;
            case 0xca: payload = 4; break;
            case 0xcb: payload = 8; break;
            case 0xcc: case 0xd0: payload = 1; break;
            case 0xcd: case 0xd1: payload = 2; break;
            case 0xce: case 0xd2: payload = 4; break;
            case 0xcf: case 0xd3: payload = 8; break;
            case 0xd4: payload = 2; break;
            case 0xd5: payload = 3; break;
            case 0xd6: payload = 5; break;
            case 0xd7: payload = 9; break;
            case 0xd8: payload = 17; break;
            case 0xdc: lenbytes = 2; items_per = 1; break;
            case 0xdd: lenbytes = 4; items_per = 1; break;
            case 0xde: lenbytes = 2; items_per = 2; break;
            case 0xdf: lenbytes = 4; items_per = 2; break;
            default:
                return IPC_WIRE_INVALID;
            }
        }
        hdr += lenbytes;
        if (i + hdr > max) {
            return IPC_WIRE_TOO_BIG;
        }
        if (i + hdr > n) {
            return IPC_WIRE_MORE;
        }
        if (lenbytes > 0) {
            uint64_t v = be(p + i + 1, lenbytes);
            if (items_per > 0) {
                entries = v;
            } else {
                declared = v;
                payload += v;
            }
        }
        i += hdr;
        /* Every object costs a msgpack_object when unpacked, a nil as much
         * as a map: bound their number, not only the bytes. Counted once
         * the object is walked whole (or, for a container, opened). */
        if (lim->max_objects > 0 && st->objects >= lim->max_objects) {
            return IPC_WIRE_OBJECTS;
        }

        if (items_per > 0) {
            if (entries > lim->max_elements) {
                return IPC_WIRE_ELEMENTS;
            }
            /* An empty container is a level of nesting too. */
            if (st->depth >= max_depth) {
                return IPC_WIRE_TOO_DEEP;
            }
            st->objects++;
            if (entries > 0) {
                stack[st->depth++] = entries * items_per;
                continue;
            }
        } else {
            if (sized && declared > lim->max_string) {
                return IPC_WIRE_STRING;
            }
            if (payload > max - i) {
                return IPC_WIRE_TOO_BIG;
            }
            if (payload > n - i) {
                return IPC_WIRE_MORE;
            }
            i += payload;
            st->objects++;
        }

        /* An item ended: close every container it was the last item of. */
        while (st->depth > 0) {
            if (--stack[st->depth - 1] > 0) {
                break;
            }
            st->depth--;
        }
        if (st->depth == 0) {
            *len = i;
            return IPC_WIRE_OK;
        }
    }
}

enum ipc_wire_err ipc_wire_scan(const unsigned char *p, size_t n, const struct ipc_limits *lim,
                                size_t *len)
{
    struct ipc_scan st = {0};
    return scan(&st, p, n, lim, len);
}

bool ipc_wire_peek_msgid(const unsigned char *p, size_t n, uint32_t *msgid)
{
    if (n < 3 || p[0] != 0x94 || p[1] != 0x00) {
        return false;
    }
    unsigned char b = p[2];
    size_t w;
    if (b <= 0x7f) {
        *msgid = b;
        return true;
    }
    /* Any integer encoding of a value in 0..UINT32_MAX, as the envelope
     * parser (through msgpack-c) accepts. */
    switch (b) {
    case 0xcc: case 0xd0: w = 1; break;
    case 0xcd: case 0xd1: w = 2; break;
    case 0xce: case 0xd2: w = 4; break;
    case 0xcf: case 0xd3: w = 8; break;
    default:
        return false;
    }
    if (n < 3 + w) {
        return false;
    }
    uint64_t v = be(p + 3, w);
    bool is_signed = b >= 0xd0;
    if ((is_signed && (p[3] & 0x80)) || v > UINT32_MAX) {
        return false;
    }
    *msgid = (uint32_t)v;
    return true;
}

/* --- reader --- */

/* A small first buffer: a thousand idle clients must stay cheap. The
 * unpacker grows it for a large message. */
#define READER_INITIAL 4096

int ipc_reader_init(struct ipc_reader *r, const struct ipc_limits *lim)
{
    memset(r, 0, sizeof(*r));
    r->lim = *lim;
    if (!msgpack_unpacker_init(&r->up, READER_INITIAL)) {
        return -ENOMEM;
    }
    msgpack_unpacked_init(&r->msg);
    return 0;
}

void ipc_reader_finish(struct ipc_reader *r)
{
    msgpack_unpacked_destroy(&r->msg);
    if (r->up.ctx != NULL) {
        msgpack_unpacker_destroy(&r->up);
    }
}

char *ipc_reader_buffer(struct ipc_reader *r, size_t want, size_t *avail)
{
    if (r->up.ctx == NULL && !msgpack_unpacker_init(&r->up, READER_INITIAL)) {
        memset(&r->up, 0, sizeof(r->up));
        return NULL;
    }
    if (msgpack_unpacker_buffer_capacity(&r->up) < want &&
        !msgpack_unpacker_reserve_buffer(&r->up, want)) {
        return NULL;
    }
    *avail = msgpack_unpacker_buffer_capacity(&r->up);
    return msgpack_unpacker_buffer(&r->up);
}

void ipc_reader_consumed(struct ipc_reader *r, size_t n)
{
    msgpack_unpacker_buffer_consumed(&r->up, n);
}

int ipc_reader_feed(struct ipc_reader *r, const void *p, size_t n)
{
    size_t avail;
    char *buf = ipc_reader_buffer(r, n, &avail);
    if (buf == NULL) {
        return -ENOMEM;
    }
    memcpy(buf, p, n);
    ipc_reader_consumed(r, n);
    return 0;
}

/* A buffer grown past this for one large message is given back once the
 * message is handled and nothing follows it. */
#define READER_KEEP (READER_INITIAL * 4)

void ipc_reader_trim(struct ipc_reader *r)
{
    /* The message's zone, and with it its hold on the buffer. */
    msgpack_unpacked_destroy(&r->msg);
    msgpack_unpacked_init(&r->msg);
    if (ipc_reader_pending(r) == 0 && ipc_reader_capacity(r) > READER_KEEP) {
        /* In place: the unpacker's context points into the struct. Out of
         * memory, it stays unset until ipc_reader_buffer next needs it. */
        msgpack_unpacker_destroy(&r->up);
        if (!msgpack_unpacker_init(&r->up, READER_INITIAL)) {
            memset(&r->up, 0, sizeof(r->up));
        }
        memset(&r->scan, 0, sizeof(r->scan));
        r->scan_off = 0;
    }
}

size_t ipc_reader_capacity(const struct ipc_reader *r)
{
    return r->up.used + r->up.free;
}

size_t ipc_reader_pending(const struct ipc_reader *r)
{
    /* The unpacker's buffer fields are public in msgpack-c: bytes between
     * off and used are buffered and not yet unpacked. */
    return r->up.used - r->up.off;
}

enum ipc_wire_err ipc_reader_next(struct ipc_reader *r, msgpack_object **obj, uint32_t *msgid,
                                  bool *has_msgid)
{
    const unsigned char *p = (const unsigned char *)r->up.buffer + r->up.off;
    size_t n = ipc_reader_pending(r);
    size_t len = 0;

    *has_msgid = false;
    if (n == 0) {
        ipc_reader_trim(r);
        return IPC_WIRE_MORE;
    }
    /* Resume the walk where the last call stopped, unless a message was
     * taken off the front since (the unpacker's offset moved). */
    if (r->scan_off != r->up.off) {
        memset(&r->scan, 0, sizeof(r->scan));
        r->scan_off = r->up.off;
    }
    enum ipc_wire_err e = scan(&r->scan, p, n, &r->lim, &len);
    if (e == IPC_WIRE_MORE) {
        /* The last message returned is no longer used (its pointers were
         * valid until this call): give its objects back now, not at the
         * next message, which may never come. */
        msgpack_unpacked_destroy(&r->msg);
        msgpack_unpacked_init(&r->msg);
        return e;
    }
    memset(&r->scan, 0, sizeof(r->scan));
    if (e != IPC_WIRE_OK) {
        *has_msgid = ipc_wire_peek_msgid(p, n, msgid);
        return e;
    }
    /* The walk saw a whole message within limits: unpacking it is bounded. */
    msgpack_unpack_return rc = msgpack_unpacker_next(&r->up, &r->msg);
    if (rc != MSGPACK_UNPACK_SUCCESS) {
        *has_msgid = ipc_wire_peek_msgid(p, n, msgid);
        return rc == MSGPACK_UNPACK_NOMEM_ERROR ? IPC_WIRE_TOO_BIG : IPC_WIRE_INVALID;
    }
    *obj = &r->msg.data;
    return IPC_WIRE_OK;
}

/* --- envelopes --- */

static bool get_u32(const msgpack_object *o, uint32_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX) {
        return false;
    }
    *v = (uint32_t)o->via.u64;
    return true;
}

int ipc_envelope_parse(const msgpack_object *o, struct ipc_envelope *env, char *why,
                       size_t whylen)
{
    memset(env, 0, sizeof(*env));
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1) {
        snprintf(why, whylen, "a message must be an array of 3 or 4 elements");
        return -1;
    }
    const msgpack_object *a = o->via.array.ptr;
    uint32_t kind;
    if (!get_u32(&a[0], &kind) || kind > IPC_NOTIFY) {
        snprintf(why, whylen, "the first element must be 0, 1 or 2");
        return -1;
    }
    env->kind = (enum ipc_kind)kind;
    /* The msgid first, so even a misshapen request can be answered. */
    if (kind != IPC_NOTIFY && o->via.array.size >= 2 && get_u32(&a[1], &env->msgid)) {
        env->has_msgid = true;
    }
    if (o->via.array.size < 3 || o->via.array.size > 4) {
        snprintf(why, whylen, "a message must be an array of 3 or 4 elements");
        return -1;
    }
    if (kind == IPC_NOTIFY) {
        if (o->via.array.size != 3) {
            snprintf(why, whylen, "a notification has 3 elements");
            return -1;
        }
        if (a[1].type != MSGPACK_OBJECT_STR) {
            snprintf(why, whylen, "the method must be a string");
            return -1;
        }
        if (a[2].type != MSGPACK_OBJECT_ARRAY) {
            snprintf(why, whylen, "params must be an array");
            return -1;
        }
        env->method = a[1].via.str.ptr;
        env->method_len = a[1].via.str.size;
        env->params = &a[2];
        return 0;
    }
    if (o->via.array.size != 4) {
        snprintf(why, whylen, "a %s has 4 elements", kind == IPC_REQUEST ? "request" : "response");
        return -1;
    }
    if (!env->has_msgid) {
        snprintf(why, whylen, "the msgid must be an unsigned 32-bit integer");
        return -1;
    }
    if (kind == IPC_RESPONSE) {
        env->error = &a[2];
        env->result = &a[3];
        return 0;
    }
    if (a[2].type != MSGPACK_OBJECT_STR) {
        snprintf(why, whylen, "the method must be a string");
        return -1;
    }
    if (a[3].type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "params must be an array");
        return -1;
    }
    env->method = a[2].via.str.ptr;
    env->method_len = a[2].via.str.size;
    env->params = &a[3];
    return 0;
}

/* The next message, whole and shaped as an envelope. */
enum ipc_wire_err ipc_reader_next_envelope(struct ipc_reader *r, struct ipc_envelope *env,
                                           char *why, size_t whylen)
{
    msgpack_object *o;
    uint32_t msgid = 0;
    bool has_msgid = false;
    enum ipc_wire_err e = ipc_reader_next(r, &o, &msgid, &has_msgid);
    if (e != IPC_WIRE_OK) {
        memset(env, 0, sizeof(*env));
        /* Only a request's id can be peeked (ipc_wire_peek_msgid). */
        env->kind = IPC_REQUEST;
        env->msgid = msgid;
        env->has_msgid = has_msgid;
        snprintf(why, whylen, "%s", ipc_wire_strerror(e));
        return e;
    }
    if (ipc_envelope_parse(o, env, why, whylen) < 0) {
        return IPC_WIRE_ENVELOPE;
    }
    return IPC_WIRE_OK;
}

void ipc_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (s == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void ipc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, IPC_REQUEST);
    msgpack_pack_uint32(pk, msgid);
    ipc_pack_cstr(pk, method);
}

void ipc_pack_response_head(msgpack_packer *pk, uint32_t msgid)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, IPC_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
}

void ipc_pack_notify_head(msgpack_packer *pk, const char *method)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, IPC_NOTIFY);
    ipc_pack_cstr(pk, method);
}
