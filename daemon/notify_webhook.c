/* notify_webhook.c - the webhook notifier: POST the generic body, as
 * docs/alerts.md documents it, to the url. */
#include "notify_class.h"

const struct notifier_class notify_webhook_class = {
    .name = "webhook",
    .needs_url = true,
    .render = notify_render_payload,
    .start = notify_http_start,
    .cancel = notify_http_cancel,
};
