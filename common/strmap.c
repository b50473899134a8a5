/* strmap.c - strings to small integers, open addressing, linear probing. */
#include "strmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct strmap_slot {
    const char *key;            /* NULL: free */
    uint64_t hash;
    int32_t value;
};

int strmap_init(struct strmap *m, size_t n)
{
    memset(m, 0, sizeof(*m));
    size_t cap = 16;
    while (cap < 2 * n) {       /* at most half full: short probes */
        if (cap > SIZE_MAX / 4 / sizeof(struct strmap_slot)) {
            return -ENOMEM;
        }
        cap *= 2;
    }
    if ((m->slots = calloc(cap, sizeof(*m->slots))) == NULL) {
        return -ENOMEM;
    }
    m->cap = cap;
    return 0;
}

/* The slot of key: where it is, or the free one where it would go. */
static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    for (;;) {
        struct strmap_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && strcmp(s->key, key) == 0)) {
            return s;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

int strmap_put(struct strmap *m, const char *key, int32_t value)
{
    if (m->slots == NULL || 2 * (m->n + 1) > m->cap) {
        return -ENOSPC;
    }
    uint64_t h = hash_mix(hash_fnv1a_str(HASH_FNV_INIT, key));
    struct strmap_slot *s = find(m, key, h);
    if (s->key == NULL) {
        *s = (struct strmap_slot){.key = key, .hash = h, .value = value};
        m->n++;
    }
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key)
{
    if (m->slots == NULL || key == NULL) {
        return -1;
    }
    const struct strmap_slot *s = find(m, key, hash_mix(hash_fnv1a_str(HASH_FNV_INIT, key)));
    return s->key != NULL ? s->value : -1;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}
