/*
 * test_store_audit.c - the tamper-evident audit chain of the store: final
 * steps and deployments sealed in order, verify catching an UPDATE, a
 * DELETE and an INSERT made behind ttdeploy's back (here through a second
 * SQLite connection, as the sqlite3 shell would), open rows of a running
 * deployment told apart from tampering, --head, the canonical form's
 * stability, and the migration that seals the rows of an older store.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "storetest.h"

TestSuite(audit, .init = store_setup, .fini = store_teardown);

/* Runs sql on the store's file through a second connection, as someone with the sqlite3 shell. */
static void tamper(const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_close(db);
}

/* The integer sql returns (one row, one column), read through a second connection. */
static long long query(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static long long begin(void)
{
    struct store_deployment d = {.project = "p", .version = "v1.4.0", .actor = "ci"};
    long long id = 0;
    struct tt_err err = {0};
    cr_assert_eq(store_deployment_begin(st, &d, &id, &err), 0, "%s", err.msg);
    return id;
}

static long long step(long long dep, const char *service, int end)
{
    long long id = 0;
    struct tt_err err = {0};
    cr_assert_eq(
        store_step_begin(st, dep, DEPLOY_APP_UP, service, "create", "create it", &id, &err), 0,
        "%s", err.msg);
    if (end)
        cr_assert_eq(store_step_end(st, id, STEP_OK, "healthy (probe, 0.31 s)", NULL, &err), 0,
                     "%s", err.msg);
    return id;
}

/* A finished deployment of three steps (the ids are 1, 2, 3 for the first one). */
static long long finished_deployment(void)
{
    struct tt_err err = {0};
    long long d = begin();
    step(d, "postgres", 1);
    step(d, "api", 1);
    step(d, NULL, 1);
    cr_assert_eq(store_deployment_finish(st, d, DEPLOY_SUCCEEDED, NULL, &err), 0, "%s", err.msg);
    return d;
}

/* Verifies with head given (or NULL) into r; the check itself must run. */
static void verify(const char *given, struct store_audit_report *r)
{
    struct tt_err err = {0};
    cr_assert_eq(store_audit_verify(st, given, r, &err), 0, "%s", err.msg);
}

/* Asserts the first finding names who and says what. */
static void assert_first(const struct store_audit_report *r, const char *who, const char *what)
{
    cr_assert_gt(r->nproblems, 0, "tampering is found");
    cr_assert(strstr(r->problems.v[0], who) && strstr(r->problems.v[0], what),
              "the first finding names %s and says %s: %s", who, what, r->problems.v[0]);
}

Test(audit, final_rows_are_sealed_in_order_and_verify_intact)
{
    struct store_audit_report r;
    long long d1 = finished_deployment(), d2 = finished_deployment();

    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.sealed, 8, "6 steps and 2 deployments are on the chain");
    cr_assert_eq(r.head.seq, 8);
    cr_assert(!r.head.is_step && r.head.id == d2, "the newest deployment is the head");
    cr_assert_eq(strlen(r.head.hash), 64);
    store_audit_report_clear(&r);
    cr_assert_eq(query("SELECT chain_seq FROM deployments WHERE id = 1"), 4);
    cr_assert_eq(query("SELECT COUNT(*) FROM steps WHERE chain_seq > (SELECT chain_seq FROM "
                       "deployments WHERE id = 1) AND deployment_id = 1"),
                 0, "a deployment is sealed after its steps");
    (void)d1;
}

Test(audit, a_sealed_row_is_never_written_again)
{
    struct tt_err err = {0};
    long long d = begin(), s = step(d, "api", 1);
    cr_assert_eq(store_step_end(st, s, STEP_FAILED, "again", NULL, &err), -1);
    cr_assert(strstr(err.msg, "already sealed"), "%s", err.msg);
    cr_assert_eq(store_deployment_finish(st, d, DEPLOY_SUCCEEDED, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(store_deployment_finish(st, d, DEPLOY_FAILED, "again", &err), -1);
    cr_assert(strstr(err.msg, "already sealed"), "%s", err.msg);
    cr_assert_eq(query("SELECT COUNT(*) FROM deployments WHERE status = 'succeeded'"), 1,
                 "the refused write changed nothing");
}

Test(audit, update_of_a_step_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    finished_deployment();
    tamper("UPDATE steps SET detail = 'all fine' WHERE id = 2");
    verify(NULL, &r);
    assert_first(&r, "step 2 (deployment 1, seq 2", "an UPDATE");
    cr_assert_eq(r.nproblems, 1, "one changed row is one finding");
    store_audit_report_clear(&r);
}

Test(audit, update_of_a_deployment_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    tamper("UPDATE deployments SET actor = 'someone else' WHERE id = 1");
    verify(NULL, &r);
    assert_first(&r, "deployment 1", "an UPDATE");
    store_audit_report_clear(&r);
}

Test(audit, delete_of_a_step_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    finished_deployment();
    tamper("DELETE FROM steps WHERE id = 2");
    verify(NULL, &r);
    assert_first(&r, "chain position 2 is missing", "a DELETE");
    cr_assert(strstr(r.problems.v[0], "step 1 ") && strstr(r.problems.v[0], "step 3 "),
              "the neighbours are named: %s", r.problems.v[0]);
    int hole = 0;
    for (size_t i = 0; i < r.problems.n; i++)
        hole |= strstr(r.problems.v[i], "deployment 1 has no step seq 2") != NULL;
    cr_assert(hole, "the missing step is named by its deployment and seq");
    store_audit_report_clear(&r);
}

Test(audit, delete_of_a_deployment_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    finished_deployment();
    tamper("PRAGMA foreign_keys = OFF; DELETE FROM deployments WHERE id = 1");
    verify(NULL, &r);
    assert_first(&r, "chain position 4 is missing", "a DELETE");
    store_audit_report_clear(&r);
}

Test(audit, insert_of_a_step_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    tamper("INSERT INTO steps (deployment_id, seq, phase, action, status, started_at, detail) "
           "VALUES (1, 4, 'verify', 'http', 'ok', 1.0, 'all checks passed')");
    verify(NULL, &r);
    assert_first(&r, "step 4 (deployment 1, seq 4: verify http, ok)", "an INSERT");
    store_audit_report_clear(&r);
}

Test(audit, insert_of_a_sealed_looking_step_after_its_deployment_is_named)
{
    struct store_audit_report r;
    finished_deployment();
    /* Given the head's position and a hash (wrong, but the order is checked on its own). */
    tamper("INSERT INTO steps (deployment_id, seq, phase, action, status, started_at, hash, "
           "chain_seq) VALUES (1, 4, 'verify', 'http', 'ok', 1.0, '00', 5)");
    verify(NULL, &r);
    int after = 0;
    for (size_t i = 0; i < r.problems.n; i++)
        after |= strstr(r.problems.v[i], "sealed after its deployment") != NULL;
    cr_assert(after, "the step sealed after its deployment is an INSERT");
    store_audit_report_clear(&r);
}

Test(audit, rows_of_a_running_deployment_are_open_not_tampered)
{
    struct store_audit_report r;
    struct tt_err err = {0};
    finished_deployment();
    long long d = begin();
    step(d, "api", 1);
    step(d, "worker", 0); /* in flight: a crash here leaves it running */
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.open_deployments, 1);
    cr_assert_eq(r.open_steps, 1);
    store_audit_report_clear(&r);
    /* recover marks the step interrupted, which seals it; then the deployment finishes. */
    cr_assert_eq(store_steps_interrupt(st, d, &err), 0, "%s", err.msg);
    cr_assert_eq(store_deployment_finish(st, d, DEPLOY_ROLLED_BACK, "x", &err), 0, "%s", err.msg);
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.open_deployments + r.open_steps, 0);
    cr_assert_eq(r.sealed, 4 + 3);
    store_audit_report_clear(&r);
}

Test(audit, a_finished_deployment_seals_a_step_left_running)
{
    struct store_audit_report r;
    struct tt_err err = {0};
    long long d = begin();
    step(d, "api", 0);
    cr_assert_eq(store_deployment_finish(st, d, DEPLOY_FAILED, "x", &err), 0, "%s", err.msg);
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.sealed, 2);
    store_audit_report_clear(&r);
}

Test(audit, an_earlier_head_is_on_the_chain_a_made_up_one_is_not)
{
    struct store_audit_report r;
    struct store_audit_head h1;
    struct tt_err err = {0};
    finished_deployment();
    cr_assert_eq(store_audit_head(st, &h1, &err), 0, "%s", err.msg);
    finished_deployment();

    verify(h1.hash, &r);
    cr_assert_eq(r.nproblems, 0);
    cr_assert(r.given_found && r.given_seq == 4, "an older head is found where it was");
    store_audit_report_clear(&r);
    char prefix[13];
    memcpy(prefix, h1.hash, 12);
    prefix[12] = '\0';
    verify(prefix, &r);
    cr_assert(r.given_found && r.nproblems == 0, "a prefix of 12 hex digits will do");
    store_audit_report_clear(&r);
    verify("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &r);
    assert_first(&r, "head 0123456789ab", "is not on the chain");
    store_audit_report_clear(&r);
    cr_assert_eq(store_audit_verify(st, "12345", &r, &err), -1, "a short head is bad input");
    cr_assert(strstr(err.msg, "64 hex digits"), "%s", err.msg);
    cr_assert_eq(store_audit_verify(st, "xyz456789abcdef", &r, &err), -1);
}

Test(audit, canonical_form_ignores_a_new_nullable_column_and_sees_moves_and_types)
{
    struct store_audit_report r;
    finished_deployment();
    /* A later migration that adds a nullable column changes no old hash. */
    tamper("ALTER TABLE steps ADD COLUMN later TEXT; ALTER TABLE deployments ADD COLUMN x REAL");
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    store_audit_report_clear(&r);
    /* A value moved to another column is another row. */
    tamper("UPDATE steps SET error = detail, detail = NULL WHERE id = 1");
    verify(NULL, &r);
    assert_first(&r, "step 1 ", "an UPDATE");
    store_audit_report_clear(&r);
    tamper("UPDATE steps SET detail = error, error = NULL WHERE id = 1");
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "moved back, it is the sealed row again");
    store_audit_report_clear(&r);
    /* The same bytes as another type are another row: a BLOB is not TEXT. */
    tamper("UPDATE steps SET detail = CAST(detail AS BLOB) WHERE id = 3");
    verify(NULL, &r);
    assert_first(&r, "step 3 ", "an UPDATE");
    store_audit_report_clear(&r);
}

Test(audit, a_read_only_store_is_verified)
{
    struct store_audit_report r;
    struct tt_err err = {0};
    finished_deployment();
    store_close(st);
    st = NULL;
    cr_assert_eq(chmod(path, 0400), 0);
    cr_assert_eq(store_open_existing(path, &st, &err), 0, "%s", err.msg);
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.sealed, 4);
    store_audit_report_clear(&r);
}

Test(audit, migration_seals_the_rows_of_an_older_store_in_order)
{
    struct store_audit_report r;
    struct tt_err err = {0};
    finished_deployment();                           /* 1: steps 1-3 */
    long long d2 = begin(), s4 = step(d2, "api", 1); /* 2: running, step 4 ended */
    step(d2, "worker", 0);                           /* step 5 in flight */
    finished_deployment();                           /* 3: steps 6-8 */
    store_close(st);
    st = NULL;
    /* The store as a ttdeploy of schema 5 left it: no chain. */
    tamper("DROP TABLE preflights; ALTER TABLE releases DROP COLUMN spec; ALTER TABLE releases "
           "DROP COLUMN "
           "service_version; DROP INDEX deployments_chain; DROP INDEX steps_chain; "
           "ALTER TABLE deployments DROP COLUMN hash; ALTER TABLE deployments DROP COLUMN "
           "chain_seq; ALTER TABLE steps DROP COLUMN hash; ALTER TABLE steps DROP COLUMN "
           "chain_seq; PRAGMA user_version = 5");
    cr_assert_eq(store_open(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.sealed, 3 + 1 + 1 + 3 + 1, "final rows sealed; the running ones stay open");
    cr_assert_eq(r.open_deployments, 1);
    cr_assert_eq(r.open_steps, 1);
    store_audit_report_clear(&r);
    /* Per deployment by id, its steps by seq, then it. */
    sqlite3 *db;
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(
                     db,
                     "SELECT group_concat(t, ' ') FROM (SELECT t FROM (SELECT 'd' || id AS t, "
                     "chain_seq FROM deployments WHERE chain_seq IS NOT NULL UNION ALL SELECT "
                     "'s' || id, chain_seq FROM steps WHERE chain_seq IS NOT NULL) ORDER BY "
                     "chain_seq)",
                     -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "s1 s2 s3 d1 s4 s6 s7 s8 d3");
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* The running deployment goes on and finishes: its open step and it join the chain. */
    cr_assert_eq(store_step_end(st, s4 + 1, STEP_OK, "ok", NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(store_deployment_finish(st, d2, DEPLOY_SUCCEEDED, NULL, &err), 0, "%s", err.msg);
    verify(NULL, &r);
    cr_assert_eq(r.nproblems, 0, "%s", r.problems.n ? r.problems.v[0] : "");
    cr_assert_eq(r.sealed, 11);
    store_audit_report_clear(&r);
}
