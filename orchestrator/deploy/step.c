/*
 * step.c - the record of every step: its intent written before anything
 * acts, its outcome after.
 *
 * A crash between the two leaves a "running" step that says exactly
 * where the deployment stopped; `ttdeploy recover` reads it.  A store
 * that cannot record is never ignored: the step does not run, the error
 * is kept in run->store_err, and the deployment stops with it.  After a
 * stop signal no step begins, and the step it cut short ends
 * "interrupted".
 */
#include "run.h"
#include "interrupt.h"
#include "state_remote.h"

#include <stdlib.h>
#include <string.h>

int step_begin(struct run *a, enum deploy_state phase, const char *service, const char *action,
               const char *intent, long long *step)
{
    struct tt_err e = {0};
    if (run_may_act(a, phase, service, action) < 0) /* a stop signal, or the lock lost */
        return -1;
    if (store_step_begin(a->store, a->id, phase, service, action, intent, step, &e) == 0 &&
        state_remote_sync(a, &e) == 0) {
        crashpoint("intent of step %lld: %s %s %s", *step, deploy_state_name(phase), action,
                   service ? service : "-");
        return 0;
    }
    run_store_failed(a, &e);
    if (!a->err->msg[0]) /* a cause already there stays first: the final message adds this */
        tt_error(
            a->err, "the store could not record the intent of %s %s%s%s (%s): nothing was done",
            deploy_state_name(phase), action, service ? " of " : "", service ? service : "", e.msg);
    return -1;
}

int step_end(struct run *a, long long step, enum step_status status, const char *detail,
             const char *error)
{
    struct tt_err e = {0};
    if ((status == STEP_FAILED || status == STEP_SKIPPED) && interrupt_signal())
        status = STEP_INTERRUPTED; /* cut short, or never reached, because of a stop signal */
    if (store_step_end(a->store, step, status, detail, error, &e) == 0 &&
        state_remote_sync(a, &e) == 0) {
        crashpoint("outcome of step %lld %s", step, step_status_name(status));
        return 0;
    }
    run_store_failed(a, &e);
    if (!a->err->msg[0])
        tt_error(a->err, "the store could not record the outcome of step %lld (%s): %s", step,
                 step_status_name(status), e.msg);
    return -1;
}

enum step_status step_status_of(enum action_result r)
{
    return r == ACTION_DONE ? STEP_OK : r == ACTION_SKIPPED ? STEP_SKIPPED : STEP_FAILED;
}

int step_note(struct run *a, enum deploy_state phase, const char *service, const char *action,
              const char *intent, enum step_status status, const char *detail)
{
    long long step;
    if (step_begin(a, phase, service, action, intent, &step) < 0)
        return -1;
    return step_end(a, step, status, detail, NULL);
}

int step_skipped(struct run *a, enum deploy_state phase, const char *why)
{
    if (step_note(a, phase, NULL, "skip", why, STEP_SKIPPED, why) < 0)
        return -1;
    run_say(a, "%s: skipped (%s)", deploy_state_name(phase), why);
    return 0;
}

enum action_result step_run(struct run *a, const struct step_desc *d, step_fn fn, void *ctx,
                            struct buf *detail, struct tt_err *err)
{
    long long step;
    struct tt_err *saved = a->err;
    enum action_result r;

    a->err = err;
    if (step_begin(a, d->phase, d->service, d->action, d->intent, &step) < 0) {
        a->err = saved;
        return ACTION_FAILED;
    }
    r = fn(a, ctx, detail, err);
    if (step_end(a, step, step_status_of(r), detail->len ? detail->data : NULL,
                 r != ACTION_DONE && err->msg[0] ? err->msg : NULL) < 0)
        r = ACTION_FAILED;
    a->err = saved;
    return r;
}
