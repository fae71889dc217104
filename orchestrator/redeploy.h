/*
 * redeploy.h - `ttdeploy rollback`: deploys an earlier release again (the
 * previous one, a recorded deployment or a git tag) through the forward
 * phases, as a new deployment that names what it rolled back.
 */
#ifndef REDEPLOY_H
#define REDEPLOY_H

#include "apply.h"
#include "tterr.h"

struct redeploy_options {
    struct apply_options apply; /* plan, store, engine, dry run, progress */
    long long to_id;            /* a recorded deployment; 0: see to_tag */
    const char *to_tag;         /* a git tag, or "previous"; NULL: the previous release */
    int with_migrations;        /* downgrade the schema to the target's revision */
    int restore_backup;         /* restore the backup taken just after the target ran */
};

enum apply_outcome redeploy_run(const struct redeploy_options *o, struct tt_err *err);

#endif
