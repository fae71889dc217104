/*
 * store.h - the audit store: every deployment, every step, what each
 * service ran, and the deployment lock, in one SQLite file.
 *
 * The file is opened in WAL mode (readers never block the deployment that
 * writes), created 0600 in a 0700 directory, and carries its own schema
 * version (PRAGMA user_version), migrated forward on open.  Steps are
 * written twice: their intent before the action and their outcome after,
 * so a crash leaves a step that says exactly where it stopped.
 *
 * Queries return jansson values, so the CLI prints them as tables or as
 * JSON from one representation.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>

#include "tterr.h"

#define STORE_SCHEMA_VERSION 3

struct store;

/*
 * The states of a deployment.  deploy/ moves a deployment between them
 * (its transition table is there); the store records each, and the phase
 * of every step is one of them.  DEPLOY_RECOVER is no state the machine
 * enters: it is the phase of the step `ttdeploy recover` writes.
 */
enum deploy_state {
    DEPLOY_CREATED,
    DEPLOY_LOCKED,
    DEPLOY_BACKUP,
    DEPLOY_MIGRATE,
    DEPLOY_INFRA_UP,
    DEPLOY_INFRA_HEALTHY,
    DEPLOY_APP_UP,
    DEPLOY_APP_HEALTHY,
    DEPLOY_VERIFY,
    DEPLOY_SUCCEEDED,
    DEPLOY_DECIDING,
    DEPLOY_ROLLING_BACK,
    DEPLOY_ROLLED_BACK,
    DEPLOY_ROLLBACK_FAILED,
    DEPLOY_FAILED,
    DEPLOY_RECOVER,
    DEPLOY_NSTATES
};

/* The word stored for s ("infra_healthy"); "?" when s is out of range. */
const char *deploy_state_name(enum deploy_state s);
/* The state named name, or -1. */
int deploy_state_from_name(const char *name);

/* Where a step stands: written "running" with its intent, then its outcome. */
enum step_status {
    STEP_RUNNING,
    STEP_OK,
    STEP_FAILED,
    STEP_SKIPPED,
    STEP_INTERRUPTED, /* ttdeploy stopped before the step ended (recover marks it) */
    STEP_NSTATUSES
};

const char *step_status_name(enum step_status s);
/* The status named name, or -1. */
int step_status_from_name(const char *name);

/* A deployment as it begins. */
struct store_deployment {
    const char *project;
    const char *version;
    const char *git_tag;
    const char *git_commit;
    const char *plan_path;
    const char *plan_sha256;
    const char *compose_sha256;
    const char *actor;
    const char *ci;             /* JSON object of CI variables, or NULL */
    const char *on_crash;       /* "resume" or "rollback" */
    long long rolled_back_from; /* 0: none */
    const char *kind;           /* "apply" (NULL) or "rollback" */
};

/* What one service ran after a deployment. */
struct store_release {
    const char *service;
    const char *image;
    const char *image_id;
    const char *digest;
    const char *config_hash;
    const char *container_id;
    const char *environment; /* JSON object, secrets already redacted */
};

/* Who holds a lock. */
struct store_lock_owner {
    char host[256];
    long pid;
    double started_at;
    long long deployment_id;
};

struct store_history_filter {
    int limit;           /* 0: 20 */
    const char *project; /* NULL: all */
    const char *service; /* deployments that touched this service */
    const char *status;
    double since; /* unix time; 0: no bound */
};

int store_open(const char *path, struct store **out, struct tt_err *err);
void store_close(struct store *s);
int store_schema_version(struct store *s);

int store_deployment_begin(struct store *s, const struct store_deployment *d, long long *id,
                           struct tt_err *err);
int store_deployment_set_state(struct store *s, long long id, enum deploy_state state,
                               struct tt_err *err);
/* Its status becomes final: succeeded, failed, rolled_back or rollback_failed. */
int store_deployment_finish(struct store *s, long long id, enum deploy_state final,
                            const char *error, struct tt_err *err);

/* Sets notes.KEY of a deployment to value (JSON, borrowed): its rollback decision and facts. */
int store_deployment_note(struct store *s, long long id, const char *key, json_t *value,
                          struct tt_err *err);

/* Writes the intent of a step (status "running"); *step receives its id. */
int store_step_begin(struct store *s, long long deployment, enum deploy_state phase,
                     const char *service, const char *action, const char *intent, long long *step,
                     struct tt_err *err);
/* Writes its outcome: STEP_OK, STEP_FAILED or STEP_SKIPPED. */
int store_step_end(struct store *s, long long step, enum step_status status, const char *detail,
                   const char *error, struct tt_err *err);
/* Marks the steps of a deployment still "running" as "interrupted". */
int store_steps_interrupt(struct store *s, long long deployment, struct tt_err *err);

/* A daemon event seen during a deployment (at: unix time). */
int store_event_record(struct store *s, long long deployment, double at, const char *kind,
                       const char *detail, struct tt_err *err);

/* A backup file written for a deployment; verified: "restore", "list" or "none". */
int store_backup_record(struct store *s, long long deployment, const char *project,
                        const char *path, long long bytes, const char *sha256, const char *verified,
                        struct tt_err *err);
/* The project's backups still on disk, newest first. */
json_t *store_backups(struct store *s, const char *project, struct tt_err *err);
/* The database's write counter (rows inserted, updated, deleted) when the backup was taken. */
int store_backup_writes(struct store *s, long long deployment, long long writes,
                        struct tt_err *err);
int store_backup_deleted(struct store *s, long long id, struct tt_err *err);
/* The database migration of a deployment: revisions before and after. */
int store_migration_record(struct store *s, long long deployment, const char *kind,
                           const char *before, const char *after, const char *rehearsed,
                           const char *applied, struct tt_err *err);

int store_release_record(struct store *s, long long deployment, const struct store_release *r,
                         struct tt_err *err);

/*
 * Takes the project's deployment lock for the calling process, waiting up
 * to timeout_s.  A lock whose owner process is gone (same host) or whose
 * heartbeat is older than an hour (other host) is stale and taken over.
 * Returns 0 when taken, 1 when still held after the wait (holder filled),
 * -1 on error.
 */
int store_lock_acquire(struct store *s, const char *project, double timeout_s,
                       struct store_lock_owner *holder, struct tt_err *err);
int store_lock_set_deployment(struct store *s, const char *project, long long deployment,
                              struct tt_err *err);
int store_lock_heartbeat(struct store *s, const char *project, struct tt_err *err);
int store_lock_release(struct store *s, const char *project, struct tt_err *err);
/* Removes the lock whoever holds it; *had says whether there was one. */
int store_lock_force(struct store *s, const char *project, int *had, struct tt_err *err);
/* The current holder, if any: returns 1 and fills holder, 0 when free. */
int store_lock_holder(struct store *s, const char *project, struct store_lock_owner *holder,
                      struct tt_err *err);

/* The project's newest deployment still "running", as JSON (NULL when none). */
json_t *store_unfinished(struct store *s, const char *project, struct tt_err *err);
/* Newest first. */
json_t *store_history(struct store *s, const struct store_history_filter *f, struct tt_err *err);
/* One deployment with its steps and releases; NULL with err when there is none. */
json_t *store_show(struct store *s, long long id, struct tt_err *err);
/*
 * The newest succeeded deployment of project older than before (0: any),
 * as store_show() gives it; NULL when there is none (err untouched) or on
 * error.
 */
json_t *store_succeeded_before(struct store *s, const char *project, long long before,
                               struct tt_err *err);
/* The migration row of the newest succeeded deployment up to deployment (its schema), or NULL. */
json_t *store_revision_at(struct store *s, const char *project, long long deployment,
                          struct tt_err *err);
/* The first backup taken after deployment (the database as that deployment left it), or NULL. */
json_t *store_backup_after(struct store *s, const char *project, long long deployment,
                           struct tt_err *err);
/* The newest succeeded deployment of commit, as store_show() gives it, or NULL. */
json_t *store_succeeded_at_commit(struct store *s, const char *project, const char *commit,
                                  struct tt_err *err);
/* What each service of the project runs per the newest succeeded deployment. */
json_t *store_current_releases(struct store *s, const char *project, struct tt_err *err);

/* The text column key of a row these queries return, or dflt when it is NULL or absent. */
const char *store_text(json_t *row, const char *key, const char *dflt);

/* Whether an environment variable's name looks like it holds a secret. */
int store_is_secret_name(const char *name);

#endif
