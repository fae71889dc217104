/*
 * stack.c - the up and down of a project: one small state machine per
 * service, advanced by finished Engine requests and by daemon events.
 *
 *   pending ─(dependencies met)─► [stopping ► removing] ► creating
 *           ► [connecting] ► starting ► waiting ─► ready | failed
 *
 * "ready" is what the service's dependants (and the end of `up`) wait
 * for: exited 0 when something depends on it with
 * service_completed_successfully, healthy when it has a healthcheck,
 * running otherwise.  A service whose dependency failed is skipped.
 * Every wait has one deadline: the run's --timeout.
 */
#include "stack.h"
#include "monotime.h"
#include "buf.h"
#include "container_spec.h"
#include "probe.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum svc_state {
    SVC_UNSELECTED,
    SVC_PENDING,
    SVC_STOPPING,
    SVC_REMOVING,
    SVC_CREATING,
    SVC_CONNECTING,
    SVC_STARTING,
    SVC_WAITING,
    SVC_READY,
    SVC_FAILED,
    SVC_SKIPPED,
};

enum svc_need { NEED_RUNNING, NEED_HEALTHY, NEED_EXIT0 };

/* What a finished request belongs to: the service's lifecycle or its probe. */
struct req_tag {
    struct svc *svc;
    int is_probe;
};

struct svc {
    const struct compose_service *s;
    struct container_spec *spec;
    char *image_id;
    int has_health;
    enum svc_need need;
    char *old_id; /* the project's existing container for this service */
    int old_running;
    int old_matches; /* same config hash and image: keep it */
    char *id;        /* the container this run manages */
    enum svc_state state;
    struct engine_req *req;
    size_t next_net;
    size_t row; /* progress line */
    char *error;
    json_t *health_test; /* ["CMD", ...] or ["CMD-SHELL", cmd]: compose's or the image's */
    long health_timeout_ms, health_interval_ms;
    struct probe *probe;
    struct req_tag life_tag, probe_tag;
    const char *action; /* what launch() did or preview would do */
    char *old_image;
    double t0;      /* first action */
    double seconds; /* first action to ready */
    char how[16];
};

struct up_run {
    struct engine *e;
    const struct compose_project *p;
    const struct dag *d;
    const struct stack_options *o;
    struct svc *svcs; /* indexed like d (and p->services) */
    struct progress *pr;
    int failed;
    double started, deadline;
    unsigned probes_max; /* execs allowed in flight at once */
    json_t *seen;        /* events of our containers, for the report */
};

json_t *stack_project_filter(const char *project)
{
    struct buf b = {0};
    buf_printf(&b, "%s=%s", LABEL_PROJECT, project);
    json_t *f = json_pack("{s:[s]}", "label", b.data);
    buf_release(&b);
    return f;
}

/* The id of service's container in project (all: stopped ones too), or NULL (caller frees). */
static char *service_container(struct engine *e, const char *project, const char *service, int all,
                               struct tt_err *err)
{
    struct buf q = {0}, label = {0};
    json_t *list = NULL;
    char *id = NULL;

    buf_printf(&label, "%s=%s", LABEL_SERVICE, service);
    json_t *f = stack_project_filter(project);
    json_array_append_new(json_object_get(f, "label"), json_string(label.data));
    char *fs = json_dumps(f, JSON_COMPACT);
    buf_printf(&q, "/containers/json?%sfilters=", all ? "all=1&" : "");
    engine_urlencode(fs, &q);
    if (engine_call_ok(e, "GET", q.data, NULL, 10000, &list, err) == 0 && json_array_size(list))
        id = xstrdup(json_string_value(json_object_get(json_array_get(list, 0), "Id")));
    free(fs);
    json_decref(f);
    json_decref(list);
    buf_release(&q);
    buf_release(&label);
    return id;
}

char *stack_container_id(struct engine *e, const char *project, const char *service)
{
    struct tt_err err = {0};
    return service_container(e, project, service, 0, &err);
}

static char *project_query(const char *path_prefix, const char *project)
{
    struct buf b = {0};
    json_t *f = stack_project_filter(project);
    char *s = json_dumps(f, JSON_COMPACT);
    buf_printf(&b, "%s%sfilters=", path_prefix, strchr(path_prefix, '?') ? "&" : "?");
    engine_urlencode(s, &b);
    free(s);
    json_decref(f);
    return buf_detach(&b);
}

/* ---- diagnostics -------------------------------------------------------- */

/* The last lines of a container's log, indented, appended to out. */
static void append_logs(struct engine *e, const char *id, struct buf *out)
{
    struct buf path = {0}, raw = {0}, text = {0};
    struct tt_err err = {0};

    buf_printf(&path, "/containers/%s/logs?stdout=1&stderr=1&tail=10", id);
    if (engine_call(e, "GET", path.data, NULL, 5000, NULL, &raw, &err) == 200) {
        engine_demux(&raw, &text);
        if (text.len) {
            buf_adds(out, "\n  last log lines:");
            const char *line = text.data;
            while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                buf_printf(out, "\n    %.*s", (int)len, line);
                line = nl ? nl + 1 : NULL;
            }
        }
    }
    buf_release(&path);
    buf_release(&raw);
    buf_release(&text);
}

/* The output of the container's last health check, or NULL (caller frees). */
static char *last_health_output(struct engine *e, const char *id, char **status)
{
    struct buf path = {0};
    json_t *j = NULL;
    char *out = NULL;
    struct tt_err err = {0};

    buf_printf(&path, "/containers/%s/json", id);
    if (engine_call(e, "GET", path.data, NULL, 5000, &j, NULL, &err) == 200 && j) {
        json_t *health = json_object_get(json_object_get(j, "State"), "Health");
        json_t *log = json_object_get(health, "Log");
        size_t n = json_array_size(log);
        if (status && json_string_value(json_object_get(health, "Status")))
            *status = xstrdup(json_string_value(json_object_get(health, "Status")));
        if (n) {
            const char *o =
                json_string_value(json_object_get(json_array_get(log, n - 1), "Output"));
            json_int_t code =
                json_integer_value(json_object_get(json_array_get(log, n - 1), "ExitCode"));
            struct buf b = {0};
            size_t len = o ? strlen(o) : 0;
            while (len && (o[len - 1] == '\n' || o[len - 1] == ' '))
                len--;
            buf_printf(&b, "exit %" JSON_INTEGER_FORMAT ": %.*s", code,
                       (int)(len > 400 ? 400 : len), o ? o : "");
            out = buf_detach(&b);
        }
    }
    json_decref(j);
    buf_release(&path);
    return out;
}

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
        append_logs(r->e, v->id, &b);
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

/* ---- preparing ---------------------------------------------------------- */

static int ensure_resources(struct up_run *r, struct tt_err *err)
{
    const struct compose_project *p = r->p;
    json_t *have = NULL;
    char *q = project_query("/networks", p->name);
    int rc = engine_call_ok(r->e, "GET", q, NULL, 10000, &have, err);
    free(q);
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
        buf_printf(&path, "/volumes/%s", full);
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

/* Inspects (pulling when absent) the image of v; fills image_id and has_health. */
static int resolve_image(struct up_run *r, struct svc *v, int allow_pull, struct tt_err *err)
{
    const char *image = json_string_value(json_object_get(v->spec->body, "Image"));
    struct buf path = {0};
    json_t *j = NULL;
    long status;

    if (!image)
        return tt_error(err,
                        "service \"%s\" has no image: ttdeploy does not build images; "
                        "build it first and set image:",
                        v->s->name);
    buf_adds(&path, "/images/");
    engine_urlencode(image, &path);
    buf_adds(&path, "/json");
    status = engine_call(r->e, "GET", path.data, NULL, 30000, &j, NULL, err);
    if (status == 404 && !allow_pull) {
        buf_release(&path);
        v->has_health = v->s->healthcheck.present && !v->s->healthcheck.disable;
        return 0; /* a preview: "pull and create" */
    }
    if (status == 404) {
        struct buf pull = {0}, raw = {0};
        struct tt_err perr = {0};
        char note[512];
        snprintf(note, sizeof(note), "pulling %s", image);
        progress_note(r->pr, note);
        buf_adds(&pull, "/images/create?fromImage=");
        engine_urlencode(image, &pull);
        if (!strchr(strrchr(image, '/') ? strrchr(image, '/') : image, ':') && !strchr(image, '@'))
            buf_adds(&pull, "&tag=latest");
        long ps = engine_call(r->e, "POST", pull.data, NULL, 600000, NULL, &raw, &perr);
        const char *why = raw.data ? strstr(raw.data, "\"message\":\"") : NULL;
        if (!why && raw.data)
            why = strstr(raw.data, "\"error\":\"");
        char reason[512] = "";
        if (why) {
            why = strchr(why, ':') + 2;
            const char *end = strchr(why, '"');
            snprintf(reason, sizeof(reason), "%.*s", end ? (int)(end - why) : 200, why);
        }
        buf_release(&pull);
        buf_release(&raw);
        status = engine_call(r->e, "GET", path.data, NULL, 30000, &j, NULL, err);
        if (status != 200) {
            buf_release(&path);
            return tt_error(err,
                            "service \"%s\": image \"%s\" is not on the engine and cannot be "
                            "pulled (%s): build or load it there first, or check the registry",
                            v->s->name, image,
                            reason[0] ? reason
                            : ps < 0  ? perr.msg
                                      : "no reason given");
        }
    }
    buf_release(&path);
    if (status != 200 || !j) {
        json_decref(j);
        if (status > 0)
            return tt_error(err, "service \"%s\": inspecting image \"%s\" answered HTTP %ld",
                            v->s->name, image, status);
        return -1;
    }
    v->image_id = xstrdup(json_string_value(json_object_get(j, "Id"))
                              ? json_string_value(json_object_get(j, "Id"))
                              : "");
    json_t *image_hc = json_object_get(json_object_get(j, "Config"), "Healthcheck");
    const struct compose_healthcheck *hc = &v->s->healthcheck;
    if (hc->present && hc->test.n) {
        v->health_test = json_array();
        for (size_t k = 0; k < hc->test.n; k++)
            json_array_append_new(v->health_test, json_string(hc->test.v[k]));
    } else if (json_array_size(json_object_get(image_hc, "Test"))) {
        v->health_test = json_incref(json_object_get(image_hc, "Test"));
    }
    v->health_interval_ms =
        hc->present && hc->interval >= 0
            ? (long)(hc->interval / 1000000)
            : json_integer_value(json_object_get(image_hc, "Interval")) / 1000000;
    v->health_timeout_ms = hc->present && hc->timeout >= 0
                               ? (long)(hc->timeout / 1000000)
                               : json_integer_value(json_object_get(image_hc, "Timeout")) / 1000000;
    if (v->health_interval_ms <= 0)
        v->health_interval_ms = 30000;
    if (v->health_timeout_ms <= 0)
        v->health_timeout_ms = 30000;
    if (v->s->healthcheck.present) {
        v->has_health =
            !v->s->healthcheck.disable &&
            (v->s->healthcheck.test.n > 0 ||
             json_array_size(json_object_get(
                 json_object_get(json_object_get(j, "Config"), "Healthcheck"), "Test")) > 0);
    } else {
        json_t *t =
            json_object_get(json_object_get(json_object_get(j, "Config"), "Healthcheck"), "Test");
        v->has_health =
            json_array_size(t) > 0 && strcmp(json_string_value(json_array_get(t, 0)), "NONE");
    }
    json_decref(j);
    return 0;
}

/* Matches the project's existing containers to services. */
static int find_existing(struct up_run *r, struct tt_err *err)
{
    json_t *list = NULL;
    char *q = project_query("/containers/json?all=1", r->p->name);
    int rc = engine_call_ok(r->e, "GET", q, NULL, 30000, &list, err);
    size_t i;
    json_t *c;

    free(q);
    if (rc < 0)
        return -1;
    json_array_foreach(list, i, c)
    {
        json_t *labels = json_object_get(c, "Labels");
        const char *service = json_string_value(json_object_get(labels, LABEL_SERVICE));
        const char *oneoff = json_string_value(json_object_get(labels, LABEL_ONEOFF));
        const char *hash = json_string_value(json_object_get(labels, LABEL_CONFIG_HASH));
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *image = json_string_value(json_object_get(c, "ImageID"));
        const char *state = json_string_value(json_object_get(c, "State"));
        if (!service || !id || (oneoff && !strcmp(oneoff, "True")))
            continue;
        struct svc *v = NULL;
        for (size_t k = 0; k < r->d->n && !v; k++)
            if (!strcmp(r->p->services[k]->name, service))
                v = &r->svcs[k];
        if (!v) {
            char note[512];
            snprintf(note, sizeof(note),
                     "warning: container for service \"%s\" is not in the compose file (orphan); "
                     "`ttdeploy down` removes it",
                     service);
            progress_note(r->pr, note);
            continue;
        }
        if (v->state == SVC_UNSELECTED || v->old_id)
            continue;
        v->old_id = xstrdup(id);
        v->old_image = xstrdup(json_string_value(json_object_get(c, "Image"))
                                   ? json_string_value(json_object_get(c, "Image"))
                                   : "");
        v->old_running = state && !strcmp(state, "running");
        v->old_matches = hash && !strcmp(hash, v->spec->hash) && image && v->image_id &&
                         !strcmp(image, v->image_id);
    }
    json_decref(list);
    return 0;
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

static void start_container(struct up_run *r, struct svc *v)
{
    struct buf path = {0};
    buf_printf(&path, "/containers/%s/start", v->id);
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
    char *out = last_health_output(r->e, v->id, &status);
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

/* What launch() does to v, in words the audit and --dry-run use. */
static const char *action_for(const struct svc *v)
{
    if (!v->image_id)
        return "pull and create";
    if (v->old_id && v->old_matches)
        return v->old_running ? "unchanged" : "start";
    return v->old_id ? "recreate" : "create";
}

static void launch(struct up_run *r, size_t i)
{
    struct svc *v = &r->svcs[i];
    struct buf path = {0};

    v->t0 = monotime_now();
    v->action = action_for(v);
    if (v->old_id && v->old_matches) {
        if (v->old_running) {
            adopt_running(r, v);
        } else {
            v->id = xstrdup(v->old_id);
            start_container(r, v);
        }
    } else if (v->old_id) {
        buf_printf(&path, "/containers/%s/stop", v->old_id);
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
}

static void on_done(struct up_run *r, struct engine_req *req)
{
    struct req_tag *tag = engine_req_tag(req);
    struct svc *v = tag->svc;
    long st = engine_req_status(req);
    struct buf path = {0};

    if (tag->is_probe) {
        on_probe_done(r, v, req);
        return;
    }
    if (v->req != req) { /* cannot happen: one request per service at a time */
        engine_req_free(req);
        return;
    }
    v->req = NULL;
    if (v->state == SVC_FAILED || v->state == SVC_READY) { /* an event settled it meanwhile */
        engine_req_free(req);
        return;
    }
    switch (v->state) {
    case SVC_STOPPING:
        if (st != 204 && st != 304 && st != 404) {
            svc_fail(r, v, "could not stop its old container: %s", engine_req_error(req));
            break;
        }
        buf_printf(&path, "/containers/%s?force=1", v->old_id);
        request(r, v, SVC_REMOVING, "DELETE", path.data, NULL, NULL);
        break;
    case SVC_REMOVING:
        if (st != 204 && st != 404) {
            svc_fail(r, v, "could not remove its old container: %s", engine_req_error(req));
            break;
        }
        create_container(r, v);
        break;
    case SVC_CREATING:
        if (st != 201) {
            svc_fail(r, v, "could not be created: %s", engine_req_error(req));
            break;
        }
        v->id = xstrdup(json_string_value(json_object_get(engine_req_json(req), "Id")));
        v->next_net = 0;
        /* fall through */
    case SVC_CONNECTING:
        if (v->state == SVC_CONNECTING && st != 200) {
            svc_fail(r, v, "could not join a network: %s", engine_req_error(req));
            break;
        }
        if (v->next_net < json_array_size(v->spec->extra_networks)) {
            json_t *n = json_array_get(v->spec->extra_networks, v->next_net++);
            json_t *body = json_pack("{s:s, s:{s:O}}", "Container", v->id, "EndpointConfig",
                                     "Aliases", json_object_get(n, "aliases"));
            buf_printf(&path, "/networks/%s/connect",
                       json_string_value(json_object_get(n, "network")));
            request(r, v, SVC_CONNECTING, "POST", path.data, body, NULL);
            json_decref(body);
        } else {
            start_container(r, v);
        }
        break;
    case SVC_STARTING:
        if (st != 204 && st != 304) {
            svc_fail(r, v, "could not start: %s", engine_req_error(req));
            break;
        }
        after_start(r, v);
        break;
    default:
        break;
    }
    buf_release(&path);
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
            char *out = last_health_output(r->e, v->id, NULL);
            svc_fail(r, v, "is unhealthy: last health check %s", out ? out : "(no output)");
            free(out);
        }
    }
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
            char *out = v->id ? last_health_output(r->e, v->id, &status) : NULL;
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

/* Marks the services to bring up: those named, and everything they depend on. */
static int select_services(struct up_run *r, struct tt_err *err)
{
    const struct strv *names = &r->o->services;
    int changed = 1;

    for (size_t i = 0; i < r->d->n; i++)
        r->svcs[i].state = names->n ? SVC_UNSELECTED : SVC_PENDING;
    for (size_t k = 0; k < names->n; k++) {
        size_t i;
        for (i = 0; i < r->d->n; i++)
            if (!strcmp(r->p->services[i]->name, names->v[k]))
                break;
        if (i == r->d->n)
            return tt_error(err, "no service \"%s\" in the project: see `ttdeploy config`",
                            names->v[k]);
        r->svcs[i].state = SVC_PENDING;
    }
    while (changed) {
        changed = 0;
        for (size_t k = 0; k < r->d->nedges; k++) {
            const struct dag_edge *ed = &r->d->edges[k];
            if (r->svcs[ed->from].state == SVC_PENDING && r->svcs[ed->to].state == SVC_UNSELECTED) {
                r->svcs[ed->to].state = SVC_PENDING;
                changed = 1;
            }
        }
    }
    return 0;
}

static void decide_needs(struct up_run *r)
{
    for (size_t i = 0; i < r->d->n; i++)
        r->svcs[i].need = r->svcs[i].has_health ? NEED_HEALTHY : NEED_RUNNING;
    for (size_t k = 0; k < r->d->nedges; k++)
        if (r->d->edges[k].condition == COMPOSE_COND_COMPLETED &&
            r->svcs[r->d->edges[k].from].state != SVC_UNSELECTED)
            r->svcs[r->d->edges[k].to].need = NEED_EXIT0;
}

static void up_run_free(struct up_run *r)
{
    for (size_t i = 0; r->svcs && i < r->d->n; i++) {
        struct svc *v = &r->svcs[i];
        container_spec_free(v->spec);
        free(v->old_image);
        if (v->probe)
            probe_cancel(v->probe, r->e);
        probe_free(v->probe);
        json_decref(v->health_test);
        free(v->image_id);
        free(v->old_id);
        free(v->id);
        free(v->error);
    }
    free(r->svcs);
    json_decref(r->seen);
    progress_free(r->pr);
}

void stack_report_clear(struct stack_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct stack_result *x = &r->v[i];
        free(x->service);
        free(x->container_id);
        free(x->image);
        free(x->image_id);
        free(x->old_image);
        free(x->config_hash);
        free(x->error);
    }
    free(r->v);
    json_decref(r->events);
    r->v = NULL;
    r->n = 0;
    r->events = NULL;
}

static const char *state_word(const struct svc *v)
{
    switch (v->state) {
    case SVC_READY:
        return v->need == NEED_EXIT0 ? "exited 0" : v->need == NEED_HEALTHY ? "healthy" : "running";
    case SVC_FAILED:
        return "failed";
    case SVC_SKIPPED:
        return "skipped";
    case SVC_PENDING:
        return "pending";
    default:
        return "unfinished";
    }
}

static void fill_report(struct up_run *r, struct stack_report *out)
{
    if (!out)
        return;
    stack_report_clear(out);
    out->events = r->seen ? json_incref(r->seen) : json_array();
    out->v = xcalloc(r->d->n + 1, sizeof(*out->v));
    for (size_t k = 0; k < r->d->n; k++) {
        struct svc *v = &r->svcs[r->d->order[k]];
        if (v->state == SVC_UNSELECTED || !v->spec)
            continue;
        struct stack_result *x = &out->v[out->n++];
        x->service = xstrdup(v->s->name);
        x->action = v->action ? v->action : action_for(v);
        x->state = state_word(v);
        snprintf(x->how, sizeof(x->how), "%s", v->how);
        x->seconds = v->seconds;
        x->container_id = v->id ? xstrdup(v->id) : NULL;
        x->image = xstrdup(json_string_value(json_object_get(v->spec->body, "Image")));
        x->image_id = v->image_id ? xstrdup(v->image_id) : NULL;
        x->old_image = v->old_image && v->old_id && !v->old_matches ? xstrdup(v->old_image) : NULL;
        x->config_hash = xstrdup(v->spec->hash);
        x->error = v->error ? xstrdup(v->error) : NULL;
    }
}

/* Everything up and preview share: selection, specs, images, needs, existing containers. */
static int up_prepare(struct up_run *r, struct engine *e, const struct compose_project *p,
                      const struct dag *d, const struct stack_options *o, int allow_pull,
                      const char ***names, struct tt_err *err)
{
    size_t nrows = 0;
    int rc = 0;

    r->e = e;
    r->p = p;
    r->d = d;
    r->o = o;
    r->probes_max =
        2 * (unsigned)(sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
    r->svcs = xcalloc(d->n + 1, sizeof(*r->svcs));
    for (size_t i = 0; i < d->n; i++) {
        r->svcs[i].s = p->services[i];
        r->svcs[i].life_tag.svc = &r->svcs[i];
        r->svcs[i].probe_tag.svc = &r->svcs[i];
        r->svcs[i].probe_tag.is_probe = 1;
    }
    if (select_services(r, err) < 0)
        return -1;
    *names = xcalloc(d->n + 1, sizeof(**names));
    for (size_t k = 0; k < d->n; k++) { /* rows in start order */
        struct svc *v = &r->svcs[d->order[k]];
        if (v->state == SVC_UNSELECTED)
            continue;
        v->row = nrows;
        (*names)[nrows++] = v->s->name;
    }
    r->pr = progress_new(allow_pull ? o->progress : PROGRESS_QUIET, o->out ? o->out : stdout,
                         *names, nrows);
    for (size_t i = 0; i < d->n && rc == 0; i++) {
        if (r->svcs[i].state == SVC_UNSELECTED)
            continue;
        r->svcs[i].spec = container_spec_new(p, p->services[i], NULL);
        rc = resolve_image(r, &r->svcs[i], allow_pull, err);
    }
    if (rc == 0)
        decide_needs(r);
    if (rc == 0)
        rc = find_existing(r, err);
    return rc;
}

int stack_preview(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *o, struct stack_report *report, struct tt_err *err)
{
    struct up_run r = {0};
    const char **names = NULL;
    int rc = up_prepare(&r, e, p, d, o, 0, &names, err);
    if (rc == 0)
        fill_report(&r, report);
    free(names);
    up_run_free(&r);
    return rc;
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
    rc = up_prepare(&r, e, p, d, &defaults, 1, &names, err);
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
        schedule_probes(&r);
        if (monotime_now() > r.deadline && !r.failed)
            on_deadline(&r);
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
        struct buf msg = {0};
        for (size_t k = 0; k < d->n; k++) {
            struct svc *v = &r.svcs[d->order[k]];
            if (v->state == SVC_FAILED && v->error) {
                if (msg.len)
                    buf_adds(&msg, "\n");
                buf_adds(&msg, v->error);
            }
        }
        tt_error(err, "%s", msg.data ? msg.data : "up failed");
        buf_release(&msg);
        rc = -1;
    }
    fill_report(&r, report);
    free(names);
    up_run_free(&r);
    return rc;
}

/* ---- down --------------------------------------------------------------- */

struct down_item {
    char *id;
    char *service;
    long layer; /* -1: not in the compose file (orphan, one-off): first to go */
    size_t row;
};

static int cmp_down(const void *a, const void *b)
{
    const struct down_item *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer > y->layer ? -1 : 1;
    return strcmp(x->service, y->service);
}

/* Runs method on path_fmt for items [from, to) side by side and waits for all. */
static int run_batch(struct engine *e, struct down_item *items, size_t from, size_t to,
                     const char *method, const char *path_fmt, struct progress *pr,
                     const char *shown, struct tt_err *err)
{
    int rc = 0;
    size_t pending = 0;
    for (size_t i = from; i < to; i++) {
        struct buf path = {0};
        buf_printf(&path, path_fmt, items[i].id);
        engine_req_start(e, method, path.data, NULL, 120000, &items[i]);
        buf_release(&path);
        pending++;
    }
    while (pending > 0) {
        struct engine_req *req;
        if (engine_pump(e, 200, err) < 0)
            return -1;
        while ((req = engine_next_done(e))) {
            struct down_item *it = engine_req_tag(req);
            long st = engine_req_status(req);
            if (st >= 300 && st != 304 && st != 404) {
                rc = tt_error(err, "%s container of \"%s\": %s", method, it->service,
                              engine_req_error(req));
            } else {
                progress_set(pr, it->row, shown, NULL);
            }
            engine_req_free(req);
            pending--;
        }
    }
    return rc;
}

int stack_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err)
{
    json_t *list = NULL;
    char *q = project_query("/containers/json?all=1", p->name);
    struct down_item *items = NULL;
    const char **names = NULL;
    size_t n = 0, i;
    json_t *c;
    int rc = engine_call_ok(e, "GET", q, NULL, 30000, &list, err);

    free(q);
    if (rc < 0)
        return -1;
    items = xcalloc(json_array_size(list) + 1, sizeof(*items));
    names = xcalloc(json_array_size(list) + 1, sizeof(*names));
    json_array_foreach(list, i, c)
    {
        const char *service =
            json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_SERVICE));
        items[n].id = xstrdup(json_string_value(json_object_get(c, "Id")));
        items[n].service = xstrdup(service ? service : "?");
        items[n].layer = -1;
        for (size_t k = 0; d && k < d->n; k++)
            if (service && !strcmp(p->services[k]->name, service))
                items[n].layer = (long)d->layer_of[k];
        n++;
    }
    json_decref(list);
    if (n)
        qsort(items, n, sizeof(*items), cmp_down);
    for (i = 0; i < n; i++) {
        items[i].row = i;
        names[i] = items[i].service;
    }
    struct progress *pr = progress_new(o->progress, o->out ? o->out : stdout, names, n);
    struct buf rm = {0};
    buf_printf(&rm, "/containers/%%s?force=1&v=%d", o->volumes ? 1 : 0);
    for (size_t from = 0; rc == 0 && from < n;) {
        size_t to = from;
        while (to < n && items[to].layer == items[from].layer)
            to++;
        rc = run_batch(e, items, from, to, "POST", "/containers/%s/stop", pr, "stopped", err);
        if (rc == 0)
            rc = run_batch(e, items, from, to, "DELETE", rm.data, pr, "removed", err);
        from = to;
    }
    buf_release(&rm);
    if (rc == 0) {
        json_t *nets = NULL;
        q = project_query("/networks", p->name);
        rc = engine_call_ok(e, "GET", q, NULL, 30000, &nets, err);
        free(q);
        json_array_foreach(nets, i, c)
        {
            struct buf path = {0};
            buf_printf(&path, "/networks/%s", json_string_value(json_object_get(c, "Id")));
            if (rc == 0 && engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, err) < 0)
                rc = -1;
            else if (rc == 0) {
                struct buf note = {0};
                buf_printf(&note, "network %s removed",
                           json_string_value(json_object_get(c, "Name")));
                progress_note(pr, note.data);
                buf_release(&note);
            }
            buf_release(&path);
        }
        json_decref(nets);
    }
    if (rc == 0 && o->volumes) {
        json_t *vols = NULL;
        q = project_query("/volumes", p->name);
        rc = engine_call_ok(e, "GET", q, NULL, 30000, &vols, err);
        free(q);
        json_array_foreach(json_object_get(vols, "Volumes"), i, c)
        {
            struct buf path = {0};
            buf_printf(&path, "/volumes/%s", json_string_value(json_object_get(c, "Name")));
            if (rc == 0 && engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, err) < 0)
                rc = -1;
            buf_release(&path);
        }
        json_decref(vols);
    }
    progress_free(pr);
    for (i = 0; i < n; i++) {
        free(items[i].id);
        free(items[i].service);
    }
    free(items);
    free(names);
    return rc;
}

/* ---- one-off runs ------------------------------------------------------- */

int stack_run_oneoff(struct engine *e, const struct compose_project *p,
                     const struct compose_service *s, const char *image, const struct strv *argv,
                     const struct strv *env_override, long timeout_ms, int *exit_code,
                     struct buf *logs, struct tt_err *err)
{
    struct container_spec *spec = container_spec_new(p, s, image);
    json_t *body = spec->body, *cmd = json_array(), *env = json_object_get(body, "Env");
    json_t *host = json_object_get(body, "HostConfig"), *resp = NULL, *waited = NULL;
    struct buf path = {0}, name = {0};
    int rc = -1;

    for (size_t i = 0; i < argv->n; i++)
        json_array_append_new(cmd, json_string(argv->v[i]));
    json_object_set_new(body, "Cmd", cmd);
    for (size_t i = 0; env_override && i < env_override->n; i++) {
        const char *eq = strchr(env_override->v[i], '=');
        size_t klen = eq ? (size_t)(eq - env_override->v[i]) + 1 : strlen(env_override->v[i]);
        size_t k;
        json_t *item;
        json_array_foreach(env, k, item)
        {
            if (!strncmp(json_string_value(item), env_override->v[i], klen)) {
                json_array_remove(env, k);
                break;
            }
        }
        json_array_append_new(env, json_string(env_override->v[i]));
    }
    json_object_set_new(host, "PortBindings", json_object());
    json_object_set_new(host, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
    json_object_set_new(body, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
    json_object_set_new(json_object_get(body, "Labels"), LABEL_ONEOFF, json_string("True"));
    json_object_del(json_object_get(body, "Labels"), LABEL_CONFIG_HASH);
    buf_printf(&name, "%s-%s-run-%ld%ld", p->name, s->name, (long)getpid(),
               (long)time(NULL) % 100000);
    buf_adds(&path, "/containers/create?name=");
    engine_urlencode(name.data, &path);
    if (engine_call_ok(e, "POST", path.data, body, 30000, &resp, err) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(resp, "Id"));
    for (size_t i = 0; i < json_array_size(spec->extra_networks); i++) {
        json_t *n = json_array_get(spec->extra_networks, i);
        json_t *b = json_pack("{s:s}", "Container", id);
        buf_reset(&path);
        buf_printf(&path, "/networks/%s/connect", json_string_value(json_object_get(n, "network")));
        int r2 = engine_call_ok(e, "POST", path.data, b, 30000, NULL, err);
        json_decref(b);
        if (r2 < 0)
            goto remove;
    }
    buf_reset(&path);
    buf_printf(&path, "/containers/%s/start", id);
    if (engine_call_ok(e, "POST", path.data, NULL, 30000, NULL, err) < 0)
        goto remove;
    buf_reset(&path);
    buf_printf(&path, "/containers/%s/wait", id);
    if (engine_call_ok(e, "POST", path.data, NULL, timeout_ms, &waited, err) < 0) {
        tt_error(err, "%s did not finish within %ld s", name.data, timeout_ms / 1000);
        goto remove;
    }
    *exit_code = (int)json_integer_value(json_object_get(waited, "StatusCode"));
    append_logs(e, id, logs);
    rc = 0;
remove:
    buf_reset(&path);
    buf_printf(&path, "/containers/%s?force=1&v=1", id);
    {
        struct tt_err e2 = {0};
        engine_call(e, "DELETE", path.data, NULL, 30000, NULL, NULL, &e2);
    }
done:
    json_decref(resp);
    json_decref(waited);
    container_spec_free(spec);
    buf_release(&path);
    buf_release(&name);
    return rc;
}

int stack_toggle_service(struct engine *e, const char *project, const char *service, int start,
                         struct tt_err *err)
{
    struct buf path = {0};
    char *id = NULL;
    int rc = 0;

    id = service_container(e, project, service, start, err); /* a stopped one, to start it */
    if (id) {
        buf_printf(&path, "/containers/%s/%s", id, start ? "start" : "stop");
        long st = engine_call(e, "POST", path.data, NULL, 120000, NULL, NULL, err);
        if (st != 204 && st != 304)
            rc = tt_error(err, "could not %s %s (HTTP %ld)", start ? "start" : "stop", service, st);
    }
    free(id);
    buf_release(&path);
    return rc;
}
