/* storewatch.c - events for the store's outages. */
#include <inttypes.h>
#include <stdio.h>

#include "clock.h"
#include "daemon.h"
#include "store.h"
#include "storewatch.h"

static void emit(struct daemon *d, int64_t now, const char *msg)
{
    struct event ev = {.ts_ms = now, .type = "store", .message = msg};
    daemon_emit_event(d, &ev);
}

void storewatch_tick(struct daemon *d, struct storewatch *w)
{
    if (d->store == NULL) {
        return;
    }
    struct store_health h;
    store_health(d->store, &h);
    int64_t now = clock_now_ms(d->clock);
    char msg[320];
    if (h.degraded && !w->degraded) {
        w->since_ms = h.since_ms != 0 ? h.since_ms : now;
        snprintf(msg, sizeof(msg),
                 "store degraded: %s; checks go on, results wait in memory and then in the "
                 "spool file",
                 h.reason[0] != '\0' ? h.reason : "unavailable");
        emit(d, now, msg);
    } else if (!h.degraded && w->degraded) {
        snprintf(msg, sizeof(msg), "store recovered after %" PRId64 " s; waiting writes replayed",
                 (now - w->since_ms + 500) / 1000);
        emit(d, now, msg);
    }
    if (h.dropped > w->dropped) {
        snprintf(msg, sizeof(msg),
                 "store: %" PRIu64 " results dropped (memory queue and spool file full)",
                 h.dropped - w->dropped);
        emit(d, now, msg);
        w->dropped = h.dropped;
    }
    w->degraded = h.degraded;
}
