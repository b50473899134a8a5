/* grpcmsg.c - gRPC's health check request and reply, by hand (grpcmsg.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "grpcmsg.h"
#include "utf8.h"
#include "util.h"

#define MSG_HEADER 5            /* compressed flag, 4-byte length */
#define VARINT_MAX 10           /* bytes of a 64-bit varint at most */

/* Protobuf's wire types. */
enum wire {
    WIRE_VARINT = 0,
    WIRE_I64 = 1,
    WIRE_LEN = 2,
    WIRE_SGROUP = 3,
    WIRE_EGROUP = 4,
    WIRE_I32 = 5,
};

/* Append the varint of v to out at *at (room already checked). */
static void put_varint(unsigned char *out, size_t *at, uint64_t v)
{
    while (v >= 0x80) {
        out[(*at)++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[(*at)++] = (unsigned char)v;
}

int grpcmsg_request(const char *service, unsigned char *out, size_t len)
{
    size_t n = strlen(service);
    if (n > GRPCMSG_SERVICE_MAX) {
        return -ENAMETOOLONG;
    }
    /* proto3 leaves an empty string out: the message is then empty. */
    size_t body = n == 0 ? 0 : 1 + (n < 0x80 ? 1 : 2) + n;
    if (len < MSG_HEADER + body) {
        return -ENOSPC;
    }
    size_t at = 0;
    out[at++] = 0;              /* not compressed */
    out[at++] = (unsigned char)(body >> 24);
    out[at++] = (unsigned char)(body >> 16);
    out[at++] = (unsigned char)(body >> 8);
    out[at++] = (unsigned char)body;
    if (n > 0) {
        out[at++] = (1 << 3) | WIRE_LEN;
        put_varint(out, &at, n);
        memcpy(out + at, service, n);
        at += n;
    }
    return (int)at;
}

/* Read a varint at b[*at..n): false when it runs past n or over 10 bytes,
 * or its tenth byte holds more than the 64th bit. */
static bool get_varint(const unsigned char *b, size_t n, size_t *at, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < VARINT_MAX; i++) {
        if (*at >= n) {
            return false;
        }
        unsigned char c = b[(*at)++];
        if (i == VARINT_MAX - 1 && c > 1) {
            return false;
        }
        r |= (uint64_t)(c & 0x7f) << (7 * i);
        if ((c & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Read a HealthCheckResponse, b[0..n), into reply. 0 or -EINVAL with why. */
static int read_response(const unsigned char *b, size_t n, struct grpcmsg_reply *reply)
{
    size_t at = 0;
    while (at < n) {
        uint64_t tag, v;
        if (!get_varint(b, n, &at, &tag)) {
            reply->why = "malformed protobuf: a field's tag is cut or too long";
            return -EINVAL;
        }
        uint64_t field = tag >> 3;
        unsigned wire = (unsigned)(tag & 7);
        if (field == 0 || field > 0x1fffffff) {
            reply->why = "malformed protobuf: a field number out of range";
            return -EINVAL;
        }
        if (field == 1 && wire != WIRE_VARINT) {
            reply->why = "malformed protobuf: status is not a varint";
            return -EINVAL;
        }
        switch (wire) {
        case WIRE_VARINT:
            if (!get_varint(b, n, &at, &v)) {
                reply->why = "malformed protobuf: a varint is cut or too long";
                return -EINVAL;
            }
            if (field == 1) {
                /* An enum is an int32: a negative one is sent sign-extended. */
                reply->status = (int64_t)(int32_t)(uint32_t)v;
            }
            break;
        case WIRE_I64:
        case WIRE_I32:
            v = wire == WIRE_I64 ? 8 : 4;
            if (n - at < v) {
                reply->why = "malformed protobuf: a fixed-size field is cut";
                return -EINVAL;
            }
            at += (size_t)v;
            break;
        case WIRE_LEN:
            if (!get_varint(b, n, &at, &v)) {
                reply->why = "malformed protobuf: a length is cut or too long";
                return -EINVAL;
            }
            if (v > n - at) {
                reply->why = "malformed protobuf: a field runs past the message";
                return -EINVAL;
            }
            at += (size_t)v;
            break;
        default:
            reply->why = "malformed protobuf: a group or an unknown wire type";
            return -EINVAL;
        }
    }
    return 0;
}

int grpcmsg_read_reply(const unsigned char *b, size_t n, struct grpcmsg_reply *reply)
{
    *reply = (struct grpcmsg_reply){.status = GRPCMSG_UNKNOWN};
    if (n > GRPCMSG_REPLY_MAX) {
        reply->why = "reply body too large";
        return -EMSGSIZE;
    }
    if (n == 0) {
        reply->why = "no message in the reply";
        return -ENODATA;
    }
    if (n < MSG_HEADER) {
        reply->why = "malformed reply: message header cut";
        return -EINVAL;
    }
    if (b[0] > 1) {
        reply->why = "malformed reply: bad compressed flag";
        return -EINVAL;
    }
    if (b[0] == 1) {
        reply->why = "compressed message, which was not asked for";
        return -ENOTSUP;
    }
    uint32_t len = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    if (len > GRPCMSG_REPLY_MAX - MSG_HEADER) {
        reply->why = "reply message too large";
        return -EMSGSIZE;
    }
    if (len > n - MSG_HEADER) {
        reply->why = "malformed reply: message cut";
        return -EINVAL;
    }
    if (len < n - MSG_HEADER) {
        reply->why = "malformed reply: more than one message";
        return -EINVAL;
    }
    return read_response(b + MSG_HEADER, len, reply);
}

const char *grpcmsg_serving_name(int64_t status)
{
    static const char *const names[] = {
        [GRPCMSG_UNKNOWN] = "UNKNOWN",
        [GRPCMSG_SERVING] = "SERVING",
        [GRPCMSG_NOT_SERVING] = "NOT_SERVING",
        [GRPCMSG_SERVICE_UNKNOWN] = "SERVICE_UNKNOWN",
    };
    return status >= 0 && status < (int64_t)ARRAY_SIZE(names) ? names[status] : "UNRECOGNIZED";
}

int grpcmsg_parse_code(const char *s, size_t n, int *code)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        n--;
    }
    if (n == 0 || n > 3) {
        return -EINVAL;
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (s[i] - '0');
    }
    *code = v;
    return 0;
}

const char *grpcmsg_code_name(int code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    return code >= 0 && code < (int)ARRAY_SIZE(names) ? names[code] : NULL;
}

/* The value of hex digit c, or -1. */
static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

size_t grpcmsg_unescape(const char *s, size_t n, char *out, size_t len)
{
    /* Percent-decoded first, then checked: escapes may spell UTF-8. */
    unsigned char raw[512];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(raw); i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex(s[i + 1])) >= 0 && (lo = hex(s[i + 2])) >= 0) {
            raw[k++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else {
            raw[k++] = (unsigned char)s[i];
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < k;) {
        size_t l = utf8_seq_len(raw + i, k - i);
        if (l == 0 || raw[i] < 0x20 || raw[i] == 0x7f) {
            l = 1;
            if (w + 1 >= len) {
                break;
            }
            out[w++] = '?';
        } else {
            if (w + l >= len) {
                break;
            }
            memcpy(out + w, raw + i, l);
            w += l;
        }
        i += l;
    }
    out[w] = '\0';
    return w;
}
