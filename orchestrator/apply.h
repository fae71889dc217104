/*
 * apply.h - `ttdeploy apply`: one deployment as an explicit state machine.
 *
 *   created → locked → backup → migrate → infra_up → infra_healthy
 *           → app_up → app_healthy → verify → succeeded
 *   a failure in any of locked..verify → deciding → failed (none, abort)
 *                                               → rolling_back → rolled_back | rollback_failed
 *                                                              → failed (nothing to roll back to)
 *
 * Every state change and every step is written to the store: the intent
 * before acting, the outcome after.  The deployment lock is held from
 * "locked" to the end.  In "deciding" the plan's rollback matrix (or the
 * built-in one) picks the actions; rollback.c runs them.
 */
#ifndef APPLY_H
#define APPLY_H

#include <stdio.h>

#include "progress.h"
#include "tterr.h"

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

enum apply_outcome {
    APPLY_OK,
    APPLY_DEPLOY_FAILED, /* failed; rolled back or fixed forward per the matrix */
    APPLY_BAD_INPUT,
    APPLY_ROLLBACK_BROKE, /* failed, and rolling back failed too */
    APPLY_LOCK_HELD,
    APPLY_UNREACHABLE,
};

struct apply_options {
    const char *plan_path;
    const char *state_path; /* NULL: .ttdeploy/state.db beside the plan */
    const char *host;       /* Docker engine; NULL: $DOCKER_HOST */
    int dry_run;
    double lock_timeout_s;
    int readiness_docker;
    enum progress_mode progress;
    FILE *out;
};

const char *apply_state_name(enum apply_state s);
/* -1 when name is no state. */
int apply_state_from_name(const char *name);
int apply_transition_allowed(enum apply_state from, enum apply_state to);

enum apply_outcome apply_run(const struct apply_options *o, struct tt_err *err);
/* Finishes an interrupted deployment: resumes it or hands it to rollback, as its plan says. */
enum apply_outcome apply_recover(const struct apply_options *o, struct tt_err *err);
/* .ttdeploy/state.db in the plan's directory (the caller frees). */
char *apply_default_state_path(const char *plan_path);

#endif
