/*
 * rollback.h - rolling back: the actions the rollback matrix picks after a
 * failed phase (run from apply's "deciding" state), and `ttdeploy
 * rollback`, which deploys an earlier release as a new deployment.
 */
#ifndef ROLLBACK_H
#define ROLLBACK_H

#include <stdio.h>

#include "apply.h"
#include "matrix.h"
#include "tterr.h"

struct apply_run;

struct rollback_options {
    struct apply_options apply; /* plan, store, engine, dry run, progress */
    long long to_id;            /* a recorded deployment; 0: see to_tag */
    const char *to_tag;         /* a git tag, or "previous"; NULL: the previous release */
    int with_migrations;        /* downgrade the schema to the target's revision */
    int restore_backup;         /* restore the backup taken just after the target ran */
};

/* `ttdeploy rollback`: the target release through the forward phases and verify. */
enum apply_outcome rollback_run(const struct rollback_options *o, struct tt_err *err);

/*
 * Prints the plan's matrix (or the built-in one); with f (may be NULL) also
 * which rule fires for that failure and what it would do.
 */
int rollback_explain(const char *plan_path, const struct matrix_failure *f, FILE *out,
                     struct tt_err *err);

/* Finishes a rollback a crash interrupted: the decided actions not done yet. */
enum apply_outcome rollback_resume(struct apply_run *a);

#endif
