/*
 * test_store_preflight.c - schema 8: the state preflight (a step's phase,
 * read back by the typed record) and the preflights table `ttdeploy check`
 * records in, off the audit chain.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

#include "storetest.h"

TestSuite(store_preflight, .init = store_setup, .fini = store_teardown);

Test(store_preflight, schema_8_names_the_state)
{
    cr_assert_eq(STORE_SCHEMA_VERSION, 8);
    cr_assert_eq(store_schema_version(st), 8);
    cr_assert_eq(DEPLOY_PREFLIGHT, DEPLOY_LOCKED + 1);
    cr_assert_eq(DEPLOY_BACKUP, DEPLOY_PREFLIGHT + 1);
    cr_assert_str_eq(deploy_state_name(DEPLOY_PREFLIGHT), "preflight");
    cr_assert_eq(deploy_state_from_name("preflight"), DEPLOY_PREFLIGHT);
}

Test(store_preflight, a_preflight_step_reads_back)
{
    struct store_deployment d = {.project = "shop", .version = "v1"};
    struct tt_err err = {0};
    long long id = 0, step = 0;
    struct store_record *r = NULL;
    cr_assert_eq(store_deployment_begin(st, &d, &id, &err), 0, "%s", err.msg);
    cr_assert_eq(store_step_begin(st, id, DEPLOY_PREFLIGHT, NULL, "ports", "free?", &step, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(store_step_end(st, step, STEP_FAILED, NULL, "port 8080 in use", &err), 0);
    cr_assert_eq(store_deployment_set_state(st, id, DEPLOY_PREFLIGHT, &err), 0);
    cr_assert_eq(store_deployment_finish(st, id, DEPLOY_FAILED, "preflight", &err), 0);
    cr_assert_eq(store_record_load(st, id, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r->nsteps, 1);
    cr_assert_eq(r->steps[0].phase, DEPLOY_PREFLIGHT);
    cr_assert_eq(r->state, DEPLOY_PREFLIGHT);
    store_record_free(r);
    struct store_audit_report rep = {0};
    cr_assert_eq(store_audit_verify(st, NULL, &rep, &err), 0, "%s", err.msg);
    cr_assert_eq(rep.nproblems, 0);
    store_audit_report_clear(&rep);
}

Test(store_preflight, a_check_is_recorded_off_the_chain)
{
    struct tt_err err = {0};
    struct store_audit_head before = {0}, after = {0};
    long long id = 0;
    cr_assert_eq(store_audit_head(st, &before, &err), 0);
    json_t *result =
        json_pack("{s:b, s:[{s:s, s:s}]}", "ok", 0, "checks", "name", "ports", "status", "failed");
    cr_assert_eq(store_preflight_record(st, "shop", "ci", "abc", 0, result, &id, &err), 0, "%s",
                 err.msg);
    cr_assert_gt(id, 0);
    json_decref(result);
    cr_assert_eq(store_audit_head(st, &after, &err), 0);
    cr_assert_eq(after.seq, before.seq, "a check is not sealed on the chain");

    sqlite3 *db;
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT project, actor, plan_sha256, ok, result FROM "
                                    "preflights WHERE id = ?",
                                    -1, &q, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(q, 1, id);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "shop");
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 1), "ci");
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 2), "abc");
    cr_assert_eq(sqlite3_column_int(q, 3), 0);
    cr_assert(strstr((const char *)sqlite3_column_text(q, 4), "\"ports\""));
    sqlite3_finalize(q);
    sqlite3_close(db);
}
