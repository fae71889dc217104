/*
 * rollback_actions.c - what a rollback does, one action at a time, each
 * a step with its intent and outcome:
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
 * release) says so and is skipped.  Downgrade and restore are also what
 * a manual rollback (redeploy.c) runs when asked.
 */
#include "rollback.h"
#include "backup.h"
#include "dbclean.h"
#include "monotime.h"
#include "pgdb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum action_result action_images(struct run *a, json_t *previous, struct buf *detail)
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
    release_use_recorded(a, a->project, previous); /* new services: left as they are */
    double t0 = monotime_now();
    int rc = tier_bring_up(a, a->project, a->dag, why.data, detail);
    if (rc == 1)
        buf_printf(detail, " (%s)", why.data);
    if (rc == 0) {
        double since_failure = monotime_now() - a->failed_at;
        buf_printf(detail, "; %s in %.2f s, %.2f s after the failure was detected", why.data,
                   monotime_now() - t0, since_failure);
        struct tt_err e = {0};
        json_t *v = json_real(since_failure);
        if (store_deployment_note(a->store, a->id, "recovered_seconds", v, &e) < 0)
            run_store_failed(a, &e);
        json_decref(v);
    }
    buf_release(&why);
    return rc == 0 ? ACTION_DONE : rc == 1 ? ACTION_SKIPPED : ACTION_FAILED;
}

static enum action_result action_git(struct run *a, json_t *previous, struct buf *detail)
{
    const char *commit =
        previous ? json_string_value(json_object_get(previous, "git_commit")) : NULL;
    struct release *rel = NULL;
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
    if (release_load_commit(a->plan, commit, a->project->name, &rel, a->err) < 0)
        return ACTION_FAILED;
    release_use_recorded(a, rel->project, previous);
    buf_printf(&why, "compose and plan of %s (commit %.12s)",
               store_text(previous, "git_tag", "the previous release"), commit);
    buf_printf(detail, "%s: ", why.data);
    int rc = tier_bring_up(a, rel->project, rel->dag, why.data, detail);
    release_free(rel);
    buf_release(&why);
    return rc == 0 ? ACTION_DONE : rc == 1 ? ACTION_SKIPPED : ACTION_FAILED;
}

/* Brings the schema to revision target: .down.sql files, or the down command of the plan. */
static int downgrade(struct run *a, const char *target, struct buf *detail)
{
    const struct plan *pl = a->plan;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    char *now = NULL;
    int rc;

    if (!strcmp(pl->migrate.kind, "sql")) {
        struct pgdb_migrations m = {0};
        struct strv reverted = {0};
        char *dir = plan_resolve(a->plan, pl->migrate.dir);
        struct pgdb *c = NULL;
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
            pgdb_close(c);
        free(dir);
        strv_clear(&reverted);
        pgdb_migrations_clear(&m);
        free(now);
        return rc;
    }
    rc = migrate_read_revision(a, pl->db_url, deadline, &now);
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
        rc = run_toggle_service(a, pl->migrate.stop_during.v[i], 0, a->err);
    if (rc == 0) /* the release's image: it holds the scripts that know the way down */
        rc = migrate_run_command(a, &pl->migrate.down, target, a->migrate_image, NULL, a->err);
    for (size_t i = 0; i < pl->migrate.stop_during.n; i++)
        run_toggle_service(a, pl->migrate.stop_during.v[i], 1, &e2);
    char *after = NULL;
    if (rc == 0)
        rc = migrate_read_revision(a, pl->db_url, deadline, &after);
    if (rc == 0 && strcmp(after, target))
        rc = tt_error(a->err, "the down command left revision \"%s\", not \"%s\"", after, target);
    if (rc == 0)
        buf_printf(detail, "revision %s -> %s", now[0] ? now : "base", target[0] ? target : "base");
    free(now);
    free(after);
    return rc;
}

/* self: this deployment as store_show() gives it. */
static enum action_result action_migrations(struct run *a, json_t *self, struct buf *detail)
{
    json_t *m = json_array_get(json_object_get(self, "migrations"), 0);
    const char *before = store_text(m, "revision_before", NULL);

    if (!before || !a->plan->migrate.present) {
        buf_adds(detail, "this deployment ran no migration");
        return ACTION_SKIPPED;
    }
    return rollback_downgrade(a, before, detail);
}

/*
 * Restores backup b (a row of the backups table) into a new database that
 * then takes the live one's name; the live one is kept as
 * tt_pre_restore_ID_HASH.  Both names come from pgdb_scratch_name(), so
 * they stay whole and never equal the live name; a crash between the
 * swap's renames finds the restored copy again by its name.  The facts
 * (kept_as) go to the deployment's notes.
 */
enum action_result rollback_restore(struct run *a, json_t *b, struct buf *detail)
{
    struct tt_err e2 = {0};
    const struct plan *pl = a->plan;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    char *db = pgdb_url_db(pl->db_url), *scratch = NULL, *keep = NULL, id[32], purpose[48];
    int live_exists = 1, rc = 0;
    long long writes = -1;
    enum action_result res = ACTION_FAILED;

    if (!b || !json_is_null(json_object_get(b, "deleted_at"))) {
        buf_adds(detail, b ? "the backup was deleted by retention" : "no backup was taken");
        res = ACTION_SKIPPED;
        goto out;
    }
    const char *path = json_string_value(json_object_get(b, "path"));
    snprintf(id, sizeof(id), "%lld", a->id);
    snprintf(purpose, sizeof(purpose), "pre_restore_%lld", a->id);
    scratch = pgdb_scratch_name("restore", db, id);
    keep = pgdb_scratch_name(purpose, db, id);
    struct dbscratch s = {a->store, a->id, pl->db_url};
    rc = pgdb_database_exists(pl->db_url, db, deadline, &live_exists, a->err);
    /* A swap a crash cut in half: the restored copy waits for its name. */
    if (rc == 0 && live_exists)
        rc = backup_restore_into(path, json_string_value(json_object_get(b, "sha256")), &s, scratch,
                                 deadline, a->err);
    if (rc == 0) /* each change to the live database recorded with its undo first */
        rc = dbscratch_swap(&s, db, scratch, keep, &writes, deadline, a->err);
    if (rc < 0)
        goto out;
    json_t *facts = json_object();
    json_object_set_new(facts, "backup", json_string(path));
    json_object_set_new(facts, "kept_as", json_string(keep));
    buf_printf(detail, "restored %s into %s; the database as it was is kept as %s", path, db, keep);
    json_t *at_backup = json_object_get(b, "writes");
    if (writes >= 0 && json_is_integer(at_backup)) {
        long long lost = writes - json_integer_value(at_backup);
        json_object_set_new(facts, "writes_since_backup", json_integer(lost));
        buf_printf(detail, "; %lld row write%s after the backup %s only there", lost,
                   lost == 1 ? "" : "s", lost == 1 ? "is" : "are");
    }
    if (store_deployment_note(a->store, a->id, "restore", facts, &e2) < 0)
        run_store_failed(a, &e2);
    json_decref(facts);
    res = ACTION_DONE;
out:
    free(db);
    free(scratch);
    free(keep);
    return res;
}

static enum action_result action_restore(struct run *a, json_t *self, struct buf *detail)
{
    json_t *b = json_array_get(json_object_get(self, "backups"), 0);
    if (!b) {
        buf_adds(detail, "this deployment took no backup");
        return ACTION_SKIPPED;
    }
    return rollback_restore(a, b, detail);
}

enum action_result rollback_downgrade(struct run *a, const char *target, struct buf *detail)
{
    int rc = downgrade(a, target, detail);
    return rc < 0 ? ACTION_FAILED : rc == 1 ? ACTION_SKIPPED : ACTION_DONE;
}

const char *rollback_action_intent(enum plan_action action)
{
    switch (action) {
    case PLAN_ACTION_IMAGES:
        return "every service back on the image of the previous succeeded deployment";
    case PLAN_ACTION_GIT:
        return "the compose and plan files of the previous release's git commit";
    case PLAN_ACTION_MIGRATIONS:
        return "the schema back to the revision before this deployment";
    case PLAN_ACTION_RESTORE:
        return "this deployment's backup restored; the live database kept under another name";
    default:
        return "nothing: the matrix decided so";
    }
}

enum action_result rollback_action(struct run *a, enum plan_action action, json_t *previous,
                                   json_t *self, struct buf *detail)
{
    switch (action) {
    case PLAN_ACTION_IMAGES:
        return action_images(a, previous, detail);
    case PLAN_ACTION_GIT:
        return action_git(a, previous, detail);
    case PLAN_ACTION_MIGRATIONS:
        return action_migrations(a, self, detail);
    case PLAN_ACTION_RESTORE:
        return action_restore(a, self, detail);
    default:
        buf_adds(detail, "not an action that changes anything");
        return ACTION_SKIPPED;
    }
}
