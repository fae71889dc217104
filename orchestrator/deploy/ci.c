/*
 * ci.c - the release's identity as the CI that runs ttdeploy states it.
 *
 * GitHub Actions: GITHUB_ACTIONS=true; a tag push has GITHUB_REF_TYPE=tag
 * and the tag in GITHUB_REF_NAME; GITHUB_TRIGGERING_ACTOR is who started
 * this run (it differs from GITHUB_ACTOR on a re-run); the run's page is
 * $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID.
 * GitLab CI: GITLAB_CI=true, CI_COMMIT_TAG, CI_COMMIT_SHA,
 * GITLAB_USER_LOGIN, CI_PIPELINE_URL.  Elsewhere: the tag pointing at HEAD
 * of the repository holding the plan, and $USER.
 */
#include "ci.h"
#include "buf.h"
#include "gitref.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variable's value, or NULL when it is unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *env_dup(const char *name)
{
    return env(name) ? xstrdup(env(name)) : NULL;
}

static void from_github(struct ci_identity *ci)
{
    ci->provider = "github-actions";
    ci->ci_actor = env_dup("GITHUB_ACTOR");
    ci->actor =
        env_dup(env("GITHUB_TRIGGERING_ACTOR") ? "GITHUB_TRIGGERING_ACTOR" : "GITHUB_ACTOR");
    if (env("GITHUB_REF_TYPE") && !strcmp(env("GITHUB_REF_TYPE"), "tag"))
        ci->tag = env_dup("GITHUB_REF_NAME");
    if (env("GITHUB_SHA"))
        snprintf(ci->commit, sizeof(ci->commit), "%s", env("GITHUB_SHA"));
    ci->run_id = env_dup("GITHUB_RUN_ID");
    if (ci->run_id && env("GITHUB_REPOSITORY")) {
        struct buf url = {0};
        buf_printf(&url, "%s/%s/actions/runs/%s",
                   env("GITHUB_SERVER_URL") ? env("GITHUB_SERVER_URL") : "https://github.com",
                   env("GITHUB_REPOSITORY"), ci->run_id);
        ci->run_url = buf_detach(&url);
    }
    ci->workspace = env_dup("GITHUB_WORKSPACE");
}

static void from_gitlab(struct ci_identity *ci)
{
    ci->provider = "gitlab-ci";
    ci->actor = env_dup("GITLAB_USER_LOGIN");
    ci->tag = env_dup("CI_COMMIT_TAG");
    if (env("CI_COMMIT_SHA"))
        snprintf(ci->commit, sizeof(ci->commit), "%s", env("CI_COMMIT_SHA"));
    ci->run_id = env_dup("CI_PIPELINE_ID");
    ci->run_url = env_dup("CI_PIPELINE_URL");
    ci->workspace = env_dup("CI_PROJECT_DIR");
}

int ci_identity_detect(struct ci_identity *ci, const char *dir, const char *actor,
                       struct tt_err *err)
{
    memset(ci, 0, sizeof(*ci));
    if (env("GITHUB_ACTIONS") && !strcmp(env("GITHUB_ACTIONS"), "true"))
        from_github(ci);
    else if (env("GITLAB_CI") && !strcmp(env("GITLAB_CI"), "true"))
        from_gitlab(ci);
    if (actor && *actor) {
        free(ci->actor);
        ci->actor = xstrdup(actor);
    }
    if (!ci->actor && env("TTDEPLOY_ACTOR"))
        ci->actor = env_dup("TTDEPLOY_ACTOR");
    if (!ci->actor && env("USER"))
        ci->actor = env_dup("USER");
    if (!ci->actor)
        ci->actor = env_dup("LOGNAME");
    if (!ci->tag && !ci->commit[0]) {
        char commit[41];
        if (gitref_head(dir, commit, &ci->tag, err) < 0)
            return -1;
        memcpy(ci->commit, commit, sizeof(commit));
    }
    return 0;
}

static void set_text(json_t *o, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(o, key, json_string(value));
}

char *ci_identity_json(const struct ci_identity *ci, const char *engine, const char *mode)
{
    json_t *o = json_object();
    set_text(o, "provider", ci->provider);
    set_text(o, "ci_actor", ci->ci_actor);
    set_text(o, "tag", ci->tag);
    set_text(o, "commit", ci->commit);
    set_text(o, "run_id", ci->run_id);
    set_text(o, "run_url", ci->run_url);
    set_text(o, "engine", engine);
    set_text(o, "mode", mode);
    char *s = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

void ci_identity_release(struct ci_identity *ci)
{
    free(ci->actor);
    free(ci->ci_actor);
    free(ci->tag);
    free(ci->run_id);
    free(ci->run_url);
    free(ci->workspace);
    memset(ci, 0, sizeof(*ci));
}
