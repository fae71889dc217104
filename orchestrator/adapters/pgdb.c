/*
 * pgdb.c - libpq helpers and SQL migrations.
 *
 * The version table is ttdeploy_schema_migrations (version, name,
 * checksum, applied_at).  Migrations run under pg_advisory_lock on a fixed
 * key, so two deployers never apply the same migration twice, and each in
 * its own transaction together with its row in the version table: a
 * migration is applied and recorded, or neither.
 */
#include "pgdb.h"
#include "monotime.h"
#include "buf.h"
#include "sha256.h"

#include <libpq-fe.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PGDB_LOCK_KEY 7331000 /* advisory lock key of ttdeploy migrations */

/* One open connection; callers see only the name. */
struct pgdb {
    PGconn *conn;
};

/* Drops trailing white space and folds libpq's multi-line messages into one line. */
static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* libpq prints NOTICEs to stderr by default; a library must not print. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

struct pgdb *pgdb_connect(const char *url, double deadline, struct tt_err *err)
{
    for (;;) {
        PGconn *conn = PQconnectdb(url);
        if (PQstatus(conn) == CONNECTION_OK) {
            struct pgdb *c = xcalloc(1, sizeof(*c));
            PQsetNoticeProcessor(conn, quiet, NULL);
            c->conn = conn;
            return c;
        }
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQfinish(conn);
        trim(msg);
        int final = strstr(msg, "password authentication failed") ||
                    (strstr(msg, "database \"") && strstr(msg, "does not exist")) ||
                    strstr(msg, "invalid connection option") || strstr(msg, "invalid URI");
        if (final || monotime_now() >= deadline) {
            tt_error(err, "cannot connect to the database: %s", msg);
            return NULL;
        }
        usleep(250000);
    }
}

void pgdb_close(struct pgdb *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    free(c);
}

int pgdb_value(struct pgdb *c, const char *sql, char **value, struct tt_err *err)
{
    PGresult *r = PQexec(c->conn, sql);
    int rc = 0;
    *value = NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        trim(msg);
        rc = tt_error(err, "query failed: %s", msg);
    } else if (PQntuples(r) > 0 && PQnfields(r) > 0) {
        *value = xstrdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

int pgdb_exec(struct pgdb *c, const char *sql, struct tt_err *err)
{
    PGresult *r = PQexec(c->conn, sql);
    int rc = 0;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        trim(msg);
        rc = tt_error(err, "%s", msg);
    }
    PQclear(r);
    return rc;
}

/* Splits url into what comes before the database name, the name, and the rest (?params). */
static int split_url(const char *url, size_t *db_start, size_t *db_end)
{
    const char *scheme = strstr(url, "://");
    if (!scheme)
        return -1;
    const char *slash = strchr(scheme + 3, '/');
    if (!slash)
        return -1;
    *db_start = (size_t)(slash + 1 - url);
    *db_end = *db_start + strcspn(slash + 1, "?");
    return 0;
}

char *pgdb_url_with_db(const char *url, const char *db)
{
    size_t a, b;
    struct buf out = {0};
    if (split_url(url, &a, &b) < 0)
        return xstrdup(url);
    buf_add(&out, url, a);
    buf_adds(&out, db);
    buf_adds(&out, url + b);
    return buf_detach(&out);
}

void pgdb_url_credentials(const char *url, char **user, char **password)
{
    const char *scheme = strstr(url, "://");
    *user = *password = NULL;
    if (!scheme)
        return;
    const char *auth = scheme + 3;
    size_t span = strcspn(auth, "@/");
    if (auth[span] != '@')
        return;
    const char *colon = memchr(auth, ':', span);
    if (colon) {
        *user = xstrndup(auth, (size_t)(colon - auth));
        *password = xstrndup(colon + 1, (size_t)(auth + span - colon - 1));
    } else {
        *user = xstrndup(auth, span);
    }
}

char *pgdb_url_db(const char *url)
{
    size_t a, b;
    if (split_url(url, &a, &b) < 0 || a == b)
        return NULL;
    return xstrndup(url + a, b - a);
}

int pgdb_row_counts(struct pgdb *c, char **out, struct tt_err *err)
{
    PGresult *r = PQexec(c->conn, "SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                                  "('pg_catalog', 'information_schema') ORDER BY 1, 2");
    struct buf b = {0};
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return tt_error(err, "cannot list tables: %s", PQerrorMessage(c->conn));
    }
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        char *schema =
            PQescapeIdentifier(c->conn, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)));
        char *table = PQescapeIdentifier(c->conn, PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)));
        struct buf q = {0};
        char *n = NULL;
        buf_printf(&q, "SELECT count(*) FROM %s.%s", schema, table);
        rc = pgdb_value(c, q.data, &n, err);
        if (rc == 0)
            buf_printf(&b, "%s%s.%s=%s", b.len ? ", " : "", PQgetvalue(r, i, 0),
                       PQgetvalue(r, i, 1), n ? n : "0");
        free(n);
        PQfreemem(schema);
        PQfreemem(table);
        buf_release(&q);
    }
    PQclear(r);
    *out = buf_detach(&b);
    return rc;
}

/* ---- SQL migrations ----------------------------------------------------- */

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
    PGresult *r = PQexec(c->conn, "SELECT version, name, checksum FROM ttdeploy_schema_migrations");
    int rc = 0;
    *npending = 0;
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

/* Takes (lock) or gives back the advisory lock of ttdeploy migrations. */
static int advisory_lock(struct pgdb *c, int lock, struct tt_err *err)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_advisory_%s(%d)", lock ? "lock" : "unlock",
             PGDB_LOCK_KEY);
    return pgdb_exec(c, sql, err);
}

int pgdb_migrations_apply(struct pgdb *c, const struct pgdb_migrations *m, struct strv *applied,
                          struct tt_err *err)
{
    size_t *idx = xcalloc(m->n + 1, sizeof(size_t)), n = 0;
    struct tt_err e3 = {0};
    int rc = advisory_lock(c, 1, err);

    if (rc == 0)
        rc = pgdb_exec(c, version_table, err);
    if (rc == 0)
        rc = diff_applied(c, m, idx, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = run_migration(c, &m->v[idx[i]], 1, applied, err);
    advisory_lock(c, 0, &e3);
    free(idx);
    return rc;
}

/* ---- database copies ---------------------------------------------------- */

static struct pgdb *maintenance(const char *url, double deadline, struct tt_err *err)
{
    char *m = pgdb_url_with_db(url, "postgres");
    struct pgdb *c = pgdb_connect(m, deadline, err);
    free(m);
    return c;
}

int pgdb_copy_database(const char *url, const char *copy, double deadline, struct tt_err *err)
{
    char *db = pgdb_url_db(url);
    struct pgdb *c;
    int rc = -1;

    if (!db)
        return tt_error(err, "the database url names no database");
    if ((c = maintenance(url, deadline, err))) {
        char *src = PQescapeIdentifier(c->conn, db, strlen(db));
        char *dst = PQescapeIdentifier(c->conn, copy, strlen(copy));
        struct buf sql = {0};
        struct tt_err e2 = {0};
        buf_printf(&sql, "DROP DATABASE IF EXISTS %s", dst);
        pgdb_exec(c, sql.data, &e2);
        buf_reset(&sql);
        buf_printf(&sql, "CREATE DATABASE %s TEMPLATE %s", dst, src);
        rc = pgdb_exec(c, sql.data, &e2);
        if (rc < 0)
            tt_error(err, "cannot copy database %s to %s: %s", db, copy, e2.msg);
        PQfreemem(src);
        PQfreemem(dst);
        buf_release(&sql);
        pgdb_close(c);
    }
    free(db);
    return rc;
}

/* Drops database name, and creates it again empty when create is set. */
static int reset_database(const char *url, const char *name, int create, double deadline,
                          struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    int rc = -1;
    if (c) {
        char *id = PQescapeIdentifier(c->conn, name, strlen(name));
        struct buf sql = {0};
        buf_printf(&sql, "DROP DATABASE IF EXISTS %s", id);
        rc = pgdb_exec(c, sql.data, err);
        buf_reset(&sql);
        buf_printf(&sql, "CREATE DATABASE %s", id);
        if (rc == 0 && create)
            rc = pgdb_exec(c, sql.data, err);
        PQfreemem(id);
        buf_release(&sql);
        pgdb_close(c);
    }
    return rc;
}

int pgdb_drop_database(const char *url, const char *name, double deadline, struct tt_err *err)
{
    return reset_database(url, name, 0, deadline, err);
}

int pgdb_create_database(const char *url, const char *name, double deadline, struct tt_err *err)
{
    return reset_database(url, name, 1, deadline, err);
}

/* ---- downgrades and restores -------------------------------------------- */

int pgdb_migrations_downgrade(struct pgdb *c, const struct pgdb_migrations *m, long long target,
                              struct strv *reverted, struct tt_err *err)
{
    struct tt_err e3 = {0};
    char *current = NULL;
    int rc = advisory_lock(c, 1, err);

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
    advisory_lock(c, 0, &e3);
    free(current);
    return rc;
}

static const char writes_sql[] =
    "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = ";
static const char exists_sql[] = "SELECT 1 FROM pg_database WHERE datname = ";

/* The value of sql (ending in "datname = ") for database db, quoted, on c. */
static int value_for_db(struct pgdb *c, const char *sql, const char *db, char **value,
                        struct tt_err *err)
{
    char *lit = PQescapeLiteral(c->conn, db, strlen(db));
    struct buf q = {0};
    buf_printf(&q, "%s%s", sql, lit);
    int rc = pgdb_value(c, q.data, value, err);
    PQfreemem(lit);
    buf_release(&q);
    return rc;
}

/* value_for_db() through the maintenance database of url. */
static int maintenance_value(const char *url, const char *sql, const char *db, double deadline,
                             char **value, struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    *value = NULL;
    if (!c)
        return -1;
    int rc = value_for_db(c, sql, db, value, err);
    pgdb_close(c);
    return rc;
}

int pgdb_write_count(const char *url, const char *db, double deadline, long long *writes,
                     struct tt_err *err)
{
    char *value = NULL;
    int rc = maintenance_value(url, writes_sql, db, deadline, &value, err);
    if (rc == 0 && !value)
        rc = tt_error(err, "no database %s to count writes in", db);
    if (rc == 0)
        *writes = atoll(value);
    free(value);
    return rc;
}

int pgdb_database_exists(const char *url, const char *db, double deadline, int *exists,
                         struct tt_err *err)
{
    char *value = NULL;
    int rc = maintenance_value(url, exists_sql, db, deadline, &value, err);
    *exists = value != NULL;
    free(value);
    return rc;
}

int pgdb_swap_database(const char *url, const char *live, const char *replacement,
                       const char *keep_as, long long *writes, double deadline, struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    struct buf sql = {0};
    char *value = NULL;
    int rc = 0;

    if (!c)
        return -1;
    char *l_id = PQescapeIdentifier(c->conn, live, strlen(live));
    char *r_id = PQescapeIdentifier(c->conn, replacement, strlen(replacement));
    char *k_id = PQescapeIdentifier(c->conn, keep_as, strlen(keep_as));
    char *l_lit = PQescapeLiteral(c->conn, live, strlen(live));
    rc = value_for_db(c, exists_sql, live, &value, err);
    if (rc == 0 && value) {
        /* No new sessions, then end the open ones (waiting for each, so its statistics land). */
        buf_reset(&sql);
        buf_printf(&sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS false", l_id);
        rc = pgdb_exec(c, sql.data, err);
        buf_reset(&sql);
        buf_printf(&sql,
                   "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE "
                   "datname = %s AND pid <> pg_backend_pid()",
                   l_lit);
        free(value);
        value = NULL;
        if (rc == 0)
            rc = pgdb_value(c, sql.data, &value, err);
        free(value);
        value = NULL;
        if (rc == 0 && value_for_db(c, writes_sql, live, &value, err) == 0 && value && writes)
            *writes = atoll(value);
        buf_reset(&sql);
        buf_printf(&sql, "ALTER DATABASE %s RENAME TO %s", l_id, k_id);
        if (rc == 0)
            rc = pgdb_exec(c, sql.data, err);
        buf_reset(&sql);
        buf_printf(&sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", k_id);
        if (rc == 0)
            rc = pgdb_exec(c, sql.data, err);
    }
    /* Also the second half of a swap a crash interrupted: live is gone, the replacement waits. */
    buf_reset(&sql);
    buf_printf(&sql, "ALTER DATABASE %s RENAME TO %s", r_id, l_id);
    if (rc == 0)
        rc = pgdb_exec(c, sql.data, err);
    PQfreemem(l_id);
    PQfreemem(r_id);
    PQfreemem(k_id);
    PQfreemem(l_lit);
    free(value);
    buf_release(&sql);
    pgdb_close(c);
    return rc;
}

/* ---- what a dump must hold ---------------------------------------------- */

int pgdb_user_tables(struct pgdb *c, struct strv *schemas, struct strv *names, struct tt_err *err)
{
    /* Ordinary tables (partitions included) outside the system schemas and extensions: each
     * gets a TABLE DATA entry in a pg_dump archive. */
    PGresult *r =
        PQexec(c->conn, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                        "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                        "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
                        "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND NOT EXISTS (SELECT 1 FROM "
                        "pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
                        "AND d.deptype = 'e') ORDER BY 1, 2");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        tt_error(err, "cannot list the database's tables: %s", PQerrorMessage(c->conn));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        strv_push(schemas, PQgetvalue(r, i, 0));
        strv_push(names, PQgetvalue(r, i, 1));
    }
    PQclear(r);
    return 0;
}
