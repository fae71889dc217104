/*
 * stack_slot.c - the slot containers of a blue-green service, outside
 * `up`: their names, whether one runs, and removing one (stopped with the
 * service's grace first, so requests in flight end).
 */
#include "stack_private.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

char *stack_slot_name(const char *project, const char *service, const char *slot)
{
    struct buf b = {0};
    buf_printf(&b, "%s-%s-%s-1", project, service, slot);
    return buf_detach(&b);
}

/* The slot container's summary (GET /containers/json), or NULL when there is none. */
static json_t *slot_summary(struct engine *e, const char *project, const char *service,
                            const char *slot, struct tt_err *err)
{
    json_t *list = NULL, *c, *found = NULL;
    size_t i;
    if (stack_project_list(e, "/containers/json?all=1", project, service, 10000, &list, err) < 0)
        return NULL;
    json_array_foreach(list, i, c)
    {
        const char *s =
            json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_SLOT));
        const char *oneoff =
            json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_ONEOFF));
        if (slot ? s && !strcmp(s, slot) : !s && !(oneoff && !strcmp(oneoff, "True"))) {
            found = json_incref(c);
            break;
        }
    }
    json_decref(list);
    return found;
}

int stack_slot_running(struct engine *e, const char *project, const char *service, const char *slot)
{
    struct tt_err err = {0};
    json_t *c = slot_summary(e, project, service, slot, &err);
    const char *state = json_string_value(json_object_get(c, "State"));
    int running = state && !strcmp(state, "running");
    json_decref(c);
    return running;
}

int stack_slot_remove(struct engine *e, const char *project, const char *service, const char *slot,
                      long grace_s, struct tt_err *err)
{
    json_t *c = slot_summary(e, project, service, slot, err);
    struct buf path = {0};
    int rc = 0;

    if (!c)
        return err->msg[0] ? -1 : 0;
    if (!slot)
        slot = "unslotted";
    const char *id = json_string_value(json_object_get(c, "Id"));
    engine_pathf(&path, "/containers/%s/stop", id);
    buf_printf(&path, "?t=%ld", grace_s);
    long st = engine_call(e, "POST", path.data, NULL, (grace_s + 30) * 1000, NULL, NULL, err);
    if (st != 204 && st != 304 && st != 404)
        rc = tt_error(err, "could not stop the %s slot of %s (HTTP %ld): %s", slot, service, st,
                      err->msg);
    buf_reset(&path);
    engine_pathf(&path, "/containers/%s?force=1", id);
    st = rc == 0 ? engine_call(e, "DELETE", path.data, NULL, 30000, NULL, NULL, err) : 0;
    if (rc == 0 && st != 204 && st != 404)
        rc = tt_error(err, "could not remove the %s slot of %s (HTTP %ld)", slot, service, st);
    buf_release(&path);
    json_decref(c);
    return rc;
}
