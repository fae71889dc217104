/*
 * fuzz_compose.c - libFuzzer target for the compose loader and the DAG.
 *
 * The input is loaded as the first compose file (from memory) with a
 * small fixed set of variables, then its dependency graph is built and
 * the model rendered as JSON and YAML: every parser and printer a compose
 * file reaches.  Errors are expected; crashes, leaks and hangs are not.
 *
 *   make fuzz FUZZ_SECONDS=300
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "compose.h"
#include "compose_out.h"
#include "dag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct compose_options o = {0};
    struct vars v = {0};
    struct compose_project *p = NULL;
    struct tt_err err = {0};

    vars_set(&v, "TAG", "1.0");
    vars_set(&v, "EMPTY", "");
    o.environ = &v;
    o.inline_data = (const char *)data;
    o.inline_len = size;
    if (compose_load(&o, &p, &err) == 0) {
        struct dag *d = NULL;
        if (dag_build(p, &d, &err) == 0) {
            json_t *g = compose_out_graph(d);
            json_decref(g);
        }
        json_t *m = compose_out_project(p);
        struct buf out = {0};
        compose_out_yaml(m, &out);
        buf_release(&out);
        json_decref(m);
        dag_free(d);
        compose_project_free(p);
    }
    vars_clear(&v);
    return 0;
}
