/*
 * test_apply.c - the deployment state machine: every transition it allows
 * and every one it refuses, checked against the whole state × state table.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "run.h"

/* The legal moves, written out independently of the implementation. */
static int expected(enum deploy_state from, enum deploy_state to)
{
    static const struct {
        enum deploy_state from, to;
    } legal[] = {
        {DEPLOY_CREATED, DEPLOY_LOCKED},
        {DEPLOY_LOCKED, DEPLOY_PREFLIGHT},
        {DEPLOY_PREFLIGHT, DEPLOY_BACKUP},
        {DEPLOY_BACKUP, DEPLOY_MIGRATE},
        {DEPLOY_MIGRATE, DEPLOY_INFRA_UP},
        {DEPLOY_INFRA_UP, DEPLOY_INFRA_HEALTHY},
        {DEPLOY_INFRA_HEALTHY, DEPLOY_APP_UP},
        {DEPLOY_APP_UP, DEPLOY_APP_HEALTHY},
        {DEPLOY_APP_HEALTHY, DEPLOY_VERIFY},
        {DEPLOY_VERIFY, DEPLOY_SUCCEEDED},
        {DEPLOY_LOCKED, DEPLOY_DECIDING},
        {DEPLOY_PREFLIGHT, DEPLOY_DECIDING},
        {DEPLOY_BACKUP, DEPLOY_DECIDING},
        {DEPLOY_MIGRATE, DEPLOY_DECIDING},
        {DEPLOY_INFRA_UP, DEPLOY_DECIDING},
        {DEPLOY_INFRA_HEALTHY, DEPLOY_DECIDING},
        {DEPLOY_APP_UP, DEPLOY_DECIDING},
        {DEPLOY_APP_HEALTHY, DEPLOY_DECIDING},
        {DEPLOY_VERIFY, DEPLOY_DECIDING},
        {DEPLOY_DECIDING, DEPLOY_ROLLING_BACK},
        {DEPLOY_DECIDING, DEPLOY_FAILED},
        {DEPLOY_ROLLING_BACK, DEPLOY_ROLLED_BACK},
        {DEPLOY_ROLLING_BACK, DEPLOY_ROLLBACK_FAILED},
        {DEPLOY_ROLLING_BACK, DEPLOY_FAILED}, /* every action had nothing to do */
    };
    for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
        if (legal[i].from == from && legal[i].to == to)
            return 1;
    return 0;
}

Test(apply, every_transition_matches_the_table)
{
    int allowed = 0;
    for (int from = 0; from < DEPLOY_NSTATES; from++) {
        for (int to = 0; to < DEPLOY_NSTATES; to++) {
            int got = apply_transition_allowed((enum deploy_state)from, (enum deploy_state)to);
            cr_expect_eq(got, expected((enum deploy_state)from, (enum deploy_state)to),
                         "%s -> %s: got %d", deploy_state_name((enum deploy_state)from),
                         deploy_state_name((enum deploy_state)to), got);
            allowed += got;
        }
    }
    cr_assert_eq(allowed, 24);
}

Test(apply, illegal_moves)
{
    cr_assert_not(apply_transition_allowed(DEPLOY_CREATED, DEPLOY_BACKUP),
                  "no phase without the lock");
    cr_assert_not(apply_transition_allowed(DEPLOY_LOCKED, DEPLOY_BACKUP),
                  "no backup before the preflight checks");
    cr_assert_not(apply_transition_allowed(DEPLOY_CREATED, DEPLOY_PREFLIGHT),
                  "no preflight without the lock");
    cr_assert_not(apply_transition_allowed(DEPLOY_MIGRATE, DEPLOY_APP_UP), "no skipping infra");
    cr_assert_not(apply_transition_allowed(DEPLOY_VERIFY, DEPLOY_VERIFY), "no repeating");
    cr_assert_not(apply_transition_allowed(DEPLOY_SUCCEEDED, DEPLOY_DECIDING), "terminal");
    cr_assert_not(apply_transition_allowed(DEPLOY_FAILED, DEPLOY_CREATED), "terminal");
    cr_assert_not(apply_transition_allowed(DEPLOY_CREATED, DEPLOY_DECIDING), "nothing to decide");
    cr_assert_not(apply_transition_allowed(DEPLOY_DECIDING, DEPLOY_SUCCEEDED));
    cr_assert_not(apply_transition_allowed(DEPLOY_ROLLED_BACK, DEPLOY_ROLLING_BACK));
    cr_assert_not(apply_transition_allowed(DEPLOY_NSTATES, DEPLOY_CREATED));
}

Test(apply, state_names_round_trip)
{
    for (int s = 0; s < DEPLOY_NSTATES; s++)
        cr_assert_eq(deploy_state_from_name(deploy_state_name((enum deploy_state)s)), s);
    cr_assert_eq(deploy_state_from_name("bogus"), -1);
    cr_assert_str_eq(deploy_state_name(DEPLOY_INFRA_HEALTHY), "infra_healthy");
    cr_assert_str_eq(deploy_state_name(DEPLOY_PREFLIGHT), "preflight");
}

Test(apply, default_state_path)
{
    char *p = apply_default_state_path("deploy/plan.yml");
    cr_assert_str_eq(p, "deploy/.ttdeploy/state.db");
    free(p);
    p = apply_default_state_path("plan.yml");
    cr_assert_str_eq(p, ".ttdeploy/state.db");
    free(p);
}
