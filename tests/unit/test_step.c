/*
 * test_step.c - every step is written before it acts and after: a store
 * that cannot record the intent stops the step before it runs, one that
 * cannot record the outcome fails it, and neither error is dropped.
 * The store is made to refuse with a trigger, as a full disk would.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "run.h"
#include "testutil.h"

static char *dir, *path;
static struct store *st;
static struct apply_options opts = {.progress = PROGRESS_QUIET};
static struct run run;
static struct tt_err err;
static int acted;

static void setup(void)
{
    struct buf p = {0};
    struct store_deployment d = {.project = "tt", .version = "v1", .actor = "ci"};
    dir = tu_tmpdir();
    buf_printf(&p, "%s/state.db", dir);
    path = buf_detach(&p);
    cr_assert_eq(store_open(path, &st, &err), 0, "%s", err.msg);
    memset(&run, 0, sizeof(run));
    run.o = &opts;
    run.store = st;
    run.err = &err;
    cr_assert_eq(store_deployment_begin(st, &d, &run.id, &err), 0, "%s", err.msg);
    acted = 0;
}

static void teardown(void)
{
    struct buf cmd = {0};
    store_close(st);
    buf_printf(&cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd.data), 0);
    buf_release(&cmd);
    free(path);
    free(dir);
    memset(&err, 0, sizeof(err));
}

TestSuite(step, .init = setup, .fini = teardown);

/* Makes the store refuse statements on steps of kind ("INSERT" or "UPDATE"). */
static void refuse(const char *kind)
{
    struct buf cmd = {0};
    buf_printf(&cmd,
               "python3 -c \"import sqlite3; sqlite3.connect('%s').executescript('''CREATE "
               "TRIGGER refuse BEFORE %s ON steps BEGIN SELECT RAISE(ABORT, 'disk full "
               "(simulated)'); END;''')\"",
               path, kind);
    cr_assert_eq(system(cmd.data), 0, "%s", cmd.data);
    buf_release(&cmd);
}

static enum action_result act(struct run *a, void *ctx, struct buf *detail, struct tt_err *e)
{
    (void)a;
    (void)ctx;
    (void)e;
    acted = 1;
    buf_adds(detail, "did it");
    return ACTION_DONE;
}

static struct store_record *record(void)
{
    struct store_record *r = NULL;
    struct tt_err e = {0};
    cr_assert_eq(store_record_load(st, run.id, &r, &e), 0, "%s", e.msg);
    return r;
}

Test(step, runs_between_intent_and_outcome)
{
    struct step_desc d = {DEPLOY_BACKUP, "postgres", "pg_dump", "dump it"};
    struct buf detail = {0};
    struct tt_err e = {0};

    cr_assert_eq(step_run(&run, &d, act, NULL, &detail, &e), ACTION_DONE);
    cr_assert(acted);
    struct store_record *r = record();
    cr_assert_eq(r->nsteps, 1);
    cr_assert_eq(r->steps[0].phase, DEPLOY_BACKUP);
    cr_assert_eq(r->steps[0].status, STEP_OK);
    cr_assert_str_eq(r->steps[0].intent, "dump it");
    cr_assert_str_eq(r->steps[0].detail, "did it");
    cr_assert_str_eq(run.store_err.msg, "");
    store_record_free(r);
    buf_release(&detail);
}

Test(step, an_intent_the_store_cannot_record_stops_the_step)
{
    struct step_desc d = {DEPLOY_MIGRATE, NULL, "sql", "apply 2 migrations"};
    struct buf detail = {0};
    struct tt_err e = {0};

    refuse("INSERT");
    cr_assert_eq(step_run(&run, &d, act, NULL, &detail, &e), ACTION_FAILED);
    cr_assert_not(acted, "the step acted although its intent was not recorded");
    cr_assert(strstr(e.msg, "could not record the intent of migrate sql") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "nothing was done") != NULL, "%s", e.msg);
    cr_assert(strstr(run.store_err.msg, "disk full (simulated)") != NULL, "%s", run.store_err.msg);
    buf_release(&detail);
}

Test(step, an_outcome_the_store_cannot_record_fails_the_step)
{
    struct step_desc d = {DEPLOY_VERIFY, "api", "health", "GET /api/health"};
    struct buf detail = {0};
    struct tt_err e = {0};

    refuse("UPDATE");
    cr_assert_eq(step_run(&run, &d, act, NULL, &detail, &e), ACTION_FAILED);
    cr_assert(acted);
    cr_assert(strstr(e.msg, "could not record the outcome") != NULL, "%s", e.msg);
    cr_assert(strstr(run.store_err.msg, "disk full (simulated)") != NULL, "%s", run.store_err.msg);
    buf_release(&detail);
}

Test(step, the_first_store_error_is_kept)
{
    refuse("INSERT");
    cr_assert_eq(step_skipped(&run, DEPLOY_BACKUP, "no backup: in the plan"), -1);
    struct tt_err first = run.store_err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(step_note(&run, DEPLOY_DECIDING, NULL, "none", "w", STEP_OK, "w"), -1);
    cr_assert_str_eq(run.store_err.msg, first.msg);
    cr_assert(strstr(err.msg, "intent of deciding none") != NULL, "%s", err.msg);
}

Test(step, skipped_phases_are_recorded)
{
    cr_assert_eq(step_skipped(&run, DEPLOY_MIGRATE, "no migrate: in the plan"), 0, "%s", err.msg);
    struct store_record *r = record();
    cr_assert_eq(r->nsteps, 1);
    cr_assert_eq(r->steps[0].status, STEP_SKIPPED);
    cr_assert_str_eq(r->steps[0].action, "skip");
    cr_assert_str_eq(r->steps[0].detail, "no migrate: in the plan");
    store_record_free(r);
}
