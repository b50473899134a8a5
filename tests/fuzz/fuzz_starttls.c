/* fuzz_starttls.c - libFuzzer: what a server says before TLS, as a broken
 * or hostile FTP or PostgreSQL server may say it. The first byte picks the
 * protocol and how the rest is cut into reads; the talk must end in a
 * step it defines, answer only the bytes it sends, and explain a refusal
 * in printable text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "starttls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    enum starttls_proto proto = (data[0] & 1) != 0 ? STARTTLS_POSTGRES : STARTTLS_FTP;
    size_t piece = (size_t)(data[0] >> 1) + 1;
    data++;
    size--;
    struct starttls_talk *t = malloc(sizeof(*t));
    if (t == NULL) {
        return 0;
    }
    enum starttls_step s = starttls_talk_begin(t, proto);
    size_t sends = 0;
    for (size_t off = 0; off < size && (s == STARTTLS_MORE || s == STARTTLS_SEND); off += piece) {
        if (s == STARTTLS_SEND) {
            if (t->send == NULL || t->send_len == 0 || t->send_len > 16 || ++sends > 2) {
                abort();
            }
        }
        size_t n = size - off < piece ? size - off : piece;
        s = starttls_talk_feed(t, (const char *)data + off, n);
        if (t->len > sizeof(t->buf)) {
            abort();
        }
    }
    if (s == STARTTLS_FAIL) {
        size_t len = strnlen(t->why, sizeof(t->why));
        if (len == 0 || len >= sizeof(t->why)) {
            abort();
        }
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)t->why[i] < 0x20 || (unsigned char)t->why[i] >= 0x7f) {
                abort();
            }
        }
    } else if (s != STARTTLS_MORE && s != STARTTLS_SEND && s != STARTTLS_READY) {
        abort();
    }
    free(t);
    return 0;
}
