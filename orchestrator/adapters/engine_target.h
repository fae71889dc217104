/*
 * engine_target.h - which Docker engine, and how to reach it: the
 * resolution of a struct engine_choice (engine.h) into one target, as the
 * docker CLI resolves --host, --context, DOCKER_HOST and DOCKER_CONTEXT,
 * with the plan's engine block between the environment and the default.
 *
 * Contexts are read where the docker CLI writes them: the metadata in
 * $DOCKER_CONFIG/contexts/meta/<sha256 of the name>/meta.json
 * (Endpoints.docker.Host and SkipTLSVerify) and the TLS files in
 * $DOCKER_CONFIG/contexts/tls/<sha256 of the name>/docker/{ca,cert,key}.pem,
 * $DOCKER_CONFIG defaulting to ~/.docker.
 *
 * TLS outside a context: $DOCKER_TLS_VERIFY (or $DOCKER_TLS) set and not
 * empty means TLS with the server's certificate and name verified against
 * ca.pem, the client's cert.pem and key.pem, all three in
 * $DOCKER_CERT_PATH (default $DOCKER_CONFIG, else ~/.docker).  Unlike the
 * docker CLI, DOCKER_TLS alone verifies too: a deployment tool does not
 * skip verification without being told in so many words (a context's
 * SkipTLSVerify), and then warns.
 *
 * engine.c uses the result to set up each libcurl handle
 * (engine_target_setup()) and to explain a failure (engine_target_explain()).
 */
#ifndef ENGINE_TARGET_H
#define ENGINE_TARGET_H

#include "buf.h"
#include "engine.h"
#include "tterr.h"

enum engine_transport { ENGINE_UNIX, ENGINE_TCP, ENGINE_SSH };

struct engine_target {
    enum engine_transport transport;
    char *host;            /* as resolved: "unix:///path", "tcp://h:2376", "ssh://u@h:22" */
    char *context;         /* the context it came from, or NULL */
    const char *source;    /* "--host", "DOCKER_HOST", "the plan's engine.host", "default", ... */
    char *path;            /* unix: the socket */
    char *hostname;        /* tcp, ssh: the host name or address */
    int port;              /* tcp: always set; ssh: 0 when not given */
    char *user;            /* ssh: NULL when not given */
    int tls;               /* tcp: over TLS */
    int tls_skip_verify;   /* a context's SkipTLSVerify: the server's certificate not checked */
    char *ca, *cert, *key; /* TLS files (each NULL when not used) */
    int insecure;          /* plain tcp:// was allowed */
};

/*
 * Resolves c (and the environment) into t (released with
 * engine_target_release() even on failure).  -1 with err naming the
 * source when: --host and --context are both given (or the plan's host
 * and context), a host is not unix://, tcp:// or ssh://, a context or one
 * of its files is missing or unreadable (the folder looked in named), a
 * TLS file is missing, or tcp:// is plain and c->insecure is not set.
 */
int engine_target_resolve(const struct engine_choice *c, struct engine_target *t,
                          struct tt_err *err);
void engine_target_release(struct engine_target *t);
/* Appends to out where and how, never credentials (see engine_describe()). */
void engine_target_describe(const struct engine_target *t, struct buf *out);
/* Appends to out what the user should be warned of (plain TCP, a certificate not checked); 1 if
 * any. */
int engine_target_warning(const struct engine_target *t, struct buf *out);
/* The folder contexts are read from: $DOCKER_CONFIG/contexts, else ~/.docker/contexts. */
void engine_target_contexts_dir(struct buf *out);

/* For a unix socket: -1 with err saying why connect() fails (missing, permission, refused). */
int engine_target_check_socket(const struct engine_target *t, struct tt_err *err);
/*
 * Sets up a libcurl easy handle (curl, a CURL *) to reach t: the socket,
 * TLS files and verification, or the ssh transport ssh (engine_ssh.c;
 * NULL unless ssh://).  engine_target_base_url() appends the URL that
 * request paths go after.
 */
struct engine_ssh;
void engine_target_setup(const struct engine_target *t, struct engine_ssh *ssh, void *curl);
void engine_target_base_url(const struct engine_target *t, struct buf *out);
/*
 * Appends to out what to check after a transfer failed with libcurl's
 * code curl_code (a CURLcode): the certificate files for TLS, what ssh
 * said (ssh_said, may be NULL) for ssh.
 */
void engine_target_explain(const struct engine_target *t, int curl_code, const char *ssh_said,
                           struct buf *out);

#endif
