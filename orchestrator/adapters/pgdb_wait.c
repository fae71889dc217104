/*
 * pgdb_wait.c - every wait on PostgreSQL, bounded on ttdeploy's side.
 *
 * The server bounds what it runs (statement_timeout, lock_timeout, set on
 * every connection from the plan's timeouts:), but a server that is
 * frozen (SIGSTOP, a hung host, a partition) enforces nothing and answers
 * nothing: libpq's blocking calls would wait forever.  So nothing here
 * blocks in libpq: a connection is started with PQconnectStartParams and
 * driven with poll() until timeouts.connect, and a query is sent with
 * PQsendQuery and its answer waited for with poll() until
 * timeouts.statement + timeouts.connect (the server's own statement
 * timeout, and the time for its error to come back).  A query that gets
 * no answer in time leaves the connection marked broken: no later query
 * is sent on it, and closing it makes the server roll back the open
 * transaction as soon as it runs again.  No PQcancel(): libpq 15's waits
 * for the frozen server to close the cancel connection.
 */
#include "pgdb.h"
#include "buf.h"
#include "monotime.h"

#include <libpq-fe.h>

#include "pgdb_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pgdb_timeouts bounds = {PGDB_CONNECT_DEFAULT_MS, PGDB_STATEMENT_DEFAULT_MS,
                                      PGDB_LOCK_DEFAULT_MS};

void pgdb_set_timeouts(const struct pgdb_timeouts *t)
{
    bounds.connect_ms = t->connect_ms > 0 ? t->connect_ms : PGDB_CONNECT_DEFAULT_MS;
    bounds.statement_ms = t->statement_ms > 0 ? t->statement_ms : PGDB_STATEMENT_DEFAULT_MS;
    bounds.lock_ms = t->lock_ms > 0 ? t->lock_ms : PGDB_LOCK_DEFAULT_MS;
}

const struct pgdb_timeouts *pgdb_timeouts_now(void)
{
    return &bounds;
}

/* Waits until fd is ready for events or until (monotonic s): 1 ready, 0 time is up. */
static int wait_socket(int fd, short events, double until)
{
    for (;;) {
        double left = until - monotime_now();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (n > 0 || (n < 0 && errno != EINTR))
            return 1; /* ready, or an error libpq will report */
    }
}

/* "127.0.0.1:5432" (or the socket directory) of conn, into where. */
static void describe(PGconn *conn, char *where, size_t size)
{
    const char *host = conn ? PQhost(conn) : NULL, *port = conn ? PQport(conn) : NULL;
    snprintf(where, size, "%s%s%s", host && *host ? host : "localhost", port && *port ? ":" : "",
             port && *port ? port : "");
}

/*
 * Adds the bounds to the connection parameters kw/val (n used, room for 3
 * more; an options or connect_timeout the url set is extended or replaced):
 * connect_timeout, options -c statement_timeout -c lock_timeout, and
 * fallback_application_name=ttdeploy (so a lock holder can be named).
 * opts and secs hold the strings val points to.
 */
static void add_bounds(const char **kw, const char **val, size_t n, struct buf *opts, char secs[24])
{
    size_t options = n, timeout = n;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(kw[i], "options"))
            options = i;
        else if (!strcmp(kw[i], "connect_timeout"))
            timeout = i;
    }
    snprintf(secs, 24, "%ld", (bounds.connect_ms + 999) / 1000);
    buf_printf(opts, "%s%s-c statement_timeout=%ld -c lock_timeout=%ld",
               options < n ? val[options] : "", options < n ? " " : "", bounds.statement_ms,
               bounds.lock_ms);
    size_t k = n;
    kw[options < n ? options : k] = "options";
    val[options < n ? options : k++] = opts->data;
    kw[timeout < n ? timeout : k] = "connect_timeout";
    val[timeout < n ? timeout : k++] = secs;
    kw[k] = "fallback_application_name";
    val[k++] = "ttdeploy";
    kw[k] = val[k] = NULL;
}

PGconn *pgdb_connect_attempt(const char *const *url_kw, const char *const *url_val, int *timed_out,
                             char *msg, size_t msgsize)
{
    size_t n = 0;
    while (url_kw[n])
        n++;
    const char **kw = xcalloc(n + 4, sizeof(char *)), **val = xcalloc(n + 4, sizeof(char *));
    memcpy(kw, url_kw, n * sizeof(char *));
    memcpy(val, url_val, n * sizeof(char *));
    struct buf opts = {0};
    char secs[24];
    add_bounds(kw, val, n, &opts, secs);
    double until = monotime_now() + bounds.connect_ms / 1000.0;
    PGconn *conn = PQconnectStartParams(kw, val, 0); /* copies the values */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    *timed_out = 0;
    buf_release(&opts);
    free(kw);
    free(val);
    while (conn && PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (!wait_socket(PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, until)) {
            char where[256];
            describe(conn, where, sizeof(where));
            snprintf(msg, msgsize,
                     "PostgreSQL at %s did not answer within %g s (timeouts.connect): is it "
                     "frozen or overloaded?",
                     where, bounds.connect_ms / 1000.0);
            *timed_out = 1;
            return conn;
        }
        st = PQconnectPoll(conn);
    }
    snprintf(msg, msgsize, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    return conn;
}

/* What sql is, for a message: its first line, cut at 60 bytes. */
static void excerpt(const char *sql, char out[80])
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    size_t n = strcspn(sql, "\n");
    snprintf(out, 80, "\"%.*s%s\"", (int)(n > 60 ? 60 : n), sql, n > 60 || sql[n] ? " ..." : "");
}

/* Waits for the next result of the query in flight on c, until until; NULL with err at the end. */
static int await_result(struct pgdb *c, const char *sql, double until, struct tt_err *err)
{
    while (PQisBusy(c->conn)) {
        if (!wait_socket(PQsocket(c->conn), POLLIN, until)) {
            char where[256], what[80];
            describe(c->conn, where, sizeof(where));
            excerpt(sql, what);
            c->broken = 1;
            return tt_error(err,
                            "PostgreSQL at %s did not answer for %g s while running %s: is it "
                            "frozen or overloaded? (timeouts.statement + timeouts.connect; the "
                            "connection was dropped, so the server rolls back what it had not "
                            "committed)",
                            where, (bounds.statement_ms + bounds.connect_ms) / 1000.0, what);
        }
        if (!PQconsumeInput(c->conn))
            return 0; /* the connection broke: PQgetResult says how */
    }
    return 0;
}

PGresult *pgdb_query(struct pgdb *c, const char *sql, struct tt_err *err)
{
    double until = monotime_now() + (bounds.statement_ms + bounds.connect_ms) / 1000.0;
    PGresult *kept = NULL, *r;

    if (c->broken) {
        tt_error(err, "the connection to PostgreSQL was dropped after it stopped answering");
        return NULL;
    }
    if (!PQsendQuery(c->conn, sql)) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
        msg[strcspn(msg, "\n")] = '\0';
        tt_error(err, "cannot send a query to PostgreSQL: %s", msg);
        return NULL;
    }
    /* As PQexec: the last result, or the first error (later results are dropped). */
    for (;;) {
        if (await_result(c, sql, until, err) < 0) {
            PQclear(kept);
            return NULL;
        }
        if (!(r = PQgetResult(c->conn)))
            break;
        ExecStatusType st = PQresultStatus(kept);
        if (kept && (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE)) {
            PQclear(r);
            continue;
        }
        PQclear(kept);
        kept = r;
    }
    if (!kept) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
        msg[strcspn(msg, "\n")] = '\0';
        tt_error(err, "PostgreSQL gave no answer: %s", msg);
    }
    return kept;
}
