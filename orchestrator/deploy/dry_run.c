/*
 * dry_run.c - `apply --dry-run`: what each phase would do (the pending
 * migrations, what each service's container would become, the checks),
 * read from the engine and the database without changing either, then
 * the preflight checks as `ttdeploy check` runs them (preflight_outside),
 * so that a dry run that apply's preflight would stop fails as apply
 * would.  Nothing is recorded, and no store is made.  The preview of a
 * tier is shared with the dry run of a manual rollback.
 */
#include "run.h"
#include "hooks.h"
#include "monotime.h"
#include "pgdb.h"

#include <stdlib.h>
#include <string.h>

void dry_run_preview(struct run *a, const char *title, const struct strv *tier)
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
    bluegreen_options(a, &so);
    if (run_stack_preview(a, a->project, a->dag, &so, &r, &e2) < 0) {
        fprintf(out, "  cannot preview: %s\n", e2.msg);
    } else {
        for (size_t i = 0; i < tier->n; i++) {
            const struct stack_result *x = tier_result_for(&r, tier->v[i]);
            if (!x)
                continue;
            fprintf(out, "  %-12s %-16s %s", x->service, x->action, x->image);
            if (x->old_image && strcmp(x->old_image, x->image))
                fprintf(out, "  (was %s)", x->old_image);
            if (bluegreen_switch_pending(a, x) && !plan_blue_green(a->plan, x->service))
                fprintf(out, "  in its %s slot, started first; then the old one stops", x->slot);
            else if (bluegreen_switch_pending(a, x))
                fprintf(out, "  in its %s slot, then switch the proxy to it", x->slot);
            else if (x->slot[0])
                fprintf(out, "  (%s slot, live)", x->slot);
            fputc('\n', out);
        }
    }
    stack_report_clear(&r);
    strv_clear(&so.services);
}

/*
 * The preflight checks, read-only: their result goes to the caller
 * (o->preflight, cli/ prints it); a failed one fails the dry run with the
 * message apply's preflight phase would end with.
 */
static enum apply_outcome dry_run_preflight(struct run *a)
{
    struct preflight p = {.read_only = 1, .db_bytes = -1};
    json_t *result = preflight_outside(a, &p), *c, *failed = NULL;
    size_t i, nfailed = 0;

    json_array_foreach(json_object_get(result, "checks"), i, c)
    {
        const char *st = json_string_value(json_object_get(c, "status"));
        if (st && !strcmp(st, "failed") && nfailed++ == 0)
            failed = c;
    }
    if (failed) {
        const char *fix = json_string_value(json_object_get(failed, "fix"));
        tt_error(a->err,
                 "preflight check %s failed: %s%s%s%s; apply would stop in its preflight phase "
                 "(dry run: nothing was changed)",
                 json_string_value(json_object_get(failed, "name")),
                 json_string_value(json_object_get(failed, "detail")), fix ? ": " : "",
                 fix ? fix : "", nfailed > 1 ? " (and more: see the checks above)" : "");
    }
    if (a->o->preflight)
        *a->o->preflight = result;
    else
        json_decref(result);
    return failed ? APPLY_DEPLOY_FAILED : APPLY_OK;
}

enum apply_outcome dry_run_apply(struct run *a)
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
        char *dir = plan_resolve(a->plan, a->plan->migrate.dir), *cur = NULL;
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
    dry_run_preview(a, "infra_up", &a->plan->infra);
    dry_run_preview(a, "app_up", &a->plan->app);
    fprintf(out, "verify:\n");
    for (size_t i = 0; i < a->plan->nchecks; i++) {
        phase_describe_check(&a->plan->checks[i], &text);
        fprintf(out, "  %-12s %s\n", a->plan->checks[i].name, text.data);
    }
    hooks_dry_run(a, out);
    retention_preview(a, out);
    notify_describe(a, out);
    buf_release(&text);
    return dry_run_preflight(a);
}
