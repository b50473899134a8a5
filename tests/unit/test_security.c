/* test_security.c - what a hostile local user or a shortage of the host's
 * own must not turn into: a check failed by our descriptor limit reported
 * as its target down, a secret in a read-only client's target, invalid
 * UTF-8 echoed, a directory somebody else controls, a message of a
 * million nils unpacked. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "check.h"
#include "config.h"
#include "fdres.h"
#include "harness.h"
#include "harness_checks.h"
#include "harness_httpd.h"
#include "ipc_wire.h"
#include "safedir.h"
#include "utf8.h"

#define T0_MS 1700000000000LL
#define DEADLINE_MS 5000
#define FILLER_MAX 4096

/* One test's world: the env, a configuration, its checks. */
struct fixture {
    struct harness_checks h;
    struct config *conf;
    struct check *checks[8];
    size_t nchecks;
};

/* Load yaml and create its checks. */
static void load(struct fixture *f, const char *yaml)
{
    f->conf = harness_config(yaml);
    assert_non_null(f->conf);
    assert_true(f->conf->nchecks <= 8);
    for (size_t i = 0; i < f->conf->nchecks; i++) {
        f->checks[i] = check_create(&f->conf->checks[i]);
        assert_non_null(f->checks[i]);
    }
    f->nchecks = f->conf->nchecks;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(harness_checks_init(&f->h, T0_MS), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(harness_checks_finish(&f->h), 0);
    for (size_t i = 0; i < f->nchecks; i++) {
        check_destroy(f->checks[i]);
    }
    config_destroy(f->conf);
    free(f);
    return 0;
}

/* The check named name. */
static struct check *check_named(struct fixture *f, const char *name)
{
    for (size_t i = 0; i < f->nchecks; i++) {
        if (strcmp(f->checks[i]->conf->name, name) == 0) {
            return f->checks[i];
        }
    }
    fail_msg("no check %s", name);
    return NULL;
}

/* Descriptors held to exhaust the limit, and the limit to restore. */
struct filler {
    int fds[FILLER_MAX];
    size_t n;
    struct rlimit saved;
};

/* Lower the soft descriptor limit and take every descriptor left. */
static void exhaust(struct filler *fl)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &fl->saved), 0);
    struct rlimit low = fl->saved;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    fl->n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            assert_int_equal(errno, EMFILE);
            break;
        }
        assert_true(fl->n < FILLER_MAX);
        fl->fds[fl->n++] = fd;
    }
}

/* Give the descriptors back and restore the limit. */
static void restore(struct filler *fl)
{
    for (size_t i = 0; i < fl->n; i++) {
        close(fl->fds[i]);
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &fl->saved), 0);
}

/* --- a shortage of our own is unknown, never the target down --- */

static void emfile_is_unknown_not_down(void **state)
{
    struct fixture *f = *state;
    struct harness_httpd *srv = harness_httpd_start(&f->h.loop, 200, "ok");
    assert_non_null(srv);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "checks:\n"
             "  - {name: port, type: tcp, host: 127.0.0.1, port: %d}\n"
             "  - {name: web, type: http, url: 'http://127.0.0.1:%d/'}\n"
             "  - {name: plugin, type: exec, command: [/bin/true]}\n",
             harness_httpd_port(srv), harness_httpd_port(srv));
    load(f, yaml);
    static const char *const names[] = {"port", "web", "plugin"};
    struct result got[3];
    struct filler fl;
    exhaust(&fl);
    for (size_t i = 0; i < 3; i++) {
        const struct result *r =
            harness_checks_run(&f->h, check_named(f, names[i]), DEADLINE_MS);
        assert_non_null(r);
        got[i] = *r;
    }
    restore(&fl);
    for (size_t i = 0; i < 3; i++) {
        if (got[i].outcome != STATE_UNKNOWN || strstr(got[i].error, "local: ") == NULL) {
            fail_msg("%s: outcome %d, error \"%s\"", names[i], (int)got[i].outcome,
                     got[i].error);
        }
    }
    assert_string_equal(got[0].error, "local: too many open files");
    harness_httpd_stop(srv);
}

static void local_reasons(void **state)
{
    (void)state;
    assert_string_equal(fdres_local_reason(-EMFILE), "local: too many open files");
    assert_non_null(fdres_local_reason(-ENFILE));
    assert_non_null(fdres_local_reason(-ENOMEM));
    assert_null(fdres_local_reason(-ECONNREFUSED));
    assert_null(fdres_local_reason(-ETIMEDOUT));
    assert_null(fdres_local_reason(0));
}

static void reserve_kept_below_the_limit(void **state)
{
    (void)state;
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = 1024;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_false(fdres_low(10));
    assert_false(fdres_low(1024 - FDRES_RESERVE - 1));
    assert_true(fdres_low(1024 - FDRES_RESERVE));
    assert_true(fdres_low(1023));
    low.rlim_cur = 100;     /* a small limit keeps a quarter */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_false(fdres_low(74));
    assert_true(fdres_low(75));
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* --- what a client that is not an admin sees of a target --- */

static void masked_target(void **state)
{
    struct fixture *f = *state;
    load(f, "checks:\n"
            "  - {name: web, type: http,\n"
            "     url: 'https://u:pw@api.example.com/health?api_key=s3cret#tok'}\n"
            "  - {name: frag, type: http, url: 'https://example.com/x#access_token=abc'}\n"
            "  - {name: plain, type: http, url: 'https://example.com/health'}\n"
            "  - {name: db, type: tcp, host: 10.0.0.5, port: 5432}\n"
            "  - {name: disk, type: exec, command: [/usr/lib/check_disk, --password, hunter2]}\n"
            "  - {name: bare, type: exec, command: [/usr/lib/check_load]}\n");
    static const struct {
        const char *check, *admin, *masked;
    } want[] = {
        {"web", "https://***@api.example.com/health?api_key=s3cret#tok",
         "https://***@api.example.com/health?***"},
        {"frag", "https://example.com/x#access_token=abc", "https://example.com/x#***"},
        {"plain", "https://example.com/health", "https://example.com/health"},
        {"db", "10.0.0.5:5432", "10.0.0.5:5432"},
        {"disk", "/usr/lib/check_disk --password hunter2", "/usr/lib/check_disk ***"},
        {"bare", "/usr/lib/check_load", "/usr/lib/check_load"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char out[256];
        const struct conf_check *cc = check_named(f, want[i].check)->conf;
        check_describe(cc, out, sizeof(out));
        assert_string_equal(out, want[i].admin);
        check_describe_masked(cc, out, sizeof(out));
        assert_string_equal(out, want[i].masked);
    }
    char small[24];
    check_describe_masked(check_named(f, "web")->conf, small, sizeof(small));
    assert_null(strstr(small, "s3cret"));
    assert_null(strchr(small, '?'));
}

/* --- UTF-8 is escaped, never echoed raw --- */

static void invalid_utf8_is_escaped(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(utf8_escape("caf\xc3\xa9", out, sizeof(out)), 5);
    assert_string_equal(out, "caf\xc3\xa9");
    utf8_escape("no check named a\xff\xfe" "b", out, sizeof(out));
    assert_string_equal(out, "no check named a\\xff\\xfeb");
    utf8_escape("cut \xe2\x80", out, sizeof(out));
    assert_string_equal(out, "cut \\xe2\\x80");
    assert_int_equal(utf8_valid_prefix(out, strlen(out)), strlen(out));
    /* Too small for a whole escape: left out, still terminated. */
    char tiny[6];
    utf8_escape("ab\xff\xff", tiny, sizeof(tiny));
    assert_string_equal(tiny, "ab");
    assert_int_equal(utf8_valid_prefix("ok\xc0\x80", 4), 2);
}

/* --- directories somebody else controls --- */

static void safe_directories(void **state)
{
    (void)state;
    char *base = harness_tmpdir("security-dirs");
    assert_non_null(base);
    char dir[512], err[512], link[512];
    snprintf(dir, sizeof(dir), "%s/own", base);
    assert_int_equal(safedir_make(dir, 0750, 0, err, sizeof(err)), 0);
    assert_int_equal(safedir_check(dir, err, sizeof(err)), 0);

    snprintf(dir, sizeof(dir), "%s/open", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 01777), 0);
    assert_int_equal(safedir_check(dir, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "writable by others"));

    snprintf(link, sizeof(link), "%s/link", base);
    snprintf(dir, sizeof(dir), "%s/own", base);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(safedir_check(link, err, sizeof(err)), -ELOOP);

    if (geteuid() == 0) {
        snprintf(dir, sizeof(dir), "%s/theirs", base);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(chown(dir, 65534, 65534), 0);
        assert_int_equal(safedir_make(dir, 0750, 0, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "belongs to uid 65534"));
    }
    char buf[64];
    assert_int_equal(safedir_of("/run/shipwatch/shipwatch.sock", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/run/shipwatch");
    assert_int_equal(safedir_of("/x.sock", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/");
    assert_int_equal(safedir_of("x.sock", buf, sizeof(buf)), 0);
    assert_string_equal(buf, ".");
    assert_int_equal(harness_tmpdir_remove(base), 0);
    free(base);
}

/* --- a message of a million nils --- */

/* [0, 1, "status.get", [[nil x per] x outer]] */
static void pack_nils(msgpack_sbuffer *sb, unsigned outer, unsigned per)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ipc_pack_request_head(&pk, 1, "status.get");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, outer);
    for (unsigned i = 0; i < outer; i++) {
        msgpack_pack_array(&pk, per);
        for (unsigned j = 0; j < per; j++) {
            msgpack_pack_nil(&pk);
        }
    }
}

static void million_nils_refused(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_nils(&sb, 100, 10000);
    assert_true(sb.size < ipc_limits_server.max_message);
    size_t len = 0;
    assert_int_equal(ipc_wire_scan((const unsigned char *)sb.data, sb.size, &ipc_limits_server,
                                   &len),
                     IPC_WIRE_OBJECTS);
    /* Fed a byte at a time, the count is not fooled by resuming. */
    struct ipc_reader rd;
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    msgpack_object *o;
    uint32_t msgid = 0;
    bool has = false;
    enum ipc_wire_err e = IPC_WIRE_MORE;
    for (size_t i = 0; i < sb.size && e == IPC_WIRE_MORE; i++) {
        assert_int_equal(ipc_reader_feed(&rd, sb.data + i, 1), 0);
        e = ipc_reader_next(&rd, &o, &msgid, &has);
    }
    assert_int_equal(e, IPC_WIRE_OBJECTS);
    assert_true(has);
    assert_int_equal(msgid, 1);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);

    /* Just under the bound, whole in one read: unpacked, then given back. */
    msgpack_sbuffer_init(&sb);
    pack_nils(&sb, 2, 9000);
    assert_int_equal(ipc_reader_init(&rd, &ipc_limits_server), 0);
    assert_int_equal(ipc_reader_feed(&rd, sb.data, sb.size), 0);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has), IPC_WIRE_OK);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has), IPC_WIRE_MORE);
    assert_true(ipc_reader_capacity(&rd) <= 16384);
    assert_null(rd.msg.zone);
    /* And the reader still works. */
    assert_int_equal(ipc_reader_feed(&rd, sb.data, sb.size), 0);
    assert_int_equal(ipc_reader_next(&rd, &o, &msgid, &has), IPC_WIRE_OK);
    ipc_reader_finish(&rd);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(emfile_is_unknown_not_down, setup, teardown),
        cmocka_unit_test(local_reasons),
        cmocka_unit_test(reserve_kept_below_the_limit),
        cmocka_unit_test_setup_teardown(masked_target, setup, teardown),
        cmocka_unit_test(invalid_utf8_is_escaped),
        cmocka_unit_test(safe_directories),
        cmocka_unit_test(million_nils_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
