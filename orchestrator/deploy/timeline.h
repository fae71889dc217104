/*
 * timeline.h - a recorded deployment as the rows of a Gantt chart, shared
 * by its three pictures (timeline.c: text and Mermaid; timeline_svg.c:
 * SVG) and by the JUnit and HTML reports.  Private to deploy/.
 *
 * The rows: for each phase, in the order its first step began, one row
 * spanning the phase's steps, then one row per step of that phase in the
 * order the steps began.  Times are seconds since the deployment began.
 * The failure is the first step outside the rollback that failed or was
 * interrupted; its end is where the chart draws the failure marker, and
 * the rollback's steps come after it.
 */
#ifndef TIMELINE_H
#define TIMELINE_H

#include <stddef.h>
#include <stdio.h>

#include "store.h"

struct buf;

/* What a bar's colour says. */
enum timeline_outcome {
    TIMELINE_OK,
    TIMELINE_ROLLBACK, /* a rollback step that worked */
    TIMELINE_SKIPPED,
    TIMELINE_RUNNING, /* no outcome recorded (still running, or killed) */
    TIMELINE_INTERRUPTED,
    TIMELINE_FAILED,
    TIMELINE_NOUTCOMES
};

struct timeline_row {
    enum deploy_state phase;
    const struct store_step *step; /* NULL: the phase's own row */
    double t0, t1;                 /* seconds since the deployment began; t1 >= t0 */
    enum timeline_outcome outcome; /* a phase row: its worst step */
};

struct timeline {
    const struct store_record *d; /* borrowed */
    struct timeline_row *rows;
    size_t nrows, nsteps;
    double origin;                   /* unix time of 0 s */
    double span;                     /* seconds from 0 to the last end; > 0 */
    double tick;                     /* the axis' step, seconds */
    const struct store_step *failed; /* NULL: nothing failed */
    double failed_at;                /* seconds; the end of failed */
};

/* The rows of d's chart into t (timeline_clear() frees them). */
void timeline_build(const struct store_record *d, struct timeline *t);
void timeline_clear(struct timeline *t);

/* The first step outside the rollback that failed or was interrupted, or NULL. */
const struct store_step *timeline_failed_step(const struct store_record *d);
/* "ok", "failed", "rolled back", ... (the legend's words). */
const char *timeline_outcome_name(enum timeline_outcome o);
/* What a row says: the phase's name, or "SERVICE ACTION" (or "ACTION") for a step. */
void timeline_row_label(const struct timeline_row *r, struct buf *out);
/* "Deployment ID of PROJECT (VERSION): STATUS, N.N s". */
void timeline_title(const struct timeline *t, struct buf *out);

/* The chart as a standalone SVG document (no XML declaration, so that HTML can inline it). */
void timeline_svg(const struct timeline *t, FILE *out);

#endif
