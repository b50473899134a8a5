/* test_cond.c - conditions: Gatus's own condition cases (verdict and text),
 * shipwatch's additions, parse errors and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "util.h"

#define MS_DAY (24LL * 3600 * 1000)

/* One case: a condition, what the run saw, the verdict and the text. Facts
 * left out are Gatus's zero values, which is what shipwatch's unknown facts
 * read as. */
struct cond_case {
    const char *name;
    const char *cond;
    int status;
    int64_t rt_ms;
    const char *body;
    int connected;
    int64_t cert_ms;
    const char *ip;
    const char *deploy;
    const char *status_word;    /* a grpc check's [STATUS]; NULL: the number */
    bool ok;
    const char *text;   /* the failure text; NULL: the condition as written */
};

/* Gatus's condition_test.go (TestCondition_evaluate), case by case, with
 * its names. Left out: the cases for options shipwatch has not
 * (dont-resolve-failed-conditions, resolve-successful-conditions) and
 * suites' [CONTEXT]. */
static const struct cond_case gatus_cases[] = {
    {"ip", "[IP] == 127.0.0.1", .ip = "127.0.0.1", .ok = true},
    {"status", "[STATUS] == 200", .status = 200, .ok = true},
    {"status-failure", "[STATUS] == 200", .status = 500, .text = "[STATUS] (500) == 200"},
    {"status-using-less-than", "[STATUS] < 300", .status = 201, .ok = true},
    {"status-using-less-than-failure", "[STATUS] < 300", .status = 404,
     .text = "[STATUS] (404) < 300"},
    {"response-time-using-less-than", "[RESPONSE_TIME] < 500", .rt_ms = 50, .ok = true},
    {"response-time-using-less-than-with-duration", "[RESPONSE_TIME] < 1s", .rt_ms = 50,
     .ok = true},
    {"response-time-using-less-than-invalid", "[RESPONSE_TIME] < potato", .rt_ms = 50,
     .text = "[RESPONSE_TIME] (50) < potato (0)"},
    {"response-time-using-greater-than", "[RESPONSE_TIME] > 500", .rt_ms = 750, .ok = true},
    {"response-time-using-greater-than-with-duration", "[RESPONSE_TIME] > 1s", .rt_ms = 2000,
     .ok = true},
    {"response-time-using-greater-than-or-equal-to-equal", "[RESPONSE_TIME] >= 500",
     .rt_ms = 500, .ok = true},
    {"response-time-using-greater-than-or-equal-to-greater", "[RESPONSE_TIME] >= 500",
     .rt_ms = 499, .text = "[RESPONSE_TIME] (499) >= 500"},
    {"response-time-using-less-than-or-equal-to-equal", "[RESPONSE_TIME] <= 500", .rt_ms = 500,
     .ok = true},
    {"response-time-using-less-than-or-equal-to-less", "[RESPONSE_TIME] <= 500", .rt_ms = 25,
     .ok = true},
    {"response-time-using-less-than-or-equal-to-failure", "[RESPONSE_TIME] <= 500",
     .rt_ms = 750, .text = "[RESPONSE_TIME] (750) <= 500"},
    {"body", "[BODY] == test", .body = "test", .ok = true},
    {"body-numerical-equal", "[BODY] == 123", .body = "123", .ok = true},
    {"body-numerical-less-than", "[BODY] < 124", .body = "123", .ok = true},
    {"body-numerical-greater-than", "[BODY] > 122", .body = "123", .ok = true},
    {"body-numerical-greater-than-failure", "[BODY] > 123", .body = "100",
     .text = "[BODY] (100) > 123"},
    {"body-jsonpath", "[BODY].status == UP", .body = "{\"status\":\"UP\"}", .ok = true},
    {"body-jsonpath-complex", "[BODY].data.name == john",
     .body = "{\"data\": {\"id\": 1, \"name\": \"john\"}}", .ok = true},
    {"body-jsonpath-complex-invalid", "[BODY].data.name == john", .body = "{\"data\": {\"id\": 1}}",
     .text = "[BODY].data.name (INVALID) == john"},
    {"body-jsonpath-complex-len-invalid", "len([BODY].data.name) == john",
     .body = "{\"data\": {\"id\": 1}}", .text = "len([BODY].data.name) (INVALID) == john"},
    {"body-jsonpath-double-placeholder", "[BODY].user.firstName != [BODY].user.lastName",
     .body = "{\"user\": {\"firstName\": \"john\", \"lastName\": \"doe\"}}", .ok = true},
    {"body-jsonpath-double-placeholder-failure", "[BODY].user.firstName == [BODY].user.lastName",
     .body = "{\"user\": {\"firstName\": \"john\", \"lastName\": \"doe\"}}",
     .text = "[BODY].user.firstName (john) == [BODY].user.lastName (doe)"},
    {"body-jsonpath-when-body-is-array", "[BODY][0].id == 1",
     .body = "[{\"id\": 1}, {\"id\": 2}]", .ok = true},
    {"body-jsonpath-when-body-has-null-parameter", "[BODY].data == OK",
     .body = "{\"data\": null}\"", .text = "[BODY].data (INVALID) == OK"},
    {"body-jsonpath-when-body-has-array-with-null", "[BODY].items[0] == OK",
     .body = "{\"items\": [null, null]}\"", .text = "[BODY].items[0] (INVALID) == OK"},
    {"body-jsonpath-when-body-is-null", "[BODY].data == OK", .body = "null",
     .text = "[BODY].data (INVALID) == OK"},
    {"body-jsonpath-when-body-is-array-but-actual-body-is-not", "[BODY][0].name == test",
     .body = "{\"statusCode\": 500, \"message\": \"Internal Server Error\"}",
     .text = "[BODY][0].name (INVALID) == test"},
    {"body-jsonpath-complex-int", "[BODY].data.id == 1", .body = "{\"data\": {\"id\": 1}}",
     .ok = true},
    {"body-jsonpath-complex-array-int", "[BODY].data[1].id == 2",
     .body = "{\"data\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]}", .ok = true},
    {"body-jsonpath-complex-int-using-greater-than", "[BODY].data.id > 0",
     .body = "{\"data\": {\"id\": 1}}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-greater-than", "[BODY].data > 0",
     .body = "{\"data\": \"0x1\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-equal-to-0x1", "[BODY].data == 1",
     .body = "{\"data\": \"0x1\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-equals", "[BODY].data == 0x1",
     .body = "{\"data\": \"0x1\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-equal-to-0x2", "[BODY].data == 2",
     .body = "{\"data\": \"0x2\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-equal-to-0xF", "[BODY].data == 15",
     .body = "{\"data\": \"0xF\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-using-equal-to-0xC0ff33", "[BODY].data == 12648243",
     .body = "{\"data\": \"0xC0ff33\"}", .ok = true},
    {"body-jsonpath-hexadecimal-int-len", "len([BODY].data) == 3", .body = "{\"data\": \"0x1\"}",
     .ok = true},
    {"body-jsonpath-hexadecimal-int-greater", "[BODY].data >= 1", .body = "{\"data\": \"0x01\"}",
     .ok = true},
    {"body-jsonpath-hexadecimal-int-0x01-len", "len([BODY].data) == 4",
     .body = "{\"data\": \"0x01\"}", .ok = true},
    {"body-jsonpath-octal-int-using-greater-than", "[BODY].data > 0", .body = "{\"data\": \"0o1\"}",
     .ok = true},
    {"body-jsonpath-octal-int-using-equal", "[BODY].data == 2", .body = "{\"data\": \"0o2\"}",
     .ok = true},
    {"body-jsonpath-octal-int-using-equals", "[BODY].data == 0o2", .body = "{\"data\": \"0o2\"}",
     .ok = true},
    {"body-jsonpath-binary-int-using-greater-than", "[BODY].data > 0",
     .body = "{\"data\": \"0b1\"}", .ok = true},
    {"body-jsonpath-binary-int-using-equal", "[BODY].data == 2", .body = "{\"data\": \"0b0010\"}",
     .ok = true},
    {"body-jsonpath-binary-int-using-equals", "[BODY].data == 0b10",
     .body = "{\"data\": \"0b0010\"}", .ok = true},
    {"body-jsonpath-complex-int-using-greater-than-failure", "[BODY].data.id > 5",
     .body = "{\"data\": {\"id\": 1}}", .text = "[BODY].data.id (1) > 5"},
    {"body-jsonpath-float-using-greater-than-issue433", "[BODY].balance > 100",
     .body = "{\"balance\": \"123.40000000000005\"}", .ok = true},
    {"body-jsonpath-complex-int-using-less-than", "[BODY].data.id < 5",
     .body = "{\"data\": {\"id\": 2}}", .ok = true},
    {"body-jsonpath-complex-int-using-less-than-failure", "[BODY].data.id < 5",
     .body = "{\"data\": {\"id\": 10}}", .text = "[BODY].data.id (10) < 5"},
    {"connected", "[CONNECTED] == true", .connected = 1, .ok = true},
    {"connected-failure", "[CONNECTED] == true", .connected = 0,
     .text = "[CONNECTED] (false) == true"},
    {"certificate-expiration-not-set", "[CERTIFICATE_EXPIRATION] == 0", .ok = true},
    {"certificate-expiration-greater-than-numerical", "[CERTIFICATE_EXPIRATION] > 2419200000",
     .cert_ms = 60 * MS_DAY, .ok = true},
    {"certificate-expiration-greater-than-numerical-failure",
     "[CERTIFICATE_EXPIRATION] > 2419200000", .cert_ms = 14 * MS_DAY,
     .text = "[CERTIFICATE_EXPIRATION] (336h) > 2419200000"},
    {"certificate-expiration-greater-than-duration", "[CERTIFICATE_EXPIRATION] > 12h",
     .cert_ms = MS_DAY, .ok = true},
    {"certificate-expiration-greater-than-duration", "[CERTIFICATE_EXPIRATION] > 48h",
     .cert_ms = MS_DAY, .text = "[CERTIFICATE_EXPIRATION] (24h) > 48h"},
    {"no-placeholders", "1 == 2", .text = "1 == 2"},
    {"len-body-jsonpath-complex", "len([BODY].data.name) == 4",
     .body = "{\"data\": {\"name\": \"john\"}}", .ok = true},
    {"len-body-array", "len([BODY]) == 3", .body = "[{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]",
     .ok = true},
    {"len-body-keyed-array", "len([BODY].data) == 3",
     .body = "{\"data\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}]}", .ok = true},
    {"len-body-array-invalid", "len([BODY].data) == 8", .body = "{\"name\": \"john.doe\"}",
     .text = "len([BODY].data) (INVALID) == 8"},
    {"len-body-string", "len([BODY]) == 8", .body = "john.doe", .ok = true},
    {"len-body-keyed-string", "len([BODY].name) == 8", .body = "{\"name\": \"john.doe\"}",
     .ok = true},
    {"len-body-keyed-int", "len([BODY].age) == 2", .body = "{\"age\":18}", .ok = true},
    {"len-body-keyed-bool", "len([BODY].adult) == 4", .body = "{\"adult\":true}", .ok = true},
    {"len-body-object-inside-array", "len([BODY][0]) == 23",
     .body = "[{\"age\":18,\"adult\":true}]", .ok = true},
    {"len-body-object-keyed-int-inside-array", "len([BODY][0].age) == 2",
     .body = "[{\"age\":18,\"adult\":true}]", .ok = true},
    {"len-body-keyed-bool-inside-array", "len([BODY][0].adult) == 4",
     .body = "[{\"age\":18,\"adult\":true}]", .ok = true},
    {"len-body-object", "len([BODY]) == 20", .body = "{\"name\": \"john.doe\"}", .ok = true},
    {"pat-body-1", "[BODY] == pat(*john*)", .body = "{\"name\": \"john.doe\"}", .ok = true},
    {"pat-body-2", "[BODY].name == pat(john*)", .body = "{\"name\": \"john.doe\"}", .ok = true},
    {"pat-body-failure", "[BODY].name == pat(bob*)", .body = "{\"name\": \"john.doe\"}",
     .text = "[BODY].name (john.doe) == pat(bob*)"},
    {"pat-body-html", "[BODY] == pat(*<div id=\"user\">john.doe</div>*)",
     .body = "<!DOCTYPE html><html lang=\"en\"><head><meta http-equiv=\"Content-Type\" "
             "content=\"text/html; charset=UTF-8\" /></head><body><div "
             "id=\"user\">john.doe</div></body></html>",
     .ok = true},
    {"pat-body-html-failure", "[BODY] == pat(*<div id=\"user\">john.doe</div>*)",
     .body = "<!DOCTYPE html><html lang=\"en\"><head><meta http-equiv=\"Content-Type\" "
             "content=\"text/html; charset=UTF-8\" /></head><body><div "
             "id=\"user\">jane.doe</div></body></html>",
     .text = "[BODY] (<!DOCTYPE html><html lang...(truncated)) == "
             "pat(*<div id=\"user\">john.doe</div>*)"},
    {"pat-body-html-failure-alt", "pat(*<div id=\"user\">john.doe</div>*) == [BODY]",
     .body = "<!DOCTYPE html><html lang=\"en\"><head><meta http-equiv=\"Content-Type\" "
             "content=\"text/html; charset=UTF-8\" /></head><body><div "
             "id=\"user\">jane.doe</div></body></html>",
     .text = "pat(*<div id=\"user\">john.doe</div>*) == "
             "[BODY] (<!DOCTYPE html><html lang...(truncated))"},
    {"pat-body-in-array", "[BODY].data == pat(*Whatever*)",
     .body = "{\"data\": [\"hello\", \"world\", \"Whatever\"]}", .ok = true},
    {"pat-ip", "[IP] == pat(10.*)", .ip = "10.0.0.0", .ok = true},
    {"pat-ip-failure", "[IP] == pat(10.*)", .ip = "255.255.255.255",
     .text = "[IP] (255.255.255.255) == pat(10.*)"},
    {"pat-status", "[STATUS] == pat(4*)", .status = 404, .ok = true},
    {"pat-status-failure", "[STATUS] == pat(4*)", .status = 200,
     .text = "[STATUS] (200) == pat(4*)"},
    {"any-body-1", "[BODY].name == any(john.doe, jane.doe)", .body = "{\"name\": \"john.doe\"}",
     .ok = true},
    {"any-body-2", "[BODY].name == any(john.doe, jane.doe)", .body = "{\"name\": \"jane.doe\"}",
     .ok = true},
    {"any-body-failure", "[BODY].name == any(john.doe, jane.doe)", .body = "{\"name\": \"bob\"}",
     .text = "[BODY].name (bob) == any(john.doe, jane.doe)"},
    {"any-status-1", "[STATUS] == any(200, 429)", .status = 200, .ok = true},
    {"any-status-2", "[STATUS] == any(200, 429)", .status = 429, .ok = true},
    {"any-status-reverse", "any(200, 429) == [STATUS]", .status = 429, .ok = true},
    {"any-status-failure", "[STATUS] == any(200, 429)", .status = 404,
     .text = "[STATUS] (404) == any(200, 429)"},
    {"has", "has([BODY].errors) == false", .body = "{}", .ok = true},
    {"has-key-of-map", "has([BODY].article) == true",
     .body = "{\n  \"article\": {\n    \"id\": 123,\n    \"title\": \"Hello, world!\",\n    "
             "\"author\": \"John Doe\",\n    \"tags\": [\"hello\", \"world\"],\n    "
             "\"content\": \"I really like Gatus!\"\n  }\n}",
     .ok = true},
    {"has-failure", "has([BODY].errors) == false", .body = "{\"errors\": [\"1\"]}",
     .text = "has([BODY].errors) (true) == false"},
};

/* What the issue and Gatus's source say beyond its test file, and
 * shipwatch's own [DEPLOY].version. */
static const struct cond_case more_cases[] = {
    {"literals-on-both-sides", "raw == raw", .ok = true},
    {"literal-on-the-left", "200 == [STATUS]", .status = 200, .ok = true},
    {"literal-on-the-left-failure", "200 == [STATUS]", .status = 503,
     .text = "200 == [STATUS] (503)"},
    {"pat-on-the-left", "pat(2*) == [STATUS]", .status = 204, .ok = true},
    {"quotes-are-characters", "[BODY].status == \"UP\"", .body = "{\"status\":\"UP\"}",
     .text = "[BODY].status (UP) == \"UP\""},
    {"placeholders-any-case", "[status] == 200", .status = 200, .ok = true},
    {"body-path-any-case", "[Body].Status == UP", .body = "{\"Status\":\"UP\"}", .ok = true},
    {"len-status", "len([STATUS]) == 3", .status = 200, .ok = true},
    {"len-connected", "len([CONNECTED]) == 5", .connected = 0, .ok = true},
    {"has-ip", "has([IP]) == false", .ok = true},
    {"len-array-body", "len([BODY]) == 3", .body = "[1,2,3]", .ok = true},
    {"len-array-body-trailing-newline", "len([BODY]) == 8", .body = "[1,2,3]\n", .ok = true},
    {"len-number", "len([BODY].n) == 3", .body = "{\"n\": 1.5}", .ok = true},
    {"len-object-minified-sorted", "len([BODY].o) == 13", .body = "{\"o\": {\"b\": 1, \"a\": 2}}",
     .ok = true},
    {"object-value", "[BODY].o == pat(*\"a\":2*)", .body = "{\"o\": {\"b\": 1, \"a\": 2}}",
     .ok = true},
    {"float-truncated", "[BODY].v < 2", .body = "{\"v\": 1.9}", .ok = true},
    {"float-not-equal-to-int", "[BODY].v == 1", .body = "{\"v\": 1.0}", .ok = true},
    {"big-number-as-go-prints-it", "[BODY].id == 1234567", .body = "{\"id\": 1234567}",
     .text = "[BODY].id (1.234567e+06) == 1234567"},
    {"big-number-compared", "[BODY].id >= 1234567", .body = "{\"id\": 1234567}", .ok = true},
    {"not-a-number-is-zero", "[BODY].s < 1", .body = "{\"s\": \"abc\"}", .ok = true},
    {"not-a-number-is-zero-failure", "[BODY].s > 0", .body = "{\"s\": \"abc\"}",
     .text = "[BODY].s (0) > 0 (0s)"},
    {"missing-path-numeric", "[BODY].x > 1", .body = "{}", .text = "[BODY].x (0) > 1"},
    {"body-not-json", "[BODY].a == 1", .body = "<html>", .text = "[BODY].a (INVALID) == 1"},
    {"missing-path-not-equal", "[BODY].x != 1", .body = "{}", .ok = true},
    {"certificate-without-tls", "[CERTIFICATE_EXPIRATION] > 48h",
     .text = "[CERTIFICATE_EXPIRATION] (0s) > 48h"},
    {"certificate-duration-printed", "[CERTIFICATE_EXPIRATION] > 336h",
     .cert_ms = 14 * MS_DAY - 2000, .text = "[CERTIFICATE_EXPIRATION] (335h59m58s) > 336h"},
    {"certificate-expired", "[CERTIFICATE_EXPIRATION] > 0", .cert_ms = -MS_DAY,
     .text = "[CERTIFICATE_EXPIRATION] (-24h) > 0 (0s)"},
    {"status-without-http", "[STATUS] == 200", .text = "[STATUS] (0) == 200"},
    {"not-connected", "[CONNECTED] == true", .text = "[CONNECTED] (false) == true"},
    {"long-value-cut", "[BODY] == short", .body = "0123456789012345678901234567890123456789"
                                                  "0123456789012345678901234567890123456789"
                                                  "0123456789012345678901234567890123456789",
     .text = "[BODY] (0123456789012345678901234567890123456789012345678901234567890123456789"
             "012345678901234567890123456789...(truncated)) == short"},
    {"pattern-class", "[BODY] == pat(v[0-9].*)", .body = "v2.1", .ok = true},
    {"pattern-bad-class", "[BODY] == pat(v[.*)", .body = "v[.1", .text = "[BODY] (v[.1) == pat(v[.*)"},
    {"pattern-slashes-removed", "[BODY] == pat(*/health)", .body = "GET /health", .ok = true},
    {"any-both-sides-as-text", "[BODY] == any(a, b)", .body = "any(a, b)", .ok = true},
    {"key-of-array-is-the-array", "[BODY].foo == [1 2]", .body = "[1,2]", .ok = true},
    {"values-as-go-prints-them", "[BODY].a == x", .body = "{\"a\": [1, null, {\"q\": 2.5}, [true]]}",
     .text = "[BODY].a ([1 <nil> map[q:2.5] [true]]) == x"},
    {"object-as-go-marshals-it", "[BODY].o == x", .body = "{\"o\": {\"b\": \"<&>\", \"a\": 1e21}}",
     .text = "[BODY].o ({\"a\":1e+21,\"b\":\"\\u003c\\u0026\\u003e\"}) == x"},
    {"nested-index", "[BODY].m[0][1] == 2", .body = "{\"m\": [[1,2],[3]]}", .ok = true},
    {"leading-zero-is-octal", "[BODY] == 8", .body = "010", .ok = true},
    {"underscores-in-integers", "[BODY] > 999", .body = "1_000", .ok = true},
    {"status-in-hex", "[STATUS] == 0xC8", .status = 200, .ok = true},
    {"any-compares-text", "[STATUS] == any(0xC8)", .status = 200,
     .text = "[STATUS] (200) == any(0xC8)"},
    {"pattern-question-is-a-character", "[BODY] == pat(?" "?)", .body = "\xc3\xa9\xc3\xa9",
     .ok = true},
    {"pattern-escape", "[BODY] == pat(a\\*b)", .body = "a*b", .ok = true},
    {"empty-right-side", "[BODY] == ", .body = " ", .ok = true},
    {"operator-twice", "a == a == c", .ok = true},
    {"deploy", "[BODY].version == [DEPLOY].version", .body = "{\"version\":\"1.2.3\"}",
     .deploy = "1.2.3", .ok = true},
    {"deploy-drift", "[BODY].version == [DEPLOY].version", .body = "{\"version\":\"1.2.3\"}",
     .deploy = "1.2.4", .text = "[BODY].version (1.2.3) == [DEPLOY].version (1.2.4)"},
    {"deploy-unknown", "[BODY].version == [DEPLOY].version", .body = "{\"version\":\"1.2.3\"}",
     .text = "[BODY].version (1.2.3) == [DEPLOY].version (n/a)"},
    {"deploy-unknown-never-holds", "[DEPLOY].version != 1.0",
     .text = "[DEPLOY].version (n/a) != 1.0"},
    {"status-word", "[STATUS] == SERVING", .status_word = "SERVING", .ok = true},
    {"status-word-failure", "[STATUS] == SERVING", .status_word = "NOT_SERVING",
     .text = "[STATUS] (NOT_SERVING) == SERVING"},
    {"status-word-over-number", "[STATUS] == 200", .status = 200, .status_word = "SERVING",
     .text = "[STATUS] (SERVING) == 200"},
    {"status-word-unknown-is-empty", "[STATUS] == SERVING", .status_word = "",
     .text = "[STATUS] () == SERVING"},
    {"status-word-any", "[STATUS] == any(SERVING, NOT_SERVING)", .status_word = "NOT_SERVING",
     .ok = true},
    {"status-word-pattern", "[STATUS] != pat(*SERVING)", .status_word = "SERVICE_UNKNOWN",
     .ok = true},
};

/* Facts for a case. */
static struct cond_facts case_facts(const struct cond_case *k)
{
    struct cond_facts f;
    cond_facts_init(&f);
    f.status = k->status;
    f.response_time_ms = k->rt_ms;
    f.body = k->body;
    f.body_len = k->body != NULL ? strlen(k->body) : 0;
    f.connected = k->connected;
    f.cert_expiry_ms = k->cert_ms;
    f.ip = k->ip;
    f.deploy_version = k->deploy;
    f.status_word = k->status_word;
    return f;
}

/* Run a table; every case reports before the test fails. */
static void run_cases(const struct cond_case *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cond_case *k = &cases[i];
        struct cond *c;
        char err[256];
        if (cond_parse(k->cond, &c, err, sizeof(err)) != 0) {
            print_error("%s: parse \"%s\": %s\n", k->name, k->cond, err);
            bad++;
            continue;
        }
        struct cond_facts f = case_facts(k);
        struct cond_result r;
        cond_eval_all(&c, 1, &f, &r);
        const char *want = k->text != NULL ? k->text : k->cond;
        if (r.success != k->ok || strcmp(r.text, want) != 0) {
            print_error("%s: \"%s\": got %s \"%s\", want %s \"%s\"\n", k->name, k->cond,
                        r.success ? "true" : "false", r.text, k->ok ? "true" : "false", want);
            bad++;
        }
        char why[COND_RESULT_TEXT_MAX] = "x";
        assert_int_equal(cond_eval(c, &f, why, sizeof(why)), r.success);
        assert_string_equal(why, r.success ? "" : r.text);
        cond_destroy(c);
    }
    assert_int_equal(bad, 0);
}

static void gatus_evaluate(void **state)
{
    run_cases(gatus_cases, ARRAY_SIZE(gatus_cases));
}

static void beyond_gatus_tests(void **state)
{
    run_cases(more_cases, ARRAY_SIZE(more_cases));
}

/* Gatus's TestCondition_Validate: what parses and what does not. */
static void gatus_validate(void **state)
{
    static const char *const good[] = {
        "[STATUS] == 200", "[STATUS] != 200", "[STATUS] <= 200", "[STATUS] >= 200",
        "[STATUS] < 200", "[STATUS] > 200", "[STATUS] == any(200, 201, 202, 203)",
        "[STATUS] == [BODY].status", "[CONNECTED] == true", "[RESPONSE_TIME] < 500",
        "[IP] == 127.0.0.1", "[BODY] == 1", "[BODY].test == wat", "[BODY].test.wat == wat",
        "[BODY].age == [BODY].id", "[BODY].users[0].id == 1", "len([BODY].users) == 100",
        "len([BODY].data) < 5", "has([BODY].errors) == false",
        "has([BODY].users[0].name) == true", "[BODY].name == pat(john*)",
        "[CERTIFICATE_EXPIRATION] > 48h", "raw == raw", "[DNS_RCODE] == NOERROR",
    };
    static const char *const bad[] = {
        "[STATUS] ? 201", "[STATUS]==201", "[STATUS] = = 201", "[STATUS] ==", "[STATUS]",
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        struct cond *c = NULL;
        char err[256] = "";
        if (cond_parse(good[i], &c, err, sizeof(err)) != 0) {
            fail_msg("\"%s\": %s", good[i], err);
        }
        cond_destroy(c);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cond *c = NULL;
        char err[256] = "";
        assert_int_equal(cond_parse(bad[i], &c, err, sizeof(err)), -EINVAL);
        assert_null(c);
        if (strstr(err, "invalid condition") == NULL) {
            fail_msg("\"%s\": got \"%s\"", bad[i], err);
        }
    }
}

/* What shipwatch refuses at load and Gatus would only get wrong at run
 * time, each with its reason. */
static void parse_errors(void **state)
{
    static const struct {
        const char *text;
        const char *reason;
    } bad[] = {
        {"[STATUS] 200", "missing operator"},
        {"[STATUS]==201", "space on each side of =="},
        {"[STAUS] == 200", "unknown placeholder [STAUS]"},
        {"[STATUS == 200", "unclosed placeholder"},
        {"[STATUS].x == 1", "takes no path"},
        {"[DEPLOY].ref == x", "unknown placeholder"},
        {"[DOMAIN_EXPIRATION] > 720h", "not supported"},
        {"[STATUS] == [CONTEXT].expected_status", "suites"},
        {"[BODY] < pat(*x*)", "pat() works with == and != only"},
        {"any(1, 2) >= [STATUS]", "any() works with == and != only"},
        {"[BODY].a..b == 1", "bad JSON path"},
        {"[BODY][x] == 1", "bad JSON path"},
        {"[BODY].data[*].id == 1", "bad JSON path"},
        {"len(200) == 3", "len() takes a placeholder"},
        {"has(x) == true", "has() takes a placeholder"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cond *c = NULL;
        char err[256] = "";
        assert_int_equal(cond_parse(bad[i].text, &c, err, sizeof(err)), -EINVAL);
        assert_null(c);
        if (strstr(err, bad[i].reason) == NULL) {
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].text, err, bad[i].reason);
        }
    }
    char *huge = malloc(5000);
    memset(huge, '[', 4999);
    huge[4999] = '\0';
    struct cond *c = NULL;
    char err[256];
    assert_int_equal(cond_parse(huge, &c, err, sizeof(err)), -EINVAL);
    free(huge);
}

/* Every condition is evaluated, failed or not, and after a failed
 * connection too. */
static void all_conditions_evaluated(void **state)
{
    static const char *const texts[] = {
        "[CONNECTED] == true", "[STATUS] == 200", "[RESPONSE_TIME] < 500",
        "[CERTIFICATE_EXPIRATION] == 0",
    };
    enum { N = ARRAY_SIZE(texts) };
    struct cond *conds[N];
    char err[256];
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(cond_parse(texts[i], &conds[i], err, sizeof(err)), 0);
    }
    struct cond_facts f;
    cond_facts_init(&f);
    f.connected = 0;
    f.response_time_ms = 12;
    struct cond_result r[N];
    assert_int_equal(cond_eval_all(conds, N, &f, r), 2);
    assert_false(r[0].success);
    assert_string_equal(r[0].text, "[CONNECTED] (false) == true");
    assert_false(r[1].success);
    assert_string_equal(r[1].text, "[STATUS] (0) == 200");
    assert_true(r[2].success);
    assert_string_equal(r[2].text, "[RESPONSE_TIME] < 500");
    assert_true(r[3].success);
    for (size_t i = 0; i < N; i++) {
        cond_destroy(conds[i]);
    }
}

static void hostile_bodies(void **state)
{
    struct cond_facts f;
    cond_facts_init(&f);
    char why[COND_RESULT_TEXT_MAX];
    struct cond *c;
    char err[256];
    /* NUL bytes, 10,000 levels of nesting, control characters. */
    static const char nul[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(cond_parse("[BODY].a == x", &c, err, sizeof(err)), 0);
    f.body = nul;
    f.body_len = sizeof(nul) - 1;
    assert_false(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
    size_t n = 20000;
    char *deep = malloc(n);
    for (size_t i = 0; i < n; i++) {
        deep[i] = i < n / 2 ? '[' : ']';
    }
    f.body = deep;
    f.body_len = n;
    assert_int_equal(cond_parse("[BODY][0] == 1", &c, err, sizeof(err)), 0);
    assert_false(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
    assert_int_equal(cond_parse("len([BODY]) > 1", &c, err, sizeof(err)), 0);
    assert_true(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
    free(deep);
    f.body = "\x01\x02\x1b[2J";
    f.body_len = 7;
    assert_int_equal(cond_parse("[BODY] == ok", &c, err, sizeof(err)), 0);
    assert_false(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
    for (const char *p = why; *p != '\0'; p++) {
        assert_true((unsigned char)*p >= 0x20);
    }
    /* A pattern of stars against a long body finishes. */
    size_t big = 1 << 20;
    char *body = malloc(big);
    memset(body, 'a', big);
    f.body = body;
    f.body_len = big;
    assert_int_equal(cond_parse("[BODY] == pat(*a*a*a*a*b*)", &c, err, sizeof(err)), 0);
    assert_false(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
    free(body);
    /* Random conditions never crash the parser or the evaluation. */
    unsigned seed = 42;
    for (int i = 0; i < 20000; i++) {
        char t[24];
        for (size_t j = 0; j < sizeof(t) - 1; j++) {
            seed = seed * 1103515245 + 12345;
            static const char alphabet[] = "[]().\"=!<> BODYSTAUpat,lenhas0123456789*";
            t[j] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        t[sizeof(t) - 1] = '\0';
        if (cond_parse(t, &c, err, sizeof(err)) == 0) {
            f.body = "{\"a\":[1,{\"b\":2}]}";
            f.body_len = strlen(f.body);
            cond_eval(c, &f, why, sizeof(why));
            cond_destroy(c);
        }
    }
}

static void text_kept(void **state)
{
    struct cond *c;
    char err[64];
    assert_int_equal(cond_parse("[STATUS] == 200", &c, err, sizeof(err)), 0);
    assert_string_equal(cond_text(c), "[STATUS] == 200");
    cond_destroy(c);
    cond_destroy(NULL);
}

/* A type's own placeholders: bound to its table, compared as floating
 * point, shown with their values, unknown ones failing as "(n/a)". */
static const struct cond_var vars[] = {
    {"[LOAD1]", COND_VAR_NUMBER, ""},
    {"[AGE]", COND_VAR_MS, "ms"},
    {"[EXISTS]", COND_VAR_BOOL, ""},
};

/* Parse text open, bind it to vars, evaluate it against f. */
static bool eval_var(const char *text, const struct cond_facts *f, char *why, size_t n)
{
    struct cond *c;
    char err[128];
    assert_int_equal(cond_parse_open(text, &c, err, sizeof(err)), 0);
    assert_int_equal(cond_bind(c, vars, ARRAY_SIZE(vars), err, sizeof(err)), 0);
    bool ok = cond_eval(c, f, why, n);
    cond_destroy(c);
    return ok;
}

static void type_placeholders(void **state)
{
    (void)state;
    struct cond_facts f;
    cond_facts_init(&f);
    f.vars[0] = 0.42;
    f.vars[1] = 25.0 * 3600 * 1000;
    f.vars[2] = 1;
    char why[COND_RESULT_TEXT_MAX];
    assert_true(eval_var("[LOAD1] < 0.5", &f, why, sizeof(why)));
    assert_false(eval_var("[LOAD1] > 0.42", &f, why, sizeof(why)));
    assert_string_equal(why, "[LOAD1] (0.42) > 0.42");
    assert_true(eval_var("[load1] >= 0.42", &f, why, sizeof(why)));
    assert_true(eval_var("[AGE] > 24h", &f, why, sizeof(why)));
    assert_false(eval_var("[AGE] < 24h", &f, why, sizeof(why)));
    assert_string_equal(why, "[AGE] (25h) < 24h");
    assert_true(eval_var("[EXISTS] == true", &f, why, sizeof(why)));
    f.vars[2] = 0;
    assert_false(eval_var("[EXISTS] == true", &f, why, sizeof(why)));
    assert_string_equal(why, "[EXISTS] (false) == true");
    f.vars[1] = -1e300;             /* no int64_t holds it: shown clamped */
    assert_false(eval_var("[AGE] > 24h", &f, why, sizeof(why)));
    f.vars[1] = NAN;
    assert_false(eval_var("[AGE] < 24h", &f, why, sizeof(why)));
    assert_string_equal(why, "[AGE] (n/a) < 24h");
    /* == and != with a number compare numbers, whatever the text. */
    f.vars[0] = 1.3;
    assert_true(eval_var("[LOAD1] == 1.3", &f, why, sizeof(why)));
    assert_true(eval_var("1.30 == [LOAD1]", &f, why, sizeof(why)));
    assert_false(eval_var("[LOAD1] != 1.3", &f, why, sizeof(why)));
    assert_false(eval_var("[LOAD1] == 1.2", &f, why, sizeof(why)));
    assert_string_equal(why, "[LOAD1] (1.30) == 1.2");
    assert_false(eval_var("[LOAD1] == high", &f, why, sizeof(why)));

    /* Unknown names wait for the binding, which refuses them; cond_parse
     * refuses them at once, as before. */
    struct cond *c;
    char err[128];
    assert_int_equal(cond_parse_open("[LOAD2] < 1", &c, err, sizeof(err)), 0);
    assert_int_equal(cond_bind(c, vars, ARRAY_SIZE(vars), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "unknown placeholder [LOAD2]");
    cond_destroy(c);
    assert_int_equal(cond_parse("[LOAD1] < 1", &c, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "unknown placeholder [LOAD1]");
    /* Gatus's placeholders bind to any table and keep integer comparisons. */
    assert_int_equal(cond_parse_open("[STATUS] < 1.5", &c, err, sizeof(err)), 0);
    assert_int_equal(cond_bind(c, NULL, 0, err, sizeof(err)), 0);
    cond_facts_init(&f);
    f.status = 1;
    assert_false(cond_eval(c, &f, why, sizeof(why)));
    cond_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gatus_evaluate),
        cmocka_unit_test(gatus_validate),
        cmocka_unit_test(beyond_gatus_tests),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(all_conditions_evaluated),
        cmocka_unit_test(hostile_bodies),
        cmocka_unit_test(text_kept),
        cmocka_unit_test(type_placeholders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
