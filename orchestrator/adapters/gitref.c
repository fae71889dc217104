/*
 * gitref.c - libgit2 look-ups: commits, tags, and a commit's files written elsewhere.  Tags are
 * peeled to the commit they name, so annotated and lightweight tags resolve alike.
 */
#include "gitref.h"
#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libgit2 started and the repository at or above path opened; on failure err says why. */
static int open_repo(const char *path, git_repository **repo, struct tt_err *err)
{
    git_libgit2_init();
    if (git_repository_open_ext(repo, path, 0, NULL) < 0) {
        const git_error *e = git_error_last();
        return tt_error(err, "no git repository at or above %s: %s", path,
                        e ? e->message : "not found");
    }
    return 0;
}

int gitref_resolve(const char *path, const char *rev, char out[41], struct tt_err *err)
{
    git_repository *repo = NULL;
    git_object *obj = NULL;
    struct buf spec = {0};
    int rc = -1;

    if (open_repo(path, &repo, err) < 0)
        goto done;
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

int gitref_workdir(const char *path, char **workdir, struct tt_err *err)
{
    git_repository *repo = NULL;
    int rc = -1;

    if (open_repo(path, &repo, err) < 0)
        goto done;
    if (!git_repository_workdir(repo)) {
        tt_error(err, "the git repository at %s is bare: it has no work tree to map paths into",
                 path);
        goto done;
    }
    *workdir = xstrdup(git_repository_workdir(repo));
    rc = 0;
done:
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}

/* Makes dir and its missing parents (0700). */
static int make_dirs(const char *dir, struct tt_err *err)
{
    char *p = xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            rc = tt_error(err, "cannot create %s: %s", p, strerror(errno));
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc;
}

int gitref_export(const char *path, const char *commit, const char *dir, struct tt_err *err)
{
    git_repository *repo = NULL;
    git_object *obj = NULL;
    git_checkout_options opts;
    int rc = -1;

    if (open_repo(path, &repo, err) < 0 || make_dirs(dir, err) < 0)
        goto done;
    if (git_revparse_single(&obj, repo, commit) < 0) {
        tt_error(err, "commit %.12s is not in the repository at %s", commit, path);
        goto done;
    }
    /* Into dir only: the work tree, the index and HEAD stay as they are. */
    git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
    opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
    opts.target_directory = dir;
    if (git_checkout_tree(repo, obj, &opts) < 0) {
        const git_error *e = git_error_last();
        tt_error(err, "cannot write commit %.12s of %s into %s: %s", commit, path, dir,
                 e ? e->message : "error");
        goto done;
    }
    rc = 0;
done:
    git_object_free(obj);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}

/* Compares version strings by their numeric runs: v1.10.0 after v1.9.2. */
static int version_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            char *ea, *eb;
            unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
            if (x != y)
                return x < y ? -1 : 1;
            a = ea;
            b = eb;
        } else {
            if (*a != *b)
                return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (*a != 0) - (*b != 0);
}

static int cmp_versions(const void *x, const void *y)
{
    return version_cmp(*(char *const *)x, *(char *const *)y);
}

int gitref_tags(const char *path, struct strv *tags, struct tt_err *err)
{
    git_repository *repo = NULL;
    git_strarray names = {0};
    int rc = -1;

    if (open_repo(path, &repo, err) < 0)
        goto done;
    if (git_tag_list(&names, repo) < 0) {
        const git_error *e = git_error_last();
        tt_error(err, "cannot list the tags of %s: %s", path, e ? e->message : "error");
        goto done;
    }
    for (size_t i = 0; i < names.count; i++)
        strv_push(tags, names.strings[i]);
    qsort(tags->v, tags->n, sizeof(char *), cmp_versions);
    rc = 0;
done:
    git_strarray_dispose(&names);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}

/* *best becomes name when the tag name points at want and sorts after *best. */
static void keep_if_head_tag(git_repository *repo, const char *name, const git_oid *want,
                             char **best)
{
    git_object *obj = NULL;
    struct buf spec = {0};

    buf_printf(&spec, "refs/tags/%s^{commit}", name);
    if (git_revparse_single(&obj, repo, spec.data) == 0 &&
        git_oid_equal(git_object_id(obj), want) && (!*best || version_cmp(name, *best) > 0)) {
        free(*best);
        *best = xstrdup(name);
    }
    git_object_free(obj);
    buf_release(&spec);
}

int gitref_head(const char *path, char commit[41], char **tag, struct tt_err *err)
{
    git_repository *repo = NULL;
    git_object *head = NULL;
    git_strarray names = {0};
    int rc = 0;

    commit[0] = '\0';
    *tag = NULL;
    git_libgit2_init();
    if (git_repository_open_ext(&repo, path, 0, NULL) < 0)
        goto done; /* no repository: nothing to name */
    if (git_revparse_single(&head, repo, "HEAD^{commit}") < 0)
        goto done; /* an unborn branch */
    git_oid_tostr(commit, 41, git_object_id(head));
    if (git_tag_list(&names, repo) < 0) {
        const git_error *e = git_error_last();
        rc = tt_error(err, "cannot list the tags of %s: %s", path, e ? e->message : "error");
        goto done;
    }
    for (size_t i = 0; i < names.count; i++)
        keep_if_head_tag(repo, names.strings[i], git_object_id(head), tag);
done:
    git_strarray_dispose(&names);
    git_object_free(head);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}

int gitref_version_cmp(const char *a, const char *b)
{
    return version_cmp(a, b);
}
