/*
 * cmd_config.c - `ttdeploy config`: prints the project as ttdeploy
 * understands it, like `docker compose config`: every file merged, every
 * variable interpolated, short forms written long and defaults explicit.
 * It also builds the dependency graph, so a cycle fails here too: what
 * `config` accepts, `up` can order.
 */
#include "cmd.h"
#include "compose_out.h"
#include "dag.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static int cmd_config_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, CLI_OPT_FILE},
        {"profile", required_argument, NULL, CLI_OPT_PROFILE},
        {"env-file", required_argument, NULL, CLI_OPT_ENV_FILE},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct compose_options o = {0};
    struct compose_project *p = NULL;
    struct dag *d = NULL;
    struct tt_err err = {0};
    const char *format = "yaml";
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:p:h", longopts, NULL)) != -1) {
        if (cli_compose_option(c, optarg, &o))
            continue;
        if (c == CLI_OPT_FORMAT) {
            format = optarg;
        } else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_config_entry);
            cli_compose_options_clear(&o);
            return EXIT_OK;
        } else {
            cli_compose_options_clear(&o);
            return EXIT_BAD_INPUT;
        }
    }
    if (strcmp(format, "yaml") && strcmp(format, "json")) {
        fprintf(stderr, "ttdeploy config: unknown format \"%s\": use yaml or json\n", format);
        cli_compose_options_clear(&o);
        return EXIT_BAD_INPUT;
    }
    rc = cli_load_project(&o, &p);
    if (rc == EXIT_OK && dag_build(p, &d, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_BAD_INPUT;
    }
    if (rc == EXIT_OK) {
        json_t *model = compose_out_project(p);
        if (!strcmp(format, "json")) {
            json_dumpf(model, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            fputc('\n', stdout);
        } else {
            struct buf out = {0};
            compose_out_yaml(model, &out);
            fputs(out.data, stdout);
            buf_release(&out);
        }
        json_decref(model);
    }
    dag_free(d);
    compose_project_free(p);
    cli_compose_options_clear(&o);
    return rc;
}

const struct cmd_entry cmd_config_entry = {
    .name = "config",
    .usage = "[-f FILE]... [-p NAME] [--profile P]... [--env-file F]... [--format yaml|json]",
    .summary = "print the normalized compose model (interpolated, merged, defaults explicit)",
    .help = "options:\n"
            "  -f, --file FILE         compose file; repeat to merge several, in order\n"
            "  -p, --project-name NAME project name (default: name:, or the directory)\n"
            "      --profile P         enable services of profile P (repeatable)\n"
            "      --env-file F        read variables from F instead of .env (repeatable)\n"
            "      --format FMT        yaml (default) or json\n",
    .exec = cmd_config_exec,
};
