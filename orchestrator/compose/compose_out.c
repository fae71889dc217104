/*
 * compose_out.c - rendering the model as JSON values, and JSON values as YAML.
 *
 * The YAML writer is deliberately small: block mappings and sequences,
 * plain scalars where YAML would read them back as the same string, and
 * double-quoted scalars everywhere else.
 */
#include "compose_out.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

json_t *compose_strv_json(const struct strv *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(a, json_string(s->v[i]));
    return a;
}

static json_t *kv_json(const struct compose_kvlist *kv)
{
    json_t *o = json_object();
    for (size_t i = 0; i < kv->n; i++)
        json_object_set_new(o, kv->v[i].key,
                            kv->v[i].value ? json_string(kv->v[i].value) : json_null());
    return o;
}

static int is_integer(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s || strlen(s) > 18)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* A YAML node as JSON: plain scalars that read as numbers, booleans or null become those. */
static json_t *node_json(const struct ynode *n)
{
    if (!n || ynode_is_null(n))
        return json_null();
    if (n->kind == YNODE_SCALAR) {
        if (!n->quoted) {
            if (is_integer(n->str))
                return json_integer(strtoll(n->str, NULL, 10));
            if (!strcmp(n->str, "true") || !strcmp(n->str, "True"))
                return json_true();
            if (!strcmp(n->str, "false") || !strcmp(n->str, "False"))
                return json_false();
        }
        return json_stringn(n->str, n->len);
    }
    if (n->kind == YNODE_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++)
            json_array_append_new(a, node_json(n->items[i]));
        return a;
    }
    json_t *o = json_object();
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i];
        json_object_set_new(o, k->kind == YNODE_SCALAR ? k->str : "?",
                            node_json(n->items[2 * i + 1]));
    }
    return o;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static void set_duration(json_t *o, const char *key, compose_ns ns)
{
    char b[64];
    if (ns < 0)
        return;
    compose_format_duration(ns, b, sizeof(b));
    json_object_set_new(o, key, json_string(b));
}

static json_t *healthcheck_json(const struct compose_healthcheck *h)
{
    json_t *o = json_object();
    if (h->test.n)
        json_object_set_new(o, "test", compose_strv_json(&h->test));
    set_duration(o, "interval", h->interval);
    set_duration(o, "timeout", h->timeout);
    set_duration(o, "start_period", h->start_period);
    set_duration(o, "start_interval", h->start_interval);
    if (h->retries >= 0)
        json_object_set_new(o, "retries", json_integer(h->retries));
    if (h->disable)
        json_object_set_new(o, "disable", json_true());
    return o;
}

static json_t *port_json(const struct compose_port *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "target",
                        is_integer(p->target) ? json_integer(strtoll(p->target, NULL, 10))
                                              : json_string(p->target));
    set_str(o, "published", p->published);
    set_str(o, "host_ip", p->host_ip);
    set_str(o, "protocol", p->protocol);
    set_str(o, "mode", p->mode);
    return o;
}

static json_t *mount_json(const struct compose_mount *m)
{
    json_t *o = json_object();
    set_str(o, "type", m->type);
    set_str(o, "source", m->source);
    set_str(o, "target", m->target);
    if (m->read_only)
        json_object_set_new(o, "read_only", json_true());
    set_str(o, "options", m->options);
    return o;
}

static json_t *service_json(const struct compose_service *s)
{
    json_t *o = json_object();

    for (size_t i = 0; i < s->nextras; i++)
        json_object_set_new(o, s->extras[i].key, node_json(s->extras[i].value));
    set_str(o, "image", s->image);
    if (s->build)
        json_object_set_new(o, "build", node_json(s->build));
    set_str(o, "container_name", s->container_name);
    if (s->has_command)
        json_object_set_new(o, "command", compose_strv_json(&s->command));
    if (s->has_entrypoint)
        json_object_set_new(o, "entrypoint", compose_strv_json(&s->entrypoint));
    if (s->environment.n)
        json_object_set_new(o, "environment", kv_json(&s->environment));
    if (s->labels.n)
        json_object_set_new(o, "labels", kv_json(&s->labels));
    if (s->nports) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->nports; i++)
            json_array_append_new(a, port_json(&s->ports[i]));
        json_object_set_new(o, "ports", a);
    }
    if (s->nvolumes) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->nvolumes; i++)
            json_array_append_new(a, mount_json(&s->volumes[i]));
        json_object_set_new(o, "volumes", a);
    }
    if (s->networks.n) {
        json_t *n = json_object();
        for (size_t i = 0; i < s->networks.n; i++)
            json_object_set_new(n, s->networks.v[i], json_null());
        json_object_set_new(o, "networks", n);
    }
    set_str(o, "network_mode", s->network_mode);
    if (s->ndeps) {
        json_t *d = json_object();
        for (size_t i = 0; i < s->ndeps; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "condition",
                                json_string(compose_condition_name(s->deps[i].condition)));
            json_object_set_new(e, "required", json_boolean(s->deps[i].required));
            json_object_set_new(e, "restart", json_boolean(s->deps[i].restart));
            json_object_set_new(d, s->deps[i].service, e);
        }
        json_object_set_new(o, "depends_on", d);
    }
    if (s->healthcheck.present)
        json_object_set_new(o, "healthcheck", healthcheck_json(&s->healthcheck));
    set_str(o, "restart", s->restart);
    set_str(o, "user", s->user);
    set_str(o, "working_dir", s->working_dir);
    set_str(o, "stop_signal", s->stop_signal);
    set_duration(o, "stop_grace_period", s->stop_grace_period);
    if (s->init)
        json_object_set_new(o, "init", json_true());
    if (s->profiles.n)
        json_object_set_new(o, "profiles", compose_strv_json(&s->profiles));
    return o;
}

/* Writes every '$' in string values as "$$", so the output loads back to the same model. */
static void escape_dollars(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strchr(s, '$'))
            return;
        struct buf b = {0};
        for (; *s; s++) {
            if (*s == '$')
                buf_addc(&b, '$');
            buf_addc(&b, *s);
        }
        json_string_set(v, b.data);
        buf_release(&b);
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) escape_dollars(item);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) escape_dollars(item);
    }
}

json_t *compose_out_project(const struct compose_project *p)
{
    json_t *root = json_object(), *services = json_object();

    json_object_set_new(root, "name", json_string(p->name));
    for (size_t i = 0; i < p->nservices; i++)
        json_object_set_new(services, p->services[i]->name, service_json(p->services[i]));
    json_object_set_new(root, "services", services);
    json_t *nets = json_object(), *vols = json_object();
    for (size_t i = 0; i < p->networks.n; i++)
        json_object_set_new(nets, p->networks.v[i], json_object());
    for (size_t i = 0; i < p->nservices; i++)
        if (strv_contains(&p->services[i]->networks, "default") &&
            !json_object_get(nets, "default"))
            json_object_set_new(nets, "default", json_object());
    for (size_t i = 0; i < p->volumes.n; i++)
        json_object_set_new(vols, p->volumes.v[i], json_object());
    if (json_object_size(nets))
        json_object_set_new(root, "networks", nets);
    else
        json_decref(nets);
    if (json_object_size(vols))
        json_object_set_new(root, "volumes", vols);
    else
        json_decref(vols);
    escape_dollars(root);
    return root;
}

json_t *compose_out_graph(const struct dag *d)
{
    json_t *root = json_object(), *layers = json_array(), *edges = json_array();

    for (size_t k = 0; k < d->nlayers; k++) {
        json_t *layer = json_array();
        for (size_t i = d->layer_start[k]; i < d->layer_start[k + 1]; i++)
            json_array_append_new(layer, json_string(dag_name(d, d->order[i])));
        json_array_append_new(layers, layer);
    }
    for (size_t i = 0; i < d->nedges; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "from", json_string(dag_name(d, d->edges[i].from)));
        json_object_set_new(e, "to", json_string(dag_name(d, d->edges[i].to)));
        json_object_set_new(e, "condition",
                            json_string(compose_condition_name(d->edges[i].condition)));
        json_object_set_new(e, "required", json_boolean(d->edges[i].required));
        json_array_append_new(edges, e);
    }
    json_object_set_new(root, "layers", layers);
    json_object_set_new(root, "edges", edges);
    return root;
}

/* ---- YAML writer -------------------------------------------------------- */

static int needs_quotes(const char *s)
{
    static const char *const special[] = {
        "true", "false", "yes",  "no",    "on",  "off", "null", "True", "False", "Yes", "No", "On",
        "Off",  "Null",  "TRUE", "FALSE", "YES", "NO",  "ON",   "OFF",  "NULL",  "~",   NULL};
    size_t len = strlen(s);
    char *end;

    if (len == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
        return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
        return 1;
    for (size_t i = 0; special[i]; i++)
        if (!strcmp(s, special[i]))
            return 1;
    strtod(s, &end);
    if (*end == '\0')
        return 1;
    if (strstr(s, ": ") || strstr(s, " #") || s[len - 1] == ':')
        return 1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static void yaml_scalar(const char *s, struct buf *out)
{
    if (!needs_quotes(s)) {
        buf_adds(out, s);
        return;
    }
    buf_addc(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            buf_adds(out, "\\n");
        else if (*p == '\t')
            buf_adds(out, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(out, "\\x%02x", *p);
        else
            buf_addc(out, (char)*p);
    }
    buf_addc(out, '"');
}

static void yaml_atom(const json_t *v, struct buf *out)
{
    if (json_is_string(v))
        yaml_scalar(json_string_value(v), out);
    else if (json_is_integer(v))
        buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        buf_printf(out, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        buf_adds(out, json_is_true(v) ? "true" : "false");
    else if (json_is_object(v))
        buf_adds(out, "{}");
    else if (json_is_array(v))
        buf_adds(out, "[]");
    else
        buf_adds(out, "null");
}

static int is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void yaml_value(const json_t *v, int indent, struct buf *out);

static void yaml_object(const json_t *v, int indent, struct buf *out)
{
    size_t n = json_object_size(v), i = 0;
    const char **keys = calloc(n + 1, sizeof(*keys));
    const char *key;
    json_t *val;

    json_object_foreach((json_t *)v, key, val) keys[i++] = key;
    qsort(keys, n, sizeof(*keys), cmp_cstr);
    for (i = 0; i < n; i++) {
        val = json_object_get(v, keys[i]);
        buf_printf(out, "%*s", indent, "");
        yaml_scalar(keys[i], out);
        buf_addc(out, ':');
        if (is_block(val)) {
            buf_addc(out, '\n');
            yaml_value(val, indent + (json_is_object(val) ? 2 : 0), out);
        } else {
            buf_addc(out, ' ');
            yaml_atom(val, out);
            buf_addc(out, '\n');
        }
    }
    free(keys);
}

static void yaml_value(const json_t *v, int indent, struct buf *out)
{
    if (json_is_object(v) && json_object_size(v)) {
        yaml_object(v, indent, out);
        return;
    }
    if (json_is_array(v) && json_array_size(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            buf_printf(out, "%*s- ", indent, "");
            if (json_is_object(item) && json_object_size(item)) {
                struct buf inner = {0};
                yaml_object(item, indent + 2, &inner);
                buf_adds(out, inner.data + indent + 2); /* first key on the dash line */
                buf_release(&inner);
            } else if (is_block(item)) {
                buf_addc(out, '\n');
                yaml_value(item, indent + 2, out);
            } else {
                yaml_atom(item, out);
                buf_addc(out, '\n');
            }
        }
        return;
    }
    buf_printf(out, "%*s", indent, "");
    yaml_atom(v, out);
    buf_addc(out, '\n');
}

void compose_out_yaml(const json_t *v, struct buf *out)
{
    yaml_value(v, 0, out);
}
