/*
 * plan.h - the deployment plan: what `ttdeploy apply plan.yml` deploys and
 * how.  The language is documented in plans/README.md.
 *
 * plan_load() reads and validates the file on its own (types, known keys,
 * durations, names of phases, actions and severities), with
 * file:line:column errors.  plan_check_project() then checks it against
 * the compose project it names (every service it mentions exists) and
 * fills in the default tiers.
 */
#ifndef PLAN_H
#define PLAN_H

#include "compose.h"
#include "dag.h"
#include "strv.h"
#include "tterr.h"
#include "vars.h"

#define PLAN_VERSION 1

enum plan_check_kind { PLAN_CHECK_HTTP, PLAN_CHECK_EXEC, PLAN_CHECK_SQL };

struct plan_where {
    const char *file;
    int line, col;
};

struct plan_check {
    char *name;
    enum plan_check_kind kind;
    /* http */
    char *url;
    int status;            /* expected status (default 200) */
    char *body;            /* the body must contain this, or NULL */
    char *from;            /* service whose container makes the request (inside the network) */
    int probes;            /* requests made (default 1) */
    double max_error_rate; /* failures allowed, as a fraction of probes (default 0) */
    /* exec */
    char *service;
    struct strv command;
    int expect_exit;
    /* sql */
    char *sql;
    char *expect; /* "= 5", ">= 10", ">= before", "= before", "!= 0" ... or NULL: any row */
    struct plan_where at;
};

/*
 * A rule's measured condition, "METRIC OP VALUE":
 *   error_rate > 5%        the failed HTTP check's error rate (also 0.05)
 *   p95 > 2x before        its p95 latency against the p95 measured before the deployment
 *   p95 > 500ms            ... or against a fixed bound (ms or s)
 *   health = unhealthy     the failed service's state: unhealthy, exited, starting, missing
 *   value != before        the failed SQL check's value (or exec check's exit code)
 */
enum plan_metric { PLAN_METRIC_ERROR_RATE, PLAN_METRIC_P95, PLAN_METRIC_HEALTH, PLAN_METRIC_VALUE };

struct plan_condition {
    enum plan_metric metric;
    char op[3];       /* >, >=, <, <=, =, != */
    double number;    /* error_rate as a fraction, p95 in ms or as a ratio */
    int ratio_before; /* p95: number is a multiple of the value before */
    char *text;       /* health and value: what to compare with ("before" allowed for value) */
};

/* What a rollback rule says to do; plan_action_name() is the word in plans. */
enum plan_action {
    PLAN_ACTION_NONE,       /* fix forward: leave the new release, exit non-zero */
    PLAN_ACTION_IMAGES,     /* the previous image of each changed service */
    PLAN_ACTION_GIT,        /* the compose and plan files of the previous release's git tag */
    PLAN_ACTION_MIGRATIONS, /* downgrade the schema to the revision before */
    PLAN_ACTION_RESTORE,    /* restore this deployment's backup */
    PLAN_ACTION_ABORT,      /* stop, change nothing more */
};

struct plan_rule {
    char *phase;     /* NULL: any */
    char *check;     /* NULL: any */
    char *service;   /* NULL: any */
    char *condition; /* as written, or NULL */
    struct plan_condition cond;
    char *severity;
    enum plan_action *actions; /* in order; none and abort stand alone */
    size_t nactions;
    struct plan_where at;
};

/*
 * How a service's new release replaces the old (rollout: in the plan).
 * recreate: stop the old container, then start the new one (compose's
 * way).  blue-green: two slot containers behind a proxy; the new release
 * starts in the idle slot, is checked there, then the proxy's upstream
 * file is switched to it and the proxy reloaded.
 */
struct plan_rollout {
    char *service;
    int blue_green;       /* strategy: blue-green; 0: recreate */
    char *proxy;          /* the service that routes to it */
    char *upstream_file;  /* absolute (resolved against the plan's directory) */
    char *upstream_name;  /* the nginx upstream block's name */
    int upstream_port;    /* the port the slots listen on */
    struct strv reload;   /* run in the proxy container after the file changed */
    long long drain_ns;   /* after a switch, before the old slot counts as idle */
    long long keep_ns;    /* keep_previous: how long the old slot stays for a switch back */
    struct plan_where at; /* the service's key under rollout: */
};

struct plan_backup {
    int present;
    char *dir;
    char *verify;  /* "restore" | "list" | "none" */
    int via_host;  /* run the host's pg_dump against the url, not the container's */
    int keep_last; /* 0: keep all */
};

struct plan_migrate {
    int present;
    char *kind; /* "command" | "sql" */
    char *service;
    char *dir;
    struct strv up, down;
    char *revision_query;
    struct strv stop_during;
    int rehearse;
};

/*
 * The bounds of every wait on PostgreSQL and the Docker daemon
 * (timeouts: in the plan; the defaults below are documented in
 * plans/README.md).  All in milliseconds, each above zero.
 */
#define PLAN_CONNECT_DEFAULT_MS 10000L    /* libpq connect_timeout, Engine API connect */
#define PLAN_STATEMENT_DEFAULT_MS 300000L /* libpq statement_timeout */
#define PLAN_LOCK_DEFAULT_MS 30000L       /* libpq lock_timeout, the migration lock's wait */
#define PLAN_REQUEST_DEFAULT_MS 60000L    /* one Engine API request that is not a stream */
#define PLAN_STALL_DEFAULT_MS 60000L      /* a stream that sends nothing for this long fails */

struct plan_timeouts {
    long connect_ms, statement_ms, lock_ms, request_ms, stall_ms;
};

/* When a hook runs: before its phase, after it worked, or once it failed. */
enum plan_hook_when { PLAN_HOOK_BEFORE, PLAN_HOOK_AFTER, PLAN_HOOK_ON_FAILURE };

#define PLAN_HOOK_TIMEOUT_DEFAULT_MS 60000L
#define PLAN_HOOKS_MAX 32 /* hooks of one phase and one moment */

/*
 * A command of hooks: run on the host (service NULL) or in a one-off
 * container of service, with the deployment's facts in TTDEPLOY_*
 * variables.  run: as a string is /bin/sh -c TEXT (argv holds "/bin/sh",
 * "-c", TEXT); as a list it is the argv itself.
 */
struct plan_hook {
    char *name;  /* as written, or "PHASE.WHEN.N" (N from 1) */
    char *phase; /* preflight, backup, migrate, infra_up, app_up or verify */
    enum plan_hook_when when;
    int shell; /* run: was a string */
    struct strv argv;
    char *service;   /* NULL: on the host */
    long timeout_ms; /* default PLAN_HOOK_TIMEOUT_DEFAULT_MS */
    struct strv env; /* NAME=VALUE, added to the hook's environment */
    struct plan_where at;
};

/*
 * notify: a webhook told of a deployment's start and end (plan_notify.c).
 * The events, in the order of PLAN_NOTIFY_EVENTS' names.
 */
enum plan_notify_event {
    PLAN_NOTIFY_STARTED,
    PLAN_NOTIFY_SUCCEEDED,
    PLAN_NOTIFY_FAILED,
    PLAN_NOTIFY_ROLLED_BACK,
    PLAN_NOTIFY_ROLLBACK_FAILED,
    PLAN_NOTIFY_NEVENTS
};

#define PLAN_NOTIFY_MAX 16             /* webhooks in one plan */
#define PLAN_NOTIFY_MAX_HEADERS 32     /* headers of one webhook */
#define PLAN_NOTIFY_TIMEOUT_MS 5000L   /* one POST's bound when timeout: is not given */
#define PLAN_NOTIFY_TIMEOUT_MAX 60000L /* the longest timeout: allowed */

struct plan_notify {
    char *url;                 /* http:// or https:// (may hold a token: never shown) */
    unsigned events;           /* bit 1 << enum plan_notify_event per event it is sent */
    struct strv header_names;  /* as written */
    struct strv header_values; /* interpolated from the environment: secrets, never shown */
    long timeout_ms;           /* one attempt's bound, connecting included */
    struct plan_where at;      /* the webhook's item under notify: */
    struct plan_where url_at;  /* its url: */
};

#define PLAN_RETENTION_KEEP_MAX 1000 /* retention.images.keep: releases whose images stay */

struct plan {
    char *path;
    char *dir;
    char sha256[65];
    int version;
    char *project;
    struct strv compose; /* paths, resolved against the plan's directory */
    struct strv env_files;
    struct strv profiles;
    char *release_version;
    char *git_repo, *git_tag, *git_commit;
    struct strv image_services, image_refs; /* per-service image overrides */
    struct strv infra, app;
    int tiers_given;
    char *db_service;
    char *db_url;
    struct plan_backup backup;
    struct plan_migrate migrate;
    struct plan_check *checks;
    size_t nchecks;
    long healthy_timeout_ms;
    long verify_timeout_ms;
    struct plan_timeouts timeouts; /* connect, statement, lock, request, stall */
    char *on_crash;                /* "rollback" (default) or "resume" */
    char *engine_host;             /* engine.host: tcp://, ssh://, unix://; NULL: not given */
    char *engine_context;          /* engine.context: a Docker context's name; NULL: not given */
    char *engine_mode;             /* engine.mode: "local" (default) or "swarm" */
    char *state_where;             /* state: "local" or "engine"; NULL: not given */
    int state_engine;              /* state: engine - the store lives in a volume on the engine */
    struct plan_rule *rules;
    size_t nrules;
    struct strv public_env; /* audit.public_env: names whose values the store keeps in clear */
    struct plan_rollout *rollouts; /* rollout: per service */
    size_t nrollouts;
    struct strv warnings;
    /*
     * retention (plan_retention.c): after a succeeded deployment, the images
     * of the project's newest retention_keep succeeded releases stay, older
     * ones go (orchestrator/deploy/retention.c); 0: no retention: section.
     */
    int retention_keep;
    struct plan_where retention_at;
    /* hooks: commands run before, after or on the failure of a phase (plan_hooks.c) */
    struct plan_hook *hooks; /* in the order written */
    size_t nhooks;
    /* notify: webhooks (plan_notify.c) */
    struct plan_notify *notify;
    size_t nnotify;
    /*
     * Why the webhooks cannot be told (a variable of a url or header is not
     * set: file:line and what to do), or NULL.  apply refuses to begin;
     * recover, rollback, check and diff go on without telling them.
     */
    char *notify_unset;
};

/* env: variables for ${...} (NULL: the process environment). */
int plan_load(const char *path, const struct vars *env, struct plan **out, struct tt_err *err);
/* The same, from memory; path names it in messages and anchors relative paths. */
int plan_parse(const char *path, const char *data, size_t len, const struct vars *env,
               struct plan **out, struct tt_err *err);
void plan_free(struct plan *p);

/*
 * What the engine mode rules out (swarm: blue-green slots); apply calls it
 * again when --mode overrides the plan's mode.
 */
int plan_check_mode(const struct plan *p, struct tt_err *err);

/*
 * Checks the plan against the project: services named in tiers, images,
 * database, migrate and checks exist; fills default tiers (infra: services
 * of the first layer that others depend on; app: the rest).
 */
int plan_check_project(struct plan *p, const struct compose_project *proj, const struct dag *d,
                       struct tt_err *err);

/*
 * Parses a condition ("error_rate > 5%"); on failure returns -1 with why
 * filled (what is wrong and the forms that work).
 */
int plan_condition_parse(const char *text, struct plan_condition *c, char *why, size_t whylen);

/* "images", "migrations"...: the action's word in plans and in the store. */
const char *plan_action_name(enum plan_action a);
/* The action called name; -1 when there is none. */
int plan_action_from_name(const char *name, enum plan_action *out);
/* path made absolute against the plan's directory (unchanged when absolute; caller frees). */
char *plan_resolve(const struct plan *p, const char *path);

/* The image override for service, or NULL. */
const char *plan_image_for(const struct plan *p, const char *service);
int plan_is_infra(const struct plan *p, const char *service);
/*
 * Whether the plan lists the environment variable name in audit.public_env:
 * only then is its value stored in clear; every other value is stored as
 * a keyed digest (state/README.md).
 */
int plan_env_is_public(const struct plan *p, const char *name);
/* "before", "after" or "on_failure". */
const char *plan_hook_when_name(enum plan_hook_when w);
/* The hook called name, or NULL (a rollback rule's check: may name a hook). */
const struct plan_hook *plan_hook_named(const struct plan *p, const char *name);
/* "started", "succeeded"...: the event's word in plans and payloads. */
const char *plan_notify_event_name(enum plan_notify_event e);
/* Frees n webhooks taken from a plan's notify (NULL: nothing). */
void plan_notify_free(struct plan_notify *v, size_t n);

/* The blue-green rollout of service, or NULL when it is recreated. */
const struct plan_rollout *plan_blue_green(const struct plan *p, const char *service);

#endif
