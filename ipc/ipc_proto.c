/* ipc_proto.c - field tables, their codec, the method table. */
#include "ipc_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_wire.h"
#include "utf8.h"
#include "util.h"

/* --- codec --- */

#define AT(v, off) ((char *)(v) + (off))

static size_t count_at(const void *v, const struct ipc_field *f)
{
    return *(const size_t *)AT(v, f->count_off);
}

void ipc_type_pack(msgpack_packer *pk, const struct ipc_type *t, const void *v)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nfields; i++) {
        const struct ipc_field *f = &t->fields[i];
        if (f->type != IPC_F_STR || *(char *const *)AT(v, f->off) != NULL) {
            n++;
        }
    }
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < t->nfields; i++) {
        const struct ipc_field *f = &t->fields[i];
        const char *s;
        switch (f->type) {
        case IPC_F_STR:
            s = *(char *const *)AT(v, f->off);
            if (s == NULL) {
                continue;
            }
            ipc_pack_cstr(pk, f->key);
            ipc_pack_cstr(pk, s);
            break;
        case IPC_F_I64:
            ipc_pack_cstr(pk, f->key);
            msgpack_pack_int64(pk, *(const int64_t *)AT(v, f->off));
            break;
        case IPC_F_BOOL:
            ipc_pack_cstr(pk, f->key);
            if (*(const bool *)AT(v, f->off)) {
                msgpack_pack_true(pk);
            } else {
                msgpack_pack_false(pk);
            }
            break;
        case IPC_F_STRV: {
            char *const *sv = *(char *const *const *)AT(v, f->off);
            size_t k = count_at(v, f);
            ipc_pack_cstr(pk, f->key);
            msgpack_pack_array(pk, k);
            for (size_t j = 0; j < k; j++) {
                ipc_pack_cstr(pk, sv[j]);
            }
            break;
        }
        case IPC_F_I64V: {
            const int64_t *iv = *(const int64_t *const *)AT(v, f->off);
            size_t k = count_at(v, f);
            ipc_pack_cstr(pk, f->key);
            msgpack_pack_array(pk, k);
            for (size_t j = 0; j < k; j++) {
                msgpack_pack_int64(pk, iv[j]);
            }
            break;
        }
        case IPC_F_ARRAY: {
            const char *base = *(const char *const *)AT(v, f->off);
            size_t k = count_at(v, f);
            ipc_pack_cstr(pk, f->key);
            msgpack_pack_array(pk, k);
            for (size_t j = 0; j < k; j++) {
                ipc_type_pack(pk, f->elem, base + j * f->elem->size);
            }
            break;
        }
        }
    }
}

/* An integer object as int64; false when it is not one or does not fit. */
static bool get_i64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    return false;
}

/* A copy of a msgpack string; NULL (and *bad) when it holds a NUL. */
static char *dup_str(const msgpack_object *o, bool *bad)
{
    const char *p = o->via.str.ptr;
    uint32_t n = o->via.str.size;
    if (n > 0 && memchr(p, '\0', n) != NULL) {
        *bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* The zeroed storage of an array field (STRV, I64V, ARRAY) for the array
 * o, stored in v with its count; NULL with why when o is not an array, the
 * field came twice, or memory ran out. Zeroed elements free cleanly, so
 * the count covers them all from the start. */
static void *new_array(const msgpack_object *o, const struct ipc_field *f, void *v, size_t elem,
                       const char *what, char *why, size_t whylen)
{
    /* The field is a pointer of the element's type: copied as bytes, not
     * accessed through a void * of another type. */
    void *cur;
    memcpy(&cur, AT(v, f->off), sizeof(cur));
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "%s: expected %s", f->key, what);
        return NULL;
    }
    if (cur != NULL) {
        snprintf(why, whylen, "%s: given twice", f->key);
        return NULL;
    }
    uint32_t n = o->via.array.size;
    void *p = calloc(n ? n : 1, elem);
    if (p == NULL) {
        snprintf(why, whylen, "%s: out of memory", f->key);
        return NULL;
    }
    memcpy(AT(v, f->off), &p, sizeof(p));
    *(size_t *)AT(v, f->count_off) = n;
    return p;
}

static int unpack_field(const msgpack_object *o, const struct ipc_field *f, void *v, char *why,
                        size_t whylen)
{
    bool bad = false;
    if (o->type == MSGPACK_OBJECT_NIL) {
        return 0;   /* absent; required fields are checked by the caller */
    }
    switch (f->type) {
    case IPC_F_STR: {
        if (o->type != MSGPACK_OBJECT_STR) {
            snprintf(why, whylen, "%s: expected a string", f->key);
            return -1;
        }
        char **dst = (char **)AT(v, f->off);
        char *s = dup_str(o, &bad);
        if (s == NULL) {
            snprintf(why, whylen, "%s: %s", f->key, bad ? "contains a NUL byte" : "out of memory");
            return -1;
        }
        free(*dst);
        *dst = s;
        return 0;
    }
    case IPC_F_I64:
        if (!get_i64(o, (int64_t *)AT(v, f->off))) {
            snprintf(why, whylen, "%s: expected an integer", f->key);
            return -1;
        }
        return 0;
    case IPC_F_I64V: {
        int64_t *iv = new_array(o, f, v, sizeof(int64_t), "an array of integers", why, whylen);
        if (iv == NULL) {
            return -1;
        }
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (!get_i64(&o->via.array.ptr[i], &iv[i])) {
                snprintf(why, whylen, "%s[%u]: expected an integer", f->key, i);
                return -1;
            }
        }
        return 0;
    }
    case IPC_F_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN) {
            snprintf(why, whylen, "%s: expected a boolean", f->key);
            return -1;
        }
        *(bool *)AT(v, f->off) = o->via.boolean;
        return 0;
    case IPC_F_STRV: {
        char **sv = new_array(o, f, v, sizeof(char *), "an array of strings", why, whylen);
        if (sv == NULL) {
            return -1;
        }
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *e = &o->via.array.ptr[i];
            if (e->type != MSGPACK_OBJECT_STR) {
                snprintf(why, whylen, "%s[%u]: expected a string", f->key, i);
                return -1;
            }
            if ((sv[i] = dup_str(e, &bad)) == NULL) {
                snprintf(why, whylen, "%s[%u]: %s", f->key, i,
                         bad ? "contains a NUL byte" : "out of memory");
                return -1;
            }
        }
        return 0;
    }
    case IPC_F_ARRAY: {
        char *base = new_array(o, f, v, f->elem->size, "an array", why, whylen);
        if (base == NULL) {
            return -1;
        }
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            char sub[200];
            if (ipc_type_unpack(&o->via.array.ptr[i], f->elem, base + i * f->elem->size, sub,
                                sizeof(sub)) < 0) {
                snprintf(why, whylen, "%s[%u].%s", f->key, i, sub);
                return -1;
            }
        }
        return 0;
    }
    }
    return 0;
}

int ipc_type_unpack(const msgpack_object *o, const struct ipc_type *t, void *v, char *why,
                    size_t whylen)
{
    uint64_t seen = 0;      /* field tables have fewer than 64 fields */
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                snprintf(why, whylen, "keys must be strings");
                return -1;
            }
            for (size_t j = 0; j < t->nfields; j++) {
                const struct ipc_field *f = &t->fields[j];
                if (strlen(f->key) == kv->key.via.str.size &&
                    memcmp(f->key, kv->key.via.str.ptr, kv->key.via.str.size) == 0) {
                    if (unpack_field(&kv->val, f, v, why, whylen) < 0) {
                        return -1;
                    }
                    if (kv->val.type != MSGPACK_OBJECT_NIL) {
                        seen |= 1ull << j;
                    }
                    break;
                }
            }
        }
    } else if (o->type != MSGPACK_OBJECT_NIL) {
        snprintf(why, whylen, "expected a map of %s fields", t->name);
        return -1;
    }
    for (size_t j = 0; j < t->nfields; j++) {
        if (t->fields[j].required && !(seen & (1ull << j))) {
            snprintf(why, whylen, "%s: missing", t->fields[j].key);
            return -1;
        }
    }
    return 0;
}

void ipc_type_finish(const struct ipc_type *t, void *v)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const struct ipc_field *f = &t->fields[i];
        switch (f->type) {
        case IPC_F_STR:
            free(*(char **)AT(v, f->off));
            *(char **)AT(v, f->off) = NULL;
            break;
        case IPC_F_STRV: {
            char **sv = *(char ***)AT(v, f->off);
            size_t n = count_at(v, f);
            for (size_t j = 0; j < n; j++) {
                free(sv[j]);
            }
            free(sv);
            *(char ***)AT(v, f->off) = NULL;
            *(size_t *)AT(v, f->count_off) = 0;
            break;
        }
        case IPC_F_I64V:
            free(*(int64_t **)AT(v, f->off));
            *(int64_t **)AT(v, f->off) = NULL;
            *(size_t *)AT(v, f->count_off) = 0;
            break;
        case IPC_F_ARRAY: {
            char *base = *(char **)AT(v, f->off);
            size_t n = count_at(v, f);
            for (size_t j = 0; j < n; j++) {
                ipc_type_finish(f->elem, base + j * f->elem->size);
            }
            free(base);
            *(char **)AT(v, f->off) = NULL;
            *(size_t *)AT(v, f->count_off) = 0;
            break;
        }
        case IPC_F_I64:
        case IPC_F_BOOL:
            break;
        }
    }
}

/* --- field tables --- */

#define STR(T, f) {.key = #f, .type = IPC_F_STR, .off = offsetof(T, f)}
#define STR_REQ(T, f) {.key = #f, .type = IPC_F_STR, .off = offsetof(T, f), .required = true}
#define I64(T, f) {.key = #f, .type = IPC_F_I64, .off = offsetof(T, f)}
#define I64_REQ(T, f) {.key = #f, .type = IPC_F_I64, .off = offsetof(T, f), .required = true}
#define BOOL(T, f) {.key = #f, .type = IPC_F_BOOL, .off = offsetof(T, f)}
#define I64V(T, f, n) {.key = #f, .type = IPC_F_I64V, .off = offsetof(T, f), .count_off = offsetof(T, n)}
#define STRV(T, f, n) {.key = #f, .type = IPC_F_STRV, .off = offsetof(T, f), .count_off = offsetof(T, n)}
#define ARRAY(T, f, n, e) \
    {.key = #f, .type = IPC_F_ARRAY, .off = offsetof(T, f), .count_off = offsetof(T, n), .elem = &(e)}
#define TYPE(var, T, tab) \
    const struct ipc_type var = {.name = #T, .size = sizeof(struct T), .fields = tab, \
                                 .nfields = ARRAY_SIZE(tab)}

static const struct ipc_field error_fields[] = {
    STR(struct ipc_error, code),
    STR(struct ipc_error, message),
};
TYPE(ipc_error_type, ipc_error, error_fields);

static const struct ipc_field hello_params_fields[] = {
    STR(struct ipc_hello_params, client),
    I64(struct ipc_hello_params, protocol),
};
TYPE(ipc_hello_params_type, ipc_hello_params, hello_params_fields);

static const struct ipc_field hello_result_fields[] = {
    I64(struct ipc_hello_result, protocol),
    STR(struct ipc_hello_result, version),
    STRV(struct ipc_hello_result, capabilities, ncapabilities),
    I64(struct ipc_hello_result, pid),
    I64(struct ipc_hello_result, started_ms),
    I64(struct ipc_hello_result, uid),
    BOOL(struct ipc_hello_result, admin),
};
TYPE(ipc_hello_result_type, ipc_hello_result, hello_result_fields);

static const struct ipc_field location_fields[] = {
    STR(struct ipc_location, name),
    STR(struct ipc_location, state),
    I64(struct ipc_location, last_ms),
    STR(struct ipc_location, last_outcome),
    STR(struct ipc_location, last_error),
};
TYPE(ipc_location_type, ipc_location, location_fields);

static const struct ipc_field check_fields[] = {
    STR(struct ipc_check, name),
    STR(struct ipc_check, app),
    STR(struct ipc_check, env),
    STR(struct ipc_check, type),
    STR(struct ipc_check, target),
    STR(struct ipc_check, state),
    BOOL(struct ipc_check, paused),
    BOOL(struct ipc_check, running),
    I64(struct ipc_check, interval_ms),
    I64(struct ipc_check, timeout_ms),
    I64(struct ipc_check, state_since_ms),
    I64(struct ipc_check, fail_streak),
    I64(struct ipc_check, ok_streak),
    I64(struct ipc_check, runs_total),
    I64(struct ipc_check, skipped_total),
    I64(struct ipc_check, last_ms),
    I64(struct ipc_check, last_duration_us),
    STR(struct ipc_check, last_outcome),
    I64(struct ipc_check, last_status),
    STR(struct ipc_check, last_error),
    STR(struct ipc_check, last_condition),
    STR(struct ipc_check, last_message),
    STR(struct ipc_check, last_long_output),
    STR(struct ipc_check, last_perfdata),
    STR(struct ipc_check, verdict),
    STR(struct ipc_check, held_by),
    STR(struct ipc_check, runner),
    I64(struct ipc_check, skipped_not_owner),
    ARRAY(struct ipc_check, locations, nlocations, ipc_location_type),
};
TYPE(ipc_check_type, ipc_check, check_fields);

static const struct ipc_field app_status_fields[] = {
    STR(struct ipc_app_status, app),
    STR(struct ipc_app_status, env),
    STR(struct ipc_app_status, state),
    I64(struct ipc_app_status, up),
    I64(struct ipc_app_status, down),
    I64(struct ipc_app_status, degraded),
    I64(struct ipc_app_status, unknown),
    I64(struct ipc_app_status, paused),
};
TYPE(ipc_app_status_type, ipc_app_status, app_status_fields);

static const struct ipc_field status_fields[] = {
    STR(struct ipc_status, version),
    I64(struct ipc_status, pid),
    I64(struct ipc_status, started_ms),
    I64(struct ipc_status, now_ms),
    STR(struct ipc_status, config),
    STR(struct ipc_status, store),
    I64(struct ipc_status, store_queue),
    I64(struct ipc_status, store_write_errors),
    BOOL(struct ipc_status, store_degraded),
    STR(struct ipc_status, store_reason),
    I64(struct ipc_status, store_spooled_bytes),
    I64(struct ipc_status, checks),
    I64(struct ipc_status, up),
    I64(struct ipc_status, down),
    I64(struct ipc_status, degraded),
    I64(struct ipc_status, unknown),
    I64(struct ipc_status, paused),
    I64(struct ipc_status, clients),
    I64(struct ipc_status, subscribers),
    BOOL(struct ipc_status, draining),
    STR(struct ipc_status, node),
    STR(struct ipc_status, cluster),
    BOOL(struct ipc_status, cluster_connected),
    I64(struct ipc_status, cluster_peers),
    STRV(struct ipc_status, cluster_peer_names, ncluster_peer_names),
    I64(struct ipc_status, checks_owned),
    BOOL(struct ipc_status, host_sampling),
    ARRAY(struct ipc_status, apps, napps, ipc_app_status_type),
};
TYPE(ipc_status_type, ipc_status, status_fields);

static const struct ipc_field checks_filter_fields[] = {
    STR(struct ipc_checks_filter, app),
    STR(struct ipc_checks_filter, env),
    STR(struct ipc_checks_filter, state),
    STR(struct ipc_checks_filter, after),
    I64(struct ipc_checks_filter, limit),
};
TYPE(ipc_checks_filter_type, ipc_checks_filter, checks_filter_fields);

static const struct ipc_field checks_fields[] = {
    ARRAY(struct ipc_checks, checks, nchecks, ipc_check_type),
    STR(struct ipc_checks, next),
};
TYPE(ipc_checks_type, ipc_checks, checks_fields);

int ipc_checks_append(struct ipc_checks *all, struct ipc_checks *page)
{
    struct ipc_check *v = realloc(all->checks, (all->nchecks + page->nchecks + 1) * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    memcpy(v + all->nchecks, page->checks, page->nchecks * sizeof(*v));
    all->checks = v;
    all->nchecks += page->nchecks;
    free(page->checks);
    page->checks = NULL;
    page->nchecks = 0;
    free((char *)all->next);
    all->next = page->next;
    page->next = NULL;
    return 0;
}

static const struct ipc_field check_ref_fields[] = {
    STR_REQ(struct ipc_check_ref, check),
};
TYPE(ipc_check_ref_type, ipc_check_ref, check_ref_fields);

static const struct ipc_field history_params_fields[] = {
    STR_REQ(struct ipc_history_params, check),
    I64(struct ipc_history_params, from_ms),
    I64(struct ipc_history_params, to_ms),
    I64(struct ipc_history_params, limit),
    STR(struct ipc_history_params, granularity),
};
TYPE(ipc_history_params_type, ipc_history_params, history_params_fields);

static const struct ipc_field history_row_fields[] = {
    I64(struct ipc_history_row, ts_ms),
    I64(struct ipc_history_row, count),
    I64(struct ipc_history_row, failures),
    I64(struct ipc_history_row, latency_min_us),
    I64(struct ipc_history_row, latency_avg_us),
    I64(struct ipc_history_row, latency_p95_us),
    I64(struct ipc_history_row, latency_max_us),
    STR(struct ipc_history_row, outcome),
    I64(struct ipc_history_row, status),
    STR(struct ipc_history_row, error),
    STR(struct ipc_history_row, failed_condition),
    STR(struct ipc_history_row, message),
    STR(struct ipc_history_row, perfdata),
    I64(struct ipc_history_row, conditions),
    I64(struct ipc_history_row, conditions_failed),
};
TYPE(ipc_history_row_type, ipc_history_row, history_row_fields);

static const struct ipc_field history_fields[] = {
    STR(struct ipc_history, check),
    STR(struct ipc_history, granularity),
    ARRAY(struct ipc_history, rows, nrows, ipc_history_row_type),
};
TYPE(ipc_history_type, ipc_history, history_fields);

static const struct ipc_field run_fields[] = {
    STR(struct ipc_run, check),
    STR(struct ipc_run, outcome),
    STR(struct ipc_run, state),
    I64(struct ipc_run, started_ms),
    I64(struct ipc_run, duration_us),
    I64(struct ipc_run, status),
    STR(struct ipc_run, error),
    STR(struct ipc_run, failed_condition),
};
TYPE(ipc_run_type, ipc_run, run_fields);

static const struct ipc_field paused_fields[] = {
    STR(struct ipc_paused, check),
    BOOL(struct ipc_paused, paused),
};
TYPE(ipc_paused_type, ipc_paused, paused_fields);

static const struct ipc_field deploy_fields[] = {
    I64(struct ipc_deploy, id),
    STR_REQ(struct ipc_deploy, app),
    STR_REQ(struct ipc_deploy, env),
    STR_REQ(struct ipc_deploy, version),
    STR(struct ipc_deploy, commit),
    STR(struct ipc_deploy, author),
    STR(struct ipc_deploy, source),
    STR(struct ipc_deploy, url),
    STR(struct ipc_deploy, description),
    STR(struct ipc_deploy, status),
    I64(struct ipc_deploy, started_ms),
    I64(struct ipc_deploy, finished_ms),
    STR(struct ipc_deploy, verdict),
    STR(struct ipc_deploy, verdict_reason),
    STR(struct ipc_deploy, failing_check),
    STR(struct ipc_deploy, rollback_version),
    STR(struct ipc_deploy, ref),
    I64(struct ipc_deploy, verify_window_ms),
};
TYPE(ipc_deploy_type, ipc_deploy, deploy_fields);

static const struct ipc_field deploys_query_fields[] = {
    STR(struct ipc_deploys_query, app),
    STR(struct ipc_deploys_query, env),
    I64(struct ipc_deploys_query, before_id),
    I64(struct ipc_deploys_query, limit),
};
TYPE(ipc_deploys_query_type, ipc_deploys_query, deploys_query_fields);

static const struct ipc_field deploys_fields[] = {
    ARRAY(struct ipc_deploys, deploys, ndeploys, ipc_deploy_type),
};
TYPE(ipc_deploys_type, ipc_deploys, deploys_fields);

static const struct ipc_field events_query_fields[] = {
    STR(struct ipc_events_query, app),
    STR(struct ipc_events_query, check),
    STR(struct ipc_events_query, type),
    I64(struct ipc_events_query, before_id),
    I64(struct ipc_events_query, limit),
};
TYPE(ipc_events_query_type, ipc_events_query, events_query_fields);

static const struct ipc_field event_fields[] = {
    I64(struct ipc_event, id),
    I64(struct ipc_event, ts_ms),
    STR(struct ipc_event, type),
    STR(struct ipc_event, check),
    STR(struct ipc_event, app),
    STR(struct ipc_event, env),
    STR(struct ipc_event, message),
    STR(struct ipc_event, data),
};
TYPE(ipc_event_type, ipc_event, event_fields);

static const struct ipc_field events_fields[] = {
    ARRAY(struct ipc_events, events, nevents, ipc_event_type),
    I64(struct ipc_events, next_before_id),
};
TYPE(ipc_events_type, ipc_events, events_fields);

static const struct ipc_field topics_fields[] = {
    STRV(struct ipc_topics, topics, ntopics),
    STR(struct ipc_topics, node),
};
TYPE(ipc_topics_type, ipc_topics, topics_fields);

static const struct ipc_field notice_fields[] = {
    STR(struct ipc_notice, topic),
    I64(struct ipc_notice, id),
    I64(struct ipc_notice, ts_ms),
    STR(struct ipc_notice, type),
    STR(struct ipc_notice, check),
    STR(struct ipc_notice, app),
    STR(struct ipc_notice, env),
    STR(struct ipc_notice, message),
    STR(struct ipc_notice, data),
    STR(struct ipc_notice, outcome),
    STR(struct ipc_notice, state),
    I64(struct ipc_notice, duration_us),
    I64(struct ipc_notice, status),
    STR(struct ipc_notice, error),
    STR(struct ipc_notice, failed_condition),
    STR(struct ipc_notice, perfdata),
    STR(struct ipc_notice, level),
};
TYPE(ipc_notice_type, ipc_notice, notice_fields);

static const struct ipc_field check_stats_fields[] = {
    STR(struct ipc_check_stats, check),
    I64(struct ipc_check_stats, runs_24h),
    I64(struct ipc_check_stats, failures_24h),
    I64(struct ipc_check_stats, uptime_24h_ppm),
    I64(struct ipc_check_stats, runs_7d),
    I64(struct ipc_check_stats, failures_7d),
    I64(struct ipc_check_stats, uptime_7d_ppm),
    I64(struct ipc_check_stats, runs_30d),
    I64(struct ipc_check_stats, failures_30d),
    I64(struct ipc_check_stats, uptime_30d_ppm),
    I64(struct ipc_check_stats, p95_1h_us),
    I64V(struct ipc_check_stats, spark, nspark),
};
TYPE(ipc_check_stats_type, ipc_check_stats, check_stats_fields);

static const struct ipc_field checks_stats_fields[] = {
    ARRAY(struct ipc_checks_stats, stats, nstats, ipc_check_stats_type),
    STR(struct ipc_checks_stats, next),
};
TYPE(ipc_checks_stats_type, ipc_checks_stats, checks_stats_fields);

static const struct ipc_field stats_page_fields[] = {
    STR(struct ipc_stats_page, after),
    I64(struct ipc_stats_page, limit),
};
TYPE(ipc_stats_page_type, ipc_stats_page, stats_page_fields);

static const struct ipc_field alert_fields[] = {
    I64(struct ipc_alert, id),
    STR(struct ipc_alert, kind),
    STR(struct ipc_alert, check),
    STR(struct ipc_alert, app),
    STR(struct ipc_alert, env),
    STR(struct ipc_alert, severity),
    STR(struct ipc_alert, status),
    STR(struct ipc_alert, summary),
    I64(struct ipc_alert, started_ms),
    I64(struct ipc_alert, resolved_ms),
    STR(struct ipc_alert, ack_by),
    I64(struct ipc_alert, ack_ms),
    STR(struct ipc_alert, ack_comment),
    STR(struct ipc_alert, muted_by),
    I64(struct ipc_alert, deploy_id),
    I64(struct ipc_alert, notifications),
};
TYPE(ipc_alert_type, ipc_alert, alert_fields);

static const struct ipc_field alerts_query_fields[] = {
    STR(struct ipc_alerts_query, status),
    STR(struct ipc_alerts_query, check),
    STR(struct ipc_alerts_query, app),
    I64(struct ipc_alerts_query, before_id),
    I64(struct ipc_alerts_query, limit),
};
TYPE(ipc_alerts_query_type, ipc_alerts_query, alerts_query_fields);

static const struct ipc_field alerts_fields[] = {
    ARRAY(struct ipc_alerts, alerts, nalerts, ipc_alert_type),
    I64(struct ipc_alerts, next_before_id),
};
TYPE(ipc_alerts_type, ipc_alerts, alerts_fields);

static const struct ipc_field ack_params_fields[] = {
    I64_REQ(struct ipc_ack_params, id),
    STR(struct ipc_ack_params, comment),
};
TYPE(ipc_ack_params_type, ipc_ack_params, ack_params_fields);

static const struct ipc_field mute_params_fields[] = {
    STR(struct ipc_mute_params, check),
    STR(struct ipc_mute_params, app),
    STR(struct ipc_mute_params, env),
    STR(struct ipc_mute_params, severity),
    I64(struct ipc_mute_params, starts_ms),
    I64(struct ipc_mute_params, duration_ms),
    I64(struct ipc_mute_params, ends_ms),
    STR(struct ipc_mute_params, comment),
    I64(struct ipc_mute_params, alert_id),
};
TYPE(ipc_mute_params_type, ipc_mute_params, mute_params_fields);

static const struct ipc_field mute_fields[] = {
    I64(struct ipc_mute, id),
    STR(struct ipc_mute, kind),
    STR(struct ipc_mute, check),
    STR(struct ipc_mute, app),
    STR(struct ipc_mute, env),
    STR(struct ipc_mute, severity),
    I64(struct ipc_mute, starts_ms),
    I64(struct ipc_mute, ends_ms),
    STR(struct ipc_mute, author),
    STR(struct ipc_mute, comment),
    I64(struct ipc_mute, created_ms),
    I64(struct ipc_mute, alert_id),
};
TYPE(ipc_mute_type, ipc_mute, mute_fields);

static const struct ipc_field mutes_fields[] = {
    ARRAY(struct ipc_mutes, mutes, nmutes, ipc_mute_type),
};
TYPE(ipc_mutes_type, ipc_mutes, mutes_fields);

static const struct ipc_field maint_window_fields[] = {
    STR(struct ipc_maint_window, name),
    STR(struct ipc_maint_window, app),
    STR(struct ipc_maint_window, env),
    STR(struct ipc_maint_window, check),
    STRV(struct ipc_maint_window, days, ndays),
    STR(struct ipc_maint_window, start),
    I64(struct ipc_maint_window, duration_ms),
    I64(struct ipc_maint_window, next_start_ms),
    I64(struct ipc_maint_window, next_end_ms),
    BOOL(struct ipc_maint_window, active),
};
TYPE(ipc_maint_window_type, ipc_maint_window, maint_window_fields);

static const struct ipc_field maintenance_fields[] = {
    ARRAY(struct ipc_maintenance, mutes, nmutes, ipc_mute_type),
    ARRAY(struct ipc_maintenance, windows, nwindows, ipc_maint_window_type),
};
TYPE(ipc_maintenance_type, ipc_maintenance, maintenance_fields);

static const struct ipc_field id_ref_fields[] = {
    I64_REQ(struct ipc_id_ref, id),
};
TYPE(ipc_id_ref_type, ipc_id_ref, id_ref_fields);

static const struct ipc_field reload_fields[] = {
    I64(struct ipc_reload, checks),
    I64(struct ipc_reload, added),
    I64(struct ipc_reload, removed),
    I64(struct ipc_reload, changed),
    I64(struct ipc_reload, unchanged),
};
TYPE(ipc_reload_type, ipc_reload, reload_fields);

static const struct ipc_field host_cpu_fields[] = {
    STR(struct ipc_host_cpu, name),
    I64(struct ipc_host_cpu, used_ppm),
    I64(struct ipc_host_cpu, iowait_ppm),
    I64(struct ipc_host_cpu, steal_ppm),
};
TYPE(ipc_host_cpu_type, ipc_host_cpu, host_cpu_fields);

static const struct ipc_field host_disk_fields[] = {
    STR(struct ipc_host_disk, mount),
    STR(struct ipc_host_disk, device),
    STR(struct ipc_host_disk, fstype),
    I64(struct ipc_host_disk, size_bytes),
    I64(struct ipc_host_disk, avail_bytes),
    I64(struct ipc_host_disk, used_ppm),
    I64(struct ipc_host_disk, inodes),
    I64(struct ipc_host_disk, inodes_free),
    I64(struct ipc_host_disk, inodes_used_ppm),
};
TYPE(ipc_host_disk_type, ipc_host_disk, host_disk_fields);

static const struct ipc_field host_net_fields[] = {
    STR(struct ipc_host_net, name),
    I64(struct ipc_host_net, rx_bytes),
    I64(struct ipc_host_net, tx_bytes),
    I64(struct ipc_host_net, rx_bytes_per_s),
    I64(struct ipc_host_net, tx_bytes_per_s),
};
TYPE(ipc_host_net_type, ipc_host_net, host_net_fields);

static const struct ipc_field host_proc_fields[] = {
    I64(struct ipc_host_proc, pid),
    STR(struct ipc_host_proc, command),
    I64(struct ipc_host_proc, cpu_ppm),
    I64(struct ipc_host_proc, rss_bytes),
};
TYPE(ipc_host_proc_type, ipc_host_proc, host_proc_fields);

static const struct ipc_field host_fields[] = {
    STR(struct ipc_host, hostname),
    STR(struct ipc_host, node),
    I64(struct ipc_host, ts_ms),
    I64(struct ipc_host, interval_ms),
    I64(struct ipc_host, uptime_s),
    I64(struct ipc_host, cpu_count),
    I64(struct ipc_host, cpu_used_ppm),
    I64(struct ipc_host, cpu_iowait_ppm),
    I64(struct ipc_host, cpu_steal_ppm),
    ARRAY(struct ipc_host, cpus, ncpus, ipc_host_cpu_type),
    I64(struct ipc_host, mem_total_bytes),
    I64(struct ipc_host, mem_available_bytes),
    I64(struct ipc_host, mem_used_bytes),
    I64(struct ipc_host, swap_total_bytes),
    I64(struct ipc_host, swap_used_bytes),
    I64(struct ipc_host, load1_milli),
    I64(struct ipc_host, load5_milli),
    I64(struct ipc_host, load15_milli),
    ARRAY(struct ipc_host, disks, ndisks, ipc_host_disk_type),
    ARRAY(struct ipc_host, nets, nnets, ipc_host_net_type),
    I64(struct ipc_host, procs),
    ARRAY(struct ipc_host, top_cpu, ntop_cpu, ipc_host_proc_type),
    ARRAY(struct ipc_host, top_rss, ntop_rss, ipc_host_proc_type),
    I64(struct ipc_host, sample_cpu_us),
    STRV(struct ipc_host, unavailable, nunavailable),
};
TYPE(ipc_host_type, ipc_host, host_fields);

static const struct ipc_field host_query_fields[] = {
    STR(struct ipc_host_query, node),
};
TYPE(ipc_host_query_type, ipc_host_query, host_query_fields);

/* --- methods --- */

const struct ipc_method ipc_methods[IPC_M_COUNT] = {
    {IPC_M_HELLO, "daemon.hello", &ipc_hello_params_type, &ipc_hello_result_type, false},
    {IPC_M_STATUS_GET, "status.get", NULL, &ipc_status_type, false},
    {IPC_M_CHECKS_LIST, "checks.list", &ipc_checks_filter_type, &ipc_checks_type, false},
    {IPC_M_CHECKS_GET, "checks.get", &ipc_check_ref_type, &ipc_check_type, false},
    {IPC_M_CHECKS_HISTORY, "checks.history", &ipc_history_params_type, &ipc_history_type, false},
    {IPC_M_CHECKS_RUN, "checks.run", &ipc_check_ref_type, &ipc_run_type, true},
    {IPC_M_CHECKS_PAUSE, "checks.pause", &ipc_check_ref_type, &ipc_paused_type, true},
    {IPC_M_CHECKS_RESUME, "checks.resume", &ipc_check_ref_type, &ipc_paused_type, true},
    {IPC_M_DEPLOYS_LIST, "deploys.list", &ipc_deploys_query_type, &ipc_deploys_type, false},
    {IPC_M_DEPLOYS_RECORD, "deploys.record", &ipc_deploy_type, &ipc_deploy_type, true},
    {IPC_M_EVENTS_LIST, "events.list", &ipc_events_query_type, &ipc_events_type, false},
    {IPC_M_EVENTS_SUBSCRIBE, "events.subscribe", &ipc_topics_type, &ipc_topics_type, false},
    {IPC_M_EVENTS_UNSUBSCRIBE, "events.unsubscribe", &ipc_topics_type, &ipc_topics_type, false},
    {IPC_M_RELOAD, "daemon.reload", NULL, &ipc_reload_type, true},
    {IPC_M_CHECKS_STATS, "checks.stats", &ipc_stats_page_type, &ipc_checks_stats_type, false},
    {IPC_M_ALERTS_LIST, "alerts.list", &ipc_alerts_query_type, &ipc_alerts_type, false},
    {IPC_M_ALERTS_ACK, "alerts.ack", &ipc_ack_params_type, &ipc_alert_type, true},
    {IPC_M_ALERTS_SILENCE, "alerts.silence", &ipc_mute_params_type, &ipc_mute_type, true},
    {IPC_M_ALERTS_UNSILENCE, "alerts.unsilence", &ipc_id_ref_type, &ipc_mute_type, true},
    {IPC_M_ALERTS_SILENCES, "alerts.silences", NULL, &ipc_mutes_type, false},
    {IPC_M_MAINTENANCE_LIST, "maintenance.list", NULL, &ipc_maintenance_type, false},
    {IPC_M_MAINTENANCE_ADD, "maintenance.add", &ipc_mute_params_type, &ipc_mute_type, true},
    {IPC_M_MAINTENANCE_REMOVE, "maintenance.remove", &ipc_id_ref_type, &ipc_mute_type, true},
    {IPC_M_HOST_GET, "host.get", &ipc_host_query_type, &ipc_host_type, false},
};

const struct ipc_method *ipc_method_find(const char *name, size_t len)
{
    for (size_t i = 0; i < IPC_M_COUNT; i++) {
        if (strlen(ipc_methods[i].name) == len && memcmp(ipc_methods[i].name, name, len) == 0) {
            return &ipc_methods[i];
        }
    }
    return NULL;
}

static const char *const errcode_names[] = {
    [IPC_OK] = "ok",
    [IPC_E_MALFORMED] = "malformed",
    [IPC_E_TOO_LARGE] = "too_large",
    [IPC_E_NO_METHOD] = "no_method",
    [IPC_E_INVALID_PARAMS] = "invalid_params",
    [IPC_E_NOT_FOUND] = "not_found",
    [IPC_E_DENIED] = "denied",
    [IPC_E_UNAVAILABLE] = "unavailable",
    [IPC_E_INVALID_CONFIG] = "invalid_config",
    [IPC_E_PROTOCOL] = "protocol",
    [IPC_E_INTERNAL] = "internal",
};

const char *ipc_errcode_name(enum ipc_errcode c)
{
    if ((size_t)c < ARRAY_SIZE(errcode_names)) {
        return errcode_names[c];
    }
    return "internal";
}

enum ipc_errcode ipc_errcode_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(errcode_names); i++) {
        if (strlen(errcode_names[i]) == len && memcmp(errcode_names[i], name, len) == 0) {
            return (enum ipc_errcode)i;
        }
    }
    return IPC_E_INTERNAL;
}

/* By bit, enum ipc_topic's order. */
static const char *const topic_names[IPC_TOPIC_COUNT] = {"results", "states", "deploys",
                                                         "alerts",  "log",    "host"};

const char *ipc_topic_name(enum ipc_topic t)
{
    for (size_t i = 0; i < ARRAY_SIZE(topic_names); i++) {
        if ((unsigned)t == 1u << i) {
            return topic_names[i];
        }
    }
    return "?";
}

unsigned ipc_topic_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(topic_names); i++) {
        if (strcmp(name, topic_names[i]) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

/* By the type's first word: "deploy.verdict" is a deploy's, "alert.mute"
 * an alert's; "state" alone (a "state" prefix would take others' words). */
enum ipc_topic ipc_event_topic(const char *type)
{
    static const struct {
        const char *word;
        bool prefix;            /* the type starts with word, or is it */
        enum ipc_topic topic;
    } topics[] = {
        {"state", false, IPC_TOPIC_STATES},      {"deploy", true, IPC_TOPIC_DEPLOYS},
        {"alert", true, IPC_TOPIC_ALERTS},       {"notifier", true, IPC_TOPIC_ALERTS},
        {"silence", true, IPC_TOPIC_ALERTS},     {"maintenance", true, IPC_TOPIC_ALERTS},
    };
    for (size_t i = 0; type != NULL && i < ARRAY_SIZE(topics); i++) {
        size_t n = topics[i].prefix ? strlen(topics[i].word) : strlen(type) + 1;
        if (strncmp(type, topics[i].word, n) == 0) {
            return topics[i].topic;
        }
    }
    return IPC_TOPIC_LOG;
}

/* --- whole messages --- */

void ipc_encode_request(msgpack_sbuffer *sb, uint32_t msgid, const struct ipc_method *m,
                        const void *params)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ipc_pack_request_head(&pk, msgid, m->name);
    if (m->params != NULL && params != NULL) {
        msgpack_pack_array(&pk, 1);
        ipc_type_pack(&pk, m->params, params);
    } else {
        msgpack_pack_array(&pk, 0);
    }
}

void ipc_encode_result(msgpack_sbuffer *sb, uint32_t msgid, const struct ipc_type *t,
                       const void *result)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ipc_pack_response_head(&pk, msgid);
    msgpack_pack_nil(&pk);
    ipc_type_pack(&pk, t, result);
}

void ipc_encode_error(msgpack_sbuffer *sb, uint32_t msgid, enum ipc_errcode code,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct ipc_error e = {.code = (char *)ipc_errcode_name(code), .message = msg};
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ipc_pack_response_head(&pk, msgid);
    ipc_type_pack(&pk, &ipc_error_type, &e);
    msgpack_pack_nil(&pk);
}

void ipc_encode_notify(msgpack_sbuffer *sb, const struct ipc_type *t, const void *params)
{
    ipc_encode_notify_method(sb, IPC_NOTICE_METHOD, t, params);
}

void ipc_encode_notify_method(msgpack_sbuffer *sb, const char *method, const struct ipc_type *t,
                              const void *params)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ipc_pack_notify_head(&pk, method);
    msgpack_pack_array(&pk, 1);
    ipc_type_pack(&pk, t, params);
}

int ipc_decode_params(const msgpack_object *params, const struct ipc_type *t, void *v, char *why,
                      size_t whylen)
{
    static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    if (params->type != MSGPACK_OBJECT_ARRAY || params->via.array.size > 1) {
        snprintf(why, whylen, "params must be an array of at most one map");
        return -1;
    }
    if (t == NULL) {
        return 0;
    }
    return ipc_type_unpack(params->via.array.size == 1 ? &params->via.array.ptr[0] : &nil, t, v,
                           why, whylen);
}

/* The params, then each list against its bound. */
/* The first string in o (keys included) that is not valid UTF-8, or NULL.
 * Depth is bounded by the reader's max_depth. */
const msgpack_object *ipc_bad_utf8(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return utf8_valid_prefix(o->via.str.ptr, o->via.str.size) == o->via.str.size ? NULL : o;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *b = ipc_bad_utf8(&o->via.array.ptr[i]);
            if (b != NULL) {
                return b;
            }
        }
        return NULL;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *b = ipc_bad_utf8(&o->via.map.ptr[i].key);
            if (b == NULL) {
                b = ipc_bad_utf8(&o->via.map.ptr[i].val);
            }
            if (b != NULL) {
                return b;
            }
        }
        return NULL;
    default:
        return NULL;
    }
}

int ipc_host_decode(const msgpack_object *params, struct ipc_host *h, char *why, size_t whylen)
{
    if (ipc_decode_params(params, &ipc_host_type, h, why, whylen) < 0) {
        return -1;
    }
    const struct {
        const char *what;
        size_t n, max;
    } lists[] = {
        {"cpus", h->ncpus, IPC_HOST_CPUS_MAX},
        {"disks", h->ndisks, IPC_HOST_DISKS_MAX},
        {"nets", h->nnets, IPC_HOST_NETS_MAX},
        {"top_cpu", h->ntop_cpu, IPC_HOST_PROCS_MAX},
        {"top_rss", h->ntop_rss, IPC_HOST_PROCS_MAX},
        {"unavailable", h->nunavailable, 16},
    };
    for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
        if (lists[i].n > lists[i].max) {
            snprintf(why, whylen, "%s: %zu entries, at most %zu", lists[i].what, lists[i].n,
                     lists[i].max);
            return -1;
        }
    }
    return 0;
}
