/*
 * apply.c - `ttdeploy apply` and `ttdeploy recover`: the deployment state
 * machine's forward path, as a table of phases.
 *
 *   locked → preflight → backup → migrate → infra_up → infra_healthy → app_up
 *          → app_healthy → verify → succeeded
 *
 * Each phase of the table runs in its states; the first that fails hands
 * the deployment to rollback.c, which asks the matrix what to do.  The
 * phases themselves live in phase_*.c; this file only orders them,
 * begins a deployment, and picks up one a crash interrupted.
 */
#include "run.h"
#include "dbclean.h"
#include "gitref.h"
#include "hooks.h"
#include "rollback.h"
#include "state_remote.h"

#include <stdlib.h>
#include <string.h>

const struct phase apply_phase_table[] = {
    {DEPLOY_PREFLIGHT, DEPLOY_PREFLIGHT, phase_preflight,
     "one step per check (engine, files, images, ports, database, backup-dir, store, git-tag): "
     "what it found",
     "nothing has changed yet: the deployment ends failed (built-in matrix: abort)"},
    {DEPLOY_BACKUP, DEPLOY_BACKUP, phase_backup,
     "the backup file, its SHA-256 and how it was checked", "nothing has changed yet"},
    {DEPLOY_MIGRATE, DEPLOY_MIGRATE, phase_migrate,
     "the revisions before and after, and what was applied or rehearsed",
     "the schema may be half way: the matrix decides (built-in: migrations back down)"},
    {DEPLOY_INFRA_UP, DEPLOY_INFRA_HEALTHY, phase_infra,
     "one intent and outcome per service and state, and the daemon's events",
     "infra services are not ready: the matrix decides (built-in: images, migrations)"},
    {DEPLOY_APP_UP, DEPLOY_APP_HEALTHY, phase_app,
     "one intent and outcome per service and state, and the daemon's events",
     "app services are not ready: the matrix decides (built-in: images, migrations)"},
    {DEPLOY_VERIFY, DEPLOY_VERIFY, phase_verify, "each check's result and what it measured",
     "the release runs but fails its checks: the matrix decides by what was measured"},
};
const size_t apply_phase_count = sizeof(apply_phase_table) / sizeof(apply_phase_table[0]);

enum apply_outcome apply_phases(struct run *a, const struct phase *table, size_t n,
                                enum deploy_state from)
{
    for (size_t i = 0; i < n; i++) {
        enum deploy_state phase = table[i].state;
        if (table[i].last < from)
            continue;
        if (run_enter(a, phase) < 0)
            return rollback_after_failure(a);
        /* hooks.c: a failed before hook fails the phase; after and on_failure are recorded only */
        if (hooks_run(a, phase, PLAN_HOOK_BEFORE) < 0 || table[i].run(a) < 0) {
            hooks_run(a, phase, PLAN_HOOK_ON_FAILURE);
            return rollback_after_failure(a);
        }
        hooks_run(a, phase, PLAN_HOOK_AFTER);
    }
    if (phase_record_releases(a) < 0 || run_enter(a, DEPLOY_SUCCEEDED) < 0)
        return rollback_after_failure(a);
    retention_after_success(a); /* recorded as steps; a failure there fails nothing */
    if (run_finish(a, DEPLOY_SUCCEEDED, NULL) < 0)
        return APPLY_DEPLOY_FAILED;
    return APPLY_OK;
}

enum apply_outcome apply_deployment(struct run *a, const struct deployment_start *st,
                                    const struct phase *table)
{
    enum apply_outcome res;
    struct tt_err e = {0};
    if (run_begin(a, st->version, st->git_tag, st->commit, st->kind, st->rolled_back_from) < 0 ||
        (state_remote_sync(a, &e) < 0 && run_store_failed(a, &e) < 0) || phase_baseline(a) < 0)
        res = rollback_after_failure(a);
    else
        res = apply_phases(a, table, apply_phase_count, DEPLOY_PREFLIGHT);
    run_say(a, "deployment %lld %s", a->id, deploy_state_name(a->state));
    return run_outcome(a, res);
}

/* The commit the plan's release.git names, into commit ("" when the plan names none). */
static enum apply_outcome resolve_commit(struct run *a, char commit[41])
{
    commit[0] = '\0';
    if (!a->plan->git_repo)
        return APPLY_OK;
    char *repo = plan_resolve(a->plan, a->plan->git_repo);
    int rc = gitref_resolve(repo, a->plan->git_tag ? a->plan->git_tag : a->plan->git_commit, commit,
                            a->err);
    free(repo);
    return rc < 0 ? APPLY_BAD_INPUT : APPLY_OK;
}

/*
 * The version the deployment records: --release, else the plan's
 * release.version, else the tag CI deploys (or the tag at HEAD).  An
 * explicit version wins over the tag; none at all is an error.
 */
static enum apply_outcome choose_version(struct run *a)
{
    const char *v = a->o->release && *a->o->release ? a->o->release
                    : a->plan->release_version && *a->plan->release_version
                        ? a->plan->release_version
                        : a->ci.tag;
    if (!v)
        return tt_error(a->err,
                        "%s: release.version is empty and no git tag names this release (neither "
                        "the CI's nor one at HEAD): set release.version, tag the commit, or pass "
                        "--release VERSION",
                        a->plan->path),
               APPLY_BAD_INPUT;
    if (v != a->plan->release_version) {
        char *copy = xstrdup(v);
        free(a->plan->release_version);
        a->plan->release_version = copy;
    }
    return APPLY_OK;
}

enum apply_outcome apply_run(const struct apply_options *o, struct tt_err *err)
{
    struct run a = {0};
    enum apply_outcome res;
    char commit[41] = "";

    res = run_load(&a, o, err);
    if (res == APPLY_OK && a.plan->notify_unset) { /* a new deployment tells its webhooks */
        tt_error(err, "%s", a.plan->notify_unset);
        res = APPLY_BAD_INPUT;
    }
    if (res == APPLY_OK)
        res = choose_version(&a);
    if (res == APPLY_OK && run_open_engine(&a) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK && o->dry_run) {
        res = dry_run_apply(&a);
        run_free(&a);
        return res;
    }
    if (res == APPLY_OK)
        res = resolve_commit(&a, commit);
    if (res == APPLY_OK)
        res = run_open_and_lock(&a);
    if (res == APPLY_OK)
        res = run_refuse_unfinished(&a);
    if (res != APPLY_OK) {
        run_free(&a);
        return res;
    }
    const char *tag = a.plan->git_tag ? a.plan->git_tag : a.ci.tag;
    const char *at = commit[0] ? commit : a.plan->git_commit ? a.plan->git_commit : a.ci.commit;
    struct deployment_start st = {a.plan->release_version, tag, at[0] ? at : NULL, "apply", 0};
    res = apply_deployment(&a, &st, apply_phase_table);
    run_free(&a);
    return res;
}

/* The phase of the newest step that did not end ok: where a deployment stopped before deciding. */
static enum deploy_state last_failed_phase(struct run *a)
{
    struct tt_err e = {0};
    json_t *d = store_show(a->store, a->id, &e);
    enum deploy_state st = DEPLOY_LOCKED;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(d, "steps"), i, step)
    {
        int status = step_status_from_name(json_string_value(json_object_get(step, "status")));
        int ph = deploy_state_from_name(json_string_value(json_object_get(step, "phase")));
        if (ph >= DEPLOY_LOCKED && ph <= DEPLOY_VERIFY && status != STEP_OK &&
            status != STEP_SKIPPED)
            st = (enum deploy_state)ph;
    }
    json_decref(d);
    return st;
}

/* Takes over an interrupted deployment: the lock, its running steps marked, a recover step. */
static int adopt_interrupted(struct run *a, const char *on_crash)
{
    struct buf text = {0};
    struct tt_err e = {0};
    int rc = 0;

    if (store_lock_set_deployment(a->lock, a->id, &e) < 0 ||
        store_steps_interrupt(a->store, a->id, &e) < 0) {
        run_store_failed(a, &e);
        return tt_error(a->err, "the store could not take over deployment %lld: %s", a->id, e.msg);
    }
    buf_printf(&text, "deployment %lld was interrupted in state %s; on_crash: %s", a->id,
               deploy_state_name(a->state), on_crash);
    rc = step_note(a, DEPLOY_RECOVER, NULL, on_crash, text.data, STEP_OK, text.data);
    if (rc == 0)
        run_say(a, "%s", text.data);
    buf_release(&text);
    return rc;
}

/*
 * A deployment interrupted after its final state was recorded, while its
 * end was told to the plan's webhooks (notify.c): it had ended, so its
 * end is recorded as it was (told to the webhooks it had not told yet:
 * notify.c), nothing rolled back.
 */
static enum apply_outcome finish_ended(struct run *a, json_t *u)
{
    enum deploy_state st = a->state;
    const char *error = json_string_value(json_object_get(u, "error"));
    run_say(a, "deployment %lld had ended %s: recording its end", a->id, deploy_state_name(st));
    if (run_finish(a, st, error) < 0)
        return APPLY_DEPLOY_FAILED;
    if (st == DEPLOY_SUCCEEDED)
        return APPLY_OK;
    tt_error(a->err, "%s", error ? error : deploy_state_name(st));
    return st == DEPLOY_ROLLBACK_FAILED ? APPLY_ROLLBACK_BROKE : APPLY_DEPLOY_FAILED;
}

/* The state a phase of the table begins in, for a state it runs in (app_healthy: app_up). */
static enum deploy_state table_phase(enum deploy_state st)
{
    for (size_t i = 0; i < apply_phase_count; i++)
        if (st >= apply_phase_table[i].state && st <= apply_phase_table[i].last)
            return apply_phase_table[i].state;
    return st;
}

/*
 * on_crash: resume.  The interrupted phase is entered again from the one
 * before it (up is idempotent), its before hooks with it: at-least-once.
 * Unless its after hooks had begun: then its work was done, so it is not
 * redone; its after hooks that had not ended run (the one the crash cut
 * runs again), and the next phase follows.  The hooks of the phases
 * before it had ended and do not run again.
 */
static enum apply_outcome resume_forward(struct run *a)
{
    enum deploy_state from = table_phase(a->state);
    for (size_t i = 0; i < apply_phase_count; i++) {
        if (apply_phase_table[i].state != from || !hooks_begun(a, from, PLAN_HOOK_AFTER))
            continue;
        run_say(a,
                "%s: its work had ended before the crash (its after hooks had begun): not redone",
                deploy_state_name(from));
        hooks_run_after_crash(a, from, PLAN_HOOK_AFTER);
        from = i + 1 < apply_phase_count ? apply_phase_table[i + 1].state : DEPLOY_SUCCEEDED;
        break;
    }
    a->state = (enum deploy_state)(from - 1);
    return apply_phases(a, apply_phase_table, apply_phase_count, from);
}

enum apply_outcome apply_recover(const struct apply_options *o, struct tt_err *err)
{
    struct run a = {0};
    enum apply_outcome res;
    json_t *u = NULL;
    struct tt_err e = {0};

    res = run_load(&a, o, err);
    if (res == APPLY_OK)
        res = run_open_and_lock(&a);
    if (res == APPLY_OK && !(u = store_unfinished(a.store, a.project->name, &e))) {
        if (e.msg[0]) {
            tt_error(err, "%s", e.msg);
            res = APPLY_BAD_INPUT;
        } else {
            run_say(&a, "nothing to recover: no deployment of %s is unfinished", a.project->name);
        }
    }
    if (res != APPLY_OK || !u) {
        run_free(&a);
        return res;
    }
    a.id = json_integer_value(json_object_get(u, "id"));
    int st = deploy_state_from_name(json_string_value(json_object_get(u, "state")));
    const char *on_crash = store_text(u, "on_crash", "rollback");
    const char *kind = json_string_value(json_object_get(u, "kind"));
    a.state = st < 0 ? DEPLOY_CREATED : (enum deploy_state)st;
    a.manual = kind && !strcmp(kind, "rollback");
    int resume = !strcmp(on_crash, "resume") && !a.manual && a.state >= DEPLOY_LOCKED &&
                 a.state <= DEPLOY_VERIFY;
    if (adopt_interrupted(&a, on_crash) < 0) {
        res = run_outcome(&a, APPLY_BAD_INPUT);
    } else if (dbclean_recover(&a) < 0) { /* scratch databases dropped, live ones put right */
        res = run_outcome(&a, APPLY_ROLLBACK_BROKE);
    } else if (a.state == DEPLOY_SUCCEEDED ||
               (a.state >= DEPLOY_ROLLED_BACK && a.state <= DEPLOY_FAILED)) {
        res = finish_ended(&a, u); /* only its end's record (its webhooks) was cut short */
    } else if (run_open_engine(&a) < 0) {
        /* Nothing can be resumed or rolled back without the daemon: leave it for later. */
        char cause[sizeof(err->msg)];
        snprintf(cause, sizeof(cause), "%s", err->msg); /* err->msg is written below */
        tt_error(err,
                 "%s: deployment %lld stays interrupted; run recover again when the daemon is "
                 "back",
                 cause, a.id);
        res = APPLY_UNREACHABLE;
    } else if (a.state == DEPLOY_ROLLING_BACK) {
        res = rollback_resume(&a);
    } else if (resume) {
        res = resume_forward(&a);
    } else {
        /* on_crash: rollback: the matrix decides, as if the interrupted phase had failed. */
        tt_error(err, "deployment %lld was interrupted in state %s", a.id,
                 deploy_state_name(a.state));
        if (a.state == DEPLOY_DECIDING)
            a.state = last_failed_phase(&a);
        if (a.state < DEPLOY_LOCKED)
            a.state = DEPLOY_LOCKED;
        a.fail_health = xstrdup("interrupted");
        a.crashed = 1;
        /* the crash failed the phase: its on_failure hooks that had not ended, then the matrix */
        hooks_run_after_crash(&a, table_phase(a.state), PLAN_HOOK_ON_FAILURE);
        res = rollback_after_failure(&a);
    }
    if (res != APPLY_UNREACHABLE) {
        run_say(&a, "deployment %lld %s", a.id, deploy_state_name(a.state));
        res = run_outcome(&a, res);
    }
    json_decref(u);
    run_free(&a);
    return res;
}
