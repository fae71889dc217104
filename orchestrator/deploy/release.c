/*
 * release.c - the one loader of a release: a plan, the compose files,
 * env files and profiles it names, checked against each other, with the
 * release's images on the services.  apply, recover, rollback (from the
 * work tree or from the files of a git commit) and every command that
 * names a project load through here.
 */
#include "run.h"
#include "gitref.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int release_load_commit(const struct plan *current, const char *commit, const char *project_name,
                        struct release **out, struct tt_err *err)
{
    char *repo = plan_resolve(current, current->git_repo), *workdir = NULL;
    char real_plan[PATH_MAX];
    struct buf root = {0}, rel_plan = {0};
    int rc = -1;

    *out = NULL;
    if (gitref_workdir(repo, &workdir, err) < 0)
        goto out;
    if (!realpath(current->path, real_plan)) {
        tt_error(err, "cannot resolve %s: %s", current->path, strerror(errno));
        goto out;
    }
    if (strncmp(real_plan, workdir, strlen(workdir))) {
        tt_error(err, "%s is outside the git repository at %s", real_plan, workdir);
        goto out;
    }
    buf_printf(&root, "%s/.ttdeploy/git/%s", current->dir, commit);
    if (gitref_export(repo, commit, root.data, err) < 0)
        goto out;
    buf_printf(&rel_plan, "%s/%s", root.data, real_plan + strlen(workdir));
    if (access(rel_plan.data, F_OK) < 0) {
        tt_error(err, "commit %.12s has no %s", commit, real_plan + strlen(workdir));
        goto out;
    }
    rc = release_load(rel_plan.data, project_name, out, err);
out:
    buf_release(&root);
    buf_release(&rel_plan);
    free(repo);
    free(workdir);
    return rc;
}

json_t *release_recorded(json_t *deployment, const char *service)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(deployment, "releases"), i, r)
    {
        if (!strcmp(json_string_value(json_object_get(r, "service")), service))
            return r;
    }
    return NULL;
}

void release_use_recorded(struct run *a, struct compose_project *p, json_t *deployment)
{
    json_decref(a->recorded_specs);
    a->recorded_specs = json_object();
    for (size_t i = 0; deployment && i < p->nservices; i++) {
        struct compose_service *s = p->services[i];
        json_t *r = release_recorded(deployment, s->name);
        if (!r)
            continue;
        free(s->image);
        s->image = stack_recorded_image(a->engine, store_text(r, "image", NULL),
                                        store_text(r, "image_id", NULL));
        if (json_is_string(json_object_get(r, "spec")))
            json_object_set(a->recorded_specs, s->name, json_object_get(r, "spec"));
    }
}
