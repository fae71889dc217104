/*
 * test_engine.c - the parts of the Engine client that need no daemon: the
 * errors for a socket that is missing or refuses, the API version agreed
 * with a (fake) daemon, stream demultiplexing and query encoding.  The
 * client against a real daemon is covered by tests/e2e/test_stack.py.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine.h"
#include "fake_http.h"
#include "interrupt.h"
#include "monotime.h"

Test(engine, missing_socket)
{
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(engine_open("unix:///nonexistent/docker.sock", &e, &err), -1);
    cr_assert_null(e);
    cr_assert_str_eq(err.msg, "cannot reach the Docker engine at unix:///nonexistent/docker.sock: "
                              "/nonexistent/docker.sock does not exist: is dockerd running? Set "
                              "DOCKER_HOST or --host to its socket");
}

Test(engine, socket_without_daemon)
{
    char *dir = tu_tmpdir();
    struct buf path = {0}, host = {0};
    buf_printf(&path, "%s/dead.sock", dir);
    buf_printf(&host, "unix://%s", path.data);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path.data);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* bound, never listening: what a stopped daemon leaves */
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(engine_open(host.data, &e, &err), -1);
    cr_assert(strstr(err.msg, "Connection refused: is dockerd running?") != NULL, "%s", err.msg);
    unlink(path.data);
    rmdir(dir);
    free(dir);
    buf_release(&path);
    buf_release(&host);
}

Test(engine, tcp_host_refused)
{
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(engine_open("tcp://127.0.0.1:2375", &e, &err), -1);
    cr_assert(strstr(err.msg, "is not supported: use a unix socket") != NULL, "%s", err.msg);
}

/* Opens an engine on a fake daemon whose /version answers version_json; returns engine_open's. */
static int open_fake(const char *version_json, struct engine **e, struct tt_err *err)
{
    struct fake_route routes[] = {{"GET /version ", 200, version_json}, {NULL, 0, NULL}};
    struct fake_http fake = {0};
    fake_http_start_unix(&fake, routes);
    int rc = engine_open(fake.url, e, err);
    fake_http_stop(&fake);
    return rc;
}

Test(engine, api_too_old)
{
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(open_fake("{\"ApiVersion\":\"1.40\"}", &e, &err), -1);
    cr_assert_null(e);
    cr_assert(strstr(err.msg, "speaks API 1.40; ttdeploy needs 1.41 or newer") != NULL, "%s",
              err.msg);
}

Test(engine, newer_api_spoken_at_the_newest_known)
{
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(open_fake("{\"ApiVersion\":\"1.45\"}", &e, &err), 0, "%s", err.msg);
    cr_assert_str_eq(engine_api_version(e), "1.43");
    engine_close(e);
    cr_assert_eq(open_fake("{\"ApiVersion\":\"1.42\"}", &e, &err), 0, "%s", err.msg);
    cr_assert_str_eq(engine_api_version(e), "1.42");
    engine_close(e);
}

Test(engine, demux_frames)
{
    struct buf raw = {0}, out = {0};
    const unsigned char frames[] = {1, 0, 0, 0, 0, 0, 0, 3,   'o', 'u', 't', 2,
                                    0, 0, 0, 0, 0, 0, 4, 'e', 'r', 'r', '\n'};
    buf_add(&raw, frames, sizeof(frames));
    engine_demux(&raw, &out);
    cr_assert_str_eq(out.data, "outerr\n");
    buf_reset(&raw);
    buf_reset(&out);
    buf_adds(&raw, "plain tty output");
    engine_demux(&raw, &out);
    cr_assert_str_eq(out.data, "plain tty output");
    buf_release(&raw);
    buf_release(&out);
}

Test(engine, demux_truncated_frame)
{
    struct buf raw = {0}, out = {0};
    const unsigned char frames[] = {1, 0, 0, 0, 0, 0, 0, 9, 'a', 'b'};
    buf_add(&raw, frames, sizeof(frames));
    engine_demux(&raw, &out);
    cr_assert_str_eq(out.data, "ab");
    buf_release(&raw);
    buf_release(&out);
}

Test(engine, urlencode)
{
    struct buf b = {0};
    engine_urlencode("{\"label\":[\"a=b c\"]}", &b);
    cr_assert_str_eq(b.data, "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
    buf_release(&b);
}

/* ---- bounded waits (issue 13): a frozen daemon never holds ttdeploy ------- */

#define VERSION_ROUTE                                                                              \
    {                                                                                              \
        "GET /version ", 200, "{\"ApiVersion\":\"1.43\"}"                                          \
    }

/* A fake daemon that answers /version and never answers hung_route (a frozen dockerd). */
static struct engine *open_frozen(struct fake_http *fake, const char *hung_route,
                                  const char *stream_hex)
{
    static struct fake_route routes[3];
    struct fake_route version = VERSION_ROUTE;
    struct tt_err err = {0};
    struct engine *e = NULL;
    routes[0] = version;
    routes[1] = (struct fake_route){hung_route, stream_hex ? FAKE_STREAM_STALL : 0, stream_hex};
    routes[2] = (struct fake_route){NULL, 0, NULL};
    fake_http_start_unix(fake, routes);
    cr_assert_eq(engine_open(fake->url, &e, &err), 0, "%s", err.msg);
    return e;
}

static void set_bounds(long connect_ms, long request_ms, long stall_ms)
{
    struct engine_timeouts t = {connect_ms, request_ms, stall_ms};
    engine_set_default_timeouts(&t);
}

Test(engine, a_request_the_daemon_never_answers_ends_at_timeouts_request)
{
    struct fake_http fake = {0};
    set_bounds(1000, 1000, 1000);
    struct engine *e = open_frozen(&fake, "POST /v1.43/containers/web/start ", NULL);
    struct tt_err err = {0};
    double t0 = monotime_now();
    /* the caller's 120 s is longer than timeouts.request: the request's bound wins */
    cr_assert_eq(engine_call_ok(e, "POST", "/containers/web/start", NULL, 120000, NULL, &err), -1);
    double waited = monotime_now() - t0;
    cr_assert_lt(waited, 3.0, "waited %g s", waited);
    struct buf want = {0};
    buf_printf(&want,
               "the Docker daemon at %s did not answer POST /containers/web/start within 1 s "
               "(timeouts.request): is it frozen?",
               fake.url);
    cr_assert_str_eq(err.msg, want.data);
    buf_release(&want);
    engine_close(e);
    fake_http_stop(&fake);
    set_bounds(0, 0, 0);
}

Test(engine, the_daemons_own_waits_keep_the_callers_bound)
{
    struct fake_http fake = {0};
    set_bounds(1000, 1000, 1000);
    struct engine *e = open_frozen(&fake, "POST /v1.43/containers/web/stop ", NULL);
    struct tt_err err = {0};
    double t0 = monotime_now();
    cr_assert_eq(engine_call_ok(e, "POST", "/containers/web/stop", NULL, 2500, NULL, &err), -1);
    double waited = monotime_now() - t0;
    cr_assert_geq(waited, 2.4, "a stop waits for its grace period, not timeouts.request");
    cr_assert_lt(waited, 4.0, "waited %g s", waited);
    cr_assert(strstr(err.msg, "did not answer POST /containers/web/stop within 2.5 s: is it"), "%s",
              err.msg);
    engine_close(e);
    fake_http_stop(&fake);
    set_bounds(0, 0, 0);
}

Test(engine, a_pull_that_goes_quiet_ends_at_timeouts_stall)
{
    struct fake_http fake = {0};
    set_bounds(1000, 1000, 1000);
    struct engine *e =
        open_frozen(&fake, "POST /v1.43/images/create", "7b 22 73 74 61 74 75 73 22 3a 31 7d 0a");
    struct tt_err err = {0};
    double t0 = monotime_now();
    long st = engine_call(e, "POST", "/images/create?fromImage=x", NULL, 600000, NULL, NULL, &err);
    double waited = monotime_now() - t0;
    cr_assert_eq(st, -1);
    cr_assert_lt(waited, 3.5, "waited %g s", waited);
    cr_assert(strstr(err.msg, "sent nothing for 1 s (timeouts.stall) on POST /images/create"), "%s",
              err.msg);
    engine_close(e);
    fake_http_stop(&fake);
    set_bounds(0, 0, 0);
}

static void on_alarm(int sig)
{
    (void)sig;
    interrupt_note(SIGINT);
}

Test(engine, a_stop_signal_ends_the_transfer_in_flight)
{
    struct fake_http fake = {0};
    set_bounds(1000, 30000, 30000);
    struct engine *e = open_frozen(&fake, "GET /v1.43/containers/json", NULL);
    struct tt_err err = {0};
    signal(SIGALRM, on_alarm);
    alarm(1);
    double t0 = monotime_now();
    cr_assert_eq(engine_call_ok(e, "GET", "/containers/json", NULL, 0, NULL, &err), -1);
    double waited = monotime_now() - t0;
    cr_assert_lt(waited, 3.0, "waited %g s", waited);
    cr_assert(strstr(err.msg, "GET /containers/json to the Docker daemon at ") &&
                  strstr(err.msg, ": interrupted"),
              "%s", err.msg);
    /* a request started after the signal (the undo of the step) runs to its own deadline */
    cr_assert_eq(engine_call_ok(e, "GET", "/containers/json", NULL, 1500, NULL, &err), -1);
    cr_assert(strstr(err.msg, "within 1.5 s"), "%s", err.msg);
    interrupt_reset();
    engine_close(e);
    fake_http_stop(&fake);
    set_bounds(0, 0, 0);
}
