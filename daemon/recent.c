/* recent.c - a ring of keys seen lately (rules in recent.h). */
#include "recent.h"

#include <stdlib.h>
#include <string.h>

struct recent_entry {
    char key[RECENT_KEY_MAX + 1];   /* "" when free */
    int64_t stamp_ms;
};

struct recent {
    struct recent_entry *ring;
    size_t cap, next;           /* next: the slot written next (the oldest) */
    int64_t ttl_ms;
    bool has_floor;
    int64_t floor_ms;           /* stamps at or before it are refused */
};

/* An empty memory; NULL on ENOMEM. */
struct recent *recent_create(size_t cap, int64_t ttl_ms, bool floor)
{
    struct recent *r = calloc(1, sizeof(*r));
    if (r == NULL || cap == 0 || (r->ring = calloc(cap, sizeof(*r->ring))) == NULL) {
        free(r);
        return NULL;
    }
    r->cap = cap;
    r->ttl_ms = ttl_ms;
    r->has_floor = floor;
    r->floor_ms = INT64_MIN;
    return r;
}

/* Free r and its ring. */
void recent_destroy(struct recent *r)
{
    if (r != NULL) {
        free(r->ring);
        free(r);
    }
}

/* Whether e holds key and is still within the ttl. */
static bool holds(const struct recent *r, const struct recent_entry *e, const char *key,
                  int64_t now_ms)
{
    return e->key[0] != '\0' && e->stamp_ms >= now_ms - r->ttl_ms &&
           strncmp(e->key, key, RECENT_KEY_MAX) == 0;
}

/* Whether key was seen lately, or falls at or before the floor. */
bool recent_seen(const struct recent *r, const char *key, int64_t stamp_ms, int64_t now_ms)
{
    if (r->has_floor && stamp_ms <= r->floor_ms) {
        return true;
    }
    for (size_t i = 0; i < r->cap; i++) {
        if (holds(r, &r->ring[i], key, now_ms)) {
            return true;
        }
    }
    return false;
}

/* Remember key unless seen; the oldest slot makes room. */
bool recent_claim(struct recent *r, const char *key, int64_t stamp_ms, int64_t now_ms)
{
    if (key[0] == '\0' || recent_seen(r, key, stamp_ms, now_ms)) {
        return key[0] == '\0';
    }
    struct recent_entry *e = &r->ring[r->next];
    if (r->has_floor && e->key[0] != '\0' && e->stamp_ms >= now_ms - r->ttl_ms &&
        e->stamp_ms > r->floor_ms) {
        r->floor_ms = e->stamp_ms;  /* forgotten within its ttl */
    }
    strncpy(e->key, key, RECENT_KEY_MAX);
    e->key[RECENT_KEY_MAX] = '\0';
    e->stamp_ms = stamp_ms;
    r->next = (r->next + 1) % r->cap;
    return true;
}

/* Forget key wherever it is. */
void recent_forget(struct recent *r, const char *key)
{
    for (size_t i = 0; i < r->cap; i++) {
        if (strncmp(r->ring[i].key, key, RECENT_KEY_MAX) == 0) {
            r->ring[i].key[0] = '\0';
        }
    }
}
