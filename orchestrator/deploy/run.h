/*
 * run.h - what the files of deploy/ share, private to the folder: one
 * deployment's context (struct run), its state machine, its recorded
 * steps, the release it deploys, and the phases.  cli/ never includes
 * this header: deploy.h is the door.
 *
 * Who calls whom, one way only:
 *
 *   apply.c, redeploy.c       the entry points and the phase table
 *     -> rollback.c           what happens after a failure (the matrix)
 *       -> rollback_actions.c images, git, migrations, restore
 *         -> phase_*.c        the phases, and the pieces actions reuse
 *           -> run.c step.c release.c
 *
 * A store that cannot record stops the deployment: every step goes
 * through step_begin()/step_end() (or step_run()), which never drop a
 * store error; the first one is kept in run->store_err and named in the
 * deployment's final message.
 */
#ifndef RUN_H
#define RUN_H

#include "buf.h"
#include "ci.h"
#include "compose.h"
#include "dag.h"
#include "deploy.h"
#include "engine.h"
#include "plan.h"
#include "stack.h"
#include "store.h"
#include "verify.h"

/* ---- the release: what one deployment deploys --------------------------- */

struct run;

/* A plan, its compose project (the release's images on it) and their DAG. */
struct release {
    struct plan *plan;
    struct compose_project *project;
    struct dag *dag;
};

/*
 * Loads the plan at plan_path, its compose files, env files and profiles,
 * checks them against each other, and puts the plan's images on the
 * services.  project_name (may be NULL: the plan's or compose's) names the
 * project.  On error *out is NULL and err says which file and line.
 */
int release_load(const char *plan_path, const char *project_name, struct release **out,
                 struct tt_err *err);
/*
 * The same for the files of commit in current's release.git repository,
 * written with libgit2 into .ttdeploy/git/COMMIT beside the current plan
 * (laid out like the repository, so relative paths in the old files find
 * the old files); the plan there has current's path in the repository.
 */
int release_load_commit(const struct plan *current, const char *commit, const char *project_name,
                        struct release **out, struct tt_err *err);
void release_free(struct release *r);

/* The service's release in a store_show() deployment, or NULL (borrowed). */
json_t *release_recorded(json_t *deployment, const char *service);
/*
 * Puts the images deployment (a store_show() row) recorded on p's
 * services, by image ID when the tag has moved since; services it did not
 * run keep theirs.  The Swarm specs it recorded (swarm mode) become
 * a->recorded_specs, which run_stack_up() and run_stack_preview() apply.
 */
void release_use_recorded(struct run *a, struct compose_project *p, json_t *deployment);

/* ---- one deployment's context ------------------------------------------- */

struct run {
    const struct apply_options *o;
    struct plan *plan;
    struct compose_project *project;
    struct dag *dag;
    struct release *release; /* owns plan, project and dag */
    struct engine *engine;
    struct store *store;
    long long id;
    enum deploy_state state;
    char **before;       /* per check: the value before the deployment, or NULL */
    double *p95_before;  /* per check: p95 ms of an HTTP check before the deployment, or NAN */
    char *backup_path;   /* this deployment's backup, for the rehearsal's fallback */
    char *migrate_image; /* the release's image of the migration service (for downgrades) */
    struct tt_err *err;
    struct tt_err store_err; /* the first error of the store, when it could not record */
    struct store_lock *lock; /* the project's lock while this run holds it, or NULL */
    int interrupted;         /* a stop signal ended it: recorded unfinished, for `recover` */
    int manual;  /* a manual rollback: a failure ends it failed, it is not rolled back again */
    int crashed; /* recover found it interrupted: a crash, not a measured failure */
    /* What failed, for the rollback matrix. */
    char *fail_check, *fail_service, *fail_health;
    struct verify_measure fail_measure;
    double failed_at;       /* monotime_now() when the failure was detected */
    const void *phase_ctx;  /* what the phases of a table of its own need (redeploy.c's target) */
    struct ci_identity ci;  /* who started it, from which CI run, tag and commit */
    struct strv live_slots; /* blue-green: (service, live slot's container) pairs */
    struct stack_slot *bg;  /* blue-green services, live slots as their upstream files say */
    size_t nbg;
    /* --state engine: the store's home on the engine (state_remote.c), or NULL */
    struct state_remote *remote;
    /* swarm mode, rolling back: service -> recorded spec (release_use_recorded), or NULL */
    json_t *recorded_specs;
    /*
     * notify: the webhooks of the plan this run was started with, taken
     * from it by run_load: a manual rollback that deploys an older
     * commit's plan still tells the webhooks the operator's plan names.
     */
    struct plan_notify *notify;
    size_t nnotify;
};

/* Loads the release of o's plan into a new run (err set: APPLY_BAD_INPUT). */
enum apply_outcome run_load(struct run *a, const struct apply_options *o, struct tt_err *err);
/*
 * Connects a->engine to the engine the command line, the environment or
 * the plan names, in the docker CLI's order (-1 and a->err set).
 */
int run_open_engine(struct run *a);
/* Swaps the run's release for rel (owned from now on); per-check baselines start again. */
void run_use_release(struct run *a, struct release *rel);
/* Releases the lock (if held) and everything the run owns. */
void run_free(struct run *a);

/* A line of progress for the user ("==> backup: ..."), or a JSON object with --json. */
void run_say(struct run *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether the machine may go from state from to state to. */
int apply_transition_allowed(enum deploy_state from, enum deploy_state to);
/* Moves the machine to state to, recording it; a move the table does not list is an error. */
int run_enter(struct run *a, enum deploy_state to);
/*
 * Ends the deployment in state to (failed, rolled_back, rollback_failed,
 * succeeded).  After a stop signal only succeeded is recorded: any other
 * end is run_interrupted() instead (the user asked it to stop, not to
 * decide), and returns -1.
 */
int run_finish(struct run *a, enum deploy_state to, const char *error);
/*
 * Records that a stop signal ended the deployment (SIGINT, SIGTERM): its
 * running steps "interrupted", its status still "running" (unfinished:
 * `recover` finishes it per on_crash, as after a crash), its error and
 * notes.interrupted saying the signal, state and step.  a->err gets that
 * message; returns APPLY_INTERRUPTED.
 */
enum apply_outcome run_interrupted(struct run *a);
/*
 * 0 when a new step may begin: -1 with a->err set once a stop signal
 * arrived or the lock is lost (a lost lock is kept as the store's error:
 * nothing more may change).
 */
int run_may_act(struct run *a, enum deploy_state phase, const char *service, const char *action);

/* Opens the store (no lock: the dry run of a manual rollback reads it only). */
enum apply_outcome run_open_store(struct run *a);
/* Opens the store and takes the project's lock, waiting up to the lock timeout. */
enum apply_outcome run_open_and_lock(struct run *a);
/* APPLY_LOCK_HELD with err set when a deployment of the project was interrupted. */
enum apply_outcome run_refuse_unfinished(struct run *a);
/* Records a new deployment (kind "apply" or "rollback") and enters "locked". */
int run_begin(struct run *a, const char *version, const char *git_tag, const char *commit,
              const char *kind, long long rolled_back_from);
/* Keeps the first store error in a->store_err; returns -1. */
int run_store_failed(struct run *a, const struct tt_err *e);

/* ---- steps: intent before acting, outcome after -------------------------- */

/* What a step or a rollback action came to. */
enum action_result { ACTION_FAILED = -1, ACTION_DONE = 0, ACTION_SKIPPED = 1 };

/*
 * Writes a step's intent; *step receives its id.  When the store cannot
 * record, nothing may act: returns -1 with a->err saying so.
 */
int step_begin(struct run *a, enum deploy_state phase, const char *service, const char *action,
               const char *intent, long long *step);
/* Writes a step's outcome; -1 with a->err set when the store cannot record it. */
int step_end(struct run *a, long long step, enum step_status status, const char *detail,
             const char *error);
/*
 * A test hook: with TTDEPLOY_CRASH_AT=N the N-th step write (intents and
 * outcomes counted together, from 1) is followed by raise(SIGKILL); with
 * TTDEPLOY_CRASH_AT=list each write prints its number and fmt on stderr.
 * crashpoint.c says more.
 */
void crashpoint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same after each database action, for TTDEPLOY_CRASH_AT_DB=N (crashpoint.c). */
void crashpoint_db(void);
/* STEP_OK, STEP_SKIPPED or STEP_FAILED for an action's result. */
enum step_status step_status_of(enum action_result r);
/* A step that is over as soon as it is written (a decision, a skipped phase). */
int step_note(struct run *a, enum deploy_state phase, const char *service, const char *action,
              const char *intent, enum step_status status, const char *detail);
/* A step that records that phase was skipped, and why (said to the user too). */
int step_skipped(struct run *a, enum deploy_state phase, const char *why);

/* What a step is: where it runs, on what, and what it is about to do. */
struct step_desc {
    enum deploy_state phase;
    const char *service; /* or NULL */
    const char *action;
    const char *intent;
};

/* The work of a step: fills detail (what it measured or did) and err when it fails. */
typedef enum action_result (*step_fn)(struct run *a, void *ctx, struct buf *detail,
                                      struct tt_err *err);

/*
 * Writes d's intent, runs fn, writes its outcome (detail, and err's
 * message when it did not end ACTION_DONE).  Returns what fn returned; ACTION_FAILED with
 * err set, without running fn, when the store cannot record the intent.
 */
enum action_result step_run(struct run *a, const struct step_desc *d, step_fn fn, void *ctx,
                            struct buf *detail, struct tt_err *err);

/* ---- blue-green services (bluegreen.c) ------------------------------------ */

/* Reads each blue-green service's live slot (a->bg) and hands them to so (up and preview). */
void bluegreen_options(struct run *a, struct stack_options *so);
/*
 * Before up brings services up: a first upstream file for a service that
 * has none (the proxy must find it at start), and the idle slot removed
 * once keep_previous has passed.  -1 with a->err set.
 */
int bluegreen_before_up(struct run *a, const struct strv *services);
/*
 * After up: each blue-green service up ran in its idle slot is switched to
 * it (checked there first when check), one step each, then drained; a->bg
 * and a->live_slots say the live slots after.  -1 with a->err set (and
 * fail_service, fail_check) when a check or the switch failed: the users
 * are still on the old slot.
 */
int bluegreen_after_up(struct run *a, const struct stack_report *report, int check);
/* Whether x (a preview's result) runs in a slot that is not live yet: a switch is due. */
int bluegreen_switch_pending(const struct run *a, const struct stack_result *x);

/* ---- local or swarm mode (swarm_dispatch.c) ------------------------------- */

/* Whether the run deploys Swarm services (swarm mode) rather than containers. */
int run_swarm_mode(const struct run *a);
/* stack_up, stack_preview in local mode; swarm_up, swarm_preview in swarm mode. */
int run_stack_up(struct run *a, const struct compose_project *p, const struct dag *d,
                 const struct stack_options *o, struct stack_report *report, struct tt_err *err);
int run_stack_preview(struct run *a, const struct compose_project *p, const struct dag *d,
                      const struct stack_options *o, struct stack_report *report,
                      struct tt_err *err);
/*
 * The running container of service, for an exec (caller frees).  NULL with
 * err untouched when it has none; NULL with err set when it cannot be
 * reached (swarm mode: its task runs on another node).
 */
char *run_container_id(struct run *a, const char *service, struct tt_err *err);
/* A one-off command: a container (local) or a replicated-job service (swarm). */
int run_oneoff(struct run *a, const struct compose_service *s, const char *image,
               const struct strv *argv, const struct strv *env_override, long timeout_ms,
               int *exit_code, struct buf *logs, struct tt_err *err);
/* Stops (start = 0) or starts service for migrate.stop_during (swarm: 0 replicas and back). */
int run_toggle_service(struct run *a, const char *service, int start, struct tt_err *err);

/* ---- the phases (phase_*.c) ---------------------------------------------- */

int phase_preflight(struct run *a);
int phase_backup(struct run *a);
int phase_migrate(struct run *a);
int phase_infra(struct run *a);
int phase_app(struct run *a);
int phase_verify(struct run *a);
/* What each service runs now, recorded as the deployment's releases. */
int phase_record_releases(struct run *a);
/* Reads the values "before" expectations and p95 ratios compare with. */
int phase_baseline(struct run *a);
/* The description of a check, as its step's intent and in dry runs. */
void phase_describe_check(const struct plan_check *c, struct buf *b);

/* The result for service in a stack report, or NULL. */
const struct stack_result *tier_result_for(const struct stack_report *r, const char *service);
/*
 * Brings up the services of p whose container would change (per
 * stack_preview), one "rolling_back" step each.  Returns 1 when none
 * would change.
 */
int tier_bring_up(struct run *a, struct compose_project *p, struct dag *d, const char *why,
                  struct buf *detail);

/* The revision per the plan's revision_query on url ("" when none yet). */
int migrate_read_revision(struct run *a, const char *url, double deadline, char **out);
/* Runs an up or down command template of migrate: in a one-off container of image. */
int migrate_run_command(struct run *a, const struct strv *tmpl, const char *revision,
                        const char *image, const struct strv *env, struct tt_err *err);

/* Prints, under title, what bringing tier up would do to each service (a dry run). */
void dry_run_preview(struct run *a, const char *title, const struct strv *tier);
/* `apply --dry-run`: what each phase would do, changing nothing. */
enum apply_outcome dry_run_apply(struct run *a);

/*
 * The values of svc's environment that are never said or stored in clear
 * (secret names, audit.public_env aside when p is given; 4 bytes or more)
 * into s, for redact_text() (hooks.c).
 */
void run_service_secrets(const struct compose_service *svc, const struct plan *p, struct strv *s);

/* ---- notify: the plan's webhooks (notify.c) -------------------------------- */

/*
 * Takes the webhooks of the run's plan (a->notify) once every URL parses
 * (libcurl's URL API); -1 with err at the url otherwise.
 */
int notify_take(struct run *a, struct tt_err *err);
/* `apply --dry-run`: which webhooks would be told of what (their origin only). */
void notify_describe(const struct run *a, FILE *out);
/* Tells the webhooks that ask for "started" (run_begin, once locked): one step each. */
void notify_started(struct run *a);
/*
 * Tells the webhooks that ask for final's event (run_finish, the final
 * state recorded, the deployment not yet sealed); failed_at: the state
 * it failed in, for a failure the matrix did not judge.  A webhook not
 * told is a failed step, and changes nothing else.  A webhook this
 * deployment already told that event (a run cut short by a crash, then
 * `recover`) is not told again: a skipped step says so.
 */
void notify_end(struct run *a, enum deploy_state final, enum deploy_state failed_at,
                const char *error);

/* ---- the checks before anything changes (preflight_checks.c) -------------- */

/* What the checks of one preflight share. */
struct preflight {
    int check_only;           /* `check`, `apply --dry-run`: no deployment, no lock held */
    int read_only;            /* `apply --dry-run`: a store that is not there is not made */
    struct tt_err engine_err; /* why the engine could not be opened (a->engine NULL) */
    long long db_bytes;       /* pg_database_size of the live database; -1: not read */
    int store_on_engine;      /* --state engine outside a deployment: only looked at */
    char *store_absent;       /* read_only: the path of the store that is not there yet */
    struct tt_err store_err;  /* why the store could not be opened (a->store NULL) */
};

/*
 * One check: fills detail (what it found); on failure err (what is wrong)
 * and fix (what to do).  ACTION_SKIPPED when it does not apply (detail
 * says why).  Checks only look: nothing is created, stopped or written.
 */
struct preflight_check {
    const char *name; /* the step's action: "engine", "images", ... */
    const char *intent;
    enum action_result (*run)(struct run *a, struct preflight *p, struct buf *detail,
                              struct buf *fix, struct tt_err *err);
};

/* The checks, in the order they run (the database's before the backup directory's). */
extern const struct preflight_check preflight_checks[];
extern const size_t preflight_ncheck;

/*
 * Every check outside a deployment, for `check` and `apply --dry-run`
 * (phase_preflight.c): a loaded, its engine opened (else p->engine_err
 * says why), p->read_only set for a dry run.  Opens the store as the mode
 * wants (a->store, or p says why not) and returns {"ok", "project",
 * "plan", "checks": [{"name", "status", "detail", "fix"}]}, a new
 * reference.  Records nothing.
 */
json_t *preflight_outside(struct run *a, struct preflight *p);

/* ---- the machine (apply.c) ------------------------------------------------ */

/*
 * A phase of the forward path: the states it runs through, its function,
 * what it records and what its failure means.  apply_phases() enters
 * state, runs the function (which enters the states up to last itself),
 * and hands a failure to the rollback matrix.
 */
struct phase {
    enum deploy_state state; /* the state it begins in */
    enum deploy_state last;  /* the state it ends in when it works */
    int (*run)(struct run *a);
    const char *records;
    const char *on_failure;
};

/*
 * Runs the phases of table[0..n) that end at or after state from, then
 * records the releases and ends the deployment "succeeded"; a failure
 * goes to rollback_after_failure().
 */
enum apply_outcome apply_phases(struct run *a, const struct phase *table, size_t n,
                                enum deploy_state from);
/* What a new deployment records as it begins. */
struct deployment_start {
    const char *version;
    const char *git_tag;
    const char *commit;
    const char *kind; /* "apply" or "rollback" */
    long long rolled_back_from;
};

/*
 * Begins a deployment of the run's release (locked, the baseline read)
 * and runs the phases of table (apply_phase_count of them) from backup to
 * the end; says how it ended.
 */
enum apply_outcome apply_deployment(struct run *a, const struct deployment_start *st,
                                    const struct phase *table);
/* The forward phases of `apply`, in order; a manual rollback replaces its migrate. */
extern const struct phase apply_phase_table[];
extern const size_t apply_phase_count;

/*
 * Image retention (retention.c), in state succeeded before the record is
 * final: with the plan's retention: section, removes the images of the
 * project's releases older than its newest retention_keep succeeded ones
 * (in use or foreign ones stay), a step each.  Never fails the deployment.
 */
void retention_after_success(struct run *a);
/* `apply --dry-run`: what retention would remove after this release, and what stays. */
void retention_preview(struct run *a, FILE *out);

/*
 * Releases the lock, and adds to the final message what the store could
 * not record (if anything); returns res, or APPLY_INTERRUPTED when a stop
 * signal ended the run.
 */
enum apply_outcome run_outcome(struct run *a, enum apply_outcome res);

#endif
