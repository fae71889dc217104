/*
 * store_record.c - one deployment as typed rows: store_record_load() reads
 * the deployment and its steps, releases, events, backups and migration
 * with one statement per table, column by column, into C structs; names
 * of states and statuses become enums, NULL times become NAN.  The notes
 * column is JSON the deployment wrote as it went; its decision, restore
 * and rollback facts are read here, so that no caller looks keys up.
 *
 * store_record_json() turns a record back into JSON for `show --json`,
 * with the keys and types the columns had, so that the record is the one
 * representation of a deployment.
 */
#include "store_db.h"
#include "buf.h"
#include "utf8.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* ---- columns ------------------------------------------------------------- */

/* Column i as a string of the record's arena (UTF-8: see store_db_json_text), or NULL. */
static const char *col_text(struct store_record *r, sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    if (!v || utf8_valid(v, strlen(v)))
        return v ? arena_strdup(&r->arena, v) : NULL;
    char *clean = utf8_sanitized(v);
    const char *kept = arena_strdup(&r->arena, clean);
    free(clean);
    return kept;
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Column i as an integer, or none when it is NULL. */
static long long col_int(sqlite3_stmt *st, int i, long long none)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int64(st, i);
}

/* The enum of a name column (looked up with from_name); -1 with err when it is unknown. */
static int col_enum(struct store *s, sqlite3_stmt *st, int i, int (*from_name)(const char *),
                    struct tt_err *err)
{
    const char *name = (const char *)sqlite3_column_text(st, i);
    int v = from_name(name);
    if (v < 0)
        tt_error(err, "state store %s: %s \"%s\" of deployment %lld is unknown to this ttdeploy",
                 s->path, sqlite3_column_name(st, i), name ? name : "(null)",
                 (long long)sqlite3_column_int64(st, 0));
    return v;
}

/* ---- rows ---------------------------------------------------------------- */

/* Reads one row of a table's statement into r; 0, or -1 with err set. */
typedef int (*row_fn)(struct store *s, struct store_record *r, sqlite3_stmt *st,
                      struct tt_err *err);

/*
 * Runs sql (its first column the deployment id, bound to ?1) and reads
 * each row into r with fn.  Returns how many rows it read, or -1.
 */
static int each_row(struct store *s, struct store_record *r, const char *sql, row_fn fn,
                    struct tt_err *err)
{
    sqlite3_stmt *st;
    int rc, n = 0;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_db_error(s, err, "prepare");
    sqlite3_bind_int64(st, 1, r->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && fn(s, r, st, err) == 0)
        n++;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return -1;
    if (rc != SQLITE_DONE)
        return store_db_error(s, err, "read");
    return n;
}

static int read_deployment(struct store *s, struct store_record *r, sqlite3_stmt *st,
                           struct tt_err *err)
{
    int status = col_enum(s, st, 10, deploy_state_from_name, err);
    int state = status < 0 ? -1 : col_enum(s, st, 11, deploy_state_from_name, err);
    if (state < 0)
        return -1;
    r->d.project = col_text(r, st, 1);
    r->d.version = col_text(r, st, 2);
    r->d.git_tag = col_text(r, st, 3);
    r->d.git_commit = col_text(r, st, 4);
    r->d.plan_path = col_text(r, st, 5);
    r->d.plan_sha256 = col_text(r, st, 6);
    r->d.compose_sha256 = col_text(r, st, 7);
    r->d.actor = col_text(r, st, 8);
    r->d.ci = col_text(r, st, 9);
    r->status = (enum deploy_state)status;
    r->state = (enum deploy_state)state;
    r->d.on_crash = col_text(r, st, 12);
    r->started_at = col_real(st, 13);
    r->finished_at = col_real(st, 14);
    r->error = col_text(r, st, 15);
    r->d.rolled_back_from = col_int(st, 16, 0);
    r->d.kind = col_text(r, st, 17);
    r->notes = col_text(r, st, 18);
    return 0;
}

/*
 * Room in the arena for all the rows of a table's statement, taken on its
 * first row: column 1 of the statements below counts the rows
 * (count(*) OVER (), a window over the whole result).
 */
static void *rows_room(struct store_record *r, sqlite3_stmt *st, size_t size)
{
    return arena_alloc(&r->arena, (size_t)sqlite3_column_int64(st, 1) * size);
}

static int read_step(struct store *s, struct store_record *r, sqlite3_stmt *st, struct tt_err *err)
{
    int phase = col_enum(s, st, 3, deploy_state_from_name, err);
    int status = phase < 0 ? -1 : col_enum(s, st, 7, step_status_from_name, err);
    if (status < 0)
        return -1;
    if (!r->nsteps)
        r->steps = rows_room(r, st, sizeof(*r->steps));
    r->steps[r->nsteps++] = (struct store_step){
        .seq = sqlite3_column_int64(st, 2),
        .phase = (enum deploy_state)phase,
        .service = col_text(r, st, 4),
        .action = col_text(r, st, 5),
        .intent = col_text(r, st, 6),
        .status = (enum step_status)status,
        .started_at = col_real(st, 8),
        .finished_at = col_real(st, 9),
        .detail = col_text(r, st, 10),
        .error = col_text(r, st, 11),
    };
    return 0;
}

static int read_release(struct store *s, struct store_record *r, sqlite3_stmt *st,
                        struct tt_err *err)
{
    (void)s, (void)err;
    if (!r->nreleases)
        r->releases = rows_room(r, st, sizeof(*r->releases));
    struct store_release *x = &r->releases[r->nreleases++];
    x->service = col_text(r, st, 2);
    x->image = col_text(r, st, 3);
    x->image_id = col_text(r, st, 4);
    x->digest = col_text(r, st, 5);
    x->config_hash = col_text(r, st, 6);
    x->container_id = col_text(r, st, 7);
    x->environment = col_text(r, st, 8);
    x->spec = col_text(r, st, 9);
    x->service_version = col_int(st, 10, 0);
    return 0;
}

static int read_event(struct store *s, struct store_record *r, sqlite3_stmt *st, struct tt_err *err)
{
    (void)s, (void)err;
    if (!r->nevents)
        r->events = rows_room(r, st, sizeof(*r->events));
    r->events[r->nevents++] = (struct store_event){
        .at = col_real(st, 2), .kind = col_text(r, st, 3), .detail = col_text(r, st, 4)};
    return 0;
}

static int read_backup(struct store *s, struct store_record *r, sqlite3_stmt *st,
                       struct tt_err *err)
{
    (void)s, (void)err;
    if (!r->nbackups)
        r->backups = rows_room(r, st, sizeof(*r->backups));
    struct store_backup *b = &r->backups[r->nbackups++];
    b->path = col_text(r, st, 2);
    b->bytes = col_int(st, 3, -1);
    b->sha256 = col_text(r, st, 4);
    b->verified = col_text(r, st, 5);
    b->created_at = col_real(st, 6);
    b->deleted_at = col_real(st, 7);
    b->writes = col_int(st, 8, -1);
    return 0;
}

static int read_migration(struct store *s, struct store_record *r, sqlite3_stmt *st,
                          struct tt_err *err)
{
    (void)s, (void)err;
    struct store_migration *m = arena_alloc(&r->arena, sizeof(*m));
    *m = (struct store_migration){
        .kind = col_text(r, st, 2),
        .revision_before = col_text(r, st, 3),
        .revision_after = col_text(r, st, 4),
        .rehearsed = col_text(r, st, 5),
        .applied = col_text(r, st, 6),
    };
    r->migration = m;
    return 0;
}

/* ---- the notes ------------------------------------------------------------ */

/* A string member of a notes object, copied into the arena, or NULL. */
static const char *note_text(struct store_record *r, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? arena_strdup(&r->arena, v) : NULL;
}

/* A number member of a notes object, or NAN. */
static double note_real(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void read_failure(struct store_record *r, json_t *o, struct store_failure *f)
{
    f->phase = note_text(r, o, "phase");
    f->check = note_text(r, o, "check");
    f->service = note_text(r, o, "service");
    f->health = note_text(r, o, "health");
    f->value = note_text(r, o, "value");
    f->value_before = note_text(r, o, "value_before");
    f->error_rate = note_real(o, "error_rate");
    f->p95_ms = note_real(o, "p95_ms");
    f->p95_before_ms = note_real(o, "p95_before_ms");
}

static const struct store_decision *read_decision(struct store_record *r, json_t *o)
{
    struct store_decision *d = arena_alloc(&r->arena, sizeof(*d));
    json_t *actions = json_object_get(o, "actions"), *at = json_object_get(o, "at");
    read_failure(r, json_object_get(o, "failure"), &d->failure);
    d->builtin = json_is_true(json_object_get(o, "builtin"));
    d->rule = json_integer_value(json_object_get(o, "rule"));
    d->rule_text = note_text(r, o, "rule_text");
    d->severity = note_text(r, o, "severity");
    d->measured = note_text(r, o, "measured");
    d->at_file = note_text(r, at, "file");
    d->at_line = (int)json_integer_value(json_object_get(at, "line"));
    d->actions = arena_alloc(&r->arena, (json_array_size(actions) + 1) * sizeof(*d->actions));
    for (size_t i = 0; i < json_array_size(actions); i++)
        if (json_is_string(json_array_get(actions, i)))
            d->actions[d->nactions++] =
                arena_strdup(&r->arena, json_string_value(json_array_get(actions, i)));
    return d;
}

static const struct store_restore *read_restore(struct store_record *r, json_t *o)
{
    struct store_restore *x = arena_alloc(&r->arena, sizeof(*x));
    json_t *w = json_object_get(o, "writes_since_backup");
    x->backup = note_text(r, o, "backup");
    x->kept_as = note_text(r, o, "kept_as");
    x->writes_counted = json_is_integer(w);
    x->writes_since_backup = json_integer_value(w);
    return x;
}

/* Reads the facts of the notes column; notes that do not parse tell nothing. */
static void read_notes(struct store_record *r)
{
    json_t *notes = r->notes ? json_loads(r->notes, 0, NULL) : NULL;
    json_t *decision = json_object_get(notes, "decision");
    json_t *restore = json_object_get(notes, "restore");
    json_t *to = json_object_get(notes, "rolled_back_to");

    r->decision = json_is_object(decision) ? read_decision(r, decision) : NULL;
    r->restore = json_is_object(restore) ? read_restore(r, restore) : NULL;
    r->rolled_back_to = json_is_integer(to) ? json_integer_value(to) : 0;
    r->recovered_seconds = note_real(notes, "recovered_seconds");
    json_decref(notes);
}

/* ---- the record ----------------------------------------------------------- */

/*
 * What is recorded about a deployment beside its own row: one statement
 * each, whose columns are the deployment id, the number of rows, then the
 * table's own.
 */
static const struct {
    const char *sql;
    row_fn read;
} tables[] = {
    {"SELECT deployment_id, count(*) OVER (), seq, phase, service, action, intent, status, "
     "started_at, finished_at, detail, error FROM steps WHERE deployment_id = ?1 ORDER BY seq",
     read_step},
    {"SELECT deployment_id, count(*) OVER (), service, image, image_id, digest, config_hash, "
     "container_id, environment, spec, service_version FROM releases WHERE deployment_id = ?1 "
     "ORDER BY service",
     read_release},
    {"SELECT deployment_id, count(*) OVER (), at, kind, detail FROM events WHERE deployment_id = "
     "?1 ORDER BY id",
     read_event},
    {"SELECT deployment_id, count(*) OVER (), path, bytes, sha256, verified, created_at, "
     "deleted_at, writes FROM backups WHERE deployment_id = ?1 ORDER BY id",
     read_backup},
    {"SELECT deployment_id, count(*) OVER (), kind, revision_before, revision_after, rehearsed, "
     "applied FROM migrations WHERE deployment_id = ?1",
     read_migration},
};

int store_record_load(struct store *s, long long id, struct store_record **out, struct tt_err *err)
{
    struct store_record *r = xcalloc(1, sizeof(*r));
    int rc;

    r->id = id;
    rc = each_row(s, r,
                  "SELECT id, project, version, git_tag, git_commit, plan_path, plan_sha256, "
                  "compose_sha256, actor, ci, status, state, on_crash, started_at, finished_at, "
                  "error, rolled_back_from, kind, notes FROM deployments WHERE id = ?1",
                  read_deployment, err);
    if (rc == 0)
        rc = tt_error(err, "no deployment %lld in %s: see `ttdeploy history`", id, s->path);
    for (size_t i = 0; rc >= 0 && i < sizeof(tables) / sizeof(tables[0]); i++)
        rc = each_row(s, r, tables[i].sql, tables[i].read, err);
    if (rc < 0) {
        store_record_free(r);
        *out = NULL;
        return -1;
    }
    read_notes(r);
    *out = r;
    return 0;
}

void store_record_free(struct store_record *r)
{
    if (r)
        arena_free(&r->arena);
    free(r);
}

/* ---- as JSON ---------------------------------------------------------------- */

static json_t *real_json(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* An integer column where none stands for NULL. */
static json_t *int_json(long long v, long long none)
{
    return v == none ? json_null() : json_integer(v);
}

static json_t *deployment_json(const struct store_record *r)
{
    const struct store_deployment *d = &r->d;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "project", store_db_json_text(d->project));
    json_object_set_new(o, "version", store_db_json_text(d->version));
    json_object_set_new(o, "git_tag", store_db_json_text(d->git_tag));
    json_object_set_new(o, "git_commit", store_db_json_text(d->git_commit));
    json_object_set_new(o, "plan_path", store_db_json_text(d->plan_path));
    json_object_set_new(o, "plan_sha256", store_db_json_text(d->plan_sha256));
    json_object_set_new(o, "compose_sha256", store_db_json_text(d->compose_sha256));
    json_object_set_new(o, "actor", store_db_json_text(d->actor));
    json_object_set_new(o, "ci", store_db_json_text(d->ci));
    json_object_set_new(o, "status", json_string(deploy_state_name(r->status)));
    json_object_set_new(o, "state", json_string(deploy_state_name(r->state)));
    json_object_set_new(o, "on_crash", store_db_json_text(d->on_crash));
    json_object_set_new(o, "started_at", real_json(r->started_at));
    json_object_set_new(o, "finished_at", real_json(r->finished_at));
    json_object_set_new(o, "error", store_db_json_text(r->error));
    json_object_set_new(o, "rolled_back_from", int_json(d->rolled_back_from, 0));
    json_object_set_new(o, "kind", store_db_json_text(d->kind));
    json_object_set_new(o, "notes", store_db_json_text(r->notes));
    return o;
}

static json_t *step_json(const struct store_step *t)
{
    return json_pack("{s:I, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "seq",
                     (json_int_t)t->seq, "phase", deploy_state_name(t->phase), "service",
                     store_db_json_text(t->service), "action", store_db_json_text(t->action),
                     "intent", store_db_json_text(t->intent), "status", step_status_name(t->status),
                     "started_at", real_json(t->started_at), "finished_at",
                     real_json(t->finished_at), "detail", store_db_json_text(t->detail), "error",
                     store_db_json_text(t->error));
}

static json_t *release_json(const struct store_release *x)
{
    return json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "service", store_db_json_text(x->service),
        "image", store_db_json_text(x->image), "image_id", store_db_json_text(x->image_id),
        "digest", store_db_json_text(x->digest), "config_hash", store_db_json_text(x->config_hash),
        "container_id", store_db_json_text(x->container_id), "environment",
        store_db_json_text(x->environment), "spec", store_db_json_text(x->spec), "service_version",
        int_json(x->service_version, 0));
}

static json_t *backup_json(const struct store_backup *b)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "path", store_db_json_text(b->path),
                     "bytes", int_json(b->bytes, -1), "sha256", store_db_json_text(b->sha256),
                     "verified", store_db_json_text(b->verified), "created_at",
                     real_json(b->created_at), "deleted_at", real_json(b->deleted_at), "writes",
                     int_json(b->writes, -1));
}

json_t *store_record_json(const struct store_record *r)
{
    json_t *o = deployment_json(r);
    json_t *steps = json_array(), *releases = json_array(), *events = json_array();
    json_t *backups = json_array(), *migrations = json_array();
    const struct store_migration *m = r->migration;

    for (size_t i = 0; i < r->nsteps; i++)
        json_array_append_new(steps, step_json(&r->steps[i]));
    for (size_t i = 0; i < r->nreleases; i++)
        json_array_append_new(releases, release_json(&r->releases[i]));
    for (size_t i = 0; i < r->nevents; i++)
        json_array_append_new(events, json_pack("{s:o, s:o, s:o}", "at", real_json(r->events[i].at),
                                                "kind", store_db_json_text(r->events[i].kind),
                                                "detail", store_db_json_text(r->events[i].detail)));
    for (size_t i = 0; i < r->nbackups; i++)
        json_array_append_new(backups, backup_json(&r->backups[i]));
    if (m)
        json_array_append_new(
            migrations,
            json_pack("{s:o, s:o, s:o, s:o, s:o}", "kind", store_db_json_text(m->kind),
                      "revision_before", store_db_json_text(m->revision_before), "revision_after",
                      store_db_json_text(m->revision_after), "rehearsed",
                      store_db_json_text(m->rehearsed), "applied", store_db_json_text(m->applied)));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "releases", releases);
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "backups", backups);
    json_object_set_new(o, "migrations", migrations);
    return o;
}
