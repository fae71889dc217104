/*
 * test_store.c - the SQLite audit store: schema and its version, file
 * permissions, deployments and steps with intent and outcome, the lock
 * (held by a live deployment: its token, heartbeat and PID namespace),
 * queries, the typed record of a deployment, and secret-looking names.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storetest.h"

TestSuite(store, .init = store_setup, .fini = store_teardown);

/* Runs sql (statements without double quotes) on the store's file from another process. */
static void poke(const char *sql)
{
    struct buf cmd = {0};
    buf_printf(&cmd,
               "python3 -c \"import sqlite3; sqlite3.connect('%s').executescript(''' %s ''')\"",
               path, sql);
    cr_assert_eq(system(cmd.data), 0, "%s", cmd.data);
    buf_release(&cmd);
}

static long long begin(const char *project)
{
    struct store_deployment d = {
        .project = project, .version = "v1.4.0", .git_tag = "v1.4.0", .actor = "ci"};
    long long id = 0;
    struct tt_err err = {0};
    cr_assert_eq(store_deployment_begin(st, &d, &id, &err), 0, "%s", err.msg);
    return id;
}

Test(store, schema_version_and_permissions)
{
    struct stat sb;
    cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    char *d = xstrdup(path);
    *strrchr(d, '/') = '\0';
    cr_assert_eq(stat(d, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    free(d);
}

Test(store, reopen_keeps_data_and_version)
{
    long long id = begin("p");
    struct tt_err err = {0};
    store_close(st);
    cr_assert_eq(store_open(path, &st, &err), 0, "%s", err.msg);
    json_t *d = store_show(st, id, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(d, "version")), "v1.4.0");
    json_decref(d);
}

/* A failed INSERT names no row: the id of an earlier one is not handed out again. */
Test(store, failed_insert_leaves_no_id)
{
    struct store_deployment bad = {.project = NULL};
    struct tt_err err = {0};
    long long first = begin("p"), id = 12345, step = 12345;

    cr_assert_gt(first, 0);
    cr_assert_eq(store_deployment_begin(st, &bad, &id, &err), -1);
    cr_assert_eq(id, 0);
    cr_assert_eq(store_step_begin(st, 999999, DEPLOY_BACKUP, NULL, "x", "y", &step, &err), -1);
    cr_assert_eq(step, 0);
}

Test(store, reading_a_missing_store_creates_none)
{
    struct store *r = NULL;
    struct tt_err err = {0};
    struct buf p = {0};
    buf_printf(&p, "%s/elsewhere.db", dir);
    cr_assert_eq(store_open_existing(p.data, &r, &err), -1);
    cr_assert_null(r);
    cr_assert(strstr(err.msg, "no state store at") && strstr(err.msg, "--state"), "%s", err.msg);
    cr_assert_eq(access(p.data, F_OK), -1, "a read made a store");
    buf_release(&p);
}

/* Runs a shell command, true when it exits 0. */
static int sh(const char *fmt, const char *arg)
{
    struct buf cmd = {0};
    buf_printf(&cmd, fmt, arg, arg);
    int rc = system(cmd.data);
    buf_release(&cmd);
    return rc == 0;
}

/*
 * A store on a read-only file system is still read (history, show); it is
 * not written.  Needs root for the mount (skipped otherwise).
 */
Test(store, a_read_only_store_can_be_read)
{
    struct tt_err err = {0};
    struct store *r = NULL;
    struct buf mnt = {0}, db = {0};
    struct store_history_filter f = {0};

    buf_printf(&mnt, "%s/ro", dir);
    if (geteuid() != 0 || !sh("mkdir -p %s && mount -t tmpfs -o size=4m tmpfs %s", mnt.data))
        cr_skip_test("mounting a tmpfs needs root");
    buf_printf(&db, "%s/state.db", mnt.data);
    store_close(st);
    cr_assert_eq(store_open(db.data, &st, &err), 0, "%s", err.msg);
    long long id = begin("p");
    store_close(st);
    st = NULL;
    cr_assert(sh("mount -o remount,ro %s", mnt.data));

    int rc = store_open_existing(db.data, &r, &err);
    json_t *h = rc == 0 ? store_history(r, &f, &err) : NULL;
    json_t *one = rc == 0 ? store_show(r, id, &err) : NULL;
    struct store *w = NULL;
    struct tt_err werr = {0};
    int wrc = store_open(db.data, &w, &werr);
    store_close(w);
    store_close(r);
    sh("umount %s", mnt.data);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_not_null(h, "%s", err.msg);
    cr_assert_eq(json_array_size(h), 1);
    cr_assert_not_null(one, "%s", err.msg);
    cr_assert_eq(wrc, -1, "a store on a read-only file system was opened for writing");
    json_decref(h);
    json_decref(one);
    buf_release(&mnt);
    buf_release(&db);
}

Test(store, newer_schema_is_refused)
{
    struct tt_err err = {0};
    store_close(st);
    poke("PRAGMA user_version = 99");
    cr_assert_eq(store_open(path, &st, &err), -1);
    cr_assert(strstr(err.msg, "schema version 99, newer than this ttdeploy knows") != NULL, "%s",
              err.msg);
    cr_assert_eq(store_open("/dev/null/nope/state.db", &st, &err), -1);
    st = NULL;
}

Test(store, steps_record_intent_then_outcome)
{
    struct tt_err err = {0};
    long long id = begin("p"), s1, s2;
    cr_assert_eq(store_step_begin(st, id, DEPLOY_INFRA_UP, "postgres", "create", "create postgres",
                                  &s1, &err),
                 0);
    json_t *d = store_show(st, id, &err);
    json_t *step = json_array_get(json_object_get(d, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(step, "status")), "running",
                     "the intent is on disk before the action");
    json_decref(d);
    cr_assert_eq(store_step_end(st, s1, STEP_OK, "healthy (probe, 1.9 s)", NULL, &err), 0);
    cr_assert_eq(store_step_begin(st, id, DEPLOY_APP_UP, "api", "create", NULL, &s2, &err), 0);
    cr_assert_eq(store_steps_interrupt(st, id, &err), 0);
    d = store_show(st, id, &err);
    json_t *steps = json_object_get(d, "steps");
    cr_assert_eq(json_array_size(steps), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(steps, 1), "seq")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 0), "status")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 1), "status")),
                     "interrupted");
    json_decref(d);
}

Test(store, unfinished_and_finish)
{
    struct tt_err err = {0};
    long long id = begin("p");
    json_t *u = store_unfinished(st, "p", &err);
    cr_assert_not_null(u);
    cr_assert_eq(json_integer_value(json_object_get(u, "id")), id);
    json_decref(u);
    cr_assert_eq(store_deployment_finish(st, id, DEPLOY_SUCCEEDED, NULL, &err), 0);
    cr_assert_null(store_unfinished(st, "p", &err));
}

Test(store, history_filters_and_order)
{
    struct tt_err err = {0};
    long long a = begin("p"), b = begin("p"), c = begin("q"), s;
    store_deployment_finish(st, a, DEPLOY_SUCCEEDED, NULL, &err);
    store_deployment_finish(st, b, DEPLOY_FAILED, "verify failed", &err);
    store_deployment_finish(st, c, DEPLOY_SUCCEEDED, NULL, &err);
    store_step_begin(st, b, DEPLOY_APP_UP, "api", "recreate", NULL, &s, &err);
    struct store_history_filter f = {0};
    json_t *h = store_history(st, &f, &err);
    cr_assert_eq(json_array_size(h), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(h, 0), "id")), c,
                 "newest first");
    json_decref(h);
    f.project = "p";
    f.status = "failed";
    h = store_history(st, &f, &err);
    cr_assert_eq(json_array_size(h), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 0), "error")),
                     "verify failed");
    json_decref(h);
    struct store_history_filter g = {.service = "api"};
    h = store_history(st, &g, &err);
    cr_assert_eq(json_array_size(h), 1);
    json_decref(h);
    struct store_history_filter l = {.limit = 1};
    h = store_history(st, &l, &err);
    cr_assert_eq(json_array_size(h), 1);
    json_decref(h);
    struct store_history_filter later = {.since = 4102444800.0}; /* 2100-01-01 */
    h = store_history(st, &later, &err);
    cr_assert_eq(json_array_size(h), 0);
    json_decref(h);
}

Test(store, show_missing_deployment)
{
    struct tt_err err = {0};
    cr_assert_null(store_show(st, 42, &err));
    cr_assert(strstr(err.msg, "no deployment 42 in") != NULL, "%s", err.msg);
}

Test(store, releases_and_current)
{
    struct tt_err err = {0};
    long long a = begin("p"), b = begin("p");
    struct store_release r = {
        .service = "api", .image = "api:1", .image_id = "sha256:aa", .config_hash = "h1"};
    store_release_record(st, a, &r, &err);
    store_deployment_finish(st, a, DEPLOY_SUCCEEDED, NULL, &err);
    r.image = "api:2";
    store_release_record(st, b, &r, &err);
    store_deployment_finish(st, b, DEPLOY_FAILED, NULL, &err);
    json_t *cur = store_current_releases(st, "p", &err);
    cr_assert_eq(json_array_size(cur), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cur, 0), "image")), "api:1",
                     "what runs is what the last succeeded deployment ran");
    json_decref(cur);
}

Test(store, lock_is_exclusive_and_stale_lock_is_taken_over)
{
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    struct store_lock *l = NULL, *again = NULL;
    cr_assert_eq(store_lock_acquire(st, "p", 0, &l, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_acquire(st, "p", 0, &again, &h, &err), 1,
                 "a live holder's lock is not taken again, not even by its own process");
    cr_assert_eq(h.pid, getpid());
    cr_assert_str_neq(h.pid_ns, "", "the holder records its PID namespace");
    /* Another live process holds it: a child that sleeps. */
    pid_t child = fork();
    if (child == 0) {
        struct store *s2 = NULL;
        struct tt_err e2 = {0};
        struct store_lock_owner h2 = {0};
        struct store_lock *l2 = NULL;
        if (store_open(path, &s2, &e2) < 0)
            _exit(3);
        store_lock_force(s2, "q", &(int){0}, &e2);
        _exit(store_lock_acquire(s2, "p", 0.3, &l2, &h2, &e2) == 1 && h2.pid == getppid() ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a second process waits, then fails");
    /* A lock left by a dead process (same host, boot and PID namespace) is stale at once. */
    child = fork();
    if (child == 0) {
        struct store *s2 = NULL;
        struct tt_err e2 = {0};
        struct store_lock_owner h2 = {0};
        struct store_lock *l2 = NULL;
        store_open(path, &s2, &e2);
        _exit(store_lock_acquire(s2, "dead", 0, &l2, &h2, &e2) == 0 ? 0 : 1);
    }
    waitpid(child, &status, 0);
    cr_assert_eq(WEXITSTATUS(status), 0);
    cr_assert_eq(store_lock_holder(st, "dead", &h, &err), 1);
    cr_assert_eq(h.pid, child);
    struct store_lock *dead = NULL;
    cr_assert_eq(store_lock_acquire(st, "dead", 0, &dead, &h, &err), 0,
                 "the dead owner's lock is stale");
    int had = 0;
    cr_assert_eq(store_lock_force(st, "dead", &had, &err), 0);
    cr_assert(had);
    cr_assert_eq(store_lock_holder(st, "dead", &h, &err), 0);
    cr_assert_eq(store_lock_release(dead, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_release(l, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_holder(st, "p", &h, &err), 0);
}

/* Writes a lock row as another holder would (heartbeat age seconds ago). */
static void lock_row(const char *project, const char *host, long pid, const char *pid_ns,
                     double heartbeat_age)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    cr_assert_eq(
        sqlite3_prepare_v2(
            db,
            "INSERT OR REPLACE INTO lock (project, host, pid, started_at, "
            "heartbeat_at, deployment_id, token, start_ticks, boot_id, "
            "pid_ns) VALUES (?1, ?2, ?3, ((julianday('now') - 2440587.5) * 86400.0) - 100, "
            "((julianday('now') - 2440587.5) * 86400.0) - ?4, 7, 'theirs', 1, "
            "(SELECT boot_id FROM lock WHERE project = 'me'), ?5)",
            -1, &s, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_text(s, 1, project, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, pid);
    sqlite3_bind_double(s, 4, heartbeat_age);
    sqlite3_bind_text(s, 5, pid_ns, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void this_host(char *host, size_t n)
{
    cr_assert_eq(gethostname(host, n), 0);
}

Test(store, lock_release_deletes_only_its_own_row)
{
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    struct store_lock *first = NULL, *second = NULL;
    int had = 0;
    cr_assert_eq(store_lock_acquire(st, "p", 0, &first, &h, &err), 0, "%s", err.msg);
    /* `unlock --force`, then another deployment takes it: the first one's release must not
     * delete the second one's lock (it did, by pid, when both had the same pid). */
    cr_assert_eq(store_lock_force(st, "p", &had, &err), 0);
    cr_assert_eq(store_lock_acquire(st, "p", 0, &second, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_check(first, &err), -1, "the first holder sees its lock is lost");
    cr_assert(strstr(err.msg, "no longer held by this deployment"), "%s", err.msg);
    cr_assert(store_lock_lost(first));
    cr_assert_eq(store_lock_set_deployment(first, 5, &err), -1);
    cr_assert_eq(store_lock_release(first, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_holder(st, "p", &h, &err), 1, "the second holder's lock stays");
    cr_assert_neq(h.deployment_id, 5, "nor did the first holder write into it");
    cr_assert_eq(store_lock_check(second, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_release(second, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_holder(st, "p", &h, &err), 0);
}

Test(store, lock_heartbeat_keeps_it_fresh_and_a_silent_holder_is_stale)
{
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    struct store_lock *me = NULL, *l = NULL;
    /* The heartbeat thread refreshes the row while the holder works (here: sleeps). */
    cr_assert_eq(store_lock_acquire(st, "me", 0, &me, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_holder(st, "me", &h, &err), 1);
    double first = h.heartbeat_at;
    sleep(STORE_LOCK_HEARTBEAT_S + 1);
    cr_assert_eq(store_lock_holder(st, "me", &h, &err), 1);
    cr_assert_gt(h.heartbeat_at, first, "the heartbeat thread refreshed it");
    /* Another host's holder, silent for longer than the bound: stale. */
    lock_row("other", "elsewhere", 1, "pid:[1]", STORE_LOCK_STALE_S + 5);
    cr_assert_eq(store_lock_acquire(st, "other", 0, &l, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_release(l, &err), 0);
    /* The same, heard from a second ago: held. */
    lock_row("other", "elsewhere", 1, "pid:[1]", 1);
    cr_assert_eq(store_lock_acquire(st, "other", 0.3, &l, &h, &err), 1);
    cr_assert_str_eq(h.host, "elsewhere");
    struct buf who = {0};
    store_lock_owner_describe(&h, &who);
    cr_assert(strstr(who.data, "elsewhere pid 1 (deployment 7) since "), "%s", who.data);
    cr_assert(strstr(who.data, "pid namespace pid:[1], heartbeat 1 s ago"), "%s", who.data);
    buf_release(&who);
    cr_assert_eq(store_lock_release(me, &err), 0);
}

Test(store, lock_holder_in_another_pid_namespace_is_judged_by_its_heartbeat)
{
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    struct store_lock *me = NULL, *l = NULL;
    char host[256];
    this_host(host, sizeof(host));
    cr_assert_eq(store_lock_acquire(st, "me", 0, &me, &h, &err), 0, "%s", err.msg); /* boot_id */
    /* This host, a pid that does not exist here, another PID namespace, a fresh heartbeat:
     * a live deployment in a container; kill(pid, 0) here says nothing about it. */
    lock_row("p", host, 999999, "pid:[1]", 1);
    cr_assert_eq(store_lock_acquire(st, "p", 0.3, &l, &h, &err), 1,
                 "a live holder in another PID namespace keeps its lock");
    /* The same pid as ours, in another namespace: not ours either. */
    lock_row("p", host, getpid(), "pid:[1]", 1);
    cr_assert_eq(store_lock_acquire(st, "p", 0, &l, &h, &err), 1);
    /* In our namespace, its pid gone: stale at once, whatever the heartbeat says. */
    cr_assert_eq(store_lock_holder(st, "me", &h, &err), 1);
    lock_row("p", host, 999999, h.pid_ns, 1);
    cr_assert_eq(store_lock_acquire(st, "p", 0, &l, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_release(l, &err), 0);
    /* In our namespace, our own pid but another start time: the pid was reused, stale. */
    cr_assert_eq(store_lock_holder(st, "me", &h, &err), 1);
    lock_row("p", host, getpid(), h.pid_ns, 1);
    cr_assert_eq(store_lock_acquire(st, "p", 0, &l, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(store_lock_release(l, &err), 0);
    cr_assert_eq(store_lock_release(me, &err), 0);
}

Test(store, secret_names)
{
    cr_assert(store_is_secret_name("POSTGRES_PASSWORD"));
    cr_assert(store_is_secret_name("api_token"));
    cr_assert(store_is_secret_name("AWS_SECRET_ACCESS_KEY"));
    cr_assert(store_is_secret_name("SENTRY_DSN"));
    cr_assert_not(store_is_secret_name("LOG_LEVEL"));
    cr_assert_not(store_is_secret_name("POSTGRES_DB"));
}

Test(store, version_1_file_is_migrated_forward)
{
    /* A store written by a ttdeploy of schema 1 gains the tables of 2 and the columns of 3, 4. */
    struct tt_err err = {0};
    long long id = begin("p");
    store_close(st);
    poke("DROP TABLE preflights; "                 /* version 8's */
         "ALTER TABLE releases DROP COLUMN spec; " /* version 7's */
         "ALTER TABLE releases DROP COLUMN service_version; "
         "DROP INDEX deployments_chain; DROP INDEX steps_chain; " /* version 6's */
         "ALTER TABLE deployments DROP COLUMN hash; ALTER TABLE deployments DROP COLUMN chain_seq; "
         "ALTER TABLE steps DROP COLUMN hash; ALTER TABLE steps DROP COLUMN chain_seq; "
         "DROP TABLE scratch_databases; DROP TABLE database_changes; " /* version 4's */
         "DROP TABLE backups; DROP TABLE migrations; ALTER TABLE deployments DROP COLUMN kind; "
         "ALTER TABLE deployments DROP COLUMN notes; ALTER TABLE lock DROP COLUMN token; "
         "ALTER TABLE lock DROP COLUMN start_ticks; ALTER TABLE lock DROP COLUMN boot_id; "
         "ALTER TABLE lock DROP COLUMN pid_ns; PRAGMA user_version = 1");
    cr_assert_eq(store_open(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
    cr_assert_eq(store_backup_record(st, id, "p", "/b/p_1.dump", 1234, "ab", "list", &err), 0, "%s",
                 err.msg);
    json_t *b = store_backups(st, "p", &err);
    cr_assert_eq(json_array_size(b), 1);
    json_decref(b);
    json_t *d = store_show(st, id, &err);
    cr_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(d, "backups"), 0), "path")),
                     "/b/p_1.dump", "the deployment written under version 1 is still there");
    cr_assert_str_eq(json_string_value(json_object_get(d, "kind")), "apply");
    json_decref(d);
}

Test(store, record_holds_typed_rows)
{
    struct tt_err err = {0};
    long long a = begin("p"), id = begin("p"), s1, s2;
    struct store_record *r = NULL;
    struct store_release rel = {.service = "api", .image = "api:2", .environment = "{}"};

    cr_assert_eq(
        store_step_begin(st, id, DEPLOY_APP_UP, "api", "recreate", "recreate api", &s1, &err), 0);
    cr_assert_eq(store_step_end(st, s1, STEP_OK, "healthy", NULL, &err), 0);
    cr_assert_eq(store_step_begin(st, id, DEPLOY_ROLLING_BACK, NULL, "images", NULL, &s2, &err), 0);
    cr_assert_eq(store_release_record(st, id, &rel, &err), 0);
    cr_assert_eq(store_backup_record(st, id, "p", "/b/p_2.dump", 42, "ab", "list", &err), 0);
    cr_assert_eq(store_migration_record(st, id, "up", "r1", "r2", "ok", NULL, &err), 0);
    cr_assert_eq(store_event_record(st, id, 1000.5, "die", "api exited", &err), 0);
    json_t *dec =
        json_pack("{s:{s:s, s:s, s:f, s:n}, s:b, s:i, s:s, s:s, s:s, s:{s:s, s:i}, s:[ss]}",
                  "failure", "phase", "app_healthy", "service", "api", "error_rate", 0.25, "p95_ms",
                  "builtin", 0, "rule", 2, "rule_text", "t", "severity", "critical", "measured",
                  "m", "at", "file", "plan.yml", "line", 9, "actions", "images", "migrations");
    json_t *restore = json_pack("{s:s, s:s}", "backup", "/b/p_2.dump", "kept_as", "db_pre");
    json_t *to = json_integer(a), *secs = json_real(1.5);
    cr_assert_eq(store_deployment_note(st, id, "decision", dec, &err), 0, "%s", err.msg);
    cr_assert_eq(store_deployment_note(st, id, "restore", restore, &err), 0);
    cr_assert_eq(store_deployment_note(st, id, "rolled_back_to", to, &err), 0);
    cr_assert_eq(store_deployment_note(st, id, "recovered_seconds", secs, &err), 0);
    json_decref(dec);
    json_decref(restore);
    json_decref(to);
    json_decref(secs);

    cr_assert_eq(store_record_load(st, id, &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r->d.project, "p");
    cr_assert_str_eq(r->d.kind, "apply");
    cr_assert_eq(r->status, DEPLOY_RUNNING);
    cr_assert_eq(r->state, DEPLOY_CREATED);
    cr_assert(isnan(r->finished_at), "it has not ended");
    cr_assert_eq(r->d.rolled_back_from, 0);
    cr_assert_eq(r->nsteps, 2);
    cr_assert_eq(r->steps[0].phase, DEPLOY_APP_UP);
    cr_assert_eq(r->steps[0].status, STEP_OK);
    cr_assert_str_eq(r->steps[0].detail, "healthy");
    cr_assert_eq(r->steps[1].seq, 2);
    cr_assert_eq(r->steps[1].status, STEP_RUNNING);
    cr_assert_null(r->steps[1].service);
    cr_assert(isnan(r->steps[1].finished_at));
    cr_assert_eq(r->nreleases, 1);
    cr_assert_str_eq(r->releases[0].image, "api:2");
    cr_assert_null(r->releases[0].digest);
    cr_assert_eq(r->nbackups, 1);
    cr_assert_eq(r->backups[0].bytes, 42);
    cr_assert_eq(r->backups[0].writes, -1, "the write counter was not read yet");
    cr_assert(isnan(r->backups[0].deleted_at));
    cr_assert_str_eq(r->migration->revision_after, "r2");
    cr_assert_null(r->migration->applied);
    cr_assert_eq(r->nevents, 1);
    cr_assert_float_eq(r->events[0].at, 1000.5, 1e-9);

    const struct store_decision *d = r->decision;
    cr_assert_not_null(d);
    cr_assert_str_eq(d->failure.phase, "app_healthy");
    cr_assert_float_eq(d->failure.error_rate, 0.25, 1e-9);
    cr_assert(isnan(d->failure.p95_ms), "not measured");
    cr_assert_not(d->builtin);
    cr_assert_eq(d->rule, 2);
    cr_assert_str_eq(d->at_file, "plan.yml");
    cr_assert_eq(d->at_line, 9);
    cr_assert_eq(d->nactions, 2);
    cr_assert_str_eq(d->actions[1], "migrations");
    cr_assert_str_eq(r->restore->kept_as, "db_pre");
    cr_assert_not(r->restore->writes_counted);
    cr_assert_eq(r->rolled_back_to, a);
    cr_assert_float_eq(r->recovered_seconds, 1.5, 1e-9);
    store_record_free(r);
}

Test(store, show_is_the_record_as_json)
{
    struct tt_err err = {0};
    long long id = begin("p"), s1;
    cr_assert_eq(store_step_begin(st, id, DEPLOY_BACKUP, "db", "pg_dump", NULL, &s1, &err), 0);
    cr_assert_eq(store_backup_record(st, id, "p", "/b/p_1.dump", 7, "ab", "list", &err), 0);
    cr_assert_eq(store_backup_writes(st, id, 12, &err), 0);
    json_t *d = store_show(st, id, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_assert_str_eq(json_string_value(json_object_get(d, "status")), "running");
    cr_assert(json_is_null(json_object_get(d, "finished_at")));
    cr_assert(json_is_null(json_object_get(d, "rolled_back_from")));
    cr_assert(json_is_null(json_object_get(d, "notes")));
    cr_assert_eq(json_array_size(json_object_get(d, "migrations")), 0);
    cr_assert_eq(json_array_size(json_object_get(d, "releases")), 0);
    json_t *step = json_array_get(json_object_get(d, "steps"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(step, "phase")), "backup");
    cr_assert(json_is_null(json_object_get(step, "intent")));
    json_t *b = json_array_get(json_object_get(d, "backups"), 0);
    cr_assert_eq(json_integer_value(json_object_get(b, "writes")), 12);
    cr_assert_eq(json_integer_value(json_object_get(b, "bytes")), 7);
    cr_assert(json_is_null(json_object_get(b, "deleted_at")));
    json_decref(d);
}

Test(store, record_refuses_what_it_cannot_read)
{
    struct tt_err err = {0};
    struct store_record *r = NULL;
    long long id = begin("p"), s1;
    cr_assert_eq(store_record_load(st, 42, &r, &err), -1);
    cr_assert_null(r);
    cr_assert(strstr(err.msg, "no deployment 42 in") != NULL, "%s", err.msg);
    cr_assert_eq(store_step_begin(st, id, DEPLOY_APP_UP, "api", "create", NULL, &s1, &err), 0);
    poke("UPDATE steps SET phase = 'warp'");
    cr_assert_eq(store_record_load(st, id, &r, &err), -1);
    cr_assert(strstr(err.msg, "phase \"warp\" of deployment") != NULL, "%s", err.msg);
    poke("UPDATE deployments SET notes = 'not json'; DELETE FROM steps");
    cr_assert_eq(store_record_load(st, id, &r, &err), 0, "%s", err.msg);
    cr_assert_null(r->decision, "notes that do not parse tell nothing");
    cr_assert_eq(r->nsteps, 0);
    cr_assert_null(r->steps);
    store_record_free(r);
    store_record_free(NULL);
}

/* ==== scratch databases and changes to live databases (store_scratch.c) ==== */

Test(store, scratch_is_owned_from_its_record_until_its_drop)
{
    struct tt_err err = {0};
    long long d1 = begin("shop"), d2 = begin("shop");
    cr_assert_eq(store_scratch_owned(st, d1, "tt_verify_a", "db:5432", &err), 0, "%s", err.msg);
    cr_assert_eq(store_scratch_record(st, d1, "tt_verify_a", "verify", "db:5432", &err), 0, "%s",
                 err.msg);
    cr_assert_eq(store_scratch_owned(st, d1, "tt_verify_a", "db:5432", &err), 1);
    /* another deployment, or the same name on another server, does not own it */
    cr_assert_eq(store_scratch_owned(st, d2, "tt_verify_a", "db:5432", &err), 0);
    cr_assert_eq(store_scratch_owned(st, d1, "tt_verify_a", "other:5432", &err), 0);
    struct store_scratch_list l = {0};
    cr_assert_eq(store_scratch_pending(st, d1, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.v[0].name, "tt_verify_a");
    cr_assert_str_eq(l.v[0].purpose, "verify");
    cr_assert_str_eq(l.v[0].server, "db:5432");
    store_scratch_list_clear(&l);
    cr_assert_eq(store_scratch_dropped(st, d1, "tt_verify_a", "db:5432", &err), 0, "%s", err.msg);
    cr_assert_eq(store_scratch_owned(st, d1, "tt_verify_a", "db:5432", &err), 0);
    cr_assert_eq(store_scratch_pending(st, d1, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 0);
    store_scratch_list_clear(&l);
}

Test(store, scratch_record_needs_a_deployment_and_a_writable_store)
{
    struct tt_err err = {0};
    /* no deployment 999: the foreign key refuses, and nothing is owned */
    cr_assert_eq(store_scratch_record(st, 999, "tt_verify_b", "verify", "db:5432", &err), -1);
    cr_assert(strstr(err.msg, "state store"), "%s", err.msg);
    cr_assert_eq(store_scratch_owned(st, 999, "tt_verify_b", "db:5432", &err), 0);
    long long d = begin("shop");
    poke("CREATE TRIGGER no_scratch BEFORE INSERT ON scratch_databases BEGIN SELECT "
         "RAISE(FAIL, 'disk I/O error'); END;");
    memset(&err, 0, sizeof(err));
    cr_assert_eq(store_scratch_record(st, d, "tt_verify_c", "verify", "db:5432", &err), -1);
    cr_assert(strstr(err.msg, "disk I/O error"), "%s", err.msg);
    cr_assert_eq(store_scratch_owned(st, d, "tt_verify_c", "db:5432", &err), 0);
}

Test(store, database_changes_pending_newest_first_until_undone_or_kept)
{
    struct tt_err err = {0};
    long long d = begin("shop"), deny = 0, ren = 0;
    cr_assert_eq(store_db_change_record(st, d, "db:5432", "shop", STORE_DB_DENY_CONNECTIONS, NULL,
                                        &deny, &err),
                 0, "%s", err.msg);
    cr_assert_eq(store_db_change_record(st, d, "db:5432", "shop", STORE_DB_RENAMED_TO,
                                        "tt_pre_restore_x", &ren, &err),
                 0, "%s", err.msg);
    cr_assert(deny > 0 && ren > deny);
    struct store_db_change_list l = {0};
    cr_assert_eq(store_db_change_pending(st, d, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.v[0].id, ren); /* the order to undo them in */
    cr_assert_eq(l.v[0].change, STORE_DB_RENAMED_TO);
    cr_assert_str_eq(l.v[0].target, "tt_pre_restore_x");
    cr_assert_eq(l.v[1].change, STORE_DB_DENY_CONNECTIONS);
    cr_assert_null(l.v[1].target);
    cr_assert_str_eq(l.v[1].database, "shop");
    cr_assert_str_eq(l.v[1].server, "db:5432");
    store_db_change_list_clear(&l);
    cr_assert_eq(store_db_change_end(st, ren, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(store_db_change_end(st, deny, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(store_db_change_pending(st, d, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(l.n, 0);
    store_db_change_list_clear(&l);
    cr_assert_str_eq(store_db_change_name(STORE_DB_RENAMED_TO), "renamed_to");
    cr_assert_str_eq(store_db_change_name(STORE_DB_DENY_CONNECTIONS), "deny_connections");
}

Test(store, an_unknown_database_change_is_an_error)
{
    struct tt_err err = {0};
    long long d = begin("shop");
    struct buf sql = {0};
    buf_printf(&sql,
               "INSERT INTO database_changes (deployment_id, server, database, change, made_at) "
               "VALUES (%lld, 'db:5432', 'shop', 'set_owner', 1)",
               d);
    poke(sql.data);
    buf_release(&sql);
    struct store_db_change_list l = {0};
    cr_assert_eq(store_db_change_pending(st, d, &l, &err), -1);
    cr_assert(strstr(err.msg, "set_owner") && strstr(err.msg, "upgrade ttdeploy"), "%s", err.msg);
    cr_assert_eq(l.n, 0);
}

/* ---- the audit key and keyed digests (store_key.c), UTF-8 in and out -------- */

#include "sha256.h"
#include "utf8.h"

#include <fcntl.h>

/* The file's content, or "" when it cannot be read (the caller frees). */
static char *slurp(const char *file)
{
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    FILE *f = fopen(file, "rb");
    while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&b, chunk, n);
    if (f)
        fclose(f);
    return buf_detach(&b);
}

/* Whether needle occurs in the n bytes of hay. */
static int holds(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

Test(store, hmac_sha256_matches_rfc_4231)
{
    char hex[SHA256_HEX_LEN + 1];
    unsigned char k1[20], k6[131];
    memset(k1, 0x0b, sizeof(k1));
    hmac_sha256_hex(k1, sizeof(k1), "Hi There", 8, hex); /* test case 1 */
    cr_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex); /* test case 2 */
    cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k6, 0xaa, sizeof(k6)); /* test case 6: a key longer than the block */
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_sha256_hex(k6, sizeof(k6), m6, strlen(m6), hex);
    cr_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(store, the_audit_key_is_made_0600_beside_the_store_and_never_in_it)
{
    struct tt_err err = {0};
    char d1[STORE_HMAC_TEXT_LEN + 1], d2[STORE_HMAC_TEXT_LEN + 1], hex[SHA256_HEX_LEN + 1];
    struct buf want = {0};
    buf_printf(&want, "%s/.ttdeploy/state.key", dir);
    cr_assert_str_eq(store_key_path(st), want.data, "state.db's key is state.key");
    cr_assert_neq(access(want.data, F_OK), 0, "no key until a digest is needed");
    cr_assert_eq(store_hmac(st, "hunter2-secret", d1, &err), 0, "%s", err.msg);
    struct stat kst;
    cr_assert_eq(lstat(want.data, &kst), 0);
    cr_assert(S_ISREG(kst.st_mode));
    cr_assert_eq(kst.st_mode & 0777, 0600);
    char *key = slurp(want.data);
    cr_assert_eq(strlen(key), 65, "64 hex digits and a newline");
    cr_assert_eq(strncmp(d1, STORE_HMAC_PREFIX, 12), 0, "%s", d1);
    cr_assert_eq(strlen(d1), STORE_HMAC_TEXT_LEN);
    /* the digest is HMAC-SHA256 under the key in the file */
    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        sscanf(key + 2 * i, "%2hhx", &raw[i]);
    hmac_sha256_hex(raw, 32, "hunter2-secret", 14, hex);
    cr_assert_str_eq(d1 + 12, hex);
    /* equal values, equal digests; read back by a second opening */
    struct store *again;
    cr_assert_eq(store_open(path, &again, &err), 0, "%s", err.msg);
    cr_assert_eq(store_hmac(again, "hunter2-secret", d2, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d1, d2, "the key is read back, not made again");
    cr_assert_eq(store_hmac_matches(again, d1, "hunter2-secret", &err), 1, "%s", err.msg);
    cr_assert_eq(store_hmac_matches(again, d1, "hunter3-secret", &err), 0, "%s", err.msg);
    cr_assert_eq(store_hmac_matches(again, "debug", "debug", &err), 1, "public: as written");
    store_close(again);
    /* the key is not in the store, the WAL included */
    struct store_release rel = {.service = "api", .environment = d1};
    long long id = begin("shop");
    cr_assert_eq(store_release_record(st, id, &rel, &err), 0, "%s", err.msg);
    for (int w = 0; w < 2; w++) {
        struct buf f = {0};
        buf_printf(&f, "%s%s", path, w ? "-wal" : "");
        char *db = slurp(f.data);
        size_t n = 0;
        struct stat dst;
        if (stat(f.data, &dst) == 0)
            n = (size_t)dst.st_size;
        cr_assert_not(holds(db, n, key), "the key's hex is not in %s", f.data);
        cr_assert_not(memmem(db, n, raw, 32), "nor its bytes");
        cr_assert_not(holds(db, n, "hunter2-secret"));
        free(db);
        buf_release(&f);
    }
    free(key);
    buf_release(&want);
}

Test(store, another_store_has_another_key_so_other_digests)
{
    struct tt_err err = {0};
    char d1[STORE_HMAC_TEXT_LEN + 1], d2[STORE_HMAC_TEXT_LEN + 1];
    char *other_dir = tu_tmpdir();
    struct buf other = {0};
    struct store *o;
    buf_printf(&other, "%s/audit.sqlite", other_dir);
    cr_assert_eq(store_open(other.data, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(store_hmac(st, "hunter2-secret", d1, &err), 0, "%s", err.msg);
    cr_assert_eq(store_hmac(o, "hunter2-secret", d2, &err), 0, "%s", err.msg);
    cr_assert_str_neq(d1, d2, "a digest is no oracle across stores");
    struct buf k = {0};
    buf_printf(&k, "%s.key", other.data);
    cr_assert_str_eq(store_key_path(o), k.data, "a name without .db gets .key appended");
    store_close(o);
    buf_printf(&k, "; rm -rf '%s'", other_dir);
    cr_assert_eq(system(k.data + strlen(other.data) + 6), 0);
    buf_release(&k);
    buf_release(&other);
    free(other_dir);
}

/* Writes text as the store's key file, mode mode (replacing any). */
static void put_key(struct store *s, const char *text, mode_t mode)
{
    unlink(store_key_path(s));
    int fd = open(store_key_path(s), O_WRONLY | O_CREAT | O_EXCL, mode);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

Test(store, a_key_others_can_read_a_link_or_a_bad_key_is_refused)
{
    struct tt_err err = {0};
    char d[STORE_HMAC_TEXT_LEN + 1];
    const char *good = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    struct store *s2;

    put_key(st, good, 0644);
    cr_assert_eq(store_hmac(st, "v", d, &err), -1);
    cr_assert(strstr(err.msg, "readable by its owner only") && strstr(err.msg, "chmod 600"), "%s",
              err.msg);
    put_key(st, "not hex at all\n", 0600);
    cr_assert_eq(store_hmac(st, "v", d, &err), -1);
    cr_assert(strstr(err.msg, "not 64 hex digits"), "%s", err.msg);
    unlink(store_key_path(st));
    struct buf target = {0};
    buf_printf(&target, "%s/elsewhere", dir);
    free(tu_write(dir, "elsewhere", good));
    cr_assert_eq(symlink(target.data, store_key_path(st)), 0);
    cr_assert_eq(store_hmac(st, "v", d, &err), -1);
    cr_assert(strstr(err.msg, "symbolic link"), "%s", err.msg);
    buf_release(&target);
    /* a good key, written by hand, is used as it is */
    put_key(st, good, 0600);
    cr_assert_eq(store_hmac(st, "v", d, &err), 0, "%s", err.msg);
    unsigned char raw[32];
    char hex[SHA256_HEX_LEN + 1];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    hmac_sha256_hex(raw, 32, "v", 1, hex);
    cr_assert_str_eq(d + 12, hex);
    /* a missing key is never made to compare: nothing recorded would match it */
    cr_assert_eq(store_open(path, &s2, &err), 0, "%s", err.msg);
    unlink(store_key_path(s2));
    cr_assert_eq(store_hmac_matches(s2, d, "v", &err), -1);
    cr_assert(strstr(err.msg, "is missing"), "%s", err.msg);
    cr_assert_neq(access(store_key_path(s2), F_OK), 0, "matching made no key");
    store_close(s2);
}

Test(store, text_that_is_not_utf8_is_stored_and_read_as_utf8)
{
    struct tt_err err = {0};
    long long id = begin("shop"), step = 0;
    struct buf detail = {0};
    buf_adds(&detail, "out: \xFF\xFE ");
    for (int i = 0; i < 200; i++)
        buf_adds(&detail, "\xC3\xA9");
    detail.data[301] = '\0'; /* 8 bytes, then a cut inside the 147th 'é' */
    cr_assert_eq(store_step_begin(st, id, DEPLOY_VERIFY, NULL, "check", "run \xC3", &step, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(store_step_end(st, step, STEP_FAILED, detail.data, "exit 1: \x80", &err), 0, "%s",
                 err.msg);
    cr_assert_eq(store_deployment_finish(st, id, DEPLOY_FAILED, "bad \xE2\x82", &err), 0, "%s",
                 err.msg);
    json_t *d = store_show(st, id, &err);
    cr_assert_not_null(d, "%s", err.msg);
    json_t *s0 = json_array_get(json_object_get(d, "steps"), 0);
    cr_assert_not_null(s0, "the step is not dropped");
    const char *got = json_string_value(json_object_get(s0, "detail"));
    cr_assert_not_null(got, "the detail is a string, not null");
    cr_assert_eq(strncmp(got, "out: " UTF8_REPLACEMENT UTF8_REPLACEMENT " ", 5 + 6 + 1), 0, "%s",
                 got);
    cr_assert(strstr(got, "\xC3\xA9" UTF8_REPLACEMENT), "the cut 'é' is one U+FFFD: %s", got);
    cr_assert_str_eq(json_string_value(json_object_get(s0, "intent")), "run " UTF8_REPLACEMENT);
    cr_assert_str_eq(json_string_value(json_object_get(s0, "error")), "exit 1: " UTF8_REPLACEMENT);
    cr_assert_str_eq(json_string_value(json_object_get(d, "error")), "bad " UTF8_REPLACEMENT);
    json_decref(d);
    json_t *h = store_history(st, &(struct store_history_filter){0}, &err);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(h, 0), "error")),
                     "bad " UTF8_REPLACEMENT);
    json_decref(h);
    /* a store written before (raw bytes in the file) still reads as UTF-8 */
    struct buf sql = {0};
    buf_printf(&sql, "UPDATE deployments SET error = CAST(X'6F6C64FF' AS TEXT) WHERE id = %lld",
               id);
    poke(sql.data);
    d = store_show(st, id, &err);
    cr_assert_str_eq(json_string_value(json_object_get(d, "error")), "old" UTF8_REPLACEMENT);
    json_decref(d);
    struct store_record *r;
    cr_assert_eq(store_record_load(st, id, &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r->error, "old" UTF8_REPLACEMENT);
    store_record_free(r);
    buf_release(&sql);
    buf_release(&detail);
}
