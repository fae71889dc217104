/*
 * pgdb_migrate.c - SQL migrations: NNNN_name.sql files (and their
 * .down.sql), applied and reverted in order.
 *
 * The version table is ttdeploy_schema_migrations (version, name,
 * checksum, applied_at).  Migrations run under an advisory lock on a fixed
 * key (taken within timeouts.lock, or the error names its holder), so two
 * deployers never apply the same migration twice, and each in
 * its own transaction together with its row in the version table: a
 * migration is applied and recorded, or neither.
 */
#include "pgdb.h"
#include "buf.h"
#include "monotime.h"
#include "sha256.h"

#include <libpq-fe.h>

#include "pgdb_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PGDB_LOCK_KEY 7331000 /* advisory lock key of ttdeploy migrations */

static int cmp_migration(const void *a, const void *b)
{
    const struct pgdb_migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static int read_file(const char *path, struct buf *out, struct tt_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    if (!f)
        return tt_error_at(err, path, 0, 0, "cannot read: %s", strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(out, chunk, n);
    fclose(f);
    buf_grow(out, 0);
    return 0;
}

int pgdb_migrations_load(const char *dir, struct pgdb_migrations *out, struct tt_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!d)
        return tt_error(err, "migrations directory %s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (len < 8 || strcmp(n + len - 7, ".up.sql") || !isdigit((unsigned char)n[0]))
            continue;
        char *end;
        long long version = strtoll(n, &end, 10);
        if (*end != '_' || end + 1 >= n + len - 7) {
            rc = tt_error(err, "migration %s/%s: name it NNNN_name.up.sql", dir, n);
            break;
        }
        for (size_t i = 0; i < out->n; i++)
            if (out->v[i].version == version)
                rc = tt_error(err, "migrations %s and %s in %s have the same version %lld",
                              out->v[i].name, n, dir, version);
        if (rc)
            break;
        out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
        struct pgdb_migration *m = &out->v[out->n++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        m->name = xstrndup(n, len - 7);
        struct buf p = {0}, body = {0};
        buf_printf(&p, "%s/%s", dir, n);
        m->up_path = buf_detach(&p);
        buf_printf(&p, "%s/%s.down.sql", dir, m->name);
        m->down_path = access(p.data, R_OK) == 0 ? buf_detach(&p) : NULL;
        buf_release(&p);
        rc = read_file(m->up_path, &body, err);
        if (rc == 0)
            sha256_hex(body.data, body.len, m->checksum);
        buf_release(&body);
    }
    closedir(d);
    if (rc == 0 && out->n)
        qsort(out->v, out->n, sizeof(*out->v), cmp_migration);
    if (rc < 0)
        pgdb_migrations_clear(out);
    return rc;
}

void pgdb_migrations_clear(struct pgdb_migrations *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].up_path);
        free(m->v[i].down_path);
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static const char *const version_table =
    "CREATE TABLE IF NOT EXISTS ttdeploy_schema_migrations ("
    " version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

int pgdb_migrations_current(struct pgdb *c, char **version, struct tt_err *err)
{
    char *exists = NULL;
    *version = NULL;
    if (pgdb_value(c, "SELECT to_regclass('ttdeploy_schema_migrations') IS NOT NULL", &exists,
                   err) < 0)
        return -1;
    int have = exists && !strcmp(exists, "t");
    free(exists);
    if (!have) {
        *version = xstrdup("0");
        return 0;
    }
    if (pgdb_value(c, "SELECT COALESCE(max(version), 0) FROM ttdeploy_schema_migrations", version,
                   err) < 0)
        return -1;
    return 0;
}

/* Checks applied checksums; fills pending with the indexes of migrations not yet applied. */
static int diff_applied(struct pgdb *c, const struct pgdb_migrations *m, size_t *pending,
                        size_t *npending, struct tt_err *err)
{
    PGresult *r =
        pgdb_query(c, "SELECT version, name, checksum FROM ttdeploy_schema_migrations", err);
    int rc = 0;
    *npending = 0;
    if (!r)
        return -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return tt_error(err, "cannot read ttdeploy_schema_migrations: %s", PQerrorMessage(c->conn));
    }
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        int applied = 0;
        for (int k = 0; k < PQntuples(r); k++) {
            if (strtoll(PQgetvalue(r, k, 0), NULL, 10) != m->v[i].version)
                continue;
            applied = 1;
            if (strcmp(PQgetvalue(r, k, 2), m->v[i].checksum))
                rc = tt_error(err,
                              "migration %s was changed after it was applied (checksum %.12s, "
                              "applied %.12s): never edit an applied migration; add a new one",
                              m->v[i].name, m->v[i].checksum, PQgetvalue(r, k, 2));
        }
        if (!applied)
            pending[(*npending)++] = i;
    }
    PQclear(r);
    return rc;
}

int pgdb_migrations_pending(struct pgdb *c, const struct pgdb_migrations *m, struct strv *pending,
                            struct tt_err *err)
{
    char *cur = NULL;
    size_t *idx = xcalloc(m->n + 1, sizeof(size_t)), n = 0;
    int rc = pgdb_migrations_current(c, &cur, err);
    if (rc == 0 && strcmp(cur, "0"))
        rc = diff_applied(c, m, idx, &n, err);
    else if (rc == 0)
        for (size_t i = 0; i < m->n; i++)
            idx[n++] = i;
    for (size_t i = 0; rc == 0 && i < n; i++)
        strv_push(pending, m->v[idx[i]].name);
    free(idx);
    free(cur);
    return rc;
}

/* The SQL that records migration mg as applied (up) or removes its row (down). */
static void version_row_sql(struct pgdb *c, const struct pgdb_migration *mg, int up,
                            struct buf *out)
{
    if (!up) {
        buf_printf(out, "DELETE FROM ttdeploy_schema_migrations WHERE version = %lld", mg->version);
        return;
    }
    char *name = PQescapeLiteral(c->conn, mg->name, strlen(mg->name));
    buf_printf(out,
               "INSERT INTO ttdeploy_schema_migrations (version, name, checksum) VALUES "
               "(%lld, %s, '%s')",
               mg->version, name, mg->checksum);
    PQfreemem(name);
}

/*
 * Runs migration mg one way, in one transaction with its row in the
 * version table: up its .up.sql (and records it), down its .down.sql (and
 * deletes its row).  done receives its name.  Errors name it "migration
 * 0003_x" or "downgrade 0003_x".
 */
static int run_migration(struct pgdb *c, const struct pgdb_migration *mg, int up, struct strv *done,
                         struct tt_err *err)
{
    struct buf sql = {0}, record = {0};
    struct tt_err e2 = {0};
    int rc = read_file(up ? mg->up_path : mg->down_path, &sql, err);

    if (rc < 0)
        return rc;
    version_row_sql(c, mg, up, &record);
    rc = pgdb_exec(c, "BEGIN", err);
    if (rc == 0 && pgdb_exec(c, sql.data, &e2) < 0)
        rc = tt_error(err, "%s %s failed: %s", up ? "migration" : "downgrade", mg->name, e2.msg);
    if (rc == 0)
        rc = pgdb_exec(c, record.data, err);
    if (rc == 0)
        rc = pgdb_exec(c, "COMMIT", err);
    else
        pgdb_exec(c, "ROLLBACK", &e2);
    if (rc == 0)
        strv_push(done, mg->name);
    buf_release(&sql);
    buf_release(&record);
    return rc;
}

/* Who holds the migration lock on c's database, as a phrase for a message; NULL: nobody. */
static char *lock_holder(struct pgdb *c)
{
    static const char who_sql[] =
        "SELECT format('pid %s (application %s, from %s, connected since %s, %s); if it is "
        "stuck, end it with SELECT pg_terminate_backend(%s)', a.pid, coalesce(nullif("
        "a.application_name, ''), 'unnamed'), coalesce(host(a.client_addr), 'a local socket'), "
        "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), coalesce(a.state, 'state "
        "unknown'), a.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE "
        "l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1 AND "
        "l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
        "l.objid = ";
    struct buf q = {0};
    struct tt_err e = {0};
    char *who = NULL;
    buf_printf(&q, "%s%d LIMIT 1", who_sql, PGDB_LOCK_KEY);
    if (pgdb_value(c, q.data, &who, &e) < 0) {
        free(who);
        who = NULL;
    }
    buf_release(&q);
    return who;
}

int pgdb_migration_lock_holder(struct pgdb *c, char **who, struct tt_err *err)
{
    char sql[320], *n = NULL;
    *who = NULL;
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
             "classid = 0 AND objsubid = 1 AND objid = %d AND database = (SELECT oid FROM "
             "pg_database WHERE datname = current_database())",
             PGDB_LOCK_KEY);
    if (pgdb_value(c, sql, &n, err) < 0)
        return -1;
    int held = n && strcmp(n, "0");
    free(n);
    if (!held)
        return 0;
    *who = lock_holder(c);
    if (!*who)
        *who = xstrdup("another session");
    return 1;
}

/*
 * Takes the advisory lock of ttdeploy migrations, trying until
 * timeouts.lock: another deployment migrating the same database makes
 * this one fail, naming the session that holds the lock, instead of
 * waiting for it without end.
 */
static int advisory_lock(struct pgdb *c, struct tt_err *err)
{
    double limit = pgdb_timeouts_now()->lock_ms / 1000.0, until = monotime_now() + limit;
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d)", PGDB_LOCK_KEY);
    for (;;) {
        char *got = NULL;
        if (pgdb_value(c, sql, &got, err) < 0)
            return -1;
        int taken = got && !strcmp(got, "t");
        free(got);
        if (taken)
            return 0;
        if (monotime_now() >= until)
            break;
        usleep(200000);
    }
    char *who = lock_holder(c);
    tt_error(err,
             "the migration lock (PostgreSQL advisory lock %d on database %s) was not free "
             "within %g s (timeouts.lock): %s%s",
             PGDB_LOCK_KEY, PQdb(c->conn), limit,
             who ? "it is held by " : "another session held it",
             who ? who : "; another deployment may be migrating: try again when it is done");
    free(who);
    return -1;
}

static int advisory_unlock(struct pgdb *c, struct tt_err *err)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d)", PGDB_LOCK_KEY);
    return pgdb_exec(c, sql, err);
}

int pgdb_migrations_apply(struct pgdb *c, const struct pgdb_migrations *m, struct strv *applied,
                          struct tt_err *err)
{
    size_t *idx = xcalloc(m->n + 1, sizeof(size_t)), n = 0;
    struct tt_err e3 = {0};
    int rc = advisory_lock(c, err);

    if (rc == 0)
        rc = pgdb_exec(c, version_table, err);
    if (rc == 0)
        rc = diff_applied(c, m, idx, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = run_migration(c, &m->v[idx[i]], 1, applied, err);
    advisory_unlock(c, &e3);
    free(idx);
    return rc;
}

int pgdb_migrations_downgrade(struct pgdb *c, const struct pgdb_migrations *m, long long target,
                              struct strv *reverted, struct tt_err *err)
{
    struct tt_err e3 = {0};
    char *current = NULL;
    int rc = advisory_lock(c, err);

    if (rc == 0)
        rc = pgdb_migrations_current(c, &current, err);
    long long at = current ? atoll(current) : 0;
    /* Check the whole way down first: no half downgrade for want of a file. */
    for (size_t i = m->n; rc == 0 && i-- > 0;) {
        const struct pgdb_migration *mg = &m->v[i];
        if (mg->version > at || mg->version <= target)
            continue;
        if (!mg->down_path)
            rc = tt_error(err,
                          "migration %s has no %04lld_*.down.sql, so the schema cannot go back to "
                          "%lld: write one, or roll back with restore",
                          mg->name, mg->version, target);
    }
    for (size_t i = m->n; rc == 0 && i-- > 0;)
        if (m->v[i].version <= at && m->v[i].version > target)
            rc = run_migration(c, &m->v[i], 0, reverted, err);
    advisory_unlock(c, &e3);
    free(current);
    return rc;
}
