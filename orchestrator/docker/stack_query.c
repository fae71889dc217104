/*
 * stack_query.c - asking the Engine about a project without changing it:
 * the label filter of a project, a service's container, and the
 * diagnostics a failure message carries (log tail, last health check).
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

/* The id of service's container in project (all: stopped ones too), or NULL (caller frees). */
char *stack_service_container(struct engine *e, const char *project, const char *service, int all,
                              struct tt_err *err)
{
    struct buf q = {0}, label = {0};
    json_t *list = NULL;
    char *id = NULL;

    buf_printf(&label, "%s=%s", LABEL_SERVICE, service);
    json_t *f = stack_project_filter(project);
    json_array_append_new(json_object_get(f, "label"), json_string(label.data));
    char *fs = json_dumps(f, JSON_COMPACT);
    buf_printf(&q, "/containers/json?%sfilters=", all ? "all=1&" : "");
    engine_urlencode(fs, &q);
    if (engine_call_ok(e, "GET", q.data, NULL, 10000, &list, err) == 0 && json_array_size(list))
        id = xstrdup(json_string_value(json_object_get(json_array_get(list, 0), "Id")));
    free(fs);
    json_decref(f);
    json_decref(list);
    buf_release(&q);
    buf_release(&label);
    return id;
}

char *stack_container_id(struct engine *e, const char *project, const char *service)
{
    struct tt_err err = {0};
    return stack_service_container(e, project, service, 0, &err);
}

char *stack_project_query(const char *path_prefix, const char *project)
{
    struct buf b = {0};
    json_t *f = stack_project_filter(project);
    char *s = json_dumps(f, JSON_COMPACT);
    buf_printf(&b, "%s%sfilters=", path_prefix, strchr(path_prefix, '?') ? "&" : "?");
    engine_urlencode(s, &b);
    free(s);
    json_decref(f);
    return buf_detach(&b);
}

/* ---- diagnostics -------------------------------------------------------- */

/* The last lines of a container's log, indented, appended to out. */
void stack_append_logs(struct engine *e, const char *id, struct buf *out)
{
    struct buf path = {0}, raw = {0}, text = {0};
    struct tt_err err = {0};

    buf_printf(&path, "/containers/%s/logs?stdout=1&stderr=1&tail=10", id);
    if (engine_call(e, "GET", path.data, NULL, 5000, NULL, &raw, &err) == 200) {
        engine_demux(&raw, &text);
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
    buf_release(&raw);
    buf_release(&text);
}

/* The output of the container's last health check, or NULL (caller frees). */
char *stack_last_health_output(struct engine *e, const char *id, char **status)
{
    struct buf path = {0};
    json_t *j = NULL;
    char *out = NULL;
    struct tt_err err = {0};

    buf_printf(&path, "/containers/%s/json", id);
    if (engine_call(e, "GET", path.data, NULL, 5000, &j, NULL, &err) == 200 && j) {
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
    buf_release(&path);
    return out;
}
