/* storewatch.h - says when the store becomes degraded and when it recovers.
 *
 * The store backends keep writing through outages (memory, then a spool
 * file) and report their health; this turns changes of that health into one
 * "store" event and one log line each way, so an operator reading the event
 * log, /readyz or the metrics sees the outage and its end. */
#ifndef SHIPWATCH_STOREWATCH_H
#define SHIPWATCH_STOREWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;

struct storewatch {
    bool degraded;              /* as last reported */
    int64_t since_ms;           /* when the current outage began */
    uint64_t dropped;           /* dropped results last reported */
};

/* Compare the store's health with the last look; emit an event on change.
 * Called once a second. */
void storewatch_tick(struct daemon *d, struct storewatch *w);

#endif
