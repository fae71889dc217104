/*
 * cmd_timeline.c - `ttdeploy timeline ID`: a recorded deployment as a
 * Gantt chart, one bar per step under its phase, coloured by outcome,
 * with the failure marked and the rollback after it.  Text for a
 * terminal (the default), SVG for a browser or a CI artifact, Mermaid for
 * a GitHub or GitLab Markdown summary.
 */
#include "cmd.h"
#include "deploy.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

static int cmd_timeline_exec(const struct cli_args *a)
{
    static const char *const formats[] = {"text", "svg", "mermaid", NULL};
    const char *format = cli_format(a, formats);
    struct store_record *d = NULL;
    int rc = format ? cli_load_deployment(a, &d) : EXIT_BAD_INPUT;

    if (rc == EXIT_OK)
        timeline_print(d,
                       !strcmp(format, "svg")       ? TIMELINE_SVG
                       : !strcmp(format, "mermaid") ? TIMELINE_MERMAID
                                                    : TIMELINE_TEXT,
                       stdout);
    store_record_free(d);
    return rc;
}

static const struct cmd_option timeline_options[] = {
    {"format", 0, "F", "text (default), svg or mermaid", CLI_OPT_FORMAT},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_timeline_entry = {
    .name = "timeline",
    .usage = "[--state PATH | --plan FILE] [--format text|svg|mermaid] ID",
    .summary = "Gantt chart of a deployment: its steps by phase, the failure, the rollback",
    .options = {cli_store_options, timeline_options},
    .min_args = 1,
    .max_args = 1,
    .exec = cmd_timeline_exec,
};
