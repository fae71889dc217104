/*
 * cmd_diff.c - `ttdeploy diff PLAN`: drift, as diff(1) would say it.
 * Two comparisons (deploy/diff.c makes them, this file prints them):
 *
 *   live vs recorded  what the daemon runs against the last succeeded
 *                     release in the store, as `status` judges it:
 *                     "- worker: missing", "+ debug: extra container ...",
 *                     "~ api: image sha256:ab12... (recorded) -> sha256:cd34... (running)";
 *   live vs plan      what applying PLAN now would do to each service,
 *                     and why: "plan would: recreate api (image ...)".
 *
 * Exit codes as diff(1)'s: 0 both comparisons found no difference, 1 a
 * difference, 2 bad input (usage, plan or compose file, store), 5 the
 * engine unreachable.  A project never deployed has no recorded release:
 * its containers, if any, are all extra, and the plan would create its
 * services, so diff says so and exits 1.  Nothing is written: not the
 * store (opened read-only where it cannot be written; no row is added),
 * not the engine.
 */
#include "cmd.h"
#include "buf.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A recorded or live value in words: strings as they are, arrays joined, null "none". */
static void value_text(json_t *v, struct buf *b)
{
    size_t i;
    json_t *x;
    if (json_is_string(v))
        buf_adds(b, json_string_value(v));
    else if (json_is_integer(v))
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_array(v)) {
        buf_adds(b, "[");
        json_array_foreach(v, i, x)
        {
            buf_adds(b, i ? " " : "");
            value_text(x, b);
        }
        buf_adds(b, "]");
    } else
        buf_adds(b, "none");
}

/* One line per difference of description d (live vs recorded). */
static void print_drift(json_t *d)
{
    const char *service = json_string_value(json_object_get(d, "service"));
    const char *state = json_string_value(json_object_get(d, "state"));
    const char *mode = json_string_value(json_object_get(d, "mode"));
    json_t *x;
    size_t i, k;
    struct buf b = {0};

    if (!strcmp(state, "extra")) {
        printf("+ %s: extra container %s (%s, image %s)\n", service,
               json_string_value(json_object_get(d, "container")),
               json_string_value(json_object_get(d, "container_state")) ?: "?",
               json_string_value(json_object_get(d, "image")) ?: "?");
        return;
    }
    if (!strcmp(state, "missing")) {
        const char *why = json_string_value(json_object_get(d, "error"));
        printf("- %s: missing (no %s)%s%s\n", service,
               strcmp(mode, "swarm") ? "container" : "service", why ? ": " : "", why ? why : "");
        return;
    }
    json_array_foreach(json_object_get(d, "differences"), i, x)
    {
        const char *what = json_string_value(json_object_get(x, "what"));
        json_t *rec = json_object_get(x, "recorded"), *live = json_object_get(x, "live");
        buf_reset(&b);
        if (!strcmp(what, "environment")) {
            json_t *v;
            buf_adds(&b, "environment: ");
            json_array_foreach(json_object_get(live, "variables"), k, v)
                buf_printf(&b, "%s%s", k ? ", " : "", json_string_value(v));
            buf_adds(&b, " differ from the recorded values");
        } else if (!strcmp(what, "running") && json_is_string(rec) &&
                   !strcmp(json_string_value(rec), "running")) {
            buf_printf(&b, "stopped: container %s is %s",
                       json_string_value(json_object_get(d, "container")) ?: "?",
                       json_string_value(live) ?: "?");
        } else if (!strcmp(what, "running")) {
            buf_adds(&b, json_string_value(live) ?: "restarted");
            buf_adds(&b, " (after the last deployment ended)");
        } else if (!strcmp(what, "container") && json_is_string(rec) && json_is_string(live)) {
            buf_printf(&b, "container %s (recorded: %s)", json_string_value(live),
                       json_string_value(rec));
        } else {
            buf_printf(&b, "%s ", what);
            value_text(rec, &b);
            if (!strcmp(what, "image") && json_object_get(d, "image"))
                buf_printf(&b, " (recorded %s)", json_string_value(json_object_get(d, "image")));
            else
                buf_adds(&b, " (recorded)");
            buf_adds(&b, " → ");
            value_text(live, &b);
            buf_adds(&b, " (running)");
        }
        printf("~ %s: %s\n", service, b.data);
    }
    if (json_object_get(d, "warning"))
        printf("? %s: not compared: %s\n", service,
               json_string_value(json_object_get(d, "warning")));
    if (json_object_get(d, "note"))
        printf("  %s: %s; not a difference\n", service,
               json_string_value(json_object_get(d, "note")));
    buf_release(&b);
}

/* "plan would: recreate api (image a → b, config x → y)" for entry p of live vs plan. */
static void print_plan(json_t *p)
{
    struct buf b = {0};
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(p, "reasons"), i, r)
    {
        const char *what = json_string_value(json_object_get(r, "what"));
        json_t *live = json_object_get(r, "live"), *plan = json_object_get(r, "plan");
        buf_adds(&b, i ? ", " : "");
        if (!strcmp(what, "container"))
            buf_adds(&b, "no container");
        else if (!strcmp(what, "running"))
            buf_printf(&b, "its container is %s", json_string_value(live));
        else if (!strcmp(what, "slot"))
            buf_printf(&b, "switch to the %s slot", json_string_value(plan));
        else {
            buf_printf(&b, "%s ", what);
            value_text(live, &b);
            buf_adds(&b, " → ");
            value_text(plan, &b);
        }
    }
    printf("plan would: %s %s%s%s%s\n", json_string_value(json_object_get(p, "action")),
           json_string_value(json_object_get(p, "service")), b.len ? " (" : "", b.len ? b.data : "",
           b.len ? ")" : "");
    buf_release(&b);
}

static void print_text(json_t *doc)
{
    json_t *rec = json_object_get(doc, "recorded"), *x;
    size_t i;
    int any = 0;

    if (json_is_null(rec))
        printf("live vs recorded: no succeeded release of %s is recorded\n",
               json_string_value(json_object_get(doc, "project")));
    else
        printf("live vs recorded (deployment %" JSON_INTEGER_FORMAT ", release %s):\n",
               json_integer_value(json_object_get(rec, "deployment")),
               json_string_value(json_object_get(rec, "release")) ?: "-");
    json_array_foreach(json_object_get(doc, "live_vs_recorded"), i, x)
    {
        int differs = strcmp(json_string_value(json_object_get(x, "state")), "same") ||
                      json_object_get(x, "warning");
        if (differs || json_object_get(x, "note"))
            print_drift(x);
        any |= differs;
    }
    if (!any)
        printf("  no difference\n");
    printf("live vs plan %s (release %s):\n", json_string_value(json_object_get(doc, "plan")),
           json_string_value(json_object_get(doc, "release")) ?: "-");
    any = 0;
    json_array_foreach(json_object_get(doc, "live_vs_plan"), i, x)
    {
        if (json_is_true(json_object_get(x, "changes"))) {
            print_plan(x);
            any = 1;
        }
    }
    if (!any)
        printf("  no difference: the plan would change nothing\n");
}

/*
 * The store diff reads: on the engine (--state engine, the plan's
 * state: engine) as status reads it, else the path (--state,
 * $TTDEPLOY_STATE, beside the plan).  No store file: *out NULL, nothing
 * recorded.  An exit code.
 */
static int open_diff_store(const struct apply_options *o, struct store **out)
{
    struct tt_err err = {0};
    *out = NULL;
    if (cli_open_engine_copy(o, out))
        return *out ? EXIT_OK : EXIT_UNREACHABLE;
    char *path = o->state_path ? xstrdup(o->state_path) : apply_default_state_path(o->plan_path);
    int rc = EXIT_OK;
    if (access(path, F_OK) == 0 && store_open_existing(path, out, &err) < 0) {
        fprintf(stderr, "ttdeploy diff: %s\n", err.msg);
        rc = EXIT_BAD_INPUT;
    }
    free(path);
    return rc;
}

static int cmd_diff_exec(const struct cli_args *a)
{
    struct apply_options o = {0};
    struct store *st = NULL;
    struct tt_err err = {0};
    json_t *doc = NULL;

    if (cli_apply_options(a, &o) < 0)
        return EXIT_BAD_INPUT;
    o.progress = PROGRESS_QUIET;
    int rc = open_diff_store(&o, &st);
    if (rc != EXIT_OK)
        return rc;
    enum apply_outcome res = deploy_diff(&o, st, &doc, &err);
    store_close(st);
    if (res != APPLY_OK)
        return cli_apply_exit(a, res, &err);
    if (cli_arg(a, CLI_OPT_JSON))
        cli_print_json(doc, 0);
    else
        print_text(doc);
    rc = json_is_true(json_object_get(doc, "differs")) ? EXIT_FAILED : EXIT_OK;
    json_decref(doc);
    return rc;
}

static const struct cmd_option diff_options[] = {
    {"state", 0, "PATH",
     "the state store (default: .ttdeploy/state.db beside\nPLAN); engine: in a volume on the "
     "engine",
     CLI_OPT_STATE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_diff_entry = {
    .name = "diff",
    .usage = "[--state PATH] [-H URL | --context NAME] [--insecure] [--mode local|swarm] [--json] "
             "PLAN",
    .summary = "what the daemon runs vs the last recorded release, and vs what PLAN would deploy",
    .options = {diff_options, cli_host_option, cli_mode_option, cli_json_option},
    .min_args = 1,
    .max_args = 1,
    .notes = "exit codes (as diff(1)): 0 no difference, 1 differences, 2 bad input,\n"
             "            5 engine unreachable\n",
    .exec = cmd_diff_exec,
};
