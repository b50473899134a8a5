/* hash.h - non-cryptographic hashes: 64-bit FNV-1a and a finalizer.
 *
 * For tables, fingerprints and rendezvous weights inside shipwatch, never
 * for anything an attacker must not steer (HMAC lives in libcrypto). The
 * values are stable across versions and machines: cluster nodes compare
 * them, so changing a constant here is a protocol change. */
#ifndef SHIPWATCH_HASH_H
#define SHIPWATCH_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_INIT 0xcbf29ce484222325ULL /* FNV-1a 64-bit offset basis */
#define HASH_FNV_PRIME 0x100000001b3ULL     /* FNV-1a 64-bit prime */

/* The basis the scheduler's offsets, the cluster's rendezvous weights and
 * the PostgreSQL name cache have always used: FNV's basis written a digit
 * short. Still a fine hash; kept because a check's offset and its owner in
 * a cluster of mixed versions depend on it. */
#define HASH_FNV_INIT_SHIPWATCH 1469598103934665603ULL

/* FNV-1a over len bytes at p, continuing from h (HASH_FNV_INIT to start). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t len);

/* FNV-1a of the NUL-terminated string s, continuing from h. */
uint64_t hash_fnv1a_str(uint64_t h, const char *s);

/* splitmix64's finalizer: every input bit moves every output bit, so
 * similar inputs land far apart. */
uint64_t hash_mix(uint64_t h);

#endif
