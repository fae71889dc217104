/*
 * fuzz_plan.c - libFuzzer target for the plan loader: the input is parsed
 * as a plan file with a fixed set of variables.
 */
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vars v = {0};
    struct plan *p = NULL;
    struct tt_err err = {0};

    vars_set(&v, "PGPASSWORD", "secret");
    if (plan_parse("/tmp/fuzz/plan.yml", (const char *)data, size, &v, &p, &err) == 0)
        plan_free(p);
    vars_clear(&v);
    return 0;
}
