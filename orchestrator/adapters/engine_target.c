/*
 * engine_target.c - which Docker engine, and how libcurl reaches it (see
 * engine_target.h for the rules: the docker CLI's precedence, its context
 * store, its TLS variables).
 *
 * Resolution is pure reading: the choice, the environment and, for a
 * context, two files.  Nothing is connected to here except by
 * engine_target_check_socket(), which explains a unix socket that does
 * not answer.  Everything that is said about a target (engine_describe,
 * messages) is built from its parsed parts, so a URL's credentials, were
 * there any, never reach the output.
 */
#include "engine_target.h"
#include "engine_int.h"
#include "sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A context's meta.json is a few hundred bytes; this bounds a file gone wrong. */
#define CONTEXT_META_MAX (1024 * 1024)

void engine_target_release(struct engine_target *t)
{
    free(t->host);
    free(t->context);
    free(t->path);
    free(t->hostname);
    free(t->user);
    free(t->ca);
    free(t->cert);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

/* $DOCKER_CONFIG, else ~/.docker: where the docker CLI keeps its configuration. */
static void config_dir(struct buf *out)
{
    const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
    if (dir && *dir)
        buf_adds(out, dir);
    else
        buf_printf(out, "%s/.docker", home && *home ? home : "");
}

void engine_target_contexts_dir(struct buf *out)
{
    config_dir(out);
    buf_adds(out, "/contexts");
}

static int bad_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return !*s || *end || v < 1 || v > 65535;
}

/* Splits "name[:port]" (an IPv6 address in brackets) into t->hostname and t->port. */
static int split_host_port(struct engine_target *t, const char *hp, const char *whole,
                           struct tt_err *err)
{
    const char *colon = hp[0] == '[' ? strstr(hp, "]:") : strrchr(hp, ':');
    size_t n = colon ? (size_t)(colon - hp) + (hp[0] == '[') : strlen(hp);
    const char *port = colon ? colon + 1 + (hp[0] == '[') : NULL;

    if (n == 0)
        return tt_error(err, "Docker host \"%s\" (from %s) names no host", whole, t->source);
    if (port && bad_port(port))
        return tt_error(
            err, "Docker host \"%s\" (from %s): the port \"%s\" is not a number from 1 to 65535",
            whole, t->source, port);
    t->hostname = xstrndup(hp, n);
    t->port = port ? atoi(port) : 0;
    return 0;
}

/* Parses a host URL into t (transport, path or host, port, user); TLS is decided after. */
static int parse_host(struct engine_target *t, const char *host, struct tt_err *err)
{
    struct buf rest = {0};
    int rc = 0;

    if (!strncmp(host, "unix://", 7)) {
        if (!host[7])
            return tt_error(err, "Docker host \"%s\" (from %s) names no socket", host, t->source);
        t->transport = ENGINE_UNIX;
        t->path = xstrdup(host + 7);
        t->host = xstrdup(host);
        return 0;
    }
    if (strncmp(host, "tcp://", 6) && strncmp(host, "ssh://", 6))
        return tt_error(err,
                        "Docker host \"%s\" (from %s) is not supported: use unix:///path, "
                        "tcp://host:port (TLS) or ssh://[user@]host[:port]",
                        host, t->source);
    t->transport = host[0] == 't' ? ENGINE_TCP : ENGINE_SSH;
    buf_adds(&rest, host + 6);
    while (rest.len && rest.data[rest.len - 1] == '/')
        rest.data[--rest.len] = '\0';
    char *at = strrchr(rest.data ? rest.data : "", '@');
    const char *hp = at ? at + 1 : (rest.data ? rest.data : "");
    if (strchr(hp, '/') || strchr(hp, '?'))
        rc = tt_error(err, "Docker host \"%s\" (from %s): a path after the host is not supported",
                      host, t->source);
    else if (at && t->transport == ENGINE_TCP)
        rc = tt_error(err,
                      "Docker host (from %s): tcp:// takes no user name; TLS certificates say "
                      "who you are",
                      t->source);
    else if (at && memchr(rest.data, ':', (size_t)(at - rest.data)))
        rc = tt_error(err,
                      "Docker host (from %s): a password in an ssh:// URL is not supported: "
                      "use a key (ssh-agent or ~/.ssh/config)",
                      t->source);
    else if (at && at == rest.data)
        rc = tt_error(err, "Docker host \"%s\" (from %s): empty user name", host, t->source);
    else
        rc = split_host_port(t, hp, host, err);
    if (rc == 0 && at)
        t->user = xstrndup(rest.data, (size_t)(at - rest.data));
    if (rc == 0) /* as given (it holds no password: refused above) until made canonical */
        t->host = xstrdup(host);
    buf_release(&rest);
    return rc;
}

/* Sets *path to dir/name when that file exists; with required, its absence is an error. */
static int tls_file(const char *dir, const char *name, int required, char **path,
                    const struct engine_target *t, struct tt_err *err)
{
    struct buf p = {0};
    buf_printf(&p, "%s/%s", dir, name);
    if (access(p.data, R_OK) == 0) {
        *path = buf_detach(&p);
        return 0;
    }
    int saved = errno;
    if (required)
        tt_error(err,
                 "TLS for %s (from %s): cannot read %s: %s: put ca.pem, cert.pem and key.pem "
                 "there, or set DOCKER_CERT_PATH to the folder that holds them",
                 t->host, t->source, p.data, strerror(saved));
    buf_release(&p);
    return required ? -1 : 0;
}

/* TLS from the environment, as the docker CLI reads it, for a tcp:// host not from a context. */
static int tls_from_env(struct engine_target *t, struct tt_err *err)
{
    const char *verify = getenv("DOCKER_TLS_VERIFY"), *tls = getenv("DOCKER_TLS");
    const char *certs = getenv("DOCKER_CERT_PATH");
    struct buf dir = {0};
    int rc = 0;

    t->tls = (verify && *verify) || (tls && *tls);
    if (!t->tls)
        return 0;
    if (certs && *certs)
        buf_adds(&dir, certs);
    else
        config_dir(&dir);
    if (tls_file(dir.data, "ca.pem", 1, &t->ca, t, err) < 0 ||
        tls_file(dir.data, "cert.pem", 1, &t->cert, t, err) < 0 ||
        tls_file(dir.data, "key.pem", 1, &t->key, t, err) < 0)
        rc = -1;
    buf_release(&dir);
    return rc;
}

/*
 * Reads context name's endpoint: *host (the caller frees) and, for
 * tcp://, the TLS files the context holds and its SkipTLSVerify.
 */
static int read_context(struct engine_target *t, const char *name, char **host, struct tt_err *err)
{
    char sha[SHA256_HEX_LEN + 1];
    struct buf dir = {0}, meta = {0}, tls = {0};
    json_error_t jerr;
    json_t *j = NULL;
    struct stat st;
    int rc = -1;

    sha256_hex(name, strlen(name), sha);
    engine_target_contexts_dir(&dir);
    buf_printf(&meta, "%s/meta/%s/meta.json", dir.data, sha);
    buf_printf(&tls, "%s/tls/%s/docker", dir.data, sha);
    if (stat(meta.data, &st) < 0) {
        tt_error(err,
                 "Docker context \"%s\" (from %s) not found: no %s (contexts are read from %s, "
                 "or $DOCKER_CONFIG/contexts; `docker context ls` lists them)",
                 name, t->source, meta.data, dir.data);
        goto out;
    }
    if (st.st_size > CONTEXT_META_MAX) {
        tt_error(err, "%s: Docker context \"%s\" is over %d bytes: not reading it", meta.data, name,
                 CONTEXT_META_MAX);
        goto out;
    }
    j = json_load_file(meta.data, 0, &jerr);
    json_t *ep = json_object_get(json_object_get(j, "Endpoints"), "docker");
    const char *h = json_string_value(json_object_get(ep, "Host"));
    if (!j) {
        tt_error(err, "%s:%d: Docker context \"%s\": %s", meta.data, jerr.line, name, jerr.text);
    } else if (!h || !*h) {
        tt_error(err, "%s: Docker context \"%s\" has no Endpoints.docker.Host", meta.data, name);
    } else {
        *host = xstrdup(h);
        t->tls_skip_verify = json_is_true(json_object_get(ep, "SkipTLSVerify"));
        if (!strncmp(h, "tcp://", 6)) {
            tls_file(tls.data, "ca.pem", 0, &t->ca, t, err);
            tls_file(tls.data, "cert.pem", 0, &t->cert, t, err);
            tls_file(tls.data, "key.pem", 0, &t->key, t, err);
            t->tls = t->ca || t->cert || t->tls_skip_verify;
        }
        rc = 0;
    }
out:
    json_decref(j);
    buf_release(&dir);
    buf_release(&meta);
    buf_release(&tls);
    return rc;
}

/* Where the choice comes from: sets t->source and *host or *context (borrowed). */
static int pick(const struct engine_choice *c, struct engine_target *t, const char **host,
                const char **context, struct tt_err *err)
{
    const char *env_host = getenv("DOCKER_HOST"), *env_context = getenv("DOCKER_CONTEXT");

    *host = *context = NULL;
    if (c->host && c->context)
        return tt_error(err, "--host and --context both given: use one of them");
    if (c->host) {
        *host = c->host, t->source = "--host";
    } else if (c->context) {
        *context = c->context, t->source = "--context";
    } else if (env_host && *env_host) { /* the docker CLI's order: DOCKER_HOST first */
        *host = env_host, t->source = "DOCKER_HOST";
    } else if (env_context && *env_context) {
        *context = env_context, t->source = "DOCKER_CONTEXT";
    } else if (c->plan_host && c->plan_context) {
        return tt_error(err, "the plan's engine block gives both host and context: keep one");
    } else if (c->plan_host) {
        *host = c->plan_host, t->source = "the plan's engine.host";
    } else if (c->plan_context) {
        *context = c->plan_context, t->source = "the plan's engine.context";
    } else {
        *host = ENGINE_DEFAULT_HOST, t->source = "default";
    }
    return 0;
}

int engine_target_resolve(const struct engine_choice *c, struct engine_target *t,
                          struct tt_err *err)
{
    const char *host, *context;
    char *context_host = NULL;
    int rc = -1;

    memset(t, 0, sizeof(*t));
    t->insecure = c->insecure;
    if (pick(c, t, &host, &context, err) < 0)
        return -1;
    if (context && !*context)
        return tt_error(err, "an empty Docker context name (from %s)", t->source);
    if (context) {
        t->context = xstrdup(context);
        if (!strcmp(context, "default"))
            host = ENGINE_DEFAULT_HOST;
        else if (read_context(t, context, &context_host, err) < 0)
            return -1;
        else
            host = context_host;
    }
    if (parse_host(t, host, err) < 0)
        goto out;
    if (t->transport == ENGINE_TCP && !context && tls_from_env(t, err) < 0)
        goto out;
    if (t->transport == ENGINE_TCP) {
        struct buf h = {0};
        if (!t->port)
            t->port = t->tls ? 2376 : 2375; /* the docker CLI's defaults */
        buf_printf(&h, "tcp://%s:%d", t->hostname, t->port);
        free(t->host);
        t->host = buf_detach(&h);
        if (!t->tls && !t->insecure) {
            tt_error(err,
                     "Docker host %s (from %s) is plain TCP without TLS: whoever can reach it "
                     "can drive the engine.  Set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, "
                     "cert.pem, key.pem), use a context with TLS, or pass --insecure to accept it",
                     t->host, t->source);
            goto out;
        }
    }
    if (t->transport == ENGINE_SSH) {
        struct buf h = {0};
        buf_printf(&h, "ssh://%s%s%s", t->user ? t->user : "", t->user ? "@" : "", t->hostname);
        if (t->port)
            buf_printf(&h, ":%d", t->port);
        free(t->host);
        t->host = buf_detach(&h);
    }
    rc = 0;
out:
    free(context_host);
    return rc;
}

void engine_target_describe(const struct engine_target *t, struct buf *out)
{
    buf_printf(out, "%s (", t->host);
    if (t->transport == ENGINE_TCP)
        buf_adds(out, !t->tls              ? "plain TCP, "
                      : t->tls_skip_verify ? "TLS not verified, "
                                           : "TLS, ");
    if (t->context)
        buf_printf(out, "context %s, ", t->context);
    if (!strcmp(t->source, "default"))
        buf_adds(out, "default)");
    else
        buf_printf(out, "from %s)", t->source);
}

int engine_target_warning(const struct engine_target *t, struct buf *out)
{
    if (t->transport != ENGINE_TCP)
        return 0;
    if (!t->tls) {
        buf_printf(out,
                   "warning: the Docker engine at %s is reached over plain TCP without TLS "
                   "(--insecure): anyone on the network path can read and drive it",
                   t->host);
        return 1;
    }
    if (t->tls_skip_verify) {
        buf_printf(out,
                   "warning: the certificate of the Docker engine at %s is not verified (context "
                   "%s has SkipTLSVerify): another machine could pose as it",
                   t->host, t->context ? t->context : "");
        return 1;
    }
    return 0;
}

int engine_target_check_socket(const struct engine_target *t, struct tt_err *err)
{
    const char *path = t->path, *host = t->host;
    struct stat st;
    struct sockaddr_un sa = {0};
    int fd, rc;

    if (stat(path, &st) < 0)
        return tt_error(err,
                        "cannot reach the Docker engine at %s: %s does not exist: is dockerd "
                        "running? Set DOCKER_HOST or --host to its socket",
                        host, path);
    if (strlen(path) >= sizeof(sa.sun_path))
        return tt_error(err, "Docker socket path %s is too long", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return tt_error(err, "cannot create a socket: %s", strerror(errno));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int saved = errno;
    close(fd);
    if (rc == 0)
        return 0;
    if (saved == EACCES || saved == EPERM)
        return tt_error(err,
                        "permission denied on the Docker socket %s: run as root or add your "
                        "user to the group that owns it",
                        path);
    return tt_error(err,
                    "cannot reach the Docker engine at %s: %s: is dockerd running? Set "
                    "DOCKER_HOST or --host to its socket",
                    host, strerror(saved));
}

void engine_target_base_url(const struct engine_target *t, struct buf *out)
{
    if (t->transport == ENGINE_TCP)
        buf_printf(out, "%s://%s:%d", t->tls ? "https" : "http", t->hostname, t->port);
    else if (t->transport == ENGINE_SSH)
        buf_adds(out, "http://docker"); /* over the unix socket ssh is behind */
    else
        buf_adds(out, "http://docker");
}

void engine_target_setup(const struct engine_target *t, struct engine_ssh *ssh, void *curl)
{
    if (t->transport == ENGINE_UNIX) {
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, t->path);
    } else if (t->transport == ENGINE_SSH) {
        engine_ssh_setup(ssh, curl);
    } else if (t->tls) {
        if (t->ca)
            curl_easy_setopt(curl, CURLOPT_CAINFO, t->ca);
        if (t->cert)
            curl_easy_setopt(curl, CURLOPT_SSLCERT, t->cert);
        if (t->key)
            curl_easy_setopt(curl, CURLOPT_SSLKEY, t->key);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, t->tls_skip_verify ? 0L : 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, t->tls_skip_verify ? 0L : 2L);
    }
}

/* What to check when a TLS connection fails with code. */
static void explain_tls(const struct engine_target *t, int code, struct buf *out)
{
    const char *ca = t->ca ? t->ca : "the system's CA store";
    const char *cert = t->cert ? t->cert : "(none)";
    switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
        buf_printf(out,
                   ": the engine's certificate was refused: is it signed by the CA in %s, and "
                   "does it name %s? Check DOCKER_CERT_PATH (or the context's TLS files)",
                   ca, t->hostname);
        break;
    case CURLE_SSL_CERTPROBLEM:
        buf_printf(out,
                   ": the client certificate %s or its key %s cannot be used: are they a "
                   "PEM pair?",
                   cert, t->key ? t->key : "(none)");
        break;
    case CURLE_SSL_CACERT_BADFILE:
        buf_printf(out, ": cannot use the CA file %s: is it PEM?", ca);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        buf_printf(out,
                   ": the TLS handshake failed: does dockerd listen on %s:%d with TLS "
                   "(--tlsverify), and trust the CA that signed the client certificate %s?",
                   t->hostname, t->port, cert);
        break;
    }
}

void engine_target_explain(const struct engine_target *t, int code, const char *ssh_said,
                           struct buf *out)
{
    if (code == CURLE_OPERATION_TIMEDOUT && t->transport == ENGINE_TCP)
        buf_printf(out, ": is dockerd listening on %s:%d? Is a firewall in the way?", t->hostname,
                   t->port);
    else if ((code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST) &&
             t->transport == ENGINE_TCP)
        buf_printf(out, ": is dockerd listening on %s:%d (dockerd -H tcp://...)?", t->hostname,
                   t->port);
    else if (t->transport == ENGINE_TCP && t->tls)
        explain_tls(t, code, out);
    else if (t->transport == ENGINE_TCP && (code == CURLE_GOT_NOTHING || code == CURLE_RECV_ERROR))
        buf_adds(out, ": does the engine expect TLS? Then set DOCKER_TLS_VERIFY=1 and "
                      "DOCKER_CERT_PATH");
    if (t->transport != ENGINE_SSH)
        return;
    if (ssh_said && *ssh_said)
        buf_printf(out, "; ssh said: %s", ssh_said);
    buf_printf(out, "; check that `ssh%s%s", t->user ? " -l " : "", t->user ? t->user : "");
    if (t->port)
        buf_printf(out, " -p %d", t->port);
    buf_printf(out,
               " %s docker system dial-stdio` works from this shell: the host key in "
               "known_hosts, a key ssh may use (agent or ~/.ssh/config), docker on the remote "
               "PATH",
               t->hostname);
}
