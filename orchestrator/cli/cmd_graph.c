/*
 * cmd_graph.c - `ttdeploy graph`: prints the order ttdeploy starts a
 * project in: the layers of services that can start together, and each
 * dependency edge with the condition it waits for.  dot output pipes into
 * Graphviz.
 */
#include "cmd.h"
#include "compose_out.h"
#include "dag.h"

#include <getopt.h>
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

static int cmd_graph_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, CLI_OPT_FILE},
        {"profile", required_argument, NULL, CLI_OPT_PROFILE},
        {"env-file", required_argument, NULL, CLI_OPT_ENV_FILE},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct compose_options o = {0};
    struct compose_project *p = NULL;
    struct dag *d = NULL;
    struct tt_err err = {0};
    const char *format = "text";
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:p:h", longopts, NULL)) != -1) {
        if (cli_compose_option(c, optarg, &o))
            continue;
        if (c == CLI_OPT_FORMAT) {
            format = optarg;
        } else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_graph_entry);
            cli_compose_options_clear(&o);
            return EXIT_OK;
        } else {
            cli_compose_options_clear(&o);
            return EXIT_BAD_INPUT;
        }
    }
    if (strcmp(format, "text") && strcmp(format, "dot") && strcmp(format, "json")) {
        fprintf(stderr, "ttdeploy graph: unknown format \"%s\": use text, dot or json\n", format);
        cli_compose_options_clear(&o);
        return EXIT_BAD_INPUT;
    }
    rc = cli_load_project(&o, &p);
    if (rc == EXIT_OK && dag_build(p, &d, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_BAD_INPUT;
    }
    if (rc == EXIT_OK) {
        if (!strcmp(format, "dot")) {
            print_dot(d);
        } else if (!strcmp(format, "json")) {
            json_t *g = compose_out_graph(d);
            json_dumpf(g, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(g);
        } else {
            print_text(d);
        }
    }
    dag_free(d);
    compose_project_free(p);
    cli_compose_options_clear(&o);
    return rc;
}

const struct cmd_entry cmd_graph_entry = {
    .name = "graph",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [--format text|dot|json]",
    .summary = "print the dependency layers and edges with their conditions",
    .help = "options:\n"
            "  -f, --file FILE         compose file; repeat to merge several, in order\n"
            "  -p, --project-name NAME project name\n"
            "      --profile P         enable services of profile P (repeatable)\n"
            "      --env-file F        read variables from F instead of .env (repeatable)\n"
            "      --format FMT        text (default), dot (Graphviz) or json\n",
    .exec = cmd_graph_exec,
};
