/*
 * phase_tiers.c - the infra and app phases: each tier's services brought
 * up with stack_up(), one intent per service and state before, one
 * outcome each after; the releases recorded once the deployment has
 * succeeded; and bringing changed services up again for a rollback.
 *
 * Phases that act on containers first ask stack_preview() what they will
 * do and write that as each service's intent, then run stack_up() and
 * write each outcome; a crash in between leaves intents without
 * outcomes, which `ttdeploy recover` reads.
 */
#include "run.h"
#include "redact.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/*
 * A public value as it may be shown: a URL with a password gets it
 * replaced by parsing (redact.h); anything else as written.  Caller frees.
 */
static char *public_value(const char *value)
{
    char *pw = redact_password_of(value);
    char *shown = pw ? redact_url(value) : xstrdup(value);
    free(pw);
    return shown;
}

/*
 * The service's environment as the audit store records it (JSON, caller
 * frees): a value whose name the plan lists in audit.public_env as
 * written (but the password of a URL in it redacted); every other value
 * as its keyed digest (store_hmac: equal values compare equal, the value
 * cannot be read back).  NULL with a->err set when the digest cannot be
 * made (the store's key file refused).
 */
static char *recorded_environment(struct run *a, const struct compose_service *s)
{
    json_t *o = json_object();
    char *out;
    for (size_t i = 0; i < s->environment.n; i++) {
        const struct compose_kv *kv = &s->environment.v[i];
        char digest[STORE_HMAC_TEXT_LEN + 1];
        if (!kv->value) {
            json_object_set_new(o, kv->key, json_null());
        } else if (plan_env_is_public(a->plan, kv->key)) {
            char *shown = public_value(kv->value);
            char *text = utf8_sanitized(shown); /* an env_file holds any bytes */
            json_object_set_new(o, kv->key, json_string(text));
            free(text);
            free(shown);
        } else if (store_hmac(a->store, kv->value, digest, a->err) == 0) {
            json_object_set_new(o, kv->key, json_string(digest));
        } else {
            json_decref(o);
            return NULL;
        }
    }
    out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return out;
}

const struct stack_result *tier_result_for(const struct stack_report *r, const char *service)
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
    if (x->slot[0])
        buf_printf(b, " in its %s slot", x->slot);
}

/* A tier being brought up, for stack_up's on_waiting. */
struct tier_run {
    struct run *a;
    enum deploy_state up_state, healthy_state;
};

/* Only waiting is left: the tier is now in its healthy state (a crash here is recorded so). */
static void tier_waiting(void *ctx)
{
    struct tier_run *t = ctx;
    if (t->a->state == t->up_state)
        run_enter(t->a, t->healthy_state);
}

/* Enters the healthy state unless the wait already did. */
static int enter_healthy(struct run *a, enum deploy_state healthy_state)
{
    return a->state == healthy_state ? 0 : run_enter(a, healthy_state);
}

/*
 * Brings up one tier (infra or app), entered in up_state: the
 * per-service intents of the up and healthy states, stack_up, then the
 * outcomes, and the move to healthy_state.
 */
static int phase_tier(struct run *a, const struct strv *tier, enum deploy_state up_state,
                      enum deploy_state healthy_state)
{
    const char *up_name = deploy_state_name(up_state);
    struct stack_options so = {0};
    struct stack_report preview = {0}, report = {0};
    long long *up_steps = xcalloc(tier->n + 1, sizeof(long long));
    long long *ok_steps = xcalloc(tier->n + 1, sizeof(long long));
    struct buf text = {0};
    struct tt_err up_err = {0};
    struct tier_run tr = {a, up_state, healthy_state};
    int rc = 0;

    strv_copy(&so.services, tier);
    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    so.readiness_docker = a->o->readiness_docker;
    so.on_waiting = tier_waiting;
    so.ctx = &tr;
    bluegreen_options(a, &so);
    if (tier->n == 0) {
        rc = step_skipped(a, up_state, "no services in this tier");
        if (rc == 0)
            rc = run_enter(a, healthy_state);
        goto out;
    }
    if (run_stack_preview(a, a->project, a->dag, &so, &preview, a->err) < 0) {
        rc = -1;
        goto out;
    }
    char *names = strv_join(&so.services, ", ");
    run_say(a, "%s: %s", up_name, names);
    free(names);
    for (size_t i = 0; i < tier->n; i++) {
        const struct stack_result *x = tier_result_for(&preview, tier->v[i]);
        if (!x)
            continue;
        intent_text(x, &text);
        if (step_begin(a, up_state, x->service, x->action, text.data, &up_steps[i]) < 0 ||
            step_begin(a, healthy_state, x->service, "wait",
                       "wait until ready (healthy, running or exited 0)", &ok_steps[i]) < 0) {
            rc = -1;
            goto out;
        }
    }
    int up_rc = bluegreen_before_up(a, tier) < 0
                    ? tt_error(&up_err, "%s", a->err->msg)
                    : run_stack_up(a, a->project, a->dag, &so, &report, &up_err);
    size_t ei;
    json_t *ev;
    json_array_foreach(report.events, ei, ev)
    {
        struct tt_err e = {0};
        if (store_event_record(a->store, a->id, json_real_value(json_object_get(ev, "time")),
                               json_string_value(json_object_get(ev, "action")),
                               json_string_value(json_object_get(ev, "service")), &e) < 0)
            run_store_failed(a, &e);
    }
    int created_all = 1;
    for (size_t i = 0; i < tier->n; i++) {
        const struct stack_result *x = tier_result_for(&report, tier->v[i]);
        int failed = !x || !strcmp(x->state, "failed") || !strcmp(x->state, "unfinished");
        int skipped = x && (!strcmp(x->state, "skipped") || !strcmp(x->state, "pending"));
        int created = x && x->container_id;
        created_all &= created || skipped;
        if (failed && !a->fail_service) {
            a->fail_service = xstrdup(tier->v[i]);
            a->fail_health = stack_container_health(a->engine, x ? x->container_id : NULL);
        }
        buf_reset(&text);
        if (x)
            buf_printf(&text, "%s container %.12s", x->action,
                       x->container_id ? x->container_id : "-");
        step_end(a, up_steps[i],
                 created   ? STEP_OK
                 : skipped ? STEP_SKIPPED
                           : STEP_FAILED,
                 text.data, created || skipped ? NULL : (x && x->error ? x->error : up_err.msg));
        buf_reset(&text);
        if (x && !failed && !skipped && x->how[0])
            buf_printf(&text, "%s (%s, %.2f s)", x->state, x->how, x->seconds);
        else if (x && !failed && !skipped)
            buf_printf(&text, "%s (%s)", x->state,
                       strcmp(x->action, "unchanged") ? "at start" : "already");
        step_end(a, ok_steps[i],
                 failed    ? STEP_FAILED
                 : skipped ? STEP_SKIPPED
                           : STEP_OK,
                 text.len ? text.data : NULL,
                 failed ? (x && x->error ? x->error : up_err.msg) : NULL);
    }
    if (a->store_err.msg[0]) { /* the outcomes could not all be recorded: stop here */
        tt_error(a->err, "the store could not record what %s did: %s", up_name, a->store_err.msg);
        rc = -1;
        goto out;
    }
    if (up_rc < 0) {
        tt_error(a->err, "%s", up_err.msg);
        if (created_all)
            enter_healthy(a, healthy_state);
        rc = -1;
        goto out;
    }
    rc = enter_healthy(a, healthy_state);
    if (rc == 0)
        rc = bluegreen_after_up(a, &report, 1);
out:
    stack_report_clear(&preview);
    stack_report_clear(&report);
    strv_clear(&so.services);
    buf_release(&text);
    free(up_steps);
    free(ok_steps);
    return rc;
}

int phase_infra(struct run *a)
{
    return phase_tier(a, &a->plan->infra, DEPLOY_INFRA_UP, DEPLOY_INFRA_HEALTHY);
}

int phase_app(struct run *a)
{
    return phase_tier(a, &a->plan->app, DEPLOY_APP_UP, DEPLOY_APP_HEALTHY);
}

int phase_record_releases(struct run *a)
{
    struct stack_options so = {0};
    struct stack_report now = {0};
    int rc;

    so.progress = PROGRESS_QUIET;
    bluegreen_options(a, &so);
    rc = run_stack_preview(a, a->project, a->dag, &so, &now, a->err);
    for (size_t i = 0; rc == 0 && i < now.n; i++) {
        const struct stack_result *x = &now.v[i];
        char *env = recorded_environment(a, compose_find_service(a->project, x->service));
        struct store_release r = {x->service, x->image, x->image_id, NULL,      x->config_hash,
                                  NULL,       env,      x->spec,     x->version};
        if (!env || store_release_record(a->store, a->id, &r, a->err) < 0)
            rc = run_store_failed(a, a->err);
        free(env);
    }
    stack_report_clear(&now);
    return rc;
}

/*
 * Brings up the services of project whose container would change (per
 * stack_preview), one step each.  Returns 1 when none would change.
 */
int tier_bring_up(struct run *a, struct compose_project *p, struct dag *d, const char *why,
                  struct buf *detail)
{
    struct stack_options so = {0};
    struct stack_report preview = {0}, report = {0};
    struct buf text = {0};
    long long *steps;
    int rc;

    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    so.readiness_docker = a->o->readiness_docker;
    bluegreen_options(a, &so);
    if (run_stack_preview(a, p, d, &so, &preview, a->err) < 0)
        return -1;
    for (size_t i = 0; i < preview.n; i++)
        if (strcmp(preview.v[i].action, "unchanged") || bluegreen_switch_pending(a, &preview.v[i]))
            strv_push(&so.services, preview.v[i].service);
    if (!so.services.n) {
        buf_adds(detail, "every service already runs it");
        stack_report_clear(&preview);
        return 1;
    }
    steps = xcalloc(so.services.n + 1, sizeof(long long));
    rc = 0;
    for (size_t i = 0; rc == 0 && i < so.services.n; i++) {
        const struct stack_result *x = tier_result_for(&preview, so.services.v[i]);
        intent_text(x, &text);
        buf_printf(&text, "; %s", why);
        rc = step_begin(a, DEPLOY_ROLLING_BACK, x->service, x->action, text.data, &steps[i]);
    }
    if (rc == 0)
        rc = run_stack_up(a, p, d, &so, &report, a->err);
    if (rc == 0) /* back to a release that ran before: no checks, as for the other services */
        rc = bluegreen_after_up(a, &report, 0);
    for (size_t i = 0; !a->store_err.msg[0] && i < so.services.n; i++) {
        const struct stack_result *x = tier_result_for(&report, so.services.v[i]);
        int ok = x && strcmp(x->state, "failed") && strcmp(x->state, "unfinished");
        buf_reset(&text);
        if (x)
            buf_printf(&text, "%s, container %.12s", x->state,
                       x->container_id ? x->container_id : "-");
        if (step_end(a, steps[i], ok ? STEP_OK : STEP_FAILED, text.data,
                     ok ? NULL : (x && x->error ? x->error : a->err->msg)) < 0)
            rc = -1;
    }
    char *names = strv_join(&so.services, ", ");
    buf_printf(detail, "%s %s", names, rc == 0 ? "ready" : "not ready");
    free(names);
    free(steps);
    buf_release(&text);
    strv_clear(&so.services);
    stack_report_clear(&preview);
    stack_report_clear(&report);
    return rc;
}
