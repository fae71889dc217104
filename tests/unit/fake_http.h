/*
 * fake_http.h - a small HTTP/1.1 server for the unit tests, run in a
 * child process: on a unix socket it stands in for the Docker daemon, on a
 * loopback TCP port for a service that verify's probes ask.
 *
 * It answers each request with the first route whose text is a prefix of
 * the request line ("GET /v1.43/containers/abc/json HTTP/1.1"), and with
 * 404 when none is, then closes the connection.  A route of status 0
 * never answers (a hung server).  Status FAKE_STREAM answers as the
 * daemon answers an exec start: HTTP 200 with no Content-Length, then the
 * body's bytes (written in hex, spaces ignored, so frames can hold NULs),
 * then the connection closed; FAKE_STREAM_STALL the same, then silence
 * instead of the close (a stalled stream).  FAKE_FILL and FAKE_STREAM_FILL
 * answer big bodies: their body is "HEX|N", the bytes hex spells and then
 * N bytes of 'x', as a 200 answer with its Content-Length or as a stream.
 * On a unix socket, each request line is appended to DIR/requests
 * (fake_http_requests() reads them), so a test sees the exact path sent.
 * The child dies with the test.
 */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "testutil.h"

#define FAKE_STREAM 1200       /* 200, the hex body as raw bytes, then EOF */
#define FAKE_STREAM_STALL 1201 /* 200, the hex body as raw bytes, then nothing */
#define FAKE_FILL 1202         /* 200 with a length: "HEX|N", the hex bytes then N 'x' */
#define FAKE_STREAM_FILL 1203  /* the same as a stream, then EOF */

struct fake_route {
    const char *request; /* a prefix of the request line: "GET /version " */
    int status;          /* 0: never answer */
    const char *body;    /* JSON or text; NULL: empty */
};

struct fake_http {
    pid_t pid;
    char *dir; /* unix: the scratch directory of the socket */
    char *url; /* "unix:///tmp/.../docker.sock" or "http://127.0.0.1:PORT" */
};

/* The request line and headers of one request, and its body skipped; 0 when the peer hung up. */
static inline size_t fake_http_read(int fd, char *req, size_t size)
{
    size_t n = 0;
    ssize_t got;
    while (n + 1 < size && (got = read(fd, req + n, size - 1 - n)) > 0) {
        n += (size_t)got;
        req[n] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strcasestr(req, "\r\nContent-Length:");
        size_t want = (size_t)(end + 4 - req) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        while (n < want && n + 1 < size && (got = read(fd, req + n, size - 1 - n)) > 0)
            n += (size_t)got;
        break;
    }
    req[n] = '\0';
    return n;
}

/* Appends the bytes hex spells (up to a '|' or its end) to out. */
static inline void fake_http_unhex(const char *hex, struct buf *out)
{
    for (const char *p = hex; p[0] && p[1] && p[0] != '|';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        char byte[3] = {p[0], p[1], 0};
        buf_addc(out, (char)strtoul(byte, NULL, 16));
        p += 2;
    }
}

/* Writes all of p, quietly giving up when the peer has gone (it may stop reading on purpose). */
static inline void fake_http_write(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Writes n bytes of 'x'. */
static inline void fake_http_fill(int fd, size_t n)
{
    static char chunk[65536];
    memset(chunk, 'x', sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        ssize_t w = write(fd, chunk, k);
        if (w <= 0)
            return;
        n -= (size_t)w;
    }
}

/* Writes an exec start's answer (headers without a length) or, when length, a 200 with one:
 * the bytes hex spells, then the filler its "|N" asks for. */
static inline void fake_http_stream(int fd, const char *hex, int length)
{
    struct buf out = {0}, bytes = {0};
    const char *bar = strchr(hex, '|');
    size_t fill = bar ? strtoul(bar + 1, NULL, 10) : 0;
    fake_http_unhex(hex, &bytes);
    if (length)
        buf_printf(&out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   bytes.len + fill);
    else
        buf_adds(&out, "HTTP/1.1 200 OK\r\nContent-Type: "
                       "application/vnd.docker.multiplexed-stream\r\n\r\n");
    buf_add(&out, bytes.data ? bytes.data : "", bytes.len);
    fake_http_write(fd, out.data, out.len);
    fake_http_fill(fd, fill);
    buf_release(&out);
    buf_release(&bytes);
}

/* Appends the request line of req to log (NULL: none kept). */
static inline void fake_http_log(const char *log, const char *req)
{
    if (!log)
        return;
    FILE *f = fopen(log, "a");
    if (!f)
        return;
    fprintf(f, "%.*s\n", (int)strcspn(req, "\r\n"), req);
    fclose(f);
}

static inline void fake_http_answer(int fd, const struct fake_route *routes, const char *log)
{
    char req[65536];
    if (fake_http_read(fd, req, sizeof(req)) == 0)
        return; /* a connect() without a request: the engine's socket check */
    fake_http_log(log, req);
    const struct fake_route *r = routes;
    while (r->request && strncmp(req, r->request, strlen(r->request)))
        r++;
    int status = r->request ? r->status : 404;
    const char *body = r->request && r->body ? r->body
                       : r->request          ? ""
                                             : "{\"message\":\"no route\"}";
    if (status == 0)
        pause(); /* hung: until the test ends */
    if (status == FAKE_FILL || status == FAKE_STREAM_FILL) {
        fake_http_stream(fd, body, status == FAKE_FILL);
        return;
    }
    if (status == FAKE_STREAM || status == FAKE_STREAM_STALL) {
        fake_http_stream(fd, body, 0);
        if (status == FAKE_STREAM_STALL)
            pause();
        return;
    }
    struct buf out = {0};
    buf_printf(&out,
               "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
               "Connection: close\r\n\r\n%s",
               status, strlen(body), body);
    if (write(fd, out.data, out.len) < 0)
        perror("fake_http");
    buf_release(&out);
}

/* Forks the child that serves routes on listening socket fd. */
static inline void fake_http_serve(struct fake_http *f, int fd, const struct fake_route *routes)
{
    f->pid = fork();
    if (f->pid != 0) {
        close(fd);
        return;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN); /* a client that stops reading a big answer */
    struct buf log = {0};
    if (f->dir)
        buf_printf(&log, "%s/requests", f->dir);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            _exit(1);
        fake_http_answer(c, routes, log.data);
        close(c);
    }
}

/* A fake daemon on dir/docker.sock; f->url is its DOCKER_HOST. */
static inline void fake_http_start_unix(struct fake_http *f, const struct fake_route *routes)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct buf url = {0};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    f->dir = tu_tmpdir();
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/docker.sock", f->dir);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
        perror("fake_http: unix socket");
    buf_printf(&url, "unix://%s", sa.sun_path);
    f->url = buf_detach(&url);
    fake_http_serve(f, fd, routes);
}

/* A fake service on a free loopback port; f->url is "http://127.0.0.1:PORT". */
static inline void fake_http_start_tcp(struct fake_http *f, const struct fake_route *routes)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    struct buf url = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        perror("fake_http: tcp socket");
    buf_printf(&url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    f->url = buf_detach(&url);
    fake_http_serve(f, fd, routes);
}

/* This process's peak resident memory so far, in MiB: a big answer must not raise it much. */
static inline long fake_http_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* The request lines the server on a unix socket received so far, one a line, into out. */
static inline void fake_http_requests(const struct fake_http *f, struct buf *out)
{
    struct buf path = {0};
    char chunk[4096];
    size_t n;
    buf_printf(&path, "%s/requests", f->dir);
    FILE *in = fopen(path.data, "r");
    while (in && (n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        buf_add(out, chunk, n);
    if (in)
        fclose(in);
    buf_add(out, "", 0);
    buf_release(&path);
}

static inline void fake_http_stop(struct fake_http *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    if (f->dir) {
        struct buf path = {0};
        buf_printf(&path, "%s/docker.sock", f->dir);
        unlink(path.data);
        buf_reset(&path);
        buf_printf(&path, "%s/requests", f->dir);
        unlink(path.data);
        rmdir(f->dir);
        buf_release(&path);
    }
    free(f->dir);
    free(f->url);
    memset(f, 0, sizeof(*f));
}

#endif
