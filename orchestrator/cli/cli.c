/*
 * cli.c - what several commands do alike, from their parsed options:
 * load the compose project, open the store or the engine, name the
 * project, load a deployment, run up/down or a deployment, print JSON.
 * Each helper prints its own errors and returns an exit code, so a
 * command reads as the few steps that are its own.
 */
#include "cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"
#include "plan.h"
#include "progress.h"
#include "stack.h"
#include "store.h"

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

void cli_format_time(double t, char *buf, size_t n)
{
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_print_json(const json_t *j, size_t flags)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | flags);
    fputc('\n', stdout);
}

const char *cli_format(const struct cli_args *a, const char *const *formats)
{
    const char *f = cli_arg(a, CLI_OPT_FORMAT);
    size_t n;

    if (!f)
        return formats[0];
    for (n = 0; formats[n]; n++)
        if (!strcmp(f, formats[n]))
            return f;
    fprintf(stderr, "ttdeploy %s: unknown format \"%s\": use ", a->entry->name, f);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s", formats[i], i + 2 < n ? ", " : i + 1 < n ? " or " : "\n");
    return NULL;
}

int cli_load_graph(const struct cli_args *a, struct compose_project **p, struct dag **d)
{
    struct compose_options o = {0};
    struct tt_err err = {0};
    int rc = EXIT_OK;

    *p = NULL;
    *d = NULL;
    cli_arg_all(a, CLI_OPT_FILE, &o.files);
    cli_arg_all(a, CLI_OPT_PROFILE, &o.profiles);
    cli_arg_all(a, CLI_OPT_ENV_FILE, &o.env_files);
    o.project_name = cli_arg(a, CLI_OPT_PROJECT);
    if (compose_load(&o, p, &err) < 0) {
        cli_error(NULL, &err);
        rc = EXIT_BAD_INPUT;
    } else {
        for (size_t i = 0; i < (*p)->warnings.n; i++)
            fprintf(stderr, "warning: %s\n", (*p)->warnings.v[i]);
        if (dag_build(*p, d, &err) < 0) {
            cli_error(NULL, &err);
            compose_project_free(*p);
            *p = NULL;
            rc = EXIT_BAD_INPUT;
        }
    }
    strv_clear(&o.files);
    strv_clear(&o.profiles);
    strv_clear(&o.env_files);
    return rc;
}

int cli_print_project(const struct cli_args *a, const char *const *formats, cli_print_fn print)
{
    const char *format = cli_format(a, formats);
    struct compose_project *p = NULL;
    struct dag *d = NULL;

    if (!format)
        return EXIT_BAD_INPUT;
    int rc = cli_load_graph(a, &p, &d);
    if (rc == EXIT_OK)
        print(d, format);
    dag_free(d);
    compose_project_free(p);
    return rc;
}

static char *cli_project_name(const char *given, const char *plan_path);

/*
 * Whether the plan at path keeps its store on the engine (state: engine);
 * *host receives its engine.host (or NULL; the caller frees).  A plan
 * that does not load says no: the path beside it is what is looked for.
 */
static int plan_state_on_engine(const char *path, char **host)
{
    struct plan *p = NULL;
    struct tt_err ignored = {0};
    *host = NULL;
    if (!path || plan_load(path, NULL, &p, &ignored) < 0)
        return 0;
    int on = p->state_engine;
    *host = p->engine_host ? xstrdup(p->engine_host) : NULL;
    plan_free(p);
    return on;
}

/* The store at path (given, or beside the plan), as the read commands open it. */
static int open_path_store(const char *given, const char *plan, struct store **out)
{
    struct tt_err err = {0};
    char *path = given ? xstrdup(given) : apply_default_state_path(plan);
    int rc = EXIT_OK;

    if (!given && access(path, F_OK) < 0) {
        fprintf(stderr, "ttdeploy: no state store at %s: pass --state PATH or --plan FILE\n", path);
        rc = EXIT_BAD_INPUT;
    } else if (store_open_existing(path, out, &err) < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        rc = EXIT_BAD_INPUT;
    }
    free(path);
    return rc;
}

/*
 * The store: on the engine (--state engine, or the plan's state: engine:
 * the project from -p or the plan), else a path.  project: -p, or NULL.
 */
static int open_store(const char *state, const char *plan, const char *host, const char *project,
                      const char *who, struct store **out)
{
    char *plan_host = NULL;
    const char *env = getenv("TTDEPLOY_STATE");
    int on_engine = state         ? !strcmp(state, "engine")
                    : env && *env ? 0
                                  : plan_state_on_engine(plan, &plan_host);
    int rc;

    if (!on_engine) {
        rc = open_path_store(state, plan, out);
    } else if (!(project = cli_project_name(project, plan))) {
        fprintf(stderr,
                "ttdeploy %s: --state engine: name the project with -p NAME or --plan FILE\n", who);
        rc = EXIT_BAD_INPUT;
    } else {
        rc = cli_open_engine_store(host, plan_host, project, out);
        free((char *)project);
    }
    free(plan_host);
    return rc;
}

int cli_open_store(const struct cli_args *a, struct store **out)
{
    return open_store(cli_arg(a, CLI_OPT_STATE), cli_arg(a, CLI_OPT_PLAN), cli_arg(a, CLI_OPT_HOST),
                      cli_arg(a, CLI_OPT_PROJECT), a->entry->name, out);
}

int cli_open_engine_copy(const struct apply_options *o, struct store **out)
{
    char *plan_host = NULL;
    const char *env = getenv("TTDEPLOY_STATE");
    int on_engine = o->state_engine || (!o->state_path && !(env && *env) &&
                                        plan_state_on_engine(o->plan_path, &plan_host));
    free(plan_host);
    *out = NULL;
    if (on_engine && open_store("engine", o->plan_path, o->host, NULL, "apply", out) != EXIT_OK)
        *out = NULL;
    return on_engine;
}

/*
 * The project name: given, else the one apply would deploy for the plan
 * (deploy_project_name: the same loader, env files and profiles included).
 * NULL after saying what is wrong; the caller frees.
 */
static char *cli_project_name(const char *given, const char *plan_path)
{
    struct tt_err err = {0};
    char *name = NULL;

    if (given)
        return xstrdup(given);
    if (plan_path && deploy_project_name(plan_path, &name, &err) < 0)
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
    return name;
}

int cli_open_project(const struct cli_args *a, char **project, struct store **st)
{
    int rc;

    *st = NULL;
    *project = cli_project_name(cli_arg(a, CLI_OPT_PROJECT), cli_arg(a, CLI_OPT_PLAN));
    if (!*project) {
        fprintf(stderr, "ttdeploy %s: name the project with -p NAME or --plan FILE\n",
                a->entry->name);
        return EXIT_BAD_INPUT;
    }
    if ((rc = cli_open_store(a, st)) != EXIT_OK) {
        free(*project);
        *project = NULL;
    }
    return rc;
}

int cli_load_deployment(const struct cli_args *a, struct store_record **out)
{
    struct store *st = NULL;
    struct tt_err err = {0};
    const char *id_arg = a->argv[0];
    char *end;
    int rc;

    *out = NULL;
    long long id = strtoll(id_arg, &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "ttdeploy %s: \"%s\" is not a deployment id: see `ttdeploy history`\n",
                a->entry->name, id_arg);
        return EXIT_BAD_INPUT;
    }
    if ((rc = cli_open_store(a, &st)) != EXIT_OK)
        return rc;
    rc = store_record_load(st, id, out, &err);
    store_close(st);
    if (rc < 0) {
        fprintf(stderr, "ttdeploy: %s\n", err.msg);
        return EXIT_BAD_INPUT;
    }
    return EXIT_OK;
}

/*
 * --progress (or --json) and --readiness, which up, down and the
 * deployments share: 0, or -1 after saying what is wrong.
 */
int cli_take_progress(const struct cli_args *a, enum progress_mode *progress, int *readiness_docker)
{
    static const char *const modes[] = {"auto", "tty", "plain", "json", "quiet"};
    static const enum progress_mode mode_of[] = {PROGRESS_AUTO, PROGRESS_TTY, PROGRESS_PLAIN,
                                                 PROGRESS_JSON, PROGRESS_QUIET};
    const char *p = cli_arg(a, CLI_OPT_PROGRESS), *r = cli_arg(a, CLI_OPT_READINESS);
    size_t i = 0;

    while (p && i < 5 && strcmp(p, modes[i]))
        i++;
    if (i == 5) {
        fprintf(stderr, "ttdeploy %s: --progress must be auto, tty, plain, json or quiet\n",
                a->entry->name);
        return -1;
    }
    *progress = mode_of[i];
    if (r && strcmp(r, "probe") && strcmp(r, "docker")) {
        fprintf(stderr, "ttdeploy %s: --readiness must be probe or docker\n", a->entry->name);
        return -1;
    }
    *readiness_docker = r && !strcmp(r, "docker");
    return 0;
}

int cli_apply_options(const struct cli_args *a, struct apply_options *o)
{
    const char *lock_timeout = cli_arg(a, CLI_OPT_LOCK_TIMEOUT);
    long ms = 300 * 1000;

    if (lock_timeout && (ms = cli_duration_ms(lock_timeout)) < 0) {
        fprintf(stderr, "ttdeploy %s: --lock-timeout \"%s\" is not a duration: use 30s or 5m\n",
                a->entry->name, lock_timeout);
        return -1;
    }
    o->lock_timeout_s = ms / 1000.0;
    o->plan_path = a->argv[0];
    o->state_path = cli_arg(a, CLI_OPT_STATE);
    o->host = cli_arg(a, CLI_OPT_HOST);
    o->context = cli_arg(a, CLI_OPT_CONTEXT);
    o->insecure = cli_arg(a, CLI_OPT_INSECURE) != NULL;
    o->mode = cli_arg(a, CLI_OPT_MODE);
    if (o->mode && strcmp(o->mode, "local") && strcmp(o->mode, "swarm")) {
        fprintf(stderr, "ttdeploy %s: --mode \"%s\": use local or swarm\n", a->entry->name,
                o->mode);
        return -1;
    }
    if (o->state_path && !strcmp(o->state_path, "engine")) {
        o->state_engine = 1;
        o->state_path = NULL;
    }
    o->dry_run = cli_arg(a, CLI_OPT_DRY_RUN) != NULL;
    o->actor = cli_arg(a, CLI_OPT_ACTOR);
    o->release = cli_arg(a, CLI_OPT_RELEASE);
    return cli_take_progress(a, &o->progress, &o->readiness_docker);
}

int cli_apply_exit(const struct cli_args *a, enum apply_outcome outcome, const struct tt_err *err)
{
    if (outcome != APPLY_OK)
        cli_error(a->entry->name, err);
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
    case APPLY_INTERRUPTED:
        return interrupt_signal() == SIGTERM ? EXIT_SIGTERM : EXIT_SIGINT;
    }
    return EXIT_FAILED;
}

/*
 * The output could not all be written (a reader that went away): say so,
 * and fail a command that had not failed already.  With SIGPIPE ignored
 * this is how a closed pipe shows, instead of killing a deployment half
 * way through.
 */
int cli_check_output(int rc)
{
    int e = fflush(stdout) == 0 ? 0 : errno;
    if (!e && !ferror(stdout))
        return rc;
    fprintf(stderr, "ttdeploy: writing the output failed: %s\n",
            e ? strerror(e) : "a write was refused (is the reader gone?)");
    return rc == EXIT_OK ? EXIT_FAILED : rc;
}

/* Async-signal-safe: records the signal; the second one ends the process at once. */
static void on_stop_signal(int sig)
{
    if (interrupt_note(sig) >= 2)
        _exit(128 + sig);
}

/* SIGINT and SIGTERM to on_stop_signal, without SA_RESTART: a blocking call returns EINTR. */
static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_process_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* a write to a closed pipe or socket is an error, not death */
    umask(077);               /* backups, the store, reports: readable by their owner alone */
    install_stop_handlers();
}
