/*
 * pgdb_int.h - what pgdb.c and pgdb_migrate.c share, private to adapters/:
 * the connection behind the opaque struct pgdb, and the bounded waits of
 * pgdb_wait.c.  Only .c files of this folder include it (it needs
 * <libpq-fe.h> before it).
 */
#ifndef PGDB_INT_H
#define PGDB_INT_H

/* One open connection; callers outside adapters/ see only the name. */
struct pgdb {
    PGconn *conn;
    int broken; /* a query got no answer in time: nothing more is sent on it */
};

/* The bounds connections are opened with now (pgdb_set_timeouts()). */
const struct pgdb_timeouts *pgdb_timeouts_now(void);
/*
 * One connection attempt with url's parameters (kw/val, NULL-terminated)
 * and the bounds added (pgdb_wait.c), waited for at most timeouts.connect.
 * The connection is returned whatever its status (NULL: out of memory);
 * msg receives libpq's error, or why the attempt timed out (*timed_out).
 */
PGconn *pgdb_connect_attempt(const char *const *kw, const char *const *val, int *timed_out,
                             char *msg, size_t msgsize);
/*
 * Runs sql on c and waits for its answer at most timeouts.statement +
 * timeouts.connect: the result (PQexec's: the last one, or the first
 * error), or NULL with err saying what hung or broke.
 */
PGresult *pgdb_query(struct pgdb *c, const char *sql, struct tt_err *err);

#endif
