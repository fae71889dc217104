/*
 * diff.c - `ttdeploy diff`: the two comparisons of a project, changing
 * nothing.
 *
 *   live vs recorded  what the daemon runs against the last succeeded
 *                     release the store records (drift.c, which `status`
 *                     shares);
 *   live vs plan      what bringing the plan's release up would do to each
 *                     service now (the preview `apply --dry-run` prints:
 *                     create, recreate, start, unchanged) and why: the
 *                     image the plan names is another, its configuration
 *                     hashes otherwise, the container is stopped or gone.
 *
 * The plan is loaded as apply loads it; the store is read (the caller
 * opens it, read-only where it cannot be written), never written; the
 * engine is only asked.  The result is one JSON document the CLI prints.
 */
#include "run.h"
#include "container_spec.h"

#include <stdlib.h>
#include <string.h>

/* "sha256:0123456789ab" of an ID, or the text itself when it is not one (new string). */
static json_t *short_ref(const char *id)
{
    if (!id)
        return json_null();
    if (strncmp(id, "sha256:", 7))
        return json_string(id);
    return json_sprintf("sha256:%.12s", id + 7);
}

/* The project's container that stands for x (its slot's, for a blue-green service), or NULL. */
static json_t *live_for(json_t *live, const struct stack_result *x)
{
    json_t *c, *best = NULL;
    size_t i;
    json_array_foreach(live, i, c)
    {
        json_t *labels = json_object_get(c, "Labels");
        const char *s = json_string_value(json_object_get(labels, LABEL_SERVICE));
        const char *oneoff = json_string_value(json_object_get(labels, LABEL_ONEOFF));
        const char *slot = json_string_value(json_object_get(labels, LABEL_SLOT));
        if (!s || strcmp(s, x->service) || (oneoff && !strcmp(oneoff, "True")))
            continue;
        if (x->slot[0] ? slot && !strcmp(slot, x->slot) : !slot)
            return c;
        if (!best)
            best = c;
    }
    return x->slot[0] ? NULL : best;
}

/* Appends {what, live, plan} to reasons (live, plan: stolen). */
static void add_reason(json_t *reasons, const char *what, json_t *live, json_t *plan)
{
    json_array_append_new(reasons,
                          json_pack("{s:s, s:o, s:o}", "what", what, "live",
                                    live ? live : json_null(), "plan", plan ? plan : json_null()));
}

/* Why x's action is not "unchanged", read from the container that stands for it (c, or NULL). */
static json_t *plan_reasons(const struct run *a, const struct stack_result *x, json_t *c)
{
    json_t *reasons = json_array();
    if (!strcmp(x->action, "pull and create")) {
        add_reason(reasons, "image", json_string("not present on the engine"),
                   json_string(x->image));
        return reasons;
    }
    if (run_swarm_mode(a)) { /* the preview compared the specs: say what it saw */
        if (x->old_image && strcmp(x->old_image, x->image))
            add_reason(reasons, "image", json_string(x->old_image), json_string(x->image));
        else if (strcmp(x->action, "unchanged"))
            add_reason(reasons, "config", json_string("the running spec"),
                       short_ref(x->config_hash));
        return reasons;
    }
    if (!c) {
        add_reason(reasons, "container", NULL, json_string(x->image));
        return reasons;
    }
    const char *image_id = json_string_value(json_object_get(c, "ImageID"));
    const char *hash =
        json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_CONFIG_HASH));
    const char *state = json_string_value(json_object_get(c, "State"));
    if (x->image_id && (!image_id || strcmp(image_id, x->image_id)))
        add_reason(reasons, "image",
                   json_sprintf("%s (%.19s)", json_string_value(json_object_get(c, "Image")),
                                image_id ? image_id : "?"),
                   json_sprintf("%s (%.19s)", x->image, x->image_id));
    if (x->config_hash && (!hash || strcmp(hash, x->config_hash)))
        add_reason(reasons, "config", short_ref(hash), short_ref(x->config_hash));
    if (state && strcmp(state, "running"))
        add_reason(reasons, "running", json_string(state), json_string("running"));
    return reasons;
}

/* live vs plan: one entry per service of the plan, what up would do to it and why. */
static int plan_compare(struct run *a, json_t **out, int *differs)
{
    struct stack_options so = {0};
    struct stack_report rep = {0};
    json_t *live = NULL;
    struct tt_err ignored = {0};

    so.progress = PROGRESS_QUIET;
    bluegreen_options(a, &so);
    if (run_stack_preview(a, a->project, a->dag, &so, &rep, a->err) < 0)
        return -1;
    if (!run_swarm_mode(a) &&
        stack_project_containers(a->engine, a->project->name, &live, &ignored) < 0)
        live = json_array();
    *out = json_array();
    for (size_t i = 0; i < rep.n; i++) {
        const struct stack_result *x = &rep.v[i];
        int pending = bluegreen_switch_pending(a, x);
        int changes = strcmp(x->action, "unchanged") || pending;
        json_t *reasons = changes ? plan_reasons(a, x, live_for(live, x)) : json_array();
        if (pending)
            add_reason(reasons, "slot", NULL, json_string(x->slot));
        json_array_append_new(
            *out, json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:s?}", "service", x->service, "action",
                            changes ? x->action : "unchanged", "image", x->image, "image_id",
                            short_ref(x->image_id), "changes", changes, "reasons", reasons, "slot",
                            x->slot[0] ? x->slot : NULL));
        *differs |= changes;
    }
    json_decref(live);
    stack_report_clear(&rep);
    strv_clear(&so.services);
    return 0;
}

enum apply_outcome deploy_diff(const struct apply_options *o, struct store *st, json_t **out,
                               struct tt_err *err)
{
    struct run a = {0};
    json_t *lvr = NULL, *lvp = NULL, *recorded = json_null(), *d;
    int differs = 0;
    size_t i;

    *out = NULL;
    enum apply_outcome res = run_load(&a, o, err);
    if (res == APPLY_OK && run_open_engine(&a) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK) {
        int rc = drift_compare(a.engine, st, a.project->name, a.project, &lvr, err);
        res = rc == -2 ? APPLY_UNREACHABLE : rc < 0 ? APPLY_BAD_INPUT : APPLY_OK;
    }
    if (res == APPLY_OK && plan_compare(&a, &lvp, &differs) < 0)
        res = APPLY_BAD_INPUT;
    if (res != APPLY_OK) {
        json_decref(lvr);
        run_free(&a);
        return res;
    }
    json_array_foreach(lvr, i, d)
    {
        const char *state = json_string_value(json_object_get(d, "state"));
        differs |= strcmp(state, "same") != 0;
        if (json_is_null(recorded) && json_object_get(d, "deployment"))
            recorded = json_pack("{s:O, s:O?}", "deployment", json_object_get(d, "deployment"),
                                 "release", json_object_get(d, "version"));
    }
    *out = json_pack("{s:s, s:s, s:s?, s:s, s:o, s:o, s:o, s:b}", "project", a.project->name,
                     "plan", a.plan->path, "release", a.plan->release_version, "mode",
                     run_swarm_mode(&a) ? "swarm" : "local", "recorded", recorded,
                     "live_vs_recorded", lvr, "live_vs_plan", lvp, "differs", differs);
    run_free(&a);
    return APPLY_OK;
}
