/*
 * swarm_spec.c - a compose service as a Swarm ServiceSpec.
 *
 * The process (image, command, entrypoint, environment, user, working
 * directory, healthcheck, stop signal) and the mounts come from the
 * container spec (container_spec.c), so local and swarm mode read the
 * compose file the same way; what is Swarm's own comes from deploy:
 * (mode and replicas, placement constraints, resources, update_config,
 * rollback_config, restart_policy), networks become attachable overlay
 * networks where the service answers to its compose name, and ports go
 * through the routing mesh unless their mode says host.
 *
 * The spec hash covers everything but the hash label itself; it sits on
 * the service and on its container spec, so a task says which spec it
 * runs.
 */
#include "swarm.h"
#include "buf.h"
#include "compose_out.h"
#include "container_spec.h"
#include "stack_private.h"

#include <stdlib.h>
#include <string.h>

char *swarm_service_name(const char *project, const char *service)
{
    struct buf b = {0};
    buf_printf(&b, "%s_%s", project, service);
    return buf_detach(&b);
}

int swarm_spec_check(const struct compose_service *s, struct tt_err *err)
{
    if (s->container_name)
        return tt_error(err,
                        "service \"%s\" sets container_name \"%s\": Swarm names a service's "
                        "containers itself; remove container_name to deploy in swarm mode",
                        s->name, s->container_name);
    if (!s->image)
        return tt_error(err,
                        "service \"%s\" has only build: a swarm's nodes run images from a "
                        "registry or their own store; build and push it first, and set image:",
                        s->name);
    if (s->network_mode)
        return tt_error(err,
                        "service \"%s\" sets network_mode \"%s\": Swarm services join overlay "
                        "networks; remove network_mode to deploy in swarm mode",
                        s->name, s->network_mode);
    return 0;
}

void swarm_spec_networks(const struct compose_project *p, const struct compose_service *s,
                         struct strv *out)
{
    for (size_t i = 0; i < (s->networks.n ? s->networks.n : 1); i++) {
        char *name = container_spec_resource_name(p, s->networks.n ? s->networks.v[i] : "default");
        if (strv_contains(out, name))
            free(name);
        else
            strv_push_owned(out, name);
    }
}

json_t *swarm_network_body(const struct compose_project *p, const char *docker_name)
{
    return json_pack("{s:s, s:s, s:b, s:{s:s}}", "Name", docker_name, "Driver", "overlay",
                     "Attachable", 1, "Labels", SWARM_LABEL_NAMESPACE, p->name);
}

/* Moves key from the container body into the container spec under name (when present). */
static void move_key(json_t *from, const char *key, json_t *to, const char *name)
{
    json_t *v = json_object_get(from, key);
    if (v)
        json_object_set(to, name, v);
}

/* The ContainerSpec: the container body's process and mounts, relabelled for Swarm. */
static json_t *container_part(const struct compose_project *p, const struct compose_service *s,
                              const char *image)
{
    struct container_spec *c = container_spec_new(p, s, image);
    json_t *cs = json_object(), *labels = json_object();

    move_key(c->body, "Image", cs, "Image");
    move_key(c->body, "Entrypoint", cs, "Command");
    move_key(c->body, "Cmd", cs, "Args");
    move_key(c->body, "Env", cs, "Env");
    move_key(c->body, "User", cs, "User");
    move_key(c->body, "WorkingDir", cs, "Dir");
    move_key(c->body, "StopSignal", cs, "StopSignal");
    move_key(c->body, "Healthcheck", cs, "Healthcheck");
    move_key(json_object_get(c->body, "HostConfig"), "Mounts", cs, "Mounts");
    if (s->stop_grace_period >= 0)
        json_object_set_new(cs, "StopGracePeriod", json_integer(s->stop_grace_period));
    if (s->init)
        json_object_set_new(cs, "Init", json_true());
    for (size_t i = 0; i < s->labels.n; i++)
        json_object_set_new(labels, s->labels.v[i].key,
                            json_string(s->labels.v[i].value ? s->labels.v[i].value : ""));
    json_object_set_new(labels, SWARM_LABEL_NAMESPACE, json_string(p->name));
    json_object_set_new(labels, LABEL_MANAGED, json_string("true"));
    json_object_set_new(cs, "Labels", labels);
    container_spec_free(c);
    return cs;
}

static json_t *resources_object(const struct compose_resources *r)
{
    json_t *o = json_object();
    if (r->cpus > 0)
        json_object_set_new(o, "NanoCPUs", json_integer((json_int_t)(r->cpus * 1e9)));
    if (r->memory > 0)
        json_object_set_new(o, "MemoryBytes", json_integer(r->memory));
    return o;
}

/* restart_policy, else the service's restart: mapped as `docker stack deploy` maps it. */
static json_t *restart_object(const struct compose_service *s)
{
    const struct compose_deploy *d = &s->deploy;
    const char *cond = d->restart_condition;
    json_t *o = json_object();

    if (!cond && s->restart)
        cond = !strcmp(s->restart, "no")                ? "none"
               : !strncmp(s->restart, "on-failure", 10) ? "on-failure"
                                                        : "any";
    json_object_set_new(o, "Condition", json_string(cond ? cond : "any"));
    if (d->restart_delay >= 0)
        json_object_set_new(o, "Delay", json_integer(d->restart_delay));
    if (d->restart_max_attempts >= 0)
        json_object_set_new(o, "MaxAttempts", json_integer(d->restart_max_attempts));
    if (d->restart_window >= 0)
        json_object_set_new(o, "Window", json_integer(d->restart_window));
    return o;
}

/* UpdateConfig or RollbackConfig; order falls back to the service's start_first. */
static json_t *update_object(const struct compose_update_config *u, int start_first)
{
    const char *order = u->order ? u->order : start_first ? "start-first" : "stop-first";
    json_t *o = json_pack("{s:I, s:s, s:s}", "Parallelism",
                          (json_int_t)(u->parallelism >= 0 ? u->parallelism : 1), "Order", order,
                          "FailureAction", u->failure_action ? u->failure_action : "pause");
    if (u->delay >= 0)
        json_object_set_new(o, "Delay", json_integer(u->delay));
    if (u->monitor >= 0)
        json_object_set_new(o, "Monitor", json_integer(u->monitor));
    if (u->max_failure_ratio >= 0)
        json_object_set_new(o, "MaxFailureRatio", json_real(u->max_failure_ratio));
    return o;
}

static json_t *networks_array(const struct compose_project *p, const struct compose_service *s)
{
    struct strv nets = {0};
    json_t *a = json_array();
    swarm_spec_networks(p, s, &nets);
    for (size_t i = 0; i < nets.n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:[s]}", "Target", nets.v[i], "Aliases", s->name));
    strv_clear(&nets);
    return a;
}

static json_t *endpoint_object(const struct compose_service *s)
{
    const char *mode = s->deploy.endpoint_mode ? s->deploy.endpoint_mode : "vip";
    json_t *ports = json_array();
    for (size_t i = 0; i < s->nports; i++) {
        const struct compose_port *pt = &s->ports[i];
        json_t *o = json_pack("{s:s, s:I, s:s}", "Protocol", pt->protocol, "TargetPort",
                              (json_int_t)strtol(pt->target, NULL, 10), "PublishMode",
                              pt->mode && !strcmp(pt->mode, "host") ? "host" : "ingress");
        if (pt->published)
            json_object_set_new(o, "PublishedPort", json_integer(strtol(pt->published, NULL, 10)));
        json_array_append_new(ports, o);
    }
    return json_pack("{s:s, s:o}", "Mode", mode, "Ports", ports);
}

/* Task template and service labels shared by services and jobs. */
static json_t *base_spec(const struct compose_project *p, const struct compose_service *s,
                         const char *image, const char *name, json_t **cs_out)
{
    json_t *cs = container_part(p, s, image);
    const char *img = json_string_value(json_object_get(cs, "Image"));
    json_t *task = json_pack("{s:o, s:o}", "ContainerSpec", cs, "Networks", networks_array(p, s));
    *cs_out = cs;
    return json_pack("{s:s, s:{s:s, s:s}, s:o}", "Name", name, "Labels", SWARM_LABEL_NAMESPACE,
                     p->name, SWARM_LABEL_IMAGE, img ? img : "", "TaskTemplate", task);
}

/*
 * Hashes sp->body (without the hash labels) into sp->hash and labels the
 * service and its container spec with it.
 */
static void seal(struct swarm_spec *sp)
{
    json_t *cs = json_object_get(json_object_get(sp->body, "TaskTemplate"), "ContainerSpec");
    json_object_del(json_object_get(sp->body, "Labels"), SWARM_LABEL_HASH);
    json_object_del(json_object_get(cs, "Labels"), SWARM_LABEL_HASH);
    char *canon = json_dumps(sp->body, JSON_COMPACT | JSON_SORT_KEYS);
    sha256_hex(canon, strlen(canon), sp->hash);
    free(canon);
    json_object_set_new(json_object_get(sp->body, "Labels"), SWARM_LABEL_HASH,
                        json_string(sp->hash));
    json_object_set_new(json_object_get(cs, "Labels"), SWARM_LABEL_HASH, json_string(sp->hash));
}

struct swarm_spec *swarm_spec_new(const struct compose_project *p, const struct compose_service *s,
                                  const char *image_override)
{
    struct swarm_spec *sp = xcalloc(1, sizeof(*sp));
    const struct compose_deploy *d = &s->deploy;
    json_t *cs, *task, *res;

    sp->name = swarm_service_name(p->name, s->name);
    sp->body = base_spec(p, s, image_override, sp->name, &cs);
    task = json_object_get(sp->body, "TaskTemplate");
    res = json_pack("{s:o, s:o}", "Limits", resources_object(&s->limits), "Reservations",
                    resources_object(&s->reservations));
    json_object_set_new(task, "Resources", res);
    json_object_set_new(task, "RestartPolicy", restart_object(s));
    json_object_set_new(task, "Placement",
                        json_pack("{s:o}", "Constraints", compose_strv_json(&d->constraints)));
    if (d->mode && !strcmp(d->mode, "global"))
        json_object_set_new(sp->body, "Mode", json_pack("{s:{}}", "Global"));
    else
        json_object_set_new(sp->body, "Mode",
                            json_pack("{s:{s:I}}", "Replicated", "Replicas",
                                      (json_int_t)(d->replicas >= 0 ? d->replicas : 1)));
    json_object_set_new(sp->body, "UpdateConfig", update_object(&d->update, s->start_first));
    json_object_set_new(sp->body, "RollbackConfig", update_object(&d->rollback, s->start_first));
    json_object_set_new(sp->body, "EndpointSpec", endpoint_object(s));
    sp->has_healthcheck = s->healthcheck.present && !s->healthcheck.disable;
    seal(sp);
    return sp;
}

/* The ContainerSpec of a ServiceSpec (borrowed), or NULL. */
static json_t *container_spec_of(const json_t *spec)
{
    return json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
}

json_t *swarm_spec_recordable(const json_t *spec)
{
    json_t *copy = json_deep_copy(spec);
    json_t *cs = container_spec_of(copy);
    json_object_del(cs, "Env");
    json_object_del(json_object_get(copy, "Labels"), SWARM_LABEL_HASH);
    json_object_del(json_object_get(cs, "Labels"), SWARM_LABEL_HASH);
    return copy;
}

int swarm_spec_use_recorded(struct swarm_spec *sp, const char *recorded, struct tt_err *err)
{
    json_error_t jerr;
    json_t *body = json_loads(recorded, 0, &jerr);
    json_t *cs = container_spec_of(body);
    if (!json_is_object(cs) || !json_is_string(json_object_get(body, "Name"))) {
        tt_error(err,
                 "the recorded spec of service %s is not a ServiceSpec (%s): roll back by git "
                 "tag instead",
                 sp->name,
                 !body ? jerr.text
                 : cs  ? "no Name"
                       : "no ContainerSpec");
        json_decref(body);
        return -1;
    }
    json_t *now = container_spec_of(sp->body);
    if (json_object_get(now, "Env"))
        json_object_set(cs, "Env", json_object_get(now, "Env"));
    json_object_set(cs, "Image", json_object_get(now, "Image")); /* by ID when the tag moved */
    if (!json_is_object(json_object_get(body, "Labels")))
        json_object_set_new(body, "Labels", json_object());
    json_object_set(json_object_get(body, "Labels"), SWARM_LABEL_IMAGE,
                    json_object_get(json_object_get(sp->body, "Labels"), SWARM_LABEL_IMAGE));
    if (!json_is_object(json_object_get(cs, "Labels")))
        json_object_set_new(cs, "Labels", json_object());
    json_object_set_new(body, "Name", json_string(sp->name));
    const char *test = json_string_value(
        json_array_get(json_object_get(json_object_get(cs, "Healthcheck"), "Test"), 0));
    sp->has_healthcheck = test && strcmp(test, "NONE");
    json_decref(sp->body);
    sp->body = body;
    seal(sp);
    return 0;
}

void swarm_spec_free(struct swarm_spec *sp)
{
    if (!sp)
        return;
    free(sp->name);
    json_decref(sp->body);
    free(sp);
}

json_t *swarm_job_spec(const struct compose_project *p, const struct compose_service *s,
                       const char *image, const struct strv *argv, const struct strv *env_override,
                       const char *name)
{
    json_t *cs, *body = base_spec(p, s, image, name, &cs);
    json_t *task = json_object_get(body, "TaskTemplate");

    json_object_set_new(cs, "Args", compose_strv_json(argv));
    json_object_set_new(cs, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
    if (!json_object_get(cs, "Env"))
        json_object_set_new(cs, "Env", json_array());
    stack_env_override(json_object_get(cs, "Env"), env_override);
    json_object_set_new(json_object_get(body, "Labels"), SWARM_LABEL_JOB, json_string(s->name));
    json_object_set_new(task, "RestartPolicy", json_pack("{s:s}", "Condition", "none"));
    json_object_set_new(body, "Mode",
                        json_pack("{s:{s:I, s:I}}", "ReplicatedJob", "MaxConcurrent", (json_int_t)1,
                                  "TotalCompletions", (json_int_t)1));
    return body;
}
