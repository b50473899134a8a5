/* dnsmsg.c - a DNS reply's response code and answers as text (dnsmsg.h).
 *
 * The walk is RFC 1035 section 4: a 12-byte header, the questions, then
 * the answers, each a name, type, class, TTL and its data. Names, also
 * those inside data (MX, SRV, SOA, ...), go through c-ares's
 * ares_expand_name, which follows compression pointers and refuses loops
 * and names running past the reply. */
#include <arpa/inet.h>
#include <sys/select.h> /* fd_set, which ares.h uses unincluded */
#include <sys/time.h>
#include <ares.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "util.h"

#define HEADER_LEN 12
#define RR_FIXED_LEN 10         /* type, class, TTL, data length */
#define ANSWER_SEP ", "

/* Query types, RFC 1035 3.2.2, RFC 3596 (AAAA), RFC 2782 (SRV). */
enum { T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_PTR = 12, T_MX = 15, T_TXT = 16,
       T_AAAA = 28, T_SRV = 33 };

const char *const dnsmsg_record_names[] = {"A",   "AAAA", "CNAME", "MX",  "TXT",
                                           "NS",  "SOA",  "PTR",   "SRV", NULL};

static const int record_types[] = {T_A, T_AAAA, T_CNAME, T_MX, T_TXT, T_NS, T_SOA, T_PTR, T_SRV};

int dnsmsg_record_type(int i)
{
    return i >= 0 && (size_t)i < ARRAY_SIZE(record_types) ? record_types[i] : T_A;
}

/* The names miekg/dns (so Gatus) gives the four-bit codes, RFC 6895 2.3. */
static const char *const rcode_names[16] = {
    "NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH",  "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

const char *dnsmsg_rcode_name(int rcode)
{
    return rcode_names[rcode & 0x0f];
}

/* Text being written into a fixed buffer, one answer at a time: an answer
 * that does not fit is taken back whole. */
struct text {
    char *buf;
    size_t cap;                 /* with the NUL */
    size_t len;
    bool full;                  /* the current answer did not fit */
};

/* Append printf-style to t; sets full when it does not fit. */
__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->full) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len) {
        t->full = true;
        return;
    }
    t->len += (size_t)n;
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Expand the name at p, as a fully qualified name with its dot ("." the
 * root), into t; how many bytes it took at p in *used. 0 or -EINVAL. */
static int put_name(struct text *t, const unsigned char *p, const unsigned char *msg, size_t len,
                    long *used)
{
    char *name = NULL;
    if (ares_expand_name(p, msg, (int)len, &name, used) != ARES_SUCCESS) {
        return -EINVAL;
    }
    put(t, "%s.", name[0] == '\0' ? "" : name);
    ares_free_string(name);
    return 0;
}

/* Skip the name at p: its length in the reply in *used. 0 or -EINVAL. */
static int skip_name(const unsigned char *p, const unsigned char *msg, size_t len, long *used)
{
    char *name = NULL;
    if (ares_expand_name(p, msg, (int)len, &name, used) != ARES_SUCCESS) {
        return -EINVAL;
    }
    ares_free_string(name);
    return 0;
}

/* One record's data d[0..n) (inside msg, for its names) as text. */
static int put_rdata(struct text *t, int type, const unsigned char *d, size_t n,
                     const unsigned char *msg, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    long used = 0, used2 = 0;
    switch (type) {
    case T_A:
    case T_AAAA:
        if (n != (type == T_A ? 4u : 16u)) {
            return -EINVAL;
        }
        inet_ntop(type == T_A ? AF_INET : AF_INET6, d, addr, sizeof(addr));
        put(t, "%s", addr);
        return 0;
    case T_CNAME:
    case T_NS:
    case T_PTR:
        return put_name(t, d, msg, len, &used);
    case T_MX:                  /* preference, exchange: Gatus shows the exchange */
        return n < 3 ? -EINVAL : put_name(t, d + 2, msg, len, &used);
    case T_SRV:                 /* priority, weight, port, target */
        if (n < 7) {
            return -EINVAL;
        }
        put(t, "%u %u %u ", get16(d), get16(d + 2), get16(d + 4));
        return put_name(t, d + 6, msg, len, &used);
    case T_SOA:                 /* mname, rname, five numbers */
        if (put_name(t, d, msg, len, &used) < 0) {
            return -EINVAL;
        }
        put(t, " ");
        if (put_name(t, d + used, msg, len, &used2) < 0 || (size_t)(used + used2) + 20 > n) {
            return -EINVAL;
        }
        d += used + used2;
        put(t, " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32, get32(d),
            get32(d + 4), get32(d + 8), get32(d + 12), get32(d + 16));
        return 0;
    case T_TXT:                 /* character-strings, each with its length */
        for (size_t i = 0; i < n;) {
            size_t sl = d[i++];
            if (sl > n - i) {
                return -EINVAL;
            }
            for (size_t k = 0; k < sl; k++, i++) {
                unsigned char c = d[i];
                put(t, "%c", c < 0x20 || c == 0x7f ? '?' : (char)c);
            }
        }
        return 0;
    default:
        return -EINVAL;
    }
}

/* strcmp for qsort over an array of strings. */
static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Join the n answers of scratch (each NUL-terminated, at the offsets of
 * at) in sorted order into out; its length. Fits: scratch came from the
 * same room. */
static size_t join_sorted(char *scratch, const size_t *at, size_t n, char *out, size_t outlen)
{
    char *sorted[DNSMSG_ANSWERS_MAX];
    for (size_t i = 0; i < n; i++) {
        sorted[i] = scratch + at[i];
    }
    qsort(sorted, n, sizeof(*sorted), cmp_text);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i > 0 ? ANSWER_SEP : "", sorted[i]);
        len += w > 0 && (size_t)w < outlen - len ? (size_t)w : 0;
    }
    return len;
}

int dnsmsg_read(const unsigned char *msg, size_t len, int qtype, char *out, size_t outlen,
                struct dnsmsg_reply *reply)
{
    memset(reply, 0, sizeof(*reply));
    out[0] = '\0';
    if (len < HEADER_LEN || len > INT32_MAX) {
        return -EINVAL;
    }
    reply->rcode = msg[3] & 0x0f;
    size_t qd = get16(msg + 4), an = get16(msg + 6);
    size_t off = HEADER_LEN;
    for (size_t i = 0; i < qd; i++) {
        long used;
        if (skip_name(msg + off, msg, len, &used) < 0 || off + (size_t)used + 4 > len) {
            return -EINVAL;
        }
        off += (size_t)used + 4;
    }
    /* Each answer whole in scratch, NUL after each, room as in out less
     * the separators the join adds. */
    char *scratch = malloc(outlen);
    if (scratch == NULL) {
        return -ENOMEM;
    }
    size_t at[DNSMSG_ANSWERS_MAX];
    struct text t = {.buf = scratch, .cap = outlen};
    int rc = 0;
    for (size_t i = 0; i < an && rc == 0; i++) {
        long used;
        if (skip_name(msg + off, msg, len, &used) < 0 ||
            off + (size_t)used + RR_FIXED_LEN > len) {
            rc = -EINVAL;
            break;
        }
        off += (size_t)used;
        int type = get16(msg + off);
        size_t n = get16(msg + off + 8);
        off += RR_FIXED_LEN;
        if (n > len - off) {
            rc = -EINVAL;
            break;
        }
        if (type == qtype) {
            size_t mark = t.len;
            size_t sep = reply->nanswers > 0 ? strlen(ANSWER_SEP) : 0;
            rc = put_rdata(&t, type, msg + off, n, msg, len);
            if (rc == 0 && !t.full && reply->nanswers < DNSMSG_ANSWERS_MAX &&
                t.len + 1 + sep <= t.cap) {
                at[reply->nanswers++] = mark;
                t.len += 1 + sep;   /* its NUL, and room for the separator */
                scratch[t.len - 1 - sep] = '\0';
            } else if (rc == 0) {   /* take it back whole */
                t.len = mark;
                t.full = false;
                reply->truncated = 1;
            }
        }
        off += n;
    }
    if (rc == 0) {
        reply->len = join_sorted(scratch, at, reply->nanswers, out, outlen);
    }
    free(scratch);
    return rc;
}
