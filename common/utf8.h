/* utf8.h - checking UTF-8 one sequence at a time. */
#ifndef SHIPWATCH_UTF8_H
#define SHIPWATCH_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence at s, with n >= 1 bytes
 * available; 0 if it is invalid: a stray or overlong sequence, a surrogate,
 * a code point past U+10FFFF, or one cut short by the end of the bytes. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
