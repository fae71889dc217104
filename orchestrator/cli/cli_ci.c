/*
 * cli_ci.c - what ttdeploy tells the CI system that runs it: GitHub
 * workflow annotations for errors in the plan or compose files, the
 * deployment's report appended to the job's step summary, and a warning
 * when the state store lives in the CI's checkout (which is fresh each
 * run: the history and the lock would go with it).
 */
#include "cmd.h"
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int on_github(void)
{
    return env("GITHUB_ACTIONS") && !strcmp(env("GITHUB_ACTIONS"), "true");
}

char *cli_ci_field(json_t *row, const char *key)
{
    const char *ci = json_string_value(json_object_get(row, "ci"));
    json_t *o = ci ? json_loads(ci, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(o, key));
    char *out = v ? xstrdup(v) : NULL;
    json_decref(o);
    return out;
}

/* s escaped as a workflow command's data (property: also ':' and ','). */
static void put_escaped(FILE *out, const char *s, int property)
{
    for (; *s; s++) {
        if (*s == '%')
            fputs("%25", out);
        else if (*s == '\r')
            fputs("%0D", out);
        else if (*s == '\n')
            fputs("%0A", out);
        else if (property && *s == ':')
            fputs("%3A", out);
        else if (property && *s == ',')
            fputs("%2C", out);
        else
            fputc(*s, out);
    }
}

/* The file as GitHub names it: relative to the workspace when it is inside it. */
static const char *workspace_relative(const char *file)
{
    const char *ws = env("GITHUB_WORKSPACE");
    size_t n = ws ? strlen(ws) : 0;
    if (n && !strncmp(file, ws, n) && file[n] == '/')
        return file + n + 1;
    return file;
}

void cli_error(const char *cmd, const struct tt_err *err)
{
    if (cmd)
        fprintf(stderr, "ttdeploy: %s: %s\n", cmd, err->msg);
    else
        fprintf(stderr, "ttdeploy: %s\n", err->msg);
    if (!on_github() || !err->file[0])
        return;
    fputs("::error file=", stdout);
    put_escaped(stdout, workspace_relative(err->file), 1);
    if (err->line > 0)
        printf(",line=%d", err->line);
    if (err->col > 0)
        printf(",col=%d", err->col);
    fputs(",title=ttdeploy", stdout);
    if (cmd) {
        fputc(' ', stdout);
        put_escaped(stdout, cmd, 1);
    }
    fputs("::", stdout);
    put_escaped(stdout, err->msg, 0);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Whether path (its directory must exist) lies inside directory dir. */
static int inside(const char *path, const char *dir)
{
    char p[PATH_MAX], d[PATH_MAX], *copy = xstrdup(path), *slash = strrchr(copy, '/');
    int in = 0;
    if (slash)
        *slash = '\0';
    if (realpath(slash ? (copy[0] ? copy : "/") : ".", p) && realpath(dir, d)) {
        size_t n = strlen(d);
        in = !strncmp(p, d, n) && (p[n] == '/' || p[n] == '\0');
    }
    free(copy);
    return in;
}

void cli_ci_warn_store(const struct apply_options *o)
{
    const char *ws = env("GITHUB_WORKSPACE") ? env("GITHUB_WORKSPACE") : env("CI_PROJECT_DIR");
    if (!ws || o->state_path || env("TTDEPLOY_STATE"))
        return;
    char *path = apply_default_state_path(o->plan_path);
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    /* The store's folder may not exist yet: judge by the plan's. */
    if (inside(slash && access(dir, F_OK) == 0 ? path : o->plan_path, ws)) {
        fprintf(stderr,
                "ttdeploy: warning: the state store %s is inside the CI checkout %s, which is "
                "fresh each run: the history and the lock go with it. Set TTDEPLOY_STATE to a "
                "path on the deploy host (e.g. /var/lib/ttdeploy/PROJECT.db)\n",
                path, ws);
        if (on_github())
            printf("::warning title=ttdeploy store::the state store %s is inside the checkout: "
                   "set TTDEPLOY_STATE to a path on the deploy host\n",
                   path);
    }
    free(dir);
    free(path);
}

void cli_ci_step_summary(const struct apply_options *o, long long id, const struct tt_err *err)
{
    const char *file = env("GITHUB_STEP_SUMMARY");
    FILE *out;
    if (!file || !(out = fopen(file, "a")))
        return;
    struct store *st = NULL;
    struct store_record *r = NULL;
    struct tt_err e = {0};
    char *path = o->state_path ? xstrdup(o->state_path) : apply_default_state_path(o->plan_path);
    int on_engine = id > 0 && cli_open_engine_copy(o, &st);
    if (id > 0 && (on_engine || store_open_existing(path, &st, &e) == 0) && st &&
        store_record_load(st, id, &r, &e) == 0) {
        json_t *rep = report_new(r);
        report_markdown(rep, out);
        json_decref(rep);
        fputs("\n```mermaid\n", out); /* GitHub draws it: the timeline */
        timeline_print(r, TIMELINE_MERMAID, out);
        fputs("```\n", out);
    } else {
        fprintf(out, "## ttdeploy: %s\n\nNo deployment was recorded: %s\n", o->plan_path,
                err->msg[0] ? err->msg : e.msg);
    }
    fputc('\n', out);
    fclose(out);
    store_record_free(r);
    store_close(st);
    free(path);
}
