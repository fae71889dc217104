/*
 * pgdb_int.h - what pgdb.c and pgdb_migrate.c share, private to adapters/:
 * the connection behind the opaque struct pgdb.  Only .c files of this
 * folder include it (it needs <libpq-fe.h> before it).
 */
#ifndef PGDB_INT_H
#define PGDB_INT_H

/* One open connection; callers outside adapters/ see only the name. */
struct pgdb {
    PGconn *conn;
};

#endif
