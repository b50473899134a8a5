/* rpc.c - the table of socket methods and what their handlers share. */
#include "rpc.h"

#include <stdlib.h>
#include <string.h>

/* One row a method. A new method is a row here and a handler in the
 * rpc_<area>.c it belongs to; tests/unit/test_ipc_wire.c checks that every
 * method has a row. */
const struct rpc_handler rpc_handlers[IPC_M_COUNT] = {
    [IPC_M_HELLO] = {rpc_hello, .admin = false, .before_hello = true},
    [IPC_M_STATUS_GET] = {rpc_status_get, .admin = false},
    [IPC_M_CHECKS_LIST] = {rpc_checks_list, .admin = false},
    [IPC_M_CHECKS_GET] = {rpc_checks_get, .admin = false},
    [IPC_M_CHECKS_HISTORY] = {rpc_checks_history, .admin = false},
    [IPC_M_CHECKS_RUN] = {rpc_checks_run, .admin = true},
    [IPC_M_CHECKS_PAUSE] = {rpc_checks_pause, .admin = true},
    [IPC_M_CHECKS_RESUME] = {rpc_checks_resume, .admin = true},
    [IPC_M_DEPLOYS_LIST] = {rpc_deploys_list, .admin = false},
    [IPC_M_DEPLOYS_RECORD] = {rpc_deploys_record, .admin = true},
    [IPC_M_EVENTS_LIST] = {rpc_events_list, .admin = false},
    [IPC_M_EVENTS_SUBSCRIBE] = {rpc_events_subscribe, .admin = false},
    [IPC_M_EVENTS_UNSUBSCRIBE] = {rpc_events_unsubscribe, .admin = false},
    [IPC_M_RELOAD] = {rpc_reload, .admin = true},
    [IPC_M_CHECKS_STATS] = {rpc_checks_stats, .admin = false},
    [IPC_M_ALERTS_LIST] = {rpc_alerts_list, .admin = false},
    [IPC_M_ALERTS_ACK] = {rpc_alerts_ack, .admin = true},
    [IPC_M_ALERTS_SILENCE] = {rpc_alerts_silence, .admin = true},
    [IPC_M_ALERTS_UNSILENCE] = {rpc_alerts_unsilence, .admin = true},
    [IPC_M_ALERTS_SILENCES] = {rpc_alerts_silences, .admin = false},
    [IPC_M_MAINTENANCE_LIST] = {rpc_maintenance_list, .admin = false},
    [IPC_M_MAINTENANCE_ADD] = {rpc_maintenance_add, .admin = true},
    [IPC_M_MAINTENANCE_REMOVE] = {rpc_maintenance_remove, .admin = true},
    [IPC_M_HOST_GET] = {rpc_host_get, .admin = false},
};

/* Free the app index. */
void rpc_state_finish(struct rpc_state *s)
{
    free(s->app_slot);
    free(s->apps);
    memset(s, 0, sizeof(*s));
}

/* Both NULL, or the same string. */
bool rpc_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* A limit in 0..max, else invalid_params is answered. */
bool rpc_limit_ok(struct ipc_conn *c, uint32_t msgid, int64_t limit, int64_t max)
{
    if (limit < 0 || limit > max) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "limit: between 1 and %lld",
                       (long long)max);
        return false;
    }
    return true;
}

/* A positive id, else invalid_params is answered. */
bool rpc_id_ok(struct ipc_conn *c, uint32_t msgid, int64_t id)
{
    if (id < 1) {
        ipc_conn_error(c, msgid, IPC_E_INVALID_PARAMS, "id: must be a positive integer");
        return false;
    }
    return true;
}
