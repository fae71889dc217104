/*
 * cmd_status.c - `ttdeploy status`: what each service runs per the store
 * (the newest succeeded deployment), and whether the daemon agrees, as
 * drift_compare() (deploy/drift.c, which `diff` shares) finds it: a
 * container missing, stopped, restarted since, or running another image,
 * environment or configuration than recorded, and containers of the
 * project the release does not account for (extra), are drift.  The
 * verdict names the first difference; when the environment differs, the
 * variables whose values differ (the store holds keyed digests of
 * non-public values: no value is printed).  Also who holds the project's
 * deployment lock (host, pid, PID namespace, heartbeat age), and a
 * deployment left unfinished for `recover`.
 *
 * A release recorded in swarm mode is compared with the Swarm service
 * PROJECT_SERVICE instead: missing, its image, its environment, its spec
 * hash, and how many of its tasks run.
 */
#include "cmd.h"
#include "buf.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds since the lock's holder last refreshed its heartbeat. */
static double lock_heartbeat_age(const struct store_lock_owner *h)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9 - h->heartbeat_at;
}

/*
 * Status's word for a description of drift_compare(): "ok", or "drift:
 * ..." naming its first (most telling) difference, into text.
 */
static const char *verdict(json_t *d, struct buf *text)
{
    const char *state = json_string_value(json_object_get(d, "state"));
    json_t *first = json_array_get(json_object_get(d, "differences"), 0);
    const char *what = json_string_value(json_object_get(first, "what"));
    json_t *live = json_object_get(first, "live");
    size_t i;
    json_t *v;

    buf_reset(text);
    if (!what && json_object_get(d, "note"))
        buf_printf(text, "ok (%s)", json_string_value(json_object_get(d, "note")));
    else if (!what)
        buf_adds(text, "ok");
    else if (!strcmp(state, "extra"))
        buf_adds(text, "drift: extra container");
    else if (!strcmp(state, "missing"))
        buf_adds(text, strcmp(json_string_value(json_object_get(d, "mode")), "swarm")
                           ? "drift: no container"
                           : "drift: no service");
    else if (!strcmp(state, "stopped"))
        buf_adds(text, "drift: not running");
    else if (!strcmp(what, "running"))
        buf_adds(text, "drift: restarted since deployed");
    else if (!strcmp(what, "image"))
        buf_adds(text, "drift: another image");
    else if (!strcmp(what, "environment")) {
        buf_adds(text, "drift: another environment (");
        json_array_foreach(json_object_get(live, "variables"), i, v)
            buf_printf(text, "%s%s", i ? ", " : "", json_string_value(v));
        buf_adds(text, ")");
    } else if (!strcmp(what, "config"))
        buf_adds(text, "drift: another configuration");
    else if (!strcmp(what, "replicas"))
        buf_printf(
            text, "drift: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " tasks running",
            json_integer_value(live), json_integer_value(json_object_get(first, "recorded")));
    else if (!strcmp(what, "container"))
        buf_adds(text, "drift: another container");
    else
        buf_printf(text, "drift: another %s", what);
    return text->data;
}

/*
 * Appends the row of description d to out: its slot (blue-green, or
 * NULL), service, image, version, deployment, the daemon's verdict and
 * the state of what runs it (or NULL).  Returns 1 when the verdict is a
 * drift.
 */
static int add_row(json_t *out, json_t *d, const char *verdict)
{
    json_t *row =
        json_pack("{s:O?, s:O, s:O?, s:O?, s:s, s:O?}", "slot", json_object_get(d, "slot"),
                  "service", json_object_get(d, "service"), "image", json_object_get(d, "image"),
                  "version", json_object_get(d, "version"), "daemon", verdict, "container_state",
                  json_object_get(d, "container_state"));
    if (json_object_get(d, "deployment"))
        json_object_set(row, "deployment", json_object_get(d, "deployment"));
    json_array_append_new(out, row);
    return strcmp(verdict, "ok") != 0;
}

static int cmd_status_exec(const struct cli_args *a)
{
    struct store *st = NULL;
    struct engine *e = NULL;
    struct tt_err err = {0};
    char *project = NULL;
    int rc = cli_open_project(a, &project, &st);

    if (rc == EXIT_OK)
        rc = cli_open_engine(a, &e);
    if (rc != EXIT_OK) {
        store_close(st);
        free(project);
        return rc;
    }
    json_t *rel = store_current_releases(st, project, &err);
    json_t *unfinished = rel ? store_unfinished(st, project, &err) : NULL;
    struct store_lock_owner h = {0};
    int locked = err.msg[0] ? 0 : store_lock_holder(st, project, &h, &err);
    if (err.msg[0]) { /* the store could not answer: no status is better than a wrong one */
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        json_decref(rel);
        engine_close(e);
        store_close(st);
        free(project);
        return EXIT_BAD_INPUT;
    }
    json_t *descs = NULL, *d;
    int rc_drift = drift_compare(e, st, project, NULL, &descs, &err);
    if (rc_drift == -1) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        json_decref(rel);
        json_decref(unfinished);
        engine_close(e);
        store_close(st);
        free(project);
        return EXIT_BAD_INPUT;
    }
    if (rc_drift == -2)
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
    json_t *out = json_array();
    size_t i;
    json_t *r;
    int drift = 0;
    struct buf verdict_text = {0};
    json_array_foreach(descs, i, d)
    {
        /* Extra containers are drift only beside a recorded release. */
        if (!json_array_size(rel) &&
            !strcmp(json_string_value(json_object_get(d, "state")), "extra"))
            continue;
        if (json_object_get(d, "warning"))
            fprintf(stderr, "ttdeploy: %s\n", json_string_value(json_object_get(d, "warning")));
        drift |= add_row(out, d, verdict(d, &verdict_text));
    }
    if (cli_arg(a, CLI_OPT_JSON)) {
        json_t *doc =
            json_pack("{s:s, s:O, s:b}", "project", project, "services", out, "drift", drift);
        if (unfinished)
            json_object_set(doc, "unfinished", unfinished);
        if (locked > 0)
            json_object_set_new(doc, "lock",
                                json_pack("{s:s, s:I, s:s?, s:I, s:f, s:f}", "host", h.host, "pid",
                                          (json_int_t)h.pid, "pid_ns",
                                          h.pid_ns[0] ? h.pid_ns : NULL, "deployment",
                                          (json_int_t)h.deployment_id, "started_at", h.started_at,
                                          "heartbeat_age_s", lock_heartbeat_age(&h)));
        cli_print_json(doc, 0);
        json_decref(doc);
    } else {
        if (json_array_size(out) == 0)
            printf("no succeeded deployment of %s is recorded\n", project);
        else
            printf("%-12s %-36s %-10s %-6s %-6s %s\n", "SERVICE", "IMAGE", "VERSION", "DEPL",
                   "SLOT", "DAEMON");
        json_array_foreach(out, i, r)
        {
            char depl[24] = "-";
            if (json_object_get(r, "deployment"))
                snprintf(depl, sizeof(depl), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(r, "deployment")));
            printf("%-12s %-36s %-10s %-6s %-6s %s\n",
                   json_string_value(json_object_get(r, "service")),
                   json_string_value(json_object_get(r, "image")) ?: "-",
                   json_string_value(json_object_get(r, "version")) ?: "-", depl,
                   json_string_value(json_object_get(r, "slot")) ?: "-",
                   json_string_value(json_object_get(r, "daemon")));
        }
        if (locked > 0) {
            struct buf who = {0};
            store_lock_owner_describe(&h, &who);
            printf("locked by %s\n", who.data);
            buf_release(&who);
        }
        json_int_t uid = json_integer_value(json_object_get(unfinished, "id"));
        if (unfinished && locked > 0 && h.deployment_id == uid)
            printf("deployment %" JSON_INTEGER_FORMAT " is running (state %s)\n", uid,
                   json_string_value(json_object_get(unfinished, "state")));
        else if (unfinished)
            printf("warning: deployment %" JSON_INTEGER_FORMAT " is unfinished (state %s): run "
                   "`ttdeploy recover`\n",
                   uid, json_string_value(json_object_get(unfinished, "state")));
    }
    json_decref(out);
    json_decref(rel);
    json_decref(unfinished);
    buf_release(&verdict_text);
    json_decref(descs);
    engine_close(e);
    store_close(st);
    free(project);
    return EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .usage = "[--state PATH | --plan FILE] [-p NAME] [-H URL | --context NAME] [--insecure] "
             "[--json]",
    .summary = "what each service runs per the store, and whether the daemon agrees",
    .options = {cli_store_options, cli_project_option, cli_host_option, cli_json_option},
    .max_args = -1,
    .exec = cmd_status_exec,
};
