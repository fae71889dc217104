/*
 * ci.h - who and what started a deployment: the CI system that runs it
 * (GitHub Actions, GitLab CI), read from the variables they set, or a plain
 * git checkout (the tag at HEAD) and the login of whoever typed the command.
 */
#ifndef CI_H
#define CI_H

#include "tterr.h"

struct ci_identity {
    const char *provider; /* "github-actions", "gitlab-ci", or NULL: no CI we know */
    char *actor;          /* who started this run */
    char *ci_actor;       /* GITHUB_ACTOR: whose workflow it is (the actor when it was re-run) */
    char *tag;            /* the git tag being deployed (the CI's, or the one at HEAD), or NULL */
    char commit[41];      /* the commit being deployed, or "" */
    char *run_id;         /* the CI's run or pipeline id, or NULL */
    char *run_url;        /* a link to the CI run, or NULL */
    char *workspace;      /* the CI's checkout (GITHUB_WORKSPACE, CI_PROJECT_DIR), or NULL */
};

/*
 * Fills ci from the environment, falling back to the git repository at or
 * above dir for tag and commit.  actor, when not NULL, overrides who is
 * named (--actor).  -1 only when git could not be read.
 */
int ci_identity_detect(struct ci_identity *ci, const char *dir, const char *actor,
                       struct tt_err *err);
/*
 * The identity as compact JSON for deployments.ci (caller frees), with
 * the engine the deployment used (described without credentials) and its
 * mode; NULL when there is none of these.
 */
char *ci_identity_json(const struct ci_identity *ci, const char *engine, const char *mode);
void ci_identity_release(struct ci_identity *ci);

#endif
