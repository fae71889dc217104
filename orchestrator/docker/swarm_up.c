/*
 * swarm_up.c - `up`, its preview and `down` (with -v, the named volumes
 * too) in swarm mode.
 *
 * up goes layer by layer through the DAG: it creates a layer's missing
 * services and updates those whose spec hash changed (POST
 * /services/ID/update?version=N with the whole spec: Swarm keeps only
 * one PreviousSpec, ttdeploy always sends the one it means), then waits
 * until each of them is ready before the next layer starts:
 *
 *   ready    as many tasks running the new spec (their container spec
 *            carries the hash) as the service wants, no task of an older
 *            spec still meant to run, and, when the task runs on the
 *            engine's own node and has a healthcheck, its container
 *            healthy (Swarm itself says "running" only after the first
 *            healthy check)
 *   failed   UpdateStatus rollback_started, rollback_paused,
 *            rollback_completed or paused: Swarm gave up on the update
 *            (and may have put the previous spec back), which is a failure
 *            of the phase with Swarm's message; or the deadline passed,
 *            with the tasks' states and last error
 *
 * A service that failed stops the layers after it ("skipped").
 */
#include "swarm.h"
#include "buf.h"
#include "monotime.h"
#include "container_spec.h"
#include "stack_private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct sw {
    const struct compose_service *s;
    struct swarm_spec *spec;
    int selected;
    char *id; /* the Swarm service's ID once it exists */
    json_int_t version;
    char *old_image;
    const char *action; /* create, update, unchanged */
    const char *state;  /* pending, running, healthy, failed, skipped */
    char *image_id;
    char *error;
    double t0, seconds;
};

struct sw_run {
    struct engine *e;
    const struct compose_project *p;
    const struct dag *d;
    const struct stack_options *o;
    struct sw *v; /* by service index */
    json_t *events;
    char *node; /* the engine's own node */
};

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static void event(struct sw_run *r, const struct sw *v, const char *action)
{
    json_array_append_new(r->events, json_pack("{s:f, s:s, s:s}", "time", wall_now(), "service",
                                               v->s->name, "action", action));
}

static void sw_run_free(struct sw_run *r)
{
    for (size_t i = 0; r->v && i < r->d->n; i++) {
        swarm_spec_free(r->v[i].spec);
        free(r->v[i].id);
        free(r->v[i].old_image);
        free(r->v[i].image_id);
        free(r->v[i].error);
    }
    free(r->v);
    free(r->node);
    json_decref(r->events);
}

/* Marks the services named in o (all when none) and everything they depend on. */
static int select_services(struct sw_run *r, struct tt_err *err)
{
    const struct strv *names = &r->o->services;
    for (size_t i = 0; i < r->d->n; i++)
        r->v[i].selected = !names->n || strv_contains(names, r->p->services[i]->name);
    for (size_t k = 0; k < names->n; k++)
        if (!compose_find_service(r->p, names->v[k]))
            return tt_error(err, "no service \"%s\" in the project: see `ttdeploy config`",
                            names->v[k]);
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t k = 0; k < r->d->nedges; k++) {
            const struct dag_edge *ed = &r->d->edges[k];
            if (r->v[ed->from].selected && !r->v[ed->to].selected)
                r->v[ed->to].selected = changed = 1;
        }
    }
    return 0;
}

/* What exists of v's service: its ID, version and the spec hash and image it runs. */
static int read_existing(struct sw_run *r, struct sw *v, struct tt_err *err)
{
    json_t *svc = NULL;
    if (swarm_service_inspect(r->e, v->spec->name, &svc, err) < 0)
        return -1;
    v->action = "create";
    if (!svc)
        return 0;
    json_t *labels = json_object_get(json_object_get(svc, "Spec"), "Labels");
    const char *hash = json_string_value(json_object_get(labels, SWARM_LABEL_HASH));
    const char *image = json_string_value(json_object_get(labels, SWARM_LABEL_IMAGE));
    v->id = xstrdup(json_string_value(json_object_get(svc, "ID")));
    v->version = json_integer_value(json_object_get(json_object_get(svc, "Version"), "Index"));
    v->old_image = image ? xstrdup(image) : NULL;
    v->action = hash && !strcmp(hash, v->spec->hash) ? "unchanged" : "update";
    json_decref(svc);
    return 0;
}

static void read_image_id(struct sw_run *r, struct sw *v)
{
    struct buf path = {0};
    json_t *img = NULL;
    struct tt_err err = {0};
    const char *image = json_string_value(json_object_get(
        json_object_get(json_object_get(v->spec->body, "TaskTemplate"), "ContainerSpec"), "Image"));
    stack_image_path(image, &path);
    if (engine_call_ok(r->e, "GET", path.data, NULL, 0, &img, &err) == 0 &&
        json_string_value(json_object_get(img, "Id")))
        v->image_id = xstrdup(json_string_value(json_object_get(img, "Id")));
    json_decref(img);
    buf_release(&path);
}

static int prepare(struct sw_run *r, struct engine *e, const struct compose_project *p,
                   const struct dag *d, const struct stack_options *o, struct tt_err *err)
{
    memset(r, 0, sizeof(*r));
    r->e = e;
    r->p = p;
    r->d = d;
    r->o = o;
    r->v = xcalloc(d->n + 1, sizeof(*r->v));
    r->events = json_array();
    if (o->nslots)
        return tt_error(err,
                        "service \"%s\" has a blue-green rollout, which swarm mode does not do: "
                        "Swarm replaces tasks itself; use deploy.update_config.order: "
                        "start-first for an overlap, or deploy in local mode",
                        o->slots[0].service);
    if (select_services(r, err) < 0 || swarm_check_manager(e, err) < 0)
        return -1;
    r->node = swarm_local_node(e);
    for (size_t i = 0; i < d->n; i++) {
        struct sw *v = &r->v[i];
        v->s = p->services[i];
        v->state = "pending";
        if (!v->selected)
            continue;
        if (swarm_spec_check(v->s, err) < 0)
            return -1;
        v->spec = swarm_spec_new(p, v->s, NULL);
        const char *recorded = json_string_value(json_object_get(o->recorded_specs, v->s->name));
        if (recorded && swarm_spec_use_recorded(v->spec, recorded, err) < 0)
            return -1;
        if (read_existing(r, v, err) < 0)
            return -1;
        read_image_id(r, v);
    }
    return 0;
}

/* One result per selected service, in DAG order. */
static void report_of(struct sw_run *r, struct stack_report *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    out->v = xcalloc(r->d->n + 1, sizeof(*out->v));
    for (size_t k = 0; k < r->d->n; k++) {
        struct sw *v = &r->v[r->d->order[k]];
        if (!v->selected)
            continue;
        struct stack_result *x = &out->v[out->n++];
        x->service = xstrdup(v->s->name);
        x->action = v->action;
        x->state = v->state;
        snprintf(x->how, sizeof(x->how), "%s", "swarm");
        x->seconds = v->seconds;
        x->container_id = v->id ? xstrdup(v->id) : NULL;
        x->image = xstrdup(json_string_value(json_object_get(
            json_object_get(json_object_get(v->spec->body, "TaskTemplate"), "ContainerSpec"),
            "Image")));
        x->image_id = v->image_id ? xstrdup(v->image_id) : NULL;
        x->old_image = v->old_image ? xstrdup(v->old_image) : NULL;
        x->config_hash = xstrdup(v->spec->hash);
        x->error = v->error ? xstrdup(v->error) : NULL;
        json_t *keep = swarm_spec_recordable(v->spec->body);
        x->spec = json_dumps(keep, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(keep);
        x->version = v->version;
    }
    out->events = json_incref(r->events);
}

int swarm_preview(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *o, struct stack_report *report, struct tt_err *err)
{
    struct sw_run r;
    int rc = prepare(&r, e, p, d, o, err);
    if (rc == 0)
        report_of(&r, report);
    sw_run_free(&r);
    return rc;
}

/* Creates the overlay networks the selected services join and that do not exist yet. */
static int ensure_networks(struct sw_run *r, struct tt_err *err)
{
    struct strv nets = {0};
    struct buf path = {0};
    int rc = 0;
    for (size_t i = 0; i < r->d->n; i++)
        if (r->v[i].selected)
            swarm_spec_networks(r->p, r->v[i].s, &nets);
    for (size_t i = 0; rc == 0 && i < nets.n; i++) {
        buf_reset(&path);
        engine_pathf(&path, "/networks/%s", nets.v[i]);
        long st = engine_call(r->e, "GET", path.data, NULL, 0, NULL, NULL, err);
        if (st == 200)
            continue;
        json_t *body = swarm_network_body(r->p, nets.v[i]);
        rc = engine_call_ok(r->e, "POST", "/networks/create", body, 0, NULL, err);
        json_decref(body);
    }
    strv_clear(&nets);
    buf_release(&path);
    return rc;
}

static void fail(struct sw *v, const char *msg)
{
    v->state = "failed";
    free(v->error);
    v->error = xstrdup(msg);
}

/* Creates or updates v's service (unchanged: nothing). */
static void apply_one(struct sw_run *r, struct sw *v)
{
    struct tt_err err = {0};
    struct buf path = {0};
    json_t *resp = NULL;
    v->t0 = monotime_now();
    if (!strcmp(v->action, "create")) {
        if (engine_call_ok(r->e, "POST", "/services/create", v->spec->body, 0, &resp, &err) == 0)
            v->id = xstrdup(json_string_value(json_object_get(resp, "ID")));
    } else if (!strcmp(v->action, "update")) {
        engine_pathf(&path, "/services/%s/update", v->id);
        buf_printf(&path, "?version=%" JSON_INTEGER_FORMAT, v->version);
        engine_call_ok(r->e, "POST", path.data, v->spec->body, 0, &resp, &err);
    }
    if (err.msg[0]) {
        struct buf m = {0};
        buf_printf(&m, "service %s: %s failed: %s", v->spec->name, v->action, err.msg);
        fail(v, m.data);
        buf_release(&m);
    } else if (strcmp(v->action, "unchanged")) {
        event(r, v, v->action);
    }
    json_decref(resp);
    buf_release(&path);
}

/* How many replicas service svc wants (global: -1). */
static json_int_t wanted(const json_t *svc)
{
    json_t *mode = json_object_get(json_object_get(svc, "Spec"), "Mode");
    json_t *rep = json_object_get(mode, "Replicated");
    return rep ? json_integer_value(json_object_get(rep, "Replicas")) : -1;
}

/* The state of Swarm's last update of svc when it gave up on it, else NULL. */
static const char *gave_up(const json_t *svc, const char **message)
{
    json_t *us = json_object_get(svc, "UpdateStatus");
    const char *st = json_string_value(json_object_get(us, "State"));
    *message = json_string_value(json_object_get(us, "Message"));
    if (st && (!strncmp(st, "rollback", 8) || !strcmp(st, "paused")))
        return st;
    return NULL;
}

/*
 * One look at v: 1 ready, 0 not yet, -1 failed (v->error set).  why
 * receives what the tasks are doing, for the deadline's message.
 */
/*
 * The healthcheck's test as an argv for exec ("CMD" argv..., or "CMD-SHELL"
 * through /bin/sh -c), or NULL when it is the image's own (not known here).
 */
static json_t *check_argv(const struct compose_healthcheck *h)
{
    json_t *argv;
    if (h->test.n < 2 || h->disable)
        return NULL;
    if (!strcmp(h->test.v[0], "CMD-SHELL"))
        return json_pack("[s, s, s]", "/bin/sh", "-c", h->test.v[1]);
    if (strcmp(h->test.v[0], "CMD"))
        return NULL;
    argv = json_array();
    for (size_t i = 1; i < h->test.n; i++)
        json_array_append_new(argv, json_string(h->test.v[i]));
    return argv;
}

/*
 * Whether a task's container on this engine's node is healthy: Docker
 * says so, or (while Docker has yet to run its first check, one interval
 * after the start) the service's own check passes when run now through
 * exec, as local mode's probes do.  A failed probe proves nothing.
 */
static int local_ready(struct sw_run *r, const struct sw *v, const char *cid)
{
    char *h = stack_container_health(r->e, cid);
    int ready = !strcmp(h, "healthy"), starting = !strcmp(h, "starting");
    free(h);
    json_t *argv = starting ? check_argv(&v->s->healthcheck) : NULL;
    if (argv) {
        struct tt_err ignored = {0};
        struct buf out = {0};
        long ms =
            v->s->healthcheck.timeout > 0 ? (long)(v->s->healthcheck.timeout / 1000000) : 30000;
        int code = -1;
        ready = engine_exec(r->e, cid, argv, ms, &code, &out, &ignored) == 0 && code == 0;
        buf_release(&out);
        json_decref(argv);
    }
    return ready;
}

static int look(struct sw_run *r, struct sw *v, struct buf *why)
{
    struct tt_err err = {0};
    json_t *svc = NULL, *tasks = NULL, *t;
    const char *msg;
    size_t i, ours = 0, others = 0;
    int rc = 0;

    if (swarm_service_inspect(r->e, v->id, &svc, &err) < 0 || !svc) {
        fail(v, err.msg[0] ? err.msg : "the service disappeared while ttdeploy waited for it");
        return -1;
    }
    const char *st = strcmp(v->action, "create") ? gave_up(svc, &msg) : NULL;
    if (st) {
        struct buf m = {0};
        buf_printf(&m,
                   "service %s: Swarm did not complete the update (UpdateStatus %s): %s; the "
                   "service runs %s spec now",
                   v->spec->name, st, msg ? msg : "no message",
                   !strncmp(st, "rollback", 8) ? "its previous" : "a mix of the old and new");
        fail(v, m.data);
        buf_release(&m);
        json_decref(svc);
        return -1;
    }
    json_int_t want = wanted(svc);
    if (swarm_service_tasks(r->e, v->id, 0, &tasks, &err) < 0) {
        fail(v, err.msg);
        json_decref(svc);
        return -1;
    }
    buf_reset(why);
    json_array_foreach(tasks, i, t)
    {
        json_t *status = json_object_get(t, "Status");
        const char *state = json_string_value(json_object_get(status, "State"));
        const char *desired = json_string_value(json_object_get(t, "DesiredState"));
        const char *hash = swarm_task_hash(t);
        const char *terr = json_string_value(json_object_get(status, "Err"));
        int mine = hash && !strcmp(hash, v->spec->hash);
        if (mine && state)
            buf_printf(why, "%s%s%s%s", why->len ? ", " : "", state, terr ? ": " : "",
                       terr ? terr : "");
        if (!desired || strcmp(desired, "running"))
            continue;
        if (!mine) {
            others++;
            continue;
        }
        if (!state || (strcmp(state, "running") && strcmp(state, "starting")))
            continue;
        const char *cid = json_string_value(
            json_object_get(json_object_get(status, "ContainerStatus"), "ContainerID"));
        const char *node = json_string_value(json_object_get(t, "NodeID"));
        if (v->spec->has_healthcheck && cid && r->node && node && !strcmp(node, r->node)) {
            if (!local_ready(r, v, cid))
                continue;
        } else if (strcmp(state, "running")) {
            continue; /* on another node: Swarm's "running" follows the first healthy check */
        }
        ours++;
    }
    if (others == 0 && (want < 0 ? ours > 0 : (json_int_t)ours >= want))
        rc = 1;
    json_decref(tasks);
    json_decref(svc);
    return rc;
}

/* Waits for the services of one layer (those in batch) until deadline. */
static void wait_layer(struct sw_run *r, struct sw **batch, size_t n, double deadline)
{
    struct buf why = {0};
    size_t left = 0;
    for (size_t i = 0; i < n; i++)
        left += !strcmp(batch[i]->state, "pending");
    while (left) {
        for (size_t i = 0; i < n; i++) {
            struct sw *v = batch[i];
            if (strcmp(v->state, "pending"))
                continue;
            int rc = look(r, v, &why);
            if (rc == 0 && monotime_now() > deadline) {
                struct buf m = {0};
                buf_printf(&m, "service %s: not ready within %ld s (tasks of this spec: %s)",
                           v->spec->name, r->o->timeout_ms > 0 ? r->o->timeout_ms / 1000 : 120,
                           why.len ? why.data : "none yet");
                fail(v, m.data);
                buf_release(&m);
                rc = -1;
            }
            if (rc == 1) {
                v->state = v->spec->has_healthcheck ? "healthy" : "running";
                v->seconds = monotime_now() - v->t0;
                event(r, v, v->state);
            }
            left -= rc != 0;
        }
        if (left)
            usleep(SWARM_POLL_MS * 1000);
    }
    buf_release(&why);
}

int swarm_up(struct engine *e, const struct compose_project *p, const struct dag *d,
             const struct stack_options *o, struct stack_report *report, struct tt_err *err)
{
    struct sw_run r;
    double deadline = monotime_now() + (o->timeout_ms > 0 ? o->timeout_ms : 120000) / 1000.0;
    struct sw **batch = xcalloc(d->n + 1, sizeof(*batch));
    const struct sw *failed = NULL;
    int rc = prepare(&r, e, p, d, o, err);

    if (rc == 0)
        rc = ensure_networks(&r, err);
    for (size_t k = 0; rc == 0 && k < d->nlayers; k++) {
        size_t n = 0;
        for (size_t j = d->layer_start[k]; j < d->layer_start[k + 1]; j++) {
            struct sw *v = &r.v[d->order[j]];
            if (!v->selected)
                continue;
            if (failed) {
                v->state = "skipped";
                continue;
            }
            apply_one(&r, v);
            batch[n++] = v;
        }
        if (failed)
            continue;
        wait_layer(&r, batch, n, deadline);
        for (size_t i = 0; !failed && i < n; i++)
            if (!strcmp(batch[i]->state, "failed"))
                failed = batch[i];
    }
    if (rc == 0 && failed)
        rc = tt_error(err, "%s", failed->error);
    if (rc == 0 || failed)
        report_of(&r, report);
    free(batch);
    sw_run_free(&r);
    return rc;
}

/* ---- down ------------------------------------------------------------------ */

/* The project's services (GET /services by namespace label), a new array. */
static int project_services(struct engine *e, const char *project, json_t **out, struct tt_err *err)
{
    struct buf label = {0};
    buf_printf(&label, "%s=%s", SWARM_LABEL_NAMESPACE, project);
    int rc = swarm_list(e, "services", json_pack("{s:[s]}", "label", label.data), out, err);
    buf_release(&label);
    return rc;
}

/* Removes the service called name when it is in list. */
static int remove_named(struct engine *e, json_t *list, const char *name, struct tt_err *err)
{
    size_t i;
    json_t *s;
    struct buf path = {0};
    int rc = 0;
    json_array_foreach(list, i, s)
    {
        const char *n = json_string_value(json_object_get(json_object_get(s, "Spec"), "Name"));
        if (!n || strcmp(n, name))
            continue;
        engine_pathf(&path, "/services/%s", json_string_value(json_object_get(s, "ID")));
        long st = engine_call(e, "DELETE", path.data, NULL, 0, NULL, NULL, err);
        if (st != 200 && st != 404)
            rc = tt_error(err, "could not remove service %s (HTTP %ld): %s", name, st, err->msg);
        break;
    }
    buf_release(&path);
    return rc;
}

/*
 * Removes a network or volume (kind "networks" or "volumes") called name,
 * retrying until deadline while the removed tasks' containers, which Swarm
 * deletes after their service, still hold it.
 */
static int remove_when_free(struct engine *e, const char *kind, const char *name, double deadline,
                            struct tt_err *err)
{
    struct buf path = {0};
    long st;
    buf_printf(&path, "/%s", kind);
    engine_pathf(&path, "/%s", name);
    while ((st = engine_call(e, "DELETE", path.data, NULL, 0, NULL, NULL, err)) != 204 &&
           st != 200 && st != 404 && monotime_now() < deadline)
        usleep(SWARM_POLL_MS * 1000);
    buf_release(&path);
    if (st == 204 || st == 200 || st == 404)
        return 0;
    return tt_error(err,
                    "could not remove %.*s %s (HTTP %ld): its tasks' containers may still "
                    "run; see `docker ps -a`",
                    (int)strlen(kind) - 1, kind, name, st);
}

int swarm_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err)
{
    json_t *list = NULL;
    struct strv nets = {0};
    int rc = 0;
    if (swarm_check_manager(e, err) < 0 || project_services(e, p->name, &list, err) < 0)
        return -1;
    /* jobs and services no longer in the compose file first, then the DAG backwards */
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *n = json_string_value(json_object_get(json_object_get(s, "Spec"), "Name"));
        size_t plen = strlen(p->name);
        if (n && !(strncmp(n, p->name, plen) == 0 && n[plen] == '_' &&
                   compose_find_service(p, n + plen + 1)))
            rc |= remove_named(e, list, n, err);
    }
    for (size_t k = d->n; k-- > 0;) {
        char *name = swarm_service_name(p->name, dag_name(d, d->order[k]));
        rc |= remove_named(e, list, name, err);
        free(name);
    }
    for (size_t k = 0; k < d->n; k++)
        swarm_spec_networks(p, p->services[k], &nets);
    double deadline = monotime_now() + 60;
    for (size_t k = 0; k < nets.n; k++)
        rc |= remove_when_free(e, "networks", nets.v[k], deadline, err);
    /* Swarm's volumes carry no project label: found by the compose file's names */
    for (size_t k = 0; o->volumes && k < p->volumes.n; k++) {
        char *name = container_spec_resource_name(p, p->volumes.v[k]);
        rc |= remove_when_free(e, "volumes", name, deadline, err);
        free(name);
    }
    strv_clear(&nets);
    json_decref(list);
    return rc ? -1 : 0;
}
