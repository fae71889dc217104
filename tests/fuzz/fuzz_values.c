/*
 * fuzz_values.c - libFuzzer target for the small value languages of a
 * compose file: durations, byte sizes, CPU counts and shell words.  Besides
 * "no crash, no undefined behaviour", it checks two properties: a duration
 * that parses formats back to a string that parses to the same value (within
 * a double's rounding), and every parsed value is inside the documented range.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"
#include "strv.h"

static void check_duration(const char *s)
{
    compose_ns ns = -1, again = -1;
    char text[64];

    if (compose_parse_duration(s, &ns) != 0)
        return;
    if (ns < 0 || ns > COMPOSE_MAX_DURATION_NS)
        abort();
    compose_format_duration(ns, text, sizeof(text));
    if (compose_parse_duration(text, &again) != 0)
        abort();
    /* The parser sums doubles: beyond 2^53 ns the last digits may move. */
    if (llabs(again - ns) > 1 + (long long)((double)ns * 1e-15))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    long long bytes = -1;
    double cpus = -1;
    struct strv words = {0};

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_duration(s);
    if (compose_parse_bytes(s, &bytes) == 0 && (bytes < 0 || bytes > COMPOSE_MAX_BYTES))
        abort();
    if (compose_parse_cpus(s, &cpus) == 0 && !(cpus > 0 && cpus <= COMPOSE_MAX_CPUS))
        abort();
    compose_split_words(s, &words);
    strv_clear(&words);
    free(s);
    return 0;
}
