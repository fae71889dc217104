/*
 * dbclean.h - the databases a deployment makes for a while and the
 * changes it makes to the live one, each written in the store before it
 * happens (state/store_scratch.c), so that nothing ttdeploy did to a
 * database is ever unknown: a scratch database is recorded before its
 * CREATE and dropped only when the store says this deployment made it; a
 * restore's swap records each change to the live database with its undo;
 * `recover` finishes what a crash left (dbclean_recover).
 */
#ifndef DBCLEAN_H
#define DBCLEAN_H

#include "store.h"
#include "tterr.h"

struct run;

/* Who makes scratch databases: the store that records them, the deployment, the database url. */
struct dbscratch {
    struct store *store;
    long long deployment;
    const char *url;
};

/*
 * Records name (a pgdb_scratch_name) in the store, then creates it: empty,
 * or (copy set) a template copy of url's database.  A store that cannot
 * record means no CREATE.  A database of that name that this deployment
 * did not record is never replaced: an error says so.
 */
int dbscratch_create(const struct dbscratch *s, const char *purpose, const char *name, int copy,
                     double deadline, struct tt_err *err);
/* Drops name if the store says this deployment created it (else refuses), and records the drop. */
int dbscratch_drop(const struct dbscratch *s, const char *name, double deadline,
                   struct tt_err *err);
/*
 * pgdb_swap_database() with each change to live recorded before it is made
 * (database_changes), marked undone when the swap undoes it and kept when
 * the swap finishes; replacement (a recorded scratch database) then holds
 * the live name and is no longer scratch.
 */
int dbscratch_swap(const struct dbscratch *s, const char *live, const char *replacement,
                   const char *keep_as, long long *writes, double deadline, struct tt_err *err);

/*
 * For `recover`: undoes the changes to live databases the deployment
 * recorded and neither undid nor kept (connections allowed again, the live
 * name back; a swap that had finished is kept), then drops the scratch
 * databases it recorded and did not drop.  One step when there is
 * anything to do; -1 with a->err set when something could not be done.
 */
int dbclean_recover(struct run *a);

#endif
