/*
 * backup.h - the backup phase: pg_dump run through the Engine API's exec
 * inside the database service's container (or on the host), streamed to a file on the
 * host, checked (pg_restore --list, or a full restore into a scratch
 * database whose row counts must equal the live ones), and old backups
 * removed per the plan's retention.
 */
#ifndef BACKUP_H
#define BACKUP_H

#include "buf.h"
#include "engine.h"
#include "tterr.h"

struct dbscratch;

struct backup_result {
    char *path;
    long long bytes;
    char sha256[65];
    char *verified; /* "restore", "list" or "none" */
    struct buf detail;
};

/*
 * Dumps the database of url from inside container (custom format) to a new
 * file in dir named PROJECT_DEPLOYMENT_TIMESTAMP.dump.  The file appears
 * only complete: it is written as .partial and renamed.
 */
int backup_take(struct engine *e, const char *container, const char *url, const char *dir,
                const char *project, long long deployment, long timeout_ms,
                struct backup_result *out, struct tt_err *err);
/* The same with the host's pg_dump against url (container and engine are not needed). */
int backup_take_host(const char *url, const char *dir, const char *project, long long deployment,
                     struct backup_result *out, struct tt_err *err);
/* mode "list": pg_restore --list and every data block read back; "none": nothing. */
int backup_verify(struct backup_result *b, const char *mode, const char *url, double deadline,
                  struct tt_err *err);
/*
 * Restores the backup into a scratch database (recorded in the store
 * before it is created, dropped after) and compares its row counts with
 * the live database's.
 */
int backup_verify_restore(struct backup_result *b, const struct dbscratch *s, double deadline,
                          struct tt_err *err);
void backup_result_clear(struct backup_result *b);

/* A host pg_dump whose file stops growing for ms (timeouts.stall; 0: 60 s) is stopped. */
void backup_set_stall(long ms);
/*
 * Runs argv (argv[0] looked up in PATH) with stdout and stderr captured
 * (cleared of password); returns its exit code.  password (may be NULL)
 * goes in the child's environment as PGPASSWORD, never in argv: give the
 * tool a pgdb_conninfo_with_db() string without it.
 */
int backup_run_host(char *const *argv, const char *password, struct buf *output,
                    struct tt_err *err);

/* The SHA-256 of a backup file, read in chunks. */
int backup_file_sha256(const char *path, char hex[65], struct tt_err *err);
/*
 * Restores the backup at path into a new scratch database db (recorded in
 * s's store before it is created; never one that exists unrecorded) on
 * s's server with the host's pg_restore, after checking the file still
 * has the recorded sha256 (NULL: not checked).  A failed restore drops db
 * again.
 */
int backup_restore_into(const char *path, const char *sha256, const struct dbscratch *s,
                        const char *db, double deadline, struct tt_err *err);

#endif
