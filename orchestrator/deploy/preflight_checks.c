/*
 * preflight_checks.c - the checks of the preflight phase and of `ttdeploy
 * check`: what must hold before a deployment changes anything.
 *
 *   engine      the daemon answers /version with an API ttdeploy speaks
 *   files       the plan and compose files loaded (run_load did it)
 *   images      each image of the release is on the engine, or pullable
 *   ports       each published host port is free, or held by this project
 *   database    the database answers with the plan's url; migration lock free
 *   backup-dir  the backup directory is writable and has room for a dump
 *   store       the store opens and the project's lock is free (or ours);
 *               outside a deployment with --state engine, the engine's
 *               volume and lock holder are looked at instead
 *   git-tag     the tag (or commit) release.git names exists
 *
 * Each check only looks: it creates, stops and writes nothing (the one
 * file the backup-dir check creates to prove the directory writable is
 * unlinked at once).  A failure says what is wrong (err) and what to do
 * (fix).  phase_preflight.c runs them as steps, or for `check`.
 */
#include "run.h"
#include "container_spec.h"
#include "gitref.h"
#include "monotime.h"
#include "pgdb.h"
#include "sha256.h"
#include "state_volume.h"
#include "swarm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Above pg_database_size × 1.5, what the backup directory must have free. */
#define PREFLIGHT_BACKUP_MARGIN_BYTES (64LL << 20)
/* A published range longer than this is checked on its first ports only. */
#define PREFLIGHT_MAX_RANGE 1024

/* "1.41" < "1.43"?  Dotted versions compared numerically. */
static int api_cmp(const char *x, const char *y)
{
    int xm = atoi(x), ym = atoi(y);
    const char *xd = strchr(x, '.'), *yd = strchr(y, '.');
    int xn = xd ? atoi(xd + 1) : 0, yn = yd ? atoi(yd + 1) : 0;
    return xm != ym ? (xm < ym ? -1 : 1) : (xn > yn) - (xn < yn);
}

static enum action_result check_engine(struct run *a, struct preflight *p, struct buf *detail,
                                       struct buf *fix, struct tt_err *err)
{
    json_t *v = NULL;
    if (!a->engine) {
        tt_error(err, "%s", p->engine_err.msg);
        buf_adds(fix, "start the Docker daemon, or point --host, DOCKER_HOST or the plan's "
                      "engine.host at one that runs");
        return ACTION_FAILED;
    }
    if (engine_call_ok(a->engine, "GET", "/version", NULL, 0, &v, err) < 0) {
        buf_adds(fix, "check that the Docker daemon runs and answers");
        return ACTION_FAILED;
    }
    const char *api = json_string_value(json_object_get(v, "ApiVersion"));
    const char *ver = json_string_value(json_object_get(v, "Version"));
    buf_printf(detail, "%s: Docker %s, API %s (ttdeploy needs %s or newer, speaks %s)",
               engine_describe(a->engine), ver ? ver : "?", api ? api : "?", ENGINE_MIN_API,
               engine_api_version(a->engine));
    enum action_result r = ACTION_DONE;
    if (!api || api_cmp(api, ENGINE_MIN_API) < 0) {
        tt_error(err, "the Docker engine speaks API %s; ttdeploy needs %s or newer",
                 api ? api : "(unknown)", ENGINE_MIN_API);
        buf_adds(fix, "upgrade the Docker engine (API 1.41 is Docker 20.10)");
        r = ACTION_FAILED;
    }
    json_decref(v);
    return r;
}

/* Appends "PATH sha256 HEX" of one file. */
static void file_digest(const char *path, struct buf *detail)
{
    struct sha256_ctx *c = sha256_new();
    struct tt_err e = {0};
    char hex[SHA256_HEX_LEN + 1];
    int rc = sha256_update_file(c, path, &e);
    sha256_finish(c, hex);
    buf_printf(detail, "%s%s sha256 %s", detail->len ? "; " : "", path, rc < 0 ? "?" : hex);
}

static enum action_result check_files(struct run *a, struct preflight *p, struct buf *detail,
                                      struct buf *fix, struct tt_err *err)
{
    (void)p;
    buf_printf(detail, "%s sha256 %s", a->plan->path, a->plan->sha256);
    for (size_t i = 0; i < a->project->files.n; i++)
        file_digest(a->project->files.v[i], detail);
    if (a->plan->notify_unset) { /* apply refuses to begin without it */
        tt_error(err, "%s", a->plan->notify_unset);
        buf_adds(fix, "set the variable in the environment that runs apply");
        return ACTION_FAILED;
    }
    return ACTION_DONE;
}

/* The skip every check that needs the engine says when it does not answer. */
static enum action_result no_engine(struct buf *detail)
{
    buf_adds(detail, "not checked: the engine does not answer (see the engine check)");
    return ACTION_SKIPPED;
}

/* ID and RepoDigests of image ref on the engine: 1 found, 0 absent, -1 error. */
static int image_local(struct run *a, const char *ref, struct buf *detail, struct tt_err *err)
{
    struct buf path = {0};
    json_t *img = NULL;
    engine_pathf(&path, "/images/%s/json", ref);
    long st = engine_call(a->engine, "GET", path.data, NULL, 0, &img, NULL, err);
    buf_release(&path);
    if (st == 404) {
        json_decref(img);
        return 0;
    }
    if (st != 200) {
        json_decref(img);
        if (st > 0)
            tt_error(err, "the engine answered HTTP %ld for image %s", st, ref);
        return -1;
    }
    const char *id = json_string_value(json_object_get(img, "Id"));
    buf_printf(detail, "%s%s: %s", detail->len ? "; " : "", ref, id ? id : "?");
    json_t *digests = json_object_get(img, "RepoDigests"), *d;
    size_t i;
    json_array_foreach(digests, i, d)
        buf_printf(detail, "%s%s", i ? ", " : " (", json_string_value(d));
    if (json_array_size(digests))
        buf_addc(detail, ')');
    json_decref(img);
    return 1;
}

/* Whether the registry of ref knows it (GET /distribution/ref/json): 1 yes, 0 no. */
static int image_pullable(struct run *a, const char *ref, struct buf *detail, struct tt_err *why)
{
    struct buf path = {0};
    json_t *dist = NULL;
    engine_pathf(&path, "/distribution/%s/json", ref);
    long st = engine_call(a->engine, "GET", path.data, NULL, 0, &dist, NULL, why);
    buf_release(&path);
    if (st != 200) {
        if (st > 0) {
            const char *m = json_string_value(json_object_get(dist, "message"));
            tt_error(why, "the registry: %s", m ? m : "no answer");
        }
        json_decref(dist);
        return 0;
    }
    const char *digest =
        json_string_value(json_object_get(json_object_get(dist, "Descriptor"), "digest"));
    buf_printf(detail, "%s%s: not on the engine, pullable as %s", detail->len ? "; " : "", ref,
               digest ? digest : "?");
    json_decref(dist);
    return 1;
}

static enum action_result check_images(struct run *a, struct preflight *p, struct buf *detail,
                                       struct buf *fix, struct tt_err *err)
{
    (void)p;
    if (!a->engine)
        return no_engine(detail);
    struct strv seen = {0};
    enum action_result r = ACTION_DONE;
    for (size_t i = 0; i < a->project->nservices && r == ACTION_DONE; i++) {
        const struct compose_service *s = a->project->services[i];
        if (!s->image || strv_contains(&seen, s->image))
            continue;
        strv_push(&seen, s->image);
        int rc = image_local(a, s->image, detail, err);
        struct tt_err why = {0};
        if (rc == 0 && !(rc = image_pullable(a, s->image, detail, &why))) {
            tt_error(err, "image %s (service %s) is neither on the engine nor pullable (%s)",
                     s->image, s->name, why.msg[0] ? why.msg : "no registry answered");
            buf_printf(fix, "build it or push it (or fix the image of %s in %s)", s->name,
                       a->project->files.v[0]);
            r = ACTION_FAILED;
        } else if (rc < 0) {
            buf_adds(fix, "check that the Docker daemon answers");
            r = ACTION_FAILED;
        }
    }
    if (r == ACTION_DONE && !seen.n) {
        buf_adds(detail, "no service names an image");
        r = ACTION_SKIPPED;
    }
    strv_clear(&seen);
    return r;
}

/* ---- ports ---------------------------------------------------------------- */

/* The compose files, for a message: "compose.yml" or "a.yml, b.yml". */
static void compose_files(const struct run *a, struct buf *out)
{
    for (size_t i = 0; i < a->project->files.n; i++)
        buf_printf(out, "%s%s", i ? ", " : "", a->project->files.v[i]);
}

/* Whether host addresses x and y (NULL or "": all) can clash. */
static int addr_overlap(const char *x, const char *y)
{
    int xall = !x || !*x || !strcmp(x, "0.0.0.0") || !strcmp(x, "::");
    int yall = !y || !*y || !strcmp(y, "0.0.0.0") || !strcmp(y, "::");
    return xall || yall || !strcmp(x, y);
}

/* The project of container c (a compose project's, or a swarm stack's task), or NULL. */
static const char *container_project(json_t *c)
{
    json_t *labels = json_object_get(c, "Labels");
    const char *pr = json_string_value(json_object_get(labels, LABEL_PROJECT));
    return pr ? pr : json_string_value(json_object_get(labels, SWARM_LABEL_NAMESPACE));
}

/*
 * The container that publishes port/proto on an address clashing with ip,
 * among the engine's (containers: GET /containers/json?all=1), or NULL;
 * *own says whether it is one of this project's.
 */
static json_t *port_holder(json_t *containers, const char *ip, long port, const char *proto,
                           const char *project, int *own)
{
    size_t i, j;
    json_t *c, *pt;
    json_array_foreach(containers, i, c)
    {
        json_array_foreach(json_object_get(c, "Ports"), j, pt)
        {
            const char *type = json_string_value(json_object_get(pt, "Type"));
            if (json_integer_value(json_object_get(pt, "PublicPort")) != port ||
                strcmp(type ? type : "tcp", proto) ||
                !addr_overlap(json_string_value(json_object_get(pt, "IP")), ip))
                continue;
            const char *pr = container_project(c);
            *own = pr && !strcmp(pr, project);
            return c;
        }
    }
    return NULL;
}

/* Binds ip:port (proto) on this host and closes at once: 1 free, 0 in use, -1 not testable. */
static int host_port_free(const char *ip, long port, const char *proto, char *why, size_t whylen)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int family;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (ip && *ip && strchr(ip, ':')) {
        family = AF_INET6;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, ip, &v6->sin6_addr) != 1)
            return snprintf(why, whylen, "address %s not understood", ip), -1;
        len = sizeof(*v6);
    } else {
        family = AF_INET;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        if (ip && *ip && inet_pton(AF_INET, ip, &v4->sin_addr) != 1)
            return snprintf(why, whylen, "address %s not understood", ip), -1;
        len = sizeof(*v4);
    }
    int fd = socket(family, (!strcmp(proto, "udp") ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return snprintf(why, whylen, "socket: %s", strerror(errno)), -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, len), e = errno;
    close(fd);
    if (rc == 0)
        return 1;
    if (e == EADDRINUSE)
        return 0;
    snprintf(why, whylen, "bind: %s", strerror(e));
    return -1;
}

/* Checks one published port; ACTION_FAILED with err and fix set when another holds it. */
static enum action_result check_one_port(struct run *a, json_t *containers, int local,
                                         const struct compose_service *s,
                                         const struct compose_port *cp, long port,
                                         struct buf *detail, struct buf *fix, struct tt_err *err)
{
    const char *proto = cp->protocol ? cp->protocol : "tcp";
    const char *ip = cp->host_ip;
    int own = 0;
    json_t *c = port_holder(containers, ip, port, proto, a->project->name, &own);
    if (c && !own) {
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        const char *pr = container_project(c);
        tt_error(err, "port %ld/%s (service %s) is published by container %s%s%s%s", port, proto,
                 s->name, name ? name + (*name == '/') : "?", pr ? " of project " : "",
                 pr ? pr : "", pr ? "" : " (of no compose project or stack)");
        buf_printf(fix, "stop that container, or change the published port of %s in ", s->name);
        compose_files(a, fix);
        return ACTION_FAILED;
    }
    if (c) {
        buf_printf(detail, "%s%ld/%s held by this project's %s", detail->len ? "; " : "", port,
                   proto, s->name);
        return ACTION_DONE;
    }
    if (!local) {
        buf_printf(detail, "%s%ld/%s free on the engine", detail->len ? "; " : "", port, proto);
        return ACTION_DONE;
    }
    char why[200] = "";
    int free_ = host_port_free(ip, port, proto, why, sizeof(why));
    if (free_ == 0) {
        tt_error(err, "port %ld/%s (service %s) is in use on this host by another process", port,
                 proto, s->name);
        buf_printf(fix, "stop it, or change the published port of %s in ", s->name);
        compose_files(a, fix);
        return ACTION_FAILED;
    }
    buf_printf(detail, "%s%ld/%s %s", detail->len ? "; " : "", port, proto,
               free_ > 0 ? "free" : why);
    return ACTION_DONE;
}

static enum action_result check_ports(struct run *a, struct preflight *p, struct buf *detail,
                                      struct buf *fix, struct tt_err *err)
{
    (void)p;
    if (!a->engine)
        return no_engine(detail);
    json_t *containers = NULL;
    if (engine_call_ok(a->engine, "GET", "/containers/json?all=1", NULL, 0, &containers, err) < 0) {
        buf_adds(fix, "check that the Docker daemon answers");
        return ACTION_FAILED;
    }
    /* Swarm's routing mesh, not a container, holds a service's published port: no host probe. */
    int swarm = run_swarm_mode(a);
    int local = !swarm && !strncmp(engine_host(a->engine), "unix://", 7), any = 0;
    enum action_result r = ACTION_DONE;
    for (size_t i = 0; i < a->project->nservices && r == ACTION_DONE; i++) {
        const struct compose_service *s = a->project->services[i];
        for (size_t j = 0; j < s->nports && r == ACTION_DONE; j++) {
            const struct compose_port *cp = &s->ports[j];
            if (!cp->published)
                continue;
            char *end;
            long lo = strtol(cp->published, &end, 10), hi = lo;
            if (*end == '-')
                hi = strtol(end + 1, &end, 10);
            if (lo <= 0 || hi < lo || hi > 65535)
                continue; /* compose has checked it; nothing to bind */
            if (hi - lo >= PREFLIGHT_MAX_RANGE)
                hi = lo + PREFLIGHT_MAX_RANGE - 1;
            for (long port = lo; port <= hi && r == ACTION_DONE; port++, any = 1)
                r = check_one_port(a, containers, local, s, cp, port, detail, fix, err);
        }
    }
    json_decref(containers);
    if (r == ACTION_DONE && !any) {
        buf_adds(detail, "no service publishes a host port");
        return ACTION_SKIPPED;
    }
    if (r == ACTION_DONE && swarm)
        buf_adds(detail, "; swarm mode: whether another process on the nodes holds a port was "
                         "not checked");
    else if (r == ACTION_DONE && !local)
        buf_printf(detail,
                   "; the engine is remote (%s): whether another process on its host holds "
                   "a port was not checked",
                   engine_describe(a->engine));
    return r;
}

/* ---- database, backup directory ------------------------------------------ */

static enum action_result check_database(struct run *a, struct preflight *p, struct buf *detail,
                                         struct buf *fix, struct tt_err *err)
{
    const struct plan *pl = a->plan;
    if (!pl->db_url) {
        buf_adds(detail, "no database: in the plan");
        return ACTION_SKIPPED;
    }
    if (!a->engine)
        return no_engine(detail);
    if (pl->db_service) { /* the project's own database: not there before a first deployment */
        char *id = run_container_id(a, pl->db_service, err);
        if (!id && err->msg[0]) {
            buf_adds(fix, "check that the engine answers");
            return ACTION_FAILED;
        }
        if (!id) {
            buf_printf(detail,
                       "will run after infra up: the database service %s has no running "
                       "container yet (a first deployment)",
                       pl->db_service);
            return ACTION_SKIPPED;
        }
        free(id);
    }
    char *server = pgdb_url_server(pl->db_url), *db = pgdb_url_db(pl->db_url);
    enum action_result r = ACTION_FAILED;
    struct pgdb *c =
        pgdb_connect(pl->db_url, monotime_now() + pl->timeouts.connect_ms / 1000.0, err);
    char *size = NULL, *who = NULL;
    if (!c) {
        buf_printf(fix,
                   "check database.url in %s (host, port, user, password, database) and that %s "
                   "accepts connections",
                   pl->path, pl->db_service ? pl->db_service : "the database server");
        goto out;
    }
    if (pgdb_value(c, "SELECT pg_database_size(current_database())", &size, err) < 0) {
        buf_printf(fix, "grant the user of database.url in %s the right to read its database",
                   pl->path);
        goto out;
    }
    p->db_bytes = size ? atoll(size) : -1;
    int held = pgdb_migration_lock_holder(c, &who, err);
    if (held < 0) {
        buf_adds(fix, "check that the database answers queries");
        goto out;
    }
    if (held) {
        tt_error(err, "the migration lock on database %s is held by %s", db ? db : "?", who);
        buf_adds(fix, "wait for the other migration to finish, or end that session");
        goto out;
    }
    buf_printf(detail, "database %s on %s answers, %.1f MiB, migration lock free", db ? db : "?",
               server ? server : "?", (double)p->db_bytes / (1 << 20));
    r = ACTION_DONE;
out:
    pgdb_close(c);
    free(size);
    free(who);
    free(server);
    free(db);
    return r;
}

/* The nearest existing directory at or above dir (caller frees), or NULL. */
static char *existing_ancestor(const char *dir)
{
    char *d = xstrdup(dir);
    struct stat st;
    while (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) {
            strcpy(d, slash ? "/" : ".");
            break;
        }
        *slash = '\0';
    }
    return d;
}

/* 0 when dir can hold a new file: one made (O_EXCL) and unlinked at once. */
static int dir_writable(const char *dir, int exists, struct tt_err *err)
{
    if (!exists) /* the backup phase makes it: its parent must let it */
        return access(dir, W_OK | X_OK) == 0
                   ? 0
                   : tt_error(err, "%s (where the backup directory would be made): %s", dir,
                              strerror(errno));
    struct buf path = {0};
    buf_printf(&path, "%s/.ttdeploy-preflight-%ld", dir, (long)getpid());
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = 0;
    if (fd < 0) {
        rc = tt_error(err, "backup directory %s is not writable: %s", dir, strerror(errno));
    } else {
        close(fd);
        unlink(path.data);
    }
    buf_release(&path);
    return rc;
}

static enum action_result check_backup_dir(struct run *a, struct preflight *p, struct buf *detail,
                                           struct buf *fix, struct tt_err *err)
{
    const struct plan *pl = a->plan;
    if (!pl->backup.present) {
        buf_adds(detail, "no backup: in the plan");
        return ACTION_SKIPPED;
    }
    char *dir = plan_resolve(pl, pl->backup.dir), *at = existing_ancestor(dir);
    enum action_result r = ACTION_FAILED;
    struct statvfs vfs;
    if (dir_writable(at, !strcmp(at, dir), err) < 0) {
        buf_printf(fix, "make %s writable by this user, or set backup.dir in %s", at, pl->path);
        goto out;
    }
    if (statvfs(at, &vfs) < 0) {
        tt_error(err, "statvfs %s: %s", at, strerror(errno));
        buf_adds(fix, "check the file system of the backup directory");
        goto out;
    }
    long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
    buf_printf(detail, "%s%s writable, %.1f MiB free", dir, strcmp(at, dir) ? " (to be made)" : "",
               (double)avail / (1 << 20));
    if (p->db_bytes < 0) {
        buf_adds(detail, "; room not estimated: the database size is unknown (not running yet)");
        r = ACTION_DONE;
        goto out;
    }
    long long need = p->db_bytes + p->db_bytes / 2 + PREFLIGHT_BACKUP_MARGIN_BYTES;
    buf_printf(detail, ", needs %.1f MiB (1.5 x the database's %.1f MiB + 64 MiB)",
               (double)need / (1 << 20), (double)p->db_bytes / (1 << 20));
    if (avail < need) {
        tt_error(err, "backup directory %s has %.1f MiB free, a backup needs about %.1f MiB", dir,
                 (double)avail / (1 << 20), (double)need / (1 << 20));
        buf_printf(fix, "free space there, or point backup.dir in %s at a larger file system",
                   pl->path);
        goto out;
    }
    r = ACTION_DONE;
out:
    free(dir);
    free(at);
    return r;
}

/* ---- store, git ------------------------------------------------------------ */

/*
 * The store kept on the engine (--state engine), outside a deployment:
 * its volume and its lock holder, looked at with GET requests.  Reading
 * the store itself would take a reader container, so whether a
 * deployment was left unfinished is not checked; a stale holder, which a
 * run killed while deploying leaves, is named with what to do.
 */
static enum action_result check_store_engine(struct run *a, struct buf *detail, struct buf *fix,
                                             struct tt_err *err)
{
    const char *project = a->project->name;
    struct state_volume_peek pk;
    if (!a->engine)
        return no_engine(detail);
    if (state_volume_peek(a->engine, project, &pk, err) < 0) {
        buf_adds(fix, "check that the Docker daemon answers");
        return ACTION_FAILED;
    }
    if (pk.held) {
        struct buf who = {0};
        state_volume_describe(&pk.holder, project, &who);
        tt_error(err, "project %s is locked on the engine by %s%s", project, who.data,
                 pk.stale ? " (stale: its run is gone)" : "");
        if (pk.stale)
            buf_printf(fix,
                       "run `ttdeploy recover --state engine %s`: it takes the lock over and "
                       "finishes the deployment that run left, if any",
                       a->o->plan_path);
        else
            buf_printf(fix,
                       "wait for that deployment, or if it is gone, run `ttdeploy unlock --force "
                       "--state engine -p %s`",
                       project);
        buf_release(&who);
        return ACTION_FAILED;
    }
    buf_adds(detail, "on the engine: volume ");
    state_volume_name(project, detail);
    buf_printf(detail,
               " %s; the lock on %s is free (no holder container); whether a deployment was "
               "left unfinished was not checked (reading the volume takes a container)",
               pk.volume ? "holds the store" : "not there yet (the first apply makes it)", project);
    return ACTION_DONE;
}

static enum action_result check_store(struct run *a, struct preflight *p, struct buf *detail,
                                      struct buf *fix, struct tt_err *err)
{
    if (p->store_on_engine)
        return check_store_engine(a, detail, fix, err);
    if (p->store_absent) {
        buf_printf(detail, "no store yet at %s: the first apply makes it; the lock on %s is free",
                   p->store_absent, a->project->name);
        return ACTION_DONE;
    }
    if (!a->store) {
        tt_error(err, "%s", p->store_err.msg);
        buf_adds(fix, "fix the store's path (--state) or its permissions");
        return ACTION_FAILED;
    }
    if (!p->check_only) {
        buf_printf(detail, "writable; the lock on %s is held by this deployment (%lld)",
                   a->project->name, a->id);
        return ACTION_DONE;
    }
    struct store_lock_owner h = {0};
    int held = store_lock_holder(a->store, a->project->name, &h, err);
    if (held < 0) {
        buf_adds(fix, "check the store file and its permissions");
        return ACTION_FAILED;
    }
    if (held) {
        struct buf who = {0};
        store_lock_owner_describe(&h, &who);
        tt_error(err, "project %s is locked by %s", a->project->name, who.data);
        buf_adds(fix, "wait for that deployment, or if it is gone, run `ttdeploy unlock --force`");
        buf_release(&who);
        return ACTION_FAILED;
    }
    json_t *u = store_unfinished(a->store, a->project->name, err);
    if (!u && err->msg[0]) {
        buf_adds(fix, "check the store file and its permissions");
        return ACTION_FAILED;
    }
    if (u) {
        tt_error(err, "deployment %" JSON_INTEGER_FORMAT " of %s was interrupted in state %s",
                 json_integer_value(json_object_get(u, "id")), a->project->name,
                 json_string_value(json_object_get(u, "state")));
        buf_printf(fix, "run `ttdeploy recover %s` first", a->o->plan_path);
        json_decref(u);
        return ACTION_FAILED;
    }
    buf_printf(detail, "writable, schema %d; the lock on %s is free",
               store_schema_version(a->store), a->project->name);
    return ACTION_DONE;
}

static enum action_result check_git_tag(struct run *a, struct preflight *p, struct buf *detail,
                                        struct buf *fix, struct tt_err *err)
{
    (void)p;
    const struct plan *pl = a->plan;
    if (!pl->git_repo) {
        buf_adds(detail, "release.git is not set");
        return ACTION_SKIPPED;
    }
    const char *rev = pl->git_tag ? pl->git_tag : pl->git_commit;
    if (!rev) {
        buf_adds(detail, "release.git names no tag or commit");
        return ACTION_SKIPPED;
    }
    char *repo = plan_resolve(pl, pl->git_repo), commit[41];
    int rc = gitref_resolve(repo, rev, commit, err);
    if (rc < 0)
        buf_printf(fix, "create and push %s %s in %s, or fix release.git in %s",
                   pl->git_tag ? "tag" : "commit", rev, repo, pl->path);
    else
        buf_printf(detail, "%s %s is commit %s in %s", pl->git_tag ? "tag" : "commit", rev, commit,
                   repo);
    free(repo);
    return rc < 0 ? ACTION_FAILED : ACTION_DONE;
}

const struct preflight_check preflight_checks[] = {
    {"engine", "the Docker engine answers with an API version ttdeploy speaks", check_engine},
    {"files", "the plan and compose files load", check_files},
    {"images", "each image of the release is on the engine or pullable", check_images},
    {"ports", "each published host port is free or held by this project", check_ports},
    {"database", "the database answers with the plan's url and the migration lock is free",
     check_database},
    {"backup-dir", "the backup directory is writable and has room for a backup", check_backup_dir},
    {"store", "the store is writable and the project's lock free", check_store},
    {"git-tag", "the git tag release.git names exists", check_git_tag},
};
const size_t preflight_ncheck = sizeof(preflight_checks) / sizeof(preflight_checks[0]);
