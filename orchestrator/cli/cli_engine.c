/*
 * cli_engine.c - the helpers of cli.c that talk to a Docker engine:
 * connecting to the one the options name, reading a store the engine
 * keeps into a private copy, and running up or down on it.  Kept apart
 * from cli.c because the light binary (light.c) links cli.c without
 * libcurl: it has stand-ins of its own for the first two, and no command
 * that runs up or down.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"
#include "state_volume.h"
#include "store.h"

int cli_open_engine(const struct cli_args *a, struct engine **out)
{
    struct tt_err err = {0};
    struct engine_choice c = {cli_arg(a, CLI_OPT_HOST), cli_arg(a, CLI_OPT_CONTEXT), NULL, NULL,
                              cli_arg(a, CLI_OPT_INSECURE) != NULL};
    if (engine_open_choice(&c, out, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_UNREACHABLE;
    }
    if (engine_warning(*out))
        fprintf(stderr, "ttdeploy: %s\n", engine_warning(*out));
    return EXIT_OK;
}

/* The private copy of a store read from the engine: deleted when ttdeploy exits. */
static char engine_copy_dir[4096];

static void engine_copy_remove(void)
{
    state_volume_tempdir_remove(engine_copy_dir);
}

/*
 * The project's store as the engine keeps it (--state engine, or the
 * plan's state: engine), read through a short-lived reader container (no
 * lock) into a private copy.  The engine: host (--host), else
 * $DOCKER_HOST, else the plan's engine.host, else the default socket.
 */
int cli_open_engine_store(const char *host, const char *plan_host, const char *project,
                          struct store **out)
{
    struct tt_err err = {0};
    struct engine *e = NULL;
    char db[4200];
    const char *env = getenv("DOCKER_HOST");

    if (!host && !(env && *env))
        host = plan_host;
    if (engine_open(host, &e, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_UNREACHABLE;
    }
    if (!engine_copy_dir[0]) { /* one copy a process, removed at exit */
        if (state_volume_tempdir(engine_copy_dir, &err) == 0)
            atexit(engine_copy_remove);
        else
            engine_copy_dir[0] = '\0';
    }
    snprintf(db, sizeof(db), "%s/state.db", engine_copy_dir);
    int rc = err.msg[0] || state_volume_read(e, project, engine_copy_dir, &err) < 0 ||
                     store_open_existing(db, out, &err) < 0
                 ? EXIT_BAD_INPUT
                 : EXIT_OK;
    if (rc != EXIT_OK)
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
    engine_close(e);
    return rc;
}

int cli_run_stack(const struct cli_args *a, struct stack_options *so, cli_stack_fn fn,
                  cli_stack_fn swarm_fn)
{
    const char *mode = cli_arg(a, CLI_OPT_MODE);
    struct compose_project *p = NULL;
    struct dag *d = NULL;
    struct engine *e = NULL;
    struct tt_err err = {0};
    int rc = EXIT_BAD_INPUT;

    if (mode && strcmp(mode, "local") && strcmp(mode, "swarm"))
        fprintf(stderr, "ttdeploy %s: --mode \"%s\": use local or swarm\n", a->entry->name, mode);
    else if (cli_take_progress(a, &so->progress, &so->readiness_docker) == 0)
        rc = cli_load_graph(a, &p, &d);
    if (mode && !strcmp(mode, "swarm"))
        fn = swarm_fn;
    if (rc == EXIT_OK)
        rc = cli_open_engine(a, &e);
    if (rc == EXIT_OK && fn(e, p, d, so, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s failed: %s\n", a->entry->name, err.msg);
        rc = EXIT_FAILED;
    }
    engine_close(e);
    dag_free(d);
    compose_project_free(p);
    return rc;
}
