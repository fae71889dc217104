/*
 * cmd_recover.c - `ttdeploy recover PLAN`: finishes a deployment that was
 * interrupted (ttdeploy killed, machine lost): its unfinished steps are
 * marked interrupted, then the deployment is resumed or handed to
 * rollback, as the plan's on_crash says (default rollback).  Nothing is
 * left recorded as running.  Unlike apply and rollback, it has no
 * --dry-run.  Its exec is apply's (cmd_apply.c), as tmux's next-window
 * shares select-window's.
 */
#include "cmd.h"

const struct cmd_entry cmd_recover_entry = {
    .name = "recover",
    .usage = "[--state PATH] [-H URL | --context NAME] [--insecure] [--mode local|swarm] "
             "[--lock-timeout D] [--readiness probe|docker] "
             "[--progress MODE | --json] PLAN",
    .summary = "finish an interrupted deployment: resume it or roll it back (plan on_crash:)",
    .options = {cli_deploy_options, cli_host_option, cli_readiness_option, cli_progress_options},
    .min_args = 1,
    .max_args = 1,
    .notes = "exit codes: 0 resumed to succeeded (or nothing to recover), 1 rolled back or\n"
             "            failed, 2 bad input, 3 rollback failed, 4 locked, 5 unreachable,\n"
             "            130 SIGINT, 143 SIGTERM (stopped; run recover again)\n",
    .exec = cmd_apply_exec,
};
