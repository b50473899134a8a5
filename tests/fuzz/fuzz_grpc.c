/* fuzz_grpc.c - libFuzzer: a grpc check's reply as a broken or hostile
 * server may send it. The input is the reply body, read by the decoder
 * from an exact-size copy (so ASan sees any read past its end); the same
 * bytes are a grpc-status and a grpc-message too, and a service name that
 * is written and read back. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, data, size);

    struct grpcmsg_reply r;
    int rc = grpcmsg_read_reply(body, size, &r);
    if ((rc == 0) != (r.why == NULL) || grpcmsg_serving_name(r.status) == NULL) {
        abort();
    }
    if (rc != 0 && rc != -EMSGSIZE && rc != -ENODATA && rc != -ENOTSUP && rc != -EINVAL) {
        abort();
    }
    if (rc == 0 && (size < 5 || size > GRPCMSG_REPLY_MAX || body[0] != 0)) {
        abort();
    }

    int code = -1;
    if (grpcmsg_parse_code((const char *)body, size, &code) == 0 && (code < 0 || code > 999)) {
        abort();
    }

    char text[64];
    size_t n = grpcmsg_unescape((const char *)body, size, text, sizeof(text));
    if (n >= sizeof(text) || strlen(text) != n) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            abort();
        }
    }

    /* The bytes up to a NUL as a service: the request reads back as it. */
    char *service = malloc(size + 1);
    if (service != NULL) {
        memcpy(service, data, size);
        service[size] = '\0';
        size_t len = strlen(service);
        unsigned char req[GRPCMSG_REQUEST_MAX];
        int w = grpcmsg_request(service, req, sizeof(req));
        if (len > GRPCMSG_SERVICE_MAX ? w != -ENAMETOOLONG
                                      : (w < 5 || memcmp(req + w - len, service, len) != 0)) {
            abort();
        }
        free(service);
    }
    free(body);
    return 0;
}
