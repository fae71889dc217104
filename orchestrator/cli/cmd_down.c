/*
 * cmd_down.c - `ttdeploy down`: stops and removes the project's
 * containers, dependants first, then its networks.  Named volumes hold
 * data, so they go only with --volumes, as with docker compose.
 */
#include "cmd.h"
#include "stack.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static int cmd_down_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, CLI_OPT_FILE},
        {"profile", required_argument, NULL, CLI_OPT_PROFILE},
        {"env-file", required_argument, NULL, CLI_OPT_ENV_FILE},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"host", required_argument, NULL, CLI_OPT_HOST},
        {"volumes", no_argument, NULL, CLI_OPT_VOLUMES},
        {"progress", required_argument, NULL, CLI_OPT_PROGRESS},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct compose_options o = {0};
    struct stack_options so = {0};
    const char *host = NULL;
    int c, taken, rc = EXIT_OK;

    so.progress = PROGRESS_AUTO;
    optind = 1;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "f:p:hv", longopts, NULL)) != -1) {
        if (cli_compose_option(c, optarg, &o))
            continue;
        if ((taken = cli_stack_option(c, optarg, "down", &so, &host)) != 0) {
            rc = taken < 0 ? EXIT_BAD_INPUT : EXIT_OK;
        } else if (c == CLI_OPT_VOLUMES) {
            so.volumes = 1;
        } else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_down_entry);
            cli_compose_options_clear(&o);
            return EXIT_OK;
        } else {
            rc = EXIT_BAD_INPUT;
        }
    }
    if (rc == EXIT_OK && optind < argc) {
        fprintf(stderr, "ttdeploy down: unexpected argument \"%s\": down takes no services\n",
                argv[optind]);
        rc = EXIT_BAD_INPUT;
    }
    if (rc == EXIT_OK)
        rc = cli_run_stack(&o, host, "down", stack_down, &so);
    cli_compose_options_clear(&o);
    return rc;
}

const struct cmd_entry cmd_down_entry = {
    .name = "down",
    .usage =
        "[-f FILE]... [-p NAME] [--host unix://PATH] [-v|--volumes] [--progress MODE | --json]",
    .summary = "stop and remove the project's containers and networks",
    .help = "options:\n"
            "  -f, --file FILE         compose file; repeat to merge several, in order\n"
            "  -p, --project-name NAME project name\n"
            "      --host unix://PATH  Docker engine socket (default: $DOCKER_HOST)\n"
            "  -v, --volumes           also remove the project's named volumes (data!)\n"
            "      --progress MODE     auto (default), tty, plain, json or quiet\n"
            "      --json              one JSON event per line\n",
    .exec = cmd_down_exec,
};
