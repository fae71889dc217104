/*
 * cmd_config.c - `ttdeploy config`: prints the project as ttdeploy
 * understands it, like `docker compose config`: every file merged, every
 * variable interpolated, short forms written long and defaults explicit.
 * It also builds the dependency graph, so a cycle fails here too: what
 * `config` accepts, `up` can order.
 */
#include "cmd.h"
#include "compose_out.h"
#include "dag.h"

#include <stdio.h>
#include <string.h>

static void print_config(const struct dag *d, const char *format)
{
    json_t *model = compose_out_project(d->project);

    if (!strcmp(format, "json")) {
        cli_print_json(model, JSON_SORT_KEYS);
    } else {
        struct buf out = {0};
        compose_out_yaml(model, &out);
        fputs(out.data, stdout);
        buf_release(&out);
    }
    json_decref(model);
}

static int cmd_config_exec(const struct cli_args *a)
{
    static const char *const formats[] = {"yaml", "json", NULL};
    return cli_print_project(a, formats, print_config);
}

static const struct cmd_option config_options[] = {
    {"format", 0, "FMT", "yaml (default) or json", CLI_OPT_FORMAT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_config_entry = {
    .name = "config",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [--format yaml|json]",
    .summary = "print the normalized compose model (interpolated, merged, defaults explicit)",
    .options = {cli_compose_options, config_options},
    .max_args = -1,
    .exec = cmd_config_exec,
};
