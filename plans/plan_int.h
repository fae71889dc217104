/*
 * plan_int.h - what the files of the plan loader share.  Private to
 * plans/: nothing outside this folder includes it.
 *
 *   plan.c        the file, its sections (release, tiers, database, backup,
 *                 migrate, verify, timeouts) and the checks against the project
 *   plan_rules.c  the rollback matrix: rules, their conditions, phases,
 *                 severities and the actions' names
 *   plan_retention.c  retention: how many succeeded releases keep their images
 *   plan_hooks.c  hooks: commands run before, after or on failure of a phase
 *   plan_notify.c notify: the webhooks told of a deployment's start and end
 */
#ifndef PLAN_INT_H
#define PLAN_INT_H

#include "plan.h"
#include "yread.h"

struct ploader {
    struct plan *p;
    struct yread r; /* strict: an unknown key is an error */
};

/* Reads rollback: {matrix: [rules]}; the checks are read before, so rules can name them. */
int plan_rollback_parse(struct ploader *l, const struct ynode *n);
void plan_rule_clear(struct plan_rule *r);
/* Reads rollout: {SERVICE: {strategy, proxy, upstream, reload, drain, keep_previous}}. */
int plan_rollout_parse(struct ploader *l, const struct ynode *n);
/* Checks each rollout against the project (services, ports, the proxy's mount of the file). */
int plan_rollout_check(const struct plan *p, const struct compose_project *proj,
                       struct tt_err *err);
void plan_rollout_clear(struct plan_rollout *r);
/* Reads retention: {images: {keep: N}} (N at least 1). */
int plan_retention_parse(struct ploader *l, const struct ynode *n);
/* Reads hooks: {PHASE: {before: [hook], after: [hook], on_failure: [hook]}} (plan_hooks.c). */
int plan_hooks_parse(struct ploader *l, const struct ynode *n);
/* Checks that each hook's service: exists in the project. */
int plan_hooks_check(const struct plan *p, const struct compose_project *proj, struct tt_err *err);
void plan_hooks_free(struct plan *p);
/* Reads notify: [{url, on, headers, timeout}, ...]. */
int plan_notify_parse(struct ploader *l, const struct ynode *n);
/*
 * Before the document is interpolated: a variable a webhook's url or
 * header uses without a default must be set (an empty header would be
 * sent otherwise): the error names it.
 */
int plan_notify_check_env(const struct ynode *root, const struct vars *env, struct tt_err *err);
void plan_notify_clear(struct plan_notify *w);

#endif
