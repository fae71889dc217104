/*
 * phase_migrate.c - the migrate phase: SQL migration files (applied in
 * one transaction each under an advisory lock) or the plan's command (an
 * Alembic-style `upgrade head` in a one-off container of the migration
 * service), rehearsed first on a copy of the database when the plan asks,
 * with the revisions before and after recorded.  The pieces that read the
 * revision and run the up or down command are shared with the rollback's
 * migrations action.
 */
#include "run.h"
#include "utf8.h"
#include "backup.h"
#include "dbclean.h"
#include "monotime.h"
#include "pgdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Makes tt_rehearsal_HASH (pgdb_scratch_name: short, never the live
 * name), a copy of the database for rehearsing migrations:
 * CREATE DATABASE ... TEMPLATE db, or, when other sessions are open on db,
 * a restore of this deployment's fresh backup.  *how says which.
 */
static int rehearsal_copy(struct run *a, double deadline, char **copy_name, char **copy_url,
                          const char **how, struct tt_err *err)
{
    const struct plan *pl = a->plan;
    char *db = pgdb_url_db(pl->db_url), id[32];
    struct buf out = {0};
    int rc;

    snprintf(id, sizeof(id), "%lld", a->id);
    *copy_name = pgdb_scratch_name("rehearsal", db, id);
    *copy_url = pgdb_conninfo_with_db(pl->db_url, *copy_name, NULL, err); /* in-process only */
    *how = "template copy";
    if (!*copy_url) {
        free(db);
        return -1;
    }
    struct dbscratch s = {a->store, a->id, pl->db_url};
    rc = dbscratch_create(&s, "rehearsal", *copy_name, 1, deadline, err);
    if (rc < 0 && a->backup_path && strstr(err->msg, "being accessed by other users")) {
        *how = "restore of this deployment's backup (the database has open sessions)";
        rc = dbscratch_create(&s, "rehearsal", *copy_name, 0, deadline, err);
        char *password = NULL, *target = NULL;
        if (rc == 0 && !(target = pgdb_conninfo_with_db(pl->db_url, *copy_name, &password, err)))
            rc = -1;
        if (rc == 0) { /* the password in pg_restore's environment, not in its argv */
            char *argv[] = {"pg_restore",   "--no-owner", "--exit-on-error", "-d", target,
                            a->backup_path, NULL};
            int code = backup_run_host(argv, password, &out, err);
            if (code != 0)
                rc = code < 0 ? -1
                              : tt_error(err, "restoring the backup for the rehearsal failed: %.*s",
                                         (int)utf8_cut_len(out.data ? out.data : "", out.len, 300),
                                         out.data ? out.data : "");
        }
        free(target);
        free(password);
    }
    buf_release(&out);
    free(db);
    run_say(a, "migrate: rehearsing on %s (%s)", *copy_name, *how);
    return rc;
}

/* Runs the pending SQL migrations on a copy of the database; the copy is always dropped. */
static int rehearse(struct run *a, const struct pgdb_migrations *m, double deadline,
                    char **rehearsed)
{
    char *copy = NULL, *copy_url = NULL;
    const char *how;
    struct strv tried = {0};
    struct tt_err rerr = {0}, e2 = {0};
    int rc = rehearsal_copy(a, deadline, &copy, &copy_url, &how, &rerr);
    struct pgdb *rc_conn = rc == 0 ? pgdb_connect_db(a->plan->db_url, copy, deadline, &rerr) : NULL;

    if (rc_conn) {
        rc = pgdb_migrations_apply(rc_conn, m, &tried, &rerr);
        pgdb_close(rc_conn);
    } else {
        rc = -1;
    }
    struct dbscratch s = {a->store, a->id, a->plan->db_url};
    if (dbscratch_drop(&s, copy, deadline, &e2) < 0 && rc == 0)
        rc = tt_error(&rerr, "%s", e2.msg);
    if (rc < 0) {
        tt_error(a->err, "rehearsal on %s failed, the real database was not touched: %s", copy,
                 rerr.msg);
    } else {
        struct buf r = {0};
        char *names = strv_join(&tried, ", ");
        buf_printf(&r, "%s by %s", names, how);
        *rehearsed = buf_detach(&r);
        free(names);
    }
    strv_clear(&tried);
    free(copy);
    free(copy_url);
    return rc;
}

/* Brings the database service up if it is not (a first deployment), so migrations can run. */
static int ensure_database(struct run *a)
{
    struct tt_err e = {0};
    char *id = run_container_id(a, a->plan->db_service, &e);
    if (id || e.msg[0]) { /* e: it runs on another node of the swarm */
        free(id);
        return 0;
    }
    struct stack_options so = {0};
    strv_push(&so.services, a->plan->db_service);
    so.timeout_ms = a->plan->healthy_timeout_ms;
    so.progress = a->o->progress;
    so.out = a->o->out;
    int rc = run_stack_up(a, a->project, a->dag, &so, NULL, a->err);
    strv_clear(&so.services);
    return rc;
}

/*
 * Records a migration's revisions and ends its step; rc says whether it
 * worked.  Returns rc, or -1 when the store could not record.
 */
static int finish_migration(struct run *a, long long step, const char *kind, const char *before,
                            const char *after, const char *rehearsed, const char *applied,
                            const struct buf *text, int rc)
{
    struct tt_err e = {0};
    if (store_migration_record(a->store, a->id, kind, before, rc == 0 ? after : before, rehearsed,
                               applied, &e) < 0) {
        run_store_failed(a, &e);
        if (rc == 0)
            rc = tt_error(a->err, "the store could not record the migration: %s", e.msg);
    }
    if (step_end(a, step, rc == 0 ? STEP_OK : STEP_FAILED, text->len ? text->data : NULL,
                 rc == 0 ? NULL : a->err->msg) < 0)
        rc = -1;
    if (rc == 0)
        run_say(a, "migrate: %s", text->data);
    return rc;
}

/* The revision per the plan's revision_query on url: "" when there is none yet (no table). */
int migrate_read_revision(struct run *a, const char *url, double deadline, char **out)
{
    struct tt_err e2 = {0};
    struct pgdb *c = pgdb_connect(url, deadline, a->err);
    *out = NULL;
    if (!c)
        return -1;
    if (pgdb_value(c, a->plan->migrate.revision_query, out, &e2) < 0 || !*out) {
        free(*out);
        *out = xstrdup("");
    }
    pgdb_close(c);
    return 0;
}

/*
 * The migration service's environment pointed at the copy: every value
 * that names the database as a URL path ("/DB" at the end or before "?")
 * names the copy instead.
 */
static void env_for_copy(const struct compose_service *s, const char *db, const char *copy,
                         struct strv *out)
{
    struct buf pat = {0};
    buf_printf(&pat, "/%s", db);
    for (size_t i = 0; i < s->environment.n; i++) {
        const char *v = s->environment.v[i].value;
        const char *hit = v ? strstr(v, pat.data) : NULL;
        if (!hit || (hit[pat.len] != '\0' && hit[pat.len] != '?'))
            continue;
        struct buf e = {0};
        buf_printf(&e, "%s=%.*s/%s%s", s->environment.v[i].key, (int)(hit - v), v, copy,
                   hit + pat.len);
        strv_push_owned(out, buf_detach(&e));
    }
    buf_release(&pat);
}

/* Runs the plan's up or down command in a one-off container of the migration service. */
int migrate_run_command(struct run *a, const struct strv *tmpl, const char *before,
                        const char *image, const struct strv *env, struct tt_err *err)
{
    const struct compose_service *s = compose_find_service(a->project, a->plan->migrate.service);
    struct strv argv = {0};
    struct buf logs = {0};
    int code = -1, rc;

    for (size_t i = 0; i < tmpl->n; i++) {
        const char *arg = tmpl->v[i];
        strv_push(&argv, !strcmp(arg, "{revision_before}") ? (before[0] ? before : "base") : arg);
    }
    rc = run_oneoff(a, s, image ? image : s->image, &argv, env, 3600000, &code, &logs, err);
    if (rc == 0 && code != 0) {
        char *cmd = strv_join(&argv, " ");
        rc = tt_error(err, "`%s` exited %d%s", cmd, code, logs.data ? logs.data : "");
        free(cmd);
    }
    strv_clear(&argv);
    buf_release(&logs);
    return rc;
}

/* Rehearses the command migration on a copy: up, and when the plan has one, down back to before. */
static int rehearse_command(struct run *a, const char *before, double deadline, char **rehearsed)
{
    const struct plan *pl = a->plan;
    const struct compose_service *s = compose_find_service(a->project, pl->migrate.service);
    char *copy = NULL, *copy_url = NULL, *db = pgdb_url_db(pl->db_url), *up_rev = NULL,
         *down_rev = NULL;
    const char *how;
    struct strv env = {0};
    struct tt_err rerr = {0}, e2 = {0};
    int rc = rehearsal_copy(a, deadline, &copy, &copy_url, &how, &rerr);

    env_for_copy(s, db ? db : "", copy, &env);
    if (rc == 0 && env.n == 0)
        rc = tt_error(&rerr,
                      "no variable of service %s names the database %s in a URL, so the "
                      "rehearsal cannot point it at the copy: set rehearse: false",
                      s->name, db ? db : "?");
    if (rc == 0)
        rc = migrate_run_command(a, &pl->migrate.up, before, NULL, &env, &rerr);
    if (rc == 0)
        rc = migrate_read_revision(a, copy_url, deadline, &up_rev);
    if (rc == 0 && pl->migrate.down.n) {
        rc = migrate_run_command(a, &pl->migrate.down, before, NULL, &env, &rerr);
        if (rc == 0)
            rc = migrate_read_revision(a, copy_url, deadline, &down_rev);
        if (rc == 0 && strcmp(down_rev, before))
            rc = tt_error(&rerr,
                          "the down command left revision \"%s\", not \"%s\": the way back "
                          "does not work",
                          down_rev, before);
    }
    struct dbscratch owner = {a->store, a->id, pl->db_url};
    if (dbscratch_drop(&owner, copy, deadline, &e2) < 0 && rc == 0)
        rc = tt_error(&rerr, "%s", e2.msg);
    if (rc < 0) {
        tt_error(a->err, "rehearsal on %s failed, the real database was not touched: %s", copy,
                 rerr.msg);
    } else {
        struct buf r = {0};
        buf_printf(&r, "up %s -> %s", before[0] ? before : "base", up_rev);
        if (down_rev)
            buf_printf(&r, ", down -> %s", down_rev[0] ? down_rev : "base");
        buf_printf(&r, " by %s", how);
        *rehearsed = buf_detach(&r);
    }
    strv_clear(&env);
    free(copy);
    free(copy_url);
    free(db);
    free(up_rev);
    free(down_rev);
    return rc;
}

static int migrate_command(struct run *a)
{
    const struct plan *pl = a->plan;
    char *before = NULL, *after = NULL, *rehearsed = NULL, *cmd = strv_join(&pl->migrate.up, " ");
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    struct buf text = {0};
    long long step;
    int rc;

    buf_printf(&text, "`%s` in a one-off %s container%s", cmd, pl->migrate.service,
               pl->migrate.rehearse ? ", rehearsed on a copy first" : "");
    if ((rc = step_begin(a, DEPLOY_MIGRATE, pl->migrate.service, "command", text.data, &step)) < 0)
        goto out;
    if ((rc = ensure_database(a)) == 0)
        rc = migrate_read_revision(a, pl->db_url, deadline, &before);
    if (rc == 0 && pl->migrate.rehearse)
        rc = rehearse_command(a, before, deadline, &rehearsed);
    if (rc == 0) {
        struct tt_err e2 = {0};
        for (size_t i = 0; rc == 0 && i < pl->migrate.stop_during.n; i++)
            rc = run_toggle_service(a, pl->migrate.stop_during.v[i], 0, a->err);
        if (rc == 0) {
            run_say(a, "migrate: running `%s` (stopped: %zu service(s))", cmd,
                    pl->migrate.stop_during.n);
            rc = migrate_run_command(a, &pl->migrate.up, before, NULL, NULL, a->err);
        }
        for (size_t i = 0; i < pl->migrate.stop_during.n;
             i++) /* started again, whatever happened */
            run_toggle_service(a, pl->migrate.stop_during.v[i], 1, &e2);
    }
    if (rc == 0)
        rc = migrate_read_revision(a, pl->db_url, deadline, &after);
    buf_reset(&text);
    if (rc == 0)
        buf_printf(&text, "revision %s -> %s", before[0] ? before : "base",
                   after[0] ? after : "base");
    rc = finish_migration(a, step, "command", before, after, rehearsed, rc == 0 ? cmd : NULL, &text,
                          rc);
out:
    free(before);
    free(after);
    free(rehearsed);
    free(cmd);
    buf_release(&text);
    return rc;
}

int phase_migrate(struct run *a)
{
    const struct plan *pl = a->plan;
    struct pgdb_migrations m = {0};
    struct strv pending = {0}, applied = {0};
    char *dir = NULL, *before = NULL, *after = NULL, *joined = NULL, *rehearsed = NULL;
    long long step;
    struct buf text = {0};
    struct pgdb *c = NULL;
    double deadline = monotime_now() + pl->healthy_timeout_ms / 1000.0;
    int rc;

    if (!pl->migrate.present)
        return step_skipped(a, DEPLOY_MIGRATE, "no migrate: in the plan");
    if (!strcmp(pl->migrate.kind, "command"))
        return migrate_command(a);
    dir = plan_resolve(a->plan, pl->migrate.dir);
    if ((rc = pgdb_migrations_load(dir, &m, a->err)) < 0)
        goto out;
    buf_printf(&text, "SQL migrations from %s (%zu files)%s", dir, m.n,
               pl->migrate.rehearse ? ", rehearsed on a copy first" : "");
    if ((rc = step_begin(a, DEPLOY_MIGRATE, pl->db_service, "sql", text.data, &step)) < 0)
        goto out;
    if ((rc = ensure_database(a)) == 0 && !(c = pgdb_connect(pl->db_url, deadline, a->err)))
        rc = -1;
    if (rc == 0)
        rc = pgdb_migrations_current(c, &before, a->err);
    if (rc == 0)
        rc = pgdb_migrations_pending(c, &m, &pending, a->err);
    if (rc == 0 && pending.n && pl->migrate.rehearse) {
        pgdb_close(c); /* a template copy needs the source database to have no sessions */
        c = NULL;
        rc = rehearse(a, &m, deadline, &rehearsed);
        if (rc == 0 && !(c = pgdb_connect(pl->db_url, deadline, a->err)))
            rc = -1;
    }
    if (rc == 0)
        rc = pgdb_migrations_apply(c, &m, &applied, a->err);
    if (rc == 0)
        rc = pgdb_migrations_current(c, &after, a->err);
    joined = strv_join(&applied, ", ");
    buf_reset(&text);
    if (rc == 0)
        buf_printf(&text, "revision %s -> %s; applied: %s", before, after,
                   applied.n ? joined : "nothing (up to date)");
    rc = finish_migration(a, step, "sql", before, after, rehearsed, joined, &text, rc);
out:
    if (c)
        pgdb_close(c);
    pgdb_migrations_clear(&m);
    strv_clear(&pending);
    strv_clear(&applied);
    free(dir);
    free(before);
    free(after);
    free(joined);
    free(rehearsed);
    buf_release(&text);
    return rc;
}
