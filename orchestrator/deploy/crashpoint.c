/*
 * crashpoint.c - a test hook: dying on purpose right after a step write.
 *
 * With TTDEPLOY_CRASH_AT=N in the environment, the N-th write of a step's
 * intent or outcome (counted together, from 1, in this process) is
 * followed at once by raise(SIGKILL): the process ends like kill -9,
 * with no atexit handler, no flush and no lock released.  The write
 * itself is committed first, so the store says exactly what a real crash
 * at that point would leave.  With TTDEPLOY_CRASH_AT=list nothing dies:
 * each write prints "ttdeploy: crash point N: WHAT" on stderr (the
 * intent of step ID: PHASE ACTION SERVICE, or the outcome of step ID),
 * which is how tests/e2e/test_faults.py enumerates the points of a run
 * before crashing at each of them.  Unset (or any other value), it does nothing.
 *
 * TTDEPLOY_CRASH_AT_DB=N does the same after the N-th database action
 * (crashpoint_db(): a scratch CREATE, a change to a live database), which
 * falls inside a step, between two of its statements, where no step write
 * is.
 *
 * A test hook is the one place below cli/ that prints: it is the
 * output of the hook, not of ttdeploy.
 */
#include "run.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts one more point of var's kind; raises SIGKILL when var names that count. */
static void count_and_maybe_die(const char *var, long *count)
{
    const char *at = getenv(var);
    if (at && *at && strtol(at, NULL, 10) == ++*count)
        raise(SIGKILL);
}

void crashpoint(const char *fmt, ...)
{
    static long count;
    const char *at = getenv("TTDEPLOY_CRASH_AT");
    va_list ap;

    if (!at || !*at)
        return;
    if (strcmp(at, "list")) {
        count_and_maybe_die("TTDEPLOY_CRASH_AT", &count);
        return;
    }
    fprintf(stderr, "ttdeploy: crash point %ld: ", ++count);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void crashpoint_db(void)
{
    static long count;
    count_and_maybe_die("TTDEPLOY_CRASH_AT_DB", &count);
}
