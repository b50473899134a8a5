/* test_notify.c - the generic payload and every notifier class's
 * rendering, without a loop; test_notify_live.c delivers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "notify.h"
#include "notify_fixtures.h"
#include "util.h"
#include "store.h"

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

    /* Opened during a deploy's verification: the deploy as an object;
     * text that is not an object is left out, never breaks the body. */
    a.deploy_id = 6;
    a.deploy_info = "{\"id\":6,\"version\":\"1.5.0\",\"author\":\"alice\","
                    "\"started_at\":\"2026-11-23T10:00:00.000Z\","
                    "\"last_healthy_version\":\"1.4.0\"}";
    p = notify_payload(&a, "firing", 20, T_CREATED);
    j = parse(p);
    al = json_object_get(j, "alert");
    assert_int_equal(json_integer_value(json_object_get(al, "deploy_id")), 6);
    json_t *dep = json_object_get(al, "deploy");
    assert_string_equal(jget_str(dep, "version"), "1.5.0");
    assert_string_equal(jget_str(dep, "last_healthy_version"), "1.4.0");
    json_decref(j);
    free(p);
    a.deploy_info = "[not an object";
    p = notify_payload(&a, "firing", 21, T_CREATED);
    j = parse(p);
    assert_null(json_object_get(json_object_get(j, "alert"), "deploy"));
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
    for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
        struct conf_notifier n = notifier(types[t]);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
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
    assert_memory_equal(decode_words(subj + 9, "\r\n ", decoded), "\r\n", 2);
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

/* pagerduty: one dedup_key for every event of an alert; the action and
 * the severity mapped; the routing key in the body. */
static void render_pagerduty_events(void **state)
{
    struct conf_notifier n = notifier("pagerduty");
    n.routing_key = "R0UTINGKEY0123456789abcdef012345";
    const struct {
        const char *event, *status, *severity, *action, *pd;
    } cases[] = {
        {"firing", "firing", "critical", "trigger", "critical"},
        {"repeat", "firing", "warning", "trigger", "warning"},
        {"acknowledged", "acknowledged", "info", "acknowledge", "info"},
        {"resolved", "resolved", "critical", "resolve", "critical"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct alert a = firing_alert();
        a.status = cases[i].status;
        a.severity = cases[i].severity;
        char *p = notify_payload(&a, cases[i].event, 5, T_CREATED);
        char *r = notify_render(&n, p, T_CREATED);
        assert_non_null(r);
        json_t *j = parse(r);
        assert_int_equal(json_object_size(j), 5);
        assert_string_equal(jget_str(j, "routing_key"), n.routing_key);
        assert_string_equal(jget_str(j, "event_action"), cases[i].action);
        assert_string_equal(jget_str(j, "dedup_key"), "shipwatch-3");
        assert_string_equal(jget_str(j, "client"), "shipwatch");
        json_t *pl = json_object_get(j, "payload");
        assert_string_equal(jget_str(pl, "summary"), SUMMARY);
        assert_string_equal(jget_str(pl, "severity"), cases[i].pd);
        assert_string_equal(jget_str(pl, "component"), "api-health");
        assert_string_equal(jget_str(pl, "group"), "api/production");
        assert_string_equal(jget_str(pl, "class"), "down");
        assert_string_equal(jget_str(pl, "timestamp"), "2026-11-23T10:00:00.000Z");
        assert_non_null(jget_str(pl, "source"));
        json_t *d = json_object_get(pl, "custom_details");
        assert_int_equal(json_integer_value(json_object_get(d, "alert_id")), 3);
        assert_string_equal(jget_str(d, "status"), cases[i].status);
        json_decref(j);
        free(r);
        free(p);
    }

    /* A summary beyond PagerDuty's 1024 characters is cut. */
    char summary[3000];
    memset(summary, 'x', sizeof(summary) - 1);
    summary[sizeof(summary) - 1] = '\0';
    struct alert a = firing_alert();
    a.summary = summary;
    char *p = notify_payload(&a, "firing", 1, T_CREATED);
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    const char *cut = jget_str(json_object_get(j, "payload"), "summary");
    assert_int_equal(strlen(cut), 1023 + 3);
    json_decref(j);
    free(r);
    free(p);
}

/* opsgenie: create with alias, message, priority from severity; close and
 * acknowledge carry only user, source and note. */
static void render_opsgenie_bodies(void **state)
{
    struct conf_notifier n = notifier("opsgenie");
    n.api_key = "eb243592-faa2-4ba2-a551q-1afdf565c889";
    const struct {
        const char *severity, *priority;
    } prio[] = {{"critical", "P1"}, {"warning", "P3"}, {"info", "P5"}};
    for (size_t i = 0; i < 3; i++) {
        struct alert a = firing_alert();
        a.severity = prio[i].severity;
        char *p = notify_payload(&a, "firing", 5, T_CREATED);
        char *r = notify_render(&n, p, T_CREATED);
        json_t *j = parse(r);
        assert_string_equal(jget_str(j, "alias"), "shipwatch-3");
        assert_string_equal(jget_str(j, "message"), SUMMARY);
        assert_string_equal(jget_str(j, "priority"), prio[i].priority);
        assert_string_equal(jget_str(j, "entity"), "api-health");
        assert_string_equal(jget_str(j, "source"), "shipwatch");
        assert_non_null(strstr(jget_str(j, "description"), "[FIRING]"));
        assert_int_equal(json_array_size(json_object_get(j, "tags")), 4);
        assert_null(strstr(r, n.api_key));
        json_decref(j);
        free(r);
        free(p);
    }
    struct alert a = firing_alert();
    a.status = "acknowledged";
    a.ack_by = "alice";
    a.ack_ms = T_ACK;
    char *p = notify_payload(&a, "acknowledged", 6, T_CREATED);
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(jget_str(j, "user"), "alice");
    assert_string_equal(jget_str(j, "source"), "shipwatch");
    assert_non_null(strstr(jget_str(j, "note"), "[ACKNOWLEDGED]"));
    json_decref(j);
    free(r);
    free(p);

    /* The message stays within Opsgenie's 130 characters. */
    char summary[400];
    memset(summary, 'y', sizeof(summary) - 1);
    summary[sizeof(summary) - 1] = '\0';
    a = firing_alert();
    a.summary = summary;
    p = notify_payload(&a, "firing", 1, T_CREATED);
    r = notify_render(&n, p, T_CREATED);
    j = parse(r);
    assert_int_equal(strlen(jget_str(j, "message")), 129 + 3);
    json_decref(j);
    free(r);
    free(p);
}

/* teams: a message with one Adaptive Card, a TextBlock a line, the
 * headline bold and coloured by the event. */
static void render_teams_card(void **state)
{
    char *p = firing_payload();
    struct conf_notifier n = notifier("teams");
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_string_equal(jget_str(j, "type"), "message");
    json_t *atts = json_object_get(j, "attachments");
    assert_int_equal(json_array_size(atts), 1);
    json_t *att = json_array_get(atts, 0);
    assert_string_equal(jget_str(att, "contentType"), "application/vnd.microsoft.card.adaptive");
    assert_true(json_is_null(json_object_get(att, "contentUrl")));
    json_t *card = json_object_get(att, "content");
    assert_string_equal(jget_str(card, "type"), "AdaptiveCard");
    assert_string_equal(jget_str(card, "version"), "1.4");
    assert_string_equal(jget_str(card, "$schema"),
                        "http://adaptivecards.io/schemas/adaptive-card.json");
    json_t *body = json_object_get(card, "body");
    char want[1024];
    firing_text(want, sizeof(want));
    /* The blocks, joined by line ends, are the chat message. */
    char got[1024] = "";
    for (size_t i = 0; i < json_array_size(body); i++) {
        json_t *b = json_array_get(body, i);
        assert_string_equal(jget_str(b, "type"), "TextBlock");
        assert_true(json_is_true(json_object_get(b, "wrap")));
        strcat(got, jget_str(b, "text"));
        strcat(got, "\n");
    }
    got[strlen(got) - 1] = '\0';
    assert_string_equal(got, want);
    json_t *head = json_array_get(body, 0);
    assert_string_equal(jget_str(head, "weight"), "Bolder");
    assert_string_equal(jget_str(head, "color"), "Attention");
    json_decref(j);
    free(r);
    free(p);
}

/* telegram, mattermost, googlechat: the chat message as their text;
 * telegram without parse_mode, mattermost's optional keys. */
static void render_chat_receivers(void **state)
{
    char *p = firing_payload();
    char want[1024];
    firing_text(want, sizeof(want));

    struct conf_notifier n = notifier("telegram");
    n.bot_token = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
    n.chat_id = "-1001234567890";
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(jget_str(j, "chat_id"), "-1001234567890");
    assert_string_equal(jget_str(j, "text"), want);
    assert_null(strstr(r, "ABC-DEF"));
    json_decref(j);
    free(r);

    n = notifier("mattermost");
    r = notify_render(&n, p, T_CREATED);
    j = parse(r);
    assert_int_equal(json_object_size(j), 1);
    assert_string_equal(jget_str(j, "text"), want);
    json_decref(j);
    free(r);
    n.username = "shipwatch";
    n.channel = "town-square";
    r = notify_render(&n, p, T_CREATED);
    j = parse(r);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(jget_str(j, "username"), "shipwatch");
    assert_string_equal(jget_str(j, "channel"), "town-square");
    json_decref(j);
    free(r);

    n = notifier("googlechat");
    r = notify_render(&n, p, T_CREATED);
    j = parse(r);
    assert_int_equal(json_object_size(j), 1);
    assert_string_equal(jget_str(j, "text"), want);
    json_decref(j);
    free(r);
    free(p);
}

/* pushover: the form fields in order, percent-encoded; priority from the
 * severity, never above normal once resolved. */
static void render_pushover_form(void **state)
{
    struct conf_notifier n = notifier("pushover");
    n.app_token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    n.user_key = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
    char *p = firing_payload();
    char *r = notify_render(&n, p, T_CREATED);
    const char *head = "token=azGDORePK8gMaC0QOYAMyEEuzJnyUi&user=uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
                       "&title=%5BFIRING%5D%20api-health%20is%20down%3A%20%5BSTATUS%5D%20%28503%29"
                       "%20%3D%3D%20200&message=%5BFIRING%5D%20critical%20api-health%20";
    assert_memory_equal(r, head, strlen(head));
    assert_string_equal(r + strlen(r) - 11, "&priority=1");
    assert_null(strchr(r, '\n'));
    assert_null(strchr(r, ' '));
    free(r);
    free(p);

    struct alert a = firing_alert();
    a.status = "resolved";
    a.resolved_ms = T_RESOLVED;
    p = notify_payload(&a, "resolved", 2, T_CREATED);
    r = notify_render(&n, p, T_CREATED);
    assert_string_equal(r + strlen(r) - 11, "&priority=0");
    free(r);
    free(p);
    a = firing_alert();
    a.severity = "info";
    p = notify_payload(&a, "firing", 2, T_CREATED);
    r = notify_render(&n, p, T_CREATED);
    assert_string_equal(r + strlen(r) - 12, "&priority=-1");
    free(r);
    free(p);
}

/* gotify: {"title", "message", "priority"}; no token in the body. */
static void render_gotify_body(void **state)
{
    struct conf_notifier n = notifier("gotify");
    n.gotify_token = "AKsd8sdmc.Q6w";
    char *p = firing_payload();
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(jget_str(j, "title"), "[FIRING] " SUMMARY);
    char want[1024];
    firing_text(want, sizeof(want));
    assert_string_equal(jget_str(j, "message"), want);
    assert_int_equal(json_integer_value(json_object_get(j, "priority")), 8);
    assert_null(strstr(r, n.gotify_token));
    json_decref(j);
    free(r);
    free(p);
}

/* matrix: {"msgtype": "m.text", "body": the chat message}, no token. */
static void render_matrix_body(void **state)
{
    struct conf_notifier n = notifier("matrix");
    n.access_token = "syt_c2hpcHdhdGNo_abcdef";
    n.room = "!ops:example.org";
    char *p = firing_payload();
    char *r = notify_render(&n, p, T_CREATED);
    json_t *j = parse(r);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(jget_str(j, "msgtype"), "m.text");
    char want[1024];
    firing_text(want, sizeof(want));
    assert_string_equal(jget_str(j, "body"), want);
    assert_null(strstr(r, "syt_"));
    json_decref(j);
    free(r);
    free(p);
}

int main(void)
{
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
        cmocka_unit_test(render_pagerduty_events),
        cmocka_unit_test(render_opsgenie_bodies),
        cmocka_unit_test(render_teams_card),
        cmocka_unit_test(render_chat_receivers),
        cmocka_unit_test(render_pushover_form),
        cmocka_unit_test(render_gotify_body),
        cmocka_unit_test(render_matrix_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
