/* topics.h - which events a `--topics` list lets through.
 *
 * Contract. A list is the topic names of events.subscribe, comma-separated
 * ("states,log"); an event of the log belongs to the topic its type
 * reaches subscribers on (ipc_event_topic). Pure functions, no state; the
 * caller owns every string. */
#ifndef SHIPWATCH_TOPICS_H
#define SHIPWATCH_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

/* The topic bits (enum ipc_topic) of list; 0 with the first word that
 * is not a topic copied into bad (cut at badlen) when there is one. */
unsigned topics_mask(const char *list, char *bad, size_t badlen);

/* Whether an event of this type belongs to one of the topics in mask. */
bool topics_want(unsigned mask, const char *type);

#endif
