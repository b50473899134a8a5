/* store_spool.c - write records kept in a file while the store is away.
 *
 * The format and its checks are described in store_spool.h. Records are
 * encoded by their fields (rec_fields lists a row's integers and strings
 * once, for writing and reading back); a result record is written field by
 * field. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"
#include "store.h"
#include "store_rec.h"
#include "store_spool.h"
#include "util.h"

#define SPOOL_MAGIC 0x50535753u  /* "SWSP" little-endian */
#define SPOOL_REC_MAX (1u << 20)
#define SPOOL_HDR 12

/* CRC-32 (IEEE) of a record's payload. */
static uint32_t crc32_ieee(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) {
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        ready = true;
    }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xffffffffu;
}

/* Encoding: little-endian integers; a string is a u32 length (0xffffffff
 * for NULL) and its bytes. */
static void put_u32(struct sbuf *b, uint32_t v)
{
    unsigned char t[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 & 0xff};
    sbuf_append(b, (const char *)t, 4);
}

/* Append v as two little-endian u32, low half first. */
static void put_i64(struct sbuf *b, int64_t v)
{
    uint64_t u = (uint64_t)v;
    put_u32(b, (uint32_t)(u & 0xffffffffu));
    put_u32(b, (uint32_t)(u >> 32));
}

/* Append s as its u32 length (0xffffffff for NULL) and its bytes. */
static void put_str(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        put_u32(b, 0xffffffffu);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    sbuf_append(b, s, n);
}

struct cur {
    const unsigned char *p;
    size_t n;
    bool bad;
};

/* The next little-endian u32; 0 with c->bad set when short. */
static uint32_t get_u32(struct cur *c)
{
    if (c->n < 4) {
        c->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 |
                 (uint32_t)c->p[3] << 24;
    c->p += 4;
    c->n -= 4;
    return v;
}

/* The next i64, low half first. */
static int64_t get_i64(struct cur *c)
{
    uint64_t lo = get_u32(c), hi = get_u32(c);
    return (int64_t)(lo | hi << 32);
}

/* A copy of the next string; NULL for NULL or when bad (c->bad set). */
static char *get_str(struct cur *c)
{
    uint32_t n = get_u32(c);
    if (c->bad || n == 0xffffffffu) {
        return NULL;
    }
    if (n > c->n || memchr(c->p, '\0', n) != NULL) {
        c->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        c->bad = true;
        return NULL;
    }
    memcpy(s, c->p, n);
    s[n] = '\0';
    c->p += n;
    c->n -= n;
    return s;
}

/* The next string into a fixed buffer, truncated to fit. */
static void get_buf(struct cur *c, char *out, size_t len)
{
    char *s = get_str(c);
    snprintf(out, len, "%s", s != NULL ? s : "");
    free(s);
}

#define DEPLOY_STRS(d)                                                                     \
    {&(d)->app, &(d)->env, &(d)->version, &(d)->commit, &(d)->author, &(d)->source,        \
     &(d)->url, &(d)->description, &(d)->status, &(d)->verdict, &(d)->verdict_reason,      \
     &(d)->failing_check, &(d)->rollback_version, &(d)->ext_id}
#define ALERT_STRS(a)                                                                      \
    {&(a)->kind, &(a)->check, &(a)->app, &(a)->env, &(a)->severity, &(a)->status,          \
     &(a)->summary, &(a)->ack_by, &(a)->ack_comment, &(a)->muted_by}
#define MUTE_STRS(m)                                                                       \
    {&(m)->kind, &(m)->check, &(m)->app, &(m)->env, &(m)->severity, &(m)->author,          \
     &(m)->comment}
#define EVENT_STRS(e) {&(e)->type, &(e)->check, &(e)->app, &(e)->env, &(e)->message, &(e)->data}
#define OUTBOX_STRS(o) {&(o)->notifier, &(o)->payload}

/* The integers and strings of a write record, for the spool. */
static void rec_fields(struct rec *r, int64_t **ints, size_t *ni, const char ***strs[16],
                       size_t *ns)
{
    *ni = 0;
    *ns = 0;
    switch (r->kind) {
    case REC_EVENT: {
        const char **f[] = EVENT_STRS(&r->ev);
        memcpy(strs, f, sizeof(f));
        *ns = ARRAY_SIZE(f);
        ints[0] = &r->ev.id;
        ints[1] = &r->ev.ts_ms;
        *ni = 2;
        break;
    }
    case REC_DEPLOY: {
        const char **f[] = DEPLOY_STRS(&r->dep);
        memcpy(strs, f, sizeof(f));
        *ns = ARRAY_SIZE(f);
        ints[0] = &r->dep.id;
        ints[1] = &r->dep.started_ms;
        ints[2] = &r->dep.finished_ms;
        *ni = 3;
        break;
    }
    case REC_ALERT: {
        const char **f[] = ALERT_STRS(&r->alert);
        memcpy(strs, f, sizeof(f));
        *ns = ARRAY_SIZE(f);
        int64_t *v[] = {&r->alert.id,      &r->alert.started_ms,       &r->alert.resolved_ms,
                        &r->alert.ack_ms,  &r->alert.deploy_id,        &r->alert.last_notified_ms,
                        &r->alert.notifications};
        memcpy(ints, v, sizeof(v));
        *ni = ARRAY_SIZE(v);
        break;
    }
    case REC_MUTE: {
        const char **f[] = MUTE_STRS(&r->mute);
        memcpy(strs, f, sizeof(f));
        *ns = ARRAY_SIZE(f);
        int64_t *v[] = {&r->mute.id, &r->mute.starts_ms, &r->mute.ends_ms, &r->mute.created_ms};
        memcpy(ints, v, sizeof(v));
        *ni = ARRAY_SIZE(v);
        break;
    }
    case REC_OUTBOX: {
        const char **f[] = OUTBOX_STRS(&r->outbox);
        memcpy(strs, f, sizeof(f));
        *ns = ARRAY_SIZE(f);
        int64_t *v[] = {&r->outbox.id, &r->outbox.alert_id, &r->outbox.created_ms,
                        &r->outbox.attempts, &r->outbox.next_ms};
        memcpy(ints, v, sizeof(v));
        *ni = ARRAY_SIZE(v);
        break;
    }
    case REC_OUTBOX_DELETE:
        ints[0] = &r->outbox_id;
        *ni = 1;
        break;
    default:
        break;
    }
}

/* Serialize a write record: kind, rn, then its fields. */
static void rec_encode(struct rec *r, struct sbuf *b)
{
    put_u32(b, (uint32_t)r->kind);
    put_i64(b, (int64_t)r->rn);
    if (r->kind == REC_RESULT) {
        const struct store_check_state *cs = &r->st;
        put_str(b, r->check);
        put_i64(b, cs->state);
        put_i64(b, cs->fail_streak);
        put_i64(b, cs->ok_streak);
        put_i64(b, cs->state_since_ms);
        put_i64(b, cs->last.started_ms);
        put_i64(b, cs->last.duration_us);
        put_i64(b, cs->last.outcome);
        put_i64(b, cs->last.status);
        put_i64(b, cs->last.cert_expiry_s);
        put_str(b, cs->last.error);
        put_str(b, cs->last.failed_condition);
        /* Added later: a spool written before has none of these. */
        put_str(b, cs->last.message);
        put_str(b, cs->last.perfdata);
        put_i64(b, cs->last.nconds);
        put_i64(b, cs->last.conds_failed);
        /* Added later still: a log check's position. */
        put_i64(b, cs->has_log);
        if (cs->has_log) {
            put_i64(b, (int64_t)cs->log.dev);
            put_i64(b, (int64_t)cs->log.ino);
            put_i64(b, cs->log.offset);
            put_i64(b, (int64_t)cs->log.head);
            put_i64(b, cs->log.skipping);
        }
        return;
    }
    int64_t *ints[16];
    const char **strs[16];
    size_t ni, ns;
    rec_fields(r, ints, &ni, (const char ***(*))strs, &ns);
    for (size_t i = 0; i < ni; i++) {
        put_i64(b, *ints[i]);
    }
    for (size_t i = 0; i < ns; i++) {
        put_str(b, *strs[i]);
    }
}

/* v limited to [lo, hi]. */
static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A record from spool bytes; NULL when they do not make one. Every value
 * is checked: a spool is outside input. */
static struct rec *rec_decode(const unsigned char *p, size_t n)
{
    struct cur c = {p, n, false};
    uint32_t kind = get_u32(&c);
    if (kind != REC_RESULT && kind != REC_EVENT && kind != REC_DEPLOY && kind != REC_ALERT &&
        kind != REC_MUTE && kind != REC_OUTBOX && kind != REC_OUTBOX_DELETE) {
        return NULL;
    }
    struct rec *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->kind = (enum rec_kind)kind;
    r->rn = (uint64_t)get_i64(&c);
    if (r->kind == REC_RESULT) {
        struct store_check_state *cs = &r->st;
        r->check = get_str(&c);
        cs->state = (enum check_state)clamp(get_i64(&c), STATE_UNKNOWN, STATE_DOWN);
        cs->fail_streak = (int)clamp(get_i64(&c), 0, INT_MAX);
        cs->ok_streak = (int)clamp(get_i64(&c), 0, INT_MAX);
        cs->state_since_ms = get_i64(&c);
        cs->last.started_ms = get_i64(&c);
        cs->last.duration_us = get_i64(&c);
        cs->last.outcome = (enum check_state)clamp(get_i64(&c), STATE_UNKNOWN, STATE_DOWN);
        cs->last.status = (int)clamp(get_i64(&c), -1, INT_MAX);
        cs->last.cert_expiry_s = get_i64(&c);
        get_buf(&c, cs->last.error, sizeof(cs->last.error));
        get_buf(&c, cs->last.failed_condition, sizeof(cs->last.failed_condition));
        if (c.n > 0) {
            get_buf(&c, cs->last.message, sizeof(cs->last.message));
            get_buf(&c, cs->last.perfdata, sizeof(cs->last.perfdata));
            cs->last.nconds = (uint8_t)clamp(get_i64(&c), 0, RESULT_CONDS_MAX);
            cs->last.conds_failed = (uint16_t)clamp(get_i64(&c), 0, UINT16_MAX);
        }
        if (c.n > 0) {
            cs->has_log = get_i64(&c) != 0;
        }
        if (cs->has_log) {
            cs->log.dev = (uint64_t)get_i64(&c);
            cs->log.ino = (uint64_t)get_i64(&c);
            cs->log.offset = clamp(get_i64(&c), 0, INT64_MAX);
            cs->log.head = (uint64_t)get_i64(&c);
            cs->log.skipping = get_i64(&c) != 0;
        }
        if (r->check == NULL) {
            c.bad = true;
        }
    } else {
        int64_t *ints[16] = {0};
        const char **strs[16] = {0};
        size_t ni, ns;
        rec_fields(r, ints, &ni, (const char ***(*))strs, &ns);
        for (size_t i = 0; i < ni; i++) {
            *ints[i] = get_i64(&c);
        }
        for (size_t i = 0; i < ns; i++) {
            *strs[i] = get_str(&c);
        }
    }
    if (c.bad || c.n != 0 || r->rn == 0) {
        rec_free(r);
        return NULL;
    }
    return r;
}

/* Open the spool file when first needed. */
int store_spool_open(struct store_spool *sp)
{
    if (sp->fd >= 0) {
        return 0;
    }
    if (sp->path == NULL) {
        return -ENOENT;
    }
    sp->fd = open(sp->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (sp->fd < 0) {
        int rc = -errno;
        log_error(LOG_KV("store", sp->backend, "spool", sp->path), "cannot open the spool: %s",
                  strerror(-rc));
        return rc;
    }
    struct stat stt;
    if (fstat(sp->fd, &stt) == 0) {
        sp->size = (uint64_t)stt.st_size;
    }
    return 0;
}

/* Append r to the spool. 0, or -errno (r is kept by the caller). */
int store_spool_append(struct store_spool *sp, struct rec *r)
{
    int rc = store_spool_open(sp);
    if (rc < 0) {
        return rc;
    }
    struct sbuf b = {0};
    put_u32(&b, SPOOL_MAGIC);
    put_u32(&b, 0);
    put_u32(&b, 0);
    rec_encode(r, &b);
    if (b.failed || b.len - SPOOL_HDR > SPOOL_REC_MAX) {
        sbuf_finish(&b);
        return -ENOMEM;
    }
    uint32_t len = (uint32_t)(b.len - SPOOL_HDR);
    uint32_t crc = crc32_ieee((const unsigned char *)b.data + SPOOL_HDR, len);
    struct sbuf h = {0};
    put_u32(&h, len);
    put_u32(&h, crc);
    if (h.failed) {
        sbuf_finish(&b);
        return -ENOMEM;
    }
    memcpy(b.data + 4, h.data, 8);
    sbuf_finish(&h);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = pwrite(sp->fd, b.data + off, b.len - off, (off_t)(sp->size + off));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            /* Cut what was half written so the file stays a list of records. */
            if (ftruncate(sp->fd, (off_t)sp->size) < 0) {
                log_error(LOG_KV("store", sp->backend), "spool: cannot truncate a partial write");
            }
            sbuf_finish(&b);
            return rc;
        }
        off += (size_t)w;
    }
    sp->size += b.len;
    sbuf_finish(&b);
    return 0;
}

/* Read n bytes at off, retrying short reads: the count read, or -1. */
static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return r < 0 ? -1 : (ssize_t)got;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read the next good record at sp->rd, skipping (and reporting) corrupt or
 * truncated stretches. NULL at the end. */
struct rec *store_spool_read(struct store_spool *sp)
{
    unsigned char *buf = NULL;
    while (sp->fd >= 0 && sp->rd < sp->size) {
        unsigned char h[SPOOL_HDR];
        uint64_t at = sp->rd;
        const char *bad = NULL;
        if (sp->size - at < SPOOL_HDR) {
            bad = "truncated record header";
        } else if (pread_full(sp->fd, h, SPOOL_HDR, at) != SPOOL_HDR) {
            bad = "unreadable record";
        } else {
            struct cur c = {h, SPOOL_HDR, false};
            uint32_t magic = get_u32(&c), len = get_u32(&c), crc = get_u32(&c);
            if (magic != SPOOL_MAGIC) {
                bad = "bad record magic";
            } else if (len > SPOOL_REC_MAX) {
                bad = "record too large";
            } else if (sp->size - at - SPOOL_HDR < len) {
                bad = "truncated record";
            } else {
                free(buf);
                buf = malloc(len > 0 ? len : 1);
                if (buf == NULL) {
                    return NULL;
                }
                if (pread_full(sp->fd, buf, len, at + SPOOL_HDR) != (ssize_t)len) {
                    bad = "unreadable record";
                } else if (crc32_ieee(buf, len) != crc) {
                    bad = "checksum mismatch";
                } else {
                    struct rec *r = rec_decode(buf, len);
                    if (r == NULL) {
                        bad = "malformed record";
                    } else {
                        sp->rd = at + SPOOL_HDR + len;
                        free(buf);
                        return r;
                    }
                }
            }
        }
        /* Resynchronize on the next magic after the bad spot; a bad tail
         * is skipped whole. */
        char off[24];
        snprintf(off, sizeof(off), "%" PRIu64, at);
        log_error(LOG_KV("store", sp->backend, "spool", sp->path, "offset", off),
                  "spool: %s: skipped", bad);
        sp->bad++;
        uint64_t next = sp->size;
        unsigned char blk[4096];
        for (uint64_t pos = at + 1; pos < sp->size && next == sp->size;) {
            ssize_t n = pread_full(sp->fd, blk, sizeof(blk), pos);
            if (n < 4) {
                break;
            }
            for (ssize_t i = 0; i + 4 <= n; i++) {
                if (blk[i] == 0x53 && blk[i + 1] == 0x57 && blk[i + 2] == 0x53 &&
                    blk[i + 3] == 0x50) {
                    next = pos + (uint64_t)i;
                    break;
                }
            }
            pos += (uint64_t)n - 3;
        }
        sp->rd = next;
    }
    free(buf);
    return NULL;
}

/* Empty the spool once everything read from it is committed. */
void store_spool_reset(struct store_spool *sp)
{
    if (sp->fd >= 0 && ftruncate(sp->fd, 0) < 0) {
        log_error(LOG_KV("store", sp->backend, "spool", sp->path), "cannot truncate: %s",
                  strerror(errno));
        return;
    }
    sp->size = 0;
    sp->rd = 0;
}

/* Make sp an unopened spool at path (taken over), logging as backend. */
void store_spool_init(struct store_spool *sp, char *path, const char *backend)
{
    memset(sp, 0, sizeof(*sp));
    sp->path = path;
    sp->backend = backend;
    sp->fd = -1;
}

/* Close the file and free the path. */
void store_spool_finish(struct store_spool *sp)
{
    if (sp->fd >= 0) {
        close(sp->fd);
        sp->fd = -1;
    }
    free(sp->path);
    sp->path = NULL;
}
