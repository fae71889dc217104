/*
 * stack_down.c - taking a project down: its containers removed in reverse
 * dependency order (a layer at a time, side by side within a layer,
 * orphans and one-offs first), then its networks, and its volumes when
 * asked.
 */
#include "stack_private.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

struct down_item {
    char *id;
    char *service;
    long layer; /* -1: not in the compose file (orphan, one-off): first to go */
    size_t row;
};

static int cmp_down(const void *a, const void *b)
{
    const struct down_item *x = a, *y = b;
    if (x->layer != y->layer)
        return x->layer > y->layer ? -1 : 1;
    return strcmp(x->service, y->service);
}

/* Runs method on path_fmt for items [from, to) side by side and waits for all. */
static int run_batch(struct engine *e, struct down_item *items, size_t from, size_t to,
                     const char *method, const char *path_fmt, struct progress *pr,
                     const char *shown, struct tt_err *err)
{
    int rc = 0;
    size_t pending = 0;
    for (size_t i = from; i < to; i++) {
        struct buf path = {0};
        buf_printf(&path, path_fmt, items[i].id);
        engine_req_start(e, method, path.data, NULL, 120000, &items[i]);
        buf_release(&path);
        pending++;
    }
    while (pending > 0) {
        struct engine_req *req;
        if (engine_pump(e, 200, err) < 0)
            return -1;
        while ((req = engine_next_done(e))) {
            struct down_item *it = engine_req_tag(req);
            long st = engine_req_status(req);
            if (st >= 300 && st != 304 && st != 404) {
                rc = tt_error(err, "%s container of \"%s\": %s", method, it->service,
                              engine_req_error(req));
            } else {
                progress_set(pr, it->row, shown, NULL);
            }
            engine_req_free(req);
            pending--;
        }
    }
    return rc;
}

int stack_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err)
{
    json_t *list = NULL;
    char *q = stack_project_query("/containers/json?all=1", p->name);
    struct down_item *items = NULL;
    const char **names = NULL;
    size_t n = 0, i;
    json_t *c;
    int rc = engine_call_ok(e, "GET", q, NULL, 30000, &list, err);

    free(q);
    if (rc < 0)
        return -1;
    items = xcalloc(json_array_size(list) + 1, sizeof(*items));
    names = xcalloc(json_array_size(list) + 1, sizeof(*names));
    json_array_foreach(list, i, c)
    {
        const char *service =
            json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_SERVICE));
        items[n].id = xstrdup(json_string_value(json_object_get(c, "Id")));
        items[n].service = xstrdup(service ? service : "?");
        items[n].layer = -1;
        for (size_t k = 0; d && k < d->n; k++)
            if (service && !strcmp(p->services[k]->name, service))
                items[n].layer = (long)d->layer_of[k];
        n++;
    }
    json_decref(list);
    if (n)
        qsort(items, n, sizeof(*items), cmp_down);
    for (i = 0; i < n; i++) {
        items[i].row = i;
        names[i] = items[i].service;
    }
    struct progress *pr = progress_new(o->progress, o->out ? o->out : stdout, names, n);
    struct buf rm = {0};
    buf_printf(&rm, "/containers/%%s?force=1&v=%d", o->volumes ? 1 : 0);
    for (size_t from = 0; rc == 0 && from < n;) {
        size_t to = from;
        while (to < n && items[to].layer == items[from].layer)
            to++;
        rc = run_batch(e, items, from, to, "POST", "/containers/%s/stop", pr, "stopped", err);
        if (rc == 0)
            rc = run_batch(e, items, from, to, "DELETE", rm.data, pr, "removed", err);
        from = to;
    }
    buf_release(&rm);
    if (rc == 0) {
        json_t *nets = NULL;
        q = stack_project_query("/networks", p->name);
        rc = engine_call_ok(e, "GET", q, NULL, 30000, &nets, err);
        free(q);
        json_array_foreach(nets, i, c)
        {
            struct buf path = {0};
            buf_printf(&path, "/networks/%s", json_string_value(json_object_get(c, "Id")));
            if (rc == 0 && engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, err) < 0)
                rc = -1;
            else if (rc == 0) {
                struct buf note = {0};
                buf_printf(&note, "network %s removed",
                           json_string_value(json_object_get(c, "Name")));
                progress_note(pr, note.data);
                buf_release(&note);
            }
            buf_release(&path);
        }
        json_decref(nets);
    }
    if (rc == 0 && o->volumes) {
        json_t *vols = NULL;
        q = stack_project_query("/volumes", p->name);
        rc = engine_call_ok(e, "GET", q, NULL, 30000, &vols, err);
        free(q);
        json_array_foreach(json_object_get(vols, "Volumes"), i, c)
        {
            struct buf path = {0};
            buf_printf(&path, "/volumes/%s", json_string_value(json_object_get(c, "Name")));
            if (rc == 0 && engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, err) < 0)
                rc = -1;
            buf_release(&path);
        }
        json_decref(vols);
    }
    progress_free(pr);
    for (i = 0; i < n; i++) {
        free(items[i].id);
        free(items[i].service);
    }
    free(items);
    free(names);
    return rc;
}
