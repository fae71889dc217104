/*
 * state_remote.h - a deployment whose store is kept on the engine
 * (`--state engine`): where the store is brought down, put back and
 * closed (state_remote.c; docker/state_volume.h is the engine side).
 * Private to deploy/.
 */
#ifndef STATE_REMOTE_H
#define STATE_REMOTE_H

#include "deploy.h"
#include "tterr.h"

struct run;

/*
 * Whether the run keeps its store on the engine: --state engine; else,
 * without --state PATH or $TTDEPLOY_STATE, the plan's state: engine.
 */
int state_remote_wanted(const struct run *a);
/*
 * Takes the project's lock on the engine (its holder container, waiting
 * up to the lock timeout), brings the store down into a private temporary
 * directory and opens it as a->store (a new store when the engine holds
 * none yet).
 */
enum apply_outcome state_remote_open(struct run *a);
/*
 * Puts a consistent copy of a->store back on the engine: after each
 * step's intent and outcome, and at the end.  No-op when the run's store
 * is local.  -1 with err set when the engine could not keep it.
 */
int state_remote_sync(struct run *a, struct tt_err *err);
/* The last sync of the run, once it has written everything (run_outcome). */
int state_remote_settle(struct run *a, struct tt_err *err);
/*
 * The last copy up (unless the last write was put back already), the
 * store closed, the holder removed (the lock released; the volume stays)
 * and the private copy deleted.  No-op when the store is local.
 */
void state_remote_close(struct run *a);

#endif
