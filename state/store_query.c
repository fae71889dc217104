/*
 * store_query.c - the audit queries that return rows as JSON: history,
 * the unfinished deployment, backups, current releases, and the look-ups
 * of rollback (the deployment before, the one at a commit, its schema
 * revision, the backup after it).  A row is a JSON object keyed by the
 * column names of the SELECT, each value of its column's type (integer,
 * real, text or null), so the CLI prints tables or JSON from one
 * representation.  A whole deployment comes from store_record.c.
 */
#include "store_db.h"

#include <sqlite3.h>
#include <stdarg.h>

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return store_db_json_text((const char *)sqlite3_column_text(st, i));
    default:
        return json_null();
    }
}

static json_t *row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    for (int i = 0; i < sqlite3_column_count(st); i++)
        json_object_set_new(o, sqlite3_column_name(st, i), column_json(st, i));
    return o;
}

/* Runs sql with its parameters bound per types (see store_db_bind) and returns its rows. */
static json_t *query_rows(struct store *s, struct tt_err *err, const char *sql, const char *types,
                          ...)
{
    sqlite3_stmt *st;
    va_list ap;
    json_t *rows;
    int rc;

    va_start(ap, types);
    st = store_db_prepare_v(s, err, sql, types, ap);
    va_end(ap);
    if (!st)
        return NULL;
    rows = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rows, row_json(st));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        store_db_error(s, err, "read");
        return NULL;
    }
    return rows;
}

/* The first of rows (which it releases), or NULL when there is none or rows is NULL. */
static json_t *first_of(json_t *rows)
{
    json_t *first = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return first;
}

/* store_show() of the deployment whose id row holds (which it releases), or NULL. */
static json_t *show_row(struct store *s, json_t *row, struct tt_err *err)
{
    json_t *out = row ? store_show(s, json_integer_value(json_object_get(row, "id")), err) : NULL;
    json_decref(row);
    return out;
}

json_t *store_backups(struct store *s, const char *project, struct tt_err *err)
{
    return query_rows(s, err,
                      "SELECT * FROM backups WHERE project = ? AND deleted_at IS NULL ORDER BY "
                      "id DESC",
                      "t", project);
}

json_t *store_unfinished(struct store *s, const char *project, struct tt_err *err)
{
    return first_of(query_rows(s, err,
                               "SELECT * FROM deployments WHERE project = ? AND status = "
                               "'running' ORDER BY id DESC LIMIT 1",
                               "t", project));
}

json_t *store_history(struct store *s, const struct store_history_filter *f, struct tt_err *err)
{
    return query_rows(
        s, err,
        "SELECT d.id, d.project, d.kind, d.version, d.git_tag, d.git_commit, d.actor, d.ci, "
        "d.status, d.state, d.started_at, d.finished_at, d.error, d.rolled_back_from FROM "
        "deployments d WHERE (?1 IS NULL OR d.project = ?1) AND (?2 IS NULL OR d.status = ?2) AND "
        "(?3 <= 0 OR d.started_at >= ?3) AND (?4 IS NULL OR EXISTS (SELECT 1 FROM steps t WHERE "
        "t.service = ?4 AND t.deployment_id = d.id)) AND (?6 IS NULL OR d.actor = ?6) AND (?7 IS "
        "NULL OR d.git_tag = ?7) ORDER BY d.id DESC LIMIT ?5",
        "ttdtitt", f->project, f->status, f->since, f->service,
        (long long)(f->limit > 0 ? f->limit : 20), f->actor, f->git_tag);
}

json_t *store_show(struct store *s, long long id, struct tt_err *err)
{
    struct store_record *r = NULL;
    if (store_record_load(s, id, &r, err) < 0)
        return NULL;
    json_t *out = store_record_json(r);
    store_record_free(r);
    return out;
}

json_t *store_succeeded_before(struct store *s, const char *project, long long before,
                               struct tt_err *err)
{
    json_t *row = first_of(query_rows(s, err,
                                      "SELECT id FROM deployments WHERE project = ? AND status = "
                                      "'succeeded' AND id < ? ORDER BY id DESC LIMIT 1",
                                      "ti", project, before > 0 ? before : (long long)1 << 62));
    return show_row(s, row, err);
}

json_t *store_succeeded_at_commit(struct store *s, const char *project, const char *commit,
                                  struct tt_err *err)
{
    json_t *row = first_of(query_rows(s, err,
                                      "SELECT id FROM deployments WHERE project = ? AND "
                                      "git_commit = ? AND status = 'succeeded' ORDER BY id DESC "
                                      "LIMIT 1",
                                      "tt", project, commit));
    return show_row(s, row, err);
}

json_t *store_revision_at(struct store *s, const char *project, long long deployment,
                          struct tt_err *err)
{
    return first_of(query_rows(s, err,
                               "SELECT m.* FROM migrations m JOIN deployments d ON d.id = "
                               "m.deployment_id WHERE d.project = ? AND d.id <= ? AND d.status = "
                               "'succeeded' ORDER BY d.id DESC LIMIT 1",
                               "ti", project, deployment));
}

json_t *store_backup_after(struct store *s, const char *project, long long deployment,
                           struct tt_err *err)
{
    return first_of(query_rows(s, err,
                               "SELECT * FROM backups WHERE project = ? AND deployment_id > ? "
                               "ORDER BY deployment_id LIMIT 1",
                               "ti", project, deployment));
}

json_t *store_current_releases(struct store *s, const char *project, struct tt_err *err)
{
    return query_rows(s, err,
                      "SELECT r.*, d.version, d.started_at FROM releases r JOIN deployments d ON "
                      "d.id = r.deployment_id WHERE d.id = (SELECT MAX(id) FROM deployments "
                      "WHERE project = ? AND status = 'succeeded') ORDER BY r.service",
                      "t", project);
}

json_t *store_project_releases(struct store *s, const char *project, struct tt_err *err)
{
    return query_rows(s, err,
                      "SELECT r.deployment_id, r.service, r.image, r.image_id, d.version, "
                      "d.status FROM releases r JOIN deployments d ON d.id = r.deployment_id "
                      "WHERE d.project = ? ORDER BY d.id DESC, r.service",
                      "t", project);
}

const char *store_text(json_t *row, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s ? s : dflt;
}
