/*
 * plantest.h - loading a plan from text in the unit tests of the plan's
 * sections (test_plan*.c): the text is written as DIR/plan.yml and loaded
 * with a given set of variables, as `apply` would load it.
 */
#ifndef PLANTEST_H
#define PLANTEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"

/* The plan text loads into (caller frees with plan_free), or the test fails. */
static inline struct plan *tu_plan_ok(const char *dir, const char *text, const struct vars *v)
{
    char *path = tu_write(dir, "plan.yml", text);
    struct plan *p = NULL;
    struct tt_err err = {0};
    cr_assert_eq(plan_load(path, v, &p, &err), 0, "%s", err.msg);
    free(path);
    return p;
}

/*
 * The error loading text gives, from "plan.yml:" on when it names the
 * file (err keeps the whole message); the test fails when text loads.
 */
static inline const char *tu_plan_err(const char *dir, const char *text, const struct vars *v,
                                      struct tt_err *err)
{
    char *path = tu_write(dir, "plan.yml", text);
    struct plan *p = NULL;
    memset(err, 0, sizeof(*err));
    cr_assert_eq(plan_load(path, v, &p, err), -1, "expected an error for:\n%s", text);
    cr_assert_null(p);
    free(path);
    const char *at = strstr(err->msg, "plan.yml:");
    return at ? at : err->msg;
}

#endif
