/*
 * phase_preflight.c - the preflight phase, apply's first: the checks of
 * preflight_checks.c run before anything changes, one recorded step each
 * (action: the check's name; status ok, failed or skipped; detail: what
 * it found).  Every check runs even after one failed, so one run names
 * every problem; any failure fails the phase, and since nothing changed
 * the built-in matrix aborts (rollback.c: only a rule naming phase
 * preflight may decide otherwise).
 *
 * `ttdeploy check` (deploy_check) and `apply --dry-run` (dry_run.c) run
 * the same checks outside a deployment, through preflight_outside(): no
 * lock is taken, no deployment recorded.  check records its result in the
 * store's preflights table, and writes nothing else; a dry run records
 * nothing, and does not make a store that is not there.
 */
#include "run.h"
#include "state_remote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a failed check's step records as its error: what is wrong, then what to do. */
static void failure_text(const struct tt_err *e, const struct buf *fix, struct buf *out)
{
    buf_adds(out, e->msg[0] ? e->msg : "failed");
    if (fix->len)
        buf_printf(out, ": %s", fix->data);
}

int phase_preflight(struct run *a)
{
    struct preflight p = {.db_bytes = -1};
    struct buf first = {0};
    size_t nfailed = 0;
    int rc = 0;

    for (size_t i = 0; i < preflight_ncheck && rc == 0; i++) {
        const struct preflight_check *c = &preflight_checks[i];
        struct buf detail = {0}, fix = {0}, error = {0};
        struct tt_err e = {0};
        long long step;
        if (step_begin(a, DEPLOY_PREFLIGHT, NULL, c->name, c->intent, &step) < 0) {
            rc = -1;
            break;
        }
        enum action_result r = c->run(a, &p, &detail, &fix, &e);
        if (r == ACTION_FAILED)
            failure_text(&e, &fix, &error);
        if (step_end(a, step, step_status_of(r), detail.len ? detail.data : NULL,
                     error.len ? error.data : NULL) < 0)
            rc = -1;
        else if (r == ACTION_FAILED && nfailed++ == 0)
            buf_printf(&first, "preflight check %s failed: %s", c->name, error.data);
        run_say(a, "preflight: %s %s: %s", c->name,
                r == ACTION_DONE      ? "ok"
                : r == ACTION_SKIPPED ? "skipped"
                                      : "FAILED",
                error.len    ? error.data
                : detail.len ? detail.data
                             : "");
        buf_release(&detail);
        buf_release(&fix);
        buf_release(&error);
    }
    if (rc == 0 && nfailed) {
        rc = tt_error(a->err, "%s%s; nothing was changed", first.data,
                      nfailed > 1 ? " (and more: `ttdeploy show` lists every check)" : "");
    }
    buf_release(&first);
    return rc;
}

/* The JSON of one check's result, as `check --json` prints it. */
static json_t *check_json(const char *name, enum action_result r, const struct buf *detail,
                          const struct buf *fix, const struct tt_err *e)
{
    const char *status = r == ACTION_DONE ? "ok" : r == ACTION_SKIPPED ? "skipped" : "failed";
    const char *text = r == ACTION_FAILED ? (e->msg[0] ? e->msg : "failed")
                       : detail->len      ? detail->data
                                          : "";
    return json_pack("{s:s, s:s, s:s, s:s?}", "name", name, "status", status, "detail", text, "fix",
                     r == ACTION_FAILED && fix->len ? fix->data : NULL);
}

/*
 * Where the checks outside a deployment find the store: the one on the
 * engine is only looked at (check_store asks the engine for its volume
 * and lock holder); a local one is opened, except that a dry run opens
 * only one that exists (it makes no store, as it made none before).
 */
static void open_store_outside(struct run *a, struct preflight *p)
{
    if (state_remote_wanted(a)) {
        p->store_on_engine = 1;
        return;
    }
    char *path =
        a->o->state_path ? xstrdup(a->o->state_path) : apply_default_state_path(a->o->plan_path);
    if (p->read_only && access(path, F_OK) < 0 && errno == ENOENT) {
        p->store_absent = path; /* check_store says where the first apply makes it */
        return;
    }
    store_open(path, &a->store, &p->store_err);
    free(path);
}

json_t *preflight_outside(struct run *a, struct preflight *p)
{
    json_t *checks = json_array();
    int ok = 1;

    p->check_only = 1;
    open_store_outside(a, p);
    for (size_t i = 0; i < preflight_ncheck; i++) {
        const struct preflight_check *c = &preflight_checks[i];
        struct buf detail = {0}, fix = {0};
        struct tt_err e = {0};
        enum action_result r = c->run(a, p, &detail, &fix, &e);
        ok &= r != ACTION_FAILED;
        json_array_append_new(checks, check_json(c->name, r, &detail, &fix, &e));
        buf_release(&detail);
        buf_release(&fix);
    }
    free(p->store_absent);
    p->store_absent = NULL;
    return json_pack("{s:b, s:s, s:s, s:o}", "ok", ok, "project", a->project->name, "plan",
                     a->plan->path, "checks", checks);
}

enum apply_outcome deploy_check(const struct apply_options *o, json_t **result, struct tt_err *err)
{
    struct run a = {0};
    struct preflight p = {.db_bytes = -1};

    *result = NULL;
    enum apply_outcome res = run_load(&a, o, err);
    if (res != APPLY_OK) {
        run_free(&a);
        return res;
    }
    if (run_open_engine(&a) < 0) { /* a failed engine check, not an error of the command */
        p.engine_err = *err;
        memset(err, 0, sizeof(*err));
    }
    *result = preflight_outside(&a, &p);
    int ok = json_is_true(json_object_get(*result, "ok"));
    if (a.store) {
        struct tt_err e = {0};
        long long id = 0;
        if (store_preflight_record(a.store, a.project->name, a.ci.actor ? a.ci.actor : "unknown",
                                   a.plan->sha256, ok, *result, &id, &e) < 0) {
            json_array_append_new(json_object_get(*result, "checks"),
                                  json_pack("{s:s, s:s, s:s, s:s}", "name", "record", "status",
                                            "failed", "detail", e.msg, "fix",
                                            "fix the store's permissions or path"));
            json_object_set_new(*result, "ok", json_false());
            ok = 0;
        } else {
            json_object_set_new(*result, "recorded", json_integer((json_int_t)id));
        }
    }
    run_free(&a);
    return ok ? APPLY_OK : APPLY_DEPLOY_FAILED;
}
