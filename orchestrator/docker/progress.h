/*
 * progress.h - what a user watches while services change state.
 *
 * Three forms: on a terminal, one line per service redrawn in place with
 * its state and elapsed time; otherwise (CI logs) one timestamped line per
 * change; with --json, one JSON object per line.
 */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stddef.h>
#include <stdio.h>

enum progress_mode { PROGRESS_AUTO, PROGRESS_TTY, PROGRESS_PLAIN, PROGRESS_JSON, PROGRESS_QUIET };

struct progress;

/* names: the services shown, in display order (borrowed for the progress's life). */
struct progress *progress_new(enum progress_mode mode, FILE *out, const char *const *names,
                              size_t n);
/* Service idx is now in state (e.g. "healthy"); detail may be NULL. */
void progress_set(struct progress *p, size_t idx, const char *state, const char *detail);
/* Service idx is ready (state "healthy", "running"...), decided by how ("probe", "docker"). */
void progress_ready(struct progress *p, size_t idx, const char *state, const char *how);
/* Redraws elapsed times on a terminal; call it from the event loop. */
void progress_tick(struct progress *p);
/* A line not about one service ("network tasktracker_default created"). */
void progress_note(struct progress *p, const char *text);
void progress_free(struct progress *p);

#endif
