/*
 * test_stack.c - the stack queries that change nothing, against a fake
 * Docker daemon: which Engine API paths they ask and what they make of
 * the answers (a project's containers, a container's health word, the
 * image a recorded release runs again).  Bringing stacks up and down
 * against a real daemon is tests/e2e/test_stack.py.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_dockerd.h"
#include "stack.h"
#include "stack_private.h"

#define PROJECT_SHOP "%7B%22label%22%3A%5B%22com.docker.compose.project%3Dshop%22%5D%7D"
#define PROJECT_EVIL "%7B%22label%22%3A%5B%22com.docker.compose.project%3Devil%22%5D%7D"
/* A name that, sent as written, would be the path of another endpoint. */
#define HOSTILE "../../containers/x/kill?signal=9#"
#define HOSTILE_ENCODED "..%2F..%2Fcontainers%2Fx%2Fkill%3Fsignal%3D9%23"

static const struct fake_route dockerd[] = {
    {"GET /version ", 200, "{\"ApiVersion\":\"1.43\"}"},
    {"GET /v1.43/containers/json?all=1&filters=" PROJECT_SHOP " ", 200,
     "[{\"Id\":\"c1\",\"State\":\"exited\"},{\"Id\":\"c2\",\"State\":\"running\"}]"},
    {"GET /v1.43/containers/healthy/json ", 200,
     "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"healthy\"}}}"},
    {"GET /v1.43/containers/starting/json ", 200,
     "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"starting\"}}}"},
    {"GET /v1.43/containers/plain/json ", 200, "{\"State\":{\"Status\":\"running\"}}"},
    {"GET /v1.43/containers/exited/json ", 200,
     "{\"State\":{\"Status\":\"exited\",\"Health\":{\"Status\":\"unhealthy\"}}}"},
    {"GET /v1.43/containers/created/json ", 200, "{\"State\":{\"Status\":\"created\"}}"},
    {"GET /v1.43/images/shop%2Fapi%3A1/json ", 200, "{\"Id\":\"sha256:aaa\"}"},
    {"GET /v1.43/images/" HOSTILE_ENCODED "/json ", 200, "{\"Id\":\"sha256:ccc\"}"},
    {"GET /v1.43/images/reg%3A5000%2Fshop%2Fapi%3A1%40sha256%3Aabc/json ", 200,
     "{\"Id\":\"sha256:ddd\"}"},
    /* a project whose networks and volumes carry hostile names (as external ones may) */
    {"GET /v1.43/containers/json?all=1&filters=" PROJECT_EVIL " ", 200, "[]"},
    {"GET /v1.43/networks?filters=" PROJECT_EVIL " ", 200,
     "[{\"Id\":\"" HOSTILE "\",\"Name\":\"evil_default\"}]"},
    {"GET /v1.43/volumes?filters=" PROJECT_EVIL " ", 200,
     "{\"Volumes\":[{\"Name\":\"..\"},{\"Name\":\"a/b%2Fc\"}]}"},
    {"DELETE /v1.43/networks/" HOSTILE_ENCODED " ", 204, NULL},
    {"DELETE /v1.43/volumes/%2E%2E ", 204, NULL},
    {"DELETE /v1.43/volumes/a%2Fb%252Fc ", 204, NULL},
    /* 100 MiB of a one-off container's log, one stdout frame */
    {"GET /v1.43/containers/chatty/logs?", FAKE_STREAM_FILL, "01000000 06400000|104857600"},
    {NULL, 0, NULL},
};

static struct fake_http server;
static struct engine *engine;

static void start(void)
{
    fake_dockerd_start(&server, dockerd, &engine);
}

static void stop(void)
{
    fake_dockerd_stop(&server, &engine);
}

TestSuite(stack, .init = start, .fini = stop);

Test(stack, project_containers_stopped_ones_too)
{
    json_t *list = NULL;
    struct tt_err err = {0};
    cr_assert_eq(stack_project_containers(engine, "shop", &list, &err), 0, "%s", err.msg);
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "Id")), "c1");
    json_decref(list);
}

Test(stack, project_containers_error)
{
    json_t *list = NULL;
    struct tt_err err = {0};
    cr_assert_eq(stack_project_containers(engine, "other", &list, &err), -1);
    cr_assert_null(list);
    cr_assert(!strncmp(err.msg, "GET /containers/json?all=1&filters=", 35), "%s", err.msg);
    cr_assert(strstr(err.msg, ": no route") != NULL, "the daemon's message: %s", err.msg);
}

/* Asserts the health word of container id. */
static void health_is(const char *id, const char *want)
{
    char *got = stack_container_health(engine, id);
    cr_assert_str_eq(got, want, "container %s: %s, expected %s", id ? id : "(none)", got, want);
    free(got);
}

Test(stack, container_health)
{
    health_is("healthy", "healthy");
    health_is("starting", "starting");
    health_is("plain", "running");
    health_is("exited", "exited"); /* its last health no longer counts */
    health_is("created", "missing");
    health_is("gone", "missing");
    health_is(NULL, "missing");
}

/* Asserts the image a release of ref recorded with image_id runs again. */
static void recorded_is(const char *ref, const char *image_id, const char *want)
{
    char *got = stack_recorded_image(engine, ref, image_id);
    cr_assert_str_eq(got, want, "%s (%s): %s, expected %s", ref, image_id ? image_id : "no id", got,
                     want);
    free(got);
}

Test(stack, recorded_image)
{
    recorded_is("shop/api:1", "sha256:aaa", "shop/api:1");
    recorded_is("shop/api:1", "sha256:old", "sha256:old"); /* the tag has moved */
    recorded_is("shop/api:1", NULL, "shop/api:1");
    recorded_is("shop/api:1", "", "shop/api:1");
    recorded_is("gone:1", "sha256:bbb", "sha256:bbb"); /* the tag is gone */
}

Test(stack, image_references_are_one_path_segment)
{
    recorded_is(HOSTILE, "sha256:ccc", HOSTILE);
    recorded_is("reg:5000/shop/api:1@sha256:abc", "sha256:ddd", "reg:5000/shop/api:1@sha256:abc");
}

Test(stack, hostile_network_and_volume_names_reach_only_their_endpoint)
{
    struct compose_project p = {.name = "evil"};
    FILE *out = fopen("/dev/null", "w");
    struct stack_options o = {.volumes = 1, .progress = PROGRESS_PLAIN, .out = out};
    struct tt_err err = {0};
    struct buf sent = {0};

    cr_assert_eq(stack_down(engine, &p, NULL, &o, &err), 0, "%s", err.msg);
    fclose(out);
    fake_http_requests(&server, &sent);
    cr_assert(strstr(sent.data, "DELETE /v1.43/networks/" HOSTILE_ENCODED " HTTP/1.1\n") != NULL,
              "%s", sent.data);
    cr_assert(strstr(sent.data, "DELETE /v1.43/volumes/%2E%2E HTTP/1.1\n") != NULL, "%s",
              sent.data);
    cr_assert(strstr(sent.data, "DELETE /v1.43/volumes/a%2Fb%252Fc HTTP/1.1\n") != NULL, "%s",
              sent.data);
    cr_assert_null(strstr(sent.data, "/kill"), "reached another endpoint: %s", sent.data);
    buf_release(&sent);
}

Test(stack, a_100_mb_log_keeps_its_last_64_kib_and_says_so)
{
    struct buf out = {0};
    long before = fake_http_peak_rss_mb();
    stack_append_logs(engine, "chatty", &out);
    cr_assert(strstr(out.data, "output cut: kept the last 65536 of 104857600 bytes") != NULL,
              "%.200s", out.data ? out.data : "");
    cr_assert(out.len < 2 * ENGINE_OUTPUT_KEEP, "kept %zu bytes", out.len);
    long grew = fake_http_peak_rss_mb() - before;
    cr_assert(grew < 16, "a 100 MiB log raised the peak memory by %ld MiB", grew);
    buf_release(&out);
}
