/*
 * probe.h - knowing a container is healthy before Docker says so.
 *
 * Docker runs a container's first health check one full interval after it
 * starts.  A probe runs the same check itself through the Engine API's
 * exec (CMD as an argv, CMD-SHELL through /bin/sh -c, the check's timeout
 * applied) on a short schedule: at once, then after 100 ms, 200 ms, 400 ms
 * ... capped at min(interval, 500 ms).  The first success means healthy,
 * as it would at Docker's next tick.  A failed probe proves nothing: only
 * Docker's own "unhealthy" (its start_period and retries rules) or the
 * container exiting ends a wait in failure.
 *
 * A probe makes one request at a time (create exec, start it, read its
 * exit code); the caller pumps the engine and hands finished requests
 * back, and caps how many probes run at once.
 */
#ifndef PROBE_H
#define PROBE_H

#include <jansson.h>

#include "engine.h"

/*
 * PROBE_NO_DAEMON: a request of the probe got no answer from the daemon at
 * all (a timeout, a refused connection): not a health result, a daemon
 * that cannot be reached; probe_last_output() says what happened.
 */
enum probe_result { PROBE_RUNNING, PROBE_PASSED, PROBE_FAILED, PROBE_NO_DAEMON };

struct probe;

/* test: ["CMD", argv...] or ["CMD-SHELL", command] (borrowed, copied). */
struct probe *probe_new(const char *container_id, const json_t *test, long timeout_ms,
                        long interval_ms);
void probe_free(struct probe *p);
/* Whether a request of this probe is in flight. */
int probe_busy(const struct probe *p);
/* Whether the next attempt is due at time now (monotonic seconds). */
int probe_due(const struct probe *p, double now);
/* Starts the next attempt (its first request) with tag on the request. */
void probe_start(struct probe *p, struct engine *e, void *tag);
/* Feeds back a finished request of this probe; may start the next request of the attempt. */
enum probe_result probe_on_done(struct probe *p, struct engine *e, struct engine_req *r,
                                double now);
/* Abandons the request in flight, if any (the service no longer needs the probe). */
void probe_cancel(struct probe *p, struct engine *e);
/* How many attempts (execs) this probe has run. */
unsigned probe_attempts(const struct probe *p);
/* The output of the last attempt (borrowed; "" when none). */
const char *probe_last_output(const struct probe *p);

#endif
