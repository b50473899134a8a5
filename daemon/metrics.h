/* metrics.h - the Prometheus text exposition of GET /metrics
 * (docs/metrics.md lists every family). */
#ifndef SHIPWATCH_METRICS_H
#define SHIPWATCH_METRICS_H

#include <stddef.h>

struct daemon;

struct metrics_buf {
    char *data;
    size_t len, cap;
};

/* Render every family into b (zeroed by the caller, freed with free(b->data)).
 * 0, or -ENOMEM. */
int metrics_render(struct daemon *d, struct metrics_buf *b);

#endif
