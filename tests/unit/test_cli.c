/* test_cli.c - what the CLI prints: tables that never cut a cell silently,
 * --wide, errors as JSON under --json. */
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "out.h"
#include "topics.h"
#include "when.h"

#define ELLIPSIS "\xe2\x80\xa6"

/* What f holds, from its start; allocated. f is closed. */
static char *slurp(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* The table t printed at tw columns; allocated. */
static char *render(const struct table *t, size_t tw)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    table_fprint(t, f, tw);
    return slurp(f);
}

/* Columns of a UTF-8 line of single-width characters. */
static size_t columns(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        w += ((unsigned char)s[i] & 0xc0) != 0x80;
    }
    return w;
}

/* How many times needle occurs in s. */
static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Three rows, one with a long last cell. */
static void sample(struct table *t)
{
    table_init(t, 3);
    table_row(t, "NAME", "STATE", "PROBLEM");
    table_row(t, "web", "down", "[STATUS] == 200 failed: got 503 from the load balancer");
    table_row(t, "a-rather-long-check-name", "up", NULL);
}

static void test_fits_untouched(void **state)
{
    struct table t;
    sample(&t);
    char *wide = render(&t, 0);
    char *fit = render(&t, 200);
    assert_string_equal(wide, fit);
    assert_null(strstr(wide, ELLIPSIS));
    assert_non_null(strstr(wide, "got 503 from the load balancer\n"));
    assert_non_null(strstr(wide, "a-rather-long-check-name  up     -\n"));
    free(wide);
    free(fit);
    table_finish(&t);
}

static void test_cut_is_marked(void **state)
{
    struct table t;
    sample(&t);
    char *out = render(&t, 40);
    /* Every line within 40 columns; the long cells end in the mark. */
    size_t lines = 0;
    for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1, lines++) {
        assert_true(columns(p, (size_t)(nl - p)) <= 40);
    }
    assert_int_equal(lines, 3);
    /* The widest columns gave way: the problem and the long name. */
    assert_non_null(strstr(out, "web "));
    assert_non_null(strstr(out, "[STATUS] =="));
    assert_non_null(strstr(out, "a-rather"));
    assert_non_null(strstr(out, ELLIPSIS "\n"));
    assert_int_equal(count(out, ELLIPSIS), 2);
    assert_null(strstr(out, "load balancer"));
    free(out);
    table_finish(&t);
}

static void test_narrow_keeps_a_mark_per_cell(void **state)
{
    struct table t;
    table_init(&t, 2);
    table_row(&t, "abcdefgh", "ijklmnop");
    char *out = render(&t, 10);
    /* Both cut, both marked: "abc…  ijk…"-like, never a bare cut. */
    assert_int_equal(count(out, ELLIPSIS), 2);
    assert_int_equal(strncmp(out, "abc", 3), 0);
    free(out);
    table_finish(&t);
}

/* What out_error_flush printed on stdout, with json; allocated. */
static char *flushed(bool json, const char *code)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), STDOUT_FILENO);
    out_error_json(json);
    out_err("shipwatch: checks.list: state: %s is not a state\n", "bogus");
    out_err("usage: a second line that is not kept\n");
    out_error_flush(code);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    out_error_json(false);
    return slurp(tmp);
}

static void test_json_error(void **state)
{
    char *out = flushed(true, "invalid_params");
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "invalid_params");
    assert_string_equal(json_string_value(
                            json_object_get(json_object_get(j, "error"), "message")),
                        "shipwatch: checks.list: state: bogus is not a state");
    /* One line. */
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
    json_decref(j);
    free(out);
}

static void test_text_error_not_on_stdout(void **state)
{
    /* Without --json the message went to stderr at once: nothing to flush. */
    char *out = flushed(false, "usage");
    assert_string_equal(out, "");
    free(out);
}

static void test_when(void **state)
{
    int64_t ms = 0;
    assert_int_equal(when_parse("+30m", 1000, &ms), 0);
    assert_int_equal(ms, 1000 + 30 * 60 * 1000);
    assert_int_equal(when_parse("2026-11-23T14:30Z", 0, &ms), 0);
    assert_int_equal(ms, 1795444200000LL);
    assert_int_equal(when_parse("tomorrow", 0, &ms), -1);
}

/* events --topics: the replay before the stream keeps to the topics the
 * stream brings; pauses and reloads are the log's. */
static void test_topics(void **state)
{
    char bad[16] = "";
    unsigned results = topics_mask("results", bad, sizeof(bad));
    assert_int_not_equal(results, 0);
    const char *log_types[] = {"state", "deploy", "deploy.verdict", "alert", "alert.mute",
                               "pause", "resume", "reload", "daemon"};
    for (size_t i = 0; i < sizeof(log_types) / sizeof(log_types[0]); i++) {
        assert_false(topics_want(results, log_types[i]));
    }
    unsigned states_log = topics_mask("states,log", bad, sizeof(bad));
    assert_true(topics_want(states_log, "state"));
    assert_true(topics_want(states_log, "pause"));
    assert_true(topics_want(states_log, "reload"));
    assert_false(topics_want(states_log, "deploy.verdict"));
    assert_false(topics_want(states_log, "alert.mute"));
    /* "statesman" is no state event: the type is matched whole. */
    assert_true(topics_want(states_log, "statesman"));
    assert_false(topics_want(topics_mask("states", bad, sizeof(bad)), "statesman"));
    assert_true(topics_want(topics_mask("deploys,alerts", bad, sizeof(bad)), "deploy.verdict"));
    assert_int_equal(topics_mask("states,bogus", bad, sizeof(bad)), 0);
    assert_string_equal(bad, "bogus");
    assert_int_equal(topics_mask("states,", bad, sizeof(bad)), 0);
    assert_string_equal(bad, "");
}

int main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        setlocale(LC_ALL, "en_US.UTF-8");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_untouched),
        cmocka_unit_test(test_cut_is_marked),
        cmocka_unit_test(test_narrow_keeps_a_mark_per_cell),
        cmocka_unit_test(test_json_error),
        cmocka_unit_test(test_text_error_not_on_stdout),
        cmocka_unit_test(test_when),
        cmocka_unit_test(test_topics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
