/*
 * drift.c - what the daemon runs compared with the last succeeded release
 * the store records: the one comparison `status` and `diff` share.
 *
 * Each recorded service gets a description
 *   {service, mode, state: same|changed|missing|stopped,
 *    differences: [{what, recorded, live}], image, version, deployment,
 *    slot, container_state, note (restarts by its restart policy)}
 * and each container of the project that no recorded service accounts
 * for (a service the release did not run, or a second container of one
 * that did, a blue-green idle slot aside) one with state "extra".
 *
 * Local mode: the container that fits the release best (running, its
 * image, its config hash; of a blue-green service's two slots the live
 * one) is compared, in this order: missing, not running, image ID,
 * environment (keyed digests of the recorded values against the live
 * values: no value is read out), config hash label, the container ID when
 * one was recorded, a container made after the newest finished deployment
 * (by hand), and a start after it by hand (docker restart, or the daemon
 * starting it again when it restarts).  Starts by the container's restart
 * policy (the app exited; Docker counts them in RestartCount, which any
 * other start zeroes) change nothing the release set: they are a "note",
 * never a difference.  Given the plan's
 * project, a service whose configuration the plan still hashes as
 * recorded also has its command, entrypoint and published ports compared
 * with the container's own (a container made by hand with ttdeploy's
 * labels copied carries the recorded hash but not its configuration).
 *
 * Swarm mode (the release row keeps the service's spec): the Swarm
 * service PROJECT_SERVICE is compared: missing, its image, its
 * environment, its spec hash, how many of its tasks run.  A change by
 * hand (`docker service update`) keeps ttdeploy's labels, so the image,
 * environment and replicas are read from the live spec.
 *
 * Nothing here writes: the store is only read, the engine only asked.
 */
#include "run.h"
#include "container_spec.h"
#include "redact.h"
#include "swarm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A container created or started more than this after the newest
 * deployment ended (on the daemon's clock, corrected by the skew /info
 * shows) was made or started again since.
 */
#define DRIFT_MARGIN_S 0.25

/* Appends {what, recorded, live} to the description's differences (recorded, live: stolen). */
static void add_difference(json_t *desc, const char *what, json_t *recorded, json_t *live)
{
    json_array_append_new(json_object_get(desc, "differences"),
                          json_pack("{s:s, s:o, s:o}", "what", what, "recorded",
                                    recorded ? recorded : json_null(), "live",
                                    live ? live : json_null()));
}

/* "sha256:0123456789ab" of an image or container ID (12 hex digits), as a new string. */
static json_t *short_id(const char *id)
{
    if (!id)
        return json_null();
    const char *hex = strncmp(id, "sha256:", 7) ? id : id + 7;
    return json_sprintf("%s%.12s", hex == id ? "" : "sha256:", hex);
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
 * The names of the environment variables release r recorded whose value
 * in env (an array of "NAME=value") differs (a digest compared with the
 * live value's digest under the store's key), as a new array.  Values
 * recorded with a URL password redacted, and variables recorded without a
 * value, are not compared.  NULL with err when the key cannot be read.
 */
static json_t *env_drift(struct store *st, json_t *r, json_t *env, struct tt_err *err)
{
    json_t *recorded = json_loads(store_text(r, "environment", "{}"), 0, NULL);
    json_t *names = json_array(), *v;
    const char *name;

    json_object_foreach(recorded, name, v)
    {
        const char *want = json_string_value(v), *have = live_env(env, name);
        int same = !want || strstr(want, "<redacted>")
                       ? 1
                       : (have ? store_hmac_matches(st, want, have, err) : 0);
        if (same < 0) {
            json_decref(names);
            names = NULL;
            break;
        }
        if (!same)
            json_array_append_new(names, json_string(name));
    }
    json_decref(recorded);
    return names;
}

/* Adds an "environment" difference naming the variables of names (stolen) when there are any. */
static void add_env_difference(json_t *desc, json_t *names)
{
    if (json_array_size(names))
        add_difference(desc, "environment", json_string("recorded values"),
                       json_pack("{s:o}", "variables", names));
    else
        json_decref(names);
}

/* A new description of the service of release r, state "same" until a difference is added. */
static json_t *describe(json_t *r, const char *mode)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:s?, s:s?, s:I}", "service",
                     json_string_value(json_object_get(r, "service")), "mode", mode, "state",
                     "same", "differences", "image", json_string_value(json_object_get(r, "image")),
                     "version", json_string_value(json_object_get(r, "version")), "deployment",
                     json_integer_value(json_object_get(r, "deployment_id")));
}

/* ---- swarm mode --------------------------------------------------------- */

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

/* The differences of the Swarm service of release r into desc; container_state "running 2/2". */
static void swarm_compare(struct engine *e, struct store *st, const char *project, json_t *r,
                          json_t *desc)
{
    char *name = swarm_service_name(project, json_string_value(json_object_get(r, "service")));
    struct tt_err err = {0};
    json_t *svc = NULL;

    if (swarm_service_inspect(e, name, &svc, &err) < 0 || !svc) {
        /* Not there, or the engine cannot say (no longer a manager): missing, and why. */
        if (err.msg[0])
            json_object_set_new(desc, "error", json_string(err.msg));
        add_difference(desc, "container", json_sprintf("service %s", name), NULL);
        json_decref(svc);
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
    json_object_set_new(
        desc, "container_state",
        json_sprintf("running %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, running, want));
    if (image && have_image && strncmp(image, have_image, strcspn(have_image, "@")))
        add_difference(desc, "image", json_string(image), json_string(have_image));
    json_t *names = env_drift(st, r, json_object_get(cs, "Env"), &err);
    if (!names)
        json_object_set_new(desc, "warning", json_string(err.msg));
    add_env_difference(desc, names);
    if (hash && (!have || strcmp(hash, have)))
        add_difference(desc, "config", short_id(hash), short_id(have));
    if (running < want)
        add_difference(desc, "replicas", json_integer(want), json_integer(running));
    json_decref(svc);
    free(name);
}

/* ---- local mode --------------------------------------------------------- */

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

/*
 * Docker's RFC 3339 time ("2026-12-02T05:14:07.123456789Z", or with an
 * offset "+02:00") as unix seconds; 0 when unreadable.
 */
static double docker_time(const char *t)
{
    struct tm tm = {0};
    char *rest = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest || tm.tm_year < 100)
        return 0;
    double at = (double)timegm(&tm);
    if (*rest == '.')
        at += strtod(rest, &rest);
    int hh, mm;
    if ((*rest == '+' || *rest == '-') && sscanf(rest + 1, "%2d:%2d", &hh, &mm) == 2)
        at -= (*rest == '+' ? 1 : -1) * (hh * 3600.0 + mm * 60.0);
    return at;
}

/* A string of "ip:hostport->port" bindings of PortBindings, sorted, for comparison. */
static json_t *port_list(json_t *bindings)
{
    json_t *out = json_array(), *list, *b;
    const char *port;
    size_t i;
    json_object_foreach(bindings, port, list)
    {
        json_array_foreach(list, i, b)
        {
            const char *ip = json_string_value(json_object_get(b, "HostIp"));
            const char *hp = json_string_value(json_object_get(b, "HostPort"));
            json_array_append_new(out, json_sprintf("%s%s%s->%s", ip && *ip ? ip : "",
                                                    ip && *ip ? ":" : "", hp ? hp : "", port));
        }
    }
    /* few entries: a plain insertion sort */
    for (size_t k = 1; k < json_array_size(out); k++)
        for (size_t j = k; j > 0 && strcmp(json_string_value(json_array_get(out, j - 1)),
                                           json_string_value(json_array_get(out, j))) > 0;
             j--) {
            json_t *x = json_incref(json_array_get(out, j));
            json_array_set(out, j, json_array_get(out, j - 1));
            json_array_set_new(out, j - 1, x);
        }
    return out;
}

/*
 * argv (a JSON array of strings, or anything else) with the values of the
 * service's secret variables taken out: a command often carries
 * --password=... after interpolation, and drift is printed (a new value).
 */
static json_t *argv_redacted(json_t *argv, const struct compose_service *s)
{
    if (!json_is_array(argv))
        return json_incref(argv);
    struct strv secrets = {0};
    run_service_secrets(s, NULL, &secrets);
    static const char *const none[] = {NULL};
    json_t *out = json_array(), *item;
    size_t i;
    json_array_foreach(argv, i, item)
    {
        char *r = json_is_string(item)
                      ? redact_text(json_string_value(item),
                                    secrets.n ? (const char *const *)secrets.v : none)
                      : NULL;
        json_array_append_new(out, r ? json_string(r) : json_incref(item));
        free(r);
    }
    strv_clear(&secrets);
    return out;
}

/*
 * With the plan's project p, when p still hashes service's configuration
 * as recorded: the command, entrypoint and ports of container info
 * compared with what that configuration asks for.
 */
static void config_compare(const struct compose_project *p, json_t *r, json_t *info, json_t *desc)
{
    const char *service = json_string_value(json_object_get(r, "service"));
    const struct compose_service *s = p ? compose_find_service(p, service) : NULL;
    const char *hash = json_string_value(json_object_get(r, "config_hash"));
    if (!s || !hash)
        return;
    struct container_spec *c = container_spec_new(p, s, NULL);
    if (!strcmp(c->hash, hash)) {
        json_t *cfg = json_object_get(info, "Config");
        static const char *const keys[] = {"Cmd", "Entrypoint"};
        static const char *const whats[] = {"command", "entrypoint"};
        for (int k = 0; k < 2; k++) {
            json_t *want = json_object_get(c->body, keys[k]);
            json_t *have = json_object_get(cfg, keys[k]);
            if (want && !json_equal(want, have))
                add_difference(desc, whats[k], argv_redacted(want, s),
                               have ? argv_redacted(have, s) : json_null());
        }
        json_t *want =
            port_list(json_object_get(json_object_get(c->body, "HostConfig"), "PortBindings"));
        json_t *have =
            port_list(json_object_get(json_object_get(info, "HostConfig"), "PortBindings"));
        if (!json_equal(want, have))
            add_difference(desc, "ports", want, have);
        else
            json_decref(want), json_decref(have);
    }
    container_spec_free(c);
}

/*
 * Seconds the daemon's clock is ahead of ours (its /info SystemTime), so
 * that its container times compare with the store's; 0 when unknown.
 */
static double daemon_skew(struct engine *e)
{
    json_t *info = NULL;
    struct tt_err err = {0};
    struct timespec now;
    double skew = 0;
    if (engine_call_ok(e, "GET", "/info", NULL, 0, &info, &err) == 0) {
        double t = docker_time(json_string_value(json_object_get(info, "SystemTime")));
        clock_gettime(CLOCK_REALTIME, &now);
        if (t > 0)
            skew = t - ((double)now.tv_sec + now.tv_nsec / 1e9);
    }
    json_decref(info);
    return skew;
}

/*
 * The newest end of a deployment of project (any outcome), on the
 * daemon's clock; 0 when none ended.
 */
static double last_finished(struct engine *e, struct store *st, const char *project)
{
    struct store_history_filter f = {.limit = 5, .project = project};
    struct tt_err err = {0};
    json_t *rows = store_history(st, &f, &err), *row;
    double at = 0;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        double t = json_number_value(json_object_get(row, "finished_at"));
        if (t > at)
            at = t;
    }
    json_decref(rows);
    return at > 0 ? at + daemon_skew(e) : 0;
}

/* The differences of match (the best container, or NULL) from release r into desc. */
static void local_compare(struct engine *e, struct store *st, const struct compose_project *p,
                          json_t *r, json_t *match, double finished, json_t *desc)
{
    const char *want_image = json_string_value(json_object_get(r, "image_id"));
    const char *want_hash = json_string_value(json_object_get(r, "config_hash"));
    const char *want_id = json_string_value(json_object_get(r, "container_id"));
    if (!match) {
        add_difference(desc, "container", want_id ? short_id(want_id) : json_string("a container"),
                       NULL);
        return;
    }
    json_t *labels = json_object_get(match, "Labels");
    const char *id = json_string_value(json_object_get(match, "Id"));
    const char *state = json_string_value(json_object_get(match, "State"));
    const char *image_id = json_string_value(json_object_get(match, "ImageID"));
    const char *hash = json_string_value(json_object_get(labels, LABEL_CONFIG_HASH));
    const char *name = json_string_value(json_array_get(json_object_get(match, "Names"), 0));
    json_object_set_new(desc, "container", json_sprintf("%s", name ? name + (*name == '/') : "?"));
    json_object_set_new(desc, "container_id", json_string(id ? id : ""));
    json_object_set(desc, "container_state", json_object_get(match, "State"));
    json_object_set(desc, "slot", json_object_get(labels, LABEL_SLOT));
    if (!state || strcmp(state, "running"))
        add_difference(desc, "running", json_string("running"), json_string(state ? state : "?"));
    if (want_image && (!image_id || strcmp(want_image, image_id)))
        add_difference(desc, "image", short_id(want_image), short_id(image_id));

    json_t *info = NULL;
    struct tt_err err = {0};
    struct buf path = {0};
    buf_printf(&path, "/containers/%s/json", id ? id : "");
    if (engine_call_ok(e, "GET", path.data, NULL, 0, &info, &err) == 0) {
        json_t *names =
            env_drift(st, r, json_object_get(json_object_get(info, "Config"), "Env"), &err);
        if (!names)
            json_object_set_new(desc, "warning", json_string(err.msg));
        add_env_difference(desc, names);
    } else {
        json_object_set_new(desc, "warning", json_string(err.msg));
    }
    buf_release(&path);
    if (want_hash && (!hash || strcmp(want_hash, hash)))
        add_difference(desc, "config", short_id(want_hash), short_id(hash));
    if (want_id && id && strcmp(want_id, id))
        add_difference(desc, "container", short_id(want_id), short_id(id));
    /* Made after the last deployment ended: by hand (or by `up`), not by a deployment. */
    double created = docker_time(json_string_value(json_object_get(info, "Created")));
    int made_since = finished > 0 && created > finished + DRIFT_MARGIN_S;
    if (made_since)
        add_difference(desc, "container", json_string("made by a deployment"),
                       json_sprintf("%s, made after the last deployment ended",
                                    json_string_value(json_object_get(desc, "container"))));
    if (info)
        config_compare(p, r, info, desc);
    const char *started_at =
        json_string_value(json_object_get(json_object_get(info, "State"), "StartedAt"));
    double started = docker_time(started_at);
    json_int_t restarts = json_integer_value(json_object_get(info, "RestartCount"));
    if (!made_since && state && !strcmp(state, "running") && finished > 0 &&
        started > finished + DRIFT_MARGIN_S) {
        /* Docker zeroes RestartCount on every start but its restart policy's. */
        if (restarts > 0)
            json_object_set_new(desc, "note",
                                json_sprintf("restarted %" JSON_INTEGER_FORMAT
                                             " time%s by its restart policy (last at %s)",
                                             restarts, restarts == 1 ? "" : "s", started_at));
        else
            add_difference(desc, "running", json_string("started by a deployment"),
                           json_sprintf("restarted at %s", started_at));
    }
    json_decref(info);
}

/* The container's description as an extra one (none of the release's). */
static json_t *describe_extra(json_t *cont)
{
    json_t *labels = json_object_get(cont, "Labels");
    const char *name = json_string_value(json_array_get(json_object_get(cont, "Names"), 0));
    const char *service = json_string_value(json_object_get(labels, LABEL_SERVICE));
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:[], s:s?, s:O?, s:s, s:O?}", "service",
                  service ? service : "?", "mode", "local", "state", "extra", "differences",
                  "image", json_string_value(json_object_get(cont, "Image")), "container_state",
                  json_object_get(cont, "State"), "container", name ? name + (*name == '/') : "?",
                  "container_id", json_object_get(cont, "Id"));
    add_difference(d, "container", NULL,
                   json_sprintf("%s (%s)", name ? name + (*name == '/') : "?",
                                json_string_value(json_object_get(cont, "State"))));
    return d;
}

/* Whether cont is a one-off, a Swarm task, or a service's idle blue-green slot: never extra. */
static int never_extra(json_t *cont)
{
    json_t *labels = json_object_get(cont, "Labels");
    const char *oneoff = json_string_value(json_object_get(labels, LABEL_ONEOFF));
    return (oneoff && !strcmp(oneoff, "True")) ||
           json_object_get(labels, "com.docker.swarm.service.id") ||
           json_object_get(labels, LABEL_SLOT);
}

/* The state a description's differences come to. */
static void settle_state(json_t *desc)
{
    const char *st = json_string_value(json_object_get(desc, "state"));
    json_t *diffs = json_object_get(desc, "differences");
    if (strcmp(st, "same") || !json_array_size(diffs))
        return;
    json_t *first = json_array_get(diffs, 0);
    const char *what = json_string_value(json_object_get(first, "what"));
    const char *state =
        !strcmp(what, "container") && json_is_null(json_object_get(first, "live")) ? "missing"
        : !strcmp(what, "running") &&
                !strcmp(json_string_value(json_object_get(first, "recorded")), "running")
            ? "stopped"
            : "changed";
    json_object_set_new(desc, "state", json_string(state));
}

int drift_compare(struct engine *e, struct store *st, const char *project,
                  const struct compose_project *plan_project, json_t **out, struct tt_err *err)
{
    json_t *rel = st ? store_current_releases(st, project, err) : json_array();
    json_t *live = NULL, *r, *cont;
    size_t i, k;
    int rc = 0;

    *out = NULL;
    if (!rel)
        return -1;
    if (stack_project_containers(e, project, &live, err) < 0) {
        rc = -2; /* described as if nothing ran: the caller says why */
        live = json_array();
    }
    double finished = st && rc == 0 ? last_finished(e, st, project) : 0;
    json_t *used = json_object(); /* container IDs that stand for a release */
    *out = json_array();
    json_array_foreach(rel, i, r)
    {
        const char *service = json_string_value(json_object_get(r, "service"));
        json_t *desc;
        if (json_is_string(json_object_get(r, "spec"))) { /* recorded in swarm mode */
            desc = describe(r, "swarm");
            if (rc == 0)
                swarm_compare(e, st, project, r, desc);
            else
                add_difference(desc, "container", json_string("a service"), NULL);
        } else {
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
            desc = describe(r, "local");
            if (match)
                json_object_set_new(used, json_string_value(json_object_get(match, "Id")),
                                    json_true());
            local_compare(e, st, plan_project, r, match, finished, desc);
        }
        settle_state(desc);
        json_array_append_new(*out, desc);
    }
    json_array_foreach(live, k, cont)
    {
        const char *id = json_string_value(json_object_get(cont, "Id"));
        if (!id || json_object_get(used, id) || never_extra(cont))
            continue;
        json_array_append_new(*out, describe_extra(cont));
    }
    json_decref(used);
    json_decref(live);
    json_decref(rel);
    return rc;
}
