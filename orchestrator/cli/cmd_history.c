/*
 * cmd_history.c - `ttdeploy history`: the deployments in the store, newest
 * first, as a table or JSON; the audit trail people read after the fact.
 */
#include "cmd.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "2026-11-01", "2026-11-01T10:00:00" or "2026-11-01 10:00:00" (UTC) → unix time; -1 if bad. */
static double parse_date(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return -1;
    if (*end == 'T' || *end == ' ')
        end = strptime(end + 1, "%H:%M:%S", &tm);
    if (!end || *end)
        return -1;
    return (double)timegm(&tm);
}

/* --limit, --service, --status, --since and -p into f: 0, or -1 after saying what is wrong. */
static int take_filter(const struct cli_args *a, struct store_history_filter *f)
{
    const char *limit = cli_arg(a, CLI_OPT_LIMIT), *since = cli_arg(a, CLI_OPT_SINCE);

    if (limit && (f->limit = atoi(limit)) <= 0) {
        fprintf(stderr, "ttdeploy history: --limit must be a positive number\n");
        return -1;
    }
    if (since && (f->since = parse_date(since)) < 0) {
        fprintf(stderr, "ttdeploy history: --since \"%s\": use YYYY-MM-DD[THH:MM:SS] (UTC)\n",
                since);
        return -1;
    }
    f->service = cli_arg(a, CLI_OPT_SERVICE);
    f->status = cli_arg(a, CLI_OPT_STATUS);
    f->project = cli_arg(a, CLI_OPT_PROJECT);
    f->actor = cli_arg(a, CLI_OPT_ACTOR);
    f->git_tag = cli_arg(a, CLI_OPT_TAG);
    return 0;
}

static int cmd_history_exec(const struct cli_args *a)
{
    struct store_history_filter f = {0};
    struct store *st = NULL;
    struct tt_err err = {0};
    int rc;

    if (take_filter(a, &f) < 0)
        return EXIT_BAD_INPUT;
    if ((rc = cli_open_store(a, &st)) != EXIT_OK)
        return rc;
    json_t *rows = store_history(st, &f, &err);
    if (!rows) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        store_close(st);
        return EXIT_FAILED;
    }
    if (cli_arg(a, CLI_OPT_JSON)) {
        cli_print_json(rows, 0);
    } else {
        size_t i;
        json_t *r;
        printf("%-6s %-19s  %-14s %-12s %-16s %-14s %9s  %-12s %-12s %-8s %s\n", "ID",
               "STARTED (UTC)", "PROJECT", "VERSION", "STATUS", "STATE", "DURATION", "ACTOR", "TAG",
               "COMMIT", "RUN");
        json_array_foreach(rows, i, r)
        {
            char started[32];
            double t0 = json_number_value(json_object_get(r, "started_at"));
            json_t *t1 = json_object_get(r, "finished_at");
            cli_format_time(t0, started, sizeof(started));
            char dur[32] = "-";
            if (json_is_number(t1))
                snprintf(dur, sizeof(dur), "%.1f s", json_number_value(t1) - t0);
            const char *v = json_string_value(json_object_get(r, "version"));
            char *run_url = cli_ci_field(r, "run_url");
            printf("%-6" JSON_INTEGER_FORMAT " %-19s  %-14s %-12s %-16s %-14s %9s  %-12s %-12s "
                   "%-8.8s %s",
                   json_integer_value(json_object_get(r, "id")), started,
                   json_string_value(json_object_get(r, "project")), v ? v : "-",
                   json_string_value(json_object_get(r, "status")),
                   json_string_value(json_object_get(r, "state")), dur, store_text(r, "actor", "-"),
                   store_text(r, "git_tag", "-"), store_text(r, "git_commit", "-"),
                   run_url ? run_url : "-");
            free(run_url);
            if (json_is_integer(json_object_get(r, "rolled_back_from")))
                printf("  (rollback of %" JSON_INTEGER_FORMAT ")",
                       json_integer_value(json_object_get(r, "rolled_back_from")));
            fputc('\n', stdout);
        }
    }
    json_decref(rows);
    store_close(st);
    return EXIT_OK;
}

static const struct cmd_option history_options[] = {
    {"limit", 0, "N", "at most N deployments (default 20)", CLI_OPT_LIMIT},
    {"service", 0, "S", "only deployments that touched service S", CLI_OPT_SERVICE},
    {"status", 0, "ST", "running, succeeded, failed, rolled_back, rollback_failed", CLI_OPT_STATUS},
    {"since", 0, "DATE", "started at or after DATE (YYYY-MM-DD[THH:MM:SS], UTC)", CLI_OPT_SINCE},
    {"project-name", 'p', "NAME", "only project NAME", CLI_OPT_PROJECT},
    {"actor", 0, "A", "only deployments started by A", CLI_OPT_ACTOR},
    {"tag", 0, "T", "only deployments of git tag T", CLI_OPT_TAG},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_history_entry = {
    .name = "history",
    .usage = "[--state PATH | --plan FILE] [--limit N] [--service S] [--status ST] "
             "[--since DATE] [--actor A] [--tag T] [-p NAME] [--json]",
    .summary = "list recorded deployments, newest first",
    .options = {cli_store_options, history_options, cli_json_option},
    .max_args = -1,
    .exec = cmd_history_exec,
};
