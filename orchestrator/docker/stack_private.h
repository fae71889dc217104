/*
 * stack_private.h - what the stack_*.c files of docker/ share and nobody
 * else may use: the state of one `up` (one small state machine per
 * service, struct svc, inside struct up_run), the preparation up and
 * preview have in common, and the Engine queries several files ask.
 * The public contract is stack.h.
 */
#ifndef STACK_PRIVATE_H
#define STACK_PRIVATE_H

#include "container_spec.h"
#include "probe.h"
#include "stack.h"

enum svc_state {
    SVC_UNSELECTED,
    SVC_PENDING,
    SVC_STOPPING,
    SVC_REMOVING,
    SVC_CREATING,
    SVC_CONNECTING,
    SVC_STARTING,
    SVC_WAITING,
    SVC_READY,
    SVC_FAILED,
    SVC_SKIPPED,
};

enum svc_need { NEED_RUNNING, NEED_HEALTHY, NEED_EXIT0 };

/* What a finished request belongs to: the service's lifecycle or its probe. */
struct req_tag {
    struct svc *svc;
    int is_probe;
};

/* An existing container of a service, as find_existing() saw it. */
struct seen_container {
    char *id;
    char *image; /* the reference it was created with */
    int running;
    int unready; /* its healthcheck says unhealthy or still starting */
    int matches; /* same config hash and image as the release: keep it */
};

struct svc {
    const struct compose_service *s;
    struct container_spec *spec;
    char *image_id;
    int has_health;
    enum svc_need need;
    char *old_id; /* the project's existing container for this service */
    int old_running;
    int old_matches; /* same config hash and image: keep it */
    int old_unready; /* its healthcheck says unhealthy or still starting */
    char *id;        /* the container this run manages */
    enum svc_state state;
    struct engine_req *req;
    size_t next_net;
    size_t row; /* progress line */
    char *error;
    json_t *health_test; /* ["CMD", ...] or ["CMD-SHELL", cmd]: compose's or the image's */
    long health_timeout_ms, health_interval_ms;
    struct probe *probe;
    struct req_tag life_tag, probe_tag;
    const char *action; /* what launch() did or preview would do */
    char *old_image;
    const struct stack_slot *bg;         /* blue-green: its slots (o->slots), or NULL */
    struct seen_container slots_seen[2]; /* blue-green: the blue and green containers found */
    const char *slot;                    /* blue-green: the slot this run uses */
    int created_ahead; /* its new container was created while its dependencies were not ready */
    double t0;         /* first action */
    double seconds;    /* first action to ready */
    char how[16];
};

struct up_run {
    struct engine *e;
    const struct compose_project *p;
    const struct dag *d;
    const struct stack_options *o;
    struct svc *svcs; /* indexed like d (and p->services) */
    struct progress *pr;
    int failed;
    double started, deadline;
    unsigned probes_max; /* execs allowed in flight at once */
    json_t *seen;        /* events of our containers, for the report */
    int said_waiting;    /* on_waiting has been called */
};

/* ---- queries and diagnostics (stack_query.c) ------------------------------ */

/*
 * GETs path_prefix ("/networks", "/containers/json?all=1") filtered to
 * project's label, and to service's too when service is not NULL; *list
 * receives the engine's answer.
 */
int stack_project_list(struct engine *e, const char *path_prefix, const char *project,
                       const char *service, long timeout_ms, json_t **list, struct tt_err *err);
/* The id of service's container in project (all: stopped ones too), or NULL (caller frees). */
char *stack_service_container(struct engine *e, const char *project, const char *service, int all,
                              struct tt_err *err);
/* Appends the Engine path that inspects image ("/images/<image, encoded>/json") to path. */
void stack_image_path(const char *image, struct buf *path);
/* Replaces in env (a JSON array of "NAME=value") each entry env_override names, or adds it. */
void stack_env_override(json_t *env, const struct strv *env_override);
/* The last lines of a container's log, indented, appended to out. */
void stack_append_logs(struct engine *e, const char *id, struct buf *out);
/*
 * The output of the container's last health check, or NULL (caller
 * frees); *status (status may be NULL) receives Docker's health word.
 */
char *stack_last_health_output(struct engine *e, const char *id, char **status);

/* ---- before anything changes (stack_prepare.c) ---------------------------- */

/*
 * Everything up and preview share: selection, specs, images (pulled when
 * allow_pull), needs, existing containers.  *names receives the progress
 * rows in start order (caller frees the array).
 */
int stack_up_prepare(struct up_run *r, struct engine *e, const struct compose_project *p,
                     const struct dag *d, const struct stack_options *o, int allow_pull,
                     const char ***names, struct tt_err *err);
void stack_up_run_free(struct up_run *r);
/* One result per selected service into out (may be NULL). */
void stack_up_report(struct up_run *r, struct stack_report *out);
/* What launch() does to v, in words the audit and --dry-run use. */
const char *stack_svc_action(const struct svc *v);

#endif
