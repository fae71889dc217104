/*
 * dag.c - building the dependency graph, finding cycles and layers.
 *
 * One depth-first pass does both jobs: a service is "open" while its
 * dependencies are being visited, so meeting an open service again means a
 * cycle, and the path is the part of the visit stack from that service on.
 * When a service closes, all its dependencies have layers, and its own is
 * one more than the deepest.  The pass is iterative (explicit stack), so a
 * long chain of services cannot overflow the C stack.
 */
#include "dag.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

enum { WHITE, OPEN, DONE };

const char *dag_name(const struct dag *d, size_t i)
{
    return d->project->services[i]->name;
}

static long find_index(const struct compose_project *p, const char *name)
{
    size_t lo = 0, hi = p->nservices;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->services[mid]->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int cmp_edge(const void *a, const void *b)
{
    const struct dag_edge *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
}

static int cycle_error(struct dag *d, const size_t *stack, size_t depth, size_t start,
                       struct tt_err *err)
{
    struct buf path = {0};
    size_t first = 0;
    for (size_t i = 0; i < depth; i++)
        if (stack[i] == start)
            first = i;
    for (size_t i = first; i < depth; i++)
        buf_printf(&path, "%s -> ", dag_name(d, stack[i]));
    buf_adds(&path, dag_name(d, start));
    /* Point at the dependency that closes the cycle. */
    const struct compose_service *last = d->project->services[stack[depth - 1]];
    const struct compose_dep *dep = NULL;
    for (size_t i = 0; i < last->ndeps; i++)
        if (!strcmp(last->deps[i].service, dag_name(d, start)))
            dep = &last->deps[i];
    tt_error_at(err, dep ? dep->file : last->file, dep ? dep->line : last->line,
                dep ? dep->col : last->col,
                "dependency cycle: %s: remove one of these depends_on entries", path.data);
    buf_release(&path);
    return -1;
}

/* Visits everything reachable from root; fills layer_of.  -1 on a cycle. */
static int visit(struct dag *d, size_t root, unsigned char *color, size_t *first_edge,
                 size_t *stack, size_t *next, struct tt_err *err)
{
    size_t depth = 0;

    stack[depth] = root;
    next[depth++] = first_edge[root];
    color[root] = OPEN;
    while (depth > 0) {
        size_t u = stack[depth - 1];
        size_t e = next[depth - 1];
        if (e < first_edge[u + 1]) {
            next[depth - 1]++;
            size_t v = d->edges[e].to;
            if (color[v] == OPEN)
                return cycle_error(d, stack, depth, v, err);
            if (color[v] == WHITE) {
                color[v] = OPEN;
                stack[depth] = v;
                next[depth++] = first_edge[v];
            }
            continue;
        }
        size_t layer = 0;
        for (size_t k = first_edge[u]; k < first_edge[u + 1]; k++)
            if (d->layer_of[d->edges[k].to] + 1 > layer)
                layer = d->layer_of[d->edges[k].to] + 1;
        d->layer_of[u] = layer;
        color[u] = DONE;
        depth--;
    }
    return 0;
}

int dag_build(const struct compose_project *p, struct dag **out, struct tt_err *err)
{
    struct dag *d = xcalloc(1, sizeof(*d));
    size_t total = 0;
    int rc = 0;

    *out = NULL;
    d->project = p;
    d->n = p->nservices;
    for (size_t i = 0; i < p->nservices; i++)
        total += p->services[i]->ndeps;
    d->edges = xcalloc(total + 1, sizeof(*d->edges));
    for (size_t i = 0; i < p->nservices; i++) {
        const struct compose_service *s = p->services[i];
        for (size_t j = 0; j < s->ndeps; j++) {
            long to = find_index(p, s->deps[j].service);
            if (to < 0) {
                dag_free(d);
                return tt_error_at(err, s->deps[j].file, s->deps[j].line, s->deps[j].col,
                                   "service \"%s\" depends on \"%s\", which is not enabled",
                                   s->name, s->deps[j].service);
            }
            struct dag_edge *e = &d->edges[d->nedges++];
            e->from = i;
            e->to = (size_t)to;
            e->condition = s->deps[j].condition;
            e->required = s->deps[j].required;
        }
    }
    qsort(d->edges, d->nedges, sizeof(*d->edges), cmp_edge);

    size_t *first_edge = xcalloc(d->n + 1, sizeof(size_t));
    for (size_t k = 0; k < d->nedges; k++)
        first_edge[d->edges[k].from + 1]++;
    for (size_t i = 0; i < d->n; i++)
        first_edge[i + 1] += first_edge[i];
    unsigned char *color = xcalloc(d->n + 1, 1);
    size_t *stack = xcalloc(d->n + 1, sizeof(size_t));
    size_t *next = xcalloc(d->n + 1, sizeof(size_t));
    d->layer_of = xcalloc(d->n + 1, sizeof(size_t));
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (color[i] == WHITE)
            rc = visit(d, i, color, first_edge, stack, next, err);
    free(first_edge);
    free(color);
    free(stack);
    free(next);
    if (rc < 0) {
        dag_free(d);
        return -1;
    }

    /* Counting sort of services by layer keeps name order inside a layer. */
    for (size_t i = 0; i < d->n; i++)
        if (d->layer_of[i] + 1 > d->nlayers)
            d->nlayers = d->layer_of[i] + 1;
    d->layer_start = xcalloc(d->nlayers + 2, sizeof(size_t));
    for (size_t i = 0; i < d->n; i++)
        d->layer_start[d->layer_of[i] + 1]++;
    for (size_t k = 0; k < d->nlayers; k++)
        d->layer_start[k + 1] += d->layer_start[k];
    d->order = xcalloc(d->n + 1, sizeof(size_t));
    size_t *fill = xcalloc(d->nlayers + 1, sizeof(size_t));
    for (size_t i = 0; i < d->n; i++) {
        size_t k = d->layer_of[i];
        d->order[d->layer_start[k] + fill[k]++] = i;
    }
    free(fill);
    *out = d;
    return 0;
}

void dag_free(struct dag *d)
{
    if (!d)
        return;
    free(d->edges);
    free(d->layer_of);
    free(d->order);
    free(d->layer_start);
    free(d);
}
