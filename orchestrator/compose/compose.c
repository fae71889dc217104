/*
 * compose.c - loading Compose files into struct compose_project.
 *
 * The order of work follows the Compose Specification:
 *   1. every file is parsed (yamltree.c resolves anchors and "<<");
 *   2. every scalar value is interpolated (vars.c);
 *   3. each file's services are turned into struct compose_service, with
 *      "extends" resolved by building the base first and laying the
 *      service over it;
 *   4. the files' services are merged in order by the same rules
 *      (service_merge): scalars and command/entrypoint replace, mappings
 *      merge by key, ports append, volumes merge by target;
 *   5. profiles decide which services are enabled, and dependencies are
 *      checked against what is enabled.
 */
#include "compose.h"
#include "buf.h"
#include "suggest.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct loader {
    const struct compose_options *opts;
    struct compose_project *proj;
    struct vars vars;
    struct tt_err *err;
    int extends_depth;
};

/* ---- small value parsers ------------------------------------------------ */

int compose_parse_duration(const char *s, compose_ns *out)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},   {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    double total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno)
            return -1;
        p = end;
        size_t best = 0, bestlen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > bestlen) {
                best = i;
                bestlen = l;
            }
        }
        if (bestlen == 0)
            return -1;
        total += v * units[best].ns;
        p += bestlen;
    }
    if (total > 9.2e18)
        return -1;
    *out = (compose_ns)llround(total);
    return 0;
}

void compose_format_duration(compose_ns ns, char *buf, size_t n)
{
    struct buf b = {0};
    if (ns == 0) {
        snprintf(buf, n, "0s");
        return;
    }
    if (ns < 1000000000LL) {
        if (ns % 1000000 == 0)
            snprintf(buf, n, "%lldms", ns / 1000000);
        else if (ns % 1000 == 0)
            snprintf(buf, n, "%lldus", ns / 1000);
        else
            snprintf(buf, n, "%lldns", ns);
        return;
    }
    long long h = ns / 3600000000000LL, rest = ns % 3600000000000LL;
    long long m = rest / 60000000000LL;
    rest %= 60000000000LL;
    if (h)
        buf_printf(&b, "%lldh", h);
    if (h || m)
        buf_printf(&b, "%lldm", m);
    if (rest % 1000000000LL == 0) {
        buf_printf(&b, "%llds", rest / 1000000000LL);
    } else {
        char frac[16];
        snprintf(frac, sizeof(frac), "%09lld", rest % 1000000000LL);
        size_t l = strlen(frac);
        while (l && frac[l - 1] == '0')
            frac[--l] = '\0';
        buf_printf(&b, "%lld.%ss", rest / 1000000000LL, frac);
    }
    snprintf(buf, n, "%s", b.data);
    buf_release(&b);
}

int compose_parse_bytes(const char *s, long long *out)
{
    char *end;
    double v;

    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    double mult = 1;
    char u = (char)tolower((unsigned char)*end);
    if (u == 'b' && end[1] == '\0') {
        end++;
    } else if (u == 'k' || u == 'm' || u == 'g' || u == 't') {
        mult = u == 'k' ? 1024.0 : u == 'm' ? 1048576.0 : u == 'g' ? 1073741824.0 : 1099511627776.0;
        end++;
        if (tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) == 'b')
            end += 2;
        else if (tolower((unsigned char)*end) == 'b')
            end++;
    }
    if (*end != '\0' || v * mult > 9.2e18)
        return -1;
    *out = (long long)llround(v * mult);
    return 0;
}

int compose_split_words(const char *s, struct strv *out)
{
    struct buf w = {0};
    int in_word = 0;

    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            if (in_word)
                strv_push_owned(out, buf_detach(&w));
            in_word = 0;
            continue;
        }
        in_word = 1;
        if (*p == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                buf_release(&w);
                return -1;
            }
            buf_add(&w, p + 1, (size_t)(q - p - 1));
            p = q;
        } else if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                    p++;
                buf_addc(&w, *p);
            }
            if (!*p) {
                buf_release(&w);
                return -1;
            }
        } else if (*p == '\\' && p[1]) {
            buf_addc(&w, *++p);
        } else {
            buf_addc(&w, *p);
        }
    }
    if (in_word)
        strv_push_owned(out, buf_detach(&w));
    buf_release(&w);
    return 0;
}

const char *compose_condition_name(enum compose_condition c)
{
    switch (c) {
    case COMPOSE_COND_HEALTHY:
        return "service_healthy";
    case COMPOSE_COND_COMPLETED:
        return "service_completed_successfully";
    case COMPOSE_COND_STARTED:
        break;
    }
    return "service_started";
}

/* ---- node helpers ------------------------------------------------------- */

static int node_error(struct loader *l, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int node_error(struct loader *l, const struct ynode *n, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return tt_error_at(l->err, n ? n->file : "", n ? n->line : 0, n ? n->col : 0, "%s", msg);
}

static void warn_at(struct loader *l, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_at(struct loader *l, const struct ynode *n, const char *fmt, ...)
{
    struct buf b = {0};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_printf(&b, "%s:%d:%d: %s", n->file, n->line, n->col, msg);
    strv_push_owned(&l->proj->warnings, buf_detach(&b));
}

/* The scalar text of n, or an error naming what was expected. */
static int want_scalar(struct loader *l, const struct ynode *n, const char *what, const char **out)
{
    if (!n || n->kind != YNODE_SCALAR || ynode_is_null(n))
        return node_error(l, n, "%s must be a single value, not %s", what, ynode_kind_name(n));
    *out = n->str;
    return 0;
}

static int want_string(struct loader *l, const struct ynode *n, const char *what, char **dst)
{
    const char *s;
    if (want_scalar(l, n, what, &s) < 0)
        return -1;
    free(*dst);
    *dst = xstrdup(s);
    return 0;
}

static int want_bool(struct loader *l, const struct ynode *n, const char *what, int *out)
{
    const char *s;
    if (want_scalar(l, n, what, &s) < 0)
        return -1;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE") || !strcmp(s, "no")) {
        *out = 0;
        return 0;
    }
    return node_error(l, n, "%s must be true or false, not \"%s\"", what, s);
}

static int want_duration(struct loader *l, const struct ynode *n, const char *what, compose_ns *out)
{
    const char *s;
    if (want_scalar(l, n, what, &s) < 0)
        return -1;
    if (compose_parse_duration(s, out) < 0)
        return node_error(l, n,
                          "invalid duration \"%s\" for %s: write a number with a unit, such as "
                          "500ms, 10s or 1m30s",
                          s, what);
    return 0;
}

static int want_int(struct loader *l, const struct ynode *n, const char *what, int *out)
{
    const char *s;
    char *end;
    if (want_scalar(l, n, what, &s) < 0)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > INT_MAX)
        return node_error(l, n, "%s must be a whole number, not \"%s\"", what, s);
    *out = (int)v;
    return 0;
}

static int want_map(struct loader *l, const struct ynode *n, const char *what)
{
    if (!n || n->kind != YNODE_MAP)
        return node_error(l, n, "%s must be a mapping (key: value lines), not %s", what,
                          ynode_kind_name(n));
    return 0;
}

/* A string or a list of strings; a string is split into words when split is set. */
static int want_words(struct loader *l, const struct ynode *n, const char *what, int split,
                      struct strv *out)
{
    strv_clear(out);
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SCALAR) {
        if (!split) {
            strv_push(out, n->str);
            return 0;
        }
        if (compose_split_words(n->str, out) < 0)
            return node_error(l, n, "%s has an unterminated quote: close it or use the list form",
                              what);
        return 0;
    }
    if (n->kind != YNODE_SEQ)
        return node_error(l, n, "%s must be a string or a list of strings, not %s", what,
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        if (want_scalar(l, n->items[i], what, &s) < 0)
            return -1;
        strv_push(out, s);
    }
    return 0;
}

/* ---- key/value lists ---------------------------------------------------- */

static void kv_set(struct compose_kvlist *kv, const char *key, const char *value)
{
    for (size_t i = 0; i < kv->n; i++) {
        if (strcmp(kv->v[i].key, key) == 0) {
            free(kv->v[i].value);
            kv->v[i].value = value ? xstrdup(value) : NULL;
            return;
        }
    }
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 8;
        kv->v = xrealloc(kv->v, kv->cap * sizeof(*kv->v));
    }
    kv->v[kv->n].key = xstrdup(key);
    kv->v[kv->n].value = value ? xstrdup(value) : NULL;
    kv->n++;
}

static const struct compose_kv *kv_find(const struct compose_kvlist *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->v[i].key, key) == 0)
            return &kv->v[i];
    return NULL;
}

static void kv_clear(struct compose_kvlist *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->v[i].key);
        free(kv->v[i].value);
    }
    free(kv->v);
    memset(kv, 0, sizeof(*kv));
}

/* "KEY=value" / "KEY" list, or a KEY: value mapping. */
static int want_kv(struct loader *l, const struct ynode *n, const char *what,
                   struct compose_kvlist *out)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
            if (v->kind != YNODE_SCALAR)
                return node_error(l, v, "%s value of \"%s\" must be a single value, not %s", what,
                                  k->str ? k->str : "?", ynode_kind_name(v));
            kv_set(out, k->str ? k->str : "", ynode_is_null(v) ? NULL : v->str);
        }
        return 0;
    }
    if (n->kind != YNODE_SEQ)
        return node_error(l, n, "%s must be a list of KEY=value or a mapping, not %s", what,
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        if (want_scalar(l, n->items[i], what, &s) < 0)
            return -1;
        const char *eq = strchr(s, '=');
        if (eq == s)
            return node_error(l, n->items[i], "%s entry \"%s\" has no name before '='", what, s);
        if (!eq) {
            kv_set(out, s, NULL);
        } else {
            char *key = xstrndup(s, (size_t)(eq - s));
            kv_set(out, key, eq + 1);
            free(key);
        }
    }
    return 0;
}

/* ---- paths -------------------------------------------------------------- */

static char *path_join(const char *dir, const char *rel)
{
    struct buf b = {0};
    if (rel[0] == '/') {
        buf_adds(&b, rel);
        return buf_detach(&b);
    }
    if (rel[0] == '~' && (rel[1] == '/' || rel[1] == '\0') && getenv("HOME")) {
        buf_printf(&b, "%s%s", getenv("HOME"), rel + 1);
        return buf_detach(&b);
    }
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (strcmp(rel, ".") == 0)
        rel = "";
    buf_adds(&b, dir);
    if (*rel) {
        if (b.len && b.data[b.len - 1] != '/')
            buf_addc(&b, '/');
        buf_adds(&b, rel);
    }
    return buf_detach(&b);
}

static char *dir_of(const char *path)
{
    char cwd[PATH_MAX];
    const char *slash = strrchr(path, '/');
    char *dir;

    if (!slash)
        dir = xstrdup(".");
    else if (slash == path)
        dir = xstrdup("/");
    else
        dir = xstrndup(path, (size_t)(slash - path));
    if (realpath(dir, cwd)) {
        free(dir);
        return xstrdup(cwd);
    }
    if (dir[0] != '/' && getcwd(cwd, sizeof(cwd))) {
        char *abs = path_join(cwd, dir);
        free(dir);
        dir = abs;
    }
    return dir;
}

/* ---- ports -------------------------------------------------------------- */

static void port_free(struct compose_port *p)
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

/* Short syntax: [[host_ip:]published:]target[/protocol]. */
static int parse_port_short(struct loader *l, const struct ynode *n, const char *s,
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
        if (!c) {
            parts[nparts++] = xstrdup(rest);
            rest = NULL;
        } else {
            parts[nparts++] = xstrndup(rest, (size_t)(c - rest));
            rest = c + 1;
        }
    }
    if (rest || nparts == 0) {
        rc = -1;
    } else if (nparts == 1) {
        p->target = parts[0];
        parts[0] = NULL;
    } else if (nparts == 2) {
        p->published = parts[0];
        p->target = parts[1];
        parts[0] = parts[1] = NULL;
    } else {
        p->host_ip = parts[0];
        p->published = parts[1];
        p->target = parts[2];
        parts[0] = parts[1] = parts[2] = NULL;
    }
    if (rc == 0 && (!is_port_spec(p->target) ||
                    (p->published && *p->published && !is_port_spec(p->published))))
        rc = -1;
    if (rc == 0 && p->published && !*p->published) {
        free(p->published);
        p->published = NULL;
    }
    if (rc == 0 && p->host_ip && !*p->host_ip) {
        free(p->host_ip);
        p->host_ip = NULL;
    }
    for (int i = 0; i < 3; i++)
        free(parts[i]);
    free(copy);
    if (rc < 0)
        return node_error(l, n,
                          "invalid port \"%s\": write [HOST_IP:]PUBLISHED:TARGET[/PROTOCOL], "
                          "such as 8080:80 or 127.0.0.1:5432:5432/tcp",
                          s);
    return 0;
}

static int parse_port(struct loader *l, const struct ynode *n, struct compose_port *p)
{
    memset(p, 0, sizeof(*p));
    if (n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
        if (parse_port_short(l, n, n->str, p) < 0)
            return -1;
    } else if (n->kind == YNODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const char *k = n->items[2 * i]->str ? n->items[2 * i]->str : "";
            const struct ynode *v = n->items[2 * i + 1];
            char **dst = !strcmp(k, "target")      ? &p->target
                         : !strcmp(k, "published") ? &p->published
                         : !strcmp(k, "host_ip")   ? &p->host_ip
                         : !strcmp(k, "protocol")  ? &p->protocol
                         : !strcmp(k, "mode")      ? &p->mode
                                                   : NULL;
            if (!dst) {
                if (strcmp(k, "name") && strcmp(k, "app_protocol"))
                    warn_at(l, n->items[2 * i], "unknown port key \"%s\" ignored", k);
                continue;
            }
            if (want_string(l, v, k, dst) < 0)
                return -1;
        }
        if (!p->target)
            return node_error(l, n, "a port in long form needs target: the container port");
        if (!is_port_spec(p->target))
            return node_error(l, n, "port target \"%s\" must be a port number or range", p->target);
    } else {
        return node_error(l, n, "a port must be a string such as \"8080:80\" or a mapping, not %s",
                          ynode_kind_name(n));
    }
    if (!p->protocol)
        p->protocol = xstrdup("tcp");
    if (!p->mode)
        p->mode = xstrdup("ingress");
    return 0;
}

/* ---- volumes ------------------------------------------------------------ */

static void mount_free(struct compose_mount *m)
{
    free(m->type);
    free(m->source);
    free(m->target);
    free(m->options);
}

static int parse_mount(struct loader *l, const struct ynode *n, struct compose_mount *m)
{
    memset(m, 0, sizeof(*m));
    if (n->kind == YNODE_SCALAR && !ynode_is_null(n)) {
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
            return node_error(l, n,
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
            m->source = bind ? path_join(l->proj->dir, src) : xstrdup(src);
            m->target = xstrdup(parts.v[1]);
            if (parts.n == 3) {
                struct buf rest = {0};
                const char *o = parts.v[2], *st = o;
                for (const char *p = o;; p++) {
                    if (*p == ',' || *p == '\0') {
                        size_t len = (size_t)(p - st);
                        if (len == 2 && !strncmp(st, "ro", 2))
                            m->read_only = 1;
                        else if (!(len == 2 && !strncmp(st, "rw", 2)) && len) {
                            if (rest.len)
                                buf_addc(&rest, ',');
                            buf_add(&rest, st, len);
                        }
                        if (!*p)
                            break;
                        st = p + 1;
                    }
                }
                m->options = rest.len ? buf_detach(&rest) : NULL;
                buf_release(&rest);
            }
        }
        strv_clear(&parts);
        return 0;
    }
    if (n->kind != YNODE_MAP)
        return node_error(l, n,
                          "a volume must be a string such as \"data:/var/lib/data\" or a "
                          "mapping, not %s",
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->items[2 * i]->str ? n->items[2 * i]->str : "";
        const struct ynode *v = n->items[2 * i + 1];
        if (!strcmp(k, "type")) {
            if (want_string(l, v, "volume type", &m->type) < 0)
                return -1;
        } else if (!strcmp(k, "source")) {
            if (want_string(l, v, "volume source", &m->source) < 0)
                return -1;
        } else if (!strcmp(k, "target")) {
            if (want_string(l, v, "volume target", &m->target) < 0)
                return -1;
        } else if (!strcmp(k, "read_only")) {
            if (want_bool(l, v, "read_only", &m->read_only) < 0)
                return -1;
        } else if (strcmp(k, "bind") && strcmp(k, "volume") && strcmp(k, "tmpfs") &&
                   strcmp(k, "consistency") && strcmp(k, "image")) {
            warn_at(l, n->items[2 * i], "unknown volume key \"%s\" ignored", k);
        }
    }
    if (!m->type)
        return node_error(l, n, "a volume in long form needs type: volume, bind or tmpfs");
    if (!m->target)
        return node_error(l, n, "a volume in long form needs target: the path in the container");
    if (strcmp(m->type, "volume") && strcmp(m->type, "bind") && strcmp(m->type, "tmpfs") &&
        strcmp(m->type, "npipe") && strcmp(m->type, "cluster") && strcmp(m->type, "image"))
        return node_error(l, n, "unknown volume type \"%s\": use volume, bind or tmpfs", m->type);
    if (!strcmp(m->type, "bind")) {
        if (!m->source)
            return node_error(l, n, "a bind mount needs source: the path on the host");
        char *abs = path_join(l->proj->dir, m->source);
        free(m->source);
        m->source = abs;
    }
    return 0;
}

/* ---- depends_on --------------------------------------------------------- */

static struct compose_dep *dep_add(struct compose_service *s, const char *name,
                                   const struct ynode *where)
{
    for (size_t i = 0; i < s->ndeps; i++) {
        if (strcmp(s->deps[i].service, name) == 0)
            return &s->deps[i];
    }
    s->deps = xrealloc(s->deps, (s->ndeps + 1) * sizeof(*s->deps));
    struct compose_dep *d = &s->deps[s->ndeps++];
    memset(d, 0, sizeof(*d));
    d->service = xstrdup(name);
    d->required = 1;
    d->file = where->file;
    d->line = where->line;
    d->col = where->col;
    return d;
}

static int parse_depends_on(struct loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            const char *name;
            if (want_scalar(l, n->items[i], "a depends_on entry", &name) < 0)
                return -1;
            dep_add(s, name, n->items[i]);
        }
        return 0;
    }
    if (n->kind != YNODE_MAP)
        return node_error(l, n,
                          "depends_on must be a list of services or a mapping of service: "
                          "{condition: ...}, not %s",
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
        struct compose_dep *d = dep_add(s, k->str ? k->str : "", k);
        if (ynode_is_null(v))
            continue;
        if (want_map(l, v, "a depends_on entry") < 0)
            return -1;
        for (size_t j = 0; j < v->n; j++) {
            const char *key = v->items[2 * j]->str ? v->items[2 * j]->str : "";
            const struct ynode *val = v->items[2 * j + 1];
            if (!strcmp(key, "condition")) {
                const char *c;
                if (want_scalar(l, val, "condition", &c) < 0)
                    return -1;
                if (!strcmp(c, "service_started"))
                    d->condition = COMPOSE_COND_STARTED;
                else if (!strcmp(c, "service_healthy"))
                    d->condition = COMPOSE_COND_HEALTHY;
                else if (!strcmp(c, "service_completed_successfully"))
                    d->condition = COMPOSE_COND_COMPLETED;
                else
                    return node_error(l, val,
                                      "unknown condition \"%s\": use service_started, "
                                      "service_healthy or service_completed_successfully",
                                      c);
            } else if (!strcmp(key, "required")) {
                if (want_bool(l, val, "required", &d->required) < 0)
                    return -1;
            } else if (!strcmp(key, "restart")) {
                if (want_bool(l, val, "restart", &d->restart) < 0)
                    return -1;
            } else {
                warn_at(l, v->items[2 * j], "unknown depends_on key \"%s\" ignored", key);
            }
        }
    }
    return 0;
}

/* ---- healthcheck -------------------------------------------------------- */

static void healthcheck_init(struct compose_healthcheck *h)
{
    memset(h, 0, sizeof(*h));
    h->interval = h->timeout = h->start_period = h->start_interval = -1;
    h->retries = -1;
}

static int parse_healthcheck(struct loader *l, const struct ynode *n, struct compose_healthcheck *h)
{
    if (want_map(l, n, "healthcheck") < 0)
        return -1;
    h->present = 1;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->items[2 * i]->str ? n->items[2 * i]->str : "";
        const struct ynode *v = n->items[2 * i + 1];
        int rc = 0;
        if (!strcmp(k, "test")) {
            strv_clear(&h->test);
            if (v->kind == YNODE_SCALAR && !ynode_is_null(v)) {
                if (!strcmp(v->str, "NONE")) {
                    strv_push(&h->test, "NONE");
                } else {
                    strv_push(&h->test, "CMD-SHELL");
                    strv_push(&h->test, v->str);
                }
            } else {
                rc = want_words(l, v, "healthcheck test", 0, &h->test);
                if (rc == 0 && h->test.n > 0 && strcmp(h->test.v[0], "CMD") &&
                    strcmp(h->test.v[0], "CMD-SHELL") && strcmp(h->test.v[0], "NONE"))
                    return node_error(l, v,
                                      "healthcheck test list must start with \"CMD\", "
                                      "\"CMD-SHELL\" or \"NONE\", not \"%s\"",
                                      h->test.v[0]);
                if (rc == 0 && h->test.n == 1 && strcmp(h->test.v[0], "NONE"))
                    return node_error(l, v, "healthcheck test \"%s\" needs a command after it",
                                      h->test.v[0]);
            }
            if (h->test.n && !strcmp(h->test.v[0], "NONE"))
                h->disable = 1;
        } else if (!strcmp(k, "interval")) {
            rc = want_duration(l, v, "healthcheck interval", &h->interval);
        } else if (!strcmp(k, "timeout")) {
            rc = want_duration(l, v, "healthcheck timeout", &h->timeout);
        } else if (!strcmp(k, "start_period")) {
            rc = want_duration(l, v, "healthcheck start_period", &h->start_period);
        } else if (!strcmp(k, "start_interval")) {
            rc = want_duration(l, v, "healthcheck start_interval", &h->start_interval);
        } else if (!strcmp(k, "retries")) {
            rc = want_int(l, v, "healthcheck retries", &h->retries);
        } else if (!strcmp(k, "disable")) {
            rc = want_bool(l, v, "healthcheck disable", &h->disable);
        } else {
            warn_at(l, n->items[2 * i], "unknown healthcheck key \"%s\" ignored", k);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- deploy.resources --------------------------------------------------- */

static int parse_resources(struct loader *l, const struct ynode *n, struct compose_resources *r)
{
    if (ynode_is_null(n))
        return 0;
    if (want_map(l, n, "deploy resources") < 0)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const char *k = n->items[2 * i]->str ? n->items[2 * i]->str : "";
        const struct ynode *v = n->items[2 * i + 1];
        const char *s;
        if (!strcmp(k, "cpus")) {
            char *end;
            if (want_scalar(l, v, "cpus", &s) < 0)
                return -1;
            r->cpus = strtod(s, &end);
            if (*end || end == s || r->cpus <= 0)
                return node_error(l, v, "cpus must be a positive number such as 0.5, not \"%s\"",
                                  s);
        } else if (!strcmp(k, "memory")) {
            if (want_scalar(l, v, "memory", &s) < 0)
                return -1;
            if (compose_parse_bytes(s, &r->memory) < 0)
                return node_error(l, v,
                                  "invalid memory size \"%s\": write a number with b, k, m or g, "
                                  "such as 512m or 2G",
                                  s);
        }
    }
    return 0;
}

static int parse_deploy(struct loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (want_map(l, n, "deploy") < 0)
        return -1;
    const struct ynode *res = ynode_get(n, "resources");
    if (!res || ynode_is_null(res))
        return 0;
    if (want_map(l, res, "deploy.resources") < 0)
        return -1;
    if (parse_resources(l, ynode_get(res, "limits"), &s->limits) < 0)
        return -1;
    return parse_resources(l, ynode_get(res, "reservations"), &s->reservations);
}

/* ---- services ----------------------------------------------------------- */

/* Service keys of the Compose Specification that the model keeps as written. */
static const char *const passthrough_keys[] = {"annotations",
                                               "attach",
                                               "blkio_config",
                                               "cap_add",
                                               "cap_drop",
                                               "cgroup",
                                               "cgroup_parent",
                                               "configs",
                                               "cpu_count",
                                               "cpu_percent",
                                               "cpu_period",
                                               "cpu_quota",
                                               "cpu_rt_period",
                                               "cpu_rt_runtime",
                                               "cpu_shares",
                                               "cpus",
                                               "cpuset",
                                               "credential_spec",
                                               "develop",
                                               "device_cgroup_rules",
                                               "devices",
                                               "dns",
                                               "dns_opt",
                                               "dns_search",
                                               "domainname",
                                               "driver_opts",
                                               "expose",
                                               "external_links",
                                               "extra_hosts",
                                               "gpus",
                                               "group_add",
                                               "hostname",
                                               "ipc",
                                               "isolation",
                                               "label_file",
                                               "links",
                                               "logging",
                                               "mac_address",
                                               "mem_limit",
                                               "mem_reservation",
                                               "mem_swappiness",
                                               "memswap_limit",
                                               "models",
                                               "oom_kill_disable",
                                               "oom_score_adj",
                                               "pid",
                                               "pids_limit",
                                               "platform",
                                               "post_start",
                                               "pre_stop",
                                               "privileged",
                                               "provider",
                                               "pull_policy",
                                               "read_only",
                                               "runtime",
                                               "scale",
                                               "secrets",
                                               "security_opt",
                                               "shm_size",
                                               "stdin_open",
                                               "storage_opt",
                                               "sysctls",
                                               "tmpfs",
                                               "tty",
                                               "ulimits",
                                               "use_api_socket",
                                               "userns_mode",
                                               "uts",
                                               "volumes_from",
                                               "deploy",
                                               NULL};

static void service_init(struct compose_service *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->stop_grace_period = -1;
    healthcheck_init(&s->healthcheck);
}

static void service_clear(struct compose_service *s)
{
    free(s->name);
    free(s->image);
    free(s->container_name);
    strv_clear(&s->command);
    strv_clear(&s->entrypoint);
    kv_clear(&s->environment);
    strv_clear(&s->env_file);
    kv_clear(&s->labels);
    for (size_t i = 0; i < s->nports; i++)
        port_free(&s->ports[i]);
    free(s->ports);
    for (size_t i = 0; i < s->nvolumes; i++)
        mount_free(&s->volumes[i]);
    free(s->volumes);
    strv_clear(&s->networks);
    free(s->network_mode);
    for (size_t i = 0; i < s->ndeps; i++)
        free(s->deps[i].service);
    free(s->deps);
    strv_clear(&s->healthcheck.test);
    free(s->restart);
    free(s->user);
    free(s->working_dir);
    free(s->stop_signal);
    strv_clear(&s->profiles);
    for (size_t i = 0; i < s->nextras; i++)
        free(s->extras[i].key);
    free(s->extras);
}

static void service_free(struct compose_service *s)
{
    if (!s)
        return;
    service_clear(s);
    free(s);
}

static void extra_set(struct compose_service *s, const char *key, const struct ynode *v)
{
    for (size_t i = 0; i < s->nextras; i++) {
        if (!strcmp(s->extras[i].key, key)) {
            s->extras[i].value = v;
            return;
        }
    }
    s->extras = xrealloc(s->extras, (s->nextras + 1) * sizeof(*s->extras));
    s->extras[s->nextras].key = xstrdup(key);
    s->extras[s->nextras].value = v;
    s->nextras++;
}

static int parse_networks(struct loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            const char *name;
            if (want_scalar(l, n->items[i], "a network name", &name) < 0)
                return -1;
            if (!strv_contains(&s->networks, name))
                strv_push(&s->networks, name);
        }
        return 0;
    }
    if (n->kind != YNODE_MAP)
        return node_error(l, n, "networks must be a list of names or a mapping, not %s",
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i];
        if (k->str && !strv_contains(&s->networks, k->str))
            strv_push(&s->networks, k->str);
    }
    return 0;
}

static int parse_env_file(struct loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (n->kind == YNODE_SCALAR) {
        strv_push(&s->env_file, n->str);
        return 0;
    }
    if (n->kind != YNODE_SEQ)
        return node_error(l, n, "env_file must be a path or a list of paths, not %s",
                          ynode_kind_name(n));
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *e = n->items[i];
        const char *path;
        int required = 1;
        if (e->kind == YNODE_MAP) {
            if (want_scalar(l, ynode_get(e, "path"), "env_file path", &path) < 0)
                return -1;
            if (ynode_get(e, "required") &&
                want_bool(l, ynode_get(e, "required"), "required", &required) < 0)
                return -1;
        } else if (want_scalar(l, e, "env_file entry", &path) < 0) {
            return -1;
        }
        /* An optional file is marked with a leading '?', read back in finalize. */
        struct buf b = {0};
        buf_printf(&b, "%s%s", required ? "" : "?", path);
        strv_push_owned(&s->env_file, buf_detach(&b));
    }
    return 0;
}

/* Fills s from one service mapping (fields not present stay unset). */
static int service_parse(struct loader *l, const struct ynode *n, struct compose_service *s)
{
    if (ynode_is_null(n))
        return 0;
    if (want_map(l, n, "a service") < 0)
        return -1;
    s->file = n->file;
    s->line = n->line;
    s->col = n->col;
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *kn = n->items[2 * i], *v = n->items[2 * i + 1];
        const char *k = kn->str ? kn->str : "";
        int rc = 0;

        if (!strcmp(k, "image"))
            rc = want_string(l, v, "image", &s->image);
        else if (!strcmp(k, "build"))
            s->build = v;
        else if (!strcmp(k, "container_name"))
            rc = want_string(l, v, "container_name", &s->container_name);
        else if (!strcmp(k, "command")) {
            rc = want_words(l, v, "command", 1, &s->command);
            s->has_command = !ynode_is_null(v);
        } else if (!strcmp(k, "entrypoint")) {
            rc = want_words(l, v, "entrypoint", 1, &s->entrypoint);
            s->has_entrypoint = !ynode_is_null(v);
        } else if (!strcmp(k, "environment"))
            rc = want_kv(l, v, "environment", &s->environment);
        else if (!strcmp(k, "env_file"))
            rc = parse_env_file(l, v, s);
        else if (!strcmp(k, "labels"))
            rc = want_kv(l, v, "labels", &s->labels);
        else if (!strcmp(k, "ports")) {
            if (!ynode_is_null(v) && v->kind != YNODE_SEQ)
                return node_error(l, v, "ports must be a list, not %s", ynode_kind_name(v));
            for (size_t j = 0; !ynode_is_null(v) && j < v->n && rc == 0; j++) {
                s->ports = xrealloc(s->ports, (s->nports + 1) * sizeof(*s->ports));
                rc = parse_port(l, v->items[j], &s->ports[s->nports]);
                s->nports++;
            }
        } else if (!strcmp(k, "volumes")) {
            if (!ynode_is_null(v) && v->kind != YNODE_SEQ)
                return node_error(l, v, "volumes must be a list, not %s", ynode_kind_name(v));
            for (size_t j = 0; !ynode_is_null(v) && j < v->n && rc == 0; j++) {
                s->volumes = xrealloc(s->volumes, (s->nvolumes + 1) * sizeof(*s->volumes));
                rc = parse_mount(l, v->items[j], &s->volumes[s->nvolumes]);
                s->nvolumes++;
            }
        } else if (!strcmp(k, "networks"))
            rc = parse_networks(l, v, s);
        else if (!strcmp(k, "network_mode"))
            rc = want_string(l, v, "network_mode", &s->network_mode);
        else if (!strcmp(k, "depends_on"))
            rc = parse_depends_on(l, v, s);
        else if (!strcmp(k, "healthcheck"))
            rc = parse_healthcheck(l, v, &s->healthcheck);
        else if (!strcmp(k, "restart"))
            rc = want_string(l, v, "restart", &s->restart);
        else if (!strcmp(k, "user"))
            rc = want_string(l, v, "user", &s->user);
        else if (!strcmp(k, "working_dir"))
            rc = want_string(l, v, "working_dir", &s->working_dir);
        else if (!strcmp(k, "stop_signal"))
            rc = want_string(l, v, "stop_signal", &s->stop_signal);
        else if (!strcmp(k, "stop_grace_period"))
            rc = want_duration(l, v, "stop_grace_period", &s->stop_grace_period);
        else if (!strcmp(k, "profiles"))
            rc = want_words(l, v, "profiles", 0, &s->profiles);
        else if (!strcmp(k, "init"))
            rc = want_bool(l, v, "init", &s->init);
        else if (!strcmp(k, "extends"))
            continue; /* resolved by service_build */
        else {
            int known = !strncmp(k, "x-", 2);
            for (size_t j = 0; !known && passthrough_keys[j]; j++)
                known = !strcmp(k, passthrough_keys[j]);
            if (!known)
                warn_at(l, kn, "service \"%s\": unknown key \"%s\" kept but not used", s->name, k);
            if (!strcmp(k, "deploy"))
                rc = parse_deploy(l, v, s);
            extra_set(s, k, v);
        }
        if (rc < 0)
            return -1;
    }
    if (s->restart && strcmp(s->restart, "no") && strcmp(s->restart, "always") &&
        strcmp(s->restart, "unless-stopped") && strncmp(s->restart, "on-failure", 10))
        return node_error(l, ynode_get(n, "restart"),
                          "restart \"%s\" is not a policy: use no, always, on-failure[:N] or "
                          "unless-stopped",
                          s->restart);
    return 0;
}

static void replace_str(char **dst, const char *src)
{
    if (!src)
        return;
    free(*dst);
    *dst = xstrdup(src);
}

static void merge_resources(struct compose_resources *dst, const struct compose_resources *src)
{
    if (src->cpus > 0)
        dst->cpus = src->cpus;
    if (src->memory > 0)
        dst->memory = src->memory;
}

/*
 * Lays src over dst, the Compose Specification's way: single values and
 * command/entrypoint replace; environment, labels, depends_on and
 * healthcheck merge by key; ports append; volumes merge by target.
 */
static void service_merge(struct compose_service *dst, const struct compose_service *src)
{
    replace_str(&dst->image, src->image);
    if (src->build)
        dst->build = src->build;
    replace_str(&dst->container_name, src->container_name);
    if (src->has_command) {
        strv_copy(&dst->command, &src->command);
        dst->has_command = 1;
    }
    if (src->has_entrypoint) {
        strv_copy(&dst->entrypoint, &src->entrypoint);
        dst->has_entrypoint = 1;
    }
    for (size_t i = 0; i < src->environment.n; i++)
        kv_set(&dst->environment, src->environment.v[i].key, src->environment.v[i].value);
    for (size_t i = 0; i < src->env_file.n; i++)
        if (!strv_contains(&dst->env_file, src->env_file.v[i]))
            strv_push(&dst->env_file, src->env_file.v[i]);
    for (size_t i = 0; i < src->labels.n; i++)
        kv_set(&dst->labels, src->labels.v[i].key, src->labels.v[i].value);
    for (size_t i = 0; i < src->nports; i++) {
        const struct compose_port *p = &src->ports[i];
        dst->ports = xrealloc(dst->ports, (dst->nports + 1) * sizeof(*dst->ports));
        struct compose_port *q = &dst->ports[dst->nports++];
        q->host_ip = p->host_ip ? xstrdup(p->host_ip) : NULL;
        q->published = p->published ? xstrdup(p->published) : NULL;
        q->target = xstrdup(p->target);
        q->protocol = xstrdup(p->protocol);
        q->mode = xstrdup(p->mode);
    }
    for (size_t i = 0; i < src->nvolumes; i++) {
        const struct compose_mount *m = &src->volumes[i];
        struct compose_mount *q = NULL;
        for (size_t j = 0; j < dst->nvolumes && !q; j++)
            if (!strcmp(dst->volumes[j].target, m->target))
                q = &dst->volumes[j];
        if (q) {
            mount_free(q);
        } else {
            dst->volumes = xrealloc(dst->volumes, (dst->nvolumes + 1) * sizeof(*dst->volumes));
            q = &dst->volumes[dst->nvolumes++];
        }
        q->type = xstrdup(m->type);
        q->source = m->source ? xstrdup(m->source) : NULL;
        q->target = xstrdup(m->target);
        q->read_only = m->read_only;
        q->options = m->options ? xstrdup(m->options) : NULL;
    }
    for (size_t i = 0; i < src->networks.n; i++)
        if (!strv_contains(&dst->networks, src->networks.v[i]))
            strv_push(&dst->networks, src->networks.v[i]);
    replace_str(&dst->network_mode, src->network_mode);
    for (size_t i = 0; i < src->ndeps; i++) {
        const struct compose_dep *d = &src->deps[i];
        struct ynode where = {.file = d->file, .line = d->line, .col = d->col};
        struct compose_dep *q = dep_add(dst, d->service, &where);
        q->condition = d->condition;
        q->required = d->required;
        q->restart = d->restart;
        q->file = d->file;
        q->line = d->line;
        q->col = d->col;
    }
    const struct compose_healthcheck *h = &src->healthcheck;
    struct compose_healthcheck *g = &dst->healthcheck;
    if (h->present) {
        g->present = 1;
        if (h->test.n)
            strv_copy(&g->test, &h->test);
        g->disable = h->disable || (g->test.n && !strcmp(g->test.v[0], "NONE"));
        if (h->interval >= 0)
            g->interval = h->interval;
        if (h->timeout >= 0)
            g->timeout = h->timeout;
        if (h->start_period >= 0)
            g->start_period = h->start_period;
        if (h->start_interval >= 0)
            g->start_interval = h->start_interval;
        if (h->retries >= 0)
            g->retries = h->retries;
    }
    replace_str(&dst->restart, src->restart);
    replace_str(&dst->user, src->user);
    replace_str(&dst->working_dir, src->working_dir);
    replace_str(&dst->stop_signal, src->stop_signal);
    if (src->stop_grace_period >= 0)
        dst->stop_grace_period = src->stop_grace_period;
    if (src->init)
        dst->init = 1;
    for (size_t i = 0; i < src->profiles.n; i++)
        if (!strv_contains(&dst->profiles, src->profiles.v[i]))
            strv_push(&dst->profiles, src->profiles.v[i]);
    merge_resources(&dst->limits, &src->limits);
    merge_resources(&dst->reservations, &src->reservations);
    for (size_t i = 0; i < src->nextras; i++)
        extra_set(dst, src->extras[i].key, src->extras[i].value);
    if (src->file) {
        dst->file = src->file;
        dst->line = src->line;
        dst->col = src->col;
    }
}

/* ---- documents ---------------------------------------------------------- */

/* Parses and interpolates one file; the project keeps the document. */
static const struct ynode *load_doc(struct loader *l, const char *path, int use_inline)
{
    struct ydoc *doc;

    for (size_t i = 0; i < l->proj->ndocs; i++) /* an extends file loaded earlier */
        if (!use_inline && !strcmp(l->proj->docs[i]->file, path))
            return l->proj->docs[i]->root;
    if (use_inline)
        doc = ydoc_parse(path, l->opts->inline_data, l->opts->inline_len, 0, l->err);
    else
        doc = ydoc_load_file(path, l->err);
    if (!doc)
        return NULL;
    l->proj->docs = xrealloc(l->proj->docs, (l->proj->ndocs + 1) * sizeof(*l->proj->docs));
    l->proj->docs[l->proj->ndocs++] = doc;
    if (!doc->root) {
        tt_error_at(l->err, path, 1, 1, "the file is empty: a compose file needs services:");
        return NULL;
    }
    if (doc->root->kind != YNODE_MAP) {
        node_error(l, doc->root, "a compose file must be a mapping with services:, not %s",
                   ynode_kind_name(doc->root));
        return NULL;
    }
    if (vars_interpolate_doc(&l->vars, doc, &l->proj->warnings, l->err) < 0)
        return NULL;
    return doc->root;
}

static int service_build(struct loader *l, const struct ynode *services, const char *name,
                         const struct ynode *ref, struct strv *chain, struct compose_service *out);

/* Resolves the extends entry ext of service node n and lays its base into out. */
static int service_build_base(struct loader *l, const struct ynode *services, const struct ynode *n,
                              const struct ynode *ext, struct strv *chain,
                              struct compose_service *out)
{
    const char *base_name = NULL, *base_file = NULL;
    const struct ynode *base_services = services;

    if (ext->kind == YNODE_SCALAR) {
        base_name = ext->str;
    } else if (ext->kind == YNODE_MAP) {
        if (want_scalar(l, ynode_get(ext, "service"), "extends service", &base_name) < 0)
            return -1;
        if (ynode_get(ext, "file") &&
            want_scalar(l, ynode_get(ext, "file"), "extends file", &base_file) < 0)
            return -1;
    } else {
        return node_error(l, ext, "extends must be a service name or {service:, file:}");
    }
    if (base_file) {
        char *dir = dir_of(n->file), *path = path_join(dir, base_file);
        const struct ynode *root = load_doc(l, path, 0);
        free(dir);
        free(path);
        if (!root)
            return -1;
        base_services = ynode_get(root, "services");
        if (!base_services || base_services->kind != YNODE_MAP)
            return node_error(l, ext, "extends file \"%s\" has no services: mapping", base_file);
    }
    struct compose_service base;
    int rc = service_build(l, base_services, base_name, ext, chain, &base);
    if (rc == 0)
        service_merge(out, &base);
    service_clear(&base);
    return rc;
}

/* Builds the service called name in services, resolving extends first. */
static int service_build(struct loader *l, const struct ynode *services, const char *name,
                         const struct ynode *ref, struct strv *chain, struct compose_service *out)
{
    const struct ynode *n = ynode_get(services, name);
    struct buf key = {0};
    int rc = 0;

    service_init(out, name);
    if (!n)
        return node_error(l, ref, "extends refers to service \"%s\", which is not defined there",
                          name);
    buf_printf(&key, "%s#%s", n->file, name);
    if (strv_contains(chain, key.data)) {
        struct buf path = {0};
        for (size_t i = 0; i < chain->n; i++)
            buf_printf(&path, "%s -> ", strchr(chain->v[i], '#') + 1);
        buf_adds(&path, name);
        rc = node_error(l, ref, "extends cycle: %s: break it", path.data);
        buf_release(&path);
        buf_release(&key);
        return rc;
    }
    strv_push_owned(chain, buf_detach(&key));
    const struct ynode *ext = n->kind == YNODE_MAP ? ynode_get(n, "extends") : NULL;
    if (ext && !ynode_is_null(ext))
        rc = service_build_base(l, services, n, ext, chain, out);
    if (rc == 0) {
        struct compose_service local;
        service_init(&local, name);
        rc = service_parse(l, n, &local);
        if (rc == 0)
            service_merge(out, &local);
        service_clear(&local);
    }
    free(chain->v[--chain->n]);
    chain->v[chain->n] = NULL;
    return rc;
}

/* ---- the project -------------------------------------------------------- */

static struct compose_service *find_in(struct compose_service **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i]->name, name))
            return v[i];
    return NULL;
}

struct compose_service *compose_find_service(const struct compose_project *p, const char *name)
{
    return find_in(p->services, p->nservices, name);
}

static void add_names(struct strv *dst, const struct ynode *map)
{
    if (!map || map->kind != YNODE_MAP)
        return;
    for (size_t i = 0; i < map->n; i++)
        if (map->items[2 * i]->str && !strv_contains(dst, map->items[2 * i]->str))
            strv_push(dst, map->items[2 * i]->str);
}

static int load_file(struct loader *l, const char *path, int use_inline)
{
    const struct ynode *root = load_doc(l, path, use_inline);
    struct strv chain = {0};

    if (!root)
        return -1;
    for (size_t i = 0; i < root->n; i++) {
        const struct ynode *kn = root->items[2 * i], *v = root->items[2 * i + 1];
        const char *k = kn->str ? kn->str : "";
        if (!strcmp(k, "name")) {
            if (want_string(l, v, "name", &l->proj->name) < 0)
                return -1;
        } else if (!strcmp(k, "networks") || !strcmp(k, "volumes")) {
            if (!ynode_is_null(v) && want_map(l, v, k) < 0)
                return -1;
            add_names(!strcmp(k, "networks") ? &l->proj->networks : &l->proj->volumes, v);
        } else if (!strcmp(k, "include")) {
            return node_error(l, kn, "include is not supported: pass the included files with -f");
        } else if (strcmp(k, "services") && strcmp(k, "version") && strcmp(k, "secrets") &&
                   strcmp(k, "configs") && strcmp(k, "models") && strncmp(k, "x-", 2)) {
            warn_at(l, kn, "unknown top-level key \"%s\" ignored", k);
        }
    }
    const struct ynode *services = ynode_get(root, "services");
    if (!services || ynode_is_null(services))
        return 0;
    if (want_map(l, services, "services") < 0)
        return -1;
    for (size_t i = 0; i < services->n; i++) {
        const char *name = services->items[2 * i]->str;
        struct compose_service *s = xcalloc(1, sizeof(*s));
        if (service_build(l, services, name, services->items[2 * i], &chain, s) < 0) {
            service_free(s);
            strv_clear(&chain);
            return -1;
        }
        struct compose_service *have = find_in(l->proj->services, l->proj->nservices, name);
        if (have) {
            service_merge(have, s);
            service_free(s);
        } else {
            l->proj->services =
                xrealloc(l->proj->services, (l->proj->nservices + 1) * sizeof(*l->proj->services));
            l->proj->services[l->proj->nservices++] = s;
        }
    }
    strv_clear(&chain);
    return 0;
}

/* The defined service nearest to name, for "did you mean" hints; NULL when none is close. */
static const char *suggest(const struct compose_project *p, const char *name)
{
    const char **names = xcalloc(p->nservices + 1, sizeof(*names));
    for (size_t i = 0; i < p->nservices; i++)
        names[i] = p->services[i]->name;
    const char *best = suggest_closest(name, names, p->nservices);
    free(names);
    return best;
}

static int cmp_service(const void *a, const void *b)
{
    return strcmp((*(struct compose_service *const *)a)->name,
                  (*(struct compose_service *const *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int service_enabled(const struct compose_service *s, const struct strv *active)
{
    if (s->profiles.n == 0 || strv_contains(active, "*"))
        return 1;
    for (size_t i = 0; i < s->profiles.n; i++)
        if (strv_contains(active, s->profiles.v[i]))
            return 1;
    return 0;
}

static void split_profiles(struct strv *active, const char *list)
{
    const char *st = list;
    for (const char *p = list;; p++) {
        if (*p == ',' || *p == '\0') {
            char *name = xstrndup(st, (size_t)(p - st));
            if (*name && !strv_contains(active, name))
                strv_push_owned(active, name);
            else
                free(name);
            if (!*p)
                break;
            st = p + 1;
        }
    }
}

/* Splits services into enabled and disabled by the active profiles. */
static void apply_profiles(struct loader *l)
{
    struct compose_project *p = l->proj;
    struct strv active = {0};
    size_t kept = 0;

    for (size_t i = 0; i < l->opts->profiles.n; i++)
        split_profiles(&active, l->opts->profiles.v[i]);
    if (l->opts->profiles.n == 0 && vars_get(&l->vars, "COMPOSE_PROFILES"))
        split_profiles(&active, vars_get(&l->vars, "COMPOSE_PROFILES"));
    for (size_t i = 0; i < p->nservices; i++) {
        if (service_enabled(p->services[i], &active)) {
            p->services[kept++] = p->services[i];
        } else {
            p->disabled = xrealloc(p->disabled, (p->ndisabled + 1) * sizeof(*p->disabled));
            p->disabled[p->ndisabled++] = p->services[i];
        }
    }
    p->nservices = kept;
    strv_clear(&active);
}

static int check_dependencies(struct loader *l, struct compose_service *s)
{
    struct compose_project *p = l->proj;
    size_t kept = 0;

    /* First every check, changing nothing, so an error leaves s whole. */
    for (size_t i = 0; i < s->ndeps; i++) {
        struct compose_dep *d = &s->deps[i];
        struct compose_service *off = find_in(p->disabled, p->ndisabled, d->service);
        int ok = compose_find_service(p, d->service) != NULL;
        if (!ok && d->required) {
            if (off)
                return tt_error_at(l->err, d->file, d->line, d->col,
                                   "service \"%s\" depends on \"%s\", which is only enabled "
                                   "with profile \"%s\": add --profile %s, or required: false",
                                   s->name, d->service, off->profiles.v[0], off->profiles.v[0]);
            const char *hint = suggest(p, d->service);
            if (hint)
                return tt_error_at(l->err, d->file, d->line, d->col,
                                   "service \"%s\" depends on \"%s\", which is not defined "
                                   "(did you mean \"%s\"?)",
                                   s->name, d->service, hint);
            return tt_error_at(l->err, d->file, d->line, d->col,
                               "service \"%s\" depends on \"%s\", which is not defined: define "
                               "it or remove the dependency",
                               s->name, d->service);
        }
        if (!strcmp(d->service, s->name))
            return tt_error_at(l->err, d->file, d->line, d->col,
                               "service \"%s\" depends on itself: remove that dependency", s->name);
    }
    /* Then drop the optional dependencies on absent services. */
    for (size_t i = 0; i < s->ndeps; i++) {
        if (compose_find_service(p, s->deps[i].service))
            s->deps[kept++] = s->deps[i];
        else
            free(s->deps[i].service);
    }
    s->ndeps = kept;
    return 0;
}

static int check_service(struct loader *l, struct compose_service *s)
{
    struct compose_project *p = l->proj;

    if (!s->image && !s->build)
        return tt_error_at(l->err, s->file, s->line, s->col,
                           "service \"%s\" has neither image nor build: add image: NAME[:TAG]",
                           s->name);
    for (size_t i = 0; i < s->networks.n; i++)
        if (strcmp(s->networks.v[i], "default") && !strv_contains(&p->networks, s->networks.v[i]))
            return tt_error_at(l->err, s->file, s->line, s->col,
                               "service \"%s\" uses network \"%s\", which is not declared: add "
                               "it under the top-level networks:",
                               s->name, s->networks.v[i]);
    if (s->networks.n == 0 && !s->network_mode)
        strv_push(&s->networks, "default");
    for (size_t i = 0; i < s->nvolumes; i++) {
        const struct compose_mount *m = &s->volumes[i];
        if (!strcmp(m->type, "volume") && m->source && !strv_contains(&p->volumes, m->source))
            return tt_error_at(l->err, s->file, s->line, s->col,
                               "service \"%s\" uses volume \"%s\", which is not declared: add "
                               "it under the top-level volumes:",
                               s->name, m->source);
    }
    /* env_file values come below environment values. */
    for (size_t i = 0; i < s->env_file.n; i++) {
        const char *f = s->env_file.v[i];
        int required = f[0] != '?';
        char *path = path_join(p->dir, required ? f : f + 1);
        struct vars ev = {0};
        int rc = vars_load_dotenv(&ev, path, required, 1, l->err);
        for (size_t j = 0; rc == 0 && j < ev.names.n; j++)
            if (!kv_find(&s->environment, ev.names.v[j]))
                kv_set(&s->environment, ev.names.v[j], ev.values.v[j]);
        vars_clear(&ev);
        free(path);
        if (rc < 0)
            return -1;
    }
    return check_dependencies(l, s);
}

static void normalize_name(char *name)
{
    char *w = name;
    for (char *r = name; *r; r++) {
        char c = (char)tolower((unsigned char)*r);
        if (isalnum((unsigned char)c) || ((c == '_' || c == '-') && w != name))
            *w++ = c;
    }
    *w = '\0';
}

static const char *const default_files[] = {"compose.yaml", "compose.yml", "docker-compose.yaml",
                                            "docker-compose.yml", NULL};

int compose_load(const struct compose_options *opts, struct compose_project **out,
                 struct tt_err *err)
{
    struct loader l = {0};
    struct compose_project *p = xcalloc(1, sizeof(*p));
    int rc = 0;

    *out = NULL;
    l.opts = opts;
    l.proj = p;
    l.err = err;
    for (size_t i = 0; i < opts->files.n; i++)
        strv_push(&p->files, opts->files.v[i]);
    if (p->files.n == 0 && !opts->inline_data) {
        for (size_t i = 0; default_files[i]; i++) {
            if (access(default_files[i], F_OK) == 0) {
                strv_push(&p->files, default_files[i]);
                break;
            }
        }
        if (p->files.n == 0) {
            compose_project_free(p);
            return tt_error(err, "no compose file here (compose.yaml, compose.yml, "
                                 "docker-compose.yml): pass one with -f FILE");
        }
    }
    if (p->files.n == 0)
        strv_push(&p->files, "inline.yml");
    p->dir = dir_of(p->files.v[0]);

    if (opts->environ) {
        for (size_t i = 0; i < opts->environ->names.n; i++)
            vars_set(&l.vars, opts->environ->names.v[i], opts->environ->values.v[i]);
    } else {
        vars_add_environ(&l.vars);
    }
    if (opts->env_files.n == 0 && !opts->inline_data) {
        char *dotenv = path_join(p->dir, ".env");
        rc = vars_load_dotenv(&l.vars, dotenv, 0, 0, err);
        free(dotenv);
    }
    for (size_t i = 0; rc == 0 && i < opts->env_files.n; i++)
        rc = vars_load_dotenv(&l.vars, opts->env_files.v[i], 1, 0, err);

    for (size_t i = 0; rc == 0 && i < p->files.n; i++)
        rc = load_file(&l, p->files.v[i], i == 0 && opts->inline_data != NULL);
    if (rc == 0) {
        apply_profiles(&l);
        if (p->nservices)
            qsort(p->services, p->nservices, sizeof(*p->services), cmp_service);
        if (p->networks.n)
            qsort(p->networks.v, p->networks.n, sizeof(char *), cmp_str);
        if (p->volumes.n)
            qsort(p->volumes.v, p->volumes.n, sizeof(char *), cmp_str);
    }
    for (size_t i = 0; rc == 0 && i < p->nservices; i++)
        rc = check_service(&l, p->services[i]);
    if (rc == 0) {
        const char *name = opts->project_name ? opts->project_name : p->name;
        if (!name)
            name = vars_get(&l.vars, "COMPOSE_PROJECT_NAME");
        if (!name)
            name = strrchr(p->dir, '/') ? strrchr(p->dir, '/') + 1 : p->dir;
        char *norm = xstrdup(name);
        normalize_name(norm);
        if (!*norm)
            rc = tt_error(err, "project name \"%s\" has no letters or digits: pass -p NAME", name);
        free(p->name);
        p->name = norm;
    }
    vars_clear(&l.vars);
    if (rc < 0) {
        compose_project_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void compose_project_free(struct compose_project *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nservices; i++)
        service_free(p->services[i]);
    free(p->services);
    for (size_t i = 0; i < p->ndisabled; i++)
        service_free(p->disabled[i]);
    free(p->disabled);
    for (size_t i = 0; i < p->ndocs; i++)
        ydoc_free(p->docs[i]);
    free(p->docs);
    strv_clear(&p->networks);
    strv_clear(&p->volumes);
    strv_clear(&p->files);
    strv_clear(&p->warnings);
    free(p->name);
    free(p->dir);
    free(p);
}
