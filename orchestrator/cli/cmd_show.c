/*
 * cmd_show.c - `ttdeploy show ID`: one deployment, every step with its
 * intent, outcome, timing and error, and what each service ran after it.
 */
#include "cmd.h"
#include "store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_deployment(json_t *d)
{
    char t0s[32], t1s[32] = "-";
    double t0 = json_number_value(json_object_get(d, "started_at"));
    json_t *t1 = json_object_get(d, "finished_at");
    cli_format_time(t0, t0s, sizeof(t0s));
    if (json_is_number(t1))
        cli_format_time(json_number_value(t1), t1s, sizeof(t1s));
    printf("deployment %" JSON_INTEGER_FORMAT ": %s %s\n",
           json_integer_value(json_object_get(d, "id")), store_text(d, "project", "?"),
           store_text(d, "version", "-"));
    printf("  status    %s (state %s)\n", store_text(d, "status", "?"),
           store_text(d, "state", "?"));
    printf("  started   %s UTC   finished %s UTC", t0s, t1s);
    if (json_is_number(t1))
        printf("   (%.2f s)", json_number_value(t1) - t0);
    printf("\n  git       %s %s\n", store_text(d, "git_tag", "-"),
           store_text(d, "git_commit", "-"));
    printf("  plan      %s (sha256 %.12s)\n", store_text(d, "plan_path", "-"),
           store_text(d, "plan_sha256", "-"));
    printf("  actor     %s   ci %s\n", store_text(d, "actor", "-"), store_text(d, "ci", "-"));
    if (json_string_value(json_object_get(d, "error")))
        printf("  error     %s\n", store_text(d, "error", ""));
    printf("\n%-4s %-14s %-10s %-16s %-11s %8s  %s\n", "SEQ", "PHASE", "SERVICE", "ACTION",
           "STATUS", "TIME", "DETAIL");
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(d, "steps"), i, s)
    {
        char dur[32] = "-";
        json_t *f = json_object_get(s, "finished_at");
        if (json_is_number(f))
            snprintf(dur, sizeof(dur), "%.2f s",
                     json_number_value(f) - json_number_value(json_object_get(s, "started_at")));
        const char *detail = json_string_value(json_object_get(s, "detail"));
        printf("%-4" JSON_INTEGER_FORMAT " %-14s %-10s %-16s %-11s %8s  %s\n",
               json_integer_value(json_object_get(s, "seq")), store_text(s, "phase", "?"),
               store_text(s, "service", "-"), store_text(s, "action", "?"),
               store_text(s, "status", "?"), dur, detail ? detail : store_text(s, "intent", ""));
        if (json_string_value(json_object_get(s, "error")))
            printf("     error: %s\n", store_text(s, "error", ""));
    }
    if (json_array_size(json_object_get(d, "releases"))) {
        printf("\n%-12s %-36s %s\n", "SERVICE", "IMAGE", "IMAGE ID");
        json_array_foreach(json_object_get(d, "releases"), i, s)
            printf("%-12s %-36s %.19s\n", store_text(s, "service", "?"),
                   store_text(s, "image", "-"), store_text(s, "image_id", "-"));
    }
}

static int cmd_show_exec(int argc, char **argv)
{
    static const struct option longopts[] = {{"state", required_argument, NULL, CLI_OPT_STATE},
                                             {"plan", required_argument, NULL, CLI_OPT_PLAN},
                                             {"json", no_argument, NULL, CLI_OPT_JSON},
                                             {"help", no_argument, NULL, CLI_OPT_HELP},
                                             {NULL, 0, NULL, 0}};
    const char *state = NULL, *plan = NULL;
    int c, json = 0, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == CLI_OPT_STATE)
            state = optarg;
        else if (c == CLI_OPT_PLAN)
            plan = optarg;
        else if (c == CLI_OPT_JSON)
            json = 1;
        else if (c == CLI_OPT_HELP) {
            cli_usage(&cmd_show_entry);
            return EXIT_OK;
        } else
            return EXIT_BAD_INPUT;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: ttdeploy show %s\n", cmd_show_entry.usage);
        return EXIT_BAD_INPUT;
    }
    json_t *d = NULL;
    if ((rc = cli_load_deployment("show", state, plan, argv[optind], &d)) != EXIT_OK)
        return rc;
    if (json) {
        json_dumpf(d, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        print_deployment(d);
    }
    json_decref(d);
    return EXIT_OK;
}

const struct cmd_entry cmd_show_entry = {
    .name = "show",
    .usage = "[--state PATH | --plan FILE] [--json] ID",
    .summary = "show one deployment: every step with timings and errors",
    .help = "options:\n"
            "      --state PATH     the state store (default: ./.ttdeploy/state.db)\n"
            "      --plan FILE      use the store beside this plan\n"
            "      --json           JSON instead of text\n",
    .exec = cmd_show_exec,
};
