/*
 * test_http_post.c - notify's POST and what may be shown of a webhook's
 * URL: any status is an answer, a hung server costs the timeout, a stop
 * signal cuts the wait short, and the origin keeps no user, path or query.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include "fake_http.h"
#include "http.h"
#include "interrupt.h"
#include "monotime.h"

static const struct fake_route routes[] = {
    {"POST /hook ", 204, NULL},
    {"POST /down ", 500, "broken"},
    {"POST /hang ", 0, NULL},
    {NULL, 0, NULL},
};

static struct fake_http server;

static void stop(void)
{
    fake_http_stop(&server);
    interrupt_reset();
}

TestSuite(http_post, .fini = stop);

static int post(const char *path, long timeout_ms, long *status, struct tt_err *err)
{
    struct buf url = {0};
    struct strv headers = {0};
    strv_push(&headers, "Authorization: Bearer t");
    buf_printf(&url, "%s%s", server.url, path);
    int rc = http_post(url.data, &headers, "{\"a\":1}", timeout_ms, status, err);
    buf_release(&url);
    strv_clear(&headers);
    return rc;
}

Test(http_post, any_status_is_an_answer)
{
    struct tt_err err = {0};
    long st = -1;
    fake_http_start_tcp(&server, routes);
    cr_assert_eq(post("/hook", 5000, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st, 204);
    cr_assert_eq(post("/down", 5000, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st, 500);
}

Test(http_post, hung_server_costs_the_timeout)
{
    struct tt_err err = {0};
    long st = -1;
    fake_http_start_tcp(&server, routes);
    double t0 = monotime_now();
    cr_assert_eq(post("/hang", 300, &st, &err), -1);
    double took = monotime_now() - t0;
    cr_assert(took >= 0.25 && took < 3, "took %.2f s for a 0.3 s timeout", took);
    cr_assert_eq(st, 0);
}

Test(http_post, a_stop_signal_cuts_it_short)
{
    struct tt_err err = {0};
    long st = -1;
    fake_http_start_tcp(&server, routes);
    interrupt_note(SIGINT);
    double t0 = monotime_now();
    cr_assert_eq(post("/hang", 5000, &st, &err), -1);
    cr_assert(monotime_now() - t0 < 2.5, "the 5 s timeout was not waited");
    cr_assert(strstr(err.msg, "stop signal") != NULL, "%s", err.msg);
}

Test(http_post, origin_shows_no_secret)
{
    char *o = http_url_origin("https://user:pw@hooks.example.com/services/T1/B2/XYZ?token=abc");
    cr_assert_str_eq(o, "https://hooks.example.com");
    free(o);
    o = http_url_origin("http://127.0.0.1:8080/x");
    cr_assert_str_eq(o, "http://127.0.0.1:8080");
    free(o);
    o = http_url_origin("http://[::1]:9/x");
    cr_assert_str_eq(o, "http://[::1]:9");
    free(o);
    cr_assert_null(http_url_origin("http://exa mple.com/"));
}
