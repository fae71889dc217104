/*
 * verify.h - the verify phase's checks: HTTP requests from the host or
 * from inside a service's container, a command in a container, and an SQL
 * query compared with an expected value, which may be the value
 * the same query returned before the deployment ("before").
 */
#ifndef VERIFY_H
#define VERIFY_H

#include "buf.h"
#include "compose.h"
#include "engine.h"
#include "plan.h"
#include "tterr.h"

struct verify_context {
    struct engine *e;
    const struct compose_project *project;
    const char *db_url;
    double deadline; /* monotonic seconds (monotime_now) */
    /*
     * Blue-green: pairs (service, container) saying which slot's container
     * the checks of a service run in (from:, exec service:), rather than
     * whichever of its containers runs; NULL or empty: none.
     */
    const struct strv *slots;
    /* Swarm mode: a service's container is its running task's (swarm_container_id). */
    int swarm;
};

/* What a check measured, for the rollback matrix. */
struct verify_measure {
    double error_rate; /* http: failed probes / probes; NAN otherwise */
    double p95_ms;     /* http; NAN otherwise */
    char *value;       /* sql: the value; exec: the exit code; NULL otherwise (caller frees) */
};

void verify_measure_init(struct verify_measure *m);
void verify_measure_clear(struct verify_measure *m);

/*
 * Runs one check.  Returns 0 when it passed, 1 when it failed (err says
 * how, detail what was measured), -1 when it could not be run.  m (may be
 * NULL) receives the measurements.
 */
int verify_run(const struct verify_context *v, const struct plan_check *c, const char *before,
               struct buf *detail, struct verify_measure *m, struct tt_err *err);

/* The first column of the first row of sql, retried until deadline while the server starts. */
int verify_sql_value(const char *url, const char *sql, double deadline, char **value,
                     struct tt_err *err);

/* Whether actual satisfies expect ("= 5", ">= before" ...); before may be NULL. */
int verify_compare(const char *actual, const char *expect, const char *before);

/*
 * Whether check c is aimed at service: an http check run from it or whose
 * URL's host is its name, an exec check in it.
 */
int verify_targets(const struct plan_check *c, const char *service);

/* Whether a check's expectation needs the value from before the deployment. */
int verify_needs_before(const struct plan_check *c);

#endif
