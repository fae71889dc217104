/*
 * engine.c - libcurl to the Docker daemon: its unix socket, tcp:// with
 * TLS, or ssh (engine_target.c says which and sets each handle up;
 * engine_ssh.c carries ssh://).
 *
 * Every request, blocking or not, is an easy handle; background ones sit
 * on one multi handle with the /events stream.  The daemon answers JSON
 * (or a raw stream for logs and exec); responses are kept whole in a
 * struct buf up to ENGINE_RESPONSE_MAX (past it the request fails: a
 * truncated answer is never parsed), except a pull's progress, whose
 * last bytes are kept, the events stream, which is cut into lines as it
 * arrives and parsed one event per line (engine_events.c), and the
 * streams whose bytes go to a sink as they arrive (engine_stream(),
 * engine_req_stream_to(); exec: engine_exec.c).
 *
 * A remote engine's handles share one connection cache (a libcurl share
 * handle): a TLS handshake or an ssh process is paid once per connection,
 * not once per request.  A unix socket costs nothing to open, and keeps a
 * connection per request as before.
 */
#include "engine.h"
#include "engine_int.h"
#include "engine_target.h"
#include "interrupt.h"
#include "monotime.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct engine_req {
    struct engine *e;
    CURL *curl;
    struct curl_slist *headers;
    char *body_text;
    struct buf resp;
    long status;
    char curl_err[CURL_ERROR_SIZE];
    int curl_code; /* of a transfer that failed */
    json_t *json;
    int json_parsed;
    char *error; /* formatted on demand */
    void *tag;
    int is_events;
    char *what;       /* "POST /containers/x/start", for messages */
    long deadline_ms; /* CURLOPT_TIMEOUT_MS */
    int by_request;   /* the deadline is timeouts.request's */
    int signalled;    /* a stop signal had arrived before it started */
    int interrupted;  /* ended by a stop signal */
    int timed_out;    /* ended by its deadline */
    double stall;     /* seconds without a byte that end it (0: none) */
    double last_byte; /* monotonic seconds */
    int stalled;      /* ended by silence */
    int too_big;      /* ended by an answer over ENGINE_RESPONSE_MAX */
    int (*sink)(void *ctx, const char *data, size_t len); /* where a 2xx body goes */
    void *sink_ctx;
    int sink_stopped;        /* the sink refused the stream */
    int keeps_tail;          /* a pull's progress: its last bytes are kept */
    struct engine_tail tail; /* of resp, when keeps_tail */
    struct engine_req *next; /* in the done queue */
};

struct engine {
    char *host;
    struct engine_target target;
    struct engine_ssh *ssh;   /* ssh:// only */
    CURLSH *share;            /* the connection cache of a remote engine */
    char *base_url;           /* "http://docker", "https://host:port", ... */
    char *describe, *warning; /* engine_describe(), engine_warning() */
    char version[16];
    CURLM *multi;
    size_t inflight;
    struct engine_req *done_head, *done_tail;
    struct engine_req *events;
    struct engine_events *parser; /* of the events stream */
    long stall_ms;                /* a stream with no bytes for this long fails */
    long connect_ms;              /* connecting to the socket */
    long request_ms; /* a request that is not a stream nor one of the daemon's own waits */
};

static int curl_ready;
static struct engine_timeouts defaults = {ENGINE_CONNECT_DEFAULT_MS, ENGINE_REQUEST_DEFAULT_MS,
                                          ENGINE_STALL_DEFAULT_MS};

void engine_set_default_timeouts(const struct engine_timeouts *t)
{
    defaults.connect_ms = t->connect_ms > 0 ? t->connect_ms : ENGINE_CONNECT_DEFAULT_MS;
    defaults.request_ms = t->request_ms > 0 ? t->request_ms : ENGINE_REQUEST_DEFAULT_MS;
    defaults.stall_ms = t->stall_ms > 0 ? t->stall_ms : ENGINE_STALL_DEFAULT_MS;
}

/* Whether path (its query cut off) ends with suffix. */
static int path_ends(const char *path, const char *suffix)
{
    size_t n = strcspn(path, "?"), k = strlen(suffix);
    return n > k && !strncmp(path + n - k, suffix, k);
}

/*
 * Whether the daemon answers method path only when something it waits
 * for is over: a stop or restart (the container's grace period), a wait
 * for a container to exit, an exec's run, a pull or a build.  Those keep
 * the caller's bound, which knows how long that may be; every other
 * request is the daemon's own bookkeeping and ends at timeouts.request.
 */
static int waits_by_design(const char *method, const char *path)
{
    if (strcmp(method, "POST"))
        return 0;
    if (!strncmp(path, "/exec/", 6))
        return path_ends(path, "/start");
    return !strncmp(path, "/images/create", 14) || !strncmp(path, "/build", 6) ||
           path_ends(path, "/stop") || path_ends(path, "/restart") || path_ends(path, "/wait");
}

/*
 * The grace a stop or restart gives the container (its ?t= in seconds),
 * in ms; -1 when path is neither or names none.  Docker answers once the
 * grace is over, so the request's deadline is that plus timeouts.request.
 */
static long stop_grace_ms(const char *path)
{
    const char *q = strchr(path, '?'), *t;
    size_t n = q ? (size_t)(q - path) : strlen(path);
    if (!q || n < 5 ||
        (strncmp(path + n - 5, "/stop", 5) && (n < 8 || strncmp(path + n - 8, "/restart", 8))))
        return -1;
    for (t = q + 1; t; t = strchr(t, '&') ? strchr(t, '&') + 1 : NULL)
        if (!strncmp(t, "t=", 2)) {
            char *end;
            long sec = strtol(t + 2, &end, 10);
            return (*end == '\0' || *end == '&') && sec >= 0 && sec < 86400 ? sec * 1000 : -1;
        }
    return -1;
}

/* A pull or a build reports progress as it goes: silence for the stall limit ends it. */
static int reports_progress(const char *path)
{
    return !strncmp(path, "/images/create", 14) || !strncmp(path, "/build", 6);
}

/* Ends a transfer that was under way when SIGINT or SIGTERM arrived (libcurl asks about once a
 * second). */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct engine_req *r = userdata;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (r->stall > 0 && monotime_now() - r->last_byte >= r->stall) {
        r->stalled = 1;
        return 1;
    }
    if (r->signalled || r->is_events || !interrupt_signal())
        return 0;
    r->interrupted = 1;
    return 1;
}

/* Whether the answer so far is a 2xx one (its bytes are the stream, not an error message). */
static int answer_ok(struct engine_req *r)
{
    long code = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
    return code >= 200 && code <= 299;
}

/* A piece of the answer: to the events parser, to the sink, or kept (within its bound). */
static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
    struct engine_req *r = userdata;
    size_t len = size * n;

    r->last_byte = monotime_now();
    if (r->is_events) {
        engine_events_feed(r->e->parser, ptr, len);
        return len;
    }
    if (r->sink && answer_ok(r)) {
        if (r->sink(r->sink_ctx, ptr, len) < 0) {
            r->sink_stopped = 1;
            return 0; /* makes libcurl stop with a write error */
        }
        return len;
    }
    if (r->keeps_tail && answer_ok(r)) {
        engine_tail_add(&r->tail, ptr, len);
        return len;
    }
    if (len > (size_t)ENGINE_RESPONSE_MAX - r->resp.len) {
        r->too_big = 1;
        return 0;
    }
    buf_add(&r->resp, ptr, len);
    return len;
}

static struct engine_req *req_new(struct engine *e, const char *method, const char *path,
                                  const json_t *body, long timeout_ms, void *tag)
{
    struct engine_req *r = xcalloc(1, sizeof(*r));
    struct buf url = {0};

    r->e = e;
    r->tag = tag;
    r->status = -1;
    r->curl = curl_easy_init();
    if (!r->curl) {
        fputs("ttdeploy: cannot initialise libcurl\n", stderr);
        abort();
    }
    if (e->version[0])
        buf_printf(&url, "%s/v%s%s", e->base_url, e->version, path);
    else
        buf_printf(&url, "%s%s", e->base_url, path);
    curl_easy_setopt(r->curl, CURLOPT_URL, url.data);
    engine_target_setup(&e->target, e->ssh, r->curl);
    if (e->share)
        curl_easy_setopt(r->curl, CURLOPT_SHARE, e->share);
    curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_PRIVATE, r);
    r->what = xstrdup(method);
    r->what = xrealloc(r->what, strlen(method) + strlen(path) + 2);
    sprintf(r->what + strlen(method), " %s", path);
    /* A deadline for every request: the caller's when shorter, or for one of the daemon's waits. */
    r->deadline_ms = timeout_ms;
    long grace_ms = stop_grace_ms(path);
    if (grace_ms >= 0 && (timeout_ms <= 0 || grace_ms + e->request_ms < timeout_ms)) {
        r->by_request = 1; /* the grace it was given, then timeouts.request for the daemon */
        r->deadline_ms = grace_ms + e->request_ms;
    } else if (!waits_by_design(method, path) || timeout_ms <= 0) {
        r->by_request = timeout_ms <= 0 || timeout_ms > e->request_ms;
        r->deadline_ms = r->by_request ? e->request_ms : timeout_ms;
    }
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, r->deadline_ms);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms);
    r->signalled = interrupt_signal() != 0;
    r->stall = reports_progress(path) ? e->stall_ms / 1000.0 : 0;
    r->keeps_tail = reports_progress(path);
    engine_tail_init(&r->tail, &r->resp);
    r->last_byte = monotime_now();
    curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
    if (body) {
        r->body_text = json_dumps(body, JSON_COMPACT);
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->body_text);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, "");
    }
    r->headers = curl_slist_append(r->headers, "Expect:");
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    buf_release(&url);
    return r;
}

static void req_finish(struct engine_req *r, CURLcode rc)
{
    if (r->keeps_tail)
        engine_tail_end(&r->tail);
    if (rc == CURLE_OK)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
    else {
        r->status = -1;
        r->curl_code = rc;
        r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        if (!r->curl_err[0])
            snprintf(r->curl_err, sizeof(r->curl_err), "%s", curl_easy_strerror(rc));
    }
}

void engine_req_free(struct engine_req *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    free(r->body_text);
    buf_release(&r->resp);
    json_decref(r->json);
    free(r->error);
    free(r->what);
    free(r);
}

void engine_req_cancel(struct engine *e, struct engine_req *r)
{
    struct engine_req **pp;

    if (!r)
        return;
    for (pp = &e->done_head; *pp; pp = &(*pp)->next) {
        if (*pp == r) { /* finished but not yet collected */
            *pp = r->next;
            if (e->done_tail == r) {
                e->done_tail = NULL;
                for (struct engine_req *q = e->done_head; q; q = q->next)
                    e->done_tail = q;
            }
            engine_req_free(r);
            return;
        }
    }
    curl_multi_remove_handle(e->multi, r->curl);
    e->inflight--;
    engine_req_free(r);
}

void *engine_req_tag(const struct engine_req *r)
{
    return r->tag;
}

long engine_req_status(const struct engine_req *r)
{
    return r->status;
}

const struct buf *engine_req_body(const struct engine_req *r)
{
    return &r->resp;
}

json_t *engine_req_json(struct engine_req *r)
{
    if (!r->json_parsed) {
        r->json_parsed = 1;
        if (r->resp.len)
            r->json = json_loadb(r->resp.data, r->resp.len, 0, NULL);
    }
    return r->json;
}

const char *engine_req_error(struct engine_req *r)
{
    struct buf b = {0};

    if (r->error)
        return r->error;
    if (r->too_big) {
        buf_printf(&b,
                   "%s: the Docker engine at %s answered more than %ld MiB (the limit for one "
                   "answer): not reading it",
                   r->what, r->e->host, ENGINE_RESPONSE_MAX >> 20);
    } else if (r->interrupted) {
        buf_printf(&b, "%s to the Docker daemon at %s: interrupted", r->what, r->e->host);
    } else if (r->stalled) {
        buf_printf(&b,
                   "the Docker daemon at %s sent nothing for %g s (timeouts.stall) on %s: is it "
                   "frozen?",
                   r->e->host, r->stall, r->what);
    } else if (r->timed_out) {
        buf_printf(&b, "the Docker daemon at %s did not answer %s within %g s%s: is it frozen?",
                   r->e->host, r->what, r->deadline_ms / 1000.0,
                   r->by_request ? " (timeouts.request)" : "");
    } else if (r->status < 0) {
        buf_printf(&b, "cannot talk to the Docker engine at %s (%s): %s", r->e->describe, r->what,
                   r->curl_err);
        engine_target_explain(&r->e->target, r->curl_code, engine_ssh_said(r->e->ssh), &b);
    } else {
        json_t *j = engine_req_json(r);
        const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
        if (msg)
            buf_printf(&b, "%s", msg);
        else
            buf_printf(&b, "HTTP %ld: %.*s", r->status,
                       (int)(r->resp.len > 300 ? 300 : r->resp.len),
                       r->resp.data ? r->resp.data : "");
    }
    r->error = buf_detach(&b);
    return r->error;
}

/* "1.41" < "1.43"? Compares dotted versions numerically. */
static int version_cmp(const char *a, const char *b)
{
    int amaj = atoi(a), bmaj = atoi(b);
    const char *ad = strchr(a, '.'), *bd = strchr(b, '.');
    int amin = ad ? atoi(ad + 1) : 0, bmin = bd ? atoi(bd + 1) : 0;
    if (amaj != bmaj)
        return amaj < bmaj ? -1 : 1;
    return amin < bmin ? -1 : amin > bmin;
}

#define ENGINE_MAX_API "1.43"

/* Sets e up for its target: the URL, what it is called, ssh, the shared connection cache. */
static int engine_prepare(struct engine *e, struct tt_err *err)
{
    struct engine_target *t = &e->target;
    struct buf b = {0};

    e->host = xstrdup(t->host);
    engine_target_base_url(t, &b);
    e->base_url = buf_detach(&b);
    engine_target_describe(t, &b);
    e->describe = buf_detach(&b);
    if (engine_target_warning(t, &b))
        e->warning = buf_detach(&b);
    buf_release(&b);
    if (t->transport == ENGINE_UNIX)
        return engine_target_check_socket(t, err);
    e->share = curl_share_init();
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (t->transport == ENGINE_SSH) {
        e->ssh = engine_ssh_new(t->user, t->hostname, t->port, e->connect_ms, err);
        if (!e->ssh)
            return -1;
    }
    return 0;
}

int engine_open(const char *host, struct engine **out, struct tt_err *err)
{
    struct engine_choice c = {.host = host && *host ? host : NULL};
    return engine_open_choice(&c, out, err);
}

int engine_open_choice(const struct engine_choice *c, struct engine **out, struct tt_err *err)
{
    struct engine *e;
    json_t *v = NULL;

    *out = NULL;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    e = xcalloc(1, sizeof(*e));
    e->multi = curl_multi_init();
    e->parser = engine_events_new();
    e->stall_ms = defaults.stall_ms;
    e->connect_ms = defaults.connect_ms;
    e->request_ms = defaults.request_ms;
    if (engine_target_resolve(c, &e->target, err) < 0 || engine_prepare(e, err) < 0) {
        engine_close(e);
        return -1;
    }
    const char *host = e->describe;
    struct buf raw = {0};
    long status = engine_call(e, "GET", "/version", NULL, 0, &v, &raw, err);
    if (status != 200 || !v) {
        int plain = e->target.transport == ENGINE_TCP && !e->target.tls;
        while (raw.len && (raw.data[raw.len - 1] == '\n' || raw.data[raw.len - 1] == '\r'))
            raw.data[--raw.len] = '\0';
        if (status > 0) /* what answered may not be dockerd: its first words say what it is */
            tt_error(err, "the Docker engine at %s answered /version with HTTP %ld: %.200s%s", host,
                     status, raw.data ? raw.data : "",
                     plain ? " (does it expect TLS? Then set DOCKER_TLS_VERIFY=1 and "
                             "DOCKER_CERT_PATH)"
                           : "");
        buf_release(&raw);
        json_decref(v);
        engine_close(e);
        return -1;
    }
    buf_release(&raw);
    const char *api = json_string_value(json_object_get(v, "ApiVersion"));
    if (!api || version_cmp(api, ENGINE_MIN_API) < 0) {
        tt_error(err, "the Docker engine at %s speaks API %s; ttdeploy needs %s or newer", host,
                 api ? api : "(unknown)", ENGINE_MIN_API);
        json_decref(v);
        engine_close(e);
        return -1;
    }
    snprintf(e->version, sizeof(e->version), "%s",
             version_cmp(api, ENGINE_MAX_API) > 0 ? ENGINE_MAX_API : api);
    json_decref(v);
    *out = e;
    return 0;
}

int engine_open_same(const struct engine *e, struct engine **out, struct tt_err *err)
{
    struct engine_choice c = {.host = e->target.context ? NULL : e->target.host,
                              .context = e->target.context,
                              .insecure = e->target.insecure};
    return engine_open_choice(&c, out, err);
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    if (e->events) {
        curl_multi_remove_handle(e->multi, e->events->curl);
        engine_req_free(e->events);
    }
    while (e->done_head) {
        struct engine_req *r = e->done_head;
        e->done_head = r->next;
        engine_req_free(r);
    }
    engine_events_free(e->parser);
    /* Requests still in flight belong to their callers, who free them. */
    curl_multi_cleanup(e->multi);
    if (e->share) /* fails (and leaks) only when a caller still holds one of its requests */
        curl_share_cleanup(e->share);
    engine_ssh_free(e->ssh); /* after the share: closing its connections ends the ssh processes */
    engine_target_release(&e->target);
    free(e->host);
    free(e->base_url);
    free(e->describe);
    free(e->warning);
    free(e);
}

const char *engine_api_version(const struct engine *e)
{
    return e->version;
}

const char *engine_host(const struct engine *e)
{
    return e->host;
}

const char *engine_describe(const struct engine *e)
{
    return e->describe;
}

const char *engine_warning(const struct engine *e)
{
    return e->warning;
}

long engine_call(struct engine *e, const char *method, const char *path, const json_t *body,
                 long timeout_ms, json_t **resp, struct buf *raw, struct tt_err *err)
{
    struct engine_req *r = req_new(e, method, path, body, timeout_ms, NULL);
    CURLcode rc = curl_easy_perform(r->curl);
    long status;

    req_finish(r, rc);
    status = r->status;
    if (status < 0)
        tt_error(err, "%s", engine_req_error(r));
    if (resp) {
        *resp = engine_req_json(r);
        r->json = NULL;
    }
    if (raw)
        buf_add(raw, r->resp.data ? r->resp.data : "", r->resp.len);
    engine_req_free(r);
    return status;
}

long engine_call_bytes(struct engine *e, const char *method, const char *path,
                       const char *content_type, const void *body, size_t len, long timeout_ms,
                       struct buf *raw, struct tt_err *err)
{
    struct engine_req *r = req_new(e, method, path, NULL, timeout_ms, NULL);
    struct buf type = {0};

    buf_printf(&type, "Content-Type: %s", content_type);
    r->headers = curl_slist_append(r->headers, type.data);
    buf_release(&type);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, len ? body : "");
    CURLcode rc = curl_easy_perform(r->curl);
    req_finish(r, rc);
    long status = r->status;
    if (status < 0)
        tt_error(err, "%s", engine_req_error(r));
    else if (status >= 300)
        tt_error(err, "%s %s: %s", method, path, engine_req_error(r));
    if (raw)
        buf_add(raw, r->resp.data ? r->resp.data : "", r->resp.len);
    engine_req_free(r);
    return status;
}

int engine_call_ok(struct engine *e, const char *method, const char *path, const json_t *body,
                   long timeout_ms, json_t **resp, struct tt_err *err)
{
    struct engine_req *r = req_new(e, method, path, body, timeout_ms, NULL);
    CURLcode rc = curl_easy_perform(r->curl);
    int ok;

    req_finish(r, rc);
    ok = r->status >= 200 && r->status < 300;
    if (!ok && r->status < 0) /* the message names the request */
        tt_error(err, "%s", engine_req_error(r));
    else if (!ok)
        tt_error(err, "%s %s: %s", method, path, engine_req_error(r));
    if (resp) {
        *resp = ok ? engine_req_json(r) : NULL;
        if (ok)
            r->json = NULL;
    }
    engine_req_free(r);
    return ok ? 0 : -1;
}

struct engine_req *engine_req_start(struct engine *e, const char *method, const char *path,
                                    const json_t *body, long timeout_ms, void *tag)
{
    struct engine_req *r = req_new(e, method, path, body, timeout_ms, tag);
    curl_multi_add_handle(e->multi, r->curl);
    e->inflight++;
    return r;
}

static void collect_done(struct engine *e)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(e->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct engine_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode rc = m->data.result;
        curl_multi_remove_handle(e->multi, m->easy_handle);
        req_finish(r, rc);
        if (r->is_events) {
            /* The stream ended (daemon stopped?): leave it closed; waits end at their deadline. */
            engine_req_free(r);
            e->events = NULL;
            continue;
        }
        e->inflight--;
        if (e->done_tail)
            e->done_tail->next = r;
        else
            e->done_head = r;
        e->done_tail = r;
    }
}

int engine_pump(struct engine *e, long timeout_ms, struct tt_err *err)
{
    int running;
    CURLMcode mc = curl_multi_perform(e->multi, &running);

    if (mc == CURLM_OK && !e->done_head && timeout_ms > 0) {
        mc = curl_multi_poll(e->multi, NULL, 0, (int)timeout_ms, NULL);
        if (mc == CURLM_OK)
            mc = curl_multi_perform(e->multi, &running);
    }
    if (mc != CURLM_OK)
        return tt_error(err, "libcurl: %s", curl_multi_strerror(mc));
    collect_done(e);
    return 0;
}

struct engine_req *engine_next_done(struct engine *e)
{
    struct engine_req *r = e->done_head;
    if (!r)
        return NULL;
    e->done_head = r->next;
    if (!e->done_head)
        e->done_tail = NULL;
    r->next = NULL;
    return r;
}

size_t engine_inflight(const struct engine *e)
{
    return e->inflight;
}

int engine_events_start(struct engine *e, const json_t *filters, struct tt_err *err)
{
    struct buf path = {0};

    if (e->events)
        return 0;
    buf_adds(&path, "/events");
    if (filters) {
        char *f = json_dumps(filters, JSON_COMPACT);
        buf_adds(&path, "?filters=");
        engine_urlencode(f, &path);
        free(f);
    }
    e->events = req_new(e, "GET", path.data, NULL, 0, NULL);
    e->events->is_events = 1;
    curl_easy_setopt(e->events->curl, CURLOPT_TIMEOUT_MS, 0L); /* quiet is normal here */
    buf_release(&path);
    if (curl_multi_add_handle(e->multi, e->events->curl) != CURLM_OK) {
        engine_req_free(e->events);
        e->events = NULL;
        return tt_error(err, "cannot open the Docker events stream");
    }
    /* Wait until the daemon has answered the headers, so no event is missed. */
    for (int i = 0; i < 200; i++) {
        long code = 0;
        int running;
        curl_multi_perform(e->multi, &running);
        if (!e->events)
            return tt_error(err, "the Docker events stream closed at once");
        curl_easy_getinfo(e->events->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200)
            return 0;
        if (code > 0)
            return tt_error(err, "the Docker events stream answered HTTP %ld", code);
        curl_multi_poll(e->multi, NULL, 0, 50, NULL);
    }
    return tt_error(err, "the Docker events stream did not answer within 10 s");
}

json_t *engine_next_event(struct engine *e)
{
    return engine_events_pop(e->parser);
}

/* ---- streams ------------------------------------------------------------ */

void engine_set_stall(struct engine *e, long stall_ms)
{
    e->stall_ms = stall_ms > 0 ? stall_ms : ENGINE_STALL_DEFAULT_MS;
}

long engine_stall(const struct engine *e)
{
    return e->stall_ms;
}

void engine_req_stream_to(struct engine_req *r,
                          int (*sink)(void *ctx, const char *data, size_t len), void *ctx)
{
    r->sink = sink;
    r->sink_ctx = ctx;
}

int engine_stream(struct engine *e, const char *method, const char *path, const json_t *body,
                  long timeout_ms, int (*sink)(void *ctx, const char *data, size_t len), void *ctx,
                  const char *what, struct tt_err *err)
{
    struct engine_req *r = req_new(e, method, path, body, timeout_ms, NULL);
    int rc = 0;

    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    engine_req_stream_to(r, sink, ctx);
    r->stall = e->stall_ms / 1000.0;
    r->last_byte = monotime_now();
    CURLcode cc = curl_easy_perform(r->curl);
    req_finish(r, cc);
    if (r->sink_stopped)
        rc = tt_error(err, "%s: the stream was refused by its reader", what);
    else if (r->interrupted)
        rc = tt_error(err, "%s: interrupted", what);
    else if (r->stalled)
        rc = tt_error(err,
                      "%s: its stream from the Docker engine at %s sent nothing for %g s (the "
                      "stall limit, timeouts.stall): the command or dockerd is hung",
                      what, e->host, r->stall);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = tt_error(err, "%s did not finish within %ld ms", what, timeout_ms);
    else if (r->status < 200 || r->status > 299)
        rc = tt_error(err, "%s: %s %s: %s", what, method, path, engine_req_error(r));
    engine_req_free(r);
    return rc;
}
