/* hash.c - 64-bit FNV-1a and splitmix64's finalizer. */
#include "hash.h"

/* FNV-1a over bytes, continuing from h. */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= HASH_FNV_PRIME;
    }
    return h;
}

/* FNV-1a of a string, continuing from h. */
uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= HASH_FNV_PRIME;
    }
    return h;
}

/* splitmix64's finalizer. */
uint64_t hash_mix(uint64_t h)
{
    h += 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}
