/*
 * cli.c - what several commands share: compose options, usage text and
 * loading a project with its warnings printed.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"
#include "plan.h"
#include "stack.h"
#include "progress.h"
#include "store.h"

#include <time.h>
#include <unistd.h>

int cli_compose_option(int c, const char *arg, struct compose_options *o)
{
    switch (c) {
    case CLI_OPT_FILE:
        strv_push(&o->files, arg);
        return 1;
    case CLI_OPT_PROFILE:
        strv_push(&o->profiles, arg);
        return 1;
    case CLI_OPT_ENV_FILE:
        strv_push(&o->env_files, arg);
        return 1;
    case CLI_OPT_PROJECT:
        o->project_name = arg;
        return 1;
    }
    return 0;
}

void cli_compose_options_clear(struct compose_options *o)
{
    strv_clear(&o->files);
    strv_clear(&o->profiles);
    strv_clear(&o->env_files);
}

void cli_usage(const struct cmd_entry *e)
{
    printf("usage: ttdeploy %s %s\n\n%s\n\n%s", e->name, e->usage, e->summary, e->help);
}

int cli_load_project(const struct compose_options *o, struct compose_project **out)
{
    struct tt_err err = {0};

    if (compose_load(o, out, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_BAD_INPUT;
    }
    for (size_t i = 0; i < (*out)->warnings.n; i++)
        fprintf(stderr, "warning: %s\n", (*out)->warnings.v[i]);
    return EXIT_OK;
}

int cli_load_graph(const struct compose_options *o, struct compose_project **p, struct dag **d)
{
    struct tt_err err = {0};
    int rc = cli_load_project(o, p);

    *d = NULL;
    if (rc != EXIT_OK)
        return rc;
    if (dag_build(*p, d, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        compose_project_free(*p);
        *p = NULL;
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

int cli_open_engine(const char *host, struct engine **out)
{
    struct tt_err err = {0};
    if (engine_open(host, out, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

int cli_progress_mode(const char *s)
{
    if (!strcmp(s, "auto"))
        return PROGRESS_AUTO;
    if (!strcmp(s, "tty"))
        return PROGRESS_TTY;
    if (!strcmp(s, "plain"))
        return PROGRESS_PLAIN;
    if (!strcmp(s, "json"))
        return PROGRESS_JSON;
    if (!strcmp(s, "quiet"))
        return PROGRESS_QUIET;
    return -1;
}

long cli_duration_ms(const char *s)
{
    compose_ns ns;
    char *end;
    long secs = strtol(s, &end, 10);
    if (*s && !*end && secs >= 0) /* a bare number is seconds, as in docker compose */
        return secs * 1000;
    if (compose_parse_duration(s, &ns) < 0)
        return -1;
    return (long)(ns / 1000000);
}

int cli_open_store(const char *state, const char *plan, struct store **out)
{
    struct tt_err err = {0};
    char *path = state  ? xstrdup(state)
                 : plan ? apply_default_state_path(plan)
                        : xstrdup(".ttdeploy/state.db");
    int rc = EXIT_OK;
    if (!state && access(path, F_OK) < 0) {
        fprintf(stderr, "ttdeploy: no state store at %s: pass --state PATH or --plan FILE\n", path);
        rc = EXIT_BAD_INPUT;
    } else if (store_open(path, out, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_BAD_INPUT;
    }
    free(path);
    return rc;
}

void cli_format_time(double t, char *buf, size_t n)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

int cli_stack_option(int c, const char *arg, const char *cmd, struct stack_options *so,
                     const char **host)
{
    switch (c) {
    case CLI_OPT_HOST:
        *host = arg;
        return 1;
    case CLI_OPT_JSON:
        so->progress = PROGRESS_JSON;
        return 1;
    case CLI_OPT_PROGRESS:
        if ((int)(so->progress = cli_progress_mode(arg)) < 0) {
            fprintf(stderr, "ttdeploy %s: --progress must be auto, tty, plain, json or quiet\n",
                    cmd);
            return -1;
        }
        return 1;
    case CLI_OPT_READINESS:
        if (strcmp(arg, "probe") && strcmp(arg, "docker")) {
            fprintf(stderr, "ttdeploy %s: --readiness must be probe or docker\n", cmd);
            return -1;
        }
        so->readiness_docker = !strcmp(arg, "docker");
        return 1;
    }
    return 0;
}

int cli_run_stack(const struct compose_options *o, const char *host, const char *cmd,
                  cli_stack_fn fn, const struct stack_options *so)
{
    struct compose_project *p = NULL;
    struct dag *d = NULL;
    struct engine *e = NULL;
    struct tt_err err = {0};
    int rc = cli_load_graph(o, &p, &d);

    if (rc == EXIT_OK)
        rc = cli_open_engine(host, &e);
    if (rc == EXIT_OK && fn(e, p, d, so, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s failed: %s\n", cmd, err.msg);
        rc = EXIT_FAILED;
    }
    engine_close(e);
    dag_free(d);
    compose_project_free(p);
    return rc;
}

char *cli_project_name(const char *given, const char *plan_path)
{
    struct plan *pl = NULL;
    struct compose_project *p = NULL;
    struct compose_options co = {0};
    struct tt_err err = {0};
    char *name = NULL;

    if (given)
        return xstrdup(given);
    if (!plan_path)
        return NULL;
    if (plan_load(plan_path, NULL, &pl, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return NULL;
    }
    if (pl->project) {
        name = xstrdup(pl->project);
    } else {
        strv_copy(&co.files, &pl->compose);
        if (compose_load(&co, &p, &err) == 0)
            name = xstrdup(p->name);
        else
            fprintf(stderr, "ttdeploy: %s\n", err.msg);
        compose_project_free(p);
        strv_clear(&co.files);
    }
    plan_free(pl);
    return name;
}

int cli_load_deployment(const char *cmd, const char *state, const char *plan, const char *id_arg,
                        json_t **out)
{
    struct store *st = NULL;
    struct tt_err err = {0};
    char *end;
    int rc;

    *out = NULL;
    long long id = strtoll(id_arg, &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "ttdeploy %s: \"%s\" is not a deployment id: see `ttdeploy history`\n", cmd,
                id_arg);
        return EXIT_BAD_INPUT;
    }
    if ((rc = cli_open_store(state, plan, &st)) != EXIT_OK)
        return rc;
    *out = store_show(st, id, &err);
    store_close(st);
    if (!*out) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}
