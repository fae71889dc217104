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

#include <stdio.h>

static int up_all(struct engine *e, const struct compose_project *p, const struct dag *d,
                  const struct stack_options *so, struct tt_err *err)
{
    return stack_up(e, p, d, so, NULL, err);
}

static int cmd_up_exec(const struct cli_args *a)
{
    struct stack_options so = {0};
    const char *timeout = cli_arg(a, CLI_OPT_TIMEOUT);
    int rc = EXIT_BAD_INPUT;

    if (timeout && (so.timeout_ms = cli_duration_ms(timeout)) <= 0) {
        fprintf(stderr, "ttdeploy up: --timeout \"%s\" is not a duration: use 90s or 2m\n",
                timeout);
    } else {
        for (int i = 0; i < a->argc; i++)
            strv_push(&so.services, a->argv[i]);
        rc = cli_run_stack(a, &so, up_all);
    }
    strv_clear(&so.services);
    return rc;
}

static const struct cmd_option up_options[] = {
    {"timeout", 0, "D", "give up on services not ready after D (default 120s)", CLI_OPT_TIMEOUT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_up_entry = {
    .name = "up",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [-H URL | --context NAME] "
             "[--insecure] [--mode local|swarm] "
             "[--timeout D] [--progress MODE | --json] [--readiness probe|docker] [SERVICE...]",
    .summary = "create and start the stack in dependency order; wait until it is ready",
    .options = {cli_compose_options, cli_host_option, up_options, cli_progress_options,
                cli_readiness_option},
    .max_args = -1,
    .notes = "SERVICE...: only these services and their dependencies (default: all)\n"
             "\nexit codes: 0 ready, 1 a service failed, 2 bad input, 5 engine unreachable\n",
    .exec = cmd_up_exec,
};
