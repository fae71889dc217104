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
    cr_assert(strstr(err.msg, "is plain TCP without TLS") != NULL, "%s", err.msg);
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

/* A fake daemon that answers /version, and route with status and body; *e is opened on it. */
static struct engine *open_route(struct fake_http *fake, const char *route, int status,
                                 const char *body)
{
    static struct fake_route routes[3];
    struct fake_route version = VERSION_ROUTE;
    struct tt_err err = {0};
    struct engine *e = NULL;
    routes[0] = version;
    routes[1] = (struct fake_route){route, status, body};
    routes[2] = (struct fake_route){NULL, 0, NULL};
    fake_http_start_unix(fake, routes);
    cr_assert_eq(engine_open(fake->url, &e, &err), 0, "%s", err.msg);
    return e;
}

/* A fake daemon that answers /version and never answers hung_route (a frozen dockerd). */
static struct engine *open_frozen(struct fake_http *fake, const char *hung_route,
                                  const char *stream_hex)
{
    return open_route(fake, hung_route, stream_hex ? FAKE_STREAM_STALL : 0, stream_hex);
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

/* A stop that names its grace ends at that grace plus timeouts.request, not the caller's 120 s. */
Test(engine, a_stop_with_a_grace_ends_at_the_grace_plus_timeouts_request)
{
    struct fake_http fake = {0};
    set_bounds(1000, 1000, 1000);
    struct engine *e = open_frozen(&fake, "POST /v1.43/containers/web/stop?t=1 ", NULL);
    struct tt_err err = {0};
    double t0 = monotime_now();
    cr_assert_eq(engine_call_ok(e, "POST", "/containers/web/stop?t=1", NULL, 120000, NULL, &err),
                 -1);
    double waited = monotime_now() - t0;
    cr_assert_geq(waited, 1.9, "the grace (1 s) is waited for, then timeouts.request (1 s)");
    cr_assert_lt(waited, 4.0, "waited %g s: the caller's 120 s was used", waited);
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

/* ---- hostile names and answers (issue 14) ------------------------------------ */

Test(engine, pathf_encodes_each_argument_as_one_segment)
{
    struct buf b = {0};
    engine_pathf(&b, "/containers/%s/exec", "../../containers/x/kill?signal=9#");
    cr_assert_str_eq(b.data, "/containers/..%2F..%2Fcontainers%2Fx%2Fkill%3Fsignal%3D9%23/exec");
    buf_reset(&b);
    engine_pathf(&b, "/volumes/%s", "..");
    engine_pathf(&b, "/volumes/%s", ".");
    engine_pathf(&b, "/volumes/%s?force=1", "a.b%20 c");
    cr_assert_str_eq(b.data, "/volumes/%2E%2E/volumes/%2E/volumes/a.b%2520%20c?force=1");
    buf_reset(&b);
    engine_pathf(&b, "/images/%s/json", "reg:5000/shop/api:1@sha256:0f");
    cr_assert_str_eq(b.data, "/images/reg%3A5000%2Fshop%2Fapi%3A1%40sha256%3A0f/json");
    buf_release(&b);
}

Test(engine, an_answer_over_64_mib_is_an_error_naming_the_request)
{
    struct fake_http fake = {0};
    struct engine *e = open_route(&fake, "GET /v1.43/containers/json", FAKE_FILL, "5b|67108864");
    struct tt_err err = {0};
    json_t *list = NULL;
    cr_assert_eq(engine_call_ok(e, "GET", "/containers/json?all=1", NULL, 0, &list, &err), -1,
                 "a truncated answer was parsed");
    cr_assert_null(list);
    cr_assert(strstr(err.msg, "GET /containers/json?all=1: the Docker engine at unix://") != NULL,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "answered more than 64 MiB (the limit for one answer)") != NULL, "%s",
              err.msg);
    engine_close(e);
    fake_http_stop(&fake);
}

Test(engine, a_100_mb_events_line_costs_bounded_memory)
{
    struct fake_http fake = {0};
    /* one event, then 100 MiB without a newline */
    struct engine *e = open_route(&fake, "GET /v1.43/events", FAKE_STREAM_FILL,
                                  "7b2254797065223a22636f6e7461696e6572227d0a|104857600");
    struct tt_err err = {0};
    long before = fake_http_peak_rss_mb();
    cr_assert_eq(engine_events_start(e, NULL, &err), 0, "%s", err.msg);
    json_t *ev = NULL;
    for (double end = monotime_now() + 3; monotime_now() < end;) {
        cr_assert_eq(engine_pump(e, 50, &err), 0, "%s", err.msg);
        if (!ev)
            ev = engine_next_event(e);
    }
    cr_assert_str_eq(json_string_value(json_object_get(ev, "Type")), "container");
    long grew = fake_http_peak_rss_mb() - before;
    cr_assert(grew < 16, "a 100 MiB line raised the peak memory by %ld MiB", grew);
    json_decref(ev);
    engine_close(e);
    fake_http_stop(&fake);
}

Test(engine, events_parser_skips_long_and_bad_lines)
{
    struct engine_events *ev = engine_events_new();
    char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    engine_events_feed(ev, "{\"a\":", 5);
    engine_events_feed(ev, "1}\n[1]\nnot json\n\n", 18);
    for (int i = 0; i < 32; i++) /* 2 MiB, over ENGINE_EVENT_LINE_MAX */
        engine_events_feed(ev, chunk, sizeof(chunk));
    engine_events_feed(ev, "}\n{\"b\":2}\n{\"c\"", 15);
    json_t *a = engine_events_pop(ev), *b = engine_events_pop(ev);
    cr_assert_eq(json_integer_value(json_object_get(a, "a")), 1);
    cr_assert_eq(json_integer_value(json_object_get(b, "b")), 2);
    cr_assert_null(engine_events_pop(ev), "a line without its newline is not an event yet");
    cr_assert_eq(engine_events_skipped(ev), 3, "[1], not json, the long line");
    json_decref(a);
    json_decref(b);
    engine_events_free(ev);
}
