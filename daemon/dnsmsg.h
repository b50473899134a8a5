/* dnsmsg.h - what a dns check reads of a DNS reply, in Gatus's words.
 *
 * The resolver (c-ares, on the loop in check_dns.c) hands over the raw
 * reply; this module names its response code ([DNS_RCODE]: "NOERROR",
 * "NXDOMAIN", ...) and writes its answers of the type asked for as text
 * ([BODY]), the way Gatus writes one answer: an A or AAAA record as its
 * address, a CNAME, NS, PTR or MX record as the name it points at with
 * the trailing dot ("mail.example.com."). Gatus keeps only the last answer
 * and knows no other type; shipwatch keeps every answer, sorted (a
 * round-robin server's rotation changes nothing) and joined by ", ", so a
 * single answer reads exactly as in Gatus, several read the same on every
 * run ("10.0.0.7, 10.0.0.8"), and one among them is matched with pat():
 * "[BODY] == pat(*10.0.0.7*)". A TXT record
 * is its strings joined without a separator (RFC 7208's reading of a long
 * SPF or DKIM value); SRV and SOA records read as dig prints their data.
 * Answers of other types (the CNAME chain in front of an A answer) are left
 * out, so "[BODY] == 10.0.0.7" holds behind a CNAME too.
 *
 * Nothing here keeps memory beyond the call; the reply is only read. */
#ifndef SHIPWATCH_DNSMSG_H
#define SHIPWATCH_DNSMSG_H

#include <stddef.h>

/* The record types a dns check may ask for, as its record: key spells
 * them, NULL-terminated; the index into this table is the check's
 * dns_record. */
extern const char *const dnsmsg_record_names[];

/* The query type (1 for A, 28 for AAAA, ...) of the record index i. */
int dnsmsg_record_type(int i);

/* The name of a response code (the header's four bits): "NOERROR",
 * "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", ..., "RCODE12"
 * for one without a name. Static text. */
const char *dnsmsg_rcode_name(int rcode);

/* Answers read of one reply at most; more are left out (truncated). */
#define DNSMSG_ANSWERS_MAX 64

/* What a reply says. */
struct dnsmsg_reply {
    int rcode;                  /* 0..15 */
    size_t nanswers;            /* answers of the type asked for */
    size_t len;                 /* bytes written to the text, without the NUL */
    int truncated;              /* answers left out for want of room */
};

/* Read the reply msg[0..len) to a query of type qtype: its rcode, and its
 * answers of that type as text into out (outlen > 0, always
 * NUL-terminated; the answers that do not fit whole are left out and
 * *truncated set). 0, or -EINVAL when the reply is malformed (a short
 * header, a name or record running past its end), or -ENOMEM. */
int dnsmsg_read(const unsigned char *msg, size_t len, int qtype, char *out, size_t outlen,
                struct dnsmsg_reply *reply);

#endif
