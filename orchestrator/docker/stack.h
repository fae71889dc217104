/*
 * stack.h - bringing a compose project up and down on a Docker Engine.
 *
 * stack_up() starts every selected service as soon as its own
 * dependencies meet their conditions (not layer by layer), from one
 * thread: requests run side by side on the engine's multi handle and the
 * daemon's /events stream says when a container is healthy, unhealthy or
 * gone.  A service that already runs its current configuration and image
 * is left alone; a changed one is recreated, and only it.  stack_down()
 * removes the project's containers in reverse dependency order, then its
 * networks (and volumes when asked).  The stack_*() queries below ask
 * the engine about a project and change nothing.
 */
#ifndef STACK_H
#define STACK_H

#include <stdio.h>

#include "compose.h"
#include "dag.h"
#include "engine.h"
#include "progress.h"
#include "tterr.h"

/*
 * A blue-green service: up runs its release in one of two slot
 * containers (blue, green) and never touches the other.  The slot is the
 * one whose container already runs this release (nothing to do: a switch
 * back is instant), else the one that is not live.
 */
struct stack_slot {
    const char *service;
    const char *live;  /* "blue" or "green": the slot the proxy routes to now; NULL: none */
    int service_alias; /* the slots also answer to the service's name (start-first, no proxy) */
};

struct stack_options {
    struct strv services; /* up: these and their dependencies; empty: all */
    long timeout_ms;      /* up: give up on services not ready by then (0: 120 s) */
    int volumes;          /* down: also remove the project's named volumes */
    int readiness_docker; /* up: wait for Docker's health status, not for probes */
    enum progress_mode progress;
    FILE *out;
    /*
     * up: called once, when only waiting is left: nothing is being created
     * or started and a container this run started is being waited on (may
     * be NULL).  The deployment records its "healthy" states from here.
     */
    void (*on_waiting)(void *ctx);
    void *ctx;
    const struct stack_slot *slots; /* up and preview: the blue-green services */
    size_t nslots;
    /*
     * Swarm mode, up and preview: service name -> the spec recorded for it
     * (JSON text, swarm_spec_recordable), applied instead of the compose
     * file's with the compose file's environment (may be NULL).
     */
    const json_t *recorded_specs;
};

/* What happened (or, for a preview, would happen) to one service. */
struct stack_result {
    char *service;
    const char *action; /* create, recreate, start, unchanged (preview: pull and create) */
    const char *state;  /* healthy, running, exited 0, failed, skipped, pending (preview) */
    char how[16];       /* what decided readiness: probe, docker, or "" */
    double seconds;     /* from the service's first action to ready */
    char *container_id;
    char *image; /* the reference asked for */
    char *image_id;
    char *old_image; /* what the replaced container ran, or NULL */
    char *config_hash;
    char *error;
    char slot[8];      /* blue-green: the slot it runs in ("blue", "green"); "" otherwise */
    char *spec;        /* swarm mode: the spec to record (swarm_spec_recordable), or NULL */
    long long version; /* swarm mode: Swarm's version index of the service; 0: none yet */
};

struct stack_report {
    struct stack_result *v; /* in start order */
    size_t n;
    json_t *events; /* the daemon's events for these services: [{time, service, action}] */
};

void stack_report_clear(struct stack_report *r);

/* report (may be NULL) receives one result per selected service, failed or not. */
int stack_up(struct engine *e, const struct compose_project *p, const struct dag *d,
             const struct stack_options *o, struct stack_report *report, struct tt_err *err);
/* What stack_up would do, changing nothing on the engine (no pull, no create). */
int stack_preview(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *o, struct stack_report *report, struct tt_err *err);
int stack_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err);

/*
 * Runs argv once in a new container of service (a one-off, labelled as
 * docker compose labels `run` containers): the service's image (or image),
 * environment with env_override ("NAME=value" entries replacing), and
 * networks, but no ports and no healthcheck.  Waits up to timeout_ms,
 * keeps the last log lines in logs, removes the container.
 */
int stack_run_oneoff(struct engine *e, const struct compose_project *p,
                     const struct compose_service *s, const char *image, const struct strv *argv,
                     const struct strv *env_override, long timeout_ms, int *exit_code,
                     struct buf *logs, struct tt_err *err);
/* Stops (start = 0) or starts (start = 1) service's container, if it has one. */
int stack_toggle_service(struct engine *e, const char *project, const char *service, int start,
                         struct tt_err *err);

/* Blue-green: the name of service's container in slot ("blue", "green"); caller frees. */
char *stack_slot_name(const char *project, const char *service, const char *slot);
/* Whether service's container in slot exists and runs. */
int stack_slot_running(struct engine *e, const char *project, const char *service,
                       const char *slot);
/*
 * Stops (grace_s seconds for requests in flight) and removes service's
 * slot container, if any; slot NULL: its containers that are in no slot
 * (made before the service had slots).
 */
int stack_slot_remove(struct engine *e, const char *project, const char *service, const char *slot,
                      long grace_s, struct tt_err *err);

/* The id of service's running container in the project (caller frees), or NULL. */
char *stack_container_id(struct engine *e, const char *project, const char *service);

/*
 * The engine's list of project's containers, stopped ones too (a JSON
 * array of container summaries, as GET /containers/json gives them) into
 * *list (the caller json_decref()s it).
 */
int stack_project_containers(struct engine *e, const char *project, json_t **list,
                             struct tt_err *err);

/*
 * Docker's word for the condition of container id: its health (healthy,
 * unhealthy, starting) while it runs with a healthcheck, else its state
 * (running, exited, paused, restarting, dead...); "missing" when id is
 * NULL, the container is gone, or it was created and never started.  The
 * caller frees.
 */
char *stack_container_health(struct engine *e, const char *id);

/*
 * The image to run again for a recorded release: ref while its tag still
 * points at image_id (or when no image_id was recorded), else image_id,
 * because the tag has since moved to another image.  The caller frees.
 */
char *stack_recorded_image(struct engine *e, const char *ref, const char *image_id);

/* The JSON filter {"label": ["com.docker.compose.project=NAME"]}, as a new object. */
json_t *stack_project_filter(const char *project);

#endif
