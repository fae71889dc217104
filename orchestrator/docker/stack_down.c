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
        engine_pathf(&path, path_fmt, items[i].id);
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

/* The containers of list as down_items, in the order they go (*n receives how many). */
static struct down_item *down_order(json_t *list, const struct compose_project *p,
                                    const struct dag *d, size_t *n)
{
    struct down_item *items = xcalloc(json_array_size(list) + 1, sizeof(*items));
    size_t i;
    json_t *c;

    *n = 0;
    json_array_foreach(list, i, c)
    {
        const char *service =
            json_string_value(json_object_get(json_object_get(c, "Labels"), LABEL_SERVICE));
        struct down_item *it = &items[(*n)++];
        it->id = xstrdup(json_string_value(json_object_get(c, "Id")));
        it->service = xstrdup(service ? service : "?");
        it->layer = -1;
        for (size_t k = 0; d && k < d->n; k++)
            if (service && !strcmp(p->services[k]->name, service))
                it->layer = (long)d->layer_of[k];
    }
    if (*n)
        qsort(items, *n, sizeof(*items), cmp_down);
    for (i = 0; i < *n; i++)
        items[i].row = i;
    return items;
}

/* Stops, then removes (with their anonymous volumes when volumes is set), a layer at a time. */
static int remove_containers(struct engine *e, struct down_item *items, size_t n, int volumes,
                             struct progress *pr, struct tt_err *err)
{
    struct buf rm = {0};
    int rc = 0;

    buf_printf(&rm, "/containers/%%s?force=1&v=%d", volumes ? 1 : 0);
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
    return rc;
}

/* What goes after the containers: the project's networks, or its volumes. */
struct down_resource {
    const char *path;   /* "/networks": lists them, and with "/<key>" removes one */
    const char *member; /* where the answer holds the list; NULL: the answer is the list */
    const char *key;    /* what names one in its path */
    const char *shown;  /* "network": "network NAME removed" is noted; NULL: nothing */
};

static const struct down_resource networks = {"/networks", NULL, "Id", "network"};
static const struct down_resource volumes = {"/volumes", "Volumes", "Name", NULL};

static int remove_resources(struct engine *e, const char *project, const struct down_resource *kind,
                            struct progress *pr, struct tt_err *err)
{
    json_t *answer = NULL, *c;
    size_t i;
    int rc = stack_project_list(e, kind->path, project, NULL, 30000, &answer, err);

    json_array_foreach(kind->member ? json_object_get(answer, kind->member) : answer, i, c)
    {
        struct buf path = {0};
        if (rc < 0)
            break;
        buf_adds(&path, kind->path);
        engine_pathf(&path, "/%s", json_string_value(json_object_get(c, kind->key)));
        rc = engine_call_ok(e, "DELETE", path.data, NULL, 30000, NULL, err);
        if (rc == 0 && kind->shown) {
            struct buf note = {0};
            buf_printf(&note, "%s %s removed", kind->shown,
                       json_string_value(json_object_get(c, "Name")));
            progress_note(pr, note.data);
            buf_release(&note);
        }
        buf_release(&path);
    }
    json_decref(answer);
    return rc;
}

int stack_down(struct engine *e, const struct compose_project *p, const struct dag *d,
               const struct stack_options *o, struct tt_err *err)
{
    json_t *list = NULL;
    size_t n = 0;

    if (stack_project_list(e, "/containers/json?all=1", p->name, NULL, 30000, &list, err) < 0)
        return -1;
    struct down_item *items = down_order(list, p, d, &n);
    const char **names = xcalloc(n + 1, sizeof(*names));
    json_decref(list);
    for (size_t i = 0; i < n; i++)
        names[i] = items[i].service;
    struct progress *pr = progress_new(o->progress, o->out ? o->out : stdout, names, n);
    int rc = remove_containers(e, items, n, o->volumes, pr, err);
    if (rc == 0)
        rc = remove_resources(e, p->name, &networks, pr, err);
    if (rc == 0 && o->volumes)
        rc = remove_resources(e, p->name, &volumes, pr, err);
    progress_free(pr);
    for (size_t i = 0; i < n; i++) {
        free(items[i].id);
        free(items[i].service);
    }
    free(items);
    free(names);
    return rc;
}
