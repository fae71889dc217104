/*
 * swarm_toggle.c - stopping a service and starting it again in swarm
 * mode, for migrate.stop_during: what stopping a container is in local
 * mode (stack_toggle_service) is here scaling the Swarm service to 0
 * replicas and back.
 *
 * Stopping updates the service's current spec (its version, so that a
 * concurrent change is refused rather than overwritten) with Replicas 0,
 * and writes down how to undo it in the service's own labels before
 * anything stops: SWARM_LABEL_STOPPED holds the replicas to give back, and
 * the spec hash label is prefixed with "stopped:" so that, should ttdeploy
 * die before starting it again, the next `up` sees a spec that is not the
 * compose file's and updates the service back to its replicas.  It then
 * waits until none of the service's tasks runs (every wait has the
 * caller's deadline).  Starting puts the replicas and the hash back and
 * waits until that many tasks run (or start: their container runs, the
 * healthcheck is up to `up`); a service that was not stopped this
 * way is left alone.  Global services have no replica count and are
 * refused.
 */
#include "swarm.h"
#include "buf.h"
#include "monotime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STOPPED_PREFIX "stopped:"

/* Whether task state st means its container no longer runs (nor will). */
static int ended(const char *st)
{
    const char *done[] = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"};
    for (size_t i = 0; st && i < sizeof(done) / sizeof(done[0]); i++)
        if (!strcmp(st, done[i]))
            return 1;
    return 0;
}

/*
 * Waits until service id runs exactly want tasks (want 0: until every
 * task ended), or -1 with err at the deadline naming the service.
 */
static int wait_tasks(struct engine *e, const char *id, const char *name, json_int_t want,
                      double deadline, struct tt_err *err)
{
    for (;;) {
        json_t *tasks = NULL, *t;
        size_t i, running = 0, live = 0;
        if (swarm_service_tasks(e, id, 0, &tasks, err) < 0)
            return -1;
        json_array_foreach(tasks, i, t)
        {
            const char *st =
                json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
            const char *desired = json_string_value(json_object_get(t, "DesiredState"));
            live += !ended(st);
            running += st && (!strcmp(st, "running") || !strcmp(st, "starting")) && desired &&
                       !strcmp(desired, "running");
        }
        json_decref(tasks);
        if (want == 0 ? live == 0 : (json_int_t)running >= want)
            return 0;
        if (monotime_now() > deadline)
            return tt_error(err,
                            "service %s: %s within the deadline (%zu task(s) still running); "
                            "see `docker service ps %s`",
                            name, want == 0 ? "its tasks did not stop" : "its tasks did not start",
                            want == 0 ? live : running, name);
        usleep(SWARM_POLL_MS * 1000);
    }
}

/* POST /services/ID/update?version=N with spec (the service's, changed). */
static int update(struct engine *e, const json_t *svc, json_t *spec, struct tt_err *err)
{
    struct buf path = {0};
    const char *id = json_string_value(json_object_get(svc, "ID"));
    json_int_t version =
        json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
    engine_pathf(&path, "/services/%s/update", id);
    buf_printf(&path, "?version=%" JSON_INTEGER_FORMAT, version);
    int rc = engine_call_ok(e, "POST", path.data, spec, 30000, NULL, err);
    buf_release(&path);
    return rc;
}

/* Scales svc (named name) to 0, remembering its replicas and marking its hash. */
static int stop(struct engine *e, const json_t *svc, const char *name, double deadline,
                struct tt_err *err)
{
    json_t *spec = json_deep_copy(json_object_get(svc, "Spec"));
    json_t *rep = json_object_get(json_object_get(spec, "Mode"), "Replicated");
    json_t *labels = json_object_get(spec, "Labels");
    const char *hash = json_string_value(json_object_get(labels, SWARM_LABEL_HASH));
    int rc = 0;

    if (!rep)
        rc = tt_error(err,
                      "service %s is global: migrate.stop_during scales a service to 0 replicas "
                      "in swarm mode, which a global service has not; remove it from "
                      "stop_during or make it replicated",
                      name);
    if (rc == 0 && !json_object_get(labels, SWARM_LABEL_STOPPED)) {
        struct buf marked = {0};
        char count[32];
        snprintf(count, sizeof(count), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(rep, "Replicas")));
        buf_printf(&marked, "%s%s", STOPPED_PREFIX, hash ? hash : "");
        json_object_set_new(labels, SWARM_LABEL_STOPPED, json_string(count));
        json_object_set_new(labels, SWARM_LABEL_HASH, json_string(marked.data));
        json_object_set_new(rep, "Replicas", json_integer(0));
        rc = update(e, svc, spec, err);
        buf_release(&marked);
    }
    if (rc == 0)
        rc = wait_tasks(e, json_string_value(json_object_get(svc, "ID")), name, 0, deadline, err);
    json_decref(spec);
    return rc;
}

/* Gives svc (named name) its replicas and hash back when stop() marked it. */
static int start(struct engine *e, const json_t *svc, const char *name, double deadline,
                 struct tt_err *err)
{
    json_t *spec = json_deep_copy(json_object_get(svc, "Spec"));
    json_t *labels = json_object_get(spec, "Labels");
    const char *count = json_string_value(json_object_get(labels, SWARM_LABEL_STOPPED));
    const char *hash = json_string_value(json_object_get(labels, SWARM_LABEL_HASH));
    json_t *rep = json_object_get(json_object_get(spec, "Mode"), "Replicated");
    int rc = 0;

    if (count && rep) {
        json_int_t want = strtoll(count, NULL, 10);
        json_object_set_new(rep, "Replicas", json_integer(want));
        if (hash && !strncmp(hash, STOPPED_PREFIX, strlen(STOPPED_PREFIX)))
            json_object_set_new(labels, SWARM_LABEL_HASH,
                                json_string(hash + strlen(STOPPED_PREFIX)));
        json_object_del(labels, SWARM_LABEL_STOPPED);
        rc = update(e, svc, spec, err);
        if (rc == 0 && want > 0)
            rc = wait_tasks(e, json_string_value(json_object_get(svc, "ID")), name, want, deadline,
                            err);
    }
    json_decref(spec);
    return rc;
}

int swarm_toggle_service(struct engine *e, const char *project, const char *service, int on,
                         long timeout_ms, struct tt_err *err)
{
    char *name = swarm_service_name(project, service);
    double deadline = monotime_now() + (timeout_ms > 0 ? timeout_ms : 120000) / 1000.0;
    json_t *svc = NULL;
    int rc = swarm_service_inspect(e, name, &svc, err);

    if (rc == 0 && svc)
        rc = on ? start(e, svc, name, deadline, err) : stop(e, svc, name, deadline, err);
    json_decref(svc);
    free(name);
    return rc;
}
