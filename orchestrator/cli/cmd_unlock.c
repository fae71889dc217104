/*
 * cmd_unlock.c - `ttdeploy unlock --force`: removes a project's deployment
 * lock.  ttdeploy takes over a lock by itself when its holder's heartbeat
 * is older than STORE_LOCK_STALE_S, or at once when the holder was on this
 * host and PID namespace and its process is gone; this is for the rest.
 * It requires --force and prints who held the lock, so nobody breaks a
 * live deployment's lock by accident.
 */
#include "cmd.h"
#include "buf.h"
#include "state_volume.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --state engine: the lock is the holder container on the engine; it goes with --force. */
static int unlock_on_engine(const struct cli_args *a, const char *project)
{
    struct engine *e = NULL;
    struct tt_err err = {0};
    struct buf who = {0};
    int had = 0, rc = cli_open_engine(a, &e);

    if (rc != EXIT_OK)
        return rc;
    if (!cli_arg(a, CLI_OPT_FORCE)) {
        fprintf(stderr, "ttdeploy unlock: --state engine: run again with --force\n");
        rc = EXIT_BAD_INPUT;
    } else if (state_volume_force_unlock(e, project, &had, &who, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_FAILED;
    } else if (had) {
        printf("removed the lock on %s held by %s\n", project, who.data);
    } else {
        printf("project %s is not locked on the engine at %s\n", project, engine_host(e));
    }
    buf_release(&who);
    engine_close(e);
    return rc;
}

static int cmd_unlock_exec(const struct cli_args *a)
{
    const char *state = cli_arg(a, CLI_OPT_STATE);
    if (state && !strcmp(state, "engine")) {
        char *project = NULL;
        struct tt_err err = {0};
        if (cli_arg(a, CLI_OPT_PROJECT))
            project = xstrdup(cli_arg(a, CLI_OPT_PROJECT));
        else if (!cli_arg(a, CLI_OPT_PLAN) ||
                 deploy_project_name(cli_arg(a, CLI_OPT_PLAN), &project, &err) < 0)
            return fprintf(stderr, "ttdeploy unlock: %s\n",
                           err.msg[0] ? err.msg : "name the project with -p NAME or --plan FILE"),
                   EXIT_BAD_INPUT;
        int rc = unlock_on_engine(a, project);
        free(project);
        return rc;
    }

    struct store *st = NULL;
    struct tt_err err = {0};
    struct store_lock_owner h = {0};
    char *project = NULL;
    int rc = cli_open_project(a, &project, &st), had = 0;

    if (rc != EXIT_OK)
        return rc;
    struct buf who = {0};
    int held = store_lock_holder(st, project, &h, &err);
    if (held > 0)
        store_lock_owner_describe(&h, &who);
    if (held == 0) {
        printf("project %s is not locked\n", project);
    } else if (held < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_FAILED;
    } else if (!cli_arg(a, CLI_OPT_FORCE)) {
        fprintf(stderr,
                "ttdeploy unlock: project %s is locked by %s; if that deployment is gone, run "
                "again with --force\n",
                project, who.data);
        rc = EXIT_LOCKED;
    } else if (store_lock_force(st, project, &had, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_FAILED;
    } else {
        printf("removed the lock on %s held by %s\n", project, who.data);
    }
    buf_release(&who);
    store_close(st);
    free(project);
    return rc;
}

static const struct cmd_option unlock_options[] = {
    {"force", 0, NULL, "required: the lock may belong to a live deployment", CLI_OPT_FORCE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_unlock_entry = {
    .name = "unlock",
    .usage = "--force [--state PATH | --plan FILE] [-p NAME]",
    .summary = "remove a project's deployment lock (after a lost deployment)",
    .options = {unlock_options, cli_store_options, cli_project_option},
    .max_args = -1,
    .exec = cmd_unlock_exec,
};
