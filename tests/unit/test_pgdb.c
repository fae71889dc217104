/*
 * test_pgdb.c - the database adapter's failure paths against a real
 * PostgreSQL: a private cluster of the host's postgresql-15 binaries
 * (initdb and pg_ctl on a scratch directory and a private port), made for
 * each test and removed after it.  Scratch database names stay short and
 * never reach the live database, scratch connections are built from the
 * url's parsed parts, and a swap that fails leaves the live database as it
 * was.  Tests that need the server are skipped when the binaries are
 * missing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "monotime.h"
#include "pgdb.h"
#include "plan.h"
#include "testutil.h"

#define PGBIN "/usr/lib/postgresql/15/bin"

/* A database name of 63 bytes, the most PostgreSQL keeps: any suffix is cut off again. */
#define LONG_DB "shop_inventory_and_orders_of_the_northern_warehouse_region_x_eu"

static char *dir;
static int port;
static int have_server;

/* Runs cmd as the postgres user when we are root (initdb refuses root). */
static int run_pg(const char *cmd)
{
    struct buf full = {0};
    if (geteuid() == 0)
        buf_printf(&full, "runuser -u postgres -- sh -c '%s' >/dev/null 2>&1", cmd);
    else
        buf_printf(&full, "sh -c '%s' >/dev/null 2>&1", cmd);
    int rc = system(full.data);
    buf_release(&full);
    return rc;
}

static void pg_start(void)
{
    struct buf cmd = {0};
    have_server = 0;
    dir = tu_tmpdir();
    port = 21000 + getpid() % 4000;
    if (access(PGBIN "/initdb", X_OK) != 0)
        return;
    if (geteuid() == 0) {
        buf_printf(&cmd, "chown postgres '%s'", dir);
        cr_assert_eq(system(cmd.data), 0);
        buf_reset(&cmd);
    }
    buf_printf(&cmd,
               PGBIN "/initdb -D %s/data -U postgres -A trust && " PGBIN "/pg_ctl -D %s/data -w "
                     "-o \"-p %d -k %s -c listen_addresses=127.0.0.1\" start",
               dir, dir, port, dir);
    have_server = run_pg(cmd.data) == 0;
    buf_release(&cmd);
}

static void pg_stop(void)
{
    struct buf cmd = {0};
    if (have_server) {
        buf_printf(&cmd, PGBIN "/pg_ctl -D %s/data -m immediate stop", dir);
        run_pg(cmd.data);
        buf_reset(&cmd);
    }
    buf_printf(&cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd.data), 0);
    buf_release(&cmd);
    free(dir);
}

TestSuite(pgdb, .init = pg_start, .fini = pg_stop, .timeout = 120);

/* The url of database db on the test's server (the caller frees); suffix is appended. */
static char *url_of(const char *db, const char *suffix)
{
    struct buf u = {0};
    buf_printf(&u, "postgresql://postgres@127.0.0.1:%d/%s%s", port, db, suffix ? suffix : "");
    return buf_detach(&u);
}

static void need_server(void)
{
    if (!have_server)
        cr_skip_test("no PostgreSQL 15 binaries in " PGBIN);
}

/* Runs sql on database db; asserts it worked. */
static void sql_on(const char *db, const char *sql)
{
    struct tt_err err = {0};
    char *url = url_of(db, NULL);
    struct pgdb *c = pgdb_connect(url, monotime_now() + 10, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(pgdb_exec(c, sql, &err), 0, "%s", err.msg);
    pgdb_close(c);
    free(url);
}

/* The value of sql on database db (caller frees), or NULL when db cannot be reached. */
static char *value_on(const char *db, const char *sql)
{
    struct tt_err err = {0};
    char *url = url_of(db, NULL), *v = NULL;
    struct pgdb *c = pgdb_connect(url, monotime_now() + 5, &err);
    if (c && pgdb_value(c, sql, &v, &err) < 0)
        v = NULL;
    pgdb_close(c);
    free(url);
    return v;
}

/* Creates database db holding a table of 3 rows. */
static void make_live(const char *db)
{
    struct buf q = {0};
    buf_printf(&q, "CREATE DATABASE \"%s\"", db);
    sql_on("postgres", q.data);
    sql_on(db, "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (3)");
    buf_release(&q);
}

static void assert_live_whole(const char *db)
{
    char *n = value_on(db, "SELECT count(*) FROM t");
    cr_assert_not_null(n, "the live database %s no longer accepts connections", db);
    cr_assert_str_eq(n, "3");
    free(n);
    struct buf q = {0};
    buf_printf(&q, "SELECT datallowconn FROM pg_database WHERE datname = '%s'", db);
    char *allow = value_on("postgres", q.data);
    cr_assert_str_eq(allow ? allow : "(gone)", "t", "%s must still allow connections", db);
    free(allow);
    buf_release(&q);
}

Test(pgdb, scratch_names_are_short_distinct_and_never_live)
{
    const char *purposes[] = {"rehearsal", "verify", "restore", "pre_restore_9223372036854775807"};
    for (size_t i = 0; i < 4; i++) {
        char *s = pgdb_scratch_name(purposes[i], LONG_DB, "9223372036854775807");
        cr_assert_lt(strlen(s), 63, "%s", s);
        cr_assert_str_neq(s, LONG_DB);
        cr_assert_eq(strncmp(s, "tt_", 3), 0, "%s", s);
        char *other = pgdb_scratch_name(purposes[i], LONG_DB, "8");
        char *other_db = pgdb_scratch_name(purposes[i], "shop", "9223372036854775807");
        cr_assert_str_neq(s, other);
        cr_assert_str_neq(s, other_db);
        free(s);
        free(other);
        free(other_db);
    }
}

Test(pgdb, urls_are_parsed_not_edited)
{
    struct tt_err err = {0};
    const char *url = "postgresql://app:p%40ss@db.local:5432/shop?sslmode=disable";
    char *db = pgdb_url_db(url), *user, *password;
    cr_assert_str_eq(db, "shop");
    free(db);
    pgdb_url_credentials(url, &user, &password);
    cr_assert_str_eq(user, "app");
    cr_assert_str_eq(password, "p@ss", "percent-decoded");
    free(user);
    free(password);
    char *ci = pgdb_conninfo_with_db(url, "tt_verify_x", NULL, &err);
    cr_assert_not_null(ci, "%s", err.msg);
    cr_assert(strstr(ci, "dbname='tt_verify_x'"), "%s", ci);
    cr_assert(strstr(ci, "password='p@ss'"), "%s", ci);
    cr_assert(strstr(ci, "sslmode='disable'"), "%s", ci);
    cr_assert_null(strstr(ci, "shop"), "%s", ci);
    free(ci);
    cr_assert_null(pgdb_url_db("postgresql://host"));
}

Test(pgdb, a_url_whose_options_name_the_database_is_refused)
{
    struct tt_err err = {0};
    cr_assert_eq(pgdb_url_check("postgresql://u@h:5432/shop?sslmode=disable", &err), 0, "%s",
                 err.msg);
    cr_assert_eq(pgdb_url_check("postgresql://u@h:5432/shop?dbname=other", &err), -1);
    cr_assert(strstr(err.msg, "database.url") && strstr(err.msg, "dbname="), "%s", err.msg);
    cr_assert_eq(pgdb_url_check("postgresql://u@h/shop?sslmode=disable&service=x", &err), -1);
    cr_assert(strstr(err.msg, "service="), "%s", err.msg);
    cr_assert_eq(pgdb_url_check("postgresql://u@h:5432", &err), -1);
    cr_assert(strstr(err.msg, "names no database"), "%s", err.msg);
    cr_assert_null(pgdb_conninfo_with_db("postgresql://u@h/shop?dbname=other", "tt_x", NULL, &err));
}

Test(pgdb, the_plan_refuses_dbname_in_the_url_options)
{
    char *path =
        tu_write(dir, "plan.yml",
                 "version: 1\nproject: p\nrelease: {version: v1}\ndatabase:\n  service: postgres\n"
                 "  url: postgresql://u:pw@127.0.0.1:5432/shop?sslmode=disable&"
                 "dbname=shop_live\n");
    struct plan *p = NULL;
    struct tt_err err = {0};
    struct vars v = {0};
    cr_assert_eq(plan_load(path, &v, &p, &err), -1);
    cr_assert(strstr(err.msg, "database url sets dbname="), "%s", err.msg);
    free(path);
}

Test(pgdb, a_scratch_connection_never_reaches_the_live_database)
{
    need_server();
    struct tt_err err = {0};
    make_live("shop");
    /* ?dbname= would have sent a "scratch" connection to the live database */
    char *url = url_of("postgres", "?dbname=shop");
    cr_assert_null(pgdb_connect_db(url, "tt_verify_x", monotime_now() + 5, &err));
    cr_assert(strstr(err.msg, "database.url"), "%s", err.msg);
    cr_assert_eq(pgdb_create_database(url, "tt_verify_x", monotime_now() + 5, &err), -1);
    free(url);
    url = url_of("shop", "?sslmode=disable");
    char *scratch = pgdb_scratch_name("verify", "shop", "1");
    cr_assert_eq(pgdb_create_database(url, scratch, monotime_now() + 5, &err), 0, "%s", err.msg);
    struct pgdb *c = pgdb_connect_db(url, scratch, monotime_now() + 5, &err);
    cr_assert_not_null(c, "%s", err.msg);
    char *where = NULL;
    cr_assert_eq(pgdb_value(c, "SELECT current_database()", &where, &err), 0, "%s", err.msg);
    cr_assert_str_eq(where, scratch);
    free(where);
    pgdb_close(c);
    cr_assert_eq(pgdb_drop_database(url, scratch, monotime_now() + 5, &err), 0, "%s", err.msg);
    assert_live_whole("shop");
    free(scratch);
    free(url);
}

Test(pgdb, a_long_live_name_survives_its_scratch_copies)
{
    need_server();
    struct tt_err err = {0};
    make_live(LONG_DB);
    char *url = url_of(LONG_DB, NULL);
    const char *purposes[] = {"rehearsal", "verify", "restore"};
    for (size_t i = 0; i < 3; i++) {
        char *s = pgdb_scratch_name(purposes[i], LONG_DB, "42");
        if (i == 0)
            cr_assert_eq(pgdb_copy_database(url, s, monotime_now() + 5, &err), 0, "%s", err.msg);
        else
            cr_assert_eq(pgdb_create_database(url, s, monotime_now() + 5, &err), 0, "%s", err.msg);
        cr_assert_eq(pgdb_drop_database(url, s, monotime_now() + 5, &err), 0, "%s", err.msg);
        free(s);
    }
    assert_live_whole(LONG_DB);
    /* and a drop of the live database, or of anything not a scratch copy, is refused */
    cr_assert_eq(pgdb_drop_database(url, LONG_DB, monotime_now() + 5, &err), -1);
    cr_assert(strstr(err.msg, "live database"), "%s", err.msg);
    cr_assert_eq(pgdb_create_database(url, "postgres", monotime_now() + 5, &err), -1);
    cr_assert(strstr(err.msg, "not a scratch copy"), "%s", err.msg);
    assert_live_whole(LONG_DB);
    free(url);
}

Test(pgdb, a_swap_whose_rename_fails_leaves_live_accepting_connections)
{
    need_server();
    struct tt_err err = {0};
    make_live("shop");
    sql_on("postgres", "CREATE DATABASE tt_restore_a");
    sql_on("postgres", "CREATE DATABASE tt_pre_restore_a"); /* taken: the rename fails */
    char *url = url_of("shop", NULL);
    long long writes = -1;
    cr_assert_eq(pgdb_swap_database(url, "shop", "tt_restore_a", "tt_pre_restore_a", &writes,
                                    monotime_now() + 10, NULL, &err),
                 -1);
    cr_assert(strstr(err.msg, "already exists"), "%s", err.msg);
    cr_assert(strstr(err.msg, "left as it was"), "%s", err.msg);
    assert_live_whole("shop");
    free(url);
}

Test(pgdb, a_swap_whose_second_rename_fails_puts_live_back)
{
    need_server();
    struct tt_err err = {0};
    make_live("shop");
    char *url = url_of("shop", NULL);
    /* no tt_restore_b: the rename of the replacement fails after live was renamed */
    cr_assert_eq(pgdb_swap_database(url, "shop", "tt_restore_b", "tt_pre_restore_b", NULL,
                                    monotime_now() + 10, NULL, &err),
                 -1);
    cr_assert(strstr(err.msg, "left as it was"), "%s", err.msg);
    assert_live_whole("shop");
    char *kept = value_on("postgres", "SELECT count(*) FROM pg_database WHERE datname = "
                                      "'tt_pre_restore_b'");
    cr_assert_str_eq(kept, "0");
    free(kept);
    free(url);
}

/* ---- bounded waits (issue 13): a frozen server never holds ttdeploy -------- */

/* Bounds of a second or two for the tests below; the defaults come back after. */
static void short_bounds(long connect_ms, long statement_ms, long lock_ms)
{
    struct pgdb_timeouts t = {connect_ms, statement_ms, lock_ms};
    pgdb_set_timeouts(&t);
}

static void default_bounds(void)
{
    struct pgdb_timeouts t = {0, 0, 0};
    pgdb_set_timeouts(&t);
}

/* The postmaster's pid, from the first line of postmaster.pid. */
static pid_t postmaster_pid(void)
{
    struct buf path = {0};
    buf_printf(&path, "%s/data/postmaster.pid", dir);
    FILE *f = fopen(path.data, "r");
    long pid = 0;
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    buf_release(&path);
    return (pid_t)pid;
}

Test(pgdb, every_connection_carries_the_bounds_and_a_name)
{
    need_server();
    short_bounds(3000, 1500, 700);
    char *url = url_of("postgres", NULL), *v = NULL;
    struct tt_err err = {0};
    struct pgdb *c = pgdb_connect(url, monotime_now() + 5, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(pgdb_value(c, "SHOW statement_timeout", &v, &err), 0, "%s", err.msg);
    cr_assert_str_eq(v, "1500ms");
    free(v);
    cr_assert_eq(pgdb_value(c, "SHOW lock_timeout", &v, &err), 0, "%s", err.msg);
    cr_assert_str_eq(v, "700ms");
    free(v);
    cr_assert_eq(pgdb_value(c, "SHOW application_name", &v, &err), 0, "%s", err.msg);
    cr_assert_str_eq(v, "ttdeploy");
    free(v);
    /* the server ends a statement that runs too long */
    double t0 = monotime_now();
    cr_assert_eq(pgdb_exec(c, "SELECT pg_sleep(5)", &err), -1);
    cr_assert(strstr(err.msg, "statement timeout"), "%s", err.msg);
    cr_assert_lt(monotime_now() - t0, 3.0);
    pgdb_close(c);
    free(url);
    default_bounds();
}

Test(pgdb, a_frozen_backend_fails_the_query_in_bounded_time)
{
    need_server();
    short_bounds(1000, 1000, 1000);
    char *url = url_of("postgres", NULL), *pid = NULL;
    struct tt_err err = {0};
    struct pgdb *c = pgdb_connect(url, monotime_now() + 5, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(pgdb_value(c, "SELECT pg_backend_pid()", &pid, &err), 0, "%s", err.msg);
    kill((pid_t)atol(pid), SIGSTOP); /* the server can enforce nothing now */
    double t0 = monotime_now();
    int rc = pgdb_exec(c, "SELECT 1", &err);
    double waited = monotime_now() - t0;
    kill((pid_t)atol(pid), SIGCONT);
    cr_assert_eq(rc, -1);
    cr_assert_geq(waited, 1.9);
    cr_assert_lt(waited, 4.0, "waited %g s", waited);
    char want[128];
    snprintf(want, sizeof(want),
             "PostgreSQL at 127.0.0.1:%d did not answer for 2 s while running "
             "\"SELECT 1\": is it frozen or overloaded?",
             port);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    /* the connection is not used again */
    cr_assert_eq(pgdb_exec(c, "SELECT 1", &err), -1);
    cr_assert(strstr(err.msg, "dropped"), "%s", err.msg);
    pgdb_close(c);
    free(pid);
    free(url);
    default_bounds();
}

Test(pgdb, a_frozen_server_fails_the_connection_in_bounded_time)
{
    need_server();
    short_bounds(1000, 1000, 1000);
    char *url = url_of("postgres", NULL);
    struct tt_err err = {0};
    pid_t pm = postmaster_pid();
    kill(pm, SIGSTOP);
    double t0 = monotime_now();
    /* a frozen server is not retried until the deadline: it is not starting */
    struct pgdb *c = pgdb_connect(url, monotime_now() + 30, &err);
    double waited = monotime_now() - t0;
    kill(pm, SIGCONT);
    cr_assert_null(c);
    cr_assert_lt(waited, 3.0, "waited %g s", waited);
    cr_assert(strstr(err.msg, "did not answer within 1 s (timeouts.connect): is it frozen"), "%s",
              err.msg);
    free(url);
    default_bounds();
}

Test(pgdb, a_held_migration_lock_fails_naming_its_holder)
{
    need_server();
    short_bounds(3000, 5000, 1000);
    make_live("shop");
    char *url = url_of("shop", NULL), *holder_pid = NULL;
    char *mdir = tu_tmpdir();
    free(tu_write(mdir, "0001_a.up.sql", "CREATE TABLE a (id int);"));
    struct tt_err err = {0};
    struct pgdb *holder = pgdb_connect(url, monotime_now() + 5, &err);
    struct pgdb *c = pgdb_connect(url, monotime_now() + 5, &err);
    cr_assert(holder && c, "%s", err.msg);
    cr_assert_eq(pgdb_value(holder, "SELECT pg_backend_pid()", &holder_pid, &err), 0);
    cr_assert_eq(pgdb_exec(holder, "SELECT pg_advisory_lock(7331000)", &err), 0, "%s", err.msg);
    struct pgdb_migrations m = {0};
    struct strv applied = {0};
    cr_assert_eq(pgdb_migrations_load(mdir, &m, &err), 0, "%s", err.msg);
    double t0 = monotime_now();
    cr_assert_eq(pgdb_migrations_apply(c, &m, &applied, &err), -1);
    double waited = monotime_now() - t0;
    cr_assert_lt(waited, 2.5, "waited %g s", waited);
    cr_assert(strstr(err.msg, "was not free within 1 s (timeouts.lock): it is held by pid "), "%s",
              err.msg);
    cr_assert(strstr(err.msg, holder_pid), "names pid %s: %s", holder_pid, err.msg);
    cr_assert(strstr(err.msg, "(application ttdeploy, from 127.0.0.1"), "%s", err.msg);
    cr_assert_eq(applied.n, 0);
    /* once it is free, the migrations run */
    cr_assert_eq(pgdb_exec(holder, "SELECT pg_advisory_unlock(7331000)", &err), 0);
    cr_assert_eq(pgdb_migrations_apply(c, &m, &applied, &err), 0, "%s", err.msg);
    cr_assert_eq(applied.n, 1);
    strv_clear(&applied);
    pgdb_migrations_clear(&m);
    pgdb_close(holder);
    pgdb_close(c);
    free(holder_pid);
    free(url);
    free(mdir);
    default_bounds();
}
