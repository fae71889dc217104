/*
 * pgdb.h - PostgreSQL through libpq: connecting (with retries while the
 * server starts), single values, SQL migrations with their version table,
 * and the database copies used for rehearsals and restore checks.
 */
#ifndef PGDB_H
#define PGDB_H

#include "strv.h"
#include "tterr.h"

/* One open connection to a database (libpq's, out of sight). */
struct pgdb;

/*
 * The bounds of every wait on PostgreSQL, in ms (the plan's timeouts:):
 * one connection attempt (libpq connect_timeout), one statement (the
 * server's statement_timeout; ttdeploy waits for an answer at most this
 * plus connect_ms, since a frozen server enforces nothing) and a lock
 * (lock_timeout, and the wait for the migration lock).
 */
struct pgdb_timeouts {
    long connect_ms, statement_ms, lock_ms;
};
#define PGDB_CONNECT_DEFAULT_MS 10000L
#define PGDB_STATEMENT_DEFAULT_MS 300000L
#define PGDB_LOCK_DEFAULT_MS 30000L
/* Sets the bounds of the connections opened from now on (a value <= 0: its default). */
void pgdb_set_timeouts(const struct pgdb_timeouts *t);

/*
 * Checks a database url: it parses (libpq's PQconninfoParse), names its
 * database in the path, and no ?option (dbname=, service=) names another.
 * Every connection checks its url so; scratch connections replace the
 * parsed database name, never the url's text.
 */
int pgdb_url_check(const char *url, struct tt_err *err);
/*
 * Connects to url, retrying until deadline (monotonic seconds) while the
 * server refuses or is starting; a wrong password, a missing database or
 * a server that does not answer within timeouts.connect fails at once.
 * Every query on the connection is bounded (struct pgdb_timeouts).  The
 * caller pgdb_close()s the connection.
 */
struct pgdb *pgdb_connect(const char *url, double deadline, struct tt_err *err);
/* The same to database db on url's server, as url's user (db NULL: url's own). */
struct pgdb *pgdb_connect_db(const char *url, const char *db, double deadline, struct tt_err *err);
/* Closes c; pgdb_close(NULL) does nothing. */
void pgdb_close(struct pgdb *c);
/* The first column of the first row of sql (*value NULL when there is no row). */
int pgdb_value(struct pgdb *c, const char *sql, char **value, struct tt_err *err);
/* Runs sql (one or more statements). */
int pgdb_exec(struct pgdb *c, const char *sql, struct tt_err *err);
/*
 * A libpq connection string (key='value' ...) for database db (NULL:
 * url's own) on url's server, built from url's parsed (so %-decoded)
 * parts; the caller frees.  With password non-NULL the password is left
 * out of the string and *password receives it (NULL: none; the caller
 * frees): the form for a host tool's argv (pg_dump, pg_restore -d), which
 * anyone may read in ps, the password going in the child's environment.
 * NULL (err says why) when url does not pass pgdb_url_check().
 */
char *pgdb_conninfo_with_db(const char *url, const char *db, char **password, struct tt_err *err);
/* The user and password in url (each NULL when absent; the caller frees). */
void pgdb_url_credentials(const char *url, char **user, char **password);
/* The database name in url (the caller frees), or NULL. */
char *pgdb_url_db(const char *url);
/* HOST:PORT of url's server (no user, no password; the caller frees). */
char *pgdb_url_server(const char *url);
/*
 * The name of a scratch database: tt_PURPOSE_HASH, HASH from the live
 * database's name and key (a deployment id, a backup path), so it is
 * short (< 63 bytes, PostgreSQL's limit), differs per live database and
 * key, and never the live name.  The caller frees.  Dropping or replacing
 * a database (pgdb_drop_database, pgdb_create_database,
 * pgdb_copy_database) refuses any name not of this form or equal to
 * url's database.
 */
char *pgdb_scratch_name(const char *purpose, const char *live, const char *key);
/* Row counts of every user table, "schema.table=N" sorted, joined by ", " (caller frees). */
int pgdb_row_counts(struct pgdb *c, char **out, struct tt_err *err);

struct pgdb_migration {
    long long version;
    char *name;
    char *up_path, *down_path;
    char checksum[65]; /* SHA-256 of the up file */
};

struct pgdb_migrations {
    struct pgdb_migration *v;
    size_t n;
};

/* Reads NNNN_name.up.sql / NNNN_name.down.sql from dir, sorted by version. */
int pgdb_migrations_load(const char *dir, struct pgdb_migrations *out, struct tt_err *err);
void pgdb_migrations_clear(struct pgdb_migrations *m);
/* The newest applied version ("0" when none), reading the version table if it exists. */
int pgdb_migrations_current(struct pgdb *c, char **version, struct tt_err *err);
/*
 * Applies the pending migrations, each in its own transaction, under an
 * advisory lock; an applied migration whose file changed is an error.
 * applied receives "0003_topics, 0004_index" (may be empty).
 */
int pgdb_migrations_apply(struct pgdb *c, const struct pgdb_migrations *m, struct strv *applied,
                          struct tt_err *err);
/* The versions pending on c (names), for --dry-run. */
int pgdb_migrations_pending(struct pgdb *c, const struct pgdb_migrations *m, struct strv *pending,
                            struct tt_err *err);

/*
 * CREATE DATABASE copy TEMPLATE db, through the maintenance database of url.
 * Fails (err says so) when others are connected to db, or copy exists.
 */
int pgdb_copy_database(const char *url, const char *copy, double deadline, struct tt_err *err);
/* DROP DATABASE IF EXISTS name (a scratch name only: see pgdb_scratch_name). */
int pgdb_drop_database(const char *url, const char *name, double deadline, struct tt_err *err);
/* CREATE DATABASE name (empty); fails when it exists: nothing is dropped to make room. */
int pgdb_create_database(const char *url, const char *name, double deadline, struct tt_err *err);

/*
 * Whether the migration lock (the advisory lock pgdb_migrations_apply and
 * _downgrade take) is held on c's database, without taking it: 1 held (*who
 * says by whom and how to end it, caller frees), 0 free, -1 error.
 */
int pgdb_migration_lock_holder(struct pgdb *c, char **who, struct tt_err *err);
/*
 * Undoes the applied migrations newer than target, newest first, each by
 * its .down.sql in its own transaction, under the advisory lock.  Every
 * down file is checked to exist before the first runs.  reverted receives
 * their names.
 */
int pgdb_migrations_downgrade(struct pgdb *c, const struct pgdb_migrations *m, long long target,
                              struct strv *reverted, struct tt_err *err);

/* Rows inserted, updated and deleted in database db so far (pg_stat_database). */
int pgdb_write_count(const char *url, const char *db, double deadline, long long *writes,
                     struct tt_err *err);
int pgdb_database_exists(const char *url, const char *db, double deadline, int *exists,
                         struct tt_err *err);
/* ALTER DATABASE db WITH ALLOW_CONNECTIONS true (the undo of a swap's first change). */
int pgdb_allow_connections(const char *url, const char *db, double deadline, struct tt_err *err);
/* ALTER DATABASE from RENAME TO to (the undo of a swap's rename). */
int pgdb_rename_database(const char *url, const char *from, const char *to, double deadline,
                         struct tt_err *err);

/* The changes a swap makes to databases, each told to a pgdb_swap_hook before it is made. */
enum pgdb_change {
    PGDB_CHANGE_DENY_CONNECTIONS, /* db refuses new sessions */
    PGDB_CHANGE_RENAME,           /* db is renamed to */
};
struct pgdb_swap_hook {
    /* Before each change: -1 (err set) stops the swap before it, undoing what was done. */
    int (*before)(void *ctx, enum pgdb_change change, const char *db, const char *to,
                  struct tt_err *err);
    /* After the swap undid a change it had made (live's name back, its connections allowed). */
    void (*undone)(void *ctx, enum pgdb_change change);
    void *ctx;
};

/*
 * Puts replacement in the place of live: new sessions on live are refused,
 * open ones ended, *writes (may be NULL) receives live's final write
 * count, live is renamed keep_as (kept, not dropped) and replacement
 * renamed live.  When live is already gone (a swap interrupted half way)
 * only the second rename runs.  When a step fails, live is put back as it
 * was (its name, its connections allowed) and err says so.  hook (may be
 * NULL) is told before each change, so the caller can record its undo.
 */
int pgdb_swap_database(const char *url, const char *live, const char *replacement,
                       const char *keep_as, long long *writes, double deadline,
                       const struct pgdb_swap_hook *hook, struct tt_err *err);

/*
 * The database's own tables (schema and name, sorted): ordinary tables and
 * partitions outside the system schemas, not those of extensions; each has
 * a TABLE DATA entry in a whole pg_dump archive.
 */
int pgdb_user_tables(struct pgdb *c, struct strv *schemas, struct strv *names, struct tt_err *err);

#endif
