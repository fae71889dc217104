/*
 * test_swarm_toggle.c - migrate.stop_during in swarm mode against a fake
 * engine: stopping updates the service at its current version and waits
 * for its tasks; starting leaves alone a service that was not stopped this
 * way (no update sent); a global service is refused with a message saying
 * what to do; a task that keeps running ends the wait at the deadline.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_dockerd.h"
#include "swarm.h"

#define VERSION                                                                                    \
    {                                                                                              \
        "GET /version ", 200, "{\"ApiVersion\":\"1.41\"}"                                          \
    }
#define REPLICATED                                                                                 \
    "{\"ID\":\"w1\",\"Version\":{\"Index\":7},\"Spec\":{\"Name\":\"p_worker\",\"Labels\":{"        \
    "\"dev.ttdeploy.spec-hash\":\"abc\"},\"Mode\":{\"Replicated\":{\"Replicas\":2}}}}"

/* Runs swarm_toggle_service(on) of p/worker against routes; the requests sent into sent. */
static int toggle(const struct fake_route *routes, int on, long timeout_ms, struct buf *sent,
                  struct tt_err *err)
{
    struct fake_http server;
    struct engine *e = NULL;
    fake_dockerd_start(&server, routes, &e);
    int rc = swarm_toggle_service(e, "p", "worker", on, timeout_ms, err);
    fake_http_requests(&server, sent);
    fake_dockerd_stop(&server, &e);
    return rc;
}

Test(swarm_toggle, stop_updates_the_current_version_and_waits_for_the_tasks)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/services/p_worker ", 200, REPLICATED},
        {"POST /v1.41/services/w1/update?version=7 ", 200, "{}"},
        {"GET /v1.41/tasks?filters=", 200,
         "[{\"DesiredState\":\"shutdown\",\"Status\":{\"State\":\"shutdown\"}}]"},
        {NULL, 0, NULL},
    };
    struct buf sent = {0};
    struct tt_err err = {0};
    cr_assert_eq(toggle(routes, 0, 5000, &sent, &err), 0, "%s", err.msg);
    cr_assert(strstr(sent.data, "POST /v1.41/services/w1/update?version=7 "), "%s", sent.data);
    cr_assert(strstr(sent.data, "GET /v1.41/tasks?filters="), "%s", sent.data);
    buf_release(&sent);
}

Test(swarm_toggle, a_task_still_running_at_the_deadline_is_an_error)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/services/p_worker ", 200, REPLICATED},
        {"POST /v1.41/services/w1/update?version=7 ", 200, "{}"},
        {"GET /v1.41/tasks?filters=", 200,
         "[{\"DesiredState\":\"shutdown\",\"Status\":{\"State\":\"running\"}}]"},
        {NULL, 0, NULL},
    };
    struct buf sent = {0};
    struct tt_err err = {0};
    cr_assert_eq(toggle(routes, 0, 600, &sent, &err), -1);
    cr_assert(strstr(err.msg, "service p_worker: its tasks did not stop within the deadline"), "%s",
              err.msg);
    buf_release(&sent);
}

Test(swarm_toggle, start_leaves_a_service_it_did_not_stop_alone)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/services/p_worker ", 200, REPLICATED},
        {NULL, 0, NULL},
    };
    struct buf sent = {0};
    struct tt_err err = {0};
    cr_assert_eq(toggle(routes, 1, 5000, &sent, &err), 0, "%s", err.msg);
    cr_assert_null(strstr(sent.data, "/update"), "%s", sent.data);
    buf_release(&sent);
}

Test(swarm_toggle, start_gives_the_replicas_back_and_waits_for_them)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/services/p_worker ", 200,
         "{\"ID\":\"w1\",\"Version\":{\"Index\":8},\"Spec\":{\"Name\":\"p_worker\",\"Labels\":{"
         "\"dev.ttdeploy.spec-hash\":\"stopped:abc\",\"dev.ttdeploy.stopped-replicas\":\"1\"},"
         "\"Mode\":{\"Replicated\":{\"Replicas\":0}}}}"},
        {"POST /v1.41/services/w1/update?version=8 ", 200, "{}"},
        {"GET /v1.41/tasks?filters=", 200,
         "[{\"DesiredState\":\"running\",\"Status\":{\"State\":\"running\"}}]"},
        {NULL, 0, NULL},
    };
    struct buf sent = {0};
    struct tt_err err = {0};
    cr_assert_eq(toggle(routes, 1, 5000, &sent, &err), 0, "%s", err.msg);
    cr_assert(strstr(sent.data, "POST /v1.41/services/w1/update?version=8 "), "%s", sent.data);
    buf_release(&sent);
}

Test(swarm_toggle, a_global_service_is_refused)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/services/p_worker ", 200,
         "{\"ID\":\"w1\",\"Version\":{\"Index\":7},\"Spec\":{\"Name\":\"p_worker\",\"Labels\":{},"
         "\"Mode\":{\"Global\":{}}}}"},
        {NULL, 0, NULL},
    };
    struct buf sent = {0};
    struct tt_err err = {0};
    cr_assert_eq(toggle(routes, 0, 5000, &sent, &err), -1);
    cr_assert(strstr(err.msg, "service p_worker is global"), "%s", err.msg);
    cr_assert(strstr(err.msg, "remove it from stop_during"), "%s", err.msg);
    cr_assert_null(strstr(sent.data, "/update"), "%s", sent.data);
    buf_release(&sent);
}
