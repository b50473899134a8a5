/* sbuf.c - one growable string builder with a size limit. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "utf8.h"

#define SBUF_FIRST_CAP 256

/* An empty builder with a limit. */
void sbuf_init(struct sbuf *b, size_t max)
{
    *b = (struct sbuf){.max = max};
}

/* Free the memory; the limit stays. */
void sbuf_finish(struct sbuf *b)
{
    free(b->data);
    sbuf_init(b, b->max);
}

/* Empty, keeping the memory. */
void sbuf_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Refill a recycled block from the start. */
void sbuf_adopt(struct sbuf *b, char *data, size_t cap)
{
    free(b->data);
    b->data = data;
    b->cap = data == NULL ? 0 : b->max > 0 && cap > b->max ? b->max : cap;
    b->len = 0;
    b->failed = false;
    if (b->data != NULL && b->cap > 0) {
        b->data[0] = '\0';
    }
}

/* Room for n more bytes and the NUL. */
bool sbuf_reserve(struct sbuf *b, size_t n)
{
    if (b->failed) {
        return false;
    }
    if (n > SIZE_MAX / 2 - b->len - 1 || (b->max > 0 && b->len + n + 1 > b->max)) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) {
        return true;
    }
    size_t cap = b->cap > 0 ? b->cap : SBUF_FIRST_CAP;
    while (cap < need) {
        cap *= 2;
    }
    if (b->max > 0 && cap > b->max) {
        cap = b->max;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

/* Append formatted text: first into the room there is, then once more
 * into enough. */
void sbuf_appendf(struct sbuf *b, const char *fmt, ...)
{
    if (!sbuf_reserve(b, 0)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        b->failed = true;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!sbuf_reserve(b, (size_t)n)) {
            b->data[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Append a decimal integer, formatted by hand (metrics write millions). */
void sbuf_append_i64(struct sbuf *b, int64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (v < 0) {
        tmp[--n] = '-';
    }
    sbuf_append(b, tmp + n, sizeof(tmp) - n);
}

/* The escape of one byte of a JSON string, or NULL when it stands as it is. */
static const char *json_escape(unsigned char ch, char *tmp, size_t len)
{
    static const char *const short_forms[0x20] = {
        ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
    };
    if (ch == '"') {
        return "\\\"";
    }
    if (ch == '\\') {
        return "\\\\";
    }
    if (ch >= 0x20) {
        return NULL;
    }
    if (short_forms[ch] != NULL) {
        return short_forms[ch];
    }
    snprintf(tmp, len, "\\u%04x", ch);
    return tmp;
}

/* Append a JSON string; runs that need no escape are copied at once. */
void sbuf_append_json(struct sbuf *b, const char *s)
{
    if (s == NULL) {
        sbuf_append(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    sbuf_reserve(b, n + 2);
    sbuf_append(b, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* bytes pending, copied as they are */
    char tmp[8];
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(u + i, n - i);
        const char *esc = l == 0 ? "\xef\xbf\xbd" : json_escape(u[i], tmp, sizeof(tmp));
        if (esc != NULL) {
            sbuf_append(b, s + i - run, run);
            run = 0;
            sbuf_append_str(b, esc);
            i++;
            continue;
        }
        run += l;
        i += l;
    }
    sbuf_append(b, s + n - run, run);
    sbuf_append(b, "\"", 1);
}

/* Hand the text over. */
char *sbuf_take(struct sbuf *b)
{
    char *p = b->data;
    bool failed = b->failed;
    b->data = NULL;
    b->cap = 0;
    b->len = 0;
    b->failed = false;
    if (failed) {
        free(p);
        return NULL;
    }
    return p != NULL ? p : strdup("");
}
