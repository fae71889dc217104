/*
 * rollback.c - what happens after a phase fails.
 *
 * apply_fail() describes the failure (phase, check, service and what was
 * measured), asks the matrix which rule fires, records the decision, and
 * runs the rule's actions in order, each one a step with its intent and
 * outcome:
 *
 *   images      every service back on the image the previous succeeded
 *               deployment recorded (by image ID when the tag has moved)
 *   git         the files of the previous release's git commit, written
 *               with libgit2 into a directory of their own (the work tree
 *               is not touched), and its compose and plan from there
 *   migrations  the schema back to the revision recorded before this
 *               deployment (.down.sql files, or the plan's down command
 *               run with this release's image, which knows the way down)
 *   restore     this deployment's backup restored into a new database
 *               that then takes the live one's name; the live one is kept
 *               under another name, so nothing written since is deleted
 *
 * An action that has nothing to do (a first deployment has no previous
 * release) says so and is skipped; when no action has anything to do the
 * deployment ends "failed".  rollback_resume() finishes the actions of a
 * rollback a crash interrupted, skipping those already done.
 * rollback_explain() prints the matrix and which rule a described failure
 * would fire.  `ttdeploy rollback` by hand is redeploy.c.
 */
#include "rollback.h"
#include "monotime.h"
#include "run.h"
#include "backup.h"
#include "gitref.h"
#include "matrix.h"
#include "pgdb.h"
#include "progress.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the decision -------------------------------------------------------- */

static int check_index(const struct plan *p, const char *name)
{
    for (size_t i = 0; name && i < p->nchecks; i++)
        if (!strcmp(p->checks[i].name, name))
            return (int)i;
    return -1;
}

static void failure_of(const struct apply_run *a, enum apply_state phase, struct matrix_failure *f)
{
    int ci = check_index(a->plan, a->fail_check);
    matrix_failure_init(f);
    f->phase = apply_state_name(phase);
    f->check = a->fail_check;
    f->service = a->fail_service;
    f->health = a->fail_health;
    f->error_rate = a->fail_measure.error_rate;
    f->p95_ms = a->fail_measure.p95_ms;
    f->value = a->fail_measure.value;
    if (ci >= 0) {
        f->p95_before_ms = a->p95_before[ci];
        f->value_before = a->before[ci];
    }
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *failure_json(const struct matrix_failure *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "phase", json_string(f->phase));
    if (f->check)
        json_object_set_new(o, "check", json_string(f->check));
    if (f->service)
        json_object_set_new(o, "service", json_string(f->service));
    if (f->health)
        json_object_set_new(o, "health", json_string(f->health));
    if (f->value)
        json_object_set_new(o, "value", json_string(f->value));
    if (f->value_before)
        json_object_set_new(o, "value_before", json_string(f->value_before));
    json_object_set_new(o, "error_rate", num_or_null(f->error_rate));
    json_object_set_new(o, "p95_ms", num_or_null(f->p95_ms));
    json_object_set_new(o, "p95_before_ms", num_or_null(f->p95_before_ms));
    return o;
}

static json_t *actions_json(const struct strv *actions)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < actions->n; i++)
        json_array_append_new(arr, json_string(actions->v[i]));
    return arr;
}

/* Ends the deployment in state to (failed, rolled_back, rollback_failed) with its error. */
static void finish(struct apply_run *a, enum apply_state to, const char *error)
{
    struct tt_err e2 = {0};
    if (a->state != to)
        apply_enter(a, to);
    store_deployment_finish(a->store, a->id, apply_state_name(to), error, &e2);
}

static enum apply_outcome run_actions(struct apply_run *a, const struct strv *actions,
                                      json_t *previous, int resume, struct buf *summary);

enum apply_outcome apply_fail(struct apply_run *a)
{
    struct tt_err *cause = a->err, e2 = {0};
    enum apply_state phase = a->state;
    struct matrix_failure f;
    struct matrix_decision d = {0};
    struct plan *builtin = NULL;
    struct buf text = {0}, why = {0}, error = {0};
    struct strv actions = {0};
    long long step = 0;
    enum apply_outcome res = APPLY_DEPLOY_FAILED;

    a->err = &e2; /* the cause stays in *cause; bookkeeping errors go to e2 */
    if (!a->failed_at)
        a->failed_at = monotime_now();
    buf_adds(&error, cause->msg);
    if (phase < APPLY_LOCKED || phase > APPLY_VERIFY || apply_enter(a, APPLY_DECIDING) < 0) {
        finish(a, APPLY_FAILED, error.data);
        goto out;
    }
    if (a->manual) {
        const char *w = "a manual rollback that fails is not rolled back again: fix the cause and "
                        "run it again, or deploy a release";
        store_step_begin(a->store, a->id, "deciding", NULL, "none", w, &step, &e2);
        store_step_end(a->store, step, "ok", w, NULL, &e2);
        finish(a, APPLY_FAILED, error.data);
        goto out;
    }

    failure_of(a, phase, &f);
    const struct plan_rule *rules = a->plan->rules;
    size_t nrules = a->plan->nrules;
    if (!nrules) {
        builtin = matrix_default_new();
        rules = builtin->rules;
        nrules = builtin->nrules;
    }
    json_t *dec = json_object();
    json_object_set_new(dec, "failure", failure_json(&f));
    json_object_set_new(dec, "builtin", json_boolean(builtin != NULL));
    json_object_set_new(dec, "detected_at_monotonic", json_real(a->failed_at));
    if (matrix_decide(rules, nrules, &f, &d) == 0) {
        plan_rule_action_names(d.rule, &actions);
        matrix_rule_describe(d.rule, &text);
        buf_printf(&why, "rule %zu%s%s%s: %s", d.index, builtin ? " of the built-in matrix" : " (",
                   builtin ? "" : d.rule->at.file, builtin ? "" : ")", d.why.data);
        if (!builtin)
            buf_printf(&why, " [line %d]", d.rule->at.line);
        json_object_set_new(dec, "rule", json_integer((json_int_t)d.index));
        json_object_set_new(dec, "rule_text", json_string(text.data));
        json_object_set_new(dec, "severity", json_string(d.rule->severity));
        json_object_set_new(dec, "measured", json_string(d.why.data));
        if (!builtin)
            json_object_set_new(
                dec, "at",
                json_pack("{s:s, s:i}", "file", d.rule->at.file, "line", d.rule->at.line));
    } else {
        strv_push(&actions, "none");
        buf_adds(&text, "no rule matches");
        buf_adds(&why, "no rule of the matrix matches this failure: fixing forward");
    }
    json_object_set_new(dec, "actions", actions_json(&actions));
    store_deployment_note(a->store, a->id, "decision", dec, &e2);
    json_decref(dec);
    store_step_begin(a->store, a->id, "deciding", f.service, actions.v[0], text.data, &step, &e2);
    store_step_end(a->store, step, "ok", why.data, NULL, &e2);
    char *joined = strv_join(&actions, ", ");
    apply_say(a, "deciding: %s -> %s", why.data, joined);
    free(joined);

    if (!strcmp(actions.v[0], "none") || !strcmp(actions.v[0], "abort")) {
        buf_printf(&error, "; %s per the rollback matrix (%s)",
                   !strcmp(actions.v[0], "none") ? "fixed forward, the new release stays"
                                                 : "aborted, nothing more was changed",
                   text.data);
        finish(a, APPLY_FAILED, error.data);
        goto out;
    }
    json_t *previous = store_succeeded_before(a->store, a->project->name, a->id, &e2);
    if (previous) {
        json_t *to = json_object_get(previous, "id");
        store_deployment_note(a->store, a->id, "rolled_back_to", to, &e2);
    }
    if (apply_enter(a, APPLY_ROLLING_BACK) < 0) {
        json_decref(previous);
        finish(a, APPLY_FAILED, error.data);
        goto out;
    }
    struct buf summary = {0};
    res = run_actions(a, &actions, previous, 0, &summary);
    json_decref(previous);
    if (res == APPLY_OK) {
        buf_printf(&error, "; rolled back: %s", summary.data);
        finish(a, APPLY_ROLLED_BACK, error.data);
        res = APPLY_DEPLOY_FAILED;
    } else if (res == APPLY_DEPLOY_FAILED) {
        buf_printf(&error, "; nothing to roll back to: %s", summary.data);
        finish(a, APPLY_FAILED, error.data);
    } else {
        buf_printf(&error, "; ROLLBACK FAILED: %s", summary.data);
        finish(a, APPLY_ROLLBACK_FAILED, error.data);
    }
    buf_release(&summary);
out:
    /* The message the caller prints: the cause, then what was done about it. */
    tt_error(cause, "%s", error.data);
    a->err = cause;
    matrix_decision_clear(&d);
    plan_free(builtin);
    strv_clear(&actions);
    buf_release(&text);
    buf_release(&why);
    buf_release(&error);
    return res;
}

/* ---- actions -------------------------------------------------------------- */

/* The service's release in a store_show() deployment, or NULL. */
json_t *rollback_release_of(json_t *deployment, const char *service)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(deployment, "releases"), i, r)
    {
        if (!strcmp(json_string_value(json_object_get(r, "service")), service))
            return r;
    }
    return NULL;
}

/* The image to run for a recorded release: its reference, or its ID when the tag has moved. */
char *rollback_recorded_image(struct engine *e, json_t *release)
{
    const char *ref = json_string_value(json_object_get(release, "image"));
    const char *id = json_string_value(json_object_get(release, "image_id"));
    struct buf path = {0};
    json_t *img = NULL;
    struct tt_err e2 = {0};
    char *out;

    if (!id || !*id)
        return xstrdup(ref);
    buf_adds(&path, "/images/");
    engine_urlencode(ref, &path);
    buf_adds(&path, "/json");
    if (engine_call_ok(e, "GET", path.data, NULL, 10000, &img, &e2) == 0 &&
        !strcmp(store_text(img, "Id", ""), id))
        out = xstrdup(ref);
    else
        out = xstrdup(id);
    json_decref(img);
    buf_release(&path);
    return out;
}

/*
 * Brings up the services of project whose container would change (per
 * stack_preview), one step each.  Returns 1 when none would change.
 */
static int bring_up(struct apply_run *a, struct compose_project *p, struct dag *d, const char *why,
                    struct buf *detail)
{
    struct stack_options so = {0};
    struct stack_report preview = {0}, report = {0};
    struct buf text = {0};
    long long *steps;
    int rc;

    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    so.readiness_docker = a->o->readiness_docker;
    if (stack_preview(a->engine, p, d, &so, &preview, a->err) < 0)
        return -1;
    for (size_t i = 0; i < preview.n; i++)
        if (strcmp(preview.v[i].action, "unchanged"))
            strv_push(&so.services, preview.v[i].service);
    if (!so.services.n) {
        buf_adds(detail, "every service already runs it");
        stack_report_clear(&preview);
        return 1;
    }
    steps = xcalloc(so.services.n + 1, sizeof(long long));
    for (size_t i = 0; i < so.services.n; i++) {
        const struct stack_result *x = apply_result_for(&preview, so.services.v[i]);
        buf_reset(&text);
        buf_printf(&text, "%s %s: image %s", x->action, x->service, x->image);
        if (x->old_image && strcmp(x->old_image, x->image))
            buf_printf(&text, " (was %s)", x->old_image);
        buf_printf(&text, "; %s", why);
        store_step_begin(a->store, a->id, "rolling_back", x->service, x->action, text.data,
                         &steps[i], a->err);
    }
    rc = stack_up(a->engine, p, d, &so, &report, a->err);
    for (size_t i = 0; i < so.services.n; i++) {
        const struct stack_result *x = apply_result_for(&report, so.services.v[i]);
        int ok = x && strcmp(x->state, "failed") && strcmp(x->state, "unfinished");
        buf_reset(&text);
        if (x)
            buf_printf(&text, "%s, container %.12s", x->state,
                       x->container_id ? x->container_id : "-");
        struct tt_err e2 = {0};
        store_step_end(a->store, steps[i], ok ? "ok" : "failed", text.data,
                       ok ? NULL : (x && x->error ? x->error : a->err->msg), &e2);
    }
    char *names = strv_join(&so.services, ", ");
    buf_printf(detail, "%s %s", names, rc == 0 ? "ready" : "not ready");
    free(names);
    free(steps);
    buf_release(&text);
    strv_clear(&so.services);
    stack_report_clear(&preview);
    stack_report_clear(&report);
    return rc;
}

static enum action_result action_images(struct apply_run *a, json_t *previous, struct buf *detail)
{
    struct buf why = {0};

    if (!previous) {
        buf_adds(detail,
                 "no earlier succeeded deployment of this project: no images to go back to");
        return ACTION_SKIPPED;
    }
    buf_printf(&why, "back to deployment %" JSON_INTEGER_FORMAT " (%s)",
               json_integer_value(json_object_get(previous, "id")),
               store_text(previous, "version", "?"));
    for (size_t i = 0; i < a->project->nservices; i++) {
        struct compose_service *s = a->project->services[i];
        json_t *r = rollback_release_of(previous, s->name);
        if (!r)
            continue; /* new in this release: left as it is */
        char *image = rollback_recorded_image(a->engine, r);
        free(s->image);
        s->image = image;
    }
    double t0 = monotime_now();
    int rc = bring_up(a, a->project, a->dag, why.data, detail);
    if (rc == 1)
        buf_printf(detail, " (%s)", why.data);
    if (rc == 0) {
        double since_failure = monotime_now() - a->failed_at;
        buf_printf(detail, "; %s in %.2f s, %.2f s after the failure was detected", why.data,
                   monotime_now() - t0, since_failure);
        struct tt_err e2 = {0};
        json_t *v = json_real(since_failure);
        store_deployment_note(a->store, a->id, "recovered_seconds", v, &e2);
        json_decref(v);
    }
    buf_release(&why);
    return rc == 0 ? ACTION_DONE : rc == 1 ? ACTION_SKIPPED : ACTION_FAILED;
}

/*
 * Writes the files of commit into a directory of their own
 * (.ttdeploy/git/COMMIT beside the plan, laid out like the repository, so
 * the old compose file's relative paths find the old files) and loads the
 * plan there, its compose project and DAG, with the images of the
 * recorded release (release_of_commit, may be NULL: the old plan's).
 */
int rollback_load_git(struct apply_run *a, const char *commit, json_t *release_of_commit,
                      struct plan **plan_out, struct compose_project **proj_out,
                      struct dag **dag_out)
{
    char *repo = apply_plan_relative(a, a->plan->git_repo), *workdir = NULL;
    char real_plan[PATH_MAX];
    struct buf root = {0}, rel_plan = {0};
    struct compose_options co = {0};
    struct plan *p = NULL;
    int rc = -1;

    *plan_out = NULL;
    *proj_out = NULL;
    *dag_out = NULL;
    if (gitref_workdir(repo, &workdir, a->err) < 0)
        goto out;
    if (!realpath(a->plan->path, real_plan)) {
        tt_error(a->err, "cannot resolve %s: %s", a->plan->path, strerror(errno));
        goto out;
    }
    if (strncmp(real_plan, workdir, strlen(workdir))) {
        tt_error(a->err, "%s is outside the git repository at %s", real_plan, workdir);
        goto out;
    }
    buf_printf(&root, "%s/.ttdeploy/git/%s", a->plan->dir, commit);
    if (gitref_export(repo, commit, root.data, a->err) < 0)
        goto out;
    buf_printf(&rel_plan, "%s/%s", root.data, real_plan + strlen(workdir));
    if (access(rel_plan.data, F_OK) < 0) {
        tt_error(a->err, "commit %.12s has no %s", commit, real_plan + strlen(workdir));
        goto out;
    }
    if (plan_load(rel_plan.data, NULL, &p, a->err) < 0)
        goto out;
    strv_copy(&co.files, &p->compose);
    strv_copy(&co.env_files, &p->env_files);
    strv_copy(&co.profiles, &p->profiles);
    co.project_name = a->project->name;
    if (compose_load(&co, proj_out, a->err) < 0 || dag_build(*proj_out, dag_out, a->err) < 0 ||
        plan_check_project(p, *proj_out, *dag_out, a->err) < 0)
        goto out;
    for (size_t i = 0; i < (*proj_out)->nservices; i++) {
        struct compose_service *s = (*proj_out)->services[i];
        json_t *r = release_of_commit ? rollback_release_of(release_of_commit, s->name) : NULL;
        const char *img = plan_image_for(p, s->name);
        if (r) {
            free(s->image);
            s->image = rollback_recorded_image(a->engine, r);
        } else if (img) {
            free(s->image);
            s->image = xstrdup(img);
        }
    }
    *plan_out = p;
    p = NULL;
    rc = 0;
out:
    if (rc < 0) {
        dag_free(*dag_out);
        compose_project_free(*proj_out);
        *dag_out = NULL;
        *proj_out = NULL;
    }
    plan_free(p);
    strv_clear(&co.files);
    strv_clear(&co.env_files);
    strv_clear(&co.profiles);
    buf_release(&root);
    buf_release(&rel_plan);
    free(repo);
    free(workdir);
    return rc;
}

static enum action_result action_git(struct apply_run *a, json_t *previous, struct buf *detail)
{
    const char *commit =
        previous ? json_string_value(json_object_get(previous, "git_commit")) : NULL;
    struct plan *p = NULL;
    struct compose_project *proj = NULL;
    struct dag *d = NULL;
    struct buf why = {0};

    if (!previous) {
        buf_adds(detail,
                 "no earlier succeeded deployment of this project: no git tag to go back to");
        return ACTION_SKIPPED;
    }
    if (!commit || !a->plan->git_repo) {
        tt_error(a->err,
                 "deployment %" JSON_INTEGER_FORMAT " recorded no git commit (the plan needs "
                 "release.git: {repo, tag}): use the images action instead",
                 json_integer_value(json_object_get(previous, "id")));
        return ACTION_FAILED;
    }
    if (rollback_load_git(a, commit, previous, &p, &proj, &d) < 0)
        return ACTION_FAILED;
    buf_printf(&why, "compose and plan of %s (commit %.12s)",
               store_text(previous, "git_tag", "the previous release"), commit);
    buf_printf(detail, "%s: ", why.data);
    int rc = bring_up(a, proj, d, why.data, detail);
    plan_free(p);
    dag_free(d);
    compose_project_free(proj);
    buf_release(&why);
    return rc == 0 ? ACTION_DONE : rc == 1 ? ACTION_SKIPPED : ACTION_FAILED;
}

/* Brings the schema to revision target: .down.sql files, or the down command of the plan. */
int rollback_downgrade(struct apply_run *a, const char *target, struct buf *detail)
{
    const struct plan *pl = a->plan;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    char *now = NULL;
    int rc;

    if (!strcmp(pl->migrate.kind, "sql")) {
        struct pgdb_migrations m = {0};
        struct strv reverted = {0};
        char *dir = apply_plan_relative(a, pl->migrate.dir);
        PGconn *c = NULL;
        rc = pgdb_migrations_load(dir, &m, a->err);
        if (rc == 0 && !(c = pgdb_connect(pl->db_url, deadline, a->err)))
            rc = -1;
        if (rc == 0)
            rc = pgdb_migrations_current(c, &now, a->err);
        if (rc == 0 && atoll(now) <= atoll(target)) {
            buf_printf(detail, "already at revision %s", now);
            rc = 1;
        } else if (rc == 0) {
            rc = pgdb_migrations_downgrade(c, &m, atoll(target), &reverted, a->err);
            char *names = strv_join(&reverted, ", ");
            if (rc == 0)
                buf_printf(detail, "revision %s -> %s; reverted: %s", now, target, names);
            free(names);
        }
        if (c)
            PQfinish(c);
        free(dir);
        strv_clear(&reverted);
        pgdb_migrations_clear(&m);
        free(now);
        return rc;
    }
    rc = apply_read_revision(a, pl->db_url, deadline, &now);
    if (rc == 0 && !strcmp(now, target)) {
        buf_printf(detail, "already at revision %s", now[0] ? now : "base");
        free(now);
        return 1;
    }
    if (rc == 0 && !pl->migrate.down.n)
        rc = tt_error(a->err, "migrate: has no down: command, so the schema cannot go back to %s",
                      target[0] ? target : "base");
    struct tt_err e2 = {0};
    for (size_t i = 0; rc == 0 && i < pl->migrate.stop_during.n; i++)
        rc = stack_toggle_service(a->engine, a->project->name, pl->migrate.stop_during.v[i], 0,
                                  a->err);
    if (rc == 0) /* the release's image: it holds the scripts that know the way down */
        rc = apply_migration_command(a, &pl->migrate.down, target, a->migrate_image, NULL, a->err);
    for (size_t i = 0; i < pl->migrate.stop_during.n; i++)
        stack_toggle_service(a->engine, a->project->name, pl->migrate.stop_during.v[i], 1, &e2);
    char *after = NULL;
    if (rc == 0)
        rc = apply_read_revision(a, pl->db_url, deadline, &after);
    if (rc == 0 && strcmp(after, target))
        rc = tt_error(a->err, "the down command left revision \"%s\", not \"%s\"", after, target);
    if (rc == 0)
        buf_printf(detail, "revision %s -> %s", now[0] ? now : "base", target[0] ? target : "base");
    free(now);
    free(after);
    return rc;
}

/* self: this deployment as store_show() gives it. */
static enum action_result action_migrations(struct apply_run *a, json_t *self, struct buf *detail)
{
    json_t *m = json_array_get(json_object_get(self, "migrations"), 0);
    const char *before = store_text(m, "revision_before", NULL);

    if (!before || !a->plan->migrate.present) {
        buf_adds(detail, "this deployment ran no migration");
        return ACTION_SKIPPED;
    }
    int rc = rollback_downgrade(a, before, detail);
    return rc < 0 ? ACTION_FAILED : rc == 1 ? ACTION_SKIPPED : ACTION_DONE;
}

/*
 * Restores backup b (a row of the backups table) into a new database that
 * then takes the live one's name; the live one is kept as
 * DB_ttpre_restore_ID.  The facts go to the deployment's notes.
 */
enum action_result rollback_restore(struct apply_run *a, json_t *b, struct buf *detail)
{
    struct tt_err e2 = {0};
    const struct plan *pl = a->plan;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    struct buf scratch = {0}, keep = {0};
    char *db = pgdb_url_db(pl->db_url);
    int live_exists = 1, rc = 0;
    long long writes = -1;
    enum action_result res = ACTION_FAILED;

    if (!b || !json_is_null(json_object_get(b, "deleted_at"))) {
        buf_adds(detail, b ? "the backup was deleted by retention" : "no backup was taken");
        res = ACTION_SKIPPED;
        goto out;
    }
    const char *path = json_string_value(json_object_get(b, "path"));
    buf_printf(&scratch, "%s_ttrestore", db);
    buf_printf(&keep, "%s_ttpre_restore_%lld", db, a->id);
    rc = pgdb_database_exists(pl->db_url, db, deadline, &live_exists, a->err);
    /* A swap a crash cut in half: the restored copy waits for its name. */
    if (rc == 0 && live_exists)
        rc = backup_restore_into(path, json_string_value(json_object_get(b, "sha256")), pl->db_url,
                                 scratch.data, deadline, a->err);
    if (rc == 0)
        rc = pgdb_swap_database(pl->db_url, db, scratch.data, keep.data, &writes, deadline, a->err);
    if (rc < 0)
        goto out;
    json_t *facts = json_object();
    json_object_set_new(facts, "backup", json_string(path));
    json_object_set_new(facts, "kept_as", json_string(keep.data));
    buf_printf(detail, "restored %s into %s; the database as it was is kept as %s", path, db,
               keep.data);
    json_t *at_backup = json_object_get(b, "writes");
    if (writes >= 0 && json_is_integer(at_backup)) {
        long long lost = writes - json_integer_value(at_backup);
        json_object_set_new(facts, "writes_since_backup", json_integer(lost));
        buf_printf(detail, "; %lld row write%s after the backup %s only there", lost,
                   lost == 1 ? "" : "s", lost == 1 ? "is" : "are");
    }
    store_deployment_note(a->store, a->id, "restore", facts, &e2);
    json_decref(facts);
    res = ACTION_DONE;
out:
    free(db);
    buf_release(&scratch);
    buf_release(&keep);
    return res;
}

static enum action_result action_restore(struct apply_run *a, json_t *self, struct buf *detail)
{
    json_t *b = json_array_get(json_object_get(self, "backups"), 0);
    if (!b) {
        buf_adds(detail, "this deployment took no backup");
        return ACTION_SKIPPED;
    }
    return rollback_restore(a, b, detail);
}

/* Whether the action's step already ended ok in this deployment (a resumed rollback). */
static int action_done_before(json_t *steps, const char *action)
{
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        if (!strcmp(json_string_value(json_object_get(st, "phase")), "rolling_back") &&
            json_is_null(json_object_get(st, "service")) &&
            !strcmp(json_string_value(json_object_get(st, "action")), action) &&
            strcmp(json_string_value(json_object_get(st, "status")), "running") &&
            strcmp(json_string_value(json_object_get(st, "status")), "interrupted") &&
            strcmp(json_string_value(json_object_get(st, "status")), "failed"))
            return 1;
    }
    return 0;
}

static const char *action_intent(const char *action)
{
    if (!strcmp(action, "images"))
        return "every service back on the image of the previous succeeded deployment";
    if (!strcmp(action, "git"))
        return "the compose and plan files of the previous release's git commit";
    if (!strcmp(action, "migrations"))
        return "the schema back to the revision before this deployment";
    return "this deployment's backup restored; the live database kept under another name";
}

/*
 * Runs the actions in order; summary receives what each did.  Returns
 * APPLY_OK when at least one did something and none failed,
 * APPLY_DEPLOY_FAILED when every one was skipped, APPLY_ROLLBACK_BROKE
 * when one failed (the rest are not run).
 */
static enum apply_outcome run_actions(struct apply_run *a, const struct strv *actions,
                                      json_t *previous, int resume, struct buf *summary)
{
    struct tt_err e2 = {0};
    /* This deployment as recorded: its migration, its backup, and (resuming) the steps done. */
    json_t *self = store_show(a->store, a->id, &e2);
    json_t *steps = resume ? json_object_get(self, "steps") : NULL;
    size_t done = 0;
    enum apply_outcome res = APPLY_OK;

    for (size_t i = 0; i < actions->n; i++) {
        const char *action = actions->v[i];
        struct buf detail = {0};
        struct tt_err aerr = {0};
        struct tt_err *saved = a->err;
        long long step;
        enum action_result r;

        if (steps && action_done_before(steps, action)) {
            buf_printf(summary, "%s%s: done before the crash", summary->len ? "; " : "", action);
            done++;
            continue;
        }
        store_step_begin(a->store, a->id, "rolling_back", NULL, action, action_intent(action),
                         &step, &e2);
        apply_say(a, "rolling back: %s", action_intent(action));
        a->err = &aerr;
        if (!strcmp(action, "images"))
            r = action_images(a, previous, &detail);
        else if (!strcmp(action, "git"))
            r = action_git(a, previous, &detail);
        else if (!strcmp(action, "migrations"))
            r = action_migrations(a, self, &detail);
        else
            r = action_restore(a, self, &detail);
        a->err = saved;
        store_step_end(a->store, step,
                       r == ACTION_DONE      ? "ok"
                       : r == ACTION_SKIPPED ? "skipped"
                                             : "failed",
                       detail.len ? detail.data : NULL, r == ACTION_FAILED ? aerr.msg : NULL, &e2);
        apply_say(a, "rolling back: %s %s%s%s", action,
                  r == ACTION_DONE      ? "done"
                  : r == ACTION_SKIPPED ? "skipped"
                                        : "FAILED",
                  detail.len || r == ACTION_FAILED ? ": " : "",
                  r == ACTION_FAILED ? aerr.msg
                  : detail.data      ? detail.data
                                     : "");
        buf_printf(summary, "%s%s %s", summary->len ? "; " : "", action,
                   r == ACTION_DONE      ? "done"
                   : r == ACTION_SKIPPED ? "skipped"
                                         : "failed");
        if (detail.len || r == ACTION_FAILED)
            buf_printf(summary, " (%s)", r == ACTION_FAILED ? aerr.msg : detail.data);
        buf_release(&detail);
        if (r == ACTION_FAILED) {
            res = APPLY_ROLLBACK_BROKE;
            break;
        }
        done += r == ACTION_DONE;
    }
    json_decref(self);
    if (res == APPLY_OK && done == 0)
        res = APPLY_DEPLOY_FAILED;
    return res;
}

enum apply_outcome rollback_resume(struct apply_run *a)
{
    struct tt_err e2 = {0};
    json_t *d = store_show(a->store, a->id, &e2);
    json_t *notes = NULL;
    struct strv actions = {0};
    struct buf summary = {0}, error = {0};
    enum apply_outcome res;
    size_t i;
    json_t *v;

    if (d && json_string_value(json_object_get(d, "notes")))
        notes = json_loads(json_string_value(json_object_get(d, "notes")), 0, NULL);
    json_array_foreach(json_object_get(json_object_get(notes, "decision"), "actions"), i, v)
        strv_push(&actions, json_string_value(v));
    buf_printf(&error, "deployment %lld was interrupted while rolling back", a->id);
    if (!actions.n) {
        buf_adds(&error, ", and its decision was not recorded: see `ttdeploy show`");
        finish(a, APPLY_ROLLBACK_FAILED, error.data);
        res = APPLY_ROLLBACK_BROKE;
    } else {
        a->failed_at = monotime_now();
        json_t *previous = store_succeeded_before(a->store, a->project->name, a->id, &e2);
        res = run_actions(a, &actions, previous, 1, &summary);
        json_decref(previous);
        buf_printf(&error, "; %s: %s",
                   res == APPLY_OK ? "rollback finished by recover" : "rollback failed",
                   summary.data);
        finish(a, res == APPLY_OK ? APPLY_ROLLED_BACK : APPLY_ROLLBACK_FAILED, error.data);
        res = res == APPLY_OK ? APPLY_DEPLOY_FAILED : APPLY_ROLLBACK_BROKE;
    }
    tt_error(a->err, "%s", error.data);
    json_decref(notes);
    json_decref(d);
    strv_clear(&actions);
    buf_release(&summary);
    buf_release(&error);
    return res;
}

/* ---- explaining the matrix ----------------------------------------------------- */

int rollback_explain(const char *plan_path, const struct matrix_failure *f, FILE *out,
                     struct tt_err *err)
{
    struct plan *p = NULL, *builtin = NULL;
    struct matrix_decision d = {0};

    if (plan_load(plan_path, NULL, &p, err) < 0)
        return -1;
    const struct plan_rule *rules = p->rules;
    size_t n = p->nrules;
    if (!n) {
        builtin = matrix_default_new();
        rules = builtin->rules;
        n = builtin->nrules;
    }
    matrix_explain(rules, n, builtin != NULL, out);
    if (f) {
        struct buf line = {0};
        fprintf(out, "\nfailure: phase %s", f->phase ? f->phase : "?");
        if (f->check)
            fprintf(out, ", check %s", f->check);
        if (f->service)
            fprintf(out, ", service %s", f->service);
        fputc('\n', out);
        if (matrix_decide(rules, n, f, &d) == 0) {
            matrix_rule_describe(d.rule, &line);
            fprintf(out, "rule %zu fires (%s): %s\n", d.index, d.why.data, line.data);
        } else {
            fprintf(out, "no rule fires: the deployment would be fixed forward (none)\n");
        }
        buf_release(&line);
    }
    matrix_decision_clear(&d);
    plan_free(builtin);
    plan_free(p);
    return 0;
}
