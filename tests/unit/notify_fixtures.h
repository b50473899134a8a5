/* notify_fixtures.h - what the notifier tests share (test_notify.c renders,
 * test_notify_live.c delivers). Strings returned are malloc'd and the
 * caller frees them; a failed expectation fails the running test. */
#ifndef SHIPWATCH_NOTIFY_FIXTURES_H
#define SHIPWATCH_NOTIFY_FIXTURES_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "store.h"

#define T_STARTED 1795428000000LL     /* 2026-11-23T10:00:00.000Z */
#define T_CREATED 1795428000120LL     /* 2026-11-23T10:00:00.120Z */
#define T_ACK 1795428330000LL         /* 2026-11-23T10:05:30.000Z */
#define T_RESOLVED 1795428330007LL    /* 2026-11-23T10:05:30.007Z */
#define SUMMARY "api-health is down: [STATUS] (503) == 200"

/* Alert #3: api-health of api/production is down, critical, firing. */
struct alert firing_alert(void);

/* A notifier of type type, with email's from and to filled in. */
struct conf_notifier notifier(const char *type);

/* The generic payload of firing_alert, delivery 17. */
char *firing_payload(void);

/* The chat message of firing_alert, as slack, discord and ntfy carry it. */
void firing_text(char *out, size_t len);

/* text parsed as JSON, which it must be. */
json_t *parse(const char *text);

/* The string member key of obj, which must be one. */
const char *jget_str(json_t *obj, const char *key);

/* The header block of a message or request, up to its last CRLF. */
char *headers_of(const char *msg);

/* The header line starting with name (e.g. "Subject: "), or NULL. */
const char *header_line(const char *headers, const char *name);

/* headers has exactly this line. */
void assert_header(const char *headers, const char *line);

/* Decode base64 (no whitespace) into out; the length. */
size_t unbase64(const char *s, size_t n, char *out);

/* Decode the RFC 2047 words at c, sep between them, into out (NUL
 * terminated); where the last word ends. */
const char *decode_words(const char *c, const char *sep, char *out);

#endif
