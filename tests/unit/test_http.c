/*
 * test_http.c - verify's HTTP requests from the host, against a fake
 * server: an answer of any status is an answer, a server that never
 * answers costs the timeout and no more, a refused connection says so.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fake_http.h"
#include "http.h"
#include "monotime.h"

static const struct fake_route routes[] = {
    {"GET /ok ", 200, "all good"},
    {"GET /down ", 503, "maintenance"},
    {"GET /hang ", 0, NULL},
    {NULL, 0, NULL},
};

static struct fake_http server;

static void stop(void)
{
    fake_http_stop(&server);
}

TestSuite(http, .fini = stop);

/* GETs path on the fake server within timeout_ms; returns http_get's. */
static int get(const char *path, long timeout_ms, long *status, struct buf *body,
               struct tt_err *err)
{
    struct buf url = {0};
    buf_printf(&url, "%s%s", server.url, path);
    int rc = http_get(url.data, timeout_ms, status, body, err);
    buf_release(&url);
    return rc;
}

/* Asserts that GET path is answered with status and body. */
static void answered(const char *path, long status, const char *body)
{
    struct buf got = {0};
    struct tt_err err = {0};
    long st = -1;
    cr_assert_eq(get(path, 5000, &st, &got, &err), 0, "%s: %s", path, err.msg);
    cr_assert_eq(st, status, "%s: HTTP %ld", path, st);
    cr_assert_str_eq(got.data ? got.data : "", body);
    buf_release(&got);
}

Test(http, answer)
{
    fake_http_start_tcp(&server, routes);
    answered("/ok", 200, "all good");
}

Test(http, error_status_is_an_answer)
{
    fake_http_start_tcp(&server, routes);
    answered("/down", 503, "maintenance");
    answered("/nothing", 404, "{\"message\":\"no route\"}");
}

Test(http, hung_server_costs_the_timeout)
{
    struct buf body = {0};
    struct tt_err err = {0};
    long status = -1;
    fake_http_start_tcp(&server, routes);
    double t0 = monotime_now();
    cr_assert_eq(get("/hang", 300, &status, &body, &err), -1);
    double took = monotime_now() - t0;
    cr_assert(took >= 0.25 && took < 3, "took %.2f s for a 0.3 s timeout", took);
    cr_assert_eq(status, 0);
    cr_assert(strstr(err.msg, "imed out") != NULL, "%s", err.msg);
    buf_release(&body);
}

Test(http, refused)
{
    struct buf body = {0};
    struct tt_err err = {0};
    long status = -1;
    fake_http_start_tcp(&server, routes);
    char *url = xstrdup(server.url);
    fake_http_stop(&server); /* nothing listens on that port any more */
    cr_assert_eq(http_get(url, 5000, &status, &body, &err), -1);
    cr_assert_eq(status, 0);
    cr_assert(strstr(err.msg, "onnect") != NULL, "%s", err.msg);
    free(url);
    buf_release(&body);
}

Test(http, a_100_mb_body_keeps_its_first_mib_and_says_so)
{
    static const struct fake_route big[] = {{"GET /big ", FAKE_FILL, "7b7d|104857600"},
                                            {NULL, 0, NULL}};
    struct buf body = {0};
    struct tt_err err = {0};
    long status = -1;
    const char *note = "body cut: kept the first 1048576 of 104857602 bytes\n";
    fake_http_start_tcp(&server, big);
    long before = fake_http_peak_rss_mb();
    cr_assert_eq(get("/big", 10000, &status, &body, &err), 0, "%s", err.msg);
    cr_assert_eq(status, 200);
    cr_assert_eq(body.len, strlen(note) + HTTP_BODY_MAX, "kept %zu bytes", body.len);
    cr_assert(!strncmp(body.data, note, strlen(note)), "%.80s", body.data);
    cr_assert(!strncmp(body.data + strlen(note), "{}xxx", 5), "%.80s", body.data);
    long grew = fake_http_peak_rss_mb() - before;
    cr_assert(grew < 16, "a 100 MiB body raised the peak memory by %ld MiB", grew);
    buf_release(&body);
}
