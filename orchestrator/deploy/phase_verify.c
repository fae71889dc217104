/*
 * phase_verify.c - the verify phase and the baseline it compares with.
 *
 * Before anything changes, the baseline reads what "before" expectations
 * and p95 ratios need: the SQL checks' values and, for the HTTP checks a
 * rollback rule compares with "before", their p95 latency.  After the app
 * tier is healthy, each check runs as one step; the first that fails ends
 * the phase, and what it measured goes to the rollback matrix.
 */
#include "run.h"
#include "monotime.h"
#include "redact.h"

#include <stdlib.h>
#include <string.h>

void phase_describe_check(const struct plan_check *c, struct buf *b)
{
    buf_reset(b);
    if (c->kind == PLAN_CHECK_HTTP) {
        char *url = redact_url(c->url); /* the intent is stored and printed */
        buf_printf(b, "GET %s%s%s expect %d%s, %d probe%s, error rate <= %.1f%%", url,
                   c->from ? " from " : "", c->from ? c->from : "", c->status,
                   c->body ? " with body" : "", c->probes, c->probes == 1 ? "" : "s",
                   c->max_error_rate * 100);
        free(url);
    } else if (c->kind == PLAN_CHECK_EXEC)
        buf_printf(b, "run %s in %s, expect exit %d", c->command.v[0], c->service, c->expect_exit);
    else
        buf_printf(b, "SQL %s expect %s", c->sql, c->expect ? c->expect : "a row");
}

/* Whether a rule compares check c's p95 with the p95 before the deployment. */
static int needs_p95_before(const struct plan *p, const struct plan_check *c)
{
    if (c->kind != PLAN_CHECK_HTTP)
        return 0;
    for (size_t i = 0; i < p->nrules; i++) {
        const struct plan_rule *r = &p->rules[i];
        if (r->condition && r->cond.metric == PLAN_METRIC_P95 && r->cond.ratio_before &&
            (!r->check || !strcmp(r->check, c->name)))
            return 1;
    }
    return 0;
}

/* The p95 latency of check ctx (an index) before deploying; skipped when it does not pass. */
static enum action_result measure_p95(struct run *a, void *ctx, struct buf *detail,
                                      struct tt_err *err)
{
    size_t i = *(size_t *)ctx;
    const struct plan_check *c = &a->plan->checks[i];
    struct verify_context v = {
        a->engine,       a->project,
        a->plan->db_url, monotime_now() + a->plan->verify_timeout_ms / 1000.0,
        &a->live_slots,  run_swarm_mode(a)};
    struct verify_measure m;
    struct buf probe = {0};

    verify_measure_init(&m);
    int rc = verify_run(&v, c, NULL, &probe, &m, err);
    if (rc == 0) {
        a->p95_before[i] = m.p95_ms;
        buf_printf(detail, "%s: p95 %.1f ms before", c->name, m.p95_ms);
    } else {
        buf_adds(detail, "no baseline: the check does not pass now (first deployment?)");
    }
    verify_measure_clear(&m);
    buf_release(&probe);
    return rc == 0 ? ACTION_DONE : ACTION_SKIPPED;
}

/* The value of SQL check ctx (an index) before deploying; skipped when it cannot be read. */
static enum action_result read_before(struct run *a, void *ctx, struct buf *detail,
                                      struct tt_err *err)
{
    size_t i = *(size_t *)ctx;
    const struct plan_check *c = &a->plan->checks[i];
    double deadline = monotime_now(); /* one attempt: on a first deployment there is no database */

    if (verify_sql_value(a->plan->db_url, c->sql, deadline, &a->before[i], err) < 0) {
        buf_adds(detail, "no baseline: the check will only need a row");
        return ACTION_SKIPPED;
    }
    buf_printf(detail, "%s: %s", c->name, a->before[i] ? a->before[i] : "no row");
    return ACTION_DONE;
}

/* Runs fn for check i as one "baseline" step of the locked state. */
static int baseline_step(struct run *a, size_t i, const char *intent, step_fn fn)
{
    struct step_desc d = {DEPLOY_LOCKED, NULL, "baseline", intent};
    struct buf detail = {0};
    struct tt_err e = {0};
    enum action_result r = step_run(a, &d, fn, &i, &detail, &e);
    buf_release(&detail);
    return r == ACTION_FAILED ? tt_error(a->err, "%s", e.msg) : 0;
}

int phase_baseline(struct run *a)
{
    struct buf text = {0};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < a->plan->nchecks; i++) {
        if (!needs_p95_before(a->plan, &a->plan->checks[i]))
            continue;
        buf_reset(&text);
        buf_printf(&text, "measure %s's p95 latency before deploying", a->plan->checks[i].name);
        rc = baseline_step(a, i, text.data, measure_p95);
    }
    for (size_t i = 0; rc == 0 && i < a->plan->nchecks; i++) {
        if (!verify_needs_before(&a->plan->checks[i]))
            continue;
        buf_reset(&text);
        buf_printf(&text, "read %s before deploying", a->plan->checks[i].sql);
        rc = baseline_step(a, i, text.data, read_before);
    }
    buf_release(&text);
    return rc;
}

/* One check of the phase; all share the phase's deadline. */
struct check_run {
    size_t i;
    double deadline;
};

/* Runs check ctx (a struct check_run); what it measured is kept for the matrix. */
static enum action_result run_check(struct run *a, void *ctx, struct buf *detail,
                                    struct tt_err *err)
{
    const struct check_run *cr = ctx;
    struct verify_context v = {a->engine,    a->project,     a->plan->db_url,
                               cr->deadline, &a->live_slots, run_swarm_mode(a)};
    verify_measure_clear(&a->fail_measure);
    int rc =
        verify_run(&v, &a->plan->checks[cr->i], a->before[cr->i], detail, &a->fail_measure, err);
    return rc == 0 ? ACTION_DONE : ACTION_FAILED;
}

int phase_verify(struct run *a)
{
    struct buf text = {0}, detail = {0};
    double deadline = monotime_now() + a->plan->verify_timeout_ms / 1000.0;
    int failed = 0;

    if (a->plan->nchecks == 0)
        return step_skipped(a, DEPLOY_VERIFY, "no checks in the plan");
    for (size_t i = 0; i < a->plan->nchecks && !failed; i++) {
        const struct plan_check *c = &a->plan->checks[i];
        struct tt_err cerr = {0};
        phase_describe_check(c, &text);
        struct step_desc d = {DEPLOY_VERIFY, c->from ? c->from : c->service, c->name, text.data};
        struct check_run cr = {i, deadline};
        buf_reset(&detail);
        enum action_result r = step_run(a, &d, run_check, &cr, &detail, &cerr);
        if (a->store_err.msg[0]) {
            tt_error(a->err, "%s", cerr.msg);
            failed = 1;
            break;
        }
        run_say(a, "verify %s: %s%s%s", c->name, r == ACTION_DONE ? "ok" : "FAILED",
                detail.len ? " - " : "", detail.len ? detail.data : "");
        if (r != ACTION_DONE) {
            tt_error(a->err, "%s", cerr.msg);
            a->fail_check = xstrdup(c->name);
            if (c->from || c->service)
                a->fail_service = xstrdup(c->from ? c->from : c->service);
            failed = 1;
        }
    }
    buf_release(&text);
    buf_release(&detail);
    return failed ? -1 : 0;
}
