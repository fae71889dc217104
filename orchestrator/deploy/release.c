/*
 * release.c - a release from the files of a git commit (libgit2, through
 * gitref), and the images an earlier deployment recorded put back on a
 * release's services.  Loading the plan and compose files themselves is
 * release_load.c's.
 */
#include "run.h"
#include "gitref.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
