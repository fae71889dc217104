/*
 * compose.c - loading Compose files into struct compose_project: the top
 * of the loader.
 *
 * The order of work follows the Compose Specification:
 *   1. every file is parsed (yamltree.c resolves anchors and "<<");
 *   2. every scalar value is interpolated (vars.c);
 *   3. each file's services are turned into struct compose_service
 *      (compose_service.c), with "extends" resolved by building the base
 *      first and laying the service over it (compose_merge.c);
 *   4. the files' services are merged in order by the same rules;
 *   5. profiles decide which services are enabled, and dependencies are
 *      checked against what is enabled (compose_deps.c).
 * compose_int.h lists the files and what they share.
 */
#include "compose_int.h"
#include "buf.h"
#include "suggest.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- paths -------------------------------------------------------------- */

char *compose_path_join(const char *dir, const char *rel)
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

char *compose_dir_of(const char *path)
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
        char *abs = compose_path_join(cwd, dir);
        free(dir);
        dir = abs;
    }
    return dir;
}

char *compose_dir_for(const struct compose_loader *l, const struct ynode *n)
{
    if (!n || strv_contains(&l->proj->files, n->file))
        return xstrdup(l->proj->dir);
    return compose_dir_of(n->file);
}

/* ---- documents ---------------------------------------------------------- */

/* Parses and interpolates one file; the project keeps the document. */
const struct ynode *compose_load_doc(struct compose_loader *l, const char *path, int use_inline)
{
    struct ydoc *doc;

    for (size_t i = 0; i < l->proj->ndocs; i++) /* an extends file loaded earlier */
        if (!use_inline && !strcmp(l->proj->docs[i]->file, path))
            return l->proj->docs[i]->root;
    if (use_inline)
        doc = ydoc_parse(path, l->opts->inline_data, l->opts->inline_len, 0, l->r.err);
    else
        doc = ydoc_load_file(path, l->r.err);
    if (!doc)
        return NULL;
    l->proj->docs = xrealloc(l->proj->docs, (l->proj->ndocs + 1) * sizeof(*l->proj->docs));
    l->proj->docs[l->proj->ndocs++] = doc;
    if (!doc->root) {
        tt_error_at(l->r.err, path, 1, 1, "the file is empty: a compose file needs services:");
        return NULL;
    }
    if (doc->root->kind != YNODE_MAP) {
        yread_error(&l->r, doc->root, "a compose file must be a mapping with services:, not %s",
                    ynode_kind_name(doc->root));
        return NULL;
    }
    if (vars_interpolate_doc(&l->vars, doc, &l->proj->warnings, l->r.err) < 0)
        return NULL;
    return doc->root;
}

/* ---- the project -------------------------------------------------------- */

struct compose_service *compose_find_in(struct compose_service **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i]->name, name))
            return v[i];
    return NULL;
}

static int cmp_name_service(const void *key, const void *elem)
{
    return strcmp(key, (*(struct compose_service *const *)elem)->name);
}

/* Binary search: compose_load sorts the enabled services by name before anyone asks. */
struct compose_service *compose_find_service(const struct compose_project *p, const char *name)
{
    if (!p->nservices)
        return NULL;
    struct compose_service **s =
        bsearch(name, p->services, p->nservices, sizeof(*p->services), cmp_name_service);
    return s ? *s : NULL;
}

const char *compose_closest_service(const struct compose_project *p, const char *name)
{
    const char **names = xcalloc(p->nservices + 1, sizeof(*names));
    for (size_t i = 0; i < p->nservices; i++)
        names[i] = p->services[i]->name;
    const char *best = suggest_closest(name, names, p->nservices);
    free(names);
    return best;
}

static void add_names(struct strv *dst, const struct ynode *map)
{
    if (!map || map->kind != YNODE_MAP)
        return;
    for (size_t i = 0; i < map->n; i++)
        if (map->items[2 * i]->str && !strv_contains(dst, map->items[2 * i]->str))
            strv_push(dst, map->items[2 * i]->str);
}

static const char *service_name(const void *ctx, size_t pos)
{
    return ((const struct compose_project *)ctx)->services[pos]->name;
}

/* Adds s to the project, or lays it over the service of that name an earlier file had. */
static void add_service(struct compose_loader *l, struct compose_service *s)
{
    struct compose_project *p = l->proj;
    strindex_reserve(&l->services, p->nservices, 1, service_name, p);
    size_t *slot = strindex_slot(&l->services, s->name, service_name, p);
    if (*slot) {
        compose_service_merge(p->services[*slot - 1], s);
        compose_service_free(s);
        return;
    }
    p->services = xrealloc(p->services, (p->nservices + 1) * sizeof(*p->services));
    p->services[p->nservices] = s;
    *slot = ++p->nservices;
}

/*
 * Whether name is one the Compose Specification allows for a service, a
 * network or a volume ([a-zA-Z0-9._-]+, and not only dots): these names go
 * into container names and Engine API paths.
 */
static int name_allowed(const char *name)
{
    int only_dots = 1;
    if (!*name)
        return 0;
    for (const char *c = name; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
            return 0;
        only_dots &= *c == '.';
    }
    return !only_dots;
}

/* Refuses a key of the mapping m (services:, networks:, volumes:) that is not an allowed name. */
static int check_names(struct compose_loader *l, const struct ynode *m, const char *what)
{
    for (size_t i = 0; m && m->kind == YNODE_MAP && i < m->n; i++) {
        const struct ynode *kn = m->items[2 * i];
        if (!name_allowed(kn->str ? kn->str : ""))
            return yread_error(&l->r, kn,
                               "%s name \"%.64s\" may hold only letters, digits, '.', '_' and "
                               "'-' (and not only dots): rename it",
                               what, kn->str ? kn->str : "");
    }
    return 0;
}

static int load_file(struct compose_loader *l, const char *path, int use_inline)
{
    const struct ynode *root = compose_load_doc(l, path, use_inline);
    struct strv chain = {0};

    if (!root)
        return -1;
    for (size_t i = 0; i < root->n; i++) {
        const struct ynode *kn = root->items[2 * i], *v = root->items[2 * i + 1];
        const char *k = kn->str ? kn->str : "";
        if ((!strcmp(k, "networks") || !strcmp(k, "volumes")) &&
            check_names(l, v, !strcmp(k, "networks") ? "network" : "volume") < 0)
            return -1;
        if (!strcmp(k, "name")) {
            if (yread_string(&l->r, v, "name", &l->proj->name) < 0)
                return -1;
        } else if (!strcmp(k, "networks") || !strcmp(k, "volumes")) {
            if (!ynode_is_null(v) && yread_map(&l->r, v, k) < 0)
                return -1;
            add_names(!strcmp(k, "networks") ? &l->proj->networks : &l->proj->volumes, v);
        } else if (!strcmp(k, "include")) {
            return yread_error(&l->r, kn,
                               "include is not supported: pass the included files with -f");
        } else if (strcmp(k, "services") && strcmp(k, "version") && strcmp(k, "secrets") &&
                   strcmp(k, "configs") && strcmp(k, "models") && strncmp(k, "x-", 2)) {
            yread_warn(&l->r, kn, "unknown top-level key \"%s\" ignored", k);
        }
    }
    const struct ynode *services = ynode_get(root, "services");
    if (!services || ynode_is_null(services))
        return 0;
    if (yread_map(&l->r, services, "services") < 0)
        return -1;
    if (check_names(l, services, "service") < 0)
        return -1;
    if (services->n + l->proj->nservices > COMPOSE_MAX_SERVICES)
        return yread_error(&l->r, services,
                           "more than %d services in one project: split it into several "
                           "projects",
                           COMPOSE_MAX_SERVICES);
    for (size_t i = 0; i < services->n; i++) {
        const char *name = services->items[2 * i]->str;
        struct compose_service *s = xcalloc(1, sizeof(*s));
        if (compose_service_build(l, services, name, services->items[2 * i], &chain, s) < 0) {
            compose_service_free(s);
            strv_clear(&chain);
            return -1;
        }
        add_service(l, s);
    }
    strv_clear(&chain);
    return 0;
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
static void apply_profiles(struct compose_loader *l)
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

/*
 * Adds the bytes of s's keys kept as written (which `config` prints) to
 * *kept.  Each document is capped at YDOC_MAX_BYTES, but extends can lay
 * one service's 60 MB of aliased text under two thousand others.
 */
static int check_kept_bytes(struct compose_loader *l, const struct compose_service *s, size_t *kept)
{
    for (size_t i = 0; i < s->nextras; i++)
        *kept = ydoc_bytes_add(*kept, s->extras[i].value->bytes);
    if (s->build)
        *kept = ydoc_bytes_add(*kept, s->build->bytes);
    if (*kept <= COMPOSE_MAX_KEPT_BYTES)
        return 0;
    return tt_error_at(l->r.err, s->file, s->line, s->col,
                       "service \"%s\" brings the project's keys to more than %u bytes (64 MB) "
                       "of text: does it extend a service with long aliased values?",
                       s->name, COMPOSE_MAX_KEPT_BYTES);
}

static int check_service(struct compose_loader *l, struct compose_service *s)
{
    struct compose_project *p = l->proj;

    if (!s->image && !s->build)
        return tt_error_at(l->r.err, s->file, s->line, s->col,
                           "service \"%s\" has neither image nor build: add image: NAME[:TAG]",
                           s->name);
    for (size_t i = 0; i < s->networks.n; i++)
        if (strcmp(s->networks.v[i], "default") && !strv_contains(&p->networks, s->networks.v[i]))
            return tt_error_at(l->r.err, s->file, s->line, s->col,
                               "service \"%s\" uses network \"%s\", which is not declared: add "
                               "it under the top-level networks:",
                               s->name, s->networks.v[i]);
    if (s->networks.n == 0 && !s->network_mode)
        strv_push(&s->networks, "default");
    for (size_t i = 0; i < s->nvolumes; i++) {
        const struct compose_mount *m = &s->volumes[i];
        if (!strcmp(m->type, "volume") && m->source && !strv_contains(&p->volumes, m->source))
            return tt_error_at(l->r.err, s->file, s->line, s->col,
                               "service \"%s\" uses volume \"%s\", which is not declared: add "
                               "it under the top-level volumes:",
                               s->name, m->source);
    }
    /* env_file values come below environment values. */
    for (size_t i = 0; i < s->env_file.n; i++) {
        const char *f = s->env_file.v[i];
        int required = f[0] != '?';
        char *path = xstrdup(required ? f : f + 1); /* made absolute when parsed */
        struct vars ev = {0};
        int rc = vars_load_dotenv(&ev, path, required, 1, l->r.err);
        for (size_t j = 0; rc == 0 && j < ev.names.n; j++)
            if (!compose_kv_find(&s->environment, ev.names.v[j]))
                compose_kv_set(&s->environment, ev.names.v[j], ev.values.v[j]);
        vars_clear(&ev);
        free(path);
        if (rc < 0)
            return -1;
    }
    return compose_depends_on_check(l, s);
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
    struct compose_loader l = {0};
    struct compose_project *p = xcalloc(1, sizeof(*p));
    int rc = 0;

    *out = NULL;
    l.opts = opts;
    l.proj = p;
    l.r.err = err;
    l.r.warnings = &p->warnings;
    l.r.lenient = 1;
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
    p->dir = compose_dir_of(p->files.v[0]);
    l.r.file = p->files.v[0];

    if (opts->environ) {
        for (size_t i = 0; i < opts->environ->names.n; i++)
            vars_set(&l.vars, opts->environ->names.v[i], opts->environ->values.v[i]);
    } else {
        vars_add_environ(&l.vars);
    }
    if (opts->env_files.n == 0 && !opts->inline_data) {
        char *dotenv = compose_path_join(p->dir, ".env");
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
    size_t kept = 0;
    for (size_t i = 0; rc == 0 && i < p->nservices; i++)
        rc = check_service(&l, p->services[i]);
    for (size_t i = 0; rc == 0 && i < p->nservices; i++)
        rc = check_kept_bytes(&l, p->services[i], &kept);
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
    strindex_clear(&l.services);
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
        compose_service_free(p->services[i]);
    free(p->services);
    for (size_t i = 0; i < p->ndisabled; i++)
        compose_service_free(p->disabled[i]);
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
