/*
 * main.c - ttdeploy's entry point: finds the subcommand in the table and
 * runs it.  Everything a command does lives in its cmd_*.c file; its
 * options are parsed by cli_run() from its entry's tables.
 *
 * Signals: SIGPIPE is ignored (a closed reader is a write error).  The
 * first SIGINT or SIGTERM is only recorded (base/interrupt.h): waits end
 * early, no new step begins, the deployment is recorded unfinished, its
 * lock released, and the command exits 130 (SIGINT) or 143 (SIGTERM).  A
 * second one exits at once from the handler, like a crash: `recover`
 * takes the lock back at once (its holder's pid is gone) and finishes.
 */
#include "cmd.h"
#include "interrupt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TTDEPLOY_VERSION
#define TTDEPLOY_VERSION "0.1.0"
#endif

static const struct cmd_entry *const cmd_table[] = {&cmd_apply_entry,
                                                    &cmd_history_entry,
                                                    &cmd_show_entry,
                                                    &cmd_status_entry,
                                                    &cmd_recover_entry,
                                                    &cmd_unlock_entry,
                                                    &cmd_rollback_entry,
                                                    &cmd_report_entry,
                                                    &cmd_timeline_entry,
                                                    &cmd_up_entry,
                                                    &cmd_down_entry,
                                                    &cmd_config_entry,
                                                    &cmd_graph_entry,
                                                    NULL};

static void usage(FILE *f)
{
    fputs("usage: ttdeploy [--version] [--help] COMMAND [ARGS]\n\n"
          "Declarative deployments of Docker Compose stacks.\n\ncommands:\n",
          f);
    for (size_t i = 0; cmd_table[i]; i++)
        fprintf(f, "  %-10s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
    fputs("\nRun 'ttdeploy COMMAND --help' for a command's options.\n", f);
}

/*
 * The output could not all be written (a reader that went away): say so,
 * and fail a command that had not failed already.  With SIGPIPE ignored
 * this is how a closed pipe shows, instead of killing a deployment half
 * way through.
 */
static int check_output(int rc)
{
    int e = fflush(stdout) == 0 ? 0 : errno;
    if (!e && !ferror(stdout))
        return rc;
    fprintf(stderr, "ttdeploy: writing the output failed: %s\n",
            e ? strerror(e) : "a write was refused (is the reader gone?)");
    return rc == EXIT_OK ? EXIT_FAILED : rc;
}

/* Async-signal-safe: records the signal; the second one ends the process at once. */
static void on_stop_signal(int sig)
{
    if (interrupt_note(sig) >= 2)
        _exit(128 + sig);
}

/* SIGINT and SIGTERM to on_stop_signal, without SA_RESTART: a blocking call returns EINTR. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a write to a closed pipe or socket is an error, not death */
    umask(077); /* backups, the store, reports: readable by their owner alone */
    install_stop_handlers();
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
            return check_output(cli_run(cmd_table[i], argc - 1, argv + 1));
    fprintf(stderr, "ttdeploy: unknown command \"%s\": see 'ttdeploy --help'\n", argv[1]);
    return EXIT_BAD_INPUT;
}
