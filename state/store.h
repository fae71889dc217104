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
 * One deployment is read back as a typed record (store_record_load():
 * C structs, states and statuses as enums); store_show() is that record
 * as JSON, for `show --json`.  The other queries (history, status, the
 * look-ups of rollback) return jansson rows, one object per row with the
 * table's column names.  state/README.md describes the tables.
 *
 * Layer: state/ includes only state/ and base/ (and sqlite3.h, in its .c
 * files); jansson where JSON is the data.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>

#include "arena.h"
#include "strv.h"
#include "tterr.h"

#define STORE_SCHEMA_VERSION 8

struct store;

/*
 * The states of a deployment.  deploy/ moves a deployment between them
 * (its transition table is there); the store records each, and the phase
 * of every step is one of them.  The last two are no state the machine
 * enters: DEPLOY_RECOVER is the phase of the step `ttdeploy recover`
 * writes, and DEPLOY_RUNNING the status of a deployment that has not
 * ended (a deployment's status is "running", then its final state).
 */
enum deploy_state {
    DEPLOY_CREATED,
    DEPLOY_LOCKED,
    DEPLOY_PREFLIGHT, /* the checks before anything changes */
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
    DEPLOY_RUNNING,
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

/* A deployment as it begins (each field may be NULL but project). */
struct store_deployment {
    const char *project;
    const char *version, *git_tag, *git_commit; /* what it deploys */
    const char *plan_path, *plan_sha256;        /* the plan file and its digest */
    const char *compose_sha256;                 /* the digest of its compose model */
    const char *actor;                          /* who ran it */
    const char *ci;                             /* JSON object of CI variables, or NULL */
    const char *on_crash;                       /* "resume" or "rollback" (NULL) */
    long long rolled_back_from;                 /* 0: none */
    const char *kind;                           /* "apply" (NULL) or "rollback" */
};

/* What one service ran after a deployment (each field may be NULL but service). */
struct store_release {
    const char *service;
    const char *image, *image_id, *digest; /* the tag, the image ID, the registry digest */
    const char *config_hash;               /* the container's configuration digest */
    const char *container_id;
    const char *environment;   /* JSON object: values public per the plan, others store_hmac() */
    const char *spec;          /* swarm mode: the ServiceSpec without environment values, or NULL */
    long long service_version; /* swarm mode: Swarm's version index of the service; 0: none */
};

/* Who holds a lock, as its row says. */
struct store_lock_owner {
    char host[256];
    long pid;          /* in its own PID namespace */
    char pid_ns[64];   /* "pid:[4026531836]"; "" when the holder could not tell */
    double started_at; /* unix time it took the lock */
    double heartbeat_at;
    long long deployment_id; /* 0: none yet */
};

struct store_history_filter {
    int limit;           /* 0: 20 */
    const char *project; /* NULL: all */
    const char *service; /* deployments that touched this service */
    const char *status;
    double since;        /* unix time; 0: no bound */
    const char *actor;   /* started by this actor */
    const char *git_tag; /* deployed this git tag */
};

int store_open(const char *path, struct store **out, struct tt_err *err);
/*
 * Opens the store at path for reading (history, show, report, status): a
 * missing file is an error, never a new store; a file that cannot be
 * written (its mode, its directory, a read-only file system) is opened
 * read-only, and must then be at this ttdeploy's schema version.  A
 * writable one is opened, and migrated, as store_open() does.
 */
int store_open_existing(const char *path, struct store **out, struct tt_err *err);
void store_close(struct store *s);
int store_schema_version(struct store *s);
/*
 * Writes a consistent copy of the whole store into path (VACUUM INTO: one
 * snapshot, whatever other connections write meanwhile); path must not
 * exist.  For --state engine, which keeps the copy on the engine.
 */
int store_snapshot(struct store *s, const char *path, struct tt_err *err);

int store_deployment_begin(struct store *s, const struct store_deployment *d, long long *id,
                           struct tt_err *err);
int store_deployment_set_state(struct store *s, long long id, enum deploy_state state,
                               struct tt_err *err);
/*
 * Its status becomes final: succeeded, failed, rolled_back or
 * rollback_failed; seals its steps not yet sealed (by seq), then it, in the
 * same transaction.  A deployment already sealed is not written again.
 */
int store_deployment_finish(struct store *s, long long id, enum deploy_state final,
                            const char *error, struct tt_err *err);

/* Sets the error of a deployment that stays unfinished (status "running": a stop signal). */
int store_deployment_error(struct store *s, long long id, const char *error, struct tt_err *err);

/* Sets notes.KEY of a deployment to value (JSON, borrowed): its rollback decision and facts. */
int store_deployment_note(struct store *s, long long id, const char *key, json_t *value,
                          struct tt_err *err);

/* Writes the intent of a step (status "running"); *step receives its id. */
int store_step_begin(struct store *s, long long deployment, enum deploy_state phase,
                     const char *service, const char *action, const char *intent, long long *step,
                     struct tt_err *err);
/*
 * Writes its outcome: STEP_OK, STEP_FAILED or STEP_SKIPPED, and seals the
 * step in the audit chain (store_audit.c) in the same transaction.  A step
 * already sealed is never written again: that is an error.
 */
int store_step_end(struct store *s, long long step, enum step_status status, const char *detail,
                   const char *error, struct tt_err *err);
/* Marks the steps of a deployment still "running" as "interrupted", and seals them. */
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

/* ---- the deployment lock (store_lock.c) ----------------------------------- */

/* How often the holder refreshes its heartbeat, and when a silent holder is stale (seconds). */
#define STORE_LOCK_HEARTBEAT_S 2
#define STORE_LOCK_STALE_S 30

/* A project's lock held by this process: its token, own connection and heartbeat thread. */
struct store_lock;

/*
 * Takes the project's deployment lock, waiting up to timeout_s.  A holder
 * is stale when its heartbeat is older than STORE_LOCK_STALE_S, or when it
 * is on this host, boot and PID namespace and its pid is gone or runs
 * another process; a holder in another PID namespace is judged by its
 * heartbeat only.  Returns 0 when taken (*out: the lock, which refreshes
 * its heartbeat every STORE_LOCK_HEARTBEAT_S until store_lock_release()),
 * 1 when still held after the wait (holder filled), -1 on error.
 */
int store_lock_acquire(struct store *s, const char *project, double timeout_s,
                       struct store_lock **out, struct store_lock_owner *holder,
                       struct tt_err *err);
/* Records the deployment that holds l; -1 when l is lost (see store_lock_check). */
int store_lock_set_deployment(struct store_lock *l, long long deployment, struct tt_err *err);
/*
 * Refreshes the heartbeat now; -1 with err when the lock is no longer
 * this holder's (removed by `unlock --force`, or its heartbeat could not
 * be written for half the stale bound): the deployment must stop.
 */
int store_lock_check(struct store_lock *l, struct tt_err *err);
/* Whether the heartbeat found l lost (no I/O). */
int store_lock_lost(struct store_lock *l);
/* Stops the heartbeat, deletes l's row (never another holder's) and frees l; NULL: no-op. */
int store_lock_release(struct store_lock *l, struct tt_err *err);
/* Removes the lock whoever holds it; *had says whether there was one. */
int store_lock_force(struct store *s, const char *project, int *had, struct tt_err *err);
/* The current holder, if any: returns 1 and fills holder, 0 when free. */
int store_lock_holder(struct store *s, const char *project, struct store_lock_owner *holder,
                      struct tt_err *err);
struct buf;
/*
 * Appends who h is, for a message: "HOST pid PID (deployment ID) since
 * TIME UTC, pid namespace NS, heartbeat N s ago".
 */
void store_lock_owner_describe(const struct store_lock_owner *h, struct buf *out);

/* The project's newest deployment still "running", as JSON (NULL when none). */
json_t *store_unfinished(struct store *s, const char *project, struct tt_err *err);
/* Newest first. */
json_t *store_history(struct store *s, const struct store_history_filter *f, struct tt_err *err);
/*
 * One deployment with its steps, releases, events, backups and migration:
 * store_record_json() of its record.  NULL with err when there is none.
 */
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
/*
 * Every release row of project (deployment_id, service, image, image_id,
 * and the deployment's version and status), newest deployment first:
 * what retention weighs (orchestrator/deploy/retention.c).  A read only.
 */
json_t *store_project_releases(struct store *s, const char *project, struct tt_err *err);

/* ---- one deployment as typed rows (store_record.c) ------------------------ */

/* One step: its intent, and its outcome once it ended. */
struct store_step {
    long long seq; /* 1, 2, ... in the order the steps began */
    enum deploy_state phase;
    const char *service; /* NULL: the step is about no one service */
    const char *action, *intent;
    enum step_status status;
    double started_at, finished_at; /* unix time; finished_at NAN while it runs */
    const char *detail, *error;     /* what it measured or did, why it failed; or NULL */
};

/* A daemon event seen during the deployment. */
struct store_event {
    double at;
    const char *kind, *detail;
};

/* A backup file taken for the deployment. */
struct store_backup {
    const char *path, *sha256;
    long long bytes;               /* -1: not recorded */
    const char *verified;          /* "restore", "list" or "none" */
    double created_at, deleted_at; /* deleted_at NAN: still on disk */
    long long writes;              /* the database's write counter then; -1: not read */
};

/* The database migration of the deployment: revisions before and after. */
struct store_migration {
    const char *kind, *revision_before, *revision_after, *rehearsed, *applied;
};

/* The failure the rollback matrix judged (notes.decision.failure). */
struct store_failure {
    const char *phase;                        /* the state that failed */
    const char *check, *service, *health;     /* or NULL */
    const char *value, *value_before;         /* the check's values, or NULL */
    double error_rate, p95_ms, p95_before_ms; /* NAN: not measured */
};

/* What the rollback matrix decided after a failure (notes.decision). */
struct store_decision {
    struct store_failure failure;
    int builtin;                                 /* the built-in matrix decided */
    long long rule;                              /* the rule that fired, from 1; 0: none did */
    const char *rule_text, *severity, *measured; /* NULL when no rule fired */
    const char *at_file;                         /* the rule's plan file; NULL: built-in */
    int at_line;
    const char **actions; /* what it does, in order ("none": fix forward) */
    size_t nactions;
};

/* The database restored from the backup by a rollback (notes.restore). */
struct store_restore {
    const char *backup;            /* the backup file */
    const char *kept_as;           /* the database as it was, kept under this name */
    int writes_counted;            /* whether the write counters could be read */
    long long writes_since_backup; /* rows written after the backup: only in kept_as */
};

/*
 * One deployment as the store holds it, with everything recorded about
 * it.  Strings are NULL where the column is; times are unix seconds, NAN
 * where none was recorded.  The notes column (JSON the deployment wrote
 * as it went) is kept as text and read into decision, restore,
 * rolled_back_to and recovered_seconds.
 */
struct store_record {
    long long id;
    struct store_deployment d;             /* as it began */
    enum deploy_state status;              /* DEPLOY_RUNNING, then its final state */
    enum deploy_state state;               /* the last state the machine entered */
    double started_at, finished_at;        /* finished_at NAN while it runs */
    const char *error;                     /* why it failed, or NULL */
    const char *notes;                     /* the notes column (a JSON object), or NULL */
    const struct store_decision *decision; /* NULL: nothing failed, or nothing was decided */
    const struct store_restore *restore;   /* NULL: no restore ran */
    long long rolled_back_to;              /* the deployment rolled back to; 0: none */
    double recovered_seconds;              /* failure detected to images back; NAN: not recorded */
    struct store_step *steps;              /* in order (seq) */
    size_t nsteps;
    struct store_release *releases; /* by service */
    size_t nreleases;
    struct store_event *events; /* in order */
    size_t nevents;
    struct store_backup *backups; /* in order */
    size_t nbackups;
    const struct store_migration *migration; /* NULL: it ran none */
    struct arena arena;                      /* owns everything the record points to */
};

/*
 * Loads deployment id with everything recorded about it into *out (the
 * caller store_record_free()s it).  An id the store does not hold, or a
 * state or status whose name this ttdeploy does not know, is an error.
 */
int store_record_load(struct store *s, long long id, struct store_record **out, struct tt_err *err);
void store_record_free(struct store_record *r);
/*
 * The record as JSON, one key per column of its tables (as `show --json`
 * prints it): the deployment's columns, then "steps", "releases",
 * "events", "backups" and "migrations" (an array of none or one).
 */
json_t *store_record_json(const struct store_record *r);

/* The text column key of a row these queries return, or dflt when it is NULL or absent. */
const char *store_text(json_t *row, const char *key, const char *dflt);

/* ---- scratch databases and changes to live databases (store_scratch.c) ---- */

/*
 * A database ttdeploy creates for a while (a rehearsal copy, a restore
 * check, a restore waiting to be swapped in) is recorded before its
 * CREATE DATABASE and marked dropped after its DROP; a DROP is allowed
 * only of a name its deployment recorded on that server and has not
 * dropped.  server is host:port of the database url (no user, no
 * password).
 */
int store_scratch_record(struct store *s, long long deployment, const char *name,
                         const char *purpose, const char *server, struct tt_err *err);
/* Marks every undropped record of name on server by deployment dropped. */
int store_scratch_dropped(struct store *s, long long deployment, const char *name,
                          const char *server, struct tt_err *err);
/* 1 when deployment recorded name on server and has not dropped it, 0 when not, -1 on error. */
int store_scratch_owned(struct store *s, long long deployment, const char *name, const char *server,
                        struct tt_err *err);

struct store_scratch {
    char *name, *purpose, *server;
};
struct store_scratch_list {
    struct store_scratch *v;
    size_t n;
};
/* The scratch databases deployment recorded and has not dropped, oldest first. */
int store_scratch_pending(struct store *s, long long deployment, struct store_scratch_list *out,
                          struct tt_err *err);
void store_scratch_list_clear(struct store_scratch_list *l);

/*
 * A change to a live database, recorded before it is made with how to undo
 * it: deny_connections (undo: allow them again), renamed_to target (undo:
 * the name back).  It ends undone (undo_done_at) or kept (kept_at: the
 * swap it was part of finished).
 */
enum store_db_change { STORE_DB_DENY_CONNECTIONS, STORE_DB_RENAMED_TO };
const char *store_db_change_name(enum store_db_change c);

struct store_db_change_row {
    long long id;
    enum store_db_change change;
    char *server, *database, *target; /* target: the new name of renamed_to, else NULL */
};
struct store_db_change_list {
    struct store_db_change_row *v;
    size_t n;
};
int store_db_change_record(struct store *s, long long deployment, const char *server,
                           const char *database, enum store_db_change change, const char *target,
                           long long *id, struct tt_err *err);
/* Ends change id: undone (1), or kept (0: what it was part of finished, nothing to undo). */
int store_db_change_end(struct store *s, long long id, int undone, struct tt_err *err);
/* The changes of deployment neither undone nor kept, newest first (the order to undo them). */
int store_db_change_pending(struct store *s, long long deployment, struct store_db_change_list *out,
                            struct tt_err *err);
void store_db_change_list_clear(struct store_db_change_list *l);

/* Whether an environment variable's name looks like it holds a secret. */
int store_is_secret_name(const char *name);

/* ---- the record of `ttdeploy check` (store_preflight.c) ------------------- */

/*
 * Records one `ttdeploy check` of project: who ran it, the plan's SHA-256,
 * whether every check passed, and result (borrowed: {"ok", "checks"}).
 * Not sealed on the audit chain: a check changes nothing.  *id (may be
 * NULL) receives its id.
 */
int store_preflight_record(struct store *s, const char *project, const char *actor,
                           const char *plan_sha256, int ok, const json_t *result, long long *id,
                           struct tt_err *err);

/* ---- the audit key and keyed digests (store_key.c) -------------------------- */

#define STORE_KEY_BYTES 32
#define STORE_HMAC_PREFIX "hmac-sha256:"
#define STORE_HMAC_TEXT_LEN (12 + 64) /* the prefix and 64 hex digits */

/*
 * Where the store's audit key lives: beside it, STORE.key for STORE.db
 * (".ttdeploy/state.key"), never in it.  Owned by s.
 */
const char *store_key_path(struct store *s);
/*
 * value's keyed digest as the store records it: "hmac-sha256:" and
 * HMAC-SHA256(key, value) in hex.  The key is read from its file, or made
 * (32 random bytes, mode 0600, O_EXCL) when there is none; a key file
 * that is a symbolic link, readable by others or not 64 hex digits is
 * refused.  Equal values give equal digests in one store, different ones
 * in another.
 */
int store_hmac(struct store *s, const char *value, char out[STORE_HMAC_TEXT_LEN + 1],
               struct tt_err *err);
/*
 * Whether value is what recorded says: 1 yes, 0 no, -1 (err) when recorded
 * is a digest and the key is missing or refused (never made here: a new
 * key would match nothing).  A recorded value that is no digest is
 * compared as written.
 */
int store_hmac_matches(struct store *s, const char *recorded, const char *value,
                       struct tt_err *err);

/* ---- the tamper-evident audit chain (store_audit.c) -------------------------- */

/*
 * Every final row of deployments and steps carries hash = SHA-256(the hash
 * of the row sealed before it || the row's canonical form) and its
 * position chain_seq; state/README.md "Tamper-evident, not tamper-proof"
 * says what that proves.
 */
struct store_audit_head {
    char hash[65]; /* 64 hex digits; 64 zeros on an empty chain */
    long long seq; /* its position on the chain: 1, 2, ...; 0: empty */
    int is_step;   /* the row at the head: a step (1) or a deployment (0) */
    long long id;  /* its id */
};

/* The newest sealed row's hash and position. */
int store_audit_head(struct store *s, struct store_audit_head *h, struct tt_err *err);

struct store_audit_report {
    long long sealed;             /* rows on the chain */
    struct store_audit_head head; /* the head at the time of the check */
    long long open_deployments;   /* running, or crashed and not yet recovered */
    long long open_steps;         /* their steps not yet ended: not sealed yet */
    struct strv problems;         /* the findings, first first (at most 20 kept) */
    long long nproblems;          /* how many there were: 0 when intact */
    int given_found;              /* the head given was found on the chain ... */
    long long given_seq;          /* ... at this position */
};

/*
 * Recomputes the chain and looks for rows it should hold and does not: a
 * changed row (an UPDATE), a gap in the positions or in a deployment's
 * steps (a DELETE), a final row without a seal or a step sealed after its
 * deployment (an INSERT).  given (NULL: none) is a head printed earlier,
 * 64 hex digits or a prefix of at least 12: it must be some row's hash
 * on the chain, or that is a finding too.  Returns 0 when the check ran
 * (r->nproblems says the verdict), -1 with err when it could not.
 */
int store_audit_verify(struct store *s, const char *given, struct store_audit_report *r,
                       struct tt_err *err);
void store_audit_report_clear(struct store_audit_report *r);
/* Whether h can name a head: 12 to 64 hex digits. */
int store_audit_head_well_formed(const char *h);

#endif
