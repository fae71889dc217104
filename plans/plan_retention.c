/*
 * plan_retention.c - the retention: section of a plan: how many of the
 * project's newest succeeded releases keep their images after a
 * deployment succeeds (orchestrator/deploy/retention.c removes the rest).
 *
 *     retention:
 *       images: {keep: 3}
 *
 * keep counts the release just deployed, so it is at least 1: that
 * release is the one running, and its images must stay.  Backups are not
 * governed here: backup.keep.last keeps its own count.
 */
#include "plan_int.h"

#include <limits.h>

int plan_retention_parse(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    int keep = 0;
    struct yfield images[] = {
        yfield_required(yfield_int("keep", &keep, "retention images keep", INT_MIN),
                        "retention images needs keep: N, the newest succeeded releases whose "
                        "images stay (at least 1)"),
        yfield_end(),
    };
    struct yfield fields[] = {
        yfield_required(yfield_section("images", images, "retention images"),
                        "retention needs images: {keep: N}: the newest N succeeded releases "
                        "keep their images, older ones are removed"),
        yfield_end(),
    };

    if (yread_fields(&l->r, n, "retention", fields) < 0)
        return -1;
    if (keep < 1)
        return yread_error(&l->r, ynode_get(ynode_get(n, "images"), "keep"),
                           "retention images keep must be at least 1, not %d: the newest "
                           "succeeded release is the one running and its images must stay "
                           "(keep: 1 keeps only it; 2 also keeps the release `ttdeploy rollback "
                           "--previous` goes back to)",
                           keep);
    if (keep > PLAN_RETENTION_KEEP_MAX)
        return yread_error(&l->r, ynode_get(ynode_get(n, "images"), "keep"),
                           "retention images keep is %d, above %d: to keep every release's "
                           "images, leave retention: out",
                           keep, PLAN_RETENTION_KEEP_MAX);
    p->retention_keep = keep;
    p->retention_at = (struct plan_where){p->path, n->line, n->col};
    return 0;
}
