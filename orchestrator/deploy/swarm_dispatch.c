/*
 * swarm_dispatch.c - which engine mode a deployment runs in, and the
 * calls of the phases that differ between local mode (containers:
 * stack.h) and swarm mode (Swarm services: swarm.h).  The phases call
 * these instead of stack_up() and friends, so the choice is made here
 * only.
 */
#include "run.h"
#include "swarm.h"

#include <stdlib.h>
#include <string.h>

int run_swarm_mode(const struct run *a)
{
    const char *mode = a->o->mode ? a->o->mode : a->plan->engine_mode;
    return mode && !strcmp(mode, "swarm");
}

int run_stack_up(struct run *a, const struct compose_project *p, const struct dag *d,
                 const struct stack_options *o, struct stack_report *report, struct tt_err *err)
{
    if (!run_swarm_mode(a))
        return stack_up(a->engine, p, d, o, report, err);
    struct stack_options so = *o;
    so.recorded_specs = a->recorded_specs;
    return swarm_up(a->engine, p, d, &so, report, err);
}

int run_stack_preview(struct run *a, const struct compose_project *p, const struct dag *d,
                      const struct stack_options *o, struct stack_report *report,
                      struct tt_err *err)
{
    if (!run_swarm_mode(a))
        return stack_preview(a->engine, p, d, o, report, err);
    struct stack_options so = *o;
    so.recorded_specs = a->recorded_specs;
    return swarm_preview(a->engine, p, d, &so, report, err);
}

char *run_container_id(struct run *a, const char *service, struct tt_err *err)
{
    if (run_swarm_mode(a))
        return swarm_container_id(a->engine, a->project->name, service, err);
    return stack_container_id(a->engine, a->project->name, service);
}

int run_oneoff(struct run *a, const struct compose_service *s, const char *image,
               const struct strv *argv, const struct strv *env_override, long timeout_ms,
               int *exit_code, struct buf *logs, struct tt_err *err)
{
    if (run_swarm_mode(a))
        return swarm_run_job(a->engine, a->project, s, image, argv, env_override, timeout_ms,
                             exit_code, logs, err);
    return stack_run_oneoff(a->engine, a->project, s, image, argv, env_override, timeout_ms,
                            exit_code, logs, err);
}

int run_toggle_service(struct run *a, const char *service, int start, struct tt_err *err)
{
    if (run_swarm_mode(a))
        return swarm_toggle_service(a->engine, a->project->name, service, start,
                                    a->plan->healthy_timeout_ms, err);
    return stack_toggle_service(a->engine, a->project->name, service, start, err);
}
