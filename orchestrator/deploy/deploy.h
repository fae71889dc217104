/*
 * deploy.h - the door of deploy/: everything the CLI may ask of a
 * deployment, and nothing more.  deploy/ runs one deployment as an explicit
 * state machine through its phases (backup, migrate, infra and app tiers,
 * verify), decides by the rollback matrix what a failure means, rolls back,
 * redeploys earlier releases by hand and writes incident reports.
 *
 *   created → locked → preflight → backup → migrate → infra_up
 *           → infra_healthy → app_up → app_healthy → verify → succeeded
 *   a failure in any of locked..verify → deciding → failed (none, abort)
 *                                               → rolling_back → rolled_back | rollback_failed
 *                                                              → failed (nothing to roll back to)
 *
 * Every state change and every step is written to the store: the intent
 * before acting, the outcome after.  The deployment lock is held from
 * "locked" to the end.  SIGINT or SIGTERM (base/interrupt.h) stops it
 * before its next step: the step in flight ends "interrupted", the
 * deployment stays unfinished (status "running") and `recover` finishes it
 * as after a crash.
 *
 * Layer: deploy/ may include docker/, plans/, state/, compose/, adapters/
 * and base/; cli/ includes this header and no other of deploy/.  What the
 * files of deploy/ share among themselves is run.h, private to the folder.
 */
#ifndef DEPLOY_H
#define DEPLOY_H

#include <jansson.h>
#include <stdio.h>

#include "progress.h"
#include "tterr.h"

/* How a deployment (apply, recover, rollback) ended; cli/ maps each to an exit code. */
enum apply_outcome {
    APPLY_OK,
    APPLY_DEPLOY_FAILED, /* failed; rolled back or fixed forward per the matrix */
    APPLY_BAD_INPUT,
    APPLY_ROLLBACK_BROKE, /* failed, and rolling back failed too */
    APPLY_LOCK_HELD,
    APPLY_UNREACHABLE,
    APPLY_INTERRUPTED, /* SIGINT/SIGTERM: stopped, left unfinished for `recover` (no rollback) */
};

struct apply_options {
    const char *plan_path;
    const char *state_path; /* NULL: .ttdeploy/state.db beside the plan */
    const char *host;       /* Docker engine (--host); NULL: $DOCKER_HOST, the plan's, default */
    const char *context;    /* Docker context (--context); NULL: $DOCKER_CONTEXT, the plan's */
    int insecure;           /* plain tcp:// without TLS allowed */
    const char *mode;       /* "local" or "swarm"; NULL: the plan's engine mode */
    int state_engine;       /* the store lives in a volume on the engine (--state engine) */
    int dry_run;
    double lock_timeout_s;
    int readiness_docker;
    enum progress_mode progress;
    FILE *out;
    const char *actor;        /* who is named as starting it (--actor); NULL: from CI or $USER */
    const char *release;      /* the version recorded (--release); NULL: the plan's, else the tag */
    long long *deployment_id; /* when not NULL, set to the deployment begun (0: none) */
    /*
     * apply --dry-run: when not NULL, set to the preflight checks' result,
     * as deploy_check's *result without "recorded" (the caller
     * json_decref()s it); NULL when the dry run stopped before the checks
     * (the plan does not load, the engine does not answer).
     */
    json_t **preflight;
};

/*
 * `ttdeploy apply`: one deployment of the plan's release.  With dry_run:
 * what it would do, printed to out, then the preflight checks as `check`
 * runs them (o->preflight), changing nothing and recording nothing (a
 * store that is not there is not made): APPLY_OK when every check passed,
 * APPLY_DEPLOY_FAILED (err: the first failed check and what to do) when
 * one failed, APPLY_BAD_INPUT or APPLY_UNREACHABLE before the preview.
 */
enum apply_outcome apply_run(const struct apply_options *o, struct tt_err *err);
/*
 * `ttdeploy check`: the checks of apply's preflight phase, outside a
 * deployment (no lock taken, nothing created, stopped or written but the
 * store's record of the check).  *result (the caller json_decref()s it)
 * is {"ok", "project", "plan", "checks": [{"name", "status" (ok, failed,
 * skipped), "detail", "fix" (what to do, for a failed check)}], "recorded"
 * (the row of the store's preflights table)}.  APPLY_OK when every check
 * passed, APPLY_DEPLOY_FAILED when one failed (an engine that does not
 * answer is a failed check), APPLY_BAD_INPUT (err, *result NULL) when the
 * plan or compose files do not load.
 */
enum apply_outcome deploy_check(const struct apply_options *o, json_t **result, struct tt_err *err);
/* Finishes an interrupted deployment: resumes it or hands it to rollback, as its plan says. */
enum apply_outcome apply_recover(const struct apply_options *o, struct tt_err *err);
/*
 * The store a command uses when not given --state (the caller frees):
 * $TTDEPLOY_STATE when set (CI: a path on the deploy host, since checkouts
 * are fresh each run), else .ttdeploy/state.db in the plan's directory, or
 * in the current one when plan_path is NULL.
 */
char *apply_default_state_path(const char *plan_path);

/*
 * The project a plan deploys, loaded as apply loads it (compose files, env
 * files, profiles): *name is the caller's to free.
 */
int deploy_project_name(const char *plan_path, char **name, struct tt_err *err);

struct engine;
struct store;
struct compose_project;

/*
 * Drift (drift.c): what the daemon runs against the last succeeded
 * release store st records for project (st NULL: none recorded).  *out
 * receives a new array, one description per recorded service and one
 * per extra container of the project:
 *   {service, mode: local|swarm, state: same|changed|missing|stopped|extra,
 *    differences: [{what, recorded, live}], image, version, deployment,
 *    slot, container, container_id, container_state, warning, error}
 * (warning: a comparison that could not be made; error: why a Swarm
 * service counts as missing)
 * what: container, running, image, environment (live: {variables: [...]},
 * values are never read out), config, command, entrypoint, ports,
 * replicas; the first difference is the one that matters most.  With
 * plan_project (may be NULL), a service whose configuration it hashes as
 * recorded also has its command, entrypoint and ports compared.
 * Returns 0; -1 with err when the store cannot answer; -2 with err when
 * the engine cannot list the containers (*out then describes every
 * recorded service as if nothing ran).  Writes nothing.
 */
int drift_compare(struct engine *e, struct store *st, const char *project,
                  const struct compose_project *plan_project, json_t **out, struct tt_err *err);

/*
 * `ttdeploy diff` (diff.c): the plan of o loaded as apply loads it, then
 * live vs recorded (drift_compare, st may be NULL) and live vs plan (what
 * apply would do to each service now, and why).  *out: {project, plan,
 * release, mode, recorded: {deployment, release} | null, live_vs_recorded,
 * live_vs_plan: [{service, action, image, image_id, changes, reasons:
 * [{what, live, plan}], slot}], differs}.  APPLY_BAD_INPUT for the plan or
 * compose files, APPLY_UNREACHABLE for the engine.  Changes nothing.
 */
enum apply_outcome deploy_diff(const struct apply_options *o, struct store *st, json_t **out,
                               struct tt_err *err);

/* `ttdeploy rollback`: an earlier release deployed again, as a new deployment. */
struct redeploy_options {
    struct apply_options apply; /* plan, store, engine, dry run, progress */
    long long to_id;            /* a recorded deployment; 0: see to_tag */
    const char *to_tag;         /* a git tag, or "previous"; NULL: the previous release */
    int with_migrations;        /* downgrade the schema to the target's revision */
    int restore_backup;         /* restore the backup taken just after the target ran */
};

enum apply_outcome redeploy_run(const struct redeploy_options *o, struct tt_err *err);

/*
 * A failure as the rollback matrix sees it: where it happened (phase,
 * check, service) and what was measured.
 */
struct matrix_failure {
    const char *phase;   /* the state that failed: backup ... verify */
    const char *check;   /* the failed verify check, or NULL */
    const char *service; /* the failed service, or NULL */
    double error_rate;   /* fraction; NAN when not measured */
    double p95_ms;       /* NAN when not measured */
    double p95_before_ms;
    const char *health; /* healthy, unhealthy, starting, exited, missing; or NULL */
    const char *value;  /* the check's value (SQL result, exit code), or NULL */
    const char *value_before;
};

/* A failure with nothing measured. */
void matrix_failure_init(struct matrix_failure *f);

/*
 * Prints the plan's matrix (or the built-in one); with f (may be NULL) also
 * which rule fires for that failure and what it would do.
 */
int rollback_explain(const char *plan_path, const struct matrix_failure *f, FILE *out,
                     struct tt_err *err);

struct store_record;

/*
 * The incident report of a deployment (a record of the store, borrowed)
 * as a JSON object the caller json_decref()s: what triggered it, what was
 * rolled back, whether data could have been lost, how long users were
 * degraded.  report_markdown prints it for a post-mortem.
 */
json_t *report_new(const struct store_record *deployment);
void report_markdown(json_t *report, FILE *out);
/*
 * The same report as a standalone HTML page (escaped), with the
 * deployment's timeline inline as SVG; report is report_new(deployment).
 */
void report_html(const struct store_record *deployment, json_t *report, FILE *out);
/*
 * The deployment as a JUnit XML document for a CI's test view: one
 * testsuite, one testcase per phase (classname and name the phase) and
 * one per verify check (classname "verify"), a failure with what was
 * measured, skipped for the phases a failure left out; times in seconds.
 */
void report_junit(const struct store_record *deployment, FILE *out);

/* The pictures of `ttdeploy timeline`. */
enum timeline_format { TIMELINE_TEXT, TIMELINE_SVG, TIMELINE_MERMAID };

/*
 * A Gantt chart of a recorded deployment: a row per phase with its
 * steps' rows under it, bars coloured by outcome, the failure marked
 * where it happened and the rollback after it, an axis in seconds.
 * SVG is a standalone document; Mermaid a `gantt` for Markdown; text
 * for a terminal.
 */
void timeline_print(const struct store_record *deployment, enum timeline_format format, FILE *out);

#endif
