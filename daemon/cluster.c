/* cluster.c - Redis fan-out, check leases, peers (design in cluster.h). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cluster.h"
#include "clock.h"
#include "daemon.h"
#include "hash.h"
#include "hostmon.h"
#include "ipc_wire.h"
#include "log.h"
#include "sched.h"
#include "sign.h"
#include "store.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define TICK_MS 1000
#define CLOSE_TIMEOUT_MS 1000
#define REPLY_TIMEOUT_MS 3000 /* a reply owed longer means Redis hangs */
#define PEERS_MAX 256
#define OBUF_MAX (8u * 1024 * 1024) /* bytes queued to Redis before publishes drop */
#define LEASES_PENDING_MAX 100000   /* lease requests in flight before the gate opens */
#define JUDGE_AFTER_MS 3000 /* connected this long, every live peer announced itself */
#define WARN_EVERY_MS 60000 /* one warning a minute about distrusted input */

/* KEYS[1] the lease, ARGV[1] this node, ARGV[2] the TTL, ARGV[3] the mode:
 *   take   renew it when ours, take it when free: {1, 0}
 *   defer  renew it when ours; when free {0, -2}: another node is
 *          preferred for it, ask again after the grace
 *   yield  when ours, delete it: {0, -1} (hand it to the preferred node);
 *          when free {0, -2}
 * Held by another node: {0, its PTTL, its holder}, unless the lease is not
 * to be believed: a TTL over ARGV[4] (interval plus grace) or none, or,
 * when ARGV[5] is "1", a holder not among ARGV[6..] (the peers that
 * announced themselves). Such a lease is taken: {1, its PTTL, its holder,
 * "ttl" or "unknown"}. A key of another type is deleted first. */
static const char lease_script[] =
    "local v = redis.pcall('GET', KEYS[1]) "
    "if type(v) == 'table' then redis.call('DEL', KEYS[1]) v = false end "
    "if v == ARGV[1] then "
    "if ARGV[3] == 'yield' then redis.call('DEL', KEYS[1]) return {0, -1} end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1, 0} end "
    "if not v then "
    "if ARGV[3] ~= 'take' then return {0, -2} end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {1, 0} end "
    "local t = redis.call('PTTL', KEYS[1]) "
    "local why = '' "
    "if t < 0 or t > tonumber(ARGV[4]) then why = 'ttl' "
    "elseif ARGV[5] == '1' then why = 'unknown' "
    "for i = 6, #ARGV do if ARGV[i] == v then why = '' break end end end "
    "if why ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "return {1, t, v, why} end "
    "return {0, t, v}";

/* Delete the lease only if it is ours. */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

enum conn_state {
    CONN_DOWN,       /* waiting for the retry timer */
    CONN_CONNECTING, /* both contexts opened, not yet ready */
    CONN_READY,      /* authenticated, selected, subscribed */
    CONN_CLOSING,    /* shutdown: releasing leases */
    CONN_CLOSED,
};

struct peer {
    char name[CLUSTER_NAME_MAX];
    int64_t heard_ms;               /* loop time */
    char checks_fp[CLUSTER_FP_MAX]; /* its checks' fingerprint; "" unknown */
};

struct cluster {
    struct daemon *d;
    struct cluster_url url;
    char node[CLUSTER_NAME_MAX]; /* this daemon's name, fixed at start */
    char *key;                   /* redis.key, fixed at start; NULL none */
    char fp[CLUSTER_FP_MAX];     /* this daemon's checks' fingerprint */
    char *lease_prefix;          /* "<prefix>:<cluster>:lease:"; NULL without cluster */
    char *chan_results, *chan_events, *chan_nodes;
    redisAsyncContext *cmd; /* commands and publishes */
    redisAsyncContext *sub; /* SUBSCRIBEd */
    enum conn_state state;
    bool cmd_ready, sub_ready;
    int subscribed;     /* channels confirmed */
    bool first_attempt; /* no connection tried before this one */
    bool ever_ready;
    bool down_reported; /* the loss was logged and evented */
    int64_t attempt_ms; /* loop time this attempt started */
    int64_t ready_ms;   /* loop time the connection was last ready */
    int64_t warned_ms;  /* loop time of the last warning about distrust */
    uint64_t unwarned;  /* distrusted inputs since that warning */
    int64_t backoff_ms;
    uv_timer_t retry_timer;
    uv_timer_t tick_timer; /* connect timeout, "alive", peers */
    uint64_t lease_seq;
    size_t leases_pending;
    size_t replies_pending;   /* leases and pings awaiting a reply */
    int64_t waiting_since_ms; /* loop time of the last reply, or of the
                                 request that made replies_pending 1 */
    size_t releases_pending;
    int64_t close_started_ms;
    struct peer peers[PEERS_MAX];
    size_t npeers;
    /* the other nodes this daemon's clients watch the host of */
    struct host_want {
        char name[CLUSTER_NAME_MAX];
        unsigned refs;
    } wants[CLUSTER_HOST_WANTS_MAX];
    size_t nwants;
    bool host_held;              /* a peer watches this host: the sampler is held */
    int64_t host_wanted_ms;      /* loop time a peer last said so */
    uint64_t published_total, received_total, rejected_total, dropped_total, reconnects_total;
    uint64_t leases_overridden_total, unrun_total;
    uint64_t rng;
};

/* One lease request in flight; the check is found again by name and seq,
 * since a reload may free it meanwhile. */
struct lease_req {
    struct cluster *cl;
    uint64_t seq;
    bool gate;        /* the scheduler waits on the answer */
    int64_t ttl_ms;   /* the lease's life asked for */
    int64_t grace_ms; /* the wait after a deferral */
    bool after_defer; /* taking a lease its preferred node left */
    char check[];
};

/* --- URL --- */

/* The value of one hex digit, or -1. */
static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Percent-decode s[0..len) into out (size cap). 0, or -1 when malformed,
 * too long or decoding to a NUL. */
static int pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= len) {
                return -1;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            ch = (char)(hi * 16 + lo);
            if (ch == '\0') {
                return -1;
            }
            i += 2;
        }
        if (o + 1 >= cap) {
            return -1;
        }
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* Parse a decimal in [lo, hi] from s[0..len). 0 or -1. */
static int parse_int(const char *s, size_t len, long lo, long hi, int *out)
{
    if (len == 0 || len > 10) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parse redis.url (see cluster.h). */
int cluster_url_parse(const char *url, struct cluster_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (url == NULL) {
        snprintf(err, errlen, "no URL");
        return -EINVAL;
    }
    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7;
        const char *q = strchr(p, '?');
        size_t plen = q != NULL ? (size_t)(q - p) : strlen(p);
        if (plen == 0 || p[0] != '/') {
            snprintf(err, errlen, "unix:// needs an absolute path (unix:///run/redis.sock)");
            return -EINVAL;
        }
        if (plen >= sizeof(out->path)) {
            snprintf(err, errlen, "socket path too long");
            return -EINVAL;
        }
        memcpy(out->path, p, plen);
        out->path[plen] = '\0';
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 ||
                parse_int(q + 4, strlen(q + 4), 0, 1000000, &out->db) < 0) {
                snprintf(err, errlen, "unix://: the only parameter is ?db=N");
                return -EINVAL;
            }
        }
        out->unix_socket = true;
        return 0;
    }
    if (strncmp(url, "rediss://", 9) == 0) {
        snprintf(err, errlen, "TLS to Redis (rediss://) is not supported");
        return -EINVAL;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "expected redis://[:password@]host[:port][/db] or unix:///path");
        return -EINVAL;
    }
    const char *p = url + 8;
    const char *end = p + strlen(p);
    const char *slash = strchr(p, '/');
    const char *auth_end = memchr(p, '@', (size_t)((slash != NULL ? slash : end) - p));
    /* The last '@' before the path ends the credentials: a password may
     * carry '@' only percent-encoded, but be lenient with a raw one. */
    for (const char *a = auth_end; a != NULL;) {
        auth_end = a;
        a = memchr(a + 1, '@', (size_t)((slash != NULL ? slash : end) - (a + 1)));
    }
    if (auth_end != NULL) {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        if (colon == NULL) {
            /* redis://password@host is a common slip; Redis's own clients
             * read it as a user name. Refuse: say what is meant. */
            snprintf(err, errlen, "credentials must be :password@ or user:password@");
            return -EINVAL;
        }
        if (pct_decode(p, (size_t)(colon - p), out->user, sizeof(out->user)) < 0 ||
            pct_decode(colon + 1, (size_t)(auth_end - colon - 1), out->password,
                       sizeof(out->password)) < 0) {
            snprintf(err, errlen, "malformed or too long user or password");
            return -EINVAL;
        }
        p = auth_end + 1;
    }
    const char *host_end = slash != NULL ? slash : end;
    const char *port_at = NULL;
    const char *h = p;
    size_t hlen;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(host_end - p));
        if (rb == NULL) {
            snprintf(err, errlen, "unterminated [address]");
            return -EINVAL;
        }
        h = p + 1;
        hlen = (size_t)(rb - h);
        if (rb + 1 < host_end) {
            if (rb[1] != ':') {
                snprintf(err, errlen, "expected :port after ]");
                return -EINVAL;
            }
            port_at = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(host_end - p));
        hlen = (size_t)((colon != NULL ? colon : host_end) - p);
        if (colon != NULL) {
            port_at = colon + 1;
        }
    }
    if (hlen == 0) {
        snprintf(err, errlen, "names no host");
        return -EINVAL;
    }
    if (hlen >= sizeof(out->host)) {
        snprintf(err, errlen, "host name too long");
        return -EINVAL;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= ' ' || ch == 0x7f || ch == '@' || ch == '/' || ch == '?' || ch == '#') {
            snprintf(err, errlen, "invalid character in host");
            return -EINVAL;
        }
    }
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    if (port_at != NULL &&
        parse_int(port_at, (size_t)(host_end - port_at), 1, 65535, &out->port) < 0) {
        snprintf(err, errlen, "port must be 1-65535");
        return -EINVAL;
    }
    if (slash != NULL && slash + 1 < end) {
        if (parse_int(slash + 1, (size_t)(end - slash - 1), 0, 1000000, &out->db) < 0) {
            snprintf(err, errlen, "the path must be a database number (/0)");
            return -EINVAL;
        }
    }
    return 0;
}

/* --- messages --- */

/* A name from a peer: non-empty, bounded, no control characters. */
static bool valid_name(const char *s, size_t len, size_t cap)
{
    if (len == 0 || len >= cap) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* Copy up to cap-1 bytes of s, cut on a UTF-8 character boundary. */
static void copy_cut(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* A string member of o: 1 found (in *s, *len), 0 absent or null, -1 not a string. */
static int get_str(json_t *o, const char *key, const char **s, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (!json_is_string(v)) {
        return -1;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    /* A string holding a NUL would be cut short by C code later. */
    if (strlen(*s) != *len) {
        return -1;
    }
    return 1;
}

/* An integer member of o within [lo, hi]: 1 found, 0 absent, -1 bad. */
static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        return 0;
    }
    if (!json_is_integer(v)) {
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        return -1;
    }
    *out = (int64_t)x;
    return 1;
}

/* A required state name member. */
static int get_state(json_t *o, const char *key, enum check_state *out)
{
    const char *s;
    size_t len;
    if (get_str(o, key, &s, &len) != 1) {
        return -1;
    }
    return check_state_parse(s, out) < 0 ? -1 : 0;
}

/* An optional string member copied with strdup; bounded. 0 or -1. */
static int dup_str(json_t *o, const char *key, size_t cap, bool required, char **out)
{
    const char *s;
    size_t len;
    int rc = get_str(o, key, &s, &len);
    if (rc < 0 || (rc == 0 && required)) {
        return -1;
    }
    if (rc == 0) {
        *out = NULL;
        return 0;
    }
    if (len >= cap) {
        return -1;
    }
    *out = strdup(s);
    return *out == NULL ? -1 : 0;
}

/* The result fields of a result message. */
static int parse_result(json_t *o, struct cluster_msg *m)
{
    const char *s;
    size_t len;
    int64_t v;
    struct result *r = &m->result;

    if (get_str(o, "check", &s, &len) != 1 || !valid_name(s, len, sizeof(m->check))) {
        return -1;
    }
    memcpy(m->check, s, len + 1);
    if (get_int(o, "ts_ms", 0, INT64_MAX / 2, &r->started_ms) != 1 ||
        get_int(o, "duration_us", 0, INT64_MAX / 2, &r->duration_us) != 1 ||
        get_state(o, "outcome", &r->outcome) < 0 || get_state(o, "state", &m->state) < 0) {
        return -1;
    }
    v = -1;
    if (get_int(o, "status", -1, INT_MAX, &v) < 0) {
        return -1;
    }
    r->status = (int)v;
    if (get_int(o, "cert_expiry_s", 0, INT64_MAX / 2, &r->cert_expiry_s) < 0 ||
        get_int(o, "state_since_ms", 0, INT64_MAX / 2, &m->state_since_ms) < 0) {
        return -1;
    }
    v = 0;
    if (get_int(o, "fail_streak", 0, INT_MAX, &v) < 0) {
        return -1;
    }
    m->fail_streak = (int)v;
    v = 0;
    if (get_int(o, "ok_streak", 0, INT_MAX, &v) < 0) {
        return -1;
    }
    m->ok_streak = (int)v;
    int rc = get_str(o, "error", &s, &len);
    if (rc < 0) {
        return -1;
    }
    if (rc == 1) {
        copy_cut(r->error, sizeof(r->error), s, len);
    }
    rc = get_str(o, "failed_condition", &s, &len);
    if (rc < 0) {
        return -1;
    }
    if (rc == 1) {
        copy_cut(r->failed_condition, sizeof(r->failed_condition), s, len);
    }
    json_t *loc = json_object_get(o, "location");
    if (loc != NULL && !json_is_boolean(loc)) {
        return -1;
    }
    m->location = loc != NULL && json_is_true(loc);
    return 0;
}

/* The fields of an event message. */
static int parse_event(json_t *o, struct cluster_msg *m)
{
    const char *s;
    size_t len;
    if (get_int(o, "ts_ms", 0, INT64_MAX / 2, &m->ts_ms) != 1) {
        return -1;
    }
    int rc = get_str(o, "check", &s, &len);
    if (rc < 0 || (rc == 1 && !valid_name(s, len, sizeof(m->check)))) {
        return -1;
    }
    if (rc == 1) {
        memcpy(m->check, s, len + 1);
    }
    if (get_str(o, "type", &s, &len) != 1 || !valid_name(s, len, 64)) {
        return -1;
    }
    if (dup_str(o, "type", 64, true, &m->type) < 0 ||
        dup_str(o, "app", CLUSTER_NAME_MAX, false, &m->app) < 0 ||
        dup_str(o, "env", CLUSTER_NAME_MAX, false, &m->env) < 0 ||
        dup_str(o, "message", CLUSTER_EVENT_TEXT_MAX, true, &m->message) < 0) {
        return -1;
    }
    json_t *data = json_object_get(o, "data");
    if (data != NULL && !json_is_null(data)) {
        if (!json_is_object(data)) {
            return -1;
        }
        m->data = json_dumps(data, JSON_COMPACT);
        if (m->data == NULL || strlen(m->data) >= CLUSTER_EVENT_DATA_MAX) {
            return -1;
        }
    }
    return 0;
}

/* Parse one message (see cluster.h). */
/* An "alive" message's host_wants: absent, or an array of at most
 * CLUSTER_HOST_WANTS_MAX names. */
static int parse_wants(json_t *o, struct cluster_msg *m)
{
    json_t *a = json_object_get(o, "host_wants");
    if (a == NULL) {
        return 0;
    }
    size_t n = json_is_array(a) ? json_array_size(a) : SIZE_MAX;
    if (n > CLUSTER_HOST_WANTS_MAX) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    m->host_wants = calloc(n, sizeof(*m->host_wants));
    if (m->host_wants == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        size_t len = s != NULL ? json_string_length(v) : 0;
        if (s == NULL || strlen(s) != len || !valid_name(s, len, CLUSTER_NAME_MAX) ||
            (m->host_wants[i] = strdup(s)) == NULL) {
            return -1;
        }
        m->nhost_wants = i + 1;
    }
    return 0;
}

/* A "host" message: its time and the sample, base64 of the msgpack the
 * socket sends, decoded and checked as a client of the socket would, and
 * naming the sender. */
static int parse_host(json_t *o, struct cluster_msg *m)
{
    const char *s;
    size_t len;
    if (get_int(o, "ts_ms", 0, INT64_MAX / 2, &m->ts_ms) != 1 ||
        get_str(o, "sample", &s, &len) != 1 || len == 0 || len % 4 != 0 || len > INT_MAX) {
        return -1;
    }
    unsigned char *raw = malloc(len / 4 * 3);
    if (raw == NULL) {
        return -1;
    }
    int rc = -1;
    /* Nothing but the alphabet, '=' only as the padding at the end
     * (EVP_DecodeBlock would skip blanks, and counts the padding in). */
    size_t pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    int n = -1;
    if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") ==
        len - pad) {
        n = EVP_DecodeBlock(raw, (const unsigned char *)s, (int)len);
    }
    if (n < 0 || (size_t)n < pad) {
        free(raw);
        return -1;
    }
    size_t size = (size_t)n - pad, off = 0, whole = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    char why[128];
    /* Walked within a client's limits first, as the socket's bytes are: a
     * header declaring four billion entries must not reach the unpacker,
     * which would allocate for them. */
    if (ipc_wire_scan(raw, size, &ipc_limits_client, &whole) == IPC_WIRE_OK && whole == size &&
        msgpack_unpack_next(&u, (const char *)raw, size, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == size && ipc_bad_utf8(&u.data) == NULL &&
        ipc_host_decode(&u.data, &m->host, why, sizeof(why)) == 0 && m->host.node != NULL &&
        strcmp(m->host.node, m->node) == 0 && m->host.ts_ms == m->ts_ms) {
        rc = 0;
    }
    msgpack_unpacked_destroy(&u);
    free(raw);
    return rc;
}

int cluster_msg_parse(const char *buf, size_t len, struct cluster_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (len > CLUSTER_MSG_MAX) {
        return -EMSGSIZE;
    }
    json_error_t jerr;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL) {
        return -EINVAL;
    }
    int rc = -1;
    const char *s;
    size_t slen;
    int64_t version;
    if (!json_is_object(o) || get_int(o, "v", 1, 1, &version) != 1 ||
        get_str(o, "node", &s, &slen) != 1 || !valid_name(s, slen, sizeof(m->node))) {
        goto bad;
    }
    memcpy(m->node, s, slen + 1);
    if (get_str(o, "kind", &s, &slen) != 1) {
        goto bad;
    }
    if (strcmp(s, "result") == 0) {
        m->kind = CLUSTER_MSG_RESULT;
        rc = parse_result(o, m);
    } else if (strcmp(s, "event") == 0) {
        m->kind = CLUSTER_MSG_EVENT;
        rc = parse_event(o, m);
    } else if (strcmp(s, "node") == 0) {
        m->kind = CLUSTER_MSG_NODE;
        rc = get_int(o, "ts_ms", 0, INT64_MAX / 2, &m->ts_ms) == 1 ? 0 : -1;
        int fp = get_str(o, "checks", &s, &slen);
        if (fp < 0 || (fp == 1 && !valid_name(s, slen, sizeof(m->checks_fp)))) {
            rc = -1;
        } else if (fp == 1) {
            memcpy(m->checks_fp, s, slen + 1);
        }
        if (rc == 0) {
            rc = parse_wants(o, m);
        }
    } else if (strcmp(s, "host") == 0) {
        m->kind = CLUSTER_MSG_HOST;
        rc = parse_host(o, m);
    }
bad:
    json_decref(o);
    if (rc < 0) {
        cluster_msg_finish(m);
        memset(m, 0, sizeof(*m));
        return -EINVAL;
    }
    return 0;
}

/* The signed form of json. */
char *cluster_msg_seal(const char *key, char *json)
{
    if (json == NULL || key == NULL) {
        return json;
    }
    size_t len = strlen(json);
    char *out = malloc(7 + SIGN_HEX_LEN + 1 + len + 1);
    if (out == NULL || sign_hex(key, NULL, 0, json, len, out + 7) < 0) {
        free(out);
        free(json);
        return NULL;
    }
    memcpy(out, "sha256=", 7);
    out[7 + SIGN_HEX_LEN] = ' ';
    memcpy(out + 7 + SIGN_HEX_LEN + 1, json, len + 1);
    free(json);
    return out;
}

/* Check a message's envelope (see cluster.h). */
int cluster_msg_open(const char *key, const char *buf, size_t len, size_t *json_at)
{
    const size_t head = 7 + SIGN_HEX_LEN + 1;
    if (len > CLUSTER_MSG_MAX) {
        return -EMSGSIZE;
    }
    bool sealed = len >= head && memcmp(buf, "sha256=", 7) == 0 && buf[head - 1] == ' ';
    *json_at = sealed ? head : 0;
    if (key == NULL) {
        return 0;
    }
    char want[SIGN_HEX_LEN + 1];
    if (!sealed || sign_hex(key, NULL, 0, buf + head, len - head, want) < 0 ||
        !sign_hex_equal(want, buf + 7, SIGN_HEX_LEN)) {
        return -EPERM;
    }
    return 0;
}

/* Whether m's time is near now (see cluster.h). */
bool cluster_msg_fresh(const struct cluster_msg *m, int64_t now_ms)
{
    int64_t t = m->kind == CLUSTER_MSG_RESULT
                    ? m->result.started_ms + m->result.duration_us / 1000
                    : m->ts_ms;
    return t >= now_ms - CLUSTER_MSG_SKEW_MS && t <= now_ms + CLUSTER_MSG_SKEW_MS;
}

/* Free what a message owns. */
void cluster_msg_finish(struct cluster_msg *m)
{
    free(m->type);
    free(m->app);
    free(m->env);
    free(m->message);
    free(m->data);
    m->type = m->app = m->env = m->message = m->data = NULL;
    for (size_t i = 0; i < m->nhost_wants; i++) {
        free(m->host_wants[i]);
    }
    free(m->host_wants);
    m->host_wants = NULL;
    m->nhost_wants = 0;
    ipc_type_finish(&ipc_host_type, &m->host);
    memset(&m->host, 0, sizeof(m->host));
}

/* Dump o compactly and drop it. */
static char *dump(json_t *o)
{
    if (o == NULL) {
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* Set key to a string when s is non-empty; jansson refuses invalid UTF-8,
 * which then is dropped rather than failing the message. */
static void set_text(json_t *o, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0') {
        json_t *v = json_string(s);
        if (v != NULL) {
            json_object_set_new(o, key, v);
        }
    }
}

/* The JSON of a result message. */
char *cluster_encode_result(const char *node, const char *check, const struct result *r,
                            enum check_state state, int64_t state_since_ms, int fail_streak,
                            int ok_streak, bool location)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:I, s:s, s:I, s:i, s:i, s:b}",
                          "v", 1, "kind", "result", "node", node, "check", check, "ts_ms",
                          (json_int_t)r->started_ms, "duration_us", (json_int_t)r->duration_us,
                          "outcome", check_state_name(r->outcome), "status", r->status,
                          "cert_expiry_s", (json_int_t)r->cert_expiry_s, "state",
                          check_state_name(state), "state_since_ms", (json_int_t)state_since_ms,
                          "fail_streak", fail_streak, "ok_streak", ok_streak, "location", location);
    if (o != NULL) {
        set_text(o, "error", r->error);
        set_text(o, "failed_condition", r->failed_condition);
    }
    return dump(o);
}

/* The JSON of an event message. */
char *cluster_encode_event(const char *node, const struct event *ev)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:I, s:s}", "v", 1, "kind", "event", "node", node,
                          "ts_ms", (json_int_t)ev->ts_ms, "type", ev->type);
    if (o == NULL) {
        return NULL;
    }
    set_text(o, "check", ev->check);
    set_text(o, "app", ev->app);
    set_text(o, "env", ev->env);
    json_t *msg = json_string(ev->message != NULL ? ev->message : "");
    json_object_set_new(o, "message", msg != NULL ? msg : json_string("(not UTF-8)"));
    if (ev->data != NULL) {
        json_t *data = json_loads(ev->data, 0, NULL);
        if (json_is_object(data)) {
            json_object_set_new(o, "data", data);
        } else {
            json_decref(data);
        }
    }
    return dump(o);
}

/* The JSON of an "alive" message. */
char *cluster_encode_node(const char *node, int64_t ts_ms, const char *checks_fp,
                          const char *const *host_wants, size_t nhost_wants)
{
    json_t *o = json_pack("{s:i, s:s, s:s, s:I}", "v", 1, "kind", "node", "node", node, "ts_ms",
                          (json_int_t)ts_ms);
    if (o != NULL) {
        set_text(o, "checks", checks_fp);
    }
    if (o != NULL && nhost_wants > 0) {
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < nhost_wants; i++) {
            if (json_array_append_new(a, json_string(host_wants[i])) < 0) {
                json_decref(a);
                a = NULL;
            }
        }
        if (a == NULL || json_object_set_new(o, "host_wants", a) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return dump(o);
}

/* The JSON of a "host" message: h as the socket packs it, in base64. */
char *cluster_encode_host(const char *node, const struct ipc_host *h)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    ipc_type_pack(&pk, &ipc_host_type, h);
    char *b64 = NULL;
    json_t *o = NULL;
    if (sb.size <= CLUSTER_MSG_MAX / 4 * 3 - 256 && (b64 = malloc(sb.size / 3 * 4 + 5)) != NULL) {
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)sb.data, (int)sb.size);
        o = json_pack("{s:i, s:s, s:s, s:I, s:s}", "v", 1, "kind", "host", "node", node, "ts_ms",
                      (json_int_t)h->ts_ms, "sample", b64);
    }
    free(b64);
    msgpack_sbuffer_destroy(&sb);
    return dump(o);
}

/* --- connection --- */

static void connect_start(struct cluster *cl);
static void asked(struct cluster *cl);
static void on_alive(redisAsyncContext *ac, void *r, void *privdata);
static void announce(struct cluster *cl);
static void host_watched(struct cluster *cl, bool now_wanted);

/* The backoff is over: try again. */
static void on_retry(uv_timer_t *t)
{
    connect_start(t->data);
}

/* xorshift64 for jitter: no need for a good generator, only a spread. */
static uint64_t next_rand(struct cluster *cl)
{
    uint64_t x = cl->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    cl->rng = x;
    return x;
}

static int64_t loop_now(const struct cluster *cl)
{
    return (int64_t)uv_now(cl->d->loop);
}

/* Where Redis is, for messages (never the password). */
static void where(const struct cluster *cl, char *buf, size_t len)
{
    if (cl->url.unix_socket) {
        snprintf(buf, len, "unix://%s", cl->url.path);
    } else {
        snprintf(buf, len, "%s:%d", cl->url.host, cl->url.port);
    }
}

/* Emit a "cluster" event. */
static void emit(struct cluster *cl, const char *msg)
{
    struct event ev = {.ts_ms = clock_now_ms(cl->d->clock), .type = "cluster", .message = msg};
    daemon_emit_event(cl->d, &ev);
}

/* Drop both contexts. Their pending callbacks run now with NULL replies
 * (lease requests then run their checks here); the disconnect callback
 * sees data NULL and does nothing. A context inside its own callback is
 * freed by hiredis when that callback returns. */
static void teardown(struct cluster *cl)
{
    redisAsyncContext *cmd = cl->cmd, *sub = cl->sub;
    cl->cmd = cl->sub = NULL;
    cl->cmd_ready = cl->sub_ready = false;
    cl->subscribed = 0;
    if (cmd != NULL) {
        cmd->data = NULL;
        redisAsyncFree(cmd);
    }
    if (sub != NULL) {
        sub->data = NULL;
        redisAsyncFree(sub);
    }
}

/* Every lease this daemon thought it held is void (Redis is gone). */
static void forget_leases(struct cluster *cl)
{
    struct daemon *d = cl->d;
    for (size_t i = 0; i < d->nchecks; i++) {
        d->checks[i]->lease_held = false;
    }
}

/* The connection failed or was lost: tear down, report once, retry later. */
static void fail(struct cluster *cl, const char *why)
{
    if (cl->state == CONN_CLOSING || cl->state == CONN_CLOSED) {
        teardown(cl);
        cl->state = CONN_CLOSED;
        return;
    }
    bool was_ready = cl->state == CONN_READY;
    cl->first_attempt = false;
    teardown(cl);
    cl->state = CONN_DOWN;
    forget_leases(cl);
    char at[300], msg[512];
    where(cl, at, sizeof(at));
    if (!cl->down_reported) {
        cl->down_reported = true;
        snprintf(msg, sizeof(msg), "cluster: %s Redis at %s (%s); running every check here",
                 was_ready ? "lost" : "cannot reach", at, why);
        log_warn(LOG_KV("redis", at), "%s", msg);
        emit(cl, msg);
    } else {
        log_debug(LOG_KV("redis", at), "cluster: reconnect failed: %s", why);
    }
    /* +-20% jitter so a fleet that lost Redis together does not return in
     * one burst. */
    int64_t delay = cl->backoff_ms;
    int64_t spread = delay / 5;
    if (spread > 0) {
        delay += (int64_t)(next_rand(cl) % (uint64_t)(2 * spread + 1)) - spread;
    }
    cl->backoff_ms = cl->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cl->backoff_ms * 2;
    uv_timer_start(&cl->retry_timer, on_retry, (uint64_t)(delay > 0 ? delay : 1), 0);
}

/* Both connections are ready: the cluster is joined. */
static void check_ready(struct cluster *cl)
{
    if (cl->state != CONN_CONNECTING || !cl->cmd_ready || !cl->sub_ready) {
        return;
    }
    cl->state = CONN_READY;
    cl->first_attempt = false;
    cl->backoff_ms = BACKOFF_FIRST_MS;
    char at[300], msg[600];
    where(cl, at, sizeof(at));
    const struct config *conf = cl->d->conf;
    if (cl->ever_ready || cl->down_reported) {
        cl->reconnects_total++;
    }
    snprintf(msg, sizeof(msg), "cluster: %s Redis at %s as %s (%s)",
             cl->down_reported ? "back on" : "connected to", at, cl->node,
             conf->cluster != NULL ? conf->cluster : "fan-out only");
    cl->ever_ready = true;
    cl->down_reported = false;
    cl->ready_ms = loop_now(cl);
    /* Announce first: peers count nothing from a node they have not heard
     * say it is alive, the event just below included. */
    announce(cl);
    log_info(LOG_KV("redis", at), "%s", msg);
    emit(cl, msg);
}

/* Whether ac is one of the current contexts (stale ones are ignored). */
static bool current(const struct cluster *cl, const redisAsyncContext *ac)
{
    return ac != NULL && (ac == cl->cmd || ac == cl->sub);
}

/* Reply to AUTH or SELECT: an error ends the attempt. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct cluster *cl = privdata;
    redisReply *reply = r;
    if (!current(cl, ac) || reply == NULL) {
        return; /* a disconnect reports itself */
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        /* Redis's own error text, never the password. */
        snprintf(why, sizeof(why), "%s", reply->str != NULL ? reply->str : "error");
        fail(cl, why);
    }
}

/* Reply to the PING that ends the command connection's set-up. */
static void on_ping(redisAsyncContext *ac, void *r, void *privdata)
{
    struct cluster *cl = privdata;
    redisReply *reply = r;
    if (!current(cl, ac) || reply == NULL) {
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "%s", reply->str != NULL ? reply->str : "error");
        fail(cl, why);
        return;
    }
    cl->cmd_ready = true;
    check_ready(cl);
}

static void on_message(struct cluster *cl, const char *buf, size_t len);

/* Every reply on the subscribed connection: confirmations, then messages. */
static void on_sub(redisAsyncContext *ac, void *r, void *privdata)
{
    struct cluster *cl = privdata;
    redisReply *reply = r;
    if (!current(cl, ac) || reply == NULL) {
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "SUBSCRIBE: %s", reply->str != NULL ? reply->str : "error");
        fail(cl, why);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        cl->rejected_total++;
        return;
    }
    const char *what = reply->element[0]->str;
    if (strcmp(what, "subscribe") == 0) {
        if (++cl->subscribed == 3) {
            cl->sub_ready = true;
            check_ready(cl);
        }
        return;
    }
    if (strcmp(what, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING) {
        cl->rejected_total++;
        return;
    }
    on_message(cl, reply->element[2]->str, reply->element[2]->len);
}

/* Connected, or not. On failure hiredis frees ac when this returns. */
static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cluster *cl = ac->data;
    if (cl == NULL || status == REDIS_OK) {
        return;
    }
    char why[200];
    snprintf(why, sizeof(why), "%s", ac->errstr != NULL ? ac->errstr : "connect failed");
    if (ac == cl->cmd) {
        cl->cmd = NULL;
    } else if (ac == cl->sub) {
        cl->sub = NULL;
    }
    ((redisAsyncContext *)ac)->data = NULL;
    fail(cl, why);
}

/* A connection ended (hiredis frees ac when this returns). */
static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cluster *cl = ac->data;
    if (cl == NULL) {
        return; /* we dropped it ourselves */
    }
    char why[200];
    snprintf(why, sizeof(why), "%s",
             ac->errstr != NULL && ac->errstr[0] ? ac->errstr : "connection closed");
    if (ac == cl->cmd) {
        cl->cmd = NULL;
    } else if (ac == cl->sub) {
        cl->sub = NULL;
    }
    fail(cl, why);
}

/* Open one context on the loop; NULL with why. */
static redisAsyncContext *open_ctx(struct cluster *cl, char *why, size_t whylen)
{
    redisAsyncContext *ac = cl->url.unix_socket ? redisAsyncConnectUnix(cl->url.path)
                                                : redisAsyncConnect(cl->url.host, cl->url.port);
    if (ac == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, whylen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    if (redisLibuvAttach(ac, cl->d->loop) != REDIS_OK) {
        snprintf(why, whylen, "cannot attach to the loop");
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = cl;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued now, sent once connected, in order. */
    if (cl->url.password[0] != '\0') {
        if (cl->url.user[0] != '\0') {
            redisAsyncCommand(ac, on_setup_reply, cl, "AUTH %s %s", cl->url.user, cl->url.password);
        } else {
            redisAsyncCommand(ac, on_setup_reply, cl, "AUTH %s", cl->url.password);
        }
    }
    return ac;
}

/* Open both connections (the retry timer's callback too). */
static void connect_start(struct cluster *cl)
{
    char why[200];
    if (cl->state != CONN_DOWN) {
        return;
    }
    cl->state = CONN_CONNECTING;
    cl->attempt_ms = loop_now(cl);
    cl->cmd = open_ctx(cl, why, sizeof(why));
    if (cl->cmd == NULL) {
        fail(cl, why);
        return;
    }
    if (cl->url.db != 0) {
        redisAsyncCommand(cl->cmd, on_setup_reply, cl, "SELECT %d", cl->url.db);
    }
    redisAsyncCommand(cl->cmd, on_ping, cl, "PING");
    cl->sub = open_ctx(cl, why, sizeof(why));
    if (cl->sub == NULL) {
        fail(cl, why);
        return;
    }
    redisAsyncCommand(cl->sub, on_sub, cl, "SUBSCRIBE %s %s %s", cl->chan_results, cl->chan_events,
                      cl->chan_nodes);
}

/* Whether the command connection can take one more publish. */
static bool can_send(const struct cluster *cl)
{
    return cl != NULL && cl->state == CONN_READY && cl->cmd != NULL &&
           (cl->cmd->c.obuf == NULL || sdslen(cl->cmd->c.obuf) < OBUF_MAX);
}

/* PUBLISH text on chan, signed when there is a key; text is freed. */
static void publish(struct cluster *cl, const char *chan, char *text)
{
    text = cluster_msg_seal(cl->key, text);
    if (text == NULL) {
        cl->dropped_total++;
        return;
    }
    if (!can_send(cl)) {
        cl->dropped_total++;
    } else if (redisAsyncCommand(cl->cmd, NULL, NULL, "PUBLISH %s %b", chan, text, strlen(text)) ==
               REDIS_OK) {
        cl->published_total++;
    } else {
        cl->dropped_total++;
    }
    free(text);
}

/* The peer of that name, which just said it is alive: added when new. */
static struct peer *peer_note(struct cluster *cl, const char *name)
{
    int64_t now = loop_now(cl);
    for (size_t i = 0; i < cl->npeers; i++) {
        if (strcmp(cl->peers[i].name, name) == 0) {
            cl->peers[i].heard_ms = now;
            return &cl->peers[i];
        }
    }
    size_t at = cl->npeers;
    if (at == PEERS_MAX) {
        /* Reuse the longest silent slot: a flood of made-up names cannot
         * grow the table. */
        at = 0;
        for (size_t i = 1; i < cl->npeers; i++) {
            if (cl->peers[i].heard_ms < cl->peers[at].heard_ms) {
                at = i;
            }
        }
    } else {
        cl->npeers++;
    }
    snprintf(cl->peers[at].name, sizeof(cl->peers[at].name), "%s", name);
    cl->peers[at].heard_ms = now;
    cl->peers[at].checks_fp[0] = '\0';
    return &cl->peers[at];
}

/* Whether p said it is alive within CLUSTER_PEER_TTL_MS. */
static bool peer_live(const struct cluster *cl, const struct peer *p)
{
    return loop_now(cl) - p->heard_ms <= CLUSTER_PEER_TTL_MS;
}

/* The live peer of that name, or NULL. */
static const struct peer *peer_find(const struct cluster *cl, const char *name)
{
    for (size_t i = 0; i < cl->npeers; i++) {
        if (strcmp(cl->peers[i].name, name) == 0) {
            return peer_live(cl, &cl->peers[i]) ? &cl->peers[i] : NULL;
        }
    }
    return NULL;
}

/* Say what was not believed: a log line and a "cluster" event at most
 * once a minute, the rest counted into the next. */
static void distrust(struct cluster *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void distrust(struct cluster *cl, const char *fmt, ...)
{
    int64_t now = loop_now(cl);
    if (cl->warned_ms != 0 && now - cl->warned_ms < WARN_EVERY_MS) {
        cl->unwarned++;
        return;
    }
    char what[512], msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (cl->unwarned > 0) {
        snprintf(msg, sizeof(msg), "cluster: %s (and %" PRIu64 " more in the last minute)", what,
                 cl->unwarned);
    } else {
        snprintf(msg, sizeof(msg), "cluster: %s", what);
    }
    cl->warned_ms = now;
    cl->unwarned = 0;
    log_warn(LOG_NOKV, "%s", msg);
    emit(cl, msg);
}

/* 64-bit FNV-1a of a string, from the basis nodes have always used. */
static uint64_t fnv(const char *s)
{
    return hash_fnv1a_str(HASH_FNV_INIT_SHIPWATCH, s);
}

/* The rendezvous weight of node for check. The node's hash is mixed
 * before the check's joins it: hashing the two strings in one pass left
 * short names like "a" and "b" winning 17 and 43 checks of 60. */
static uint64_t weight(const char *node, const char *check)
{
    return hash_mix(hash_mix(fnv(node)) ^ fnv(check));
}

/* The fingerprint of this daemon's set of check names (definitions may
 * differ per node, e.g. a header naming the node). */
static void checks_fp(const struct cluster *cl, char *out, size_t len)
{
    uint64_t h = HASH_FNV_INIT_SHIPWATCH;
    const struct daemon *d = cl->d;
    for (size_t i = 0; i < d->nchecks; i++) {
        const struct check *c = d->by_name[i];
        h = (h ^ hash_mix(fnv(c->conf->name))) * HASH_FNV_PRIME;
    }
    snprintf(out, len, "%016" PRIx64, h);
}

/* Whether this node has the highest rendezvous weight for c among itself
 * and the live peers running the same checks, except the one named
 * except (NULL none). */
static bool preferred_except(struct cluster *cl, const struct check *c, const char *except)
{
    uint64_t mine = weight(cl->node, c->conf->name);
    for (size_t i = 0; i < cl->npeers; i++) {
        const struct peer *p = &cl->peers[i];
        if (!peer_live(cl, p) || strcmp(p->checks_fp, cl->fp) != 0 ||
            (except != NULL && strcmp(p->name, except) == 0)) {
            continue;
        }
        uint64_t w = weight(p->name, c->conf->name);
        if (w > mine || (w == mine && strcmp(p->name, cl->node) > 0)) {
            return false;
        }
    }
    return true;
}

/* Whether this node is c's preferred holder. */
static bool preferred(struct cluster *cl, const struct check *c)
{
    return preferred_except(cl, c, NULL);
}

/* The names of the message kinds, for warnings. */
static const char *kind_name(enum cluster_msg_kind k)
{
    return k == CLUSTER_MSG_RESULT ? "result"
           : k == CLUSTER_MSG_EVENT ? "event"
           : k == CLUSTER_MSG_HOST  ? "host sample"
                                    : "alive message";
}

/* One message from the bus. */
static void on_message(struct cluster *cl, const char *buf, size_t len)
{
    size_t at;
    int rc = cluster_msg_open(cl->key, buf, len, &at);
    if (rc < 0) {
        cl->rejected_total++;
        if (rc == -EPERM) {
            distrust(cl, "refused a message not signed with this daemon's redis.key (is the "
                         "key the same on every daemon?)");
        }
        return;
    }
    struct cluster_msg m;
    if (cluster_msg_parse(buf + at, len - at, &m) < 0) {
        cl->rejected_total++;
        return;
    }
    struct daemon *d = cl->d;
    if (strcmp(m.node, cl->node) == 0) {
        cluster_msg_finish(&m);
        return; /* our own, echoed */
    }
    /* A signed message replayed later would be believed again: its time
     * says how old it is. */
    if (cl->key != NULL && !cluster_msg_fresh(&m, clock_now_ms(d->clock))) {
        cl->rejected_total++;
        distrust(cl, "refused a %s from %s dated over a minute from this daemon's clock (a "
                     "replay, or clocks apart)",
                 kind_name(m.kind), m.node);
        cluster_msg_finish(&m);
        return;
    }
    if (m.kind == CLUSTER_MSG_NODE) {
        struct peer *p = peer_note(cl, m.node);
        snprintf(p->checks_fp, sizeof(p->checks_fp), "%s", m.checks_fp);
        cl->received_total++;
        for (size_t i = 0; i < m.nhost_wants; i++) {
            if (strcmp(m.host_wants[i], cl->node) == 0) {
                host_watched(cl, true);
            }
        }
        cluster_msg_finish(&m);
        return;
    }
    if (peer_find(cl, m.node) == NULL) {
        cl->rejected_total++;
        distrust(cl, "ignored a %s from %s, a node that has not announced itself", kind_name(m.kind),
                 m.node);
        cluster_msg_finish(&m);
        return;
    }
    cl->received_total++;
    if (m.kind == CLUSTER_MSG_HOST) {
        daemon_on_peer_host(d, m.node, &m.host);
    } else if (m.kind == CLUSTER_MSG_RESULT) {
        struct check *c = daemon_find_check(d, m.check);
        if (c != NULL) {
            daemon_on_peer_result(d, c, &m);
        }
    } else {
        struct event ev = {
            .ts_ms = m.ts_ms,
            .type = m.type,
            .check = m.check[0] != '\0' ? m.check : NULL,
            .app = m.app,
            .env = m.env,
            .message = m.message,
            .data = m.data,
        };
        daemon_on_peer_event(d, m.node, &ev);
    }
    cluster_msg_finish(&m);
}

/* Say this daemon is alive, with its checks' fingerprint and the nodes
 * its clients watch. */
static void announce(struct cluster *cl)
{
    checks_fp(cl, cl->fp, sizeof(cl->fp));
    const char *wants[CLUSTER_HOST_WANTS_MAX];
    for (size_t i = 0; i < cl->nwants; i++) {
        wants[i] = cl->wants[i].name;
    }
    publish(cl, cl->chan_nodes,
            cluster_encode_node(cl->node, clock_now_ms(cl->d->clock), cl->fp, wants, cl->nwants));
}

/* A peer watches this host (or no longer): hold the sampler while one
 * said so within CLUSTER_HOST_WANT_TTL_MS. */
static void host_watched(struct cluster *cl, bool now_wanted)
{
    int64_t now = loop_now(cl);
    if (now_wanted) {
        cl->host_wanted_ms = now;
        if (!cl->host_held) {
            cl->host_held = true;
            hostmon_hold(cl->d->hostmon);
        }
    } else if (cl->host_held && now - cl->host_wanted_ms > CLUSTER_HOST_WANT_TTL_MS) {
        cl->host_held = false;
        hostmon_release(cl->d->hostmon);
    }
}

int cluster_host_want(struct cluster *cl, const char *node, int delta)
{
    if (cl == NULL) {
        return -ENODEV;
    }
    size_t i = 0;
    while (i < cl->nwants && strcmp(cl->wants[i].name, node) != 0) {
        i++;
    }
    if (delta > 0) {
        if (i == cl->nwants) {
            if (cl->nwants == CLUSTER_HOST_WANTS_MAX) {
                return -ENOSPC;
            }
            snprintf(cl->wants[i].name, sizeof(cl->wants[i].name), "%s", node);
            cl->wants[i].refs = 0;
            cl->nwants++;
        }
        if (cl->wants[i].refs++ == 0 && cl->state == CONN_READY) {
            announce(cl); /* the node starts sampling now, not at the next tick */
        }
    } else if (i < cl->nwants && --cl->wants[i].refs == 0) {
        cl->wants[i] = cl->wants[--cl->nwants];
        if (cl->state == CONN_READY) {
            announce(cl);
        }
    }
    return 0;
}

bool cluster_host_can_want(const struct cluster *cl, const char *node)
{
    if (cl == NULL) {
        return false;
    }
    for (size_t i = 0; i < cl->nwants; i++) {
        if (strcmp(cl->wants[i].name, node) == 0) {
            return true;
        }
    }
    return cl->nwants < CLUSTER_HOST_WANTS_MAX;
}

void cluster_publish_host(struct cluster *cl, const struct ipc_host *h)
{
    if (cl == NULL || !cl->host_held) {
        return;
    }
    char *text = cluster_encode_host(cl->node, h);
    if (text == NULL) {
        cl->dropped_total++;
        return;
    }
    publish(cl, cl->chan_nodes, text);
}

bool cluster_peer_live(const struct cluster *cl, const char *node)
{
    const struct peer *p = cl != NULL ? peer_find(cl, node) : NULL;
    return p != NULL && peer_live(cl, p);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t cluster_peer_names(const struct cluster *cl, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; cl != NULL && i < cl->npeers; i++) {
        if (peer_live(cl, &cl->peers[i])) {
            if (n < max) {
                names[n] = cl->peers[i].name;
            }
            n++;
        }
    }
    qsort(names, n < max ? n : max, sizeof(*names), by_name);
    return n;
}

/* Every second: connect timeout, "alive", closing deadline. */
static void on_tick(uv_timer_t *t)
{
    struct cluster *cl = t->data;
    int64_t now = loop_now(cl);
    host_watched(cl, false);
    if (cl->state == CONN_CONNECTING && now - cl->attempt_ms > CONNECT_TIMEOUT_MS) {
        fail(cl, "timed out connecting");
        return;
    }
    /* A Redis that keeps the connection but stopped answering (stopped,
     * partitioned without a reset) would hold every lease request: treat
     * it as gone, and the checks run here. */
    if (cl->state == CONN_READY && cl->replies_pending > 0 &&
        now - cl->waiting_since_ms > REPLY_TIMEOUT_MS) {
        fail(cl, "Redis stopped answering");
        return;
    }
    checks_fp(cl, cl->fp, sizeof(cl->fp));
    if (cl->state == CONN_READY) {
        announce(cl);
        if (redisAsyncCommand(cl->cmd, on_alive, cl, "PING") == REDIS_OK) {
            asked(cl);
        }
    }
}

/* Start connecting (see cluster.h). */
int cluster_create(struct daemon *d, struct cluster **out, char *err, size_t errlen)
{
    const struct config *conf = d->conf;
    *out = NULL;
    if (conf->redis.url == NULL) {
        return 0;
    }
    struct cluster *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = cluster_url_parse(conf->redis.url, &cl->url, err, errlen);
    if (rc < 0) {
        free(cl);
        return rc;
    }
    cl->d = d;
    if (conf->redis.key != NULL && (cl->key = strdup(conf->redis.key)) == NULL) {
        free(cl);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(cl->node, sizeof(cl->node), "%s",
             conf->node_name != NULL ? conf->node_name : "shipwatchd");
    const char *prefix =
        conf->redis.prefix != NULL ? conf->redis.prefix : CONFIG_DEFAULT_REDIS_PREFIX;
    const char *name = conf->cluster != NULL ? conf->cluster : "default";
    size_t n = strlen(prefix) + strlen(name) + 16;
    cl->chan_results = malloc(n);
    cl->chan_events = malloc(n);
    cl->chan_nodes = malloc(n);
    if (conf->cluster != NULL) {
        cl->lease_prefix = malloc(n);
    }
    if (cl->chan_results == NULL || cl->chan_events == NULL || cl->chan_nodes == NULL ||
        (conf->cluster != NULL && cl->lease_prefix == NULL)) {
        cl->state = CONN_CLOSED;
        cluster_destroy(cl);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(cl->chan_results, n, "%s:%s:results", prefix, name);
    snprintf(cl->chan_events, n, "%s:%s:events", prefix, name);
    snprintf(cl->chan_nodes, n, "%s:%s:nodes", prefix, name);
    if (cl->lease_prefix != NULL) {
        snprintf(cl->lease_prefix, n, "%s:%s:lease:", prefix, name);
    }
    cl->rng = uv_hrtime() ^ ((uint64_t)(uintptr_t)cl << 17) ^ 0x9e3779b97f4a7c15ULL;
    if (cl->rng == 0) {
        cl->rng = 1;
    }
    cl->backoff_ms = BACKOFF_FIRST_MS;
    cl->first_attempt = true;
    checks_fp(cl, cl->fp, sizeof(cl->fp));
    uv_timer_init(d->loop, &cl->retry_timer);
    uv_timer_init(d->loop, &cl->tick_timer);
    cl->retry_timer.data = cl;
    cl->tick_timer.data = cl;
    uv_timer_start(&cl->tick_timer, on_tick, TICK_MS, TICK_MS);
    cl->state = CONN_DOWN;
    connect_start(cl);
    cl->first_attempt = cl->state == CONN_CONNECTING;
    *out = cl;
    return 0;
}

/* --- leases --- */

/* The lease grace beyond the interval. */
int64_t cluster_lease_grace_ms(int64_t interval_ms)
{
    int64_t g = interval_ms / 4;
    return g < 2000 ? g : 2000;
}

/* A reply (or NULL, the connection gone) to something we asked. */
static void replied(struct cluster *cl)
{
    if (cl->replies_pending > 0) {
        cl->replies_pending--;
    }
    cl->waiting_since_ms = loop_now(cl);
}

/* Count a request whose reply is owed. */
static void asked(struct cluster *cl)
{
    if (cl->replies_pending++ == 0) {
        cl->waiting_since_ms = loop_now(cl);
    }
}

/* The reply to the tick's PING. */
static void on_alive(redisAsyncContext *ac, void *r, void *privdata)
{
    replied(privdata);
}

/* A lease holder's name as Redis gave it, fit for a message: anyone who
 * can write to Redis could have written it. */
static void holder_name(const redisReply *holder, char *out, size_t cap)
{
    copy_cut(out, cap, holder->str, holder->len);
    for (char *p = out; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
}

/* A lease this daemon took from a holder not to be believed. */
static void overridden(struct cluster *cl, const struct lease_req *req, const redisReply *holder,
                       const redisReply *why, int64_t pttl)
{
    cl->leases_overridden_total++;
    char name[CLUSTER_NAME_MAX];
    holder_name(holder, name, sizeof(name));
    if (why->len == 3 && memcmp(why->str, "ttl", 3) == 0) {
        distrust(cl, "took over the lease of %s from %s: it was set to last %s%" PRId64
                     " ms, beyond interval plus grace (%" PRId64 " ms)",
                 req->check, name, pttl < 0 ? "forever, " : "", pttl < 0 ? (int64_t)0 : pttl,
                 req->ttl_ms);
    } else {
        distrust(cl, "took over the lease of %s from %s, a node that has not announced itself",
                 req->check, name);
    }
}

/* Another node keeps c's lease: when no result of c came for two
 * intervals, c is unknown, said by one daemon for the cluster. */
static void watch_unrun(struct cluster *cl, struct check *c, const struct lease_req *req,
                        const redisReply *holder)
{
    int64_t now = loop_now(cl);
    int64_t interval = req->ttl_ms - req->grace_ms;
    if (c->unrun_since_ms == 0) {
        c->unrun_since_ms = now;
        return;
    }
    /* Ticks come one interval apart: the third denial with no result
     * between is two intervals after the first. */
    if (now - c->unrun_since_ms < 2 * interval - req->grace_ms) {
        return;
    }
    char name[CLUSTER_NAME_MAX], why[RESULT_ERROR_MAX];
    holder_name(holder, name, sizeof(name));
    snprintf(why, sizeof(why), "no node ran it for two intervals; its lease is held by %s", name);
    bool loud = preferred_except(cl, c, name);
    if (loud && c->state != STATE_UNKNOWN) {
        cl->unrun_total++;
    }
    daemon_on_unrun(cl->d, c, why, loud);
}

/* A lease reply: {1, ...} ours, {0, pttl, holder} someone else's; NULL or
 * an error means Redis failed us, and the check runs here, owned. */
static void on_lease(redisAsyncContext *ac, void *r, void *privdata)
{
    struct lease_req *req = privdata;
    struct cluster *cl = req->cl;
    redisReply *reply = r;
    bool granted = true;
    int64_t pttl = -1;
    bool valid = false;
    const redisReply *holder = NULL, *why = NULL;

    cl->leases_pending--;
    replied(cl);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->elements <= 4 && reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER &&
        (reply->elements < 3 || reply->element[2]->type == REDIS_REPLY_STRING) &&
        (reply->elements < 4 || reply->element[3]->type == REDIS_REPLY_STRING)) {
        valid = true;
        granted = reply->element[0]->integer == 1;
        pttl = reply->element[1]->integer;
        holder = reply->elements >= 3 ? reply->element[2] : NULL;
        why = reply->elements == 4 ? reply->element[3] : NULL;
    } else if (reply != NULL) {
        log_warn(LOG_KV("check", req->check), "cluster: lease script failed: %s",
                 reply->type == REDIS_REPLY_ERROR && reply->str != NULL ? reply->str
                                                                        : "unexpected reply");
    }
    struct daemon *d = cl->d;
    struct check *c = daemon_find_check(d, req->check);
    if (c == NULL || c->lease_seq != req->seq || c->removed) {
        free(req);
        return;
    }
    if (granted && holder != NULL && why != NULL) {
        overridden(cl, req, holder, why, pttl);
        pttl = 0;
    }
    /* A reply that makes no sense leaves this daemon running the check:
     * it then decides about it too, never silently. */
    c->lease_held = granted;
    if (valid && c->lease_held && req->after_defer) {
        /* The preferred node left it free: it is probably dead but still
         * counted live until its silence passes CLUSTER_PEER_TTL_MS. Keep
         * the check that long rather than yield it back to nobody. */
        c->lease_keep_until_ms = loop_now(cl) + CLUSTER_PEER_TTL_MS;
    }
    c->lease_defer = valid && !granted && pttl == -2;
    if (c->lease_defer) {
        pttl = req->grace_ms; /* free, but preferred elsewhere: wait, then take it */
    }
    if (c->lease_held) {
        c->lease_until_ms = loop_now(cl) + req->ttl_ms;
    }
    if (req->gate && !granted && holder != NULL) {
        watch_unrun(cl, c, req, holder);
    }
    if (req->gate && c->lease_pending) {
        c->lease_pending = false;
        if (d->sched != NULL) {
            sched_lease_reply(d->sched, c, granted, granted ? -1 : pttl);
        }
    }
    free(req);
}

/* The lease gate (see cluster.h). */
enum cluster_gate cluster_lease(struct cluster *cl, struct check *c, int64_t interval_ms)
{
    int64_t grace_ms = cluster_lease_grace_ms(interval_ms);
    int64_t ttl_ms = interval_ms + grace_ms;
    if (cl == NULL || cl->lease_prefix == NULL) {
        return CLUSTER_RUN;
    }
    /* While the first connection is being made, ask anyway: hiredis sends
     * the request once connected (or fails it, and the check runs here),
     * so a fleet starting together does not run everything once. Later
     * attempts do not hold checks back. */
    bool usable = cl->cmd != NULL &&
                  (cl->state == CONN_READY || (cl->state == CONN_CONNECTING && cl->first_attempt));
    if (!usable || cl->leases_pending >= LEASES_PENDING_MAX) {
        c->lease_held = false;
        return CLUSTER_RUN;
    }
    size_t nlen = strlen(c->conf->name);
    struct lease_req *req = malloc(sizeof(*req) + nlen + 1);
    char *key = malloc(strlen(cl->lease_prefix) + nlen + 1);
    if (req == NULL || key == NULL) {
        free(req);
        free(key);
        return CLUSTER_RUN;
    }
    req->cl = cl;
    req->seq = ++cl->lease_seq;
    req->gate = !c->conf->locations_all;
    req->ttl_ms = ttl_ms;
    req->grace_ms = grace_ms;
    const char *mode = "take";
    req->after_defer = false;
    if (!preferred(cl, c)) {
        if (c->lease_held) {
            mode = loop_now(cl) >= c->lease_keep_until_ms ? "yield" : "take";
        } else if (c->lease_defer) {
            req->after_defer = true;
        } else {
            mode = "defer";
        }
    }
    memcpy(req->check, c->conf->name, nlen + 1);
    strcpy(key, cl->lease_prefix);
    strcat(key, c->conf->name);
    /* The longest lease a peer may rightly hold: one from the configured
     * interval, which a post-deploy cadence only shortens. */
    int64_t base = c->conf->interval_ms > interval_ms ? c->conf->interval_ms : interval_ms;
    char ttl[24], bound[24];
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms > 0 ? ttl_ms : 1);
    snprintf(bound, sizeof(bound), "%" PRId64, base + cluster_lease_grace_ms(base));
    /* Names are judged once every live peer has had time to announce
     * itself since this daemon (re)joined. */
    bool judge = cl->state == CONN_READY && loop_now(cl) - cl->ready_ms >= JUDGE_AFTER_MS;
    const char *argv[9 + PEERS_MAX];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = lease_script;
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = cl->node;
    argv[argc++] = ttl;
    argv[argc++] = mode;
    argv[argc++] = bound;
    argv[argc++] = judge ? "1" : "0";
    for (size_t i = 0; judge && i < cl->npeers; i++) {
        if (peer_live(cl, &cl->peers[i])) {
            argv[argc++] = cl->peers[i].name;
        }
    }
    int rc = redisAsyncCommandArgv(cl->cmd, on_lease, req, argc, argv, NULL);
    free(key);
    if (rc != REDIS_OK) {
        free(req);
        return CLUSTER_RUN;
    }
    cl->leases_pending++;
    asked(cl);
    c->lease_seq = req->seq;
    return req->gate ? CLUSTER_ASKED : CLUSTER_RUN;
}

/* Whether this daemon decides about c alone. */
bool cluster_owns(const struct cluster *cl, const struct check *c)
{
    if (cl == NULL || cl->lease_prefix == NULL || cl->state != CONN_READY) {
        return true;
    }
    return c->lease_held;
}

/* A release's reply. */
static void on_release(redisAsyncContext *ac, void *r, void *privdata)
{
    struct cluster *cl = privdata;
    if (cl->releases_pending > 0) {
        cl->releases_pending--;
    }
}

/* --- publishing --- */

/* Publish c's result. */
void cluster_publish_result(struct cluster *cl, const struct check *c, const struct result *r)
{
    if (cl == NULL) {
        return;
    }
    const struct check_location *own = NULL;
    if (c->conf->locations_all) {
        for (size_t i = 0; i < c->nlocations; i++) {
            if (strcmp(c->locations[i].name, cl->node) == 0) {
                own = &c->locations[i];
            }
        }
    }
    char *text =
        own != NULL
            ? cluster_encode_result(cl->node, c->conf->name, r, own->state, own->state_since_ms,
                                    own->fail_streak, own->ok_streak, true)
            : cluster_encode_result(cl->node, c->conf->name, r, c->state, c->state_since_ms,
                                    c->fail_streak, c->ok_streak, false);
    publish(cl, cl->chan_results, text);
}

/* Publish an event emitted here. */
void cluster_publish_event(struct cluster *cl, const struct event *ev)
{
    if (cl == NULL || cl->state != CONN_READY) {
        if (cl != NULL) {
            cl->dropped_total++;
        }
        return;
    }
    publish(cl, cl->chan_events, cluster_encode_event(cl->node, ev));
}

/* --- lifecycle --- */

/* This daemon's node name as the cluster knows it. */
const char *cluster_node(const struct cluster *cl)
{
    return cl->node;
}

/* Whether both connections are up. */
bool cluster_connected(const struct cluster *cl)
{
    return cl != NULL && cl->state == CONN_READY;
}

/* Release our leases, then disconnect (bounded by the tick's deadline). */
void cluster_close(struct cluster *cl)
{
    if (cl == NULL || cl->state == CONN_CLOSING || cl->state == CONN_CLOSED) {
        return;
    }
    uv_timer_stop(&cl->retry_timer);
    if (cl->host_held) {
        cl->host_held = false;
        hostmon_release(cl->d->hostmon);
    }
    bool ready = cl->state == CONN_READY;
    cl->state = CONN_CLOSING;
    cl->close_started_ms = loop_now(cl);
    struct daemon *d = cl->d;
    size_t released = 0;
    if (ready && cl->lease_prefix != NULL) {
        for (size_t i = 0; i < d->nchecks; i++) {
            struct check *c = d->checks[i];
            if (!c->lease_held) {
                continue;
            }
            c->lease_held = false;
            if (redisAsyncCommand(cl->cmd, on_release, cl, "EVAL %s 1 %s%s %s", release_script,
                                  cl->lease_prefix, c->conf->name, cl->node) == REDIS_OK) {
                cl->releases_pending++;
                released++;
            }
        }
    }
    if (released > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", released);
        log_info(LOG_KV("leases", n), "cluster: releasing %zu check leases", released);
    }
    /* The subscriber has nothing to finish. */
    redisAsyncContext *sub = cl->sub;
    cl->sub = NULL;
    if (sub != NULL) {
        sub->data = NULL;
        redisAsyncFree(sub);
    }
    if (cl->cmd != NULL && ready) {
        /* Sends what is queued, waits for the replies, then closes; the
         * disconnect callback (data still set) marks us closed. */
        redisAsyncDisconnect(cl->cmd);
    } else {
        teardown(cl);
        cl->state = CONN_CLOSED;
    }
}

/* Whether the shutdown finished, forcing it after CLOSE_TIMEOUT_MS. */
bool cluster_closed(const struct cluster *cl)
{
    if (cl == NULL || cl->state == CONN_CLOSED) {
        return true;
    }
    if (cl->state != CONN_CLOSING) {
        return false;
    }
    struct cluster *m = (struct cluster *)cl;
    if (m->cmd == NULL || loop_now(m) - m->close_started_ms > CLOSE_TIMEOUT_MS) {
        teardown(m);
        m->state = CONN_CLOSED;
        return true;
    }
    return false;
}

/* Free (after the loop closed the handles). */
void cluster_destroy(struct cluster *cl)
{
    if (cl == NULL) {
        return;
    }
    teardown(cl);
    free(cl->lease_prefix);
    free(cl->chan_results);
    free(cl->chan_events);
    free(cl->chan_nodes);
    memset(&cl->url, 0, sizeof(cl->url)); /* the password */
    if (cl->key != NULL) {
        OPENSSL_cleanse(cl->key, strlen(cl->key));
        free(cl->key);
    }
    free(cl);
}

/* Current figures. */
void cluster_get_stats(const struct cluster *cl, struct cluster_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (cl == NULL) {
        return;
    }
    out->connected = cl->state == CONN_READY;
    int64_t now = loop_now(cl);
    if (out->connected && cl->lease_prefix != NULL) {
        for (size_t i = 0; i < cl->d->nchecks; i++) {
            const struct check *c = cl->d->checks[i];
            if (c->lease_held && c->lease_until_ms > now) {
                out->checks_owned++;
            }
        }
    }
    for (size_t i = 0; i < cl->npeers; i++) {
        if (now - cl->peers[i].heard_ms <= CLUSTER_PEER_TTL_MS) {
            out->peers++;
        }
    }
    out->published_total = cl->published_total;
    out->received_total = cl->received_total;
    out->rejected_total = cl->rejected_total;
    out->dropped_total = cl->dropped_total;
    out->reconnects_total = cl->reconnects_total;
    out->leases_overridden_total = cl->leases_overridden_total;
    out->unrun_total = cl->unrun_total;
}
