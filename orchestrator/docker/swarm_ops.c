/*
 * swarm_ops.c - swarm mode outside `up`: the questions the other swarm
 * files ask (a service, its tasks, the engine's node), a one-off command
 * as a replicated-job service run to completion, the container of a
 * service's task for an exec, and bringing the project's services down.
 */
#include "swarm.h"
#include "buf.h"
#include "monotime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int swarm_check_manager(struct engine *e, struct tt_err *err)
{
    json_t *info = NULL;
    char state[64];
    if (engine_call_ok(e, "GET", "/info", NULL, 0, &info, err) < 0)
        return -1;
    json_t *sw = json_object_get(info, "Swarm");
    const char *st = json_string_value(json_object_get(sw, "LocalNodeState"));
    int manager = json_is_true(json_object_get(sw, "ControlAvailable"));
    snprintf(state, sizeof(state), "%s", st ? st : "unknown");
    json_decref(info);
    if (!strcmp(state, "active") && manager)
        return 0;
    return tt_error(err,
                    "the engine at %s is not a Swarm manager (swarm state \"%s\"): run "
                    "`docker swarm init` there, point DOCKER_HOST at a manager, or deploy in "
                    "local mode",
                    engine_host(e), state);
}

int swarm_service_inspect(struct engine *e, const char *name_or_id, json_t **out,
                          struct tt_err *err)
{
    struct buf path = {0};
    json_t *j = NULL;
    engine_pathf(&path, "/services/%s", name_or_id);
    long st = engine_call(e, "GET", path.data, NULL, 0, &j, NULL, err);
    buf_release(&path);
    *out = NULL;
    if (st == 404) {
        json_decref(j);
        return 0;
    }
    if (st != 200) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (st > 0)
            tt_error(err, "GET /services/%s: HTTP %ld: %s", name_or_id, st, msg ? msg : "");
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

int swarm_list(struct engine *e, const char *what, json_t *filters, json_t **out,
               struct tt_err *err)
{
    struct buf path = {0};
    char *text = json_dumps(filters, JSON_COMPACT);
    buf_printf(&path, "/%s?filters=", what);
    engine_urlencode(text, &path);
    int rc = engine_call_ok(e, "GET", path.data, NULL, 0, out, err);
    free(text);
    json_decref(filters);
    buf_release(&path);
    return rc;
}

int swarm_service_tasks(struct engine *e, const char *service_id, int running_only, json_t **out,
                        struct tt_err *err)
{
    json_t *f = json_pack("{s:[s]}", "service", service_id);
    if (running_only)
        json_object_set_new(f, "desired-state", json_pack("[s]", "running"));
    return swarm_list(e, "tasks", f, out, err);
}

char *swarm_local_node(struct engine *e)
{
    json_t *info = NULL;
    struct tt_err err = {0};
    char *id = NULL;
    if (engine_call_ok(e, "GET", "/info", NULL, 0, &info, &err) == 0) {
        const char *s =
            json_string_value(json_object_get(json_object_get(info, "Swarm"), "NodeID"));
        id = s ? xstrdup(s) : NULL;
    }
    json_decref(info);
    return id;
}

const char *swarm_task_hash(const json_t *task)
{
    json_t *labels = json_object_get(
        json_object_get(json_object_get(json_object_get(task, "Spec"), "ContainerSpec"), "Labels"),
        SWARM_LABEL_HASH);
    return json_string_value(labels);
}

void swarm_service_logs(struct engine *e, const char *service_id, struct buf *out)
{
    struct buf path = {0}, raw = {0};
    struct tt_err err = {0};
    engine_pathf(&path, "/services/%s/logs", service_id);
    buf_adds(&path, "?stdout=1&stderr=1&tail=20");
    if (engine_call(e, "GET", path.data, NULL, 0, NULL, &raw, &err) == 200)
        engine_demux(&raw, out);
    buf_release(&path);
    buf_release(&raw);
}

/* ---- a one-off command as a replicated job -------------------------------- */

/* The job's task once it ended (borrowed from *tasks), NULL while it runs. */
static json_t *ended_task(json_t *tasks)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        const char *st = json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
        if (st && (!strcmp(st, "complete") || !strcmp(st, "failed") || !strcmp(st, "rejected") ||
                   !strcmp(st, "shutdown") || !strcmp(st, "orphaned")))
            return t;
    }
    return NULL;
}

/*
 * Waits for the job service id to end: its exit code and its task's
 * container (caller frees), or -1 with err at the deadline.
 */
static int wait_job(struct engine *e, const char *id, const char *name, long timeout_ms,
                    int *exit_code, char **container, struct tt_err *err)
{
    double deadline = monotime_now() + timeout_ms / 1000.0;
    for (;;) {
        json_t *tasks = NULL;
        if (swarm_service_tasks(e, id, 0, &tasks, err) < 0)
            return -1;
        json_t *t = ended_task(tasks);
        if (t) {
            json_t *status = json_object_get(t, "Status");
            json_t *cs = json_object_get(status, "ContainerStatus");
            json_t *code = json_object_get(cs, "ExitCode");
            const char *cid = json_string_value(json_object_get(cs, "ContainerID"));
            *container = cid ? xstrdup(cid) : NULL;
            const char *why = json_string_value(json_object_get(status, "Err"));
            int rc = 0;
            if (json_is_integer(code))
                *exit_code = (int)json_integer_value(code);
            else
                rc = tt_error(err, "job %s ended \"%s\" without an exit code: %s", name,
                              json_string_value(json_object_get(status, "State")),
                              why ? why : "no message from Swarm");
            json_decref(tasks);
            return rc;
        }
        json_decref(tasks);
        if (monotime_now() > deadline)
            return tt_error(err, "job %s did not end within %ld s", name, timeout_ms / 1000);
        usleep(SWARM_POLL_MS * 1000);
    }
}

int swarm_run_job(struct engine *e, const struct compose_project *p,
                  const struct compose_service *s, const char *image, const struct strv *argv,
                  const struct strv *env_override, long timeout_ms, int *exit_code,
                  struct buf *logs, struct tt_err *err)
{
    struct buf name = {0}, path = {0};
    json_t *resp = NULL;
    char *container = NULL;
    int rc = -1;

    *exit_code = -1;
    buf_printf(&name, "%s_%s-job-%ld-%ld", p->name, s->name, (long)getpid(),
               (long)time(NULL) % 100000);
    json_t *spec = swarm_job_spec(p, s, image, argv, env_override, name.data);
    if (swarm_check_manager(e, err) < 0 ||
        engine_call_ok(e, "POST", "/services/create", spec, 30000, &resp, err) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(resp, "ID"));
    rc = wait_job(e, id, name.data, timeout_ms > 0 ? timeout_ms : 3600000, exit_code, &container,
                  err);
    if (logs)
        swarm_service_logs(e, id, logs);
    struct tt_err e2 = {0};
    engine_pathf(&path, "/services/%s", id);
    engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, &e2);
    /* Swarm keeps a finished job's container after its service is gone: removed here
     * when it is on this node (elsewhere, the node's task history limit removes it) */
    if (container) {
        buf_reset(&path);
        engine_pathf(&path, "/containers/%s", container);
        buf_adds(&path, "?force=1");
        engine_call(e, "DELETE", path.data, NULL, 30000, NULL, NULL, &e2);
    }
done:
    free(container);
    json_decref(spec);
    json_decref(resp);
    buf_release(&name);
    buf_release(&path);
    return rc;
}

/* ---- the container of a task, for an exec ---------------------------------- */

/* The hostname of node id (caller frees). */
static char *node_name(struct engine *e, const char *id)
{
    struct buf path = {0};
    json_t *n = NULL;
    struct tt_err err = {0};
    engine_pathf(&path, "/nodes/%s", id);
    engine_call_ok(e, "GET", path.data, NULL, 0, &n, &err);
    const char *h =
        json_string_value(json_object_get(json_object_get(n, "Description"), "Hostname"));
    char *out = xstrdup(h ? h : id);
    json_decref(n);
    buf_release(&path);
    return out;
}

char *swarm_container_id(struct engine *e, const char *project, const char *service,
                         struct tt_err *err)
{
    char *name = swarm_service_name(project, service), *local = NULL, *out = NULL;
    json_t *svc = NULL, *tasks = NULL, *t;
    size_t i;

    if (swarm_service_inspect(e, name, &svc, err) < 0)
        goto done;
    if (!svc)
        goto done;
    if (swarm_service_tasks(e, json_string_value(json_object_get(svc, "ID")), 1, &tasks, err) < 0)
        goto done;
    local = swarm_local_node(e);
    json_array_foreach(tasks, i, t)
    {
        json_t *st = json_object_get(t, "Status");
        const char *state = json_string_value(json_object_get(st, "State"));
        const char *cid = json_string_value(
            json_object_get(json_object_get(st, "ContainerStatus"), "ContainerID"));
        const char *node = json_string_value(json_object_get(t, "NodeID"));
        /* "starting": the container runs, Swarm awaits its first healthy check (swarm_up
         * may have found it healthy already by running the check itself) */
        if (!state || (strcmp(state, "running") && strcmp(state, "starting")) || !cid)
            continue;
        if (local && node && strcmp(node, local)) {
            char *host = node_name(e, node);
            tt_error(err,
                     "service %s's task runs on node %s, not on the engine ttdeploy talks to: "
                     "an exec reaches only its own node's containers; add "
                     "deploy.placement.constraints: [node.role == manager] to %s (or point "
                     "DOCKER_HOST at that node)",
                     name, host, service);
            free(host);
            goto done;
        }
        out = xstrdup(cid);
        goto done;
    }
done:
    free(name);
    free(local);
    json_decref(svc);
    json_decref(tasks);
    return out;
}
