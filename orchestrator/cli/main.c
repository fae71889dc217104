/*
 * main.c - ttdeploy's entry point: finds the subcommand in the table and
 * runs it.  Everything a command does lives in its cmd_*.c file; its
 * options are parsed by cli_run() from its entry's tables.
 *
 * This is the full binary, build/ttdeploy-full; build/ttdeploy is the
 * light one (light.c), which runs the read commands itself and executes
 * this one for everything else.
 *
 * Signals: SIGPIPE is ignored (a closed reader is a write error).  The
 * first SIGINT or SIGTERM is only recorded (base/interrupt.h): waits end
 * early, no new step begins, the deployment is recorded unfinished, its
 * lock released, and the command exits 130 (SIGINT) or 143 (SIGTERM).  A
 * second one exits at once from the handler, like a crash: `recover`
 * takes the lock back at once (its holder's pid is gone) and finishes.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static const struct cmd_entry *const cmd_table[] = {
    &cmd_apply_entry,    &cmd_history_entry, &cmd_show_entry,
    &cmd_status_entry,   &cmd_recover_entry, &cmd_unlock_entry,
    &cmd_rollback_entry, &cmd_report_entry,  &cmd_timeline_entry,
    &cmd_audit_entry,    &cmd_up_entry,      &cmd_down_entry,
    &cmd_config_entry,   &cmd_graph_entry,   &cmd_check_entry,
    &cmd_diff_entry,     NULL};

static void usage(FILE *f)
{
    fputs("usage: ttdeploy [--version] [--help] COMMAND [ARGS]\n\n"
          "Declarative deployments of Docker Compose stacks.\n\ncommands:\n",
          f);
    for (size_t i = 0; cmd_table[i]; i++)
        fprintf(f, "  %-10s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
    fputs("\nRun 'ttdeploy COMMAND --help' for a command's options.\n", f);
}

int main(int argc, char **argv)
{
    cli_process_setup();
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ttdeploy %s\n", TTDEPLOY_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; cmd_table[i]; i++)
        if (!strcmp(argv[1], cmd_table[i]->name))
            return cli_check_output(cli_run(cmd_table[i], argc - 1, argv + 1));
    fprintf(stderr, "ttdeploy: unknown command \"%s\": see 'ttdeploy --help'\n", argv[1]);
    return EXIT_BAD_INPUT;
}
