/*
 * test_swarm_spec.c - compose service → Swarm ServiceSpec: the labels
 * `docker stack deploy` uses, the process and mounts, deploy: keys, the
 * overlay networks with the service's name as alias, a spec hash that
 * changes exactly when the spec does, the replicated-job spec of a
 * one-off, and what swarm mode refuses.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "swarm.h"
#include "testutil.h"

static struct compose_project *proj;

static void teardown(void)
{
    compose_project_free(proj);
    proj = NULL;
}

TestSuite(swarm_spec, .fini = teardown);

static struct swarm_spec *spec_of(const char *text, const char *service, const char *image)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load(text, NULL, &proj, &err), 0, "%s", err.msg);
    return swarm_spec_new(proj, compose_find_service(proj, service), image);
}

static json_t *at(json_t *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok(buf, "."); k && o; k = strtok(NULL, "."))
        o = json_object_get(o, k);
    return o;
}

static const char *str_at(json_t *o, const char *path)
{
    return json_string_value(at(o, path));
}

/* The label key (dots and all) of o's Labels. */
static const char *label(json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, "Labels"), key));
}

static const char *const FULL = "name: shop\n"
                                "services:\n"
                                "  db:\n"
                                "    image: pg:15\n"
                                "  api:\n"
                                "    image: api:1\n"
                                "    entrypoint: [/bin/entry]\n"
                                "    command: [serve, --port, '8000']\n"
                                "    environment: {MODE: prod}\n"
                                "    labels: {team: core}\n"
                                "    user: app\n"
                                "    working_dir: /srv\n"
                                "    stop_grace_period: 7s\n"
                                "    init: true\n"
                                "    volumes: [data:/data, /etc/x:/x:ro]\n"
                                "    ports: [{target: 8000, published: 80, mode: host}]\n"
                                "    healthcheck:\n"
                                "      test: [CMD, wget, -q, http://127.0.0.1:8000/]\n"
                                "      interval: 2s\n"
                                "      retries: 4\n"
                                "    depends_on: {db: {condition: service_healthy}}\n"
                                "    deploy:\n"
                                "      replicas: 3\n"
                                "      endpoint_mode: dnsrr\n"
                                "      placement: {constraints: [node.role == manager]}\n"
                                "      resources:\n"
                                "        limits: {cpus: '0.5', memory: 64M}\n"
                                "        reservations: {memory: 32M}\n"
                                "      update_config: {parallelism: 2, delay: 5s, order: "
                                "start-first, failure_action: rollback, monitor: 3s}\n"
                                "      rollback_config: {parallelism: 0}\n"
                                "      restart_policy: {condition: on-failure, max_attempts: 3}\n"
                                "volumes: {data: {}}\n";

Test(swarm_spec, full_translation)
{
    struct swarm_spec *sp = spec_of(FULL, "api", NULL);
    json_t *b = sp->body;

    cr_assert_str_eq(sp->name, "shop_api");
    cr_assert_str_eq(str_at(b, "Name"), "shop_api");
    cr_assert_str_eq(label(b, "com.docker.stack.namespace"), "shop");
    cr_assert_str_eq(label(b, "com.docker.stack.image"), "api:1");
    cr_assert_str_eq(label(b, "dev.ttdeploy.spec-hash"), sp->hash);
    json_t *cs = at(b, "TaskTemplate.ContainerSpec");
    cr_assert_str_eq(str_at(cs, "Image"), "api:1");
    cr_assert_str_eq(json_string_value(json_array_get(at(cs, "Command"), 0)), "/bin/entry");
    cr_assert_eq(json_array_size(at(cs, "Args")), 3);
    cr_assert_str_eq(json_string_value(json_array_get(at(cs, "Env"), 0)), "MODE=prod");
    cr_assert_str_eq(str_at(cs, "User"), "app");
    cr_assert_str_eq(str_at(cs, "Dir"), "/srv");
    cr_assert_eq(json_integer_value(at(cs, "StopGracePeriod")), 7000000000LL);
    cr_assert(json_is_true(at(cs, "Init")));
    cr_assert_eq(json_integer_value(at(cs, "Healthcheck.Interval")), 2000000000LL);
    cr_assert_eq(json_integer_value(at(cs, "Healthcheck.Retries")), 4);
    json_t *labels = at(cs, "Labels");
    cr_assert_str_eq(str_at(labels, "team"), "core");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "com.docker.stack.namespace")),
                     "shop");
    cr_assert_str_eq(json_string_value(json_object_get(labels, "dev.ttdeploy.spec-hash")),
                     sp->hash);
    json_t *m0 = json_array_get(at(cs, "Mounts"), 0), *m1 = json_array_get(at(cs, "Mounts"), 1);
    cr_assert_str_eq(str_at(m0, "Type"), "volume");
    cr_assert_str_eq(str_at(m0, "Source"), "shop_data");
    cr_assert_str_eq(str_at(m1, "Type"), "bind");
    cr_assert(json_is_true(at(m1, "ReadOnly")));

    json_t *net = json_array_get(at(b, "TaskTemplate.Networks"), 0);
    cr_assert_str_eq(str_at(net, "Target"), "shop_default");
    cr_assert_str_eq(json_string_value(json_array_get(at(net, "Aliases"), 0)), "api");
    cr_assert_eq(json_integer_value(at(b, "Mode.Replicated.Replicas")), 3);
    cr_assert_str_eq(
        json_string_value(json_array_get(at(b, "TaskTemplate.Placement.Constraints"), 0)),
        "node.role == manager");
    cr_assert_eq(json_integer_value(at(b, "TaskTemplate.Resources.Limits.NanoCPUs")), 500000000);
    cr_assert_eq(json_integer_value(at(b, "TaskTemplate.Resources.Limits.MemoryBytes")), 64 << 20);
    cr_assert_eq(json_integer_value(at(b, "TaskTemplate.Resources.Reservations.MemoryBytes")),
                 32 << 20);
    cr_assert_str_eq(str_at(b, "TaskTemplate.RestartPolicy.Condition"), "on-failure");
    cr_assert_eq(json_integer_value(at(b, "TaskTemplate.RestartPolicy.MaxAttempts")), 3);
    cr_assert_eq(json_integer_value(at(b, "UpdateConfig.Parallelism")), 2);
    cr_assert_eq(json_integer_value(at(b, "UpdateConfig.Delay")), 5000000000LL);
    cr_assert_eq(json_integer_value(at(b, "UpdateConfig.Monitor")), 3000000000LL);
    cr_assert_str_eq(str_at(b, "UpdateConfig.Order"), "start-first");
    cr_assert_str_eq(str_at(b, "UpdateConfig.FailureAction"), "rollback");
    cr_assert_eq(json_integer_value(at(b, "RollbackConfig.Parallelism")), 0);
    cr_assert_str_eq(str_at(b, "EndpointSpec.Mode"), "dnsrr");
    json_t *port = json_array_get(at(b, "EndpointSpec.Ports"), 0);
    cr_assert_eq(json_integer_value(at(port, "TargetPort")), 8000);
    cr_assert_eq(json_integer_value(at(port, "PublishedPort")), 80);
    cr_assert_str_eq(str_at(port, "PublishMode"), "host");
    cr_assert(sp->has_healthcheck);
    swarm_spec_free(sp);
}

Test(swarm_spec, defaults_as_docker_stack_deploy)
{
    struct swarm_spec *sp = spec_of("name: p\nservices:\n  w:\n    image: w:1\n"
                                    "    restart: unless-stopped\n"
                                    "    networks: [back]\n"
                                    "networks: {back: {}}\n",
                                    "w", NULL);
    json_t *b = sp->body;
    cr_assert_eq(json_integer_value(at(b, "Mode.Replicated.Replicas")), 1);
    cr_assert_str_eq(str_at(b, "TaskTemplate.RestartPolicy.Condition"), "any");
    cr_assert_str_eq(str_at(b, "UpdateConfig.Order"), "stop-first");
    cr_assert_str_eq(str_at(b, "UpdateConfig.FailureAction"), "pause");
    cr_assert_eq(json_integer_value(at(b, "UpdateConfig.Parallelism")), 1);
    cr_assert_str_eq(str_at(b, "EndpointSpec.Mode"), "vip");
    cr_assert_str_eq(str_at(json_array_get(at(b, "TaskTemplate.Networks"), 0), "Target"), "p_back");
    cr_assert(!sp->has_healthcheck);
    json_t *n = swarm_network_body(proj, "p_back");
    cr_assert_str_eq(str_at(n, "Driver"), "overlay");
    cr_assert(json_is_true(at(n, "Attachable")));
    cr_assert_str_eq(
        json_string_value(json_object_get(at(n, "Labels"), "com.docker.stack.namespace")), "p");
    json_decref(n);
    swarm_spec_free(sp);
}

Test(swarm_spec, hash_follows_the_spec)
{
    struct swarm_spec *a = spec_of(FULL, "api", NULL);
    struct swarm_spec *same = swarm_spec_new(proj, compose_find_service(proj, "api"), NULL);
    struct swarm_spec *other = swarm_spec_new(proj, compose_find_service(proj, "api"), "api:2");
    cr_assert_str_eq(a->hash, same->hash);
    cr_assert_str_neq(a->hash, other->hash);
    cr_assert_str_eq(label(other->body, "com.docker.stack.image"), "api:2");
    swarm_spec_free(a);
    swarm_spec_free(same);
    swarm_spec_free(other);
    compose_project_free(proj);
    proj = NULL;
    struct swarm_spec *b = spec_of("name: shop\nservices:\n  api:\n    image: api:1\n"
                                   "    deploy: {replicas: 2}\n",
                                   "api", NULL);
    struct swarm_spec *c = swarm_spec_new(proj, compose_find_service(proj, "api"), NULL);
    compose_find_service(proj, "api")->deploy.replicas = 3;
    struct swarm_spec *d = swarm_spec_new(proj, compose_find_service(proj, "api"), NULL);
    cr_assert_str_eq(b->hash, c->hash);
    cr_assert_str_neq(b->hash, d->hash);
    swarm_spec_free(b);
    swarm_spec_free(c);
    swarm_spec_free(d);
}

Test(swarm_spec, job_runs_once_without_health_or_restart)
{
    struct strv argv = {0}, env = {0};
    strv_push(&argv, "fake-alembic");
    strv_push(&argv, "upgrade");
    strv_push(&env, "MODE=rehearsal");
    swarm_spec_free(spec_of(FULL, "api", NULL)); /* loads proj */
    json_t *j = swarm_job_spec(proj, compose_find_service(proj, "api"), "api:2", &argv, &env,
                               "shop_api-job-1");
    cr_assert_str_eq(str_at(j, "Name"), "shop_api-job-1");
    cr_assert_eq(json_integer_value(at(j, "Mode.ReplicatedJob.TotalCompletions")), 1);
    cr_assert_eq(json_integer_value(at(j, "Mode.ReplicatedJob.MaxConcurrent")), 1);
    cr_assert_str_eq(str_at(j, "TaskTemplate.RestartPolicy.Condition"), "none");
    json_t *cs = at(j, "TaskTemplate.ContainerSpec");
    cr_assert_str_eq(str_at(cs, "Image"), "api:2");
    cr_assert_str_eq(json_string_value(json_array_get(at(cs, "Args"), 0)), "fake-alembic");
    cr_assert_str_eq(json_string_value(json_array_get(at(cs, "Healthcheck.Test"), 0)), "NONE");
    cr_assert_eq(json_array_size(at(cs, "Env")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(at(cs, "Env"), 0)), "MODE=rehearsal");
    cr_assert_str_eq(label(j, "com.docker.stack.namespace"), "shop");
    cr_assert_null(at(j, "UpdateConfig"));
    json_decref(j);
    strv_clear(&argv);
    strv_clear(&env);
}

Test(swarm_spec, refusals_say_what_to_do)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load("services:\n  a:\n    image: x\n    container_name: fixed\n"
                         "  b:\n    build: .\n"
                         "  c:\n    image: y\n    network_mode: host\n",
                         NULL, &proj, &err),
                 0, "%s", err.msg);
    cr_assert_eq(swarm_spec_check(compose_find_service(proj, "a"), &err), -1);
    cr_assert(strstr(err.msg, "container_name \"fixed\"") &&
                  strstr(err.msg, "remove container_name to deploy in swarm mode"),
              "%s", err.msg);
    cr_assert_eq(swarm_spec_check(compose_find_service(proj, "b"), &err), -1);
    cr_assert(strstr(err.msg, "service \"b\" has only build") && strstr(err.msg, "set image:"),
              "%s", err.msg);
    cr_assert_eq(swarm_spec_check(compose_find_service(proj, "c"), &err), -1);
    cr_assert(strstr(err.msg, "network_mode \"host\""), "%s", err.msg);
}

Test(swarm_spec, recorded_spec_keeps_all_but_the_environment_and_comes_back)
{
    struct swarm_spec *sp = spec_of(FULL, "api", NULL);
    struct tt_err err = {0};
    json_t *keep = swarm_spec_recordable(sp->body);
    cr_assert_null(at(keep, "TaskTemplate.ContainerSpec.Env"), "environment values stay out");
    cr_assert_null(label(keep, SWARM_LABEL_HASH));
    cr_assert_null(label(at(keep, "TaskTemplate.ContainerSpec"), SWARM_LABEL_HASH));
    cr_assert_eq(json_integer_value(at(keep, "Mode.Replicated.Replicas")), 3);
    char *text = json_dumps(keep, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(keep);
    char hash[sizeof(sp->hash)];
    memcpy(hash, sp->hash, sizeof(hash));

    /* The same compose file: the recorded spec with its environment is the same spec. */
    struct swarm_spec *again = swarm_spec_new(proj, compose_find_service(proj, "api"), NULL);
    cr_assert_eq(swarm_spec_use_recorded(again, text, &err), 0, "%s", err.msg);
    cr_assert_str_eq(again->hash, hash);
    cr_assert(again->has_healthcheck);
    swarm_spec_free(again);

    /* A later compose file (one replica, another environment and image): the
     * recorded spec comes back whole, with this run's environment and image. */
    compose_project_free(proj);
    proj = NULL;
    struct swarm_spec *later = spec_of("name: shop\n"
                                       "services:\n"
                                       "  api:\n"
                                       "    image: api:2\n"
                                       "    environment: {MODE: staging}\n",
                                       "api", "api@sha256:0123");
    cr_assert_eq(swarm_spec_use_recorded(later, text, &err), 0, "%s", err.msg);
    cr_assert_eq(json_integer_value(at(later->body, "Mode.Replicated.Replicas")), 3);
    cr_assert_str_eq(str_at(later->body, "TaskTemplate.ContainerSpec.User"), "app");
    cr_assert_str_eq(
        json_string_value(json_array_get(at(later->body, "TaskTemplate.ContainerSpec.Env"), 0)),
        "MODE=staging");
    cr_assert_str_eq(str_at(later->body, "TaskTemplate.ContainerSpec.Image"), "api@sha256:0123");
    cr_assert_str_eq(label(later->body, SWARM_LABEL_HASH), later->hash);
    cr_assert_str_neq(later->hash, hash);
    swarm_spec_free(later);
    swarm_spec_free(sp);

    struct swarm_spec *bad = swarm_spec_new(proj, compose_find_service(proj, "api"), NULL);
    cr_assert_eq(swarm_spec_use_recorded(bad, "{\"Labels\": {}}", &err), -1);
    cr_assert(strstr(err.msg, "not a ServiceSpec"), "%s", err.msg);
    swarm_spec_free(bad);
    free(text);
}
