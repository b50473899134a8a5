/* notify_fixtures.c - what the notifier tests share: the alert they
 * notify about, a notifier of each type, and readers for what comes out
 * (JSON, header blocks, RFC 2047 words). */
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

#include "notify.h"
#include "notify_fixtures.h"

/* Alert #3: api-health of api/production is down, critical, firing. */
struct alert firing_alert(void)
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

/* A notifier of type type, with email's from and to filled in. */
struct conf_notifier notifier(const char *type)
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

/* The generic payload of firing_alert, delivery 17. */
char *firing_payload(void)
{
    struct alert a = firing_alert();
    char *p = notify_payload(&a, "firing", 17, T_CREATED);
    assert_non_null(p);
    return p;
}

/* text parsed as JSON, which it must be. */
json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL) {
        fail_msg("not JSON (%s): %s", err.text, text);
    }
    return j;
}

/* The string member key of obj, which must be one. */
const char *jget_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        fail_msg("%s is not a string", key);
    }
    return json_string_value(v);
}

/* The header block of a message, or NULL. Lines of a header field value
 * folded onto following lines stay in place. */
char *headers_of(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    return strndup(msg, (size_t)(end - msg) + 2);
}

/* A header line starting with name (e.g. "Subject: "), or NULL. */
const char *header_line(const char *headers, const char *name)
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

/* headers has exactly this line. */
void assert_header(const char *headers, const char *line)
{
    const char *l = header_line(headers, line);
    if (l == NULL || strncmp(l + strlen(line), "\r\n", 2) != 0) {
        fail_msg("no header line \"%s\" in:\n%s", line, headers);
    }
}

/* Decode base64 (no whitespace) into out; the length. */
size_t unbase64(const char *s, size_t n, char *out)
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

/* The chat message of firing_alert, as slack, discord and ntfy carry it. */
void firing_text(char *out, size_t len)
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

/* Decode the RFC 2047 words at c, sep between them, into out (NUL
 * terminated); where the last word ends. Every word is at most 75 bytes. */
const char *decode_words(const char *c, const char *sep, char *out)
{
    size_t n = 0;
    for (;;) {
        assert_memory_equal(c, "=?UTF-8?B?", 10);
        const char *end = strstr(c, "?=");
        assert_non_null(end);
        assert_true(end + 2 - c <= 75);
        n += unbase64(c + 10, (size_t)(end - c - 10), out + n);
        c = end + 2;
        if (strncmp(c, sep, strlen(sep)) != 0 || strncmp(c + strlen(sep), "=?", 2) != 0) {
            break;
        }
        c += strlen(sep);
    }
    out[n] = '\0';
    return c;
}
