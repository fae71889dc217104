/*
 * hooks.h - the plan's hooks around the apply phases (plans/README.md,
 * "Hooks"): apply.c calls hooks_run() before a phase runs, after it
 * worked, and once it (or a before hook) failed; recover calls
 * hooks_run_after_crash() for the phase a crash interrupted, so that no
 * hook that had ended runs again.  Private to deploy/.
 */
#ifndef HOOKS_H
#define HOOKS_H

#include "run.h"

#include <stdio.h>

/*
 * Runs the hooks of phase (the state a phase of the table begins in) for
 * when, in the order written, each one a step "hook" with its intent,
 * exit, duration and the end of its output (secrets redacted).
 *
 * A before hook that fails stops the rest and returns -1: a->err says
 * why, a->fail_check names the hook (a rollback rule's check: can name
 * it) and a->fail_service its service, so the matrix decides as for the
 * phase's own failure.  After and on_failure hooks that fail are recorded
 * only: the rest run and 0 is returned.  After a stop signal no hook
 * begins (a before hook returns -1, the others 0).
 */
int hooks_run(struct run *a, enum deploy_state phase, enum plan_hook_when when);

/*
 * recover: hooks_run() for a deployment a crash interrupted, but a hook
 * whose outcome (ok or failed) its steps record is said and not run
 * again; one the crash cut (its step interrupted) runs again.
 */
int hooks_run_after_crash(struct run *a, enum deploy_state phase, enum plan_hook_when when);

/* Whether a hook of phase for when has a step in the deployment (begun, ended or not). */
int hooks_begun(struct run *a, enum deploy_state phase, enum plan_hook_when when);

/* `apply --dry-run`: each hook, where and when it would run, its command redacted. */
void hooks_dry_run(struct run *a, FILE *out);

#endif
