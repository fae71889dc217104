/*
 * rollback.h - rolling back after a failed phase: the actions the rollback
 * matrix picks (run from apply's "deciding" state), finishing a rollback a
 * crash interrupted, and explaining the matrix.  Rolling back by hand is
 * redeploy.h.
 */
#ifndef ROLLBACK_H
#define ROLLBACK_H

#include <stdio.h>

#include "deploy.h"
#include "matrix.h"
#include "tterr.h"

struct apply_run;

/* Finishes a rollback a crash interrupted: the decided actions not done yet. */
enum apply_outcome rollback_resume(struct apply_run *a);

#endif
