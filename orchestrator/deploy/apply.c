/*
 * apply.c - the deployment state machine and its phases.
 *
 * The transition table is the contract: apply_enter() refuses any move it does
 * not list, so a phase can never be skipped or repeated by accident.
 * Phases that act on containers first ask stack_preview() what they will
 * do and write that as each service's intent, then run stack_up() and
 * write each outcome; a crash in between leaves intents without outcomes,
 * which `ttdeploy recover` reads.
 */
#include "deploy.h"
#include "monotime.h"
#include "run.h"
#include "backup.h"
#include "pgdb.h"
#include "buf.h"
#include "compose.h"
#include "container_spec.h"
#include "dag.h"
#include "engine.h"
#include "gitref.h"
#include "rollback.h"
#include "plan.h"
#include "sha256.h"
#include "stack.h"
#include "store.h"
#include "verify.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <math.h>

static const char *const state_names[APPLY_NSTATES] = {
    "created",       "locked",       "backup",      "migrate",         "infra_up",
    "infra_healthy", "app_up",       "app_healthy", "verify",          "succeeded",
    "deciding",      "rolling_back", "rolled_back", "rollback_failed", "failed"};

const char *apply_state_name(enum apply_state s)
{
    return s < APPLY_NSTATES ? state_names[s] : "?";
}

int apply_state_from_name(const char *name)
{
    for (int i = 0; i < APPLY_NSTATES; i++)
        if (!strcmp(state_names[i], name))
            return i;
    return -1;
}

int apply_transition_allowed(enum apply_state from, enum apply_state to)
{
    if (from >= APPLY_NSTATES || to >= APPLY_NSTATES)
        return 0;
    if (from < APPLY_SUCCEEDED && to == from + 1)
        return 1; /* the forward chain, created → ... → succeeded */
    if (to == APPLY_DECIDING)
        return from >= APPLY_LOCKED && from <= APPLY_VERIFY;
    if (from == APPLY_DECIDING)
        return to == APPLY_ROLLING_BACK || to == APPLY_FAILED;
    if (from == APPLY_ROLLING_BACK) /* failed: every action had nothing to do */
        return to == APPLY_ROLLED_BACK || to == APPLY_ROLLBACK_FAILED || to == APPLY_FAILED;
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

void apply_say(struct apply_run *a, const char *fmt, ...)
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

/* Moves the machine to state to, recording it; an unlisted move is a bug, reported as such. */
int apply_enter(struct apply_run *a, enum apply_state to)
{
    if (!apply_transition_allowed(a->state, to))
        return tt_error(a->err, "internal error: deployment %lld cannot go from %s to %s", a->id,
                        apply_state_name(a->state), apply_state_name(to));
    a->state = to;
    if (a->store) {
        struct tt_err e2 = {0};
        if (store_deployment_set_state(a->store, a->id, apply_state_name(to), a->err) < 0)
            return -1;
        store_lock_heartbeat(a->store, a->project->name, &e2);
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

enum apply_outcome apply_load_inputs(struct apply_run *a)
{
    struct compose_options co = {0};
    int rc;

    if (plan_load(a->o->plan_path, NULL, &a->plan, a->err) < 0)
        return APPLY_BAD_INPUT;
    for (size_t i = 0; i < a->plan->compose.n; i++)
        strv_push(&co.files, a->plan->compose.v[i]);
    for (size_t i = 0; i < a->plan->env_files.n; i++)
        strv_push(&co.env_files, a->plan->env_files.v[i]);
    for (size_t i = 0; i < a->plan->profiles.n; i++)
        strv_push(&co.profiles, a->plan->profiles.v[i]);
    co.project_name = a->plan->project;
    rc = compose_load(&co, &a->project, a->err);
    strv_clear(&co.files);
    strv_clear(&co.env_files);
    strv_clear(&co.profiles);
    if (rc < 0 || dag_build(a->project, &a->dag, a->err) < 0 ||
        plan_check_project(a->plan, a->project, a->dag, a->err) < 0)
        return APPLY_BAD_INPUT;
    if (a->plan->migrate.present && !strcmp(a->plan->migrate.kind, "command") &&
        !a->plan->migrate.revision_query)
        return tt_error_at(a->err, a->plan->path, 0, 0,
                           "a command migration needs revision_query: (such as SELECT version_num "
                           "FROM alembic_version) so the revisions can be recorded"),
               APPLY_BAD_INPUT;
    if ((a->plan->backup.present || a->plan->migrate.present) &&
        (!a->plan->db_url || !a->plan->db_service))
        return tt_error_at(a->err, a->plan->path, 0, 0,
                           "backup: and migrate: need database: with service: and url:"),
               APPLY_BAD_INPUT;
    /* The release's images replace the compose file's. */
    for (size_t i = 0; i < a->project->nservices; i++) {
        struct compose_service *s = a->project->services[i];
        const char *img = plan_image_for(a->plan, s->name);
        if (img) {
            free(s->image);
            s->image = xstrdup(img);
        }
    }
    a->before = xcalloc(a->plan->nchecks + 1, sizeof(char *));
    a->p95_before = xcalloc(a->plan->nchecks + 1, sizeof(double));
    for (size_t i = 0; i < a->plan->nchecks; i++)
        a->p95_before[i] = NAN;
    verify_measure_init(&a->fail_measure);
    if (a->plan->migrate.present && a->plan->migrate.service)
        a->migrate_image =
            xstrdup(compose_find_service(a->project, a->plan->migrate.service)->image);
    return APPLY_OK;
}

static void apply_compose_digest(const struct compose_project *p, char out[65])
{
    struct sha256_ctx *c = sha256_new();
    for (size_t i = 0; i < p->files.n; i++) {
        FILE *f = fopen(p->files.v[i], "rb");
        char chunk[8192];
        size_t n;
        if (!f)
            continue;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            sha256_update(c, chunk, n);
        fclose(f);
    }
    sha256_finish(c, out);
}

/* CI variables present in the environment, as a JSON object string (caller frees). */
static char *apply_ci_variables(void)
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

static const char *apply_actor(void)
{
    static const char *const names[] = {"TTDEPLOY_ACTOR", "GITLAB_USER_LOGIN", "GITHUB_ACTOR",
                                        "USER",           "LOGNAME",           NULL};
    for (size_t i = 0; names[i]; i++)
        if (getenv(names[i]) && *getenv(names[i]))
            return getenv(names[i]);
    return "unknown";
}

/* Appends value with the password of any "scheme://user:password@" in it replaced. */
static void redact_url_password(const char *value, struct buf *out)
{
    const char *p = value;
    while (*p) {
        const char *scheme = strstr(p, "://");
        if (!scheme) {
            buf_adds(out, p);
            return;
        }
        const char *auth = scheme + 3;
        size_t span = strcspn(auth, "/?#@ ");
        const char *colon = memchr(auth, ':', span);
        if (auth[span] == '@' && colon) {
            buf_add(out, p, (size_t)(colon + 1 - p));
            buf_adds(out, "<redacted>");
            p = auth + span;
        } else {
            buf_add(out, p, (size_t)(auth - p));
            p = auth;
        }
    }
}

/* The service's environment as JSON with secret-looking values replaced by a digest prefix. */
static char *redacted_environment(const struct compose_service *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->environment.n; i++) {
        const struct compose_kv *kv = &s->environment.v[i];
        if (!kv->value) {
            json_object_set_new(o, kv->key, json_null());
        } else if (store_is_secret_name(kv->key)) {
            char hex[65], shown[64];
            sha256_hex(kv->value, strlen(kv->value), hex);
            snprintf(shown, sizeof(shown), "<redacted sha256:%.12s>", hex);
            json_object_set_new(o, kv->key, json_string(shown));
        } else {
            struct buf v = {0};
            redact_url_password(kv->value, &v);
            json_object_set_new(o, kv->key, json_string(v.data ? v.data : ""));
            buf_release(&v);
        }
    }
    char *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

/* ---- phases ------------------------------------------------------------- */

int apply_phase_skipped(struct apply_run *a, const char *phase, const char *why)
{
    long long step;
    if (store_step_begin(a->store, a->id, phase, NULL, "skip", why, &step, a->err) < 0)
        return -1;
    apply_say(a, "%s: skipped (%s)", phase, why);
    return store_step_end(a->store, step, "skipped", why, NULL, a->err);
}

const struct stack_result *apply_result_for(const struct stack_report *r, const char *service)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].service, service))
            return &r->v[i];
    return NULL;
}

static void intent_text(const struct stack_result *x, struct buf *b)
{
    buf_reset(b);
    if (x->old_image && strcmp(x->old_image, x->image))
        buf_printf(b, "%s %s: image %s (was %s)", x->action, x->service, x->image, x->old_image);
    else
        buf_printf(b, "%s %s: image %s", x->action, x->service, x->image);
}

/* Docker's word for a container's condition: healthy, unhealthy, starting, exited, running,
 * missing. */
static char *container_health(struct engine *e, const char *id)
{
    struct buf path = {0};
    json_t *c = NULL;
    struct tt_err e2 = {0};
    char *out;

    if (!id)
        return xstrdup("missing");
    buf_printf(&path, "/containers/%s/json", id);
    if (engine_call_ok(e, "GET", path.data, NULL, 10000, &c, &e2) < 0) {
        buf_release(&path);
        return xstrdup("missing");
    }
    json_t *st = json_object_get(c, "State");
    const char *health =
        json_string_value(json_object_get(json_object_get(st, "Health"), "Status"));
    const char *status = json_string_value(json_object_get(st, "Status"));
    if (status && strcmp(status, "running"))
        out = xstrdup(!strcmp(status, "created") ? "missing" : status);
    else
        out = xstrdup(health ? health : status ? status : "missing");
    json_decref(c);
    buf_release(&path);
    return out;
}

/*
 * Brings up one tier (infra or app): the per-service intents of the up
 * and healthy states, stack_up, then the outcomes.
 */
int apply_phase_tier(struct apply_run *a, const struct strv *tier, enum apply_state up_state,
                     enum apply_state healthy_state)
{
    const char *up_name = apply_state_name(up_state), *ok_name = apply_state_name(healthy_state);
    struct stack_options so = {0};
    struct stack_report preview = {0}, report = {0};
    long long *up_steps = xcalloc(tier->n + 1, sizeof(long long));
    long long *ok_steps = xcalloc(tier->n + 1, sizeof(long long));
    struct buf text = {0};
    struct tt_err up_err = {0};
    int rc = 0;

    if (apply_enter(a, up_state) < 0)
        goto out;
    strv_copy(&so.services, tier);
    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    so.readiness_docker = a->o->readiness_docker;
    if (tier->n == 0) {
        rc = apply_phase_skipped(a, up_name, "no services in this tier");
        if (rc == 0)
            rc = apply_enter(a, healthy_state);
        goto out;
    }
    if (stack_preview(a->engine, a->project, a->dag, &so, &preview, a->err) < 0) {
        rc = -1;
        a->failed_in = up_state;
        goto out;
    }
    char *names = strv_join(&so.services, ", ");
    apply_say(a, "%s: %s", up_name, names);
    free(names);
    for (size_t i = 0; i < tier->n; i++) {
        const struct stack_result *x = apply_result_for(&preview, tier->v[i]);
        if (!x)
            continue;
        intent_text(x, &text);
        if (store_step_begin(a->store, a->id, up_name, x->service, x->action, text.data,
                             &up_steps[i], a->err) < 0 ||
            store_step_begin(a->store, a->id, ok_name, x->service, "wait",
                             "wait until ready (healthy, running or exited 0)", &ok_steps[i],
                             a->err) < 0) {
            rc = -1;
            goto out;
        }
    }
    int up_rc = stack_up(a->engine, a->project, a->dag, &so, &report, &up_err);
    size_t ei;
    json_t *ev;
    json_array_foreach(report.events, ei, ev)
    {
        struct tt_err e2 = {0};
        store_event_record(a->store, a->id, json_real_value(json_object_get(ev, "time")),
                           json_string_value(json_object_get(ev, "action")),
                           json_string_value(json_object_get(ev, "service")), &e2);
    }
    int created_all = 1;
    for (size_t i = 0; i < tier->n; i++) {
        const struct stack_result *x = apply_result_for(&report, tier->v[i]);
        int failed = !x || !strcmp(x->state, "failed") || !strcmp(x->state, "unfinished");
        int skipped = x && (!strcmp(x->state, "skipped") || !strcmp(x->state, "pending"));
        int created = x && x->container_id;
        created_all &= created || skipped;
        if (failed && !a->fail_service) {
            a->fail_service = xstrdup(tier->v[i]);
            a->fail_health = container_health(a->engine, x ? x->container_id : NULL);
        }
        buf_reset(&text);
        if (x)
            buf_printf(&text, "%s container %.12s", x->action,
                       x->container_id ? x->container_id : "-");
        store_step_end(a->store, up_steps[i],
                       created   ? "ok"
                       : skipped ? "skipped"
                                 : "failed",
                       text.data,
                       created || skipped ? NULL : (x && x->error ? x->error : up_err.msg), a->err);
        buf_reset(&text);
        if (x && !failed && !skipped && x->how[0])
            buf_printf(&text, "%s (%s, %.2f s)", x->state, x->how, x->seconds);
        else if (x && !failed && !skipped)
            buf_printf(&text, "%s (%s)", x->state,
                       strcmp(x->action, "unchanged") ? "at start" : "already");
        store_step_end(a->store, ok_steps[i],
                       failed    ? "failed"
                       : skipped ? "skipped"
                                 : "ok",
                       text.len ? text.data : NULL,
                       failed ? (x && x->error ? x->error : up_err.msg) : NULL, a->err);
    }
    if (up_rc < 0) {
        tt_error(a->err, "%s", up_err.msg);
        a->failed_in = created_all ? healthy_state : up_state;
        if (created_all)
            apply_enter(a, healthy_state);
        rc = -1;
        goto out;
    }
    rc = apply_enter(a, healthy_state);
out:
    stack_report_clear(&preview);
    stack_report_clear(&report);
    strv_clear(&so.services);
    buf_release(&text);
    free(up_steps);
    free(ok_steps);
    return rc;
}

static void describe_check(const struct plan_check *c, struct buf *b)
{
    buf_reset(b);
    if (c->kind == PLAN_CHECK_HTTP)
        buf_printf(b, "GET %s%s%s expect %d%s, %d probe%s, error rate <= %.1f%%", c->url,
                   c->from ? " from " : "", c->from ? c->from : "", c->status,
                   c->body ? " with body" : "", c->probes, c->probes == 1 ? "" : "s",
                   c->max_error_rate * 100);
    else if (c->kind == PLAN_CHECK_EXEC)
        buf_printf(b, "run %s in %s, expect exit %d", c->command.v[0], c->service, c->expect_exit);
    else
        buf_printf(b, "SQL %s expect %s", c->sql, c->expect ? c->expect : "a row");
}

/* Reads the values that "before" expectations compare with, before anything changes. */
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

/* Measures the p95 latency of the HTTP checks some rule compares with "before". */
static int baseline_latency(struct apply_run *a, struct buf *text)
{
    for (size_t i = 0; i < a->plan->nchecks; i++) {
        const struct plan_check *c = &a->plan->checks[i];
        struct verify_context v = {a->engine, a->project, a->plan->db_url,
                                   monotime_now() + a->plan->verify_timeout_ms / 1000.0};
        struct verify_measure m;
        struct buf detail = {0};
        struct tt_err e2 = {0};
        long long step;
        if (!needs_p95_before(a->plan, c))
            continue;
        buf_reset(text);
        buf_printf(text, "measure %s's p95 latency before deploying", c->name);
        if (store_step_begin(a->store, a->id, "locked", NULL, "baseline", text->data, &step,
                             a->err) < 0)
            return -1;
        verify_measure_init(&m);
        int rc = verify_run(&v, c, NULL, &detail, &m, &e2);
        if (rc == 0) {
            a->p95_before[i] = m.p95_ms;
            buf_reset(text);
            buf_printf(text, "%s: p95 %.1f ms before", c->name, m.p95_ms);
            store_step_end(a->store, step, "ok", text->data, NULL, a->err);
        } else {
            store_step_end(a->store, step, "skipped",
                           "no baseline: the check does not pass now (first deployment?)", e2.msg,
                           a->err);
        }
        verify_measure_clear(&m);
        buf_release(&detail);
    }
    return 0;
}

int apply_baseline(struct apply_run *a)
{
    struct buf text = {0};
    if (baseline_latency(a, &text) < 0) {
        buf_release(&text);
        return -1;
    }
    for (size_t i = 0; i < a->plan->nchecks; i++) {
        const struct plan_check *c = &a->plan->checks[i];
        long long step;
        struct tt_err e2 = {0};
        if (!verify_needs_before(c))
            continue;
        buf_reset(&text);
        buf_printf(&text, "read %s before deploying", c->sql);
        if (store_step_begin(a->store, a->id, "locked", NULL, "baseline", text.data, &step,
                             a->err) < 0)
            return -1;
        double deadline =
            monotime_now(); /* one attempt: on a first deployment there is no database yet */
        if (verify_sql_value(a->plan->db_url, c->sql, deadline, &a->before[i], &e2) < 0) {
            store_step_end(a->store, step, "skipped", "no baseline: the check will only need a row",
                           e2.msg, a->err);
        } else {
            buf_reset(&text);
            buf_printf(&text, "%s: %s", c->name, a->before[i] ? a->before[i] : "no row");
            store_step_end(a->store, step, "ok", text.data, NULL, a->err);
        }
    }
    buf_release(&text);
    return 0;
}

int apply_phase_verify(struct apply_run *a)
{
    struct verify_context v = {a->engine, a->project, a->plan->db_url,
                               monotime_now() + a->plan->verify_timeout_ms / 1000.0};
    struct buf text = {0}, detail = {0};
    int failed = 0;

    if (apply_enter(a, APPLY_VERIFY) < 0)
        return -1;
    if (a->plan->nchecks == 0) {
        buf_release(&text);
        return apply_phase_skipped(a, "verify", "no checks in the plan");
    }
    for (size_t i = 0; i < a->plan->nchecks && !failed; i++) {
        const struct plan_check *c = &a->plan->checks[i];
        long long step;
        struct tt_err cerr = {0};
        describe_check(c, &text);
        if (store_step_begin(a->store, a->id, "verify", c->from ? c->from : c->service, c->name,
                             text.data, &step, a->err) < 0)
            return -1;
        buf_reset(&detail);
        verify_measure_clear(&a->fail_measure);
        int rc = verify_run(&v, c, a->before[i], &detail, &a->fail_measure, &cerr);
        store_step_end(a->store, step, rc == 0 ? "ok" : "failed", detail.data,
                       rc == 0 ? NULL : cerr.msg, a->err);
        apply_say(a, "verify %s: %s%s%s", c->name, rc == 0 ? "ok" : "FAILED",
                  detail.len ? " - " : "", detail.len ? detail.data : "");
        if (rc != 0) {
            tt_error(a->err, "%s", cerr.msg);
            a->failed_in = APPLY_VERIFY;
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

int apply_record_releases(struct apply_run *a)
{
    struct stack_options so = {0};
    struct stack_report now = {0};
    int rc;

    so.progress = PROGRESS_QUIET;
    rc = stack_preview(a->engine, a->project, a->dag, &so, &now, a->err);
    for (size_t i = 0; rc == 0 && i < now.n; i++) {
        const struct stack_result *x = &now.v[i];
        char *env = redacted_environment(compose_find_service(a->project, x->service));
        struct store_release r = {x->service,     x->image, x->image_id, NULL,
                                  x->config_hash, NULL,     env};
        rc = store_release_record(a->store, a->id, &r, a->err);
        free(env);
    }
    stack_report_clear(&now);
    return rc;
}

char *apply_plan_relative(const struct apply_run *a, const char *path)
{
    struct buf b = {0};
    if (path[0] == '/')
        buf_adds(&b, path);
    else
        buf_printf(&b, "%s/%s", a->plan->dir, path);
    return buf_detach(&b);
}

/* Deletes the project's oldest backups beyond keep.last, never this deployment's or the previous
 * one's. */
static void retain_backups(struct apply_run *a, struct buf *detail)
{
    struct tt_err e2 = {0};
    json_t *list, *b;
    size_t i, kept = 0, removed = 0;
    long long previous = 0;

    if (a->plan->backup.keep_last <= 0)
        return; /* no keep: every backup is kept */
    list = store_backups(a->store, a->project->name, &e2);

    json_array_foreach(list, i, b)
    {
        long long dep = json_integer_value(json_object_get(b, "deployment_id"));
        if (dep != a->id && !previous)
            previous = dep;
    }
    json_array_foreach(list, i, b)
    {
        long long dep = json_integer_value(json_object_get(b, "deployment_id"));
        if (kept < (size_t)a->plan->backup.keep_last || dep == a->id || dep == previous) {
            kept++;
            continue;
        }
        const char *path = json_string_value(json_object_get(b, "path"));
        if (unlink(path) == 0 || errno == ENOENT) {
            store_backup_deleted(a->store, json_integer_value(json_object_get(b, "id")), &e2);
            removed++;
        }
    }
    buf_printf(detail, "; retention kept %zu, removed %zu", kept, removed);
    json_decref(list);
}

int apply_phase_backup(struct apply_run *a)
{
    const struct plan *pl = a->plan;
    char *container, *dir;
    long long step;
    struct backup_result b = {0};
    struct buf intent = {0};
    int rc;

    if (!pl->backup.present)
        return apply_phase_skipped(a, "backup", "no backup: in the plan");
    container = stack_container_id(a->engine, a->project->name, pl->db_service);
    if (!container)
        return apply_phase_skipped(a, "backup",
                                   "the database service is not running yet: nothing to back up");
    dir = apply_plan_relative(a, pl->backup.dir);
    buf_printf(&intent, "pg_dump %s %s to %s, verify by %s",
               pl->backup.via_host ? "on the host against" : "inside",
               pl->backup.via_host ? "the database url" : pl->db_service, dir,
               pl->backup.verify ? pl->backup.verify : "list");
    if (store_step_begin(a->store, a->id, "backup", pl->db_service, "pg_dump", intent.data, &step,
                         a->err) < 0) {
        rc = -1;
        goto out;
    }
    apply_say(a, "backup: %s", intent.data);
    /* The write counter before the dump: the report's measure of what a restore would lose. */
    long long writes = -1;
    char *dbname = pgdb_url_db(pl->db_url);
    struct tt_err werr = {0};
    if (dbname && pgdb_write_count(pl->db_url, dbname, monotime_now() + 5, &writes, &werr) < 0)
        writes = -1;
    free(dbname);
    double t0 = monotime_now();
    if (pl->backup.via_host)
        rc = backup_take_host(pl->db_url, dir, a->project->name, a->id, &b, a->err);
    else
        rc = backup_take(a->engine, container, pl->db_url, dir, a->project->name, a->id, 3600000,
                         &b, a->err);
    double took = monotime_now() - t0;
    if (rc == 0)
        rc = backup_verify(&b, pl->backup.verify ? pl->backup.verify : "list", pl->db_url,
                           monotime_now() + pl->healthy_timeout_ms / 1000.0, a->err);
    if (rc == 0) {
        struct buf detail = {0};
        buf_printf(&detail, "%s: %lld bytes in %.2f s, sha256 %.16s; %s", b.path, b.bytes, took,
                   b.sha256, b.detail.data ? b.detail.data : "not verified");
        rc = store_backup_record(a->store, a->id, a->project->name, b.path, b.bytes, b.sha256,
                                 b.verified, a->err);
        if (rc == 0 && writes >= 0)
            rc = store_backup_writes(a->store, a->id, writes, a->err);
        free(a->backup_path);
        a->backup_path = xstrdup(b.path);
        if (rc == 0)
            retain_backups(a, &detail);
        store_step_end(a->store, step, rc == 0 ? "ok" : "failed", detail.data,
                       rc == 0 ? NULL : a->err->msg, a->err);
        apply_say(a, "backup: %s", detail.data);
        buf_release(&detail);
    } else {
        struct tt_err e2 = {0};
        store_step_end(a->store, step, "failed", b.path, a->err->msg, &e2);
    }
out:
    if (rc < 0)
        a->failed_in = APPLY_BACKUP;
    backup_result_clear(&b);
    buf_release(&intent);
    free(dir);
    free(container);
    return rc;
}

/*
 * Makes DB_ttrehearsal, a copy of the database for rehearsing migrations:
 * CREATE DATABASE ... TEMPLATE db, or, when other sessions are open on db,
 * a restore of this deployment's fresh backup.  *how says which.
 */
static int rehearsal_copy(struct apply_run *a, double deadline, char **copy_name, char **copy_url,
                          const char **how, struct tt_err *err)
{
    const struct plan *pl = a->plan;
    char *db = pgdb_url_db(pl->db_url);
    struct buf copy = {0}, out = {0};
    int rc;

    buf_printf(&copy, "%s_ttrehearsal", db ? db : "db");
    *copy_url = pgdb_url_with_db(pl->db_url, copy.data);
    *how = "template copy";
    rc = pgdb_copy_database(pl->db_url, copy.data, deadline, err);
    if (rc < 0 && a->backup_path && strstr(err->msg, "being accessed by other users")) {
        *how = "restore of this deployment's backup (the database has open sessions)";
        rc = pgdb_create_database(pl->db_url, copy.data, deadline, err);
        if (rc == 0) {
            char *argv[] = {"pg_restore",   "--no-owner", "--exit-on-error", "-d", *copy_url,
                            a->backup_path, NULL};
            int code = backup_run_host(argv, &out, err);
            if (code != 0)
                rc = code < 0
                         ? -1
                         : tt_error(err, "restoring the backup for the rehearsal failed: %.300s",
                                    out.data ? out.data : "");
        }
    }
    *copy_name = buf_detach(&copy);
    buf_release(&out);
    free(db);
    apply_say(a, "migrate: rehearsing on %s (%s)", *copy_name, *how);
    return rc;
}

/* Runs the pending SQL migrations on a copy of the database; the copy is always dropped. */
static int rehearse(struct apply_run *a, const struct pgdb_migrations *m, double deadline,
                    char **rehearsed)
{
    char *copy = NULL, *copy_url = NULL;
    const char *how;
    struct strv tried = {0};
    struct tt_err rerr = {0}, e2 = {0};
    int rc = rehearsal_copy(a, deadline, &copy, &copy_url, &how, &rerr);
    struct pgdb *rc_conn = rc == 0 ? pgdb_connect(copy_url, deadline, &rerr) : NULL;

    if (rc_conn) {
        rc = pgdb_migrations_apply(rc_conn, m, &tried, &rerr);
        pgdb_close(rc_conn);
    } else {
        rc = -1;
    }
    pgdb_drop_database(a->plan->db_url, copy, deadline, &e2);
    if (rc < 0) {
        tt_error(a->err, "rehearsal on %s failed, the real database was not touched: %s", copy,
                 rerr.msg);
    } else {
        struct buf r = {0};
        char *names = strv_join(&tried, ", ");
        buf_printf(&r, "%s by %s", names, how);
        *rehearsed = buf_detach(&r);
        free(names);
    }
    strv_clear(&tried);
    free(copy);
    free(copy_url);
    return rc;
}

/* Brings the database service up if it is not (a first deployment), so migrations can run. */
static int ensure_database(struct apply_run *a)
{
    char *id = stack_container_id(a->engine, a->project->name, a->plan->db_service);
    if (id) {
        free(id);
        return 0;
    }
    struct stack_options so = {0};
    strv_push(&so.services, a->plan->db_service);
    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    int rc = stack_up(a->engine, a->project, a->dag, &so, NULL, a->err);
    strv_clear(&so.services);
    return rc;
}

/* Records a migration's revisions and ends its step; rc says whether it worked. */
static void finish_migration(struct apply_run *a, long long step, const char *kind,
                             const char *before, const char *after, const char *rehearsed,
                             const char *applied, const struct buf *text, int rc)
{
    struct tt_err e2 = {0};
    store_migration_record(a->store, a->id, kind, before, rc == 0 ? after : before, rehearsed,
                           applied, &e2);
    store_step_end(a->store, step, rc == 0 ? "ok" : "failed", text->len ? text->data : NULL,
                   rc == 0 ? NULL : a->err->msg, &e2);
    if (rc == 0)
        apply_say(a, "migrate: %s", text->data);
}

/* The revision per the plan's revision_query on url: "" when there is none yet (no table). */
int apply_read_revision(struct apply_run *a, const char *url, double deadline, char **out)
{
    struct tt_err e2 = {0};
    struct pgdb *c = pgdb_connect(url, deadline, a->err);
    *out = NULL;
    if (!c)
        return -1;
    if (pgdb_value(c, a->plan->migrate.revision_query, out, &e2) < 0 || !*out) {
        free(*out);
        *out = xstrdup("");
    }
    pgdb_close(c);
    return 0;
}

/*
 * The migration service's environment pointed at the copy: every value
 * that names the database as a URL path ("/DB" at the end or before "?")
 * names the copy instead.
 */
static void env_for_copy(const struct compose_service *s, const char *db, const char *copy,
                         struct strv *out)
{
    struct buf pat = {0};
    buf_printf(&pat, "/%s", db);
    for (size_t i = 0; i < s->environment.n; i++) {
        const char *v = s->environment.v[i].value;
        const char *hit = v ? strstr(v, pat.data) : NULL;
        if (!hit || (hit[pat.len] != '\0' && hit[pat.len] != '?'))
            continue;
        struct buf e = {0};
        buf_printf(&e, "%s=%.*s/%s%s", s->environment.v[i].key, (int)(hit - v), v, copy,
                   hit + pat.len);
        strv_push_owned(out, buf_detach(&e));
    }
    buf_release(&pat);
}

/* Runs the plan's up or down command in a one-off container of the migration service. */
int apply_migration_command(struct apply_run *a, const struct strv *tmpl, const char *before,
                            const char *image, const struct strv *env, struct tt_err *err)
{
    const struct compose_service *s = compose_find_service(a->project, a->plan->migrate.service);
    struct strv argv = {0};
    struct buf logs = {0};
    int code = -1, rc;

    for (size_t i = 0; i < tmpl->n; i++) {
        const char *arg = tmpl->v[i];
        strv_push(&argv, !strcmp(arg, "{revision_before}") ? (before[0] ? before : "base") : arg);
    }
    rc = stack_run_oneoff(a->engine, a->project, s, image ? image : s->image, &argv, env, 3600000,
                          &code, &logs, err);
    if (rc == 0 && code != 0) {
        char *cmd = strv_join(&argv, " ");
        rc = tt_error(err, "`%s` exited %d%s", cmd, code, logs.data ? logs.data : "");
        free(cmd);
    }
    strv_clear(&argv);
    buf_release(&logs);
    return rc;
}

/* Rehearses the command migration on a copy: up, and when the plan has one, down back to before. */
static int rehearse_command(struct apply_run *a, const char *before, double deadline,
                            char **rehearsed)
{
    const struct plan *pl = a->plan;
    const struct compose_service *s = compose_find_service(a->project, pl->migrate.service);
    char *copy = NULL, *copy_url = NULL, *db = pgdb_url_db(pl->db_url), *up_rev = NULL,
         *down_rev = NULL;
    const char *how;
    struct strv env = {0};
    struct tt_err rerr = {0}, e2 = {0};
    int rc = rehearsal_copy(a, deadline, &copy, &copy_url, &how, &rerr);

    env_for_copy(s, db ? db : "", copy, &env);
    if (rc == 0 && env.n == 0)
        rc = tt_error(&rerr,
                      "no variable of service %s names the database %s in a URL, so the "
                      "rehearsal cannot point it at the copy: set rehearse: false",
                      s->name, db ? db : "?");
    if (rc == 0)
        rc = apply_migration_command(a, &pl->migrate.up, before, NULL, &env, &rerr);
    if (rc == 0)
        rc = apply_read_revision(a, copy_url, deadline, &up_rev);
    if (rc == 0 && pl->migrate.down.n) {
        rc = apply_migration_command(a, &pl->migrate.down, before, NULL, &env, &rerr);
        if (rc == 0)
            rc = apply_read_revision(a, copy_url, deadline, &down_rev);
        if (rc == 0 && strcmp(down_rev, before))
            rc = tt_error(&rerr,
                          "the down command left revision \"%s\", not \"%s\": the way back "
                          "does not work",
                          down_rev, before);
    }
    pgdb_drop_database(pl->db_url, copy, deadline, &e2);
    if (rc < 0) {
        tt_error(a->err, "rehearsal on %s failed, the real database was not touched: %s", copy,
                 rerr.msg);
    } else {
        struct buf r = {0};
        buf_printf(&r, "up %s -> %s", before[0] ? before : "base", up_rev);
        if (down_rev)
            buf_printf(&r, ", down -> %s", down_rev[0] ? down_rev : "base");
        buf_printf(&r, " by %s", how);
        *rehearsed = buf_detach(&r);
    }
    strv_clear(&env);
    free(copy);
    free(copy_url);
    free(db);
    free(up_rev);
    free(down_rev);
    return rc;
}

static int migrate_command(struct apply_run *a)
{
    const struct plan *pl = a->plan;
    char *before = NULL, *after = NULL, *rehearsed = NULL, *cmd = strv_join(&pl->migrate.up, " ");
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    struct buf text = {0};
    long long step;
    int rc;

    buf_printf(&text, "`%s` in a one-off %s container%s", cmd, pl->migrate.service,
               pl->migrate.rehearse ? ", rehearsed on a copy first" : "");
    if ((rc = store_step_begin(a->store, a->id, "migrate", pl->migrate.service, "command",
                               text.data, &step, a->err)) < 0)
        goto out;
    if ((rc = ensure_database(a)) == 0)
        rc = apply_read_revision(a, pl->db_url, deadline, &before);
    if (rc == 0 && pl->migrate.rehearse)
        rc = rehearse_command(a, before, deadline, &rehearsed);
    if (rc == 0) {
        struct tt_err e2 = {0};
        for (size_t i = 0; rc == 0 && i < pl->migrate.stop_during.n; i++)
            rc = stack_toggle_service(a->engine, a->project->name, pl->migrate.stop_during.v[i], 0,
                                      a->err);
        if (rc == 0) {
            apply_say(a, "migrate: running `%s` (stopped: %zu service(s))", cmd,
                      pl->migrate.stop_during.n);
            rc = apply_migration_command(a, &pl->migrate.up, before, NULL, NULL, a->err);
        }
        for (size_t i = 0; i < pl->migrate.stop_during.n;
             i++) /* started again, whatever happened */
            stack_toggle_service(a->engine, a->project->name, pl->migrate.stop_during.v[i], 1, &e2);
    }
    if (rc == 0)
        rc = apply_read_revision(a, pl->db_url, deadline, &after);
    buf_reset(&text);
    if (rc == 0)
        buf_printf(&text, "revision %s -> %s", before[0] ? before : "base",
                   after[0] ? after : "base");
    finish_migration(a, step, "command", before, after, rehearsed, rc == 0 ? cmd : NULL, &text, rc);
out:
    if (rc < 0)
        a->failed_in = APPLY_MIGRATE;
    free(before);
    free(after);
    free(rehearsed);
    free(cmd);
    buf_release(&text);
    return rc;
}

static int phase_migrate(struct apply_run *a)
{
    const struct plan *pl = a->plan;
    struct pgdb_migrations m = {0};
    struct strv pending = {0}, applied = {0};
    char *dir = NULL, *before = NULL, *after = NULL, *joined = NULL, *rehearsed = NULL;
    long long step;
    struct buf text = {0};
    struct pgdb *c = NULL;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    int rc;

    if (!pl->migrate.present)
        return apply_phase_skipped(a, "migrate", "no migrate: in the plan");
    if (!strcmp(pl->migrate.kind, "command"))
        return migrate_command(a);
    dir = apply_plan_relative(a, pl->migrate.dir);
    if ((rc = pgdb_migrations_load(dir, &m, a->err)) < 0)
        goto out;
    buf_printf(&text, "SQL migrations from %s (%zu files)%s", dir, m.n,
               pl->migrate.rehearse ? ", rehearsed on a copy first" : "");
    if ((rc = store_step_begin(a->store, a->id, "migrate", pl->db_service, "sql", text.data, &step,
                               a->err)) < 0)
        goto out;
    if ((rc = ensure_database(a)) == 0 && !(c = pgdb_connect(pl->db_url, deadline, a->err)))
        rc = -1;
    if (rc == 0)
        rc = pgdb_migrations_current(c, &before, a->err);
    if (rc == 0)
        rc = pgdb_migrations_pending(c, &m, &pending, a->err);
    if (rc == 0 && pending.n && pl->migrate.rehearse) {
        pgdb_close(c); /* a template copy needs the source database to have no sessions */
        c = NULL;
        rc = rehearse(a, &m, deadline, &rehearsed);
        if (rc == 0 && !(c = pgdb_connect(pl->db_url, deadline, a->err)))
            rc = -1;
    }
    if (rc == 0)
        rc = pgdb_migrations_apply(c, &m, &applied, a->err);
    if (rc == 0)
        rc = pgdb_migrations_current(c, &after, a->err);
    joined = strv_join(&applied, ", ");
    buf_reset(&text);
    if (rc == 0)
        buf_printf(&text, "revision %s -> %s; applied: %s", before, after,
                   applied.n ? joined : "nothing (up to date)");
    finish_migration(a, step, "sql", before, after, rehearsed, joined, &text, rc);
out:
    if (rc < 0)
        a->failed_in = APPLY_MIGRATE;
    if (c)
        pgdb_close(c);
    pgdb_migrations_clear(&m);
    strv_clear(&pending);
    strv_clear(&applied);
    free(dir);
    free(before);
    free(after);
    free(joined);
    free(rehearsed);
    buf_release(&text);
    return rc;
}

enum apply_outcome apply_run_phases(struct apply_run *a, enum apply_state from)
{
    if (from <= APPLY_BACKUP && (apply_enter(a, APPLY_BACKUP) < 0 || apply_phase_backup(a) < 0))
        return apply_fail(a);
    if (from <= APPLY_MIGRATE && (apply_enter(a, APPLY_MIGRATE) < 0 || phase_migrate(a) < 0))
        return apply_fail(a);
    if (from <= APPLY_INFRA_HEALTHY &&
        apply_phase_tier(a, &a->plan->infra, APPLY_INFRA_UP, APPLY_INFRA_HEALTHY) < 0)
        return apply_fail(a);
    if (from <= APPLY_APP_HEALTHY &&
        apply_phase_tier(a, &a->plan->app, APPLY_APP_UP, APPLY_APP_HEALTHY) < 0)
        return apply_fail(a);
    if (apply_phase_verify(a) < 0)
        return apply_fail(a);
    if (apply_record_releases(a) < 0 || apply_enter(a, APPLY_SUCCEEDED) < 0)
        return apply_fail(a);
    if (store_deployment_finish(a->store, a->id, "succeeded", NULL, a->err) < 0)
        return APPLY_DEPLOY_FAILED;
    return APPLY_OK;
}

/* ---- dry run ------------------------------------------------------------ */

void apply_print_preview(struct apply_run *a, const char *title, const struct strv *tier)
{
    FILE *out = a->o->out ? a->o->out : stdout;
    struct stack_options so = {0};
    struct stack_report r = {0};
    struct tt_err e2 = {0};

    fprintf(out, "%s:\n", title);
    if (!tier->n) {
        fprintf(out, "  (no services)\n");
        return;
    }
    strv_copy(&so.services, tier);
    so.progress = PROGRESS_QUIET;
    if (stack_preview(a->engine, a->project, a->dag, &so, &r, &e2) < 0) {
        fprintf(out, "  cannot preview: %s\n", e2.msg);
    } else {
        for (size_t i = 0; i < tier->n; i++) {
            const struct stack_result *x = apply_result_for(&r, tier->v[i]);
            if (!x)
                continue;
            fprintf(out, "  %-12s %-16s %s", x->service, x->action, x->image);
            if (x->old_image && strcmp(x->old_image, x->image))
                fprintf(out, "  (was %s)", x->old_image);
            fputc('\n', out);
        }
    }
    stack_report_clear(&r);
    strv_clear(&so.services);
}

static enum apply_outcome dry_run(struct apply_run *a)
{
    FILE *out = a->o->out ? a->o->out : stdout;
    struct buf text = {0};

    fprintf(out, "dry run of %s: project %s, release %s\n", a->plan->path, a->project->name,
            a->plan->release_version);
    fprintf(out,
            "phases: backup (%s), migrate (%s), infra_up, infra_healthy, app_up, app_healthy, "
            "verify (%zu check%s)\n",
            a->plan->backup.present ? "pg_dump" : "skipped: not in the plan",
            a->plan->migrate.present ? a->plan->migrate.kind : "skipped: not in the plan",
            a->plan->nchecks, a->plan->nchecks == 1 ? "" : "s");
    if (a->plan->migrate.present && !strcmp(a->plan->migrate.kind, "command")) {
        char *cmd = strv_join(&a->plan->migrate.up, " "), *cur = NULL;
        struct tt_err e2 = {0};
        struct pgdb *c = pgdb_connect(a->plan->db_url, monotime_now(), &e2);
        fprintf(out, "migrate:\n  would run `%s` in a one-off %s container (image %s)%s\n", cmd,
                a->plan->migrate.service,
                compose_find_service(a->project, a->plan->migrate.service)->image,
                a->plan->migrate.rehearse ? ", rehearsed first" : "");
        if (c && pgdb_value(c, a->plan->migrate.revision_query, &cur, &e2) == 0)
            fprintf(out, "  current revision %s\n", cur && cur[0] ? cur : "base");
        else
            fprintf(out, "  current revision unknown (%s)\n", c ? "no revision table yet" : e2.msg);
        if (c)
            pgdb_close(c);
        free(cur);
        free(cmd);
    } else if (a->plan->migrate.present) {
        struct pgdb_migrations m = {0};
        struct strv pending = {0};
        struct tt_err e2 = {0};
        char *dir = apply_plan_relative(a, a->plan->migrate.dir), *cur = NULL;
        struct pgdb *c = NULL;
        fprintf(out, "migrate:\n");
        if (pgdb_migrations_load(dir, &m, &e2) < 0) {
            fprintf(out, "  cannot read the migrations: %s\n", e2.msg);
        } else if (!(c = pgdb_connect(a->plan->db_url, monotime_now(), &e2))) {
            fprintf(out,
                    "  database not reachable (%s): all %zu migration(s) would run, target %lld\n",
                    e2.msg, m.n, m.n ? m.v[m.n - 1].version : 0LL);
        } else if (pgdb_migrations_current(c, &cur, &e2) < 0 ||
                   pgdb_migrations_pending(c, &m, &pending, &e2) < 0) {
            fprintf(out, "  %s\n", e2.msg);
        } else {
            fprintf(out, "  current revision %s, target %lld\n", cur,
                    m.n ? m.v[m.n - 1].version : 0LL);
            for (size_t i = 0; i < pending.n; i++)
                fprintf(out, "  would apply %s\n", pending.v[i]);
            if (!pending.n)
                fprintf(out, "  nothing to apply\n");
        }
        if (c)
            pgdb_close(c);
        free(cur);
        free(dir);
        strv_clear(&pending);
        pgdb_migrations_clear(&m);
    }
    apply_print_preview(a, "infra_up", &a->plan->infra);
    apply_print_preview(a, "app_up", &a->plan->app);
    fprintf(out, "verify:\n");
    for (size_t i = 0; i < a->plan->nchecks; i++) {
        describe_check(&a->plan->checks[i], &text);
        fprintf(out, "  %-12s %s\n", a->plan->checks[i].name, text.data);
    }
    fprintf(out, "nothing was changed (dry run)\n");
    buf_release(&text);
    return APPLY_OK;
}

/* ---- entry points ------------------------------------------------------- */

void apply_run_free(struct apply_run *a)
{
    struct tt_err e2 = {0};
    if (a->locked)
        store_lock_release(a->store, a->project->name, &e2);
    for (size_t i = 0; a->plan && a->before && i < a->plan->nchecks; i++)
        free(a->before[i]);
    free(a->before);
    free(a->p95_before);
    free(a->backup_path);
    free(a->migrate_image);
    free(a->fail_check);
    free(a->fail_service);
    free(a->fail_health);
    verify_measure_clear(&a->fail_measure);
    store_close(a->store);
    engine_close(a->engine);
    dag_free(a->dag);
    compose_project_free(a->project);
    plan_free(a->plan);
}

/* Opens the store and takes the project's lock; reports who holds it otherwise. */
enum apply_outcome apply_open_and_lock(struct apply_run *a)
{
    char *path =
        a->o->state_path ? xstrdup(a->o->state_path) : apply_default_state_path(a->o->plan_path);
    struct store_lock_owner h = {0};
    int rc = store_open(path, &a->store, a->err);
    free(path);
    if (rc < 0)
        return APPLY_BAD_INPUT;
    rc = store_lock_acquire(a->store, a->project->name, 0, &h, a->err);
    if (rc == 1) {
        char since[32];
        time_t t = (time_t)h.started_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
        apply_say(a, "waiting up to %.0f s for the lock on %s, held by %s pid %ld since %s",
                  a->o->lock_timeout_s, a->project->name, h.host, h.pid, since);
        rc = store_lock_acquire(a->store, a->project->name, a->o->lock_timeout_s, &h, a->err);
        if (rc == 1) {
            t = (time_t)h.started_at;
            gmtime_r(&t, &tm);
            strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
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

enum apply_outcome apply_refuse_unfinished(struct apply_run *a)
{
    json_t *u = store_unfinished(a->store, a->project->name, a->err);
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

int apply_begin(struct apply_run *a, const char *version, const char *git_tag, const char *commit,
                const char *kind, long long rolled_back_from)
{
    char compose_sha[65];
    apply_compose_digest(a->project, compose_sha);
    char *ci = apply_ci_variables();
    struct store_deployment d = {
        a->project->name, version,     git_tag,       commit, a->plan->path,
        a->plan->sha256,  compose_sha, apply_actor(), ci,     a->plan->on_crash,
        rolled_back_from, kind};
    int rc = store_deployment_begin(a->store, &d, &a->id, a->err);
    free(ci);
    if (rc == 0)
        rc = store_lock_set_deployment(a->store, a->project->name, a->id, a->err);
    if (rc < 0)
        return -1;
    apply_say(a, "deployment %lld: %s%s %s", a->id, strcmp(kind, "apply") ? "rollback of " : "",
              a->project->name, version);
    return apply_enter(a, APPLY_LOCKED);
}

enum apply_outcome apply_run(const struct apply_options *o, struct tt_err *err)
{
    struct apply_run a = {0};
    enum apply_outcome res;
    char commit[41] = "";

    a.o = o;
    a.err = err;
    res = apply_load_inputs(&a);
    if (res == APPLY_OK && engine_open(o->host, &a.engine, err) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK && o->dry_run) {
        res = dry_run(&a);
        apply_run_free(&a);
        return res;
    }
    if (res == APPLY_OK && a.plan->git_repo) {
        char *repo = a.plan->git_repo[0] == '/' ? xstrdup(a.plan->git_repo) : NULL;
        if (!repo) {
            struct buf b = {0};
            buf_printf(&b, "%s/%s", a.plan->dir, a.plan->git_repo);
            repo = buf_detach(&b);
        }
        if (gitref_resolve(repo, a.plan->git_tag ? a.plan->git_tag : a.plan->git_commit, commit,
                           err) < 0)
            res = APPLY_BAD_INPUT;
        free(repo);
    }
    if (res == APPLY_OK)
        res = apply_open_and_lock(&a);
    if (res == APPLY_OK)
        res = apply_refuse_unfinished(&a);
    if (res != APPLY_OK) {
        apply_run_free(&a);
        return res;
    }
    if (apply_begin(&a, a.plan->release_version, a.plan->git_tag,
                    commit[0] ? commit : a.plan->git_commit, "apply", 0) < 0 ||
        apply_baseline(&a) < 0)
        res = apply_fail(&a);
    else
        res = apply_run_phases(&a, APPLY_BACKUP);
    apply_say(&a, "deployment %lld %s", a.id, apply_state_name(a.state));
    apply_run_free(&a);
    return res;
}

/* The phase of the newest step that did not end ok: where a deployment stopped before deciding. */
static enum apply_state last_failed_phase(struct apply_run *a)
{
    struct tt_err e2 = {0};
    json_t *d = store_show(a->store, a->id, &e2);
    enum apply_state st = APPLY_LOCKED;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(d, "steps"), i, step)
    {
        const char *status = json_string_value(json_object_get(step, "status"));
        int ph = apply_state_from_name(json_string_value(json_object_get(step, "phase")));
        if (ph >= APPLY_LOCKED && ph <= APPLY_VERIFY && strcmp(status, "ok") &&
            strcmp(status, "skipped"))
            st = (enum apply_state)ph;
    }
    json_decref(d);
    return st;
}

enum apply_outcome apply_recover(const struct apply_options *o, struct tt_err *err)
{
    struct apply_run a = {0};
    enum apply_outcome res;
    json_t *u = NULL;

    a.o = o;
    a.err = err;
    res = apply_load_inputs(&a);
    if (res == APPLY_OK)
        res = apply_open_and_lock(&a);
    if (res == APPLY_OK && !(u = store_unfinished(a.store, a.project->name, err))) {
        apply_say(&a, "nothing to recover: no deployment of %s is unfinished", a.project->name);
        apply_run_free(&a);
        return APPLY_OK;
    }
    if (res != APPLY_OK) {
        apply_run_free(&a);
        return res;
    }
    a.id = json_integer_value(json_object_get(u, "id"));
    int st = apply_state_from_name(json_string_value(json_object_get(u, "state")));
    const char *on_crash = json_string_value(json_object_get(u, "on_crash"));
    a.state = st < 0 ? APPLY_CREATED : (enum apply_state)st;
    store_lock_set_deployment(a.store, a.project->name, a.id, err);
    store_steps_interrupt(a.store, a.id, err);
    long long step;
    struct buf text = {0};
    buf_printf(&text, "deployment %lld was interrupted in state %s; on_crash: %s", a.id,
               apply_state_name(a.state), on_crash ? on_crash : "rollback");
    store_step_begin(a.store, a.id, "recover", NULL, on_crash ? on_crash : "rollback", text.data,
                     &step, err);
    store_step_end(a.store, step, "ok", text.data, NULL, err);
    apply_say(&a, "%s", text.data);
    buf_release(&text);
    const char *kind = json_string_value(json_object_get(u, "kind"));
    a.manual = kind && !strcmp(kind, "rollback");
    int resume = on_crash && !strcmp(on_crash, "resume") && !a.manual && a.state >= APPLY_LOCKED &&
                 a.state <= APPLY_VERIFY;
    if (engine_open(o->host, &a.engine, err) < 0) {
        /* Nothing can be resumed or rolled back without the daemon: leave it for later. */
        char cause[sizeof(err->msg)];
        snprintf(cause, sizeof(cause), "%s", err->msg); /* err->msg is written below */
        tt_error(err,
                 "%s: deployment %lld stays interrupted; run recover again when the daemon is "
                 "back",
                 cause, a.id);
        json_decref(u);
        apply_run_free(&a);
        return APPLY_UNREACHABLE;
    }
    if (a.state == APPLY_ROLLING_BACK) {
        res = rollback_resume(&a);
    } else if (resume) {
        /* Re-enter the interrupted phase from the one before it: up is idempotent. */
        enum apply_state from = a.state;
        if (from == APPLY_INFRA_HEALTHY || from == APPLY_APP_HEALTHY)
            from = (enum apply_state)(from - 1);
        a.state = (enum apply_state)(from - 1);
        res = apply_run_phases(&a, from);
    } else {
        /* on_crash: rollback: the matrix decides, as if the interrupted phase had failed. */
        tt_error(err, "deployment %lld was interrupted in state %s", a.id,
                 apply_state_name(a.state));
        if (a.state == APPLY_DECIDING)
            a.state = last_failed_phase(&a);
        if (a.state < APPLY_LOCKED)
            a.state = APPLY_LOCKED;
        a.fail_health = xstrdup("interrupted");
        res = apply_fail(&a);
    }
    apply_say(&a, "deployment %lld %s", a.id, apply_state_name(a.state));
    json_decref(u);
    apply_run_free(&a);
    return res;
}
