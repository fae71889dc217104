/*
 * fuzz_matrix.c - libFuzzer target for rollback conditions: the input is
 * parsed as a condition ("error_rate > 5%"), and one that parses is
 * evaluated against a failure with every measurement taken.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char why[512];
    struct plan_condition c;
    struct matrix_failure f;
    struct buf measured = {0};

    memcpy(text, data, size);
    text[size] = '\0';
    if (plan_condition_parse(text, &c, why, sizeof(why)) == 0) {
        matrix_failure_init(&f);
        f.phase = "verify";
        f.error_rate = 0.5;
        f.p95_ms = 120;
        f.p95_before_ms = 40;
        f.health = "unhealthy";
        f.value = "3";
        f.value_before = "5";
        matrix_condition_holds(&c, &f, &measured);
        buf_release(&measured);
        free(c.text);
    }
    free(text);
    return 0;
}
