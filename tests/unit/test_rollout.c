/*
 * test_rollout.c - the plan's rollout: section: blue-green settings load
 * with their defaults, and every rollout the slots or the proxy could not
 * honour is refused naming plan.yml:line and what to change.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
}

static void teardown(void)
{
    cr_assert_eq(tu_rmtree(dir), 0);
    free(dir);
}

TestSuite(rollout, .init = setup, .fini = teardown);

#define PLAN_HEAD "version: 1\nrelease: {version: v1}\ntiers: {infra: [db], app: [api, nginx]}\n"
#define BLUE_GREEN                                                                                 \
    "rollout:\n"                                                                                   \
    "  api:\n"                                                                                     \
    "    strategy: blue-green\n"                                                                   \
    "    proxy: nginx\n"                                                                           \
    "    upstream: {file: nginx/upstream.conf, name: api_backend, port: 8000}\n"                   \
    "    reload: [nginx, -s, reload]\n"

/* Loads compose text and plan text from dir; returns plan_check_project's result, err filled. */
static int check(const char *compose_text, const char *plan_text, struct plan **out,
                 struct tt_err *err)
{
    char *compose = tu_write(dir, "compose.yml", compose_text);
    char *path = tu_write(dir, "plan.yml", plan_text);
    struct compose_options co = {0};
    struct compose_project *proj = NULL;
    struct dag *d = NULL;
    struct plan *p = NULL;
    int rc;

    strv_push(&co.files, compose);
    cr_assert_eq(compose_load(&co, &proj, err), 0, "%s", err->msg);
    cr_assert_eq(dag_build(proj, &d, err), 0);
    rc = plan_load(path, NULL, &p, err);
    if (rc == 0)
        rc = plan_check_project(p, proj, d, err);
    if (out)
        *out = p;
    else
        plan_free(p);
    dag_free(d);
    compose_project_free(proj);
    strv_clear(&co.files);
    free(compose);
    free(path);
    return rc;
}

#define COMPOSE_OK                                                                                 \
    "name: shop\nservices:\n  db: {image: pg}\n  api: {image: a, depends_on: [db]}\n"              \
    "  nginx:\n    image: n\n    ports: ['127.0.0.1:8080:80']\n"                                   \
    "    volumes: ['./nginx:/etc/nginx/upstream']\n"

Test(rollout, blue_green_loads_with_defaults)
{
    struct plan *p = NULL;
    struct tt_err err = {0};
    cr_assert_eq(check(COMPOSE_OK, PLAN_HEAD BLUE_GREEN, &p, &err), 0, "%s", err.msg);
    const struct plan_rollout *r = plan_blue_green(p, "api");
    cr_assert_not_null(r);
    cr_assert_null(plan_blue_green(p, "nginx"));
    cr_assert_str_eq(r->proxy, "nginx");
    cr_assert_str_eq(r->upstream_name, "api_backend");
    cr_assert_eq(r->upstream_port, 8000);
    cr_assert(r->upstream_file[0] == '/' && strstr(r->upstream_file, "/nginx/upstream.conf"));
    cr_assert_eq(r->reload.n, 3);
    cr_assert_eq(r->drain_ns, 5000000000LL);
    cr_assert_eq(r->keep_ns, 600000000000LL);
    plan_free(p);
}

Test(rollout, recreate_needs_nothing_else)
{
    struct tt_err err = {0};
    cr_assert_eq(check(COMPOSE_OK, PLAN_HEAD "rollout: {api: {strategy: recreate}}\n", NULL, &err),
                 0, "%s", err.msg);
}

static void want_error(const char *compose, const char *plan, const char *what)
{
    struct tt_err err = {0};
    cr_assert_eq(check(compose, plan, NULL, &err), -1, "no error, wanted: %s", what);
    cr_assert(strstr(err.msg, what) != NULL, "got: %s\nwanted: %s", err.msg, what);
    cr_assert(strstr(err.msg, "plan.yml:") != NULL, "no file:line in: %s", err.msg);
}

Test(rollout, refused)
{
    want_error(COMPOSE_OK, PLAN_HEAD "rollout: {api: {strategy: rolling}}\n", "rollout strategy");
    want_error(COMPOSE_OK, PLAN_HEAD "rollout: {api: {strategy: blue-green}}\n",
               "blue-green needs proxy:");
    want_error(COMPOSE_OK, PLAN_HEAD "rollout: {apii: {strategy: recreate}}\n",
               "rollout names service \"apii\"");
    want_error(COMPOSE_OK,
               PLAN_HEAD "rollout:\n  api:\n    strategy: blue-green\n    proxy: api\n"
                         "    upstream: {file: u.conf, name: b, port: 80}\n    reload: [x]\n",
               "the proxy must be another service");
    want_error(COMPOSE_OK,
               PLAN_HEAD "rollout:\n  api:\n    strategy: blue-green\n    proxy: nginx\n"
                         "    upstream: {file: u.conf, name: b, port: 99999}\n    reload: [x]\n",
               "is not a port");
    want_error(COMPOSE_OK, PLAN_HEAD BLUE_GREEN "    drain: soon\n", "invalid duration");
    /* the service cannot run twice */
    want_error("name: shop\nservices:\n  db: {image: pg}\n"
               "  api: {image: a, ports: ['8000:8000']}\n"
               "  nginx: {image: n, volumes: ['./nginx:/etc/nginx/upstream']}\n",
               PLAN_HEAD BLUE_GREEN, "publishes host port 8000");
    want_error("name: shop\nservices:\n  db: {image: pg}\n  api: {image: a, container_name: x}\n"
               "  nginx: {image: n, volumes: ['./nginx:/etc/nginx/upstream']}\n",
               PLAN_HEAD BLUE_GREEN, "container_name \"x\"");
    /* the proxy must see the file through its folder */
    want_error("name: shop\nservices:\n  db: {image: pg}\n  api: {image: a}\n"
               "  nginx: {image: n, volumes: ['./nginx/upstream.conf:/etc/nginx/upstream.conf']}\n",
               PLAN_HEAD BLUE_GREEN, "mounts the upstream file");
    want_error("name: shop\nservices:\n  db: {image: pg}\n  api: {image: a}\n  nginx: {image: n}\n",
               PLAN_HEAD BLUE_GREEN, "mounts no folder holding the upstream file");
    /* infra is not behind a proxy */
    want_error(
        COMPOSE_OK,
        "version: 1\nrelease: {version: v1}\ntiers: {infra: [db, api], app: [nginx]}\n" BLUE_GREEN,
        "blue-green is for the app tier");
}
