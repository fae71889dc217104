/*
 * swarm.h - a compose project as Docker Swarm services (swarm mode).
 *
 * swarm_spec_new() translates a compose service into the ServiceSpec of
 * POST /services/create, labelled as `docker stack deploy` labels its
 * services (com.docker.stack.namespace, com.docker.stack.image), so that
 * `docker stack ps PROJECT` lists them, plus ttdeploy's spec hash.
 *
 * swarm_up() keeps the compose DAG, which `docker stack deploy` ignores:
 * layer by layer, a layer's services are created (or updated, only when
 * their spec hash changed) once every task of the layers before runs the
 * current spec (and, with a healthcheck, is healthy: Swarm reports a task
 * "running" only after its container's first healthy check).  An update
 * that Swarm rolled back itself (UpdateStatus rollback_*, paused) is a
 * failure naming the service and Swarm's message.  Every wait has the
 * deadline of the options' timeout_ms.  swarm_up, swarm_preview and
 * swarm_down take the arguments of stack_up, stack_preview and stack_down
 * so that a caller picks one set or the other.
 *
 * Swarm's tasks have no events of their own: the waits read GET /tasks
 * every SWARM_POLL_MS.
 */
#ifndef SWARM_H
#define SWARM_H

#include <jansson.h>

#include "compose.h"
#include "dag.h"
#include "engine.h"
#include "sha256.h"
#include "stack.h"
#include "tterr.h"

#define SWARM_LABEL_NAMESPACE "com.docker.stack.namespace"
#define SWARM_LABEL_IMAGE "com.docker.stack.image"
#define SWARM_LABEL_HASH "dev.ttdeploy.spec-hash"
#define SWARM_LABEL_JOB "dev.ttdeploy.job"
#define SWARM_LABEL_STOPPED "dev.ttdeploy.stopped-replicas"
#define SWARM_POLL_MS 250

struct swarm_spec {
    char *name;   /* PROJECT_SERVICE */
    json_t *body; /* the ServiceSpec */
    char hash[SHA256_HEX_LEN + 1];
    int has_healthcheck;
};

/* -1 with err saying why service s cannot run as a Swarm service (container_name, no image). */
int swarm_spec_check(const struct compose_service *s, struct tt_err *err);
/* The spec of s; image_override (may be NULL) replaces its image. */
struct swarm_spec *swarm_spec_new(const struct compose_project *p, const struct compose_service *s,
                                  const char *image_override);
void swarm_spec_free(struct swarm_spec *sp);
/*
 * What the store keeps of a ServiceSpec (a new copy): all of it but the
 * container's environment (whose values may be secrets; the store keeps
 * their digests apart) and the spec hash labels.
 */
json_t *swarm_spec_recordable(const json_t *spec);
/*
 * Replaces sp's spec by recorded (JSON text from swarm_spec_recordable) with
 * sp's own environment and image (the recorded one, by ID when its tag has
 * moved), and hashes it again: rollback to a recorded release re-applies
 * all of that release's spec, not only its image.
 */
int swarm_spec_use_recorded(struct swarm_spec *sp, const char *recorded, struct tt_err *err);
/* The Swarm service name of service: PROJECT_SERVICE (caller frees). */
char *swarm_service_name(const char *project, const char *service);
/* The networks s joins (their Docker names, PROJECT_NAME), added to out unless there. */
void swarm_spec_networks(const struct compose_project *p, const struct compose_service *s,
                         struct strv *out);
/* The POST /networks/create body of an attachable overlay network of project p. */
json_t *swarm_network_body(const struct compose_project *p, const char *docker_name);
/*
 * The spec of a replicated-job service named name that runs argv once in
 * s's image (or image), environment and networks (env_override entries
 * "NAME=value" replacing), without healthcheck, ports or restarts.
 */
json_t *swarm_job_spec(const struct compose_project *p, const struct compose_service *s,
                       const char *image, const struct strv *argv, const struct strv *env_override,
                       const char *name);

int swarm_up(struct engine *e, const struct compose_project *p, const struct dag *d,
             const struct stack_options *o, struct stack_report *report, struct tt_err *err);
int swarm_preview(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *o, struct stack_report *report, struct tt_err *err);
/* Removes the project's services in reverse DAG order, then its networks (and volumes: o->volumes).
 */
int swarm_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err);

/* stack_run_oneoff's contract, as a replicated-job service run to completion and removed. */
int swarm_run_job(struct engine *e, const struct compose_project *p,
                  const struct compose_service *s, const char *image, const struct strv *argv,
                  const struct strv *env_override, long timeout_ms, int *exit_code,
                  struct buf *logs, struct tt_err *err);

/*
 * The container of service's running (or starting) task (caller frees), for an exec.
 * NULL with err untouched when the service has no running task; NULL with
 * err set when the engine cannot say, or when the task runs on another
 * node than the engine's (named, with a placement constraint to suggest).
 */
char *swarm_container_id(struct engine *e, const char *project, const char *service,
                         struct tt_err *err);

/*
 * stack_toggle_service's contract in swarm mode (swarm_toggle.c): off
 * scales the service to 0 replicas and waits until its tasks ended; on
 * gives back the replicas it had and waits until they run; each wait
 * within timeout_ms (0: 120 s).  A service that does not exist: nothing.
 */
int swarm_toggle_service(struct engine *e, const char *project, const char *service, int on,
                         long timeout_ms, struct tt_err *err);

/* -1 with err set when the engine is not a Swarm manager. */
int swarm_check_manager(struct engine *e, struct tt_err *err);

/* ---- shared by the swarm_*.c files ---------------------------------------- */

/*
 * The inspection of service name_or_id (caller json_decref()s it) into
 * *out: 0 with *out NULL when there is no such service, -1 on error.
 */
int swarm_service_inspect(struct engine *e, const char *name_or_id, json_t **out,
                          struct tt_err *err);
/* GET /what?filters=FILTERS (tasks, services...; filters is taken) into *out. */
int swarm_list(struct engine *e, const char *what, json_t *filters, json_t **out,
               struct tt_err *err);
/* The tasks of service_id (desired state running only, when running_only), a new array. */
int swarm_service_tasks(struct engine *e, const char *service_id, int running_only, json_t **out,
                        struct tt_err *err);
/* The NodeID of the engine's own node (caller frees), or NULL. */
char *swarm_local_node(struct engine *e);
/* The label SWARM_LABEL_HASH of a task's container spec (borrowed), or NULL. */
const char *swarm_task_hash(const json_t *task);
/* The last log lines of service_id's tasks (stdout and stderr), appended to out. */
void swarm_service_logs(struct engine *e, const char *service_id, struct buf *out);

#endif
