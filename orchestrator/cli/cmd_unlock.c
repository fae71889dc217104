/*
 * cmd_unlock.c - `ttdeploy unlock --force`: removes a project's deployment
 * lock.  ttdeploy takes over locks whose owner process is gone on the same
 * host by itself; this is for the rest (a lost CI runner on another host).
 * It requires --force and prints who held the lock, so nobody breaks a
 * live deployment's lock by accident.
 */
#include "cmd.h"
#include "plan.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_unlock_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state", required_argument, NULL, CLI_OPT_STATE},
        {"plan", required_argument, NULL, CLI_OPT_PLAN},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"force", no_argument, NULL, CLI_OPT_FORCE},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    const char *state = NULL, *plan = NULL, *project = NULL;
    struct store *st = NULL;
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    int c, force = 0, rc, had = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
        if (c == CLI_OPT_STATE)
            state = optarg;
        else if (c == CLI_OPT_PLAN)
            plan = optarg;
        else if (c == CLI_OPT_PROJECT)
            project = optarg;
        else if (c == CLI_OPT_FORCE)
            force = 1;
        else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_unlock_entry);
            return EXIT_OK;
        } else
            return EXIT_BAD_INPUT;
    }
    char *name = cli_project_name(project, plan);
    if (!name) {
        fprintf(stderr, "ttdeploy unlock: name the project with -p NAME or --plan FILE\n");
        return EXIT_BAD_INPUT;
    }
    project = name;
    if ((rc = cli_open_store(state, plan, &st)) != EXIT_OK) {
        free(name);
        return rc;
    }
    rc = EXIT_OK;
    int held = store_lock_holder(st, project, &h, &err);
    if (held == 0) {
        printf("project %s is not locked\n", project);
    } else if (held < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_FAILED;
    } else if (!force) {
        fprintf(stderr,
                "ttdeploy unlock: project %s is locked by %s pid %ld (deployment %lld); if that "
                "deployment is gone, run again with --force\n",
                project, h.host, h.pid, h.deployment_id);
        rc = EXIT_LOCKED;
    } else if (store_lock_force(st, project, &had, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_FAILED;
    } else {
        printf("removed the lock on %s held by %s pid %ld (deployment %lld)\n", project, h.host,
               h.pid, h.deployment_id);
    }
    store_close(st);
    free(name);
    return rc;
}

const struct cmd_entry cmd_unlock_entry = {
    .name = "unlock",
    .usage = "--force [--state PATH | --plan FILE] [-p PROJECT]",
    .summary = "remove a project's deployment lock (after a lost deployment)",
    .help = "options:\n"
            "      --force          required: the lock may belong to a live deployment\n"
            "      --state PATH     the state store (default: ./.ttdeploy/state.db)\n"
            "      --plan FILE      the plan (its store and project)\n"
            "  -p, --project-name P the project\n",
    .exec = cmd_unlock_exec,
};
