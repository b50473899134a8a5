/* sign.h - HMAC-SHA256 signatures as hex: the deploy API's and GitHub's
 * request signatures, and the cluster bus's messages. */
#ifndef SHIPWATCH_SIGN_H
#define SHIPWATCH_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#define SIGN_HEX_LEN 64 /* hex digits of an HMAC-SHA256 */

/* HMAC-SHA256 with key over head (hlen bytes, may be 0), then msg (len
 * bytes), as lowercase hex in out. 0, or -1 when the library failed. */
int sign_hex(const char *key, const void *head, size_t hlen, const void *msg, size_t len,
             char out[SIGN_HEX_LEN + 1]);

/* Whether given[0..len) is the hex want (lowercase), in either case;
 * constant time in the digits compared. */
bool sign_hex_equal(const char *want, const char *given, size_t len);

#endif
