/* test_github.c - GitHub deployment events read as deploys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "github.h"
#include "util.h"

#define DEPLOYMENT                                                                        \
    "\"deployment\": {\"id\": 145988746, \"sha\": \"f95f852bd8fca8fcc58a9a2d6c842781e32a215e\", " \
    "\"ref\": \"master\", \"payload\": {}, \"environment\": \"production\", "              \
    "\"creator\": {\"login\": \"Codertocat\"}}, "                                           \
    "\"repository\": {\"name\": \"Hello-World\", \"full_name\": \"Codertocat/Hello-World\"}"

/* Read event with body text; the document is kept in *doc. */
static int read_event(const char *event, const char *text, json_t **doc, struct github_event *ev,
                      char *why)
{
    *doc = json_loads(text, 0, NULL);
    assert_non_null(*doc);
    return github_event_read(event, *doc, ev, why, 256);
}

/* The deployment: started, the short sha as its version, the ref apart. */
static void deployment_is_started_with_short_sha(void **state)
{
    (void)state;
    json_t *doc;
    struct github_event ev;
    char why[256];
    assert_int_equal(read_event("deployment", "{" DEPLOYMENT "}", &doc, &ev, why), 0);
    assert_int_equal(ev.action, GITHUB_DEPLOY);
    assert_string_equal(ev.dep.status, "started");
    assert_string_equal(ev.dep.version, "f95f852");
    assert_string_equal(ev.dep.ref, "master");
    assert_string_equal(ev.dep.env, "production");
    assert_string_equal(ev.dep.ext_id, "github:145988746");
    assert_string_equal(ev.dep.author, "Codertocat");
    assert_string_equal(ev.repo_full, "Codertocat/Hello-World");
    json_decref(doc);
    /* A version in the payload wins. */
    assert_int_equal(read_event("deployment",
                                "{\"deployment\": {\"id\": 1, \"environment\": \"prod\", "
                                "\"payload\": {\"version\": \"2.0.1\"}}}",
                                &doc, &ev, why),
                     0);
    assert_string_equal(ev.dep.version, "2.0.1");
    json_decref(doc);
}

/* Every deployment_status state. */
static void every_state(void **state)
{
    (void)state;
    static const struct {
        const char *state, *status;
    } want[] = {
        {"pending", "started"},   {"queued", "started"},  {"in_progress", "started"},
        {"success", "succeeded"}, {"failure", "failed"},  {"error", "failed"},
        {"inactive", NULL},       {"something_new", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "{" DEPLOYMENT ", \"deployment_status\": {\"state\": \"%s\", "
                 "\"target_url\": \"\", \"log_url\": \"https://ci.example/1\"}}",
                 want[i].state);
        json_t *doc;
        struct github_event ev;
        char why[256];
        assert_int_equal(read_event("deployment_status", text, &doc, &ev, why), 0);
        if (want[i].status == NULL) {
            assert_int_equal(ev.action, GITHUB_IGNORE);
            assert_string_equal(ev.ignored, want[i].state);
        } else {
            assert_int_equal(ev.action, GITHUB_DEPLOY);
            assert_string_equal(ev.dep.status, want[i].status);
            assert_string_equal(ev.dep.url, "https://ci.example/1");
        }
        json_decref(doc);
    }
}

/* ping, events not handled, and what a deployment cannot do without. */
static void other_events_and_errors(void **state)
{
    (void)state;
    json_t *doc;
    struct github_event ev;
    char why[256];
    assert_int_equal(read_event("ping", "{\"zen\": \"Design for failure.\"}", &doc, &ev, why), 0);
    assert_int_equal(ev.action, GITHUB_PING);
    json_decref(doc);
    assert_int_equal(read_event("push", "{\"ref\": \"refs/heads/main\"}", &doc, &ev, why), 0);
    assert_int_equal(ev.action, GITHUB_IGNORE);
    assert_string_equal(ev.ignored, "push");
    json_decref(doc);
    const char *bad[] = {
        "{\"deployment\": {\"environment\": \"p\", \"sha\": \"abc\"}}",
        "{\"deployment\": {\"id\": 1, \"sha\": \"abc\"}}",
        "{\"deployment\": {\"id\": 1, \"environment\": \"p\"}}",
        "{\"deployment\": {\"id\": \"1\", \"environment\": \"p\", \"sha\": \"abc\"}}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(read_event("deployment", bad[i], &doc, &ev, why), -EINVAL);
        assert_non_null(strstr(why, "deployment.id"));
        json_decref(doc);
    }
    assert_int_equal(read_event("deployment_status", "{" DEPLOYMENT "}", &doc, &ev, why),
                     -EINVAL);
    assert_non_null(strstr(why, "state"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deployment_is_started_with_short_sha),
        cmocka_unit_test(every_state),
        cmocka_unit_test(other_events_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
