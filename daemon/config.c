/* config.c - the sections of the YAML configuration, as tables of rows.
 *
 * Every key is one row (config_rows.h): its type, limits, default and
 * whether it is required. This file holds the rows of every section (but
 * the keys of one check type or one notifier type, which live in that
 * type's file, check_<type>.c or notify_<type>.c, and are read through
 * check.c's and notify.c's tables), the hooks of the list sections for what
 * needs more than one key (quorum and locations, dependencies, unique
 * tokens, the notifiers and checks an alert names), and the check
 * fingerprint.
 *
 * The YAML tree, anchors and ${VAR} expansion are config_yaml.c's; the row
 * engine is config_rows.c's; the walk of list sections is config_list.c's;
 * the top level, the defaults from the environment and config_destroy() are
 * config_load.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "check.h"
#include "cluster.h"
#include "config.h"
#include "config_list.h"
#include "config_rows.h"
#include "config_sections.h"
#include "config_yaml.h"
#include "notify_class.h"
#include "hash.h"

#define CONFIG_MAX_CHECKS 100000
#define CONFIG_MAX_ITEMS 10000             /* apps, notifiers, alerts */

/* Free the messages in errs and zero it. */
void config_errors_finish(struct config_errors *errs)
{
    if (errs == NULL) {
        return;
    }
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->msgs[i]);
    }
    free(errs->msgs);
    errs->msgs = NULL;
    errs->n = 0;
}

/* Where Redis listens: redis://[:password@]host[:port][/db] or unix:///path. */
static const char *v_redis_url(const char *s)
{
    if (strncmp(s, "rediss://", 9) == 0) {
        return "TLS to Redis (rediss://) is not supported; use a local tunnel";
    }
    if (strncmp(s, "redis://", 8) != 0 && strncmp(s, "unix:///", 8) != 0) {
        return "expected redis://[:password@]host[:port][/db] or unix:///path";
    }
    const char *why = conf_valid_secret(s);
    if (why != NULL) {
        return why;
    }
    /* The daemon's own parser, so --check-config refuses what start would
     * (a bad port or db). The reason never holds the password. */
    static char reason[200];
    struct cluster_url u;
    return cluster_url_parse(s, &u, reason, sizeof(reason)) < 0 ? reason : NULL;
}

/* The cluster key: a token long enough not to be guessed. */
static const char *v_cluster_key(const char *s)
{
    const char *why = conf_valid_secret(s);
    if (why != NULL) {
        return why;
    }
    return strlen(s) < CONFIG_CLUSTER_KEY_MIN ? "too short: at least 16 characters" : NULL;
}

/* ------------------------------------------------------------- sections */

#define NFIELDS(t) CONF_NROWS(t)

#define CO(m) offsetof(struct config, m)

static const struct conf_field daemon_fields[] = {
    {.key = "socket", .type = CONF_STR, .off = CO(daemon.socket), .valid = conf_valid_socket},
    {.key = "http",
     .type = CONF_LIST,
     .off = CO(daemon.http),
     .off2 = CO(daemon.nhttp),
     .min = 1,
     .max = 16,
     .def_str = CONFIG_DEFAULT_HTTP,
     .valid = conf_valid_listen},
    {.key = "admins",
     .type = CONF_LIST,
     .off = CO(daemon.admins),
     .off2 = CO(daemon.nadmins),
     .min = 1,
     .max = 1000,
     .valid = conf_valid_name},
    {.key = "max-concurrency",
     .type = CONF_INT,
     .off = CO(daemon.max_concurrency),
     .min = 1,
     .max = 100000,
     .def = CONFIG_DEFAULT_MAX_CONCURRENCY},
    {.key = "drain-timeout",
     .type = CONF_DURATION,
     .off = CO(daemon.drain_timeout_ms),
     .max = CONF_SEC(3600),
     .def = CONFIG_DEFAULT_DRAIN_TIMEOUT_MS},
    {.key = "ipc-max-message",
     .type = CONF_SIZE,
     .off = CO(daemon.ipc_max_message),
     .min = CONF_KIB(4),
     .max = CONF_MIB(64),
     .def = CONFIG_DEFAULT_IPC_MAX_MESSAGE},
    {.key = "github-secret",
     .type = CONF_STR,
     .off = CO(daemon.github_secret),
     .valid = conf_valid_text},
    {.key = "deploy-token",
     .type = CONF_STR,
     .off = CO(daemon.deploy_token),
     .valid = conf_valid_secret},
    {.key = "deploy-secret",
     .type = CONF_STR,
     .off = CO(daemon.deploy_secret),
     .valid = conf_valid_secret},
    {.key = "auto-register-apps", .type = CONF_BOOL, .off = CO(daemon.auto_register_apps)},
    {.key = "ipc-max-queue",
     .type = CONF_SIZE,
     .off = CO(daemon.ipc_max_queue),
     .min = CONF_KIB(64),
     .max = CONF_MIB(256),
     .def = CONFIG_DEFAULT_IPC_MAX_QUEUE},
    /* at most the HTTP server's body limit, so a kept body is never a 413 */
    {.key = "ping-body-max",
     .type = CONF_SIZE,
     .off = CO(daemon.ping_body_max),
     .min = 1,
     .max = CONF_MIB(1),
     .def = CONFIG_DEFAULT_PING_BODY_MAX},
};

_Static_assert(CONFIG_DEFAULT_PING_BODY_MAX == CHECK_HB_BODY_MAX,
               "daemon.ping-body-max defaults to the heartbeat's body limit");

static const char *const drivers[] = {"sqlite", "postgres", NULL};

static const struct conf_field retention_fields[] = {
    {.key = "raw",
     .type = CONF_DURATION,
     .off = CO(storage.retention_raw_ms),
     .min = CONF_SEC(3600),
     .def = CONFIG_DEFAULT_RETENTION_RAW_MS},
    {.key = "rollups",
     .type = CONF_DURATION,
     .off = CO(storage.retention_rollups_ms),
     .min = CONF_SEC(3600),
     .def = CONFIG_DEFAULT_RETENTION_ROLLUPS_MS},
};

static const struct conf_field storage_fields[] = {
    [STORAGE_DRIVER] = {.key = "driver",
                        .type = CONF_ENUM,
                        .off = CO(storage.driver),
                        .choices = drivers,
                        .def_str = "sqlite"},
    [STORAGE_PATH] = {.key = "path",
                      .type = CONF_STR,
                      .off = CO(storage.path),
                      .valid = conf_valid_path},
    [STORAGE_DSN] = {.key = "dsn",
                     .type = CONF_STR,
                     .off = CO(storage.dsn),
                     .valid = conf_valid_text},
    [STORAGE_RETENTION] = {.key = "retention",
                           .type = CONF_MAP,
                           .sub = retention_fields,
                           .nsub = NFIELDS(retention_fields)},
    [STORAGE_SPOOL] = {.key = "spool",
                       .type = CONF_STR,
                       .off = CO(storage.spool),
                       .valid = conf_valid_path},
    {.key = "pool",
     .type = CONF_INT,
     .off = CO(storage.pool),
     .min = 1,
     .max = 64,
     .def = CONFIG_DEFAULT_STORE_POOL},
    {.key = "batch",
     .type = CONF_INT,
     .off = CO(storage.batch),
     .min = 1,
     .max = 100000,
     .def = CONFIG_DEFAULT_STORE_BATCH},
    {.key = "queue",
     .type = CONF_SIZE,
     .off = CO(storage.queue),
     .min = 1000,
     .max = 10000000,
     .def = CONFIG_DEFAULT_STORE_QUEUE},
    {.key = "spool-max",
     .type = CONF_SIZE,
     .off = CO(storage.spool_max_bytes),
     .min = CONF_MIB(1),
     .max = CONF_MIB(1024) * 1024,
     .def = CONFIG_DEFAULT_SPOOL_MAX_BYTES},
};

static const struct conf_field redis_fields[] = {
    /* first: finish_cluster reads its state */
    {.key = "url", .type = CONF_STR, .off = CO(redis.url), .valid = v_redis_url},
    {.key = "prefix",
     .type = CONF_STR,
     .off = CO(redis.prefix),
     .valid = conf_valid_name,
     .def_str = CONFIG_DEFAULT_REDIS_PREFIX},
    {.key = "key", .type = CONF_STR, .off = CO(redis.key), .valid = v_cluster_key},
    {.key = "insecure", .type = CONF_BOOL, .off = CO(redis.insecure)},
};

static const struct conf_field defaults_fields[] = {
    {.key = "interval",
     .type = CONF_DURATION,
     .off = CO(defaults.interval_ms),
     .min = 100,
     .def = CONFIG_DEFAULT_INTERVAL_MS},
    /* 0 until parsed: a check whose type has a default timeout of its own
     * takes that one unless the file sets this key; config_load.c then
     * stores CONFIG_DEFAULT_TIMEOUT_MS when it was absent. */
    {.key = "timeout", .type = CONF_DURATION, .off = CO(defaults.timeout_ms), .min = 1},
    {.key = "failure-threshold",
     .type = CONF_INT,
     .off = CO(defaults.failure_threshold),
     .min = 1,
     .max = 1000,
     .def = CONFIG_DEFAULT_FAILURE_THRESHOLD},
    {.key = "success-threshold",
     .type = CONF_INT,
     .off = CO(defaults.success_threshold),
     .min = 1,
     .max = 1000,
     .def = CONFIG_DEFAULT_SUCCESS_THRESHOLD},
};

#define AO(m) offsetof(struct conf_app, m)

static const struct conf_field verify_fields[] = {
    {.key = "window",
     .type = CONF_DURATION,
     .off = AO(verify_window_ms),
     .min = CONF_SEC(1),
     .def = CONFIG_DEFAULT_VERIFY_WINDOW_MS},
    {.key = "interval",
     .type = CONF_DURATION,
     .off = AO(verify_interval_ms),
     .min = 100,
     .def = CONFIG_DEFAULT_VERIFY_INTERVAL_MS},
    {.key = "start-timeout",
     .type = CONF_DURATION,
     .off = AO(verify_start_timeout_ms),
     .min = CONF_SEC(1),
     .def = CONFIG_DEFAULT_VERIFY_START_TIMEOUT_MS},
};

static const struct conf_field app_fields[] = {
    {.key = "name", .type = CONF_STR, .off = AO(name), .valid = conf_valid_name, .required = true},
    {.key = "deploy-token", .type = CONF_STR, .off = AO(deploy_token), .valid = conf_valid_secret},
    {.key = "deploy-secret",
     .type = CONF_STR,
     .off = AO(deploy_secret),
     .valid = conf_valid_secret},
    {.key = "github-repo", .type = CONF_STR, .off = AO(github_repo), .valid = conf_valid_secret},
    {.key = "verify", .type = CONF_MAP, .sub = verify_fields, .nsub = NFIELDS(verify_fields)},
};

#define KO(m) offsetof(struct conf_check, m)

/* Keys of the checks that are run (every type but the passive ones). */
static const struct conf_field probe_rows[] = {
    {.key = "timeout", .type = CONF_DURATION, .off = KO(timeout_ms), .min = 1},
    {.key = "conditions",
     .type = CONF_CONDS,
     .off = KO(conditions),
     .off2 = KO(nconditions),
     .off3 = KO(conds),
     .max = 100},
};

/* The check types are check.c's table: each one's file owns its rows
 * (check_<type>.c), whether it is passive and its default interval and
 * timeout. A new type is its file and its row there. */

/* The check type of kind i, NULL past the last. */
static const struct check_type *check_kind(size_t i)
{
    return check_type_for((enum check_kind)i);
}

/* The keys only checks of type t take; an empty set for none. */
static struct conf_rows kind_rows(const struct check_type *t)
{
    return t->rows != NULL ? *t->rows : (struct conf_rows){NULL, 0};
}

/* The i-th check type's name, NULL past the last. */
static const char *check_kind_name(size_t i)
{
    const struct check_type *t = check_kind(i);
    return t != NULL ? t->name : NULL;
}

/* A check's type: sets kind and type_name. */
static int p_type(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                  struct conf_mark at, const char *path, void *base)
{
    struct conf_check *k = base;
    char *s = NULL;
    int rc = conf_scalar(x, v, at, path, "a string", true, &s);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; check_kind(i) != NULL; i++) {
        if (strcmp(s, check_kind(i)->name) == 0) {
            k->kind = (enum check_kind)i;
            k->type_name = check_kind(i)->name;
            free(s);
            return 0;
        }
    }
    char q[300], list[256];
    conf_names_join(list, sizeof(list), check_kind_name);
    conf_report(x, at, "%s: unknown type %s (%s)", path, conf_quote(q, sizeof(q), s), list);
    free(s);
    return -1;
}

static const char *const check_locations[] = {"one", "all", NULL};

/* A check's locations: "one" (default) or "all". */
static int p_locations(struct conf_ctx *x, const struct conf_field *f, const struct ynode *v,
                       struct conf_mark at, const char *path, void *base)
{
    struct conf_field e = *f;
    char *choice = NULL;
    e.type = CONF_ENUM;
    e.parse = NULL;
    e.off = 0;
    int rc = conf_parse_value(x, &e, v, at, path, &choice);
    if (rc == 0) {
        ((struct conf_check *)base)->locations_all = strcmp(choice, "all") == 0;
    }
    free(choice);
    return rc;
}

/* Keys every check takes. */
static const struct conf_field check_fields[] = {
    {.key = "name", .type = CONF_STR, .off = KO(name), .valid = conf_valid_name, .required = true},
    {.key = "type", .type = CONF_INDEX, .parse = p_type, .off = KO(kind)},
    {.key = "interval", .type = CONF_DURATION, .off = KO(interval_ms), .min = 100},
    {.key = "failure-threshold",
     .type = CONF_INT,
     .off = KO(failure_threshold),
     .min = 1,
     .max = 1000},
    {.key = "success-threshold",
     .type = CONF_INT,
     .off = KO(success_threshold),
     .min = 1,
     .max = 1000},
    {.key = "depends-on",
     .type = CONF_LIST,
     .off = KO(depends_on),
     .off2 = KO(ndepends_on),
     .max = 100,
     .valid = conf_valid_name},
    {.key = "locations",
     .type = CONF_BOOL,
     .parse = p_locations,
     .off = KO(locations_all),
     .choices = check_locations},
    {.key = "quorum", .type = CONF_INT, .off = KO(quorum), .min = 1, .max = 64, .def = 1},
    {.key = "app", .type = CONF_STR, .off = KO(app), .valid = conf_valid_name},
    {.key = "env", .type = CONF_STR, .off = KO(env), .valid = conf_valid_name},
    {.key = "enabled", .type = CONF_NOTBOOL, .off = KO(paused)},
};

/* The sets of check rows: every check's, the probes', then one a type. */
enum { CHECK_SET_COMMON, CHECK_SET_PROBE, CHECK_SET_KIND0 };

#define NO(m) offsetof(struct conf_notifier, m)

/* The notifier types "type:" takes: NOTIFIER_TYPES (notify_class.h), the
 * one list of them; each class (notify_<type>.c) owns its keys. */
#define NOTIFIER_TYPE_NAME(name) #name,
static const char *const notifier_types[] = {NOTIFIER_TYPES(NOTIFIER_TYPE_NAME) NULL};
#undef NOTIFIER_TYPE_NAME

/* Keys every notifier takes. */
static const struct conf_field notifier_fields[] = {
    {.key = "name", .type = CONF_STR, .off = NO(name), .valid = conf_valid_name, .required = true},
    {.key = "type", .type = CONF_ENUM, .off = NO(type), .choices = notifier_types},
    /* Every type's but exec's; the scheme depends on the type. */
    {.key = "url", .type = CONF_STR, .off = NO(url), .valid = conf_valid_secret},
    {.key = "timeout",
     .type = CONF_DURATION,
     .off = NO(timeout_ms),
     .min = 100,
     .max = CONF_HOUR(1),
     .def = CONFIG_DEFAULT_NOTIFY_TIMEOUT_MS},
    {.key = "retry-initial",
     .type = CONF_DURATION,
     .off = NO(retry_initial_ms),
     .min = 10,
     .def = CONFIG_DEFAULT_RETRY_INITIAL_MS},
    {.key = "retry-max",
     .type = CONF_DURATION,
     .off = NO(retry_max_ms),
     .min = 10,
     .def = CONFIG_DEFAULT_RETRY_MAX_MS},
    {.key = "max-age",
     .type = CONF_DURATION,
     .off = NO(max_age_ms),
     .min = CONF_SEC(1),
     .def = CONFIG_DEFAULT_NOTIFY_MAX_AGE_MS},
};

/* What a notifier type's url is. */
enum notifier_url {
    NOTIFIER_URL_HTTP, /* http:// or https://, required */
    NOTIFIER_URL_SMTP, /* smtp:// or smtps://, required */
    NOTIFIER_URL_NONE, /* not a key of this type */
};

#define NTYPES (NFIELDS(notifier_types) - 1)

/* The class of the i-th notifier type (notify_<type>.c owns its keys and
 * says what its url is); NULL when it has none. */
static const struct notifier_class *notifier_type_class(size_t i)
{
    return notify_class_find(notifier_types[i]);
}

/* The keys only the i-th notifier type takes; an empty set for none. */
static struct conf_rows notifier_type_rows(size_t i)
{
    const struct notifier_class *cl = notifier_type_class(i);
    return cl != NULL && cl->rows != NULL ? *cl->rows : (struct conf_rows){NULL, 0};
}

/* What the i-th notifier type's url is. */
static enum notifier_url notifier_type_url(size_t i)
{
    const struct notifier_class *cl = notifier_type_class(i);
    if (cl != NULL && !cl->needs_url) {
        return NOTIFIER_URL_NONE;
    }
    return cl != NULL && cl->smtp_url ? NOTIFIER_URL_SMTP : NOTIFIER_URL_HTTP;
}

/* The sets of notifier rows: every notifier's, then one a type. */
enum { NOTIFIER_SET_COMMON, NOTIFIER_SET_TYPE0 };
_Static_assert(NOTIFIER_SET_TYPE0 + NTYPES <= MAX_SETS, "a set of rows a notifier type");

#define LO(m) offsetof(struct conf_alert, m)

static const char *const severities[] = {"critical", "warning", "info", NULL};

/* In the order of the bits of enum alert_on. */
static const char *const alert_kinds[] = {
    "down", "degraded", "heartbeat", "certificate", "deploy-failed", "flapping", NULL,
};

static const struct conf_field flapping_fields[] = {
    {.key = "changes",
     .type = CONF_INT,
     .off = LO(flap_changes),
     .min = 2,
     .max = 1000,
     .def = CONFIG_DEFAULT_FLAP_CHANGES},
    {.key = "window",
     .type = CONF_DURATION,
     .off = LO(flap_window_ms),
     .min = CONF_SEC(1),
     .def = CONFIG_DEFAULT_FLAP_WINDOW_MS},
};

static const struct conf_field alert_fields[] = {
    {.key = "notify",
     .type = CONF_LIST,
     .off = LO(notify),
     .off2 = LO(nnotify),
     .min = 1,
     .max = 100,
     .valid = conf_valid_name,
     .required = true},
    {.key = "check", .type = CONF_STR, .off = LO(check), .valid = conf_valid_name},
    {.key = "severity",
     .type = CONF_ENUM,
     .off = LO(severity),
     .choices = severities,
     .def_str = "critical"},
    {.key = "send-on-resolved", .type = CONF_BOOL, .off = LO(send_on_resolved)},
    {.key = "repeat-interval", .type = CONF_DURATION, .off = LO(repeat_interval_ms)},
    {.key = "app", .type = CONF_STR, .off = LO(app), .valid = conf_valid_name},
    {.key = "env", .type = CONF_STR, .off = LO(env), .valid = conf_valid_name},
    {.key = "on",
     .type = CONF_FLAGS,
     .off = LO(on),
     .choices = alert_kinds,
     .max = 16,
     .def = ALERT_ON_DEFAULT},
    {.key = "degraded-for",
     .type = CONF_DURATION,
     .off = LO(degraded_for_ms),
     .def = CONFIG_DEFAULT_DEGRADED_FOR_MS},
    {.key = "certificate-days",
     .type = CONF_INT,
     .off = LO(cert_days),
     .min = 1,
     .max = 3650,
     .def = CONFIG_DEFAULT_CERT_DAYS},
    {.key = "flapping", .type = CONF_MAP, .sub = flapping_fields, .nsub = NFIELDS(flapping_fields)},
};

#define MO(m) offsetof(struct conf_maintenance, m)

static const char *const weekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct conf_field maintenance_fields[] = {
    {.key = "name", .type = CONF_STR, .off = MO(name), .valid = conf_valid_name, .required = true},
    {.key = "check", .type = CONF_STR, .off = MO(check), .valid = conf_valid_name},
    {.key = "start", .type = CONF_CLOCK, .off = MO(start_min), .required = true},
    {.key = "duration",
     .type = CONF_DURATION,
     .off = MO(duration_ms),
     .min = CONF_SEC(60),
     .max = 7 * 24 * CONF_HOUR(1),
     .required = true},
    {.key = "app", .type = CONF_STR, .off = MO(app), .valid = conf_valid_name},
    {.key = "env", .type = CONF_STR, .off = MO(env), .valid = conf_valid_name},
    {.key = "days",
     .type = CONF_FLAGS,
     .off = MO(days),
     .choices = weekdays,
     .max = 7,
     .def = 0x7f},
};

/* True when a check of that name exists (the check index is built). */
static bool check_exists(struct conf_ctx *x, const char *name)
{
    const struct config_priv *pv = x->priv;
    return pv->check_order != NULL && conf_index_find(x->c->checks, sizeof(*x->c->checks), KO(name),
                                                      pv->check_order, pv->ncheck_order, name) >= 0;
}

/* ----------------------------------------------------------------- apps */

static const char *const name_mark[] = {"name"};

static const struct list_section apps_section = {
    .key = "apps",
    .what = "app",
    .needs = "app",
    .max = CONFIG_MAX_ITEMS,
    .item_size = sizeof(struct conf_app),
    .items_off = CO(apps),
    .count_off = CO(napps),
    .rows = CONF_ROWS(app_fields),
    .named = true,
    .name_off = AO(name),
    .order_off = offsetof(struct config_priv, app_order),
    .norder_off = offsetof(struct config_priv, napp_order),
    .marks = name_mark,
    .nmarks = 1,
};

/* --------------------------------------------------------------- checks */

/* The sets of check rows: common, probe, then one a type. */
static size_t check_sets(struct conf_rows *sets, size_t max)
{
    sets[CHECK_SET_PROBE] = (struct conf_rows)CONF_ROWS(probe_rows);
    size_t n = CHECK_SET_KIND0;
    for (size_t i = 0; check_kind(i) != NULL && n < max; i++) {
        sets[n++] = kind_rows(check_kind(i));
    }
    return n;
}

/* The sets a check of type i takes. */
static unsigned check_accept(size_t i)
{
    unsigned probe = check_kind(i)->passive ? 0 : 1u << CHECK_SET_PROBE;
    return probe | 1u << (CHECK_SET_KIND0 + i);
}

/* The rows a check of its type holds: for free and the fingerprint. */
static void check_rows(const struct conf_check *k, struct conf_rows *sets, size_t *n)
{
    *n = 0;
    sets[(*n)++] = (struct conf_rows)CONF_ROWS(check_fields);
    if (!check_kind(k->kind)->passive) {
        sets[(*n)++] = (struct conf_rows)CONF_ROWS(probe_rows);
    }
    sets[(*n)++] = kind_rows(check_kind(k->kind));
}

/* The fingerprint of a check: every row of its type, not its position. */
static uint64_t check_fingerprint(const struct conf_check *k)
{
    struct conf_rows sets[3];
    size_t n;
    check_rows(k, sets, &n);
    uint64_t h = HASH_FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        h = conf_rows_hash(h, &sets[i], k);
    }
    return h;
}

/* Where the i-th condition of an item is written: its list item, else
 * (a single string) the key. */
static struct conf_mark cond_at(const struct list_item *li, struct conf_mark key_at, size_t i,
                                bool *listed)
{
    *listed = false;
    for (uint32_t k = 0; k + 1 < li->m->n; k += 2) {
        const struct ynode *key = li->m->kids[k], *v = li->m->kids[k + 1];
        if (key->type == YN_SCALAR && strcmp(key->text, "conditions") == 0 &&
            v->type == YN_SEQ && i < v->n) {
            *listed = true;
            return v->kat[i];
        }
    }
    return key_at;
}

/* A check's conditions name only the placeholders its type gives; one
 * whose conditions are not written gets its type's default condition. */
static void check_conditions(struct conf_ctx *x, struct conf_check *k, const struct check_type *t,
                             const struct list_item *li)
{
    const struct conf_state *cs = conf_item_state(li->it, li->st, "conditions");
    for (size_t i = 0; i < k->nconditions; i++) {
        char err[256] = "";
        if (k->conds[i] == NULL ||  /* did not parse: reported */
            cond_bind(k->conds[i], t->vars, t->nvars, err, sizeof(err)) == 0) {
            continue;
        }
        bool listed;
        struct conf_mark at = cond_at(li, cs->at, i, &listed);
        char path[PATH_BUF];
        if (listed) {
            conf_pathf(path, sizeof(path), "%s.conditions[%zu]", li->ipath, i);
        } else {
            conf_pathf(path, sizeof(path), "%s.conditions", li->ipath);
        }
        conf_report(x, at, "%s: bad condition: %s", path, err);
    }
    if (cs->seen || t->default_condition == NULL) {
        return;
    }
    /* A type's own default parses and binds: only memory can fail here. */
    char err[256];
    char **texts = calloc(2, sizeof(*texts));
    struct cond **conds = calloc(2, sizeof(*conds));
    char *text = strdup(t->default_condition);
    if (texts == NULL || conds == NULL || text == NULL ||
        cond_parse_open(text, &conds[0], err, sizeof(err)) < 0 ||
        cond_bind(conds[0], t->vars, t->nvars, err, sizeof(err)) < 0) {
        cond_destroy(conds != NULL ? conds[0] : NULL);
        free(conds);
        free(texts);
        free(text);
        x->oom = true;
        x->stop = true;
        return;
    }
    texts[0] = text;
    k->conditions = texts;
    k->conds = conds;
    k->nconditions = 1;
}

/* A check beyond its rows: defaults from the defaults section, quorum and
 * locations. */
static void check_item(struct conf_ctx *x, void *item, const struct list_item *li)
{
    struct config *c = x->c;
    struct conf_check *k = item;
    struct conf_state *st = li->st;
    const struct conf_item *it = li->it;
    k->line = li->iat.line;
    bool typed = conf_item_state(it, st, "type")->set;
    const struct check_type *kind = typed ? check_kind(k->kind) : NULL;
    bool passive = kind != NULL && kind->passive;
    if (!conf_item_state(it, st, "interval")->set) {
        k->interval_ms =
            kind != NULL && kind->interval_ms ? kind->interval_ms : c->defaults.interval_ms;
    }
    if (!conf_item_state(it, st, "timeout")->set) {
        /* The check's own, else defaults.timeout when written, else its
         * type's default, else CONFIG_DEFAULT_TIMEOUT_MS. */
        k->timeout_ms = c->defaults.timeout_ms;
        if (k->timeout_ms == 0) {
            k->timeout_ms = kind != NULL && kind->timeout_ms ? kind->timeout_ms
                                                             : CONFIG_DEFAULT_TIMEOUT_MS;
        }
    }
    if (!conf_item_state(it, st, "failure-threshold")->set) {
        k->failure_threshold = passive ? 1 : c->defaults.failure_threshold;
    }
    if (!conf_item_state(it, st, "success-threshold")->set) {
        k->success_threshold = passive ? 1 : c->defaults.success_threshold;
    }
    const struct conf_state *quorum = conf_item_state(it, st, "quorum");
    if (quorum->set && !k->locations_all) {
        conf_report(x, quorum->at, "%s.quorum: needs \"locations: all\"", li->ipath);
    }
    if (k->locations_all && passive) {
        conf_report(x, conf_item_state(it, st, "locations")->at,
                    "%s.locations: a %s is pinged, not run: it has one location", li->ipath,
                    kind->name);
    }
    if (kind != NULL && !passive) {
        check_conditions(x, k, kind, li);
    }
    /* A key refused already is not reported again as missing. */
    bool bad = false;
    for (size_t i = 0; i < conf_item_nrows(it); i++) {
        bad = bad || st[i].bad;
    }
    const char *why = kind != NULL && kind->invalid != NULL && !bad ? kind->invalid(k) : NULL;
    if (why != NULL) {
        conf_report(x, li->iat, "%s: %s", li->ipath, why);
    }
}

static const char *const check_marks[] = {"name", "token", "depends-on"};
enum { CHECK_MARK_NAME, CHECK_MARK_TOKEN, CHECK_MARK_DEPENDS, CHECK_NMARKS };

/* depends-on: every parent exists and is not the check itself, and no
 * chain comes back to where it started (two checks holding each other's
 * alerts back would both stay silent). */
static void check_dependencies(struct conf_ctx *x, const struct conf_mark *marks)
{
    struct config *c = x->c;
    struct config_priv *pv = x->priv;
    bool any = false;
    for (size_t i = 0; i < c->nchecks; i++) {
        const struct conf_check *k = &c->checks[i];
        for (size_t j = 0; j < k->ndepends_on; j++) {
            char q[300];
            any = true;
            if (k->name != NULL && strcmp(k->depends_on[j], k->name) == 0) {
                conf_report(x, marks[i * CHECK_NMARKS + CHECK_MARK_DEPENDS],
                            "checks[%zu].depends-on[%zu]: a check cannot depend on itself", i, j);
            } else if (conf_index_find(c->checks, sizeof(*c->checks), KO(name), pv->check_order,
                                       pv->ncheck_order, k->depends_on[j]) < 0) {
                conf_report(x, marks[i * CHECK_NMARKS + CHECK_MARK_DEPENDS],
                            "checks[%zu].depends-on[%zu]: unknown check %s", i, j,
                            conf_quote(q, sizeof(q), k->depends_on[j]));
            }
        }
    }
    if (!any || x->nerrs > 0) {
        return;
    }
    /* Depth-first walk with colours: 1 on the path, 2 done. */
    unsigned char *colour = calloc(c->nchecks, 1);
    size_t *stack = malloc(c->nchecks * sizeof(*stack));
    size_t *edge = malloc(c->nchecks * sizeof(*edge));
    if (colour == NULL || stack == NULL || edge == NULL) {
        x->oom = true;
        goto out;
    }
    for (size_t root = 0; root < c->nchecks; root++) {
        if (colour[root] != 0) {
            continue;
        }
        size_t sp = 0;
        stack[sp] = root;
        edge[sp++] = 0;
        colour[root] = 1;
        while (sp > 0) {
            size_t v = stack[sp - 1];
            const struct conf_check *k = &c->checks[v];
            if (edge[sp - 1] == k->ndepends_on) {
                colour[v] = 2;
                sp--;
                continue;
            }
            ssize_t w = conf_index_find(c->checks, sizeof(*c->checks), KO(name), pv->check_order,
                                        pv->ncheck_order, k->depends_on[edge[sp - 1]++]);
            if (w < 0 || colour[w] == 2) {
                continue;
            }
            if (colour[w] == 1) {
                char q[300];
                char q2[300];
                conf_report(
                    x, marks[v * CHECK_NMARKS + CHECK_MARK_DEPENDS],
                    "checks[%zu].depends-on: a cycle: %s depends on %s, which leads back to it", v,
                    conf_quote(q, sizeof(q), k->name),
                    conf_quote(q2, sizeof(q2), c->checks[w].name));
                goto out;
            }
            colour[w] = 1;
            stack[sp] = (size_t)w;
            edge[sp++] = 0;
        }
    }
out:
    free(colour);
    free(stack);
    free(edge);
}

/* Across checks: fingerprints, unique heartbeat tokens, dependencies. */
static void checks_after(struct conf_ctx *x, const struct conf_mark *marks)
{
    struct config *c = x->c;
    for (size_t i = 0; i < c->nchecks; i++) {
        c->checks[i].fingerprint = check_fingerprint(&c->checks[i]);
    }
    /* Heartbeat tokens name the URL a job pings: they must be unique. The
     * token itself is a secret and is not shown. */
    size_t ntok;
    size_t *tok = conf_index_build(c->checks, c->nchecks, sizeof(*c->checks), KO(token), &ntok);
    if (tok == NULL) {
        x->oom = true;
    } else {
        for (size_t i = 1; i < ntok && !x->stop; i++) {
            if (strcmp(c->checks[tok[i - 1]].token, c->checks[tok[i]].token) == 0) {
                conf_report(x, marks[tok[i] * CHECK_NMARKS + CHECK_MARK_TOKEN],
                            "checks[%zu].token: same token as the check at line %d", tok[i],
                            c->checks[tok[i - 1]].line);
            }
        }
        free(tok);
    }
    if (x->priv->check_order != NULL) {
        check_dependencies(x, marks);
    }
}

static const struct list_section checks_section = {
    .key = "checks",
    .what = "check",
    .needs = "check",
    .max = CONFIG_MAX_CHECKS,
    .item_size = sizeof(struct conf_check),
    .items_off = CO(checks),
    .count_off = CO(nchecks),
    .rows = CONF_ROWS(check_fields),
    .named = true,
    .name_off = KO(name),
    .order_off = offsetof(struct config_priv, check_order),
    .norder_off = offsetof(struct config_priv, ncheck_order),
    .marks = check_marks,
    .nmarks = CHECK_NMARKS,
    .variant_name = check_kind_name,
    .variant_sets = check_sets,
    .variant_accept = check_accept,
    .item = check_item,
    .after = checks_after,
};

/* ------------------------------------------------------------ notifiers */

/* The i-th notifier type's name, NULL past the last. */
static const char *notifier_type_name(size_t i)
{
    return notifier_types[i];
}

/* The sets of notifier rows: common, then one a type. */
static size_t notifier_sets(struct conf_rows *sets, size_t max)
{
    size_t n = NOTIFIER_SET_TYPE0;
    for (size_t i = 0; i < NTYPES && n < max; i++) {
        sets[n++] = notifier_type_rows(i);
    }
    return n;
}

/* The index of a notifier type name, NTYPES for none. */
static size_t notifier_type_index(const char *type)
{
    size_t i = 0;
    while (i < NTYPES && (type == NULL || strcmp(type, notifier_types[i]) != 0)) {
        i++;
    }
    return i;
}

/* A notifier beyond its rows: the retry bounds. */
static void notifier_early(struct conf_ctx *x, void *item, const struct list_item *li)
{
    struct conf_notifier *nt = item;
    if (nt->retry_max_ms < nt->retry_initial_ms) {
        conf_report(x, li->iat, "%s.retry-max: must be at least retry-initial", li->ipath);
    }
}

/* Report the keys of type t's set that a notifier of another type has. */
static void notifier_foreign(struct conf_ctx *x, const struct list_item *li, size_t t,
                             const char *type)
{
    const struct conf_rows set = notifier_type_rows(t);
    for (size_t i = 0; i < set.n; i++) {
        const struct conf_state *st = conf_item_state(li->it, li->st, set.rows[i].key);
        if (st->seen) {
            conf_report(x, st->at, "%s.%s: not a key of %s notifiers", li->ipath, set.rows[i].key,
                        type);
        }
    }
}

/* A notifier of a known type: every key was parsed; what its type needs,
 * the scheme of its url, and the keys that are other types'. */
static void notifier_variant(struct conf_ctx *x, void *item, const struct list_item *li)
{
    struct conf_notifier *nt = item;
    size_t own = notifier_type_index(nt->type);
    enum notifier_url url = own < NTYPES ? notifier_type_url(own) : NOTIFIER_URL_HTTP;
    bool keys = own < NTYPES && notifier_type_rows(own).n > 0;
    char subject[128];
    snprintf(subject, sizeof(subject), "%s notifier", nt->type);
    const struct conf_state *url_st = conf_item_state(li->it, li->st, "url");
    if (url == NOTIFIER_URL_NONE) {
        if (keys) {
            conf_list_require(x, li, NOTIFIER_SET_TYPE0 + own, subject, subject);
        }
        if (url_st->seen) {
            conf_report(x, url_st->at, "%s.url: not a key of %s notifiers", li->ipath, nt->type);
        }
    } else if (!url_st->set && !url_st->bad &&
               (own >= NTYPES || notifier_type_class(own)->default_url == NULL)) {
        conf_report(x, li->iat, "%s: %s needs url", li->ipath, subject);
    }
    for (size_t t = 0; t < NTYPES; t++) {
        if (t != own && notifier_type_url(t) == NOTIFIER_URL_NONE) {
            notifier_foreign(x, li, t, nt->type);
        }
    }
    if (nt->url != NULL) {
        bool smtp =
            strncasecmp(nt->url, "smtp://", 7) == 0 || strncasecmp(nt->url, "smtps://", 8) == 0;
        if (url == NOTIFIER_URL_SMTP && !smtp) {
            conf_report(x, url_st->at, "%s.url: expected an smtp:// or smtps:// URL", li->ipath);
        } else if (url != NOTIFIER_URL_SMTP && conf_valid_http_url(nt->url) != NULL) {
            conf_report(x, url_st->at, "%s.url: %s", li->ipath, conf_valid_http_url(nt->url));
        }
    }
    if (url != NOTIFIER_URL_NONE && keys) {
        conf_list_require(x, li, NOTIFIER_SET_TYPE0 + own, subject, subject);
    }
    for (size_t t = 0; t < NTYPES; t++) {
        if (t != own && notifier_type_url(t) != NOTIFIER_URL_NONE) {
            notifier_foreign(x, li, t, nt->type);
        }
    }
}

static const struct list_section notifiers_section = {
    .key = "notifiers",
    .what = "notifier",
    .needs = "notifier",
    .max = CONFIG_MAX_ITEMS,
    .item_size = sizeof(struct conf_notifier),
    .items_off = CO(notifiers),
    .count_off = CO(nnotifiers),
    .rows = CONF_ROWS(notifier_fields),
    .named = true,
    .name_off = NO(name),
    .order_off = offsetof(struct config_priv, notifier_order),
    .norder_off = offsetof(struct config_priv, nnotifier_order),
    .marks = name_mark,
    .nmarks = 1,
    .variant_name = notifier_type_name,
    .variant_sets = notifier_sets,
    .early = notifier_early,
    .variant = notifier_variant,
};

/* --------------------------------------------------------------- alerts */

/* An alert rule beyond its rows: the notifiers and the check it names. */
static void alert_item(struct conf_ctx *x, void *item, const struct list_item *li)
{
    struct config *c = x->c;
    struct config_priv *pv = x->priv;
    struct conf_alert *a = item;
    const struct conf_state *notify = conf_item_state(li->it, li->st, "notify");
    if (notify->set && a->nnotify == 0) {
        conf_report(x, notify->at, "%s.notify: needs at least one notifier", li->ipath);
    } else if (notify->set) {
        /* Find the value node again for the positions of its items. */
        const struct ynode *nv = NULL;
        for (size_t p = 0; p + 1 < li->m->n; p += 2) {
            const struct ynode *k = li->m->kids[p];
            if (k->type == YN_SCALAR && strcmp(k->text, "notify") == 0) {
                nv = li->m->kids[p + 1];
                break;
            }
        }
        for (size_t j = 0; j < a->nnotify; j++) {
            if (pv->notifier_order != NULL &&
                conf_index_find(c->notifiers, sizeof(*c->notifiers), NO(name), pv->notifier_order,
                                pv->nnotifier_order, a->notify[j]) >= 0) {
                continue;
            }
            char q[300], jpath[PATH_BUF];
            struct conf_mark jat = notify->at;
            if (nv != NULL && nv->type == YN_SEQ && j < nv->n) {
                jat = nv->kat[j];
                conf_pathf(jpath, sizeof(jpath), "%s.notify[%zu]", li->ipath, j);
            } else {
                conf_pathf(jpath, sizeof(jpath), "%s.notify", li->ipath);
            }
            conf_report(x, jat, "%s: unknown notifier %s", jpath,
                        conf_quote(q, sizeof(q), a->notify[j]));
        }
    }
    if (a->check != NULL && !check_exists(x, a->check)) {
        char q[300];
        conf_report(x, conf_item_state(li->it, li->st, "check")->at, "%s.check: unknown check %s",
                    li->ipath, conf_quote(q, sizeof(q), a->check));
    }
}

/* after notifiers and checks, which they name */
static const struct list_section alerts_section = {
    .key = "alerts",
    .what = "alert rule",
    .needs = "alert rule",
    .max = CONFIG_MAX_ITEMS,
    .item_size = sizeof(struct conf_alert),
    .items_off = CO(alerts),
    .count_off = CO(nalerts),
    .rows = CONF_ROWS(alert_fields),
    .item = alert_item,
};

/* ---------------------------------------------------------- maintenance */

/* A maintenance window beyond its rows: the check it names. */
static void maintenance_item(struct conf_ctx *x, void *item, const struct list_item *li)
{
    struct conf_maintenance *mt = item;
    if (mt->check != NULL && !check_exists(x, mt->check)) {
        char q[300];
        conf_report(x, conf_item_state(li->it, li->st, "check")->at, "%s.check: unknown check %s",
                    li->ipath, conf_quote(q, sizeof(q), mt->check));
    }
}

/* recurring windows, after checks, which they may name */
static const struct list_section maintenance_section = {
    .key = "maintenance",
    .what = "maintenance window",
    .needs = "a maintenance window",
    .max = CONFIG_MAX_ITEMS,
    .item_size = sizeof(struct conf_maintenance),
    .items_off = CO(maintenance),
    .count_off = CO(nmaintenance),
    .rows = CONF_ROWS(maintenance_fields),
    .named = true,
    .name_off = MO(name),
    .marks = name_mark,
    .nmarks = 1,
    .item = maintenance_item,
};

/* --------------------------------------------------------------- layout */

const char *const conf_top_keys[NTOP] = {
    [TOP_DAEMON] = "daemon",   [TOP_STORAGE] = "storage",         [TOP_DEFAULTS] = "defaults",
    [TOP_APPS] = "apps",       [TOP_CHECKS] = "checks",           [TOP_NOTIFIERS] = "notifiers",
    [TOP_ALERTS] = "alerts",   [TOP_MAINTENANCE] = "maintenance", [TOP_REDIS] = "redis",
    [TOP_CLUSTER] = "cluster", [TOP_NODE_NAME] = "node-name",
};

const struct conf_root_section conf_root_sections[NROOT] = {
    [SEC_DAEMON] = {TOP_DAEMON, CONF_ROWS(daemon_fields)},
    [SEC_STORAGE] = {TOP_STORAGE, CONF_ROWS(storage_fields)},
    [SEC_DEFAULTS] = {TOP_DEFAULTS, CONF_ROWS(defaults_fields)},
    [SEC_REDIS] = {TOP_REDIS, CONF_ROWS(redis_fields)},
};

_Static_assert(NFIELDS(daemon_fields) <= ROOT_MAX_ROWS && NFIELDS(storage_fields) <= ROOT_MAX_ROWS,
               "a root section outgrew ROOT_MAX_ROWS");

const struct conf_root_scalar conf_root_scalars[NSCALARS] = {
    {TOP_CLUSTER,
     {.key = "cluster", .type = CONF_STR, .off = CO(cluster), .valid = conf_valid_name}},
    {TOP_NODE_NAME,
     {.key = "node-name", .type = CONF_STR, .off = CO(node_name), .valid = conf_valid_name}},
};

const struct conf_list_entry conf_list_sections[NLISTS] = {
    {TOP_APPS, &apps_section},
    {TOP_CHECKS, &checks_section},
    {TOP_NOTIFIERS, &notifiers_section},
    {TOP_ALERTS, &alerts_section},
    {TOP_MAINTENANCE, &maintenance_section},
};
