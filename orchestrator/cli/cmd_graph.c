/*
 * cmd_graph.c - `ttdeploy graph`: prints the order ttdeploy starts a
 * project in: the layers of services that can start together, and each
 * dependency edge with the condition it waits for.  dot output pipes into
 * Graphviz.
 */
#include "cmd.h"
#include "compose_out.h"
#include "dag.h"

#include <stdio.h>
#include <string.h>

static void print_text(const struct dag *d)
{
    for (size_t k = 0; k < d->nlayers; k++) {
        printf("layer %zu:", k);
        for (size_t i = d->layer_start[k]; i < d->layer_start[k + 1]; i++)
            printf(" %s", dag_name(d, d->order[i]));
        putchar('\n');
    }
    if (d->nedges)
        printf("edges:\n");
    for (size_t i = 0; i < d->nedges; i++)
        printf("  %s -> %s (%s%s)\n", dag_name(d, d->edges[i].from), dag_name(d, d->edges[i].to),
               compose_condition_name(d->edges[i].condition),
               d->edges[i].required ? "" : ", optional");
}

static void print_dot(const struct dag *d)
{
    printf("digraph \"%s\" {\n  rankdir=BT;\n", d->project->name);
    for (size_t k = 0; k < d->nlayers; k++) {
        printf("  { rank=same;");
        for (size_t i = d->layer_start[k]; i < d->layer_start[k + 1]; i++)
            printf(" \"%s\";", dag_name(d, d->order[i]));
        printf(" }\n");
    }
    for (size_t i = 0; i < d->nedges; i++)
        printf("  \"%s\" -> \"%s\" [label=\"%s\"%s];\n", dag_name(d, d->edges[i].from),
               dag_name(d, d->edges[i].to), compose_condition_name(d->edges[i].condition),
               d->edges[i].required ? "" : ", style=dashed");
    printf("}\n");
}

static void print_graph(const struct dag *d, const char *format)
{
    if (!strcmp(format, "dot")) {
        print_dot(d);
    } else if (!strcmp(format, "json")) {
        json_t *g = compose_out_graph(d);
        cli_print_json(g, 0);
        json_decref(g);
    } else {
        print_text(d);
    }
}

static int cmd_graph_exec(const struct cli_args *a)
{
    static const char *const formats[] = {"text", "dot", "json", NULL};
    return cli_print_project(a, formats, print_graph);
}

static const struct cmd_option graph_options[] = {
    {"format", 0, "FMT", "text (default), dot (Graphviz) or json", CLI_OPT_FORMAT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_graph_entry = {
    .name = "graph",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [--format text|dot|json]",
    .summary = "print the dependency layers and edges with their conditions",
    .options = {cli_compose_options, graph_options},
    .max_args = -1,
    .exec = cmd_graph_exec,
};
