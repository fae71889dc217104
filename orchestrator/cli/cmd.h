/*
 * cmd.h - the command table: one struct cmd_entry per subcommand, each
 * defined in its own cmd_*.c file, and what the commands share.
 *
 * A command declares its options once, as tables of struct cmd_option
 * (git's parse-options and tmux's cmd_entry are the models).  The same
 * tables drive getopt_long (cli_options.c builds its long options and
 * short letters from them) and the command's --help; options that several
 * commands share are declared once here, as fragments an entry lists.
 * main.c finds the entry, cli_run() parses the command line against it
 * and calls its exec with the result.
 *
 * Only this folder prints and chooses exit codes.  May include: everything
 * below it; from deploy/, only deploy.h.
 */
#ifndef CMD_H
#define CMD_H

#include <jansson.h>
#include <stddef.h>

#include "compose.h"
#include "dag.h"
#include "deploy.h"
#include "engine.h"

#ifndef TTDEPLOY_VERSION
#define TTDEPLOY_VERSION "0.1.0"
#endif

/* Exit codes, documented in README.md; never reused for another meaning. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,    /* deployment failed and was rolled back */
    EXIT_BAD_INPUT = 2, /* usage, compose or plan error */
    EXIT_ROLLBACK_FAILED = 3,
    EXIT_LOCKED = 4,
    EXIT_UNREACHABLE = 5, /* Docker engine or database unreachable */
    EXIT_SIGINT = 130,    /* stopped by SIGINT (128 + 2): left unfinished for `recover` */
    EXIT_SIGTERM = 143,   /* stopped by SIGTERM (128 + 15): the same */
};

/* What an option is to the commands: cli_arg() looks its value up by it. */
enum cli_opt {
    CLI_OPT_NONE,
    CLI_OPT_FILE,
    CLI_OPT_PROJECT,
    CLI_OPT_PROFILE,
    CLI_OPT_ENV_FILE,
    CLI_OPT_FORMAT,
    CLI_OPT_HOST,
    CLI_OPT_TIMEOUT,
    CLI_OPT_JSON,
    CLI_OPT_PROGRESS,
    CLI_OPT_READINESS,
    CLI_OPT_STATE,
    CLI_OPT_PLAN,
    CLI_OPT_DRY_RUN,
    CLI_OPT_LOCK_TIMEOUT,
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
    CLI_OPT_VOLUMES,
    CLI_OPT_HEAD,
    CLI_OPT_HELP,
    CLI_OPT_ACTOR,
    CLI_OPT_RELEASE,
    CLI_OPT_TAG,
    CLI_OPT_CONTEXT,
    CLI_OPT_INSECURE,
    CLI_OPT_MODE,
};

/*
 * One option, declared once.  A table of them ends with a row whose name
 * is NULL.  A flag's value is its own long name, so two options with one
 * id are one setting where the last given wins: --json shares its id with
 * --progress and means "--progress json".
 */
struct cmd_option {
    const char *name; /* long name, without the dashes */
    int letter;       /* short option letter, or 0 */
    const char *arg;  /* its argument's name in --help ("FILE"), or NULL for a flag */
    const char *help; /* one line of --help; '\n' continues it on the next */
    enum cli_opt id;
};

/* Options several commands share (cli_options.c). */
extern const struct cmd_option cli_compose_options[];  /* -f, -p, --profile, --env-file */
extern const struct cmd_option cli_store_options[];    /* --state, --plan */
extern const struct cmd_option cli_project_option[];   /* -p: the project, else the plan's */
extern const struct cmd_option cli_host_option[];      /* --host, --context, --insecure */
extern const struct cmd_option cli_mode_option[];      /* --mode */
extern const struct cmd_option cli_progress_options[]; /* --progress, --json (events) */
extern const struct cmd_option cli_readiness_option[]; /* --readiness */
extern const struct cmd_option cli_deploy_options[];   /* --state beside the plan, --lock-timeout */
extern const struct cmd_option cli_dry_run_option[];   /* --dry-run */
extern const struct cmd_option cli_json_option[];      /* --json (the output) */

#define CMD_MAX_TABLES 7

struct cli_args;

struct cmd_entry {
    const char *name;
    const char *usage;   /* synopsis, after "ttdeploy NAME " */
    const char *summary; /* one line for `ttdeploy --help` */
    /* Its options: up to CMD_MAX_TABLES tables, listed in --help in this order. */
    const struct cmd_option *options[CMD_MAX_TABLES];
    /*
     * How many operands it takes; max_args -1: any number (up's services;
     * config, graph, history, status and unlock ignore stray operands, as
     * they always have).
     */
    int min_args, max_args;
    const char *notes; /* printed after the options in --help (exit codes...), or NULL */
    int (*exec)(const struct cli_args *a);
};

extern const struct cmd_entry cmd_config_entry;
extern const struct cmd_entry cmd_graph_entry;
extern const struct cmd_entry cmd_up_entry;
extern const struct cmd_entry cmd_down_entry;
extern const struct cmd_entry cmd_apply_entry;
extern const struct cmd_entry cmd_check_entry;
extern const struct cmd_entry cmd_recover_entry;
extern const struct cmd_entry cmd_history_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_unlock_entry;
extern const struct cmd_entry cmd_rollback_entry;
extern const struct cmd_entry cmd_report_entry;
extern const struct cmd_entry cmd_timeline_entry;
extern const struct cmd_entry cmd_audit_entry;
extern const struct cmd_entry cmd_diff_entry;

/* One option as given: a flag's value is its long name. */
struct cli_value {
    enum cli_opt id;
    const char *arg;
};

/* A command line parsed against one entry's tables. */
struct cli_args {
    const struct cmd_entry *entry;
    struct cli_value *given; /* the options, in the order given */
    size_t n;
    int argc; /* the operands */
    char **argv;
};

/*
 * Parses argv (argv[0] is the command's name) against e's tables and runs
 * e's exec; prints the help for -h/--help and says what is wrong with a
 * bad command line.  Returns the exit code.
 */
int cli_run(const struct cmd_entry *e, int argc, char **argv);
/*
 * What main() does first, in both binaries: SIGPIPE ignored (a closed
 * reader is a write error), umask 077, and the stop signals recorded
 * (base/interrupt.h; a second one exits at once).
 */
void cli_process_setup(void);
/* rc, unless the output could not all be written: then says so and fails. */
int cli_check_output(int rc);
/* The last value given for option id; NULL when it was not given. */
const char *cli_arg(const struct cli_args *a, enum cli_opt id);
/* Appends every value given for option id to v, in order. */
void cli_arg_all(const struct cli_args *a, enum cli_opt id, struct strv *v);

/* Field key of a deployment row's "ci" JSON text (caller frees), or NULL. */
char *cli_ci_field(json_t *row, const char *key);
/* Prints err (of command cmd, or NULL) on stderr; under GitHub Actions also as an annotation of its
 * file. */
void cli_error(const char *cmd, const struct tt_err *err);
/* Warns when CI runs apply with a store inside its (fresh each run) checkout. */
void cli_ci_warn_store(const struct apply_options *o);
/* Appends deployment id's report (or err, when none began) to $GITHUB_STEP_SUMMARY if set. */
void cli_ci_step_summary(const struct apply_options *o, long long id, const struct tt_err *err);

/* "90s", "2m" or a number of seconds → ms; -1 when invalid. */
long cli_duration_ms(const char *s);
/* "2026-11-23 05:01:02" (UTC) for a unix time. */
void cli_format_time(double t, char *buf, size_t n);
/* Prints j on stdout, indented, with flags (JSON_SORT_KEYS...) and a newline. */
void cli_print_json(const json_t *j, size_t flags);
/*
 * --format: one of formats (NULL-ended; the first is the default), or NULL
 * after saying which ones there are.
 */
const char *cli_format(const struct cli_args *a, const char *const *formats);

/* Loads the project of -f/-p/--profile/--env-file and its DAG, printing warnings and errors. */
int cli_load_graph(const struct cli_args *a, struct compose_project **p, struct dag **d);
/* What config or graph prints of a project (d->project) in one of its formats. */
typedef void (*cli_print_fn)(const struct dag *d, const char *format);
/* Takes --format (formats: NULL-ended, the first the default), loads the project, prints it. */
int cli_print_project(const struct cli_args *a, const char *const *formats, cli_print_fn print);
/* Connects to the Docker engine of --host, printing the error; returns an exit code. */
int cli_open_engine(const struct cli_args *a, struct engine **out);

struct store;
/*
 * Opens the existing store at --state, else beside --plan, else
 * ./.ttdeploy/state.db (read-only where it cannot be written: reading
 * never creates a store); with --state engine, or a --plan that says
 * state: engine, a private copy of the project's store on the engine
 * (-p or the plan's project; --host, $DOCKER_HOST or the plan's
 * engine.host).  An exit code.
 */
int cli_open_store(const struct cli_args *a, struct store **out);
/*
 * The store of project as the engine of host (else $DOCKER_HOST, else
 * plan_host) keeps it, read through a short-lived reader container into a
 * private copy removed at exit; an exit code, after saying what is wrong.
 */
int cli_open_engine_store(const char *host, const char *plan_host, const char *project,
                          struct store **out);
/*
 * For what apply prints after it (the audit head, the summary): 1 when a
 * deployment with options o keeps its store on the engine (--state engine,
 * the plan's state: engine), *out then its copy, or NULL after saying why;
 * 0 when its store is a path.
 */
int cli_open_engine_copy(const struct apply_options *o, struct store **out);
/* The project of -p or --plan (*project, caller frees) and its store; an exit code. */
int cli_open_project(const struct cli_args *a, char **project, struct store **st);
/* The deployment the operand names, as the store records it (caller store_record_free()s). */
int cli_load_deployment(const struct cli_args *a, struct store_record **out);

/*
 * --progress (or --json) and --readiness, which up, down and the
 * deployments share: 0, or -1 after saying what is wrong.
 */
int cli_take_progress(const struct cli_args *a, enum progress_mode *progress,
                      int *readiness_docker);

struct stack_options;
/* The action of up or down, run by cli_run_stack. */
typedef int (*cli_stack_fn)(struct engine *e, const struct compose_project *p, const struct dag *d,
                            const struct stack_options *so, struct tt_err *err);
/*
 * Adds --progress/--json and --readiness to so (the command has set its
 * own options), loads the project, connects and runs fn; an exit code.
 */
int cli_run_stack(const struct cli_args *a, struct stack_options *so, cli_stack_fn fn,
                  cli_stack_fn swarm_fn);

/* The options of apply, recover and rollback into o: 0, or -1 after saying what is wrong. */
int cli_apply_options(const struct cli_args *a, struct apply_options *o);
/* Prints err unless the deployment succeeded; returns the outcome's exit code. */
int cli_apply_exit(const struct cli_args *a, enum apply_outcome outcome, const struct tt_err *err);
/* After apply, recover or rollback: prints the store's audit head for the CI log to keep. */
void cli_print_audit_head(const struct apply_options *o);
/*
 * The preflight checks' result (deploy_check's, or apply --dry-run's):
 * one line per check and what to do about a failure, then the verdict
 * (cmd_check.c).
 */
void cli_print_checks(const json_t *result);
/* The exec of apply and of recover, which shares it. */
int cmd_apply_exec(const struct cli_args *a);

#endif
