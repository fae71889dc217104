/*
 * cmd_apply.c - `ttdeploy apply plan.yml`: the command CI runs on a git
 * tag.  Deploys the plan's release phase by phase and records every step;
 * `--dry-run` prints what would change and the preflight checks as `check`
 * prints them, and touches nothing, not even the state store: it exits 1
 * when a check failed, since apply would stop in its preflight.
 * SIGINT/SIGTERM stop it before its next step; it is left unfinished for
 * `recover` and exits 130/143.
 */
#include "cmd.h"

/*
 * The dry run's preflight checks, after its preview: as `check` prints
 * them, or with --json one line {"preflight": RESULT} (RESULT as `check
 * --json`'s), beside apply's other JSON lines.
 */
static void print_dry_run_checks(const struct apply_options *o, json_t *result)
{
    if (!result)
        return;
    if (o->progress == PROGRESS_JSON) {
        json_t *line = json_pack("{s:O}", "preflight", result);
        json_dumpf(line, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(line);
    } else {
        printf("preflight:\n");
        cli_print_checks(result);
    }
    printf("nothing was changed (dry run)\n");
}

/* apply's exec, and recover's: they differ only in what they ask of deploy/. */
int cmd_apply_exec(const struct cli_args *a)
{
    struct apply_options o = {0};
    struct tt_err err = {0};
    json_t *checks = NULL;
    long long id = 0;
    enum apply_outcome res;
    int rc;

    if (cli_apply_options(a, &o) < 0)
        return EXIT_BAD_INPUT;
    o.deployment_id = &id;
    o.preflight = &checks;
    if (!o.dry_run)
        cli_ci_warn_store(&o);
    res = a->entry == &cmd_recover_entry ? apply_recover(&o, &err) : apply_run(&o, &err);
    if (!o.dry_run)
        cli_ci_step_summary(&o, id, res == APPLY_OK ? NULL : &err);
    print_dry_run_checks(&o, checks);
    json_decref(checks);
    rc = cli_apply_exit(a, res, &err);
    cli_print_audit_head(&o); /* the CI log keeps a copy: `audit verify --head` checks against it */
    return rc;
}

static const struct cmd_option identity_options[] = {
    {"actor", 0, "NAME", "who is recorded as starting it (default: from CI, else $USER)",
     CLI_OPT_ACTOR},
    {"release", 0, "VERSION", "the version recorded (default: release.version, else the git tag)",
     CLI_OPT_RELEASE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_apply_entry = {
    .name = "apply",
    .usage =
        "[--dry-run] [--state PATH] [-H URL | --context NAME] [--insecure] [--mode local|swarm] "
        "[--lock-timeout D] "
        "[--actor NAME] [--release VERSION] [--readiness probe|docker] [--progress MODE | --json] "
        "PLAN",
    .summary = "deploy a plan's release: backup, migrate, infra, app, verify; record every step",
    .options = {cli_dry_run_option, cli_deploy_options, identity_options, cli_host_option,
                cli_mode_option, cli_readiness_option, cli_progress_options},
    .min_args = 1,
    .max_args = 1,
    .notes = "exit codes: 0 succeeded, 1 failed, 2 bad input, 3 rollback failed,\n"
             "            4 locked (or an interrupted deployment needs `recover`), 5 unreachable,\n"
             "            130 SIGINT, 143 SIGTERM (stopped before its next step, left for\n"
             "            `recover`; a second signal exits at once)\n"
             "            --dry-run: 0 previewed and every preflight check passed, 1 a check\n"
             "            failed (apply would stop in preflight), 2 bad input, 5 unreachable\n",
    .exec = cmd_apply_exec,
};
