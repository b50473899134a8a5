/* sbuf.h - one growable string builder with a size limit.
 *
 * A struct sbuf is embedded where it is used (sbuf_init/sbuf_finish) and
 * owns data, a malloc'd block that always ends in a NUL once anything was
 * appended. Appending never reports an error by itself: the first failure
 * (out of memory, or the text would pass max) sets `failed`, every later
 * append is a no-op, and the caller checks once at the end (sbuf_take
 * returns NULL, or read b->failed). data and len may be read directly;
 * data is NULL until the first append. Not thread-safe: one owner. */
#ifndef SHIPWATCH_SBUF_H
#define SHIPWATCH_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sbuf {
    char *data;  /* the text, NUL-terminated; owned; NULL before the first append */
    size_t len;  /* bytes of text, the NUL not counted */
    size_t cap;  /* bytes usable at data (at most max when there is one) */
    size_t max;  /* the most bytes data may take, the NUL included; 0 = no limit */
    bool failed; /* an append failed: out of memory or over max; sticky until reset */
};

/* An empty builder of at most max bytes (0: no limit); allocates nothing. */
void sbuf_init(struct sbuf *b, size_t max);

/* Free b's memory; b is empty afterwards (max kept) and may be used again. */
void sbuf_finish(struct sbuf *b);

/* Empty b but keep its memory and its limit; clears failed. */
void sbuf_reset(struct sbuf *b);

/* Take over data, a malloc'd block of cap bytes (or NULL and 0), to fill
 * again from the start: b's own memory is freed first and data now belongs
 * to b. For a caller that recycles one large buffer between renders. */
void sbuf_adopt(struct sbuf *b, char *data, size_t cap);

/* Make room for n more bytes now (one allocation instead of a chain of
 * them); false, and failed set, when that is impossible. */
bool sbuf_reserve(struct sbuf *b, size_t n);

/* Append n bytes of s (which may hold NULs). Inline, because renderers
 * call it per field: with room already there it is a compare and a copy
 * (cap never exceeds max, so the room is within the limit). */
static inline void sbuf_append(struct sbuf *b, const char *s, size_t n)
{
    if ((n >= b->cap - b->len || b->failed) && !sbuf_reserve(b, n)) {
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Append the string s. */
static inline void sbuf_append_str(struct sbuf *b, const char *s)
{
    sbuf_append(b, s, strlen(s));
}

/* Append printf-style text, of any length. */
void sbuf_appendf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append v in decimal. */
void sbuf_append_i64(struct sbuf *b, int64_t v);

/* Append s as a JSON string, quotes included: quote, backslash and control
 * characters escaped, invalid UTF-8 replaced by U+FFFD; NULL as null. */
void sbuf_append_json(struct sbuf *b, const char *s);

/* The text, which the caller now owns and frees ("" when nothing was
 * appended); NULL when b failed (its memory is freed then). b is empty
 * afterwards either way. */
char *sbuf_take(struct sbuf *b);

#endif
