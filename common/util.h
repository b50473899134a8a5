/* util.h - small macros every program uses.
 *
 * Header only; nothing here allocates or keeps state. */
#ifndef SHIPWATCH_UTIL_H
#define SHIPWATCH_UTIL_H

#include <stddef.h>

/* The number of elements of an array (not a pointer: sizeof would lie). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
