/*
 * cli_options.c - the command line: the option tables several commands
 * share, the one parser (getopt_long, built from an entry's tables) and the
 * one help printer (`ttdeploy NAME --help`, from the same tables).
 *
 * A command never sees getopt: cli_run() parses, answers --help, refuses a
 * bad option or a wrong number of operands, and hands the command a struct
 * cli_args whose values cli_arg() looks up by option id.  What a value
 * means (a duration, a mode) is the command's business, or that of the
 * helper in cli.c that the commands sharing it call.
 */
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest.h"

const struct cmd_option cli_compose_options[] = {
    {"file", 'f', "FILE", "compose file; repeat to merge several, in order", CLI_OPT_FILE},
    {"project-name", 'p', "NAME", "project name (default: name:, or the directory)",
     CLI_OPT_PROJECT},
    {"profile", 0, "P", "enable services of profile P (repeatable)", CLI_OPT_PROFILE},
    {"env-file", 0, "F", "read variables from F instead of .env (repeatable)", CLI_OPT_ENV_FILE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_store_options[] = {
    {"state", 0, "PATH", "the state store (default: ./.ttdeploy/state.db)", CLI_OPT_STATE},
    {"plan", 0, "FILE", "use the store beside this plan", CLI_OPT_PLAN},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_project_option[] = {
    {"project-name", 'p', "NAME", "the project (default: the project of --plan)", CLI_OPT_PROJECT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_host_option[] = {
    {"host", 'H', "URL",
     "Docker engine: unix://PATH, tcp://HOST:PORT (TLS from\n$DOCKER_TLS_VERIFY, "
     "$DOCKER_CERT_PATH) or ssh://USER@HOST\n(default: $DOCKER_HOST, the plan's engine, else\n"
     "unix:///var/run/docker.sock)",
     CLI_OPT_HOST},
    {"context", 0, "NAME", "Docker context to use (default: $DOCKER_CONTEXT)", CLI_OPT_CONTEXT},
    {"insecure", 0, NULL, "allow a plain tcp:// engine without TLS (warns)", CLI_OPT_INSECURE},
    {"mode", 0, "MODE",
     "local (containers) or swarm (Swarm services;\ndefault: the plan's engine mode)",
     CLI_OPT_MODE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_progress_options[] = {
    {"progress", 0, "MODE", "auto (default), tty, plain, json or quiet", CLI_OPT_PROGRESS},
    {"json", 0, NULL, "one JSON event per line (same as --progress json)", CLI_OPT_PROGRESS},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_readiness_option[] = {
    {"readiness", 0, "HOW",
     "probe (default): run each healthcheck through exec\nright after start; docker: wait for "
     "Docker's status",
     CLI_OPT_READINESS},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_deploy_options[] = {
    {"state", 0, "PATH",
     "the state store (default: .ttdeploy/state.db beside\nPLAN); engine: in a volume on the "
     "engine",
     CLI_OPT_STATE},
    {"lock-timeout", 0, "D", "wait this long for another deployment (default 5m)",
     CLI_OPT_LOCK_TIMEOUT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_dry_run_option[] = {
    {"dry-run", 0, NULL, "print what would change; touch nothing", CLI_OPT_DRY_RUN},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_option cli_json_option[] = {
    {"json", 0, NULL, "JSON instead of text", CLI_OPT_JSON},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

/* Every command has it, after its own tables. */
static const struct cmd_option help_option = {"help", 'h', NULL, "print this help", CLI_OPT_HELP};

/* Where the help lines start in --help, and how wide the option column is. */
enum { HELP_COLUMN = 26 };

/* getopt_long's value for row i, above every short letter. */
enum { ROW_VAL = 0x100 };

/* The rows of e's tables, then the help row (caller frees the array). */
static const struct cmd_option **entry_rows(const struct cmd_entry *e, size_t *n)
{
    const struct cmd_option **rows;
    const struct cmd_option *o;
    size_t k = 0, cap = 1;

    for (int t = 0; t < CMD_MAX_TABLES && e->options[t]; t++)
        for (o = e->options[t]; o->name; o++)
            cap++;
    rows = xcalloc(cap, sizeof(*rows));
    for (int t = 0; t < CMD_MAX_TABLES && e->options[t]; t++)
        for (o = e->options[t]; o->name; o++)
            rows[k++] = o;
    rows[k++] = &help_option;
    *n = k;
    return rows;
}

/* One line of --help (more where its help continues): "  -f, --file FILE   help". */
static void print_option(const struct cmd_option *o)
{
    char left[64];
    int w;

    if (o->letter)
        w = snprintf(left, sizeof(left), "-%c, --%s%s%s", o->letter, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    else
        w = snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
    printf("  %-*s", HELP_COLUMN - 3, left);
    if (w > HELP_COLUMN - 3)
        printf("\n%*s", HELP_COLUMN - 1, "");
    putchar(' ');
    for (const char *h = o->help; *h; h++) {
        putchar(*h);
        if (*h == '\n')
            printf("%*s", HELP_COLUMN, "");
    }
    putchar('\n');
}

/* `ttdeploy NAME --help`: usage, summary, every option, then the notes. */
static void print_help(const struct cmd_entry *e, const struct cmd_option *const *rows, size_t n)
{
    printf("usage: ttdeploy %s %s\n\n%s\n\noptions:\n", e->name, e->usage, e->summary);
    for (size_t i = 0; i < n; i++)
        print_option(rows[i]);
    if (e->notes)
        printf("\n%s", e->notes);
}

/* The row getopt_long's value c stands for, or NULL. */
static const struct cmd_option *row_of(const struct cmd_option *const *rows, size_t n, int c)
{
    if (c >= ROW_VAL && (size_t)(c - ROW_VAL) < n)
        return rows[c - ROW_VAL];
    for (size_t i = 0; c > 0 && i < n; i++)
        if (rows[i]->letter == c)
            return rows[i];
    return NULL;
}

/*
 * Says what an unknown long option word (without its dashes) may have
 * meant: the options it abbreviates, else the one it misspells.
 */
static void print_unknown(const char *name, const char *word, const struct cmd_option *const *rows,
                          size_t n)
{
    size_t len = strcspn(word, "="), matches = 0;
    char *w = xstrndup(word, len);
    const char **names = xcalloc(n, sizeof(*names));
    const char *near;

    for (size_t i = 0; i < n; i++) {
        names[i] = rows[i]->name;
        matches += !strncmp(rows[i]->name, w, len);
    }
    if (len > 0 && matches > 1) {
        fprintf(stderr, "ttdeploy %s: option \"--%s\" is ambiguous: it may be", name, w);
        for (size_t i = 0; i < n; i++)
            if (!strncmp(rows[i]->name, w, len))
                fprintf(stderr, " --%s", rows[i]->name);
        fputc('\n', stderr);
    } else if ((near = suggest_closest(w, names, n))) {
        fprintf(stderr, "ttdeploy %s: unknown option \"--%s\" (did you mean --%s?)\n", name, w,
                near);
    } else {
        fprintf(stderr, "ttdeploy %s: unknown option \"--%s\": see 'ttdeploy %s --help'\n", name, w,
                name);
    }
    free(names);
    free(w);
}

/* Says what is wrong with the option getopt_long refused (c is '?' or ':'). */
static void print_bad_option(const struct cmd_entry *e, const struct cmd_option *const *rows,
                             size_t n, int c, const char *word)
{
    const struct cmd_option *o = row_of(rows, n, optopt);

    if (o && c == ':')
        fprintf(stderr, "ttdeploy %s: --%s needs a value: --%s %s\n", e->name, o->name, o->name,
                o->arg);
    else if (o)
        fprintf(stderr, "ttdeploy %s: --%s takes no value\n", e->name, o->name);
    else if (optopt)
        fprintf(stderr, "ttdeploy %s: unknown option -%c: see 'ttdeploy %s --help'\n", e->name,
                optopt, e->name);
    else
        print_unknown(e->name, word + strspn(word, "-"), rows, n);
}

/* The operands left after the options: as many as e takes? Returns -1 if so, else an exit code. */
static int take_operands(const struct cmd_entry *e, int argc, char **argv, struct cli_args *a)
{
    a->argc = argc - optind;
    a->argv = argv + optind;
    if (e->max_args == 0 && a->argc > 0) {
        fprintf(stderr, "ttdeploy %s: unexpected argument \"%s\": %s takes no arguments\n", e->name,
                a->argv[0], e->name);
        return EXIT_BAD_INPUT;
    }
    if (a->argc < e->min_args || (e->max_args >= 0 && a->argc > e->max_args)) {
        fprintf(stderr, "usage: ttdeploy %s %s\n", e->name, e->usage);
        return EXIT_BAD_INPUT;
    }
    return -1;
}

/*
 * Parses argv against rows into a; returns -1 when the command should run,
 * else its exit code (after --help, or after saying what is wrong).
 */
static int parse(const struct cmd_entry *e, const struct cmd_option *const *rows, size_t n,
                 int argc, char **argv, struct cli_args *a)
{
    struct option *longopts = xcalloc(n + 1, sizeof(*longopts));
    char *shorts = xcalloc(2 * n + 2, 1);
    size_t k = 0;
    int c, rc = -1;

    shorts[k++] = ':'; /* a missing value is ':', apart from an unknown option */
    for (size_t i = 0; i < n; i++) {
        longopts[i].name = rows[i]->name;
        longopts[i].has_arg = rows[i]->arg ? required_argument : no_argument;
        longopts[i].val = ROW_VAL + (int)i;
        if (rows[i]->letter) {
            shorts[k++] = (char)rows[i]->letter;
            if (rows[i]->arg)
                shorts[k++] = ':';
        }
    }
    a->entry = e;
    a->given = xcalloc((size_t)argc + 1, sizeof(*a->given));
    optind = 1;
    opterr = 0;
    while (rc < 0 && (c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        const struct cmd_option *o = row_of(rows, n, c);
        if (!o) {
            print_bad_option(e, rows, n, c, argv[optind - 1]);
            rc = EXIT_BAD_INPUT;
        } else if (o->id == CLI_OPT_HELP) {
            print_help(e, rows, n);
            rc = EXIT_OK;
        } else {
            a->given[a->n].id = o->id;
            a->given[a->n++].arg = o->arg ? optarg : o->name;
        }
    }
    if (rc < 0)
        rc = take_operands(e, argc, argv, a);
    free(shorts);
    free(longopts);
    return rc;
}

int cli_run(const struct cmd_entry *e, int argc, char **argv)
{
    struct cli_args a = {0};
    size_t n;
    const struct cmd_option **rows = entry_rows(e, &n);
    int rc = parse(e, rows, n, argc, argv, &a);

    free(rows);
    if (rc < 0)
        rc = e->exec(&a);
    free(a.given);
    return rc;
}

const char *cli_arg(const struct cli_args *a, enum cli_opt id)
{
    const char *v = NULL;
    for (size_t i = 0; i < a->n; i++)
        if (a->given[i].id == id)
            v = a->given[i].arg;
    return v;
}

void cli_arg_all(const struct cli_args *a, enum cli_opt id, struct strv *v)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->given[i].id == id)
            strv_push(v, a->given[i].arg);
}
