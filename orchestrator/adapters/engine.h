/*
 * engine.h - the Docker Engine API client: HTTP with libcurl over the
 * daemon's unix socket, tcp:// with TLS, or ssh:// (`ssh host docker
 * system dial-stdio`, as the docker CLI does), the engine chosen as the
 * docker CLI chooses it (engine_target.h).  ttdeploy never runs the
 * docker CLI on this machine.
 *
 * Two ways to call the daemon:
 *   - engine_call(): one request, waited for; for set-up work such as
 *     listing containers or creating a network.
 *   - engine_req_start() / engine_pump() / engine_next_done(): requests
 *     that run side by side on one libcurl multi handle, so a stack's
 *     services are created and started in parallel from one thread.
 * engine_events_start() opens the daemon's /events stream on the same
 * multi handle; engine_next_event() hands out what arrived.  Nothing here
 * calls back into the caller (the caller pumps and then asks what is
 * done) except engine_stream(), which hands a stream's bytes to a sink as
 * they arrive; engine_exec() (engine_exec.c) is built on it.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "tterr.h"

#define ENGINE_DEFAULT_HOST "unix:///var/run/docker.sock"
/* A stream (exec, attach, a pull's progress) that sends no byte for this long fails
 * (timeouts.stall). */
#define ENGINE_STALL_DEFAULT_MS 60000L
/* Connecting to the daemon's socket (timeouts.connect). */
#define ENGINE_CONNECT_DEFAULT_MS 10000L
/* A request that is not a stream nor one of the daemon's own waits (timeouts.request). */
#define ENGINE_REQUEST_DEFAULT_MS 60000L
/*
 * What is kept of a command's output (an exec, a health check, a one-off
 * container's log, a pull's progress): its last bytes, this many; a
 * longer output is cut and starts with "output cut: kept the last 65536
 * of N bytes" so that whoever shows it says so.
 */
#define ENGINE_OUTPUT_KEEP 65536
/*
 * The largest answer the daemon may give to a request that is not a
 * stream.  The largest ttdeploy reads is a list (/containers/json?all=1,
 * /networks, /volumes: 2 to 5 KB an entry, so some 10,000 containers of a
 * big host) or an inspect (tens of KB); 64 MiB holds those many times
 * over and still bounds what a daemon gone wrong costs.  A longer answer
 * is an error naming the request, never a truncated parse.
 */
#define ENGINE_RESPONSE_MAX (64L * 1024 * 1024)

struct engine;
struct engine_req;

/*
 * The bounds of every wait on the daemon (the plan's timeouts:), in ms.
 * Each request gets a deadline: the caller's timeout_ms when it is
 * shorter than request_ms, else request_ms; the daemon's own waits (POST
 * .../stop, .../restart, .../wait, /exec/ID/start, /images/create,
 * /build) keep the caller's timeout_ms, which knows how long they may
 * take.  A pull or build, and every engine_stream(), also fails after
 * stall_ms without a byte.  The /events stream has no deadline (quiet is
 * normal there).  A transfer in flight when SIGINT or SIGTERM arrives
 * (interrupt.h) ends at once with "interrupted"; one started after it
 * (the undo of the step in flight) runs to its deadline.
 */
struct engine_timeouts {
    long connect_ms, request_ms, stall_ms;
};
/* The bounds of the engines opened from now on (a value <= 0: its default). */
void engine_set_default_timeouts(const struct engine_timeouts *t);

/*
 * Which engine to talk to, from every place that may say (borrowed
 * strings, each NULL when not given).  The precedence is the docker
 * CLI's: --host or --context (both: an error), then $DOCKER_HOST or
 * $DOCKER_CONTEXT (the host wins when both are set), then the plan's
 * engine.host or engine.context, then ENGINE_DEFAULT_HOST.  A context
 * named "default" is the default socket.  Hosts: unix:///path,
 * tcp://host[:port] (TLS from $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH,
 * or the context's files; plain TCP only with insecure), and
 * ssh://[user@]host[:port].
 */
struct engine_choice {
    const char *host;         /* --host on the command line */
    const char *context;      /* --context on the command line */
    const char *plan_host;    /* the plan's engine.host */
    const char *plan_context; /* the plan's engine.context */
    int insecure;             /* --insecure: plain tcp:// without TLS allowed */
};

/*
 * Connects to the engine c chooses and negotiates the API version from
 * /version.  On failure err names the engine and where the choice came
 * from, and says what to check: the daemon down, the socket not
 * permitted, a certificate file missing or refused, what ssh said, the
 * daemon's API too old.
 */
int engine_open_choice(const struct engine_choice *c, struct engine **out, struct tt_err *err);
/* engine_open_choice() with only .host given (NULL: the environment, then the default). */
int engine_open(const char *host, struct engine **out, struct tt_err *err);
/* A second connection to the engine e reached, as e reached it (a thread's own). */
int engine_open_same(const struct engine *e, struct engine **out, struct tt_err *err);
/*
 * Where and how, never credentials: "tcp://127.0.0.1:23760 (TLS, from
 * DOCKER_HOST)", "ssh://tt@127.0.0.1:22220 (from --host)",
 * "unix:///var/run/docker.sock (default)", "unix:///x.sock (context ci,
 * from DOCKER_CONTEXT)".
 */
const char *engine_describe(const struct engine *e);
/* NULL, or a warning for the CLI to print (plain TCP, a certificate not verified). */
const char *engine_warning(const struct engine *e);
void engine_close(struct engine *e);
/* The oldest Engine API version ttdeploy speaks: an older daemon is refused. */
#define ENGINE_MIN_API "1.41"
/* The API version negotiated with e: the daemon's, capped at the newest ttdeploy speaks. */
const char *engine_api_version(const struct engine *e);
const char *engine_host(const struct engine *e);

/*
 * One request, waited for.  path is below the version prefix
 * ("/containers/json?all=1").  body (borrowed) may be NULL.  Returns the
 * HTTP status, or -1 when the daemon could not be reached.  *resp (may be
 * NULL) receives the parsed JSON response or NULL; raw (may be NULL) the
 * bytes.  timeout_ms 0 means timeouts.request (see struct engine_timeouts).
 */
long engine_call(struct engine *e, const char *method, const char *path, const json_t *body,
                 long timeout_ms, json_t **resp, struct buf *raw, struct tt_err *err);

/* Like engine_call, but a status other than 2xx is an error with the daemon's message. */
int engine_call_ok(struct engine *e, const char *method, const char *path, const json_t *body,
                   long timeout_ms, json_t **resp, struct tt_err *err);

/*
 * Like engine_call, but the body is bytes of type content_type (a tar for
 * PUT /containers/ID/archive or POST /images/create?fromSrc=-), borrowed
 * until it returns; raw (may be NULL) receives the answer's bytes.
 */
long engine_call_bytes(struct engine *e, const char *method, const char *path,
                       const char *content_type, const void *body, size_t len, long timeout_ms,
                       struct buf *raw, struct tt_err *err);

/* Starts a request in the background; tag is the caller's, returned by engine_req_tag. */
struct engine_req *engine_req_start(struct engine *e, const char *method, const char *path,
                                    const json_t *body, long timeout_ms, void *tag);
/* Runs the transfers for at most timeout_ms (returns early when something finished). */
int engine_pump(struct engine *e, long timeout_ms, struct tt_err *err);
/* A finished request (the caller engine_req_free()s it), or NULL. */
struct engine_req *engine_next_done(struct engine *e);
/* Requests still running (the events stream not counted). */
size_t engine_inflight(const struct engine *e);
void *engine_req_tag(const struct engine_req *r);
long engine_req_status(const struct engine_req *r); /* -1: transport error */
const struct buf *engine_req_body(const struct engine_req *r);
/* The parsed response (borrowed; NULL when not JSON). */
json_t *engine_req_json(struct engine_req *r);
/* "HTTP 409: Conflict. The container name ... is already in use" or the transport error. */
const char *engine_req_error(struct engine_req *r);
void engine_req_free(struct engine_req *r);
/*
 * Hands the 2xx body of r, started and not yet pumped, to sink as it
 * arrives instead of keeping it (an error answer is still kept, for its
 * message).  sink returning -1 ends the transfer (an error).
 */
void engine_req_stream_to(struct engine_req *r,
                          int (*sink)(void *ctx, const char *data, size_t len), void *ctx);
/* Stops a request still in flight and frees it (a finished one is only freed). */
void engine_req_cancel(struct engine *e, struct engine_req *r);

/*
 * The /events stream's parser (engine_events.c): bytes in as they come,
 * one JSON event per line out.  A line longer than ENGINE_EVENT_LINE_MAX
 * (no event is) or one that is not a JSON object is skipped and counted;
 * what is kept of a line in progress stays within that bound.
 */
#define ENGINE_EVENT_LINE_MAX (1024 * 1024)
struct engine_events;
struct engine_events *engine_events_new(void);
void engine_events_free(struct engine_events *ev);
void engine_events_feed(struct engine_events *ev, const char *data, size_t len);
/* The next event parsed (the caller json_decref()s it), or NULL. */
json_t *engine_events_pop(struct engine_events *ev);
/* How many lines were skipped (too long, or not a JSON object). */
size_t engine_events_skipped(const struct engine_events *ev);

/* Opens /events with the given filters (JSON object, borrowed; may be NULL). */
int engine_events_start(struct engine *e, const json_t *filters, struct tt_err *err);
/* The next event received (the caller json_decref()s it), or NULL. */
json_t *engine_next_event(struct engine *e);

/* The stall limit of this engine's streams (ms; 0 or less: the default). */
void engine_set_stall(struct engine *e, long stall_ms);
long engine_stall(const struct engine *e);

/*
 * A request whose answer is a stream (exec start, attach): each piece of a
 * 2xx body goes to sink as it arrives.  Fails (-1, err naming what) when
 * sink returns -1 (the sink keeps its own reason), when no byte arrives
 * for the stall limit, at timeout_ms (0: none), when the transfer breaks
 * or the answer is not 2xx.  A stream the daemon ends cleanly returns 0:
 * whether it is whole is for the caller's format to say.
 */
int engine_stream(struct engine *e, const char *method, const char *path, const json_t *body,
                  long timeout_ms, int (*sink)(void *ctx, const char *data, size_t len), void *ctx,
                  const char *what, struct tt_err *err);

/*
 * Runs argv (a JSON array of strings, borrowed) in a running container and
 * waits for it: *exit_code and out (stdout and stderr, the first
 * last ENGINE_OUTPUT_KEEP bytes, after a note when cut) receive what it did.  timeout_ms bounds
 * the whole run, the stall limit each silence.  Returns -1 when it could
 * not be run or its result cannot be trusted: a stream cut inside a frame,
 * a frame of an unknown stream, an error the daemon put in the stream, an
 * exec still running or without an exit code (ExitCode null).
 */
int engine_exec(struct engine *e, const char *container, const json_t *argv, long timeout_ms,
                int *exit_code, struct buf *out, struct tt_err *err);

/*
 * Like engine_exec, but the command's stdout is streamed to fd as it
 * arrives (never held in memory, never cut) and its stderr kept in errout
 * (its last ENGINE_OUTPUT_KEEP bytes, as engine_exec keeps output).  env (a
 * JSON array of "NAME=value", may be NULL) is added to the command's
 * environment.  *bytes receives how much was written to fd.
 */
int engine_exec_to_fd(struct engine *e, const char *container, const json_t *argv,
                      const json_t *env, int fd, long timeout_ms, int *exit_code, long long *bytes,
                      struct buf *errout, struct tt_err *err);

/*
 * Splits a multiplexed stdout/stderr stream as it arrives, appending the
 * text to out (its last ENGINE_OUTPUT_KEEP bytes, after a note when cut).
 * Strict (an exec's stream): engine_demuxer_end() is -1 when the stream
 * was cut inside a frame, had a frame of an unknown stream or carried the
 * daemon's own error.  Lenient (container logs): plain text, as a TTY
 * container writes, is copied, a log cut short keeps what came, and
 * nothing is an error.  engine_demuxer_feed() fits engine_stream() and
 * engine_req_stream_to() as their sink; it never stops a stream.
 */
struct engine_demuxer;
struct engine_demuxer *engine_demuxer_new(struct buf *out, int lenient);
int engine_demuxer_feed(void *demuxer, const char *data, size_t len);
/* Call once, at the end of the stream: trims out to its bound and says whether it was whole. */
int engine_demuxer_end(struct engine_demuxer *d, struct tt_err *err);
void engine_demuxer_free(struct engine_demuxer *d);
/* A whole buffer through a lenient demuxer: container logs.  For diagnostics only. */
void engine_demux(const struct buf *raw, struct buf *out);
/* A whole exec stream through a strict one: -1 when it is cut or has an unknown frame. */
int engine_demux_exec(const struct buf *raw, struct buf *out, struct tt_err *err);

/* Percent-encodes s (everything but A-Z a-z 0-9 - _ . ~) for a query value, appending to out. */
void engine_urlencode(const char *s, struct buf *out);
/*
 * Appends to out the path fmt spells, each %s (the only conversion)
 * replaced by its argument encoded as one path segment: every byte but
 * the unreserved ones percent-encoded, and a segment of only dots too, so
 * a name holding / ? # % or .. stays one segment of the endpoint meant
 * ("/containers/%s/exec" with "../x?y" is "/containers/..%2Fx%3Fy/exec").
 * The daemon decodes it; an image reference ("reg:5000/app:1@sha256:...")
 * is accepted that way.  Query values go through engine_urlencode().
 */
void engine_pathf(struct buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
