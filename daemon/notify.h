/* notify.h - delivering one notification through one notifier.
 *
 * The alert engine decides what is owed and keeps the outbox (alert.c);
 * this module only renders and sends. Every notification starts as the
 * generic webhook body (notify_payload), a JSON object documented in
 * docs/alerts.md; the outbox stores that text, and each notifier type
 * renders its own message from it at send time. A type is a class, one
 * file daemon/notify_<type>.c and one row in notify.c's notifier_classes[];
 * notify_class.h states what a class provides. Today's types:
 *
 *   webhook       POST the payload as it is
 *   slack         POST {"text": ...} to an incoming webhook
 *   discord       POST {"content": ...} to a webhook
 *   email         SMTP through libcurl: STARTTLS as conf->tls says,
 *                 login from the URL's credentials, every address in to
 *   exec          run argv with SHIPWATCH_ALERT_* in the environment and
 *                 the payload on stdin; exit status 0 is delivered
 *   alertmanager  POST [{labels, annotations, startsAt, endsAt}] to
 *                 URL/api/v2/alerts
 *   ntfy          POST the chat message to an ntfy topic URL with Title,
 *                 Priority and Tags headers
 *   pagerduty     POST an Events API v2 event, dedup_key per alert
 *   opsgenie      Alert API v2: create, acknowledge, close by alias
 *   teams         POST a message with an Adaptive Card to a workflow
 *   telegram      Bot API sendMessage {chat_id, text}
 *   mattermost    POST {text, username, channel} to an incoming webhook
 *   googlechat    POST {text} to a space's webhook
 *   pushover      POST form fields to /1/messages.json
 *   gotify        POST {title, message, priority} to /message, X-Gotify-Key
 *   matrix        PUT m.room.message to a room, a transaction id per delivery
 *
 * HTTP types run on the loop handed in (libcurl multi through curlm), exec
 * through uv_spawn. Email runs on a thread of its own per attempt, reporting
 * back through a uv_async: libcurl's SMTP waits for the end-of-data reply
 * and QUIT with blocking reads even under the multi interface, and a slow
 * mail server must not stall the loop. Every attempt ends within
 * conf->timeout_ms. Delivered means a 2xx
 * answer (exit 0 for exec); anything else is a failure with a reason. */
#ifndef SHIPWATCH_NOTIFY_H
#define SHIPWATCH_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct conf_notifier;
struct curlm;
struct alert;

#define NOTIFY_REASON_MAX 256

/* The end of one delivery attempt: ok when delivered; otherwise reason
 * says why ("HTTP 503", "timed out after 10s", "exit status 2"). */
typedef void (*notify_done_fn)(bool ok, const char *reason, void *arg);

struct notify_send;

/* The generic JSON body for alert a and what happened to it (event: firing,
 * resolved, repeat, acknowledged), with delivery_id the outbox row's id so
 * receivers can drop a duplicate. A malloc'd string, NULL on allocation
 * failure. */
char *notify_payload(const struct alert *a, const char *event, int64_t delivery_id,
                     int64_t now_ms);

/* The body actually sent for an outbox row: payload (queued with
 * delivery_id 0, before the row had its id) with delivery_id set to the
 * row's id, so one store write queues a notification. A malloc'd string,
 * NULL when payload is not a JSON object or on allocation failure. */
char *notify_with_delivery_id(const char *payload, int64_t delivery_id);

/* Render payload (the generic body) for a notifier of type type: the HTTP
 * request body, or for email the whole RFC 5322 message (from and to give
 * its headers). A malloc'd string, NULL when the payload is not a valid
 * generic body. Public for the tests and the fuzz target. */
char *notify_render(const struct conf_notifier *conf, const char *payload, int64_t now_ms);

/* Start delivering payload through conf on loop; HTTP types send through
 * curlm (NULL: they fail with "no HTTP client"). Returns the attempt; done runs
 * exactly once from a later loop callback, also when the attempt failed at
 * once (a bad payload, a command that cannot start). NULL only when the
 * attempt could not even be set up (out of memory): done never runs then.
 * conf is copied from: a reload may free it meanwhile. */
struct notify_send *notify_start(uv_loop_t *loop, struct curlm *curlm,
                                 const struct conf_notifier *conf, const char *payload,
                                 notify_done_fn done, void *arg);

/* Abort an attempt: done runs with ok false from a later loop callback,
 * unless the attempt had already ended (done then reports that). Not to be
 * called once done has run. */
void notify_cancel(struct notify_send *s);

#endif
