/*
 * redeploy.c - `ttdeploy rollback`: an earlier release deployed again, by
 * hand, as a new deployment of kind "rollback" that names the one it
 * rolled back.
 *
 * The target is the previous succeeded release, a recorded deployment
 * (--to ID) or a git tag (--to-tag).  A target with a git commit, when
 * the plan has release.git, is rebuilt from the files of that commit
 * (its plan's checks and tiers too); otherwise its recorded images go on
 * the current compose files.  It then runs the forward phases: backup,
 * the database (left alone, or downgraded and/or restored when asked),
 * infra, app, verify.  A failure ends it "failed": a manual rollback is
 * not rolled back again.
 */
#include "deploy.h"
#include "run.h"
#include "gitref.h"
#include "progress.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The tag before current in version order, or an error naming the tags there are. */
static int previous_tag(const char *repo, const char *current, struct buf *out, struct tt_err *err)
{
    struct strv tags = {0};
    int rc = gitref_tags(repo, &tags, err);
    const char *best = NULL;
    for (size_t i = 0; rc == 0 && i < tags.n; i++)
        if (!current || gitref_version_cmp(tags.v[i], current) < 0)
            best = tags.v[i];
    if (rc == 0 && !best)
        rc = tt_error(err, "no git tag comes before %s in %s: name one with --to-tag",
                      current ? current : "the current release", repo);
    if (rc == 0)
        buf_adds(out, best);
    strv_clear(&tags);
    return rc;
}

/* Puts the images recorded by deployment t on a->project (services it did not run keep theirs). */
static void use_recorded_images(struct apply_run *a, json_t *t)
{
    for (size_t i = 0; i < a->project->nservices; i++) {
        struct compose_service *s = a->project->services[i];
        json_t *r = rollback_release_of(t, s->name);
        if (r) {
            free(s->image);
            s->image = rollback_recorded_image(a->engine, r);
        }
    }
}

/* Replaces the run's plan and project with those of commit (its checks, tiers, compose files). */
static int switch_to_git(struct apply_run *a, const char *commit, json_t *t,
                         struct plan **forward_plan)
{
    struct plan *p;
    struct compose_project *proj;
    struct dag *d;
    if (rollback_load_git(a, commit, t, &p, &proj, &d) < 0)
        return -1;
    for (size_t i = 0; i < a->plan->nchecks; i++)
        free(a->before[i]);
    free(a->before);
    free(a->p95_before);
    a->before = xcalloc(p->nchecks + 1, sizeof(char *));
    a->p95_before = xcalloc(p->nchecks + 1, sizeof(double));
    for (size_t i = 0; i < p->nchecks; i++)
        a->p95_before[i] = NAN;
    *forward_plan = a->plan;
    a->plan = p;
    compose_project_free(a->project);
    dag_free(a->dag);
    a->project = proj;
    a->dag = d;
    return 0;
}

struct target {
    json_t *current; /* the newest succeeded deployment (store_show), or NULL */
    json_t *release; /* the deployment rolled back to, or NULL (a tag never deployed) */
    char *version;   /* what the new deployment records */
    char *tag;       /* git tag, or NULL */
    char commit[41]; /* "" when not from git */
};

static void target_clear(struct target *t)
{
    json_decref(t->current);
    json_decref(t->release);
    free(t->version);
    free(t->tag);
}

/* Finds what to roll back to, per --to, --to-tag or --previous. */
static enum apply_outcome find_target(struct apply_run *a, const struct redeploy_options *o,
                                      struct target *t)
{
    struct tt_err e2 = {0};
    t->current = store_succeeded_before(a->store, a->project->name, 0, &e2);
    if (o->to_tag) {
        char *repo;
        struct buf tag = {0};
        if (!a->plan->git_repo)
            return tt_error(a->err, "%s has no release.git: {repo}: --to-tag needs the repository",
                            a->plan->path),
                   APPLY_BAD_INPUT;
        repo = apply_plan_relative(a, a->plan->git_repo);
        int rc = 0;
        if (!strcmp(o->to_tag, "previous")) {
            const char *cur =
                t->current ? json_string_value(json_object_get(t->current, "git_tag")) : NULL;
            rc = previous_tag(repo, cur ? cur : a->plan->git_tag, &tag, a->err);
        } else {
            buf_adds(&tag, o->to_tag);
        }
        if (rc == 0)
            rc = gitref_resolve(repo, tag.data, t->commit, a->err);
        free(repo);
        if (rc < 0) {
            buf_release(&tag);
            return APPLY_BAD_INPUT;
        }
        t->tag = buf_detach(&tag);
        t->version = xstrdup(t->tag);
        t->release = store_succeeded_at_commit(a->store, a->project->name, t->commit, &e2);
        return APPLY_OK;
    }
    if (!t->current)
        return tt_error(a->err, "no deployment of %s has succeeded yet: nothing to roll back",
                        a->project->name),
               APPLY_BAD_INPUT;
    if (o->to_id) {
        t->release = store_show(a->store, o->to_id, a->err);
        if (!t->release)
            return APPLY_BAD_INPUT;
        const char *proj = json_string_value(json_object_get(t->release, "project"));
        const char *status = json_string_value(json_object_get(t->release, "status"));
        if (strcmp(proj, a->project->name) || strcmp(status, "succeeded"))
            return tt_error(a->err,
                            "deployment %lld is a %s deployment of %s: roll back to a succeeded "
                            "deployment of %s (see `ttdeploy history --status succeeded`)",
                            o->to_id, status, proj, a->project->name),
                   APPLY_BAD_INPUT;
    } else {
        long long cur = json_integer_value(json_object_get(t->current, "id"));
        t->release = store_succeeded_before(a->store, a->project->name, cur, &e2);
        if (!t->release)
            return tt_error(a->err,
                            "deployment %lld is the only succeeded deployment of %s: there is no "
                            "earlier release to roll back to",
                            cur, a->project->name),
                   APPLY_BAD_INPUT;
    }
    t->version = xstrdup(store_text(t->release, "version", "?"));
    if (json_string_value(json_object_get(t->release, "git_tag")))
        t->tag = xstrdup(json_string_value(json_object_get(t->release, "git_tag")));
    const char *commit = json_string_value(json_object_get(t->release, "git_commit"));
    if (commit && a->plan->git_repo)
        snprintf(t->commit, sizeof(t->commit), "%s", commit);
    return APPLY_OK;
}

/* The database half of a manual rollback: downgrade and/or restore, as asked. */
static int phase_database(struct apply_run *a, const struct redeploy_options *o,
                          const struct target *t, const struct plan *forward)
{
    struct tt_err e2 = {0};
    struct buf detail = {0};
    long long step;
    long long tid = t->release ? json_integer_value(json_object_get(t->release, "id")) : 0;
    int rc = 0;

    if (!o->with_migrations && !o->restore_backup) {
        json_t *now = store_revision_at(a->store, a->project->name, LLONG_MAX, &e2);
        json_t *then = tid ? store_revision_at(a->store, a->project->name, tid, &e2) : NULL;
        const char *r_now = now ? json_string_value(json_object_get(now, "revision_after")) : NULL;
        const char *r_then =
            then ? json_string_value(json_object_get(then, "revision_after")) : NULL;
        if (r_now && r_then && strcmp(r_now, r_then))
            buf_printf(&detail,
                       "the schema stays at revision %s (the target ran %s): pass "
                       "--with-migrations to take it back",
                       r_now, r_then);
        else
            buf_adds(&detail, "the schema is left as it is");
        rc = apply_phase_skipped(a, "migrate", detail.data);
        json_decref(now);
        json_decref(then);
        buf_release(&detail);
        return rc;
    }
    if (o->with_migrations) {
        json_t *then = tid ? store_revision_at(a->store, a->project->name, tid, &e2) : NULL;
        const char *target =
            then ? json_string_value(json_object_get(then, "revision_after")) : NULL;
        if (!forward->migrate.present || !target) {
            rc = tt_error(a->err, "--with-migrations: %s",
                          !forward->migrate.present ? "the plan has no migrate: section"
                                                    : "no migration was recorded up to the target "
                                                      "deployment");
        } else {
            store_step_begin(a->store, a->id, "migrate", forward->db_service, "downgrade",
                             "the schema back to the revision the target ran", &step, &e2);
            /* The forward plan holds the newer migrations and so the way down from them. */
            struct plan *saved = a->plan;
            a->plan = (struct plan *)forward;
            rc = rollback_downgrade(a, target, &detail);
            a->plan = saved;
            store_step_end(a->store, step,
                           rc < 0    ? "failed"
                           : rc == 1 ? "skipped"
                                     : "ok",
                           detail.data, rc < 0 ? a->err->msg : NULL, &e2);
            apply_say(a, "migrate: %s", rc < 0 ? a->err->msg : detail.data);
            rc = rc < 0 ? -1 : 0;
        }
        json_decref(then);
    }
    if (rc == 0 && o->restore_backup) {
        json_t *b = store_backup_after(a->store, a->project->name, tid, &e2);
        buf_reset(&detail);
        store_step_begin(a->store, a->id, "migrate", forward->db_service, "restore",
                         "restore the backup taken just after the target deployment ran", &step,
                         &e2);
        enum action_result r =
            b ? rollback_restore(a, b, &detail)
              : (tt_error(a->err, "--restore-backup: no backup was taken after deployment %lld",
                          tid),
                 ACTION_FAILED);
        store_step_end(a->store, step,
                       r == ACTION_FAILED    ? "failed"
                       : r == ACTION_SKIPPED ? "skipped"
                                             : "ok",
                       detail.data, r == ACTION_FAILED ? a->err->msg : NULL, &e2);
        apply_say(a, "migrate: %s", r == ACTION_FAILED ? a->err->msg : detail.data);
        rc = r == ACTION_FAILED ? -1 : 0;
        json_decref(b);
    }
    if (rc < 0)
        a->failed_in = APPLY_MIGRATE;
    buf_release(&detail);
    return rc;
}

static void print_plan(struct apply_run *a, const struct redeploy_options *o,
                       const struct target *t)
{
    FILE *out = a->o->out ? a->o->out : stdout;

    fprintf(out, "dry run: roll %s back", a->project->name);
    if (t->current)
        fprintf(out, " from deployment %" JSON_INTEGER_FORMAT " (%s)",
                json_integer_value(json_object_get(t->current, "id")),
                json_string_value(json_object_get(t->current, "version")));
    fprintf(out, " to %s", t->version);
    if (t->release)
        fprintf(out, " (deployment %" JSON_INTEGER_FORMAT ")",
                json_integer_value(json_object_get(t->release, "id")));
    if (t->commit[0])
        fprintf(out, ", files of commit %.12s", t->commit);
    fputc('\n', out);
    apply_print_preview(a, "infra_up", &a->plan->infra);
    apply_print_preview(a, "app_up", &a->plan->app);
    fprintf(out, "database: %s%s%s\n",
            o->with_migrations ? "downgrade to the target's revision" : "",
            o->with_migrations && o->restore_backup ? ", then " : "",
            o->restore_backup    ? "restore the backup taken after the target"
            : o->with_migrations ? ""
                                 : "left as it is");
    fprintf(out, "nothing was changed (dry run)\n");
}

enum apply_outcome redeploy_run(const struct redeploy_options *o, struct tt_err *err)
{
    struct apply_run a = {0};
    struct target t = {0};
    struct plan *forward = NULL;
    enum apply_outcome res;

    a.o = &o->apply;
    a.err = err;
    a.manual = 1;
    res = apply_load_inputs(&a);
    if (res == APPLY_OK && engine_open(o->apply.host, &a.engine, err) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK && o->apply.dry_run) { /* reads the store; takes no lock */
        char *path = o->apply.state_path ? xstrdup(o->apply.state_path)
                                         : apply_default_state_path(o->apply.plan_path);
        if (store_open(path, &a.store, err) < 0)
            res = APPLY_BAD_INPUT;
        free(path);
    } else if (res == APPLY_OK) {
        res = apply_open_and_lock(&a);
    }
    if (res == APPLY_OK)
        res = apply_refuse_unfinished(&a);
    if (res == APPLY_OK)
        res = find_target(&a, o, &t);
    if (res == APPLY_OK && t.commit[0] && switch_to_git(&a, t.commit, t.release, &forward) < 0)
        res = APPLY_BAD_INPUT;
    if (res == APPLY_OK && !t.commit[0])
        use_recorded_images(&a, t.release);
    if (res == APPLY_OK && o->apply.dry_run) {
        print_plan(&a, o, &t);
    } else if (res == APPLY_OK) {
        long long from = t.current ? json_integer_value(json_object_get(t.current, "id")) : 0;
        if (apply_begin(&a, t.version, t.tag, t.commit[0] ? t.commit : NULL, "rollback", from) <
                0 ||
            apply_baseline(&a) < 0)
            res = apply_fail(&a);
        else if (apply_enter(&a, APPLY_BACKUP) < 0 || apply_phase_backup(&a) < 0)
            res = apply_fail(&a);
        else if (apply_enter(&a, APPLY_MIGRATE) < 0 ||
                 phase_database(&a, o, &t, forward ? forward : a.plan) < 0)
            res = apply_fail(&a);
        else
            res = apply_run_phases(&a, APPLY_INFRA_UP);
        apply_say(&a, "deployment %lld %s", a.id, apply_state_name(a.state));
    }
    target_clear(&t);
    plan_free(forward);
    apply_run_free(&a);
    return res;
}
