/*
 * run.h - what the deployment runner (apply.c), its rollback half
 * (rollback.c) and rolling back by hand (redeploy.c) share: the run's
 * state, the phase functions and the rollback actions' pieces.  Not for
 * other modules: they use apply.h, rollback.h and redeploy.h.
 */
#ifndef APPLY_INT_H
#define APPLY_INT_H

#include "deploy.h"
#include "buf.h"
#include "compose.h"
#include "dag.h"
#include "engine.h"
#include "plan.h"
#include "stack.h"
#include "store.h"
#include "verify.h"

enum apply_state {
    APPLY_CREATED,
    APPLY_LOCKED,
    APPLY_BACKUP,
    APPLY_MIGRATE,
    APPLY_INFRA_UP,
    APPLY_INFRA_HEALTHY,
    APPLY_APP_UP,
    APPLY_APP_HEALTHY,
    APPLY_VERIFY,
    APPLY_SUCCEEDED,
    APPLY_DECIDING,
    APPLY_ROLLING_BACK,
    APPLY_ROLLED_BACK,
    APPLY_ROLLBACK_FAILED,
    APPLY_FAILED,
    APPLY_NSTATES
};

const char *apply_state_name(enum apply_state s);
/* -1 when name is no state. */
int apply_state_from_name(const char *name);
int apply_transition_allowed(enum apply_state from, enum apply_state to);

struct apply_run {
    const struct apply_options *o;
    struct plan *plan;
    struct compose_project *project;
    struct dag *dag;
    struct engine *engine;
    struct store *store;
    long long id;
    enum apply_state state;
    enum apply_state failed_in;
    char **before;       /* per check: the value before the deployment, or NULL */
    double *p95_before;  /* per check: p95 ms of an HTTP check before the deployment, or NAN */
    char *backup_path;   /* this deployment's backup, for the rehearsal's fallback */
    char *migrate_image; /* the release's image of the migration service (for downgrades) */
    struct tt_err *err;
    int locked;
    int manual; /* a manual rollback: a failure ends it failed, it is not rolled back again */
    /* What failed, for the rollback matrix. */
    char *fail_check, *fail_service, *fail_health;
    struct verify_measure fail_measure;
    double failed_at; /* monotime_now() when the failure was detected */
};

void apply_say(struct apply_run *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the machine to state to, recording it; a move the table does not list is an error. */
int apply_enter(struct apply_run *a, enum apply_state to);
/* Loads the plan at a->o->plan_path and its compose project. */
enum apply_outcome apply_load_inputs(struct apply_run *a);
/* Opens the store and takes the project's lock. */
enum apply_outcome apply_open_and_lock(struct apply_run *a);
/* APPLY_LOCK_HELD with err set when a deployment of the project was interrupted. */
enum apply_outcome apply_refuse_unfinished(struct apply_run *a);
/*
 * Records a new deployment of a->project (kind "apply" or "rollback") and
 * enters "locked".
 */
int apply_begin(struct apply_run *a, const char *version, const char *git_tag, const char *commit,
                const char *kind, long long rolled_back_from);
void apply_run_free(struct apply_run *a);

int apply_phase_skipped(struct apply_run *a, const char *phase, const char *why);
int apply_phase_backup(struct apply_run *a);
int apply_phase_tier(struct apply_run *a, const struct strv *tier, enum apply_state up_state,
                     enum apply_state healthy_state);
int apply_phase_verify(struct apply_run *a);
int apply_record_releases(struct apply_run *a);
/* The forward phases from state from to the end; a failure goes to apply_fail(). */
enum apply_outcome apply_run_phases(struct apply_run *a, enum apply_state from);
/* A phase failed (a->err says why): decide per the matrix, roll back or fix forward, finish. */
enum apply_outcome apply_fail(struct apply_run *a);

/* Reads the values "before" expectations and p95 ratios compare with. */
int apply_baseline(struct apply_run *a);
/* What a rollback action did. */
enum action_result { ACTION_FAILED = -1, ACTION_DONE = 0, ACTION_SKIPPED = 1 };

/* Brings the schema to revision target (1: it was there already). */
int rollback_downgrade(struct apply_run *a, const char *target, struct buf *detail);
/* Restores backup b (a backups row) in place of the live database, keeping that one. */
enum action_result rollback_restore(struct apply_run *a, json_t *b, struct buf *detail);
/* The release of service in a store_show() deployment, or NULL (borrowed). */
json_t *rollback_release_of(json_t *deployment, const char *service);
/* The image to run for a recorded release: its reference, or its ID when the tag has moved. */
char *rollback_recorded_image(struct engine *e, json_t *release);
/*
 * The plan, compose project and DAG of commit, from its files written
 * into .ttdeploy/git/COMMIT, with the images of release (may be NULL).
 */
int rollback_load_git(struct apply_run *a, const char *commit, json_t *release,
                      struct plan **plan_out, struct compose_project **proj_out,
                      struct dag **dag_out);

/* Prints, under title, what bringing tier up would do to each service (a dry run). */
void apply_print_preview(struct apply_run *a, const char *title, const struct strv *tier);

const struct stack_result *apply_result_for(const struct stack_report *r, const char *service);
char *apply_plan_relative(const struct apply_run *a, const char *path);
/* The revision per the plan's revision_query on url ("" when none yet). */
int apply_read_revision(struct apply_run *a, const char *url, double deadline, char **out);
/* Runs an up or down command template of migrate: in a one-off container of image. */
int apply_migration_command(struct apply_run *a, const struct strv *tmpl, const char *revision,
                            const char *image, const struct strv *env, struct tt_err *err);

#endif
