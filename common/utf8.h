/* utf8.h - checking UTF-8 one sequence at a time. */
#ifndef SHIPWATCH_UTF8_H
#define SHIPWATCH_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence at s, with n >= 1 bytes
 * available; 0 if it is invalid: a stray or overlong sequence, a surrogate,
 * a code point past U+10FFFF, or one cut short by the end of the bytes. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Bytes of s[0..n) before the first invalid sequence: n when all of it is
 * valid UTF-8. */
size_t utf8_valid_prefix(const char *s, size_t n);

/* Copy the NUL-terminated s to out (outlen > 0), each byte of an invalid
 * sequence written as the four characters \xNN, so the result is valid
 * UTF-8 whatever s held; a sequence that would not fit whole is left out.
 * Returns strlen(out). */
size_t utf8_escape(const char *s, char *out, size_t outlen);

#endif
