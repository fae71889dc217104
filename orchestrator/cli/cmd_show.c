/*
 * cmd_show.c - `ttdeploy show ID`: one deployment, every step with its
 * intent, outcome, timing and error, and what each service ran after it.
 */
#include "cmd.h"
#include "store.h"

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
    char *provider = cli_ci_field(d, "provider"), *run_url = cli_ci_field(d, "run_url");
    char *ci_actor = cli_ci_field(d, "ci_actor");
    printf("  actor     %s", store_text(d, "actor", "-"));
    if (ci_actor && strcmp(ci_actor, store_text(d, "actor", "-")))
        printf(" (workflow of %s)", ci_actor);
    printf("   ci %s\n", provider ? provider : "-");
    if (run_url)
        printf("  run       %s\n", run_url);
    char *engine = cli_ci_field(d, "engine"), *mode = cli_ci_field(d, "mode");
    if (engine)
        printf("  engine    %s, %s mode\n", engine, mode ? mode : "local");
    free(engine);
    free(mode);
    free(provider);
    free(run_url);
    free(ci_actor);
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
        {
            json_int_t v = json_integer_value(json_object_get(s, "service_version"));
            printf("%-12s %-36s %.19s", store_text(s, "service", "?"), store_text(s, "image", "-"),
                   store_text(s, "image_id", "-"));
            if (v) /* swarm mode: the service's version in Swarm, whose spec was recorded */
                printf("  swarm version %" JSON_INTEGER_FORMAT, v);
            printf("\n");
        }
    }
}

static int cmd_show_exec(const struct cli_args *a)
{
    struct store_record *r = NULL;
    int rc = cli_load_deployment(a, &r);
    json_t *d = rc == EXIT_OK ? store_record_json(r) : NULL;

    if (rc == EXIT_OK && cli_arg(a, CLI_OPT_JSON))
        cli_print_json(d, 0);
    else if (rc == EXIT_OK)
        print_deployment(d);
    json_decref(d);
    store_record_free(r);
    return rc;
}

const struct cmd_entry cmd_show_entry = {
    .name = "show",
    .usage = "[--state PATH | --plan FILE] [--json] ID",
    .summary = "show one deployment: every step with timings and errors",
    .options = {cli_store_options, cli_json_option},
    .min_args = 1,
    .max_args = 1,
    .exec = cmd_show_exec,
};
