/*
 * cmd_history.c - `ttdeploy history`: the deployments in the store, newest
 * first, as a table or JSON; the audit trail people read after the fact.
 */
#include "cmd.h"
#include "store.h"

#include <getopt.h>
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

static int cmd_history_exec(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state", required_argument, NULL, CLI_OPT_STATE},
        {"plan", required_argument, NULL, CLI_OPT_PLAN},
        {"limit", required_argument, NULL, CLI_OPT_LIMIT},
        {"service", required_argument, NULL, CLI_OPT_SERVICE},
        {"status", required_argument, NULL, CLI_OPT_STATUS},
        {"since", required_argument, NULL, CLI_OPT_SINCE},
        {"project-name", required_argument, NULL, CLI_OPT_PROJECT},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct store_history_filter f = {0};
    const char *state = NULL, *plan = NULL;
    struct store *st = NULL;
    struct tt_err err = {0};
    int c, json = 0, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_STATE:
            state = optarg;
            break;
        case CLI_OPT_PLAN:
            plan = optarg;
            break;
        case CLI_OPT_LIMIT:
            f.limit = atoi(optarg);
            if (f.limit <= 0) {
                fprintf(stderr, "ttdeploy history: --limit must be a positive number\n");
                return EXIT_BAD_INPUT;
            }
            break;
        case CLI_OPT_SERVICE:
            f.service = optarg;
            break;
        case CLI_OPT_STATUS:
            f.status = optarg;
            break;
        case CLI_OPT_SINCE:
            if ((f.since = parse_date(optarg)) < 0) {
                fprintf(stderr,
                        "ttdeploy history: --since \"%s\": use YYYY-MM-DD[THH:MM:SS] (UTC)\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            break;
        case CLI_OPT_PROJECT:
            f.project = optarg;
            break;
        case CLI_OPT_JSON:
            json = 1;
            break;
        case CLI_OPT_HELP:
            cli_usage(&cmd_history_entry);
            return EXIT_OK;
        default:
            return EXIT_BAD_INPUT;
        }
    }
    if ((rc = cli_open_store(state, plan, &st)) != EXIT_OK)
        return rc;
    json_t *rows = store_history(st, &f, &err);
    if (!rows) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        store_close(st);
        return EXIT_FAILED;
    }
    if (json) {
        json_dumpf(rows, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        size_t i;
        json_t *r;
        printf("%-6s %-19s  %-14s %-12s %-16s %-14s %9s  %s\n", "ID", "STARTED (UTC)", "PROJECT",
               "VERSION", "STATUS", "STATE", "DURATION", "ACTOR");
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
            const char *actor = json_string_value(json_object_get(r, "actor"));
            printf("%-6" JSON_INTEGER_FORMAT " %-19s  %-14s %-12s %-16s %-14s %9s  %s",
                   json_integer_value(json_object_get(r, "id")), started,
                   json_string_value(json_object_get(r, "project")), v ? v : "-",
                   json_string_value(json_object_get(r, "status")),
                   json_string_value(json_object_get(r, "state")), dur, actor ? actor : "-");
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

const struct cmd_entry cmd_history_entry = {
    .name = "history",
    .usage = "[--state PATH | --plan FILE] [--limit N] [--service S] [--status ST] "
             "[--since DATE] [-p PROJECT] [--json]",
    .summary = "list recorded deployments, newest first",
    .help = "options:\n"
            "      --state PATH     the state store (default: ./.ttdeploy/state.db)\n"
            "      --plan FILE      use the store beside this plan\n"
            "      --limit N        at most N deployments (default 20)\n"
            "      --service S      only deployments that touched service S\n"
            "      --status ST      running, succeeded, failed, rolled_back, rollback_failed\n"
            "      --since DATE     started at or after DATE (YYYY-MM-DD[THH:MM:SS], UTC)\n"
            "  -p, --project-name P only project P\n"
            "      --json           JSON instead of a table\n",
    .exec = cmd_history_exec,
};
