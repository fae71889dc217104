/*
 * matrix.h - the rollback decision matrix: which rule a failure matches
 * and what it says to do.
 *
 * A failure is described by where it happened (phase, check, service)
 * and what was measured (error rate, p95 latency and the p95 before the
 * deployment, the service's health, the check's value).  Rules are
 * checked in order and the first whose when: matches wins.  A plan
 * without a matrix gets the built-in one, written in the plan language
 * itself (matrix_default_text) so that `ttdeploy rollback
 * --explain-matrix` prints exactly what runs.
 */
#ifndef MATRIX_H
#define MATRIX_H

#include <stdio.h>

#include "buf.h"
#include "deploy.h"
#include "plan.h"

struct matrix_decision {
    const struct plan_rule *rule; /* borrowed from the plan (or the built-in matrix) */
    size_t index;                 /* 1-based position in its matrix */
    int builtin;                  /* the plan had no matrix */
    struct buf why;               /* "error_rate 50.0% > 5.0%" or "matches any failure" */
};

/* The built-in matrix as plan text. */
const char *matrix_default_text(void);
/* The built-in matrix, parsed (the caller plan_free()s it). */
struct plan *matrix_default_new(void);

/*
 * The first rule of rules[0..n) matching f; returns 0 and fills d, or -1
 * when none matches (a matrix without a catch-all rule).  d->why must be
 * released by the caller with matrix_decision_clear().
 */
int matrix_decide(const struct plan_rule *rules, size_t n, const struct matrix_failure *f,
                  struct matrix_decision *d);
void matrix_decision_clear(struct matrix_decision *d);

/*
 * The rule for a crash in f->phase (recover with on_crash: rollback).  A
 * crash is not a decision, so only a rule that names that phase and rolls
 * something back is taken (never a catch-all, never none or abort);
 * returns -1 when there is none, and the caller goes back by images.
 */
int matrix_decide_crash(const struct plan_rule *rules, size_t n, const struct matrix_failure *f,
                        struct matrix_decision *d);

/*
 * Whether the condition holds for f; measured receives what was compared
 * ("error_rate 50.0% > 5.0%").  A condition whose measurement is missing
 * does not hold.
 */
int matrix_condition_holds(const struct plan_condition *c, const struct matrix_failure *f,
                           struct buf *measured);

/* The rule's when/severity/do in one line: "phase verify, check api-health -> images (critical)".
 */
void matrix_rule_describe(const struct plan_rule *r, struct buf *out);

/* Prints the rules, numbered, with where each is written. */
void matrix_explain(const struct plan_rule *rules, size_t n, int builtin, FILE *out);

#endif
