/*
 * rollback.h - rolling back: what happens after a phase fails
 * (rollback.c: the matrix decides, the actions run, the deployment ends),
 * and the actions themselves (rollback_actions.c: images, git,
 * migrations, restore).  Rolling back by hand is redeploy.c.
 */
#ifndef ROLLBACK_H
#define ROLLBACK_H

#include "run.h"

/*
 * A phase failed (a->err says why): describe the failure, let the matrix
 * decide, roll back or fix forward, and end the deployment.
 */
enum apply_outcome rollback_after_failure(struct run *a);
/* Finishes a rollback a crash interrupted: the decided actions not done yet. */
enum apply_outcome rollback_resume(struct run *a);

/*
 * Runs one action: images, git, migrations or restore.
 * previous: the previous succeeded deployment (store_show), or NULL;
 * self: this deployment as recorded.
 */
enum action_result rollback_action(struct run *a, enum plan_action action, json_t *previous,
                                   json_t *self, struct buf *detail);
/* What an action is about to do, as its step's intent. */
const char *rollback_action_intent(enum plan_action action);

/* Brings the schema to revision target (ACTION_SKIPPED: it was there already). */
enum action_result rollback_downgrade(struct run *a, const char *target, struct buf *detail);
/* Restores backup b (a backups row) in place of the live database, keeping that one. */
enum action_result rollback_restore(struct run *a, json_t *b, struct buf *detail);

#endif
