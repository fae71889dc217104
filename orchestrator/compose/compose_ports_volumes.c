/*
 * compose_ports_volumes.c - a service's ports and volumes, in both of the
 * Compose Specification's syntaxes: the short strings ("8080:80/tcp",
 * "./conf:/etc/app:ro") and the long mappings ({target: 80, published:
 * 8080}).  Either way they end in the long form, every default explicit,
 * bind sources made absolute against the project directory.
 */
#include "compose_int.h"
#include "buf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- ports -------------------------------------------------------------- */

void compose_port_free(struct compose_port *p)
{
    free(p->host_ip);
    free(p->published);
    free(p->target);
    free(p->protocol);
    free(p->mode);
}

static int is_port_spec(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

/* Moves *src to *dst, or frees it when it is empty: "" means not given. */
static void take_unless_empty(char **dst, char **src)
{
    if (*src && **src)
        *dst = *src;
    else
        free(*src);
    *src = NULL;
}

/* Short syntax: [[host_ip:]published:]target[/protocol]. */
static int port_parse_short(struct compose_loader *l, const struct ynode *n, const char *s,
                            struct compose_port *p)
{
    char *copy = xstrdup(s), *proto = strrchr(copy, '/'), *parts[3] = {0};
    int nparts = 0, rc = 0;

    if (proto) {
        *proto++ = '\0';
        p->protocol = xstrdup(proto);
    }
    char *rest = copy;
    if (rest[0] == '[') { /* [ipv6]:published:target */
        char *close = strchr(rest, ']');
        if (close && close[1] == ':') {
            parts[nparts++] = xstrndup(rest + 1, (size_t)(close - rest - 1));
            rest = close + 2;
        }
    }
    while (rest && nparts < 3) {
        char *c = strchr(rest, ':');
        parts[nparts++] = c ? xstrndup(rest, (size_t)(c - rest)) : xstrdup(rest);
        rest = c ? c + 1 : NULL;
    }
    if (rest || nparts == 0 || !is_port_spec(parts[nparts - 1]) ||
        (nparts >= 2 && *parts[nparts - 2] && !is_port_spec(parts[nparts - 2]))) {
        rc = -1;
    } else {
        p->target = parts[nparts - 1];
        parts[nparts - 1] = NULL;
        if (nparts >= 2)
            take_unless_empty(&p->published, &parts[nparts - 2]);
        if (nparts == 3)
            take_unless_empty(&p->host_ip, &parts[0]);
    }
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    free(copy);
    if (rc < 0)
        return yread_error(&l->r, n,
                           "invalid port \"%s\": write [HOST_IP:]PUBLISHED:TARGET[/PROTOCOL], "
                           "such as 8080:80 or 127.0.0.1:5432:5432/tcp",
                           s);
    return 0;
}

static int port_parse_long(struct compose_loader *l, const struct ynode *n, struct compose_port *p)
{
    struct yfield fields[] = {
        yfield_required(yfield_string("target", &p->target, NULL),
                        "a port in long form needs target: the container port"),
        yfield_string("published", &p->published, NULL),
        yfield_string("host_ip", &p->host_ip, NULL),
        yfield_string("protocol", &p->protocol, NULL),
        yfield_string("mode", &p->mode, NULL),
        yfield_skip("name"),
        yfield_skip("app_protocol"),
        yfield_end(),
    };
    if (yread_fields(&l->r, n, "port", fields) < 0)
        return -1;
    if (!is_port_spec(p->target))
        return yread_error(&l->r, n, "port target \"%s\" must be a port number or range",
                           p->target);
    return 0;
}

static int port_parse(struct compose_loader *l, const struct ynode *n, struct compose_port *p)
{
    memset(p, 0, sizeof(*p));
    if (n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
        if (port_parse_short(l, n, n->str, p) < 0)
            return -1;
    } else if (n->kind == YNODE_MAP) {
        if (port_parse_long(l, n, p) < 0)
            return -1;
    } else {
        return yread_error(&l->r, n,
                           "a port must be a string such as \"8080:80\" or a mapping, not %s",
                           ynode_kind_name(n));
    }
    if (!p->protocol)
        p->protocol = xstrdup("tcp");
    if (!p->mode)
        p->mode = xstrdup("ingress");
    return 0;
}

/* Appends the port written as n to s's. */
static int port_add(struct compose_loader *l, const struct ynode *n, struct compose_service *s)
{
    s->ports = xrealloc(s->ports, (s->nports + 1) * sizeof(*s->ports));
    return port_parse(l, n, &s->ports[s->nports++]);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void compose_ports_append(struct compose_service *dst, const struct compose_service *src)
{
    for (size_t i = 0; i < src->nports; i++) {
        const struct compose_port *p = &src->ports[i];
        dst->ports = xrealloc(dst->ports, (dst->nports + 1) * sizeof(*dst->ports));
        struct compose_port *q = &dst->ports[dst->nports++];
        q->host_ip = dup_or_null(p->host_ip);
        q->published = dup_or_null(p->published);
        q->target = xstrdup(p->target);
        q->protocol = xstrdup(p->protocol);
        q->mode = xstrdup(p->mode);
    }
}

/* ---- volumes ------------------------------------------------------------ */

void compose_mount_free(struct compose_mount *m)
{
    free(m->type);
    free(m->source);
    free(m->target);
    free(m->options);
}

/* The mode field of a short volume, "ro,z": read_only from ro/rw, the rest kept as options. */
static void mount_mode(struct compose_mount *m, const char *mode)
{
    struct buf rest = {0};
    const char *st = mode;
    for (const char *p = mode;; p++) {
        if (*p == ',' || *p == '\0') {
            size_t len = (size_t)(p - st);
            if (len == 2 && !strncmp(st, "ro", 2))
                m->read_only = 1;
            else if (!(len == 2 && !strncmp(st, "rw", 2)) && len)
                buf_printf(&rest, "%s%.*s", rest.len ? "," : "", (int)len, st);
            if (!*p)
                break;
            st = p + 1;
        }
    }
    m->options = rest.len ? buf_detach(&rest) : NULL;
    buf_release(&rest);
}

/* Short syntax: SOURCE:TARGET[:MODE], NAME:TARGET or TARGET. */
static int mount_parse_short(struct compose_loader *l, const struct ynode *n,
                             struct compose_mount *m)
{
    struct strv parts = {0};
    const char *s = n->str, *start = s;
    for (const char *p = s;; p++) {
        if (*p == ':' || *p == '\0') {
            strv_push_owned(&parts, xstrndup(start, (size_t)(p - start)));
            if (!*p)
                break;
            start = p + 1;
        }
    }
    if (parts.n > 3 || parts.v[0][0] == '\0' || (parts.n >= 2 && parts.v[1][0] == '\0')) {
        strv_clear(&parts);
        return yread_error(&l->r, n,
                           "invalid volume \"%s\": write SOURCE:TARGET[:ro], NAME:TARGET or "
                           "TARGET",
                           s);
    }
    if (parts.n == 1) {
        m->type = xstrdup("volume");
        m->target = xstrdup(parts.v[0]);
    } else {
        const char *src = parts.v[0];
        int bind = src[0] == '/' || src[0] == '.' || src[0] == '~';
        m->type = xstrdup(bind ? "bind" : "volume");
        char *dir = compose_dir_for(l, n);
        m->source = bind ? compose_path_join(dir, src) : xstrdup(src);
        free(dir);
        m->target = xstrdup(parts.v[1]);
        if (parts.n == 3)
            mount_mode(m, parts.v[2]);
    }
    strv_clear(&parts);
    return 0;
}

static int mount_parse_long(struct compose_loader *l, const struct ynode *n,
                            struct compose_mount *m)
{
    struct yfield fields[] = {
        yfield_required(yfield_string("type", &m->type, "volume type"),
                        "a volume in long form needs type: volume, bind or tmpfs"),
        yfield_string("source", &m->source, "volume source"),
        yfield_required(yfield_string("target", &m->target, "volume target"),
                        "a volume in long form needs target: the path in the container"),
        yfield_bool("read_only", &m->read_only, NULL),
        yfield_skip("bind"),
        yfield_skip("volume"),
        yfield_skip("tmpfs"),
        yfield_skip("consistency"),
        yfield_skip("image"),
        yfield_end(),
    };
    if (yread_fields(&l->r, n, "volume", fields) < 0)
        return -1;
    if (strcmp(m->type, "volume") && strcmp(m->type, "bind") && strcmp(m->type, "tmpfs") &&
        strcmp(m->type, "npipe") && strcmp(m->type, "cluster") && strcmp(m->type, "image"))
        return yread_error(&l->r, n, "unknown volume type \"%s\": use volume, bind or tmpfs",
                           m->type);
    if (!strcmp(m->type, "bind")) {
        if (!m->source)
            return yread_error(&l->r, n, "a bind mount needs source: the path on the host");
        char *dir = compose_dir_for(l, n);
        char *abs = compose_path_join(dir, m->source);
        free(dir);
        free(m->source);
        m->source = abs;
    }
    return 0;
}

static int mount_parse(struct compose_loader *l, const struct ynode *n, struct compose_mount *m)
{
    memset(m, 0, sizeof(*m));
    if (n->kind == YNODE_SCALAR && !ynode_is_null(n))
        return mount_parse_short(l, n, m);
    if (n->kind != YNODE_MAP)
        return yread_error(&l->r, n,
                           "a volume must be a string such as \"data:/var/lib/data\" or a "
                           "mapping, not %s",
                           ynode_kind_name(n));
    return mount_parse_long(l, n, m);
}

/* Appends the volume written as n to s's. */
static int volume_add(struct compose_loader *l, const struct ynode *n, struct compose_service *s)
{
    s->volumes = xrealloc(s->volumes, (s->nvolumes + 1) * sizeof(*s->volumes));
    return mount_parse(l, n, &s->volumes[s->nvolumes++]);
}

/* A list (or null) whose items add() appends to s. */
static int parse_list(struct compose_loader *l, const struct ynode *n, const char *what,
                      int (*add)(struct compose_loader *l, const struct ynode *n,
                                 struct compose_service *s),
                      struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (yread_list(&l->r, n, what) < 0)
        return -1;
    for (size_t i = 0; i < n->n; i++)
        if (add(l, n->items[i], s) < 0)
            return -1;
    return 0;
}

int compose_ports_parse(struct compose_loader *l, const struct ynode *n, struct compose_service *s)
{
    return parse_list(l, n, "ports", port_add, s);
}

int compose_volumes_parse(struct compose_loader *l, const struct ynode *n,
                          struct compose_service *s)
{
    return parse_list(l, n, "volumes", volume_add, s);
}

void compose_volumes_merge(struct compose_service *dst, const struct compose_service *src)
{
    for (size_t i = 0; i < src->nvolumes; i++) {
        const struct compose_mount *m = &src->volumes[i];
        struct compose_mount *q = NULL;
        for (size_t j = 0; j < dst->nvolumes && !q; j++)
            if (!strcmp(dst->volumes[j].target, m->target))
                q = &dst->volumes[j];
        if (q) {
            compose_mount_free(q);
        } else {
            dst->volumes = xrealloc(dst->volumes, (dst->nvolumes + 1) * sizeof(*dst->volumes));
            q = &dst->volumes[dst->nvolumes++];
        }
        q->type = xstrdup(m->type);
        q->source = dup_or_null(m->source);
        q->target = xstrdup(m->target);
        q->read_only = m->read_only;
        q->options = dup_or_null(m->options);
    }
}
