/*
 * stack_prepare.c - what `up` and its preview find out before anything
 * changes: which services are selected, their images (inspected, pulled
 * when absent), what each must reach to count as ready, and which of the
 * project's existing containers can be kept; and the report of a run.
 */
#include "stack_private.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    stack_image_path(image, &path);
    status = engine_call(r->e, "GET", path.data, NULL, 30000, &j, NULL, err);
    if (status == 404 && !allow_pull) {
        buf_release(&path);
        json_decref(j); /* the daemon's "no such image" message */
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
        json_decref(j); /* the 404's answer */
        j = NULL;
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

static const char *const slot_names[] = {"blue", "green"};

static void seen_from(struct seen_container *x, json_t *c, const struct svc *v)
{
    json_t *labels = json_object_get(c, "Labels");
    const char *hash = json_string_value(json_object_get(labels, LABEL_CONFIG_HASH));
    const char *image = json_string_value(json_object_get(c, "ImageID"));
    const char *state = json_string_value(json_object_get(c, "State"));
    const char *status = json_string_value(json_object_get(c, "Status"));
    const char *ref = json_string_value(json_object_get(c, "Image"));

    x->id = xstrdup(json_string_value(json_object_get(c, "Id")));
    x->image = xstrdup(ref ? ref : "");
    x->running = state && !strcmp(state, "running");
    x->unready = status && (strstr(status, "(unhealthy)") || strstr(status, "(health: "));
    x->matches =
        hash && !strcmp(hash, v->spec->hash) && image && v->image_id && !strcmp(image, v->image_id);
}

/* The container v takes over (or replaces), moved into v's old_* fields. */
static void take_old(struct svc *v, struct seen_container *x)
{
    v->old_id = x->id;
    v->old_image = x->image;
    v->old_running = x->running;
    v->old_unready = x->unready;
    v->old_matches = x->matches;
    memset(x, 0, sizeof(*x));
}

/*
 * Picks the slot of blue-green v: the one already running this release
 * (the live one first), else the one that is not live; its container, if
 * any, becomes v's old one and the spec is named after the slot.
 */
static void choose_slot(struct up_run *r, struct svc *v)
{
    int live = !v->bg->live ? -1 : strcmp(v->bg->live, "green") ? 0 : 1; /* blue 0, green 1 */
    int idle = live == 0 ? 1 : 0;
    int pick = idle;

    if (live >= 0 && v->slots_seen[live].matches)
        pick = live; /* the live slot runs this release: nothing to switch */
    else if (v->slots_seen[idle].matches)
        pick = idle; /* kept from before: a switch back needs no start */
    else if (live < 0 && v->slots_seen[1].matches)
        pick = 1;
    v->slot = slot_names[pick];
    if (v->slots_seen[pick].id)
        take_old(v, &v->slots_seen[pick]);
    container_spec_set_slot(v->spec, r->p, v->s, v->slot, v->bg->service_alias);
}

/* Matches the project's existing containers to services. */
static int find_existing(struct up_run *r, struct tt_err *err)
{
    json_t *list = NULL;
    int rc =
        stack_project_list(r->e, "/containers/json?all=1", r->p->name, NULL, 30000, &list, err);
    size_t i;
    json_t *c;

    if (rc < 0)
        return -1;
    json_array_foreach(list, i, c)
    {
        json_t *labels = json_object_get(c, "Labels");
        const char *service = json_string_value(json_object_get(labels, LABEL_SERVICE));
        const char *oneoff = json_string_value(json_object_get(labels, LABEL_ONEOFF));
        const char *slot = json_string_value(json_object_get(labels, LABEL_SLOT));
        const char *id = json_string_value(json_object_get(c, "Id"));
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
        if (v->state == SVC_UNSELECTED)
            continue;
        if (v->bg) { /* a slot (a container of another strategy is left alone) */
            int k = slot ? !strcmp(slot, "blue") ? 0 : !strcmp(slot, "green") ? 1 : -1 : -1;
            if (k >= 0 && !v->slots_seen[k].id)
                seen_from(&v->slots_seen[k], c, v);
        } else if (!v->old_id && !slot) {
            struct seen_container x = {0};
            seen_from(&x, c, v);
            take_old(v, &x);
        }
    }
    json_decref(list);
    for (size_t k = 0; k < r->d->n; k++)
        if (r->svcs[k].bg && r->svcs[k].state != SVC_UNSELECTED)
            choose_slot(r, &r->svcs[k]);
    return 0;
}

/* What launch() does to v, in words the audit and --dry-run use. */
const char *stack_svc_action(const struct svc *v)
{
    if (!v->image_id)
        return "pull and create";
    if (v->old_id && v->old_matches)
        return v->old_running ? "unchanged" : "start";
    return v->old_id ? "recreate" : "create";
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

void stack_up_run_free(struct up_run *r)
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
        for (int k = 0; k < 2; k++) {
            free(v->slots_seen[k].id);
            free(v->slots_seen[k].image);
        }
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
        free(x->spec);
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

void stack_up_report(struct up_run *r, struct stack_report *out)
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
        x->action = v->action ? v->action : stack_svc_action(v);
        x->state = state_word(v);
        snprintf(x->how, sizeof(x->how), "%s", v->how);
        x->seconds = v->seconds;
        x->container_id = v->id ? xstrdup(v->id) : NULL;
        x->image = xstrdup(json_string_value(json_object_get(v->spec->body, "Image")));
        x->image_id = v->image_id ? xstrdup(v->image_id) : NULL;
        x->old_image = v->old_image && v->old_id && !v->old_matches ? xstrdup(v->old_image) : NULL;
        x->config_hash = xstrdup(v->spec->hash);
        x->error = v->error ? xstrdup(v->error) : NULL;
        snprintf(x->slot, sizeof(x->slot), "%s", v->slot ? v->slot : "");
    }
}

/* Everything up and preview share: selection, specs, images, needs, existing containers. */
int stack_up_prepare(struct up_run *r, struct engine *e, const struct compose_project *p,
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
        for (size_t k = 0; k < o->nslots; k++)
            if (!strcmp(o->slots[k].service, p->services[i]->name))
                r->svcs[i].bg = &o->slots[k];
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
    int rc = stack_up_prepare(&r, e, p, d, o, 0, &names, err);
    if (rc == 0)
        stack_up_report(&r, report);
    free(names);
    stack_up_run_free(&r);
    return rc;
}
