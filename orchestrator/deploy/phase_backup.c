/*
 * phase_backup.c - the backup phase: pg_dump of the database (inside its
 * container through the Engine API, or with the host's pg_dump), checked,
 * recorded with its SHA-256 and the database's write counter, and old
 * backups removed per the plan's keep: (never this deployment's or the
 * previous one's; without keep: every backup is kept).  backup.c does the
 * dumping and checking; this file is the phase around it.
 */
#include "run.h"
#include "backup.h"
#include "dbclean.h"
#include "monotime.h"
#include "pgdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Deletes the project's oldest backups beyond keep.last, never this deployment's or the previous
 * one's. */
static int retain_backups(struct run *a, struct buf *detail)
{
    struct tt_err e = {0};
    json_t *list, *b;
    size_t i, kept = 0, removed = 0;
    long long previous = 0;

    if (a->plan->backup.keep_last <= 0)
        return 0; /* no keep: every backup is kept */
    list = store_backups(a->store, a->project->name, &e);
    if (!list && e.msg[0])
        return run_store_failed(a, &e);

    json_array_foreach(list, i, b)
    {
        long long dep = json_integer_value(json_object_get(b, "deployment_id"));
        if (dep != a->id && !previous)
            previous = dep;
    }
    json_array_foreach(list, i, b)
    {
        long long dep = json_integer_value(json_object_get(b, "deployment_id"));
        if (kept < (size_t)a->plan->backup.keep_last || dep == a->id || dep == previous) {
            kept++;
            continue;
        }
        const char *path = json_string_value(json_object_get(b, "path"));
        if (unlink(path) == 0 || errno == ENOENT) {
            if (store_backup_deleted(a->store, json_integer_value(json_object_get(b, "id")), &e) <
                0) {
                json_decref(list);
                return run_store_failed(a, &e);
            }
            removed++;
        }
    }
    buf_printf(detail, "; retention kept %zu, removed %zu", kept, removed);
    json_decref(list);
    return 0;
}

int phase_backup(struct run *a)
{
    const struct plan *pl = a->plan;
    char *container, *dir;
    long long step;
    struct backup_result b = {0};
    struct buf intent = {0};
    int rc;

    if (!pl->backup.present)
        return step_skipped(a, DEPLOY_BACKUP, "no backup: in the plan");
    struct tt_err cerr = {0};
    container = run_container_id(a, pl->db_service, &cerr);
    if (!container && cerr.msg[0])
        return step_note(a, DEPLOY_BACKUP, pl->db_service, "pg_dump",
                         "find the database's container", STEP_FAILED, cerr.msg) < 0
                   ? -1
                   : tt_error(a->err, "backup: %s", cerr.msg);
    if (!container)
        return step_skipped(a, DEPLOY_BACKUP,
                            "the database service is not running yet: nothing to back up");
    dir = plan_resolve(a->plan, pl->backup.dir);
    buf_printf(&intent, "pg_dump %s %s to %s, verify by %s",
               pl->backup.via_host ? "on the host against" : "inside",
               pl->backup.via_host ? "the database url" : pl->db_service, dir,
               pl->backup.verify ? pl->backup.verify : "list");
    if (step_begin(a, DEPLOY_BACKUP, pl->db_service, "pg_dump", intent.data, &step) < 0) {
        rc = -1;
        goto out;
    }
    run_say(a, "backup: %s", intent.data);
    /* The write counter before the dump: the report's measure of what a restore would lose. */
    long long writes = -1;
    char *dbname = pgdb_url_db(pl->db_url);
    struct tt_err werr = {0};
    if (dbname && pgdb_write_count(pl->db_url, dbname, monotime_now() + 5, &writes, &werr) < 0)
        writes = -1;
    free(dbname);
    double t0 = monotime_now();
    if (pl->backup.via_host)
        rc = backup_take_host(pl->db_url, dir, a->project->name, a->id, &b, a->err);
    else
        rc = backup_take(a->engine, container, pl->db_url, dir, a->project->name, a->id, 3600000,
                         &b, a->err);
    double took = monotime_now() - t0;
    double vdeadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    struct dbscratch scratch = {a->store, a->id, pl->db_url};
    if (rc == 0 && pl->backup.verify && !strcmp(pl->backup.verify, "restore"))
        rc = backup_verify_restore(&b, &scratch, vdeadline, a->err);
    else if (rc == 0)
        rc = backup_verify(&b, pl->backup.verify ? pl->backup.verify : "list", pl->db_url,
                           vdeadline, a->err);
    if (rc == 0) {
        struct buf detail = {0};
        buf_printf(&detail, "%s: %lld bytes in %.2f s, sha256 %.16s; %s", b.path, b.bytes, took,
                   b.sha256, b.detail.data ? b.detail.data : "not verified");
        if (store_backup_record(a->store, a->id, a->project->name, b.path, b.bytes, b.sha256,
                                b.verified, a->err) < 0 ||
            (writes >= 0 && store_backup_writes(a->store, a->id, writes, a->err) < 0))
            rc = run_store_failed(a, a->err);
        free(a->backup_path);
        a->backup_path = xstrdup(b.path);
        if (rc == 0 && retain_backups(a, &detail) < 0)
            rc = tt_error(a->err, "the store could not record the backups removed: %s",
                          a->store_err.msg);
        if (step_end(a, step, rc == 0 ? STEP_OK : STEP_FAILED, detail.data,
                     rc == 0 ? NULL : a->err->msg) < 0)
            rc = -1;
        run_say(a, "backup: %s", detail.data);
        buf_release(&detail);
    } else {
        step_end(a, step, STEP_FAILED, b.path, a->err->msg);
    }
out:
    backup_result_clear(&b);
    buf_release(&intent);
    free(dir);
    free(container);
    return rc;
}
