/* utf8.c - checking UTF-8 one sequence at a time. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

/* Bytes before the first invalid sequence. */
size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) {
            return i;
        }
        i += k;
    }
    return n;
}

/* Copy s, invalid bytes as \xNN. */
size_t utf8_escape(const char *s, char *out, size_t outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, o = 0;
    while (i < n) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) {
            if (o + 4 >= outlen) {
                break;
            }
            snprintf(out + o, outlen - o, "\\x%02x", u[i]);
            o += 4;
            i++;
            continue;
        }
        if (o + k >= outlen) {
            break;
        }
        memcpy(out + o, u + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return o;
}
