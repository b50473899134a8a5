/* test_cond.c - conditions: parsing, evaluation, the why text, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "util.h"

static const char json[] = "{\"status\":\"UP\",\"version\":\"1.2.3\",\"count\":7,"
                           "\"data\":[{\"id\":1},{\"id\":2}],\"ok\":true,\"none\":null}";

/* Evaluate text against f; asserts it parses. why gets the reason. */
static bool eval(const char *text, const struct cond_facts *f, char *why)
{
    struct cond *c;
    char err[256];
    int rc = cond_parse(text, &c, err, sizeof(err));
    if (rc != 0) {
        fail_msg("parse \"%s\": %s", text, err);
    }
    why[0] = '\0';
    bool ok = cond_eval(c, f, why, 256);
    cond_free(c);
    return ok;
}

static struct cond_facts http_facts(void)
{
    struct cond_facts f;
    cond_facts_init(&f);
    f.status = 200;
    f.response_time_ms = 120;
    f.body = json;
    f.body_len = strlen(json);
    f.connected = 1;
    f.cert_expiry_ms = 72LL * 3600 * 1000;
    f.deploy_version = "1.2.3";
    return f;
}

static void placeholders_and_operators(void **state)
{
    struct cond_facts f = http_facts();
    char why[256];
    assert_true(eval("[STATUS] == 200", &f, why));
    assert_true(eval("[STATUS]==200", &f, why));
    assert_false(eval("[STATUS] != 200", &f, why));
    assert_true(eval("[STATUS] < 300", &f, why));
    assert_true(eval("[STATUS] <= 200", &f, why));
    assert_true(eval("[STATUS] >= 200", &f, why));
    assert_false(eval("[STATUS] > 200", &f, why));
    assert_true(eval("[RESPONSE_TIME] < 500", &f, why));
    assert_false(eval("[RESPONSE_TIME] < 100", &f, why));
    assert_string_equal(why, "[RESPONSE_TIME] (120) < 100");
    assert_true(eval("[CONNECTED] == true", &f, why));
    assert_true(eval("[CERTIFICATE_EXPIRATION] > 48h", &f, why));
    assert_false(eval("[CERTIFICATE_EXPIRATION] > 168h", &f, why));
    assert_string_equal(why, "[CERTIFICATE_EXPIRATION] (3d) > 168h");
    assert_true(eval("[DEPLOY].version == 1.2.3", &f, why));
    assert_true(eval("[BODY].version == [DEPLOY].version", &f, why));
    /* Placeholders on both sides: the why shows both values. */
    f.deploy_version = "1.2.4";
    assert_false(eval("[BODY].version == [DEPLOY].version", &f, why));
    assert_string_equal(why, "[BODY].version (1.2.3) == [DEPLOY].version (1.2.4)");
    f.deploy_version = NULL;
    assert_false(eval("[BODY].version == [DEPLOY].version", &f, why));
    assert_string_equal(why, "[BODY].version (1.2.3) == [DEPLOY].version (n/a)");
}

static void body_and_json_paths(void **state)
{
    struct cond_facts f = http_facts();
    char why[256];
    assert_true(eval("[BODY].status == UP", &f, why));
    assert_true(eval("[BODY].status == \"UP\"", &f, why));
    assert_false(eval("[BODY].status == DOWN", &f, why));
    assert_string_equal(why, "[BODY].status (UP) == DOWN");
    assert_true(eval("[BODY].count > 5", &f, why));
    assert_true(eval("[BODY].data[1].id == 2", &f, why));
    assert_true(eval("len([BODY].data) == 2", &f, why));
    assert_true(eval("[BODY].ok == true", &f, why));
    assert_true(eval("[BODY].none == null", &f, why));
    assert_false(eval("[BODY].missing == x", &f, why));
    assert_string_equal(why, "[BODY].missing (n/a) == x");
    assert_false(eval("[BODY].data[9].id == 1", &f, why));
    assert_true(eval("[BODY] == pat(*\"UP\"*)", &f, why));
    assert_true(eval("[BODY] != pat(*DOWN*)", &f, why));
    assert_true(eval("[BODY].version == pat(1.?.*)", &f, why));
    assert_true(eval("[STATUS] == any(200, 201, 204)", &f, why));
    assert_false(eval("[STATUS] == any(500, 503)", &f, why));
    assert_true(eval("len([BODY]) > 10", &f, why));
}

static void unknown_facts_fail(void **state)
{
    struct cond_facts f;
    cond_facts_init(&f);
    char why[256];
    assert_false(eval("[STATUS] == 200", &f, why));
    assert_string_equal(why, "[STATUS] (n/a) == 200");
    assert_false(eval("[BODY].a == 1", &f, why));
    assert_false(eval("[CONNECTED] == true", &f, why));
    assert_false(eval("[CERTIFICATE_EXPIRATION] > 1h", &f, why));
    assert_false(eval("[DEPLOY].version == x", &f, why));
}

static void hostile_bodies(void **state)
{
    struct cond_facts f = http_facts();
    char why[256];
    /* Not JSON, NUL bytes, and 10,000 levels of nesting. */
    static const char nul[] = "{\"a\":\"x\0y\"}";
    f.body = nul;
    f.body_len = sizeof(nul) - 1;
    assert_false(eval("[BODY].a == x", &f, why));
    f.body = "<html>";
    f.body_len = 6;
    assert_false(eval("[BODY].a == 1", &f, why));
    size_t n = 20000;
    char *deep = malloc(n);
    for (size_t i = 0; i < n; i++) {
        deep[i] = i < n / 2 ? '[' : ']';
    }
    f.body = deep;
    f.body_len = n;
    assert_false(eval("[BODY][0] == 1", &f, why));
    free(deep);
    /* Control characters never reach why. */
    f.body = "\x01\x02\x1b[2J";
    f.body_len = 7;
    assert_false(eval("[BODY] == ok", &f, why));
    for (const char *p = why; *p != '\0'; p++) {
        assert_true((unsigned char)*p >= 0x20);
    }
}

static void parse_errors(void **state)
{
    static const struct {
        const char *text;
        const char *reason;
    } bad[] = {
        {"[STATUS] 200", "missing operator"},
        {"[STAUS] == 200", "unknown placeholder [STAUS]"},
        {"== 200", "empty left side"},
        {"[STATUS] ==", "empty right side"},
        {"[STATUS == 200", "unbalanced"},
        {"pat(*x*) == [BODY]", "belongs on the right"},
        {"[BODY] < pat(*x*)", "pat() works with == and != only"},
        {"[BODY].a..b == 1", "bad JSON path"},
        {"[BODY][x] == 1", "bad JSON path"},
        {"200 == [STATUS]", "left side must be a placeholder"},
        {"len(200) == 3", "len() takes a placeholder"},
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
    /* Random bytes never crash the parser. */
    unsigned seed = 42;
    for (int i = 0; i < 20000; i++) {
        char t[24];
        for (size_t j = 0; j < sizeof(t) - 1; j++) {
            seed = seed * 1103515245 + 12345;
            static const char alphabet[] = "[]().\"=!<> BODYSTAUpat,len0123456789*";
            t[j] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        t[sizeof(t) - 1] = '\0';
        if (cond_parse(t, &c, err, sizeof(err)) == 0) {
            struct cond_facts f = http_facts();
            char why[256];
            cond_eval(c, &f, why, sizeof(why));
            cond_free(c);
        }
    }
}

static void text_kept(void **state)
{
    struct cond *c;
    char err[64];
    assert_int_equal(cond_parse("[STATUS] == 200", &c, err, sizeof(err)), 0);
    assert_string_equal(cond_text(c), "[STATUS] == 200");
    cond_free(c);
    cond_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholders_and_operators),
        cmocka_unit_test(body_and_json_paths),
        cmocka_unit_test(unknown_facts_fail),
        cmocka_unit_test(hostile_bodies),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(text_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
