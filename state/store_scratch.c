/*
 * store_scratch.c - what a deployment does to databases beside its
 * migrations, written down before it is done so that a crash never leaves
 * a database nobody knows about:
 *
 *   scratch_databases  every database ttdeploy CREATEs for a while (a
 *                      rehearsal copy, a restore check, a restore waiting
 *                      to be swapped in), recorded before the CREATE and
 *                      marked dropped after the DROP.  A DROP is allowed
 *                      only of a name its deployment recorded and has not
 *                      dropped; `recover` drops what a crash left.
 *   database_changes   every change to a live database (its connections
 *                      denied, its name changed), recorded before it is
 *                      made with what undoes it; it ends undone or kept,
 *                      and `recover` undoes what neither.
 *
 * Each write is one statement in its own transaction, like store.c's.
 */
#include "store_db.h"
#include "buf.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static const char *const change_names[] = {"deny_connections", "renamed_to"};

const char *store_db_change_name(enum store_db_change c)
{
    return (unsigned)c < sizeof(change_names) / sizeof(change_names[0]) ? change_names[c] : "?";
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Steps a write to its end and finalizes it. */
static int finish_write(struct store *s, sqlite3_stmt *st, struct tt_err *err)
{
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_error(s, err, "write");
}

static char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

int store_scratch_record(struct store *s, long long deployment, const char *name,
                         const char *purpose, const char *server, struct tt_err *err)
{
    return finish_write(
        s,
        store_db_prepare(s, err,
                         "INSERT INTO scratch_databases (deployment_id, name, purpose, server, "
                         "created_at) VALUES (?,?,?,?,?)",
                         "itttd", deployment, name, purpose, server, now_s()),
        err);
}

int store_scratch_dropped(struct store *s, long long deployment, const char *name,
                          const char *server, struct tt_err *err)
{
    return finish_write(
        s,
        store_db_prepare(s, err,
                         "UPDATE scratch_databases SET dropped_at = ? WHERE "
                         "deployment_id = ? AND name = ? AND server = ? AND dropped_at "
                         "IS NULL",
                         "ditt", now_s(), deployment, name, server),
        err);
}

int store_scratch_owned(struct store *s, long long deployment, const char *name, const char *server,
                        struct tt_err *err)
{
    sqlite3_stmt *st =
        store_db_prepare(s, err,
                         "SELECT count(*) FROM scratch_databases WHERE deployment_id = ? "
                         "AND name = ? AND server = ? AND dropped_at IS NULL",
                         "itt", deployment, name, server);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    int owned = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? owned : store_db_error(s, err, "read");
}

/* Calls add(st, out, err) for each row of st, then finalizes it; -1 when add or SQLite fails. */
static int read_rows(struct store *s, sqlite3_stmt *st,
                     int (*add)(struct store *, sqlite3_stmt *, void *, struct tt_err *), void *out,
                     struct tt_err *err)
{
    int rc, bad = 0;
    if (!st)
        return -1;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW)
        bad = add(s, st, out, err) < 0;
    sqlite3_finalize(st);
    return bad ? -1 : rc == SQLITE_DONE ? 0 : store_db_error(s, err, "read");
}

static int add_scratch(struct store *s, sqlite3_stmt *st, void *list, struct tt_err *err)
{
    struct store_scratch_list *out = list;
    (void)s;
    (void)err;
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    out->v[out->n].name = column_text(st, 0);
    out->v[out->n].purpose = column_text(st, 1);
    out->v[out->n].server = column_text(st, 2);
    out->n++;
    return 0;
}

int store_scratch_pending(struct store *s, long long deployment, struct store_scratch_list *out,
                          struct tt_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc =
        read_rows(s,
                  store_db_prepare(s, err,
                                   "SELECT name, purpose, server FROM scratch_databases WHERE "
                                   "deployment_id = ? AND dropped_at IS NULL GROUP BY name, server "
                                   "ORDER BY min(id)",
                                   "i", deployment),
                  add_scratch, out, err);
    if (rc < 0)
        store_scratch_list_clear(out);
    return rc;
}

void store_scratch_list_clear(struct store_scratch_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].purpose);
        free(l->v[i].server);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int store_db_change_record(struct store *s, long long deployment, const char *server,
                           const char *database, enum store_db_change change, const char *target,
                           long long *id, struct tt_err *err)
{
    int rc = finish_write(
        s,
        store_db_prepare(s, err,
                         "INSERT INTO database_changes (deployment_id, server, database, "
                         "change, target, made_at) VALUES (?,?,?,?,?,?)",
                         "ittttd", deployment, server, database, store_db_change_name(change),
                         target, now_s()),
        err);
    *id = rc == 0 ? (long long)sqlite3_last_insert_rowid(s->db) : 0;
    return rc;
}

int store_db_change_end(struct store *s, long long id, int undone, struct tt_err *err)
{
    return finish_write(
        s,
        store_db_prepare(s, err,
                         undone ? "UPDATE database_changes SET undo_done_at = ? WHERE id = ?"
                                : "UPDATE database_changes SET kept_at = ? WHERE id = ?",
                         "di", now_s(), id),
        err);
}

static int add_change(struct store *s, sqlite3_stmt *st, void *list, struct tt_err *err)
{
    struct store_db_change_list *out = list;
    const char *word = (const char *)sqlite3_column_text(st, 1);
    int change = -1;
    for (size_t i = 0; word && i < sizeof(change_names) / sizeof(change_names[0]); i++)
        if (!strcmp(word, change_names[i]))
            change = (int)i;
    if (change < 0)
        return tt_error(err,
                        "state store %s: database change \"%s\" is not one this ttdeploy knows: "
                        "upgrade ttdeploy",
                        s->path, word ? word : "");
    out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
    struct store_db_change_row *r = &out->v[out->n++];
    r->id = sqlite3_column_int64(st, 0);
    r->change = (enum store_db_change)change;
    r->server = column_text(st, 2);
    r->database = column_text(st, 3);
    r->target = column_text(st, 4);
    return 0;
}

int store_db_change_pending(struct store *s, long long deployment, struct store_db_change_list *out,
                            struct tt_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc =
        read_rows(s,
                  store_db_prepare(s, err,
                                   "SELECT id, change, server, database, target FROM "
                                   "database_changes WHERE deployment_id = ? AND undo_done_at IS "
                                   "NULL AND kept_at IS NULL ORDER BY id DESC",
                                   "i", deployment),
                  add_change, out, err);
    if (rc < 0)
        store_db_change_list_clear(out);
    return rc;
}

void store_db_change_list_clear(struct store_db_change_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].server);
        free(l->v[i].database);
        free(l->v[i].target);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}
