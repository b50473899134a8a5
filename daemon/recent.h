/* recent.h - a bounded memory of keys seen lately: GitHub delivery ids and
 * the signatures of signed deploys, so that a redelivery or a replay is
 * told from a new request.
 *
 * struct recent is owned by whoever creates it (the HTTP server keeps two);
 * it holds at most cap keys of at most RECENT_KEY_MAX bytes, each stamped
 * with a time, and forgets a key once its stamp is older than ttl_ms.
 * When it is full it forgets the oldest entry; with a floor, the stamp of
 * the newest entry so forgotten becomes a floor: a key stamped at or
 * before it is refused as if seen, so that forgetting early never lets a
 * replay in. Loop thread only. */
#ifndef SHIPWATCH_RECENT_H
#define SHIPWATCH_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECENT_KEY_MAX 127

struct recent;

/* An empty memory of cap keys kept ttl_ms, with a floor or not; NULL on
 * ENOMEM. */
struct recent *recent_create(size_t cap, int64_t ttl_ms, bool floor);

/* Free r. NULL is a no-op. */
void recent_destroy(struct recent *r);

/* Whether key was claimed within the ttl (or is stamped at or before the
 * floor), as of now_ms. A key longer than RECENT_KEY_MAX is compared by its
 * first RECENT_KEY_MAX bytes. */
bool recent_seen(const struct recent *r, const char *key, int64_t stamp_ms, int64_t now_ms);

/* Remember key, stamped stamp_ms: false when it was seen already (then
 * nothing changes), true when it is new and now remembered. */
bool recent_claim(struct recent *r, const char *key, int64_t stamp_ms, int64_t now_ms);

/* Forget key (a request that failed may come again). */
void recent_forget(struct recent *r, const char *key);

#endif
