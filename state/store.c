/*
 * store.c - SQLite behind the audit store: the file and its schema, the
 * writes of a deployment, the names of states and statuses.  The queries
 * are in store_query.c and store_record.c, the lock in store_lock.c.
 *
 * Schema migrations are an ordered list of SQL scripts; script i brings
 * the file from user_version i-1 to i inside one transaction, so a file is
 * always at a version that some ttdeploy wrote.  Writes use prepared
 * statements; a step is one INSERT (intent) and one UPDATE (outcome), each
 * its own transaction with synchronous=NORMAL, which WAL makes durable
 * against a process crash.  The outcome's transaction also seals the step
 * in the audit chain, as a deployment's final status seals it
 * (store_audit.c).
 */
#include "store_db.h"
#include "buf.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  version TEXT, git_tag TEXT, git_commit TEXT,"
    "  plan_path TEXT, plan_sha256 TEXT, compose_sha256 TEXT,"
    "  actor TEXT, ci TEXT,"
    "  status TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  on_crash TEXT NOT NULL DEFAULT 'rollback',"
    "  started_at REAL NOT NULL, finished_at REAL,"
    "  error TEXT,"
    "  rolled_back_from INTEGER REFERENCES deployments(id));"
    "CREATE INDEX deployments_project ON deployments(project, id);"
    "CREATE INDEX deployments_status ON deployments(status, id);"
    "CREATE TABLE steps ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  seq INTEGER NOT NULL,"
    "  phase TEXT NOT NULL, service TEXT, action TEXT NOT NULL,"
    "  intent TEXT,"
    "  status TEXT NOT NULL,"
    "  started_at REAL NOT NULL, finished_at REAL,"
    "  detail TEXT, error TEXT,"
    "  UNIQUE (deployment_id, seq));"
    "CREATE INDEX steps_service ON steps(service, deployment_id);"
    "CREATE TABLE releases ("
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  service TEXT NOT NULL,"
    "  image TEXT, image_id TEXT, digest TEXT, config_hash TEXT, container_id TEXT,"
    "  environment TEXT,"
    "  PRIMARY KEY (deployment_id, service));"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER REFERENCES deployments(id),"
    "  at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT);"
    "CREATE TABLE lock ("
    "  project TEXT PRIMARY KEY,"
    "  host TEXT NOT NULL, pid INTEGER NOT NULL,"
    "  started_at REAL NOT NULL, heartbeat_at REAL NOT NULL,"
    "  deployment_id INTEGER);",
    /* 2: database phases: backups taken and migrations run */
    "CREATE TABLE backups ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  project TEXT NOT NULL,"
    "  path TEXT NOT NULL, bytes INTEGER, sha256 TEXT, verified TEXT,"
    "  created_at REAL NOT NULL, deleted_at REAL);"
    "CREATE INDEX backups_project ON backups(project, id);"
    "CREATE TABLE migrations ("
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  kind TEXT NOT NULL, revision_before TEXT, revision_after TEXT,"
    "  rehearsed TEXT, applied TEXT,"
    "  PRIMARY KEY (deployment_id));",
    /* 3: rollback: what kind of deployment, its decision and facts, backup write counters */
    "ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'apply';"
    "ALTER TABLE deployments ADD COLUMN notes TEXT;"
    "ALTER TABLE backups ADD COLUMN writes INTEGER;",
    /* 4: the scratch databases a deployment made, and its changes to live databases
     * (store_scratch.c), each recorded before it is made so recover can undo it */
    "CREATE TABLE scratch_databases ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  name TEXT NOT NULL, purpose TEXT NOT NULL, server TEXT NOT NULL,"
    "  created_at REAL NOT NULL, dropped_at REAL);"
    "CREATE INDEX scratch_databases_deployment ON scratch_databases(deployment_id, name);"
    "CREATE TABLE database_changes ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
    "  server TEXT NOT NULL, database TEXT NOT NULL, change TEXT NOT NULL, target TEXT,"
    "  made_at REAL NOT NULL, undo_done_at REAL, kept_at REAL);"
    "CREATE INDEX database_changes_deployment ON database_changes(deployment_id, id);",
    /* 5: the lock is held by a live deployment: its token, process start, boot, PID namespace */
    "ALTER TABLE lock ADD COLUMN token TEXT;"
    "ALTER TABLE lock ADD COLUMN start_ticks INTEGER;"
    "ALTER TABLE lock ADD COLUMN boot_id TEXT;"
    "ALTER TABLE lock ADD COLUMN pid_ns TEXT;",
    /* 6: the tamper-evident audit chain (store_audit.c): each final deployment and step
     * sealed with its hash and position.  The rows already there are sealed by
     * store_audit_seal_existing in this migration's transaction (STORE_AUDIT_MIGRATION).
     * A later migration may add only nullable columns without a default to these two
     * tables: a NULL is not hashed, a value would change every old row's hash. */
    "ALTER TABLE deployments ADD COLUMN hash TEXT;"
    "ALTER TABLE deployments ADD COLUMN chain_seq INTEGER;"
    "ALTER TABLE steps ADD COLUMN hash TEXT;"
    "ALTER TABLE steps ADD COLUMN chain_seq INTEGER;"
    "CREATE UNIQUE INDEX deployments_chain ON deployments(chain_seq);"
    "CREATE UNIQUE INDEX steps_chain ON steps(chain_seq);",
    /* 7: swarm mode: each service's recorded ServiceSpec (environment values
     * left out: swarm_spec_recordable) and Swarm's version of the service */
    "ALTER TABLE releases ADD COLUMN spec TEXT;"
    "ALTER TABLE releases ADD COLUMN service_version INTEGER;",
    /* 8: the record of each `ttdeploy check` (store_preflight.c): not a deployment, so not
     * on the audit chain; apply's own checks are steps of phase preflight */
    "CREATE TABLE preflights ("
    "  id INTEGER PRIMARY KEY,"
    "  project TEXT NOT NULL,"
    "  at REAL NOT NULL,"
    "  actor TEXT, plan_sha256 TEXT,"
    "  ok INTEGER NOT NULL,"
    "  result TEXT NOT NULL);"
    "CREATE INDEX preflights_project ON preflights(project, id);",
};

/* The migration that adds the audit chain, after whose script the existing rows are sealed. */
#define STORE_AUDIT_MIGRATION 6

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int store_db_error(struct store *s, struct tt_err *err, const char *what)
{
    return tt_error(err, "state store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec_sql(struct store *s, const char *sql, struct tt_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        tt_error(err, "state store %s: %s", s->path, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_schema_version(struct store *s)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int migrate(struct store *s, struct tt_err *err)
{
    int have = store_schema_version(s);
    int want = (int)(sizeof(migrations) / sizeof(migrations[0]));

    if (have > want)
        return tt_error(err,
                        "state store %s has schema version %d, newer than this ttdeploy knows "
                        "(%d): upgrade ttdeploy",
                        s->path, have, want);
    for (int v = have + 1; v <= want; v++) {
        struct buf sql = {0};
        buf_printf(&sql, "BEGIN IMMEDIATE; %s PRAGMA user_version = %d;", migrations[v - 1], v);
        int rc = exec_sql(s, sql.data, err);
        buf_release(&sql);
        if (rc == 0 && v == STORE_AUDIT_MIGRATION)
            rc = store_audit_seal_existing(s, err);
        if (rc == 0)
            rc = exec_sql(s, "COMMIT", err);
        if (rc < 0) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

/* Creates the parent directory (0700) of path when missing. */
static int make_parent(const char *path, struct tt_err *err)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            rc = tt_error(err, "cannot create the state directory %s: %s", dir, strerror(errno));
    }
    free(dir);
    return rc;
}

int store_open(const char *path, struct store **out, struct tt_err *err)
{
    struct store *s;
    int fd;

    *out = NULL;
    if (make_parent(path, err) < 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return tt_error(err, "cannot open the state store %s: %s", path, strerror(errno));
    close(fd);
    s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        store_db_error(s, err, "open");
        store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (exec_sql(s,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                 "PRAGMA foreign_keys=ON;",
                 err) < 0 ||
        migrate(s, err) < 0) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* Whether path's file, its directory or its file system refuse writes. */
static int store_is_read_only(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    struct statvfs fs;
    int ro;

    if (slash)
        slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
    else
        strcpy(dir, ".");
    ro = access(path, W_OK) < 0 || access(dir, W_OK) < 0 ||
         (statvfs(path, &fs) == 0 && (fs.f_flag & ST_RDONLY));
    free(dir);
    return ro;
}

/*
 * Opens path read-only: first as SQLite's ordinary read-only connection,
 * which needs the WAL index beside the file; where that cannot be made (a
 * read-only directory or file system) as an immutable file, which nothing
 * can be writing.
 */
static int open_read_only(const char *path, struct store *s, struct tt_err *err)
{
    static const char *const modes[] = {"mode=ro", "immutable=1"};
    struct buf uri = {0};
    int rc = -1;

    for (size_t i = 0; i < 2 && rc < 0; i++) {
        buf_reset(&uri);
        buf_adds(&uri, "file:");
        for (const char *p = path; *p; p++) /* a URI: '?', '#' and '%' are escaped */
            if (*p == '?' || *p == '#' || *p == '%')
                buf_printf(&uri, "%%%02X", (unsigned char)*p);
            else
                buf_addc(&uri, *p);
        buf_printf(&uri, "?%s", modes[i]);
        sqlite3_close(s->db);
        s->db = NULL;
        if (sqlite3_open_v2(uri.data, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) ==
                SQLITE_OK &&
            store_schema_version(s) >= 0)
            rc = 0;
    }
    buf_release(&uri);
    if (rc < 0)
        return store_db_error(s, err, "open read-only");
    return 0;
}

int store_open_existing(const char *path, struct store **out, struct tt_err *err)
{
    struct store *s;
    int want = (int)(sizeof(migrations) / sizeof(migrations[0])), have;

    *out = NULL;
    if (access(path, F_OK) < 0)
        return tt_error(err,
                        "no state store at %s: %s (reading never creates one: check --state, or "
                        "run `ttdeploy apply` first)",
                        path, strerror(errno));
    if (!store_is_read_only(path))
        return store_open(path, out, err);
    s = xcalloc(1, sizeof(*s));
    s->path = xstrdup(path);
    if (open_read_only(path, s, err) < 0) {
        store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 10000);
    have = store_schema_version(s);
    if (have != want) {
        tt_error(err,
                 "state store %s is read-only and has schema version %d, but this ttdeploy "
                 "reads version %d: %s",
                 path, have, want,
                 have < want ? "open it once where it is writable (any command migrates it)"
                             : "upgrade ttdeploy");
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int store_snapshot(struct store *s, const char *path, struct tt_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "VACUUM INTO ?1", -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_error(s, err, "copying the store");
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STORE_AUDIT_NSTMTS; i++)
        sqlite3_finalize(s->audit_stmt[i]);
    sqlite3_close(s->db);
    free(s->path);
    free(s->key_path);
    explicit_bzero(s->key, sizeof(s->key));
    free(s);
}

void store_db_bind(sqlite3_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') {
            const char *v = va_arg(ap, const char *);
            if (v && utf8_valid(v, strlen(v))) {
                sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
            } else if (v) { /* foreign bytes (exec output, an error): stored as UTF-8 */
                char *clean = utf8_sanitized(v);
                sqlite3_bind_text(st, i + 1, clean, -1, SQLITE_TRANSIENT);
                free(clean);
            } else {
                sqlite3_bind_null(st, i + 1);
            }
        } else if (types[i] == 'd') {
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
        }
    }
}

json_t *store_db_json_text(const char *v)
{
    if (!v)
        return json_null();
    if (utf8_valid(v, strlen(v)))
        return json_string(v);
    char *clean = utf8_sanitized(v);
    json_t *j = json_string(clean);
    free(clean);
    return j;
}

sqlite3_stmt *store_db_prepare_v(struct store *s, struct tt_err *err, const char *sql,
                                 const char *types, va_list ap)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_db_error(s, err, "prepare");
        return NULL;
    }
    store_db_bind(st, types, ap);
    return st;
}

sqlite3_stmt *store_db_prepare(struct store *s, struct tt_err *err, const char *sql,
                               const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *st = store_db_prepare_v(s, err, sql, types, ap);
    va_end(ap);
    return st;
}

/* Runs one write with its parameters bound per types (see store_db_bind). */
static int run_stmt(struct store *s, const char *sql, struct tt_err *err, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return store_db_error(s, err, "prepare");
    va_start(ap, types);
    store_db_bind(st, types, ap);
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_db_error(s, err, "write");
    return 0;
}

/* Ends a write transaction begun with BEGIN IMMEDIATE: COMMIT when rc is 0, else ROLLBACK. */
static int tx_end(struct store *s, int rc, struct tt_err *err)
{
    if (rc == 0 && exec_sql(s, "COMMIT", err) < 0)
        rc = -1;
    if (rc < 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int store_deployment_begin(struct store *s, const struct store_deployment *d, long long *id,
                           struct tt_err *err)
{
    int rc = run_stmt(
        s,
        "INSERT INTO deployments (project, version, git_tag, git_commit, plan_path, "
        "plan_sha256, compose_sha256, actor, ci, status, state, on_crash, "
        "started_at, rolled_back_from, kind) VALUES (?,?,?,?,?,?,?,?,?,'running',"
        "'created',?,?,NULLIF(?, 0),?)",
        err, "ttttttttttdit", d->project, d->version, d->git_tag, d->git_commit, d->plan_path,
        d->plan_sha256, d->compose_sha256, d->actor, d->ci, d->on_crash ? d->on_crash : "rollback",
        now_s(), d->rolled_back_from > 0 ? d->rolled_back_from : 0LL, d->kind ? d->kind : "apply");
    *id = rc < 0 ? 0 : sqlite3_last_insert_rowid(s->db); /* a failed INSERT names no row */
    return rc;
}

/* ---- the names of states and statuses ------------------------------------ */

static const char *const state_names[DEPLOY_NSTATES] = {
    "created",       "locked",      "preflight",       "backup", "migrate",   "infra_up",
    "infra_healthy", "app_up",      "app_healthy",     "verify", "succeeded", "deciding",
    "rolling_back",  "rolled_back", "rollback_failed", "failed", "recover",   "running"};

static const char *const status_names[STEP_NSTATUSES] = {"running", "ok", "failed", "skipped",
                                                         "interrupted"};

/* The index of name in names[0..n), or -1. */
static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

const char *deploy_state_name(enum deploy_state st)
{
    return st < DEPLOY_NSTATES ? state_names[st] : "?";
}

int deploy_state_from_name(const char *name)
{
    return name_index(state_names, DEPLOY_NSTATES, name);
}

const char *step_status_name(enum step_status st)
{
    return st < STEP_NSTATUSES ? status_names[st] : "?";
}

int step_status_from_name(const char *name)
{
    return name_index(status_names, STEP_NSTATUSES, name);
}

int store_deployment_set_state(struct store *s, long long id, enum deploy_state state,
                               struct tt_err *err)
{
    return run_stmt(s, "UPDATE deployments SET state = ? WHERE id = ?", err, "ti",
                    deploy_state_name(state), id);
}

int store_deployment_finish(struct store *s, long long id, enum deploy_state final,
                            const char *error, struct tt_err *err)
{
    if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int rc = run_stmt(s,
                      "UPDATE deployments SET status = ?, error = ?, finished_at = ? WHERE id = ? "
                      "AND chain_seq IS NULL",
                      err, "ttdi", deploy_state_name(final), error, now_s(), id);
    if (rc == 0)
        rc = store_audit_seal_deployment(s, id, err);
    return tx_end(s, rc, err);
}

int store_deployment_error(struct store *s, long long id, const char *error, struct tt_err *err)
{
    return run_stmt(s, "UPDATE deployments SET error = ? WHERE id = ? AND status = 'running'", err,
                    "ti", error, id);
}

int store_deployment_note(struct store *s, long long id, const char *key, json_t *value,
                          struct tt_err *err)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    struct buf path = {0};
    buf_printf(&path, "$.%s", key);
    int rc = run_stmt(s,
                      "UPDATE deployments SET notes = json_set(COALESCE(notes, '{}'), ?, "
                      "json(?)) WHERE id = ?",
                      err, "tti", path.data, text, id);
    buf_release(&path);
    free(text);
    return rc;
}

int store_backup_writes(struct store *s, long long deployment, long long writes, struct tt_err *err)
{
    return run_stmt(s, "UPDATE backups SET writes = ? WHERE deployment_id = ?", err, "ii", writes,
                    deployment);
}

int store_step_begin(struct store *s, long long deployment, enum deploy_state phase,
                     const char *service, const char *action, const char *intent, long long *step,
                     struct tt_err *err)
{
    int rc = run_stmt(s,
                      "INSERT INTO steps (deployment_id, seq, phase, service, action, intent, "
                      "status, started_at) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                      "steps WHERE deployment_id = ?1), ?2, ?3, ?4, ?5, 'running', ?6)",
                      err, "ittttd", deployment, deploy_state_name(phase), service, action, intent,
                      now_s());
    *step = rc < 0 ? 0 : sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_step_end(struct store *s, long long step, enum step_status status, const char *detail,
                   const char *error, struct tt_err *err)
{
    if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int rc = run_stmt(s,
                      "UPDATE steps SET status = ?, detail = ?, error = ?, finished_at = ? WHERE "
                      "id = ? AND chain_seq IS NULL",
                      err, "tttdi", step_status_name(status), detail, error, now_s(), step);
    if (rc == 0)
        rc = store_audit_seal(s, "steps", step, err);
    return tx_end(s, rc, err);
}

int store_steps_interrupt(struct store *s, long long deployment, struct tt_err *err)
{
    if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    int rc = run_stmt(s,
                      "UPDATE steps SET status = 'interrupted', finished_at = ?, error = "
                      "'ttdeploy stopped before this step finished' WHERE deployment_id = ? AND "
                      "status = 'running' AND chain_seq IS NULL",
                      err, "di", now_s(), deployment);
    if (rc == 0)
        rc = store_audit_seal_steps(s, deployment, 1, err);
    return tx_end(s, rc, err);
}

int store_event_record(struct store *s, long long deployment, double at, const char *kind,
                       const char *detail, struct tt_err *err)
{
    return run_stmt(s, "INSERT INTO events (deployment_id, at, kind, detail) VALUES (?,?,?,?)", err,
                    "idtt", deployment, at > 0 ? at : now_s(), kind, detail);
}

int store_backup_record(struct store *s, long long deployment, const char *project,
                        const char *path, long long bytes, const char *sha256, const char *verified,
                        struct tt_err *err)
{
    return run_stmt(s,
                    "INSERT INTO backups (deployment_id, project, path, bytes, sha256, verified, "
                    "created_at) VALUES (?,?,?,?,?,?,?)",
                    err, "ittittd", deployment, project, path, bytes, sha256, verified, now_s());
}

int store_backup_deleted(struct store *s, long long id, struct tt_err *err)
{
    return run_stmt(s, "UPDATE backups SET deleted_at = ? WHERE id = ?", err, "di", now_s(), id);
}

int store_migration_record(struct store *s, long long deployment, const char *kind,
                           const char *before, const char *after, const char *rehearsed,
                           const char *applied, struct tt_err *err)
{
    return run_stmt(s,
                    "INSERT OR REPLACE INTO migrations (deployment_id, kind, revision_before, "
                    "revision_after, rehearsed, applied) VALUES (?,?,?,?,?,?)",
                    err,
                    "itttt"
                    "t",
                    deployment, kind, before, after, rehearsed, applied);
}

int store_release_record(struct store *s, long long deployment, const struct store_release *r,
                         struct tt_err *err)
{
    return run_stmt(s,
                    "INSERT OR REPLACE INTO releases (deployment_id, service, image, image_id, "
                    "digest, config_hash, container_id, environment, spec, service_version) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?)",
                    err, "itttttttti", deployment, r->service, r->image, r->image_id, r->digest,
                    r->config_hash, r->container_id, r->environment, r->spec, r->service_version);
}

int store_is_secret_name(const char *name)
{
    static const char *const words[] = {"PASSWORD", "PASSWD",     "SECRET",  "TOKEN",
                                        "KEY",      "CREDENTIAL", "PRIVATE", "AUTH",
                                        "DSN",      "PWD",        NULL};
    struct buf up = {0};
    int hit = 0;
    for (const char *p = name; *p; p++)
        buf_addc(&up, (char)toupper((unsigned char)*p));
    for (size_t i = 0; words[i] && up.data; i++)
        hit |= strstr(up.data, words[i]) != NULL;
    buf_release(&up);
    return hit;
}
