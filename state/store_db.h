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

struct store {
    struct sqlite3 *db;
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

#endif
