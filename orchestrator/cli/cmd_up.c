/*
 * cmd_up.c - `ttdeploy up`: brings the project (or the named services and
 * what they depend on) up and waits until every one is ready: healthy if
 * it has a healthcheck, running otherwise, exited 0 if others wait for it
 * to complete.  Unlike `docker compose up -d` it returns only when the
 * stack is usable, and fails with the health check's output and the last
 * log lines of the service that is not.
 */
#include "cmd.h"
#include "stack.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static int up_all(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *so, struct tt_err *err)
{
    return stack_up(e, p, d, so, NULL, err);
}

static int cmd_up_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, CLI_OPT_FILE},
        {"profile", required_argument, NULL, CLI_OPT_PROFILE},
        {"env-file", required_argument, NULL, CLI_OPT_ENV_FILE},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"host", required_argument, NULL, CLI_OPT_HOST},
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
        {"progress", required_argument, NULL, CLI_OPT_PROGRESS},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"readiness", required_argument, NULL, CLI_OPT_READINESS},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct compose_options o = {0};
    struct stack_options so = {0};
    const char *host = NULL;
    int c, taken, rc = EXIT_OK;

    so.progress = PROGRESS_AUTO;
    optind = 1;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "f:p:h", longopts, NULL)) != -1) {
        if (cli_compose_option(c, optarg, &o))
            continue;
        if ((taken = cli_stack_option(c, optarg, "up", &so, &host)) != 0) {
            rc = taken < 0 ? EXIT_BAD_INPUT : EXIT_OK;
        } else if (c == CLI_OPT_TIMEOUT) {
            so.timeout_ms = cli_duration_ms(optarg);
            if (so.timeout_ms <= 0) {
                fprintf(stderr, "ttdeploy up: --timeout \"%s\" is not a duration: use 90s or 2m\n",
                        optarg);
                rc = EXIT_BAD_INPUT;
            }
        } else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_up_entry);
            cli_compose_options_clear(&o);
            return EXIT_OK;
        } else {
            rc = EXIT_BAD_INPUT;
        }
    }
    for (int i = optind; rc == EXIT_OK && i < argc; i++)
        strv_push(&so.services, argv[i]);
    if (rc == EXIT_OK)
        rc = cli_run_stack(&o, host, "up", up_all, &so);
    strv_clear(&so.services);
    cli_compose_options_clear(&o);
    return rc;
}

const struct cmd_entry cmd_up_entry = {
    .name = "up",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--host unix://PATH] [--timeout D] "
             "[--progress MODE | --json] [--readiness probe|docker] [SERVICE...]",
    .summary = "create and start the stack in dependency order; wait until it is ready",
    .help = "options:\n"
            "  -f, --file FILE         compose file; repeat to merge several, in order\n"
            "  -p, --project-name NAME project name\n"
            "      --profile P         enable services of profile P (repeatable)\n"
            "      --env-file F        read variables from F instead of .env (repeatable)\n"
            "      --host unix://PATH  Docker engine socket (default: $DOCKER_HOST, else\n"
            "                          unix:///var/run/docker.sock)\n"
            "      --timeout D         give up on services not ready after D (default 120s)\n"
            "      --progress MODE     auto (default), tty, plain, json or quiet\n"
            "      --json              one JSON event per line (same as --progress json)\n"
            "      --readiness HOW     probe (default): run each healthcheck through exec\n"
            "                          right after start; docker: wait for Docker's status\n"
            "  SERVICE...              only these services and their dependencies\n"
            "\nexit codes: 0 ready, 1 a service failed, 2 bad input, 5 engine unreachable\n",
    .exec = cmd_up_exec,
};
