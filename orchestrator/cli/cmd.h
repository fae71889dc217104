/*
 * cmd.h - the command table: one struct cmd_entry per subcommand, each
 * defined in its own cmd_*.c file; main.c only dispatches.
 */
#ifndef CMD_H
#define CMD_H

#include "compose.h"
#include "dag.h"
#include "engine.h"

/* Exit codes, documented in README.md; never reused for another meaning. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,    /* deployment failed and was rolled back */
    EXIT_BAD_INPUT = 2, /* usage, compose or plan error */
    EXIT_ROLLBACK_FAILED = 3,
    EXIT_LOCKED = 4,
    EXIT_UNREACHABLE = 5, /* Docker engine or database unreachable */
};

struct cmd_entry {
    const char *name;
    const char *usage;   /* arguments, after "ttdeploy NAME " */
    const char *summary; /* one line for `ttdeploy --help` */
    const char *help;    /* the options, for `ttdeploy NAME --help` */
    int (*exec)(int argc, char **argv);
};

extern const struct cmd_entry cmd_config_entry;
extern const struct cmd_entry cmd_graph_entry;
extern const struct cmd_entry cmd_up_entry;
extern const struct cmd_entry cmd_down_entry;
extern const struct cmd_entry cmd_apply_entry;
extern const struct cmd_entry cmd_recover_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_unlock_entry;
extern const struct cmd_entry cmd_rollback_entry;
extern const struct cmd_entry cmd_report_entry;

/* Option codes shared by every command that loads a compose project. */
enum {
    CLI_OPT_FILE = 'f',
    CLI_OPT_PROJECT = 'p',
    CLI_OPT_PROFILE = 0x100,
    CLI_OPT_ENV_FILE,
    CLI_OPT_FORMAT,
    CLI_OPT_HOST,
    CLI_OPT_TIMEOUT,
    CLI_OPT_JSON,
    CLI_OPT_PROGRESS,
    CLI_OPT_READINESS,
    CLI_OPT_STATE,
    CLI_OPT_DRY_RUN,
    CLI_OPT_LOCK_TIMEOUT,
    CLI_OPT_PLAN,
    CLI_OPT_LIMIT,
    CLI_OPT_SERVICE,
    CLI_OPT_STATUS,
    CLI_OPT_SINCE,
    CLI_OPT_FORCE,
    CLI_OPT_TO,
    CLI_OPT_TO_TAG,
    CLI_OPT_PREVIOUS,
    CLI_OPT_WITH_MIGRATIONS,
    CLI_OPT_RESTORE_BACKUP,
    CLI_OPT_EXPLAIN_MATRIX,
    CLI_OPT_PHASE,
    CLI_OPT_CHECK,
    CLI_OPT_MEASURE,
    CLI_OPT_VOLUMES = 'v',
    CLI_OPT_HELP = 'h',
};

/* Takes option c if it is a compose option; returns 1 when taken. */
int cli_compose_option(int c, const char *arg, struct compose_options *o);
void cli_compose_options_clear(struct compose_options *o);
/* Prints the command's usage and options to stdout. */
void cli_usage(const struct cmd_entry *e);
/* Loads the project, printing warnings and errors; returns an exit code. */
int cli_load_project(const struct compose_options *o, struct compose_project **out);
/* Loads the project and builds its DAG; returns an exit code. */
int cli_load_graph(const struct compose_options *o, struct compose_project **p, struct dag **d);
/* Connects to the Docker engine, printing the error; returns an exit code. */
int cli_open_engine(const char *host, struct engine **out);
/* "auto", "tty", "plain", "json" → mode; -1 when unknown. */
int cli_progress_mode(const char *s);
/* "90s", "2m" → ms; -1 when invalid. */
long cli_duration_ms(const char *s);

struct apply_options;
struct store;
struct stack_options;

/*
 * Takes an option that up and down share (--host, --progress, --json,
 * --readiness) into so and *host: returns 1 when taken, -1 when its value
 * is bad (after saying so), 0 when it is not one of them.
 */
int cli_stack_option(int c, const char *arg, const char *cmd, struct stack_options *so,
                     const char **host);
/* The action of a stack command, run by cli_run_stack. */
typedef int (*cli_stack_fn)(struct engine *e, const struct compose_project *p, const struct dag *d,
                            const struct stack_options *so, struct tt_err *err);
/* Loads the project and its DAG, connects to the engine and runs fn; returns an exit code. */
int cli_run_stack(const struct compose_options *o, const char *host, const char *cmd,
                  cli_stack_fn fn, const struct stack_options *so);
/* The project name: given, else the plan's project:, else its compose files' name (caller frees).
 */
char *cli_project_name(const char *given, const char *plan);
/* apply and recover share their options; returns -1 on a bad option, 1 after --help. */
/* A command's own option: 0 when taken, -1 (message printed) when bad. */
typedef int (*cli_extra_fn)(int c, const char *arg, void *ctx);
struct option;
int cli_apply_options(int argc, char **argv, const struct cmd_entry *entry, struct apply_options *o,
                      const struct option *extra, cli_extra_fn on_extra, void *ctx);
/* enum apply_outcome → exit code. */
int cli_apply_outcome_exit(int outcome);
/* Opens the store at state, else beside plan, else ./.ttdeploy/state.db; prints errors. */
int cli_open_store(const char *state, const char *plan, struct store **out);
/* Deployment id_arg as store_show() gives it (*out, caller json_decref()s); an exit code. */
int cli_load_deployment(const char *cmd, const char *state, const char *plan, const char *id_arg,
                        json_t **out);
/* "2026-11-23 05:01:02" (UTC) for a unix time. */
void cli_format_time(double t, char *buf, size_t n);

#endif
