/*
 * hostcmd.h - one command run on the host with a deadline: the plan's
 * hooks that have no service:.
 *
 * The command runs in a process group of its own (the terminal's Ctrl-C
 * is ttdeploy's to handle), with stdin from /dev/null and stdout and
 * stderr into one pipe that is read with poll(); what it printed is kept
 * up to a cap (the tail: the end says why it failed).  At the deadline,
 * or when a stop signal reached ttdeploy (base/interrupt.h), its group
 * gets SIGTERM, and HOSTCMD_GRACE_MS later SIGKILL.  When the command
 * ends, what it left running in its group is killed, and it is always
 * reaped.  It inherits no descriptor of ttdeploy's but 0, 1 and 2.
 */
#ifndef HOSTCMD_H
#define HOSTCMD_H

#include <stddef.h>

#include "buf.h"
#include "tterr.h"

#define HOSTCMD_OUTPUT_CAP (64 * 1024) /* bytes of output kept: the last ones */
#define HOSTCMD_GRACE_MS 2000          /* between SIGTERM and SIGKILL */

struct hostcmd {
    const char *const *argv; /* NULL-terminated; argv[0] a path, or a name looked up in PATH */
    const char *const *env;  /* NAME=VALUE set over the process environment; NULL: none */
    long timeout_ms;         /* above zero */
    size_t output_cap;       /* 0: HOSTCMD_OUTPUT_CAP */
};

struct hostcmd_result {
    int code;            /* its exit code when it exited, else -1 */
    int signal;          /* the signal that ended it, or 0 */
    int timed_out;       /* the deadline passed: it was terminated */
    int interrupted;     /* a stop signal to ttdeploy ended it (SIGINT, SIGTERM) */
    double seconds;      /* from start to reaped */
    struct buf output;   /* stdout and stderr as they came, the last output_cap bytes */
    size_t output_total; /* bytes it printed; more than output.len when the head was dropped */
};

/*
 * Runs c and waits for it, filling r (released by hostcmd_result_clear).
 * 0 once it ran, whatever its exit; -1 with err set when it could not
 * start (not found on PATH, not executable, out of processes).
 */
int hostcmd_run(const struct hostcmd *c, struct hostcmd_result *r, struct tt_err *err);
void hostcmd_result_clear(struct hostcmd_result *r);
/* "exit 3", "killed by SIGKILL", "timed out after 5.0 s (SIGTERM)", ... into out. */
void hostcmd_describe(const struct hostcmd_result *r, long timeout_ms, struct buf *out);

#endif
