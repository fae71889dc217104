/*
 * test_container_spec.c - compose service → Engine API create body: every
 * field translated, Compose's labels, and a config hash that changes
 * exactly when the container would.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "container_spec.h"
#include "testutil.h"

static struct compose_project *proj;

static void teardown(void)
{
    compose_project_free(proj);
    proj = NULL;
}

TestSuite(container_spec, .fini = teardown);

static struct container_spec *spec_of(const char *text, const char *service)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load(text, NULL, &proj, &err), 0, "%s", err.msg);
    return container_spec_new(proj, compose_find_service(proj, service), NULL);
}

static const char *label(const struct container_spec *c, const char *key)
{
    return json_string_value(json_object_get(json_object_get(c->body, "Labels"), key));
}

Test(container_spec, full_translation)
{
    struct container_spec *c =
        spec_of("name: shop\n"
                "services:\n"
                "  api:\n"
                "    image: api:1\n"
                "    command: [serve, --port, '8000']\n"
                "    entrypoint: /init\n"
                "    environment: {A: '1', EMPTY: ''}\n"
                "    user: '1000'\n"
                "    working_dir: /srv\n"
                "    init: true\n"
                "    stop_grace_period: 1500ms\n"
                "    ports: ['127.0.0.1:8000:8000', '9000-9001:9000-9001/udp']\n"
                "    volumes: [data:/data, /host:/ro:ro]\n"
                "    restart: on-failure:5\n"
                "    labels: {team: core}\n"
                "    healthcheck:\n"
                "      test: [CMD, wget, -q, http://127.0.0.1:8000/]\n"
                "      interval: 5s\n      timeout: 2s\n      retries: 3\n      start_period: 1s\n"
                "    deploy: {resources: {limits: {cpus: '0.5', memory: 64M}}}\n"
                "    networks: [front, back]\n"
                "networks: {front: {}, back: {}}\n"
                "volumes: {data: {}}\n",
                "api");
    json_t *b = c->body, *h = json_object_get(b, "HostConfig");
    cr_assert_str_eq(c->name, "shop-api-1");
    cr_assert_str_eq(json_string_value(json_object_get(b, "Image")), "api:1");
    cr_assert_eq(json_array_size(json_object_get(b, "Cmd")), 3);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "Entrypoint"), 0)),
                     "/init");
    cr_assert_eq(json_array_size(json_object_get(b, "Env")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(b, "User")), "1000");
    cr_assert_eq(json_integer_value(json_object_get(b, "StopTimeout")), 2, "rounded up to seconds");
    cr_assert(json_is_true(json_object_get(h, "Init")));
    json_t *hc = json_object_get(b, "Healthcheck");
    cr_assert_eq(json_integer_value(json_object_get(hc, "Interval")), 5000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(hc, "Timeout")), 2000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(hc, "StartPeriod")), 1000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(hc, "Retries")), 3);
    json_t *pb = json_object_get(h, "PortBindings");
    json_t *p8000 = json_array_get(json_object_get(pb, "8000/tcp"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p8000, "HostIp")), "127.0.0.1");
    cr_assert_str_eq(json_string_value(json_object_get(p8000, "HostPort")), "8000");
    json_t *p9001 = json_array_get(json_object_get(pb, "9001/udp"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p9001, "HostPort")), "9001",
                     "ranges expand");
    cr_assert_not_null(json_object_get(json_object_get(b, "ExposedPorts"), "9000/udp"));
    json_t *m0 = json_array_get(json_object_get(h, "Mounts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(m0, "Source")), "shop_data");
    json_t *m1 = json_array_get(json_object_get(h, "Mounts"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(m1, "Type")), "bind");
    cr_assert(json_is_true(json_object_get(m1, "ReadOnly")));
    json_t *rp = json_object_get(h, "RestartPolicy");
    cr_assert_str_eq(json_string_value(json_object_get(rp, "Name")), "on-failure");
    cr_assert_eq(json_integer_value(json_object_get(rp, "MaximumRetryCount")), 5);
    cr_assert_eq(json_integer_value(json_object_get(h, "Memory")), 64LL << 20);
    cr_assert_eq(json_integer_value(json_object_get(h, "NanoCpus")), 500000000LL);
    cr_assert_str_eq(json_string_value(json_object_get(h, "NetworkMode")), "shop_front",
                     "the first network listed is joined at create");
    cr_assert_eq(json_array_size(c->extra_networks), 1);
    cr_assert_str_eq(label(c, "team"), "core");
    cr_assert_str_eq(label(c, LABEL_PROJECT), "shop");
    cr_assert_str_eq(label(c, LABEL_SERVICE), "api");
    cr_assert_str_eq(label(c, LABEL_NUMBER), "1");
    cr_assert_str_eq(label(c, LABEL_ONEOFF), "False");
    cr_assert_str_eq(label(c, LABEL_CONFIG_HASH), c->hash);
    cr_assert_eq(strlen(c->hash), 64);
    container_spec_free(c);
}

Test(container_spec, hash_changes_with_config_only)
{
    const char *a = "name: h\nservices:\n  s:\n    image: x:1\n    environment: [A=1]\n";
    struct container_spec *c1 = spec_of(a, "s");
    char h1[65];
    strcpy(h1, c1->hash);
    container_spec_free(c1);
    teardown();
    struct container_spec *c2 = spec_of(a, "s");
    cr_assert_str_eq(c2->hash, h1, "same file, same hash");
    container_spec_free(c2);
    teardown();
    struct container_spec *c3 =
        spec_of("name: h\nservices:\n  s:\n    image: x:1\n    environment: [A=2]\n", "s");
    cr_assert_str_neq(c3->hash, h1);
    container_spec_free(c3);
}

Test(container_spec, container_name_and_disabled_healthcheck)
{
    struct container_spec *c = spec_of("services:\n  s:\n    image: x\n    container_name: fixed\n"
                                       "    healthcheck: {disable: true}\n",
                                       "s");
    cr_assert_str_eq(c->name, "fixed");
    json_t *t = json_object_get(json_object_get(c->body, "Healthcheck"), "Test");
    cr_assert_str_eq(json_string_value(json_array_get(t, 0)), "NONE");
    cr_assert_not(c->has_healthcheck);
    container_spec_free(c);
}

Test(container_spec, env_without_value_comes_from_host)
{
    setenv("TTDEPLOY_UNIT_PASS", "from-host", 1);
    unsetenv("TTDEPLOY_UNIT_UNSET");
    struct container_spec *c = spec_of("services:\n  s:\n    image: x\n    environment: "
                                       "[TTDEPLOY_UNIT_PASS, TTDEPLOY_UNIT_UNSET]\n",
                                       "s");
    json_t *env = json_object_get(c->body, "Env");
    cr_assert_eq(json_array_size(env), 1, "unset on the host: left out");
    cr_assert_str_eq(json_string_value(json_array_get(env, 0)), "TTDEPLOY_UNIT_PASS=from-host");
    container_spec_free(c);
}

Test(container_spec, network_and_volume_labels)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load("name: p\nservices:\n  s: {image: x}\n", NULL, &proj, &err), 0);
    json_t *n = container_spec_network_body(proj, "default");
    cr_assert_str_eq(json_string_value(json_object_get(n, "Name")), "p_default");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(n, "Labels"), LABEL_NETWORK)), "default");
    json_decref(n);
    json_t *v = container_spec_volume_body(proj, "data");
    cr_assert_str_eq(json_string_value(json_object_get(v, "Name")), "p_data");
    json_decref(v);
}
