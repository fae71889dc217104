/*
 * cmd_rollback.c - `ttdeploy rollback PLAN`: deploys an earlier release
 * (the previous one, a recorded deployment, or a git tag) as a new,
 * audited deployment that names what it rolled back; and
 * `--explain-matrix`, which prints the rollback decision matrix and, for
 * a failure described with --phase/--check/--service/--measure, the rule
 * that would fire.
 */
#include "cmd.h"
#include "deploy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rollback_cli {
    struct redeploy_options o;
    int explain;
    int previous;
    struct matrix_failure f;
    int described; /* a failure was described */
};

/* --measure KEY=VALUE: error_rate=50% p95=120ms p95_before=40ms health=unhealthy value=3 */
static int measure(struct rollback_cli *r, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char *end;
    if (!eq || eq == arg)
        goto bad;
    size_t k = (size_t)(eq - arg);
    const char *v = eq + 1;
    if (k == 10 && !strncmp(arg, "error_rate", k)) {
        r->f.error_rate = strtod(v, &end);
        if (end == v || (*end && strcmp(end, "%")))
            goto bad;
        if (*end == '%')
            r->f.error_rate /= 100;
    } else if ((k == 3 && !strncmp(arg, "p95", k)) || (k == 10 && !strncmp(arg, "p95_before", k))) {
        double ms = strtod(v, &end);
        if (end == v || (*end && strcmp(end, "ms") && strcmp(end, "s")))
            goto bad;
        if (!strcmp(end, "s"))
            ms *= 1000;
        *(k == 3 ? &r->f.p95_ms : &r->f.p95_before_ms) = ms;
    } else if (k == 6 && !strncmp(arg, "health", k)) {
        r->f.health = v;
    } else if (k == 5 && !strncmp(arg, "value", k)) {
        r->f.value = v;
    } else if (k == 12 && !strncmp(arg, "value_before", k)) {
        r->f.value_before = v;
    } else {
        goto bad;
    }
    r->described = 1;
    return 0;
bad:
    fprintf(stderr,
            "ttdeploy rollback: --measure \"%s\": use error_rate=50%%, p95=120ms, "
            "p95_before=40ms, health=unhealthy, value=3 or value_before=5\n",
            arg);
    return -1;
}

/* rollback's own options into r: 0, or -1 after saying what is wrong. */
static int take_options(const struct cli_args *a, struct rollback_cli *r)
{
    const char *to = cli_arg(a, CLI_OPT_TO);
    char *end;

    if (to && ((r->o.to_id = strtoll(to, &end, 10)) <= 0 || *end)) {
        fprintf(stderr, "ttdeploy rollback: --to takes a deployment id (see `ttdeploy history`)\n");
        return -1;
    }
    r->o.to_tag = cli_arg(a, CLI_OPT_TO_TAG);
    r->previous = cli_arg(a, CLI_OPT_PREVIOUS) != NULL;
    r->o.with_migrations = cli_arg(a, CLI_OPT_WITH_MIGRATIONS) != NULL;
    r->o.restore_backup = cli_arg(a, CLI_OPT_RESTORE_BACKUP) != NULL;
    r->explain = cli_arg(a, CLI_OPT_EXPLAIN_MATRIX) != NULL;
    r->f.phase = cli_arg(a, CLI_OPT_PHASE);
    r->f.check = cli_arg(a, CLI_OPT_CHECK);
    r->f.service = cli_arg(a, CLI_OPT_SERVICE);
    r->described = r->f.phase || r->f.check || r->f.service;
    for (size_t i = 0; i < a->n; i++)
        if (a->given[i].id == CLI_OPT_MEASURE && measure(r, a->given[i].arg) < 0)
            return -1;
    return 0;
}

static int cmd_rollback_exec(const struct cli_args *a)
{
    struct rollback_cli r = {0};
    struct tt_err err = {0};

    matrix_failure_init(&r.f);
    if (cli_apply_options(a, &r.o.apply) < 0 || take_options(a, &r) < 0)
        return EXIT_BAD_INPUT;
    if ((r.o.to_id != 0) + (r.o.to_tag != NULL) + r.previous > 1) {
        fprintf(stderr, "ttdeploy rollback: give one of --to, --to-tag and --previous\n");
        return EXIT_BAD_INPUT;
    }
    if (r.described && !r.f.phase) {
        fprintf(stderr,
                "ttdeploy rollback: describe a failure with --phase (preflight, backup, migrate, "
                "infra_up, infra_healthy, app_up, app_healthy or verify) first\n");
        return EXIT_BAD_INPUT;
    }
    if (r.explain || r.described) {
        if (rollback_explain(r.o.apply.plan_path, r.described ? &r.f : NULL, stdout, &err) < 0)
            return cli_apply_exit(a, APPLY_BAD_INPUT, &err);
        return EXIT_OK;
    }
    int rc = cli_apply_exit(a, redeploy_run(&r.o, &err), &err);
    cli_print_audit_head(&r.o.apply);
    return rc;
}

static const struct cmd_option rollback_options[] = {
    {"previous", 0, NULL, "the release before the current one (default)", CLI_OPT_PREVIOUS},
    {"to", 0, "ID", "the release of deployment ID (see `ttdeploy history`)", CLI_OPT_TO},
    {"to-tag", 0, "TAG",
     "the compose and plan files of git tag TAG; \"previous\":\nthe tag before the current one "
     "in version order",
     CLI_OPT_TO_TAG},
    {"with-migrations", 0, NULL, "also downgrade the schema to the revision it ran",
     CLI_OPT_WITH_MIGRATIONS},
    {"restore-backup", 0, NULL, "also restore the backup taken just after it ran",
     CLI_OPT_RESTORE_BACKUP},
    {"explain-matrix", 0, NULL, "print the rollback matrix (the plan's or the built-in)",
     CLI_OPT_EXPLAIN_MATRIX},
    {"phase", 0, "P",
     "describe a failure in phase P (preflight ... verify)\nand print which rule fires",
     CLI_OPT_PHASE},
    {"check", 0, "C", "the failure's verify check", CLI_OPT_CHECK},
    {"service", 0, "S", "the failure's service", CLI_OPT_SERVICE},
    {"measure", 0, "K=V",
     "what the failure measured (repeatable); K: error_rate,\np95, p95_before, health, value or "
     "value_before",
     CLI_OPT_MEASURE},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_rollback_entry = {
    .name = "rollback",
    .usage = "[--previous | --to ID | --to-tag TAG|previous] [--with-migrations] "
             "[--restore-backup] [--dry-run] [--explain-matrix [--phase P --check C --service S "
             "--measure K=V]] [--state PATH] [-H URL | --context NAME] [--insecure] [--mode "
             "local|swarm] [--lock-timeout D] "
             "[--readiness probe|docker] [--progress MODE | --json] PLAN",
    .summary = "deploy an earlier release again, audited; or explain the rollback matrix",
    .options = {rollback_options, cli_dry_run_option, cli_deploy_options, cli_host_option,
                cli_mode_option, cli_readiness_option, cli_progress_options},
    .min_args = 1,
    .max_args = 1,
    .notes = "exit codes: 0 rolled back, 1 failed, 2 bad input, 4 locked, 5 unreachable,\n"
             "            130 SIGINT, 143 SIGTERM (stopped, left for `recover`)\n",
    .exec = cmd_rollback_exec,
};
