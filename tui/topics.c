/* topics.c - which events a `--topics` list lets through. */
#include "topics.h"

#include <stdio.h>
#include <string.h>

#include "ipc_proto.h"

/* Word by word; an empty word (",,") is not a topic either. */
unsigned topics_mask(const char *list, char *bad, size_t badlen)
{
    unsigned mask = 0;
    for (const char *p = list;; p++) {
        size_t n = strcspn(p, ",");
        char word[32];
        snprintf(word, sizeof(word), "%.*s", (int)n, p);
        /* Of the event log's topics: host samples are not events. */
        unsigned bit = n < sizeof(word) ? ipc_topic_parse(word) & IPC_TOPIC_ALL : 0;
        if (bit == 0) {
            snprintf(bad, badlen, "%.*s", (int)n, p);
            return 0;
        }
        mask |= bit;
        p += n;
        if (*p == '\0') {
            return mask;
        }
    }
}

/* The type's topic, as the daemon publishes it. */
bool topics_want(unsigned mask, const char *type)
{
    return (ipc_event_topic(type) & mask) != 0;
}
