/*
 * cmd_check.c - `ttdeploy check plan.yml`: the checks of apply's
 * preflight phase, run alone before a deployment (in CI, before the tag is
 * pushed; by hand, before a maintenance window).  The engine answers, the
 * images are there or pullable, the published ports are free, the
 * database answers and its migration lock is free, the backup directory
 * has room, the store's lock is free, the git tag exists.  One line per
 * check with what to do about a failure; nothing is created, stopped or
 * written but the store's record of the check.  `apply --dry-run` runs
 * the same checks (without the record) and prints them the same way.
 */
#include "cmd.h"
#include "store.h"

#include <string.h>

void cli_print_checks(const json_t *result)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(result, "checks"), i, c)
    {
        const char *status = store_text(c, "status", "?");
        const char *fix = json_string_value(json_object_get(c, "fix"));
        printf("%-8s %-11s %s\n", !strcmp(status, "failed") ? "FAILED" : status,
               store_text(c, "name", "?"), store_text(c, "detail", ""));
        if (fix)
            printf("%-8s %-11s -> %s\n", "", "", fix);
    }
    printf("%s\n", json_is_true(json_object_get(result, "ok"))
                       ? "all checks passed: apply may begin"
                       : "some checks failed: apply would stop in its preflight phase");
}

static int cmd_check_exec(const struct cli_args *a)
{
    struct apply_options o = {0};
    struct tt_err err = {0};
    json_t *result = NULL;

    if (cli_apply_options(a, &o) < 0)
        return EXIT_BAD_INPUT;
    o.progress = PROGRESS_QUIET; /* the result is printed below, not the progress */
    enum apply_outcome res = deploy_check(&o, &result, &err);
    if (!result) {
        cli_error(a->entry->name, &err);
        return res == APPLY_BAD_INPUT ? EXIT_BAD_INPUT : EXIT_FAILED;
    }
    if (cli_arg(a, CLI_OPT_JSON))
        cli_print_json(result, JSON_SORT_KEYS);
    else
        cli_print_checks(result);
    json_decref(result);
    return cli_check_output(res == APPLY_OK ? EXIT_OK : EXIT_FAILED);
}

static const struct cmd_option check_options[] = {
    {"state", 0, "PATH",
     "the state store (default: .ttdeploy/state.db beside\nPLAN); engine: its volume and lock "
     "holder\non the engine, looked at",
     CLI_OPT_STATE},
    {"actor", 0, "NAME", "who is recorded as running the check (default: from CI, else $USER)",
     CLI_OPT_ACTOR},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_check_entry = {
    .name = "check",
    .usage = "[--state PATH] [-H URL | --context NAME] [--insecure] [--mode local|swarm] "
             "[--actor NAME] [--json] PLAN",
    .summary = "run apply's preflight checks alone: engine, images, ports, database, backup "
               "room, lock, git tag",
    .options = {check_options, cli_host_option, cli_mode_option, cli_json_option},
    .min_args = 1,
    .max_args = 1,
    .notes = "exit codes: 0 every check passed, 1 a check failed (an engine that does not\n"
             "            answer is a failed check), 2 bad input (the plan or compose files\n"
             "            do not load: file:line and what is wrong)\n",
    .exec = cmd_check_exec,
};
