/*
 * pgdb.c - PostgreSQL through libpq: connections built from the parsed
 * database URL (never by editing its text), values and row counts, and
 * the scratch databases ttdeploy makes, drops and swaps in for restores.
 * The SQL migrations are pgdb_migrate.c.
 */
#include "pgdb.h"
#include "monotime.h"
#include "buf.h"
#include "redact.h"
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

#define PGDB_NAME_MAX 63 /* PostgreSQL cuts longer names (NAMEDATALEN - 1) */

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

/*
 * libpq's message on a connection string that does not parse, with every
 * excerpt of that string it quotes ("...", longer than one byte) left out:
 * the string did not parse, so where its password is cannot be known.
 */
static void unquoted(const char *msg, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = msg; *p && n + 8 < size; p++) {
        const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (end && end - p > 2) {
            n += (size_t)snprintf(out + n, size - n, "\"...\"");
            p = end;
        } else if (end && (size_t)(end - p) + n + 2 < size) { /* "=": libpq's own words */
            memcpy(out + n, p, (size_t)(end - p) + 1);
            n += (size_t)(end - p) + 1;
            p = end;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

int pgdb_url_check(const char *url, struct tt_err *err)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) {
        char m[512];
        unquoted(msg ? msg : "out of memory", m, sizeof(m));
        PQfreemem(msg);
        trim(m);
        return tt_error(err,
                        "database.url does not parse: %s (the part of the url libpq quoted is not "
                        "shown: it may hold the password); write it as "
                        "postgresql://USER:PASSWORD@HOST:PORT/DB with every reserved character "
                        "of the password %%-encoded (@ as %%40, / as %%2F, ...)",
                        m);
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

char *pgdb_conninfo_with_db(const char *url, const char *db, char **password, struct tt_err *err)
{
    PQconninfoOption *opts;
    const char **kw, **val;
    struct buf out = {0};
    if (password)
        *password = NULL;
    if (url_params(url, db, &opts, &kw, &val, err) < 0)
        return NULL;
    for (size_t i = 0; kw[i]; i++) {
        if (password && !strcmp(kw[i], "password")) {
            *password = xstrdup(val[i]); /* for the child's environment, never its argv */
            continue;
        }
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

char *pgdb_url_server(const char *url)
{
    char *host = url_option(url, "host"), *port = url_option(url, "port");
    struct buf b = {0};
    buf_printf(&b, "%s:%s", host ? host : "localhost", port ? port : "5432");
    free(host);
    free(port);
    return buf_detach(&b);
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

/* The password among the connection parameters kw/val (NULL: none). */
static const char *url_password(const char **kw, const char **val)
{
    for (size_t i = 0; kw[i]; i++)
        if (!strcmp(kw[i], "password"))
            return val[i];
    return NULL;
}

struct pgdb *pgdb_connect_db(const char *url, const char *db, double deadline, struct tt_err *err)
{
    PQconninfoOption *opts;
    const char **kw, **val;
    if (url_params(url, db, &opts, &kw, &val, err) < 0)
        return NULL;
    for (;;) {
        char msg[512];
        int timed_out;
        PGconn *conn = pgdb_connect_attempt(kw, val, &timed_out, msg, sizeof(msg));
        if (!timed_out && PQstatus(conn) == CONNECTION_OK) {
            struct pgdb *c = xcalloc(1, sizeof(*c));
            PQsetNoticeProcessor(conn, quiet, NULL);
            c->conn = conn;
            params_free(opts, kw, val);
            return c;
        }
        PQfinish(conn);
        trim(msg);
        /* A server that does not answer is not retried: it is frozen, not starting. */
        int final = timed_out || strstr(msg, "password authentication failed") ||
                    (strstr(msg, "database \"") && strstr(msg, "does not exist")) ||
                    strstr(msg, "invalid connection option") || strstr(msg, "invalid URI");
        if (final || monotime_now() >= deadline) {
            const char *secrets[] = {url_password(kw, val), NULL};
            char *clean = redact_text(msg, secrets);
            tt_error(err, "cannot connect to the database: %s", clean);
            free(clean);
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
    PGresult *r = pgdb_query(c, sql, err);
    int rc = 0;
    *value = NULL;
    if (!r)
        return -1;
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
    PGresult *r = pgdb_query(c, sql, err);
    int rc = 0;
    if (!r)
        return -1;
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
    PGresult *r = pgdb_query(c,
                             "SELECT table_schema, table_name FROM information_schema.tables "
                             "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                             "('pg_catalog', 'information_schema') ORDER BY 1, 2",
                             err);
    struct buf b = {0};
    int rc = 0;
    if (!r)
        return -1;
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

/* Runs fmt ("DROP DATABASE IF EXISTS %s", "CREATE DATABASE %s") on scratch database name. */
static int scratch_statement(const char *url, const char *fmt, const char *name, double deadline,
                             struct tt_err *err)
{
    struct pgdb *c = scratch_guard(url, name, err) < 0 ? NULL : maintenance(url, deadline, err);
    int rc = -1;
    if (c) {
        char *id = PQescapeIdentifier(c->conn, name, strlen(name));
        struct buf sql = {0};
        buf_printf(&sql, fmt, id);
        rc = pgdb_exec(c, sql.data, err);
        PQfreemem(id);
        buf_release(&sql);
        pgdb_close(c);
    }
    return rc;
}

int pgdb_drop_database(const char *url, const char *name, double deadline, struct tt_err *err)
{
    return scratch_statement(url, "DROP DATABASE IF EXISTS %s", name, deadline, err);
}

int pgdb_create_database(const char *url, const char *name, double deadline, struct tt_err *err)
{
    return scratch_statement(url, "CREATE DATABASE %s", name, deadline, err);
}

/* ---- downgrades and restores -------------------------------------------- */

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

/* exec_ids() through the maintenance database of url. */
static int maintenance_ids(const char *url, const char *fmt, const char *a, const char *b,
                           double deadline, struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    int rc = c ? exec_ids(c, fmt, a, b, err) : -1;
    pgdb_close(c);
    return rc;
}

int pgdb_allow_connections(const char *url, const char *db, double deadline, struct tt_err *err)
{
    return maintenance_ids(url, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", db, NULL, deadline,
                           err);
}

int pgdb_rename_database(const char *url, const char *from, const char *to, double deadline,
                         struct tt_err *err)
{
    return maintenance_ids(url, "ALTER DATABASE %s RENAME TO %s", from, to, deadline, err);
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
                      const struct pgdb_swap_hook *hook, struct tt_err *err)
{
    struct tt_err e2 = {0};
    int rc = 0;
    if (renamed)
        rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", keep_as, live, &e2);
    if (rc == 0 && renamed && hook)
        hook->undone(hook->ctx, PGDB_CHANGE_RENAME);
    if (rc == 0)
        rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", live, NULL, &e2);
    if (rc == 0 && hook)
        hook->undone(hook->ctx, PGDB_CHANGE_DENY_CONNECTIONS);
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

/* Asks hook (may be NULL) whether change may be made; -1 (err set) stops the swap before it. */
static int swap_before(const struct pgdb_swap_hook *hook, enum pgdb_change change, const char *db,
                       const char *to, struct tt_err *err)
{
    return hook ? hook->before(hook->ctx, change, db, to, err) : 0;
}

int pgdb_swap_database(const char *url, const char *live, const char *replacement,
                       const char *keep_as, long long *writes, double deadline,
                       const struct pgdb_swap_hook *hook, struct tt_err *err)
{
    struct pgdb *c = maintenance(url, deadline, err);
    char *value = NULL;
    int rc, refused = 0, renamed = 0;

    if (!c)
        return -1;
    rc = value_for_db(c, exists_sql, live, &value, err);
    if (rc == 0 && value) {
        /* No new sessions, then end the open ones; each change is undone if a later one fails. */
        rc = swap_before(hook, PGDB_CHANGE_DENY_CONNECTIONS, live, NULL, err);
        if (rc == 0)
            rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS false", live, NULL, err);
        refused = rc == 0;
        if (rc == 0)
            rc = end_sessions(c, live, err);
        free(value);
        value = NULL;
        if (rc == 0 && value_for_db(c, writes_sql, live, &value, err) == 0 && value && writes)
            *writes = atoll(value);
        if (rc == 0)
            rc = swap_before(hook, PGDB_CHANGE_RENAME, live, keep_as, err);
        if (rc == 0)
            rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", live, keep_as, err);
        renamed = rc == 0;
        if (rc == 0)
            rc = exec_ids(c, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", keep_as, NULL, err);
    }
    /* Also the second half of a swap a crash interrupted: live is gone, the replacement waits. */
    if (rc == 0)
        rc = swap_before(hook, PGDB_CHANGE_RENAME, replacement, live, err);
    if (rc == 0)
        rc = exec_ids(c, "ALTER DATABASE %s RENAME TO %s", replacement, live, err);
    if (rc < 0 && refused)
        swap_undo(c, live, keep_as, renamed, hook, err);
    free(value);
    pgdb_close(c);
    return rc;
}

/* ---- what a dump must hold ---------------------------------------------- */

int pgdb_user_tables(struct pgdb *c, struct strv *schemas, struct strv *names, struct tt_err *err)
{
    /* Ordinary tables (partitions included) outside the system schemas and extensions: each
     * gets a TABLE DATA entry in a pg_dump archive. */
    PGresult *r =
        pgdb_query(c,
                   "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                   "n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN "
                   "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
                   "AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND NOT EXISTS (SELECT 1 FROM "
                   "pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
                   "AND d.deptype = 'e') ORDER BY 1, 2",
                   err);
    if (!r)
        return -1;
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
