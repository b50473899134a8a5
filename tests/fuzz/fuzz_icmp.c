/* fuzz_icmp.c - libFuzzer: a packet an ICMP socket hands the daemon, as
 * any host on the network, or any process on this one, may send it. The
 * first byte picks the kind of socket (datagram or raw, IPv4 or IPv6), the
 * rest is the packet; a reply read is checked against the contract. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "icmpmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    enum icmpmsg_source src = (enum icmpmsg_source)(data[0] % 4);
    size_t len = size - 1;
    /* An exact-size copy so ASan sees any read past the end. */
    uint8_t *pkt = malloc(len ? len : 1);
    if (pkt == NULL) {
        return 0;
    }
    memcpy(pkt, data + 1, len);
    struct icmpmsg_echo r;
    int rc = icmpmsg_read(src, pkt, len, &r);
    if (rc == 0) {
        /* The data lies inside the packet, at its end, within the limit. */
        if (r.data_len > ICMPMSG_PAYLOAD_MAX || r.data < pkt + ICMPMSG_HEADER_LEN ||
            r.data + r.data_len > pkt + len) {
            abort();
        }
        if (!icmpmsg_answers(&r, r.id, r.seq, r.data, r.data_len) ||
            icmpmsg_answers(&r, (uint16_t)(r.id + 1), r.seq, r.data, r.data_len)) {
            abort();
        }
        /* A request for the same id, seq and data is the reply's twin. */
        int family = src == ICMPMSG_DGRAM4 || src == ICMPMSG_RAW4 ? AF_INET : AF_INET6;
        uint8_t req[ICMPMSG_HEADER_LEN + ICMPMSG_PAYLOAD_MAX];
        size_t n = icmpmsg_echo_request(family, r.id, r.seq, r.data, r.data_len, req, sizeof(req));
        if (n != ICMPMSG_HEADER_LEN + r.data_len ||
            (family == AF_INET && icmpmsg_checksum(req, n) != 0)) {
            abort();
        }
    } else if (rc != -EINVAL && rc != -ENOMSG && rc != -EMSGSIZE) {
        abort();
    }
    free(pkt);
    return 0;
}
