/*
 * stack_query.c - asking the Engine about a project without changing it:
 * the project's containers (by the label filter Compose uses), a
 * service's container, a container's health, which image a recorded
 * release should run, and the diagnostics a failure message carries (log
 * tail, last health check).  Every Engine API path of these questions is
 * built here, not by the callers.
 */
#include "stack_private.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

json_t *stack_project_filter(const char *project)
{
    struct buf b = {0};
    buf_printf(&b, "%s=%s", LABEL_PROJECT, project);
    json_t *f = json_pack("{s:[s]}", "label", b.data);
    buf_release(&b);
    return f;
}

int stack_project_list(struct engine *e, const char *path_prefix, const char *project,
                       const char *service, long timeout_ms, json_t **list, struct tt_err *err)
{
    struct buf q = {0};
    json_t *f = stack_project_filter(project);

    if (service) {
        struct buf label = {0};
        buf_printf(&label, "%s=%s", LABEL_SERVICE, service);
        json_array_append_new(json_object_get(f, "label"), json_string(label.data));
        buf_release(&label);
    }
    char *fs = json_dumps(f, JSON_COMPACT);
    buf_printf(&q, "%s%sfilters=", path_prefix, strchr(path_prefix, '?') ? "&" : "?");
    engine_urlencode(fs, &q);
    int rc = engine_call_ok(e, "GET", q.data, NULL, timeout_ms, list, err);
    free(fs);
    json_decref(f);
    buf_release(&q);
    return rc;
}

int stack_project_containers(struct engine *e, const char *project, json_t **list,
                             struct tt_err *err)
{
    return stack_project_list(e, "/containers/json?all=1", project, NULL, 10000, list, err);
}

char *stack_service_container(struct engine *e, const char *project, const char *service, int all,
                              struct tt_err *err)
{
    json_t *list = NULL;
    char *id = NULL;

    if (stack_project_list(e, all ? "/containers/json?all=1" : "/containers/json", project, service,
                           10000, &list, err) == 0 &&
        json_array_size(list))
        id = xstrdup(json_string_value(json_object_get(json_array_get(list, 0), "Id")));
    json_decref(list);
    return id;
}

char *stack_container_id(struct engine *e, const char *project, const char *service)
{
    struct tt_err err = {0};
    return stack_service_container(e, project, service, 0, &err);
}

void stack_image_path(const char *image, struct buf *path)
{
    engine_pathf(path, "/images/%s/json", image);
}

char *stack_recorded_image(struct engine *e, const char *ref, const char *image_id)
{
    struct buf path = {0};
    json_t *img = NULL;
    struct tt_err err = {0};
    char *out;

    if (!image_id || !*image_id)
        return xstrdup(ref);
    stack_image_path(ref, &path);
    if (engine_call_ok(e, "GET", path.data, NULL, 10000, &img, &err) == 0 &&
        json_string_value(json_object_get(img, "Id")) &&
        !strcmp(json_string_value(json_object_get(img, "Id")), image_id))
        out = xstrdup(ref);
    else
        out = xstrdup(image_id);
    json_decref(img);
    buf_release(&path);
    return out;
}

/* The inspection of container id (caller json_decref()s it), or NULL when it cannot be had. */
static json_t *inspect_container(struct engine *e, const char *id, long timeout_ms)
{
    struct buf path = {0};
    json_t *j = NULL;
    struct tt_err err = {0};

    engine_pathf(&path, "/containers/%s/json", id);
    if (engine_call_ok(e, "GET", path.data, NULL, timeout_ms, &j, &err) < 0)
        j = NULL;
    buf_release(&path);
    return j;
}

char *stack_container_health(struct engine *e, const char *id)
{
    json_t *c = id ? inspect_container(e, id, 10000) : NULL;
    char *out;

    if (!c)
        return xstrdup("missing");
    json_t *st = json_object_get(c, "State");
    const char *health =
        json_string_value(json_object_get(json_object_get(st, "Health"), "Status"));
    const char *status = json_string_value(json_object_get(st, "Status"));
    if (status && strcmp(status, "running"))
        out = xstrdup(!strcmp(status, "created") ? "missing" : status);
    else
        out = xstrdup(health ? health : status ? status : "missing");
    json_decref(c);
    return out;
}

/* ---- diagnostics -------------------------------------------------------- */

/* The last lines of a container's log, indented, appended to out. */
void stack_append_logs(struct engine *e, const char *id, struct buf *out)
{
    struct buf path = {0}, text = {0};
    struct tt_err err = {0};
    struct engine_demuxer *d = engine_demuxer_new(&text, 1); /* keeps the last 64 KiB */

    engine_pathf(&path, "/containers/%s/logs?stdout=1&stderr=1&tail=10", id);
    int rc = engine_stream(e, "GET", path.data, NULL, 5000, engine_demuxer_feed, d,
                           "reading the container's log", &err);
    engine_demuxer_end(d, NULL);
    engine_demuxer_free(d);
    if (rc == 0) {
        if (text.len) {
            buf_adds(out, "\n  last log lines:");
            const char *line = text.data;
            while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                buf_printf(out, "\n    %.*s", (int)len, line);
                line = nl ? nl + 1 : NULL;
            }
        }
    }
    buf_release(&path);
    buf_release(&text);
}

/* The output of the container's last health check, or NULL (caller frees). */
char *stack_last_health_output(struct engine *e, const char *id, char **status)
{
    json_t *j = inspect_container(e, id, 5000);
    char *out = NULL;

    if (j) {
        json_t *health = json_object_get(json_object_get(j, "State"), "Health");
        json_t *log = json_object_get(health, "Log");
        size_t n = json_array_size(log);
        if (status && json_string_value(json_object_get(health, "Status")))
            *status = xstrdup(json_string_value(json_object_get(health, "Status")));
        if (n) {
            const char *o =
                json_string_value(json_object_get(json_array_get(log, n - 1), "Output"));
            json_int_t code =
                json_integer_value(json_object_get(json_array_get(log, n - 1), "ExitCode"));
            struct buf b = {0};
            size_t len = o ? strlen(o) : 0;
            while (len && (o[len - 1] == '\n' || o[len - 1] == ' '))
                len--;
            buf_printf(&b, "exit %" JSON_INTEGER_FORMAT ": %.*s", code,
                       (int)(len > 400 ? 400 : len), o ? o : "");
            out = buf_detach(&b);
        }
    }
    json_decref(j);
    return out;
}
