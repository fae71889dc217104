/*
 * test_image_prune.c - the engine's side of image retention against a
 * fake Docker daemon: which images containers use, what labels say, and
 * each way a removal ends (gone with its last tag, untagged and kept for
 * another's tag, refused with the daemon's reason, kept by a child image
 * after its tag went, an error), and that nothing is ever forced nor a
 * tag the project did not record ever deleted.  The real daemon's side is
 * tests/e2e/test_retention.py.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fake_dockerd.h"
#include "image_prune.h"

#define V "/v1.43"

static const struct fake_route dockerd[] = {
    {"GET /version ", 200, "{\"ApiVersion\":\"1.43\"}"},
    {"GET " V "/images/json ", 200,
     "[{\"Id\":\"sha256:a1\",\"RepoTags\":[\"shop/api:v1\"],\"Size\":2000000},"
     "{\"Id\":\"sha256:a2\",\"RepoTags\":[\"shop/api:v2\",\"other/x:1\"],\"Size\":1,"
     "\"Labels\":{\"com.docker.compose.project\":\"other\"}},"
     "{\"Id\":\"sha256:a3\",\"RepoTags\":[\"shop/api:v3\"]},"
     "{\"Id\":\"sha256:a4\",\"RepoTags\":[\"<none>:<none>\"]},"
     "{\"Id\":\"sha256:a5\",\"RepoTags\":[\"shop/api:v5\"]},"
     "{\"Id\":\"sha256:a6\",\"RepoTags\":[\"shop/api:v6\"]},"
     "{\"Id\":\"sha256:a7\",\"RepoTags\":[\"shop/api:v7\"]}]"},
    {"GET " V "/containers/json?all=1 ", 200,
     "[{\"Id\":\"c1\",\"Names\":[\"/other_old_1\"],\"ImageID\":\"sha256:a3\"}]"},
    {"DELETE " V "/images/shop%2Fapi%3Av1 ", 200,
     "[{\"Untagged\":\"shop/api:v1\"},{\"Deleted\":\"sha256:a1\"}]"},
    {"DELETE " V "/images/shop%2Fapi%3Av2 ", 200, "[{\"Untagged\":\"shop/api:v2\"}]"},
    {"DELETE " V "/images/shop%2Fapi%3Av3 ", 409,
     "{\"message\":\"conflict: unable to remove repository reference \\\"shop/api:v3\\\" "
     "(must force) - container c1 is using its referenced image a3\"}"},
    {"DELETE " V "/images/sha256%3Aa4 ", 409,
     "{\"message\":\"conflict: unable to delete a4 (cannot be forced) - image has dependent "
     "child images\"}"},
    {"DELETE " V "/images/shop%2Fapi%3Av5 ", 200, "[{\"Untagged\":\"shop/api:v5\"}]"},
    {"DELETE " V "/images/sha256%3Aa5 ", 409,
     "{\"message\":\"conflict: unable to delete a5 (cannot be forced) - image has dependent "
     "child images\"}"},
    {"DELETE " V "/images/shop%2Fapi%3Av6 ", 500, "{\"message\":\"driver failed\"}"},
    {"DELETE " V "/images/shop%2Fapi%3Av7 ", 404, "{\"message\":\"No such image\"}"},
    {"DELETE " V "/images/sha256%3Aa7 ", 200, "[{\"Deleted\":\"sha256:a7\"}]"},
    {NULL, 0, NULL},
};

static struct fake_http server;
static struct engine *engine;
static struct image_prune_scan scan;

static void start(void)
{
    struct tt_err err = {0};
    fake_dockerd_start(&server, dockerd, &engine);
    cr_assert_eq(image_prune_scan(engine, &scan, &err), 0, "%s", err.msg);
}

static void stop(void)
{
    image_prune_scan_clear(&scan);
    fake_dockerd_stop(&server, &engine);
}

TestSuite(image_prune, .init = start, .fini = stop);

/* The DELETE request lines the fake daemon received, one a line. */
static void deletes(char *out, size_t size)
{
    char path[4096], line[4096];
    snprintf(path, sizeof(path), "%s/requests", server.dir);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "DELETE ", 7) && strlen(out) + strlen(line) < size)
            strcat(out, line);
    if (f)
        fclose(f);
}

/* Removes id with ours (NULL-ended) as the project's tags. */
static int remove_with(const char *id, const char *const *ours, struct image_prune_result *r,
                       struct tt_err *err)
{
    struct strv tags = {0};
    for (size_t i = 0; ours[i]; i++)
        strv_push(&tags, ours[i]);
    int rc = image_prune_remove(engine, &scan, id, &tags, r, err);
    strv_clear(&tags);
    return rc;
}

Test(image_prune, scan_says_who_uses_what_and_labels)
{
    struct image_prune_info info;
    image_prune_info(&scan, "sha256:a3", &info);
    cr_assert(info.found);
    cr_assert_str_eq(info.used_by, "other_old_1");
    image_prune_info(&scan, "sha256:a2", &info);
    cr_assert_null(info.used_by);
    cr_assert_str_eq(info.project, "other");
    image_prune_info(&scan, "sha256:a1", &info);
    cr_assert_eq(info.size, 2000000);
    cr_assert_null(info.project);
    image_prune_info(&scan, "sha256:gone", &info);
    cr_assert_not(info.found);
}

Test(image_prune, last_tag_takes_the_image)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    char log[4096];
    cr_assert_eq(remove_with("sha256:a1", (const char *[]){"shop/api:v1", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_REMOVED);
    cr_assert_eq(r.untagged.n, 1);
    cr_assert_str_eq(r.untagged.v[0], "shop/api:v1");
    image_prune_result_clear(&r);
    deletes(log, sizeof(log));
    cr_assert_str_eq(log, "DELETE " V "/images/shop%2Fapi%3Av1 HTTP/1.1\n", "%s", log);
}

Test(image_prune, another_tag_keeps_it_and_is_never_deleted)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    char log[4096];
    cr_assert_eq(remove_with("sha256:a2", (const char *[]){"shop/api:v2", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_UNTAGGED);
    cr_assert_eq(r.other_tags.n, 1);
    cr_assert_str_eq(r.other_tags.v[0], "other/x:1");
    image_prune_result_clear(&r);
    deletes(log, sizeof(log));
    cr_assert_str_eq(log, "DELETE " V "/images/shop%2Fapi%3Av2 HTTP/1.1\n", "%s", log);
    struct strv ours = {0}, others = {0};
    strv_push(&ours, "shop/api:v2");
    cr_assert_eq(image_prune_other_tags(&scan, "sha256:a2", &ours, &others), 1);
    cr_assert_eq(others.n, 1);
    strv_clear(&ours);
    strv_clear(&others);
}

Test(image_prune, refusal_keeps_it_with_the_daemons_reason)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    cr_assert_eq(remove_with("sha256:a3", (const char *[]){"shop/api:v3", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_KEPT);
    cr_assert(strstr(r.why, "container c1 is using its referenced image"), "%s", r.why);
    cr_assert_eq(r.untagged.n, 0);
    image_prune_result_clear(&r);
}

Test(image_prune, untagged_image_deleted_by_id_never_forced)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    char log[4096];
    cr_assert_eq(remove_with("sha256:a4", (const char *[]){"shop/api:v4", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_KEPT);
    cr_assert(strstr(r.why, "dependent child images"), "%s", r.why);
    deletes(log, sizeof(log));
    cr_assert_str_eq(log, "DELETE " V "/images/sha256%3Aa4 HTTP/1.1\n", "%s", log);
    cr_assert_null(strstr(log, "force"));
    image_prune_result_clear(&r);
}

Test(image_prune, child_image_keeps_it_after_its_tag_went)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    cr_assert_eq(remove_with("sha256:a5", (const char *[]){"shop/api:v5", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_KEPT);
    cr_assert_eq(r.untagged.n, 1);
    cr_assert(strstr(r.why, "dependent child images"), "%s", r.why);
    image_prune_result_clear(&r);
}

Test(image_prune, daemon_error_is_an_error)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    cr_assert_eq(remove_with("sha256:a6", (const char *[]){"shop/api:v6", NULL}, &r, &err), -1);
    cr_assert(strstr(err.msg, "HTTP 500") && strstr(err.msg, "driver failed"), "%s", err.msg);
    image_prune_result_clear(&r);
}

Test(image_prune, tag_gone_since_the_scan_then_the_id)
{
    struct image_prune_result r;
    struct tt_err err = {0};
    char log[4096];
    cr_assert_eq(remove_with("sha256:a7", (const char *[]){"shop/api:v7", NULL}, &r, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(r.outcome, IMAGE_PRUNE_REMOVED);
    cr_assert_eq(r.untagged.n, 0, "a tag found gone was not untagged by us");
    deletes(log, sizeof(log));
    cr_assert_str_eq(log,
                     "DELETE " V "/images/shop%2Fapi%3Av7 HTTP/1.1\nDELETE " V
                     "/images/sha256%3Aa7 HTTP/1.1\n",
                     "%s", log);
    image_prune_result_clear(&r);
}
