/*
 * benchutil.h - what the C benchmarks share: a millisecond clock and the
 * order statistics they print (median, worst, percentiles of sorted runs).
 *
 * Header-only, with static inline functions, because the Makefile builds
 * each bench/<name>.c as a program of its own against the library objects.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdlib.h>

#include "monotime.h"

/* Milliseconds on the monotonic clock (the one every deadline uses). */
static inline double bench_now_ms(void)
{
    return monotime_now() * 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts the n values of v ascending: v[n / 2] is then the median, v[n - 1] the worst. */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(double), bench_cmp_double);
}

/* The median of the n values of v (which it sorts). */
static inline double bench_median(double *v, size_t n)
{
    bench_sort(v, n);
    return v[n / 2];
}

#endif
