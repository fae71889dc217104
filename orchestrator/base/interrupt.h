/*
 * interrupt.h - whether the user asked ttdeploy to stop (SIGINT, SIGTERM).
 *
 * cli/ installs the handlers; the handler only records the signal here.
 * Code that waits (health checks, polls, transfers) asks interrupt_signal()
 * and ends its wait early with an error saying it was interrupted; the
 * deployment stops starting new steps, records "interrupted" and exits
 * 128 + the signal.  Everything else is unaffected.
 */
#ifndef INTERRUPT_H
#define INTERRUPT_H

/* The first stop signal received (SIGINT or SIGTERM), or 0. */
int interrupt_signal(void);
/* Async-signal-safe: records sig (the first one wins); returns how many were received. */
int interrupt_note(int sig);
/* Forgets any signal received (tests; a command that handled it). */
void interrupt_reset(void);

#endif
