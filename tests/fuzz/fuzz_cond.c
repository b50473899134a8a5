/* fuzz_cond.c - libFuzzer: condition text and a response body from outside.
 * Input: condition text, a NUL byte, then the body. The condition is
 * evaluated twice: against facts from an HTTP run with that body, and
 * against a run whose connection failed. Parsed open and bound to a host
 * type's placeholders, it is evaluated against their values, extreme and
 * unknown ones included. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cond.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0, size);
    size_t tl = sep != NULL ? (size_t)(sep - data) : size;
    char *text = malloc(tl + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, tl);
    text[tl] = '\0';
    struct cond *c = NULL;
    char err[256];
    if (cond_parse(text, &c, err, sizeof(err)) == 0) {
        struct cond_facts f;
        cond_facts_init(&f);
        f.status = 200;
        f.response_time_ms = 10;
        f.connected = 1;
        f.cert_expiry_ms = 3600000;
        f.deploy_version = "1.0";
        f.ip = "127.0.0.1";
        f.dns_rcode = "NOERROR";
        if (sep != NULL) {
            f.body = (const char *)sep + 1;
            f.body_len = size - tl - 1;
        }
        struct cond_result r[2];
        cond_eval_all(&c, 1, &f, &r[0]);
        struct cond_facts down;
        cond_facts_init(&down);
        down.connected = 0;
        cond_eval_all(&c, 1, &down, &r[1]);
        char why[16];
        cond_eval(c, &f, why, sizeof(why));
        cond_destroy(c);
    }
    static const struct cond_var vars[] = {
        {"[USED]", COND_VAR_NUMBER, "%"},
        {"[AGE]", COND_VAR_MS, "ms"},
        {"[EXISTS]", COND_VAR_BOOL, ""},
        {"[HUGE]", COND_VAR_NUMBER, "B"},
    };
    if (cond_parse_open(text, &c, err, sizeof(err)) == 0) {
        if (cond_bind(c, vars, sizeof(vars) / sizeof(vars[0]), err, sizeof(err)) == 0) {
            struct cond_facts f;
            cond_facts_init(&f);
            f.vars[0] = 42.5;
            f.vars[1] = -1e300;
            f.vars[2] = 1;
            f.vars[3] = 1e19;
            struct cond_result r;
            cond_eval_all(&c, 1, &f, &r);
            cond_facts_init(&f);    /* every one unknown */
            cond_eval_all(&c, 1, &f, &r);
        }
        cond_destroy(c);
    }
    free(text);
    return 0;
}
