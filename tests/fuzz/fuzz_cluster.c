/* fuzz_cluster.c - libFuzzer: a peer's bytes on the Redis bus, and redis.url.
 * Input: the first byte picks the target (even: a bus message, odd: a URL),
 * the rest is the input. A message's envelope is opened without a key and
 * with one (a forged signature must never pass); with bit 1 of the first
 * byte the input is also sealed with a key and must open with it only. A
 * message that parses is encoded again (results, events, "alive" messages
 * and host samples) and must parse back to the same fields; aborts
 * otherwise. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Equal strings, NULL counting as "". */
static bool same(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static void check_result(const struct cluster_msg *m)
{
    char *text = cluster_encode_result(m->node, m->check, &m->result, m->state, m->state_since_ms,
                                       m->fail_streak, m->ok_streak, m->location);
    if (text == NULL) {
        return;
    }
    struct cluster_msg b;
    if (cluster_msg_parse(text, strlen(text), &b) != 0) {
        /* A cut error text may end invalid UTF-8 that jansson then drops;
         * nothing else may fail. */
        abort();
    }
    if (b.kind != CLUSTER_MSG_RESULT || strcmp(b.node, m->node) != 0 ||
        strcmp(b.check, m->check) != 0 || b.result.started_ms != m->result.started_ms ||
        b.result.duration_us != m->result.duration_us || b.result.outcome != m->result.outcome ||
        b.result.status != m->result.status || b.state != m->state ||
        b.fail_streak != m->fail_streak || b.ok_streak != m->ok_streak ||
        b.location != m->location ||
        strcmp(b.result.failed_condition, m->result.failed_condition) != 0) {
        abort();
    }
    cluster_msg_finish(&b);
    free(text);
}

static void check_event(const struct cluster_msg *m)
{
    struct event ev = {.ts_ms = m->ts_ms,
                       .type = m->type,
                       .check = m->check[0] ? m->check : NULL,
                       .app = m->app,
                       .env = m->env,
                       .message = m->message,
                       .data = m->data};
    char *text = cluster_encode_event(m->node, &ev);
    if (text == NULL) {
        return;
    }
    struct cluster_msg b;
    if (cluster_msg_parse(text, strlen(text), &b) != 0 || b.kind != CLUSTER_MSG_EVENT ||
        b.ts_ms != m->ts_ms || !same(b.type, m->type) || strcmp(b.check, m->check) != 0 ||
        !same(b.message, m->message) || !same(b.data, m->data)) {
        abort();
    }
    cluster_msg_finish(&b);
    free(text);
}

/* An "alive" message's wants, and a host sample, survive their encoders. */
static void check_node(const struct cluster_msg *m)
{
    char *text = cluster_encode_node(m->node, m->ts_ms, m->checks_fp,
                                     (const char *const *)m->host_wants, m->nhost_wants);
    if (text == NULL) {
        return;
    }
    struct cluster_msg b;
    if (cluster_msg_parse(text, strlen(text), &b) != 0 || b.kind != CLUSTER_MSG_NODE ||
        b.nhost_wants != m->nhost_wants) {
        abort();
    }
    for (size_t i = 0; i < b.nhost_wants; i++) {
        if (strcmp(b.host_wants[i], m->host_wants[i]) != 0) {
            abort();
        }
    }
    cluster_msg_finish(&b);
    free(text);
}

static void check_host(const struct cluster_msg *m)
{
    char *text = cluster_encode_host(m->node, &m->host);
    if (text == NULL) {
        return;
    }
    struct cluster_msg b;
    if (cluster_msg_parse(text, strlen(text), &b) != 0 || b.kind != CLUSTER_MSG_HOST ||
        b.ts_ms != m->ts_ms || !same(b.host.hostname, m->host.hostname) ||
        b.host.ncpus != m->host.ncpus || b.host.ntop_cpu != m->host.ntop_cpu ||
        b.host.mem_total_bytes != m->host.mem_total_bytes) {
        abort();
    }
    cluster_msg_finish(&b);
    free(text);
}

/* Sealed with key, in opens with it to itself, and with no other key. */
static void seal_round_trip(const char *key, const char *in, size_t len)
{
    char *json = malloc(len + 1);
    if (json == NULL) {
        return;
    }
    memcpy(json, in, len);
    json[len] = '\0';
    len = strlen(json);
    char *text = cluster_msg_seal(key, json);
    if (text == NULL) {
        return;
    }
    size_t tlen = strlen(text), at;
    if (tlen > CLUSTER_MSG_MAX) {
        free(text);
        return;
    }
    if (cluster_msg_open(key, text, tlen, &at) != 0 || tlen - at != len ||
        memcmp(text + at, in, len) != 0 ||
        cluster_msg_open("another-key-0123456", text, tlen, &at) != -EPERM) {
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        char *url = malloc(len + 1);
        if (url == NULL) {
            return 0;
        }
        memcpy(url, in, len);
        url[len] = '\0';
        struct cluster_url u;
        char err[200];
        if (cluster_url_parse(url, &u, err, sizeof(err)) == 0) {
            if (!u.unix_socket && (u.host[0] == '\0' || u.port < 1 || u.port > 65535)) {
                abort();
            }
            if (u.unix_socket && u.path[0] != '/') {
                abort();
            }
        }
        free(url);
        return 0;
    }
    static const char key[] = "fuzz-cluster-key-0123";
    size_t at;
    if (cluster_msg_open(key, in, len, &at) == 0) {
        abort(); /* the fuzzer cannot know the key's HMAC of its input */
    }
    if (data[0] & 2) {
        seal_round_trip(key, in, len);
    }
    if (cluster_msg_open(NULL, in, len, &at) != 0) {
        return 0;
    }
    if (at > len) {
        abort();
    }
    in += at;
    len -= at;
    struct cluster_msg m;
    if (cluster_msg_parse(in, len, &m) != 0) {
        return 0;
    }
    if (m.kind == CLUSTER_MSG_RESULT) {
        check_result(&m);
    } else if (m.kind == CLUSTER_MSG_EVENT) {
        check_event(&m);
    } else if (m.kind == CLUSTER_MSG_NODE) {
        check_node(&m);
    } else {
        check_host(&m);
    }
    cluster_msg_finish(&m);
    return 0;
}
