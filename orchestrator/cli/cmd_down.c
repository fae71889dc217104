/*
 * cmd_down.c - `ttdeploy down`: stops and removes the project's
 * containers, dependants first, then its networks.  Named volumes hold
 * data, so they go only with --volumes, as with docker compose.
 */
#include "cmd.h"
#include "stack.h"

static int cmd_down_exec(const struct cli_args *a)
{
    struct stack_options so = {0};

    so.volumes = cli_arg(a, CLI_OPT_VOLUMES) != NULL;
    return cli_run_stack(a, &so, stack_down);
}

static const struct cmd_option down_options[] = {
    {"volumes", 'v', NULL, "also remove the project's named volumes (data!)", CLI_OPT_VOLUMES},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_down_entry = {
    .name = "down",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [-H URL | --context NAME] "
             "[--insecure] [--mode local|swarm] "
             "[-v|--volumes] [--progress MODE | --json]",
    .summary = "stop and remove the project's containers and networks",
    .options = {cli_compose_options, cli_host_option, down_options, cli_progress_options},
    .exec = cmd_down_exec,
};
