/* strmap.h - strings to small integers: an open-addressing table over
 * keys the caller keeps alive (the map never copies or frees them).
 *
 * Sized once for the keys it will hold; lookups cost one hash and, almost
 * always, one string comparison. For sets of names that are rebuilt
 * whole (a client's list of checks), not for ones that churn. */
#ifndef SHIPWATCH_STRMAP_H
#define SHIPWATCH_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot;

struct strmap {
    struct strmap_slot *slots;  /* cap of them, a power of two; NULL empty */
    size_t cap;
    size_t n;                   /* keys held */
};

/* An empty map with room for n keys. 0 or -ENOMEM (then m is empty and
 * every lookup misses). */
int strmap_init(struct strmap *m, size_t n);

/* key -> value (value >= 0). A key already there keeps its first value
 * (the first of duplicates wins, as a linear search would find it).
 * 0, or -ENOSPC past the n keys it was made for. */
int strmap_put(struct strmap *m, const char *key, int32_t value);

/* key's value, or -1 when it is not there (or key is NULL). */
int32_t strmap_get(const struct strmap *m, const char *key);

void strmap_free(struct strmap *m);

#endif
