/*
 * fuzz_vars.c - libFuzzer target for dotenv parsing and interpolation: the
 * input is parsed as a .env file, then interpolated as a compose value
 * with the variables it defined.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vars.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vars v = {0};
    struct buf text = {0}, out = {0};
    struct strv warnings = {0};
    struct tt_err err = {0};

    vars_set(&v, "SET", "value");
    vars_set(&v, "EMPTY", "");
    vars_parse_dotenv(&v, ".env", (const char *)data, size, 0, &err);
    buf_add(&text, data, size);
    if (!memchr(data, '\0', size))
        vars_interpolate(&v, text.data, &out, "compose.yml", 1, 1, &warnings, &err);
    buf_release(&text);
    buf_release(&out);
    strv_clear(&warnings);
    vars_clear(&v);
    return 0;
}
