/* config_fixtures.h - what the configuration tests share (test_config.c,
 * test_config_keys.c, test_config_hostile.c): loading a text under the
 * name NAME and expecting it to load or to fail with given messages. A
 * config returned belongs to the test (config_free); a failed expectation
 * fails the running test. */
#ifndef SHIPWATCH_CONFIG_FIXTURES_H
#define SHIPWATCH_CONFIG_FIXTURES_H

#include <stdbool.h>

#include "config.h"

#define NAME "t.yml"

/* Load text (e zeroed first); returns config_load_buffer's rc. */
int load(const char *text, struct config **c, struct config_errors *e);

/* Load text that must be valid; fails the test with every message if not. */
struct config *load_ok(const char *text);

/* Load text that must fail with exactly the messages given, each with its
 * "t.yml:LINE:COL: " position (NULL ended). */
void load_bad(const char *text, ...);

/* Load text that must fail with exactly one message, want, compared
 * without its position. */
void load_bad_text(const char *text, const char *want);

/* Load text that must fail; e holds the messages for custom checks. */
void load_fail(const char *text, struct config_errors *e);

/* True when some message of e contains needle. */
bool any_contains(const struct config_errors *e, const char *needle);

#endif
