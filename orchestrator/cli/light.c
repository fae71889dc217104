/*
 * light.c - the light binary, build/ttdeploy: --version and the commands
 * that only read the store (history, show, report, timeline, audit) run
 * here; every other command, and --help, is the full binary's
 * (ttdeploy-full, main.c), which this one executes in its own place
 * (execv: the same process, arguments, environment and descriptors).
 *
 * Why: the full binary links libcurl, libpq and libgit2, and the dynamic
 * loader maps and relocates their forty-odd libraries before main() runs
 * (about 5 ms here); this one links only SQLite, jansson and libyaml, so
 * the commands people run by hand in a loop start as quickly as git's
 * (1.3 ms; bench/startup.py).
 *
 * A read command turns to the engine only for a store kept on the engine
 * (--state engine, or a plan saying state: engine).  Here the two helpers
 * of cli_engine.c that would connect are replaced by ones that execute the
 * full binary, which runs the command again from the start; nothing has
 * been written or printed by then.
 *
 * The full binary is found beside this one (build/, or a bin/ with both),
 * else in ../libexec/ttdeploy/ from it (make install).
 */
#include "cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FULL_NAME "ttdeploy-full"

static const struct cmd_entry *const light_table[] = {
    &cmd_history_entry,  &cmd_show_entry,  &cmd_report_entry,
    &cmd_timeline_entry, &cmd_audit_entry, NULL,
};

static char **saved_argv;

/* The full binary's path into out: beside this one, else its libexec folder. 0 or -1. */
static int full_path(char *out, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return -1;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    snprintf(out, n, "%s/%s", self, FULL_NAME);
    if (access(out, X_OK) == 0)
        return 0;
    snprintf(out, n, "%s/../libexec/ttdeploy/%s", self, FULL_NAME);
    return access(out, X_OK);
}

/* Executes the full binary with this process's arguments; returns only when it could not. */
static int exec_full(void)
{
    char path[PATH_MAX + 64];
    if (full_path(path, sizeof(path)) < 0) {
        fprintf(stderr,
                "ttdeploy: %s is not installed beside ttdeploy nor in ../libexec/ttdeploy: "
                "run `make` (or `make install`) again\n",
                FULL_NAME);
        return EXIT_BAD_INPUT;
    }
    fflush(NULL);
    execv(path, saved_argv);
    fprintf(stderr, "ttdeploy: cannot run %s: %s\n", path, strerror(errno));
    return EXIT_BAD_INPUT;
}

/* cli_engine.c's, for the light binary: the full binary connects. */
int cli_open_engine(const struct cli_args *a, struct engine **out)
{
    (void)a;
    *out = NULL;
    return exec_full();
}

/* cli_engine.c's, for the light binary: the full binary reads the engine's store. */
int cli_open_engine_store(const char *host, const char *plan_host, const char *project,
                          struct store **out)
{
    (void)host, (void)plan_host, (void)project;
    *out = NULL;
    return exec_full();
}

int main(int argc, char **argv)
{
    saved_argv = argv;
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("ttdeploy %s\n", TTDEPLOY_VERSION);
        return cli_check_output(EXIT_OK);
    }
    for (size_t i = 0; argc >= 2 && light_table[i]; i++) {
        if (!strcmp(argv[1], light_table[i]->name)) {
            cli_process_setup();
            return cli_check_output(cli_run(light_table[i], argc - 1, argv + 1));
        }
    }
    return exec_full();
}
