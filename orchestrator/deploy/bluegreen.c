/*
 * bluegreen.c - the deployment side of blue-green services (the plan's
 * rollout: strategy blue-green).  The service runs as two slot containers
 * (docker/ starts the release in one of them, stack.h's struct
 * stack_slot); the proxy's upstream file says which slot is live.  After
 * the new slot is healthy, the plan's checks aimed at the service run
 * against it alone, then the upstream file is rewritten atomically (a
 * temporary file in the same folder, renamed over it) and the proxy
 * reloaded: users move in one step, and a reload that fails puts the old
 * file back.  The old slot keeps running, idle, for keep_previous (counted
 * from the file's last change), so a switch back is only another switch;
 * after that the next ttdeploy run removes it.
 */
#include "run.h"
#include "interrupt.h"
#include "monotime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UPSTREAM_MAX (64 * 1024)

/* The file's contents (at most UPSTREAM_MAX bytes) into out; -1 when it cannot be read. */
static int read_small(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "r");
    char chunk[4096];
    size_t n;
    if (!f)
        return -1;
    while (out->len < UPSTREAM_MAX && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(out, chunk, n);
    fclose(f);
    return 0;
}

/* The slot r's upstream file routes to: "blue", "green", or NULL (no file, or neither). */
static const char *upstream_live(const struct plan_rollout *r, const char *project)
{
    static const char *const slots[] = {"blue", "green"};
    struct buf text = {0};
    const char *live = NULL;
    if (read_small(r->upstream_file, &text) == 0 && text.data) {
        for (int i = 0; i < 2 && !live; i++) {
            char *name = stack_slot_name(project, r->service, slots[i]);
            struct buf want = {0};
            buf_printf(&want, "server %s:", name);
            if (strstr(text.data, want.data))
                live = slots[i];
            buf_release(&want);
            free(name);
        }
    }
    buf_release(&text);
    return live;
}

/* Replaces path's contents by text atomically: a temporary file beside it, renamed over it. */
static int write_atomic(const char *path, const char *text, struct tt_err *err)
{
    struct buf tmp = {0};
    buf_printf(&tmp, "%s.ttdeploy-XXXXXX", path);
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        int e = errno;
        buf_release(&tmp);
        return tt_error(err,
                        "cannot write beside %s: %s (the upstream file's folder must exist "
                        "and be writable)",
                        path, strerror(e));
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp.data, path) < 0) {
        e = ok ? errno : e;
        unlink(tmp.data);
        buf_release(&tmp);
        return tt_error(err, "cannot write %s: %s", path, strerror(e));
    }
    buf_release(&tmp);
    return 0;
}

static int upstream_write(struct run *a, const struct plan_rollout *r, const char *slot,
                          struct tt_err *err)
{
    char *name = stack_slot_name(a->project->name, r->service, slot);
    struct buf text = {0};
    buf_printf(&text,
               "# Written by ttdeploy: %s %s is served by its %s slot (deployment %lld).\n"
               "# ttdeploy rewrites this file at each switch; edits here are lost.\n"
               "upstream %s {\n    server %s:%d;\n}\n",
               a->project->name, r->service, slot, a->id, r->upstream_name, name, r->upstream_port);
    int rc = write_atomic(r->upstream_file, text.data, err);
    buf_release(&text);
    free(name);
    return rc;
}

/* Runs the rollout's reload command in the proxy's container; 1 when the proxy does not run. */
static int proxy_reload(struct run *a, const struct plan_rollout *r, struct buf *said,
                        struct tt_err *err)
{
    char *id = stack_container_id(a->engine, a->project->name, r->proxy);
    json_t *argv = json_array();
    int code = -1, rc;
    if (!id) {
        json_decref(argv);
        return 1;
    }
    for (size_t i = 0; i < r->reload.n; i++)
        json_array_append_new(argv, json_string(r->reload.v[i]));
    rc = engine_exec(a->engine, id, argv, 30000, &code, said, err);
    if (rc == 0 && code != 0)
        rc = tt_error(err, "%s exited %d in %s: %.300s", r->reload.v[0], code, r->proxy,
                      said->data ? said->data : "");
    json_decref(argv);
    free(id);
    return rc < 0 ? -1 : 0;
}

/* The slot of a start-first service that runs (blue when both do, after a crash), or NULL. */
static const char *running_slot(struct run *a, const char *service)
{
    if (stack_slot_running(a->engine, a->project->name, service, "blue"))
        return "blue";
    return stack_slot_running(a->engine, a->project->name, service, "green") ? "green" : NULL;
}

void bluegreen_options(struct run *a, struct stack_options *so)
{
    free(a->bg);
    a->bg = xcalloc(a->project->nservices + 1, sizeof(*a->bg));
    a->nbg = 0;
    for (size_t i = 0; i < a->project->nservices; i++) {
        const struct compose_service *s = a->project->services[i];
        const struct plan_rollout *r = plan_blue_green(a->plan, s->name);
        if (!r && !s->start_first)
            continue;
        a->bg[a->nbg].service = s->name;
        a->bg[a->nbg].live = r ? upstream_live(r, a->project->name) : running_slot(a, s->name);
        a->bg[a->nbg].service_alias = !r;
        a->nbg++;
    }
    so->slots = a->bg;
    so->nslots = a->nbg;
}

/* Removes r's idle slot once keep_previous has passed since the last switch. */
static int expire_idle(struct run *a, const struct plan_rollout *r, const char *live)
{
    struct stat st;
    const char *idle = strcmp(live, "blue") ? "blue" : "green";
    if (stat(r->upstream_file, &st) < 0 ||
        (long long)(time(NULL) - st.st_mtime) * 1000000000LL < r->keep_ns ||
        !stack_slot_running(a->engine, a->project->name, r->service, idle))
        return 0;
    struct buf intent = {0}, detail = {0};
    buf_printf(&intent, "remove the idle %s slot of %s: keep_previous ended", idle, r->service);
    struct tt_err e = {0};
    int rc = stack_slot_remove(a->engine, a->project->name, r->service, idle, 10, &e);
    buf_printf(&detail, "removed: idle since the switch %lld s ago, keep_previous %.0f s",
               (long long)(time(NULL) - st.st_mtime), r->keep_ns / 1e9);
    step_note(a, a->state, r->service, "remove-slot", intent.data, rc == 0 ? STEP_OK : STEP_FAILED,
              rc == 0 ? detail.data : e.msg);
    buf_release(&intent);
    buf_release(&detail);
    return 0; /* a slot that would not go is reported, not fatal: it is idle */
}

int bluegreen_before_up(struct run *a, const struct strv *services)
{
    for (size_t i = 0; i < a->nbg; i++) {
        const struct plan_rollout *r = plan_blue_green(a->plan, a->bg[i].service);
        if (!r || !strv_contains(services, r->service))
            continue;
        if (a->bg[i].live) {
            expire_idle(a, r, a->bg[i].live);
            continue;
        }
        /* No upstream yet: the first slot is blue, and the proxy must find the file at start. */
        struct tt_err e = {0};
        if (upstream_write(a, r, "blue", &e) < 0)
            return tt_error(a->err, "rollout %s: %s", r->service, e.msg);
    }
    return 0;
}

/* Runs every check of the plan aimed at r's service against the container of slot. */
static int check_slot(struct run *a, const struct plan_rollout *r, const char *slot)
{
    char *container = stack_slot_name(a->project->name, r->service, slot);
    struct strv pairs = {0};
    int rc = 0;
    strv_push(&pairs, r->service);
    strv_push(&pairs, container);
    for (size_t i = 0; rc == 0 && i < a->plan->nchecks; i++) {
        const struct plan_check *c = &a->plan->checks[i];
        if (!verify_targets(c, r->service))
            continue;
        struct verify_context v = {
            a->engine,       a->project,
            a->plan->db_url, monotime_now() + a->plan->verify_timeout_ms / 1000.0,
            &pairs,          0};
        struct buf intent = {0}, detail = {0};
        struct tt_err e = {0};
        long long step;
        buf_printf(&intent, "check %s against the %s slot of %s, before any user reaches it",
                   c->name, slot, r->service);
        verify_measure_clear(&a->fail_measure);
        if (step_begin(a, a->state, r->service, "check-slot", intent.data, &step) < 0) {
            rc = -1;
        } else {
            int res = verify_run(&v, c, NULL, &detail, &a->fail_measure, &e);
            step_end(a, step, res == 0 ? STEP_OK : STEP_FAILED, detail.data, res ? e.msg : NULL);
            run_say(a, "%s: check %s in the %s slot: %s", r->service, c->name, slot,
                    res == 0 ? "ok" : e.msg);
            if (res != 0) {
                tt_error(a->err, "%s (in the %s slot; users stay on the live one)", e.msg, slot);
                free(a->fail_check);
                a->fail_check = xstrdup(c->name);
                free(a->fail_service);
                a->fail_service = xstrdup(r->service);
                rc = -1;
            }
        }
        buf_release(&intent);
        buf_release(&detail);
    }
    strv_clear(&pairs);
    free(container);
    return rc;
}

/* The switch of r to slot, for step_run: upstream file, then the proxy's reload. */
struct switch_ctx {
    const struct plan_rollout *r;
    const char *to, *from;
    int proxy_fresh; /* the proxy was (re)started by this up, after the file was written */
};

static enum action_result do_switch(struct run *a, void *ctx, struct buf *detail,
                                    struct tt_err *err)
{
    const struct switch_ctx *s = ctx;
    struct buf before = {0}, said = {0};
    double t0 = monotime_now();
    const char *routed = upstream_live(s->r, a->project->name);
    if (!s->from && s->proxy_fresh && routed && !strcmp(routed, s->to)) {
        buf_printf(detail, "%s started with %s routed to the %s slot: no reload needed",
                   s->r->proxy, s->r->upstream_name, s->to);
        return ACTION_DONE;
    }
    read_small(s->r->upstream_file, &before);
    if (upstream_write(a, s->r, s->to, err) < 0) {
        buf_release(&before);
        return ACTION_FAILED;
    }
    int rc = proxy_reload(a, s->r, &said, err);
    if (rc < 0 && before.data) { /* the proxy refused: users stay where they were */
        struct tt_err e2 = {0};
        if (write_atomic(s->r->upstream_file, before.data, &e2) < 0)
            buf_printf(detail, "could not put the old upstream file back: %s; ", e2.msg);
        else
            buf_adds(detail, "the old upstream file is back; ");
    }
    if (rc == 0)
        buf_printf(detail, "%s now routes %s to its %s slot (%s: %.0f ms)", s->r->proxy,
                   s->r->upstream_name, s->to,
                   rc == 1 ? "proxy not running, it reads the file at start" : "reloaded",
                   (monotime_now() - t0) * 1000);
    buf_release(&before);
    buf_release(&said);
    return rc < 0 ? ACTION_FAILED : ACTION_DONE;
}

/* Waits the rollout's drain, or until a stop signal. */
static void drain(const struct plan_rollout *r)
{
    double end = monotime_now() + r->drain_ns / 1e9;
    while (monotime_now() < end && !interrupt_signal()) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * A start-first service's new slot is ready: the old slot (and a
 * container from before slots) is stopped with the service's grace and
 * removed, as one step.
 */
static int retire_old(struct run *a, const struct stack_slot *bg, const char *slot)
{
    const struct compose_service *s = compose_find_service(a->project, bg->service);
    long grace = s->stop_grace_period > 0 ? (long)(s->stop_grace_period / 1000000000LL) : 10;
    struct buf intent = {0}, detail = {0};
    struct tt_err e = {0};
    long long step;
    int rc;

    buf_printf(&intent, "start-first: %s runs in its %s slot; stop and remove the %s one",
               bg->service, slot, bg->live ? bg->live : "old");
    if (step_begin(a, a->state, bg->service, "retire", intent.data, &step) < 0) {
        buf_release(&intent);
        return -1;
    }
    rc = bg->live ? stack_slot_remove(a->engine, a->project->name, bg->service, bg->live, grace, &e)
                  : 0;
    if (rc == 0)
        rc = stack_slot_remove(a->engine, a->project->name, bg->service, NULL, grace, &e);
    buf_printf(&detail, "the %s slot serves alone", slot);
    step_end(a, step, rc == 0 ? STEP_OK : STEP_FAILED, detail.data, rc == 0 ? NULL : e.msg);
    buf_release(&intent);
    buf_release(&detail);
    return rc == 0 ? 0 : tt_error(a->err, "%s", e.msg);
}

int bluegreen_after_up(struct run *a, const struct stack_report *report, int check)
{
    strv_clear(&a->live_slots);
    for (size_t i = 0; i < a->nbg; i++) {
        const struct plan_rollout *r = plan_blue_green(a->plan, a->bg[i].service);
        if (!r) {
            const struct stack_result *x = tier_result_for(report, a->bg[i].service);
            if (x && x->slot[0] && (!a->bg[i].live || strcmp(a->bg[i].live, x->slot)) &&
                strcmp(x->state, "failed") && strcmp(x->state, "unfinished")) {
                if (retire_old(a, &a->bg[i], x->slot) < 0)
                    return -1;
                a->bg[i].live = x->slot[0] == 'b' ? "blue" : "green";
            }
            continue;
        }
        const struct stack_result *x = tier_result_for(report, r->service);
        const char *live = a->bg[i].live;
        if (x && x->slot[0] && (!live || strcmp(live, x->slot))) {
            if (check && live && check_slot(a, r, x->slot) < 0)
                return -1;
            const struct stack_result *px = tier_result_for(report, r->proxy);
            struct switch_ctx s = {r, x->slot, live, px && strcmp(px->action, "unchanged")};
            struct step_desc d = {a->state, r->service, "switch", NULL};
            struct buf intent = {0}, detail = {0};
            buf_printf(&intent, "route %s to its %s slot (was %s), then drain %.1f s", r->service,
                       x->slot, live ? live : "none", r->drain_ns / 1e9);
            d.intent = intent.data;
            enum action_result res = step_run(a, &d, do_switch, &s, &detail, a->err);
            buf_release(&intent);
            buf_release(&detail);
            if (res == ACTION_FAILED) {
                free(a->fail_service);
                a->fail_service = xstrdup(r->service);
                return -1;
            }
            run_say(a, "%s: %s slot live; draining %.1f s", r->service, x->slot, r->drain_ns / 1e9);
            if (live)
                drain(r);
            struct tt_err e = {0}; /* a container from before the service had slots */
            if (stack_slot_remove(a->engine, a->project->name, r->service, NULL, 10, &e) < 0)
                run_say(a, "%s: the container from before its slots stays: %s", r->service, e.msg);
            a->bg[i].live = x->slot[0] == 'b' ? "blue" : "green";
        }
        if (a->bg[i].live) {
            strv_push(&a->live_slots, r->service);
            strv_push_owned(&a->live_slots,
                            stack_slot_name(a->project->name, r->service, a->bg[i].live));
        }
    }
    return 0;
}

int bluegreen_switch_pending(const struct run *a, const struct stack_result *x)
{
    for (size_t i = 0; i < a->nbg; i++)
        if (!strcmp(a->bg[i].service, x->service))
            return x->slot[0] && (!a->bg[i].live || strcmp(a->bg[i].live, x->slot));
    return 0;
}
