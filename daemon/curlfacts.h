/* curlfacts.h - what a check that runs on the curl engine (http, tls,
 * grpc) reads of its finished transfer into its run: the address it
 * connected to, the peer certificate's expiry, and for a request its
 * response time and whether it connected. One place, so that [IP],
 * [CERTIFICATE_EXPIRATION], [RESPONSE_TIME] and [CONNECTED] mean the same
 * for every such type. */
#ifndef SHIPWATCH_CURLFACTS_H
#define SHIPWATCH_CURLFACTS_H

#include <curl/curl.h>

#include "check.h"

/* [IP]: the address easy connected to, into run->ip; unset when none. */
void curlfacts_ip(struct check_run *run, CURL *easy);

/* [CERTIFICATE_EXPIRATION] and the result's cert_expiry_s, from the peer
 * certificate (the transfer had CURLOPT_CERTINFO set); unset when none. */
void curlfacts_cert(struct check_run *run, CURL *easy);

/* A request's facts: [RESPONSE_TIME] (its total time), [CONNECTED] (a
 * response came, or at least the connect did), [IP] and the certificate.
 * Returns the response code, 0 when none came. */
long curlfacts_request(struct check_run *run, CURL *easy);

#endif
