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

#include <getopt.h>
#include <math.h>
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

static int rollback_option(int c, const char *arg, void *ctx)
{
    struct rollback_cli *r = ctx;
    char *end;
    switch (c) {
    case CLI_OPT_TO:
        r->o.to_id = strtoll(arg, &end, 10);
        if (*end || r->o.to_id <= 0) {
            fprintf(stderr,
                    "ttdeploy rollback: --to takes a deployment id (see `ttdeploy history`)\n");
            return -1;
        }
        return 0;
    case CLI_OPT_TO_TAG:
        r->o.to_tag = arg;
        return 0;
    case CLI_OPT_PREVIOUS:
        r->previous = 1;
        return 0;
    case CLI_OPT_WITH_MIGRATIONS:
        r->o.with_migrations = 1;
        return 0;
    case CLI_OPT_RESTORE_BACKUP:
        r->o.restore_backup = 1;
        return 0;
    case CLI_OPT_EXPLAIN_MATRIX:
        r->explain = 1;
        return 0;
    case CLI_OPT_PHASE:
        r->f.phase = arg;
        r->described = 1;
        return 0;
    case CLI_OPT_CHECK:
        r->f.check = arg;
        r->described = 1;
        return 0;
    case CLI_OPT_SERVICE:
        r->f.service = arg;
        r->described = 1;
        return 0;
    case CLI_OPT_MEASURE:
        return measure(r, arg);
    }
    return -1;
}

static int cmd_rollback_exec(int argc, char **argv)
{
    static const struct option own[] = {
        {"to", required_argument, NULL, CLI_OPT_TO},
        {"to-tag", required_argument, NULL, CLI_OPT_TO_TAG},
        {"previous", no_argument, NULL, CLI_OPT_PREVIOUS},
        {"with-migrations", no_argument, NULL, CLI_OPT_WITH_MIGRATIONS},
        {"restore-backup", no_argument, NULL, CLI_OPT_RESTORE_BACKUP},
        {"explain-matrix", no_argument, NULL, CLI_OPT_EXPLAIN_MATRIX},
        {"phase", required_argument, NULL, CLI_OPT_PHASE},
        {"check", required_argument, NULL, CLI_OPT_CHECK},
        {"service", required_argument, NULL, CLI_OPT_SERVICE},
        {"measure", required_argument, NULL, CLI_OPT_MEASURE},
        {NULL, 0, NULL, 0}};
    struct rollback_cli r = {0};
    struct tt_err err = {0};

    matrix_failure_init(&r.f);
    int rc =
        cli_apply_options(argc, argv, &cmd_rollback_entry, &r.o.apply, own, rollback_option, &r);
    if (rc != 0)
        return rc > 0 ? EXIT_OK : EXIT_BAD_INPUT;
    if ((r.o.to_id != 0) + (r.o.to_tag != NULL) + r.previous > 1) {
        fprintf(stderr, "ttdeploy rollback: give one of --to, --to-tag and --previous\n");
        return EXIT_BAD_INPUT;
    }
    if (r.described && !r.f.phase) {
        fprintf(stderr, "ttdeploy rollback: describe a failure with --phase (backup, migrate, "
                        "infra_up, infra_healthy, app_up, app_healthy or verify) first\n");
        return EXIT_BAD_INPUT;
    }
    if (r.explain || r.described) {
        if (rollback_explain(r.o.apply.plan_path, r.described ? &r.f : NULL, stdout, &err) < 0) {
            fprintf(stderr, "ttdeploy: rollback: %s\n", err.msg);
            return EXIT_BAD_INPUT;
        }
        return EXIT_OK;
    }
    int outcome = redeploy_run(&r.o, &err);
    if (outcome != APPLY_OK)
        fprintf(stderr, "ttdeploy: rollback: %s\n", err.msg);
    return cli_apply_outcome_exit(outcome);
}

const struct cmd_entry cmd_rollback_entry = {
    .name = "rollback",
    .usage = "[--previous | --to ID | --to-tag TAG|previous] [--with-migrations] "
             "[--restore-backup] [--dry-run] [--explain-matrix [--phase P --check C --service S "
             "--measure K=V]] [--state PATH] [--host unix://PATH] [--progress MODE] PLAN",
    .summary = "deploy an earlier release again, audited; or explain the rollback matrix",
    .help = "options:\n"
            "      --previous          the release before the current one (default)\n"
            "      --to ID             the release of deployment ID (see `ttdeploy history`)\n"
            "      --to-tag TAG        the compose and plan files of git tag TAG; \"previous\":\n"
            "                          the tag before the current one in version order\n"
            "      --with-migrations   also downgrade the schema to the revision it ran\n"
            "      --restore-backup    also restore the backup taken just after it ran\n"
            "      --dry-run           print what would change; touch nothing\n"
            "      --explain-matrix    print the rollback matrix (the plan's or the built-in)\n"
            "      --phase P, --check C, --service S, --measure K=V\n"
            "                          describe a failure: print which rule fires (K: error_rate,\n"
            "                          p95, p95_before, health, value, value_before)\n"
            "      --state PATH        the state store (default: .ttdeploy/state.db beside PLAN)\n"
            "      --host unix://PATH  Docker engine socket (default: $DOCKER_HOST)\n"
            "      --lock-timeout D    wait this long for another deployment (default 5m)\n"
            "      --progress MODE     auto (default), tty, plain, json or quiet\n"
            "\nexit codes: 0 rolled back, 1 failed, 2 bad input, 4 locked, 5 unreachable\n",
    .exec = cmd_rollback_exec,
};
