/*
 * cmd_status.c - `ttdeploy status`: what each service runs per the store
 * (the newest succeeded deployment), and whether the daemon agrees: a
 * container missing, stopped, or running another image or configuration
 * than recorded is drift; when the configuration differs, the environment
 * variables whose values differ from the recorded ones are named (the
 * store holds keyed digests of non-public values: the live value's
 * digest is compared, and no value is printed).  Also who holds the project's deployment lock
 * (host, pid, PID namespace, heartbeat age), and a deployment left
 * unfinished for `recover`.
 *
 * A release recorded in swarm mode (its row keeps the service's spec) is
 * compared with the Swarm service PROJECT_SERVICE instead: missing, its
 * spec hash, its image, its environment, and how many of its tasks run.
 */
#include "cmd.h"
#include "buf.h"
#include "container_spec.h"
#include "stack.h"
#include "store.h"
#include "swarm.h"

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

/* The value of NAME in a container's Config.Env ("NAME=value" strings), or NULL. */
static const char *live_env(json_t *env, const char *name)
{
    size_t i, n = strlen(name);
    json_t *kv;
    json_array_foreach(env, i, kv)
    {
        const char *t = json_string_value(kv);
        if (t && !strncmp(t, name, n) && t[n] == '=')
            return t + n + 1;
    }
    return NULL;
}

/*
 * Appends to names the environment variables the release row recorded
 * whose value in env (an array of "NAME=value") differs (a digest
 * compared with the live value's digest under the store's key).  Values
 * recorded with a URL password redacted, and variables recorded without a
 * value, are not compared.  Returns how many differ; -1 with err when the
 * key cannot be read.
 */
static int env_drift(struct store *st, json_t *release, json_t *env, struct buf *names,
                     struct tt_err *err)
{
    json_t *recorded = json_loads(store_text(release, "environment", "{}"), 0, NULL);
    const char *name;
    json_t *v;
    int n = 0;

    json_object_foreach(recorded, name, v)
    {
        const char *want = json_string_value(v), *have = live_env(env, name);
        int same = !want || strstr(want, "<redacted>")
                       ? 1
                       : (have ? store_hmac_matches(st, want, have, err) : 0);
        if (same < 0) {
            n = -1;
            break;
        }
        if (!same)
            buf_printf(names, "%s%s", n++ ? ", " : "", name);
    }
    json_decref(recorded);
    return n;
}

/* env_drift() against the environment of container id. */
static int environment_drift(struct engine *e, struct store *st, json_t *release, const char *id,
                             struct buf *names, struct tt_err *err)
{
    json_t *info = NULL;
    struct buf path = {0};
    int n = -1;

    buf_printf(&path, "/containers/%s/json", id);
    if (engine_call_ok(e, "GET", path.data, NULL, 0, &info, err) == 0)
        n = env_drift(st, release, json_object_get(json_object_get(info, "Config"), "Env"), names,
                      err);
    json_decref(info);
    buf_release(&path);
    return n;
}

/* The replicas the spec recorded in release r asks for; -1 when global or unknown. */
static json_int_t recorded_replicas(json_t *r)
{
    json_t *spec = json_loads(store_text(r, "spec", "{}"), 0, NULL);
    json_t *n =
        json_object_get(json_object_get(json_object_get(spec, "Mode"), "Replicated"), "Replicas");
    json_int_t want = json_is_integer(n) ? json_integer_value(n) : -1;
    json_decref(spec);
    return want;
}

/* How many of the service's tasks run, and how many are meant to (*total). */
static json_int_t running_tasks(struct engine *e, json_t *svc, json_int_t *total)
{
    json_t *tasks = NULL, *t;
    struct tt_err err = {0};
    json_int_t running = 0;
    size_t i;

    *total = 0;
    if (swarm_service_tasks(e, json_string_value(json_object_get(svc, "ID")), 1, &tasks, &err) < 0)
        return 0;
    json_array_foreach(tasks, i, t)
    {
        const char *s = json_string_value(json_object_get(json_object_get(t, "Status"), "State"));
        (*total)++;
        running += s && !strcmp(s, "running");
    }
    json_decref(tasks);
    return running;
}

/*
 * The verdict on the Swarm service of release r ("ok" or "drift: ...",
 * in text), and in state how many of its tasks run ("running 2/2").  A
 * change by hand (`docker service update --image/--env-add/--replicas`)
 * keeps ttdeploy's labels, so the image, the environment and the replicas
 * are read from the live spec, not only the spec hash label.
 */
static void swarm_verdict(struct engine *e, struct store *st, const char *project, json_t *r,
                          struct buf *text, struct buf *state)
{
    const char *service = json_string_value(json_object_get(r, "service"));
    char *name = swarm_service_name(project, service);
    struct tt_err err = {0};
    struct buf names = {0};
    json_t *svc = NULL;

    buf_reset(text);
    buf_reset(state);
    if (swarm_service_inspect(e, name, &svc, &err) < 0 || !svc) {
        buf_printf(text, svc ? "unknown: %s" : "drift: no service", err.msg);
        free(name);
        return;
    }
    json_t *spec = json_object_get(svc, "Spec");
    json_t *cs = json_object_get(json_object_get(spec, "TaskTemplate"), "ContainerSpec");
    const char *hash = json_string_value(json_object_get(r, "config_hash"));
    const char *have =
        json_string_value(json_object_get(json_object_get(spec, "Labels"), SWARM_LABEL_HASH));
    const char *image = json_string_value(json_object_get(r, "image"));
    const char *have_image = json_string_value(json_object_get(cs, "Image"));
    json_int_t total, running = running_tasks(e, svc, &total);
    json_int_t want = recorded_replicas(r);
    if (want < 0)
        want = total;
    buf_printf(state, "running %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, running, want);
    int env_changed = env_drift(st, r, json_object_get(cs, "Env"), &names, &err);

    if (image && have_image && strncmp(image, have_image, strcspn(have_image, "@")))
        buf_adds(text, "drift: another image");
    else if (env_changed > 0)
        buf_printf(text, "drift: another environment (%s)", names.data);
    else if (hash && (!have || strcmp(hash, have)))
        buf_adds(text, "drift: another configuration");
    else if (running < want)
        buf_printf(text,
                   "drift: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " tasks running",
                   running, want);
    else
        buf_adds(text, "ok");
    buf_release(&names);
    json_decref(svc);
    free(name);
}

/*
 * Appends the row of release r to out: its slot (blue-green, or NULL),
 * service, image, version, deployment, the daemon's verdict and the state
 * of what runs it (or NULL).  Returns 1 when the verdict is a drift.
 */
static int add_row(json_t *out, json_t *r, const char *slot, const char *verdict, const char *state)
{
    json_array_append_new(
        out, json_pack("{s:s?, s:s, s:s?, s:s?, s:I, s:s, s:s?}", "slot", slot, "service",
                       json_string_value(json_object_get(r, "service")), "image",
                       json_string_value(json_object_get(r, "image")), "version",
                       json_string_value(json_object_get(r, "version")), "deployment",
                       json_integer_value(json_object_get(r, "deployment_id")), "daemon", verdict,
                       "container_state", state));
    return strcmp(verdict, "ok") != 0;
}

/*
 * How well container cont stands for the recorded release r of service: -1
 * not service's (or a one-off), 0 another one, +1 running, +2 its image,
 * +4 its configuration.  Of a blue-green service's two slots, the live one
 * fits best.
 */
static int container_fit(json_t *cont, json_t *r, const char *service)
{
    json_t *labels = json_object_get(cont, "Labels");
    const char *s = json_string_value(json_object_get(labels, LABEL_SERVICE));
    const char *oneoff = json_string_value(json_object_get(labels, LABEL_ONEOFF));
    const char *image = json_string_value(json_object_get(r, "image_id"));
    const char *hash = json_string_value(json_object_get(r, "config_hash"));
    const char *have = json_string_value(json_object_get(labels, LABEL_CONFIG_HASH));
    const char *state = json_string_value(json_object_get(cont, "State"));
    const char *image_id = json_string_value(json_object_get(cont, "ImageID"));
    if (!s || strcmp(s, service) || (oneoff && !strcmp(oneoff, "True")))
        return -1;
    return (state && !strcmp(state, "running")) +
           2 * (image && image_id && !strcmp(image, image_id)) +
           4 * (hash && have && !strcmp(hash, have));
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
    json_t *live = NULL;
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
    if (stack_project_containers(e, project, &live, &err) < 0)
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
    json_t *out = json_array();
    size_t i, k;
    json_t *r, *cont;
    int drift = 0;
    struct buf verdict_text = {0};
    json_array_foreach(rel, i, r)
    {
        const char *service = json_string_value(json_object_get(r, "service"));
        if (json_is_string(json_object_get(r, "spec"))) { /* recorded in swarm mode */
            struct buf state = {0};
            swarm_verdict(e, st, project, r, &verdict_text, &state);
            drift |= add_row(out, r, NULL, verdict_text.data, state.data);
            buf_release(&state);
            continue;
        }
        json_t *match = NULL;
        int best = -1;
        json_array_foreach(live, k, cont)
        {
            int fit = container_fit(cont, r, service);
            if (fit > best) { /* blue-green: the slot that runs the release is the live one */
                match = cont;
                best = fit;
            }
        }
        const char *slot =
            match ? json_string_value(json_object_get(json_object_get(match, "Labels"), LABEL_SLOT))
                  : NULL;
        const char *verdict = "ok";
        if (!match)
            verdict = "drift: no container";
        else if (strcmp(json_string_value(json_object_get(match, "State")), "running"))
            verdict = "drift: not running";
        else if (json_string_value(json_object_get(r, "image_id")) &&
                 strcmp(json_string_value(json_object_get(match, "ImageID")),
                        json_string_value(json_object_get(r, "image_id"))))
            verdict = "drift: another image";
        else if (json_string_value(json_object_get(r, "config_hash")) &&
                 strcmp(json_string_value(
                            json_object_get(json_object_get(match, "Labels"), LABEL_CONFIG_HASH))
                            ?: "",
                        json_string_value(json_object_get(r, "config_hash"))))
            verdict = "drift: another configuration";
        if (!strcmp(verdict, "drift: another configuration")) {
            struct buf names = {0};
            struct tt_err env_err = {0};
            int n = environment_drift(e, st, r, json_string_value(json_object_get(match, "Id")),
                                      &names, &env_err);
            if (n < 0)
                fprintf(stderr, "ttdeploy: %s\n", env_err.msg);
            buf_reset(&verdict_text);
            if (n > 0) {
                buf_printf(&verdict_text, "drift: another environment (%s)", names.data);
                verdict = verdict_text.data;
            }
            buf_release(&names);
        }
        drift |= add_row(out, r, slot, verdict,
                         match ? json_string_value(json_object_get(match, "State")) : NULL);
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
            printf("%-12s %-36s %-10s %-6" JSON_INTEGER_FORMAT " %-6s %s\n",
                   json_string_value(json_object_get(r, "service")),
                   json_string_value(json_object_get(r, "image")) ?: "-",
                   json_string_value(json_object_get(r, "version")) ?: "-",
                   json_integer_value(json_object_get(r, "deployment")),
                   json_string_value(json_object_get(r, "slot")) ?: "-",
                   json_string_value(json_object_get(r, "daemon")));
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
    json_decref(live);
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
