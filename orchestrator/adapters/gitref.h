/*
 * gitref.h - reading git with libgit2: which commit a tag or revision
 * names, the tags in version order, and a commit's files written to a
 * directory of their own, never touching the work tree.
 */
#ifndef GITREF_H
#define GITREF_H

#include "strv.h"
#include "tterr.h"

/* Resolves rev (a tag, branch or commit) in the repository at or above path to a 40-hex commit. */
int gitref_resolve(const char *path, const char *rev, char out[41], struct tt_err *err);

/* The work tree of the repository at or above path, with a trailing slash (caller frees). */
int gitref_workdir(const char *path, char **workdir, struct tt_err *err);
/*
 * Writes the files of commit into dir (made if missing; files there are
 * overwritten), like a checkout, without touching the repository's work
 * tree, index or HEAD.
 */
int gitref_export(const char *path, const char *commit, const char *dir, struct tt_err *err);
/*
 * The commit HEAD names (into commit, "" when there is no repository at or
 * above path or HEAD has no commit yet) and the highest-versioned tag that
 * points at it (*tag, caller frees; NULL when none).  Not finding a
 * repository is not an error: a plan need not live in one.
 */
int gitref_head(const char *path, char commit[41], char **tag, struct tt_err *err);
/* The repository's tags in version order (v1.9.2 before v1.10.0). */
int gitref_tags(const char *path, struct strv *tags, struct tt_err *err);
/* <0, 0, >0 as version a sorts before, with or after b. */
int gitref_version_cmp(const char *a, const char *b);

#endif
