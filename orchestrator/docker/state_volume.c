/*
 * state_volume.c - the store kept in a named volume of the engine, and
 * the project's lock as the existence of a holder container
 * (state_volume.h says the design; state/README.md when to use it).
 *
 * Everything goes through the Engine API: POST /images/create?fromSrc=-
 * (the holder image, an empty file system), POST /containers/create
 * (name conflict: 409, the lock held), GET and PUT
 * /containers/ID/archive?path=/state (the files), DELETE /containers/ID.
 * No container is ever started, so the image needs no program, and the
 * archive endpoints work on a remote engine, over ssh, and on a Swarm
 * manager alike.
 *
 * The holder is addressed by its ID once created, never again by its
 * name: a holder removed by `unlock --force` and created again by another
 * run is not this run's, and its uploads and removal fail (404) instead
 * of touching the other's.
 */
#include "state_volume.h"
#include "interrupt.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LABEL "dev.ttdeploy.state."
#define SUM_MAGIC "ttdeploy-state 1"

struct state_holder {
    struct engine *e; /* borrowed: the caller's, for downloads and uploads */
    char *project;
    struct state_holder_info self;
    int newest;                    /* the slot of the newest whole copy: 0 a, 1 b, -1 none */
    unsigned long long generation; /* of that copy */
    int has_key;                   /* the volume holds the audit key */
    struct engine *beat;           /* the heartbeat thread's own connection */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, lost;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void state_volume_name(const char *project, struct buf *out)
{
    buf_printf(out, "ttdeploy-state-%s", project);
}

/* The holder image, made from an empty tar when the engine has none. */
static int ensure_image(struct engine *e, struct tt_err *err)
{
    struct buf tar = {0};
    long st =
        engine_call(e, "GET", "/images/" STATE_VOLUME_IMAGE "/json", NULL, 0, NULL, NULL, err);
    if (st == 200)
        return 0;
    if (st < 0)
        return -1;
    state_tar_end(&tar);
    st = engine_call_bytes(e, "POST", "/images/create?fromSrc=-&repo=ttdeploy%2Fholder&tag=1",
                           "application/x-tar", tar.data, tar.len, 0, NULL, err);
    buf_release(&tar);
    return st >= 200 && st < 300 ? 0 : -1;
}

/* The create body of a holder (labels: who holds it) or of a reader (labels NULL). */
static json_t *container_body(const char *project, const json_t *labels, int read_only)
{
    struct buf vol = {0};
    state_volume_name(project, &vol);
    json_t *l = labels ? json_deep_copy(labels) : json_object();
    json_object_set_new(l, LABEL "project", json_string(project));
    json_t *b = json_pack("{s:s, s:[s], s:b, s:o, s:{s:[{s:s, s:s, s:s, s:b}], s:{s:s}}}", "Image",
                          STATE_VOLUME_IMAGE, "Cmd", "/nonexistent", "NetworkDisabled", 1, "Labels",
                          l, "HostConfig", "Mounts", "Type", "volume", "Source", vol.data, "Target",
                          "/state", "ReadOnly", read_only, "RestartPolicy", "Name", "no");
    buf_release(&vol);
    return b;
}

/*
 * Creates container name: 0 (*id filled), 1 when the name is taken (409),
 * -1 on error.  The image is made once when missing.
 */
static int create_container(struct engine *e, const char *name, json_t *body, char id[80],
                            struct tt_err *err)
{
    struct buf path = {0}, q = {0};
    json_t *resp = NULL;
    long st = -1;

    engine_urlencode(name, &q);
    buf_printf(&path, "/containers/create?name=%s", q.data);
    for (int attempt = 0; attempt < 2; attempt++) {
        st = engine_call(e, "POST", path.data, body, 0, &resp, NULL, err);
        if (st != 404 || attempt || ensure_image(e, err) < 0)
            break;
        json_decref(resp);
        resp = NULL;
    }
    if (st == 201)
        snprintf(id, 80, "%s", json_string_value(json_object_get(resp, "Id")));
    else if (st >= 0 && st != 409)
        tt_error(err, "creating container %s on the engine: HTTP %ld: %s", name, st,
                 json_string_value(json_object_get(resp, "message")));
    json_decref(resp);
    buf_release(&path);
    buf_release(&q);
    return st == 201 ? 0 : st == 409 ? 1 : -1;
}

/* Removes container id (never the volume); a container already gone is no error. */
static int remove_container(struct engine *e, const char *id, struct tt_err *err)
{
    struct buf path = {0};
    engine_pathf(&path, "/containers/%s", id);
    buf_adds(&path, "?force=1&v=0");
    long st = engine_call(e, "DELETE", path.data, NULL, 0, NULL, NULL, err);
    buf_release(&path);
    if (st >= 0 && st != 204 && st != 404)
        tt_error(err, "removing the state holder %s from the engine: HTTP %ld", id, st);
    return st == 204 || st == 404 ? 0 : -1;
}

/* GET the archive of path in container id into tar; 0, 1 when the container or path is gone. */
static int get_archive(struct engine *e, const char *id, const char *path, struct buf *tar,
                       struct tt_err *err)
{
    struct buf p = {0}, q = {0};
    engine_pathf(&p, "/containers/%s/archive", id);
    engine_urlencode(path, &q);
    buf_printf(&p, "?path=%s", q.data);
    long st = engine_call(e, "GET", p.data, NULL, 0, NULL, tar, err);
    if (st >= 0 && st != 200 && st != 404)
        tt_error(err, "reading %s from the state volume (container %.12s): HTTP %ld: %.200s", path,
                 id, st, tar->data ? tar->data : "");
    buf_release(&p);
    buf_release(&q);
    return st == 200 ? 0 : st == 404 ? 1 : -1;
}

/* PUT tar into /state of container id; 1 when the container is gone (the lock lost). */
static int put_archive(struct engine *e, const char *id, const struct buf *tar, struct tt_err *err)
{
    struct buf p = {0};
    engine_pathf(&p, "/containers/%s/archive", id);
    buf_adds(&p, "?path=%2Fstate");
    long st =
        engine_call_bytes(e, "PUT", p.data, "application/x-tar", tar->data, tar->len, 0, NULL, err);
    buf_release(&p);
    return st == 200 ? 0 : st == 404 ? 1 : -1;
}

/* ---- who holds the lock ----------------------------------------------- */

struct heartbeat_find {
    double at;
    char token[40];
};

static int heartbeat_file(void *ctx, const char *name, const char *data, size_t len)
{
    struct heartbeat_find *f = ctx;
    char text[128];
    const char *base = strrchr(name, '/');
    if (strcmp(base ? base + 1 : name, "heartbeat"))
        return 0;
    snprintf(text, sizeof(text), "%.*s", (int)(len < 127 ? len : 127), data);
    if (sscanf(text, "%lf %39s", &f->at, f->token) != 2)
        f->at = 0;
    return 0;
}

/* The holder's label dev.ttdeploy.state.NAME, or dflt. */
static const char *label(json_t *labels, const char *name, const char *dflt)
{
    char key[64];
    snprintf(key, sizeof(key), LABEL "%s", name);
    const char *v = json_string_value(json_object_get(labels, key));
    return v ? v : dflt;
}

/*
 * The holder of project's lock: 1 (*i filled), 0 when there is none, -1
 * on error.  Its heartbeat is the file's time when the file is its own
 * (the token matches), else the time it was created.
 */
static int holder_inspect(struct engine *e, const char *project, struct state_holder_info *i,
                          struct tt_err *err)
{
    struct buf name = {0}, path = {0}, tar = {0};
    json_t *resp = NULL;
    struct heartbeat_find hb = {0};

    memset(i, 0, sizeof(*i));
    state_volume_name(project, &name);
    engine_pathf(&path, "/containers/%s/json", name.data);
    long st = engine_call(e, "GET", path.data, NULL, 0, &resp, NULL, err);
    int rc = st == 200 ? 1 : st == 404 ? 0 : -1;
    if (st > 0 && rc < 0)
        tt_error(err, "inspecting the state holder %s: HTTP %ld", name.data, st);
    if (rc == 1) {
        json_t *l = json_object_get(json_object_get(resp, "Config"), "Labels");
        snprintf(i->id, sizeof(i->id), "%s", json_string_value(json_object_get(resp, "Id")));
        snprintf(i->host, sizeof(i->host), "%s", label(l, "host", "?"));
        snprintf(i->token, sizeof(i->token), "%s", label(l, "token", ""));
        i->pid = atol(label(l, "pid", "0"));
        snprintf(i->boot, sizeof(i->boot), "%s", label(l, "boot", ""));
        snprintf(i->pidns, sizeof(i->pidns), "%s", label(l, "pidns", ""));
        i->started = atof(label(l, "started", "0"));
        i->heartbeat = i->started;
        struct tt_err ignored = {0}; /* no heartbeat file yet: its start counts */
        if (get_archive(e, i->id, "/state/heartbeat", &tar, &ignored) == 0 &&
            state_tar_each(&tar, heartbeat_file, &hb, &ignored) == 0 &&
            !strcmp(hb.token, i->token) && hb.at > i->heartbeat)
            i->heartbeat = hb.at;
    }
    json_decref(resp);
    buf_release(&name);
    buf_release(&path);
    buf_release(&tar);
    return rc;
}

void state_volume_describe(const struct state_holder_info *i, const char *project, struct buf *out)
{
    char ts[32];
    time_t t = (time_t)i->started;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    buf_printf(out, "%s pid %ld since %s UTC, heartbeat %.0f s ago (holder container ", i->host,
               i->pid, ts, wall_now() - i->heartbeat);
    state_volume_name(project, out);
    buf_adds(out, ")");
}

/* This host's boot and this process's PID namespace ("" when unknown), as a holder's labels say. */
static void where_am_i(char boot[64], char pidns[64])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    boot[0] = '\0';
    if (f && fgets(boot, 64, f))
        boot[strcspn(boot, "\n")] = '\0';
    if (f)
        fclose(f);
    ssize_t n = readlink("/proc/self/ns/pid", pidns, 63);
    pidns[n > 0 ? n : 0] = '\0';
}

/*
 * Whether holder i is gone: its heartbeat is older than
 * STATE_VOLUME_STALE_S, or (so that `recover` right after a kill -9 need
 * not wait) it was made on this host, boot and PID namespace and its pid
 * is no process.  A reused pid only makes us wait for the heartbeat.
 */
static int holder_stale(const struct state_holder_info *i)
{
    char host[128], boot[64], pidns[64];
    if (wall_now() - i->heartbeat > STATE_VOLUME_STALE_S)
        return 1;
    where_am_i(boot, pidns);
    if (gethostname(host, sizeof(host)) < 0 || strcmp(host, i->host) || !boot[0] ||
        strcmp(boot, i->boot) || !pidns[0] || strcmp(pidns, i->pidns) || i->pid <= 0)
        return 0;
    return kill((pid_t)i->pid, 0) < 0 && errno == ESRCH;
}

/* ---- the heartbeat ------------------------------------------------------ */

static int write_heartbeat(struct engine *e, const struct state_holder_info *self,
                           struct tt_err *err)
{
    struct buf tar = {0};
    char text[96];
    double now = wall_now();
    int n = snprintf(text, sizeof(text), "%.3f %s\n", now, self->token);
    state_tar_add(&tar, "heartbeat", text, (size_t)n, now);
    state_tar_end(&tar);
    int rc = put_archive(e, self->id, &tar, err);
    buf_release(&tar);
    return rc;
}

/* Rewrites the heartbeat file until stopped; a holder found gone is the lock lost. */
static void *heartbeat_thread(void *arg)
{
    struct state_holder *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += STATE_VOLUME_HEARTBEAT_S;
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        struct tt_err e = {0}; /* a failed beat is tried again; the next run judges its age */
        int rc = write_heartbeat(h->beat, &h->self, &e);
        pthread_mutex_lock(&h->mu);
        if (rc == 1)
            h->lost = 1;
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int state_volume_lost(struct state_holder *h)
{
    pthread_mutex_lock(&h->mu);
    int lost = h->lost;
    pthread_mutex_unlock(&h->mu);
    return lost;
}

/* ---- taking and releasing the lock --------------------------------------- */

/* This process as a holder's labels, and its identity into self. */
static json_t *holder_labels(struct state_holder_info *self)
{
    unsigned char raw[16];
    char num[64];
    json_t *l = json_object();

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        for (size_t i = 0; i < sizeof(raw); i++) /* no entropy: time and pid still differ */
            raw[i] = (unsigned char)(wall_now() * 1e6 + getpid() * 31 + i);
    for (size_t i = 0; i < sizeof(raw); i++)
        sprintf(self->token + 2 * i, "%02x", raw[i]);
    if (gethostname(self->host, sizeof(self->host)) < 0)
        snprintf(self->host, sizeof(self->host), "?");
    self->host[sizeof(self->host) - 1] = '\0';
    self->pid = (long)getpid();
    self->started = self->heartbeat = wall_now();
    json_object_set_new(l, LABEL "host", json_string(self->host));
    snprintf(num, sizeof(num), "%ld", self->pid);
    json_object_set_new(l, LABEL "pid", json_string(num));
    json_object_set_new(l, LABEL "token", json_string(self->token));
    where_am_i(self->boot, self->pidns);
    json_object_set_new(l, LABEL "boot", json_string(self->boot));
    json_object_set_new(l, LABEL "pidns", json_string(self->pidns));
    snprintf(num, sizeof(num), "%.3f", self->started);
    json_object_set_new(l, LABEL "started", json_string(num));
    return l;
}

/* Starts h's heartbeat on a connection of its own (the engine is not shared across threads). */
static int start_heartbeat(struct state_holder *h, struct tt_err *err)
{
    if (write_heartbeat(h->e, &h->self, err) != 0)
        return err->msg[0] ? -1 : tt_error(err, "the state holder vanished as it was created");
    if (engine_open_same(h->e, &h->beat, err) < 0)
        return -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, heartbeat_thread, h) != 0)
        return tt_error(err, "cannot start the state holder's heartbeat thread");
    h->thread_started = 1;
    return 0;
}

/* One attempt: 0 taken, 1 held by a live holder (*other), -1 error.  A stale one is removed. */
static int lock_once(struct state_holder *h, json_t *body, struct state_holder_info *other,
                     struct tt_err *err)
{
    struct buf name = {0};
    state_volume_name(h->project, &name);
    int rc = create_container(h->e, name.data, body, h->self.id, err);
    for (int tries = 0; rc == 1 && tries < 3; tries++) {
        int held = holder_inspect(h->e, h->project, other, err);
        if (held < 0) {
            rc = -1;
        } else if (held == 1 && !holder_stale(other)) {
            break; /* a live holder */
        } else if (held == 0 || remove_container(h->e, other->id, err) == 0) {
            rc = create_container(h->e, name.data, body, h->self.id, err);
            continue;
        } else {
            rc = -1;
        }
    }
    buf_release(&name);
    return rc;
}

int state_volume_lock(struct engine *e, const char *project, double timeout_s,
                      struct state_holder **out, struct buf *who, struct tt_err *err)
{
    struct state_holder *h = xcalloc(1, sizeof(*h));
    struct state_holder_info other = {0};
    double deadline = wall_now() + timeout_s;
    int rc;

    *out = NULL;
    h->e = e;
    h->project = xstrdup(project);
    h->newest = -1;
    json_t *body = container_body(project, NULL, 0);
    json_t *labels = holder_labels(&h->self);
    json_object_update(json_object_get(body, "Labels"), labels);
    json_decref(labels);
    while ((rc = lock_once(h, body, &other, err)) == 1 && wall_now() < deadline &&
           !interrupt_signal())
        usleep(500 * 1000); /* the daemon has no event for "this name is free": poll */
    json_decref(body);
    if (rc == 0 && start_heartbeat(h, err) < 0) {
        struct tt_err ignored = {0};
        state_volume_unlock(h, &ignored);
        return -1;
    }
    if (rc == 1)
        state_volume_describe(&other, project, who);
    if (rc != 0) {
        free(h->project);
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int state_volume_unlock(struct state_holder *h, struct tt_err *err)
{
    if (!h)
        return 0;
    if (h->thread_started) {
        pthread_mutex_lock(&h->mu);
        h->stop = 1;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
    }
    engine_close(h->beat);
    int rc = remove_container(h->e, h->self.id, err);
    free(h->project);
    free(h);
    return rc;
}

int state_volume_force_unlock(struct engine *e, const char *project, int *had, struct buf *who,
                              struct tt_err *err)
{
    struct state_holder_info i;
    *had = holder_inspect(e, project, &i, err);
    if (*had < 0)
        return -1;
    if (*had)
        state_volume_describe(&i, project, who);
    return *had ? remove_container(e, i.id, err) : 0;
}

int state_volume_peek(struct engine *e, const char *project, struct state_volume_peek *out,
                      struct tt_err *err)
{
    struct buf vol = {0}, path = {0};
    memset(out, 0, sizeof(*out));
    state_volume_name(project, &vol);
    engine_pathf(&path, "/volumes/%s", vol.data);
    long st = engine_call(e, "GET", path.data, NULL, 0, NULL, NULL, err);
    if (st > 0 && st != 200 && st != 404)
        tt_error(err, "inspecting the state volume %s: HTTP %ld", vol.data, st);
    int rc = st == 200 || st == 404 ? 0 : -1;
    out->volume = st == 200;
    if (rc == 0 && (out->held = holder_inspect(e, project, &out->holder, err)) < 0)
        rc = -1;
    out->stale = rc == 0 && out->held && holder_stale(&out->holder);
    buf_release(&vol);
    buf_release(&path);
    return rc;
}

/* ---- the store's two slots ------------------------------------------------ */

/* What a download finds in the volume's files. */
struct slots {
    const char *db[2];
    size_t db_len[2];
    unsigned long long gen[2];
    char sha[2][65];
    long long size[2];
    const char *key;
    size_t key_len;
};

static int slot_of(const char *base, const char *ext)
{
    size_t n = strlen(ext);
    if (strncmp(base, "state-", 6) || (base[6] != 'a' && base[6] != 'b') ||
        strncmp(base + 7, ext, n + 1))
        return -1;
    return base[6] - 'a';
}

static int slots_file(void *ctx, const char *name, const char *data, size_t len)
{
    struct slots *s = ctx;
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    int i;
    char text[256];

    if ((i = slot_of(base, ".db")) >= 0) {
        s->db[i] = data;
        s->db_len[i] = len;
    } else if ((i = slot_of(base, ".sum")) >= 0) {
        snprintf(text, sizeof(text), "%.*s", (int)(len < 255 ? len : 255), data);
        if (sscanf(text, SUM_MAGIC "\ngeneration %llu\nsize %lld\nsha256 %64s", &s->gen[i],
                   &s->size[i], s->sha[i]) != 3)
            s->gen[i] = 0;
    } else if (!strcmp(base, "state.key")) {
        s->key = data;
        s->key_len = len;
    }
    return 0;
}

/* The slot holding the newest whole copy, or -1: a copy whose sum does not match is spoilt. */
static int newest_slot(const struct slots *s)
{
    int best = -1;
    for (int i = 0; i < 2; i++) {
        char sha[65];
        if (!s->db[i] || !s->gen[i] || s->size[i] != (long long)s->db_len[i])
            continue;
        sha256_hex(s->db[i], s->db_len[i], sha);
        if (strcmp(sha, s->sha[i]))
            continue;
        if (best < 0 || s->gen[i] > s->gen[best])
            best = i;
    }
    return best;
}

/* Writes data into dir/name, created 0600 (never over an existing file). */
static int write_private(const char *dir, const char *name, const char *data, size_t len,
                         struct tt_err *err)
{
    struct buf path = {0};
    buf_printf(&path, "%s/%s", dir, name);
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int rc = fd >= 0 && done == len && fsync(fd) == 0 ? 0 : -1;
    if (rc < 0)
        tt_error(err, "cannot write %s: %s", path.data, strerror(errno));
    if (fd >= 0)
        close(fd);
    buf_release(&path);
    return rc;
}

/*
 * Reads /state through container id into dir: *newest, *gen, *has_key
 * say what the volume held; *found whether it held a whole store.
 */
static int fetch_into(struct engine *e, const char *id, const char *dir, int *found, int *newest,
                      unsigned long long *gen, int *has_key, struct tt_err *err)
{
    struct buf tar = {0};
    struct slots s = {0};
    int rc = get_archive(e, id, "/state", &tar, err);
    if (rc == 1)
        rc = tt_error(err, "the state container %.12s is gone: the lock was taken away", id);
    if (rc == 0)
        rc = state_tar_each(&tar, slots_file, &s, err);
    int best = rc == 0 ? newest_slot(&s) : -1;
    *found = best >= 0;
    *newest = best;
    *gen = best >= 0 ? s.gen[best] : 0;
    *has_key = s.key != NULL;
    if (rc == 0 && best < 0 && (s.db[0] || s.db[1]))
        rc = tt_error(err, "the state volume holds a store, but no whole copy of it (both "
                           "slots spoilt): inspect the volume's state-a.db and state-b.db");
    if (rc == 0 && best >= 0 && s.db_len[best] > (size_t)STATE_VOLUME_MAX_BYTES)
        rc = tt_error(err, "the store on the engine is %zu bytes, over the limit of %ld",
                      s.db_len[best], STATE_VOLUME_MAX_BYTES);
    if (rc == 0 && best >= 0)
        rc = write_private(dir, "state.db", s.db[best], s.db_len[best], err);
    if (rc == 0 && s.key)
        rc = write_private(dir, "state.key", s.key, s.key_len, err);
    buf_release(&tar);
    return rc;
}

int state_volume_download(struct state_holder *h, const char *dir, int *found, struct tt_err *err)
{
    return fetch_into(h->e, h->self.id, dir, found, &h->newest, &h->generation, &h->has_key, err);
}

/* Reads the store copy at path into out: its size at open, at most STATE_VOLUME_MAX_BYTES. */
static int read_copy(const char *path, struct buf *out, struct tt_err *err)
{
    struct stat sb;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        tt_error(err, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (sb.st_size > STATE_VOLUME_MAX_BYTES) {
        close(fd);
        return tt_error(err, "the store %s is %lld bytes, over the limit of %ld for --state engine",
                        path, (long long)sb.st_size, STATE_VOLUME_MAX_BYTES);
    }
    buf_grow(out, (size_t)sb.st_size);
    ssize_t got = 0;
    while (out->len < (size_t)sb.st_size &&
           ((got = read(fd, out->data + out->len, (size_t)sb.st_size - out->len)) > 0 ||
            (got < 0 && errno == EINTR)))
        out->len += got > 0 ? (size_t)got : 0;
    close(fd);
    if (out->len != (size_t)sb.st_size)
        return tt_error(err, "cannot read %s: %s", path, got < 0 ? strerror(errno) : "cut short");
    return 0;
}

int state_volume_upload(struct state_holder *h, const char *db, const char *key, struct tt_err *err)
{
    struct buf data = {0}, keydata = {0}, tar = {0}, sum = {0};
    char sha[65], name[16];
    int slot = h->newest == 0 ? 1 : 0;
    double now = wall_now();

    if (state_volume_lost(h))
        return tt_error(err,
                        "the lock on %s was taken away (its holder container is gone): "
                        "the store on the engine was not updated",
                        h->project);
    if (read_copy(db, &data, err) < 0)
        return -1;
    int with_key = key && !h->has_key && access(key, F_OK) == 0;
    if (with_key && read_copy(key, &keydata, err) < 0) {
        buf_release(&data);
        return -1;
    }
    sha256_hex(data.data, data.len, sha);
    buf_printf(&sum, SUM_MAGIC "\ngeneration %llu\nsize %zu\nsha256 %s\n", h->generation + 1,
               data.len, sha);
    snprintf(name, sizeof(name), "state-%c.db", 'a' + slot);
    state_tar_add(&tar, name, data.data, data.len, now); /* the copy, then its sum */
    snprintf(name, sizeof(name), "state-%c.sum", 'a' + slot);
    state_tar_add(&tar, name, sum.data, sum.len, now);
    if (with_key)
        state_tar_add(&tar, "state.key", keydata.data, keydata.len, now);
    state_tar_end(&tar);
    int rc = put_archive(h->e, h->self.id, &tar, err);
    if (rc == 1)
        rc = tt_error(err,
                      "the lock on %s was taken away (its holder container is gone): the "
                      "store on the engine was not updated",
                      h->project);
    if (rc == 0) {
        h->newest = slot;
        h->generation++;
        h->has_key |= with_key;
    }
    buf_release(&data);
    buf_release(&keydata);
    buf_release(&tar);
    buf_release(&sum);
    return rc;
}

/* ---- read commands ------------------------------------------------------ */

int state_volume_read(struct engine *e, const char *project, const char *dir, struct tt_err *err)
{
    struct buf vol = {0}, path = {0}, name = {0};
    unsigned char raw[6];
    char id[80];
    int found = 0, newest, has_key, rc;
    unsigned long long gen;

    state_volume_name(project, &vol);
    engine_pathf(&path, "/volumes/%s", vol.data);
    long st = engine_call(e, "GET", path.data, NULL, 0, NULL, NULL, err);
    if (st == 404)
        tt_error(err,
                 "the engine at %s has no store for project %s (no volume %s): deploy it with "
                 "--state engine first, or name the project with -p",
                 engine_host(e), project, vol.data);
    rc = st == 200 ? 0 : -1;
    if (rc == 0 && getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        memset(raw, (int)getpid(), sizeof(raw));
    buf_printf(&name, "%s-read-%02x%02x%02x%02x%02x%02x", vol.data, raw[0], raw[1], raw[2], raw[3],
               raw[4], raw[5]);
    json_t *body = container_body(project, NULL, 1);
    json_object_set_new(json_object_get(body, "Labels"), LABEL "reader", json_string("1"));
    if (rc == 0 && (rc = create_container(e, name.data, body, id, err)) == 1)
        rc = tt_error(err, "a reader container named %s exists already", name.data);
    if (rc == 0) {
        rc = fetch_into(e, id, dir, &found, &newest, &gen, &has_key, err);
        struct tt_err ignored = {0}; /* a reader left behind holds nothing */
        remove_container(e, id, &ignored);
    }
    if (rc == 0 && !found)
        rc =
            tt_error(err, "the state volume %s on %s holds no store yet", vol.data, engine_host(e));
    json_decref(body);
    buf_release(&vol);
    buf_release(&path);
    buf_release(&name);
    return rc;
}

/* ---- the private copy ------------------------------------------------------ */

int state_volume_tempdir(char dir[4096], struct tt_err *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, 4096, "%s/ttdeploy-state-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return tt_error(err, "cannot make a private directory for the store (%s): %s", dir,
                        strerror(errno));
    return 0;
}

void state_volume_tempdir_remove(const char *dir)
{
    static const char *const files[] = {"state.db",         "state.db-wal", "state.db-shm",
                                        "state.db-journal", "state.key",    "upload.db"};
    char path[4200];
    if (!dir || !dir[0])
        return;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}
