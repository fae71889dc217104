/*
 * cmd_apply.c - `ttdeploy apply plan.yml`: the command CI runs on a git
 * tag.  Deploys the plan's release phase by phase and records every step;
 * `--dry-run` prints what would change and touches nothing, not even the
 * state store.
 */
#include "deploy.h"
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cli_apply_outcome_exit(int outcome)
{
    switch (outcome) {
    case APPLY_OK:
        return EXIT_OK;
    case APPLY_DEPLOY_FAILED:
        return EXIT_FAILED;
    case APPLY_BAD_INPUT:
        return EXIT_BAD_INPUT;
    case APPLY_ROLLBACK_BROKE:
        return EXIT_ROLLBACK_FAILED;
    case APPLY_LOCK_HELD:
        return EXIT_LOCKED;
    case APPLY_UNREACHABLE:
        return EXIT_UNREACHABLE;
    }
    return EXIT_FAILED;
}

/*
 * Options shared by apply, recover and rollback, plus the command's own
 * (extra, handled by on_extra; may be NULL); returns -1 on a bad option,
 * 1 for --help.
 */
int cli_apply_options(int argc, char **argv, const struct cmd_entry *entry, struct apply_options *o,
                      const struct option *extra, cli_extra_fn on_extra, void *ctx)
{
    static const struct option shared[] = {
        {"state", required_argument, NULL, CLI_OPT_STATE},
        {"host", required_argument, NULL, CLI_OPT_HOST},
        {"dry-run", no_argument, NULL, CLI_OPT_DRY_RUN},
        {"lock-timeout", required_argument, NULL, CLI_OPT_LOCK_TIMEOUT},
        {"readiness", required_argument, NULL, CLI_OPT_READINESS},
        {"progress", required_argument, NULL, CLI_OPT_PROGRESS},
        {"json", no_argument, NULL, CLI_OPT_JSON},
        {"help", no_argument, NULL, CLI_OPT_HELP},
        {NULL, 0, NULL, 0}};
    struct option longopts[64];
    size_t n = 0;
    int c;
    long ms;

    for (size_t i = 0; shared[i].name; i++)
        longopts[n++] = shared[i];
    for (size_t i = 0; extra && extra[i].name && n < 63; i++)
        longopts[n++] = extra[i];
    memset(&longopts[n], 0, sizeof(longopts[n]));

    o->lock_timeout_s = 300;
    o->progress = PROGRESS_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_STATE:
            o->state_path = optarg;
            break;
        case CLI_OPT_HOST:
            o->host = optarg;
            break;
        case CLI_OPT_DRY_RUN:
            if (!strcmp(entry->name, "recover")) {
                fprintf(stderr, "ttdeploy %s: --dry-run is for apply and rollback\n", entry->name);
                return -1;
            }
            o->dry_run = 1;
            break;
        case CLI_OPT_LOCK_TIMEOUT:
            if ((ms = cli_duration_ms(optarg)) < 0) {
                fprintf(stderr,
                        "ttdeploy %s: --lock-timeout \"%s\" is not a duration: use 30s or 5m\n",
                        entry->name, optarg);
                return -1;
            }
            o->lock_timeout_s = ms / 1000.0;
            break;
        case CLI_OPT_READINESS:
            if (strcmp(optarg, "probe") && strcmp(optarg, "docker")) {
                fprintf(stderr, "ttdeploy %s: --readiness must be probe or docker\n", entry->name);
                return -1;
            }
            o->readiness_docker = !strcmp(optarg, "docker");
            break;
        case CLI_OPT_PROGRESS:
            if ((int)(o->progress = cli_progress_mode(optarg)) < 0) {
                fprintf(stderr, "ttdeploy %s: --progress must be auto, tty, plain, json or quiet\n",
                        entry->name);
                return -1;
            }
            break;
        case CLI_OPT_JSON:
            o->progress = PROGRESS_JSON;
            break;
        case CLI_OPT_HELP:
            cli_usage(entry);
            return 1;
        default:
            if (!on_extra || c == '?' || on_extra(c, optarg, ctx) < 0)
                return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: ttdeploy %s %s\n", entry->name, entry->usage);
        return -1;
    }
    o->plan_path = argv[optind];
    return 0;
}

static int cmd_apply_exec(int argc, char **argv)
{
    struct apply_options o = {0};
    struct tt_err err = {0};
    int rc = cli_apply_options(argc, argv, &cmd_apply_entry, &o, NULL, NULL, NULL);

    if (rc != 0)
        return rc > 0 ? EXIT_OK : EXIT_BAD_INPUT;
    int outcome = apply_run(&o, &err);
    if (outcome != APPLY_OK)
        fprintf(stderr, "ttdeploy: apply: %s\n", err.msg);
    return cli_apply_outcome_exit(outcome);
}

const struct cmd_entry cmd_apply_entry = {
    .name = "apply",
    .usage = "[--dry-run] [--state PATH] [--host unix://PATH] [--lock-timeout D] "
             "[--readiness probe|docker] [--progress MODE | --json] PLAN",
    .summary = "deploy a plan's release: backup, migrate, infra, app, verify; record every step",
    .help = "options:\n"
            "      --dry-run           print what would change; touch nothing\n"
            "      --state PATH        the state store (default: .ttdeploy/state.db beside PLAN)\n"
            "      --host unix://PATH  Docker engine socket (default: $DOCKER_HOST)\n"
            "      --lock-timeout D    wait this long for another deployment (default 5m)\n"
            "      --readiness HOW     probe (default) or docker\n"
            "      --progress MODE     auto (default), tty, plain, json or quiet\n"
            "      --json              one JSON event per line\n"
            "\nexit codes: 0 succeeded, 1 failed, 2 bad input, 3 rollback failed,\n"
            "            4 locked (or an interrupted deployment needs `recover`), 5 unreachable\n",
    .exec = cmd_apply_exec,
};
