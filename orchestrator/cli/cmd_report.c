/*
 * cmd_report.c - `ttdeploy report ID`: the incident report of a
 * deployment, in Markdown (for the post-mortem), JSON, JUnit XML (for a
 * CI's test view: a testcase per phase and per verify check) or a
 * standalone HTML page with the timeline inline.
 */
#include "cmd.h"
#include "deploy.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_report_exec(const struct cli_args *a)
{
    static const char *const formats[] = {"md", "json", "junit", "html", NULL};
    const char *format = cli_format(a, formats);
    struct store_record *d = NULL;
    int rc = format ? cli_load_deployment(a, &d) : EXIT_BAD_INPUT;

    if (rc == EXIT_OK && !strcmp(format, "junit"))
        report_junit(d, stdout);
    else if (rc == EXIT_OK) {
        json_t *r = report_new(d);
        if (!strcmp(format, "json"))
            cli_print_json(r, 0);
        else if (!strcmp(format, "html"))
            report_html(d, r, stdout);
        else
            report_markdown(r, stdout);
        json_decref(r);
    }
    store_record_free(d);
    return rc;
}

static const struct cmd_option report_options[] = {
    {"format", 0, "F", "md (default), json, junit or html", CLI_OPT_FORMAT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_report_entry = {
    .name = "report",
    .usage = "[--state PATH | --plan FILE] [--format md|json|junit|html] ID",
    .summary = "incident report of a deployment: trigger, what was rolled back, data, downtime",
    .options = {cli_store_options, report_options},
    .min_args = 1,
    .max_args = 1,
    .exec = cmd_report_exec,
};
