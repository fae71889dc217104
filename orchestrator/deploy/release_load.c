/*
 * release_load.c - the one loader of a release: a plan, the compose files,
 * env files and profiles it names, checked against each other, with the
 * release's images on the services; and the names derived from a plan
 * (its project, its default store).  apply, recover, rollback and every
 * command that names a project load through here.  Nothing here talks to
 * an engine, a database or git: the light binary (cli/light.c) links it.
 */
#include "run.h"

#include <stdlib.h>
#include <string.h>

void release_free(struct release *r)
{
    if (!r)
        return;
    dag_free(r->dag);
    compose_project_free(r->project);
    plan_free(r->plan);
    free(r);
}

/* What a plan needs that plan_load() cannot check alone: its database for backup and migrate. */
static int check_database(const struct plan *p, struct tt_err *err)
{
    if (p->migrate.present && !strcmp(p->migrate.kind, "command") && !p->migrate.revision_query)
        return tt_error_at(err, p->path, 0, 0,
                           "a command migration needs revision_query: (such as SELECT "
                           "version_num FROM alembic_version) so the revisions can be recorded");
    if ((p->backup.present || p->migrate.present) && (!p->db_url || !p->db_service))
        return tt_error_at(err, p->path, 0, 0,
                           "backup: and migrate: need database: with service: and url:");
    return 0;
}

/* The compose project of plan p, its DAG, checked; the plan's images on the services. */
static int load_project(struct release *r, const char *project_name, struct tt_err *err)
{
    struct compose_options co = {0};
    int rc;

    strv_copy(&co.files, &r->plan->compose);
    strv_copy(&co.env_files, &r->plan->env_files);
    strv_copy(&co.profiles, &r->plan->profiles);
    co.project_name = project_name ? project_name : r->plan->project;
    rc = compose_load(&co, &r->project, err);
    strv_clear(&co.files);
    strv_clear(&co.env_files);
    strv_clear(&co.profiles);
    if (rc < 0 || dag_build(r->project, &r->dag, err) < 0 ||
        plan_check_project(r->plan, r->project, r->dag, err) < 0 ||
        check_database(r->plan, err) < 0)
        return -1;
    for (size_t i = 0; i < r->project->nservices; i++) {
        struct compose_service *s = r->project->services[i];
        const char *img = plan_image_for(r->plan, s->name);
        if (img) {
            free(s->image);
            s->image = xstrdup(img);
        }
    }
    return 0;
}

int release_load(const char *plan_path, const char *project_name, struct release **out,
                 struct tt_err *err)
{
    struct release *r = xcalloc(1, sizeof(*r));

    *out = NULL;
    if (plan_load(plan_path, NULL, &r->plan, err) < 0 || load_project(r, project_name, err) < 0) {
        release_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int deploy_project_name(const char *plan_path, char **name, struct tt_err *err)
{
    struct release *r;
    *name = NULL;
    if (release_load(plan_path, NULL, &r, err) < 0)
        return -1;
    *name = xstrdup(r->project->name);
    release_free(r);
    return 0;
}

char *apply_default_state_path(const char *plan_path)
{
    struct buf b = {0};
    const char *env = getenv("TTDEPLOY_STATE");
    if (env && *env)
        return xstrdup(env);
    const char *slash = plan_path ? strrchr(plan_path, '/') : NULL;
    if (slash)
        buf_printf(&b, "%.*s/.ttdeploy/state.db", (int)(slash - plan_path), plan_path);
    else
        buf_adds(&b, ".ttdeploy/state.db");
    return buf_detach(&b);
}
