/*
 * cli.c - what several commands share: compose options, usage text and
 * loading a project with its warnings printed.
 */
#include "cmd.h"

#include <stdio.h>

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
