/* grpcmsg.h - the bytes of gRPC's health check, written and read by hand.
 *
 * A grpc check (check_grpc.c) calls grpc.health.v1.Health/Check: the
 * request body is one gRPC message (a byte of flags, 0 for uncompressed,
 * and a 4-byte big-endian length) holding a HealthCheckRequest, whose only
 * field is 1, the service's name as a string; the reply body is one such
 * message holding a HealthCheckResponse, whose field 1 is the status enum
 * (UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3). Two messages
 * of one field each are not worth a protobuf library: this module encodes
 * the one and decodes the other, strictly, as a reply comes from the
 * network: varints of 10 bytes at most, every length checked against what
 * is there, unknown fields skipped by their wire type (groups refused, as
 * proto3 has none), and a reply over GRPCMSG_REPLY_MAX refused whole.
 *
 * The trailers' grpc-status and grpc-message are read here too: the code
 * as a strict decimal, named as gRPC names it, the message unescaped from
 * its percent-encoding with control bytes replaced, fit for a result.
 *
 * Nothing here allocates or keeps memory beyond the call. */
#ifndef SHIPWATCH_GRPCMSG_H
#define SHIPWATCH_GRPCMSG_H

#include <stddef.h>
#include <stdint.h>

/* The path of the method called. */
#define GRPCMSG_HEALTH_PATH "/grpc.health.v1.Health/Check"

/* A service name's bytes at most (gRPC sets no limit; a name is a
 * package-qualified identifier, far shorter). */
#define GRPCMSG_SERVICE_MAX 1024

/* Room a request needs at most: 5 bytes of message header, a tag, a
 * varint length (2 bytes for GRPCMSG_SERVICE_MAX) and the name. */
#define GRPCMSG_REQUEST_MAX (5 + 1 + 2 + GRPCMSG_SERVICE_MAX)

/* Reply body bytes read at most, message headers included: a
 * HealthCheckResponse is 2 bytes; a server may add fields, not kilobytes. */
#define GRPCMSG_REPLY_MAX 4096

/* HealthCheckResponse.ServingStatus. */
enum grpcmsg_serving {
    GRPCMSG_UNKNOWN = 0,
    GRPCMSG_SERVING = 1,
    GRPCMSG_NOT_SERVING = 2,
    GRPCMSG_SERVICE_UNKNOWN = 3,
};

/* gRPC's status code NOT_FOUND: what a server answers for a service it
 * does not know. */
#define GRPCMSG_CODE_NOT_FOUND 5

/* Write the request for service (NUL-terminated, "" for the server as a
 * whole) into out[0..len): the number of bytes written, or -ENAMETOOLONG
 * for a name over GRPCMSG_SERVICE_MAX, -ENOSPC when len is short. */
int grpcmsg_request(const char *service, unsigned char *out, size_t len);

/* What a reply body says. */
struct grpcmsg_reply {
    int64_t status;             /* the status field as sent (an enum is an
                                   int32 on the wire, any value); 0, UNKNOWN,
                                   when absent, as proto3 has it */
    const char *why;            /* static text: why the body was refused;
                                   NULL when it was not */
};

/* Read the reply body b[0..n): exactly one uncompressed message holding a
 * HealthCheckResponse. 0; or, with reply->why set: -EMSGSIZE for a body
 * or a message length over GRPCMSG_REPLY_MAX, -ENODATA for an empty body,
 * -ENOTSUP for a compressed message (none was asked for), -EINVAL for a
 * body that is malformed (a cut header or message, bytes after the
 * message, a bad varint, tag or length in the protobuf). */
int grpcmsg_read_reply(const unsigned char *b, size_t n, struct grpcmsg_reply *reply);

/* The name of a serving status: "UNKNOWN", "SERVING", "NOT_SERVING",
 * "SERVICE_UNKNOWN", or "UNRECOGNIZED" for a value grpc.health.v1 does
 * not define (protobuf's word for an open enum's unknown value). Static. */
const char *grpcmsg_serving_name(int64_t status);

/* Parse a grpc-status value s[0..n) (ASCII digits, no sign, 0 to 999;
 * white space around allowed) into *code: 0, or -EINVAL. */
int grpcmsg_parse_code(const char *s, size_t n, int *code);

/* gRPC's name of a status code: "OK", "CANCELLED", ... "UNAUTHENTICATED";
 * NULL for a code gRPC does not define (over 16). Static. */
const char *grpcmsg_code_name(int code);

/* Decode a grpc-message value s[0..n) (percent-encoded, gRPC's spec) into
 * out[0..len) (len > 0, always NUL-terminated; what does not fit is cut
 * at a character's start): a bad escape is kept as written, control
 * bytes and invalid UTF-8 become '?'. The bytes written. */
size_t grpcmsg_unescape(const char *s, size_t n, char *out, size_t len);

#endif
