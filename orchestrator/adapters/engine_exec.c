/*
 * engine_exec.c - running a command in a container through the Engine
 * API's exec, and reading the stream it answers.
 *
 * One exec is three requests: POST /containers/ID/exec (its id), POST
 * /exec/ID/start (the output, streamed by engine_stream(), so a stream
 * that stalls fails), GET /exec/ID/json (the exit code).  Nothing short
 * of a whole stream and a real exit code counts as a result: a stream
 * that ends inside a frame or holds a frame of no known stream, an exec
 * still running or one whose ExitCode is null (the daemon lost it, or
 * the stream was cut before the command ended) is an error, never exit 0.
 *
 * The stream (Tty false) is a series of frames: an 8-byte header
 * [stream, 0, 0, 0, size32be], then size bytes.  Stream 0 or 1 is stdout,
 * 2 stderr, 3 an error the daemon itself reports (moby's stdcopy
 * "systemerr").
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct demux {
    unsigned char header[8];
    size_t have;        /* header bytes read of the current frame */
    size_t remaining;   /* payload bytes left in the current frame */
    int stream;         /* of the current frame */
    long long offset;   /* bytes read so far, for messages */
    int fd;             /* stdout goes to fd when >= 0, ... */
    struct buf *out;    /* ... else here */
    struct buf *errout; /* stderr goes here; NULL: into out, in order */
    struct buf daemon;  /* stream 3: the daemon's own error */
    long long written;  /* bytes written to fd */
    int write_errno;
    char fault[256]; /* why the stream is not whole */
};

/* Keeps at most ENGINE_EXEC_OUTPUT_MAX bytes in b. */
static void demux_keep(struct buf *b, const char *p, size_t n)
{
    if (b->len < ENGINE_EXEC_OUTPUT_MAX)
        buf_add(b, p, n < ENGINE_EXEC_OUTPUT_MAX - b->len ? n : ENGINE_EXEC_OUTPUT_MAX - b->len);
}

static int demux_payload(struct demux *d, const char *p, size_t n)
{
    if (d->stream == 2)
        demux_keep(d->errout ? d->errout : d->out, p, n);
    else if (d->stream == 3)
        demux_keep(&d->daemon, p, n);
    else if (d->fd < 0)
        demux_keep(d->out, p, n);
    else {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(d->fd, p + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                d->write_errno = w < 0 ? errno : EIO;
                snprintf(d->fault, sizeof(d->fault), "writing its output failed: %s",
                         strerror(d->write_errno));
                return -1;
            }
            off += (size_t)w;
        }
        d->written += (long long)n;
    }
    return 0;
}

/* Feeds the next len bytes of the stream; -1 (d->fault says why) stops it. */
static int demux_feed(void *ctx, const char *p, size_t len)
{
    struct demux *d = ctx;
    size_t i = 0;

    while (i < len) {
        if (d->remaining == 0) {
            d->header[d->have++] = (unsigned char)p[i++];
            d->offset++;
            if (d->have < 8)
                continue;
            d->have = 0;
            const unsigned char *h = d->header;
            if (h[0] > 3 || h[1] || h[2] || h[3]) {
                snprintf(d->fault, sizeof(d->fault),
                         "its output stream has an unknown frame at byte %lld (stream type %u, "
                         "header %02x %02x %02x %02x)",
                         d->offset - 8, h[0], h[0], h[1], h[2], h[3]);
                return -1;
            }
            d->stream = h[0];
            d->remaining = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
            continue;
        }
        size_t take = len - i < d->remaining ? len - i : d->remaining;
        if (demux_payload(d, p + i, take) < 0)
            return -1;
        d->remaining -= take;
        d->offset += (long long)take;
        i += take;
    }
    return 0;
}

/* At the end of the stream: -1 when it ended inside a frame or carried the daemon's error. */
static int demux_end(struct demux *d)
{
    if (d->fault[0])
        return -1;
    if (d->have || d->remaining)
        snprintf(d->fault, sizeof(d->fault),
                 "its output stream ended inside a frame after %lld bytes (%zu more were due)",
                 d->offset, d->have ? 8 - d->have : d->remaining);
    else if (d->daemon.len)
        snprintf(d->fault, sizeof(d->fault), "the Docker engine reported an error: %.200s",
                 d->daemon.data);
    return d->fault[0] ? -1 : 0;
}

void engine_demux(const struct buf *raw, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)raw->data;
    struct demux d = {.fd = -1, .out = out};

    /* Logs of a container with a TTY are plain text; a log cut short keeps what came. */
    if (raw->len < 8 || p[0] > 2 || p[1] || p[2] || p[3]) {
        buf_add(out, raw->data ? raw->data : "", raw->len);
        return;
    }
    demux_feed(&d, raw->data, raw->len);
    buf_release(&d.daemon);
}

int engine_demux_exec(const struct buf *raw, struct buf *out, struct tt_err *err)
{
    struct demux d = {.fd = -1, .out = out};
    int rc = 0;

    if (demux_feed(&d, raw->data ? raw->data : "", raw->len) < 0 || demux_end(&d) < 0)
        rc = tt_error(err, "%s", d.fault);
    buf_release(&d.daemon);
    return rc;
}

/* Creates an exec of argv (env may be NULL) in container; *id receives its id (caller frees). */
static int exec_create(struct engine *e, const char *container, const json_t *argv,
                       const json_t *env, char **id, struct tt_err *err)
{
    struct buf path = {0};
    json_t *body = json_pack("{s:O, s:b, s:b}", "Cmd", argv, "AttachStdout", 1, "AttachStderr", 1);
    json_t *created = NULL;
    const char *got = NULL;
    int rc;

    if (env)
        json_object_set(body, "Env", (json_t *)env);
    buf_printf(&path, "/containers/%s/exec", container);
    rc = engine_call_ok(e, "POST", path.data, body, 10000, &created, err);
    if (rc == 0 && !(got = json_string_value(json_object_get(created, "Id"))))
        rc = tt_error(err, "POST %s: the Docker engine answered no exec Id", path.data);
    if (rc == 0)
        *id = xstrdup(got);
    json_decref(body);
    json_decref(created);
    buf_release(&path);
    return rc;
}

/* Starts exec id and reads its whole stream into d; what names the command in errors. */
static int exec_stream(struct engine *e, const char *id, const char *what, long timeout_ms,
                       struct demux *d, struct tt_err *err)
{
    struct buf path = {0};
    json_t *body = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
    int rc;

    buf_printf(&path, "/exec/%s/start", id);
    rc = engine_stream(e, "POST", path.data, body, timeout_ms, demux_feed, d, what, err);
    if (d->fault[0] || (rc == 0 && demux_end(d) < 0))
        rc = tt_error(err, "%s: %s; not trusting its result", what, d->fault);
    json_decref(body);
    buf_release(&path);
    return rc;
}

/* The exit code of a finished exec; one still running or without a code is an error. */
static int exec_exit_code(struct engine *e, const char *id, const char *what, int *exit_code,
                          struct tt_err *err)
{
    struct buf path = {0};
    json_t *info = NULL, *code = NULL;

    buf_printf(&path, "/exec/%s/json", id);
    int rc = engine_call_ok(e, "GET", path.data, NULL, 10000, &info, err);
    if (rc == 0 && json_is_true(json_object_get(info, "Running")))
        rc = tt_error(err,
                      "%s: the exec still runs after its output stream ended, so it has no exit "
                      "code yet: not counting it as success",
                      what);
    else if (rc == 0 && !json_is_integer(code = json_object_get(info, "ExitCode")))
        rc = tt_error(err,
                      "%s: the Docker engine gave no exit code (ExitCode %s): the command may "
                      "not have finished; not counting it as success",
                      what, code ? "null" : "missing");
    else if (rc == 0)
        *exit_code = (int)json_integer_value(code);
    json_decref(info);
    buf_release(&path);
    return rc;
}

/* Runs argv in container: create, stream into d, read the exit code. */
static int exec_run(struct engine *e, const char *container, const json_t *argv, const json_t *env,
                    long timeout_ms, struct demux *d, int *exit_code, struct tt_err *err)
{
    struct buf what = {0};
    const char *prog = json_string_value(json_array_get(argv, 0));
    char *id = NULL;
    int rc;

    buf_printf(&what, "%s in container %.12s", prog ? prog : "the command", container);
    rc = exec_create(e, container, argv, env, &id, err);
    if (rc == 0)
        rc = exec_stream(e, id, what.data, timeout_ms, d, err);
    if (rc == 0)
        rc = exec_exit_code(e, id, what.data, exit_code, err);
    buf_release(&d->daemon);
    free(id);
    buf_release(&what);
    return rc;
}

int engine_exec(struct engine *e, const char *container, const json_t *argv, long timeout_ms,
                int *exit_code, struct buf *out, struct tt_err *err)
{
    struct demux d = {.fd = -1, .out = out};
    return exec_run(e, container, argv, NULL, timeout_ms, &d, exit_code, err);
}

int engine_exec_to_fd(struct engine *e, const char *container, const json_t *argv,
                      const json_t *env, int fd, long timeout_ms, int *exit_code, long long *bytes,
                      struct buf *errout, struct tt_err *err)
{
    struct demux d = {.fd = fd, .errout = errout};
    int rc = exec_run(e, container, argv, env, timeout_ms, &d, exit_code, err);
    *bytes = d.written;
    return rc;
}
