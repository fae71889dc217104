/*
 * cmd_report.c - `ttdeploy report ID`: the incident report of a
 * deployment, in Markdown (for the post-mortem) or JSON.
 */
#include "cmd.h"
#include "deploy.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_report_exec(int argc, char **argv)
{
    static const struct option longopts[] = {{"state", required_argument, NULL, CLI_OPT_STATE},
                                             {"plan", required_argument, NULL, CLI_OPT_PLAN},
                                             {"format", required_argument, NULL, CLI_OPT_FORMAT},
                                             {"help", no_argument, NULL, CLI_OPT_HELP},
                                             {NULL, 0, NULL, 0}};
    const char *state = NULL, *plan = NULL, *format = "md";
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == CLI_OPT_STATE)
            state = optarg;
        else if (c == CLI_OPT_PLAN)
            plan = optarg;
        else if (c == CLI_OPT_FORMAT)
            format = optarg;
        else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_report_entry);
            return EXIT_OK;
        } else
            return EXIT_BAD_INPUT;
    }
    if (strcmp(format, "md") && strcmp(format, "json")) {
        fprintf(stderr, "ttdeploy report: --format must be md or json\n");
        return EXIT_BAD_INPUT;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: ttdeploy report %s\n", cmd_report_entry.usage);
        return EXIT_BAD_INPUT;
    }
    struct store *st = NULL;
    struct store_record *d = NULL;
    struct tt_err err = {0};
    char *end;
    long long id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "ttdeploy report: \"%s\" is not a deployment id: see `ttdeploy history`\n",
                argv[optind]);
        return EXIT_BAD_INPUT;
    }
    if ((rc = cli_open_store(state, plan, &st)) != EXIT_OK)
        return rc;
    rc = store_record_load(st, id, &d, &err);
    store_close(st);
    if (rc < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_BAD_INPUT;
    }
    json_t *r = report_new(d);
    if (!strcmp(format, "json")) {
        json_dumpf(r, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        report_markdown(r, stdout);
    }
    json_decref(r);
    store_record_free(d);
    return EXIT_OK;
}

const struct cmd_entry cmd_report_entry = {
    .name = "report",
    .usage = "[--state PATH | --plan FILE] [--format md|json] ID",
    .summary = "incident report of a deployment: trigger, what was rolled back, data, downtime",
    .help = "options:\n"
            "      --state PATH     the state store (default: ./.ttdeploy/state.db)\n"
            "      --plan FILE      use the store beside this plan\n"
            "      --format F       md (default) or json\n",
    .exec = cmd_report_exec,
};
