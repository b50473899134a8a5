/* test_config.h - the configuration suite's shared helpers (test_config.c)
 * and the tests kept in test_config_errors.c, which test_config.c's main
 * runs.
 *
 * The helpers load text under the name NAME; a configuration from load_ok
 * belongs to the test (config_destroy), and so do the messages load_fail fills
 * (config_errors_finish). */
#ifndef SHIPWATCH_TEST_CONFIG_H
#define SHIPWATCH_TEST_CONFIG_H

#include <stdbool.h>

#include "config.h"

#define NAME "t.yml"

/* A check that is valid alone, for tests about something else. */
#define TCP_CHECK "checks:\n  - name: a\n    type: tcp\n    host: h\n    port: 1\n"

/* Load text that must be valid; fails the test with every message if not. */
struct config *load_ok(const char *text);

/* Load text that must fail with exactly the messages given (NULL ended). */
void load_bad(const char *text, ...);

/* Load text that must fail; fills e with the messages for custom checks. */
void load_fail(const char *text, struct config_errors *e);

/* True when some message contains needle. */
bool any_contains(const struct config_errors *e, const char *needle);

/* test_config_errors.c */
void test_unknown_keys(void **state);
void test_duplicate_keys(void **state);
void test_wrong_types(void **state);
void test_bad_values(void **state);
void test_required_keys(void **state);
void test_duplicate_names(void **state);
void test_bad_condition(void **state);
void test_alert_references(void **state);
void test_notifiers(void **state);
void test_alerting_keys(void **state);
void test_alerting_bad(void **state);
void test_scaling_keys(void **state);
void test_dependency_cycle(void **state);
void test_secrets_not_shown(void **state);
void test_headers(void **state);
void test_many_errors_sorted(void **state);
void test_yaml_syntax(void **state);

#endif
