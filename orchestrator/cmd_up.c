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
    struct compose_project *p = NULL;
    struct dag *d = NULL;
    struct engine *e = NULL;
    struct tt_err err = {0};
    const char *host = NULL;
    int c, rc = EXIT_OK;

    so.progress = PROGRESS_AUTO;
    optind = 1;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, "f:p:h", longopts, NULL)) != -1) {
        if (cli_compose_option(c, optarg, &o))
            continue;
        switch (c) {
        case CLI_OPT_HOST:
            host = optarg;
            break;
        case CLI_OPT_TIMEOUT:
            so.timeout_ms = cli_duration_ms(optarg);
            if (so.timeout_ms <= 0) {
                fprintf(stderr, "ttdeploy up: --timeout \"%s\" is not a duration: use 90s or 2m\n",
                        optarg);
                rc = EXIT_BAD_INPUT;
            }
            break;
        case CLI_OPT_JSON:
            so.progress = PROGRESS_JSON;
            break;
        case CLI_OPT_READINESS:
            if (!strcmp(optarg, "probe") || !strcmp(optarg, "docker")) {
                so.readiness_docker = !strcmp(optarg, "docker");
            } else {
                fprintf(stderr, "ttdeploy up: --readiness must be probe or docker\n");
                rc = EXIT_BAD_INPUT;
            }
            break;
        case CLI_OPT_PROGRESS:
            if ((int)(so.progress = cli_progress_mode(optarg)) < 0) {
                fprintf(stderr, "ttdeploy up: --progress must be auto, tty, plain, json or quiet\n");
                rc = EXIT_BAD_INPUT;
            }
            break;
        case CLI_OPT_HELP:
            cli_usage(&cmd_up_entry);
            cli_compose_options_clear(&o);
            return EXIT_OK;
        default:
            rc = EXIT_BAD_INPUT;
        }
    }
    for (int i = optind; rc == EXIT_OK && i < argc; i++)
        strv_push(&so.services, argv[i]);
    if (rc == EXIT_OK)
        rc = cli_load_graph(&o, &p, &d);
    if (rc == EXIT_OK)
        rc = cli_open_engine(host, &e);
    if (rc == EXIT_OK && stack_up(e, p, d, &so, NULL, &err) < 0) {
        fprintf(stderr, "ttdeploy: up failed: %s\n", err.msg);
        rc = EXIT_FAILED;
    }
    engine_close(e);
    dag_free(d);
    compose_project_free(p);
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
