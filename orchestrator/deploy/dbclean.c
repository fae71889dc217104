/*
 * dbclean.c - scratch databases and changes to the live database, written
 * down before they happen (dbclean.h says why).
 *
 * The order is the one of git's lockfile and SQLite's journal: first the
 * record, then the act, then the record that it is over.  A crash between
 * any two leaves a row that `recover` reads:
 *
 *   scratch row, no dropped_at   the database may exist: recover drops it
 *                                (DROP IF EXISTS: it may never have been
 *                                created);
 *   change row, neither ended    the change may have been made: recover
 *                                looks at what exists and undoes it, or
 *                                keeps it when the swap it was part of
 *                                had finished.
 *
 * Nothing here ever drops a database the store does not list as this
 * deployment's scratch: the live database and the copy a restore keeps
 * of it are never in that list.
 *
 * Each database action is a crash point of the fault tests
 * (TTDEPLOY_CRASH_AT_DB, crashpoint.c): a crash in the middle of a restore
 * falls between two statements of one step, where no step write is.
 */
#include "dbclean.h"
#include "monotime.h"
#include "pgdb.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

int dbscratch_drop(const struct dbscratch *s, const char *name, double deadline, struct tt_err *err)
{
    char *server = pgdb_url_server(s->url);
    int owned = store_scratch_owned(s->store, s->deployment, name, server, err), rc = -1;

    if (owned == 0)
        tt_error(err,
                 "refusing to drop database %s on %s: the store does not say deployment %lld "
                 "created it (ttdeploy drops only the scratch databases it recorded before "
                 "creating them); if it is a leftover, drop it yourself",
                 name, server, s->deployment);
    if (owned == 1 && pgdb_drop_database(s->url, name, deadline, err) == 0 &&
        store_scratch_dropped(s->store, s->deployment, name, server, err) == 0)
        rc = 0;
    free(server);
    return rc;
}

/* Refuses name when a database of that name exists that this deployment did not record. */
static int refuse_foreign(const struct dbscratch *s, const char *name, const char *server,
                          double deadline, struct tt_err *err)
{
    int exists = 0;
    if (pgdb_database_exists(s->url, name, deadline, &exists, err) < 0)
        return -1;
    if (!exists)
        return 0;
    int owned = store_scratch_owned(s->store, s->deployment, name, server, err);
    if (owned == 1) /* this deployment's own, left by an earlier try: made again */
        return dbscratch_drop(s, name, deadline, err);
    if (owned == 0)
        tt_error(err,
                 "database %s already exists on %s and deployment %lld did not create it: "
                 "ttdeploy neither replaces nor drops it; if it is a leftover of an old "
                 "ttdeploy, drop it yourself and run again",
                 name, server, s->deployment);
    return -1;
}

int dbscratch_create(const struct dbscratch *s, const char *purpose, const char *name, int copy,
                     double deadline, struct tt_err *err)
{
    char *server = pgdb_url_server(s->url);
    struct tt_err e2 = {0};
    int rc = refuse_foreign(s, name, server, deadline, err);

    if (rc == 0 && store_scratch_record(s->store, s->deployment, name, purpose, server, &e2) < 0)
        rc = tt_error(err,
                      "the store could not record scratch database %s, so it was not "
                      "created: %s",
                      name, e2.msg);
    if (rc == 0) {
        rc = copy ? pgdb_copy_database(s->url, name, deadline, err)
                  : pgdb_create_database(s->url, name, deadline, err);
        /* Not created: the record is closed, so no later DROP may take that name. */
        if (rc < 0)
            store_scratch_dropped(s->store, s->deployment, name, server, &e2);
        else
            crashpoint_db();
    }
    free(server);
    return rc;
}

/* ---- the swap of a restore -------------------------------------------------- */

struct swap_record {
    const struct dbscratch *s;
    const char *live;
    char *server;
    long long ids[2]; /* per enum pgdb_change: its database_changes row, or 0 */
    int made;         /* a change was made since the last crash point */
};

static int swap_before(void *ctx, enum pgdb_change change, const char *db, const char *to,
                       struct tt_err *err)
{
    struct swap_record *r = ctx;
    struct tt_err e2 = {0};

    if (r->made)
        crashpoint_db(); /* the change before this one is made */
    r->made = 1;
    if (strcmp(db, r->live))
        return 0; /* the restored copy taking the live name: the swap's end, kept below */
    enum store_db_change c =
        change == PGDB_CHANGE_RENAME ? STORE_DB_RENAMED_TO : STORE_DB_DENY_CONNECTIONS;
    if (store_db_change_record(r->s->store, r->s->deployment, r->server, db, c, to, &r->ids[change],
                               &e2) < 0)
        return tt_error(err,
                        "the store could not record the change to database %s (%s), so "
                        "it was not made: %s",
                        db, store_db_change_name(c), e2.msg);
    return 0;
}

static void swap_undone(void *ctx, enum pgdb_change change)
{
    struct swap_record *r = ctx;
    struct tt_err e2 = {0};
    if (r->ids[change]) /* unrecorded: stays pending, recover finds it undone */
        store_db_change_end(r->s->store, r->ids[change], 1, &e2);
    r->ids[change] = 0;
}

int dbscratch_swap(const struct dbscratch *s, const char *live, const char *replacement,
                   const char *keep_as, long long *writes, double deadline, struct tt_err *err)
{
    struct swap_record r = {s, live, pgdb_url_server(s->url), {0, 0}, 0};
    struct pgdb_swap_hook hook = {swap_before, swap_undone, &r};
    struct tt_err e2 = {0};
    int rc = pgdb_swap_database(s->url, live, replacement, keep_as, writes, deadline, &hook, err);

    if (rc == 0) {
        if (r.made)
            crashpoint_db();
        for (size_t i = 0; rc == 0 && i < 2; i++)
            if (r.ids[i] && store_db_change_end(s->store, r.ids[i], 0, &e2) < 0)
                rc = -1;
        if (rc == 0 && store_scratch_dropped(s->store, s->deployment, replacement, r.server, &e2))
            rc = -1;
        if (rc < 0)
            tt_error(err, "%s now holds the restored copy, but the store could not record it: %s",
                     live, e2.msg);
    }
    free(r.server);
    return rc;
}

/* ---- recover ------------------------------------------------------------------ */

/*
 * Undoes change c, or finds the swap it was part of finished (*finished,
 * carried from the newer rename to the older deny of one swap): ends it
 * in the store either way.
 */
static int undo_change(struct run *a, const struct store_db_change_row *c, int *finished,
                       double deadline, struct buf *detail, struct tt_err *err)
{
    const char *url = a->plan->db_url;
    int db_there = 0, target_there = 0, rc, undone = 1;

    rc = pgdb_database_exists(url, c->database, deadline, &db_there, err);
    if (rc == 0 && c->change == STORE_DB_RENAMED_TO) {
        rc = pgdb_database_exists(url, c->target, deadline, &target_there, err);
        *finished = rc == 0 && db_there && target_there;
        if (rc == 0 && !db_there && !target_there)
            rc = tt_error(err,
                          "database %s was being renamed %s, and neither name exists on %s: "
                          "look for it with \\l in psql",
                          c->database, c->target, c->server);
        if (rc == 0 && !db_there)
            rc = pgdb_rename_database(url, c->target, c->database, deadline, err);
        if (rc == 0 && !db_there)
            buf_printf(detail, "%s%s renamed back from %s", detail->len ? "; " : "", c->database,
                       c->target);
        undone = !*finished;
    } else if (rc == 0 && *finished) {
        undone = 0; /* the swap was over: connections were already allowed on both */
    } else if (rc == 0 && db_there) {
        rc = pgdb_allow_connections(url, c->database, deadline, err);
        if (rc == 0)
            buf_printf(detail, "%s%s accepts connections again", detail->len ? "; " : "",
                       c->database);
    }
    if (c->change == STORE_DB_DENY_CONNECTIONS)
        *finished = 0; /* the older changes belong to another swap */
    struct tt_err e = {0};
    if (rc == 0 && store_db_change_end(a->store, c->id, undone, &e) < 0)
        rc = run_store_failed(a, &e);
    return rc;
}

struct recover_work {
    struct store_db_change_list changes;
    struct store_scratch_list scratch;
};

static enum action_result recover_databases(struct run *a, void *ctx, struct buf *detail,
                                            struct tt_err *err)
{
    struct recover_work *w = ctx;
    struct dbscratch s = {a->store, a->id, a->plan->db_url};
    double deadline = monotime_now() + a->plan->healthy_timeout_ms / 1000.0;
    char *server = pgdb_url_server(a->plan->db_url);
    int finished = 0, rc = 0;

    for (size_t i = 0; rc == 0 && i < w->changes.n; i++) {
        const struct store_db_change_row *c = &w->changes.v[i];
        if (strcmp(c->server, server))
            rc = tt_error(err,
                          "database %s on %s was left %s, but database.url now names %s: "
                          "undo it there by hand (ALTER DATABASE)",
                          c->database, c->server, store_db_change_name(c->change), server);
        else
            rc = undo_change(a, c, &finished, deadline, detail, err);
    }
    for (size_t i = 0; rc == 0 && i < w->scratch.n; i++) {
        const struct store_scratch *d = &w->scratch.v[i];
        if (strcmp(d->server, server))
            rc = tt_error(err,
                          "scratch database %s was made on %s, but database.url now names %s: "
                          "drop it there by hand",
                          d->name, d->server, server);
        else
            rc = dbscratch_drop(&s, d->name, deadline, err);
        if (rc == 0)
            buf_printf(detail, "%sdropped %s (%s)", detail->len ? "; " : "", d->name, d->purpose);
    }
    free(server);
    return rc == 0 ? ACTION_DONE : ACTION_FAILED;
}

int dbclean_recover(struct run *a)
{
    struct recover_work w = {0};
    struct tt_err e = {0};
    struct buf intent = {0}, detail = {0};
    int rc = 0;

    if (store_db_change_pending(a->store, a->id, &w.changes, &e) < 0 ||
        store_scratch_pending(a->store, a->id, &w.scratch, &e) < 0) {
        run_store_failed(a, &e);
        rc = tt_error(a->err, "the store could not list the databases deployment %lld left: %s",
                      a->id, e.msg);
    } else if (w.changes.n || w.scratch.n) {
        struct tt_err aerr = {0};
        buf_printf(&intent,
                   "undo %zu change(s) to the live database and drop %zu scratch database(s) "
                   "deployment %lld left",
                   w.changes.n, w.scratch.n, a->id);
        struct step_desc d = {DEPLOY_RECOVER, NULL, "databases", intent.data};
        run_say(a, "recover: %s", intent.data);
        enum action_result r = step_run(a, &d, recover_databases, &w, &detail, &aerr);
        if (r == ACTION_FAILED)
            rc = tt_error(a->err, "recover could not put the databases right: %s", aerr.msg);
        else
            run_say(a, "recover: %s", detail.data ? detail.data : "done");
    }
    store_db_change_list_clear(&w.changes);
    store_scratch_list_clear(&w.scratch);
    buf_release(&intent);
    buf_release(&detail);
    return rc;
}
