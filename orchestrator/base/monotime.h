/*
 * monotime.h - the one clock every deadline is measured on: monotonic
 * seconds, unaffected by changes to the wall clock.
 */
#ifndef MONOTIME_H
#define MONOTIME_H

/* Seconds on CLOCK_MONOTONIC, with nanosecond resolution. */
double monotime_now(void);

#endif
