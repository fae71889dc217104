/*
 * plan_rollout.c - the rollout: section of a plan: how each service's new
 * release replaces the old one, and the checks of a blue-green rollout
 * against the compose project (the slots cannot publish host ports or
 * share a container_name; the proxy must see the upstream file through a
 * mounted folder, because a file mounted by itself keeps its old inode
 * after the atomic rename that switches it).
 */
#include "plan_int.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define DRAIN_DEFAULT_NS (5LL * 1000000000LL)
#define KEEP_DEFAULT_NS (600LL * 1000000000LL)

static int parse_rollout(struct ploader *l, const struct ynode *key, const struct ynode *n,
                         struct plan_rollout *r)
{
    static const char *const strategies[] = {"recreate", "blue-green", NULL};
    struct yfield upstream[] = {
        yfield_required(yfield_string("file", &r->upstream_file, "upstream file"),
                        "upstream needs file: the proxy's upstream file, e.g. nginx/upstream.conf"),
        yfield_required(yfield_string("name", &r->upstream_name, "upstream name"),
                        "upstream needs name: the upstream block the proxy routes to"),
        yfield_required(yfield_int("port", &r->upstream_port, "upstream port", 1),
                        "upstream needs port: the port the service listens on"),
        yfield_end(),
    };
    struct yfield fields[] = {
        yfield_index("strategy", &r->blue_green, "rollout strategy", strategies),
        yfield_string("proxy", &r->proxy, "rollout proxy"),
        yfield_section("upstream", upstream, "rollout upstream"),
        yfield_strings("reload", &r->reload, "rollout reload"),
        yfield_duration("drain", &r->drain_ns, "rollout drain"),
        yfield_duration("keep_previous", &r->keep_ns, "rollout keep_previous"),
        yfield_end(),
    };

    r->service = xstrdup(key->str ? key->str : "");
    r->at = (struct plan_where){l->p->path, key->line, key->col};
    r->drain_ns = DRAIN_DEFAULT_NS;
    r->keep_ns = KEEP_DEFAULT_NS;
    if (yread_fields(&l->r, n, "rollout", fields) < 0)
        return -1;
    if (r->upstream_port > 65535)
        return yread_error(&l->r, ynode_get(n, "upstream"),
                           "rollout %s: upstream port %d is not a port (1-65535)", r->service,
                           r->upstream_port);
    if (!r->blue_green)
        return 0;
    if (!r->proxy || !r->upstream_file || !r->reload.n)
        return yread_error(&l->r, n,
                           "rollout %s: blue-green needs proxy: (the service that routes to it), "
                           "upstream: {file, name, port} and reload: (e.g. [nginx, -s, reload])",
                           r->service);
    if (!strcmp(r->proxy, r->service))
        return yread_error(&l->r, ynode_get(n, "proxy"),
                           "rollout %s: the proxy must be another service", r->service);
    char *abs = plan_resolve(l->p, r->upstream_file);
    free(r->upstream_file);
    r->upstream_file = abs;
    return 0;
}

int plan_rollout_parse(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    if (yread_map(&l->r, n, "rollout") < 0)
        return -1;
    p->rollouts = xcalloc(n->n + 1, sizeof(*p->rollouts));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *v = n->items[2 * i + 1];
        p->nrollouts = i + 1;
        if (yread_map(&l->r, v, "a service's rollout") < 0 ||
            parse_rollout(l, n->items[2 * i], v, &p->rollouts[i]) < 0)
            return -1;
    }
    return 0;
}

void plan_rollout_clear(struct plan_rollout *r)
{
    free(r->service);
    free(r->proxy);
    free(r->upstream_file);
    free(r->upstream_name);
    strv_clear(&r->reload);
}

const struct plan_rollout *plan_blue_green(const struct plan *p, const char *service)
{
    for (size_t i = 0; i < p->nrollouts; i++)
        if (p->rollouts[i].blue_green && !strcmp(p->rollouts[i].service, service))
            return &p->rollouts[i];
    return NULL;
}

/* Whether path is dir or inside it (both absolute and normalised by the loaders). */
static int path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* The proxy mounts the folder of the upstream file, not the file itself. */
static int check_proxy_mount(const struct plan *p, const struct plan_rollout *r,
                             const struct compose_service *proxy, struct tt_err *err)
{
    const struct plan_where *at = &r->at;
    for (size_t i = 0; i < proxy->nvolumes; i++) {
        const struct compose_mount *m = &proxy->volumes[i];
        if (!m->source || strcmp(m->type, "bind"))
            continue;
        if (!strcmp(m->source, r->upstream_file)) {
            char *slash = strrchr(r->upstream_file, '/');
            return tt_error_at(
                err, at->file, at->line, at->col,
                "rollout %s: the proxy \"%s\" mounts the upstream file %s by itself "
                "(%s:%d): a file mounted alone keeps its old inode after the atomic rename "
                "that switches slots, so the proxy would never see the switch; mount its "
                "folder instead (%.*s:%s)",
                r->service, proxy->name, r->upstream_file, proxy->file, proxy->line,
                slash ? (int)(slash - r->upstream_file) : 1, r->upstream_file,
                "/etc/nginx/upstream");
        }
        if (path_within(r->upstream_file, m->source))
            return 0;
    }
    (void)p;
    return tt_error_at(
        err, at->file, at->line, at->col,
        "rollout %s: the proxy \"%s\" mounts no folder holding the upstream file "
        "%s: bind-mount that file's folder into it (e.g. ./nginx:/etc/nginx/upstream)",
        r->service, proxy->name, r->upstream_file);
}

/* Two slots of s run at once: nothing of s may be claimed by one container only. */
static int check_slottable(const struct plan_rollout *r, const struct compose_service *s,
                           struct tt_err *err)
{
    const struct plan_where *at = &r->at;
    if (s->container_name)
        return tt_error_at(err, at->file, at->line, at->col,
                           "rollout %s: blue-green runs two containers of the service, but it "
                           "has container_name \"%s\", which only one can have: remove it",
                           r->service, s->container_name);
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i].published)
            return tt_error_at(err, at->file, at->line, at->col,
                               "rollout %s: blue-green runs two containers of the service, but "
                               "it publishes host port %s, which only one can bind: publish "
                               "the proxy's port instead and let it route to the slots",
                               r->service, s->ports[i].published);
    return 0;
}

/* A start-first service (compose's deploy.update_config.order) runs twice for a moment too. */
static int check_start_first(const struct plan *p, const struct compose_service *s,
                             struct tt_err *err)
{
    const char *why = s->container_name ? "a fixed container_name" : NULL;
    for (size_t i = 0; !why && i < s->nports; i++)
        if (s->ports[i].published)
            why = "a published host port";
    if (!why || plan_blue_green(p, s->name))
        return 0;
    return tt_error_at(err, s->file, s->line, s->col,
                       "service \"%s\": deploy.update_config.order start-first starts the new "
                       "container before the old one stops, but %s can belong to one container "
                       "only: remove it, or use stop-first",
                       s->name, why);
}

int plan_check_mode(const struct plan *p, struct tt_err *err)
{
    if (!p->engine_mode || strcmp(p->engine_mode, "swarm"))
        return 0;
    for (size_t i = 0; i < p->nrollouts; i++)
        if (p->rollouts[i].blue_green)
            return tt_error_at(err, p->rollouts[i].at.file, p->rollouts[i].at.line,
                               p->rollouts[i].at.col,
                               "rollout %s: blue-green slots are for local mode; in swarm mode "
                               "use the service's deploy: update_config: order: start-first",
                               p->rollouts[i].service);
    return 0;
}

int plan_rollout_check(const struct plan *p, const struct compose_project *proj, struct tt_err *err)
{
    if (plan_check_mode(p, err) < 0)
        return -1;
    for (size_t i = 0; i < proj->nservices; i++)
        if (proj->services[i]->start_first && check_start_first(p, proj->services[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->nrollouts; i++) {
        const struct plan_rollout *r = &p->rollouts[i];
        const struct plan_where *at = &r->at;
        const struct compose_service *s = compose_find_service(proj, r->service);
        if (!s)
            return tt_error_at(err, at->file, at->line, at->col,
                               "rollout names service \"%s\", which the compose project does "
                               "not define",
                               r->service);
        if (!r->blue_green)
            continue;
        const struct compose_service *proxy = compose_find_service(proj, r->proxy);
        if (!proxy)
            return tt_error_at(err, at->file, at->line, at->col,
                               "rollout %s: proxy \"%s\" is not a service of the project",
                               r->service, r->proxy);
        if (plan_is_infra(p, r->service))
            return tt_error_at(err, at->file, at->line, at->col,
                               "rollout %s: blue-green is for the app tier; \"%s\" is in infra",
                               r->service, r->service);
        if (check_slottable(r, s, err) < 0 || check_proxy_mount(p, r, proxy, err) < 0)
            return -1;
    }
    return 0;
}
