/*
 * container_spec.c - compose service → Engine API container create body.
 *
 * The config hash is the SHA-256 of the create body (compact JSON, keys
 * sorted) before the hash label is added: any change in what would be
 * created changes it, and nothing else does.
 */
#include "container_spec.h"
#include "compose_out.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

char *container_spec_resource_name(const struct compose_project *p, const char *name)
{
    struct buf b = {0};
    buf_printf(&b, "%s_%s", p->name, name);
    return buf_detach(&b);
}

static json_t *env_array(const struct compose_kvlist *kv)
{
    json_t *a = json_array();
    struct buf b = {0};
    for (size_t i = 0; i < kv->n; i++) {
        const char *v = kv->v[i].value ? kv->v[i].value : getenv(kv->v[i].key);
        if (!v)
            continue; /* KEY alone and unset on the host: left out */
        buf_reset(&b);
        buf_printf(&b, "%s=%s", kv->v[i].key, v);
        json_array_append_new(a, json_string(b.data));
    }
    buf_release(&b);
    return a;
}

static json_t *labels_object(const struct compose_project *p, const struct compose_service *s)
{
    json_t *l = json_object();
    for (size_t i = 0; i < s->labels.n; i++)
        json_object_set_new(l, s->labels.v[i].key,
                            json_string(s->labels.v[i].value ? s->labels.v[i].value : ""));
    json_object_set_new(l, LABEL_PROJECT, json_string(p->name));
    json_object_set_new(l, LABEL_SERVICE, json_string(s->name));
    json_object_set_new(l, LABEL_NUMBER, json_string("1"));
    json_object_set_new(l, LABEL_ONEOFF, json_string("False"));
    json_object_set_new(l, LABEL_VERSION, json_string("2.20.0"));
    json_object_set_new(l, LABEL_MANAGED, json_string("true"));
    return l;
}

static json_t *healthcheck_object(const struct compose_healthcheck *h)
{
    json_t *o = json_object();
    if (h->disable) {
        json_object_set_new(o, "Test", json_pack("[s]", "NONE"));
        return o;
    }
    if (h->test.n)
        json_object_set_new(o, "Test", compose_strv_json(&h->test));
    if (h->interval >= 0)
        json_object_set_new(o, "Interval", json_integer(h->interval));
    if (h->timeout >= 0)
        json_object_set_new(o, "Timeout", json_integer(h->timeout));
    if (h->start_period >= 0)
        json_object_set_new(o, "StartPeriod", json_integer(h->start_period));
    if (h->retries >= 0)
        json_object_set_new(o, "Retries", json_integer(h->retries));
    return o;
}

/* "8000" or "8000-8002" (expanded) with the protocol: "8000/tcp". */
static void add_ports(json_t *exposed, json_t *bindings, const struct compose_port *pt)
{
    long lo = strtol(pt->target, NULL, 10), hi = lo;
    const char *dash = strchr(pt->target, '-');
    long plo = pt->published ? strtol(pt->published, NULL, 10) : 0, phi = plo;
    const char *pdash = pt->published ? strchr(pt->published, '-') : NULL;
    struct buf key = {0}, hp = {0};

    if (dash)
        hi = strtol(dash + 1, NULL, 10);
    if (pdash)
        phi = strtol(pdash + 1, NULL, 10);
    for (long port = lo; port <= hi && port - lo < 65536; port++) {
        buf_reset(&key);
        buf_printf(&key, "%ld/%s", port, pt->protocol);
        json_object_set_new(exposed, key.data, json_object());
        json_t *list = json_object_get(bindings, key.data);
        if (!list) {
            list = json_array();
            json_object_set_new(bindings, key.data, list);
        }
        buf_reset(&hp);
        if (pt->published) {
            if (pdash && phi - plo == hi - lo)
                buf_printf(&hp, "%ld", plo + (port - lo));
            else
                buf_adds(&hp, pt->published);
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:s}", "HostIp", pt->host_ip ? pt->host_ip : "",
                                        "HostPort", hp.data ? hp.data : ""));
    }
    buf_release(&key);
    buf_release(&hp);
}

static json_t *mount_object(const struct compose_project *p, const struct compose_mount *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "Type", json_string(m->type));
    json_object_set_new(o, "Target", json_string(m->target));
    if (m->source) {
        if (!strcmp(m->type, "volume")) {
            char *name = container_spec_resource_name(p, m->source);
            json_object_set_new(o, "Source", json_string(name));
            free(name);
        } else {
            json_object_set_new(o, "Source", json_string(m->source));
        }
    }
    if (m->read_only)
        json_object_set_new(o, "ReadOnly", json_true());
    return o;
}

static json_t *restart_policy(const char *restart)
{
    if (!restart || !strcmp(restart, "no"))
        return json_pack("{s:s}", "Name", "no");
    if (!strncmp(restart, "on-failure", 10)) {
        int n = restart[10] == ':' ? atoi(restart + 11) : 0;
        return json_pack("{s:s, s:i}", "Name", "on-failure", "MaximumRetryCount", n);
    }
    return json_pack("{s:s}", "Name", restart);
}

/* Sets key of o to the string value, unless value is NULL. */
static void set_string(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

/* What the process in the container is: image, command, environment, user, healthcheck. */
static void add_process(json_t *body, const struct compose_service *s, const char *image)
{
    json_object_set_new(body, "Image", json_string(image));
    if (s->has_command)
        json_object_set_new(body, "Cmd", compose_strv_json(&s->command));
    if (s->has_entrypoint)
        json_object_set_new(body, "Entrypoint", compose_strv_json(&s->entrypoint));
    json_object_set_new(body, "Env", env_array(&s->environment));
    set_string(body, "User", s->user);
    set_string(body, "WorkingDir", s->working_dir);
    set_string(body, "StopSignal", s->stop_signal);
    if (s->stop_grace_period >= 0)
        json_object_set_new(body, "StopTimeout",
                            json_integer((s->stop_grace_period + 999999999) / 1000000000));
    if (s->healthcheck.present)
        json_object_set_new(body, "Healthcheck", healthcheck_object(&s->healthcheck));
}

/* HostConfig without its networking: ports, mounts, restart policy, init, resource limits. */
static json_t *host_config(const struct compose_project *p, const struct compose_service *s,
                           json_t *body)
{
    json_t *host = json_object(), *exposed = json_object(), *bindings = json_object();
    json_t *mounts = json_array();

    for (size_t i = 0; i < s->nports; i++)
        add_ports(exposed, bindings, &s->ports[i]);
    json_object_set_new(body, "ExposedPorts", exposed);
    json_object_set_new(host, "PortBindings", bindings);
    for (size_t i = 0; i < s->nvolumes; i++)
        json_array_append_new(mounts, mount_object(p, &s->volumes[i]));
    json_object_set_new(host, "Mounts", mounts);
    json_object_set_new(host, "RestartPolicy", restart_policy(s->restart));
    if (s->init)
        json_object_set_new(host, "Init", json_true());
    if (s->limits.memory > 0)
        json_object_set_new(host, "Memory", json_integer(s->limits.memory));
    if (s->limits.cpus > 0)
        json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(s->limits.cpus * 1e9)));
    if (s->reservations.memory > 0)
        json_object_set_new(host, "MemoryReservation", json_integer(s->reservations.memory));
    return host;
}

/*
 * The networks: the first joined at create (NetworkMode and its
 * endpoint), the others kept in c->extra_networks for a connect each.
 */
static void add_networks(struct container_spec *c, const struct compose_project *p,
                         const struct compose_service *s, json_t *body, json_t *host)
{
    json_t *endpoints = json_object();

    c->extra_networks = json_array();
    if (s->network_mode) {
        json_object_set_new(host, "NetworkMode", json_string(s->network_mode));
    } else {
        for (size_t i = 0; i < s->networks.n; i++) {
            char *net = container_spec_resource_name(p, s->networks.v[i]);
            json_t *aliases = json_pack("[s]", s->name);
            if (i == 0) {
                json_object_set_new(host, "NetworkMode", json_string(net));
                json_object_set_new(endpoints, net, json_pack("{s:o}", "Aliases", aliases));
            } else {
                json_array_append_new(c->extra_networks,
                                      json_pack("{s:s, s:o}", "network", net, "aliases", aliases));
            }
            free(net);
        }
    }
    json_object_set_new(body, "HostConfig", host);
    json_object_set_new(body, "NetworkingConfig", json_pack("{s:o}", "EndpointsConfig", endpoints));
}

/* c->hash: the SHA-256 of the body and the extra networks, canonical (compact, keys sorted). */
static void hash_spec(struct container_spec *c, const json_t *body)
{
    char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    char *extra = json_dumps(c->extra_networks, JSON_COMPACT | JSON_SORT_KEYS);
    struct buf all = {0};

    buf_adds(&all, canon);
    buf_adds(&all, extra);
    sha256_hex(all.data, all.len, c->hash);
    free(canon);
    free(extra);
    buf_release(&all);
}

/* Replaces every network alias of the spec by alias (and service, when not NULL). */
static void set_aliases(json_t *body, json_t *extra, const char *alias, const char *service)
{
    const char *net;
    json_t *ep, *n;
    size_t i;
    json_object_foreach(
        json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"), net, ep)
    {
        json_object_set_new(ep, "Aliases",
                            service ? json_pack("[s,s]", service, alias) : json_pack("[s]", alias));
    }
    json_array_foreach(extra, i, n)
    {
        json_object_set_new(n, "aliases",
                            service ? json_pack("[s,s]", service, alias) : json_pack("[s]", alias));
    }
}

void container_spec_set_slot(struct container_spec *c, const struct compose_project *p,
                             const struct compose_service *s, const char *slot, int service_alias)
{
    struct buf b = {0};
    free(c->name);
    buf_printf(&b, "%s-%s-%s-1", p->name, s->name, slot);
    c->name = buf_detach(&b);
    buf_printf(&b, "%s-%s", s->name, slot);
    set_aliases(c->body, c->extra_networks, b.data, service_alias ? s->name : NULL);
    buf_release(&b);
    json_object_set_new(json_object_get(c->body, "Labels"), LABEL_SLOT, json_string(slot));
}

struct container_spec *container_spec_new(const struct compose_project *p,
                                          const struct compose_service *s,
                                          const char *image_override)
{
    struct container_spec *c = xcalloc(1, sizeof(*c));
    json_t *body = json_object();
    struct buf name = {0};

    if (s->container_name)
        buf_adds(&name, s->container_name);
    else
        buf_printf(&name, "%s-%s-1", p->name, s->name);
    c->name = buf_detach(&name);
    add_process(body, s, image_override ? image_override : s->image);
    c->has_healthcheck = s->healthcheck.present && !s->healthcheck.disable;
    add_networks(c, p, s, body, host_config(p, s, body));
    json_object_set_new(body, "Labels", labels_object(p, s));
    hash_spec(c, body);
    /* Where the files live is bookkeeping: moving the checkout recreates nothing. */
    json_t *labels = json_object_get(body, "Labels");
    char *files = strv_join(&p->files, ",");
    json_object_set_new(labels, LABEL_CONFIG_HASH, json_string(c->hash));
    json_object_set_new(labels, LABEL_WORKING_DIR, json_string(p->dir));
    json_object_set_new(labels, LABEL_CONFIG_FILES, json_string(files));
    free(files);
    c->body = body;
    return c;
}

void container_spec_free(struct container_spec *c)
{
    if (!c)
        return;
    free(c->name);
    json_decref(c->body);
    json_decref(c->extra_networks);
    free(c);
}

json_t *container_spec_network_body(const struct compose_project *p, const char *name)
{
    char *full = container_spec_resource_name(p, name);
    json_t *b = json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:s, s:s}}", "Name", full, "Driver",
                          "bridge", "CheckDuplicate", 1, "Labels", LABEL_PROJECT, p->name,
                          LABEL_NETWORK, name, LABEL_VERSION, "2.20.0", LABEL_MANAGED, "true");
    free(full);
    return b;
}

json_t *container_spec_volume_body(const struct compose_project *p, const char *name)
{
    char *full = container_spec_resource_name(p, name);
    json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "Name", full, "Driver", "local",
                          "Labels", LABEL_PROJECT, p->name, LABEL_VOLUME, name, LABEL_VERSION,
                          "2.20.0", LABEL_MANAGED, "true");
    free(full);
    return b;
}
