/*
 * gitref.c - libgit2 look-ups.  Tags are peeled to the commit they name,
 * so annotated and lightweight tags resolve alike.
 */
#include "gitref.h"
#include "buf.h"

#include <git2.h>
#include <stdio.h>

int gitref_resolve(const char *path, const char *rev, char out[41], struct tt_err *err)
{
    git_repository *repo = NULL;
    git_object *obj = NULL;
    struct buf spec = {0};
    int rc = -1;

    git_libgit2_init();
    if (git_repository_open_ext(&repo, path, 0, NULL) < 0) {
        const git_error *e = git_error_last();
        tt_error(err, "no git repository at %s: %s", path, e ? e->message : "not found");
        goto done;
    }
    buf_printf(&spec, "%s^{commit}", rev);
    if (git_revparse_single(&obj, repo, spec.data) < 0) {
        buf_reset(&spec);
        buf_printf(&spec, "refs/tags/%s^{commit}", rev);
        if (git_revparse_single(&obj, repo, spec.data) < 0) {
            tt_error(err,
                     "git revision \"%s\" is not in the repository at %s: push the tag, or "
                     "fix release git:",
                     rev, path);
            goto done;
        }
    }
    git_oid_tostr(out, 41, git_object_id(obj));
    rc = 0;
done:
    git_object_free(obj);
    git_repository_free(repo);
    buf_release(&spec);
    git_libgit2_shutdown();
    return rc;
}
