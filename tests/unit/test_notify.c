/* test_notify.c - the generic payload, every renderer, and deliveries on a
 * real loop: HTTP and SMTP against small servers on 127.0.0.1 started here,
 * exec through /bin/sh. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "curlm.h"
#include "daemon.h"
#include "notify.h"
#include "store.h"

#define T_STARTED 1795428000000LL     /* 2026-11-23T10:00:00.000Z */
#define T_CREATED 1795428000120LL     /* 2026-11-23T10:00:00.120Z */
#define T_ACK 1795428330000LL         /* 2026-11-23T10:05:30.000Z */
#define T_RESOLVED 1795428330007LL    /* 2026-11-23T10:05:30.007Z */
#define SUMMARY "api-health is down: [STATUS] (503) == 200"
#define WAIT_MS 5000                  /* the longest any live test waits */

static char tmpdir[512];

/* --- fixtures --- */

static struct alert firing_alert(void)
{
    struct alert a = {
        .id = 3,
        .kind = "down",
        .check = "api-health",
        .app = "api",
        .env = "production",
        .severity = "critical",
        .status = "firing",
        .summary = SUMMARY,
        .started_ms = T_STARTED,
    };
    return a;
}

static struct conf_notifier notifier(const char *type)
{
    static char *to[] = {"a@example.com", "b@example.com"};
    struct conf_notifier n = {
        .name = "test",
        .type = (char *)type,
        .from = "shipwatch@example.com",
        .to = to,
        .nto = 2,
        .tls = CONF_TLS_AUTO,
        .timeout_ms = 2000,
    };
    return n;
}

static char *firing_payload(void)
{
    struct alert a = firing_alert();
    char *p = notify_payload(&a, "firing", 17, T_CREATED);
    assert_non_null(p);
    return p;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL) {
        fail_msg("not JSON (%s): %s", err.text, text);
    }
    return j;
}

static const char *jget_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        fail_msg("%s is not a string", key);
    }
    return json_string_value(v);
}

static void assert_null_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_null(v));
}

/* --- the payload --- */

static void payload_firing(void **state)
{
    char *p = firing_payload();
    json_t *j = parse(p);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "delivery_id")), 17);
    assert_string_equal(jget_str(j, "event"), "firing");
    assert_string_equal(jget_str(j, "shipwatch_version"), SHIPWATCH_VERSION);
    assert_string_equal(jget_str(j, "created_at"), "2026-11-23T10:00:00.120Z");
    char host[256] = "";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    assert_string_equal(jget_str(j, "host"), host);

    json_t *a = json_object_get(j, "alert");
    assert_true(json_is_object(a));
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 3);
    assert_string_equal(jget_str(a, "kind"), "down");
    assert_string_equal(jget_str(a, "status"), "firing");
    assert_string_equal(jget_str(a, "severity"), "critical");
    assert_string_equal(jget_str(a, "check"), "api-health");
    assert_string_equal(jget_str(a, "app"), "api");
    assert_string_equal(jget_str(a, "env"), "production");
    assert_string_equal(jget_str(a, "summary"), SUMMARY);
    assert_string_equal(jget_str(a, "started_at"), "2026-11-23T10:00:00.000Z");
    assert_null_member(a, "resolved_at");
    assert_null_member(a, "acknowledged_by");
    assert_null_member(a, "acknowledged_at");
    assert_null_member(a, "ack_comment");
    assert_null_member(a, "muted_by");
    assert_null_member(a, "deploy_id");
    json_decref(j);
    free(p);
}

static void payload_resolved_and_acknowledged(void **state)
{
    struct alert a = firing_alert();
    a.status = "resolved";
    a.resolved_ms = T_RESOLVED;
    a.ack_by = "alice";
    a.ack_ms = T_ACK;
    a.ack_comment = "looking into it";
    a.muted_by = "maintenance nightly";
    char *p = notify_payload(&a, "resolved", 18, T_CREATED);
    json_t *j = parse(p);
    json_t *al = json_object_get(j, "alert");
    assert_string_equal(jget_str(j, "event"), "resolved");
    assert_string_equal(jget_str(al, "status"), "resolved");
    assert_string_equal(jget_str(al, "resolved_at"), "2026-11-23T10:05:30.007Z");
    assert_string_equal(jget_str(al, "acknowledged_by"), "alice");
    assert_string_equal(jget_str(al, "acknowledged_at"), "2026-11-23T10:05:30.000Z");
    assert_string_equal(jget_str(al, "ack_comment"), "looking into it");
    assert_string_equal(jget_str(al, "muted_by"), "maintenance nightly");
    json_decref(j);
    free(p);

    /* A failed deploy: no check, a deploy id. */
    struct alert d = {
        .id = 9,
        .kind = "deploy-failed",
        .app = "api",
        .severity = "warning",
        .status = "acknowledged",
        .summary = "deploy 1.2.3 of api failed",
        .started_ms = T_STARTED,
        .ack_by = "bob",
        .ack_ms = T_ACK,
        .deploy_id = 42,
    };
    p = notify_payload(&d, "acknowledged", 19, T_CREATED);
    j = parse(p);
    al = json_object_get(j, "alert");
    assert_string_equal(jget_str(j, "event"), "acknowledged");
    assert_null_member(al, "check");
    assert_null_member(al, "env");
    assert_null_member(al, "ack_comment");
    assert_null_member(al, "resolved_at");
    assert_int_equal(json_integer_value(json_object_get(al, "deploy_id")), 42);
    json_decref(j);
    free(p);
}

static void payload_bad_text_stays_json(void **state)
{
    struct alert a = firing_alert();
    a.summary = "bad \xff\xfe bytes \xc3";
    char *p = notify_payload(&a, "firing", 1, T_CREATED);
    json_t *j = parse(p);
    const char *s = jget_str(json_object_get(j, "alert"), "summary");
    assert_non_null(strstr(s, "bad "));
    assert_non_null(strstr(s, "\xEF\xBF\xBD"));
    json_decref(j);
    free(p);

    /* A huge summary is cut. */
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    a.summary = big;
    p = notify_payload(&a, "firing", 1, T_CREATED);
    j = parse(p);
    s = jget_str(json_object_get(j, "alert"), "summary");
    assert_true(strlen(s) <= 4096);
    assert_true(strlen(s) > 4000);
    json_decref(j);
    free(p);
    free(big);
}

/* --- renderers --- */

static void render_webhook_is_the_payload(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("webhook");
    char *r = notify_render(&n, p, T_CREATED);
    assert_non_null(r);
    assert_string_equal(r, p);
    free(r);
    n = notifier("exec");
    r = notify_render(&n, p, T_CREATED);
    assert_non_null(r);
    assert_string_equal(r, p);
    free(r);
    n = notifier("carrier-pigeon");
    assert_null(notify_render(&n, p, T_CREATED));
    free(p);
}

static void render_rejects_bad_payloads(void **state)
{
    char *p = firing_payload();
    char *half = strndup(p, strlen(p) / 2);
    const char *bad[] = {
        "",
        "{",
        half,
        "[]",
        "42",
        "null",
        "\"firing\"",
        "{}",
        "{\"version\":1,\"delivery_id\":1,\"event\":\"firing\"}",
        "{\"version\":2,\"delivery_id\":1,\"event\":\"firing\",\"alert\":{\"id\":1,"
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\",\"summary\":\"x\"}}",
        "{\"version\":1,\"delivery_id\":1,\"event\":\"exploded\",\"alert\":{\"id\":1,"
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\",\"summary\":\"x\"}}",
        "{\"version\":1,\"delivery_id\":1,\"event\":\"firing\",\"alert\":{\"id\":1,"
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\",\"summary\":\"x\","
        "\"check\":5}}",
        "{\"version\":1,\"delivery_id\":1,\"event\":\"firing\",\"alert\":{\"id\":\"1\","
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\",\"summary\":\"x\"}}",
        "{\"version\":1,\"delivery_id\":1,\"event\":\"firing\",\"alert\":{\"id\":1,"
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\"}}",
        "{\"version\":1,\"version\":1,\"delivery_id\":1,\"event\":\"firing\",\"alert\":{\"id\":1,"
        "\"kind\":\"down\",\"status\":\"firing\",\"severity\":\"critical\",\"summary\":\"x\"}}",
    };
    const char *types[] = {"webhook", "slack", "discord", "email", "exec", "alertmanager"};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        struct conf_notifier n = notifier(types[t]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char *r = notify_render(&n, bad[i], T_CREATED);
            if (r != NULL) {
                fail_msg("%s accepted bad payload %zu: %s", types[t], i, bad[i]);
            }
        }
        assert_null(notify_render(&n, NULL, T_CREATED));
        /* The minimal valid body is accepted. */
        char *r = notify_render(&n,
                                "{\"version\":1,\"delivery_id\":1,\"event\":\"firing\",\"alert\":"
                                "{\"id\":1,\"kind\":\"down\",\"status\":\"firing\","
                                "\"severity\":\"critical\",\"summary\":\"x\"}}",
                                T_CREATED);
        assert_non_null(r);
        free(r);
    }
    free(half);
    free(p);
}

/* The text member of a chat body. */
static char *chat_text(const char *type, const char *payload, const char *member)
{
    struct conf_notifier n = notifier(type);
    char *r = notify_render(&n, payload, T_CREATED);
    assert_non_null(r);
    json_t *j = parse(r);
    char *text = strdup(jget_str(j, member));
    json_decref(j);
    free(r);
    return text;
}

static void render_slack_and_discord(void **state)
{
    char *p = firing_payload();
    char *text = chat_text("slack", p, "text");
    const char *head = "[FIRING] critical api-health (api/production): " SUMMARY;
    assert_memory_equal(text, head, strlen(head));
    assert_int_equal(text[strlen(head)], '\n');
    assert_non_null(strstr(text, "Started: 2026-11-23T10:00:00.000Z"));
    free(text);
    text = chat_text("discord", p, "content");
    assert_memory_equal(text, head, strlen(head));
    free(text);

    struct conf_notifier n = notifier("discord");
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    json_t *parse_list = json_object_get(json_object_get(j, "allowed_mentions"), "parse");
    assert_true(json_is_array(parse_list));
    assert_int_equal(json_array_size(parse_list), 0);
    json_decref(j);
    free(r);
    free(p);

    /* Slack's three special characters are escaped; CR/LF in a summary do
     * not break the headline. */
    struct alert a = firing_alert();
    a.summary = "body <b> & more\r\nsecond";
    p = notify_payload(&a, "firing", 1, T_CREATED);
    text = chat_text("slack", p, "text");
    assert_non_null(strstr(text, "body &lt;b&gt; &amp; more  second"));
    free(text);
    free(p);
}

static void render_events_headlines(void **state)
{
    struct alert a = firing_alert();
    a.status = "acknowledged";
    a.ack_by = "alice";
    a.ack_ms = T_ACK;
    a.ack_comment = "looking into it";
    char *p = notify_payload(&a, "acknowledged", 2, T_CREATED);
    char *text = chat_text("discord", p, "content");
    const char *head =
        "[ACKNOWLEDGED] critical api-health (api/production): " SUMMARY " (by alice: looking into it)";
    assert_memory_equal(text, head, strlen(head));
    assert_non_null(strstr(text, "Acknowledged by alice at 2026-11-23T10:05:30.000Z"));
    free(text);
    free(p);

    a = firing_alert();
    a.status = "resolved";
    a.resolved_ms = T_RESOLVED;
    p = notify_payload(&a, "resolved", 3, T_CREATED);
    text = chat_text("slack", p, "text");
    assert_memory_equal(text, "[RESOLVED] critical api-health", 30);
    assert_non_null(strstr(text, "Resolved: 2026-11-23T10:05:30.007Z"));
    free(text);
    free(p);

    a = firing_alert();
    p = notify_payload(&a, "repeat", 4, T_CREATED);
    text = chat_text("slack", p, "text");
    assert_memory_equal(text, "[REPEAT] critical api-health", 28);
    free(text);
    free(p);

    /* No check, no env: "deploy-failed (api)". */
    struct alert d = {.id = 9, .kind = "deploy-failed", .app = "api", .severity = "warning",
                      .status = "firing", .summary = "deploy failed", .started_ms = T_STARTED,
                      .deploy_id = 42};
    p = notify_payload(&d, "firing", 5, T_CREATED);
    text = chat_text("slack", p, "text");
    assert_memory_equal(text, "[FIRING] warning deploy-failed (api): deploy failed", 51);
    assert_non_null(strstr(text, "Deploy #42"));
    free(text);
    free(p);
}

/* UTF-16 units of valid UTF-8 text. */
static size_t utf16_units(const char *s)
{
    size_t units = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        if ((*u & 0xC0) != 0x80) {
            units += *u >= 0xF0 ? 2 : 1;
        }
    }
    return units;
}

static void render_discord_is_bounded(void **state)
{
    struct alert a = firing_alert();
    /* 3000 characters, some of them 2, 3 and 4 bytes long. */
    char *big = malloc(3000 * 4 + 1);
    size_t k = 0;
    for (int i = 0; i < 3000; i++) {
        static const char *const chars[] = {"x", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x94\xA5"};
        const char *c = chars[i % 4];
        memcpy(big + k, c, strlen(c));
        k += strlen(c);
    }
    big[k] = '\0';
    a.summary = big;
    char *p = notify_payload(&a, "firing", 1, T_CREATED);
    char *text = chat_text("discord", p, "content");
    assert_true(utf16_units(text) <= 2000);
    assert_true(utf16_units(text) > 1900);
    const char *ell = "\xE2\x80\xA6";
    assert_string_equal(text + strlen(text) - 3, ell);
    free(text);
    text = chat_text("slack", p, "text");
    assert_true(utf16_units(text) <= 3000);
    free(text);
    free(p);
    free(big);
}

/* Every line break of text is CRLF. */
static void assert_crlf(const char *text)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '\n') {
            assert_true(c > text && c[-1] == '\r');
        }
        if (*c == '\r') {
            assert_int_equal(c[1], '\n');
        }
    }
}

/* The header block of a message, or NULL. Lines of a header field value
 * folded onto following lines stay in place. */
static char *headers_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg) + 2);
}

/* A header line starting with name (e.g. "Subject: "), or NULL. */
static const char *header_line(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = headers; l != NULL && *l != '\0';) {
        if (strncmp(l, name, n) == 0) {
            return l;
        }
        l = strstr(l, "\r\n");
        l = l != NULL ? l + 2 : NULL;
    }
    return NULL;
}

static void assert_header(const char *headers, const char *line)
{
    const char *l = header_line(headers, line);
    if (l == NULL || strncmp(l + strlen(line), "\r\n", 2) != 0) {
        fail_msg("no header line \"%s\" in:\n%s", line, headers);
    }
}

static void render_email_message(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("email");
    char *m = notify_render(&n, p, T_CREATED);
    assert_non_null(m);
    assert_crlf(m);
    char *h = headers_of(m);
    assert_header(h, "Date: Mon, 23 Nov 2026 10:00:00 +0000");
    assert_header(h, "From: shipwatch@example.com");
    assert_header(h, "To: a@example.com,\r\n b@example.com");
    assert_header(h, "Subject: [shipwatch] FIRING critical: " SUMMARY);
    assert_header(h, "MIME-Version: 1.0");
    assert_header(h, "Content-Type: text/plain; charset=utf-8");
    const char *mid = header_line(h, "Message-ID: <shipwatch.alert-3.delivery-17@");
    assert_non_null(mid);
    char *mid_line = strndup(mid, (size_t)(strstr(mid, "\r\n") - mid));
    const char *body = strstr(m, "\r\n\r\n") + 4;
    assert_memory_equal(body, "[FIRING] critical api-health (api/production): " SUMMARY "\r\n",
                        strlen("[FIRING] critical api-health (api/production): " SUMMARY) + 2);
    assert_non_null(strstr(body, "\r\nCheck:        api-health\r\n"));
    assert_non_null(strstr(body, "\r\nStarted:      2026-11-23T10:00:00.000Z\r\n"));
    assert_null(strstr(body, "Resolved:"));
    /* Every line fits SMTP's limit. */
    for (const char *l = m; *l != '\0';) {
        const char *e = strstr(l, "\r\n");
        assert_non_null(e);
        assert_true(e - l <= 998);
        l = e + 2;
    }
    free(h);
    free(m);

    /* The same notification rendered later keeps its Message-ID. */
    m = notify_render(&n, p, T_CREATED + 60000);
    h = headers_of(m);
    const char *mid2 = header_line(h, "Message-ID: ");
    assert_non_null(mid2);
    assert_memory_equal(mid2, mid_line, strlen(mid_line));
    assert_memory_equal(mid2 + strlen(mid_line), "\r\n", 2);
    free(mid_line);
    free(h);
    free(m);
    free(p);
}

static void render_email_no_header_injection(void **state)
{
    struct alert a = firing_alert();
    a.summary = "down\r\nBcc: evil@example.com\r\n\r\nfake body\nX-Injected: 1\r";
    a.check = "web\r\nX-Check: 1";
    char *p = notify_payload(&a, "firing", 1, T_CREATED);
    struct conf_notifier n = notifier("email");
    char *m = notify_render(&n, p, T_CREATED);
    assert_non_null(m);
    assert_crlf(m);
    char *h = headers_of(m);
    assert_null(header_line(h, "Bcc:"));
    assert_null(header_line(h, "X-Injected:"));
    assert_null(header_line(h, "X-Check:"));
    assert_null(strstr(m, "\r\nBcc:"));
    assert_null(strstr(m, "\r\nX-Injected:"));
    assert_null(strstr(m, "\r\nfake body"));
    assert_header(h, "Subject: [shipwatch] FIRING critical: down  Bcc: evil@example.com    "
                     "fake body X-Injected: 1 ");
    free(h);
    free(m);
    free(p);
}

/* Decode base64 (no whitespace) into out; the length. */
static size_t unbase64(const char *s, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *c = strchr(tab, s[i]);
        assert_non_null(c);
        acc = (acc << 6) | (uint32_t)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (char)((acc >> bits) & 0xFF);
        }
    }
    return k;
}

static void render_email_utf8_subject(void **state)
{
    struct alert a = firing_alert();
    a.summary = "Überwachung fehlgeschlagen: Dienst nicht erreichbar — 🔥 Größe ok";
    char *p = notify_payload(&a, "firing", 1, T_CREATED);
    struct conf_notifier n = notifier("email");
    char *m = notify_render(&n, p, T_CREATED);
    char *h = headers_of(m);
    const char *subj = header_line(h, "Subject: ");
    assert_non_null(subj);
    /* Decode the encoded words back (each whole characters, each line short). */
    char decoded[1024];
    size_t dn = 0;
    const char *c = subj + 9;
    for (;;) {
        assert_memory_equal(c, "=?UTF-8?B?", 10);
        const char *end = strstr(c, "?=");
        assert_non_null(end);
        assert_true(end + 2 - c <= 75);
        dn += unbase64(c + 10, (size_t)(end - c - 10), decoded + dn);
        c = end + 2;
        if (strncmp(c, "\r\n ", 3) != 0) {
            break;
        }
        c += 3;
    }
    decoded[dn] = '\0';
    char want[512];
    snprintf(want, sizeof(want), "[shipwatch] FIRING critical: %s", a.summary);
    assert_string_equal(decoded, want);
    free(h);
    free(m);
    free(p);
}

static void render_alertmanager_body(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("alertmanager");
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *al = json_array_get(j, 0);
    json_t *labels = json_object_get(al, "labels");
    assert_string_equal(jget_str(labels, "alertname"), "shipwatch_down");
    assert_string_equal(jget_str(labels, "check"), "api-health");
    assert_string_equal(jget_str(labels, "app"), "api");
    assert_string_equal(jget_str(labels, "env"), "production");
    assert_string_equal(jget_str(labels, "severity"), "critical");
    assert_string_equal(jget_str(labels, "kind"), "down");
    assert_int_equal(json_object_size(labels), 6);
    json_t *ann = json_object_get(al, "annotations");
    assert_string_equal(jget_str(ann, "summary"), SUMMARY);
    assert_string_equal(jget_str(ann, "shipwatch_alert_id"), "3");
    assert_string_equal(jget_str(al, "startsAt"), "2026-11-23T10:00:00.000Z");
    assert_null(json_object_get(al, "endsAt"));
    json_decref(j);
    free(r);
    free(p);

    /* Resolved: endsAt; no check and no env: those labels left out. */
    struct alert d = {.id = 9, .kind = "deploy-failed", .app = "api", .severity = "warning",
                      .status = "resolved", .summary = "deploy failed", .started_ms = T_STARTED,
                      .resolved_ms = T_RESOLVED};
    p = notify_payload(&d, "resolved", 5, T_CREATED);
    r = notify_render(&n, p, T_CREATED);
    j = parse(r);
    al = json_array_get(j, 0);
    labels = json_object_get(al, "labels");
    assert_string_equal(jget_str(labels, "alertname"), "shipwatch_deploy_failed");
    assert_null(json_object_get(labels, "check"));
    assert_null(json_object_get(labels, "env"));
    assert_string_equal(jget_str(al, "endsAt"), "2026-11-23T10:05:30.007Z");
    json_decref(j);
    free(r);
    free(p);
}

/* The chat message of the firing fixture, as ntfy's body carries it. */
static void firing_text(char *out, size_t len)
{
    char host[256] = "";
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(out, len,
             "[FIRING] critical api-health (api/production): " SUMMARY "\n"
             "Started: 2026-11-23T10:00:00.000Z\n"
             "Alert #3 (down)%s%s",
             host[0] != '\0' ? " on " : "", host);
}

static void render_ntfy_body(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("ntfy");
    char *r = notify_render(&n, p, T_CREATED);
    char want[1024];
    firing_text(want, sizeof(want));
    assert_string_equal(r, want);
    free(r);
    free(p);

    /* A long summary: the message stays within ntfy's 4096 bytes, cut
     * between characters with an ellipsis. */
    char summary[6000];
    for (size_t i = 0; i + 2 < sizeof(summary); i += 2) {
        memcpy(summary + i, "\xC3\xA9", 2);
    }
    summary[sizeof(summary) - 2] = '\0';
    struct alert a = firing_alert();
    a.summary = summary;
    p = notify_payload(&a, "firing", 1, T_CREATED);
    r = notify_render(&n, p, T_CREATED);
    assert_non_null(r);
    assert_true(strlen(r) <= 4096);
    assert_string_equal(r + strlen(r) - 3, "\xE2\x80\xA6");
    free(r);
    free(p);
}

/* --- live: a loop, curl, small servers --- */

static uv_loop_t loop;
static struct daemon d;
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
    struct notify_send *s = notify_start(&d, n, payload, on_done, flag);
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
    memset(&d, 0, sizeof(d));
    d.loop = &loop;
    d.curlm = curlm_create(&loop);
    assert_non_null(d.curlm);
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
    curlm_destroy(d.curlm);
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
    uint64_t t0 = uv_hrtime();
    deliver(&n, p);
    uint64_t took_ms = (uv_hrtime() - t0) / 1000000;
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
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
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
    uint64_t t0 = uv_hrtime();
    deliver(&n, p);
    uint64_t took_ms = (uv_hrtime() - t0) / 1000000;
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
    t0 = uv_hrtime();
    notify_cancel(s);
    assert_int_equal(flag, 0);
    assert_true(run_until(&flag, WAIT_MS));
    took_ms = (uv_hrtime() - t0) / 1000000;
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
    uint64_t t0 = uv_hrtime();
    deliver(&n, p);
    uint64_t took_ms = (uv_hrtime() - t0) / 1000000;
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
        c += strlen(labels[k]);
        char decoded[1024];
        size_t dn = 0;
        for (;;) {
            assert_memory_equal(c, "=?UTF-8?B?", 10);
            const char *end = strstr(c, "?=");
            assert_non_null(end);
            dn += unbase64(c + 10, (size_t)(end - c - 10), decoded + dn);
            c = end + 2;
            if (*c != ' ') {
                break;
            }
            c++;
        }
        assert_memory_equal(c, "\r\n", 2);
        decoded[dn] = '\0';
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
        cmocka_unit_test(payload_firing),
        cmocka_unit_test(payload_resolved_and_acknowledged),
        cmocka_unit_test(payload_bad_text_stays_json),
        cmocka_unit_test(render_webhook_is_the_payload),
        cmocka_unit_test(render_rejects_bad_payloads),
        cmocka_unit_test(render_slack_and_discord),
        cmocka_unit_test(render_events_headlines),
        cmocka_unit_test(render_discord_is_bounded),
        cmocka_unit_test(render_email_message),
        cmocka_unit_test(render_email_no_header_injection),
        cmocka_unit_test(render_email_utf8_subject),
        cmocka_unit_test(render_alertmanager_body),
        cmocka_unit_test(render_ntfy_body),
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
        cmocka_unit_test_setup_teardown(live_exec_timeout_kills_group, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_firing, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_resolved, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_ntfy_basic_auth, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_many, live_setup, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
