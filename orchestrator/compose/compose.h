/*
 * compose.h - the Compose project model and its loader.
 *
 * compose_load() reads one or more compose files (merged in order), applies
 * interpolation from the environment, .env and --env-file files, resolves
 * anchors, "<<" merges and "extends", filters services by profile and
 * returns a struct compose_project in normalized form: every service with
 * its dependencies, healthcheck, ports and mounts in long form and every
 * default made explicit.  Nothing here talks to Docker.
 */
#ifndef COMPOSE_H
#define COMPOSE_H

#include <stddef.h>

#include "strindex.h"
#include "strv.h"
#include "tterr.h"
#include "vars.h"
#include "yamltree.h"

enum compose_condition {
    COMPOSE_COND_STARTED,   /* service_started */
    COMPOSE_COND_HEALTHY,   /* service_healthy */
    COMPOSE_COND_COMPLETED, /* service_completed_successfully */
};

struct compose_dep {
    char *service;
    enum compose_condition condition;
    int required;     /* 0: the dependant starts even when this one is absent */
    int restart;      /* restart the dependant when this one is recreated */
    const char *file; /* where it was written, for messages */
    int line, col;
};

/* A duration in nanoseconds; -1 when not given. */
typedef long long compose_ns;

struct compose_healthcheck {
    int present;      /* a healthcheck key was given (possibly only to disable) */
    int disable;      /* disable: true, or test: NONE */
    struct strv test; /* "CMD", argv... | "CMD-SHELL", cmd | empty: inherit the image's */
    compose_ns interval, timeout, start_period, start_interval;
    int retries; /* -1 when not given */
};

struct compose_kv {
    char *key;
    char *value; /* NULL: no value (environment: taken from the host when run) */
};

struct compose_kvlist {
    struct compose_kv *v;
    size_t n, cap;
    struct strindex index; /* key → position: thousands of keys stay linear */
};

struct compose_port {
    char *host_ip;   /* NULL: all addresses */
    char *published; /* NULL: an ephemeral port; may be a range "8000-8010" */
    char *target;    /* container port or range */
    char *protocol;  /* "tcp" unless given */
    char *mode;      /* "ingress" unless given */
};

struct compose_mount {
    char *type;   /* "volume", "bind" or "tmpfs" */
    char *source; /* NULL for an anonymous volume or tmpfs; binds are absolute */
    char *target;
    int read_only;
    char *options; /* the rest of a short form's mode field, such as "z", or NULL */
};

struct compose_resources {
    double cpus;      /* 0 when not given */
    long long memory; /* bytes; 0 when not given */
};

/* deploy.update_config or deploy.rollback_config (swarm mode). */
struct compose_update_config {
    int parallelism;          /* -1 when not given */
    compose_ns delay;         /* -1 when not given */
    compose_ns monitor;       /* -1 when not given */
    char *failure_action;     /* continue, pause or rollback; NULL when not given */
    char *order;              /* stop-first or start-first; NULL when not given */
    double max_failure_ratio; /* -1 when not given */
};

/* The deploy: keys swarm mode honours besides resources (-1 / NULL: not given). */
struct compose_deploy {
    char *mode;              /* replicated or global */
    char *endpoint_mode;     /* vip or dnsrr */
    int replicas;            /* -1 when not given */
    struct strv constraints; /* placement.constraints */
    struct compose_update_config update, rollback;
    char *restart_condition; /* restart_policy.condition: none, on-failure or any */
    compose_ns restart_delay, restart_window;
    int restart_max_attempts;
};

/* A key the model does not interpret, kept as written for `config`. */
struct compose_extra {
    char *key;
    const struct ynode *value; /* borrowed from a document the project keeps */
};

struct compose_service {
    char *name;
    char *image;
    const struct ynode *build; /* kept as written; NULL when none */
    char *container_name;
    struct strv command;
    int has_command;
    struct strv entrypoint;
    int has_entrypoint;
    struct compose_kvlist environment;
    struct strv env_file;
    struct compose_kvlist labels;
    struct compose_port *ports;
    size_t nports;
    struct compose_mount *volumes;
    size_t nvolumes;
    struct strv networks;
    char *network_mode;
    struct compose_dep *deps;
    size_t ndeps;
    struct compose_healthcheck healthcheck;
    char *restart;
    char *user;
    char *working_dir;
    char *stop_signal;
    compose_ns stop_grace_period;
    int init; /* run an init process as PID 1 (forwards signals, reaps) */
    struct strv profiles;
    int start_first; /* deploy.update_config.order: start-first (the new container first) */
    struct compose_resources limits;
    struct compose_resources reservations;
    struct compose_deploy deploy; /* the rest of deploy: for swarm mode */
    struct compose_extra *extras;
    size_t nextras;
    struct strindex extras_index; /* key → position in extras */
    const char *file;             /* where the service was (last) defined */
    int line, col;
};

struct compose_project {
    char *name;
    char *dir;                         /* project directory: that of the first file */
    struct compose_service **services; /* enabled services, sorted by name */
    size_t nservices;
    struct compose_service **disabled; /* services left out by profiles */
    size_t ndisabled;
    struct strv networks; /* top-level networks, sorted */
    struct strv volumes;  /* top-level volumes, sorted */
    struct strv files;    /* the files loaded, in order */
    struct strv warnings; /* messages for the user: unknown keys, unset variables */
    struct ydoc **docs;   /* kept alive for build and extras */
    size_t ndocs;
};

struct compose_options {
    struct strv files;     /* empty: compose.yaml, compose.yml, docker-compose.y(a)ml */
    struct strv env_files; /* --env-file; empty: .env beside the first file */
    struct strv profiles;  /* --profile; COMPOSE_PROFILES is added */
    const char *project_name;
    const struct vars *environ; /* NULL: the process environment */
    /* Load the first file from memory instead of disk (fuzzing, tests). */
    const char *inline_data;
    size_t inline_len;
};

int compose_load(const struct compose_options *opts, struct compose_project **out,
                 struct tt_err *err);
void compose_project_free(struct compose_project *p);

/* Takes what src's deploy: gives over dst's (extends). */
void compose_deploy_merge(struct compose_deploy *dst, const struct compose_deploy *src);

/* The service called name among the enabled ones, or NULL. */
struct compose_service *compose_find_service(const struct compose_project *p, const char *name);
/* The enabled service nearest to name, for "did you mean" hints; NULL when none is close. */
const char *compose_closest_service(const struct compose_project *p, const char *name);
const char *compose_condition_name(enum compose_condition c);

/* The largest values the parsers below accept (hostile input gets a range, never overflow). */
#define COMPOSE_MAX_DURATION_NS 9000000000000000000LL /* 2500000h, about 285 years */
#define COMPOSE_MAX_DURATION_TEXT "2500000h"
#define COMPOSE_MAX_BYTES 9000000000000000000LL /* about 7.8 EiB: an int64 of bytes */
#define COMPOSE_MAX_BYTES_TEXT "8000000t"
#define COMPOSE_MAX_CPUS 1000000.0
/* Services in one project, and bytes of the keys kept as written over all of them. */
#define COMPOSE_MAX_SERVICES 10000
#define COMPOSE_MAX_KEPT_BYTES (64u << 20)

/*
 * "1m30s", "500ms", "2h", "1.5s" → ns.  Returns -1 on a bad string, -2
 * when it is over COMPOSE_MAX_DURATION_NS.
 */
int compose_parse_duration(const char *s, compose_ns *out);
/* Formats ns the way Go does ("1m30s", "500ms"), into buf of size n. */
void compose_format_duration(compose_ns ns, char *buf, size_t n);
/* "2G", "512m", "1gb", "1024" → bytes.  -1 on a bad string, -2 over COMPOSE_MAX_BYTES. */
int compose_parse_bytes(const char *s, long long *out);
/* "0.5", "2" → CPUs.  -1 on a bad string (nan, inf, a sign), -2 outside (0, COMPOSE_MAX_CPUS]. */
int compose_parse_cpus(const char *s, double *out);
/* Splits a command string the way a POSIX shell would split words (quotes, backslashes). */
int compose_split_words(const char *s, struct strv *out);

#endif
