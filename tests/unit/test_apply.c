/*
 * test_apply.c - the deployment state machine: every transition it allows
 * and every one it refuses, checked against the whole state × state table.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "run.h"

/* The legal moves, written out independently of the implementation. */
static int expected(enum apply_state from, enum apply_state to)
{
    static const struct {
        enum apply_state from, to;
    } legal[] = {
        {APPLY_CREATED, APPLY_LOCKED},
        {APPLY_LOCKED, APPLY_BACKUP},
        {APPLY_BACKUP, APPLY_MIGRATE},
        {APPLY_MIGRATE, APPLY_INFRA_UP},
        {APPLY_INFRA_UP, APPLY_INFRA_HEALTHY},
        {APPLY_INFRA_HEALTHY, APPLY_APP_UP},
        {APPLY_APP_UP, APPLY_APP_HEALTHY},
        {APPLY_APP_HEALTHY, APPLY_VERIFY},
        {APPLY_VERIFY, APPLY_SUCCEEDED},
        {APPLY_LOCKED, APPLY_DECIDING},
        {APPLY_BACKUP, APPLY_DECIDING},
        {APPLY_MIGRATE, APPLY_DECIDING},
        {APPLY_INFRA_UP, APPLY_DECIDING},
        {APPLY_INFRA_HEALTHY, APPLY_DECIDING},
        {APPLY_APP_UP, APPLY_DECIDING},
        {APPLY_APP_HEALTHY, APPLY_DECIDING},
        {APPLY_VERIFY, APPLY_DECIDING},
        {APPLY_DECIDING, APPLY_ROLLING_BACK},
        {APPLY_DECIDING, APPLY_FAILED},
        {APPLY_ROLLING_BACK, APPLY_ROLLED_BACK},
        {APPLY_ROLLING_BACK, APPLY_ROLLBACK_FAILED},
        {APPLY_ROLLING_BACK, APPLY_FAILED}, /* every action had nothing to do */
    };
    for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
        if (legal[i].from == from && legal[i].to == to)
            return 1;
    return 0;
}

Test(apply, every_transition_matches_the_table)
{
    int allowed = 0;
    for (int from = 0; from < APPLY_NSTATES; from++) {
        for (int to = 0; to < APPLY_NSTATES; to++) {
            int got = apply_transition_allowed((enum apply_state)from, (enum apply_state)to);
            cr_expect_eq(got, expected((enum apply_state)from, (enum apply_state)to),
                         "%s -> %s: got %d", apply_state_name((enum apply_state)from),
                         apply_state_name((enum apply_state)to), got);
            allowed += got;
        }
    }
    cr_assert_eq(allowed, 22);
}

Test(apply, illegal_moves)
{
    cr_assert_not(apply_transition_allowed(APPLY_CREATED, APPLY_BACKUP),
                  "no phase without the lock");
    cr_assert_not(apply_transition_allowed(APPLY_MIGRATE, APPLY_APP_UP), "no skipping infra");
    cr_assert_not(apply_transition_allowed(APPLY_VERIFY, APPLY_VERIFY), "no repeating");
    cr_assert_not(apply_transition_allowed(APPLY_SUCCEEDED, APPLY_DECIDING), "terminal");
    cr_assert_not(apply_transition_allowed(APPLY_FAILED, APPLY_CREATED), "terminal");
    cr_assert_not(apply_transition_allowed(APPLY_CREATED, APPLY_DECIDING), "nothing to decide");
    cr_assert_not(apply_transition_allowed(APPLY_DECIDING, APPLY_SUCCEEDED));
    cr_assert_not(apply_transition_allowed(APPLY_ROLLED_BACK, APPLY_ROLLING_BACK));
    cr_assert_not(apply_transition_allowed(APPLY_NSTATES, APPLY_CREATED));
}

Test(apply, state_names_round_trip)
{
    for (int s = 0; s < APPLY_NSTATES; s++)
        cr_assert_eq(apply_state_from_name(apply_state_name((enum apply_state)s)), s);
    cr_assert_eq(apply_state_from_name("bogus"), -1);
    cr_assert_str_eq(apply_state_name(APPLY_INFRA_HEALTHY), "infra_healthy");
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
