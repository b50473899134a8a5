/* config_fixtures.c - loading configuration texts for the tests, and
 * comparing what they report. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fixtures.h"

/* Load text; returns the rc. */
int load(const char *text, struct config **c, struct config_errors *e)
{
    memset(e, 0, sizeof(*e));
    return config_load_buffer(NAME, text, strlen(text), c, e);
}

/* Load text that must be valid; fails the test with every message if not. */
struct config *load_ok(const char *text)
{
    struct config *c = (struct config *)0x1;
    struct config_errors e;
    int rc = load(text, &c, &e);
    if (rc != 0) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("  %s\n", e.msgs[i]);
        }
        config_errors_finish(&e);
        fail_msg("expected a valid configuration, got %d", rc);
    }
    assert_int_equal(e.n, 0);
    assert_non_null(c);
    return c;
}

/* Load text that must fail with exactly the messages given (NULL ended). */
void load_bad(const char *text, ...)
{
    struct config *c = (struct config *)0x1;
    struct config_errors e;
    int rc = load(text, &c, &e);
    assert_int_equal(rc, -EINVAL);
    assert_null(c);
    va_list ap;
    va_start(ap, text);
    size_t i = 0;
    bool ok = true;
    for (const char *want = va_arg(ap, const char *); want != NULL;
         want = va_arg(ap, const char *), i++) {
        if (i >= e.n || strcmp(e.msgs[i], want) != 0) {
            print_error("message %zu: want \"%s\"\n", i, want);
            ok = false;
        }
    }
    va_end(ap);
    if (!ok || i != e.n) {
        for (size_t j = 0; j < e.n; j++) {
            print_error("  got %zu: \"%s\"\n", j, e.msgs[j]);
        }
        config_errors_finish(&e);
        fail_msg("%zu messages expected, %zu got", i, e.n);
    }
    config_errors_finish(&e);
}

/* Load text that must fail; returns the messages for custom checks. */
void load_fail(const char *text, struct config_errors *e)
{
    struct config *c = (struct config *)0x1;
    int rc = load(text, &c, e);
    assert_int_equal(rc, -EINVAL);
    assert_null(c);
    assert_true(e->n >= 1);
}

/* True when some message contains needle. */
bool any_contains(const struct config_errors *e, const char *needle)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strstr(e->msgs[i], needle) != NULL) {
            return true;
        }
    }
    return false;
}

/* The message m without its "FILE:LINE:COL: " prefix. */
static const char *text_of(const char *m)
{
    const char *p = m;
    for (int colons = 0; *p != '\0' && colons < 3; p++) {
        colons += *p == ':';
    }
    return *p == ' ' ? p + 1 : m;
}

/* Load text that must fail with exactly one message, want, compared
 * without its position. */
void load_bad_text(const char *text, const char *want)
{
    struct config *c = (struct config *)0x1;
    struct config_errors e;
    assert_int_equal(load(text, &c, &e), -EINVAL);
    assert_null(c);
    if (e.n != 1 || strncmp(e.msgs[0], NAME ":", strlen(NAME ":")) != 0 ||
        strcmp(text_of(e.msgs[0]), want) != 0) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("  got %zu: \"%s\"\n", i, e.msgs[i]);
        }
        config_errors_finish(&e);
        fail_msg("want exactly \"%s\"", want);
    }
    config_errors_finish(&e);
}
