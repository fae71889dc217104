/*
 * gitref.h - reading git with libgit2: which commit a tag or revision
 * names, without touching the work tree.
 */
#ifndef GITREF_H
#define GITREF_H

#include "tterr.h"

/* Resolves rev (a tag, branch or commit) in the repository at or above path to a 40-hex commit. */
int gitref_resolve(const char *path, const char *rev, char out[41], struct tt_err *err);

#endif
