/*
 * rollback.h - rolling back after a failed phase: the actions the rollback
 * matrix picks (run from apply's "deciding" state), finishing a rollback a
 * crash interrupted, and explaining the matrix.  Rolling back by hand is
 * redeploy.h.
 */
#ifndef ROLLBACK_H
#define ROLLBACK_H

#include <stdio.h>

#include "apply.h"
#include "matrix.h"
#include "tterr.h"

struct apply_run;

/*
 * Prints the plan's matrix (or the built-in one); with f (may be NULL) also
 * which rule fires for that failure and what it would do.
 */
int rollback_explain(const char *plan_path, const struct matrix_failure *f, FILE *out,
                     struct tt_err *err);

/* Finishes a rollback a crash interrupted: the decided actions not done yet. */
enum apply_outcome rollback_resume(struct apply_run *a);

#endif
