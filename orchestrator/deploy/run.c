/*
 * run.c - one deployment's context: loading it, its state machine, the
 * store and the lock it holds, and the record that begins it.
 *
 * The transition table is the contract: run_enter() refuses any move it
 * does not list, so a phase can never be skipped or repeated by accident.
 * Every move is written to the store before the phase acts.
 */
#include "run.h"
#include "monotime.h"
#include "pgdb.h"
#include "sha256.h"

#include <math.h>
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

char *apply_default_state_path(const char *plan_path)
{
    struct buf b = {0};
    const char *slash = strrchr(plan_path, '/');
    if (slash)
        buf_printf(&b, "%.*s/.ttdeploy/state.db", (int)(slash - plan_path), plan_path);
    else
        buf_adds(&b, ".ttdeploy/state.db");
    return buf_detach(&b);
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

/* Moves the machine to state to, recording it; an unlisted move is a bug, reported as such. */
int run_enter(struct run *a, enum deploy_state to)
{
    struct tt_err e = {0};

    if (!apply_transition_allowed(a->state, to))
        return tt_error(a->err, "internal error: deployment %lld cannot go from %s to %s", a->id,
                        deploy_state_name(a->state), deploy_state_name(to));
    a->state = to;
    if (!a->store)
        return 0;
    if (store_deployment_set_state(a->store, a->id, to, &e) < 0 ||
        store_lock_heartbeat(a->store, a->project->name, &e) < 0) {
        run_store_failed(a, &e);
        return tt_error(a->err, "the store could not record state %s: %s", deploy_state_name(to),
                        e.msg);
    }
    return 0;
}

int run_finish(struct run *a, enum deploy_state to, const char *error)
{
    struct tt_err e = {0};
    int rc = 0;

    if (a->state != to && run_enter(a, to) < 0)
        rc = -1;
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
    run_set_bounds(&a->plan->timeouts);
    if (a->plan->migrate.present && a->plan->migrate.service)
        a->migrate_image =
            xstrdup(compose_find_service(a->project, a->plan->migrate.service)->image);
    return APPLY_OK;
}

void run_free(struct run *a)
{
    struct tt_err e = {0};
    if (a->locked)
        store_lock_release(a->store, a->project->name, &e);
    baselines_reset(a);
    free(a->backup_path);
    free(a->migrate_image);
    free(a->fail_check);
    free(a->fail_service);
    free(a->fail_health);
    verify_measure_clear(&a->fail_measure);
    store_close(a->store);
    engine_close(a->engine);
    release_free(a->release);
}

enum apply_outcome run_open_store(struct run *a)
{
    char *path =
        a->o->state_path ? xstrdup(a->o->state_path) : apply_default_state_path(a->o->plan_path);
    int rc = store_open(path, &a->store, a->err);
    free(path);
    return rc < 0 ? APPLY_BAD_INPUT : APPLY_OK;
}

static void format_since(double started_at, char since[32])
{
    time_t t = (time_t)started_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

enum apply_outcome run_outcome(struct run *a, enum apply_outcome res)
{
    struct tt_err e = {0};
    if (a->locked && store_lock_release(a->store, a->project->name, &e) < 0)
        run_store_failed(a, &e); /* the lock stays: `ttdeploy unlock` names its holder */
    a->locked = 0;
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
    char since[32];
    enum apply_outcome res = run_open_store(a);
    if (res != APPLY_OK)
        return res;
    int rc = store_lock_acquire(a->store, a->project->name, 0, &h, a->err);
    if (rc == 1) {
        format_since(h.started_at, since);
        run_say(a, "waiting up to %.0f s for the lock on %s, held by %s pid %ld since %s",
                a->o->lock_timeout_s, a->project->name, h.host, h.pid, since);
        rc = store_lock_acquire(a->store, a->project->name, a->o->lock_timeout_s, &h, a->err);
        if (rc == 1) {
            format_since(h.started_at, since);
            tt_error(a->err,
                     "project %s is locked by %s pid %ld (deployment %lld) since %s: wait for it, "
                     "or if it is gone, run `ttdeploy unlock --force`",
                     a->project->name, h.host, h.pid, h.deployment_id, since);
            return APPLY_LOCK_HELD;
        }
    }
    if (rc < 0)
        return APPLY_BAD_INPUT;
    a->locked = 1;
    return APPLY_OK;
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

/* CI variables present in the environment, as a JSON object string (caller frees). */
static char *ci_variables(void)
{
    static const char *const names[] = {"CI_PIPELINE_ID",
                                        "CI_JOB_ID",
                                        "CI_COMMIT_SHA",
                                        "CI_COMMIT_TAG",
                                        "CI_PROJECT_PATH",
                                        "GITHUB_RUN_ID",
                                        "GITHUB_SHA",
                                        "GITHUB_REF",
                                        "GITHUB_REPOSITORY",
                                        "BUILD_ID",
                                        "BUILD_NUMBER",
                                        "BUILD_URL",
                                        NULL};
    json_t *o = json_object();
    for (size_t i = 0; names[i]; i++)
        if (getenv(names[i]))
            json_object_set_new(o, names[i], json_string(getenv(names[i])));
    char *s = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static const char *actor(void)
{
    static const char *const names[] = {"TTDEPLOY_ACTOR", "GITLAB_USER_LOGIN", "GITHUB_ACTOR",
                                        "USER",           "LOGNAME",           NULL};
    for (size_t i = 0; names[i]; i++)
        if (getenv(names[i]) && *getenv(names[i]))
            return getenv(names[i]);
    return "unknown";
}

int run_begin(struct run *a, const char *version, const char *git_tag, const char *commit,
              const char *kind, long long rolled_back_from)
{
    char compose_sha[65];
    compose_digest(a->project, compose_sha);
    char *ci = ci_variables();
    struct store_deployment d = {a->project->name, version,     git_tag, commit, a->plan->path,
                                 a->plan->sha256,  compose_sha, actor(), ci,     a->plan->on_crash,
                                 rolled_back_from, kind};
    int rc = store_deployment_begin(a->store, &d, &a->id, a->err);
    free(ci);
    if (rc == 0)
        rc = store_lock_set_deployment(a->store, a->project->name, a->id, a->err);
    if (rc < 0)
        return run_store_failed(a, a->err);
    run_say(a, "deployment %lld: %s%s %s", a->id, strcmp(kind, "apply") ? "rollback of " : "",
            a->project->name, version);
    return run_enter(a, DEPLOY_LOCKED);
}
