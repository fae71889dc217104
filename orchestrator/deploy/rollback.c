/*
 * rollback.c - what happens after a phase fails.
 *
 * rollback_after_failure() describes the failure (phase, check, service
 * and what was measured), asks the matrix which rule fires, records the
 * decision, and runs the rule's actions in order (rollback_actions.c),
 * each one a step with its intent and outcome.  When no action has
 * anything to do the deployment ends "failed".  rollback_resume()
 * finishes the actions of a rollback a crash interrupted, skipping those
 * already done.  rollback_explain() prints the matrix and which rule a
 * described failure would fire.  `ttdeploy rollback` by hand is
 * redeploy.c.
 *
 * A store that could not record stops here, before touching anything:
 * rolling back what the store cannot follow would leave nothing that
 * `ttdeploy recover` could trust.
 */
#include "rollback.h"
#include "interrupt.h"
#include "matrix.h"
#include "monotime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the decision -------------------------------------------------------- */

static int check_index(const struct plan *p, const char *name)
{
    for (size_t i = 0; name && i < p->nchecks; i++)
        if (!strcmp(p->checks[i].name, name))
            return (int)i;
    return -1;
}

static void failure_of(const struct run *a, enum deploy_state phase, struct matrix_failure *f)
{
    int ci = check_index(a->plan, a->fail_check);
    matrix_failure_init(f);
    f->phase = deploy_state_name(phase);
    f->check = a->fail_check;
    f->service = a->fail_service;
    f->health = a->fail_health;
    f->error_rate = a->fail_measure.error_rate;
    f->p95_ms = a->fail_measure.p95_ms;
    f->value = a->fail_measure.value;
    if (ci >= 0) {
        f->p95_before_ms = a->p95_before[ci];
        f->value_before = a->before[ci];
    }
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *failure_json(const struct matrix_failure *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "phase", json_string(f->phase));
    if (f->check)
        json_object_set_new(o, "check", json_string(f->check));
    if (f->service)
        json_object_set_new(o, "service", json_string(f->service));
    if (f->health)
        json_object_set_new(o, "health", json_string(f->health));
    if (f->value)
        json_object_set_new(o, "value", json_string(f->value));
    if (f->value_before)
        json_object_set_new(o, "value_before", json_string(f->value_before));
    json_object_set_new(o, "error_rate", num_or_null(f->error_rate));
    json_object_set_new(o, "p95_ms", num_or_null(f->p95_ms));
    json_object_set_new(o, "p95_before_ms", num_or_null(f->p95_before_ms));
    return o;
}

/* The actions a decision takes, in order (their own copy). */
struct actions {
    enum plan_action *v;
    size_t n;
};

static void actions_set(struct actions *l, const enum plan_action *v, size_t n)
{
    free(l->v);
    l->v = xcalloc(n + 1, sizeof(*l->v));
    memcpy(l->v, v, n * sizeof(*v));
    l->n = n;
}

static json_t *actions_json(const struct actions *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(arr, json_string(plan_action_name(l->v[i])));
    return arr;
}

/* The actions a recorded decision names (the decision note's "actions"); -1: a word unknown. */
static int actions_from_json(struct actions *l, json_t *names)
{
    size_t i;
    json_t *v;
    l->v = xcalloc(json_array_size(names) + 1, sizeof(*l->v));
    l->n = 0;
    json_array_foreach(names, i, v)
    {
        if (plan_action_from_name(json_string_value(v), &l->v[l->n]) < 0)
            return -1;
        l->n++;
    }
    return 0;
}

static void actions_join(const struct actions *l, struct buf *out)
{
    for (size_t i = 0; i < l->n; i++)
        buf_printf(out, "%s%s", i ? ", " : "", plan_action_name(l->v[i]));
}

static enum apply_outcome run_actions(struct run *a, const struct actions *actions,
                                      json_t *previous, int resume, struct buf *summary);

/* ---- the daemon a rollback needs ---------------------------------------------- */

/* Whether the Docker daemon answers /_ping now (within 2 s); why says what it said if not. */
static int daemon_answers(struct run *a, struct tt_err *why)
{
    return engine_call(a->engine, "GET", "/_ping", NULL, 2000, NULL, NULL, why) == 200;
}

/*
 * Waits, up to the plan's healthy timeout, for a Docker daemon that does
 * not answer (one restarted mid-deploy comes back).  0 when it answers,
 * with how long it was away in summary; -1 when it did not come back
 * (or SIGINT/SIGTERM), summary saying so.
 */
static int daemon_wait(struct run *a, struct buf *summary)
{
    struct tt_err why = {0};
    double t0 = monotime_now(), deadline = t0 + a->plan->healthy_timeout_ms / 1000.0;
    struct timespec pause = {0, 500 * 1000 * 1000};

    if (daemon_answers(a, &why))
        return 0;
    run_say(a, "rolling back: the Docker daemon at %s does not answer; waiting up to %.0f s",
            engine_host(a->engine), deadline - t0);
    while (monotime_now() < deadline && !interrupt_signal()) {
        nanosleep(&pause, NULL);
        if (daemon_answers(a, &why)) {
            buf_printf(summary, "%sthe Docker daemon at %s did not answer for %.1f s",
                       summary->len ? "; " : "", engine_host(a->engine), monotime_now() - t0);
            return 0;
        }
    }
    buf_printf(summary, "%sthe Docker daemon at %s does not answer (%s)", summary->len ? "; " : "",
               engine_host(a->engine), why.msg[0] ? why.msg : "no answer");
    return -1;
}

/*
 * run_actions() once the daemon answers, and once more (the actions not
 * done yet) when one failed because the daemon went away meanwhile.
 * APPLY_UNREACHABLE when it did not come back: nothing is decided, the
 * deployment stays in rolling_back for `ttdeploy recover`.
 */
static enum apply_outcome run_actions_with_daemon(struct run *a, const struct actions *actions,
                                                  json_t *previous, int resume, struct buf *summary)
{
    struct tt_err why = {0};
    if (daemon_wait(a, summary) < 0)
        return APPLY_UNREACHABLE;
    enum apply_outcome res = run_actions(a, actions, previous, resume, summary);
    if (res != APPLY_ROLLBACK_BROKE || a->store_err.msg[0] || daemon_answers(a, &why))
        return res;
    if (daemon_wait(a, summary) < 0)
        return APPLY_UNREACHABLE;
    buf_adds(summary, "; then ");
    return run_actions(a, actions, previous, 1, summary);
}

/* The end of a message when the daemon did not come back: how to finish. */
static void stays_interrupted(struct run *a, struct buf *error)
{
    buf_printf(error,
               "; deployment %lld stays in rolling_back: when the daemon is back, `ttdeploy "
               "recover %s` finishes the rollback",
               a->id, a->o->plan_path);
}

/* The newest succeeded deployment before this one (store_show), or NULL. */
static json_t *previous_deployment(struct run *a)
{
    struct tt_err e = {0};
    json_t *p = store_succeeded_before(a->store, a->project->name, a->id, &e);
    if (!p && e.msg[0])
        run_store_failed(a, &e);
    return p;
}

/* Whether a rule of rules[0..n) names phase in its when:. */
static int rules_name_phase(const struct plan_rule *rules, size_t n, const char *phase)
{
    for (size_t i = 0; i < n; i++)
        if (rules[i].phase && !strcmp(rules[i].phase, phase))
            return 1;
    return 0;
}

enum apply_outcome rollback_after_failure(struct run *a)
{
    struct tt_err *cause = a->err, e2 = {0};
    enum deploy_state phase = a->state;
    struct matrix_failure f;
    struct matrix_decision d = {0};
    struct plan *builtin = NULL;
    struct buf text = {0}, why = {0}, error = {0};
    struct actions actions = {0};
    static const enum plan_action fix_forward = PLAN_ACTION_NONE, go_back = PLAN_ACTION_IMAGES;
    enum apply_outcome res = APPLY_DEPLOY_FAILED;

    /* A stop signal is not a failure to judge: recorded unfinished, `recover` goes as after a
     * crash. */
    if (interrupt_signal())
        return run_interrupted(a);
    a->err = &e2; /* the cause stays in *cause; bookkeeping errors go to e2 */
    if (!a->failed_at)
        a->failed_at = monotime_now();
    buf_adds(&error, cause->msg);
    if (a->store_err.msg[0]) {
        buf_printf(&error,
                   "; the store could not record (%s), so ttdeploy stopped before changing "
                   "anything else: when the store works again, `ttdeploy recover %s` finishes "
                   "the deployment",
                   a->store_err.msg, a->o->plan_path);
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }
    if (phase < DEPLOY_LOCKED || phase > DEPLOY_VERIFY || run_enter(a, DEPLOY_DECIDING) < 0) {
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }
    if (a->manual) {
        const char *w = "a manual rollback that fails is not rolled back again: fix the cause and "
                        "run it again, or deploy a release";
        step_note(a, DEPLOY_DECIDING, NULL, "none", w, STEP_OK, w);
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }

    failure_of(a, phase, &f);
    const struct plan_rule *rules = a->plan->rules;
    size_t nrules = a->plan->nrules;
    /* A preflight failure changed nothing: only a rule naming the phase may do more than abort. */
    if (!nrules || (phase == DEPLOY_PREFLIGHT && !rules_name_phase(rules, nrules, "preflight"))) {
        builtin = matrix_default_new();
        rules = builtin->rules;
        nrules = builtin->nrules;
    }
    json_t *dec = json_object();
    json_object_set_new(dec, "failure", failure_json(&f));
    json_object_set_new(dec, "builtin", json_boolean(builtin != NULL));
    json_object_set_new(dec, "detected_at_monotonic", json_real(a->failed_at));
    json_object_set_new(dec, "crash", json_boolean(a->crashed));
    int found = a->crashed && phase != DEPLOY_PREFLIGHT ? matrix_decide_crash(rules, nrules, &f, &d)
                                                        : matrix_decide(rules, nrules, &f, &d);
    if (found == 0) {
        actions_set(&actions, d.rule->actions, d.rule->nactions);
        matrix_rule_describe(d.rule, &text);
        buf_printf(&why, "rule %zu%s%s%s: %s", d.index, builtin ? " of the built-in matrix" : " (",
                   builtin ? "" : d.rule->at.file, builtin ? "" : ")", d.why.data);
        if (!builtin)
            buf_printf(&why, " [line %d]", d.rule->at.line);
        json_object_set_new(dec, "rule", json_integer((json_int_t)d.index));
        json_object_set_new(dec, "rule_text", json_string(text.data));
        json_object_set_new(dec, "severity", json_string(d.rule->severity));
        json_object_set_new(dec, "measured", json_string(d.why.data));
        if (!builtin)
            json_object_set_new(
                dec, "at",
                json_pack("{s:s, s:i}", "file", d.rule->at.file, "line", d.rule->at.line));
    } else if (a->crashed) {
        actions_set(&actions, &go_back, 1);
        buf_adds(&text, "a crash -> images");
        buf_printf(&why,
                   "a crash is not a decision: no rule of the matrix names phase %s, so back to "
                   "the last release that succeeded, by its images (the schema stays)",
                   f.phase);
    } else {
        actions_set(&actions, &fix_forward, 1);
        buf_adds(&text, "no rule matches");
        buf_adds(&why, "no rule of the matrix matches this failure: fixing forward");
    }
    json_object_set_new(dec, "actions", actions_json(&actions));
    if (store_deployment_note(a->store, a->id, "decision", dec, &e2) < 0)
        run_store_failed(a, &e2);
    json_decref(dec);
    if (a->store_err.msg[0] ||
        step_note(a, DEPLOY_DECIDING, f.service, plan_action_name(actions.v[0]), text.data, STEP_OK,
                  why.data) < 0) {
        buf_printf(&error,
                   "; the store could not record the decision (%s): nothing was rolled back; "
                   "when it works again, `ttdeploy recover %s` finishes the deployment",
                   a->store_err.msg, a->o->plan_path);
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }
    struct buf joined = {0};
    actions_join(&actions, &joined);
    run_say(a, "deciding: %s -> %s", why.data, joined.data);
    buf_release(&joined);

    if (actions.v[0] == PLAN_ACTION_NONE || actions.v[0] == PLAN_ACTION_ABORT) {
        buf_printf(&error, "; %s per the rollback matrix (%s)",
                   actions.v[0] == PLAN_ACTION_NONE ? "fixed forward, the new release stays"
                                                    : "aborted, nothing more was changed",
                   text.data);
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }
    json_t *previous = previous_deployment(a);
    if (previous && store_deployment_note(a->store, a->id, "rolled_back_to",
                                          json_object_get(previous, "id"), &e2) < 0)
        run_store_failed(a, &e2);
    if (a->store_err.msg[0] || run_enter(a, DEPLOY_ROLLING_BACK) < 0) {
        json_decref(previous);
        run_finish(a, DEPLOY_FAILED, error.data);
        goto out;
    }
    struct buf summary = {0};
    res = run_actions_with_daemon(a, &actions, previous, 0, &summary);
    json_decref(previous);
    if (res == APPLY_UNREACHABLE) {
        buf_printf(&error, "; the rollback could not run: %s", summary.data);
        stays_interrupted(a, &error);
    } else if (res == APPLY_OK) {
        buf_printf(&error, "; rolled back: %s", summary.data);
        run_finish(a, DEPLOY_ROLLED_BACK, error.data);
        res = APPLY_DEPLOY_FAILED;
    } else if (res == APPLY_DEPLOY_FAILED) {
        buf_printf(&error, "; nothing to roll back to: %s", summary.data);
        run_finish(a, DEPLOY_FAILED, error.data);
    } else {
        buf_printf(&error, "; ROLLBACK FAILED: %s", summary.data);
        run_finish(a, DEPLOY_ROLLBACK_FAILED, error.data);
    }
    buf_release(&summary);
out:
    /* The message the caller prints: the cause, then what was done about it. */
    tt_error(cause, "%s", error.data);
    a->err = cause;
    matrix_decision_clear(&d);
    plan_free(builtin);
    free(actions.v);
    buf_release(&text);
    buf_release(&why);
    buf_release(&error);
    return res;
}

/* Whether the action's step already ended ok in this deployment (a resumed rollback). */
static int action_done_before(json_t *steps, enum plan_action action)
{
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        int status = step_status_from_name(store_text(st, "status", ""));
        if (deploy_state_from_name(store_text(st, "phase", "")) == DEPLOY_ROLLING_BACK &&
            json_is_null(json_object_get(st, "service")) &&
            !strcmp(store_text(st, "action", ""), plan_action_name(action)) &&
            status != STEP_RUNNING && status != STEP_INTERRUPTED && status != STEP_FAILED)
            return 1;
    }
    return 0;
}

/* One action of a rollback, for step_run(). */
struct action_run {
    enum plan_action action;
    json_t *previous; /* the previous succeeded deployment, or NULL */
    json_t *self;     /* this deployment as recorded */
};

static enum action_result run_action(struct run *a, void *ctx, struct buf *detail,
                                     struct tt_err *err)
{
    const struct action_run *ar = ctx;
    (void)err; /* the action fills a->err, which step_run() points at err */
    return rollback_action(a, ar->action, ar->previous, ar->self, detail);
}

static const char *result_word(enum action_result r, int shout)
{
    return r == ACTION_DONE      ? "done"
           : r == ACTION_SKIPPED ? "skipped"
           : shout               ? "FAILED"
                                 : "failed";
}

/*
 * Runs the actions in order; summary receives what each did.  Returns
 * APPLY_OK when at least one did something and none failed,
 * APPLY_DEPLOY_FAILED when every one was skipped, APPLY_ROLLBACK_BROKE
 * when one failed (the rest are not run).
 */
static enum apply_outcome run_actions(struct run *a, const struct actions *actions,
                                      json_t *previous, int resume, struct buf *summary)
{
    struct tt_err e = {0};
    /* This deployment as recorded: its migration, its backup, and (resuming) the steps done. */
    json_t *self = store_show(a->store, a->id, &e);
    json_t *steps = resume ? json_object_get(self, "steps") : NULL;
    size_t done = 0;
    enum apply_outcome res = APPLY_OK;

    if (!self) {
        run_store_failed(a, &e);
        buf_printf(summary, "the store could not read deployment %lld: %s", a->id, e.msg);
        return APPLY_ROLLBACK_BROKE;
    }
    for (size_t i = 0; i < actions->n; i++) {
        enum plan_action action = actions->v[i];
        const char *name = plan_action_name(action);
        struct action_run ar = {action, previous, self};
        struct step_desc d = {DEPLOY_ROLLING_BACK, NULL, name, rollback_action_intent(action)};
        struct buf detail = {0};
        struct tt_err aerr = {0};

        if (steps && action_done_before(steps, action)) {
            buf_printf(summary, "%s%s: done before the crash", summary->len ? "; " : "", name);
            done++;
            continue;
        }
        run_say(a, "rolling back: %s", d.intent);
        enum action_result r = step_run(a, &d, run_action, &ar, &detail, &aerr);
        run_say(a, "rolling back: %s %s%s%s", name, result_word(r, 1),
                detail.len || r == ACTION_FAILED ? ": " : "",
                r == ACTION_FAILED ? aerr.msg
                : detail.data      ? detail.data
                                   : "");
        buf_printf(summary, "%s%s %s", summary->len ? "; " : "", name, result_word(r, 0));
        if (detail.len || r == ACTION_FAILED)
            buf_printf(summary, " (%s)", r == ACTION_FAILED ? aerr.msg : detail.data);
        buf_release(&detail);
        if (r == ACTION_FAILED) {
            res = APPLY_ROLLBACK_BROKE;
            break;
        }
        done += r == ACTION_DONE;
    }
    json_decref(self);
    if (res == APPLY_OK && done == 0)
        res = APPLY_DEPLOY_FAILED;
    return res;
}

enum apply_outcome rollback_resume(struct run *a)
{
    struct tt_err e = {0};
    json_t *d = store_show(a->store, a->id, &e);
    json_t *notes = NULL;
    struct actions actions = {0};
    struct buf summary = {0}, error = {0};
    enum apply_outcome res;

    if (d && json_string_value(json_object_get(d, "notes")))
        notes = json_loads(json_string_value(json_object_get(d, "notes")), 0, NULL);
    int known =
        actions_from_json(&actions, json_object_get(json_object_get(notes, "decision"), "actions"));
    buf_printf(&error, "deployment %lld was interrupted while rolling back", a->id);
    if (!d) {
        run_store_failed(a, &e);
        buf_printf(&error, ", and the store cannot read it (%s): nothing was done", e.msg);
        res = APPLY_ROLLBACK_BROKE;
    } else if (known < 0) {
        buf_adds(&error, ", and its decision names an action this ttdeploy does not know: see "
                         "`ttdeploy show`");
        run_finish(a, DEPLOY_ROLLBACK_FAILED, error.data);
        res = APPLY_ROLLBACK_BROKE;
    } else if (!actions.n) {
        buf_adds(&error, ", and its decision was not recorded: see `ttdeploy show`");
        run_finish(a, DEPLOY_ROLLBACK_FAILED, error.data);
        res = APPLY_ROLLBACK_BROKE;
    } else {
        a->failed_at = monotime_now();
        json_t *previous = previous_deployment(a);
        res = run_actions_with_daemon(a, &actions, previous, 1, &summary);
        json_decref(previous);
        if (res == APPLY_UNREACHABLE) {
            buf_printf(&error, "; the rollback could not run: %s", summary.data);
            stays_interrupted(a, &error);
            goto out;
        }
        buf_printf(&error, "; %s: %s",
                   res == APPLY_OK ? "rollback finished by recover" : "rollback failed",
                   summary.data);
        run_finish(a, res == APPLY_OK ? DEPLOY_ROLLED_BACK : DEPLOY_ROLLBACK_FAILED, error.data);
        res = res == APPLY_OK ? APPLY_DEPLOY_FAILED : APPLY_ROLLBACK_BROKE;
    }
out:
    tt_error(a->err, "%s", error.data);
    json_decref(notes);
    json_decref(d);
    free(actions.v);
    buf_release(&summary);
    buf_release(&error);
    return res;
}

/* ---- explaining the matrix ----------------------------------------------------- */

int rollback_explain(const char *plan_path, const struct matrix_failure *f, FILE *out,
                     struct tt_err *err)
{
    struct plan *p = NULL, *builtin = NULL;
    struct matrix_decision d = {0};

    if (plan_load(plan_path, NULL, &p, err) < 0)
        return -1;
    const struct plan_rule *rules = p->rules;
    size_t n = p->nrules;
    if (!n) {
        builtin = matrix_default_new();
        rules = builtin->rules;
        n = builtin->nrules;
    }
    matrix_explain(rules, n, builtin != NULL, out);
    if (f) {
        struct buf line = {0};
        fprintf(out, "\nfailure: phase %s", f->phase ? f->phase : "?");
        if (f->check)
            fprintf(out, ", check %s", f->check);
        if (f->service)
            fprintf(out, ", service %s", f->service);
        fputc('\n', out);
        if (f->phase && !strcmp(f->phase, "preflight") && !builtin &&
            !rules_name_phase(rules, n, "preflight")) {
            fprintf(out, "no rule names phase preflight: a failed check changed nothing, so the "
                         "built-in answer stands: abort\n");
        } else if (matrix_decide(rules, n, f, &d) == 0) {
            matrix_rule_describe(d.rule, &line);
            fprintf(out, "rule %zu fires (%s): %s\n", d.index, d.why.data, line.data);
        } else {
            fprintf(out, "no rule fires: the deployment would be fixed forward (none)\n");
        }
        buf_release(&line);
    }
    matrix_decision_clear(&d);
    plan_free(builtin);
    plan_free(p);
    return 0;
}
