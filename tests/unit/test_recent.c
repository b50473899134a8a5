/* test_recent.c - the memory of recent delivery ids and signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "recent.h"

/* A key is new once, seen after, forgotten after its ttl. */
static void claims_once_within_ttl(void **state)
{
    (void)state;
    struct recent *r = recent_create(4, 1000, false);
    assert_non_null(r);
    assert_true(recent_claim(r, "a", 100, 100));
    assert_false(recent_claim(r, "a", 100, 200));
    assert_true(recent_seen(r, "a", 0, 1100));
    assert_false(recent_seen(r, "a", 0, 1101));
    assert_true(recent_claim(r, "a", 1101, 1101));
    recent_forget(r, "a");
    assert_true(recent_claim(r, "a", 1200, 1200));
    /* No key: never remembered, always new. */
    assert_true(recent_claim(r, "", 1200, 1200));
    assert_true(recent_claim(r, "", 1200, 1200));
    recent_destroy(r);
}

/* Full: the oldest goes; with a floor, it cannot come back within its ttl. */
static void full_ring_raises_the_floor(void **state)
{
    (void)state;
    struct recent *plain = recent_create(2, 1000, false);
    struct recent *floored = recent_create(2, 1000, true);
    const char *keys[] = {"k1", "k2", "k3"};
    for (int i = 0; i < 3; i++) {
        assert_true(recent_claim(plain, keys[i], 100 + i, 200));
        assert_true(recent_claim(floored, keys[i], 100 + i, 200));
    }
    /* k1 was forgotten to make room. */
    assert_true(recent_claim(plain, "k1", 100, 200));
    assert_false(recent_claim(floored, "k1", 100, 200));
    /* Anything stamped after the floor is still welcome. */
    assert_true(recent_claim(floored, "k4", 101, 200));
    recent_destroy(plain);
    recent_destroy(floored);
}

/* Long keys are compared by their first RECENT_KEY_MAX bytes. */
static void long_keys(void **state)
{
    (void)state;
    char a[300], b[300];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    snprintf(b, sizeof(b), "%s", a);
    b[200] = 'y';
    struct recent *r = recent_create(8, 1000, false);
    assert_true(recent_claim(r, a, 0, 0));
    assert_false(recent_claim(r, b, 0, 0));
    recent_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claims_once_within_ttl),
        cmocka_unit_test(full_ring_raises_the_floor),
        cmocka_unit_test(long_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
