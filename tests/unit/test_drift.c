/*
 * test_drift.c - drift_compare() (deploy/drift.c), the comparison status
 * and diff share, against a store with one succeeded release and a fake
 * engine: a container that runs what was recorded is "same"; an
 * environment value changed (compared by keyed digest, never read out),
 * a stopped container, a service with no container and a container of
 * the project no release accounts for are told apart, first difference
 * first; an engine that cannot list the containers is -2.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "deploy.h"
#include "fake_dockerd.h"
#include "store.h"

#define VERSION                                                                                    \
    {                                                                                              \
        "GET /version ", 200, "{\"ApiVersion\":\"1.41\"}"                                          \
    }
#define LABELS(svc, hash)                                                                          \
    "\"Labels\":{\"com.docker.compose.project\":\"tt\",\"com.docker.compose.service\":\"" svc      \
    "\",\"com.docker.compose.config-hash\":\"" hash "\"}"
#define CONTAINER(id, svc, state, image, hash)                                                     \
    "{\"Id\":\"" id "\",\"Names\":[\"/tt-" svc "-1\"],\"State\":\"" state                          \
    "\",\"ImageID\":\"" image "\",\"Image\":\"busybox\"," LABELS(svc, hash) "}"
#define INSPECT(env)                                                                               \
    "{\"Created\":\"2001-01-01T00:00:00Z\",\"State\":{\"StartedAt\":\"2001-01-01T00:00:00Z\"},"    \
    "\"Config\":{\"Env\":[" env "]}}"

static char *dir;
static struct store *st;

/* A store whose newest succeeded deployment of tt ran api (TOKEN=tok-1) and db. */
static void setup(void)
{
    struct buf p = {0};
    struct tt_err err = {0};
    struct store_deployment d = {.project = "tt", .version = "v1", .actor = "ci"};
    char digest[STORE_HMAC_TEXT_LEN + 1];
    long long id;
    dir = tu_tmpdir();
    buf_printf(&p, "%s/state.db", dir);
    cr_assert_eq(store_open(p.data, &st, &err), 0, "%s", err.msg);
    buf_release(&p);
    cr_assert_eq(store_deployment_begin(st, &d, &id, &err), 0, "%s", err.msg);
    cr_assert_eq(store_hmac(st, "tok-1", digest, &err), 0, "%s", err.msg);
    buf_printf(&p, "{\"TOKEN\":\"%s\"}", digest);
    struct store_release api = {"api", "busybox", "sha256:aaa", NULL, "h-api",
                                NULL,  p.data,    NULL,         0};
    struct store_release db = {"db", "busybox", "sha256:aaa", NULL, "h-db", NULL, "{}", NULL, 0};
    cr_assert_eq(store_release_record(st, id, &api, &err), 0, "%s", err.msg);
    cr_assert_eq(store_release_record(st, id, &db, &err), 0, "%s", err.msg);
    cr_assert_eq(store_deployment_finish(st, id, DEPLOY_SUCCEEDED, NULL, &err), 0, "%s", err.msg);
    buf_release(&p);
}

static void teardown(void)
{
    store_close(st);
    cr_assert_eq(tu_rmtree(dir), 0);
    free(dir);
}

/* drift_compare() of tt against routes; the descriptions by service into *out. */
static int compare(const struct fake_route *routes, json_t **out, struct tt_err *err)
{
    struct fake_http server;
    struct engine *e = NULL;
    json_t *list = NULL, *d;
    size_t i;
    fake_dockerd_start(&server, routes, &e);
    int rc = drift_compare(e, st, "tt", NULL, &list, err);
    fake_dockerd_stop(&server, &e);
    *out = json_object();
    json_array_foreach(list, i, d)
        json_object_set(*out, json_string_value(json_object_get(d, "service")), d);
    json_decref(list);
    return rc;
}

static const char *state_of(json_t *by, const char *service)
{
    return json_string_value(json_object_get(json_object_get(by, service), "state"));
}

/* The "what" of the service's difference i, or "". */
static const char *what_of(json_t *by, const char *service, size_t i)
{
    json_t *d = json_array_get(json_object_get(json_object_get(by, service), "differences"), i);
    const char *w = json_string_value(json_object_get(d, "what"));
    return w ? w : "";
}

TestSuite(drift, .init = setup, .fini = teardown);

Test(drift, what_runs_as_recorded_is_the_same)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/containers/json?all=1", 200,
         "[" CONTAINER("c1", "api", "running", "sha256:aaa",
                       "h-api") "," CONTAINER("c2", "db", "running", "sha256:aaa", "h-db") "]"},
        {"GET /v1.41/containers/c1/json ", 200, INSPECT("\"TOKEN=tok-1\"")},
        {"GET /v1.41/containers/c2/json ", 200, INSPECT("")},
        {NULL, 0, NULL},
    };
    struct tt_err err = {0};
    json_t *by = NULL;
    cr_assert_eq(compare(routes, &by, &err), 0, "%s", err.msg);
    cr_assert_eq(json_object_size(by), 2);
    cr_assert_str_eq(state_of(by, "api"), "same");
    cr_assert_str_eq(state_of(by, "db"), "same");
    json_decref(by);
}

Test(drift, environment_stopped_and_extra_are_told_apart)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/containers/json?all=1", 200,
         "[" CONTAINER("c1", "api", "running", "sha256:aaa", "h-api") "," CONTAINER(
             "c2", "db", "exited", "sha256:aaa", "h-db") "," CONTAINER("c3", "debug", "running",
                                                                       "sha256:bbb", "x") "]"},
        {"GET /v1.41/containers/c1/json ", 200, INSPECT("\"TOKEN=tok-2-by-hand\"")},
        {"GET /v1.41/containers/c2/json ", 200, INSPECT("")},
        {NULL, 0, NULL},
    };
    struct tt_err err = {0};
    json_t *by = NULL;
    cr_assert_eq(compare(routes, &by, &err), 0, "%s", err.msg);
    cr_assert_str_eq(state_of(by, "api"), "changed");
    cr_assert_str_eq(what_of(by, "api", 0), "environment");
    json_t *live = json_object_get(
        json_array_get(json_object_get(json_object_get(by, "api"), "differences"), 0), "live");
    char *text = json_dumps(by, JSON_COMPACT);
    cr_assert(strstr(text, "{\"variables\":[\"TOKEN\"]}"), "%s", text);
    cr_assert_null(strstr(text, "tok-2-by-hand"), "a value is never read out: %s", text);
    cr_assert(json_is_object(live));
    free(text);
    cr_assert_str_eq(state_of(by, "db"), "stopped");
    cr_assert_str_eq(what_of(by, "db", 0), "running");
    cr_assert_str_eq(state_of(by, "debug"), "extra");
    json_decref(by);
}

Test(drift, another_image_and_a_missing_service)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/containers/json?all=1", 200,
         "[" CONTAINER("c1", "api", "running", "sha256:ccc", "h-other") "]"},
        {"GET /v1.41/containers/c1/json ", 200, INSPECT("\"TOKEN=tok-1\"")},
        {NULL, 0, NULL},
    };
    struct tt_err err = {0};
    json_t *by = NULL;
    cr_assert_eq(compare(routes, &by, &err), 0, "%s", err.msg);
    cr_assert_str_eq(state_of(by, "api"), "changed");
    cr_assert_str_eq(what_of(by, "api", 0), "image");
    cr_assert_str_eq(what_of(by, "api", 1), "config");
    cr_assert_str_eq(state_of(by, "db"), "missing");
    cr_assert_str_eq(what_of(by, "db", 0), "container");
    json_decref(by);
}

Test(drift, an_engine_that_cannot_list_is_minus_two)
{
    const struct fake_route routes[] = {
        VERSION,
        {"GET /v1.41/containers/json", 500, "{\"message\":\"boom\"}"},
        {NULL, 0, NULL},
    };
    struct tt_err err = {0};
    json_t *by = NULL;
    cr_assert_eq(compare(routes, &by, &err), -2);
    cr_assert(err.msg[0]);
    cr_assert_str_eq(state_of(by, "api"), "missing", "described as if nothing ran");
    json_decref(by);
}
