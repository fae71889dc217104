/*
 * monotime.c - the monotonic clock behind every deadline.
 */
#include "monotime.h"

#include <time.h>

double monotime_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
