/*
 * stack_oneoff.c - one container outside `up`: a one-off run of a
 * service's image (migrations, backups), and stopping or starting one
 * service's container.
 */
#include "stack_private.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void stack_env_override(json_t *env, const struct strv *env_override)
{
    for (size_t i = 0; env_override && i < env_override->n; i++) {
        const char *eq = strchr(env_override->v[i], '=');
        size_t klen = eq ? (size_t)(eq - env_override->v[i]) + 1 : strlen(env_override->v[i]);
        size_t k;
        json_t *item;
        json_array_foreach(env, k, item)
        {
            if (!strncmp(json_string_value(item), env_override->v[i], klen)) {
                json_array_remove(env, k);
                break;
            }
        }
        json_array_append_new(env, json_string(env_override->v[i]));
    }
}

int stack_run_oneoff(struct engine *e, const struct compose_project *p,
                     const struct compose_service *s, const char *image, const struct strv *argv,
                     const struct strv *env_override, long timeout_ms, int *exit_code,
                     struct buf *logs, struct tt_err *err)
{
    struct container_spec *spec = container_spec_new(p, s, image);
    json_t *body = spec->body, *cmd = json_array(), *env = json_object_get(body, "Env");
    json_t *host = json_object_get(body, "HostConfig"), *resp = NULL, *waited = NULL;
    struct buf path = {0}, name = {0};
    int rc = -1;

    for (size_t i = 0; i < argv->n; i++)
        json_array_append_new(cmd, json_string(argv->v[i]));
    json_object_set_new(body, "Cmd", cmd);
    stack_env_override(env, env_override);
    json_object_set_new(host, "PortBindings", json_object());
    json_object_set_new(host, "RestartPolicy", json_pack("{s:s}", "Name", "no"));
    json_object_set_new(body, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
    json_object_set_new(json_object_get(body, "Labels"), LABEL_ONEOFF, json_string("True"));
    json_object_del(json_object_get(body, "Labels"), LABEL_CONFIG_HASH);
    buf_printf(&name, "%s-%s-run-%ld%ld", p->name, s->name, (long)getpid(),
               (long)time(NULL) % 100000);
    buf_adds(&path, "/containers/create?name=");
    engine_urlencode(name.data, &path);
    if (engine_call_ok(e, "POST", path.data, body, 30000, &resp, err) < 0)
        goto done;
    const char *id = json_string_value(json_object_get(resp, "Id"));
    for (size_t i = 0; i < json_array_size(spec->extra_networks); i++) {
        json_t *n = json_array_get(spec->extra_networks, i);
        json_t *b = json_pack("{s:s}", "Container", id);
        buf_reset(&path);
        engine_pathf(&path, "/networks/%s/connect",
                     json_string_value(json_object_get(n, "network")));
        int r2 = engine_call_ok(e, "POST", path.data, b, 30000, NULL, err);
        json_decref(b);
        if (r2 < 0)
            goto remove;
    }
    buf_reset(&path);
    engine_pathf(&path, "/containers/%s/start", id);
    if (engine_call_ok(e, "POST", path.data, NULL, 30000, NULL, err) < 0)
        goto remove;
    buf_reset(&path);
    engine_pathf(&path, "/containers/%s/wait", id);
    if (engine_call_ok(e, "POST", path.data, NULL, timeout_ms, &waited, err) < 0) {
        tt_error(err, "%s did not finish within %ld s", name.data, timeout_ms / 1000);
        goto remove;
    }
    *exit_code = (int)json_integer_value(json_object_get(waited, "StatusCode"));
    stack_append_logs(e, id, logs);
    rc = 0;
remove:
    buf_reset(&path);
    engine_pathf(&path, "/containers/%s?force=1&v=1", id);
    {
        struct tt_err e2 = {0};
        engine_call(e, "DELETE", path.data, NULL, 30000, NULL, NULL, &e2);
    }
done:
    json_decref(resp);
    json_decref(waited);
    container_spec_free(spec);
    buf_release(&path);
    buf_release(&name);
    return rc;
}

int stack_toggle_service(struct engine *e, const char *project, const char *service, int start,
                         struct tt_err *err)
{
    struct buf path = {0};
    char *id = NULL;
    int rc = 0;

    id = stack_service_container(e, project, service, start, err); /* a stopped one, to start it */
    if (id) {
        engine_pathf(&path, "/containers/%s/%s", id, start ? "start" : "stop");
        long st = engine_call(e, "POST", path.data, NULL, 120000, NULL, NULL, err);
        if (st != 204 && st != 304)
            rc = tt_error(err, "could not %s %s (HTTP %ld)", start ? "start" : "stop", service, st);
    }
    free(id);
    buf_release(&path);
    return rc;
}
