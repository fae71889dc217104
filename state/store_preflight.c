/*
 * store_preflight.c - the record of each `ttdeploy check`: when, who, the
 * plan's digest, whether every check passed and each check's result (a
 * JSON document, as `check --json` prints it).
 *
 * A check is no deployment: it changes nothing, so its row is not on the
 * audit chain (store_audit.c seals deployments and steps only).  The checks
 * apply runs are steps of phase preflight of their deployment, and those
 * are sealed like every other step.
 */
#include "store_db.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/time.h>

int store_preflight_record(struct store *s, const char *project, const char *actor,
                           const char *plan_sha256, int ok, const json_t *result, long long *id,
                           struct tt_err *err)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char *text = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
    sqlite3_stmt *st = store_db_prepare(
        s, err,
        "INSERT INTO preflights (project, at, actor, plan_sha256, ok, result) VALUES (?,?,?,?,?,?)",
        "tdttit", project, (double)tv.tv_sec + (double)tv.tv_usec / 1e6, actor, plan_sha256,
        (long long)(ok != 0), text ? text : "{}");
    free(text);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, err, "record the check");
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return 0;
}
