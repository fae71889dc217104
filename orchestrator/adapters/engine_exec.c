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
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * One stream being split.  Whatever the stream's length, what is kept is
 * bounded: the last ENGINE_OUTPUT_KEEP bytes of the output (and of stderr
 * when it is kept apart), the first 1 KiB of the daemon's own error.
 */
struct engine_demuxer {
    unsigned char header[8];
    size_t have;              /* header bytes read of the current frame */
    size_t remaining;         /* payload bytes left in the current frame */
    int stream;               /* of the current frame */
    long long offset;         /* bytes read so far, for messages */
    int lenient;              /* container logs: plain text copied, a bad frame ends keeping */
    int plain;                /* lenient, and the stream turned out not multiplexed */
    int fd;                   /* stdout goes to fd when >= 0, ... */
    struct engine_tail out;   /* ... else here */
    struct engine_tail err;   /* stderr, when kept apart (errout) */
    struct engine_tail *errp; /* &err, or &out: stderr in order with stdout */
    struct buf daemon;        /* stream 3: the daemon's own error */
    long long written;        /* bytes written to fd */
    int write_errno;
    char fault[256]; /* why the stream is not whole */
};

#define DAEMON_ERROR_KEEP 1024

void engine_tail_init(struct engine_tail *t, struct buf *b)
{
    t->b = b;
    t->base = b->len;
    t->total = 0;
}

/* Keeps the last `keep` bytes of what t's buffer holds past its base. */
static void tail_trim(struct engine_tail *t, size_t keep)
{
    struct buf *b = t->b;
    if (b->len - t->base <= keep)
        return;
    memmove(b->data + t->base, b->data + b->len - keep, keep);
    b->len = t->base + keep;
    b->data[b->len] = '\0';
}

void engine_tail_add(struct engine_tail *t, const char *p, size_t n)
{
    t->total += (long long)n;
    if (n >= ENGINE_OUTPUT_KEEP) { /* what was kept falls out anyway */
        tail_trim(t, 0);
        p += n - ENGINE_OUTPUT_KEEP;
        n = ENGINE_OUTPUT_KEEP;
    }
    buf_add(t->b, p, n);
    if (t->b->len - t->base > 2 * ENGINE_OUTPUT_KEEP)
        tail_trim(t, ENGINE_OUTPUT_KEEP);
}

void engine_tail_end(struct engine_tail *t)
{
    struct buf note = {0};

    if (t->total <= ENGINE_OUTPUT_KEEP)
        return;
    tail_trim(t, ENGINE_OUTPUT_KEEP);
    buf_printf(&note, "output cut: kept the last %d of %lld bytes\n", ENGINE_OUTPUT_KEEP, t->total);
    buf_grow(t->b, note.len);
    memmove(t->b->data + t->base + note.len, t->b->data + t->base, ENGINE_OUTPUT_KEEP + 1);
    memcpy(t->b->data + t->base, note.data, note.len);
    t->b->len += note.len;
    buf_release(&note);
}

static void demux_init(struct engine_demuxer *d, int fd, struct buf *out, struct buf *errout)
{
    memset(d, 0, sizeof(*d));
    d->fd = fd;
    if (out)
        engine_tail_init(&d->out, out);
    if (errout)
        engine_tail_init(&d->err, errout);
    d->errp = errout ? &d->err : &d->out;
}

/* Writes stdout's bytes to d->fd; -1 (d->fault says why) when that fails. */
static int demux_write(struct engine_demuxer *d, const char *p, size_t n)
{
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
    return 0;
}

static int demux_payload(struct engine_demuxer *d, const char *p, size_t n)
{
    if (d->stream == 2)
        engine_tail_add(d->errp, p, n);
    else if (d->stream == 3) {
        if (d->daemon.len < DAEMON_ERROR_KEEP)
            buf_add(&d->daemon, p,
                    n < DAEMON_ERROR_KEEP - d->daemon.len ? n : DAEMON_ERROR_KEEP - d->daemon.len);
    } else if (d->fd < 0)
        engine_tail_add(&d->out, p, n);
    else
        return demux_write(d, p, n);
    return 0;
}

/* Whether h starts a frame; lenient (logs) knows only streams 0 to 2, as a TTY's text rarely
 * starts with those bytes. */
static int header_ok(const unsigned char *h, int lenient)
{
    return h[0] <= (lenient ? 2 : 3) && !h[1] && !h[2] && !h[3];
}

/* A header whole in d->header: starts its frame, or says why it cannot. */
static void demux_header(struct engine_demuxer *d)
{
    const unsigned char *h = d->header;

    d->have = 0;
    if (header_ok(h, d->lenient)) {
        d->stream = h[0];
        d->remaining = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
    } else if (d->lenient && d->offset == 8) { /* not multiplexed: a TTY's plain text */
        d->plain = 1;
        engine_tail_add(&d->out, (const char *)h, 8);
    } else {
        snprintf(d->fault, sizeof(d->fault),
                 "its output stream has an unknown frame at byte %lld (stream type %u, "
                 "header %02x %02x %02x %02x)",
                 d->offset - 8, h[0], h[0], h[1], h[2], h[3]);
    }
}

/*
 * Feeds the next len bytes of the stream.  A stream that goes wrong (an
 * unknown frame) is read on but no longer kept, so its reader still sees
 * it end; only a failed write to fd stops it (-1, d->fault says why).
 */
int engine_demuxer_feed(void *ctx, const char *p, size_t len)
{
    struct engine_demuxer *d = ctx;
    size_t i = 0;

    if (d->plain) {
        engine_tail_add(&d->out, p, len);
        return 0;
    }
    while (i < len && !d->fault[0] && !d->plain) {
        if (d->remaining == 0) {
            size_t take = 8 - d->have < len - i ? 8 - d->have : len - i;
            memcpy(d->header + d->have, p + i, take);
            d->have += take;
            d->offset += (long long)take;
            i += take;
            if (d->have == 8)
                demux_header(d);
            continue;
        }
        size_t take = len - i < d->remaining ? len - i : d->remaining;
        if (demux_payload(d, p + i, take) < 0)
            return -1;
        d->remaining -= take;
        d->offset += (long long)take;
        i += take;
    }
    if (d->plain && i < len)
        engine_tail_add(&d->out, p + i, len - i);
    return 0;
}

/*
 * At the end of the stream: the kept output trimmed to its bound (a note
 * says what was cut); -1 when the stream ended inside a frame, had an
 * unknown frame or carried the daemon's error.  Lenient: a stream too
 * short for a header is plain text, and nothing is an error.
 */
static int demux_end(struct engine_demuxer *d)
{
    if (d->lenient && !d->plain && d->offset == (long long)d->have && d->have)
        engine_tail_add(&d->out, (const char *)d->header, d->have);
    if (d->out.b)
        engine_tail_end(&d->out);
    if (d->errp == &d->err)
        engine_tail_end(&d->err);
    if (d->lenient)
        return 0;
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

struct engine_demuxer *engine_demuxer_new(struct buf *out, int lenient)
{
    struct engine_demuxer *d = xmalloc(sizeof(*d));
    demux_init(d, -1, out, NULL);
    d->lenient = lenient;
    return d;
}

int engine_demuxer_end(struct engine_demuxer *d, struct tt_err *err)
{
    return demux_end(d) < 0 ? tt_error(err, "%s", d->fault) : 0;
}

void engine_demuxer_free(struct engine_demuxer *d)
{
    if (!d)
        return;
    buf_release(&d->daemon);
    free(d);
}

void engine_demux(const struct buf *raw, struct buf *out)
{
    struct engine_demuxer *d = engine_demuxer_new(out, 1);
    engine_demuxer_feed(d, raw->data ? raw->data : "", raw->len);
    engine_demuxer_end(d, NULL);
    engine_demuxer_free(d);
}

int engine_demux_exec(const struct buf *raw, struct buf *out, struct tt_err *err)
{
    struct engine_demuxer *d = engine_demuxer_new(out, 0);
    int rc = engine_demuxer_feed(d, raw->data ? raw->data : "", raw->len);
    rc = engine_demuxer_end(d, err) < 0 ? -1 : rc;
    engine_demuxer_free(d);
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
    engine_pathf(&path, "/containers/%s/exec", container);
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
                       struct engine_demuxer *d, struct tt_err *err)
{
    struct buf path = {0};
    json_t *body = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
    int rc;

    engine_pathf(&path, "/exec/%s/start", id);
    rc = engine_stream(e, "POST", path.data, body, timeout_ms, engine_demuxer_feed, d, what, err);
    int fed_badly =
        d->fault[0] != 0; /* else a stream cut by a stall says so, not "inside a frame" */
    if (demux_end(d) < 0 && (fed_badly || rc == 0))
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

    engine_pathf(&path, "/exec/%s/json", id);
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
                    long timeout_ms, struct engine_demuxer *d, int *exit_code, struct tt_err *err)
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
    struct engine_demuxer d;
    demux_init(&d, -1, out, NULL);
    return exec_run(e, container, argv, NULL, timeout_ms, &d, exit_code, err);
}

int engine_exec_to_fd(struct engine *e, const char *container, const json_t *argv,
                      const json_t *env, int fd, long timeout_ms, int *exit_code, long long *bytes,
                      struct buf *errout, struct tt_err *err)
{
    struct engine_demuxer d;
    demux_init(&d, fd, NULL, errout);
    int rc = exec_run(e, container, argv, env, timeout_ms, &d, exit_code, err);
    *bytes = d.written;
    return rc;
}
