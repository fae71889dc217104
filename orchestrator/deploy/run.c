/*
 * run.c - one deployment's context: loading it, its state machine, the
 * store and the lock it holds, and the record that begins it.
 *
 * The transition table is the contract: run_enter() refuses any move it
 * does not list, so a phase can never be skipped or repeated by accident.
 * Every move is written to the store before the phase acts.
 *
 * A stop signal (SIGINT, SIGTERM: base/interrupt.h) is not a failure to
 * decide about: no forward state is entered and no step begins once it
 * arrived; the deployment is recorded unfinished (run_interrupted) and
 * `recover` finishes it per on_crash, as after a crash.  The lock is held
 * by a live deployment (state/store_lock.c): its heartbeat thread keeps it
 * fresh, and a lock found lost stops the deployment like a store that
 * cannot record.
 */
#include "run.h"
#include "backup.h"
#include "interrupt.h"
#include "monotime.h"
#include "pgdb.h"
#include "sha256.h"
#include "state_remote.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int apply_transition_allowed(enum deploy_state from, enum deploy_state to)
{
    if (from >= DEPLOY_RECOVER || to >= DEPLOY_RECOVER)
        return 0;
    if (from < DEPLOY_SUCCEEDED && to == from + 1)
        return 1; /* the forward chain, created → ... → succeeded */
    if (to == DEPLOY_DECIDING)
        return from >= DEPLOY_LOCKED && from <= DEPLOY_VERIFY;
    if (from == DEPLOY_DECIDING)
        return to == DEPLOY_ROLLING_BACK || to == DEPLOY_FAILED;
    if (from == DEPLOY_ROLLING_BACK) /* failed: every action had nothing to do */
        return to == DEPLOY_ROLLED_BACK || to == DEPLOY_ROLLBACK_FAILED || to == DEPLOY_FAILED;
    return 0;
}

void run_say(struct run *a, const char *fmt, ...)
{
    FILE *out = a->o->out ? a->o->out : stdout;
    char ts[32], msg[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (a->o->progress == PROGRESS_QUIET)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (a->o->progress == PROGRESS_JSON) {
        json_t *j = json_pack("{s:s, s:s}", "time", ts, "apply", msg);
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(out, "%s\n", s);
        free(s);
        json_decref(j);
    } else {
        fprintf(out, "%s ==> %s\n", ts, msg);
    }
    fflush(out);
}

int run_store_failed(struct run *a, const struct tt_err *e)
{
    if (!a->store_err.msg[0])
        a->store_err = *e;
    return -1;
}

/* "SIGINT" for SIGINT. */
static void signal_name(int sig, char out[16])
{
    const char *abbrev = sigabbrev_np(sig);
    snprintf(out, 16, "SIG%s", abbrev ? abbrev : "?");
}

int run_may_act(struct run *a, enum deploy_state phase, const char *service, const char *action)
{
    struct tt_err e = {0};
    char sig[16];

    if (interrupt_signal()) {
        signal_name(interrupt_signal(), sig);
        if (!a->err->msg[0]) /* a cause already there stays first */
            tt_error(a->err, "interrupted by %s: %s %s%s%s was not begun", sig,
                     deploy_state_name(phase), action, service ? " of " : "",
                     service ? service : "");
        return -1;
    }
    if (a->lock && store_lock_lost(a->lock)) {
        store_lock_check(a->lock, &e);
        run_store_failed(a, &e);
        if (!a->err->msg[0])
            tt_error(a->err, "%s: %s %s was not begun", e.msg, deploy_state_name(phase), action);
        return -1;
    }
    return 0;
}

/* Moves the machine to state to, recording it; an unlisted move is a bug, reported as such. */
int run_enter(struct run *a, enum deploy_state to)
{
    struct tt_err e = {0};

    if (!apply_transition_allowed(a->state, to))
        return tt_error(a->err, "internal error: deployment %lld cannot go from %s to %s", a->id,
                        deploy_state_name(a->state), deploy_state_name(to));
    /* After a stop signal, no phase of the forward path begins. */
    if (to >= DEPLOY_LOCKED && to <= DEPLOY_VERIFY &&
        run_may_act(a, to, NULL, deploy_state_name(to)) < 0)
        return -1;
    a->state = to;
    if (!a->store)
        return 0;
    if (store_deployment_set_state(a->store, a->id, to, &e) < 0) {
        run_store_failed(a, &e);
        return tt_error(a->err, "the store could not record state %s: %s", deploy_state_name(to),
                        e.msg);
    }
    if (a->lock && store_lock_check(a->lock, &e) < 0) {
        run_store_failed(a, &e);
        return tt_error(a->err, "%s: stopped in state %s", e.msg, deploy_state_name(to));
    }
    return 0;
}

int run_finish(struct run *a, enum deploy_state to, const char *error)
{
    struct tt_err e = {0};
    int rc = 0;

    if (interrupt_signal() && to != DEPLOY_SUCCEEDED) {
        run_interrupted(a); /* the user asked it to stop: `recover` decides, not this run */
        return -1;
    }
    enum deploy_state from = a->state;
    if (a->state != to && run_enter(a, to) < 0)
        rc = -1;
    if (a->nnotify) { /* told before the seal; a crash meanwhile: recover records the end */
        if (error && store_deployment_error(a->store, a->id, error, &e) < 0)
            run_store_failed(a, &e);
        notify_end(a, to, from, error);
    }
    if (store_deployment_finish(a->store, a->id, to, error, &e) < 0)
        rc = run_store_failed(a, &e);
    return rc;
}

/* The per-check baselines, empty, for the run's plan. */
static void baselines_reset(struct run *a)
{
    for (size_t i = 0; a->before && a->plan && i < a->plan->nchecks; i++)
        free(a->before[i]);
    free(a->before);
    free(a->p95_before);
    a->before = NULL;
    a->p95_before = NULL;
}

void run_use_release(struct run *a, struct release *rel)
{
    baselines_reset(a);
    release_free(a->release);
    a->release = rel;
    a->plan = rel->plan;
    a->project = rel->project;
    a->dag = rel->dag;
    a->before = xcalloc(a->plan->nchecks + 1, sizeof(char *));
    a->p95_before = xcalloc(a->plan->nchecks + 1, sizeof(double));
    for (size_t i = 0; i < a->plan->nchecks; i++)
        a->p95_before[i] = NAN;
}

/* The plan's timeouts: bound every connection and request this run makes from now on. */
static void run_set_bounds(const struct plan_timeouts *t)
{
    struct pgdb_timeouts pg = {t->connect_ms, t->statement_ms, t->lock_ms};
    struct engine_timeouts en = {t->connect_ms, t->request_ms, t->stall_ms};
    pgdb_set_timeouts(&pg);
    engine_set_default_timeouts(&en);
    backup_set_stall(t->stall_ms);
}

enum apply_outcome run_load(struct run *a, const struct apply_options *o, struct tt_err *err)
{
    struct release *rel;

    a->o = o;
    a->err = err;
    verify_measure_init(&a->fail_measure);
    if (release_load(o->plan_path, NULL, &rel, err) < 0)
        return APPLY_BAD_INPUT;
    run_use_release(a, rel);
    if (o->mode) { /* --mode wins over the plan's engine mode */
        free(a->plan->engine_mode);
        a->plan->engine_mode = xstrdup(o->mode);
        if (plan_check_mode(a->plan, err) < 0)
            return APPLY_BAD_INPUT;
    }
    a->plan->state_engine |= o->state_engine;
    if (notify_take(a, err) < 0)
        return APPLY_BAD_INPUT;
    run_set_bounds(&a->plan->timeouts);
    char *dir = plan_resolve(a->plan, ".");
    int rc = ci_identity_detect(&a->ci, dir, o->actor, err);
    free(dir);
    if (rc < 0)
        return APPLY_BAD_INPUT;
    if (a->plan->migrate.present && a->plan->migrate.service)
        a->migrate_image =
            xstrdup(compose_find_service(a->project, a->plan->migrate.service)->image);
    return APPLY_OK;
}

int run_open_engine(struct run *a)
{
    struct engine_choice c = {a->o->host, a->o->context, a->plan->engine_host,
                              a->plan->engine_context, a->o->insecure};
    if (engine_open_choice(&c, &a->engine, a->err) < 0)
        return -1;
    if (engine_warning(a->engine)) /* plain tcp:// allowed by --insecure, say, is said every run */
        run_say(a, "warning: %s", engine_warning(a->engine));
    return 0;
}

/*
 * The step a stop signal cut short: the newest interrupted one that says
 * why (a wait that ended with "interrupted by SIGINT"), else the newest
 * interrupted, else the last step of record (the signal came between
 * steps).
 */
static const struct store_step *cut_step(const struct store_record *r)
{
    const struct store_step *any = NULL;
    for (size_t i = r ? r->nsteps : 0; i-- > 0;) {
        const struct store_step *st = &r->steps[i];
        if (st->status == STEP_INTERRUPTED && st->error && strstr(st->error, "interrupted by"))
            return st;
        if (st->status == STEP_INTERRUPTED && !any)
            any = st;
    }
    return any ? any : r && r->nsteps ? &r->steps[r->nsteps - 1] : NULL;
}

enum apply_outcome run_interrupted(struct run *a)
{
    struct tt_err e = {0};
    struct store_record *r = NULL;
    struct buf msg = {0};
    char sig[16];

    if (a->interrupted)
        return APPLY_INTERRUPTED;
    a->interrupted = 1;
    signal_name(interrupt_signal(), sig);
    if (a->store && a->id > 0 &&
        (store_steps_interrupt(a->store, a->id, &e) < 0 ||
         store_record_load(a->store, a->id, &r, &e) < 0))
        run_store_failed(a, &e);
    const struct store_step *st = cut_step(r);
    buf_printf(&msg, "interrupted by %s during %s", sig, deploy_state_name(a->state));
    if (st)
        buf_printf(&msg, ", %sstep %lld %s%s%s", st->status == STEP_INTERRUPTED ? "" : "after ",
                   st->seq, st->action, st->service ? " of " : "", st->service ? st->service : "");
    buf_printf(&msg, ": run `ttdeploy recover %s`", a->o->plan_path);
    if (a->store && a->id > 0) {
        json_t *note =
            json_pack("{s:s, s:s, s:I, s:s?}", "signal", sig, "state", deploy_state_name(a->state),
                      "step", st ? (json_int_t)st->seq : 0, "action", st ? st->action : NULL);
        if (store_deployment_error(a->store, a->id, msg.data, &e) < 0 ||
            store_deployment_note(a->store, a->id, "interrupted", note, &e) < 0)
            run_store_failed(a, &e);
        json_decref(note);
    }
    tt_error(a->err, "%s", msg.data);
    buf_release(&msg);
    store_record_free(r);
    return APPLY_INTERRUPTED;
}

void run_free(struct run *a)
{
    struct tt_err e = {0};
    store_lock_release(a->lock, &e);
    a->lock = NULL;
    baselines_reset(a);
    free(a->backup_path);
    free(a->migrate_image);
    free(a->fail_check);
    free(a->fail_service);
    free(a->fail_health);
    verify_measure_clear(&a->fail_measure);
    state_remote_close(a); /* --state engine: the last copy up, the lock on the engine released */
    store_close(a->store);
    engine_close(a->engine);
    release_free(a->release);
    ci_identity_release(&a->ci);
    strv_clear(&a->live_slots);
    free(a->bg);
    json_decref(a->recorded_specs);
    plan_notify_free(a->notify, a->nnotify);
}

enum apply_outcome run_open_store(struct run *a)
{
    if (state_remote_wanted(a))
        return state_remote_open(a);
    char *path =
        a->o->state_path ? xstrdup(a->o->state_path) : apply_default_state_path(a->o->plan_path);
    int rc = store_open(path, &a->store, a->err);
    free(path);
    return rc < 0 ? APPLY_BAD_INPUT : APPLY_OK;
}

enum apply_outcome run_outcome(struct run *a, enum apply_outcome res)
{
    struct tt_err e = {0};
    if (store_lock_release(a->lock, &e) < 0)
        run_store_failed(a, &e); /* the lock stays: `ttdeploy unlock` names its holder */
    a->lock = NULL;
    if (state_remote_settle(a, &e) < 0)
        run_store_failed(a, &e);
    if (a->interrupted)
        res = APPLY_INTERRUPTED;
    size_t len = strlen(a->err->msg);
    if (a->store_err.msg[0] && !strstr(a->err->msg, a->store_err.msg))
        snprintf(a->err->msg + len, sizeof(a->err->msg) - len, "%sthe store could not record: %s",
                 len ? "; " : "", a->store_err.msg);
    return res;
}

/* Opens the store and takes the project's lock; reports who holds it otherwise. */
enum apply_outcome run_open_and_lock(struct run *a)
{
    struct store_lock_owner h = {0};
    struct buf who = {0};
    char sig[16];
    enum apply_outcome res = run_open_store(a);
    if (res != APPLY_OK)
        return res;
    int rc = store_lock_acquire(a->store, a->project->name, 0, &a->lock, &h, a->err);
    if (rc == 1) {
        store_lock_owner_describe(&h, &who);
        run_say(a, "waiting up to %.0f s for the lock on %s, held by %s", a->o->lock_timeout_s,
                a->project->name, who.data);
        rc = store_lock_acquire(a->store, a->project->name, a->o->lock_timeout_s, &a->lock, &h,
                                a->err);
    }
    if (rc == 1) {
        buf_release(&who);
        store_lock_owner_describe(&h, &who);
        signal_name(interrupt_signal(), sig);
        if (interrupt_signal())
            tt_error(a->err, "interrupted by %s while waiting for the lock on %s, held by %s", sig,
                     a->project->name, who.data);
        else
            tt_error(a->err,
                     "project %s is locked by %s: wait for it, or if it is gone, run `ttdeploy "
                     "unlock --force`",
                     a->project->name, who.data);
        res = interrupt_signal() ? APPLY_INTERRUPTED : APPLY_LOCK_HELD;
    } else if (rc < 0) {
        res = APPLY_BAD_INPUT;
    }
    buf_release(&who);
    return res;
}

enum apply_outcome run_refuse_unfinished(struct run *a)
{
    struct tt_err e = {0};
    json_t *u = store_unfinished(a->store, a->project->name, &e);
    if (!u && e.msg[0])
        return tt_error(a->err, "%s", e.msg), APPLY_BAD_INPUT;
    if (!u)
        return APPLY_OK;
    tt_error(a->err,
             "deployment %" JSON_INTEGER_FORMAT " of %s was interrupted in state %s: run "
             "`ttdeploy recover %s` first",
             json_integer_value(json_object_get(u, "id")), a->project->name,
             json_string_value(json_object_get(u, "state")), a->o->plan_path);
    json_decref(u);
    return APPLY_LOCK_HELD;
}

/* The SHA-256 of the compose files, one after the other. */
static void compose_digest(const struct compose_project *p, char out[65])
{
    struct sha256_ctx *c = sha256_new();
    struct tt_err ignored = {0}; /* a file gone since it was loaded adds nothing */
    for (size_t i = 0; i < p->files.n; i++)
        sha256_update_file(c, p->files.v[i], &ignored);
    sha256_finish(c, out);
}

int run_begin(struct run *a, const char *version, const char *git_tag, const char *commit,
              const char *kind, long long rolled_back_from)
{
    char compose_sha[65];
    compose_digest(a->project, compose_sha);
    char *ci = ci_identity_json(&a->ci, a->engine ? engine_describe(a->engine) : NULL,
                                a->plan->engine_mode);
    struct store_deployment d = {a->project->name,
                                 version,
                                 git_tag,
                                 commit,
                                 a->plan->path,
                                 a->plan->sha256,
                                 compose_sha,
                                 a->ci.actor ? a->ci.actor : "unknown",
                                 ci,
                                 a->plan->on_crash,
                                 rolled_back_from,
                                 kind};
    int rc = store_deployment_begin(a->store, &d, &a->id, a->err);
    free(ci);
    if (rc == 0 && a->o->deployment_id)
        *a->o->deployment_id = a->id;
    if (rc == 0)
        rc = store_lock_set_deployment(a->lock, a->id, a->err);
    if (rc < 0)
        return run_store_failed(a, a->err);
    run_say(a, "deployment %lld: %s%s %s", a->id, strcmp(kind, "apply") ? "rollback of " : "",
            a->project->name, version);
    if (run_enter(a, DEPLOY_LOCKED) < 0)
        return -1;
    notify_started(a);
    return 0;
}
