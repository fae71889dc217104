/*
 * store_db.h - what the files of state/ share, private to the folder: the
 * SQLite handle behind struct store and the helpers every query uses.
 * Nothing outside state/ includes it; store.h is the store's contract.
 *
 *   store.c         the file, its schema and migrations, the writes
 *   store_lock.c    the deployment lock: its holder record and heartbeat thread
 *   store_query.c   the audit queries that return rows as JSON (history, show)
 *   store_record.c  one deployment as typed C structs (store_record_load)
 *   store_key.c     the store's audit key (a file beside it) and keyed digests
 *   store_audit.c   the audit chain: sealing final rows, verifying the chain
 *   store_preflight.c  the record of each `ttdeploy check`
 *
 * sqlite3.h stays in the .c files: the handle types are declared here by
 * their struct tags, which are the ones sqlite3.h gives them.
 */
#ifndef STORE_DB_H
#define STORE_DB_H

#include <stdarg.h>

#include "store.h"

struct sqlite3;
struct sqlite3_stmt;

/* The statements of the audit chain, prepared once per store (store_audit.c). */
enum store_audit_stmt {
    STORE_AUDIT_HEAD,
    STORE_AUDIT_ROW_DEPLOYMENT,
    STORE_AUDIT_ROW_STEP,
    STORE_AUDIT_SEAL_DEPLOYMENT,
    STORE_AUDIT_SEAL_STEP,
    STORE_AUDIT_NSTMTS
};

struct store {
    struct sqlite3 *db;
    struct sqlite3_stmt *audit_stmt[STORE_AUDIT_NSTMTS]; /* NULL until first used */
    char *path;
    char *key_path;                     /* store_key_path(), made on first use */
    unsigned char key[STORE_KEY_BYTES]; /* the audit key, once key_loaded */
    int key_loaded;
};

/* Sets err to "state store PATH: WHAT: <SQLite's message>"; returns -1. */
int store_db_error(struct store *s, struct tt_err *err, const char *what);
/*
 * Binds the arguments ap to the parameters 1, 2, ... of st, one per
 * letter of types: 't' text (const char *, NULL binds NULL), 'd' double,
 * 'i' long long.
 */
void store_db_bind(struct sqlite3_stmt *st, const char *types, va_list ap);
/*
 * Text read from the file as a JSON string (null for NULL): what is not
 * UTF-8 (a store written before ttdeploy sanitized its writes) is read
 * with U+FFFD in place of the bad bytes, so no field drops out of JSON.
 */
json_t *store_db_json_text(const char *v);
/* Prepares sql with its parameters bound per types (store_db_bind); NULL with err set. */
struct sqlite3_stmt *store_db_prepare(struct store *s, struct tt_err *err, const char *sql,
                                      const char *types, ...);
struct sqlite3_stmt *store_db_prepare_v(struct store *s, struct tt_err *err, const char *sql,
                                        const char *types, va_list ap);

/*
 * Seals row rowid of table ("deployments" or "steps") at the end of the
 * audit chain; the caller holds a write transaction.  A row already sealed
 * is an error: a final row is never written again.
 */
int store_audit_seal(struct store *s, const char *table, long long rowid, struct tt_err *err);
/* Seals the unsealed steps of deployment by seq (only_ended: those no longer running). */
int store_audit_seal_steps(struct store *s, long long deployment, int only_ended,
                           struct tt_err *err);
/* Seals the unsealed steps of deployment (by seq), then the deployment; in a transaction. */
int store_audit_seal_deployment(struct store *s, long long deployment, struct tt_err *err);
/*
 * The migration that adds the chain: seals the final rows already in the
 * file, per deployment by id its steps by seq then it (of a deployment
 * still running, only its ended steps); in the migration's transaction.
 */
int store_audit_seal_existing(struct store *s, struct tt_err *err);

#endif
