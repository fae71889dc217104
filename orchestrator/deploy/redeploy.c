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
#include "rollback.h"
#include "gitref.h"

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

/*
 * Replaces the run's release with that of commit (its checks, tiers,
 * compose files), with the images deployment t recorded; *forward
 * receives the release it replaces, whose plan knows the way down.
 */
static int switch_to_git(struct run *a, const char *commit, json_t *t, struct release **forward)
{
    struct release *rel;
    if (release_load_commit(a->plan, commit, a->project->name, &rel, a->err) < 0)
        return -1;
    release_use_recorded(a, rel->project, t);
    *forward = a->release;
    a->release = NULL;
    run_use_release(a, rel);
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
static enum apply_outcome find_target(struct run *a, const struct redeploy_options *o,
                                      struct target *t)
{
    struct tt_err e = {0};
    t->current = store_succeeded_before(a->store, a->project->name, 0, &e);
    if (!t->current && e.msg[0])
        return tt_error(a->err, "%s", e.msg), APPLY_BAD_INPUT;
    if (o->to_tag) {
        char *repo;
        struct buf tag = {0};
        if (!a->plan->git_repo)
            return tt_error(a->err, "%s has no release.git: {repo}: --to-tag needs the repository",
                            a->plan->path),
                   APPLY_BAD_INPUT;
        repo = plan_resolve(a->plan, a->plan->git_repo);
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
        t->release = store_succeeded_at_commit(a->store, a->project->name, t->commit, &e);
        if (!t->release && e.msg[0])
            return tt_error(a->err, "%s", e.msg), APPLY_BAD_INPUT;
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
        t->release = store_succeeded_before(a->store, a->project->name, cur, &e);
        if (!t->release && e.msg[0])
            return tt_error(a->err, "%s", e.msg), APPLY_BAD_INPUT;
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

/* What the phases of a manual rollback need besides the run. */
struct manual {
    const struct redeploy_options *o;
    const struct plan *forward; /* the plan rolled back from: it knows the way down */
    long long target_id;        /* the deployment rolled back to, or 0 (a tag never deployed) */
};

/* The schema revision recorded up to deployment id (LLONG_MAX: the newest), or NULL. */
static char *revision_at(struct run *a, long long id)
{
    struct tt_err e = {0};
    json_t *m = id ? store_revision_at(a->store, a->project->name, id, &e) : NULL;
    char *rev = m && json_string_value(json_object_get(m, "revision_after"))
                    ? xstrdup(json_string_value(json_object_get(m, "revision_after")))
                    : NULL;
    if (!m && e.msg[0])
        run_store_failed(a, &e);
    json_decref(m);
    return rev;
}

/* --with-migrations: the schema back to the revision the target ran. */
static enum action_result downgrade_to_target(struct run *a, void *ctx, struct buf *detail,
                                              struct tt_err *err)
{
    const struct manual *m = ctx;
    char *target = revision_at(a, m->target_id);
    enum action_result r;

    if (!m->forward->migrate.present || !target) {
        tt_error(err, "--with-migrations: %s",
                 !m->forward->migrate.present ? "the plan has no migrate: section"
                                              : "no migration was recorded up to the target "
                                                "deployment");
        free(target);
        return ACTION_FAILED;
    }
    struct plan *saved = a->plan;
    a->plan = (struct plan *)m->forward;
    r = rollback_downgrade(a, target, detail);
    a->plan = saved;
    free(target);
    return r;
}

/* --restore-backup: the backup taken just after the target ran, restored. */
static enum action_result restore_after_target(struct run *a, void *ctx, struct buf *detail,
                                               struct tt_err *err)
{
    const struct manual *m = ctx;
    struct tt_err e = {0};
    json_t *b = store_backup_after(a->store, a->project->name, m->target_id, &e);
    enum action_result r;

    if (!b && e.msg[0]) {
        run_store_failed(a, &e);
        tt_error(err, "--restore-backup: the store cannot list the backups: %s", e.msg);
        return ACTION_FAILED;
    }
    if (!b) {
        tt_error(err, "--restore-backup: no backup was taken after deployment %lld", m->target_id);
        return ACTION_FAILED;
    }
    r = rollback_restore(a, b, detail);
    json_decref(b);
    return r;
}

/* Runs one database step of a manual rollback; -1 when it failed. */
static int database_step(struct run *a, struct manual *m, const char *action, const char *intent,
                         step_fn fn)
{
    struct step_desc d = {DEPLOY_MIGRATE, m->forward->db_service, action, intent};
    struct buf detail = {0};
    struct tt_err e = {0};
    enum action_result r = step_run(a, &d, fn, m, &detail, &e);
    run_say(a, "migrate: %s", r == ACTION_FAILED ? e.msg : detail.data ? detail.data : "");
    if (r == ACTION_FAILED)
        tt_error(a->err, "%s", e.msg);
    buf_release(&detail);
    return r == ACTION_FAILED ? -1 : 0;
}

/* The database half of a manual rollback: left alone, downgraded and/or restored, as asked. */
static int phase_database(struct run *a)
{
    struct manual *m = (struct manual *)a->phase_ctx;
    int rc = 0;

    if (!m->o->with_migrations && !m->o->restore_backup) {
        char *now = revision_at(a, LLONG_MAX), *then = revision_at(a, m->target_id);
        struct buf detail = {0};
        if (now && then && strcmp(now, then))
            buf_printf(&detail,
                       "the schema stays at revision %s (the target ran %s): pass "
                       "--with-migrations to take it back",
                       now, then);
        else
            buf_adds(&detail, "the schema is left as it is");
        rc = step_skipped(a, DEPLOY_MIGRATE, detail.data);
        free(now);
        free(then);
        buf_release(&detail);
        return rc;
    }
    if (m->o->with_migrations)
        rc = database_step(a, m, "downgrade", "the schema back to the revision the target ran",
                           downgrade_to_target);
    if (rc == 0 && m->o->restore_backup)
        rc = database_step(a, m, "restore",
                           "restore the backup taken just after the target deployment ran",
                           restore_after_target);
    return rc;
}

static void print_plan(struct run *a, const struct redeploy_options *o, const struct target *t)
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
    dry_run_preview(a, "infra_up", &a->plan->infra);
    dry_run_preview(a, "app_up", &a->plan->app);
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
    struct run a = {0};
    struct target t = {0};
    struct release *forward = NULL;
    enum apply_outcome res;

    a.manual = 1;
    res = run_load(&a, &o->apply, err);
    if (res == APPLY_OK && run_open_engine(&a) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK) /* a dry run reads the store; it takes no lock */
        res = o->apply.dry_run ? run_open_store(&a) : run_open_and_lock(&a);
    if (res == APPLY_OK)
        res = run_refuse_unfinished(&a);
    if (res == APPLY_OK)
        res = find_target(&a, o, &t);
    if (res == APPLY_OK && t.commit[0] && switch_to_git(&a, t.commit, t.release, &forward) < 0)
        res = APPLY_BAD_INPUT;
    if (res == APPLY_OK && !t.commit[0])
        release_use_recorded(&a, a.project, t.release);
    if (res == APPLY_OK && o->apply.dry_run) {
        print_plan(&a, o, &t);
    } else if (res == APPLY_OK) {
        /* The forward phases, with the database left alone, downgraded or restored as asked. */
        struct phase *table = xcalloc(apply_phase_count, sizeof(*table));
        struct manual m = {o, forward ? forward->plan : a.plan,
                           t.release ? json_integer_value(json_object_get(t.release, "id")) : 0};
        long long from = t.current ? json_integer_value(json_object_get(t.current, "id")) : 0;
        for (size_t i = 0; i < apply_phase_count; i++) {
            table[i] = apply_phase_table[i];
            if (table[i].state == DEPLOY_MIGRATE)
                table[i].run = phase_database;
        }
        struct deployment_start st = {t.version, t.tag, t.commit[0] ? t.commit : NULL, "rollback",
                                      from};
        a.phase_ctx = &m;
        res = apply_deployment(&a, &st, table);
        free(table);
    }
    target_clear(&t);
    release_free(forward);
    run_free(&a);
    return res;
}
