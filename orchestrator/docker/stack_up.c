/*
 * stack_up.c - bringing a project up: one small state machine per
 * service, advanced by finished Engine requests and by daemon events.
 *
 *   pending ─(dependencies met)─► [stopping ► removing] ► creating
 *           ► [connecting] ► starting ► waiting ─► ready | failed
 *
 * Create ahead: a service that has no container yet gets it created at
 * once, while its dependencies come up (a create request in flight in
 * "pending"); when they are ready, only the start is left.  Containers
 * created ahead for services that then never start (a dependency failed,
 * the deadline, a stop signal) are removed before stack_up returns.
 *
 * "ready" is what the service's dependants (and the end of `up`) wait
 * for: exited 0 when something depends on it with
 * service_completed_successfully, healthy when it has a healthcheck,
 * running otherwise.  A service whose dependency failed is skipped.
 * Every wait has one deadline: the run's --timeout, and ends early when
 * a stop signal arrives (interrupt.h).  What happens before
 * the first change (images, existing containers) is in stack_prepare.c.
 */
#include "stack_private.h"
#include "buf.h"
#include "interrupt.h"
#include "monotime.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void drop_probe(struct up_run *r, struct svc *v)
{
    if (v->probe)
        probe_cancel(v->probe, r->e);
}

static void svc_fail(struct up_run *r, struct svc *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void svc_fail(struct up_run *r, struct svc *v, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    struct buf b = {0};

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(&b, "service \"%s\" %s", v->s->name, msg);
    if (v->id)
        stack_append_logs(r->e, v->id, &b);
    free(v->error);
    v->error = buf_detach(&b);
    v->state = SVC_FAILED;
    drop_probe(r, v);
    r->failed = 1;
    progress_set(r->pr, v->row, "failed", msg);
}

/* v is ready; state is what it is ("healthy"...), how what decided it (NULL: nothing to say). */
static void svc_ready(struct up_run *r, struct svc *v, const char *state, const char *how)
{
    v->state = SVC_READY;
    v->seconds = v->t0 > 0 ? monotime_now() - v->t0 : 0;
    snprintf(v->how, sizeof(v->how), "%s", how ? how : "");
    drop_probe(r, v);
    if (how)
        progress_ready(r->pr, v->row, state, how);
    else
        progress_set(r->pr, v->row, state, NULL);
}

/* ---- networks and volumes ------------------------------------------------ */

static int ensure_resources(struct up_run *r, struct tt_err *err)
{
    const struct compose_project *p = r->p;
    json_t *have = NULL;
    int rc = stack_project_list(r->e, "/networks", p->name, NULL, 10000, &have, err);
    if (rc < 0)
        return -1;
    struct strv wanted = {0};
    for (size_t i = 0; i < p->nservices; i++)
        for (size_t j = 0; j < p->services[i]->networks.n; j++)
            if (!strv_contains(&wanted, p->services[i]->networks.v[j]))
                strv_push(&wanted, p->services[i]->networks.v[j]);
    for (size_t i = 0; rc == 0 && i < wanted.n; i++) {
        char *full = container_spec_resource_name(p, wanted.v[i]);
        int found = 0;
        size_t k;
        json_t *net;
        json_array_foreach(have, k, net) found |=
            !strcmp(json_string_value(json_object_get(net, "Name")), full);
        if (!found) {
            json_t *body = container_spec_network_body(p, wanted.v[i]);
            rc = engine_call_ok(r->e, "POST", "/networks/create", body, 30000, NULL, err);
            json_decref(body);
            if (rc == 0) {
                struct buf note = {0};
                buf_printf(&note, "network %s created", full);
                progress_note(r->pr, note.data);
                buf_release(&note);
            }
        }
        free(full);
    }
    strv_clear(&wanted);
    json_decref(have);
    for (size_t i = 0; rc == 0 && i < p->volumes.n; i++) {
        char *full = container_spec_resource_name(p, p->volumes.v[i]);
        struct buf path = {0};
        engine_pathf(&path, "/volumes/%s", full);
        if (engine_call(r->e, "GET", path.data, NULL, 10000, NULL, NULL, err) == 404) {
            json_t *body = container_spec_volume_body(p, p->volumes.v[i]);
            rc = engine_call_ok(r->e, "POST", "/volumes/create", body, 30000, NULL, err);
            json_decref(body);
        }
        buf_release(&path);
        free(full);
    }
    return rc;
}

/* ---- the state machine -------------------------------------------------- */

static void request(struct up_run *r, struct svc *v, enum svc_state next, const char *method,
                    const char *path, const json_t *body, const char *shown)
{
    v->state = next;
    v->req = engine_req_start(r->e, method, path, body, 120000, &v->life_tag);
    if (shown)
        progress_set(r->pr, v->row, shown, NULL);
}

static void connect_or_start(struct up_run *r, struct svc *v);

static void start_container(struct up_run *r, struct svc *v)
{
    struct buf path = {0};
    engine_pathf(&path, "/containers/%s/start", v->id);
    request(r, v, SVC_STARTING, "POST", path.data, NULL, "starting");
    buf_release(&path);
}

static void create_container(struct up_run *r, struct svc *v)
{
    struct buf path = {0};
    buf_adds(&path, "/containers/create?name=");
    engine_urlencode(v->spec->name, &path);
    request(r, v, SVC_CREATING, "POST", path.data, v->spec->body, "creating");
    buf_release(&path);
}

/* v runs and needs to become healthy (or to exit): wait, probing unless told not to. */
static void start_waiting(struct up_run *r, struct svc *v)
{
    v->state = SVC_WAITING;
    progress_set(r->pr, v->row, "checking", NULL);
    if (v->need == NEED_HEALTHY && !r->o->readiness_docker && v->health_test && !v->probe)
        v->probe = probe_new(v->id, v->health_test, v->health_timeout_ms, v->health_interval_ms);
}

/* Checks the state of a kept, running container. */
static void adopt_running(struct up_run *r, struct svc *v)
{
    v->id = xstrdup(v->old_id);
    if (v->need == NEED_RUNNING) {
        svc_ready(r, v, "unchanged", NULL);
        return;
    }
    char *status = NULL;
    char *out = stack_last_health_output(r->e, v->id, &status);
    if (v->need == NEED_HEALTHY && status && !strcmp(status, "healthy")) {
        svc_ready(r, v, "unchanged", NULL);
    } else {
        start_waiting(r, v);
    }
    free(status);
    free(out);
}

/* What service v still waits for; NULL when it may start.  Sets *blocked when it never will. */
static const char *deps_unmet(struct up_run *r, size_t i, int *blocked)
{
    *blocked = 0;
    for (size_t k = 0; k < r->d->nedges; k++) {
        const struct dag_edge *ed = &r->d->edges[k];
        if (ed->from != i)
            continue;
        struct svc *dep = &r->svcs[ed->to];
        if (dep->state == SVC_FAILED || dep->state == SVC_SKIPPED) {
            *blocked = 1;
            return dep->s->name;
        }
        switch (ed->condition) {
        case COMPOSE_COND_STARTED:
            if (dep->state != SVC_READY && dep->state != SVC_WAITING)
                return dep->s->name;
            break;
        case COMPOSE_COND_HEALTHY:
        case COMPOSE_COND_COMPLETED:
            if (dep->state != SVC_READY)
                return dep->s->name;
            break;
        }
    }
    return NULL;
}

/*
 * The grace the old container of v gets to stop: the service's
 * stop_grace_period, else Docker's 10 s, but 2 s for a container that
 * never became healthy (a failed release being replaced: nothing to
 * drain, and seconds count).
 */
static long long stop_grace_s(const struct svc *v)
{
    if (v->s->stop_grace_period >= 0)
        return (long long)((v->s->stop_grace_period + 999999999) / 1000000000);
    return v->old_unready ? 2 : 10;
}

/*
 * Creates v's container ahead, while v waits for its dependencies: only
 * for a service that has no container (nothing is replaced early) and is
 * not blue-green (whose slot is chosen at launch).
 */
static void create_ahead(struct up_run *r, struct svc *v)
{
    if (v->old_id || v->bg || v->req || v->created_ahead || v->id)
        return;
    struct buf path = {0};
    buf_adds(&path, "/containers/create?name=");
    engine_urlencode(v->spec->name, &path);
    v->req = engine_req_start(r->e, "POST", path.data, v->spec->body, 120000, &v->life_tag);
    v->created_ahead = 1;
    buf_release(&path);
}

static void launch(struct up_run *r, size_t i)
{
    struct svc *v = &r->svcs[i];
    struct buf path = {0};

    v->t0 = monotime_now();
    v->action = stack_svc_action(v);
    if (v->created_ahead) { /* created, or its create still in flight: on from there */
        if (v->req) {
            v->state = SVC_CREATING;
            progress_set(r->pr, v->row, "creating", NULL);
        } else {
            v->next_net = 0;
            connect_or_start(r, v);
        }
    } else if (v->old_id && v->old_matches) {
        if (v->old_running) {
            adopt_running(r, v);
        } else {
            v->id = xstrdup(v->old_id);
            start_container(r, v);
        }
    } else if (v->old_id) {
        /* The grace is always named, so the request's deadline can follow from it. */
        engine_pathf(&path, "/containers/%s/stop", v->old_id);
        buf_printf(&path, "?t=%lld", stop_grace_s(v));
        request(r, v, SVC_STOPPING, "POST", path.data, NULL, "recreating");
    } else {
        create_container(r, v);
    }
    buf_release(&path);
}

/* Starts what may start now; returns how many services changed state. */
static int launch_ready_services(struct up_run *r)
{
    int changed = 0;
    for (size_t i = 0; i < r->d->n; i++) {
        struct svc *v = &r->svcs[i];
        int blocked;
        if (v->state != SVC_PENDING)
            continue;
        const char *dep = deps_unmet(r, i, &blocked);
        if (blocked) {
            char msg[512];
            snprintf(msg, sizeof(msg), "dependency \"%s\" failed", dep);
            v->state = SVC_SKIPPED;
            progress_set(r->pr, v->row, "skipped", msg);
            changed++;
            continue;
        }
        if (dep && !r->failed)
            create_ahead(r, v);
        if (dep || r->failed)
            continue;
        changed++;
        /* service_healthy on a dependency without a healthcheck cannot be met: say so. */
        for (size_t k = 0; k < r->d->nedges; k++) {
            const struct dag_edge *ed = &r->d->edges[k];
            if (ed->from == i && ed->condition == COMPOSE_COND_HEALTHY &&
                !r->svcs[ed->to].has_health) {
                svc_fail(r, v,
                         "waits for \"%s\" to be healthy, but \"%s\" has no healthcheck: add "
                         "one, or use condition: service_started",
                         r->svcs[ed->to].s->name, r->svcs[ed->to].s->name);
                break;
            }
        }
        if (v->state == SVC_PENDING)
            launch(r, i);
    }
    return changed;
}

static void after_start(struct up_run *r, struct svc *v)
{
    if (v->need == NEED_RUNNING)
        svc_ready(r, v, "running", NULL);
    else
        start_waiting(r, v);
}

/* Starts the probes that are due, at most probes_max execs at a time. */
static void schedule_probes(struct up_run *r)
{
    unsigned busy = 0;
    double now = monotime_now();

    for (size_t i = 0; i < r->d->n; i++)
        if (r->svcs[i].probe && probe_busy(r->svcs[i].probe))
            busy++;
    for (size_t i = 0; i < r->d->n && busy < r->probes_max; i++) {
        struct svc *v = &r->svcs[i];
        if (v->state == SVC_WAITING && v->probe && probe_due(v->probe, now)) {
            probe_start(v->probe, r->e, &v->probe_tag);
            busy++;
        }
    }
}

static void on_probe_done(struct up_run *r, struct svc *v, struct engine_req *req)
{
    enum probe_result res = probe_on_done(v->probe, r->e, req, monotime_now());
    engine_req_free(req);
    if (res == PROBE_PASSED && v->state == SVC_WAITING)
        svc_ready(r, v, "healthy", "probe");
    else if (res == PROBE_NO_DAEMON && v->state == SVC_WAITING)
        svc_fail(r, v, "could not be health-checked: %s", probe_last_output(v->probe));
}

/* What a lifecycle request answers when it worked, and what its failure says. */
struct outcome {
    enum svc_state state; /* the request's: what v is doing while it runs */
    long ok[3];           /* the statuses that mean it worked (0: no more) */
    const char *failure;
};

static const struct outcome outcomes[] = {
    {SVC_PENDING, {201}, "could not be created"}, /* created ahead */
    {SVC_STOPPING, {204, 304, 404}, "could not stop its old container"},
    {SVC_REMOVING, {204, 404}, "could not remove its old container"},
    {SVC_CREATING, {201}, "could not be created"},
    {SVC_CONNECTING, {200}, "could not join a network"},
    {SVC_STARTING, {204, 304}, "could not start"},
};

/* What failed when the request of a service in state answered status, or NULL when it worked. */
static const char *failure_of(enum svc_state state, long status)
{
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        if (outcomes[i].state != state)
            continue;
        for (size_t k = 0; k < 3 && outcomes[i].ok[k]; k++)
            if (outcomes[i].ok[k] == status)
                return NULL;
        return outcomes[i].failure;
    }
    return NULL;
}

/* v's container joins its next extra network, or starts when it is on all of them. */
static void connect_or_start(struct up_run *r, struct svc *v)
{
    if (v->next_net >= json_array_size(v->spec->extra_networks)) {
        start_container(r, v);
        return;
    }
    json_t *n = json_array_get(v->spec->extra_networks, v->next_net++);
    json_t *body = json_pack("{s:s, s:{s:O}}", "Container", v->id, "EndpointConfig", "Aliases",
                             json_object_get(n, "aliases"));
    struct buf path = {0};
    engine_pathf(&path, "/networks/%s/connect", json_string_value(json_object_get(n, "network")));
    request(r, v, SVC_CONNECTING, "POST", path.data, body, NULL);
    json_decref(body);
    buf_release(&path);
}

/* A lifecycle request of v finished: on to the next step, or v failed. */
static void on_step_done(struct up_run *r, struct svc *v, struct engine_req *req)
{
    const char *failure = failure_of(v->state, engine_req_status(req));
    struct buf path = {0};

    if (failure) {
        svc_fail(r, v, "%s: %s", failure, engine_req_error(req));
        return;
    }
    switch (v->state) {
    case SVC_PENDING: /* created ahead: it starts when its dependencies are ready */
        v->id = xstrdup(json_string_value(json_object_get(engine_req_json(req), "Id")));
        break;
    case SVC_STOPPING:
        engine_pathf(&path, "/containers/%s?force=1", v->old_id);
        request(r, v, SVC_REMOVING, "DELETE", path.data, NULL, NULL);
        break;
    case SVC_REMOVING:
        create_container(r, v);
        break;
    case SVC_CREATING:
        v->id = xstrdup(json_string_value(json_object_get(engine_req_json(req), "Id")));
        v->next_net = 0;
        connect_or_start(r, v);
        break;
    case SVC_CONNECTING:
        connect_or_start(r, v);
        break;
    case SVC_STARTING:
        after_start(r, v);
        break;
    default:
        break;
    }
    buf_release(&path);
}

static void on_done(struct up_run *r, struct engine_req *req)
{
    struct req_tag *tag = engine_req_tag(req);
    struct svc *v = tag->svc;

    if (tag->is_probe) {
        on_probe_done(r, v, req);
        return;
    }
    if (v->req != req) { /* cannot happen: one request per service at a time */
        engine_req_free(req);
        return;
    }
    v->req = NULL;
    /* Unless an event settled it meanwhile. */
    if (v->state != SVC_FAILED && v->state != SVC_READY && v->state != SVC_SKIPPED)
        on_step_done(r, v, req);
    else if (v->state == SVC_SKIPPED && engine_req_status(req) == 201 && !v->id)
        v->id = xstrdup(json_string_value(json_object_get(engine_req_json(req), "Id")));
    engine_req_free(req);
}

static struct svc *svc_by_container(struct up_run *r, const char *id)
{
    for (size_t i = 0; i < r->d->n; i++)
        if (r->svcs[i].id && id && !strcmp(r->svcs[i].id, id))
            return &r->svcs[i];
    return NULL;
}

static void on_event(struct up_run *r, json_t *ev)
{
    const char *action = json_string_value(json_object_get(ev, "Action"));
    const char *id = json_string_value(json_object_get(ev, "id"));
    if (!id)
        id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));
    struct svc *v = svc_by_container(r, id);

    if (!v || !action)
        return;
    if (r->seen) {
        json_t *t = json_object_get(ev, "timeNano");
        json_array_append_new(r->seen,
                              json_pack("{s:f, s:s, s:s}", "time",
                                        json_is_integer(t) ? json_integer_value(t) / 1e9 : 0.0,
                                        "service", v->s->name, "action", action));
    }
    if (v->state == SVC_FAILED)
        return;
    if (!strcmp(action, "die")) {
        const char *code = json_string_value(json_object_get(
            json_object_get(json_object_get(ev, "Actor"), "Attributes"), "exitCode"));
        int exit_code = code ? atoi(code) : -1;
        if (v->need == NEED_EXIT0 && v->state != SVC_READY) {
            if (exit_code == 0)
                svc_ready(r, v, "exited 0", NULL);
            else
                svc_fail(r, v,
                         "exited with code %d; its dependants wait for "
                         "service_completed_successfully",
                         exit_code);
        } else if (v->need != NEED_EXIT0) {
            svc_fail(r, v, "exited with code %d", exit_code);
        }
    } else if (!strcmp(action, "start")) {
        if (v->state == SVC_STARTING && v->need == NEED_HEALTHY)
            progress_set(r->pr, v->row, "checking", NULL);
    } else if (!strcmp(action, "health_status: healthy")) {
        if (v->need == NEED_HEALTHY && v->state != SVC_READY)
            svc_ready(r, v, "healthy", "docker");
    } else if (!strcmp(action, "health_status: unhealthy")) {
        if (v->need == NEED_HEALTHY && v->state != SVC_READY) {
            char *out = stack_last_health_output(r->e, v->id, NULL);
            svc_fail(r, v, "is unhealthy: last health check %s", out ? out : "(no output)");
            free(out);
        }
    }
}

/*
 * Whether only waiting is left: nothing is being created, started or
 * removed, and a container this run created or started (not one it kept)
 * is being waited on.  Services whose dependencies are not ready yet may
 * still be pending: they wait too.
 */
static int only_waiting(const struct up_run *r)
{
    int waiting = 0;
    for (size_t i = 0; i < r->d->n; i++) {
        const struct svc *v = &r->svcs[i];
        if (v->state == SVC_STOPPING || v->state == SVC_REMOVING || v->state == SVC_CREATING ||
            v->state == SVC_CONNECTING || v->state == SVC_STARTING)
            return 0;
        waiting |= v->state == SVC_WAITING && !(v->old_id && v->old_matches);
    }
    return waiting;
}

/* Tells the caller, once, that the run now only waits for readiness. */
static void say_waiting(struct up_run *r)
{
    if (r->said_waiting || !r->o->on_waiting || !only_waiting(r))
        return;
    r->said_waiting = 1;
    r->o->on_waiting(r->o->ctx);
}

static int all_settled(const struct up_run *r)
{
    for (size_t i = 0; i < r->d->n; i++) {
        enum svc_state s = r->svcs[i].state;
        if (s == SVC_UNSELECTED || s == SVC_READY || s == SVC_FAILED || s == SVC_SKIPPED)
            continue;
        if (r->failed && s == SVC_PENDING)
            continue;
        if (r->failed && s == SVC_WAITING)
            continue;
        return 0;
    }
    return engine_inflight(r->e) == 0;
}

static void on_deadline(struct up_run *r)
{
    long secs = (long)(r->o->timeout_ms / 1000);
    for (size_t i = 0; i < r->d->n; i++) {
        struct svc *v = &r->svcs[i];
        if (v->state == SVC_WAITING || v->state == SVC_STARTING) {
            char *status = NULL;
            char *out = v->id ? stack_last_health_output(r->e, v->id, &status) : NULL;
            svc_fail(r, v, "is not %s after %ld s (health: %s; last check %s)",
                     v->need == NEED_EXIT0 ? "done" : "healthy", secs, status ? status : "none",
                     out ? out : "none");
            free(status);
            free(out);
        } else if (v->state == SVC_PENDING) {
            v->state = SVC_SKIPPED;
            progress_set(r->pr, v->row, "skipped", "deadline passed");
        }
    }
    r->failed = 1;
}

/* A stop signal: every service still waited on fails, naming it; those not begun are skipped. */
static void on_interrupt(struct up_run *r, int sig)
{
    for (size_t i = 0; i < r->d->n; i++) {
        struct svc *v = &r->svcs[i];
        if (v->state == SVC_WAITING || v->state == SVC_STARTING) {
            svc_fail(r, v, "was not %s yet: interrupted by SIG%s",
                     v->need == NEED_EXIT0 ? "done" : "healthy", sigabbrev_np(sig));
        } else if (v->state == SVC_PENDING) {
            v->state = SVC_SKIPPED;
            progress_set(r->pr, v->row, "skipped", "interrupted");
        }
    }
    r->failed = 1;
}

/*
 * Removes the containers created ahead for services that never started
 * (skipped, or still pending when the run failed): the project is left as
 * it was for them.  Best effort; what fails is named in the run's error.
 */
static void remove_unstarted(struct up_run *r, struct buf *problems)
{
    for (size_t i = 0; i < r->d->n; i++) {
        struct svc *v = &r->svcs[i];
        if (!v->created_ahead || !v->id || (v->state != SVC_PENDING && v->state != SVC_SKIPPED))
            continue;
        struct buf path = {0};
        struct tt_err e = {0};
        engine_pathf(&path, "/containers/%s?force=1", v->id);
        long status = engine_call(r->e, "DELETE", path.data, NULL, 30000, NULL, NULL, &e);
        if (status != 204 && status != 404)
            buf_printf(problems,
                       "\nservice \"%s\": its container %.12s, created ahead and never "
                       "started, could not be removed (%s): docker rm %.12s",
                       v->s->name, v->id, e.msg[0] ? e.msg : "refused", v->id);
        free(v->id);
        v->id = NULL;
        buf_release(&path);
    }
}

int stack_up(struct engine *e, const struct compose_project *p, const struct dag *d,
             const struct stack_options *o, struct stack_report *report, struct tt_err *err)
{
    struct up_run r = {0};
    struct stack_options defaults = *o;
    const char **names = NULL;
    int rc;

    if (defaults.timeout_ms <= 0)
        defaults.timeout_ms = 120000;
    rc = stack_up_prepare(&r, e, p, d, &defaults, 1, &names, err);
    r.seen = json_array();
    if (rc == 0)
        rc = ensure_resources(&r, err);
    if (rc == 0) {
        json_t *filters = stack_project_filter(p->name);
        json_object_set_new(filters, "type", json_pack("[s]", "container"));
        rc = engine_events_start(e, filters, err);
        json_decref(filters);
    }
    r.started = monotime_now();
    r.deadline = r.started + defaults.timeout_ms / 1000.0;
    while (rc == 0) {
        struct engine_req *req;
        json_t *ev;

        int changed = launch_ready_services(&r);
        if (all_settled(&r))
            break;
        say_waiting(&r);
        schedule_probes(&r);
        if (monotime_now() > r.deadline && !r.failed)
            on_deadline(&r);
        if (interrupt_signal() && !r.failed)
            on_interrupt(&r, interrupt_signal());
        if (engine_pump(e, changed ? 0 : 100, err) < 0) {
            rc = -1;
            break;
        }
        while ((req = engine_next_done(e)))
            on_done(&r, req);
        while ((ev = engine_next_event(e))) {
            on_event(&r, ev);
            json_decref(ev);
        }
        progress_tick(r.pr);
    }
    if (rc == 0 && !r.failed) {
        unsigned execs = 0;
        char note[256];
        for (size_t i = 0; i < d->n; i++)
            execs += r.svcs[i].probe ? probe_attempts(r.svcs[i].probe) : 0;
        snprintf(note, sizeof(note), "ready in %.2f s (%u health-check execs)",
                 monotime_now() - r.started, execs);
        progress_note(r.pr, note);
    }
    if (rc == 0 && r.failed) {
        struct buf msg = {0}, problems = {0};
        remove_unstarted(&r, &problems);
        for (size_t k = 0; k < d->n; k++) {
            struct svc *v = &r.svcs[d->order[k]];
            if (v->state == SVC_FAILED && v->error) {
                if (msg.len)
                    buf_adds(&msg, "\n");
                buf_adds(&msg, v->error);
            }
        }
        tt_error(err, "%s%s", msg.data ? msg.data : "up failed",
                 problems.data ? problems.data : "");
        buf_release(&msg);
        buf_release(&problems);
        rc = -1;
    }
    stack_up_report(&r, report);
    free(names);
    stack_up_run_free(&r);
    return rc;
}
