/*
 * dag.h - the dependency graph of a compose project.
 *
 * Nodes are the enabled services (indexes into project->services, which is
 * sorted by name); an edge runs from a service to each service it depends
 * on, with the condition to wait for.  dag_build() refuses cycles, naming
 * the path.  Layers group services whose dependencies all lie in earlier
 * layers: layer 0 depends on nothing, and a service sits one layer past
 * its deepest dependency.  Each layer is in name order, so the result is
 * the same on every run.
 */
#ifndef DAG_H
#define DAG_H

#include <stddef.h>

#include "compose.h"
#include "tterr.h"

struct dag_edge {
    size_t from; /* the dependant */
    size_t to;   /* the dependency */
    enum compose_condition condition;
    int required;
};

struct dag {
    const struct compose_project *project; /* borrowed */
    size_t n;                              /* number of services */
    struct dag_edge *edges;                /* sorted by from, then to */
    size_t nedges;
    size_t *layer_of; /* layer_of[i]: the layer of service i */
    size_t nlayers;
    size_t *order;       /* services by layer, then name */
    size_t *layer_start; /* layer k is order[layer_start[k] .. layer_start[k+1]) */
};

int dag_build(const struct compose_project *p, struct dag **out, struct tt_err *err);
void dag_free(struct dag *d);
const char *dag_name(const struct dag *d, size_t i);

#endif
