/* sign.c - HMAC-SHA256 as hex (see sign.h). */
#include <stdbool.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "sign.h"

/* HMAC over head then msg, in hex. The HMAC implementation is fetched
 * once: the bus signs every result it publishes. */
int sign_hex(const char *key, const void *head, size_t hlen, const void *msg, size_t len,
             char out[SIGN_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    static EVP_MAC *hmac;
    if (hmac == NULL && (hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
        return -1;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    bool ok = ctx != NULL &&
              EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) == 1 &&
              (hlen == 0 || EVP_MAC_update(ctx, head, hlen) == 1) &&
              (len == 0 || EVP_MAC_update(ctx, msg, len) == 1) &&
              EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 && maclen * 2 == SIGN_HEX_LEN;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        return -1;
    }
    for (size_t i = 0; i < maclen; i++) {
        out[2 * i] = digits[mac[i] >> 4];
        out[2 * i + 1] = digits[mac[i] & 0xf];
    }
    out[SIGN_HEX_LEN] = '\0';
    return 0;
}

/* Compare hex digits in either case, in constant time. */
bool sign_hex_equal(const char *want, const char *given, size_t len)
{
    if (len != strlen(want) || len > SIGN_HEX_LEN) {
        return false;
    }
    char low[SIGN_HEX_LEN];
    for (size_t i = 0; i < len; i++) {
        char ch = given[i];
        low[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    return CRYPTO_memcmp(want, low, len) == 0;
}
