/* curlfacts.c - a finished curl transfer's facts, into its run. */
#include <stdio.h>

#include "curlfacts.h"
#include "curlm.h"

void curlfacts_ip(struct check_run *run, CURL *easy)
{
    char *ip = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL &&
        ip[0] != '\0') {
        snprintf(run->ip, sizeof(run->ip), "%s", ip);
        run->facts.ip = run->ip;
    }
}

void curlfacts_cert(struct check_run *run, CURL *easy)
{
    int64_t expiry = curlm_cert_expiry_s(easy);
    if (expiry > 0) {
        run->result.cert_expiry_s = expiry;
        run->facts.cert_expiry_ms = expiry * 1000 - check_env_now_ms(run->env);
    }
}

long curlfacts_request(struct check_run *run, CURL *easy)
{
    long code = 0;
    double total = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &total);
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    run->facts.response_time_ms = (int64_t)(total * 1000.0);
    run->facts.connected = (code > 0 || connect_us > 0) ? 1 : 0;
    curlfacts_ip(run, easy);
    curlfacts_cert(run, easy);
    return code;
}
