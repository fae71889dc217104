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
#define PGDB_NAME_MAX 63      /* PostgreSQL cuts longer names (NAMEDATALEN - 1) */

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

/* ---- connection parameters ------------------------------------------- */

/* The value of keyword in libpq's parse of url (NULL: not set or url does not parse). */
static char *url_option(const char *url, const char *keyword)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    char *value = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, keyword) && o->val && o->val[0])
            value = xstrdup(o->val);
    PQconninfoFree(opts);
    return value;
}

int pgdb_url_check(const char *url, struct tt_err *err)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) {
        char m[512];
        snprintf(m, sizeof(m), "%s", msg ? msg : "out of memory");
        PQfreemem(msg);
        trim(m);
        return tt_error(err, "database.url does not parse: %s", m);
    }
    PQconninfoFree(opts);
    /* The database named by the path alone, and by the whole url with its ?options. */
    int uri = !strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11);
    size_t path_len = uri ? strcspn(url, "?") : strlen(url);
    char *path_only = xstrndup(url, path_len), *by_path = url_option(path_only, "dbname");
    char *by_all = url_option(url, "dbname"), *service = url_option(url, "service");
    int rc = 0;
    if (!by_path)
        rc = tt_error(err, "database.url names no database: end its path with /DBNAME");
    else if (!by_all || strcmp(by_path, by_all) || service)
        rc = tt_error(err,
                      "database.url names the database %s in its path but its options (%s) "
                      "name %s: scratch copies would be made on the wrong database; name the "
                      "database only in the path (postgresql://USER:PASSWORD@HOST:PORT/DB)",
                      by_path, service ? "service=" : "dbname=",
                      service  ? "a service's database"
                      : by_all ? by_all
                               : "another");
    free(path_only);
    free(by_path);
    free(by_all);
    free(service);
    return rc;
}

/*
 * The keywords and values of url's parse, with dbname replaced by db when
 * db is set; *opts owns the strings (PQconninfoFree it).  Every unset
 * option is left out, so libpq's defaults apply as for the url itself.
 */
static int url_params(const char *url, const char *db, PQconninfoOption **opts,
                      const char ***keywords, const char ***values, struct tt_err *err)
{
    size_t n = 0;
    if (pgdb_url_check(url, err) < 0)
        return -1;
    *opts = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = *opts; o->keyword; o++)
        n++;
    *keywords = xcalloc(n + 2, sizeof(char *));
    *values = xcalloc(n + 2, sizeof(char *));
    n = 0;
    for (PQconninfoOption *o = *opts; o->keyword; o++) {
        const char *v = db && !strcmp(o->keyword, "dbname") ? db : o->val;
        if (!v)
            continue;
        (*keywords)[n] = o->keyword;
        (*values)[n++] = v;
    }
    return 0;
}

static void params_free(PQconninfoOption *opts, const char **keywords, const char **values)
{
    PQconninfoFree(opts);
    free(keywords);
    free(values);
}

char *pgdb_conninfo_with_db(const char *url, const char *db, struct tt_err *err)
{
    PQconninfoOption *opts;
    const char **kw, **val;
    struct buf out = {0};
    if (url_params(url, db, &opts, &kw, &val, err) < 0)
        return NULL;
    for (size_t i = 0; kw[i]; i++) {
        buf_printf(&out, "%s%s='", out.len ? " " : "", kw[i]);
        for (const char *p = val[i]; *p; p++) {
            if (*p == '\\' || *p == '\'')
                buf_adds(&out, "\\");
            buf_add(&out, p, 1);
        }
        buf_adds(&out, "'");
    }
    params_free(opts, kw, val);
    return buf_detach(&out);
}

void pgdb_url_credentials(const char *url, char **user, char **password)
{
    *user = url_option(url, "user");
    *password = url_option(url, "password");
}

char *pgdb_url_db(const char *url)
{
    return url_option(url, "dbname");
}

char *pgdb_scratch_name(const char *purpose, const char *live, const char *key)
{
    char hex[65];
    struct buf in = {0}, name = {0};
    buf_printf(&in, "%s\n%s", live ? live : "", key ? key : "");
    sha256_hex(in.data, in.len, hex);
    buf_printf(&name, "tt_%.32s_%.16s", purpose, hex);
    buf_release(&in);
    return buf_detach(&name);
}

struct pgdb *pgdb_connect_db(const char *url, const char *db, double deadline, struct tt_err *err)
{
    PQconninfoOption *opts;
    const char **kw, **val;
    if (url_params(url, db, &opts, &kw, &val, err) < 0)
        return NULL;
    for (;;) {
        PGconn *conn = PQconnectdbParams(kw, val, 0);
        if (PQstatus(conn) == CONNECTION_OK) {
            struct pgdb *c = xcalloc(1, sizeof(*c));
            PQsetNoticeProcessor(conn, quiet, NULL);
            c->conn = conn;
            params_free(opts, kw, val);
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
            params_free(opts, kw, val);
            return NULL;
        }
        usleep(250000);
    }
}

struct pgdb *pgdb_connect(const char *url, double deadline, struct tt_err *err)
{
    return pgdb_connect_db(url, NULL, deadline, err);
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
    return pgdb_connect_db(url, "postgres", deadline, err);
}

/*
 * Refuses name as a database to drop or replace unless it is a scratch
 * database of ttdeploy's (tt_...) short enough that PostgreSQL keeps it
 * whole, and not the live database of url.
 */
static int scratch_guard(const char *url, const char *name, struct tt_err *err)
{
    char *live = pgdb_url_db(url);
    int rc = 0;
    if (!live)
        rc = tt_error(err, "database.url names no database: end its path with /DBNAME");
    else if (!strcmp(name, live))
        rc = tt_error(err,
                      "refusing to drop database %s: it is the live database of database.url, "
                      "not a scratch copy",
                      name);
    else if (strncmp(name, "tt_", 3) || strlen(name) > PGDB_NAME_MAX)
        rc = tt_error(err,
                      "refusing to drop database %s: not a scratch copy of ttdeploy's (tt_..., "
                      "at most %d bytes)",
                      name, PGDB_NAME_MAX);
    free(live);
    return rc;
}

int pgdb_copy_database(const char *url, const char *copy, double deadline, struct tt_err *err)
{
    char *db = pgdb_url_db(url);
    struct pgdb *c;
    int rc = -1;

    if (!db)
        return tt_error(err, "the database url names no database");
    if (scratch_guard(url, copy, err) < 0) {
        free(db);
        return -1;
    }
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
    struct pgdb *c = scratch_guard(url, name, err) < 0 ? NULL : maintenance(url, deadline, err);
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

/* Runs the statement fmt with one or two identifiers on c. */
static int exec_ids(struct pgdb *c, const char *fmt, const char *a, const char *b,
                    struct tt_err *err)
{
    char *ia = PQescapeIdentifier(c->conn, a, strlen(a));
    char *ib = b ? PQescapeIdentifier(c->conn, b, strlen(b)) : NULL;
    struct buf sql = {0};
    buf_printf(&sql, fmt, ia, ib);
    int rc = pgdb_exec(c, sql.data, err);
    PQfreemem(ia);
    PQfreemem(ib);
    buf_release(&sql);
    return rc;
}

/*
 * Ends every other session on live (waiting up to 5 s for each, so its
 * statistics land) and checks none is left.
 */
static int end_sessions(struct pgdb *c, const char *live, struct tt_err *err)
{
    static const char terminate[] =
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity WHERE datname = ";
    static const char left[] = "SELECT count(*) FROM pg_stat_activity WHERE pid <> "
                               "pg_backend_pid() AND datname = ";
    char *value = NULL;
    int rc = value_for_db(c, terminate, live, &value, err);
    free(value);
    value = NULL;
    if (rc == 0)
        rc = value_for_db(c, left, live, &value, err);
    if (rc == 0 && value && strcmp(value, "0"))
        rc = tt_error(err, "%s session(s) on database %s did not end within 5 s", value, live);
    free(value);
    return rc;
}

/*
 * Puts live back as it was after a swap failed: its name (when it was
 * renamed keep_as) and its connections.  Says so, or what to run, in err.
 */
static void swap_undo(struct pgdb *c, const char *live, const char *keep_as, int renamed,
                      struct tt_err *err)
{
    struct tt_err e2 = {0};
    int rc = 0;
    if (renamed)
        rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", keep_as, live, &e2);
    if (rc == 0)
        rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", live, NULL, &e2);
    struct buf m = {0};
    if (rc == 0)
        buf_printf(&m, "%s; database %s was left as it was (accepting connections)", err->msg,
                   live);
    else
        buf_printf(&m,
                   "%s; and database %s could not be put back (%s): run ALTER DATABASE %s "
                   "RENAME TO %s; ALTER DATABASE %s WITH ALLOW_CONNECTIONS true",
                   err->msg, live, e2.msg, renamed ? keep_as : live, live, live);
    tt_error(err, "%s", m.data);
    buf_release(&m);
}

int pgdb_swap_database(const char *url, const char *live, const char *replacement,
                       const char *keep_as, long long *writes, double deadline, struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    char *value = NULL;
    int rc, refused = 0, renamed = 0;

    if (!c)
        return -1;
    rc = value_for_db(c, exists_sql, live, &value, err);
    if (rc == 0 && value) {
        /* No new sessions, then end the open ones; each change is undone if a later one fails. */
        rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS false", live, NULL, err);
        refused = rc == 0;
        if (rc == 0)
            rc = end_sessions(c, live, err);
        free(value);
        value = NULL;
        if (rc == 0 && value_for_db(c, writes_sql, live, &value, err) == 0 && value && writes)
            *writes = atoll(value);
        if (rc == 0)
            rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", live, keep_as, err);
        renamed = rc == 0;
        if (rc == 0)
            rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", keep_as, NULL, err);
    }
    /* Also the second half of a swap a crash interrupted: live is gone, the replacement waits. */
    if (rc == 0)
        rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", replacement, live, err);
    if (rc < 0 && refused)
        swap_undo(c, live, keep_as, renamed, err);
    free(value);
    pgdb_close(c);
    return rc;
}
