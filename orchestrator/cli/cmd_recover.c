/*
 * cmd_recover.c - `ttdeploy recover PLAN`: finishes a deployment that was
 * interrupted (ttdeploy killed, machine lost): its unfinished steps are
 * marked interrupted, then the deployment is resumed or handed to
 * rollback, as the plan's on_crash says (default rollback).  Nothing is
 * left recorded as running.
 */
#include "deploy.h"
#include "cmd.h"

#include <stdio.h>

static int cmd_recover_exec(int argc, char **argv)
{
    struct apply_options o = {0};
    struct tt_err err = {0};
    int rc = cli_apply_options(argc, argv, &cmd_recover_entry, &o, NULL, NULL, NULL);

    if (rc != 0)
        return rc > 0 ? EXIT_OK : EXIT_BAD_INPUT;
    int outcome = apply_recover(&o, &err);
    if (outcome != APPLY_OK)
        fprintf(stderr, "ttdeploy: recover: %s\n", err.msg);
    return cli_apply_outcome_exit(outcome);
}

const struct cmd_entry cmd_recover_entry = {
    .name = "recover",
    .usage = "[--state PATH] [--host unix://PATH] [--lock-timeout D] PLAN",
    .summary = "finish an interrupted deployment: resume it or roll it back (plan on_crash:)",
    .help = "options:\n"
            "      --state PATH        the state store (default: .ttdeploy/state.db beside PLAN)\n"
            "      --host unix://PATH  Docker engine socket (default: $DOCKER_HOST)\n"
            "      --lock-timeout D    wait this long for the lock (default 5m)\n",
    .exec = cmd_recover_exec,
};
