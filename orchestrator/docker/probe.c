/*
 * probe.c - one health check attempt is three Engine requests:
 *   POST /containers/ID/exec     → exec id
 *   POST /exec/ID/start          → the output stream, until the command ends
 *   GET  /exec/ID/json           → its exit code
 * The start request carries the check's timeout; a check that outlives it
 * counts as failed, as Docker counts it.  Only a whole output stream and
 * an exit code of 0 from an exec no longer running count as a pass: a cut
 * stream, an unknown frame or ExitCode null fail the attempt.  The output
 * is split as it arrives and only its last ENGINE_OUTPUT_KEEP bytes are
 * kept (after a note saying it was cut), however much a check writes.
 */
#include "probe.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

enum probe_step { STEP_IDLE, STEP_CREATE, STEP_START, STEP_INSPECT };

struct probe {
    char *id;
    json_t *cmd; /* argv for exec */
    long timeout_ms;
    double max_delay;
    double delay;
    double next_at;
    enum probe_step step;
    char *exec_id;
    unsigned attempts;
    struct buf output;
    struct engine_demuxer *demux; /* of the output stream in flight */
    void *tag;
    struct engine_req *req; /* in flight */
};

struct probe *probe_new(const char *container_id, const json_t *test, long timeout_ms,
                        long interval_ms)
{
    struct probe *p = xcalloc(1, sizeof(*p));
    const char *kind = json_string_value(json_array_get(test, 0));

    p->id = xstrdup(container_id);
    p->cmd = json_array();
    if (kind && !strcmp(kind, "CMD-SHELL")) {
        json_array_append_new(p->cmd, json_string("/bin/sh"));
        json_array_append_new(p->cmd, json_string("-c"));
        json_array_append(p->cmd, json_array_get(test, 1));
    } else {
        for (size_t i = 1; i < json_array_size(test); i++)
            json_array_append(p->cmd, json_array_get(test, i));
    }
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
    p->max_delay = interval_ms > 0 && interval_ms < 500 ? interval_ms / 1000.0 : 0.5;
    p->delay = 0.1;
    p->next_at = 0; /* the first attempt is due at once */
    buf_grow(&p->output, 0);
    return p;
}

void probe_free(struct probe *p)
{
    if (!p)
        return;
    free(p->id);
    json_decref(p->cmd);
    free(p->exec_id);
    engine_demuxer_free(p->demux);
    buf_release(&p->output);
    free(p);
}

int probe_busy(const struct probe *p)
{
    return p->step != STEP_IDLE;
}

int probe_due(const struct probe *p, double now)
{
    return p->step == STEP_IDLE && now >= p->next_at;
}

unsigned probe_attempts(const struct probe *p)
{
    return p->attempts;
}

const char *probe_last_output(const struct probe *p)
{
    return p->output.data;
}

void probe_cancel(struct probe *p, struct engine *e)
{
    if (p->req) {
        engine_req_cancel(e, p->req);
        p->req = NULL;
    }
    engine_demuxer_free(p->demux);
    p->demux = NULL;
    p->step = STEP_IDLE;
}

void probe_start(struct probe *p, struct engine *e, void *tag)
{
    struct buf path = {0};
    json_t *body =
        json_pack("{s:O, s:b, s:b}", "Cmd", p->cmd, "AttachStdout", 1, "AttachStderr", 1);

    p->tag = tag;
    p->attempts++;
    engine_pathf(&path, "/containers/%s/exec", p->id);
    p->req = engine_req_start(e, "POST", path.data, body, 10000, tag);
    p->step = STEP_CREATE;
    json_decref(body);
    buf_release(&path);
}

/* Ends an attempt that did not pass; schedules the next one. */
static enum probe_result attempt_failed(struct probe *p, double now)
{
    p->step = STEP_IDLE;
    p->next_at = now + p->delay;
    p->delay *= 2;
    if (p->delay > p->max_delay)
        p->delay = p->max_delay;
    return PROBE_FAILED;
}

/* The daemon did not answer r at all: the probe stops, its output saying why. */
static enum probe_result no_daemon(struct probe *p, struct engine_req *r)
{
    buf_reset(&p->output);
    buf_adds(&p->output, engine_req_error(r));
    p->step = STEP_IDLE;
    return PROBE_NO_DAEMON;
}

enum probe_result probe_on_done(struct probe *p, struct engine *e, struct engine_req *r, double now)
{
    long st = engine_req_status(r);
    struct buf path = {0};
    enum probe_result res = PROBE_RUNNING;

    p->req = NULL;
    switch (p->step) {
    case STEP_CREATE:
        if (st < 0)
            return no_daemon(p, r);
        if (st != 201) {
            res = attempt_failed(p, now);
            break;
        }
        const char *exec_id = json_string_value(json_object_get(engine_req_json(r), "Id"));
        if (!exec_id) { /* an answer without an exec id: nothing to start */
            res = attempt_failed(p, now);
            break;
        }
        free(p->exec_id);
        p->exec_id = xstrdup(exec_id);
        engine_pathf(&path, "/exec/%s/start", p->exec_id);
        json_t *body = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
        p->req = engine_req_start(e, "POST", path.data, body, p->timeout_ms, p->tag);
        buf_reset(&p->output);
        engine_demuxer_free(p->demux);
        p->demux = engine_demuxer_new(&p->output, 0);
        engine_req_stream_to(p->req, engine_demuxer_feed, p->demux);
        json_decref(body);
        p->step = STEP_START;
        break;
    case STEP_START: {
        struct tt_err derr = {0};
        int whole = engine_demuxer_end(p->demux, &derr) == 0;
        engine_demuxer_free(p->demux);
        p->demux = NULL;
        if (st != 200) { /* includes a check cut at its timeout */
            buf_reset(&p->output);
            if (st < 0)
                buf_printf(&p->output, "health check exceeded its timeout (%ld ms)", p->timeout_ms);
            res = attempt_failed(p, now);
            break;
        }
        if (!whole) {
            buf_printf(&p->output, "\n(health check output not whole: %s)", derr.msg);
            res = attempt_failed(p, now); /* a cut stream proves nothing */
            break;
        }
        engine_pathf(&path, "/exec/%s/json", p->exec_id);
        p->req = engine_req_start(e, "GET", path.data, NULL, 10000, p->tag);
        p->step = STEP_INSPECT;
        break;
    }
    case STEP_INSPECT: {
        if (st < 0)
            return no_daemon(p, r);
        json_t *j = engine_req_json(r);
        json_t *code = json_object_get(j, "ExitCode");
        if (st == 200 && json_is_integer(code) && json_integer_value(code) == 0 &&
            !json_is_true(json_object_get(j, "Running"))) {
            p->step = STEP_IDLE;
            res = PROBE_PASSED;
        } else {
            res = attempt_failed(p, now);
        }
        break;
    }
    case STEP_IDLE:
        break;
    }
    buf_release(&path);
    return res;
}
