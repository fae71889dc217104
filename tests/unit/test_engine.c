/*
 * test_engine.c - the parts of the Engine client that need no daemon: the
 * errors for a socket that is missing or refuses, the API version agreed
 * with a (fake) daemon, stream demultiplexing and query encoding.  The
 * client against a real daemon is covered by tests/e2e/test_stack.py.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine.h"
#include "fake_http.h"

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
