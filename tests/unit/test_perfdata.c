/* test_perfdata.c - plugin output taken apart: the guidelines' examples,
 * then malformed, oversized, truncated and hostile input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "perfdata.h"
#include "util.h"

/* Parse s (a C string) into a fresh struct. */
static void parse(struct perfdata *pd, const char *s)
{
    memset(pd, 0, sizeof(*pd));
    perfdata_parse(pd, s, strlen(s));
}

/* The item labelled label, which must exist. */
static const struct perfdata_item *item(const struct perfdata *pd, const char *label)
{
    const struct perfdata_item *it = perfdata_find(pd, label);
    if (it == NULL) {
        fail_msg("no item %s", label);
    }
    return it;
}

static void every_field(void **state)
{
    (void)state;
    struct perfdata pd;
    parse(&pd, "time=0.002047s;1.000000;2.000000;0.000000;10.000000");
    assert_int_equal(pd.n, 1);
    const struct perfdata_item *it = item(&pd, "time");
    assert_true(it->value == 0.002047);
    assert_string_equal(it->uom, "s");
    assert_string_equal(it->warn, "1.000000");
    assert_string_equal(it->crit, "2.000000");
    assert_int_equal(it->flags, PERFDATA_HAS_MIN | PERFDATA_HAS_MAX);
    assert_true(it->min == 0);
    assert_true(it->max == 10);
    assert_int_equal(pd.invalid, 0);
}

static void optional_fields_and_units(void **state)
{
    (void)state;
    struct perfdata pd;
    parse(&pd, "a=1 b=2%;;; c=-3.5KB;;;0; d=U;; e=1e3c;@10:20;~:5 f=.5 g=7MB;5;6;;");
    assert_int_equal(pd.n, 7);
    assert_int_equal(pd.invalid, 0);
    assert_true(item(&pd, "a")->value == 1);
    assert_int_equal(item(&pd, "a")->flags, 0);
    assert_string_equal(item(&pd, "b")->uom, "%");
    assert_true(item(&pd, "c")->value == -3.5);
    assert_int_equal(item(&pd, "c")->flags, PERFDATA_HAS_MIN);
    assert_int_equal(item(&pd, "d")->flags, PERFDATA_VALUE_UNKNOWN);
    assert_true(item(&pd, "e")->value == 1000);
    assert_string_equal(item(&pd, "e")->uom, "c");
    assert_string_equal(item(&pd, "e")->warn, "@10:20");
    assert_string_equal(item(&pd, "e")->crit, "~:5");
    assert_true(item(&pd, "f")->value == 0.5);
    assert_string_equal(item(&pd, "g")->crit, "6");
    assert_int_equal(item(&pd, "g")->flags, 0);
}

static void quoted_labels(void **state)
{
    (void)state;
    struct perfdata pd;
    parse(&pd, "'C:\\ Label'=5GB 'it''s'=1 '='=2 'a b c'=3;4 ''''=4");
    assert_int_equal(pd.n, 5);
    assert_true(item(&pd, "C:\\ Label")->value == 5);
    assert_true(item(&pd, "it's")->value == 1);
    assert_true(item(&pd, "=")->value == 2);
    assert_string_equal(item(&pd, "a b c")->warn, "4");
    assert_true(item(&pd, "'")->value == 4);
}

static void format_reads_back(void **state)
{
    (void)state;
    struct perfdata pd;
    parse(&pd, "'C:\\ Label'=5GB;1:2;@3:4;0;10 'it''s'=1 u=U;;;0 t=0.125s;;;;0.5 "
               "c=12345678901234c huge=1e300");
    assert_int_equal(pd.n, 6);
    char text[512];
    assert_int_equal(perfdata_format(&pd, text, sizeof(text)), 6);
    assert_string_equal(text, "'C:\\ Label'=5GB;1:2;@3:4;0;10 'it''s'=1 'u'=U;;;0 "
                              "'t'=0.125s;;;;0.5 'c'=12345678901234c 'huge'=1e+300");
    struct perfdata back;
    parse(&back, text);
    assert_int_equal(back.n, pd.n);
    for (size_t i = 0; i < pd.n; i++) {
        assert_string_equal(back.items[i].label, pd.items[i].label);
        assert_string_equal(back.items[i].uom, pd.items[i].uom);
        assert_string_equal(back.items[i].warn, pd.items[i].warn);
        assert_string_equal(back.items[i].crit, pd.items[i].crit);
        assert_true(back.items[i].value == pd.items[i].value);
        assert_int_equal(back.items[i].flags, pd.items[i].flags);
    }
}

/* Numbers come out as "%.15g" prints them, whichever way they are made:
 * integers (the fast path), fractions, -0, the edges of 1e15, huge and
 * tiny ones. */
static void format_numbers_as_printf(void **state)
{
    (void)state;
    static const double values[] = {
        0, -0.0, 1, -1, 7, 10, 99, 100, 1048576, -1048576, 4294967296.0, 45.5, -0.125,
        1e14, 999999999999999.0, 1e15, -999999999999999.0, -1e15, 123456789012345.0,
        1e16, 9007199254740993.0, 1e300, -1e-300, 5e-324, 0.1, 1.0 / 3, 2.5e-7,
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct perfdata pd;
        memset(&pd, 0, sizeof(pd));
        pd.n = 1;
        snprintf(pd.items[0].label, sizeof(pd.items[0].label), "v");
        pd.items[0].value = values[i];
        pd.items[0].min = -values[i];
        pd.items[0].max = values[i] * 2;
        pd.items[0].flags = PERFDATA_HAS_MIN | PERFDATA_HAS_MAX;
        char got[256], want[256];
        assert_int_equal(perfdata_format(&pd, got, sizeof(got)), 1);
        snprintf(want, sizeof(want), "'v'=%.15g;;;%.15g;%.15g", values[i], -values[i],
                 values[i] * 2);
        assert_string_equal(got, want);
    }
}

static void format_keeps_whole_items(void **state)
{
    (void)state;
    struct perfdata pd;
    parse(&pd, "a=1 bb=22 ccc=333");
    char text[20];
    /* "'a'=1 'bb'=22" is 13 bytes; "'ccc'=333" does not fit after it. */
    assert_int_equal(perfdata_format(&pd, text, sizeof(text)), 2);
    assert_string_equal(text, "'a'=1 'bb'=22");
    assert_int_equal(perfdata_format(&pd, text, 4), 0);
    assert_string_equal(text, "");
    memset(&pd, 0, sizeof(pd));
    assert_int_equal(perfdata_format(&pd, text, sizeof(text)), 0);
    assert_string_equal(text, "");
}

static void malformed_items_are_skipped(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a",            "=1",           "a=",           "a=abc",        "a=1;2;3;4;5;6",
        "a=1x2",        "a=1;1,5",      "a=1,5",        "'a=1",         "'a'b=1",
        "a'b=1",        "''=1",         "a=1e999",      "a=nan",        "a=inf",
        "a=0x10",       "a=1;;;x",      "a=1;;;;y",     "a=1;$;",       "a=1ABCDEFGH",
        "a=.",          "a=-",          "a=1e+",        "a=1;1;1;1e",   "a=1.2.3",
        "a=1;123456789012345678901234", "'a\tb'=1",     "a=UU",         "a=U5",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct perfdata pd;
        parse(&pd, bad[i]);
        if (pd.n != 0 || pd.invalid != 1) {
            fail_msg("'%s' gave %u items, %u invalid", bad[i], pd.n, pd.invalid);
        }
    }
    /* A bad item does not take its neighbours with it. */
    struct perfdata pd;
    parse(&pd, "ok1=1 broken=x 'unterminated=2 ok2=3");
    assert_int_equal(pd.n, 1);
    assert_non_null(perfdata_find(&pd, "ok1"));
    /* The unterminated quote swallows the rest of the line, never more. */
    assert_int_equal(pd.invalid, 2);
    parse(&pd, "ok1=1 broken=x ok2=3");
    assert_int_equal(pd.n, 2);
    assert_int_equal(pd.invalid, 1);
}

static void bounded_and_unique(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 40; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof(text) - used, "l%d=%d ", i, i);
    }
    struct perfdata pd;
    parse(&pd, text);
    assert_int_equal(pd.n, PERFDATA_MAX);
    assert_int_equal(pd.dropped, 40 - PERFDATA_MAX);
    assert_string_equal(pd.items[PERFDATA_MAX - 1].label, "l31");
    /* A repeated label keeps the first. */
    parse(&pd, "x=1 x=2 y=3");
    assert_int_equal(pd.n, 2);
    assert_true(item(&pd, "x")->value == 1);
    assert_int_equal(pd.dropped, 1);
    /* The longest label that fits, and one byte more. */
    char label[PERFDATA_LABEL_MAX + 8];
    memset(label, 'L', sizeof(label));
    snprintf(label + PERFDATA_LABEL_MAX - 1, 8, "=1");
    parse(&pd, label);
    assert_int_equal(pd.n, 1);
    assert_int_equal(strlen(pd.items[0].label), PERFDATA_LABEL_MAX - 1);
    memset(label, 'L', sizeof(label));
    snprintf(label + PERFDATA_LABEL_MAX, 8, "=1");
    parse(&pd, label);
    assert_int_equal(pd.n, 0);
    assert_int_equal(pd.invalid, 1);
}

static void counters_saturate(void **state)
{
    (void)state;
    size_t items = 70000;
    char *text = malloc(items * 2 + 1);
    assert_non_null(text);
    for (size_t i = 0; i < items; i++) {
        text[2 * i] = 'x';
        text[2 * i + 1] = ' ';
    }
    text[items * 2] = '\0';
    struct perfdata pd;
    parse(&pd, text);
    assert_int_equal(pd.n, 0);
    assert_int_equal(pd.invalid, UINT16_MAX);
    free(text);
}

static void truncated_input(void **state)
{
    (void)state;
    const char *full = "'my label'=12.5ms;10;20;0;100";
    /* Every prefix parses without reading past its end. */
    for (size_t len = 0; len <= strlen(full); len++) {
        struct perfdata pd;
        memset(&pd, 0, sizeof(pd));
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, full, len);
        perfdata_parse(&pd, copy, len);
        free(copy);
        assert_true(pd.n <= 1);
        if (pd.n == 1) {
            assert_string_equal(pd.items[0].label, "my label");
        }
    }
    struct perfdata pd;
    parse(&pd, "'my label'=12.5ms;10;2");
    assert_int_equal(pd.n, 1);
    assert_string_equal(pd.items[0].crit, "2");
}

static void hostile_bytes(void **state)
{
    (void)state;
    /* Embedded NULs, control bytes, high bytes: never kept in a label. */
    const char raw[] = "a\0b=1 \x01x=2 \xff\xfe=3 ok=4 \x7f=5";
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    perfdata_parse(&pd, raw, sizeof(raw) - 1);
    assert_non_null(perfdata_find(&pd, "ok"));
    assert_non_null(perfdata_find(&pd, "\xff\xfe"));    /* bytes, not controls */
    for (size_t i = 0; i < pd.n; i++) {
        for (const char *p = pd.items[i].label; *p != '\0'; p++) {
            assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        }
    }
    /* NULL and empty input. */
    memset(&pd, 0, sizeof(pd));
    perfdata_parse(&pd, NULL, 10);
    perfdata_parse(&pd, "", 0);
    perfdata_parse(&pd, "   \t\r\n ", 7);
    assert_int_equal(pd.n, 0);
    assert_int_equal(pd.invalid, 0);
}

/* Split out (a C string) with message and long output buffers of the sizes given. */
static void split(const char *out, char *msg, size_t msize, char *lng, size_t lsize,
                  struct perfdata *pd, struct perfdata_output *po)
{
    memset(pd, 0, sizeof(*pd));
    *po = (struct perfdata_output){
        .message = msg,
        .message_size = msize,
        .long_output = lng,
        .long_output_size = lsize,
    };
    perfdata_split_output(out, strlen(out), po, pd);
}

static void output_lines(void **state)
{
    (void)state;
    char msg[256];
    char lng[1024];
    struct perfdata pd;
    struct perfdata_output po;
    /* The guidelines' long-output example. */
    split("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
          "/ 15272 MB (77%);\n"
          "/boot 68 MB (69%);\n"
          "/home 69357 MB (27%);\n"
          "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
          "/home=69357MB;253404;253409;0;253414 \n"
          "/var/log=818MB;970;975;0;980\n",
          msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "DISK OK - free space: / 3326 MB (56%);");
    assert_string_equal(lng, "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n"
                             "/var/log 819 MB (84%);");
    assert_int_equal(pd.n, 4);
    assert_false(po.truncated);
    /* No perfdata, no long output; trailing blanks and CR trimmed. */
    split("OK - fine \r\n", msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "OK - fine");
    assert_string_equal(lng, "");
    assert_int_equal(pd.n, 0);
    /* Perfdata only on the first line; long output after. */
    split("OK|a=1\nmore\n\nlines\n", msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "OK");
    assert_string_equal(lng, "more\n\nlines");
    assert_int_equal(pd.n, 1);
    /* Control bytes in text become spaces. */
    split("A\tB\x1b[31mC", msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "A B [31mC");
    /* Empty and NULL output. */
    split("", msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "");
    po.long_output = NULL;
    perfdata_split_output(NULL, 5, &po, &pd);
    assert_string_equal(msg, "");
}

static void output_capped_on_utf8_boundaries(void **state)
{
    (void)state;
    char msg[8];
    char lng[8];
    struct perfdata pd;
    struct perfdata_output po;
    /* "OK é€" is 3 + 2 + 3 bytes: 7 bytes of room stop before the euro sign. */
    split("OK \xc3\xa9\xe2\x82\xac\nabcdef\xe2\x82\xac tail | z=9\n", msg, sizeof(msg), lng,
          sizeof(lng), &pd, &po);
    assert_string_equal(msg, "OK \xc3\xa9");
    assert_string_equal(lng, "abcdef");
    assert_true(po.truncated);
    /* Perfdata after the cut is still read. */
    assert_non_null(perfdata_find(&pd, "z"));
    /* A huge output stays within its buffers. */
    size_t big = 1 << 20;
    char *out = malloc(big + 1);
    assert_non_null(out);
    memset(out, 'x', big);
    out[100] = '\n';
    out[big] = '\0';
    split(out, msg, sizeof(msg), lng, sizeof(lng), &pd, &po);
    assert_string_equal(msg, "xxxxxxx");
    assert_string_equal(lng, "xxxxxxx");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field),
        cmocka_unit_test(optional_fields_and_units),
        cmocka_unit_test(quoted_labels),
        cmocka_unit_test(format_reads_back),
        cmocka_unit_test(format_numbers_as_printf),
        cmocka_unit_test(format_keeps_whole_items),
        cmocka_unit_test(malformed_items_are_skipped),
        cmocka_unit_test(bounded_and_unique),
        cmocka_unit_test(counters_saturate),
        cmocka_unit_test(truncated_input),
        cmocka_unit_test(hostile_bytes),
        cmocka_unit_test(output_lines),
        cmocka_unit_test(output_capped_on_utf8_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
